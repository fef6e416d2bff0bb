//! How a container is reached: published and exposed ports, the network mode, and one endpoint
//! per network (aliases, addresses, MAC, interface name, gateway priority, driver options,
//! legacy links), primary network first, as compose orders them.

use std::collections::HashMap;

use bollard::models::{EndpointIpamConfig, EndpointSettings, PortBinding};

use crate::identity;
use crate::model::{Project, Protocol, Service, ServiceNetwork};

/// Exposed ports (sorted, deduplicated) and their host bindings.
pub type Ports = (Vec<String>, HashMap<String, Option<Vec<PortBinding>>>);

pub fn ports(service: &Service) -> Ports {
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
    (exposed, bindings)
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
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

/// `service:NAME` (for `network_mode`, `ipc`, `pid`) → `container:<its first container>`.
pub fn shared_namespace(project: &Project, mode: &str, key: &str) -> Result<String, String> {
    match mode.strip_prefix("service:") {
        Some(other) => {
            let target = project
                .services
                .get(other)
                .ok_or_else(|| format!("{key} names undefined service `{other}`"))?;
            Ok(format!("container:{}", identity::container_name(project, target, 1)))
        }
        None => Ok(mode.to_string()),
    }
}

/// The network mode and the endpoints (engine network name, settings), primary first.
pub fn networking(
    project: &Project,
    service: &Service,
    number: u32,
) -> Result<(String, Vec<(String, EndpointSettings)>), String> {
    if let Some(mode) = &service.network_mode {
        return Ok((shared_namespace(project, mode, "network_mode")?, Vec::new()));
    }
    let nets = by_priority(service);
    let links = links(project, service, number);
    let container_name = identity::container_name(project, service, number);
    let mut endpoints = Vec::new();
    for (index, (key, settings)) in nets.into_iter().enumerate() {
        let engine_name = project
            .networks
            .get(key)
            .map(|n| n.name.clone())
            .unwrap_or_else(|| key.clone());
        // The service-level MAC belongs to the primary network's endpoint.
        let service_mac = if index == 0 { service.mac_address.as_ref() } else { None };
        let mac = match (settings.and_then(|s| s.mac_address.as_ref()), service_mac) {
            (Some(own), Some(other)) if own != other => {
                return Err(format!(
                    "the service-level mac_address {other} differs from network `{key}`'s {own}; keep one of them"
                ));
            }
            (own, other) => own.or(other).cloned(),
        };
        let mut endpoint = endpoint(&container_name, service, settings);
        endpoint.mac_address = mac;
        endpoint.links = (!links.is_empty()).then(|| links.clone());
        endpoints.push((engine_name, endpoint));
    }
    let mode = endpoints
        .first()
        .map(|(n, _)| n.clone())
        .unwrap_or_else(|| "none".to_string());
    Ok((mode, endpoints))
}

/// Highest `priority` first, then by name, as compose orders them.
fn by_priority(service: &Service) -> Vec<(&String, Option<&ServiceNetwork>)> {
    let mut nets: Vec<(&String, Option<&ServiceNetwork>)> =
        service.networks.iter().map(|(k, v)| (k, v.as_ref())).collect();
    nets.sort_by_key(|(k, v)| (std::cmp::Reverse(v.and_then(|n| n.priority).unwrap_or(0)), (*k).clone()));
    nets
}

/// One endpoint's settings, without MAC and links.
fn endpoint(container_name: &str, service: &Service, settings: Option<&ServiceNetwork>) -> EndpointSettings {
    // The container's own name and the service name, as compose sets them.
    let mut aliases = vec![container_name.to_string(), service.name.clone()];
    let Some(s) = settings else {
        return EndpointSettings {
            aliases: Some(aliases),
            ..Default::default()
        };
    };
    aliases.extend(s.aliases.iter().cloned());
    let addressed = s.ipv4_address.is_some() || s.ipv6_address.is_some() || !s.link_local_ips.is_empty();
    let mut driver_opts: HashMap<String, String> = s.driver_opts.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    if let Some(name) = &s.interface_name {
        driver_opts.insert(identity::ENDPOINT_IFNAME.into(), name.clone());
    }
    EndpointSettings {
        aliases: Some(aliases),
        ipam_config: addressed.then(|| EndpointIpamConfig {
            ipv4_address: s.ipv4_address.clone(),
            ipv6_address: s.ipv6_address.clone(),
            link_local_ips: (!s.link_local_ips.is_empty()).then(|| s.link_local_ips.clone()),
        }),
        driver_opts: (!driver_opts.is_empty()).then_some(driver_opts),
        gw_priority: s.gw_priority,
        ..Default::default()
    }
}

/// Legacy links, as compose writes them: for each container `C` of a linked service,
/// `C:<alias or service>`, `C:<service>-<N>` and `C:<project>-<service>-<N>` (N is the number of
/// the container being created, as in compose); `external_links` as `NAME:ALIAS`.
pub fn links(project: &Project, service: &Service, number: u32) -> Vec<String> {
    let mut out = Vec::new();
    for link in &service.links {
        let (target, alias) = link.split_once(':').unwrap_or((link, link));
        let Some(other) = project.services.get(target) else {
            continue;
        };
        for n in 1..=other.replicas().max(1) as u32 {
            let c = identity::container_name(project, other, n);
            out.push(format!("{c}:{alias}"));
            out.push(format!("{c}:{target}-{number}"));
            out.push(format!("{c}:{}-{target}-{number}", project.name));
        }
    }
    for link in &service.external_links {
        let (name, alias) = link.split_once(':').unwrap_or((link, link));
        out.push(format!("{name}:{alias}"));
    }
    out
}
