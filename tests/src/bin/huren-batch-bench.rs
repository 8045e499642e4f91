//! `huren-batch-bench`: verifications per second per core for QR texts, one by one (`verify`) and in batches
//! (`verify_many`, one Ed25519 batch per chunk), with a bare Ed25519 `verify_strict` as the yardstick, all in one
//! run. Run it pinned to one core: `taskset -c 0 cargo run --release -p huren-tests --bin huren-batch-bench`.

// A benchmark harness: a broken fixture should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss, clippy::as_conversions)]

use std::hint::black_box;
use std::time::Instant;

use huren_keys::{CredentialType, TrustList};
use huren_tests::fixtures::{health_status, TestProvince, T0};
use huren_verifier::{verify, verify_many, Policy};

/// Codes verified per measurement.
const CODES: usize = 4096;

/// Best of `runs` timings of `f` over all codes, as codes per second.
fn rate(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    let best = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    CODES as f64 / best
}

/// `CODES` valid codes signed by the given provinces in turn, and the trust list holding all their keys.
fn codes(provinces: &[TestProvince]) -> (Vec<String>, TrustList) {
    let trust =
        huren_keys::dangerous::trust_list_from_unverified(provinces.iter().map(|p| p.certificate.clone()).collect());
    let texts = (0..CODES)
        .map(|i| {
            let p = &provinces[i % provinces.len()];
            let mut credential = health_status(&p.code);
            credential.id = (i as u64).to_be_bytes().to_vec();
            p.qr_text(&credential)
        })
        .collect();
    (texts, trust)
}

fn main() {
    let policy = Policy::default();
    let now = T0 + 60;

    // The yardstick: a bare verify_strict over a Sig_structure of a typical credential's size.
    let gd = TestProvince::guangdong();
    let message = vec![0x5au8; 330];
    let signing = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let signature = ed25519_dalek::Signer::sign(&signing, &message);
    let vk = signing.verifying_key();
    let bare = rate(5, || {
        for _ in 0..CODES {
            black_box(vk.verify_strict(black_box(&message), black_box(&signature))).unwrap();
        }
    });

    println!("huren-batch-bench: {CODES} valid health-status codes per run, best of 5, one thread");
    println!("bare ed25519 verify_strict (yardstick): {bare:.0}/s ({:.1} µs)", 1e6 / bare);
    println!();
    println!("| keys | mode | codes/s | µs/code | vs one by one | vs bare verify_strict |");
    println!("|---|---|---|---|---|---|");
    let one_key = vec![gd];
    let three_keys = vec![
        TestProvince::guangdong(),
        TestProvince::new("CN-HB", 3, CredentialType::ALL.to_vec()),
        TestProvince::new("CN-SH", 5, CredentialType::ALL.to_vec()),
    ];
    for (label, provinces) in [("1", &one_key), ("3", &three_keys)] {
        let (texts, trust) = codes(provinces);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        assert!(refs.iter().all(|t| verify(t, &trust, now, &policy).is_ok()), "every benchmark code must verify");
        assert!(verify_many(&refs, &trust, now, &policy).iter().all(Result::is_ok));
        let single = rate(5, || {
            for t in &refs {
                black_box(verify(black_box(t), &trust, now, &policy)).unwrap();
            }
        });
        println!(
            "| {label} | one by one (`verify`) | {single:.0} | {:.1} | 1.00x | {:.2}x |",
            1e6 / single,
            single / bare
        );
        for chunk in [16usize, 64, 256, 1024] {
            let batched = rate(5, || {
                for part in refs.chunks(chunk) {
                    for outcome in black_box(verify_many(black_box(part), &trust, now, &policy)) {
                        outcome.unwrap();
                    }
                }
            });
            println!(
                "| {label} | batches of {chunk} (`verify_many`) | {batched:.0} | {:.1} | {:.2}x | {:.2}x |",
                1e6 / batched,
                batched / single,
                batched / bare
            );
        }
    }
}
