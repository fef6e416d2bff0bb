//! journald's own floor for `bench/daemon.sh`: N entries with the very fields composed gives a
//! container's line (Docker's journald fields plus COMPOSE_PROJECT and COMPOSE_SERVICE), each
//! `MESSAGE` a number from 1, sent from one thread with a blocking socket as fast as the journal
//! takes them, and nothing else. Run inside the box whose journal is measured.
//!
//! `journal_floor N IDENTIFIER`

use std::os::unix::net::UnixDatagram;

use composed::journal::native::encode;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let [n, identifier] = args.as_slice() else {
        eprintln!("usage: journal_floor N IDENTIFIER");
        std::process::exit(2);
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
        let entry = encode(&[
            ("MESSAGE", message.as_bytes()),
            ("PRIORITY", b"6"),
            ("CONTAINER_ID", short),
            ("CONTAINER_ID_FULL", id.as_bytes()),
            ("CONTAINER_NAME", b"floor-chatty-1"),
            ("CONTAINER_TAG", short),
            ("IMAGE_NAME", b"composed-test/busybox:1"),
            ("SYSLOG_IDENTIFIER", identifier.as_bytes()),
            ("COMPOSE_PROJECT", b"floor"),
            ("COMPOSE_SERVICE", b"chatty"),
        ]);
        socket.send(&entry).expect("the journal takes the entry");
    }
}
