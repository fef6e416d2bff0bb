//! The `secrets` and `configs` a service mounts, short and long form; each source is recorded
//! for the check against the top-level sections.

use super::{ServiceConversion, parse_mode};
use crate::load::raw::RawFileRef;
use crate::model::FileMount;

impl ServiceConversion<'_, '_> {
    pub(super) fn file_refs(&mut self, raw: Vec<RawFileRef>, kind: &'static str, prefix: &str) -> Vec<FileMount> {
        let mut out = Vec::new();
        for r in raw {
            let (source, loc, target, uid, gid, mode) = match r {
                RawFileRef::Short(s) => (s.value, s.loc, None, None, None, None),
                RawFileRef::Long(l) => {
                    let loc = l.loc.clone().unwrap_or_else(|| self.loc.clone());
                    let Some(source) = l.source else {
                        self.error(
                            &loc,
                            format!("{kind} has no `source`"),
                            format!("add `source: NAME`, a {kind} declared at the top level"),
                        );
                        continue;
                    };
                    let mode = l.mode.and_then(|m| {
                        let parsed = parse_mode(&m.value);
                        if parsed.is_none() {
                            self.error(
                                &m.loc,
                                format!("mode {:?} is not an octal number", m.value),
                                "write e.g. `0440`",
                            );
                        }
                        parsed
                    });
                    (source.value, source.loc, l.target, l.uid, l.gid, mode)
                }
            };
            // Like compose, a relative target is kept as written (the engine mapping puts it
            // under /run/secrets/); an absent secret target defaults to /run/secrets/<name>.
            let target = match target {
                Some(t) => Some(t),
                None if kind == "secret" => Some(format!("{prefix}{source}")),
                None => None,
            };
            self.refs
                .secrets
                .push((self.name.to_string(), source.clone(), loc, kind));
            out.push(FileMount {
                source,
                target,
                uid,
                gid,
                mode,
            });
        }
        out
    }
}
