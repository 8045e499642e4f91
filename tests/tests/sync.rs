//! `sync` against a mirror on loopback: a full fetch, then a conditional GET answered 304, a refused bundle that
//! leaves the store alone, an oversized answer and a mirror that never answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use huren_keys::TrustBundle;
use huren_tests::fixtures::{TestFederation, T0};
use huren_verifier::store::{StoreError, TrustStore};
use huren_verifier::sync::{sync, SyncOptions, SyncOutcome};

/// A tiny HTTP/1.1 mirror serving `body` with an ETag, answering 304 to a matching If-None-Match. Records the
/// If-None-Match header of each request.
fn mirror(body: Vec<u8>, etag: &'static str, requests: usize) -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/trust-bundle.cbor", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut if_none_match = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("if-none-match:") {
                    if_none_match = Some(v.trim().to_string());
                }
            }
            let not_modified = if_none_match.as_deref() == Some(etag);
            log.lock().unwrap().push(if_none_match);
            if not_modified {
                write!(stream, "HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nContent-Length: 0\r\n\r\n").unwrap();
            } else {
                write!(stream, "HTTP/1.1 200 OK\r\nETag: {etag}\r\nContent-Length: {}\r\n\r\n", body.len()).unwrap();
                stream.write_all(&body).unwrap();
            }
        }
    });
    (url, seen)
}

fn store(name: &str, fed: &TestFederation) -> (std::path::PathBuf, TrustStore) {
    let dir = std::env::temp_dir().join(format!("huren-sync-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let root = fed.signed_root(&fed.root_doc(1), &[0, 2]);
    let store = TrustStore::provision(&dir.join("store.cbor"), &root, T0).unwrap();
    (dir, store)
}

#[test]
fn full_fetch_then_not_modified() {
    let fed = TestFederation::three();
    let (dir, mut store) = store("etag", &fed);
    let (url, seen) = mirror(fed.trust_bundle().encode(), "\"v1\"", 2);
    match sync(&mut store, &url, T0, &SyncOptions::default()).unwrap() {
        SyncOutcome::Imported(report) => assert_eq!(report.bundles_updated.len(), 3),
        other => panic!("{other:?}"),
    }
    assert_eq!(sync(&mut store, &url, T0, &SyncOptions::default()).unwrap(), SyncOutcome::NotModified);
    assert_eq!(*seen.lock().unwrap(), vec![None, Some("\"v1\"".to_string())]);
    assert_eq!(store.state().bundles().len(), 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_refused_bundle_from_a_mirror_changes_nothing() {
    let fed = TestFederation::three();
    let (dir, mut store) = store("refused", &fed);
    // Its only province bundle is signed by another province's root.
    let bundle = TrustBundle {
        roots: vec![],
        bundles: vec![fed.bundle_doc("CN-HB", 2).sign(&fed.province("CN-GD").root).unwrap()],
    };
    let (url, _) = mirror(bundle.encode(), "\"evil\"", 1);
    let before = std::fs::read(store.path()).unwrap();
    assert!(matches!(sync(&mut store, &url, T0, &SyncOptions::default()), Err(StoreError::Refused { .. })));
    assert_eq!(std::fs::read(store.path()).unwrap(), before);
    assert!(!etag_remembered(&dir, &url), "the ETag of a refused bundle is not remembered");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 22, item 7: one province's bad bundle holds back nobody else's update; it is reported, and the bundle's
/// ETag is not remembered (so the next sync asks again).
#[test]
fn a_refused_part_of_a_bundle_is_reported_and_holds_back_nothing_else() {
    let fed = TestFederation::three();
    let (dir, mut store) = store("partly-refused", &fed);
    let mut bundle = fed.trust_bundle();
    bundle.bundles[1] = fed.bundle_doc("CN-HB", 2).sign(&fed.province("CN-GD").root).unwrap();
    let (url, _) = mirror(bundle.encode(), "\"evil\"", 1);
    let SyncOutcome::Imported(report) = sync(&mut store, &url, T0, &SyncOptions::default()).unwrap() else {
        panic!("a bundle was offered")
    };
    let updated: Vec<&str> = report.bundles_updated.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(updated, ["CN-GD", "CN-SH"], "{report:?}");
    assert_eq!(report.refused.len(), 1, "{report:?}");
    assert!(report.refused[0].1.starts_with("BUNDLE_SIGNER_MISMATCH"), "{report:?}");
    let provinces: Vec<&str> = store.state().bundles().iter().map(|b| b.province.as_str()).collect();
    assert_eq!(provinces, ["CN-GD", "CN-SH"]);
    assert!(!etag_remembered(&dir, &url), "a bundle taken in part is fetched again next time");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Whether the store remembers an ETag for `url`.
fn etag_remembered(dir: &std::path::Path, url: &str) -> bool {
    std::fs::read_to_string(dir.join("store.cbor.etags.json")).is_ok_and(|etags| etags.contains(url))
}

#[test]
fn oversized_answers_and_silent_mirrors_fail_cleanly() {
    let fed = TestFederation::three();
    let (dir, mut store) = store("limits", &fed);
    let (url, _) = mirror(vec![0u8; 4096], "\"big\"", 1);
    let small = SyncOptions { max_bytes: 1024, ..SyncOptions::default() };
    assert!(matches!(sync(&mut store, &url, T0, &small), Err(StoreError::Http(m)) if m.contains("larger")));

    // A mirror that accepts the connection and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/trust-bundle.cbor", listener.local_addr().unwrap());
    let hold = std::thread::spawn(move || {
        let conn = listener.accept();
        std::thread::sleep(Duration::from_secs(3));
        drop(conn);
    });
    let quick = SyncOptions { timeout: Duration::from_millis(500), ..SyncOptions::default() };
    assert!(matches!(sync(&mut store, &url, T0, &quick), Err(StoreError::Http(_))));
    hold.join().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A request a test server saw: its path and If-None-Match header.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A tiny HTTP/1.1 server answering each request with `answer(path)` = (status line, extra headers, body); records
/// what it saw. Serves until the test ends.
fn server(answer: impl Fn(&str) -> (String, String, Vec<u8>) + Send + 'static) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut path, mut if_none_match) = (String::new(), None);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(rest) = line.strip_prefix("GET ") {
                    path = rest.split(' ').next().unwrap_or_default().to_string();
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("if-none-match:") {
                    if_none_match = Some(v.trim().to_string());
                }
            }
            log.lock().unwrap().push((path.clone(), if_none_match));
            let (status, headers, body) = answer(&path);
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
        }
    });
    (base, seen)
}

/// Issue 22, item 10: a redirect to another origin is not followed unless asked; a redirect within the origin is;
/// the ETag a URL gave is sent to that URL only, never to the host a redirect points at.
#[test]
fn redirects_stay_within_the_origin_unless_asked_and_etags_stay_with_their_url() {
    let fed = TestFederation::three();
    let bundle = fed.trust_bundle().encode();
    // The other origin serves the bundle with an ETag of its own.
    let served = bundle.clone();
    let (elsewhere, elsewhere_seen) = server(move |_| ("200 OK".into(), "ETag: \"there\"\r\n".into(), served.clone()));
    let target = format!("{elsewhere}/bundle");
    // The mirror: /moved redirects to the other origin, /here to /bundle on itself, /bundle serves it.
    let served = bundle.clone();
    let (mirror, mirror_seen) = server(move |path| match path {
        "/moved" => ("302 Found".into(), format!("Location: {target}\r\n"), Vec::new()),
        "/here" => ("301 Moved Permanently".into(), "Location: /bundle\r\n".into(), Vec::new()),
        _ => ("200 OK".into(), "ETag: \"mirror\"\r\n".into(), served.clone()),
    });

    let (dir, mut store) = store("redirects", &fed);
    let refused = sync(&mut store, &format!("{mirror}/moved"), T0, &SyncOptions::default()).unwrap_err();
    assert!(matches!(&refused, StoreError::Http(m) if m.contains("another origin")), "{refused}");
    assert!(elsewhere_seen.lock().unwrap().is_empty(), "the other origin was never asked");
    assert!(store.state().bundles().is_empty());

    // Within the origin: followed, and the ETag is remembered for the URL that served the bundle.
    assert!(matches!(
        sync(&mut store, &format!("{mirror}/here"), T0, &SyncOptions::default()),
        Ok(SyncOutcome::Imported(_))
    ));
    assert_eq!(store.state().bundles().len(), 3);
    assert!(etag_remembered(&dir, &format!("{mirror}/bundle")));
    assert!(!etag_remembered(&dir, &format!("{mirror}/here")));
    // Asked again: the first hop gets no ETag (it never gave one), the hop that gave one gets it back.
    sync(&mut store, &format!("{mirror}/here"), T0, &SyncOptions::default()).unwrap();
    let seen = mirror_seen.lock().unwrap().clone();
    assert_eq!(seen[seen.len() - 2], ("/here".to_string(), None));
    assert_eq!(seen[seen.len() - 1], ("/bundle".to_string(), Some("\"mirror\"".to_string())));

    // Asked to follow another origin: it does, without the mirror's ETag.
    let follow = SyncOptions { follow_cross_origin_redirects: true, ..SyncOptions::default() };
    sync(&mut store, &format!("{mirror}/moved"), T0, &follow).unwrap();
    assert_eq!(elsewhere_seen.lock().unwrap().clone(), [("/bundle".to_string(), None)]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 22, item 7, through the binary: a mirror that fails (404, an HTML page) or offers a rolled-back bundle
/// does not stop the status lists, which come from the issuers' own signed URLs; each result is reported and the
/// exit status says something failed.
#[test]
fn a_failing_mirror_does_not_stop_the_status_list_sync() {
    let fed = TestFederation::three();
    let gd = fed.province("CN-GD");
    // GD publishes status list 1 (signed by its issuer key) at a server of its own.
    let mut list = huren_keys::status::StatusList::new("CN-GD", 1, 16, T0, 3600).unwrap();
    list.version = 1;
    list.bits.set(3, huren_keys::status::Status::Revoked).unwrap();
    let signed_list = list.sign(&gd.issuer).unwrap();
    let (lists, _) = server(move |path| match path {
        "/v1/status/1" => ("200 OK".into(), "ETag: \"1\"\r\n".into(), signed_list.clone()),
        _ => ("404 Not Found".into(), String::new(), Vec::new()),
    });
    let mut gd_bundle = fed.bundle_doc("CN-GD", 2);
    gd_bundle.status_lists = vec![huren_keys::StatusListDescriptor { list: 1, url: format!("{lists}/v1/status/1") }];
    let mut bundle = fed.trust_bundle();
    bundle.bundles[0] = fed.signed_bundle(&gd_bundle);
    let (dir, mut store) = store("failing-mirror", &fed);
    store.import(&bundle.encode(), T0).unwrap();

    let rolled_back =
        TrustBundle { roots: vec![], bundles: vec![fed.signed_bundle(&fed.bundle_doc("CN-GD", 1))] }.encode();
    let (mirror, _) = server(move |path| match path {
        "/html" => ("200 OK".into(), "Content-Type: text/html\r\n".into(), b"<html>mirror down</html>".to_vec()),
        "/old" => ("200 OK".into(), String::new(), rolled_back.clone()),
        _ => ("404 Not Found".into(), String::new(), Vec::new()),
    });
    for (path, says) in [("/gone", "404"), ("/html", "CBOR"), ("/old", "ROLLBACK")] {
        let _ = std::fs::remove_dir_all(huren_verifier::status::StatusLists::dir_for(store.path()));
        let out = std::process::Command::new(huren_tests::workspace_binary("huren-verifier"))
            .args(["sync", "--at", "2026-09-21T14:20:00Z", "--from", &format!("{mirror}{path}"), "--store"])
            .arg(store.path())
            .output()
            .unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(1), "{path}: {stdout}{stderr}");
        assert!(stderr.contains("trust bundle") && stderr.contains(says), "{path}: {stderr}");
        assert!(stdout.contains("status list CN-GD/1: full list, version 1"), "{path}: {stdout}{stderr}");
        let synced = TrustStore::open(store.path()).unwrap();
        assert_eq!(synced.status_lists().get("CN-GD", 1).map(|l| l.version), Some(1), "{path}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
