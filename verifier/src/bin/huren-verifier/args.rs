//! `huren-verifier`'s command line: every subcommand, flag and help text (clap), and nothing else.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "huren-verifier", version, about = "Verify Huren health credentials offline")]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Verify QR payload strings, PNG/JPEG images, `-` (standard input), directories of images or NDJSON files.
    Verify {
        #[command(flatten)]
        trust: TrustArgs,
        /// Verify as of this time (RFC 3339, e.g. 2026-11-27T08:00:00Z) instead of now.
        #[arg(long)]
        at: Option<String>,
        /// Print one JSON object per input.
        #[arg(long)]
        json: bool,
        /// QR text, image files, `-`, or in batch mode (a progress bar, then a summary) directories of images and
        /// NDJSON files (`.ndjson`/`.jsonl`) of QR texts.
        #[arg(required = true)]
        inputs: Vec<String>,
    },
    /// Run the checkpoint kiosk: a local web page that reads codes from the camera (or pasted, or uploaded) and
    /// answers green, amber or red, and a JSON API (POST /api/verify) for turnstiles and gates. Works offline.
    Serve {
        #[command(flatten)]
        trust: TrustArgs,
        /// Address to listen on (keep it on loopback unless a gate on the network needs the API).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Append each code's outcome (time, code, issuer; never the code or the person) to this file.
        #[arg(long)]
        log: Option<PathBuf>,
        /// Start the kiosk's clock at this time (RFC 3339) instead of now: for drills and tests.
        #[arg(long)]
        at: Option<String>,
    },
    /// Fetch the trust bundle from a mirror (HTTP or HTTPS) and import it into the trust store.
    Sync {
        /// URL of the trust bundle (any mirror: every part is signed).
        #[arg(long = "from")]
        url: String,
        /// Trust store (default: $HUREN_STORE, else ~/.local/share/huren/trust-store.cbor).
        #[arg(long)]
        store: Option<PathBuf>,
        /// Act as of this time (RFC 3339) instead of now.
        #[arg(long)]
        at: Option<String>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 20)]
        timeout: u64,
        /// Follow redirects to another origin (scheme, host, port) than the URL asked; by default they are
        /// reported, not followed.
        #[arg(long)]
        follow_redirects: bool,
    },
    /// Manage the trust store: provision it with a federation root, import trust bundles, show its status.
    Trust {
        #[command(subcommand)]
        action: TrustAction,
        /// Trust store (default: $HUREN_STORE, else ~/.local/share/huren/trust-store.cbor).
        #[arg(long, global = true)]
        store: Option<PathBuf>,
        /// Act as of this time (RFC 3339) instead of now.
        #[arg(long, global = true)]
        at: Option<String>,
    },
}

/// The trust a checkpoint verifies with, and how old it may get.
#[derive(clap::Args)]
pub(crate) struct TrustArgs {
    /// Trust data: a trust file written by `huren-issuer init`, or a trust store. Default: the trust store
    /// (--store), else $HUREN_TRUST.
    #[arg(long)]
    pub(crate) trust: Option<PathBuf>,
    /// Trust store to use (default: $HUREN_STORE, else ~/.local/share/huren/trust-store.cbor).
    #[arg(long)]
    pub(crate) store: Option<PathBuf>,
    /// Apply this province's checkpoint acceptance policy (from its bundle in the trust store).
    #[arg(long)]
    pub(crate) checkpoint: Option<String>,
    /// Warn when the newest trust data is older than this many hours.
    #[arg(long, default_value_t = 48)]
    pub(crate) warn_after_hours: i64,
    /// Refuse (TRUST_STORE_STALE) when the newest trust data is older than this many hours.
    #[arg(long, default_value_t = 336)]
    pub(crate) refuse_after_hours: i64,
    /// Refuse (TRUST_STORE_STALE) a credential whose status list is this many hours past its time-to-live
    /// (before that: a warning).
    #[arg(long, default_value_t = 72)]
    pub(crate) status_refuse_after_hours: i64,
    /// Trust for EU Digital COVID Certificates (HC1:): the EU DCC Gateway trust-list JSON or PEM signer
    /// certificates.
    #[arg(long)]
    pub(crate) dcc_trust: Option<PathBuf>,
    /// Dynamic codes (HP1:): accept a code whose 30-second time step is at most this many steps from this
    /// device's (1: refused 30 to 60 s after it was made; 0: only the current step).
    #[arg(long, default_value_t = 1)]
    pub(crate) presentation_skew_steps: u64,
}

#[derive(Subcommand)]
pub(crate) enum TrustAction {
    /// Pin the initial federation root (a signed root file obtained out of band).
    Provision {
        /// The signed federation root.
        root: PathBuf,
    },
    /// Import a trust bundle from a file (from any mirror: every part is signed).
    Import {
        /// The trust bundle.
        file: PathBuf,
    },
    /// Show the root, the province bundles, the time floor and the data's age.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}
