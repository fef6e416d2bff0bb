//! Which projects the daemon manages: every project in a directory (`NAME.yaml`, `NAME.yml`, or
//! `NAME/` holding a compose file), or exactly one (`--project PATH`, a file or a directory).

use std::path::{Path, PathBuf};

use crate::load::paths::clean;
use crate::load::{self, DEFAULT_FILES};

/// Why `--project PATH` names no project.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{}: {source}", path.display())]
    Path { path: PathBuf, source: std::io::Error },
    #[error("cannot derive a project name from {}: name the project directory (or file) with letters or digits", .0.display())]
    NoName(PathBuf),
}

/// One project as the daemon finds it on disk.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub options: load::Options,
    /// Directories to watch for edits.
    pub watch: Vec<PathBuf>,
}

/// The projects in `root`, sorted by name. Names are normalised as compose does. Any error
/// reading the directory fails the whole scan: a partial list would look like removed projects.
pub fn scan(root: &Path) -> std::io::Result<Vec<Source>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let path = entry.path();
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            if DEFAULT_FILES.iter().any(|f| path.join(f).is_file()) {
                out.push(directory(&path, &file_name));
            }
        } else if let Some(stem) = file_name
            .strip_suffix(".yaml")
            .or_else(|| file_name.strip_suffix(".yml"))
        {
            out.push(file(&path, stem));
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// `--project PATH`: a compose file or a project directory. Relative paths (`.`) are made
/// absolute first, and the name comes from the directory (or the file's stem), as compose
/// takes it from the directory.
pub fn single(path: &Path) -> Result<Source, String> {
    let absolute = std::path::absolute(path)
        .map(|p| clean(&p))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let is_dir = absolute.is_dir();
    let base = if is_dir {
        absolute.file_name()
    } else {
        absolute.file_stem()
    };
    let name = base.map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if load::normalise_name(&name).is_empty() {
        return Err(format!(
            "cannot derive a project name from {}: name the project directory (or file) with letters or digits",
            absolute.display()
        ));
    }
    Ok(if is_dir {
        directory(&absolute, &name)
    } else {
        file(&absolute, &name)
    })
}

fn directory(dir: &Path, name: &str) -> Source {
    Source {
        name: load::normalise_name(name),
        options: load::Options {
            project_dir: Some(dir.to_path_buf()),
            project_name: Some(load::normalise_name(name)),
            ..load::Options::default()
        },
        watch: vec![dir.to_path_buf()],
    }
}

fn file(path: &Path, name: &str) -> Source {
    let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    Source {
        name: load::normalise_name(name),
        options: load::Options {
            files: vec![path.to_path_buf()],
            project_dir: Some(dir.clone()),
            project_name: Some(load::normalise_name(name)),
            ..load::Options::default()
        },
        watch: vec![dir],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_files_and_directories() {
        let root = std::env::temp_dir().join(format!("composed-sources-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("yelb")).unwrap();
        std::fs::create_dir_all(root.join("empty")).unwrap();
        std::fs::write(root.join("yelb/compose.yaml"), "").unwrap();
        std::fs::write(root.join("Postgres.yml"), "").unwrap();
        std::fs::write(root.join("README"), "").unwrap();
        std::fs::write(root.join(".hidden.yaml"), "").unwrap();
        let names: Vec<String> = scan(&root).unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(names, vec!["postgres", "yelb"]);
        let one = single(&root.join("yelb")).unwrap();
        assert_eq!(one.options.project_dir.as_deref(), Some(root.join("yelb").as_path()));
        let file = single(&root.join("Postgres.yml")).unwrap();
        assert_eq!(file.name, "postgres");
    }

    #[test]
    fn a_relative_path_is_named_after_its_absolute_directory() {
        let cwd = std::env::current_dir().unwrap();
        let here = single(Path::new(".")).unwrap();
        let expected = load::normalise_name(&cwd.file_name().unwrap().to_string_lossy());
        assert_eq!(here.name, expected);
        assert_eq!(here.options.project_dir.as_deref(), Some(cwd.as_path()));
        let up = single(Path::new("src/..")).unwrap();
        assert_eq!(up.name, expected);
        let err = single(Path::new("/")).unwrap_err().to_string();
        assert!(err.contains("cannot derive a project name from /"), "{err}");
    }
}
