//! `composed`: the daemon (to come) and its one-shot commands.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use composed::cli::{self, Format, ProjectArgs};

/// Runs Docker Compose projects as first-class systemd services.
#[derive(Debug, Parser)]
#[command(name = "composed", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    match cli.command {
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
