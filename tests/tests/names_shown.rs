//! Issue 22, item 8: a name signed under older rules (or by a careless issuer) may hold a bidirectional override,
//! invisible characters, a line separator or a pile of combining marks. Verifiers show such characters escaped
//! (`\u{202E}`), never raw: in the CLI's answer for people and in the kiosk's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body as HttpBody;
use axum::http::{header, Request};
use huren_tests::fixtures::{health_status, TestProvince, T0};
use huren_tests::workspace_binary;
use huren_verifier::checkpoint::{Checkpoint, TrustSource};
use huren_verifier::kiosk::{app, Kiosk};
use huren_wallet_core::transport;
use tower::ServiceExt;

/// Names an issuer now refuses, and how a checkpoint must show them.
const SPOOFS: [(&str, &str); 5] = [
    ("\u{202E}三张", "\\u{202E}三张"),
    ("张\u{200B}三", "张\\u{200B}三"),
    ("张三\u{2028}李四", "张三\\u{2028}李四"),
    ("A\u{0301}\u{0301}\u{0301}", "A\u{0301}\u{0301}\\u{0301}"),
    ("\u{E000}王", "\\u{E000}王"),
];

/// A credential with `name`, signed without the issuer's checks (as an older or careless issuer would have).
fn signed_with_name(gd: &TestProvince, name: &str) -> String {
    let mut c = health_status("CN-GD");
    c.subject.name = name.into();
    assert!(c.check().is_err(), "{name:?} is refused at issuance now");
    transport::encode(&huren_keys::cose::sign1(&gd.issuer, &c.to_claims(), None).unwrap())
}

#[tokio::test]
async fn the_kiosk_shows_hidden_characters_escaped() {
    let gd = TestProvince::guangdong();
    let texts: Vec<(String, &str)> = SPOOFS.iter().map(|(name, shown)| (signed_with_name(&gd, name), *shown)).collect();
    let loader = Box::new(move || {
        Ok(Checkpoint {
            trust: TrustSource::List(TestProvince::guangdong().trust()),
            dcc: Default::default(),
            policy: Default::default(),
            freshness: Default::default(),
        })
    });
    let kiosk = Arc::new(Kiosk::new(loader, Vec::new()).unwrap().starting_at(T0 + 60));
    for (text, shown) in texts {
        let request =
            Request::post("/api/verify").header(header::CONTENT_TYPE, "text/plain").body(HttpBody::from(text)).unwrap();
        let response = app(Arc::clone(&kiosk)).oneshot(request).await.unwrap();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(answer["code"], "OK", "the signature is good: {answer}");
        assert_eq!(answer["person"]["name"], shown);
    }
}

#[test]
fn the_cli_shows_hidden_characters_escaped() {
    let gd = TestProvince::guangdong();
    let dir = std::env::temp_dir().join(format!("huren-names-shown-{}", std::process::id()));
    gd.adopt_issuer(&dir);
    for (name, shown) in SPOOFS {
        let out = std::process::Command::new(workspace_binary("huren-verifier"))
            .args(["verify", "--at", "2026-09-21T15:00:00Z", "--trust"])
            .arg(dir.join("p/trust.cbor"))
            .arg(signed_with_name(&gd, name))
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(0), "{stdout}");
        assert!(stdout.contains(&format!("    {shown} · ID")), "{name:?} shown as {shown:?}: {stdout}");
        assert!(!stdout.contains(name), "never raw: {stdout}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
