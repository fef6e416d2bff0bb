//! Shared helpers for the integration tests.
//!
//! Tests that need something outside the repository (a Docker engine, Docker Compose v2, a D-Bus
//! daemon, systemd) ask for it with [`require`]. When it is missing the test is skipped with a
//! note, unless `COMPOSED_TEST_REQUIRE` names it (or is `all`): then it fails. CI sets
//! `COMPOSED_TEST_REQUIRE=all`, so a missing dependency there is a red run, never a silent skip.
#![allow(dead_code)]

pub mod bus;
pub mod daemon;
pub mod registry;
pub mod systemd_box;

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
            "{dependency} is required (COMPOSED_TEST_REQUIRE={wanted}) but not available; run tests/setup-engine.sh and tests/setup-systemd-image.sh"
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

/// The `composectl` binary built for this test run.
pub fn composectl_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_composectl"))
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

/// Writes `files` (relative path, content) into a fresh directory under this test process's
/// own directory in the system temp dir.
pub fn project_dir(files: &[(&str, &str)]) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = process_temp_dir().join(format!(
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

/// `composed-tests-PID` in the system temp dir; the first call removes those of test processes
/// that have ended, so runs do not pile up directories.
fn process_temp_dir() -> PathBuf {
    static ONCE: std::sync::Once = std::sync::Once::new();
    let tmp = std::env::temp_dir();
    ONCE.call_once(|| {
        for entry in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name.strip_prefix("composed-tests-") else {
                continue;
            };
            if !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
    tmp.join(format!("composed-tests-{}", std::process::id()))
}

/// The busybox image tests/setup-engine.sh builds from scratch (no registry is reachable).
pub const TEST_IMAGE: &str = "composed-test/busybox:1";

/// A busybox that keeps its data in `VOLUME /data`, as the official database images do.
pub const VOLUME_IMAGE: &str = "composed-test/volume:1";

/// Whether a Docker engine answers (`docker info`).
pub fn engine_available() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs the docker CLI; panics with its stderr when it fails.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("run docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A compose project in a temp directory, removed from the engine (volumes included) on drop.
pub struct Fixture {
    pub dir: PathBuf,
    pub name: String,
}

impl Fixture {
    /// `name` must be unique per test: tests run in parallel on one engine.
    pub fn new(name: &str, compose: &str) -> Fixture {
        let dir = project_dir(&[("compose.yaml", compose)]);
        let f = Fixture {
            dir,
            name: name.to_string(),
        };
        f.cleanup();
        f
    }

    pub fn write(&self, compose: &str) {
        std::fs::write(self.dir.join("compose.yaml"), compose).unwrap();
    }

    /// Runs `composed ARGS -p NAME` in the project directory.
    pub fn composed(&self, args: &[&str]) -> (i32, String, String) {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-p", &self.name]);
        composed(&self.dir, &all)
    }

    /// `composed up`, asserting success.
    pub fn up(&self) -> String {
        let (code, out, err) = self.composed(&["up"]);
        assert_eq!(code, 0, "composed up failed:\n{out}\n{err}");
        out
    }

    /// Container name -> id, for every container of the project.
    pub fn containers(&self) -> std::collections::BTreeMap<String, String> {
        let filter = format!("label=com.docker.compose.project={}", self.name);
        docker(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}} {{.ID}}"])
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(n, i)| (n.to_string(), i.to_string())))
            .collect()
    }

    pub fn cleanup(&self) {
        let filter = format!("label=com.docker.compose.project={}", self.name);
        let ids = docker(&["ps", "-aq", "--filter", &filter]);
        if !ids.is_empty() {
            // Anonymous volumes too (a test's, never a person's), including ones a recreate
            // carried over, which `rm -v` leaves behind.
            let mut inspect = vec!["inspect", "--format", "{{range .Mounts}}{{.Name}} {{end}}"];
            inspect.extend(ids.lines());
            let volumes = docker(&inspect);
            let mut args = vec!["rm", "-fv"];
            args.extend(ids.lines());
            docker(&args);
            for v in volumes.split_whitespace() {
                let anonymous = Command::new("docker")
                    .args([
                        "volume",
                        "inspect",
                        "--format",
                        "{{index .Labels \"com.docker.volume.anonymous\"}}",
                        v,
                    ])
                    .output()
                    .is_ok_and(|o| o.status.success() && !String::from_utf8_lossy(&o.stdout).contains("no value"));
                if anonymous {
                    let _ = Command::new("docker").args(["volume", "rm", v]).output();
                }
            }
        }
        for kind in ["network", "volume"] {
            let names = docker(&[kind, "ls", "-q", "--filter", &filter]);
            for n in names.lines() {
                let _ = Command::new("docker").args([kind, "rm", n]).output();
            }
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// Removes a project's containers and networks from the engine when dropped (for projects a
/// test does not create through a [`Fixture`], such as one composed runs inside the systemd box).
pub struct CleanupProject(pub &'static str);

impl Drop for CleanupProject {
    fn drop(&mut self) {
        let f = Fixture {
            dir: std::env::temp_dir(),
            name: self.0.to_string(),
        };
        f.cleanup();
        std::mem::forget(f);
    }
}

/// A Unix-socket proxy in front of the engine that records the request line of every API call.
pub struct CountingProxy {
    pub socket: PathBuf,
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    runtime: tokio::runtime::Runtime,
}

impl CountingProxy {
    pub fn start() -> CountingProxy {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let socket = std::env::temp_dir().join(format!("composed-proxy-{}-{}.sock", std::process::id(), rand_suffix()));
        let _ = std::fs::remove_file(&socket);
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let listener = runtime
            .block_on(async { tokio::net::UnixListener::bind(&socket) })
            .unwrap();
        let seen = requests.clone();
        runtime.spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let Ok(mut engine) = tokio::net::UnixStream::connect("/var/run/docker.sock").await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.split();
                    let (mut er, mut ew) = engine.split();
                    let upstream = async {
                        let mut buf = vec![0u8; 65536];
                        loop {
                            let n = match cr.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            for line in String::from_utf8_lossy(&buf[..n]).lines() {
                                let method = line.split(' ').next().unwrap_or("");
                                if ["GET", "POST", "DELETE", "PUT", "HEAD"].contains(&method) && line.contains(" /") {
                                    seen.lock().unwrap().push(line.to_string());
                                }
                            }
                            if ew.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                        let _ = ew.shutdown().await;
                    };
                    let downstream = tokio::io::copy(&mut er, &mut cw);
                    let _ = tokio::join!(upstream, downstream);
                });
            }
        });
        CountingProxy {
            socket,
            requests,
            runtime,
        }
    }

    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.requests.lock().unwrap())
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
        let _ = &self.runtime;
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
}

/// One `docker inspect --format` field of a container ("" when it does not exist).
pub fn inspect(container: &str, format: &str) -> String {
    Command::new("docker")
        .args(["inspect", container, "--format", format])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Checks `check` every 100 ms until it holds; panics naming `what` after `within`.
pub fn wait_until(what: &str, within: std::time::Duration, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("timed out waiting until {what}");
}

/// A child process (a daemon under test) killed when the test ends, even by a panic.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
