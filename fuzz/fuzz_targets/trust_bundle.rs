//! Arbitrary bytes as a trust bundle offered to a provisioned verifier state, and as a persisted trust state to
//! load. Neither may panic. The federation is the test suite's `TestFederation::three()` (root seeds 1, 11, 21,
//! threshold 2, signed by GD and SH), so the seed corpus's genuine trust bundle gets past the signatures.
#![no_main]

use std::sync::OnceLock;

use huren_keys::dangerous::signing_key_from_seed;
use huren_keys::federation::{combine, cosign};
use huren_keys::{FederationRoot, Member, TrustBundle, TrustState};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_790_000_000;

fn state() -> &'static TrustState {
    static STATE: OnceLock<TrustState> = OnceLock::new();
    STATE.get_or_init(|| {
        let keys: Vec<_> = [1u8, 11, 21].iter().map(|&i| signing_key_from_seed(&[i; 32]).expect("fixed key")).collect();
        let doc = FederationRoot {
            version: 1,
            issued_at: NOW - 86_400 + 1,
            expires: NOW + 365 * 86_400,
            threshold: 2,
            members: ["CN-GD", "CN-HB", "CN-SH"]
                .iter()
                .zip(&keys)
                .map(|(p, k)| Member { province: p.to_string(), root_keys: vec![k.public().clone()] })
                .collect(),
        };
        let payload = doc.to_payload().expect("valid root");
        let sigs: Vec<Vec<u8>> = [&keys[0], &keys[2]].iter().map(|k| cosign(&payload, *k).expect("cosign")).collect();
        TrustState::provision(&combine(&payload, &sigs).expect("combine"), NOW).expect("provision")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = TrustBundle::decode(data) {
        if let Err(e) = state().update(&bundle, NOW) {
            let _ = (e.code(), e.to_string());
        }
    }
    let _ = TrustState::decode(data);
});
