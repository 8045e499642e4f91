//! # huren-plumbing — what Huren's servers and CLIs share, written once
//!
//! Not a core: the verification, trust and credential rules live in `huren-keys`, `huren-wallet-core` and
//! `huren-verifier`. This crate holds the adapters' plumbing, each part behind the feature that needs it so a core
//! that takes one part (a file store) does not pull another (an HTTP server):
//!
//! - [`clock`] (always): RFC 3339 `--at` times and the system clock as Unix seconds.
//! - [`files`] (`files`): atomic file replacement (temporary file, fsync, rename, directory fsync), capped reads,
//!   the data directory a CLI keeps its state in.
//! - [`server`] (`server`): the HTTP/1.1 server loop with the limits a public endpoint needs (head timeout,
//!   write-stall timeout, connection cap, client address, graceful shutdown), shutdown signals, problem+json.
//! - [`http`] (`http`): the blocking, size-capped HTTP GET with redirects checked by origin.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod clock;
#[cfg(feature = "files")]
pub mod files;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "server")]
pub mod server;
