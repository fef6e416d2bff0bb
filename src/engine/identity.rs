//! How composed names and labels what it creates, so that it (and Docker Compose, and ops with
//! `docker ps --filter label=...`) can find it again.
//!
//! Compose's own labels (`com.docker.compose.project`, `.service`, `.container-number`, `.oneoff`,
//! `.network`, `.volume`, `.project.working_dir`, `.project.config_files`) are written so tools that
//! group by project keep working, and `com.docker.compose.config-hash` carries composed's own hash
//! so that compose's read-only commands (`ps`, `exec`, `logs`, `port`, `cp`, `top`), which list only
//! containers with that label, see them. composed decides recreation from `composed.config-hash`
//! only; `docker compose up` on the same project would recreate the containers (its hash differs).

use crate::model::{Project, Service};

pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const NUMBER: &str = "com.docker.compose.container-number";
pub const ONEOFF: &str = "com.docker.compose.oneoff";
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const NETWORK: &str = "com.docker.compose.network";
pub const VOLUME: &str = "com.docker.compose.volume";

/// Compose's config hash: compose's read-only commands list only containers carrying it.
pub const COMPOSE_CONFIG_HASH: &str = "com.docker.compose.config-hash";

/// The endpoint driver option that names a container's interface (`interface_name`).
pub const ENDPOINT_IFNAME: &str = "com.docker.network.endpoint.ifname";

/// composed's hash of everything that, when it changes, requires a new container.
pub const CONFIG_HASH: &str = "composed.config-hash";
/// The service's configuration a container was created from ([`crate::changes::record`]), so a
/// recreate can say which fields changed.
pub const SERVICE_CONFIG: &str = "composed.service-config";
/// Marks objects composed created (as opposed to adopted or external ones).
pub const MANAGED_BY: &str = "composed.managed-by";

/// One container of a service: `<project>-<service>-<number>` unless `container_name` is set.
pub fn container_name(project: &Project, service: &Service, number: u32) -> String {
    match &service.container_name {
        Some(name) => name.clone(),
        None => format!("{}-{}-{number}", project.name, service.name),
    }
}

/// The image a service runs: its `image`, or `<project>-<service>` for a build without one.
pub fn image_name(project: &Project, service: &Service) -> String {
    match &service.image {
        Some(image) => image.clone(),
        None => format!("{}-{}", project.name, service.name),
    }
}

/// Normalises an image reference the way the engine lists it: `nginx` is `nginx:latest`, and
/// the Docker Hub prefixes (`docker.io/`, `docker.io/library/`) are dropped.
pub fn normalise_image(reference: &str) -> String {
    let r = reference.strip_prefix("docker.io/").unwrap_or(reference);
    let r = r.strip_prefix("library/").unwrap_or(r);
    if r.contains('@') {
        return r.to_string();
    }
    let last = r.rsplit('/').next().unwrap_or(r);
    if last.contains(':') {
        r.to_string()
    } else {
        format!("{r}:latest")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        assert_eq!(normalise_image("nginx"), "nginx:latest");
        assert_eq!(normalise_image("docker.io/library/nginx:1"), "nginx:1");
        assert_eq!(
            normalise_image("127.0.0.1:5000/x/busybox"),
            "127.0.0.1:5000/x/busybox:latest"
        );
        assert_eq!(
            normalise_image("127.0.0.1:5000/x/busybox:1"),
            "127.0.0.1:5000/x/busybox:1"
        );
        assert_eq!(normalise_image("a@sha256:00"), "a@sha256:00");
    }
}
