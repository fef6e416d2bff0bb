//! The journal's native protocol: one datagram per entry to `/run/systemd/journal/socket`, each
//! field `KEY=VALUE\n`, or, for a value holding a newline or bytes that are not text,
//! `KEY\n` + its length as 8 bytes little-endian + the bytes + `\n`. The entry is attributed to
//! the sending process, so container lines land under composed's own unit.
//!
//! Entries are written by one thread with a blocking socket: the kernel wakes a blocked sender
//! as soon as the journal's queue has room, where a non-blocking sender is not reliably woken
//! and would have to poll. The forwarders hand entries to that thread through a bounded queue
//! ([`QUEUE`] entries: the memory bound), and [`Journal::flush`] waits until every entry handed
//! over so far is written, before a log cursor is saved.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use tokio::sync::{mpsc, oneshot};

/// Entries handed to the writer and not yet written, at most.
pub const QUEUE: usize = 1024;

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
    out
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

/// What the writer thread is handed.
enum Item {
    Entry(Vec<u8>),
    /// Answered once everything before it is written.
    Flush(oneshot::Sender<()>),
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

    /// Hands one entry to the writer; waits while [`QUEUE`] entries are waiting (backpressure,
    /// no loss). Fails once the journal refuses entries.
    pub async fn send(&self, fields: &[(&str, &[u8])]) -> std::io::Result<()> {
        self.queue.send(Item::Entry(encode(fields))).await.map_err(|_| gone())
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
/// queue then closes and every forwarder hears it) or every sender is gone.
fn write_entries(socket: &UnixDatagram, mut items: mpsc::Receiver<Item>) {
    while let Some(item) = items.blocking_recv() {
        match item {
            Item::Flush(done) => {
                let _ = done.send(());
            }
            Item::Entry(data) => {
                if let Err(e) = send_blocking(socket, &data) {
                    tracing::warn!("the journal refuses entries: {e}");
                    return;
                }
            }
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
        let total = 4 * QUEUE;
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = vec![0; 4096];
            while got.len() < total {
                let n = sink.recv(&mut buf).unwrap();
                got.push(decode(&buf[..n]).remove(0).1);
                if got.len() % 256 == 0 {
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
