//! # huren-verifier — offline verification of Huren credentials
//!
//! [`verify`] takes QR text, the trusted keys, the time and the checkpoint policy, and returns either a
//! [`Verified`] credential or a [`Rejection`] with a stable [`Code`] and [`Stage`]. It does no I/O and reads no
//! clock. Around it, still pure: [`checkpoint`] (the answers the CLI, the kiosk and the phone app give, one per
//! input), [`store`] (the trust store: federation root, bundles, freshness, rollback protection, over a
//! [`medium::TrustMedium`]), [`status`] (status lists), [`dcc`] (EU Digital COVID Certificates), [`scan`] (QR
//! codes from images and camera frames), [`batch`] (many codes, one signature batch).
//!
//! Adapters, each a feature (all in the default `cli`): `files` (a trust store in files), `sync` (trust and
//! status lists over HTTP), `kiosk` (the checkpoint web page and JSON API), `cli` (the `huren-verifier` binary).
//!
//! ```
//! use huren_keys::TrustList;
//! use huren_verifier::{verify, Code, Policy};
//!
//! // With no trusted keys, even a well-formed code is refused; garbage is refused earlier, with its own code.
//! let trust = TrustList::default();
//! let rejection = verify("HR1:NOT*BASE45~", &trust, 1_790_000_000, &Policy::default()).unwrap_err();
//! assert_eq!(rejection.code(), Code::Base45Invalid);
//! assert_eq!(rejection.code().as_str(), "BASE45_INVALID");
//! assert_eq!(rejection.code().message_zh(), "二维码内容损坏（字符无效）");
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod batch;
pub mod checkpoint;
mod code;
pub mod dcc;
#[cfg(feature = "files")]
pub mod inputs;
#[cfg(feature = "kiosk")]
pub mod kiosk;
pub mod medium;
mod pipeline;
pub mod report;
pub mod scan;
pub mod status;
pub mod store;
#[cfg(feature = "sync")]
pub mod sync;

pub use batch::verify_many;
pub use code::{Code, Stage};
pub use pipeline::{verify, verify_cose, Policy, Rejection, Verified};
