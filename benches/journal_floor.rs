//! journald's own floor for `bench/daemon.sh`: N entries with the very fields composed gives a
//! container's line (Docker's journald fields plus COMPOSE_PROJECT and COMPOSE_SERVICE), each
//! `MESSAGE` a number from 1, sent from one thread with a blocking socket as fast as the journal
//! takes them, and nothing else. With `minimal`, each entry carries only MESSAGE, PRIORITY and
//! SYSLOG_IDENTIFIER, the fields of a systemd-cat line: journald's ceiling for its native
//! protocol, whatever the fields. Run inside the box whose journal is measured.
//!
//! `journal_floor N IDENTIFIER [minimal]`

use std::os::unix::net::UnixDatagram;

use composed::journal::native::encode;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let (n, identifier, minimal) = match args.as_slice() {
        [n, identifier] => (n, identifier, false),
        [n, identifier, m] if m == "minimal" => (n, identifier, true),
        _ => {
            eprintln!("usage: journal_floor N IDENTIFIER [minimal]");
            std::process::exit(2);
        }
    };
    let n: u64 = n.parse().expect("a count");
    let socket = UnixDatagram::unbound().expect("a socket");
    socket
        .connect("/run/systemd/journal/socket")
        .expect("the journal's socket");
    let id = "0123456789abcdef".repeat(4);
    let short = &id.as_bytes()[..12];
    for i in 1..=n {
        let message = i.to_string();
        let fields = [
            ("MESSAGE", message.as_bytes()),
            ("PRIORITY", b"6"),
            ("SYSLOG_IDENTIFIER", identifier.as_bytes()),
            ("CONTAINER_ID", short),
            ("CONTAINER_ID_FULL", id.as_bytes()),
            ("CONTAINER_NAME", b"floor-chatty-1"),
            ("CONTAINER_TAG", short),
            ("IMAGE_NAME", b"composed-test/busybox:1"),
            ("COMPOSE_PROJECT", b"floor"),
            ("COMPOSE_SERVICE", b"chatty"),
        ];
        let entry = encode(&fields[..if minimal { 3 } else { fields.len() }]);
        socket.send(&entry).expect("the journal takes the entry");
    }
}
