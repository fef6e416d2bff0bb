//! The executor: runs a [`Plan`] against an [`Engine`], and `down` and `stop`.
//!
//! Every service runs as its own task as soon as its dependencies' `depends_on` conditions hold,
//! so services with no path between them in the dependency graph proceed in parallel. Conditions
//! are decided from the engine's event stream (start, die, health_status), subscribed from a time
//! before the first action, never by polling. A failing service fails itself and the services
//! that require it, with the reason, and leaves the rest running. A recreate keeps the old
//! container (renamed aside) until the new one is created, and restores it if the create fails.
//!
//! [`reconcile_once`] is the one observe → plan → apply pass that `composed up` and the daemon
//! share.

pub mod lifecycle;
mod rollback;
mod stop;
#[cfg(test)]
mod tests;
mod tracker;

use std::collections::{BTreeMap, BTreeSet};

use futures_util::StreamExt;
use futures_util::future::join_all;

use crate::engine::{Engine, EngineError, EventScope};
use crate::model::{Condition, Project};
use crate::observed::{Observed, ObservedContainer};
use crate::plan::{ContainerStep, ImageStep, Plan, ServiceStep, Wait};
use crate::spec::ContainerSpec;
use crate::state::{Reason, ServiceState};
use rollback::StepError;
pub use stop::{DownReport, down, stop, stop_levels};
use tracker::Tracker;

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Also wait until every service is ready: healthy where it has a healthcheck, running
    /// otherwise, exited 0 for one-shot services.
    pub wait: bool,
    /// A recreate keeps the old container until the new one proved itself, and puts it back
    /// when it did not (see `rollback.rs`); a failed pull or build leaves the old ones running.
    pub rollback: bool,
}

/// How an apply came out.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub services: BTreeMap<String, ServiceState>,
    /// Services whose edit was refused, and why: they run their previous containers.
    pub rolled_back: BTreeMap<String, Reason>,
    /// Why each failed service failed, in full (the state carries only the public words).
    pub failures: BTreeMap<String, Reason>,
    /// Problems outside any one service (networks, volumes, removals).
    pub errors: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
            && self.services.values().all(|s| {
                !matches!(
                    s,
                    ServiceState::Failed(_) | ServiceState::Unhealthy | ServiceState::Pending
                )
            })
    }
}

/// A progress line: (subject, what happened).
pub type Progress<'a> = &'a (dyn Fn(&str, &str) + Sync);

/// What one reconcile pass is asked to do.
#[derive(Debug, Clone, Default)]
pub struct Pass {
    /// Start containers that exited (as `up` does); without it the daemon leaves them to
    /// supervision.
    pub start_exited: bool,
    /// Services an operator stopped: their containers stay as they are.
    pub held: BTreeSet<String>,
    /// Services whose edit was rolled back: they keep their containers until the file changes.
    pub pinned: BTreeSet<String>,
    /// Follow the services until they are ready (or cannot be). With `start_exited` too, this
    /// happens even when nothing changes, so the report says where each service stands.
    pub wait: bool,
    /// Recreates prove themselves and are undone when they fail ([`Options::rollback`]).
    pub rollback: bool,
    /// Check the engine's version before changing anything; the daemon does it whenever the
    /// engine (re)appears instead.
    pub check_engine: bool,
}

/// What a reconcile pass did.
#[derive(Debug, Clone)]
pub struct Reconciled {
    /// `None` when there was nothing to do (and no reason to wait).
    pub report: Option<Report>,
    /// The project's containers afterwards.
    pub containers: Vec<ObservedContainer>,
}

/// Observe, plan, apply, list the containers again: one reconcile of `project`. `on_plan` sees the plan
/// before anything is done (the daemon extends systemd's timeout for pulls and builds).
pub async fn reconcile_once<E: Engine>(
    engine: &E,
    project: &Project,
    pass: &Pass,
    on_plan: impl FnOnce(&Plan),
    progress: Progress<'_>,
) -> Result<Reconciled, EngineError> {
    let mut observed = engine.observe(&project.name).await?;
    observed.stale_images = refresh_due(engine, project, &observed).await;
    let mut plan = crate::plan::plan_with(project, &observed, pass.start_exited);
    plan.pin(&pass.pinned, &observed);
    plan.leave_alone(&pass.held);
    if plan.is_noop() && !(pass.wait && pass.start_exited) {
        return Ok(Reconciled {
            report: None,
            containers: observed.containers,
        });
    }
    on_plan(&plan);
    if pass.check_engine && !plan.is_noop() {
        engine.check_version().await?;
    }
    let options = Options {
        wait: pass.wait,
        rollback: pass.rollback,
    };
    apply(engine, project, &observed, plan, options, progress).await
}

/// The images of `pull_policy: daily|weekly|every_<d>` services that are on the engine but were
/// last tagged (pulled) longer ago than that: due a pull, as compose decides it. An image whose
/// tag time the engine does not give is left alone.
pub async fn refresh_due<E: Engine>(engine: &E, project: &Project, observed: &Observed) -> BTreeSet<String> {
    let now = crate::clock::unix_micros() as i64 / 1_000_000;
    let mut due = BTreeSet::new();
    for service in project.services.values() {
        let Some(crate::model::PullPolicy::Refresh { every: Some(every), .. }) = &service.pull_policy else {
            continue;
        };
        let image = crate::identity::normalise_image(&crate::identity::image_name(project, service));
        if !observed.images.contains_key(&image) {
            continue;
        }
        let tagged = engine.image_tagged_at(&image).await.ok().flatten();
        if tagged.is_some_and(|t| now - t > every.as_secs() as i64) {
            due.insert(image);
        }
    }
    due
}

/// What an image step failing means, in composed's words.
fn image_words(step: &ImageStep) -> &'static str {
    match step {
        ImageStep::Build(_) => "its image could not be built",
        ImageStep::Missing(_) => "its image is not on this machine and pull_policy is never",
        ImageStep::Pull(_) | ImageStep::Present(_) => "its image could not be pulled",
    }
}

/// Applies `plan` and lists the project's containers as it leaves them. `observed` is the state
/// it was made from (for the health of kept containers).
pub async fn apply<E: Engine>(
    engine: &E,
    project: &Project,
    observed: &Observed,
    plan: Plan,
    options: Options,
    progress: Progress<'_>,
) -> Result<Reconciled, EngineError> {
    let since = crate::clock::engine_now();
    let healthchecks = project
        .services
        .iter()
        .map(|(name, s)| (name.clone(), s.has_healthcheck()));
    let tracker = std::sync::Arc::new(Tracker::new(healthchecks, observed));
    let events = follow_events(engine, &project.name, &since, tracker.clone());
    let run = Run {
        engine,
        project,
        tracker: tracker.clone(),
        progress,
        rollback: options.rollback,
        rolled_back: std::sync::Mutex::new(BTreeMap::new()),
    };
    let mut report = Report::default();
    let (created, removed) = run.prepare(&plan).await;
    if let Some(first) = created.first() {
        for s in &plan.services {
            let reason = Reason::new("the project's networks or volumes could not be created", first);
            tracker.fail(&s.service, reason);
        }
    }
    report.errors.extend(created);
    report.errors.extend(removed);
    join_all(plan.services.iter().map(|step| run.service(step))).await;
    let containers = run.list_while_waiting(&plan, options.wait).await;
    events.abort();
    for step in &plan.services {
        report
            .services
            .insert(step.service.clone(), tracker.state(&step.service));
        if let Some(reason) = tracker.failure(&step.service) {
            report.failures.insert(step.service.clone(), reason);
        }
    }
    report.rolled_back = run.rolled_back.into_inner().unwrap_or_default();
    Ok(Reconciled {
        report: Some(report),
        containers: containers?,
    })
}

/// Feeds the project's container events into the tracker for the whole apply.
fn follow_events<E: Engine>(
    engine: &E,
    project: &str,
    since: &str,
    tracker: std::sync::Arc<Tracker>,
) -> tokio::task::JoinHandle<()> {
    let mut stream = engine.events(EventScope::Project(project.to_string()), since);
    tokio::spawn(async move {
        while let Some(Ok(event)) = stream.next().await {
            tracker.on_event(&event);
        }
    })
}

struct Run<'a, E: Engine> {
    engine: &'a E,
    project: &'a Project,
    tracker: std::sync::Arc<Tracker>,
    progress: Progress<'a>,
    rollback: bool,
    rolled_back: std::sync::Mutex<BTreeMap<String, Reason>>,
}

impl<E: Engine> Run<'_, E> {
    /// Networks, volumes, then removals (orphans, duplicates, scaled-down replicas). Returns the
    /// errors of each part: a missing network fails the services, a failed removal does not.
    async fn prepare(&self, plan: &Plan) -> (Vec<String>, Vec<String>) {
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
        let errors = n.into_iter().chain(v).filter_map(Result::err).map(|e| e.to_string());
        let removals = plan.removals.iter().map(|r| async move {
            self.engine.stop_container(&r.id, &r.name, r.stop_timeout).await?;
            self.engine.remove_container(&r.id, &r.name).await?;
            (self.progress)(&r.name, &format!("removed ({})", r.reason));
            Ok::<(), EngineError>(())
        });
        let removal_errors = join_all(removals).await.into_iter().filter_map(Result::err);
        (errors.collect(), removal_errors.map(|e| e.to_string()).collect())
    }

    /// One service: wait for its dependencies, get its image, then its containers.
    async fn service(&self, step: &ServiceStep) {
        let name = &step.service;
        if let Some(error) = &step.error {
            self.tracker.fail(
                name,
                Reason::new("its configuration cannot be given to the engine", error),
            );
            return;
        }
        if let Err(reason) = self.dependencies(name, &step.after).await {
            (self.progress)(name, &format!("failed: {reason}"));
            self.tracker.fail(name, Reason::plain(reason));
            return;
        }
        let result = match self.image(name, &step.image).await {
            Ok(()) => self.containers(name, &step.containers).await,
            // An edit whose image cannot be had leaves the running containers alone.
            Err(e) if self.rollback && runs_already(&step.containers) => {
                Err(StepError::Kept(Reason::new(image_words(&step.image), e)))
            }
            Err(e) => Err(StepError::Failed(Reason::new(image_words(&step.image), e))),
        };
        match result {
            Ok(()) => self.tracker.started(name),
            Err(StepError::Kept(reason)) => {
                if let Ok(mut r) = self.rolled_back.lock() {
                    r.insert(name.clone(), reason);
                }
                self.tracker.started(name);
            }
            Err(StepError::Failed(reason)) => self.tracker.fail(name, reason),
        }
    }

    /// Every container step of a service; the first failure wins, then a refused edit.
    async fn containers(&self, name: &str, steps: &[ContainerStep]) -> Result<(), StepError> {
        let results = join_all(steps.iter().map(|c| self.container(name, c))).await;
        let mut kept = None;
        for r in results {
            match r {
                Ok(()) => {}
                Err(StepError::Failed(e)) => return Err(StepError::Failed(e)),
                Err(StepError::Kept(reason)) => kept = Some(reason),
            }
        }
        kept.map_or(Ok(()), |reason| Err(StepError::Kept(reason)))
    }

    /// Waits for every dependency; a required one that cannot hold fails the service.
    async fn dependencies(&self, name: &str, after: &[Wait]) -> Result<(), String> {
        for wait in after {
            if let Err(reason) = self.wait_for(wait).await {
                if wait.required {
                    return Err(format!("dependency `{}` {reason}", wait.service));
                }
                let note = format!("optional dependency `{}` {reason}; going on", wait.service);
                (self.progress)(name, &note);
            }
        }
        Ok(())
    }

    async fn image(&self, name: &str, step: &ImageStep) -> Result<(), EngineError> {
        match step {
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
        }
    }

    async fn container(&self, service: &str, step: &ContainerStep) -> Result<(), StepError> {
        let e = self.engine;
        match step {
            ContainerStep::Keep { .. } => Ok(()),
            ContainerStep::Start { id, name } => {
                let number = self.tracker.number_of(service, id);
                self.tracker.track(service, number, id);
                lifecycle::start(e, id, name, &self.project.services[service].post_start).await?;
                (self.progress)(name, "started");
                Ok(())
            }
            ContainerStep::Create { spec } => {
                let id = self.create(spec, None).await?;
                self.tracker.track(service, spec.number, &id);
                lifecycle::start(e, &id, &spec.name, &self.project.services[service].post_start).await?;
                (self.progress)(&spec.name, "created and started");
                Ok(())
            }
            ContainerStep::Recreate {
                old_id,
                old_name,
                spec,
                reason,
                changes,
            } => {
                let why = match changes.as_deref() {
                    Some(list) if !list.is_empty() => {
                        let list: Vec<String> = list.iter().map(ToString::to_string).collect();
                        format!("{reason}: {}", list.join("; "))
                    }
                    _ => reason.clone(),
                };
                match self.rollback && self.project.services[service].rolls_back() {
                    true => self.recreate_verified(service, old_id, old_name, spec, &why).await,
                    false => Ok(self.recreate(service, old_id, old_name, spec, &why).await?),
                }
            }
            ContainerStep::Restart { id, name, reason } => {
                let number = self.tracker.number_of(service, id);
                self.tracker.track(service, number, id);
                let timeout = self.project.services[service].stop_timeout();
                e.stop_container(id, name, timeout).await?;
                lifecycle::start(e, id, name, &self.project.services[service].post_start).await?;
                (self.progress)(name, &format!("restarted ({reason})"));
                Ok(())
            }
        }
    }

    /// Parks the old container under `<id>_<name>`, creates the new one with the old one's
    /// anonymous volumes, and only then stops and removes the old one (its volumes kept). A
    /// failed create puts the old one back under its own name.
    async fn recreate(
        &self,
        service: &str,
        old_id: &str,
        old_name: &str,
        spec: &ContainerSpec,
        reason: &str,
    ) -> Result<(), EngineError> {
        let e = self.engine;
        let parked = parked_name(old_id, &spec.name);
        // An interrupted run may have parked it already (even after this run listed it: its last
        // requests can still be finishing in the engine).
        if old_name != parked {
            match e.rename_container(old_id, &parked).await {
                Err(err) if !err.to_string().contains("same name as its current name") => return Err(err),
                _ => {}
            }
        }
        let spec = match self.with_inherited_volumes(old_id, old_name, spec).await {
            Ok(spec) => spec,
            Err(err) => {
                let _ = e.rename_container(old_id, old_name).await;
                return Err(err);
            }
        };
        let spec = &spec;
        let id = match self.create(spec, Some(old_id)).await {
            Ok(id) => id,
            Err(err) => {
                // Keep the old container serving under its own name.
                let _ = e.rename_container(old_id, old_name).await;
                return Err(err);
            }
        };
        self.tracker.track(service, spec.number, &id);
        e.stop_container(old_id, &parked, spec.stop_timeout).await?;
        e.remove_container(old_id, &parked).await?;
        lifecycle::start(e, &id, &spec.name, &self.project.services[service].post_start).await?;
        (self.progress)(&spec.name, &format!("recreated ({reason})"));
        Ok(())
    }

    /// Creates `spec`'s container. When its name is taken by a container of the same service
    /// and number that this run's listing did not show (the last create of an interrupted run,
    /// still finishing in the engine), that leftover is replaced: its anonymous volumes are
    /// carried over, it is removed (volumes kept) and the create is tried once more. `old_id`,
    /// the container being recreated, is never the one replaced.
    pub(super) async fn create(&self, spec: &ContainerSpec, old_id: Option<&str>) -> Result<String, EngineError> {
        let refused = match lifecycle::create(self.engine, spec).await {
            Ok(id) => return Ok(id),
            Err(err) => err,
        };
        let Some(leftover) = self.leftover_named(spec, old_id).await else {
            return Err(refused);
        };
        tracing::warn!(
            container = %spec.name,
            "{} is held by {}, left by an interrupted run; it is replaced",
            spec.name,
            &leftover[..leftover.len().min(12)]
        );
        let spec = self.with_inherited_volumes(&leftover, &spec.name, spec).await?;
        self.engine
            .stop_container(&leftover, &spec.name, spec.stop_timeout)
            .await?;
        self.engine.remove_container(&leftover, &spec.name).await?;
        lifecycle::create(self.engine, &spec).await
    }

    /// The id of a container of `spec`'s service and number holding `spec`'s name, other than
    /// `old_id`.
    async fn leftover_named(&self, spec: &ContainerSpec, old_id: Option<&str>) -> Option<String> {
        let observed = self.engine.observe(&self.project.name).await.ok()?;
        observed
            .containers
            .into_iter()
            .find(|c| {
                c.name == spec.name
                    && c.service == spec.service
                    && c.number == spec.number
                    && Some(c.id.as_str()) != old_id
            })
            .map(|c| c.id)
    }

    /// The replacement's spec with the old container's anonymous volumes (image `VOLUME`s
    /// included) mounted by name, as compose does: an edit must not lose a database's data.
    async fn with_inherited_volumes(
        &self,
        old_id: &str,
        old_name: &str,
        spec: &ContainerSpec,
    ) -> Result<ContainerSpec, EngineError> {
        let keep = |what: &str, e: EngineError| {
            EngineError::Refused(format!(
                "cannot read {what}, so {old_name} is kept as it is (its anonymous volumes would be lost): {e}"
            ))
        };
        let old = self
            .engine
            .volume_mounts(old_id)
            .await
            .map_err(|e| keep("its volumes", e))?;
        let image_volumes = match old.is_empty() {
            true => Vec::new(),
            false => self
                .engine
                .image_volumes(&spec.image)
                .await
                .map_err(|e| keep("the image's volumes", e))?,
        };
        let named = self.project.volumes.values().map(|v| v.name.clone()).collect();
        let mut spec = spec.clone();
        crate::spec::inherit_anonymous_volumes(&mut spec.body, &old, &image_volumes, &named);
        Ok(spec)
    }

    /// Waits until `wait`'s condition holds (Ok) or can no longer hold (Err with the reason).
    async fn wait_for(&self, wait: &Wait) -> Result<(), String> {
        let mut rx = self.tracker.subscribe();
        loop {
            let state = self.tracker.state(&wait.service);
            let has_healthcheck = self.tracker.has_healthcheck(&wait.service);
            if let Some(result) = condition_outcome(wait.condition, &state, has_healthcheck) {
                return result;
            }
            if rx.changed().await.is_err() {
                return Err("could not be followed (the engine's event stream ended)".to_string());
            }
        }
    }

    /// Waits for readiness (with `wait`) and meanwhile lists the project's containers: every
    /// container the apply leaves exists and runs by now, and on an engine busy with
    /// healthchecks a listing can take as long as one of their rounds, which would otherwise
    /// come after the last service turned ready, before READY. A listing that an event since
    /// may have made wrong is taken again ([`Tracker::listing_begins`]).
    async fn list_while_waiting(&self, plan: &Plan, wait: bool) -> Result<Vec<ObservedContainer>, EngineError> {
        self.tracker.listing_begins();
        let waits = async {
            if wait {
                join_all(plan.services.iter().map(|step| self.ready(&step.service))).await;
            }
        };
        let (listed, ()) = tokio::join!(self.engine.containers(&self.project.name), waits);
        match listed {
            Ok(containers) if !self.tracker.listing_stale() => Ok(containers),
            _ => self.engine.containers(&self.project.name).await,
        }
    }

    /// `--wait`: until the service is ready, or cannot become so.
    async fn ready(&self, service: &str) {
        let mut rx = self.tracker.subscribe();
        loop {
            match self.tracker.state(service) {
                ServiceState::Pending | ServiceState::Starting => {}
                ServiceState::Running if self.tracker.has_healthcheck(service) => {}
                _ => return,
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}

/// Whether a service's steps keep or replace containers that exist (not only create new ones).
fn runs_already(steps: &[ContainerStep]) -> bool {
    steps.iter().any(|c| !matches!(c, ContainerStep::Create { .. }))
}

/// The name a container is parked under while its replacement is created.
pub fn parked_name(old_id: &str, name: &str) -> String {
    format!("{}_{name}", &old_id[..old_id.len().min(12)])
}

/// Whether a `depends_on` condition holds (Ok), can no longer hold (Err), or is undecided.
fn condition_outcome(condition: Condition, state: &ServiceState, has_healthcheck: bool) -> Option<Result<(), String>> {
    use ServiceState as S;
    match (condition, state) {
        (_, S::Failed(reason)) => Some(Err(format!("failed: {reason}"))),
        (_, S::Pending) => None,
        (Condition::ServiceStarted, _) => Some(Ok(())),
        (Condition::ServiceHealthy, S::Healthy) => Some(Ok(())),
        (Condition::ServiceHealthy, _) if !has_healthcheck => Some(Err(
            "has no healthcheck, so it can never be `service_healthy`".to_string(),
        )),
        (Condition::ServiceHealthy, S::Unhealthy) => Some(Err("is unhealthy".to_string())),
        (Condition::ServiceHealthy, S::Exited(code)) => Some(Err(format!("exited with code {code}"))),
        (Condition::ServiceHealthy, _) => None,
        (Condition::ServiceCompletedSuccessfully, S::Exited(0)) => Some(Ok(())),
        (Condition::ServiceCompletedSuccessfully, S::Exited(code)) => Some(Err(format!("exited with code {code}"))),
        (Condition::ServiceCompletedSuccessfully, _) => None,
    }
}
