//! The daemon under test, outside systemd but speaking systemd's notify protocol to a datagram
//! socket the test binds (`NOTIFY_SOCKET`), its log kept in a file; killed when dropped.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    pub child: Child,
    /// Every notify message so far, read as systemd would: at once, by a thread.
    messages: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// How many messages `expect` has looked at.
    seen: usize,
    log: PathBuf,
}

impl Daemon {
    pub fn start(project: &Path, runtime: &Path, tag: &str) -> Daemon {
        Self::start_with(project, runtime, tag, &[])
    }

    pub fn start_with(project: &Path, runtime: &Path, tag: &str, env: &[(&str, &Path)]) -> Daemon {
        Self::launch(&["--project".as_ref(), project.as_os_str()], runtime, tag, env)
    }

    /// The daemon for every project in `root`, as `composed.service` runs it.
    pub fn start_root(root: &Path, runtime: &Path, tag: &str) -> Daemon {
        Self::launch(&["--root".as_ref(), root.as_os_str()], runtime, tag, &[])
    }

    fn launch(select: &[&std::ffi::OsStr], runtime: &Path, tag: &str, env: &[(&str, &Path)]) -> Daemon {
        let socket = std::env::temp_dir().join(format!("composed-notify-{}-{tag}.sock", std::process::id()));
        let _ = std::fs::remove_file(&socket);
        let notify = UnixDatagram::bind(&socket).unwrap();
        let messages = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = messages.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = notify.recv(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        });
        let log = runtime.join(format!("daemon-{tag}.log"));
        let child = Command::new(super::composed_bin())
            .args(select)
            .arg("--runtime-dir")
            .arg(runtime)
            .env("NOTIFY_SOCKET", &socket)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Daemon {
            child,
            messages,
            seen: 0,
            log,
        }
    }

    /// Waits for a notify message containing `text`; returns it.
    pub fn expect(&mut self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let messages = self.messages.lock().unwrap().clone();
            if let Some((i, m)) = messages
                .iter()
                .enumerate()
                .skip(self.seen)
                .find(|(_, m)| m.contains(text))
            {
                self.seen = i + 1;
                return m.clone();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "no notify message with {text:?} within {within:?}; got {:?}\nlog:\n{}",
            self.messages.lock().unwrap(),
            self.log_text()
        );
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, sig: &str) {
        Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap();
    }

    pub fn wait_exit(&mut self, within: Duration) -> i32 {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the daemon did not exit; log:\n{}", self.log_text());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
