//! Where a service's image comes from: `build` (context, Dockerfile or `dockerfile_inline`, args,
//! and the BuildKit keys compose accepts) and `pull_policy` (including `daily`, `weekly` and
//! `every_<duration>`).

use std::path::PathBuf;

use super::{ServiceConversion, host_entries, strings};
use crate::load::decode::Spanned;
use crate::load::paths;
use crate::load::raw::{RawBuild, RawFileRef};
use crate::model::{Build, BuildSecret, PullPolicy};

impl ServiceConversion<'_, '_> {
    pub(super) fn build(&mut self, b: RawBuild) -> Build {
        let RawBuild {
            loc,
            context,
            dockerfile,
            args,
            target,
            labels,
            network,
            cache_from,
            extra_hosts,
            shm_size,
            pull,
            no_cache,
            dockerfile_inline,
            additional_contexts,
            secrets,
            ssh,
            tags,
            platforms,
            privileged,
            entitlements,
            cache_to,
            ulimits,
            isolation,
            provenance,
            sbom,
            extensions: _,
        } = b;
        if let (Some(_), Some(inline)) = (&dockerfile, &dockerfile_inline) {
            self.error(
                &inline.loc,
                "`dockerfile` and `dockerfile_inline` are both set",
                "keep one: a file in the context, or the Dockerfile written inline",
            );
        }
        let context_loc = context
            .as_ref()
            .map(|c| c.loc.clone())
            .or(loc)
            .unwrap_or_else(|| self.loc.clone());
        let context = match context {
            Some(c) if c.value.contains("://") || c.value.starts_with("git@") => PathBuf::from(c.value),
            Some(c) => paths::absolute(&c.value, self.cx.project_dir, self.cx.home),
            None => self.cx.project_dir.to_path_buf(),
        };
        self.check_build_inputs(&context, dockerfile.as_deref(), &context_loc);
        let inline = dockerfile_inline.map(|d| d.value);
        Build {
            dockerfile: match &inline {
                Some(_) => None,
                None => Some(dockerfile.unwrap_or_else(|| "Dockerfile".to_string())),
            },
            dockerfile_inline: inline,
            additional_contexts: additional_contexts
                .map(strings)
                .unwrap_or_default()
                .into_iter()
                .map(|(name, source)| (name, self.context_source(&source)))
                .collect(),
            secrets: secrets.map(|s| self.build_secrets(s)).unwrap_or_default(),
            ssh: ssh.map(crate::load::decode::StrOrList::into_vec).unwrap_or_default(),
            tags: tags.unwrap_or_default(),
            platforms: platforms.unwrap_or_default(),
            privileged: privileged.unwrap_or(false),
            entitlements: entitlements.unwrap_or_default(),
            cache_to: cache_to.unwrap_or_default(),
            ulimits: ulimits.map(|u| self.ulimits(u)).unwrap_or_default(),
            isolation,
            provenance,
            sbom,
            context,
            args: args
                .map(|a| {
                    a.0.into_iter()
                        .map(|k| (k.key.clone(), k.value.or_else(|| (self.cx.vars)(&k.key))))
                        .collect()
                })
                .unwrap_or_default(),
            target,
            labels: labels.map(strings).unwrap_or_default(),
            network,
            cache_from: cache_from.unwrap_or_default(),
            extra_hosts: extra_hosts.map(|h| host_entries(h.0)).unwrap_or_default(),
            shm_size: self.size(shm_size, "build.shm_size"),
            pull: pull.unwrap_or(false),
            no_cache: no_cache.unwrap_or(false),
        }
    }

    /// An additional build context: a local path made absolute; an image, URL or `service:`
    /// reference as written.
    fn context_source(&self, source: &str) -> String {
        let local = !source.contains("://") && !source.starts_with("service:") && !source.starts_with("git@");
        match local {
            true => paths::absolute(source, self.cx.project_dir, self.cx.home)
                .to_string_lossy()
                .into_owned(),
            false => source.to_string(),
        }
    }

    /// Build secrets: declared top-level secrets, by name and an optional target.
    fn build_secrets(&mut self, raw: Vec<RawFileRef>) -> Vec<BuildSecret> {
        let mut out = Vec::new();
        for r in raw {
            let (source, target) = match r {
                RawFileRef::Short(s) => (s, None),
                RawFileRef::Long(l) => match l.source {
                    Some(source) => (source, l.target),
                    None => {
                        let loc = l.loc.clone().unwrap_or_else(|| self.loc.clone());
                        self.error(&loc, "build secret has no `source`", "add `source: NAME`");
                        continue;
                    }
                },
            };
            self.refs
                .secrets
                .push((self.name.to_string(), source.value.clone(), source.loc, "secret"));
            out.push(BuildSecret {
                source: source.value,
                target,
            });
        }
        out
    }

    /// A build context and its Dockerfile are what the image (run as root) is made of: only
    /// root may be able to change them. Checked when they exist; a missing one fails the build.
    fn check_build_inputs(&mut self, context: &std::path::Path, dockerfile: Option<&str>, loc: &crate::diag::Loc) {
        if !context.is_absolute() || !crate::input::exists(context) {
            return;
        }
        let dockerfile = context.join(dockerfile.unwrap_or("Dockerfile"));
        for (path, what, file) in [
            (context, "build context", false),
            (dockerfile.as_path(), "Dockerfile", true),
        ] {
            if crate::input::exists(path)
                && let Err(e) = crate::input::check(path, file)
            {
                self.diags.push(crate::load::input_error(loc.clone(), e, what));
            }
        }
    }

    pub(super) fn pull_policy(&mut self, p: Spanned<String>) -> Option<PullPolicy> {
        let refresh = |every: std::time::Duration| PullPolicy::Refresh {
            every: Some(every),
            written: p.value.clone(),
        };
        match p.value.as_str() {
            "always" => Some(PullPolicy::Always),
            "never" => Some(PullPolicy::Never),
            "missing" | "if_not_present" => Some(PullPolicy::Missing),
            "build" => Some(PullPolicy::Build),
            "daily" => Some(refresh(std::time::Duration::from_secs(24 * 3600))),
            "weekly" => Some(refresh(std::time::Duration::from_secs(7 * 24 * 3600))),
            // As compose: a bare `refresh` means `missing`.
            "refresh" => Some(PullPolicy::Refresh {
                every: None,
                written: p.value.clone(),
            }),
            other => match other.strip_prefix("every_").and_then(parse_every) {
                Some(every) => Some(refresh(every)),
                None => {
                    self.error(
                        &p.loc,
                        format!("unknown pull_policy {other:?}"),
                        "use `always`, `never`, `missing`, `build`, `daily`, `weekly` or `every_<duration>` (e.g. `every_12h`)",
                    );
                    None
                }
            },
        }
    }
}

/// `every_<duration>`'s duration: Go units plus `d` and `w` (`every_1w2d`, `every_12h`).
fn parse_every(text: &str) -> Option<std::time::Duration> {
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = std::mem::take(&mut number).parse().ok()?;
        let unit = match c {
            'w' => 7 * 24 * 3600,
            'd' => 24 * 3600,
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    (number.is_empty() && total > 0).then(|| std::time::Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::parse_every;

    #[test]
    fn refresh_intervals() {
        assert_eq!(parse_every("12h").map(|d| d.as_secs()), Some(12 * 3600));
        assert_eq!(parse_every("1w2d").map(|d| d.as_secs()), Some(9 * 24 * 3600));
        assert_eq!(parse_every("bogus"), None);
        assert_eq!(parse_every("12"), None);
        assert_eq!(parse_every(""), None);
    }
}
