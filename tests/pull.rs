//! Pulling from a real registry (a `docker-registry` on loopback that the test runs itself): a
//! missing image is pulled; with the registry down, the service fails with a message naming the
//! image and the registry, and the other services still come up. A registry that wants a login
//! is pulled from with the credentials `docker login` wrote, and without them the failure says
//! to run `docker login`.

mod support;

use std::path::Path;

use support::registry::{self, Registry};

fn ready() -> bool {
    support::require("docker", support::engine_available()) && support::require("registry", registry::available())
}

#[test]
fn missing_image_is_pulled_and_an_unreachable_registry_fails_only_that_service() {
    if !ready() {
        return;
    }
    let registry = Registry::open(5055);
    let image = registry.push("composed-test/server:1", "composed-test/pulled:1");

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
        line.contains("failed") && line.contains(&image) && line.contains("127.0.0.1:5055"),
        "{line}"
    );
}

/// `composed up` with the Docker CLI config in `config_dir`.
fn up_with_config(f: &support::Fixture, config_dir: &Path) -> (i32, String, String) {
    let out = std::process::Command::new(support::composed_bin())
        .args(["up", "-p", &f.name])
        .current_dir(&f.dir)
        .env("DOCKER_CONFIG", config_dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_private_registry_is_pulled_from_with_the_operators_login() {
    if !ready() {
        return;
    }
    let registry = Registry::with_login(5056);
    let image = registry.push("composed-test/server:1", "private/app:1");
    let compose = format!("services:\n  app:\n    image: {image}\n  local:\n    image: composed-test/server:1\n");
    let f = support::Fixture::new("ctest-private", &compose);
    let config = f.dir.join("docker-config");
    std::fs::create_dir_all(&config).unwrap();

    // No login: the pull is refused, the message names the registry and says what to run; the
    // other service still starts.
    let (code, out, err) = up_with_config(&f, &config);
    assert_ne!(code, 0);
    assert!(out.contains("local: running"), "{out}\n{err}");
    let line = out.lines().find(|l| l.starts_with("app:")).unwrap_or_default();
    assert!(
        line.contains(&registry.address()) && line.contains(&format!("docker login {}", registry.address())),
        "{line}"
    );
    assert!(!line.contains(registry::PASSWORD));

    // After `docker login` the same project pulls and runs.
    registry.login(&config);
    let (code, out, err) = up_with_config(&f, &config);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("app: running"), "{out}");
    support::docker(&["rmi", "-f", &image]);
}
