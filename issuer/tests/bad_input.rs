//! Input the database cannot store is the client's mistake, not the database's: a status reason holding U+0000
//! (which PostgreSQL refuses in text, SQLSTATE 22021) is answered 400 problem+json and changes nothing, on both
//! backends; PostgreSQL's own refusal of such data is classified as bad input, never as "busy, retry".
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::StatusCode;
use huren_issuer::storage::{CredentialStatus, Database};

use crate::service::{call, finish, setup, Backend, REQUEST};

async fn a_reason_with_a_nul_character_is_400_and_changes_nothing(backend: Backend) {
    let s = setup("nul", backend).await;
    let (status, body, _) = call(&s, "POST", "/v1/credentials", Some(&s.issuer), REQUEST).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["id"].as_str().unwrap().to_string();
    let bytes = huren_keys::unhex(&id).unwrap();
    let audit = s.db.audit_log().await.unwrap();
    for (action, reason) in [
        ("revoke", r#"{"reason": "lost\u0000"}"#),
        ("suspend", r#"{"reason": "\u0000"}"#),
        ("revoke", r#"{"reason": "a\u0000b\u0000c"}"#),
    ] {
        let uri = format!("/v1/credentials/{id}/{action}");
        let (status, body, ct) = call(&s, "POST", &uri, Some(&s.revoker), reason).await;
        let text = String::from_utf8_lossy(&body);
        assert_eq!((status, ct.as_str()), (StatusCode::BAD_REQUEST, "application/problem+json"), "{reason}: {text}");
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["status"], 400);
    }
    let stored = s.db.credential(&bytes).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.status_reason), (CredentialStatus::Valid, None), "nothing written");
    assert_eq!(s.db.audit_log().await.unwrap(), audit, "nothing audited");
    // A correct reason afterwards works: the refusal left nothing half done.
    let uri = format!("/v1/credentials/{id}/revoke");
    assert_eq!(call(&s, "POST", &uri, Some(&s.revoker), r#"{"reason": "lost"}"#).await.0, StatusCode::OK);
    finish(&s).await;
}

on_both_backends!(a_reason_with_a_nul_character_is_400_and_changes_nothing);

/// Straight on the storage layer, past the service's own check: PostgreSQL refuses the NUL (22021), and that
/// refusal is bad input (400 over HTTP), not an unavailable database (503 "send it again", for ever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_data_exceptions_are_bad_input_not_unavailability() {
    let s = setup("nulstore", Backend::Postgres).await;
    let (_, body, _) = call(&s, "POST", "/v1/credentials", Some(&s.issuer), REQUEST).await;
    let id = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["id"].as_str().unwrap().to_string();
    let bytes = huren_keys::unhex(&id).unwrap();
    let audit = s.db.audit_log().await.unwrap();
    let refused = s.db.set_status(&bytes, "CN-GD", CredentialStatus::Revoked, "lost\0", 1, "tok").await.unwrap_err();
    assert!(!matches!(refused, huren_issuer::Error::StorageUnavailable(_)), "{refused:?}");
    assert!(matches!(refused, huren_issuer::Error::InvalidInput(_)), "{refused:?}");
    assert_eq!(s.db.credential(&bytes).await.unwrap().unwrap().status, CredentialStatus::Valid);
    assert_eq!(s.db.audit_log().await.unwrap(), audit);
    // A real outage is still "unavailable": the pool is closed.
    let Database::Postgres(pool) = &s.db else { unreachable!() };
    pool.close().await;
    let outage = s.db.set_status(&bytes, "CN-GD", CredentialStatus::Revoked, "lost", 1, "tok").await.unwrap_err();
    assert!(matches!(outage, huren_issuer::Error::StorageUnavailable(_)), "{outage:?}");
    finish(&s).await;
}

/// The CLI applies the same rule as the API before it opens the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_refuses_a_reason_with_control_characters() {
    let dir = std::env::temp_dir().join(format!("huren-reason-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let province = huren_issuer::Province::init(&dir, "CN-GD", 1_790_000_000, &Default::default()).unwrap();
    let db = Database::open_sqlite(&dir.join("issuer.db")).await.unwrap();
    db.migrate().await.unwrap();
    let request = serde_json::from_str(REQUEST).unwrap();
    let status = huren_issuer::status::StatusService::default();
    let (id, _) = huren_issuer::issuance::issue_and_record(&province, &db, &status, "cli", &request, 1_790_000_100)
        .await
        .unwrap();
    let audit = db.audit_log().await.unwrap();
    let revoke = |reason: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_huren-issuer"))
            .args(["revoke", "--dir", dir.to_str().unwrap(), &id, "--reason", reason])
            .env_remove("HUREN_DATABASE_URL")
            .output()
            .unwrap()
    };
    for reason in ["lost\nstatus.valid by admin", "\u{7}", "  "] {
        let out = revoke(reason);
        assert_eq!(out.status.code(), Some(2), "{reason:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(db.audit_log().await.unwrap(), audit, "nothing audited");
    assert!(revoke("lost").status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}
