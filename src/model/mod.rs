//! The validated, normalised project: the desired state every other part of composed uses.
//!
//! Only [`load`](crate::load) builds it. Everything in it has been checked: references resolve,
//! sizes are bytes, durations are [`Duration`]s, paths are absolute, ports and mounts are in their
//! long form. It serialises in the shape `docker compose config --format json` prints, so the two
//! can be compared field by field, and so `composed config` output is itself a valid compose file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::load::units::format_duration;

mod parts;
pub use parts::*;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Project {
    pub name: String,
    /// The project directory: relative paths were resolved against it.
    #[serde(skip)]
    pub working_dir: PathBuf,
    /// The compose files it was read from, in merge order.
    #[serde(skip)]
    pub config_files: Vec<PathBuf>,
    pub services: BTreeMap<String, Service>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Network>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Volume>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, FileObject>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, FileObject>,
    /// Top-level `x-` blocks, as JSON.
    #[serde(flatten)]
    pub extensions: BTreeMap<String, serde_json::Value>,
}

impl Project {
    /// Services in an order where every service comes after the ones it depends on.
    pub fn start_order(&self) -> Vec<&str> {
        let mut done: Vec<&str> = Vec::new();
        fn visit<'a>(p: &'a Project, name: &'a str, done: &mut Vec<&'a str>) {
            if done.contains(&name) {
                return;
            }
            if let Some(s) = p.services.get(name) {
                for dep in s.depends_on.keys() {
                    visit(p, dep, done);
                }
                if !done.contains(&name) {
                    done.push(name);
                }
            }
        }
        for name in self.services.keys() {
            visit(self, name, &mut done);
        }
        done
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Service {
    #[serde(skip)]
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// `env_file`s read into `environment` (kept so edits to them can be watched).
    #[serde(skip)]
    pub env_files: Vec<PathBuf>,
    /// Variables; `None` is a name listed without a value that the environment did not provide.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, Option<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Mount>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, Dependency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<Restart>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Deploy>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "bytes")]
    pub mem_limit: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "bytes")]
    pub mem_reservation: Option<u64>,
    /// Bytes, or -1 for unlimited swap.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "signed_bytes")]
    pub memswap_limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpuset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub ulimits: BTreeMap<String, Ulimit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// Networks the service joins; empty when `network_mode` is set.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Option<ServiceNetwork>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// `host=ip` entries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_search: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_opt: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<Device>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    #[serde(skip_serializing_if = "is_false")]
    pub tty: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub stdin_open: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "go_duration")]
    pub stop_grace_period: Option<Duration>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "bytes")]
    pub shm_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipc: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<FileMount>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<FileMount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_policy: Option<PullPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// `links` and `external_links`: legacy names on the default bridge, and on every network.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub external_links: Vec<String>,
    /// `SERVICE[:ro|rw]` or `container:NAME[:ro|rw]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes_from: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userns_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uts: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_period: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_rt_runtime: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_rt_period: Option<i64>,
    /// 0-100; compose drops 0 (the engine's default anyway).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "bytes")]
    pub mem_swappiness: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device_cgroup_rules: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub oom_kill_disable: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub storage_opt: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gpus: Vec<DeviceRequest>,
    /// Run in the container after each start.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub post_start: Vec<Hook>,
    /// Run in the container before each stop; a failure aborts the stop.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pre_stop: Vec<Hook>,
    /// Bind the engine's socket with the operator's registry logins.
    #[serde(skip_serializing_if = "is_false")]
    pub use_api_socket: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blkio_config: Option<Blkio>,
    /// Windows engines only; a Linux engine ignores it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_count: Option<i64>,
    /// Windows engines only; a Linux engine ignores it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<f64>,
    /// `docker compose up`'s console attachment; composed sends every container's output to
    /// the journal whatever it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attach: Option<bool>,

    /// The service's `x-` keys, as JSON.
    #[serde(flatten)]
    pub extensions: BTreeMap<String, serde_json::Value>,
    /// composed's own settings, from `x-composed`.
    #[serde(skip)]
    pub composed: ComposedSettings,
}

/// A service's `x-composed` settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ComposedSettings {
    /// Restart the container when its healthcheck reports it unhealthy. Default: on for services
    /// that have a restart policy.
    pub restart_on_unhealthy: Option<bool>,
    /// Put the previous container back when an edit's new one does not come up. Default: on.
    pub rollback: Option<bool>,
    /// How long a new container with a healthcheck has to become healthy. Default: its
    /// healthcheck's start_period + interval × retries, at least 30 s.
    pub ready_within: Option<Duration>,
    /// How long a new container without a healthcheck has to keep running. Default: 5 s.
    pub stable_for: Option<Duration>,
}

/// Seconds the engine waits after the stop signal before it kills a container (Docker's and
/// compose's default).
pub const DEFAULT_STOP_TIMEOUT: i64 = 10;

impl Service {
    /// Seconds between the stop signal and the kill: `stop_grace_period`, else 10.
    pub fn stop_timeout(&self) -> i64 {
        self.stop_grace_period
            .map_or(DEFAULT_STOP_TIMEOUT, |d| d.as_secs().min(i64::MAX as u64) as i64)
    }

    /// Whether the service has a healthcheck that runs (not disabled, not `NONE`).
    pub fn has_healthcheck(&self) -> bool {
        self.healthcheck
            .as_ref()
            .is_some_and(|h| !h.disable && h.test.first().is_some_and(|t| t != "NONE"))
    }

    /// How long an edit's new container has to prove itself before the old one is let go:
    /// with a healthcheck, to become healthy (`x-composed.ready-within`, else start_period +
    /// interval × retries with Docker's defaults, at least 30 s); without one, to keep running
    /// (`x-composed.stable-for`, else 5 s).
    pub fn proving_window(&self) -> Duration {
        if !self.has_healthcheck() {
            return self.composed.stable_for.unwrap_or(Duration::from_secs(5));
        }
        if let Some(d) = self.composed.ready_within {
            return d;
        }
        let h = self.healthcheck.as_ref();
        let interval = h.and_then(|h| h.interval).unwrap_or(Duration::from_secs(30));
        let retries = h.and_then(|h| h.retries).unwrap_or(3).min(u32::MAX as u64) as u32;
        let start = h.and_then(|h| h.start_period).unwrap_or_default();
        (start + interval * retries).max(Duration::from_secs(30))
    }

    /// Whether composed puts the previous container back when an edit's new one fails.
    pub fn rolls_back(&self) -> bool {
        self.composed.rollback.unwrap_or(true)
    }

    /// How many containers the service runs.
    pub fn replicas(&self) -> u64 {
        self.deploy
            .as_ref()
            .and_then(|d| d.replicas)
            .or(self.scale)
            .unwrap_or(1)
    }
}

pub(super) fn is_false(b: &bool) -> bool {
    !*b
}

pub(super) fn signed_bytes<S: Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(n) => s.serialize_str(&n.to_string()),
        None => s.serialize_none(),
    }
}

pub(super) fn bytes<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(n) => s.serialize_str(&n.to_string()),
        None => s.serialize_none(),
    }
}

/// A secret's or config's file mode as compose prints it: octal in a string, "0440".
pub(super) fn octal_mode<S: Serializer>(v: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(n) => s.serialize_str(&format!("0{n:o}")),
        None => s.serialize_none(),
    }
}

pub(super) fn go_duration<S: Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(d) => s.serialize_str(&format_duration(*d)),
        None => s.serialize_none(),
    }
}
