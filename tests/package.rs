//! The Debian package in a real systemd: built by `packaging/build-deb.sh` (portable release
//! binaries, glibc 2.31 floor; `.ci/run` builds it once and names it in `COMPOSED_TEST_DEB`),
//! installed with dpkg in a booted stock Debian 12 box, the yelb example dropped into
//! /etc/composed, `systemctl enable --now composed`; then the operator's view: `composectl ps`,
//! `busctl introspect`, a restart of one service, the group policy, logs, man pages and
//! completions, and a project whose image is in a registry that wants a login.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::inspect;
use support::registry::{self, Registry};
use support::systemd_box::{self, SystemdBox};

const BOX: &str = "composed-test-package-box";
const SERVICES: [&str; 4] = ["yelb-ui", "yelb-appserver", "redis-server", "yelb-db"];

fn container(service: &str) -> String {
    format!("yelb-{service}-1")
}

fn snapshot(field: &str) -> BTreeMap<&'static str, String> {
    SERVICES.iter().map(|s| (*s, inspect(&container(s), field))).collect()
}

#[test]
fn the_package_installs_and_runs_an_example_under_systemd() {
    if !support::require("docker", support::engine_available())
        || !support::require("systemd", systemd_box::image_available())
    {
        return;
    }
    let _cleanup = support::CleanupProject("yelb");
    let _cleanup_private = support::CleanupProject("private");
    let _cleanup_ticker = support::CleanupProject("ticker");
    let deb = package();
    assert_portable(&deb);

    let b = SystemdBox::boot(BOX);
    // What users have: Debian 12's own libc.
    let libc = b.ok("dpkg-query -W -f='${Version}' libc6");
    assert!(
        libc.starts_with("2.36-"),
        "the box is not stock Debian 12: libc6 {libc}"
    );
    b.copy_in(&deb, "/root/composed.deb");
    let installed = b.ok("dpkg -i /root/composed.deb");
    assert!(installed.contains("Setting up composed"), "{installed}");
    b.ok("getent group composed");
    b.ok("test -f /etc/composed/README && test -f /usr/share/man/man1/composectl.1.gz && test -f /usr/share/man/man8/composed.8.gz");
    b.ok("test -f /usr/share/bash-completion/completions/composectl && test -f /usr/share/zsh/vendor-completions/_composectl");
    // Every example passes the installed composectl's check.
    b.copy_in(&support::repo().join("examples"), "/root/examples");
    for example in ["postgres", "mysql", "yelb", "redis-pair", "webapp"] {
        let out = b.ok(&format!("composectl check /root/examples/{example}"));
        assert!(out.contains("ok"), "{example}: {out}");
    }

    // Drop the example in and enable the service: it returns once yelb is ready.
    b.ok("cp -r /root/examples/yelb /etc/composed/yelb && chmod -R go-w /etc/composed/yelb");
    let (code, out) = b.sh("systemctl enable --now composed");
    assert_eq!(
        code,
        0,
        "{out}\n{}",
        b.sh("journalctl -u composed --no-pager | tail -30").1
    );
    let status = b.ok("systemctl status composed --no-pager");
    assert!(status.contains("Status: \"yelb: 4/4 ready\""), "{status}");
    assert!(b.ok("systemctl is-enabled composed").contains("enabled"));

    let ps = b.ok("composectl ps");
    for service in SERVICES {
        let row = ps
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(service))
            .unwrap_or_else(|| panic!("no {service} in:\n{ps}"));
        assert!(row.starts_with("yelb") && row.contains("running"), "{row}");
    }
    assert!(ps.contains("8080->80/tcp"), "{ps}");
    let json: Vec<serde_json::Value> = serde_json::from_str(&b.ok("composectl ps --json")).unwrap();
    assert!(json.iter().all(|s| s["ready"] == true), "{json:?}");

    // The API, as busctl sees it.
    let intro = b.ok("busctl introspect io.composed.Composed1 /io/composed/Composed1");
    for member in [
        "io.composed.Composed1.Manager",
        ".ListProjects",
        ".ListServices",
        ".Reload",
        ".Status",
    ] {
        assert!(intro.contains(member), "{member} missing:\n{intro}");
    }
    let intro = b.ok("busctl introspect io.composed.Composed1 /io/composed/Composed1/project/yelb/redis_2dserver");
    for member in [
        ".Restart",
        ".State",
        ".Health",
        ".RestartCount",
        ".LastExitCode",
        ".ContainerId",
        ".Ports",
        ".Since",
    ] {
        assert!(intro.contains(member), "{member} missing:\n{intro}");
    }
    assert!(intro.contains("emits-change"), "{intro}");

    // Restart one service: the same containers; redis restarts, and only the appserver, which
    // declared `restart: true` on it, follows.
    let ids = snapshot("{{.Id}}");
    let started = snapshot("{{.State.StartedAt}}");
    let out = b.ok("composectl restart yelb/redis-server");
    assert_eq!(out.trim(), "restarted yelb/redis-server");
    b.wait_until(
        "the appserver follows redis",
        Duration::from_secs(30),
        "composed",
        || {
            inspect(&container("yelb-appserver"), "{{.State.StartedAt}}") != started["yelb-appserver"]
                && inspect(&container("yelb-appserver"), "{{.State.Running}}") == "true"
        },
    );
    assert_eq!(snapshot("{{.Id}}"), ids, "a restart keeps every container");
    let now = snapshot("{{.State.StartedAt}}");
    assert_ne!(now["redis-server"], started["redis-server"]);
    assert_eq!(now["yelb-ui"], started["yelb-ui"]);
    assert_eq!(now["yelb-db"], started["yelb-db"]);

    // The group policy: a member may steer; anyone else is refused, with the fix in the message.
    b.ok("useradd --no-create-home ops1 -G composed && useradd --no-create-home outsider");
    let out = b.ok("runuser -u ops1 -- composectl restart yelb/yelb-ui");
    assert!(out.contains("restarted yelb/yelb-ui"), "{out}");
    let (code, out) = b.sh("runuser -u outsider -- composectl restart yelb/redis-server");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("access denied") && out.contains("usermod -aG composed"),
        "{out}"
    );
    let (code, out) = b.sh("runuser -u outsider -- composectl ps");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("access denied"), "{out}");

    // Logs by project and service, without knowing the journal fields.
    let logs = b.ok("composectl logs yelb/redis-server --lines 50");
    assert!(logs.contains("restarted"), "{logs}");

    // A reload with a bad edit is refused with the location; the last good config keeps running.
    // The edit writes a password where a list belongs: the journal quotes it, but not STATUS
    // (any user may read it with systemctl show) nor the bus nor composectl.
    b.ok("cp /etc/composed/yelb/compose.yaml /tmp/good.yaml && sed '/^    environment:$/{N;s/environment:\\n      UI_ENV: test/environment: POSTGRES_PASSWORD=hunter2secret/}' /tmp/good.yaml > /tmp/bad.yaml && grep -q hunter2secret /tmp/bad.yaml && install -m644 /tmp/bad.yaml /etc/composed/yelb/compose.yaml");
    let (code, out) = b.sh("composectl reload");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("/etc/composed/yelb/compose.yaml:") && out.contains("the last good configuration keeps running"),
        "{out}"
    );
    let published = [
        "systemctl show -p StatusText composed",
        "composectl status; composectl ps --json",
        "busctl --json=short call io.composed.Composed1 /io/composed/Composed1 org.freedesktop.DBus.Properties GetAll s io.composed.Composed1.Manager",
        "busctl --json=short call io.composed.Composed1 /io/composed/Composed1/project/yelb org.freedesktop.DBus.Properties GetAll s io.composed.Composed1.Project",
    ];
    for command in published {
        let (_, out) = b.sh(command);
        assert!(!out.contains("hunter2secret"), "{command} shows the password: {out}");
    }
    assert!(
        b.ok("systemctl show -p StatusText composed")
            .contains("config error at /etc/composed/yelb/compose.yaml:")
    );
    assert!(
        b.ok("journalctl -u composed --no-pager -o cat")
            .contains("hunter2secret"),
        "the journal has the full error"
    );
    b.ok("install -m644 /tmp/good.yaml /etc/composed/yelb/compose.yaml");
    assert!(b.ok("composectl reload").contains("reloaded"));

    private_registry(&b);
    upgrade_in_place(&b);

    // Stopping the service stops the containers and keeps them.
    let ids = snapshot("{{.Id}}");
    b.ok("systemctl stop composed");
    assert_eq!(snapshot("{{.Id}}"), ids, "a stop keeps the containers");
    assert!(snapshot("{{.State.Running}}").values().all(|r| r == "false"));
    let (code, out) = b.sh("composectl ps");
    assert_eq!(code, 1);
    assert!(out.contains("composed is not running"), "{out}");
}

/// The package under test: `COMPOSED_TEST_DEB`, else built now as users build it.
fn package() -> std::path::PathBuf {
    if let Some(deb) = std::env::var_os("COMPOSED_TEST_DEB") {
        return deb.into();
    }
    let out_dir = std::env::temp_dir().join(format!("composed-deb-{}", std::process::id()));
    let built = std::process::Command::new("bash")
        .arg(support::repo().join("packaging/build-deb.sh"))
        .arg("--out")
        .arg(&out_dir)
        .arg("--fast")
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    std::path::PathBuf::from(String::from_utf8_lossy(&built.stdout).trim())
}

/// Both binaries need no glibc above 2.31, and the package says so.
fn assert_portable(deb: &std::path::Path) {
    let newer_than_floor = |v: &str| {
        let parts: Vec<u32> = v.split('.').filter_map(|p| p.parse().ok()).collect();
        parts > vec![2, 31]
    };
    let tree = std::env::temp_dir().join(format!("composed-deb-tree-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tree);
    let out = std::process::Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(&tree)
        .output()
        .unwrap();
    assert!(out.status.success());
    for bin in ["composed", "composectl"] {
        let out = std::process::Command::new("objdump")
            .arg("-T")
            .arg(tree.join("usr/bin").join(bin))
            .output()
            .unwrap();
        let symbols = String::from_utf8_lossy(&out.stdout);
        let newest = symbols
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '.')
            .filter_map(|w| w.strip_prefix("GLIBC_"))
            .filter(|v| newer_than_floor(v))
            .collect::<Vec<_>>();
        assert!(newest.is_empty(), "{bin} needs glibc {newest:?}, above 2.31");
    }
    let _ = std::fs::remove_dir_all(&tree);
    let out = std::process::Command::new("dpkg-deb")
        .arg("-f")
        .arg(deb)
        .arg("Depends")
        .output()
        .unwrap();
    let depends = String::from_utf8_lossy(&out.stdout);
    let libc = depends
        .split("libc6 (>= ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no libc6 dependency in {depends}"));
    assert!(!newer_than_floor(libc), "the package depends on libc6 >= {libc}");
}

/// Every container of every project in the box: name -> (id, StartedAt).
fn all_containers() -> BTreeMap<String, String> {
    let filter = "label=composed.managed-by=composed";
    support::docker(&["ps", "-q", "--filter", filter])
        .lines()
        .map(|id| {
            let name = inspect(id, "{{.Name}}");
            (name, format!("{id} {}", inspect(id, "{{.State.StartedAt}}")))
        })
        .collect()
}

/// The ticker's lines in the journal, as numbers.
fn ticks(b: &SystemdBox) -> Vec<u64> {
    b.ok("journalctl -u composed COMPOSE_PROJECT=ticker -o cat --no-pager")
        .lines()
        .filter_map(|l| l.strip_prefix("tick ")?.trim().parse().ok())
        .collect()
}

/// Installing the package again (an upgrade) and `composectl reexec` replace composed under the
/// same PID: every container keeps its id and StartedAt, and the journal has each line of a
/// container's output exactly once across both.
fn upgrade_in_place(b: &SystemdBox) {
    b.ok(r#"printf 'services:\n  ticker:\n    image: composed-test/busybox:1\n    command: ["sh", "-c", "trap \x27exit 0\x27 TERM; i=0; while true; do i=$$((i+1)); echo tick $$i; usleep 50000; done"]\n' > /etc/composed/ticker.yaml && chmod 644 /etc/composed/ticker.yaml"#);
    b.wait_until(
        "the ticker's lines are in the journal",
        Duration::from_secs(60),
        "composed",
        || ticks(b).len() > 20,
    );
    let containers = all_containers();
    assert!(containers.len() >= 6, "{containers:?}");
    let pid = b.ok("systemctl show -p MainPID --value composed");
    let reexecuted = |n: usize| {
        b.sh("journalctl -u composed -o cat --no-pager")
            .1
            .matches("re-executed in place")
            .count()
            >= n
    };
    let settled = || {
        b.sh("systemctl show -p ActiveState --value composed").1.trim() == "active"
            && b.sh("systemctl show -p StatusText --value composed")
                .1
                .contains("ready")
    };
    let installed = b.ok("dpkg -i /root/composed.deb");
    assert!(installed.contains("Setting up composed"), "{installed}");
    b.wait_until(
        "the upgrade re-executed composed",
        Duration::from_secs(60),
        "composed",
        || reexecuted(1) && settled(),
    );
    let out = b.ok("composectl reexec");
    assert!(out.contains("re-executing"), "{out}");
    b.wait_until(
        "composectl reexec re-executed it",
        Duration::from_secs(60),
        "composed",
        || reexecuted(2) && settled(),
    );
    assert_eq!(
        b.ok("systemctl show -p MainPID --value composed"),
        pid,
        "the same process"
    );
    let before = ticks(b).len();
    b.wait_until("lines keep coming", Duration::from_secs(30), "composed", || {
        ticks(b).len() > before + 20
    });
    assert_eq!(all_containers(), containers, "no container was touched");
    let got = ticks(b);
    let first = got[0];
    let expected: Vec<u64> = (first..first + got.len() as u64).collect();
    assert_eq!(
        got, expected,
        "each line exactly once, in order, across the upgrade and the re-exec"
    );
}

/// A project whose image is in a registry that wants a login, under the packaged unit: refused
/// with the registry named and `docker login` suggested while the other service runs; pulled
/// and run once root has logged in.
fn private_registry(b: &SystemdBox) {
    let registry = Registry::with_login(5057);
    let image = registry.push("composed-test/server:1", "private/app:1");
    b.ok(&format!(
        "printf 'services:\\n  app:\\n    image: {image}\\n  local:\\n    image: composed-test/server:1\\n' > /etc/composed/private.yaml && chmod 644 /etc/composed/private.yaml"
    ));
    let hint = format!("docker login {}", registry.address());
    b.wait_until(
        "the refused pull is in the journal",
        Duration::from_secs(60),
        "composed",
        || b.sh("journalctl -u composed --no-pager").1.contains(&hint),
    );
    let journal = b.ok("journalctl -u composed --no-pager");
    let line = journal.lines().find(|l| l.contains(&hint)).unwrap();
    assert!(line.contains(&image) && !line.contains(registry::PASSWORD), "{line}");
    b.wait_until("the other service runs", Duration::from_secs(30), "composed", || {
        inspect("private-local-1", "{{.State.Running}}") == "true"
    });

    // `docker login` as root (here on the host, into a config copied to root's in the box).
    let config = registry.dir.join("root-login");
    std::fs::create_dir_all(&config).unwrap();
    registry.login(&config);
    b.ok("mkdir -p /root/.docker");
    b.copy_in(&config.join("config.json"), "/root/.docker/config.json");
    let (code, out) = b.sh("composectl reload private");
    assert_eq!(
        code,
        0,
        "{out}\n{}",
        b.sh("journalctl -u composed --no-pager | tail -20").1
    );
    b.wait_until("the private image runs", Duration::from_secs(60), "composed", || {
        inspect("private-app-1", "{{.State.Running}}") == "true"
    });
    support::docker(&["rmi", "-f", &image]);
}
