//! The journal: the native protocol ([`native`]), forwarding one container's output
//! ([`forward`]), and the daemon's forwarders, one per running container ([`registry`]).

pub mod forward;
pub mod limit;
pub mod native;
pub mod registry;
