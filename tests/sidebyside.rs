//! Side by side with Docker Compose v2 on the same engine: the containers composed creates and the
//! ones `docker compose up` creates from the same file agree (`docker inspect`) on image, command,
//! entrypoint, environment, ports, mounts, memory and CPU limits, healthcheck, user, working dir,
//! network aliases, stop signal and timeout, and compose's labels.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

/// The compared fields of one container, with the project name replaced by `PROJECT`.
fn fingerprint(container: &str, project: &str) -> Value {
    let raw = support::docker(&["inspect", container]);
    let text = raw.replace(project, "PROJECT");
    let v: Value = serde_json::from_str(&text).unwrap();
    let c = &v[0];
    let mut env: Vec<String> = c["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    env.sort();
    let mut mounts: Vec<Value> = c["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| json!({"type": m["Type"], "source": if m["Type"] == "volume" { m["Name"].clone() } else { m["Source"].clone() }, "target": m["Destination"], "rw": m["RW"]}))
        .collect();
    mounts.sort_by_key(|m| m["target"].to_string());
    let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let id = c["Id"].as_str().unwrap();
    for (net, settings) in c["NetworkSettings"]["Networks"].as_object().unwrap() {
        let mut a: Vec<String> = settings["Aliases"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|x| x.as_str().unwrap().to_string())
                    .filter(|x| !id.starts_with(x.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        a.sort();
        aliases.insert(net.clone(), a);
    }
    let labels = &c["Config"]["Labels"];
    let compose_labels: BTreeMap<&str, Value> = [
        "com.docker.compose.project",
        "com.docker.compose.service",
        "com.docker.compose.container-number",
        "com.docker.compose.oneoff",
    ]
    .into_iter()
    .map(|k| (k, labels[k].clone()))
    .collect();
    // Representation-only differences: an absent list or map is the same as an empty one, and an
    // exposed port without a protocol is TCP.
    let or_empty = |v: &Value, empty: Value| if v.is_null() { empty } else { v.clone() };
    let exposed: BTreeMap<String, Value> = c["Config"]["ExposedPorts"]
        .as_object()
        .map(|o| {
            o.keys()
                .map(|k| (if k.contains('/') { k.clone() } else { format!("{k}/tcp") }, json!({})))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "image": c["Config"]["Image"],
        "cmd": c["Config"]["Cmd"],
        "entrypoint": c["Config"]["Entrypoint"],
        "env": env,
        "ports": or_empty(&c["HostConfig"]["PortBindings"], json!({})),
        "exposed": exposed,
        "mounts": mounts,
        "tmpfs_mounts": c["HostConfig"]["Mounts"].as_array().map(|m| m.iter().filter(|x| x["Type"] == "tmpfs").map(|x| json!({"target": x["Target"], "size": x["TmpfsOptions"]["SizeBytes"]})).collect::<Vec<_>>()).unwrap_or_default(),
        "memory": c["HostConfig"]["Memory"],
        "nano_cpus": c["HostConfig"]["NanoCpus"],
        "healthcheck": c["Config"]["Healthcheck"],
        "user": c["Config"]["User"],
        "working_dir": c["Config"]["WorkingDir"],
        "aliases": aliases,
        "stop_signal": c["Config"]["StopSignal"],
        "stop_timeout": c["Config"]["StopTimeout"],
        "labels": compose_labels,
        "user_labels": labels["tier"],
    })
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
    let theirs: BTreeMap<String, Value> = containers(&theirs_name)
        .iter()
        .map(|c| (c.replace(&theirs_name, "PROJECT"), fingerprint(c, &theirs_name)))
        .collect();
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
    let ours: BTreeMap<String, Value> = containers(&ours_name)
        .iter()
        .map(|c| (c.replace(&ours_name, "PROJECT"), fingerprint(c, &ours_name)))
        .collect();
    drop(f);

    let mut differences = Vec::new();
    assert_eq!(
        theirs.keys().collect::<Vec<_>>(),
        ours.keys().collect::<Vec<_>>(),
        "{tag}: container names differ"
    );
    for (name, t) in &theirs {
        let o = &ours[name];
        for (field, tv) in t.as_object().unwrap() {
            if &o[field] != tv {
                differences.push(format!("{tag} {name} {field}: compose {tv} vs composed {}", o[field]));
            }
        }
    }
    differences
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
    differences.extend(compare(
        &compose,
        &support::repo().join("tests/sidebyside/rich"),
        "compose.yaml",
        "rich",
    ));
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
