//! Files as Huren's stores keep them: replaced atomically, read with a cap, under a per-user data directory.
//!
//! [`replace`] writes a temporary file, flushes it, renames it over the target and flushes the directory: a crash
//! leaves the old file or the new one, never half of one, and once it returns the rename itself is on disk (until
//! the directory is flushed, a power cut may bring the old file back after a later step relied on the new one).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Who may read the file a [`replace`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The process's umask decides (public data: trust stores, status lists, published documents).
    Default,
    /// Owner only (mode 0600 on Unix): wallets, keys, anything sealed or secret.
    Private,
}

/// The file system steps a replacement is made of, so a test can see which run, in which order, and make one fail
/// (or stop between two, as a crash would). [`RealFs`] does them for real.
pub trait ReplaceOps {
    /// Write `bytes` to a new file at `path` (removing a leftover from a crash first) and flush it to disk.
    fn write_synced(&mut self, path: &Path, bytes: &[u8], access: Access) -> std::io::Result<()>;
    /// Rename `from` over `to`.
    fn rename(&mut self, from: &Path, to: &Path) -> std::io::Result<()>;
    /// Flush a directory's entries to disk.
    fn sync_dir(&mut self, dir: &Path) -> std::io::Result<()>;
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealFs;

impl ReplaceOps for RealFs {
    fn write_synced(&mut self, path: &Path, bytes: &[u8], access: Access) -> std::io::Result<()> {
        // A leftover from a crash mid-write is garbage by construction: the target is still the last good file.
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if access == Access::Private {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = access;
        let written = options.open(path).and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        });
        if written.is_err() {
            let _ = std::fs::remove_file(path);
        }
        written
    }

    fn rename(&mut self, from: &Path, to: &Path) -> std::io::Result<()> {
        std::fs::rename(from, to).inspect_err(|_| {
            let _ = std::fs::remove_file(from);
        })
    }

    fn sync_dir(&mut self, dir: &Path) -> std::io::Result<()> {
        #[cfg(unix)]
        {
            std::fs::File::open(dir)?.sync_all()
        }
        #[cfg(not(unix))]
        {
            let _ = dir;
            Ok(())
        }
    }
}

/// Which step of a replacement failed, on which file.
#[derive(Debug, thiserror::Error)]
#[error("replacing {}", path.display())]
pub struct ReplaceError {
    /// The file the failing step was about (the temporary file, the target, or its directory).
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: std::io::Error,
}

/// Replace `path` with `bytes` atomically, through `temp` (which must be in the same directory, and which no other
/// writer uses at the same time: callers hold their store's lock). The directory must exist.
pub fn replace(path: &Path, temp: &Path, bytes: &[u8], access: Access) -> Result<(), ReplaceError> {
    replace_with(&mut RealFs, path, temp, bytes, access)
}

/// [`replace`] over `ops`.
pub fn replace_with(
    ops: &mut dyn ReplaceOps,
    path: &Path,
    temp: &Path,
    bytes: &[u8],
    access: Access,
) -> Result<(), ReplaceError> {
    let dir = directory_of(path);
    ops.write_synced(temp, bytes, access).map_err(failed(temp))?;
    ops.rename(temp, path).map_err(failed(path))?;
    ops.sync_dir(dir).map_err(failed(dir))
}

/// The temporary file beside `path` named `<prefix><file name><suffix>` (a hidden `.store.tmp`, say).
pub fn temp_beside(path: &Path, prefix: &str, suffix: &str) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "file".into());
    path.with_file_name(format!("{prefix}{name}{suffix}"))
}

fn failed(path: &Path) -> impl Fn(std::io::Error) -> ReplaceError + '_ {
    move |source| ReplaceError { path: path.to_path_buf(), source }
}

/// The directory that holds `path` (`.` for a bare file name).
pub fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Read at most `cap` bytes; a longer input yields `cap + 1` bytes, so the caller can tell it was too long without
/// ever holding more.
pub fn read_capped(reader: impl Read, cap: usize) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1)).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Where a CLI keeps `file` when the user names no path: `$<env_var>` when set, else `huren/<file>` under
/// `$XDG_DATA_HOME`, else under `~/.local/share`. `None` when none of these is set.
pub fn data_path(env_var: &str, file: &str) -> Option<PathBuf> {
    if let Some(explicit) = std::env::var_os(env_var) {
        return Some(PathBuf::from(explicit));
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))?;
    Some(base.join("huren").join(file))
}

/// A file that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading {}", path.display())]
pub struct ReadError {
    /// The file.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: std::io::Error,
}

/// The passphrase of a sealed key, as every CLI reads it: `$HUREN_KEY_PASSPHRASE`, else the first line of the file
/// `$HUREN_KEY_PASSPHRASE_FILE` (a systemd credential, say), else none (a plain key file needs none).
pub fn key_passphrase() -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, ReadError> {
    if let Some(phrase) = std::env::var_os("HUREN_KEY_PASSPHRASE") {
        return Ok(Some(zeroize::Zeroizing::new(phrase.into_encoded_bytes())));
    }
    let Some(path) = std::env::var_os("HUREN_KEY_PASSPHRASE_FILE").map(PathBuf::from) else { return Ok(None) };
    let text = zeroize::Zeroizing::new(std::fs::read_to_string(&path).map_err(|source| ReadError { path, source })?);
    Ok(Some(zeroize::Zeroizing::new(text.lines().next().unwrap_or_default().as_bytes().to_vec())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("huren-plumbing-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// Records each step and fails the one named.
    struct Recording {
        steps: Vec<String>,
        fail: &'static str,
    }

    impl ReplaceOps for Recording {
        fn write_synced(&mut self, path: &Path, bytes: &[u8], access: Access) -> std::io::Result<()> {
            self.steps.push("write".into());
            if self.fail == "write" {
                return Err(std::io::Error::other("disk full"));
            }
            RealFs.write_synced(path, bytes, access)
        }
        fn rename(&mut self, from: &Path, to: &Path) -> std::io::Result<()> {
            self.steps.push("rename".into());
            if self.fail == "rename" {
                return Err(std::io::Error::other("crash"));
            }
            RealFs.rename(from, to)
        }
        fn sync_dir(&mut self, dir: &Path) -> std::io::Result<()> {
            self.steps.push("sync_dir".into());
            if self.fail == "sync_dir" {
                return Err(std::io::Error::other("I/O error"));
            }
            RealFs.sync_dir(dir)
        }
    }

    #[test]
    fn replaces_in_order() {
        let dir = dir("order");
        let path = dir.join("sub/store.cbor");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let temp = temp_beside(&path, ".", ".tmp");
        assert_eq!(temp, dir.join("sub/.store.cbor.tmp"));
        let mut ops = Recording { steps: vec![], fail: "" };
        replace_with(&mut ops, &path, &temp, b"one", Access::Private).unwrap();
        replace_with(&mut ops, &path, &temp, b"two", Access::Private).unwrap();
        assert_eq!(ops.steps, ["write", "rename", "sync_dir", "write", "rename", "sync_dir"]);
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert!(!temp.exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_step_leaves_the_old_file_and_names_the_file() {
        let dir = dir("fail");
        let path = dir.join("store.cbor");
        let temp = temp_beside(&path, "", ".tmp");
        assert!(replace(&path, &temp, b"no directory", Access::Default).is_err());
        std::fs::create_dir_all(&dir).unwrap();
        replace(&path, &temp, b"old", Access::Default).unwrap();
        for fail in ["write", "rename"] {
            let mut ops = Recording { steps: vec![], fail };
            let e = replace_with(&mut ops, &path, &temp, b"new", Access::Default).unwrap_err();
            assert_eq!(e.path, if fail == "write" { temp.clone() } else { path.clone() }, "{fail}");
            assert!(!ops.steps.contains(&"sync_dir".to_string()), "{fail}: nothing after the failure");
            assert_eq!(std::fs::read(&path).unwrap(), b"old", "{fail}");
        }
        // A failed directory flush is reported too, never swallowed (the rename may not be durable).
        let mut ops = Recording { steps: vec![], fail: "sync_dir" };
        assert_eq!(replace_with(&mut ops, &path, &temp, b"new", Access::Default).unwrap_err().path, dir);
        // A temporary file a crash left behind is replaced, never read.
        std::fs::write(&temp, b"garbage").unwrap();
        replace(&path, &temp, b"new", Access::Default).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn capped_reads_stop_one_byte_past_the_cap() {
        assert_eq!(read_capped(&b"12345"[..], 3).unwrap(), b"1234");
        assert_eq!(read_capped(&b"123"[..], 3).unwrap(), b"123");
    }

    #[test]
    fn data_paths_follow_the_variables() {
        // One test touches the environment, so no other test races it.
        std::env::set_var("HUREN_PLUMBING_TEST", "/explicit/store");
        assert_eq!(data_path("HUREN_PLUMBING_TEST", "x"), Some(PathBuf::from("/explicit/store")));
        std::env::remove_var("HUREN_PLUMBING_TEST");
        std::env::set_var("XDG_DATA_HOME", "/xdg");
        assert_eq!(
            data_path("HUREN_PLUMBING_TEST", "trust-store.cbor"),
            Some(PathBuf::from("/xdg/huren/trust-store.cbor"))
        );
    }
}
