//! A recording fake of [`Engine`] for unit tests of the executor and the daemon: containers,
//! networks and volumes kept in memory, every call recorded in order (`"create web-1"`,
//! `"start web-1"`...), events sent to every stream opened before them, and failures scripted
//! per call. Time is tokio's, so tests run on paused time.
//!
//! A started container runs until it is stopped; one created while its service is marked
//! [`FakeEngine::healthy_after`] reports healthy that long after each start, one created while
//! it is marked [`FakeEngine::exits_after`] dies with its code. Containers created before a mark
//! changes keep the behaviour they were created with (an edit's new container can misbehave
//! while the old one is fine).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tokio::sync::broadcast;

use super::events::{ContainerEvent, EventKind};
use super::logs::LogFrame;
use super::{Engine, EngineError, EventScope, ExecOutcome, Version, VolumeMount};
use crate::identity;
use crate::model::{Hook, Network, Project, Service, Volume};
use crate::observed::{ContainerState, Health, Observed, ObservedContainer, ObservedObject};
use crate::spec::{ContainerSpec, InjectedFile};

#[derive(Debug, Clone)]
pub struct FakeContainer {
    pub id: String,
    pub name: String,
    pub project: String,
    pub service: String,
    pub number: u32,
    pub hash: Option<String>,
    pub config: Option<String>,
    pub image_id: String,
    /// Volumes mounted, as the engine resolves them: anonymous ones get a generated name.
    pub mounts: Vec<VolumeMount>,
    healthy_after: Option<Duration>,
    exits_after: Option<(Duration, i64)>,
    pub running: bool,
    pub health: Option<Health>,
    pub created: i64,
}

#[derive(Debug, Default)]
struct State {
    containers: BTreeMap<String, FakeContainer>,
    networks: BTreeMap<String, ObservedObject>,
    volumes: BTreeMap<String, ObservedObject>,
    images: HashMap<String, String>,
    calls: Vec<String>,
    /// `"create web-1"` -> the error that call gets (once each).
    failures: HashMap<String, Vec<String>>,
    healthy_after: HashMap<String, Duration>,
    /// Image -> the paths it declares as `VOLUME`s.
    image_volumes: HashMap<String, Vec<String>>,
    exits_after: HashMap<String, (Duration, i64)>,
    /// `"exec web-1 CMD..."` -> the exit codes of its runs, in turn (0 when none is left).
    exec_exits: HashMap<String, Vec<i64>>,
    /// Container name -> the paths of the files copied into it.
    copied: HashMap<String, Vec<String>>,
    next_id: u64,
    clock: i64,
    down: bool,
}

/// The fake engine; clones share one state.
#[derive(Clone)]
pub struct FakeEngine {
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<ContainerEvent>,
}

impl Default for FakeEngine {
    fn default() -> Self {
        let (events, _) = broadcast::channel(1024);
        FakeEngine {
            state: Arc::default(),
            events,
        }
    }
}

impl FakeEngine {
    /// A project's containers as a listing shows them.
    fn listed(&self, project: &str) -> Vec<ObservedContainer> {
        self.state()
            .containers
            .values()
            .filter(|c| c.project == project)
            .map(|c| ObservedContainer {
                id: c.id.clone(),
                name: c.name.clone(),
                service: c.service.clone(),
                number: c.number,
                hash: c.hash.clone(),
                config: c.config.clone(),
                image_id: c.image_id.clone(),
                state: if c.running {
                    ContainerState::Running
                } else {
                    ContainerState::Exited
                },
                health: c.health,
                created: c.created,
            })
            .collect()
    }

    pub fn new() -> FakeEngine {
        FakeEngine::default()
    }

    /// Every call so far, in order, and forgets them.
    pub fn take_calls(&self) -> Vec<String> {
        std::mem::take(&mut self.state().calls)
    }

    /// The next `call` (`"create web-1"`, `"start web-1"`, `"pull busybox"`...) fails with
    /// `message`; several scripted failures of one call are used in turn.
    pub fn fail(&self, call: &str, message: &str) {
        self.state()
            .failures
            .entry(call.to_string())
            .or_default()
            .push(message.to_string());
    }

    /// Containers of `service` created from now on report healthy `after` each start.
    pub fn healthy_after(&self, service: &str, after: Duration) {
        self.state().healthy_after.insert(service.to_string(), after);
    }

    /// Containers of `service` created from now on never report healthy.
    pub fn never_healthy(&self, service: &str) {
        self.state().healthy_after.remove(service);
    }

    /// Containers of `service` created from now on exit with `code` `after` each start.
    pub fn exits_after(&self, service: &str, after: Duration, code: i64) {
        self.state().exits_after.insert(service.to_string(), (after, code));
    }

    /// A volume another tool made for `project` (its label, without composed's mark).
    pub fn add_foreign_volume(&self, name: &str, project: &str) {
        let object = ObservedObject {
            id: name.to_string(),
            project: Some(project.to_string()),
            managed: false,
        };
        self.state().volumes.insert(name.to_string(), object);
    }

    /// The next run of `call` (`"exec web-1 sh -c x"`) exits with `code`.
    pub fn exec_exits(&self, call: &str, code: i64) {
        self.state().exec_exits.entry(call.to_string()).or_default().push(code);
    }

    /// The paths of the files copied into container `name`.
    pub fn copied_into(&self, name: &str) -> Vec<String> {
        self.state().copied.get(name).cloned().unwrap_or_default()
    }

    /// Containers of `service` created from now on keep running.
    pub fn keeps_running(&self, service: &str) {
        self.state().exits_after.remove(service);
    }

    /// Gives an image `VOLUME`s (the engine mounts an anonymous volume at each one the
    /// container does not mount itself).
    pub fn image_with_volumes(&self, image: &str, paths: &[&str]) {
        self.add_image(image);
        let paths = paths.iter().map(|p| p.to_string()).collect();
        self.state()
            .image_volumes
            .insert(identity::normalise_image(image), paths);
    }

    /// Makes an image present.
    pub fn add_image(&self, image: &str) {
        self.state()
            .images
            .insert(identity::normalise_image(image), format!("sha256:{image}"));
    }

    /// The engine stops answering (every call fails as not running) or answers again.
    pub fn set_down(&self, down: bool) {
        self.state().down = down;
    }

    /// The containers, by name.
    pub fn containers(&self) -> BTreeMap<String, FakeContainer> {
        self.state()
            .containers
            .values()
            .map(|c| (c.name.clone(), c.clone()))
            .collect()
    }

    /// The engine restarted without live-restore: every container is stopped, and no event says
    /// so (the event stream was down meanwhile).
    pub fn restart_without_live_restore(&self) {
        for c in self.state().containers.values_mut() {
            c.running = false;
            c.health = None;
        }
    }

    /// Kills a running container from outside (as `docker kill` would).
    pub fn kill(&self, name: &str, code: i64) {
        let event = {
            let mut st = self.state();
            let Some(c) = st.containers.values_mut().find(|c| c.name == name && c.running) else {
                return;
            };
            c.running = false;
            event_of(c, EventKind::Die { exit_code: code })
        };
        let _ = self.events.send(event);
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a call and returns its scripted failure, if any.
    fn call(&self, call: String) -> Result<(), EngineError> {
        let mut st = self.state();
        if st.down {
            return Err(EngineError::NotRunning {
                host: "fake".into(),
                detail: "stopped".into(),
            });
        }
        st.calls.push(call.clone());
        match st.failures.get_mut(&call).filter(|f| !f.is_empty()) {
            Some(f) => Err(EngineError::Refused(f.remove(0))),
            None => Ok(()),
        }
    }

    fn by_id(&self, id: &str) -> Option<FakeContainer> {
        self.state().containers.get(id).cloned()
    }

    /// After a start: the container's scripted health and exit, on tokio's clock.
    fn schedule_after_start(&self, c: &FakeContainer) {
        if let Some(after) = c.healthy_after {
            self.later(c.id.clone(), after, None);
        }
        if let Some((after, code)) = c.exits_after {
            self.later(c.id.clone(), after, Some(code));
        }
    }

    fn later(&self, id: String, after: Duration, exit: Option<i64>) {
        let fake = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let event = {
                let mut st = fake.state();
                let Some(c) = st.containers.get_mut(&id).filter(|c| c.running) else {
                    return;
                };
                match exit {
                    Some(code) => {
                        c.running = false;
                        event_of(c, EventKind::Die { exit_code: code })
                    }
                    None => {
                        c.health = Some(Health::Healthy);
                        event_of(c, EventKind::Healthy)
                    }
                }
            };
            let _ = fake.events.send(event);
        });
    }
}

/// The volumes a new container gets, as the engine resolves them: each volume mount of the
/// spec (a fresh anonymous volume where it names none), then an anonymous volume for every
/// image `VOLUME` nothing else is mounted at.
fn resolve_mounts(st: &mut State, spec: &ContainerSpec, image: &str) -> Vec<VolumeMount> {
    let host = spec.body.host_config.clone().unwrap_or_default();
    let spec_mounts = host.mounts.unwrap_or_default();
    let mut out = Vec::new();
    for m in &spec_mounts {
        if m.typ != Some(bollard::models::MountType::VOLUME) {
            continue;
        }
        let name = match &m.source {
            Some(name) => name.clone(),
            None => anonymous_volume(st),
        };
        out.push(VolumeMount {
            name,
            target: m.target.clone().unwrap_or_default(),
            read_only: m.read_only.unwrap_or(false),
        });
    }
    let declared = st
        .image_volumes
        .get(&identity::normalise_image(image))
        .cloned()
        .unwrap_or_default();
    for path in declared {
        if !spec_mounts.iter().any(|m| m.target.as_deref() == Some(path.as_str())) {
            let name = anonymous_volume(st);
            out.push(VolumeMount {
                name,
                target: path,
                read_only: false,
            });
        }
    }
    out
}

fn anonymous_volume(st: &mut State) -> String {
    st.next_id += 1;
    format!("anon{:060x}", st.next_id)
}

fn event_of(c: &FakeContainer, kind: EventKind) -> ContainerEvent {
    ContainerEvent {
        id: c.id.clone(),
        name: c.name.clone(),
        project: c.project.clone(),
        service: c.service.clone(),
        number: c.number,
        kind,
    }
}

impl Engine for FakeEngine {
    async fn check_version(&self) -> Result<Version, EngineError> {
        self.call("version".into())?;
        Ok(Version {
            api: "1.51".into(),
            server: "fake".into(),
        })
    }

    async fn ping(&self) -> Result<(), EngineError> {
        self.call("ping".into())
    }

    async fn observe(&self, project: &str) -> Result<Observed, EngineError> {
        self.call(format!("observe {project}"))?;
        let containers = self.listed(project);
        let st = self.state();
        Ok(Observed {
            containers,
            networks: st.networks.clone(),
            volumes: st.volumes.clone(),
            images: st.images.clone(),
            stale_images: Default::default(),
        })
    }

    async fn containers(&self, project: &str) -> Result<Vec<ObservedContainer>, EngineError> {
        self.call(format!("observe containers {project}"))?;
        Ok(self.listed(project))
    }

    async fn create_network(&self, project: &Project, _key: &str, net: &Network) -> Result<(), EngineError> {
        self.call(format!("create network {}", net.name))?;
        let object = ObservedObject {
            id: net.name.clone(),
            project: Some(project.name.clone()),
            managed: true,
        };
        self.state().networks.insert(net.name.clone(), object);
        Ok(())
    }

    async fn create_volume(&self, project: &Project, _key: &str, vol: &Volume) -> Result<(), EngineError> {
        self.call(format!("create volume {}", vol.name))?;
        let object = ObservedObject {
            id: vol.name.clone(),
            project: Some(project.name.clone()),
            managed: true,
        };
        self.state().volumes.insert(vol.name.clone(), object);
        Ok(())
    }

    async fn pull(&self, image: &str) -> Result<(), EngineError> {
        self.call(format!("pull {image}"))?;
        self.add_image(image);
        Ok(())
    }

    async fn build(&self, project: &Project, service: &Service) -> Result<(), EngineError> {
        let image = identity::image_name(project, service);
        self.call(format!("build {image}"))?;
        self.add_image(&image);
        Ok(())
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, EngineError> {
        self.call(format!("create {}", spec.name))?;
        let labels = spec.body.labels.clone().unwrap_or_default();
        let mut st = self.state();
        if st.containers.values().any(|c| c.name == spec.name) {
            return Err(EngineError::Refused(format!(
                "the name {} is already in use",
                spec.name
            )));
        }
        st.next_id += 1;
        st.clock += 1;
        let id = format!("{:012x}{:052x}", st.next_id, 0);
        let image = spec.body.image.clone().unwrap_or_default();
        let image_id = st
            .images
            .get(&identity::normalise_image(&image))
            .cloned()
            .unwrap_or_default();
        let mounts = resolve_mounts(&mut st, spec, &image);
        let service = labels.get(identity::SERVICE).cloned().unwrap_or_default();
        let (healthy_after, exits_after) = (
            st.healthy_after.get(&service).copied(),
            st.exits_after.get(&service).copied(),
        );
        let container = FakeContainer {
            id: id.clone(),
            name: spec.name.clone(),
            project: labels.get(identity::PROJECT).cloned().unwrap_or_default(),
            service: labels.get(identity::SERVICE).cloned().unwrap_or_default(),
            number: spec.number,
            hash: labels.get(identity::CONFIG_HASH).cloned(),
            config: labels.get(identity::SERVICE_CONFIG).cloned(),
            image_id,
            mounts,
            healthy_after,
            exits_after,
            running: false,
            health: None,
            created: st.clock,
        };
        st.containers.insert(id.clone(), container);
        Ok(id)
    }

    async fn start_container(&self, id: &str, name: &str) -> Result<(), EngineError> {
        self.call(format!("start {name}"))?;
        let started = {
            let mut st = self.state();
            let Some(c) = st.containers.get_mut(id) else {
                return Err(EngineError::Refused(format!("no such container: {name}")));
            };
            if c.running {
                return Ok(());
            }
            c.running = true;
            c.health = None;
            c.clone()
        };
        let _ = self.events.send(event_of(&started, EventKind::Start));
        self.schedule_after_start(&started);
        Ok(())
    }

    async fn exec(&self, id: &str, name: &str, hook: &Hook) -> Result<ExecOutcome, EngineError> {
        let call = format!("exec {name} {}", hook.command.join(" "));
        self.call(call.clone())?;
        let mut st = self.state();
        if !st.containers.get(id).is_some_and(|c| c.running) {
            return Err(EngineError::Refused(format!("container {name} is not running")));
        }
        let code = st
            .exec_exits
            .get_mut(&call)
            .filter(|c| !c.is_empty())
            .map_or(0, |c| c.remove(0));
        Ok(ExecOutcome {
            exit_code: code,
            output: format!("output of {}", hook.command.join(" ")),
        })
    }

    async fn copy_files(&self, _id: &str, name: &str, files: &[InjectedFile]) -> Result<(), EngineError> {
        self.call(format!("copy into {name}"))?;
        let paths = files.iter().map(|f| f.path.clone());
        self.state().copied.entry(name.to_string()).or_default().extend(paths);
        Ok(())
    }

    async fn stop_container(&self, id: &str, name: &str, _timeout: i64) -> Result<(), EngineError> {
        self.call(format!("stop {name}"))?;
        let stopped = {
            let mut st = self.state();
            match st.containers.get_mut(id).filter(|c| c.running) {
                Some(c) => {
                    c.running = false;
                    Some(c.clone())
                }
                None => None,
            }
        };
        if let Some(c) = stopped {
            let _ = self.events.send(event_of(&c, EventKind::Die { exit_code: 143 }));
        }
        Ok(())
    }

    async fn remove_container(&self, id: &str, name: &str) -> Result<(), EngineError> {
        self.call(format!("remove {name}"))?;
        let removed = self.state().containers.remove(id);
        if let Some(c) = removed {
            let _ = self.events.send(event_of(&c, EventKind::Destroy));
        }
        Ok(())
    }

    async fn rename_container(&self, id: &str, new_name: &str) -> Result<(), EngineError> {
        let old = self.by_id(id).map(|c| c.name).unwrap_or_default();
        self.call(format!("rename {old} {new_name}"))?;
        if let Some(c) = self.state().containers.get_mut(id) {
            c.name = new_name.to_string();
        }
        Ok(())
    }

    async fn is_running(&self, id: &str) -> Result<bool, EngineError> {
        Ok(self.by_id(id).is_some_and(|c| c.running))
    }

    async fn volume_mounts(&self, id: &str) -> Result<Vec<VolumeMount>, EngineError> {
        Ok(self.by_id(id).map(|c| c.mounts).unwrap_or_default())
    }

    async fn image_tagged_at(&self, _image: &str) -> Result<Option<i64>, EngineError> {
        Ok(None)
    }

    async fn image_volumes(&self, image: &str) -> Result<Vec<String>, EngineError> {
        let st = self.state();
        Ok(st
            .image_volumes
            .get(&identity::normalise_image(image))
            .cloned()
            .unwrap_or_default())
    }

    async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        self.call(format!("remove network {name}"))?;
        self.state().networks.remove(name);
        Ok(())
    }

    async fn remove_volume(&self, name: &str) -> Result<(), EngineError> {
        self.call(format!("remove volume {name}"))?;
        self.state().volumes.remove(name);
        Ok(())
    }

    fn events(&self, scope: EventScope, _since: &str) -> BoxStream<'static, Result<ContainerEvent, EngineError>> {
        let receiver = self.events.subscribe();
        futures_util::stream::unfold(receiver, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(event) => return Some((event, receiver)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .filter_map(move |e| {
            let keep = match &scope {
                EventScope::Project(p) => (&e.project == p).then_some(Ok(e)),
                EventScope::Managed => Some(Ok(e)),
            };
            async move { keep }
        })
        .boxed()
    }

    fn logs(&self, _id: &str, _since: i64) -> BoxStream<'static, Result<LogFrame, EngineError>> {
        futures_util::stream::empty().boxed()
    }
}
