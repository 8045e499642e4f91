//! Transactions on either backend: [`Transaction`] runs statements inside one, and commits it or (when dropped
//! without a commit, as on an early `?` return) rolls it back.
//!
//! Every change the issuer makes is audited: [`Database::begin_audited`] begins a transaction that holds the audit
//! log's lock from the start, and [`Transaction::commit_audited`] appends the change's audit entries in the same
//! transaction, so a change and its entries are stored together or not at all, and concurrent writers (on this
//! node or another) never fork the chain.

use std::time::Duration;

use super::audit::{self, AuditEntry, AuditRecord};
use super::sql::{Row, Statement, ROWS_PER_INSERT};
use super::Database;
use crate::Error;

/// How long to keep asking whether a commit whose answer was lost took effect.
const SETTLE_COMMIT_FOR: Duration = Duration::from_secs(10);

/// A transaction on the database's connection for writes.
#[derive(Debug)]
pub(crate) enum Transaction {
    /// On SQLite's single writer connection.
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    /// On PostgreSQL.
    Postgres {
        /// The transaction.
        tx: sqlx::Transaction<'static, sqlx::Postgres>,
        /// Its id, when it was asked for: to learn its fate if the commit's answer is lost.
        xid: Option<i64>,
        /// The pool, to ask on another connection.
        pool: sqlx::PgPool,
    },
}

impl Database {
    /// Begin a transaction on the connection for writes.
    pub(crate) async fn begin(&self) -> Result<Transaction, Error> {
        Ok(match self {
            Database::Sqlite { writer, .. } => Transaction::Sqlite(writer.begin().await?),
            Database::Postgres(pool) => {
                Transaction::Postgres { tx: pool.begin().await?, xid: None, pool: pool.clone() }
            }
        })
    }

    /// Begin a transaction that will append to the audit log ([`Transaction::commit_audited`]). The log is locked
    /// first (an exclusive table lock on PostgreSQL, the write lock on SQLite), so that no other writer appends
    /// between this transaction reading the log's last entry and committing.
    pub(crate) async fn begin_audited(&self) -> Result<Transaction, Error> {
        let mut tx = self.begin().await?;
        match &mut tx {
            Transaction::Postgres { tx, xid, .. } => {
                sqlx::query("LOCK TABLE audit_log IN EXCLUSIVE MODE").execute(&mut **tx).await?;
                let row = Row::Postgres(sqlx::query("SELECT txid_current()").fetch_one(&mut **tx).await?);
                *xid = Some(row.get(0)?);
            }
            // Make the deferred transaction a write transaction before anything is read.
            Transaction::Sqlite(tx) => {
                sqlx::query("UPDATE audit_log SET seq = seq WHERE 0 = 1").execute(&mut **tx).await?;
            }
        }
        Ok(tx)
    }
}

impl Transaction {
    /// Run a statement; returns the rows it changed.
    pub(crate) async fn execute(&mut self, statement: Statement<'_>) -> Result<u64, Error> {
        Ok(match self {
            Transaction::Sqlite(tx) => statement.sqlite().execute(&mut **tx).await?.rows_affected(),
            Transaction::Postgres { tx, .. } => statement.postgres().execute(&mut **tx).await?.rows_affected(),
        })
    }

    /// Run a statement that returns exactly one row.
    pub(crate) async fn fetch_one(&mut self, statement: Statement<'_>) -> Result<Row, Error> {
        Ok(match self {
            Transaction::Sqlite(tx) => Row::Sqlite(statement.sqlite().fetch_one(&mut **tx).await?),
            Transaction::Postgres { tx, .. } => Row::Postgres(statement.postgres().fetch_one(&mut **tx).await?),
        })
    }

    /// Run a statement that returns at most one row.
    pub(crate) async fn fetch_optional(&mut self, statement: Statement<'_>) -> Result<Option<Row>, Error> {
        Ok(match self {
            Transaction::Sqlite(tx) => statement.sqlite().fetch_optional(&mut **tx).await?.map(Row::Sqlite),
            Transaction::Postgres { tx, .. } => {
                statement.postgres().fetch_optional(&mut **tx).await?.map(Row::Postgres)
            }
        })
    }

    /// The SQL dialect of the transaction's backend.
    pub(crate) fn dialect(&self) -> super::sql::Dialect {
        match self {
            Transaction::Sqlite(_) => super::sql::Dialect::Sqlite,
            Transaction::Postgres { .. } => super::sql::Dialect::Postgres,
        }
    }

    /// Commit (no audit entries: for migrations).
    pub(crate) async fn commit(self) -> Result<(), Error> {
        match self {
            Transaction::Sqlite(tx) => tx.commit().await?,
            Transaction::Postgres { tx, .. } => tx.commit().await?,
        }
        Ok(())
    }

    /// Append `records` to the audit log, chained after its last entry, and commit with them; returns the
    /// entries written. The transaction must come from [`Database::begin_audited`].
    pub(crate) async fn commit_audited(mut self, records: Vec<AuditRecord>) -> Result<Vec<AuditEntry>, Error> {
        let entries = if records.is_empty() {
            Vec::new()
        } else {
            let tail = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";
            let tail = match self.fetch_optional(Statement::new(tail)).await? {
                Some(row) => Some((row.get::<i64, _>("seq")?, row.get::<Vec<u8>, _>("hash")?)),
                None => None,
            };
            let entries = audit::chain(tail, records);
            for chunk in entries.chunks(ROWS_PER_INSERT) {
                let sql = format!("{} {}", audit::INSERT_AUDIT, self.dialect().placeholders(8, chunk.len()));
                let mut statement = Statement::new(sql);
                for e in chunk {
                    statement = statement
                        .bind(e.seq)
                        .bind(e.at)
                        .bind(&e.actor)
                        .bind(&e.action)
                        .bind(&e.subject)
                        .bind(&e.detail)
                        .bind(&e.prev_hash)
                        .bind(&e.hash);
                }
                self.execute(statement).await?;
            }
            entries
        };
        match self {
            Transaction::Sqlite(tx) => tx.commit().await?,
            Transaction::Postgres { tx, xid, pool } => {
                if let Err(e) = tx.commit().await {
                    settle_failed_commit(&pool, xid, e).await?;
                }
            }
        }
        Ok(entries)
    }
}

/// A commit failed on PostgreSQL. (On SQLite a failed commit did not happen: the database is a local file, and
/// the error came from it.) The connection may have broken after the server committed but before the answer
/// arrived, so the transaction's fate is asked on another connection (`txid_status`): committed is success,
/// aborted is [`Error::StorageUnavailable`] (nothing changed, the request may be sent again), and when that
/// cannot be learnt within [`SETTLE_COMMIT_FOR`] the outcome is [`Error::CommitUnknown`].
async fn settle_failed_commit(pool: &sqlx::PgPool, xid: Option<i64>, e: sqlx::Error) -> Result<(), Error> {
    let Some(xid) = xid else { return Err(Error::from(e)) };
    let started = std::time::Instant::now();
    while started.elapsed() < SETTLE_COMMIT_FOR {
        let fate = sqlx::query("SELECT txid_status($1)").bind(xid).fetch_one(pool).await;
        match fate.and_then(|row| sqlx::Row::try_get::<Option<String>, _>(&row, 0)) {
            Ok(Some(fate)) if fate == "committed" => {
                tracing::warn!(error = %e, "the commit's answer was lost, but it committed");
                return Ok(());
            }
            Ok(Some(fate)) if fate == "aborted" => return Err(Error::StorageUnavailable(e)),
            // In progress, or the database is still unreachable: ask again shortly.
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    Err(Error::CommitUnknown(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn postgres_url() -> String {
        std::env::var("HUREN_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
    }

    fn unique(name: &str) -> String {
        format!("huren_tx_{name}_{}", std::process::id())
    }

    /// A fresh, migrated database on `backend` (PostgreSQL in a schema of its own, on `$HUREN_TEST_DATABASE_URL`).
    async fn fresh(backend: &str, name: &str) -> Database {
        let unique = unique(name);
        let db = if backend == "sqlite" {
            let dir = std::env::temp_dir().join(&unique);
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Database::open_sqlite(&dir.join("issuer.db")).await.unwrap()
        } else {
            let url = postgres_url();
            let admin = Database::connect_postgres(&url, None).await.unwrap();
            admin.execute(Statement::new(format!("DROP SCHEMA IF EXISTS {unique} CASCADE"))).await.unwrap();
            admin.execute(Statement::new(format!("CREATE SCHEMA {unique}"))).await.unwrap();
            Database::connect_postgres(&url, Some(&unique)).await.unwrap()
        };
        db.migrate().await.unwrap();
        db
    }

    async fn remove(backend: &str, name: &str) {
        let unique = unique(name);
        if backend == "sqlite" {
            std::fs::remove_dir_all(std::env::temp_dir().join(&unique)).unwrap();
        } else {
            let admin = Database::connect_postgres(&postgres_url(), None).await.unwrap();
            admin.execute(Statement::new(format!("DROP SCHEMA {unique} CASCADE"))).await.unwrap();
        }
    }

    async fn tokens(db: &Database) -> i64 {
        db.fetch_one(Statement::new("SELECT COUNT(*) FROM api_tokens")).await.unwrap().get(0).unwrap()
    }

    fn insert_token(id: &str) -> Statement<'_> {
        let sql = "INSERT INTO api_tokens (id, secret_hash, role, province, created_at) VALUES ($1, $2, $3, $4, 1)";
        Statement::new(sql).bind(id).bind(&b"hash"[..]).bind("admin").bind("CN-GD")
    }

    /// What an audited transaction does is stored with its audit entries, chained, or (dropped, as on an early
    /// return) neither; on both backends.
    #[tokio::test]
    async fn an_audited_change_is_stored_with_its_entries_or_not_at_all() {
        for backend in ["sqlite", "postgres"] {
            let db = fresh(backend, "audited").await;
            let mut tx = db.begin_audited().await.unwrap();
            assert_eq!(tx.execute(insert_token("dropped")).await.unwrap(), 1);
            drop(tx);
            assert_eq!((tokens(&db).await, db.audit_log().await.unwrap().len()), (0, 0), "{backend}");

            let mut tx = db.begin_audited().await.unwrap();
            tx.execute(insert_token("kept")).await.unwrap();
            let records = vec![AuditRecord::new(1, "test", "token.create", "kept", ""); 2];
            let entries = tx.commit_audited(records).await.unwrap();
            assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2], "{backend}");
            assert_eq!(tokens(&db).await, 1, "{backend}");
            let log = db.audit_log().await.unwrap();
            assert_eq!(log, entries, "{backend}");
            audit::verify_audit_chain(&log).unwrap();

            // A failing statement fails the work; what came before it in the transaction is not kept either.
            let mut tx = db.begin_audited().await.unwrap();
            tx.execute(insert_token("first")).await.unwrap();
            let duplicate = tx.execute(insert_token("kept")).await;
            assert!(matches!(duplicate, Err(Error::Storage(_))), "{backend}: {duplicate:?}");
            drop(tx);
            assert_eq!((tokens(&db).await, db.audit_log().await.unwrap().len()), (1, 2), "{backend}");
            remove(backend, "audited").await;
        }
    }
}
