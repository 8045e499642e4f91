//! `huren-status-bench`: status lists at national scale, in one run on one thread.
//!
//! A list of 100 million credentials with 1 % revoked at random: its signed size against the entropy bound (and
//! against DEFLATE over the packed array, for reference), the signed delta for 10,000 new revocations, the time to
//! verify and load a full list, to verify and apply a delta, the memory of a loaded list, and a status lookup.
//!
//! `cargo build --release -p huren-tests --bin huren-status-bench && taskset -c 0 target/release/huren-status-bench`

// A benchmark harness: a broken fixture should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss, clippy::as_conversions)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use huren_keys::status::{Status, StatusDelta, StatusList};
use huren_tests::fixtures::{TestProvince, T0};

const ENTRIES: u64 = 100_000_000;
const REVOKED: u64 = 1_000_000;
const NEW_REVOCATIONS: u64 = 10_000;

/// xorshift64*: a deterministic stream of indices.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Revoke `count` distinct entries that are valid now.
fn revoke_random(list: &mut StatusList, count: u64, rng: &mut Rng) {
    let mut done = 0;
    while done < count {
        let i = rng.below(list.bits.len());
        if list.status(i) == Some(Status::Valid) {
            list.bits.set(i, Status::Revoked).unwrap();
            done += 1;
        }
    }
}

fn median(samples: usize, mut f: impl FnMut() -> Duration) -> Duration {
    let mut times: Vec<Duration> = (0..samples).map(|_| f()).collect();
    times.sort_unstable();
    times[samples / 2]
}

fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let gd = TestProvince::guangdong();
    let trust = gd.trust();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut v1 = StatusList::new("CN-GD", 1, ENTRIES, T0, 3600).unwrap();
    v1.version = 1;
    revoke_random(&mut v1, REVOKED, &mut rng);

    // Size against the entropy bound: log2 C(n, k) ~ n H(k/n) bits.
    let p = REVOKED as f64 / ENTRIES as f64;
    let bound = ENTRIES as f64 * (-p * p.log2() - (1.0 - p) * (1.0 - p).log2()) / 8.0;
    let mut signed = Vec::new();
    let encode = timed(|| signed = v1.sign(&gd.issuer).unwrap());
    let deflated = {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(v1.bits.as_bytes()).unwrap();
        z.finish().unwrap().len()
    };
    println!("status list: {ENTRIES} entries, {REVOKED} revoked at random");
    println!(
        "  signed list: {} bytes = {:.3}x the entropy bound ({bound:.0} bytes; target <= 1.3x); DEFLATE of the packed \
         array for reference: {deflated} bytes = {:.2}x; encode + sign {:.0} ms",
        signed.len(),
        signed.len() as f64 / bound,
        deflated as f64 / bound,
        ms(encode)
    );

    // Verify and load the full list (signature, strict decode into the dense array, canonical re-encoding).
    let load = median(3, || timed(|| drop(black_box(StatusList::verify(&signed, &trust).unwrap()))));
    println!("  verify + load the full list: {:.0} ms (median of 3)", ms(load));
    let loaded = StatusList::verify(&signed, &trust).unwrap().into_document();
    println!(
        "  memory of a loaded list: {} bytes of packed statuses ({:.1} MiB; 2 bits per entry)",
        loaded.bits.as_bytes().len(),
        loaded.bits.as_bytes().len() as f64 / 1048576.0
    );

    // A delta: 10,000 new revocations.
    let mut v2 = v1.clone();
    v2.version = 2;
    v2.issued_at += 60;
    revoke_random(&mut v2, NEW_REVOCATIONS, &mut rng);
    let delta = v1.delta_to(&v2).unwrap();
    let signed_delta = delta.sign(&gd.issuer).unwrap();
    println!("  signed delta for {NEW_REVOCATIONS} new revocations: {} bytes (target < 40,000)", signed_delta.len());
    let apply = median(5, || {
        let mut base = loaded.clone();
        timed(|| {
            let delta = StatusDelta::verify(&signed_delta, &trust).unwrap();
            base.apply(&delta).unwrap();
        })
    });
    let mut applied = loaded.clone();
    applied.apply(&StatusDelta::verify(&signed_delta, &trust).unwrap()).unwrap();
    assert_eq!(applied, v2, "the delta reproduces version 2");
    println!("  verify + apply the delta (incl. SHA-256 of the result): {:.1} ms (median of 5)", ms(apply));

    // Lookups at random indices.
    let indices: Vec<u64> = (0..1_000_000).map(|_| rng.below(ENTRIES)).collect();
    let lookup = median(5, || {
        timed(|| {
            for &i in &indices {
                black_box(applied.status(black_box(i)));
            }
        })
    }) / 1_000_000;
    println!("  status lookup at a random index: {:.1} ns (median of 5 x 1,000,000)", lookup.as_secs_f64() * 1e9);
}
