//! `composed`: the daemon (no subcommand) and its one-shot commands.

use std::process::ExitCode;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use composed::cli::{self, Format, ProjectArgs};
use composed::daemon;

/// Runs Docker Compose projects as first-class systemd services.
///
/// Without a command, runs the daemon: every project in --root (NAME.yaml, NAME.yml, or NAME/
/// with a compose file), or the one --project names.
#[derive(Debug, Parser)]
#[command(name = "composed", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Directory of projects the daemon manages
    #[arg(long, value_name = "DIR", default_value = "/etc/composed")]
    root: PathBuf,
    /// Manage exactly this project (a directory or a compose file) instead of --root
    #[arg(long, value_name = "PATH")]
    project: Option<PathBuf>,
    /// Where the daemon keeps its per-project locks [default: $RUNTIME_DIRECTORY or /run/composed]
    #[arg(long, value_name = "DIR")]
    runtime_dir: Option<PathBuf>,
    /// Seconds between the slow resyncs that catch anything the event stream missed
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    resync: u64,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a project: exit 0 with a one-line summary, or print every error with its location
    Check(ProjectArgs),
    /// Print the project as composed understood it (normalised)
    Config {
        #[command(flatten)]
        project: ProjectArgs,
        /// Output format
        #[arg(long, value_enum, default_value = "yaml")]
        format: Format,
    },
    /// Create and start the project's containers, networks and volumes, in dependency order
    Up {
        #[command(flatten)]
        project: ProjectArgs,
        /// Also wait until every service is ready (healthy, running, or exited 0)
        #[arg(long)]
        wait: bool,
    },
    /// Stop and remove the project's containers and networks (volumes are kept)
    Down {
        #[command(flatten)]
        project: ProjectArgs,
        /// Also remove the project's own named volumes (never external or pre-existing ones)
        #[arg(long)]
        volumes: bool,
    },
    /// Print what `up` would change, touching nothing
    Plan(ProjectArgs),
    /// List the project's containers
    Ps(ProjectArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(command) = cli.command else {
        init_logging();
        let runtime_dir = cli
            .runtime_dir
            .or_else(|| std::env::var_os("RUNTIME_DIRECTORY").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("/run/composed"));
        let config = daemon::Config {
            root: cli.root,
            project: cli.project,
            runtime_dir,
            resync: Duration::from_secs(cli.resync.max(1)),
        };
        return runtime().block_on(daemon::run(config));
    };
    match command {
        Command::Check(args) => cli::check(&args),
        Command::Config { project, format } => cli::config(&project, format),
        Command::Up { project, wait } => runtime().block_on(cli::up(&project, wait)),
        Command::Down { project, volumes } => runtime().block_on(cli::down(&project, volumes)),
        Command::Plan(project) => runtime().block_on(cli::plan(&project)),
        Command::Ps(project) => runtime().block_on(cli::ps(&project)),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
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
