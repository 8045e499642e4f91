//! Where a resident wallet lives: the [`WalletStorage`] trait (whole-blob load and atomic save, a write lock, and
//! a slot for a claim-link answer pending import), [`MemoryStorage`], and with the `files` feature
//! `FileStorage`, files written atomically with owner-only permissions and a lock file. A phone app implements
//! the trait over its own storage.
//!
//! Storage only moves bytes: the wallet hands it bytes that are already encrypted (see [`crate::wallet`] for the
//! file format), so every implementation is encrypted at rest. A failed open never writes.

use crate::Error;

#[cfg(feature = "files")]
mod file;
#[cfg(feature = "files")]
pub use file::FileStorage;

/// Largest wallet blob read (bounds the work and memory of opening a hostile file).
pub const MAX_WALLET_BYTES: u64 = 16 * 1024 * 1024;

/// Persistence for one wallet blob, plus the one claim-link answer that may be pending import beside it.
pub trait WalletStorage {
    /// The stored bytes, or `None` when nothing was ever saved.
    fn load(&self) -> Result<Option<Vec<u8>>, Error>;
    /// Replace the stored bytes atomically: after a crash, a later [`WalletStorage::load`] returns either the old
    /// bytes or the new ones, never a mixture.
    fn save(&mut self, bytes: &[u8]) -> Result<(), Error>;
    /// Hold off every other writer of this storage (in this process or another) until the returned lock is
    /// dropped, waiting for the current holder if need be. [`crate::wallet::Wallet::update`] takes it around its
    /// read, change and save, so writers never undo each other. Storage that only one writer can reach (such as
    /// [`MemoryStorage`]) returns [`WriteLock::none`].
    fn lock(&self) -> Result<WriteLock, Error>;
    /// The sealed claim-link answer pending import (see [`crate::wallet::Wallet::import_claim_link`]), or `None`.
    fn load_pending(&self) -> Result<Option<Vec<u8>>, Error>;
    /// Keep a sealed claim-link answer, atomically, replacing any earlier one.
    fn save_pending(&mut self, bytes: &[u8]) -> Result<(), Error>;
    /// Forget the pending claim-link answer (nothing pending is not an error).
    fn remove_pending(&mut self) -> Result<(), Error>;
}

/// Proof that a writer holds a storage's write lock ([`WalletStorage::lock`]); dropping it releases the lock.
#[must_use = "the lock is released as soon as this is dropped"]
pub struct WriteLock {
    _held: Option<Box<dyn std::any::Any + Send>>,
}

impl WriteLock {
    /// No lock to hold: for storage no other writer can reach.
    pub fn none() -> Self {
        WriteLock { _held: None }
    }

    /// A lock held for as long as `resource` lives (an open, locked file, say).
    pub fn holding(resource: impl std::any::Any + Send) -> Self {
        WriteLock { _held: Some(Box::new(resource)) }
    }
}

impl std::fmt::Debug for WriteLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self._held.is_some() { "WriteLock(held)" } else { "WriteLock(none)" })
    }
}

/// Storage in memory, for tests and for callers that persist the blob themselves. It has no lock: only its owner
/// can reach it.
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    /// The stored bytes.
    pub bytes: Option<Vec<u8>>,
    /// The sealed claim-link answer pending import.
    pub pending: Option<Vec<u8>>,
}

impl WalletStorage for MemoryStorage {
    fn load(&self) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.bytes.clone())
    }

    fn save(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.bytes = Some(bytes.to_vec());
        Ok(())
    }

    fn lock(&self) -> Result<WriteLock, Error> {
        Ok(WriteLock::none())
    }

    fn load_pending(&self) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.pending.clone())
    }

    fn save_pending(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.pending = Some(bytes.to_vec());
        Ok(())
    }

    fn remove_pending(&mut self) -> Result<(), Error> {
        self.pending = None;
        Ok(())
    }
}
