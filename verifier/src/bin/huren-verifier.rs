//! `huren-verifier`: check Huren credentials offline from QR text or images.
//!
//! `huren-verifier verify [--trust FILE] [--at RFC3339] [--json] INPUT...` where INPUT is QR text, a PNG/JPEG
//! file or `-` for standard input. Exit status: 0 when every input is valid, 1 when any is not, 2 for usage or
//! I/O errors.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use huren_keys::{TrustFile, TrustList};
use huren_verifier::dcc::{DccTrust, VerifiedDcc};
use huren_verifier::scan::{self, ImageLimits};
use huren_verifier::status::StatusUpdate;
use huren_verifier::store::{Freshness, Staleness, TrustStore};
use huren_verifier::sync::{sync, SyncOptions, SyncOutcome};
use huren_verifier::{verify, Code, Policy, Rejection, Verified};
use huren_wallet_core::Body;
use serde_json::json;

#[derive(Parser)]
#[command(name = "huren-verifier", version, about = "Verify Huren health credentials offline")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify QR payload strings, PNG/JPEG images, `-` (standard input), directories of images or NDJSON files.
    Verify {
        /// Trust data: a trust file written by `huren-issuer init`, or a trust store. Default: the trust store
        /// (--store), else $HUREN_TRUST.
        #[arg(long)]
        trust: Option<PathBuf>,
        /// Trust store to use (default: $HUREN_STORE, else ~/.local/share/huren/trust-store.cbor).
        #[arg(long)]
        store: Option<PathBuf>,
        /// Verify as of this time (RFC 3339, e.g. 2026-11-27T08:00:00Z) instead of now.
        #[arg(long)]
        at: Option<String>,
        /// Print one JSON object per input.
        #[arg(long)]
        json: bool,
        /// Apply this province's checkpoint acceptance policy (from its bundle in the trust store).
        #[arg(long)]
        checkpoint: Option<String>,
        /// Warn when the newest trust data is older than this many hours.
        #[arg(long, default_value_t = 48)]
        warn_after_hours: i64,
        /// Refuse (TRUST_STORE_STALE) when the newest trust data is older than this many hours.
        #[arg(long, default_value_t = 336)]
        refuse_after_hours: i64,
        /// Refuse (TRUST_STORE_STALE) a credential whose status list is this many hours past its time-to-live
        /// (before that: a warning).
        #[arg(long, default_value_t = 72)]
        status_refuse_after_hours: i64,
        /// Trust for EU Digital COVID Certificates (HC1:): the EU DCC Gateway trust-list JSON or PEM signer
        /// certificates.
        #[arg(long)]
        dcc_trust: Option<PathBuf>,
        /// QR text, image files, `-`, or in batch mode (a progress bar, then a summary) directories of images and
        /// NDJSON files (`.ndjson`/`.jsonl`) of QR texts.
        #[arg(required = true)]
        inputs: Vec<String>,
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

#[derive(Subcommand)]
enum TrustAction {
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
        Command::Verify {
            trust,
            store,
            at,
            json,
            checkpoint,
            warn_after_hours,
            refuse_after_hours,
            status_refuse_after_hours,
            dcc_trust,
            inputs,
        } => {
            let now = time_or_now(at.as_deref())?;
            let freshness = Freshness {
                warn_after: warn_after_hours.saturating_mul(3600),
                refuse_after: refuse_after_hours.saturating_mul(3600),
                status_refuse_after: status_refuse_after_hours.saturating_mul(3600),
                ..Freshness::default()
            };
            let trust = load_trust(trust, store)?;
            let policy = checkpoint_policy(&trust, checkpoint.as_deref())?;
            let dcc = load_dcc_trust(dcc_trust.as_deref())?;
            verify_inputs(&Checkpoint { trust, dcc, policy, freshness }, now, json, &inputs)
        }
        Command::Sync { url, store, at, timeout } => {
            let now = time_or_now(at.as_deref())?;
            let mut store = TrustStore::open(&store_path(store)?)?;
            let options = SyncOptions { timeout: std::time::Duration::from_secs(timeout), ..SyncOptions::default() };
            match sync(&mut store, &url, now, &options)? {
                SyncOutcome::NotModified => println!("{url}: not modified; trust store unchanged"),
                SyncOutcome::Imported(report) => println!(
                    "{url}: root v{}, bundles updated {:?}, unchanged {:?}",
                    store.state().root().version,
                    report.bundles_updated,
                    report.bundles_unchanged
                ),
            }
            // Then every status list the province bundles declare.
            let mut all_synced = true;
            for (province, list, result) in huren_verifier::status::sync_status(&mut store, now, &options) {
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
            let now = time_or_now(at.as_deref())?;
            trust_command(action, &store_path(store)?, now)?;
            Ok(true)
        }
    }
}

/// Where the verifier's trust comes from.
enum TrustSource {
    /// A trust store: federation root, province bundles, freshness.
    Store(TrustStore),
    /// A plain list of keys (a pre-federation trust file, or nothing).
    List(TrustList),
}

/// A checkpoint's trust, acceptance policy and freshness limits.
struct Checkpoint {
    trust: TrustSource,
    dcc: DccTrust,
    policy: Policy,
    freshness: Freshness,
}

/// A valid answer: a Huren credential or an EU DCC.
enum Answer {
    Huren(Verified),
    Dcc(VerifiedDcc),
}

impl Checkpoint {
    fn verify(&self, text: &str, now: i64) -> Result<Answer, Rejection> {
        if text.starts_with(huren_verifier::dcc::HC1_PREFIX) {
            return huren_verifier::dcc::verify_dcc(text, &self.dcc, now).map(Answer::Dcc);
        }
        match &self.trust {
            TrustSource::Store(store) => store.verify(text, now, &self.policy, &self.freshness),
            TrustSource::List(list) => verify(text, list, now, &self.policy),
        }
        .map(Answer::Huren)
    }

    /// A warning about the revocation check of a valid answer (stores only): list past its time-to-live, or
    /// not held.
    fn status_note(&self, outcome: &Result<Answer, Rejection>, now: i64) -> Option<String> {
        match (&self.trust, outcome) {
            (TrustSource::Store(store), Ok(Answer::Huren(verified))) => store.status_note(verified, now),
            _ => None,
        }
    }

    /// The trust data's age and a warning when it is past the warning age (stores only).
    fn trust_age(&self, now: i64) -> (Option<i64>, Option<String>) {
        match &self.trust {
            TrustSource::Store(store) => {
                let warning = (store.staleness(now, &self.freshness) == Staleness::Warn)
                    .then(|| format!("trust data is {} h old; sync soon", store.age(now) / 3600));
                (Some(store.age(now)), warning)
            }
            TrustSource::List(_) => (None, None),
        }
    }
}

/// The default policy, narrowed by a province's bundle when the checkpoint names its province.
fn checkpoint_policy(trust: &TrustSource, province: Option<&str>) -> anyhow::Result<Policy> {
    let mut policy = Policy::default();
    let Some(province) = province else { return Ok(policy) };
    let TrustSource::Store(store) = trust else { bail!("--checkpoint needs a trust store (federation bundles)") };
    let bundle = store
        .state()
        .bundles()
        .iter()
        .find(|b| b.province == province)
        .with_context(|| format!("the trust store has no bundle for {province}"))?;
    if !bundle.policy.accepted_types.is_empty() {
        policy.accepted_types = Some(bundle.policy.accepted_types.clone());
    }
    if bundle.policy.max_test_age.is_some() {
        policy.max_test_age = bundle.policy.max_test_age;
    }
    Ok(policy)
}

fn verify_inputs(checkpoint: &Checkpoint, now: i64, json: bool, inputs: &[String]) -> anyhow::Result<bool> {
    let (trust_age, warning) = checkpoint.trust_age(now);
    if let Some(w) = &warning {
        eprintln!("huren-verifier: warning: {w}");
    }
    let limits = ImageLimits::default();
    // Read every input before printing anything, so an I/O error never leaves half an answer (images found in
    // a directory are read in turn: one that cannot be read is an answer of its own).
    let mut items = Vec::new();
    let mut batch = false;
    for input in inputs {
        batch |= Path::new(input).is_dir() || is_ndjson(input);
        items.extend(read_input(input, &limits)?);
    }
    let progress = if batch {
        indicatif::ProgressBar::new(u64::try_from(items.len()).unwrap_or(0))
            .with_style(indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} codes {per_sec} ETA {eta}")?)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut all_valid = true;
    let mut tally: std::collections::BTreeMap<&'static str, u64> = std::collections::BTreeMap::new();
    for (label, content) in items {
        progress.inc(1);
        let content = match content {
            Content::Image(path) => {
                match std::fs::File::open(&path).and_then(|f| read_capped(f, limits.max_file_bytes)) {
                    Ok(bytes) => Content::Scanned(scan::scan_image_bytes(&bytes, &limits)),
                    Err(e) => {
                        Content::Scanned(Err(Rejection::QrUnreadable { reason: format!("cannot read the file: {e}") }))
                    }
                }
            }
            other => other,
        };
        let (text, outcome) = match content {
            Content::Text(text) => {
                let outcome = checkpoint.verify(&text, now);
                (Some(text), outcome)
            }
            Content::Scanned(Ok(texts)) => best_of(texts, |t| checkpoint.verify(t, now)),
            Content::Scanned(Err(rejection)) => (None, Err(rejection)),
            Content::Image(_) => (None, Err(Rejection::QrUnreadable { reason: "not read".into() })),
        };
        all_valid &= outcome.is_ok();
        *tally.entry(outcome.as_ref().map_or_else(|r| r.code().as_str(), |_| Code::Ok.as_str())).or_default() += 1;
        let format = format_of(text.as_deref());
        let status_note = checkpoint.status_note(&outcome, now);
        if json {
            let mut report = json_report(&label, format, &outcome, now);
            if let Some(age) = trust_age {
                report["trust_age_seconds"] = json!(age);
                report["trust_warning"] = json!(warning);
                report["status_warning"] = json!(status_note);
            }
            println!("{report}");
        } else {
            progress.suspend(|| {
                print!("{}", human_report(&label, &outcome));
                if let Some(note) = status_note {
                    println!("    warning: {note}");
                }
            });
        }
    }
    progress.finish_and_clear();
    if batch {
        // A summary after the answers: counts per code.
        let total: u64 = tally.values().sum();
        let valid = tally.get(Code::Ok.as_str()).copied().unwrap_or(0);
        if json {
            println!(
                "{}",
                json!({ "summary": { "total": total, "valid": valid, "invalid": total - valid, "by_code": tally } })
            );
        } else {
            let codes: Vec<String> = tally.iter().map(|(c, n)| format!("{c} {n}")).collect();
            println!("{total} codes: {valid} valid, {} not ({})", total - valid, codes.join(", "));
        }
    }
    Ok(all_valid)
}

/// Whether an input names an NDJSON file of QR texts (`.ndjson` or `.jsonl`).
fn is_ndjson(input: &str) -> bool {
    let lower = input.to_ascii_lowercase();
    (lower.ends_with(".ndjson") || lower.ends_with(".jsonl")) && Path::new(input).is_file()
}

/// One line of an NDJSON input: a JSON string, or an object with `text` (or `qr`); anything else is kept as is
/// (and then refused as not a code).
fn ndjson_text(line: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(line) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(v) => v.get("text").or_else(|| v.get("qr")).and_then(|t| t.as_str()).unwrap_or(line).to_string(),
        Err(_) => line.to_string(),
    }
}

/// The image files under a directory, in name order, at any depth (symbolic links are not followed).
fn images_in(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", dir.display()))?;
    entries.sort_by_key(std::fs::DirEntry::path);
    for entry in entries {
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() {
            images_in(&path, out)?;
        } else if kind.is_file() {
            let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
            if ["png", "jpg", "jpeg"].contains(&ext.as_str()) {
                out.push(path);
            }
        }
    }
    Ok(())
}

/// Among the codes found in one image: the first valid one, else the first rejection (with its text).
fn best_of(
    texts: Vec<String>,
    check: impl Fn(&str) -> Result<Answer, Rejection>,
) -> (Option<String>, Result<Answer, Rejection>) {
    let mut first = None;
    for text in texts {
        let outcome = check(&text);
        if outcome.is_ok() {
            return (Some(text), outcome);
        }
        first.get_or_insert((Some(text), outcome));
    }
    first.unwrap_or((None, Err(Rejection::QrUnreadable { reason: "no readable QR code in the image".into() })))
}

enum Content {
    Text(String),
    Scanned(Result<Vec<String>, Rejection>),
    /// An image in a directory given as input: read and scanned when its turn comes (batch mode).
    Image(PathBuf),
}

/// The items of one input; an input that holds nothing to verify is a usage error.
fn read_input(input: &str, limits: &ImageLimits) -> anyhow::Result<Vec<(String, Content)>> {
    let items = if input == "-" {
        contents_of(
            "-",
            &read_capped(std::io::stdin(), limits.max_file_bytes).context("reading standard input")?,
            limits,
        )
    } else if Path::new(input).is_dir() {
        let mut images = Vec::new();
        images_in(Path::new(input), &mut images)?;
        images.into_iter().map(|p| (p.display().to_string(), Content::Image(p))).collect()
    } else if is_ndjson(input) {
        let text = std::fs::read_to_string(input).with_context(|| format!("reading {input}"))?;
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| (format!("{input}:{}", i + 1), Content::Text(ndjson_text(l.trim()))))
            .collect()
    } else if Path::new(input).is_file() {
        let file = std::fs::File::open(input).with_context(|| format!("opening {input}"))?;
        contents_of(
            input,
            &read_capped(file, limits.max_file_bytes).with_context(|| format!("reading {input}"))?,
            limits,
        )
    } else {
        let lower = input.to_ascii_lowercase();
        let looks_like_path =
            [".png", ".jpg", ".jpeg", ".txt"].iter().any(|ext| lower.ends_with(ext)) || input.contains('/');
        if looks_like_path && !has_qr_prefix(input) {
            bail!("{input}: no such file");
        }
        vec![(input.to_string(), Content::Text(input.to_string()))]
    };
    if items.is_empty() {
        bail!("{input}: nothing to verify (no QR text or image)");
    }
    Ok(items)
}

/// Read at most `cap` bytes; a longer input yields `cap + 1` bytes, which the image limits then refuse.
fn read_capped(reader: impl Read, cap: usize) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1)).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Whether text starts like a QR payload: 2 to 4 capitals or digits, then `:` (`HR1:`, `HC1:`).
fn has_qr_prefix(text: &str) -> bool {
    let head: Vec<u8> = text.bytes().take(5).collect();
    let colon = head.iter().position(|b| *b == b':');
    colon.is_some_and(|i| i >= 2 && head[..i].iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
}

/// An image gives one item; text gives one item per non-empty line; an oversized input one refusal.
fn contents_of(label: &str, bytes: &[u8], limits: &ImageLimits) -> Vec<(String, Content)> {
    if scan::looks_like_image(bytes) || bytes.len() > limits.max_file_bytes {
        return vec![(label.to_string(), Content::Scanned(scan::scan_image_bytes(bytes, limits)))];
    }
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty())
        .map(|l| (label.to_string(), Content::Text(l.to_string())))
        .collect()
}

/// The default trust store path: $HUREN_STORE, else $XDG_DATA_HOME or ~/.local/share, then huren/trust-store.cbor.
fn store_path(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit.or_else(|| std::env::var_os("HUREN_STORE").map(PathBuf::from)) {
        return Ok(p);
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .context("no $HUREN_STORE, $XDG_DATA_HOME or $HOME to place the trust store in; pass --store")?;
    Ok(base.join("huren/trust-store.cbor"))
}

fn load_trust(trust: Option<PathBuf>, store: Option<PathBuf>) -> anyhow::Result<TrustSource> {
    if let Some(path) = trust {
        let bytes = std::fs::read(&path).with_context(|| format!("reading trust file {}", path.display()))?;
        if let Ok(file) = TrustFile::decode(&bytes) {
            let list = TrustList::from_trust_file(&file).with_context(|| format!("trust file {}", path.display()))?;
            return Ok(TrustSource::List(list));
        }
        return Ok(TrustSource::Store(
            TrustStore::open(&path)
                .with_context(|| format!("{} is neither a trust file nor a trust store", path.display()))?,
        ));
    }
    let explicit_store = store.is_some();
    let path = store_path(store)?;
    if explicit_store || path.exists() {
        return Ok(TrustSource::Store(TrustStore::open(&path)?));
    }
    if let Some(legacy) = std::env::var_os("HUREN_TRUST") {
        return load_trust(Some(PathBuf::from(legacy)), None);
    }
    eprintln!("huren-verifier: warning: no trust store or trust file (--store, --trust); no key is trusted");
    Ok(TrustSource::List(TrustList::default()))
}

fn trust_command(action: TrustAction, path: &Path, now: i64) -> anyhow::Result<()> {
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
            println!(
                "imported {}: root v{} (followed {:?}), bundles updated {:?}, unchanged {:?}",
                file.display(),
                store.state().root().version,
                report.roots_followed,
                report.bundles_updated,
                report.bundles_unchanged
            );
        }
        TrustAction::Status { json } => {
            let store = TrustStore::open(path)?;
            print!("{}", status_report(&store, now, json));
        }
    }
    Ok(())
}

fn status_report(store: &TrustStore, now: i64, json: bool) -> String {
    let state = store.state();
    let root = state.root();
    let staleness = store.staleness(now, &Freshness::default());
    let label = match staleness {
        Staleness::Fresh => "fresh",
        Staleness::Warn => "warn",
        Staleness::Refuse => "stale",
        Staleness::ClockBehind => "clock-behind",
    };
    if json {
        let bundles: Vec<_> = state
            .bundles()
            .iter()
            .map(|b| {
                json!({"province": b.province, "version": b.version, "issued_at": rfc3339(b.issued_at),
                       "expires": rfc3339(b.expires), "issuer_keys": b.issuer_keys.len(),
                       "revoked_keys": b.revocations.len(), "expired": now >= b.expires})
            })
            .collect();
        let lists: Vec<_> = store
            .status_lists()
            .iter()
            .map(|l| {
                json!({"province": l.province, "list": l.list, "version": l.version,
                       "issued_at": rfc3339(l.issued_at), "ttl_seconds": l.ttl, "entries": l.bits.len(),
                       "not_valid": l.bits.non_valid().count(), "age_seconds": now.saturating_sub(l.issued_at),
                       "past_ttl": now > l.expires_at()})
            })
            .collect();
        return format!(
            "{}\n",
            json!({"store": store.path().display().to_string(), "root_version": root.version, "status_lists": lists,
                   "members": root.members.iter().map(|m| m.province.clone()).collect::<Vec<_>>(),
                   "threshold": root.threshold, "root_expires": rfc3339(root.expires),
                   "time_floor": rfc3339(state.time_floor()), "age_seconds": store.age(now),
                   "freshness": label, "bundles": bundles})
        );
    }
    let mut out = format!(
        "trust store {}\n  federation root v{}: {} members, threshold {}, expires {}\n  time floor {} (age {} h): {label}\n",
        store.path().display(),
        root.version,
        root.members.len(),
        root.threshold,
        rfc3339(root.expires),
        rfc3339(state.time_floor()),
        store.age(now) / 3600,
    );
    for b in state.bundles() {
        out.push_str(&format!(
            "  {} bundle v{}: {} issuer keys, {} revoked, expires {}{}\n",
            b.province,
            b.version,
            b.issuer_keys.len(),
            b.revocations.len(),
            rfc3339(b.expires),
            if now >= b.expires { " (EXPIRED)" } else { "" }
        ));
    }
    for l in store.status_lists().iter() {
        let age = now.saturating_sub(l.issued_at);
        out.push_str(&format!(
            "  {}/{} status list v{}: {} entries, {} not valid, {} min old (time-to-live {} min){}\n",
            l.province,
            l.list,
            l.version,
            l.bits.len(),
            l.bits.non_valid().count(),
            age / 60,
            l.ttl / 60,
            if now > l.expires_at() { " (PAST ITS TIME-TO-LIVE)" } else { "" }
        ));
    }
    out
}

fn time_or_now(at: Option<&str>) -> anyhow::Result<i64> {
    match at {
        Some(at) => parse_time(at),
        None => unix_now(),
    }
}

fn parse_time(text: &str) -> anyhow::Result<i64> {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .with_context(|| format!("--at {text:?} is not an RFC 3339 time such as 2026-11-27T08:00:00Z"))?;
    Ok(t.unix_timestamp())
}

fn unix_now() -> anyhow::Result<i64> {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).context("system clock before 1970")?;
    Ok(i64::try_from(d.as_secs())?)
}

fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

/// The rejection's detail, with times written for people.
fn detail(r: &Rejection) -> String {
    match r {
        Rejection::Expired { now, expired_at } => format!("expired at {}, now {}", rfc3339(*expired_at), rfc3339(*now)),
        Rejection::NotYetValid { now, valid_from } => {
            format!("valid from {}, now {}", rfc3339(*valid_from), rfc3339(*now))
        }
        other => other.to_string(),
    }
}

/// `dcc` for EU DCC text (`HC1:`), `huren` for everything else.
fn format_of(text: Option<&str>) -> &'static str {
    if text.is_some_and(|t| t.starts_with("HC1:")) {
        "dcc"
    } else {
        "huren"
    }
}

fn json_report(label: &str, format: &str, outcome: &Result<Answer, Rejection>, now: i64) -> serde_json::Value {
    // What every valid answer says, whatever its format; each format adds its own fields.
    let valid = |fields: serde_json::Value| {
        let mut report = json!({
            "input": label,
            "valid": true,
            "format": format,
            "code": Code::Ok,
            "stage": "done",
            "message": { "en": Code::Ok.message_en(), "zh": Code::Ok.message_zh() },
            "verified_at": rfc3339(now),
        });
        if let (Some(report), serde_json::Value::Object(fields)) = (report.as_object_mut(), fields) {
            report.extend(fields);
        }
        report
    };
    match outcome {
        Ok(Answer::Dcc(v)) => {
            let d = v.dcc();
            valid(json!({
                "issuer": d.issuer,
                "kid": huren_keys::hex(&v.kid()),
                "type": d.kind.name(),
                "expires_at": rfc3339(d.expires_at),
                "dcc": d,
            }))
        }
        Ok(Answer::Huren(v)) => {
            let c = v.credential();
            valid(json!({
                "issuer": v.issuer(),
                "kid": v.kid().to_hex(),
                "alg": v.algorithm().name(),
                "type": c.credential_type().name(),
                "credential": c,
            }))
        }
        Err(r) => json!({
            "input": label,
            "valid": false,
            "format": format,
            "code": r.code(),
            "stage": r.stage().as_str(),
            "message": { "en": r.code().message_en(), "zh": r.code().message_zh() },
            "detail": detail(r),
            "issuer": null,
            "kid": null,
            "verified_at": rfc3339(now),
        }),
    }
}

fn human_report(label: &str, outcome: &Result<Answer, Rejection>) -> String {
    let short: String = label.chars().take(40).collect();
    match outcome {
        Ok(Answer::Dcc(v)) => {
            let d = v.dcc();
            let native = [d.name.family.as_deref(), d.name.given.as_deref()].into_iter().flatten().collect::<Vec<_>>();
            let standard = [Some(d.name.family_std.as_str()), d.name.given_std.as_deref()].into_iter().flatten();
            let dates: Vec<String> = d.key_dates.iter().map(|(k, v)| format!("{k} {v}")).collect();
            format!(
                "OK  {} / {}  [{short}]  (EU DCC)\n    {} · {} ({}) · born {}\n    {}{} · {} · valid until {}\n    signed by {}\n",
                Code::Ok.message_zh(),
                Code::Ok.message_en(),
                d.issuer.as_deref().unwrap_or("?"),
                native.join(" "),
                standard.collect::<Vec<_>>().join(" "),
                d.date_of_birth,
                d.kind.name(),
                d.dose.map(|(n, of)| format!(" {n}/{of}")).unwrap_or_default(),
                dates.join(", "),
                rfc3339(d.expires_at),
                huren_keys::hex(&v.kid()),
            )
        }
        Ok(Answer::Huren(v)) => {
            let c = v.credential();
            let what = match &c.body {
                Body::HealthStatus(h) => format!(
                    "{} {} — {} / {}",
                    h.colour.label_zh(),
                    h.colour.label_en(),
                    h.reason.message_zh(),
                    h.reason.message_en()
                ),
                other => other.credential_type().name().to_string(),
            };
            format!(
                "OK  {} / {}  [{short}]\n    {} · {what}\n    {} · ID {} · valid until {}\n    signed by {} ({})\n",
                Code::Ok.message_zh(),
                Code::Ok.message_en(),
                c.issuer,
                c.subject.name,
                c.subject.masked_id,
                rfc3339(c.expires_at),
                v.kid(),
                v.algorithm(),
            )
        }
        Err(r) => format!(
            "{}  {} / {}  [{short}]\n    stage {}: {}\n",
            r.code().as_str(),
            r.code().message_zh(),
            r.code().message_en(),
            r.stage().as_str(),
            detail(r)
        ),
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
