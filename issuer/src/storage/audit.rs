//! The audit log: append-only and hash-chained. Each entry's hash is SHA-256 over the previous entry's hash and
//! the entry's canonical CBOR, so removing, reordering or editing an entry breaks [`verify_audit_chain`].
//! Entries are appended only by [`super::transaction::Transaction::commit_audited`], in the transaction of the
//! change they record.

use ciborium::Value;
use sha2::{Digest, Sha256};

use super::sql::Statement;
use super::Database;
use crate::Error;

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the log, from 1.
    pub seq: i64,
    /// When (Unix seconds).
    pub at: i64,
    /// Who (a token id, an operator, `cli`).
    pub actor: String,
    /// What (`issue`, `revoke`, `key.rotate`, ...).
    pub action: String,
    /// On what (a credential id in hex, a key id, ...).
    pub subject: String,
    /// Free-form detail (a reason); never personal data.
    pub detail: String,
    /// Hash of the previous entry (32 zero bytes for the first).
    pub prev_hash: Vec<u8>,
    /// SHA-256 over `prev_hash` and this entry's canonical CBOR.
    pub hash: Vec<u8>,
}

impl AuditEntry {
    fn compute_hash(&self) -> Vec<u8> {
        let body = Value::Array(vec![
            Value::from(self.seq),
            Value::from(self.at),
            Value::from(self.actor.as_str()),
            Value::from(self.action.as_str()),
            Value::from(self.subject.as_str()),
            Value::from(self.detail.as_str()),
        ]);
        let mut hasher = Sha256::new();
        hasher.update(&self.prev_hash);
        hasher.update(huren_keys::cbor::encode(&body));
        hasher.finalize().to_vec()
    }
}

/// Where a hash chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditBreak {
    /// The first entry that does not follow from the ones before it.
    pub seq: i64,
    /// What is wrong with it.
    pub reason: String,
}

/// Check an audit log read in order: consecutive sequence numbers from 1, each entry chained to the previous
/// one, each hash correct.
pub fn verify_audit_chain(entries: &[AuditEntry]) -> Result<(), AuditBreak> {
    let mut prev = vec![0u8; 32];
    for (expected, entry) in (1i64..).zip(entries) {
        let fail = |reason: &str| Err(AuditBreak { seq: entry.seq, reason: reason.into() });
        if entry.seq != expected {
            return fail("sequence gap or reordering");
        }
        if entry.prev_hash != prev {
            return fail("does not chain to the previous entry");
        }
        if entry.compute_hash() != entry.hash {
            return fail("content does not match its hash");
        }
        prev.clone_from(&entry.hash);
    }
    Ok(())
}

/// An audit entry to append: the log gives it its position and chains it to the entry before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuditRecord {
    /// When (Unix seconds).
    pub(crate) at: i64,
    /// Who (a token id, an operator, `cli`).
    pub(crate) actor: String,
    /// What (`issue`, `status.revoked`, `key.rotate`, ...).
    pub(crate) action: String,
    /// On what (a credential id in hex, a key id, ...).
    pub(crate) subject: String,
    /// Free-form detail (a reason); never personal data.
    pub(crate) detail: String,
}

impl AuditRecord {
    /// A record of `action` on `subject` by `actor` at `at`.
    pub(crate) fn new(at: i64, actor: &str, action: &str, subject: &str, detail: &str) -> Self {
        AuditRecord { at, actor: actor.into(), action: action.into(), subject: subject.into(), detail: detail.into() }
    }
}

pub(crate) const INSERT_AUDIT: &str =
    "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash) VALUES";

/// Chain `records` after the log's last entry (`None` for an empty log).
pub(crate) fn chain(tail: Option<(i64, Vec<u8>)>, records: Vec<AuditRecord>) -> Vec<AuditEntry> {
    let (mut seq, mut prev_hash) = tail.unwrap_or((0, vec![0u8; 32]));
    records
        .into_iter()
        .map(|r| {
            seq += 1;
            let mut entry = AuditEntry {
                seq,
                at: r.at,
                actor: r.actor,
                action: r.action,
                subject: r.subject,
                detail: r.detail,
                prev_hash: std::mem::take(&mut prev_hash),
                hash: Vec::new(),
            };
            entry.hash = entry.compute_hash();
            prev_hash.clone_from(&entry.hash);
            entry
        })
        .collect()
}

impl Database {
    /// Append one audit entry, chained to the last one (for events with no other row to write, such as a key
    /// rotation).
    pub async fn append_audit(
        &self,
        at: i64,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &str,
    ) -> Result<AuditEntry, Error> {
        let tx = self.begin_audited().await?;
        let entries = tx.commit_audited(vec![AuditRecord::new(at, actor, action, subject, detail)]).await?;
        entries.into_iter().next().ok_or_else(|| Error::StoredData("audit append wrote no entry".into()))
    }

    /// The whole audit log, in order.
    pub async fn audit_log(&self) -> Result<Vec<AuditEntry>, Error> {
        let sql = "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit_log ORDER BY seq";
        let rows = self.fetch_all(Statement::new(sql)).await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    seq: r.get("seq")?,
                    at: r.get("at")?,
                    actor: r.get("actor")?,
                    action: r.get("action")?,
                    subject: r.get("subject")?,
                    detail: r.get("detail")?,
                    prev_hash: r.get("prev_hash")?,
                    hash: r.get("hash")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: i64) -> AuditRecord {
        AuditRecord::new(1_790_000_000 + n, "cli", "issue", &format!("{n:016x}"), "health-status")
    }

    #[test]
    fn entries_chain_from_zero_and_from_a_tail() {
        let log = chain(None, (1..=3).map(record).collect());
        assert_eq!(log.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(log[0].prev_hash, [0u8; 32]);
        assert_eq!(log[1].prev_hash, log[0].hash);
        verify_audit_chain(&log).unwrap();
        // Appending later chains to the last entry as if it had been written at once.
        let mut later = chain(Some((2, log[1].hash.clone())), vec![record(3)]);
        assert_eq!(later, log[2..]);
        let mut all = log[..2].to_vec();
        all.append(&mut later);
        verify_audit_chain(&all).unwrap();
    }

    /// The hash covers every field and the entry before: a known vector pins the canonical encoding.
    #[test]
    fn the_hash_is_sha256_over_the_previous_hash_and_the_canonical_cbor() {
        let entry = &chain(None, vec![AuditRecord::new(1, "a", "b", "c", "d")])[0];
        let mut hasher = Sha256::new();
        hasher.update([0u8; 32]);
        // [1, 1, "a", "b", "c", "d"] in canonical CBOR.
        hasher.update([0x86, 0x01, 0x01, 0x61, b'a', 0x61, b'b', 0x61, b'c', 0x61, b'd']);
        assert_eq!(entry.hash, hasher.finalize().to_vec());
    }

    #[test]
    fn every_kind_of_tampering_is_found() {
        let log = chain(None, (1..=4).map(record).collect());
        let broken = |log: Vec<AuditEntry>| verify_audit_chain(&log).unwrap_err();
        let mut edited = log.clone();
        edited[1].detail = "vaccination".into();
        assert_eq!(broken(edited), AuditBreak { seq: 2, reason: "content does not match its hash".into() });
        let mut removed = log.clone();
        removed.remove(1);
        assert_eq!(broken(removed), AuditBreak { seq: 3, reason: "sequence gap or reordering".into() });
        let mut rechained = log.clone();
        rechained[2].prev_hash = vec![1; 32];
        assert_eq!(broken(rechained).reason, "does not chain to the previous entry");
    }
}
