//! `huren-issuer serve` configuration: a TOML file (see `huren-issuer.example.toml`), overridden by environment
//! variables and flags; one type declares the settings for all three.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::Error;

/// The service settings: the flags of `huren-issuer serve` (some also read from the environment) and the keys a
/// configuration file may hold (unknown keys are refused, so a typo does not pass silently). The field docs are
/// the flags' help.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Province directory made by `init`.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "HUREN_LISTEN")]
    pub listen: Option<String>,
    /// PostgreSQL URL (postgres://...); default: SQLite in DIR/issuer.db.
    #[arg(long, env = "HUREN_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Also mirror this federation trust bundle at /v1/trust-bundle (with ETag).
    #[arg(long)]
    pub trust_bundle: Option<PathBuf>,
    /// Serve this province's signed bundle at /v1/province-bundle (with ETag).
    #[arg(long)]
    pub province_bundle: Option<PathBuf>,
    /// Seconds between status list publications (default 60): a revocation is visible within this.
    #[arg(long)]
    pub status_interval_seconds: Option<u64>,
    /// Time-to-live of each published status list version, in seconds (default 3600).
    #[arg(long)]
    pub status_ttl_seconds: Option<i64>,
    /// Entries per status list (a multiple of 4096; default 2^20). In the configuration file only.
    #[arg(skip)]
    pub status_list_size: Option<u32>,
    /// This node's name, when several nodes share one PostgreSQL database (default node-1).
    #[arg(long, env = "HUREN_NODE")]
    pub node: Option<String>,
    /// Cut a bulk upload that sends no complete non-blank line for this many seconds (default 30).
    #[arg(long)]
    pub bulk_progress_timeout_seconds: Option<u64>,
}

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl ServeConfig {
    /// Parse TOML text.
    pub fn parse(text: &str) -> Result<Self, Error> {
        toml::from_str(text).map_err(|e| Error::Directory(format!("configuration: {e}")))
    }

    /// Read and parse a TOML file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text =
            std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        Self::parse(&text)
    }

    /// Fill what `self` (flags and environment) leaves open from `file`.
    pub fn or(self, file: ServeConfig) -> ServeConfig {
        ServeConfig {
            dir: self.dir.or(file.dir),
            listen: self.listen.or(file.listen),
            database_url: self.database_url.or(file.database_url),
            trust_bundle: self.trust_bundle.or(file.trust_bundle),
            province_bundle: self.province_bundle.or(file.province_bundle),
            status_interval_seconds: self.status_interval_seconds.or(file.status_interval_seconds),
            status_ttl_seconds: self.status_ttl_seconds.or(file.status_ttl_seconds),
            status_list_size: self.status_list_size.or(file.status_list_size),
            node: self.node.or(file.node),
            bulk_progress_timeout_seconds: self.bulk_progress_timeout_seconds.or(file.bulk_progress_timeout_seconds),
        }
    }

    /// The bulk limits, defaults filled in; a timeout of 0 is refused (it would cut every upload at once).
    pub fn bulk(&self) -> Result<crate::bulk::BulkLimits, Error> {
        match self.bulk_progress_timeout_seconds {
            None => Ok(crate::bulk::BulkLimits::default()),
            Some(0) => Err(Error::Directory("configuration: bulk_progress_timeout_seconds must be at least 1".into())),
            Some(seconds) => Ok(crate::bulk::BulkLimits { progress_timeout: std::time::Duration::from_secs(seconds) }),
        }
    }

    /// The status list settings, defaults filled in.
    pub fn status(&self) -> crate::status::StatusConfig {
        let d = crate::status::StatusConfig::default();
        crate::status::StatusConfig {
            list_size: self.status_list_size.unwrap_or(d.list_size),
            ttl_seconds: self.status_ttl_seconds.unwrap_or(d.ttl_seconds),
            interval: self.status_interval_seconds.map_or(d.interval, std::time::Duration::from_secs),
            node: self.node.clone().unwrap_or(d.node),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses_and_flags_win() {
        let example = ServeConfig::parse(include_str!("../huren-issuer.example.toml")).unwrap();
        assert_eq!(example.dir.as_deref(), Some(Path::new("/var/lib/huren/CN-GD")));
        assert_eq!(example.listen.as_deref(), Some(DEFAULT_LISTEN));
        assert_eq!(example.database_url, None);
        let flags = ServeConfig { listen: Some("0.0.0.0:9000".into()), ..ServeConfig::default() };
        let merged = flags.or(example);
        assert_eq!(merged.listen.as_deref(), Some("0.0.0.0:9000"));
        assert_eq!(merged.dir.as_deref(), Some(Path::new("/var/lib/huren/CN-GD")));
        assert_eq!(merged.bulk().unwrap(), crate::bulk::BulkLimits::default());
        let slow = ServeConfig::parse("bulk_progress_timeout_seconds = 5").unwrap();
        assert_eq!(slow.bulk().unwrap().progress_timeout, std::time::Duration::from_secs(5));
        assert!(ServeConfig::parse("bulk_progress_timeout_seconds = 0").unwrap().bulk().is_err());
    }

    #[test]
    fn unknown_keys_and_bad_types_are_refused() {
        assert!(ServeConfig::parse("lisen = \"x\"").is_err());
        assert!(ServeConfig::parse("listen = 8080").is_err());
    }
}
