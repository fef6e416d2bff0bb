//! The Debian package in a real systemd: built by `packaging/build-deb.sh` from this run's
//! binaries, installed with dpkg in the booted Debian 12 box, the yelb example dropped into
//! /etc/composed, `systemctl enable --now composed`; then the operator's view: `composectl ps`,
//! `busctl introspect`, a restart of one service, the group policy, logs, man pages and
//! completions.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::inspect;
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
    // Build the package from the binaries of this test run.
    let out_dir = std::env::temp_dir().join(format!("composed-deb-{}", std::process::id()));
    let bin_dir = support::composed_bin().parent().unwrap().to_path_buf();
    let built = std::process::Command::new("bash")
        .arg(support::repo().join("packaging/build-deb.sh"))
        .arg("--bin-dir")
        .arg(&bin_dir)
        .arg("--out")
        .arg(&out_dir)
        .arg("--fast")
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let deb = std::path::PathBuf::from(String::from_utf8_lossy(&built.stdout).trim());

    let b = SystemdBox::boot(BOX);
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
    b.ok("cp /etc/composed/yelb/compose.yaml /tmp/good.yaml && printf 'services:\\n  x: [\\n' > /tmp/bad.yaml && install -m644 /tmp/bad.yaml /etc/composed/yelb/compose.yaml");
    let (code, out) = b.sh("composectl reload");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("/etc/composed/yelb/compose.yaml:") && out.contains("the last good configuration keeps running"),
        "{out}"
    );
    b.ok("install -m644 /tmp/good.yaml /etc/composed/yelb/compose.yaml");
    assert!(b.ok("composectl reload").contains("reloaded"));

    // Stopping the service takes the project down and keeps its volume-free data path intact.
    b.ok("systemctl stop composed");
    let (code, out) = b.sh("composectl ps");
    assert_eq!(code, 1);
    assert!(out.contains("composed is not running"), "{out}");
    let _ = std::fs::remove_dir_all(out_dir);
}
