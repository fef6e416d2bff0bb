//! A build context as the engine's build API takes it: a tar stream of the context directory,
//! without what `.dockerignore` (or `<Dockerfile>.dockerignore` beside the Dockerfile) excludes.
//!
//! The tar is written on a blocking thread into a bounded channel and sent while it is written,
//! so memory stays at a few chunks whatever the context holds; directories the ignore file
//! excludes are not even walked unless an exception could re-include something in them.

pub mod ignore;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::mpsc;

pub use ignore::Ignore;

/// Bytes per chunk sent to the engine, and chunks in flight: the context's memory bound.
const CHUNK: usize = 64 * 1024;
const CHUNKS_IN_FLIGHT: usize = 4;

/// The ignore rules for a context: `<dockerfile>.dockerignore` when it exists, else
/// `.dockerignore`; the Dockerfile and the ignore file are always sent, as the Docker CLI does.
pub fn ignore_rules(context: &Path, dockerfile: &str) -> io::Result<Ignore> {
    let specific = context.join(format!("{dockerfile}.dockerignore"));
    let text = match std::fs::read_to_string(&specific) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => match std::fs::read_to_string(context.join(".dockerignore")) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        },
        Err(e) => return Err(e),
    };
    let mut rules = Ignore::parse(&text);
    rules.keep(".dockerignore");
    rules.keep(dockerfile.trim_start_matches("./"));
    Ok(rules)
}

/// Where the build finds its Dockerfile.
#[derive(Debug, Clone)]
pub enum Dockerfile {
    /// A path inside the context (`dockerfile:`, default `Dockerfile`).
    Path(String),
    /// The text itself (`dockerfile_inline:`), added to the archive under [`INLINE_NAME`].
    Inline(String),
}

/// The archive name an inline Dockerfile is sent under (the Docker CLI does the same for
/// `docker build -f -`); it is written last, so it wins over a context file of that name.
pub const INLINE_NAME: &str = ".composed-inline.Dockerfile";

impl Dockerfile {
    /// The `dockerfile` parameter of the engine's build API.
    pub fn name(&self) -> &str {
        match self {
            Dockerfile::Path(path) => path,
            Dockerfile::Inline(_) => INLINE_NAME,
        }
    }
}

/// Why reading a context failed, kept beside the stream: the HTTP client reports a body error
/// in its own words, so the build names the file from here.
pub type Failure = Arc<OnceLock<String>>;

/// Streams the context directory as a tar archive. An error reading it ends the stream with
/// that error (naming the file), also kept in the returned [`Failure`].
pub fn stream(
    context: PathBuf,
    dockerfile: Dockerfile,
) -> (impl Stream<Item = io::Result<Bytes>> + Send + 'static, Failure) {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(CHUNKS_IN_FLIGHT);
    let failure = Failure::default();
    let failed = failure.clone();
    tokio::task::spawn_blocking(move || {
        let result = ignore_rules(&context, dockerfile.name()).and_then(|rules| {
            let mut writer = ChunkWriter {
                tx: tx.clone(),
                buf: Vec::with_capacity(CHUNK),
            };
            write_context(&context, &rules, &dockerfile, &mut writer)?;
            writer.flush()
        });
        if let Err(e) = result {
            let _ = failed.set(e.to_string());
            let _ = tx.blocking_send(Err(e));
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    (body, failure)
}

/// Writes the archive of `context` (minus what `rules` exclude) into `out`, with an inline
/// Dockerfile appended.
pub fn write_context(context: &Path, rules: &Ignore, dockerfile: &Dockerfile, out: &mut impl Write) -> io::Result<()> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    add_directory(&mut tar, context, "", rules)?;
    if let Dockerfile::Inline(text) = dockerfile {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, INLINE_NAME, text.as_bytes())?;
    }
    tar.finish()
}

fn add_directory(tar: &mut tar::Builder<impl Write>, dir: &Path, rel: &str, rules: &Ignore) -> io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| named(dir, e))?
        .collect::<io::Result<_>>()
        .map_err(|e| named(dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let rel = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        let excluded = rules.excludes(&rel);
        let kind = entry.file_type().map_err(|e| named(&path, e))?;
        if kind.is_dir() {
            if excluded && !rules.has_exceptions() {
                continue;
            }
            if !excluded {
                tar.append_dir(&rel, &path).map_err(|e| named(&path, e))?;
            }
            add_directory(tar, &path, &rel, rules)?;
        } else if !excluded {
            tar.append_path_with_name(&path, &rel).map_err(|e| named(&path, e))?;
        }
    }
    Ok(())
}

fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Collects written bytes into chunks and hands each full one to the channel, waiting while the
/// engine has not taken the earlier ones.
struct ChunkWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the engine stopped reading the build context",
            )
        })
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_in(tar_bytes: &[u8]) -> Vec<String> {
        let mut archive = tar::Archive::new(tar_bytes);
        let mut names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| {
                e.unwrap()
                    .path()
                    .unwrap()
                    .to_string_lossy()
                    .trim_end_matches('/')
                    .to_string()
            })
            .collect();
        names.sort();
        names
    }

    fn context(files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "composed-context-{}-{}",
            std::process::id(),
            files.len() * 31 + files.first().map_or(0, |f| f.1.len())
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for (path, text) in files {
            let full = dir.join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, text).unwrap();
        }
        dir
    }

    #[test]
    fn ignored_files_and_directories_are_left_out() {
        let dir = context(&[
            (".dockerignore", "data\n.env\n*.log\n!keep.log\nDockerfile\n"),
            ("Dockerfile", "FROM scratch\n"),
            (".env", "SECRET=1"),
            ("app/main.sh", "echo"),
            ("data/big", "x"),
            ("a.log", ""),
            ("keep.log", ""),
        ]);
        let rules = ignore_rules(&dir, "Dockerfile").unwrap();
        let mut out = Vec::new();
        write_context(&dir, &rules, &Dockerfile::Path("Dockerfile".into()), &mut out).unwrap();
        assert_eq!(
            names_in(&out),
            vec![".dockerignore", "Dockerfile", "app", "app/main.sh", "keep.log"]
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_dockerfile_specific_ignore_file_wins() {
        let dir = context(&[
            (".dockerignore", "b\n"),
            ("build/app.Dockerfile", "FROM scratch\n"),
            ("build/app.Dockerfile.dockerignore", "a\n"),
            ("a", ""),
            ("b", ""),
        ]);
        let rules = ignore_rules(&dir, "build/app.Dockerfile").unwrap();
        assert!(rules.excludes("a"));
        assert!(!rules.excludes("b"));
        assert!(!rules.excludes("build/app.Dockerfile"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn an_inline_dockerfile_is_added_after_the_context() {
        let dir = context(&[(INLINE_NAME, "FROM stale\n"), ("app", "x")]);
        let inline = Dockerfile::Inline("FROM scratch\nCOPY app /\n".into());
        let rules = ignore_rules(&dir, inline.name()).unwrap();
        let mut out = Vec::new();
        write_context(&dir, &rules, &inline, &mut out).unwrap();
        let mut archive = tar::Archive::new(out.as_slice());
        let mut last = String::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            if entry.path().unwrap().to_string_lossy() == INLINE_NAME {
                last.clear();
                std::io::Read::read_to_string(&mut entry, &mut last).unwrap();
            }
        }
        assert_eq!(last, "FROM scratch\nCOPY app /\n");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn the_stream_carries_the_whole_archive_in_chunks() {
        use futures_util::StreamExt;
        let big = "y".repeat(3 * CHUNK + 17);
        let dir = context(&[("Dockerfile", "FROM scratch\n"), ("big", &big)]);
        let chunks: Vec<Bytes> = stream(dir.clone(), Dockerfile::Path("Dockerfile".into()))
            .0
            .map(|c| c.unwrap())
            .collect()
            .await;
        assert!(chunks.len() > 3);
        assert!(chunks.iter().all(|c| c.len() <= CHUNK));
        let all: Vec<u8> = chunks.concat();
        assert_eq!(names_in(&all), vec!["Dockerfile", "big"]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_missing_context_ends_the_stream_with_an_error_naming_it() {
        use futures_util::StreamExt;
        let (body, failure) = stream(PathBuf::from("/nonexistent/ctx"), Dockerfile::Path("Dockerfile".into()));
        let items: Vec<_> = body.collect().await;
        let err = items.into_iter().find_map(|i| i.err()).unwrap();
        assert!(err.to_string().contains("/nonexistent/ctx"), "{err}");
        assert_eq!(failure.get(), Some(&err.to_string()));
    }
}
