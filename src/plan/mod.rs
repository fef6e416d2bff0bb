//! The planner: `plan(desired, observed) -> Plan`. Pure: no engine, no clock, no I/O.
//!
//! A plan says, per service in dependency order, which image to pull or build and what to do with
//! each container (keep, start, create, recreate, restart), which services it must wait for and
//! on what condition, which networks and volumes to create, and which containers to remove
//! (services gone from the file, scaled-down replicas, duplicates left by an interrupted run).
//! Services with no path between them in the dependency graph run in parallel. **A plan never
//! removes a volume.**

use std::collections::BTreeSet;
use std::fmt;

use crate::identity;
use crate::model::{Condition, Project, PullPolicy};
use crate::observed::{ContainerState, Observed, ObservedContainer};
use crate::spec::{self, ContainerSpec};

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub project: String,
    pub networks: Vec<Create>,
    pub volumes: Vec<Create>,
    pub services: Vec<ServiceStep>,
    pub removals: Vec<Removal>,
}

/// A network or volume to create: its compose key and engine name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Create {
    pub key: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceStep {
    pub service: String,
    /// Dependencies to wait for before touching this service's containers.
    pub after: Vec<Wait>,
    pub image: ImageStep,
    pub containers: Vec<ContainerStep>,
    /// Why the service cannot be planned (then it and its dependents fail at execution).
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    pub service: String,
    pub condition: Condition,
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageStep {
    Present(String),
    Pull(String),
    Build(String),
    /// Absent with `pull_policy: never`.
    Missing(String),
}

impl ImageStep {
    pub fn name(&self) -> &str {
        match self {
            ImageStep::Present(i) | ImageStep::Pull(i) | ImageStep::Build(i) | ImageStep::Missing(i) => i,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ContainerStep {
    Keep {
        id: String,
        name: String,
    },
    Start {
        id: String,
        name: String,
    },
    Create {
        spec: Box<ContainerSpec>,
    },
    Recreate {
        old_id: String,
        old_name: String,
        spec: Box<ContainerSpec>,
        reason: String,
        /// The fields that changed, where the old container recorded its configuration.
        changes: Option<Vec<crate::changes::Change>>,
    },
    Restart {
        id: String,
        name: String,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub id: String,
    pub name: String,
    pub reason: String,
    pub stop_timeout: i64,
}

impl Plan {
    /// Leaves the containers of `services` as they are (an operator stopped them): no start,
    /// create, recreate or restart for them, and no image work. Removals still apply.
    pub fn leave_alone(&mut self, services: &BTreeSet<String>) {
        for step in self.services.iter_mut().filter(|s| services.contains(&s.service)) {
            step.image = ImageStep::Present(step.image.name().to_string());
            step.containers = std::mem::take(&mut step.containers)
                .into_iter()
                .filter_map(|c| match c {
                    ContainerStep::Keep { id, name }
                    | ContainerStep::Start { id, name }
                    | ContainerStep::Restart { id, name, .. } => Some(ContainerStep::Keep { id, name }),
                    ContainerStep::Recreate { old_id, old_name, .. } => Some(ContainerStep::Keep {
                        id: old_id,
                        name: old_name,
                    }),
                    ContainerStep::Create { .. } => None,
                })
                .collect();
        }
    }

    /// Keeps `services` on the containers they run (an edit of theirs was rolled back): no image
    /// work, no create or recreate; a container that exited is started again.
    pub fn pin(&mut self, services: &BTreeSet<String>, observed: &Observed) {
        let running = |id: &str| {
            observed
                .containers
                .iter()
                .any(|c| c.id == id && c.state == ContainerState::Running)
        };
        for step in self.services.iter_mut().filter(|s| services.contains(&s.service)) {
            step.image = ImageStep::Present(step.image.name().to_string());
            step.containers = std::mem::take(&mut step.containers)
                .into_iter()
                .filter_map(|c| match c {
                    ContainerStep::Recreate { old_id, old_name, .. } if running(&old_id) => Some(ContainerStep::Keep {
                        id: old_id,
                        name: old_name,
                    }),
                    ContainerStep::Recreate { old_id, old_name, .. } => Some(ContainerStep::Start {
                        id: old_id,
                        name: old_name,
                    }),
                    ContainerStep::Create { .. } => None,
                    other => Some(other),
                })
                .collect();
        }
    }

    /// True when applying the plan would not make a single create, start, stop or remove call.
    pub fn is_noop(&self) -> bool {
        self.networks.is_empty()
            && self.volumes.is_empty()
            && self.removals.is_empty()
            && self.services.iter().all(|s| {
                s.error.is_none()
                    && matches!(s.image, ImageStep::Present(_))
                    && s.containers.iter().all(|c| matches!(c, ContainerStep::Keep { .. }))
            })
    }
}

/// Compares desired and observed state; exited containers are started again (as `up` does).
pub fn plan(project: &Project, observed: &Observed) -> Plan {
    plan_with(project, observed, true)
}

/// Like [`plan`]; with `start_exited` false, a container that exited is left to supervision
/// (the daemon's resyncs), and only one that was never started is started.
pub fn plan_with(project: &Project, observed: &Observed, start_exited: bool) -> Plan {
    let mut out = Plan {
        project: project.name.clone(),
        networks: Vec::new(),
        volumes: Vec::new(),
        services: Vec::new(),
        removals: Vec::new(),
    };
    for (key, net) in &project.networks {
        if !net.external && !observed.networks.contains_key(&net.name) {
            out.networks.push(Create {
                key: key.clone(),
                name: net.name.clone(),
            });
        }
    }
    for (key, vol) in &project.volumes {
        if !vol.external && !observed.volumes.contains_key(&vol.name) {
            out.volumes.push(Create {
                key: key.clone(),
                name: vol.name.clone(),
            });
        }
    }
    let mut recreated: BTreeSet<String> = BTreeSet::new();
    for name in project.start_order() {
        let service = &project.services[name];
        let step = plan_service(project, service, observed, &recreated, &mut out.removals, start_exited);
        if step
            .containers
            .iter()
            .any(|c| matches!(c, ContainerStep::Recreate { .. } | ContainerStep::Create { .. }))
        {
            recreated.insert(name.to_string());
        }
        out.services.push(step);
    }
    for c in &observed.containers {
        if !project.services.contains_key(&c.service) {
            out.removals.push(Removal {
                id: c.id.clone(),
                name: c.name.clone(),
                reason: format!("service `{}` is no longer in the project", c.service),
                stop_timeout: spec::DEFAULT_STOP_TIMEOUT,
            });
        }
    }
    out
}

fn plan_service(
    project: &Project,
    service: &crate::model::Service,
    observed: &Observed,
    recreated: &BTreeSet<String>,
    removals: &mut Vec<Removal>,
    start_exited: bool,
) -> ServiceStep {
    let image = identity::image_name(project, service);
    let present = observed.images.get(&identity::normalise_image(&image));
    let stale = observed.stale_images.contains(&identity::normalise_image(&image));
    let image_step = match (&service.pull_policy, present, service.build.is_some()) {
        (Some(PullPolicy::Build), _, true) => ImageStep::Build(image.clone()),
        (Some(PullPolicy::Always), _, _) => ImageStep::Pull(image.clone()),
        (Some(PullPolicy::Refresh { .. }), Some(_), _) if stale => ImageStep::Pull(image.clone()),
        (_, Some(_), _) => ImageStep::Present(image.clone()),
        (_, None, true) => ImageStep::Build(image.clone()),
        (Some(PullPolicy::Never), None, false) => ImageStep::Missing(image.clone()),
        (_, None, false) => ImageStep::Pull(image.clone()),
    };
    let after = service
        .depends_on
        .iter()
        .filter(|(dep, _)| project.services.contains_key(*dep))
        .map(|(dep, d)| Wait {
            service: dep.clone(),
            condition: d.condition,
            required: d.required,
        })
        .collect();
    let mut step = ServiceStep {
        service: service.name.clone(),
        after,
        image: image_step,
        containers: Vec::new(),
        error: None,
    };

    // A dependency that was recreated restarts the dependents that asked for it; sharing the
    // network namespace of a recreated container needs a new container.
    let shares_namespace_of = service
        .network_mode
        .as_deref()
        .and_then(|m| m.strip_prefix("service:"))
        .filter(|s| recreated.contains(*s));
    let restart_because = service
        .depends_on
        .iter()
        .find(|(dep, d)| d.restart && recreated.contains(*dep))
        .map(|(dep, _)| format!("dependency `{dep}` is recreated"));

    let replicas = service.replicas() as u32;
    let mine: Vec<&ObservedContainer> = observed
        .containers
        .iter()
        .filter(|c| c.service == service.name)
        .collect();
    for number in 1..=replicas {
        let spec = match spec::container_spec(project, service, number) {
            Ok(s) => s,
            Err(e) => {
                step.error = Some(e.to_string());
                return step;
            }
        };
        let mut candidates: Vec<&ObservedContainer> = mine.iter().copied().filter(|c| c.number == number).collect();
        // Prefer an up-to-date container, then a running one, then the newest.
        candidates.sort_by_key(|c| {
            (
                c.hash.as_deref() != Some(&spec.hash),
                c.state != ContainerState::Running,
                std::cmp::Reverse(c.created),
            )
        });
        let mut candidates = candidates.into_iter();
        let Some(current) = candidates.next() else {
            step.containers.push(ContainerStep::Create { spec: Box::new(spec) });
            continue;
        };
        for extra in candidates {
            removals.push(Removal {
                id: extra.id.clone(),
                name: extra.name.clone(),
                reason: format!("duplicate container for {}-{number}", service.name),
                stop_timeout: spec.stop_timeout,
            });
        }
        let image_changed = present.is_some_and(|id| *id != current.image_id)
            || matches!(step.image, ImageStep::Pull(_) | ImageStep::Build(_)) && present.is_none();
        let config_changed = current.hash.as_deref() != Some(&spec.hash);
        let changes = config_changed
            .then(|| crate::changes::between(current.config.as_deref(), service))
            .flatten();
        let reason = if config_changed {
            Some("its configuration changed".to_string())
        } else if image_changed && present.is_some() {
            Some("its image changed".to_string())
        } else if current.name != spec.name {
            Some("an interrupted run left it under a temporary name".to_string())
        } else {
            shares_namespace_of.map(|s| format!("it shares the network of `{s}`, which is recreated"))
        };
        let (id, name) = (current.id.clone(), current.name.clone());
        step.containers.push(match (reason, current.state) {
            (Some(reason), _) => ContainerStep::Recreate {
                old_id: id,
                old_name: name,
                spec: Box::new(spec),
                reason,
                changes,
            },
            (None, ContainerState::Running) => match &restart_because {
                Some(reason) => ContainerStep::Restart {
                    id,
                    name,
                    reason: reason.clone(),
                },
                None => ContainerStep::Keep { id, name },
            },
            (None, ContainerState::Exited | ContainerState::Dead) if !start_exited => ContainerStep::Keep { id, name },
            (None, _) => ContainerStep::Start { id, name },
        });
    }
    for c in mine.iter().filter(|c| c.number > replicas) {
        removals.push(Removal {
            id: c.id.clone(),
            name: c.name.clone(),
            reason: format!("`{}` is scaled down to {replicas}", service.name),
            stop_timeout: spec::DEFAULT_STOP_TIMEOUT,
        });
    }
    step
}

impl Plan {
    /// The plan for scripts (`composed plan --json`): every action, each recreate with the
    /// fields that changed (secret values hidden).
    pub fn summary(&self) -> serde_json::Value {
        use serde_json::json;
        let services: Vec<serde_json::Value> = self
            .services
            .iter()
            .map(|s| {
                let image = match &s.image {
                    ImageStep::Present(i) => json!({"action": "keep", "image": i}),
                    ImageStep::Pull(i) => json!({"action": "pull", "image": i}),
                    ImageStep::Build(i) => json!({"action": "build", "image": i}),
                    ImageStep::Missing(i) => json!({"action": "missing", "image": i}),
                };
                let containers: Vec<serde_json::Value> = s.containers.iter().map(container_summary).collect();
                json!({"service": s.service, "error": s.error, "image": image, "containers": containers})
            })
            .collect();
        json!({
            "project": self.project,
            "up_to_date": self.is_noop(),
            "networks": self.networks.iter().map(|n| &n.name).collect::<Vec<_>>(),
            "volumes": self.volumes.iter().map(|v| &v.name).collect::<Vec<_>>(),
            "removals": self.removals.iter().map(|r| json!({"container": r.name, "reason": r.reason})).collect::<Vec<_>>(),
            "services": services,
        })
    }
}

fn container_summary(c: &ContainerStep) -> serde_json::Value {
    use serde_json::json;
    match c {
        ContainerStep::Keep { name, .. } => json!({"action": "keep", "container": name}),
        ContainerStep::Start { name, .. } => json!({"action": "start", "container": name}),
        ContainerStep::Create { spec } => json!({"action": "create", "container": spec.name}),
        ContainerStep::Recreate {
            spec, reason, changes, ..
        } => json!({"action": "recreate", "container": spec.name, "reason": reason, "changes": changes}),
        ContainerStep::Restart { name, reason, .. } => {
            json!({"action": "restart", "container": name, "reason": reason})
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_noop() {
            return writeln!(f, "{}: up to date, nothing to do", self.project);
        }
        writeln!(f, "{}:", self.project)?;
        for n in &self.networks {
            writeln!(f, "  create network {}", n.name)?;
        }
        for v in &self.volumes {
            writeln!(f, "  create volume {}", v.name)?;
        }
        for r in &self.removals {
            writeln!(f, "  remove {} ({})", r.name, r.reason)?;
        }
        for s in &self.services {
            let after: Vec<String> = s
                .after
                .iter()
                .map(|w| {
                    let c = match w.condition {
                        Condition::ServiceStarted => "started",
                        Condition::ServiceHealthy => "healthy",
                        Condition::ServiceCompletedSuccessfully => "completed",
                    };
                    format!("{} {c}", w.service)
                })
                .collect();
            let after = if after.is_empty() {
                String::new()
            } else {
                format!(" (after {})", after.join(", "))
            };
            writeln!(f, "  service {}{after}", s.service)?;
            if let Some(e) = &s.error {
                writeln!(f, "    cannot plan: {e}")?;
            }
            match &s.image {
                ImageStep::Present(_) => {}
                ImageStep::Pull(i) => writeln!(f, "    pull {i}")?,
                ImageStep::Build(i) => writeln!(f, "    build {i}")?,
                ImageStep::Missing(i) => writeln!(f, "    image {i} is missing and pull_policy is never")?,
            }
            for c in &s.containers {
                match c {
                    ContainerStep::Keep { name, .. } => writeln!(f, "    keep {name}")?,
                    ContainerStep::Start { name, .. } => writeln!(f, "    start {name}")?,
                    ContainerStep::Create { spec } => writeln!(f, "    create {}", spec.name)?,
                    ContainerStep::Recreate {
                        spec, reason, changes, ..
                    } => {
                        writeln!(f, "    recreate {} ({reason})", spec.name)?;
                        for change in changes.iter().flatten() {
                            writeln!(f, "      {change}")?;
                        }
                    }
                    ContainerStep::Restart { name, reason, .. } => writeln!(f, "    restart {name} ({reason})")?,
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
