//! Replacing composed with the binary on disk without touching a container (SIGUSR2, or
//! `composectl reexec`; the package's postinst does it on upgrade).
//!
//! systemd is told RELOADING; the log forwarders end at a frame's end with their cursors saved;
//! then the process execs the binary it was started from, with the same arguments, under the
//! same PID (systemd keeps tracking it). The new image takes its locks again, adopts the running
//! containers (same ids, same `StartedAt`), resumes forwarding from the cursors, and sends READY.
//! If the exec fails the old image goes on and says so.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use super::project::Reply;
use super::{Daemon, Event, systemd};
use crate::engine::Engine;

/// Set in the new image's environment: it was re-executed, not started.
pub const REEXEC_ENV: &str = "COMPOSED_REEXECUTED";

/// How long a D-Bus answer gets to leave before the exec ends the connection.
const ANSWER_GRACE: Duration = Duration::from_millis(200);

/// How long the forwarders may take to save their cursors.
const FORWARDERS_GRACE: Duration = Duration::from_secs(5);

/// The program composed was started as, to exec again.
#[derive(Debug, Clone)]
pub struct Image {
    path: PathBuf,
    args: Vec<OsString>,
}

impl Image {
    /// The path composed was started with (made absolute), not `/proc/self/exe`: after a package
    /// upgrade that names the old, deleted binary, and the point is to run the new one.
    pub fn current() -> Image {
        let mut args = std::env::args_os();
        let argv0 = args.next().map(PathBuf::from).unwrap_or_default();
        let path = if argv0.components().count() > 1 {
            std::path::absolute(&argv0).unwrap_or(argv0)
        } else {
            std::env::current_exe()
                .map(|p| PathBuf::from(p.to_string_lossy().trim_end_matches(" (deleted)")))
                .unwrap_or(argv0)
        };
        Image {
            path,
            args: args.collect(),
        }
    }

    /// Replaces this process; returns only when that failed.
    fn exec(&self) -> std::io::Error {
        use std::os::unix::process::CommandExt;
        std::process::Command::new(&self.path)
            .args(&self.args)
            .env(REEXEC_ENV, "1")
            .exec()
    }
}

impl<E: Engine> Daemon<E> {
    /// Starts a re-exec: systemd is told, the forwarders save their cursors; the exec follows
    /// with [`Event::ReadyToExec`].
    pub(super) fn begin_reexec(&mut self, reply: Option<Reply>) {
        if self.reexecuting {
            if let Some(r) = reply {
                let _ = r.send(Err("composed is already re-executing".to_string()));
            }
            return;
        }
        self.reexecuting = true;
        let line = format!("re-executing {}", self.image.path.display());
        tracing::info!("{line}: the containers keep running");
        systemd::reloading();
        systemd::status(&line);
        let forwarders = self.forwarders.stop_all();
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(FORWARDERS_GRACE, futures_util::future::join_all(forwarders)).await;
            let _ = tx.send(Event::ReadyToExec { reply });
        });
    }

    /// The cursors are saved: exec. A caller over D-Bus is answered first, and given a moment
    /// for the answer to leave. Returns only when the exec failed; the old image goes on.
    pub(super) fn exec(&mut self, reply: Option<Reply>) {
        if let Some(r) = reply {
            let _ = r.send(Ok(format!(
                "re-executing {} (pid {})",
                self.image.path.display(),
                std::process::id()
            )));
            let tx = self.tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(ANSWER_GRACE).await;
                let _ = tx.send(Event::ReadyToExec { reply: None });
            });
            return;
        }
        systemd::watchdog();
        let error = self.image.exec();
        self.reexecuting = false;
        let line = format!(
            "cannot re-execute {}: {error}; the running composed goes on",
            self.image.path.display()
        );
        tracing::error!("{line}");
        systemd::ready(&self.status_line());
        // Forwarding resumes from the cursors once each project is reconciled again.
        for name in self.project_names() {
            self.request_reconcile(&name, false, None);
        }
    }
}
