//! Wall-clock time as the engine and the D-Bus API count it: since the Unix epoch.

/// Now, to the nanosecond, as the engine's `since` for events: `SECONDS.NANOSECONDS`. Events
/// from before it (a previous run's stops of the same containers) are not replayed.
pub fn engine_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}

/// Microseconds since the epoch (systemd's and the API's timestamps).
pub fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
