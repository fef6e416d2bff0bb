//! The top-level `networks`, `volumes`, `secrets` and `configs`: the references the services
//! recorded are checked against them, only the ones in use are kept, and each gets its
//! engine-side name.

use std::collections::{BTreeMap, BTreeSet};

use super::{Context, Refs, strings};
use crate::diag::Diagnostics;
use crate::load::decode::{Keyed, Map};
use crate::load::paths;
use crate::load::raw::{RawFileObject, RawNetwork, RawVolume};
use crate::model::{FileObject, Ipam, IpamPool, Network, Secret, Service, Volume};

pub(super) fn top_networks(
    raw: Option<Map<Option<RawNetwork>>>,
    services: &BTreeMap<String, Service>,
    refs: &Refs,
    cx: &Context,
    diags: &mut Diagnostics,
) -> BTreeMap<String, Network> {
    let raw = raw.unwrap_or_default();
    let mut out = BTreeMap::new();
    let mut used: BTreeSet<&str> = BTreeSet::new();
    for (service, net, loc) in &refs.networks {
        if !services.contains_key(service) {
            continue;
        }
        if raw.get(net).is_none() && net != "default" {
            if cx.broken_sections.contains(&"networks") {
                continue;
            }
            diags.error_help(
                Some(loc),
                format!("service `{service}` uses undefined network `{net}`"),
                format!("declare it at the top level:\n    networks:\n      {net}: {{}}"),
            );
            continue;
        }
        used.insert(net);
    }
    for net in used {
        let settings = raw.get(net).cloned().flatten().unwrap_or_default();
        out.insert(net.to_string(), network(net, settings, cx, diags));
    }
    out
}

fn network(key: &str, raw: RawNetwork, cx: &Context, diags: &mut Diagnostics) -> Network {
    let RawNetwork {
        loc: _,
        name,
        driver,
        driver_opts,
        ipam,
        internal,
        attachable,
        enable_ipv6,
        external,
        labels,
        extensions: _,
    } = raw;
    let external_flag = external.as_ref().is_some_and(|e| e.value);
    if let Some(e) = external.filter(|e| e.value)
        && (driver.is_some() || ipam.is_some())
    {
        diags.error_help(
            Some(&e.loc),
            format!("external network `{key}` cannot also set `driver` or `ipam`"),
            "an external network is created outside composed: remove its settings",
        );
    }
    let ipam = ipam.map(|i| Ipam {
        driver: i.driver,
        config: i
            .config
            .unwrap_or_default()
            .into_iter()
            .map(|p| {
                if let Some(s) = &p.subnet
                    && !valid_cidr(&s.value)
                {
                    diags.error_help(
                        Some(&s.loc),
                        format!("subnet {:?} is not in CIDR form", s.value),
                        "write e.g. `172.28.0.0/16`",
                    );
                }
                IpamPool {
                    subnet: p.subnet.map(|s| s.value),
                    ip_range: p.ip_range,
                    gateway: p.gateway,
                    aux_addresses: p.aux_addresses.unwrap_or_default().into_btree(),
                }
            })
            .collect(),
        options: i.options.unwrap_or_default().into_btree(),
    });
    Network {
        name: resource_name(key, name, external_flag, cx.project_name),
        driver,
        driver_opts: driver_opts.unwrap_or_default().into_btree(),
        ipam,
        internal: internal.unwrap_or(false),
        attachable: attachable.unwrap_or(false),
        enable_ipv6: enable_ipv6.unwrap_or(false),
        external: external_flag,
        labels: labels.map(strings).unwrap_or_default(),
    }
}

/// The engine-side name of a network or volume: `name:` when given, else the key for an external
/// one, else `<project>_<key>`.
fn resource_name(key: &str, name: Option<String>, external: bool, project: &str) -> String {
    name.unwrap_or_else(|| {
        if external {
            key.to_string()
        } else {
            format!("{project}_{key}")
        }
    })
}

fn valid_cidr(s: &str) -> bool {
    match s.split_once('/') {
        Some((ip, bits)) => ip.parse::<std::net::IpAddr>().is_ok() && bits.parse::<u8>().is_ok_and(|b| b <= 128),
        None => false,
    }
}

pub(super) fn top_volumes(
    raw: Option<Map<Option<RawVolume>>>,
    services: &BTreeMap<String, Service>,
    refs: &Refs,
    cx: &Context,
    diags: &mut Diagnostics,
) -> BTreeMap<String, Volume> {
    let raw = raw.unwrap_or_default();
    let mut out = BTreeMap::new();
    for (service, vol, loc) in &refs.volumes {
        if !services.contains_key(service) || out.contains_key(vol) {
            continue;
        }
        let Some(settings) = raw.get(vol) else {
            if cx.broken_sections.contains(&"volumes") {
                continue;
            }
            diags.error_help(
                Some(loc),
                format!("service `{service}` uses volume `{vol}`, which is not declared under the top-level `volumes:`"),
                format!("declare it:\n    volumes:\n      {vol}: {{}}\n  or, for a host directory, write the path as `./{vol}`"),
            );
            continue;
        };
        let RawVolume {
            loc: _,
            name,
            driver,
            driver_opts,
            external,
            labels,
            extensions: _,
        } = settings.clone().unwrap_or_default();
        let external = external.is_some_and(|e| e.value);
        out.insert(
            vol.clone(),
            Volume {
                name: resource_name(vol, name, external, cx.project_name),
                driver,
                driver_opts: driver_opts.unwrap_or_default().into_btree(),
                external,
                labels: labels.map(strings).unwrap_or_default(),
            },
        );
    }
    out
}

pub(super) fn top_files(
    raw: Option<Map<RawFileObject>>,
    refs: &Refs,
    kind: &'static str,
    cx: &Context,
    diags: &mut Diagnostics,
) -> BTreeMap<String, FileObject> {
    let raw = raw.unwrap_or_default();
    let mut out = BTreeMap::new();
    for Keyed { key, key_loc, value } in raw.0 {
        let RawFileObject {
            loc: _,
            name,
            file,
            environment,
            content,
            external,
            labels: _,
            extensions: _,
        } = value;
        if let Some(e) = external.filter(|e| e.value) {
            // Accepted as compose accepts it; a service that uses it cannot be created.
            diags.warning(
                Some(&e.loc),
                format!(
                    "external {kind}s are a Docker Swarm feature: services that use `{key}` cannot be created; give it a `file:` (or `environment:`) source instead"
                ),
            );
            out.insert(
                key.clone(),
                FileObject {
                    name: name.unwrap_or_else(|| key.clone()),
                    file: None,
                    environment: None,
                    content: None,
                    external: true,
                    value: None,
                },
            );
            continue;
        }
        let sources = [file.is_some(), environment.is_some(), content.is_some()]
            .iter()
            .filter(|x| **x)
            .count();
        if sources != 1 {
            diags.error_help(
                Some(&key_loc),
                format!("{kind} `{key}` needs exactly one of `file`, `environment` or `content`"),
                "e.g. `file: ./secrets/token.txt`",
            );
            continue;
        }
        if content.is_some() && kind == "secret" {
            diags.error_help(
                Some(&key_loc),
                "secrets cannot be given as `content`",
                "put the secret in a file and use `file:`",
            );
            continue;
        }
        let file = file.map(|f| {
            let path = paths::absolute(&f.value, cx.project_dir, cx.home);
            // Mounted into a container as it is: only root may be able to change it.
            if crate::input::exists(&path)
                && let Err(e) = crate::input::check(&path, true)
            {
                diags.push(crate::load::input_error(f.loc.clone(), e, kind));
            }
            path
        });
        out.insert(
            key.clone(),
            FileObject {
                name: name.unwrap_or_else(|| format!("{}_{key}", cx.project_name)),
                file,
                value: match (&environment, &content) {
                    (Some(var), _) => (cx.vars)(&var.value).map(Secret),
                    (None, Some(text)) => Some(Secret(text.clone())),
                    (None, None) => None,
                },
                environment: environment.map(|e| e.value),
                content,
                external: false,
            },
        );
    }
    let mut used = BTreeSet::new();
    for (service, source, loc, k) in &refs.secrets {
        if *k != kind {
            continue;
        }
        if !out.contains_key(source) {
            diags.error_help(
                Some(loc),
                format!("service `{service}` uses undefined {kind} `{source}`"),
                format!("declare it at the top level:\n    {kind}s:\n      {source}:\n        file: ./{source}.txt"),
            );
        }
        used.insert(source.clone());
    }
    out.retain(|k, _| used.contains(k));
    out
}
