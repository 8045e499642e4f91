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

/// Rounds of measurement: every mode runs once per round.
const ROUNDS: usize = 7;
/// Batch sizes measured.
const CHUNKS: [usize; 4] = [16, 64, 256, 1024];

/// Seconds one call of `f` takes.
fn seconds(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
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
    let mut bare_best = f64::INFINITY;
    let mut bare_round = || {
        bare_best = bare_best.min(seconds(|| {
            for _ in 0..CODES {
                black_box(vk.verify_strict(black_box(&message), black_box(&signature))).unwrap();
            }
        }));
    };
    let mut rows = Vec::new();
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
        // The modes take turns, round after round, and each keeps its best round: a slow spell of the machine
        // then costs every mode alike instead of whichever ran during it.
        let mut best = vec![f64::INFINITY; 1 + CHUNKS.len()];
        for _ in 0..ROUNDS {
            bare_round();
            best[0] = best[0].min(seconds(|| {
                for t in &refs {
                    black_box(verify(black_box(t), &trust, now, &policy)).unwrap();
                }
            }));
            for (slot, chunk) in best[1..].iter_mut().zip(CHUNKS) {
                *slot = slot.min(seconds(|| {
                    for part in refs.chunks(chunk) {
                        for outcome in black_box(verify_many(black_box(part), &trust, now, &policy)) {
                            outcome.unwrap();
                        }
                    }
                }));
            }
        }
        rows.push((label, best));
    }
    // The yardstick took its turn in every round too.
    let bare = CODES as f64 / bare_best;
    println!(
        "huren-batch-bench: {CODES} valid health-status codes per run, best of {ROUNDS} interleaved rounds, one thread"
    );
    println!("bare ed25519 verify_strict (yardstick): {bare:.0}/s ({:.1} µs)", 1e6 / bare);
    println!();
    println!("| keys | mode | codes/s | µs/code | vs one by one | vs bare verify_strict |");
    println!("|---|---|---|---|---|---|");
    for (label, best) in rows {
        let single = CODES as f64 / best[0];
        println!(
            "| {label} | one by one (`verify`) | {single:.0} | {:.1} | 1.00x | {:.2}x |",
            1e6 / single,
            single / bare
        );
        for (chunk, seconds) in CHUNKS.iter().zip(&best[1..]) {
            let batched = CODES as f64 / seconds;
            println!(
                "| {label} | batches of {chunk} (`verify_many`) | {batched:.0} | {:.1} | {:.2}x | {:.2}x |",
                1e6 / batched,
                batched / single,
                batched / bare
            );
        }
    }
}
