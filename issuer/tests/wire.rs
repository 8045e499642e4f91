//! The issuer's answers on the wire, byte for byte (member order included), for fixed requests at a fixed clock:
//! the contract that refactorings of the service must keep. What is random by design (credential ids, status
//! indices, claim-link secrets, and so the QR text and signatures) is replaced by a placeholder before comparing;
//! everything else must match exactly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use huren_issuer::service::app;
use tower::ServiceExt;

use crate::service::{call, finish, setup, Backend, Setup, REQUEST};

/// Collects the answers that differ from what is expected, so one run shows every difference.
#[derive(Default)]
struct Wire {
    /// (actual text, its placeholder): the random parts of the answers seen so far.
    random: Vec<(String, String)>,
    differences: Vec<String>,
}

impl Wire {
    /// Replace `actual` by `placeholder` in every answer from now on.
    fn random(&mut self, actual: &str, placeholder: &str) {
        self.random.push((actual.to_string(), placeholder.to_string()));
    }

    fn scrub(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (actual, placeholder) in &self.random {
            text = text.replace(actual.as_str(), placeholder);
        }
        text
    }

    /// Compare one answer (status, content type, body) with what it must be.
    fn check(&mut self, what: &str, answer: (StatusCode, Vec<u8>, String), expected: (u16, &str, &str)) {
        let (status, body, content_type) = answer;
        let body = self.scrub(&String::from_utf8(body).unwrap());
        let actual = (status.as_u16(), content_type.as_str(), body.as_str());
        if actual != expected {
            self.differences.push(format!("{what}:\n  expected {expected:?}\n  actual   {actual:?}"));
        }
    }

    fn done(self) {
        assert!(self.differences.is_empty(), "answers changed on the wire:\n{}", self.differences.join("\n"));
    }
}

const JSON: &str = "application/json";
const PROBLEM: &str = "application/problem+json";
const NDJSON: &str = "application/x-ndjson";

async fn send(
    s: &Setup,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, Vec<u8>, String) {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app(s.state.clone()).oneshot(request.body(Body::from(body.to_string())).unwrap()).await.unwrap();
    let status = response.status();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, response.into_body().collect().await.unwrap().to_bytes().to_vec(), content_type)
}

/// Note the random parts of an issuance answer (its id, QR text and status index) under `name`.
fn note_issued(wire: &mut Wire, body: &[u8], name: &str) -> String {
    let issued: serde_json::Value = serde_json::from_slice(body).unwrap();
    let id = issued["id"].as_str().unwrap().to_string();
    wire.random(&id, &format!("<{name}-id>"));
    wire.random(issued["qr_text"].as_str().unwrap(), &format!("<{name}-qr>"));
    if let Some(index) = issued["credential"]["status"]["index"].as_u64() {
        wire.random(&format!("\"index\":{index}"), &format!("\"index\":<{name}-index>"));
    }
    id
}

#[tokio::test]
async fn answers_are_the_same_on_the_wire() {
    let s = setup("wire", Backend::Sqlite).await;
    let mut wire = Wire::default();
    let (issuer, revoker, foreign) = (s.issuer.clone(), s.revoker.clone(), s.foreign.clone());
    for (token, name) in [(&issuer, "issuer"), (&revoker, "revoker"), (&foreign, "foreign")] {
        let (id, _) = token.trim_start_matches("hrt_").split_once('.').unwrap();
        wire.random(id, &format!("<{name}-token>"));
    }

    // Issuance, and its replay under an idempotency key.
    let answer = call(&s, "POST", "/v1/credentials", Some(&issuer), REQUEST).await;
    let id = note_issued(&mut wire, &answer.1, "a");
    wire.check("issue", answer, (201, JSON, r#"{"credential":{"body":{"colour":"green","reason":"no-risk","type":"health-status"},"expires_at":1790086400,"id":"<a-id>","issued_at":1790000000,"issuer":"CN-GD","status":{"index":<a-index>,"list":1},"subject":{"masked_id":"4403**********1234","name":"张三"}},"id":"<a-id>","qr_text":"<a-qr>"}"#));
    let bearer = format!("Bearer {issuer}");
    let keyed = [("authorization", bearer.as_str()), ("idempotency-key", "k1")];
    let answer = send(&s, "POST", "/v1/credentials", &keyed, REQUEST).await;
    note_issued(&mut wire, &answer.1, "b");
    wire.check("issue with a key", answer, (201, JSON, r#"{"credential":{"body":{"colour":"green","reason":"no-risk","type":"health-status"},"expires_at":1790086400,"id":"<b-id>","issued_at":1790000000,"issuer":"CN-GD","status":{"index":<b-index>,"list":1},"subject":{"masked_id":"4403**********1234","name":"张三"}},"id":"<b-id>","qr_text":"<b-qr>"}"#));
    let answer = send(&s, "POST", "/v1/credentials", &keyed, REQUEST).await;
    wire.check("replay", answer, (200, JSON, r#"{"id":"<b-id>","qr_text":"<b-qr>","replayed":true}"#));
    let other = REQUEST.replace("张三", "李四");
    let answer = send(&s, "POST", "/v1/credentials", &keyed, &other).await;
    wire.check("key reused for another request", answer, (422, PROBLEM, r#"{"detail":"this Idempotency-Key was used with another request: nothing was issued; use a new key for a new request","status":422,"title":"unprocessable content","type":"about:blank"}"#));

    // Reading, and status changes.
    let answer = call(&s, "GET", &format!("/v1/credentials/{id}"), Some(&revoker), "").await;
    wire.check("fetch", answer, (200, JSON, r#"{"expires_at":1790086400,"id":"<a-id>","issued_at":1790000000,"province":"CN-GD","qr_text":"<a-qr>","status":"valid","status_reason":null,"type":"health-status"}"#));
    let reason = r#"{"reason": "reported lost"}"#;
    let change = |change: &str| format!("/v1/credentials/{id}/{change}");
    wire.check(
        "suspend",
        call(&s, "POST", &change("suspend"), Some(&revoker), reason).await,
        (200, JSON, r#"{"id":"<a-id>","reason":"reported lost","status":"suspended"}"#),
    );
    wire.check(
        "reinstate",
        call(&s, "POST", &change("reinstate"), Some(&revoker), reason).await,
        (200, JSON, r#"{"id":"<a-id>","reason":"reported lost","status":"valid"}"#),
    );
    wire.check(
        "revoke",
        call(&s, "POST", &change("revoke"), Some(&revoker), reason).await,
        (200, JSON, r#"{"id":"<a-id>","reason":"reported lost","status":"revoked"}"#),
    );
    let answer = call(&s, "POST", &change("reinstate"), Some(&revoker), reason).await;
    wire.check(
        "reinstate revoked",
        answer,
        (
            409,
            PROBLEM,
            r#"{"detail":"a revoked credential stays revoked","status":409,"title":"conflict","type":"about:blank"}"#,
        ),
    );
    let answer = call(&s, "GET", &format!("/v1/credentials/{id}"), Some(&issuer), "").await;
    wire.check("fetch revoked", answer, (200, JSON, r#"{"expires_at":1790086400,"id":"<a-id>","issued_at":1790000000,"province":"CN-GD","qr_text":"<a-qr>","status":"revoked","status_reason":"reported lost","type":"health-status"}"#));

    // Claim links.
    let answer = call(&s, "POST", &format!("/v1/credentials/{id}/claim-link"), Some(&issuer), "").await;
    let link: serde_json::Value = serde_json::from_slice(&answer.1).unwrap();
    let path = link["path"].as_str().unwrap().to_string();
    wire.random(path.trim_start_matches("/v1/claim/"), "<secret>");
    wire.check("claim link", answer, (201, JSON, r#"{"expires_at":1790086400,"path":"/v1/claim/<secret>"}"#));
    wire.check(
        "redeem",
        call(&s, "GET", &path, None, "").await,
        (200, JSON, r#"{"id":"<a-id>","qr_text":"<a-qr>","status":"revoked"}"#),
    );
    wire.check("redeem again", call(&s, "GET", &path, None, "").await, (410, PROBLEM, r#"{"detail":"this claim link was already used, has expired or never existed","status":410,"title":"gone","type":"about:blank"}"#));

    // Refusals.
    wire.check(
        "no token",
        call(&s, "POST", "/v1/credentials", None, REQUEST).await,
        (
            401,
            PROBLEM,
            r#"{"detail":"a valid API token is required","status":401,"title":"unauthorized","type":"about:blank"}"#,
        ),
    );
    let answer = call(&s, "POST", "/v1/credentials", Some(&revoker), REQUEST).await;
    wire.check(
        "wrong role",
        answer,
        (
            403,
            PROBLEM,
            r#"{"detail":"role revoker may not do this","status":403,"title":"forbidden","type":"about:blank"}"#,
        ),
    );
    let answer = call(&s, "POST", "/v1/credentials", Some(&foreign), REQUEST).await;
    wire.check("other province", answer, (403, PROBLEM, r#"{"detail":"this token acts for CN-HB, not CN-GD","status":403,"title":"forbidden","type":"about:blank"}"#));
    let answer = call(&s, "GET", "/v1/credentials/00112233aabbccdd", Some(&issuer), "").await;
    wire.check(
        "unknown credential",
        answer,
        (404, PROBLEM, r#"{"detail":"no such resource","status":404,"title":"not found","type":"about:blank"}"#),
    );
    let answer = call(&s, "POST", "/v1/credentials", Some(&issuer), "{\"subject\": 1}").await;
    wire.check("bad JSON", answer, (400, PROBLEM, r#"{"detail":"request JSON: invalid type: integer `1`, expected struct Subject at line 1 column 13","status":400,"title":"bad request","type":"about:blank"}"#));
    let unmasked = REQUEST.replace("4403**********1234", "440301199001011234");
    let answer = call(&s, "POST", "/v1/credentials", Some(&issuer), &unmasked).await;
    wire.check("unmasked id", answer, (400, PROBLEM, r#"{"detail":"credential content invalid: the ID must be masked: at most 8 visible characters and at least one '*'","status":400,"title":"bad request","type":"about:blank"}"#));
    let answer = call(&s, "POST", &change("suspend"), Some(&revoker), reason).await;
    wire.check(
        "revoked stays revoked",
        answer,
        (
            409,
            PROBLEM,
            r#"{"detail":"a revoked credential stays revoked","status":409,"title":"conflict","type":"about:blank"}"#,
        ),
    );
    wire.check("no reason", call(&s, "POST", &change("suspend"), Some(&revoker), "{}").await, (400, PROBLEM, r#"{"detail":"request JSON: missing field `reason` at line 1 column 2","status":400,"title":"bad request","type":"about:blank"}"#));
    let answer = call(&s, "POST", &change("suspend"), Some(&revoker), r#"{"reason":" "}"#).await;
    wire.check("blank reason", answer, (400, PROBLEM, r#"{"detail":"a reason of 1 to 200 characters, none of them a control character, is required","status":400,"title":"bad request","type":"about:blank"}"#));
    let answer = call(&s, "POST", "/v1/credentials", Some(&issuer), &REQUEST.replace("24}", "0}")).await;
    wire.check("no validity", answer, (400, PROBLEM, r#"{"detail":"valid_for_hours must be at least 1","status":400,"title":"bad request","type":"about:blank"}"#));

    // Bulk issuance: one answer per line, then the summary.
    let good = REQUEST.replace('\n', " ");
    let ndjson = format!("{good}\n{{\"not\": \"a request\"}}\n\n{good}\n{}\n", "x".repeat(20_000));
    let bulk = |content_type: &'static str| [("authorization", bearer.clone()), ("content-type", content_type.into())];
    let headers = bulk(NDJSON);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let answer = send(&s, "POST", "/v1/credentials/bulk", &headers, &ndjson).await;
    for (n, line) in String::from_utf8(answer.1.clone()).unwrap().lines().enumerate() {
        let line: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(id) = line["id"].as_str() {
            wire.random(id, &format!("<bulk-{n}-id>"));
        }
    }
    wire.check("bulk NDJSON", answer, (200, NDJSON, concat!(
        r#"{"id":"<bulk-0-id>","line":1}"#, "\n",
        r#"{"error":"JSON: unknown field `not`, expected one of `subject`, `body`, `valid_for_hours`, `not_before`, `holder_key` at line 1 column 6","line":2}"#, "\n",
        r#"{"id":"<bulk-2-id>","line":4}"#, "\n",
        r#"{"error":"line longer than 16384 bytes","line":5}"#, "\n",
        r#"{"summary":{"aborted":null,"failed":2,"issued":2}}"#, "\n",
    )));
    let csv = "name,masked_id,colour,reason,valid_for_hours\n李四,4201**********0002,amber,close-contact,48\n\
               王五,bad id,green,no-risk,24\na,b\nc,4201**1,green,no-risk,many\nd,4201**1,blue,no-risk,1\n";
    let headers = bulk("text/csv; charset=utf-8");
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let answer = send(&s, "POST", "/v1/credentials/bulk", &headers, csv).await;
    let first: serde_json::Value =
        serde_json::from_str(std::str::from_utf8(&answer.1).unwrap().lines().next().unwrap()).unwrap();
    wire.random(first["id"].as_str().unwrap(), "<csv-id>");
    wire.check("bulk CSV", answer, (200, NDJSON, concat!(
        r#"{"id":"<csv-id>","line":2}"#, "\n",
        r#"{"error":"credential content invalid: masked ID must be 1 to 24 characters of digits, letters and '*'","line":3}"#, "\n",
        r#"{"error":"expected 5 fields (name,masked_id,colour,reason,valid_for_hours), got 2","line":4}"#, "\n",
        r#"{"error":"valid_for_hours \"many\" is not a number","line":5}"#, "\n",
        r#"{"error":"CSV row: unknown variant `blue`, expected one of `green`, `amber`, `red`","line":6}"#, "\n",
        r#"{"summary":{"aborted":null,"failed":4,"issued":1}}"#, "\n",
    )));
    let refused = |content_type: &'static str| {
        let headers = bulk(content_type);
        let s = &s;
        async move {
            let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            send(s, "POST", "/v1/credentials/bulk", &headers, "").await
        }
    };
    wire.check("bulk media type", refused("application/json").await, (415, PROBLEM, r#"{"detail":"Content-Type \"application/json\": send text/csv or application/x-ndjson","status":415,"title":"unsupported media type","type":"about:blank"}"#));
    wire.check("bulk charset", refused("text/csv; charset=gbk").await, (415, PROBLEM, r#"{"detail":"charset \"gbk\": bulk input is read as UTF-8 only","status":415,"title":"unsupported media type","type":"about:blank"}"#));

    // The API's own description.
    let (status, body, content_type) = call(&s, "GET", "/openapi.json", None, "").await;
    let expected = include_str!("wire/openapi.json").trim_end();
    wire.check("openapi", (status, body, content_type), (200, JSON, expected));

    // The database gone: 503 with nothing changed.
    if let huren_issuer::storage::Database::Sqlite { writer, .. } = &s.db {
        writer.close().await;
    }
    let answer = call(&s, "POST", "/v1/credentials", Some(&issuer), REQUEST).await;
    wire.check("database unavailable", answer, (503, PROBLEM, r#"{"detail":"the database is unavailable for a moment; nothing was changed, send the request again","status":503,"title":"service unavailable","type":"about:blank"}"#));

    // Token guessing slowed down.
    for i in 0..huren_issuer::throttle::MAX_AUTH_FAILURES {
        call(&s, "POST", "/v1/credentials", Some(&format!("hrt_guess{i}.secret")), REQUEST).await;
    }
    let answer = call(&s, "POST", "/v1/credentials", Some(&issuer), REQUEST).await;
    wire.check("too many refusals", answer, (429, PROBLEM, r#"{"detail":"too many refused authentications from this address; wait and retry","status":429,"title":"too many requests","type":"about:blank"}"#));
    finish(&s).await;
    wire.done();
}
