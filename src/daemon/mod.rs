//! The daemon: keeps every managed project converged, supervises its containers, reloads edited
//! files, and tells systemd the truth.
//!
//! One loop: [`event::Inputs::next`] turns every source (engine events, file changes, timers,
//! finished tasks, bus commands, signals) into one closed [`Event`], and
//! [`Daemon::handle_event`] dispatches it. Nothing in the loop awaits the engine: reconciles,
//! restarts and stops run as tasks that report back as events, so signals, the watchdog
//! and other projects never wait. A bad edit keeps the last good configuration running.

mod commands;
pub mod event;
pub mod guard;
pub mod holds;
pub mod project;
pub mod queue;
mod reconcile;
mod reexec;
mod reload;
mod restarts;
mod shutdown;
pub mod sources;
mod status;
pub mod supervision;
pub mod systemd;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::bus::Bus;
use crate::engine::{DockerEngine, Engine};
use crate::journal::registry::Forwarders;
use crate::supervise::backoff::Backoff;
pub use event::Event;
use event::{Inputs, Signal, Timer};
use project::ProjectRuntime;
use queue::ReconcileQueue;
use status::Reporter;

/// How the daemon was started.
/// How long `composed@NAME` waits for its project to be ready before it reports READY anyway,
/// degraded, and keeps trying: less than the unit's start timeout, so that systemd never kills
/// and restarts it over a service that cannot start (a loop that would stop and start every
/// container each time).
pub const READY_DEADLINE: Duration = Duration::from_secs(5 * 60);

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

/// A project the daemon manages: its state, its reconcile queue and its lock.
struct Managed {
    runtime: ProjectRuntime,
    queue: ReconcileQueue,
    _lock: guard::ProjectLock,
}

pub struct Daemon<E: Engine> {
    config: Config,
    engine: E,
    engine_up: bool,
    projects: BTreeMap<String, Managed>,
    /// Where tasks and sources report.
    tx: mpsc::UnboundedSender<Event>,
    forwarders: Forwarders,
    reporter: Reporter,
    /// Set once SIGTERM arrived: the containers are being stopped.
    shutting_down: bool,
    /// Projects a scan found gone, and when: taken down when the next scan agrees.
    vanishing: BTreeMap<String, tokio::time::Instant>,
    /// The program to exec for a re-exec, and whether one is under way.
    image: reexec::Image,
    reexecuting: bool,
    /// The project directories and input files' directories, watched for edits.
    watches: event::Watches,
    /// Loads of a reload still running, and the operators waiting for the reload.
    loads_pending: usize,
    reload_waiters: Vec<(String, project::Reply)>,
}

/// Runs until SIGTERM; returns the exit code.
pub async fn run(config: Config) -> ExitCode {
    let engine = match DockerEngine::connect() {
        Ok(e) => e,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (commands, command_rx) = mpsc::unbounded_channel();
    event::spawn_signals(tx.clone());
    if let Err(code) = wait_for_engine(&engine, &mut rx).await {
        return code;
    }
    if std::env::var_os(reexec::REEXEC_ENV).is_some() {
        tracing::info!(
            "composed {} re-executed in place (pid {})",
            env!("CARGO_PKG_VERSION"),
            std::process::id()
        );
    }
    let mut daemon = Daemon::new(config, engine, tx);
    if let Err(message) = daemon.add_projects() {
        tracing::error!("{message}");
        systemd::status(&message);
        return ExitCode::FAILURE;
    }
    daemon.update_watches();
    let single = daemon.single_project();
    let (snapshots, snapshot_rx) = mpsc::unbounded_channel();
    if crate::bus::server::serve(daemon.config.bus, single, commands, snapshot_rx)
        .await
        .is_some()
    {
        daemon.reporter.publish_to(snapshots);
    }
    let mut inputs = Inputs::new(rx, command_rx, systemd::watchdog_interval(), daemon.config.resync);
    daemon.start();
    loop {
        let event = inputs.next().await;
        if let Some(code) = daemon.handle_event(event, &mut inputs) {
            return code;
        }
    }
}

/// Waits until the engine answers; an engine that is too old or refuses composed is fatal, and
/// SIGTERM ends the wait.
async fn wait_for_engine(engine: &DockerEngine, signals: &mut mpsc::UnboundedReceiver<Event>) -> Result<(), ExitCode> {
    let mut wait = Backoff::new(Duration::from_secs(1), Duration::from_secs(10), Duration::MAX);
    while let Err(e) = engine.check_version().await {
        if e.is_fatal() {
            tracing::error!("{e}");
            systemd::status(&e.to_string());
            return Err(ExitCode::FAILURE);
        }
        systemd::status(&format!("waiting for the Docker engine: {e}"));
        tracing::warn!("{e}; retrying");
        let pause = tokio::time::sleep(wait.next().unwrap_or_default());
        tokio::select! {
            _ = pause => {}
            Some(Event::Signal(Signal::Terminate)) = signals.recv() => return Err(ExitCode::SUCCESS),
        }
    }
    Ok(())
}

impl<E: Engine> Daemon<E> {
    pub fn new(config: Config, engine: E, tx: mpsc::UnboundedSender<Event>) -> Daemon<E> {
        let forwarders = Forwarders::connect(&config.runtime_dir);
        Daemon {
            config,
            engine,
            engine_up: true,
            projects: BTreeMap::new(),
            tx,
            forwarders,
            reporter: Reporter::default(),
            shutting_down: false,
            vanishing: BTreeMap::new(),
            image: reexec::Image::current(),
            reexecuting: false,
            watches: event::Watches::default(),
            loads_pending: 0,
            reload_waiters: Vec::new(),
        }
    }

    /// Follows the engine and reconciles every project, starting what exited.
    pub fn start(&mut self) {
        event::follow_engine(&self.engine, &crate::clock::engine_now(), self.tx.clone());
        for name in self.project_names() {
            self.request_reconcile(&name, true, None);
        }
        if self.single() {
            let tx = self.tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(READY_DEADLINE).await;
                let _ = tx.send(Event::Timer(Timer::ReadyDeadline));
            });
        }
        self.update_status();
    }

    /// One event; `Some(code)` when the daemon is done.
    pub fn handle_event(&mut self, event: Event, inputs: &mut Inputs) -> Option<ExitCode> {
        if self.shutting_down {
            return self.while_shutting_down(event);
        }
        match event {
            Event::Signal(Signal::Terminate) => self.shutdown(),
            Event::Signal(Signal::Reload) => self.reload(true),
            Event::Signal(Signal::Reexec) => self.begin_reexec(None),
            Event::ReadyToExec { reply } => self.exec(reply),
            Event::FilesChanged(change) => inputs.debounce(change),
            Event::Timer(timer) => self.on_timer(timer),
            Event::Engine(e) => self.on_engine_event(e),
            Event::EngineLost(reason) => self.on_engine_lost(reason),
            Event::EngineBack => self.on_engine_back(),
            Event::Applied {
                project,
                generation,
                result,
            } => self.on_applied(&project, generation, result),
            Event::RestartDue {
                project,
                service,
                container,
            } => self.on_restart_due(project, service, container),
            Event::Restarted {
                project,
                service,
                result,
                dependents,
                reply,
            } => self.on_restarted(project, service, result, dependents, reply),
            Event::Stopped {
                project,
                service,
                errors,
                next,
                reply,
            } => self.on_stopped(project, service, errors, next, reply),
            Event::RetryDue { project } => self.on_retry_due(&project),
            Event::Loaded {
                project,
                result,
                forced,
            } => self.on_loaded(project, *result, forced),
            Event::Removed { project, errors } => {
                for e in &errors {
                    tracing::error!(project = %project, "{project}: {e}");
                }
            }
            Event::Command(command) => self.command(command),
            Event::ShutdownDone { .. } => {}
        }
        self.update_status();
        None
    }

    fn on_timer(&mut self, timer: Timer) {
        match timer {
            // The watchdog says the loop is alive. An engine that is away (restarting, upgraded)
            // is no reason for systemd to kill composed: it reconnects by itself.
            Timer::Watchdog => systemd::watchdog(),
            Timer::Resync => {
                for name in self.project_names() {
                    self.request_reconcile(&name, false, None);
                }
            }
            Timer::Debounce => self.reload(false),
            Timer::ReadyDeadline => self.ready_degraded(),
        }
    }

    fn single(&self) -> bool {
        self.config.project.is_some()
    }

    /// The one project's name, when the daemon manages exactly one.
    fn single_project(&self) -> Option<String> {
        self.single().then(|| self.projects.keys().next().cloned()).flatten()
    }

    fn project_names(&self) -> Vec<String> {
        self.projects.keys().cloned().collect()
    }

    /// The project directories, the inputs' directories, and the root.
    /// Watches the directories the projects now read from.
    fn update_watches(&mut self) {
        let dirs = self.watched_dirs();
        self.watches.update(dirs, &self.tx);
    }

    fn watched_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        for m in self.projects.values() {
            dirs.extend(m.runtime.source.watch.iter().cloned());
            dirs.extend(m.runtime.inputs.iter().filter_map(|i| i.parent().map(PathBuf::from)));
        }
        if !self.single() {
            dirs.push(self.config.root.clone());
        }
        dirs.sort();
        dirs.dedup();
        dirs
    }
}
