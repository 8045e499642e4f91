//! The verifier's persistent trust store: a [`TrustState`] and the status lists, kept in a [`TrustMedium`] (files
//! with the `files` feature, replaced atomically so a crash leaves either the old store or the new one, never half
//! of one; or whatever a phone app implements). Freshness: the store reports its age (now minus the newest `issued_at` it holds),
//! warns past [`Freshness::warn_after`] and refuses past [`Freshness::refuse_after`].

use std::path::Path;

use huren_keys::status::{Status, StatusList};
use huren_keys::{StatusMark, TrustBundle, TrustList, TrustState, UpdateReport};

use crate::medium::{Document, MediumLock, TrustMedium};
use crate::status::{StatusLists, StatusUpdate};
use crate::{verify, verify_many, Policy, Rejection, Verified};

/// How old trust data may get before the verifier warns, then refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// Age (seconds since the newest document's `issued_at`) after which answers carry a warning.
    pub warn_after: i64,
    /// Age after which every answer is `TRUST_STORE_STALE`.
    pub refuse_after: i64,
    /// Seconds the device clock may run behind the time floor before `CLOCK_BEHIND_TRUST`.
    pub clock_tolerance: i64,
    /// Seconds past a status list's time-to-live after which credentials it covers are refused
    /// (`TRUST_STORE_STALE`); between its time-to-live and this, answers carry a warning.
    pub status_refuse_after: i64,
}

impl Default for Freshness {
    fn default() -> Self {
        Freshness {
            warn_after: 2 * 86_400,
            refuse_after: 14 * 86_400,
            clock_tolerance: 300,
            status_refuse_after: 3 * 86_400,
        }
    }
}

/// How fresh the store is at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Staleness {
    /// Younger than the warning age.
    Fresh,
    /// Past the warning age: answers still given, with a warning.
    Warn,
    /// Past the refusal age: nothing verifies until the store is updated.
    Refuse,
    /// The clock is earlier than the newest trust data: the clock is wrong.
    ClockBehind,
}

/// Where one status list stands on a device.
#[derive(Debug, Clone)]
pub enum ListState<'a> {
    /// Held and verified, at least as new as any version of it held before.
    Held(&'a StatusList),
    /// Held once (the store's mark says which version) but now missing, damaged, or older than that version: the
    /// credentials it covers are refused (`STATUS_UNAVAILABLE`) until a sync.
    Lost {
        /// What is wrong, for staff.
        reason: String,
    },
    /// Never held on this device.
    NeverSynced {
        /// The issuing province's bundle lets checkpoints accept the credentials meanwhile (with a warning).
        allowed: bool,
        /// Why its file, if there is one, cannot be used.
        unreadable: Option<String>,
    },
}

impl ListState<'_> {
    /// The state's name in reports: `current`, `lost`, `never-synced` (refused) or `never-synced-allowed`.
    pub fn name(&self) -> &'static str {
        match self {
            ListState::Held(_) => "current",
            ListState::Lost { .. } => "lost",
            ListState::NeverSynced { allowed: false, .. } => "never-synced",
            ListState::NeverSynced { allowed: true, .. } => "never-synced-allowed",
        }
    }

    /// Why the credentials a list covers cannot be checked, for staff.
    pub fn describe(&self) -> String {
        match self {
            ListState::Held(list) => format!("version {} held", list.version),
            ListState::Lost { reason } => format!("{reason}; sync the status lists"),
            ListState::NeverSynced { unreadable: Some(reason), .. } => {
                format!("never synced on this device ({reason}); sync the status lists")
            }
            ListState::NeverSynced { unreadable: None, .. } => {
                "never synced on this device; sync the status lists".into()
            }
        }
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store file could not be read or written.
    #[error("trust store {path}: {source}")]
    Io {
        /// The file concerned.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// No store at this path (provision one first).
    #[error("no trust store at {0}: provision it with a federation root first")]
    Missing(String),
    /// A store already exists where one was to be provisioned.
    #[error("a trust store already exists at {0}")]
    Exists(String),
    /// A sync could not fetch the trust bundle (network, HTTP status, size); the store is unchanged.
    #[error("sync from {0}")]
    Http(String),
    /// The offered trust data was refused; the store is unchanged.
    #[error("{code}: {source}", code = source.code())]
    Refused {
        /// The reason, with its stable code (`source.code()`).
        #[from]
        source: huren_keys::Error,
    },
}

/// A trust store, loaded from its medium and verified.
#[derive(Debug)]
pub struct TrustStore {
    medium: Box<dyn TrustMedium>,
    state: TrustState,
    trust: TrustList,
    status: StatusLists,
}

impl TrustStore {
    /// The temporary file an update writes before renaming it over the store file (a crash may leave it behind; it
    /// is never read).
    #[cfg(feature = "files")]
    pub fn temp_path(path: &Path) -> std::path::PathBuf {
        crate::medium::FileMedium::temp_path(path)
    }

    /// Create a store in files at `path`, pinned to an initial federation root.
    #[cfg(feature = "files")]
    pub fn provision(path: &Path, root_bytes: &[u8], now: i64) -> Result<Self, StoreError> {
        Self::provision_in(Box::new(crate::medium::FileMedium::new(path)), root_bytes, now)
    }

    /// Open and re-verify the store in files at `path`.
    #[cfg(feature = "files")]
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_in(Box::new(crate::medium::FileMedium::new(path)))
    }

    /// Create a store in `medium`, pinned to an initial federation root.
    pub fn provision_in(medium: Box<dyn TrustMedium>, root_bytes: &[u8], now: i64) -> Result<Self, StoreError> {
        let _lock = lock(medium.as_ref())?;
        if read(medium.as_ref(), &Document::State)?.is_some() {
            return Err(StoreError::Exists(medium.location().display().to_string()));
        }
        let state = TrustState::provision(root_bytes, now)?;
        write(medium.as_ref(), &Document::State, &state.encode())?;
        Ok(Self::with_state(medium, state))
    }

    /// Open and re-verify the store in `medium`.
    pub fn open_in(medium: Box<dyn TrustMedium>) -> Result<Self, StoreError> {
        let state = read_state(medium.as_ref())?;
        Ok(Self::with_state(medium, state))
    }

    fn with_state(medium: Box<dyn TrustMedium>, state: TrustState) -> Self {
        let trust = state.trust_list();
        let status = StatusLists::load(medium.as_ref(), &trust);
        TrustStore { medium, state, trust, status }
    }

    /// The status lists held (verified against this store's trust).
    pub fn status_lists(&self) -> &StatusLists {
        &self.status
    }

    /// Take a signed full status list (from any mirror: it is signed). Refused when it does not verify against
    /// this store's trust, is dated in the future, or is older than the list held or than the newest version of it
    /// this store ever held. The store then records that version as the list's mark (see [`ListState::Lost`]).
    pub fn import_status_list(&mut self, signed: &[u8], now: i64) -> Result<StatusUpdate, StoreError> {
        let _lock = lock(self.medium.as_ref())?;
        let state = &self.state;
        let floor = |province: &str, list: u32| state.status_mark(province, list).map(|m| (m.issued_at, m.version));
        let (update, (province, list)) =
            self.status.import_full(signed, &self.trust, now, floor, self.medium.as_ref())?;
        self.raise_status_mark(&province, list)?;
        Ok(update)
    }

    /// The server says the held version of a list is its newest: nothing to fetch; the list's mark is recorded
    /// (a store from before marks gets one).
    pub fn import_status_list_up_to_date(
        &mut self,
        province: &str,
        list: u32,
        version: u64,
    ) -> Result<StatusUpdate, StoreError> {
        let _lock = lock(self.medium.as_ref())?;
        self.raise_status_mark(province, list)?;
        Ok(StatusUpdate::UpToDate(version))
    }

    /// Apply a signed status delta to the list it is for (which must be held, at the delta's base version), and
    /// record the list's new version as its mark.
    pub fn apply_status_delta(&mut self, signed: &[u8], now: i64) -> Result<StatusUpdate, StoreError> {
        let _lock = lock(self.medium.as_ref())?;
        let (update, (province, list)) = self.status.apply_delta(signed, &self.trust, now, self.medium.as_ref())?;
        self.raise_status_mark(&province, list)?;
        Ok(update)
    }

    /// Record the held version of a list as the newest this store has held (the caller holds the lock). The state
    /// is re-read first (another process may have imported a bundle since) and written only when the mark moves.
    fn raise_status_mark(&mut self, province: &str, list: u32) -> Result<(), StoreError> {
        let Some(held) = self.status.get(province, list) else { return Ok(()) };
        let mark = StatusMark { province: province.into(), list, issued_at: held.issued_at, version: held.version };
        let medium = self.medium.as_ref();
        let bytes = read(medium, &Document::State)?
            .ok_or_else(|| StoreError::Missing(medium.location().display().to_string()))?;
        // The state is usually what this store last wrote: only a changed one needs verifying again.
        let on_disk = if bytes == self.state.encode() { self.state.clone() } else { TrustState::decode(&bytes)? };
        let next = on_disk.with_status_mark(mark);
        if next != on_disk {
            write(medium, &Document::State, &next.encode())?;
        }
        if next.bundles() != self.state.bundles() || next.root() != self.state.root() {
            self.trust = next.trust_list();
        }
        self.state = next;
        Ok(())
    }

    /// Where one status list stands on this device.
    pub fn list_state(&self, province: &str, list: u32) -> ListState<'_> {
        let mark = self.state.status_mark(province, list);
        match (self.status.get(province, list), mark) {
            (Some(held), Some(mark)) if (held.issued_at, held.version) < (mark.issued_at, mark.version) => {
                ListState::Lost {
                    reason: format!(
                        "its file holds version {}, older than version {} held before (rolled back?)",
                        held.version, mark.version
                    ),
                }
            }
            (Some(held), _) => ListState::Held(held),
            (None, Some(mark)) => ListState::Lost {
                reason: match self.status.unreadable(province, list) {
                    Some(reason) => format!("version {} was held; {reason}", mark.version),
                    None => format!("version {} was held; its file is missing", mark.version),
                },
            },
            (None, None) => ListState::NeverSynced {
                allowed: self.state.bundles().iter().any(|b| b.province == province && b.policy.allow_unsynced_status),
                unreadable: self.status.unreadable(province, list).map(str::to_string),
            },
        }
    }

    /// Check a verified credential against its status list: revoked or suspended credentials are refused, and so
    /// are those whose list is too far past its time-to-live, was held once and can no longer be read, or was never
    /// synced (unless the issuing province's bundle allows that: then it passes, and [`TrustStore::status_note`]
    /// gives the warning to show). A credential without a status reference passes.
    pub fn check_status(&self, verified: &Verified, now: i64, freshness: &Freshness) -> Result<(), Rejection> {
        let credential = verified.credential();
        let Some(reference) = credential.status else { return Ok(()) };
        let (province, index) = (credential.issuer.clone(), reference.index);
        let list = match self.list_state(&province, reference.list) {
            ListState::Held(list) => list,
            ListState::NeverSynced { allowed: true, .. } => return Ok(()),
            unavailable => {
                return Err(Rejection::StatusUnavailable {
                    province,
                    list: reference.list,
                    reason: unavailable.describe(),
                })
            }
        };
        match list.status(u64::from(index)) {
            Some(Status::Valid) => {}
            Some(Status::Revoked) => return Err(Rejection::Revoked { province, list: reference.list, index }),
            Some(Status::Suspended | Status::Reserved) => {
                return Err(Rejection::Suspended { province, list: reference.list, index })
            }
            None => {
                return Err(Rejection::SchemaInvalid {
                    reason: format!("status index {index} is past the end of list {province}/{}", reference.list),
                })
            }
        }
        if now > list.expires_at().saturating_add(freshness.status_refuse_after) {
            return Err(Rejection::TrustStoreStale {
                reason: format!(
                    "status list {province}/{} is {} h old (time-to-live {} h); sync the status lists",
                    reference.list,
                    now.saturating_sub(list.issued_at) / 3600,
                    list.ttl / 3600
                ),
            });
        }
        Ok(())
    }

    /// A warning to show with a valid answer: its status list is past its time-to-live, or was never synced (so
    /// revocation was not checked; only when the province allows that). `None` when the status is current or the
    /// credential has no status reference.
    pub fn status_note(&self, verified: &Verified, now: i64) -> Option<String> {
        let credential = verified.credential();
        let reference = credential.status?;
        let list = match self.list_state(&credential.issuer, reference.list) {
            ListState::Held(list) => list,
            ListState::NeverSynced { allowed: true, .. } => {
                return Some(format!(
                    "revocation not checked: status list {}/{} never synced on this device; sync",
                    credential.issuer, reference.list
                ))
            }
            // Refused by `check_status`: no valid answer to warn about.
            ListState::NeverSynced { allowed: false, .. } | ListState::Lost { .. } => return None,
        };
        (now > list.expires_at()).then(|| {
            format!(
                "status list {}/{} is {} min old, past its {} min time-to-live; sync soon",
                credential.issuer,
                reference.list,
                now.saturating_sub(list.issued_at) / 60,
                list.ttl / 60
            )
        })
    }

    /// Every status list this store knows of (declared by a province bundle, held, marked as held once, or with a
    /// file it cannot read), in (province, list) order.
    pub fn known_lists(&self) -> Vec<(String, u32)> {
        let mut lists: Vec<(String, u32)> = self
            .state
            .bundles()
            .iter()
            .flat_map(|b| b.status_lists.iter().map(|d| (b.province.clone(), d.list)))
            .chain(self.status.iter().map(|l| (l.province.clone(), l.list)))
            .chain(self.state.status_marks().iter().map(|m| (m.province.clone(), m.list)))
            .chain(self.status.unreadable_lists().map(|(p, l, _)| (p.to_string(), l)))
            .collect();
        lists.sort();
        lists.dedup();
        lists
    }

    /// Apply a trust bundle (bytes as served by any mirror), each part on its own ([`TrustState::update_each`]):
    /// one province's rolled-back or damaged bundle does not hold back the others' updates. What could be taken is
    /// taken and the refused parts are listed in [`UpdateReport::refused`]; when nothing could be taken and
    /// something was refused, the answer is that (first) refusal and the store, in memory and on disk, is
    /// unchanged. Writers are serialised by a lock file, and the update applies to the store as it is on disk
    /// then, so two processes updating one store never undo each other.
    pub fn import(&mut self, bundle_bytes: &[u8], now: i64) -> Result<UpdateReport, StoreError> {
        let bundle = TrustBundle::decode(bundle_bytes)?;
        let _lock = lock(self.medium.as_ref())?;
        let on_disk = read_state(self.medium.as_ref())?;
        let (next, report, refused) = on_disk.update_each(&bundle, now)?;
        let took_something = !report.roots_followed.is_empty() || !report.bundles_updated.is_empty();
        if let Some((_, first)) = refused.into_iter().next().filter(|_| !took_something) {
            return Err(first.into());
        }
        if next != on_disk {
            write(self.medium.as_ref(), &Document::State, &next.encode())?;
        }
        self.trust = next.trust_list();
        self.status = StatusLists::load(self.medium.as_ref(), &self.trust);
        self.state = next;
        Ok(report)
    }

    /// Test hook: make the next write of the store file stop after the temporary file is written and synced,
    /// before the rename, as a crash there would (the import then fails with an I/O error).
    #[cfg(feature = "dangerous-test-hooks")]
    pub fn dangerous_crash_before_next_rename(&mut self) {
        self.medium.dangerous_crash_before_next_rename();
    }

    /// Where the documents are kept.
    pub fn medium(&self) -> &dyn TrustMedium {
        self.medium.as_ref()
    }

    /// The verified trust state.
    pub fn state(&self) -> &TrustState {
        &self.state
    }

    /// Where the store lives (the store file's path, for a store in files).
    pub fn path(&self) -> &Path {
        self.medium.location()
    }

    /// Seconds since the newest trust document was issued.
    pub fn age(&self, now: i64) -> i64 {
        now.saturating_sub(self.state.time_floor())
    }

    /// How fresh the store is at `now`.
    pub fn staleness(&self, now: i64, freshness: &Freshness) -> Staleness {
        let age = self.age(now);
        if age < -freshness.clock_tolerance {
            Staleness::ClockBehind
        } else if age > freshness.refuse_after {
            Staleness::Refuse
        } else if age > freshness.warn_after {
            Staleness::Warn
        } else {
            Staleness::Fresh
        }
    }

    /// Verify QR text with this store's trust, after checking the device clock and the store's age, then its
    /// status list.
    pub fn verify(&self, text: &str, now: i64, policy: &Policy, freshness: &Freshness) -> Result<Verified, Rejection> {
        self.usable(now, freshness)?;
        let verified = verify(text, &self.trust, now, policy)?;
        self.check_status(&verified, now, freshness)?;
        Ok(verified)
    }

    /// Verify many QR texts as [`TrustStore::verify`] does each, with their signatures checked in one batch.
    pub fn verify_many(
        &self,
        texts: &[&str],
        now: i64,
        policy: &Policy,
        freshness: &Freshness,
    ) -> Vec<Result<Verified, Rejection>> {
        if let Err(refusal) = self.usable(now, freshness) {
            return texts.iter().map(|_| Err(refusal.clone())).collect();
        }
        verify_many(texts, &self.trust, now, policy)
            .into_iter()
            .map(|outcome| outcome.and_then(|v| self.check_status(&v, now, freshness).map(|()| v)))
            .collect()
    }

    /// Whether the store can answer at all: the device clock is not behind it, and it is neither too old nor past
    /// its federation root's expiry.
    fn usable(&self, now: i64, freshness: &Freshness) -> Result<(), Rejection> {
        match self.staleness(now, freshness) {
            Staleness::ClockBehind => {
                return Err(Rejection::ClockBehindTrust { now, floor: self.state.time_floor() });
            }
            Staleness::Refuse => {
                return Err(Rejection::TrustStoreStale {
                    reason: format!(
                        "newest trust data is {} h old (limit {} h); sync the trust store",
                        self.age(now) / 3600,
                        freshness.refuse_after / 3600
                    ),
                });
            }
            Staleness::Fresh | Staleness::Warn => {}
        }
        let root = self.state.root();
        if now >= root.expires {
            return Err(Rejection::TrustStoreStale {
                reason: format!(
                    "the federation root v{} expired at {}; sync the trust store",
                    root.version, root.expires
                ),
            });
        }
        Ok(())
    }

    /// The trusted issuer keys.
    pub fn trust_list(&self) -> &TrustList {
        &self.trust
    }
}

fn io_error(medium: &dyn TrustMedium) -> impl Fn(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: medium.location().display().to_string(), source }
}

/// Hold the medium's write lock (writers are serialised: a cron sync and a kiosk import, say).
fn lock(medium: &dyn TrustMedium) -> Result<MediumLock, StoreError> {
    medium.lock().map_err(io_error(medium))
}

pub(crate) fn read(medium: &dyn TrustMedium, document: &Document) -> Result<Option<Vec<u8>>, StoreError> {
    medium.read(document).map_err(io_error(medium))
}

pub(crate) fn write(medium: &dyn TrustMedium, document: &Document, bytes: &[u8]) -> Result<(), StoreError> {
    medium.replace(document, bytes).map_err(io_error(medium))
}

/// The state as the medium holds it, verified.
fn read_state(medium: &dyn TrustMedium) -> Result<TrustState, StoreError> {
    let bytes =
        read(medium, &Document::State)?.ok_or_else(|| StoreError::Missing(medium.location().display().to_string()))?;
    Ok(TrustState::decode(&bytes)?)
}
