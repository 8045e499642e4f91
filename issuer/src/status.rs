//! Revocation status on the issuer: where each credential sits in a status list, and the signed lists and deltas
//! the province publishes.
//!
//! Every list belongs to one province: provinces that share a database each have their own lists 1, 2, ...
//!
//! Allocation: a list has `list_size` indices cut into blocks of [`BLOCK_SIZE`]. A node reserves a block chosen at
//! random among the free ones (a row in `status_blocks`, so two nodes never hold the same block) and hands out its
//! indices in a random order; when a list has no free block, the next list starts. An index is never handed out
//! twice (a unique index on the credentials backs this up); indices of a block a node did not finish before it
//! stopped are left unused.
//!
//! Publication: every `interval` the publisher rebuilds each list from the database and, when it changed or when
//! half its time-to-live has passed, signs a new version and records it. Deltas from any recorded version to the
//! newest are computed on demand and kept in memory.

use std::collections::HashMap;
use std::sync::Arc;

use huren_keys::status::{Status, StatusList};
use huren_wallet_core::StatusRef;
use ring::rand::SecureRandom;

use crate::storage::{CredentialStatus, Database};
use crate::{Error, Province};

/// Indices per block.
pub const BLOCK_SIZE: u32 = 4096;
/// Default entries per status list (2^20: 256 blocks).
pub const DEFAULT_LIST_SIZE: u32 = 1 << 20;
/// Deltas are served from at most this many versions back; an older verifier takes the full list.
const MAX_DELTA_SPAN: u64 = 1024;
/// Signed deltas cached per list (from distinct versions) before the cache starts over.
const MAX_DELTA_SPAN_CACHE: usize = 64;
/// Default time-to-live of a published list, in seconds.
pub const DEFAULT_TTL_SECONDS: i64 = 3600;
/// Default interval between publications, in seconds: a revocation is visible within it.
pub const DEFAULT_INTERVAL_SECONDS: u64 = 60;

/// How a province's status lists are laid out and published.
#[derive(Debug, Clone)]
pub struct StatusConfig {
    /// Entries per list (a multiple of [`BLOCK_SIZE`]).
    pub list_size: u32,
    /// Time-to-live of each published version, in seconds.
    pub ttl_seconds: i64,
    /// Interval between publications.
    pub interval: std::time::Duration,
    /// This node's name in block reservations.
    pub node: String,
}

impl Default for StatusConfig {
    fn default() -> Self {
        StatusConfig {
            list_size: DEFAULT_LIST_SIZE,
            ttl_seconds: DEFAULT_TTL_SECONDS,
            interval: std::time::Duration::from_secs(DEFAULT_INTERVAL_SECONDS),
            node: "node-1".into(),
        }
    }
}

fn random_below(n: u32) -> Result<u32, Error> {
    let mut bytes = [0u8; 4];
    ring::rand::SystemRandom::new().fill(&mut bytes).map_err(|_| Error::Random)?;
    Ok(u32::from_le_bytes(bytes) % n.max(1))
}

/// Hands out status references.
#[derive(Debug)]
struct Allocator {
    list: u32,
    /// Indices of the current block not yet handed out, in random order.
    free: Vec<u32>,
}

/// One list as last published.
struct Published {
    list: StatusList,
    signed: Arc<Vec<u8>>,
    /// Signed deltas from older versions to this one.
    deltas: HashMap<u64, Arc<Vec<u8>>>,
}

/// Status allocation and publication for one issuer node.
pub struct StatusService {
    config: StatusConfig,
    allocator: tokio::sync::Mutex<Allocator>,
    published: std::sync::RwLock<HashMap<u32, Arc<tokio::sync::Mutex<Published>>>>,
    /// The newest signed version of each list, for readers: never blocked by a publication in progress.
    newest: std::sync::RwLock<HashMap<u32, SignedVersion>>,
    /// Status references handed out since this service started.
    handed_out: std::sync::atomic::AtomicU64,
}

/// A version number and the signed document of that version.
type SignedVersion = (u64, Arc<Vec<u8>>);

impl std::fmt::Debug for StatusService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusService").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Default for StatusService {
    fn default() -> Self {
        StatusService::unchecked(StatusConfig::default())
    }
}

impl StatusService {
    /// A service with this layout (allocation starts in list 1).
    pub fn new(config: StatusConfig) -> Result<Self, Error> {
        let max_entries = huren_keys::status::MAX_STATUS_ENTRIES;
        let ttl_ok = config.ttl_seconds > 0 && config.ttl_seconds <= huren_keys::status::MAX_STATUS_TTL;
        if config.list_size == 0
            || !config.list_size.is_multiple_of(BLOCK_SIZE)
            || u64::from(config.list_size) > max_entries
            || !ttl_ok
        {
            return Err(Error::Request(format!(
                "status lists: a size that is a multiple of {BLOCK_SIZE} up to {max_entries}, a time-to-live of 1 s \
                 to 7 days"
            )));
        }
        Ok(StatusService::unchecked(config))
    }

    fn unchecked(config: StatusConfig) -> Self {
        StatusService {
            config,
            allocator: tokio::sync::Mutex::new(Allocator { list: 1, free: Vec::new() }),
            published: std::sync::RwLock::new(HashMap::new()),
            newest: std::sync::RwLock::new(HashMap::new()),
            handed_out: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// How many status references this service has handed out since it started (each is used at most once:
    /// one handed out for a request that is then not issued is an index of the list left unused).
    pub fn handed_out(&self) -> u64 {
        self.handed_out.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The configuration.
    pub fn config(&self) -> &StatusConfig {
        &self.config
    }

    /// `count` fresh status references in `province`'s lists (a service serves one province; provinces that share
    /// a database each have lists of their own).
    pub async fn allocate(
        &self,
        db: &Database,
        province: &str,
        count: usize,
        now: i64,
    ) -> Result<Vec<StatusRef>, Error> {
        let mut allocator = self.allocator.lock().await;
        let mut refs = Vec::with_capacity(count);
        while refs.len() < count {
            match allocator.free.pop() {
                Some(index) => {
                    refs.push(StatusRef { list: allocator.list, index });
                    self.handed_out.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                None => self.reserve_block(db, province, &mut allocator, now).await?,
            }
        }
        Ok(refs)
    }

    /// Reserve a random free block of `province`, moving on to the next list when this one is full.
    async fn reserve_block(
        &self,
        db: &Database,
        province: &str,
        allocator: &mut Allocator,
        now: i64,
    ) -> Result<(), Error> {
        let blocks = self.config.list_size / BLOCK_SIZE;
        loop {
            let taken: std::collections::HashSet<u32> =
                db.status_blocks(province, allocator.list).await?.into_iter().collect();
            let free: Vec<u32> = (0..blocks).filter(|b| !taken.contains(b)).collect();
            if free.is_empty() {
                allocator.list =
                    allocator.list.checked_add(1).ok_or_else(|| Error::Request("no status list".into()))?;
                continue;
            }
            let block = free[usize::try_from(random_below(u32::try_from(free.len()).unwrap_or(u32::MAX))?)
                .map_err(|_| Error::Request("block".into()))?];
            if !db.reserve_status_block(province, allocator.list, block, &self.config.node, now).await? {
                continue; // another node took it meanwhile
            }
            // Fisher-Yates over the block's indices.
            let mut indices: Vec<u32> = (block * BLOCK_SIZE..(block + 1) * BLOCK_SIZE).collect();
            for i in (1..indices.len()).rev() {
                let j = usize::try_from(random_below(u32::try_from(i + 1).unwrap_or(u32::MAX))?)
                    .map_err(|_| Error::Request("shuffle".into()))?;
                indices.swap(i, j);
            }
            allocator.free = indices;
            return Ok(());
        }
    }

    fn slot(&self, list: u32) -> Option<Arc<tokio::sync::Mutex<Published>>> {
        self.published.read().ok().and_then(|p| p.get(&list).cloned())
    }

    /// Publish every list in use whose statuses changed since its last version, or whose last version is past
    /// half its time-to-live, or that was never published; returns the (list, version) pairs published. A list
    /// that fails is logged and skipped; the others are still published.
    pub async fn publish(&self, province: &Province, db: &Database, now: i64) -> Result<Vec<(u32, u64)>, Error> {
        let mut published = Vec::new();
        for list in db.status_lists(province.code()).await? {
            match self.publish_list(province, db, list, now).await {
                Ok(Some(version)) => published.push((list, version)),
                Ok(None) => {}
                Err(e) => tracing::error!(list, error = %e, "status list not published"),
            }
        }
        Ok(published)
    }

    /// The slot of `list`, loaded from the newest publication in the database the first time.
    async fn load_slot(
        &self,
        province: &Province,
        db: &Database,
        list: u32,
        now: i64,
    ) -> Result<Arc<tokio::sync::Mutex<Published>>, Error> {
        if let Some(slot) = self.slot(list) {
            return Ok(slot);
        }
        let fresh = match db.publication(province.code(), list, None).await? {
            Some(signed) => Published { list: payload_of(&signed)?, signed: Arc::new(signed), deltas: HashMap::new() },
            None => {
                let size = u64::from(self.config.list_size);
                let empty = StatusList::new(province.code(), list, size, now, self.config.ttl_seconds)?;
                Published { signed: Arc::new(Vec::new()), list: empty, deltas: HashMap::new() }
            }
        };
        let slot = Arc::new(tokio::sync::Mutex::new(fresh));
        if let Ok(mut map) = self.published.write() {
            map.entry(list).or_insert_with(|| slot.clone());
        }
        Ok(self.slot(list).unwrap_or(slot))
    }

    /// Publish one list if it needs it; the new version, if any.
    async fn publish_list(
        &self,
        province: &Province,
        db: &Database,
        list: u32,
        now: i64,
    ) -> Result<Option<u64>, Error> {
        // Lock the list before reading the database, so what is read is never older than what is held.
        let slot = self.load_slot(province, db, list, now).await?;
        let mut current = slot.lock().await;
        self.show(&current);
        let mut bits = huren_keys::status::StatusBits::new(current.list.bits.len())?;
        for (index, status) in db.non_valid_in_list(province.code(), list).await? {
            let status = match status {
                CredentialStatus::Valid => Status::Valid,
                CredentialStatus::Revoked => Status::Revoked,
                CredentialStatus::Suspended => Status::Suspended,
            };
            bits.set(u64::from(index), status)?;
        }
        let never = current.signed.is_empty();
        let stale = now >= current.list.issued_at.saturating_add(current.list.ttl / 2);
        if !never && !stale && current.list.bits == bits {
            return Ok(None);
        }
        let next = StatusList {
            province: province.code().to_string(),
            list,
            version: if never { 1 } else { current.list.version + 1 },
            issued_at: now,
            ttl: self.config.ttl_seconds,
            bits,
        };
        let signed = next.sign(province.issuer_key())?;
        let version = next.version;
        let ours = db.insert_publication(province.code(), list, version, now, &signed).await?;
        if ours {
            *current = Published { list: next, signed: Arc::new(signed), deltas: HashMap::new() };
        } else if let Some(theirs) = db.publication(province.code(), list, None).await? {
            // Another node published this version first: serve theirs.
            *current = Published { list: payload_of(&theirs)?, signed: Arc::new(theirs), deltas: HashMap::new() };
        }
        self.show(&current);
        Ok(ours.then_some(version))
    }

    /// Make `published` the version readers get.
    fn show(&self, published: &Published) {
        if published.signed.is_empty() {
            return;
        }
        if let Ok(mut newest) = self.newest.write() {
            newest.insert(published.list.list, (published.list.version, published.signed.clone()));
        }
    }

    /// The newest signed version of `list` and its version number, if published.
    pub(crate) fn latest(&self, list: u32) -> Option<SignedVersion> {
        self.newest.read().ok()?.get(&list).cloned()
    }

    /// A signed delta from version `from` of `list` to the newest: `Ok(None)` when `from` is unknown (the
    /// verifier then fetches the full list).
    pub(crate) async fn delta(
        &self,
        province: &Province,
        db: &Database,
        list: u32,
        from: u64,
    ) -> Result<Option<(u64, Arc<Vec<u8>>)>, Error> {
        let Some(slot) = self.slot(list) else { return Ok(None) };
        let mut current = slot.lock().await;
        if current.signed.is_empty() || from >= current.list.version {
            return Ok(None);
        }
        if let Some(delta) = current.deltas.get(&from) {
            return Ok(Some((current.list.version, delta.clone())));
        }
        if current.list.version - from > MAX_DELTA_SPAN {
            return Ok(None);
        }
        let Some(old) = db.publication(province.code(), list, Some(from)).await? else { return Ok(None) };
        // A delta that cannot be made (another layout, too many changes) is no delta: the client takes the list.
        let Ok(delta) = payload_of(&old).and_then(|old| Ok(old.delta_to(&current.list)?)) else { return Ok(None) };
        let signed = Arc::new(delta.sign(province.issuer_key())?);
        if current.deltas.len() >= MAX_DELTA_SPAN_CACHE {
            current.deltas.clear();
        }
        current.deltas.insert(from, signed.clone());
        Ok(Some((current.list.version, signed)))
    }
}

/// The list inside one of our own signed publications (read back from our database).
fn payload_of(signed: &[u8]) -> Result<StatusList, Error> {
    let sign1 = huren_keys::cose::Sign1::parse(signed)?;
    Ok(StatusList::from_payload(sign1.unverified_payload())?)
}
