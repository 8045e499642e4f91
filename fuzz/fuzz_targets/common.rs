//! Shared by the `verify` and `verify_cose` targets: one trust list, built once per process.

use std::sync::OnceLock;

use huren_keys::{CredentialType, KeyCertificate, TrustList};

/// Verification time passed to the pipeline (2026-09-21T14:13:20Z), inside the seed credentials' validity.
pub const NOW: i64 = 1_790_000_000;

/// A trust list holding one certificate: the Ed25519 key from seed `[7; 32]`, province CN-GD, every credential type.
pub fn trust() -> &'static TrustList {
    static TRUST: OnceLock<TrustList> = OnceLock::new();
    TRUST.get_or_init(|| {
        let key = match huren_keys::dangerous::signing_key_from_seed(&[7; 32]) {
            Ok(key) => key,
            Err(e) => panic!("fixed fuzz key: {e}"),
        };
        let cert = KeyCertificate {
            province: "CN-GD".into(),
            public_key: key.public().clone(),
            credential_types: CredentialType::ALL.to_vec(),
            usage_from: 0,
            usage_until: i64::MAX / 2,
            expires: i64::MAX / 2,
            issued_at: 0,
        };
        huren_keys::dangerous::trust_list_from_unverified(vec![cert])
    })
}
