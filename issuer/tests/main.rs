//! The crate's integration tests, one module per file, linked into one test binary (see Cargo.toml;
//! `trace_redaction.rs` is a binary of its own).

// `service` first: its set-up helpers and `on_both_backends!` serve the modules after it.
#[macro_use]
mod service;

mod bad_input;
mod bulk_input;
mod bulk_progress;
mod canonical;
mod cli;
mod crash;
mod idempotency;
mod names;
mod nodes;
mod provinces;
mod serve_limits;
mod storage;
mod throttle;
mod upgrade;
mod wire;
