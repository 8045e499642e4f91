//! Raw COSE bytes -> verify_cose (everything after the QR transport), against a one-key trust list.
#![no_main]

use huren_verifier::{verify_cose, Policy};
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    if let Err(rejection) = verify_cose(data, common::trust(), common::NOW, &Policy::default()) {
        let _ = (rejection.code(), rejection.stage(), rejection.to_string());
    }
});
