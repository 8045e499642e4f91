//! The one way Huren's CLIs fetch a document over HTTP(S): blocking, bounded in time and size, with redirects
//! followed by hand (at most [`MAX_REDIRECTS`], and only within the origin first asked unless the caller allows
//! more), rustls on the ring provider.

use std::io::Read;
use std::time::Duration;

pub use reqwest::blocking::Client;
pub use reqwest::StatusCode;

/// Most redirects followed for one document.
pub const MAX_REDIRECTS: usize = 5;

/// A fetch that failed: no answer, an unusable answer, or one over the size cap.
#[derive(Debug, thiserror::Error)]
#[error("{url}: {detail}")]
pub struct FetchError {
    /// The URL first asked.
    pub url: String,
    /// What went wrong.
    pub detail: String,
}

/// A client with `timeout` for connecting and for the whole request, and no automatic redirects ([`get`] follows
/// them by its rule).
pub fn client(timeout: Duration) -> Result<reqwest::blocking::Client, FetchError> {
    // rustls on the ring provider; installing it twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| FetchError { url: String::new(), detail: e.to_string() })
}

/// Which redirects [`get`] follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redirects {
    /// Only to the origin (scheme, host, port) first asked; another origin is an error naming it.
    SameOrigin {
        /// Said in the error, so the user learns how to follow it anyway (a CLI flag, say).
        hint: &'static str,
    },
    /// Anywhere (still at most [`MAX_REDIRECTS`]).
    Anywhere,
}

/// The answer to one GET, after redirects.
#[derive(Debug)]
pub struct Fetched {
    /// The final status (never a redirect).
    pub status: StatusCode,
    /// The URL that answered.
    pub url: String,
    /// Its ETag, if any.
    pub etag: Option<String>,
    /// The body (empty unless 2xx), at most the cap.
    pub body: Vec<u8>,
}

/// GET `url`, following redirects by `redirects`, asking each hop with `etag_for(hop)` as If-None-Match (so an
/// ETag only ever goes back to the URL that gave it); a 2xx body larger than `max_bytes` is an error, found out
/// without reading more than one byte past the cap.
pub fn get(
    client: &reqwest::blocking::Client,
    url: &str,
    etag_for: &dyn Fn(&str) -> Option<String>,
    max_bytes: usize,
    redirects: Redirects,
) -> Result<Fetched, FetchError> {
    let failed = |detail: String| FetchError { url: url.to_string(), detail };
    let first = reqwest::Url::parse(url).map_err(|e| failed(e.to_string()))?;
    let mut current = first.clone();
    for _ in 0..=MAX_REDIRECTS {
        let mut request = client.get(current.clone());
        if let Some(etag) = etag_for(current.as_str()) {
            request = request.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        let response = request.send().map_err(|e| failed(e.to_string()))?;
        let status = response.status();
        if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| failed(format!("HTTP {status} without a Location")))?;
            let next = current.join(location).map_err(|e| failed(format!("redirect to {location:?}: {e}")))?;
            if let Redirects::SameOrigin { hint } = redirects {
                if next.origin() != first.origin() {
                    return Err(failed(format!("redirected to another origin ({next}); not followed ({hint})")));
                }
            }
            current = next;
            continue;
        }
        let etag = response.headers().get(reqwest::header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut body = Vec::new();
        if status.is_success() {
            let too_large = || failed(format!("document larger than {max_bytes} bytes"));
            if response.content_length().is_some_and(|n| n > u64::try_from(max_bytes).unwrap_or(u64::MAX)) {
                return Err(too_large());
            }
            let cap = u64::try_from(max_bytes).unwrap_or(u64::MAX).saturating_add(1);
            response.take(cap).read_to_end(&mut body).map_err(|e| failed(e.to_string()))?;
            if body.len() > max_bytes {
                return Err(too_large());
            }
        }
        return Ok(Fetched { status, url: current.to_string(), etag, body });
    }
    Err(failed(format!("more than {MAX_REDIRECTS} redirects")))
}
