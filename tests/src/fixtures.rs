//! A deterministic test province: fixed seeds give fixed keys, kids and (Ed25519 being deterministic) signatures.

use huren_keys::{CredentialType, KeyCertificate, SigningKey, TrustList};
use huren_wallet_core::{transport, Body, Colour, Credential, HealthStatus, Reason, Subject};

/// 2026-09-21T14:13:20Z: the issue time used by the fixtures.
pub const T0: i64 = 1_790_000_000;
/// One day in seconds.
pub const DAY: i64 = 86_400;

/// A province with a root key and one issuer key certified for the given types.
pub struct TestProvince {
    /// ISO 3166-2 code.
    pub code: String,
    /// Root key.
    pub root: SigningKey,
    /// Issuer key.
    pub issuer: SigningKey,
    /// The issuer key's certificate (decoded).
    pub certificate: KeyCertificate,
}

impl TestProvince {
    /// Guangdong, with seeds 1 (root) and 2 (issuer), certified for every type from T0 for a year.
    pub fn guangdong() -> Self {
        Self::new("CN-GD", 1, CredentialType::ALL.to_vec())
    }

    /// A province whose keys come from `seed` (root) and `seed + 1` (issuer).
    pub fn new(code: &str, seed: u8, types: Vec<CredentialType>) -> Self {
        let root = huren_keys::dangerous::signing_key_from_seed(&[seed; 32]).unwrap();
        let issuer = huren_keys::dangerous::signing_key_from_seed(&[seed.wrapping_add(1); 32]).unwrap();
        let certificate = KeyCertificate {
            province: code.into(),
            public_key: issuer.public().clone(),
            credential_types: types,
            usage_from: T0 - DAY,
            usage_until: T0 + 365 * DAY,
            expires: T0 + 2 * 365 * DAY,
            issued_at: T0 - DAY,
        };
        TestProvince { code: code.into(), root, issuer, certificate }
    }

    /// This province's issuer set up in `dir` (created empty) the way a ceremony hands it over: the issuer key
    /// and its certificate adopted, the root key left out (in `dir/p`).
    pub fn adopt_issuer(&self, dir: &std::path::Path) -> huren_issuer::Province {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        let (key, cert) = (dir.join("issuer.key.pem"), dir.join("issuer.cert"));
        self.issuer.save(&key).unwrap();
        std::fs::write(&cert, self.certificate.sign(&self.root).unwrap()).unwrap();
        huren_issuer::Province::adopt(&dir.join("p"), &self.code, self.root.public(), &key, &cert, None).unwrap()
    }

    /// A trust list holding just this province's issuer key.
    pub fn trust(&self) -> TrustList {
        huren_keys::dangerous::trust_list_from_unverified(vec![self.certificate.clone()])
    }

    /// Sign a credential with the issuer key and wrap it as QR text.
    pub fn qr_text(&self, credential: &Credential) -> String {
        transport::encode(&credential.sign(&self.issuer).unwrap())
    }
}

/// The reference credential: a green health status for 张三丰, masked 18-digit ID, issued at T0 for 7 days.
pub fn health_status(issuer: &str) -> Credential {
    Credential {
        issuer: issuer.into(),
        issued_at: T0,
        expires_at: T0 + 7 * DAY,
        not_before: None,
        id: vec![0x5a, 0x17, 0xc3, 0x01, 0x9e, 0x44, 0x20, 0xb8],
        status: None,
        subject: Subject {
            name: "张三丰".into(),
            pinyin: None,
            masked_id: "4403**********1234".into(),
            date_of_birth: None,
        },
        body: Body::HealthStatus(HealthStatus { colour: Colour::Green, reason: Reason::NoRisk, valid_until: None }),
        holder: None,
    }
}

/// An ECDSA P-256 issuer key (ES256), for provinces whose HSMs only do P-256.
pub struct P256Signer {
    pair: ring::signature::EcdsaKeyPair,
    public: huren_keys::PublicKey,
}

impl P256Signer {
    /// A fresh random P-256 key.
    pub fn generate() -> Self {
        use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let public =
            huren_keys::PublicKey::from_spki_der(&huren_keys::p256_spki_from_point(pair.public_key().as_ref()))
                .unwrap();
        P256Signer { pair, public }
    }

    /// A certificate for this key in `province`, for every type, over the fixtures' usage window.
    pub fn certificate(&self, province: &str) -> KeyCertificate {
        KeyCertificate {
            province: province.into(),
            public_key: self.public.clone(),
            credential_types: CredentialType::ALL.to_vec(),
            usage_from: T0 - DAY,
            usage_until: T0 + 365 * DAY,
            expires: T0 + 2 * 365 * DAY,
            issued_at: T0 - DAY,
        }
    }
}

impl huren_keys::Signer for P256Signer {
    fn public_key(&self) -> &huren_keys::PublicKey {
        &self.public
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(&ring::rand::SystemRandom::new(), message).unwrap().as_ref().to_vec()
    }
}

/// A federation of provinces (threshold 2), each with a root key and one issuer key, with signed documents.
pub struct TestFederation {
    /// The member provinces.
    pub provinces: Vec<TestProvince>,
    /// Threshold of the root.
    pub threshold: u32,
}

impl TestFederation {
    /// Guangdong, Hubei and Shanghai (seeds 1, 11, 21), threshold 2.
    pub fn three() -> Self {
        let provinces = [("CN-GD", 1u8), ("CN-HB", 11), ("CN-SH", 21)]
            .into_iter()
            .map(|(code, seed)| TestProvince::new(code, seed, CredentialType::ALL.to_vec()))
            .collect();
        TestFederation { provinces, threshold: 2 }
    }

    /// The province with this code.
    pub fn province(&self, code: &str) -> &TestProvince {
        self.provinces.iter().find(|p| p.code == code).unwrap()
    }

    /// The federation root document at `version` (issued at T0 + version seconds, valid a year).
    pub fn root_doc(&self, version: u64) -> huren_keys::FederationRoot {
        huren_keys::FederationRoot {
            version,
            issued_at: T0 - DAY + i64::try_from(version).unwrap(),
            expires: T0 + 365 * DAY,
            threshold: self.threshold,
            members: self
                .provinces
                .iter()
                .map(|p| huren_keys::Member { province: p.code.clone(), root_keys: vec![p.root.public().clone()] })
                .collect(),
        }
    }

    /// A root document signed by the provinces at these indices (each signing once per listed index).
    pub fn signed_root(&self, doc: &huren_keys::FederationRoot, signers: &[usize]) -> Vec<u8> {
        let payload = doc.to_payload().unwrap();
        let signatures: Vec<Vec<u8>> = signers
            .iter()
            .map(|&i| huren_keys::federation::cosign(&payload, &self.provinces[i].root).unwrap())
            .collect();
        huren_keys::federation::combine(&payload, &signatures).unwrap()
    }

    /// The province's bundle at `version`, listing its issuer key, issued at T0 - 1 day + version, valid 30 days.
    pub fn bundle_doc(&self, code: &str, version: u64) -> huren_keys::ProvinceBundle {
        let p = self.province(code);
        huren_keys::ProvinceBundle {
            province: code.into(),
            version,
            issued_at: T0 - DAY + i64::try_from(version).unwrap(),
            expires: T0 + 30 * DAY,
            issuer_keys: vec![huren_keys::ProvinceBundle::key_from_certificate(&p.certificate)],
            revocations: vec![],
            status_lists: vec![],
            policy: huren_keys::AcceptancePolicy::default(),
        }
    }

    /// A signed bundle.
    pub fn signed_bundle(&self, doc: &huren_keys::ProvinceBundle) -> Vec<u8> {
        doc.sign(&self.province(&doc.province).root).unwrap()
    }

    /// The trust bundle with root v1 (signed by GD and SH) and every province's bundle v1.
    pub fn trust_bundle(&self) -> huren_keys::TrustBundle {
        huren_keys::TrustBundle {
            roots: vec![self.signed_root(&self.root_doc(1), &[0, 2])],
            bundles: self.provinces.iter().map(|p| self.signed_bundle(&self.bundle_doc(&p.code, 1))).collect(),
        }
    }
}
