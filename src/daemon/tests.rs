//! The daemon loop against the recording fake engine, on paused time: supervision restarts a
//! killed container, an engine restart is ridden out in dependency order, an operator's stop is
//! held. No Docker needed.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::event::{Change, Signal};
use super::*;
use crate::bus::{Command, Op};
use crate::engine::fake::FakeEngine;
use crate::state::ServiceState;

struct Harness {
    daemon: Daemon<FakeEngine>,
    inputs: Inputs,
    engine: FakeEngine,
    _commands: mpsc::UnboundedSender<Command>,
}

impl Harness {
    /// One project, `p`, managed alone (`--project`).
    fn new(name: &str, yaml: &str) -> Harness {
        // The daemon names a project after its directory: `p`.
        let top = std::env::temp_dir().join(format!("composed-daemon-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&top);
        let dir = top.join("p");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("compose.yaml"), yaml).unwrap();
        Self::start(&top, Some(dir))
    }

    /// Every `NAME.yaml` of `files` in a root directory (`--root`); returns the root too.
    fn root(name: &str, files: &[(&str, &str)]) -> (Harness, std::path::PathBuf) {
        let top = std::env::temp_dir().join(format!("composed-daemon-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&top);
        let root = top.join("root");
        std::fs::create_dir_all(&root).unwrap();
        for (file, yaml) in files {
            std::fs::write(root.join(file), yaml).unwrap();
        }
        (Self::start(&top, None), root)
    }

    fn start(top: &std::path::Path, project: Option<std::path::PathBuf>) -> Harness {
        Self::start_with(top, project, |_| {})
    }

    /// [`Self::start`], the fake engine prepared by `prepare` first.
    fn start_with(
        top: &std::path::Path,
        project: Option<std::path::PathBuf>,
        prepare: impl FnOnce(&FakeEngine),
    ) -> Harness {
        let config = Config {
            root: top.join("root"),
            project,
            runtime_dir: top.join("run"),
            resync: Duration::from_secs(300),
            bus: Bus::None,
        };
        let engine = FakeEngine::new();
        engine.add_image("busybox");
        prepare(&engine);
        let (tx, rx) = mpsc::unbounded_channel();
        let (commands, command_rx) = mpsc::unbounded_channel();
        let mut daemon = Daemon::new(config, engine.clone(), tx);
        daemon.add_projects().unwrap();
        let inputs = Inputs::new(rx, command_rx, None, Duration::from_secs(300));
        daemon.start();
        Harness {
            daemon,
            inputs,
            engine,
            _commands: commands,
        }
    }

    /// Handles events until `done` holds; panics naming `what` after ten minutes of (paused) time.
    async fn until(&mut self, what: &str, done: impl Fn(&Daemon<FakeEngine>, &FakeEngine) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
        while !done(&self.daemon, &self.engine) {
            let event = tokio::time::timeout_at(deadline, self.inputs.next())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
            assert!(self.daemon.handle_event(event, &mut self.inputs).is_none());
        }
    }

    fn service(&self, service: &str) -> &supervision::ServiceRuntime {
        &self.daemon.projects.values().next().unwrap().runtime.services[service]
    }

    fn send(&self, event: Event) {
        self.daemon.tx.send(event).unwrap();
    }
}

fn ready(d: &Daemon<FakeEngine>, _: &FakeEngine) -> bool {
    d.reporter.ready_sent()
}

fn running(engine: &FakeEngine, name: &str) -> bool {
    engine.containers().get(name).is_some_and(|c| c.running)
}

const YAML: &str = "name: p
services:
  db:
    image: busybox
    restart: always
    healthcheck: {test: [CMD, 'true']}
  web:
    image: busybox
    restart: always
    depends_on: {db: {condition: service_healthy}}
";

#[tokio::test(start_paused = true)]
async fn a_killed_container_is_restarted_and_counted() {
    let mut h = Harness::new("kill", YAML);
    h.engine.healthy_after("db", Duration::from_secs(2));
    h.until("ready", ready).await;
    let id = h.engine.containers()["p-web-1"].id.clone();
    h.engine.take_calls();
    h.engine.kill("p-web-1", 137);
    h.until("web restarted", |d, e| {
        running(e, "p-web-1") && d.projects["p"].runtime.services["web"].state == ServiceState::Running
    })
    .await;
    let web = h.service("web");
    assert_eq!(web.restarts, 1);
    assert_eq!(web.last_exit, Some(137));
    assert_eq!(h.engine.containers()["p-web-1"].id, id, "the same container");
    assert_eq!(h.engine.take_calls(), ["start p-web-1"], "nothing but the start");
}

#[tokio::test(start_paused = true)]
async fn after_an_engine_restart_containers_start_again_in_dependency_order() {
    let mut h = Harness::new("engine", YAML);
    h.engine.healthy_after("db", Duration::from_secs(2));
    h.until("ready", ready).await;
    h.engine.set_down(true);
    h.send(Event::EngineLost("the event stream ended".into()));
    h.until("the loss is noticed", |d, _| !d.engine_up).await;
    h.engine.restart_without_live_restore();
    h.engine.take_calls();
    h.engine.set_down(false);
    h.until("both run again", |_, e| running(e, "p-db-1") && running(e, "p-web-1"))
        .await;
    let changes: Vec<String> = h
        .engine
        .take_calls()
        .into_iter()
        .filter(|c| c != "version" && !c.starts_with("observe "))
        .collect();
    assert_eq!(
        changes,
        ["start p-db-1", "start p-web-1"],
        "the same containers started again, db first: web waits for it"
    );
}

#[tokio::test(start_paused = true)]
async fn an_operators_stop_is_held_and_start_releases_it() {
    let mut h = Harness::new("hold", YAML);
    h.engine.healthy_after("db", Duration::from_secs(1));
    h.until("ready", ready).await;
    let (reply, mut answer) = oneshot::channel();
    h.send(Event::Command(Command {
        op: Op::Stop,
        project: "p".into(),
        service: Some("web".into()),
        reply,
    }));
    h.until("the stop is answered", |_, _| !answer.is_empty()).await;
    assert!(answer.try_recv().unwrap().unwrap().starts_with("stopped"));
    // Supervision and resyncs leave it down.
    h.send(Event::Timer(Timer::Resync));
    tokio::time::sleep(Duration::from_secs(60)).await;
    h.until("the resync is done", |d, _| !d.projects["p"].queue.is_running())
        .await;
    assert!(!running(&h.engine, "p-web-1"));
    assert_eq!(h.service("web").state, ServiceState::Stopped);
    let (reply, mut answer) = oneshot::channel();
    h.send(Event::Command(Command {
        op: Op::Start,
        project: "p".into(),
        service: Some("web".into()),
        reply,
    }));
    h.until("the start is answered", |_, _| !answer.is_empty()).await;
    assert_eq!(answer.try_recv().unwrap(), Ok("started p/web".to_string()));
    assert!(running(&h.engine, "p-web-1"));
}

const WEB: &str = "services:\n  web:\n    image: busybox\n";

fn managed(d: &Daemon<FakeEngine>) -> Vec<String> {
    d.projects.keys().cloned().collect()
}

#[tokio::test(start_paused = true)]
async fn a_project_is_taken_down_only_when_two_scans_agree_its_files_are_gone() {
    let (mut h, root) = Harness::root("scan", &[("a.yaml", WEB), ("b.yaml", WEB)]);
    h.until("ready", ready).await;
    assert_eq!(managed(&h.daemon), ["a", "b"]);
    h.engine.take_calls();

    // A scan that fails (the directory replaced, too many open files) changes nothing.
    let aside = root.with_extension("aside");
    std::fs::rename(&root, &aside).unwrap();
    h.send(Event::Signal(Signal::Reload));
    tokio::time::sleep(Duration::from_secs(5)).await;
    h.until("the failed scan is handled", |d, _| !d.projects["a"].queue.is_running())
        .await;
    std::fs::rename(&aside, &root).unwrap();
    assert_eq!(managed(&h.daemon), ["a", "b"]);

    // A file that disappears for a moment (a deploy tool replacing it) is not a removal.
    std::fs::remove_file(root.join("a.yaml")).unwrap();
    h.send(Event::FilesChanged(Change::Edited));
    h.until("the first scan saw it gone", |d, _| d.vanishing.contains_key("a"))
        .await;
    std::fs::write(root.join("a.yaml"), WEB).unwrap();
    h.until("the second scan saw it back", |d, _| d.vanishing.is_empty())
        .await;

    // Gone for good: taken down once the second scan agrees.
    std::fs::remove_file(root.join("b.yaml")).unwrap();
    h.send(Event::FilesChanged(Change::Edited));
    h.until("b is taken down", |_, e| !e.containers().contains_key("b-web-1"))
        .await;
    assert_eq!(managed(&h.daemon), ["a"]);
    let changes: Vec<String> = h
        .engine
        .take_calls()
        .into_iter()
        .filter(|c| !c.starts_with("observe") && c != "version")
        .collect();
    assert_eq!(
        changes,
        ["stop b-web-1", "remove b-web-1", "remove network b_default"],
        "nothing of `a` was touched"
    );
}

const EDITABLE: &str = "name: p
services:
  web:
    image: busybox
    restart: always
    environment: {V: '1'}
";

impl Harness {
    /// Replaces the single project's file, as an editor's save does, and lets it settle.
    fn edit(&self, yaml: &str) {
        let file = self.daemon.config.project.as_ref().unwrap().join("compose.yaml");
        std::fs::write(&file, yaml).unwrap();
        self.send(Event::FilesChanged(Change::Edited));
    }
}

fn web_id(e: &FakeEngine) -> String {
    e.containers().get("p-web-1").map(|c| c.id.clone()).unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn a_refused_edit_is_rolled_back_and_kept_until_the_file_changes() {
    let mut h = Harness::new("rollback", EDITABLE);
    h.until("ready", ready).await;
    let old = web_id(&h.engine);
    h.engine.fail("start p-web-1", "port is already allocated");
    h.edit(&EDITABLE.replace("'1'", "'2'"));
    h.until("the edit is rolled back", |d, _| {
        !d.projects["p"].runtime.refused.is_empty()
    })
    .await;
    h.until("the reconcile is done", |d, _| !d.projects["p"].queue.is_running())
        .await;
    let rt = &h.daemon.projects["p"].runtime;
    assert_eq!(rt.services["web"].state, ServiceState::Running, "running, not failed");
    assert_eq!(rt.status().state, crate::state::ProjectState::Degraded);
    assert!(
        rt.status_line()
            .contains("web rolled back: the new container could not be started"),
        "{}",
        rt.status_line()
    );
    assert_eq!(web_id(&h.engine), old);

    // Resyncs leave the refused configuration alone: no retry, no second create.
    h.engine.take_calls();
    h.send(Event::Timer(Timer::Resync));
    tokio::time::sleep(Duration::from_secs(120)).await;
    h.until("the resync is done", |d, _| !d.projects["p"].queue.is_running())
        .await;
    assert!(!h.engine.take_calls().iter().any(|c| c.starts_with("create")));

    // The next good edit is applied normally.
    h.edit(&EDITABLE.replace("'1'", "'3'"));
    h.until("the new edit runs", |d, e| {
        web_id(e) != old && d.projects["p"].runtime.refused.is_empty()
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_service_that_failed_on_an_engine_error_is_retried_without_an_edit() {
    let yaml = "name: p\nservices:\n  web:\n    image: busybox\n    restart: always\n";
    h_retry(yaml).await;
}

async fn h_retry(yaml: &str) {
    let top = std::env::temp_dir().join(format!("composed-daemon-{}-retry", std::process::id()));
    let _ = std::fs::remove_dir_all(&top);
    let dir = top.join("p");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("compose.yaml"), yaml).unwrap();
    // The first create meets an engine error; nothing but time passes.
    let mut h = Harness::start_with(&top, Some(dir), |e| e.fail("create p-web-1", "Internal Server Error"));
    h.until("web runs without an edit", |_, e| running(e, "p-web-1")).await;
    let creates = h.engine.take_calls().iter().filter(|c| *c == "create p-web-1").count();
    assert_eq!(creates, 2, "one failed create, one that worked");
}

#[tokio::test(start_paused = true)]
async fn a_single_project_that_cannot_become_ready_reports_ready_degraded_in_time() {
    let top = std::env::temp_dir().join(format!("composed-daemon-{}-never", std::process::id()));
    let _ = std::fs::remove_dir_all(&top);
    let dir = top.join("p");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("compose.yaml"),
        "name: p\nservices:\n  web:\n    image: busybox\n",
    )
    .unwrap();
    let mut h = Harness::start_with(&top, Some(dir), |e| {
        for _ in 0..1000 {
            e.fail("create p-web-1", "no space left on device");
        }
    });
    let started = tokio::time::Instant::now();
    h.until("READY, degraded", ready).await;
    assert!(started.elapsed() >= super::READY_DEADLINE, "{:?}", started.elapsed());
    let rt = &h.daemon.projects["p"].runtime;
    assert!(matches!(rt.services["web"].state, ServiceState::Failed(_)));
    // And it goes on trying.
    let tries = h.engine.take_calls().iter().filter(|c| *c == "create p-web-1").count();
    h.until("another try", |_, e| {
        e.take_calls().iter().any(|c| c == "create p-web-1")
    })
    .await;
    assert!(tries > 1, "{tries}");
}
