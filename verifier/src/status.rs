//! Status lists held by a verifier: one per (province, list id), verified against the trust list, kept in the
//! trust store's medium as the chain that produced it (a signed full list, then the signed deltas applied to it),
//! so a restart re-verifies everything it relies on. Lookups are O(1) in the dense array. Fetching them is the
//! sync adapter's job (`crate::sync::sync_status`, feature `sync`).

use std::collections::BTreeMap;

use huren_keys::status::{StatusDelta, StatusList};
use huren_keys::TrustList;

pub use crate::medium::ListKey;
use crate::medium::{Document, TrustMedium};
use crate::store::StoreError;

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
    held: BTreeMap<(String, u32), Held>,
    /// Lists whose file is there but cannot be read or no longer verifies, with the reason.
    unreadable: BTreeMap<(String, u32), String>,
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

impl StatusLists {
    /// The directory beside a trust store in files where its status lists live.
    #[cfg(feature = "files")]
    pub fn dir_for(store: &std::path::Path) -> std::path::PathBuf {
        crate::medium::FileMedium::status_dir(store)
    }

    /// Load every list `medium` holds, verifying each chain against `trust`. A list that no longer verifies
    /// (damaged, tampered, or signed by a key since removed) is not held: it is reported by
    /// [`StatusLists::unreadable`], and the store fails closed for the credentials it covers.
    pub fn load(medium: &dyn TrustMedium, trust: &TrustList) -> Self {
        let mut lists = StatusLists::default();
        for key in medium.status_lists().unwrap_or_default() {
            lists.refresh(&key, trust, medium);
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

    /// Re-read one list from the medium (another process may have updated it since this copy was loaded); the
    /// caller holds the store's lock when it goes on to write.
    fn refresh(&mut self, key: &ListKey, trust: &TrustList, medium: &dyn TrustMedium) {
        self.held.remove(key);
        self.unreadable.remove(key);
        let bytes = match medium.read(&Document::StatusList(key.clone())) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return,
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

    fn save(held: &Held, medium: &dyn TrustMedium) -> Result<(), StoreError> {
        let key = (held.list.province.clone(), held.list.list);
        let bytes =
            huren_keys::cbor::encode(&huren_keys::cbor::byte_string_array(held.chain.iter().map(Vec::as_slice)));
        crate::store::write(medium, &Document::StatusList(key), &bytes)
    }

    /// Take a signed full list (the caller holds the store's lock; the held copy is re-read from `medium` first):
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
        medium: &dyn TrustMedium,
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
        self.refresh(&key, trust, medium);
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
        Self::save(&held, medium)?;
        self.unreadable.remove(&key);
        self.held.insert(key.clone(), held);
        Ok((StatusUpdate::Full(version), key))
    }

    /// Apply a signed delta to the list it is for (the caller holds the store's lock; the held copy is re-read
    /// from `medium` first): verified against `trust`, from the version held, producing
    /// exactly the signed version (digest). On any refusal the held list is unchanged.
    pub fn apply_delta(
        &mut self,
        signed: &[u8],
        trust: &TrustList,
        now: i64,
        medium: &dyn TrustMedium,
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
        self.refresh(&key, trust, medium);
        let current = self.held.get(&key).ok_or_else(|| {
            huren_keys::Error::DocumentInvalid(format!("no status list {}/{} to apply a delta to", key.0, key.1))
        })?;
        let mut next = current.clone();
        next.list.apply(&delta)?;
        next.chain.push(signed.to_vec());
        Self::save(&next, medium)?;
        let update = StatusUpdate::Delta(delta.from, delta.to);
        self.held.insert(key.clone(), next);
        Ok((update, key))
    }
}
