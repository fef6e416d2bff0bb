//! Supervision's bookkeeping on made-up events: backoff delays, restart counts, expected deaths,
//! holds, unhealthy restarts.

use std::time::{Duration, Instant};

use super::*;
use crate::daemon::holds::Holds;
use crate::daemon::sources::Source;

const YAML: &str = "name: p
services:
  web:
    image: busybox
    restart: always
  job:
    image: busybox
    restart: 'no'
  db:
    image: busybox
    restart: always
    healthcheck: {test: [CMD, 'true']}
";

fn runtime() -> ProjectRuntime {
    let source = Source {
        name: "p".into(),
        options: Default::default(),
        watch: Vec::new(),
    };
    let mut rt = ProjectRuntime::new(source, Holds::default());
    rt.adopt_for_test(crate::load::test_project(YAML));
    for (service, id) in [("web", "w1"), ("job", "j1"), ("db", "d1")] {
        let tracked = Tracked {
            id: id.into(),
            name: format!("p-{service}-1"),
            started: None,
        };
        rt.services.get_mut(service).unwrap().containers.insert(1, tracked);
    }
    rt
}

fn event(service: &str, id: &str, kind: EventKind) -> ContainerEvent {
    ContainerEvent {
        id: id.into(),
        name: format!("p-{service}-1"),
        project: "p".into(),
        service: service.into(),
        number: 1,
        kind,
    }
}

fn die(service: &str, id: &str, code: i64) -> ContainerEvent {
    event(service, id, EventKind::Die { exit_code: code })
}

fn delays(actions: &[Action]) -> Vec<Duration> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Restart(r) => Some(r.delay),
            Action::Resync => None,
        })
        .collect()
}

#[test]
fn a_crash_loop_restarts_at_once_then_backs_off_and_counts() {
    let mut rt = runtime();
    let now = Instant::now();
    let mut seen = Vec::new();
    for _ in 0..4 {
        rt.on_event(&event("web", "w1", EventKind::Start), now);
        seen.extend(delays(&rt.on_event(&die("web", "w1", 1), now)));
    }
    assert_eq!(
        seen,
        [0, 100, 200, 400].map(Duration::from_millis),
        "the first restart at once, then 100 ms doubling"
    );
    let web = &rt.services["web"];
    assert_eq!(web.restarts, 4);
    assert_eq!(web.last_exit, Some(1));
    assert_eq!(web.last_exit_reason, Some(ExitReason::Code(1)));
    assert!(matches!(web.state, ServiceState::Restarting { attempt: 4, .. }));
}

#[test]
fn a_long_run_resets_the_backoff() {
    let mut rt = runtime();
    let start = Instant::now();
    for _ in 0..3 {
        rt.on_event(&event("web", "w1", EventKind::Start), start);
        rt.on_event(&die("web", "w1", 1), start);
    }
    rt.on_event(&event("web", "w1", EventKind::Start), start);
    let later = start + Duration::from_secs(600);
    assert_eq!(delays(&rt.on_event(&die("web", "w1", 1), later)), [Duration::ZERO]);
}

#[test]
fn the_restart_policy_decides() {
    let mut rt = runtime();
    let now = Instant::now();
    rt.on_event(&event("job", "j1", EventKind::Start), now);
    assert!(rt.on_event(&die("job", "j1", 3), now).is_empty());
    assert_eq!(rt.services["job"].state, ServiceState::Exited(3));
    assert_eq!(rt.services["job"].restarts, 0);
}

#[test]
fn deaths_composed_or_an_operator_caused_are_not_restarted() {
    let mut rt = runtime();
    let now = Instant::now();
    rt.on_event(&event("web", "w1", EventKind::Start), now);
    rt.expect_operator_stop(Some("web"));
    assert!(rt.on_event(&die("web", "w1", 143), now).is_empty());
    assert_eq!(rt.services["web"].restarts, 0, "an operator's restart is not counted");
    assert_eq!(
        rt.services["web"].last_exit_reason,
        Some(ExitReason::RestartedByOperator)
    );
    // The next death is a crash again.
    rt.on_event(&event("web", "w1", EventKind::Start), now);
    assert_eq!(delays(&rt.on_event(&die("web", "w1", 1), now)).len(), 1);
}

#[test]
fn a_held_service_stays_down() {
    let mut rt = runtime();
    let now = Instant::now();
    rt.holds.services.insert("web".into());
    rt.on_event(&event("web", "w1", EventKind::Start), now);
    assert!(rt.on_event(&die("web", "w1", 137), now).is_empty());
    assert_eq!(rt.services["web"].state, ServiceState::Stopped);
}

#[test]
fn an_unhealthy_container_is_stopped_and_restarted_and_its_death_expected() {
    let mut rt = runtime();
    let now = Instant::now();
    rt.on_event(&event("db", "d1", EventKind::Start), now);
    let actions = rt.on_event(&event("db", "d1", EventKind::Unhealthy), now);
    let [Action::Restart(r)] = actions.as_slice() else {
        panic!("{actions:?}");
    };
    assert_eq!(r.stop_timeout, Some(10), "stopped first, with its grace period");
    assert!(
        rt.on_event(&die("db", "d1", 143), now).is_empty(),
        "that stop is no crash"
    );
    assert_eq!(rt.services["db"].last_exit_reason, Some(ExitReason::Unhealthy));
    assert_eq!(rt.services["db"].restarts, 1);
}

#[test]
fn events_of_unknown_containers_are_ignored() {
    let mut rt = runtime();
    assert!(rt.on_event(&die("web", "other", 1), Instant::now()).is_empty());
    assert_eq!(rt.services["web"].restarts, 0);
}
