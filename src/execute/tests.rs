//! The executor's rules against the recording fake engine, on paused time: dependency order,
//! failure propagation, and the park/restore of a recreate.

use std::time::Duration;

use super::*;
use crate::engine::fake::FakeEngine;
use crate::observed::ContainerState;

fn project(yaml: &str) -> Project {
    crate::load::test_project(yaml)
}

fn quiet(_: &str, _: &str) {}

/// Plans against what the fake has and applies, waiting for readiness.
async fn up(engine: &FakeEngine, p: &Project) -> Report {
    apply_with(engine, p, false).await
}

/// [`up`] as the daemon applies: a recreate proves itself and is undone when it fails.
async fn hot_reload(engine: &FakeEngine, p: &Project) -> Report {
    apply_with(engine, p, true).await
}

async fn apply_with(engine: &FakeEngine, p: &Project, rollback: bool) -> Report {
    let observed = engine.observe(&p.name).await.unwrap();
    let plan = crate::plan::plan(p, &observed);
    let options = Options { wait: true, rollback };
    applied(apply(engine, p, &observed, plan, options, &quiet).await)
}

/// The report of an apply that listed the containers afterwards.
fn applied(result: Result<Reconciled, EngineError>) -> Report {
    result.expect("the containers listed").report.expect("a report")
}

/// The engine calls of an apply up to its closing listing of the containers.
fn calls_before_the_listing(engine: &FakeEngine) -> Vec<String> {
    let mut calls = engine.take_calls();
    assert_eq!(calls.pop().as_deref(), Some("observe containers p"), "{calls:?}");
    calls
}

fn position(calls: &[String], call: &str) -> usize {
    calls
        .iter()
        .position(|c| c == call)
        .unwrap_or_else(|| panic!("no `{call}` in {calls:?}"))
}

const CHAIN: &str = "name: p
services:
  db:
    image: busybox
    healthcheck: {test: [CMD, 'true']}
  app:
    image: busybox
    depends_on: {db: {condition: service_healthy}}
  web:
    image: busybox
    depends_on: [app]
  lone:
    image: busybox
";

#[tokio::test(start_paused = true)]
async fn dependents_start_after_their_dependencies_are_healthy() {
    let engine = FakeEngine::new();
    engine.add_image("busybox");
    engine.healthy_after("db", Duration::from_secs(5));
    let p = project(CHAIN);
    let started = tokio::time::Instant::now();
    let report = up(&engine, &p).await;
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.services["db"], ServiceState::Healthy);
    assert_eq!(report.services["web"], ServiceState::Running);
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "app must wait for db's health"
    );
    let calls = engine.take_calls();
    assert!(position(&calls, "start p-db-1") < position(&calls, "create p-app-1"));
    assert!(position(&calls, "start p-app-1") < position(&calls, "create p-web-1"));
    // An independent service does not wait for the chain.
    assert!(position(&calls, "start p-lone-1") < position(&calls, "create p-app-1"));
}

#[tokio::test(start_paused = true)]
async fn a_failed_service_fails_its_dependents_and_nothing_else() {
    let engine = FakeEngine::new();
    engine.add_image("busybox");
    engine.healthy_after("db", Duration::from_secs(1));
    engine.fail("create p-db-1", "port is already allocated");
    let p = project(CHAIN);
    let report = up(&engine, &p).await;
    assert!(!report.ok());
    // The state says what failed in composed's words; the engine's message is the detail.
    assert_eq!(
        report.services["db"],
        ServiceState::Failed("its container could not be created or started".into())
    );
    assert!(report.failures["db"].detail.contains("port is already allocated"));
    let ServiceState::Failed(app) = &report.services["app"] else {
        panic!("{:?}", report.services["app"]);
    };
    assert!(app.contains("dependency `db` failed"), "{app}");
    assert!(matches!(report.services["web"], ServiceState::Failed(_)));
    assert_eq!(report.services["lone"], ServiceState::Running);
    let calls = engine.take_calls();
    assert!(
        !calls.iter().any(|c| c == "create p-app-1" || c == "create p-web-1"),
        "{calls:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_unhealthy_dependency_is_not_waited_for_forever() {
    let engine = FakeEngine::new();
    engine.add_image("busybox");
    // db never becomes healthy but exits: app's `service_healthy` can no longer hold.
    engine.exits_after("db", Duration::from_secs(3), 1);
    let report = up(&engine, &project(CHAIN)).await;
    let ServiceState::Failed(app) = &report.services["app"] else {
        panic!("{:?}", report.services["app"]);
    };
    assert!(app.contains("exited with code 1"), "{app}");
}

const WEB: &str = "name: p\nservices:\n  web:\n    image: busybox\n    environment: {V: '1'}\n";

#[tokio::test(start_paused = true)]
async fn a_recreate_parks_the_old_container_and_restores_it_when_the_create_fails() {
    let engine = FakeEngine::new();
    engine.add_image("busybox");
    assert!(up(&engine, &project(WEB)).await.ok());
    let old = engine.containers()["p-web-1"].id.clone();
    engine.take_calls();

    let edited = project(&WEB.replace("'1'", "'2'"));
    engine.fail("create p-web-1", "invalid mount config");
    let report = up(&engine, &edited).await;
    assert!(matches!(report.services["web"], ServiceState::Failed(_)));
    let parked = parked_name(&old, "p-web-1");
    assert_eq!(
        calls_before_the_listing(&engine)[1..],
        [
            format!("rename p-web-1 {parked}"),
            "create p-web-1".to_string(),
            "observe p".to_string(),
            format!("rename {parked} p-web-1"),
        ]
    );
    let containers = engine.containers();
    assert_eq!(
        containers["p-web-1"].id, old,
        "the old container is back under its name"
    );
    assert!(containers["p-web-1"].running, "and still serving");
}

#[tokio::test(start_paused = true)]
async fn a_recreate_replaces_the_old_container_only_once_the_new_one_exists() {
    let engine = FakeEngine::new();
    engine.add_image("busybox");
    assert!(up(&engine, &project(WEB)).await.ok());
    let old = engine.containers()["p-web-1"].id.clone();
    engine.take_calls();
    let report = up(&engine, &project(&WEB.replace("'1'", "'2'"))).await;
    assert!(report.ok(), "{report:?}");
    let parked = parked_name(&old, "p-web-1");
    assert_eq!(
        calls_before_the_listing(&engine)[1..],
        [
            format!("rename p-web-1 {parked}"),
            "create p-web-1".to_string(),
            format!("stop {parked}"),
            format!("remove {parked}"),
            "start p-web-1".to_string(),
        ]
    );
    assert_ne!(engine.containers()["p-web-1"].id, old);
}

#[tokio::test(start_paused = true)]
async fn a_name_taken_by_an_interrupted_runs_late_create_is_taken_over_with_its_volumes() {
    let engine = FakeEngine::new();
    engine.image_with_volumes("busybox", &["/data"]);
    let p = project(WEB);
    let observed = engine.observe("p").await.unwrap();
    let plan = crate::plan::plan(&p, &observed);
    // The killed run's create reaches the engine after this run listed the project.
    let late = crate::spec::container_spec(&p, &p.services["web"], 1).unwrap();
    let leftover = engine.create_container(&late).await.unwrap();
    let volume = engine.containers()["p-web-1"].mounts[0].name.clone();
    engine.take_calls();

    let options = Options {
        wait: true,
        rollback: false,
    };
    let report = applied(apply(&engine, &p, &observed, plan, options, &quiet).await);
    assert!(report.ok(), "{report:?}");
    let calls = engine.take_calls();
    assert!(
        position(&calls, "stop p-web-1") < position(&calls, "remove p-web-1"),
        "{calls:?}"
    );
    let web = &engine.containers()["p-web-1"];
    assert_ne!(web.id, leftover, "the leftover is replaced");
    assert_eq!(engine.containers().len(), 1, "and nothing else is left");
    assert_eq!(web.mounts[0].name, volume, "its anonymous volume is carried over");
}

#[tokio::test(start_paused = true)]
async fn down_stops_dependents_first_and_keeps_volumes() {
    let engine = FakeEngine::new();
    engine.add_image("busybox");
    engine.healthy_after("db", Duration::from_millis(10));
    let p = project(&format!("{CHAIN}volumes:\n  data: {{}}\n"));
    assert!(up(&engine, &p).await.ok());
    engine.take_calls();
    let observed = engine.observe("p").await.unwrap();
    let report = down(&engine, &p, &observed, false, &quiet).await;
    assert!(report.errors.is_empty(), "{report:?}");
    let calls = engine.take_calls();
    assert!(position(&calls, "remove p-web-1") < position(&calls, "stop p-app-1"));
    assert!(position(&calls, "remove p-app-1") < position(&calls, "stop p-db-1"));
    assert!(!calls.iter().any(|c| c.starts_with("remove volume")), "{calls:?}");
}

#[tokio::test(start_paused = true)]
async fn a_recreate_keeps_the_anonymous_volumes_image_volumes_included() {
    let engine = FakeEngine::new();
    engine.image_with_volumes("postgres", &["/var/lib/postgresql/data"]);
    let yaml = "name: p\nservices:\n  db:\n    image: postgres\n    environment: {V: '1'}\n    volumes: [/anon]\n";
    assert!(up(&engine, &project(yaml)).await.ok());
    let before = engine.containers()["p-db-1"].mounts.clone();
    assert_eq!(before.len(), 2, "{before:?}");
    let report = up(&engine, &project(&yaml.replace("'1'", "'2'"))).await;
    assert!(report.ok(), "{report:?}");
    let after = engine.containers()["p-db-1"].mounts.clone();
    let names = |m: &[crate::engine::VolumeMount]| {
        let mut v: Vec<(String, String)> = m.iter().map(|m| (m.target.clone(), m.name.clone())).collect();
        v.sort();
        v
    };
    assert_eq!(names(&after), names(&before), "the same volumes at the same paths");
}

/// A running `web` (the first configuration) and the same service edited.
async fn running_web(engine: &FakeEngine) -> (Project, String) {
    engine.add_image("busybox");
    assert!(up(engine, &project(WEB)).await.ok());
    let old = engine.containers()["p-web-1"].id.clone();
    engine.take_calls();
    (project(&WEB.replace("'1'", "'2'")), old)
}

/// The old container runs under its own name and nothing else is left.
fn assert_rolled_back(engine: &FakeEngine, report: &Report, old: &str, why: &str) {
    let reason = report
        .rolled_back
        .get("web")
        .unwrap_or_else(|| panic!("{report:?}"))
        .full();
    assert!(reason.contains(why), "{reason}");
    assert_eq!(report.services["web"], ServiceState::Running, "running, not failed");
    let containers = engine.containers();
    assert_eq!(containers.len(), 1, "{containers:?}");
    assert_eq!(containers["p-web-1"].id, old);
    assert!(containers["p-web-1"].running);
}

#[tokio::test(start_paused = true)]
async fn an_edit_the_engine_refuses_at_create_leaves_the_old_container_running() {
    let engine = FakeEngine::new();
    let (edited, old) = running_web(&engine).await;
    engine.fail("create p-web-1", "invalid reference format");
    let report = hot_reload(&engine, &edited).await;
    assert_rolled_back(
        &engine,
        &report,
        &old,
        "the engine refused the new container: invalid reference format",
    );
    assert!(
        !engine.take_calls().iter().any(|c| c.starts_with("stop")),
        "never stopped"
    );
}

#[tokio::test(start_paused = true)]
async fn a_new_container_that_cannot_start_is_replaced_by_the_old_one() {
    let engine = FakeEngine::new();
    let (edited, old) = running_web(&engine).await;
    engine.fail("start p-web-1", "port is already allocated");
    let report = hot_reload(&engine, &edited).await;
    assert_rolled_back(
        &engine,
        &report,
        &old,
        "could not be started: port is already allocated",
    );
    let parked = parked_name(&old, "p-web-1");
    let calls = calls_before_the_listing(&engine);
    assert_eq!(
        calls[1..],
        [
            format!("rename p-web-1 {parked}"),
            "create p-web-1".to_string(),
            format!("stop {parked}"),
            "start p-web-1".to_string(),
            "stop p-web-1".to_string(),
            "remove p-web-1".to_string(),
            format!("rename {parked} p-web-1"),
            "start p-web-1".to_string(),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_new_container_that_exits_at_once_is_rolled_back() {
    let engine = FakeEngine::new();
    let (edited, old) = running_web(&engine).await;
    engine.exits_after("web", Duration::from_millis(200), 127);
    let report = hot_reload(&engine, &edited).await;
    assert_rolled_back(&engine, &report, &old, "exited with code 127 before it was ready");
}

const DB: &str = "name: p
services:
  db:
    image: busybox
    environment: {V: '1'}
    healthcheck: {test: [CMD, 'true'], interval: 1s, retries: 3}
    x-composed: {ready-within: 40s}
";

#[tokio::test(start_paused = true)]
async fn a_healthcheck_that_never_passes_is_rolled_back_at_its_deadline() {
    let engine = FakeEngine::new();
    engine.add_image("busybox");
    engine.healthy_after("db", Duration::from_secs(1));
    assert!(up(&engine, &project(DB)).await.ok());
    let old = engine.containers()["p-db-1"].id.clone();
    engine.never_healthy("db");
    let started = tokio::time::Instant::now();
    let report = hot_reload(&engine, &project(&DB.replace("'1'", "'2'"))).await;
    assert!(
        started.elapsed() >= Duration::from_secs(40),
        "the deadline is waited out"
    );
    let reason = &report.rolled_back["db"];
    assert_eq!(reason.public, "the new container was not healthy in time");
    assert!(reason.detail.contains("40s"), "{reason:?}");
    assert_eq!(
        report.services["db"],
        ServiceState::Healthy,
        "the old one is healthy again"
    );
    assert_eq!(engine.containers()["p-db-1"].id, old);
}

#[tokio::test(start_paused = true)]
async fn a_good_edit_replaces_the_old_container_once_the_new_one_proved_itself() {
    let engine = FakeEngine::new();
    let (edited, old) = running_web(&engine).await;
    let started = tokio::time::Instant::now();
    let report = hot_reload(&engine, &edited).await;
    assert!(report.ok() && report.rolled_back.is_empty(), "{report:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "proved for 5 s before the old one goes"
    );
    let containers = engine.containers();
    assert_eq!(containers.len(), 1);
    assert_ne!(containers["p-web-1"].id, old);
    let parked = parked_name(&old, "p-web-1");
    assert_eq!(
        calls_before_the_listing(&engine).last(),
        Some(&format!("remove {parked}"))
    );
}

#[tokio::test(start_paused = true)]
async fn an_edit_whose_image_cannot_be_pulled_leaves_the_service_running() {
    let engine = FakeEngine::new();
    let (_, old) = running_web(&engine).await;
    engine.fail("pull missing:1", "manifest unknown");
    let edited = project(&WEB.replace("busybox", "missing:1"));
    let report = hot_reload(&engine, &edited).await;
    assert_rolled_back(&engine, &report, &old, "manifest unknown");
}

const HOOKED: &str = "name: p
services:
  web:
    image: busybox
    environment: {V: '1'}
    post_start: [{command: warm-up}]
    pre_stop: [{command: drain}]
    secrets: [token]
secrets:
  token:
    environment: COMPOSED_TEST_TOKEN_UNSET_HERE
";

fn hooked(yaml: &str) -> Project {
    let mut p = project(yaml);
    // The variable the secret names, as the loader would have read it.
    p.secrets.get_mut("token").unwrap().value = Some(crate::model::Secret("s3cret".into()));
    p
}

#[tokio::test(start_paused = true)]
async fn text_secrets_are_copied_in_before_the_start_and_post_start_runs_after_it() {
    let engine = FakeEngine::new();
    engine.add_image("busybox");
    let report = up(&engine, &hooked(HOOKED)).await;
    assert!(report.ok(), "{report:?}");
    let calls = engine.take_calls();
    let (create, copy, start, hook) = (
        position(&calls, "create p-web-1"),
        position(&calls, "copy into p-web-1"),
        position(&calls, "start p-web-1"),
        position(&calls, "exec p-web-1 warm-up"),
    );
    assert!(create < copy && copy < start && start < hook, "{calls:?}");
    assert_eq!(engine.copied_into("p-web-1"), ["/run/secrets/token"]);
}

#[tokio::test(start_paused = true)]
async fn a_failing_post_start_hook_fails_the_service_and_leaves_the_container_running() {
    let engine = FakeEngine::new();
    engine.add_image("busybox");
    engine.exec_exits("exec p-web-1 warm-up", 3);
    let report = up(&engine, &hooked(HOOKED)).await;
    let ServiceState::Failed(why) = &report.services["web"] else {
        panic!("{report:?}")
    };
    assert!(
        why.contains("post_start hook 1 of p-web-1 exited with status 3"),
        "{why}"
    );
    assert!(
        !why.contains("warm-up"),
        "the command is the file's: journal only: {why}"
    );
    assert!(engine.containers()["p-web-1"].running);
}

#[tokio::test(start_paused = true)]
async fn an_edit_whose_post_start_hook_fails_is_rolled_back() {
    let engine = FakeEngine::new();
    engine.add_image("busybox");
    assert!(up(&engine, &hooked(HOOKED)).await.ok());
    let old = engine.containers()["p-web-1"].id.clone();
    engine.exec_exits("exec p-web-1 warm-up", 1);
    let report = hot_reload(&engine, &hooked(&HOOKED.replace("'1'", "'2'"))).await;
    assert_rolled_back(
        &engine,
        &report,
        &old,
        "post_start hook 1 of p-web-1 exited with status 1",
    );
    let calls = engine.take_calls();
    assert!(
        !calls.contains(&"exec p-web-1 drain".to_string()),
        "no pre_stop on a replace: {calls:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn pre_stop_runs_before_a_stop_and_a_failing_one_keeps_the_container_running() {
    let engine = FakeEngine::new();
    engine.add_image("busybox");
    let p = hooked(HOOKED);
    assert!(up(&engine, &p).await.ok());
    engine.exec_exits("exec p-web-1 drain", 2);
    let observed = engine.observe("p").await.unwrap();
    let errors = stop(&engine, &p, &observed, None, &quiet).await;
    assert!(
        errors[0].contains("pre_stop hook 1 of p-web-1 exited with status 2"),
        "{errors:?}"
    );
    assert!(engine.containers()["p-web-1"].running, "the stop was aborted");
    engine.take_calls();
    let errors = stop(&engine, &p, &observed, None, &quiet).await;
    assert!(errors.is_empty(), "{errors:?}");
    let calls = engine.take_calls();
    assert!(position(&calls, "exec p-web-1 drain") < position(&calls, "stop p-web-1"));
    assert!(!engine.containers()["p-web-1"].running);
}

#[tokio::test(start_paused = true)]
async fn down_with_volumes_removes_only_what_composed_created() {
    let engine = FakeEngine::new();
    engine.add_image("busybox");
    // `old` was made by another tool for this project (say docker compose); `data` by composed.
    engine.add_foreign_volume("p_old", "p");
    let p = project(
        "name: p\nservices:\n  db:\n    image: busybox\n    volumes: [data:/d, old:/o]\nvolumes:\n  data: {}\n  old: {}\n",
    );
    assert!(up(&engine, &p).await.ok());
    let observed = engine.observe("p").await.unwrap();
    let report = down(&engine, &p, &observed, true, &quiet).await;
    assert_eq!(report.removed_volumes, vec!["p_data".to_string()], "{report:?}");
    assert!(engine.observe("p").await.unwrap().volumes.contains_key("p_old"));
}

const SLOW_AND_QUICK: &str = "name: p
services:
  slow:
    image: busybox
    healthcheck: {test: [CMD, 'true']}
  quick:
    image: busybox
";

/// [`SLOW_AND_QUICK`] applied in a task as the daemon applies it, a second into the wait for
/// `slow`, which turns healthy 5 s after its start.
async fn waiting_for_slow() -> (FakeEngine, tokio::task::JoinHandle<Result<Reconciled, EngineError>>) {
    let engine = FakeEngine::new();
    engine.add_image("busybox");
    engine.healthy_after("slow", Duration::from_secs(5));
    let (fake, p) = (engine.clone(), project(SLOW_AND_QUICK));
    let apply = tokio::spawn(async move {
        let observed = fake.observe(&p.name).await?;
        let plan = crate::plan::plan(&p, &observed);
        let options = Options {
            wait: true,
            rollback: true,
        };
        apply(&fake, &p, &observed, plan, options, &quiet).await
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!apply.is_finished(), "slow is not healthy yet");
    (engine, apply)
}

fn listings(calls: &[String]) -> usize {
    calls.iter().filter(|c| *c == "observe containers p").count()
}

#[tokio::test(start_paused = true)]
async fn the_containers_are_listed_while_the_apply_waits_for_health_and_only_once() {
    let (engine, apply) = waiting_for_slow().await;
    assert_eq!(listings(&engine.take_calls()), 1, "listed before the wait ends");

    let applied = apply.await.unwrap().unwrap();
    assert_eq!(applied.report.unwrap().services["slow"], ServiceState::Healthy);
    assert_eq!(
        listings(&engine.take_calls()),
        0,
        "nothing happened since: not listed again"
    );
    let running = applied.containers.iter().filter(|c| c.state == ContainerState::Running);
    assert_eq!(running.count(), 2, "{:?}", applied.containers);
}

#[tokio::test(start_paused = true)]
async fn a_death_during_the_wait_makes_the_apply_list_the_containers_again() {
    let (engine, apply) = waiting_for_slow().await;
    engine.kill("p-quick-1", 137);

    let applied = apply.await.unwrap().unwrap();
    assert_eq!(listings(&engine.take_calls()), 2, "listed again after the death");
    let quick = applied.containers.iter().find(|c| c.service == "quick").unwrap();
    assert_eq!(quick.state, ContainerState::Exited, "the listing shows the death");
}
