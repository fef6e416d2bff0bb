//! The one conversion from the raw model to the validated [`Project`].
//!
//! Every raw field is destructured by name, so a key added to the raw model cannot be silently
//! dropped here. Each check reports at the value's file:line:column and conversion goes on, so one
//! run reports every problem. Cross-references (services, networks, volumes, secrets, configs,
//! profiles) and `depends_on` cycles are checked once all services are converted.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{Diagnostics, Loc};
use crate::load::decode::{Keyed, ListOrMap, Map, Spanned, StrOrList};
use crate::load::raw::*;
use crate::load::units::{parse_duration, parse_size};
use crate::load::{dotenv, mounts, ports};
use crate::model::*;
use crate::yaml::{Kind, Node};

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
            extensions,
        } = raw;
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
        let networks = self.service_networks(networks, network_mode.is_some());
        let restart = restart.and_then(|r| self.restart(r));
        let replicas = deploy
            .as_ref()
            .and_then(|d| d.replicas)
            .or(scale.as_ref().map(|s| s.value))
            .unwrap_or(1);
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
            memswap_limit: self.size(memswap_limit, "memswap_limit"),
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
            labels: labels.map(strings).unwrap_or_default(),
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
        let raw = raw.unwrap_or_default();
        ComposedSettings {
            restart_on_unhealthy: raw.restart_on_unhealthy,
        }
    }

    fn environment(&mut self, environment: Option<ListOrMap>) -> BTreeMap<String, Option<String>> {
        let mut out = BTreeMap::new();
        for Keyed { key, value, .. } in environment.map(|e| e.0).unwrap_or_default() {
            let value = value.or_else(|| (self.cx.vars)(&key));
            out.insert(key, value);
        }
        out
    }

    fn env_files(&mut self, files: Option<RawEnvFiles>, env: &mut BTreeMap<String, Option<String>>) -> Vec<PathBuf> {
        let mut paths = Vec::new();
        let mut from_files: BTreeMap<String, String> = BTreeMap::new();
        for f in files.map(|f| f.0).unwrap_or_default() {
            let (path, required) = match f {
                RawEnvFile::Short(p) => (p, true),
                RawEnvFile::Long(l) => match l.path {
                    Some(p) => (p, l.required.unwrap_or(true)),
                    None => {
                        let loc = l.loc.clone().unwrap_or_else(|| self.loc.clone());
                        self.error(&loc, "`env_file` entry has no `path`", "write `path: ./file.env`");
                        continue;
                    }
                },
            };
            let abs = mounts::absolute(&path.value, self.cx.project_dir, self.cx.home);
            paths.push(abs.clone());
            match std::fs::read_to_string(&abs) {
                Ok(text) => match dotenv::parse(&text, &Arc::from(abs.as_path()), self.cx.vars) {
                    Ok(vars) => from_files.extend(vars),
                    Err(d) => self.diags.push(d),
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {}
                Err(e) => self.error(
                    &path.loc,
                    format!("cannot read env file {}: {e}", abs.display()),
                    "create the file, fix the path, or mark it `required: false`",
                ),
            }
        }
        for (k, v) in from_files {
            env.entry(k).or_insert(Some(v));
        }
        paths
    }

    fn command(&mut self, c: Spanned<StrOrList>, key: &str) -> Vec<String> {
        match c.value {
            StrOrList::List(v) => v,
            StrOrList::One(s) => match shell_words(&s) {
                Ok(words) => words,
                Err(e) => {
                    self.error(
                        &c.loc,
                        format!("`{key}` cannot be split into words: {e}"),
                        "close the quote, or write the command as a list",
                    );
                    Vec::new()
                }
            },
        }
    }

    fn build(&mut self, b: RawBuild) -> Build {
        let RawBuild {
            loc,
            context,
            dockerfile,
            args,
            target,
            labels,
            network,
            cache_from,
            extra_hosts,
            shm_size,
            pull,
            no_cache,
            extensions: _,
        } = b;
        let context = match context {
            Some(c) if c.value.contains("://") || c.value.starts_with("git@") => PathBuf::from(c.value),
            Some(c) => mounts::absolute(&c.value, self.cx.project_dir, self.cx.home),
            None => {
                let _ = loc;
                self.cx.project_dir.to_path_buf()
            }
        };
        Build {
            context,
            dockerfile: dockerfile.unwrap_or_else(|| "Dockerfile".to_string()),
            args: args
                .map(|a| {
                    a.0.into_iter()
                        .map(|k| (k.key.clone(), k.value.or_else(|| (self.cx.vars)(&k.key))))
                        .collect()
                })
                .unwrap_or_default(),
            target,
            labels: labels.map(strings).unwrap_or_default(),
            network,
            cache_from: cache_from.unwrap_or_default(),
            extra_hosts: extra_hosts.map(|h| host_entries(h.0)).unwrap_or_default(),
            shm_size: self.size(shm_size, "build.shm_size"),
            pull: pull.unwrap_or(false),
            no_cache: no_cache.unwrap_or(false),
        }
    }

    fn ports(&mut self, raw: Vec<RawPort>) -> Vec<Port> {
        let mut out = Vec::new();
        for p in raw {
            match p {
                RawPort::Short(s) => match ports::parse_short(&s.value) {
                    Ok(v) => out.extend(v),
                    Err(e) => self.error(
                        &s.loc,
                        format!("invalid port {:?}: {e}", s.value),
                        "write `HOST:CONTAINER`, e.g. `\"8080:80\"` or `\"127.0.0.1:5432:5432/tcp\"`",
                    ),
                },
                RawPort::Long(l) => out.extend(self.long_port(l)),
            }
        }
        out
    }

    fn long_port(&mut self, l: RawPortLong) -> Option<Port> {
        let RawPortLong {
            loc,
            name,
            target,
            published,
            host_ip,
            protocol,
            mode,
            app_protocol,
            extensions: _,
        } = l;
        let Some(target) = target else {
            let loc = loc.unwrap_or_else(|| self.loc.clone());
            self.error(
                &loc,
                "port has no `target`",
                "add `target: PORT`, the port inside the container",
            );
            return None;
        };
        let t = match ports::parse_range(&target.value, "container port") {
            Ok((a, b)) if a == b => a,
            Ok(_) => {
                self.error(
                    &target.loc,
                    "a long-form port `target` is one port, not a range",
                    "list each port separately",
                );
                return None;
            }
            Err(e) => {
                self.error(
                    &target.loc,
                    format!("invalid port: {e}"),
                    "write a port number from 1 to 65535",
                );
                return None;
            }
        };
        if let Some(p) = &published
            && let Err(e) = ports::parse_range(&p.value, "published port")
        {
            self.error(
                &p.loc,
                format!("invalid port: {e}"),
                "write a port number or range from 1 to 65535",
            );
        }
        let protocol = match protocol {
            None => Protocol::Tcp,
            Some(p) => ports::parse_protocol(&p.value).unwrap_or_else(|e| {
                self.error(&p.loc, e, "use tcp, udp or sctp");
                Protocol::Tcp
            }),
        };
        let mode = match mode {
            None => "ingress".to_string(),
            Some(m) if m.value == "host" || m.value == "ingress" => m.value,
            Some(m) => {
                self.error(
                    &m.loc,
                    format!("unknown port mode {:?}", m.value),
                    "use `host` or `ingress`",
                );
                "ingress".to_string()
            }
        };
        Some(Port {
            name,
            mode,
            host_ip,
            target: t,
            published: published.map(|p| p.value),
            protocol,
            app_protocol,
        })
    }

    fn expose(&mut self, raw: Vec<Spanned<String>>) -> Vec<String> {
        for e in &raw {
            let (port, proto) = e.value.split_once('/').unwrap_or((&e.value, "tcp"));
            if let Err(msg) = ports::parse_range(port, "exposed port").and_then(|_| ports::parse_protocol(proto)) {
                self.error(
                    &e.loc,
                    format!("invalid `expose` entry {:?}: {msg}", e.value),
                    "write a port, e.g. `\"3000\"` or `\"3000/udp\"`",
                );
            }
        }
        raw.into_iter().map(|e| e.value).collect()
    }

    fn mounts(&mut self, raw: Vec<RawMount>) -> Vec<Mount> {
        let mut out = Vec::new();
        for m in raw {
            let (mount, loc) = match m {
                RawMount::Short(s) => match mounts::parse_short(&s.value, self.cx.project_dir, self.cx.home) {
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
        if let Err(e) = mounts::check_target(&target.value) {
            self.error(&target.loc, e, "write an absolute path");
        }
        let kind_value = match kind.value.as_str() {
            "bind" => MountType::Bind,
            "volume" => MountType::Volume,
            "tmpfs" => MountType::Tmpfs,
            other => {
                self.error(
                    &kind.loc,
                    format!("unsupported volume type {other:?}"),
                    "use `bind`, `volume` or `tmpfs`",
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
            (MountType::Bind, Some(s)) => Some(
                mounts::absolute(&s.value, self.cx.project_dir, self.cx.home)
                    .to_string_lossy()
                    .into_owned(),
            ),
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
        let bind = match kind_value {
            MountType::Bind => Some(bind.map_or(BindOptions::default(), |b| BindOptions {
                propagation: b.propagation,
                create_host_path: b.create_host_path.unwrap_or(false),
                selinux: b.selinux,
            })),
            _ => None,
        };
        let volume = match kind_value {
            MountType::Volume => Some(volume.map_or(VolumeOptions::default(), |v| VolumeOptions {
                nocopy: v.nocopy.unwrap_or(false),
                subpath: v.subpath,
            })),
            _ => None,
        };
        Some(Mount {
            kind: kind_value,
            source,
            target: target.value,
            read_only: read_only.unwrap_or(false),
            bind,
            volume,
            tmpfs,
        })
    }

    fn depends_on(&mut self, raw: RawDependsOn) -> BTreeMap<String, Dependency> {
        let mut out = BTreeMap::new();
        for Keyed { key, key_loc, value } in raw.0.0 {
            let condition = match value.condition {
                None => Condition::ServiceStarted,
                Some(c) => match c.value.as_str() {
                    "service_started" => Condition::ServiceStarted,
                    "service_healthy" => Condition::ServiceHealthy,
                    "service_completed_successfully" => Condition::ServiceCompletedSuccessfully,
                    other => {
                        self.error(
                            &c.loc,
                            format!("unknown depends_on condition {other:?}"),
                            "use service_started, service_healthy or service_completed_successfully",
                        );
                        Condition::ServiceStarted
                    }
                },
            };
            let required = value.required.unwrap_or(true);
            self.refs
                .depends
                .push((self.name.to_string(), key.clone(), key_loc, required));
            out.insert(
                key,
                Dependency {
                    condition,
                    restart: value.restart.unwrap_or(false),
                    required,
                },
            );
        }
        out
    }

    fn healthcheck(&mut self, h: RawHealthcheck) -> Option<Healthcheck> {
        let RawHealthcheck {
            loc,
            test,
            interval,
            timeout,
            retries,
            start_period,
            start_interval,
            disable,
            extensions: _,
        } = h;
        let disable = disable.unwrap_or(false);
        let test = match test {
            _ if disable => Vec::new(),
            None => Vec::new(),
            Some(t) => match t.value {
                StrOrList::One(s) => vec!["CMD-SHELL".to_string(), s],
                StrOrList::List(v) => {
                    if !matches!(v.first().map(String::as_str), Some("CMD" | "CMD-SHELL" | "NONE")) {
                        self.error(
                            &t.loc,
                            "a healthcheck `test` list must start with \"CMD\", \"CMD-SHELL\" or \"NONE\"",
                            "write `[\"CMD\", \"pg_isready\"]`, or a plain string to run it with a shell",
                        );
                    }
                    v
                }
            },
        };
        let _ = loc;
        Some(Healthcheck {
            test,
            timeout: self.duration(timeout, "healthcheck.timeout"),
            interval: self.duration(interval, "healthcheck.interval"),
            retries,
            start_period: self.duration(start_period, "healthcheck.start_period"),
            start_interval: self.duration(start_interval, "healthcheck.start_interval"),
            disable,
        })
    }

    fn restart(&mut self, r: Spanned<String>) -> Option<Restart> {
        let parsed = match r.value.as_str() {
            "no" | "\"no\"" => Some(Restart::No),
            "always" => Some(Restart::Always),
            "unless-stopped" => Some(Restart::UnlessStopped),
            "on-failure" => Some(Restart::OnFailure(None)),
            other => other
                .strip_prefix("on-failure:")
                .and_then(|n| n.parse().ok())
                .map(|n| Restart::OnFailure(Some(n))),
        };
        if parsed.is_none() {
            self.error(
                &r.loc,
                format!("unknown restart policy {:?}", r.value),
                "use `no`, `always`, `on-failure`, `on-failure:N` or `unless-stopped`",
            );
        }
        parsed
    }

    fn deploy(&mut self, d: RawDeploy) -> Deploy {
        let RawDeploy {
            loc: _,
            mode,
            replicas,
            resources,
            restart_policy,
            labels,
            update_config,
            rollback_config,
            placement,
            endpoint_mode,
            extensions: _,
        } = d;
        for (key, node) in [
            ("update_config", update_config),
            ("rollback_config", rollback_config),
            ("placement", placement),
            ("endpoint_mode", endpoint_mode),
        ] {
            if let Some(n) = node {
                self.diags.warning(
                    Some(&n.loc),
                    format!("`deploy.{key}` applies to Docker Swarm only and is ignored"),
                );
            }
        }
        let mode = mode.and_then(|m| match m.value.as_str() {
            "replicated" => Some(m.value),
            _ => {
                self.error(
                    &m.loc,
                    format!("deploy mode {:?} is not supported", m.value),
                    "remove it: composed runs on one host, where `replicated` is the only mode",
                );
                None
            }
        });
        let resources = resources.map(|r| Resources {
            limits: r.limits.map(|s| self.resource_set(s, "limits")),
            reservations: r.reservations.map(|s| self.resource_set(s, "reservations")),
        });
        let restart_policy = restart_policy.map(|p| {
            let condition = match p.condition {
                None => RestartCondition::Any,
                Some(c) => match c.value.as_str() {
                    "none" => RestartCondition::None,
                    "on-failure" => RestartCondition::OnFailure,
                    "any" => RestartCondition::Any,
                    other => {
                        self.error(
                            &c.loc,
                            format!("unknown restart_policy condition {other:?}"),
                            "use `none`, `on-failure` or `any`",
                        );
                        RestartCondition::Any
                    }
                },
            };
            RestartPolicy {
                condition,
                delay: self.duration(p.delay, "restart_policy.delay"),
                max_attempts: p.max_attempts,
                window: self.duration(p.window, "restart_policy.window"),
            }
        });
        Deploy {
            mode,
            replicas: replicas.map(|r| r.value),
            resources,
            restart_policy,
            labels: labels.map(strings).unwrap_or_default(),
        }
    }

    fn resource_set(&mut self, s: RawResourceSet, which: &str) -> ResourceSet {
        if let Some(d) = &s.devices {
            self.error(
                &d.loc,
                format!("`deploy.resources.{which}.devices` is not supported by composed"),
                "remove it; GPU and device reservations are not mapped yet",
            );
        }
        if let Some(c) = &s.cpus
            && c.value <= 0.0
        {
            self.error(&c.loc, "`cpus` must be more than 0", "write e.g. `0.5` for half a CPU");
        }
        ResourceSet {
            cpus: s.cpus.map(|c| c.value),
            memory: self.size(s.memory, "memory"),
            pids: s.pids,
        }
    }

    fn check_conflicts(
        &mut self,
        deploy: &Option<Deploy>,
        mem_limit: Option<u64>,
        mem_res: Option<u64>,
        cpus: Option<&Spanned<f64>>,
        scale: Option<&Spanned<u64>>,
    ) {
        let loc = self.loc.clone();
        let limits = deploy
            .as_ref()
            .and_then(|d| d.resources.as_ref())
            .and_then(|r| r.limits.as_ref());
        let reservations = deploy
            .as_ref()
            .and_then(|d| d.resources.as_ref())
            .and_then(|r| r.reservations.as_ref());
        if let (Some(a), Some(b)) = (mem_limit, limits.and_then(|l| l.memory))
            && a != b
        {
            self.error(&loc, format!("service `{}` sets `mem_limit` ({a} bytes) and `deploy.resources.limits.memory` ({b} bytes) to different values", self.name), "keep one of the two");
        }
        if let (Some(a), Some(b)) = (mem_res, reservations.and_then(|l| l.memory))
            && a != b
        {
            self.error(&loc, format!("service `{}` sets `mem_reservation` and `deploy.resources.reservations.memory` to different values", self.name), "keep one of the two");
        }
        if let (Some(a), Some(b)) = (cpus, limits.and_then(|l| l.cpus))
            && a.value != b
        {
            self.error(
                &a.loc,
                format!(
                    "service `{}` sets `cpus` and `deploy.resources.limits.cpus` to different values",
                    self.name
                ),
                "keep one of the two",
            );
        }
        if let Some(c) = cpus
            && c.value <= 0.0
        {
            self.error(&c.loc, "`cpus` must be more than 0", "write e.g. `0.5` for half a CPU");
        }
        if let (Some(s), Some(r)) = (scale, deploy.as_ref().and_then(|d| d.replicas))
            && s.value != r
        {
            self.error(
                &s.loc,
                format!(
                    "service `{}` sets `scale` ({}) and `deploy.replicas` ({r}) to different values",
                    self.name, s.value
                ),
                "keep one of the two",
            );
        }
    }

    fn network_mode(&mut self, mode: Option<Spanned<String>>, has_networks: bool) -> Option<String> {
        let mode = mode?;
        if has_networks {
            self.error(
                &mode.loc,
                "`network_mode` cannot be combined with `networks`",
                "remove one of the two",
            );
        }
        match mode.value.as_str() {
            "bridge" | "host" | "none" | "default" => {}
            v if v.starts_with("container:") => {}
            v if v.starts_with("service:") => {
                let target = v["service:".len()..].to_string();
                self.refs
                    .service_modes
                    .push((self.name.to_string(), target, mode.loc.clone()));
            }
            other => self.error(
                &mode.loc,
                format!("unknown network_mode {other:?}"),
                "use `bridge`, `host`, `none`, `service:NAME` or `container:NAME`",
            ),
        }
        Some(mode.value)
    }

    fn service_networks(
        &mut self,
        networks: Option<RawServiceNetworks>,
        has_mode: bool,
    ) -> BTreeMap<String, Option<ServiceNetwork>> {
        let mut out = BTreeMap::new();
        let Some(networks) = networks else {
            if !has_mode {
                out.insert("default".to_string(), None);
                self.refs
                    .networks
                    .push((self.name.to_string(), "default".to_string(), self.loc.clone()));
            }
            return out;
        };
        for Keyed { key, key_loc, value } in networks.0.0 {
            self.refs.networks.push((self.name.to_string(), key.clone(), key_loc));
            for addr in [&value.ipv4_address, &value.ipv6_address].into_iter().flatten() {
                if addr.value.parse::<std::net::IpAddr>().is_err() {
                    self.error(
                        &addr.loc,
                        format!("{:?} is not an IP address", addr.value),
                        "write an address inside the network's subnet, e.g. `172.28.0.10`",
                    );
                }
            }
            let settings = ServiceNetwork {
                aliases: value.aliases.unwrap_or_default(),
                ipv4_address: value.ipv4_address.map(|a| a.value),
                ipv6_address: value.ipv6_address.map(|a| a.value),
                priority: value.priority,
            };
            let empty = settings == ServiceNetwork::default();
            out.insert(key, (!empty).then_some(settings));
        }
        out
    }

    fn ulimits(&mut self, raw: Map<RawUlimit>) -> BTreeMap<String, Ulimit> {
        let mut out = BTreeMap::new();
        for Keyed { key, key_loc, value } in raw.0 {
            let limit = match value {
                RawUlimit::Single(n) => Ulimit::Single(n.value),
                RawUlimit::Pair(p) => match (p.soft, p.hard) {
                    (Some(soft), Some(hard)) if soft <= hard => Ulimit::Pair { soft, hard },
                    (Some(_), Some(_)) => {
                        self.error(
                            &key_loc,
                            format!("ulimit `{key}` has a soft limit above its hard limit"),
                            "make `soft` at most `hard`",
                        );
                        continue;
                    }
                    _ => {
                        self.error(
                            &key_loc,
                            format!("ulimit `{key}` needs both `soft` and `hard`"),
                            "write `{soft: N, hard: M}` or a single number",
                        );
                        continue;
                    }
                },
            };
            out.insert(key, limit);
        }
        out
    }

    fn devices(&mut self, raw: Vec<RawDevice>) -> Vec<Device> {
        let mut out = Vec::new();
        for d in raw {
            let (text, loc) = match d {
                RawDevice::Short(s) => (s.value, s.loc),
                RawDevice::Long(l) => match l.source {
                    Some(src) => {
                        let target = l.target.unwrap_or_else(|| src.value.clone());
                        let perms = l.permissions.unwrap_or_else(|| "rwm".to_string());
                        (format!("{}:{target}:{perms}", src.value), src.loc)
                    }
                    None => {
                        let loc = l.loc.unwrap_or_else(|| self.loc.clone());
                        self.error(&loc, "device has no `source`", "add `source: /dev/...`");
                        continue;
                    }
                },
            };
            let parts: Vec<&str> = text.split(':').collect();
            let device = match parts.as_slice() {
                [s] => Some((*s, *s, "rwm")),
                [s, t] => Some((*s, *t, "rwm")),
                [s, t, p] if !p.is_empty() && p.chars().all(|c| "rwm".contains(c)) => Some((*s, *t, *p)),
                _ => None,
            };
            match device {
                Some((s, t, p)) if s.starts_with('/') && t.starts_with('/') => out.push(Device {
                    source: s.to_string(),
                    target: t.to_string(),
                    permissions: p.to_string(),
                }),
                _ => self.error(
                    &loc,
                    format!("invalid device {text:?}"),
                    "write `/dev/host:/dev/container[:rwm]`",
                ),
            }
        }
        out
    }

    fn file_refs(&mut self, raw: Vec<RawFileRef>, kind: &'static str, prefix: &str) -> Vec<FileMount> {
        let mut out = Vec::new();
        for r in raw {
            let (source, loc, target, uid, gid, mode) = match r {
                RawFileRef::Short(s) => (s.value, s.loc, None, None, None, None),
                RawFileRef::Long(l) => {
                    let loc = l.loc.clone().unwrap_or_else(|| self.loc.clone());
                    let Some(source) = l.source else {
                        self.error(
                            &loc,
                            format!("{kind} has no `source`"),
                            format!("add `source: NAME`, a {kind} declared at the top level"),
                        );
                        continue;
                    };
                    let mode = l.mode.and_then(|m| {
                        let parsed = parse_mode(&m.value);
                        if parsed.is_none() {
                            self.error(
                                &m.loc,
                                format!("mode {:?} is not an octal number", m.value),
                                "write e.g. `0440`",
                            );
                        }
                        parsed
                    });
                    (source.value, source.loc, l.target, l.uid, l.gid, mode)
                }
            };
            // Like compose, a relative target is kept as written (the engine mapping puts it
            // under /run/secrets/); an absent secret target defaults to /run/secrets/<name>.
            let target = match target {
                Some(t) => Some(t),
                None if kind == "secret" => Some(format!("{prefix}{source}")),
                None => None,
            };
            self.refs
                .secrets
                .push((self.name.to_string(), source.clone(), loc, kind));
            out.push(FileMount {
                source,
                target,
                uid,
                gid,
                mode,
            });
        }
        out
    }

    fn pull_policy(&mut self, p: Spanned<String>) -> Option<PullPolicy> {
        match p.value.as_str() {
            "always" => Some(PullPolicy::Always),
            "never" => Some(PullPolicy::Never),
            "missing" | "if_not_present" => Some(PullPolicy::Missing),
            "build" => Some(PullPolicy::Build),
            other => {
                self.error(
                    &p.loc,
                    format!("unknown pull_policy {other:?}"),
                    "use `always`, `never`, `missing` or `build`",
                );
                None
            }
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

/// `host=ip` entries, sorted by host as compose prints them.
fn host_entries(list: ListOrMap) -> Vec<String> {
    let mut out: Vec<String> = list
        .0
        .into_iter()
        .map(|k| format!("{}={}", k.key, k.value.unwrap_or_default()))
        .collect();
    out.sort();
    out
}

/// Splits a command string into words the way a POSIX shell would (quotes and backslashes; no
/// expansion), as compose does for string `command` and `entrypoint`.
pub fn shell_words(s: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unclosed single quote"),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("unclosed double quote"),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unclosed double quote"),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
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

/// Drops services whose profiles are all inactive; returns every service name with whether it is active.
fn apply_profiles(services: &mut BTreeMap<String, Service>, active: &[String]) -> BTreeMap<String, Vec<String>> {
    let mut all = BTreeMap::new();
    for (name, s) in services.iter() {
        all.insert(name.clone(), s.profiles.clone());
    }
    let enabled = |profiles: &[String]| profiles.is_empty() || active.iter().any(|a| a == "*" || profiles.contains(a));
    services.retain(|_, s| enabled(&s.profiles));
    all
}

fn check_dependencies(
    services: &mut BTreeMap<String, Service>,
    all: &BTreeMap<String, Vec<String>>,
    refs: &Refs,
    cx: &Context,
    diags: &mut Diagnostics,
) {
    for (from, to, loc, required) in &refs.depends {
        if !services.contains_key(from) {
            continue;
        }
        if services.contains_key(to) {
            if from == to {
                diags.error_help(
                    Some(loc),
                    format!("service `{from}` depends on itself"),
                    "remove it from its own `depends_on`",
                );
            }
            continue;
        }
        match all.get(to) {
            None => diags.error_help(
                Some(loc),
                format!("service `{from}` depends on undefined service `{to}`"),
                match crate::diag::did_you_mean(to, all.keys().map(String::as_str)) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => "define the service, or remove it from `depends_on`".to_string(),
                },
            ),
            Some(_) if !required => {
                if let Some(s) = services.get_mut(from) {
                    s.depends_on.remove(to);
                }
            }
            Some(profiles) => diags.error_help(
                Some(loc),
                format!(
                    "service `{from}` depends on `{to}`, which is only enabled with profile {}",
                    profiles.join(" or ")
                ),
                format!(
                    "enable it with COMPOSE_PROFILES={} (active now: {})",
                    profiles.join(","),
                    if cx.profiles.is_empty() {
                        "none".to_string()
                    } else {
                        cx.profiles.join(",")
                    }
                ),
            ),
        }
    }
    for (from, to, loc) in &refs.service_modes {
        if services.contains_key(from) && !services.contains_key(to) {
            diags.error_help(
                Some(loc),
                format!("service `{from}` uses the network of undefined service `{to}`"),
                "define the service or change `network_mode`",
            );
        }
    }
}

fn check_cycles(services: &BTreeMap<String, Service>, refs: &Refs, diags: &mut Diagnostics) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit<'a>(
        name: &'a str,
        services: &'a BTreeMap<String, Service>,
        marks: &mut HashMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match marks.get(name) {
            Some(Mark::Done) => return None,
            Some(Mark::Visiting) => {
                let start = stack.iter().position(|s| *s == name).unwrap_or(0);
                let mut cycle: Vec<String> = stack[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(name.to_string());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(name, Mark::Visiting);
        stack.push(name);
        if let Some(s) = services.get(name) {
            for dep in s.depends_on.keys() {
                if services.contains_key(dep)
                    && dep != name
                    && let Some(c) = visit(dep, services, marks, stack)
                {
                    return Some(c);
                }
            }
        }
        stack.pop();
        marks.insert(name, Mark::Done);
        None
    }
    let mut marks = HashMap::new();
    for name in services.keys() {
        let mut stack = Vec::new();
        if let Some(cycle) = visit(name, services, &mut marks, &mut stack) {
            let loc = refs
                .depends
                .iter()
                .find(|(f, t, _, _)| *f == cycle[0] && *t == cycle[1])
                .map(|d| d.2.clone());
            diags.error_help(
                loc.as_ref(),
                format!("dependency cycle: {}", cycle.join(" -> ")),
                "remove one of these `depends_on` entries so the services can start in order",
            );
            return;
        }
    }
}

fn top_networks(
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

fn top_volumes(
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

fn top_files(
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
            diags.error_help(
                Some(&e.loc),
                format!("external {kind}s are a Docker Swarm feature"),
                format!("give the {kind} a `file:` (or `environment:`) source instead"),
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
        out.insert(
            key.clone(),
            FileObject {
                name: name.unwrap_or_else(|| format!("{}_{key}", cx.project_name)),
                file: file.map(|f| mounts::absolute(&f.value, cx.project_dir, cx.home)),
                environment: environment.map(|e| e.value),
                content,
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

#[cfg(test)]
mod tests {
    use super::shell_words;

    #[test]
    fn modes() {
        assert_eq!(super::parse_mode("0440"), Some(0o440));
        assert_eq!(super::parse_mode("0o1777"), Some(0o1777));
        assert_eq!(super::parse_mode("288"), Some(288));
        assert_eq!(super::parse_mode("0"), Some(0));
        assert_eq!(super::parse_mode("089"), None);
    }

    #[test]
    fn shell_words_like_compose() {
        assert_eq!(
            shell_words("nginx -g 'daemon off;'").unwrap(),
            vec!["nginx", "-g", "daemon off;"]
        );
        assert_eq!(
            shell_words(r#"sh -c "echo \"hi\" $X""#).unwrap(),
            vec!["sh", "-c", "echo \"hi\" $X"]
        );
        assert_eq!(shell_words("  a   b\\ c ''").unwrap(), vec!["a", "b c", ""]);
        assert!(shell_words("echo 'open").is_err());
    }
}
