//! The engine's event stream, reduced to the container events composed acts on.

use std::collections::HashMap;

use bollard::models::EventMessage;
use bollard::query_parameters::EventsOptionsBuilder;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::{DockerEngine, EngineError, EventScope};
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

impl DockerEngine {
    /// The events composed acts on, for the containers of `scope`. Healthcheck runs alone would
    /// add three `exec_*` events per container and interval, so only these are asked for.
    pub(super) fn event_stream(
        &self,
        scope: EventScope,
        since: &str,
    ) -> BoxStream<'static, Result<ContainerEvent, EngineError>> {
        let label = match scope {
            EventScope::Project(project) => format!("{}={project}", identity::PROJECT),
            EventScope::Managed => format!("{}=composed", identity::MANAGED_BY),
        };
        let actions = ["start", "die", "health_status", "oom", "destroy"];
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            ("label".to_string(), vec![label]),
            ("event".to_string(), actions.iter().map(|a| a.to_string()).collect()),
        ]);
        let options = EventsOptionsBuilder::default().since(since).filters(&filters).build();
        let engine = self.clone();
        self.docker
            .events(Some(options))
            .filter_map(move |item| {
                let result = match item {
                    Ok(message) => parse(message).map(Ok),
                    Err(e) => Some(Err(engine.error("reading engine events", e))),
                };
                async move { result }
            })
            .boxed()
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
