//! QR text -> transport::decode (prefix, base45, zlib, limits) -> COSE_Sign1 parse; and
//! presentation::decode (the HP1: dynamic-code envelope) -> COSE_Sign1 parse of the credential inside.
#![no_main]

use huren_keys::cose::Sign1;
use huren_wallet_core::{presentation, transport};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // QR text is a &str; non-UTF-8 input cannot reach the decoder, so it is skipped.
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(cose) = transport::decode(text, &Default::default()) {
        let _ = Sign1::parse(&cose);
    }
    if let Ok(shown) = presentation::decode(text, &Default::default()) {
        let _ = Sign1::parse(&shown.credential);
        let _ = shown.message();
    }
});
