//! Bulk input read as sent: only the first CSV line can be a header (a row whose first field is `name` later on
//! is a row, answered and counted), a UTF-8 byte order mark before the first line is dropped, and the media type
//! is matched case-insensitively with its parameters; a media type the service does not read is 415, not guessed.
//! Through the HTTP API and the `huren-issuer bulk` CLI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use huren_issuer::service::app;
use tower::ServiceExt;

use crate::service::{finish, setup, Backend, Setup, REQUEST};

/// A CSV export as spreadsheets write it: a byte order mark, the header, a person whose name is "name" on line
/// 3, and the header again on line 5 (two files concatenated).
const CSV: &str = "\u{feff}name,masked_id,colour,reason,valid_for_hours\r\n\
                   张三,4403**********1234,green,no-risk,24\r\n\
                   name,4403**********1235,amber,close-contact,24\r\n\
                   李四,4201**********0002,red,positive-test,48\r\n\
                   name,masked_id,colour,reason,valid_for_hours\r\n";

/// The answers `CSV` must get: (line, issued?) for every line but the header, then the summary.
fn check_csv_answers(lines: &[serde_json::Value]) {
    let answered: Vec<(u64, bool)> =
        lines.iter().filter_map(|l| Some((l.get("line")?.as_u64()?, l.get("id").is_some()))).collect();
    assert_eq!(answered, [(2, true), (3, true), (4, true), (5, false)], "{lines:?}");
    assert!(lines[3]["error"].as_str().unwrap().contains("valid_for_hours"), "{}", lines[3]);
    let summary = &lines.last().unwrap()["summary"];
    assert_eq!((summary["issued"].as_u64(), summary["failed"].as_u64()), (Some(3), Some(1)), "{summary}");
}

async fn post(s: &Setup, content_type: Option<&str>, body: &str) -> (StatusCode, Vec<serde_json::Value>) {
    let mut request = Request::builder()
        .method("POST")
        .uri("/v1/credentials/bulk")
        .header("authorization", format!("Bearer {}", s.issuer));
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    let response = app(s.state.clone()).oneshot(request.body(Body::from(body.to_string())).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    if !status.is_success() {
        return (status, vec![serde_json::from_str(&text).unwrap()]);
    }
    (status, text.lines().map(|l| serde_json::from_str(l).unwrap()).collect())
}

async fn issues(s: &Setup) -> usize {
    s.db.audit_log().await.unwrap().iter().filter(|e| e.action == "issue").count()
}

async fn csv_headers_byte_order_marks_and_media_types(backend: Backend) {
    let s = setup("bulkinput", backend).await;
    let mut expected_issues = 0;
    for ct in
        ["text/csv", "TEXT/CSV", "text/csv; charset=utf-8", "Text/Csv ; Charset=\"UTF-8\"", "text/csv;header=present"]
    {
        let (status, lines) = post(&s, Some(ct), CSV).await;
        assert_eq!(status, StatusCode::OK, "{ct}");
        check_csv_answers(&lines);
        expected_issues += 3;
        assert_eq!(issues(&s).await, expected_issues, "{ct}");
    }
    // NDJSON: a byte order mark before the first line too; the media type by any case, or none at all.
    let ndjson = format!("\u{feff}{}\n{}\n", REQUEST.replace('\n', " "), REQUEST.replace('\n', " "));
    for ct in [Some("application/x-ndjson"), Some("Application/X-NDJSON; charset=utf-8"), None] {
        let (status, lines) = post(&s, ct, &ndjson).await;
        assert_eq!(status, StatusCode::OK, "{ct:?}");
        assert_eq!(lines.last().unwrap()["summary"]["issued"], 2, "{ct:?}: {lines:?}");
    }
    expected_issues += 6;
    // A media type that is not read, or text in another charset: refused as a whole, nothing issued.
    for ct in ["application/xml", "text/plain", "text/csvx", "text/csv; charset=latin1", "application/json-seq"] {
        let (status, problem) = post(&s, Some(ct), CSV).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct}");
        assert_eq!(problem[0]["status"], 415, "{ct}");
    }
    assert_eq!(issues(&s).await, expected_issues);
    // Only one byte order mark is dropped, and only at the start.
    let (_, lines) = post(&s, Some("text/csv"), "\u{feff}\u{feff}name,masked_id,colour,reason,valid_for_hours\n").await;
    assert!(lines[0]["error"].is_string(), "{lines:?}");
    let (_, lines) =
        post(&s, Some("text/csv"), "王五,4403**1234,green,no-risk,24\n\u{feff}赵六,4403**1234,green,no-risk,24\n")
            .await;
    assert_eq!((lines[0]["id"].is_string(), lines[1]["error"].is_string()), (true, true), "{lines:?}");
    finish(&s).await;
}

on_both_backends!(csv_headers_byte_order_marks_and_media_types);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_reads_csv_the_same_way() {
    let dir = std::env::temp_dir().join(format!("huren-bulk-csv-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    huren_issuer::Province::init(&dir.join("p"), "CN-GD", 1_780_000_000, &Default::default()).unwrap();
    std::fs::write(dir.join("people.CSV"), CSV).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_huren-issuer"))
        .args(["bulk", dir.join("people.CSV").to_str().unwrap(), "--dir", dir.join("p").to_str().unwrap()])
        .env_remove("HUREN_DATABASE_URL")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    check_csv_answers(&lines);
    let db = huren_issuer::storage::Database::open_sqlite(&dir.join("p/issuer.db")).await.unwrap();
    assert_eq!(db.audit_log().await.unwrap().iter().filter(|e| e.action == "issue").count(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}
