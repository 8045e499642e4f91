//! `huren-wallet`'s command line: every subcommand, flag and help text (clap), and nothing else.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "huren-wallet", version, about = "A resident's Huren credentials, offline")]
pub(crate) struct Cli {
    /// The wallet file (default: $HUREN_WALLET, else ~/.local/share/huren/wallet.hrw); made on first import.
    #[arg(long, global = true)]
    pub(crate) wallet: Option<PathBuf>,
    /// Read the passphrase from this file (default: $HUREN_WALLET_PASSPHRASE).
    #[arg(long, global = true)]
    pub(crate) passphrase_file: Option<PathBuf>,
    /// Act as of this time (RFC 3339) instead of now.
    #[arg(long, global = true)]
    pub(crate) at: Option<String>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Import a credential: from a claim link (redeemed once at the issuer), QR text, or a file of QR text.
    ///
    /// A claim link works once. It is redeemed only after the trust data, the passphrase and the wallet's
    /// location (writable, lock taken) were checked, and the issuer's answer is kept, sealed with the passphrase,
    /// in `<wallet>.pending` until the credential is stored. If the import fails after that (the save failed, or
    /// the trust data does not vouch for the credential), fix the cause and run the same command again, or use
    /// `--resume` instead of `--claim`: the kept answer is imported without the issuer. A kept answer is also
    /// imported first by the next `--claim` import. An answer that can never be imported (revoked, not a
    /// credential) is not kept: ask the issuer for a new link. Delete `<wallet>.pending` to give a kept one up.
    Import {
        /// Trust data to check it against: a trust file (`huren-issuer init`) or a trust store (`huren-verifier`).
        #[arg(long)]
        trust: PathBuf,
        /// A claim link (`https://issuer/v1/claim/...`), redeemed now (unless its answer is already kept).
        #[arg(long, conflicts_with_all = ["file", "text", "resume"])]
        claim: Option<String>,
        /// Finish the import of a claim-link answer kept by an earlier `--claim` import, without the issuer.
        #[arg(long, conflicts_with_all = ["file", "text"])]
        resume: bool,
        /// A file of QR text (one code per line) or a saved claim-link response.
        #[arg(long, conflicts_with = "text")]
        file: Option<PathBuf>,
        /// Keep a credential the trust data does not vouch for (marked untrusted).
        #[arg(long)]
        allow_untrusted: bool,
        /// QR text (`HR1:...`).
        text: Option<String>,
    },
    /// List the credentials and where each stands now.
    List,
    /// Show a credential's code in the terminal (`best`: the one to show at a checkpoint now).
    Show {
        /// Credential id (hex), or `best`.
        #[arg(default_value = "best")]
        id: String,
    },
    /// Write a credential's code as PNG or SVG, at the highest error correction that fits.
    Export {
        /// Credential id (hex), or `best`.
        id: String,
        /// PNG file to write.
        #[arg(long)]
        png: Option<PathBuf>,
        /// SVG file to write.
        #[arg(long)]
        svg: Option<PathBuf>,
        /// Pixels per module in the PNG.
        #[arg(long, default_value_t = 8)]
        module_px: u32,
    },
    /// The dynamic code of a holder-bound credential, for the current 30-second step (static codes as they are).
    Present {
        /// Credential id (hex), or `best`.
        #[arg(default_value = "best")]
        id: String,
        /// Also write it as PNG.
        #[arg(long)]
        png: Option<PathBuf>,
        /// Keep showing it in the terminal, refreshed every step, until interrupted.
        #[arg(long)]
        watch: bool,
    },
    /// This wallet's device key (made on first use), for an issuer to bind credentials to.
    DeviceKey {
        /// Also write its 32 raw bytes here (`huren-issuer issue --holder-key FILE`).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Delete a credential.
    Delete {
        /// Credential id (hex).
        id: String,
    },
}
