//! Knobs that skip Huren's checks, for test vectors, tests, benchmarks and fuzzing. Nothing in a production
//! trust decision may go through this module (the rustls `dangerous()` convention): grep for `dangerous::` to
//! find every use.

use crate::{Error, KeyCertificate, SigningKey, TrustList};

/// An Ed25519 key from a fixed 32-byte seed, so test vectors are reproducible. Real keys come from
/// [`SigningKey::generate`].
pub fn signing_key_from_seed(seed: &[u8; 32]) -> Result<SigningKey, Error> {
    SigningKey::from_seed(seed)
}

/// A trust list from certificates nobody has verified: the caller vouches for every one of them.
pub fn trust_list_from_unverified(certificates: Vec<KeyCertificate>) -> TrustList {
    TrustList::from_certificates(certificates)
}
