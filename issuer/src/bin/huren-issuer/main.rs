//! `huren-issuer`: set up a province and issue credentials (admin CLI).
//!
//! `huren-issuer init --province CN-GD --dir DIR` creates the keys and the trust file;
//! `huren-issuer issue --dir DIR ...` issues one credential from flags or a JSON file, printing the QR text on
//! standard output and writing the QR image where asked.

use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Parser;
use huren_issuer::{InitOptions, IssueRequest, Province};
use huren_keys::CredentialType;
use huren_plumbing::clock::{at_or_now, parse_rfc3339};
use huren_wallet_core::{HolderKey, QrSymbol};
use serde_json::{json, Map, Value};

mod args;

use args::{AuditAction, Cli, Command, IssueArgs, KeyAction, TokenAction};

/// The province's database: PostgreSQL at `url`, or SQLite in `dir`; migrated.
async fn database(dir: &std::path::Path, url: Option<&str>) -> anyhow::Result<huren_issuer::storage::Database> {
    Ok(huren_issuer::storage::Database::for_province(dir, url).await?)
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
            let now = at_or_now(at.as_deref())?;
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
                server.run(huren_plumbing::server::shutdown_signal()).await?;
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
                let now = at_or_now(None)?;
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
            let now = at_or_now(None)?;
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
                let token = huren_issuer::auth::create_token(&db, role, province.code(), at_or_now(None)?).await?;
                println!("{token}");
                eprintln!("huren-issuer: {role} token for {} (shown once; stored hashed)", province.code());
                Ok(())
            })
        }
    }
}

fn issue(args: IssueArgs) -> anyhow::Result<()> {
    let now = at_or_now(args.at.as_deref())?;
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
            "valid_until": a.status_valid_until.as_deref().map(parse_rfc3339).transpose()?,
        }),
        "test-result" => json!({
            "type": a.kind, "kind": a.test_kind, "outcome": a.outcome,
            "sampled_at": match &a.sampled_at { Some(t) => parse_rfc3339(t)?, None => now },
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
    let not_before = a.not_before.as_deref().map(parse_rfc3339).transpose()?;
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
    Ok(huren_plumbing::files::key_passphrase()?.map(|phrase| phrase.to_vec()))
}
