//! Schema migrations, applied in order, each in its own transaction, on either backend; and the data fix-ups
//! that come with them.

use super::sql::Statement;
use super::Database;
use crate::Error;

/// Schema migrations, in order: (version, SQL with `BYTES_TYPE` for the backend's byte-string type).
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/0001_init.sql")),
    (2, include_str!("../../migrations/0002_tokens.sql")),
    (3, include_str!("../../migrations/0003_claim_links.sql")),
    (4, include_str!("../../migrations/0004_idempotency.sql")),
    (5, include_str!("../../migrations/0005_status_lists.sql")),
    (6, include_str!("../../migrations/0006_province_scope.sql")),
    (7, include_str!("../../migrations/0007_idempotency_request.sql")),
];

/// A migration's statements: comments out (they may hold `;`), the backend's byte type in.
fn statements(sql: &str, bytes_type: &str) -> Vec<String> {
    let sql: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("BYTES_TYPE", bytes_type);
    sql.split(';').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

/// The province a signed status list names (our own publication, read back: not verified again).
fn publication_province(document: &[u8]) -> Option<String> {
    let sign1 = huren_keys::cose::Sign1::parse(document).ok()?;
    Some(huren_keys::status::StatusList::from_payload(sign1.unverified_payload()).ok()?.province)
}

impl Database {
    /// Apply the migrations not applied yet, each in its own transaction.
    pub async fn migrate(&self) -> Result<(), Error> {
        self.migrate_to(i64::MAX).await
    }

    /// Apply the migrations not applied yet up to `last` (and the data fix-ups of those applied): a database as
    /// an older release left it, for tests of upgrades. [`Database::migrate`] applies them all.
    pub async fn migrate_to(&self, last: i64) -> Result<(), Error> {
        self.execute(Statement::new("CREATE TABLE IF NOT EXISTS huren_migrations (version BIGINT PRIMARY KEY)"))
            .await?;
        for (version, sql) in MIGRATIONS.iter().filter(|(version, _)| *version <= last) {
            let mut tx = self.begin().await?;
            let applied = Statement::new("SELECT version FROM huren_migrations WHERE version = $1").bind(*version);
            if tx.fetch_optional(applied).await?.is_none() {
                for statement in statements(sql, self.dialect().bytes_type()) {
                    // Our own migration text, not user input.
                    tx.execute(Statement::new(statement)).await?;
                }
                tx.execute(Statement::new("INSERT INTO huren_migrations (version) VALUES ($1)").bind(*version)).await?;
            }
            tx.commit().await?;
        }
        if last >= 6 {
            self.assign_legacy_publications().await?;
        }
        Ok(())
    }

    /// Give each status list publication stored before lists were kept per province (migration 6) the province
    /// its signed document names. A document that cannot be read is set aside (`-`), served to no one.
    async fn assign_legacy_publications(&self) -> Result<(), Error> {
        let legacy = "SELECT list_id, version FROM status_publications WHERE province = ''";
        let keys = self.fetch_all(Statement::new(legacy)).await?;
        let keys: Vec<(i64, i64)> = keys.iter().map(|r| Ok((r.get(0)?, r.get(1)?))).collect::<Result<_, Error>>()?;
        let read = "SELECT document FROM status_publications WHERE province = '' AND list_id = $1 AND version = $2";
        let assign =
            "UPDATE status_publications SET province = $1 WHERE province = '' AND list_id = $2 AND version = $3";
        for (list, version) in keys {
            let document: Vec<u8> = self.fetch_one(Statement::new(read).bind(list).bind(version)).await?.get(0)?;
            let province = publication_province(&document).unwrap_or_else(|| {
                tracing::warn!(list, version, "a stored status list publication cannot be read: set aside");
                "-".into()
            });
            self.execute(Statement::new(assign).bind(&province).bind(list).bind(version)).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_split_into_statements_without_comments() {
        let sql = "-- a comment; with a semicolon\nCREATE TABLE t (b BYTES_TYPE);\n\n  -- another\nCREATE INDEX i ON t (b);\n";
        assert_eq!(statements(sql, "BYTEA"), ["CREATE TABLE t (b BYTEA)", "CREATE INDEX i ON t (b)"]);
        for (version, sql) in MIGRATIONS {
            assert!(!statements(sql, "BLOB").is_empty(), "migration {version}");
            assert!(statements(sql, "BLOB").iter().all(|s| !s.contains("BYTES_TYPE")));
        }
        assert!(MIGRATIONS.windows(2).all(|w| w[1].0 == w[0].0 + 1), "versions in order");
    }
}
