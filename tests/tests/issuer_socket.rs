//! The issuer API through a real socket on both backends (the router tests in issuer/tests/service.rs cover every
//! endpoint with `oneshot`): health and readiness, issuance, the QR PNG decoded from its pixels and verified,
//! revocation, auth failures without detail leaks, malformed and oversized bodies, and the metrics it counted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use huren_issuer::auth::{create_token, Role};
use huren_issuer::service::{app, AppState};
use huren_issuer::storage::Database;
use huren_issuer::Province;
use huren_keys::{TrustFile, TrustList};
use huren_verifier::{scan, verify, Policy};

const T0: i64 = 1_790_000_000;
const REQUEST: &str = r#"{"subject": {"name": "周九", "masked_id": "4403**********0009"},
    "body": {"type": "health-status", "colour": "green", "reason": "no-risk"}, "valid_for_hours": 24}"#;

async fn database(backend: &str, dir: &std::path::Path) -> (Database, Option<String>) {
    if backend == "sqlite" {
        return (Database::open_sqlite(&dir.join("issuer.db")).await.unwrap(), None);
    }
    let url =
        std::env::var("HUREN_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("huren_socket_{}", std::process::id());
    let Database::Postgres(admin) = Database::connect_postgres(&url, None).await.expect("PostgreSQL is required")
    else {
        unreachable!()
    };
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&admin).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&admin).await.unwrap();
    (Database::connect_postgres(&url, Some(&schema)).await.unwrap(), Some(schema))
}

async fn json(response: reqwest::Response) -> serde_json::Value {
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

async fn over_a_socket(backend: &str) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("huren-socket-{backend}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let province = Province::init(&dir.join("p"), "CN-GD", T0 - 100, &Default::default()).unwrap();
    let trust =
        TrustList::from_trust_file(&TrustFile::decode(&std::fs::read(province.files().trust()).unwrap()).unwrap())
            .unwrap();
    let (db, schema) = database(backend, &dir).await;
    db.migrate().await.unwrap();
    let issuer = create_token(&db, Role::Issuer, "CN-GD", T0).await.unwrap();
    let revoker = create_token(&db, Role::Revoker, "CN-GD", T0).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState::with_clock(province, db.clone(), Box::new(|| T0));
    let server = tokio::spawn(async move { axum::serve(listener, app(state)).await });
    let http = reqwest::Client::new();

    for path in ["/healthz", "/readyz"] {
        assert_eq!(http.get(format!("{base}{path}")).send().await.unwrap().status(), 200, "{path}");
    }

    // Issue, then read the PNG back from its pixels and verify what it carries.
    let response = http.post(format!("{base}/v1/credentials")).bearer_auth(&issuer).body(REQUEST).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let issued = json(response).await;
    let id = issued["id"].as_str().unwrap();
    let png = http.get(format!("{base}/v1/credentials/{id}/qr.png")).bearer_auth(&issuer).send().await.unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    let texts = scan::scan_image_bytes(&png.bytes().await.unwrap(), &Default::default()).unwrap();
    assert_eq!(texts, [issued["qr_text"].as_str().unwrap()]);
    let verified = verify(&texts[0], &trust, T0 + 60, &Policy::default()).unwrap();
    assert_eq!(verified.credential().subject.name, "周九");

    // Revoke (revoker role); the issuer role may not; no token at all says nothing about why.
    let revoke = format!("{base}/v1/credentials/{id}/revoke");
    let reason = r#"{"reason": "reported stolen"}"#;
    let denied = http.post(&revoke).bearer_auth(&issuer).body(reason).send().await.unwrap();
    assert_eq!(denied.status(), 403);
    let anonymous = http.post(&revoke).body(reason).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["content-type"], "application/problem+json");
    let problem = json(anonymous).await;
    assert_eq!(problem["detail"], "a valid API token is required");
    assert_eq!(http.post(&revoke).bearer_auth(&revoker).body(reason).send().await.unwrap().status(), 200);
    let fetched =
        json(http.get(format!("{base}/v1/credentials/{id}")).bearer_auth(&revoker).send().await.unwrap()).await;
    assert_eq!(
        (fetched["status"].as_str(), fetched["status_reason"].as_str()),
        (Some("revoked"), Some("reported stolen"))
    );

    // The metrics saw the issuance and the auth failures.
    let metrics = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("huren_credentials_issued_total"), "{metrics}");
    assert!(metrics.contains("huren_auth_failures_total"), "{metrics}");

    // Malformed and oversized bodies.
    let malformed = http.post(format!("{base}/v1/credentials")).bearer_auth(&issuer).body("{\"subject\":").send();
    assert_eq!(malformed.await.unwrap().status(), 400);
    // Announce a body over the limit and send none of it: the answer comes from the Content-Length alone.
    let over = huren_issuer::service::MAX_BODY_BYTES + 1;
    let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.unwrap();
    let head = format!(
        "POST /v1/credentials HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {issuer}\r\nContent-Length: {over}\r\n\r\n"
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 64];
    let n = tokio::io::AsyncReadExt::read(&mut stream, &mut answer).await.unwrap();
    assert!(answer[..n].starts_with(b"HTTP/1.1 413"), "{}", String::from_utf8_lossy(&answer[..n]));

    server.abort();
    if let Some(schema) = schema {
        let Database::Postgres(pool) = &db else { unreachable!() };
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(pool).await.unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_over_a_socket() {
    over_a_socket("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_a_socket() {
    over_a_socket("postgres").await;
}
