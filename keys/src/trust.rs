//! Trust anchors for a single federation-less deployment: each province's root key, pinned out of band, and the
//! key certificates it signed. The verifier indexes the certified issuer keys by key id.
//!
//! The federation issue layers a co-signed root and signed province bundles on top; this file format is what a
//! verifier is provisioned with until then (and what `huren-issuer init` writes).

use std::collections::HashMap;

use ciborium::Value;

use crate::cbor::{self, IntMap};
use crate::federation::FederationRoot;
use crate::{is_province_code, Error, KeyCertificate, KeyId, ProvinceBundle, PublicKey, Verified};

/// Format version written in trust files.
pub const TRUST_FILE_VERSION: u64 = 1;
/// Largest trust file accepted, in bytes.
pub const MAX_TRUST_FILE_BYTES: usize = 4 * 1024 * 1024;

/// One province's pinned root key and the key certificates it signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvinceAnchor {
    /// ISO 3166-2 code of the province.
    pub province: String,
    /// The province root key, trusted because the file was provisioned out of band.
    pub root: PublicKey,
    /// Key certificates (COSE_Sign1 bytes) signed by `root`.
    pub certificates: Vec<Vec<u8>>,
}

/// The trust file: a list of province anchors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustFile {
    /// The provinces, each at most once.
    pub anchors: Vec<ProvinceAnchor>,
}

impl TrustFile {
    /// Encode as canonical CBOR.
    pub fn encode(&self) -> Vec<u8> {
        let anchors = self
            .anchors
            .iter()
            .map(|a| {
                let certs = a.certificates.iter().map(|c| Value::Bytes(c.clone())).collect();
                cbor::map([
                    (1, Some(Value::from(a.province.as_str()))),
                    (2, Some(Value::Bytes(a.root.spki_der().to_vec()))),
                    (3, Some(Value::Array(certs))),
                ])
            })
            .collect();
        cbor::encode(&cbor::map([(1, Some(Value::from(TRUST_FILE_VERSION))), (2, Some(Value::Array(anchors)))]))
    }

    /// Decode strictly (size cap, canonical CBOR, known version, each province once).
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_TRUST_FILE_BYTES {
            return Err(Error::DocumentInvalid(format!("trust file larger than {MAX_TRUST_FILE_BYTES} bytes")));
        }
        Self::decode_inner(bytes).map_err(|e| Error::DocumentInvalid(format!("trust file: {e}")))
    }

    fn decode_inner(bytes: &[u8]) -> Result<Self, Error> {
        let bad = Error::CborInvalid;
        let mut top = IntMap::new(cbor::decode_canonical(bytes, 5)?, "trust file")?;
        let version = cbor::uint(&top.need(1, "version")?, "version", u64::MAX)?;
        if version != TRUST_FILE_VERSION {
            return Err(bad(format!("unsupported version {version}")));
        }
        let mut anchors: Vec<ProvinceAnchor> = Vec::new();
        for item in cbor::array(top.need(2, "anchors")?, "anchors")? {
            let mut m = IntMap::new(item, "anchor")?;
            let province = cbor::text(m.need(1, "province")?, "province")?;
            if !is_province_code(&province) || anchors.iter().any(|a| a.province == province) {
                return Err(bad(format!("province {province:?} invalid or listed twice")));
            }
            let root_der = cbor::bytes(m.need(2, "root key")?, "root key")?;
            let root = PublicKey::from_spki_der(&root_der)?;
            let certificates = cbor::array(m.need(3, "certificates")?, "certificates")?
                .into_iter()
                .map(|c| cbor::bytes(c, "certificate"))
                .collect::<Result<_, _>>()?;
            m.finish()?;
            anchors.push(ProvinceAnchor { province, root, certificates });
        }
        top.finish()?;
        Ok(TrustFile { anchors })
    }
}

/// An issuer key a verifier accepts: what it may sign (as a certificate), and what its province bundle adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    /// Province, key, types, usage window, expiry.
    pub certificate: KeyCertificate,
    /// Set when the province revoked the key: credentials issued after this instant are refused.
    pub revoked_after: Option<i64>,
    /// When the province bundle listing the key expires (none for pre-federation trust files).
    pub bundle_expires: Option<i64>,
}

/// The issuer keys a verifier accepts, indexed by key id. Every entry comes from a certificate or bundle that
/// verified.
#[derive(Debug, Clone, Default)]
pub struct TrustList {
    keys: Vec<TrustedKey>,
    by_kid: HashMap<KeyId, Vec<usize>>,
}

impl TrustList {
    /// Verify every certificate of a trust file against its province's root and index the keys.
    ///
    /// A certificate signed by another key, or naming another province than its anchor, fails the whole file:
    /// a trust file is all-or-nothing.
    pub fn from_trust_file(file: &TrustFile) -> Result<Self, Error> {
        let mut certs = Vec::new();
        for anchor in &file.anchors {
            for bytes in &anchor.certificates {
                let cert = KeyCertificate::verify(bytes, &anchor.root)?;
                if cert.province != anchor.province {
                    return Err(Error::CertificateProvinceMismatch {
                        anchor: anchor.province.clone(),
                        certificate: cert.province,
                    });
                }
                certs.push(cert);
            }
        }
        Ok(Self::from_certificates(certs))
    }

    /// Index certificates that have been verified (or, through [`crate::dangerous`], that a test vouches for).
    pub(crate) fn from_certificates(certificates: Vec<KeyCertificate>) -> Self {
        Self::from_keys(
            certificates
                .into_iter()
                .map(|certificate| TrustedKey { certificate, revoked_after: None, bundle_expires: None })
                .collect(),
        )
    }

    fn from_keys(keys: Vec<TrustedKey>) -> Self {
        let mut by_kid: HashMap<KeyId, Vec<usize>> = HashMap::new();
        for (i, key) in keys.iter().enumerate() {
            by_kid.entry(key.certificate.public_key.kid()).or_default().push(i);
        }
        TrustList { keys, by_kid }
    }

    /// The issuer keys of verified province bundles under a verified federation root. A bundle for a province
    /// that is not a member contributes nothing.
    pub fn from_federation(root: &Verified<FederationRoot>, bundles: &[Verified<ProvinceBundle>]) -> Self {
        let mut keys = Vec::new();
        for bundle in bundles.iter().filter(|b| root.member(&b.province).is_some()) {
            for k in &bundle.issuer_keys {
                let kid = k.public_key.kid();
                let revocations = || bundle.revocations.iter().filter(|r| r.kid == kid);
                let revoked_after = revocations().map(|r| r.issued_after).min();
                // A revoked key's credentials, even backdated ones, stop verifying at the revocation's horizon.
                let expires = revocations().map(|r| r.honour_until).fold(k.expires, i64::min);
                keys.push(TrustedKey {
                    certificate: KeyCertificate {
                        province: bundle.province.clone(),
                        public_key: k.public_key.clone(),
                        credential_types: k.credential_types.clone(),
                        usage_from: k.usage_from,
                        usage_until: k.usage_until,
                        expires,
                        issued_at: bundle.issued_at,
                    },
                    revoked_after,
                    bundle_expires: Some(bundle.expires),
                });
            }
        }
        Self::from_keys(keys)
    }

    /// The keys whose key id equals `kid` (several when ids collide; none for another length).
    pub fn candidates<'a>(&'a self, kid: &[u8]) -> impl Iterator<Item = &'a TrustedKey> + 'a {
        let found = <[u8; 8]>::try_from(kid).ok().and_then(|k| self.by_kid.get(&KeyId(k)));
        found.into_iter().flatten().filter_map(move |&i| self.keys.get(i))
    }

    /// All trusted keys.
    pub fn keys(&self) -> &[TrustedKey] {
        &self.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CredentialType, SigningKey};

    fn certificate(province: &str, issuer: &SigningKey, root: &SigningKey) -> Vec<u8> {
        KeyCertificate {
            province: province.into(),
            public_key: issuer.public().clone(),
            credential_types: vec![CredentialType::HealthStatus],
            usage_from: 0,
            usage_until: 10,
            expires: 20,
            issued_at: 0,
        }
        .sign(root)
        .unwrap()
    }

    #[test]
    fn trust_file_round_trip_and_lookup() {
        let root = SigningKey::from_seed(&[1; 32]).unwrap();
        let issuer = SigningKey::from_seed(&[2; 32]).unwrap();
        let file = TrustFile {
            anchors: vec![ProvinceAnchor {
                province: "CN-GD".into(),
                root: root.public().clone(),
                certificates: vec![certificate("CN-GD", &issuer, &root)],
            }],
        };
        let decoded = TrustFile::decode(&file.encode()).unwrap();
        assert_eq!(decoded, file);
        let list = TrustList::from_trust_file(&decoded).unwrap();
        assert_eq!(list.candidates(&issuer.public().kid().0).count(), 1);
        assert_eq!(list.candidates(&root.public().kid().0).count(), 0, "roots do not sign credentials");
        assert_eq!(list.candidates(b"short").count(), 0);
    }

    #[test]
    fn a_certificate_for_another_province_or_root_poisons_the_file() {
        let root = SigningKey::from_seed(&[1; 32]).unwrap();
        let other = SigningKey::from_seed(&[3; 32]).unwrap();
        let issuer = SigningKey::from_seed(&[2; 32]).unwrap();
        let anchor =
            |cert| ProvinceAnchor { province: "CN-GD".into(), root: root.public().clone(), certificates: vec![cert] };
        let foreign = TrustFile { anchors: vec![anchor(certificate("CN-HB", &issuer, &root))] };
        assert!(matches!(TrustList::from_trust_file(&foreign), Err(Error::CertificateProvinceMismatch { .. })));
        let forged = TrustFile { anchors: vec![anchor(certificate("CN-GD", &issuer, &other))] };
        assert!(matches!(TrustList::from_trust_file(&forged), Err(Error::SignatureInvalid)));
    }

    #[test]
    fn garbage_trust_files_are_refused() {
        assert!(TrustFile::decode(b"").is_err());
        assert!(TrustFile::decode(&[0xa2, 0x01, 0x02, 0x02, 0x80]).is_err(), "unknown version");
        assert!(TrustFile::decode(&vec![0u8; MAX_TRUST_FILE_BYTES + 1]).is_err());
    }
}
