//! Only one daemon manages a project at a time: a lock file per project, naming its holder.
//! (Input files others could change are refused by the loader, see [`crate::input`].)

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Why a guard refused, each with the fix.
#[derive(Debug, Error)]
pub enum GuardError {
    #[error("cannot create {}: {source}", dir.display())]
    RuntimeDir { dir: PathBuf, source: std::io::Error },
    #[error("cannot open {}: {source}", path.display())]
    LockFile { path: PathBuf, source: std::io::Error },
    #[error("project `{project}` is already managed by another composed ({holder}); stop that one first (see {})", path.display())]
    Held {
        project: String,
        holder: String,
        path: PathBuf,
    },
}

/// Holds a project's lock for as long as it lives.
#[derive(Debug)]
pub struct ProjectLock {
    _file: File,
    pub path: PathBuf,
}

/// Takes `project`'s lock in `dir`, or says who holds it.
pub fn lock(dir: &Path, project: &str) -> Result<ProjectLock, GuardError> {
    crate::runtime_files::ensure_dir(dir).map_err(|source| GuardError::RuntimeDir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let name = format!("{project}.lock");
    let (mut file, path) = crate::runtime_files::open_lock(dir, &name).map_err(|source| GuardError::LockFile {
        path: dir.join(&name),
        source,
    })?;
    if file.try_lock().is_err() {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        return Err(GuardError::Held {
            project: project.to_string(),
            holder: holder.trim().to_string(),
            path,
        });
    }
    let me = format!("pid {}{}", std::process::id(), unit_suffix());
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = file.write_all(me.as_bytes());
    Ok(ProjectLock { _file: file, path })
}

fn unit_suffix() -> String {
    std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|c| {
            c.lines()
                .filter_map(|l| l.rsplit('/').next())
                .find(|u| u.ends_with(".service"))
                .map(str::to_string)
        })
        .map(|u| format!(", unit {u}"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_first_holder() {
        let dir = std::env::temp_dir().join(format!("composed-lock-{}", std::process::id()));
        let first = lock(&dir, "p").unwrap();
        let second = lock(&dir, "p").unwrap_err().to_string();
        assert!(second.contains(&format!("pid {}", std::process::id())), "{second}");
        drop(first);
        assert!(lock(&dir, "p").is_ok());
    }
}
