//! Issued credentials, their status, and the idempotency keys that answer retried issuances.

use huren_wallet_core::StatusRef;

use super::audit::AuditRecord;
use super::sql::{Row, Statement, ROWS_PER_INSERT};
use super::transaction::Transaction;
use super::Database;
use crate::Error;

/// Revocation status of a stored credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialStatus {
    /// Valid.
    Valid,
    /// Revoked for good.
    Revoked,
    /// Suspended; may be reinstated.
    Suspended,
}

impl CredentialStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialStatus::Valid => "valid",
            CredentialStatus::Revoked => "revoked",
            CredentialStatus::Suspended => "suspended",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "valid" => Ok(CredentialStatus::Valid),
            "revoked" => Ok(CredentialStatus::Revoked),
            "suspended" => Ok(CredentialStatus::Suspended),
            other => Err(Error::StoredData(format!("unknown status {other:?} in the database"))),
        }
    }
}

/// A credential as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredential {
    /// Credential id (`cti`).
    pub id: Vec<u8>,
    /// Issuing province.
    pub province: String,
    /// Credential type name (`health-status`, ...).
    pub kind: String,
    /// `iat`.
    pub issued_at: i64,
    /// `exp`.
    pub expires_at: i64,
    /// The signed COSE_Sign1 bytes.
    pub cose: Vec<u8>,
    /// Current status.
    pub status: CredentialStatus,
    /// Why the status last changed.
    pub status_reason: Option<String>,
    /// When the status last changed.
    pub status_changed_at: Option<i64>,
    /// Its place in a status list, if it has one.
    pub status_ref: Option<StatusRef>,
}

impl StoredCredential {
    /// The `issue` audit record of this credential.
    fn issue_record(&self, actor: &str) -> AuditRecord {
        AuditRecord::new(self.issued_at, actor, "issue", &huren_keys::hex(&self.id), &self.kind)
    }
}

/// The credential an idempotency key already answers, and the request it was first used with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The credential issued for the key's first request.
    pub credential_id: Vec<u8>,
    /// SHA-256 of that request (`None` for keys stored before it was recorded, migration 7).
    pub request_sha256: Option<Vec<u8>>,
}

impl IdempotencyRecord {
    fn read(row: &Row) -> Result<Self, Error> {
        Ok(IdempotencyRecord { credential_id: row.get("credential_id")?, request_sha256: row.get("request_sha256")? })
    }
}

const INSERT_CREDENTIALS: &str =
    "INSERT INTO credentials (id, province, kind, issued_at, expires_at, cose, status, status_list, status_index) VALUES";

const IDEMPOTENCY_RECORD: &str =
    "SELECT credential_id, request_sha256 FROM idempotency_keys WHERE token_id = $1 AND key = $2";

/// Insert credentials inside `tx`, with multi-row statements.
async fn insert_credentials(tx: &mut Transaction, credentials: &[StoredCredential]) -> Result<(), Error> {
    for chunk in credentials.chunks(ROWS_PER_INSERT) {
        let sql = format!("{INSERT_CREDENTIALS} {}", tx.dialect().placeholders(9, chunk.len()));
        let mut statement = Statement::new(sql);
        for c in chunk {
            statement = statement
                .bind(&c.id)
                .bind(&c.province)
                .bind(&c.kind)
                .bind(c.issued_at)
                .bind(c.expires_at)
                .bind(&c.cose)
                .bind(c.status.as_str())
                .bind(c.status_ref.map(|s| i64::from(s.list)))
                .bind(c.status_ref.map(|s| i64::from(s.index)));
        }
        tx.execute(statement).await?;
    }
    Ok(())
}

/// A status reference from its two columns (both set or both null).
fn status_ref(list: Option<i64>, index: Option<i64>) -> Result<Option<StatusRef>, Error> {
    match (list, index) {
        (None, None) => Ok(None),
        (Some(list), Some(index)) => match (u32::try_from(list), u32::try_from(index)) {
            (Ok(list), Ok(index)) => Ok(Some(StatusRef { list, index })),
            _ => Err(Error::StoredData(format!("status reference ({list}, {index}) out of range in the database"))),
        },
        _ => Err(Error::StoredData("a half-set status reference in the database".into())),
    }
}

impl Database {
    /// Store newly issued credentials (ids must be new), each with its `issue` audit entry by `actor`, in one
    /// transaction: when this returns `Ok`, all of them are stored and audited; otherwise none is.
    pub async fn insert_issued(&self, credentials: &[StoredCredential], actor: &str) -> Result<(), Error> {
        if credentials.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_audited().await?;
        insert_credentials(&mut tx, credentials).await?;
        tx.commit_audited(credentials.iter().map(|c| c.issue_record(actor)).collect()).await?;
        Ok(())
    }

    /// A stored credential by id.
    pub async fn credential(&self, id: &[u8]) -> Result<Option<StoredCredential>, Error> {
        let sql = "SELECT id, province, kind, issued_at, expires_at, cose, status, status_reason, status_changed_at, \
                   status_list, status_index FROM credentials WHERE id = $1";
        let Some(r) = self.fetch_optional(Statement::new(sql).bind(id)).await? else { return Ok(None) };
        Ok(Some(StoredCredential {
            id: r.get("id")?,
            province: r.get("province")?,
            kind: r.get("kind")?,
            issued_at: r.get("issued_at")?,
            expires_at: r.get("expires_at")?,
            cose: r.get("cose")?,
            status: CredentialStatus::parse(&r.get::<String, _>("status")?)?,
            status_reason: r.get("status_reason")?,
            status_changed_at: r.get("status_changed_at")?,
            status_ref: status_ref(r.get("status_list")?, r.get("status_index")?)?,
        }))
    }

    /// Change the status of a credential of `province` with a reason, audited as done by `actor`, in one
    /// transaction; `false` when that province has no such credential or it is revoked (a revoked credential stays
    /// revoked).
    pub async fn set_status(
        &self,
        id: &[u8],
        province: &str,
        status: CredentialStatus,
        reason: &str,
        at: i64,
        actor: &str,
    ) -> Result<bool, Error> {
        let sql = "UPDATE credentials SET status = $1, status_reason = $2, status_changed_at = $3 \
                   WHERE id = $4 AND province = $5 AND status <> 'revoked'";
        let mut tx = self.begin_audited().await?;
        let statement = Statement::new(sql).bind(status.as_str()).bind(reason).bind(at).bind(id).bind(province);
        let changed = tx.execute(statement).await? == 1;
        let records = if changed {
            let action = format!("status.{}", status.as_str());
            vec![AuditRecord::new(at, actor, &action, &huren_keys::hex(id), reason)]
        } else {
            Vec::new()
        };
        tx.commit_audited(records).await?;
        Ok(changed)
    }

    /// What `token_id`'s idempotency key `key` already answers, if it was used.
    pub async fn idempotency_record(&self, token_id: &str, key: &str) -> Result<Option<IdempotencyRecord>, Error> {
        let row = self.fetch_optional(Statement::new(IDEMPOTENCY_RECORD).bind(token_id).bind(key)).await?;
        row.as_ref().map(IdempotencyRecord::read).transpose()
    }

    /// Store a newly issued credential, its `issue` audit entry and the idempotency key it answers (with the
    /// SHA-256 of its request), in one transaction: if `token_id` used `key` already (a retry, or a concurrent
    /// duplicate), nothing is stored and what the key answers is returned instead.
    pub async fn insert_credential_once(
        &self,
        c: &StoredCredential,
        token_id: &str,
        key: &str,
        request_sha256: &[u8],
        now: i64,
    ) -> Result<Option<IdempotencyRecord>, Error> {
        let claim = "INSERT INTO idempotency_keys (token_id, key, credential_id, created_at, request_sha256) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token_id, key) DO NOTHING";
        let mut tx = self.begin_audited().await?;
        let claim = Statement::new(claim).bind(token_id).bind(key).bind(&c.id).bind(now).bind(request_sha256);
        if tx.execute(claim).await? == 1 {
            insert_credentials(&mut tx, std::slice::from_ref(c)).await?;
            tx.commit_audited(vec![c.issue_record(token_id)]).await?;
            Ok(None)
        } else {
            let row = tx.fetch_one(Statement::new(IDEMPOTENCY_RECORD).bind(token_id).bind(key)).await?;
            let earlier = IdempotencyRecord::read(&row)?;
            tx.commit_audited(Vec::new()).await?;
            Ok(Some(earlier))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_references_are_both_columns_or_neither() {
        assert_eq!(status_ref(None, None).unwrap(), None);
        assert_eq!(status_ref(Some(1), Some(7)).unwrap(), Some(StatusRef { list: 1, index: 7 }));
        assert!(matches!(status_ref(Some(1), None), Err(Error::StoredData(_))));
        assert!(matches!(status_ref(Some(-1), Some(7)), Err(Error::StoredData(_))));
        assert!(matches!(status_ref(Some(1), Some(1 << 40)), Err(Error::StoredData(_))));
    }

    #[test]
    fn statuses_are_read_by_their_stored_names_only() {
        for status in [CredentialStatus::Valid, CredentialStatus::Revoked, CredentialStatus::Suspended] {
            assert_eq!(CredentialStatus::parse(status.as_str()).unwrap(), status);
        }
        assert!(matches!(CredentialStatus::parse("Valid"), Err(Error::StoredData(_))));
    }
}
