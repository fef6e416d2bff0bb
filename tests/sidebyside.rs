//! Side by side with Docker Compose v2 on the same engine: the containers composed creates and the
//! ones `docker compose up` creates from the same file agree (`docker inspect`) on every field a
//! compose file can set: the whole `HostConfig` (resources, namespaces, devices, links, logging,
//! DNS...) but the restart policy composed owns, the mounts the engine made, environment, command,
//! labels, ports, healthcheck, and each network endpoint (aliases, links, addresses, MAC,
//! interface options, gateway priority).

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

/// HostConfig fields that differ by design, or are compared through `Mounts` (the mounts the
/// engine made, whichever form asked for them): composed owns restarts (the engine's policy is
/// always `no`), and mounts may be asked for as `Binds` or `Mounts`.
const HOST_FIELDS_NOT_COMPARED: &[&str] = &["Binds", "Mounts", "RestartPolicy", "ConsoleSize", "ContainerIDFile"];

/// The compared fields of one container: every `HostConfig` field (but the above), the
/// `Config` fields a compose file sets, the effective mounts, and each network endpoint, with
/// the project name replaced by `PROJECT` and container ids by `CONTAINER:<name>`.
fn fingerprint(container: &str, project: &str, ids: &BTreeMap<String, String>) -> Value {
    let mut text = support::docker(&["inspect", container]);
    for (id, name) in ids {
        text = text.replace(id.as_str(), &format!("CONTAINER:{name}"));
        text = text.replace(&id[..12], &format!("CONTAINER:{name}"));
    }
    let text = text.replace(project, "PROJECT");
    let v: Value = serde_json::from_str(&text).unwrap();
    let c = &v[0];
    let mut host = c["HostConfig"].as_object().cloned().unwrap_or_default();
    for field in HOST_FIELDS_NOT_COMPARED {
        host.remove(*field);
    }
    for list in ["Links", "ExtraHosts", "Ulimits"] {
        if let Some(Value::Array(items)) = host.get_mut(list) {
            items.sort_by_key(|i| i.to_string());
        }
    }
    // Representation only: compose names a container by id where composed names it by name,
    // and writes capabilities with their `CAP_` prefix; the engine reads both the same.
    for (field, prefix) in [("VolumesFrom", "CONTAINER:"), ("CapAdd", "CAP_"), ("CapDrop", "CAP_")] {
        if let Some(Value::Array(items)) = host.get_mut(field) {
            for item in items.iter_mut() {
                if let Some(text) = item.as_str().and_then(|t| t.strip_prefix(prefix)) {
                    *item = Value::String(text.to_string());
                }
            }
        }
    }
    let mut mounts: Vec<Value> = c["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            // An image mount's source is the image's layer directory, one per container.
            let source = match m["Type"].as_str() {
                Some("volume") => m["Name"].clone(),
                Some("image") => Value::Null,
                _ => m["Source"].clone(),
            };
            json!({"type": m["Type"], "source": source, "target": m["Destination"], "rw": m["RW"]})
        })
        .collect();
    mounts.sort_by_key(|m| m["target"].to_string());
    let config = &c["Config"];
    let mut env: Vec<Value> = config["Env"].as_array().cloned().unwrap_or_default();
    env.sort_by_key(|e| e.to_string());
    let labels: BTreeMap<String, Value> = config["Labels"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| {
            !k.starts_with("composed.")
                && (!k.starts_with("com.docker.compose.")
                    || ["project", "service", "container-number", "oneoff"]
                        .iter()
                        .any(|own| k.as_str() == format!("com.docker.compose.{own}")))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let exposed: BTreeMap<String, Value> = config["ExposedPorts"]
        .as_object()
        .map(|o| {
            o.keys()
                .map(|k| (if k.contains('/') { k.clone() } else { format!("{k}/tcp") }, json!({})))
                .collect()
        })
        .unwrap_or_default();
    let mut networks = BTreeMap::new();
    for (net, e) in c["NetworkSettings"]["Networks"].as_object().unwrap() {
        let mut aliases: Vec<Value> = e["Aliases"].as_array().cloned().unwrap_or_default();
        aliases.retain(|a| !a.as_str().unwrap_or_default().starts_with("CONTAINER:"));
        aliases.sort_by_key(|a| a.to_string());
        let mut links: Vec<Value> = e["Links"].as_array().cloned().unwrap_or_default();
        links.sort_by_key(|l| l.to_string());
        // A MAC the engine generated differs between any two containers; one the file set not.
        let mac = e["MacAddress"]
            .as_str()
            .filter(|m| m.starts_with("02:42:ac:1f"))
            .map(str::to_string);
        networks.insert(
            net.clone(),
            json!({"aliases": aliases, "links": links, "mac": mac, "ipam": e["IPAMConfig"],
                   "driver_opts": e["DriverOpts"], "gw_priority": e["GwPriority"]}),
        );
    }
    let fields = json!({
        "host": Value::Object(host),
        "mounts": mounts,
        "env": env,
        "labels": labels,
        "exposed": exposed,
        "networks": networks,
        "image": config["Image"],
        "cmd": config["Cmd"],
        "entrypoint": config["Entrypoint"],
        "user": config["User"],
        "working_dir": config["WorkingDir"],
        "hostname": config["Hostname"],
        "domainname": config["Domainname"],
        "tty": config["Tty"],
        "open_stdin": config["OpenStdin"],
        "healthcheck": config["Healthcheck"],
        "stop_signal": config["StopSignal"],
        "stop_timeout": config["StopTimeout"],
    });
    without_empties(fields)
}

/// Representation-only differences: an absent, `null`, empty or zero value is the same as none.
fn without_empties(v: Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (k, without_empties(v)))
                .filter(|(_, v)| !is_nothing(v))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(without_empties).collect()),
        other => other,
    }
}

fn is_nothing(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// Container id -> name (project replaced), for every container of `project`.
fn container_ids(project: &str) -> BTreeMap<String, String> {
    let filter = format!("label=com.docker.compose.project={project}");
    support::docker(&[
        "ps",
        "-a",
        "--no-trunc",
        "--filter",
        &filter,
        "--format",
        "{{.ID}} {{.Names}}",
    ])
    .lines()
    .filter_map(|l| l.split_once(' '))
    .map(|(id, name)| (id.to_string(), name.replace(project, "PROJECT")))
    .collect()
}

fn containers(project: &str) -> Vec<String> {
    let filter = format!("label=com.docker.compose.project={project}");
    let mut names: Vec<String> = support::docker(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"])
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Brings `file` up with each tool in turn (the same host ports cannot be bound twice), and
/// returns each tool's fingerprints by container name with the project replaced.
fn compare(compose_cmd: &[String], dir: &Path, file: &str, tag: &str) -> Vec<String> {
    let theirs_name = format!("sbs-compose-{tag}");
    let ours_name = format!("sbs-composed-{tag}");
    let mut theirs_cmd = Command::new(&compose_cmd[0]);
    theirs_cmd
        .args(&compose_cmd[1..])
        .args(["-p", &theirs_name, "-f", file, "up", "-d"])
        .current_dir(dir);
    run(&mut theirs_cmd);
    let ids = container_ids(&theirs_name);
    let mut theirs: BTreeMap<String, Value> = containers(&theirs_name)
        .iter()
        .map(|c| (c.replace(&theirs_name, "PROJECT"), fingerprint(c, &theirs_name, &ids)))
        .collect();
    theirs.insert("probes".into(), probes(dir, &theirs_name));
    let mut down = Command::new(&compose_cmd[0]);
    down.args(&compose_cmd[1..])
        .args(["-p", &theirs_name, "-f", file, "down", "-v"])
        .current_dir(dir);
    run(&mut down);

    let f = support::Fixture {
        dir: dir.to_path_buf(),
        name: ours_name.clone(),
    };
    let (code, out, err) = support::composed(dir, &["up", "-p", &ours_name, "-f", file]);
    assert_eq!(code, 0, "{out}{err}");
    let ids = container_ids(&ours_name);
    let mut ours: BTreeMap<String, Value> = containers(&ours_name)
        .iter()
        .map(|c| (c.replace(&ours_name, "PROJECT"), fingerprint(c, &ours_name, &ids)))
        .collect();
    ours.insert("probes".into(), probes(dir, &ours_name));
    drop(f);

    let mut differences = Vec::new();
    assert_eq!(
        theirs.keys().collect::<Vec<_>>(),
        ours.keys().collect::<Vec<_>>(),
        "{tag}: container names differ"
    );
    for (name, t) in &theirs {
        differ(&format!("{tag} {name}"), t, &ours[name], &mut differences);
    }
    differences
}

/// What the case's `probes` file asks of the running containers: one `SERVICE COMMAND...` per
/// line, run with `docker exec`; the output (or the failure) of each, by line. Files copied in,
/// hooks that ran, and the like.
fn probes(dir: &Path, project: &str) -> Value {
    let text = std::fs::read_to_string(dir.join("probes")).unwrap_or_default();
    let mut out = serde_json::Map::new();
    for line in text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let mut words = line.split_whitespace();
        let service = words.next().unwrap();
        let container = format!("{project}-{service}-1");
        let result = Command::new("docker")
            .arg("exec")
            .arg(&container)
            .args(words)
            .output()
            .unwrap();
        let answer = match result.status.success() {
            true => String::from_utf8_lossy(&result.stdout).trim().to_string(),
            false => format!("failed: {}", String::from_utf8_lossy(&result.stderr).trim()),
        };
        out.insert(line.to_string(), Value::String(answer.replace(project, "PROJECT")));
    }
    Value::Object(out)
}

/// Each field (to the leaves of objects) where the two fingerprints differ.
fn differ(path: &str, theirs: &Value, ours: &Value, out: &mut Vec<String>) {
    match (theirs, ours) {
        (Value::Object(t), Value::Object(o)) => {
            for key in t.keys().chain(o.keys().filter(|k| !t.contains_key(*k))) {
                let none = Value::Null;
                let (tv, ov) = (t.get(key).unwrap_or(&none), o.get(key).unwrap_or(&none));
                differ(&format!("{path}.{key}"), tv, ov, out);
            }
        }
        (t, o) if t != o => out.push(format!("{path}: compose {t} vs composed {o}")),
        _ => {}
    }
}

#[test]
fn containers_agree_with_docker_compose() {
    let compose = support::docker_compose();
    if !support::require("compose", compose.is_some()) || !support::require("docker", support::engine_available()) {
        return;
    }
    let compose = compose.unwrap();
    let mut differences = Vec::new();
    let seeds = support::repo().join("../shared/seeds");
    for seed in ["postgres", "yelb"] {
        differences.extend(compare(&compose, &seeds, &format!("{seed}.compose.yml"), seed));
    }
    for case in ["rich", "spec-keys"] {
        let dir = support::repo().join("tests/sidebyside").join(case);
        differences.extend(compare(&compose, &dir, "compose.yaml", case));
    }
    assert!(
        differences.is_empty(),
        "composed and docker compose created different containers:\n{}",
        differences.join("\n")
    );
}

#[test]
fn data_in_an_image_volume_survives_an_edit_under_both_tools() {
    let compose = support::docker_compose();
    if !support::require("compose", compose.is_some()) || !support::require("docker", support::engine_available()) {
        return;
    }
    let compose = compose.unwrap();
    // tests/setup-engine.sh builds it: a busybox with `VOLUME /data`.
    let image = support::VOLUME_IMAGE;
    let file = |edit: &str| format!("services:\n  db:\n    image: {image}\n    environment: {{EDIT: '{edit}'}}\n");
    let theirs = support::Fixture::new("ctest-anon-compose", &file("1"));
    let ours = support::Fixture::new("ctest-anon-composed", &file("1"));
    let compose_up = |f: &support::Fixture| {
        let out = Command::new(&compose[0])
            .args(&compose[1..])
            .args(["-p", &f.name, "up", "-d"])
            .current_dir(&f.dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    compose_up(&theirs);
    ours.up();
    for f in [&theirs, &ours] {
        let c = format!("{}-db-1", f.name);
        support::docker(&["exec", &c, "sh", "-c", "echo acknowledged > /data/record"]);
    }
    let before: Vec<String> = [&theirs, &ours]
        .iter()
        .map(|f| support::inspect(&format!("{}-db-1", f.name), "{{.Id}}"))
        .collect();
    theirs.write(&file("2"));
    ours.write(&file("2"));
    compose_up(&theirs);
    ours.up();
    for (f, old) in [&theirs, &ours].iter().zip(before) {
        let c = format!("{}-db-1", f.name);
        assert_ne!(
            support::inspect(&c, "{{.Id}}"),
            old,
            "{}: the edit recreated the container",
            f.name
        );
        assert!(support::inspect(&c, "{{json .Config.Env}}").contains("EDIT=2"));
        let record = support::docker(&["exec", &c, "cat", "/data/record"]);
        assert_eq!(
            record, "acknowledged",
            "{}: the record in the image VOLUME is gone",
            f.name
        );
    }
}

#[test]
fn compose_read_only_commands_see_composed_containers() {
    let compose = support::docker_compose();
    if !support::require("compose", compose.is_some()) || !support::require("docker", support::engine_available()) {
        return;
    }
    let compose = compose.unwrap();
    let image = support::TEST_IMAGE;
    let f = support::Fixture::new(
        "ctest-compose-sees",
        &format!(
            "services:\n  db:\n    image: {image}\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 1000 & wait\"]\n"
        ),
    );
    f.up();
    // From another directory and without the file: by project name only, as ops type it.
    let elsewhere = std::env::temp_dir();
    let run = |args: &[&str]| {
        let out = Command::new(&compose[0])
            .args(&compose[1..])
            .args(["-p", &f.name])
            .args(args)
            .current_dir(&elsewhere)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, listed) = run(&["ps", "--format", "{{.Name}} {{.Service}}"]);
    assert!(ok, "{listed}");
    assert!(listed.contains(&format!("{}-db-1 db", f.name)), "compose ps: {listed}");
    let (ok, text) = run(&["exec", "-T", "db", "true"]);
    assert!(ok, "compose exec: {text}");
    let (ok, text) = run(&["logs", "db"]);
    assert!(ok, "compose logs: {text}");
}
