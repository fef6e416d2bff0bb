//! The daemon's side of the D-Bus API: one object per manager, project and service, read from
//! the last published [`Snapshot`], and one task that publishes each new snapshot: objects
//! appear and disappear with their projects and services, and every changed property goes out in
//! one `PropertiesChanged` signal per object. Methods become [`Command`]s for the daemon loop;
//! the bus never blocks it.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::{mpsc, oneshot};
use zbus::object_server::SignalEmitter;
use zbus::{Connection, interface};
use zvariant::{OwnedObjectPath, Value};

use super::{
    BUS_NAME, Bus, Command, MANAGER_PATH, Op, PROJECT_INTERFACE, ProjectView, SERVICE_INTERFACE, ServiceView, Snapshot,
    project_bus_name, project_path, service_path,
};

/// Errors a client receives, named `io.composed.Composed1.Error.*`.
#[derive(Debug, zbus::DBusError)]
#[zbus(prefix = "io.composed.Composed1.Error")]
pub enum ApiError {
    #[zbus(error)]
    ZBus(zbus::Error),
    NoSuchProject(String),
    NoSuchService(String),
    Failed(String),
}

/// What the objects read: the last published snapshot, by name.
#[derive(Default, Clone)]
struct Published {
    status: String,
    projects: BTreeMap<String, ProjectView>,
    services: BTreeMap<(String, String), ServiceView>,
}

type Shared = Arc<RwLock<Published>>;

/// The clients that asked for signals (`Manager.Watch`), by unique name. Signals go to each of
/// them, addressed, never broadcast: the bus policy lets only root and the `composed` group
/// call `Watch`, so no one else hears the state of the services.
type Watchers = Arc<std::sync::Mutex<std::collections::BTreeSet<zbus::names::OwnedUniqueName>>>;

fn read(shared: &Shared) -> std::sync::RwLockReadGuard<'_, Published> {
    shared.read().unwrap_or_else(|e| e.into_inner())
}

/// Sends a command to the daemon loop and waits for its answer.
async fn ask(
    commands: &mpsc::UnboundedSender<Command>,
    op: Op,
    project: &str,
    service: Option<&str>,
) -> Result<String, ApiError> {
    let (reply, answer) = oneshot::channel();
    let gone = || ApiError::Failed("composed is shutting down".into());
    commands
        .send(Command {
            op,
            project: project.to_string(),
            service: service.map(str::to_string),
            reply,
        })
        .map_err(|_| gone())?;
    answer.await.map_err(|_| gone())?.map_err(ApiError::Failed)
}

fn path(p: String) -> OwnedObjectPath {
    OwnedObjectPath::try_from(p).expect("labels make valid object paths")
}

fn no_such_project(published: &Published, name: &str) -> ApiError {
    let known: Vec<&str> = published.projects.keys().map(String::as_str).collect();
    ApiError::NoSuchProject(if known.is_empty() {
        format!("no project `{name}`: composed manages no projects")
    } else {
        format!("no project `{name}`; composed manages: {}", known.join(", "))
    })
}

struct Manager {
    shared: Shared,
    commands: mpsc::UnboundedSender<Command>,
    watchers: Watchers,
}

#[interface(name = "io.composed.Composed1.Manager")]
impl Manager {
    /// Every project.
    fn list_projects(&self) -> Vec<ProjectView> {
        read(&self.shared).projects.values().cloned().collect()
    }

    /// The services of `project`, or of every project when it is empty.
    fn list_services(&self, project: &str) -> Result<Vec<ServiceView>, ApiError> {
        let published = read(&self.shared);
        if !project.is_empty() && !published.projects.contains_key(project) {
            return Err(no_such_project(&published, project));
        }
        Ok(published
            .services
            .values()
            .filter(|s| project.is_empty() || s.project == project)
            .cloned()
            .collect())
    }

    fn get_project(&self, name: &str) -> Result<OwnedObjectPath, ApiError> {
        let published = read(&self.shared);
        match published.projects.contains_key(name) {
            true => Ok(path(project_path(name))),
            false => Err(no_such_project(&published, name)),
        }
    }

    fn get_service(&self, project: &str, service: &str) -> Result<OwnedObjectPath, ApiError> {
        let published = read(&self.shared);
        if !published.projects.contains_key(project) {
            return Err(no_such_project(&published, project));
        }
        if !published
            .services
            .contains_key(&(project.to_string(), service.to_string()))
        {
            let known: Vec<&str> = published
                .services
                .keys()
                .filter(|(p, _)| p == project)
                .map(|(_, s)| s.as_str())
                .collect();
            return Err(ApiError::NoSuchService(format!(
                "project `{project}` has no service `{service}`; its services: {}",
                known.join(", ")
            )));
        }
        Ok(path(service_path(project, service)))
    }

    /// Reads every project's files again (as `systemctl reload`); fails with the located error
    /// when an edit was refused (the last good configuration keeps running).
    async fn reload(&self) -> Result<String, ApiError> {
        ask(&self.commands, Op::Reload, "", None).await
    }

    /// Sends the caller every PropertiesChanged from now until it leaves the bus.
    fn watch(&self, #[zbus(header)] header: zbus::message::Header<'_>) -> Result<(), ApiError> {
        let sender = header
            .sender()
            .ok_or_else(|| ApiError::Failed("a call without a sender".into()))?;
        self.watchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sender.to_owned().into());
        Ok(())
    }

    /// Replaces composed with the binary on disk under the same PID (after an upgrade): the
    /// containers keep running, log forwarding resumes where it stopped. Answers just before the
    /// exec; the daemon is back on the bus once it has adopted its projects.
    async fn reexec(&self) -> Result<String, ApiError> {
        ask(&self.commands, Op::Reexec, "", None).await
    }

    #[zbus(property)]
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_string()
    }

    /// The daemon's STATUS line.
    #[zbus(property)]
    fn status(&self) -> String {
        read(&self.shared).status.clone()
    }

    #[zbus(property)]
    fn projects(&self) -> Vec<OwnedObjectPath> {
        read(&self.shared)
            .projects
            .keys()
            .map(|p| path(project_path(p)))
            .collect()
    }
}

struct ProjectObject {
    name: String,
    shared: Shared,
    commands: mpsc::UnboundedSender<Command>,
}

impl ProjectObject {
    fn view(&self) -> Option<ProjectView> {
        read(&self.shared).projects.get(&self.name).cloned()
    }
}

#[interface(name = "io.composed.Composed1.Project")]
impl ProjectObject {
    /// Starts what is stopped, in dependency order; answers once the project is up.
    async fn start(&self) -> Result<String, ApiError> {
        ask(&self.commands, Op::Start, &self.name, None).await
    }

    /// Stops every container (dependents first) and keeps them stopped until Start.
    async fn stop(&self) -> Result<String, ApiError> {
        ask(&self.commands, Op::Stop, &self.name, None).await
    }

    /// Stops every container, then starts them again in dependency order.
    async fn restart(&self) -> Result<String, ApiError> {
        ask(&self.commands, Op::Restart, &self.name, None).await
    }

    /// Stops and removes every container and network (dependents first; volumes kept), and
    /// keeps the project down until Start, which creates them again.
    async fn down(&self) -> Result<String, ApiError> {
        ask(&self.commands, Op::Down, &self.name, None).await
    }

    /// Reads the project's files again.
    async fn reload(&self) -> Result<String, ApiError> {
        ask(&self.commands, Op::Reload, &self.name, None).await
    }

    #[zbus(property)]
    fn name(&self) -> String {
        self.name.clone()
    }

    #[zbus(property)]
    fn state(&self) -> String {
        self.view().map(|v| v.state).unwrap_or_default()
    }

    #[zbus(property)]
    fn status(&self) -> String {
        self.view().map(|v| v.status).unwrap_or_default()
    }

    #[zbus(property)]
    fn config_error(&self) -> String {
        self.view().map(|v| v.config_error).unwrap_or_default()
    }

    #[zbus(property)]
    fn files(&self) -> Vec<String> {
        self.view().map(|v| v.files).unwrap_or_default()
    }

    #[zbus(property)]
    fn ready_services(&self) -> u32 {
        self.view().map(|v| v.ready_services).unwrap_or_default()
    }

    #[zbus(property)]
    fn services(&self) -> Vec<OwnedObjectPath> {
        read(&self.shared)
            .services
            .keys()
            .filter(|(p, _)| *p == self.name)
            .map(|(p, s)| path(service_path(p, s)))
            .collect()
    }
}

struct ServiceObject {
    project: String,
    service: String,
    shared: Shared,
    commands: mpsc::UnboundedSender<Command>,
}

impl ServiceObject {
    fn get<T: Default>(&self, f: impl FnOnce(&ServiceView) -> T) -> T {
        read(&self.shared)
            .services
            .get(&(self.project.clone(), self.service.clone()))
            .map(f)
            .unwrap_or_default()
    }

    async fn ask(&self, op: Op) -> Result<String, ApiError> {
        ask(&self.commands, op, &self.project, Some(&self.service)).await
    }
}

#[interface(name = "io.composed.Composed1.Service")]
impl ServiceObject {
    /// Starts the service's stopped containers.
    async fn start(&self) -> Result<String, ApiError> {
        self.ask(Op::Start).await
    }

    /// Stops the service's containers and keeps them stopped (no restart policy applies) until
    /// Start.
    async fn stop(&self) -> Result<String, ApiError> {
        self.ask(Op::Stop).await
    }

    /// Stops and starts the service's containers (same containers); dependents that declared
    /// `restart: true` follow.
    async fn restart(&self) -> Result<String, ApiError> {
        self.ask(Op::Restart).await
    }

    #[zbus(property)]
    fn project(&self) -> String {
        self.project.clone()
    }

    #[zbus(property)]
    fn name(&self) -> String {
        self.service.clone()
    }

    #[zbus(property)]
    fn state(&self) -> String {
        self.get(|v| v.state.clone())
    }

    #[zbus(property)]
    fn health(&self) -> String {
        self.get(|v| v.health.clone())
    }

    #[zbus(property)]
    fn detail(&self) -> String {
        self.get(|v| v.detail.clone())
    }

    #[zbus(property)]
    fn ready(&self) -> bool {
        self.get(|v| v.ready)
    }

    #[zbus(property)]
    fn restart_count(&self) -> u32 {
        self.get(|v| v.restart_count)
    }

    #[zbus(property)]
    fn last_exit_code(&self) -> i32 {
        self.get(|v| v.last_exit_code)
    }

    #[zbus(property)]
    fn last_exit_reason(&self) -> String {
        self.get(|v| v.last_exit_reason.clone())
    }

    /// Why its last edit was rolled back (it runs its previous configuration), or empty.
    #[zbus(property)]
    fn rollback(&self) -> String {
        self.get(|v| v.rollback.clone())
    }

    #[zbus(property)]
    fn container_id(&self) -> String {
        self.get(|v| v.container_id.clone())
    }

    #[zbus(property)]
    fn containers(&self) -> u32 {
        self.get(|v| v.containers)
    }

    #[zbus(property)]
    fn image(&self) -> String {
        self.get(|v| v.image.clone())
    }

    #[zbus(property)]
    fn ports(&self) -> Vec<String> {
        self.get(|v| v.ports.clone())
    }

    #[zbus(property)]
    fn since(&self) -> u64 {
        self.get(|v| v.since)
    }
}

/// The properties as they go into a `PropertiesChanged` signal (names as on the interface).
fn project_properties(v: &ProjectView, services: Vec<OwnedObjectPath>) -> Vec<(&'static str, Value<'static>)> {
    vec![
        ("State", Value::from(v.state.clone())),
        ("Status", Value::from(v.status.clone())),
        ("ConfigError", Value::from(v.config_error.clone())),
        ("Files", Value::from(v.files.clone())),
        ("ReadyServices", Value::from(v.ready_services)),
        ("Services", Value::from(services)),
    ]
}

fn service_properties(v: &ServiceView) -> Vec<(&'static str, Value<'static>)> {
    vec![
        ("State", Value::from(v.state.clone())),
        ("Health", Value::from(v.health.clone())),
        ("Detail", Value::from(v.detail.clone())),
        ("Ready", Value::from(v.ready)),
        ("RestartCount", Value::from(v.restart_count)),
        ("LastExitCode", Value::from(v.last_exit_code)),
        ("LastExitReason", Value::from(v.last_exit_reason.clone())),
        ("ContainerId", Value::from(v.container_id.clone())),
        ("Containers", Value::from(v.containers)),
        ("Image", Value::from(v.image.clone())),
        ("Ports", Value::from(v.ports.clone())),
        ("Since", Value::from(v.since)),
        ("Rollback", Value::from(v.rollback.clone())),
    ]
}

/// The properties whose values differ.
fn changed(
    old: Vec<(&'static str, Value<'static>)>,
    new: Vec<(&'static str, Value<'static>)>,
) -> HashMap<&'static str, Value<'static>> {
    old.into_iter()
        .zip(new)
        .filter(|((_, a), (_, b))| a != b)
        .map(|(_, (name, value))| (name, value))
        .collect()
}

/// Connects to the bus, takes the name and serves the API until the snapshots end (each one is
/// published, in order). `None` (with
/// the reason logged) when the bus or the name is not available: composed runs on without it.
pub async fn serve(
    bus: Bus,
    single_project: Option<String>,
    commands: mpsc::UnboundedSender<Command>,
    mut snapshots: mpsc::UnboundedReceiver<crate::state::Snapshot>,
) -> Option<tokio::task::JoinHandle<()>> {
    let builder = match bus {
        Bus::None => return None,
        Bus::System => zbus::connection::Builder::system(),
        Bus::Session => zbus::connection::Builder::session(),
    };
    let name = match &single_project {
        Some(p) => project_bus_name(p),
        None => BUS_NAME.to_string(),
    };
    let shared: Shared = Default::default();
    let watchers: Watchers = Default::default();
    let manager = Manager {
        shared: shared.clone(),
        commands: commands.clone(),
        watchers: watchers.clone(),
    };
    let connection = async {
        builder?
            .serve_at(MANAGER_PATH, manager)?
            .name(name.as_str())?
            .build()
            .await
    }
    .await;
    let connection = match connection {
        Ok(c) => c,
        Err(e) => {
            let hint = match bus {
                Bus::System => " (is the D-Bus policy from packaging/ installed in /usr/share/dbus-1/system.d?)",
                _ => "",
            };
            tracing::warn!("no D-Bus API: cannot serve {name} on the {bus:?} bus: {e}{hint}");
            return None;
        }
    };
    tracing::info!("D-Bus API: {name} on the {} bus", format!("{bus:?}").to_lowercase());
    forget_departed_watchers(&connection, watchers.clone()).await;
    let mut publisher = Publisher {
        connection,
        shared,
        commands,
        watchers,
    };
    Some(tokio::spawn(async move {
        while let Some(snapshot) = snapshots.recv().await {
            if let Err(e) = publisher.publish(super::views::snapshot(&snapshot)).await {
                tracing::warn!("D-Bus: {e}");
            }
        }
    }))
}

/// Drops a watcher when it leaves the bus.
async fn forget_departed_watchers(connection: &Connection, watchers: Watchers) {
    let Ok(bus) = zbus::fdo::DBusProxy::new(connection).await else {
        return;
    };
    let Ok(mut changes) = bus.receive_name_owner_changed().await else {
        return;
    };
    tokio::spawn(async move {
        use futures_util::StreamExt;
        while let Some(change) = changes.next().await {
            let Ok(args) = change.args() else { continue };
            if args.new_owner().is_none()
                && let zbus::names::BusName::Unique(name) = args.name()
            {
                let gone: zbus::names::OwnedUniqueName = name.to_owned().into();
                watchers.lock().unwrap_or_else(|e| e.into_inner()).remove(&gone);
            }
        }
    });
}

struct Publisher {
    connection: Connection,
    shared: Shared,
    commands: mpsc::UnboundedSender<Command>,
    watchers: Watchers,
}

impl Publisher {
    /// Swaps in the new snapshot, then adds, removes and signals objects to match it.
    async fn publish(&mut self, snapshot: Snapshot) -> zbus::Result<()> {
        let now = crate::clock::unix_micros();
        let (old, new) = {
            let mut published = self.shared.write().unwrap_or_else(|e| e.into_inner());
            let mut services = BTreeMap::new();
            for mut s in snapshot.services {
                let key = (s.project.clone(), s.service.clone());
                s.since = match published.services.get(&key) {
                    Some(old) if old.state == s.state && old.health == s.health => old.since,
                    _ => now,
                };
                services.insert(key, s);
            }
            let projects = snapshot.projects.into_iter().map(|p| (p.name.clone(), p)).collect();
            let new = Published {
                status: snapshot.status,
                projects,
                services,
            };
            let old = std::mem::replace(&mut *published, new.clone());
            (old, new)
        };
        let server = self.connection.object_server();

        for name in old.projects.keys().filter(|n| !new.projects.contains_key(*n)) {
            for (p, s) in old.services.keys().filter(|(p, _)| p == name) {
                server.remove::<ServiceObject, _>(service_path(p, s)).await?;
            }
            server.remove::<ProjectObject, _>(project_path(name)).await?;
        }
        for (key, view) in &new.services {
            let path = service_path(&key.0, &key.1);
            match old.services.get(key) {
                None => {
                    let object = ServiceObject {
                        project: key.0.clone(),
                        service: key.1.clone(),
                        shared: self.shared.clone(),
                        commands: self.commands.clone(),
                    };
                    server.at(path, object).await?;
                }
                Some(before) => {
                    let diff = changed(service_properties(before), service_properties(view));
                    self.signal(&path, SERVICE_INTERFACE, diff).await?;
                }
            }
        }
        for (p, s) in old.services.keys().filter(|k| !new.services.contains_key(*k)) {
            if new.projects.contains_key(p) {
                server.remove::<ServiceObject, _>(service_path(p, s)).await?;
            }
        }
        let services_of = |published: &Published, project: &str| -> Vec<OwnedObjectPath> {
            published
                .services
                .keys()
                .filter(|(p, _)| p == project)
                .map(|(p, s)| path(service_path(p, s)))
                .collect()
        };
        for (name, view) in &new.projects {
            match old.projects.get(name) {
                None => {
                    let object = ProjectObject {
                        name: name.clone(),
                        shared: self.shared.clone(),
                        commands: self.commands.clone(),
                    };
                    server.at(project_path(name), object).await?;
                }
                Some(before) => {
                    let diff = changed(
                        project_properties(before, services_of(&old, name)),
                        project_properties(view, services_of(&new, name)),
                    );
                    self.signal(&project_path(name), PROJECT_INTERFACE, diff).await?;
                }
            }
        }
        let manager_props = |p: &Published| {
            vec![
                ("Status", Value::from(p.status.clone())),
                (
                    "Projects",
                    Value::from(p.projects.keys().map(|n| path(project_path(n))).collect::<Vec<_>>()),
                ),
            ]
        };
        let diff = changed(manager_props(&old), manager_props(&new));
        self.signal(MANAGER_PATH, super::MANAGER_INTERFACE, diff).await
    }

    async fn signal(
        &self,
        path: &str,
        interface: &'static str,
        changed: HashMap<&'static str, Value<'static>>,
    ) -> zbus::Result<()> {
        if changed.is_empty() {
            return Ok(());
        }
        let watchers: Vec<_> = self
            .watchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        let interface = zbus::names::InterfaceName::from_static_str_unchecked(interface);
        for watcher in watchers {
            let emitter = SignalEmitter::new(&self.connection, path.to_string())?
                .set_destination(zbus::names::BusName::Unique(watcher.into()));
            let changed = changed.iter().map(|(k, v)| (*k, v.clone())).collect();
            zbus::fdo::Properties::properties_changed(
                &emitter,
                interface.clone(),
                changed,
                std::borrow::Cow::Borrowed(&[]),
            )
            .await?;
        }
        Ok(())
    }
}
