//! `huren-keys`: the federation's key ceremonies, each a command that reads and writes files, so every step can
//! run on an offline machine and hand its output over on a USB stick.
//!
//! ```text
//! huren-keys keygen --out gd/root                       # gd/root.key.pem (0600) + gd/root.pub.der
//! huren-keys export --key gd/issuer.key --out plain.key.pem  # sealed or old file -> standard PKCS#8 v1 PEM
//! huren-keys propose --version 1 --threshold 2 --member CN-GD=gd/root.pub.der ... --out root-v1.proposal
//! huren-keys sign --proposal root-v1.proposal --key gd/root.key.pem --out gd.sig     # each member, offline
//! huren-keys combine --proposal root-v1.proposal --sig gd.sig --sig hb.sig --out root-v1.cose
//! huren-keys certify --root-key gd/root.key.pem --province CN-GD --key gd/issuer.pub.der --out gd/issuer.cert
//! huren-keys bundle --root-key gd/root.key.pem --province CN-GD --version 1 --cert gd/issuer.cert --out gd.bundle
//! huren-keys assemble --root root-v1.cose --bundle gd.bundle ... --out trust-bundle.cbor
//! huren-keys inspect FILE [--root root-v1.cose]          # readable report; verifies what it can
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Parser;
use huren_keys::federation::{combine, cosign};
use huren_keys::{
    AcceptancePolicy, CredentialType, FederationRoot, KeyCertificate, KeyId, KeyRevocation, Member, ProvinceBundle,
    PublicKey, SigningKey, StatusListDescriptor, TrustBundle,
};
use huren_plumbing::clock::{at_or_now, parse_rfc3339, rfc3339};

mod args;

use args::{Cli, Command};

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("huren-keys: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Write a new output file; ceremonies never overwrite one.
fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {} (ceremonies never overwrite a file)", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

fn types(names: &[String]) -> anyhow::Result<Vec<CredentialType>> {
    if names.is_empty() {
        return Ok(CredentialType::ALL.to_vec());
    }
    names
        .iter()
        .map(|n| CredentialType::from_name(n).with_context(|| format!("unknown credential type {n:?}")))
        .collect()
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Keygen { out } => {
            let key = SigningKey::generate()?;
            let (private, public) = (with_suffix(&out, "key.pem"), with_suffix(&out, "pub.der"));
            if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            key.save(&private)?;
            write_new(&public, key.public().spki_der())?;
            println!("key {} -> {} (private, 0600), {}", key.public().kid(), private.display(), public.display());
        }
        Command::Export { key, out } => {
            let passphrase = passphrase()?;
            let key = SigningKey::load_with(&key, passphrase.as_ref().map(|p| p.as_slice())).with_context(|| {
                match &passphrase {
                    Some(_) => format!("reading {}", key.display()),
                    None => format!(
                        "reading {} (a sealed key needs $HUREN_KEY_PASSPHRASE or $HUREN_KEY_PASSPHRASE_FILE)",
                        key.display()
                    ),
                }
            })?;
            key.save(&out)?;
            println!("key {} -> {} (PKCS#8 v1, unencrypted, 0600)", key.public().kid(), out.display());
        }
        Command::Propose { version, threshold, members, valid_days, at, out } => {
            let now = at_or_now(at.as_deref())?;
            let mut list: Vec<Member> = Vec::new();
            for spec in &members {
                let (province, file) =
                    spec.split_once('=').with_context(|| format!("--member {spec}: PROVINCE=FILE"))?;
                let key = PublicKey::from_spki_der(&read(Path::new(file))?)?;
                match list.iter_mut().find(|m| m.province == province) {
                    Some(m) => m.root_keys.push(key),
                    None => list.push(Member { province: province.to_string(), root_keys: vec![key] }),
                }
            }
            let root = FederationRoot {
                version,
                issued_at: now,
                expires: now.saturating_add(valid_days.saturating_mul(86_400)),
                threshold,
                members: list,
            };
            write_new(&out, &root.to_payload()?)?;
            println!("proposed federation root v{version}: {} members, threshold {threshold}", root.members.len());
            print!("{}", huren_keys::inspect::describe_root(&root));
        }
        Command::Sign { proposal, key, out } => {
            let payload = read(&proposal)?;
            let root = FederationRoot::from_payload(&payload)?;
            let key = SigningKey::load(&key)?;
            let member = root.members.iter().find(|m| m.root_keys.contains(key.public())).with_context(|| {
                format!("key {} is not a root key of any member of this proposal", key.public().kid())
            })?;
            write_new(&out, &cosign(&payload, &key)?)?;
            println!("{} signed root v{} with key {}", member.province, root.version, key.public().kid());
        }
        Command::Combine { proposal, signatures, previous, out } => {
            let payload = read(&proposal)?;
            let sigs = signatures.iter().map(|p| read(p)).collect::<anyhow::Result<Vec<_>>>()?;
            let signed = combine(&payload, &sigs)?;
            let verified = match previous {
                Some(prev) => FederationRoot::verify_initial(&read(&prev)?)?.verify_successor(&signed)?,
                None => FederationRoot::verify_initial(&signed)?,
            };
            write_new(&out, &signed)?;
            println!("federation root v{} signed by enough members -> {}", verified.version, out.display());
        }
        Command::Certify { root_key, province, key, types: names, usage_days, grace_days, at, out } => {
            let now = at_or_now(at.as_deref())?;
            let root = SigningKey::load(&root_key)?;
            let public_key = PublicKey::from_spki_der(&read(&key)?)?;
            let usage_until = now.saturating_add(usage_days.saturating_mul(86_400));
            let cert = KeyCertificate {
                province: province.clone(),
                public_key,
                credential_types: types(&names)?,
                usage_from: now,
                usage_until,
                expires: usage_until.saturating_add(grace_days.saturating_mul(86_400)),
                issued_at: now,
            };
            write_new(&out, &cert.sign(&root)?)?;
            println!("{province} certified issuer key {} until {}", cert.public_key.kid(), rfc3339(cert.usage_until));
        }
        Command::Bundle {
            root_key,
            province,
            version,
            certificates,
            revocations,
            status_lists,
            accept,
            max_test_age_hours,
            allow_unsynced_status,
            valid_days,
            at,
            out,
        } => {
            let now = at_or_now(at.as_deref())?;
            let root = SigningKey::load(&root_key)?;
            let mut issuer_keys = Vec::new();
            for path in &certificates {
                let cert = KeyCertificate::verify(&read(path)?, root.public())
                    .with_context(|| format!("{} is not a certificate signed by this root", path.display()))?;
                if cert.province != province {
                    bail!("{} certifies a key for {}, not {province}", path.display(), cert.province);
                }
                issuer_keys.push(ProvinceBundle::key_from_certificate(&cert));
            }
            let revocations = revocations
                .iter()
                .map(|spec| {
                    let mut parts = spec.split('@');
                    let (Some(kid), Some(cutoff)) = (parts.next(), parts.next()) else {
                        bail!("--revoke {spec}: KIDHEX@CUTOFF[@HONOUR_UNTIL] (RFC 3339 times)");
                    };
                    let issued_after = parse_rfc3339(cutoff)?;
                    let honour_until = match parts.next() {
                        Some(t) => parse_rfc3339(t)?,
                        None => issued_after.saturating_add(30 * 86_400),
                    };
                    Ok(KeyRevocation { kid: parse_kid(kid)?, issued_after, honour_until })
                })
                .collect::<anyhow::Result<_>>()?;
            let status_lists = status_lists
                .iter()
                .map(|spec| {
                    let (id, url) = spec.split_once('=').with_context(|| format!("--status-list {spec}: ID=URL"))?;
                    Ok(StatusListDescriptor { list: id.parse()?, url: url.to_string() })
                })
                .collect::<anyhow::Result<_>>()?;
            let bundle = ProvinceBundle {
                province,
                version,
                issued_at: now,
                expires: now.saturating_add(valid_days.saturating_mul(86_400)),
                issuer_keys,
                revocations,
                status_lists,
                policy: AcceptancePolicy {
                    accepted_types: if accept.is_empty() { Vec::new() } else { types(&accept)? },
                    max_test_age: max_test_age_hours.map(|h| h.saturating_mul(3600)),
                    allow_unsynced_status,
                },
            };
            write_new(&out, &bundle.sign(&root)?)?;
            println!(
                "{} bundle v{version}: {} issuer keys -> {}",
                bundle.province,
                bundle.issuer_keys.len(),
                out.display()
            );
        }
        Command::Assemble { roots, bundles, out } => {
            let bundle = TrustBundle {
                roots: roots.iter().map(|p| read(p)).collect::<anyhow::Result<_>>()?,
                bundles: bundles.iter().map(|p| read(p)).collect::<anyhow::Result<_>>()?,
            };
            // Check that it holds together as a verifier pinned to the first root would see it today (older links of
            // the chain may have expired; the newest root and the bundles must be current).
            let first = bundle.roots.first().context("no root")?;
            let (state, _) = huren_keys::inspect::pinned_state(first)?.update(&bundle, at_or_now(None)?)?;
            write_new(&out, &bundle.encode())?;
            println!(
                "trust bundle: root v{}, {} province bundles -> {}",
                state.root().version,
                state.bundles().len(),
                out.display()
            );
        }
        Command::Inspect { file, root, at } => {
            let now = at_or_now(at.as_deref())?;
            let root = root.map(|p| read(&p)).transpose()?;
            print!("{}", huren_keys::inspect::inspect(&read(&file)?, root.as_deref(), now)?);
        }
    }
    Ok(())
}

/// A sealed key's passphrase, read as `huren-issuer` reads it: `$HUREN_KEY_PASSPHRASE`, else the first line of
/// `$HUREN_KEY_PASSPHRASE_FILE`, else none (a plain key file needs none).
fn passphrase() -> anyhow::Result<Option<zeroize::Zeroizing<Vec<u8>>>> {
    Ok(huren_plumbing::files::key_passphrase()?)
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

fn parse_kid(hex: &str) -> anyhow::Result<KeyId> {
    let kid = huren_keys::unhex(hex).ok().and_then(|bytes| <[u8; 8]>::try_from(bytes).ok());
    kid.map(KeyId).with_context(|| format!("{hex:?} is not a key id (16 lower-case hex digits)"))
}
