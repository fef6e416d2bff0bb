//! A service's `volumes`. The short syntax: `./src:/dst:ro`, `name:/dst`, `/anonymous`; and the
//! long form with bind, volume, tmpfs and image options. As compose reads them: relative and `~`
//! bind sources become absolute (cleaned), absolute ones are kept as written, container paths are
//! cleaned (`/data/` is `/data`), and `z`/`Z` or a propagation mode on a named volume is kept as
//! its `bind` options. The named volumes used are recorded for the check against the top-level
//! `volumes`.

use std::path::Path;

use super::{ServiceConversion, parse_mode};
use crate::load::decode::Spanned;
use crate::load::paths;
use crate::load::raw::{RawMount, RawMountLong};
use crate::model::{BindOptions, ImageOptions, Mount, MountType, TmpfsOptions, VolumeOptions};

impl ServiceConversion<'_, '_> {
    /// `bind.recursive`: how submounts of the source are mounted.
    fn recursive(&mut self, r: Option<Spanned<String>>) -> Option<String> {
        let r = r?;
        if !matches!(r.value.as_str(), "enabled" | "disabled" | "writable" | "readonly") {
            self.error(
                &r.loc,
                format!("`bind.recursive` {:?} is not a recursion mode", r.value),
                "write `enabled`, `disabled`, `writable` or `readonly`",
            );
            return None;
        }
        Some(r.value)
    }

    pub(super) fn mounts(&mut self, raw: Vec<RawMount>) -> Vec<Mount> {
        let mut out = Vec::new();
        for m in raw {
            let (mount, loc) = match m {
                RawMount::Short(s) => match parse_short(&s.value, self.cx.project_dir, self.cx.home) {
                    Ok(mount) => (mount, s.loc),
                    Err(e) => {
                        self.error(
                            &s.loc,
                            format!("invalid volume {:?}: {e}", s.value),
                            "write `NAME:/path`, `./dir:/path[:ro]` or `/path`",
                        );
                        continue;
                    }
                },
                RawMount::Long(l) => {
                    let loc = l.loc.clone().unwrap_or_else(|| self.loc.clone());
                    match self.long_mount(l) {
                        Some(mount) => (mount, loc),
                        None => continue,
                    }
                }
            };
            if mount.kind == MountType::Volume
                && let Some(name) = &mount.source
            {
                self.refs.volumes.push((self.name.to_string(), name.clone(), loc));
            }
            out.push(mount);
        }
        out
    }

    fn long_mount(&mut self, l: RawMountLong) -> Option<Mount> {
        let RawMountLong {
            loc,
            kind,
            source,
            target,
            read_only,
            consistency: _,
            bind,
            volume,
            tmpfs,
            image,
            extensions: _,
        } = l;
        let loc = loc.unwrap_or_else(|| self.loc.clone());
        let Some(kind) = kind else {
            self.error(
                &loc,
                "volume has no `type`",
                "add `type: bind`, `type: volume` or `type: tmpfs`",
            );
            return None;
        };
        let Some(target) = target else {
            self.error(&loc, "volume has no `target`", "add `target: /path/in/container`");
            return None;
        };
        if let Err(e) = check_target(&target.value) {
            self.error(&target.loc, e, "write an absolute path");
        }
        let kind_value = match kind.value.as_str() {
            "bind" => MountType::Bind,
            "volume" => MountType::Volume,
            "tmpfs" => MountType::Tmpfs,
            "image" => MountType::Image,
            "npipe" | "cluster" => {
                self.error(
                    &kind.loc,
                    format!("volume type {:?} is not available on a Linux engine", kind.value),
                    "use `bind`, `volume`, `tmpfs` or `image`",
                );
                return None;
            }
            other => {
                self.error(
                    &kind.loc,
                    format!("unknown volume type {other:?}"),
                    "use `bind`, `volume`, `tmpfs` or `image`",
                );
                return None;
            }
        };
        let source = match (kind_value, source) {
            (MountType::Bind, None) => {
                self.error(
                    &loc,
                    "a bind mount needs a `source`",
                    "add `source: ./dir` (a host path)",
                );
                return None;
            }
            (MountType::Bind, Some(s)) => Some(bind_source(&s.value, self.cx.project_dir, self.cx.home)),
            (MountType::Image, None) => {
                self.error(&loc, "an image mount needs a `source`", "add `source: IMAGE:TAG`");
                return None;
            }
            (MountType::Tmpfs, Some(s)) => {
                self.error(&s.loc, "a tmpfs mount takes no `source`", "remove `source`");
                None
            }
            (_, s) => s.map(|s| s.value),
        };
        let tmpfs = match tmpfs {
            Some(t) => {
                let mode = t.mode.as_ref().and_then(|m| {
                    let parsed = parse_mode(&m.value);
                    if parsed.is_none() {
                        self.error(
                            &m.loc,
                            format!("tmpfs mode {:?} is not an octal number", m.value),
                            "write e.g. `1777`",
                        );
                    }
                    parsed
                });
                Some(TmpfsOptions {
                    size: self.size(t.size, "tmpfs.size"),
                    mode,
                })
            }
            None => None,
        };
        // Only what was written, as compose prints it; no block means the defaults.
        // A named volume keeps a `bind` block for its SELinux label, as compose does.
        let bind = match kind_value {
            MountType::Bind | MountType::Volume => bind.map(|b| BindOptions {
                propagation: b.propagation,
                create_host_path: b.create_host_path.unwrap_or(false),
                selinux: b.selinux,
                recursive: self.recursive(b.recursive),
            }),
            _ => None,
        };
        let volume = match kind_value {
            MountType::Volume => Some(volume.map_or(VolumeOptions::default(), |v| VolumeOptions {
                labels: v.labels.map(super::strings).unwrap_or_default(),
                nocopy: v.nocopy.unwrap_or(false),
                subpath: v.subpath,
            })),
            _ => None,
        };
        let image = match kind_value {
            MountType::Image => Some(image.map_or(ImageOptions::default(), |i| ImageOptions { subpath: i.subpath })),
            _ => None,
        };
        Some(Mount {
            kind: kind_value,
            source,
            target: clean_target(&target.value),
            read_only: read_only.unwrap_or(false),
            bind,
            volume,
            tmpfs,
            image,
        })
    }
}

/// A bind mount's host path as compose keeps it: a relative or `~` path made absolute and
/// cleaned, an absolute one as written.
fn bind_source(source: &str, base: &Path, home: Option<&Path>) -> String {
    if source.starts_with('/') {
        return source.to_string();
    }
    paths::absolute(source, base, home).to_string_lossy().into_owned()
}

/// A container path cleaned as compose cleans it (`/data/` is `/data`).
fn clean_target(target: &str) -> String {
    paths::clean(Path::new(target)).to_string_lossy().into_owned()
}

/// Whether a short-syntax source is a host path (and so a bind mount) rather than a volume name.
fn is_path(source: &str) -> bool {
    source.starts_with('.') || source.starts_with('/') || source.starts_with('~')
}

/// Parses the short syntax. Bind sources are made absolute against `base`.
fn parse_short(text: &str, base: &Path, home: Option<&Path>) -> Result<Mount, String> {
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
    let target = clean_target(target);
    let mut mount = match source {
        None => Mount {
            kind: MountType::Volume,
            source: None,
            target,
            read_only: false,
            bind: None,
            volume: Some(VolumeOptions::default()),
            tmpfs: None,
            image: None,
        },
        Some(s) if is_path(s) => Mount {
            kind: MountType::Bind,
            source: Some(bind_source(s, base, home)),
            target,
            read_only: false,
            bind: Some(BindOptions {
                create_host_path: true,
                ..BindOptions::default()
            }),
            volume: None,
            tmpfs: None,
            image: None,
        },
        Some(name) => Mount {
            kind: MountType::Volume,
            source: Some(name.to_string()),
            target,
            read_only: false,
            bind: None,
            volume: Some(VolumeOptions::default()),
            tmpfs: None,
            image: None,
        },
    };
    for option in mode.into_iter().flat_map(|m| m.split(',')) {
        apply_option(&mut mount, option).map_err(|e| format!("{e} in {text:?}"))?;
    }
    Ok(mount)
}

/// One short-syntax option. As compose: `z`/`Z` and propagation modes are kept as `bind`
/// options whatever the mount (the engine applies SELinux labels to named volumes too).
fn apply_option(mount: &mut Mount, option: &str) -> Result<(), String> {
    match option {
        "ro" => mount.read_only = true,
        "rw" => mount.read_only = false,
        "z" | "Z" => mount.bind.get_or_insert_with(BindOptions::default).selinux = Some(option.to_string()),
        "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
            mount.bind.get_or_insert_with(BindOptions::default).propagation = Some(option.to_string())
        }
        "nocopy" if mount.kind == MountType::Volume => {
            mount.volume.get_or_insert_with(VolumeOptions::default).nocopy = true
        }
        "nocopy" => return Err("`nocopy` applies only to volumes, not to a host path".to_string()),
        "cached" | "delegated" | "consistent" => {}
        other => {
            return Err(format!(
                "unknown mount option {other:?}: the options are ro, rw, z, Z, nocopy, and the propagation modes shared, rshared, slave, rslave, private, rprivate"
            ));
        }
    }
    Ok(())
}

fn check_target(target: &str) -> Result<(), String> {
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
        // As compose reads them: a named volume keeps `z`, container paths are cleaned, an
        // absolute host path is kept as written, a relative one is cleaned.
        let m = parse_short("name:/path/:z", base, home).unwrap();
        assert_eq!((m.kind, m.target.as_str()), (MountType::Volume, "/path"));
        assert_eq!(m.bind.unwrap().selinux.as_deref(), Some("z"));
        let m = parse_short("/srv/data/:/data/", base, home).unwrap();
        assert_eq!((m.source.as_deref(), m.target.as_str()), (Some("/srv/data/"), "/data"));
        let m = parse_short("./data/:/var/lib/x/", base, home).unwrap();
        assert_eq!(
            (m.source.as_deref(), m.target.as_str()),
            (Some("/srv/app/data"), "/var/lib/x")
        );
    }

    #[test]
    fn bad_mounts() {
        let base = Path::new("/srv");
        for bad in ["data:relative", "a:b:c:d", ":/x", "./x:/y:bogus", "./x:/y:nocopy"] {
            assert!(parse_short(bad, base, None).is_err(), "{bad}");
        }
    }
}
