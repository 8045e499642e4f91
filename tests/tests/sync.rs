//! `sync` against a mirror on loopback: a full fetch, then a conditional GET answered 304, a refused bundle that
//! leaves the store alone, an oversized answer and a mirror that never answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    let mut bundle = fed.trust_bundle();
    bundle.bundles[1] = fed.bundle_doc("CN-HB", 2).sign(&fed.province("CN-GD").root).unwrap();
    let (url, _) = mirror(bundle.encode(), "\"evil\"", 1);
    let before = std::fs::read(store.path()).unwrap();
    assert!(matches!(sync(&mut store, &url, T0, &SyncOptions::default()), Err(StoreError::Refused { .. })));
    assert_eq!(std::fs::read(store.path()).unwrap(), before);
    assert!(!dir.join("store.cbor.etag").exists(), "the ETag of a refused bundle is not remembered");
    std::fs::remove_dir_all(&dir).unwrap();
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
