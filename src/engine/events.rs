//! The engine's event stream for one project's containers.

use std::collections::HashMap;

use bollard::models::EventMessage;
use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::{Stream, StreamExt};

use super::{Engine, EngineError};
use crate::identity;

/// One container event, reduced to what composed acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEvent {
    pub id: String,
    pub name: String,
    pub project: String,
    pub service: String,
    pub number: u32,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    Start,
    Die { exit_code: i64 },
    Healthy,
    Unhealthy,
    Oom,
    Destroy,
    Other(String),
}

impl Engine {
    /// Container events of `project` from `since` (seconds since the epoch) on. Starting from a
    /// time before the first action makes the subscription race-free: events that happen before
    /// the stream connects are replayed by the engine.
    pub fn container_events(
        &self,
        project: &str,
        since: i64,
    ) -> impl Stream<Item = Result<ContainerEvent, EngineError>> + use<> {
        self.labelled_events(&format!("{}={project}", identity::PROJECT), since)
    }

    /// Container events of every container carrying `label` (`KEY` or `KEY=VALUE`).
    pub fn labelled_events(
        &self,
        label: &str,
        since: i64,
    ) -> impl Stream<Item = Result<ContainerEvent, EngineError>> + use<> {
        // Only the events composed acts on: healthcheck runs alone would add three `exec_*`
        // events per container and interval.
        let actions = ["start", "die", "health_status", "oom", "destroy"];
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            ("label".to_string(), vec![label.to_string()]),
            ("event".to_string(), actions.iter().map(|a| a.to_string()).collect()),
        ]);
        let options = EventsOptionsBuilder::default()
            .since(&since.to_string())
            .filters(&filters)
            .build();
        let engine = self.clone();
        self.docker.events(Some(options)).filter_map(move |item| {
            let result = match item {
                Ok(message) => parse(message).map(Ok),
                Err(e) => Some(Err(engine.error("reading engine events", e))),
            };
            async move { result }
        })
    }
}

fn parse(message: EventMessage) -> Option<ContainerEvent> {
    let actor = message.actor?;
    let attributes = actor.attributes.unwrap_or_default();
    let action = message.action.unwrap_or_default();
    let kind = match action.as_str() {
        "start" => EventKind::Start,
        "die" => EventKind::Die {
            exit_code: attributes.get("exitCode").and_then(|c| c.parse().ok()).unwrap_or(-1),
        },
        "oom" => EventKind::Oom,
        "destroy" => EventKind::Destroy,
        a if a.starts_with("health_status") && a.ends_with("unhealthy") => EventKind::Unhealthy,
        a if a.starts_with("health_status") && a.ends_with("healthy") => EventKind::Healthy,
        a => EventKind::Other(a.to_string()),
    };
    Some(ContainerEvent {
        id: actor.id?,
        project: attributes.get(identity::PROJECT)?.clone(),
        name: attributes.get("name").cloned().unwrap_or_default(),
        service: attributes.get(identity::SERVICE)?.clone(),
        number: attributes
            .get(identity::NUMBER)
            .and_then(|n| n.parse().ok())
            .unwrap_or(1),
        kind,
    })
}
