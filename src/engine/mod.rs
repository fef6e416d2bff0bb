//! The only module that talks to the Docker engine (through bollard).
//!
//! [`Engine::connect`] finds the engine the way the docker CLI does (`DOCKER_HOST`, else the
//! default socket), checks that it answers and that its API is recent enough, and turns the usual
//! failures into one clear [`EngineError`] each: not running, permission denied, too old.
//! [`observe`] lists a project's state (one call per resource kind), [`actions`] holds the
//! individual changes (create, start, stop, remove, pull, build), [`events`] the event stream.

pub mod actions;
pub mod credentials;
pub mod events;
pub mod observe;

use bollard::Docker;
use thiserror::Error;

/// How long one request may take; a stop call waiting out a grace period gets its own longer one.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// The oldest Engine API composed supports (Docker 20.10).
pub const MIN_API_VERSION: (u32, u32) = (1, 41);

#[derive(Debug, Error)]
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

/// A client for one engine.
#[derive(Debug, Clone)]
pub struct Engine {
    pub docker: Docker,
    pub host: String,
}

impl Engine {
    /// Prepares a client for `DOCKER_HOST`, or the default local socket. No request is sent:
    /// the first call reports an engine that is not running or not reachable.
    pub fn connect() -> Result<Engine, EngineError> {
        let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string());
        let docker = Docker::connect_with_defaults()
            .map_err(|e| classify(&host, e))?
            .with_timeout(REQUEST_TIMEOUT);
        Ok(Engine { docker, host })
    }

    /// Asks the engine for its version and refuses one whose API is too old. Called before the
    /// first change, so a no-op `up` makes no call but its list calls.
    pub async fn check_version(&self) -> Result<Version, EngineError> {
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
    pub fn error(&self, what: impl std::fmt::Display, err: bollard::errors::Error) -> EngineError {
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

/// The engine's versions.
#[derive(Debug, Clone)]
pub struct Version {
    pub api: String,
    pub server: String,
}

fn parse_api(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
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
