//! The mapping from a validated service to the engine's container-create call, and the config
//! hash that decides when a container must be recreated. Pure: no engine, no I/O.
//!
//! Every model key that has an engine equivalent is mapped here (Config, HostConfig,
//! NetworkingConfig). The engine's own restart policy is always off: composed owns restarts, so
//! they follow dependency order and health, also after a reboot.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{
    ContainerCreateBody, DeviceMapping, EndpointIpamConfig, EndpointSettings, HealthConfig, HostConfig,
    HostConfigLogConfig, Mount as EngineMount, MountBindOptions, MountBindOptionsPropagationEnum, MountTmpfsOptions,
    MountType as EngineMountType, MountVolumeOptions, NetworkingConfig, PortBinding, ResourcesUlimits, RestartPolicy,
    RestartPolicyNameEnum,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::identity::{self, CONFIG_HASH};
use crate::model::{Mount, MountType, Project, Service, Ulimit};

/// Everything needed to create one container.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    pub name: String,
    pub service: String,
    pub number: u32,
    pub image: String,
    /// The create body; its labels include the config hash.
    pub body: ContainerCreateBody,
    /// Networks (engine names) to connect after create, with their endpoint settings; the first
    /// is in the create body itself.
    pub extra_networks: Vec<(String, EndpointSettings)>,
    pub hash: String,
    /// `stop_grace_period` in seconds.
    pub stop_timeout: i64,
}

pub use crate::model::DEFAULT_STOP_TIMEOUT;

/// Why a service cannot be mapped (a model value the engine cannot express).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("service `{service}`: {message}")]
pub struct SpecError {
    pub service: String,
    pub message: String,
}

/// The create call for container `number` of `service`.
pub fn container_spec(project: &Project, service: &Service, number: u32) -> Result<ContainerSpec, SpecError> {
    let err = |message: String| SpecError {
        service: service.name.clone(),
        message,
    };
    let image = identity::image_name(project, service);
    let name = identity::container_name(project, service, number);
    let stop_timeout = service.stop_timeout();

    let mut labels: HashMap<String, String> = service.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    labels.insert(identity::PROJECT.into(), project.name.clone());
    labels.insert(identity::SERVICE.into(), service.name.clone());
    labels.insert(identity::NUMBER.into(), number.to_string());
    labels.insert(identity::ONEOFF.into(), "False".into());
    labels.insert(
        identity::WORKING_DIR.into(),
        project.working_dir.to_string_lossy().into_owned(),
    );
    labels.insert(
        identity::CONFIG_FILES.into(),
        project
            .config_files
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(","),
    );
    labels.insert(identity::MANAGED_BY.into(), "composed".into());

    let env: Vec<String> = service
        .environment
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();

    let mut exposed: Vec<String> = service.expose.iter().map(|e| port_key(e)).collect();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for p in &service.ports {
        let key = format!("{}/{}", p.target, protocol_name(p.protocol));
        exposed.push(key.clone());
        bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: p.host_ip.clone(),
                host_port: p.published.clone(),
            });
    }
    exposed.sort();
    exposed.dedup();

    let mut mounts = Vec::new();
    for m in &service.volumes {
        mounts.push(engine_mount(project, m).map_err(err)?);
    }
    for (kind, refs, objects) in [
        ("secret", &service.secrets, &project.secrets),
        ("config", &service.configs, &project.configs),
    ] {
        for r in refs {
            let Some(object) = objects.get(&r.source) else { continue };
            let Some(file) = &object.file else {
                return Err(err(format!(
                    "{kind} `{}` is given by `environment`/`content`; only `file:` sources are mounted so far",
                    r.source
                )));
            };
            let target = match (&r.target, kind) {
                (Some(t), _) if t.starts_with('/') => t.clone(),
                (Some(t), "secret") => format!("/run/secrets/{t}"),
                (Some(t), _) => format!("/{t}"),
                (None, _) => format!("/{}", r.source),
            };
            mounts.push(EngineMount {
                target: Some(target),
                source: Some(file.to_string_lossy().into_owned()),
                typ: Some(EngineMountType::BIND),
                read_only: Some(true),
                ..Default::default()
            });
        }
    }

    let limits = service
        .deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.limits.as_ref());
    let reservations = service
        .deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.reservations.as_ref());
    let memory = service.mem_limit.or(limits.and_then(|l| l.memory));
    let cpus = service.cpus.or(limits.and_then(|l| l.cpus));

    let (network_mode, endpoints) = networking(project, service, &name)?;
    let mut endpoints = endpoints.into_iter();
    let first = endpoints.next();
    let extra_networks: Vec<(String, EndpointSettings)> = endpoints.collect();

    let host_config = HostConfig {
        binds: None,
        mounts: (!mounts.is_empty()).then_some(mounts),
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::NO),
            maximum_retry_count: None,
        }),
        network_mode: Some(network_mode),
        memory: memory.map(|m| m as i64),
        memory_reservation: service
            .mem_reservation
            .or(reservations.and_then(|r| r.memory))
            .map(|m| m as i64),
        memory_swap: service.memswap_limit.map(|m| m as i64),
        nano_cpus: cpus.map(|c| (c * 1e9) as i64),
        cpu_shares: service.cpu_shares,
        cpuset_cpus: service.cpuset.clone(),
        pids_limit: service.pids_limit.or(limits.and_then(|l| l.pids)),
        oom_score_adj: service.oom_score_adj,
        ulimits: (!service.ulimits.is_empty()).then(|| {
            service
                .ulimits
                .iter()
                .map(|(name, u)| {
                    let (soft, hard) = match u {
                        Ulimit::Single(n) => (*n, *n),
                        Ulimit::Pair { soft, hard } => (*soft, *hard),
                    };
                    ResourcesUlimits {
                        name: Some(name.clone()),
                        soft: Some(soft),
                        hard: Some(hard),
                    }
                })
                .collect()
        }),
        log_config: service.logging.as_ref().map(|l| HostConfigLogConfig {
            typ: l.driver.clone(),
            config: Some(
                l.options
                    .iter()
                    .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
                    .collect(),
            ),
        }),
        cap_add: non_empty(&service.cap_add),
        cap_drop: non_empty(&service.cap_drop),
        privileged: Some(service.privileged),
        devices: (!service.devices.is_empty()).then(|| {
            service
                .devices
                .iter()
                .map(|d| DeviceMapping {
                    path_on_host: Some(d.source.clone()),
                    path_in_container: Some(d.target.clone()),
                    cgroup_permissions: Some(d.permissions.clone()),
                })
                .collect()
        }),
        readonly_rootfs: Some(service.read_only),
        init: service.init,
        sysctls: (!service.sysctls.is_empty())
            .then(|| service.sysctls.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        security_opt: non_empty(&service.security_opt),
        shm_size: service.shm_size.map(|s| s as i64),
        pid_mode: service.pid.clone(),
        ipc_mode: service.ipc.clone(),
        dns: non_empty(&service.dns),
        dns_search: non_empty(&service.dns_search),
        dns_options: non_empty(&service.dns_opt),
        extra_hosts: (!service.extra_hosts.is_empty())
            .then(|| service.extra_hosts.iter().map(|h| h.replacen('=', ":", 1)).collect()),
        group_add: non_empty(&service.group_add),
        tmpfs: (!service.tmpfs.is_empty()).then(|| {
            service
                .tmpfs
                .iter()
                .map(|t| match t.split_once(':') {
                    Some((path, opts)) => (path.to_string(), opts.to_string()),
                    None => (t.clone(), String::new()),
                })
                .collect()
        }),
        ..Default::default()
    };

    let healthcheck = service.healthcheck.as_ref().map(|h| HealthConfig {
        test: Some(if h.disable {
            vec!["NONE".to_string()]
        } else {
            h.test.clone()
        })
        .filter(|t| !t.is_empty()),
        interval: h.interval.map(|d| d.as_nanos() as i64),
        timeout: h.timeout.map(|d| d.as_nanos() as i64),
        retries: h.retries.map(|r| r as i64),
        start_period: h.start_period.map(|d| d.as_nanos() as i64),
        start_interval: h.start_interval.map(|d| d.as_nanos() as i64),
    });

    let mut body = ContainerCreateBody {
        image: Some(image.clone()),
        cmd: service.command.clone(),
        entrypoint: service.entrypoint.clone(),
        env: (!env.is_empty()).then_some(env),
        labels: Some(labels),
        hostname: service.hostname.clone(),
        domainname: service.domainname.clone(),
        user: service.user.clone(),
        working_dir: service.working_dir.clone(),
        tty: Some(service.tty),
        open_stdin: Some(service.stdin_open),
        stop_signal: service.stop_signal.clone(),
        // Unset means the engine's default (10 s), as compose leaves it.
        stop_timeout: service.stop_grace_period.map(|d| d.as_secs() as i64),
        healthcheck,
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        host_config: Some(host_config),
        networking_config: first.map(|(net, endpoint)| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(net, endpoint)])),
        }),
        ..Default::default()
    };
    // The hash first: the labels below describe it, they are not part of it.
    let hash = config_hash(&body, &extra_networks);
    if let Some(labels) = body.labels.as_mut() {
        labels.insert(CONFIG_HASH.into(), hash.clone());
        labels.insert(identity::SERVICE_CONFIG.into(), crate::changes::record(service));
    }
    Ok(ContainerSpec {
        name,
        service: service.name.clone(),
        number,
        image,
        body,
        extra_networks,
        hash,
        stop_timeout,
    })
}

/// Carries the old container's anonymous volumes into its replacement's create body, as
/// compose does on a recreate: where the new container would get a fresh anonymous volume (an
/// image `VOLUME` the service mounts nothing at, or a service volume with no source), it mounts
/// the old container's volume by name instead, so the data stays. Volumes the project names
/// (`named`), and paths the service maps to something else, are left as the file says. The
/// config hash is not touched: it describes the file, not the volumes' generated names.
pub fn inherit_anonymous_volumes(
    body: &mut ContainerCreateBody,
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
    let mounts = host.mounts.get_or_insert_with(Vec::new);
    for volume in old.iter().filter(|v| !named.contains(&v.name)) {
        let target = volume.target.trim_end_matches('/');
        let same_target = |t: &Option<String>| t.as_deref().map(|t| t.trim_end_matches('/')) == Some(target);
        match mounts.iter_mut().find(|m| same_target(&m.target)) {
            Some(m) if m.typ == Some(EngineMountType::VOLUME) && m.source.is_none() => {
                m.source = Some(volume.name.clone());
            }
            Some(_) => {}
            None if tmpfs.iter().any(|t| t.trim_end_matches('/') == target) => {}
            None if image_volumes.iter().any(|p| p.trim_end_matches('/') == target) => {
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

fn non_empty(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}

fn protocol_name(p: crate::model::Protocol) -> &'static str {
    match p {
        crate::model::Protocol::Tcp => "tcp",
        crate::model::Protocol::Udp => "udp",
        crate::model::Protocol::Sctp => "sctp",
    }
}

/// `3000` -> `3000/tcp`; `3000/udp` stays.
fn port_key(expose: &str) -> String {
    if expose.contains('/') {
        expose.to_string()
    } else {
        format!("{expose}/tcp")
    }
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
            out.bind_options = Some(MountBindOptions {
                propagation: bind.propagation.as_deref().map(propagation).transpose()?,
                create_mountpoint: bind.create_host_path.then_some(true),
                ..Default::default()
            });
        }
        MountType::Volume => {
            out.typ = Some(EngineMountType::VOLUME);
            out.source = m
                .source
                .as_ref()
                .map(|key| project.volumes.get(key).map_or_else(|| key.clone(), |v| v.name.clone()));
            let v = m.volume.clone().unwrap_or_default();
            out.volume_options = Some(MountVolumeOptions {
                no_copy: v.nocopy.then_some(true),
                subpath: v.subpath,
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

/// The network mode and the endpoints (engine network name, settings), primary first.
fn networking(
    project: &Project,
    service: &Service,
    container_name: &str,
) -> Result<(String, Vec<(String, EndpointSettings)>), SpecError> {
    if let Some(mode) = &service.network_mode {
        let mode = match mode.strip_prefix("service:") {
            Some(other) => {
                let target = project.services.get(other).ok_or_else(|| SpecError {
                    service: service.name.clone(),
                    message: format!("network_mode names undefined service `{other}`"),
                })?;
                format!("container:{}", identity::container_name(project, target, 1))
            }
            None => mode.clone(),
        };
        return Ok((mode, Vec::new()));
    }
    // Highest priority first, then by name, as compose orders them.
    let mut nets: Vec<(&String, Option<&crate::model::ServiceNetwork>)> =
        service.networks.iter().map(|(k, v)| (k, v.as_ref())).collect();
    nets.sort_by_key(|(k, v)| (std::cmp::Reverse(v.and_then(|n| n.priority).unwrap_or(0)), (*k).clone()));
    let mut endpoints = Vec::new();
    for (key, settings) in nets {
        let engine_name = project
            .networks
            .get(key)
            .map(|n| n.name.clone())
            .unwrap_or_else(|| key.clone());
        // The container's own name and the service name, as compose sets them.
        let mut aliases = vec![container_name.to_string(), service.name.clone()];
        if let Some(s) = settings {
            aliases.extend(s.aliases.iter().cloned());
        }
        let ipam = settings.and_then(|s| {
            (s.ipv4_address.is_some() || s.ipv6_address.is_some()).then(|| EndpointIpamConfig {
                ipv4_address: s.ipv4_address.clone(),
                ipv6_address: s.ipv6_address.clone(),
                ..Default::default()
            })
        });
        endpoints.push((
            engine_name,
            EndpointSettings {
                aliases: Some(aliases),
                ipam_config: ipam,
                ..Default::default()
            },
        ));
    }
    let mode = endpoints
        .first()
        .map(|(n, _)| n.clone())
        .unwrap_or_else(|| "none".to_string());
    Ok((mode, endpoints))
}

/// sha256 over a canonical (key-sorted) JSON form of the create body and extra networks.
fn config_hash(body: &ContainerCreateBody, extra: &[(String, EndpointSettings)]) -> String {
    let value = serde_json::json!({ "body": body, "networks": extra });
    let canonical = canonicalise(value);
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn canonicalise(v: Value) -> Value {
    match v {
        Value::Object(o) => {
            let sorted: BTreeMap<String, Value> = o.into_iter().map(|(k, v)| (k, canonicalise(v))).collect();
            Value::Object(sorted.into_iter().collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(canonicalise).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(yaml: &str) -> Project {
        crate::load::test_project(yaml)
    }

    #[test]
    fn maps_the_everyday_keys() {
        let p = project(
            "services:\n  web:\n    image: nginx\n    environment: {A: '1', B: null}\n    ports: ['127.0.0.1:8080:80']\n    expose: ['3000']\n    volumes: ['data:/d', './h:/h:ro']\n    mem_limit: 512m\n    cpus: 0.5\n    stop_grace_period: 30s\n    healthcheck: {test: 'true', interval: 2s}\n    networks: {back: {aliases: [w]}}\nvolumes:\n  data: {}\nnetworks:\n  back: {}\n",
        );
        let s = container_spec(&p, &p.services["web"], 1).unwrap();
        assert_eq!(s.name, "p-web-1");
        let b = &s.body;
        assert_eq!(b.env.as_deref(), Some(&["A=1".to_string()][..]));
        let hc = b.host_config.as_ref().unwrap();
        assert_eq!(hc.memory, Some(512 << 20));
        assert_eq!(hc.nano_cpus, Some(500_000_000));
        assert_eq!(
            hc.restart_policy.as_ref().unwrap().name,
            Some(RestartPolicyNameEnum::NO)
        );
        let binding = &hc.port_bindings.as_ref().unwrap()["80/tcp"].as_ref().unwrap()[0];
        assert_eq!(
            (binding.host_ip.as_deref(), binding.host_port.as_deref()),
            (Some("127.0.0.1"), Some("8080"))
        );
        let mounts = hc.mounts.as_ref().unwrap();
        assert_eq!(mounts[0].source.as_deref(), Some("p_data"));
        assert_eq!(mounts[1].read_only, Some(true));
        assert_eq!(hc.network_mode.as_deref(), Some("p_back"));
        let ep = &b.networking_config.as_ref().unwrap().endpoints_config.as_ref().unwrap()["p_back"];
        assert_eq!(
            ep.aliases.as_deref(),
            Some(&["p-web-1".to_string(), "web".to_string(), "w".to_string()][..])
        );
        assert_eq!(b.stop_timeout, Some(30));
        assert_eq!(b.healthcheck.as_ref().unwrap().interval, Some(2_000_000_000));
        assert_eq!(
            b.exposed_ports.as_ref().unwrap(),
            &vec!["3000/tcp".to_string(), "80/tcp".to_string()]
        );
        assert_eq!(b.labels.as_ref().unwrap()[identity::CONFIG_HASH], s.hash);
        assert!(!b.labels.as_ref().unwrap().contains_key(identity::COMPOSE_CONFIG_HASH));
    }

    #[test]
    fn a_replacement_keeps_the_old_anonymous_volumes() {
        use crate::engine::VolumeMount;
        let p = project(
            "services:\n  db:\n    image: postgres\n    volumes: ['/anon', 'data:/named', './h:/bound']\n    tmpfs: [/scratch]\nvolumes:\n  data: {}\n",
        );
        let mut body = container_spec(&p, &p.services["db"], 1).unwrap().body;
        let old = |name: &str, target: &str| VolumeMount {
            name: name.into(),
            target: target.into(),
            read_only: false,
        };
        let old_mounts = [
            old("a1", "/anon"),
            old("p_data", "/named"),
            old("i1", "/var/lib/postgresql/data/"),
            old("s1", "/scratch"),
            old("gone", "/no-longer-a-volume"),
        ];
        let image = ["/var/lib/postgresql/data".to_string(), "/scratch".to_string()];
        let named = std::collections::BTreeSet::from(["p_data".to_string()]);
        inherit_anonymous_volumes(&mut body, &old_mounts, &image, &named);
        let mounts = body.host_config.as_ref().unwrap().mounts.clone().unwrap();
        let source_at = |t: &str| {
            mounts
                .iter()
                .find(|m| m.target.as_deref() == Some(t))
                .and_then(|m| m.source.clone())
        };
        assert_eq!(
            source_at("/anon").as_deref(),
            Some("a1"),
            "a `- /anon` volume keeps its volume"
        );
        assert_eq!(source_at("/named").as_deref(), Some("p_data"));
        assert_eq!(
            source_at("/var/lib/postgresql/data/").as_deref(),
            Some("i1"),
            "an image VOLUME keeps its volume"
        );
        assert!(source_at("/scratch").is_none(), "tmpfs stays tmpfs");
        assert!(source_at("/no-longer-a-volume").is_none());
    }

    #[test]
    fn image_volumes_without_a_mount_are_found() {
        let p = project(
            "services:\n  db:\n    image: postgres\n    volumes: ['data:/var/lib/data/']\n    tmpfs: ['/run:size=1m']\nvolumes:\n  data: {}\n",
        );
        let image = ["/var/lib/data".to_string(), "/run".to_string(), "/logs".to_string()];
        assert_eq!(
            unnamed_image_volumes(&p.services["db"], &image),
            vec!["/logs".to_string()]
        );
    }

    #[test]
    fn hash_is_stable_and_changes_with_config() {
        let a = project(
            "services:\n  s:\n    image: x\n    environment: {A: '1', B: '2', C: '3'}\n    labels: {l1: a, l2: b}\n",
        );
        let h1 = container_spec(&a, &a.services["s"], 1).unwrap().hash;
        for _ in 0..20 {
            assert_eq!(
                container_spec(&a, &a.services["s"], 1).unwrap().hash,
                h1,
                "hash must not depend on map order"
            );
        }
        let b = project(
            "services:\n  s:\n    image: x\n    environment: {A: '1', B: '2', C: '4'}\n    labels: {l1: a, l2: b}\n",
        );
        assert_ne!(container_spec(&b, &b.services["s"], 1).unwrap().hash, h1);
    }
}
