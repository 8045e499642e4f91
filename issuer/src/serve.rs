//! The service's HTTP/1.1 server loop: `huren_plumbing::server::serve` (head timeout, write-stall timeout,
//! connection cap, client address, graceful shutdown), the one loop the kiosk uses too.

pub use huren_plumbing::server::{serve, ServeLimits};
