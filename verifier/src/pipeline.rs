//! The offline verification pipeline: QR text in, a [`Verified`] credential or a [`Rejection`] out.
//!
//! Pure: it reads no clock (the caller passes `now`), touches no file and does bounded work per input.

use std::fmt;

use huren_keys::{
    cose::Sign1, Algorithm, BatchVerifier, CredentialType, KeyId, TrustList, TrustedKey, VerifiedSignatures,
};
use huren_wallet_core::{transport, Body, Credential};

use crate::{Code, Stage};

/// What a checkpoint accepts, and how strict the pipeline is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Size limits for the QR text and the decompressed message.
    pub limits: transport::Limits,
    /// Seconds a credential's `iat`/`nbf` may lie in the verifier's future (clock drift between devices).
    pub clock_skew: i64,
    /// Credential types this checkpoint accepts; `None` accepts all.
    pub accepted_types: Option<Vec<CredentialType>>,
    /// Oldest test result accepted, in seconds since the sample was taken; `None` leaves it to `exp`.
    pub max_test_age: Option<i64>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            limits: transport::Limits::default(),
            clock_skew: 300,
            accepted_types: None,
            max_test_age: Some(72 * 3600),
        }
    }
}

/// Why a credential was refused. Each variant maps to one stable [`Code`] and carries the context to explain it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// No QR code could be read from the image.
    QrUnreadable {
        /// What the scanner reported.
        reason: String,
    },
    /// The text does not start with a known prefix.
    PrefixUnknown {
        /// The prefix found.
        found: String,
    },
    /// Invalid base45.
    Base45Invalid {
        /// Character offset of the bad chunk.
        position: usize,
    },
    /// Corrupt zlib stream.
    DecompressionFailed {
        /// The inflater's complaint.
        reason: String,
    },
    /// Input beyond a size limit.
    PayloadTooLarge {
        /// The limit.
        limit: usize,
        /// What was counted.
        what: &'static str,
    },
    /// Not a well-formed COSE_Sign1.
    CoseMalformed {
        /// The parser's complaint.
        reason: String,
    },
    /// The message names no algorithm, or one Huren does not verify.
    AlgUnsupported {
        /// The COSE algorithm identifier, if any.
        alg: Option<i64>,
    },
    /// No trusted key has the message's key id.
    KidUnknown {
        /// The key id, in hex.
        kid: String,
    },
    /// The message's algorithm is not its key's.
    AlgKeyMismatch {
        /// Algorithm in the message.
        message: Algorithm,
        /// Algorithm of the key.
        key: Algorithm,
    },
    /// The signature does not verify under any key with that key id.
    SignatureInvalid,
    /// The claims set is malformed.
    CwtMalformed {
        /// What is wrong.
        reason: String,
    },
    /// The payload breaks the credential schema.
    SchemaInvalid {
        /// What is wrong.
        reason: String,
    },
    /// The key belongs to another province than the credential's `iss`.
    IssuerNotAuthorised {
        /// The credential's `iss`.
        iss: String,
        /// The province the key is certified for.
        key_province: String,
    },
    /// The key may not sign this type, at this `iat`, or its certificate has expired.
    KeyUsageMismatch {
        /// Which restriction was broken.
        reason: String,
    },
    /// The credential's `nbf` or `iat` lies in the future.
    NotYetValid {
        /// The verification time.
        now: i64,
        /// When it becomes valid.
        valid_from: i64,
    },
    /// The credential (or its health status) has expired.
    Expired {
        /// The verification time.
        now: i64,
        /// When it expired.
        expired_at: i64,
    },
    /// The checkpoint's policy does not accept it.
    PolicyRejected {
        /// Which rule refused it.
        reason: String,
    },
    /// The province revoked the signing key before this credential was issued.
    KeyRevoked {
        /// The key id, in hex.
        kid: String,
        /// Credentials issued after this instant are refused.
        issued_after: i64,
    },
    /// The province's status list says the credential is revoked.
    Revoked {
        /// The issuing province.
        province: String,
        /// Its status list.
        list: u32,
        /// Its index there.
        index: u32,
    },
    /// The province's status list says the credential is suspended.
    Suspended {
        /// The issuing province.
        province: String,
        /// Its status list.
        list: u32,
        /// Its index there.
        index: u32,
    },
    /// The verifier's trust data is too old (past its maximum offline age, or the province bundle has expired).
    TrustStoreStale {
        /// What is stale.
        reason: String,
    },
    /// The device clock is earlier than the newest trust data it holds: the clock is wrong.
    ClockBehindTrust {
        /// The device's time.
        now: i64,
        /// The newest `issued_at` the verifier has seen.
        floor: i64,
    },
}

impl Rejection {
    /// The stable code.
    pub fn code(&self) -> Code {
        match self {
            Rejection::QrUnreadable { .. } => Code::QrUnreadable,
            Rejection::PrefixUnknown { .. } => Code::PrefixUnknown,
            Rejection::Base45Invalid { .. } => Code::Base45Invalid,
            Rejection::DecompressionFailed { .. } => Code::DecompressionFailed,
            Rejection::PayloadTooLarge { .. } => Code::PayloadTooLarge,
            Rejection::CoseMalformed { .. } => Code::CoseMalformed,
            Rejection::AlgUnsupported { .. } => Code::AlgUnsupported,
            Rejection::KidUnknown { .. } => Code::KidUnknown,
            Rejection::AlgKeyMismatch { .. } => Code::AlgKeyMismatch,
            Rejection::SignatureInvalid => Code::SignatureInvalid,
            Rejection::CwtMalformed { .. } => Code::CwtMalformed,
            Rejection::SchemaInvalid { .. } => Code::SchemaInvalid,
            Rejection::IssuerNotAuthorised { .. } => Code::IssuerNotAuthorised,
            Rejection::KeyUsageMismatch { .. } => Code::KeyUsageMismatch,
            Rejection::NotYetValid { .. } => Code::NotYetValid,
            Rejection::Expired { .. } => Code::Expired,
            Rejection::PolicyRejected { .. } => Code::PolicyRejected,
            Rejection::KeyRevoked { .. } => Code::KeyRevoked,
            Rejection::Revoked { .. } => Code::Revoked,
            Rejection::Suspended { .. } => Code::Suspended,
            Rejection::TrustStoreStale { .. } => Code::TrustStoreStale,
            Rejection::ClockBehindTrust { .. } => Code::ClockBehindTrust,
        }
    }

    /// The stage the pipeline stopped at.
    pub fn stage(&self) -> Stage {
        self.code().stage()
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::QrUnreadable { reason } => write!(f, "no QR code read: {reason}"),
            Rejection::PrefixUnknown { found } => write!(f, "unknown prefix {found:?}"),
            Rejection::Base45Invalid { position } => write!(f, "invalid base45 at character {position}"),
            Rejection::DecompressionFailed { reason } => write!(f, "decompression failed: {reason}"),
            Rejection::PayloadTooLarge { limit, what } => write!(f, "more than {limit} {what}"),
            Rejection::CoseMalformed { reason } => write!(f, "COSE_Sign1 malformed: {reason}"),
            Rejection::AlgUnsupported { alg: Some(a) } => write!(f, "COSE algorithm {a} not supported"),
            Rejection::AlgUnsupported { alg: None } => write!(f, "no algorithm in the protected header"),
            Rejection::KidUnknown { kid } => write!(f, "no trusted key with kid {kid}"),
            Rejection::AlgKeyMismatch { message, key } => write!(f, "message says {message}, key is {key}"),
            Rejection::SignatureInvalid => write!(f, "signature does not verify"),
            Rejection::CwtMalformed { reason } => write!(f, "claims malformed: {reason}"),
            Rejection::SchemaInvalid { reason } => write!(f, "schema invalid: {reason}"),
            Rejection::IssuerNotAuthorised { iss, key_province } => {
                write!(f, "credential says issuer {iss}, key is certified for {key_province}")
            }
            Rejection::KeyUsageMismatch { reason } => write!(f, "key usage: {reason}"),
            Rejection::NotYetValid { now, valid_from } => write!(f, "valid from {valid_from}, now {now}"),
            Rejection::Expired { now, expired_at } => write!(f, "expired at {expired_at}, now {now}"),
            Rejection::PolicyRejected { reason } => write!(f, "policy: {reason}"),
            Rejection::KeyRevoked { kid, issued_after } => {
                write!(f, "key {kid} revoked for credentials issued after {issued_after}")
            }
            Rejection::Revoked { province, list, index } => {
                write!(f, "revoked: entry {index} of status list {province}/{list}")
            }
            Rejection::Suspended { province, list, index } => {
                write!(f, "suspended: entry {index} of status list {province}/{list}")
            }
            Rejection::TrustStoreStale { reason } => write!(f, "trust data stale: {reason}"),
            Rejection::ClockBehindTrust { now, floor } => {
                write!(f, "device time {now} is before the newest trust data ({floor})")
            }
        }
    }
}

impl std::error::Error for Rejection {}

/// A credential whose signature, key authorisation, validity and policy all checked out.
///
/// Only [`verify`] can make one, so holding a `Verified` proves the checks ran.
#[derive(Debug, Clone)]
pub struct Verified {
    credential: Credential,
    kid: KeyId,
    algorithm: Algorithm,
}

impl Verified {
    /// The verified credential.
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// The issuing province (the credential's `iss`, equal to the key's province).
    pub fn issuer(&self) -> &str {
        &self.credential.issuer
    }

    /// Key id of the signing key.
    pub fn kid(&self) -> KeyId {
        self.kid
    }

    /// Signature algorithm used.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

/// Verify QR text (`HR1:...`) at time `now` (Unix seconds) against `trust` and `policy`.
pub fn verify(text: &str, trust: &TrustList, now: i64, policy: &Policy) -> Result<Verified, Rejection> {
    let cose = transport::decode(text, &policy.limits).map_err(transport_rejection)?;
    verify_cose(&cose, trust, now, policy)
}

/// Verify a COSE_Sign1 credential (already taken out of its QR transport).
pub fn verify_cose(cose: &[u8], trust: &TrustList, now: i64, policy: &Policy) -> Result<Verified, Rejection> {
    verify_cose_known(cose, trust, now, policy, &VerifiedSignatures::default())
}

/// Verify many QR texts at once: every answer is the one [`verify`] gives, and the Ed25519 signatures are
/// checked together with one [`BatchVerifier`] (several times faster per signature than one by one).
pub fn verify_many(texts: &[&str], trust: &TrustList, now: i64, policy: &Policy) -> Vec<Result<Verified, Rejection>> {
    let decoded: Vec<_> =
        texts.iter().map(|t| transport::decode(t, &policy.limits).map_err(transport_rejection)).collect();
    // First pass: every EdDSA signature under every trusted key its kid names, into one batch.
    let mut batch = BatchVerifier::with_capacity(texts.len());
    for cose in decoded.iter().flatten() {
        let Ok(sign1) = Sign1::parse(cose) else { continue };
        if sign1.algorithm_id().and_then(Algorithm::from_cose_id) != Some(Algorithm::EdDsa) {
            continue;
        }
        let (signed, signature) = sign1.signed_parts();
        for key in trust.candidates(sign1.kid()) {
            // Keys of other algorithms are refused by `add`; the single path reports them.
            let _ = batch.add(&key.certificate.public_key, &signed, signature);
        }
    }
    let known = batch.verify_known();
    // Second pass: the ordinary checks, which take the batch's valid signatures as checked.
    decoded.into_iter().map(|cose| verify_cose_known(&cose?, trust, now, policy, &known)).collect()
}

fn verify_cose_known(
    cose: &[u8],
    trust: &TrustList,
    now: i64,
    policy: &Policy,
    known: &VerifiedSignatures,
) -> Result<Verified, Rejection> {
    let sign1 = Sign1::parse(cose).map_err(|e| Rejection::CoseMalformed { reason: e.to_string() })?;
    let alg = sign1.algorithm_id();
    if alg.and_then(Algorithm::from_cose_id).is_none() {
        return Err(Rejection::AlgUnsupported { alg });
    }
    let (credential, signer) = find_authorised_signer(&sign1, trust, now, known)?;
    check_validity(&credential, now, policy.clock_skew)?;
    check_policy(&credential, now, policy)?;
    let key = &signer.certificate.public_key;
    Ok(Verified { credential, kid: key.kid(), algorithm: key.algorithm() })
}

/// Try every trusted key with the message's key id (ids can collide): the first whose signature verifies and
/// which is authorised for the credential wins. Otherwise report the most telling failure: an authorisation
/// failure under a verifying key, else a signature or algorithm failure, else an unknown kid.
fn find_authorised_signer<'t>(
    sign1: &Sign1,
    trust: &'t TrustList,
    now: i64,
    known: &VerifiedSignatures,
) -> Result<(Credential, &'t TrustedKey), Rejection> {
    let mut credential: Option<Credential> = None;
    let mut signature_failure = None;
    let mut authorisation_failure = None;
    for key in trust.candidates(sign1.kid()) {
        let payload = match sign1.verify_known(&key.certificate.public_key, known) {
            Ok(payload) => payload,
            Err(huren_keys::Error::AlgKeyMismatch { message, key }) => {
                signature_failure.get_or_insert(Rejection::AlgKeyMismatch { message, key });
                continue;
            }
            Err(_) => {
                signature_failure = Some(Rejection::SignatureInvalid);
                continue;
            }
        };
        // Every candidate that verifies authenticates the same payload: decode it once.
        let decoded = match credential.take() {
            Some(c) => c,
            None => Credential::from_claims(payload).map_err(claims_rejection)?,
        };
        match check_authorisation(&decoded, key, now) {
            Ok(()) => return Ok((decoded, key)),
            Err(r) => authorisation_failure = Some(r),
        }
        credential = Some(decoded);
    }
    Err(authorisation_failure
        .or(signature_failure)
        .unwrap_or_else(|| Rejection::KidUnknown { kid: huren_keys::hex(sign1.kid()) }))
}

/// The key's province, scope, usage window and certificate expiry; then its revocation cut-off and its bundle's
/// expiry.
fn check_authorisation(credential: &Credential, key: &TrustedKey, now: i64) -> Result<(), Rejection> {
    let cert = &key.certificate;
    if credential.issuer != cert.province {
        return Err(Rejection::IssuerNotAuthorised {
            iss: credential.issuer.clone(),
            key_province: cert.province.clone(),
        });
    }
    let usage = |reason: String| Err(Rejection::KeyUsageMismatch { reason });
    let kind = credential.credential_type();
    if !cert.credential_types.contains(&kind) {
        return usage(format!("key is not certified for {} credentials", kind.name()));
    }
    if credential.issued_at < cert.usage_from || credential.issued_at > cert.usage_until {
        return usage(format!(
            "issued at {} outside the key's usage window {}..{}",
            credential.issued_at, cert.usage_from, cert.usage_until
        ));
    }
    if now > cert.expires {
        return usage(format!("the key's certificate expired at {}", cert.expires));
    }
    if let Some(issued_after) = key.revoked_after.filter(|cutoff| credential.issued_at > *cutoff) {
        return Err(Rejection::KeyRevoked { kid: cert.public_key.kid().to_hex(), issued_after });
    }
    if let Some(expired) = key.bundle_expires.filter(|expires| now >= *expires) {
        return Err(Rejection::TrustStoreStale {
            reason: format!("the {} province bundle expired at {expired}; sync the trust data", cert.province),
        });
    }
    Ok(())
}

/// The credential's own validity period, narrowed by what its body says (a health status's valid-until, a
/// recovery's window, a test's or vaccination's date, which cannot lie in the future).
fn check_validity(credential: &Credential, now: i64, skew: i64) -> Result<(), Rejection> {
    let mut valid_from = credential.not_before.unwrap_or(credential.issued_at).max(credential.issued_at);
    let mut expired_at = credential.expires_at;
    match &credential.body {
        Body::HealthStatus(h) => expired_at = expired_at.min(h.valid_until.unwrap_or(expired_at)),
        Body::Recovery(r) => {
            valid_from = valid_from.max(r.valid_from.start_unix());
            expired_at = expired_at.min(r.valid_until.end_unix());
        }
        Body::TestResult(t) => valid_from = valid_from.max(t.sampled_at),
        Body::Vaccination(v) => valid_from = valid_from.max(v.date.start_unix()),
        _ => {}
    }
    if valid_from > now.saturating_add(skew) {
        return Err(Rejection::NotYetValid { now, valid_from });
    }
    if now >= expired_at {
        return Err(Rejection::Expired { now, expired_at });
    }
    Ok(())
}

fn check_policy(credential: &Credential, now: i64, policy: &Policy) -> Result<(), Rejection> {
    let kind = credential.credential_type();
    if policy.accepted_types.as_ref().is_some_and(|types| !types.contains(&kind)) {
        return Err(Rejection::PolicyRejected { reason: format!("{} credentials are not accepted here", kind.name()) });
    }
    if let (Body::TestResult(t), Some(max_age)) = (&credential.body, policy.max_test_age) {
        let age = now.saturating_sub(t.sampled_at);
        if age > max_age {
            return Err(Rejection::PolicyRejected {
                reason: format!(
                    "test sampled {} h ago; this checkpoint accepts tests up to {} h old",
                    age / 3600,
                    max_age / 3600
                ),
            });
        }
    }
    Ok(())
}

fn transport_rejection(e: huren_wallet_core::Error) -> Rejection {
    use huren_wallet_core::Error as E;
    match e {
        E::PrefixUnknown { found } => Rejection::PrefixUnknown { found },
        E::Base45Invalid { position } => Rejection::Base45Invalid { position },
        E::DecompressionFailed(reason) => Rejection::DecompressionFailed { reason },
        E::PayloadTooLarge { limit, what } => Rejection::PayloadTooLarge { limit, what },
        other => Rejection::CoseMalformed { reason: other.to_string() },
    }
}

fn claims_rejection(e: huren_wallet_core::Error) -> Rejection {
    use huren_wallet_core::Error as E;
    match e {
        E::SchemaInvalid(reason) => Rejection::SchemaInvalid { reason },
        other => Rejection::CwtMalformed { reason: other.to_string() },
    }
}
