//! Restarting the Docker engine under a running daemon: composed notices, reconnects with
//! backoff, and starts the containers again in dependency order (the engine's own restart policy
//! is off, so nothing else would); with live-restore, the containers the engine kept running are
//! adopted, not restarted. This restarts the host's dockerd, so it runs only when
//! `COMPOSED_TEST_RESTART_ENGINE=1` (CI sets it); it has a test binary of its own so that no
//! other test runs while the engine is down.

mod support;

use support::{KillOnDrop, inspect, wait_until};

use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn composed_recovers_from_an_engine_restart() {
    if std::env::var("COMPOSED_TEST_RESTART_ENGINE").as_deref() != Ok("1") {
        eprintln!("skipping: set COMPOSED_TEST_RESTART_ENGINE=1 to let this test restart dockerd");
        return;
    }
    assert!(support::engine_available(), "the engine must run before this test");
    let compose = "services:\n  a:\n    image: composed-test/server:1\n    restart: always\n  b:\n    image: composed-test/server:1\n    restart: always\n    depends_on: [a]\n";
    let root = support::project_dir(&[("etest/compose.yaml", compose)]);
    let runtime = root.join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    let fixture = support::Fixture {
        dir: root.join("etest"),
        name: "etest".into(),
    };
    fixture.cleanup();
    let log = runtime.join("daemon.log");
    let daemon = KillOnDrop(
        Command::new(support::composed_bin())
            .arg("--project")
            .arg(root.join("etest"))
            .arg("--runtime-dir")
            .arg(&runtime)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let running = |c: &str| inspect(c, "{{.State.Running}}") == "true";
    wait_until("the project is up", Duration::from_secs(30), || {
        running("etest-a-1") && running("etest-b-1")
    });
    let before = inspect("etest-b-1", "{{.State.StartedAt}}");

    // Stop the engine (every container stops with it) and start it again as the setup does.
    restart_dockerd("");
    wait_until("composed started the containers again", Duration::from_secs(90), || {
        running("etest-a-1") && running("etest-b-1") && inspect("etest-b-1", "{{.State.StartedAt}}") != before
    });
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("lost the Docker engine"), "{text}");
    assert!(text.contains("the Docker engine is back; reconverging"), "{text}");
    let a = inspect("etest-a-1", "{{.State.StartedAt}}");
    let b = inspect("etest-b-1", "{{.State.StartedAt}}");
    assert!(a <= b, "a must start before b, its dependent ({a} vs {b})");

    // With live-restore the engine keeps the containers running across its restart: composed
    // reconnects and adopts them, restarting nothing.
    restart_dockerd("--live-restore");
    wait_until("composed is back with the engine", Duration::from_secs(90), || {
        std::fs::read_to_string(&log).unwrap().matches("reconverging").count() >= 2
            && running("etest-a-1")
            && running("etest-b-1")
    });
    let kept = |c: &str| format!("{} {}", inspect(c, "{{.Id}}"), inspect(c, "{{.State.StartedAt}}"));
    let before = [kept("etest-a-1"), kept("etest-b-1")];
    restart_dockerd("--live-restore");
    wait_until(
        "composed is back with the engine again",
        Duration::from_secs(90),
        || std::fs::read_to_string(&log).unwrap().matches("reconverging").count() >= 3,
    );
    // Give a wrong restart time to show.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        [kept("etest-a-1"), kept("etest-b-1")],
        before,
        "containers the engine kept running are adopted, not restarted"
    );
    drop(daemon);
    fixture.cleanup();
    restart_dockerd("");
}

/// Stops the host's dockerd and starts it again as the setup does, with `flags`.
fn restart_dockerd(flags: &str) {
    Command::new("pkill").args(["-x", "dockerd"]).status().unwrap();
    wait_until("the old dockerd has exited", Duration::from_secs(60), || {
        !Command::new("pgrep")
            .args(["-x", "dockerd"])
            .status()
            .is_ok_and(|s| s.success())
    });
    Command::new("setsid")
        .args([
            "-f",
            "sh",
            "-c",
            &format!("PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH exec dockerd {flags} >> /var/log/dockerd.log 2>&1"),
        ])
        .status()
        .unwrap();
    wait_until("the engine is back", Duration::from_secs(60), support::engine_available);
}
