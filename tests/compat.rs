//! Side by side with Docker Compose v2: for the seeds and every case under `tests/compat/`, the
//! project `composed config` prints agrees with `docker-compose config` on every field both print.
//!
//! A field only Docker Compose prints must be an empty placeholder (`null`, `{}`, `[]`); anything
//! else means composed dropped something compose understood, and fails the test.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

#[derive(Default)]
struct Comparison {
    /// composed's error, where it refused what docker compose accepted.
    refused: Option<String>,
    compared: usize,
    differences: Vec<String>,
    only_composed: Vec<String>,
}

fn compare(compose: &Value, ours: &Value, path: &str, out: &mut Comparison) {
    match (compose, ours) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    Some(vb) => compare(va, vb, &p, out),
                    None if is_empty(va) => {}
                    None => out.differences.push(format!("{p}: only docker compose has {va}")),
                }
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                out.only_composed.push(format!("{path}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (va, vb)) in a.iter().zip(b).enumerate() {
                compare(va, vb, &format!("{path}[{i}]"), out);
            }
        }
        (a, b) if numbers_equal(a, b) || a == b => out.compared += 1,
        (a, b) => out
            .differences
            .push(format!("{path}: docker compose {a} vs composed {b}")),
    }
}

/// Where docker compose prints what its own loader would not read back, composed prints the
/// readable form; this turns compose's output into that form before the comparison:
/// `blkio_config` device entries with capitalised keys (`Path`, `Weight`, `Rate`), and a
/// `ulimits` entry of 0 printed as `{}`.
fn undo_compose_printing_quirks(project: &mut Value) {
    let Some(services) = project.get_mut("services").and_then(Value::as_object_mut) else {
        return;
    };
    for service in services.values_mut() {
        if let Some(blkio) = service.get_mut("blkio_config").and_then(Value::as_object_mut) {
            for devices in blkio.values_mut().filter_map(Value::as_array_mut) {
                for device in devices.iter_mut().filter_map(Value::as_object_mut) {
                    *device = device.iter().map(|(k, v)| (k.to_lowercase(), v.clone())).collect();
                }
            }
        }
        if let Some(ulimits) = service.get_mut("ulimits").and_then(Value::as_object_mut) {
            for limit in ulimits.values_mut() {
                if limit.as_object().is_some_and(|o| o.is_empty()) {
                    *limit = Value::from(0);
                }
            }
        }
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(o) => o.values().all(is_empty),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn numbers_equal(a: &Value, b: &Value) -> bool {
    matches!((a.as_f64(), b.as_f64()), (Some(x), Some(y)) if x == y)
}

/// Runs both tools on one case: `args` are the -f flags, `env` extra process variables.
fn run_case(compose_cmd: &[String], dir: &Path, args: &[String], env: &BTreeMap<String, String>) -> Comparison {
    let base_env = |cmd: &mut Command| {
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", "/home/ops")
            .envs(env)
            .current_dir(dir);
    };
    let mut theirs = Command::new(&compose_cmd[0]);
    theirs
        .args(&compose_cmd[1..])
        .args(args)
        .args(["config", "--format", "json"]);
    base_env(&mut theirs);
    let theirs = theirs.output().expect("run docker compose");
    assert!(
        theirs.status.success(),
        "docker compose refused {}: {}",
        dir.display(),
        String::from_utf8_lossy(&theirs.stderr)
    );
    let mut ours = Command::new(support::composed_bin());
    ours.arg("config").args(args).args(["--format", "json"]);
    base_env(&mut ours);
    let ours = ours.output().expect("run composed");
    let mut out = Comparison::default();
    if !ours.status.success() {
        out.refused = Some(String::from_utf8_lossy(&ours.stderr).into_owned());
        return out;
    }
    let theirs: Value = serde_json::from_slice(&theirs.stdout).expect("compose json");
    let ours: Value = serde_json::from_slice(&ours.stdout).expect("composed json");
    let mut theirs = theirs;
    undo_compose_printing_quirks(&mut theirs);
    compare(&theirs, &ours, "", &mut out);
    out
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|t| t.lines().map(str::to_string).filter(|l| !l.is_empty()).collect())
        .unwrap_or_default()
}

fn cases() -> Vec<(PathBuf, Vec<String>)> {
    let mut cases = Vec::new();
    let seeds = support::repo().join("../shared/seeds");
    for seed in ["postgres", "yelb", "webapp"] {
        cases.push((seeds.clone(), vec!["-f".to_string(), format!("{seed}.compose.yml")]));
    }
    // The feature cases and the shipped examples.
    let mut dirs: Vec<PathBuf> = ["tests/compat", "examples"]
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(support::repo().join(d))
                .unwrap()
                .map(|e| e.unwrap().path())
        })
        // corpus/ holds whole projects, one per subdirectory, and refused/ files compose refuses.
        .filter(|p| p.is_dir() && !p.ends_with("tests/compat/corpus") && !p.ends_with("tests/compat/refused"))
        .collect();
    dirs.sort();
    for dir in dirs {
        let args = lines(&dir.join("args"));
        cases.push((dir, args));
    }
    // The corpus: each project as compose finds it (compose.yaml and its override), and once
    // more per line of its `arg-sets` (other -f combinations).
    let mut projects: Vec<PathBuf> = std::fs::read_dir(support::repo().join("tests/compat/corpus"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    projects.sort();
    for dir in projects {
        for set in lines(&dir.join("arg-sets")) {
            cases.push((dir.clone(), set.split_whitespace().map(str::to_string).collect()));
        }
        cases.push((dir, Vec::new()));
    }
    cases
}

/// A `depends_on` entry (`required: false`) naming a service of an inactive profile.
fn optional_dependency_on_an_inactive_service(project: &Value) -> Option<String> {
    let services = project["services"].as_object()?;
    services
        .values()
        .filter_map(|s| s["depends_on"].as_object())
        .flat_map(|d| d.keys())
        .find(|dep| !services.contains_key(*dep))
        .cloned()
}

/// Files Docker Compose refuses, one per `tests/compat/refused/*.yaml`: composed must refuse
/// each too, naming the file and a line.
#[test]
fn files_docker_compose_refuses_are_refused() {
    let compose = support::docker_compose();
    if !support::require("compose", compose.is_some()) {
        return;
    }
    let compose = compose.unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(support::repo().join("tests/compat/refused"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "too few refused cases: {}", files.len());
    let mut disagreements = Vec::new();
    for file in &files {
        let dir = support::project_dir(&[("compose.yaml", &std::fs::read_to_string(file).unwrap())]);
        let theirs = Command::new(&compose[0])
            .args(&compose[1..])
            .args(["config", "--format", "json"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", "/home/ops")
            .current_dir(&dir)
            .output()
            .unwrap();
        let ours = Command::new(support::composed_bin())
            .args(["config", "--format", "json"])
            .env_clear()
            .env("HOME", "/home/ops")
            .current_dir(&dir)
            .output()
            .unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let err = String::from_utf8_lossy(&ours.stderr);
        match (theirs.status.success(), ours.status.success()) {
            (true, _) => disagreements.push(format!("{name}: docker compose accepts it; not a refused case")),
            (false, true) => disagreements.push(format!("{name}: composed accepts what docker compose refuses")),
            (false, false) if !err.contains("compose.yaml:") => {
                disagreements.push(format!("{name}: composed's error names no file and line: {err}"))
            }
            (false, false) => {}
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

#[test]
fn normalised_project_agrees_with_docker_compose() {
    let compose = support::docker_compose();
    if !support::require("compose", compose.is_some()) {
        return;
    }
    let compose = compose.unwrap();
    let mut failures = Vec::new();
    let mut total = 0;
    for (dir, args) in cases() {
        let env: BTreeMap<String, String> = lines(&dir.join("harness-env"))
            .iter()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        let name = format!("{} {}", dir.file_name().unwrap().to_string_lossy(), args.join(" "));
        let c = run_case(&compose, &dir, &args, &env);
        if let Some(why) = c.refused {
            failures.push(format!("{name}: composed refused what docker compose accepts: {why}"));
            continue;
        }
        eprintln!(
            "{name}: {} fields agree, {} differ; composed only: {:?}",
            c.compared,
            c.differences.len(),
            c.only_composed
        );
        assert!(
            c.compared >= 3,
            "{name}: too few fields compared ({}), the comparison is not looking",
            c.compared
        );
        total += c.compared;
        failures.extend(c.differences.into_iter().map(|d| format!("{name}: {d}")));
    }
    assert!(
        failures.is_empty(),
        "composed and docker compose disagree:\n{}",
        failures.join("\n")
    );
    eprintln!("{total} fields compared");
}

#[test]
fn comparison_detects_a_difference() {
    // The comparison itself must be able to fail.
    let mut c = Comparison::default();
    compare(
        &serde_json::json!({"a": {"b": 1, "c": [1]}}),
        &serde_json::json!({"a": {"b": 2}}),
        "",
        &mut c,
    );
    assert_eq!(c.differences.len(), 2, "{:?}", c.differences);
}

#[test]
fn printed_config_loads_back_to_the_same_project() {
    for (dir, args) in cases() {
        let env: BTreeMap<String, String> = lines(&dir.join("harness-env"))
            .iter()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        let run = |extra: &[&str], cwd: &Path, args: &[String]| {
            let out = Command::new(support::composed_bin())
                .arg("config")
                .args(args)
                .args(extra)
                .env_clear()
                .env("HOME", "/home/ops")
                .envs(&env)
                .current_dir(cwd)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        };
        let json: Value = serde_json::from_str(&run(&["--format", "json"], &dir, &args)).unwrap();
        if let Some(dangling) = optional_dependency_on_an_inactive_service(&json) {
            // Printed as compose prints it, and refused on reading as compose refuses it.
            eprintln!(
                "{}: not reloaded: optional dependency on inactive `{dangling}`",
                dir.display()
            );
            continue;
        }
        let yaml = run(&["--format", "yaml"], &dir, &args);
        // The printed project holds only the services of the active profiles (which may have been
        // chosen in the project's `.env`, not beside the printed file): all of them are active.
        let printed = support::project_dir(&[("compose.yaml", &yaml), (".env", "COMPOSE_PROFILES=*\n")]);
        let again: Value = serde_json::from_str(&run(&["--format", "json"], &printed, &[])).unwrap();
        assert_eq!(
            json,
            again,
            "{}: the printed YAML does not load back the same:\n{yaml}",
            dir.display()
        );
    }
}
