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
        let (dir, name) = holds.place();
        if let Some(text) = crate::runtime_files::read(&dir, &name) {
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

    /// The directory and name of the file.
    fn place(&self) -> (std::path::PathBuf, String) {
        let dir = self.file.parent().map(Path::to_path_buf).unwrap_or_default();
        let name = self
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        (dir, name)
    }

    fn save(&self) {
        let (dir, name) = self.place();
        let result = if !self.project && self.services.is_empty() {
            crate::runtime_files::remove(&dir, &name)
        } else {
            let mut text: String = self.services.iter().map(|s| format!("{s}\n")).collect();
            if self.project {
                text.insert_str(0, "*\n");
            }
            crate::runtime_files::write(&dir, &name, text.as_bytes())
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
