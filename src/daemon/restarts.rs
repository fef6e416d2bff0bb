//! Carrying out supervision: engine events go to the project's supervision
//! ([`super::supervision`]), whose restarts run as tasks (an optional stop, the backoff delay,
//! then [`Event::RestartDue`]); starts report back as [`Event::Restarted`], after which the
//! dependents that declared `restart: true` follow.

use std::time::Instant;

use super::event::Container;
use super::project::Reply;
use super::supervision::{Action, RestartAction};
use super::{Daemon, Event};
use crate::engine::events::{ContainerEvent, EventKind};
use crate::engine::{Engine, EngineError};
use crate::execute::lifecycle;
use crate::state::ServiceState;

impl<E: Engine> Daemon<E> {
    pub(super) fn on_engine_event(&mut self, e: ContainerEvent) {
        match e.kind {
            EventKind::Start => self.forward_logs(&e.project, &e.service, &e.id, &e.name),
            EventKind::Destroy => self.forwarders.container_gone(&e.id),
            _ => {}
        }
        let Some(managed) = self.projects.get_mut(&e.project) else {
            return;
        };
        // One owner per container: while a reconcile runs, it owns the project's containers
        // (it may be stopping or replacing this one); deaths are left to it, and what it leaves
        // stopped is started when it ends.
        if managed.queue.is_running() && matches!(e.kind, EventKind::Die { .. } | EventKind::Unhealthy) {
            managed.runtime.deaths_during_reconcile = true;
            return;
        }
        let actions = managed.runtime.on_event(&e, Instant::now());
        for action in actions {
            match action {
                Action::Restart(restart) => self.schedule_restart(e.project.clone(), restart),
                Action::Resync => self.request_reconcile(&e.project, false, None),
            }
        }
    }

    /// Stops the container first where asked (an unhealthy one), waits out the backoff delay,
    /// then reports [`Event::RestartDue`].
    fn schedule_restart(&self, project: String, restart: RestartAction) {
        let (engine, tx) = (self.engine.clone(), self.tx.clone());
        tokio::spawn(async move {
            if let Some(timeout) = restart.stop_timeout {
                let _ = engine.stop_container(&restart.id, &restart.name, timeout).await;
            }
            tokio::time::sleep(restart.delay).await;
            let container = Container {
                id: restart.id,
                name: restart.name,
            };
            let _ = tx.send(Event::RestartDue {
                project,
                service: restart.service,
                container,
            });
        });
    }

    pub(super) fn on_restart_due(&mut self, project: String, service: String, container: Container) {
        let Some(managed) = self.projects.get_mut(&project) else {
            return;
        };
        let tracked = managed
            .runtime
            .services
            .get(&service)
            .is_some_and(|s| s.containers.values().any(|t| t.id == container.id));
        if managed.queue.is_running() || !tracked {
            // A reconcile owns the containers now, or this one was replaced: not ours to start.
            managed.runtime.deaths_during_reconcile |= tracked;
            return;
        }
        tracing::debug!(project = %project, service = %service, "{project}/{service}: starting {} again", container.name);
        self.start_containers(project, service, vec![container], true, None);
    }

    /// Starts containers of one service in a task; reports back with [`Event::Restarted`].
    pub(super) fn start_containers(
        &self,
        project: String,
        service: String,
        containers: Vec<Container>,
        dependents: bool,
        reply: Option<Reply>,
    ) {
        let (engine, tx) = (self.engine.clone(), self.tx.clone());
        let post_start = self
            .projects
            .get(&project)
            .and_then(|m| m.runtime.running_config(&service))
            .map(|s| s.post_start.clone())
            .unwrap_or_default();
        tokio::spawn(async move {
            let mut result = Ok(());
            for c in &containers {
                if let Err(e) = lifecycle::start(&engine, &c.id, &c.name, &post_start).await {
                    result = Err(e);
                }
            }
            let _ = tx.send(Event::Restarted {
                project,
                service,
                result,
                dependents,
                reply,
            });
        });
    }

    pub(super) fn on_restarted(
        &mut self,
        project: String,
        service: String,
        result: Result<(), EngineError>,
        dependents: bool,
        reply: Option<Reply>,
    ) {
        let Some(managed) = self.projects.get_mut(&project) else {
            return;
        };
        let verb = if dependents { "restarted" } else { "started" };
        if let Some(reply) = reply {
            // The engine's message may quote the file: it goes to the journal (below), the
            // caller hears composed's words.
            let answer = match &result {
                Ok(()) => Ok(format!("{verb} {project}/{service}")),
                Err(_) => Err(format!("{project}/{service} could not be {verb}; the journal says why")),
            };
            let _ = reply.send(answer);
        }
        match result {
            Ok(()) => {
                tracing::info!(project = %project, service = %service, "{project}/{service}: {verb}");
                if dependents {
                    let dependents = managed.runtime.restart_dependents(&service);
                    let engine = self.engine.clone();
                    tokio::spawn(async move {
                        for d in dependents {
                            tracing::info!("{}: restarting it, as its dependency {service} restarted", d.name);
                            let _ = engine.stop_container(&d.id, &d.name, d.stop_timeout).await;
                            if let Err(e) = lifecycle::start(&engine, &d.id, &d.name, &d.post_start).await {
                                tracing::error!("{}: {e}", d.name);
                            }
                        }
                    });
                }
            }
            Err(e) => {
                tracing::error!(project = %project, service = %service, "{project}/{service}: restart failed: {e}");
                if let Some(s) = managed.runtime.services.get_mut(&service) {
                    // The engine's words are in the journal line above; the state is public.
                    s.state = ServiceState::Failed("it could not be restarted".into());
                }
            }
        }
    }
}
