//! The daemon: keeps every managed project converged, supervises its containers, reloads edited
//! files, and tells systemd the truth.
//!
//! One loop, one closed [`Event`] enum: engine events, file changes, restart timers, finished
//! reconciles, signals, the watchdog tick and a slow resync. Reconciles run as tasks (so signals
//! and other projects are never blocked) and report back as events. A bad edit keeps the last
//! good configuration running.

pub mod guard;
pub mod holds;
pub mod project;
pub mod sources;
pub mod systemd;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::bus::{Bus, Command, Op, Snapshot};
use crate::engine::Engine;
use crate::engine::events::ContainerEvent;
use crate::execute::{self, Report};
use crate::identity;
use crate::observed::Observed;
use crate::supervise::backoff::Backoff;
use project::{Action, ProjectRuntime, Reload, Reply};

/// How the daemon was started.
#[derive(Debug, Clone)]
pub struct Config {
    /// Manage every project in this directory...
    pub root: PathBuf,
    /// ...or exactly this one (a directory or a compose file).
    pub project: Option<PathBuf>,
    /// Where the per-project lock files live.
    pub runtime_dir: PathBuf,
    /// The slow periodic resync, for anything the event stream missed.
    pub resync: Duration,
    /// Where the D-Bus API is served.
    pub bus: Bus,
}

#[derive(Debug)]
enum Event {
    Engine(ContainerEvent),
    EngineLost(String),
    EngineBack,
    FilesChanged,
    RestartDue {
        project: String,
        service: String,
        number: u32,
        id: String,
    },
    Restarted {
        project: String,
        service: String,
        result: Result<(), String>,
        /// Dependents with `restart: true` follow (not after an operator's start).
        dependents: bool,
        reply: Option<Reply>,
    },
    /// An operator's stop (or the first half of a restart) is done.
    Stopped {
        project: String,
        service: Option<String>,
        errors: Vec<String>,
        then_start: bool,
        reply: Reply,
    },
    Command(Command),
    Applied {
        project: String,
        result: Result<(Report, Observed), String>,
    },
    Signal(Signal),
}

#[derive(Debug, Clone, Copy)]
enum Signal {
    Terminate,
    Reload,
}

struct Daemon {
    config: Config,
    engine: Engine,
    projects: BTreeMap<String, ProjectRuntime>,
    tx: mpsc::UnboundedSender<Event>,
    ready_sent: bool,
    engine_up: bool,
    /// The last STATUS sent, so an unchanged line is not sent again.
    last_status: std::cell::RefCell<String>,
    /// Where container output goes; `None` outside systemd.
    journal: Option<std::sync::Arc<crate::journal::native::Journal>>,
    /// One log forwarder per running container.
    forwarders: std::collections::HashMap<String, tokio::task::JoinHandle<()>>,
    /// What the D-Bus API shows, sent on every change (each one, in order, so a client that
    /// follows the signals sees every state); `None` without the API.
    snapshots: Option<mpsc::UnboundedSender<Snapshot>>,
    last_snapshot: std::cell::RefCell<Snapshot>,
}

/// Runs until SIGTERM; returns the exit code.
pub async fn run(config: Config) -> ExitCode {
    let engine = match Engine::connect() {
        Ok(e) => e,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut wait = Backoff::new(Duration::from_secs(1), Duration::from_secs(10), Duration::MAX);
    while let Err(e) = engine.check_version().await {
        if matches!(
            e,
            crate::engine::EngineError::TooOld { .. } | crate::engine::EngineError::PermissionDenied { .. }
        ) {
            tracing::error!("{e}");
            systemd::status(&e.to_string());
            return ExitCode::FAILURE;
        }
        systemd::status(&format!("waiting for the Docker engine: {e}"));
        tracing::warn!("{e}; retrying");
        tokio::time::sleep(wait.next().unwrap_or_default()).await;
    }

    let (tx, mut rx) = mpsc::unbounded_channel();
    spawn_signals(tx.clone());
    let mut daemon = Daemon {
        config,
        engine,
        projects: BTreeMap::new(),
        tx: tx.clone(),
        ready_sent: false,
        engine_up: true,
        last_status: Default::default(),
        journal: None,
        forwarders: Default::default(),
        snapshots: None,
        last_snapshot: Default::default(),
    };
    daemon.journal =
        crate::journal::native::Journal::connect(&crate::journal::native::socket_path()).map(std::sync::Arc::new);
    match &daemon.journal {
        Some(j) => tracing::info!("forwarding container output to the journal at {}", j.path().display()),
        None => tracing::info!("no journal socket: container output stays in the engine (docker logs)"),
    }
    if let Err(message) = daemon.add_projects() {
        tracing::error!("{message}");
        systemd::status(&message);
        return ExitCode::FAILURE;
    }
    let _watcher = spawn_watcher(&daemon, tx.clone());
    let (commands, mut command_rx) = mpsc::unbounded_channel();
    let single = daemon
        .single()
        .then(|| daemon.projects.keys().next().cloned())
        .flatten();
    let (snapshots, snapshot_rx) = mpsc::unbounded_channel();
    let bus = crate::bus::server::serve(daemon.config.bus, single, commands, snapshot_rx).await;
    daemon.snapshots = bus.is_some().then_some(snapshots);
    daemon.follow_engine(now_secs() - 1);
    for name in daemon.projects.keys().cloned().collect::<Vec<_>>() {
        daemon.reconcile(&name, true);
    }
    daemon.update_status();

    let mut watchdog = systemd::watchdog_interval().map(|d| tokio::time::interval(d / 2));
    let mut resync = tokio::time::interval(daemon.config.resync);
    resync.tick().await;
    let mut debounce: Option<tokio::time::Instant> = None;
    loop {
        let event = tokio::select! {
            Some(event) = rx.recv() => event,
            Some(command) = command_rx.recv() => Event::Command(command),
            _ = tick(&mut watchdog) => {
                if daemon.engine_up && daemon.engine.docker.ping().await.is_ok() {
                    systemd::watchdog();
                }
                continue;
            }
            _ = resync.tick() => {
                for name in daemon.projects.keys().cloned().collect::<Vec<_>>() {
                    daemon.reconcile(&name, false);
                }
                continue;
            }
            _ = sleep_until(debounce) => {
                debounce = None;
                daemon.reload(false).await;
                continue;
            }
        };
        match event {
            Event::Signal(Signal::Terminate) => return daemon.shutdown().await,
            Event::Signal(Signal::Reload) => daemon.reload(true).await,
            Event::Command(command) => {
                daemon.command(command).await;
                daemon.update_status();
            }
            Event::FilesChanged => debounce = Some(tokio::time::Instant::now() + Duration::from_millis(300)),
            other => daemon.handle(other),
        }
    }
}

async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

impl Daemon {
    fn single(&self) -> bool {
        self.config.project.is_some()
    }

    /// Finds, locks and loads the projects. In single-project mode every failure is fatal.
    fn add_projects(&mut self) -> Result<(), String> {
        let sources = match &self.config.project {
            Some(path) => vec![sources::single(path)?],
            None => sources::scan(&self.config.root),
        };
        for source in sources {
            if self.projects.contains_key(&source.name) {
                continue;
            }
            let lock = match guard::lock(&self.config.runtime_dir, &source.name) {
                Ok(l) => l,
                Err(e) if self.single() => return Err(e),
                Err(e) => {
                    tracing::error!("{e}");
                    continue;
                }
            };
            let name = source.name.clone();
            let holds = holds::Holds::load(&self.config.runtime_dir, &source.name);
            let mut rt = ProjectRuntime::new(source, lock, holds);
            if let Reload::Refused(errors) = rt.reload() {
                for e in &errors {
                    tracing::error!(project = %name, "{e}");
                }
                if self.single() {
                    return Err(format!(
                        "{name}: {}",
                        errors
                            .first()
                            .cloned()
                            .unwrap_or_default()
                            .lines()
                            .next()
                            .unwrap_or_default()
                    ));
                }
            }
            tracing::info!(project = %name, "{name}: managing the project");
            self.projects.insert(name, rt);
        }
        Ok(())
    }

    /// Follows the engine's events for every container composed manages.
    fn follow_engine(&self, since: i64) {
        let stream = self
            .engine
            .labelled_events(&format!("{}=composed", identity::MANAGED_BY), since);
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(item) = stream.next().await {
                match item {
                    Ok(event) => {
                        if tx.send(Event::Engine(event)).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Event::EngineLost(e.to_string()));
                        return;
                    }
                }
            }
            let _ = tx.send(Event::EngineLost("the event stream ended".into()));
        });
    }

    /// Observes, plans and applies one project in a task; the result comes back as an event.
    fn reconcile(&mut self, name: &str, start_exited: bool) {
        self.reconcile_then(name, start_exited, None);
    }

    /// [`Self::reconcile`], answering `reply` when it is done. A stopped project is left alone;
    /// held services keep their containers as they are.
    fn reconcile_then(&mut self, name: &str, start_exited: bool, reply: Option<Reply>) {
        let Some(rt) = self.projects.get_mut(name) else { return };
        let Some(project) = rt.project.clone() else {
            if let Some(r) = reply {
                let _ = r.send(Err(rt.status_line()));
            }
            return;
        };
        if rt.holds.project {
            let line = rt.status_line();
            for r in reply.into_iter().chain(std::mem::take(&mut rt.next_waiters)) {
                let _ = r.send(Ok(line.clone()));
            }
            return;
        }
        if rt.applying || !self.engine_up {
            rt.pending = Some(rt.pending.unwrap_or(false) || start_exited);
            rt.next_waiters.extend(reply);
            return;
        }
        rt.applying = true;
        let queued = std::mem::take(&mut rt.next_waiters);
        rt.waiters.extend(queued);
        rt.waiters.extend(reply);
        let held = rt.held_services();
        let engine = self.engine.clone();
        let tx = self.tx.clone();
        let name = name.to_string();
        tokio::spawn(async move {
            let result = async {
                let observed = engine.observe(&project.name).await.map_err(|e| e.to_string())?;
                let mut plan = crate::plan::plan_with(&project, &observed, start_exited);
                plan.leave_alone(&held);
                if plan.is_noop() && !start_exited {
                    return Ok((Report::default(), observed));
                }
                if !plan.is_noop() {
                    let pulls = plan.services.iter().any(|s| {
                        matches!(
                            s.image,
                            crate::plan::ImageStep::Pull(_) | crate::plan::ImageStep::Build(_)
                        )
                    });
                    if pulls {
                        systemd::extend_timeout(Duration::from_secs(300));
                    }
                }
                let progress = |subject: &str, what: &str| tracing::info!(project = %project.name, "{}: {subject}: {what}", project.name);
                let report = execute::apply(
                    &engine,
                    &project,
                    &observed,
                    plan,
                    execute::Options { wait: true },
                    &progress,
                )
                .await;
                let observed = engine.observe(&project.name).await.map_err(|e| e.to_string())?;
                Ok((report, observed))
            }
            .await;
            let _ = tx.send(Event::Applied { project: name, result });
        });
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Engine(e) => {
                match e.kind {
                    crate::engine::events::EventKind::Start => {
                        self.forward_logs(&e.project, &e.service, &e.id, &e.name)
                    }
                    crate::engine::events::EventKind::Destroy => {
                        if let Some(h) = self.forwarders.remove(&e.id) {
                            h.abort();
                        }
                        let _ = std::fs::remove_file(self.config.runtime_dir.join("logs").join(&e.id));
                    }
                    _ => {}
                }
                let now = Instant::now();
                let actions = match self.projects.get_mut(&e.project) {
                    Some(rt) => rt.on_event(&e, now),
                    None => Vec::new(),
                };
                for action in actions {
                    self.act(&e.project, action);
                }
            }
            Event::RestartDue {
                project,
                service,
                number,
                id,
            } => {
                tracing::debug!(project = %project, service = %service, number, "starting the container again");
                self.start_containers(project, service, vec![id], true, None);
            }
            Event::Restarted {
                project,
                service,
                result,
                dependents,
                reply,
            } => {
                let Some(rt) = self.projects.get_mut(&project) else {
                    return;
                };
                let verb = if dependents { "restarted" } else { "started" };
                if let Some(reply) = reply {
                    let _ = reply.send(result.clone().map(|()| format!("{verb} {project}/{service}")));
                }
                match result {
                    Ok(()) => {
                        tracing::info!(project = %project, service = %service, "{project}/{service}: {verb}");
                        if !dependents {
                            self.update_status();
                            return;
                        }
                        let dependents = rt.restart_dependents(&service);
                        let engine = self.engine.clone();
                        tokio::spawn(async move {
                            for (id, name, timeout) in dependents {
                                tracing::info!("{name}: restarting it, as its dependency {service} restarted");
                                let _ = engine.stop_container(&id, &name, timeout).await;
                                let _ = engine.start_container(&id, &name).await;
                            }
                        });
                    }
                    Err(e) => {
                        tracing::error!(project = %project, service = %service, "{project}/{service}: restart failed: {e}");
                        if let Some(s) = rt.services.get_mut(&service) {
                            s.state = project::ServiceState::Failed(e);
                        }
                    }
                }
            }
            Event::Applied { project, result } => self.applied(&project, result),
            Event::Stopped {
                project,
                service,
                errors,
                then_start,
                reply,
            } => self.stopped(project, service, errors, then_start, reply),
            Event::EngineLost(reason) => {
                if self.engine_up {
                    tracing::error!("lost the Docker engine: {reason}; reconnecting");
                    self.engine_up = false;
                    let engine = self.engine.clone();
                    let tx = self.tx.clone();
                    tokio::spawn(async move {
                        let mut wait = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), Duration::MAX);
                        while engine.check_version().await.is_err() {
                            tokio::time::sleep(wait.next().unwrap_or_default()).await;
                        }
                        let _ = tx.send(Event::EngineBack);
                    });
                }
            }
            Event::EngineBack => {
                tracing::info!("the Docker engine is back; reconverging");
                self.engine_up = true;
                self.follow_engine(now_secs() - 1);
                // The engine's restart policy is off: after an engine restart composed starts the
                // containers again, in dependency order.
                for name in self.projects.keys().cloned().collect::<Vec<_>>() {
                    if let Some(rt) = self.projects.get_mut(&name) {
                        rt.applying = false;
                        let waiting = std::mem::take(&mut rt.waiters);
                        rt.next_waiters.extend(waiting);
                    }
                    self.reconcile(&name, true);
                }
            }
            Event::FilesChanged | Event::Signal(_) | Event::Command(_) => {}
        }
        self.update_status();
    }

    /// Starts containers of one service in a task; reports back with [`Event::Restarted`].
    fn start_containers(
        &self,
        project: String,
        service: String,
        ids: Vec<String>,
        dependents: bool,
        reply: Option<Reply>,
    ) {
        let engine = self.engine.clone();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let mut result = Ok(());
            for id in &ids {
                if let Err(e) = engine.start_container(id, id).await {
                    result = Err(e.to_string());
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

    /// A request from the D-Bus API.
    async fn command(&mut self, command: Command) {
        let Command {
            op,
            project,
            service,
            reply,
        } = command;
        if op == Op::Reload {
            self.reload(true).await;
            let refused: Vec<String> = self
                .projects
                .values()
                .filter(|p| project.is_empty() || p.name() == project)
                .filter_map(|p| {
                    p.config_error.as_ref().map(|e| {
                        format!(
                            "{}: the edit was refused: {e}; the last good configuration keeps running",
                            p.name()
                        )
                    })
                })
                .collect();
            let _ = reply.send(match refused.is_empty() {
                true => Ok(format!("reloaded: {}", self.status_line())),
                false => Err(refused.join("\n")),
            });
            return;
        }
        let target = match &service {
            Some(s) => format!("{project}/{s}"),
            None => project.clone(),
        };
        let Some(rt) = self.projects.get_mut(&project) else {
            let _ = reply.send(Err(format!("no project `{project}`")));
            return;
        };
        if let Some(s) = &service
            && !rt.services.contains_key(s)
        {
            let _ = reply.send(Err(format!("project `{project}` has no service `{s}`")));
            return;
        }
        tracing::info!(project = %project, "{} {target}, as asked over D-Bus", format!("{op:?}").to_lowercase());
        match op {
            Op::Start => {
                rt.holds.release(service.as_deref());
                let ids: Vec<String> = service
                    .as_ref()
                    .and_then(|s| rt.services.get(s))
                    .map(|s| s.containers.values().map(|t| t.id.clone()).collect())
                    .unwrap_or_default();
                match service {
                    Some(service) if !ids.is_empty() => {
                        self.start_containers(project, service, ids, false, Some(reply))
                    }
                    Some(_) => self.reconcile_then(&project, false, Some(reply)),
                    None => self.reconcile_then(&project, true, Some(reply)),
                }
            }
            Op::Stop | Op::Restart => {
                let then_start = op == Op::Restart;
                if then_start {
                    rt.expect_operator_stop(service.as_deref());
                } else {
                    rt.holds.hold(service.as_deref());
                    for (name, s) in rt.services.iter_mut() {
                        if service.as_ref().is_none_or(|only| only == name) {
                            s.next_exit_reason = Some("stopped by an operator".to_string());
                        }
                    }
                }
                let Some(definition) = rt.project.clone() else {
                    let _ = reply.send(Err(rt.status_line()));
                    return;
                };
                let engine = self.engine.clone();
                let tx = self.tx.clone();
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
                        then_start,
                        reply,
                    });
                });
            }
            Op::Reload => {}
        }
        self.update_status();
    }

    /// An operator's stop is done; a restart goes on to start.
    fn stopped(
        &mut self,
        project: String,
        service: Option<String>,
        errors: Vec<String>,
        then_start: bool,
        reply: Reply,
    ) {
        let Some(rt) = self.projects.get_mut(&project) else {
            let _ = reply.send(Err(format!("project `{project}` is gone")));
            return;
        };
        for e in &errors {
            tracing::error!(project = %project, "{e}");
        }
        if !errors.is_empty() {
            let _ = reply.send(Err(errors.join("; ")));
            return;
        }
        if !then_start {
            // The engine has stopped them; their `die` events may still be on the way.
            for (name, s) in rt.services.iter_mut() {
                if service.as_ref().is_none_or(|only| only == name) {
                    s.state = project::ServiceState::Stopped;
                }
            }
            let line = rt.status_line();
            let _ = reply.send(Ok(format!("stopped; {line}")));
            return;
        }
        match service {
            None => self.reconcile_then(&project, true, Some(reply)),
            Some(service) => {
                let ids = rt
                    .services
                    .get(&service)
                    .map(|s| s.containers.values().map(|t| t.id.clone()).collect())
                    .unwrap_or_default();
                self.start_containers(project, service, ids, true, Some(reply));
            }
        }
    }

    fn act(&mut self, project: &str, action: Action) {
        let tx = self.tx.clone();
        let project = project.to_string();
        match action {
            Action::Restart {
                service,
                number,
                id,
                delay,
                stop_timeout,
            } => {
                let engine = self.engine.clone();
                tokio::spawn(async move {
                    if let Some(timeout) = stop_timeout {
                        let _ = engine.stop_container(&id, &id, timeout).await;
                    }
                    tokio::time::sleep(delay).await;
                    let _ = tx.send(Event::RestartDue {
                        project,
                        service,
                        number,
                        id,
                    });
                });
            }
            Action::Resync => self.reconcile(&project, false),
        }
    }

    fn applied(&mut self, name: &str, result: Result<(Report, Observed), String>) {
        let Some(rt) = self.projects.get_mut(name) else { return };
        rt.applying = false;
        let mut running: Vec<(String, String, String)> = Vec::new();
        match result {
            Ok((report, observed)) => {
                for e in &report.errors {
                    tracing::error!(project = %name, "{e}");
                }
                for (service, status) in &report.services {
                    tracing::info!(project = %name, service = %service, "{name}/{service}: {status}");
                }
                rt.applied(&report, &observed);
                running = observed
                    .containers
                    .iter()
                    .filter(|c| c.state == crate::observed::ContainerState::Running)
                    .map(|c| (c.service.clone(), c.id.clone(), c.name.clone()))
                    .collect();
            }
            Err(e) => tracing::error!(project = %name, "{name}: reconcile failed: {e}"),
        }
        let outcome = match rt.failure() {
            Some(why) => Err(format!("{}: {why}", rt.name())),
            None => Ok(rt.status_line()),
        };
        for waiter in std::mem::take(&mut rt.waiters) {
            let _ = waiter.send(outcome.clone());
        }
        let pending = rt.pending.take();
        if pending.is_none() {
            for waiter in std::mem::take(&mut rt.next_waiters) {
                let _ = waiter.send(outcome.clone());
            }
        }
        for (service, id, container) in running {
            self.forward_logs(name, &service, &id, &container);
        }
        if let Some(start_exited) = pending {
            self.reconcile(name, start_exited);
        }
        self.update_status();
        if !self.ready_sent
            && self
                .projects
                .values()
                .all(|p| p.first_apply_done || p.project.is_none())
        {
            if self.single()
                && let Some(rt) = self.projects.values().next()
                && let Some(why) = rt.failure()
            {
                let line = format!("{}: cannot become ready: {why}", rt.name());
                tracing::error!("{line}");
                systemd::status(&line);
                let _ = self.tx.send(Event::Signal(Signal::Terminate));
                return;
            }
            self.ready_sent = true;
            systemd::ready(&self.status_line());
            tracing::info!("ready: {}", self.status_line());
        }
    }

    /// Starts forwarding a container's output to the journal, unless it already is.
    fn forward_logs(&mut self, project: &str, service: &str, id: &str, name: &str) {
        let Some(journal) = self.journal.clone() else { return };
        if self.forwarders.get(id).is_some_and(|h| !h.is_finished()) {
            return;
        }
        let Some(rt) = self.projects.get(project) else { return };
        let image = rt
            .project
            .as_ref()
            .and_then(|p| p.services.get(service).map(|s| crate::identity::image_name(p, s)));
        let source = crate::journal::forward::Source {
            id: id.to_string(),
            name: name.to_string(),
            image: image.unwrap_or_default(),
            project: project.to_string(),
            service: service.to_string(),
        };
        tracing::debug!(container = %name, "forwarding its output to the journal");
        let cursor_dir = self.config.runtime_dir.join("logs");
        let _ = std::fs::create_dir_all(&cursor_dir);
        let engine = self.engine.clone();
        let handle = tokio::spawn(async move {
            crate::journal::forward::forward(engine, &journal, source, cursor_dir).await;
        });
        self.forwarders.insert(id.to_string(), handle);
    }

    fn status_line(&self) -> String {
        if self.projects.is_empty() {
            return format!("no projects in {}", self.config.root.display());
        }
        if !self.engine_up {
            return "the Docker engine is unreachable; reconnecting".to_string();
        }
        self.projects
            .values()
            .map(ProjectRuntime::status_line)
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Sends STATUS when it changed, and the new picture to the D-Bus API.
    fn update_status(&self) {
        let line = self.status_line();
        if *self.last_status.borrow() != line {
            systemd::status(&line);
            *self.last_status.borrow_mut() = line.clone();
        }
        let Some(tx) = &self.snapshots else { return };
        let snapshot = Snapshot {
            status: line,
            projects: self.projects.values().map(ProjectRuntime::view).collect(),
            services: self.projects.values().flat_map(ProjectRuntime::service_views).collect(),
        };
        if *self.last_snapshot.borrow() != snapshot {
            let _ = tx.send(snapshot.clone());
            *self.last_snapshot.borrow_mut() = snapshot;
        }
    }

    /// SIGHUP or a file change: new and removed projects, then every project whose files changed.
    async fn reload(&mut self, forced: bool) {
        systemd::reloading();
        if !self.single() {
            let found: Vec<String> = sources::scan(&self.config.root).into_iter().map(|s| s.name).collect();
            let gone: Vec<String> = self.projects.keys().filter(|n| !found.contains(n)).cloned().collect();
            for name in gone {
                if let Some(rt) = self.projects.remove(&name)
                    && let Some(project) = &rt.project
                {
                    tracing::info!(project = %name, "{name}: its file was removed; taking it down (volumes kept)");
                    if let Ok(observed) = self.engine.observe(&project.name).await {
                        let progress = |s: &str, w: &str| tracing::info!(project = %name, "{name}: {s}: {w}");
                        execute::down(&self.engine, project, &observed, false, &progress).await;
                    }
                }
            }
            let before: Vec<String> = self.projects.keys().cloned().collect();
            if let Err(e) = self.add_projects() {
                tracing::error!("{e}");
            }
            for name in self
                .projects
                .keys()
                .filter(|n| !before.contains(n))
                .cloned()
                .collect::<Vec<_>>()
            {
                self.reconcile(&name, true);
            }
        }
        for name in self.projects.keys().cloned().collect::<Vec<_>>() {
            let Some(rt) = self.projects.get_mut(&name) else {
                continue;
            };
            match rt.reload() {
                Reload::Changed => {
                    tracing::info!(project = %name, "{name}: configuration changed; applying");
                    self.reconcile(&name, false);
                }
                Reload::Unchanged if forced => self.reconcile(&name, false),
                Reload::Unchanged => {}
                Reload::Refused(errors) => {
                    for e in &errors {
                        tracing::error!(project = %name, "{e}");
                    }
                    tracing::error!(project = %name, "{name}: the edit was refused; the last good configuration keeps running");
                }
            }
        }
        systemd::ready(&self.status_line());
        self.update_status();
    }

    /// SIGTERM: stop every project's containers (dependents first), remove them and the
    /// networks, keep the volumes, exit 0.
    async fn shutdown(self) -> ExitCode {
        let grace: u64 = self
            .projects
            .values()
            .filter_map(|p| p.project.as_ref())
            .flat_map(|p| p.services.values())
            .map(|s| s.stop_grace_period.map_or(10, |d| d.as_secs()))
            .max()
            .unwrap_or(10);
        systemd::stopping("stopping containers");
        systemd::extend_timeout(Duration::from_secs(grace * 2 + 30));
        tracing::info!("stopping: containers are stopped and removed, volumes kept");
        let mut failed = false;
        for (name, rt) in &self.projects {
            let Some(project) = &rt.project else { continue };
            match self.engine.observe(&project.name).await {
                Ok(observed) => {
                    let progress = |s: &str, w: &str| tracing::info!(project = %name, "{name}: {s}: {w}");
                    let report = execute::down(&self.engine, project, &observed, false, &progress).await;
                    for e in &report.errors {
                        tracing::error!(project = %name, "{e}");
                        failed = true;
                    }
                }
                Err(e) => {
                    tracing::error!(project = %name, "{e}");
                    failed = true;
                }
            }
        }
        let single_failed = self.single() && !self.ready_sent;
        if failed || single_failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    }
}

fn spawn_signals(tx: mpsc::UnboundedSender<Event>) {
    use tokio::signal::unix::{SignalKind, signal};
    tokio::spawn(async move {
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) else {
            tracing::error!("cannot install signal handlers");
            return;
        };
        loop {
            let s = tokio::select! {
                _ = term.recv() => Signal::Terminate,
                _ = int.recv() => Signal::Terminate,
                _ = hup.recv() => Signal::Reload,
            };
            if tx.send(Event::Signal(s)).is_err() {
                return;
            }
        }
    });
}

/// Watches the project directories (not the files: an editor's save-by-rename ends a watch on the
/// file) and the root directory for new and removed projects.
fn spawn_watcher(daemon: &Daemon, tx: mpsc::UnboundedSender<Event>) -> Option<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if res.is_ok_and(|e| !matches!(e.kind, notify::EventKind::Access(_))) {
            let _ = tx.send(Event::FilesChanged);
        }
    })
    .map_err(|e| tracing::warn!("cannot watch files ({e}); edits need `systemctl reload`"))
    .ok()?;
    let mut dirs: Vec<PathBuf> = daemon.projects.values().flat_map(|p| p.source.watch.clone()).collect();
    for p in daemon.projects.values() {
        dirs.extend(p.inputs.iter().filter_map(|i| i.parent().map(PathBuf::from)));
    }
    if !daemon.single() {
        dirs.push(daemon.config.root.clone());
    }
    dirs.sort();
    dirs.dedup();
    for d in dirs {
        if let Err(e) = watcher.watch(&d, RecursiveMode::NonRecursive) {
            tracing::warn!("cannot watch {}: {e}", d.display());
        }
    }
    Some(watcher)
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
