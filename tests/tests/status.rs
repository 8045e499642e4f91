//! Revocation end to end: an issuer service publishes status lists over a real socket (through a mirror that
//! can turn hostile), a checkpoint's trust store syncs them by delta or in full and answers REVOKED / SUSPENDED
//! offline; tampered documents, deltas for another version and lists past their time-to-live are handled.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use axum::response::IntoResponse;
use huren_issuer::auth::{create_token, Role};
use huren_issuer::service::{app, AppState};
use huren_issuer::status::{StatusConfig, StatusService};
use huren_issuer::storage::Database;
use huren_keys::StatusListDescriptor;
use huren_tests::fixtures::{TestFederation, T0};
use huren_verifier::status::StatusUpdate;
use huren_verifier::store::{Freshness, StoreError, TrustStore};
use huren_verifier::sync::sync_status;
use huren_verifier::sync::SyncOptions;
use huren_verifier::{Code, Policy};
use tower::ServiceExt;

const REQUEST: &str = r#"{"subject": {"name": "吴十一", "masked_id": "4403**********0011"},
    "body": {"type": "health-status", "colour": "green", "reason": "no-risk"}, "valid_for_hours": 168}"#;

struct World {
    runtime: tokio::runtime::Runtime,
    state: AppState,
    clock: Arc<AtomicI64>,
    hostile: Arc<AtomicBool>,
    /// When set, the mirror has no deltas (404).
    no_deltas: Arc<AtomicBool>,
    /// The paths the mirror was asked for.
    asked: Arc<std::sync::Mutex<Vec<String>>>,
    base: String,
    issuer: String,
    revoker: String,
    store: TrustStore,
    dir: std::path::PathBuf,
}

impl World {
    /// A world of its own (`name` keeps tests running side by side apart).
    fn new(name: &str) -> World {
        let fed = TestFederation::three();
        let gd = fed.province("CN-GD");
        let dir = std::env::temp_dir().join(format!("huren-status-{name}-{}", std::process::id()));
        let province = gd.adopt_issuer(&dir);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let clock = Arc::new(AtomicI64::new(T0 + 60));
        let (state, issuer, revoker) = runtime.block_on(async {
            let db = Database::open_sqlite(&dir.join("issuer.db")).await.unwrap();
            db.migrate().await.unwrap();
            let issuer = create_token(&db, Role::Issuer, "CN-GD", T0).await.unwrap();
            let revoker = create_token(&db, Role::Revoker, "CN-GD", T0).await.unwrap();
            let config = StatusConfig { list_size: 8192, ttl_seconds: 3600, ..StatusConfig::default() };
            let c = clock.clone();
            let clock = Box::new(move || c.load(Ordering::SeqCst));
            (AppState::configured(province, db, clock, StatusService::new(config).unwrap()), issuer, revoker)
        });

        // The mirror in front of the issuer: honest, or (when `hostile`) answering a delta request for version
        // n with the delta from n + 1, which does not apply.
        let hostile = Arc::new(AtomicBool::new(false));
        let no_deltas = Arc::new(AtomicBool::new(false));
        let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (mirror_state, mirror_hostile) = (state.clone(), hostile.clone());
        let (mirror_no_deltas, mirror_asked) = (no_deltas.clone(), asked.clone());
        let mirror = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let (state, hostile) = (mirror_state.clone(), mirror_hostile.clone());
            let (no_deltas, asked) = (mirror_no_deltas.clone(), mirror_asked.clone());
            async move {
                let (mut parts, body) = request.into_parts();
                let path = parts.uri.path().to_string();
                asked.lock().unwrap().push(path.clone());
                if no_deltas.load(Ordering::SeqCst) && path.contains("/delta/") {
                    return axum::http::StatusCode::NOT_FOUND.into_response();
                }
                if let (true, Some((head, from))) = (hostile.load(Ordering::SeqCst), path.rsplit_once("/delta/")) {
                    let next = from.parse::<u64>().unwrap() + 1;
                    parts.uri = format!("{head}/delta/{next}").parse().unwrap();
                }
                app(state).oneshot(axum::extract::Request::from_parts(parts, body)).await.unwrap()
            }
        });
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(async move { axum::serve(listener, mirror).await });

        // The federation's trust bundle, with GD's bundle declaring list 1 at the mirror.
        let mut gd_bundle = fed.bundle_doc("CN-GD", 1);
        gd_bundle.status_lists = vec![StatusListDescriptor { list: 1, url: format!("{base}/v1/status/1") }];
        let mut bundle = fed.trust_bundle();
        bundle.bundles[0] = fed.signed_bundle(&gd_bundle);
        let mut store =
            TrustStore::provision(&dir.join("store.cbor"), &fed.signed_root(&fed.root_doc(1), &[0, 2]), T0).unwrap();
        store.import(&bundle.encode(), T0).unwrap();
        World { runtime, state, clock, hostile, no_deltas, asked, base, issuer, revoker, store, dir }
    }

    fn now(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    fn tick(&self, seconds: i64) {
        self.clock.fetch_add(seconds, Ordering::SeqCst);
    }

    fn post(&self, path: &str, token: &str, body: &str) -> serde_json::Value {
        let response = reqwest::blocking::Client::new()
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .body(body.to_string())
            .send()
            .unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        serde_json::from_slice(&response.bytes().unwrap()).unwrap()
    }

    fn get(&self, path: &str) -> Vec<u8> {
        reqwest::blocking::get(format!("{}{path}", self.base)).unwrap().bytes().unwrap().to_vec()
    }

    fn publish(&self) -> Vec<(u32, u64)> {
        self.runtime.block_on(self.state.publish_status()).unwrap()
    }

    fn sync(&mut self) -> StatusUpdate {
        let now = self.now();
        let mut results = sync_status(&mut self.store, now, &SyncOptions::default());
        assert_eq!(results.len(), 1);
        let (province, list, result) = results.remove(0);
        assert_eq!((province.as_str(), list), ("CN-GD", 1));
        result.unwrap()
    }

    fn code(&self, text: &str, now: i64) -> Code {
        match self.store.verify(text, now, &Policy::default(), &Freshness::default()) {
            Ok(_) => Code::Ok,
            Err(r) => r.code(),
        }
    }
}

#[test]
fn revocations_reach_an_offline_checkpoint_by_delta() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut w = World::new("delta");
    let a = w.post("/v1/credentials", &w.issuer, REQUEST);
    let b = w.post("/v1/credentials", &w.issuer, REQUEST);
    let (a_text, b_text) = (a["qr_text"].as_str().unwrap().to_string(), b["qr_text"].as_str().unwrap().to_string());
    let (a_id, b_id) = (a["id"].as_str().unwrap().to_string(), b["id"].as_str().unwrap().to_string());

    // Before any sync: refused, since revocation cannot be checked and GD's bundle does not allow that.
    assert_eq!(w.code(&a_text, w.now()), Code::StatusUnavailable);

    // First sync takes the full list; both valid, no warning.
    assert_eq!(w.publish(), [(1, 1)]);
    assert_eq!(w.sync(), StatusUpdate::Full(1));
    assert_eq!(w.code(&a_text, w.now()), Code::Ok);
    let verified = w.store.verify(&a_text, w.now(), &Policy::default(), &Freshness::default()).unwrap();
    assert_eq!(w.store.status_note(&verified, w.now()), None);
    let v1_full = w.get("/v1/status/1");

    // Revoke A: the next publication and a delta make the checkpoint answer REVOKED, offline.
    w.tick(60);
    w.post(&format!("/v1/credentials/{a_id}/revoke"), &w.revoker, r#"{"reason": "reported stolen"}"#);
    assert_eq!(w.publish(), [(1, 2)]);
    assert_eq!(w.sync(), StatusUpdate::Delta(1, 2));
    assert_eq!((w.code(&a_text, w.now()), w.code(&b_text, w.now())), (Code::Revoked, Code::Ok));

    // Suspend B, then reinstate it.
    w.tick(60);
    w.post(&format!("/v1/credentials/{b_id}/suspend"), &w.revoker, r#"{"reason": "under review"}"#);
    w.publish();
    assert_eq!(w.sync(), StatusUpdate::Delta(2, 3));
    assert_eq!(w.code(&b_text, w.now()), Code::Suspended);
    w.tick(60);
    w.post(&format!("/v1/credentials/{b_id}/reinstate"), &w.revoker, r#"{"reason": "cleared"}"#);
    w.publish();
    assert_eq!(w.sync(), StatusUpdate::Delta(3, 4));
    assert_eq!(w.code(&b_text, w.now()), Code::Ok);
    assert_eq!(w.sync(), StatusUpdate::UpToDate(4));

    // The held lists survive a restart (re-verified from the chain on disk).
    let reopened = TrustStore::open(w.store.path()).unwrap();
    assert_eq!(reopened.status_lists().get("CN-GD", 1).unwrap().version, 4);
    assert_eq!(reopened.status_lists().chain_length("CN-GD", 1), 3);

    // Tampered documents are refused and change nothing; an older full list is a rollback.
    let mut tampered = w.get("/v1/status/1");
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let refused = w.store.import_status_list(&tampered, w.now()).unwrap_err();
    assert!(matches!(&refused, StoreError::Refused { source } if source.code() == "SIGNATURE_INVALID"), "{refused}");
    let mut bad_delta = w.get("/v1/status/1/delta/3");
    let middle = bad_delta.len() / 2;
    bad_delta[middle] ^= 0x10;
    assert!(w.store.apply_status_delta(&bad_delta, w.now()).is_err());
    let rollback = w.store.import_status_list(&v1_full, w.now()).unwrap_err();
    assert!(matches!(&rollback, StoreError::Refused { source } if source.code() == "ROLLBACK"), "{rollback}");
    assert_eq!(w.store.status_lists().get("CN-GD", 1).unwrap().version, 4, "nothing refused was taken");
    let stale_delta = w.get("/v1/status/1/delta/2");
    assert!(w.store.apply_status_delta(&stale_delta, w.now()).is_err(), "a delta from another version does not apply");

    // A mirror that answers with a delta for another version: refused, and a full sync follows.
    for _ in 0..2 {
        w.tick(60);
        let c = w.post("/v1/credentials", &w.issuer, REQUEST);
        w.post(&format!("/v1/credentials/{}/revoke", c["id"].as_str().unwrap()), &w.revoker, r#"{"reason": "x"}"#);
        w.publish();
    }
    w.hostile.store(true, Ordering::SeqCst);
    assert_eq!(w.sync(), StatusUpdate::Full(6));
    w.hostile.store(false, Ordering::SeqCst);
    assert_eq!(w.code(&a_text, w.now()), Code::Revoked);

    // Offline past the list's time-to-live: valid with a warning showing the list's age; refused 72 h later.
    let later = w.now() + 2 * 3600;
    let verified = w.store.verify(&b_text, later, &Policy::default(), &Freshness::default()).unwrap();
    let note = w.store.status_note(&verified, later).unwrap();
    assert!(note.contains("120 min old") && note.contains("60 min time-to-live"), "{note}");
    assert_eq!(w.code(&b_text, w.now() + 3600 + 72 * 3600 + 60), Code::TrustStoreStale);
    // Lists dated in the future are refused; a list signed with an absurd version number (a leaked key, say) does
    // not block the genuine ones that follow it; a time-to-live over 7 days is refused.
    let fed = TestFederation::three();
    let key = &fed.province("CN-GD").issuer;
    let held = w.store.status_lists().get("CN-GD", 1).unwrap().clone();
    let mut future = held.clone();
    (future.version, future.issued_at) = (held.version + 1, w.now() + 3600);
    assert!(w.store.import_status_list(&future.sign(key).unwrap(), w.now()).is_err(), "dated an hour ahead");
    let mut absurd = held.clone();
    (absurd.version, absurd.issued_at) = (u64::MAX - 1, w.now());
    absurd.bits.set(a["credential"]["status"]["index"].as_u64().unwrap(), huren_keys::status::Status::Valid).unwrap();
    assert!(matches!(w.store.import_status_list(&absurd.sign(key).unwrap(), w.now()), Ok(StatusUpdate::Full(_))));
    assert_eq!(w.code(&a_text, w.now()), Code::Ok, "the forged list says valid");
    w.tick(60);
    w.post(&format!("/v1/credentials/{b_id}/suspend"), &w.revoker, r#"{"reason": "again"}"#);
    w.publish();
    assert_eq!(w.sync(), StatusUpdate::Full(7), "the next genuine list replaces it: no rollback lock-out");
    assert_eq!(w.code(&a_text, w.now()), Code::Revoked);
    let mut long = held;
    (long.version, long.issued_at, long.ttl) = (100, w.now(), 8 * 86_400);
    assert!(w.store.import_status_list(&long.sign(key).unwrap(), w.now()).is_err(), "ttl over 7 days");
    std::fs::remove_dir_all(&w.dir).unwrap();
}

/// RFC 3339 for the CLI's `--at`.
fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// `huren-verifier verify --store STORE --json TEXT` at `now`: the answer and the exit status.
fn cli_verify(store: &std::path::Path, text: &str, now: i64) -> (serde_json::Value, Option<i32>) {
    let out = std::process::Command::new(huren_tests::workspace_binary("huren-verifier"))
        .args(["verify", "--json", "--at", &rfc3339(now), "--store"])
        .arg(store)
        .arg(text)
        .output()
        .unwrap();
    (serde_json::from_slice(&out.stdout).unwrap(), out.status.code())
}

/// `huren-verifier trust status --json` at `now`: the status lists' reports.
fn cli_lists(store: &std::path::Path, now: i64) -> Vec<serde_json::Value> {
    let out = std::process::Command::new(huren_tests::workspace_binary("huren-verifier"))
        .args(["trust", "status", "--json", "--at", &rfc3339(now), "--store"])
        .arg(store)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    report["status_lists"].as_array().unwrap().clone()
}

/// Issue 22, item 1: a status list the store held once and can no longer read (emptied, truncated, damaged,
/// deleted, or replaced by an older one) makes every code it covers fail closed with STATUS_UNAVAILABLE, in the
/// library and through the CLI, and `trust status` says so; the next sync brings it back.
#[test]
fn a_lost_or_damaged_status_list_fails_closed_until_the_next_sync() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut w = World::new("lost");
    let a = w.post("/v1/credentials", &w.issuer, REQUEST);
    let b = w.post("/v1/credentials", &w.issuer, REQUEST);
    let (a_text, b_text) = (a["qr_text"].as_str().unwrap().to_string(), b["qr_text"].as_str().unwrap().to_string());
    w.publish();
    assert_eq!(w.sync(), StatusUpdate::Full(1));
    let v1_full = w.get("/v1/status/1");
    w.tick(60);
    w.post(&format!("/v1/credentials/{}/revoke", a["id"].as_str().unwrap()), &w.revoker, r#"{"reason": "lost"}"#);
    w.publish();
    assert_eq!(w.sync(), StatusUpdate::Delta(1, 2));
    assert_eq!((w.code(&a_text, w.now()), w.code(&b_text, w.now())), (Code::Revoked, Code::Ok));

    let path = w.store.path().to_path_buf();
    let file = huren_verifier::status::StatusLists::dir_for(&path).join("CN-GD-1.cbor");
    let good = std::fs::read(&file).unwrap();
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x40;
    let damages: [(&str, Option<Vec<u8>>); 4] = [
        ("emptied", Some(Vec::new())),
        ("truncated", Some(good[..good.len() / 2].to_vec())),
        ("a flipped byte", Some(flipped)),
        ("deleted", None),
    ];
    for (what, damaged) in damages {
        match damaged {
            Some(bytes) => std::fs::write(&file, bytes).unwrap(),
            None => std::fs::remove_file(&file).unwrap(),
        }
        let reopened = TrustStore::open(&path).unwrap();
        for text in [&a_text, &b_text] {
            let refused = reopened.verify(text, w.now(), &Policy::default(), &Freshness::default()).unwrap_err();
            assert_eq!(refused.code(), Code::StatusUnavailable, "{what}: {refused}");
            assert!(refused.to_string().contains("sync"), "{what}: tells staff to sync: {refused}");
        }
        assert_eq!(reopened.list_state("CN-GD", 1).name(), "lost", "{what}");
        let (answer, status) = cli_verify(&path, &a_text, w.now());
        assert_eq!((answer["valid"].as_bool(), answer["code"].as_str()), (Some(false), Some("STATUS_UNAVAILABLE")));
        assert_eq!(status, Some(1), "{what}: the gate stays shut");
        let lists = cli_lists(&path, w.now());
        assert_eq!((lists.len(), lists[0]["state"].as_str()), (1, Some("lost")), "{what}: {lists:?}");
        std::fs::write(&file, &good).unwrap();
    }

    // With the file gone, the list from before the revocation is a rollback, not a fresh start.
    std::fs::remove_file(&file).unwrap();
    let mut reopened = TrustStore::open(&path).unwrap();
    let rollback = reopened.import_status_list(&v1_full, w.now()).unwrap_err();
    assert!(matches!(&rollback, StoreError::Refused { source } if source.code() == "ROLLBACK"), "{rollback}");
    // The next sync brings the list back.
    w.store = reopened;
    assert_eq!(w.sync(), StatusUpdate::Full(2));
    assert_eq!((w.code(&a_text, w.now()), w.code(&b_text, w.now())), (Code::Revoked, Code::Ok));
    assert_eq!(cli_lists(&path, w.now())[0]["state"], "current");
    std::fs::remove_dir_all(&w.dir).unwrap();
}

/// Issue 22, item 1: a list never synced on this device refuses the codes it covers, unless the issuing province's
/// bundle allows accepting them meanwhile (then: valid, with "revocation not checked").
#[test]
fn never_synced_lists_refuse_their_codes_unless_the_province_allows_it() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut w = World::new("never");
    let a = w.post("/v1/credentials", &w.issuer, REQUEST);
    let a_text = a["qr_text"].as_str().unwrap().to_string();
    assert_eq!(w.code(&a_text, w.now()), Code::StatusUnavailable);
    assert_eq!(w.store.list_state("CN-GD", 1).name(), "never-synced");
    assert_eq!(cli_lists(w.store.path(), w.now())[0]["state"], "never-synced");

    // GD's next bundle allows it.
    let fed = TestFederation::three();
    let mut allowing = fed.bundle_doc("CN-GD", 2);
    allowing.status_lists = vec![StatusListDescriptor { list: 1, url: format!("{}/v1/status/1", w.base) }];
    allowing.policy.allow_unsynced_status = true;
    let bundle = huren_keys::TrustBundle { roots: vec![], bundles: vec![fed.signed_bundle(&allowing)] };
    w.store.import(&bundle.encode(), w.now()).unwrap();
    let verified = w.store.verify(&a_text, w.now(), &Policy::default(), &Freshness::default()).unwrap();
    assert!(w.store.status_note(&verified, w.now()).unwrap().contains("revocation not checked"));
    assert_eq!(cli_lists(w.store.path(), w.now())[0]["state"], "never-synced-allowed");
    // Once held, the allowance no longer matters: losing the list fails closed.
    w.publish();
    assert_eq!(w.sync(), StatusUpdate::Full(1));
    std::fs::remove_file(huren_verifier::status::StatusLists::dir_for(w.store.path()).join("CN-GD-1.cbor")).unwrap();
    assert_eq!(TrustStore::open(w.store.path()).unwrap().list_state("CN-GD", 1).name(), "lost");
    std::fs::remove_dir_all(&w.dir).unwrap();
}

/// Issue 22, item 2: a kiosk started with `--trust <store file>` (not `--store`) sees the status lists a sync
/// brings, as the CLI does: a code revoked after it started is refused within a few seconds.
#[test]
fn a_kiosk_given_its_store_with_trust_sees_status_list_syncs() {
    use std::io::BufRead;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut w = World::new("kiosk");
    let a = w.post("/v1/credentials", &w.issuer, REQUEST);
    let a_text = a["qr_text"].as_str().unwrap().to_string();
    w.publish();
    assert_eq!(w.sync(), StatusUpdate::Full(1));
    let mut kiosk = std::process::Command::new(huren_tests::workspace_binary("huren-verifier"))
        .args(["serve", "--listen", "127.0.0.1:0", "--at", &rfc3339(w.now()), "--trust"])
        .arg(w.store.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(kiosk.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = format!("{}api/verify", line.trim().rsplit(' ').next().unwrap());
    let ask = || -> String {
        let response = reqwest::blocking::Client::new()
            .post(&url)
            .header("content-type", "text/plain")
            .body(a_text.clone())
            .send()
            .unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&response.bytes().unwrap()).unwrap();
        answer["code"].as_str().unwrap().to_string()
    };
    assert_eq!(ask(), "OK");
    w.tick(60);
    w.post(&format!("/v1/credentials/{}/revoke", a["id"].as_str().unwrap()), &w.revoker, r#"{"reason": "lost"}"#);
    w.publish();
    assert_eq!(w.sync(), StatusUpdate::Delta(1, 2));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let code = loop {
        let code = ask();
        if code != "OK" || std::time::Instant::now() > deadline {
            break code;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    kiosk.kill().unwrap();
    kiosk.wait().unwrap();
    assert_eq!(code, "REVOKED", "the kiosk took the synced list");
    std::fs::remove_dir_all(&w.dir).unwrap();
}

/// Issue 15, item 2: when the mirror has no delta from the held version, the full list is fetched once (it used to
/// be fetched, thrown away and fetched again); when nothing changed, one conditional request says so.
#[test]
fn without_a_delta_the_full_list_is_fetched_once() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut w = World::new("no-delta");
    let a = w.post("/v1/credentials", &w.issuer, REQUEST);
    w.publish();
    assert_eq!(w.sync(), StatusUpdate::Full(1));
    w.tick(60);
    w.post(&format!("/v1/credentials/{}/revoke", a["id"].as_str().unwrap()), &w.revoker, r#"{"reason": "x"}"#);
    w.publish();
    w.no_deltas.store(true, Ordering::SeqCst);
    w.asked.lock().unwrap().clear();
    assert_eq!(w.sync(), StatusUpdate::Full(2));
    assert_eq!(w.asked.lock().unwrap().clone(), ["/v1/status/1/delta/1", "/v1/status/1"]);
    // Nothing new: one conditional request for the full list answers 304.
    w.asked.lock().unwrap().clear();
    assert_eq!(w.sync(), StatusUpdate::UpToDate(2));
    assert_eq!(w.asked.lock().unwrap().clone(), ["/v1/status/1/delta/2", "/v1/status/1"]);
    // With deltas back, 304 from the delta URL says so at once.
    w.no_deltas.store(false, Ordering::SeqCst);
    w.asked.lock().unwrap().clear();
    assert_eq!(w.sync(), StatusUpdate::UpToDate(2));
    assert_eq!(w.asked.lock().unwrap().clone(), ["/v1/status/1/delta/2"]);
    std::fs::remove_dir_all(&w.dir).unwrap();
}
