//! The one conversion from the raw model to the validated [`Project`].
//!
//! Every raw field is destructured by name in `ServiceConversion::run`, so a key added to the raw
//! model cannot be silently dropped here. Each check reports at the value's file:line:column and
//! conversion goes on, so one run reports every problem. Cross-references (services, networks,
//! volumes, secrets, configs, profiles) and `depends_on` cycles are checked once all services are
//! converted.
//!
//! This file holds the entry point, the service walk and the helpers the others share. The
//! per-service conversions are split by concern into `ports`, `mounts`, `service_process`,
//! `service_image`, `service_lifecycle`, `service_resources`, `service_networks` and
//! `service_secrets_configs`; the checks between services are in `dependencies`, the top-level
//! resources in `top_level`, and command splitting in `shell_words`.

mod dependencies;
mod mounts;
mod ports;
mod service_engine;
mod service_image;
mod service_lifecycle;
mod service_networks;
mod service_process;
mod service_resources;
mod service_secrets_configs;
mod shell_words;
mod top_level;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use crate::diag::{Diagnostics, Loc};
use crate::load::decode::{Keyed, ListOrMap, Spanned, StrOrList};
use crate::load::raw::*;
use crate::load::units::{parse_duration, parse_size};
use crate::model::*;
use crate::yaml::{Kind, Node};
use dependencies::{apply_profiles, check_cycles, check_dependencies};
pub use shell_words::shell_words;
use top_level::{top_files, top_networks, top_volumes};

/// What the conversion needs besides the raw model.
pub struct Context<'a> {
    pub project_name: &'a str,
    pub project_dir: &'a Path,
    pub home: Option<&'a Path>,
    /// The project's variables: the process environment, then `.env`.
    pub vars: &'a dyn Fn(&str) -> Option<String>,
    /// Active profiles (`*` enables all).
    pub profiles: &'a [String],
    /// Top-level sections present in the file that could not be decoded (already reported):
    /// references into them are not reported again.
    pub broken_sections: &'a [&'a str],
}

/// Locations kept for the cross-reference checks.
#[derive(Default)]
struct Refs {
    service_locs: HashMap<String, Loc>,
    depends: Vec<(String, String, Loc, bool)>,
    networks: Vec<(String, String, Loc)>,
    volumes: Vec<(String, String, Loc)>,
    secrets: Vec<(String, String, Loc, &'static str)>,
    service_modes: Vec<(String, String, Loc)>,
}

pub fn convert(raw: RawProject, cx: &Context, diags: &mut Diagnostics) -> Project {
    let RawProject {
        loc,
        name: _,
        version,
        include: _,
        services,
        networks,
        volumes,
        secrets,
        configs,
        extensions,
    } = raw;
    if let Some(v) = version {
        diags.warning(Some(&v.loc), "`version` is obsolete and ignored; you can remove it");
    }
    let services = services.unwrap_or_default();
    let mut refs = Refs::default();
    let mut out_services = BTreeMap::new();
    if services.0.is_empty() {
        let at = loc.unwrap_or_else(|| Loc::file(Arc::from(cx.project_dir)));
        diags.error_help(
            Some(&at),
            "the project defines no services",
            "add a `services:` mapping with at least one service",
        );
    }
    for Keyed { key, key_loc, value } in services.0 {
        if !valid_service_name(&key) {
            diags.error_help(
                Some(&key_loc),
                format!("invalid service name `{key}`"),
                "service names use letters, digits, `_`, `.` and `-`, and start with a letter or digit",
            );
        }
        refs.service_locs.insert(key.clone(), key_loc.clone());
        let service = ServiceConversion {
            cx,
            diags,
            refs: &mut refs,
            name: &key,
            loc: &key_loc,
        }
        .run(value);
        out_services.insert(key, service);
    }
    let active = apply_profiles(&mut out_services, cx.profiles);
    check_dependencies(&mut out_services, &active, &refs, cx, diags);
    let networks = top_networks(networks, &out_services, &refs, cx, diags);
    let volumes = top_volumes(volumes, &out_services, &refs, cx, diags);
    let secrets = top_files(secrets, &refs, "secret", cx, diags);
    let configs = top_files(configs, &refs, "config", cx, diags);
    check_cycles(&out_services, &refs, diags);
    Project {
        name: cx.project_name.to_string(),
        working_dir: cx.project_dir.to_path_buf(),
        config_files: Vec::new(),
        services: out_services,
        networks,
        volumes,
        secrets,
        configs,
        extensions: extensions.iter().map(|e| (e.key.clone(), to_json(&e.value))).collect(),
    }
}

fn valid_service_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

struct ServiceConversion<'a, 'b> {
    cx: &'a Context<'b>,
    diags: &'a mut Diagnostics,
    refs: &'a mut Refs,
    name: &'a str,
    loc: &'a Loc,
}

/// The most containers one service may ask for (a replica count is a container each).
pub const MAX_REPLICAS: u64 = 1000;

impl ServiceConversion<'_, '_> {
    fn error(&mut self, loc: &Loc, message: impl Into<String>, help: impl Into<String>) {
        self.diags.error_help(Some(loc), message, help);
    }

    fn duration(&mut self, v: Option<Spanned<String>>, key: &str) -> Option<std::time::Duration> {
        let v = v?;
        let d = parse_duration(&v.value);
        if d.is_none() {
            self.error(
                &v.loc,
                format!("`{key}` {:?} is not a duration", v.value),
                "write a number with a unit, e.g. `10s`, `1m30s`, `500ms`",
            );
        }
        d
    }

    fn size(&mut self, v: Option<Spanned<String>>, key: &str) -> Option<u64> {
        let v = v?;
        let s = parse_size(&v.value);
        if s.is_none() {
            self.error(
                &v.loc,
                format!("`{key}` {:?} is not a size", v.value),
                "write a number with an optional unit, e.g. `512m`, `1g`, `64k`",
            );
        }
        s
    }

    /// `memswap_limit`: a size, or -1 for unlimited swap.
    fn swap_size(&mut self, v: Option<Spanned<String>>) -> Option<i64> {
        if v.as_ref().is_some_and(|v| v.value.trim() == "-1") {
            return Some(-1);
        }
        self.size(v, "memswap_limit").map(|s| s as i64)
    }

    fn run(mut self, raw: RawService) -> Service {
        let RawService {
            loc: _,
            image,
            build,
            command,
            entrypoint,
            environment,
            env_file,
            ports,
            expose,
            volumes,
            depends_on,
            healthcheck,
            restart,
            deploy,
            mem_limit,
            mem_reservation,
            memswap_limit,
            cpus,
            cpu_shares,
            cpuset,
            pids_limit,
            oom_score_adj,
            ulimits,
            logging,
            labels,
            container_name,
            hostname,
            domainname,
            user,
            group_add,
            working_dir,
            networks,
            network_mode,
            extra_hosts,
            dns,
            dns_search,
            dns_opt,
            cap_add,
            cap_drop,
            privileged,
            devices,
            tmpfs,
            read_only,
            init,
            tty,
            stdin_open,
            stop_signal,
            stop_grace_period,
            sysctls,
            security_opt,
            shm_size,
            pid,
            ipc,
            secrets,
            configs,
            pull_policy,
            scale,
            profiles,
            platform,
            extends: _,
            links,
            external_links,
            volumes_from,
            runtime,
            cgroup,
            cgroup_parent,
            userns_mode,
            uts,
            mac_address,
            cpu_quota,
            cpu_period,
            cpu_rt_runtime,
            cpu_rt_period,
            mem_swappiness,
            device_cgroup_rules,
            oom_kill_disable,
            annotations,
            storage_opt,
            gpus,
            post_start,
            pre_stop,
            use_api_socket,
            pull_refresh_after,
            blkio_config,
            cpu_count,
            cpu_percent,
            attach,
            label_file,
            extensions,
        } = raw;
        if cpu_count.is_some() || cpu_percent.is_some() {
            let loc = self.loc.clone();
            self.diags.warning(
                Some(&loc),
                "`cpu_count` and `cpu_percent` apply to Windows engines; a Linux engine ignores them (use `cpus`)",
            );
        }
        let mut labels = labels.map(strings).unwrap_or_default();
        self.label_files(label_file, &mut labels);
        if let Some(p) = &pull_refresh_after {
            self.diags.warning(
                Some(&p.loc),
                "`pull_refresh_after` has no effect (Docker Compose 2.40.3 ignores it too); `pull_policy: daily`, `weekly` or `every_<duration>` decides when to pull again",
            );
        }
        let (links, volumes_from) = (links.unwrap_or_default(), volumes_from.unwrap_or_default());
        if image.is_none() && build.is_none() {
            let loc = self.loc.clone();
            self.error(
                &loc,
                format!("service `{}` has neither `image` nor `build`", self.name),
                "add `image: NAME:TAG`, or `build: ./dir` to build it",
            );
        }
        let mut environment_map = self.environment(environment);
        let env_files = self.env_files(env_file, &mut environment_map);
        let deploy = deploy.map(|d| self.deploy(d));
        let mem_limit = self.size(mem_limit, "mem_limit");
        let mem_reservation = self.size(mem_reservation, "mem_reservation");
        self.check_conflicts(&deploy, mem_limit, mem_reservation, cpus.as_ref(), scale.as_ref());
        let network_mode = self.network_mode(network_mode, networks.is_some());
        let mut depends_on = depends_on.map(|d| self.depends_on(d)).unwrap_or_default();
        if let Some(target) = network_mode.as_deref().and_then(|m| m.strip_prefix("service:")) {
            // The container joins the other's network namespace: it must start after it and be
            // recreated with it, as compose does.
            depends_on.entry(target.to_string()).or_insert(Dependency {
                condition: Condition::ServiceStarted,
                restart: true,
                required: true,
            });
        }
        self.implied_dependencies(&links, &volumes_from, &mut depends_on);
        let networks = self.service_networks(networks, network_mode.is_some());
        let restart = restart.and_then(|r| self.restart(r));
        let replicas = deploy
            .as_ref()
            .and_then(|d| d.replicas)
            .or(scale.as_ref().map(|s| s.value))
            .unwrap_or(1);
        if replicas > MAX_REPLICAS {
            let loc = scale.as_ref().map_or_else(|| self.loc.clone(), |s| s.loc.clone());
            self.error(
                &loc,
                format!(
                    "service `{}` asks for {replicas} replicas; composed runs at most {MAX_REPLICAS}",
                    self.name
                ),
                "run fewer replicas, or split the service",
            );
        }
        if let Some(c) = &container_name
            && replicas > 1
        {
            self.error(
                &c.loc,
                format!(
                    "service `{}` sets `container_name` but runs {replicas} replicas; container names are unique",
                    self.name
                ),
                "remove `container_name`, or run one replica",
            );
        }
        let container_name = container_name.map(|c| c.value);
        Service {
            name: self.name.to_string(),
            image: image.map(|i| i.value),
            build: build.map(|b| self.build(b.0)),
            command: command.map(|c| self.command(c, "command")),
            entrypoint: entrypoint.map(|c| self.command(c, "entrypoint")),
            environment: environment_map,
            env_files,
            ports: ports.map(|p| self.ports(p)).unwrap_or_default(),
            expose: expose.map(|e| self.expose(e)).unwrap_or_default(),
            volumes: volumes.map(|v| self.mounts(v)).unwrap_or_default(),
            depends_on,
            healthcheck: healthcheck.and_then(|h| self.healthcheck(h)),
            restart,
            deploy,
            mem_limit,
            mem_reservation,
            memswap_limit: self.swap_size(memswap_limit),
            cpus: cpus.map(|c| c.value),
            cpu_shares,
            cpuset,
            pids_limit,
            oom_score_adj,
            ulimits: ulimits.map(|u| self.ulimits(u)).unwrap_or_default(),
            logging: logging.map(|l| Logging {
                driver: l.driver,
                options: l.options.unwrap_or_default().into_btree(),
            }),
            labels,
            container_name,
            hostname,
            domainname,
            user,
            group_add: group_add.unwrap_or_default(),
            working_dir,
            networks,
            network_mode,
            extra_hosts: extra_hosts.map(|h| host_entries(h.0)).unwrap_or_default(),
            dns: dns.map(StrOrList::into_vec).unwrap_or_default(),
            dns_search: dns_search.map(StrOrList::into_vec).unwrap_or_default(),
            dns_opt: dns_opt.unwrap_or_default(),
            cap_add: cap_add.unwrap_or_default(),
            cap_drop: cap_drop.unwrap_or_default(),
            privileged: privileged.unwrap_or(false),
            devices: devices.map(|d| self.devices(d)).unwrap_or_default(),
            tmpfs: tmpfs.map(StrOrList::into_vec).unwrap_or_default(),
            read_only: read_only.unwrap_or(false),
            init,
            tty: tty.unwrap_or(false),
            stdin_open: stdin_open.unwrap_or(false),
            stop_signal,
            stop_grace_period: self.duration(stop_grace_period, "stop_grace_period"),
            sysctls: sysctls.map(strings).unwrap_or_default(),
            security_opt: security_opt.unwrap_or_default(),
            shm_size: self.size(shm_size, "shm_size"),
            pid,
            ipc,
            secrets: secrets
                .map(|s| self.file_refs(s, "secret", "/run/secrets/"))
                .unwrap_or_default(),
            configs: configs.map(|s| self.file_refs(s, "config", "/")).unwrap_or_default(),
            pull_policy: pull_policy.and_then(|p| self.pull_policy(p)),
            scale: scale.map(|s| s.value),
            profiles: profiles.unwrap_or_default(),
            platform,
            links: links.into_iter().map(|l| l.value).collect(),
            external_links: external_links.unwrap_or_default(),
            volumes_from: volumes_from.into_iter().map(|v| v.value).collect(),
            runtime,
            cgroup: self.cgroup(cgroup),
            cgroup_parent,
            userns_mode,
            uts,
            mac_address,
            cpu_quota: cpu_quota.map(|c| c.value),
            cpu_period: cpu_period.map(|c| c.value),
            cpu_rt_runtime: cpu_rt_runtime.map(|c| c.value),
            cpu_rt_period: cpu_rt_period.map(|c| c.value),
            mem_swappiness: self.swappiness(mem_swappiness),
            device_cgroup_rules: device_cgroup_rules.unwrap_or_default(),
            oom_kill_disable: oom_kill_disable.unwrap_or(false),
            annotations: annotations.map(strings).unwrap_or_default(),
            storage_opt: storage_opt.map(|s| s.into_btree()).unwrap_or_default(),
            gpus: gpus.map(|g| self.device_requests(g.0, false)).unwrap_or_default(),
            post_start: post_start.map(|h| self.hooks(h, "post_start")).unwrap_or_default(),
            pre_stop: pre_stop.map(|h| self.hooks(h, "pre_stop")).unwrap_or_default(),
            use_api_socket: use_api_socket.unwrap_or(false),
            blkio_config: blkio_config.map(|b| self.blkio(b)),
            cpu_count,
            cpu_percent,
            attach,
            composed: self.composed_settings(&extensions),
            extensions: extensions.iter().map(|e| (e.key.clone(), to_json(&e.value))).collect(),
        }
    }

    /// Decodes `x-composed`, with located errors for unknown keys and wrong types.
    fn composed_settings(&mut self, extensions: &[crate::yaml::Entry]) -> ComposedSettings {
        let Some(entry) = extensions.iter().find(|e| e.key == "x-composed") else {
            return ComposedSettings::default();
        };
        let mut cx = crate::load::decode::Cx::new(self.diags);
        cx.push(format!("services.{}.x-composed", self.name));
        let raw = <RawComposedSettings as crate::load::decode::Decode>::decode(&entry.value, &mut cx);
        let RawComposedSettings {
            restart_on_unhealthy,
            rollback,
            ready_within,
            stable_for,
            loc: _,
            extensions: _,
        } = raw.unwrap_or_default();
        ComposedSettings {
            restart_on_unhealthy,
            rollback,
            ready_within: self.duration(ready_within, "x-composed.ready-within"),
            stable_for: self.duration(stable_for, "x-composed.stable-for"),
        }
    }
}

/// A file mode as YAML writes integers: `0440` and `0o440` are octal, `288` is decimal.
fn parse_mode(text: &str) -> Option<u32> {
    let t = text.trim();
    if let Some(oct) = t.strip_prefix("0o") {
        return u32::from_str_radix(oct, 8).ok();
    }
    if t.len() > 1 && t.starts_with('0') {
        return u32::from_str_radix(&t[1..], 8).ok();
    }
    t.parse().ok()
}

fn strings(list: ListOrMap) -> BTreeMap<String, String> {
    list.0
        .into_iter()
        .map(|k| (k.key, k.value.unwrap_or_default()))
        .collect()
}

/// `host=ip` entries, sorted by host as compose prints them; an IPv6 address loses the brackets
/// it may be written in (`[::1]`).
fn host_entries(list: ListOrMap) -> Vec<String> {
    let mut out: Vec<String> = list
        .0
        .into_iter()
        .map(|k| {
            let address = k.value.unwrap_or_default();
            let address = address
                .strip_prefix('[')
                .and_then(|a| a.strip_suffix(']'))
                .unwrap_or(&address);
            format!("{}={address}", k.key)
        })
        .collect();
    out.sort();
    out
}

fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value;
    match &node.kind {
        _ if node.is_null() => Value::Null,
        Kind::Scalar(s) if s.plain => {
            if let Ok(n) = s.text.parse::<i64>() {
                Value::from(n)
            } else if let Ok(f) = s.text.parse::<f64>() {
                Value::from(f)
            } else if s.text == "true" || s.text == "false" {
                Value::Bool(s.text == "true")
            } else {
                Value::String(s.text.clone())
            }
        }
        Kind::Scalar(s) => Value::String(s.text.clone()),
        Kind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        Kind::Map(entries) => Value::Object(entries.iter().map(|e| (e.key.clone(), to_json(&e.value))).collect()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn modes() {
        assert_eq!(super::parse_mode("0440"), Some(0o440));
        assert_eq!(super::parse_mode("0o1777"), Some(0o1777));
        assert_eq!(super::parse_mode("288"), Some(288));
        assert_eq!(super::parse_mode("0"), Some(0));
        assert_eq!(super::parse_mode("089"), None);
    }
}
