//! Ids are read in the one spelling the issuer writes them (lower-case hex, two digits a byte): `+a`, which
//! `u8::from_str_radix` reads as `0a`, and upper case name no credential, through the API and the CLI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::StatusCode;
use huren_issuer::storage::{CredentialStatus, Database, StoredCredential};

use crate::service::{call, finish, setup, Backend, Setup};

/// The id stored, and spellings of it that `u8::from_str_radix` pair by pair would accept.
const ID: [u8; 8] = [0x0a, 0x0b, 1, 2, 3, 4, 5, 0xfe];
const ALIASES: [&str; 4] = ["+a+b0102030405fe", "0A0B0102030405FE", "+a0b0102030405fe", "0a0b0102030405fE"];

/// A credential of this province stored under [`ID`] (the bytes served are not looked into).
async fn store(db: &Database) {
    let record = StoredCredential {
        id: ID.to_vec(),
        province: "CN-GD".into(),
        kind: "health-status".into(),
        issued_at: 1_790_000_000,
        expires_at: 1_790_086_400,
        cose: vec![0xd2, 0x84, 0x40, 0xa0, 0x40, 0x40],
        status: CredentialStatus::Valid,
        status_reason: None,
        status_changed_at: None,
        status_ref: None,
    };
    db.insert_issued(&[record], "test").await.unwrap();
}

async fn audit_len(s: &Setup) -> usize {
    s.db.audit_log().await.unwrap().len()
}

async fn an_id_spelt_otherwise_names_no_credential(backend: Backend) {
    let s = setup("canonical", backend).await;
    store(&s.db).await;
    let canonical = huren_keys::hex(&ID);
    let (status, body, _) = call(&s, "GET", &format!("/v1/credentials/{canonical}"), Some(&s.revoker), "").await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let before = audit_len(&s).await;
    for alias in ALIASES {
        let (status, _, ct) = call(&s, "GET", &format!("/v1/credentials/{alias}"), Some(&s.revoker), "").await;
        assert_eq!((status, ct.as_str()), (StatusCode::NOT_FOUND, "application/problem+json"), "GET {alias}");
        let uri = format!("/v1/credentials/{alias}/revoke");
        let (status, _, _) = call(&s, "POST", &uri, Some(&s.revoker), r#"{"reason": "alias"}"#).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "revoke {alias}");
    }
    let stored = s.db.credential(&ID).await.unwrap().unwrap();
    assert_eq!(stored.status, CredentialStatus::Valid, "no alias changed it");
    assert_eq!(audit_len(&s).await, before, "and nothing was audited");
    finish(&s).await;
}

on_both_backends!(an_id_spelt_otherwise_names_no_credential);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_refuses_an_id_spelt_otherwise() {
    let dir = std::env::temp_dir().join(format!("huren-canonical-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    huren_issuer::Province::init(&dir, "CN-GD", 1_790_000_000, &Default::default()).unwrap();
    let db = Database::open_sqlite(&dir.join("issuer.db")).await.unwrap();
    db.migrate().await.unwrap();
    store(&db).await;
    let before = db.audit_log().await.unwrap().len();
    for alias in ALIASES {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_huren-issuer"))
            .args(["revoke", "--dir", dir.to_str().unwrap(), alias, "--reason", "alias"])
            .env_remove("HUREN_DATABASE_URL")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{alias}: {stderr}");
        assert!(stderr.contains("is not a credential id"), "{alias}: {stderr}");
    }
    assert_eq!(db.credential(&ID).await.unwrap().unwrap().status, CredentialStatus::Valid);
    assert_eq!(db.audit_log().await.unwrap().len(), before);
    std::fs::remove_dir_all(&dir).unwrap();
}
