//! The executor: runs a [`Plan`] against the engine, and `down`.
//!
//! Every service runs as its own task as soon as its dependencies' `depends_on` conditions hold,
//! so services with no path between them in the dependency graph proceed in parallel. Conditions
//! are decided from the engine's event stream (start, die, health_status), subscribed from a time
//! before the first action, never by polling. A failing service fails itself and the services
//! that require it, with the reason, and leaves the rest running. A recreate keeps the old
//! container (renamed) until the new one is created, and restores it if the create fails.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use futures_util::future::join_all;
use tokio::sync::watch;

use crate::engine::events::EventKind;
use crate::engine::{Engine, EngineError};
use crate::model::{Condition, Project};
use crate::observed::{ContainerState, Health, Observed};
use crate::plan::{ContainerStep, ImageStep, Plan, ServiceStep, Wait};

/// Where a service stands during and after an apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Pending,
    Started,
    Healthy,
    Unhealthy,
    Exited(i64),
    Failed(String),
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Pending => write!(f, "pending"),
            Status::Started => write!(f, "running"),
            Status::Healthy => write!(f, "healthy"),
            Status::Unhealthy => write!(f, "unhealthy"),
            Status::Exited(code) => write!(f, "exited ({code})"),
            Status::Failed(reason) => write!(f, "failed: {reason}"),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Also wait until every service is ready: healthy where it has a healthcheck, running
    /// otherwise, exited 0 for one-shot services.
    pub wait: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub services: BTreeMap<String, Status>,
    /// Problems outside any one service (networks, volumes, removals).
    pub errors: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
            && self
                .services
                .values()
                .all(|s| !matches!(s, Status::Failed(_) | Status::Unhealthy | Status::Pending))
    }
}

/// A progress line: (subject, what happened).
pub type Progress<'a> = &'a (dyn Fn(&str, &str) + Sync);

#[derive(Debug, Clone, Default)]
struct ContainerTrack {
    id: String,
    running: bool,
    health: Option<Health>,
    exited: Option<i64>,
}

#[derive(Debug, Clone, Default)]
struct ServiceTrack {
    has_healthcheck: bool,
    containers: HashMap<u32, ContainerTrack>,
    failed: Option<String>,
    started: bool,
}

impl ServiceTrack {
    fn status(&self) -> Status {
        if let Some(reason) = &self.failed {
            return Status::Failed(reason.clone());
        }
        if !self.started {
            return Status::Pending;
        }
        let cs: Vec<&ContainerTrack> = self.containers.values().collect();
        if !cs.is_empty() && cs.iter().all(|c| c.exited.is_some() && !c.running) {
            return Status::Exited(cs.iter().filter_map(|c| c.exited).max().unwrap_or(0));
        }
        if cs.iter().any(|c| c.health == Some(Health::Unhealthy)) {
            return Status::Unhealthy;
        }
        if self.has_healthcheck && !cs.is_empty() && cs.iter().all(|c| c.health == Some(Health::Healthy)) {
            return Status::Healthy;
        }
        Status::Started
    }
}

/// Shared between the service tasks and the event task; every change bumps the watch.
struct Tracker {
    services: Mutex<HashMap<String, ServiceTrack>>,
    changed: watch::Sender<u64>,
}

impl Tracker {
    fn update(&self, service: &str, f: impl FnOnce(&mut ServiceTrack)) {
        if let Ok(mut map) = self.services.lock() {
            f(map.entry(service.to_string()).or_default());
        }
        self.changed.send_modify(|v| *v += 1);
    }

    fn status(&self, service: &str) -> Status {
        self.services
            .lock()
            .ok()
            .and_then(|m| m.get(service).map(ServiceTrack::status))
            .unwrap_or(Status::Pending)
    }

    fn has_healthcheck(&self, service: &str) -> bool {
        self.services
            .lock()
            .ok()
            .and_then(|m| m.get(service).map(|s| s.has_healthcheck))
            .unwrap_or(false)
    }

    fn fail(&self, service: &str, reason: String) {
        self.update(service, |s| s.failed = Some(reason));
    }
}

struct Run<'a> {
    engine: &'a Engine,
    project: &'a Project,
    tracker: Arc<Tracker>,
    progress: Progress<'a>,
}

/// Applies `plan`. `observed` is the state it was made from (for the health of kept containers).
pub async fn apply(
    engine: &Engine,
    project: &Project,
    observed: &Observed,
    plan: Plan,
    options: Options,
    progress: Progress<'_>,
) -> Report {
    let since = now_secs() - 1;
    let (changed, _) = watch::channel(0u64);
    let tracker = Arc::new(Tracker {
        services: Mutex::new(HashMap::new()),
        changed,
    });
    for (name, service) in &project.services {
        let has_healthcheck = service
            .healthcheck
            .as_ref()
            .is_some_and(|h| !h.disable && !h.test.is_empty() && h.test.first().map(String::as_str) != Some("NONE"));
        tracker.update(name, |s| s.has_healthcheck = has_healthcheck);
    }
    for c in &observed.containers {
        tracker.update(&c.service, |s| {
            s.containers.insert(
                c.number,
                ContainerTrack {
                    id: c.id.clone(),
                    running: c.state == ContainerState::Running,
                    health: c.health,
                    exited: None,
                },
            );
        });
    }

    // Follow the engine's events for the whole run.
    let events = {
        let tracker = tracker.clone();
        let stream = engine.container_events(&project.name, since);
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                let Ok(event) = event else { break };
                tracker.update(&event.service, |s| {
                    let Some(c) = s.containers.get_mut(&event.number).filter(|c| c.id == event.id) else {
                        return;
                    };
                    match event.kind {
                        EventKind::Start => {
                            c.running = true;
                            c.exited = None;
                        }
                        EventKind::Die { exit_code } => {
                            c.running = false;
                            c.exited = Some(exit_code);
                        }
                        EventKind::Healthy => c.health = Some(Health::Healthy),
                        EventKind::Unhealthy => c.health = Some(Health::Unhealthy),
                        _ => {}
                    }
                });
            }
        })
    };

    let run = Run {
        engine,
        project,
        tracker: tracker.clone(),
        progress,
    };
    let mut report = Report::default();
    let (created, removed) = run.prepare(&plan).await;
    if let Some(first) = created.first() {
        for s in &plan.services {
            tracker.fail(
                &s.service,
                format!("the project's networks or volumes could not be created: {first}"),
            );
        }
    }
    report.errors.extend(created);
    report.errors.extend(removed);
    join_all(plan.services.iter().map(|step| run.service(step))).await;
    if options.wait {
        join_all(plan.services.iter().map(|step| run.ready(&step.service))).await;
    }
    events.abort();
    for step in &plan.services {
        report
            .services
            .insert(step.service.clone(), tracker.status(&step.service));
    }
    report
}

impl Run<'_> {
    /// Networks, volumes, then removals (orphans, duplicates, scaled-down replicas). Returns the
    /// errors of each part: a missing network fails the services, a failed removal does not.
    async fn prepare(&self, plan: &Plan) -> (Vec<String>, Vec<String>) {
        let mut errors = Vec::new();
        let networks = plan.networks.iter().map(|n| async move {
            let r = self
                .engine
                .create_network(self.project, &n.key, &self.project.networks[&n.key])
                .await;
            (self.progress)(&format!("network {}", n.name), "created");
            r
        });
        let volumes = plan.volumes.iter().map(|v| async move {
            let r = self
                .engine
                .create_volume(self.project, &v.key, &self.project.volumes[&v.key])
                .await;
            (self.progress)(&format!("volume {}", v.name), "created");
            r
        });
        let (n, v) = tokio::join!(join_all(networks), join_all(volumes));
        errors.extend(n.into_iter().chain(v).filter_map(Result::err).map(|e| e.to_string()));
        let removals = plan.removals.iter().map(|r| async move {
            self.engine.stop_container(&r.id, &r.name, r.stop_timeout).await?;
            self.engine.remove_container(&r.id, &r.name).await?;
            (self.progress)(&r.name, &format!("removed ({})", r.reason));
            Ok::<(), EngineError>(())
        });
        let removal_errors = join_all(removals)
            .await
            .into_iter()
            .filter_map(Result::err)
            .map(|e| e.to_string());
        (errors, removal_errors.collect())
    }

    async fn service(&self, step: &ServiceStep) {
        let name = &step.service;
        if let Some(error) = &step.error {
            self.tracker.fail(name, error.clone());
            return;
        }
        for wait in &step.after {
            if let Err(reason) = self.wait_for(wait).await {
                if wait.required {
                    let reason = format!("dependency `{}` {reason}", wait.service);
                    (self.progress)(name, &format!("failed: {reason}"));
                    self.tracker.fail(name, reason);
                    return;
                }
                (self.progress)(
                    name,
                    &format!("optional dependency `{}` {reason}; going on", wait.service),
                );
            }
        }
        let image = match &step.image {
            ImageStep::Present(_) => Ok(()),
            ImageStep::Pull(image) => {
                (self.progress)(name, &format!("pulling {image}"));
                self.engine.pull(image).await
            }
            ImageStep::Build(image) => {
                (self.progress)(name, &format!("building {image}"));
                self.engine.build(self.project, &self.project.services[name]).await
            }
            ImageStep::Missing(image) => Err(EngineError::Refused(format!(
                "image {image} is not on this machine and pull_policy is `never`"
            ))),
        };
        if let Err(e) = image {
            (self.progress)(name, &format!("failed: {e}"));
            self.tracker.fail(name, e.to_string());
            return;
        }
        let results = join_all(step.containers.iter().map(|c| self.container(name, c))).await;
        match results.into_iter().find_map(Result::err) {
            Some(e) => {
                (self.progress)(name, &format!("failed: {e}"));
                self.tracker.fail(name, e.to_string());
            }
            None => self.tracker.update(name, |s| s.started = true),
        }
    }

    fn track(&self, service: &str, number: u32, id: &str) {
        self.tracker.update(service, |s| {
            s.containers.insert(
                number,
                ContainerTrack {
                    id: id.to_string(),
                    ..ContainerTrack::default()
                },
            );
        });
    }

    async fn container(&self, service: &str, step: &ContainerStep) -> Result<(), EngineError> {
        let e = self.engine;
        match step {
            ContainerStep::Keep { .. } => Ok(()),
            ContainerStep::Start { id, name } => {
                let number = self.number_of(service, id);
                self.track(service, number, id);
                e.start_container(id, name).await?;
                (self.progress)(name, "started");
                Ok(())
            }
            ContainerStep::Create { spec } => {
                let id = e.create_container(spec).await?;
                self.track(service, spec.number, &id);
                e.start_container(&id, &spec.name).await?;
                (self.progress)(&spec.name, "created and started");
                Ok(())
            }
            ContainerStep::Recreate {
                old_id,
                old_name,
                spec,
                reason,
            } => {
                let parked = format!("{}_{}", &old_id[..old_id.len().min(12)], spec.name);
                // An interrupted run may have parked it already.
                if *old_name != parked {
                    e.rename_container(old_id, &parked).await?;
                }
                let id = match e.create_container(spec).await {
                    Ok(id) => id,
                    Err(err) => {
                        // Keep the old container serving under its own name.
                        let _ = e.rename_container(old_id, old_name).await;
                        return Err(err);
                    }
                };
                self.track(service, spec.number, &id);
                e.stop_container(old_id, &parked, spec.stop_timeout).await?;
                e.remove_container(old_id, &parked).await?;
                e.start_container(&id, &spec.name).await?;
                (self.progress)(&spec.name, &format!("recreated ({reason})"));
                Ok(())
            }
            ContainerStep::Restart { id, name, reason } => {
                let number = self.number_of(service, id);
                self.track(service, number, id);
                let timeout = self.project.services[service]
                    .stop_grace_period
                    .map_or(crate::spec::DEFAULT_STOP_TIMEOUT, |d| d.as_secs() as i64);
                e.stop_container(id, name, timeout).await?;
                e.start_container(id, name).await?;
                (self.progress)(name, &format!("restarted ({reason})"));
                Ok(())
            }
        }
    }

    fn number_of(&self, service: &str, id: &str) -> u32 {
        self.tracker
            .services
            .lock()
            .ok()
            .and_then(|m| {
                m.get(service)
                    .and_then(|s| s.containers.iter().find(|(_, c)| c.id == id).map(|(n, _)| *n))
            })
            .unwrap_or(1)
    }

    /// Waits until `wait`'s condition holds (Ok) or can no longer hold (Err with the reason).
    async fn wait_for(&self, wait: &Wait) -> Result<(), String> {
        let mut rx = self.tracker.changed.subscribe();
        loop {
            let status = self.tracker.status(&wait.service);
            let decided = match (wait.condition, &status) {
                (_, Status::Failed(reason)) => Some(Err(format!("failed: {reason}"))),
                (_, Status::Pending) => None,
                (Condition::ServiceStarted, _) => Some(Ok(())),
                (Condition::ServiceHealthy, Status::Healthy) => Some(Ok(())),
                (Condition::ServiceHealthy, _) if !self.tracker.has_healthcheck(&wait.service) => Some(Err(
                    "has no healthcheck, so it can never be `service_healthy`".to_string(),
                )),
                (Condition::ServiceHealthy, Status::Unhealthy) => Some(Err("is unhealthy".to_string())),
                (Condition::ServiceHealthy, Status::Exited(code)) => Some(Err(format!("exited with code {code}"))),
                (Condition::ServiceHealthy, _) => None,
                (Condition::ServiceCompletedSuccessfully, Status::Exited(0)) => Some(Ok(())),
                (Condition::ServiceCompletedSuccessfully, Status::Exited(code)) => {
                    Some(Err(format!("exited with code {code}")))
                }
                (Condition::ServiceCompletedSuccessfully, _) => None,
            };
            if let Some(result) = decided {
                return result;
            }
            if rx.changed().await.is_err() {
                return Err("could not be followed (the engine's event stream ended)".to_string());
            }
        }
    }

    /// `--wait`: until the service is ready, or cannot become so.
    async fn ready(&self, service: &str) {
        let mut rx = self.tracker.changed.subscribe();
        loop {
            let status = self.tracker.status(service);
            let has_hc = self.tracker.has_healthcheck(service);
            match status {
                Status::Failed(_) | Status::Unhealthy | Status::Healthy | Status::Exited(_) => return,
                Status::Started if !has_hc => return,
                _ => {}
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}

/// What `down` did.
#[derive(Debug, Clone, Default)]
pub struct DownReport {
    pub removed_containers: Vec<String>,
    pub removed_networks: Vec<String>,
    pub removed_volumes: Vec<String>,
    pub errors: Vec<String>,
}

/// Stops and removes the project's containers (dependents before their dependencies, independent
/// ones in parallel) and its networks. Volumes are removed only when `remove_volumes` is set, and
/// then only the project's own: declared in the file, not external, and carrying this project's
/// label. A pre-existing volume referenced with `name:` is never removed.
pub async fn down(
    engine: &Engine,
    project: &Project,
    observed: &Observed,
    remove_volumes: bool,
    progress: Progress<'_>,
) -> DownReport {
    let mut report = DownReport::default();
    let (removed, errors) = stop_in_order(engine, project, observed, None, true, progress).await;
    report.removed_containers = removed;
    report.errors = errors;
    for net in project.networks.values().filter(|n| !n.external) {
        let ours = observed
            .networks
            .get(&net.name)
            .is_some_and(|o| o.project.as_deref() == Some(&project.name));
        if ours {
            match engine.remove_network(&net.name).await {
                Ok(()) => {
                    progress(&format!("network {}", net.name), "removed");
                    report.removed_networks.push(net.name.clone());
                }
                Err(e) => report.errors.push(e.to_string()),
            }
        }
    }
    if remove_volumes {
        for vol in project.volumes.values().filter(|v| !v.external) {
            let ours = observed
                .volumes
                .get(&vol.name)
                .is_some_and(|o| o.project.as_deref() == Some(&project.name));
            if !ours {
                if observed.volumes.contains_key(&vol.name) {
                    progress(&format!("volume {}", vol.name), "kept (not created by this project)");
                }
                continue;
            }
            match engine.remove_volume(&vol.name).await {
                Ok(()) => {
                    progress(&format!("volume {}", vol.name), "removed");
                    report.removed_volumes.push(vol.name.clone());
                }
                Err(e) => report.errors.push(e.to_string()),
            }
        }
    }
    report
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Stops the project's containers, or one service's, dependents before their dependencies, and
/// keeps them (`composectl stop`). Returns the errors.
pub async fn stop(
    engine: &Engine,
    project: &Project,
    observed: &Observed,
    only: Option<&str>,
    progress: Progress<'_>,
) -> Vec<String> {
    stop_in_order(engine, project, observed, only, false, progress).await.1
}

/// Stops (and with `remove`, removes) containers level by level: level 0 is the services nothing
/// depends on (and orphans), each level after the one before, a level's containers in parallel.
/// Returns the names done and the errors.
async fn stop_in_order(
    engine: &Engine,
    project: &Project,
    observed: &Observed,
    only: Option<&str>,
    remove: bool,
    progress: Progress<'_>,
) -> (Vec<String>, Vec<String>) {
    let (mut done, mut errors) = (Vec::new(), Vec::new());
    let mut level: HashMap<&str, usize> = HashMap::new();
    let order = project.start_order();
    for name in order.iter().rev() {
        let dependents_level = project
            .services
            .values()
            .filter(|s| s.depends_on.contains_key(*name))
            .filter_map(|s| level.get(s.name.as_str()).copied())
            .max();
        level.insert(name, dependents_level.map_or(0, |l| l + 1));
    }
    let max_level = level.values().copied().max().unwrap_or(0);
    for l in 0..=max_level {
        let batch = observed
            .containers
            .iter()
            .filter(|c| only.is_none_or(|s| s == c.service))
            .filter(|c| level.get(c.service.as_str()).copied().unwrap_or(0) == l);
        let results = join_all(batch.map(|c| async move {
            let timeout = project
                .services
                .get(&c.service)
                .and_then(|s| s.stop_grace_period)
                .map_or(crate::spec::DEFAULT_STOP_TIMEOUT, |d| d.as_secs() as i64);
            engine.stop_container(&c.id, &c.name, timeout).await?;
            if remove {
                engine.remove_container(&c.id, &c.name).await?;
            }
            progress(&c.name, if remove { "removed" } else { "stopped" });
            Ok::<String, EngineError>(c.name.clone())
        }))
        .await;
        for r in results {
            match r {
                Ok(name) => done.push(name),
                Err(e) => errors.push(e.to_string()),
            }
        }
    }
    (done, errors)
}
