//! What happens around a container's create, start and stop besides the engine call, as compose
//! does it: the files a container is given (secrets and configs written as text,
//! `use_api_socket`'s registry logins) are copied in after create and before the first start;
//! `post_start` hooks run after every start composed makes; `pre_stop` hooks run before a stop
//! a person asked for (`composectl stop`/`down`, `systemctl stop`), and a failing one leaves the
//! container running. Hooks do not run when composed replaces a container (as compose), and
//! their commands and output reach only the journal.

use crate::engine::credentials::{Credentials, config_json};
use crate::engine::{Engine, EngineError};
use crate::model::{Hook, Secret};
use crate::spec::{API_SOCKET_CONFIG_DIR, ContainerSpec, InjectedFile};

/// Creates a container and copies its files in; a container whose files could not be copied
/// is removed again.
pub async fn create<E: Engine>(e: &E, spec: &ContainerSpec) -> Result<String, EngineError> {
    let id = e.create_container(spec).await?;
    let mut files = spec.files.clone();
    if spec.api_socket {
        files.push(api_socket_logins().await?);
    }
    if files.is_empty() {
        return Ok(id);
    }
    if let Err(err) = e.copy_files(&id, &spec.name, &files).await {
        let _ = e.remove_container(&id, &spec.name).await;
        return Err(err);
    }
    Ok(id)
}

/// The operator's registry logins as a Docker CLI config file.
async fn api_socket_logins() -> Result<InjectedFile, EngineError> {
    let credentials = Credentials::load().map_err(EngineError::Refused)?;
    Ok(InjectedFile {
        path: format!("{API_SOCKET_CONFIG_DIR}/config.json"),
        content: Secret(config_json(&credentials.all().await)),
        mode: 0o444,
        uid: 0,
        gid: 0,
    })
}

/// Starts a container, then runs its `post_start` hooks in order; the first that fails fails
/// the start (the container keeps running, as with compose).
pub async fn start<E: Engine>(e: &E, id: &str, name: &str, post_start: &[Hook]) -> Result<(), EngineError> {
    e.start_container(id, name).await?;
    run_hooks(e, id, name, post_start, "post_start").await
}

/// Runs `pre_stop` hooks of a running container; an error means the stop must not happen.
pub async fn before_stop<E: Engine>(e: &E, id: &str, name: &str, pre_stop: &[Hook]) -> Result<(), EngineError> {
    if pre_stop.is_empty() || !e.is_running(id).await? {
        return Ok(());
    }
    run_hooks(e, id, name, pre_stop, "pre_stop")
        .await
        .map_err(|err| EngineError::Refused(format!("{err}; {name} keeps running")))
}

async fn run_hooks<E: Engine>(e: &E, id: &str, name: &str, hooks: &[Hook], which: &str) -> Result<(), EngineError> {
    for (i, hook) in hooks.iter().enumerate() {
        let n = i + 1;
        let outcome = e
            .exec(id, name, hook)
            .await
            .map_err(|err| EngineError::Refused(format!("{which} hook {n} of {name} could not run: {err}")))?;
        for line in outcome.output.lines().filter(|l| !l.trim().is_empty()) {
            tracing::info!(container = %name, hook = %which, "{name} {which} hook {n}: {line}");
        }
        if outcome.exit_code != 0 {
            return Err(EngineError::Refused(format!(
                "{which} hook {n} of {name} exited with status {}",
                outcome.exit_code
            )));
        }
    }
    Ok(())
}
