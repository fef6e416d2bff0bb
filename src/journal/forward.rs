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
//! a line (a `kill -9` in the middle of a flood may repeat at most its last 100 ms).

use std::path::{Path, PathBuf};

use futures_util::{FutureExt, StreamExt};
use tokio::sync::watch;

use super::limit::{Admit, Limit, Window};
use super::native::Journal;
use crate::engine::Engine;
use crate::engine::logs::Pipe;

/// Docker's split size for long lines.
pub const MAX_LINE: usize = 16 * 1024;

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
    mut stop: watch::Receiver<bool>,
    limit: Option<Limit>,
) {
    let cursor_file = cursor_dir.join(&source.id);
    let mut cursor = read_cursor(&cursor_file);
    let mut window = Window::new(limit, std::time::Instant::now());
    let mut retry = crate::supervise::backoff::Backoff::new(
        std::time::Duration::from_millis(50),
        std::time::Duration::from_secs(5),
        std::time::Duration::from_secs(1),
    );
    loop {
        let sent_before = cursor;
        let outcome = forward_once(
            &engine,
            journal,
            &source,
            &mut cursor,
            &cursor_file,
            &mut stop,
            &mut window,
        )
        .await;
        // The cursor says what is in the journal, not what is on its way there.
        if journal.flush().await.is_ok()
            && let Some(c) = cursor
        {
            write_cursor(&cursor_file, c);
        }
        let dropped = window.take_dropped();
        if dropped > 0 {
            let _ = report_dropped(journal, &source, dropped, limit).await;
        }
        match outcome {
            Outcome::JournalGone | Outcome::Stopped => return,
            Outcome::Ended | Outcome::Broken => {
                let running = engine.is_running(&source.id).await.unwrap_or(false);
                if !running && matches!(outcome, Outcome::Ended) {
                    return;
                }
                if !running && cursor == sent_before {
                    return;
                }
                if cursor != sent_before {
                    retry.reset();
                }
                tokio::time::sleep(retry.next().unwrap_or_default()).await;
            }
        }
    }
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

async fn forward_once<E: Engine>(
    engine: &E,
    journal: &Journal,
    source: &Source,
    cursor: &mut Option<i128>,
    cursor_file: &Path,
    stop: &mut watch::Receiver<bool>,
    window: &mut Window,
) -> Outcome {
    let since = cursor.map_or(0, |c| (c / 1_000_000_000) as i64);
    let mut stream = engine.logs(&source.id, since);
    let short = &source.id[..source.id.len().min(12)];
    let mut catching_up = *cursor;
    let mut saved = *cursor;
    let mut saved_at = std::time::Instant::now();
    loop {
        // The cursor is saved whenever the forwarder has caught up with the stream, and every
        // 100 ms during a flood: a crash of composed repeats nothing sent before it caught up,
        // and never more than 100 ms of a flood, without a file write per line.
        let item = match stream.next().now_or_never() {
            Some(item) => item,
            None => {
                if save(journal, cursor_file, *cursor, &mut saved).await.is_err() {
                    return Outcome::JournalGone;
                }
                saved_at = std::time::Instant::now();
                tokio::select! {
                    item = stream.next() => item,
                    _ = stop.wait_for(|stop| *stop) => return Outcome::Stopped,
                }
            }
        };
        if saved_at.elapsed() >= std::time::Duration::from_millis(100) {
            if save(journal, cursor_file, *cursor, &mut saved).await.is_err() {
                return Outcome::JournalGone;
            }
            saved_at = std::time::Instant::now();
        }
        let Some(item) = item else { break };
        let frame = match item {
            Ok(frame) => frame,
            Err(e) => {
                tracing::debug!(container = %source.name, "the engine's log stream broke: {e}; resuming");
                return Outcome::Broken;
            }
        };
        let priority = match frame.pipe {
            Pipe::Stderr => b"3",
            Pipe::Stdout => b"6",
        };
        let (stamp, text) = split_timestamp(&frame.bytes);
        // Only the start of a resumed stream repeats what was sent. stdout and stderr are stamped
        // as each pipe is read, so stamps are not in order across them: once past the cursor,
        // everything is new.
        if let Some(resume) = catching_up {
            match stamp {
                Some(s) if s <= resume => continue,
                _ => catching_up = None,
            }
        }
        for (line, partial) in lines(text) {
            match window.admit(std::time::Instant::now()) {
                Admit::Drop => continue,
                Admit::SendAfterDropped(n) => {
                    if report_dropped(journal, source, n, window.limit()).await.is_err() {
                        return Outcome::JournalGone;
                    }
                }
                Admit::Send => {}
            }
            let mut fields: Vec<(&str, &[u8])> = vec![
                ("MESSAGE", line),
                ("PRIORITY", priority),
                ("CONTAINER_ID", short.as_bytes()),
                ("CONTAINER_ID_FULL", source.id.as_bytes()),
                ("CONTAINER_NAME", source.name.as_bytes()),
                ("CONTAINER_TAG", short.as_bytes()),
                ("IMAGE_NAME", source.image.as_bytes()),
                ("SYSLOG_IDENTIFIER", source.name.as_bytes()),
                ("COMPOSE_PROJECT", source.project.as_bytes()),
                ("COMPOSE_SERVICE", source.service.as_bytes()),
            ];
            if partial {
                fields.push(("CONTAINER_PARTIAL_MESSAGE", b"true"));
            }
            if let Err(e) = journal.send(&fields).await {
                tracing::warn!(container = %source.name, "cannot write to the journal: {e}");
                return Outcome::JournalGone;
            }
        }
        if let Some(s) = stamp {
            *cursor = Some(cursor.map_or(s, |c| c.max(s)));
        }
        if *stop.borrow() {
            return Outcome::Stopped;
        }
    }
    Outcome::Ended
}

/// Saves the cursor, if it moved, once what was sent before it is in the journal.
async fn save(journal: &Journal, file: &Path, cursor: Option<i128>, saved: &mut Option<i128>) -> std::io::Result<()> {
    if cursor == *saved {
        return Ok(());
    }
    let Some(c) = cursor else { return Ok(()) };
    journal.flush().await?;
    write_cursor(file, c);
    *saved = cursor;
    Ok(())
}

/// One entry saying how many lines of a container the limit dropped.
async fn report_dropped(journal: &Journal, source: &Source, dropped: u64, limit: Option<Limit>) -> std::io::Result<()> {
    let Some(limit) = limit else { return Ok(()) };
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
    journal.send(&fields).await
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
