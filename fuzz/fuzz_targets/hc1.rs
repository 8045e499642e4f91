//! Arbitrary text as an `HC1:` code through the EU DCC pipeline (no signer trusted, so every input stops at or
//! before the signature; decoding up to there must never panic or run away), and arbitrary bytes as DCC claims
//! and as COSE for the DCC parser, and as a signer certificate.
#![no_main]

use huren_verifier::dcc::{self, DccTrust};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(r) = dcc::verify_dcc(text, &DccTrust::default(), 1_621_542_723) {
            let _ = (r.code(), r.to_string());
        }
    }
    let _ = dcc::decode_claims(data);
    // And as a signer certificate (strict, then normalised).
    let _ = dcc::DccSigner::from_certificate(data);
    if let Ok(sign1) = dcc::parse_cose(data) {
        let _ = dcc::decode_claims(sign1.unverified_payload());
    }
});
