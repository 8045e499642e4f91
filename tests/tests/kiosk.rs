//! The checkpoint kiosk's routes with `oneshot`: the embedded page and its assets (no external request), the JSON
//! API with text, JSON, PNG and raw camera frames, the verdicts (green, amber for a warning, red with its reason),
//! malformed requests, the outcome log (outcome, time and issuer only; a code held to the camera logged once) and
//! trust reloaded when its file changes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body as HttpBody;
use axum::http::{header, Request, StatusCode};
use huren_keys::TrustList;
use huren_tests::fixtures::{health_status, TestProvince, DAY, T0};
use huren_verifier::checkpoint::{Checkpoint, TrustSource};
use huren_verifier::kiosk::{app, Kiosk};
use huren_verifier::scan::ImageLimits;
use huren_wallet_core::{Body, Colour, Ecc, QrSymbol};
use image::GrayImage;
use tower::ServiceExt;

fn checkpoint(trust: TrustList) -> Checkpoint {
    Checkpoint {
        trust: TrustSource::List(trust),
        dcc: Default::default(),
        policy: Default::default(),
        freshness: Default::default(),
    }
}

fn kiosk_at(now: i64) -> Arc<Kiosk> {
    let gd = TestProvince::guangdong();
    let loader = Box::new(move || Ok(checkpoint(gd.trust())));
    Arc::new(Kiosk::new(loader, Vec::new()).unwrap().starting_at(now))
}

async fn send(kiosk: &Arc<Kiosk>, request: Request<HttpBody>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let response = app(Arc::clone(kiosk)).oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap().to_vec();
    (parts.status, parts.headers, bytes)
}

async fn post(kiosk: &Arc<Kiosk>, uri: &str, content_type: &str, body: Vec<u8>) -> (StatusCode, serde_json::Value) {
    let request = Request::post(uri).header(header::CONTENT_TYPE, content_type).body(HttpBody::from(body)).unwrap();
    let (status, _, bytes) = send(kiosk, request).await;
    (status, serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes))))
}

/// A 640x480 camera frame with the code in its middle.
fn frame_with(text: &str) -> GrayImage {
    let qr = QrSymbol::new(text, Ecc::M).unwrap().to_image(5);
    let mut frame = GrayImage::from_pixel(640, 480, image::Luma([200]));
    let (x, y) = ((640 - qr.width()) / 2, (480 - qr.height()) / 2);
    image::imageops::overlay(&mut frame, &qr, i64::from(x), i64::from(y));
    frame
}

#[tokio::test]
async fn the_page_and_its_assets_are_embedded_and_load_nothing_from_elsewhere() {
    let kiosk = kiosk_at(T0 + 60);
    for (path, kind) in [("/", "text/html"), ("/kiosk.js", "text/javascript"), ("/kiosk.css", "text/css")] {
        let (status, headers, body) = send(&kiosk, Request::get(path).body(HttpBody::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with(kind), "{path}");
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("connect-src 'self'"), "{csp}");
        let text = String::from_utf8(body).unwrap();
        assert!(
            !text.contains("http://") && !text.contains("https://") && !text.contains("//cdn"),
            "{path} loads from elsewhere"
        );
    }
    let (_, _, html) = send(&kiosk, Request::get("/").body(HttpBody::empty()).unwrap()).await;
    let html = String::from_utf8(html).unwrap();
    for id in ["id=\"verdict\"", "id=\"trust\"", "id=\"camera\"", "id=\"paste\"", "id=\"upload\""] {
        assert!(html.contains(id), "page lacks {id}");
    }
    let (status, _, _) = send(&kiosk, Request::get("/nothing-here").body(HttpBody::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_valid_code_is_green_with_only_what_staff_need() {
    let gd = TestProvince::guangdong();
    let text = gd.qr_text(&health_status("CN-GD"));
    let kiosk = kiosk_at(T0 + 60);
    let (status, answer) = post(&kiosk, "/api/verify", "text/plain", text.clone().into_bytes()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["verdict"], "green", "{answer}");
    assert_eq!(answer["valid"], true);
    assert_eq!(answer["code"], "OK");
    assert_eq!(answer["person"]["name"], "张三丰");
    assert_eq!(answer["person"]["masked_id"], "4403**********1234");
    assert_eq!(answer["person"]["type"], "health-status");
    assert_eq!(answer["person"]["valid_until"], "2026-09-28T14:13:20Z");
    assert_eq!(answer["reason"]["en"], "GREEN: no risk found");
    // No full credential, and the code itself never comes back.
    assert!(answer.get("credential").is_none(), "{answer}");
    assert!(!answer.to_string().contains(&text[4..40]));
    assert_eq!(answer["fingerprint"].as_str().unwrap().len(), 16);

    // The same through JSON and as a PNG.
    let body = serde_json::json!({ "text": text }).to_string().into_bytes();
    let (_, answer) = post(&kiosk, "/api/verify", "application/json", body).await;
    assert_eq!(answer["verdict"], "green", "{answer}");
    let png = QrSymbol::new(&text, Ecc::Q).unwrap().to_png(4).unwrap();
    let (_, answer) = post(&kiosk, "/api/verify", "image/png", png.clone()).await;
    assert_eq!((answer["verdict"].as_str(), answer["input"].as_str()), (Some("green"), Some("image")), "{answer}");
    use base64ct::{Base64, Encoding};
    let body = serde_json::json!({ "image": Base64::encode_string(&png) }).to_string().into_bytes();
    let (_, answer) = post(&kiosk, "/api/verify", "application/json", body).await;
    assert_eq!(answer["verdict"], "green", "{answer}");
}

#[tokio::test]
async fn refusals_are_red_with_their_reason_and_a_red_status_is_red_though_valid() {
    let gd = TestProvince::guangdong();
    let text = gd.qr_text(&health_status("CN-GD"));
    // Eight days on, the 7-day credential has expired.
    let (_, answer) = post(&kiosk_at(T0 + 8 * DAY), "/api/verify", "text/plain", text.clone().into_bytes()).await;
    assert_eq!(answer["verdict"], "red", "{answer}");
    assert_eq!(answer["code"], "EXPIRED");
    assert_eq!(answer["reason"]["zh"], huren_verifier::Code::Expired.message_zh());
    assert_eq!(answer["reason"]["en"], huren_verifier::Code::Expired.message_en());
    assert!(answer["detail"].as_str().unwrap().contains("expired at 2026-09-28T14:13:20Z"), "{answer}");
    assert!(answer["person"].is_null(), "nothing unverified is shown: {answer}");

    // Garbage and codes from unknown issuers are red too, with their own codes.
    let kiosk = kiosk_at(T0 + 60);
    let (_, answer) = post(&kiosk, "/api/verify", "text/plain", b"HR1:NOT*BASE45~".to_vec()).await;
    assert_eq!((answer["verdict"].as_str(), answer["code"].as_str()), (Some("red"), Some("BASE45_INVALID")));
    let stranger = TestProvince::new("CN-HB", 7, vec![]).qr_text(&health_status("CN-HB"));
    let (_, answer) = post(&kiosk, "/api/verify", "text/plain", stranger.into_bytes()).await;
    assert_eq!(answer["code"], "KID_UNKNOWN", "{answer}");

    // A valid credential that says "red" (isolation required) must not let the person through; amber is amber.
    for (colour, verdict) in [(Colour::Red, "red"), (Colour::Amber, "amber")] {
        let mut credential = health_status("CN-GD");
        if let Body::HealthStatus(h) = &mut credential.body {
            h.colour = colour;
        }
        let (_, answer) = post(&kiosk, "/api/verify", "text/plain", gd.qr_text(&credential).into_bytes()).await;
        assert_eq!((answer["verdict"].as_str(), answer["valid"].as_bool()), (Some(verdict), Some(true)), "{answer}");
    }
}

#[tokio::test]
async fn camera_frames_answer_or_say_nothing_was_found() {
    let gd = TestProvince::guangdong();
    let text = gd.qr_text(&health_status("CN-GD"));
    let kiosk = kiosk_at(T0 + 60);
    let frame = frame_with(&text);
    let (status, answer) =
        post(&kiosk, "/api/frame?width=640&height=480", "application/octet-stream", frame.into_raw()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((answer["verdict"].as_str(), answer["input"].as_str()), (Some("green"), Some("camera")), "{answer}");

    let blank = GrayImage::from_pixel(640, 480, image::Luma([200])).into_raw();
    let (status, answer) = post(&kiosk, "/api/frame?width=640&height=480", "application/octet-stream", blank).await;
    assert_eq!((status, answer), (StatusCode::OK, serde_json::json!({ "found": false })));

    // A frame whose bytes do not match its size, or an absurd size, is a client error, not a scan.
    for uri in
        ["/api/frame?width=640&height=481", "/api/frame?width=0&height=0", "/api/frame?width=100000&height=100000"]
    {
        let (status, answer) = post(&kiosk, uri, "application/octet-stream", vec![0; 640 * 480]).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {answer}");
        assert!(answer["detail"].is_string());
    }
    let (status, _) = post(&kiosk, "/api/frame", "application/octet-stream", vec![0; 16]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn malformed_requests_get_problem_details() {
    let kiosk = kiosk_at(T0 + 60);
    let cases: [(&str, &[u8], StatusCode); 6] = [
        ("application/x-www-form-urlencoded", b"text=HR1:", StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ("application/json", b"{not json", StatusCode::BAD_REQUEST),
        ("application/json", br#"{"text": "HR1:", "image": "AAAA"}"#, StatusCode::BAD_REQUEST),
        ("application/json", br#"{"qr": "HR1:"}"#, StatusCode::BAD_REQUEST),
        ("application/json", br#"{"image": "***"}"#, StatusCode::BAD_REQUEST),
        ("text/plain", b"\xff\xfe", StatusCode::BAD_REQUEST),
    ];
    for (content_type, body, expected) in cases {
        let request =
            Request::post("/api/verify").header(header::CONTENT_TYPE, content_type).body(HttpBody::from(body)).unwrap();
        let (status, headers, body) = send(&kiosk, request).await;
        assert_eq!(status, expected, "{content_type} {}", String::from_utf8_lossy(&body));
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    }
    // An image that is not one is an answer (QR_UNREADABLE), like any unreadable code.
    let (status, answer) = post(&kiosk, "/api/verify", "image/png", b"\x89PNG\r\n\x1a\nbroken".to_vec()).await;
    assert_eq!((status, answer["code"].as_str()), (StatusCode::OK, Some("QR_UNREADABLE")));
    // Bodies past the limit are refused before they are read in full.
    let huge = vec![b'A'; huren_verifier::kiosk::MAX_BODY_BYTES + 1];
    let request =
        Request::post("/api/verify").header(header::CONTENT_TYPE, "text/plain").body(HttpBody::from(huge)).unwrap();
    let (status, _, _) = send(&kiosk, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn the_log_holds_outcome_time_and_issuer_only_once_per_presentation() {
    let dir = tempdir("log");
    let log = dir.join("outcomes.jsonl");
    let gd = TestProvince::guangdong();
    let loader = Box::new(move || Ok(checkpoint(gd.trust())));
    let kiosk = Arc::new(Kiosk::new(loader, Vec::new()).unwrap().starting_at(T0 + 60).log(&log).unwrap());
    let gd = TestProvince::guangdong();
    let text = gd.qr_text(&health_status("CN-GD"));
    for _ in 0..3 {
        // The same code held to the camera for three frames is one presentation.
        let (_, answer) =
            post(&kiosk, "/api/frame?width=640&height=480", "application/octet-stream", frame_with(&text).into_raw())
                .await;
        assert_eq!(answer["verdict"], "green");
    }
    let (_, answer) = post(&kiosk, "/api/verify", "text/plain", b"HR1:NOT*BASE45~".to_vec()).await;
    assert_eq!(answer["verdict"], "red");
    let blank = GrayImage::from_pixel(640, 480, image::Luma([200])).into_raw();
    post(&kiosk, "/api/frame?width=640&height=480", "application/octet-stream", blank).await;

    let written = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = written.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "one line per presentation, none for empty frames:\n{written}");
    assert_eq!(lines[0]["code"], "OK");
    assert_eq!(lines[0]["issuer"], "CN-GD");
    assert!(lines[0]["time"].as_str().unwrap().starts_with("2026-09-21T14:14:2"), "the kiosk's clock: {written}");
    assert_eq!(lines[1]["code"], "BASE45_INVALID");
    assert!(lines[1]["issuer"].is_null());
    for line in &lines {
        let keys: Vec<&String> = line.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["code", "issuer", "time"], "nothing else is logged: {line}");
    }
    assert!(!written.contains("张三丰") && !written.contains("4403") && !written.contains("HR1:"));

    // Without a log, nothing is written anywhere the kiosk was told about.
    assert!(!kiosk_at(T0).status().log);
}

#[tokio::test]
async fn trust_is_reloaded_when_its_file_changes() {
    let dir = tempdir("reload");
    let trust_file = dir.join("trust.cbor");
    let gd = TestProvince::guangdong();
    let text = gd.qr_text(&health_status("CN-GD"));
    std::fs::write(&trust_file, b"not yet").unwrap();
    let path = trust_file.clone();
    let loader = Box::new(move || {
        let bytes = std::fs::read(&path).map_err(|e| e.to_string())?;
        let trust = if bytes == b"not yet" { TrustList::default() } else { TestProvince::guangdong().trust() };
        Ok(checkpoint(trust))
    });
    let kiosk = Arc::new(Kiosk::new(loader, vec![trust_file.clone()]).unwrap().starting_at(T0 + 60));
    let (_, answer) = post(&kiosk, "/api/verify", "text/plain", text.clone().into_bytes()).await;
    assert_eq!(answer["code"], "KID_UNKNOWN");
    // A sync replaces the file; within a second or so (the watcher's next look) the kiosk answers with the new trust.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(&trust_file, b"now trusted").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, answer) = post(&kiosk, "/api/verify", "text/plain", text.clone().into_bytes()).await;
        if answer["code"] == "OK" {
            break;
        }
        assert!(Instant::now() < deadline, "trust not reloaded: {answer}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(kiosk.status().trust, "trust-file");
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("huren-kiosk-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    assert!(Path::new(&dir).is_dir());
    dir
}

#[tokio::test]
async fn when_every_scanner_is_busy_images_are_turned_away_and_text_still_answers() {
    let gd = TestProvince::guangdong();
    let text = gd.qr_text(&health_status("CN-GD"));
    let loader = Box::new(move || Ok(checkpoint(TestProvince::guangdong().trust())));
    let kiosk = Arc::new(Kiosk::new(loader, Vec::new()).unwrap().starting_at(T0 + 60).max_scans(0));
    let request = Request::post("/api/frame?width=640&height=480")
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(HttpBody::from(frame_with(&text).into_raw()))
        .unwrap();
    let (status, headers, _) = send(&kiosk, request).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers[header::RETRY_AFTER], "1");
    let png = QrSymbol::new(&text, Ecc::Q).unwrap().to_png(4).unwrap();
    let (status, _) = post(&kiosk, "/api/verify", "image/png", png).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, answer) = post(&kiosk, "/api/verify", "text/plain", text.into_bytes()).await;
    assert_eq!((status, answer["verdict"].as_str()), (StatusCode::OK, Some("green")));
}

#[tokio::test]
async fn a_scan_past_its_budget_keeps_its_place_until_its_decoder_ends() {
    // The decoder cannot be interrupted: when the answer comes back after the budget, the worker thread still
    // runs. Its permit goes with it, so the scans bound counts running decoders, not only waiting requests.
    let loader = Box::new(move || Ok(checkpoint(TestProvince::guangdong().trust())));
    let limits = ImageLimits { time_budget: Duration::from_millis(1), ..ImageLimits::default() };
    let kiosk =
        Arc::new(Kiosk::new(loader, Vec::new()).unwrap().starting_at(T0 + 60).max_scans(1).image_limits(limits));
    // Noise: every pass of every decoder runs to the end and finds nothing (far longer than a millisecond).
    let (width, height) = (480, 360);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..width * height)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    let frame = |body: Vec<u8>| {
        Request::post(format!("/api/frame?width={width}&height={height}"))
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(HttpBody::from(body))
            .unwrap()
    };
    let started = Instant::now();
    let (status, _, body) = send(&kiosk, frame(noise.clone())).await;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, br#"{"found":false}"#.as_slice()));
    let (status, _, _) = send(&kiosk, frame(noise)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "the first decoder still runs");
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (status, _, _) = send(&kiosk, frame(vec![200; width * height])).await;
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(started.elapsed() < Duration::from_secs(60), "the permit comes back when the decoder ends");
    }
}

#[tokio::test]
async fn with_a_trust_store_old_data_turns_a_valid_code_amber_then_red_and_the_banner_says_so() {
    use huren_tests::fixtures::TestFederation;
    let fed = TestFederation::three();
    let dir = tempdir("store");
    let path = dir.join("store.cbor");
    let root = fed.signed_root(&fed.root_doc(1), &[0, 2]);
    let mut store = huren_verifier::store::TrustStore::provision(&path, &root, T0).unwrap();
    store.import(&fed.trust_bundle().encode(), T0).unwrap();
    let mut credential = health_status("CN-HB");
    credential.expires_at = T0 + 30 * DAY;
    let text = fed.province("CN-HB").qr_text(&credential);
    let at = |now: i64| {
        let path = path.clone();
        let loader = Box::new(move || {
            let trust = TrustSource::open(&path).map_err(|e| e.to_string())?;
            Ok(Checkpoint { trust, dcc: Default::default(), policy: Default::default(), freshness: Default::default() })
        });
        Arc::new(Kiosk::new(loader, vec![dir.join("store.cbor")]).unwrap().starting_at(now))
    };
    // A day after the newest trust data: fresh, green.
    let fresh = at(T0 + 60);
    assert_eq!(fresh.status().freshness, "fresh");
    assert_eq!(fresh.status().trust, "store");
    let (_, answer) = post(&fresh, "/api/verify", "text/plain", text.clone().into_bytes()).await;
    assert_eq!((answer["verdict"].as_str(), answer["code"].as_str()), (Some("green"), Some("OK")), "{answer}");
    // Four days on: past the 48 h warning age, the same valid code is amber, with the warning.
    let old = at(T0 + 3 * DAY);
    assert_eq!(old.status().freshness, "warn");
    assert!(old.status().trust_warning.unwrap().contains("h old"));
    let (_, answer) = post(&old, "/api/verify", "text/plain", text.clone().into_bytes()).await;
    assert_eq!((answer["verdict"].as_str(), answer["valid"].as_bool()), (Some("amber"), Some(true)), "{answer}");
    assert!(answer["warnings"][0].as_str().unwrap().contains("sync soon"), "{answer}");
    // Past 14 days: nothing verifies, red TRUST_STORE_STALE, and the banner says stale.
    let stale = at(T0 + 16 * DAY);
    assert_eq!(stale.status().freshness, "stale");
    let (_, answer) = post(&stale, "/api/verify", "text/plain", text.into_bytes()).await;
    assert_eq!((answer["verdict"].as_str(), answer["code"].as_str()), (Some("red"), Some("TRUST_STORE_STALE")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kiosk_server_cuts_off_a_client_that_trickles_its_headers() {
    use huren_verifier::kiosk::{serve, HEADER_READ_TIMEOUT};
    use std::io::{Read, Write};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, kiosk_at(T0 + 60), async move {
        let _ = stopped.await;
    }));
    let slow = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        stream.write_all(b"POST /api/verify HTTP/1.1\r\nHost: gate\r\n").unwrap();
        let started = Instant::now();
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
        started.elapsed()
    });
    // Meanwhile another gate is served at once.
    let prompt = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.write_all(b"GET /api/status HTTP/1.1\r\nHost: gate\r\nConnection: close\r\n\r\n").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    });
    let answer = prompt.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let waited = slow.await.unwrap();
    assert!(waited >= HEADER_READ_TIMEOUT - Duration::from_secs(1), "{waited:?}");
    assert!(waited < HEADER_READ_TIMEOUT + Duration::from_secs(5), "disconnected, not left open: {waited:?}");
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// Issue 15, item 2: trust is reloaded on a thread of its own, never inside a request. While a reload is stuck
/// (a large store being verified again), `/api/status` and `/api/verify` keep answering with the trust in use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_verify_answer_while_a_reload_is_in_progress() {
    let dir = tempdir("slow-reload");
    let trust_file = dir.join("trust.cbor");
    std::fs::write(&trust_file, b"v1").unwrap();
    let gd = TestProvince::guangdong();
    let text = gd.qr_text(&health_status("CN-GD"));
    let (entered_tx, entered) = std::sync::mpsc::channel::<()>();
    let (release, release_rx) = std::sync::mpsc::channel::<()>();
    let (entered_tx, release_rx) = (std::sync::Mutex::new(entered_tx), std::sync::Mutex::new(release_rx));
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let loader = Box::new(move || {
        // The first load is quick; every reload stands for a huge store: it waits until the test lets it go.
        if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0 {
            let _ = entered_tx.lock().unwrap().send(());
            let _ = release_rx.lock().unwrap().recv();
        }
        Ok(checkpoint(TestProvince::guangdong().trust()))
    });
    let kiosk = Arc::new(Kiosk::new(loader, vec![trust_file.clone()]).unwrap().starting_at(T0 + 60));
    let (_, answer) = post(&kiosk, "/api/verify", "text/plain", text.clone().into_bytes()).await;
    assert_eq!(answer["code"], "OK");
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&trust_file, b"v2").unwrap();
    // The watcher picks the change up and gets stuck in the loader.
    tokio::task::spawn_blocking(move || entered.recv_timeout(Duration::from_secs(10)))
        .await
        .unwrap()
        .expect("the watcher thread reloads without any request asking");
    let ask = |request: Request<HttpBody>| {
        let kiosk = Arc::clone(&kiosk);
        tokio::spawn(async move { send(&kiosk, request).await })
    };
    let status = ask(Request::get("/api/status").body(HttpBody::empty()).unwrap());
    let verify = ask(Request::post("/api/verify")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(HttpBody::from(text.clone()))
        .unwrap());
    let (status, verify) = tokio::time::timeout(Duration::from_secs(5), async { (status.await, verify.await) })
        .await
        .expect("the status and verify endpoints answer while the reload runs");
    assert_eq!(status.unwrap().0, StatusCode::OK);
    let (code, _, body) = verify.unwrap();
    assert_eq!(code, StatusCode::OK);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["code"], "OK");
    release.send(()).unwrap();
}
