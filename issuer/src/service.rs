//! The issuer's HTTP API: `app(state) -> Router`, so tests drive it with `oneshot` and `serve` binds it.
//!
//! Every mutating call needs an API token (`Authorization: Bearer hrt_<id>.<secret>`) whose role allows it and
//! whose province is this issuer's; every issuance and status change is written to the hash-chained audit log.
//! Errors are RFC 9457 problem+json and never show internals.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use huren_wallet_core::{transport, Ecc, QrSymbol};

use crate::api::{ClaimLinkAnswer, ClaimedAnswer, CredentialAnswer, IssuedAnswer, ReplayedAnswer, StatusChangeAnswer};
use crate::auth::{Role, ROLES};
use crate::issuance::{self, Once};
use crate::storage::{CredentialStatus, Database, IdempotencyRecord, StoredCredential, StoredToken};
use crate::{IssueRequest, Province};

/// Shared state of the service.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    province: Arc<Province>,
    db: Database,
    status: crate::status::StatusService,
    clock: Box<dyn Fn() -> i64 + Send + Sync>,
    trust_bundle: std::sync::RwLock<Option<Arc<Vec<u8>>>>,
    province_bundle: std::sync::RwLock<Option<Arc<Vec<u8>>>>,
    auth_failures: crate::throttle::AuthFailures,
    /// [`crate::bulk::BulkLimits::progress_timeout`], in milliseconds.
    bulk_progress_millis: std::sync::atomic::AtomicU64,
}

impl AppState {
    /// A service for `province`, storing in `db`, reading the system clock.
    pub fn new(province: Province, db: Database) -> Self {
        Self::with_clock(province, db, Box::new(crate::unix_now))
    }

    /// The same with an injected clock (tests).
    pub fn with_clock(province: Province, db: Database, clock: Box<dyn Fn() -> i64 + Send + Sync>) -> Self {
        Self::configured(province, db, clock, crate::status::StatusService::default())
    }

    /// The same with a status list layout and publication schedule of its own.
    pub fn configured(
        province: Province,
        db: Database,
        clock: Box<dyn Fn() -> i64 + Send + Sync>,
        status: crate::status::StatusService,
    ) -> Self {
        let (trust_bundle, province_bundle) = (std::sync::RwLock::new(None), std::sync::RwLock::new(None));
        let province = Arc::new(province);
        let auth_failures = crate::throttle::AuthFailures::default();
        let default_progress = crate::bulk::DEFAULT_PROGRESS_TIMEOUT.as_millis();
        let bulk_progress_millis =
            std::sync::atomic::AtomicU64::new(u64::try_from(default_progress).unwrap_or(u64::MAX));
        let inner =
            Inner { province, db, clock, status, trust_bundle, province_bundle, auth_failures, bulk_progress_millis };
        AppState { inner: Arc::new(inner) }
    }

    /// Publish the status lists that changed (or are past half their time-to-live) now; `serve` calls this every
    /// publication interval. Returns the (list, version) pairs published.
    pub async fn publish_status(&self) -> Result<Vec<(u32, u64)>, crate::Error> {
        self.inner.status.publish(&self.inner.province, &self.inner.db, self.now()).await
    }

    /// The service's status list allocation and publication.
    pub fn status(&self) -> &crate::status::StatusService {
        &self.inner.status
    }

    /// Cut a bulk upload that makes no progress for this long (default
    /// [`crate::bulk::DEFAULT_PROGRESS_TIMEOUT`]; see [`crate::bulk::BulkLimits`]).
    pub fn set_bulk_progress_timeout(&self, timeout: std::time::Duration) {
        let millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self.inner.bulk_progress_millis.store(millis, std::sync::atomic::Ordering::Relaxed);
    }

    fn bulk_limits(&self) -> crate::bulk::BulkLimits {
        let millis = self.inner.bulk_progress_millis.load(std::sync::atomic::Ordering::Relaxed);
        crate::bulk::BulkLimits { progress_timeout: std::time::Duration::from_millis(millis) }
    }

    /// The interval between status publications.
    pub(crate) fn status_interval(&self) -> std::time::Duration {
        self.inner.status.config().interval
    }

    /// Serve this federation trust bundle at `/v1/trust-bundle` (the issuer as one more mirror).
    pub fn set_trust_bundle(&self, bytes: Vec<u8>) {
        if let Ok(mut slot) = self.inner.trust_bundle.write() {
            *slot = Some(Arc::new(bytes));
        }
    }

    /// Serve the province's own signed bundle at `/v1/province-bundle`.
    pub fn set_province_bundle(&self, bytes: Vec<u8>) {
        if let Ok(mut slot) = self.inner.province_bundle.write() {
            *slot = Some(Arc::new(bytes));
        }
    }

    fn now(&self) -> i64 {
        (self.inner.clock)()
    }
}

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest a request may take before it is answered 408.
pub(crate) const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Request ids for `x-request-id`: a process-wide counter (the id only correlates log lines).
#[derive(Clone, Default)]
struct CountingRequestIds(Arc<std::sync::atomic::AtomicU64>);

impl tower_http::request_id::MakeRequestId for CountingRequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<tower_http::request_id::RequestId> {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        axum::http::HeaderValue::from_str(&format!("req-{n}")).ok().map(tower_http::request_id::RequestId::new)
    }
}

/// The HTTP API: routes, then body limit, timeout and request ids.
pub fn app(state: AppState) -> Router {
    use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    // Bulk issuance streams large bodies for as long as they take; everything else is small and quick.
    let bulk = Router::new()
        .route("/v1/credentials/bulk", post(bulk_issue))
        .with_state(state.clone())
        .layer(tower_http::limit::RequestBodyLimitLayer::new(crate::bulk::MAX_BULK_BYTES));
    routes(state.clone())
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .merge(bulk)
        .layer(axum::middleware::from_fn_with_state(state, throttle_auth_failures))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::new(request_id, CountingRequestIds::default()))
}

/// Answer 429 to a client that used up its refused authentications in the current window when it tries a token
/// again (before the token is looked up), and count each 401 or 403 it gets. Clients are told apart by address when the server was started
/// with connection info (`huren-issuer serve` is).
async fn throttle_auth_failures(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let client = request.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|info| info.0.ip());
    // Only requests that try to authenticate are held back: the public documents stay reachable from a shared
    // address.
    let authenticating = request.headers().contains_key(header::AUTHORIZATION);
    if let Some(wait) = state.inner.auth_failures.blocked(client).filter(|_| authenticating) {
        return ApiError::TooManyFailures(wait.as_secs().max(1)).into_response();
    }
    let response = next.run(request).await;
    if matches!(response.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        state.inner.auth_failures.record(client);
    }
    response
}

/// The trace span of a request: its method and the route's template, never the URI itself, since a claim link's
/// secret is in its path (`/v1/claim/{secret}`) and a credential id in others.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = request.extensions().get::<axum::extract::MatchedPath>().map_or("(no route)", |p| p.as_str());
    tracing::debug_span!("request", method = %request.method(), route)
}

/// The process's Prometheus recorder, installed on first use (one per process, as the `metrics` facade wants).
fn prometheus() -> Option<&'static metrics_exporter_prometheus::PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<Option<metrics_exporter_prometheus::PrometheusHandle>> =
        std::sync::OnceLock::new();
    HANDLE.get_or_init(|| metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder().ok()).as_ref()
}

/// Prometheus text exposition of the service's counters.
async fn metrics_text() -> Response {
    match prometheus() {
        Some(handle) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "metrics recorder unavailable").into_response(),
    }
}

fn routes(state: AppState) -> Router {
    let _ = prometheus();
    Router::new()
        .route("/openapi.json", get(|| async { Json(crate::openapi::openapi()) }))
        .route("/metrics", get(metrics_text))
        .route("/v1/trust-bundle", get(trust_bundle))
        .route("/v1/province-bundle", get(province_bundle))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/v1/credentials", post(issue))
        .route("/v1/credentials/{id}", get(fetch))
        .route("/v1/credentials/{id}/qr.png", get(qr_png))
        .route("/v1/credentials/{id}/qr.svg", get(qr_svg))
        .route("/v1/credentials/{id}/qr.txt", get(qr_text))
        .route("/v1/credentials/{id}/claim-link", post(claim_link))
        .route("/v1/claim/{secret}", get(redeem))
        .route("/v1/credentials/{id}/revoke", post(|s, h, p, b| change_status(s, h, p, b, CredentialStatus::Revoked)))
        .route(
            "/v1/credentials/{id}/suspend",
            post(|s, h, p, b| change_status(s, h, p, b, CredentialStatus::Suspended)),
        )
        .route("/v1/credentials/{id}/reinstate", post(|s, h, p, b| change_status(s, h, p, b, CredentialStatus::Valid)))
        .route("/v1/status/{list}", get(status_list))
        .route("/v1/status/{list}/delta/{from}", get(status_delta))
        .with_state(state)
}

/// An API error, rendered as problem+json.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// No or malformed credentials.
    Unauthorized,
    /// The token may not do this.
    Forbidden(String),
    /// No such resource.
    NotFound,
    /// The request cannot be processed.
    BadRequest(String),
    /// The resource is in a state that forbids the change.
    Conflict(String),
    /// The request cannot be processed as sent (an Idempotency-Key used before with another request).
    Unprocessable(String),
    /// The request body is in a media type the endpoint does not read.
    UnsupportedMediaType(String),
    /// A one-time resource already used, or expired.
    Gone,
    /// Too many refused authentications from this client: wait this many seconds.
    TooManyFailures(u64),
    /// The database cannot be reached right now; the client should retry shortly (503 with Retry-After).
    Unavailable,
    /// Something failed inside; details go to the log, not to the client.
    Internal,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, title, detail) = match self {
            ApiError::Unauthorized => {
                (StatusCode::UNAUTHORIZED, "unauthorized", "a valid API token is required".into())
            }
            ApiError::Forbidden(d) => (StatusCode::FORBIDDEN, "forbidden", d),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not found", "no such resource".into()),
            ApiError::BadRequest(d) => (StatusCode::BAD_REQUEST, "bad request", d),
            ApiError::Conflict(d) => (StatusCode::CONFLICT, "conflict", d),
            ApiError::Unprocessable(d) => (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable content", d),
            ApiError::UnsupportedMediaType(d) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported media type", d),
            ApiError::Gone => {
                (StatusCode::GONE, "gone", "this claim link was already used, has expired or never existed".into())
            }
            ApiError::TooManyFailures(seconds) => {
                let detail = "too many refused authentications from this address; wait and retry";
                let mut response = problem(StatusCode::TOO_MANY_REQUESTS, "too many requests", detail);
                response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
                return response;
            }
            ApiError::Unavailable => {
                let detail = "the database is unavailable for a moment; nothing was changed, send the request again";
                let mut response = problem(StatusCode::SERVICE_UNAVAILABLE, "service unavailable", detail);
                response.headers_mut().insert(header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
                return response;
            }
            ApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal error", "try again later".into()),
        };
        problem(status, title, &detail)
    }
}

/// A problem+json answer.
/// A problem+json answer (`huren_plumbing::server::problem`, the kiosk's too).
fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    huren_plumbing::server::problem(status, title, detail, &[])
}

impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> Self {
        match e {
            crate::Error::Request(m) => ApiError::BadRequest(m),
            crate::Error::Credential(e) => ApiError::BadRequest(e.to_string()),
            crate::Error::InvalidInput(detail) => {
                // The database's own words stay in the log: they may quote the value.
                tracing::info!(error = %detail, "request refused by the database as invalid data");
                ApiError::BadRequest("a value in this request cannot be stored (such as a NUL character)".into())
            }
            crate::Error::CommitUnknown(detail) => {
                tracing::error!(error = %detail, "request failed: the database may or may not have stored it");
                ApiError::Internal
            }
            crate::Error::StorageUnavailable(detail) => {
                tracing::warn!(error = %detail, "database unavailable; the client was told to retry");
                ApiError::Unavailable
            }
            other => {
                // The detail goes to the operator's log; the client only learns that it failed.
                tracing::error!(error = %other, "request failed");
                ApiError::Internal
            }
        }
    }
}

/// The token, after checking it exists, is not revoked, matches its secret, acts for this province and has one of
/// the `allowed` roles.
async fn authorise(state: &AppState, headers: &HeaderMap, allowed: &[Role]) -> Result<StoredToken, ApiError> {
    let result = check_token(state, headers, allowed).await;
    if result.is_err() {
        metrics::counter!("huren_auth_failures_total").increment(1);
    }
    result
}

async fn check_token(state: &AppState, headers: &HeaderMap, allowed: &[Role]) -> Result<StoredToken, ApiError> {
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or(ApiError::Unauthorized)?;
    let token = value.strip_prefix("Bearer hrt_").ok_or(ApiError::Unauthorized)?;
    let (id, secret) = token.split_once('.').ok_or(ApiError::Unauthorized)?;
    let stored = state.inner.db.token(id).await.map_err(ApiError::from)?.ok_or(ApiError::Unauthorized)?;
    if stored.revoked_at.is_some() || stored.secret_hash != crate::auth::secret_hash(secret) {
        return Err(ApiError::Unauthorized);
    }
    if stored.province != state.inner.province.code() {
        return Err(ApiError::Forbidden(format!(
            "this token acts for {}, not {}",
            stored.province,
            state.inner.province.code()
        )));
    }
    if !allowed.contains(&stored.role) {
        return Err(ApiError::Forbidden(format!("role {} may not do this", stored.role)));
    }
    Ok(stored)
}

/// The federation trust bundle, with an ETag over its content; `If-None-Match` with it answers 304.
async fn trust_bundle(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    signed_document(&state.inner.trust_bundle, &headers)
}

/// The province's own bundle, served the same way.
async fn province_bundle(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    signed_document(&state.inner.province_bundle, &headers)
}

/// A static signed document with an ETag over its content; `If-None-Match` with it answers 304.
fn signed_document(slot: &std::sync::RwLock<Option<Arc<Vec<u8>>>>, headers: &HeaderMap) -> Result<Response, ApiError> {
    let bundle = slot.read().ok().and_then(|b| b.clone()).ok_or(ApiError::NotFound)?;
    let etag = format!("\"{}\"", huren_keys::hex(&Sha256::digest(bundle.as_slice())[..16]));
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|candidate| candidate.trim() == etag || candidate.trim() == "*"));
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    Ok(([(header::CONTENT_TYPE, "application/cbor".to_string()), (header::ETAG, etag)], bundle.as_slice().to_vec())
        .into_response())
}

async fn ready(State(state): State<AppState>) -> Response {
    match state.inner.db.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response(),
    }
}

async fn issue(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let token = authorise(&state, &headers, &[Role::Issuer, Role::Admin]).await?;
    let request: IssueRequest =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("request JSON: {e}")))?;
    request.check()?;
    let inner = &state.inner;
    let Some(key) = headers.get("idempotency-key") else {
        let (id, issued) =
            issuance::issue_and_record(&inner.province, &inner.db, &inner.status, &token.id, &request, state.now())
                .await?;
        return Ok(issued_answer(&id, &issued));
    };
    let key = key
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 128)
        .ok_or_else(|| ApiError::BadRequest("Idempotency-Key must be 1 to 128 visible ASCII characters".into()))?;
    // A retry with the same key gets the credential issued the first time, never a second one; the key is
    // looked up before anything is spent on the request (a status index, a signature).
    let digest = issuance::request_digest(&request)?;
    if let Some(earlier) = inner.db.idempotency_record(&token.id, key).await? {
        return replay(&state, &request, &digest, &earlier).await;
    }
    let keyed = (token.id.as_str(), key, digest.as_slice());
    match issuance::issue_once(&inner.province, &inner.db, &inner.status, keyed, &request, state.now()).await? {
        Once::Issued(id, issued) => Ok(issued_answer(&id, &issued)),
        // A concurrent request with the same key won the race: its credential answers.
        Once::Earlier(earlier) => replay(&state, &request, &digest, &earlier).await,
    }
}

/// The answer to an issuance: 201 with the credential.
fn issued_answer(id: &str, issued: &crate::Issued) -> Response {
    let answer = IssuedAnswer { credential: &issued.credential, id, qr_text: issued.qr_text() };
    (StatusCode::CREATED, Json(answer)).into_response()
}

/// Answer a request whose idempotency key was used before: the first credential again (200, `replayed`) when it
/// is the same request, 422 when it is another one (never the first person's credential for a second person).
async fn replay(
    state: &AppState,
    request: &IssueRequest,
    digest: &[u8],
    earlier: &IdempotencyRecord,
) -> Result<Response, ApiError> {
    let first = state.inner.db.credential(&earlier.credential_id).await?.ok_or(ApiError::Internal)?;
    let same = match &earlier.request_sha256 {
        Some(stored) => stored.as_slice() == digest,
        // A key stored before digests were: compare the request with what was issued for it.
        None => issued_for(request, &first),
    };
    if !same {
        return Err(ApiError::Unprocessable(
            "this Idempotency-Key was used with another request: nothing was issued; use a new key for a new request"
                .into(),
        ));
    }
    let id = huren_keys::hex(&first.id);
    let answer = ReplayedAnswer { id: &id, qr_text: transport::encode(&first.cose), replayed: true };
    Ok((StatusCode::OK, Json(answer)).into_response())
}

/// Whether `stored` is what `request` issues: the same subject, body, holder key, start and length of validity.
/// A credential that cannot be read back counts as another request (refused rather than guessed).
fn issued_for(request: &IssueRequest, stored: &StoredCredential) -> bool {
    let Ok(sign1) = huren_keys::cose::Sign1::parse(&stored.cose) else { return false };
    let Ok(c) = huren_wallet_core::Credential::from_claims(sign1.unverified_payload()) else { return false };
    let validity = i64::from(request.valid_for_hours).checked_mul(3600);
    c.subject == request.subject
        && c.body == request.body
        && c.holder == request.holder_key
        && c.not_before == request.not_before
        && c.expires_at.checked_sub(c.issued_at) == validity
}

/// Bulk issuance from NDJSON or CSV, streamed in and out (see [`crate::bulk`]).
async fn bulk_issue(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let token = authorise(&state, &headers, &[Role::Issuer, Role::Admin]).await?;
    let format =
        crate::bulk::Format::from_headers(&headers).map_err(|e| ApiError::UnsupportedMediaType(e.to_string()))?;
    Ok(crate::bulk::stream_response(body, format, state.bulk_limits(), move |requests| {
        let (state, token) = (state.clone(), token.clone());
        async move {
            let (province, db, status) = (state.inner.province.clone(), &state.inner.db, &state.inner.status);
            issuance::issue_batch(province, db, status, &token.id, requests, state.now())
                .await
                .map_err(crate::bulk::BatchFailed::from)
        }
    }))
}

/// A credential of this service's province that `token` (of the same province: [`authorise`] checked) may see.
/// Another province's credential is [`ApiError::NotFound`], as an unknown id: provinces that share a database do
/// not learn which ids the others issued.
async fn load(state: &AppState, token: &StoredToken, id: &str) -> Result<StoredCredential, ApiError> {
    let bytes = issuance::parse_credential_id(id).ok_or(ApiError::NotFound)?;
    let credential = state.inner.db.credential(&bytes).await?.ok_or(ApiError::NotFound)?;
    if credential.province != state.inner.province.code() || credential.province != token.province {
        return Err(ApiError::NotFound);
    }
    Ok(credential)
}

async fn fetch(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let token = authorise(&state, &headers, &ROLES).await?;
    let c = load(&state, &token, &id).await?;
    let answer = CredentialAnswer {
        expires_at: c.expires_at,
        id: &id,
        issued_at: c.issued_at,
        province: &c.province,
        qr_text: transport::encode(&c.cose),
        status: c.status.as_str(),
        status_reason: c.status_reason.as_deref(),
        kind: &c.kind,
    };
    Ok(Json(answer).into_response())
}

async fn symbol(state: &AppState, headers: &HeaderMap, id: &str) -> Result<QrSymbol, ApiError> {
    let token = authorise(state, headers, &ROLES).await?;
    let c = load(state, &token, id).await?;
    QrSymbol::new(&transport::encode(&c.cose), Ecc::Q).map_err(|_| ApiError::Internal)
}

async fn qr_png(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let png = symbol(&state, &headers, &id).await?.to_png(8).map_err(|_| ApiError::Internal)?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

async fn qr_svg(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let svg = symbol(&state, &headers, &id).await?.to_svg();
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

async fn qr_text(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let text = symbol(&state, &headers, &id).await?.to_terminal();
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// How long a claim link stays redeemable by default.
pub(crate) const CLAIM_LINK_SECONDS: i64 = 24 * 3600;

/// Create a one-time claim link for a credential (issuer or admin): the wallet redeems it at `/v1/claim/{secret}`.
async fn claim_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<ClaimLinkAnswer>), ApiError> {
    use ring::rand::SecureRandom;
    let token = authorise(&state, &headers, &[Role::Issuer, Role::Admin]).await?;
    let credential = load(&state, &token, &id).await?;
    let mut secret = [0u8; 24];
    ring::rand::SystemRandom::new().fill(&mut secret).map_err(|_| ApiError::Internal)?;
    let secret = huren_keys::hex(&secret);
    let now = state.now();
    let expires_at = now.saturating_add(CLAIM_LINK_SECONDS);
    let hash = Sha256::digest(secret.as_bytes()).to_vec();
    state.inner.db.insert_claim_link(&hash, &credential.id, now, expires_at, &token.id).await?;
    Ok((StatusCode::CREATED, Json(ClaimLinkAnswer { expires_at, path: format!("/v1/claim/{secret}") })))
}

/// Redeem a claim link (no token: the link is the credential): once, before it expires; then 410 Gone. A link
/// for another province's credential is gone here too, and left for its own province's service.
async fn redeem(State(state): State<AppState>, Path(secret): Path<String>) -> Result<Response, ApiError> {
    let now = state.now();
    let hash = Sha256::digest(secret.as_bytes()).to_vec();
    let province = state.inner.province.code();
    let Some(credential_id) = state.inner.db.redeem_claim_link(&hash, province, now).await? else {
        return Err(ApiError::Gone);
    };
    let credential = state.inner.db.credential(&credential_id).await?.ok_or(ApiError::NotFound)?;
    if credential.province != province {
        // The redemption checked the province in the same statement: this cannot happen.
        return Err(ApiError::Gone);
    }
    let id = huren_keys::hex(&credential.id);
    let answer =
        ClaimedAnswer { id: &id, qr_text: transport::encode(&credential.cose), status: credential.status.as_str() };
    Ok(Json(answer).into_response())
}

/// Body of a status change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusChange {
    reason: String,
}

async fn change_status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
    status: CredentialStatus,
) -> Result<Response, ApiError> {
    let token = authorise(&state, &headers, &[Role::Revoker, Role::Admin]).await?;
    let change: StatusChange =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("request JSON: {e}")))?;
    check_reason(&change.reason)?;
    let current = load(&state, &token, &id).await?;
    if current.status == CredentialStatus::Revoked {
        return Err(ApiError::Conflict("a revoked credential stays revoked".into()));
    }
    let now = state.now();
    let bytes = current.id;
    let province = state.inner.province.code();
    if !state.inner.db.set_status(&bytes, province, status, &change.reason, now, &token.id).await? {
        return Err(ApiError::Conflict("the credential was revoked meanwhile".into()));
    }
    metrics::counter!("huren_status_changes_total", "status" => status.as_str()).increment(1);
    Ok(Json(StatusChangeAnswer { id: &id, reason: &change.reason, status: status.as_str() }).into_response())
}

/// The rule for a status change's reason, for the API and the CLI alike: 1 to 200 characters, not all blank, and
/// no control characters (U+0000, which PostgreSQL cannot store; line breaks that would forge lines in a log),
/// checked before anything reaches the database.
pub fn check_reason(reason: &str) -> Result<(), crate::Error> {
    if reason.trim().is_empty() || reason.chars().count() > 200 || reason.chars().any(char::is_control) {
        return Err(crate::Error::Request(
            "a reason of 1 to 200 characters, none of them a control character, is required".into(),
        ));
    }
    Ok(())
}

/// A status list's path segment, as a list id.
fn list_id(text: &str) -> Result<u32, ApiError> {
    text.parse().map_err(|_| ApiError::NotFound)
}

/// The newest signed version of a status list, with its version as ETag.
async fn status_list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(list): Path<String>,
) -> Result<Response, ApiError> {
    let (version, signed) = state.inner.status.latest(list_id(&list)?).ok_or(ApiError::NotFound)?;
    let etag = format!("\"{version}\"");
    let matches = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() == etag);
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    Ok(([(header::CONTENT_TYPE, "application/cbor".to_string()), (header::ETAG, etag)], signed.as_slice().to_vec())
        .into_response())
}

/// A signed delta from version `from` to the newest; 304 when `from` is the newest, 404 when it is unknown.
async fn status_delta(
    State(state): State<AppState>,
    Path((list, from)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let list = list_id(&list)?;
    let from: u64 = from.parse().map_err(|_| ApiError::NotFound)?;
    let (latest, _) = state.inner.status.latest(list).ok_or(ApiError::NotFound)?;
    if from == latest {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, format!("\"{latest}\""))]).into_response());
    }
    let inner = &state.inner;
    let (version, signed) =
        inner.status.delta(&inner.province, &inner.db, list, from).await?.ok_or(ApiError::NotFound)?;
    Ok((
        [(header::CONTENT_TYPE, "application/cbor".to_string()), (header::ETAG, format!("\"{version}\""))],
        signed.as_slice().to_vec(),
    )
        .into_response())
}
