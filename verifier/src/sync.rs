//! Trust sync over HTTP(S): fetch a trust bundle from any mirror and import it into the store. The mirror is not
//! trusted (every part of the bundle is signed); the fetch is bounded: timeouts, a size cap, and a conditional GET
//! with the last ETag so an unchanged bundle costs one round trip.

use std::io::Read;
use std::time::Duration;

use huren_keys::UpdateReport;

use crate::store::{StoreError, TrustStore};

/// Limits for one sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncOptions {
    /// Connect and read timeout for the whole request.
    pub timeout: Duration,
    /// Largest trust bundle accepted.
    pub max_bytes: usize,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions { timeout: Duration::from_secs(20), max_bytes: huren_keys::MAX_TRUST_BUNDLE_BYTES }
    }
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    /// The mirror answered 304: the bundle has not changed since the last sync.
    NotModified,
    /// A bundle was fetched and imported.
    Imported(UpdateReport),
}

/// The file beside the store that remembers the mirror's last ETag (a cache hint, never trusted).
fn etag_path(store: &TrustStore) -> std::path::PathBuf {
    let mut name = store.path().as_os_str().to_owned();
    name.push(".etag");
    name.into()
}

/// Fetch the trust bundle at `url` and import it at `now`.
pub fn sync(store: &mut TrustStore, url: &str, now: i64, options: &SyncOptions) -> Result<SyncOutcome, StoreError> {
    let http = |m: String| StoreError::Http(format!("{url}: {m}"));
    // rustls on the ring provider; installing it twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::blocking::Client::builder()
        .timeout(options.timeout)
        .connect_timeout(options.timeout)
        .build()
        .map_err(|e| http(e.to_string()))?;
    let etag_file = etag_path(store);
    let mut request = client.get(url);
    if let Ok(etag) = std::fs::read_to_string(&etag_file) {
        request = request.header(reqwest::header::IF_NONE_MATCH, etag.trim());
    }
    let response = request.send().map_err(|e| http(e.to_string()))?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_MODIFIED {
        return Ok(SyncOutcome::NotModified);
    }
    if !status.is_success() {
        return Err(http(format!("HTTP {status}")));
    }
    if response.content_length().is_some_and(|n| n > u64::try_from(options.max_bytes).unwrap_or(u64::MAX)) {
        return Err(http(format!("bundle larger than {} bytes", options.max_bytes)));
    }
    let etag = response.headers().get(reqwest::header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut body = Vec::new();
    let cap = u64::try_from(options.max_bytes).unwrap_or(u64::MAX).saturating_add(1);
    response.take(cap).read_to_end(&mut body).map_err(|e| http(e.to_string()))?;
    if body.len() > options.max_bytes {
        return Err(http(format!("bundle larger than {} bytes", options.max_bytes)));
    }
    let report = store.import(&body, now)?;
    // Only remember the ETag of a bundle that was accepted.
    if let Some(etag) = etag {
        let _ = std::fs::write(&etag_file, etag);
    }
    Ok(SyncOutcome::Imported(report))
}
