//! Where a service's image comes from: `build` (context, Dockerfile, args, …) and `pull_policy`.

use std::path::PathBuf;

use super::{ServiceConversion, host_entries, strings};
use crate::load::decode::Spanned;
use crate::load::paths;
use crate::load::raw::RawBuild;
use crate::model::{Build, PullPolicy};

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
            extensions: _,
        } = b;
        let context = match context {
            Some(c) if c.value.contains("://") || c.value.starts_with("git@") => PathBuf::from(c.value),
            Some(c) => paths::absolute(&c.value, self.cx.project_dir, self.cx.home),
            None => {
                let _ = loc;
                self.cx.project_dir.to_path_buf()
            }
        };
        Build {
            context,
            dockerfile: dockerfile.unwrap_or_else(|| "Dockerfile".to_string()),
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

    pub(super) fn pull_policy(&mut self, p: Spanned<String>) -> Option<PullPolicy> {
        match p.value.as_str() {
            "always" => Some(PullPolicy::Always),
            "never" => Some(PullPolicy::Never),
            "missing" | "if_not_present" => Some(PullPolicy::Missing),
            "build" => Some(PullPolicy::Build),
            other => {
                self.error(
                    &p.loc,
                    format!("unknown pull_policy {other:?}"),
                    "use `always`, `never`, `missing` or `build`",
                );
                None
            }
        }
    }
}
