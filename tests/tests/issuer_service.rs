//! A province's issuer service as the federation's mirror and as the source of credentials: a checkpoint syncs its
//! trust store from the service over HTTP (200, then 304 with the ETag), and verifies a credential the service
//! issued through its API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};

use huren_issuer::auth::{create_token, Role};
use huren_issuer::service::{app, AppState};
use huren_issuer::storage::Database;
use huren_keys::StatusListDescriptor;
use huren_tests::fixtures::{TestFederation, T0};
use huren_verifier::status::StatusUpdate;
use huren_verifier::store::{Freshness, TrustStore};
use huren_verifier::sync::sync_status;
use huren_verifier::sync::{sync, SyncOptions, SyncOutcome};
use huren_verifier::{Code, Policy};

#[test]
fn checkpoint_syncs_from_the_issuer_and_verifies_what_it_issued() {
    let fed = TestFederation::three();
    let gd = fed.province("CN-GD");
    let dir = std::env::temp_dir().join(format!("huren-issuer-service-{}", std::process::id()));
    let province = gd.adopt_issuer(&dir);

    // The service, on loopback, in its own runtime.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (db, token) = runtime.block_on(async {
        let db = Database::open_sqlite(&dir.join("issuer.db")).await.unwrap();
        db.migrate().await.unwrap();
        let token = create_token(&db, Role::Issuer, "CN-GD", T0).await.unwrap();
        (db, token)
    });
    let state = AppState::with_clock(province, db, Box::new(|| T0 + 60));
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    // GD's bundle says where its status list is published: at this service.
    let mut gd_bundle = fed.bundle_doc("CN-GD", 1);
    gd_bundle.status_lists = vec![StatusListDescriptor { list: 1, url: format!("http://{addr}/v1/status/1") }];
    let mut bundle = fed.trust_bundle();
    bundle.bundles[0] = fed.signed_bundle(&gd_bundle);
    state.set_trust_bundle(bundle.encode());
    let server = state.clone();
    runtime.spawn(async move { axum::serve(listener, app(server)).await });

    // The checkpoint: provisioned with the root alone, then synced from the issuer.
    let mut store =
        TrustStore::provision(&dir.join("store.cbor"), &fed.signed_root(&fed.root_doc(1), &[0, 2]), T0).unwrap();
    let url = format!("http://{addr}/v1/trust-bundle");
    assert!(matches!(sync(&mut store, &url, T0, &SyncOptions::default()).unwrap(), SyncOutcome::Imported(_)));
    assert_eq!(sync(&mut store, &url, T0, &SyncOptions::default()).unwrap(), SyncOutcome::NotModified);

    // A credential issued through the API verifies at the checkpoint.
    let body = r#"{"subject": {"name": "陈十", "masked_id": "4403**********0010"}, "body": {"type": "health-status", "colour": "green", "reason": "no-risk"}, "valid_for_hours": 24}"#;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /v1/credentials HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("x-request-id: req-"), "request ids are set and returned");
    let json = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    let issued: serde_json::Value = serde_json::from_str(json).unwrap();
    let text = issued["qr_text"].as_str().unwrap();
    // Its status list never synced on this checkpoint: refused until it is (GD does not allow otherwise).
    let refused = store.verify(text, T0 + 120, &Policy::default(), &Freshness::default()).unwrap_err();
    assert_eq!(refused.code(), Code::StatusUnavailable, "{refused}");
    runtime.block_on(state.publish_status()).unwrap();
    let synced = sync_status(&mut store, T0 + 120, &SyncOptions::default());
    assert!(matches!(synced[..], [(_, 1, Ok(StatusUpdate::Full(1)))]), "{synced:?}");
    let verified = store.verify(text, T0 + 120, &Policy::default(), &Freshness::default()).unwrap();
    assert_eq!(verified.issuer(), "CN-GD");
    assert_eq!(verified.credential().subject.name, "陈十");
    drop(runtime);
    std::fs::remove_dir_all(&dir).unwrap();
}
