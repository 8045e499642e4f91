//! QR text -> the whole verification pipeline, against a one-key trust list.
#![no_main]

use huren_verifier::{verify, Policy};
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(rejection) = verify(text, common::trust(), common::NOW, &Policy::default()) {
        // Classifying and printing a rejection must not panic either.
        let _ = (rejection.code(), rejection.stage(), rejection.to_string());
    }
});
