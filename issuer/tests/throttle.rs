//! Token guessing is slowed down: after too many refused authentications a client gets 429 with Retry-After,
//! before its token is looked up, whatever token it sends next.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use huren_issuer::auth::{create_token, Role};
use huren_issuer::service::{app, AppState};
use huren_issuer::storage::Database;
use huren_issuer::throttle::MAX_AUTH_FAILURES;
use huren_issuer::Province;
use tower::ServiceExt;

const T0: i64 = 1_790_000_000;

#[tokio::test]
async fn too_many_refused_tokens_get_429_until_the_window_ends() {
    let dir = std::env::temp_dir().join(format!("huren-throttle-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let province = Province::init(&dir.join("p"), "CN-GD", T0 - 100, &Default::default()).unwrap();
    let db = Database::open_sqlite(&dir.join("issuer.db")).await.unwrap();
    db.migrate().await.unwrap();
    let good = create_token(&db, Role::Issuer, "CN-GD", T0).await.unwrap();
    let router = app(AppState::with_clock(province, db, Box::new(|| T0)));
    let request = |token: &str| {
        Request::post("/v1/credentials/00/claim-link")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    // A valid token works (404: no such credential) and does not count as a failure.
    assert_eq!(router.clone().oneshot(request(&good)).await.unwrap().status(), StatusCode::NOT_FOUND);
    for i in 0..MAX_AUTH_FAILURES {
        let status = router.clone().oneshot(request(&format!("hrt_guess{i}.secret"))).await.unwrap().status();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "guess {i}");
    }
    for token in ["hrt_one.more", good.as_str()] {
        let response = router.clone().oneshot(request(token)).await.unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait: u64 = response.headers()[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
    }
    // Requests without a token (health, public documents, claim links) are not held back.
    let health = router.clone().oneshot(Request::get("/healthz").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    std::fs::remove_dir_all(&dir).unwrap();
}
