//! The client side of the D-Bus API, for `composectl`: the manager's proxy, finding every running
//! composed on a bus, and one clear message for each way a call can fail.

use thiserror::Error;
use zbus::Connection;
use zvariant::OwnedObjectPath;

use super::{BUS_NAME, Bus, MANAGER_PATH, ProjectView, ServiceView};

/// Why a call to composed failed, each with what to do.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot reach the {bus} ({detail}); is dbus running? (systemctl status dbus)")]
    NoBus { bus: &'static str, detail: String },
    #[error(
        "composed is not running: no {BUS_NAME} on the {bus}; start it with `systemctl start composed` (or `composed@NAME` for one project)"
    )]
    NotRunning { bus: &'static str },
    #[error(
        "access denied by the {bus}: only root and members of the `composed` group may use composed ({detail}); add a user with `usermod -aG composed USER` (effective at the next login)"
    )]
    AccessDenied { bus: &'static str, detail: String },
    #[error("no project `{project}`: composed manages no projects")]
    NoProjects { project: String },
    #[error("no project `{project}`; composed manages: {known}")]
    NoSuchProject { project: String, known: String },
    /// composed refused the request; its own message says why.
    #[error("{0}")]
    Refused(String),
    #[error("composed did not answer as expected: {0}")]
    Unexpected(String),
}

impl From<ClientError> for String {
    fn from(e: ClientError) -> String {
        e.to_string()
    }
}

#[zbus::proxy(
    interface = "io.composed.Composed1.Manager",
    default_path = "/io/composed/Composed1",
    gen_blocking = false
)]
pub trait Manager {
    fn list_projects(&self) -> zbus::Result<Vec<ProjectView>>;
    fn list_services(&self, project: &str) -> zbus::Result<Vec<ServiceView>>;
    fn get_project(&self, name: &str) -> zbus::Result<OwnedObjectPath>;
    fn get_service(&self, project: &str, service: &str) -> zbus::Result<OwnedObjectPath>;
    fn reload(&self) -> zbus::Result<String>;
    fn reexec(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn status(&self) -> zbus::Result<String>;
}

/// A project or one of its services, as `PROJECT[/SERVICE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub project: String,
    pub service: Option<String>,
}

impl std::str::FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (project, service) = match s.split_once('/') {
            Some((p, s)) => (p, Some(s)),
            None => (s, None),
        };
        if project.is_empty() || service.is_some_and(str::is_empty) {
            return Err(format!("`{s}` is not PROJECT or PROJECT/SERVICE"));
        }
        Ok(Target {
            project: project.to_string(),
            service: service.map(str::to_string),
        })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.service {
            Some(s) => write!(f, "{}/{s}", self.project),
            None => write!(f, "{}", self.project),
        }
    }
}

/// A connection to a bus and the composed daemons on it.
pub struct Client {
    pub connection: Connection,
    bus: Bus,
    /// The bus names of every running composed, the directory daemon first.
    pub daemons: Vec<String>,
}

/// Calls can run as long as a project takes to stop and start (grace periods, healthchecks).
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15 * 60);

impl Client {
    /// Connects and finds the daemons; an error when there is none.
    pub async fn connect(bus: Bus) -> Result<Client, ClientError> {
        let builder = match bus {
            Bus::System | Bus::None => zbus::connection::Builder::system(),
            Bus::Session => zbus::connection::Builder::session(),
        };
        let connection = async { builder?.method_timeout(CALL_TIMEOUT).build().await }
            .await
            .map_err(|e| ClientError::NoBus {
                bus: bus_words(bus),
                detail: e.to_string(),
            })?;
        let names = zbus::fdo::DBusProxy::new(&connection)
            .await
            .map_err(|e| explain(bus, &e))?
            .list_names()
            .await
            .map_err(|e| explain(bus, &e.into()))?;
        let prefix = format!("{BUS_NAME}.");
        let mut daemons: Vec<String> = names
            .iter()
            .map(|n| n.to_string())
            .filter(|n| n == BUS_NAME || n.starts_with(&prefix))
            .collect();
        daemons.sort_by_key(|n| (n != BUS_NAME, n.clone()));
        if daemons.is_empty() {
            return Err(not_running(bus));
        }
        Ok(Client {
            connection,
            bus,
            daemons,
        })
    }

    pub async fn manager(&self, daemon: &str) -> Result<ManagerProxy<'static>, ClientError> {
        ManagerProxy::builder(&self.connection)
            .destination(daemon.to_string())
            .and_then(|b| b.path(MANAGER_PATH))
            .map_err(|e| self.explain(&e))?
            .build()
            .await
            .map_err(|e| self.explain(&e))
    }

    /// Every project of every daemon, with the daemon that manages it.
    pub async fn projects(&self) -> Result<Vec<(String, ProjectView)>, ClientError> {
        let mut out = Vec::new();
        for daemon in &self.daemons {
            let manager = self.manager(daemon).await?;
            for p in manager.list_projects().await.map_err(|e| self.explain(&e))? {
                out.push((daemon.clone(), p));
            }
        }
        Ok(out)
    }

    /// The services of one project (or of every project).
    pub async fn services(&self, project: Option<&str>) -> Result<Vec<ServiceView>, ClientError> {
        let mut out = Vec::new();
        match project {
            Some(name) => {
                let daemon = self.daemon_of(name).await?;
                let manager = self.manager(&daemon).await?;
                out = manager.list_services(name).await.map_err(|e| self.explain(&e))?;
            }
            None => {
                for daemon in &self.daemons {
                    let manager = self.manager(daemon).await?;
                    out.extend(manager.list_services("").await.map_err(|e| self.explain(&e))?);
                }
            }
        }
        Ok(out)
    }

    /// The daemon managing `project`.
    pub async fn daemon_of(&self, project: &str) -> Result<String, ClientError> {
        let projects = self.projects().await?;
        if let Some((daemon, _)) = projects.iter().find(|(_, p)| p.name == project) {
            return Ok(daemon.clone());
        }
        let known: Vec<&str> = projects.iter().map(|(_, p)| p.name.as_str()).collect();
        let project = project.to_string();
        Err(match known.is_empty() {
            true => ClientError::NoProjects { project },
            false => ClientError::NoSuchProject {
                project,
                known: known.join(", "),
            },
        })
    }

    /// The object path of a target, checked by its daemon (so a typo gets the list of names).
    pub async fn path_of(&self, target: &Target) -> Result<(String, OwnedObjectPath), ClientError> {
        let daemon = self.daemon_of(&target.project).await?;
        let manager = self.manager(&daemon).await?;
        let path = match &target.service {
            Some(s) => manager.get_service(&target.project, s).await,
            None => manager.get_project(&target.project).await,
        }
        .map_err(|e| self.explain(&e))?;
        Ok((daemon, path))
    }

    pub fn explain(&self, e: &zbus::Error) -> ClientError {
        explain(self.bus, e)
    }
}

fn bus_words(bus: Bus) -> &'static str {
    match bus {
        Bus::Session => "session bus",
        _ => "system bus",
    }
}

fn not_running(bus: Bus) -> ClientError {
    ClientError::NotRunning { bus: bus_words(bus) }
}

/// The D-Bus error name of an error from a call, if it has one.
pub fn error_name(e: &zbus::Error) -> Option<String> {
    use zbus::DBusError;
    match e {
        zbus::Error::MethodError(name, _, _) => Some(name.to_string()),
        zbus::Error::FDO(fdo) => Some(fdo.name().to_string()),
        _ => None,
    }
}

/// One error an operator can act on, for any failed call.
pub fn explain(bus: Bus, e: &zbus::Error) -> ClientError {
    let name = error_name(e).unwrap_or_default();
    let detail = match e {
        zbus::Error::MethodError(_, Some(detail), _) => detail.clone(),
        zbus::Error::FDO(fdo) => zbus::DBusError::description(fdo.as_ref())
            .unwrap_or_default()
            .to_string(),
        other => other.to_string(),
    };
    match name.as_str() {
        "org.freedesktop.DBus.Error.AccessDenied" => ClientError::AccessDenied {
            bus: bus_words(bus),
            detail,
        },
        "org.freedesktop.DBus.Error.ServiceUnknown" | "org.freedesktop.DBus.Error.NameHasNoOwner" => not_running(bus),
        n if n.starts_with(super::ERROR_PREFIX) => ClientError::Refused(detail),
        _ => ClientError::Unexpected(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_print() {
        let t: Target = "yelb/redis-server".parse().unwrap();
        assert_eq!(t.project, "yelb");
        assert_eq!(t.service.as_deref(), Some("redis-server"));
        assert_eq!(t.to_string(), "yelb/redis-server");
        assert_eq!("yelb".parse::<Target>().unwrap().service, None);
        assert!("/x".parse::<Target>().is_err());
        assert!("x/".parse::<Target>().is_err());
    }
}
