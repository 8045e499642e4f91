//! # huren-wallet-core — the Huren credential
//!
//! The data model ([`Credential`]), its CWT claims in integer-keyed CBOR ([`cwt`]), and the QR transport: the
//! `HR1:` prefix, base45, zlib only when it helps ([`transport`]), plus rendering to PNG, SVG and terminal
//! ([`QrSymbol`]), dynamic presentations ([`presentation`]) and the resident's [`wallet`], which keeps credentials
//! encrypted at rest behind a storage trait ([`store`]). Pure: no clock and no files; the feature `files` adds
//! `store::FileStorage` and `cli` (the default) the `huren-wallet` binary.
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
//!     holder: None,
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
pub mod name;
pub mod presentation;
mod render;
pub mod store;
pub mod transport;
pub mod wallet;

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
    /// A dynamic presentation (`HP1:`) is not `[credential, step, signature]` in canonical CBOR.
    #[error("presentation malformed: {0}")]
    PresentationMalformed(String),
    /// Signing failed.
    #[error(transparent)]
    Keys(#[from] huren_keys::Error),
    /// The wallet did not open: the passphrase is wrong, or the file was altered (authenticated encryption cannot
    /// tell these apart).
    #[error("wrong passphrase, or the wallet file was altered")]
    WrongPassphrase,
    /// The file is not a Huren wallet: other magic bytes, or a format version or key derivation this build does
    /// not know.
    #[error("not a Huren wallet file: {reason}")]
    NotAWallet {
        /// What did not match.
        reason: String,
    },
    /// The wallet file ends early (restore it from a backup).
    #[error("wallet file truncated: {found} bytes of at least {expected}")]
    WalletTruncated {
        /// Bytes the header calls for.
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// The wallet file's header or contents are inconsistent.
    #[error("wallet file damaged: {reason}")]
    WalletDamaged {
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing wallet storage failed.
    #[error("wallet storage {path}: {source}")]
    Storage {
        /// The file concerned.
        path: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A credential whose kid a trusted key has, but whose signature no such key verifies: altered or forged.
    #[error("the signature does not verify under any trusted key with kid {kid}: the code was altered or forged, not imported")]
    SignatureRejected {
        /// The kid in the credential, hex.
        kid: String,
    },
    /// No trusted key vouches for the credential, and the import required one.
    #[error("not imported: the issuer is not trusted ({reason}); allow untrusted credentials to keep it anyway")]
    Untrusted {
        /// Why.
        reason: String,
    },
    /// A claim-link response that is not what the issuer sends, or that refuses the credential.
    #[error("claim link: {0}")]
    ClaimResponse(String),
    /// No credential with this id in the wallet.
    #[error("no credential with id {id} in the wallet")]
    NotInWallet {
        /// The id asked for.
        id: String,
    },
    /// An import from a file of several codes failed at one line (nothing from the file was imported).
    #[error("line {line}: {source}")]
    ImportLine {
        /// 1-based line number.
        line: usize,
        /// What went wrong there.
        source: Box<Error>,
    },
    /// The trust data vouches for no issuer key at this time (empty, or every certificate or bundle in it has
    /// expired): every credential would be refused, so nothing was tried (a claim link is not spent on it).
    #[error("the trust data vouches for no issuer key at {at} (of {keys} keys, none is unexpired): update it")]
    TrustUnusable {
        /// The time checked (Unix seconds).
        at: i64,
        /// How many keys the trust data has.
        keys: usize,
    },
    /// Redeeming a claim link failed (the wallet is unchanged).
    #[error(transparent)]
    Redeem(Box<dyn std::error::Error + Send + Sync>),
    /// A claim link was redeemed and the issuer's answer kept beside the wallet, sealed, but its credential is not
    /// stored yet: import it again once the cause is fixed; the issuer is not needed and the link is not redeemed
    /// again.
    #[error("the claim link was redeemed and the issuer's answer is kept, but the credential is not in the wallet yet: {source}")]
    ClaimPending {
        /// Why it is not stored.
        source: Box<Error>,
    },
    /// This claim link was not redeemed: the answer kept from another claim link comes first, and it could not be
    /// imported now (the source says why, and whether it is still kept).
    #[error("this claim link was not redeemed: the answer kept from an earlier claim link comes first, and {source}")]
    ClaimBlocked {
        /// What happened to the earlier answer.
        source: Box<Error>,
    },
    /// A claim link was redeemed, but the issuer's answer can never be imported (not a claim answer, revoked,
    /// altered or forged, or naming another credential); it is not kept.
    #[error("the claim link was redeemed, but the issuer's answer cannot be imported: {source}")]
    ClaimUnusable {
        /// Why.
        source: Box<Error>,
    },
    /// A claim link was redeemed, but neither keeping its answer nor saving the wallet worked: the QR text here is
    /// the one copy left of the credential.
    #[error("the claim link was redeemed, but the credential could neither be stored ({source}) nor kept ({keeping}); save this QR text and import it later: {qr_text}")]
    ClaimNotKept {
        /// The credential's QR text (empty when the answer held none).
        qr_text: String,
        /// Why it is not stored.
        source: Box<Error>,
        /// Why the answer could not be kept.
        keeping: Box<Error>,
    },
    /// The claim-link answer pending import does not open (damaged, or sealed with another passphrase); it is
    /// left as it is.
    #[error("a claim-link answer pending import does not open: {source}")]
    PendingUnreadable {
        /// Why.
        source: Box<Error>,
    },
}
