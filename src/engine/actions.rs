//! The individual changes composed makes on the engine. Each call names what it was doing in its
//! error. Removing a container never removes its volumes (`v=false`), anonymous ones included.

use std::collections::HashMap;

use bollard::models::{Ipam, IpamConfig, NetworkConnectRequest, NetworkCreateRequest, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptions,
    RenameContainerOptionsBuilder, StartContainerOptions, StopContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::credentials::{Credentials, Found};
use super::{DockerEngine, EngineError};
use crate::identity;
use crate::model::{Network, Project, Volume};
use crate::spec::ContainerSpec;

impl DockerEngine {
    pub(super) async fn new_network(&self, project: &Project, key: &str, net: &Network) -> Result<(), EngineError> {
        let labels = owned_labels(&net.labels, project, identity::NETWORK, key);
        let ipam = net.ipam.as_ref().map(|i| Ipam {
            driver: i.driver.clone(),
            config: Some(
                i.config
                    .iter()
                    .map(|p| IpamConfig {
                        subnet: p.subnet.clone(),
                        ip_range: p.ip_range.clone(),
                        gateway: p.gateway.clone(),
                        auxiliary_addresses: Some(p.aux_addresses.clone().into_iter().collect()),
                    })
                    .collect(),
            ),
            options: Some(i.options.clone().into_iter().collect()),
        });
        let request = NetworkCreateRequest {
            name: net.name.clone(),
            driver: net.driver.clone(),
            internal: Some(net.internal),
            attachable: Some(net.attachable),
            enable_ipv6: Some(net.enable_ipv6),
            options: Some(net.driver_opts.clone().into_iter().collect()),
            ipam,
            labels: Some(labels),
            ..Default::default()
        };
        self.docker
            .create_network(request)
            .await
            .map(|_| ())
            .map_err(|e| self.error(format!("creating network {}", net.name), e))
    }

    pub(super) async fn new_volume(&self, project: &Project, key: &str, vol: &Volume) -> Result<(), EngineError> {
        let labels = owned_labels(&vol.labels, project, identity::VOLUME, key);
        let request = VolumeCreateRequest {
            name: Some(vol.name.clone()),
            driver: vol.driver.clone(),
            driver_opts: Some(vol.driver_opts.clone().into_iter().collect()),
            labels: Some(labels),
            ..Default::default()
        };
        self.docker
            .create_volume(request)
            .await
            .map(|_| ())
            .map_err(|e| self.error(format!("creating volume {}", vol.name), e))
    }

    /// Pulls `image` with the operator's credentials for its registry; the error names the
    /// image and its registry, and says to `docker login` when the registry asked for them.
    pub(super) async fn pull_image(&self, image: &str) -> Result<(), EngineError> {
        let registry = registry_of(image);
        let fail = |m: String| EngineError::Refused(format!("pulling image {image} from {registry}: {m}"));
        let store = Credentials::load().map_err(fail)?;
        let found = store.for_registry(registry).await.map_err(fail)?;
        let (repo, tag) = split_tag(image);
        let options = CreateImageOptionsBuilder::default().from_image(repo).tag(tag).build();
        let sent = found.as_ref().map(|f| f.credentials.clone());
        let mut stream = self.docker.create_image(Some(options), None, sent);
        while let Some(item) = stream.next().await {
            let failed = match item {
                Ok(info) => info.error_detail.and_then(|d| d.message),
                Err(e) => Some(match self.error("", e) {
                    EngineError::Refused(m) => m.trim_start_matches(": ").to_string(),
                    other => other.to_string(),
                }),
            };
            if let Some(message) = failed {
                return Err(fail(login_hint(message, registry, found.as_ref(), store.path())));
            }
        }
        Ok(())
    }

    /// Creates a container and connects it to its other networks; returns its id.
    pub(super) async fn new_container(&self, spec: &ContainerSpec) -> Result<String, EngineError> {
        let options = CreateContainerOptionsBuilder::default().name(&spec.name).build();
        let created = self
            .docker
            .create_container(Some(options), spec.body.clone())
            .await
            .map_err(|e| self.error(format!("creating container {}", spec.name), e))?;
        for (network, endpoint) in &spec.extra_networks {
            let request = NetworkConnectRequest {
                container: created.id.clone(),
                endpoint_config: Some(endpoint.clone()),
            };
            self.docker
                .connect_network(network, request)
                .await
                .map_err(|e| self.error(format!("connecting {} to network {network}", spec.name), e))?;
        }
        Ok(created.id)
    }

    pub(super) async fn start(&self, id: &str, name: &str) -> Result<(), EngineError> {
        self.docker
            .start_container(id, None::<StartContainerOptions>)
            .await
            .map_err(|e| self.error(format!("starting container {name}"), e))
    }

    /// Stops a container, waiting up to `timeout` seconds before the engine kills it.
    pub(super) async fn stop(&self, id: &str, name: &str, timeout: i64) -> Result<(), EngineError> {
        let options = StopContainerOptionsBuilder::default()
            .t(timeout.clamp(0, i32::MAX as i64) as i32)
            .build();
        let docker = self
            .docker
            .clone()
            .with_timeout(super::REQUEST_TIMEOUT + std::time::Duration::from_secs(timeout.max(0) as u64));
        match docker.stop_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            // Already stopped, or already gone (e.g. removed by a request of an interrupted run
            // that the engine finished after that run died).
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304 | 404, ..
            }) => Ok(()),
            Err(e) => Err(self.error(format!("stopping container {name}"), e)),
        }
    }

    /// Removes a (stopped) container. Its volumes are kept.
    pub(super) async fn remove(&self, id: &str, name: &str) -> Result<(), EngineError> {
        let options = RemoveContainerOptionsBuilder::default().v(false).force(true).build();
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
            Err(e) => Err(self.error(format!("removing container {name}"), e)),
        }
    }

    pub(super) async fn rename(&self, id: &str, new_name: &str) -> Result<(), EngineError> {
        let options = RenameContainerOptionsBuilder::default().name(new_name).build();
        self.docker
            .rename_container(id, options)
            .await
            .map_err(|e| self.error(format!("renaming container to {new_name}"), e))
    }

    pub(super) async fn delete_network(&self, name: &str) -> Result<(), EngineError> {
        match self.docker.remove_network(name).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(()),
            Err(e) => Err(self.error(format!("removing network {name}"), e)),
        }
    }

    /// Removes a volume. Only `composed down --volumes` calls this, for the project's own volumes.
    pub(super) async fn delete_volume(&self, name: &str) -> Result<(), EngineError> {
        self.docker
            .remove_volume(name, None::<RemoveVolumeOptions>)
            .await
            .map_err(|e| self.error(format!("removing volume {name}"), e))
    }
}

/// A network's or volume's labels: its own, compose's project and `kind` (network/volume key)
/// labels, and composed's managed-by mark (what `down --volumes` checks before removing).
fn owned_labels(
    own: &std::collections::BTreeMap<String, String>,
    project: &Project,
    kind: &str,
    key: &str,
) -> HashMap<String, String> {
    let mut labels: HashMap<String, String> = own.clone().into_iter().collect();
    labels.insert(identity::PROJECT.into(), project.name.clone());
    labels.insert(kind.into(), key.into());
    labels.insert(identity::MANAGED_BY.into(), "composed".into());
    labels
}

/// A refused pull, with what to do when the registry wanted credentials: log in, or log in
/// again when the ones sent were refused.
fn login_hint(message: String, registry: &str, sent: Option<&Found>, config: &std::path::Path) -> String {
    let lower = message.to_lowercase();
    let wants_credentials = [
        "no basic auth credentials",
        "unauthorized",
        "authentication required",
        "access denied",
        "denied:",
        "docker login",
        "incorrect username or password",
    ]
    .iter()
    .any(|w| lower.contains(w));
    if !wants_credentials {
        return message;
    }
    let login = match registry {
        "docker.io" => "docker login".to_string(),
        other => format!("docker login {other}"),
    };
    match sent {
        None => format!(
            "{message}; the registry {registry} wants credentials and there are none for it in {}: run `{login}` as the user composed runs as (root for the units)",
            config.display()
        ),
        Some(found) => format!(
            "{message}; the registry {registry} refused the credentials from {}: run `{login}` again (or check the image name)",
            found.source
        ),
    }
}

/// `registry:5000/x/y:1` -> (`registry:5000/x/y`, `1`); no tag means `latest`.
fn split_tag(image: &str) -> (&str, &str) {
    if let Some((repo, _digest)) = image.split_once('@') {
        return (repo, "");
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(i) => (&image[..last_slash + i], &image[last_slash + i + 1..]),
        None => (image, "latest"),
    }
}

/// The registry an image comes from (`docker.io` when it names none).
pub fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => first,
        _ => "docker.io",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_parts() {
        assert_eq!(split_tag("busybox"), ("busybox", "latest"));
        assert_eq!(
            split_tag("127.0.0.1:5000/x/busybox:1"),
            ("127.0.0.1:5000/x/busybox", "1")
        );
        assert_eq!(
            split_tag("127.0.0.1:5000/x/busybox"),
            ("127.0.0.1:5000/x/busybox", "latest")
        );
        assert_eq!(registry_of("127.0.0.1:5000/x/busybox:1"), "127.0.0.1:5000");
        assert_eq!(registry_of("postgres:16"), "docker.io");
        assert_eq!(registry_of("mreferre/yelb-ui:0.10"), "docker.io");
    }
}
