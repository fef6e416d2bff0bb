//! One managed project inside the daemon: its last good configuration and where each of its
//! services stands (the one place the status line and the D-Bus API are read from). Supervision
//! decisions on engine events are in [`super::supervision`]. No I/O here but reading the
//! project's own files.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::holds::Holds;
use super::sources::Source;
use super::supervision::{ServiceRuntime, Tracked};
use crate::execute::Report;
use crate::load;
use crate::model::{Project, Service};
use crate::observed::{ContainerState, Health, ObservedContainer};
use crate::state::{ProjectState, ProjectStatus, Reason, ServiceState, ServiceStatus};
use crate::supervise::backoff::Backoff;

/// Where a caller waits for the outcome of what it asked.
pub type Reply = tokio::sync::oneshot::Sender<Result<String, String>>;

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
    /// The last good configuration.
    pub project: Option<Project>,
    /// The first line of the located first error of a refused edit.
    pub config_error: Option<String>,
    pub inputs: Vec<PathBuf>,
    fingerprint: u64,
    pub services: BTreeMap<String, ServiceRuntime>,
    pub first_apply_done: bool,
    /// What an operator stopped.
    pub holds: Holds,
    /// Deaths composed causes itself (operator restarts, restarts of dependents), by container
    /// id: supervision leaves them alone.
    pub expected_dies: HashMap<String, u32>,
    /// Services whose edit was rolled back: the configuration refused and why. They keep their
    /// previous containers until the file gives them another configuration.
    pub refused: BTreeMap<String, (Service, Reason)>,
    /// Each service's configuration as last applied: what a pinned service still runs.
    applied: BTreeMap<String, Service>,
    /// Containers died while a reconcile ran (supervision left them to it): start them after.
    pub deaths_during_reconcile: bool,
    /// Retries of a reconcile that left services failed, with backoff.
    pub retry: Backoff,
    pub retry_due: bool,
}

/// Where a refused file's first error is, and nothing of what it says: the message may quote
/// the file (a password written in the wrong place), and STATUS and the D-Bus API are readable
/// by other users. The journal has the whole message.
fn public_location(d: &crate::diag::Diagnostic) -> String {
    d.loc
        .as_ref()
        .map_or_else(|| "the compose files".to_string(), ToString::to_string)
}

impl ProjectRuntime {
    pub fn new(source: Source, holds: Holds) -> Self {
        ProjectRuntime {
            source,
            project: None,
            config_error: None,
            inputs: Vec::new(),
            fingerprint: 0,
            services: BTreeMap::new(),
            first_apply_done: false,
            holds,
            expected_dies: HashMap::new(),
            refused: BTreeMap::new(),
            applied: BTreeMap::new(),
            deaths_during_reconcile: false,
            retry: Backoff::new(Duration::from_secs(1), Duration::from_secs(60), Duration::MAX),
            retry_due: false,
        }
    }

    pub fn name(&self) -> &str {
        &self.source.name
    }

    /// Services whose edit was rolled back and whose configuration is still the refused one.
    pub fn pinned(&self) -> BTreeSet<String> {
        self.refused.keys().cloned().collect()
    }

    /// An apply's outcome: rolled back services are pinned to their previous containers; the
    /// others now run their configuration.
    pub fn record_rollbacks(&mut self, report: &Report) {
        let Some(project) = &self.project else { return };
        for (service, config) in &project.services {
            match report.rolled_back.get(service) {
                Some(reason) => {
                    self.refused.insert(service.clone(), (config.clone(), reason.clone()));
                }
                None if !self.refused.contains_key(service) => {
                    self.applied.insert(service.clone(), config.clone());
                }
                None => {}
            }
        }
    }

    /// Every held service, for [`crate::plan::Plan::leave_alone`].
    pub fn held_services(&self) -> BTreeSet<String> {
        self.services.keys().filter(|s| self.holds.holds(s)).cloned().collect()
    }

    /// Reads the project's files; keeps the last good configuration when they are bad.
    pub fn reload(&mut self) -> Reload {
        self.apply_load(load::load(&self.source.options))
    }

    /// Takes a load of the project's files (made off the daemon loop); keeps the last good
    /// configuration when they are bad.
    pub fn apply_load(&mut self, result: Result<load::Loaded, load::Failed>) -> Reload {
        let inputs = match &result {
            Ok(l) => l.inputs.clone(),
            Err(f) => f.inputs.clone(),
        };
        let fingerprint = fingerprint(&inputs, &self.source.watch);
        if fingerprint == self.fingerprint && self.project.is_some() && self.config_error.is_none() {
            return Reload::Unchanged;
        }
        self.inputs = inputs.clone();
        // The loader refuses input files others could change (`crate::input`).
        let mut errors: Vec<String> = Vec::new();
        let mut located = None;
        let loaded = match result {
            Ok(l) => {
                for w in &l.warnings {
                    tracing::warn!(project = %self.source.name, "{}: {w}", self.source.name);
                }
                Some(l.project)
            }
            Err(f) => {
                located = f.errors().next().map(public_location);
                errors.extend(f.errors().map(ToString::to_string));
                None
            }
        };
        self.fingerprint = fingerprint;
        match loaded {
            Some(project) if errors.is_empty() => {
                self.config_error = None;
                let changed = self.project.as_ref() != Some(&project);
                self.adopt_config(project);
                if changed { Reload::Changed } else { Reload::Unchanged }
            }
            _ => {
                self.config_error = Some(located.unwrap_or_else(|| "the compose files".to_string()));
                Reload::Refused(errors)
            }
        }
    }

    /// Takes a configuration without reading files (supervision's unit tests).
    #[cfg(test)]
    pub fn adopt_for_test(&mut self, project: Project) {
        self.adopt_config(project);
    }

    fn adopt_config(&mut self, project: Project) {
        // A refused edit stays refused only as long as the file still says the same thing.
        self.refused
            .retain(|name, (config, _)| project.services.get(name) == Some(&*config));
        let mut services = BTreeMap::new();
        for (name, s) in &project.services {
            let mut rt = self.services.remove(name).unwrap_or_else(|| ServiceRuntime::new(s));
            rt.configure(s);
            services.insert(name.clone(), rt);
        }
        self.services = services;
        self.project = Some(project);
    }

    /// After an apply: what the engine now has and how each service came out.
    pub fn applied(&mut self, report: Option<&Report>, containers: &[ObservedContainer]) {
        self.first_apply_done = true;
        for (name, rt) in self.services.iter_mut() {
            rt.containers.clear();
            for c in containers.iter().filter(|c| &c.service == name) {
                let started = (c.state == ContainerState::Running).then(Instant::now);
                let tracked = Tracked {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    started,
                };
                rt.containers.insert(c.number, tracked);
            }
            rt.state = match report.and_then(|r| r.services.get(name)) {
                Some(ServiceState::Pending) | None => from_observed(containers, name, rt.has_healthcheck),
                Some(state) => state.clone(),
            };
            let running = containers
                .iter()
                .any(|c| &c.service == name && c.state == ContainerState::Running);
            if !running && self.holds.holds(name) {
                rt.state = ServiceState::Stopped;
            }
        }
    }

    /// Ready: every service ready (see [`ServiceState::is_ready`]) after the first apply.
    pub fn ready(&self) -> bool {
        self.first_apply_done && self.services.values().all(ServiceRuntime::ready)
    }

    /// The first reason the project cannot become ready, if it cannot.
    pub fn failure(&self) -> Option<String> {
        self.services
            .iter()
            .find_map(|(name, s)| s.state.failure().map(|why| format!("{name} {why}")))
    }

    /// One line for systemd's STATUS.
    pub fn status_line(&self) -> String {
        let name = self.name();
        if let Some(err) = &self.config_error {
            let what = match self.project {
                Some(_) => "running last good config",
                None => "nothing running",
            };
            return format!("{name}: config error at {err}; {what}");
        }
        if self.holds.project {
            return format!("{name}: stopped (composectl start {name})");
        }
        if let Some((service, s)) = self.services.iter().find(|(_, s)| s.state.is_trouble()) {
            return format!("{name}: {service} {}", s.state);
        }
        if let Some((service, (_, reason))) = self.refused.iter().next() {
            let ready = self.services.values().filter(|s| s.ready()).count();
            let total = self.services.len();
            return format!(
                "{name}: {ready}/{total} ready; {service} rolled back: {}",
                reason.public
            );
        }
        let total = self.services.len();
        let stopped = self
            .services
            .values()
            .filter(|s| s.state == ServiceState::Stopped)
            .count();
        let ready = self.services.values().filter(|s| s.ready()).count() - stopped;
        let stopped = match stopped {
            0 => String::new(),
            n => format!(", {n} stopped"),
        };
        match self.first_apply_done {
            false => format!("{name}: starting, {ready}/{total} ready{stopped}"),
            true => format!("{name}: {ready}/{total} ready{stopped}"),
        }
    }

    /// The project as the API shows it.
    pub fn status(&self) -> ProjectStatus {
        let state = if self.project.is_none() {
            ProjectState::ConfigError
        } else if self.holds.project {
            ProjectState::Stopped
        } else if !self.refused.is_empty() {
            ProjectState::Degraded
        } else if self.ready() {
            ProjectState::Ready
        } else if !self.first_apply_done || self.failure().is_none() {
            ProjectState::Starting
        } else {
            ProjectState::Degraded
        };
        ProjectStatus {
            name: self.name().to_string(),
            state,
            status: self.status_line(),
            config_error: self.config_error.clone(),
            files: self.inputs.iter().map(|p| p.display().to_string()).collect(),
            services: self.services.len() as u32,
            ready_services: self.services.values().filter(|s| s.ready()).count() as u32,
        }
    }

    /// The configuration a service's containers run: what was applied before a refused edit
    /// for a pinned service, else the file's.
    pub fn running_config(&self, name: &str) -> Option<&Service> {
        match self.refused.contains_key(name) {
            true => self.applied.get(name),
            false => self.project.as_ref()?.services.get(name),
        }
    }

    /// Each service as the API shows it.
    pub fn service_statuses(&self) -> Vec<ServiceStatus> {
        let Some(project) = &self.project else {
            return Vec::new();
        };
        self.services
            .iter()
            .map(|(name, rt)| {
                let config = self.running_config(name);
                ServiceStatus {
                    project: self.name().to_string(),
                    service: name.clone(),
                    state: rt.state.clone(),
                    has_healthcheck: rt.has_healthcheck,
                    ready: rt.ready(),
                    restarts: rt.restarts,
                    last_exit: rt.last_exit,
                    last_exit_reason: rt.last_exit_reason.clone(),
                    container_id: rt.containers.values().next().map(|t| t.id.clone()),
                    containers: rt.containers.len() as u32,
                    image: config
                        .map(|s| crate::identity::image_name(project, s))
                        .unwrap_or_default(),
                    ports: config.map(|s| s.ports.clone()).unwrap_or_default(),
                    rollback: self.refused.get(name).map(|(_, reason)| reason.public.clone()),
                }
            })
            .collect()
    }
}

fn from_observed(containers: &[ObservedContainer], service: &str, has_healthcheck: bool) -> ServiceState {
    let mine: Vec<_> = containers.iter().filter(|c| c.service == service).collect();
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
