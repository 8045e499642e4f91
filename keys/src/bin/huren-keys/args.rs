//! `huren-keys`'s command line: every subcommand, flag and help text (clap), and nothing else.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "huren-keys",
    version,
    about = "Huren federation ceremonies: roots, co-signing, certificates, bundles"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Generate an Ed25519 key: PREFIX.key.pem (private, mode 0600) and PREFIX.pub.der (public SPKI).
    Keygen {
        /// Path prefix for the two files.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write a private key as a standard RFC 8410 PKCS#8 v1 PEM file (mode 0600) that OpenSSL, HSM import tools
    /// and Python's `cryptography` read: from a passphrase-sealed key file (`HUREN ENCRYPTED PRIVATE KEY`; the
    /// passphrase from $HUREN_KEY_PASSPHRASE, else the first line of $HUREN_KEY_PASSPHRASE_FILE) or from a plain
    /// PKCS#8 file of any version (files written before issue 15 are v2, which OpenSSL 3.0 refuses).
    Export {
        /// The key file to read.
        #[arg(long)]
        key: PathBuf,
        /// The new plain PEM file (never overwritten). It holds the secret unencrypted: keep it offline.
        #[arg(long)]
        out: PathBuf,
    },
    /// Propose a federation root (unsigned payload for the members to co-sign).
    Propose {
        /// Version: 1 for the first root, current + 1 for a rotation.
        #[arg(long)]
        version: u64,
        /// How many distinct members must sign this root and its successor.
        #[arg(long)]
        threshold: u32,
        /// A member: PROVINCE=PUBKEY.der (repeat; repeat a province to give it several root keys).
        #[arg(long = "member", required = true)]
        members: Vec<String>,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        valid_days: i64,
        /// Act as of this time (RFC 3339).
        #[arg(long)]
        at: Option<String>,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Co-sign a proposed root with one member's root key (one signature file per member).
    Sign {
        /// The proposal.
        #[arg(long)]
        proposal: PathBuf,
        /// The member's root key (PKCS#8 PEM).
        #[arg(long)]
        key: PathBuf,
        /// Output signature file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Combine signature files into the signed root, checking that the threshold is met.
    Combine {
        /// The proposal.
        #[arg(long)]
        proposal: PathBuf,
        /// Signature files (repeat).
        #[arg(long = "sig", required = true)]
        signatures: Vec<PathBuf>,
        /// For a rotation: the current signed root, whose members must also reach their threshold.
        #[arg(long)]
        previous: Option<PathBuf>,
        /// Output file (tagged COSE_Sign).
        #[arg(long)]
        out: PathBuf,
    },
    /// Certify an issuer key with the province root.
    Certify {
        /// The province root key.
        #[arg(long)]
        root_key: PathBuf,
        /// ISO 3166-2 code of the province.
        #[arg(long)]
        province: String,
        /// The issuer public key (SPKI DER).
        #[arg(long)]
        key: PathBuf,
        /// Credential types (comma-separated); all by default.
        #[arg(long, value_delimiter = ',')]
        types: Vec<String>,
        /// Days the key may sign, from now.
        #[arg(long, default_value_t = 365)]
        usage_days: i64,
        /// Days the certificate stays valid after its usage window.
        #[arg(long, default_value_t = 365)]
        grace_days: i64,
        /// Act as of this time (RFC 3339).
        #[arg(long)]
        at: Option<String>,
        /// Output certificate file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Build and sign a province bundle from issuer key certificates.
    Bundle {
        /// The province root key.
        #[arg(long)]
        root_key: PathBuf,
        /// ISO 3166-2 code of the province.
        #[arg(long)]
        province: String,
        /// Bundle version (must grow with every new bundle).
        #[arg(long)]
        version: u64,
        /// Issuer key certificates signed by this root (repeat).
        #[arg(long = "cert")]
        certificates: Vec<PathBuf>,
        /// Revoke a key: KIDHEX@CUTOFF[@HONOUR_UNTIL] (RFC 3339): credentials it issued after CUTOFF are refused, and
        /// after HONOUR_UNTIL (default CUTOFF + 30 days) nothing it signed verifies, backdated forgeries included.
        #[arg(long = "revoke")]
        revocations: Vec<String>,
        /// Status list: ID=URL (repeat).
        #[arg(long = "status-list")]
        status_lists: Vec<String>,
        /// Checkpoint policy: accepted credential types (comma-separated; all by default).
        #[arg(long, value_delimiter = ',')]
        accept: Vec<String>,
        /// Checkpoint policy: oldest test result accepted, in hours.
        #[arg(long)]
        max_test_age_hours: Option<i64>,
        /// Let a checkpoint that has never synced one of this province's status lists accept the credentials it
        /// covers, with a "revocation not checked" warning (default: it refuses them, STATUS_UNAVAILABLE, until it
        /// syncs).
        #[arg(long)]
        allow_unsynced_status: bool,
        /// Validity in days.
        #[arg(long, default_value_t = 30)]
        valid_days: i64,
        /// Act as of this time (RFC 3339).
        #[arg(long)]
        at: Option<String>,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Assemble a trust bundle: the root chain and the province bundles (anyone can do this; nothing is signed).
    Assemble {
        /// Signed roots, oldest first (repeat).
        #[arg(long = "root", required = true)]
        roots: Vec<PathBuf>,
        /// Signed province bundles (repeat).
        #[arg(long = "bundle")]
        bundles: Vec<PathBuf>,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a readable report on any Huren document, verifying what can be verified.
    Inspect {
        /// The document.
        file: PathBuf,
        /// A signed federation root to verify bundles against.
        #[arg(long)]
        root: Option<PathBuf>,
        /// Check expiry as of this time (RFC 3339) instead of now.
        #[arg(long)]
        at: Option<String>,
    },
}
