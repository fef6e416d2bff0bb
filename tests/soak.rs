//! A chaos soak: several projects whose databases take acknowledged records into a named volume,
//! a `- /anon` anonymous volume and an image `VOLUME`, while the harness kills containers,
//! `kill -9`s composed (and starts it again, as systemd would), re-executes it, restarts the
//! engine (when `COMPOSED_TEST_RESTART_ENGINE=1`), and applies good edits, at random.
//!
//! Checked throughout: never two running containers for one replica; after every event each
//! project is back to its configuration within [`CONVERGE_WITHIN`], with no other container
//! left (orphans, parked containers); the database's volumes are the same ones all along;
//! composed's RSS and open descriptors stay bounded. At the end every acknowledged record is
//! readable in all three volumes.
//!
//! `COMPOSED_SOAK_SECONDS` sets the length (CI: 90 s; `bench/soak.sh` runs it for longer) and
//! `COMPOSED_SOAK_SEED` replays a run. The figures are printed at the end.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{KillOnDrop, docker, inspect};

/// How long a project may take to be back to its configuration after any event.
const CONVERGE_WITHIN: Duration = Duration::from_secs(90);
const PROJECTS: [&str; 3] = ["soak1", "soak2", "soak3"];

fn compose(generation: u32) -> String {
    format!(
        "services:
  db:
    image: {}
    restart: always
    environment: {{GEN: '{generation}'}}
    volumes: ['named:/named', '/anon']
  app:
    image: composed-test/server:1
    restart: always
    environment: {{GEN: '{generation}'}}
    depends_on: {{db: {{condition: service_started}}}}
volumes:
  named: {{}}
",
        support::VOLUME_IMAGE
    )
}

/// A small xorshift generator: runs are replayable from their seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

struct Soak {
    root: PathBuf,
    runtime: PathBuf,
    daemon: Option<KillOnDrop>,
    generations: BTreeMap<&'static str, u32>,
    /// Acknowledged records per project.
    acked: BTreeMap<&'static str, Vec<u64>>,
    /// The db's volume names per project, fixed by the first convergence.
    volumes: BTreeMap<&'static str, String>,
    next_record: u64,
    events: BTreeMap<&'static str, u32>,
    /// (RSS KiB, open fds) of composed at every convergence.
    samples: Vec<(u64, usize)>,
    slowest: Duration,
}

impl Soak {
    fn start_daemon(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.runtime.join("daemon.log"))
            .unwrap();
        let child = Command::new(support::composed_bin())
            .arg("--root")
            .arg(&self.root)
            .arg("--runtime-dir")
            .arg(&self.runtime)
            .args(["--bus", "none"])
            .env("COMPOSED_JOURNAL_SOCKET", self.runtime.join("no-journal"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.daemon = Some(KillOnDrop(child));
    }

    fn pid(&self) -> u32 {
        self.daemon.as_ref().unwrap().0.id()
    }

    fn log(&self) -> String {
        let text = std::fs::read_to_string(self.runtime.join("daemon.log")).unwrap_or_default();
        text.lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Every container of a project: (name, running, GEN of its environment).
    fn containers(project: &str) -> Vec<(String, bool, String)> {
        let filter = format!("label=com.docker.compose.project={project}");
        let ids = docker(&["ps", "-aq", "--filter", &filter]);
        ids.lines()
            .filter_map(|id| {
                let line = Command::new("docker")
                    .args([
                        "inspect",
                        id,
                        "--format",
                        "{{.Name}} {{.State.Running}} {{json .Config.Env}}",
                    ])
                    .output()
                    .ok()?;
                let text = String::from_utf8_lossy(&line.stdout).trim().to_string();
                let mut parts = text.splitn(3, ' ');
                let name = parts.next()?.trim_start_matches('/').to_string();
                let running = parts.next()? == "true";
                let env = parts.next().unwrap_or_default();
                let generation = env
                    .split("GEN=")
                    .nth(1)
                    .map(|g| g.split('"').next().unwrap_or_default().to_string());
                Some((name, running, generation.unwrap_or_default()))
            })
            .collect()
    }

    /// Whether `project` runs exactly its configuration: db-1 and app-1 running the current
    /// generation, nothing else. Panics at once on two running containers for one replica.
    fn converged(&self, project: &str) -> bool {
        let containers = Self::containers(project);
        let generation = self.generations[project].to_string();
        for replica in ["db-1", "app-1"] {
            let running = containers
                .iter()
                .filter(|(name, running, _)| *running && name.ends_with(&format!("-{replica}")))
                .count();
            assert!(
                running <= 1,
                "two running containers for {project}-{replica}: {containers:?}"
            );
        }
        let want: Vec<String> = ["app", "db"].iter().map(|s| format!("{project}-{s}-1")).collect();
        let mut names: Vec<&String> = containers.iter().map(|(n, _, _)| n).collect();
        names.sort();
        names == want.iter().collect::<Vec<_>>()
            && containers.iter().all(|(_, running, g)| *running && *g == generation)
    }

    /// Waits until every project is back to its configuration; records composed's footprint.
    fn converge(&mut self, after: &str) {
        let start = Instant::now();
        while !PROJECTS.iter().all(|p| self.converged(p)) {
            assert!(
                start.elapsed() < CONVERGE_WITHIN,
                "not back to the configuration within {CONVERGE_WITHIN:?} after {after}: {:?}\n{}",
                PROJECTS.iter().map(|p| (p, Self::containers(p))).collect::<Vec<_>>(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        self.slowest = self.slowest.max(start.elapsed());
        for project in PROJECTS {
            let mounts = inspect(
                &format!("{project}-db-1"),
                "{{range .Mounts}}{{.Destination}}={{.Name}} {{end}}",
            );
            let mut mounts: Vec<&str> = mounts.split_whitespace().collect();
            mounts.sort();
            let mounts = mounts.join(" ");
            let first = self.volumes.entry(project).or_insert_with(|| mounts.clone());
            assert_eq!(
                *first, mounts,
                "{project}: the database's volumes changed after {after}"
            );
        }
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let fds = std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, |d| d.count());
        self.samples.push((rss, fds));
    }

    /// Writes record N into the three volumes of one project's database; acknowledged when the
    /// write returned success.
    fn write_record(&mut self, project: &'static str) {
        self.next_record += 1;
        let n = self.next_record;
        let script = format!("for d in /named /anon /data; do echo {n} >> $d/records || exit 1; done; sync");
        let ok = Command::new("docker")
            .args(["exec", &format!("{project}-db-1"), "sh", "-c", &script])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            self.acked.entry(project).or_default().push(n);
        }
    }

    fn edit(&mut self, project: &'static str) {
        let generation = self.generations[project] + 1;
        self.generations.insert(project, generation);
        let file = self.root.join(format!("{project}.yaml"));
        let tmp = self.root.join(format!(".{project}.yaml.new"));
        std::fs::write(&tmp, compose(generation)).unwrap();
        std::fs::rename(&tmp, &file).unwrap();
    }

    fn event(&mut self, rng: &mut Rng, engine_restarts: bool) -> &'static str {
        let project = PROJECTS[rng.below(PROJECTS.len() as u64) as usize];
        let kinds = if engine_restarts { 6 } else { 5 };
        let kind = match rng.below(kinds) {
            0 | 1 => {
                let service = ["db", "app"][rng.below(2) as usize];
                let _ = Command::new("docker")
                    .args(["kill", &format!("{project}-{service}-1")])
                    .output();
                "container killed"
            }
            2 => {
                self.edit(project);
                "good edit"
            }
            3 => {
                drop(self.daemon.take());
                self.start_daemon();
                "composed kill -9"
            }
            4 => {
                Command::new("kill")
                    .args(["-USR2", &self.pid().to_string()])
                    .status()
                    .unwrap();
                "composed re-exec"
            }
            _ => {
                restart_engine();
                "engine restart"
            }
        };
        *self.events.entry(kind).or_default() += 1;
        kind
    }

    /// Every acknowledged record is in all three volumes.
    fn check_records(&self) -> usize {
        let mut checked = 0;
        for (project, acked) in &self.acked {
            for dir in ["/named", "/anon", "/data"] {
                let text = docker(&["exec", &format!("{project}-db-1"), "cat", &format!("{dir}/records")]);
                let have: std::collections::BTreeSet<u64> = text.lines().filter_map(|l| l.parse().ok()).collect();
                let missing: Vec<&u64> = acked.iter().filter(|n| !have.contains(n)).collect();
                assert!(
                    missing.is_empty(),
                    "{project}{dir}: acknowledged records lost: {missing:?}"
                );
                checked += acked.len();
            }
        }
        checked
    }
}

fn restart_engine() {
    Command::new("pkill").args(["-x", "dockerd"]).output().unwrap();
    support::wait_until("the old dockerd has exited", Duration::from_secs(60), || {
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
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH exec dockerd >> /var/log/dockerd.log 2>&1",
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    support::wait_until("the engine is back", Duration::from_secs(60), support::engine_available);
}

fn cleanup(root: &Path) {
    for project in PROJECTS {
        let f = support::Fixture {
            dir: root.to_path_buf(),
            name: project.to_string(),
        };
        f.cleanup();
        std::mem::forget(f);
    }
}

#[test]
fn chaos_soak_keeps_data_and_converges() {
    if !support::require("docker", support::engine_available()) {
        return;
    }
    let seconds: u64 = std::env::var("COMPOSED_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(90);
    let seed: u64 = std::env::var("COMPOSED_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(support_seed);
    let engine_restarts = std::env::var("COMPOSED_TEST_RESTART_ENGINE").as_deref() == Ok("1");
    eprintln!("soak: {seconds} s, seed {seed}, engine restarts {engine_restarts}");
    let top = support::project_dir(&[]);
    let root = top.join("root");
    let runtime = top.join("run");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&runtime).unwrap();
    cleanup(&root);
    let mut soak = Soak {
        root: root.clone(),
        runtime,
        daemon: None,
        generations: PROJECTS.iter().map(|p| (*p, 0)).collect(),
        acked: BTreeMap::new(),
        volumes: BTreeMap::new(),
        next_record: 0,
        events: BTreeMap::new(),
        samples: Vec::new(),
        slowest: Duration::ZERO,
    };
    for project in PROJECTS {
        std::fs::write(root.join(format!("{project}.yaml")), compose(0)).unwrap();
    }
    soak.start_daemon();
    soak.converge("the first start");
    let mut rng = Rng(seed | 1);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut injected = 0;
    while Instant::now() < deadline {
        for _ in 0..3 {
            let project = PROJECTS[rng.below(PROJECTS.len() as u64) as usize];
            soak.write_record(project);
        }
        let kind = soak.event(&mut rng, engine_restarts);
        injected += 1;
        soak.converge(kind);
    }
    let records = soak.check_records();
    let (first, last) = (
        soak.samples[1.min(soak.samples.len() - 1)],
        *soak.samples.last().unwrap(),
    );
    let max_rss = soak.samples.iter().map(|s| s.0).max().unwrap_or(0);
    let max_fds = soak.samples.iter().map(|s| s.1).max().unwrap_or(0);
    eprintln!(
        "soak: {injected} events {:?}, 0 invariant violations, {} records acknowledged and read back ({records} reads), slowest convergence {:.1} s, composed RSS {} -> {} KiB (max {max_rss}), fds {} -> {} (max {max_fds})",
        soak.events,
        soak.acked.values().map(Vec::len).sum::<usize>(),
        soak.slowest.as_secs_f64(),
        first.0,
        last.0,
        first.1,
        last.1
    );
    assert!(max_rss < 64 * 1024, "composed grew to {max_rss} KiB");
    assert!(max_fds < 64, "composed held {max_fds} descriptors");
    assert!(
        soak.acked.values().map(Vec::len).sum::<usize>() > 0,
        "no record was acknowledged"
    );
    drop(soak.daemon.take());
    cleanup(&root);
}

/// A seed from the clock, printed so a failing run can be replayed.
fn support_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}
