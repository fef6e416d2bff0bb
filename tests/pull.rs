//! Pulling from a real registry (a `docker-registry` on loopback that the test runs itself): a
//! missing image is pulled; with the registry down, the service fails with a message naming the
//! image and the registry, and the other services still come up.

mod support;

use std::process::{Child, Command};
use std::time::Duration;

struct Registry {
    child: Child,
    _dir: std::path::PathBuf,
}

impl Registry {
    fn start(port: u16) -> Registry {
        let dir = support::project_dir(&[(
            "config.yml",
            &format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: STORAGE\nhttp:\n  addr: 127.0.0.1:{port}\n"
            ),
        )]);
        let config = std::fs::read_to_string(dir.join("config.yml"))
            .unwrap()
            .replace("STORAGE", &dir.join("data").to_string_lossy());
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
        Registry { child, _dir: dir }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn missing_image_is_pulled_and_an_unreachable_registry_fails_only_that_service() {
    let registry_installed = Command::new("docker-registry").arg("--version").output().is_ok();
    if !support::require("docker", support::engine_available()) || !support::require("registry", registry_installed) {
        return;
    }
    let port = 5055;
    let image = format!("127.0.0.1:{port}/composed-test/pulled:1");
    let registry = Registry::start(port);
    support::docker(&["tag", "composed-test/server:1", &image]);
    support::docker(&["push", &image]);
    support::docker(&["rmi", &image]);

    let compose = format!("services:\n  pulled:\n    image: {image}\n  local:\n    image: composed-test/server:1\n");
    let f = support::Fixture::new("ctest-pull", &compose);
    let (_, plan, _) = f.composed(&["plan"]);
    assert!(plan.contains(&format!("pull {image}")), "{plan}");
    let out = f.up();
    assert!(out.contains("pulled: running"), "{out}");
    support::docker(&["image", "inspect", &image]);

    // Registry gone, image gone: that service fails by name, the other one comes up.
    f.cleanup();
    drop(registry);
    support::docker(&["rmi", &image]);
    let (code, out, err) = f.composed(&["up"]);
    assert_ne!(code, 0);
    assert!(out.contains("local: running"), "{out}\n{err}");
    let line = out.lines().find(|l| l.starts_with("pulled:")).unwrap_or_default();
    assert!(
        line.contains("failed") && line.contains(&image) && line.contains(&format!("127.0.0.1:{port}")),
        "{line}"
    );
}
