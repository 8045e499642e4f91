//! `huren-issuer`'s command line: every subcommand, flag and help text (clap), and nothing else.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use huren_wallet_core::Ecc;

#[derive(Parser)]
#[command(name = "huren-issuer", version, about = "Huren provincial issuer: set up a province and issue credentials")]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Create a province: root key, first issuer key and its certificate, and a trust file for verifiers.
    Init {
        /// ISO 3166-2 code of the province, e.g. CN-GD.
        #[arg(long)]
        province: String,
        /// Directory to create the province in.
        #[arg(long)]
        dir: PathBuf,
        /// Credential types the issuer key may sign (comma-separated); all by default.
        #[arg(long, value_delimiter = ',')]
        types: Vec<String>,
        /// Use this existing province root key (PKCS#8 PEM, e.g. from `huren-keys keygen`) instead of making one.
        #[arg(long, conflicts_with = "issuer_key")]
        root_key: Option<PathBuf>,
        /// Adopt this issuer key (from `huren-keys keygen`) instead of making one; needs --certificate and
        /// --root-pub. The root key then stays offline.
        #[arg(long, requires_all = ["certificate", "root_pub"])]
        issuer_key: Option<PathBuf>,
        /// The issuer key's certificate (from `huren-keys certify`).
        #[arg(long)]
        certificate: Option<PathBuf>,
        /// The province root's public key (SPKI DER, from `huren-keys keygen`).
        #[arg(long)]
        root_pub: Option<PathBuf>,
        /// Act as of this time (RFC 3339) instead of now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Issue one credential; prints its QR text.
    Issue(Box<IssueArgs>),
    /// Run the HTTP API (JSON; problem+json errors) until SIGTERM or Ctrl-C, finishing in-flight requests.
    Serve {
        /// A TOML configuration file (see issuer/huren-issuer.example.toml); flags and environment win over it.
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        settings: huren_issuer::config::ServeConfig,
    },
    /// Issue credentials from an NDJSON or CSV file, through a running server (--server) or directly on the
    /// database (--dir), with a progress bar; prints one JSON line per input line (its id or its error) and a
    /// summary. Every id printed is stored; on an interruption, send the unanswered lines again.
    Bulk {
        /// The input (`.csv` is read as CSV, anything else as NDJSON).
        file: PathBuf,
        /// Province directory made by `init`: issue directly on its database.
        #[arg(long, required_unless_present = "server", conflicts_with = "server")]
        dir: Option<PathBuf>,
        /// Base URL of a running issuer (e.g. http://127.0.0.1:8080): issue through its API.
        #[arg(long, requires = "token")]
        server: Option<String>,
        /// API token (issuer or admin) for --server.
        #[arg(long, env = "HUREN_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// PostgreSQL URL with --dir; default: SQLite in DIR/issuer.db.
        #[arg(long, env = "HUREN_DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Revoke, suspend or reinstate a credential directly on the database (audited as `cli`).
    Revoke {
        /// Province directory made by `init`.
        #[arg(long)]
        dir: PathBuf,
        /// Credential id (hex).
        id: String,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
        /// Suspend instead of revoking.
        #[arg(long, conflicts_with = "reinstate")]
        suspend: bool,
        /// Reinstate a suspended credential.
        #[arg(long)]
        reinstate: bool,
        /// PostgreSQL URL; default: SQLite in DIR/issuer.db.
        #[arg(long, env = "HUREN_DATABASE_URL")]
        database_url: Option<String>,
    },
    /// Manage the issuer signing key.
    Keys {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Check the audit log's hash chain.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Manage API tokens (stored hashed; the token is shown once).
    Tokens {
        #[command(subcommand)]
        action: TokenAction,
    },
}

#[derive(Subcommand)]
pub(crate) enum KeyAction {
    /// Replace the issuer key with a new one certified by the province root; credentials signed by the old key
    /// keep verifying (the trust file lists both certificates; put both in the next province bundle).
    Rotate {
        /// Province directory made by `init`.
        #[arg(long)]
        dir: PathBuf,
        /// The province root key (default: DIR/root.key.pem).
        #[arg(long)]
        root_key: Option<PathBuf>,
        /// PostgreSQL URL for the audit entry; default: SQLite in DIR/issuer.db.
        #[arg(long, env = "HUREN_DATABASE_URL")]
        database_url: Option<String>,
    },
}

#[derive(Subcommand)]
pub(crate) enum AuditAction {
    /// Verify that every entry chains to the one before it; exit 1 at the first break.
    Verify {
        /// Province directory made by `init`.
        #[arg(long)]
        dir: PathBuf,
        /// PostgreSQL URL; default: SQLite in DIR/issuer.db.
        #[arg(long, env = "HUREN_DATABASE_URL")]
        database_url: Option<String>,
    },
}

#[derive(Subcommand)]
pub(crate) enum TokenAction {
    /// Create a token with a role (issuer, revoker, admin) for this province.
    Create {
        /// Province directory made by `init`.
        #[arg(long)]
        dir: PathBuf,
        /// issuer, revoker or admin.
        #[arg(long)]
        role: String,
        /// PostgreSQL URL; default: SQLite in DIR/issuer.db.
        #[arg(long, env = "HUREN_DATABASE_URL")]
        database_url: Option<String>,
    },
}

#[derive(Args)]
pub(crate) struct IssueArgs {
    /// Province directory made by `init`.
    #[arg(long)]
    pub(crate) dir: PathBuf,
    /// Read the request from this JSON file (`-` for standard input) instead of flags.
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
    /// Credential type: health-status, test-result, vaccination or recovery.
    #[arg(long = "type", default_value = "health-status")]
    pub(crate) kind: String,
    /// Subject name.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Pinyin transliteration.
    #[arg(long)]
    pub(crate) pinyin: Option<String>,
    /// Masked national ID, e.g. 4403**********1234.
    #[arg(long)]
    pub(crate) id: Option<String>,
    /// Date of birth, YYYY-MM-DD.
    #[arg(long)]
    pub(crate) dob: Option<String>,
    /// Health status colour: green, amber, red.
    #[arg(long, default_value = "green")]
    pub(crate) colour: String,
    /// Health status reason: no-risk, close-contact, positive-test, risk-area-travel, quarantine, awaiting-test.
    #[arg(long, default_value = "no-risk")]
    pub(crate) reason: String,
    /// Test kind: naat or antigen.
    #[arg(long, default_value = "naat")]
    pub(crate) test_kind: String,
    /// Test outcome: negative or positive.
    #[arg(long, default_value = "negative")]
    pub(crate) outcome: String,
    /// When the test sample was taken (RFC 3339); defaults to the issue time.
    #[arg(long)]
    pub(crate) sampled_at: Option<String>,
    /// Testing centre.
    #[arg(long)]
    pub(crate) centre: Option<String>,
    /// Vaccine product code.
    #[arg(long)]
    pub(crate) product: Option<String>,
    /// Dose number.
    #[arg(long, default_value_t = 1)]
    pub(crate) dose: u8,
    /// Doses in the series.
    #[arg(long, default_value_t = 1)]
    pub(crate) doses: u8,
    /// Vaccination date, YYYY-MM-DD.
    #[arg(long)]
    pub(crate) date: Option<String>,
    /// Recovery: date of first positive test.
    #[arg(long)]
    pub(crate) first_positive: Option<String>,
    /// Recovery: first valid day.
    #[arg(long)]
    pub(crate) valid_from: Option<String>,
    /// Recovery: last valid day.
    #[arg(long)]
    pub(crate) valid_until: Option<String>,
    /// Validity in hours from the issue time.
    #[arg(long, default_value_t = 168)]
    pub(crate) valid_hours: u32,
    /// Validity starts at this time (RFC 3339) rather than at issue.
    #[arg(long)]
    pub(crate) not_before: Option<String>,
    /// Health status: it stops holding at this time (RFC 3339), earlier than the credential's expiry.
    #[arg(long)]
    pub(crate) status_valid_until: Option<String>,
    /// Bind the credential to a holder device key: a file with the 32 raw bytes of an Ed25519 public key or its
    /// DER SubjectPublicKeyInfo (the `.pub.der` that `huren-keys keygen` writes). Verifiers then accept the
    /// credential only as the wallet's dynamic code (HP1:).
    #[arg(long, value_name = "FILE")]
    pub(crate) holder_key: Option<PathBuf>,
    /// Write the QR code as PNG to this file.
    #[arg(long)]
    pub(crate) png: Option<PathBuf>,
    /// Write the QR code as SVG to this file.
    #[arg(long)]
    pub(crate) svg: Option<PathBuf>,
    /// Also print the QR code to standard error for a terminal.
    #[arg(long)]
    pub(crate) terminal: bool,
    /// QR error-correction level: L, M, Q or H.
    #[arg(long, default_value = "Q")]
    pub(crate) ecc: Ecc,
    /// Pixels per QR module in the PNG (1 to 64).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub(crate) module_px: u32,
    /// Issue as of this time (RFC 3339) instead of now.
    #[arg(long)]
    pub(crate) at: Option<String>,
}
