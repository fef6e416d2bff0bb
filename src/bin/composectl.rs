//! `composectl`: controls the running composed daemons over D-Bus, and checks compose projects.
//! The commands live in [`composed::ctl`], the definitions in [`composed::args`].

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    composed::ctl::run(composed::args::CtlArgs::parse())
}
