//! What composed reads about one container or image beyond the list calls: whether a container
//! runs, the volumes it has mounted (to carry anonymous ones over to its replacement), and the
//! `VOLUME`s an image declares.

use bollard::query_parameters::InspectContainerOptions;

use super::{DockerEngine, EngineError, VolumeMount};

impl DockerEngine {
    pub(super) async fn mounts_of(&self, id: &str) -> Result<Vec<VolumeMount>, EngineError> {
        let inspected = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(|e| self.error(format!("inspecting container {id}"), e))?;
        let mounts = inspected.mounts.unwrap_or_default().into_iter();
        Ok(mounts
            .filter(|m| m.typ.as_deref() == Some("volume"))
            .filter_map(|m| {
                Some(VolumeMount {
                    name: m.name?,
                    target: m.destination?,
                    read_only: m.rw == Some(false),
                })
            })
            .collect())
    }

    pub(super) async fn tagged_at(&self, image: &str) -> Result<Option<i64>, EngineError> {
        let inspected = self
            .docker
            .inspect_image(image)
            .await
            .map_err(|e| self.error(format!("inspecting image {image}"), e))?;
        let stamp = inspected.metadata.and_then(|m| m.last_tag_time);
        Ok(stamp
            .as_deref()
            .and_then(crate::journal::forward::parse_rfc3339)
            .map(|nanos| (nanos / 1_000_000_000) as i64))
    }

    pub(super) async fn volumes_of_image(&self, image: &str) -> Result<Vec<String>, EngineError> {
        let inspected = self
            .docker
            .inspect_image(image)
            .await
            .map_err(|e| self.error(format!("inspecting image {image}"), e))?;
        Ok(inspected.config.and_then(|c| c.volumes).unwrap_or_default())
    }

    pub(super) async fn running(&self, id: &str) -> Result<bool, EngineError> {
        match self.docker.inspect_container(id, None::<InspectContainerOptions>).await {
            Ok(c) => Ok(c.state.and_then(|s| s.running).unwrap_or(false)),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(false),
            Err(e) => Err(self.error(format!("inspecting container {id}"), e)),
        }
    }
}
