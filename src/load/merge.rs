//! Merging compose files (`-f a -f b`, `compose.override.yaml`, `extends`) the way Docker Compose
//! does: mappings merge by key; `command`, `entrypoint` and `healthcheck.test` are replaced;
//! list-or-mapping keys (`environment`, `labels`, `depends_on`, service `networks`, ...) merge by
//! name whatever form each file used; `volumes`, `devices`, `secrets` and `configs` merge by their
//! target path; other lists append without duplicates; `logging` is replaced when the driver
//! changes; `x-` keys are replaced whole. `!reset` removes a value and `!override` replaces it.
//! Every value keeps the location of the file it came from.

use crate::diag::Diagnostics;
use crate::yaml::{Entry, Kind, Node, Tag};

/// How one key merges, by its path from the document root (`*` matches any one key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    Replace,
    ByName,
    ByTarget(&'static str),
    Logging,
}

const RULES: &[(&str, Rule)] = &[
    ("services.*.command", Rule::Replace),
    ("services.*.entrypoint", Rule::Replace),
    ("services.*.healthcheck.test", Rule::Replace),
    ("services.*.environment", Rule::ByName),
    ("services.*.labels", Rule::ByName),
    ("services.*.annotations", Rule::ByName),
    ("services.*.sysctls", Rule::ByName),
    ("services.*.extra_hosts", Rule::ByName),
    ("services.*.depends_on", Rule::ByName),
    ("services.*.networks", Rule::ByName),
    ("services.*.build.args", Rule::ByName),
    ("services.*.build.labels", Rule::ByName),
    ("services.*.deploy.labels", Rule::ByName),
    ("networks.*.labels", Rule::ByName),
    ("volumes.*.labels", Rule::ByName),
    ("services.*.volumes", Rule::ByTarget("")),
    ("services.*.devices", Rule::ByTarget("")),
    ("services.*.secrets", Rule::ByTarget("/run/secrets/")),
    ("services.*.configs", Rule::ByTarget("/")),
    ("services.*.logging", Rule::Logging),
];

fn rule_for(path: &[&str]) -> Option<Rule> {
    RULES
        .iter()
        .find(|(pattern, _)| matches(pattern, path))
        .map(|(_, r)| *r)
}

fn matches(pattern: &str, path: &[&str]) -> bool {
    let parts: Vec<&str> = pattern.split('.').collect();
    parts.len() == path.len() && parts.iter().zip(path).all(|(p, k)| *p == "*" || p == k)
}

/// Merges `over` into `base`; `path` is where both sit in the document (empty for a whole file).
pub fn merge(base: Node, over: Node, path: &[&str], diags: &mut Diagnostics) -> Node {
    if over.tag == Some(Tag::Override) {
        return untagged(over);
    }
    let (base, over) = match rule_for(path) {
        Some(Rule::Replace) => return over,
        // Both forms become mappings; a value that is neither form falls through to the
        // mismatch report below.
        Some(Rule::ByName) => (to_map(base), to_map(over)),
        Some(Rule::ByTarget(prefix)) => return merge_by_target(base, over, prefix),
        Some(Rule::Logging) => {
            let driver = |n: &Node| n.get("driver").and_then(Node::as_str).map(str::to_string);
            if let (Some(a), Some(b)) = (driver(&base), driver(&over))
                && a != b
            {
                return over;
            }
            (base, over)
        }
        None => (base, over),
    };
    let loc = over.loc.clone();
    match (base.kind, over.kind) {
        (Kind::Map(a), Kind::Map(b)) => Node::map(merge_entries(a, b, path, diags), base.loc),
        (Kind::Seq(mut a), Kind::Seq(b)) => {
            for item in b {
                if !a.iter().any(|x| same_value(x, &item)) {
                    a.push(item);
                }
            }
            Node::seq(a, base.loc)
        }
        (Kind::Scalar(_), kind @ Kind::Scalar(_)) => Node { kind, loc, tag: None },
        (a, b) => {
            let base_node = Node {
                kind: a,
                loc: base.loc,
                tag: None,
            };
            let over_node = Node {
                kind: b,
                loc: loc.clone(),
                tag: None,
            };
            if base_node.is_null() {
                return over_node;
            }
            if over_node.is_null() {
                return base_node;
            }
            diags.error_help(
                Some(&loc),
                format!(
                    "`{}` is {} here but {} in {}; files cannot be merged",
                    path.join("."),
                    over_node.describe(),
                    base_node.describe(),
                    base_node.loc
                ),
                "use the same form in both files, or tag this value `!override` to replace the other",
            );
            over_node
        }
    }
}

fn merge_entries(mut entries: Vec<Entry>, others: Vec<Entry>, path: &[&str], diags: &mut Diagnostics) -> Vec<Entry> {
    for other in others {
        let position = entries.iter().position(|e| e.key == other.key);
        if other.value.tag == Some(Tag::Reset) {
            if let Some(i) = position {
                entries.remove(i);
            }
            continue;
        }
        match position {
            Some(i) if !other.key.starts_with("x-") => {
                let mut child: Vec<&str> = path.to_vec();
                child.push(&other.key);
                let placeholder = Node::null(other.key_loc.clone());
                let existing = std::mem::replace(&mut entries[i].value, placeholder);
                entries[i].value = merge(existing, other.value, &child, diags);
            }
            Some(i) => entries[i] = untagged_entry(other),
            None => entries.push(untagged_entry(other)),
        }
    }
    entries
}

fn untagged(mut node: Node) -> Node {
    node.tag = None;
    node
}

fn untagged_entry(mut e: Entry) -> Entry {
    e.value.tag = None;
    e
}

/// Turns the list form of a list-or-mapping key (`- KEY=value`, `- name`) into its mapping form.
pub fn to_map(node: Node) -> Node {
    let loc = node.loc.clone();
    match node.kind {
        Kind::Seq(items) => {
            let mut entries: Vec<Entry> = Vec::new();
            for item in items {
                let Some(text) = item.as_str() else {
                    // Not a `KEY=value` string; keep it for the decoder to reject.
                    return Node::seq(vec![item], loc);
                };
                let (key, value) = match text.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (text.to_string(), None),
                };
                let value = match value {
                    Some(v) => Node::scalar(v, false, item.loc.clone()),
                    None => Node::null(item.loc.clone()),
                };
                entries.retain(|e| e.key != key);
                entries.push(Entry {
                    key,
                    key_loc: item.loc,
                    value,
                });
            }
            Node::map(entries, loc)
        }
        Kind::Scalar(_) if node.is_null() => Node::map(Vec::new(), loc),
        kind => Node {
            kind,
            loc,
            tag: node.tag,
        },
    }
}

fn merge_by_target(base: Node, over: Node, prefix: &str) -> Node {
    let loc = base.loc.clone();
    let (Kind::Seq(mut items), Kind::Seq(others)) = (base.kind.clone(), over.kind.clone()) else {
        return over;
    };
    for other in others {
        let key = target_of(&other, prefix);
        match items.iter().position(|i| key.is_some() && target_of(i, prefix) == key) {
            Some(i) => items[i] = other,
            None => items.push(other),
        }
    }
    Node::seq(items, loc)
}

/// The container path a mount-like list item is keyed by.
fn target_of(item: &Node, prefix: &str) -> Option<String> {
    if let Some(text) = item.as_str() {
        if !prefix.is_empty() {
            return Some(format!("{prefix}{text}"));
        }
        let parts: Vec<&str> = text.split(':').collect();
        return Some(if parts.len() >= 2 { parts[1] } else { parts[0] }.to_string());
    }
    if let Some(t) = item.get("target").and_then(Node::as_str) {
        return Some(t.to_string());
    }
    let source = item.get("source").and_then(Node::as_str)?;
    Some(format!("{prefix}{source}"))
}

/// Structural equality that ignores locations.
fn same_value(a: &Node, b: &Node) -> bool {
    match (&a.kind, &b.kind) {
        (Kind::Scalar(x), Kind::Scalar(y)) => x.text == y.text,
        (Kind::Seq(x), Kind::Seq(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_value(p, q)),
        (Kind::Map(x), Kind::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|e| y.iter().any(|f| f.key == e.key && same_value(&e.value, &f.value)))
        }
        _ => false,
    }
}

/// Removes values tagged `!reset` that had nothing to reset (a first file's own tags).
pub fn drop_resets(node: &mut Node) {
    match &mut node.kind {
        Kind::Map(entries) => {
            entries.retain(|e| e.value.tag != Some(Tag::Reset));
            for e in entries {
                e.value.tag = None;
                drop_resets(&mut e.value);
            }
        }
        Kind::Seq(items) => items.iter_mut().for_each(|i| {
            i.tag = None;
            drop_resets(i)
        }),
        Kind::Scalar(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;
    use std::path::Path;
    use std::sync::Arc;

    fn merged(a: &str, b: &str) -> Node {
        let fa = Arc::from(Path::new("a.yaml"));
        let fb = Arc::from(Path::new("b.yaml"));
        let mut diags = Diagnostics::default();
        let mut n = merge(parse(a, &fa).unwrap(), parse(b, &fb).unwrap(), &[], &mut diags);
        drop_resets(&mut n);
        assert!(!diags.has_errors(), "{diags:?}");
        n
    }

    fn texts(n: &Node) -> Vec<String> {
        n.as_seq()
            .unwrap()
            .iter()
            .map(|i| i.as_str().unwrap_or("<map>").to_string())
            .collect()
    }

    fn keys(n: &Node) -> Vec<(String, Option<String>)> {
        n.as_map()
            .unwrap()
            .iter()
            .map(|e| (e.key.clone(), e.value.as_str().map(str::to_string)))
            .collect()
    }

    #[test]
    fn rules() {
        let a = "services:\n  s:\n    image: a\n    command: [x, y]\n    environment: [A=1, B=2]\n    ports: ['80:80']\n    volumes: ['./a:/data', 'v:/keep']\n    logging: {driver: json-file, options: {max-size: 1m}}\n    x-foo: {a: 1}\n";
        let b = "services:\n  s:\n    image: b\n    command: z\n    environment: {B: 3, C: 4}\n    ports: ['80:80', '81:81']\n    volumes: ['./b:/data']\n    logging: {driver: syslog}\n    x-foo: {b: 2}\n";
        let n = merged(a, b);
        let s = n.get("services").unwrap().get("s").unwrap();
        assert_eq!(s.get("image").unwrap().as_str(), Some("b"));
        assert_eq!(s.get("command").unwrap().as_str(), Some("z"));
        assert_eq!(
            keys(s.get("environment").unwrap()),
            vec![
                ("A".into(), Some("1".into())),
                ("B".into(), Some("3".into())),
                ("C".into(), Some("4".into()))
            ]
        );
        assert_eq!(texts(s.get("ports").unwrap()), vec!["80:80", "81:81"]);
        assert_eq!(texts(s.get("volumes").unwrap()), vec!["./b:/data", "v:/keep"]);
        assert!(s.get("logging").unwrap().get("options").is_none());
        assert!(s.get("x-foo").unwrap().get("a").is_none());
        // Values keep the file they came from.
        assert_eq!(&*s.get("image").unwrap().loc.file, Path::new("b.yaml"));
    }

    #[test]
    fn reset_and_override() {
        let a = "services:\n  s:\n    ports: ['80:80']\n    environment: {A: 1}\n    labels: {x: 1}\n";
        let b = "services:\n  s:\n    ports: !reset []\n    environment: !override {B: 2}\n    labels: !reset null\n";
        let n = merged(a, b);
        let s = n.get("services").unwrap().get("s").unwrap();
        assert!(s.get("ports").is_none());
        assert!(s.get("labels").is_none());
        assert_eq!(
            keys(s.get("environment").unwrap()),
            vec![("B".into(), Some("2".into()))]
        );
    }

    #[test]
    fn mismatched_list_or_map_forms_do_not_panic() {
        let fa = Arc::from(Path::new("a.yaml"));
        let fb = Arc::from(Path::new("b.yaml"));
        for (a, b) in [
            (
                "services: {s: {environment: text}}",
                "services: {s: {environment: {A: 1}}}",
            ),
            (
                "services: {s: {environment: {A: 1}}}",
                "services: {s: {environment: [[nested]]}}",
            ),
            ("services: {s: {depends_on: [a]}}", "services: {s: {depends_on: 3}}"),
            ("services: {s: {volumes: text}}", "services: {s: {volumes: [./a:/a]}}"),
            (
                "services: {s: {logging: text}}",
                "services: {s: {logging: {driver: x}}}",
            ),
        ] {
            let mut diags = Diagnostics::default();
            merge(parse(a, &fa).unwrap(), parse(b, &fb).unwrap(), &[], &mut diags);
        }
    }

    #[test]
    fn same_driver_logging_merges_options() {
        let n = merged(
            "services: {s: {logging: {driver: json-file, options: {a: '1'}}}}",
            "services: {s: {logging: {options: {b: '2'}}}}",
        );
        let opts = n
            .get("services")
            .unwrap()
            .get("s")
            .unwrap()
            .get("logging")
            .unwrap()
            .get("options")
            .unwrap();
        assert_eq!(opts.as_map().unwrap().len(), 2);
    }

    #[test]
    fn mismatched_forms_are_located_errors() {
        let fa = Arc::from(Path::new("a.yaml"));
        let fb = Arc::from(Path::new("b.yaml"));
        let mut diags = Diagnostics::default();
        merge(
            parse("services: {s: {dns: [a]}}", &fa).unwrap(),
            parse("services: {s: {dns: {x: 1}}}", &fb).unwrap(),
            &[],
            &mut diags,
        );
        let e = diags.errors().next().unwrap();
        assert_eq!(&*e.loc.as_ref().unwrap().file, Path::new("b.yaml"));
    }
}
