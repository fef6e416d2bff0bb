//! What an apply knows about each service while it runs: its containers as the engine's event
//! stream reports them, and whether it failed. Shared by the service tasks and the event task;
//! every change bumps a watch, so waits are woken by events, never by polling. It also says
//! whether a listing of the containers taken during the wait for readiness may be out of date.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

use crate::engine::events::{ContainerEvent, EventKind};
use crate::observed::{ContainerState, Health, Observed};
use crate::state::{Reason, ServiceState};

#[derive(Debug, Clone, Default)]
struct ContainerTrack {
    id: String,
    running: bool,
    health: Option<Health>,
    exited: Option<i64>,
    /// This apply started it (see [`Tracker::track`]).
    ours: bool,
}

#[derive(Debug, Clone, Default)]
struct ServiceTrack {
    has_healthcheck: bool,
    containers: HashMap<u32, ContainerTrack>,
    failed: Option<Reason>,
    started: bool,
}

impl ServiceTrack {
    fn state(&self) -> ServiceState {
        if let Some(reason) = &self.failed {
            return ServiceState::Failed(reason.public.clone());
        }
        if !self.started {
            return ServiceState::Pending;
        }
        let cs: Vec<&ContainerTrack> = self.containers.values().collect();
        if !cs.is_empty() && cs.iter().all(|c| c.exited.is_some() && !c.running) {
            return ServiceState::Exited(cs.iter().filter_map(|c| c.exited).max().unwrap_or(0));
        }
        if cs.iter().any(|c| c.health == Some(Health::Unhealthy)) {
            return ServiceState::Unhealthy;
        }
        if self.has_healthcheck && !cs.is_empty() && cs.iter().all(|c| c.health == Some(Health::Healthy)) {
            return ServiceState::Healthy;
        }
        ServiceState::started(self.has_healthcheck)
    }
}

pub struct Tracker {
    services: Mutex<HashMap<String, ServiceTrack>>,
    changed: watch::Sender<u64>,
    /// Whether an event since [`Tracker::listing_begins`] may be missing from the listing (true
    /// until it begins).
    listing_stale: AtomicBool,
}

impl Tracker {
    /// Starts from what the engine had: the containers an apply keeps are already known.
    pub fn new(services: impl Iterator<Item = (String, bool)>, observed: &Observed) -> Tracker {
        let (changed, _) = watch::channel(0u64);
        let mut map: HashMap<String, ServiceTrack> = services
            .map(|(name, has_healthcheck)| {
                let track = ServiceTrack {
                    has_healthcheck,
                    ..ServiceTrack::default()
                };
                (name, track)
            })
            .collect();
        for c in &observed.containers {
            let container = ContainerTrack {
                id: c.id.clone(),
                running: c.state == ContainerState::Running,
                health: c.health,
                exited: None,
                ours: false,
            };
            map.entry(c.service.clone())
                .or_default()
                .containers
                .insert(c.number, container);
        }
        Tracker {
            services: Mutex::new(map),
            changed,
            listing_stale: AtomicBool::new(true),
        }
    }

    fn update(&self, service: &str, f: impl FnOnce(&mut ServiceTrack)) {
        if let Ok(mut map) = self.services.lock() {
            f(map.entry(service.to_string()).or_default());
        }
        self.changed.send_modify(|v| *v += 1);
    }

    /// Where a service stands now.
    pub fn state(&self, service: &str) -> ServiceState {
        self.services
            .lock()
            .ok()
            .and_then(|m| m.get(service).map(ServiceTrack::state))
            .unwrap_or(ServiceState::Pending)
    }

    pub fn has_healthcheck(&self, service: &str) -> bool {
        self.services
            .lock()
            .ok()
            .and_then(|m| m.get(service).map(|s| s.has_healthcheck))
            .unwrap_or(false)
    }

    pub fn fail(&self, service: &str, reason: Reason) {
        self.update(service, |s| s.failed = Some(reason));
    }

    /// Why a service failed, in full (for the journal), if it did.
    pub fn failure(&self, service: &str) -> Option<Reason> {
        self.services.lock().ok()?.get(service)?.failed.clone()
    }

    pub fn started(&self, service: &str) {
        self.update(service, |s| s.started = true);
    }

    /// A container this apply is about to start: its events count from now on.
    pub fn track(&self, service: &str, number: u32, id: &str) {
        self.update(service, |s| {
            let container = ContainerTrack {
                id: id.to_string(),
                ours: true,
                ..ContainerTrack::default()
            };
            s.containers.insert(number, container);
        });
    }

    /// The replica number of a known container (1 when unknown).
    pub fn number_of(&self, service: &str, id: &str) -> u32 {
        self.services
            .lock()
            .ok()
            .and_then(|m| {
                m.get(service)
                    .and_then(|s| s.containers.iter().find(|(_, c)| c.id == id).map(|(n, _)| *n))
            })
            .unwrap_or(1)
    }

    /// A listing of the project's containers is about to be taken, while the apply waits for
    /// readiness. Every container the apply leaves exists and was started by now, so the listing
    /// shows them running; the start or healthcheck of one of them that arrives later changes
    /// nothing it is used for (the report carries their services' states). Any other event from
    /// now on (a death, a removal, anything of a container this apply did not start) may be
    /// missing from it and makes it stale.
    pub fn listing_begins(&self) {
        self.listing_stale.store(false, Ordering::SeqCst);
    }

    /// Whether an event since [`Tracker::listing_begins`] may be missing from the listing.
    pub fn listing_stale(&self) -> bool {
        self.listing_stale.load(Ordering::SeqCst)
    }

    /// An engine event about one of the project's containers.
    pub fn on_event(&self, event: &ContainerEvent) {
        self.update(&event.service, |s| {
            let c = s.containers.get_mut(&event.number).filter(|c| c.id == event.id);
            let ours = c.as_ref().is_some_and(|c| c.ours);
            if !(ours && matches!(event.kind, EventKind::Start | EventKind::Healthy)) {
                self.listing_stale.store(true, Ordering::SeqCst);
            }
            let Some(c) = c else {
                return;
            };
            match event.kind {
                EventKind::Start => {
                    c.running = true;
                    c.exited = None;
                }
                EventKind::Die { exit_code } => {
                    c.running = false;
                    c.exited = Some(exit_code);
                }
                EventKind::Healthy => c.health = Some(Health::Healthy),
                EventKind::Unhealthy => c.health = Some(Health::Unhealthy),
                _ => {}
            }
        });
    }

    /// One container as the events report it: (running, health, exit code once it exited).
    pub fn container(&self, service: &str, number: u32) -> Option<(bool, Option<Health>, Option<i64>)> {
        let map = self.services.lock().ok()?;
        let c = map.get(service)?.containers.get(&number)?;
        Some((c.running, c.health, c.exited))
    }

    /// A receiver woken at every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}
