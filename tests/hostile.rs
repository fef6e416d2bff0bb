//! Hostile inputs, at full size, against the real binary: each is refused (or, for the
//! environment, survived) within 10 s and 2 GiB of address space, with a located error and a
//! plain exit status, never an abort or a signal. `composed config` reads them exactly as the
//! daemon does.

mod support;

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const TIME_LIMIT: Duration = Duration::from_secs(10);
const MEMORY_LIMIT: &str = "--as=2147483648";

/// Runs `composed config` in `dir` under the limits; (exit code, stderr).
fn config(dir: &Path, env: &[(&std::ffi::OsStr, &std::ffi::OsStr)]) -> (Option<i32>, String) {
    let started = Instant::now();
    let out = Command::new("timeout")
        .arg("--signal=KILL")
        .arg(format!("{}s", TIME_LIMIT.as_secs()))
        .args(["prlimit", MEMORY_LIMIT, "--"])
        .arg(support::composed_bin())
        .arg("config")
        .env_clear()
        .env("HOME", "/home/ops")
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        started.elapsed() < TIME_LIMIT,
        "{}: took {:?}",
        dir.display(),
        started.elapsed()
    );
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Refused with exit status 1 and an error at `line`:`col` of compose.yaml (or of `file`).
fn refused(name: &str, dir: &Path, at: &str, words: &str) {
    let (code, err) = config(dir, &[]);
    assert_eq!(
        code,
        Some(1),
        "{name}: not a plain refusal (killed, or aborted?): {err}"
    );
    assert!(err.contains(at), "{name}: error not located at {at}: {err}");
    assert!(err.contains(words), "{name}: error does not say {words:?}: {err}");
    assert!(!err.contains("panicked"), "{name}: {err}");
}

#[test]
fn nested_defaults_in_a_large_file() {
    let mut value = String::from("x");
    while value.len() < 600_000 {
        value = format!("${{A:-{value}}}");
    }
    let dir = support::project_dir(&[("compose.yaml", &format!("services:\n  a:\n    image: \"{value}\"\n"))]);
    refused("nested interpolation", &dir, "compose.yaml:3:12", "nested more than");
}

#[test]
fn aliases_that_copy_a_string_past_memory() {
    // 320 KB of text that aliases would copy to more than 4 GB.
    let mut doc = format!(
        "x-s: &s \"{}\"\nx-l0: &l0 [*s, *s, *s, *s, *s, *s, *s, *s]\n",
        "y".repeat(300_000)
    );
    for i in 1..12 {
        let p = i - 1;
        doc.push_str(&format!(
            "x-l{i}: &l{i} [*l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}]\n"
        ));
    }
    doc.push_str("services:\n  a:\n    image: busybox\n");
    assert!(doc.len() < 330_000);
    let dir = support::project_dir(&[("compose.yaml", &doc)]);
    refused("alias bytes", &dir, "compose.yaml:", "MiB of text");
}

#[test]
fn a_chain_of_aliases_nesting_each_other() {
    let mut doc = String::from("x-a0: &a0 [x]\n");
    for i in 1..5000 {
        doc.push_str(&format!("x-a{i}: &a{i} [*a{}]\n", i - 1));
    }
    doc.push_str("services:\n  a:\n    image: busybox\n    command: *a4999\n");
    let dir = support::project_dir(&[("compose.yaml", &doc)]);
    refused("alias depth", &dir, "compose.yaml:", "nested more than");
}

#[test]
fn special_files_as_env_files() {
    let fifo_dir = support::project_dir(&[(
        "compose.yaml",
        "services:\n  a:\n    image: busybox\n    env_file: ./pipe\n",
    )]);
    assert!(
        Command::new("mkfifo")
            .arg(fifo_dir.join("pipe"))
            .status()
            .unwrap()
            .success()
    );
    refused("a FIFO env_file", &fifo_dir, "compose.yaml:4:15", "a named pipe");
    let zero_dir = support::project_dir(&[(
        "compose.yaml",
        "services:\n  a:\n    image: busybox\n    env_file: /dev/zero\n",
    )]);
    refused("/dev/zero as env_file", &zero_dir, "compose.yaml:4:15", "a device");
}

#[test]
fn a_file_too_large() {
    let mut doc = String::from("services:\n  a:\n    image: busybox\n");
    doc.push_str(&format!("# {}\n", "z".repeat(9 << 20)));
    let dir = support::project_dir(&[("compose.yaml", &doc)]);
    refused("a 9 MiB file", &dir, "compose.yaml", "larger than 8 MiB");
}

#[test]
fn replicas_beyond_reason() {
    let dir = support::project_dir(&[(
        "compose.yaml",
        "services:\n  a:\n    image: busybox\n    scale: 1000000000000\n",
    )]);
    refused("replicas", &dir, "compose.yaml:4:12", "at most 1000");
}

#[test]
fn an_environment_variable_that_is_not_utf8() {
    let dir = support::project_dir(&[("compose.yaml", "services:\n  a:\n    image: \"busybox:${TAG:-1}\"\n")]);
    let name = std::ffi::OsStr::new("BROKEN");
    let value = std::ffi::OsStr::from_bytes(b"\xff\xfe");
    let (code, err) = config(&dir, &[(name, value)]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("BROKEN is not UTF-8"), "{err}");
}
