//! `HP1:` dynamic-code text -> `presentation::decode` (as given, and with the `HP1:` prefix forced), a re-encoding
//! round trip of whatever decodes, and `huren_verifier::verify` of the same texts against an empty trust list
//! (nothing is trusted: every input must be refused, never panic).
#![no_main]

use std::sync::OnceLock;

use huren_keys::TrustList;
use huren_verifier::{verify, Policy};
use huren_wallet_core::presentation::{decode, Presentation};
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_790_000_000;

fn empty_trust() -> &'static TrustList {
    static EMPTY: OnceLock<TrustList> = OnceLock::new();
    EMPTY.get_or_init(TrustList::default)
}

/// CBOR head of major type `major` with argument `n`, shortest form (the canonical one).
fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n <= 0xff {
        out.extend([m | 24, n as u8]);
    } else if n <= 0xffff {
        out.push(m | 25);
        out.extend((n as u16).to_be_bytes());
    } else if n <= 0xffff_ffff {
        out.push(m | 26);
        out.extend((n as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend(n.to_be_bytes());
    }
}

/// `HP1:` + base45 of canonical CBOR `[credential, step, signature]`.
fn encode(p: &Presentation) -> String {
    let mut cbor = Vec::new();
    head(&mut cbor, 4, 3);
    head(&mut cbor, 2, p.credential.len() as u64);
    cbor.extend(&p.credential);
    head(&mut cbor, 0, p.step);
    head(&mut cbor, 2, p.signature.len() as u64);
    cbor.extend(&p.signature);
    format!("HP1:{}", huren_wallet_core::base45::encode(&cbor))
}

fn check(text: &str) {
    let limits = Default::default();
    if let Ok(p) = decode(text, &limits) {
        // Round trip: the canonical re-encoding decodes to the same presentation (when it fits the limits).
        let again = encode(&p);
        match decode(&again, &limits) {
            Ok(q) => assert_eq!(p, q, "re-encoded presentation differs"),
            Err(e) => assert!(
                matches!(e, huren_wallet_core::Error::PayloadTooLarge { .. }),
                "re-encoded presentation refused: {e}"
            ),
        }
    }
    match verify(text, empty_trust(), NOW, &Policy::default()) {
        Ok(_) => panic!("accepted against an empty trust list"),
        Err(rejection) => {
            let _ = (rejection.code(), rejection.stage(), rejection.to_string());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    check(text);
    if !text.starts_with("HP1:") {
        check(&format!("HP1:{text}"));
    }
});
