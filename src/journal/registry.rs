//! The daemon's log forwarders: at most one per running container, each resuming from its
//! cursor file in `<runtime dir>/logs/<container id>`. A container's cursor is deleted with the
//! container. Without a journal socket (outside systemd) nothing is forwarded.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::forward::{self, Source};
use super::native::Journal;
use crate::engine::Engine;

pub struct Forwarders {
    journal: Option<Arc<Journal>>,
    cursor_dir: PathBuf,
    running: HashMap<String, JoinHandle<()>>,
    /// Turns true to end every forwarder at a frame's end, its cursor saved.
    stop: watch::Sender<bool>,
    /// Each container's line limit (`COMPOSED_LOG_RATE_LIMIT`).
    limit: Option<super::limit::Limit>,
}

impl Forwarders {
    /// Connects to the journal socket, if there is one; cursors live in `runtime_dir/logs`.
    pub fn connect(runtime_dir: &std::path::Path) -> Forwarders {
        let journal = Journal::connect(&super::native::socket_path()).map(Arc::new);
        match &journal {
            Some(j) => tracing::info!("forwarding container output to the journal at {}", j.path().display()),
            None => tracing::info!("no journal socket: container output stays in the engine (docker logs)"),
        }
        Forwarders {
            journal,
            cursor_dir: runtime_dir.join("logs"),
            running: HashMap::new(),
            stop: watch::channel(false).0,
            limit: super::limit::Limit::from_env(),
        }
    }

    /// Starts forwarding a container's output, unless it already is.
    pub fn start<E: Engine>(&mut self, engine: &E, source: Source) {
        let Some(journal) = self.journal.clone() else { return };
        if self.running.get(&source.id).is_some_and(|h| !h.is_finished()) {
            return;
        }
        tracing::debug!(container = %source.name, "forwarding its output to the journal");
        if let Err(e) = crate::runtime_files::ensure_dir(&self.cursor_dir) {
            tracing::warn!("log cursors cannot be kept ({e}); a restart of composed may repeat lines");
        }
        let id = source.id.clone();
        let (engine, cursor_dir, stop) = (engine.clone(), self.cursor_dir.clone(), self.stop.subscribe());
        let limit = self.limit;
        let handle = tokio::spawn(async move {
            forward::forward(engine, &journal, source, cursor_dir, stop, limit).await;
        });
        self.running.insert(id, handle);
    }

    /// Ends every forwarder at a frame's end with its cursor saved (before a re-exec); the tasks
    /// to wait for. Forwarders started later run as usual.
    pub fn stop_all(&mut self) -> Vec<JoinHandle<()>> {
        self.stop.send_replace(true);
        self.stop = watch::channel(false).0;
        self.running.drain().map(|(_, h)| h).collect()
    }

    /// The container was removed: its forwarder and cursor go too.
    pub fn container_gone(&mut self, id: &str) {
        if let Some(h) = self.running.remove(id) {
            h.abort();
        }
        let _ = std::fs::remove_file(self.cursor_dir.join(id));
    }
}
