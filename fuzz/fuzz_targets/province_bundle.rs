//! Province bundles and federation roots, the trust documents a mirror hands to every checkpoint. Input byte 0
//! picks what the rest is:
//!
//! | byte 0 % 3 | the rest is | what is called |
//! |---|---|---|
//! | 0 | a bundle payload | signed with Guangdong's root key (the fuzz target holds it), then `ProvinceBundle::verify` against the federation root: the payload decoder runs on every input. A bundle that verifies must re-sign to the very same bytes (one encoding per bundle) |
//! | 1 | a signed bundle | `ProvinceBundle::verify` (COSE layer, signer lookup) |
//! | 2 | a federation root payload | `FederationRoot::from_payload`; one that decodes must re-encode to the input |
//!
//! The federation is the test suite's `TestFederation::three()` (root seeds 1, 11, 21, threshold 2).
#![no_main]

use std::sync::OnceLock;

use huren_keys::{cose, FederationRoot, ProvinceBundle, SigningKey, Verified, BUNDLE_CONTENT_TYPE};
use libfuzzer_sys::fuzz_target;

mod federation;

struct Federation {
    gd_root: SigningKey,
    root: Verified<FederationRoot>,
}

fn federation() -> &'static Federation {
    static FEDERATION: OnceLock<Federation> = OnceLock::new();
    FEDERATION.get_or_init(|| {
        let keys = federation::root_keys();
        let root = FederationRoot::verify_initial(&federation::signed_root(&keys)).expect("the root verifies");
        let gd_root = keys.into_iter().next().expect("three keys");
        Federation { gd_root, root }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let fed = federation();
    match selector % 3 {
        0 => {
            let Ok(signed) = cose::sign1(&fed.gd_root, rest, Some(BUNDLE_CONTENT_TYPE)) else { return };
            match ProvinceBundle::verify(&signed, &fed.root) {
                Ok(bundle) => {
                    let bundle = bundle.into_document();
                    assert_eq!(bundle.province, "CN-GD", "only Guangdong's root signed it");
                    let again = bundle.sign(&fed.gd_root).expect("a verified bundle signs again");
                    assert_eq!(again, signed, "a decoded bundle re-encodes to its own bytes");
                }
                Err(e) => {
                    let _ = (e.code(), e.to_string());
                }
            }
        }
        1 => {
            if let Err(e) = ProvinceBundle::verify(rest, &fed.root) {
                let _ = (e.code(), e.to_string());
            }
        }
        _ => {
            if let Ok(root) = FederationRoot::from_payload(rest) {
                assert_eq!(root.to_payload().expect("a decoded root encodes"), rest, "one encoding per root");
            }
        }
    }
});
