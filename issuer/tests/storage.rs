//! One storage test suite, run for real against both backends: SQLite in a temporary file, and PostgreSQL on
//! `$HUREN_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`, in a schema of its own).
//! PostgreSQL is required: .ci/run starts it when it is not running, and these tests fail rather than skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use huren_issuer::storage::{verify_audit_chain, CredentialStatus, Database, IdempotencyRecord, StoredCredential};

fn record(id: u8) -> StoredCredential {
    StoredCredential {
        id: vec![id; 8],
        province: "CN-GD".into(),
        kind: "health-status".into(),
        issued_at: 1_790_000_000,
        expires_at: 1_790_604_800,
        cose: vec![0xd2, 0x84, id],
        status: CredentialStatus::Valid,
        status_reason: None,
        status_changed_at: None,
        status_ref: None,
    }
}

fn record_n(n: u32) -> StoredCredential {
    let mut r = record(0);
    r.id = [b"bulk".as_slice(), &n.to_be_bytes()].concat();
    r
}

/// The audit log's actions, in order.
async fn actions(db: &Database) -> Vec<String> {
    db.audit_log().await.unwrap().into_iter().map(|e| e.action).collect()
}

async fn suite(db: &Database) {
    db.migrate().await.unwrap();
    db.migrate().await.unwrap(); // idempotent

    // Credentials round trip with their audit entry; ids are unique.
    db.insert_issued(&[record(1)], "tok-a").await.unwrap();
    assert_eq!(db.credential(&[1; 8]).await.unwrap(), Some(record(1)));
    assert_eq!(db.credential(&[9; 8]).await.unwrap(), None);
    let log = db.audit_log().await.unwrap();
    assert_eq!(
        (log[0].action.as_str(), log[0].actor.as_str(), log[0].subject.as_str()),
        ("issue", "tok-a", "0101010101010101")
    );
    assert!(db.insert_issued(&[record(1)], "tok-a").await.is_err(), "a duplicate id is refused");
    assert_eq!(db.audit_log().await.unwrap().len(), 1, "a refused insert leaves no audit entry");

    // A batch is stored whole (across several multi-row statements) or not at all.
    let batch: Vec<_> = (0..600).map(record_n).collect();
    db.insert_issued(&batch, "bulk").await.unwrap();
    assert_eq!(db.credential(&record_n(599).id).await.unwrap(), Some(record_n(599)));
    assert_eq!(db.audit_log().await.unwrap().len(), 601);
    let mut clash: Vec<_> = (600..900).map(record_n).collect();
    clash.push(record_n(5)); // already stored: the whole batch fails
    assert!(db.insert_issued(&clash, "bulk").await.is_err());
    assert_eq!(db.credential(&record_n(600).id).await.unwrap(), None, "nothing of a failed batch is stored");
    assert_eq!(db.audit_log().await.unwrap().len(), 601, "nor audited");
    db.insert_issued(&[], "bulk").await.unwrap();
    assert_eq!(db.audit_log().await.unwrap().len(), 601, "an empty batch writes nothing");

    // Suspend, reinstate, revoke, each audited; a revoked credential stays revoked; a refused change is not
    // audited.
    // Another province's change finds no credential (shared databases), and is not audited.
    assert!(!db.set_status(&[1; 8], "CN-HB", CredentialStatus::Revoked, "not ours", 9, "tok-r").await.unwrap());
    assert!(db.set_status(&[1; 8], "CN-GD", CredentialStatus::Suspended, "under review", 10, "tok-r").await.unwrap());
    let c = db.credential(&[1; 8]).await.unwrap().unwrap();
    assert_eq!(
        (c.status, c.status_reason.as_deref(), c.status_changed_at),
        (CredentialStatus::Suspended, Some("under review"), Some(10))
    );
    assert!(db.set_status(&[1; 8], "CN-GD", CredentialStatus::Valid, "cleared", 11, "tok-r").await.unwrap());
    assert!(db.set_status(&[1; 8], "CN-GD", CredentialStatus::Revoked, "reported lost", 12, "tok-r").await.unwrap());
    assert!(!db.set_status(&[1; 8], "CN-GD", CredentialStatus::Valid, "oops", 13, "tok-r").await.unwrap());
    assert_eq!(db.credential(&[1; 8]).await.unwrap().unwrap().status, CredentialStatus::Revoked);
    assert!(!db
        .set_status(&[7; 8], "CN-GD", CredentialStatus::Revoked, "no such credential", 14, "tok-r")
        .await
        .unwrap());
    let log = db.audit_log().await.unwrap();
    assert_eq!(log.len(), 604);
    assert_eq!(
        log[601..].iter().map(|e| (e.action.as_str(), e.detail.as_str())).collect::<Vec<_>>(),
        [("status.suspended", "under review"), ("status.valid", "cleared"), ("status.revoked", "reported lost")]
    );

    // Idempotency keys: the first insert wins, a retry learns the first id (and request digest) and stores nothing.
    assert_eq!(db.idempotency_record("tok", "k1").await.unwrap(), None);
    assert_eq!(db.insert_credential_once(&record(2), "tok", "k1", &[0xaa; 32], 50).await.unwrap(), None);
    let first = IdempotencyRecord { credential_id: vec![2; 8], request_sha256: Some(vec![0xaa; 32]) };
    assert_eq!(db.idempotency_record("tok", "k1").await.unwrap(), Some(first.clone()));
    assert_eq!(db.insert_credential_once(&record(3), "tok", "k1", &[0xbb; 32], 51).await.unwrap(), Some(first));
    assert_eq!(db.credential(&[3; 8]).await.unwrap(), None, "the retry stored nothing");
    assert_eq!(db.audit_log().await.unwrap().len(), 605, "and audited nothing");
    assert_eq!(
        db.insert_credential_once(&record(3), "other-token", "k1", &[0xbb; 32], 52).await.unwrap(),
        None,
        "keys are per token"
    );

    // Claim links: redeemed once, not after expiry, unknown ones not at all; creation and redemption audited.
    db.insert_claim_link(&[5; 32], &[1; 8], 100, 200, "tok").await.unwrap();
    db.insert_claim_link(&[6; 32], &[1; 8], 100, 200, "tok").await.unwrap();
    assert_eq!(db.redeem_claim_link(&[5; 32], "CN-HB", 140).await.unwrap(), None, "another province's link");
    assert_eq!(db.redeem_claim_link(&[5; 32], "CN-GD", 150).await.unwrap(), Some(vec![1; 8]), "was not spent");
    assert_eq!(db.redeem_claim_link(&[5; 32], "CN-GD", 151).await.unwrap(), None);
    assert_eq!(db.redeem_claim_link(&[6; 32], "CN-GD", 200).await.unwrap(), None, "expired");
    assert_eq!(db.redeem_claim_link(&[7; 32], "CN-GD", 150).await.unwrap(), None);
    assert_eq!(actions(db).await[606..], ["claim.create", "claim.create", "claim.redeem"]);

    // The audit chain: sequential appends, then concurrent ones, all in one unbroken chain.
    for i in 0..5 {
        db.append_audit(100 + i, "cli", "key.rotate", &format!("{i:02x}"), "").await.unwrap();
    }
    let mut tasks = Vec::new();
    for i in 0..20 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move { db.append_audit(200 + i, "node", "revoke", "x", "concurrent").await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let log = db.audit_log().await.unwrap();
    assert_eq!(log.len(), AUDIT_ENTRIES);
    assert_eq!(log.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=634).collect::<Vec<_>>());
    verify_audit_chain(&log).unwrap();

    // Editing, removing or reordering an entry breaks the chain at that entry.
    let mut edited = log.clone();
    edited[7].detail = "nothing happened".into();
    assert_eq!(verify_audit_chain(&edited).unwrap_err().seq, 8);
    let mut removed = log.clone();
    removed.remove(3);
    assert_eq!(verify_audit_chain(&removed).unwrap_err().seq, 5);
    let mut forged = log.clone();
    forged[10].detail = "edited".into();
    forged[10].hash = vec![0; 32];
    assert_eq!(verify_audit_chain(&forged).unwrap_err().seq, 11);
}

/// Entries the suite leaves in the log.
const AUDIT_ENTRIES: usize = 634;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backend() {
    let dir = std::env::temp_dir().join(format!("huren-storage-sqlite-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = Database::open_sqlite(&dir.join("issuer.db")).await.unwrap();
    suite(&db).await;
    // Reopening the file finds everything (acknowledged writes are on disk).
    drop(db);
    let again = Database::open_sqlite(&dir.join("issuer.db")).await.unwrap();
    again.migrate().await.unwrap();
    assert_eq!(again.audit_log().await.unwrap().len(), AUDIT_ENTRIES);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backend() {
    let url =
        std::env::var("HUREN_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("huren_test_{}", std::process::id());
    let admin = Database::connect_postgres(&url, None)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url} is required for this test (.ci/run starts it): {e}"));
    let Database::Postgres(pool) = &admin else { unreachable!("connect_postgres returns PostgreSQL") };
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(pool).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(pool).await.unwrap();
    let db = Database::connect_postgres(&url, Some(&schema)).await.unwrap();
    suite(&db).await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(pool).await.unwrap();
}
