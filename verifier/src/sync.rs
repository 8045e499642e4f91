//! Trust sync over HTTP(S), the `sync` adapter: fetch a trust bundle from any mirror and import it into the store,
//! then each status list from the URL its province's bundle declares. No mirror is trusted (every part is signed);
//! every fetch is bounded (timeouts, a size cap) and conditional (the ETag that URL last gave, kept in the store's
//! medium as a hint), so an unchanged document costs one round trip.
//!
//! Redirects are followed by hand (`huren_plumbing::http::get`), at most [`MAX_REDIRECTS`] of them and only
//! within the origin (scheme, host and port) first asked, unless [`SyncOptions::follow_cross_origin_redirects`]
//! says otherwise; each hop is asked with the ETag remembered for that very URL, so no other host ever sees it.
//!
//! Status lists ([`sync_status`]): with a version held, ask the list's URL for a delta from it; apply it when it
//! comes (its digest proves the result is the signed version); fetch the full list when the server has no delta
//! from that version (404), when the delta does not apply, or when the chain is already [`MAX_CHAIN`] deltas long.

use std::time::Duration;

use huren_keys::status::MAX_STATUS_DOCUMENT_BYTES;
use huren_keys::UpdateReport;
pub use huren_plumbing::http::MAX_REDIRECTS;
use huren_plumbing::http::{Fetched, Redirects, StatusCode};

use crate::medium::Document;
use crate::status::StatusUpdate;
use crate::store::{StoreError, TrustStore};

/// Deltas kept on top of a full list before the next sync fetches a full list again.
pub const MAX_CHAIN: usize = 16;

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

/// The ETags remembered per URL (none when missing or unreadable: they are only a hint).
fn load_etags(store: &TrustStore) -> serde_json::Map<String, serde_json::Value> {
    store
        .medium()
        .read(&Document::SyncHints)
        .ok()
        .flatten()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default()
}

/// An HTTP client with the sync limits and no automatic redirects ([`fetch`] follows them by Huren's rule).
fn client(options: &SyncOptions) -> Result<huren_plumbing::http::Client, StoreError> {
    huren_plumbing::http::client(options.timeout).map_err(|e| StoreError::Http(e.detail))
}

/// GET `url` by the sync rules (see the module's documentation).
fn fetch(
    client: &huren_plumbing::http::Client,
    url: &str,
    etag_for: &dyn Fn(&str) -> Option<String>,
    max_bytes: usize,
    options: &SyncOptions,
) -> Result<Fetched, StoreError> {
    let redirects = if options.follow_cross_origin_redirects {
        Redirects::Anywhere
    } else {
        Redirects::SameOrigin { hint: "huren-verifier sync --follow-redirects follows it" }
    };
    huren_plumbing::http::get(client, url, etag_for, max_bytes, redirects).map_err(|e| StoreError::Http(e.to_string()))
}

/// Fetch the trust bundle at `url` and import it at `now`, each of its parts on its own.
pub fn sync(store: &mut TrustStore, url: &str, now: i64, options: &SyncOptions) -> Result<SyncOutcome, StoreError> {
    let client = client(options)?;
    let mut etags = load_etags(store);
    let remembered = etags.clone();
    let etag_for = |hop: &str| remembered.get(hop).and_then(|v| v.as_str()).map(str::to_owned);
    let fetched = fetch(&client, url, &etag_for, options.max_bytes, options)?;
    if fetched.status == StatusCode::NOT_MODIFIED {
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
    // A hint: failing to keep it costs one full download next time, never a wrong answer.
    let hints = serde_json::Value::Object(etags).to_string();
    let _ = store.medium().replace(&Document::SyncHints, hints.as_bytes());
    Ok(SyncOutcome::Imported(report))
}

/// Sync every status list the trust store's province bundles declare: by delta when a version is held and the
/// server has one, in full otherwise. Returns, per list, what happened (or why it failed; other lists go on).
pub fn sync_status(
    store: &mut TrustStore,
    now: i64,
    options: &SyncOptions,
) -> Vec<(String, u32, Result<StatusUpdate, StoreError>)> {
    let client = match client(options) {
        Ok(c) => c,
        Err(e) => return vec![(String::new(), 0, Err(e))],
    };
    let declared: Vec<(String, u32, String)> = store
        .state()
        .bundles()
        .iter()
        .flat_map(|b| b.status_lists.iter().map(|d| (b.province.clone(), d.list, d.url.clone())))
        .collect();
    let mut results = Vec::new();
    for (province, list, url) in declared {
        let result = sync_one(store, &client, &province, list, &url, now, options);
        results.push((province, list, result));
    }
    results
}

fn sync_one(
    store: &mut TrustStore,
    client: &huren_plumbing::http::Client,
    province: &str,
    list: u32,
    url: &str,
    now: i64,
    options: &SyncOptions,
) -> Result<StatusUpdate, StoreError> {
    let base = url.trim_end_matches('/');
    let held = store.status_lists().get(province, list).map(|l| l.version);
    let no_etag = |_: &str| None;
    if let Some(version) = held.filter(|_| store.status_lists().chain_length(province, list) < MAX_CHAIN) {
        // Any failure on the delta path (an error status, a mirror that only has full lists, a delta that does not
        // apply) falls back to the full list below.
        let delta = fetch(client, &format!("{base}/delta/{version}"), &no_etag, MAX_STATUS_DOCUMENT_BYTES, options);
        match delta {
            Ok(d) if d.status == StatusCode::NOT_MODIFIED => {
                // The server's newest version is the one held; record it (a store from before marks has none).
                return store.import_status_list_up_to_date(province, list, version);
            }
            Ok(d) if d.status.is_success() => match store.apply_status_delta(&d.body, now) {
                Ok(update) => return Ok(update),
                Err(StoreError::Refused { .. }) => {} // not for our version, or tampered: take the full list
                Err(other) => return Err(other),
            },
            _ => {}
        }
    }
    // The full list, asked with the held version as ETag: 304 means the held list is the newest.
    let etag = held.map(|v| format!("\"{v}\""));
    let etag_for = |_: &str| etag.clone();
    let full = fetch(client, base, &etag_for, MAX_STATUS_DOCUMENT_BYTES, options)?;
    match (full.status, held) {
        (StatusCode::NOT_MODIFIED, Some(version)) => store.import_status_list_up_to_date(province, list, version),
        (status, _) if status.is_success() => store.import_status_list(&full.body, now),
        (StatusCode::NOT_FOUND, _) => Err(StoreError::Http(format!("{base}: no status list published"))),
        (status, _) => Err(StoreError::Http(format!("{base}: HTTP {status}"))),
    }
}
