//! `huren-wallet`: a resident's credentials, in an encrypted wallet file, shown as QR codes.
//!
//! `huren-wallet import` (from a claim link, QR text or a file), `list`, `show` (the code in the terminal),
//! `export` (PNG or SVG), `present` (the dynamic code of a holder-bound credential, refreshed every 30 s),
//! `device-key` (the public key an issuer binds credentials to) and `delete`. The passphrase comes from
//! `$HUREN_WALLET_PASSPHRASE` or `--passphrase-file`. Exit status: 0 on success, 2 on any error.
//!
//! Commands that change the wallet hold its lock file (`<wallet>.lock`) while they read, change and save it, so
//! parallel runs never undo each other. A claim link is redeemed only after everything else was checked, and the
//! issuer's answer is kept (sealed) in `<wallet>.pending` until its credential is stored: see `import --help`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Parser;
use huren_keys::{TrustFile, TrustList, TrustState};
use huren_plumbing::clock::{at_or_now, rfc3339};
use huren_wallet_core::presentation;
use huren_wallet_core::store::FileStorage;
use huren_wallet_core::wallet::{qr_symbol, Entry, ImportPolicy, Imported, Standing, Wallet, MAX_QR_VERSION};

mod args;

use args::{Cli, Command};

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("huren-wallet: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let now = at_or_now(cli.at.as_deref())?;
    let path = wallet_path(cli.wallet)?;
    let passphrase = passphrase(cli.passphrase_file.as_deref())?;
    let storage = FileStorage::new(&path);
    let pending_path = storage.pending_path();
    let pass = passphrase.as_bytes();
    let mut wallet = Wallet::open(storage, pass).with_context(|| format!("opening the wallet {}", path.display()))?;
    match cli.command {
        Command::Import { trust, claim, resume, file, allow_untrusted, text } => {
            let trust = load_trust(&trust)?;
            let policy = if allow_untrusted { ImportPolicy::AllowUntrusted } else { ImportPolicy::RequireTrusted };
            // Each `Imported` is printed only once the wallet holding it was saved.
            let imported: Vec<(Imported, &str)> = if let Some(url) = &claim {
                let outcome = wallet
                    .import_claim_link(pass, url, &trust, now, policy, || redeem(url).map_err(Into::into))
                    .map_err(|e| claim_error(e, &pending_path))?;
                let resumed = outcome.resumed.map(|item| (item, " (kept from an earlier claim link)"));
                resumed.into_iter().chain(outcome.redeemed.map(|item| (item, ""))).collect()
            } else if resume {
                match wallet.resume_claim(pass, &trust, now, policy).map_err(|e| claim_error(e, &pending_path))? {
                    Some(item) => vec![(item, " (kept from an earlier claim link)")],
                    None => bail!("no claim-link answer is waiting to be imported ({})", pending_path.display()),
                }
            } else if let Some(file) = file {
                let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
                wallet
                    .update(pass, |w| w.import_file(&bytes, &trust, now, policy))?
                    .into_iter()
                    .map(|i| (i, ""))
                    .collect()
            } else if let Some(text) = text {
                vec![(wallet.update(pass, |w| w.import_qr(text.trim(), &trust, now, policy))?, "")]
            } else {
                bail!("give a claim link (--claim), a file (--file), QR text, or --resume");
            };
            for (item, note) in imported {
                let what = if item.added { "imported" } else { "already in the wallet:" };
                println!("{what} {}{note}: {}", item.id, standing_text(&item.standing));
            }
            if claim.is_none() && !resume && wallet.has_pending_claim()? {
                eprintln!(
                    "note: a claim-link answer is waiting to be imported ({}): run `huren-wallet import --resume \
                     --trust FILE`",
                    pending_path.display()
                );
            }
        }
        Command::List => {
            if wallet.list().is_empty() {
                println!("the wallet is empty");
            }
            for entry in wallet.list() {
                println!("{}", describe(entry, now));
            }
        }
        Command::Show { id } => {
            let entry = find(&wallet, &id, now)?;
            let (ecc, symbol) = qr_symbol(entry.qr_text(), MAX_QR_VERSION)?;
            print!("{}", symbol.to_terminal());
            println!("{}\nQR version {} at level {ecc:?}", describe(entry, now), symbol.version());
        }
        Command::Export { id, png, svg, module_px } => {
            let entry = find(&wallet, &id, now)?;
            let (ecc, symbol) = qr_symbol(entry.qr_text(), MAX_QR_VERSION)?;
            if png.is_none() && svg.is_none() {
                bail!("give --png FILE and/or --svg FILE");
            }
            if let Some(png) = png {
                write_file(&png, &symbol.to_png(module_px)?)?;
            }
            if let Some(svg) = svg {
                write_file(&svg, symbol.to_svg().as_bytes())?;
            }
            println!("{} exported: QR version {} at level {ecc:?}", entry.id(), symbol.version());
        }
        Command::Present { id, png, watch } => {
            let entry = find(&wallet, &id, now)?;
            let (cose, holder, static_text) =
                (entry.cose().to_vec(), entry.credential().holder.clone(), entry.qr_text().to_string());
            let line = describe(entry, now);
            // A device key made just now is kept before anything is shown: an issuer may bind credentials to it.
            let device = wallet.ensure_device_key(pass).context("saving the wallet's new device key")?;
            if let Some(holder) = &holder {
                if holder.public_key() != device.public() {
                    bail!("this credential is bound to another device's key: this wallet cannot present it");
                }
            }
            loop {
                let now = at_or_now(cli.at.as_deref())?;
                let text = match holder {
                    Some(_) => presentation::present(&cose, device, now)?,
                    None => static_text.clone(),
                };
                let (ecc, symbol) = qr_symbol(&text, MAX_QR_VERSION)?;
                if let Some(png) = &png {
                    write_file(png, &symbol.to_png(8)?)?;
                }
                if !watch || holder.is_none() {
                    println!("{text}");
                    break;
                }
                print!("\x1b[2J\x1b[H{}", symbol.to_terminal());
                println!(
                    "{line}\nQR version {} at level {ecc:?}; refreshes every 30 s (Ctrl-C to stop)",
                    symbol.version()
                );
                std::io::stdout().flush()?;
                let into_step = now.rem_euclid(presentation::STEP_SECONDS);
                std::thread::sleep(std::time::Duration::from_secs(
                    u64::try_from(presentation::STEP_SECONDS - into_step).unwrap_or(1),
                ));
            }
        }
        Command::DeviceKey { out } => {
            let public = wallet.ensure_device_key(pass).context("saving the wallet's new device key")?.public().clone();
            let raw = &public.spki_der()[12..];
            println!("device key {} (Ed25519): {}", public.kid(), huren_keys::hex(raw));
            if let Some(out) = out {
                write_file(&out, raw)?;
            }
        }
        Command::Delete { id } => {
            let entry = wallet.update(pass, |w| w.delete(&id)).context("deleting from the wallet")?;
            println!("deleted {} ({})", entry.id(), entry.credential().issuer);
        }
    }
    Ok(())
}

/// A credential by id, or the best one to show now.
fn find<'w>(wallet: &'w Wallet<FileStorage>, id: &str, now: i64) -> anyhow::Result<&'w Entry> {
    if id == "best" {
        return wallet.best_for(now, None).context("the wallet has no credential to show");
    }
    wallet
        .list()
        .iter()
        .find(|e| e.id().eq_ignore_ascii_case(id))
        .with_context(|| format!("no credential {id} in the wallet"))
}

/// One line about a credential and where it stands at `now`.
fn describe(entry: &Entry, now: i64) -> String {
    let c = entry.credential();
    let standing = standing_text(&entry.standing(now));
    let dynamic = if c.holder.is_some() { ", dynamic code" } else { "" };
    format!("{}  {} {} · {} · {}{dynamic}", entry.id(), c.issuer, c.credential_type().name(), c.subject.name, standing)
}

/// Where a credential stands, for the resident.
fn standing_text(standing: &Standing) -> String {
    match standing {
        Standing::Valid { until } => format!("valid until {}", rfc3339(*until)),
        Standing::NotYetValid { from } => format!("not valid before {}", rfc3339(*from)),
        Standing::Expired { at } => format!("EXPIRED at {}", rfc3339(*at)),
        Standing::Untrusted { reason } => format!("UNTRUSTED: {reason}"),
        other => format!("{other:?}"),
    }
}

/// Trust from a trust file, or from a verifier's trust store (its federation state, re-verified).
fn load_trust(path: &Path) -> anyhow::Result<TrustList> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if let Ok(file) = TrustFile::decode(&bytes) {
        return TrustList::from_trust_file(&file).with_context(|| format!("trust file {}", path.display()));
    }
    let state = TrustState::decode(&bytes)
        .with_context(|| format!("{} is neither a trust file nor a trust store", path.display()))?;
    Ok(state.trust_list())
}

/// A claim import's error, with what the resident can do about a kept answer.
fn claim_error(error: huren_wallet_core::Error, pending: &Path) -> anyhow::Error {
    use huren_wallet_core::Error;
    let hint = match &error {
        Error::ClaimPending { .. } => format!(
            "the answer is kept, sealed, in {}: once that is fixed, run this import again (the same claim link, \
             or --resume instead of --claim); the issuer is not needed. Delete that file to give the credential up.",
            pending.display()
        ),
        Error::ClaimBlocked { source } if matches!(**source, Error::ClaimUnusable { .. }) => {
            "that answer is dropped: run this import again".into()
        }
        Error::ClaimBlocked { .. } => format!(
            "finish the earlier one with `huren-wallet import --resume --trust FILE` (or --allow-untrusted), or \
             delete {} to give it up; then run this import again",
            pending.display()
        ),
        Error::PendingUnreadable { .. } => format!("delete {} to give that credential up", pending.display()),
        Error::ClaimUnusable { .. } => "if the link is now refused, ask the issuer for a new one".into(),
        _ => return error.into(),
    };
    anyhow::anyhow!("{error}\n{hint}")
}

/// Redeem a claim link: one GET, at most 1 MiB of answer, 20 s.
fn redeem(url: &str) -> anyhow::Result<Vec<u8>> {
    use huren_plumbing::http::{client, get, Redirects, StatusCode};
    let client = client(std::time::Duration::from_secs(20))?;
    let no_etag = |_: &str| None;
    let answer =
        get(&client, url, &no_etag, 1 << 20, Redirects::Anywhere).with_context(|| format!("redeeming {url}"))?;
    if answer.status == StatusCode::GONE {
        bail!("the claim link was already used or has expired (HTTP 410)");
    }
    if !answer.status.is_success() {
        bail!("redeeming the claim link failed: HTTP {}", answer.status);
    }
    Ok(answer.body)
}

fn wallet_path(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p);
    }
    let path = huren_plumbing::files::data_path("HUREN_WALLET", "wallet.hrw")
        .context("no $HUREN_WALLET, $XDG_DATA_HOME or $HOME to place the wallet in; pass --wallet")?;
    if std::env::var_os("HUREN_WALLET").is_none() {
        let dir = huren_plumbing::files::directory_of(&path);
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(path)
}

fn passphrase(file: Option<&Path>) -> anyhow::Result<String> {
    let phrase = match file {
        Some(file) => std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?,
        None => std::env::var("HUREN_WALLET_PASSPHRASE")
            .context("no passphrase: set HUREN_WALLET_PASSPHRASE or pass --passphrase-file")?,
    };
    let phrase = phrase.trim_end_matches(['\r', '\n']).to_string();
    if phrase.is_empty() {
        bail!("the passphrase is empty");
    }
    Ok(phrase)
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
