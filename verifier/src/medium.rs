//! Where a [`crate::store::TrustStore`] keeps its documents: the [`TrustMedium`] trait, [`MemoryMedium`], and with
//! the `files` feature [`FileMedium`] (one file for the trust state, a directory of status-list files beside it).
//! The store decides what to write and when; a medium only keeps bytes, replaces each document atomically and
//! serialises writers. A phone app implements the trait over its own storage (IndexedDB, say).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

/// A status list's identity: (province, list id).
pub type ListKey = (String, u32);

/// One document a trust store keeps.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Document {
    /// The verified trust state (federation root, province bundles, marks): `TrustState::encode`.
    State,
    /// One status list's chain: the signed full list and the signed deltas applied to it.
    StatusList(ListKey),
    /// Sync's cache hints (the ETag each URL last gave): never trusted, losing them costs one download.
    SyncHints,
}

/// Proof that a writer holds a medium's write lock; dropping it releases the lock (the wallet's storage uses the
/// same token).
pub use huren_wallet_core::store::WriteLock as MediumLock;

/// Persistence for a trust store's documents.
pub trait TrustMedium: std::fmt::Debug + Send + Sync {
    /// Where the documents live, for messages (the store file's path for [`FileMedium`]).
    fn location(&self) -> &Path;
    /// A document's bytes, or `None` when it was never written.
    fn read(&self, document: &Document) -> std::io::Result<Option<Vec<u8>>>;
    /// Replace a document atomically: a later read returns the old bytes or the new ones, never a mixture.
    fn replace(&self, document: &Document, bytes: &[u8]) -> std::io::Result<()>;
    /// Every status list with a document here (whether or not it can be read).
    fn status_lists(&self) -> std::io::Result<Vec<ListKey>>;
    /// Hold off every other writer (in this process or another) until the lock is dropped.
    fn lock(&self) -> std::io::Result<MediumLock>;
    /// Test hook: the next replacement fails as a crash between writing and committing would, leaving the old
    /// document. Media that cannot simulate it ignore it.
    #[cfg(feature = "dangerous-test-hooks")]
    fn dangerous_crash_before_next_rename(&self) {}
}

/// Documents in memory: for tests, and for callers that persist them themselves. Clones share the documents.
#[derive(Debug, Clone, Default)]
pub struct MemoryMedium {
    name: PathBuf,
    documents: Arc<Mutex<BTreeMap<Document, Vec<u8>>>>,
    /// Whether a writer holds the lock, and the signal for those waiting.
    writer: Arc<(Mutex<bool>, Condvar)>,
}

impl MemoryMedium {
    /// An empty medium; `name` is what messages call it.
    pub fn new(name: &str) -> Self {
        MemoryMedium { name: PathBuf::from(name), ..MemoryMedium::default() }
    }

    /// Every document held, to persist elsewhere.
    pub fn documents(&self) -> BTreeMap<Document, Vec<u8>> {
        self.documents.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl TrustMedium for MemoryMedium {
    fn location(&self) -> &Path {
        &self.name
    }

    fn read(&self, document: &Document) -> std::io::Result<Option<Vec<u8>>> {
        Ok(self.documents.lock().unwrap_or_else(PoisonError::into_inner).get(document).cloned())
    }

    fn replace(&self, document: &Document, bytes: &[u8]) -> std::io::Result<()> {
        self.documents.lock().unwrap_or_else(PoisonError::into_inner).insert(document.clone(), bytes.to_vec());
        Ok(())
    }

    fn status_lists(&self) -> std::io::Result<Vec<ListKey>> {
        let documents = self.documents.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(documents
            .keys()
            .filter_map(|d| match d {
                Document::StatusList(key) => Some(key.clone()),
                _ => None,
            })
            .collect())
    }

    fn lock(&self) -> std::io::Result<MediumLock> {
        let (held, released) = &*self.writer;
        let mut taken = held.lock().unwrap_or_else(PoisonError::into_inner);
        while *taken {
            taken = released.wait(taken).unwrap_or_else(PoisonError::into_inner);
        }
        *taken = true;
        Ok(MediumLock::holding(MemoryLock(Arc::clone(&self.writer))))
    }
}

/// The held write lock of a [`MemoryMedium`]: an owned guard (the store keeps it across calls), released on drop.
struct MemoryLock(Arc<(Mutex<bool>, Condvar)>);

impl Drop for MemoryLock {
    fn drop(&mut self) {
        let (held, released) = &*self.0;
        *held.lock().unwrap_or_else(PoisonError::into_inner) = false;
        released.notify_one();
    }
}

#[cfg(feature = "files")]
pub use file::FileMedium;

#[cfg(feature = "files")]
mod file {
    use super::*;

    /// A trust store in files: the state in `path`, each status list in `<path>.status/<province>-<list>.cbor`,
    /// sync's hints in `<path>.etags.json`, writers serialised by `.<name>.lock`. Each file is replaced atomically
    /// (temporary file, fsync, rename, directory fsync), so a crash leaves the old file or the new one.
    #[derive(Debug, Clone)]
    pub struct FileMedium {
        path: PathBuf,
        crash_before_next_rename: Arc<std::sync::atomic::AtomicBool>,
    }

    impl FileMedium {
        /// The medium of the store at `path` (nothing is read or created yet).
        pub fn new(path: &Path) -> Self {
            FileMedium { path: path.to_path_buf(), crash_before_next_rename: Arc::default() }
        }

        /// The directory beside a trust store where its status lists live.
        pub fn status_dir(store: &Path) -> PathBuf {
            let mut name = store.as_os_str().to_owned();
            name.push(".status");
            name.into()
        }

        /// The temporary file an update of the store file writes before renaming it over the store (a crash may
        /// leave it behind; it is never read).
        pub fn temp_path(path: &Path) -> PathBuf {
            huren_plumbing::files::temp_beside(path, ".", ".tmp")
        }

        fn file_of(&self, document: &Document) -> PathBuf {
            match document {
                Document::State => self.path.clone(),
                Document::StatusList((province, list)) => {
                    Self::status_dir(&self.path).join(format!("{province}-{list}.cbor"))
                }
                Document::SyncHints => {
                    let mut name = self.path.as_os_str().to_owned();
                    name.push(".etags.json");
                    name.into()
                }
            }
        }
    }

    /// The (province, list) a list file's name stands for (`CN-GD-1.cbor`); `None` for any other file (a
    /// temporary file a crash left behind, say).
    fn list_of_file(name: &str) -> Option<ListKey> {
        let stem = name.strip_suffix(".cbor").filter(|_| !name.starts_with('.'))?;
        let (province, list) = stem.rsplit_once('-')?;
        let list = list.parse().ok().filter(|l: &u32| l.to_string() == list)?;
        huren_keys::is_province_code(province).then(|| (province.to_string(), list))
    }

    /// Stops after the temporary file is synced, as a crash before the rename would.
    struct CrashBeforeRename;

    impl huren_plumbing::files::ReplaceOps for CrashBeforeRename {
        fn write_synced(
            &mut self,
            path: &Path,
            bytes: &[u8],
            access: huren_plumbing::files::Access,
        ) -> std::io::Result<()> {
            huren_plumbing::files::RealFs.write_synced(path, bytes, access)
        }
        fn rename(&mut self, _from: &Path, _to: &Path) -> std::io::Result<()> {
            Err(std::io::Error::other("simulated crash between write and rename"))
        }
        fn sync_dir(&mut self, _dir: &Path) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl TrustMedium for FileMedium {
        fn location(&self) -> &Path {
            &self.path
        }

        fn read(&self, document: &Document) -> std::io::Result<Option<Vec<u8>>> {
            match std::fs::read(self.file_of(document)) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        }

        fn replace(&self, document: &Document, bytes: &[u8]) -> std::io::Result<()> {
            use huren_plumbing::files::{replace_with, Access, RealFs, ReplaceOps};
            let path = self.file_of(document);
            std::fs::create_dir_all(huren_plumbing::files::directory_of(&path))?;
            let crash = self.crash_before_next_rename.swap(false, std::sync::atomic::Ordering::SeqCst);
            let mut ops: Box<dyn ReplaceOps> = if crash { Box::new(CrashBeforeRename) } else { Box::new(RealFs) };
            replace_with(ops.as_mut(), &path, &Self::temp_path(&path), bytes, Access::Default).map_err(|e| e.source)
        }

        fn status_lists(&self) -> std::io::Result<Vec<ListKey>> {
            let entries = match std::fs::read_dir(Self::status_dir(&self.path)) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e),
            };
            Ok(entries.flatten().filter_map(|e| list_of_file(&e.file_name().to_string_lossy())).collect())
        }

        fn lock(&self) -> std::io::Result<MediumLock> {
            std::fs::create_dir_all(huren_plumbing::files::directory_of(&self.path))?;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(huren_plumbing::files::temp_beside(&self.path, ".", ".lock"))?;
            file.lock()?;
            Ok(MediumLock::holding(file))
        }

        /// The next replacement stops after the temporary file is written and synced, before the rename.
        #[cfg(feature = "dangerous-test-hooks")]
        fn dangerous_crash_before_next_rename(&self) {
            self.crash_before_next_rename.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}
