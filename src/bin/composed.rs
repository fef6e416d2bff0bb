//! `composed`: the daemon (no subcommand) and its one-shot commands. The definitions live in
//! [`composed::args`].

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use composed::args::{ComposedArgs, ComposedCommand as Command};
use composed::cli;
use composed::daemon;

fn main() -> ExitCode {
    let cli = ComposedArgs::parse();
    let Some(command) = cli.command else {
        init_logging();
        let runtime_dir = cli.runtime_dir.unwrap_or_else(composed::user::runtime_dir);
        let config = daemon::Config {
            root: cli.root,
            project: cli.project,
            runtime_dir,
            resync: Duration::from_secs(cli.resync.max(1)),
            bus: cli.bus,
        };
        return runtime().block_on(daemon::run(config));
    };
    match command {
        Command::Check(args) => cli::check(&args),
        Command::Config { project, format } => cli::config(&project, format),
        Command::Up { project, wait } => runtime().block_on(cli::up(&project, wait)),
        Command::Down { project, volumes } => runtime().block_on(cli::down(&project, volumes)),
        Command::Plan { project, json } => runtime().block_on(cli::plan(&project, json)),
        Command::Ps(project) => runtime().block_on(cli::ps(&project)),
    }
}

/// One worker thread beside the main one (where the daemon's loop runs) and the blocking pool
/// (file reads): composed's work is waiting on the engine and the journal, and a second worker
/// only adds wake-ups across threads (bench/daemon.sh: forwarding a chatty container took
/// 8 µs of CPU per line with two workers, 4.4 µs with one).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("the async runtime starts")
}

/// The daemon's own logs. Under systemd (`JOURNAL_STREAM` set) they go to the journal as
/// structured entries: each event's fields become journal fields (`PROJECT=`, `SERVICE=`,
/// `EXIT_CODE=`), so `journalctl -u composed SERVICE=db` works. Elsewhere they go to stderr.
/// `RUST_LOG` sets the level.
fn init_logging() {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if std::env::var_os("JOURNAL_STREAM").is_some()
        && let Ok(journald) = tracing_journald::layer()
    {
        let journald = journald
            .with_field_prefix(None)
            .with_syslog_identifier("composed".to_string());
        tracing_subscriber::registry().with(filter).with(journald).init();
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
