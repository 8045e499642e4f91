//! The HTTP API through `app(state)` with `oneshot`, on both backends (SQLite in a file; PostgreSQL on
//! `$HUREN_TEST_DATABASE_URL` in a schema of its own): tokens, roles and province scope on every mutating call,
//! issuance stored and audited, QR renderings, status changes, bulk, claim links, idempotency, problem+json.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use huren_issuer::auth::{create_token, Role};
use huren_issuer::service::{app, AppState};
use huren_issuer::storage::{verify_audit_chain, Database};
use huren_issuer::Province;
use tower::ServiceExt;

const T0: i64 = 1_790_000_000;

#[derive(Clone, Copy, Debug)]
pub(crate) enum Backend {
    Sqlite,
    Postgres,
}

/// Run a test body on both backends, as two tests.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Postgres).await })*
        }
    };
}

on_both_backends!(
    issue_fetch_render_and_revoke,
    tokens_roles_and_provinces_are_enforced,
    bulk_issuance_streams_one_answer_per_line,
    claim_links_are_redeemed_once_before_they_expire,
    the_same_idempotency_key_never_issues_twice,
    the_openapi_document_lists_exactly_the_routes_served,
    status_lists_publish_revocations_and_deltas,
    status_references_never_collide_across_nodes,
    an_unreachable_database_is_503_with_retry_after_and_changes_nothing,
);

pub(crate) fn postgres_url() -> String {
    std::env::var("HUREN_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub(crate) struct Setup {
    pub(crate) schema: Option<String>,
    pub(crate) dir: std::path::PathBuf,
    pub(crate) state: AppState,
    pub(crate) db: Database,
    pub(crate) issuer: String,
    pub(crate) revoker: String,
    pub(crate) foreign: String,
}

pub(crate) async fn setup(name: &str, backend: Backend) -> Setup {
    let dir = std::env::temp_dir().join(format!("huren-service-{name}-{backend:?}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let province = Province::init(&dir.join("p"), "CN-GD", T0 - 100, &Default::default()).unwrap();
    let (db, schema) = match backend {
        Backend::Sqlite => (Database::open_sqlite(&dir.join("issuer.db")).await.unwrap(), None),
        Backend::Postgres => {
            let schema = format!("huren_svc_{name}_{}", std::process::id());
            let Database::Postgres(admin) =
                Database::connect_postgres(&postgres_url(), None).await.expect("PostgreSQL")
            else {
                unreachable!()
            };
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).execute(&admin).await.unwrap();
            sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(&admin).await.unwrap();
            (Database::connect_postgres(&postgres_url(), Some(&schema)).await.unwrap(), Some(schema))
        }
    };
    db.migrate().await.unwrap();
    let issuer = create_token(&db, Role::Issuer, "CN-GD", T0).await.unwrap();
    let revoker = create_token(&db, Role::Revoker, "CN-GD", T0).await.unwrap();
    let foreign = create_token(&db, Role::Admin, "CN-HB", T0).await.unwrap();
    let state = AppState::with_clock(province, db.clone(), Box::new(|| T0));
    Setup { schema, dir, state, db, issuer, revoker, foreign }
}

pub(crate) async fn finish(s: &Setup) {
    if let Some(schema) = &s.schema {
        let Database::Postgres(admin) = Database::connect_postgres(&postgres_url(), None).await.unwrap() else {
            unreachable!()
        };
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(&admin).await.unwrap();
    }
    std::fs::remove_dir_all(&s.dir).unwrap();
}

pub(crate) async fn call(
    s: &Setup,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: &str,
) -> (StatusCode, Vec<u8>, String) {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let response = app(s.state.clone()).oneshot(req.body(Body::from(body.to_string())).unwrap()).await.unwrap();
    let status = response.status();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, bytes, content_type)
}

pub(crate) const REQUEST: &str = r#"{"subject": {"name": "张三", "masked_id": "4403**********1234"},
    "body": {"type": "health-status", "colour": "green", "reason": "no-risk"}, "valid_for_hours": 24}"#;

async fn issue_fetch_render_and_revoke(backend: Backend) {
    let s = setup("flow", backend).await;
    assert_eq!(call(&s, "GET", "/healthz", None, "").await.0, StatusCode::OK);
    assert_eq!(call(&s, "GET", "/readyz", None, "").await.0, StatusCode::OK);

    let (status, body, _) = call(&s, "POST", "/v1/credentials", Some(&s.issuer), REQUEST).await;
    assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
    let issued: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let id = issued["id"].as_str().unwrap().to_string();
    assert!(issued["qr_text"].as_str().unwrap().starts_with("HR1:"));

    let (status, body, _) = call(&s, "GET", &format!("/v1/credentials/{id}"), Some(&s.revoker), "").await;
    assert_eq!(status, StatusCode::OK);
    let fetched: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((fetched["status"].as_str(), fetched["qr_text"].as_str()), (Some("valid"), issued["qr_text"].as_str()));
    let (status, png, ct) = call(&s, "GET", &format!("/v1/credentials/{id}/qr.png"), Some(&s.issuer), "").await;
    assert_eq!((status, ct.as_str()), (StatusCode::OK, "image/png"));
    assert!(png.starts_with(b"\x89PNG"));
    let (_, svg, _) = call(&s, "GET", &format!("/v1/credentials/{id}/qr.svg"), Some(&s.issuer), "").await;
    assert!(String::from_utf8(svg).unwrap().contains("<svg"));

    let reason = r#"{"reason": "reported lost"}"#;
    let (status, _, _) = call(&s, "POST", &format!("/v1/credentials/{id}/suspend"), Some(&s.revoker), reason).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = call(&s, "POST", &format!("/v1/credentials/{id}/revoke"), Some(&s.revoker), reason).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body, ct) =
        call(&s, "POST", &format!("/v1/credentials/{id}/reinstate"), Some(&s.revoker), reason).await;
    assert_eq!((status, ct.as_str()), (StatusCode::CONFLICT, "application/problem+json"));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["status"], 409);

    // Counters for Prometheus.
    let (status, body, _) = call(&s, "GET", "/metrics", None, "").await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("huren_credentials_issued_total{type=\"health-status\"}"), "{text}");
    assert!(text.contains("huren_status_changes_total{status=\"revoked\"}"), "{text}");

    // Every token creation, the issuance and both status changes are in one unbroken chain.
    let log = s.db.audit_log().await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["token.create", "token.create", "token.create", "issue", "status.suspended", "status.revoked"]
    );
    verify_audit_chain(&log).unwrap();
    finish(&s).await;
}

async fn tokens_roles_and_provinces_are_enforced(backend: Backend) {
    let s = setup("auth", backend).await;
    let post = |token: Option<String>, body: &'static str| {
        let s = &s;
        async move { call(s, "POST", "/v1/credentials", token.as_deref(), body).await.0 }
    };
    assert_eq!(post(None, REQUEST).await, StatusCode::UNAUTHORIZED);
    assert_eq!(post(Some("hrt_nope.nope".into()), REQUEST).await, StatusCode::UNAUTHORIZED);
    let (id, _) = s.issuer.split_once('.').unwrap();
    assert_eq!(post(Some(format!("{id}.wrongsecret")), REQUEST).await, StatusCode::UNAUTHORIZED);
    assert_eq!(post(Some(s.revoker.clone()), REQUEST).await, StatusCode::FORBIDDEN, "a revoker cannot issue");
    assert_eq!(
        post(Some(s.foreign.clone()), REQUEST).await,
        StatusCode::FORBIDDEN,
        "a Hubei token can do nothing here"
    );
    let (status, _, _) = call(&s, "POST", "/v1/credentials", Some(&s.issuer), "{\"subject\": 1}").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let unmasked = REQUEST.replace("4403**********1234", "440301199001011234");
    let (status, body, ct) = call(&s, "POST", "/v1/credentials", Some(&s.issuer), &unmasked).await;
    assert_eq!((status, ct.as_str()), (StatusCode::BAD_REQUEST, "application/problem+json"));
    assert!(String::from_utf8(body).unwrap().contains("masked"));
    let (status, _, _) = call(&s, "GET", "/v1/credentials/00112233aabbccdd", Some(&s.issuer), "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) =
        call(&s, "POST", "/v1/credentials/00112233aabbccdd/revoke", Some(&s.issuer), r#"{"reason":"x"}"#).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an issuer cannot revoke");
    // Bodies over the limit are refused before any work.
    let huge = format!("{{\"reason\": \"{}\"}}", "x".repeat(70 * 1024));
    let (status, _, _) = call(&s, "POST", "/v1/credentials", Some(&s.issuer), &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Nothing was issued by the refused calls.
    let log = s.db.audit_log().await.unwrap();
    assert!(log.iter().all(|e| e.action != "issue"));
    finish(&s).await;
}

async fn bulk_issuance_streams_one_answer_per_line(backend: Backend) {
    let s = setup("bulk", backend).await;
    let good = REQUEST.replace('\n', " ");
    let ndjson = format!("{good}\n{{\"not\": \"a request\"}}\n\n{good}");
    let mut req = Request::builder().method("POST").uri("/v1/credentials/bulk");
    req = req.header("authorization", format!("Bearer {}", s.issuer)).header("content-type", "application/x-ndjson");
    let response = app(s.state.clone()).oneshot(req.body(Body::from(ndjson)).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[0]["line"], 1);
    assert!(lines[0]["id"].is_string());
    assert_eq!(lines[1]["line"], 2);
    assert!(lines[1]["error"].as_str().unwrap().contains("JSON"));
    assert_eq!(lines[2]["line"], 4, "the blank line 3 is skipped");
    assert_eq!(lines[3]["summary"]["issued"], 2);
    assert_eq!(lines[3]["summary"]["failed"], 1);
    for l in [&lines[0], &lines[2]] {
        let id = l["id"].as_str().unwrap();
        let bytes: Vec<u8> = (0..id.len()).step_by(2).map(|i| u8::from_str_radix(&id[i..i + 2], 16).unwrap()).collect();
        assert!(s.db.credential(&bytes).await.unwrap().is_some(), "every acknowledged id is stored");
    }

    let csv = "name,masked_id,colour,reason,valid_for_hours\n李四,4201**********0002,amber,close-contact,48\n王五,bad id,green,no-risk,24\n";
    let req = Request::builder()
        .method("POST")
        .uri("/v1/credentials/bulk")
        .header("authorization", format!("Bearer {}", s.issuer))
        .header("content-type", "text/csv")
        .body(Body::from(csv))
        .unwrap();
    let text = app(s.state.clone()).oneshot(req).await.unwrap().into_body().collect().await.unwrap().to_bytes();
    let lines: Vec<serde_json::Value> =
        String::from_utf8(text.to_vec()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!((lines[0]["line"].as_u64(), lines[0]["id"].is_string()), (Some(2), true));
    assert!(lines[1]["error"].as_str().unwrap().contains("masked"), "{:?}", lines[1]);
    assert_eq!(lines[2]["summary"]["issued"], 1);
    let issues = s.db.audit_log().await.unwrap().iter().filter(|e| e.action == "issue").count();
    assert_eq!(issues, 3);
    // A revoker may not bulk-issue.
    let req = Request::builder()
        .method("POST")
        .uri("/v1/credentials/bulk")
        .header("authorization", format!("Bearer {}", s.revoker))
        .body(Body::from(good))
        .unwrap();
    assert_eq!(app(s.state.clone()).oneshot(req).await.unwrap().status(), StatusCode::FORBIDDEN);
    finish(&s).await;
}

async fn claim_links_are_redeemed_once_before_they_expire(backend: Backend) {
    let s = setup("claim", backend).await;
    let (_, body, _) = call(&s, "POST", "/v1/credentials", Some(&s.issuer), REQUEST).await;
    let issued: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let id = issued["id"].as_str().unwrap().to_string();
    let link = |token: String| {
        let s = &s;
        let id = id.clone();
        async move {
            let (status, body, _) =
                call(s, "POST", &format!("/v1/credentials/{id}/claim-link"), Some(&token), "").await;
            assert_eq!(status, StatusCode::CREATED);
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()["path"].as_str().unwrap().to_string()
        }
    };
    assert_eq!(
        call(&s, "POST", &format!("/v1/credentials/{id}/claim-link"), Some(&s.revoker), "").await.0,
        StatusCode::FORBIDDEN
    );

    // Redeemed once (no token needed: the link is the secret), then gone.
    let path = link(s.issuer.clone()).await;
    let (status, body, _) = call(&s, "GET", &path, None, "").await;
    assert_eq!(status, StatusCode::OK);
    let claimed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(claimed["qr_text"], issued["qr_text"]);
    assert_eq!(call(&s, "GET", &path, None, "").await.0, StatusCode::GONE);
    assert_eq!(call(&s, "GET", "/v1/claim/0123456789abcdef", None, "").await.0, StatusCode::GONE);

    // Two wallets racing for one link: exactly one gets the credential.
    let path = link(s.issuer.clone()).await;
    let (a, b) = tokio::join!(call(&s, "GET", &path, None, ""), call(&s, "GET", &path, None, ""));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::GONE]);

    // A link not redeemed within a day has expired.
    let path = link(s.issuer.clone()).await;
    let province = Province::open(&s.dir.join("p")).unwrap();
    let later = AppState::with_clock(province, s.db.clone(), Box::new(|| T0 + 2 * 86_400));
    let response =
        app(later).oneshot(Request::builder().uri(path.as_str()).body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::GONE);
    finish(&s).await;
}

async fn the_openapi_document_lists_exactly_the_routes_served(backend: Backend) {
    use huren_issuer::openapi::ROUTES;
    let s = setup("openapi", backend).await;
    let (status, body, _) = call(&s, "GET", "/openapi.json", None, "").await;
    assert_eq!(status, StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| ops.as_object().unwrap().keys().map(move |m| (m.clone(), path.clone())))
        .collect();
    documented.sort();
    let mut served: Vec<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    served.sort();
    assert_eq!(documented, served);
    // And every listed route is really routed (not 404/405) for its method.
    for (method, path) in ROUTES {
        let uri = path.replace("{id}", "00112233aabbccdd").replace("{secret}", "00");
        let (status, _, _) = call(&s, &method.to_uppercase(), &uri, None, "").await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        let unset = ["/v1/trust-bundle", "/v1/province-bundle"].contains(path); // 404 until a bundle is set
        let unrouted = status == StatusCode::NOT_FOUND && !path.contains('{') && !unset;
        assert!(!unrouted, "{method} {path} answered 404");
    }
    finish(&s).await;
}

async fn the_same_idempotency_key_never_issues_twice(backend: Backend) {
    let s = setup("idempotent", backend).await;
    let post = |key: &'static str| {
        let s = &s;
        async move {
            let req = Request::builder()
                .method("POST")
                .uri("/v1/credentials")
                .header("authorization", format!("Bearer {}", s.issuer))
                .header("idempotency-key", key)
                .body(Body::from(REQUEST))
                .unwrap();
            let response = app(s.state.clone()).oneshot(req).await.unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<serde_json::Value>(&body).unwrap())
        }
    };
    let (first_status, first) = post("order-42").await;
    assert_eq!(first_status, StatusCode::CREATED);
    let (again_status, again) = post("order-42").await;
    assert_eq!(again_status, StatusCode::OK);
    assert_eq!(
        (again["id"].clone(), again["qr_text"].clone(), again["replayed"].clone()),
        (first["id"].clone(), first["qr_text"].clone(), serde_json::json!(true))
    );
    // Concurrent duplicates with a new key: one credential.
    let (a, b) = tokio::join!(post("order-43"), post("order-43"));
    assert_eq!(a.1["id"], b.1["id"]);
    let issues = s.db.audit_log().await.unwrap().iter().filter(|e| e.action == "issue").count();
    assert_eq!(issues, 2, "two keys, two credentials");
    finish(&s).await;
}

#[tokio::test]
async fn the_province_bundle_is_served_with_an_etag() {
    let s = setup("provbundle", Backend::Sqlite).await;
    assert_eq!(call(&s, "GET", "/v1/province-bundle", None, "").await.0, StatusCode::NOT_FOUND);
    s.state.set_province_bundle(b"signed bundle bytes".to_vec());
    let response = app(s.state.clone())
        .oneshot(Request::builder().uri("/v1/province-bundle").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let etag = response.headers().get("etag").unwrap().to_str().unwrap().to_string();
    let again = app(s.state.clone())
        .oneshot(
            Request::builder().uri("/v1/province-bundle").header("if-none-match", &etag).body(Body::empty()).unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    finish(&s).await;
}

/// The province's trust list, from the trust file `init` wrote.
fn province_trust(s: &Setup) -> huren_keys::TrustList {
    let file = huren_keys::TrustFile::decode(&std::fs::read(s.dir.join("p/trust.cbor")).unwrap()).unwrap();
    huren_keys::TrustList::from_trust_file(&file).unwrap()
}

async fn status_lists_publish_revocations_and_deltas(backend: Backend) {
    use huren_keys::status::{Status, StatusDelta, StatusList};
    let s = setup("status", backend).await;
    let trust = province_trust(&s);
    assert_eq!(call(&s, "GET", "/v1/status/1", None, "").await.0, StatusCode::NOT_FOUND, "nothing published yet");

    // An issued credential carries its place in list 1; the first publication lists it as valid.
    let (_, body, _) = call(&s, "POST", "/v1/credentials", Some(&s.issuer), REQUEST).await;
    let issued: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let id = issued["id"].as_str().unwrap().to_string();
    assert_eq!(issued["credential"]["status"]["list"], 1);
    let index = issued["credential"]["status"]["index"].as_u64().unwrap();
    assert_eq!(s.state.publish_status().await.unwrap(), [(1, 1)]);
    assert_eq!(s.state.publish_status().await.unwrap(), [], "unchanged and fresh: nothing new to publish");
    let (status, v1, ct) = call(&s, "GET", "/v1/status/1", None, "").await;
    assert_eq!((status, ct.as_str()), (StatusCode::OK, "application/cbor"));
    let v1 = StatusList::verify(&v1, &trust).unwrap();
    assert_eq!((v1.version, v1.status(index)), (1, Some(Status::Valid)));

    // Revoked: the next publication says so, and a delta takes a verifier from version 1 to 2.
    let reason = r#"{"reason": "reported stolen"}"#;
    let (status, _, _) = call(&s, "POST", &format!("/v1/credentials/{id}/revoke"), Some(&s.revoker), reason).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.state.publish_status().await.unwrap(), [(1, 2)]);
    let (_, v2, _) = call(&s, "GET", "/v1/status/1", None, "").await;
    let v2 = StatusList::verify(&v2, &trust).unwrap();
    assert_eq!((v2.version, v2.status(index)), (2, Some(Status::Revoked)));
    let (status, delta, _) = call(&s, "GET", "/v1/status/1/delta/1", None, "").await;
    assert_eq!(status, StatusCode::OK);
    let delta = StatusDelta::verify(&delta, &trust).unwrap();
    assert_eq!(delta.changes, [(index, Status::Revoked)]);
    let mut applied = v1.clone().into_document();
    applied.apply(&delta).unwrap();
    assert_eq!(applied, *v2);

    // Up to date: 304; unknown versions and lists: 404 (the verifier then fetches the full list).
    assert_eq!(call(&s, "GET", "/v1/status/1/delta/2", None, "").await.0, StatusCode::NOT_MODIFIED);
    assert_eq!(call(&s, "GET", "/v1/status/1/delta/7", None, "").await.0, StatusCode::NOT_FOUND);
    assert_eq!(call(&s, "GET", "/v1/status/2", None, "").await.0, StatusCode::NOT_FOUND);
    assert_eq!(call(&s, "GET", "/v1/status/x/delta/1", None, "").await.0, StatusCode::NOT_FOUND);
    let conditional = Request::builder().uri("/v1/status/1").header("if-none-match", "\"2\"").body(Body::empty());
    let response = app(s.state.clone()).oneshot(conditional.unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    finish(&s).await;
}

async fn status_references_never_collide_across_nodes(backend: Backend) {
    use huren_issuer::status::{StatusConfig, StatusService, BLOCK_SIZE};
    let s = setup("nodes", backend).await;
    // Two nodes over one database, a small list so that both fill it and move on to list 2.
    let config = |node: &str| StatusConfig { list_size: 4 * BLOCK_SIZE, node: node.into(), ..Default::default() };
    let a = StatusService::new(config("a")).unwrap();
    let b = StatusService::new(config("b")).unwrap();
    let per_node = usize::try_from(3 * BLOCK_SIZE).unwrap();
    let (refs_a, refs_b) =
        tokio::join!(a.allocate(&s.db, "CN-GD", per_node, T0), b.allocate(&s.db, "CN-GD", per_node, T0));
    let all: Vec<_> = refs_a.unwrap().into_iter().chain(refs_b.unwrap()).collect();
    let distinct: std::collections::HashSet<_> = all.iter().map(|r| (r.list, r.index)).collect();
    assert_eq!(distinct.len(), all.len(), "no index handed out twice");
    assert!(all.iter().any(|r| r.list == 2), "a full list moves allocation to the next");
    assert!(all.iter().all(|r| r.index < 4 * BLOCK_SIZE));
    // Within a block the order is random, not sequential.
    let first: Vec<u32> = all.iter().take(16).map(|r| r.index).collect();
    assert!(first.windows(2).any(|w| w[1] != w[0] + 1), "{first:?}");
    assert!(StatusService::new(StatusConfig { list_size: 1000, ..Default::default() }).is_err());
    finish(&s).await;
}

async fn an_unreachable_database_is_503_with_retry_after_and_changes_nothing(backend: Backend) {
    let s = setup("unreachable", backend).await;
    let (status, body, _) = call(&s, "POST", "/v1/credentials", Some(&s.issuer), REQUEST).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["id"].as_str().unwrap().to_string();
    // The database goes away (as when its connections are cut or it restarts): every call that needs it is told
    // to come back (503, Retry-After), none gets a 500, and nothing is half done. On SQLite only the writer goes,
    // so the token is checked and the failure comes from the write itself; reads still answer.
    let write_failures: &[&str] = match &s.db {
        Database::Sqlite { writer, .. } => {
            writer.close().await;
            &["POST /v1/credentials", "POST revoke"]
        }
        Database::Postgres(pool) => {
            pool.close().await;
            &["POST /v1/credentials", "POST revoke", "GET credential"]
        }
    };
    let revoke = format!("/v1/credentials/{id}/revoke");
    let fetch = format!("/v1/credentials/{id}");
    for (name, method, uri, token, body) in [
        ("POST /v1/credentials", "POST", "/v1/credentials", &s.issuer, REQUEST),
        ("POST revoke", "POST", revoke.as_str(), &s.revoker, r#"{"reason":"lost"}"#),
        ("GET credential", "GET", fetch.as_str(), &s.issuer, ""),
    ] {
        let mut req = Request::builder().method(method).uri(uri).header("authorization", format!("Bearer {token}"));
        req = req.header("content-type", "application/json");
        let response = app(s.state.clone()).oneshot(req.body(Body::from(body.to_string())).unwrap()).await.unwrap();
        if !write_failures.contains(&name) {
            assert_eq!(response.status(), StatusCode::OK, "{name}: reads do not need the writer");
            continue;
        }
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{name}");
        assert_eq!(response.headers()["retry-after"], "1");
        let problem: serde_json::Value =
            serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
        assert_eq!(problem["status"], 503);
    }
    if let Database::Postgres(_) = &s.db {
        let (status, _, _) = call(&s, "GET", "/readyz", None, "").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }
    // A fresh connection sees the first credential still valid, and nothing else.
    let reopened = match backend {
        Backend::Sqlite => Database::open_sqlite(&s.dir.join("issuer.db")).await.unwrap(),
        Backend::Postgres => Database::connect_postgres(&postgres_url(), s.schema.as_deref()).await.unwrap(),
    };
    let audit = reopened.audit_log().await.unwrap();
    assert_eq!(audit.iter().filter(|e| e.action == "issue").count(), 1);
    assert!(audit.iter().all(|e| !e.action.starts_with("status.")));
    verify_audit_chain(&audit).unwrap();
    finish(&s).await;
}
