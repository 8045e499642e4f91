//! # huren-issuer — a provincial issuer
//!
//! Sets up a province (root key, a first issuer key certified by the root, and a trust file verifiers load),
//! issues signed credentials (one by one or in bulk), stores and audits them (SQLite or PostgreSQL), revokes and
//! suspends them, and publishes signed status lists; through an HTTP API (`huren-issuer serve`) and the
//! `huren-issuer` admin CLI, both thin front ends over the modules below.
//!
//! - [`Province`] (`province`): the province directory, its keys and trust file; signing one credential;
//! - [`issuance`]: issue and record — a place in a status list, the signature, storage and audit, one by one or
//!   in batches;
//! - [`status`]: status list allocation (blocks per node) and publication of signed lists and deltas;
//! - [`storage`]: the database (SQLite, PostgreSQL): queries, transactions, migrations, the audit chain;
//! - [`auth`]: API token roles (`role`) and making tokens;
//! - [`bulk`]: bulk input (NDJSON, CSV) read as a stream, issued in batches, answered line by line;
//! - [`service`]: the HTTP API (`app(state) -> Router`), its authorisation and problem+json errors; `api` holds
//!   the JSON it answers, [`openapi`] the document describing it;
//! - [`throttle`]: slowing down token guessing;
//! - [`config`], [`server`], [`serve`]: `huren-issuer serve`'s settings, its set-up and status publisher, and the
//!   HTTP server loop;
//! - [`bulk_client`]: `huren-issuer bulk`, through a server or on the database.
//!
//! ```
//! use huren_issuer::{IssueRequest, Province};
//!
//! let dir = std::env::temp_dir().join(format!("huren-doc-{}", std::process::id()));
//! let province = Province::init(&dir, "CN-GD", 1_790_000_000, &Default::default())?;
//! let request: IssueRequest = serde_json::from_str(r#"{
//!     "subject": { "name": "张三", "masked_id": "4403**********1234" },
//!     "body": { "type": "health-status", "colour": "green", "reason": "no-risk" },
//!     "valid_for_hours": 168
//! }"#)?;
//! let issued = province.issue(&request, 1_790_000_100)?;
//! assert!(issued.qr_text().starts_with("HR1:"));
//!
//! // An unmasked national ID is refused before anything is signed.
//! let mut bad = request.clone();
//! bad.subject.masked_id = "440301199001011234".into();
//! assert!(province.issue(&bad, 1_790_000_100).is_err());
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod api;
pub mod auth;
pub mod bulk;
pub mod bulk_client;
pub mod config;
pub mod issuance;
pub mod openapi;
mod province;
mod role;
pub mod serve;
pub mod server;
pub mod service;
pub mod status;
pub mod storage;
pub mod throttle;

pub use province::{InitOptions, IssueRequest, Issued, Province, ProvinceFiles};

/// The system clock, in Unix seconds (0 if it reads before 1970).
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or(0)
}

/// Everything that can go wrong while setting up a province, issuing, or storing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file in the province directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file the configuration names (a bundle to serve) could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file concerned.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The service could not listen on its address.
    #[error("binding {address}: {source}")]
    Bind {
        /// The address.
        address: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The server loop failed.
    #[error("{0}")]
    Serve(#[source] std::io::Error),
    /// The province directory is not usable (missing files, already initialised, bad metadata).
    #[error("province directory: {0}")]
    Directory(String),
    /// The request cannot be issued.
    #[error("request refused: {0}")]
    Request(String),
    /// A role name that is none of the API token roles.
    #[error("request refused: {0}")]
    Role(#[from] auth::UnknownRole),
    /// The system's random source failed.
    #[error("request refused: random source failed")]
    Random,
    /// Key handling failed.
    #[error(transparent)]
    Keys(#[from] huren_keys::Error),
    /// The database failed (for a reason that is neither the request's nor passing: see the variants below).
    #[error("storage: {0}")]
    Storage(#[source] sqlx::Error),
    /// The database holds something this release cannot read (an unknown status or role, a number out of
    /// range).
    #[error("storage: {0}")]
    StoredData(String),
    /// A signing task of a bulk batch ended without an answer (it panicked or was cancelled).
    #[error("storage: signing task failed: {0}")]
    SigningTask(#[source] tokio::task::JoinError),
    /// The database may or may not have stored a change: its commit failed and whether it took effect could not
    /// be learnt in time. Sending the same request again may apply it twice (unless it carries an
    /// Idempotency-Key).
    #[error("commit outcome unknown: {0}")]
    CommitUnknown(#[source] sqlx::Error),
    /// The database refused a value of the request as invalid data (PostgreSQL class 22, such as a NUL
    /// character in text): nothing was changed, and sending the same request again fails again.
    #[error("invalid input: {0}")]
    InvalidInput(#[source] sqlx::Error),
    /// The database cannot be reached right now (a lost connection, a busy pool, a restarting server, a
    /// serialisation conflict): nothing was changed, and the same request may be sent again.
    #[error("storage unavailable: {0}")]
    StorageUnavailable(#[source] sqlx::Error),
    /// Credential encoding or rendering failed.
    #[error(transparent)]
    Credential(#[from] huren_wallet_core::Error),
}
