//! # huren-wallet-core — the Huren credential
//!
//! The data model ([`Credential`]), its CWT claims in integer-keyed CBOR ([`cwt`]), and the QR transport: the
//! `HR1:` prefix, base45, zlib only when it helps ([`transport`]), plus rendering to PNG, SVG and terminal
//! ([`QrSymbol`]). Pure: no clock, no files.
//!
//! ```
//! use huren_keys::SigningKey;
//! use huren_wallet_core::{transport, Body, Colour, Credential, HealthStatus, Reason, Subject};
//!
//! let key = SigningKey::generate()?;
//! let credential = Credential {
//!     issuer: "CN-GD".into(),
//!     issued_at: 1_790_000_000,
//!     expires_at: 1_790_604_800,
//!     not_before: None,
//!     id: vec![7; 8],
//!     status: None,
//!     subject: Subject { name: "张三".into(), pinyin: None, masked_id: "4403**********1234".into(), date_of_birth: None },
//!     body: Body::HealthStatus(HealthStatus { colour: Colour::Green, reason: Reason::NoRisk, valid_until: None }),
//! };
//! let text = transport::encode(&credential.sign(&key)?);
//! assert!(text.starts_with("HR1:"));
//!
//! // Text from another scheme is refused with a typed error naming the prefix it found.
//! let err = transport::decode("HC1:NCFOXN", &Default::default()).unwrap_err();
//! assert!(matches!(err, huren_wallet_core::Error::PrefixUnknown { .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod base45;
pub mod cwt;
mod date;
mod model;
mod render;
pub mod transport;

pub use date::Date;
pub use model::*;
pub use render::{Ecc, QrSymbol, MAX_MODULE_PX, QUIET_ZONE};

/// Everything that can go wrong in `huren-wallet-core`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text does not start with a known prefix.
    #[error("unknown prefix {found:?}")]
    PrefixUnknown {
        /// What was found before the first `:` (at most 8 characters).
        found: String,
    },
    /// The text is not valid base45.
    #[error("invalid base45 at character {position}")]
    Base45Invalid {
        /// Offset of the offending chunk in the text.
        position: usize,
    },
    /// The zlib stream is corrupt.
    #[error("decompression failed: {0}")]
    DecompressionFailed(String),
    /// Input larger than a limit.
    #[error("more than {limit} {what}")]
    PayloadTooLarge {
        /// The limit exceeded.
        limit: usize,
        /// What was counted.
        what: &'static str,
    },
    /// The claims are not a well-formed CWT claims set.
    #[error("CWT claims malformed: {0}")]
    CwtMalformed(String),
    /// The Huren payload breaks the schema.
    #[error("credential schema invalid: {0}")]
    SchemaInvalid(String),
    /// An issuer tried to sign content that is not allowed.
    #[error("credential content invalid: {0}")]
    Invalid(String),
    /// A QR code could not be rendered.
    #[error("QR rendering failed: {0}")]
    Render(String),
    /// Signing failed.
    #[error(transparent)]
    Keys(#[from] huren_keys::Error),
}
