//! What the daemon tells systemd (`sd_notify`): READY, STATUS, WATCHDOG, RELOADING with
//! MONOTONIC_USEC, STOPPING, EXTEND_TIMEOUT_USEC. Without `NOTIFY_SOCKET` every call is a no-op,
//! so the daemon runs the same outside systemd.

use std::time::Duration;

use sd_notify::NotifyState;

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

pub fn reloading() {
    send(&[
        NotifyState::Reloading,
        NotifyState::monotonic_usec_now().unwrap_or(NotifyState::MonotonicUsec(0)),
    ]);
}

pub fn stopping(status: &str) {
    send(&[NotifyState::Stopping, NotifyState::Status(status)]);
}

pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// Asks systemd for `more` time before it gives up on a start or stop in progress.
pub fn extend_timeout(more: Duration) {
    let usec = more.as_micros().min(u32::MAX as u128) as u32;
    send(&[NotifyState::ExtendTimeoutUsec(usec)]);
}

/// The watchdog interval systemd asked for, if any.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled()
}
