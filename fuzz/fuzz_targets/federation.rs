//! The test suite's three-member federation (`TestFederation::three()`: root seeds 1, 11, 21 for CN-GD, CN-HB and
//! CN-SH, threshold 2, root v1 signed by GD and SH), shared by the `trust_bundle` and `province_bundle` targets and
//! the seed generator, so that seeds signed by it get past the targets' signature checks.

use huren_keys::dangerous::signing_key_from_seed;
use huren_keys::{FederationRoot, Member, SigningKey};

/// The targets' verification time (2026-09-21T14:13:20Z).
pub const NOW: i64 = 1_790_000_000;

/// The members' root keys, in member order.
pub fn root_keys() -> Vec<SigningKey> {
    [1u8, 11, 21].iter().map(|&i| signing_key_from_seed(&[i; 32]).expect("fixed key")).collect()
}

/// Root v1: issued a day before [`NOW`], valid a year.
pub fn root_doc(keys: &[SigningKey]) -> FederationRoot {
    FederationRoot {
        version: 1,
        issued_at: NOW - 86_400 + 1,
        expires: NOW + 365 * 86_400,
        threshold: 2,
        members: ["CN-GD", "CN-HB", "CN-SH"]
            .iter()
            .zip(keys)
            .map(|(p, k)| Member { province: p.to_string(), root_keys: vec![k.public().clone()] })
            .collect(),
    }
}

/// Root v1 signed by GD and SH.
pub fn signed_root(keys: &[SigningKey]) -> Vec<u8> {
    let payload = root_doc(keys).to_payload().expect("valid root");
    let signatures: Vec<Vec<u8>> =
        [&keys[0], &keys[2]].iter().map(|k| huren_keys::federation::cosign(&payload, *k).expect("cosign")).collect();
    huren_keys::federation::combine(&payload, &signatures).expect("combine")
}
