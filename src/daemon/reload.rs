//! Which projects the daemon manages, and reading their files again: at start-up, on SIGHUP or
//! `composectl reload`, and when a watched directory changes. New projects are locked, loaded
//! and reconciled; changed ones reconciled; a refused edit keeps the last good configuration. A
//! project is taken down (in a task, volumes kept) only when two successful scans of the root,
//! a moment apart, show its files gone; a scan that fails changes nothing.

use super::holds::Holds;
use super::project::{ProjectRuntime, Reload};
use super::{Daemon, Event, Managed, guard, sources, systemd};
use crate::engine::Engine;
use crate::execute;

impl<E: Engine> Daemon<E> {
    /// Finds, locks and loads the projects. In single-project mode every failure is fatal.
    pub(super) fn add_projects(&mut self) -> Result<Vec<String>, String> {
        let found = match &self.config.project {
            Some(path) => vec![sources::single(path).map_err(|e| e.to_string())?],
            None => match sources::scan(&self.config.root) {
                Ok(found) => found,
                Err(e) => {
                    self.scan_failed(&e);
                    return Ok(Vec::new());
                }
            },
        };
        let mut added = Vec::new();
        for source in found {
            if self.projects.contains_key(&source.name) {
                continue;
            }
            let lock = match guard::lock(&self.config.runtime_dir, &source.name) {
                Ok(l) => l,
                Err(e) if self.single() => return Err(e.to_string()),
                Err(e) => {
                    tracing::error!("{e}");
                    continue;
                }
            };
            let name = source.name.clone();
            let holds = Holds::load(&self.config.runtime_dir, &name);
            let mut runtime = ProjectRuntime::new(source, holds);
            if let Reload::Refused(errors) = runtime.reload() {
                for e in &errors {
                    tracing::error!(project = %name, "{e}");
                }
                if self.single() {
                    let at = runtime.config_error.clone().unwrap_or_default();
                    return Err(format!(
                        "{name}: the compose files do not load (first error at {at}; the journal has them all)"
                    ));
                }
            }
            tracing::info!(project = %name, "{name}: managing the project");
            let managed = Managed {
                runtime,
                queue: Default::default(),
                _lock: lock,
            };
            self.projects.insert(name.clone(), managed);
            added.push(name);
        }
        Ok(added)
    }

    /// SIGHUP or a file change: new and removed projects, then every project's files read
    /// again on the blocking pool (a slow or odd file never holds up the loop, the watchdog or
    /// the bus); each load comes back as [`Event::Loaded`].
    pub(super) fn reload(&mut self, forced: bool) {
        systemd::reloading();
        if !self.single() {
            self.rescan();
        }
        for name in self.project_names() {
            let Some(managed) = self.projects.get(&name) else {
                continue;
            };
            let options = managed.runtime.source.options.clone();
            let tx = self.tx.clone();
            self.loads_pending += 1;
            tokio::task::spawn_blocking(move || {
                let result = Box::new(crate::load::load(&options));
                let _ = tx.send(Event::Loaded {
                    project: name,
                    result,
                    forced,
                });
            });
        }
        if self.loads_pending == 0 {
            self.reload_done();
        }
    }

    /// A project's files, read again: a changed configuration is applied, a refused edit keeps
    /// the last good one.
    pub(super) fn on_loaded(
        &mut self,
        name: String,
        result: Result<crate::load::Loaded, crate::load::Failed>,
        forced: bool,
    ) {
        self.loads_pending = self.loads_pending.saturating_sub(1);
        if let Some(managed) = self.projects.get_mut(&name) {
            match managed.runtime.apply_load(result) {
                Reload::Changed => {
                    tracing::info!(project = %name, "{name}: configuration changed; applying");
                    self.request_reconcile(&name, false, None);
                }
                Reload::Unchanged if forced => self.request_reconcile(&name, false, None),
                Reload::Unchanged => {}
                Reload::Refused(errors) => {
                    for e in &errors {
                        tracing::error!(project = %name, "{e}");
                    }
                    tracing::error!(project = %name, "{name}: the edit was refused; the last good configuration keeps running");
                }
            }
        }
        if self.loads_pending == 0 {
            self.reload_done();
        }
    }

    /// Every load of a reload is in: watch what the projects now read, tell systemd, and
    /// answer the operators who asked for the reload.
    fn reload_done(&mut self) {
        self.update_watches();
        systemd::ready(&self.status_line());
        for (project, reply) in std::mem::take(&mut self.reload_waiters) {
            match self.reload_outcome(&project) {
                Ok(_) => self.answer_after_reconciles(&project, reply),
                Err(refused) => {
                    let _ = reply.send(Err(refused));
                }
            }
        }
    }

    /// The root directory again: projects that appeared are added and reconciled, projects that
    /// disappeared are taken down.
    fn rescan(&mut self) {
        let found: Vec<String> = match sources::scan(&self.config.root) {
            Ok(found) => found.into_iter().map(|s| s.name).collect(),
            Err(e) => return self.scan_failed(&e),
        };
        self.vanishing.retain(|name, _| !found.contains(name));
        let gone: Vec<String> = self.projects.keys().filter(|n| !found.contains(n)).cloned().collect();
        for name in gone {
            match self.vanishing.get(&name) {
                Some(seen) if seen.elapsed() >= super::event::VANISH_CONFIRM => {
                    self.vanishing.remove(&name);
                    if let Some(managed) = self.projects.remove(&name) {
                        self.take_down(name, managed);
                    }
                }
                Some(_) => {}
                None => {
                    tracing::info!(project = %name, "{name}: its files are gone; taking it down if they are still gone in a moment");
                    self.vanishing.insert(name, tokio::time::Instant::now());
                    self.rescan_later();
                }
            }
        }
        match self.add_projects() {
            Ok(added) => {
                for name in added {
                    self.request_reconcile(&name, true, None);
                }
            }
            Err(e) => tracing::error!("{e}"),
        }
    }

    /// A scan of the root failed (too many open files, the directory being replaced): nothing
    /// changes, and the root is read again in a moment.
    fn scan_failed(&self, e: &std::io::Error) {
        tracing::error!(
            "cannot read {}: {e}; every project keeps running as it is, and the directory is read again in a moment",
            self.config.root.display()
        );
        self.rescan_later();
    }

    /// Reads the root again once a vanished project would be confirmed (as a file change would).
    fn rescan_later(&self) {
        let tx = self.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(super::event::VANISH_CONFIRM).await;
            let _ = tx.send(Event::FilesChanged(super::event::Change::Edited));
        });
    }

    /// A removed project's containers and networks go (its volumes stay); its lock is held
    /// until they are gone.
    fn take_down(&self, name: String, managed: Managed) {
        let Some(project) = managed.runtime.project.clone() else {
            return;
        };
        tracing::info!(project = %name, "{name}: its file was removed; taking it down (volumes kept)");
        let (engine, tx) = (self.engine.clone(), self.tx.clone());
        tokio::spawn(async move {
            let errors = match engine.observe(&project.name).await {
                Ok(observed) => {
                    let progress = |s: &str, w: &str| tracing::info!(project = %name, "{name}: {s}: {w}");
                    execute::down(&engine, &project, &observed, false, &progress)
                        .await
                        .errors
                }
                Err(e) => vec![e.to_string()],
            };
            drop(managed);
            let _ = tx.send(Event::Removed { project: name, errors });
        });
    }
}
