//! A system-like D-Bus for the tests: a dbus-daemon with Debian's system-bus default-deny rules
//! plus composed's shipped policy, and composectl pointed at it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::KillOnDrop;

/// A running bus; stopped when dropped.
pub struct SystemBus {
    pub address: String,
    _daemon: KillOnDrop,
}

impl SystemBus {
    /// Starts a bus whose socket and configuration live in `work`.
    pub fn start(work: &Path) -> SystemBus {
        let socket: PathBuf = work.join("system_bus_socket");
        std::fs::write(work.join("bus.conf"), bus_config(&socket)).unwrap();
        let daemon = KillOnDrop(
            Command::new("dbus-daemon")
                .arg(format!("--config-file={}", work.join("bus.conf").display()))
                .args(["--nofork", "--nopidfile"])
                .spawn()
                .unwrap(),
        );
        super::wait_until("the bus listens", Duration::from_secs(10), || socket.exists());
        SystemBus {
            address: format!("unix:path={}", socket.display()),
            _daemon: daemon,
        }
    }

    pub fn ctl(&self) -> Ctl {
        Ctl {
            address: self.address.clone(),
        }
    }
}

/// A system-like bus: the same default-deny rules as Debian's system.conf, plus our policy.
pub fn bus_config(socket: &Path) -> String {
    let policy = super::repo().join("packaging/dbus/io.composed.Composed1.conf");
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <include>{}</include>
</busconfig>
"#,
        socket.display(),
        policy.display()
    )
}

pub struct Ctl {
    pub address: String,
}

impl Ctl {
    /// Runs composectl as root; returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        self.run_as(None, args)
    }

    /// Runs composectl, as the user and group id `as_user` when given (no supplementary groups).
    pub fn run_as(&self, as_user: Option<(&Path, u32)>, args: &[&str]) -> (i32, String, String) {
        let mut command = match as_user {
            Some((bin, id)) => {
                let mut c = Command::new("setpriv");
                c.args([
                    format!("--reuid={id}"),
                    format!("--regid={id}"),
                    "--clear-groups".to_string(),
                    "--".to_string(),
                ])
                .arg(bin);
                c
            }
            None => Command::new(super::composectl_bin()),
        };
        let out = command
            .args(args)
            .env("DBUS_SYSTEM_BUS_ADDRESS", &self.address)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "composectl {args:?}: {out}{err}");
        out
    }
}
