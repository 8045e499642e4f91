//! The resident's path end to end, with real parts: the issuer service issues a credential bound to the wallet's
//! device key and makes a claim link; `huren-wallet` redeems it (a second redemption is refused), shows the
//! dynamic code as a PNG; `huren-verifier` reads the image and answers OK; a screenshot of that code is refused a
//! minute later, and the wallet file is encrypted (no name in it) and refuses a wrong passphrase.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use huren_issuer::service::{app, create_token, AppState};
use huren_issuer::storage::Database;
use huren_issuer::Province;
use huren_tests::workspace_binary;

const T0: i64 = 1_790_000_000;
const AT: &str = "2026-09-21T14:14:20Z"; // T0 + 60
const LATER: &str = "2026-09-21T14:15:30Z"; // T0 + 130: two steps on

fn wallet(dir: &Path, passphrase: &str, args: &[&str]) -> Output {
    Command::new(workspace_binary("huren-wallet"))
        .arg("--wallet")
        .arg(dir.join("wallet.hrw"))
        .env("HUREN_WALLET_PASSPHRASE", passphrase)
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_claim_link_wallet_dynamic_code_verifier() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("huren-wallet-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let province = Province::init(&dir.join("gd"), "CN-GD", T0 - 100, &Default::default()).unwrap();
    let trust = province.files().trust();
    let db = Database::open_sqlite(&dir.join("issuer.db")).await.unwrap();
    db.migrate().await.unwrap();
    let token = create_token(&db, "issuer", "CN-GD", T0).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState::with_clock(province, db.clone(), Box::new(|| T0));
    tokio::spawn(async move { axum::serve(listener, app(state)).await });

    // The wallet's device key, which the issuer binds the credential to.
    let out =
        wallet(&dir, "correct horse", &["--at", AT, "device-key", "--out", dir.join("device.key").to_str().unwrap()]);
    let device_line = stdout(&out);
    let device_hex = huren_keys::hex(&std::fs::read(dir.join("device.key")).unwrap());
    assert!(device_line.contains(&device_hex), "{device_line}");

    let http = reqwest::Client::new();
    let request = serde_json::json!({
        "subject": { "name": "赵六", "masked_id": "4403**********0066" },
        "body": { "type": "health-status", "colour": "green", "reason": "no-risk" },
        "valid_for_hours": 24,
        "holder_key": device_hex,
    });
    let issued: serde_json::Value =
        http.post(format!("{base}/v1/credentials")).bearer_auth(&token).json_body(&request).await;
    let id = issued["id"].as_str().unwrap().to_string();
    let link: serde_json::Value = http
        .post(format!("{base}/v1/credentials/{id}/claim-link"))
        .bearer_auth(&token)
        .json_body(&serde_json::json!({}))
        .await;
    let claim_url = format!("{base}{}", link["path"].as_str().unwrap());

    // Redeemed once into the wallet; the second redemption is refused.
    let import = ["--at", AT, "import", "--trust", trust.to_str().unwrap(), "--claim", &claim_url];
    let out = tokio::task::spawn_blocking({
        let dir = dir.clone();
        let import: Vec<String> = import.iter().map(|s| s.to_string()).collect();
        move || wallet(&dir, "correct horse", &import.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert!(stdout(&out).contains(&format!("imported {id}: valid until")), "{}", String::from_utf8_lossy(&out.stdout));
    let again = tokio::task::spawn_blocking({
        let dir = dir.clone();
        let import: Vec<String> = import.iter().map(|s| s.to_string()).collect();
        move || wallet(&dir, "correct horse", &import.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already used"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // The list shows it as a dynamic code; the file holds no trace of the name; a wrong passphrase is refused.
    let listed = stdout(&wallet(&dir, "correct horse", &["--at", AT, "list"]));
    assert!(listed.contains("赵六") && listed.contains("dynamic code"), "{listed}");
    let file = std::fs::read(dir.join("wallet.hrw")).unwrap();
    assert!(!String::from_utf8_lossy(&file).contains("赵六") && !String::from_utf8_lossy(&file).contains("HR1:"));
    let wrong = wallet(&dir, "wrong horse", &["list"]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("wrong passphrase"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    assert_eq!(std::fs::read(dir.join("wallet.hrw")).unwrap(), file, "a refused open changes nothing");

    // The dynamic code, rendered; the verifier reads it from the image: OK. A minute later, the same image is refused.
    let png = dir.join("present.png");
    let text = stdout(&wallet(&dir, "correct horse", &["--at", AT, "present", "--png", png.to_str().unwrap()]));
    assert!(text.starts_with("HP1:"), "{text}");
    let verify = |at: &str| {
        Command::new(workspace_binary("huren-verifier"))
            .args(["verify", "--json", "--at", at, "--trust"])
            .arg(&trust)
            .arg(&png)
            .output()
            .unwrap()
    };
    let answer: serde_json::Value = serde_json::from_slice(&verify(AT).stdout).unwrap();
    assert_eq!(answer["code"], "OK", "{answer}");
    assert_eq!(answer["credential"]["subject"]["name"], "赵六");
    let replay: serde_json::Value = serde_json::from_slice(&verify(LATER).stdout).unwrap();
    assert_eq!(replay["code"], "PRESENTATION_EXPIRED", "{replay}");
}

/// A small helper: POST JSON, expect success, return the JSON answer.
trait JsonBody {
    async fn json_body(self, body: &serde_json::Value) -> serde_json::Value;
}

impl JsonBody for reqwest::RequestBuilder {
    async fn json_body(self, body: &serde_json::Value) -> serde_json::Value {
        let response = self.header("content-type", "application/json").body(body.to_string()).send().await.unwrap();
        let status = response.status();
        let bytes = response.bytes().await.unwrap();
        assert!(status.is_success(), "{status}: {}", String::from_utf8_lossy(&bytes));
        serde_json::from_slice(&bytes).unwrap()
    }
}
