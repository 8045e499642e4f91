//! Idempotency keys answer only the request they were first used with, on both backends: a replay with the same
//! request (however its JSON is spelt) gets the first credential; the same key with another request is 422
//! problem+json and issues nothing, so the second person is never handed the first person's credential; and no
//! status index is spent on a replay or a refused reuse.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use huren_issuer::service::app;
use tower::ServiceExt;

use crate::service::{finish, setup, Backend, Setup, REQUEST};

/// Bob's request: another person, another colour.
const BOB: &str = r#"{"subject": {"name": "李四", "masked_id": "4201**********0002"},
    "body": {"type": "health-status", "colour": "red", "reason": "positive-test"}, "valid_for_hours": 24}"#;

/// The same request as [`REQUEST`], spelt differently: other member order, other white space.
const REQUEST_RESPELT: &str = r#"{ "valid_for_hours":24, "body":{"reason":"no-risk","colour":"green",
    "type":"health-status"},"subject":{"masked_id":"4403**********1234","name":"张三"} }"#;

async fn post(s: &Setup, key: &str, body: &str) -> (StatusCode, String, serde_json::Value) {
    let request = Request::builder()
        .method("POST")
        .uri("/v1/credentials")
        .header("authorization", format!("Bearer {}", s.issuer))
        .header("idempotency-key", key)
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app(s.state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let ct = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, ct, serde_json::from_slice(&body).unwrap())
}

async fn issues(s: &Setup) -> usize {
    s.db.audit_log().await.unwrap().iter().filter(|e| e.action == "issue").count()
}

async fn a_key_reused_with_another_request_is_422_and_issues_nothing(backend: Backend) {
    let s = setup("idembody", backend).await;
    let (status, _, alice) = post(&s, "order-1", REQUEST).await;
    assert_eq!(status, StatusCode::CREATED);
    let handed_out = s.state.status().handed_out();

    // Bob's request under Alice's key: refused, and Alice's credential is not handed to him.
    let (status, ct, problem) = post(&s, "order-1", BOB).await;
    assert_eq!((status, ct.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "application/problem+json"), "{problem}");
    assert_eq!(problem["status"], 422);
    assert!(problem.get("qr_text").is_none() && problem.get("id").is_none(), "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("Idempotency-Key"), "{problem}");
    assert_eq!(issues(&s).await, 1, "Bob's request was not issued under Alice's key");

    // Alice's retry, however its JSON is spelt, is her credential again.
    for body in [REQUEST, REQUEST_RESPELT] {
        let (status, _, again) = post(&s, "order-1", body).await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(
            (&again["id"], &again["qr_text"], &again["replayed"]),
            (&alice["id"], &alice["qr_text"], &true.into())
        );
    }
    assert_eq!(s.state.status().handed_out(), handed_out, "no status index spent on a replay or a refusal");

    // Bob with a key of his own is issued, his own credential.
    let (status, _, bob) = post(&s, "order-2", BOB).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(bob["id"], alice["id"]);
    assert_eq!(bob["credential"]["subject"]["name"], "李四");
    assert_eq!(issues(&s).await, 2);

    // A request that does not parse is 400 whatever its key, and spends nothing.
    let (status, _, _) = post(&s, "order-1", "{\"subject\": 1}").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(s.state.status().handed_out(), handed_out + 1, "only Bob's issuance took an index");
    finish(&s).await;
}

on_both_backends!(a_key_reused_with_another_request_is_422_and_issues_nothing);
