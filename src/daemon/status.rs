//! What the daemon tells the world after every event: systemd's STATUS line (only when it
//! changed), READY once every project has been applied, and the typed snapshot the D-Bus API
//! publishes (each change, in order, so a follower of the signals sees every state).

use tokio::sync::mpsc;

use super::{Daemon, systemd};
use crate::engine::Engine;
use crate::state::Snapshot;

#[derive(Default)]
pub struct Reporter {
    ready_sent: bool,
    /// The last STATUS sent, so an unchanged line is not sent again.
    last_status: String,
    /// Where the D-Bus API takes its snapshots; `None` without the API.
    snapshots: Option<mpsc::UnboundedSender<Snapshot>>,
    last_snapshot: Snapshot,
}

impl Reporter {
    pub fn publish_to(&mut self, snapshots: mpsc::UnboundedSender<Snapshot>) {
        self.snapshots = Some(snapshots);
    }

    pub fn ready_sent(&self) -> bool {
        self.ready_sent
    }
}

impl<E: Engine> Daemon<E> {
    pub(super) fn status_line(&self) -> String {
        if self.projects.is_empty() {
            return format!("no projects in {}", self.config.root.display());
        }
        if !self.engine_up {
            return "the Docker engine is unreachable; reconnecting".to_string();
        }
        self.projects
            .values()
            .map(|m| m.runtime.status_line())
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Sends STATUS when it changed, and the new picture to the D-Bus API.
    pub(super) fn update_status(&mut self) {
        let line = self.status_line();
        if self.reporter.last_status != line {
            systemd::status(&line);
            self.reporter.last_status = line.clone();
        }
        if self.reporter.snapshots.is_none() {
            return;
        }
        let snapshot = Snapshot {
            status: line,
            projects: self.projects.values().map(|m| m.runtime.status()).collect(),
            services: self
                .projects
                .values()
                .flat_map(|m| m.runtime.service_statuses())
                .collect(),
        };
        if self.reporter.last_snapshot != snapshot
            && let Some(tx) = &self.reporter.snapshots
        {
            let _ = tx.send(snapshot.clone());
            self.reporter.last_snapshot = snapshot;
        }
    }

    /// A single project that is still not ready at [`super::READY_DEADLINE`]: READY, degraded,
    /// while its failed services are tried again.
    pub(super) fn ready_degraded(&mut self) {
        if self.reporter.ready_sent {
            return;
        }
        self.reporter.ready_sent = true;
        let line = self.status_line();
        systemd::ready(&format!("{line} (not ready in time; still trying)"));
        tracing::warn!(
            "not ready within {}: reporting READY degraded, and trying on: {line}",
            crate::load::units::format_duration(super::READY_DEADLINE)
        );
    }

    /// READY once every project with a good configuration has been applied. A single project
    /// (`composed@NAME`) is READY only once it is ready: until then its failed services are
    /// tried again with backoff, and `systemctl start` waits (up to its start timeout).
    pub(super) fn maybe_ready(&mut self) {
        if self.reporter.ready_sent {
            return;
        }
        let all_applied = self
            .projects
            .values()
            .all(|m| m.runtime.first_apply_done || m.runtime.project.is_none());
        if !all_applied {
            return;
        }
        if self.single()
            && let Some(m) = self.projects.values().next()
            && m.runtime.failure().is_some()
        {
            return;
        }
        self.reporter.ready_sent = true;
        let line = self.status_line();
        systemd::ready(&line);
        tracing::info!("ready: {line}");
    }
}
