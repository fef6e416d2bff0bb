//! [`DockerEngine`]: the bollard client behind [`Engine`]. The client is private to the engine
//! module; everything else calls the trait.

use bollard::Docker;
use futures_util::stream::BoxStream;

use super::events::ContainerEvent;
use super::logs::LogFrame;
use super::{
    Engine, EngineError, EventScope, ExecOutcome, MIN_API_VERSION, REQUEST_TIMEOUT, Version, VolumeMount, parse_api,
};
use crate::model::{Hook, Network, Project, Service, Volume};
use crate::observed::{Observed, ObservedContainer};
use crate::spec::{ContainerSpec, InjectedFile};

/// A client for one Docker engine.
#[derive(Debug, Clone)]
pub struct DockerEngine {
    pub(super) docker: Docker,
    pub(super) host: String,
}

impl DockerEngine {
    /// Prepares a client for `DOCKER_HOST`, or the default local socket. No request is sent:
    /// the first call reports an engine that is not running or not reachable.
    pub fn connect() -> Result<DockerEngine, EngineError> {
        let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string());
        let docker = Docker::connect_with_defaults()
            .map_err(|e| classify(&host, e))?
            .with_timeout(REQUEST_TIMEOUT);
        Ok(DockerEngine { docker, host })
    }

    async fn version(&self) -> Result<Version, EngineError> {
        let version = self.docker.version().await.map_err(|e| classify(&self.host, e))?;
        let api_version = version.api_version.unwrap_or_default();
        if parse_api(&api_version).is_none_or(|v| v < MIN_API_VERSION) {
            return Err(EngineError::TooOld {
                host: self.host.clone(),
                found: api_version,
            });
        }
        Ok(Version {
            api: api_version,
            server: version.version.unwrap_or_default(),
        })
    }

    /// Wraps an error from one request, naming what was being done.
    pub(super) fn error(&self, what: impl std::fmt::Display, err: bollard::errors::Error) -> EngineError {
        match err {
            bollard::errors::Error::DockerResponseServerError { message, .. } => {
                EngineError::Refused(format!("{what}: {message}"))
            }
            other => match classify(&self.host, other) {
                EngineError::Other { detail, .. } => EngineError::Refused(format!("{what}: {detail}")),
                e => e,
            },
        }
    }
}

impl Engine for DockerEngine {
    async fn check_version(&self) -> Result<Version, EngineError> {
        self.version().await
    }

    async fn ping(&self) -> Result<(), EngineError> {
        self.docker
            .ping()
            .await
            .map(|_| ())
            .map_err(|e| classify(&self.host, e))
    }

    async fn observe(&self, project: &str) -> Result<Observed, EngineError> {
        self.list_project(project).await
    }

    async fn containers(&self, project: &str) -> Result<Vec<ObservedContainer>, EngineError> {
        self.list_containers(project).await
    }

    async fn create_network(&self, project: &Project, key: &str, net: &Network) -> Result<(), EngineError> {
        self.new_network(project, key, net).await
    }

    async fn create_volume(&self, project: &Project, key: &str, vol: &Volume) -> Result<(), EngineError> {
        self.new_volume(project, key, vol).await
    }

    async fn pull(&self, image: &str) -> Result<(), EngineError> {
        self.pull_image(image).await
    }

    async fn build(&self, project: &Project, service: &Service) -> Result<(), EngineError> {
        self.build_image(project, service).await
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String, EngineError> {
        self.new_container(spec).await
    }

    async fn start_container(&self, id: &str, name: &str) -> Result<(), EngineError> {
        self.start(id, name).await
    }

    async fn stop_container(&self, id: &str, name: &str, timeout: i64) -> Result<(), EngineError> {
        self.stop(id, name, timeout).await
    }

    async fn remove_container(&self, id: &str, name: &str) -> Result<(), EngineError> {
        self.remove(id, name).await
    }

    async fn rename_container(&self, id: &str, new_name: &str) -> Result<(), EngineError> {
        self.rename(id, new_name).await
    }

    async fn exec(&self, id: &str, name: &str, hook: &Hook) -> Result<ExecOutcome, EngineError> {
        self.run_exec(id, name, hook).await
    }

    async fn copy_files(&self, id: &str, name: &str, files: &[InjectedFile]) -> Result<(), EngineError> {
        self.copy_in(id, name, files).await
    }

    async fn is_running(&self, id: &str) -> Result<bool, EngineError> {
        self.running(id).await
    }

    async fn volume_mounts(&self, id: &str) -> Result<Vec<VolumeMount>, EngineError> {
        self.mounts_of(id).await
    }

    async fn image_tagged_at(&self, image: &str) -> Result<Option<i64>, EngineError> {
        self.tagged_at(image).await
    }

    async fn image_volumes(&self, image: &str) -> Result<Vec<String>, EngineError> {
        self.volumes_of_image(image).await
    }

    async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        self.delete_network(name).await
    }

    async fn remove_volume(&self, name: &str) -> Result<(), EngineError> {
        self.delete_volume(name).await
    }

    fn events(&self, scope: EventScope, since: &str) -> BoxStream<'static, Result<ContainerEvent, EngineError>> {
        self.event_stream(scope, since)
    }

    fn logs(&self, id: &str, since: i64) -> BoxStream<'static, Result<LogFrame, EngineError>> {
        self.log_stream(id, since)
    }
}

/// Turns a bollard error into the one an operator can act on, by the I/O error underneath.
fn classify(host: &str, err: bollard::errors::Error) -> EngineError {
    use std::io::ErrorKind;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                ErrorKind::PermissionDenied => EngineError::PermissionDenied { host: host.to_string() },
                ErrorKind::NotFound | ErrorKind::ConnectionRefused => EngineError::NotRunning {
                    host: host.to_string(),
                    detail: io.to_string(),
                },
                _ => EngineError::Other {
                    host: host.to_string(),
                    detail: io.to_string(),
                },
            };
        }
        source = e.source();
    }
    match err {
        bollard::errors::Error::SocketNotFoundError(path) => EngineError::NotRunning {
            host: host.to_string(),
            detail: format!("no socket at {path}"),
        },
        other => EngineError::Other {
            host: host.to_string(),
            detail: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions() {
        assert_eq!(parse_api("1.45"), Some((1, 45)));
        assert!(parse_api("1.40").unwrap() < MIN_API_VERSION);
        assert_eq!(parse_api("x"), None);
    }

    #[tokio::test]
    async fn missing_socket_is_not_running() {
        // A socket path that cannot exist: the error must say "not running", not a raw I/O error.
        let host = "unix:///nonexistent/composed-test.sock";
        let docker = Docker::connect_with_unix(host, 5, bollard::API_DEFAULT_VERSION);
        let err = match docker {
            Err(e) => classify(host, e),
            Ok(d) => classify(host, d.version().await.unwrap_err()),
        };
        assert!(matches!(err, EngineError::NotRunning { .. }), "{err}");
    }
}
