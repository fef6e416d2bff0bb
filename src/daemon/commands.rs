//! What operators ask over D-Bus: start, stop and restart a project or a service, and reload.
//! A stop is held ([`super::holds`]) until `start`; a restart stops and starts the same
//! containers, its deaths expected, and `restart: true` dependents follow. Each request is
//! answered when its work is done.

use super::event::{AfterStop, Container};
use super::project::Reply;
use super::{Daemon, Event};
use crate::bus::{Command, Op};
use crate::engine::Engine;
use crate::execute;
use crate::state::ServiceState;

impl<E: Engine> Daemon<E> {
    pub(super) fn command(&mut self, command: Command) {
        let Command {
            op,
            project,
            service,
            reply,
        } = command;
        match op {
            Op::Reload => {
                // Answered once the files are read (`reload_done`).
                self.reload_waiters.push((project, reply));
                self.reload(true);
                return;
            }
            Op::Reexec => return self.begin_reexec(Some(reply)),
            _ => {}
        }
        if let Err(e) = self.check_target(&project, service.as_deref()) {
            let _ = reply.send(Err(e));
            return;
        }
        let target = match &service {
            Some(s) => format!("{project}/{s}"),
            None => project.clone(),
        };
        tracing::info!(project = %project, "{} {target}, as asked over D-Bus", format!("{op:?}").to_lowercase());
        match op {
            Op::Start => self.operator_start(project, service, reply),
            Op::Stop => self.operator_stop(project, service, AfterStop::Hold, reply),
            Op::Restart => self.operator_stop(project, service, AfterStop::Start, reply),
            Op::Down => self.operator_down(project, reply),
            Op::Reload | Op::Reexec => {}
        }
    }

    /// The refused edits of `project` (or of every project), or the status line.
    pub(super) fn reload_outcome(&self, project: &str) -> Result<String, String> {
        let refused: Vec<String> = self
            .projects
            .values()
            .map(|m| &m.runtime)
            .filter(|p| project.is_empty() || p.name() == project)
            .filter_map(|p| {
                let e = p.config_error.as_ref()?;
                Some(format!(
                    "{}: the edit was refused (first error at {e}; `composectl check` or the journal shows them); the last good configuration keeps running",
                    p.name()
                ))
            })
            .collect();
        match refused.is_empty() {
            true => Ok(format!("reloaded: {}", self.status_line())),
            false => Err(refused.join("\n")),
        }
    }

    /// Answers a reload once the reconciles it asked for (of `project`, or of every project)
    /// are done: with every project's status, or with what failed or was rolled back.
    pub(super) fn answer_after_reconciles(&mut self, project: &str, reply: Reply) {
        let mut answers = Vec::new();
        for name in self
            .project_names()
            .into_iter()
            .filter(|n| project.is_empty() || n == project)
        {
            let (tx, rx) = tokio::sync::oneshot::channel();
            // The reload has just asked for this project's reconcile: answer with that one.
            let unattached = self.projects.get_mut(&name).and_then(|m| m.queue.attach(tx));
            if let Some(tx) = unattached {
                self.request_reconcile(&name, false, Some(tx));
            }
            answers.push(rx);
        }
        tokio::spawn(async move {
            let (mut ok, mut failed) = (Vec::new(), Vec::new());
            for answer in answers {
                match answer.await {
                    Ok(Ok(line)) => ok.push(line),
                    Ok(Err(why)) => failed.push(why),
                    Err(_) => failed.push("composed stopped before the reconcile ended".to_string()),
                }
            }
            let _ = reply.send(match failed.is_empty() {
                true => Ok(format!("reloaded: {}", ok.join("; "))),
                false => Err(failed.join("\n")),
            });
        });
    }

    fn check_target(&self, project: &str, service: Option<&str>) -> Result<(), String> {
        let Some(managed) = self.projects.get(project) else {
            return Err(format!("no project `{project}`"));
        };
        match service {
            Some(s) if !managed.runtime.services.contains_key(s) => {
                Err(format!("project `{project}` has no service `{s}`"))
            }
            _ => Ok(()),
        }
    }

    fn operator_start(&mut self, project: String, service: Option<String>, reply: Reply) {
        let Some(managed) = self.projects.get_mut(&project) else {
            return;
        };
        let rt = &mut managed.runtime;
        rt.holds.release(service.as_deref());
        let containers = containers_of(rt, service.as_deref());
        match service {
            Some(service) if !containers.is_empty() => {
                self.start_containers(project, service, containers, false, Some(reply))
            }
            Some(_) => self.request_reconcile(&project, false, Some(reply)),
            None => self.request_reconcile(&project, true, Some(reply)),
        }
    }

    /// Stops a project (dependents first) or a service in a task; a stop is held, a restart
    /// goes on to start when [`Event::Stopped`] comes back.
    fn operator_stop(&mut self, project: String, service: Option<String>, next: AfterStop, reply: Reply) {
        let Some(managed) = self.projects.get_mut(&project) else {
            return;
        };
        let rt = &mut managed.runtime;
        if next == AfterStop::Start {
            rt.expect_operator_stop(service.as_deref());
        } else {
            rt.holds.hold(service.as_deref());
            rt.expect_operator_hold(service.as_deref());
        }
        let Some(definition) = rt.project.clone() else {
            let _ = reply.send(Err(rt.status_line()));
            return;
        };
        let (engine, tx) = (self.engine.clone(), self.tx.clone());
        tokio::spawn(async move {
            let errors = match engine.observe(&definition.name).await {
                Ok(observed) => {
                    let progress = |s: &str, w: &str| tracing::info!(project = %project, "{project}: {s}: {w}");
                    execute::stop(&engine, &definition, &observed, service.as_deref(), &progress).await
                }
                Err(e) => vec![e.to_string()],
            };
            let _ = tx.send(Event::Stopped {
                project,
                service,
                errors,
                next,
                reply,
            });
        });
    }

    /// `composectl down`: the project is held down, and its containers and networks removed
    /// (dependents first; volumes kept) in a task. `start` creates them again.
    fn operator_down(&mut self, project: String, reply: Reply) {
        let Some(managed) = self.projects.get_mut(&project) else {
            return;
        };
        let rt = &mut managed.runtime;
        rt.holds.hold(None);
        rt.expect_operator_hold(None);
        let Some(definition) = rt.project.clone() else {
            let _ = reply.send(Err(rt.status_line()));
            return;
        };
        let (engine, tx) = (self.engine.clone(), self.tx.clone());
        tokio::spawn(async move {
            let errors = match engine.observe(&definition.name).await {
                Ok(observed) => {
                    let progress = |s: &str, w: &str| tracing::info!(project = %project, "{project}: {s}: {w}");
                    execute::down(&engine, &definition, &observed, false, &progress)
                        .await
                        .errors
                }
                Err(e) => vec![e.to_string()],
            };
            let _ = tx.send(Event::Stopped {
                project,
                service: None,
                errors,
                next: AfterStop::Down,
                reply,
            });
        });
    }

    /// An operator's stop is done; a restart goes on to start.
    pub(super) fn on_stopped(
        &mut self,
        project: String,
        service: Option<String>,
        errors: Vec<String>,
        next: AfterStop,
        reply: Reply,
    ) {
        let Some(managed) = self.projects.get_mut(&project) else {
            let _ = reply.send(Err(format!("project `{project}` is gone")));
            return;
        };
        let rt = &mut managed.runtime;
        for e in &errors {
            tracing::error!(project = %project, "{project}: {e}");
        }
        if !errors.is_empty() {
            // The engine's words (and a hook's) are in the journal lines above.
            let _ = reply.send(Err(format!(
                "{project}: {} container(s) could not be stopped; the journal says why",
                errors.len()
            )));
            return;
        }
        if next != AfterStop::Start {
            // The engine has stopped them; their `die` events may still be on the way.
            for (name, s) in rt.services.iter_mut() {
                if service.as_ref().is_none_or(|only| only == name) {
                    s.state = ServiceState::Stopped;
                }
            }
            let done = if next == AfterStop::Down { "down" } else { "stopped" };
            let _ = reply.send(Ok(format!("{done}; {}", rt.status_line())));
            return;
        }
        match service {
            None => self.request_reconcile(&project, true, Some(reply)),
            Some(service) => {
                let containers = containers_of(rt, Some(&service));
                self.start_containers(project, service, containers, true, Some(reply));
            }
        }
    }
}

/// The containers of one service (none for the whole project).
fn containers_of(rt: &super::project::ProjectRuntime, service: Option<&str>) -> Vec<Container> {
    let containers = service.and_then(|s| rt.services.get(s)).map(|s| s.containers.values());
    containers
        .into_iter()
        .flatten()
        .map(|t| Container {
            id: t.id.clone(),
            name: t.name.clone(),
        })
        .collect()
}
