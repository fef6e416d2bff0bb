//! A bad edit never takes a service down: under the daemon, on a real engine and a real bus, each
//! of five bad edits (a host port in use, an image that does not exist, a command that exits at
//! once, a healthcheck that never passes, a value the engine refuses at create) leaves the
//! service running its previous container, with the reason in STATUS, `composectl ps` and
//! `composectl reload`'s exit code, and its data intact; the next good edit is applied. A new
//! service that failed on a port someone else held starts by itself once the port is free.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::bus::SystemBus;
use support::daemon::Daemon;
use support::{docker, inspect, wait_until};

fn project(web: &str, db: &str, extra: &str) -> String {
    with_image("composed-test/server:1", web, db, extra)
}

fn with_image(image: &str, web: &str, db: &str, extra: &str) -> String {
    format!(
        r#"services:
  web:
    image: {image}
    restart: always
    volumes: ["data:/data"]
    x-composed: {{stable-for: 2s}}
{web}
  db:
    image: composed-test/busybox:1
    command: ["sh", "-c", "trap 'exit 0' TERM; touch /ready; sleep 100000 & wait"]
    restart: always
    volumes: ["/anon"]
    x-composed: {{ready-within: 5s}}
{db}
{extra}volumes:
  data: {{}}
"#
    )
}

const WEB_OK: &str = "    environment: {EDIT: '0'}\n    ports: ['127.0.0.1:18090:80']";
const DB_OK: &str = "    healthcheck: {test: [CMD, test, -f, /ready], interval: 500ms, retries: 3}";

fn write(dir: &Path, text: &str) {
    std::fs::write(dir.join("compose.yaml.new"), text).unwrap();
    std::fs::rename(dir.join("compose.yaml.new"), dir.join("compose.yaml")).unwrap();
}

fn ids() -> (String, String) {
    (inspect("rbtest-web-1", "{{.Id}}"), inspect("rbtest-db-1", "{{.Id}}"))
}

fn records_intact() {
    assert_eq!(docker(&["exec", "rbtest-web-1", "cat", "/data/record"]), "named");
    assert_eq!(docker(&["exec", "rbtest-db-1", "cat", "/anon/record"]), "anonymous");
}

#[test]
fn bad_edits_are_rolled_back_and_good_ones_applied() {
    if !support::require("docker", support::engine_available()) {
        return;
    }
    let work = support::project_dir(&[]);
    let dir = work.join("rbtest");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::create_dir_all(work.join("rt")).unwrap();
    let fixture = support::Fixture {
        dir: dir.clone(),
        name: "rbtest".into(),
    };
    fixture.cleanup();
    let _blocker = Blocker::default();
    write(&dir, &project(WEB_OK, DB_OK, ""));
    let bus = SystemBus::start(&work);
    let ctl = bus.ctl();
    let mut d = Daemon::start_with(
        &dir,
        &work.join("rt"),
        "rb",
        &[("DBUS_SYSTEM_BUS_ADDRESS", Path::new(&bus.address))],
    );
    d.expect("READY=1", Duration::from_secs(60));
    docker(&["exec", "rbtest-web-1", "sh", "-c", "echo named > /data/record"]);
    docker(&["exec", "rbtest-db-1", "sh", "-c", "echo anonymous > /anon/record"]);

    let blocker = Blocker::run(18091);
    // Each bad edit is made against the configuration that runs at the time (`web`).
    type Edit = fn(&str) -> String;
    let bad_edits: [(&str, Edit, &str); 5] = [
        (
            "a host port in use",
            |web| project(&web.replace("18090", "18091"), DB_OK, ""),
            "web",
        ),
        (
            "an image that does not exist",
            |web| with_image("127.0.0.1:5999/composed-test/absent:404", web, DB_OK, ""),
            "web",
        ),
        (
            "a command that exits at once",
            |web| project(&format!("{web}\n    command: [sh, -c, 'exit 3']"), DB_OK, ""),
            "web",
        ),
        (
            "a healthcheck that never passes",
            |web| {
                project(
                    web,
                    "    healthcheck: {test: [CMD, 'false'], interval: 500ms, retries: 3}",
                    "",
                )
            },
            "db",
        ),
        (
            "a value the engine refuses at create",
            |web| project(&format!("{web}\n    mem_limit: 1k"), DB_OK, ""),
            "web",
        ),
    ];
    let mut generation = 0;
    for (what, edit, service) in bad_edits {
        let web = WEB_OK.replace("'0'", &format!("'{generation}'"));
        let text = edit(&web);
        let before = ids();
        write(&dir, &text);
        let (code, _, err) = ctl.run(&["reload"]);
        assert_ne!(code, 0, "{what}: reload must fail with the rollback");
        assert!(
            err.contains(&format!("rbtest/{service}: the edit was rolled back")),
            "{what}: {err}"
        );
        assert_eq!(ids(), before, "{what}: the previous containers run");
        for c in ["rbtest-web-1", "rbtest-db-1"] {
            assert_eq!(inspect(c, "{{.State.Running}}"), "true", "{what}: {c} runs");
        }
        let status = d.expect(&format!("{service} rolled back"), Duration::from_secs(10));
        assert!(status.contains("STATUS=rbtest:"), "{status}");
        let row = ctl.ok(&["ps", "rbtest"]);
        let line = row
            .lines()
            .find(|l| l.contains(&format!(" {service} ")))
            .unwrap_or_default();
        assert_eq!(line.split_whitespace().nth(2), Some("running"), "{what}: {row}");
        assert!(line.contains("rolled back:"), "{what}: {row}");
        records_intact();

        // The next good edit is applied and the project is ready again.
        generation += 1;
        let good = project(&WEB_OK.replace("'0'", &format!("'{generation}'")), DB_OK, "");
        write(&dir, &good);
        let out = ctl.ok(&["reload"]);
        assert!(out.contains("reloaded"), "{out}");
        assert_ne!(
            inspect("rbtest-web-1", "{{.Id}}"),
            before.0,
            "{what}: the good edit is applied"
        );
        let json: Vec<serde_json::Value> = serde_json::from_str(&ctl.ok(&["ps", "--json", "rbtest"])).unwrap();
        assert!(
            json.iter().all(|s| s["ready"] == true && s["rollback"] == ""),
            "{what}: {json:?}"
        );
        records_intact();
    }
    drop(blocker);

    // A new service whose port someone else holds fails, and starts by itself once it is free.
    let blocker = Blocker::run(18092);
    let late = "  late:\n    image: composed-test/server:1\n    ports: ['127.0.0.1:18092:80']\n";
    write(
        &dir,
        &project(&WEB_OK.replace("'0'", &format!("'{generation}'")), DB_OK, late),
    );
    let (code, _, err) = ctl.run(&["reload"]);
    assert_ne!(code, 0);
    assert!(err.contains("late"), "{err}");
    drop(blocker);
    wait_until("late starts without an edit", Duration::from_secs(40), || {
        inspect("rbtest-late-1", "{{.State.Running}}") == "true"
    });

    let log = d.log_text();
    assert!(!log.contains("marked for removal"), "{log}");
    let rolled_back = log.lines().filter(|l| l.contains("its edit was rolled back")).count();
    assert_eq!(rolled_back, 5, "one line per rolled back edit:\n{log}");
    d.signal("TERM");
    d.wait_exit(Duration::from_secs(60));
    let _ = Command::new("docker").args(["volume", "rm", "rbtest_data"]).output();
}

/// A container of the test's own holding a host port.
#[derive(Default)]
struct Blocker(Option<String>);

impl Blocker {
    fn run(port: u16) -> Blocker {
        let id = docker(&[
            "run",
            "-d",
            "-p",
            &format!("127.0.0.1:{port}:80"),
            "composed-test/server:1",
        ]);
        Blocker(Some(id))
    }
}

impl Drop for Blocker {
    fn drop(&mut self) {
        if let Some(id) = &self.0 {
            let _ = Command::new("docker").args(["rm", "-f", id]).output();
        }
    }
}
