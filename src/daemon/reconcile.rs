//! Reconciles in the daemon: requests go through each project's [`ReconcileQueue`] (one at a
//! time, later requests coalesced, callers answered when the reconcile covering them ends), run
//! as tasks ([`crate::execute::reconcile_once`]) and come back as [`Event::Applied`]. Losing the
//! engine abandons the running ones; when it is back every project is reconciled again, exited
//! containers started, in dependency order.
//!
//! [`ReconcileQueue`]: super::queue::ReconcileQueue

use std::time::Duration;

use super::project::Reply;
use super::queue::Ticket;
use super::{Daemon, Event, systemd};
use crate::engine::{Engine, EngineError};
use crate::execute::{self, Pass, Reconciled};
use crate::journal::forward::Source;
use crate::observed::ContainerState;
use crate::plan::{ImageStep, Plan};
use crate::state::ServiceState;
use crate::supervise::backoff::Backoff;

impl<E: Engine> Daemon<E> {
    /// Asks for a reconcile of `name`; `reply` is answered when one covering it ends. A project
    /// without a good configuration answers at once; a held one is left alone.
    pub(super) fn request_reconcile(&mut self, name: &str, start_exited: bool, reply: Option<Reply>) {
        let Some(managed) = self.projects.get_mut(name) else {
            return;
        };
        if managed.runtime.project.is_none() {
            if let Some(r) = reply {
                let _ = r.send(Err(managed.runtime.status_line()));
            }
            return;
        }
        managed.queue.request(start_exited, reply);
        self.start_next(name);
    }

    /// Starts the project's pending reconcile, if none runs and the engine is there.
    fn start_next(&mut self, name: &str) {
        if !self.engine_up || self.shutting_down {
            return;
        }
        let Some(managed) = self.projects.get_mut(name) else {
            return;
        };
        if managed.runtime.holds.project {
            let line = managed.runtime.status_line();
            for r in managed.queue.cancel_pending() {
                let _ = r.send(Ok(line.clone()));
            }
            return;
        }
        let Some(ticket) = managed.queue.start() else { return };
        let Some(project) = managed.runtime.project.clone() else {
            return;
        };
        let pass = Pass {
            start_exited: ticket.start_exited,
            held: managed.runtime.held_services(),
            pinned: managed.runtime.pinned(),
            wait: true,
            rollback: true,
            // Checked when the engine appeared (at start, and on its return).
            check_engine: false,
        };
        self.spawn_reconcile(project, pass, ticket);
    }

    fn spawn_reconcile(&self, project: crate::model::Project, pass: Pass, ticket: Ticket) {
        let (engine, tx) = (self.engine.clone(), self.tx.clone());
        tokio::spawn(async move {
            let name = project.name.clone();
            let progress = |subject: &str, what: &str| tracing::info!(project = %name, "{name}: {subject}: {what}");
            let result = execute::reconcile_once(&engine, &project, &pass, extend_for_images, &progress).await;
            let _ = tx.send(Event::Applied {
                project: project.name.clone(),
                generation: ticket.generation,
                result,
            });
        });
    }

    /// A reconcile ended: record what came out, answer its callers, start what is pending.
    pub(super) fn on_applied(&mut self, name: &str, generation: u64, result: Result<Reconciled, EngineError>) {
        let Some(managed) = self.projects.get_mut(name) else {
            return;
        };
        let Some(waiters) = managed.queue.complete(generation) else {
            tracing::debug!(project = %name, "{name}: a reconcile from before the engine was lost ended; ignored");
            return;
        };
        let rt = &mut managed.runtime;
        let mut running = Vec::new();
        let failed = match result {
            Ok(Reconciled { report, containers }) => {
                if let Some(report) = &report {
                    log_report(name, report);
                    rt.record_rollbacks(report);
                }
                rt.applied(report.as_ref(), &containers);
                running = containers
                    .into_iter()
                    .filter(|c| c.state == ContainerState::Running)
                    .collect();
                rt.services.values().any(|s| matches!(s.state, ServiceState::Failed(_)))
            }
            Err(e) => {
                tracing::error!(project = %name, "{name}: reconcile failed: {e}");
                true
            }
        };
        let outcome = outcome(rt);
        for waiter in waiters {
            let _ = waiter.send(outcome.clone());
        }
        for c in running {
            self.forward_logs(name, &c.service, &c.id, &c.name);
        }
        self.after_reconcile(name, failed);
        self.start_next(name);
        self.update_status();
        self.maybe_ready();
    }

    /// What follows a reconcile: one that left services failed is tried again with backoff (an
    /// engine error, a registry briefly down, a port someone else held); deaths supervision left
    /// to it are started now.
    fn after_reconcile(&mut self, name: &str, failed: bool) {
        let Some(managed) = self.projects.get_mut(name) else {
            return;
        };
        let rt = &mut managed.runtime;
        if std::mem::take(&mut rt.deaths_during_reconcile) {
            managed.queue.request(true, None);
        }
        if !failed {
            rt.retry.reset();
            return;
        }
        if rt.retry_due {
            return;
        }
        rt.retry_due = true;
        let delay = rt.retry.next().unwrap_or_default();
        tracing::warn!(project = %name, "{name}: trying again in {}", crate::load::units::format_duration(delay));
        let (tx, project) = (self.tx.clone(), name.to_string());
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(Event::RetryDue { project });
        });
    }

    pub(super) fn on_retry_due(&mut self, name: &str) {
        if let Some(managed) = self.projects.get_mut(name) {
            managed.runtime.retry_due = false;
        }
        self.request_reconcile(name, false, None);
    }

    /// Starts forwarding a container's output to the journal, unless it already is.
    pub(super) fn forward_logs(&mut self, project: &str, service: &str, id: &str, name: &str) {
        let Some(managed) = self.projects.get(project) else {
            return;
        };
        let image = managed
            .runtime
            .project
            .as_ref()
            .and_then(|p| p.services.get(service).map(|s| crate::identity::image_name(p, s)));
        let source = Source {
            id: id.to_string(),
            name: name.to_string(),
            image: image.unwrap_or_default(),
            project: project.to_string(),
            service: service.to_string(),
        };
        self.forwarders.start(&self.engine, source);
    }

    pub(super) fn on_engine_lost(&mut self, reason: String) {
        if !self.engine_up {
            return;
        }
        tracing::error!("lost the Docker engine: {reason}; reconnecting");
        self.engine_up = false;
        let (engine, tx) = (self.engine.clone(), self.tx.clone());
        tokio::spawn(async move {
            let mut wait = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), Duration::MAX);
            while engine.check_version().await.is_err() {
                tokio::time::sleep(wait.next().unwrap_or_default()).await;
            }
            let _ = tx.send(Event::EngineBack);
        });
    }

    /// The engine's restart policy is off: after an engine restart composed starts the containers
    /// again, in dependency order.
    pub(super) fn on_engine_back(&mut self) {
        tracing::info!("the Docker engine is back; reconverging");
        self.engine_up = true;
        super::event::follow_engine(&self.engine, &crate::clock::engine_now(), self.tx.clone());
        for name in self.project_names() {
            if let Some(managed) = self.projects.get_mut(&name) {
                managed.queue.engine_lost();
            }
            self.start_next(&name);
        }
    }
}

/// A reconcile's outcome in the journal: a failed service at ERROR, a rolled back edit at
/// WARNING, the rest at INFO; each once.
fn log_report(name: &str, report: &crate::execute::Report) {
    for e in &report.errors {
        tracing::error!(project = %name, "{name}: {e}");
    }
    for (service, state) in &report.services {
        match (state, report.rolled_back.get(service)) {
            (ServiceState::Failed(_), _) => {
                let why = report.failures.get(service).map(|r| r.full()).unwrap_or_default();
                tracing::error!(project = %name, service = %service, "{name}/{service}: failed: {why}")
            }
            (_, Some(reason)) => {
                let reason = reason.full();
                tracing::warn!(project = %name, service = %service, "{name}/{service}: {state}, but its edit was rolled back: {reason}; it runs its previous configuration until the file changes again")
            }
            _ => tracing::info!(project = %name, service = %service, "{name}/{service}: {state}"),
        }
    }
}

/// What a caller of a reconcile hears: the status line, or why the project is not what its
/// files say (a failed service, a rolled back edit).
fn outcome(rt: &super::project::ProjectRuntime) -> Result<String, String> {
    let name = rt.name();
    if let Some(why) = rt.failure() {
        return Err(format!("{name}: {why}"));
    }
    let refused: Vec<String> = rt
        .refused
        .iter()
        .map(|(service, (_, reason))| format!("{name}/{service}: the edit was rolled back: {}", reason.public))
        .collect();
    match refused.is_empty() {
        true => Ok(rt.status_line()),
        false => Err(refused.join("\n")),
    }
}

/// Pulls and builds can take long: ask systemd for more time.
fn extend_for_images(plan: &Plan) {
    let images = plan
        .services
        .iter()
        .any(|s| matches!(s.image, ImageStep::Pull(_) | ImageStep::Build(_)));
    if images {
        systemd::extend_timeout(Duration::from_secs(300));
    }
}
