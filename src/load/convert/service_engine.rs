//! The service keys that go to the engine as they are, or nearly: legacy `links` and
//! `volumes_from` (each adds the implicit `depends_on` compose adds), the runtime and namespace
//! modes, CPU and memory tunables, `gpus`, annotations, and the lifecycle hooks.

use std::collections::BTreeMap;

use super::ServiceConversion;
use crate::load::decode::{ListOrMap, Spanned};
use crate::load::raw::RawHook;
use crate::model::{Condition, Dependency, Hook};

impl ServiceConversion<'_, '_> {
    /// The `depends_on` compose implies: a link's target starts first and restarts it
    /// (`restart: true`); a `volumes_from` service starts first.
    pub(super) fn implied_dependencies(
        &mut self,
        links: &[Spanned<String>],
        volumes_from: &[Spanned<String>],
        depends_on: &mut BTreeMap<String, Dependency>,
    ) {
        for link in links {
            let target = link.value.split(':').next().unwrap_or_default();
            self.refs
                .depends
                .push((self.name.to_string(), target.to_string(), link.loc.clone(), true));
            depends_on.entry(target.to_string()).or_insert(Dependency {
                condition: Condition::ServiceStarted,
                restart: true,
                required: true,
            });
        }
        for from in volumes_from {
            if from.value.starts_with("container:") {
                continue;
            }
            let target = from.value.split(':').next().unwrap_or_default();
            self.refs
                .depends
                .push((self.name.to_string(), target.to_string(), from.loc.clone(), true));
            if let Some(mode) = from.value.split(':').nth(1)
                && !matches!(mode, "ro" | "rw")
            {
                self.error(
                    &from.loc,
                    format!("`volumes_from` mode {mode:?} is neither `ro` nor `rw`"),
                    "write `SERVICE`, `SERVICE:ro` or `container:NAME[:ro]`",
                );
            }
            depends_on.entry(target.to_string()).or_insert(Dependency {
                condition: Condition::ServiceStarted,
                restart: false,
                required: true,
            });
        }
    }

    /// `cgroup`: the container's cgroup namespace, `host` or `private`.
    pub(super) fn cgroup(&mut self, c: Option<Spanned<String>>) -> Option<String> {
        let c = c?;
        if !matches!(c.value.as_str(), "host" | "private") {
            self.error(
                &c.loc,
                format!("`cgroup` {:?} is neither `host` nor `private`", c.value),
                "write `cgroup: host` or `cgroup: private`",
            );
        }
        Some(c.value)
    }

    /// `mem_swappiness` 0–100; 0 is the engine's default and compose drops it.
    pub(super) fn swappiness(&mut self, s: Option<Spanned<i64>>) -> Option<u64> {
        let s = s?;
        if !(0..=100).contains(&s.value) {
            self.error(
                &s.loc,
                format!("`mem_swappiness` {} is outside 0–100", s.value),
                "write a percentage from 0 to 100",
            );
            return None;
        }
        (s.value != 0).then_some(s.value as u64)
    }

    pub(super) fn hooks(&mut self, raw: Vec<RawHook>, key: &str) -> Vec<Hook> {
        let mut out = Vec::new();
        for h in raw {
            let RawHook {
                loc,
                command,
                user,
                privileged,
                working_dir,
                environment,
                extensions: _,
            } = h;
            let Some(command) = command else {
                let loc = loc.unwrap_or_else(|| self.loc.clone());
                self.error(&loc, format!("a `{key}` hook has no `command`"), "add `command: [...]`");
                continue;
            };
            out.push(Hook {
                command: self.command(command, key),
                user,
                privileged: privileged.unwrap_or(false),
                working_dir,
                environment: hook_environment(environment),
            });
        }
        out
    }
}

/// A hook's own environment: bare names stay unset (the container's value applies).
fn hook_environment(environment: Option<ListOrMap>) -> BTreeMap<String, Option<String>> {
    environment
        .map(|e| e.0.into_iter().map(|k| (k.key, k.value)).collect())
        .unwrap_or_default()
}
