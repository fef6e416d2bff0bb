//! Shared helpers for the integration tests.
//!
//! Tests that need something outside the repository (a Docker engine, Docker Compose v2, a D-Bus
//! daemon, systemd) ask for it with [`require`]. When it is missing the test is skipped with a
//! note, unless `COMPOSED_TEST_REQUIRE` names it (or is `all`): then it fails. CI sets
//! `COMPOSED_TEST_REQUIRE=all`, so a missing dependency there is a red run, never a silent skip.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether the test may run. `false` means "skip" (and was printed); a required dependency that
/// is missing panics.
pub fn require(dependency: &str, available: bool) -> bool {
    if available {
        return true;
    }
    let wanted = std::env::var("COMPOSED_TEST_REQUIRE").unwrap_or_default();
    if wanted.split(',').any(|w| w.trim() == dependency || w.trim() == "all") {
        panic!(
            "{dependency} is required (COMPOSED_TEST_REQUIRE={wanted}) but not available; run tests/setup-engine.sh"
        );
    }
    eprintln!(
        "skipping: {dependency} is not available (set COMPOSED_TEST_REQUIRE={dependency} to make this a failure)"
    );
    false
}

/// The Docker Compose v2 command, when installed: `docker-compose`, else `docker compose`.
pub fn docker_compose() -> Option<Vec<String>> {
    let works = |cmd: &[&str]| {
        Command::new(cmd[0])
            .args(&cmd[1..])
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works(&["docker-compose"]) {
        return Some(vec!["docker-compose".into()]);
    }
    if works(&["docker", "compose"]) {
        return Some(vec!["docker".into(), "compose".into()]);
    }
    None
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `composed` binary built for this test run.
pub fn composed_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_composed"))
}

/// Runs `composed` with `args` in `dir` and returns (exit code, stdout, stderr).
pub fn composed(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(composed_bin())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run composed");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes `files` (relative path, content) into a fresh directory under the system temp dir.
pub fn project_dir(files: &[(&str, &str)]) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "composed-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, content) in files {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }
    dir
}

/// The busybox image tests/setup-engine.sh builds from scratch (no registry is reachable).
pub const TEST_IMAGE: &str = "composed-test/busybox:1";
