//! Huren's EU DCC pipeline and the `dgc` crate on the same certificate, in one run on one thread: the corpus's
//! Danish recovery DCC (ES256, zlib), from its QR text to a checked signature and decoded contents.
//! `cargo run --release --manifest-path bench-dgc/Cargo.toml` (pin it: `taskset -c 0`).

use std::hint::black_box;
use std::time::{Duration, Instant};

fn median(iterations: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..100 {
        f();
    }
    let mut samples: Vec<Duration> = (0..31)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                f();
            }
            start.elapsed() / iterations
        })
        .collect();
    samples.sort_unstable();
    samples[15]
}

fn main() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/dcc/DK/2DCode/raw/3.json");
    let case: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let text = case["PREFIX"].as_str().unwrap().to_string();
    let cert = case["TESTCTX"]["CERTIFICATE"].as_str().unwrap();

    let der = <base64ct::Base64 as base64ct::Encoding>::decode_vec(cert).unwrap();
    let signer = huren_verifier::dcc::DccSigner::from_certificate(&der).unwrap();
    let trust = huren_verifier::dcc::DccTrust::new(vec![signer]);
    let now = 1_621_542_723;
    assert!(huren_verifier::dcc::verify_dcc(&text, &trust, now).is_ok());

    let mut list = dgc::TrustList::default();
    list.add_key_from_certificate(cert).unwrap();
    let (_, validity) = dgc::validate(&text, &list).unwrap();
    assert!(validity.is_valid(), "dgc verifies it too");

    let huren = median(200, || {
        black_box(huren_verifier::dcc::verify_dcc(black_box(&text), &trust, now)).unwrap();
    });
    let other = median(200, || {
        black_box(dgc::validate(black_box(&text), &list)).unwrap();
    });
    println!("same DCC (ES256, {} characters), median of 31 x 200:", text.len());
    println!("  huren-verifier verify_dcc: {:>8.2} µs", huren.as_secs_f64() * 1e6);
    println!("  dgc 0.0.7 validate:        {:>8.2} µs", other.as_secs_f64() * 1e6);
    println!("  dgc / huren:               {:>8.2}x", other.as_secs_f64() / huren.as_secs_f64());
    println!("(dgc checks the signature and decodes; it does not check expiry or key usage, which huren does)");
}
