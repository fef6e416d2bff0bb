//! Taking a project down (`down`: stop and remove containers and networks, volumes only on
//! request) and stopping it in place (`stop`: the containers are kept). Dependents stop before
//! their dependencies; independent ones in parallel.

use std::collections::HashMap;

use futures_util::future::join_all;

use super::Progress;
use crate::engine::{Engine, EngineError};
use crate::model::Project;
use crate::observed::{Observed, ObservedContainer};

/// What `down` did.
#[derive(Debug, Clone, Default)]
pub struct DownReport {
    pub removed_containers: Vec<String>,
    pub removed_networks: Vec<String>,
    pub removed_volumes: Vec<String>,
    pub errors: Vec<String>,
}

/// Stops and removes the project's containers and its networks. Volumes are removed only when
/// `remove_volumes` is set, and then only the project's own: declared in the file, not external,
/// carrying this project's label and created by composed (`composed.managed-by`). A pre-existing
/// volume referenced with `name:`, or one another tool made for the project, is never removed.
pub async fn down<E: Engine>(
    engine: &E,
    project: &Project,
    observed: &Observed,
    remove_volumes: bool,
    progress: Progress<'_>,
) -> DownReport {
    let (removed, errors) = stop_in_order(engine, project, observed, None, true, progress).await;
    let mut report = DownReport {
        removed_containers: removed,
        errors,
        ..DownReport::default()
    };
    remove_networks(engine, project, observed, progress, &mut report).await;
    if remove_volumes {
        remove_own_volumes(engine, project, observed, progress, &mut report).await;
    }
    report
}

async fn remove_networks<E: Engine>(
    engine: &E,
    project: &Project,
    observed: &Observed,
    progress: Progress<'_>,
    report: &mut DownReport,
) {
    for net in project.networks.values().filter(|n| !n.external) {
        let ours = observed
            .networks
            .get(&net.name)
            .is_some_and(|o| o.project.as_deref() == Some(&project.name));
        if !ours {
            continue;
        }
        match engine.remove_network(&net.name).await {
            Ok(()) => {
                progress(&format!("network {}", net.name), "removed");
                report.removed_networks.push(net.name.clone());
            }
            Err(e) => report.errors.push(e.to_string()),
        }
    }
}

async fn remove_own_volumes<E: Engine>(
    engine: &E,
    project: &Project,
    observed: &Observed,
    progress: Progress<'_>,
    report: &mut DownReport,
) {
    for vol in project.volumes.values().filter(|v| !v.external) {
        let ours = observed
            .volumes
            .get(&vol.name)
            .is_some_and(|o| o.managed && o.project.as_deref() == Some(&project.name));
        if !ours {
            if observed.volumes.contains_key(&vol.name) {
                progress(
                    &format!("volume {}", vol.name),
                    "kept (not created by composed for this project)",
                );
            }
            continue;
        }
        match engine.remove_volume(&vol.name).await {
            Ok(()) => {
                progress(&format!("volume {}", vol.name), "removed");
                report.removed_volumes.push(vol.name.clone());
            }
            Err(e) => report.errors.push(e.to_string()),
        }
    }
}

/// Stops the project's containers, or one service's, dependents before their dependencies, and
/// keeps them (`composectl stop`). Returns the errors.
pub async fn stop<E: Engine>(
    engine: &E,
    project: &Project,
    observed: &Observed,
    only: Option<&str>,
    progress: Progress<'_>,
) -> Vec<String> {
    stop_in_order(engine, project, observed, only, false, progress).await.1
}

/// Stops (and with `remove`, removes) containers level by level: level 0 is the services nothing
/// depends on (and orphans), each level after the one before, a level's containers in parallel.
/// Returns the names done and the errors.
async fn stop_in_order<E: Engine>(
    engine: &E,
    project: &Project,
    observed: &Observed,
    only: Option<&str>,
    remove: bool,
    progress: Progress<'_>,
) -> (Vec<String>, Vec<String>) {
    let (mut done, mut errors) = (Vec::new(), Vec::new());
    let level = stop_levels(project);
    let max_level = level.values().copied().max().unwrap_or(0);
    for l in 0..=max_level {
        let batch = observed
            .containers
            .iter()
            .filter(|c| only.is_none_or(|s| s == c.service))
            .filter(|c| level.get(c.service.as_str()).copied().unwrap_or(0) == l);
        let results = join_all(batch.map(|c| stop_one(engine, project, c, remove, progress))).await;
        for r in results {
            match r {
                Ok(name) => done.push(name),
                Err(e) => errors.push(e.to_string()),
            }
        }
    }
    (done, errors)
}

/// Each service's stop level: how far it is from the services nothing depends on.
pub fn stop_levels(project: &Project) -> HashMap<&str, usize> {
    let mut level: HashMap<&str, usize> = HashMap::new();
    for name in project.start_order().iter().rev() {
        let dependents_level = project
            .services
            .values()
            .filter(|s| s.depends_on.contains_key(*name))
            .filter_map(|s| level.get(s.name.as_str()).copied())
            .max();
        level.insert(name, dependents_level.map_or(0, |l| l + 1));
    }
    level
}

async fn stop_one<E: Engine>(
    engine: &E,
    project: &Project,
    c: &ObservedContainer,
    remove: bool,
    progress: Progress<'_>,
) -> Result<String, EngineError> {
    let service = project.services.get(&c.service);
    let timeout = service.map_or(crate::model::DEFAULT_STOP_TIMEOUT, |s| s.stop_timeout());
    let pre_stop = service.map(|s| s.pre_stop.as_slice()).unwrap_or_default();
    super::lifecycle::before_stop(engine, &c.id, &c.name, pre_stop).await?;
    engine.stop_container(&c.id, &c.name, timeout).await?;
    if remove {
        engine.remove_container(&c.id, &c.name).await?;
    }
    progress(&c.name, if remove { "removed" } else { "stopped" });
    Ok(c.name.clone())
}
