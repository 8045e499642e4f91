//! Key certificates: a province root key vouches for one issuer signing key, for some credential types, over a
//! usage window.

use ciborium::Value;

use crate::cbor::{self, IntMap};
use crate::{cose, Error, PublicKey, Signer};

/// Protected content type of a key certificate, so no other signed document can pass for one.
pub const KEY_CERTIFICATE_CONTENT_TYPE: &str = "huren/keycert";

/// The kinds of credential a key may be certified for. The number is the one used on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum CredentialType {
    /// A green / amber / red health status.
    HealthStatus,
    /// A laboratory or rapid test result.
    TestResult,
    /// A vaccination record.
    Vaccination,
    /// A recovery record.
    Recovery,
}

impl CredentialType {
    /// All types, in wire order.
    pub const ALL: [CredentialType; 4] = [
        CredentialType::HealthStatus,
        CredentialType::TestResult,
        CredentialType::Vaccination,
        CredentialType::Recovery,
    ];

    /// The wire number.
    pub fn code(self) -> u8 {
        match self {
            CredentialType::HealthStatus => 0,
            CredentialType::TestResult => 1,
            CredentialType::Vaccination => 2,
            CredentialType::Recovery => 3,
        }
    }

    /// The type for a wire number.
    pub fn from_code(code: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|t| u64::from(t.code()) == code)
    }

    /// The stable name used in files and on the command line (`health-status`, `test-result`, ...).
    pub fn name(self) -> &'static str {
        match self {
            CredentialType::HealthStatus => "health-status",
            CredentialType::TestResult => "test-result",
            CredentialType::Vaccination => "vaccination",
            CredentialType::Recovery => "recovery",
        }
    }

    /// The type for a stable name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Check that `code` looks like an ISO 3166-2 subdivision code: two capital letters, `-`, one to three capitals
/// or digits (`CN-GD`, `CN-11`).
pub fn is_province_code(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() >= 4
        && b.len() <= 6
        && b[0].is_ascii_uppercase()
        && b[1].is_ascii_uppercase()
        && b[2] == b'-'
        && b[3..].iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// What a province root states about one of its issuer keys. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCertificate {
    /// The province (ISO 3166-2) the key may issue for; it must equal the credential's `iss`.
    pub province: String,
    /// The certified issuer key.
    pub public_key: PublicKey,
    /// Credential types the key may sign.
    pub credential_types: Vec<CredentialType>,
    /// First accepted credential `iat`.
    pub usage_from: i64,
    /// Last accepted credential `iat`.
    pub usage_until: i64,
    /// After this instant the certificate is void and nothing signed by the key verifies.
    pub expires: i64,
    /// When the root signed this certificate.
    pub issued_at: i64,
}

impl KeyCertificate {
    /// Encode and sign with the province root key.
    pub fn sign(&self, root: &dyn Signer) -> Result<Vec<u8>, Error> {
        self.check()?;
        let types = self.credential_types.iter().map(|t| Value::from(t.code())).collect();
        let body = cbor::map([
            (1, Some(Value::from(self.province.as_str()))),
            (2, Some(Value::Bytes(self.public_key.spki_der().to_vec()))),
            (3, Some(Value::Array(types))),
            (4, Some(Value::from(self.usage_from))),
            (5, Some(Value::from(self.usage_until))),
            (6, Some(Value::from(self.expires))),
            (7, Some(Value::from(self.issued_at))),
        ]);
        cose::sign1(root, &cbor::encode(&body), Some(KEY_CERTIFICATE_CONTENT_TYPE))
    }

    /// Verify a certificate against the province root key and decode it.
    pub fn verify(bytes: &[u8], root: &PublicKey) -> Result<Self, Error> {
        let sign1 = cose::Sign1::parse(bytes)?;
        if sign1.content_type() != Some(KEY_CERTIFICATE_CONTENT_TYPE) {
            return Err(Error::DocumentInvalid("not a key certificate (content type)".into()));
        }
        let payload = sign1.verify(root)?;
        let cert = Self::decode(payload).map_err(|e| Error::DocumentInvalid(format!("key certificate: {e}")))?;
        cert.check()?;
        Ok(cert)
    }

    fn decode(payload: &[u8]) -> Result<Self, Error> {
        let mut m = IntMap::new(cbor::decode_canonical(payload, 4)?, "key certificate")?;
        let province = cbor::text(m.need(1, "province")?, "province")?;
        let spki = cbor::bytes(m.need(2, "public key")?, "public key")?;
        let public_key = PublicKey::from_spki_der(&spki)?;
        let mut credential_types = Vec::new();
        for t in cbor::array(m.need(3, "credential types")?, "credential types")? {
            let code = cbor::uint(&t, "credential type", 255)?;
            let t = CredentialType::from_code(code)
                .ok_or_else(|| Error::CborInvalid(format!("unknown credential type {code}")))?;
            credential_types.push(t);
        }
        let usage_from = cbor::int(&m.need(4, "usage from")?, "usage from")?;
        let usage_until = cbor::int(&m.need(5, "usage until")?, "usage until")?;
        let expires = cbor::int(&m.need(6, "expires")?, "expires")?;
        let issued_at = cbor::int(&m.need(7, "issued at")?, "issued at")?;
        m.finish()?;
        Ok(KeyCertificate { province, public_key, credential_types, usage_from, usage_until, expires, issued_at })
    }

    fn check(&self) -> Result<(), Error> {
        let bad = |m: &str| Err(Error::DocumentInvalid(format!("key certificate: {m}")));
        if !is_province_code(&self.province) {
            return bad("province is not an ISO 3166-2 code");
        }
        if self.credential_types.is_empty() {
            return bad("no credential types");
        }
        if self.usage_from > self.usage_until || self.usage_until > self.expires {
            return bad("usage window must start before it ends, and end before the certificate expires");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SigningKey;

    fn cert(key: &SigningKey) -> KeyCertificate {
        KeyCertificate {
            province: "CN-GD".into(),
            public_key: key.public().clone(),
            credential_types: vec![CredentialType::HealthStatus, CredentialType::TestResult],
            usage_from: 1_000,
            usage_until: 2_000,
            expires: 3_000,
            issued_at: 1_000,
        }
    }

    #[test]
    fn certificate_round_trip_and_wrong_root() {
        let root = SigningKey::from_seed(&[1; 32]).unwrap();
        let other_root = SigningKey::from_seed(&[9; 32]).unwrap();
        let issuer = SigningKey::from_seed(&[2; 32]).unwrap();
        let bytes = cert(&issuer).sign(&root).unwrap();
        assert_eq!(KeyCertificate::verify(&bytes, root.public()).unwrap(), cert(&issuer));
        assert!(matches!(KeyCertificate::verify(&bytes, other_root.public()), Err(Error::SignatureInvalid)));
    }

    #[test]
    fn a_plain_signed_payload_is_not_a_certificate() {
        let root = SigningKey::from_seed(&[1; 32]).unwrap();
        let bytes = cose::sign1(&root, b"\xa0", None).unwrap();
        assert!(matches!(KeyCertificate::verify(&bytes, root.public()), Err(Error::DocumentInvalid(_))));
    }

    #[test]
    fn inconsistent_certificates_are_not_signed() {
        let root = SigningKey::from_seed(&[1; 32]).unwrap();
        let mut c = cert(&root);
        c.usage_until = 5_000;
        assert!(c.sign(&root).is_err());
        let mut c = cert(&root);
        c.province = "Guangdong".into();
        assert!(c.sign(&root).is_err());
        let mut c = cert(&root);
        c.credential_types.clear();
        assert!(c.sign(&root).is_err());
    }

    #[test]
    fn province_codes() {
        assert!(is_province_code("CN-GD"));
        assert!(is_province_code("CN-11"));
        assert!(!is_province_code("cn-gd"));
        assert!(!is_province_code("CNGD"));
        assert!(!is_province_code("CN-ABCD"));
    }
}
