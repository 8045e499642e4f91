//! Trust sync over HTTP(S): fetch a trust bundle from any mirror and import it into the store. The mirror is not
//! trusted (every part of the bundle is signed); the fetch is bounded: timeouts, a size cap, and a conditional GET
//! with the ETag that URL last gave, so an unchanged bundle costs one round trip.
//!
//! Redirects are followed by hand ([`get`]), at most [`MAX_REDIRECTS`] of them and only within the origin (scheme,
//! host and port) first asked, unless [`SyncOptions::follow_cross_origin_redirects`] says otherwise; each hop is
//! asked with the ETag remembered for that very URL, so no other host ever sees it.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use huren_keys::UpdateReport;

use crate::store::{StoreError, TrustStore};

/// Most redirects followed for one document.
pub const MAX_REDIRECTS: usize = 5;

/// Limits for one sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncOptions {
    /// Connect and read timeout for the whole request.
    pub timeout: Duration,
    /// Largest trust bundle accepted.
    pub max_bytes: usize,
    /// Follow a redirect to another origin (scheme, host, port) than the URL asked. Off by default: a mirror that
    /// moves elsewhere is reported, not followed.
    pub follow_cross_origin_redirects: bool,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            timeout: Duration::from_secs(20),
            max_bytes: huren_keys::MAX_TRUST_BUNDLE_BYTES,
            follow_cross_origin_redirects: false,
        }
    }
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    /// The mirror answered 304: the bundle has not changed since the last sync.
    NotModified,
    /// A bundle was fetched and imported (each part on its own: see [`UpdateReport::refused`]).
    Imported(UpdateReport),
}

/// The file beside the store that remembers each URL's last ETag (a cache hint, never trusted).
fn etags_path(store: &TrustStore) -> PathBuf {
    let mut name = store.path().as_os_str().to_owned();
    name.push(".etags.json");
    name.into()
}

/// The ETags remembered per URL (none when the file is missing or unreadable: it is only a hint).
fn load_etags(path: &std::path::Path) -> serde_json::Map<String, serde_json::Value> {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default()
}

/// An HTTP client with the sync limits and no automatic redirects ([`get`] follows them by Huren's rule).
pub(crate) fn client(options: &SyncOptions) -> Result<reqwest::blocking::Client, StoreError> {
    // rustls on the ring provider; installing it twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .timeout(options.timeout)
        .connect_timeout(options.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| StoreError::Http(e.to_string()))
}

/// The answer to one GET, after redirects.
pub(crate) struct Fetched {
    /// The final status (never a redirect).
    pub status: reqwest::StatusCode,
    /// The URL that answered.
    pub url: String,
    /// Its ETag, if any.
    pub etag: Option<String>,
    /// The body (empty unless 2xx), at most `max_bytes`.
    pub body: Vec<u8>,
}

/// GET `url`, following redirects by hand within its origin (or anywhere when the options allow), asking each hop
/// with `etag_for(hop)` as If-None-Match; a 2xx body larger than `max_bytes` is an error.
pub(crate) fn get(
    client: &reqwest::blocking::Client,
    url: &str,
    etag_for: &dyn Fn(&str) -> Option<String>,
    max_bytes: usize,
    options: &SyncOptions,
) -> Result<Fetched, StoreError> {
    let http = |m: String| StoreError::Http(format!("{url}: {m}"));
    let first = reqwest::Url::parse(url).map_err(|e| http(e.to_string()))?;
    let mut current = first.clone();
    for _ in 0..=MAX_REDIRECTS {
        let mut request = client.get(current.clone());
        if let Some(etag) = etag_for(current.as_str()) {
            request = request.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        let response = request.send().map_err(|e| http(e.to_string()))?;
        let status = response.status();
        if status.is_redirection() && status != reqwest::StatusCode::NOT_MODIFIED {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| http(format!("HTTP {status} without a Location")))?;
            let next = current.join(location).map_err(|e| http(format!("redirect to {location:?}: {e}")))?;
            if next.origin() != first.origin() && !options.follow_cross_origin_redirects {
                return Err(http(format!(
                    "redirected to another origin ({next}); not followed (huren-verifier sync --follow-redirects \
                     follows it)"
                )));
            }
            current = next;
            continue;
        }
        let etag = response.headers().get(reqwest::header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut body = Vec::new();
        if status.is_success() {
            if response.content_length().is_some_and(|n| n > u64::try_from(max_bytes).unwrap_or(u64::MAX)) {
                return Err(http(format!("document larger than {max_bytes} bytes")));
            }
            let cap = u64::try_from(max_bytes).unwrap_or(u64::MAX).saturating_add(1);
            response.take(cap).read_to_end(&mut body).map_err(|e| http(e.to_string()))?;
            if body.len() > max_bytes {
                return Err(http(format!("document larger than {max_bytes} bytes")));
            }
        }
        return Ok(Fetched { status, url: current.to_string(), etag, body });
    }
    Err(http(format!("more than {MAX_REDIRECTS} redirects")))
}

/// Fetch the trust bundle at `url` and import it at `now`, each of its parts on its own.
pub fn sync(store: &mut TrustStore, url: &str, now: i64, options: &SyncOptions) -> Result<SyncOutcome, StoreError> {
    let client = client(options)?;
    let etags_file = etags_path(store);
    let mut etags = load_etags(&etags_file);
    let remembered = etags.clone();
    let etag_for = |hop: &str| remembered.get(hop).and_then(|v| v.as_str()).map(str::to_owned);
    let fetched = get(&client, url, &etag_for, options.max_bytes, options)?;
    if fetched.status == reqwest::StatusCode::NOT_MODIFIED {
        return Ok(SyncOutcome::NotModified);
    }
    if !fetched.status.is_success() {
        return Err(StoreError::Http(format!("{url}: HTTP {}", fetched.status)));
    }
    let report = store.import(&fetched.body, now)?;
    // Only remember the ETag of a bundle that was taken whole, under the URL that served it.
    match fetched.etag.filter(|_| report.refused.is_empty()) {
        Some(etag) => etags.insert(fetched.url, serde_json::Value::String(etag)),
        None => etags.remove(&fetched.url),
    };
    let _ = std::fs::write(&etags_file, serde_json::Value::Object(etags).to_string());
    Ok(SyncOutcome::Imported(report))
}
