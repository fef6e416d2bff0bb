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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => cli::check(&args),
        Command::Config { project, format } => cli::config(&project, format),
    }
}
