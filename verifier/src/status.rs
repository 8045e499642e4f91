//! Status lists held by a verifier: one per (province, list id), verified against the trust list, kept beside the
//! trust store as the chain that produced it (a signed full list, then the signed deltas applied to it), so a
//! restart re-verifies everything it relies on. Lookups are O(1) in the dense array.
//!
//! Sync (see [`sync_status`]): with a version held, ask the list's URL for a delta from it; apply it when it comes
//! (its digest proves the result is the signed version); fetch the full list when the server has no delta from
//! that version (404), when the delta does not apply, or when the chain is already [`MAX_CHAIN`] deltas long.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use huren_keys::status::{StatusDelta, StatusList, MAX_STATUS_DOCUMENT_BYTES};
use huren_keys::TrustList;

use crate::store::{write_atomically, StoreError, TrustStore};
use crate::sync::SyncOptions;

/// Deltas kept on top of a full list before the next sync fetches a full list again.
pub const MAX_CHAIN: usize = 16;
/// How far in the future a status document's publication time may lie (device clocks drift).
const CLOCK_SKEW: i64 = 300;

/// One list and the signed documents it was built from.
#[derive(Debug, Clone)]
struct Held {
    list: StatusList,
    chain: Vec<Vec<u8>>,
}

/// The status lists a verifier holds.
#[derive(Debug, Clone, Default)]
pub struct StatusLists {
    dir: PathBuf,
    held: BTreeMap<(String, u32), Held>,
}

/// What an update of one list did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusUpdate {
    /// A full list was taken (`version`).
    Full(u64),
    /// A delta took the list from one version to another.
    Delta(u64, u64),
    /// Nothing newer was offered.
    UpToDate(u64),
}

fn file_name(province: &str, list: u32) -> String {
    format!("{province}-{list}.cbor")
}

impl StatusLists {
    /// The directory beside a trust store where its status lists live.
    pub fn dir_for(store: &Path) -> PathBuf {
        let mut name = store.as_os_str().to_owned();
        name.push(".status");
        name.into()
    }

    /// Load every list in `dir`, verifying each chain against `trust`. A file that no longer verifies (tampered,
    /// or signed by a key since removed) is left out, so its credentials show as unchecked rather than trusted.
    pub fn load(dir: &Path, trust: &TrustList) -> Self {
        let mut lists = StatusLists { dir: dir.to_path_buf(), held: BTreeMap::new() };
        let Ok(entries) = std::fs::read_dir(dir) else { return lists };
        for entry in entries.flatten() {
            // Only the lists' own files: never a temporary file a crash left behind.
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !name.ends_with(".cbor") {
                continue;
            }
            let Ok(bytes) = std::fs::read(entry.path()) else { continue };
            if let Some(held) = Self::rebuild(&bytes, trust) {
                if name == file_name(&held.list.province, held.list.list) {
                    lists.held.insert((held.list.province.clone(), held.list.list), held);
                }
            }
        }
        lists
    }

    fn rebuild(file: &[u8], trust: &TrustList) -> Option<Held> {
        let value = huren_keys::cbor::decode_canonical(file, 2).ok()?;
        let chain = huren_keys::cbor::byte_strings(value, "status chain").ok()?;
        let (first, deltas) = chain.split_first()?;
        let mut list = StatusList::verify(first, trust).ok()?.into_document();
        for delta in deltas {
            let delta = StatusDelta::verify(delta, trust).ok()?;
            list.apply(&delta).ok()?;
        }
        Some(Held { list, chain })
    }

    /// The list `list` of `province`, if held.
    pub fn get(&self, province: &str, list: u32) -> Option<&StatusList> {
        self.held.get(&(province.to_string(), list)).map(|h| &h.list)
    }

    /// Every list held.
    pub fn iter(&self) -> impl Iterator<Item = &StatusList> {
        self.held.values().map(|h| &h.list)
    }

    /// Deltas applied since the held full list (0 when the list is not held).
    pub fn chain_length(&self, province: &str, list: u32) -> usize {
        self.held.get(&(province.to_string(), list)).map_or(0, |h| h.chain.len().saturating_sub(1))
    }

    /// Re-read one list from its file (another process may have updated it since this copy was loaded); the
    /// caller holds the store's lock.
    fn refresh(&mut self, key: &(String, u32), trust: &TrustList) {
        let held = std::fs::read(self.dir.join(file_name(&key.0, key.1))).ok().and_then(|b| Self::rebuild(&b, trust));
        match held {
            Some(held) => self.held.insert(key.clone(), held),
            None => self.held.remove(key),
        };
    }

    fn save(&self, held: &Held) -> Result<(), StoreError> {
        let file = self.dir.join(file_name(&held.list.province, held.list.list));
        let bytes =
            huren_keys::cbor::encode(&huren_keys::cbor::byte_string_array(held.chain.iter().map(Vec::as_slice)));
        write_atomically(&file, &bytes, false)
    }

    /// Take a signed full list (the caller holds the store's lock; the held copy is re-read from disk first):
    /// verified against `trust`, not published in the future (beyond `now` plus five
    /// minutes of clock skew), and newer than the one held. "Newer" orders by publication time first and version
    /// second, so a list that a leaked key signed with a huge version number is replaced by the next genuine one
    /// instead of blocking every later list as a "rollback".
    pub fn import_full(&mut self, signed: &[u8], trust: &TrustList, now: i64) -> Result<StatusUpdate, StoreError> {
        let list = StatusList::verify(signed, trust)?.into_document();
        if list.issued_at > now.saturating_add(CLOCK_SKEW) {
            return Err(huren_keys::Error::DocumentInvalid(format!(
                "status list {}/{} is dated {}, in the future (now {now})",
                list.province, list.list, list.issued_at
            ))
            .into());
        }
        let key = (list.province.clone(), list.list);
        self.refresh(&key, trust);
        if let Some(current) = self.held.get(&key) {
            if (list.issued_at, list.version) < (current.list.issued_at, current.list.version) {
                return Err(huren_keys::Error::Rollback {
                    what: format!("status list {}/{}", key.0, key.1),
                    current: current.list.version,
                    offered: list.version,
                }
                .into());
            }
            if list.version == current.list.version && current.chain.len() == 1 {
                return Ok(StatusUpdate::UpToDate(list.version));
            }
        }
        let version = list.version;
        let held = Held { list, chain: vec![signed.to_vec()] };
        self.save(&held)?;
        self.held.insert(key, held);
        Ok(StatusUpdate::Full(version))
    }

    /// Apply a signed delta to the list it is for (the caller holds the store's lock; the held copy is re-read
    /// from disk first): verified against `trust`, from the version held, producing
    /// exactly the signed version (digest). On any refusal the held list is unchanged.
    pub fn apply_delta(&mut self, signed: &[u8], trust: &TrustList, now: i64) -> Result<StatusUpdate, StoreError> {
        let delta = StatusDelta::verify(signed, trust)?;
        if delta.issued_at > now.saturating_add(CLOCK_SKEW) {
            return Err(huren_keys::Error::DocumentInvalid(format!(
                "status delta dated in the future ({})",
                delta.issued_at
            ))
            .into());
        }
        let key = (delta.province.clone(), delta.list);
        self.refresh(&key, trust);
        let current = self.held.get(&key).ok_or_else(|| {
            huren_keys::Error::DocumentInvalid(format!("no status list {}/{} to apply a delta to", key.0, key.1))
        })?;
        let mut next = current.clone();
        next.list.apply(&delta)?;
        next.chain.push(signed.to_vec());
        self.save(&next)?;
        let update = StatusUpdate::Delta(delta.from, delta.to);
        self.held.insert(key, next);
        Ok(update)
    }
}

/// GET `url` with the sync limits: `Ok(None)` for 304 or 404 (nothing there to take), the body otherwise.
fn fetch(client: &reqwest::blocking::Client, url: &str, max: usize) -> Result<Option<Vec<u8>>, StoreError> {
    let http = |m: String| StoreError::Http(format!("{url}: {m}"));
    let response = client.get(url).send().map_err(|e| http(e.to_string()))?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_MODIFIED || status == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status.is_success() {
        return Err(http(format!("HTTP {status}")));
    }
    let mut body = Vec::new();
    let cap = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    response.take(cap).read_to_end(&mut body).map_err(|e| http(e.to_string()))?;
    if body.len() > max {
        return Err(http(format!("document larger than {max} bytes")));
    }
    Ok(Some(body))
}

/// Sync every status list the trust store's province bundles declare: by delta when a version is held and the
/// server has one, in full otherwise. Returns, per list, what happened (or why it failed; other lists go on).
pub fn sync_status(
    store: &mut TrustStore,
    now: i64,
    options: &SyncOptions,
) -> Vec<(String, u32, Result<StatusUpdate, StoreError>)> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client =
        match reqwest::blocking::Client::builder().timeout(options.timeout).connect_timeout(options.timeout).build() {
            Ok(c) => c,
            Err(e) => return vec![(String::new(), 0, Err(StoreError::Http(e.to_string())))],
        };
    let declared: Vec<(String, u32, String)> = store
        .state()
        .bundles()
        .iter()
        .flat_map(|b| b.status_lists.iter().map(|d| (b.province.clone(), d.list, d.url.clone())))
        .collect();
    let mut results = Vec::new();
    for (province, list, url) in declared {
        let result = sync_one(store, &client, &province, list, &url, now);
        results.push((province, list, result));
    }
    results
}

fn sync_one(
    store: &mut TrustStore,
    client: &reqwest::blocking::Client,
    province: &str,
    list: u32,
    url: &str,
    now: i64,
) -> Result<StatusUpdate, StoreError> {
    let base = url.trim_end_matches('/');
    let held = store.status_lists().get(province, list).map(|l| l.version);
    if let Some(version) = held.filter(|_| store.status_lists().chain_length(province, list) < MAX_CHAIN) {
        // Any failure on the delta path (an error status, a mirror that only has full lists) falls back to the
        // full list below.
        match fetch(client, &format!("{base}/delta/{version}"), MAX_STATUS_DOCUMENT_BYTES).unwrap_or(None) {
            None => {
                // 304 (up to date) or 404 (no delta from our version): the full list's ETag tells which.
                let probe = client
                    .get(base)
                    .header(reqwest::header::IF_NONE_MATCH, format!("\"{version}\""))
                    .send()
                    .map_err(|e| StoreError::Http(format!("{base}: {e}")))?;
                if probe.status() == reqwest::StatusCode::NOT_MODIFIED {
                    return Ok(StatusUpdate::UpToDate(version));
                }
            }
            Some(delta) => match store.apply_status_delta(&delta, now) {
                Ok(update) => return Ok(update),
                Err(StoreError::Refused { .. }) => {} // not for our version, or tampered: take the full list
                Err(other) => return Err(other),
            },
        }
    }
    let full = fetch(client, base, MAX_STATUS_DOCUMENT_BYTES)?
        .ok_or_else(|| StoreError::Http(format!("{base}: no status list published")))?;
    store.import_status_list(&full, now)
}
