//! [`FileStorage`]: a wallet in one file, beside its lock file and its pending claim-link answer.

use std::path::{Path, PathBuf};

use super::{WalletStorage, WriteLock, MAX_WALLET_BYTES};
use crate::Error;

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
    huren_plumbing::files::replace(path, &temp_of(path), bytes, huren_plumbing::files::Access::Private)
        .map_err(|e| Error::Storage { path: e.path.display().to_string(), source: e.source })
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

/// Flush the directory holding `path`, so a removal survives a power cut.
fn sync_dir(path: &Path) -> std::io::Result<()> {
    use huren_plumbing::files::ReplaceOps;
    huren_plumbing::files::RealFs.sync_dir(huren_plumbing::files::directory_of(path))
}
