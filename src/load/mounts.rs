//! Service `volumes` syntax: `./src:/dst:ro`, `name:/dst`, `/anonymous`, and the long form with
//! bind, volume and tmpfs options. Relative and `~` bind sources become absolute paths.

use std::path::{Component, Path, PathBuf};

use crate::model::{BindOptions, Mount, MountType, VolumeOptions};

/// Whether a short-syntax source is a host path (and so a bind mount) rather than a volume name.
pub fn is_path(source: &str) -> bool {
    source.starts_with('.') || source.starts_with('/') || source.starts_with('~')
}

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

/// Parses the short syntax. Bind sources are made absolute against `base`.
pub fn parse_short(text: &str, base: &Path, home: Option<&Path>) -> Result<Mount, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [target] => (None, *target, None),
        [source, target] => (Some(*source), *target, None),
        [source, target, mode] => (Some(*source), *target, Some(*mode)),
        _ => return Err(format!("too many `:` in {text:?}; write `source:target[:mode]`")),
    };
    if source == Some("") {
        return Err(format!("empty source in {text:?}"));
    }
    check_target(target)?;
    let mut mount = match source {
        None => Mount {
            kind: MountType::Volume,
            source: None,
            target: target.to_string(),
            read_only: false,
            bind: None,
            volume: Some(VolumeOptions::default()),
            tmpfs: None,
        },
        Some(s) if is_path(s) => Mount {
            kind: MountType::Bind,
            source: Some(absolute(s, base, home).to_string_lossy().into_owned()),
            target: target.to_string(),
            read_only: false,
            bind: Some(BindOptions {
                create_host_path: true,
                ..BindOptions::default()
            }),
            volume: None,
            tmpfs: None,
        },
        Some(name) => Mount {
            kind: MountType::Volume,
            source: Some(name.to_string()),
            target: target.to_string(),
            read_only: false,
            bind: None,
            volume: Some(VolumeOptions::default()),
            tmpfs: None,
        },
    };
    for option in mode.into_iter().flat_map(|m| m.split(',')) {
        apply_option(&mut mount, option).map_err(|e| format!("{e} in {text:?}"))?;
    }
    Ok(mount)
}

fn apply_option(mount: &mut Mount, option: &str) -> Result<(), String> {
    match option {
        "ro" => mount.read_only = true,
        "rw" => mount.read_only = false,
        "z" | "Z" if mount.kind == MountType::Bind => {
            mount.bind.get_or_insert_with(BindOptions::default).selinux = Some(option.to_string())
        }
        "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" if mount.kind == MountType::Bind => {
            mount.bind.get_or_insert_with(BindOptions::default).propagation = Some(option.to_string())
        }
        "nocopy" if mount.kind == MountType::Volume => {
            mount.volume.get_or_insert_with(VolumeOptions::default).nocopy = true
        }
        "cached" | "delegated" | "consistent" => {}
        other => {
            return Err(format!(
                "unknown mount option {other:?} (use ro, rw, z, Z, nocopy or a propagation mode)"
            ));
        }
    }
    Ok(())
}

pub fn check_target(target: &str) -> Result<(), String> {
    if !target.starts_with('/') {
        return Err(format!(
            "the container path {target:?} must be absolute (start with `/`)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms() {
        let base = Path::new("/srv/app");
        let home = Some(Path::new("/home/ops"));
        let m = parse_short("./html:/usr/share/nginx/html:ro", base, home).unwrap();
        assert_eq!(
            (m.kind, m.source.as_deref(), m.read_only),
            (MountType::Bind, Some("/srv/app/html"), true)
        );
        assert!(m.bind.unwrap().create_host_path);
        let m = parse_short("~/data:/data", base, home).unwrap();
        assert_eq!(m.source.as_deref(), Some("/home/ops/data"));
        let m = parse_short("../x/./y:/y", base, home).unwrap();
        assert_eq!(m.source.as_deref(), Some("/srv/x/y"));
        let m = parse_short("data:/data:nocopy", base, home).unwrap();
        assert_eq!((m.kind, m.source.as_deref()), (MountType::Volume, Some("data")));
        assert!(m.volume.unwrap().nocopy);
        let m = parse_short("/anon", base, home).unwrap();
        assert_eq!((m.kind, m.source), (MountType::Volume, None));
        let m = parse_short("/etc:/etc:ro,z", base, home).unwrap();
        assert_eq!(m.bind.unwrap().selinux.as_deref(), Some("z"));
    }

    #[test]
    fn bad_mounts() {
        let base = Path::new("/srv");
        for bad in ["data:relative", "a:b:c:d", ":/x", "./x:/y:bogus", "data:/d:z"] {
            assert!(parse_short(bad, base, None).is_err(), "{bad}");
        }
    }
}
