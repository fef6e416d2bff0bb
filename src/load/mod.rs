//! The loader: compose files as ops write them today, in, one validated [`Project`] out.
//!
//! The stages, in order, each in its own module:
//! 1. find the files (`-f` list, `COMPOSE_FILE`, or `compose.yaml` + `compose.override.yaml` in the
//!    project directory) and read `.env` ([`dotenv`]);
//! 2. parse each file into a located tree ([`crate::yaml`]) and interpolate it ([`interpolate`]),
//!    file by file, before anything is merged;
//! 3. bring in `include:`d files, merge the files in order ([`merge`]) and resolve `extends`
//!    (`include_extends`);
//! 4. decode the tree into the raw model ([`raw`], [`decode`]), refusing unknown keys;
//! 5. convert the raw model into the validated [`Project`] ([`convert`]).
//!
//! Every stage reports into one [`Diagnostics`] list; a load fails when any error was reported,
//! and all of them are returned together.

pub mod convert;
pub mod decode;
pub mod dotenv;
mod include_extends;
pub mod interpolate;
pub mod merge;
pub mod paths;
pub mod raw;
pub mod units;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{Diagnostic, Diagnostics, Loc};
use crate::model::Project;
use crate::yaml::{self, Kind, Node};

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
    let mut diags = Diagnostics::default();
    let env = options
        .environment
        .clone()
        .unwrap_or_else(|| process_environment(&mut diags));
    let mut loader = Loader {
        env,
        dotenv: HashMap::new(),
        diags,
        inputs: Vec::new(),
        substituted: BTreeSet::new(),
    };
    let project = loader.run(options);
    let Loader {
        mut diags,
        mut inputs,
        substituted,
        ..
    } = loader;
    diags.mask(&substituted);
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
    /// Every value interpolation put into the files: masked in the diagnostics, which reach the
    /// journal (a `${DB_PASSWORD}` written in the wrong place must not be quoted there).
    substituted: BTreeSet<String>,
}

/// The process environment; a variable whose name or value is not UTF-8 is left out with a
/// warning (a file cannot name it).
fn process_environment(diags: &mut Diagnostics) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (name, value) in std::env::vars_os() {
        match (name.into_string(), value.into_string()) {
            (Ok(name), Ok(value)) => {
                out.insert(name, value);
            }
            (Ok(name), Err(_)) => diags.push(Diagnostic::warning(
                None,
                format!("environment variable {name} is not UTF-8 and is ignored"),
            )),
            (Err(_), _) => diags.push(Diagnostic::warning(
                None,
                "an environment variable whose name is not UTF-8 is ignored",
            )),
        }
    }
    out
}

/// A refused or unreadable input as a located error: what was wrong is in the message, and the
/// help says what to do.
pub(crate) fn input_error(at: Loc, e: crate::input::InputError, what: &str) -> Diagnostic {
    use crate::input::InputError;
    let help = match &e {
        InputError::Unreadable { .. } => "check the path and its permissions",
        InputError::Owner { .. } | InputError::Writable { .. } => {
            "only root (and composed's own user) may be able to change what composed reads"
        }
        InputError::NotAFile { .. } => "name a regular file",
        InputError::TooLarge { .. } => "split the file, or check that it is the right one",
        InputError::SymlinkLoop { .. } => "fix the symbolic links on the path",
    };
    // "cannot read env file /x: ...", "refusing compose file /y: ...".
    let message = match &e {
        InputError::Unreadable { path, reason } => format!("cannot read {what} {}: {reason}", path.display()),
        refused => format!(
            "refusing {what} {}",
            refused.to_string().trim_start_matches("refusing ")
        ),
    };
    Diagnostic::error(Some(at), message).with_help(help)
}

impl Loader {
    /// A variable's value: the process environment first, then `.env`.
    fn var(&self, name: &str) -> Option<String> {
        self.env.get(name).or_else(|| self.dotenv.get(name)).cloned()
    }

    fn run(&mut self, options: &Options) -> Option<Project> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let explicit_dir = options.project_dir.as_ref().map(|d| paths::clean(&cwd.join(d)));
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
            return Some(listed.iter().map(|f| paths::clean(&cwd.join(f))).collect());
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
        if !crate::input::exists(&path) {
            return HashMap::new();
        }
        self.read_env_files(&[(path, None)])
    }

    /// Reads env files in order (later ones win); `loc` is where each was named, for errors.
    fn read_env_files(&mut self, files: &[(PathBuf, Option<Loc>)]) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for (path, loc) in files {
            self.inputs.push(path.clone());
            let text = match crate::input::read_text(path) {
                Ok(t) => t,
                Err(e) => {
                    let at = loc.clone().unwrap_or_else(|| Loc::file(Arc::from(path.as_path())));
                    self.diags.push(input_error(at, e, "env file"));
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
        let text = match crate::input::read_text(file) {
            Ok(t) => t,
            Err(e) => {
                self.diags.push(input_error(Loc::file(name), e, "compose file"));
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
        let used = std::cell::RefCell::new(BTreeSet::new());
        let vars = |n: &str| {
            let value = self.env.get(n).or_else(|| dotenv.get(n)).cloned();
            if let Some(v) = &value {
                used.borrow_mut().insert(v.clone());
            }
            value
        };
        let mut diags = Diagnostics::default();
        interpolate::interpolate_tree(&mut tree, &vars, &mut diags);
        self.diags.extend(diags);
        self.substituted.extend(used.into_inner());
        Some(tree)
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

/// Compose's project-name normalisation: lower case, only `[a-z0-9_-]`, starting with a letter or digit.
pub fn normalise_name(name: &str) -> String {
    let kept: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    kept.trim_start_matches(['_', '-']).to_string()
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
    let loaded = load(&opts).map_err(|f| format!("{:?}", f.diagnostics));
    if let Some(dir) = &opts.project_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    loaded.unwrap().project
}
