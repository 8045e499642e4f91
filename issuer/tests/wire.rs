//! The issuer's answers on the wire, byte for byte (member order included), for fixed requests at a fixed clock:
//! the contract that refactorings of the service must keep. What is random by design (credential ids, status
//! indices, claim-link secrets, and so the QR text and signatures) is replaced by a placeholder before comparing;
//! everything else must match `wire/answers.txt` exactly (captured before the service was refactored).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use huren_issuer::service::app;
use tower::ServiceExt;

use crate::service::{call, finish, setup, Backend, Setup, REQUEST};

/// The answers, in order, as a transcript to compare with `wire/answers.txt`: for each, `== what`, then the
/// status code and content type, then the body.
#[derive(Default)]
struct Wire {
    /// (actual text, its placeholder): the random parts of the answers seen so far.
    random: Vec<(String, String)>,
    transcript: String,
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

    /// Add one answer (status, body, content type) to the transcript.
    fn record(&mut self, what: &str, answer: (StatusCode, Vec<u8>, String)) {
        let (status, body, content_type) = answer;
        let body = self.scrub(&String::from_utf8(body).unwrap());
        let newline = if body.ends_with('\n') { "" } else { "\n" };
        self.transcript.push_str(&format!("== {what}\n{} {content_type}\n{body}{newline}", status.as_u16()));
    }

    /// Compare the transcript with the one expected; when they differ, today's is written among the temporary
    /// files for a look (and, if the change is meant, to replace `wire/answers.txt`).
    fn done(self) {
        let expected = include_str!("wire/answers.txt");
        if self.transcript != expected {
            let path = std::env::temp_dir().join(format!("huren-wire-answers-{}.txt", std::process::id()));
            std::fs::write(&path, &self.transcript).unwrap();
            let (n, (now, was)) = (1..)
                .zip(self.transcript.lines().zip(expected.lines()))
                .find(|(_, (a, e))| a != e)
                .unwrap_or((0, ("(one transcript is longer)", "")));
            panic!("answers changed on the wire, first on line {n}:\n  now {now}\n  was {was}\n(all: {path:?})");
        }
    }
}

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
    wire.record("issue", answer);
    let bearer = format!("Bearer {issuer}");
    let keyed = [("authorization", bearer.as_str()), ("idempotency-key", "k1")];
    let answer = send(&s, "POST", "/v1/credentials", &keyed, REQUEST).await;
    note_issued(&mut wire, &answer.1, "b");
    wire.record("issue with a key", answer);
    let answer = send(&s, "POST", "/v1/credentials", &keyed, REQUEST).await;
    wire.record("replay", answer);
    let other = REQUEST.replace("张三", "李四");
    let answer = send(&s, "POST", "/v1/credentials", &keyed, &other).await;
    wire.record("key reused for another request", answer);

    // Reading, and status changes.
    let answer = call(&s, "GET", &format!("/v1/credentials/{id}"), Some(&revoker), "").await;
    wire.record("fetch", answer);
    let reason = r#"{"reason": "reported lost"}"#;
    let change = |change: &str| format!("/v1/credentials/{id}/{change}");
    wire.record("suspend", call(&s, "POST", &change("suspend"), Some(&revoker), reason).await);
    wire.record("reinstate", call(&s, "POST", &change("reinstate"), Some(&revoker), reason).await);
    wire.record("revoke", call(&s, "POST", &change("revoke"), Some(&revoker), reason).await);
    let answer = call(&s, "POST", &change("reinstate"), Some(&revoker), reason).await;
    wire.record("reinstate revoked", answer);
    let answer = call(&s, "GET", &format!("/v1/credentials/{id}"), Some(&issuer), "").await;
    wire.record("fetch revoked", answer);

    // Claim links.
    let answer = call(&s, "POST", &format!("/v1/credentials/{id}/claim-link"), Some(&issuer), "").await;
    let link: serde_json::Value = serde_json::from_slice(&answer.1).unwrap();
    let path = link["path"].as_str().unwrap().to_string();
    wire.random(path.trim_start_matches("/v1/claim/"), "<secret>");
    wire.record("claim link", answer);
    wire.record("redeem", call(&s, "GET", &path, None, "").await);
    wire.record("redeem again", call(&s, "GET", &path, None, "").await);

    // Refusals.
    wire.record("no token", call(&s, "POST", "/v1/credentials", None, REQUEST).await);
    let answer = call(&s, "POST", "/v1/credentials", Some(&revoker), REQUEST).await;
    wire.record("wrong role", answer);
    let answer = call(&s, "POST", "/v1/credentials", Some(&foreign), REQUEST).await;
    wire.record("other province", answer);
    let answer = call(&s, "GET", "/v1/credentials/00112233aabbccdd", Some(&issuer), "").await;
    wire.record("unknown credential", answer);
    let answer = call(&s, "POST", "/v1/credentials", Some(&issuer), "{\"subject\": 1}").await;
    wire.record("bad JSON", answer);
    let unmasked = REQUEST.replace("4403**********1234", "440301199001011234");
    let answer = call(&s, "POST", "/v1/credentials", Some(&issuer), &unmasked).await;
    wire.record("unmasked id", answer);
    let answer = call(&s, "POST", &change("suspend"), Some(&revoker), reason).await;
    wire.record("revoked stays revoked", answer);
    wire.record("no reason", call(&s, "POST", &change("suspend"), Some(&revoker), "{}").await);
    let answer = call(&s, "POST", &change("suspend"), Some(&revoker), r#"{"reason":" "}"#).await;
    wire.record("blank reason", answer);
    let answer = call(&s, "POST", "/v1/credentials", Some(&issuer), &REQUEST.replace("24}", "0}")).await;
    wire.record("no validity", answer);

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
    wire.record("bulk NDJSON", answer);
    let csv = "name,masked_id,colour,reason,valid_for_hours\n李四,4201**********0002,amber,close-contact,48\n\
               王五,bad id,green,no-risk,24\na,b\nc,4201**1,green,no-risk,many\nd,4201**1,blue,no-risk,1\n";
    let headers = bulk("text/csv; charset=utf-8");
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let answer = send(&s, "POST", "/v1/credentials/bulk", &headers, csv).await;
    let first: serde_json::Value =
        serde_json::from_str(std::str::from_utf8(&answer.1).unwrap().lines().next().unwrap()).unwrap();
    wire.random(first["id"].as_str().unwrap(), "<csv-id>");
    wire.record("bulk CSV", answer);
    let refused = |content_type: &'static str| {
        let headers = bulk(content_type);
        let s = &s;
        async move {
            let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            send(s, "POST", "/v1/credentials/bulk", &headers, "").await
        }
    };
    wire.record("bulk media type", refused("application/json").await);
    wire.record("bulk charset", refused("text/csv; charset=gbk").await);

    // The API's own description.
    wire.record("openapi", call(&s, "GET", "/openapi.json", None, "").await);

    // The database gone: 503 with nothing changed.
    if let huren_issuer::storage::Database::Sqlite { writer, .. } = &s.db {
        writer.close().await;
    }
    let answer = call(&s, "POST", "/v1/credentials", Some(&issuer), REQUEST).await;
    wire.record("database unavailable", answer);

    // Token guessing slowed down.
    for i in 0..huren_issuer::throttle::MAX_AUTH_FAILURES {
        call(&s, "POST", "/v1/credentials", Some(&format!("hrt_guess{i}.secret")), REQUEST).await;
    }
    let answer = call(&s, "POST", "/v1/credentials", Some(&issuer), REQUEST).await;
    wire.record("too many refusals", answer);
    finish(&s).await;
    wire.done();
}
