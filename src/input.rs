//! Reading the files that steer composed (compose files, `.env`, env and label files, includes)
//! and checking the ones it hands to the engine (secret and config sources, build contexts).
//!
//! Whatever these files say runs as root through the engine, so only root and composed's own
//! user may control them: the path is resolved one component at a time, and every directory
//! on the way (and every symlink's location) must belong to one of them and not be writable by
//! anyone else (a sticky directory such as `/tmp` is fine). A file is then opened without
//! following a last symlink and without blocking, checked on the open descriptor (a regular file,
//! the same owners, not writable by group or others, at most [`MAX_FILE_BYTES`]) and read through
//! a bounded reader. As no one else can change a directory on the way, no one can swap the file
//! between the check and the read.

use std::fs::{Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use thiserror::Error;

/// The largest input file composed reads (real compose files are well under 1 MiB).
pub const MAX_FILE_BYTES: u64 = 8 << 20;

/// How many symlinks a path may pass through, as the kernel allows.
const MAX_SYMLINKS: usize = 40;

/// Why an input was refused, each with the fix.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InputError {
    #[error("cannot read {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("refusing {}: it is owned by uid {uid}, who could change what runs as root through the engine; run `chown root {}`", path.display(), path.display())]
    Owner { path: PathBuf, uid: u32 },
    #[error("refusing {}: it is writable by {who} (mode {mode:o}), who could change what runs as root through the engine; run `chmod go-w {}`", path.display(), path.display())]
    Writable {
        path: PathBuf,
        who: &'static str,
        mode: u32,
    },
    #[error("refusing {}: it is {what}, not a regular file; point at a file", path.display())]
    NotAFile { path: PathBuf, what: &'static str },
    #[error("refusing {}: it is larger than {} MiB", path.display(), MAX_FILE_BYTES >> 20)]
    TooLarge { path: PathBuf },
    #[error("refusing {}: it passes through more than {MAX_SYMLINKS} symbolic links", path.display())]
    SymlinkLoop { path: PathBuf },
}

impl InputError {
    fn unreadable(path: &Path, e: std::io::Error) -> InputError {
        InputError::Unreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }
}

/// Reads a text input file after the checks above.
pub fn read_text(path: &Path) -> Result<String, InputError> {
    let resolved = resolve(path)?;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc_flags::O_NOFOLLOW | libc_flags::O_NONBLOCK | libc_flags::O_CLOEXEC)
        .open(&resolved)
        .map_err(|e| InputError::unreadable(path, e))?;
    let meta = file.metadata().map_err(|e| InputError::unreadable(path, e))?;
    check_file(path, &meta)?;
    let mut text = String::new();
    let read = file
        .take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| InputError::unreadable(path, e))?;
    if read as u64 > MAX_FILE_BYTES {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(text)
}

/// Whether `path` is an input file composed would read (for optional files such as `.env`).
pub fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Checks a file or directory composed hands to the engine (a secret's source, a build context)
/// without reading it: the same rules, and a regular file where `file` is asked for.
pub fn check(path: &Path, file: bool) -> Result<PathBuf, InputError> {
    let resolved = resolve(path)?;
    let meta = std::fs::metadata(&resolved).map_err(|e| InputError::unreadable(path, e))?;
    match file {
        true => check_file(path, &meta)?,
        false if !meta.is_dir() => check_file(path, &meta)?,
        false => check_dir(&resolved, &meta)?,
    }
    Ok(resolved)
}

/// The path without symlinks, every directory on the way (and the location of every symlink)
/// checked.
pub fn resolve(path: &Path) -> Result<PathBuf, InputError> {
    let absolute = match path.is_absolute() {
        true => path.to_path_buf(),
        false => std::env::current_dir()
            .map_err(|e| InputError::unreadable(path, e))?
            .join(path),
    };
    // The components still to walk, last first.
    let mut pending: Vec<Step> = steps(&absolute);
    let mut resolved = PathBuf::from("/");
    let mut links = 0;
    let root = std::fs::symlink_metadata(&resolved).map_err(|e| InputError::unreadable(path, e))?;
    check_dir(&resolved, &root)?;
    while let Some(step) = pending.pop() {
        let name = match step {
            Step::Root => {
                resolved = PathBuf::from("/");
                continue;
            }
            Step::Parent => {
                resolved.pop();
                continue;
            }
            Step::Name(name) => name,
        };
        let next = resolved.join(&name);
        let meta = std::fs::symlink_metadata(&next).map_err(|e| InputError::unreadable(path, e))?;
        if meta.file_type().is_symlink() {
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(InputError::SymlinkLoop {
                    path: path.to_path_buf(),
                });
            }
            // A symlink in a sticky directory could be anyone's.
            check_owner(&next, &meta)?;
            let target = std::fs::read_link(&next).map_err(|e| InputError::unreadable(path, e))?;
            pending.extend(steps(&target));
            continue;
        }
        if !pending.is_empty() {
            check_dir(&next, &meta)?;
        }
        resolved = next;
    }
    Ok(resolved)
}

/// One component of a path being resolved.
enum Step {
    Root,
    Parent,
    Name(std::ffi::OsString),
}

/// `path`'s components as steps, last first (so that `pop` takes the next one).
fn steps(path: &Path) -> Vec<Step> {
    path.components()
        .filter_map(|c| match c {
            Component::RootDir | Component::Prefix(_) => Some(Step::Root),
            Component::ParentDir => Some(Step::Parent),
            Component::CurDir => None,
            Component::Normal(n) => Some(Step::Name(n.to_os_string())),
        })
        .rev()
        .collect()
}

fn check_owner(path: &Path, meta: &Metadata) -> Result<(), InputError> {
    let me = crate::user::uid().unwrap_or(0);
    match meta.uid() {
        0 => Ok(()),
        uid if uid == me => Ok(()),
        uid => Err(InputError::Owner {
            path: path.to_path_buf(),
            uid,
        }),
    }
}

fn check_dir(path: &Path, meta: &Metadata) -> Result<(), InputError> {
    if !meta.is_dir() {
        return Err(InputError::NotAFile {
            path: path.to_path_buf(),
            what: "not a directory",
        });
    }
    check_owner(path, meta)?;
    let mode = meta.mode();
    let sticky = mode & 0o1000 != 0;
    if mode & 0o022 != 0 && !sticky {
        return Err(writable(path, mode));
    }
    Ok(())
}

fn check_file(path: &Path, meta: &Metadata) -> Result<(), InputError> {
    let kind = meta.file_type();
    if !kind.is_file() {
        use std::os::unix::fs::FileTypeExt;
        let what = match () {
            _ if kind.is_dir() => "a directory",
            _ if kind.is_fifo() => "a named pipe",
            _ if kind.is_char_device() || kind.is_block_device() => "a device",
            _ if kind.is_socket() => "a socket",
            _ => "a special file",
        };
        return Err(InputError::NotAFile {
            path: path.to_path_buf(),
            what,
        });
    }
    check_owner(path, meta)?;
    if meta.mode() & 0o022 != 0 {
        return Err(writable(path, meta.mode()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(())
}

fn writable(path: &Path, mode: u32) -> InputError {
    InputError::Writable {
        path: path.to_path_buf(),
        who: if mode & 0o002 != 0 { "everyone" } else { "its group" },
        mode: mode & 0o7777,
    }
}

/// `open(2)` flags (Linux values) the standard library does not name.
mod libc_flags {
    pub const O_NONBLOCK: i32 = 0o4000;
    pub const O_NOFOLLOW: i32 = 0o400000;
    pub const O_CLOEXEC: i32 = 0o2000000;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("composed-input-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        d
    }

    #[test]
    fn a_plain_file_in_safe_directories_is_read() {
        let d = dir("plain");
        std::fs::write(d.join("compose.yaml"), "services: {}\n").unwrap();
        assert_eq!(read_text(&d.join("compose.yaml")).unwrap(), "services: {}\n");
    }

    #[test]
    fn a_group_writable_parent_directory_is_refused() {
        let d = dir("parent");
        let sub = d.join("project");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("compose.yaml"), "").unwrap();
        std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o775)).unwrap();
        let e = read_text(&sub.join("compose.yaml")).unwrap_err();
        assert!(matches!(&e, InputError::Writable { path, .. } if path == &sub), "{e}");
        assert!(e.to_string().contains("chmod go-w"), "{e}");
    }

    #[test]
    fn a_fifo_and_a_device_are_refused_without_blocking() {
        let d = dir("fifo");
        let fifo = d.join("env");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(status.success());
        let e = read_text(&fifo).unwrap_err();
        assert!(e.to_string().contains("a named pipe"), "{e}");
        let e = read_text(Path::new("/dev/zero")).unwrap_err();
        assert!(e.to_string().contains("a device"), "{e}");
    }

    #[test]
    fn symlinks_are_followed_only_through_safe_places() {
        let d = dir("links");
        std::fs::write(d.join("real.yaml"), "x").unwrap();
        std::os::unix::fs::symlink(d.join("real.yaml"), d.join("link.yaml")).unwrap();
        assert_eq!(read_text(&d.join("link.yaml")).unwrap(), "x");
        // A symlink into a directory others can write leads to a refusal.
        let open = d.join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::fs::write(open.join("f"), "y").unwrap();
        std::os::unix::fs::symlink(open.join("f"), d.join("planted")).unwrap();
        assert!(matches!(
            read_text(&d.join("planted")),
            Err(InputError::Writable { .. })
        ));
    }

    #[test]
    fn a_symlink_loop_is_refused() {
        let d = dir("loop");
        std::os::unix::fs::symlink(d.join("b"), d.join("a")).unwrap();
        std::os::unix::fs::symlink(d.join("a"), d.join("b")).unwrap();
        assert!(matches!(read_text(&d.join("a")), Err(InputError::SymlinkLoop { .. })));
    }

    #[test]
    fn a_too_large_file_is_refused() {
        let d = dir("large");
        let f = std::fs::File::create(d.join("big")).unwrap();
        f.set_len(MAX_FILE_BYTES + 1).unwrap();
        assert!(matches!(read_text(&d.join("big")), Err(InputError::TooLarge { .. })));
    }
}
