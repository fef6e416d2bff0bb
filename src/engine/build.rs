//! Building a service's image with the engine's own (classic) builder, as `docker compose`
//! does with BuildKit turned off: the context streamed as a tar, `dockerfile_inline` added to
//! it, build args, labels, target, network, extra hosts, shm size, one platform, then the
//! extra `tags`. What only BuildKit can do (secrets, ssh, additional contexts, privileged,
//! several platforms) is refused here, when a build is needed, with what to do instead.

use std::collections::HashMap;

use bollard::query_parameters::{BuildImageOptions, BuildImageOptionsBuilder, TagImageOptionsBuilder};
use futures_util::StreamExt;

use super::credentials::Credentials;
use super::{DockerEngine, EngineError};
use crate::build_context::Dockerfile;
use crate::identity;
use crate::model::{Build, Project, Service};

impl DockerEngine {
    /// Builds a service's image from its context through the engine's build API.
    pub(super) async fn build_image(&self, project: &Project, service: &Service) -> Result<(), EngineError> {
        let Some(build) = &service.build else { return Ok(()) };
        let image = identity::image_name(project, service);
        let fail =
            |m: String| EngineError::Refused(format!("building image {image} for service `{}`: {m}", service.name));
        if let Some(why) = buildkit_only(build) {
            return Err(fail(why));
        }
        let dockerfile = dockerfile(build);
        let remote = remote_context(build);
        let (body, context_failure) = match remote {
            Some(_) => (None, crate::build_context::Failure::default()),
            None => {
                let (context, failure) = crate::build_context::stream(build.context.clone(), dockerfile.clone());
                (Some(bollard::body_try_stream(context)), failure)
            }
        };
        let options = options(build, &image, &dockerfile, remote).map_err(fail)?;
        // Base images may come from any registry the operator logged in to.
        let credentials = Credentials::load().map_err(fail)?.all().await;
        let credentials = (!credentials.is_empty()).then_some(credentials);
        let mut stream = self.docker.build_image(options, credentials, body);
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(message) = info.error_detail.and_then(|d| d.message) {
                        return Err(fail(message));
                    }
                }
                Err(e) => {
                    let why = match context_failure.get() {
                        Some(read) => format!("cannot read the build context: {read}"),
                        None => self.error("build", e).to_string(),
                    };
                    return Err(fail(why));
                }
            }
        }
        self.tag_built(&image, &build.tags).await.map_err(fail)
    }

    /// Gives the built image the extra names of `build.tags`.
    async fn tag_built(&self, image: &str, tags: &[String]) -> Result<(), String> {
        for tag in tags {
            let (repo, tag_part) = split_tag(tag);
            let options = TagImageOptionsBuilder::default().repo(repo).tag(tag_part).build();
            self.docker
                .tag_image(image, Some(options))
                .await
                .map_err(|e| format!("tagging it {tag}: {}", self.error("tag", e)))?;
        }
        Ok(())
    }
}

/// Where the Dockerfile comes from: the inline text, else the path (default `Dockerfile`).
fn dockerfile(build: &Build) -> Dockerfile {
    match (&build.dockerfile_inline, &build.dockerfile) {
        (Some(text), _) => Dockerfile::Inline(text.clone()),
        (None, path) => Dockerfile::Path(path.clone().unwrap_or_else(|| "Dockerfile".into())),
    }
}

/// A context given as a URL (a git repository or a tarball), which the engine fetches itself.
fn remote_context(build: &Build) -> Option<&str> {
    let context = build.context.to_str()?;
    (context.contains("://") || context.starts_with("git@")).then_some(context)
}

/// Why the engine's own builder cannot do this build, if it cannot.
pub fn buildkit_only(build: &Build) -> Option<String> {
    let needs = |what: &str| {
        Some(format!(
            "`build.{what}` needs BuildKit, which composed does not drive; build the image with \
             `docker compose build` (or `docker buildx build`) and give the service its `image:`"
        ))
    };
    if !build.secrets.is_empty() {
        return needs("secrets");
    }
    if !build.ssh.is_empty() {
        return needs("ssh");
    }
    if !build.additional_contexts.is_empty() {
        return needs("additional_contexts");
    }
    if build.privileged {
        return needs("privileged");
    }
    if build.platforms.len() > 1 {
        return needs("platforms (more than one)");
    }
    if build.extra_hosts.len() > 1 {
        return Some(
            "`build.extra_hosts` lists more than one host; the engine's build API takes one through \
             composed's client: keep one, or build the image with `docker compose build`"
                .into(),
        );
    }
    None
}

/// The build API's parameters for `build`.
fn options(
    build: &Build,
    image: &str,
    dockerfile: &Dockerfile,
    remote: Option<&str>,
) -> Result<BuildImageOptions, String> {
    let args: HashMap<String, String> = build
        .args
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
        .collect();
    let mut options = BuildImageOptionsBuilder::default()
        .dockerfile(dockerfile.name())
        .t(image)
        .rm(true)
        .buildargs(&args)
        .labels(&build.labels.clone().into_iter().collect())
        .nocache(build.no_cache);
    if let Some(target) = &build.target {
        options = options.target(target);
    }
    if let Some(url) = remote {
        options = options.remote(url);
    }
    if let Some(network) = &build.network {
        options = options.networkmode(network);
    }
    if let Some(platform) = build.platforms.first() {
        options = options.platform(platform);
    }
    if let Some(host) = build.extra_hosts.first() {
        options = options.extrahosts(&host.replacen('=', ":", 1));
    }
    if let Some(size) = build.shm_size {
        let size = i32::try_from(size).map_err(|_| format!("`build.shm_size` {size} is over 2 GiB"))?;
        options = options.shmsize(size);
    }
    if build.pull {
        options = options.pull("1");
    }
    Ok(options.build())
}

/// `registry:5000/app:1.2` → (`registry:5000/app`, `1.2`); no tag → `latest`.
fn split_tag(reference: &str) -> (&str, &str) {
    let name_start = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[name_start..].rfind(':') {
        Some(i) => (&reference[..name_start + i], &reference[name_start + i + 1..]),
        None => (reference, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_at_the_last_colon_after_the_registry() {
        assert_eq!(split_tag("registry:5000/app:1.2"), ("registry:5000/app", "1.2"));
        assert_eq!(split_tag("registry:5000/app"), ("registry:5000/app", "latest"));
        assert_eq!(split_tag("app"), ("app", "latest"));
    }

    #[test]
    fn buildkit_only_keys_are_named() {
        let mut build = Build::default();
        assert_eq!(buildkit_only(&build), None);
        build.ssh = vec!["default".into()];
        assert!(buildkit_only(&build).unwrap().contains("build.ssh"));
    }
}
