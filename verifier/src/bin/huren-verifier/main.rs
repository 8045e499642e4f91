//! `huren-verifier`: check Huren credentials offline from QR text or images.
//!
//! `huren-verifier verify [--trust FILE] [--at RFC3339] [--json] INPUT...` where INPUT is QR text, a PNG/JPEG
//! file or `-` for standard input. Exit status: 0 when every input is valid, 1 when any is not, 2 for usage or
//! I/O errors.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use huren_keys::TrustList;
use huren_plumbing::clock::{at_or_now, parse_rfc3339};
use huren_verifier::checkpoint::{human_report, Checkpoint, InputCodes, TrustSource};
use huren_verifier::dcc::DccTrust;
use huren_verifier::inputs;
use huren_verifier::report::{to_json, trust_status_text, BatchCounts, BatchSummary, TrustStatusReport, VerifyReport};
use huren_verifier::scan::ImageLimits;
use huren_verifier::status::StatusUpdate;
use huren_verifier::store::{Freshness, TrustStore};
use huren_verifier::sync::{sync, SyncOptions, SyncOutcome};
use huren_verifier::Code;

mod args;

use args::{Cli, Command, TrustAction, TrustArgs};

impl TrustArgs {
    /// Load the checkpoint these arguments describe.
    fn checkpoint(&self) -> anyhow::Result<Checkpoint> {
        let freshness = Freshness {
            warn_after: self.warn_after_hours.saturating_mul(3600),
            refuse_after: self.refuse_after_hours.saturating_mul(3600),
            status_refuse_after: self.status_refuse_after_hours.saturating_mul(3600),
            ..Freshness::default()
        };
        let trust = load_trust(self.trust.as_deref(), self.store.as_deref())?;
        let mut policy = Checkpoint::policy_for(&trust, self.checkpoint.as_deref()).map_err(anyhow::Error::msg)?;
        policy.presentation_skew_steps = self.presentation_skew_steps;
        let dcc = load_dcc_trust(self.dcc_trust.as_deref())?;
        Ok(Checkpoint { trust, dcc, policy, freshness })
    }

    /// The files the checkpoint is read from: when one changes, the kiosk reloads. The trust path is resolved as
    /// for loading, and whatever flag names it, a trust store's status lists are watched too.
    fn watched_files(&self) -> anyhow::Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = self.dcc_trust.iter().cloned().collect();
        if let Some(path) = trust_path(self.trust.as_deref(), self.store.as_deref())? {
            files.push(huren_verifier::status::StatusLists::dir_for(&path));
            files.push(path);
        }
        Ok(files)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("huren-verifier: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Command::Verify { trust, at, json, inputs } => {
            let now = at_or_now(at.as_deref())?;
            verify_inputs(&trust.checkpoint()?, now, json, &inputs)
        }
        Command::Serve { trust, listen, log, at } => {
            serve(trust, listen, log, at.as_deref().map(parse_rfc3339).transpose().context("--at")?)?;
            Ok(true)
        }
        Command::Sync { url, store, at, timeout, follow_redirects } => {
            let now = at_or_now(at.as_deref())?;
            let mut store = TrustStore::open(&store_path(store)?)?;
            let options = SyncOptions {
                timeout: std::time::Duration::from_secs(timeout),
                follow_cross_origin_redirects: follow_redirects,
                ..SyncOptions::default()
            };
            // Each document on its own: a mirror that fails, or one province's refused bundle, holds back nothing
            // else; the status lists come from the issuers' own signed URLs.
            let mut all_synced = match sync(&mut store, &url, now, &options) {
                Ok(SyncOutcome::NotModified) => {
                    println!("{url}: not modified; trust store unchanged");
                    true
                }
                Ok(SyncOutcome::Imported(report)) => print_import_report(&url, &store, &report),
                Err(e) => {
                    eprintln!("huren-verifier: trust bundle from {url}: {e}");
                    false
                }
            };
            for (province, list, result) in huren_verifier::sync::sync_status(&mut store, now, &options) {
                match result {
                    Ok(StatusUpdate::Full(v)) => println!("status list {province}/{list}: full list, version {v}"),
                    Ok(StatusUpdate::Delta(from, to)) => {
                        println!("status list {province}/{list}: delta {from} -> {to}")
                    }
                    Ok(StatusUpdate::UpToDate(v)) => println!("status list {province}/{list}: version {v}, up to date"),
                    Err(e) => {
                        all_synced = false;
                        eprintln!("huren-verifier: status list {province}/{list}: {e}");
                    }
                }
            }
            Ok(all_synced)
        }
        Command::Trust { action, store, at } => {
            let now = at_or_now(at.as_deref())?;
            trust_command(action, &store_path(store)?, now)
        }
    }
}

/// Run the kiosk until interrupted (Ctrl-C or SIGTERM).
fn serve(trust: TrustArgs, listen: std::net::SocketAddr, log: Option<PathBuf>, at: Option<i64>) -> anyhow::Result<()> {
    use huren_verifier::kiosk::Kiosk;
    let watched = trust.watched_files()?;
    let loader = Box::new(move || trust.checkpoint().map_err(|e| format!("{e:#}")));
    let mut kiosk = Kiosk::new(loader, watched).map_err(anyhow::Error::msg)?;
    if let Some(at) = at {
        kiosk = kiosk.starting_at(at);
    }
    if let Some(path) = &log {
        kiosk = kiosk.log(path).with_context(|| format!("opening the outcome log {}", path.display()))?;
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
        let address = listener.local_addr()?;
        println!("huren-verifier kiosk on http://{address}/");
        use std::io::Write;
        std::io::stdout().flush()?;
        huren_verifier::kiosk::serve(listener, std::sync::Arc::new(kiosk), huren_plumbing::server::shutdown_signal())
            .await
            .context("serving the kiosk")
    })
}

fn verify_inputs(checkpoint: &Checkpoint, now: i64, json: bool, inputs: &[String]) -> anyhow::Result<bool> {
    let (_, warning) = checkpoint.trust_age(now);
    if let Some(w) = &warning {
        eprintln!("huren-verifier: warning: {w}");
    }
    let limits = ImageLimits::default();
    // Read every input before printing anything, so an I/O error never leaves half an answer (images found in
    // a directory are read in turn: one that cannot be read is an answer of its own).
    let mut items = Vec::new();
    let mut batch = false;
    for input in inputs {
        batch |= inputs::is_batch(input);
        items.extend(inputs::read_input(input, &limits)?);
    }
    let progress = if batch {
        indicatif::ProgressBar::new(u64::try_from(items.len()).unwrap_or(0))
            .with_style(indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} codes {per_sec} ETA {eta}")?)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut all_valid = true;
    let mut tally: std::collections::BTreeMap<&'static str, u64> = std::collections::BTreeMap::new();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        // A chunk at a time: images scanned, then every code in the chunk verified together (one signature batch).
        let (labels, codes): (Vec<String>, Vec<InputCodes>) = items
            .by_ref()
            .take(inputs::BATCH_SIZE)
            .map(|(label, content)| (label, inputs::codes_in(content, &limits)))
            .unzip();
        let answers = checkpoint.answer_inputs(&codes, now);
        for (label, answer) in labels.iter().zip(answers) {
            progress.inc(1);
            let (outcome, several_codes) = (&answer.outcome, answer.several_codes_note());
            all_valid &= outcome.is_ok();
            *tally.entry(outcome.as_ref().map_or_else(|r| r.code().as_str(), |_| Code::Ok.as_str())).or_default() += 1;
            let status_note = checkpoint.status_note(outcome, now);
            if json {
                println!("{}", to_json(&VerifyReport::for_input(checkpoint, label, &answer, now)));
            } else {
                progress.suspend(|| {
                    print!("{}", human_report(label, outcome));
                    for note in status_note.iter().chain(several_codes.iter()) {
                        println!("    warning: {note}");
                    }
                });
            }
        }
    }
    progress.finish_and_clear();
    if batch {
        // A summary after the answers: counts per code.
        let total: u64 = tally.values().sum();
        let valid = tally.get(Code::Ok.as_str()).copied().unwrap_or(0);
        if json {
            let summary =
                BatchSummary { summary: BatchCounts { total, valid, invalid: total - valid, by_code: tally } };
            println!("{}", to_json(&summary));
        } else {
            let codes: Vec<String> = tally.iter().map(|(c, n)| format!("{c} {n}")).collect();
            println!("{total} codes: {valid} valid, {} not ({})", total - valid, codes.join(", "));
        }
    }
    Ok(all_valid)
}

/// The default trust store path: $HUREN_STORE, else $XDG_DATA_HOME or ~/.local/share, then huren/trust-store.cbor.
fn store_path(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match explicit {
        Some(path) => Ok(path),
        None => huren_plumbing::files::data_path("HUREN_STORE", "trust-store.cbor")
            .context("no $HUREN_STORE, $XDG_DATA_HOME or $HOME to place the trust store in; pass --store"),
    }
}

/// Where a checkpoint's trust comes from, resolved once for loading and for watching: `--trust` (a trust file or
/// a store), else the store (`--store`, $HUREN_STORE, or the default path when it exists), else $HUREN_TRUST.
/// `None`: nothing to trust.
fn trust_path(trust: Option<&Path>, store: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
    if let Some(path) = trust {
        return Ok(Some(path.to_path_buf()));
    }
    let explicit_store = store.is_some();
    let path = store_path(store.map(Path::to_path_buf))?;
    if explicit_store || path.exists() {
        return Ok(Some(path));
    }
    Ok(std::env::var_os("HUREN_TRUST").map(PathBuf::from))
}

fn load_trust(trust: Option<&Path>, store: Option<&Path>) -> anyhow::Result<TrustSource> {
    match trust_path(trust, store)? {
        Some(path) => TrustSource::open(&path)
            .with_context(|| format!("{} is neither a trust file nor a trust store", path.display())),
        None => {
            eprintln!("huren-verifier: warning: no trust store or trust file (--store, --trust); no key is trusted");
            Ok(TrustSource::List(TrustList::default()))
        }
    }
}

/// Print what an import took and each part it refused; true when nothing was refused.
fn print_import_report(source: &str, store: &TrustStore, report: &huren_keys::UpdateReport) -> bool {
    println!(
        "{source}: root v{} (followed {:?}), bundles updated {:?}, unchanged {:?}",
        store.state().root().version,
        report.roots_followed,
        report.bundles_updated,
        report.bundles_unchanged
    );
    for (what, reason) in &report.refused {
        eprintln!("huren-verifier: {source}: {what} refused (the rest was taken): {reason}");
    }
    report.refused.is_empty()
}

/// Run a `trust` action; false when part of an import was refused (exit status 1).
fn trust_command(action: TrustAction, path: &Path, now: i64) -> anyhow::Result<bool> {
    match action {
        TrustAction::Provision { root } => {
            let bytes = std::fs::read(&root).with_context(|| format!("reading {}", root.display()))?;
            let store = TrustStore::provision(path, &bytes, now)?;
            let r = store.state().root();
            println!(
                "trust store {} pinned to federation root v{} ({} members, threshold {})",
                path.display(),
                r.version,
                r.members.len(),
                r.threshold
            );
        }
        TrustAction::Import { file } => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let mut store = TrustStore::open(path)?;
            let report = store.import(&bytes, now)?;
            return Ok(print_import_report(&file.display().to_string(), &store, &report));
        }
        TrustAction::Status { json } => {
            let store = TrustStore::open(path)?;
            print!("{}", status_report(&store, now, json));
        }
    }
    Ok(true)
}

fn status_report(store: &TrustStore, now: i64, json: bool) -> String {
    if json {
        format!("{}\n", to_json(&TrustStatusReport::new(store, now)))
    } else {
        trust_status_text(store, now)
    }
}

/// The EU DCC signers to trust: none without `--dcc-trust` (every DCC is then `KID_UNKNOWN`).
fn load_dcc_trust(path: Option<&Path>) -> anyhow::Result<DccTrust> {
    let Some(path) = path else { return Ok(DccTrust::default()) };
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (trust, skipped) = DccTrust::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if skipped > 0 {
        eprintln!("huren-verifier: {}: {skipped} certificates could not be read and are not trusted", path.display());
    }
    Ok(trust)
}
