//! Where a resident wallet lives: the [`WalletStorage`] trait (whole-blob load and atomic save, a write lock, and
//! a slot for a claim-link answer pending import) and [`FileStorage`], files written atomically with owner-only
//! permissions and a lock file.
//!
//! Storage only moves bytes: the wallet hands it bytes that are already encrypted (see [`crate::wallet`] for the
//! file format), so every implementation is encrypted at rest. A failed open never writes.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::Error;

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

/// A wallet in one file. Saving writes `<file>.tmp` in the same directory (mode 0600 on Unix), flushes it to disk,
/// renames it over the file and flushes the directory; a crash at any point leaves the previous file whole (a
/// leftover temporary file is ignored and replaced by the next save).
///
/// Writers are serialised by an exclusive lock on `<file>.lock` (created on first use and never removed: removing
/// a lock file lets two writers lock two different files). A claim-link answer pending import is kept in
/// `<file>.pending`, written the same way as the wallet.
#[derive(Debug, Clone)]
pub struct FileStorage {
    path: PathBuf,
}

impl FileStorage {
    /// Storage at `path` (the file need not exist yet; its directory must).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileStorage { path: path.into() }
    }

    /// The wallet file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The temporary file a save writes before renaming it over the wallet file.
    pub fn temp_path(&self) -> PathBuf {
        temp_of(&self.path)
    }

    /// The lock file that serialises writers.
    pub fn lock_path(&self) -> PathBuf {
        self.sibling(".lock")
    }

    /// Where a claim-link answer pending import is kept (sealed with the wallet's passphrase).
    pub fn pending_path(&self) -> PathBuf {
        self.sibling(".pending")
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut name = self.path.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "wallet".into());
        name.push(suffix);
        self.path.with_file_name(name)
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error {
    let path = path.display().to_string();
    move |source| Error::Storage { path: path.clone(), source }
}

fn temp_of(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "wallet".into());
    name.push(".tmp");
    path.with_file_name(name)
}

/// Read a whole file of at most [`MAX_WALLET_BYTES`]; `None` when it does not exist.
fn read_capped(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    use std::io::Read;
    let io = io(path);
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_WALLET_BYTES + 1).read_to_end(&mut bytes).map_err(&io)?;
    if u64::try_from(bytes.len()).map_or(true, |n| n > MAX_WALLET_BYTES) {
        return Err(Error::WalletDamaged {
            reason: format!("{} is larger than {MAX_WALLET_BYTES} bytes", path.display()),
        });
    }
    Ok(Some(bytes))
}

/// Replace `path` with `bytes`: `<path>.tmp` (mode 0600), fsync, rename, fsync of the directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let temp = temp_of(path);
    let io_temp = io(&temp);
    // A leftover from a crash mid-save is garbage by construction: the file is still the last good one.
    match std::fs::remove_file(&temp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_temp(e)),
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&temp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(io_temp(e));
    }
    if let Err(e) = std::fs::rename(&temp, path) {
        let _ = std::fs::remove_file(&temp);
        return Err(io(path)(e));
    }
    sync_dir(path).map_err(io(path))
}

impl WalletStorage for FileStorage {
    fn load(&self) -> Result<Option<Vec<u8>>, Error> {
        read_capped(&self.path)
    }

    fn save(&mut self, bytes: &[u8]) -> Result<(), Error> {
        write_atomically(&self.path, bytes)
    }

    fn lock(&self) -> Result<WriteLock, Error> {
        let path = self.lock_path();
        let io = io(&path);
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(&path).map_err(&io)?;
        // Blocks while another writer holds it: every holder is a bounded read-change-save (at most one claim-link
        // redemption, itself under a timeout). The lock is the open file's, so it also ends if the holder dies.
        file.lock().map_err(&io)?;
        Ok(WriteLock::holding(file))
    }

    fn load_pending(&self) -> Result<Option<Vec<u8>>, Error> {
        read_capped(&self.pending_path())
    }

    fn save_pending(&mut self, bytes: &[u8]) -> Result<(), Error> {
        write_atomically(&self.pending_path(), bytes)
    }

    fn remove_pending(&mut self) -> Result<(), Error> {
        let path = self.pending_path();
        match std::fs::remove_file(&path) {
            Ok(()) => sync_dir(&path).map_err(io(&path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&path)(e)),
        }
    }
}

/// Flush the directory holding `path`, so the rename itself survives a power cut.
fn sync_dir(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
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
