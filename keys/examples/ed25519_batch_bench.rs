//! Ed25519 verification cost per signature: ed25519-dalek `verify_strict` (Huren's rule before), Huren's single
//! rule (`PublicKey::verify`), and `BatchVerifier` (adding included) for batches of 16, 64 and 256 signatures by one
//! key and by 8 keys, plus a batch of 256 with one bad signature (bisection).
//!
//! `taskset -c 0 cargo run --release -p huren-keys --example ed25519_batch_bench`

use std::hint::black_box;
use std::time::Instant;

use huren_keys::{dangerous, BatchVerifier, Error, PublicKey, Signer, SigningKey};

/// Signatures verified per measurement; each figure is the best of `ROUNDS`.
const PER_ROUND: u32 = 4096;
const ROUNDS: u32 = 5;
/// A typical credential payload size (the COSE Sig_structure over a CWT).
const MESSAGE_BYTES: usize = 300;

struct Item {
    key: usize,
    message: Vec<u8>,
    signature: Vec<u8>,
}

fn items(signers: &[SigningKey], n: u32) -> Vec<Item> {
    (0..n)
        .map(|i| {
            let key = usize::try_from(i).unwrap_or(0) % signers.len();
            let mut message = vec![0u8; MESSAGE_BYTES];
            message[..4].copy_from_slice(&i.to_le_bytes());
            let signature = signers[key].sign(&message);
            Item { key, message, signature }
        })
        .collect()
}

/// Best microseconds per signature over `ROUNDS` runs of `run`, which verifies `PER_ROUND` signatures.
fn micros_per_signature(mut run: impl FnMut()) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        run();
        best = best.min(start.elapsed().as_secs_f64());
    }
    best * 1e6 / f64::from(PER_ROUND)
}

fn batch_pass(publics: &[PublicKey], items: &[Item], size: usize) -> usize {
    let mut accepted = 0;
    for chunk in items.chunks(size) {
        let mut batch = BatchVerifier::with_capacity(chunk.len());
        for item in chunk {
            let _ = batch.add(&publics[item.key], &item.message, &item.signature);
        }
        accepted += batch.verify().iter().filter(|r| r.is_ok()).count();
    }
    accepted
}

fn main() -> Result<(), Error> {
    let signers: Vec<SigningKey> =
        (0..8u8).map(|i| dangerous::signing_key_from_seed(&[i + 1; 32])).collect::<Result<_, _>>()?;
    let publics: Vec<PublicKey> = signers.iter().map(|s| s.public().clone()).collect();
    let one_key = items(&signers[..1], PER_ROUND);
    let eight_keys = items(&signers, PER_ROUND);

    let dalek: Vec<ed25519_dalek::VerifyingKey> = publics
        .iter()
        .map(|p| {
            let bytes: [u8; 32] = p.spki_der()[12..].try_into().unwrap_or([0; 32]);
            ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| Error::SignatureInvalid)
        })
        .collect::<Result<_, _>>()?;
    let strict = micros_per_signature(|| {
        for item in &eight_keys {
            let bytes: [u8; 64] = item.signature[..].try_into().unwrap_or([0; 64]);
            let sig = ed25519_dalek::Signature::from_bytes(&bytes);
            black_box(dalek[item.key].verify_strict(&item.message, &sig).is_ok());
        }
    });
    let single = micros_per_signature(|| {
        for item in &eight_keys {
            black_box(publics[item.key].verify(&item.message, &item.signature).is_ok());
        }
    });
    println!("ed25519-dalek verify_strict      {strict:7.2} us/signature");
    println!("Huren single (PublicKey::verify) {single:7.2} us/signature  ({:.2}x verify_strict)", strict / single);
    println!();
    println!("batch size  keys   us/signature  speed-up vs single  vs verify_strict");
    for size in [16usize, 64, 256] {
        for (keys, set) in [(1, &one_key), (8, &eight_keys)] {
            assert_eq!(batch_pass(&publics, set, size), one_key.len(), "every signature is valid");
            let per = micros_per_signature(|| {
                black_box(batch_pass(&publics, set, size));
            });
            println!("{size:10}  {keys:4}  {per:13.2}  {:17.2}x  {:15.2}x", single / per, strict / per);
        }
    }
    // One bad signature in each batch of 256: bisection finds it.
    let mut with_bad = items(&signers, PER_ROUND);
    for chunk in with_bad.chunks_mut(256) {
        chunk[100].signature[40] ^= 1;
    }
    let expected = with_bad.len() - with_bad.len() / 256;
    assert_eq!(batch_pass(&publics, &with_bad, 256), expected);
    let per = micros_per_signature(|| {
        black_box(batch_pass(&publics, &with_bad, 256));
    });
    println!("256 with 1 bad  8  {per:9.2}  {:17.2}x  {:15.2}x", single / per, strict / per);
    Ok(())
}
