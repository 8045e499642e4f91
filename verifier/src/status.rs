//! Status lists held by a verifier: one per (province, list id), verified against the trust list, kept beside the
//! trust store as the chain that produced it (a signed full list, then the signed deltas applied to it), so a
//! restart re-verifies everything it relies on. Lookups are O(1) in the dense array.
//!
//! Sync (see [`sync_status`]): with a version held, ask the list's URL for a delta from it; apply it when it comes
//! (its digest proves the result is the signed version); fetch the full list when the server has no delta from
//! that version (404), when the delta does not apply, or when the chain is already [`MAX_CHAIN`] deltas long.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use huren_keys::status::{StatusDelta, StatusList, MAX_STATUS_DOCUMENT_BYTES};
use huren_keys::TrustList;

use crate::store::{write_atomically, StoreError, TrustStore};
use crate::sync::{get, SyncOptions};

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
    /// Lists whose file is there but cannot be read or no longer verifies, with the reason.
    unreadable: BTreeMap<(String, u32), String>,
}

/// A status list's identity: (province, list id).
pub type ListKey = (String, u32);

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

/// The (province, list) a list file's name stands for (`CN-GD-1.cbor`); `None` for any other file.
fn list_of_file(name: &str) -> Option<(String, u32)> {
    let stem = name.strip_suffix(".cbor").filter(|_| !name.starts_with('.'))?;
    let (province, list) = stem.rsplit_once('-')?;
    let list = list.parse().ok().filter(|l: &u32| l.to_string() == list)?;
    huren_keys::is_province_code(province).then(|| (province.to_string(), list))
}

impl StatusLists {
    /// The directory beside a trust store where its status lists live.
    pub fn dir_for(store: &Path) -> PathBuf {
        let mut name = store.as_os_str().to_owned();
        name.push(".status");
        name.into()
    }

    /// Load every list in `dir`, verifying each chain against `trust`. A file that no longer verifies (damaged,
    /// tampered, or signed by a key since removed) is not held: it is reported by [`StatusLists::unreadable`], and
    /// the store fails closed for the credentials it covers.
    pub fn load(dir: &Path, trust: &TrustList) -> Self {
        let mut lists = StatusLists { dir: dir.to_path_buf(), held: BTreeMap::new(), unreadable: BTreeMap::new() };
        let Ok(entries) = std::fs::read_dir(dir) else { return lists };
        for entry in entries.flatten() {
            // Only the lists' own files: never a temporary file a crash left behind.
            let Some(key) = list_of_file(&entry.file_name().to_string_lossy()) else { continue };
            lists.refresh(&key, trust);
        }
        lists
    }

    fn rebuild(file: &[u8], trust: &TrustList) -> Result<Held, String> {
        let value = huren_keys::cbor::decode_canonical(file, 2).map_err(|e| e.to_string())?;
        let chain = huren_keys::cbor::byte_strings(value, "status chain").map_err(|e| e.to_string())?;
        let (first, deltas) = chain.split_first().ok_or("the file holds no status list")?;
        let mut list = StatusList::verify(first, trust).map_err(|e| e.to_string())?.into_document();
        for delta in deltas {
            let delta = StatusDelta::verify(delta, trust).map_err(|e| e.to_string())?;
            list.apply(&delta).map_err(|e| e.to_string())?;
        }
        Ok(Held { list, chain })
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

    /// Why a list's file cannot be used, when it is there but unreadable or no longer verifies.
    pub fn unreadable(&self, province: &str, list: u32) -> Option<&str> {
        self.unreadable.get(&(province.to_string(), list)).map(String::as_str)
    }

    /// Every list whose file is there but cannot be used, with the reason.
    pub fn unreadable_lists(&self) -> impl Iterator<Item = (&str, u32, &str)> {
        self.unreadable.iter().map(|((province, list), reason)| (province.as_str(), *list, reason.as_str()))
    }

    /// Re-read one list from its file (another process may have updated it since this copy was loaded); the
    /// caller holds the store's lock when it goes on to write.
    fn refresh(&mut self, key: &(String, u32), trust: &TrustList) {
        self.held.remove(key);
        self.unreadable.remove(key);
        let bytes = match std::fs::read(self.dir.join(file_name(&key.0, key.1))) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                self.unreadable.insert(key.clone(), format!("cannot read its file: {e}"));
                return;
            }
        };
        match Self::rebuild(&bytes, trust) {
            Ok(held) if (held.list.province.as_str(), held.list.list) == (key.0.as_str(), key.1) => {
                self.held.insert(key.clone(), held);
            }
            Ok(held) => {
                let other = format!("{}/{}", held.list.province, held.list.list);
                self.unreadable.insert(key.clone(), format!("its file holds another list ({other})"));
            }
            Err(reason) => {
                self.unreadable.insert(key.clone(), format!("its file is damaged or no longer verifies: {reason}"));
            }
        }
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
    ///
    /// `floor` gives, for a (province, list), the newest (`issued_at`, version) the store ever held: a list older
    /// than that is a rollback even when its file is gone.
    pub fn import_full(
        &mut self,
        signed: &[u8],
        trust: &TrustList,
        now: i64,
        floor: impl Fn(&str, u32) -> Option<(i64, u64)>,
    ) -> Result<(StatusUpdate, ListKey), StoreError> {
        let list = StatusList::verify(signed, trust)?.into_document();
        if let Some((issued_at, version)) = floor(&list.province, list.list) {
            if (list.issued_at, list.version) < (issued_at, version) {
                return Err(huren_keys::Error::Rollback {
                    what: format!("status list {}/{}", list.province, list.list),
                    current: version,
                    offered: list.version,
                }
                .into());
            }
        }
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
                return Ok((StatusUpdate::UpToDate(list.version), key));
            }
        }
        let version = list.version;
        let held = Held { list, chain: vec![signed.to_vec()] };
        self.save(&held)?;
        self.unreadable.remove(&key);
        self.held.insert(key.clone(), held);
        Ok((StatusUpdate::Full(version), key))
    }

    /// Apply a signed delta to the list it is for (the caller holds the store's lock; the held copy is re-read
    /// from disk first): verified against `trust`, from the version held, producing
    /// exactly the signed version (digest). On any refusal the held list is unchanged.
    pub fn apply_delta(
        &mut self,
        signed: &[u8],
        trust: &TrustList,
        now: i64,
    ) -> Result<(StatusUpdate, ListKey), StoreError> {
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
        self.held.insert(key.clone(), next);
        Ok((update, key))
    }
}

/// Sync every status list the trust store's province bundles declare: by delta when a version is held and the
/// server has one, in full otherwise. Returns, per list, what happened (or why it failed; other lists go on).
pub fn sync_status(
    store: &mut TrustStore,
    now: i64,
    options: &SyncOptions,
) -> Vec<(String, u32, Result<StatusUpdate, StoreError>)> {
    let client = match crate::sync::client(options) {
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
    client: &reqwest::blocking::Client,
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
        let delta = get(client, &format!("{base}/delta/{version}"), &no_etag, MAX_STATUS_DOCUMENT_BYTES, options);
        match delta {
            Ok(d) if d.status == reqwest::StatusCode::NOT_MODIFIED => {
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
    let full = get(client, base, &etag_for, MAX_STATUS_DOCUMENT_BYTES, options)?;
    match (full.status, held) {
        (reqwest::StatusCode::NOT_MODIFIED, Some(version)) => {
            store.import_status_list_up_to_date(province, list, version)
        }
        (status, _) if status.is_success() => store.import_status_list(&full.body, now),
        (reqwest::StatusCode::NOT_FOUND, _) => Err(StoreError::Http(format!("{base}: no status list published"))),
        (status, _) => Err(StoreError::Http(format!("{base}: HTTP {status}"))),
    }
}
