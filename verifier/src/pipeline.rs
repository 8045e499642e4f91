//! The offline verification pipeline: QR text in, a [`Verified`] credential or a [`Rejection`] out.
//!
//! Pure: it reads no clock (the caller passes `now`), touches no file and does bounded work per input.

use std::fmt;

use huren_keys::{
    cose::Sign1, Algorithm, CredentialType, KeyId, KeyRefusal, SignerRefusal, TrustList, TrustedKey, VerifiedSignatures,
};
use huren_wallet_core::{presentation, transport, Body, Credential};

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
    /// How many 30-second time steps a dynamic code's step may differ from the verifier's: accepted iff
    /// `|step - floor(now / 30)| <= presentation_skew_steps`. With 1 (the default) a code is refused 30 to 60 s
    /// after it was made, and always by 60 s; it also absorbs up to about 30 s of clock difference.
    pub presentation_skew_steps: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            limits: transport::Limits::default(),
            clock_skew: 300,
            accepted_types: None,
            max_test_age: Some(72 * 3600),
            presentation_skew_steps: 1,
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
    /// The credential's status list cannot be checked on this device: held once and now missing or damaged, or
    /// never synced (and the issuing province does not allow accepting its credentials meanwhile).
    StatusUnavailable {
        /// The issuing province.
        province: String,
        /// Its status list.
        list: u32,
        /// What is wrong with the list on this device.
        reason: String,
    },
    /// A dynamic code's time step is outside the accepted skew: an old code (a screenshot) or a wrong clock.
    PresentationExpired {
        /// The step the holder signed.
        step: u64,
        /// The verifier's step, `floor(now / 30)`.
        current: i64,
        /// The accepted difference, in steps.
        skew: u64,
    },
    /// A dynamic code's holder signature does not verify under the key its credential binds (another device
    /// signed it, or it was altered), or the credential binds no key.
    HolderSignatureInvalid {
        /// What is wrong.
        reason: String,
    },
    /// A holder-bound credential was shown as a static code (`HR1:`), which is what a screenshot or copy gives.
    PresentationRequired,
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
            Rejection::StatusUnavailable { .. } => Code::StatusUnavailable,
            Rejection::TrustStoreStale { .. } => Code::TrustStoreStale,
            Rejection::ClockBehindTrust { .. } => Code::ClockBehindTrust,
            Rejection::PresentationExpired { .. } => Code::PresentationExpired,
            Rejection::HolderSignatureInvalid { .. } => Code::HolderSignatureInvalid,
            Rejection::PresentationRequired => Code::PresentationRequired,
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
            Rejection::StatusUnavailable { province, list, reason } => {
                write!(f, "status list {province}/{list} cannot be checked: {reason}")
            }
            Rejection::TrustStoreStale { reason } => write!(f, "trust data stale: {reason}"),
            Rejection::ClockBehindTrust { now, floor } => {
                write!(f, "device time {now} is before the newest trust data ({floor})")
            }
            Rejection::PresentationExpired { step, current, skew } => {
                write!(f, "dynamic code made in time step {step}, now step {current} (30 s each; at most {skew} apart)")
            }
            Rejection::HolderSignatureInvalid { reason } => write!(f, "holder signature: {reason}"),
            Rejection::PresentationRequired => {
                write!(f, "the credential is bound to the holder's device: only its dynamic code (HP1:) is accepted")
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
    step: Option<u64>,
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

    /// For a dynamic code (`HP1:`), the time step its holder signed; `None` for a static code.
    pub fn presentation_step(&self) -> Option<u64> {
        self.step
    }
}

/// Verify QR text at time `now` (Unix seconds) against `trust` and `policy`: a static code (`HR1:...`) or a
/// dynamic one (`HP1:...`, a holder-bound credential with its holder's signature over the current time step).
///
/// A dynamic code's credential goes through the same checks as a static one; then its holder signature must verify
/// under the key the credential binds, and its step lie within `policy.presentation_skew_steps` of `now`'s. A
/// holder-bound credential in a static code is refused ([`Rejection::PresentationRequired`]).
pub fn verify(text: &str, trust: &TrustList, now: i64, policy: &Policy) -> Result<Verified, Rejection> {
    match decode_text(text, policy)? {
        Shown::Static(cose) => verify_cose(&cose, trust, now, policy),
        Shown::Dynamic(p) => {
            let verified = verify_credential(&p.credential, trust, now, policy, &VerifiedSignatures::default())?;
            check_presentation(verified, &p, now, policy)
        }
    }
}

/// Verify a COSE_Sign1 credential shown statically (already taken out of its QR transport). A holder-bound
/// credential is refused with [`Rejection::PresentationRequired`].
pub fn verify_cose(cose: &[u8], trust: &TrustList, now: i64, policy: &Policy) -> Result<Verified, Rejection> {
    verify_credential(cose, trust, now, policy, &VerifiedSignatures::default()).and_then(require_static)
}

/// A code as shown: a static credential or a dynamic presentation of one.
pub(crate) enum Shown {
    /// `HR1:`: the credential's COSE bytes.
    Static(Vec<u8>),
    /// `HP1:`: credential, time step and holder signature.
    Dynamic(presentation::Presentation),
}

impl Shown {
    pub(crate) fn credential(&self) -> &[u8] {
        match self {
            Shown::Static(cose) => cose,
            Shown::Dynamic(p) => &p.credential,
        }
    }
}

/// Take a code out of its QR transport, by prefix.
pub(crate) fn decode_text(text: &str, policy: &Policy) -> Result<Shown, Rejection> {
    if text.starts_with(presentation::PREFIX) {
        presentation::decode(text, &policy.limits).map(Shown::Dynamic).map_err(transport_rejection)
    } else {
        transport::decode(text, &policy.limits).map(Shown::Static).map_err(transport_rejection)
    }
}

/// A static code must not carry a holder-bound credential: that is exactly what a screenshot gives.
pub(crate) fn require_static(verified: Verified) -> Result<Verified, Rejection> {
    match verified.credential.holder {
        Some(_) => Err(Rejection::PresentationRequired),
        None => Ok(verified),
    }
}

/// The holder's part of a dynamic code, after its credential verified: the credential binds a key, the holder
/// signature verifies under it (so the step is authentic), and the step is within the policy's skew of `now`'s.
pub(crate) fn check_presentation(
    mut verified: Verified,
    shown: &presentation::Presentation,
    now: i64,
    policy: &Policy,
) -> Result<Verified, Rejection> {
    let Some(holder) = &verified.credential.holder else {
        return Err(Rejection::HolderSignatureInvalid {
            reason: "the credential binds no holder key; show its static code".into(),
        });
    };
    if holder.public_key().verify(&shown.message(), &shown.signature).is_err() {
        return Err(Rejection::HolderSignatureInvalid {
            reason: "does not verify under the credential's holder key (another device, or altered)".into(),
        });
    }
    let current = now.div_euclid(presentation::STEP_SECONDS);
    let distance = (i128::from(shown.step) - i128::from(current)).unsigned_abs();
    if distance > u128::from(policy.presentation_skew_steps) {
        return Err(Rejection::PresentationExpired { step: shown.step, current, skew: policy.presentation_skew_steps });
    }
    verified.step = Some(shown.step);
    Ok(verified)
}

/// The credential itself, however it was shown: COSE structure, signer, authorisation, validity and policy.
pub(crate) fn verify_credential(
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
    Ok(Verified { credential, kid: key.kid(), algorithm: key.algorithm(), step: None })
}

/// The trusted key that signed the credential and may have signed it ([`TrustList::authorised_signer`], the
/// rule the wallet applies too), its refusals in the verifier's codes: an authorisation failure under a verifying
/// key, else a signature or algorithm failure, else an unknown kid.
fn find_authorised_signer<'t>(
    sign1: &Sign1,
    trust: &'t TrustList,
    now: i64,
    known: &VerifiedSignatures,
) -> Result<(Credential, &'t TrustedKey), Rejection> {
    trust.authorised_signer(sign1, known, now, Credential::from_claims, Credential::claimed).map_err(|refusal| {
        match refusal {
            SignerRefusal::Undecodable(e) => claims_rejection(e),
            SignerRefusal::Unauthorised { refusal, .. } => key_refusal(refusal),
            SignerRefusal::AlgKeyMismatch { message, key } => Rejection::AlgKeyMismatch { message, key },
            SignerRefusal::SignatureInvalid => Rejection::SignatureInvalid,
            _ => Rejection::KidUnknown { kid: huren_keys::hex(sign1.kid()) },
        }
    })
}

/// Why a verifying key may not have signed the credential, as the verifier's rejection.
fn key_refusal(refusal: KeyRefusal) -> Rejection {
    let usage = |reason: String| Rejection::KeyUsageMismatch { reason };
    match refusal {
        KeyRefusal::ProvinceMismatch { issuer, key_province } => {
            Rejection::IssuerNotAuthorised { iss: issuer, key_province }
        }
        KeyRefusal::TypeNotCertified { credential_type } => {
            usage(format!("key is not certified for {} credentials", credential_type.name()))
        }
        KeyRefusal::OutsideUsageWindow { issued_at, usage_from, usage_until } => {
            usage(format!("issued at {issued_at} outside the key's usage window {usage_from}..{usage_until}"))
        }
        KeyRefusal::CertificateExpired { expires } => usage(format!("the key's certificate expired at {expires}")),
        KeyRefusal::Revoked { kid, issued_after } => Rejection::KeyRevoked { kid: kid.to_hex(), issued_after },
        KeyRefusal::BundleExpired { province, expired } => Rejection::TrustStoreStale {
            reason: format!("the {province} province bundle expired at {expired}; sync the trust data"),
        },
        // A refusal this verifier does not know yet: refuse, never accept (fail closed).
        other => usage(format!("{other:?}")),
    }
}

/// The credential's own validity window ([`Credential::validity`]), with `skew` seconds of tolerance for a clock
/// that runs behind the issuer's.
fn check_validity(credential: &Credential, now: i64, skew: i64) -> Result<(), Rejection> {
    let (valid_from, expired_at) = credential.validity();
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
        E::PresentationMalformed(reason) => Rejection::CoseMalformed { reason: format!("dynamic code: {reason}") },
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
