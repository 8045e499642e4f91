//! Claim links: one-time links by which a wallet fetches a credential (stored as the SHA-256 of their secret).

use super::audit::AuditRecord;
use super::sql::Statement;
use super::Database;
use crate::Error;

impl Database {
    /// Store a claim link for a credential, audited (`claim.create` by `actor`) in the same transaction.
    pub async fn insert_claim_link(
        &self,
        secret_hash: &[u8],
        credential_id: &[u8],
        now: i64,
        expires_at: i64,
        actor: &str,
    ) -> Result<(), Error> {
        let sql =
            "INSERT INTO claim_links (secret_hash, credential_id, created_at, expires_at) VALUES ($1, $2, $3, $4)";
        let mut tx = self.begin_audited().await?;
        tx.execute(Statement::new(sql).bind(secret_hash).bind(credential_id).bind(now).bind(expires_at)).await?;
        let record = AuditRecord::new(now, actor, "claim.create", &huren_keys::hex(credential_id), "");
        tx.commit_audited(vec![record]).await?;
        Ok(())
    }

    /// Redeem a claim link for a credential of `province`: marks it used (audited as `claim.redeem`) in one
    /// transaction and returns its credential id, or `None` when the link is unknown, already redeemed, expired or
    /// for another province's credential (which leaves it untouched; two concurrent redemptions: exactly one wins).
    pub async fn redeem_claim_link(
        &self,
        secret_hash: &[u8],
        province: &str,
        now: i64,
    ) -> Result<Option<Vec<u8>>, Error> {
        let update = "UPDATE claim_links SET redeemed_at = $1 \
                      WHERE secret_hash = $2 AND redeemed_at IS NULL AND expires_at > $3 \
                      AND credential_id IN (SELECT id FROM credentials WHERE province = $4)";
        let select = "SELECT credential_id FROM claim_links WHERE secret_hash = $1";
        let mut tx = self.begin_audited().await?;
        let won = tx.execute(Statement::new(update).bind(now).bind(secret_hash).bind(now).bind(province)).await?;
        if won != 1 {
            tx.commit_audited(Vec::new()).await?;
            return Ok(None);
        }
        let id: Vec<u8> = tx.fetch_one(Statement::new(select).bind(secret_hash)).await?.get("credential_id")?;
        let record = AuditRecord::new(now, "claim", "claim.redeem", &huren_keys::hex(&id), "");
        tx.commit_audited(vec![record]).await?;
        Ok(Some(id))
    }
}
