//! Supervision: restart policies, backoff, and (next) the per-service state the daemon keeps.

pub mod backoff;
pub mod policy;
