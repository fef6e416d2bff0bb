//! The only module that talks to the Docker engine.
//!
//! [`Engine`] is every call the rest of composed makes: the executor, the daemon and the journal
//! forwarder take any `Engine`, so their rules are unit-tested against [`fake::FakeEngine`] (a
//! recording fake with scripted failures) and run against [`DockerEngine`], the bollard client.
//! `DockerEngine::connect` finds the engine the way the docker CLI does (`DOCKER_HOST`, else the
//! default socket) and turns the usual failures into one clear [`EngineError`] each: not
//! running, permission denied, too old. [`observe`] lists a project's state (one call per
//! resource kind), [`actions`] holds the individual changes, [`events`] the event stream,
//! [`logs`] container output, [`credentials`] the operator's registry logins.

pub mod actions;
mod build;
pub mod credentials;
mod docker;
pub mod events;
mod exec;
#[cfg(test)]
pub mod fake;
pub mod identity;
mod inspect;
pub mod logs;
pub mod observe;

use std::future::Future;

use futures_util::stream::BoxStream;
use thiserror::Error;

pub use docker::DockerEngine;
use events::ContainerEvent;
use logs::LogFrame;

pub use exec::ExecOutcome;

use crate::model::{Hook, Network, Project, Service, Volume};
use crate::observed::{Observed, ObservedContainer};
use crate::spec::{ContainerSpec, InjectedFile};

/// How long one request may take; a stop call waiting out a grace period gets its own longer one.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// The oldest Engine API composed supports (Docker 20.10).
pub const MIN_API_VERSION: (u32, u32) = (1, 41);

#[derive(Debug, Clone, Error)]
pub enum EngineError {
    #[error("the Docker engine at {host} is not running ({detail})")]
    NotRunning { host: String, detail: String },
    #[error("permission denied on the Docker socket {host}; run composed as root or as a member of the `docker` group")]
    PermissionDenied { host: String },
    #[error("the Docker engine at {host} speaks API {found}, older than the {}.{} composed needs; upgrade Docker to 20.10 or later", MIN_API_VERSION.0, MIN_API_VERSION.1)]
    TooOld { host: String, found: String },
    #[error("cannot use the Docker engine at {host}: {detail}")]
    Other { host: String, detail: String },
    /// The engine answered, but refused a request.
    #[error("{0}")]
    Refused(String),
}

impl EngineError {
    /// Waiting cannot help: the engine is too old or composed may not use it.
    pub fn is_fatal(&self) -> bool {
        matches!(self, EngineError::TooOld { .. } | EngineError::PermissionDenied { .. })
    }
}

/// A volume mounted in a container: its name (generated for an anonymous one) and target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMount {
    pub name: String,
    pub target: String,
    pub read_only: bool,
}

/// Which containers an event stream follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventScope {
    /// One project's containers.
    Project(String),
    /// Every container composed manages.
    Managed,
}

/// Every call composed makes to a container engine. Each names what it was doing in its error.
/// Removing a container never removes its volumes, anonymous ones included.
pub trait Engine: Clone + Send + Sync + 'static {
    /// The engine's versions; refuses one whose API is too old.
    fn check_version(&self) -> impl Future<Output = Result<Version, EngineError>> + Send;
    /// Whether the engine answers.
    fn ping(&self) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// The engine's state for a project.
    fn observe(&self, project: &str) -> impl Future<Output = Result<Observed, EngineError>> + Send;
    /// A project's containers only: what an apply changes, without listing every network,
    /// volume and image of the engine.
    fn containers(&self, project: &str) -> impl Future<Output = Result<Vec<ObservedContainer>, EngineError>> + Send;
    fn create_network(
        &self,
        project: &Project,
        key: &str,
        net: &Network,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
    fn create_volume(
        &self,
        project: &Project,
        key: &str,
        vol: &Volume,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Pulls an image with the operator's credentials for its registry.
    fn pull(&self, image: &str) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Builds a service's image from its context.
    fn build(&self, project: &Project, service: &Service) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Creates a container and connects it to its other networks; returns its id.
    fn create_container(&self, spec: &ContainerSpec) -> impl Future<Output = Result<String, EngineError>> + Send;
    fn start_container(&self, id: &str, name: &str) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Stops a container, waiting up to `timeout` seconds before the engine kills it; one that
    /// is already stopped or gone is fine.
    fn stop_container(
        &self,
        id: &str,
        name: &str,
        timeout: i64,
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Removes a stopped container and keeps its volumes; one already gone is fine.
    fn remove_container(&self, id: &str, name: &str) -> impl Future<Output = Result<(), EngineError>> + Send;
    fn rename_container(&self, id: &str, new_name: &str) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Runs a command in a running container and waits for it to end.
    fn exec(&self, id: &str, name: &str, hook: &Hook) -> impl Future<Output = Result<ExecOutcome, EngineError>> + Send;
    /// Copies files into a created container (before it starts).
    fn copy_files(
        &self,
        id: &str,
        name: &str,
        files: &[InjectedFile],
    ) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Whether a container is running (`false` when it is gone).
    fn is_running(&self, id: &str) -> impl Future<Output = Result<bool, EngineError>> + Send;
    /// The volumes a container has mounted, by mount target.
    fn volume_mounts(&self, id: &str) -> impl Future<Output = Result<Vec<VolumeMount>, EngineError>> + Send;
    /// When an image was last tagged (pulled, built or tagged), in seconds since the epoch;
    /// `None` when the engine does not say.
    fn image_tagged_at(&self, image: &str) -> impl Future<Output = Result<Option<i64>, EngineError>> + Send;
    /// The paths an image declares as `VOLUME`s.
    fn image_volumes(&self, image: &str) -> impl Future<Output = Result<Vec<String>, EngineError>> + Send;
    fn remove_network(&self, name: &str) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Removes a volume. Only `composed down --volumes` calls this, for the project's own volumes.
    fn remove_volume(&self, name: &str) -> impl Future<Output = Result<(), EngineError>> + Send;
    /// Container events from `since` (`SECONDS[.NANOSECONDS]` since the epoch, see
    /// [`crate::clock::engine_now`]) on. Starting from a time before the first action makes the
    /// subscription race-free: the engine replays what happened since.
    fn events(&self, scope: EventScope, since: &str) -> BoxStream<'static, Result<ContainerEvent, EngineError>>;
    /// A container's output from `since` (seconds since the epoch), followed, each frame stamped.
    fn logs(&self, id: &str, since: i64) -> BoxStream<'static, Result<LogFrame, EngineError>>;
}

/// The engine's versions.
#[derive(Debug, Clone)]
pub struct Version {
    pub api: String,
    pub server: String,
}

pub(crate) fn parse_api(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}
