//! # huren-keys — Huren's trust primitives
//!
//! Keys and key ids, COSE_Sign1 signing and verification, key certificates by which a province root vouches for an
//! issuer key, the federation's documents (co-signed root, province bundles, trust bundles, the trust state), status
//! lists, trust lists, and the one key-authorisation rule ([`TrustList::authorised_signer`]). Everything here is
//! pure: no I/O and no clock (times are parameters). Features: `files` (key files: [`SigningKey::save`] and
//! friends), `cli` (the `huren-keys` ceremony tool and its `inspect` module), `dangerous-test-hooks`
//! (`dangerous`: fixed-seed keys and unverified trust lists for tests, benchmarks and fuzzing).
//!
//! The algorithm always comes from the key, never from the message:
//!
//! ```
//! use huren_keys::{cose, Error, SigningKey};
//!
//! let key = SigningKey::generate()?;
//! let signed = cose::sign1(&key, b"hello", None)?;
//! let parsed = cose::Sign1::parse(&signed)?;
//! assert_eq!(parsed.verify(key.public())?, b"hello");
//!
//! // Another key does not verify it, and the failure is typed.
//! let stranger = SigningKey::generate()?;
//! assert!(matches!(parsed.verify(stranger.public()), Err(Error::SignatureInvalid)));
//! # Ok::<(), Error>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod alg;
mod authorise;
mod bundle;
pub mod cbor;
mod cert;
pub mod cose;
#[cfg(feature = "dangerous-test-hooks")]
pub mod dangerous;
mod ed25519;
mod error;
pub mod federation;
#[cfg(feature = "cli")]
pub mod inspect;
mod key;
pub mod sealed;
mod state;
pub mod status;
mod trust;
mod verified;

pub use alg::Algorithm;
pub use authorise::{Claimed, KeyRefusal, SignerRefusal};
pub use bundle::{
    AcceptancePolicy, IssuerKey, KeyRevocation, ProvinceBundle, StatusListDescriptor, TrustBundle, BUNDLE_CONTENT_TYPE,
    MAX_TRUST_BUNDLE_BYTES, TRUST_BUNDLE_VERSION,
};
pub use cert::{is_province_code, CredentialType, KeyCertificate, KEY_CERTIFICATE_CONTENT_TYPE};
pub use ed25519::{BatchVerifier, VerifiedSignatures};
pub use error::Error;
pub use federation::{FederationRoot, Member};
pub use key::{hex, unhex, KeyId, PublicKey, Signer, SigningKey, KDF_ITERATIONS};
pub use state::{StatusMark, TrustState, UpdateReport, MAX_STATUS_MARKS, TRUST_STATE_VERSION};
pub use trust::{ProvinceAnchor, TrustFile, TrustList, TrustedKey, MAX_TRUST_FILE_BYTES, TRUST_FILE_VERSION};
pub use verified::Verified;

/// DER SubjectPublicKeyInfo for an uncompressed P-256 point (65 bytes starting with 0x04), as produced by `ring`.
pub fn p256_spki_from_point(point: &[u8]) -> Vec<u8> {
    const PREFIX: [u8; 26] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
        0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    let mut der = PREFIX.to_vec();
    der.extend_from_slice(point);
    der
}
