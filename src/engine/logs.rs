//! Container output as the engine keeps it: frames of stdout or stderr, each stamped by the
//! engine (`timestamps=true`), followed as the container writes them.

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;

use super::{DockerEngine, EngineError};

/// Which pipe a frame came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pipe {
    Stdout,
    Stderr,
}

/// One frame of output: `<RFC 3339 stamp> <bytes>`, as the engine sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFrame {
    pub pipe: Pipe,
    pub bytes: Bytes,
}

impl DockerEngine {
    pub(super) fn log_stream(&self, id: &str, since: i64) -> BoxStream<'static, Result<LogFrame, EngineError>> {
        let options = LogsOptionsBuilder::default()
            .follow(true)
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .since(since.clamp(0, i32::MAX as i64) as i32)
            .build();
        let engine = self.clone();
        self.docker
            .logs(id, Some(options))
            .filter_map(move |item| {
                let frame = match item {
                    Ok(LogOutput::StdErr { message }) => Some(Ok(LogFrame {
                        pipe: Pipe::Stderr,
                        bytes: message,
                    })),
                    Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => Some(Ok(LogFrame {
                        pipe: Pipe::Stdout,
                        bytes: message,
                    })),
                    Ok(LogOutput::StdIn { .. }) => None,
                    Err(e) => Some(Err(engine.error("reading container output", e))),
                };
                async move { frame }
            })
            .boxed()
    }
}
