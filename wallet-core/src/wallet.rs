//! The resident wallet: credentials kept encrypted at rest, checked offline on import, and the best one chosen
//! for a checkpoint.
//!
//! A [`Wallet`] does no I/O of its own beyond its [`WalletStorage`] and never reads the clock: `now` is a
//! parameter. Imports check each credential against a [`TrustList`] with the rules of the checkpoint's verifier
//! (signature by a trusted key with the credential's kid, the key's province equal to `iss`, the key certified for
//! the credential type with `iat` in its usage window, the certificate unexpired, the key not revoked for it).
//! These checks only tell the resident what to expect: **the checkpoint's verifier is the authority**, with its own
//! trust data, status lists and policy.
//!
//! # File format (version 1)
//!
//! | offset | size | content |
//! |---|---|---|
//! | 0 | 8 | magic `HRWALLET` |
//! | 8 | 2 | format version, big-endian (1) |
//! | 10 | 1 | KDF: 1 = PBKDF2-HMAC-SHA256 |
//! | 11 | 4 | KDF iterations, big-endian (1 to [`huren_keys::sealed::MAX_ITERATIONS`], twice the default, on read) |
//! | 15 | 16 | salt, random per file |
//! | 31 | 4 | length `n` of what follows, big-endian |
//! | 35 | n | 12-byte nonce, AES-256-GCM ciphertext, 16-byte tag |
//!
//! The 35 header bytes are the AEAD's associated data, so a change anywhere in the file fails authentication. The
//! plaintext is CBOR: `{version: 1, entries: [{qr, imported_at, trust}], device_key?: PKCS#8 PEM}`; the QR text
//! is the signed credential itself, so nothing is lost or re-derived.
//!
//! ```
//! use huren_wallet_core::store::MemoryStorage;
//! use huren_wallet_core::wallet::Wallet;
//! use huren_wallet_core::Error;
//!
//! let mut wallet = Wallet::open_with_iterations(MemoryStorage::default(), b"correct horse", 1_000)?;
//! assert!(wallet.list().is_empty());
//! wallet.save()?;
//! let stored = wallet.into_storage();
//! // The wrong passphrase is refused, and says so.
//! let err = Wallet::open(stored, b"wrong").unwrap_err();
//! assert!(matches!(err, Error::WrongPassphrase));
//! # Ok::<(), Error>(())
//! ```

use std::cmp::Reverse;

use huren_keys::cose::Sign1;
use huren_keys::sealed::{self, SealingKey, SALT_LEN};
use huren_keys::{CredentialType, KeyRefusal, SigningKey, TrustList, TrustedKey, KDF_ITERATIONS};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::store::{WalletStorage, MAX_WALLET_BYTES};
use crate::{transport, Body, Colour, Credential, Ecc, Error, QrSymbol};

/// Magic bytes at the start of a wallet file.
pub const MAGIC: &[u8; 8] = b"HRWALLET";
/// Magic bytes at the start of a pending claim-link answer (`<wallet>.pending` beside a wallet file): the wallet
/// file's header and sealing, over CBOR `{version: 1, link: SHA-256 of the link (hex), response: the answer}`.
pub const PENDING_MAGIC: &[u8; 8] = b"HRCLAIM1";
/// The wallet file format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Largest QR version [`qr_symbol`] aims for by default (77×77 modules).
pub const MAX_QR_VERSION: i16 = 15;

const KDF_PBKDF2_SHA256: u8 = 1;
const HEADER_LEN: usize = 35;
/// Contents format inside the encryption.
const CONTENTS_VERSION: u32 = 1;
/// Largest claim-link response or credential file accepted.
const MAX_IMPORT_BYTES: usize = 1024 * 1024;

/// Whether a credential no trusted key vouches for may be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportPolicy {
    /// Refuse it with [`Error::Untrusted`].
    RequireTrusted,
    /// Keep it, marked [`Trust::Untrusted`] (a checkpoint with other trust data may still accept it).
    AllowUntrusted,
}

/// What the wallet's own check found about the credential's signer, at import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Trust {
    /// Signed by a trusted key authorised for it.
    Trusted {
        /// The signing key's id, hex.
        kid: String,
        /// The province whose certificate covers the key.
        province: String,
    },
    /// No trusted key vouches for it (unknown issuer, or a key not authorised for this credential).
    Untrusted {
        /// Why, for the resident.
        reason: String,
    },
}

/// Where a credential stands at a given time, as the wallet sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Standing {
    /// Trusted and valid now.
    Valid {
        /// Until when (Unix seconds, exclusive).
        until: i64,
    },
    /// Trusted, but its validity starts later.
    NotYetValid {
        /// From when (Unix seconds).
        from: i64,
    },
    /// Trusted, but expired.
    Expired {
        /// When it expired (Unix seconds).
        at: i64,
    },
    /// Not vouched for by the trust data the wallet had at import.
    Untrusted {
        /// Why.
        reason: String,
    },
}

/// One stored credential.
#[derive(Debug, Clone)]
pub struct Entry {
    qr_text: String,
    cose: Vec<u8>,
    credential: Credential,
    trust: Trust,
    imported_at: i64,
}

impl Entry {
    /// The credential id (`cti`), lower-case hex: what [`Wallet::delete`] takes.
    pub fn id(&self) -> String {
        huren_keys::hex(&self.credential.id)
    }

    /// The decoded credential (authenticated by its signature at import, when [`Entry::trust`] says trusted).
    pub fn credential(&self) -> &Credential {
        &self.credential
    }

    /// The QR text (`HR1:...`), exactly as issued.
    pub fn qr_text(&self) -> &str {
        &self.qr_text
    }

    /// The signed credential (COSE_Sign1 bytes), e.g. for a dynamic presentation (see [`crate::presentation`]).
    pub fn cose(&self) -> &[u8] {
        &self.cose
    }

    /// What the check at import found about the signer.
    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// When it was imported (Unix seconds, as given to the import).
    pub fn imported_at(&self) -> i64 {
        self.imported_at
    }

    /// The validity period `(from, until)` ([`Credential::validity`], the rule the verifier checks).
    pub fn validity(&self) -> (i64, i64) {
        self.credential.validity()
    }

    /// Where it stands at `now`.
    pub fn standing(&self, now: i64) -> Standing {
        if let Trust::Untrusted { reason } = &self.trust {
            return Standing::Untrusted { reason: reason.clone() };
        }
        let (from, until) = self.validity();
        if now < from {
            Standing::NotYetValid { from }
        } else if now >= until {
            Standing::Expired { at: until }
        } else {
            Standing::Valid { until }
        }
    }

    /// Sort key for [`Wallet::best_for`]: smaller is better.
    fn rank(&self, now: i64) -> impl Ord {
        let tier = match self.standing(now) {
            Standing::Valid { .. } => 0u8,
            Standing::NotYetValid { .. } => 1,
            Standing::Expired { .. } => 2,
            _ => 3,
        };
        let colour = match &self.credential.body {
            Body::HealthStatus(h) => match h.colour {
                Colour::Green => 0u8,
                Colour::Amber => 2,
                Colour::Red => 3,
            },
            _ => 1,
        };
        let c = &self.credential;
        (tier, colour, Reverse(c.issued_at), Reverse(c.expires_at), c.id.clone())
    }
}

/// The result of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The credential id, hex.
    pub id: String,
    /// `false` when the wallet already held this credential id (it is not stored twice; an untrusted copy is
    /// replaced by a trusted one).
    pub added: bool,
    /// Where the credential stands at the import time.
    pub standing: Standing,
}

/// A resident's wallet. Changes stay in memory until [`Wallet::save`].
pub struct Wallet<S: WalletStorage> {
    storage: S,
    key: SealingKey,
    iterations: u32,
    salt: [u8; SALT_LEN],
    entries: Vec<Entry>,
    device_key: Option<SigningKey>,
}

impl<S: WalletStorage> std::fmt::Debug for Wallet<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Wallet({} credentials, key hidden)", self.entries.len())
    }
}

#[derive(Serialize, Deserialize)]
struct Contents {
    version: u32,
    entries: Vec<StoredEntry>,
    /// The holder device key, PKCS#8 PEM (absent until first asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    device_key: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct StoredEntry {
    qr: String,
    imported_at: i64,
    trust: Trust,
}

/// A claim-link answer kept until its credential is stored (CBOR, sealed like the wallet).
#[derive(Serialize, Deserialize)]
struct PendingClaim {
    version: u32,
    /// SHA-256 of the claim link, hex: recognises the same link given again without keeping its secret.
    link: String,
    /// The issuer's answer, as received.
    response: String,
}

/// What [`Wallet::import_claim_link`] imported (each stored when it returns).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClaimImport {
    /// The credential of an answer pending from an earlier redemption of another link, imported first.
    pub resumed: Option<Imported>,
    /// The credential behind this link (redeemed now, or pending from an earlier redemption of it).
    pub redeemed: Option<Imported>,
}

#[derive(Deserialize)]
struct ClaimResponse {
    id: String,
    qr_text: String,
    #[serde(default)]
    status: Option<String>,
}

impl<S: WalletStorage> Wallet<S> {
    /// Open the wallet in `storage` with `passphrase`; an empty storage gives an empty wallet (written at the first
    /// [`Wallet::save`], with [`KDF_ITERATIONS`]). Opening only reads: whatever fails, the storage is untouched.
    ///
    /// Errors: [`Error::WrongPassphrase`] (which is also what an altered file gives), [`Error::NotAWallet`],
    /// [`Error::WalletTruncated`], [`Error::WalletDamaged`], [`Error::Storage`].
    pub fn open(storage: S, passphrase: &[u8]) -> Result<Self, Error> {
        Self::open_with_iterations(storage, passphrase, KDF_ITERATIONS)
    }

    /// As [`Wallet::open`], with `iterations` PBKDF2 rounds for a new wallet (an existing file keeps its own). Only
    /// tests should go below [`KDF_ITERATIONS`].
    pub fn open_with_iterations(storage: S, passphrase: &[u8], iterations: u32) -> Result<Self, Error> {
        let Some(bytes) = storage.load()? else {
            let salt = sealed::random_salt()?;
            let key = SealingKey::derive(passphrase, &salt, iterations)?;
            return Ok(Wallet { storage, key, iterations, salt, entries: Vec::new(), device_key: None });
        };
        let (header, sealed_part) = parse_header(&bytes, MAGIC)?;
        let key = SealingKey::derive(passphrase, &header.salt, header.iterations)?;
        let plain = key.open(sealed_part, &bytes[..HEADER_LEN]).ok_or(Error::WrongPassphrase)?;
        let (entries, device_key) = decode_contents(&plain)?;
        Ok(Wallet { storage, key, iterations: header.iterations, salt: header.salt, entries, device_key })
    }

    /// Encrypt the wallet and write it through the storage (atomically, as the storage guarantees). A wallet
    /// larger than [`MAX_WALLET_BYTES`] is not written ([`Error::PayloadTooLarge`]). This replaces what is stored
    /// with what is in memory: where another process may write the same storage, change it through
    /// [`Wallet::update`] instead, which takes the storage's lock and reads the wallet again first.
    pub fn save(&mut self) -> Result<(), Error> {
        let device_key = match &self.device_key {
            Some(k) => Some(k.to_pkcs8_pem()?),
            None => None,
        };
        let contents = Contents {
            version: CONTENTS_VERSION,
            device_key: device_key.as_ref().map(|pem| pem.to_string()),
            entries: self
                .entries
                .iter()
                .map(|e| StoredEntry { qr: e.qr_text.clone(), imported_at: e.imported_at, trust: e.trust.clone() })
                .collect(),
        };
        let mut plain = Zeroizing::new(Vec::new());
        let written = ciborium::into_writer(&contents, &mut *plain);
        if let Some(mut pem) = contents.device_key {
            zeroize::Zeroize::zeroize(&mut pem);
        }
        written.map_err(|e| Error::WalletDamaged { reason: e.to_string() })?;
        let out = self.seal_file(MAGIC, &plain)?;
        self.storage.save(&out)
    }

    /// Seal `plain` into a file with this wallet's header (`magic`, its salt and KDF rounds) under its key: the
    /// wallet file, or a pending claim-link answer. Never makes what a later open would refuse to read.
    fn seal_file(&self, magic: &[u8; 8], plain: &[u8]) -> Result<Vec<u8>, Error> {
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(magic);
        header.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
        header.push(KDF_PBKDF2_SHA256);
        header.extend_from_slice(&self.iterations.to_be_bytes());
        header.extend_from_slice(&self.salt);
        let sealed_len = plain.len().saturating_add(sealed::NONCE_LEN + sealed::TAG_LEN);
        let len = u32::try_from(sealed_len).map_err(|_| Error::PayloadTooLarge {
            limit: usize::try_from(u32::MAX).unwrap_or(usize::MAX),
            what: "bytes of wallet contents",
        })?;
        header.extend_from_slice(&len.to_be_bytes());
        let sealed_part = self.key.seal(plain, &header)?;
        let mut out = header;
        out.extend_from_slice(&sealed_part);
        if u64::try_from(out.len()).map_or(true, |n| n > MAX_WALLET_BYTES) {
            let limit = usize::try_from(MAX_WALLET_BYTES).unwrap_or(usize::MAX);
            return Err(Error::PayloadTooLarge { limit, what: "bytes in a wallet file" });
        }
        Ok(out)
    }

    /// Open a file [`Wallet::seal_file`] made with `magic`: with this wallet's key when the header has its salt
    /// and rounds (no key derivation), else with a key derived from `passphrase`, returned beside the plaintext
    /// with the header it belongs to.
    #[allow(clippy::type_complexity)]
    fn unseal(
        &self,
        bytes: &[u8],
        magic: &[u8; 8],
        passphrase: &[u8],
    ) -> Result<(Zeroizing<Vec<u8>>, Option<(SealingKey, Header)>), Error> {
        let (header, sealed_part) = parse_header(bytes, magic)?;
        let aad = bytes.get(..HEADER_LEN).ok_or(Error::WalletTruncated { expected: HEADER_LEN, found: bytes.len() })?;
        if header.salt == self.salt && header.iterations == self.iterations {
            let plain = self.key.open(sealed_part, aad).ok_or(Error::WrongPassphrase)?;
            return Ok((plain, None));
        }
        let key = SealingKey::derive(passphrase, &header.salt, header.iterations)?;
        let plain = key.open(sealed_part, aad).ok_or(Error::WrongPassphrase)?;
        Ok((plain, Some((key, header))))
    }

    /// Replace what is in memory with the wallet as stored now (another process may have saved since it was
    /// opened). A wallet file that no longer exists reads as an empty wallet.
    fn reload(&mut self, passphrase: &[u8]) -> Result<(), Error> {
        let Some(bytes) = self.storage.load()? else {
            self.entries.clear();
            self.device_key = None;
            return Ok(());
        };
        let (plain, rekeyed) = self.unseal(&bytes, MAGIC, passphrase)?;
        let (entries, device_key) = decode_contents(&plain)?;
        if let Some((key, header)) = rekeyed {
            self.key = key;
            self.salt = header.salt;
            self.iterations = header.iterations;
        }
        self.entries = entries;
        self.device_key = device_key;
        Ok(())
    }

    /// Change the wallet as it is stored now, and save the result, with no other writer in between: under the
    /// storage's write lock ([`WalletStorage::lock`]) the wallet is read again (what other processes saved since
    /// it was opened is kept, and unsaved changes made here before are dropped), `change` runs, and the result is
    /// saved. Whatever `change` returns is only returned once the save succeeded; on any error nothing is saved.
    ///
    /// `passphrase` is only used when the stored file was made with another salt than the one this wallet was
    /// opened with (it did not exist then, say).
    pub fn update<T, E: From<Error>>(
        &mut self,
        passphrase: &[u8],
        change: impl FnOnce(&mut Self) -> Result<T, E>,
    ) -> Result<T, E> {
        let _lock = self.storage.lock()?;
        self.reload(passphrase)?;
        let value = change(self)?;
        self.save()?;
        Ok(value)
    }

    /// The credentials, sorted by issuer, then expiry, then id.
    pub fn list(&self) -> &[Entry] {
        &self.entries
    }

    /// The credential to show at a checkpoint accepting `accepted` types (`None`: any): a trusted, currently valid
    /// one first (then not-yet-valid, then expired, then untrusted); among those a green health status, then other
    /// credential types, then amber, then red; then the most recently issued. `None` when no entry has an accepted
    /// type. Check [`Entry::standing`] before presenting it as valid.
    pub fn best_for(&self, now: i64, accepted: Option<&[CredentialType]>) -> Option<&Entry> {
        self.entries
            .iter()
            .filter(|e| accepted.is_none_or(|types| types.contains(&e.credential.credential_type())))
            .min_by_key(|e| e.rank(now))
    }

    /// Remove the credential with this id (hex, any case) and return it. Call [`Wallet::save`] to persist.
    pub fn delete(&mut self, id: &str) -> Result<Entry, Error> {
        let wanted = id.trim().to_ascii_lowercase();
        let position = self
            .entries
            .iter()
            .position(|e| e.id() == wanted)
            .ok_or_else(|| Error::NotInWallet { id: id.trim().to_string() })?;
        Ok(self.entries.remove(position))
    }

    /// Import a credential from its QR text (`HR1:...`), checked against `trust` at `now`.
    ///
    /// A signature that no trusted key with the credential's kid verifies is refused ([`Error::SignatureRejected`]);
    /// a credential no trusted key vouches for is refused under [`ImportPolicy::RequireTrusted`]
    /// ([`Error::Untrusted`]) and kept, marked untrusted, under [`ImportPolicy::AllowUntrusted`]. A credential id
    /// already in the wallet is not stored twice.
    pub fn import_qr(
        &mut self,
        text: &str,
        trust: &TrustList,
        now: i64,
        policy: ImportPolicy,
    ) -> Result<Imported, Error> {
        let entry = examine(text, trust, now, policy)?;
        Ok(self.insert(entry, now))
    }

    /// Import from a file's bytes: UTF-8 text with one `HR1:` code per line (blank lines ignored), or a claim-link
    /// response (JSON). All codes are checked before any is added: one failure imports nothing (in a file of
    /// several codes the error is [`Error::ImportLine`]). Images are the caller's job: decode them to text first.
    pub fn import_file(
        &mut self,
        bytes: &[u8],
        trust: &TrustList,
        now: i64,
        policy: ImportPolicy,
    ) -> Result<Vec<Imported>, Error> {
        if bytes.len() > MAX_IMPORT_BYTES {
            return Err(Error::PayloadTooLarge { limit: MAX_IMPORT_BYTES, what: "bytes in a credential file" });
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|_| Error::Invalid("the file is not UTF-8 text (decode images to QR text first)".into()))?;
        let text = text.trim_start_matches('\u{feff}').trim();
        if text.starts_with('{') {
            return Ok(vec![self.import_claim_response(text.as_bytes(), trust, now, policy)?]);
        }
        let lines: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i.saturating_add(1), l.trim()))
            .filter(|(_, l)| !l.is_empty())
            .collect();
        if lines.is_empty() {
            return Err(Error::Invalid("the file holds no QR text".into()));
        }
        let several = lines.len() > 1;
        let mut entries = Vec::with_capacity(lines.len());
        for (line, code) in lines {
            match examine(code, trust, now, policy) {
                Ok(entry) => entries.push(entry),
                Err(source) if several => return Err(Error::ImportLine { line, source: Box::new(source) }),
                Err(e) => return Err(e),
            }
        }
        Ok(entries.into_iter().map(|entry| self.insert(entry, now)).collect())
    }

    /// Import the body of a claim-link redemption (the issuer's `GET /v1/claim/{secret}` answer:
    /// `{"id", "qr_text", "status"}`). Fetching it is the caller's job. The response's id must be the
    /// credential's, and a credential the issuer reports as revoked is refused.
    pub fn import_claim_response(
        &mut self,
        body: &[u8],
        trust: &TrustList,
        now: i64,
        policy: ImportPolicy,
    ) -> Result<Imported, Error> {
        if body.len() > MAX_IMPORT_BYTES {
            return Err(Error::PayloadTooLarge { limit: MAX_IMPORT_BYTES, what: "bytes in a claim-link response" });
        }
        let response: ClaimResponse = serde_json::from_slice(body)
            .map_err(|e| Error::ClaimResponse(format!("not a claim-link redemption response: {e}")))?;
        if response.status.as_deref() == Some("revoked") {
            return Err(Error::ClaimResponse("the issuer reports this credential as revoked".into()));
        }
        let entry = examine(&response.qr_text, trust, now, policy)?;
        if !response.id.eq_ignore_ascii_case(&entry.id()) {
            return Err(Error::ClaimResponse(format!(
                "the response names credential {} but its code holds {}",
                response.id,
                entry.id()
            )));
        }
        Ok(self.insert(entry, now))
    }

    /// Import the credential behind a claim link, spending the link only when nothing else can stop the import,
    /// and keeping the issuer's answer until the credential is stored.
    ///
    /// In order, under the storage's write lock ([`WalletStorage::lock`]), with the wallet read again:
    /// 1. Under [`ImportPolicy::RequireTrusted`], `trust` must vouch for some issuer key at `now`
    ///    ([`Error::TrustUnusable`]; checked before the lock).
    /// 2. An answer pending from an earlier redemption (see below) is imported first. When it was this same link
    ///    (its SHA-256 is kept, not the link), that is the whole import: the link is not redeemed again.
    /// 3. The wallet is saved as it is: the check that its location is writable (and the pending import's save).
    /// 4. `redeem` fetches the answer (the link is spent from here on); its error is [`Error::Redeem`].
    /// 5. The answer is sealed with the wallet's passphrase and kept ([`WalletStorage::save_pending`]), then
    ///    imported as [`Wallet::import_claim_response`] does, the wallet saved, and the kept answer removed.
    ///
    /// When step 5 fails after the answer was kept, the error says what became of it:
    /// [`Error::ClaimPending`] when it may still be imported (the save failed, or the trust data does not vouch for
    /// it: [`Error::Untrusted`]); the next call (same link or another) or [`Wallet::resume_claim`] finishes it,
    /// without the issuer. [`Error::ClaimUnusable`] when the answer itself can never be imported (not a claim
    /// answer, revoked, forged, another credential than it names): it is not kept, so it is not tried forever.
    /// [`Error::ClaimNotKept`] when neither keeping it nor saving the wallet worked (it carries the QR text).
    /// While a pending answer of another link cannot be imported, this link is not redeemed
    /// ([`Error::ClaimBlocked`]): there is room for one answer.
    pub fn import_claim_link(
        &mut self,
        passphrase: &[u8],
        link: &str,
        trust: &TrustList,
        now: i64,
        policy: ImportPolicy,
        redeem: impl FnOnce() -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>>,
    ) -> Result<ClaimImport, Error> {
        if policy == ImportPolicy::RequireTrusted {
            check_trust(trust, now)?;
        }
        let _lock = self.storage.lock()?;
        self.reload(passphrase)?;
        let link = link_digest(link);
        let mut outcome = ClaimImport { resumed: None, redeemed: None };
        if let Some(pending) = self.pending_answer(passphrase)? {
            let same_link = pending.link == link;
            // Its save is also the check below (the wallet's location takes a save).
            let finished = self.import_pending(&pending, trust, now, policy).and_then(|item| {
                self.save().map_err(|e| Error::ClaimPending { source: Box::new(e) })?;
                Ok(item)
            });
            let item = match finished {
                Ok(item) => item,
                Err(e) if same_link => return Err(e),
                // Not this link's answer: this link stays unspent until the earlier one is dealt with.
                Err(e) => return Err(Error::ClaimBlocked { source: Box::new(e) }),
            };
            self.forget_pending();
            if same_link {
                outcome.redeemed = Some(item);
                return Ok(outcome);
            }
            outcome.resumed = Some(item);
        } else {
            // The last thing that can fail before the link is spent: the wallet's location must take a save.
            self.save()?;
        }

        let body = redeem().map_err(Error::Redeem)?;
        let kept = self.keep_pending(&link, &body);
        let item = match self.import_claim_response(&body, trust, now, policy) {
            Ok(item) => item,
            Err(e) if !retryable(&e) => {
                self.forget_pending();
                return Err(Error::ClaimUnusable { source: Box::new(e) });
            }
            Err(e) => return Err(self.not_stored(kept, &body, e)),
        };
        if let Err(e) = self.save() {
            return Err(self.not_stored(kept, &body, e));
        }
        self.forget_pending();
        outcome.redeemed = Some(item);
        Ok(outcome)
    }

    /// Finish the import of a claim-link answer pending from an earlier [`Wallet::import_claim_link`], without the
    /// issuer: `None` when none is pending. Errors as for the pending answer there.
    pub fn resume_claim(
        &mut self,
        passphrase: &[u8],
        trust: &TrustList,
        now: i64,
        policy: ImportPolicy,
    ) -> Result<Option<Imported>, Error> {
        let _lock = self.storage.lock()?;
        self.reload(passphrase)?;
        let Some(pending) = self.pending_answer(passphrase)? else { return Ok(None) };
        let item = self.import_pending(&pending, trust, now, policy)?;
        self.save().map_err(|e| Error::ClaimPending { source: Box::new(e) })?;
        self.forget_pending();
        Ok(Some(item))
    }

    /// Whether a claim-link answer is pending import (see [`Wallet::import_claim_link`]).
    pub fn has_pending_claim(&self) -> Result<bool, Error> {
        Ok(self.storage.load_pending()?.is_some())
    }

    /// The device key, made and saved (under the storage's lock, with the wallet read again) only when the
    /// stored wallet has none yet: a wallet that has one is not written.
    pub fn ensure_device_key(&mut self, passphrase: &[u8]) -> Result<&SigningKey, Error> {
        if self.device_key.is_none() {
            let _lock = self.storage.lock()?;
            // Another process may have made one since this wallet was opened: that one is the wallet's key.
            self.reload(passphrase)?;
            if self.device_key.is_none() {
                self.device_key = Some(SigningKey::generate()?);
                if let Err(e) = self.save() {
                    // Never hand out a key that is not stored: an issuer could bind a credential to it.
                    self.device_key = None;
                    return Err(e);
                }
            }
        }
        self.device_key()
    }

    /// The pending claim-link answer, opened.
    fn pending_answer(&self, passphrase: &[u8]) -> Result<Option<PendingClaim>, Error> {
        let unreadable = |e: Error| Error::PendingUnreadable { source: Box::new(e) };
        let Some(bytes) = self.storage.load_pending()? else { return Ok(None) };
        let (plain, _) = self.unseal(&bytes, PENDING_MAGIC, passphrase).map_err(unreadable)?;
        let pending: PendingClaim = ciborium::from_reader(plain.as_slice())
            .map_err(|e| unreadable(Error::WalletDamaged { reason: format!("contents do not decode: {e}") }))?;
        if pending.version != CONTENTS_VERSION {
            let reason = format!("contents version {} not supported", pending.version);
            return Err(unreadable(Error::WalletDamaged { reason }));
        }
        Ok(Some(pending))
    }

    /// Import a pending answer into memory. One the trust data does not vouch for stays pending; one that can
    /// never be imported is forgotten, so it is reported once rather than tried forever.
    fn import_pending(
        &mut self,
        pending: &PendingClaim,
        trust: &TrustList,
        now: i64,
        policy: ImportPolicy,
    ) -> Result<Imported, Error> {
        match self.import_claim_response(pending.response.as_bytes(), trust, now, policy) {
            Ok(item) => Ok(item),
            Err(e) if retryable(&e) => Err(Error::ClaimPending { source: Box::new(e) }),
            Err(e) => {
                self.forget_pending();
                Err(Error::ClaimUnusable { source: Box::new(e) })
            }
        }
    }

    /// Seal and keep a redeemed answer until its credential is stored.
    fn keep_pending(&mut self, link: &str, body: &[u8]) -> Result<(), Error> {
        let response = String::from_utf8(body.to_vec())
            .map_err(|_| Error::ClaimResponse("the answer is not UTF-8 JSON".into()))?;
        let pending = PendingClaim { version: CONTENTS_VERSION, link: link.to_string(), response };
        let mut plain = Zeroizing::new(Vec::new());
        ciborium::into_writer(&pending, &mut *plain).map_err(|e| Error::WalletDamaged { reason: e.to_string() })?;
        let sealed = self.seal_file(PENDING_MAGIC, &plain)?;
        self.storage.save_pending(&sealed)
    }

    /// Remove the pending answer once its credential is stored (or can never be). A failure here is harmless: the
    /// next claim import finds the credential already in the wallet and tries the removal again.
    fn forget_pending(&mut self) {
        let _ = self.storage.remove_pending();
    }

    /// The error for a redeemed answer whose credential is not stored: pending when it was kept, else carrying
    /// its QR text, the one copy left.
    fn not_stored(&self, kept: Result<(), Error>, body: &[u8], source: Error) -> Error {
        match kept {
            Ok(()) => Error::ClaimPending { source: Box::new(source) },
            Err(keeping) => {
                let qr_text = serde_json::from_slice::<ClaimResponse>(body).map(|r| r.qr_text).unwrap_or_default();
                Error::ClaimNotKept { qr_text, source: Box::new(source), keeping: Box::new(keeping) }
            }
        }
    }

    /// The holder device key that dynamic codes are signed with (see [`crate::presentation`]): generated on
    /// first use and kept, encrypted, in the wallet (call [`Wallet::save`] to persist a new one). Its public half
    /// is what an issuer binds a credential to.
    pub fn device_key(&mut self) -> Result<&SigningKey, Error> {
        if self.device_key.is_none() {
            self.device_key = Some(SigningKey::generate()?);
        }
        self.device_key.as_ref().ok_or_else(|| Error::Invalid("no device key".into()))
    }

    /// The storage, given back (the wallet is closed; unsaved changes are dropped).
    pub fn into_storage(self) -> S {
        self.storage
    }

    fn insert(&mut self, entry: Entry, now: i64) -> Imported {
        let id = entry.id();
        let standing = entry.standing(now);
        if let Some(existing) = self.entries.iter_mut().find(|e| e.credential.id == entry.credential.id) {
            let upgrade =
                matches!(existing.trust, Trust::Untrusted { .. }) && matches!(entry.trust, Trust::Trusted { .. });
            if upgrade {
                *existing = entry;
            }
            return Imported { id, added: false, standing: existing.standing(now) };
        }
        self.entries.push(entry);
        self.entries.sort_by(|a, b| {
            let key = |e: &Entry| (e.credential.issuer.clone(), e.credential.expires_at, e.credential.id.clone());
            key(a).cmp(&key(b))
        });
        Imported { id, added: true, standing }
    }
}

/// Check that `trust` vouches for at least one issuer key at `now` (certificate and bundle unexpired): trust data
/// that cannot vouch for anything would refuse every credential, so a claim link is not spent on it.
pub fn check_trust(trust: &TrustList, now: i64) -> Result<(), Error> {
    let usable = |key: &TrustedKey| now <= key.certificate.expires && key.bundle_expires.is_none_or(|e| now < e);
    if trust.keys().iter().any(usable) {
        return Ok(());
    }
    Err(Error::TrustUnusable { at: now, keys: trust.keys().len() })
}

/// Whether an import error may go away with other trust data or policy (so a redeemed answer is worth keeping).
fn retryable(error: &Error) -> bool {
    matches!(error, Error::Untrusted { .. })
}

/// SHA-256 of a claim link, hex.
fn link_digest(link: &str) -> String {
    use sha2::Digest;
    huren_keys::hex(&sha2::Sha256::digest(link.trim().as_bytes()))
}

/// Decode and check one QR text into an entry, applying the policy.
fn examine(text: &str, trust: &TrustList, now: i64, policy: ImportPolicy) -> Result<Entry, Error> {
    let text = text.trim();
    let cose = transport::decode(text, &transport::Limits::default())?;
    let sign1 = Sign1::parse(&cose)?;
    let (credential, verdict) = check_signer(&sign1, trust, now)?;
    if let (Trust::Untrusted { reason }, ImportPolicy::RequireTrusted) = (&verdict, policy) {
        return Err(Error::Untrusted { reason: reason.clone() });
    }
    Ok(Entry { qr_text: text.to_string(), cose, credential, trust: verdict, imported_at: now })
}

/// The verifier's signer rule ([`TrustList::authorised_signer`]): a credential a trusted key signed but may not
/// have signed is kept only as untrusted, with the reason in the wallet's words.
fn check_signer(sign1: &Sign1, trust: &TrustList, now: i64) -> Result<(Credential, Trust), Error> {
    use huren_keys::SignerRefusal;
    let found = trust.authorised_signer(sign1, &Default::default(), now, Credential::from_claims, Credential::claimed);
    match found {
        Ok((credential, key)) => {
            let province = key.certificate.province.clone();
            Ok((credential, Trust::Trusted { kid: key.certificate.public_key.kid().to_hex(), province }))
        }
        Err(SignerRefusal::Unauthorised { decoded, refusal }) => {
            Ok((decoded, Trust::Untrusted { reason: refusal_reason(&refusal) }))
        }
        Err(SignerRefusal::Undecodable(e)) => Err(e),
        Err(SignerRefusal::KidUnknown) => {
            // Nobody to check the signature against: decode for display, marked untrusted.
            let credential = Credential::from_claims(sign1.unverified_payload())?;
            let kid = huren_keys::hex(sign1.kid());
            let reason = format!("no trusted key has kid {kid} (unknown issuer {})", credential.issuer);
            Ok((credential, Trust::Untrusted { reason }))
        }
        Err(_) => Err(Error::SignatureRejected { kid: huren_keys::hex(sign1.kid()) }),
    }
}

/// Why a trusted key may not have signed a credential, in the wallet's words.
fn refusal_reason(refusal: &KeyRefusal) -> String {
    match refusal {
        KeyRefusal::ProvinceMismatch { issuer, key_province } => {
            format!("signed by a key of {key_province}, but issued in the name of {issuer}")
        }
        KeyRefusal::TypeNotCertified { credential_type } => {
            format!("the signing key is not certified for {} credentials", credential_type.name())
        }
        KeyRefusal::OutsideUsageWindow { issued_at, usage_from, usage_until } => {
            format!("issued at {issued_at} outside the signing key's usage window {usage_from}..{usage_until}")
        }
        KeyRefusal::CertificateExpired { expires } => format!("the signing key's certificate expired at {expires}"),
        KeyRefusal::Revoked { issued_after, .. } => {
            format!("the signing key was revoked for credentials issued after {issued_after}")
        }
        KeyRefusal::BundleExpired { province, expired } => {
            format!("the trust data for {province} expired at {expired}; update it")
        }
        other => format!("the signing key may not have signed it ({other:?})"),
    }
}

struct Header {
    iterations: u32,
    salt: [u8; SALT_LEN],
}

/// Check the header and split off the sealed part. Never derives a key for a file that is not a wallet.
fn parse_header<'b>(bytes: &'b [u8], magic: &[u8; 8]) -> Result<(Header, &'b [u8]), Error> {
    let truncated = |expected: usize| Error::WalletTruncated { expected, found: bytes.len() };
    let magic_len = magic.len().min(bytes.len());
    if bytes[..magic_len] != magic[..magic_len] {
        let what = if magic == MAGIC { "the wallet" } else { "a pending claim-link answer" };
        return Err(Error::NotAWallet { reason: format!("the file does not start with {what}'s magic bytes") });
    }
    if bytes.len() < HEADER_LEN {
        return Err(truncated(HEADER_LEN));
    }
    let be16 = |at: usize| u16::from_be_bytes([bytes[at], bytes[at + 1]]);
    let be32 = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let version = be16(8);
    if version != FORMAT_VERSION {
        return Err(Error::NotAWallet {
            reason: format!("format version {version} (this build reads version {FORMAT_VERSION})"),
        });
    }
    if bytes[10] != KDF_PBKDF2_SHA256 {
        return Err(Error::NotAWallet { reason: format!("unknown key derivation {}", bytes[10]) });
    }
    let iterations = be32(11);
    if iterations == 0 || iterations > sealed::MAX_ITERATIONS {
        return Err(Error::WalletDamaged {
            reason: format!("{iterations} KDF iterations (accepted: 1 to {})", sealed::MAX_ITERATIONS),
        });
    }
    let mut salt = [0u8; SALT_LEN];
    salt.copy_from_slice(&bytes[15..15 + SALT_LEN]);
    let sealed_len = usize::try_from(be32(31)).unwrap_or(usize::MAX);
    let rest = &bytes[HEADER_LEN..];
    if sealed_len < sealed::NONCE_LEN + sealed::TAG_LEN {
        return Err(Error::WalletDamaged { reason: format!("encrypted part of {sealed_len} bytes is too short") });
    }
    if rest.len() < sealed_len {
        return Err(truncated(HEADER_LEN.saturating_add(sealed_len)));
    }
    if rest.len() > sealed_len {
        return Err(Error::WalletDamaged {
            reason: format!("{} bytes after the end of the encrypted part", rest.len() - sealed_len),
        });
    }
    Ok((Header { iterations, salt }, rest))
}

fn decode_contents(plain: &[u8]) -> Result<(Vec<Entry>, Option<SigningKey>), Error> {
    let damaged = |reason: String| Error::WalletDamaged { reason };
    let mut contents: Contents =
        ciborium::from_reader(plain).map_err(|e| damaged(format!("contents do not decode: {e}")))?;
    let device_key = match contents.device_key.take().map(Zeroizing::new) {
        Some(pem) => Some(SigningKey::from_pkcs8_pem(&pem).map_err(|e| damaged(format!("device key: {e}")))?),
        None => None,
    };
    if contents.version != CONTENTS_VERSION {
        return Err(damaged(format!("contents version {} not supported", contents.version)));
    }
    let entries = contents
        .entries
        .into_iter()
        .map(|stored| {
            // The wallet checked this code when importing it and the encryption authenticates it since. Read
            // leniently: an untrusted code kept by an older version may predate the one-encoding rule for COSE
            // envelopes; a checkpoint refuses such a code, but the wallet must still open.
            let cose = transport::decode(&stored.qr, &transport::Limits::default())?;
            let credential = Credential::from_claims(Sign1::parse_lenient(&cose)?.unverified_payload())?;
            Ok(Entry { qr_text: stored.qr, cose, credential, trust: stored.trust, imported_at: stored.imported_at })
        })
        .collect::<Result<Vec<_>, Error>>()
        .map_err(|e| damaged(format!("a stored credential does not decode: {e}")))?;
    Ok((entries, device_key))
}

/// The QR symbol for `text` at the highest error-correction level (H, Q, M, then L) that keeps it at or below
/// `max_version` ([`MAX_QR_VERSION`] is a good default), with the level chosen; when even L needs a larger
/// version, the L symbol. An error only when the text fits no QR symbol at all.
pub fn qr_symbol(text: &str, max_version: i16) -> Result<(Ecc, QrSymbol), Error> {
    for ecc in [Ecc::H, Ecc::Q, Ecc::M] {
        if let Ok(symbol) = QrSymbol::new(text, ecc) {
            if symbol.version() <= max_version {
                return Ok((ecc, symbol));
            }
        }
    }
    Ok((Ecc::L, QrSymbol::new(text, Ecc::L)?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::MemoryStorage;
    use huren_keys::dangerous;

    /// A wallet kept by a version from before the one-encoding rule may hold an untagged COSE_Sign1: the wallet
    /// must still open and show it, while a new import (like a checkpoint) refuses that encoding.
    #[test]
    fn a_stored_code_in_an_older_encoding_still_opens_but_is_not_imported_again() {
        let now = 1_800_000_000;
        let key = dangerous::signing_key_from_seed(&[5; 32]).unwrap();
        let credential: Credential = serde_json::from_value(serde_json::json!({
            "issuer": "CN-GD", "issued_at": now - 60, "expires_at": now + 86_400, "id": "0505050505050505",
            "subject": { "name": "张三", "masked_id": "4403**********1234" },
            "body": { "type": "health-status", "colour": "green", "reason": "no-risk" },
        }))
        .unwrap();
        let cose = credential.sign(&key).unwrap();
        assert_eq!(cose[0], 0xD2, "a Huren credential carries COSE tag 18");
        let untagged = transport::encode(&cose[1..]);
        let nobody = dangerous::trust_list_from_unverified(Vec::new());
        let refused = examine(&untagged, &nobody, now, ImportPolicy::AllowUntrusted);
        assert!(refused.is_err(), "an untagged envelope is not a Huren document's one encoding");

        let mut wallet = Wallet::open_with_iterations(MemoryStorage::default(), b"pass", 1).unwrap();
        wallet.import_qr(&transport::encode(&cose), &nobody, now, ImportPolicy::AllowUntrusted).unwrap();
        // What an older version would have written: the same entry with the untagged code.
        wallet.entries[0].qr_text.clone_from(&untagged);
        wallet.save().unwrap();

        let reopened = Wallet::open(wallet.into_storage(), b"pass").unwrap();
        assert_eq!(reopened.list().len(), 1);
        assert_eq!(reopened.list()[0].qr_text(), untagged);
        assert_eq!(reopened.list()[0].credential(), &credential);
    }
}
