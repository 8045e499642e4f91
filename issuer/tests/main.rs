//! The crate's integration tests, one module per file, linked into one test binary (see Cargo.toml).

mod cli;
mod crash;
mod nodes;
mod serve_limits;
mod service;
mod storage;
mod throttle;
mod trace_redaction;
