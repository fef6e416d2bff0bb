//! Where services and projects stand, in one typed vocabulary shared by the executor's report,
//! supervision, the status line and the D-Bus API. Words for the API and `composectl` are made
//! from these only at the edges (`bus::views`, `cli`); `Display` gives the one-line detail the
//! status line and the journal use.

use std::fmt;
use std::time::Duration;

use crate::load::units::format_duration;
use crate::model::Port;

/// Why something failed, in two forms. `public` is composed's own words and names only (never
/// a value from the files or an engine message that may quote one): it is what STATUS, the
/// D-Bus API and `composectl` show, which other users may read. `detail` adds what the engine or
/// the file said, for the journal and the terminal of a one-shot command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    pub public: String,
    pub detail: String,
}

impl Reason {
    pub fn new(public: impl Into<String>, detail: impl fmt::Display) -> Reason {
        Reason {
            public: public.into(),
            detail: detail.to_string(),
        }
    }

    /// A reason that is all composed's own words.
    pub fn plain(public: impl Into<String>) -> Reason {
        let public = public.into();
        Reason {
            detail: String::new(),
            public,
        }
    }

    /// `public: detail`, for the journal.
    pub fn full(&self) -> String {
        match self.detail.is_empty() {
            true => self.public.clone(),
            false => format!("{}: {}", self.public, self.detail),
        }
    }
}

/// Where one service stands. A failure's words are a [`Reason`]'s public part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceState {
    /// Nothing done yet (an apply has not reached it).
    Pending,
    /// Started; its healthcheck has not passed yet.
    Starting,
    Running,
    Healthy,
    Unhealthy,
    /// Dead or unhealthy; composed starts it again after `delay`.
    Restarting {
        attempt: u32,
        delay: Duration,
    },
    Exited(i64),
    Failed(String),
    /// An operator stopped it (`composectl stop`).
    Stopped,
}

impl ServiceState {
    /// Started, as far as its running goes: with a healthcheck it is `Starting` until healthy.
    pub fn started(has_healthcheck: bool) -> ServiceState {
        if has_healthcheck {
            ServiceState::Starting
        } else {
            ServiceState::Running
        }
    }

    /// Ready: healthy where there is a healthcheck, running otherwise, exited 0 for one-shots,
    /// or stopped by an operator.
    pub fn is_ready(&self, has_healthcheck: bool) -> bool {
        match self {
            ServiceState::Healthy | ServiceState::Exited(0) | ServiceState::Stopped => true,
            ServiceState::Running => !has_healthcheck,
            _ => false,
        }
    }

    /// Why the service keeps its project from being ready, if it does for good.
    pub fn failure(&self) -> Option<String> {
        match self {
            ServiceState::Failed(reason) => Some(format!("failed: {reason}")),
            ServiceState::Unhealthy => Some("is unhealthy".to_string()),
            ServiceState::Exited(code) if *code != 0 => Some(format!("exited with code {code}")),
            _ => None,
        }
    }

    /// Whether the status line should lead with this service.
    pub fn is_trouble(&self) -> bool {
        matches!(
            self,
            ServiceState::Restarting { .. } | ServiceState::Failed(_) | ServiceState::Unhealthy
        )
    }
}

impl fmt::Display for ServiceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceState::Pending => write!(f, "pending"),
            ServiceState::Starting => write!(f, "starting"),
            ServiceState::Running => write!(f, "running"),
            ServiceState::Healthy => write!(f, "healthy"),
            ServiceState::Unhealthy => write!(f, "unhealthy"),
            ServiceState::Restarting { attempt, delay } => {
                write!(
                    f,
                    "restarting ({}, next in {})",
                    ordinal(*attempt),
                    format_duration(*delay)
                )
            }
            ServiceState::Exited(code) => write!(f, "exited ({code})"),
            ServiceState::Failed(reason) => write!(f, "failed: {reason}"),
            ServiceState::Stopped => write!(f, "stopped"),
        }
    }
}

fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// Why a container last stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitReason {
    /// Read from its exit code alone.
    Code(i64),
    OutOfMemory,
    /// composed stopped it: its healthcheck failed.
    Unhealthy,
    /// composed stopped it: a dependency declared with `restart: true` restarted.
    DependencyRestarted(String),
    StoppedByOperator,
    RestartedByOperator,
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Code(0) => write!(f, "exited normally"),
            ExitReason::Code(137) => write!(f, "killed (SIGKILL)"),
            ExitReason::Code(143) => write!(f, "terminated (SIGTERM)"),
            ExitReason::Code(code @ 129..=192) => write!(f, "killed by signal {}", code - 128),
            ExitReason::Code(code) => write!(f, "exited with code {code}"),
            ExitReason::OutOfMemory => write!(f, "killed: out of memory"),
            ExitReason::Unhealthy => write!(f, "stopped by composed: unhealthy"),
            ExitReason::DependencyRestarted(dep) => {
                write!(f, "stopped by composed: dependency `{dep}` restarted")
            }
            ExitReason::StoppedByOperator => write!(f, "stopped by an operator"),
            ExitReason::RestartedByOperator => write!(f, "restarted by an operator"),
        }
    }
}

/// Where one project stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProjectState {
    /// Its files were refused before any configuration was good.
    ConfigError,
    /// An operator stopped it.
    Stopped,
    Ready,
    Starting,
    /// A service failed, exited non-zero or is unhealthy.
    Degraded,
}

/// One service, as everything outside the daemon sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceStatus {
    pub project: String,
    pub service: String,
    pub state: ServiceState,
    pub has_healthcheck: bool,
    pub ready: bool,
    /// Restarts composed made for the restart policy or health.
    pub restarts: u32,
    pub last_exit: Option<i64>,
    pub last_exit_reason: Option<ExitReason>,
    /// The first replica's container.
    pub container_id: Option<String>,
    pub containers: u32,
    pub image: String,
    pub ports: Vec<Port>,
    /// Why its last edit was rolled back: it runs its previous configuration.
    pub rollback: Option<String>,
}

/// One project, as everything outside the daemon sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectStatus {
    pub name: String,
    pub state: ProjectState,
    /// The project's part of the STATUS line.
    pub status: String,
    /// The located first error of a refused edit.
    pub config_error: Option<String>,
    pub files: Vec<String>,
    pub services: u32,
    pub ready_services: u32,
}

/// The whole picture the daemon publishes after every change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub status: String,
    pub projects: Vec<ProjectStatus>,
    pub services: Vec<ServiceStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_well() {
        assert_eq!(ordinal(1), "1st");
        assert_eq!(ordinal(3), "3rd");
        assert_eq!(ordinal(12), "12th");
        let s = ServiceState::Restarting {
            attempt: 3,
            delay: Duration::from_secs(4),
        };
        assert_eq!(s.to_string(), "restarting (3rd, next in 4s)");
        assert_eq!(ExitReason::Code(137).to_string(), "killed (SIGKILL)");
        assert_eq!(ExitReason::Code(130).to_string(), "killed by signal 2");
    }

    #[test]
    fn readiness() {
        assert!(ServiceState::Running.is_ready(false));
        assert!(!ServiceState::Running.is_ready(true));
        assert!(ServiceState::Healthy.is_ready(true));
        assert!(ServiceState::Exited(0).is_ready(false));
        assert!(!ServiceState::Exited(1).is_ready(false));
        assert_eq!(ServiceState::started(true), ServiceState::Starting);
    }
}
