//! Two safety checks before the daemon acts on a project: only one daemon manages a project at a
//! time (a lock file per project, naming its holder), and no input file is writable by a user
//! other than the daemon's own and root (such a file is root on the host through the engine; the
//! rule sshd applies to its keys).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
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
    #[error("cannot read {}: {source}", path.display())]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("refusing {}: it is owned by uid {uid}, who could change what runs as root through the engine; run `chown root {}`", path.display(), path.display())]
    Owner { path: PathBuf, uid: u32 },
    #[error("refusing {}: it is writable by {who} (mode {mode:o}), who could change what runs as root through the engine; run `chmod go-w {}`", path.display(), path.display())]
    Writable {
        path: PathBuf,
        who: &'static str,
        mode: u32,
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
    std::fs::create_dir_all(dir).map_err(|source| GuardError::RuntimeDir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(format!("{project}.lock"));
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|source| GuardError::LockFile {
            path: path.clone(),
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

/// Refuses a file that a user other than root and the daemon's own could write.
pub fn check_writable_only_by_owner(path: &Path) -> Result<(), GuardError> {
    let meta = std::fs::metadata(path).map_err(|source| GuardError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let me = crate::user::uid().unwrap_or(0);
    if meta.uid() != 0 && meta.uid() != me {
        return Err(GuardError::Owner {
            path: path.to_path_buf(),
            uid: meta.uid(),
        });
    }
    let mode = meta.permissions().mode();
    if mode & 0o022 != 0 {
        return Err(GuardError::Writable {
            path: path.to_path_buf(),
            who: if mode & 0o002 != 0 { "everyone" } else { "its group" },
            mode: mode & 0o777,
        });
    }
    Ok(())
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

    #[test]
    fn group_or_world_writable_files_are_refused() {
        let dir = std::env::temp_dir().join(format!("composed-perm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("compose.yaml");
        std::fs::write(&f, "").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(check_writable_only_by_owner(&f).is_ok());
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o664)).unwrap();
        let e = check_writable_only_by_owner(&f).unwrap_err().to_string();
        assert!(e.contains("chmod go-w") && e.contains("its group"), "{e}");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o646)).unwrap();
        assert!(
            check_writable_only_by_owner(&f)
                .unwrap_err()
                .to_string()
                .contains("everyone")
        );
    }
}
