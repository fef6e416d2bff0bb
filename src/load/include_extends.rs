//! `include` and `extends` (with the merge, the loader's third stage), which bring in services and
//! resources from other files. Each included or extended file is read and interpolated on its own
//! (an included file with the project's variables and then its own `.env` or the entry's
//! `env_file`), and its relative paths are made absolute against its own directory (or the
//! entry's `project_directory`) before it joins the project's tree.

use std::path::{Path, PathBuf};

use super::{Loader, merge, paths};
use crate::diag::Loc;
use crate::yaml::{Entry, Kind, Node};

impl Loader {
    /// Brings the resources of `include:`d files into `tree`. Included paths are relative to
    /// the including file; the included file's own relative paths stay relative to itself.
    pub(super) fn apply_include(&mut self, mut tree: Node, file: &Path, depth: usize) -> Node {
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
                // An included file's variables are the including project's, then those of its own
                // `.env` (or the entry's `env_file`) that the project does not set, as compose
                // merges them; its relative paths are from its own directory.
                let mut dotenv = match &entry.env_files {
                    Some(files) => self.read_env_files(files),
                    None => self.read_dotenv(&dir),
                };
                dotenv.extend(self.dotenv.clone());
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
                .map(|(p, l)| (paths::clean(&base.join(p)), l))
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
                            entry.project_dir = e.value.as_str().map(|d| paths::clean(&base.join(d)))
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
    pub(super) fn apply_extends(&mut self, tree: &mut Node) {
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
                let full = paths::clean(&dir.join(path));
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
}

/// One `include` entry: the files, and where their paths and variables come from.
struct IncludeEntry {
    files: Vec<(PathBuf, Loc)>,
    project_dir: Option<PathBuf>,
    env_files: Option<Vec<(PathBuf, Option<Loc>)>>,
}

/// Makes the relative paths of a file's services absolute against `dir` (for `include` and
/// `extends` from another directory, whose paths are relative to their own file).
fn rebase_paths(tree: &mut Node, dir: &Path) {
    let abs = |text: &str| paths::clean(&dir.join(text)).to_string_lossy().into_owned();
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
