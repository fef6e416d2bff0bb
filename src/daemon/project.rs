//! One managed project inside the daemon: its last good configuration, the per-service state
//! (the one place the status line and, later, the D-Bus API read), and the supervision decisions
//! taken on engine events. No I/O here but reading the project's own files: the daemon loop
//! carries out the [`Action`]s.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::bus::{ProjectView, ServiceView};
use crate::daemon::guard;
use crate::daemon::holds::Holds;
use crate::daemon::sources::Source;
use crate::engine::events::{ContainerEvent, EventKind};
use crate::execute::{Report, Status};
use crate::load;
use crate::load::units::format_duration;
use crate::model::Project;
use crate::observed::{ContainerState, Health, Observed};
use crate::supervise::backoff::Backoff;
use crate::supervise::policy::{Decision, RestartRule};

/// Where one service stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceState {
    Starting,
    Running,
    Healthy,
    Unhealthy,
    Restarting {
        attempt: u32,
        delay: Duration,
    },
    Exited(i64),
    Failed(String),
    /// An operator stopped it (`composectl stop`).
    Stopped,
}

impl fmt::Display for ServiceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceState::Starting => write!(f, "starting"),
            ServiceState::Running => write!(f, "running"),
            ServiceState::Healthy => write!(f, "healthy"),
            ServiceState::Unhealthy => write!(f, "unhealthy"),
            ServiceState::Restarting { attempt, delay } => {
                write!(
                    f,
                    "restarting ({}, next in {})",
                    ordinal(*attempt),
                    format_duration(*delay)
                )
            }
            ServiceState::Exited(code) => write!(f, "exited ({code})"),
            ServiceState::Failed(reason) => write!(f, "failed: {reason}"),
            ServiceState::Stopped => write!(f, "stopped"),
        }
    }
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[derive(Debug, Clone)]
pub struct Tracked {
    pub id: String,
    pub name: String,
    pub started: Option<Instant>,
}

#[derive(Debug, Clone)]
pub struct ServiceRuntime {
    pub rule: RestartRule,
    pub backoff: Backoff,
    pub state: ServiceState,
    pub restarts: u32,
    pub last_exit: Option<i64>,
    /// Why the container last stopped, in words.
    pub last_exit_reason: String,
    /// Why composed is about to stop it (read at its next death).
    pub next_exit_reason: Option<String>,
    /// The engine reported it out of memory; its next death is from that.
    pub oom: bool,
    pub has_healthcheck: bool,
    pub containers: BTreeMap<u32, Tracked>,
}

impl ServiceRuntime {
    /// Ready: healthy where there is a healthcheck, running otherwise, exited 0 for one-shots,
    /// or stopped by an operator.
    pub fn ready(&self) -> bool {
        match &self.state {
            ServiceState::Healthy | ServiceState::Exited(0) | ServiceState::Stopped => true,
            ServiceState::Running => !self.has_healthcheck,
            _ => false,
        }
    }

    /// The state and health words the API and `composectl ps` show.
    fn words(&self) -> (&'static str, &'static str) {
        let state = match &self.state {
            ServiceState::Starting => "starting",
            ServiceState::Running | ServiceState::Healthy | ServiceState::Unhealthy => "running",
            ServiceState::Restarting { .. } => "restarting",
            ServiceState::Exited(_) => "exited",
            ServiceState::Failed(_) => "failed",
            ServiceState::Stopped => "stopped",
        };
        let health = match (&self.state, self.has_healthcheck) {
            (_, false) => "",
            (ServiceState::Healthy, true) => "healthy",
            (ServiceState::Unhealthy, true) => "unhealthy",
            (ServiceState::Starting | ServiceState::Running, true) => "starting",
            (_, true) => "",
        };
        (state, health)
    }
}

/// A published port as `docker ps` writes it: `[HOST_IP:]PUBLISHED->TARGET/PROTOCOL`.
fn port_words(p: &crate::model::Port) -> String {
    let protocol = match p.protocol {
        crate::model::Protocol::Tcp => "tcp",
        crate::model::Protocol::Udp => "udp",
        crate::model::Protocol::Sctp => "sctp",
    };
    match (&p.host_ip, &p.published) {
        (Some(ip), Some(published)) => format!("{ip}:{published}->{}/{protocol}", p.target),
        (None, Some(published)) => format!("{published}->{}/{protocol}", p.target),
        (_, None) => format!("{}/{protocol}", p.target),
    }
}

/// Counts a restart of a service and returns its delay; the service shows as restarting meanwhile.
/// (Takes the fields, not the runtime, so a borrowed container of the same service can stay.)
fn schedule_restart(backoff: &mut Backoff, restarts: &mut u32, state: &mut ServiceState) -> Duration {
    let delay = backoff.next().unwrap_or_default();
    *restarts += 1;
    *state = ServiceState::Restarting {
        attempt: backoff.attempts(),
        delay,
    };
    delay
}

/// Where a caller waits for the outcome of what it asked.
pub type Reply = tokio::sync::oneshot::Sender<Result<String, String>>;

/// What the daemon loop must do after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start container `id` after `delay`; first stop it (within `stop_timeout` seconds) when it
    /// is still running (an unhealthy container).
    Restart {
        service: String,
        number: u32,
        id: String,
        delay: Duration,
        stop_timeout: Option<i64>,
    },
    /// A container of the project disappeared: reconcile.
    Resync,
}

/// The outcome of reading the project's files again.
#[derive(Debug)]
pub enum Reload {
    Unchanged,
    Changed,
    /// Located errors; the last good configuration stays.
    Refused(Vec<String>),
}

pub struct ProjectRuntime {
    pub source: Source,
    pub project: Option<Project>,
    pub config_error: Option<String>,
    pub inputs: Vec<PathBuf>,
    fingerprint: u64,
    pub services: BTreeMap<String, ServiceRuntime>,
    pub first_apply_done: bool,
    pub applying: bool,
    /// A reconcile was asked for while one was running (with `start_exited`).
    pub pending: Option<bool>,
    /// Callers answered when the running reconcile ends, and when the pending one ends.
    pub waiters: Vec<Reply>,
    pub next_waiters: Vec<Reply>,
    /// What an operator stopped.
    pub holds: Holds,
    /// Deaths composed causes itself (restarts of dependents), by container id.
    pub expected_dies: HashMap<String, u32>,
    pub _lock: guard::ProjectLock,
}

impl ProjectRuntime {
    pub fn new(source: Source, lock: guard::ProjectLock, holds: Holds) -> Self {
        ProjectRuntime {
            source,
            project: None,
            config_error: None,
            inputs: Vec::new(),
            fingerprint: 0,
            services: BTreeMap::new(),
            first_apply_done: false,
            applying: false,
            pending: None,
            waiters: Vec::new(),
            next_waiters: Vec::new(),
            holds,
            expected_dies: HashMap::new(),
            _lock: lock,
        }
    }

    pub fn name(&self) -> &str {
        &self.source.name
    }

    /// Every held service, for [`crate::plan::Plan::leave_alone`].
    pub fn held_services(&self) -> BTreeSet<String> {
        self.services.keys().filter(|s| self.holds.holds(s)).cloned().collect()
    }

    /// Reads the project's files; keeps the last good configuration when they are bad.
    pub fn reload(&mut self) -> Reload {
        let result = load::load(&self.source.options);
        let inputs = match &result {
            Ok(l) => l.inputs.clone(),
            Err(f) => f.inputs.clone(),
        };
        let fingerprint = fingerprint(&inputs, &self.source.watch);
        if fingerprint == self.fingerprint && self.project.is_some() && self.config_error.is_none() {
            return Reload::Unchanged;
        }
        self.inputs = inputs.clone();
        let mut errors: Vec<String> = inputs
            .iter()
            .filter(|p| p.exists())
            .filter_map(|p| guard::check_writable_only_by_owner(p).err())
            .collect();
        let loaded = match result {
            Ok(l) => {
                for w in &l.warnings {
                    tracing::warn!(project = %self.source.name, "{w}");
                }
                Some(l.project)
            }
            Err(f) => {
                errors.extend(f.errors().map(ToString::to_string));
                None
            }
        };
        match loaded {
            Some(project) if errors.is_empty() => {
                self.fingerprint = fingerprint;
                self.config_error = None;
                let changed = self.project.as_ref() != Some(&project);
                self.adopt_config(project);
                if changed { Reload::Changed } else { Reload::Unchanged }
            }
            _ => {
                self.fingerprint = fingerprint;
                let first = errors.first().cloned().unwrap_or_default();
                self.config_error = Some(first.lines().next().unwrap_or_default().to_string());
                Reload::Refused(errors)
            }
        }
    }

    fn adopt_config(&mut self, project: Project) {
        let mut services = BTreeMap::new();
        for (name, s) in &project.services {
            let mut rt = self.services.remove(name).unwrap_or_else(|| ServiceRuntime {
                rule: RestartRule::of(s),
                backoff: Backoff::default(),
                state: ServiceState::Starting,
                restarts: 0,
                last_exit: None,
                last_exit_reason: String::new(),
                next_exit_reason: None,
                oom: false,
                has_healthcheck: false,
                containers: BTreeMap::new(),
            });
            rt.rule = RestartRule::of(s);
            if let Some(delay) = rt.rule.initial_delay {
                rt.backoff = Backoff::new(delay, rt.backoff.max.max(delay), rt.backoff.reset_after);
            }
            rt.has_healthcheck = s
                .healthcheck
                .as_ref()
                .is_some_and(|h| !h.disable && !h.test.is_empty() && h.test[0] != "NONE");
            services.insert(name.clone(), rt);
        }
        self.services = services;
        self.project = Some(project);
    }

    /// After an apply: what the engine now has and how each service came out.
    pub fn applied(&mut self, report: &Report, observed: &Observed) {
        self.first_apply_done = true;
        for (name, rt) in self.services.iter_mut() {
            rt.containers.clear();
            for c in observed.containers.iter().filter(|c| &c.service == name) {
                let started = (c.state == ContainerState::Running).then(Instant::now);
                rt.containers.insert(
                    c.number,
                    Tracked {
                        id: c.id.clone(),
                        name: c.name.clone(),
                        started,
                    },
                );
            }
            rt.state = match report.services.get(name) {
                Some(Status::Failed(reason)) => ServiceState::Failed(reason.clone()),
                Some(Status::Healthy) => ServiceState::Healthy,
                Some(Status::Unhealthy) => ServiceState::Unhealthy,
                Some(Status::Exited(code)) => ServiceState::Exited(*code),
                Some(Status::Started) if rt.has_healthcheck => ServiceState::Starting,
                Some(Status::Started) => ServiceState::Running,
                Some(Status::Pending) | None => from_observed(observed, name, rt.has_healthcheck),
            };
            let running = observed
                .containers
                .iter()
                .any(|c| &c.service == name && c.state == ContainerState::Running);
            if !running && self.holds.holds(name) {
                rt.state = ServiceState::Stopped;
            }
        }
    }

    /// Ready: healthy where there is a healthcheck, running otherwise, exited 0 for one-shots.
    pub fn ready(&self) -> bool {
        self.first_apply_done && self.services.values().all(ServiceRuntime::ready)
    }

    /// The first reason the project cannot become ready, if it cannot.
    pub fn failure(&self) -> Option<String> {
        self.services.iter().find_map(|(name, s)| match &s.state {
            ServiceState::Failed(reason) => Some(format!("{name} failed: {reason}")),
            ServiceState::Unhealthy => Some(format!("{name} is unhealthy")),
            ServiceState::Exited(code) if *code != 0 => Some(format!("{name} exited with code {code}")),
            _ => None,
        })
    }

    /// One line for systemd's STATUS.
    pub fn status_line(&self) -> String {
        let name = self.name();
        if let Some(err) = &self.config_error {
            let what = if self.project.is_some() {
                "running last good config"
            } else {
                "nothing running"
            };
            return format!("{name}: config error at {err}; {what}");
        }
        if self.holds.project {
            return format!("{name}: stopped (composectl start {name})");
        }
        if let Some((service, s)) = self.services.iter().find(|(_, s)| {
            matches!(
                s.state,
                ServiceState::Restarting { .. } | ServiceState::Failed(_) | ServiceState::Unhealthy
            )
        }) {
            return format!("{name}: {service} {}", s.state);
        }
        let total = self.services.len();
        let ready = self
            .services
            .values()
            .filter(|s| s.ready() && s.state != ServiceState::Stopped)
            .count();
        let stopped = self
            .services
            .values()
            .filter(|s| s.state == ServiceState::Stopped)
            .count();
        let stopped = match stopped {
            0 => String::new(),
            n => format!(", {n} stopped"),
        };
        if !self.first_apply_done {
            return format!("{name}: starting, {ready}/{total} ready{stopped}");
        }
        format!("{name}: {ready}/{total} ready{stopped}")
    }

    /// The project as the D-Bus API shows it.
    pub fn view(&self) -> ProjectView {
        let state = if self.project.is_none() {
            "config-error"
        } else if self.holds.project {
            "stopped"
        } else if self.ready() {
            "ready"
        } else if !self.first_apply_done || self.failure().is_none() {
            "starting"
        } else {
            "degraded"
        };
        ProjectView {
            name: self.name().to_string(),
            state: state.to_string(),
            status: self.status_line(),
            config_error: self.config_error.clone().unwrap_or_default(),
            files: self.inputs.iter().map(|p| p.display().to_string()).collect(),
            services: self.services.len() as u32,
            ready_services: self.services.values().filter(|s| s.ready()).count() as u32,
        }
    }

    /// Each service as the D-Bus API shows it: no environment, command or mounts.
    pub fn service_views(&self) -> Vec<ServiceView> {
        let Some(project) = &self.project else {
            return Vec::new();
        };
        self.services
            .iter()
            .map(|(name, rt)| {
                let config = project.services.get(name);
                let (state, health) = rt.words();
                ServiceView {
                    project: self.name().to_string(),
                    service: name.clone(),
                    state: state.to_string(),
                    health: health.to_string(),
                    detail: rt.state.to_string(),
                    ready: rt.ready(),
                    restart_count: rt.restarts,
                    last_exit_code: rt.last_exit.map_or(-1, |c| c as i32),
                    last_exit_reason: rt.last_exit_reason.clone(),
                    container_id: rt.containers.values().next().map(|t| t.id.clone()).unwrap_or_default(),
                    containers: rt.containers.len() as u32,
                    image: config
                        .map(|s| crate::identity::image_name(project, s))
                        .unwrap_or_default(),
                    ports: config
                        .map(|s| s.ports.iter().map(port_words).collect())
                        .unwrap_or_default(),
                    since: 0,
                }
            })
            .collect()
    }

    /// Supervision: what to do about one engine event for this project.
    pub fn on_event(&mut self, event: &ContainerEvent, now: Instant) -> Vec<Action> {
        let held = self.holds.holds(&event.service);
        let Some(rt) = self.services.get_mut(&event.service) else {
            return Vec::new();
        };
        let Some(tracked) = rt.containers.get_mut(&event.number).filter(|t| t.id == event.id) else {
            return Vec::new();
        };
        match &event.kind {
            EventKind::Start => {
                tracked.started = Some(now);
                rt.state = if rt.has_healthcheck {
                    ServiceState::Starting
                } else {
                    ServiceState::Running
                };
                Vec::new()
            }
            EventKind::Healthy => {
                rt.state = ServiceState::Healthy;
                Vec::new()
            }
            EventKind::Die { exit_code } => {
                rt.last_exit = Some(*exit_code);
                rt.last_exit_reason = match (rt.next_exit_reason.take(), std::mem::take(&mut rt.oom)) {
                    (_, true) => "killed: out of memory".to_string(),
                    (Some(why), false) => why,
                    (None, false) => exit_reason(*exit_code),
                };
                if let Some(n) = self.expected_dies.get_mut(&event.id)
                    && *n > 0
                {
                    *n -= 1;
                    return Vec::new();
                }
                if held {
                    rt.state = ServiceState::Stopped;
                    return Vec::new();
                }
                if let Some(started) = tracked.started.take() {
                    rt.backoff.observe_run(now.saturating_duration_since(started));
                }
                match rt.rule.on_exit(*exit_code, rt.backoff.attempts()) {
                    Decision::Restart => {
                        let delay = schedule_restart(&mut rt.backoff, &mut rt.restarts, &mut rt.state);
                        tracing::warn!(project = %event.project, service = %event.service, exit_code, "{}/{}: container {} exited with code {exit_code}; restarting in {} (attempt {})", event.project, event.service, tracked.name, format_duration(delay), rt.backoff.attempts());
                        vec![Action::Restart {
                            service: event.service.clone(),
                            number: event.number,
                            id: event.id.clone(),
                            delay,
                            stop_timeout: None,
                        }]
                    }
                    Decision::Leave => {
                        rt.state = ServiceState::Exited(*exit_code);
                        tracing::info!(project = %event.project, service = %event.service, "{}/{}: container {} exited with code {exit_code}; its restart policy leaves it", event.project, event.service, tracked.name);
                        Vec::new()
                    }
                    Decision::GiveUp(reason) => {
                        tracing::error!(project = %event.project, service = %event.service, "{}/{}: {reason}; giving up", event.project, event.service);
                        rt.state = ServiceState::Failed(reason);
                        Vec::new()
                    }
                }
            }
            EventKind::Unhealthy if held => Vec::new(),
            EventKind::Unhealthy => match rt.rule.on_unhealthy(rt.backoff.attempts()) {
                Decision::Restart => {
                    let delay = schedule_restart(&mut rt.backoff, &mut rt.restarts, &mut rt.state);
                    rt.next_exit_reason = Some("stopped by composed: unhealthy".to_string());
                    *self.expected_dies.entry(event.id.clone()).or_default() += 1;
                    tracing::warn!(project = %event.project, service = %event.service, "{}/{}: container {} is unhealthy; restarting it (attempt {})", event.project, event.service, tracked.name, rt.backoff.attempts());
                    let timeout = self
                        .project
                        .as_ref()
                        .and_then(|p| p.services.get(&event.service))
                        .and_then(|s| s.stop_grace_period)
                        .map_or(crate::spec::DEFAULT_STOP_TIMEOUT, |d| d.as_secs() as i64);
                    vec![Action::Restart {
                        service: event.service.clone(),
                        number: event.number,
                        id: event.id.clone(),
                        delay,
                        stop_timeout: Some(timeout),
                    }]
                }
                Decision::Leave => {
                    rt.state = ServiceState::Unhealthy;
                    Vec::new()
                }
                Decision::GiveUp(reason) => {
                    rt.state = ServiceState::Failed(reason);
                    Vec::new()
                }
            },
            EventKind::Destroy => vec![Action::Resync],
            EventKind::Oom => {
                rt.oom = true;
                tracing::warn!(project = %event.project, service = %event.service, "{}/{}: container {} ran out of memory", event.project, event.service, tracked.name);
                Vec::new()
            }
            EventKind::Other(_) => Vec::new(),
        }
    }

    /// An operator's restart: the running containers of one service, or of all, that composed is
    /// about to stop. Their deaths are expected (supervision stays out) and explained.
    pub fn expect_operator_stop(&mut self, service: Option<&str>) {
        for (name, rt) in self.services.iter_mut() {
            if service.is_some_and(|only| only != name) {
                continue;
            }
            rt.next_exit_reason = Some("restarted by an operator".to_string());
            for t in rt.containers.values().filter(|t| t.started.is_some()) {
                *self.expected_dies.entry(t.id.clone()).or_default() += 1;
            }
        }
    }

    /// Services that declared `restart: true` on `service`, with their containers.
    pub fn restart_dependents(&mut self, service: &str) -> Vec<(String, String, i64)> {
        let Some(project) = &self.project else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, s) in &project.services {
            if s.depends_on.get(service).is_some_and(|d| d.restart)
                && let Some(rt) = self.services.get_mut(name)
            {
                rt.next_exit_reason = Some(format!("stopped by composed: dependency `{service}` restarted"));
                let timeout = s
                    .stop_grace_period
                    .map_or(crate::spec::DEFAULT_STOP_TIMEOUT, |d| d.as_secs() as i64);
                for t in rt.containers.values() {
                    out.push((t.id.clone(), t.name.clone(), timeout));
                }
            }
        }
        for (id, _, _) in &out {
            *self.expected_dies.entry(id.clone()).or_default() += 1;
        }
        out
    }
}

/// Why a container stopped, from its exit code alone.
fn exit_reason(code: i64) -> String {
    match code {
        0 => "exited normally".to_string(),
        137 => "killed (SIGKILL)".to_string(),
        143 => "terminated (SIGTERM)".to_string(),
        129..=192 => format!("killed by signal {}", code - 128),
        _ => format!("exited with code {code}"),
    }
}

fn from_observed(observed: &Observed, service: &str, has_healthcheck: bool) -> ServiceState {
    let mine: Vec<_> = observed.containers.iter().filter(|c| c.service == service).collect();
    if mine.iter().any(|c| c.health == Some(Health::Unhealthy)) {
        return ServiceState::Unhealthy;
    }
    if !mine.is_empty() && mine.iter().all(|c| c.state == ContainerState::Running) {
        if !has_healthcheck {
            return ServiceState::Running;
        }
        if mine.iter().all(|c| c.health == Some(Health::Healthy)) {
            return ServiceState::Healthy;
        }
        return ServiceState::Starting;
    }
    ServiceState::Starting
}

/// A hash of the inputs' contents and of the file names in the watched directories (a new
/// override file or `.env` changes it even though it was not an input before).
fn fingerprint(inputs: &[PathBuf], watched: &[PathBuf]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in inputs {
        p.hash(&mut h);
        std::fs::read(p).ok().hash(&mut h);
    }
    for dir in watched {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names.hash(&mut h);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_and_states_read_well() {
        assert_eq!(ordinal(1), "1st");
        assert_eq!(ordinal(3), "3rd");
        assert_eq!(ordinal(12), "12th");
        let s = ServiceState::Restarting {
            attempt: 3,
            delay: Duration::from_secs(4),
        };
        assert_eq!(s.to_string(), "restarting (3rd, next in 4s)");
    }
}
