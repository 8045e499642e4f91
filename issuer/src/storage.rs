//! The issuer's storage: one interface, two real backends — SQLite (the embedded default: one file, WAL) and
//! PostgreSQL (for several issuer nodes over one database). Both run the same SQL (positional `$n` parameters,
//! which both accept) and the same migrations, with the one type that differs (`BLOB`/`BYTEA`) substituted.
//!
//! The audit log is append-only and hash-chained: each entry's hash is SHA-256 over the previous hash and the
//! entry's canonical CBOR, so removing, reordering or editing an entry breaks [`verify_audit_chain`]. Every
//! change is written in the same transaction as its audit entries, so neither exists without the other.

use std::str::FromStr;

use ciborium::Value;
use huren_wallet_core::StatusRef;
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Row;

use crate::Error;

/// Schema migrations, in order: (version, SQL with `BYTES_TYPE` for the backend's byte-string type).
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../migrations/0001_init.sql")),
    (2, include_str!("../migrations/0002_tokens.sql")),
    (3, include_str!("../migrations/0003_claim_links.sql")),
    (4, include_str!("../migrations/0004_idempotency.sql")),
    (5, include_str!("../migrations/0005_status_lists.sql")),
    (6, include_str!("../migrations/0006_province_scope.sql")),
    (7, include_str!("../migrations/0007_idempotency_request.sql")),
];

/// An API token as stored (the secret itself is never stored, only its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    /// Public token id (the part before the `.`).
    pub id: String,
    /// SHA-256 of the secret part.
    pub secret_hash: Vec<u8>,
    /// `issuer`, `revoker` or `admin`.
    pub role: String,
    /// The province the token acts for.
    pub province: String,
    /// When it was created.
    pub created_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// The credential an idempotency key already answers, and the request it was first used with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// The credential issued for the key's first request.
    pub credential_id: Vec<u8>,
    /// SHA-256 of that request (`None` for keys stored before it was recorded, migration 7).
    pub request_sha256: Option<Vec<u8>>,
}

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

    fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "valid" => Ok(CredentialStatus::Valid),
            "revoked" => Ok(CredentialStatus::Revoked),
            "suspended" => Ok(CredentialStatus::Suspended),
            other => Err(Error::Storage(format!("unknown status {other:?} in the database"))),
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
pub struct AuditRecord {
    /// When (Unix seconds).
    pub at: i64,
    /// Who (a token id, an operator, `cli`).
    pub actor: String,
    /// What (`issue`, `status.revoked`, `key.rotate`, ...).
    pub action: String,
    /// On what (a credential id in hex, a key id, ...).
    pub subject: String,
    /// Free-form detail (a reason); never personal data.
    pub detail: String,
}

impl AuditRecord {
    /// A record of `action` on `subject` by `actor` at `at`.
    pub fn new(at: i64, actor: &str, action: &str, subject: &str, detail: &str) -> Self {
        AuditRecord { at, actor: actor.into(), action: action.into(), subject: subject.into(), detail: detail.into() }
    }

    /// The `issue` record of a stored credential.
    fn issue(c: &StoredCredential, actor: &str) -> Self {
        AuditRecord::new(c.issued_at, actor, "issue", &huren_keys::hex(&c.id), &c.kind)
    }
}

/// The issuer's database.
#[derive(Debug, Clone)]
pub enum Database {
    /// SQLite, embedded.
    Sqlite {
        /// Connections for reads (WAL: they never wait for the writer).
        pool: SqlitePool,
        /// One connection for writes. SQLite admits one writer at a time anyway; queueing writers here, in
        /// order, spares them the busy handler's sleeps (measured: p99 of single issuance under 16 clients 42 ms
        /// with writers on the shared pool).
        writer: SqlitePool,
    },
    /// PostgreSQL.
    Postgres(PgPool),
}

/// Run the same read on whichever pool backs the database.
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            Database::Sqlite { pool: $pool, .. } => $body,
            Database::Postgres($pool) => $body,
        }
    };
}

/// Run the same write on whichever pool takes the database's writes.
macro_rules! on_writer {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            Database::Sqlite { writer: $pool, .. } => $body,
            Database::Postgres($pool) => $body,
        }
    };
}

/// Run `$body` (which yields `(result, audit records)`) in one transaction that also appends the records to the
/// audit log: the change and its audit entries are stored together or not at all. The audit log is locked first
/// (an exclusive table lock on PostgreSQL, the write lock on SQLite), so concurrent writers, on this node or
/// another, never fork the chain.
macro_rules! audited {
    ($db:expr, |$tx:ident| $body:expr) => {
        on_writer!($db, |pool| {
            let mut $tx = pool.begin().await.map_err(db_err)?;
            // PostgreSQL: the transaction's id, to learn its fate if the commit's answer is lost.
            let mut xid: Option<i64> = None;
            if let Database::Postgres(_) = $db {
                sqlx::query("LOCK TABLE audit_log IN EXCLUSIVE MODE").execute(&mut *$tx).await.map_err(db_err)?;
                let row = sqlx::query("SELECT txid_current()").fetch_one(&mut *$tx).await.map_err(db_err)?;
                xid = Some(row.try_get::<i64, _>(0).map_err(db_err)?);
            } else {
                // Make the deferred transaction a write transaction before anything is read.
                sqlx::query("UPDATE audit_log SET seq = seq WHERE 0 = 1").execute(&mut *$tx).await.map_err(db_err)?;
            }
            let (result, records): (_, Vec<AuditRecord>) = $body;
            let entries = if records.is_empty() {
                Vec::new()
            } else {
                let tail = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
                    .fetch_optional(&mut *$tx)
                    .await
                    .map_err(db_err)?;
                let tail = match tail {
                    Some(row) => Some((
                        row.try_get::<i64, _>("seq").map_err(db_err)?,
                        row.try_get::<Vec<u8>, _>("hash").map_err(db_err)?,
                    )),
                    None => None,
                };
                let entries = chain(tail, records);
                for chunk in entries.chunks(ROWS_PER_INSERT) {
                    let sql = format!("{INSERT_AUDIT} {}", placeholders($db, 8, chunk.len()));
                    let mut query = sqlx::query(&sql);
                    for e in chunk {
                        query = query
                            .bind(e.seq)
                            .bind(e.at)
                            .bind(&e.actor)
                            .bind(&e.action)
                            .bind(&e.subject)
                            .bind(&e.detail)
                            .bind(&e.prev_hash)
                            .bind(&e.hash);
                    }
                    query.execute(&mut *$tx).await.map_err(db_err)?;
                }
                entries
            };
            if let Err(e) = $tx.commit().await {
                settle_failed_commit($db, xid, e).await?;
            }
            (result, entries)
        })
    };
}

/// How long to keep asking whether a commit whose answer was lost took effect.
const SETTLE_COMMIT_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// A commit failed. On SQLite that means it did not happen (the database is a local file: the error came from it).
/// On PostgreSQL the connection may have broken after the server committed but before the answer arrived, so
/// the transaction's fate is asked on another connection (`txid_status`): committed is success, aborted is
/// [`Error::StorageUnavailable`] (nothing changed, the request may be sent again), and when that cannot be learnt
/// within [`SETTLE_COMMIT_FOR`] the outcome is [`Error::CommitUnknown`].
async fn settle_failed_commit(db: &Database, xid: Option<i64>, e: sqlx::Error) -> Result<(), Error> {
    let (Database::Postgres(pool), Some(xid)) = (db, xid) else { return Err(db_err(e)) };
    let started = std::time::Instant::now();
    while started.elapsed() < SETTLE_COMMIT_FOR {
        let fate = sqlx::query("SELECT txid_status($1)").bind(xid).fetch_one(pool).await;
        match fate.and_then(|row| row.try_get::<Option<String>, _>(0)) {
            Ok(Some(fate)) if fate == "committed" => {
                tracing::warn!(error = %e, "the commit's answer was lost, but it committed");
                return Ok(());
            }
            Ok(Some(fate)) if fate == "aborted" => return Err(Error::StorageUnavailable(e.to_string())),
            // In progress, or the database is still unreachable: ask again shortly.
            _ => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    Err(Error::CommitUnknown(e.to_string()))
}

/// Rows per multi-row INSERT (at most 8 columns each: far below either backend's bound-parameter limit).
const ROWS_PER_INSERT: usize = 64;

const INSERT_CREDENTIALS: &str =
    "INSERT INTO credentials (id, province, kind, issued_at, expires_at, cose, status, status_list, status_index) VALUES";
const INSERT_AUDIT: &str = "INSERT INTO audit_log (seq, at, actor, action, subject, detail, prev_hash, hash) VALUES";

/// The VALUES list of a multi-row INSERT: `($1, ..., $c), ($c+1, ...)` for PostgreSQL; anonymous `?` for SQLite,
/// whose binding looks each numbered parameter up by name in a list as long as the statement (quadratic in the
/// rows per statement; measured at 12% of bulk issuance with `$n`).
fn placeholders(db: &Database, columns: usize, rows: usize) -> String {
    let mut n = 0;
    let mut row = || {
        let params: Vec<String> = (0..columns)
            .map(|_| {
                n += 1;
                match db {
                    Database::Sqlite { .. } => "?".to_string(),
                    Database::Postgres(_) => format!("${n}"),
                }
            })
            .collect();
        format!("({})", params.join(", "))
    };
    (0..rows).map(|_| row()).collect::<Vec<_>>().join(", ")
}

/// Chain `records` after the log's last entry (`None` for an empty log).
fn chain(tail: Option<(i64, Vec<u8>)>, records: Vec<AuditRecord>) -> Vec<AuditEntry> {
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

/// Insert credentials with multi-row statements inside the transaction `$tx`.
macro_rules! insert_credentials {
    ($db:expr, $tx:ident, $credentials:expr) => {
        for chunk in $credentials.chunks(ROWS_PER_INSERT) {
            let sql = format!("{INSERT_CREDENTIALS} {}", placeholders($db, 9, chunk.len()));
            let mut query = sqlx::query(&sql);
            for c in chunk {
                query = query
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
            query.execute(&mut *$tx).await.map_err(db_err)?;
        }
    };
}

/// A status reference from its two columns (both set or both null).
fn status_ref(list: Option<i64>, index: Option<i64>) -> Result<Option<StatusRef>, Error> {
    match (list, index) {
        (None, None) => Ok(None),
        (Some(list), Some(index)) => match (u32::try_from(list), u32::try_from(index)) {
            (Ok(list), Ok(index)) => Ok(Some(StatusRef { list, index })),
            _ => Err(Error::Storage(format!("status reference ({list}, {index}) out of range in the database"))),
        },
        _ => Err(Error::Storage("a half-set status reference in the database".into())),
    }
}

fn db_err(e: sqlx::Error) -> Error {
    match classify(&e) {
        Failure::Transient => Error::StorageUnavailable(e.to_string()),
        Failure::BadData => Error::InvalidInput(e.to_string()),
        Failure::Other => Error::Storage(e.to_string()),
    }
}

/// What a database failure says about the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Nothing about the request, only about reaching the database at this moment: it may be sent again.
    Transient,
    /// The request carried a value the database refuses as data (PostgreSQL class 22, such as a NUL character in
    /// text): sending it again fails again, so it is the client's to correct.
    BadData,
    /// Anything else: logged, and a 500 to HTTP clients.
    Other,
}

/// Classify a failure by the backend that reported it: SQLite's numeric result codes and PostgreSQL's SQLSTATEs
/// overlap as strings (PostgreSQL's `22021` has the low byte 5, SQLite's "busy"), so each code is read only by
/// its own backend's rules.
///
/// Transient: the connection broke or was closed (I/O, TLS, protocol; PostgreSQL class 08, an administrator's
/// termination 57P01-57P03), the pool had no connection in time, or the transaction lost a serialisation race
/// (40001, 40P01; SQLite busy or locked). A transaction that fails so before its commit was rolled back, so the
/// request may be sent again (503 to HTTP clients); a failed commit is settled first ([`settle_failed_commit`]).
fn classify(e: &sqlx::Error) -> Failure {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Failure::Transient,
        sqlx::Error::Database(d) => {
            if let Some(pg) = d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                postgres_failure(pg.code())
            } else if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                d.code().map_or(Failure::Other, |code| sqlite_failure(&code))
            } else {
                Failure::Other
            }
        }
        _ => Failure::Other,
    }
}

/// A PostgreSQL SQLSTATE's meaning for the request.
fn postgres_failure(sqlstate: &str) -> Failure {
    if sqlstate.starts_with("08") || ["57P01", "57P02", "57P03", "40001", "40P01"].contains(&sqlstate) {
        Failure::Transient
    } else if sqlstate.starts_with("22") {
        Failure::BadData
    } else {
        Failure::Other
    }
}

/// An SQLite result code's meaning for the request: the extended code as text, whose low byte is the primary
/// code (5 busy, 6 locked: another writer holds the database).
fn sqlite_failure(code: &str) -> Failure {
    match code.parse::<u32>() {
        Ok(n) if matches!(n & 0xff, 5 | 6) => Failure::Transient,
        _ => Failure::Other,
    }
}

/// An idempotency key's row: the credential and the request digest.
fn idempotency_record<R: Row>(row: &R) -> Result<IdempotencyRecord, Error>
where
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<Vec<u8>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(IdempotencyRecord {
        credential_id: row.try_get("credential_id").map_err(db_err)?,
        request_sha256: row.try_get("request_sha256").map_err(db_err)?,
    })
}

/// The province a signed status list names (our own publication, read back: not verified again).
fn publication_province(document: &[u8]) -> Option<String> {
    let sign1 = huren_keys::cose::Sign1::parse(document).ok()?;
    Some(huren_keys::status::StatusList::from_payload(sign1.unverified_payload()).ok()?.province)
}

impl Database {
    /// Open (creating if needed) an SQLite database file in WAL mode with full synchronous commits, so an
    /// acknowledged write survives a crash.
    pub async fn open_sqlite(path: &std::path::Path) -> Result<Self, Error> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(10));
        let writer = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await.map_err(db_err)?;
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(options).await.map_err(db_err)?;
        Ok(Database::Sqlite { pool, writer })
    }

    /// Connect to PostgreSQL (`postgres://user@host:port/db`), optionally inside a schema (`search_path`).
    pub async fn connect_postgres(url: &str, schema: Option<&str>) -> Result<Self, Error> {
        let mut options = PgConnectOptions::from_str(url).map_err(db_err)?;
        if let Some(schema) = schema {
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new().max_connections(8).connect_with(options).await.map_err(db_err)?;
        Ok(Database::Postgres(pool))
    }

    fn bytes_type(&self) -> &'static str {
        match self {
            Database::Sqlite { .. } => "BLOB",
            Database::Postgres(_) => "BYTEA",
        }
    }

    /// Apply the migrations not applied yet, each in its own transaction.
    pub async fn migrate(&self) -> Result<(), Error> {
        self.migrate_to(i64::MAX).await
    }

    /// Apply the migrations not applied yet up to `last` (and the data fix-ups of those applied): a database as
    /// an older release left it, for tests of upgrades. [`Database::migrate`] applies them all.
    pub async fn migrate_to(&self, last: i64) -> Result<(), Error> {
        let create = "CREATE TABLE IF NOT EXISTS huren_migrations (version BIGINT PRIMARY KEY)";
        on_writer!(self, |pool| sqlx::query(create).execute(pool).await.map(|_| ()).map_err(db_err))?;
        for (version, sql) in MIGRATIONS.iter().filter(|(version, _)| *version <= last) {
            // Comments out (they may hold `;`), the backend's byte type in.
            let sql: String = sql
                .lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
                .replace("BYTES_TYPE", self.bytes_type());
            on_writer!(self, |pool| {
                let mut tx = pool.begin().await.map_err(db_err)?;
                let applied = sqlx::query("SELECT version FROM huren_migrations WHERE version = $1")
                    .bind(*version)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .is_some();
                if !applied {
                    for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                        // Our own migration text, not user input.
                        sqlx::query(statement).execute(&mut *tx).await.map_err(db_err)?;
                    }
                    sqlx::query("INSERT INTO huren_migrations (version) VALUES ($1)")
                        .bind(*version)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                }
                tx.commit().await.map_err(db_err)
            })?;
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
        let keys: Vec<(i64, i64)> = on_pool!(self, |pool| {
            let rows = sqlx::query(legacy).fetch_all(pool).await.map_err(db_err)?;
            rows.iter()
                .map(|r| Ok((r.try_get(0).map_err(db_err)?, r.try_get(1).map_err(db_err)?)))
                .collect::<Result<_, Error>>()?
        });
        let read = "SELECT document FROM status_publications WHERE province = '' AND list_id = $1 AND version = $2";
        let assign =
            "UPDATE status_publications SET province = $1 WHERE province = '' AND list_id = $2 AND version = $3";
        for (list, version) in keys {
            let document: Vec<u8> = on_pool!(self, |pool| sqlx::query(read)
                .bind(list)
                .bind(version)
                .fetch_one(pool)
                .await
                .map_err(db_err)?
                .try_get(0)
                .map_err(db_err)?);
            let province = publication_province(&document).unwrap_or_else(|| {
                tracing::warn!(list, version, "a stored status list publication cannot be read: set aside");
                "-".into()
            });
            on_writer!(self, |pool| sqlx::query(assign)
                .bind(&province)
                .bind(list)
                .bind(version)
                .execute(pool)
                .await
                .map(|_| ())
                .map_err(db_err)?);
        }
        Ok(())
    }

    /// Store newly issued credentials (ids must be new), each with its `issue` audit entry by `actor`, in one
    /// transaction: when this returns `Ok`, all of them are stored and audited; otherwise none is.
    pub async fn insert_issued(&self, credentials: &[StoredCredential], actor: &str) -> Result<(), Error> {
        if credentials.is_empty() {
            return Ok(());
        }
        audited!(self, |tx| {
            insert_credentials!(self, tx, credentials);
            ((), credentials.iter().map(|c| AuditRecord::issue(c, actor)).collect())
        });
        Ok(())
    }

    /// A stored credential by id.
    pub async fn credential(&self, id: &[u8]) -> Result<Option<StoredCredential>, Error> {
        let sql = "SELECT id, province, kind, issued_at, expires_at, cose, status, status_reason, status_changed_at, \
                   status_list, status_index FROM credentials WHERE id = $1";
        let row = on_pool!(self, |pool| {
            match sqlx::query(sql).bind(id).fetch_optional(pool).await.map_err(db_err)? {
                None => None,
                Some(r) => Some(StoredCredential {
                    id: r.try_get("id").map_err(db_err)?,
                    province: r.try_get("province").map_err(db_err)?,
                    kind: r.try_get("kind").map_err(db_err)?,
                    issued_at: r.try_get("issued_at").map_err(db_err)?,
                    expires_at: r.try_get("expires_at").map_err(db_err)?,
                    cose: r.try_get("cose").map_err(db_err)?,
                    status: CredentialStatus::parse(&r.try_get::<String, _>("status").map_err(db_err)?)?,
                    status_reason: r.try_get("status_reason").map_err(db_err)?,
                    status_changed_at: r.try_get("status_changed_at").map_err(db_err)?,
                    status_ref: status_ref(
                        r.try_get("status_list").map_err(db_err)?,
                        r.try_get("status_index").map_err(db_err)?,
                    )?,
                }),
            }
        });
        Ok(row)
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
        let (changed, _) = audited!(self, |tx| {
            let rows = sqlx::query(sql)
                .bind(status.as_str())
                .bind(reason)
                .bind(at)
                .bind(id)
                .bind(province)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
            let action = format!("status.{}", status.as_str());
            let records = if rows == 1 {
                vec![AuditRecord::new(at, actor, &action, &huren_keys::hex(id), reason)]
            } else {
                Vec::new()
            };
            (rows == 1, records)
        });
        Ok(changed)
    }

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
        let (_, entries) = audited!(self, |tx| ((), vec![AuditRecord::new(at, actor, action, subject, detail)]));
        entries.into_iter().next().ok_or_else(|| Error::Storage("audit append wrote no entry".into()))
    }

    /// Store a new API token, audited (`token.create` by `actor`) in the same transaction.
    pub async fn insert_token(&self, t: &StoredToken, actor: &str) -> Result<(), Error> {
        let sql = "INSERT INTO api_tokens (id, secret_hash, role, province, created_at) VALUES ($1, $2, $3, $4, $5)";
        audited!(self, |tx| {
            sqlx::query(sql)
                .bind(&t.id)
                .bind(&t.secret_hash)
                .bind(&t.role)
                .bind(&t.province)
                .bind(t.created_at)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            ((), vec![AuditRecord::new(t.created_at, actor, "token.create", &t.id, &t.role)])
        });
        Ok(())
    }

    /// A token by its public id.
    pub async fn token(&self, id: &str) -> Result<Option<StoredToken>, Error> {
        let sql = "SELECT id, secret_hash, role, province, created_at, revoked_at FROM api_tokens WHERE id = $1";
        let token = on_pool!(self, |pool| {
            match sqlx::query(sql).bind(id).fetch_optional(pool).await.map_err(db_err)? {
                None => None,
                Some(r) => Some(StoredToken {
                    id: r.try_get("id").map_err(db_err)?,
                    secret_hash: r.try_get("secret_hash").map_err(db_err)?,
                    role: r.try_get("role").map_err(db_err)?,
                    province: r.try_get("province").map_err(db_err)?,
                    created_at: r.try_get("created_at").map_err(db_err)?,
                    revoked_at: r.try_get("revoked_at").map_err(db_err)?,
                }),
            }
        });
        Ok(token)
    }

    /// What `token_id`'s idempotency key `key` already answers, if it was used.
    pub async fn idempotency_record(&self, token_id: &str, key: &str) -> Result<Option<IdempotencyRecord>, Error> {
        let sql = "SELECT credential_id, request_sha256 FROM idempotency_keys WHERE token_id = $1 AND key = $2";
        let record = on_pool!(self, |pool| {
            match sqlx::query(sql).bind(token_id).bind(key).fetch_optional(pool).await.map_err(db_err)? {
                Some(row) => Some(idempotency_record(&row)?),
                None => None,
            }
        });
        Ok(record)
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
        let existing = "SELECT credential_id, request_sha256 FROM idempotency_keys WHERE token_id = $1 AND key = $2";
        let (earlier, _) = audited!(self, |tx| {
            let claimed = sqlx::query(claim)
                .bind(token_id)
                .bind(key)
                .bind(&c.id)
                .bind(now)
                .bind(request_sha256)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
            if claimed == 1 {
                insert_credentials!(self, tx, std::slice::from_ref(c));
                (None, vec![AuditRecord::issue(c, token_id)])
            } else {
                let row = sqlx::query(existing).bind(token_id).bind(key).fetch_one(&mut *tx).await.map_err(db_err)?;
                (Some(idempotency_record(&row)?), Vec::new())
            }
        });
        Ok(earlier)
    }

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
        audited!(self, |tx| {
            sqlx::query(sql)
                .bind(secret_hash)
                .bind(credential_id)
                .bind(now)
                .bind(expires_at)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            ((), vec![AuditRecord::new(now, actor, "claim.create", &huren_keys::hex(credential_id), "")])
        });
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
        let (id, _) = audited!(self, |tx| {
            let won = sqlx::query(update)
                .bind(now)
                .bind(secret_hash)
                .bind(now)
                .bind(province)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            if won.rows_affected() == 1 {
                let row = sqlx::query(select).bind(secret_hash).fetch_one(&mut *tx).await.map_err(db_err)?;
                let id: Vec<u8> = row.try_get("credential_id").map_err(db_err)?;
                let record = AuditRecord::new(now, "claim", "claim.redeem", &huren_keys::hex(&id), "");
                (Some(id), vec![record])
            } else {
                (None, Vec::new())
            }
        });
        Ok(id)
    }

    /// Reserve block `block` of `province`'s status list `list` for `node`; `false` when another node holds it
    /// already.
    pub async fn reserve_status_block(
        &self,
        province: &str,
        list: u32,
        block: u32,
        node: &str,
        now: i64,
    ) -> Result<bool, Error> {
        let sql =
            "INSERT INTO status_blocks (province, list_id, block, node, reserved_at) VALUES ($1, $2, $3, $4, $5) \
                   ON CONFLICT (province, list_id, block) DO NOTHING";
        let rows = on_writer!(self, |pool| sqlx::query(sql)
            .bind(province)
            .bind(i64::from(list))
            .bind(i64::from(block))
            .bind(node)
            .bind(now)
            .execute(pool)
            .await
            .map_err(db_err)?
            .rows_affected());
        Ok(rows == 1)
    }

    /// The blocks of `province`'s status list `list` already reserved (by any of its nodes), and those reserved
    /// before lists were kept per province whose province is unknown (taken for every province).
    pub async fn status_blocks(&self, province: &str, list: u32) -> Result<Vec<u32>, Error> {
        let sql = "SELECT block FROM status_blocks WHERE list_id = $1 AND province IN ($2, '')";
        let blocks: Vec<i64> = on_pool!(self, |pool| {
            let rows = sqlx::query(sql).bind(i64::from(list)).bind(province).fetch_all(pool).await.map_err(db_err)?;
            rows.iter().map(|r| r.try_get(0).map_err(db_err)).collect::<Result<_, Error>>()?
        });
        blocks.into_iter().map(|b| u32::try_from(b).map_err(|_| Error::Storage("status block".into()))).collect()
    }

    /// The status lists of `province` in which indices have been handed out, in order.
    pub async fn status_lists(&self, province: &str) -> Result<Vec<u32>, Error> {
        let sql = "SELECT DISTINCT list_id FROM status_blocks WHERE province = $1 ORDER BY list_id";
        let lists: Vec<i64> = on_pool!(self, |pool| {
            let rows = sqlx::query(sql).bind(province).fetch_all(pool).await.map_err(db_err)?;
            rows.iter().map(|r| r.try_get(0).map_err(db_err)).collect::<Result<_, Error>>()?
        });
        lists.into_iter().map(|l| u32::try_from(l).map_err(|_| Error::Storage("status list id".into()))).collect()
    }

    /// Every credential of `province`'s status list `list` that is not valid: (index, status).
    pub async fn non_valid_in_list(&self, province: &str, list: u32) -> Result<Vec<(u32, CredentialStatus)>, Error> {
        let sql = "SELECT status_index, status FROM credentials \
                   WHERE province = $1 AND status_list = $2 AND status <> 'valid'";
        let rows: Vec<(i64, String)> = on_pool!(self, |pool| {
            let rows = sqlx::query(sql).bind(province).bind(i64::from(list)).fetch_all(pool).await.map_err(db_err)?;
            rows.iter()
                .map(|r| Ok((r.try_get(0).map_err(db_err)?, r.try_get(1).map_err(db_err)?)))
                .collect::<Result<_, Error>>()?
        });
        rows.into_iter()
            .map(|(index, status)| {
                let index = u32::try_from(index).map_err(|_| Error::Storage("status index".into()))?;
                Ok((index, CredentialStatus::parse(&status)?))
            })
            .collect()
    }

    /// Record a published version of `province`'s status list `list`; `false` when that version exists already
    /// (another node of the province published it first).
    pub async fn insert_publication(
        &self,
        province: &str,
        list: u32,
        version: u64,
        issued_at: i64,
        document: &[u8],
    ) -> Result<bool, Error> {
        let sql = "INSERT INTO status_publications (province, list_id, version, issued_at, document) \
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT (province, list_id, version) DO NOTHING";
        let version = i64::try_from(version).map_err(|_| Error::Storage("status list version".into()))?;
        let rows = on_writer!(self, |pool| sqlx::query(sql)
            .bind(province)
            .bind(i64::from(list))
            .bind(version)
            .bind(issued_at)
            .bind(document)
            .execute(pool)
            .await
            .map_err(db_err)?
            .rows_affected());
        Ok(rows == 1)
    }

    /// The signed document of a published version of `province`'s list `list` (`None` for the latest: the
    /// newest version).
    pub async fn publication(&self, province: &str, list: u32, version: Option<u64>) -> Result<Option<Vec<u8>>, Error> {
        let latest = "SELECT document FROM status_publications WHERE province = $1 AND list_id = $2 \
                      ORDER BY version DESC LIMIT 1";
        let exact = "SELECT document FROM status_publications WHERE province = $1 AND list_id = $2 AND version = $3";
        let version = version.map(i64::try_from).transpose().map_err(|_| Error::Storage("version".into()))?;
        let document = on_pool!(self, |pool| {
            let query = match version {
                None => sqlx::query(latest).bind(province).bind(i64::from(list)),
                Some(v) => sqlx::query(exact).bind(province).bind(i64::from(list)).bind(v),
            };
            match query.fetch_optional(pool).await.map_err(db_err)? {
                Some(row) => Some(row.try_get::<Vec<u8>, _>(0).map_err(db_err)?),
                None => None,
            }
        });
        Ok(document)
    }

    /// Whether the database answers (readiness).
    pub async fn ping(&self) -> Result<(), Error> {
        on_pool!(self, |pool| sqlx::query("SELECT 1").execute(pool).await.map(|_| ()).map_err(db_err))
    }

    /// The whole audit log, in order.
    pub async fn audit_log(&self) -> Result<Vec<AuditEntry>, Error> {
        let sql = "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit_log ORDER BY seq";
        let entries = on_pool!(self, |pool| {
            let rows = sqlx::query(sql).fetch_all(pool).await.map_err(db_err)?;
            rows.iter()
                .map(|r| {
                    Ok(AuditEntry {
                        seq: r.try_get("seq").map_err(db_err)?,
                        at: r.try_get("at").map_err(db_err)?,
                        actor: r.try_get("actor").map_err(db_err)?,
                        action: r.try_get("action").map_err(db_err)?,
                        subject: r.try_get("subject").map_err(db_err)?,
                        detail: r.try_get("detail").map_err(db_err)?,
                        prev_hash: r.try_get("prev_hash").map_err(db_err)?,
                        hash: r.try_get("hash").map_err(db_err)?,
                    })
                })
                .collect::<Result<Vec<_>, Error>>()?
        });
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_by_their_own_backend() {
        // PostgreSQL data exceptions are the request's fault, whatever their digits mean to SQLite (22021 has
        // the low byte 5, "busy"; 22022 has 6, "locked").
        for code in ["22021", "22022", "22001", "22P02", "22003"] {
            assert_eq!(postgres_failure(code), Failure::BadData, "{code}");
        }
        for code in ["08000", "08006", "08P01", "57P01", "57P02", "57P03", "40001", "40P01"] {
            assert_eq!(postgres_failure(code), Failure::Transient, "{code}");
        }
        // Permission denied, unique violation, undefined table: neither the client's to fix nor worth a retry.
        for code in ["42501", "23505", "42P01", "5", "517"] {
            assert_eq!(postgres_failure(code), Failure::Other, "{code}");
        }
        // SQLite: busy and locked in all their extended forms, nothing else.
        for code in ["5", "6", "261", "517", "773", "262"] {
            assert_eq!(sqlite_failure(code), Failure::Transient, "{code}");
        }
        for code in ["19", "2067", "1555", "11", "57P01", "08006", ""] {
            assert_eq!(sqlite_failure(code), Failure::Other, "{code}");
        }
    }
}
