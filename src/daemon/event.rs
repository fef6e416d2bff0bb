//! Everything that can happen to the daemon, as one closed [`Event`], and the sources that turn
//! the outside world into events: signals, the file watcher, the engine's event stream, the
//! timers, and the bus's commands. [`Inputs::next`] waits for the next one of any kind.

use std::path::PathBuf;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval};

use super::project::Reply;
use crate::bus::Command;
use crate::engine::events::ContainerEvent;
use crate::engine::{Engine, EngineError, EventScope};
use crate::execute::Reconciled;

/// How long file changes settle before the files are read again: an editor's save is a burst
/// of events within a few milliseconds. A half-written file read too early is refused and read
/// again at its next event, so the bound is short.
pub const DEBOUNCE: Duration = Duration::from_millis(50);

/// How long a file renamed into place waits for more changes: an atomic save is complete at
/// its rename, so this only gathers the events of the same rename (and of a tool that renames
/// several files in a row). A write that follows still waits [`DEBOUNCE`].
pub const REPLACED_SETTLE: Duration = Duration::from_millis(5);

/// How long a project's files must stay gone before it is taken down (two scans that far apart
/// must agree): a directory moved away and back, or replaced, is not a removal.
pub const VANISH_CONFIRM: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub enum Event {
    /// A container event from the engine.
    Engine(ContainerEvent),
    /// The engine's event stream broke.
    EngineLost(String),
    /// The engine answers again.
    EngineBack,
    FilesChanged(Change),
    Timer(Timer),
    /// Time to try again a reconcile that left services failed.
    RetryDue {
        project: String,
    },
    /// A supervised restart's delay is over.
    RestartDue {
        project: String,
        service: String,
        container: Container,
    },
    /// Containers of one service were started (a supervised restart, or an operator's).
    Restarted {
        project: String,
        service: String,
        result: Result<(), EngineError>,
        /// Dependents with `restart: true` follow (not after an operator's start).
        dependents: bool,
        reply: Option<Reply>,
    },
    /// An operator's stop (or the first half of a restart) is done.
    Stopped {
        project: String,
        service: Option<String>,
        errors: Vec<String>,
        next: AfterStop,
        reply: Reply,
    },
    /// A reconcile ended.
    Applied {
        project: String,
        generation: u64,
        result: Result<Reconciled, EngineError>,
    },
    /// A project's files were read again (off the loop, see `reload.rs`).
    Loaded {
        project: String,
        result: Box<Result<crate::load::Loaded, crate::load::Failed>>,
        forced: bool,
    },
    /// A project whose files were removed is down.
    Removed {
        project: String,
        errors: Vec<String>,
    },
    Command(Command),
    Signal(Signal),
    /// Every project's containers are stopped: exit.
    ShutdownDone {
        failed: bool,
    },
    /// The log forwarders saved their cursors: exec the new binary.
    ReadyToExec {
        reply: Option<Reply>,
    },
}

/// A container by id, with its name for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub id: String,
    pub name: String,
}

/// What the file watcher saw happen in a watched directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A file was written, created or removed: more of the same save may follow.
    Edited,
    /// A file was renamed into place (an atomic save): it is complete as it is.
    Replaced,
}

impl Change {
    /// The change a watcher event stands for; reads (`Access`, which includes closes) are none.
    pub fn of(kind: &notify::EventKind) -> Option<Change> {
        use notify::event::{ModifyKind, RenameMode};
        match kind {
            notify::EventKind::Access(_) => None,
            notify::EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both)) => Some(Change::Replaced),
            _ => Some(Change::Edited),
        }
    }

    /// How long to wait for more changes before the files are read.
    pub fn settle(self) -> Duration {
        match self {
            Change::Edited => DEBOUNCE,
            Change::Replaced => REPLACED_SETTLE,
        }
    }
}

/// What an operator's stop was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterStop {
    /// `stop`: held stopped.
    Hold,
    /// `restart`: started again.
    Start,
    /// `down`: held, its containers removed.
    Down,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Terminate,
    Reload,
    /// Replace composed with the binary on disk (SIGUSR2).
    Reexec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    Watchdog,
    Resync,
    /// File changes have settled.
    Debounce,
    /// A single project has had [`crate::daemon::READY_DEADLINE`] to become ready.
    ReadyDeadline,
}

/// The receiving ends of every source.
pub struct Inputs {
    events: mpsc::UnboundedReceiver<Event>,
    commands: mpsc::UnboundedReceiver<Command>,
    watchdog: Option<Interval>,
    resync: Interval,
    debounce: Option<Instant>,
}

impl Inputs {
    pub fn new(
        events: mpsc::UnboundedReceiver<Event>,
        commands: mpsc::UnboundedReceiver<Command>,
        watchdog: Option<Duration>,
        resync: Duration,
    ) -> Inputs {
        let start = Instant::now();
        Inputs {
            events,
            commands,
            watchdog: watchdog.map(|d| tokio::time::interval(d / 2)),
            resync: tokio::time::interval_at(start + resync, resync),
            debounce: None,
        }
    }

    /// Waits for the next event of any source.
    pub async fn next(&mut self) -> Event {
        tokio::select! {
            Some(event) = self.events.recv() => event,
            Some(command) = self.commands.recv() => Event::Command(command),
            _ = tick(&mut self.watchdog) => Event::Timer(Timer::Watchdog),
            _ = self.resync.tick() => Event::Timer(Timer::Resync),
            _ = sleep_until(self.debounce) => {
                self.debounce = None;
                Event::Timer(Timer::Debounce)
            }
        }
    }

    /// Files changed: read them once they settle. The latest change decides how long that is.
    pub fn debounce(&mut self, change: Change) {
        self.debounce = Some(Instant::now() + change.settle());
    }
}

async fn tick(interval: &mut Option<Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// SIGTERM and SIGINT stop the daemon; SIGHUP reloads; SIGUSR2 re-executes it. Installed
/// before anything else, so a signal arriving early (a second SIGUSR2 right after a re-exec)
/// does not kill the process with the default action.
pub fn spawn_signals(tx: mpsc::UnboundedSender<Event>) {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
        signal(SignalKind::user_defined2()),
    );
    tokio::spawn(async move {
        let (Ok(mut term), Ok(mut int), Ok(mut hup), Ok(mut usr2)) = handlers else {
            tracing::error!("cannot install signal handlers");
            return;
        };
        loop {
            let s = tokio::select! {
                _ = term.recv() => Signal::Terminate,
                _ = int.recv() => Signal::Terminate,
                _ = hup.recv() => Signal::Reload,
                _ = usr2.recv() => Signal::Reexec,
            };
            if tx.send(Event::Signal(s)).is_err() {
                return;
            }
        }
    });
}

/// Follows the engine's events for every container composed manages, from `since`; a broken
/// stream becomes [`Event::EngineLost`].
pub fn follow_engine<E: Engine>(engine: &E, since: &str, tx: mpsc::UnboundedSender<Event>) {
    let mut stream = engine.events(EventScope::Managed, since);
    tokio::spawn(async move {
        while let Some(item) = stream.next().await {
            let event = match item {
                Ok(event) => Event::Engine(event),
                Err(e) => {
                    let _ = tx.send(Event::EngineLost(e.to_string()));
                    return;
                }
            };
            if tx.send(event).is_err() {
                return;
            }
        }
        let _ = tx.send(Event::EngineLost("the event stream ended".into()));
    });
}

/// The directories watched for edits (directories, not files: an editor's save-by-rename ends
/// a watch on the file). They follow the projects: a project added later, or a file that starts
/// including one from elsewhere, is watched from the next reload on.
#[derive(Default)]
pub struct Watches {
    watcher: Option<notify::RecommendedWatcher>,
    dirs: std::collections::BTreeSet<PathBuf>,
    unavailable: bool,
}

impl Watches {
    /// Watches exactly `dirs` from now on.
    pub fn update(&mut self, dirs: Vec<PathBuf>, tx: &mpsc::UnboundedSender<Event>) {
        use notify::{RecursiveMode, Watcher};
        if self.watcher.is_none() && !self.unavailable {
            let tx = tx.clone();
            self.watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                if let Some(change) = res.ok().and_then(|e| Change::of(&e.kind)) {
                    let _ = tx.send(Event::FilesChanged(change));
                }
            })
            .map_err(|e| tracing::warn!("cannot watch files ({e}); edits need `systemctl reload`"))
            .ok();
            self.unavailable = self.watcher.is_none();
        }
        let Some(watcher) = self.watcher.as_mut() else { return };
        let wanted: std::collections::BTreeSet<PathBuf> = dirs.into_iter().collect();
        for gone in self.dirs.difference(&wanted) {
            let _ = watcher.unwatch(gone);
        }
        self.dirs.retain(|d| wanted.contains(d));
        for d in wanted {
            if self.dirs.contains(&d) {
                continue;
            }
            match watcher.watch(&d, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.dirs.insert(d);
                }
                Err(e) => tracing::warn!("cannot watch {}: {e}", d.display()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode, CreateKind, DataChange, ModifyKind, RenameMode};

    use super::*;

    #[test]
    fn a_rename_into_place_is_a_replacement_and_reads_are_no_change() {
        let rename = |mode| EventKind::Modify(ModifyKind::Name(mode));
        assert_eq!(Change::of(&rename(RenameMode::To)), Some(Change::Replaced));
        assert_eq!(Change::of(&rename(RenameMode::Both)), Some(Change::Replaced));
        assert_eq!(Change::of(&rename(RenameMode::From)), Some(Change::Edited));
        let write = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        assert_eq!(Change::of(&write), Some(Change::Edited));
        assert_eq!(Change::of(&EventKind::Create(CreateKind::File)), Some(Change::Edited));
        let close = EventKind::Access(AccessKind::Close(AccessMode::Write));
        assert_eq!(Change::of(&close), None);
    }

    async fn settled_after(changes: &[Change]) -> Duration {
        let (_events, rx) = mpsc::unbounded_channel();
        let (_commands, crx) = mpsc::unbounded_channel();
        let mut inputs = Inputs::new(rx, crx, None, Duration::from_secs(3600));
        let start = Instant::now();
        for &change in changes {
            inputs.debounce(change);
        }
        loop {
            if let Event::Timer(Timer::Debounce) = inputs.next().await {
                return start.elapsed();
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_atomic_save_is_read_at_once_and_a_write_after_it_still_settles() {
        assert_eq!(settled_after(&[Change::Edited]).await, DEBOUNCE);
        assert_eq!(settled_after(&[Change::Replaced]).await, REPLACED_SETTLE);
        // The rename's own "from" half, then the rename into place.
        let save = [Change::Edited, Change::Replaced];
        assert_eq!(settled_after(&save).await, REPLACED_SETTLE);
        // A file written after the rename may be half-written: it waits.
        let then_write = [Change::Replaced, Change::Edited];
        assert_eq!(settled_after(&then_write).await, DEBOUNCE);
    }
}
