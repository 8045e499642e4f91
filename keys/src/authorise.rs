//! Whether a trusted key may have signed a credential: the one home of the key-authorisation rule (province,
//! certified types, usage window, certificate expiry, revocation cut-off, bundle expiry) and of the search over
//! the keys that share a key id. The verifier and the wallet both call [`TrustList::authorised_signer`] and map
//! its typed refusals to their own codes and words.

use crate::cose::Sign1;
use crate::{Algorithm, CredentialType, Error, KeyId, TrustList, TrustedKey, VerifiedSignatures};

/// What a credential claims about itself that its signing key must be authorised for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claimed<'c> {
    /// The province the credential is issued in the name of (`iss`).
    pub issuer: &'c str,
    /// Its type.
    pub credential_type: CredentialType,
    /// When it was issued (`iat`, Unix seconds).
    pub issued_at: i64,
}

/// Why a key whose signature verifies may not have signed this credential (ranked as checked: the first that
/// applies is reported).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyRefusal {
    /// The credential names another province than the key's certificate.
    ProvinceMismatch {
        /// The credential's `iss`.
        issuer: String,
        /// The key's province.
        key_province: String,
    },
    /// The key is not certified for the credential's type.
    TypeNotCertified {
        /// The credential's type.
        credential_type: CredentialType,
    },
    /// The credential's `iat` lies outside the key's usage window.
    OutsideUsageWindow {
        /// The credential's `iat`.
        issued_at: i64,
        /// First accepted `iat`.
        usage_from: i64,
        /// Last accepted `iat`.
        usage_until: i64,
    },
    /// The key's certificate has expired.
    CertificateExpired {
        /// When it expired.
        expires: i64,
    },
    /// The province revoked the key for credentials issued after a cut-off, and this one was.
    Revoked {
        /// The key.
        kid: KeyId,
        /// The cut-off.
        issued_after: i64,
    },
    /// The province bundle that lists the key has expired: the trust data must be updated.
    BundleExpired {
        /// The key's province.
        province: String,
        /// When the bundle expired.
        expired: i64,
    },
}

impl TrustedKey {
    /// Whether this key may have signed a credential claiming `claimed`, at `now`.
    pub fn authorise(&self, claimed: &Claimed<'_>, now: i64) -> Result<(), KeyRefusal> {
        let cert = &self.certificate;
        if claimed.issuer != cert.province {
            return Err(KeyRefusal::ProvinceMismatch {
                issuer: claimed.issuer.to_string(),
                key_province: cert.province.clone(),
            });
        }
        if !cert.credential_types.contains(&claimed.credential_type) {
            return Err(KeyRefusal::TypeNotCertified { credential_type: claimed.credential_type });
        }
        if claimed.issued_at < cert.usage_from || claimed.issued_at > cert.usage_until {
            return Err(KeyRefusal::OutsideUsageWindow {
                issued_at: claimed.issued_at,
                usage_from: cert.usage_from,
                usage_until: cert.usage_until,
            });
        }
        if now > cert.expires {
            return Err(KeyRefusal::CertificateExpired { expires: cert.expires });
        }
        if let Some(issued_after) = self.revoked_after.filter(|cutoff| claimed.issued_at > *cutoff) {
            return Err(KeyRefusal::Revoked { kid: cert.public_key.kid(), issued_after });
        }
        if let Some(expired) = self.bundle_expires.filter(|expires| now >= *expires) {
            return Err(KeyRefusal::BundleExpired { province: cert.province.clone(), expired });
        }
        Ok(())
    }
}

/// Why no trusted key is an authorised signer of a message, the most telling reason first.
#[derive(Debug)]
#[non_exhaustive]
pub enum SignerRefusal<T, E> {
    /// A key's signature verifies, but its payload does not decode.
    Undecodable(E),
    /// A key's signature verifies, but no such key may have signed it (the last key's refusal).
    Unauthorised {
        /// The decoded payload (authentic: a trusted key signed it).
        decoded: T,
        /// Why that key may not have signed it.
        refusal: KeyRefusal,
    },
    /// The message's algorithm is not the key's (under every key tried, unless another failed otherwise).
    AlgKeyMismatch {
        /// The message's algorithm.
        message: Algorithm,
        /// The key's.
        key: Algorithm,
    },
    /// Keys with the message's key id are trusted, but no signature verifies under them.
    SignatureInvalid,
    /// No trusted key has the message's key id.
    KidUnknown,
}

impl TrustList {
    /// The trusted key that signed `sign1` and may have signed what it says: every key sharing the message's key
    /// id is tried (ids can collide), the payload is decoded once under the first that verifies (`decode`), and
    /// the first verifying key that [`TrustedKey::authorise`]s it (`claimed` says what the payload claims) wins.
    /// Signatures in `known` (from a batch) are not checked again.
    pub fn authorised_signer<'t, T, E>(
        &'t self,
        sign1: &Sign1,
        known: &VerifiedSignatures,
        now: i64,
        decode: impl Fn(&[u8]) -> Result<T, E>,
        claimed: impl Fn(&T) -> Claimed<'_>,
    ) -> Result<(T, &'t TrustedKey), SignerRefusal<T, E>> {
        let mut decoded: Option<T> = None;
        let mut signature_failure = None;
        let mut refusal = None;
        for key in self.candidates(sign1.kid()) {
            let payload = match sign1.verify_known(&key.certificate.public_key, known) {
                Ok(payload) => payload,
                Err(Error::AlgKeyMismatch { message, key }) => {
                    signature_failure.get_or_insert(SignerRefusal::AlgKeyMismatch { message, key });
                    continue;
                }
                Err(_) => {
                    signature_failure = Some(SignerRefusal::SignatureInvalid);
                    continue;
                }
            };
            // Every key that verifies authenticates the same payload: decode it once.
            let value = match decoded.take() {
                Some(value) => value,
                None => decode(payload).map_err(SignerRefusal::Undecodable)?,
            };
            match key.authorise(&claimed(&value), now) {
                Ok(()) => return Ok((value, key)),
                Err(r) => refusal = Some(r),
            }
            decoded = Some(value);
        }
        match (decoded, refusal) {
            (Some(decoded), Some(refusal)) => Err(SignerRefusal::Unauthorised { decoded, refusal }),
            _ => Err(signature_failure.unwrap_or(SignerRefusal::KidUnknown)),
        }
    }
}
