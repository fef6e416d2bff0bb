//! Supervision: what to do about each engine event for a project's containers. A death is
//! restarted with backoff per the service's restart rule, an unhealthy container is stopped and
//! started again, deaths composed or an operator caused are expected and left alone, and held
//! services stay down. The decisions are returned as [`Action`]s for the daemon to carry out.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::project::ProjectRuntime;
use crate::engine::events::{ContainerEvent, EventKind};
use crate::load::units::format_duration;
use crate::model::Service;
use crate::state::{ExitReason, ServiceState};
use crate::supervise::backoff::Backoff;
use crate::supervise::policy::{Decision, RestartRule};

/// A container composed follows.
#[derive(Debug, Clone)]
pub struct Tracked {
    pub id: String,
    pub name: String,
    /// When it last started (for the backoff's reset rule); `None` while it is not running.
    pub started: Option<Instant>,
}

/// One service's supervision state.
#[derive(Debug, Clone)]
pub struct ServiceRuntime {
    pub rule: RestartRule,
    pub backoff: Backoff,
    pub state: ServiceState,
    pub restarts: u32,
    pub last_exit: Option<i64>,
    pub last_exit_reason: Option<ExitReason>,
    /// Why composed is about to stop it (read at its next death).
    pub next_exit_reason: Option<ExitReason>,
    /// The engine reported it out of memory; its next death is from that.
    pub oom: bool,
    pub has_healthcheck: bool,
    pub containers: BTreeMap<u32, Tracked>,
}

/// A container to start again: after `delay`, and first stopped (within `stop_timeout` seconds)
/// when it is still running (an unhealthy one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartAction {
    pub service: String,
    pub number: u32,
    pub id: String,
    pub name: String,
    pub delay: Duration,
    pub stop_timeout: Option<i64>,
}

/// What the daemon must do after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Restart(RestartAction),
    /// A container of the project disappeared: reconcile.
    Resync,
}

/// A container to stop and start again because a dependency restarted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependent {
    pub id: String,
    pub name: String,
    pub stop_timeout: i64,
    pub post_start: Vec<crate::model::Hook>,
}

impl ServiceRuntime {
    pub fn new(service: &Service) -> ServiceRuntime {
        let mut rt = ServiceRuntime {
            rule: RestartRule::of(service),
            backoff: Backoff::default(),
            state: ServiceState::Starting,
            restarts: 0,
            last_exit: None,
            last_exit_reason: None,
            next_exit_reason: None,
            oom: false,
            has_healthcheck: false,
            containers: BTreeMap::new(),
        };
        rt.configure(service);
        rt
    }

    /// Takes a (new) configuration's restart rule and healthcheck; counters are kept.
    pub fn configure(&mut self, service: &Service) {
        self.rule = RestartRule::of(service);
        if let Some(delay) = self.rule.initial_delay {
            self.backoff = Backoff::new(delay, self.backoff.max.max(delay), self.backoff.reset_after);
        }
        self.has_healthcheck = service.has_healthcheck();
    }

    pub fn ready(&self) -> bool {
        self.state.is_ready(self.has_healthcheck)
    }

    /// Counts a restart and returns its delay; the service shows as restarting meanwhile.
    fn schedule_restart(&mut self) -> Duration {
        let delay = self.backoff.next().unwrap_or_default();
        self.restarts += 1;
        self.state = ServiceState::Restarting {
            attempt: self.backoff.attempts(),
            delay,
        };
        delay
    }
}

impl ProjectRuntime {
    /// Supervision: what to do about one engine event for this project.
    pub fn on_event(&mut self, event: &ContainerEvent, now: Instant) -> Vec<Action> {
        let known = self
            .services
            .get(&event.service)
            .and_then(|rt| rt.containers.get(&event.number))
            .is_some_and(|t| t.id == event.id);
        if !known {
            return Vec::new();
        }
        match &event.kind {
            EventKind::Start => {
                let rt = self.service_mut(event);
                if let Some(t) = rt.containers.get_mut(&event.number) {
                    t.started = Some(now);
                }
                rt.state = ServiceState::started(rt.has_healthcheck);
                Vec::new()
            }
            EventKind::Healthy => {
                self.service_mut(event).state = ServiceState::Healthy;
                Vec::new()
            }
            EventKind::Die { exit_code } => self.on_death(event, *exit_code, now),
            EventKind::Unhealthy => self.on_unhealthy(event),
            EventKind::Destroy => vec![Action::Resync],
            EventKind::Oom => {
                self.service_mut(event).oom = true;
                tracing::warn!(project = %event.project, service = %event.service, "{}/{}: container {} ran out of memory", event.project, event.service, event.name);
                Vec::new()
            }
            EventKind::Other(_) => Vec::new(),
        }
    }

    fn service_mut(&mut self, event: &ContainerEvent) -> &mut ServiceRuntime {
        self.services
            .get_mut(&event.service)
            .expect("the event's service was checked to be known")
    }

    fn on_death(&mut self, event: &ContainerEvent, exit_code: i64, now: Instant) -> Vec<Action> {
        let held = self.holds.holds(&event.service);
        let expected = match self.expected_dies.get_mut(&event.id) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        };
        let rt = self.service_mut(event);
        rt.last_exit = Some(exit_code);
        rt.last_exit_reason = Some(match (rt.next_exit_reason.take(), std::mem::take(&mut rt.oom)) {
            (_, true) => ExitReason::OutOfMemory,
            (Some(why), false) => why,
            (None, false) => ExitReason::Code(exit_code),
        });
        if expected {
            return Vec::new();
        }
        if held {
            rt.state = ServiceState::Stopped;
            return Vec::new();
        }
        if let Some(started) = rt.containers.get_mut(&event.number).and_then(|t| t.started.take()) {
            rt.backoff.observe_run(now.saturating_duration_since(started));
        }
        let (project, service, container) = (&event.project, &event.service, &event.name);
        match rt.rule.on_exit(exit_code, rt.backoff.attempts()) {
            Decision::Restart => {
                let delay = rt.schedule_restart();
                tracing::warn!(project = %project, service = %service, exit_code, "{project}/{service}: container {container} exited with code {exit_code}; restarting in {} (attempt {})", format_duration(delay), rt.backoff.attempts());
                vec![restart(event, delay, None)]
            }
            Decision::Leave => {
                rt.state = ServiceState::Exited(exit_code);
                tracing::info!(project = %project, service = %service, "{project}/{service}: container {container} exited with code {exit_code}; its restart policy leaves it");
                Vec::new()
            }
            Decision::GiveUp(reason) => {
                tracing::error!(project = %project, service = %service, "{project}/{service}: {reason}; giving up");
                rt.state = ServiceState::Failed(reason);
                Vec::new()
            }
        }
    }

    fn on_unhealthy(&mut self, event: &ContainerEvent) -> Vec<Action> {
        if self.holds.holds(&event.service) {
            return Vec::new();
        }
        let stop_timeout = self.stop_timeout(&event.service);
        let rt = self.service_mut(event);
        match rt.rule.on_unhealthy(rt.backoff.attempts()) {
            Decision::Restart => {
                let delay = rt.schedule_restart();
                rt.next_exit_reason = Some(ExitReason::Unhealthy);
                let attempt = rt.backoff.attempts();
                *self.expected_dies.entry(event.id.clone()).or_default() += 1;
                tracing::warn!(project = %event.project, service = %event.service, "{}/{}: container {} is unhealthy; restarting it (attempt {attempt})", event.project, event.service, event.name);
                vec![restart(event, delay, Some(stop_timeout))]
            }
            Decision::Leave => {
                rt.state = ServiceState::Unhealthy;
                Vec::new()
            }
            Decision::GiveUp(reason) => {
                rt.state = ServiceState::Failed(reason);
                Vec::new()
            }
        }
    }

    fn stop_timeout(&self, service: &str) -> i64 {
        self.project
            .as_ref()
            .and_then(|p| p.services.get(service))
            .map_or(crate::model::DEFAULT_STOP_TIMEOUT, Service::stop_timeout)
    }

    /// An operator's restart: the running containers of one service, or of all, that composed is
    /// about to stop. Their deaths are expected (supervision stays out) and explained.
    pub fn expect_operator_stop(&mut self, service: Option<&str>) {
        for (name, rt) in self.services.iter_mut() {
            if service.is_some_and(|only| only != name) {
                continue;
            }
            rt.next_exit_reason = Some(ExitReason::RestartedByOperator);
            for t in rt.containers.values().filter(|t| t.started.is_some()) {
                *self.expected_dies.entry(t.id.clone()).or_default() += 1;
            }
        }
    }

    /// An operator's stop: the deaths to come are explained.
    pub fn expect_operator_hold(&mut self, service: Option<&str>) {
        for (name, rt) in self.services.iter_mut() {
            if service.is_none_or(|only| only == name) {
                rt.next_exit_reason = Some(ExitReason::StoppedByOperator);
            }
        }
    }

    /// Services that declared `restart: true` on `service`, with their containers, whose deaths
    /// to come are expected.
    pub fn restart_dependents(&mut self, service: &str) -> Vec<Dependent> {
        let Some(project) = &self.project else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, s) in &project.services {
            if !s.depends_on.get(service).is_some_and(|d| d.restart) {
                continue;
            }
            let Some(rt) = self.services.get_mut(name) else {
                continue;
            };
            rt.next_exit_reason = Some(ExitReason::DependencyRestarted(service.to_string()));
            out.extend(rt.containers.values().map(|t| Dependent {
                id: t.id.clone(),
                name: t.name.clone(),
                stop_timeout: s.stop_timeout(),
                post_start: s.post_start.clone(),
            }));
        }
        for d in &out {
            *self.expected_dies.entry(d.id.clone()).or_default() += 1;
        }
        out
    }
}

fn restart(event: &ContainerEvent, delay: Duration, stop_timeout: Option<i64>) -> Action {
    Action::Restart(RestartAction {
        service: event.service.clone(),
        number: event.number,
        id: event.id.clone(),
        name: event.name.clone(),
        delay,
        stop_timeout,
    })
}

#[cfg(test)]
mod tests;
