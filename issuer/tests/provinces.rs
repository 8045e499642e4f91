//! Two provinces' issuer services over ONE PostgreSQL schema (as when provinces share a database): each reads,
//! changes, links and publishes only its own credentials. Another province's credential id is 404 on every
//! endpoint that takes one (its existence does not leak), a claim link for another province's credential is
//! 410 and stays usable where it belongs, refused attempts leave no audit entry, status lists are allocated and
//! published per province, and the CLI refuses another province's id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use huren_issuer::auth::{create_token, Role};
use huren_issuer::service::{app, AppState};
use huren_issuer::storage::{verify_audit_chain, CredentialStatus, Database};
use huren_issuer::Province;
use huren_keys::status::{Status, StatusList};
use tower::ServiceExt;

use crate::service::{postgres_url, REQUEST};

const T0: i64 = 1_790_000_000;

/// One province's service and its tokens.
struct Service {
    state: AppState,
    admin: String,
    trust: huren_keys::TrustList,
}

struct Shared {
    schema: String,
    dir: std::path::PathBuf,
    db: Database,
    gd: Service,
    hb: Service,
}

async fn admin_pool() -> sqlx::PgPool {
    let Database::Postgres(pool) = Database::connect_postgres(&postgres_url(), None).await.expect("PostgreSQL") else {
        unreachable!()
    };
    pool
}

async fn shared(name: &str) -> Shared {
    let schema = format!("huren_prov_{name}_{}", std::process::id());
    let admin = admin_pool().await;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&admin).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&admin).await.unwrap();
    let dir = std::env::temp_dir().join(format!("huren-provinces-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut services = Vec::new();
    for code in ["CN-GD", "CN-HB"] {
        let province = Province::init(&dir.join(code), code, T0 - 100, &Default::default()).unwrap();
        let trust_file = huren_keys::TrustFile::decode(&std::fs::read(province.files().trust()).unwrap()).unwrap();
        let trust = huren_keys::TrustList::from_trust_file(&trust_file).unwrap();
        // Each service has its own connections to the one schema, as separate processes would.
        let db = Database::connect_postgres(&postgres_url(), Some(&schema)).await.unwrap();
        db.migrate().await.unwrap();
        let admin = create_token(&db, Role::Admin, code, T0).await.unwrap();
        let state = AppState::with_clock(province, db, Box::new(|| T0));
        services.push(Service { state, admin, trust });
    }
    let hb = services.pop().unwrap();
    let gd = services.pop().unwrap();
    let db = Database::connect_postgres(&postgres_url(), Some(&schema)).await.unwrap();
    Shared { schema, dir, db, gd, hb }
}

async fn finish(s: Shared) {
    let admin = admin_pool().await;
    sqlx::query(&format!("DROP SCHEMA {} CASCADE", s.schema)).execute(&admin).await.unwrap();
    std::fs::remove_dir_all(&s.dir).unwrap();
}

async fn call(service: &Service, method: &str, uri: &str, token: bool, body: &str) -> (StatusCode, Vec<u8>) {
    let mut request = Request::builder().method(method).uri(uri);
    if token {
        request = request.header("authorization", format!("Bearer {}", service.admin));
    }
    let response = app(service.state.clone()).oneshot(request.body(Body::from(body.to_string())).unwrap()).await;
    let response = response.unwrap();
    let status = response.status();
    (status, response.into_body().collect().await.unwrap().to_bytes().to_vec())
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

/// Issue one credential through `service`: (id, status index).
async fn issue(service: &Service) -> (String, u64) {
    let (status, body) = call(service, "POST", "/v1/credentials", true, REQUEST).await;
    assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
    let issued = json(&body);
    (issued["id"].as_str().unwrap().to_string(), issued["credential"]["status"]["index"].as_u64().unwrap())
}

/// Every endpoint that takes a credential id: (method, path after the id, body).
const BY_ID: [(&str, &str, &str); 8] = [
    ("GET", "", ""),
    ("GET", "/qr.png", ""),
    ("GET", "/qr.svg", ""),
    ("GET", "/qr.txt", ""),
    ("POST", "/claim-link", ""),
    ("POST", "/suspend", r#"{"reason": "cross-province"}"#),
    ("POST", "/reinstate", r#"{"reason": "cross-province"}"#),
    ("POST", "/revoke", r#"{"reason": "cross-province"}"#),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_province_reaches_only_its_own_credentials_on_a_shared_database() {
    let s = shared("byid").await;
    let (gd_id, _) = issue(&s.gd).await;
    let (hb_id, _) = issue(&s.hb).await;
    let audit = s.db.audit_log().await.unwrap();

    for (method, tail, body) in BY_ID {
        // Guangdong's admin on Guangdong's service, for Hubei's credential: not found.
        let (status, answer) = call(&s.gd, method, &format!("/v1/credentials/{hb_id}{tail}"), true, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {tail}: {}", String::from_utf8_lossy(&answer));
        assert_eq!(json(&answer)["status"], 404, "{method} {tail}: problem+json");
        // And the other way round.
        let (status, _) = call(&s.hb, method, &format!("/v1/credentials/{gd_id}{tail}"), true, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {tail} (Hubei)");
    }
    let untouched = s.db.credential(&huren_keys::unhex(&hb_id).unwrap()).await.unwrap().unwrap();
    assert_eq!((untouched.status, untouched.status_reason), (CredentialStatus::Valid, None));
    assert_eq!(s.db.audit_log().await.unwrap(), audit, "refused attempts leave no audit entry");

    // The same calls for a province's own credential work (so the 404s above are about the province).
    for (method, tail, body) in BY_ID {
        let (status, answer) = call(&s.gd, method, &format!("/v1/credentials/{gd_id}{tail}"), true, body).await;
        assert!(status.is_success(), "{method} {tail}: {status} {}", String::from_utf8_lossy(&answer));
    }
    verify_audit_chain(&s.db.audit_log().await.unwrap()).unwrap();
    finish(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_link_redeems_only_on_its_own_province_service() {
    let s = shared("claim").await;
    let (hb_id, _) = issue(&s.hb).await;
    let (status, body) = call(&s.hb, "POST", &format!("/v1/credentials/{hb_id}/claim-link"), true, "").await;
    assert_eq!(status, StatusCode::CREATED);
    let path = json(&body)["path"].as_str().unwrap().to_string();
    let audit = s.db.audit_log().await.unwrap();
    // Redeemed on Guangdong's service: gone, as an unknown link; and not spent.
    assert_eq!(call(&s.gd, "GET", &path, false, "").await.0, StatusCode::GONE);
    assert_eq!(s.db.audit_log().await.unwrap(), audit, "no redemption audited");
    let (status, body) = call(&s.hb, "GET", &path, false, "").await;
    assert_eq!(status, StatusCode::OK, "still redeemable where it belongs");
    assert_eq!(json(&body)["id"], hb_id.as_str());

    // A link that names another province's credential (as a foreign token could make before this fix) hands
    // out nothing on the service that made it.
    let secret = "00112233445566778899aabbccddeeff0011223344556677";
    let hash = <sha2::Sha256 as sha2::Digest>::digest(secret.as_bytes()).to_vec();
    let hb_bytes = huren_keys::unhex(&hb_id).unwrap();
    s.db.insert_claim_link(&hash, &hb_bytes, T0, T0 + 3600, "gd-token").await.unwrap();
    assert_eq!(call(&s.gd, "GET", &format!("/v1/claim/{secret}"), false, "").await.0, StatusCode::GONE);
    finish(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lists_are_allocated_and_published_per_province() {
    let s = shared("status").await;
    let (gd_id, gd_index) = issue(&s.gd).await;
    let (_, hb_index) = issue(&s.hb).await;
    let reason = r#"{"reason": "reported stolen"}"#;
    assert_eq!(call(&s.gd, "POST", &format!("/v1/credentials/{gd_id}/revoke"), true, reason).await.0, StatusCode::OK);
    assert_eq!(s.gd.state.publish_status().await.unwrap(), [(1, 1)]);
    assert_eq!(s.hb.state.publish_status().await.unwrap(), [(1, 1)], "Hubei publishes its own list 1");
    for (service, province, revoked, valid) in
        [(&s.gd, "CN-GD", Some(gd_index), hb_index), (&s.hb, "CN-HB", None, hb_index)]
    {
        let (status, bytes) = call(service, "GET", "/v1/status/1", false, "").await;
        assert_eq!(status, StatusCode::OK);
        let list = StatusList::verify(&bytes, &service.trust).unwrap_or_else(|e| panic!("{province}'s list: {e}"));
        assert_eq!(list.province, province);
        if let Some(index) = revoked {
            assert_eq!(list.status(index), Some(Status::Revoked));
        }
        if revoked != Some(valid) {
            assert_eq!(list.status(valid), Some(Status::Valid), "{province}");
        }
    }
    // Hubei's list does not carry Guangdong's revocation at Guangdong's index.
    let (_, bytes) = call(&s.hb, "GET", "/v1/status/1", false, "").await;
    let hb_list = StatusList::verify(&bytes, &s.hb.trust).unwrap();
    assert_ne!(hb_list.status(gd_index), Some(Status::Revoked), "another province's revocation leaked in");
    finish(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_refuses_another_province_credential() {
    let s = shared("cli").await;
    let (gd_id, _) = issue(&s.gd).await;
    let (hb_id, _) = issue(&s.hb).await;
    let audit = s.db.audit_log().await.unwrap();
    let url = format!("{}?options[search_path]={}", postgres_url(), s.schema);
    let revoke = |id: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_huren-issuer"))
            .args(["revoke", "--dir", s.dir.join("CN-GD").to_str().unwrap(), id, "--reason", "lost"])
            .args(["--database-url", &url])
            .output()
            .unwrap()
    };
    let out = revoke(&hb_id);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no credential"), "{}", String::from_utf8_lossy(&out.stderr));
    let hb = s.db.credential(&huren_keys::unhex(&hb_id).unwrap()).await.unwrap().unwrap();
    assert_eq!(hb.status, CredentialStatus::Valid);
    assert_eq!(s.db.audit_log().await.unwrap(), audit);
    let out = revoke(&gd_id);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    finish(s).await;
}
