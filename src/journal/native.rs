//! The journal's native protocol: one datagram per entry to `/run/systemd/journal/socket`, each
//! field `KEY=VALUE\n`, or, for a value holding a newline or bytes that are not text,
//! `KEY\n` + its length as 8 bytes little-endian + the bytes + `\n`. The entry is attributed to
//! the sending process, so container lines land under composed's own unit.
//!
//! Entries are written by one thread with a blocking socket: the kernel wakes a blocked sender
//! as soon as the journal's queue has room, where a non-blocking sender is not reliably woken
//! and would have to poll. The forwarders hand entries to that thread in [`Batch`]es (one
//! wake-up for many lines) through a bounded queue: at most [`QUEUE`] batches of at most
//! [`Batch::MAX_BYTES`] (plus one entry) wait, the memory bound. [`Journal::when_written`]
//! hands over an action (saving a log cursor) that the writer runs once the entries before it
//! are written, without the sender waiting; [`Journal::flush`] waits until every entry handed
//! over so far is written.

use std::collections::BTreeMap;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};

/// Batches handed to the writer and not yet written, at most.
pub const QUEUE: usize = 32;

/// Linux's "no buffer space available".
const ENOBUFS: i32 = 105;

/// The journal's socket, unless `COMPOSED_JOURNAL_SOCKET` names another (tests).
pub fn socket_path() -> PathBuf {
    std::env::var_os("COMPOSED_JOURNAL_SOCKET")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/systemd/journal/socket"))
}

/// Encodes one entry.
pub fn encode(fields: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::with_capacity(fields.iter().map(|(k, v)| k.len() + v.len() + 10).sum());
    encode_into(&mut out, fields);
    out
}

/// Appends one encoded entry to `out`.
fn encode_into(out: &mut Vec<u8>, fields: &[(&str, &[u8])]) {
    for (key, value) in fields {
        out.extend_from_slice(key.as_bytes());
        if value.contains(&b'\n') || std::str::from_utf8(value).is_err() {
            out.push(b'\n');
            out.extend_from_slice(&(value.len() as u64).to_le_bytes());
            out.extend_from_slice(value);
        } else {
            out.push(b'=');
            out.extend_from_slice(value);
        }
        out.push(b'\n');
    }
}

/// Decodes an entry (the inverse of [`encode`]; used by tests and tools).
pub fn decode(mut data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let Some(end) = data.iter().position(|b| *b == b'\n' || *b == b'=') else {
            break;
        };
        let key = String::from_utf8_lossy(&data[..end]).into_owned();
        if data[end] == b'=' {
            let rest = &data[end + 1..];
            let stop = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
            out.push((key, rest[..stop].to_vec()));
            data = &rest[(stop + 1).min(rest.len())..];
        } else {
            let rest = &data[end + 1..];
            if rest.len() < 8 {
                break;
            }
            let len = u64::from_le_bytes(rest[..8].try_into().unwrap_or_default()) as usize;
            let value = rest[8..].get(..len).unwrap_or_default().to_vec();
            out.push((key, value));
            data = rest.get(8 + len + 1..).unwrap_or_default();
        }
    }
    out
}

/// While entries keep coming, actions wait at most this long.
const ACTIONS_EVERY: Duration = Duration::from_millis(100);

/// An action to run once the entries before it are written.
type Action = Box<dyn FnOnce() + Send>;

/// Entries encoded together into one buffer, handed to the writer at once.
#[derive(Debug, Default)]
pub struct Batch {
    /// The entries, one after the other.
    bytes: Vec<u8>,
    /// Where each entry ends in `bytes`.
    ends: Vec<usize>,
}

impl Batch {
    /// A batch is full at this many entries...
    pub const MAX_ENTRIES: usize = 256;
    /// ... or this many bytes.
    pub const MAX_BYTES: usize = 64 * 1024;

    pub fn push(&mut self, fields: &[(&str, &[u8])]) {
        encode_into(&mut self.bytes, fields);
        self.ends.push(self.bytes.len());
    }

    pub fn is_full(&self) -> bool {
        self.ends.len() >= Self::MAX_ENTRIES || self.bytes.len() >= Self::MAX_BYTES
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn entries(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter().copied()).map(|(a, b)| &self.bytes[a..b])
    }
}

/// Room for one batch in the writer's queue ([`Journal::room`]).
pub struct Room<'a>(mpsc::Permit<'a, Item>);

impl Room<'_> {
    /// Hands the batch's entries over, leaving it empty.
    pub fn send(self, batch: &mut Batch) {
        self.0.send(Item::Entries(std::mem::take(batch)));
    }
}

/// What the writer thread is handed.
enum Item {
    Entries(Batch),
    /// Answered once everything before it is written.
    Flush(oneshot::Sender<()>),
    /// Run once everything before it is written; a later action with the same key replaces it.
    Then(String, Action),
}

/// A connection to the journal.
pub struct Journal {
    queue: mpsc::Sender<Item>,
    path: PathBuf,
}

impl Journal {
    /// Connects to the journal's socket; `None` when there is none (not under systemd).
    pub fn connect(path: &Path) -> Option<Journal> {
        let socket = UnixDatagram::unbound()
            .map_err(|e| tracing::debug!("journal socket: {e}"))
            .ok()?;
        socket
            .connect(path)
            .map_err(|e| tracing::debug!("journal {}: {e}", path.display()))
            .ok()?;
        let (queue, items) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("journal".into())
            .spawn(move || write_entries(&socket, items))
            .map_err(|e| tracing::warn!("cannot start the journal writer: {e}"))
            .ok()?;
        Some(Journal {
            queue,
            path: path.to_path_buf(),
        })
    }

    /// Hands one entry to the writer; see [`Journal::send_batch`].
    pub async fn send(&self, fields: &[(&str, &[u8])]) -> std::io::Result<()> {
        let mut batch = Batch::default();
        batch.push(fields);
        self.send_batch(&mut batch).await
    }

    /// Hands the batch's entries to the writer, leaving it empty; waits while [`QUEUE`] batches
    /// are waiting (backpressure, no loss). Fails once the journal refuses entries.
    pub async fn send_batch(&self, batch: &mut Batch) -> std::io::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.room().await?.send(batch);
        Ok(())
    }

    /// Waits until the writer's queue has room for one batch (backpressure, no loss); fails
    /// once the journal refuses entries.
    pub async fn room(&self) -> std::io::Result<Room<'_>> {
        self.queue.reserve().await.map(Room).map_err(|_| gone())
    }

    /// Runs `action` on the writer thread once every entry handed over so far is in the
    /// journal: when the writer has nothing left to write, or within [`ACTIONS_EVERY`] while
    /// entries keep coming. Of several waiting actions with one `key`, only the last runs.
    pub async fn when_written(&self, key: &str, action: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
        let item = Item::Then(key.to_string(), Box::new(action));
        self.queue.send(item).await.map_err(|_| gone())
    }

    /// Waits until every entry handed over so far is in the journal.
    pub async fn flush(&self) -> std::io::Result<()> {
        let (done, written) = oneshot::channel();
        self.queue.send(Item::Flush(done)).await.map_err(|_| gone())?;
        written.await.map_err(|_| gone())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn gone() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the journal stopped taking entries")
}

/// The writer thread: each entry with a blocking send, until the journal refuses one (the
/// queue then closes and every forwarder hears it) or every sender is gone. Waiting actions
/// run before it blocks for more, before a flush is answered, and every [`ACTIONS_EVERY`].
fn write_entries(socket: &UnixDatagram, mut items: mpsc::Receiver<Item>) {
    let mut waiting = Waiting::default();
    loop {
        let item = match items.try_recv() {
            Ok(item) => item,
            Err(TryRecvError::Empty) => {
                waiting.run();
                match items.blocking_recv() {
                    Some(item) => item,
                    None => return,
                }
            }
            Err(TryRecvError::Disconnected) => return waiting.run(),
        };
        match item {
            Item::Entries(batch) => {
                if let Err(e) = batch.entries().try_for_each(|data| send_blocking(socket, data)) {
                    tracing::warn!("the journal refuses entries: {e}");
                    // What waits was handed over before these entries, after entries that were written.
                    return waiting.run();
                }
            }
            Item::Flush(done) => {
                waiting.run();
                let _ = done.send(());
            }
            Item::Then(key, action) => waiting.add(key, action),
        }
        if waiting.due() {
            waiting.run();
        }
    }
}

/// Actions waiting for the entries before them to be written, the last one per key.
#[derive(Default)]
struct Waiting {
    actions: BTreeMap<String, Action>,
    since: Option<Instant>,
}

impl Waiting {
    fn add(&mut self, key: String, action: Action) {
        self.actions.insert(key, action);
        self.since.get_or_insert_with(Instant::now);
    }

    fn due(&self) -> bool {
        self.since.is_some_and(|t| t.elapsed() >= ACTIONS_EVERY)
    }

    fn run(&mut self) {
        self.since = None;
        for action in std::mem::take(&mut self.actions).into_values() {
            action();
        }
    }
}

fn send_blocking(socket: &UnixDatagram, data: &[u8]) -> std::io::Result<()> {
    loop {
        match socket.send(data) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // The kernel's buffers are short for a moment: try again shortly.
            Err(e) if e.raw_os_error() == Some(ENOBUFS) => std::thread::sleep(std::time::Duration::from_millis(1)),
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_text_multiline_and_binary() {
        let binary: &[u8] = &[0xff, 0x00, b'a'];
        let fields: Vec<(&str, &[u8])> = vec![
            ("MESSAGE", b"hello"),
            ("MULTI", b"a\nb"),
            ("BIN", binary),
            ("EMPTY", b""),
        ];
        let encoded = encode(&fields);
        assert!(encoded.starts_with(b"MESSAGE=hello\nMULTI\n\x03\0\0\0\0\0\0\0a\nb\n"));
        let decoded = decode(&encoded);
        let want: Vec<(String, Vec<u8>)> = fields.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect();
        assert_eq!(decoded, want);
    }

    /// A journal that reads slower than entries come: senders wait, and every entry arrives
    /// once, in order, with flush answered only after the entries before it are written.
    #[tokio::test]
    async fn a_slow_journal_holds_senders_back_and_loses_nothing() {
        let dir = std::env::temp_dir().join(format!("composed-journal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("socket");
        let sink = UnixDatagram::bind(&path).unwrap();
        let journal = Journal::connect(&path).unwrap();
        let total = 4 * QUEUE * Batch::MAX_ENTRIES;
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = vec![0; 4096];
            while got.len() < total {
                let n = sink.recv(&mut buf).unwrap();
                got.push(decode(&buf[..n]).remove(0).1);
                if got.len() % 2048 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
            got
        });
        for i in 0..total {
            journal.send(&[("MESSAGE", i.to_string().as_bytes())]).await.unwrap();
        }
        journal.flush().await.unwrap();
        let got = reader.join().unwrap();
        let want: Vec<Vec<u8>> = (0..total).map(|i| i.to_string().into_bytes()).collect();
        assert_eq!(got, want);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
