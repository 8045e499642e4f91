//! Huren's Ed25519 verification rule, for one signature and for many at once: see [`BatchVerifier`].

use std::collections::{HashMap, HashSet};
use std::fmt;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use sha2::{Digest, Sha512};

use crate::{Algorithm, Error, PublicKey};

/// Whether 32 bytes are the canonical encoding of a `y` coordinate: the low 255 bits, read little-endian, are
/// below `p = 2^255 - 19`. (The top bit is the sign of `x` and is not part of `y`.)
pub(crate) fn is_canonical_y(bytes: &[u8; 32]) -> bool {
    // y >= p only if y is one of 2^255 - 19 ..= 2^255 - 1: bytes 1..=30 all 0xff, byte 31 (without the sign
    // bit) 0x7f, and byte 0 at least 0xed.
    let top_is_max = bytes[31] & 0x7f == 0x7f;
    let middle_is_max = bytes[1..31].iter().all(|b| *b == 0xff);
    !(top_is_max && middle_is_max && bytes[0] >= 0xed)
}

/// A loaded Ed25519 public key: its encoding and its decompressed point (and the point's negation), so no
/// verification decompresses it again.
#[derive(Clone)]
pub(crate) struct Ed25519Key {
    bytes: [u8; 32],
    point: EdwardsPoint,
    neg_point: EdwardsPoint,
}

impl Ed25519Key {
    /// A key from its 32 bytes: canonical encoding, on the curve, not of small order (ed25519-dalek's `is_weak`)
    /// and without a small-order component (torsion-free: one scalar multiplication, once per key).
    pub(crate) fn from_bytes(bytes: &[u8; 32]) -> Result<Self, Error> {
        if !is_canonical_y(bytes) {
            return Err(Error::PublicKeyInvalid("non-canonical Ed25519 point encoding".into()));
        }
        let vk = ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map_err(|_| Error::PublicKeyInvalid("not an Ed25519 point".into()))?;
        if vk.is_weak() {
            return Err(Error::PublicKeyInvalid("Ed25519 key of small order".into()));
        }
        let point = vk.to_edwards();
        // A key with a small-order component would verify under the cofactored equation a signature that
        // `verify_strict` refuses; refusing such keys once, at load, keeps the two rules apart only on `R`.
        if !point.is_torsion_free() {
            return Err(Error::PublicKeyInvalid("Ed25519 key with a small-order component".into()));
        }
        Ok(Ed25519Key { bytes: *bytes, point, neg_point: -point })
    }

    /// The key's 32-byte encoding.
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Verify one signature under Huren's rule (see the module documentation).
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), Error> {
        let parsed = Parsed::new(&self.bytes, message, signature)?;
        if parsed.check_single(&self.neg_point) {
            Ok(())
        } else {
            Err(Error::SignatureInvalid)
        }
    }
}

/// A signature that passed the per-signature checks (steps 1-3), with its challenge `k` (step 5).
#[derive(Clone, Copy)]
struct Parsed {
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

impl Parsed {
    fn new(key_bytes: &[u8; 32], message: &[u8], signature: &[u8]) -> Result<Self, Error> {
        let signature: &[u8; 64] = signature.try_into().map_err(|_| Error::SignatureInvalid)?;
        let mut r_bytes = [0u8; 32];
        let mut s_bytes = [0u8; 32];
        r_bytes.copy_from_slice(&signature[..32]);
        s_bytes.copy_from_slice(&signature[32..]);
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)).ok_or(Error::SignatureInvalid)?;
        if !is_canonical_y(&r_bytes) {
            return Err(Error::SignatureInvalid);
        }
        let r = CompressedEdwardsY(r_bytes).decompress().ok_or(Error::SignatureInvalid)?;
        if r.is_small_order() {
            return Err(Error::SignatureInvalid);
        }
        let digest = Sha512::new().chain_update(r_bytes).chain_update(key_bytes).chain_update(message).finalize();
        let mut wide = [0u8; 64];
        wide.copy_from_slice(&digest);
        Ok(Parsed { r, s, k: Scalar::from_bytes_mod_order_wide(&wide) })
    }

    /// `[8]([S]B - [k]A - R) == 0`, given `-A`.
    fn check_single(&self, neg_a: &EdwardsPoint) -> bool {
        let sb_minus_ka = EdwardsPoint::vartime_double_scalar_mul_basepoint(&self.k, neg_a, &self.s);
        (sb_minus_ka - self.r).mul_by_cofactor().is_identity()
    }
}

/// Failing groups at most this large are resolved by checking each signature alone.
const SINGLE_BELOW: usize = 4;

/// Many Ed25519 signatures verified at once, each answer equal to what [`PublicKey::verify`] says of it alone.
///
/// # The rule
///
/// One rule, whether a signature is checked alone ([`crate::PublicKey::verify`]) or in a [`BatchVerifier`]:
///
/// 1. the signature is 64 bytes, `R || S`;
/// 2. `S` is canonical (`S < l`, the order of the base point);
/// 3. `R` is a canonical encoding (its `y` is below `p = 2^255 - 19`) of a curve point, and that point is not of
///    small order;
/// 4. the public key `A` was checked when the key was loaded: canonical encoding, a curve point, not of small order,
///    no small-order component;
/// 5. `k = SHA-512(R || A || M) mod l`;
/// 6. the signature is valid iff `[8]([S]B - [k]A - R)` is the identity (the *cofactored* equation).
///
/// Step 6 accepts a signature whose `R` carries a small-order (torsion) component, which ed25519-dalek's
/// cofactorless `verify_strict` refuses. Huren accepts it on purpose: the cofactored equation is the one a batch
/// can check exactly, so a credential's answer never depends on how many credentials were checked with it.
///
/// # Batches
///
/// A batch of `n` signatures draws independent 128-bit coefficients `z_i` from the operating system's random
/// source and checks `[8](-(Σ z_i S_i) B + Σ z_i R_i + Σ_A (Σ_{i signed by A} z_i k_i) A) = 0` with one
/// variable-time multiscalar multiplication over `n + 1 + (distinct keys)` points. If every signature is valid the
/// equation holds for any coefficients; if one is invalid it holds with probability at most `2^-128`. When it fails,
/// the batch is bisected (small groups are checked one by one) until every item has the answer single verification
/// gives it.
///
/// # Example
///
/// ```
/// use huren_keys::{BatchVerifier, Error, Signer, SigningKey};
///
/// let key = SigningKey::generate()?;
/// let good = key.sign(b"first");
/// let mut batch = BatchVerifier::new();
/// assert_eq!(batch.add(key.public(), b"first", &good)?, 0);
/// assert_eq!(batch.add(key.public(), b"second", &good)?, 1); // signed another message
/// let results = batch.verify();
/// assert!(results[0].is_ok());
/// assert!(matches!(results[1], Err(Error::SignatureInvalid)));
/// # Ok::<(), Error>(())
/// ```
///
/// Items whose signature fails the per-signature checks (wrong length, non-canonical `S` or `R`, small-order `R`)
/// are answered [`Error::SignatureInvalid`] without affecting the others. The batch costs well under half of
/// single verification per signature when all signatures are valid (the common case); a batch with invalid
/// signatures is bisected, so a few bad items among many good ones cost a few extra batch checks.
#[derive(Default)]
pub struct BatchVerifier {
    /// Distinct keys of the batch, in order of first use.
    keys: Vec<EdwardsPoint>,
    /// Index into `keys` by key encoding.
    key_index: HashMap<[u8; 32], usize>,
    /// Per item: its key's index and its parsed signature, or `None` if the per-signature checks refused it.
    items: Vec<(usize, Option<Parsed>)>,
    /// Per item, for [`BatchVerifier::verify_known`]: the key, message and signature bytes.
    signed: Vec<SignedBytes>,
}

/// A key's encoding, a message and a signature: what a [`VerifiedSignatures`] remembers.
type SignedBytes = ([u8; 32], Vec<u8>, Vec<u8>);

/// Signatures a [`BatchVerifier`] found valid. [`crate::PublicKey::verify_known`] (and
/// [`crate::cose::Sign1::verify_known`]) accept a signature in the set without checking it again and check any other
/// one in full, so the set can only save work, never let a signature through: only verification fills it.
#[derive(Default)]
pub struct VerifiedSignatures {
    valid: HashSet<SignedBytes>,
}

impl fmt::Debug for VerifiedSignatures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifiedSignatures({} signatures)", self.valid.len())
    }
}

impl VerifiedSignatures {
    /// Whether `signature` over `message` by the Ed25519 key `key` was found valid.
    pub(crate) fn contains(&self, key: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
        // Borrowed lookups of a tuple key need an owned tuple; copying ~400 bytes is far cheaper than a check.
        !self.valid.is_empty() && self.valid.contains(&(*key, message.to_vec(), signature.to_vec()))
    }

    /// Number of signatures in the set.
    pub fn len(&self) -> usize {
        self.valid.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.valid.is_empty()
    }
}

impl fmt::Debug for BatchVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BatchVerifier({} items, {} keys)", self.items.len(), self.keys.len())
    }
}

impl BatchVerifier {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty batch with room for `items` signatures.
    pub fn with_capacity(items: usize) -> Self {
        BatchVerifier {
            keys: Vec::new(),
            key_index: HashMap::new(),
            items: Vec::with_capacity(items),
            signed: Vec::with_capacity(items),
        }
    }

    /// Add a signature over `message` by `key`, returning its index in the results of [`BatchVerifier::verify`].
    ///
    /// Only Ed25519 keys can be batched: any other key is refused with [`Error::AlgKeyMismatch`] (`message` is
    /// EdDSA, `key` the key's algorithm) and nothing is added; verify such signatures with [`PublicKey::verify`].
    /// A signature that fails the per-signature checks is added, and answered [`Error::SignatureInvalid`].
    pub fn add(&mut self, key: &PublicKey, message: &[u8], signature: &[u8]) -> Result<usize, Error> {
        let ed =
            key.ed25519().ok_or_else(|| Error::AlgKeyMismatch { message: Algorithm::EdDsa, key: key.algorithm() })?;
        let key_slot = match self.key_index.get(&ed.bytes) {
            Some(slot) => *slot,
            None => {
                let slot = self.keys.len();
                self.keys.push(ed.point);
                self.key_index.insert(ed.bytes, slot);
                slot
            }
        };
        let index = self.items.len();
        self.items.push((key_slot, Parsed::new(&ed.bytes, message, signature).ok()));
        self.signed.push((ed.bytes, message.to_vec(), signature.to_vec()));
        Ok(index)
    }

    /// Number of signatures added.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no signature was added.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Verify every signature: one result per added item, in the order added, each the result single verification
    /// gives (up to a `2^-128` chance per batch check that an invalid signature is taken for valid).
    pub fn verify(self) -> Vec<Result<(), Error>> {
        let mut valid = vec![false; self.items.len()];
        let candidates: Vec<usize> = (0..self.items.len()).filter(|i| self.items[*i].1.is_some()).collect();
        self.resolve(&candidates, false, &mut valid);
        valid.into_iter().map(|ok| if ok { Ok(()) } else { Err(Error::SignatureInvalid) }).collect()
    }

    /// Verify every signature and keep the valid ones, for [`crate::cose::Sign1::verify_known`] to look up.
    pub fn verify_known(mut self) -> VerifiedSignatures {
        let signed = std::mem::take(&mut self.signed);
        let results = self.verify();
        let valid = signed.into_iter().zip(results).filter(|(_, r)| r.is_ok()).map(|(s, _)| s).collect();
        VerifiedSignatures { valid }
    }

    /// Decide the items `indices` (all parsed), marking the valid ones in `valid`; `known_bad` says the batch
    /// equation over exactly these items already failed. Returns whether all of them are valid.
    fn resolve(&self, indices: &[usize], known_bad: bool, valid: &mut [bool]) -> bool {
        if indices.len() <= SINGLE_BELOW {
            let mut all = true;
            for &i in indices {
                let ok = self.check_one(i);
                valid[i] = ok;
                all &= ok;
            }
            return all;
        }
        if !known_bad && self.check_batch(indices) {
            for &i in indices {
                valid[i] = true;
            }
            return true;
        }
        let (left, right) = indices.split_at(indices.len() / 2);
        let left_ok = self.resolve(left, false, valid);
        // The whole failed and the left half holds: the right half fails, no need to check it as a whole.
        let right_ok = self.resolve(right, left_ok, valid);
        left_ok && right_ok
    }

    fn check_one(&self, i: usize) -> bool {
        match &self.items[i] {
            (slot, Some(parsed)) => self.keys.get(*slot).is_some_and(|a| parsed.check_single(&-a)),
            (_, None) => false,
        }
    }

    /// The randomised batch equation over `indices`. Falls back to checking each item alone if the random source
    /// fails.
    fn check_batch(&self, indices: &[usize]) -> bool {
        let Some(z) = random_coefficients(indices.len()) else {
            return indices.iter().all(|i| self.check_one(*i));
        };
        let mut b_coefficient = Scalar::ZERO;
        let mut key_coefficients = vec![Scalar::ZERO; self.keys.len()];
        let mut scalars = Vec::with_capacity(indices.len() + 1 + self.keys.len());
        let mut points = Vec::with_capacity(indices.len() + 1 + self.keys.len());
        for (&i, z) in indices.iter().zip(z) {
            let (slot, Some(parsed)) = &self.items[i] else {
                return false;
            };
            b_coefficient -= z * parsed.s;
            if let Some(c) = key_coefficients.get_mut(*slot) {
                *c += z * parsed.k;
            }
            scalars.push(z);
            points.push(parsed.r);
        }
        scalars.push(b_coefficient);
        points.push(ED25519_BASEPOINT_POINT);
        for (c, a) in key_coefficients.into_iter().zip(&self.keys) {
            if c != Scalar::ZERO {
                scalars.push(c);
                points.push(*a);
            }
        }
        EdwardsPoint::vartime_multiscalar_mul(scalars, points).mul_by_cofactor().is_identity()
    }
}

/// `n` independent uniformly random 128-bit scalars from the operating system's random source.
fn random_coefficients(n: usize) -> Option<Vec<Scalar>> {
    use ring::rand::SecureRandom;
    let mut bytes = vec![0u8; n.checked_mul(16)?];
    ring::rand::SystemRandom::new().fill(&mut bytes).ok()?;
    Some(
        bytes
            .chunks_exact(16)
            .map(|chunk| {
                let mut wide = [0u8; 32];
                wide[..16].copy_from_slice(chunk);
                Scalar::from_bytes_mod_order(wide)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_y_boundary() {
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(!is_canonical_y(&p), "p itself");
        let mut below = p;
        below[0] = 0xec;
        assert!(is_canonical_y(&below), "p - 1");
        let mut top = [0xffu8; 32];
        assert!(!is_canonical_y(&top), "2^255 - 1 with the sign bit");
        top[31] = 0x7f;
        assert!(!is_canonical_y(&top), "2^255 - 1");
        assert!(is_canonical_y(&[0u8; 32]));
    }

    #[test]
    fn non_canonical_key_encoding_is_refused_at_load() {
        // The 19 encodings of y = p + j (j < 19), with either sign bit. Some of them decompress to points of large
        // order, which only the canonical check refuses.
        let mut large_order = 0;
        for low in 0xedu8..=0xff {
            for top in [0x7fu8, 0xff] {
                let mut bytes = [0xffu8; 32];
                bytes[0] = low;
                bytes[31] = top;
                if CompressedEdwardsY(bytes).decompress().is_some_and(|p| !p.is_small_order()) {
                    large_order += 1;
                }
                assert!(Ed25519Key::from_bytes(&bytes).is_err());
            }
        }
        assert!(large_order > 0, "no non-canonical encoding of a large-order point: the test proves nothing");
    }

    #[test]
    fn a_key_with_a_small_order_component_is_refused_at_load() {
        let honest = crate::SigningKey::from_seed(&[9u8; 32]).unwrap();
        let a = CompressedEdwardsY(honest.public().spki_der()[12..].try_into().unwrap()).decompress().unwrap();
        assert!(Ed25519Key::from_bytes(&a.compress().to_bytes()).is_ok());
        // The point of order 2, (0, -1), added to the honest key: large order, so not `is_weak`, but not torsion-free.
        let order_two = CompressedEdwardsY({
            let mut b = [0u8; 32];
            b[0] = 0xec;
            b[1..31].fill(0xff);
            b[31] = 0x7f;
            b
        })
        .decompress()
        .unwrap();
        assert!(order_two.is_small_order() && !order_two.is_identity());
        let mixed = (a + order_two).compress().to_bytes();
        let refused = Ed25519Key::from_bytes(&mixed).err().unwrap();
        assert!(refused.to_string().contains("small-order component"), "{refused}");
    }

    /// A signature with nonce point `rB + t`, signed with the secret scalar of `seed` (RFC 8032 derivation).
    fn sign_with_torsion(seed: &[u8; 32], message: &[u8], r: Scalar, t: EdwardsPoint) -> (PublicKey, Vec<u8>) {
        let h = Sha512::digest(seed);
        let mut a = [0u8; 32];
        a.copy_from_slice(&h[..32]);
        a[0] &= 248;
        a[31] &= 127;
        a[31] |= 64;
        let a = Scalar::from_bytes_mod_order(a);
        let a_bytes = EdwardsPoint::mul_base(&a).compress().to_bytes();
        let r_bytes = (EdwardsPoint::mul_base(&r) + t).compress().to_bytes();
        let mut wide = [0u8; 64];
        wide.copy_from_slice(
            &Sha512::new().chain_update(r_bytes).chain_update(a_bytes).chain_update(message).finalize(),
        );
        let s = r + Scalar::from_bytes_mod_order_wide(&wide) * a;
        let mut sig = r_bytes.to_vec();
        sig.extend_from_slice(&s.to_bytes());
        (PublicKey::from_ed25519_bytes(&a_bytes).unwrap(), sig)
    }

    #[test]
    fn the_batch_equation_itself_accepts_torsion_in_r_and_refuses_a_bad_signature() {
        // Bisection ends in single checks, so a batch equation that refused too much would only be slow, never
        // wrong: check the equation directly.
        let order4 = CompressedEdwardsY([0u8; 32]).decompress().unwrap();
        assert!(order4.is_small_order() && !order4.is_identity());
        let mut batch = BatchVerifier::new();
        for i in 0..12u8 {
            let t = if i % 3 == 0 { order4 } else { EdwardsPoint::default() };
            let (key, sig) = sign_with_torsion(&[i % 4; 32], &[i], Scalar::from(u64::from(i) + 1000), t);
            batch.add(&key, &[i], &sig).unwrap();
        }
        let all: Vec<usize> = (0..12).collect();
        assert!(all.iter().all(|i| batch.check_one(*i)));
        for _ in 0..8 {
            assert!(batch.check_batch(&all));
        }
        let (key, mut sig) = sign_with_torsion(&[9; 32], b"x", Scalar::from(7u64), order4);
        sig[40] ^= 1;
        batch.add(&key, b"x", &sig).unwrap();
        let all: Vec<usize> = (0..13).collect();
        assert!(!batch.check_batch(&all));
    }

    #[test]
    fn empty_batch_is_empty() {
        let batch = BatchVerifier::new();
        assert!(batch.is_empty());
        assert!(batch.verify().is_empty());
    }
}
