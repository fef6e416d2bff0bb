//! `composectl`: the control CLI for a running composed (the D-Bus commands come later).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use composed::cli::{self, ProjectArgs};

/// Controls composed and checks compose projects.
#[derive(Debug, Parser)]
#[command(name = "composectl", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a project without a daemon: exit 0 with a summary, or print every located error
    Check(ProjectArgs),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Check(args) => cli::check(&args),
    }
}
