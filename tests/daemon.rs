//! The daemon on a real engine, outside systemd but speaking systemd's notify protocol to a
//! datagram socket the test binds (`NOTIFY_SOCKET`): readiness only once services are ready,
//! restarts with backoff, hot reload of edits, refusal of bad edits, SIGHUP, SIGTERM, a second
//! daemon refused, adoption after `kill -9`, and a re-exec (SIGUSR2) under the same PID that
//! touches no container and forwards every line of output exactly once.

mod support;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::daemon::Daemon;
use support::{KillOnDrop, docker, inspect, wait_until};

const PROJECT: &str = r#"
services:
  db:
    image: composed-test/busybox:1
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 2; touch /ready; sleep 100000 & wait"]
    healthcheck: {test: ["CMD", "test", "-f", "/ready"], interval: 500ms, retries: 20}
    restart: always
    volumes: ["data:/data"]
  web:
    image: composed-test/server:1
    environment: {VERSION: "1"}
    restart: always
    depends_on:
      db: {condition: service_healthy}
volumes:
  data: {}
"#;

#[test]
fn the_daemon_supervises_reloads_and_stops_cleanly() {
    if !support::require("docker", support::engine_available()) {
        return;
    }
    let root = support::project_dir(&[("dtest/compose.yaml", PROJECT)]);
    let dir = root.join("dtest");
    let runtime = root.join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    let fixture = support::Fixture {
        dir: dir.clone(),
        name: "dtest".into(),
    };
    fixture.cleanup();

    // READY only once db is healthy (about 2 s) and web runs.
    let started = Instant::now();
    let mut d = Daemon::start(&dir, &runtime, "a");
    let ready = d.expect("READY=1", Duration::from_secs(60));
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "READY came before db could be healthy"
    );
    assert!(ready.contains("STATUS=dtest: 2/2 ready"), "{ready}");
    assert_eq!(inspect("dtest-db-1", "{{.State.Health.Status}}"), "healthy");

    // A second daemon for the same project is refused, naming the first.
    let mut second = Daemon::start(&dir, &runtime, "b");
    assert_ne!(second.wait_exit(Duration::from_secs(20)), 0);
    assert!(
        second.log_text().contains("already managed by another composed (pid"),
        "{}",
        second.log_text()
    );

    // docker kill: restarted, with the reason in the log; a second kill waits longer.
    let web_id = inspect("dtest-web-1", "{{.Id}}");
    for attempt in 1..=2 {
        let before = inspect("dtest-web-1", "{{.State.StartedAt}}");
        docker(&["kill", "dtest-web-1"]);
        wait_until("web is restarted", Duration::from_secs(20), || {
            inspect("dtest-web-1", "{{.State.Running}}") == "true"
                && inspect("dtest-web-1", "{{.State.StartedAt}}") != before
        });
        let delay = ["0s", "100ms"][attempt - 1];
        assert!(
            d.log_text()
                .contains(&format!("restarting in {delay} (attempt {attempt})")),
            "{}",
            d.log_text()
        );
    }
    assert_eq!(
        inspect("dtest-web-1", "{{.Id}}"),
        web_id,
        "a restart keeps the container"
    );

    // An edit to web's environment recreates web only, with no command typed.
    let db_id = inspect("dtest-db-1", "{{.Id}}");
    std::fs::write(
        dir.join("compose.yaml"),
        PROJECT.replace("VERSION: \"1\"", "VERSION: \"2\""),
    )
    .unwrap();
    wait_until("web is recreated", Duration::from_secs(30), || {
        let id = inspect("dtest-web-1", "{{.Id}}");
        !id.is_empty() && id != web_id && inspect("dtest-web-1", "{{.State.Running}}") == "true"
    });
    assert_eq!(inspect("dtest-db-1", "{{.Id}}"), db_id, "db must not be touched");

    // A syntax error is refused: STATUS and log say where, everything keeps running.
    let web_id = inspect("dtest-web-1", "{{.Id}}");
    std::fs::write(
        dir.join("compose.yaml"),
        PROJECT.replace("  web:\n", "  web:\n   bad: [\n"),
    )
    .unwrap();
    let status = d.expect("config error at", Duration::from_secs(20));
    assert!(status.contains("compose.yaml:"), "{status}");
    assert!(status.contains("running last good config"), "{status}");
    assert!(d.log_text().contains("the edit was refused"), "{}", d.log_text());
    assert_eq!(inspect("dtest-web-1", "{{.Id}}"), web_id);

    // SIGHUP: RELOADING then READY again.
    std::fs::write(
        dir.join("compose.yaml"),
        PROJECT.replace("VERSION: \"1\"", "VERSION: \"2\""),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    d.signal("HUP");
    d.expect("RELOADING=1", Duration::from_secs(10));
    d.expect("READY=1", Duration::from_secs(10));

    // kill -9, start again: the running containers are adopted, not restarted.
    let started_at = inspect("dtest-web-1", "{{.State.StartedAt}}");
    d.signal("KILL");
    d.wait_exit(Duration::from_secs(5));
    let mut d = Daemon::start(&dir, &runtime, "c");
    d.expect("READY=1", Duration::from_secs(30));
    assert_eq!(inspect("dtest-web-1", "{{.Id}}"), web_id);
    assert_eq!(
        inspect("dtest-web-1", "{{.State.StartedAt}}"),
        started_at,
        "adoption must not restart a healthy container"
    );

    // SIGTERM: STOPPING, containers stopped and kept, the volume kept, exit 0.
    let ids = fixture.containers();
    d.signal("TERM");
    d.expect("STOPPING=1", Duration::from_secs(10));
    assert_eq!(d.wait_exit(Duration::from_secs(60)), 0, "{}", d.log_text());
    assert_eq!(fixture.containers(), ids, "a stop keeps the containers");
    for name in ids.keys() {
        assert_eq!(inspect(name, "{{.State.Running}}"), "false", "{name} is stopped");
    }
    assert!(
        docker(&["volume", "ls", "--format", "{{.Name}}"])
            .lines()
            .any(|v| v == "dtest_data")
    );
}

/// Reads journal entries (native protocol) from a socket standing in for the journal's.
/// Every journal entry received, each as its fields.
type Entries = std::sync::Arc<std::sync::Mutex<Vec<Vec<(String, Vec<u8>)>>>>;

fn journal_sink(path: &Path) -> Entries {
    let _ = std::fs::remove_file(path);
    let socket = UnixDatagram::bind(path).unwrap();
    let entries = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = entries.clone();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        while let Ok(n) = socket.recv(&mut buf) {
            sink.lock().unwrap().push(composed::journal::native::decode(&buf[..n]));
        }
    });
    entries
}

fn field<'a>(entry: &'a [(String, Vec<u8>)], key: &str) -> Option<&'a str> {
    entry
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
}

#[test]
fn container_output_goes_to_the_journal_once_with_dockers_fields() {
    if !support::require("docker", support::engine_available()) {
        return;
    }
    let lines = 20_000;
    let compose = format!(
        "services:\n  chatty:\n    image: composed-test/busybox:1\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; seq 1 {lines}; echo oops >&2; sleep 100000 & wait\"]\n"
    );
    let root = support::project_dir(&[("jtest/compose.yaml", &compose)]);
    let dir = root.join("jtest");
    let runtime = root.join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    let fixture = support::Fixture {
        dir: dir.clone(),
        name: "jtest".into(),
    };
    fixture.cleanup();
    let journal = root.join("journal.sock");
    let entries = journal_sink(&journal);
    let start = |tag: &str| {
        let log = runtime.join(format!("daemon-{tag}.log"));
        KillOnDrop(
            Command::new(support::composed_bin())
                .args(["--project"])
                .arg(&dir)
                .arg("--runtime-dir")
                .arg(&runtime)
                .env("COMPOSED_JOURNAL_SOCKET", &journal)
                // Every line, to check completeness and order (the limit has its own test).
                .env("COMPOSED_LOG_RATE_LIMIT", "0")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap(),
        )
    };
    let daemon = start("a");
    let count = |entries: &Entries| entries.lock().unwrap().len();
    wait_until("every line reached the journal", Duration::from_secs(60), || {
        count(&entries) > lines
    });
    {
        let got = entries.lock().unwrap();
        let out: Vec<&Vec<(String, Vec<u8>)>> = got.iter().filter(|e| field(e, "PRIORITY") == Some("6")).collect();
        assert_eq!(out.len(), lines, "every stdout line once");
        for (i, e) in out.iter().enumerate() {
            assert_eq!(
                field(e, "MESSAGE"),
                Some((i + 1).to_string().as_str()),
                "lines in order"
            );
        }
        let err = got
            .iter()
            .find(|e| field(e, "PRIORITY") == Some("3"))
            .expect("the stderr line");
        assert_eq!(field(err, "MESSAGE"), Some("oops"));
        let id = inspect("jtest-chatty-1", "{{.Id}}");
        for (key, want) in [
            ("CONTAINER_ID", &id[..12]),
            ("CONTAINER_ID_FULL", id.as_str()),
            ("CONTAINER_NAME", "jtest-chatty-1"),
            ("IMAGE_NAME", "composed-test/busybox:1"),
            ("SYSLOG_IDENTIFIER", "jtest-chatty-1"),
            ("COMPOSE_PROJECT", "jtest"),
            ("COMPOSE_SERVICE", "chatty"),
        ] {
            assert_eq!(field(err, key), Some(want), "{key}");
        }
    }
    // kill -9 and start again: forwarding resumes without sending old lines twice. A cursor is
    // saved within 150 ms of the lines before it (a kill sooner may repeat those): give it that.
    std::thread::sleep(Duration::from_millis(500));
    let before = count(&entries);
    drop(daemon);
    let daemon = start("b");
    std::thread::sleep(Duration::from_secs(3));
    docker(&[
        "exec",
        "jtest-chatty-1",
        "sh",
        "-c",
        "echo after-restart > /proc/1/fd/1",
    ]);
    wait_until("the new line arrives", Duration::from_secs(20), || {
        entries
            .lock()
            .unwrap()
            .iter()
            .any(|e| field(e, "MESSAGE") == Some("after-restart"))
    });
    assert_eq!(
        count(&entries),
        before + 1,
        "only the new line is forwarded after a restart of composed"
    );
    drop(daemon);
}

#[test]
fn a_reexec_keeps_the_pid_the_containers_and_every_log_line_once() {
    if !support::require("docker", support::engine_available()) {
        return;
    }
    let compose = "services:\n  ticker:\n    image: composed-test/busybox:1\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; i=0; while true; do i=$$((i+1)); echo tick $$i; done\"]\n";
    let root = support::project_dir(&[("rtest/compose.yaml", compose)]);
    let dir = root.join("rtest");
    let runtime = root.join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    let fixture = support::Fixture {
        dir: dir.clone(),
        name: "rtest".into(),
    };
    fixture.cleanup();
    let journal = root.join("journal.sock");
    let entries = journal_sink(&journal);
    // The ticker prints as fast as it can: over the default line limit (10,000 in 30 s) on a
    // fast machine, which drops lines by design. Every line is expected here, so the limit is
    // off (its own tests are in src/journal/limit.rs).
    let env: [(&str, &Path); 2] = [
        ("COMPOSED_JOURNAL_SOCKET", &journal),
        ("COMPOSED_LOG_RATE_LIMIT", Path::new("0")),
    ];
    let mut d = Daemon::start_with(&dir, &runtime, "r", &env);
    d.expect("READY=1", Duration::from_secs(30));
    let ticks = |entries: &Entries| -> Vec<u64> {
        entries
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| field(e, "MESSAGE")?.strip_prefix("tick ")?.parse().ok())
            .collect()
    };
    wait_until("ticks arrive", Duration::from_secs(20), || ticks(&entries).len() > 200);
    let id = inspect("rtest-ticker-1", "{{.Id}}");
    let started = inspect("rtest-ticker-1", "{{.State.StartedAt}}");
    let pid = d.child.id();

    d.signal("USR2");
    d.expect("RELOADING=1", Duration::from_secs(10));
    d.expect("READY=1", Duration::from_secs(30));
    assert!(d.child.try_wait().unwrap().is_none(), "the same process goes on");
    assert!(
        d.log_text().contains(&format!("re-executed in place (pid {pid})")),
        "{}",
        d.log_text()
    );
    let before = ticks(&entries).len();
    wait_until("ticks go on after the re-exec", Duration::from_secs(20), || {
        ticks(&entries).len() > before + 200
    });
    assert_eq!(inspect("rtest-ticker-1", "{{.Id}}"), id);
    assert_eq!(
        inspect("rtest-ticker-1", "{{.State.StartedAt}}"),
        started,
        "not restarted"
    );
    let got = ticks(&entries);
    let first = got[0];
    let expected: Vec<u64> = (first..first + got.len() as u64).collect();
    assert_eq!(got, expected, "every line once and in order across the re-exec");
    d.signal("TERM");
    d.wait_exit(Duration::from_secs(30));
}

#[test]
fn a_project_added_later_is_watched_and_hot_reloaded() {
    if !support::require("docker", support::engine_available()) {
        return;
    }
    let image = support::TEST_IMAGE;
    let file = |edit: &str| {
        format!(
            "services:\n  web:\n    image: {image}\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 100000 & wait\"]\n    environment: {{EDIT: '{edit}'}}\n"
        )
    };
    let root = support::project_dir(&[("first/compose.yaml", &file("1"))]);
    let runtime = root.join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    let fixtures: Vec<support::Fixture> = ["first", "late"]
        .iter()
        .map(|name| support::Fixture {
            dir: root.join(name),
            name: name.to_string(),
        })
        .collect();
    fixtures.iter().for_each(support::Fixture::cleanup);
    let mut d = Daemon::start_root(&root, &runtime, "late");
    d.expect("READY=1", Duration::from_secs(60));

    // A project directory made after the start is found, and its own edits are followed.
    std::fs::create_dir(root.join("late")).unwrap();
    std::fs::write(root.join("late/compose.yaml"), file("1")).unwrap();
    wait_until("the new project runs", Duration::from_secs(30), || {
        inspect("late-web-1", "{{.State.Running}}") == "true"
    });
    let before = inspect("late-web-1", "{{.Id}}");
    std::fs::write(root.join("late/compose.yaml"), file("2")).unwrap();
    wait_until(
        "the edit of the new project is applied",
        Duration::from_secs(30),
        || {
            let id = inspect("late-web-1", "{{.Id}}");
            !id.is_empty() && id != before && inspect("late-web-1", "{{json .Config.Env}}").contains("EDIT=2")
        },
    );
    d.signal("TERM");
    assert_eq!(d.wait_exit(Duration::from_secs(60)), 0, "{}", d.log_text());
    fixtures.iter().for_each(support::Fixture::cleanup);
}

#[test]
fn a_chatty_container_is_limited_and_the_drop_is_reported_once() {
    if !support::require("docker", support::engine_available()) {
        return;
    }
    let compose =
        "services:\n  flood:\n    image: composed-test/busybox:1\n    command: [\"sh\", \"-c\", \"seq 1 5000\"]\n";
    let root = support::project_dir(&[("ltest/compose.yaml", compose)]);
    let dir = root.join("ltest");
    let runtime = root.join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    let fixture = support::Fixture {
        dir: dir.clone(),
        name: "ltest".into(),
    };
    fixture.cleanup();
    let journal = root.join("journal.sock");
    let entries = journal_sink(&journal);
    let _daemon = KillOnDrop(
        Command::new(support::composed_bin())
            .arg("--project")
            .arg(&dir)
            .arg("--runtime-dir")
            .arg(&runtime)
            .env("COMPOSED_JOURNAL_SOCKET", &journal)
            .env("COMPOSED_LOG_RATE_LIMIT", "1000/600")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(runtime.join("daemon.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let report = |entries: &Entries| {
        entries
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| field(e, "MESSAGE").map(str::to_string))
            .find(|m| m.contains("lines dropped"))
    };
    wait_until("the drop is reported", Duration::from_secs(60), || {
        report(&entries).is_some()
    });
    std::thread::sleep(Duration::from_secs(1));
    let got = entries.lock().unwrap();
    let lines: Vec<&str> = got
        .iter()
        .filter(|e| field(e, "CONTAINER_NAME") == Some("ltest-flood-1") && field(e, "PRIORITY") == Some("6"))
        .filter_map(|e| field(e, "MESSAGE"))
        .collect();
    assert_eq!(lines.len(), 1000, "the first 1000 lines, then the limit");
    assert_eq!((lines[0], lines[999]), ("1", "1000"));
    let reports: Vec<&str> = got
        .iter()
        .filter_map(|e| field(e, "MESSAGE"))
        .filter(|m| m.contains("lines dropped"))
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        reports[0].contains("ltest-flood-1: 4000 lines dropped"),
        "{}",
        reports[0]
    );
    drop(got);
    fixture.cleanup();
}

/// Edits an attacker could make where composed reads: each is refused with the file named, the
/// running container is left alone, and the daemon keeps answering systemd's watchdog.
#[test]
fn hostile_edits_are_refused_and_the_daemon_stays_responsive() {
    use std::os::unix::fs::{PermissionsExt, symlink};
    if !support::require("docker", support::engine_available()) {
        return;
    }
    let compose = "services:\n  web:\n    image: composed-test/busybox:1\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 100000 & wait\"]\n    env_file: ./app.env\n";
    let root = support::project_dir(&[("htest/compose.yaml", compose), ("htest/app.env", "VALUE=safe\n")]);
    let dir = root.join("htest");
    let runtime = root.join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    // A directory anyone may write (not sticky): what is in it is anyone's.
    let open = root.join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::write(open.join("evil.env"), "VALUE=evil\n").unwrap();
    let fixture = support::Fixture {
        dir: dir.clone(),
        name: "htest".into(),
    };
    fixture.cleanup();
    let watchdog = std::ffi::OsString::from("2000000");
    let mut d = Daemon::start_with(&dir, &runtime, "hostile", &[("WATCHDOG_USEC", Path::new(&watchdog))]);
    d.expect("READY=1", Duration::from_secs(60));
    let id = inspect("htest-web-1", "{{.Id}}");
    let env_file = dir.join("app.env");
    let put_back = |path: &Path, text: &str| {
        let temp = path.with_extension("tmp");
        std::fs::write(&temp, text).unwrap();
        std::fs::rename(&temp, path).unwrap();
    };
    let refused = |d: &mut Daemon, what: &str, named: &str| {
        let status = d.expect("STATUS=htest: config error at", Duration::from_secs(20));
        assert!(!status.contains("evil"), "{what}: {status}");
        d.expect("WATCHDOG=1", Duration::from_secs(5));
        assert!(
            d.log_text().contains(named),
            "{what}: the journal does not name {named}:\n{}",
            d.log_text()
        );
    };
    let recovered = |d: &mut Daemon| {
        d.expect("STATUS=htest: 1/1 ready", Duration::from_secs(20));
    };

    // A FIFO, and /dev/zero, as the env file: refused at once (neither blocks nor fills memory).
    std::fs::remove_file(&env_file).unwrap();
    assert!(Command::new("mkfifo").arg(&env_file).status().unwrap().success());
    refused(&mut d, "a FIFO", "a named pipe");
    std::fs::remove_file(&env_file).unwrap();
    symlink("/dev/zero", &env_file).unwrap();
    refused(&mut d, "/dev/zero", "a device");
    std::fs::remove_file(&env_file).unwrap();
    put_back(&env_file, "VALUE=safe\n");
    recovered(&mut d);

    // A symlink planted to a file in a directory others can write.
    std::fs::remove_file(&env_file).unwrap();
    symlink(open.join("evil.env"), &env_file).unwrap();
    refused(&mut d, "a planted symlink", "writable by everyone");
    std::fs::remove_file(&env_file).unwrap();
    put_back(&env_file, "VALUE=safe\n");
    recovered(&mut d);

    // The project directory made writable by its group.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o775)).unwrap();
    put_back(&dir.join("compose.yaml"), compose);
    refused(&mut d, "a group-writable directory", "writable by its group");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    put_back(&dir.join("compose.yaml"), compose);
    recovered(&mut d);

    // The env file swapped between a safe file and a symlink to the open directory, over and
    // over for a few seconds: the unsafe content is never applied.
    let swapping = {
        let (env_file, evil) = (env_file.clone(), open.join("evil.env"));
        std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(4);
            let link = env_file.with_extension("link");
            let safe = env_file.with_extension("safe");
            while Instant::now() < until {
                let _ = std::fs::remove_file(&link);
                symlink(&evil, &link).unwrap();
                std::fs::rename(&link, &env_file).unwrap();
                std::fs::write(&safe, "VALUE=safe\n").unwrap();
                std::fs::rename(&safe, &env_file).unwrap();
            }
        })
    };
    swapping.join().unwrap();
    d.expect("WATCHDOG=1", Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        inspect("htest-web-1", "{{.Id}}"),
        id,
        "the container was never replaced"
    );
    assert!(inspect("htest-web-1", "{{json .Config.Env}}").contains("VALUE=safe"));
    d.signal("TERM");
    assert_eq!(d.wait_exit(Duration::from_secs(60)), 0, "{}", d.log_text());
    fixture.cleanup();
}
