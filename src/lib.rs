//! composed runs Docker Compose projects as first-class systemd services.
//!
//! This library holds everything the two binaries share. See ARCHITECTURE.md for the map:
//! [`yaml`] reads located YAML, [`load`] turns compose files into a validated [`model::Project`],
//! [`diag`] is how every problem with an input is reported, [`engine`] is the only place that
//! talks to Docker, and [`cli`] holds the command-line front ends.

pub mod args;
pub mod build_context;
pub mod bus;
pub mod changes;
pub mod cli;
pub mod clock;
pub mod ctl;
pub mod daemon;
pub mod diag;
pub mod engine;
pub use engine::identity;
pub mod execute;
pub mod input;
pub mod journal;
pub mod load;
pub mod model;
pub mod observed;
pub mod plan;
pub mod runtime_files;
pub mod spec;
pub mod state;
pub mod supervise;
pub mod user;
pub mod yaml;
