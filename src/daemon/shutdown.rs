//! SIGTERM (`systemctl stop`, a reboot): every project's containers are stopped, dependents
//! first, and kept, with their networks and volumes; the next start adopts them and starts them
//! again in dependency order, recreating only what changed. Removing is an operator's explicit
//! request (`composectl down`, `composed down`). The stop runs in a task; the loop keeps
//! answering meanwhile (the watchdog, the bus) and exits when [`Event::ShutdownDone`] arrives.

use std::process::ExitCode;
use std::time::Duration;

use super::{Daemon, Event, Timer, systemd};
use crate::engine::Engine;
use crate::execute;

impl<E: Engine> Daemon<E> {
    pub(super) fn shutdown(&mut self) {
        self.shutting_down = true;
        let projects: Vec<crate::model::Project> = self
            .projects
            .values()
            .filter_map(|m| m.runtime.project.clone())
            .collect();
        let grace = projects
            .iter()
            .flat_map(|p| p.services.values())
            .map(|s| s.stop_timeout().max(0) as u64)
            .max()
            .unwrap_or(crate::model::DEFAULT_STOP_TIMEOUT as u64);
        systemd::stopping("stopping containers");
        systemd::extend_timeout(Duration::from_secs(grace * 2 + 30));
        tracing::info!("stopping: containers are stopped and kept; the next start starts them again");
        let (engine, tx) = (self.engine.clone(), self.tx.clone());
        tokio::spawn(async move {
            let mut failed = false;
            for project in &projects {
                failed |= !stop_project(&engine, project).await;
            }
            let _ = tx.send(Event::ShutdownDone { failed });
        });
    }

    /// While stopping: the watchdog is still fed, requests are refused, and the end is the exit.
    pub(super) fn while_shutting_down(&mut self, event: Event) -> Option<ExitCode> {
        match event {
            Event::ShutdownDone { failed } => {
                let single_failed = self.single() && !self.reporter.ready_sent();
                Some(match failed || single_failed {
                    true => ExitCode::FAILURE,
                    false => ExitCode::SUCCESS,
                })
            }
            Event::Timer(Timer::Watchdog) => {
                systemd::watchdog();
                None
            }
            Event::Command(command) => {
                let _ = command.reply.send(Err("composed is stopping".to_string()));
                None
            }
            _ => None,
        }
    }
}

/// Stops one project's containers and keeps them; `false` when something failed.
async fn stop_project<E: Engine>(engine: &E, project: &crate::model::Project) -> bool {
    let name = &project.name;
    let observed = match engine.observe(name).await {
        Ok(o) => o,
        Err(e) => {
            tracing::error!(project = %name, "{name}: {e}");
            return false;
        }
    };
    let progress = |s: &str, w: &str| tracing::info!(project = %name, "{name}: {s}: {w}");
    let errors = execute::stop(engine, project, &observed, None, &progress).await;
    for e in &errors {
        tracing::error!(project = %name, "{name}: {e}");
    }
    errors.is_empty()
}
