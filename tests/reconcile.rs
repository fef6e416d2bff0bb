//! The reconciler against a real Docker engine: `composed up`, `down`, `plan` on real containers.
//! Every test uses its own project name (tests share one engine and run in parallel).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{Fixture, docker};

fn engine() -> bool {
    support::require("docker", support::engine_available())
}

/// A busybox service that stays up and exits at once on SIGTERM.
const SERVER: &str = "composed-test/server:1";

#[test]
fn yelb_seed_comes_up_and_services_reach_each_other_by_name() {
    if !engine() {
        return;
    }
    let seed = support::repo().join("../shared/seeds/yelb.compose.yml");
    if !support::require("seeds", seed.is_file()) {
        return;
    }
    let f = Fixture::new("ctest-yelb", &std::fs::read_to_string(seed).unwrap());
    let out = f.up();
    for s in ["yelb-ui", "yelb-appserver", "redis-server", "yelb-db"] {
        assert!(out.contains(&format!("{s}: running")), "{out}");
    }
    let app = "ctest-yelb-yelb-appserver-1";
    for peer in ["redis-server", "yelb-db"] {
        docker(&["exec", app, "ping", "-c", "1", "-W", "2", peer]);
    }
    let labels = docker(&["inspect", app, "--format", "{{json .Config.Labels}}"]);
    for l in [
        "\"com.docker.compose.project\":\"ctest-yelb\"",
        "\"com.docker.compose.service\":\"yelb-appserver\"",
        "\"com.docker.compose.container-number\":\"1\"",
        "\"composed.config-hash\"",
    ] {
        assert!(labels.contains(l), "{l} missing from {labels}");
    }
    // compose's read-only commands need its label; it carries composed's own hash.
    let hash = |key: &str| {
        docker(&[
            "inspect",
            app,
            "--format",
            &format!("{{{{index .Config.Labels \"{key}\"}}}}"),
        ])
    };
    assert_eq!(hash("com.docker.compose.config-hash"), hash("composed.config-hash"));
    assert_eq!(
        docker(&["inspect", app, "--format", "{{.HostConfig.RestartPolicy.Name}}"]),
        "no"
    );
}

const APP: &str = r#"
services:
  db:
    image: composed-test/server:1
    environment: {VERSION: "1"}
  cache:
    image: composed-test/server:1
  web:
    image: composed-test/server:1
    depends_on:
      db: {condition: service_started, restart: true}
      cache: {condition: service_started}
"#;

#[test]
fn second_up_makes_no_engine_change_and_only_list_calls() {
    if !engine() {
        return;
    }
    let f = Fixture::new("ctest-noop", APP);
    f.up();
    let before = f.containers();
    let proxy = support::CountingProxy::start();
    let out = Command::new(support::composed_bin())
        .args(["up", "-p", &f.name])
        .current_dir(&f.dir)
        .env("DOCKER_HOST", proxy.host())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let calls = proxy.take();
    let mut kinds: Vec<String> = calls
        .iter()
        .map(|c| {
            let path = c.split(' ').nth(1).unwrap_or("").split('?').next().unwrap_or("");
            // Drop a leading API version segment (`/v1.45`), if any.
            let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            let skip = usize::from(
                parts[0].starts_with('v') && parts[0][1..].chars().all(|ch| ch.is_ascii_digit() || ch == '.'),
            );
            parts[skip..].join("/")
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec!["containers/json", "images/json", "networks", "volumes"],
        "calls: {calls:?}"
    );
    assert!(calls.iter().all(|c| c.starts_with("GET ")), "{calls:?}");
    assert_eq!(f.containers(), before);
}

#[test]
fn an_edit_recreates_only_that_service_and_restarts_dependents_that_asked() {
    if !engine() {
        return;
    }
    let f = Fixture::new("ctest-edit", APP);
    f.up();
    let before = f.containers();
    let started = |c: &str| docker(&["inspect", c, "--format", "{{.State.StartedAt}}"]);
    let web_started = started("ctest-edit-web-1");
    f.write(&APP.replace("VERSION: \"1\"", "VERSION: \"2\""));
    let (_, plan, _) = f.composed(&["plan"]);
    assert!(
        plan.contains("recreate ctest-edit-db-1 (its configuration changed)"),
        "{plan}"
    );
    assert!(plan.contains("restart ctest-edit-web-1"), "{plan}");
    assert!(plan.contains("keep ctest-edit-cache-1"), "{plan}");
    f.up();
    let after = f.containers();
    assert_ne!(
        before["ctest-edit-db-1"], after["ctest-edit-db-1"],
        "db must be a new container"
    );
    assert_eq!(
        before["ctest-edit-cache-1"], after["ctest-edit-cache-1"],
        "cache must be kept"
    );
    assert_eq!(
        before["ctest-edit-web-1"], after["ctest-edit-web-1"],
        "web is restarted, not recreated"
    );
    assert_ne!(
        started("ctest-edit-web-1"),
        web_started,
        "web (restart: true) must have been restarted"
    );
    assert_eq!(after.len(), 3, "{after:?}");
    assert_eq!(docker(&["exec", "ctest-edit-db-1", "sh", "-c", "echo $VERSION"]), "2");

    // Removing a service from the file removes its container on the next up.
    f.write(
        &APP.replace("  cache:\n    image: composed-test/server:1\n", "")
            .replace("      cache: {condition: service_started}\n", ""),
    );
    f.up();
    let after = f.containers();
    assert!(!after.contains_key("ctest-edit-cache-1"), "{after:?}");
    assert_eq!(after.len(), 2);
}

#[test]
fn service_healthy_waits_for_the_healthcheck_and_an_unhealthy_dependency_fails_the_dependent() {
    if !engine() {
        return;
    }
    let compose = r#"
services:
  db:
    image: composed-test/busybox:1
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3; touch /ready; sleep 1000 & wait"]
    healthcheck: {test: ["CMD", "test", "-f", "/ready"], interval: 500ms, retries: 30}
  app:
    image: composed-test/server:1
    depends_on:
      db: {condition: service_healthy}
  other:
    image: composed-test/server:1
"#;
    let f = Fixture::new("ctest-healthy", compose);
    let t0 = Instant::now();
    let out = f.up();
    assert!(out.contains("db: healthy") && out.contains("app: running"), "{out}");
    let started = |c: &str| {
        let t = docker(&["inspect", c, "--format", "{{.State.StartedAt}}"]);
        // RFC 3339 with nanoseconds: compare as (seconds, nanos) text is enough within one minute.
        let secs: f64 = t[17..t.len() - 1].parse().unwrap_or(0.0);
        let minutes: f64 = t[14..16].parse().unwrap_or(0.0);
        minutes * 60.0 + secs
    };
    let gap = started("ctest-healthy-app-1") - started("ctest-healthy-db-1");
    assert!(
        gap >= 2.9,
        "app started {gap:.2}s after db; it must wait for db to be healthy (about 3s)"
    );
    assert!(t0.elapsed() >= Duration::from_secs(3));

    let f = Fixture::new(
        "ctest-unhealthy",
        &compose
            .replace("touch /ready; ", "")
            .replace("retries: 30", "retries: 2"),
    );
    let (code, out, err) = f.composed(&["up"]);
    assert_ne!(code, 0);
    assert!(
        out.contains("app: failed: dependency `db` is unhealthy"),
        "{out}\n{err}"
    );
    assert!(
        out.contains("other: running"),
        "an unrelated service must still come up: {out}"
    );
    assert!(
        !f.containers().contains_key("ctest-unhealthy-app-1"),
        "app must not be created"
    );
}

#[test]
fn down_keeps_volumes_and_down_volumes_removes_only_the_projects_own() {
    if !engine() {
        return;
    }
    let _ = Command::new("docker")
        .args(["volume", "rm", "ctest-preexisting"])
        .output();
    docker(&["volume", "create", "ctest-preexisting"]);
    let compose = r#"
services:
  db:
    image: composed-test/server:1
    volumes: ["data:/data", "pre:/pre"]
volumes:
  data: {}
  pre:
    name: ctest-preexisting
"#;
    let f = Fixture::new("ctest-volumes", compose);
    f.up();
    docker(&["exec", "ctest-volumes-db-1", "sh", "-c", "echo kept > /data/file"]);
    let (code, _, err) = f.composed(&["down"]);
    assert_eq!(code, 0, "{err}");
    assert!(f.containers().is_empty());
    f.up();
    assert_eq!(docker(&["exec", "ctest-volumes-db-1", "cat", "/data/file"]), "kept");
    let (code, _, err) = f.composed(&["down", "--volumes"]);
    assert_eq!(code, 0, "{err}");
    let volumes = docker(&["volume", "ls", "--format", "{{.Name}}"]);
    assert!(
        !volumes.lines().any(|v| v == "ctest-volumes_data"),
        "the project's own volume must go with --volumes"
    );
    assert!(
        volumes.lines().any(|v| v == "ctest-preexisting"),
        "a pre-existing volume must never be removed"
    );
    docker(&["volume", "rm", "ctest-preexisting"]);
}

#[test]
fn killing_up_at_random_points_never_leaves_duplicates_or_orphans() {
    if !engine() {
        return;
    }
    let compose = |version: u32| {
        format!(
            r#"
services:
  a:
    image: {SERVER}
    environment: {{V: "{version}"}}
  b:
    image: {SERVER}
    depends_on: [a]
    environment: {{V: "{version}"}}
  c:
    image: {SERVER}
    depends_on: [b]
  d:
    image: {SERVER}
    deploy: {{replicas: 2}}
    environment: {{V: "{version}"}}
"#
        )
    };
    let f = Fixture::new("ctest-kill", &compose(0));
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    for round in 0..20 {
        f.write(&compose(round % 3));
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(seed % 700);
        let mut child = Command::new(support::composed_bin())
            .args(["up", "-p", &f.name])
            .current_dir(&f.dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
    }
    f.up();
    let names: Vec<String> = f.containers().into_keys().collect();
    assert_eq!(
        names,
        vec![
            "ctest-kill-a-1",
            "ctest-kill-b-1",
            "ctest-kill-c-1",
            "ctest-kill-d-1",
            "ctest-kill-d-2"
        ],
        "exactly one container per service and replica, nothing parked or orphaned"
    );
    let (_, plan, _) = f.composed(&["plan"]);
    assert!(plan.contains("up to date"), "{plan}");
}

#[test]
fn a_build_section_is_built_through_the_engine() {
    if !engine() {
        return;
    }
    let f = Fixture::new(
        "ctest-build",
        "services:\n  app:\n    build:\n      context: ./app\n      args: {GREETING: built-by-composed}\n",
    );
    std::fs::create_dir_all(f.dir.join("app")).unwrap();
    std::fs::write(
        f.dir.join("app/Dockerfile"),
        "FROM composed-test/server:1\nARG GREETING\nRUN echo $GREETING > /greeting\n",
    )
    .unwrap();
    let (_, plan, _) = f.composed(&["plan"]);
    assert!(plan.contains("build ctest-build-app"), "{plan}");
    let out = f.up();
    assert!(out.contains("app: running"), "{out}");
    assert_eq!(
        docker(&["exec", "ctest-build-app-1", "cat", "/greeting"]),
        "built-by-composed"
    );
    let _ = Command::new("docker").args(["rmi", "-f", "ctest-build-app"]).output();
}

#[test]
fn engine_errors_are_clear() {
    if !engine() {
        return;
    }
    let f = Fixture::new("ctest-errors", "services:\n  a:\n    image: composed-test/server:1\n");
    let out = Command::new(support::composed_bin())
        .args(["ps", "-p", &f.name])
        .current_dir(&f.dir)
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("the Docker engine at unix:///nonexistent/docker.sock is not running"),
        "{err}"
    );

    // An unprivileged user on the root-owned socket. The binary and the file are copied where
    // that user can reach them (the checkout may be under a private home directory).
    let shared = std::env::temp_dir().join(format!("composed-nobody-{}", std::process::id()));
    std::fs::create_dir_all(&shared).unwrap();
    let bin = shared.join("composed");
    std::fs::copy(support::composed_bin(), &bin).unwrap();
    std::fs::copy(f.dir.join("compose.yaml"), shared.join("compose.yaml")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    for p in [&shared, &bin] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(shared.join("compose.yaml"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["ps", "-p", &f.name, "-f"])
        .arg(shared.join("compose.yaml"))
        .current_dir("/")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&shared);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("permission denied on the Docker socket"), "{err}");
}

#[test]
fn check_and_plan_warn_when_an_image_volume_has_no_named_volume() {
    if !engine() {
        return;
    }
    let f = Fixture::new(
        "ctest-anonwarn",
        &format!(
            "services:\n  db:\n    image: {}\n  named:\n    image: {}\n    volumes: [keep:/data]\nvolumes:\n  keep: {{}}\n",
            support::VOLUME_IMAGE,
            support::VOLUME_IMAGE
        ),
    );
    for command in ["check", "plan"] {
        let (code, out, err) = f.composed(&[command]);
        assert_eq!(code, 0, "{out}{err}");
        let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning:")).collect();
        assert_eq!(warnings.len(), 1, "{command}: {err}");
        assert!(
            warnings[0].contains("service `db`") && warnings[0].contains("/data"),
            "{}",
            warnings[0]
        );
        assert!(err.contains("db-data:/data"), "{err}");
    }
}

#[test]
fn plan_names_the_fields_that_changed_with_secret_values_hidden() {
    if !engine() {
        return;
    }
    let file = |image: &str, secret: &str| {
        format!("services:\n  app:\n    image: {image}\n    environment: {{SECRET: {secret}, PLAIN: same}}\n")
    };
    let f = Fixture::new("ctest-why", &file("composed-test/server:1", "hunter2"));
    f.up();
    f.write(&file("composed-test/server:1", "swordfish"));
    let (code, out, err) = f.composed(&["plan"]);
    assert_eq!(code, 0, "{err}");
    let why: Vec<&str> = out.lines().skip_while(|l| !l.contains("recreate")).skip(1).collect();
    assert_eq!(why, ["      environment.SECRET: (changed; values hidden)"], "{out}");
    let (_, json, _) = f.composed(&["plan", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let changes = &v["services"][0]["containers"][0]["changes"];
    assert_eq!(
        changes,
        &serde_json::json!([{"field": "environment.SECRET", "old": "hidden", "new": "hidden"}]),
        "{json}"
    );
    for text in [&out, &json, &err] {
        assert!(!text.contains("hunter2") && !text.contains("swordfish"), "{text}");
    }

    f.write(&file("composed-test/busybox:1", "hunter2"));
    let (_, out, _) = f.composed(&["plan"]);
    let why: Vec<&str> = out.lines().skip_while(|l| !l.contains("recreate")).skip(1).collect();
    assert_eq!(
        why,
        ["      image: composed-test/server:1 → composed-test/busybox:1"],
        "{out}"
    );
}
