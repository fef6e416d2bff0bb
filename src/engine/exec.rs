//! Running a command in a container (`post_start` and `pre_stop` hooks) and copying files into
//! one before it starts (secrets and configs given as text, `use_api_socket`'s logins).

use bollard::exec::StartExecResults;
use bollard::models::ExecConfig;
use bollard::query_parameters::UploadToContainerOptionsBuilder;
use futures_util::StreamExt;

use super::{DockerEngine, EngineError};
use crate::model::Hook;
use crate::spec::InjectedFile;

/// How a command run in a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutcome {
    pub exit_code: i64,
    /// The end of what it wrote (stdout and stderr), for the journal and error messages.
    pub output: String,
}

/// How much of a command's output is kept.
const OUTPUT_TAIL: usize = 4096;

impl DockerEngine {
    /// Runs `hook` in the container and waits for it to end.
    pub(super) async fn run_exec(&self, id: &str, name: &str, hook: &Hook) -> Result<ExecOutcome, EngineError> {
        let what = format!("running a hook in {name}");
        let env: Vec<String> = hook
            .environment
            .iter()
            .map(|(k, v)| match v {
                Some(v) => format!("{k}={v}"),
                None => k.clone(),
            })
            .collect();
        let config = ExecConfig {
            cmd: Some(hook.command.clone()),
            user: hook.user.clone(),
            privileged: Some(hook.privileged),
            working_dir: hook.working_dir.clone(),
            env: (!env.is_empty()).then_some(env),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let exec = self
            .docker
            .create_exec(id, config)
            .await
            .map_err(|e| self.error(&what, e))?;
        let mut output = Vec::new();
        if let StartExecResults::Attached { output: mut stream, .. } = self
            .docker
            .start_exec(&exec.id, None)
            .await
            .map_err(|e| self.error(&what, e))?
        {
            while let Some(chunk) = stream.next().await {
                let Ok(chunk) = chunk else { break };
                output.extend_from_slice(&chunk.into_bytes());
                if output.len() > 2 * OUTPUT_TAIL {
                    output.drain(..output.len() - OUTPUT_TAIL);
                }
            }
        }
        let inspected = self
            .docker
            .inspect_exec(&exec.id)
            .await
            .map_err(|e| self.error(&what, e))?;
        let start = output.len().saturating_sub(OUTPUT_TAIL);
        Ok(ExecOutcome {
            exit_code: inspected.exit_code.unwrap_or(-1),
            output: String::from_utf8_lossy(&output[start..]).into_owned(),
        })
    }

    /// Copies `files` into a created container as one archive unpacked at `/`.
    pub(super) async fn copy_in(&self, id: &str, name: &str, files: &[InjectedFile]) -> Result<(), EngineError> {
        let archive = archive(files).map_err(|e| EngineError::Refused(format!("archiving files for {name}: {e}")))?;
        let options = UploadToContainerOptionsBuilder::default().path("/").build();
        self.docker
            .upload_to_container(id, Some(options), bollard::body_full(archive.into()))
            .await
            .map_err(|e| self.error(format!("copying secrets and configs into {name}"), e))
    }
}

/// A tar of `files`, each at its path (relative to `/`) with its mode and owner.
pub fn archive(files: &[InjectedFile]) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for f in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(f.content.0.len() as u64);
        header.set_mode(f.mode);
        header.set_uid(f.uid);
        header.set_gid(f.gid);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, f.path.trim_start_matches('/'), f.content.0.as_bytes())?;
    }
    tar.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Secret;

    #[test]
    fn files_are_archived_at_their_paths_with_mode_and_owner() {
        let files = [InjectedFile {
            path: "/run/secrets/token".into(),
            content: Secret("s3cret".into()),
            mode: 0o440,
            uid: 70,
            gid: 71,
        }];
        let bytes = archive(&files).unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(entry.path().unwrap().to_string_lossy(), "run/secrets/token");
        let header = entry.header();
        assert_eq!(
            (header.mode().unwrap(), header.uid().unwrap(), header.gid().unwrap()),
            (0o440, 70, 71)
        );
        let mut text = String::new();
        std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
        assert_eq!(text, "s3cret");
    }
}
