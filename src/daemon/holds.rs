//! What an operator stopped (`composectl stop`): a whole project or some of its services. Held
//! containers are neither started by reconciles nor restarted by supervision until
//! `composectl start`. Kept in the runtime directory, so a restart of composed (a crash, an
//! upgrade) keeps them and a reboot forgets them, as `systemctl stop` of a unit.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holds {
    file: PathBuf,
    pub project: bool,
    pub services: BTreeSet<String>,
}

const WHOLE_PROJECT: &str = "*";

impl Holds {
    /// The holds of `project` as last saved (none when there is no file).
    pub fn load(runtime_dir: &Path, project: &str) -> Holds {
        let file = runtime_dir.join("held").join(project);
        let mut holds = Holds {
            file,
            ..Holds::default()
        };
        if let Ok(text) = std::fs::read_to_string(&holds.file) {
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                if line == WHOLE_PROJECT {
                    holds.project = true;
                } else {
                    holds.services.insert(line.to_string());
                }
            }
        }
        holds
    }

    pub fn holds(&self, service: &str) -> bool {
        self.project || self.services.contains(service)
    }

    /// Holds the project (`None`) or one service.
    pub fn hold(&mut self, service: Option<&str>) {
        match service {
            None => self.project = true,
            Some(s) => {
                self.services.insert(s.to_string());
            }
        }
        self.save();
    }

    /// Releases the project and all its services (`None`), or one service.
    pub fn release(&mut self, service: Option<&str>) {
        match service {
            None => {
                self.project = false;
                self.services.clear();
            }
            Some(s) => {
                self.services.remove(s);
            }
        }
        self.save();
    }

    fn save(&self) {
        let result = if !self.project && self.services.is_empty() {
            match std::fs::remove_file(&self.file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        } else {
            let mut text: String = self.services.iter().map(|s| format!("{s}\n")).collect();
            if self.project {
                text.insert_str(0, "*\n");
            }
            self.file
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&self.file, text))
        };
        if let Err(e) = result {
            tracing::warn!(
                "cannot record what is stopped in {} ({e}); a restart of composed will start it again",
                self.file.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_survive_a_reload_and_vanish_when_released() {
        let dir = std::env::temp_dir().join(format!("composed-holds-{}", std::process::id()));
        let mut h = Holds::load(&dir, "web");
        assert!(!h.holds("db"));
        h.hold(Some("db"));
        h.hold(None);
        let again = Holds::load(&dir, "web");
        assert!(again.project && again.holds("db") && again.holds("other"));
        h.release(None);
        assert!(!dir.join("held/web").exists());
        assert_eq!(Holds::load(&dir, "web").services.len(), 0);
        let _ = std::fs::remove_dir_all(dir);
    }
}
