//! Names that would spoof a checkpoint's display (bidirectional overrides, invisible characters, line separators,
//! private-use characters, piles of combining marks, blank names) are refused at issuance, by the one rule in
//! `huren_wallet_core::name`, for the name and its pinyin alike: a single issuance is 400 problem+json, a bulk
//! line gets its own error (the other lines are issued), the CLI refuses. Chinese names (with the middle dot and
//! Extension B+ characters) and pinyin with tone marks are issued.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use huren_issuer::service::app;
use tower::ServiceExt;

use crate::service::{call, finish, setup, Backend, Setup};

fn request(name: &str, pinyin: Option<&str>) -> String {
    let mut subject = serde_json::json!({ "name": name, "masked_id": "4403**********1234" });
    if let Some(p) = pinyin {
        subject["pinyin"] = p.into();
    }
    serde_json::json!({
        "subject": subject,
        "body": { "type": "health-status", "colour": "green", "reason": "no-risk" },
        "valid_for_hours": 24,
    })
    .to_string()
}

/// Names refused, as (name, pinyin).
const SPOOFS: [(&str, Option<&str>); 9] = [
    ("\u{202E}三张", None),
    ("张\u{200B}三", None),
    ("张三\u{2028}李四", None),
    ("   ", None),
    ("\u{E000}", None),
    ("Zha\u{0301}\u{0301}\u{0301}\u{0301}ng", None),
    ("张\u{2066}三", None),
    ("张三", Some("Zhang\u{200D}San")),
    ("张三", Some("\u{202E}naS gnahZ")),
];

/// Names issued.
const NAMES: [(&str, Option<&str>); 4] =
    [("买买提·艾力", Some("Maimaiti Aili")), ("𠀀𪚥𰻞", None), ("欧阳娜娜", Some("Ōuyáng Nànà")), ("O'Brien-Lǚ", None)];

async fn issues(s: &Setup) -> usize {
    s.db.audit_log().await.unwrap().iter().filter(|e| e.action == "issue").count()
}

async fn spoofing_names_are_refused_at_issuance(backend: Backend) {
    let s = setup("names", backend).await;
    for (name, pinyin) in SPOOFS {
        let (status, body, ct) = call(&s, "POST", "/v1/credentials", Some(&s.issuer), &request(name, pinyin)).await;
        assert_eq!((status, ct.as_str()), (StatusCode::BAD_REQUEST, "application/problem+json"), "{name:?} {pinyin:?}");
        let detail =
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()["detail"].as_str().unwrap().to_string();
        let field = if pinyin.is_some() { "pinyin" } else { "name" };
        assert!(detail.contains(field), "{detail}");
        assert!(detail.chars().all(|c| !c.is_control() && !('\u{2000}'..='\u{206F}').contains(&c)), "{detail:?}");
    }
    assert_eq!(issues(&s).await, 0, "none issued");
    assert_eq!(s.state.status().handed_out(), 0, "not even a status index spent");
    for (name, pinyin) in NAMES {
        let (status, body, _) = call(&s, "POST", "/v1/credentials", Some(&s.issuer), &request(name, pinyin)).await;
        assert_eq!(status, StatusCode::CREATED, "{name}: {}", String::from_utf8_lossy(&body));
        let issued: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(issued["credential"]["subject"]["name"], name);
    }

    // Bulk, NDJSON: each spoofing line gets its own error; the good lines around them are issued.
    let mut ndjson = String::new();
    for ((bad, bad_pinyin), (good, good_pinyin)) in SPOOFS.iter().zip(NAMES.iter().cycle()) {
        ndjson.push_str(&format!("{}\n{}\n", request(bad, *bad_pinyin), request(good, *good_pinyin)));
    }
    let lines = bulk(&s, "application/x-ndjson", ndjson).await;
    assert_eq!(lines.len(), 2 * SPOOFS.len() + 1);
    for pair in lines[..2 * SPOOFS.len()].chunks(2) {
        assert!(
            pair[0]["error"].as_str().unwrap().contains("not allowed")
                || pair[0]["error"].as_str().unwrap().contains("letters")
                || pair[0]["error"].as_str().unwrap().contains("mark"),
            "{}",
            pair[0]
        );
        assert!(pair[1]["id"].is_string(), "{}", pair[1]);
    }
    assert_eq!(lines[2 * SPOOFS.len()]["summary"]["failed"], SPOOFS.len());

    // Bulk, CSV.
    let csv = "name,masked_id,colour,reason,valid_for_hours\n张\u{200B}三,4403**1234,green,no-risk,24\n李四,4403**1234,green,no-risk,24\n";
    let lines = bulk(&s, "text/csv", csv.to_string()).await;
    assert!(lines[0]["error"].as_str().unwrap().contains("U+200B"), "{}", lines[0]);
    assert!(lines[1]["id"].is_string());
    finish(&s).await;
}

on_both_backends!(spoofing_names_are_refused_at_issuance);

async fn bulk(s: &Setup, content_type: &str, body: String) -> Vec<serde_json::Value> {
    let request = Request::builder()
        .method("POST")
        .uri("/v1/credentials/bulk")
        .header("authorization", format!("Bearer {}", s.issuer))
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap();
    let response = app(s.state.clone()).oneshot(request).await.unwrap();
    let text = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(text.to_vec()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn the_cli_refuses_a_spoofing_name() {
    let dir = std::env::temp_dir().join(format!("huren-names-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    huren_issuer::Province::init(&dir, "CN-GD", 1_780_000_000, &Default::default()).unwrap();
    let issue = |name: &str, pinyin: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_huren-issuer"));
        command.args(["issue", "--dir", dir.to_str().unwrap(), "--name", name, "--id", "4403**1234"]);
        command.args(["--at", "2026-09-01T00:00:00Z"]);
        if let Some(p) = pinyin {
            command.args(["--pinyin", p]);
        }
        command.output().unwrap()
    };
    for (name, pinyin) in SPOOFS {
        let out = issue(name, pinyin);
        assert_eq!(out.status.code(), Some(2), "{name:?} {pinyin:?}");
        assert!(out.stdout.is_empty(), "no QR text for {name:?}");
    }
    let out = issue("买买提·艾力", Some("Maimaiti Aili"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}
