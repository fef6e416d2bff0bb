//! The mapping from a validated service to the engine's container-create call, and the config
//! hash that decides when a container must be recreated. Pure: no engine, no I/O.
//!
//! Every model key that has an engine equivalent is mapped here (Config, HostConfig,
//! NetworkingConfig). The engine's own restart policy is always off: composed owns restarts, so
//! they follow dependency order and health, also after a reboot.

mod host;
mod mounts;
mod network;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};

use bollard::models::{ContainerCreateBody, EndpointSettings, HealthConfig, NetworkingConfig};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::identity::{self, COMPOSE_CONFIG_HASH, CONFIG_HASH};
use crate::model::{Project, Service};
pub use mounts::{API_SOCKET_CONFIG_DIR, InjectedFile, inherit_anonymous_volumes, unnamed_image_volumes};

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
    /// `use_api_socket`: the operator's registry logins go into the container before it starts.
    pub api_socket: bool,
    /// Secrets and configs given as text, copied in before the container starts.
    pub files: Vec<InjectedFile>,
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
    let (exposed, bindings) = network::ports(service);
    let service_mounts = mounts::service_mounts(project, service).map_err(err)?;
    let (network_mode, endpoints) = network::networking(project, service, number).map_err(err)?;
    let mut endpoints = endpoints.into_iter();
    let first = endpoints.next();
    let extra_networks: Vec<(String, EndpointSettings)> = endpoints.collect();

    let mut host_config = host::host_config(project, service).map_err(err)?;
    host_config.mounts = (!service_mounts.mounts.is_empty()).then_some(service_mounts.mounts);
    host_config.binds = (!service_mounts.binds.is_empty()).then_some(service_mounts.binds);
    host_config.port_bindings = (!bindings.is_empty()).then_some(bindings);
    host_config.network_mode = Some(network_mode);
    host_config.volumes_from = host::non_empty(&mounts::volumes_from(project, service).map_err(err)?);
    let links = network::links(project, service, number);
    host_config.links = (!links.is_empty()).then_some(links);

    let env = environment(service);
    let mut body = ContainerCreateBody {
        image: Some(image.clone()),
        cmd: service.command.clone(),
        entrypoint: service.entrypoint.clone(),
        env: (!env.is_empty()).then_some(env),
        labels: Some(labels(project, service, number)),
        hostname: service.hostname.clone(),
        domainname: service.domainname.clone(),
        user: service.user.clone(),
        working_dir: service.working_dir.clone(),
        tty: Some(service.tty),
        open_stdin: Some(service.stdin_open),
        stop_signal: service.stop_signal.clone(),
        // Unset means the engine's default (10 s), as compose leaves it.
        stop_timeout: service.stop_grace_period.map(|d| d.as_secs() as i64),
        healthcheck: healthcheck(service),
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
        // composed's own value: compose's read-only commands (ps, exec, logs) list only
        // containers that carry this label; composed decides recreation from its own.
        labels.insert(COMPOSE_CONFIG_HASH.into(), hash.clone());
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
        stop_timeout: service.stop_timeout(),
        api_socket: service.use_api_socket,
        files: service_mounts.files,
    })
}

/// The service's labels with compose's and composed's own on top.
fn labels(project: &Project, service: &Service, number: u32) -> HashMap<String, String> {
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
    labels
}

/// `NAME=value`, and a bare `NAME` for a variable listed without a value and unset where the
/// file was read: the engine then removes the image's own default for it, as with compose.
fn environment(service: &Service) -> Vec<String> {
    let mut env: Vec<String> = service
        .environment
        .iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            None => k.clone(),
        })
        .collect();
    if service.use_api_socket && !service.environment.contains_key("DOCKER_CONFIG") {
        env.push(format!("DOCKER_CONFIG={API_SOCKET_CONFIG_DIR}"));
    }
    env
}

fn healthcheck(service: &Service) -> Option<HealthConfig> {
    service.healthcheck.as_ref().map(|h| HealthConfig {
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
    })
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
