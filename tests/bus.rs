//! The D-Bus API and `composectl` against a real dbus-daemon configured like a system bus with
//! the policy in `packaging/dbus/`, and the daemon on a real engine: the table and JSON views,
//! PropertiesChanged followed through a kill and restart, an operator's restart touching exactly
//! the containers it should, stop and start, nothing secret on the bus, AccessDenied for a user
//! outside the group, and clear errors when the daemon or the bus is gone.

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use support::bus::{Ctl, bus_config};
use support::{KillOnDrop, inspect, wait_until};

const PROJECT: &str = r#"
name: bustest
services:
  db:
    image: composed-test/busybox:1
    command: ["sh", "-c", "trap 'exit 0' TERM; touch /ready; sleep 100000 & wait"]
    healthcheck: {test: ["CMD", "test", "-f", "/ready"], interval: 500ms, retries: 3}
    restart: always
    environment: {DB_PASSWORD: hunter2-never-on-the-bus}
  app:
    image: composed-test/server:1
    restart: always
    depends_on:
      db: {condition: service_healthy, restart: true}
    ports: ["127.0.0.1:18081:80"]
  web:
    image: composed-test/server:1
    restart: always
"#;

trait BustestViews {
    fn services(&self) -> Vec<serde_json::Value>;
    fn service(&self, name: &str) -> serde_json::Value;
}

impl BustestViews for Ctl {
    fn services(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.ok(&["ps", "--json", "bustest"])).unwrap()
    }

    fn service(&self, name: &str) -> serde_json::Value {
        self.services()
            .into_iter()
            .find(|s| s["service"] == name)
            .unwrap_or_else(|| panic!("no {name} in composectl ps --json"))
    }
}

fn started_at(container: &str) -> String {
    inspect(container, "{{.State.StartedAt}}")
}

fn tool(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn the_api_shows_follows_and_steers_a_project() {
    if !support::require("docker", support::engine_available()) || !support::require("dbus", tool("dbus-daemon")) {
        return;
    }
    let _fixture = support::Fixture::new("bustest", PROJECT);
    let work = std::env::temp_dir().join(format!("composed-bus-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("rt")).unwrap();
    let socket = work.join("system_bus_socket");
    std::fs::write(work.join("bus.conf"), bus_config(&socket)).unwrap();
    let _bus = KillOnDrop(
        Command::new("dbus-daemon")
            .arg(format!("--config-file={}", work.join("bus.conf").display()))
            .args(["--nofork", "--nopidfile"])
            .spawn()
            .unwrap(),
    );
    wait_until("the bus listens", Duration::from_secs(10), || socket.exists());
    // The daemon names a project after its directory, as /etc/composed/NAME.
    let project_dir = work.join("bustest");
    std::fs::create_dir_all(&project_dir).unwrap();
    std::fs::write(project_dir.join("compose.yaml"), PROJECT).unwrap();
    let address = format!("unix:path={}", socket.display());
    let ctl = Ctl {
        address: address.clone(),
    };

    // No daemon yet: a clear message, not a D-Bus error dump.
    let (code, _, err) = ctl.run(&["ps"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("composed is not running") && err.contains("systemctl start composed"),
        "{err}"
    );

    let log = work.join("daemon.log");
    let mut daemon = KillOnDrop(
        Command::new(support::composed_bin())
            .arg("--project")
            .arg(&project_dir)
            .arg("--runtime-dir")
            .arg(work.join("rt"))
            .args(["--bus", "system"])
            .env("DBUS_SYSTEM_BUS_ADDRESS", &address)
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let daemon_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let ready = (0..300).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        let (code, out, _) = ctl.run(&["ps", "--json"]);
        code == 0
            && serde_json::from_str::<Vec<serde_json::Value>>(&out)
                .is_ok_and(|v| v.len() == 3 && v.iter().all(|s| s["ready"] == true))
    });
    assert!(ready, "the API never showed every service ready:\n{}", daemon_log());
    let text = daemon_log();
    assert!(
        text.contains("D-Bus API: io.composed.Composed1.Project.bustest on the system bus"),
        "{text}"
    );

    // The table, and the JSON for scripts.
    let table = ctl.ok(&["ps"]);
    let header = table.lines().next().unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        [
            "PROJECT", "SERVICE", "STATE", "HEALTH", "RESTARTS", "PORTS", "SINCE", "NOTE"
        ]
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("bustest") && l.contains(" db ") && l.contains("running") && l.contains("healthy")),
        "{table}"
    );
    let app = ctl.service("app");
    assert_eq!(app["ports"], serde_json::json!(["127.0.0.1:18081->80/tcp"]));
    assert_eq!(app["container_id"], inspect("bustest-app-1", "{{.Id}}"));
    assert_eq!(app["image"], "composed-test/server:1");
    let status = ctl.ok(&["status", "bustest"]);
    assert!(
        status.contains("● bustest: ready") && status.contains("file: "),
        "{status}"
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let conn = zbus::connection::Builder::address(address.as_str())
            .unwrap()
            .build()
            .await
            .unwrap();
        let name = composed::bus::project_bus_name("bustest");
        let db_path = composed::bus::service_path("bustest", "db");

        // Nothing secret on the bus: every property of every object, and the introspection.
        let mut everything = String::new();
        for path in [
            composed::bus::MANAGER_PATH.to_string(),
            composed::bus::project_path("bustest"),
            db_path.clone(),
        ] {
            let props = zbus::fdo::PropertiesProxy::new(&conn, name.as_str(), path.as_str())
                .await
                .unwrap();
            for iface in [
                composed::bus::MANAGER_INTERFACE,
                composed::bus::PROJECT_INTERFACE,
                composed::bus::SERVICE_INTERFACE,
            ] {
                if let Ok(all) = props
                    .get_all(zbus::names::InterfaceName::from_static_str(iface).unwrap())
                    .await
                {
                    everything.push_str(&format!("{all:?}"));
                }
            }
            let intro = zbus::fdo::IntrospectableProxy::builder(&conn)
                .destination(name.as_str())
                .and_then(|b| b.path(path.as_str()))
                .unwrap()
                .build()
                .await
                .unwrap();
            everything.push_str(&intro.introspect().await.unwrap());
        }
        assert!(everything.contains("RestartCount") && everything.contains("LastExitReason"));
        assert!(everything.contains("bustest-db") || everything.contains("composed-test/busybox:1"));
        assert!(!everything.contains("hunter2"), "a secret is on the bus: {everything}");

        // A client following PropertiesChanged (after asking with Watch) sees a killed container
        // restart and run again.
        conn.call_method(
            Some(name.as_str()),
            "/io/composed/Composed1",
            Some("io.composed.Composed1.Manager"),
            "Watch",
            &(),
        )
        .await
        .unwrap();
        let props = zbus::fdo::PropertiesProxy::new(&conn, name.as_str(), db_path.as_str())
            .await
            .unwrap();
        let mut changes = props.receive_properties_changed().await.unwrap();
        support::docker(&["kill", "bustest-db-1"]);
        let mut states = Vec::new();
        let followed = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(signal) = changes.next().await {
                let args = signal.args().unwrap();
                if let Some(state) = args.changed_properties().get("State") {
                    let state: String = state.try_clone().unwrap().try_into().unwrap();
                    states.push(state.clone());
                    if state == "running" && states.iter().any(|s| s == "restarting") {
                        return;
                    }
                }
            }
        })
        .await;
        assert!(followed.is_ok(), "states seen: {states:?}\n{}", daemon_log());
        let restarting = states.iter().position(|s| s == "restarting").unwrap();
        assert_eq!(states.last().unwrap(), "running");
        assert!(restarting < states.len() - 1, "{states:?}");
    });
    let db = ctl.service("db");
    assert_eq!(db["restart_count"], 1);
    assert_eq!(db["last_exit_code"], 137);
    assert_eq!(db["last_exit_reason"], "killed (SIGKILL)");
    wait_until("db is healthy again", Duration::from_secs(20), || {
        ctl.service("db")["ready"] == true
    });

    // An operator's restart of one service: the same containers; exactly that one restarts.
    let ids: Vec<String> = ["db", "app", "web"]
        .iter()
        .map(|s| inspect(&format!("bustest-{s}-1"), "{{.Id}}"))
        .collect();
    let before: Vec<String> = ["db", "app", "web"]
        .iter()
        .map(|s| started_at(&format!("bustest-{s}-1")))
        .collect();
    let out = ctl.ok(&["restart", "bustest/web"]);
    assert_eq!(out.trim(), "restarted bustest/web");
    assert_ne!(started_at("bustest-web-1"), before[2]);
    assert_eq!(started_at("bustest-db-1"), before[0]);
    assert_eq!(started_at("bustest-app-1"), before[1]);
    // db's dependent asked for `restart: true`: it follows; web does not.
    let web_started = started_at("bustest-web-1");
    ctl.ok(&["restart", "bustest/db"]);
    wait_until("app follows db", Duration::from_secs(20), || {
        started_at("bustest-app-1") != before[1] && inspect("bustest-app-1", "{{.State.Running}}") == "true"
    });
    assert_ne!(started_at("bustest-db-1"), before[0]);
    assert_eq!(started_at("bustest-web-1"), web_started);
    let after: Vec<String> = ["db", "app", "web"]
        .iter()
        .map(|s| inspect(&format!("bustest-{s}-1"), "{{.Id}}"))
        .collect();
    assert_eq!(after, ids, "a restart must keep the containers");
    assert_eq!(
        ctl.service("web")["restart_count"],
        0,
        "an operator's restart is not counted"
    );

    // Stop holds a service down (supervision stays out) until start.
    let out = ctl.ok(&["stop", "bustest/web"]);
    assert!(out.contains("1 stopped"), "{out}");
    assert_eq!(inspect("bustest-web-1", "{{.State.Running}}"), "false");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(inspect("bustest-web-1", "{{.State.Running}}"), "false");
    let web = ctl.service("web");
    assert_eq!(web["state"], "stopped");
    assert_eq!(web["last_exit_reason"], "stopped by an operator");
    ctl.ok(&["start", "bustest/web"]);
    assert_eq!(inspect("bustest-web-1", "{{.State.Running}}"), "true");

    // Down removes the project's containers (volumes kept) and holds it down until start, which
    // creates them again.
    let out = ctl.ok(&["down", "bustest"]);
    assert!(out.starts_with("down;"), "{out}");
    assert_eq!(inspect("bustest-web-1", "{{.Id}}"), "", "down removes the containers");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(inspect("bustest-web-1", "{{.Id}}"), "", "and nothing recreates them");
    ctl.ok(&["start", "bustest"]);
    assert_eq!(inspect("bustest-web-1", "{{.State.Running}}"), "true");

    // Typos get the names that exist.
    let (code, _, err) = ctl.run(&["restart", "bustest/wbe"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no service `wbe`") && err.contains("app, db, web"),
        "{err}"
    );
    let (code, _, err) = ctl.run(&["stop", "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("no project `nope`; composed manages: bustest"), "{err}");

    // Outside root and the `composed` group: refused by the bus, with a message that says how.
    if Command::new("id").arg("-u").output().unwrap().stdout == b"0\n" {
        let bin_dir = work.join("bin");
        std::fs::create_dir_all(&bin_dir).unwrap();
        let bin: PathBuf = bin_dir.join("composectl");
        std::fs::copy(support::composectl_bin(), &bin).unwrap();
        for p in [&work, &bin_dir, &bin] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let (code, _, err) = ctl.run_as(Some((&bin, 65534)), &["restart", "bustest/web"]);
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains("access denied") && err.contains("usermod -aG composed"),
            "{err}"
        );
        let (code, _, err) = ctl.run_as(Some((&bin, 65534)), &["ps"]);
        assert_eq!(code, 1);
        assert!(err.contains("access denied"), "{err}");
        no_signals_reach_other_users(&ctl);
        assert_eq!(started_at("bustest-web-1"), started_at("bustest-web-1"));
    } else {
        eprintln!("skipping the AccessDenied part: it needs root to switch users");
    }

    // The daemon gone: said plainly.
    Command::new("kill").arg(daemon.0.id().to_string()).status().unwrap();
    let _ = daemon.0.wait();
    let (code, _, err) = ctl.run(&["ps"]);
    assert_eq!(code, 1);
    assert!(err.contains("composed is not running"), "{err}");

    // No bus at all: said plainly too.
    let nowhere = Ctl {
        address: format!("unix:path={}", work.join("missing").display()),
    };
    let (code, _, err) = nowhere.run(&["ps"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot reach the system bus"), "{err}");
    let _ = std::fs::remove_dir_all(&work);
}

/// A user outside root and the group listens to every signal on the bus while composed's state
/// changes: the bus's own signals reach them (the listener works), composed's none.
fn no_signals_reach_other_users(ctl: &Ctl) {
    let mut monitor = support::KillOnDrop(
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .args(["dbus-monitor", "--address", &ctl.address, "type='signal'"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(500));
    // A state change (composed signals it) and a new connection (the bus signals that).
    ctl.ok(&["restart", "bustest/web"]);
    ctl.ok(&["ps"]);
    std::thread::sleep(Duration::from_millis(500));
    let _ = monitor.0.kill();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut monitor.0.stdout.take().unwrap(), &mut out).unwrap();
    assert!(
        out.contains("NameOwnerChanged"),
        "the listener heard nothing at all: {out}"
    );
    assert!(
        !out.contains("/io/composed"),
        "composed's signals reached user 65534:\n{out}"
    );
}
