//! `huren-verifier serve`: the checkpoint kiosk, a local web app and JSON API that work with no network.
//!
//! The page (embedded in the binary: no CDN, no external request) opens the camera, sends greyscale frames to
//! `POST /api/frame`, and shows the answer full-screen: green, amber or red, the reason in Chinese and English,
//! and only what staff need to match the person. `POST /api/verify` takes QR text or an image, for turnstiles
//! and gates, and for the page's paste box and upload. `GET /api/status` gives the trust data's age for the
//! page's banner.
//!
//! Nothing scanned is stored. With a [`Kiosk::log`] the outcome of each code (time, code, issuer) is appended
//! to a file, never its text, names or identifiers.
//!
//! Trust is re-read when the files it came from change (a watcher thread looks once a second, off the async
//! runtime; requests keep the current trust meanwhile), so a `huren-verifier sync` run beside the kiosk takes
//! effect without a restart.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use image::GrayImage;

use crate::checkpoint::{rfc3339, Answer, Checkpoint};
pub use crate::report::Verdict;
use crate::report::{
    fingerprint, freshness_name, to_json, KioskStatus, OutcomeLogLine, ScreenAnswer, StatusListReport,
};
use crate::scan::{self, ImageLimits};
use crate::{Code, Rejection};

/// Largest request body: an image file at the scan limit, base64-encoded inside JSON.
pub const MAX_BODY_BYTES: usize = 24 * 1024 * 1024;
/// Longest a request may take, scanning included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest camera frame accepted on `/api/frame`, in pixels (1920x1080).
pub const MAX_FRAME_PIXELS: u64 = 1920 * 1080;
/// Longest wait for a request's head: a client that trickles its headers is disconnected after this.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a write to a client may make no progress (it reads nothing) before its connection is closed.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Most connections served at once (a gate or two and the page; more are closed on arrival).
pub const MAX_CONNECTIONS: usize = 256;
/// Longest wait, at shutdown, for the requests in flight; connections still open after it are dropped.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Builds the checkpoint afresh from its files; called at start and whenever a watched file changes.
pub type Loader = Box<dyn Fn() -> Result<Checkpoint, String> + Send + Sync>;

/// The kiosk's state: the checkpoint, how to reload it, the clock and the optional outcome log.
pub struct Kiosk {
    checkpoint: RwLock<Arc<Checkpoint>>,
    loader: Loader,
    watched: Vec<PathBuf>,
    /// The watched files' modification times when the checkpoint in use was loaded.
    stamps: Mutex<Vec<Option<SystemTime>>>,
    /// Whether the watcher thread runs (started once, by [`app`]).
    watching: AtomicBool,
    clock_offset: i64,
    log: Option<Mutex<std::fs::File>>,
    /// The last code logged and when: a code held in front of the camera is logged once, not once per frame.
    last_logged: Mutex<Option<(String, Instant)>>,
    limits: ImageLimits,
    /// Images scanned at once: more requests than this are turned away (503) rather than queued without end.
    scans: Arc<tokio::sync::Semaphore>,
}

/// How often the watcher thread looks at the trust files.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// A code seen again within this time is the same presentation (logged once).
const SAME_PRESENTATION: Duration = Duration::from_secs(10);

impl std::fmt::Debug for Kiosk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kiosk").field("watched", &self.watched).field("log", &self.log.is_some()).finish()
    }
}

impl Kiosk {
    /// A kiosk whose checkpoint comes from `loader`, reloaded when any of `watched` changes (a trust store's
    /// directory of status lists changes when a list is written, so watch it too).
    pub fn new(loader: Loader, watched: Vec<PathBuf>) -> Result<Self, String> {
        // The times are taken before loading: a change made while the loader reads is picked up by the next look.
        let stamps = watched.iter().map(|p| modified(p)).collect();
        let checkpoint = loader()?;
        Ok(Kiosk {
            checkpoint: RwLock::new(Arc::new(checkpoint)),
            loader,
            watched,
            stamps: Mutex::new(stamps),
            watching: AtomicBool::new(false),
            clock_offset: 0,
            log: None,
            last_logged: Mutex::new(None),
            limits: ImageLimits::default(),
            scans: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get).saturating_mul(2),
            )),
        })
    }

    /// Run the kiosk's clock as if it were `at` now (tests and drills); it keeps ticking from there.
    pub fn starting_at(mut self, at: i64) -> Self {
        self.clock_offset = at.saturating_sub(system_now());
        self
    }

    /// Scan at most `scans` images at once (default: twice the cores); requests beyond that get 503. A scan that
    /// outlives its time budget keeps its place until its decoder thread ends, so this bounds running decoders too.
    pub fn max_scans(mut self, scans: usize) -> Self {
        self.scans = Arc::new(tokio::sync::Semaphore::new(scans));
        self
    }

    /// Decode images and camera frames within `limits` (default: [`ImageLimits::default`]).
    pub fn image_limits(mut self, limits: ImageLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Append each code's outcome (time, code, issuer; nothing else) to `path`, one JSON object per line.
    pub fn log(mut self, path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        self.log = Some(Mutex::new(file));
        Ok(self)
    }

    /// The kiosk's current time, in Unix seconds.
    pub fn now(&self) -> i64 {
        system_now().saturating_add(self.clock_offset)
    }

    /// The checkpoint in use. Never reloads: reloading is the watcher thread's job ([`Kiosk::reload_if_changed`]),
    /// so a request never waits for a large store to be verified again.
    pub fn checkpoint(&self) -> Arc<Checkpoint> {
        match self.checkpoint.read() {
            Ok(current) => Arc::clone(&current),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Re-read the checkpoint if a watched file changed since it was loaded; true when a new one is in use. The
    /// requests meanwhile keep answering with the current one. A reload that fails keeps the current checkpoint
    /// and says so on standard error (and is tried again at the next change).
    pub fn reload_if_changed(&self) -> bool {
        let stamps: Vec<_> = self.watched.iter().map(|p| modified(p)).collect();
        let Ok(mut loaded) = self.stamps.lock() else { return false };
        if stamps == *loaded {
            return false;
        }
        *loaded = stamps;
        drop(loaded);
        match (self.loader)() {
            Ok(fresh) => {
                if let Ok(mut current) = self.checkpoint.write() {
                    *current = Arc::new(fresh);
                }
                true
            }
            Err(e) => {
                eprintln!("huren-verifier serve: trust data changed but cannot be read: {e}");
                false
            }
        }
    }

    /// Start, once, the thread that reloads the checkpoint when a watched file changes (looking every
    /// [`WATCH_INTERVAL`]). It runs off the async runtime and ends when the kiosk is dropped.
    pub fn watch(self: &Arc<Self>) {
        if self.watched.is_empty() || self.watching.swap(true, Ordering::SeqCst) {
            return;
        }
        let kiosk = Arc::downgrade(self);
        let spawned = std::thread::Builder::new().name("huren-kiosk-trust".into()).spawn(move || loop {
            std::thread::sleep(WATCH_INTERVAL);
            let Some(kiosk) = kiosk.upgrade() else { break };
            kiosk.reload_if_changed();
        });
        if let Err(e) = spawned {
            self.watching.store(false, Ordering::SeqCst);
            eprintln!("huren-verifier serve: cannot start the trust watcher: {e}");
        }
    }

    /// Verify one QR text and build the kiosk's answer (and log its outcome when logging is on).
    pub fn answer_text(&self, label: &str, text: &str) -> ScreenAnswer {
        let checkpoint = self.checkpoint();
        let now = self.now();
        let outcome = checkpoint.verify(text, now);
        self.record(now, Some(text), &outcome);
        screen_answer(&checkpoint, label, Some(text), &outcome, now)
    }

    /// The answer for a scan that found no code, or failed (an unreadable image is an answer of its own).
    fn answer_rejection(&self, label: &str, rejection: Rejection) -> ScreenAnswer {
        let checkpoint = self.checkpoint();
        let now = self.now();
        let outcome = Err(rejection);
        self.record(now, None, &outcome);
        screen_answer(&checkpoint, label, None, &outcome, now)
    }

    /// Answer for one image's codes: its best code, and how many codes it held (see
    /// [`Checkpoint::answer_input`]).
    fn answer_texts(&self, label: &str, texts: Vec<String>) -> ScreenAnswer {
        let checkpoint = self.checkpoint();
        let now = self.now();
        let answer = checkpoint.answer_input(Ok(texts), now);
        self.record(now, answer.text.as_deref(), &answer.outcome);
        screen_answer(&checkpoint, label, answer.text.as_deref(), &answer.outcome, now)
            .with_codes_found(answer.codes_found, answer.several_codes_note())
    }

    fn record(&self, now: i64, text: Option<&str>, outcome: &Result<Answer, Rejection>) {
        let Some(log) = &self.log else { return };
        if let (Some(text), Ok(mut last)) = (text, self.last_logged.lock()) {
            let fingerprint = fingerprint(text);
            if last.as_ref().is_some_and(|(f, at)| *f == fingerprint && at.elapsed() < SAME_PRESENTATION) {
                return;
            }
            *last = Some((fingerprint, Instant::now()));
        }
        let issuer = match outcome {
            Ok(Answer::Huren(v)) => Some(v.issuer().to_string()),
            Ok(Answer::Dcc(v)) => v.dcc().issuer.clone(),
            // Revoked and suspended codes were verified before their status was looked up: their issuer is known.
            Err(
                Rejection::Revoked { province, .. }
                | Rejection::Suspended { province, .. }
                | Rejection::StatusUnavailable { province, .. },
            ) => Some(province.clone()),
            Err(_) => None,
        };
        let code = outcome.as_ref().map_or_else(|r| r.code(), |_| Code::Ok);
        let line = to_json(&OutcomeLogLine { time: rfc3339(now), code, issuer });
        if let Ok(mut file) = log.lock() {
            if let Err(e) = writeln!(file, "{line}") {
                eprintln!("huren-verifier serve: cannot write the outcome log: {e}");
            }
        }
    }

    /// The banner's data: trust age and freshness.
    pub fn status(&self) -> KioskStatus {
        let checkpoint = self.checkpoint();
        let now = self.now();
        let (age, warning) = checkpoint.trust_age(now);
        let (kind, freshness, lists) = match &checkpoint.trust {
            crate::checkpoint::TrustSource::Store(store) => {
                let freshness = freshness_name(store.staleness(now, &checkpoint.freshness));
                ("store", freshness, StatusListReport::all(store, now))
            }
            crate::checkpoint::TrustSource::List(_) => ("trust-file", "unmanaged", Vec::new()),
        };
        KioskStatus {
            now: rfc3339(now),
            trust: kind,
            trust_age_seconds: age,
            freshness,
            trust_warning: warning,
            status_lists: lists,
            dcc_signers: checkpoint.dcc.signers().len(),
            log: self.log.is_some(),
        }
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn system_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or_default()
}

/// The screen's answer for one code at this checkpoint ([`ScreenAnswer::at`]).
pub fn screen_answer(
    checkpoint: &Checkpoint,
    label: &str,
    text: Option<&str>,
    outcome: &Result<Answer, Rejection>,
    now: i64,
) -> ScreenAnswer {
    ScreenAnswer::at(checkpoint, label, text, outcome, now)
}

/// [`screen_answer`] as JSON.
pub fn kiosk_answer(
    checkpoint: &Checkpoint,
    label: &str,
    text: Option<&str>,
    outcome: &Result<Answer, Rejection>,
    now: i64,
) -> serde_json::Value {
    serde_json::to_value(screen_answer(checkpoint, label, text, outcome, now)).unwrap_or_default()
}

/// A contract as the JSON body of a 200 answer (keys sorted, see [`crate::report`]).
fn json(report: &impl serde::Serialize) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], to_json(report)).into_response()
}

/// The kiosk's routes: the page and its assets, and the JSON API.
pub fn app(kiosk: Arc<Kiosk>) -> Router {
    kiosk.watch();
    Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/kiosk.js", get(|| async { asset("text/javascript; charset=utf-8", KIOSK_JS) }))
        .route("/kiosk.css", get(|| async { asset("text/css; charset=utf-8", KIOSK_CSS) }))
        .route("/api/status", get(status))
        .route("/api/verify", post(verify_body))
        .route("/api/frame", post(verify_frame))
        .with_state(kiosk)
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
}

const INDEX_HTML: &str = include_str!("kiosk/index.html");
const KIOSK_JS: &str = include_str!("kiosk/kiosk.js");
const KIOSK_CSS: &str = include_str!("kiosk/kiosk.css");
/// Everything the page loads comes from this service; the camera stream stays in the page.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY)),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

async fn status(State(kiosk): State<Arc<Kiosk>>) -> Response {
    json(&kiosk.status())
}

/// A client error as problem+json.
fn problem(status: StatusCode, detail: impl Into<String>) -> Response {
    huren_plumbing::server::problem(status, status.canonical_reason().unwrap_or("error"), &detail.into(), &[])
}

/// Every scanner is busy: try again in a moment (the page simply sends its next frame).
fn busy() -> Response {
    let detail = "all scanners are busy; retry";
    let retry = [(header::RETRY_AFTER, HeaderValue::from_static("1"))];
    huren_plumbing::server::problem(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable", detail, &retry)
}

/// `POST /api/verify`: QR text (`text/plain`, or JSON `{"text": ...}`), or an image (`image/png`,
/// `image/jpeg`, or JSON `{"image": base64}`). The answer is 200 whatever the verdict.
async fn verify_body(State(kiosk): State<Arc<Kiosk>>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let input = match content_type.as_str() {
        "text/plain" => match std::str::from_utf8(&body) {
            Ok(text) => Input::Text(text.trim().to_string()),
            Err(_) => return problem(StatusCode::BAD_REQUEST, "text/plain body is not UTF-8"),
        },
        "image/png" | "image/jpeg" => Input::Image(body.to_vec()),
        "application/json" => match json_input(&body) {
            Ok(input) => input,
            Err(detail) => return problem(StatusCode::BAD_REQUEST, detail),
        },
        other => {
            return problem(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("content type {other:?}: send text/plain, image/png, image/jpeg or application/json"),
            )
        }
    };
    let answer = match input {
        Input::Text(text) => {
            let kiosk = Arc::clone(&kiosk);
            tokio::task::spawn_blocking(move || kiosk.answer_text("text", &text)).await
        }
        Input::Image(bytes) => {
            let Ok(permit) = Arc::clone(&kiosk.scans).try_acquire_owned() else { return busy() };
            let kiosk = Arc::clone(&kiosk);
            tokio::task::spawn_blocking(move || match scan::scan_image_bytes_holding(&bytes, &kiosk.limits, permit) {
                Ok(texts) => kiosk.answer_texts("image", texts),
                Err(rejection) => kiosk.answer_rejection("image", rejection),
            })
            .await
        }
    };
    match answer {
        Ok(answer) => json(&answer),
        Err(_) => problem(StatusCode::INTERNAL_SERVER_ERROR, "verification failed unexpectedly"),
    }
}

enum Input {
    Text(String),
    Image(Vec<u8>),
}

fn json_input(body: &[u8]) -> Result<Input, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Request {
        text: Option<String>,
        image: Option<String>,
    }
    let request: Request = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    match (request.text, request.image) {
        (Some(text), None) => Ok(Input::Text(text.trim().to_string())),
        (None, Some(image)) => {
            use base64ct::{Base64, Encoding};
            Base64::decode_vec(image.trim()).map(Input::Image).map_err(|_| "image is not base64".to_string())
        }
        _ => Err("send exactly one of \"text\" and \"image\"".into()),
    }
}

/// Size of a raw greyscale frame on `/api/frame`.
#[derive(Debug, serde::Deserialize)]
struct FrameSize {
    width: u32,
    height: u32,
}

/// `POST /api/frame?width=W&height=H`: one camera frame as raw 8-bit greyscale (row-major, W*H bytes). The
/// answer is `{"found": false}` when no code is in view (the page keeps scanning), else the kiosk answer.
async fn verify_frame(
    State(kiosk): State<Arc<Kiosk>>,
    size: Result<Query<FrameSize>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> Response {
    let Ok(Query(size)) = size else {
        return problem(StatusCode::BAD_REQUEST, "give the frame's size: /api/frame?width=W&height=H");
    };
    let pixels = u64::from(size.width) * u64::from(size.height);
    if pixels == 0 || pixels > MAX_FRAME_PIXELS {
        return problem(
            StatusCode::BAD_REQUEST,
            format!("frame of {}x{} pixels is out of range", size.width, size.height),
        );
    }
    if u64::try_from(body.len()).ok() != Some(pixels) {
        return problem(
            StatusCode::BAD_REQUEST,
            format!("a {}x{} frame is {pixels} bytes, not {}", size.width, size.height, body.len()),
        );
    }
    let Some(frame) = GrayImage::from_raw(size.width, size.height, body.to_vec()) else {
        return problem(StatusCode::BAD_REQUEST, "frame does not match its size");
    };
    let Ok(permit) = Arc::clone(&kiosk.scans).try_acquire_owned() else { return busy() };
    let worker = Arc::clone(&kiosk);
    let answer =
        tokio::task::spawn_blocking(move || match scan::scan_within_budget_holding(frame, &worker.limits, permit) {
            Ok(texts) if !texts.is_empty() => Some(worker.answer_texts("camera", texts)),
            _ => None,
        })
        .await;
    match answer {
        Ok(Some(answer)) => json(&answer),
        Ok(None) => json(&crate::report::NoCodeInFrame { found: false }),
        Err(_) => problem(StatusCode::INTERNAL_SERVER_ERROR, "scanning failed unexpectedly"),
    }
}

/// The connection limits of the kiosk's server loop: a slow or stalled client on the checkpoint's network cannot
/// hold the gate's API.
pub fn serve_limits() -> huren_plumbing::server::ServeLimits {
    huren_plumbing::server::ServeLimits {
        header_read_timeout: HEADER_READ_TIMEOUT,
        write_stall_timeout: WRITE_STALL_TIMEOUT,
        max_connections: MAX_CONNECTIONS,
        shutdown_grace: SHUTDOWN_GRACE,
    }
}

/// Serve the kiosk on `listener` until `shutdown` resolves, then finish the requests in flight, with the limits
/// of [`serve_limits`] (the server loop is `huren_plumbing::server::serve`, the issuer's too).
pub async fn serve(
    listener: tokio::net::TcpListener,
    kiosk: Arc<Kiosk>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    huren_plumbing::server::serve(listener, app(kiosk), serve_limits(), shutdown).await
}
