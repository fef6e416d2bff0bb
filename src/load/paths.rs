//! Host paths as compose resolves them: `~` is the home directory, a relative path is under a base
//! directory (the project's, or the file's that names it), and `.` and `..` are resolved lexically.

use std::path::{Component, Path, PathBuf};

/// Makes a host path absolute: `~` is the home directory, relative paths are under `base`.
pub fn absolute(path: &str, base: &Path, home: Option<&Path>) -> PathBuf {
    let joined = match (path.strip_prefix('~'), home) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => home.join(rest.trim_start_matches('/')),
        _ => base.join(path),
    };
    clean(&joined)
}

/// Removes `.` and resolves `..` lexically (no file system access: the path may not exist yet).
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}
