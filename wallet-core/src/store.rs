//! Where a resident wallet lives: the [`WalletStorage`] trait (whole-blob load and atomic save) and
//! [`FileStorage`], a file written atomically with owner-only permissions.
//!
//! Storage only moves bytes: the wallet hands it bytes that are already encrypted (see [`crate::wallet`] for the
//! file format), so every implementation is encrypted at rest. A failed open never writes.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::Error;

/// Largest wallet blob read (bounds the work and memory of opening a hostile file).
pub const MAX_WALLET_BYTES: u64 = 16 * 1024 * 1024;

/// Persistence for one wallet blob.
pub trait WalletStorage {
    /// The stored bytes, or `None` when nothing was ever saved.
    fn load(&self) -> Result<Option<Vec<u8>>, Error>;
    /// Replace the stored bytes atomically: after a crash, a later [`WalletStorage::load`] returns either the old
    /// bytes or the new ones, never a mixture.
    fn save(&mut self, bytes: &[u8]) -> Result<(), Error>;
}

/// A wallet in one file. Saving writes `<file>.tmp` in the same directory (mode 0600 on Unix), flushes it to disk,
/// renames it over the file and flushes the directory; a crash at any point leaves the previous file whole (a
/// leftover temporary file is ignored and replaced by the next save).
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
        let mut name = self.path.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "wallet".into());
        name.push(".tmp");
        self.path.with_file_name(name)
    }

    fn io(&self, path: &Path) -> impl Fn(std::io::Error) -> Error {
        let path = path.display().to_string();
        move |source| Error::Storage { path: path.clone(), source }
    }
}

impl WalletStorage for FileStorage {
    fn load(&self) -> Result<Option<Vec<u8>>, Error> {
        use std::io::Read;
        let io = self.io(&self.path);
        let file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let mut bytes = Vec::new();
        file.take(MAX_WALLET_BYTES + 1).read_to_end(&mut bytes).map_err(&io)?;
        if u64::try_from(bytes.len()).map_or(true, |n| n > MAX_WALLET_BYTES) {
            return Err(Error::WalletDamaged { reason: format!("larger than {MAX_WALLET_BYTES} bytes") });
        }
        Ok(Some(bytes))
    }

    fn save(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let temp = self.temp_path();
        let io_temp = self.io(&temp);
        // A leftover from a crash mid-save is garbage by construction: the wallet file is still the last good one.
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
        if let Err(e) = std::fs::rename(&temp, &self.path) {
            let _ = std::fs::remove_file(&temp);
            return Err(self.io(&self.path)(e));
        }
        sync_dir(&self.path).map_err(self.io(&self.path))
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

/// Storage in memory, for tests and for callers that persist the blob themselves.
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    /// The stored bytes.
    pub bytes: Option<Vec<u8>>,
}

impl WalletStorage for MemoryStorage {
    fn load(&self) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.bytes.clone())
    }

    fn save(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.bytes = Some(bytes.to_vec());
        Ok(())
    }
}
