//! The command lines of both binaries, in the library so that the man pages and shell
//! completions are generated from the very definitions the binaries parse
//! (`composectl generate DIR`).

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::bus::Bus;
use crate::bus::client::Target;
use crate::cli::{Format, ProjectArgs};

/// Runs Docker Compose projects as first-class systemd services.
///
/// Without a command, runs the daemon: every project in --root (NAME.yaml, NAME.yml, or NAME/
/// with a compose file), or the one --project names. Under systemd it reports readiness, status
/// and the watchdog, logs to the journal with every container's output, serves the D-Bus API
/// (io.composed.Composed1) and reloads edited files on its own.
#[derive(Debug, Parser)]
#[command(name = "composed", version, about)]
pub struct ComposedArgs {
    #[command(subcommand)]
    pub command: Option<ComposedCommand>,
    /// Directory of projects the daemon manages
    #[arg(long, value_name = "DIR", default_value = "/etc/composed")]
    pub root: PathBuf,
    /// Manage exactly this project (a directory or a compose file) instead of --root
    #[arg(long, value_name = "PATH")]
    pub project: Option<PathBuf>,
    /// Where the daemon keeps its locks, log cursors and what operators stopped [default: $RUNTIME_DIRECTORY, else /run/composed as root, else $XDG_RUNTIME_DIR/composed]
    #[arg(long, value_name = "DIR")]
    pub runtime_dir: Option<PathBuf>,
    /// Seconds between the slow resyncs that catch anything the event stream missed
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub resync: u64,
    /// Where to serve the D-Bus API
    #[arg(long, value_enum, default_value = "system")]
    pub bus: Bus,
}

#[derive(Debug, Subcommand)]
pub enum ComposedCommand {
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
    Plan {
        #[command(flatten)]
        project: ProjectArgs,
        /// One JSON document, for scripts: every action, and for each recreate the fields that
        /// changed (secret values hidden)
        #[arg(long)]
        json: bool,
    },
    /// List the project's containers
    Ps(ProjectArgs),
}

/// Controls the running composed daemons over D-Bus, and checks compose projects.
///
/// Root and members of the `composed` group may use every command; `check` needs no daemon.
#[derive(Debug, Parser)]
#[command(name = "composectl", version, about)]
pub struct CtlArgs {
    #[command(subcommand)]
    pub command: CtlCommand,
    /// The bus the daemons are on
    #[arg(long, value_enum, global = true, default_value = "system")]
    pub bus: Bus,
}

#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// List services: project, service, state, health, restarts, ports, since
    Ps {
        /// Only this project
        project: Option<String>,
        /// One JSON array, for scripts
        #[arg(long)]
        json: bool,
    },
    /// Everything composed knows about projects and their services
    Status {
        /// Only this project
        project: Option<String>,
    },
    /// Start what an operator stopped (a project in dependency order, or one service)
    Start {
        #[arg(value_name = "PROJECT[/SERVICE]")]
        target: Target,
    },
    /// Stop a project (dependents first) or one service; it stays stopped until `start`
    Stop {
        #[arg(value_name = "PROJECT[/SERVICE]")]
        target: Target,
    },
    /// Stop and remove a project's containers and networks (volumes kept); it stays down until `start`
    Down {
        #[arg(value_name = "PROJECT")]
        project: String,
    },
    /// Stop and start a project or one service (same containers; `restart: true` dependents follow)
    Restart {
        #[arg(value_name = "PROJECT[/SERVICE]")]
        target: Target,
    },
    /// Read the project files again now (composed also does this on every edit)
    Reload {
        /// Only report on this project
        project: Option<String>,
    },
    /// Replace every running composed with the binary on disk, keeping every container running
    Reexec,
    /// Show the journal of a project or one service: container output and composed's notes
    Logs {
        #[arg(value_name = "PROJECT[/SERVICE]")]
        target: Target,
        /// Keep printing new entries
        #[arg(short, long)]
        follow: bool,
        /// Show this many most recent entries
        #[arg(short = 'n', long, value_name = "N")]
        lines: Option<u32>,
        /// Only entries since this time (as journalctl --since takes it)
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
    },
    /// Validate a project without a daemon: exit 0 with a summary, or print every located error
    Check(ProjectArgs),
    /// Print a shell completion script
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages and completion scripts into DIR (for packaging)
    #[command(hide = true)]
    Generate { dir: PathBuf },
}
