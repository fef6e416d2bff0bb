//! A Debian 12 container booting systemd as PID 1 and sharing the host's engine
//! (`tests/setup-systemd-image.sh` builds the image): where the units, the package and the
//! system bus are tested for real. Removed when dropped.

use std::process::Command;
use std::time::{Duration, Instant};

pub const IMAGE: &str = "composed-test/systemd:3";

pub struct SystemdBox {
    pub name: String,
}

/// Whether the image exists (build it with tests/setup-systemd-image.sh).
pub fn image_available() -> bool {
    Command::new("docker")
        .args(["image", "inspect", IMAGE])
        .output()
        .is_ok_and(|o| o.status.success())
}

impl SystemdBox {
    /// Boots a new box (an old one of the same name is removed first) and waits for systemd.
    pub fn boot(name: &str) -> SystemdBox {
        let _ = Command::new("docker").args(["rm", "-f", name]).output();
        super::docker(&[
            "run",
            "-d",
            "--name",
            name,
            "--cap-add",
            "SYS_ADMIN",
            "--cap-add",
            "NET_ADMIN",
            "--security-opt",
            "seccomp=unconfined",
            "--cgroupns=host",
            "-v",
            "/sys/fs/cgroup:/sys/fs/cgroup:rw",
            "--tmpfs",
            "/run",
            "--tmpfs",
            "/run/lock",
            "--tmpfs",
            "/tmp",
            "-v",
            "/var/run/docker.sock:/run/docker.sock",
            "-e",
            "container=docker",
            IMAGE,
            "/lib/systemd/systemd",
        ]);
        let b = SystemdBox { name: name.to_string() };
        b.wait_until("systemd is up", Duration::from_secs(60), "", || {
            let (_, state) = Self::sh_in(name, "systemctl is-system-running");
            state.contains("running") || state.contains("degraded")
        });
        b
    }

    /// Runs a shell script inside; returns (exit code, stdout and stderr).
    pub fn sh(&self, script: &str) -> (i32, String) {
        Self::sh_in(&self.name, script)
    }

    /// [`Self::sh`] in the box named `name`.
    pub fn sh_in(name: &str, script: &str) -> (i32, String) {
        let out = Command::new("docker")
            .args(["exec", name, "bash", "-c", script])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    /// Runs a script that must succeed; returns its output.
    pub fn ok(&self, script: &str) -> String {
        let (code, out) = self.sh(script);
        assert_eq!(code, 0, "in the box: {script}\n{out}");
        out
    }

    /// Copies a host file or directory into the box (not under /tmp or /run: tmpfs mounts hide
    /// what `docker cp` writes).
    pub fn copy_in(&self, host: &std::path::Path, inside: &str) {
        super::docker(&["cp", &host.to_string_lossy(), &format!("{}:{inside}", self.name)]);
    }

    /// Polls `check` every 200 ms; on timeout panics with `what` and the journal of `unit`.
    pub fn wait_until(&self, what: &str, within: Duration, unit: &str, check: impl FnMut() -> bool) {
        Self::wait_in(&self.name, what, within, unit, check)
    }

    /// [`Self::wait_until`] in the box named `name`.
    pub fn wait_in(name: &str, what: &str, within: Duration, unit: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if check() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let journal = match unit {
            "" => String::new(),
            u => Self::sh_in(name, &format!("journalctl -u {u} --no-pager | tail -40")).1,
        };
        panic!("timed out waiting until {what}; journal:\n{journal}");
    }
}

impl Drop for SystemdBox {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.name]).output();
    }
}
