//! What a service may take from the host: `deploy` (mode, replicas, resources, restart policy;
//! Swarm-only keys are warned about), the conflicts between `deploy` and the service-level
//! `mem_limit`, `mem_reservation`, `cpus` and `scale`, then `ulimits` and `devices`.

use std::collections::BTreeMap;

use super::{ServiceConversion, strings};
use crate::load::decode::{Keyed, Map, Spanned};
use crate::load::raw::{RawBlkio, RawBlkioRate, RawDeploy, RawDevice, RawDeviceRequest, RawResourceSet, RawUlimit};
use crate::model::{
    Blkio, BlkioRate, BlkioWeight, Deploy, Device, DeviceRequest, ResourceSet, Resources, RestartCondition,
    RestartPolicy, Ulimit,
};

impl ServiceConversion<'_, '_> {
    pub(super) fn deploy(&mut self, d: RawDeploy) -> Deploy {
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
        let mut swarm = BTreeMap::new();
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
                swarm.insert(key.to_string(), super::to_json(&n));
            }
        }
        let mode = mode.and_then(|m| match m.value.as_str() {
            "replicated" => Some(m.value),
            // One node: compose runs a global service like a replicated one (one container
            // unless `replicas` says otherwise).
            "global" => Some(m.value),
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
            let when = match &p.condition {
                None => RestartCondition::Any,
                Some(c) => match c.value.as_str() {
                    "none" | "no" => RestartCondition::None,
                    "on-failure" => RestartCondition::OnFailure,
                    "any" | "always" => RestartCondition::Any,
                    "unless-stopped" => RestartCondition::UnlessStopped,
                    other => {
                        self.error(
                            &c.loc,
                            format!("unknown restart_policy condition {other:?}"),
                            "use `none`, `on-failure`, `any` or `unless-stopped`",
                        );
                        RestartCondition::Any
                    }
                },
            };
            RestartPolicy {
                condition: p.condition.map(|c| c.value),
                when,
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
            swarm,
        }
    }

    fn resource_set(&mut self, s: RawResourceSet, which: &str) -> ResourceSet {
        let RawResourceSet {
            loc: _,
            cpus,
            memory,
            pids,
            devices,
            generic_resources,
            extensions: _,
        } = s;
        let generic_resources = generic_resources.map(|g| {
            self.diags.warning(
                Some(&g.loc),
                format!("`deploy.resources.{which}.generic_resources` applies to Docker Swarm only and is ignored"),
            );
            super::to_json(&g)
        });
        if let Some(c) = &cpus
            && c.value <= 0.0
        {
            self.error(&c.loc, "`cpus` must be more than 0", "write e.g. `0.5` for half a CPU");
        }
        let devices = devices.unwrap_or_default();
        if which == "limits"
            && let Some(d) = devices.first()
        {
            let loc = d.loc.clone().unwrap_or_else(|| self.loc.clone());
            self.error(
                &loc,
                "devices are reserved, not limited",
                "move them to `deploy.resources.reservations.devices`",
            );
        }
        ResourceSet {
            cpus: cpus.map(|c| c.value),
            memory: self.size(memory, "memory"),
            pids,
            devices: self.device_requests(devices, true),
            generic_resources,
        }
    }

    /// `blkio_config`: weights 10–1000 and rates as sizes (bytes or operations per second).
    pub(super) fn blkio(&mut self, b: RawBlkio) -> Blkio {
        let RawBlkio {
            loc: _,
            weight,
            weight_device,
            device_read_bps,
            device_write_bps,
            device_read_iops,
            device_write_iops,
            extensions: _,
        } = b;
        let weight_device = weight_device
            .unwrap_or_default()
            .into_iter()
            .filter_map(|w| match (w.path, w.weight) {
                (Some(path), Some(weight)) => Some(BlkioWeight { path, weight }),
                _ => {
                    let loc = w.loc.unwrap_or_else(|| self.loc.clone());
                    self.error(
                        &loc,
                        "a `weight_device` entry needs `path` and `weight`",
                        "write `{path: /dev/sda, weight: 400}`",
                    );
                    None
                }
            })
            .collect();
        Blkio {
            weight,
            weight_device,
            device_read_bps: self.blkio_rates(device_read_bps, "device_read_bps"),
            device_write_bps: self.blkio_rates(device_write_bps, "device_write_bps"),
            device_read_iops: self.blkio_rates(device_read_iops, "device_read_iops"),
            device_write_iops: self.blkio_rates(device_write_iops, "device_write_iops"),
        }
    }

    fn blkio_rates(&mut self, rates: Option<Vec<RawBlkioRate>>, key: &str) -> Vec<BlkioRate> {
        let mut out = Vec::new();
        for r in rates.unwrap_or_default() {
            let loc = r.loc.clone().unwrap_or_else(|| self.loc.clone());
            let (Some(path), Some(rate)) = (r.path, r.rate) else {
                self.error(
                    &loc,
                    format!("a `{key}` entry needs `path` and `rate`"),
                    "write `{path: /dev/sda, rate: 12mb}`",
                );
                continue;
            };
            if let Some(rate) = self.size(Some(rate), key) {
                out.push(BlkioRate { path, rate });
            }
        }
        out
    }

    /// GPU and device requests. `count: all` is -1; `count` and `device_ids` exclude each other;
    /// reservations need `capabilities`, `gpus` does not (compose adds `gpu` for them).
    pub(super) fn device_requests(
        &mut self,
        raw: Vec<RawDeviceRequest>,
        needs_capabilities: bool,
    ) -> Vec<DeviceRequest> {
        let mut out = Vec::new();
        for r in raw {
            let RawDeviceRequest {
                loc,
                capabilities,
                count,
                device_ids,
                driver,
                options,
                extensions: _,
            } = r;
            let loc = loc.unwrap_or_else(|| self.loc.clone());
            if needs_capabilities && capabilities.is_none() {
                self.error(
                    &loc,
                    "a device reservation needs `capabilities`",
                    "add e.g. `capabilities: [gpu]`",
                );
            }
            if count.is_some() && device_ids.is_some() {
                self.error(&loc, "`count` and `device_ids` exclude each other", "keep one of them");
            }
            let count = match count {
                // -1 is how `all` is printed.
                Some(c) if c.value == "all" => Some(-1),
                Some(c) => match c.value.parse::<i64>() {
                    Ok(n) if n >= -1 => Some(n),
                    _ => {
                        self.error(
                            &c.loc,
                            format!("`count` {:?} is not a number", c.value),
                            "write a number, or `all`",
                        );
                        None
                    }
                },
                None if device_ids.is_none() => Some(-1),
                None => None,
            };
            out.push(DeviceRequest {
                capabilities: capabilities.unwrap_or_default(),
                driver,
                count,
                device_ids: device_ids.unwrap_or_default(),
                options: options.map(|o| o.into_btree()).unwrap_or_default(),
            });
        }
        out
    }

    pub(super) fn check_conflicts(
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

    pub(super) fn ulimits(&mut self, raw: Map<RawUlimit>) -> BTreeMap<String, Ulimit> {
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

    pub(super) fn devices(&mut self, raw: Vec<RawDevice>) -> Vec<Device> {
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
}
