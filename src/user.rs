//! Who composed runs as, and the places that follow from it: its home directory (for the Docker
//! CLI's config) and its runtime directory (locks, cursors, holds) when systemd gives none.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// The effective user id (the owner of `/proc/self`).
pub fn uid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// `$HOME`, else the home directory /etc/passwd gives the current user.
pub fn home() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(home));
    }
    let uid = uid()?.to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.get(2) == Some(&uid.as_str()) {
            fields.get(5).map(PathBuf::from)
        } else {
            None
        }
    })
}

/// Where the daemon keeps its runtime files: `$RUNTIME_DIRECTORY` (the units set it), else
/// `/run/composed` for root, else `$XDG_RUNTIME_DIR/composed` (a user trying it out).
pub fn runtime_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("RUNTIME_DIRECTORY").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    match uid() {
        Some(0) | None => PathBuf::from("/run/composed"),
        Some(uid) => std::env::var_os("XDG_RUNTIME_DIR")
            .filter(|d| !d.is_empty())
            .map(|d| PathBuf::from(d).join("composed"))
            .unwrap_or_else(|| std::env::temp_dir().join(format!("composed-{uid}"))),
    }
}
