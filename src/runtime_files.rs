//! The small files composed keeps in its runtime directory (project locks, what an operator
//! stopped, log cursors), written so that no other user can redirect them.
//!
//! A directory is created with mode 0700 and then checked: a real directory (not a symlink),
//! owned by composed's user, writable by no one else. A file is written to a fresh temporary
//! name (`O_CREAT|O_EXCL|O_NOFOLLOW`, mode 0600) and renamed over the old one, so a symlink
//! planted in its place is replaced, never followed; it is read with `O_NOFOLLOW`, as a regular
//! file of bounded size.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Runtime files are a few lines; anything larger is not ours.
const MAX_BYTES: u64 = 64 << 10;

const O_NOFOLLOW: i32 = 0o400000;
const O_CLOEXEC: i32 = 0o2000000;

/// Creates `dir` (and its parents) if needed and checks it is safe to keep files in.
pub fn ensure_dir(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let meta = std::fs::symlink_metadata(dir)?;
    let me = crate::user::uid().unwrap_or(0);
    let refuse = |why: String| std::io::Error::new(std::io::ErrorKind::PermissionDenied, why);
    if !meta.is_dir() {
        return Err(refuse(format!("{} is not a directory (a symlink?)", dir.display())));
    }
    if meta.uid() != me {
        return Err(refuse(format!(
            "{} is owned by uid {}, not {me}",
            dir.display(),
            meta.uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(refuse(format!(
            "{} is writable by others (mode {:o})",
            dir.display(),
            meta.mode() & 0o777
        )));
    }
    Ok(())
}

/// Replaces `dir/name` with `bytes`, atomically.
pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    ensure_dir(dir)?;
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    let result = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(O_NOFOLLOW | O_CLOEXEC)
        .open(&temp)
        .and_then(|mut f| f.write_all(bytes))
        .and_then(|()| std::fs::rename(&temp, dir.join(name)));
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Reads `dir/name` if it is a regular file of ours; `None` when it is absent or not one.
pub fn read(dir: &Path, name: &str) -> Option<String> {
    let file = open_nofollow(&dir.join(name), false).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > MAX_BYTES {
        return None;
    }
    let mut text = String::new();
    file.take(MAX_BYTES).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Removes `dir/name` (a symlink there is removed, not followed).
pub fn remove(dir: &Path, name: &str) -> std::io::Result<()> {
    match std::fs::remove_file(dir.join(name)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Opens (creating, mode 0600) a file for locking, refusing a symlink in its place.
pub fn open_lock(dir: &Path, name: &str) -> std::io::Result<(File, PathBuf)> {
    ensure_dir(dir)?;
    let path = dir.join(name);
    Ok((open_nofollow(&path, true)?, path))
}

fn open_nofollow(path: &Path, create: bool) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(create)
        .create(create)
        .truncate(false)
        .mode(0o600)
        .custom_flags(O_NOFOLLOW | O_CLOEXEC)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("composed-rt-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_planted_symlink_is_replaced_not_followed() {
        let d = dir("planted");
        ensure_dir(&d).unwrap();
        let victim = d.join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, d.join("held")).unwrap();
        assert_eq!(read(&d, "held"), None, "a symlink is not read through");
        write(&d, "held", b"web\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(read(&d, "held").as_deref(), Some("web\n"));
        assert!(open_lock(&d, "victim-link").is_ok());
        std::os::unix::fs::symlink(&victim, d.join("lock")).unwrap();
        assert!(open_lock(&d, "lock").is_err(), "a lock is not opened through a symlink");
    }

    #[test]
    fn a_directory_others_can_write_is_refused() {
        let d = dir("open");
        ensure_dir(&d).unwrap();
        assert_eq!(std::fs::metadata(&d).unwrap().mode() & 0o777, 0o700);
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(write(&d, "x", b"1").is_err());
        let link = dir("link");
        std::os::unix::fs::symlink(std::env::temp_dir(), &link).unwrap();
        assert!(ensure_dir(&link).is_err(), "a symlinked runtime directory is refused");
    }
}
