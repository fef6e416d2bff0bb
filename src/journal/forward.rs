//! Forwarding one container's stdout and stderr into the journal, one entry per line, with the
//! fields of Docker's journald log driver (CONTAINER_ID, CONTAINER_ID_FULL, CONTAINER_NAME,
//! CONTAINER_TAG, IMAGE_NAME, SYSLOG_IDENTIFIER) plus COMPOSE_PROJECT and COMPOSE_SERVICE;
//! PRIORITY 6 for stdout and 3 for stderr. Lines longer than 16 KiB are split and marked
//! CONTAINER_PARTIAL_MESSAGE=true, as Docker does.
//!
//! Memory stays bounded: lines are read from the engine's log stream only as fast as the journal
//! takes them (the engine keeps the rest in the container's log file). A cursor per container
//! (the engine's nanosecond timestamp of the last line sent) lets forwarding resume when the
//! engine closes a stream early, and after a restart of composed, without losing or repeating
//! a line (a `kill -9` may repeat the lines written in its last 150 ms). The cursor is handed to
//! the journal writer when the stream has been quiet for 50 ms and every 50 ms of a flood; the
//! writer saves it once the lines before it are written (at once when it has nothing else to
//! do, within 100 ms otherwise), so the forwarder never waits for the journal to drain.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
use tokio::sync::watch;

use super::limit::{Admit, Limit, Window};
use super::native::{Batch, Journal, Room};
use crate::engine::Engine;
use crate::engine::logs::Pipe;

/// Docker's split size for long lines.
pub const MAX_LINE: usize = 16 * 1024;

/// How long a stream stays quiet, or a flood runs, before its cursor is handed over for saving.
const CURSOR_EVERY: Duration = Duration::from_millis(50);

/// Who a forwarded line belongs to.
#[derive(Debug, Clone)]
pub struct Source {
    pub id: String,
    pub name: String,
    pub image: String,
    pub project: String,
    pub service: String,
}

/// Forwards until the container stops, `stop` turns true, or the task is dropped. The engine
/// sometimes closes a follow stream early; forwarding then resumes from the cursor, so no line is
/// lost or repeated. A stop ends at a frame's end with the cursor saved exactly (composed is
/// about to re-execute itself and resume from it).
pub async fn forward<E: Engine>(
    engine: E,
    journal: &Journal,
    source: Source,
    cursor_dir: PathBuf,
    stop: watch::Receiver<bool>,
    limit: Option<Limit>,
) {
    let cursor_file = cursor_dir.join(&source.id);
    let cursor = read_cursor(&cursor_file);
    let mut forwarder = Forwarder {
        journal,
        cursor_file,
        cursor,
        saved: cursor,
        saved_at: Instant::now(),
        batch: Batch::default(),
        window: Window::new(limit, Instant::now()),
        short: source.id[..source.id.len().min(12)].to_string(),
        source,
        stop,
    };
    forwarder.run(&engine).await;
}

/// One container's forwarding state.
struct Forwarder<'j> {
    journal: &'j Journal,
    source: Source,
    /// The container id's first 12 characters, as Docker's CONTAINER_ID.
    short: String,
    stop: watch::Receiver<bool>,
    window: Window,
    /// Lines encoded and not yet handed to the journal writer.
    batch: Batch,
    /// The engine's timestamp of the last frame whose lines are in `batch` or sent.
    cursor: Option<i128>,
    cursor_file: PathBuf,
    /// The cursor last handed over for saving, and when.
    saved: Option<i128>,
    saved_at: Instant,
}

/// What the follow loop goes on with.
enum Next<'j, F> {
    /// A frame of the log stream, or its end.
    Frame(Option<F>),
    /// The journal writer has room for the batch.
    Room(std::io::Result<Room<'j>>),
    /// The stream has been quiet for CURSOR_EVERY with the cursor not handed over.
    Quiet,
    Stop,
}

enum Outcome {
    /// The log stream ended (the container stopped, or the engine closed it).
    Ended,
    /// The stream failed part-way.
    Broken,
    /// The journal refuses entries: stop.
    JournalGone,
    /// Asked to stop.
    Stopped,
}

impl Forwarder<'_> {
    async fn run<E: Engine>(&mut self, engine: &E) {
        let mut retry = crate::supervise::backoff::Backoff::new(
            Duration::from_millis(50),
            Duration::from_secs(5),
            Duration::from_secs(1),
        );
        loop {
            let sent_before = self.cursor;
            let mut outcome = self.follow(engine).await;
            // The cursor says what is in the journal, not what is on its way there.
            if self.journal.send_batch(&mut self.batch).await.is_err() {
                outcome = Outcome::JournalGone;
            } else if self.journal.flush().await.is_ok()
                && let Some(c) = self.cursor
            {
                write_cursor(&self.cursor_file, c);
            }
            let dropped = self.window.take_dropped();
            if dropped > 0 {
                report_dropped(&mut self.batch, &self.source, dropped, self.window.limit());
                let _ = self.journal.send_batch(&mut self.batch).await;
            }
            match outcome {
                Outcome::JournalGone | Outcome::Stopped => return,
                Outcome::Ended | Outcome::Broken => {
                    let running = engine.is_running(&self.source.id).await.unwrap_or(false);
                    if !running && (matches!(outcome, Outcome::Ended) || self.cursor == sent_before) {
                        return;
                    }
                    if self.cursor != sent_before {
                        retry.reset();
                    }
                    tokio::time::sleep(retry.next().unwrap_or_default()).await;
                }
            }
        }
    }

    /// Follows the log stream from the cursor until it ends, breaks, or forwarding must stop.
    /// Lines gather in the batch, which goes to the journal writer as soon as its queue has
    /// room: at once when the journal keeps up, and in batches that grow while it does not (one
    /// wake-up for many lines). The cursor is handed over once the stream has been quiet for
    /// CURSOR_EVERY, and every CURSOR_EVERY during a flood.
    async fn follow<E: Engine>(&mut self, engine: &E) -> Outcome {
        let since = self.cursor.map_or(0, |c| (c / 1_000_000_000) as i64);
        let mut stream = engine.logs(&self.source.id, since);
        let mut catching_up = self.cursor;
        let journal = self.journal;
        loop {
            let ready = match self.batch.is_full() {
                true => None,
                false => stream.next().now_or_never().map(Next::Frame),
            };
            let next = match ready {
                Some(next) => next,
                None => tokio::select! {
                    biased;
                    _ = self.stop.wait_for(|stop| *stop) => Next::Stop,
                    room = journal.room(), if !self.batch.is_empty() => Next::Room(room),
                    item = stream.next(), if !self.batch.is_full() => Next::Frame(item),
                    _ = tokio::time::sleep(CURSOR_EVERY), if self.batch.is_empty() && self.cursor != self.saved => Next::Quiet,
                },
            };
            let item = match next {
                Next::Stop => return Outcome::Stopped,
                Next::Room(Err(_)) => return Outcome::JournalGone,
                Next::Room(Ok(room)) => {
                    room.send(&mut self.batch);
                    if self.saved_at.elapsed() >= CURSOR_EVERY && self.hand_over().await.is_err() {
                        return Outcome::JournalGone;
                    }
                    continue;
                }
                Next::Quiet if self.hand_over().await.is_err() => return Outcome::JournalGone,
                Next::Quiet => continue,
                Next::Frame(None) => return Outcome::Ended,
                Next::Frame(Some(item)) => item,
            };
            let frame = match item {
                Ok(frame) => frame,
                Err(e) => {
                    tracing::debug!(container = %self.source.name, "the engine's log stream broke: {e}; resuming");
                    return Outcome::Broken;
                }
            };
            let (stamp, text) = split_timestamp(&frame.bytes);
            // Only the start of a resumed stream repeats what was sent. stdout and stderr are
            // stamped as each pipe is read, so stamps are not in order across them: once past
            // the cursor, everything is new.
            if let Some(resume) = catching_up {
                match stamp {
                    Some(s) if s <= resume => continue,
                    _ => catching_up = None,
                }
            }
            self.take(frame.pipe, text);
            if let Some(s) = stamp {
                self.cursor = Some(self.cursor.map_or(s, |c| c.max(s)));
            }
            if *self.stop.borrow() {
                return Outcome::Stopped;
            }
        }
    }

    /// Puts a frame's lines into the batch, as the limit admits them.
    fn take(&mut self, pipe: Pipe, text: &[u8]) {
        let priority = match pipe {
            Pipe::Stderr => b"3",
            Pipe::Stdout => b"6",
        };
        let (source, short) = (&self.source, self.short.as_bytes());
        for (line, partial) in lines(text) {
            match self.window.admit(Instant::now()) {
                Admit::Drop => continue,
                Admit::SendAfterDropped(n) => report_dropped(&mut self.batch, source, n, self.window.limit()),
                Admit::Send => {}
            }
            let fields: [(&str, &[u8]); 11] = [
                ("MESSAGE", line),
                ("PRIORITY", priority),
                ("CONTAINER_ID", short),
                ("CONTAINER_ID_FULL", source.id.as_bytes()),
                ("CONTAINER_NAME", source.name.as_bytes()),
                ("CONTAINER_TAG", short),
                ("IMAGE_NAME", source.image.as_bytes()),
                ("SYSLOG_IDENTIFIER", source.name.as_bytes()),
                ("COMPOSE_PROJECT", source.project.as_bytes()),
                ("COMPOSE_SERVICE", source.service.as_bytes()),
                ("CONTAINER_PARTIAL_MESSAGE", b"true"),
            ];
            // The last field only on a piece of a longer line.
            self.batch.push(&fields[..if partial { 11 } else { 10 }]);
        }
    }

    /// Hands the cursor, if it moved, to the journal writer, which saves it once the lines
    /// before it are in the journal. The batch is empty here: its lines went first.
    async fn hand_over(&mut self) -> std::io::Result<()> {
        self.saved_at = Instant::now();
        if self.cursor == self.saved {
            return Ok(());
        }
        let Some(c) = self.cursor else { return Ok(()) };
        let file = self.cursor_file.clone();
        let key = file.to_string_lossy().into_owned();
        self.journal.when_written(&key, move || write_cursor(&file, c)).await?;
        self.saved = self.cursor;
        Ok(())
    }
}

/// One entry saying how many lines of a container the limit dropped.
fn report_dropped(batch: &mut Batch, source: &Source, dropped: u64, limit: Option<Limit>) {
    let Some(limit) = limit else { return };
    let message = format!(
        "{}: {dropped} lines dropped: more than {} lines in {} s ({}=LINES/SECONDS sets the limit)",
        source.name,
        limit.burst,
        limit.interval.as_secs(),
        super::limit::ENV
    );
    let fields: Vec<(&str, &[u8])> = vec![
        ("MESSAGE", message.as_bytes()),
        ("PRIORITY", b"4"),
        ("CONTAINER_NAME", source.name.as_bytes()),
        ("COMPOSE_PROJECT", source.project.as_bytes()),
        ("COMPOSE_SERVICE", source.service.as_bytes()),
        ("SYSLOG_IDENTIFIER", b"composed"),
    ];
    batch.push(&fields);
}

/// Splits a frame into lines (without the newline), each at most [`MAX_LINE`] bytes; a piece
/// that does not end a line is marked partial.
pub fn lines(text: &[u8]) -> Vec<(&[u8], bool)> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest.iter().position(|b| *b == b'\n');
        let (line, ended, next) = match end {
            Some(i) if i <= MAX_LINE => (&rest[..i], true, &rest[i + 1..]),
            _ if rest.len() > MAX_LINE => (&rest[..MAX_LINE], false, &rest[MAX_LINE..]),
            None => (rest, false, &rest[rest.len()..]),
            Some(i) => (&rest[..i], true, &rest[i + 1..]),
        };
        out.push((line, !ended));
        rest = next;
    }
    out
}

/// `2026-11-23T18:19:36.62996Z rest` -> (nanoseconds since the epoch, `rest`).
pub fn split_timestamp(frame: &[u8]) -> (Option<i128>, &[u8]) {
    let Some(space) = frame.iter().position(|b| *b == b' ') else {
        return (None, frame);
    };
    match std::str::from_utf8(&frame[..space]).ok().and_then(parse_rfc3339) {
        Some(ts) => (Some(ts), &frame[space + 1..]),
        None => (None, frame),
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]Z` into nanoseconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<i128> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    if frac.len() > 9 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let nanos: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    // Days from the civil date (proleptic Gregorian), after Howard Hinnant's algorithm.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(i128::from(secs) * 1_000_000_000 + i128::from(nanos))
}

fn read_cursor(path: &Path) -> Option<i128> {
    let (dir, name) = (path.parent()?, path.file_name()?.to_str()?);
    crate::runtime_files::read(dir, name)?.trim().parse().ok()
}

fn write_cursor(path: &Path, nanos: i128) {
    // A small file on the runtime tmpfs, replaced atomically; losing it only means resending.
    if let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) {
        let _ = crate::runtime_files::write(dir, name, nanos.to_string().as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01.5Z"), Some(1_500_000_000));
        assert_eq!(
            parse_rfc3339("2026-11-23T18:19:36.629960123Z"),
            Some(1_795_457_976_629_960_123)
        );
        assert_eq!(parse_rfc3339("2000-02-29T12:00:00Z"), Some(951_825_600 * 1_000_000_000));
        assert_eq!(parse_rfc3339("garbage"), None);
        let (ts, rest) = split_timestamp(b"2026-11-23T18:19:36.1Z hello world\n");
        assert!(ts.is_some());
        assert_eq!(rest, b"hello world\n");
        assert_eq!(split_timestamp(b"no stamp here").0, None);
    }

    #[test]
    fn lines_and_partials() {
        assert_eq!(lines(b"a\nb\n"), vec![(&b"a"[..], false), (&b"b"[..], false)]);
        assert_eq!(lines(b"tail"), vec![(&b"tail"[..], true)]);
        let long = vec![b'x'; MAX_LINE + 10];
        let mut text = long.clone();
        text.push(b'\n');
        let got = lines(&text);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].0.len(), got[0].1), (MAX_LINE, true));
        assert_eq!((got[1].0.len(), got[1].1), (10, false));
    }
}
