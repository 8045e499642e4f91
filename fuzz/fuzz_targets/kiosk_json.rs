//! The checkpoint kiosk's whole router (`huren_verifier::kiosk::app`), trusting nothing, with arbitrary request
//! bodies. Input byte 0 picks the request:
//!
//! | byte 0 % 6 | request |
//! |---|---|
//! | 0 | `POST /api/verify`, `text/plain` |
//! | 1 | `POST /api/verify`, `application/json` (the private `json_input` parser) |
//! | 2 | `POST /api/verify`, `image/png` |
//! | 3 | `POST /api/verify`, `application/octet-stream` (must be 415) |
//! | 4 | `POST /api/frame?width=W&height=H`, W and H from bytes 1..3 and 3..5 (big-endian u16), body the rest |
//! | 5 | `POST /api/frame`, W = byte 1 (at least 1), H = what the rest fills, body cut to W*H bytes |
//!
//! The status must be one of 200, 400, 413, 415 or 503 (never 500: a handler's blocking task panicked).
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use huren_verifier::checkpoint::{Checkpoint, TrustSource};
use huren_verifier::kiosk::{app, Kiosk};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => panic!("tokio runtime: {e}"),
    })
}

fn kiosk() -> &'static Arc<Kiosk> {
    static KIOSK: OnceLock<Arc<Kiosk>> = OnceLock::new();
    KIOSK.get_or_init(|| {
        let loader = Box::new(|| {
            Ok(Checkpoint {
                trust: TrustSource::List(Default::default()),
                dcc: Default::default(),
                policy: Default::default(),
                freshness: Default::default(),
            })
        });
        match Kiosk::new(loader, Vec::new()) {
            Ok(k) => Arc::new(k.starting_at(1_790_000_000)),
            Err(e) => panic!("kiosk: {e}"),
        }
    })
}

fn post(uri: &str, content_type: &str, body: Vec<u8>) -> Request<Body> {
    match Request::post(uri).header(header::CONTENT_TYPE, content_type).body(Body::from(body)) {
        Ok(r) => r,
        Err(e) => panic!("request: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let request = match selector % 6 {
        0 => post("/api/verify", "text/plain", rest.to_vec()),
        1 => post("/api/verify", "application/json", rest.to_vec()),
        2 => post("/api/verify", "image/png", rest.to_vec()),
        3 => post("/api/verify", "application/octet-stream", rest.to_vec()),
        4 => {
            let [w0, w1, h0, h1, ref body @ ..] = *rest else { return };
            let (w, h) = (u16::from_be_bytes([w0, w1]), u16::from_be_bytes([h0, h1]));
            post(&format!("/api/frame?width={w}&height={h}"), "application/octet-stream", body.to_vec())
        }
        _ => {
            let Some((&w, body)) = rest.split_first() else { return };
            let w = usize::from(w.max(1));
            let h = body.len() / w;
            post(&format!("/api/frame?width={w}&height={h}"), "application/octet-stream", body[..w * h].to_vec())
        }
    };
    let status = runtime().block_on(async {
        match app(Arc::clone(kiosk())).oneshot(request).await {
            Ok(response) => response.status(),
            Err(e) => match e {},
        }
    });
    assert!(
        matches!(
            status,
            StatusCode::OK
                | StatusCode::BAD_REQUEST
                | StatusCode::PAYLOAD_TOO_LARGE
                | StatusCode::UNSUPPORTED_MEDIA_TYPE
                | StatusCode::SERVICE_UNAVAILABLE
        ),
        "status {status} for selector {}",
        selector % 6
    );
    if selector % 6 == 3 {
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
});
