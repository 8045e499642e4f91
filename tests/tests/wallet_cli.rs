//! The resident's path end to end, with real parts: the issuer service issues a credential bound to the wallet's
//! device key and makes a claim link; `huren-wallet` redeems it (a second redemption is refused), shows the
//! dynamic code as a PNG; `huren-verifier` reads the image and answers OK; a screenshot of that code is refused a
//! minute later, and the wallet file is encrypted (no name in it) and refuses a wrong passphrase.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use huren_issuer::auth::{create_token, Role};
use huren_issuer::service::{app, AppState};
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
    let token = create_token(&db, Role::Issuer, "CN-GD", T0).await.unwrap();
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

/// An issuer service for the wallet tests: its province, base URL and token; a hook that runs on every claim-link
/// redemption before the issuer answers, and how many were made.
struct Issuer {
    trust: std::path::PathBuf,
    base: String,
    token: String,
    redemptions: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    server: tokio::task::JoinHandle<()>,
}

type Hook = std::sync::Arc<dyn Fn() + Send + Sync>;

impl Issuer {
    async fn start(dir: &Path, code: &str, on_redeem: Hook) -> Issuer {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let province = Province::init(&dir.join(code), code, T0 - 100, &Default::default()).unwrap();
        let trust = province.files().trust();
        let db = Database::open_sqlite(&dir.join(format!("{code}.db"))).await.unwrap();
        db.migrate().await.unwrap();
        let token = create_token(&db, Role::Admin, code, T0).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState::with_clock(province, db, Box::new(|| T0));
        let redemptions = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = redemptions.clone();
        let router = app(state).layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let (counter, on_redeem) = (counter.clone(), on_redeem.clone());
                async move {
                    if request.uri().path().starts_with("/v1/claim/") {
                        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        on_redeem();
                    }
                    next.run(request).await
                }
            },
        ));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Issuer { trust, base, token, redemptions, server }
    }

    fn redemptions(&self) -> usize {
        self.redemptions.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Issue an unbound green health status; its id, QR text and a claim link for it.
    async fn issue(&self, name: &str) -> (String, String, String) {
        let http = reqwest::Client::new();
        let request = serde_json::json!({
            "subject": { "name": name, "masked_id": "4403**********0066" },
            "body": { "type": "health-status", "colour": "green", "reason": "no-risk" },
            "valid_for_hours": 24,
        });
        let issued: serde_json::Value =
            http.post(format!("{}/v1/credentials", self.base)).bearer_auth(&self.token).json_body(&request).await;
        let id = issued["id"].as_str().unwrap().to_string();
        let link: serde_json::Value = http
            .post(format!("{}/v1/credentials/{id}/claim-link", self.base))
            .bearer_auth(&self.token)
            .json_body(&serde_json::json!({}))
            .await;
        let url = format!("{}{}", self.base, link["path"].as_str().unwrap());
        (id, issued["qr_text"].as_str().unwrap().to_string(), url)
    }

    /// Stop serving: later connections are refused.
    async fn stop(self) {
        self.server.abort();
        let _ = self.server.await;
        let address = self.base.trim_start_matches("http://").to_string();
        assert!(tokio::net::TcpStream::connect(address).await.is_err(), "the issuer is stopped");
    }
}

fn no_hook() -> Hook {
    std::sync::Arc::new(|| {})
}

/// Run the wallet at `wallet_file` once per argument list, all at the same time; their outputs in that order.
async fn wallets_at_once(wallet_file: &Path, runs: Vec<Vec<String>>) -> Vec<Output> {
    let wallet_file = wallet_file.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let children: Vec<_> = runs
            .iter()
            .map(|args| {
                Command::new(workspace_binary("huren-wallet"))
                    .arg("--wallet")
                    .arg(&wallet_file)
                    .env("HUREN_WALLET_PASSPHRASE", "correct horse")
                    .args(args)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        children.into_iter().map(|child| child.wait_with_output().unwrap()).collect()
    })
    .await
    .unwrap()
}

/// One wallet run (off the runtime's threads, so the issuer keeps serving).
async fn wallet_at(wallet_file: &Path, args: &[&str]) -> Output {
    let args = args.iter().map(|s| s.to_string()).collect();
    wallets_at_once(wallet_file, vec![args]).await.remove(0)
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Issue 22, item 5: parallel imports into one wallet file, by claim link and by QR text, each kept and each
/// reported once; parallel imports of one credential keep it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_imports_into_one_wallet_keep_every_credential() {
    let dir = std::env::temp_dir().join(format!("huren-wallet-parallel-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let issuer = Issuer::start(&dir, "CN-GD", no_hook()).await;
    let trust = issuer.trust.to_str().unwrap().to_string();
    let wallet_file = dir.join("wallet.hrw");

    // Eight imports at once into a wallet that does not exist yet: five claim links and three QR texts.
    let mut ids = Vec::new();
    let mut runs = Vec::new();
    for n in 0..8 {
        let (id, qr_text, url) = issuer.issue(&format!("居民{n}")).await;
        let source = if n < 5 { vec!["--claim".to_string(), url] } else { vec![qr_text] };
        runs.push([vec!["--at".into(), AT.into(), "import".into(), "--trust".into(), trust.clone()], source].concat());
        ids.push(id);
    }
    let outputs = wallets_at_once(&wallet_file, runs).await;
    for (id, out) in ids.iter().zip(&outputs) {
        assert!(out.status.success(), "{id}: {}", text(out));
        let said = String::from_utf8_lossy(&out.stdout);
        assert_eq!(said.matches("imported ").count(), 1, "{said}");
        assert!(said.starts_with(&format!("imported {id}: valid until")), "{said}");
    }
    let listed = stdout(&wallet(&dir, "correct horse", &["--at", AT, "list"]));
    for id in &ids {
        assert_eq!(listed.matches(id.as_str()).count(), 1, "{id} kept once: {listed}");
    }
    assert_eq!(listed.lines().count(), 8, "{listed}");

    // Seven imports of one credential at once: stored once, reported as imported by exactly one of them.
    let (id, qr_text, _) = issuer.issue("同一人").await;
    let run = vec!["--at".into(), AT.into(), "import".into(), "--trust".into(), trust.clone(), qr_text];
    let outputs = wallets_at_once(&wallet_file, vec![run; 7]).await;
    let mut imported = 0;
    for out in &outputs {
        let said = stdout(out);
        if said.starts_with(&format!("imported {id}:")) {
            imported += 1;
        } else {
            assert!(said.starts_with(&format!("already in the wallet: {id}:")), "{said}");
        }
    }
    assert_eq!(imported, 1);
    let listed = stdout(&wallet(&dir, "correct horse", &["--at", AT, "list"]));
    assert_eq!(listed.matches(id.as_str()).count(), 1, "{listed}");
    assert_eq!(listed.lines().count(), 9, "{listed}");
    issuer.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 22, item 6: a claim link is spent only once nothing but the issuer's answer can stop the import, and a
/// redeemed answer whose import failed is finished later without the issuer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_link_is_spent_only_when_its_import_can_finish() {
    let dir = std::env::temp_dir().join(format!("huren-wallet-claim-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let wallet_file = dir.join("wallet.hrw");
    // On request, the next redemption breaks the wallet's save: a directory where its temporary file goes.
    let break_save = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hook: Hook = {
        let (break_save, blocker) = (break_save.clone(), dir.join("wallet.hrw.tmp").join("blocker"));
        std::sync::Arc::new(move || {
            if break_save.swap(false, std::sync::atomic::Ordering::SeqCst) {
                std::fs::create_dir_all(&blocker).unwrap();
            }
        })
    };
    let issuer = Issuer::start(&dir, "CN-GD", hook).await;
    let trust = issuer.trust.to_str().unwrap().to_string();
    let other_province = Province::init(&dir.join("CN-BJ"), "CN-BJ", T0 - 100, &Default::default()).unwrap();
    let wrong_trust = other_province.files().trust().to_str().unwrap().to_string();
    let not_trust = dir.join("not-trust.cbor");
    std::fs::write(&not_trust, b"not a trust file").unwrap();
    let not_trust = not_trust.to_str().unwrap().to_string();
    let (id, _, url) = issuer.issue("赵六").await;

    // Refused before the link is spent: a file that is not trust data, trust data that has expired at the time
    // of the import, and a wallet location that cannot be written.
    let out = wallet_at(&wallet_file, &["--at", AT, "import", "--trust", &not_trust, "--claim", &url]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("neither a trust file nor a trust store"), "{}", text(&out));
    let years_later = "2030-01-01T00:00:00Z";
    let out = wallet_at(&wallet_file, &["--at", years_later, "import", "--trust", &trust, "--claim", &url]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("vouches for no issuer key"), "{}", text(&out));
    let nowhere = dir.join("not-yet").join("wallet.hrw");
    let out = wallet_at(&nowhere, &["--at", AT, "import", "--trust", &trust, "--claim", &url]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not-yet"), "{}", text(&out));
    assert_eq!(issuer.redemptions(), 0, "no redemption before everything was checked");
    // The link still works: into the location once it exists.
    std::fs::create_dir_all(nowhere.parent().unwrap()).unwrap();
    let out = wallet_at(&nowhere, &["--at", AT, "import", "--trust", &trust, "--claim", &url]).await;
    assert!(stdout(&out).starts_with(&format!("imported {id}: valid until")), "{}", text(&out));
    assert_eq!(issuer.redemptions(), 1);

    // Another province's trust data does not vouch for the credential: the answer is kept (sealed, owner-only) and
    // the same command with the right trust data finishes the import without redeeming the link again.
    let (id, _, url) = issuer.issue("钱七").await;
    let out = wallet_at(&wallet_file, &["--at", AT, "import", "--trust", &wrong_trust, "--claim", &url]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("the issuer's answer is kept") && text(&out).contains("wallet.hrw.pending"));
    assert_eq!(issuer.redemptions(), 2);
    let pending = dir.join("wallet.hrw.pending");
    let kept = std::fs::read(&pending).unwrap();
    assert!(!String::from_utf8_lossy(&kept).contains("钱七") && !String::from_utf8_lossy(&kept).contains("HR1:"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&pending).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // Meanwhile a new link is not spent: the kept answer comes first.
    let (_, _, next_url) = issuer.issue("孙八").await;
    let out = wallet_at(&wallet_file, &["--at", AT, "import", "--trust", &wrong_trust, "--claim", &next_url]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("this claim link was not redeemed"), "{}", text(&out));
    assert_eq!(issuer.redemptions(), 2);
    let out = wallet_at(&wallet_file, &["--at", AT, "import", "--trust", &trust, "--claim", &url]).await;
    assert!(stdout(&out).starts_with(&format!("imported {id}: valid until")), "{}", text(&out));
    assert_eq!(issuer.redemptions(), 2, "not redeemed again");
    assert!(!pending.exists(), "removed once the credential is stored");

    // The save fails after the redemption: the answer is kept, and with the issuer stopped `--resume` finishes it.
    let (id, _, url) = issuer.issue("周九").await;
    break_save.store(true, std::sync::atomic::Ordering::SeqCst);
    let out = wallet_at(&wallet_file, &["--at", AT, "import", "--trust", &trust, "--claim", &url]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("not in the wallet yet") && text(&out).contains("wallet.hrw.tmp"), "{}", text(&out));
    assert!(!stdout_lossy(&out).contains("imported"), "nothing reported as imported");
    assert_eq!(issuer.redemptions(), 3);
    assert!(pending.exists());
    issuer.stop().await;
    std::fs::remove_dir_all(dir.join("wallet.hrw.tmp")).unwrap();
    let out = wallet_at(&wallet_file, &["--at", AT, "import", "--trust", &trust, "--resume"]).await;
    assert!(stdout(&out).starts_with(&format!("imported {id} (kept from an earlier claim link): valid until")));
    assert!(!pending.exists());
    let listed = stdout(&wallet(&dir, "correct horse", &["--at", AT, "list"]));
    assert!(listed.contains("钱七") && listed.contains("周九"), "{listed}");
    let out = wallet_at(&wallet_file, &["--at", AT, "import", "--trust", &trust, "--resume"]).await;
    assert_eq!(out.status.code(), Some(2), "nothing left to resume: {}", text(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

fn stdout_lossy(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}
