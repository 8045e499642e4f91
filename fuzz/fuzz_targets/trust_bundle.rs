//! Arbitrary bytes as a trust bundle offered to a provisioned verifier state, and as a persisted trust state to
//! load. Neither may panic. The federation is the test suite's `TestFederation::three()` (root seeds 1, 11, 21,
//! threshold 2, signed by GD and SH), so the seed corpus's genuine trust bundle gets past the signatures.
#![no_main]

use std::sync::OnceLock;

use huren_keys::{TrustBundle, TrustState};
use libfuzzer_sys::fuzz_target;

mod federation;
use federation::NOW;

fn state() -> &'static TrustState {
    static STATE: OnceLock<TrustState> = OnceLock::new();
    STATE.get_or_init(|| {
        let keys = federation::root_keys();
        TrustState::provision(&federation::signed_root(&keys), NOW).expect("provision")
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
