//! What a container mounts: the service's volumes (bind, volume, tmpfs, image), its secrets and
//! configs, `volumes_from`, and the engine socket for `use_api_socket`; and, on a recreate, the
//! old container's anonymous volumes carried into the new one.

use bollard::models::{
    Mount as EngineMount, MountBindOptions, MountBindOptionsPropagationEnum, MountImageOptions, MountTmpfsOptions,
    MountType as EngineMountType, MountVolumeOptions,
};

use crate::identity;
use crate::model::{Mount, MountType, Project, Secret, Service};

/// Where `use_api_socket` mounts the engine's socket, and the `DOCKER_CONFIG` directory the
/// operator's registry logins are copied into before the container starts (as compose does).
pub const API_SOCKET: &str = "/var/run/docker.sock";
pub const API_SOCKET_CONFIG_DIR: &str = "/run/secrets/docker";

/// The mounts of a service, in two forms: Mount API entries, and legacy `Binds` strings for the
/// mounts that carry an SELinux relabel (`z`/`Z`), which only the `Binds` form can express; and
/// the secrets and configs given as text, copied in before the container starts.
#[derive(Debug, Default)]
pub struct Mounts {
    pub mounts: Vec<EngineMount>,
    pub binds: Vec<String>,
    pub files: Vec<InjectedFile>,
}

/// A file copied into a container after it is created and before it starts: a secret or
/// config given by `environment` or `content`, or `use_api_socket`'s registry logins.
#[derive(Debug, Clone, PartialEq)]
pub struct InjectedFile {
    /// Absolute path in the container.
    pub path: String,
    pub content: Secret,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

/// Every mount of `service`.
pub fn service_mounts(project: &Project, service: &Service) -> Result<Mounts, String> {
    let mut out = Mounts::default();
    for m in &service.volumes {
        match selinux_bind(project, m) {
            Some(bind) => out.binds.push(bind),
            None => out.mounts.push(engine_mount(project, m)?),
        }
    }
    file_mounts(project, service, &mut out)?;
    if service.use_api_socket && !service.volumes.iter().any(|m| m.target == API_SOCKET) {
        out.mounts.push(EngineMount {
            target: Some(API_SOCKET.into()),
            source: Some(API_SOCKET.into()),
            typ: Some(EngineMountType::BIND),
            read_only: Some(false),
            ..Default::default()
        });
    }
    Ok(out)
}

/// `src:target:rw,z` for a bind or named volume with an SELinux label.
fn selinux_bind(project: &Project, m: &Mount) -> Option<String> {
    let label = m.bind.as_ref()?.selinux.as_ref()?;
    let source = match m.kind {
        MountType::Bind => m.source.clone()?,
        MountType::Volume => volume_name(project, m.source.as_ref()?),
        MountType::Tmpfs | MountType::Image => return None,
    };
    let mode = if m.read_only { "ro" } else { "rw" };
    Some(format!("{source}:{}:{mode},{label}", m.target))
}

fn volume_name(project: &Project, key: &str) -> String {
    project
        .volumes
        .get(key)
        .map_or_else(|| key.to_string(), |v| v.name.clone())
}

/// Secrets and configs: a file source is bind-mounted read-only, a text source is copied in.
fn file_mounts(project: &Project, service: &Service, out: &mut Mounts) -> Result<(), String> {
    for (kind, refs, objects) in [
        ("secret", &service.secrets, &project.secrets),
        ("config", &service.configs, &project.configs),
    ] {
        for r in refs {
            let Some(object) = objects.get(&r.source) else { continue };
            if object.external {
                return Err(format!(
                    "{kind} `{}` is external, a Docker Swarm feature a single engine does not have; give it a `file:` source",
                    r.source
                ));
            }
            let target = match (&r.target, kind) {
                (Some(t), _) if t.starts_with('/') => t.clone(),
                (Some(t), "secret") => format!("/run/secrets/{t}"),
                (Some(t), _) => format!("/{t}"),
                (None, _) => format!("/{}", r.source),
            };
            if let Some(file) = &object.file {
                out.mounts.push(EngineMount {
                    target: Some(target),
                    source: Some(file.to_string_lossy().into_owned()),
                    typ: Some(EngineMountType::BIND),
                    read_only: Some(true),
                    ..Default::default()
                });
                continue;
            }
            let Some(content) = object.value.clone() else {
                return Err(format!(
                    "{kind} `{}` comes from variable {} , which is not set",
                    r.source,
                    object.environment.as_deref().unwrap_or("?")
                ));
            };
            let id = |v: &Option<String>, what: &str| match v {
                None => Ok(0),
                Some(v) => v
                    .parse::<u64>()
                    .map_err(|_| format!("{kind} `{}`: {what} {v:?} is not a number", r.source)),
            };
            out.files.push(InjectedFile {
                path: target,
                content,
                mode: r.mode.unwrap_or(0o444),
                uid: id(&r.uid, "uid")?,
                gid: id(&r.gid, "gid")?,
            });
        }
    }
    Ok(())
}

fn engine_mount(project: &Project, m: &Mount) -> Result<EngineMount, String> {
    let mut out = EngineMount {
        target: Some(m.target.clone()),
        read_only: Some(m.read_only),
        ..Default::default()
    };
    match m.kind {
        MountType::Bind => {
            out.typ = Some(EngineMountType::BIND);
            out.source = m.source.clone();
            let bind = m.bind.clone().unwrap_or_default();
            let recursive = bind.recursive.as_deref();
            out.bind_options = Some(MountBindOptions {
                propagation: bind.propagation.as_deref().map(propagation).transpose()?,
                create_mountpoint: bind.create_host_path.then_some(true),
                non_recursive: (recursive == Some("disabled")).then_some(true),
                read_only_non_recursive: (recursive == Some("writable")).then_some(true),
                read_only_force_recursive: (recursive == Some("readonly")).then_some(true),
            });
        }
        MountType::Volume => {
            out.typ = Some(EngineMountType::VOLUME);
            out.source = m.source.as_ref().map(|key| volume_name(project, key));
            let v = m.volume.clone().unwrap_or_default();
            out.volume_options = Some(MountVolumeOptions {
                no_copy: v.nocopy.then_some(true),
                subpath: v.subpath,
                labels: (!v.labels.is_empty()).then(|| v.labels.into_iter().collect()),
                ..Default::default()
            });
        }
        MountType::Tmpfs => {
            out.typ = Some(EngineMountType::TMPFS);
            let t = m.tmpfs.clone().unwrap_or_default();
            out.tmpfs_options = Some(MountTmpfsOptions {
                size_bytes: t.size.map(|s| s as i64),
                mode: t.mode.map(i64::from),
                ..Default::default()
            });
        }
        MountType::Image => {
            out.typ = Some(EngineMountType::IMAGE);
            out.source = m.source.clone();
            out.image_options = m.image.as_ref().map(|i| MountImageOptions {
                subpath: i.subpath.clone(),
            });
        }
    }
    Ok(out)
}

fn propagation(p: &str) -> Result<MountBindOptionsPropagationEnum, String> {
    Ok(match p {
        "private" => MountBindOptionsPropagationEnum::PRIVATE,
        "rprivate" => MountBindOptionsPropagationEnum::RPRIVATE,
        "shared" => MountBindOptionsPropagationEnum::SHARED,
        "rshared" => MountBindOptionsPropagationEnum::RSHARED,
        "slave" => MountBindOptionsPropagationEnum::SLAVE,
        "rslave" => MountBindOptionsPropagationEnum::RSLAVE,
        other => return Err(format!("unknown bind propagation {other:?}")),
    })
}

/// `volumes_from` as the engine takes it: a service becomes the name of its first container
/// (compose writes the container's ID); `container:NAME` becomes `NAME`. The `:ro`/`:rw` mode
/// is kept: compose drops it, which would make a read-only share writable.
pub fn volumes_from(project: &Project, service: &Service) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for entry in &service.volumes_from {
        let (target, mode) = match entry.strip_prefix("container:") {
            Some(rest) => split_mode(rest),
            None => {
                let (name, mode) = split_mode(entry);
                let other = project
                    .services
                    .get(&name)
                    .ok_or_else(|| format!("`volumes_from` names undefined service `{name}`"))?;
                (identity::container_name(project, other, 1), mode)
            }
        };
        out.push(match mode {
            Some(mode) => format!("{target}:{mode}"),
            None => target,
        });
    }
    Ok(out)
}

fn split_mode(entry: &str) -> (String, Option<&str>) {
    match entry.rsplit_once(':') {
        Some((name, mode @ ("ro" | "rw"))) => (name.to_string(), Some(mode)),
        _ => (entry.to_string(), None),
    }
}

/// Carries the old container's anonymous volumes into its replacement's create body, as
/// compose does on a recreate: where the new container would get a fresh anonymous volume (an
/// image `VOLUME` the service mounts nothing at, or a service volume with no source), it mounts
/// the old container's volume by name instead, so the data stays. Volumes the project names
/// (`named`), and paths the service maps to something else, are left as the file says. The
/// config hash is not touched: it describes the file, not the volumes' generated names.
pub fn inherit_anonymous_volumes(
    body: &mut bollard::models::ContainerCreateBody,
    old: &[crate::engine::VolumeMount],
    image_volumes: &[String],
    named: &std::collections::BTreeSet<String>,
) {
    let host = body.host_config.get_or_insert_with(Default::default);
    let tmpfs: Vec<String> = host
        .tmpfs
        .as_ref()
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    let bound: Vec<String> = host
        .binds
        .iter()
        .flatten()
        .filter_map(|b| b.split(':').nth(1).map(str::to_string))
        .collect();
    let mounts = host.mounts.get_or_insert_with(Vec::new);
    for volume in old.iter().filter(|v| !named.contains(&v.name)) {
        let target = volume.target.trim_end_matches('/');
        let same_target = |t: &Option<String>| t.as_deref().map(|t| t.trim_end_matches('/')) == Some(target);
        let elsewhere = |paths: &[String]| paths.iter().any(|t| t.trim_end_matches('/') == target);
        match mounts.iter_mut().find(|m| same_target(&m.target)) {
            Some(m) if m.typ == Some(EngineMountType::VOLUME) && m.source.is_none() => {
                m.source = Some(volume.name.clone());
            }
            Some(_) => {}
            None if elsewhere(&tmpfs) || elsewhere(&bound) => {}
            None if elsewhere(image_volumes) => {
                mounts.push(EngineMount {
                    typ: Some(EngineMountType::VOLUME),
                    source: Some(volume.name.clone()),
                    target: Some(volume.target.clone()),
                    read_only: Some(volume.read_only),
                    ..Default::default()
                });
            }
            None => {}
        }
    }
}

/// The image `VOLUME`s a service mounts nothing at: the engine gives each an anonymous volume,
/// which is where the image keeps its data (a database's files).
pub fn unnamed_image_volumes(service: &Service, image_volumes: &[String]) -> Vec<String> {
    let covered = |path: &str| {
        let path = path.trim_end_matches('/');
        service.volumes.iter().any(|m| m.target.trim_end_matches('/') == path)
            || service
                .tmpfs
                .iter()
                .any(|t| t.split(':').next().unwrap_or_default().trim_end_matches('/') == path)
    };
    image_volumes.iter().filter(|p| !covered(p)).cloned().collect()
}
