//! The journal: the native protocol ([`native`]) and forwarding container output ([`forward`]).

pub mod forward;
pub mod native;
