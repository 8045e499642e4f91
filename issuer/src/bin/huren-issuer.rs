//! `huren-issuer`: set up a province and issue credentials (admin CLI).
//!
//! `huren-issuer init --province CN-GD --dir DIR` creates the keys and the trust file;
//! `huren-issuer issue --dir DIR ...` issues one credential from flags or a JSON file, printing the QR text on
//! standard output and writing the QR image where asked.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use huren_issuer::{InitOptions, IssueRequest, Province};
use huren_keys::CredentialType;
use huren_wallet_core::{Ecc, HolderKey, QrSymbol};
use serde_json::{json, Map, Value};

#[derive(Parser)]
#[command(name = "huren-issuer", version, about = "Huren provincial issuer: set up a province and issue credentials")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
enum KeyAction {
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
enum AuditAction {
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
enum TokenAction {
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

/// The province's database: PostgreSQL at `url`, or SQLite in `dir`; migrated.
async fn database(dir: &std::path::Path, url: Option<&str>) -> anyhow::Result<huren_issuer::storage::Database> {
    Ok(huren_issuer::storage::Database::for_province(dir, url).await?)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

#[derive(Args)]
struct IssueArgs {
    /// Province directory made by `init`.
    #[arg(long)]
    dir: PathBuf,
    /// Read the request from this JSON file (`-` for standard input) instead of flags.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Credential type: health-status, test-result, vaccination or recovery.
    #[arg(long = "type", default_value = "health-status")]
    kind: String,
    /// Subject name.
    #[arg(long)]
    name: Option<String>,
    /// Pinyin transliteration.
    #[arg(long)]
    pinyin: Option<String>,
    /// Masked national ID, e.g. 4403**********1234.
    #[arg(long)]
    id: Option<String>,
    /// Date of birth, YYYY-MM-DD.
    #[arg(long)]
    dob: Option<String>,
    /// Health status colour: green, amber, red.
    #[arg(long, default_value = "green")]
    colour: String,
    /// Health status reason: no-risk, close-contact, positive-test, risk-area-travel, quarantine, awaiting-test.
    #[arg(long, default_value = "no-risk")]
    reason: String,
    /// Test kind: naat or antigen.
    #[arg(long, default_value = "naat")]
    test_kind: String,
    /// Test outcome: negative or positive.
    #[arg(long, default_value = "negative")]
    outcome: String,
    /// When the test sample was taken (RFC 3339); defaults to the issue time.
    #[arg(long)]
    sampled_at: Option<String>,
    /// Testing centre.
    #[arg(long)]
    centre: Option<String>,
    /// Vaccine product code.
    #[arg(long)]
    product: Option<String>,
    /// Dose number.
    #[arg(long, default_value_t = 1)]
    dose: u8,
    /// Doses in the series.
    #[arg(long, default_value_t = 1)]
    doses: u8,
    /// Vaccination date, YYYY-MM-DD.
    #[arg(long)]
    date: Option<String>,
    /// Recovery: date of first positive test.
    #[arg(long)]
    first_positive: Option<String>,
    /// Recovery: first valid day.
    #[arg(long)]
    valid_from: Option<String>,
    /// Recovery: last valid day.
    #[arg(long)]
    valid_until: Option<String>,
    /// Validity in hours from the issue time.
    #[arg(long, default_value_t = 168)]
    valid_hours: u32,
    /// Validity starts at this time (RFC 3339) rather than at issue.
    #[arg(long)]
    not_before: Option<String>,
    /// Health status: it stops holding at this time (RFC 3339), earlier than the credential's expiry.
    #[arg(long)]
    status_valid_until: Option<String>,
    /// Bind the credential to a holder device key: a file with the 32 raw bytes of an Ed25519 public key or its
    /// DER SubjectPublicKeyInfo (the `.pub.der` that `huren-keys keygen` writes). Verifiers then accept the
    /// credential only as the wallet's dynamic code (HP1:).
    #[arg(long, value_name = "FILE")]
    holder_key: Option<PathBuf>,
    /// Write the QR code as PNG to this file.
    #[arg(long)]
    png: Option<PathBuf>,
    /// Write the QR code as SVG to this file.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Also print the QR code to standard error for a terminal.
    #[arg(long)]
    terminal: bool,
    /// QR error-correction level: L, M, Q or H.
    #[arg(long, default_value = "Q")]
    ecc: Ecc,
    /// Pixels per QR module in the PNG (1 to 64).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    module_px: u32,
    /// Issue as of this time (RFC 3339) instead of now.
    #[arg(long)]
    at: Option<String>,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("huren-issuer: {}", report(&e));
            ExitCode::from(2)
        }
    }
}

/// An error and its causes on one line, `: `-separated; a cause that its parent's message already ends with
/// (the library's errors include their source in their message) is not repeated.
fn report(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.ends_with(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init { province, dir, issuer_key: Some(issuer_key), certificate, root_pub, .. } => {
            let (Some(certificate), Some(root_pub)) = (certificate, root_pub) else {
                bail!("--issuer-key needs --certificate and --root-pub");
            };
            let root_bytes = std::fs::read(&root_pub).with_context(|| format!("reading {}", root_pub.display()))?;
            let root = huren_keys::PublicKey::from_spki_der(&root_bytes)?;
            let p = Province::adopt(&dir, &province, &root, &issuer_key, &certificate, passphrase()?.as_deref())?;
            eprintln!(
                "province {} set up in {} with issuer key {}",
                p.code(),
                dir.display(),
                p.issuer_key().public().kid()
            );
            Ok(())
        }
        Command::Init { province, dir, types, root_key, at, .. } => {
            let now = time_or_now(at.as_deref())?;
            let mut options = InitOptions { root_key, passphrase: passphrase()?, ..InitOptions::default() };
            if !types.is_empty() {
                options.credential_types = types
                    .iter()
                    .map(|t| CredentialType::from_name(t).with_context(|| format!("unknown credential type {t:?}")))
                    .collect::<anyhow::Result<_>>()?;
            }
            let p = Province::init(&dir, &province, now, &options)?;
            eprintln!("province {} initialised in {}", p.code(), dir.display());
            eprintln!("  issuer key {} (certified by the province root)", p.issuer_key().public().kid());
            eprintln!("  its certificate, for the province bundle: {}", p.files().issuer_certificate().display());
            eprintln!("  trust file for verifiers: {}", p.files().trust().display());
            Ok(())
        }
        Command::Issue(args) => issue(*args),
        Command::Serve { config, settings } => {
            let settings = match config {
                Some(path) => settings.or(huren_issuer::config::ServeConfig::load(&path)?),
                None => settings,
            };
            settings.dir.as_ref().context("no province directory: pass --dir or set `dir` in --config")?;
            // Request logs on standard error; RUST_LOG filters (default: info).
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=info"));
            let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                let server = huren_issuer::server::Server::bind(&settings, passphrase()?.as_deref()).await?;
                eprintln!("huren-issuer: {} serving on http://{}", server.province(), server.local_addr()?);
                server.run(shutdown_signal()).await?;
                eprintln!("huren-issuer: stopped");
                Ok(())
            })
        }
        Command::Bulk { file, dir, server, token, database_url } => {
            use huren_issuer::bulk_client::Target;
            let target = match (dir, server, token) {
                (Some(dir), _, _) => Target::Database { dir, database_url, passphrase: passphrase()? },
                (None, Some(url), Some(token)) => Target::Server { url, token },
                _ => bail!("pass --dir DIR, or --server URL with --token"),
            };
            let runtime = tokio::runtime::Runtime::new()?;
            Ok(runtime.block_on(huren_issuer::bulk_client::bulk(&file, target))?)
        }
        Command::Revoke { dir, id, reason, suspend, reinstate, database_url } => {
            use huren_issuer::storage::CredentialStatus;
            let status = if suspend {
                CredentialStatus::Suspended
            } else if reinstate {
                CredentialStatus::Valid
            } else {
                CredentialStatus::Revoked
            };
            // Refused before the database is opened: nothing about a malformed request reaches it.
            let bytes = huren_issuer::issuance::parse_credential_id(&id)
                .with_context(|| format!("{id:?} is not a credential id (lower-case hex)"))?;
            huren_issuer::service::check_reason(&reason)?;
            // Only this province's credentials, also on a database shared with other provinces.
            let province = Province::code_of(&dir)?;
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                let db = database(&dir, database_url.as_deref()).await?;
                let now = time_or_now(None)?;
                if !db.set_status(&bytes, &province, status, &reason, now, "cli").await? {
                    bail!("no credential {id}, or it is already revoked");
                }
                println!("{id}: {}", status.as_str());
                Ok(())
            })
        }
        Command::Keys { action: KeyAction::Rotate { dir, root_key, database_url } } => {
            let passphrase = passphrase()?;
            let province = Province::open_with(&dir, passphrase.as_deref())?;
            let root_path = root_key.unwrap_or_else(|| province.files().root_key());
            let root = huren_keys::SigningKey::load(&root_path)?;
            let old = province.issuer_key().public().kid();
            let now = time_or_now(None)?;
            let options = InitOptions { passphrase, ..InitOptions::default() };
            let rotated = province.rotate(&root, now, &options)?;
            let new = rotated.issuer_key().public().kid();
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                let db = database(&dir, database_url.as_deref()).await?;
                db.append_audit(now, "cli", "key.rotate", &new.to_hex(), &format!("replaces {old}")).await?;
                anyhow::Ok(())
            })?;
            println!(
                "issuer key rotated: {old} -> {new}; certificate {}",
                rotated.files().issuer_certificate().display()
            );
            Ok(())
        }
        Command::Audit { action: AuditAction::Verify { dir, database_url } } => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                let db = database(&dir, database_url.as_deref()).await?;
                let log = db.audit_log().await?;
                match huren_issuer::storage::verify_audit_chain(&log) {
                    Ok(()) => {
                        println!("audit log: {} entries, chain intact", log.len());
                        Ok(())
                    }
                    Err(b) => {
                        println!("audit log: BROKEN at entry {}: {}", b.seq, b.reason);
                        std::process::exit(1);
                    }
                }
            })
        }
        Command::Tokens { action: TokenAction::Create { dir, role, database_url } } => {
            let role: huren_issuer::auth::Role = role.parse().map_err(huren_issuer::Error::from)?;
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async {
                let province = Province::open_with(&dir, passphrase()?.as_deref())?;
                let db = database(&dir, database_url.as_deref()).await?;
                let token = huren_issuer::auth::create_token(&db, role, province.code(), time_or_now(None)?).await?;
                println!("{token}");
                eprintln!("huren-issuer: {role} token for {} (shown once; stored hashed)", province.code());
                Ok(())
            })
        }
    }
}

fn issue(args: IssueArgs) -> anyhow::Result<()> {
    let now = time_or_now(args.at.as_deref())?;
    let province = Province::open_with(&args.dir, passphrase()?.as_deref())?;
    let request: IssueRequest = match &args.json {
        Some(path) => {
            let text = if path.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading standard input")?
            } else {
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
            };
            serde_json::from_str(&text).context("request JSON")?
        }
        None => serde_json::from_value(request_from_flags(&args, now)?).context("request flags")?,
    };
    let mut request = request;
    if let Some(path) = &args.holder_key {
        request.holder_key = Some(read_holder_key(path)?);
    }
    let issued = province.issue(&request, now)?;
    if issued.credential.holder.is_some() {
        eprintln!("bound to a holder device key: verifiers accept it only as the wallet's dynamic code (HP1:)");
    }
    let qr = QrSymbol::new(&issued.qr_text(), args.ecc)?;
    if let Some(path) = &args.png {
        std::fs::write(path, qr.to_png(args.module_px)?).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.svg {
        std::fs::write(path, qr.to_svg()).with_context(|| format!("writing {}", path.display()))?;
    }
    if args.terminal {
        eprintln!("{}", qr.to_terminal());
    }
    eprintln!(
        "issued {} credential {} for {}: {} bytes, QR version {} at ECC {:?}",
        issued.credential.credential_type().name(),
        huren_keys::hex(&issued.credential.id),
        province.code(),
        issued.cose.len(),
        qr.version(),
        args.ecc
    );
    println!("{}", issued.qr_text());
    Ok(())
}

/// Build the JSON request from flags, so flags and files share one validated path.
fn request_from_flags(a: &IssueArgs, now: i64) -> anyhow::Result<Value> {
    let (Some(name), Some(id)) = (&a.name, &a.id) else { bail!("--name and --id are required without --json") };
    let mut subject = Map::new();
    subject.insert("name".into(), json!(name));
    subject.insert("masked_id".into(), json!(id));
    if let Some(p) = &a.pinyin {
        subject.insert("pinyin".into(), json!(p));
    }
    if let Some(d) = &a.dob {
        subject.insert("date_of_birth".into(), json!(d));
    }
    let need = |v: &Option<String>, flag: &str| {
        v.clone().with_context(|| format!("--{flag} is required for --type {}", a.kind))
    };
    let body = match a.kind.as_str() {
        "health-status" => json!({
            "type": a.kind, "colour": a.colour, "reason": a.reason,
            "valid_until": a.status_valid_until.as_deref().map(parse_time).transpose()?,
        }),
        "test-result" => json!({
            "type": a.kind, "kind": a.test_kind, "outcome": a.outcome,
            "sampled_at": match &a.sampled_at { Some(t) => parse_time(t)?, None => now },
            "centre": a.centre,
        }),
        "vaccination" => json!({
            "type": a.kind, "product": need(&a.product, "product")?, "dose": a.dose, "doses": a.doses,
            "date": need(&a.date, "date")?,
        }),
        "recovery" => json!({
            "type": a.kind, "first_positive": need(&a.first_positive, "first-positive")?,
            "valid_from": need(&a.valid_from, "valid-from")?, "valid_until": need(&a.valid_until, "valid-until")?,
        }),
        other => bail!("unknown credential type {other:?}"),
    };
    let not_before = a.not_before.as_deref().map(parse_time).transpose()?;
    Ok(json!({ "subject": subject, "body": body, "valid_for_hours": a.valid_hours, "not_before": not_before }))
}

/// A holder device key from a file: the 32 raw bytes of an Ed25519 public key, or its DER SubjectPublicKeyInfo.
fn read_holder_key(path: &std::path::Path) -> anyhow::Result<HolderKey> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let key = if bytes.len() == 32 {
        HolderKey::from_bytes(&bytes)
    } else {
        huren_keys::PublicKey::from_spki_der(&bytes)
            .map_err(huren_wallet_core::Error::from)
            .and_then(|k| HolderKey::from_public_key(&k))
    };
    key.with_context(|| format!("{}: not an Ed25519 holder public key (32 raw bytes or SPKI DER)", path.display()))
}

/// The issuer key's passphrase: `$HUREN_KEY_PASSPHRASE`, else the first line of `$HUREN_KEY_PASSPHRASE_FILE`,
/// else none (the key is then stored, and expected, unencrypted).
fn passphrase() -> anyhow::Result<Option<Vec<u8>>> {
    if let Some(p) = std::env::var_os("HUREN_KEY_PASSPHRASE") {
        return Ok(Some(p.into_encoded_bytes()));
    }
    match std::env::var_os("HUREN_KEY_PASSPHRASE_FILE") {
        Some(path) => {
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.to_string_lossy()))?;
            Ok(Some(text.lines().next().unwrap_or_default().as_bytes().to_vec()))
        }
        None => Ok(None),
    }
}

fn parse_time(text: &str) -> anyhow::Result<i64> {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .with_context(|| format!("{text:?} is not an RFC 3339 time such as 2026-11-27T08:00:00Z"))?;
    Ok(t.unix_timestamp())
}

fn time_or_now(at: Option<&str>) -> anyhow::Result<i64> {
    match at {
        Some(t) => parse_time(t),
        None => {
            let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
            Ok(i64::try_from(d.as_secs())?)
        }
    }
}
