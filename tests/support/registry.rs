//! A real `docker-registry` on loopback, run by the test itself, optionally behind htpasswd
//! authentication; stopped when dropped. The engine pulls from 127.0.0.1 without TLS.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

pub struct Registry {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

/// The user and password of a registry started [`Registry::with_login`].
pub const USER: &str = "composed";
pub const PASSWORD: &str = "s3cret-pw";

/// Whether `docker-registry` (and `htpasswd`) are installed (tests/setup-engine.sh does it).
pub fn available() -> bool {
    Command::new("docker-registry").arg("--version").output().is_ok()
        && Command::new("htpasswd").arg("-h").output().is_ok()
}

impl Registry {
    /// A registry anyone may pull from.
    pub fn open(port: u16) -> Registry {
        Self::start(port, false)
    }

    /// A registry that wants [`USER`] and [`PASSWORD`].
    pub fn with_login(port: u16) -> Registry {
        Self::start(port, true)
    }

    fn start(port: u16, login: bool) -> Registry {
        let dir = super::project_dir(&[]);
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("data").display()
        );
        if login {
            let out = Command::new("htpasswd")
                .args(["-Bbn", USER, PASSWORD])
                .output()
                .unwrap();
            assert!(out.status.success(), "htpasswd failed");
            std::fs::write(dir.join("htpasswd"), &out.stdout).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: composed-test\n    path: {}\n",
                dir.join("htpasswd").display()
            ));
        }
        std::fs::write(dir.join("config.yml"), config).unwrap();
        let child = Command::new("docker-registry")
            .args(["serve", &dir.join("config.yml").to_string_lossy()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start docker-registry");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry { child, port, dir }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `docker login` into this registry with a Docker CLI config in `config_dir`.
    pub fn login(&self, config_dir: &Path) {
        let out = Command::new("docker")
            .arg("--config")
            .arg(config_dir)
            .args(["login", &self.address(), "-u", USER, "--password-stdin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().unwrap().write_all(PASSWORD.as_bytes())?;
                child.wait_with_output()
            })
            .unwrap();
        assert!(
            out.status.success(),
            "docker login: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Pushes a local image here under `name` (with a login of its own where one is needed) and
    /// removes the local tag, so a pull must come from the registry; returns the full reference.
    pub fn push(&self, local: &str, name: &str) -> String {
        let image = format!("{}/{name}", self.address());
        let config = self.dir.join("pusher");
        std::fs::create_dir_all(&config).unwrap();
        self.login(&config);
        super::docker(&["tag", local, &image]);
        super::docker(&["--config", &config.to_string_lossy(), "push", &image]);
        super::docker(&["rmi", &image]);
        image
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
