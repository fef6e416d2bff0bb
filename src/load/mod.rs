//! The loader: compose files as ops write them today, in, one validated [`Project`] out.
//!
//! The stages, in order, each in its own module:
//! 1. find the files (`-f` list, `COMPOSE_FILE`, or `compose.yaml` + `compose.override.yaml` in the
//!    project directory) and read `.env` ([`dotenv`]);
//! 2. parse each file into a located tree ([`crate::yaml`]) and interpolate it ([`interpolate`]),
//!    file by file, before anything is merged;
//! 3. bring in `include:`d files, merge the files in order ([`merge`]) and resolve `extends`;
//! 4. decode the tree into the raw model ([`raw`], [`decode`]), refusing unknown keys;
//! 5. convert the raw model into the validated [`Project`] ([`convert`]).
//!
//! Every stage reports into one [`Diagnostics`] list; a load fails when any error was reported,
//! and all of them are returned together.

pub mod convert;
pub mod decode;
pub mod dotenv;
pub mod interpolate;
pub mod merge;
pub mod mounts;
pub mod ports;
pub mod raw;
pub mod units;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{Diagnostic, Diagnostics, Loc};
use crate::model::Project;
use crate::yaml::{self, Entry, Kind, Node};

/// The file names compose looks for in a project directory, in order of preference.
pub const DEFAULT_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];
/// The override files it merges on top, when present.
pub const OVERRIDE_FILES: [&str; 4] = [
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
];

/// What to load. Empty fields fall back to compose's defaults.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Explicit compose files (`-f`), merged in order.
    pub files: Vec<PathBuf>,
    /// The project directory; defaults to the first file's directory, or the current directory.
    pub project_dir: Option<PathBuf>,
    /// Project name (`-p`); wins over everything else.
    pub project_name: Option<String>,
    /// Profiles to enable in addition to `COMPOSE_PROFILES`.
    pub profiles: Vec<String>,
    /// The process environment. `None` means the real one (`std::env::vars`).
    pub environment: Option<HashMap<String, String>>,
}

/// A loaded project with the warnings found on the way and every file that was read.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub project: Project,
    pub warnings: Vec<Diagnostic>,
    /// Every input the project depends on (compose files, `.env`, env files, included files),
    /// so a watcher knows what to watch.
    pub inputs: Vec<PathBuf>,
}

/// Why a load failed: every error and warning, in the order found.
#[derive(Debug, Clone)]
pub struct Failed {
    pub diagnostics: Vec<Diagnostic>,
    pub inputs: Vec<PathBuf>,
}

impl Failed {
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }
}

/// Loads a project.
pub fn load(options: &Options) -> Result<Loaded, Failed> {
    let mut loader = Loader {
        env: options
            .environment
            .clone()
            .unwrap_or_else(|| std::env::vars().collect()),
        dotenv: HashMap::new(),
        diags: Diagnostics::default(),
        inputs: Vec::new(),
    };
    let project = loader.run(options);
    let Loader { diags, mut inputs, .. } = loader;
    inputs.sort();
    inputs.dedup();
    match project {
        Some(mut project) if !diags.has_errors() => {
            for s in project.services.values() {
                inputs.extend(s.env_files.iter().cloned());
            }
            inputs.sort();
            inputs.dedup();
            project.config_files.retain(|_| true);
            Ok(Loaded {
                project,
                warnings: diags.into_vec(),
                inputs,
            })
        }
        _ => Failed {
            diagnostics: diags.into_vec(),
            inputs,
        }
        .into(),
    }
}

impl From<Failed> for Result<Loaded, Failed> {
    fn from(f: Failed) -> Self {
        Err(f)
    }
}

struct Loader {
    env: HashMap<String, String>,
    dotenv: HashMap<String, String>,
    diags: Diagnostics,
    inputs: Vec<PathBuf>,
}

impl Loader {
    /// A variable's value: the process environment first, then `.env`.
    fn var(&self, name: &str) -> Option<String> {
        self.env.get(name).or_else(|| self.dotenv.get(name)).cloned()
    }

    fn run(&mut self, options: &Options) -> Option<Project> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let explicit_dir = options.project_dir.as_ref().map(|d| mounts::clean(&cwd.join(d)));
        let files = self.find_files(options, explicit_dir.as_deref().unwrap_or(&cwd))?;
        let project_dir = explicit_dir.unwrap_or_else(|| files[0].parent().map(Path::to_path_buf).unwrap_or(cwd));
        self.dotenv = self.read_dotenv(&project_dir);

        let mut merged: Option<Node> = None;
        for file in &files {
            let Some(tree) = self.read_tree(file) else { continue };
            let tree = self.apply_include(tree, file, 0);
            merged = Some(match merged {
                None => tree,
                Some(base) => merge::merge(base, tree, &[], &mut self.diags),
            });
        }
        let mut tree = merged?;
        merge::drop_resets(&mut tree);
        self.apply_extends(&mut tree);

        let mut cx = decode::Cx::new(&mut self.diags);
        let raw = <raw::RawProject as decode::Decode>::decode(&tree, &mut cx)?;
        let name = self.project_name(options, raw.name.as_ref(), &project_dir)?;
        let mut profiles: Vec<String> = options.profiles.clone();
        if let Some(p) = self.var("COMPOSE_PROFILES") {
            profiles.extend(
                p.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_string),
            );
        }
        let home = self.var("HOME").map(PathBuf::from);
        let vars = |n: &str| self.env.get(n).or_else(|| self.dotenv.get(n)).cloned();
        let broken: Vec<&str> = ["networks", "volumes", "secrets", "configs"]
            .into_iter()
            .filter(|k| tree.get(k).is_some_and(|n| !n.is_null() && n.as_map().is_none()))
            .collect();
        let cx = convert::Context {
            project_name: &name,
            project_dir: &project_dir,
            home: home.as_deref(),
            vars: &vars,
            profiles: &profiles,
            broken_sections: &broken,
        };
        let mut diags = Diagnostics::default();
        let mut project = convert::convert(raw, &cx, &mut diags);
        self.diags.extend(diags);
        project.config_files = files;
        Some(project)
    }

    fn find_files(&mut self, options: &Options, dir: &Path) -> Option<Vec<PathBuf>> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let listed: Vec<PathBuf> = if !options.files.is_empty() {
            options.files.clone()
        } else if let Some(list) = self.env.get("COMPOSE_FILE").filter(|l| !l.is_empty()) {
            list.split(':').map(PathBuf::from).collect()
        } else {
            Vec::new()
        };
        if !listed.is_empty() {
            return Some(listed.iter().map(|f| mounts::clean(&cwd.join(f))).collect());
        }
        let Some(main) = DEFAULT_FILES.iter().map(|f| dir.join(f)).find(|p| p.is_file()) else {
            self.diags.push(
                Diagnostic::error(
                    Some(Loc::file(Arc::from(dir))),
                    "no compose file found in this directory",
                )
                .with_help(format!("create {} here, or name the files with -f", DEFAULT_FILES[0])),
            );
            return None;
        };
        let mut files = vec![main];
        files.extend(OVERRIDE_FILES.iter().map(|f| dir.join(f)).find(|p| p.is_file()));
        Some(files)
    }

    fn read_dotenv(&mut self, dir: &Path) -> HashMap<String, String> {
        let path = dir.join(".env");
        if !path.is_file() {
            return HashMap::new();
        }
        self.read_env_files(&[(path, None)])
    }

    /// Reads env files in order (later ones win); `loc` is where each was named, for errors.
    fn read_env_files(&mut self, files: &[(PathBuf, Option<Loc>)]) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for (path, loc) in files {
            self.inputs.push(path.clone());
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => {
                    let at = loc.clone().unwrap_or_else(|| Loc::file(Arc::from(path.as_path())));
                    self.diags.error_help(
                        Some(&at),
                        format!("cannot read env file {}: {e}", path.display()),
                        "fix the path; it is relative to this file",
                    );
                    continue;
                }
            };
            let env = self.env.clone();
            let outer = move |n: &str| env.get(n).cloned();
            match dotenv::parse(&text, &Arc::from(path.as_path()), &outer) {
                Ok(vars) => out.extend(vars),
                Err(d) => self.diags.push(d),
            }
        }
        out
    }

    /// Reads, parses and interpolates one file with the project's `.env`.
    fn read_tree(&mut self, file: &Path) -> Option<Node> {
        let dotenv = std::mem::take(&mut self.dotenv);
        let tree = self.read_tree_with(file, &dotenv);
        self.dotenv = dotenv;
        tree
    }

    /// Reads, parses and interpolates one file; variables come from the process, then `dotenv`.
    fn read_tree_with(&mut self, file: &Path, dotenv: &HashMap<String, String>) -> Option<Node> {
        self.inputs.push(file.to_path_buf());
        let name: Arc<Path> = Arc::from(file);
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                self.diags.push(
                    Diagnostic::error(Some(Loc::file(name)), format!("cannot read the compose file: {e}"))
                        .with_help("check the path and its permissions"),
                );
                return None;
            }
        };
        let mut tree = match yaml::parse(&text, &name) {
            Ok(t) => t,
            Err(d) => {
                self.diags.push(d);
                return None;
            }
        };
        if !matches!(tree.kind, Kind::Map(_)) {
            self.diags.error_help(
                Some(&tree.loc),
                format!("a compose file must be a mapping, found {}", tree.describe()),
                "start the file with `services:`",
            );
            return None;
        }
        let vars = |n: &str| self.env.get(n).or_else(|| dotenv.get(n)).cloned();
        let mut diags = Diagnostics::default();
        interpolate::interpolate_tree(&mut tree, &vars, &mut diags);
        self.diags.extend(diags);
        Some(tree)
    }

    /// Brings the resources of `include:`d files into `tree`. Included paths are relative to
    /// the including file; the included file's own relative paths stay relative to itself.
    fn apply_include(&mut self, mut tree: Node, file: &Path, depth: usize) -> Node {
        let Some(entries) = tree.as_map_mut() else { return tree };
        let Some(pos) = entries.iter().position(|e| e.key == "include") else {
            return tree;
        };
        let include = entries.remove(pos).value;
        let base = file.parent().unwrap_or(Path::new("/")).to_path_buf();
        if depth > 8 {
            self.diags.error_help(
                Some(&include.loc),
                "`include` is nested more than 8 levels deep",
                "check for files that include each other",
            );
            return tree;
        }
        let Some(items) = include.as_seq().map(<[Node]>::to_vec) else {
            self.diags.error_help(
                Some(&include.loc),
                format!("`include` must be a list, found {}", include.describe()),
                "write `include:\n  - ./other/compose.yaml`",
            );
            return tree;
        };
        for item in items {
            let Some(entry) = self.include_entry(&item, &base) else {
                continue;
            };
            for (full, loc) in entry.files {
                if !full.is_file() {
                    self.diags.error_help(
                        Some(&loc),
                        format!("included file {} does not exist", full.display()),
                        "fix the path; it is relative to this file",
                    );
                    continue;
                }
                let dir = entry
                    .project_dir
                    .clone()
                    .unwrap_or_else(|| full.parent().unwrap_or(Path::new("/")).to_path_buf());
                // An included file is its own project: its variables come from its own `.env`
                // (or the entry's `env_file`), and its relative paths from its own directory.
                let dotenv = match &entry.env_files {
                    Some(files) => self.read_env_files(files),
                    None => self.read_dotenv(&dir),
                };
                let Some(included) = self.read_tree_with(&full, &dotenv) else {
                    continue;
                };
                let mut included = self.apply_include(included, &full, depth + 1);
                rebase_paths(&mut included, &dir);
                self.add_included(&mut tree, included);
            }
        }
        tree
    }

    /// Reads one `include` entry: a path, or `{path, project_directory, env_file}`.
    fn include_entry(&mut self, item: &Node, base: &Path) -> Option<IncludeEntry> {
        let strings = |n: &Node| -> Vec<(String, Loc)> {
            match &n.kind {
                Kind::Seq(list) => list
                    .iter()
                    .filter_map(|i| i.as_str().map(|s| (s.to_string(), i.loc.clone())))
                    .collect(),
                _ => n
                    .as_str()
                    .map(|s| vec![(s.to_string(), n.loc.clone())])
                    .unwrap_or_default(),
            }
        };
        let under_base = |list: Vec<(String, Loc)>| -> Vec<(PathBuf, Loc)> {
            list.into_iter()
                .map(|(p, l)| (mounts::clean(&base.join(p)), l))
                .collect()
        };
        match &item.kind {
            Kind::Scalar(_) if !item.is_null() => Some(IncludeEntry {
                files: under_base(strings(item)),
                project_dir: None,
                env_files: None,
            }),
            Kind::Map(entries) => {
                let mut entry = IncludeEntry {
                    files: Vec::new(),
                    project_dir: None,
                    env_files: None,
                };
                for e in entries {
                    match e.key.as_str() {
                        "path" => entry.files = under_base(strings(&e.value)),
                        "project_directory" => {
                            entry.project_dir = e.value.as_str().map(|d| mounts::clean(&base.join(d)))
                        }
                        "env_file" => {
                            entry.env_files = Some(
                                under_base(strings(&e.value))
                                    .into_iter()
                                    .map(|(p, l)| (p, Some(l)))
                                    .collect(),
                            )
                        }
                        other => self.diags.error_help(
                            Some(&e.key_loc),
                            format!("unknown key `{other}` in an `include` entry"),
                            "an include entry takes `path`, `project_directory` and `env_file`",
                        ),
                    }
                }
                if entry.files.is_empty() {
                    self.diags.error_help(
                        Some(&item.loc),
                        "`include` entry has no `path`",
                        "add `path: ./other/compose.yaml`",
                    );
                    return None;
                }
                Some(entry)
            }
            _ => {
                self.diags.error_help(
                    Some(&item.loc),
                    "an `include` entry must be a path or a mapping with `path`",
                    "write `- ./other/compose.yaml`",
                );
                None
            }
        }
    }

    fn add_included(&mut self, tree: &mut Node, included: Node) {
        let Kind::Map(sections) = included.kind else { return };
        for section in sections {
            if !matches!(
                section.key.as_str(),
                "services" | "networks" | "volumes" | "secrets" | "configs"
            ) {
                continue;
            }
            let Some(root) = tree.as_map_mut() else { return };
            if !root.iter().any(|e| e.key == section.key) {
                root.push(Entry {
                    key: section.key.clone(),
                    key_loc: section.key_loc.clone(),
                    value: Node::map(Vec::new(), section.key_loc.clone()),
                });
            }
            let target = tree.get_mut(&section.key).and_then(Node::as_map_mut);
            let (Some(target), Kind::Map(items)) = (target, section.value.kind) else {
                continue;
            };
            for item in items {
                if let Some(existing) = target.iter().find(|e| e.key == item.key) {
                    self.diags.error_help(
                        Some(&item.key_loc),
                        format!(
                            "{} `{}` is defined both here and at {}",
                            section.key.trim_end_matches('s'),
                            item.key,
                            existing.key_loc
                        ),
                        "rename one of them, or define it in one file only",
                    );
                    continue;
                }
                target.push(item);
            }
        }
    }

    /// Resolves `extends` in every service of the merged tree.
    fn apply_extends(&mut self, tree: &mut Node) {
        let names: Vec<String> = match tree.get("services").and_then(Node::as_map) {
            Some(s) => s.iter().map(|e| e.key.clone()).collect(),
            None => return,
        };
        for name in names {
            let mut seen = Vec::new();
            let services = tree.get("services").cloned();
            let Some(service) = services.as_ref().and_then(|s| s.get(&name)).cloned() else {
                continue;
            };
            let resolved = self.extend(service, services.as_ref(), &mut seen, &name);
            if let Some(slot) = tree.get_mut("services").and_then(|s| s.get_mut(&name)) {
                *slot = resolved;
            }
        }
    }

    fn extend(&mut self, mut service: Node, services: Option<&Node>, seen: &mut Vec<String>, name: &str) -> Node {
        let Some(entries) = service.as_map_mut() else {
            return service;
        };
        let Some(pos) = entries.iter().position(|e| e.key == "extends") else {
            return service;
        };
        let ext = entries.remove(pos).value;
        let (base_name, file) = match (&ext.kind, ext.as_str()) {
            (Kind::Scalar(_), Some(s)) => (s.to_string(), None),
            (Kind::Map(_), _) => match ext.get("service").and_then(Node::as_str) {
                Some(s) => (
                    s.to_string(),
                    ext.get("file")
                        .and_then(|f| f.as_str().map(|p| (p.to_string(), f.loc.clone()))),
                ),
                None => {
                    self.diags.error_help(
                        Some(&ext.loc),
                        "`extends` needs a `service`",
                        "write `extends: {service: NAME, file: ./base.yaml}`",
                    );
                    return service;
                }
            },
            _ => {
                self.diags.error_help(
                    Some(&ext.loc),
                    "`extends` must be a service name or a mapping",
                    "write `extends: {service: NAME}`",
                );
                return service;
            }
        };
        let key = format!("{}#{base_name}", file.as_ref().map(|f| f.0.as_str()).unwrap_or(""));
        if seen.contains(&key) || (file.is_none() && base_name == name) {
            self.diags.error_help(
                Some(&ext.loc),
                format!("`extends` loops back to service `{base_name}`"),
                "break the chain of `extends`",
            );
            return service;
        }
        seen.push(key);
        let base = match &file {
            None => match services.and_then(|s| s.get(&base_name)) {
                Some(b) => Some(self.extend(b.clone(), services, seen, &base_name)),
                None => {
                    self.diags.error_help(
                        Some(&ext.loc),
                        format!("`extends` names undefined service `{base_name}`"),
                        "name a service defined in this project",
                    );
                    None
                }
            },
            Some((path, loc)) => {
                let dir = ext.loc.file.parent().unwrap_or(Path::new("/")).to_path_buf();
                let full = mounts::clean(&dir.join(path));
                if !full.is_file() {
                    self.diags.error_help(
                        Some(loc),
                        format!("`extends` names file {}, which does not exist", full.display()),
                        "fix the path; it is relative to this file",
                    );
                    return service;
                }
                match self.read_tree(&full) {
                    Some(mut other) => {
                        let other_dir = full.parent().unwrap_or(Path::new("/")).to_path_buf();
                        rebase_paths(&mut other, &other_dir);
                        let other_services = other.get("services").cloned();
                        match other_services.as_ref().and_then(|s| s.get(&base_name)) {
                            Some(b) => Some(self.extend(b.clone(), other_services.as_ref(), seen, &base_name)),
                            None => {
                                self.diags.error_help(
                                    Some(loc),
                                    format!("{} has no service `{base_name}`", full.display()),
                                    "name a service defined in that file",
                                );
                                None
                            }
                        }
                    }
                    None => None,
                }
            }
        };
        match base {
            Some(base) => merge::merge(base, service, &["services", "*"], &mut self.diags),
            None => service,
        }
    }

    fn project_name(
        &mut self,
        options: &Options,
        from_file: Option<&decode::Spanned<String>>,
        dir: &Path,
    ) -> Option<String> {
        if let Some(explicit) = &options.project_name {
            return self.checked_name(explicit, None, "the project name given with -p");
        }
        if let Some(n) = self.var("COMPOSE_PROJECT_NAME").filter(|n| !n.is_empty()) {
            return self.checked_name(&n, None, "COMPOSE_PROJECT_NAME");
        }
        if let Some(n) = from_file {
            return self.checked_name(&n.value, Some(&n.loc), "`name`");
        }
        let base = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let normalised = normalise_name(&base);
        if normalised.is_empty() {
            self.diags.error_help(
                Some(&Loc::file(Arc::from(dir))),
                format!("cannot derive a project name from the directory name {base:?}"),
                "set `name:` at the top of the compose file",
            );
            return None;
        }
        Some(normalised)
    }

    fn checked_name(&mut self, name: &str, loc: Option<&Loc>, what: &str) -> Option<String> {
        if normalise_name(name) == name && !name.is_empty() {
            return Some(name.to_string());
        }
        self.diags.error_help(
            loc,
            format!("{what} {name:?} is not a valid project name"),
            format!(
                "use lower-case letters, digits, `_` and `-`, starting with a letter or digit, e.g. {:?}",
                normalise_name(name)
            ),
        );
        None
    }
}

/// One `include` entry: the files, and where their paths and variables come from.
struct IncludeEntry {
    files: Vec<(PathBuf, Loc)>,
    project_dir: Option<PathBuf>,
    env_files: Option<Vec<(PathBuf, Option<Loc>)>>,
}

/// Compose's project-name normalisation: lower case, only `[a-z0-9_-]`, starting with a letter or digit.
pub fn normalise_name(name: &str) -> String {
    let kept: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    kept.trim_start_matches(['_', '-']).to_string()
}

/// Makes the relative paths of a file's services absolute against `dir` (for `include` and
/// `extends` from another directory, whose paths are relative to their own file).
fn rebase_paths(tree: &mut Node, dir: &Path) {
    let abs = |text: &str| mounts::clean(&dir.join(text)).to_string_lossy().into_owned();
    let fix = |n: &mut Node| {
        if let Kind::Scalar(s) = &mut n.kind
            && s.text.starts_with('.')
        {
            s.text = abs(&s.text);
        }
    };
    if let Some(services) = tree.get_mut("services").and_then(Node::as_map_mut) {
        for svc in services.iter_mut() {
            let s = &mut svc.value;
            if let Some(b) = s.get_mut("build") {
                match &b.kind {
                    Kind::Scalar(_) => fix(b),
                    _ => {
                        if let Some(c) = b.get_mut("context") {
                            fix(c)
                        }
                    }
                }
                if let Some(b) = s.get_mut("build")
                    && b.get("context").is_none()
                    && matches!(b.kind, Kind::Map(_))
                {
                    let loc = b.loc.clone();
                    if let Some(m) = b.as_map_mut() {
                        m.push(Entry {
                            key: "context".into(),
                            key_loc: loc.clone(),
                            value: Node::scalar(dir.to_string_lossy(), false, loc),
                        });
                    }
                }
            }
            if let Some(env) = s.get_mut("env_file") {
                match &mut env.kind {
                    Kind::Scalar(_) => fix(env),
                    Kind::Seq(items) => items.iter_mut().for_each(|i| match &i.kind {
                        Kind::Map(_) => {
                            if let Some(p) = i.get_mut("path") {
                                fix(p)
                            }
                        }
                        _ => fix(i),
                    }),
                    _ => {}
                }
            }
            if let Some(Kind::Seq(items)) = s.get_mut("volumes").map(|v| &mut v.kind) {
                for item in items {
                    match &mut item.kind {
                        Kind::Scalar(sc) if sc.text.starts_with('.') => {
                            let (src, rest) = sc.text.split_once(':').unwrap_or((&sc.text, ""));
                            let rest = if rest.is_empty() {
                                String::new()
                            } else {
                                format!(":{rest}")
                            };
                            sc.text = format!("{}{rest}", abs(src));
                        }
                        Kind::Map(_) => {
                            if let Some(src) = item.get_mut("source") {
                                fix(src)
                            }
                        }
                        _ => {}
                    }
                }
            }
            if let Some(ext) = s.get_mut("extends").and_then(|e| e.get_mut("file")) {
                fix(ext);
            }
        }
    }
    for section in ["secrets", "configs"] {
        if let Some(items) = tree.get_mut(section).and_then(Node::as_map_mut) {
            for item in items {
                if let Some(f) = item.value.get_mut("file") {
                    fix(f);
                }
            }
        }
    }
}

/// Loads a project named `p` from one compose text (for unit tests of later stages).
#[cfg(test)]
pub(crate) fn test_project(yaml: &str) -> Project {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("composed-unit-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("compose.yaml"), yaml).unwrap();
    let opts = Options {
        project_dir: Some(dir),
        project_name: Some("p".into()),
        environment: Some(Default::default()),
        ..Options::default()
    };
    load(&opts).map_err(|f| format!("{:?}", f.diagnostics)).unwrap().project
}
