//! Why a container is recreated, field by field. Pure.
//!
//! Every container composed creates records its service's configuration in the label
//! `composed.service-config` ([`record`]): the service as `composed config` prints it, with the
//! values of `environment` and build `args` replaced by a digest, so the label holds no secret
//! and still tells that a value changed. [`between`] compares that record with the new
//! configuration and lists each leaf that differs (old → new); values under the masked keys are
//! shown as `(changed)`, never in clear. The config hash, not this record, decides recreation.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::Service;

/// Keys whose values are secrets: shown as changed, never in clear.
const MASKED: [&str; 2] = ["environment", "build.args"];

/// One field that differs between the running container and the new configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The compose key path, as `ports[0].published` or `environment.DB_PASSWORD`.
    pub field: String,
    /// The old value, `None` when the field was not set (or is masked).
    pub old: Option<String>,
    /// The new value, `None` when the field is no longer set (or is masked).
    pub new: Option<String>,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if is_masked(&self.field) {
            let what = match (&self.old, &self.new) {
                (None, _) => "set",
                (_, None) => "removed",
                _ => "changed",
            };
            return write!(f, "{}: ({what}; values hidden)", self.field);
        }
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unset)".to_string());
        write!(f, "{}: {} → {}", self.field, show(&self.old), show(&self.new))
    }
}

/// The label value recording a service's configuration, with secret values digested.
pub fn record(service: &Service) -> String {
    let mut value = serde_json::to_value(service).unwrap_or(Value::Null);
    for key in MASKED {
        let mut target = Some(&mut value);
        for part in key.split('.') {
            target = target.and_then(|v| v.get_mut(part));
        }
        if let Some(Value::Object(map)) = target {
            for v in map.values_mut() {
                *v = Value::String(digest(v));
            }
        }
    }
    value.to_string()
}

/// The fields that differ between a recorded configuration and `service`. `None` when the
/// record is missing or unreadable (a container composed created before it recorded them).
pub fn between(recorded: Option<&str>, service: &Service) -> Option<Vec<Change>> {
    let old: Value = serde_json::from_str(recorded?).ok()?;
    let new: Value = serde_json::from_str(&record(service)).ok()?;
    let (mut old_leaves, mut new_leaves) = (Vec::new(), Vec::new());
    flatten(&old, String::new(), &mut old_leaves);
    flatten(&new, String::new(), &mut new_leaves);
    let old_map: std::collections::BTreeMap<String, String> = old_leaves.into_iter().collect();
    let new_map: std::collections::BTreeMap<String, String> = new_leaves.into_iter().collect();
    let mut fields: Vec<&String> = old_map.keys().chain(new_map.keys()).collect();
    fields.sort();
    fields.dedup();
    let changes = fields
        .into_iter()
        .filter(|f| old_map.get(*f) != new_map.get(*f))
        .map(|f| {
            let masked = is_masked(f);
            let shown = |v: Option<&String>| v.map(|v| if masked { "hidden".to_string() } else { v.clone() });
            Change {
                field: f.clone(),
                old: shown(old_map.get(f)),
                new: shown(new_map.get(f)),
            }
        })
        .collect();
    Some(changes)
}

fn is_masked(field: &str) -> bool {
    MASKED.iter().any(|m| field.starts_with(&format!("{m}.")))
}

fn digest(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let hash = Sha256::digest(text.as_bytes());
    format!(
        "sha256:{}",
        hash.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// Every leaf of `v` with its path (`a.b[2].c`).
fn flatten(v: &Value, path: String, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                flatten(v, p, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(v, format!("{path}[{i}]"), out);
            }
        }
        Value::Null => {}
        Value::String(s) => out.push((path, s.clone())),
        other => out.push((path, other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(yaml: &str) -> Service {
        crate::load::test_project(yaml).services["s"].clone()
    }

    #[test]
    fn an_env_change_names_the_variable_and_hides_its_values() {
        let old = service("services:\n  s:\n    image: pg:15\n    environment: {DB_PASSWORD: hunter2, A: '1'}\n");
        let new = service("services:\n  s:\n    image: pg:15\n    environment: {DB_PASSWORD: swordfish, A: '1'}\n");
        let label = record(&old);
        assert!(!label.contains("hunter2"), "{label}");
        let changes = between(Some(&label), &new).unwrap();
        assert_eq!(changes.len(), 1, "{changes:?}");
        let line = changes[0].to_string();
        assert_eq!(line, "environment.DB_PASSWORD: (changed; values hidden)");
        assert!(!line.contains("swordfish") && !line.contains("hunter2"));
    }

    #[test]
    fn an_image_and_a_port_change_show_old_and_new() {
        let old = service("services:\n  s:\n    image: pg:15\n    ports: ['8080:80']\n");
        let new = service("services:\n  s:\n    image: pg:16\n    ports: ['8081:80']\n    environment: {NEW: x}\n");
        let lines: Vec<String> = between(Some(&record(&old)), &new)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "environment.NEW: (set; values hidden)",
                "image: pg:15 → pg:16",
                "ports[0].published: 8080 → 8081",
            ]
        );
    }

    #[test]
    fn no_record_means_no_field_list() {
        let s = service("services:\n  s:\n    image: x\n");
        assert!(between(None, &s).is_none());
        assert!(between(Some("not json"), &s).is_none());
        assert_eq!(between(Some(&record(&s)), &s), Some(Vec::new()));
    }
}
