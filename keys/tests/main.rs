//! The crate's integration tests, one module per file, linked into one test binary (see Cargo.toml).

mod cli;
mod cose_wg;
mod ed25519_batch;
mod federation;
mod key_files;
