//! The D-Bus API: what composed shows and accepts on the bus, shared by the daemon
//! ([`server`]) and `composectl` ([`client`]).
//!
//! Names are versioned: a change that breaks clients gets `Composed2`, side by side.
//!
//! - Bus name `io.composed.Composed1` (the daemon managing `/etc/composed`); a daemon started for
//!   one project (`composed@NAME`) owns `io.composed.Composed1.Project.<label>` instead, so
//!   several can run at once and clients find them all by the prefix.
//! - `/io/composed/Composed1`: interface `io.composed.Composed1.Manager`.
//! - `/io/composed/Composed1/project/<project>`: `io.composed.Composed1.Project`.
//! - `/io/composed/Composed1/project/<project>/<service>`: `io.composed.Composed1.Service`.
//!
//! What is shown is a [`ProjectView`] and [`ServiceView`] per object: state, health, restarts,
//! exits, container, image, ports, since. Never a container's environment, command, labels or
//! mounts: those hold secrets.

pub mod client;
pub mod server;
pub mod views;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use zvariant::Type;

/// The daemon managing a directory of projects owns this name.
pub const BUS_NAME: &str = "io.composed.Composed1";
pub const MANAGER_PATH: &str = "/io/composed/Composed1";
pub const MANAGER_INTERFACE: &str = "io.composed.Composed1.Manager";
pub const PROJECT_INTERFACE: &str = "io.composed.Composed1.Project";
pub const SERVICE_INTERFACE: &str = "io.composed.Composed1.Service";
/// Error names are this prefix + `.NoSuchProject`, `.NoSuchService`, `.Failed`.
pub const ERROR_PREFIX: &str = "io.composed.Composed1.Error";

/// Which bus the daemon serves on, or which one a client looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Bus {
    /// The system bus (what the packaged units use)
    System,
    /// The caller's session bus (for tests and unprivileged trials)
    Session,
    /// No D-Bus API (the daemon only)
    None,
}

/// The bus name of a daemon started for one project.
pub fn project_bus_name(project: &str) -> String {
    format!("{BUS_NAME}.Project.{}", label(project))
}

pub fn project_path(project: &str) -> String {
    format!("{MANAGER_PATH}/project/{}", label(project))
}

pub fn service_path(project: &str, service: &str) -> String {
    format!("{}/{}", project_path(project), label(service))
}

/// An object-path (and bus-name) element for any name: letters and digits stay, everything else
/// becomes `_xx` (its bytes in hex), and a leading digit is escaped too; as systemd does.
pub fn label(name: &str) -> String {
    if name.is_empty() {
        return "_".to_string();
    }
    let mut out = String::with_capacity(name.len());
    for (i, b) in name.bytes().enumerate() {
        if b.is_ascii_alphabetic() || (b.is_ascii_digit() && i > 0) {
            out.push(b as char);
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    out
}

/// One project as the bus shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct ProjectView {
    pub name: String,
    /// `ready`, `starting`, `degraded`, `stopped` or `config-error`
    pub state: String,
    /// The project's part of the STATUS line.
    pub status: String,
    /// The located first error of a refused edit, or empty.
    pub config_error: String,
    /// The files the project was read from.
    pub files: Vec<String>,
    pub services: u32,
    pub ready_services: u32,
}

/// One service as the bus shows it (its first replica's container, where it has several).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct ServiceView {
    pub project: String,
    pub service: String,
    /// `starting`, `running`, `restarting`, `exited`, `failed` or `stopped`
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, or empty without a healthcheck
    pub health: String,
    /// The state in words: `restarting (2nd, next in 200ms)`, `failed: image not found`...
    pub detail: String,
    pub ready: bool,
    /// Restarts composed made for the restart policy or health (not those an operator asked for).
    pub restart_count: u32,
    /// The last exit code, or -1 before any exit.
    pub last_exit_code: i32,
    /// Why the container last stopped, in words; empty before any exit.
    pub last_exit_reason: String,
    pub container_id: String,
    pub containers: u32,
    pub image: String,
    /// Published ports, `[HOST_IP:]PUBLISHED->TARGET/PROTOCOL`.
    pub ports: Vec<String>,
    /// When `state` or `health` last changed, in microseconds since the epoch (as systemd's
    /// `*Timestamp` properties).
    pub since: u64,
    /// Why its last edit was rolled back (it runs its previous configuration), or empty.
    pub rollback: String,
}

/// What a client asks the daemon loop to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Start,
    Stop,
    Restart,
    Reload,
    /// Stop and remove a project's containers and networks (volumes kept), held until Start.
    Down,
    /// Replace the daemon with the binary on disk, containers untouched.
    Reexec,
}

/// A request from the bus to the daemon loop, answered on `reply` with a line for the operator.
#[derive(Debug)]
pub struct Command {
    pub op: Op,
    /// Empty for every project (reload only).
    pub project: String,
    pub service: Option<String>,
    pub reply: oneshot::Sender<Result<String, String>>,
}

/// The whole picture the daemon publishes after every change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub status: String,
    pub projects: Vec<ProjectView>,
    /// `since` is left 0 here; the server stamps it when state or health changes.
    pub services: Vec<ServiceView>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_valid_path_elements_and_distinct() {
        assert_eq!(label("yelb"), "yelb");
        assert_eq!(label("redis-server"), "redis_2dserver");
        assert_eq!(label("my_app.2"), "my_5fapp_2e2");
        assert_eq!(label("1st"), "_31st");
        assert_eq!(label(""), "_");
        assert_ne!(label("a-b"), label("a_b"));
        assert_eq!(
            service_path("yelb", "yelb-db"),
            "/io/composed/Composed1/project/yelb/yelb_2ddb"
        );
        assert_eq!(project_bus_name("web-1"), "io.composed.Composed1.Project.web_2d1");
        zvariant::ObjectPath::try_from(service_path("9x", "a.b-c_d")).unwrap();
        zbus::names::WellKnownName::try_from(project_bus_name("0-x")).unwrap();
    }
}
