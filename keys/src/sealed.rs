//! Passphrase sealing: PBKDF2-HMAC-SHA256 turns a passphrase and a salt into a 256-bit key, and AES-256-GCM seals
//! and opens data under it with associated data. Encrypted key files and the resident wallet both use it.
//!
//! The iteration count is a parameter because files store it; [`SealingKey::derive`] refuses counts above
//! [`MAX_ITERATIONS`], so a hostile file cannot make opening it arbitrarily slow.

use zeroize::Zeroizing;

use crate::Error;

/// Salt length in bytes (random per file).
pub const SALT_LEN: usize = 16;
/// AES-GCM nonce length in bytes (random per sealing).
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length in bytes.
pub const TAG_LEN: usize = 16;
/// Most PBKDF2 iterations accepted: twice [`crate::KDF_ITERATIONS`], what every file is written with. A file's
/// header chooses its own count before anything is authenticated, so this bounds what a hostile 63-byte file can
/// cost to open to twice an honest file's, while leaving room to raise the default once.
pub const MAX_ITERATIONS: u32 = 2 * crate::KDF_ITERATIONS;

/// A random salt from the operating system's random source.
pub fn random_salt() -> Result<[u8; SALT_LEN], Error> {
    let mut salt = [0u8; SALT_LEN];
    fill_random(&mut salt)?;
    Ok(salt)
}

fn fill_random(out: &mut [u8]) -> Result<(), Error> {
    use ring::rand::SecureRandom;
    ring::rand::SystemRandom::new().fill(out).map_err(|_| Error::KeyEncoding("system random source failed".into()))
}

/// An AES-256-GCM key derived from a passphrase. The key bytes are zeroized when dropped and never printed.
pub struct SealingKey {
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(hidden)")
    }
}

impl SealingKey {
    /// Derive the key with PBKDF2-HMAC-SHA256. `iterations` must be 1 to [`MAX_ITERATIONS`]
    /// ([`crate::KDF_ITERATIONS`] outside tests).
    pub fn derive(passphrase: &[u8], salt: &[u8], iterations: u32) -> Result<Self, Error> {
        let rounds = std::num::NonZeroU32::new(iterations).filter(|n| n.get() <= MAX_ITERATIONS).ok_or_else(|| {
            Error::KeyEncoding(format!("{iterations} KDF iterations (accepted: 1 to {MAX_ITERATIONS})"))
        })?;
        let mut key = Zeroizing::new([0u8; 32]);
        ring::pbkdf2::derive(ring::pbkdf2::PBKDF2_HMAC_SHA256, rounds, salt, passphrase, key.as_mut());
        Ok(SealingKey { key })
    }

    fn aead(&self) -> Result<ring::aead::LessSafeKey, Error> {
        let unbound = ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, self.key.as_ref())
            .map_err(|_| Error::KeyEncoding("AES key".into()))?;
        Ok(ring::aead::LessSafeKey::new(unbound))
    }

    /// Seal `plain` with a fresh random nonce: `nonce (12) || ciphertext || tag (16)`. `aad` is authenticated,
    /// not stored.
    pub fn seal(&self, plain: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
        use ring::aead::{Aad, Nonce};
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;
        let mut data = Zeroizing::new(plain.to_vec());
        self.aead()?
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut *data)
            .map_err(|_| Error::KeyEncoding("encryption failed".into()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + data.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&data);
        Ok(out)
    }

    /// Open what [`SealingKey::seal`] produced with the same `aad`. `None` when the key is wrong or the bytes (or
    /// the associated data) were altered: authenticated encryption cannot tell these apart.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        use ring::aead::{Aad, Nonce};
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = Zeroizing::new(ciphertext.to_vec());
        let plain_len = self.aead().ok()?.open_in_place(nonce, Aad::from(aad), &mut data).ok()?.len();
        data.truncate(plain_len);
        Some(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_every_kind_of_mismatch() {
        let salt = random_salt().unwrap();
        let key = SealingKey::derive(b"pass", &salt, 10).unwrap();
        let sealed = key.seal(b"secret", b"aad").unwrap();
        assert_eq!(sealed.len(), NONCE_LEN + 6 + TAG_LEN);
        assert_eq!(key.open(&sealed, b"aad").unwrap().as_slice(), b"secret");
        assert!(key.open(&sealed, b"other aad").is_none());
        assert!(SealingKey::derive(b"wrong", &salt, 10).unwrap().open(&sealed, b"aad").is_none());
        let mut flipped = sealed.clone();
        flipped[NONCE_LEN] ^= 1;
        assert!(key.open(&flipped, b"aad").is_none());
        assert!(key.open(&sealed[..NONCE_LEN + TAG_LEN - 1], b"aad").is_none());
        assert!(SealingKey::derive(b"pass", &salt, 0).is_err());
        assert!(SealingKey::derive(b"pass", &salt, MAX_ITERATIONS + 1).is_err());
    }
}
