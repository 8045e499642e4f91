//! Public keys (EdDSA, ES256, PS256), key ids, and Ed25519 signing keys kept in PKCS#8 PEM files.

use std::fmt;
#[cfg(feature = "files")]
use std::io::Write;
#[cfg(feature = "files")]
use std::path::Path;

use ed25519_dalek::pkcs8::DecodePrivateKey;
use sha2::{Digest, Sha256};
use spki::der::Decode;
use zeroize::Zeroizing;

use crate::{Algorithm, Error};

const OID_ED25519: &str = "1.3.101.112";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const OID_RSASSA_PSS: &str = "1.2.840.113549.1.1.10";

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410); the 32 key bytes follow.
const ED25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// DER prefix of an Ed25519 private key as RFC 8410 §7 writes it: PKCS#8 v1 (`PrivateKeyInfo`, version 0), the
/// algorithm without parameters, the 32-byte seed as an OCTET STRING inside the privateKey OCTET STRING, and
/// nothing after it. The seed follows. Version 2 (RFC 5958, the public key attached as `[1]`) is what the
/// `pkcs8` crate writes by default, and OpenSSL 3.0 and Python's `cryptography` refuse it; v1 every tool reads.
const ED25519_PKCS8_V1_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

/// DER tag-length-value.
fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap_or(0));
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | u8::try_from(bytes.len()).unwrap_or(0));
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(content);
    out
}

/// SubjectPublicKeyInfo { rsaEncryption, NULL } around a PKCS#1 RSAPublicKey.
fn canonical_rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    const RSA_ENCRYPTION_ALGORITHM: [u8; 15] =
        [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
    let mut bits = vec![0u8];
    bits.extend_from_slice(pkcs1);
    let mut body = RSA_ENCRYPTION_ALGORITHM.to_vec();
    body.extend(der_tlv(0x03, &bits));
    der_tlv(0x30, &body)
}

/// A key id: the first 8 bytes of SHA-256 over the key's canonical encoding (its DER SubjectPublicKeyInfo).
///
/// Key ids are not unique by construction; callers must try every key that shares one.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    /// Derive the key id of a DER SubjectPublicKeyInfo.
    pub fn of_spki(spki_der: &[u8]) -> Self {
        let digest = Sha256::digest(spki_der);
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        KeyId(id)
    }

    /// Lower-case hex, as shown to people.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.to_hex())
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Lower-case hex of some bytes.
pub fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The bytes written as lower-case hex by [`hex`]: the one hex decoder of Huren, used wherever an id, a key id, a
/// key or a holder key is read back from text.
///
/// Strict, so that each byte string has exactly one spelling: two digits per byte from `0-9a-f` only. A sign
/// (`+a`, which `u8::from_str_radix` accepts), whitespace, an odd length, upper-case digits and anything outside
/// ASCII are refused with [`Error::HexInvalid`], which names the first offending position. The empty string is
/// the empty byte string; callers check the length they expect.
///
/// ```
/// assert_eq!(huren_keys::unhex("00ff7a").unwrap(), [0x00, 0xff, 0x7a]);
/// assert!(huren_keys::unhex("+a").is_err());
/// assert!(huren_keys::unhex("0A").is_err());
/// ```
pub fn unhex(text: &str) -> Result<Vec<u8>, Error> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return Err(Error::HexInvalid(format!("odd length {}", digits.len())));
    }
    let digit = |position: usize| {
        let byte = digits.get(position).copied().unwrap_or_default();
        match byte {
            b'0'..=b'9' => Ok(byte - b'0'),
            b'a'..=b'f' => Ok(byte - b'a' + 10),
            // Byte offsets: a non-ASCII character is reported at its first byte.
            _ => Err(Error::HexInvalid(format!("byte {position} is not one of 0-9a-f"))),
        }
    };
    (0..digits.len()).step_by(2).map(|i| Ok((digit(i)? << 4) | digit(i + 1)?)).collect()
}

#[derive(Clone)]
enum Material {
    /// Ed25519 key bytes with the point decompressed once, at load.
    Ed25519(Box<crate::ed25519::Ed25519Key>),
    /// Uncompressed SEC1 point for ECDSA P-256.
    P256(Vec<u8>),
    /// PKCS#1 RSAPublicKey DER for RSASSA-PSS.
    Rsa(Vec<u8>),
}

/// A public key bound to one algorithm, with its canonical encoding and key id.
#[derive(Clone)]
pub struct PublicKey {
    alg: Algorithm,
    spki: Vec<u8>,
    kid: KeyId,
    material: Material,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({}, kid {})", self.alg, self.kid)
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki == other.spki
    }
}

impl Eq for PublicKey {}

impl PublicKey {
    /// An Ed25519 public key from its 32 bytes. Small-order and non-canonical points are refused.
    pub fn from_ed25519_bytes(bytes: &[u8; 32]) -> Result<Self, Error> {
        let key = crate::ed25519::Ed25519Key::from_bytes(bytes)?;
        let mut spki = ED25519_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(bytes);
        Ok(Self::with_material(Algorithm::EdDsa, spki, Material::Ed25519(Box::new(key))))
    }

    /// A key from a DER SubjectPublicKeyInfo: Ed25519 (EdDSA), P-256 (ES256) or RSA (PS256).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, Error> {
        let info = spki::SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| Error::PublicKeyInvalid(format!("SubjectPublicKeyInfo: {e}")))?;
        let key_bytes = info
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| Error::PublicKeyInvalid("key bit string has unused bits".into()))?;
        let oid = info.algorithm.oid.to_string();
        match oid.as_str() {
            OID_ED25519 => {
                let bytes: &[u8; 32] =
                    key_bytes.try_into().map_err(|_| Error::PublicKeyInvalid("Ed25519 key must be 32 bytes".into()))?;
                Self::from_ed25519_bytes(bytes)
            }
            OID_EC_PUBLIC_KEY => {
                let curve = info
                    .algorithm
                    .parameters_oid()
                    .map_err(|_| Error::PublicKeyInvalid("EC key without a named curve".into()))?;
                if curve.to_string() != OID_P256 {
                    return Err(Error::PublicKeyInvalid(format!("EC curve {curve} is not P-256")));
                }
                if key_bytes.len() != 65 || key_bytes[0] != 0x04 {
                    return Err(Error::PublicKeyInvalid("P-256 key must be an uncompressed point".into()));
                }
                Ok(Self::with_material(Algorithm::Es256, der.to_vec(), Material::P256(key_bytes.to_vec())))
            }
            OID_RSA_ENCRYPTION | OID_RSASSA_PSS => {
                // One key, one encoding: an RSA key may arrive under either OID, with or without parameters;
                // re-encode it as rsaEncryption with NULL parameters so its kid and identity are unique.
                Ok(Self::with_material(
                    Algorithm::Ps256,
                    canonical_rsa_spki(key_bytes),
                    Material::Rsa(key_bytes.to_vec()),
                ))
            }
            other => Err(Error::PublicKeyInvalid(format!("key type {other} is not supported"))),
        }
    }

    fn with_material(alg: Algorithm, spki: Vec<u8>, material: Material) -> Self {
        let kid = KeyId::of_spki(&spki);
        PublicKey { alg, spki, kid, material }
    }

    /// The Ed25519 material, if this is an Ed25519 key.
    pub(crate) fn ed25519(&self) -> Option<&crate::ed25519::Ed25519Key> {
        match &self.material {
            Material::Ed25519(key) => Some(key),
            _ => None,
        }
    }

    /// The one algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key id derived from the canonical encoding.
    pub fn kid(&self) -> KeyId {
        self.kid
    }

    /// The canonical encoding: DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// Verify `signature` over `message` with this key's algorithm.
    ///
    /// Ed25519 uses Huren's rule (detailed at [`crate::BatchVerifier`]): canonical `S` and `R`, no small-order `R`,
    /// and the cofactored equation `[8]([S]B - [k]A - R) = 0`, the same rule a batch checks, so a signature's answer
    /// does not depend on whether it was checked alone or in a batch.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), Error> {
        use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, RSA_PSS_2048_8192_SHA256};
        match &self.material {
            Material::Ed25519(key) => key.verify(message, signature),
            Material::P256(point) => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .verify(message, signature)
                .map_err(|_| Error::SignatureInvalid),
            Material::Rsa(pkcs1) => UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, pkcs1)
                .verify(message, signature)
                .map_err(|_| Error::SignatureInvalid),
        }
    }

    /// Verify as [`PublicKey::verify`] does, except that an Ed25519 signature already in `known` (found valid by a
    /// [`crate::BatchVerifier`]) is not checked again.
    pub fn verify_known(
        &self,
        message: &[u8],
        signature: &[u8],
        known: &crate::VerifiedSignatures,
    ) -> Result<(), Error> {
        match &self.material {
            Material::Ed25519(key) if known.contains(key.bytes(), message, signature) => Ok(()),
            _ => self.verify(message, signature),
        }
    }
}

/// Something that produces COSE signatures: Huren's own keys are Ed25519 [`SigningKey`]s; tests and HSM
/// adapters may bring others.
pub trait Signer {
    /// The public half, whose algorithm and key id go into the protected header.
    fn public_key(&self) -> &PublicKey;
    /// Sign `message`, returning the raw COSE signature bytes.
    fn sign(&self, message: &[u8]) -> Vec<u8>;
}

/// An Ed25519 signing key. The secret is zeroized when dropped and never printed.
pub struct SigningKey {
    secret: ed25519_dalek::SigningKey,
    public: PublicKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(kid {}, secret hidden)", self.public.kid)
    }
}

impl SigningKey {
    /// Generate a fresh key from the operating system's random source.
    pub fn generate() -> Result<Self, Error> {
        use ring::rand::SecureRandom;
        let mut seed = Zeroizing::new([0u8; 32]);
        ring::rand::SystemRandom::new()
            .fill(seed.as_mut())
            .map_err(|_| Error::KeyEncoding("system random source failed".into()))?;
        Self::from_seed(&seed)
    }

    /// A key from a 32-byte Ed25519 seed: only through [`crate::dangerous`].
    pub(crate) fn from_seed(seed: &[u8; 32]) -> Result<Self, Error> {
        Self::from_dalek(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    fn from_dalek(secret: ed25519_dalek::SigningKey) -> Result<Self, Error> {
        let public = PublicKey::from_ed25519_bytes(secret.verifying_key().as_bytes())?;
        Ok(SigningKey { secret, public })
    }

    /// Decode a PKCS#8 PEM document (`-----BEGIN PRIVATE KEY-----`): v1 (RFC 8410, what Huren writes and
    /// OpenSSL, HSM tools and Python's `cryptography` exchange) or v2 (RFC 5958, what Huren wrote before), whose
    /// attached public key must then match the private one.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, Error> {
        let secret = ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map_err(|e| Error::KeyEncoding(e.to_string()))?;
        Self::from_dalek(secret)
    }

    /// Decode PKCS#8 DER, v1 or v2, as [`SigningKey::from_pkcs8_pem`] does.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, Error> {
        let secret = ed25519_dalek::SigningKey::from_pkcs8_der(der).map_err(|e| Error::KeyEncoding(e.to_string()))?;
        Self::from_dalek(secret)
    }

    /// Encode as RFC 8410 PKCS#8 v1 DER (48 bytes, no public key attached). Zeroized when dropped.
    pub fn to_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        let mut der = Zeroizing::new(Vec::with_capacity(ED25519_PKCS8_V1_PREFIX.len() + 32));
        der.extend_from_slice(&ED25519_PKCS8_V1_PREFIX);
        der.extend_from_slice(self.secret.as_bytes());
        der
    }

    /// Encode as RFC 8410 PKCS#8 v1 PEM (`-----BEGIN PRIVATE KEY-----`), the form `openssl genpkey -algorithm
    /// ed25519` writes. The returned string is zeroized when dropped.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, Error> {
        let document = ed25519_dalek::pkcs8::SecretDocument::try_from(self.to_pkcs8_der().as_slice())
            .map_err(|e| Error::KeyEncoding(e.to_string()))?;
        document.to_pem("PRIVATE KEY", Default::default()).map_err(|e| Error::KeyEncoding(e.to_string()))
    }

    /// Write the key as RFC 8410 PKCS#8 v1 PEM to a new file readable by its owner only (mode 0600).
    /// An existing file is never overwritten.
    #[cfg(feature = "files")]
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let pem = self.to_pkcs8_pem()?;
        write_private(path, pem.as_bytes())
    }

    /// Read a key written by [`SigningKey::save`].
    #[cfg(feature = "files")]
    pub fn load(path: &Path) -> Result<Self, Error> {
        Self::load_with(path, None)
    }

    /// Read a key written by [`SigningKey::save`] or [`SigningKey::save_encrypted`] (which needs the passphrase).
    #[cfg(feature = "files")]
    pub fn load_with(path: &Path, passphrase: Option<&[u8]>) -> Result<Self, Error> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.display().to_string(), source })?,
        );
        Self::from_key_file(&text, passphrase, &path.display().to_string())
    }

    /// Read a key file's text: plain PKCS#8 PEM, or Huren's encrypted container (which needs the passphrase).
    /// `name` says in errors which key it was.
    pub fn from_key_file(text: &str, passphrase: Option<&[u8]>, name: &str) -> Result<Self, Error> {
        if !text.starts_with(ENCRYPTED_BEGIN) {
            return Self::from_pkcs8_pem(text);
        }
        let passphrase =
            passphrase.ok_or_else(|| Error::KeyEncoding(format!("{name} is encrypted: a passphrase is needed")))?;
        let hex_body: String =
            text.lines().filter(|l| !l.starts_with("-----")).flat_map(|l| l.trim().chars()).collect();
        let bytes = unhex(&hex_body).map_err(|e| Error::KeyEncoding(format!("encrypted key: {e}")))?;
        // Files sealed before issue 15 hold v2, later ones v1: both decode.
        Self::from_pkcs8_der(&decrypt_key(&bytes, passphrase)?)
    }

    /// Write the key encrypted under a passphrase ([`SigningKey::to_encrypted_file`]) to a new file readable by its
    /// owner only. Use [`KDF_ITERATIONS`] outside tests.
    #[cfg(feature = "files")]
    pub fn save_encrypted(&self, path: &Path, passphrase: &[u8], iterations: u32) -> Result<(), Error> {
        write_private(path, self.to_encrypted_file(passphrase, iterations)?.as_bytes())
    }

    /// The key encrypted under a passphrase (PBKDF2-HMAC-SHA256 with `iterations`, then AES-256-GCM over the
    /// RFC 8410 PKCS#8 v1 DER), as the text of a key file. The container is Huren's own (standard tools cannot open
    /// it); what it seals is the standard encoding, and `huren-keys export` writes it out as a plain PEM file.
    pub fn to_encrypted_file(&self, passphrase: &[u8], iterations: u32) -> Result<Zeroizing<String>, Error> {
        let sealed = encrypt_key(&self.to_pkcs8_der(), passphrase, iterations)?;
        let body: Vec<String> =
            hex(&sealed).as_bytes().chunks(64).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
        Ok(Zeroizing::new(format!("{ENCRYPTED_BEGIN}\n{}\n{ENCRYPTED_END}\n", body.join("\n"))))
    }

    /// The public half.
    pub fn public(&self) -> &PublicKey {
        &self.public
    }
}

/// PBKDF2 iterations for encrypted key files (OWASP's 2023 figure for PBKDF2-HMAC-SHA256).
pub const KDF_ITERATIONS: u32 = 600_000;
const ENCRYPTED_BEGIN: &str = "-----BEGIN HUREN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_END: &str = "-----END HUREN ENCRYPTED PRIVATE KEY-----";
/// Associated data binding the ciphertext to this format.
const KEY_AAD: &[u8] = b"huren encrypted key v1";

/// A new file, mode 0600 on Unix, never overwriting, flushed to disk.
#[cfg(feature = "files")]
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io = |source| Error::Io { path: path.display().to_string(), source };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)
}

/// `iterations (4, BE) || salt (16) || nonce (12) || AES-256-GCM(ciphertext || tag)` (see [`crate::sealed`]).
fn encrypt_key(plain: &[u8], passphrase: &[u8], iterations: u32) -> Result<Vec<u8>, Error> {
    let salt = crate::sealed::random_salt()?;
    let key = crate::sealed::SealingKey::derive(passphrase, &salt, iterations)?;
    let mut out = iterations.to_be_bytes().to_vec();
    out.extend_from_slice(&salt);
    out.extend_from_slice(&key.seal(plain, KEY_AAD)?);
    Ok(out)
}

fn decrypt_key(sealed: &[u8], passphrase: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    use crate::sealed::{SealingKey, NONCE_LEN, SALT_LEN, TAG_LEN};
    if sealed.len() < 4 + SALT_LEN + NONCE_LEN + TAG_LEN {
        return Err(Error::KeyEncoding("encrypted key: too short".into()));
    }
    let (head, rest) = sealed.split_at(4);
    let iterations = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let (salt, rest) = rest.split_at(SALT_LEN);
    let key = SealingKey::derive(passphrase, salt, iterations)?;
    key.open(rest, KEY_AAD).ok_or_else(|| Error::KeyEncoding("wrong passphrase or damaged key file".into()))
}

impl Signer for SigningKey {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        use ed25519_dalek::Signer as _;
        self.secret.sign(message).to_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "files")]
    #[test]
    fn pem_round_trip_keeps_the_key_and_the_file_is_private() {
        let dir = std::env::temp_dir().join(format!("huren-keys-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("k.pem");
        let _ = std::fs::remove_file(&path);
        let key = SigningKey::generate().unwrap();
        key.save(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let loaded = SigningKey::load(&path).unwrap();
        assert_eq!(loaded.public(), key.public());
        assert!(key.save(&path).is_err(), "an existing key file must not be overwritten");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(feature = "files")]
    #[test]
    fn encrypted_key_files_need_the_right_passphrase_and_detect_tampering() {
        let dir = std::env::temp_dir().join(format!("huren-keys-enc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let key = SigningKey::generate().unwrap();
        let path = dir.join("k.enc");
        key.save_encrypted(&path, b"correct horse", 2_000).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(ENCRYPTED_BEGIN) && !text.contains("PRIVATE KEY-----\nMC"), "no plaintext PKCS#8");
        // What is sealed is the v1 encoding (48 bytes): 4 + 16 + 12 + 48 + 16 bytes in hex.
        let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        assert_eq!(body.len(), 2 * (4 + 16 + 12 + 48 + 16));
        assert_eq!(SigningKey::load_with(&path, Some(b"correct horse")).unwrap().public(), key.public());
        assert!(
            matches!(SigningKey::load_with(&path, Some(b"wrong")), Err(Error::KeyEncoding(m)) if m.contains("passphrase"))
        );
        assert!(matches!(SigningKey::load(&path), Err(Error::KeyEncoding(m)) if m.contains("passphrase is needed")));
        // Flip one hex digit of the ciphertext.
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        let last_body = lines.len() - 2;
        let flipped = if lines[last_body].ends_with('0') { '1' } else { '0' };
        lines[last_body].pop();
        lines[last_body].push(flipped);
        let tampered = dir.join("t.enc");
        std::fs::write(&tampered, lines.join("\n")).unwrap();
        assert!(SigningKey::load_with(&tampered, Some(b"correct horse")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// RFC 8410 §10.3's example private key, exactly as the RFC prints it.
    const RFC8410_PEM: &str =
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";

    #[test]
    fn keys_are_written_as_rfc8410_pkcs8_v1() {
        let key = SigningKey::from_pkcs8_pem(RFC8410_PEM).unwrap();
        assert_eq!(key.to_pkcs8_pem().unwrap().as_str(), RFC8410_PEM, "byte for byte the RFC's encoding");
        let der = key.to_pkcs8_der();
        assert_eq!((der.len(), &der[..16]), (48, &ED25519_PKCS8_V1_PREFIX[..]));
        assert_eq!(der[4], 0, "version 0 (v1): no public key attached");
        assert_eq!(SigningKey::from_pkcs8_der(&der).unwrap().public(), key.public());
    }

    #[test]
    fn a_v2_key_whose_attached_public_key_is_another_keys_is_refused() {
        let key = SigningKey::from_seed(&[1u8; 32]).unwrap();
        let other = SigningKey::from_seed(&[2u8; 32]).unwrap();
        // OneAsymmetricKey v2: version 1, the same seed, then [1] IMPLICIT BIT STRING with a public key.
        let v2 = |public: &PublicKey| {
            let mut body = vec![0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
            body.extend_from_slice(&key.to_pkcs8_der()[16..]);
            body.extend_from_slice(&[0x81, 0x21, 0x00]);
            body.extend_from_slice(&public.spki_der()[12..]);
            der_tlv(0x30, &body)
        };
        assert_eq!(SigningKey::from_pkcs8_der(&v2(key.public())).unwrap().public(), key.public());
        assert!(matches!(SigningKey::from_pkcs8_der(&v2(other.public())), Err(Error::KeyEncoding(_))));
    }

    #[test]
    fn unhex_reads_exactly_what_hex_writes() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex(&hex(&all)).unwrap(), all);
        assert_eq!(unhex("").unwrap(), Vec::<u8>::new());
        // Every other spelling is refused: signs (which `u8::from_str_radix` takes), whitespace, odd lengths,
        // upper case, non-hex letters and anything outside ASCII.
        for bad in [
            "+a",
            "-1",
            "+0ff",
            "0+",
            " a",
            "a ",
            "0 ",
            " 00",
            "\t0",
            "0\n",
            "abc",
            "0",
            "0A",
            "FF",
            "0g",
            "zz",
            "é",
            "éa",
            "00€0",
            "٣٣",
            "\u{ff10}\u{ff10}",
        ] {
            assert!(matches!(unhex(bad), Err(Error::HexInvalid(_))), "{bad:?} accepted");
        }
        assert!(matches!(unhex("00+a"), Err(Error::HexInvalid(m)) if m.contains("byte 2")), "the position is named");
    }

    #[cfg(feature = "files")]
    #[test]
    fn an_encrypted_key_spelt_with_a_sign_is_refused() {
        let dir = std::env::temp_dir().join(format!("huren-keys-sign-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let key = SigningKey::generate().unwrap();
        let path = dir.join("k.enc");
        key.save_encrypted(&path, b"pass", 2_000).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        // The body starts with the iteration count, 2,000 = 0x000007d0: its first byte, `00`, spelt `+0`.
        let body = text.find("\n00").unwrap() + 1;
        let mut signed = text.clone();
        signed.replace_range(body..body + 2, "+0");
        let altered = dir.join("signed.enc");
        std::fs::write(&altered, signed).unwrap();
        assert_eq!(SigningKey::load_with(&path, Some(b"pass")).unwrap().public(), key.public());
        assert!(
            matches!(SigningKey::load_with(&altered, Some(b"pass")), Err(Error::KeyEncoding(m)) if m.contains("hex"))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_pem_is_a_typed_error() {
        assert!(matches!(
            SigningKey::from_pkcs8_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n"),
            Err(Error::KeyEncoding(_))
        ));
    }

    #[test]
    fn kid_is_sha256_prefix_of_spki_and_spki_round_trips() {
        let key = SigningKey::from_seed(&[7u8; 32]).unwrap();
        let public = key.public();
        assert_eq!(public.spki_der().len(), 44);
        let digest = Sha256::digest(public.spki_der());
        assert_eq!(&public.kid().0[..], &digest[..8]);
        let again = PublicKey::from_spki_der(public.spki_der()).unwrap();
        assert_eq!(&again, public);
        assert_eq!(again.algorithm(), Algorithm::EdDsa);
    }

    #[test]
    fn sign_verify_and_tamper() {
        let key = SigningKey::generate().unwrap();
        let sig = key.sign(b"hello");
        key.public().verify(b"hello", &sig).unwrap();
        assert!(matches!(key.public().verify(b"hellO", &sig), Err(Error::SignatureInvalid)));
        assert!(matches!(key.public().verify(b"hello", &sig[..63]), Err(Error::SignatureInvalid)));
    }

    #[test]
    fn small_order_ed25519_key_is_refused() {
        // The identity point (y = 1) has order 1.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(matches!(PublicKey::from_ed25519_bytes(&identity), Err(Error::PublicKeyInvalid(_))));
    }

    #[test]
    fn p256_spki_from_ring_verifies_ring_signature() {
        use ring::rand::SystemRandom;
        use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
        let spki = crate::p256_spki_from_point(pair.public_key().as_ref());
        let public = PublicKey::from_spki_der(&spki).unwrap();
        assert_eq!(public.algorithm(), Algorithm::Es256);
        let sig = pair.sign(&rng, b"msg").unwrap();
        public.verify(b"msg", sig.as_ref()).unwrap();
        assert!(public.verify(b"msh", sig.as_ref()).is_err());
    }

    #[test]
    fn an_rsa_key_has_one_identity_whatever_its_spki_wrapping() {
        // A toy PKCS#1 RSAPublicKey (n = 0x00c5..., e = 65537): identity only, never used to verify here.
        let mut pkcs1 = vec![0x30, 0x0a, 0x02, 0x03, 0x00, 0xc5, 0x01, 0x02, 0x03, 0x01, 0x00, 0x01];
        pkcs1[1] = u8::try_from(pkcs1.len() - 2).unwrap();
        let canonical = canonical_rsa_spki(&pkcs1);
        // The same key under the RSASSA-PSS OID without parameters.
        let pss_algorithm = [0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
        let mut bits = vec![0u8];
        bits.extend_from_slice(&pkcs1);
        let mut body = pss_algorithm.to_vec();
        body.extend(der_tlv(0x03, &bits));
        let pss = der_tlv(0x30, &body);
        let a = PublicKey::from_spki_der(&canonical).unwrap();
        let b = PublicKey::from_spki_der(&pss).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.kid(), b.kid());
        assert_eq!(b.spki_der(), canonical.as_slice());
    }

    #[test]
    fn garbage_spki_is_a_typed_error() {
        assert!(matches!(PublicKey::from_spki_der(&[0x30, 0x03, 0x02, 0x01]), Err(Error::PublicKeyInvalid(_))));
    }
}
