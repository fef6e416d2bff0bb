//! A recreate that can be undone (the daemon's hot reloads): the old container is parked and
//! stopped, not removed, until the new one has proved itself within its service's proving window
//! (healthy, or still running, see [`crate::model::Service::proving_window`]). A new container
//! that cannot be created or started, exits, turns unhealthy or is not healthy in time is
//! removed, and the old one is renamed back and started again, with the same volumes. The
//! service then runs its previous configuration and the report says why.

use std::time::Duration;

use super::{Run, lifecycle, parked_name};
use crate::engine::{Engine, EngineError};
use crate::observed::Health;
use crate::spec::ContainerSpec;
use crate::state::Reason;
use crate::supervise::policy::{Decision, RestartRule};

/// How a container step failed.
#[derive(Debug)]
pub(super) enum StepError {
    /// Nothing runs for it: the service failed.
    Failed(Reason),
    /// The edit was refused and the previous container runs again (or never stopped).
    Kept(Reason),
}

impl From<EngineError> for StepError {
    fn from(e: EngineError) -> Self {
        StepError::Failed(Reason::new(engine_words(&e), e))
    }
}

/// What an engine error during a container step means, in composed's words: a hook's own
/// sentence (names and numbers only), or the kind of failure; the engine's message is detail.
pub(super) fn engine_words(e: &EngineError) -> String {
    match e {
        EngineError::NotRunning { .. } | EngineError::Other { .. } => "the engine could not be reached".into(),
        EngineError::PermissionDenied { .. } => "composed may not use the engine".into(),
        EngineError::TooOld { .. } => "the engine is too old".into(),
        EngineError::Refused(m) if m.starts_with("post_start hook") || m.starts_with("pre_stop hook") => {
            m.split([':', ';']).next().unwrap_or_default().to_string()
        }
        EngineError::Refused(_) => "its container could not be created or started".into(),
    }
}

impl<E: Engine> Run<'_, E> {
    /// Park the old container, create the new one (with the old one's anonymous volumes), stop
    /// the old one, start and prove the new one; on any failure, put the old one back.
    pub(super) async fn recreate_verified(
        &self,
        service: &str,
        old_id: &str,
        old_name: &str,
        spec: &ContainerSpec,
        why: &str,
    ) -> Result<(), StepError> {
        let e = self.engine;
        let parked = parked_name(old_id, &spec.name);
        self.park(old_id, old_name, &parked).await?;
        let back = || async {
            let _ = e.rename_container(old_id, &spec.name).await;
        };
        let spec = match self.with_inherited_volumes(old_id, &parked, spec).await {
            Ok(spec) => spec,
            Err(err) => {
                back().await;
                return Err(err.into());
            }
        };
        let new_id = match self.create(&spec, Some(old_id)).await {
            Ok(id) => id,
            Err(err) => {
                back().await;
                return Err(StepError::Kept(Reason::new(
                    "the engine refused the new container",
                    err,
                )));
            }
        };
        if let Err(err) = e.stop_container(old_id, &parked, spec.stop_timeout).await {
            let _ = e.remove_container(&new_id, &spec.name).await;
            back().await;
            return Err(StepError::Kept(Reason::new(
                "the old container could not be stopped",
                err,
            )));
        }
        self.tracker.track(service, spec.number, &new_id);
        let post_start = &self.project.services[service].post_start;
        let proof = match lifecycle::start(e, &new_id, &spec.name, post_start).await {
            Ok(()) => self.prove(service, &spec).await,
            Err(err @ EngineError::Refused(_)) if engine_words(&err).contains("hook") => {
                Err(Reason::new(format!("the new container's {}", engine_words(&err)), err))
            }
            Err(err) => Err(Reason::new("the new container could not be started", err)),
        };
        match proof {
            Ok(()) => {
                e.remove_container(old_id, &parked).await?;
                (self.progress)(&spec.name, &format!("recreated ({why})"));
                Ok(())
            }
            Err(reason) => {
                self.put_back(service, &spec, &new_id, old_id, &parked).await?;
                Err(StepError::Kept(reason))
            }
        }
    }

    /// Renames the old container aside (an interrupted run may have done it already, even after
    /// this run listed it).
    async fn park(&self, old_id: &str, old_name: &str, parked: &str) -> Result<(), StepError> {
        if old_name == parked {
            return Ok(());
        }
        match self.engine.rename_container(old_id, parked).await {
            Err(err) if !err.to_string().contains("same name as its current name") => Err(err.into()),
            _ => Ok(()),
        }
    }

    /// Waits until the new container has proved itself, or says how it failed.
    async fn prove(&self, service: &str, spec: &ContainerSpec) -> Result<(), Reason> {
        let definition = &self.project.services[service];
        let window = definition.proving_window();
        let deadline = tokio::time::Instant::now() + window;
        let with_healthcheck = definition.has_healthcheck();
        let mut changed = self.tracker.subscribe();
        loop {
            let now = tokio::time::Instant::now();
            let container = self.tracker.container(service, spec.number);
            match container {
                Some((_, _, Some(0))) if RestartRule::of(definition).on_exit(0, 0) == Decision::Leave => {
                    return Ok(());
                }
                Some((_, _, Some(code))) => {
                    return Err(Reason::plain(format!(
                        "the new container exited with code {code} before it was ready"
                    )));
                }
                Some((_, Some(Health::Unhealthy), _)) => {
                    return Err(Reason::plain("the new container failed its healthcheck"));
                }
                Some((_, Some(Health::Healthy), _)) if with_healthcheck => return Ok(()),
                Some((true, _, _)) if !with_healthcheck && now >= deadline => return Ok(()),
                _ if now >= deadline && with_healthcheck => {
                    return Err(Reason::new(
                        "the new container was not healthy in time",
                        format!("within {}", words(window)),
                    ));
                }
                _ if now >= deadline => return Err(Reason::plain("the new container was not running")),
                _ => {}
            }
            tokio::select! {
                changed = changed.changed() => {
                    if changed.is_err() {
                        return Err(Reason::plain(
                            "the new container could not be followed (the engine's event stream ended)",
                        ));
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    /// Removes the new container (its volumes stay: they are the old one's) and starts the old
    /// one again under its own name.
    async fn put_back(
        &self,
        service: &str,
        spec: &ContainerSpec,
        new_id: &str,
        old_id: &str,
        parked: &str,
    ) -> Result<(), StepError> {
        let e = self.engine;
        e.stop_container(new_id, &spec.name, spec.stop_timeout).await?;
        e.remove_container(new_id, &spec.name).await?;
        e.rename_container(old_id, &spec.name).await?;
        self.tracker.track(service, spec.number, old_id);
        e.start_container(old_id, &spec.name)
            .await
            .map_err(|err| EngineError::Refused(format!("{parked} could not be started again: {err}")))?;
        (self.progress)(&spec.name, "rolled back to the previous container");
        Ok(())
    }
}

fn words(d: Duration) -> String {
    crate::load::units::format_duration(d)
}
