//! The edge where typed states become the words the API shows (and `composectl` prints):
//! [`crate::state`] in, [`ProjectView`] and [`ServiceView`] out. Only fields of those views
//! leave the daemon: never an environment, a command, labels or mounts.

use super::{ProjectView, ServiceView, Snapshot};
use crate::model::{Port, Protocol};
use crate::state::{self, ProjectState, ProjectStatus, ServiceState, ServiceStatus};

/// The picture the bus publishes.
pub fn snapshot(s: &state::Snapshot) -> Snapshot {
    Snapshot {
        status: s.status.clone(),
        projects: s.projects.iter().map(project_view).collect(),
        services: s.services.iter().map(service_view).collect(),
    }
}

pub fn project_view(p: &ProjectStatus) -> ProjectView {
    let state = match p.state {
        ProjectState::ConfigError => "config-error",
        ProjectState::Stopped => "stopped",
        ProjectState::Ready => "ready",
        ProjectState::Starting => "starting",
        ProjectState::Degraded => "degraded",
    };
    ProjectView {
        name: p.name.clone(),
        state: state.to_string(),
        status: p.status.clone(),
        config_error: p.config_error.clone().unwrap_or_default(),
        files: p.files.clone(),
        services: p.services,
        ready_services: p.ready_services,
    }
}

pub fn service_view(s: &ServiceStatus) -> ServiceView {
    let (state, health) = words(&s.state, s.has_healthcheck);
    ServiceView {
        project: s.project.clone(),
        service: s.service.clone(),
        state: state.to_string(),
        health: health.to_string(),
        detail: s.state.to_string(),
        ready: s.ready,
        restart_count: s.restarts,
        last_exit_code: s
            .last_exit
            .map_or(-1, |c| c.clamp(i32::MIN as i64, i32::MAX as i64) as i32),
        last_exit_reason: s.last_exit_reason.as_ref().map(ToString::to_string).unwrap_or_default(),
        container_id: s.container_id.clone().unwrap_or_default(),
        containers: s.containers,
        image: s.image.clone(),
        ports: s.ports.iter().map(port_words).collect(),
        since: 0,
        rollback: s.rollback.clone().unwrap_or_default(),
    }
}

/// The state and health words: a running service is `running`, its health apart.
fn words(state: &ServiceState, has_healthcheck: bool) -> (&'static str, &'static str) {
    let word = match state {
        ServiceState::Pending | ServiceState::Starting => "starting",
        ServiceState::Running | ServiceState::Healthy | ServiceState::Unhealthy => "running",
        ServiceState::Restarting { .. } => "restarting",
        ServiceState::Exited(_) => "exited",
        ServiceState::Failed(_) => "failed",
        ServiceState::Stopped => "stopped",
    };
    let health = match (state, has_healthcheck) {
        (_, false) => "",
        (ServiceState::Healthy, true) => "healthy",
        (ServiceState::Unhealthy, true) => "unhealthy",
        (ServiceState::Pending | ServiceState::Starting | ServiceState::Running, true) => "starting",
        (_, true) => "",
    };
    (word, health)
}

/// A published port as `docker ps` writes it: `[HOST_IP:]PUBLISHED->TARGET/PROTOCOL`.
fn port_words(p: &Port) -> String {
    let protocol = match p.protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    };
    match (&p.host_ip, &p.published) {
        (Some(ip), Some(published)) => format!("{ip}:{published}->{}/{protocol}", p.target),
        (None, Some(published)) => format!("{published}->{}/{protocol}", p.target),
        (_, None) => format!("{}/{protocol}", p.target),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_healthy_service_is_running_and_healthy() {
        assert_eq!(words(&ServiceState::Healthy, true), ("running", "healthy"));
        assert_eq!(words(&ServiceState::Starting, true), ("starting", "starting"));
        assert_eq!(words(&ServiceState::Running, false), ("running", ""));
        assert_eq!(words(&ServiceState::Stopped, true), ("stopped", ""));
    }
}
