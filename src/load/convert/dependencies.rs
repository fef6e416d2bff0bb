//! The checks between services, run once every service is converted: profiles drop inactive
//! services, `depends_on` and `network_mode: service:NAME` must name an active service (a
//! dependency on an inactive one that is not `required` is dropped instead), and `depends_on`
//! has no cycles.

use std::collections::{BTreeMap, HashMap};

use super::{Context, Refs};
use crate::diag::Diagnostics;
use crate::model::Service;

/// Drops services whose profiles are all inactive; returns every service name with its profiles.
pub(super) fn apply_profiles(
    services: &mut BTreeMap<String, Service>,
    active: &[String],
) -> BTreeMap<String, Vec<String>> {
    let mut all = BTreeMap::new();
    for (name, s) in services.iter() {
        all.insert(name.clone(), s.profiles.clone());
    }
    let enabled = |profiles: &[String]| profiles.is_empty() || active.iter().any(|a| a == "*" || profiles.contains(a));
    services.retain(|_, s| enabled(&s.profiles));
    all
}

pub(super) fn check_dependencies(
    services: &mut BTreeMap<String, Service>,
    all: &BTreeMap<String, Vec<String>>,
    refs: &Refs,
    cx: &Context,
    diags: &mut Diagnostics,
) {
    for (from, to, loc, required) in &refs.depends {
        if !services.contains_key(from) {
            continue;
        }
        if services.contains_key(to) {
            if from == to {
                diags.error_help(
                    Some(loc),
                    format!("service `{from}` depends on itself"),
                    "remove it from its own `depends_on`",
                );
            }
            continue;
        }
        match all.get(to) {
            None => diags.error_help(
                Some(loc),
                format!("service `{from}` depends on undefined service `{to}`"),
                match crate::diag::did_you_mean(to, all.keys().map(String::as_str)) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => "define the service, or remove it from `depends_on`".to_string(),
                },
            ),
            // An optional dependency on a service of an inactive profile stays written (compose
            // prints it) and is not waited for: the plan waits only for services that run.
            Some(_) if !required => {}
            Some(profiles) => diags.error_help(
                Some(loc),
                format!(
                    "service `{from}` depends on `{to}`, which is only enabled with profile {}",
                    profiles.join(" or ")
                ),
                format!(
                    "enable it with COMPOSE_PROFILES={} (active now: {})",
                    profiles.join(","),
                    if cx.profiles.is_empty() {
                        "none".to_string()
                    } else {
                        cx.profiles.join(",")
                    }
                ),
            ),
        }
    }
    for (from, to, loc) in &refs.service_modes {
        if services.contains_key(from) && !services.contains_key(to) {
            diags.error_help(
                Some(loc),
                format!("service `{from}` uses the network of undefined service `{to}`"),
                "define the service or change `network_mode`",
            );
        }
    }
}

pub(super) fn check_cycles(services: &BTreeMap<String, Service>, refs: &Refs, diags: &mut Diagnostics) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit<'a>(
        name: &'a str,
        services: &'a BTreeMap<String, Service>,
        marks: &mut HashMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        match marks.get(name) {
            Some(Mark::Done) => return None,
            Some(Mark::Visiting) => {
                let start = stack.iter().position(|s| *s == name).unwrap_or(0);
                let mut cycle: Vec<String> = stack[start..].iter().map(|s| s.to_string()).collect();
                cycle.push(name.to_string());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(name, Mark::Visiting);
        stack.push(name);
        if let Some(s) = services.get(name) {
            for dep in s.depends_on.keys() {
                if services.contains_key(dep)
                    && dep != name
                    && let Some(c) = visit(dep, services, marks, stack)
                {
                    return Some(c);
                }
            }
        }
        stack.pop();
        marks.insert(name, Mark::Done);
        None
    }
    let mut marks = HashMap::new();
    for name in services.keys() {
        let mut stack = Vec::new();
        if let Some(cycle) = visit(name, services, &mut marks, &mut stack) {
            let loc = refs
                .depends
                .iter()
                .find(|(f, t, _, _)| *f == cycle[0] && *t == cycle[1])
                .map(|d| d.2.clone());
            diags.error_help(
                loc.as_ref(),
                format!("dependency cycle: {}", cycle.join(" -> ")),
                "remove one of these `depends_on` entries so the services can start in order",
            );
            return;
        }
    }
}
