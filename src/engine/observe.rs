//! Reading a project's observed state: one list call per resource kind (containers filtered by
//! the project label; networks, volumes and images unfiltered, since a volume or network named
//! with `name:` may exist without composed's labels), issued concurrently.

use std::collections::HashMap;

use bollard::models::{ContainerSummary, ContainerSummaryHealthStatusEnum, ContainerSummaryStateEnum};
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListImagesOptions, ListNetworksOptions, ListVolumesOptions,
};

use super::{DockerEngine, EngineError};
use crate::identity;
use crate::observed::{ContainerState, Health, Observed, ObservedContainer, ObservedObject};

impl DockerEngine {
    /// The engine's state for `project`.
    pub(super) async fn list_project(&self, project: &str) -> Result<Observed, EngineError> {
        let networks = self.docker.list_networks(None::<ListNetworksOptions>);
        let volumes = self.docker.list_volumes(None::<ListVolumesOptions>);
        let images = self.docker.list_images(None::<ListImagesOptions>);
        let (containers, networks, volumes, images) =
            tokio::join!(self.list_containers(project), networks, volumes, images);
        let mut out = Observed {
            containers: containers?,
            ..Observed::default()
        };
        let networks = networks.map_err(|e| self.error("listing networks", e))?;
        let volumes = volumes.map_err(|e| self.error("listing volumes", e))?;
        let images = images.map_err(|e| self.error("listing images", e))?;
        for n in networks {
            let Some(name) = n.name else { continue };
            let project = n.labels.as_ref().and_then(|l| l.get(identity::PROJECT).cloned());
            let managed = n.labels.as_ref().is_some_and(|l| l.contains_key(identity::MANAGED_BY));
            out.networks.insert(
                name,
                ObservedObject {
                    id: n.id.unwrap_or_default(),
                    project,
                    managed,
                },
            );
        }
        for v in volumes.volumes.unwrap_or_default() {
            let project = v.labels.get(identity::PROJECT).cloned();
            let managed = v.labels.contains_key(identity::MANAGED_BY);
            out.volumes.insert(
                v.name.clone(),
                ObservedObject {
                    id: v.name,
                    project,
                    managed,
                },
            );
        }
        for i in images {
            for tag in i.repo_tags {
                out.images.insert(identity::normalise_image(&tag), i.id.clone());
            }
        }
        Ok(out)
    }

    /// The project's containers (one-off `run` containers aside): all an apply changes.
    pub(super) async fn list_containers(&self, project: &str) -> Result<Vec<ObservedContainer>, EngineError> {
        let filters = HashMap::from([("label".to_string(), vec![format!("{}={project}", identity::PROJECT)])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let containers = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| self.error("listing containers", e))?;
        Ok(containers.into_iter().filter_map(observed_container).collect())
    }
}

/// One listed container as composed sees it; `None` for a one-off `run` container or one
/// without a service label.
fn observed_container(c: ContainerSummary) -> Option<ObservedContainer> {
    let labels = c.labels.unwrap_or_default();
    if labels
        .get(identity::ONEOFF)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return None;
    }
    let (Some(service), Some(id)) = (labels.get(identity::SERVICE), c.id) else {
        return None;
    };
    let status = c.status.unwrap_or_default();
    let health = match c.health.and_then(|h| h.status) {
        Some(ContainerSummaryHealthStatusEnum::HEALTHY) => Some(Health::Healthy),
        Some(ContainerSummaryHealthStatusEnum::UNHEALTHY) => Some(Health::Unhealthy),
        Some(ContainerSummaryHealthStatusEnum::STARTING) => Some(Health::Starting),
        _ => health_from_status(&status),
    };
    Some(ObservedContainer {
        id,
        name: c
            .names
            .and_then(|n| n.into_iter().next())
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        service: service.clone(),
        number: labels.get(identity::NUMBER).and_then(|n| n.parse().ok()).unwrap_or(1),
        hash: labels.get(identity::CONFIG_HASH).cloned(),
        config: labels.get(identity::SERVICE_CONFIG).cloned(),
        image_id: c.image_id.unwrap_or_default(),
        state: match c.state {
            Some(ContainerSummaryStateEnum::RUNNING) => ContainerState::Running,
            Some(ContainerSummaryStateEnum::CREATED) => ContainerState::Created,
            Some(ContainerSummaryStateEnum::PAUSED) => ContainerState::Paused,
            Some(ContainerSummaryStateEnum::RESTARTING) => ContainerState::Restarting,
            Some(ContainerSummaryStateEnum::REMOVING) => ContainerState::Removing,
            Some(ContainerSummaryStateEnum::DEAD) => ContainerState::Dead,
            _ => ContainerState::Exited,
        },
        health,
        created: c.created.unwrap_or_default(),
    })
}

/// Older engines report health only in the status line: `Up 3 seconds (healthy)`.
fn health_from_status(status: &str) -> Option<Health> {
    if status.contains("(healthy)") {
        Some(Health::Healthy)
    } else if status.contains("(unhealthy)") {
        Some(Health::Unhealthy)
    } else if status.contains("(health: starting)") {
        Some(Health::Starting)
    } else {
        None
    }
}
