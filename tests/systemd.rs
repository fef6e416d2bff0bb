//! composed under a real systemd, booted as PID 1 in a container that shares the host's engine
//! (`tests/setup-systemd-image.sh` builds the image): the units in `units/`, readiness, STATUS,
//! the journal, restarts, hot reload, stop/start/restart keeping containers and data (named and
//! anonymous volumes), and adoption after `kill -9`.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::systemd_box::{self, SystemdBox};
use support::{docker, inspect};

const BOX: &str = "composed-test-systemd-box";

const YELB: &str = r#"
services:
  yelb-ui:
    image: composed-test/server:1
    depends_on: [yelb-appserver]
  yelb-appserver:
    image: composed-test/server:1
    environment: {RACK_ENV: test}
    depends_on:
      redis-server: {condition: service_healthy}
      yelb-db: {condition: service_started}
  redis-server:
    image: composed-test/busybox:1
    command: ["sh", "-c", "trap 'exit 0' TERM; echo redis says hello; sleep 3; touch /ready; sleep 100000 & wait"]
    healthcheck: {test: ["CMD", "test", "-f", "/ready"], interval: 500ms, retries: 3, start_period: 10s}
    restart: always
  yelb-db:
    image: composed-test/server:1
    restart: always
    volumes: ["dbdata:/data"]
  store:
    image: composed-test/volume:1
volumes:
  dbdata: {}
"#;

/// Runs a shell command inside the box; returns (exit code, output).
fn in_box(script: &str) -> (i32, String) {
    SystemdBox::sh_in(BOX, script)
}

fn wait_until(what: &str, within: Duration, check: impl FnMut() -> bool) {
    SystemdBox::wait_in(BOX, what, within, "composed@yelb", check)
}

fn write_project(compose: &str) {
    let file = std::env::temp_dir().join(format!("composed-systemd-{}.yaml", std::process::id()));
    std::fs::write(&file, compose).unwrap();
    docker(&[
        "cp",
        &file.to_string_lossy(),
        &format!("{BOX}:/etc/composed/yelb/compose.yaml.new"),
    ]);
    // Replace by rename, as editors and config management do.
    in_box(
        "chmod 644 /etc/composed/yelb/compose.yaml.new && mv /etc/composed/yelb/compose.yaml.new /etc/composed/yelb/compose.yaml",
    );
}

#[test]
fn composed_runs_a_project_as_a_systemd_service() {
    if !support::require("docker", support::engine_available())
        || !support::require("systemd", systemd_box::image_available())
    {
        return;
    }
    let _cleanup = support::CleanupProject("yelb");
    let _box = SystemdBox::boot(BOX);
    docker(&[
        "cp",
        &support::composed_bin().to_string_lossy(),
        &format!("{BOX}:/usr/bin/composed"),
    ]);
    let units = support::repo().join("units");
    docker(&[
        "cp",
        &units.join("composed@.service").to_string_lossy(),
        &format!("{BOX}:/etc/systemd/system/"),
    ]);
    // A short watchdog, so this run proves composed keeps sending WATCHDOG=1.
    in_box(
        "mkdir -p /etc/composed/yelb /etc/systemd/system/composed@.service.d \
         && printf '[Service]\\nWatchdogSec=2s\\n' > /etc/systemd/system/composed@.service.d/watchdog.conf \
         && systemctl daemon-reload",
    );
    write_project(YELB);

    // `systemctl start` returns only once all four are ready: redis is healthy after about 3 s.
    let t0 = Instant::now();
    let (code, out) = in_box("systemctl start composed@yelb");
    assert_eq!(code, 0, "{out}");
    assert!(
        t0.elapsed() >= Duration::from_secs(3),
        "start returned before redis could be healthy"
    );
    assert_eq!(inspect("yelb-redis-server-1", "{{.State.Health.Status}}"), "healthy");
    for c in ["yelb-yelb-ui-1", "yelb-yelb-appserver-1", "yelb-yelb-db-1"] {
        assert_eq!(inspect(c, "{{.State.Running}}"), "true", "{c}");
    }
    let (_, status) = in_box("systemctl status composed@yelb --no-pager");
    assert!(status.contains("Status: \"yelb: 5/5 ready\""), "{status}");
    let (_, watchdog) = in_box("systemctl show -p WatchdogUSec composed@yelb");
    assert!(
        watchdog.contains("WatchdogUSec=2s"),
        "the watchdog drop-in is not in effect: {watchdog}"
    );

    // The container's output is in the journal under composed's unit, filterable by service.
    let (_, lines) = in_box("journalctl -u composed@yelb COMPOSE_SERVICE=redis-server --no-pager -o cat");
    assert!(lines.contains("redis says hello"), "{lines}");

    // docker kill: restarted, and the journal says why.
    let started = inspect("yelb-yelb-db-1", "{{.State.StartedAt}}");
    docker(&["kill", "yelb-yelb-db-1"]);
    wait_until("db is restarted", Duration::from_secs(30), || {
        inspect("yelb-yelb-db-1", "{{.State.Running}}") == "true"
            && inspect("yelb-yelb-db-1", "{{.State.StartedAt}}") != started
    });
    let (_, journal) = in_box("journalctl -u composed@yelb --no-pager -o cat");
    assert!(
        journal.contains("yelb-yelb-db-1 exited with code 137; restarting in 0s"),
        "{journal}"
    );

    // A service made unhealthy is restarted (Docker itself never does this).
    let started = inspect("yelb-redis-server-1", "{{.State.StartedAt}}");
    docker(&["exec", "yelb-redis-server-1", "rm", "/ready"]);
    wait_until(
        "unhealthy redis is restarted and healthy again",
        Duration::from_secs(40),
        || {
            inspect("yelb-redis-server-1", "{{.State.StartedAt}}") != started
                && inspect("yelb-redis-server-1", "{{.State.Health.Status}}") == "healthy"
        },
    );
    let (_, journal) = in_box("journalctl -u composed@yelb --no-pager -o cat");
    assert!(
        journal.contains("yelb-redis-server-1 is unhealthy; restarting it"),
        "{journal}"
    );

    // An edit to one service's environment recreates only that service, with no command typed.
    let ids = |names: &[&str]| names.iter().map(|n| inspect(n, "{{.Id}}")).collect::<Vec<_>>();
    let others = ["yelb-yelb-ui-1", "yelb-redis-server-1", "yelb-yelb-db-1"];
    let before = ids(&others);
    let app = inspect("yelb-yelb-appserver-1", "{{.Id}}");
    write_project(&YELB.replace("RACK_ENV: test", "RACK_ENV: production"));
    wait_until("the appserver is recreated", Duration::from_secs(30), || {
        let id = inspect("yelb-yelb-appserver-1", "{{.Id}}");
        !id.is_empty() && id != app && inspect("yelb-yelb-appserver-1", "{{.State.Running}}") == "true"
    });
    assert_eq!(ids(&others), before, "only the edited service may change");

    // A syntax error leaves everything running and shows the error in STATUS and the journal.
    let app = inspect("yelb-yelb-appserver-1", "{{.Id}}");
    write_project(&YELB.replace("  yelb-db:\n", "  yelb-db:\n   broken: [\n"));
    wait_until("STATUS shows the config error", Duration::from_secs(20), || {
        in_box("systemctl status composed@yelb --no-pager")
            .1
            .contains("config error at /etc/composed/yelb/compose.yaml:")
    });
    assert!(
        in_box("journalctl -u composed@yelb --no-pager -o cat")
            .1
            .contains("the edit was refused")
    );
    assert_eq!(inspect("yelb-yelb-appserver-1", "{{.Id}}"), app);

    // An edit whose new container exits at once is rolled back: the appserver keeps running
    // its previous container, and STATUS says so.
    write_project(&YELB.replace(
        "environment: {RACK_ENV: test}",
        "environment: {RACK_ENV: test}\n    command: [sh, -c, 'exit 3']\n    x-composed: {stable-for: 2s}",
    ));
    wait_until("STATUS shows the rollback", Duration::from_secs(30), || {
        in_box("systemctl status composed@yelb --no-pager")
            .1
            .contains("yelb-appserver rolled back: the new container exited with code 3")
    });
    assert_eq!(
        inspect("yelb-yelb-appserver-1", "{{.Id}}"),
        app,
        "the previous container runs"
    );
    assert_eq!(inspect("yelb-yelb-appserver-1", "{{.State.Running}}"), "true");
    write_project(&YELB.replace("RACK_ENV: test", "RACK_ENV: production"));

    // kill -9 of composed: systemd restarts it and it adopts the running containers.
    let started = inspect("yelb-yelb-ui-1", "{{.State.StartedAt}}");
    let (_, pid) = in_box("systemctl show -p MainPID --value composed@yelb");
    in_box(&format!("kill -9 {}", pid.trim()));
    wait_until("systemd restarted composed", Duration::from_secs(30), || {
        let (_, new_pid) = in_box("systemctl show -p MainPID --value composed@yelb");
        let (_, active) = in_box("systemctl is-active composed@yelb");
        new_pid.trim() != pid.trim() && new_pid.trim() != "0" && active.trim() == "active"
    });
    assert_eq!(
        inspect("yelb-yelb-ui-1", "{{.State.StartedAt}}"),
        started,
        "adoption must not restart a running container"
    );

    // systemctl stop keeps the containers (stopped) and every volume; start starts the same
    // containers again. The record in the named volume and the one in `store`'s anonymous image
    // VOLUME are still there; so after a restart.
    docker(&["exec", "yelb-yelb-db-1", "sh", "-c", "echo precious > /data/file"]);
    docker(&["exec", "yelb-store-1", "sh", "-c", "echo acknowledged > /data/record"]);
    let filter = "label=com.docker.compose.project=yelb";
    let ids = || docker(&["ps", "-aq", "--no-trunc", "--filter", filter]);
    let before = ids();
    let (code, out) = in_box("systemctl stop composed@yelb");
    assert_eq!(code, 0, "{out}");
    assert_eq!(ids(), before, "a stop keeps the containers");
    assert_eq!(docker(&["ps", "-q", "--filter", filter]), "", "and stops them all");
    let (code, out) = in_box("systemctl start composed@yelb");
    assert_eq!(code, 0, "{out}");
    assert_eq!(ids(), before, "a start with no edit starts the same containers");
    assert_eq!(docker(&["exec", "yelb-yelb-db-1", "cat", "/data/file"]), "precious");
    assert_eq!(docker(&["exec", "yelb-store-1", "cat", "/data/record"]), "acknowledged");
    let (code, out) = in_box("systemctl restart composed@yelb");
    assert_eq!(code, 0, "{out}");
    assert_eq!(ids(), before, "a restart keeps the containers too");
    assert_eq!(inspect("yelb-store-1", "{{.State.Running}}"), "true");
    assert_eq!(docker(&["exec", "yelb-store-1", "cat", "/data/record"]), "acknowledged");
    in_box("systemctl stop composed@yelb");
    let (_, journal) = in_box("journalctl -u composed@yelb --no-pager -o cat");
    assert!(
        !journal.contains("Watchdog timeout"),
        "systemd's watchdog fired:\n{journal}"
    );
    let _ = Command::new("docker").args(["volume", "rm", "yelb_dbdata"]).output();
}
