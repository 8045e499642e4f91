//! Raw bytes -> COSE_Sign1 parse, CWT claims decode and strict canonical CBOR decode, independently.
#![no_main]

use huren_keys::{cbor, cose::Sign1};
use huren_wallet_core::Credential;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sign1) = Sign1::parse(data) {
        // Exercise the header accessors too: they must not panic on anything parse accepted.
        let _ = sign1.algorithm_id();
        let _ = sign1.kid();
        let _ = sign1.content_type();
    }
    if let Ok(credential) = Credential::from_claims(data) {
        let _ = credential.check();
        let _ = credential.to_claims();
    }
    let _ = cbor::decode_canonical(data, 16);
});
