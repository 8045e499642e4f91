//! Huren's Ed25519 rule (strict encodings + cofactored equation), single and batched: RFC 8032 vectors,
//! tampering, non-canonical and small-order components, torsion in R, bisection, and batch == single on a mix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions, clippy::cast_possible_truncation)]

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use huren_keys::{dangerous, BatchVerifier, Error, PublicKey, Signer, SigningKey};
use sha2::{Digest, Sha512};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn arr32(v: &[u8]) -> [u8; 32] {
    v.try_into().unwrap()
}

/// RFC 8032 section 7.1, tests 1-3: (secret seed, public key, message, signature).
const RFC8032: [(&str, &str, &str, &str); 3] = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
];

/// The order of the base point, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// A point of order 8 and one of order 4 (y = 0).
const ORDER_8: &str = "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05";

fn torsion_points() -> Vec<EdwardsPoint> {
    let order8 = CompressedEdwardsY(arr32(&unhex(ORDER_8))).decompress().unwrap();
    let order4 = CompressedEdwardsY([0u8; 32]).decompress().unwrap();
    for (t, order) in [(order8, 8u32), (order4, 4)] {
        assert!(t.is_small_order() && !t.is_identity_point());
        let half = (0..order.trailing_zeros() - 1).fold(t, |p, _| p + p);
        assert!(!half.is_identity_point() && (half + half).is_identity_point(), "order {order}");
    }
    vec![order8, order4]
}

trait IsIdentityPoint {
    fn is_identity_point(&self) -> bool;
}
impl IsIdentityPoint for EdwardsPoint {
    fn is_identity_point(&self) -> bool {
        use curve25519_dalek::traits::IsIdentity;
        self.is_identity()
    }
}

/// The secret scalar of an Ed25519 seed, as RFC 8032 derives it: SHA-512(seed), lower half, clamped.
fn secret_scalar(seed: &[u8; 32]) -> Scalar {
    let h = Sha512::digest(seed);
    let mut a = arr32(&h[..32]);
    a[0] &= 248;
    a[31] &= 127;
    a[31] |= 64;
    Scalar::from_bytes_mod_order(a)
}

/// A signature made with nonce point `R = rB + T` (T small order or the identity): `S = r + H(R||A||M) a`.
fn sign_with_nonce_point(seed: &[u8; 32], message: &[u8], r: Scalar, t: EdwardsPoint) -> [u8; 64] {
    let a = secret_scalar(seed);
    let a_bytes = EdwardsPoint::mul_base(&a).compress().to_bytes();
    let r_bytes = (EdwardsPoint::mul_base(&r) + t).compress().to_bytes();
    let h = Sha512::new().chain_update(r_bytes).chain_update(a_bytes).chain_update(message).finalize();
    let k = Scalar::from_bytes_mod_order_wide(&h.into());
    let s = r + k * a;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&r_bytes);
    sig[32..].copy_from_slice(&s.to_bytes());
    sig
}

fn public_of_seed(seed: &[u8; 32]) -> PublicKey {
    dangerous::signing_key_from_seed(seed).unwrap().public().clone()
}

fn batch(items: &[(&PublicKey, &[u8], &[u8])]) -> Vec<Result<(), Error>> {
    let mut b = BatchVerifier::new();
    for (i, (key, message, sig)) in items.iter().enumerate() {
        assert_eq!(b.add(key, message, sig).unwrap(), i);
    }
    assert_eq!(b.len(), items.len());
    b.verify()
}

fn oks(results: &[Result<(), Error>]) -> Vec<bool> {
    results.iter().map(|r| r.is_ok()).collect()
}

fn assert_refused_both_ways(key: &PublicKey, message: &[u8], sig: &[u8], what: &str) {
    assert!(matches!(key.verify(message, sig), Err(Error::SignatureInvalid)), "single accepts {what}");
    let results = batch(&[(key, message, sig)]);
    assert!(matches!(results[0], Err(Error::SignatureInvalid)), "batch of one accepts {what}");
    // Among good signatures, only the bad one is refused (it does not poison the batch).
    let signer = dangerous::signing_key_from_seed(&[9; 32]).unwrap();
    let goods: Vec<Vec<u8>> = (0..10u8).map(|i| signer.sign(&[i])).collect();
    let messages: Vec<[u8; 1]> = (0..10u8).map(|i| [i]).collect();
    let mut items: Vec<(&PublicKey, &[u8], &[u8])> =
        (0..10).map(|i| (signer.public(), &messages[i][..], &goods[i][..])).collect();
    items.insert(4, (key, message, sig));
    let expected: Vec<bool> = (0..11).map(|i| i != 4).collect();
    assert_eq!(oks(&batch(&items)), expected, "{what} in a batch of 11");
}

#[test]
fn rfc8032_vectors_verify_single_and_in_batch() {
    let mut keys = Vec::new();
    let mut messages = Vec::new();
    let mut sigs = Vec::new();
    for (seed, public, message, sig) in RFC8032 {
        let seed = arr32(&unhex(seed));
        // The vectors are transcribed correctly: ed25519-dalek derives the same key and signature.
        let dalek = ed25519_dalek::SigningKey::from_bytes(&seed);
        assert_eq!(dalek.verifying_key().to_bytes().to_vec(), unhex(public));
        assert_eq!(ed25519_dalek::Signer::sign(&dalek, &unhex(message)).to_bytes().to_vec(), unhex(sig));
        let key = PublicKey::from_ed25519_bytes(&arr32(&unhex(public))).unwrap();
        key.verify(&unhex(message), &unhex(sig)).unwrap();
        keys.push(key);
        messages.push(unhex(message));
        sigs.push(unhex(sig));
    }
    let items: Vec<(&PublicKey, &[u8], &[u8])> = (0..3).map(|i| (&keys[i], &messages[i][..], &sigs[i][..])).collect();
    assert_eq!(oks(&batch(&items)), vec![true; 3]);
    // Swapped messages fail, each on its own.
    let swapped: Vec<(&PublicKey, &[u8], &[u8])> = vec![items[0], (&keys[1], &messages[2][..], &sigs[1][..]), items[2]];
    assert_eq!(oks(&batch(&swapped)), vec![true, false, true]);
}

#[test]
fn flipped_bits_in_message_r_and_s_fail_both_ways() {
    let key = public_of_seed(&arr32(&unhex(RFC8032[2].0)));
    let message = unhex(RFC8032[2].2);
    let sig = unhex(RFC8032[2].3);
    let mut bad_message = message.clone();
    bad_message[1] ^= 0x01;
    assert_refused_both_ways(&key, &bad_message, &sig, "a flipped message bit");
    for (byte, what) in [
        (0usize, "a flipped R bit (low)"),
        (17, "a flipped R bit (middle)"),
        (32, "a flipped S bit"),
        (50, "a flipped S bit (middle)"),
    ] {
        let mut bad = sig.clone();
        bad[byte] ^= 0x04;
        assert_refused_both_ways(&key, &message, &bad, what);
    }
    assert_refused_both_ways(&key, &message, &sig[..63], "a short signature");
    let mut long = sig.clone();
    long.push(0);
    assert_refused_both_ways(&key, &message, &long, "a long signature");
}

#[test]
fn non_canonical_s_is_refused_both_ways() {
    let key = public_of_seed(&arr32(&unhex(RFC8032[1].0)));
    let message = unhex(RFC8032[1].2);
    let sig = unhex(RFC8032[1].3);
    // S + l as a 256-bit little-endian integer.
    let mut s_plus_l = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let sum = u16::from(sig[32 + i]) + u16::from(L[i]) + carry;
        s_plus_l[i] = (sum & 0xff) as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
    assert_eq!(
        Scalar::from_bytes_mod_order(s_plus_l),
        Scalar::from_bytes_mod_order(arr32(&sig[32..])),
        "S + l = S mod l"
    );
    let mut bad = sig.clone();
    bad[32..].copy_from_slice(&s_plus_l);
    assert_ne!(bad, sig);
    assert_refused_both_ways(&key, &message, &bad, "S + l");
}

#[test]
fn small_order_r_is_refused_even_when_the_equation_holds() {
    let seed = [3u8; 32];
    let key = public_of_seed(&seed);
    let mut ts = torsion_points();
    ts.push(EdwardsPoint::default()); // the identity
    for t in ts {
        // r = 0: R = T, S = k a satisfies [8]([S]B - [k]A - R) = 0.
        let sig = sign_with_nonce_point(&seed, b"small R", Scalar::ZERO, t);
        let r = CompressedEdwardsY(arr32(&sig[..32])).decompress().unwrap();
        assert!(r.is_small_order());
        let a = CompressedEdwardsY(arr32(&key.spki_der()[12..])).decompress().unwrap();
        let k = Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(&sig[..32])
                .chain_update(&key.spki_der()[12..])
                .chain_update(b"small R")
                .finalize()
                .into(),
        );
        let s = Scalar::from_bytes_mod_order(arr32(&sig[32..]));
        assert!((EdwardsPoint::mul_base(&s) - k * a - r).mul_by_cofactor().is_identity_point(), "the equation holds");
        assert_refused_both_ways(&key, b"small R", &sig, "a small-order R");
    }
}

#[test]
fn torsion_in_r_is_accepted_both_ways_unlike_verify_strict() {
    let seed = [5u8; 32];
    let key = public_of_seed(&seed);
    let dalek = ed25519_dalek::VerifyingKey::from_bytes(&arr32(&key.spki_der()[12..])).unwrap();
    let signer = dangerous::signing_key_from_seed(&[6; 32]).unwrap();
    let good = signer.sign(b"good");
    for (n, t) in torsion_points().into_iter().enumerate() {
        let r = Scalar::from_bytes_mod_order_wide(&Sha512::digest([u8::try_from(n).unwrap(); 7]).into());
        let message = format!("torsion {n}");
        let sig = sign_with_nonce_point(&seed, message.as_bytes(), r, t);
        // Huren's cofactored rule accepts it, alone and in a batch (alone and among others).
        key.verify(message.as_bytes(), &sig).unwrap();
        assert_eq!(oks(&batch(&[(&key, message.as_bytes(), &sig)])), vec![true]);
        // (More than a handful, so the batch equation decides rather than single checks.)
        let mut items: Vec<(&PublicKey, &[u8], &[u8])> = vec![(signer.public(), b"good", &good); 12];
        items[5] = (&key, message.as_bytes(), &sig);
        assert_eq!(oks(&batch(&items)), vec![true; 12]);
        // ed25519-dalek's cofactorless verify_strict (Huren's rule before) refuses it: this is the change.
        let dsig = ed25519_dalek::Signature::from_bytes(&sig);
        assert!(dalek.verify_strict(message.as_bytes(), &dsig).is_err());
        // Without the torsion point the same nonce gives a signature both rules accept.
        let plain = sign_with_nonce_point(&seed, message.as_bytes(), r, EdwardsPoint::default());
        key.verify(message.as_bytes(), &plain).unwrap();
        dalek.verify_strict(message.as_bytes(), &ed25519_dalek::Signature::from_bytes(&plain)).unwrap();
    }
}

#[test]
fn one_bad_item_among_a_hundred_is_the_only_one_reported() {
    let keys: Vec<SigningKey> = (0..3u8).map(|i| dangerous::signing_key_from_seed(&[20 + i; 32]).unwrap()).collect();
    let messages: Vec<Vec<u8>> = (0..101u32).map(|i| format!("credential {i}").into_bytes()).collect();
    for bad in [0usize, 37, 63, 100] {
        let mut sigs: Vec<Vec<u8>> = (0..101).map(|i| keys[i % 3].sign(&messages[i])).collect();
        sigs[bad][40] ^= 0x80;
        let items: Vec<(&PublicKey, &[u8], &[u8])> =
            (0..101).map(|i| (keys[i % 3].public(), &messages[i][..], &sigs[i][..])).collect();
        let results = batch(&items);
        let expected: Vec<bool> = (0..101).map(|i| i != bad).collect();
        assert_eq!(oks(&results), expected, "bad item {bad}");
        assert!(matches!(results[bad], Err(Error::SignatureInvalid)));
    }
}

#[test]
fn empty_batch_and_non_ed25519_keys() {
    assert!(BatchVerifier::new().verify().is_empty());
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let p256 = PublicKey::from_spki_der(&huren_keys::p256_spki_from_point(pair.public_key().as_ref())).unwrap();
    let sig = pair.sign(&rng, b"msg").unwrap();
    p256.verify(b"msg", sig.as_ref()).unwrap();
    let mut b = BatchVerifier::new();
    assert!(matches!(b.add(&p256, b"msg", sig.as_ref()), Err(Error::AlgKeyMismatch { .. })));
    assert!(b.is_empty(), "a refused item is not added");
}

/// SplitMix64: a seeded generator, so a failure can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
}

#[test]
fn batch_results_equal_single_results_on_a_random_mix() {
    let seeds: Vec<[u8; 32]> = (0..8u8).map(|i| [40 + i; 32]).collect();
    let signers: Vec<SigningKey> = seeds.iter().map(|s| dangerous::signing_key_from_seed(s).unwrap()).collect();
    let torsion = torsion_points();
    let mut rng = Rng(0x4875_7265_6e21);
    let (mut accepted, mut refused) = (0, 0);
    for round in 0..40 {
        let size = [0usize, 1, 2, 3, 5, 8, 17, 33, 64, 100][round % 10];
        // Some rounds are mostly good, some mostly bad, to exercise every bisection path.
        let bad_rate = [0u64, 2, 10, 50, 90][round % 5];
        let mut keys = Vec::new();
        let mut messages = Vec::new();
        let mut sigs = Vec::new();
        for i in 0..size {
            let signer = rng.below(if round % 3 == 0 { 1 } else { 8 });
            let message = format!("round {round} item {i} {}", rng.next()).into_bytes();
            let mut sig = signers[signer].sign(&message);
            let mut key = signer;
            let mut msg = message.clone();
            if (rng.below(100) as u64) < bad_rate {
                match rng.below(8) {
                    0 => msg.push(b'!'),
                    1 => sig[rng.below(32)] ^= 1 << rng.below(8),
                    2 => sig[32 + rng.below(31)] ^= 1 << rng.below(8),
                    3 => key = (signer + 1) % 8,
                    4 => sig.truncate(rng.below(64)),
                    5 => {
                        // Torsion in R: valid under Huren's rule.
                        let r = Scalar::from_bytes_mod_order_wide(&Sha512::digest(&message).into());
                        sig = sign_with_nonce_point(&seeds[signer], &msg, r, torsion[rng.below(2)]).to_vec();
                    }
                    6 => {
                        sig = sign_with_nonce_point(&seeds[signer], &msg, Scalar::ZERO, torsion[rng.below(2)]).to_vec()
                    }
                    _ => sig[63] |= 0xf0, // S >= l
                }
            }
            keys.push(signers[key].public().clone());
            messages.push(msg);
            sigs.push(sig);
        }
        let items: Vec<(&PublicKey, &[u8], &[u8])> =
            (0..size).map(|i| (&keys[i], &messages[i][..], &sigs[i][..])).collect();
        let single: Vec<bool> = items.iter().map(|(k, m, s)| k.verify(m, s).is_ok()).collect();
        let batched = oks(&batch(&items));
        assert_eq!(batched, single, "round {round}");
        accepted += single.iter().filter(|ok| **ok).count();
        refused += single.iter().filter(|ok| !**ok).count();
    }
    assert!(accepted > 300 && refused > 150, "the mix has both: {accepted} accepted, {refused} refused");
}

#[test]
fn a_verified_set_holds_only_what_the_batch_found_valid_and_anything_else_is_checked_in_full() {
    let key = dangerous::signing_key_from_seed(&[21u8; 32]).unwrap();
    let good = key.sign(b"good");
    let mut bad = key.sign(b"bad");
    bad[40] ^= 1;
    let mut batch = BatchVerifier::new();
    batch.add(key.public(), b"good", &good).unwrap();
    batch.add(key.public(), b"bad", &bad).unwrap();
    let known = batch.verify_known();
    assert_eq!(known.len(), 1);
    assert!(key.public().verify_known(b"good", &good, &known).is_ok());
    // The bad one is not in the set, so it is checked again, and refused.
    assert!(matches!(key.public().verify_known(b"bad", &bad, &known), Err(Error::SignatureInvalid)));
    // A signature the batch never saw is checked in full: valid passes, tampered fails.
    let other = key.sign(b"other");
    assert!(key.public().verify_known(b"other", &other, &known).is_ok());
    assert!(key.public().verify_known(b"other", &good, &known).is_err());
    // The set is bound to the key: another key with the same message and signature is checked in full.
    let stranger = dangerous::signing_key_from_seed(&[22u8; 32]).unwrap();
    assert!(stranger.public().verify_known(b"good", &good, &known).is_err());
}
