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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{cose, KeyCertificate, SigningKey};

    fn certificate(key: &SigningKey) -> KeyCertificate {
        KeyCertificate {
            province: "CN-GD".into(),
            public_key: key.public().clone(),
            credential_types: vec![CredentialType::HealthStatus],
            usage_from: 1_000,
            usage_until: 2_000,
            expires: 3_000,
            issued_at: 1_000,
        }
    }

    fn claimed(issuer: &str, issued_at: i64) -> Claimed<'_> {
        Claimed { issuer, credential_type: CredentialType::HealthStatus, issued_at }
    }

    #[test]
    fn each_part_of_the_rule_refuses_in_turn() {
        let key = SigningKey::from_seed(&[2; 32]).unwrap();
        let trusted = TrustedKey { certificate: certificate(&key), revoked_after: None, bundle_expires: None };
        assert_eq!(trusted.authorise(&claimed("CN-GD", 1_500), 2_500), Ok(()));
        let refused = |t: &TrustedKey, c: Claimed<'_>, now| t.authorise(&c, now).unwrap_err();
        assert!(matches!(refused(&trusted, claimed("CN-HB", 1_500), 2_500), KeyRefusal::ProvinceMismatch { .. }));
        let test = Claimed { credential_type: CredentialType::TestResult, ..claimed("CN-GD", 1_500) };
        assert!(matches!(refused(&trusted, test, 2_500), KeyRefusal::TypeNotCertified { .. }));
        assert!(matches!(refused(&trusted, claimed("CN-GD", 999), 2_500), KeyRefusal::OutsideUsageWindow { .. }));
        assert!(matches!(refused(&trusted, claimed("CN-GD", 2_001), 2_500), KeyRefusal::OutsideUsageWindow { .. }));
        assert_eq!(
            refused(&trusted, claimed("CN-GD", 1_500), 3_001),
            KeyRefusal::CertificateExpired { expires: 3_000 }
        );
        let revoked = TrustedKey { revoked_after: Some(1_400), ..trusted.clone() };
        assert_eq!(revoked.authorise(&claimed("CN-GD", 1_400), 2_500), Ok(()), "issued at the cut-off: still good");
        assert!(matches!(
            refused(&revoked, claimed("CN-GD", 1_401), 2_500),
            KeyRefusal::Revoked { issued_after: 1_400, .. }
        ));
        let lapsed = TrustedKey { bundle_expires: Some(2_500), ..trusted };
        assert!(matches!(refused(&lapsed, claimed("CN-GD", 1_500), 2_500), KeyRefusal::BundleExpired { .. }));
    }

    #[test]
    fn the_signer_search_reports_the_most_telling_refusal() {
        let key = SigningKey::from_seed(&[2; 32]).unwrap();
        let trust = TrustList::from_certificates(vec![certificate(&key)]);
        let decode = |p: &[u8]| std::str::from_utf8(p).map(str::to_string);
        #[allow(clippy::ptr_arg)] // the decoded payload is a `String`
        fn claims(issuer: &String) -> Claimed<'_> {
            claimed(issuer, 1_500)
        }
        let known = VerifiedSignatures::default();
        let search = |payload: &[u8], signer: &SigningKey| {
            let sign1 = Sign1::parse(&cose::sign1(signer, payload, None).unwrap()).unwrap();
            trust
                .authorised_signer(&sign1, &known, 2_500, decode, claims)
                .map(|(v, k)| (v, k.certificate.province.clone()))
        };
        assert_eq!(search(b"CN-GD", &key).unwrap(), ("CN-GD".to_string(), "CN-GD".to_string()));
        match search(b"CN-HB", &key) {
            Err(SignerRefusal::Unauthorised { decoded, refusal: KeyRefusal::ProvinceMismatch { .. } }) => {
                assert_eq!(decoded, "CN-HB", "the authentic payload comes back for display")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(search(b"\xff", &key), Err(SignerRefusal::Undecodable(_))));
        let stranger = SigningKey::from_seed(&[3; 32]).unwrap();
        assert!(matches!(search(b"CN-GD", &stranger), Err(SignerRefusal::KidUnknown)));
        // A stranger's signature under the trusted key's kid: the key is tried, and the signature fails.
        let forged = {
            let mut sign1 = cose::sign1(&stranger, b"CN-GD", None).unwrap();
            let (stranger_kid, kid) = (stranger.public().kid().0, key.public().kid().0);
            let at = sign1.windows(8).position(|w| w == stranger_kid).unwrap();
            sign1[at..at + 8].copy_from_slice(&kid);
            Sign1::parse(&sign1).unwrap()
        };
        assert!(matches!(
            trust.authorised_signer(&forged, &known, 2_500, decode, claims),
            Err(SignerRefusal::SignatureInvalid)
        ));
    }
}
