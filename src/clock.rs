//! Wall-clock time as the engine and the D-Bus API count it: since the Unix epoch.

/// Seconds since the epoch (the engine's `since` for events and logs).
pub fn unix_seconds() -> i64 {
    unix_micros() as i64 / 1_000_000
}

/// Microseconds since the epoch (systemd's and the API's timestamps).
pub fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
