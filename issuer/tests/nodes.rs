//! Several issuer nodes of one province over one PostgreSQL database, each signing with its own certified key:
//! concurrent issuance through both nodes, every credential stored once, one unbroken audit chain, and every
//! credential verifiable against the province's certificates for both keys.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use huren_issuer::auth::{create_token, Role};
use huren_issuer::service::{app, AppState};
use huren_issuer::storage::{verify_audit_chain, Database};
use huren_issuer::{InitOptions, Province};
use huren_keys::{cose::Sign1, SigningKey};
use tower::ServiceExt;

const T0: i64 = 1_790_000_000;
const REQUEST: &str = r#"{"subject": {"name": "张三", "masked_id": "4403**********1234"}, "body": {"type": "health-status", "colour": "green", "reason": "no-risk"}, "valid_for_hours": 24}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_one_postgres_database() {
    let url =
        std::env::var("HUREN_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("huren_nodes_{}", std::process::id());
    let Database::Postgres(admin) = Database::connect_postgres(&url, None).await.expect("PostgreSQL is required")
    else {
        unreachable!()
    };
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&admin).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&admin).await.unwrap();

    // One province root, two nodes with their own issuer keys certified by it.
    let dir = std::env::temp_dir().join(format!("huren-nodes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let root = SigningKey::generate().unwrap();
    root.save(&dir.join("root.key.pem")).unwrap();
    let options = InitOptions { root_key: Some(dir.join("root.key.pem")), ..InitOptions::default() };
    let mut nodes = Vec::new();
    for n in ["a", "b"] {
        let province = Province::init(&dir.join(n), "CN-GD", T0 - 100, &options).unwrap();
        let db = Database::connect_postgres(&url, Some(&schema)).await.unwrap();
        db.migrate().await.unwrap();
        nodes.push((province, db));
    }
    let kids: Vec<_> = nodes.iter().map(|(p, _)| p.issuer_key().public().clone()).collect();
    assert_ne!(kids[0], kids[1], "each node signs with its own key");
    let token = create_token(&nodes[0].1, Role::Issuer, "CN-GD", T0).await.unwrap();
    let states: Vec<AppState> = nodes.into_iter().map(|(p, db)| AppState::with_clock(p, db, Box::new(|| T0))).collect();

    // 10 issuances through each node, concurrently.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let state = states[i % 2].clone();
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let req = Request::builder()
                .method("POST")
                .uri("/v1/credentials")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::from(REQUEST))
                .unwrap();
            let response = app(state).oneshot(req).await.unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()["qr_text"].as_str().unwrap().to_string()
        }));
    }
    let mut signers = std::collections::HashSet::new();
    for t in tasks {
        let text = t.await.unwrap();
        let cose = huren_wallet_core::transport::decode(&text, &Default::default()).unwrap();
        let sign1 = Sign1::parse(&cose).unwrap();
        let key = kids.iter().find(|k| k.kid().0 == sign1.kid()).expect("signed by one of the nodes' keys");
        sign1.verify(key).unwrap();
        signers.insert(key.kid());
    }
    assert_eq!(signers.len(), 2, "both nodes signed");

    let db = Database::connect_postgres(&url, Some(&schema)).await.unwrap();
    let log = db.audit_log().await.unwrap();
    assert_eq!(log.iter().filter(|e| e.action == "issue").count(), 20);
    verify_audit_chain(&log).unwrap();
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&admin).await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
