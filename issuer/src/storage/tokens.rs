//! API tokens as stored: the secret itself never is, only its SHA-256.

use super::audit::AuditRecord;
use super::sql::Statement;
use super::Database;
use crate::role::Role;
use crate::Error;

/// An API token as stored (the secret itself is never stored, only its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    /// Public token id (the part before the `.`).
    pub id: String,
    /// SHA-256 of the secret part.
    pub secret_hash: Vec<u8>,
    /// What the token may do.
    pub role: Role,
    /// The province the token acts for.
    pub province: String,
    /// When it was created.
    pub created_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

impl Database {
    /// Store a new API token, audited (`token.create` by `actor`) in the same transaction.
    pub(crate) async fn insert_token(&self, t: &StoredToken, actor: &str) -> Result<(), Error> {
        let sql = "INSERT INTO api_tokens (id, secret_hash, role, province, created_at) VALUES ($1, $2, $3, $4, $5)";
        let role = t.role.as_str();
        let mut tx = self.begin_audited().await?;
        tx.execute(
            Statement::new(sql).bind(&t.id).bind(&t.secret_hash).bind(role).bind(&t.province).bind(t.created_at),
        )
        .await?;
        tx.commit_audited(vec![AuditRecord::new(t.created_at, actor, "token.create", &t.id, role)]).await?;
        Ok(())
    }

    /// A token by its public id.
    pub async fn token(&self, id: &str) -> Result<Option<StoredToken>, Error> {
        let sql = "SELECT id, secret_hash, role, province, created_at, revoked_at FROM api_tokens WHERE id = $1";
        let Some(r) = self.fetch_optional(Statement::new(sql).bind(id)).await? else { return Ok(None) };
        let role: String = r.get("role")?;
        Ok(Some(StoredToken {
            id: r.get("id")?,
            secret_hash: r.get("secret_hash")?,
            role: role.parse().map_err(|_| Error::StoredData(format!("unknown role {role:?} in the database")))?,
            province: r.get("province")?,
            created_at: r.get("created_at")?,
            revoked_at: r.get("revoked_at")?,
        }))
    }
}
