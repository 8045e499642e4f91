//! The JSON contracts, byte for byte: `huren-verifier verify --json` (single codes, a batch with its summary),
//! `trust status --json`, and the kiosk's `/api/verify` and `/api/status`, on fixed inputs (fixed keys, fixed
//! clock), against the answers recorded in tests/golden/. Integrators parse these; a change here is a breaking
//! change and must be deliberate: rerun with `HUREN_BLESS=1` to record new answers, and say why in the commit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use axum::body::Body as HttpBody;
use axum::http::{header, Request};
use huren_keys::status::{Status, StatusList};
use huren_keys::StatusListDescriptor;
use huren_tests::fixtures::{health_status, TestFederation, DAY, T0};
use huren_tests::workspace_binary;
use huren_verifier::checkpoint::{Checkpoint, TrustSource};
use huren_verifier::kiosk::{app, Kiosk};
use huren_verifier::store::TrustStore;
use tower::ServiceExt;

/// When the checkpoint answers: an hour after the reference credential was issued.
const NOW: i64 = T0 + 3600;

/// A store pinned to the test federation, Guangdong's bundle declaring list 1 (held, one code revoked) and
/// list 2 (never synced).
fn store(dir: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let fed = TestFederation::three();
    let path = dir.join("store.cbor");
    let mut store = TrustStore::provision(&path, &fed.signed_root(&fed.root_doc(1), &[0, 2]), T0).unwrap();
    let mut bundle = fed.trust_bundle();
    let mut gd = fed.bundle_doc("CN-GD", 1);
    gd.status_lists = [1, 2]
        .into_iter()
        .map(|list| StatusListDescriptor { list, url: format!("https://gd.example/status/{list}") })
        .collect();
    bundle.bundles[0] = fed.signed_bundle(&gd);
    let report = store.import(&bundle.encode(), T0).unwrap();
    assert!(report.refused.is_empty());
    let mut list = StatusList::new("CN-GD", 1, 64, T0, 7200).unwrap();
    list.bits.set(3, Status::Revoked).unwrap();
    store.import_status_list(&list.sign(&fed.province("CN-GD").issuer).unwrap(), T0 + 60).unwrap();
    path
}

/// The codes every contract is shown: valid, expired, garbage.
fn codes() -> [String; 3] {
    let fed = TestFederation::three();
    let gd = fed.province("CN-GD");
    let valid = gd.qr_text(&health_status("CN-GD"));
    let mut old = health_status("CN-GD");
    old.issued_at = T0 - 9 * DAY;
    old.expires_at = T0 - 2 * DAY;
    [valid, gd.qr_text(&old), "HR1:NOT*BASE45~".to_string()]
}

fn cli(args: &[&str], store: &Path) -> String {
    let out = Command::new(workspace_binary("huren-verifier")).args(args).arg("--store").arg(store).output().unwrap();
    String::from_utf8(out.stdout).unwrap().replace(&store.display().to_string(), "<store>")
}

/// Compare with the recorded answer (or record it, with `HUREN_BLESS=1`).
fn assert_golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden").join(name);
    if std::env::var_os("HUREN_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(actual == expected, "{name} changed:\n--- recorded\n{expected}\n--- now\n{actual}");
}

#[test]
fn the_cli_json_is_what_integrators_parse() {
    let at = huren_plumbing::clock::rfc3339(NOW);
    let at = at.as_str();
    let dir = std::env::temp_dir().join(format!("huren-contracts-cli-{}", std::process::id()));
    let store = store(&dir);
    let [valid, expired, garbage] = codes();
    assert_golden("verify.ndjson", &cli(&["verify", "--json", "--at", at, &valid, &expired, &garbage], &store));
    let batch = dir.join("codes.ndjson");
    std::fs::write(&batch, format!("{valid}\n{{\"text\": \"{expired}\"}}\n\"{garbage}\"\n")).unwrap();
    let out = cli(&["verify", "--json", "--at", at, batch.to_str().unwrap()], &store);
    assert_golden("verify-batch.ndjson", &out.replace(&dir.display().to_string(), "<dir>"));
    assert_golden("trust-status.json", &cli(&["trust", "status", "--json", "--at", at], &store));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn the_kiosk_answers_are_what_gates_parse() {
    let dir = std::env::temp_dir().join(format!("huren-contracts-kiosk-{}", std::process::id()));
    let store = store(&dir);
    let loader = {
        let store = store.clone();
        Box::new(move || {
            let trust = TrustSource::open(&store).map_err(|e| e.to_string())?;
            Ok(Checkpoint { trust, dcc: Default::default(), policy: Default::default(), freshness: Default::default() })
        })
    };
    let kiosk = Arc::new(Kiosk::new(loader, Vec::new()).unwrap().starting_at(NOW));
    let mut answers = String::new();
    for code in codes() {
        let request =
            Request::post("/api/verify").header(header::CONTENT_TYPE, "text/plain").body(HttpBody::from(code)).unwrap();
        let response = app(Arc::clone(&kiosk)).oneshot(request).await.unwrap();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        answers.push_str(std::str::from_utf8(&body).unwrap());
        answers.push('\n');
    }
    assert_golden("kiosk-verify.ndjson", &answers);
    let response = app(Arc::clone(&kiosk)).oneshot(Request::get("/api/status").body(HttpBody::empty()).unwrap());
    let body = axum::body::to_bytes(response.await.unwrap().into_body(), usize::MAX).await.unwrap();
    assert_golden("kiosk-status.json", std::str::from_utf8(&body).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}
