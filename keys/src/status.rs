//! Status lists: which of a province's credentials are revoked or suspended, signed by the province's issuer key
//! and checked offline.
//!
//! A list holds 2 bits per credential index (0 valid, 1 revoked, 2 suspended, 3 reserved). In memory it is a dense
//! array ([`StatusBits`], O(1) lookup: index `i` is bits `2*(i%4)..2*(i%4)+2` of byte `i/4`, least significant
//! first). On the wire only the entries that are not valid are written, in index order, each as the gap from the
//! previous one in Golomb-Rice code plus a prefix code for its status; at national scale (1 % of 100 million
//! revoked at random) that is within ~1.15x of the entropy bound, where DEFLATE over the dense array is about 2x.
//! A delta carries the changed entries from one version to the next in the same code, plus the SHA-256 of the
//! dense array it must produce, so a verifier that applies it to the wrong base notices and syncs in full.
//! docs/format.md gives the bytes.

use ciborium::Value;
use sha2::{Digest, Sha256};

use crate::cbor::{self, IntMap};
use crate::{cose, Error, Signer, TrustList, Verified};

/// Protected content type of a signed status list.
pub const STATUS_LIST_CONTENT_TYPE: &str = "huren/statuslist";
/// Protected content type of a signed status delta.
pub const STATUS_DELTA_CONTENT_TYPE: &str = "huren/statusdelta";
/// Most entries a status list may have: 2^27 (134 million; 32 MiB in memory).
pub const MAX_STATUS_ENTRIES: u64 = 1 << 27;
/// Largest signed status document accepted, in bytes.
pub const MAX_STATUS_DOCUMENT_BYTES: usize = 48 * 1024 * 1024;
/// Longest time-to-live a status document may claim: 7 days. A list is republished well within its time-to-live;
/// a longer one would let a leaked key's list stay "current" on verifiers for that long.
pub const MAX_STATUS_TTL: i64 = 7 * 86_400;
/// Most changes a delta may carry (2^22): a bigger change set travels as a full list, and a verifier never holds
/// more than 64 MiB of decoded changes.
pub const MAX_DELTA_CHANGES: u64 = 1 << 22;
/// Largest Golomb-Rice parameter accepted (gaps are below 2^27).
const MAX_RICE_K: u64 = 32;

/// A credential's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Not revoked or suspended.
    Valid,
    /// Revoked for good.
    Revoked,
    /// Suspended; may be reinstated.
    Suspended,
    /// Reserved for a future meaning; verifiers treat it as not valid.
    Reserved,
}

impl Status {
    /// The 2-bit value.
    pub fn bits(self) -> u8 {
        match self {
            Status::Valid => 0,
            Status::Revoked => 1,
            Status::Suspended => 2,
            Status::Reserved => 3,
        }
    }

    /// The status of a 2-bit value (higher bits ignored).
    pub fn from_bits(bits: u8) -> Status {
        match bits & 3 {
            0 => Status::Valid,
            1 => Status::Revoked,
            2 => Status::Suspended,
            _ => Status::Reserved,
        }
    }
}

/// A dense array of 2-bit statuses: O(1) lookup and update.
#[derive(Clone, PartialEq, Eq)]
pub struct StatusBits {
    len: u64,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for StatusBits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StatusBits({} entries, {} not valid)", self.len, self.non_valid().count())
    }
}

impl StatusBits {
    /// `len` entries, all valid (`len` at most [`MAX_STATUS_ENTRIES`]).
    pub fn new(len: u64) -> Result<Self, Error> {
        if len > MAX_STATUS_ENTRIES {
            return Err(Error::TooLarge(format!("a status list of {len} entries (at most {MAX_STATUS_ENTRIES})")));
        }
        let bytes = usize::try_from(len.div_ceil(4)).map_err(|_| Error::TooLarge("status list".into()))?;
        Ok(StatusBits { len, bytes: vec![0; bytes] })
    }

    /// Number of entries.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn position(&self, index: u64) -> Option<(usize, u32)> {
        if index >= self.len {
            return None;
        }
        let byte = usize::try_from(index / 4).ok()?;
        let shift = u32::try_from(index % 4).ok()? * 2;
        Some((byte, shift))
    }

    /// The status at `index`, or `None` past the end.
    pub fn get(&self, index: u64) -> Option<Status> {
        let (byte, shift) = self.position(index)?;
        self.bytes.get(byte).map(|b| Status::from_bits(b >> shift))
    }

    /// Set the status at `index` (an index past the end is an error).
    pub fn set(&mut self, index: u64, status: Status) -> Result<(), Error> {
        let (byte, shift) = self
            .position(index)
            .ok_or_else(|| Error::DocumentInvalid(format!("status index {index} past the list's {}", self.len)))?;
        let slot = self.bytes.get_mut(byte).ok_or_else(|| Error::DocumentInvalid("status index".into()))?;
        *slot = (*slot & !(3 << shift)) | (status.bits() << shift);
        Ok(())
    }

    /// The packed bytes (entry `i` in byte `i/4`, bits `2*(i%4)` and up).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// SHA-256 of the packed bytes.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(&self.bytes).into()
    }

    /// The entries that are not valid, in index order (zero words are skipped eight bytes at a time).
    pub fn non_valid(&self) -> impl Iterator<Item = (u64, Status)> + '_ {
        self.bytes.chunks(8).enumerate().filter(|(_, word)| word.iter().any(|&b| b != 0)).flat_map(|(w, word)| {
            word.iter().enumerate().filter(|(_, &b)| b != 0).flat_map(move |(i, &b)| {
                let base = (u64::try_from(w * 8 + i).unwrap_or(u64::MAX)) * 4;
                (0..4u32).filter_map(move |slot| {
                    let status = Status::from_bits(b >> (slot * 2));
                    (status != Status::Valid).then_some((base + u64::from(slot), status))
                })
            })
        })
    }

    /// The entries whose status differs in `newer` (same length), with their new status, in index order.
    fn changes_to(&self, newer: &StatusBits) -> Vec<(u64, Status)> {
        let mut changes = Vec::new();
        for (w, (old, new)) in self.bytes.chunks(8).zip(newer.bytes.chunks(8)).enumerate() {
            if old == new {
                continue;
            }
            for (i, (&a, &b)) in old.iter().zip(new).enumerate() {
                for slot in 0..4u32 {
                    let (x, y) = ((a >> (slot * 2)) & 3, (b >> (slot * 2)) & 3);
                    if x != y {
                        let index = u64::try_from(w * 8 + i).unwrap_or(u64::MAX) * 4 + u64::from(slot);
                        changes.push((index, Status::from_bits(y)));
                    }
                }
            }
        }
        changes
    }
}

/// MSB-first bit writer for the run code.
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    current: u8,
    used: u32,
}

impl BitWriter {
    fn bit(&mut self, one: bool) {
        self.current = (self.current << 1) | u8::from(one);
        self.used += 1;
        if self.used == 8 {
            self.out.push(self.current);
            (self.current, self.used) = (0, 0);
        }
    }

    fn bits(&mut self, value: u64, count: u64) {
        for i in (0..count).rev() {
            self.bit((value >> i) & 1 == 1);
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.used > 0 {
            self.out.push(self.current << (8 - self.used));
        }
        self.out
    }
}

struct BitReader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl BitReader<'_> {
    fn bit(&mut self) -> Result<bool, Error> {
        let byte = self.bytes.get(self.position / 8).ok_or_else(|| bad("status code ends early"))?;
        let bit = (byte >> (7 - self.position % 8)) & 1 == 1;
        self.position += 1;
        Ok(bit)
    }

    fn bits(&mut self, count: u64) -> Result<u64, Error> {
        let mut value = 0;
        for _ in 0..count {
            value = (value << 1) | u64::from(self.bit()?);
        }
        Ok(value)
    }

    /// After the last entry: only zero padding to the end of the last byte, and no further byte.
    fn finish(self) -> Result<(), Error> {
        let end = self.position.div_ceil(8);
        if end != self.bytes.len() {
            return Err(bad("bytes after the last status entry"));
        }
        let used = self.position % 8;
        let padding = if used == 0 { 0 } else { self.bytes.last().map_or(0, |b| b & (0xFF >> used)) };
        if padding != 0 {
            return Err(bad("non-zero padding after the last status entry"));
        }
        Ok(())
    }
}

fn bad(message: &str) -> Error {
    Error::DocumentInvalid(format!("status list: {message}"))
}

/// Prefix code of a status in the run code: revoked `0`, suspended `10`, valid `110`, reserved `111` (revocations
/// are the common case).
fn write_status(w: &mut BitWriter, status: Status) {
    match status {
        Status::Revoked => w.bits(0b0, 1),
        Status::Suspended => w.bits(0b10, 2),
        Status::Valid => w.bits(0b110, 3),
        Status::Reserved => w.bits(0b111, 3),
    }
}

fn read_status(r: &mut BitReader<'_>) -> Result<Status, Error> {
    if !r.bit()? {
        return Ok(Status::Revoked);
    }
    if !r.bit()? {
        return Ok(Status::Suspended);
    }
    Ok(if r.bit()? { Status::Reserved } else { Status::Valid })
}

/// The gaps between consecutive entries (from -1 for the first).
fn gaps<I: Iterator<Item = (u64, Status)>>(entries: I) -> impl Iterator<Item = (u64, Status)> {
    let mut next = 0u64;
    entries.map(move |(index, status)| {
        let gap = index.saturating_sub(next);
        next = index.saturating_add(1);
        (gap, status)
    })
}

/// Run code of entries in strictly increasing index order: (rice parameter, count, bytes). `entries` is called
/// twice (once to choose the parameter, once to write), so nothing but the output is held in memory.
fn encode_runs<I: Iterator<Item = (u64, Status)>>(entries: impl Fn() -> I) -> (u64, u64, Vec<u8>) {
    // Code length for every parameter, in one pass: the shortest wins, the lowest on a tie.
    let mut costs = [0u64; 33];
    let mut count = 0u64;
    for (gap, _) in gaps(entries()) {
        count += 1;
        for (k, cost) in (0u64..).zip(costs.iter_mut()) {
            *cost = cost.saturating_add((gap >> k) + 1 + k);
        }
    }
    let k = (0u64..).zip(costs).min_by_key(|&(k, cost)| (cost, k)).map_or(0, |(k, _)| k);
    let mut w = BitWriter::default();
    for (gap, status) in gaps(entries()) {
        for _ in 0..(gap >> k) {
            w.bit(true);
        }
        w.bit(false);
        w.bits(gap & ((1 << k) - 1), k);
        write_status(&mut w, status);
    }
    (k, count, w.finish())
}

/// Decode a run code of `count` entries below `len`, calling `each` for every entry in index order.
fn decode_runs(
    bytes: &[u8],
    k: u64,
    count: u64,
    len: u64,
    mut each: impl FnMut(u64, Status) -> Result<(), Error>,
) -> Result<(), Error> {
    if k > MAX_RICE_K || count > len {
        return Err(bad("impossible run code parameters"));
    }
    let mut r = BitReader { bytes, position: 0 };
    let mut next = 0u64;
    for _ in 0..count {
        let mut quotient = 0u64;
        while r.bit()? {
            quotient += 1;
            // Bounds the loop on hostile input: the index must stay inside the list.
            if next.saturating_add(quotient << k) >= len {
                return Err(bad("an entry past the end of the list"));
            }
        }
        let gap = (quotient << k) | r.bits(k)?;
        let index = next.checked_add(gap).filter(|&i| i < len).ok_or_else(|| bad("an entry past the end"))?;
        each(index, read_status(&mut r)?)?;
        next = index + 1;
    }
    r.finish()
}

/// A status list at one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusList {
    /// The province whose credentials it covers.
    pub province: String,
    /// List id, as in credentials' status references.
    pub list: u32,
    /// Version: grows with every publication.
    pub version: u64,
    /// When it was published (Unix seconds).
    pub issued_at: i64,
    /// Seconds after `issued_at` during which it counts as current.
    pub ttl: i64,
    /// The statuses.
    pub bits: StatusBits,
}

/// The changes from one version of a status list to a later one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusDelta {
    /// The province.
    pub province: String,
    /// List id.
    pub list: u32,
    /// The version it applies to.
    pub from: u64,
    /// The version it produces.
    pub to: u64,
    /// When version `to` was published.
    pub issued_at: i64,
    /// Time-to-live of version `to`.
    pub ttl: i64,
    /// Entries in the list (unchanged by a delta).
    pub len: u64,
    /// Changed entries with their new status, in index order.
    pub changes: Vec<(u64, Status)>,
    /// SHA-256 of version `to`'s packed statuses.
    pub digest: [u8; 32],
}

fn header(province: &str, list: u32) -> [(i64, Option<Value>); 2] {
    [(1, Some(Value::from(province))), (2, Some(Value::from(list)))]
}

fn read_common(m: &mut IntMap) -> Result<(String, u32), Error> {
    let province = cbor::text(m.need(1, "province")?, "province")?;
    let list =
        u32::try_from(cbor::uint(&m.need(2, "list")?, "list", u64::from(u32::MAX))?).map_err(|_| bad("list id"))?;
    Ok((province, list))
}

fn time(m: &mut IntMap, key: i64, field: &str) -> Result<i64, Error> {
    cbor::int(&m.need(key, field)?, field)
}

impl StatusList {
    /// A new list of `len` valid entries at version 0.
    pub fn new(province: &str, list: u32, len: u64, issued_at: i64, ttl: i64) -> Result<Self, Error> {
        Ok(StatusList { province: province.into(), list, version: 0, issued_at, ttl, bits: StatusBits::new(len)? })
    }

    /// When it stops counting as current.
    pub fn expires_at(&self) -> i64 {
        self.issued_at.saturating_add(self.ttl)
    }

    /// The status at `index`, or `None` past the end.
    pub fn status(&self, index: u64) -> Option<Status> {
        self.bits.get(index)
    }

    /// The unsigned payload (canonical CBOR).
    pub fn to_payload(&self) -> Vec<u8> {
        let (k, count, code) = encode_runs(|| self.bits.non_valid());
        let [p, l] = header(&self.province, self.list);
        cbor::encode(&cbor::map([
            p,
            l,
            (3, Some(Value::from(self.version))),
            (4, Some(Value::from(self.issued_at))),
            (5, Some(Value::from(self.ttl))),
            (6, Some(Value::from(self.bits.len()))),
            (7, Some(Value::from(k))),
            (8, Some(Value::from(count))),
            (9, Some(Value::Bytes(code))),
        ]))
    }

    /// Decode an unsigned payload strictly (canonical CBOR, canonical run code, bounded size).
    pub fn from_payload(bytes: &[u8]) -> Result<Self, Error> {
        let mut m = IntMap::new(cbor::decode_canonical(bytes, 2)?, "status list")?;
        let (province, list) = read_common(&mut m)?;
        let version = cbor::uint(&m.need(3, "version")?, "version", u64::MAX)?;
        let issued_at = time(&mut m, 4, "issued_at")?;
        let ttl = time(&mut m, 5, "ttl")?;
        let len = cbor::uint(&m.need(6, "size")?, "size", MAX_STATUS_ENTRIES)?;
        let k = cbor::uint(&m.need(7, "rice parameter")?, "rice parameter", MAX_RICE_K)?;
        let count = cbor::uint(&m.need(8, "count")?, "count", len)?;
        let code = cbor::bytes(m.need(9, "entries")?, "entries")?;
        m.finish()?;
        if ttl <= 0 || ttl > MAX_STATUS_TTL {
            return Err(bad("time-to-live must be positive and at most 7 days"));
        }
        let mut bits = StatusBits::new(len)?;
        decode_runs(&code, k, count, len, |index, status| {
            if status == Status::Valid {
                return Err(bad("a full list names a valid entry"));
            }
            bits.set(index, status)
        })?;
        let list = StatusList { province, list, version, issued_at, ttl, bits };
        if list.to_payload() != bytes {
            return Err(bad("not the canonical encoding (Rice parameter not the shortest)"));
        }
        Ok(list)
    }

    /// Sign with an issuer key of the province.
    pub fn sign(&self, key: &dyn Signer) -> Result<Vec<u8>, Error> {
        cose::sign1(key, &self.to_payload(), Some(STATUS_LIST_CONTENT_TYPE))
    }

    /// Verify a signed list: signed by an issuer key that the trust list holds for the list's province, valid
    /// and not revoked when the list was published.
    pub fn verify(bytes: &[u8], trust: &TrustList) -> Result<Verified<StatusList>, Error> {
        let list = open_signed(bytes, STATUS_LIST_CONTENT_TYPE, trust, |payload| {
            let list = StatusList::from_payload(payload)?;
            Ok((list.province.clone(), list.issued_at, list))
        })?;
        Ok(Verified::new(list, bytes.to_vec()))
    }

    /// The delta from this version to `newer` (same province, list and size; a later version).
    pub fn delta_to(&self, newer: &StatusList) -> Result<StatusDelta, Error> {
        if (newer.province.as_str(), newer.list, newer.bits.len())
            != (self.province.as_str(), self.list, self.bits.len())
            || newer.version <= self.version
        {
            return Err(bad("a delta needs a later version of the same list"));
        }
        let changes = self.bits.changes_to(&newer.bits);
        if u64::try_from(changes.len()).unwrap_or(u64::MAX) > MAX_DELTA_CHANGES {
            return Err(bad("too many changes for a delta: publish the full list"));
        }
        Ok(StatusDelta {
            province: self.province.clone(),
            list: self.list,
            from: self.version,
            to: newer.version,
            issued_at: newer.issued_at,
            ttl: newer.ttl,
            len: self.bits.len(),
            changes,
            digest: newer.bits.digest(),
        })
    }

    /// Apply a (verified) delta: it must start from this version of this list, and the result must hash to the
    /// delta's digest. On any error the list is unchanged.
    pub fn apply(&mut self, delta: &StatusDelta) -> Result<(), Error> {
        if (delta.province.as_str(), delta.list, delta.len) != (self.province.as_str(), self.list, self.bits.len()) {
            return Err(bad("the delta is for another list"));
        }
        if delta.from != self.version || delta.issued_at < self.issued_at {
            return Err(Error::DocumentInvalid(format!(
                "status delta {}->{} does not apply to version {}",
                delta.from, delta.to, self.version
            )));
        }
        let mut bits = self.bits.clone();
        for &(index, status) in &delta.changes {
            bits.set(index, status)?;
        }
        if bits.digest() != delta.digest {
            return Err(bad("the delta does not produce the signed list (digest mismatch)"));
        }
        self.bits = bits;
        (self.version, self.issued_at, self.ttl) = (delta.to, delta.issued_at, delta.ttl);
        Ok(())
    }
}

impl StatusDelta {
    /// The unsigned payload (canonical CBOR).
    pub fn to_payload(&self) -> Vec<u8> {
        let (k, count, code) = encode_runs(|| self.changes.iter().copied());
        let [p, l] = header(&self.province, self.list);
        cbor::encode(&cbor::map([
            p,
            l,
            (3, Some(Value::from(self.from))),
            (4, Some(Value::from(self.to))),
            (5, Some(Value::from(self.issued_at))),
            (6, Some(Value::from(self.ttl))),
            (7, Some(Value::from(self.len))),
            (8, Some(Value::from(k))),
            (9, Some(Value::from(count))),
            (10, Some(Value::Bytes(code))),
            (11, Some(Value::Bytes(self.digest.to_vec()))),
        ]))
    }

    /// Decode an unsigned payload strictly.
    pub fn from_payload(bytes: &[u8]) -> Result<Self, Error> {
        let mut m = IntMap::new(cbor::decode_canonical(bytes, 2)?, "status delta")?;
        let (province, list) = read_common(&mut m)?;
        let from = cbor::uint(&m.need(3, "from")?, "from", u64::MAX)?;
        let to = cbor::uint(&m.need(4, "to")?, "to", u64::MAX)?;
        let issued_at = time(&mut m, 5, "issued_at")?;
        let ttl = time(&mut m, 6, "ttl")?;
        let len = cbor::uint(&m.need(7, "size")?, "size", MAX_STATUS_ENTRIES)?;
        let k = cbor::uint(&m.need(8, "rice parameter")?, "rice parameter", MAX_RICE_K)?;
        let count = cbor::uint(&m.need(9, "count")?, "count", len.min(MAX_DELTA_CHANGES))?;
        let code = cbor::bytes(m.need(10, "changes")?, "changes")?;
        let digest: [u8; 32] =
            cbor::bytes(m.need(11, "digest")?, "digest")?.try_into().map_err(|_| bad("digest is not 32 bytes"))?;
        m.finish()?;
        if to <= from || ttl <= 0 || ttl > MAX_STATUS_TTL {
            return Err(bad("a delta must go forward and have a time-to-live of at most 7 days"));
        }
        let mut changes = Vec::new();
        decode_runs(&code, k, count, len, |index, status| {
            changes.push((index, status));
            Ok(())
        })?;
        let delta = StatusDelta { province, list, from, to, issued_at, ttl, len, changes, digest };
        if delta.to_payload() != bytes {
            return Err(bad("not the canonical encoding (Rice parameter not the shortest)"));
        }
        Ok(delta)
    }

    /// Sign with an issuer key of the province.
    pub fn sign(&self, key: &dyn Signer) -> Result<Vec<u8>, Error> {
        cose::sign1(key, &self.to_payload(), Some(STATUS_DELTA_CONTENT_TYPE))
    }

    /// Verify a signed delta the way [`StatusList::verify`] verifies a list.
    pub fn verify(bytes: &[u8], trust: &TrustList) -> Result<Verified<StatusDelta>, Error> {
        let delta = open_signed(bytes, STATUS_DELTA_CONTENT_TYPE, trust, |payload| {
            let delta = StatusDelta::from_payload(payload)?;
            Ok((delta.province.clone(), delta.issued_at, delta))
        })?;
        Ok(Verified::new(delta, bytes.to_vec()))
    }
}

/// Check a signed status document: its content type, then each trusted key with its kid until one verifies;
/// the key's certificate must be for the document's province, unexpired and not revoked at `issued_at`.
fn open_signed<T>(
    bytes: &[u8],
    content_type: &str,
    trust: &TrustList,
    decode: impl Fn(&[u8]) -> Result<(String, i64, T), Error>,
) -> Result<T, Error> {
    if bytes.len() > MAX_STATUS_DOCUMENT_BYTES {
        return Err(Error::TooLarge(format!("a status document larger than {MAX_STATUS_DOCUMENT_BYTES} bytes")));
    }
    let sign1 = cose::Sign1::parse(bytes)?;
    if sign1.content_type() != Some(content_type) {
        return Err(Error::DocumentInvalid(format!("not a {content_type} document (content type)")));
    }
    let mut last = None;
    for key in trust.candidates(sign1.kid()) {
        let payload = match sign1.verify(&key.certificate.public_key) {
            Ok(payload) => payload,
            Err(e) => {
                last = Some(e);
                continue;
            }
        };
        let (province, issued_at, document) = decode(payload)?;
        let cert = &key.certificate;
        if cert.province != province {
            return Err(Error::BundleSignerMismatch { claimed: province, signer: Some(cert.province.clone()) });
        }
        if issued_at > cert.expires || key.revoked_after.is_some_and(|r| issued_at > r) {
            return Err(Error::DocumentInvalid(format!(
                "status document of {issued_at} signed by key {} outside its validity or after its revocation",
                cert.public_key.kid()
            )));
        }
        return Ok(document);
    }
    Err(last.unwrap_or_else(|| Error::UnknownSigner { kid: crate::hex(sign1.kid()) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: u64, marks: &[(u64, Status)]) -> StatusList {
        let mut list = StatusList::new("CN-GD", 1, len, 1_790_000_000, 3600).unwrap();
        for &(i, s) in marks {
            list.bits.set(i, s).unwrap();
        }
        list
    }

    #[test]
    fn bits_pack_two_per_entry_least_significant_first() {
        let mut bits = StatusBits::new(9).unwrap();
        bits.set(0, Status::Revoked).unwrap();
        bits.set(3, Status::Suspended).unwrap();
        bits.set(8, Status::Reserved).unwrap();
        assert_eq!(bits.as_bytes(), [0b1000_0001, 0, 0b11]);
        assert_eq!(bits.get(3), Some(Status::Suspended));
        assert_eq!(bits.get(9), None);
        assert!(bits.set(9, Status::Revoked).is_err());
        assert_eq!(
            bits.non_valid().collect::<Vec<_>>(),
            [(0, Status::Revoked), (3, Status::Suspended), (8, Status::Reserved)]
        );
        assert!(StatusBits::new(MAX_STATUS_ENTRIES + 1).is_err());
    }

    #[test]
    fn lists_and_deltas_round_trip_and_apply() {
        let v0 = sample(1000, &[(5, Status::Revoked), (999, Status::Suspended)]);
        let decoded = StatusList::from_payload(&v0.to_payload()).unwrap();
        assert_eq!(decoded, v0);
        let mut v1 = sample(1000, &[(5, Status::Revoked), (17, Status::Revoked)]);
        v1.version = 1;
        v1.issued_at += 60;
        let delta = v0.delta_to(&v1).unwrap();
        assert_eq!(delta.changes, [(17, Status::Revoked), (999, Status::Valid)]);
        let delta = StatusDelta::from_payload(&delta.to_payload()).unwrap();
        let mut applied = v0.clone();
        applied.apply(&delta).unwrap();
        assert_eq!(applied, v1);
        // A delta applies to its base version only, and never twice.
        assert!(applied.apply(&delta).is_err());
        let mut other = sample(1000, &[(6, Status::Revoked)]);
        assert!(other.apply(&delta).unwrap_err().to_string().contains("digest"), "wrong base, same version");
        assert_eq!(other, sample(1000, &[(6, Status::Revoked)]), "a refused delta changes nothing");
    }

    #[test]
    fn hostile_payloads_are_refused_without_panic() {
        let good = sample(64, &[(3, Status::Revoked)]).to_payload();
        for i in 0..good.len() {
            for flip in [1u8, 0x80] {
                let mut bad = good.clone();
                bad[i] ^= flip;
                let _ = StatusList::from_payload(&bad);
            }
        }
        let mut list = sample(64, &[(3, Status::Revoked)]).to_payload();
        let last = list.len() - 1;
        list[last] |= 1;
        assert!(StatusList::from_payload(&list).is_err(), "non-zero padding");
    }
}
