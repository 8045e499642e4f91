//! The one error type of this crate.

use crate::Algorithm;

/// Everything that can go wrong in `huren-keys`.
///
/// Variants carry the context a caller needs to explain the failure; none of them carries secret material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key file could not be read or written.
    #[error("key file {path}: {source}")]
    Io {
        /// The file concerned.
        path: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A PEM or PKCS#8 document could not be decoded.
    #[error("key encoding: {0}")]
    KeyEncoding(String),
    /// Text that should be lower-case hex (an id, a key id, an encrypted key body) is not: see [`crate::unhex`].
    #[error("not lower-case hex: {0}")]
    HexInvalid(String),
    /// A SubjectPublicKeyInfo could not be decoded or names a key type Huren does not support.
    #[error("public key: {0}")]
    PublicKeyInvalid(String),
    /// The COSE structure is not well-formed (bad CBOR, missing parts, trailing bytes, duplicate labels).
    #[error("COSE structure malformed: {0}")]
    CoseMalformed(String),
    /// The message names an algorithm Huren does not verify (or names none).
    #[error("COSE algorithm {0:?} is not supported")]
    AlgUnsupported(Option<i64>),
    /// The message's algorithm is not the algorithm of the key it claims to be signed by.
    #[error("message algorithm {message} differs from key algorithm {key}")]
    AlgKeyMismatch {
        /// Algorithm named in the message's protected header.
        message: Algorithm,
        /// Algorithm the key is bound to.
        key: Algorithm,
    },
    /// The signature does not verify under the key.
    #[error("signature does not verify")]
    SignatureInvalid,
    /// A key certificate or trust file has a well-formed signature but invalid contents.
    #[error("document content invalid: {0}")]
    DocumentInvalid(String),
    /// A CBOR document is not strictly well-formed (see [`crate::cbor`]), or breaks its schema.
    #[error("{0}")]
    CborInvalid(String),
    /// A trust file lists, under one province's root, a certificate for another province.
    #[error("certificate for {certificate} listed under {anchor}'s root")]
    CertificateProvinceMismatch {
        /// The province whose root signed the certificate.
        anchor: String,
        /// The province the certificate names.
        certificate: String,
    },
    /// A signed document has fewer distinct valid member signatures than its threshold requires.
    #[error("{got} of {needed} required member signatures ({detail})")]
    ThresholdNotMet {
        /// Signatures required.
        needed: u32,
        /// Distinct members whose signature verified.
        got: u32,
        /// Who signed.
        detail: String,
    },
    /// A root update that is not the next version of the current root.
    #[error("root version {offered} does not follow the current version {current}")]
    RootVersion {
        /// The verifier's current root version.
        current: u64,
        /// The offered version.
        offered: u64,
    },
    /// A province bundle signed by a key that is not that province's root.
    #[error("bundle for {claimed} is not signed by a root key of {claimed}{}", signer.as_ref().map(|s| format!(" (signed by {s})")).unwrap_or_default())]
    BundleSignerMismatch {
        /// The province the bundle claims to be for.
        claimed: String,
        /// The member whose root key signed it, if any.
        signer: Option<String>,
    },
    /// A member signed the same document more than once (each member's signature counts once; a document that
    /// pretends otherwise is refused).
    #[error("{province} signed this document more than once")]
    DuplicateSigner {
        /// The member.
        province: String,
    },
    /// A document signed by a key that belongs to no member of the federation.
    #[error("signed by key {kid}, which is no member's root key")]
    UnknownSigner {
        /// The signing key id, in hex.
        kid: String,
    },
    /// A document issued later than the verifier's clock allows (a province cannot push the time floor ahead).
    #[error("{what} is issued at {issued_at}, after the device time {now}: refused (fix the clock if it is wrong)")]
    IssuedInFuture {
        /// Which document.
        what: String,
        /// Its issued_at.
        issued_at: i64,
        /// The device time.
        now: i64,
    },
    /// The device clock is earlier than trust data already accepted: the clock is wrong, updates are refused.
    #[error("device time {now} is before the newest trust data ({floor}): fix the clock")]
    ClockBehindTrust {
        /// The device time.
        now: i64,
        /// The time floor.
        floor: i64,
    },
    /// A document larger than Huren accepts (too many members, keys, signatures or entries).
    #[error("{0}")]
    TooLarge(String),
    /// A province that is not a member of the federation.
    #[error("{0} is not a member of the federation")]
    NotAMember(String),
    /// An update older than what the verifier already has.
    #[error("{what} version {offered} is older than the stored version {current}")]
    Rollback {
        /// Which document.
        what: String,
        /// Stored version.
        current: u64,
        /// Offered version.
        offered: u64,
    },
    /// The same version as the stored one, with different contents.
    #[error("{what} version {version} differs from the stored document of the same version")]
    VersionConflict {
        /// Which document.
        what: String,
        /// The version.
        version: u64,
    },
    /// A document past its expiry.
    #[error("{what} expired at {expires} (now {now})")]
    Expired {
        /// Which document.
        what: String,
        /// Its expiry.
        expires: i64,
        /// The time of the check.
        now: i64,
    },
}

impl Error {
    /// A stable upper-case code for reports and JSON (`THRESHOLD_NOT_MET`, `ROLLBACK`, ...).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Io { .. } => "IO_ERROR",
            Error::KeyEncoding(_) => "KEY_ENCODING",
            Error::HexInvalid(_) => "HEX_INVALID",
            Error::PublicKeyInvalid(_) => "PUBLIC_KEY_INVALID",
            Error::CoseMalformed(_) => "COSE_MALFORMED",
            Error::AlgUnsupported(_) => "ALG_UNSUPPORTED",
            Error::AlgKeyMismatch { .. } => "ALG_KEY_MISMATCH",
            Error::SignatureInvalid => "SIGNATURE_INVALID",
            Error::DocumentInvalid(_) => "DOCUMENT_INVALID",
            Error::CborInvalid(_) => "CBOR_INVALID",
            Error::CertificateProvinceMismatch { .. } => "ISSUER_NOT_AUTHORISED",
            Error::ThresholdNotMet { .. } => "THRESHOLD_NOT_MET",
            Error::RootVersion { .. } => "ROOT_VERSION_INVALID",
            Error::BundleSignerMismatch { .. } => "BUNDLE_SIGNER_MISMATCH",
            Error::NotAMember(_) => "NOT_A_MEMBER",
            Error::Rollback { .. } => "ROLLBACK",
            Error::VersionConflict { .. } => "VERSION_CONFLICT",
            Error::Expired { .. } => "DOCUMENT_EXPIRED",
            Error::DuplicateSigner { .. } => "DUPLICATE_SIGNER",
            Error::UnknownSigner { .. } => "SIGNER_UNKNOWN",
            Error::IssuedInFuture { .. } => "ISSUED_IN_FUTURE",
            Error::ClockBehindTrust { .. } => "CLOCK_BEHIND_TRUST",
            Error::TooLarge(_) => "DOCUMENT_TOO_LARGE",
        }
    }
}
