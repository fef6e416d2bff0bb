//! When a service starts and when it is restarted: `depends_on` (recorded for the dependency
//! checks), `healthcheck` and `restart`.

use std::collections::BTreeMap;

use super::ServiceConversion;
use crate::load::decode::{Keyed, Spanned, StrOrList};
use crate::load::raw::{RawDependsOn, RawHealthcheck};
use crate::model::{Condition, Dependency, Healthcheck, Restart};

impl ServiceConversion<'_, '_> {
    pub(super) fn depends_on(&mut self, raw: RawDependsOn) -> BTreeMap<String, Dependency> {
        let mut out = BTreeMap::new();
        for Keyed { key, key_loc, value } in raw.0.0 {
            let condition = match value.condition {
                None => Condition::ServiceStarted,
                Some(c) => match c.value.as_str() {
                    "service_started" => Condition::ServiceStarted,
                    "service_healthy" => Condition::ServiceHealthy,
                    "service_completed_successfully" => Condition::ServiceCompletedSuccessfully,
                    other => {
                        self.error(
                            &c.loc,
                            format!("unknown depends_on condition {other:?}"),
                            "use service_started, service_healthy or service_completed_successfully",
                        );
                        Condition::ServiceStarted
                    }
                },
            };
            let required = value.required.unwrap_or(true);
            self.refs
                .depends
                .push((self.name.to_string(), key.clone(), key_loc, required));
            out.insert(
                key,
                Dependency {
                    condition,
                    restart: value.restart.unwrap_or(false),
                    required,
                },
            );
        }
        out
    }

    pub(super) fn healthcheck(&mut self, h: RawHealthcheck) -> Option<Healthcheck> {
        let RawHealthcheck {
            loc,
            test,
            interval,
            timeout,
            retries,
            start_period,
            start_interval,
            disable,
            extensions: _,
        } = h;
        let disable = disable.unwrap_or(false);
        let test = match test {
            _ if disable => Vec::new(),
            None => Vec::new(),
            Some(t) => match t.value {
                StrOrList::One(s) => vec!["CMD-SHELL".to_string(), s],
                StrOrList::List(v) => {
                    if !matches!(v.first().map(String::as_str), Some("CMD" | "CMD-SHELL" | "NONE")) {
                        self.error(
                            &t.loc,
                            "a healthcheck `test` list must start with \"CMD\", \"CMD-SHELL\" or \"NONE\"",
                            "write `[\"CMD\", \"pg_isready\"]`, or a plain string to run it with a shell",
                        );
                    }
                    v
                }
            },
        };
        let _ = loc;
        Some(Healthcheck {
            test,
            timeout: self.duration(timeout, "healthcheck.timeout"),
            interval: self.duration(interval, "healthcheck.interval"),
            retries,
            start_period: self.duration(start_period, "healthcheck.start_period"),
            start_interval: self.duration(start_interval, "healthcheck.start_interval"),
            disable,
        })
    }

    pub(super) fn restart(&mut self, r: Spanned<String>) -> Option<Restart> {
        let parsed = match r.value.as_str() {
            "no" | "\"no\"" => Some(Restart::No),
            "always" => Some(Restart::Always),
            "unless-stopped" => Some(Restart::UnlessStopped),
            "on-failure" => Some(Restart::OnFailure(None)),
            other => other
                .strip_prefix("on-failure:")
                .and_then(|n| n.parse().ok())
                .map(|n| Restart::OnFailure(Some(n))),
        };
        if parsed.is_none() {
            self.error(
                &r.loc,
                format!("unknown restart policy {:?}", r.value),
                "use `no`, `always`, `on-failure`, `on-failure:N` or `unless-stopped`",
            );
        }
        parsed
    }
}
