//! A province on disk: its root key, its issuer key and certificate, and the trust file it publishes.

use std::path::{Path, PathBuf};

use huren_keys::{CredentialType, KeyCertificate, ProvinceAnchor, SigningKey, TrustFile};
use huren_wallet_core::{transport, Body, Credential, Subject};
use serde::{Deserialize, Serialize};

use crate::Error;

/// File names inside a province directory.
#[derive(Debug, Clone)]
pub struct ProvinceFiles {
    /// The directory.
    pub dir: PathBuf,
}

impl ProvinceFiles {
    /// Province root key (PKCS#8 PEM, mode 0600). In production it lives offline; see docs.
    pub fn root_key(&self) -> PathBuf {
        self.dir.join("root.key.pem")
    }
    /// Issuer signing key (PKCS#8 PEM, mode 0600).
    pub fn issuer_key(&self) -> PathBuf {
        self.dir.join("issuer.key.pem")
    }
    /// The issuer key's certificate, signed by the root (COSE_Sign1).
    pub fn issuer_certificate(&self) -> PathBuf {
        self.dir.join("issuer.cert.cose")
    }
    /// The trust file verifiers load.
    pub fn trust(&self) -> PathBuf {
        self.dir.join("trust.cbor")
    }
    /// Province metadata (JSON).
    pub fn metadata(&self) -> PathBuf {
        self.dir.join("province.json")
    }
}

/// Choices made when a province is initialised.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Credential types the first issuer key may sign.
    pub credential_types: Vec<CredentialType>,
    /// How long the issuer key may sign, in seconds from initialisation.
    pub usage_seconds: i64,
    /// How long after its usage window ends the certificate stays valid (covers credentials issued late in it).
    pub grace_seconds: i64,
    /// An existing province root key (from `huren-keys keygen`, the root the federation lists) instead of a new
    /// one. It is used to certify the issuer key and is not copied into the directory.
    pub root_key: Option<PathBuf>,
    /// Encrypt the issuer key at rest under this passphrase (PBKDF2 + AES-256-GCM).
    pub passphrase: Option<Vec<u8>>,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            credential_types: CredentialType::ALL.to_vec(),
            usage_seconds: 365 * 86_400,
            grace_seconds: 365 * 86_400,
            root_key: None,
            passphrase: None,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Metadata {
    province: String,
    root_kid: String,
    issuer_kid: String,
}

/// What to issue: the subject, the body and the validity period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    /// The person.
    pub subject: Subject,
    /// What the credential states.
    pub body: Body,
    /// Validity from the issue time, in hours.
    pub valid_for_hours: u32,
    /// Optional start of validity (Unix seconds), later than the issue time.
    #[serde(default)]
    pub not_before: Option<i64>,
    /// Optional holder device key (JSON `holder_key`: the 32-byte Ed25519 public key as 64 hex digits): the
    /// credential binds it (`cnf` claim) and is then accepted only as the wallet's dynamic code (`HP1:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_key: Option<huren_wallet_core::HolderKey>,
}

impl IssueRequest {
    /// Check what can be checked before anything is spent on the request (a status index, a signature): the
    /// subject's name and pinyin by the one rule for names ([`huren_wallet_core::name::check_name`]). Signing
    /// checks the rest.
    pub fn check(&self) -> Result<(), Error> {
        let name = |field: &str, text: &str| {
            huren_wallet_core::name::check_name(text).map_err(|problem| Error::Request(format!("{field}: {problem}")))
        };
        name("name", &self.subject.name)?;
        match &self.subject.pinyin {
            Some(pinyin) => name("pinyin", pinyin),
            None => Ok(()),
        }
    }
}

/// A freshly issued credential.
#[derive(Debug, Clone)]
pub struct Issued {
    /// What was signed.
    pub credential: Credential,
    /// The COSE_Sign1 bytes.
    pub cose: Vec<u8>,
}

impl Issued {
    /// The QR text (`HR1:...`), encoded on demand: bulk issuance stores the COSE bytes and never needs it.
    pub fn qr_text(&self) -> String {
        transport::encode(&self.cose)
    }
}

/// An initialised province, ready to issue.
#[derive(Debug)]
pub struct Province {
    files: ProvinceFiles,
    issuer_key: SigningKey,
    certificate: KeyCertificate,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.display().to_string(), source }
}

impl Province {
    /// Create a province in `dir` (which must not hold one already): a root key, an issuer key certified by it
    /// for `options.credential_types`, and the trust file. `now` is Unix seconds.
    pub fn init(dir: &Path, code: &str, now: i64, options: &InitOptions) -> Result<Self, Error> {
        if !huren_keys::is_province_code(code) {
            return Err(Error::Directory(format!("{code:?} is not an ISO 3166-2 code such as CN-GD")));
        }
        let files = ProvinceFiles { dir: dir.to_path_buf() };
        if files.metadata().exists() || files.root_key().exists() {
            return Err(Error::Directory(format!("{} already holds a province", dir.display())));
        }
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let root = match &options.root_key {
            Some(path) => SigningKey::load(path)?,
            None => SigningKey::generate()?,
        };
        let issuer_key = SigningKey::generate()?;
        let certificate_body = KeyCertificate {
            province: code.to_string(),
            public_key: issuer_key.public().clone(),
            credential_types: options.credential_types.clone(),
            usage_from: now,
            usage_until: now.saturating_add(options.usage_seconds),
            expires: now.saturating_add(options.usage_seconds).saturating_add(options.grace_seconds),
            issued_at: now,
        };
        let certificate = certificate_body.sign(&root)?;
        let trust = TrustFile {
            anchors: vec![ProvinceAnchor {
                province: code.to_string(),
                root: root.public().clone(),
                certificates: vec![certificate.clone()],
            }],
        };
        if options.root_key.is_none() {
            root.save(&files.root_key())?;
        }
        save_issuer_key(&issuer_key, &files.issuer_key(), options.passphrase.as_deref())?;
        write_new(&files.issuer_certificate(), &certificate)?;
        write_new(&files.trust(), &trust.encode())?;
        let metadata = Metadata {
            province: code.to_string(),
            root_kid: root.public().kid().to_hex(),
            issuer_kid: issuer_key.public().kid().to_hex(),
        };
        let json = serde_json::to_vec_pretty(&metadata).map_err(|e| Error::Directory(e.to_string()))?;
        write_new(&files.metadata(), &json)?;
        Ok(Province { files, issuer_key, certificate: certificate_body })
    }

    /// Set up a province directory around an issuer key and certificate made by the federation ceremonies
    /// (`huren-keys keygen` and `huren-keys certify`): the root key stays offline, only its public half is needed.
    /// The certificate must verify under `root` and name `code`.
    pub fn adopt(
        dir: &Path,
        code: &str,
        root: &huren_keys::PublicKey,
        issuer_key: &Path,
        certificate: &Path,
        passphrase: Option<&[u8]>,
    ) -> Result<Self, Error> {
        let files = ProvinceFiles { dir: dir.to_path_buf() };
        if files.metadata().exists() {
            return Err(Error::Directory(format!("{} already holds a province", dir.display())));
        }
        let issuer_key = SigningKey::load_with(issuer_key, passphrase)?;
        let certificate_bytes = std::fs::read(certificate).map_err(io(certificate))?;
        let certificate_body = KeyCertificate::verify(&certificate_bytes, root)?;
        if certificate_body.province != code || &certificate_body.public_key != issuer_key.public() {
            return Err(Error::Directory(format!(
                "the certificate is for key {} of {}, not for this issuer key of {code}",
                certificate_body.public_key.kid(),
                certificate_body.province
            )));
        }
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let trust = TrustFile {
            anchors: vec![ProvinceAnchor {
                province: code.to_string(),
                root: root.clone(),
                certificates: vec![certificate_bytes.clone()],
            }],
        };
        save_issuer_key(&issuer_key, &files.issuer_key(), passphrase)?;
        write_new(&files.issuer_certificate(), &certificate_bytes)?;
        write_new(&files.trust(), &trust.encode())?;
        let metadata = Metadata {
            province: code.to_string(),
            root_kid: root.kid().to_hex(),
            issuer_kid: issuer_key.public().kid().to_hex(),
        };
        let json = serde_json::to_vec_pretty(&metadata).map_err(|e| Error::Directory(e.to_string()))?;
        write_new(&files.metadata(), &json)?;
        Ok(Province { files, issuer_key, certificate: certificate_body })
    }

    /// The province code of the directory `dir`, from its metadata alone (no key is opened): for tools that act
    /// on the province's database without signing.
    pub fn code_of(dir: &Path) -> Result<String, Error> {
        let path = ProvinceFiles { dir: dir.to_path_buf() }.metadata();
        let json = std::fs::read(&path).map_err(io(&path))?;
        let metadata: Metadata =
            serde_json::from_slice(&json).map_err(|e| Error::Directory(format!("{}: {e}", path.display())))?;
        Ok(metadata.province)
    }

    /// Open a province created by [`Province::init`] or [`Province::adopt`] whose issuer key is not encrypted.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        Self::open_with(dir, None)
    }

    /// Open a province, decrypting its issuer key with `passphrase` when it is encrypted.
    pub fn open_with(dir: &Path, passphrase: Option<&[u8]>) -> Result<Self, Error> {
        let files = ProvinceFiles { dir: dir.to_path_buf() };
        let path = files.metadata();
        let json = std::fs::read(&path).map_err(io(&path))?;
        let metadata: Metadata =
            serde_json::from_slice(&json).map_err(|e| Error::Directory(format!("{}: {e}", path.display())))?;
        let issuer_key = SigningKey::load_with(&files.issuer_key(), passphrase)?;
        if issuer_key.public().kid().to_hex() != metadata.issuer_kid {
            return Err(Error::Directory("issuer key does not match the province metadata".into()));
        }
        // The certificate, checked against the province root in the trust file, is what the province may issue.
        let trust_path = files.trust();
        let trust = TrustFile::decode(&std::fs::read(&trust_path).map_err(io(&trust_path))?)?;
        let anchor = trust
            .anchors
            .iter()
            .find(|a| a.province == metadata.province)
            .ok_or_else(|| Error::Directory(format!("trust file has no root for {}", metadata.province)))?;
        let cert_path = files.issuer_certificate();
        let certificate = KeyCertificate::verify(&std::fs::read(&cert_path).map_err(io(&cert_path))?, &anchor.root)?;
        if &certificate.public_key != issuer_key.public() || certificate.province != metadata.province {
            return Err(Error::Directory("issuer certificate is for another key or province".into()));
        }
        Ok(Province { files, issuer_key, certificate })
    }

    /// Rotate the issuer key: a new key certified by the province `root` for the same credential types, from `now`
    /// for `options.usage_seconds`. The old key and certificate move to `retired/`; the trust file keeps the old
    /// certificate beside the new one, so credentials signed by the old key keep verifying (list both
    /// certificates in the next province bundle). Returns the province with the new key.
    ///
    /// Order of writes: new key and certificate beside the old ones, the trust file (atomically), the old files
    /// into `retired/`, the new ones into place, then the metadata (atomically). A crash in between leaves the old
    /// key usable until the metadata names the new one.
    pub fn rotate(self, root: &SigningKey, now: i64, options: &InitOptions) -> Result<Self, Error> {
        let files = self.files.clone();
        let trust_path = files.trust();
        let mut trust = TrustFile::decode(&std::fs::read(&trust_path).map_err(io(&trust_path))?)?;
        if &anchor_of(&mut trust, self.code())?.root != root.public() {
            return Err(Error::Directory("that is not this province's root key".into()));
        }
        let old_kid = self.issuer_key.public().kid().to_hex();
        let new_key = SigningKey::generate()?;
        let certificate_body = KeyCertificate {
            province: self.code().to_string(),
            public_key: new_key.public().clone(),
            credential_types: self.certificate.credential_types.clone(),
            usage_from: now,
            usage_until: now.saturating_add(options.usage_seconds),
            expires: now.saturating_add(options.usage_seconds).saturating_add(options.grace_seconds),
            issued_at: now,
        };
        let certificate = certificate_body.sign(root)?;
        let staged_key = files.dir.join("issuer.key.pem.new");
        let staged_cert = files.dir.join("issuer.cert.cose.new");
        let _ = std::fs::remove_file(&staged_key);
        let _ = std::fs::remove_file(&staged_cert);
        save_issuer_key(&new_key, &staged_key, options.passphrase.as_deref())?;
        write_new(&staged_cert, &certificate)?;

        anchor_of(&mut trust, self.code())?.certificates.push(certificate);
        replace_file(&trust_path, &trust.encode())?;

        let retired = files.dir.join("retired");
        std::fs::create_dir_all(&retired).map_err(io(&retired))?;
        let rename = |from: &Path, to: &Path| std::fs::rename(from, to).map_err(io(from));
        rename(&files.issuer_key(), &retired.join(format!("issuer-{old_kid}.key.pem")))?;
        rename(&files.issuer_certificate(), &retired.join(format!("issuer-{old_kid}.cert.cose")))?;
        rename(&staged_key, &files.issuer_key())?;
        rename(&staged_cert, &files.issuer_certificate())?;
        // The retired files' new directory entries; the province directory is flushed with the metadata below.
        huren_plumbing::files::ReplaceOps::sync_dir(&mut huren_plumbing::files::RealFs, &retired)
            .map_err(io(&retired))?;
        let metadata = Metadata {
            province: self.code().to_string(),
            root_kid: root.public().kid().to_hex(),
            issuer_kid: new_key.public().kid().to_hex(),
        };
        let json = serde_json::to_vec_pretty(&metadata).map_err(|e| Error::Directory(e.to_string()))?;
        replace_file(&files.metadata(), &json)?;
        Ok(Province { files, issuer_key: new_key, certificate: certificate_body })
    }

    /// The province code (from the issuer key's certificate).
    pub fn code(&self) -> &str {
        &self.certificate.province
    }

    /// The issuer key's certificate: the types and times it may sign for.
    pub fn certificate(&self) -> &KeyCertificate {
        &self.certificate
    }

    /// Where the province's files are.
    pub fn files(&self) -> &ProvinceFiles {
        &self.files
    }

    /// The issuer signing key.
    pub fn issuer_key(&self) -> &SigningKey {
        &self.issuer_key
    }

    /// Issue a credential at `now` (Unix seconds) with a fresh random id. Refused when the issuer key's
    /// certificate does not cover the credential: its type, `now` in the usage window, an expiry before the
    /// certificate's.
    pub fn issue(&self, request: &IssueRequest, now: i64) -> Result<Issued, Error> {
        self.issue_with_status(request, now, None)
    }

    /// The same, with a place in a status list (where verifiers look up its revocation status).
    pub fn issue_with_status(
        &self,
        request: &IssueRequest,
        now: i64,
        status: Option<huren_wallet_core::StatusRef>,
    ) -> Result<Issued, Error> {
        request.check()?;
        if request.valid_for_hours == 0 {
            return Err(Error::Request("valid_for_hours must be at least 1".into()));
        }
        let cert = &self.certificate;
        let kind = request.body.credential_type();
        if !cert.credential_types.contains(&kind) {
            return Err(Error::Request(format!("the issuer key is not certified for {} credentials", kind.name())));
        }
        if now < cert.usage_from || now > cert.usage_until {
            return Err(Error::Request(format!(
                "the issuer key may sign from {} to {} (Unix seconds), not at {now}: rotate the key",
                cert.usage_from, cert.usage_until
            )));
        }
        let expires_at = now.saturating_add(i64::from(request.valid_for_hours) * 3600);
        if expires_at > cert.expires {
            return Err(Error::Request("the credential would outlive its issuer key's certificate".into()));
        }
        let credential = Credential {
            issuer: cert.province.clone(),
            issued_at: now,
            expires_at,
            not_before: request.not_before,
            id: random_id()?,
            status,
            subject: request.subject.clone(),
            body: request.body.clone(),
            holder: request.holder_key.clone(),
        };
        let cose = credential.sign(&self.issuer_key)?;
        Ok(Issued { credential, cose })
    }
}

/// Save the issuer key, encrypted when a passphrase is given.
fn save_issuer_key(key: &SigningKey, path: &Path, passphrase: Option<&[u8]>) -> Result<(), Error> {
    match passphrase {
        Some(p) => key.save_encrypted(path, p, huren_keys::KDF_ITERATIONS)?,
        None => key.save(path)?,
    }
    Ok(())
}

/// 8 random bytes from the operating system: collisions stay negligible up to billions of credentials.
fn random_id() -> Result<Vec<u8>, Error> {
    use ring::rand::SecureRandom;
    let mut id = vec![0u8; 8];
    ring::rand::SystemRandom::new().fill(&mut id).map_err(|_| Error::Request("random source failed".into()))?;
    Ok(id)
}

/// Write a new file (never overwrite) and flush it to disk.
fn anchor_of<'t>(trust: &'t mut TrustFile, code: &str) -> Result<&'t mut ProvinceAnchor, Error> {
    trust
        .anchors
        .iter_mut()
        .find(|a| a.province == code)
        .ok_or_else(|| Error::Directory(format!("trust file has no root for {code}")))
}

/// Replace a file atomically (`huren_plumbing::files::replace`): temporary file, fsync, rename, directory fsync.
fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use huren_plumbing::files::{replace, Access};
    replace(path, &path.with_extension("tmp"), bytes, Access::Default)
        .map_err(|e| Error::Io { path: e.path.display().to_string(), source: e.source })
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("huren-issuer-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn init_open_and_refuse_to_reinitialise() {
        let dir = temp("init");
        let p = Province::init(&dir, "CN-HB", 1_000, &InitOptions::default()).unwrap();
        let reopened = Province::open(&dir).unwrap();
        assert_eq!(reopened.code(), "CN-HB");
        assert_eq!(reopened.issuer_key().public(), p.issuer_key().public());
        assert!(matches!(Province::init(&dir, "CN-HB", 1_000, &InitOptions::default()), Err(Error::Directory(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn issuing_outside_the_certificate_is_refused() {
        let dir = temp("scope");
        let options = InitOptions { credential_types: vec![CredentialType::HealthStatus], ..InitOptions::default() };
        let p = Province::init(&dir, "CN-HB", 1_000_000, &options).unwrap();
        let p = Province::open(p.files().dir.as_path()).unwrap();
        let request: IssueRequest = serde_json::from_str(
            r#"{"subject": {"name": "王", "masked_id": "42**1"},
                "body": {"type": "health-status", "colour": "green", "reason": "no-risk"}, "valid_for_hours": 1}"#,
        )
        .unwrap();
        assert!(p.issue(&request, 1_000_100).is_ok());
        assert!(matches!(p.issue(&request, 999_999), Err(Error::Request(m)) if m.contains("rotate")));
        let late = 1_000_000 + options.usage_seconds + 1;
        assert!(matches!(p.issue(&request, late), Err(Error::Request(m)) if m.contains("rotate")));
        let mut long = request.clone();
        long.valid_for_hours = u32::MAX;
        assert!(matches!(p.issue(&long, 1_000_100), Err(Error::Request(m)) if m.contains("outlive")));
        let mut vaccination = request.clone();
        vaccination.body = serde_json::from_str(
            r#"{"type": "vaccination", "product": "X", "dose": 1, "doses": 1, "date": "1970-01-02"}"#,
        )
        .unwrap();
        assert!(matches!(p.issue(&vaccination, 1_000_100), Err(Error::Request(m)) if m.contains("vaccination")));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn adopting_a_ceremony_key_checks_its_certificate() {
        let dir = temp("adopt");
        std::fs::create_dir_all(&dir).unwrap();
        let root = SigningKey::generate().unwrap();
        let issuer = SigningKey::generate().unwrap();
        issuer.save(&dir.join("issuer-in.pem")).unwrap();
        let cert = |province: &str, key: &SigningKey| KeyCertificate {
            province: province.into(),
            public_key: key.public().clone(),
            credential_types: CredentialType::ALL.to_vec(),
            usage_from: 0,
            usage_until: 10_000_000,
            expires: 20_000_000,
            issued_at: 0,
        };
        std::fs::write(dir.join("good.cert"), cert("CN-GD", &issuer).sign(&root).unwrap()).unwrap();
        std::fs::write(dir.join("other.cert"), cert("CN-HB", &issuer).sign(&root).unwrap()).unwrap();
        let stranger = SigningKey::generate().unwrap();
        std::fs::write(dir.join("forged.cert"), cert("CN-GD", &issuer).sign(&stranger).unwrap()).unwrap();
        let adopt = |name: &str, cert: &str| {
            Province::adopt(&dir.join(name), "CN-GD", root.public(), &dir.join("issuer-in.pem"), &dir.join(cert), None)
        };
        assert!(matches!(adopt("p1", "other.cert"), Err(Error::Directory(_))), "certificate for another province");
        assert!(matches!(adopt("p2", "forged.cert"), Err(Error::Keys(_))), "certificate not signed by the root");
        let p = adopt("p3", "good.cert").unwrap();
        assert_eq!(Province::open(&dir.join("p3")).unwrap().issuer_key().public(), p.issuer_key().public());
        assert!(!dir.join("p3").join("root.key.pem").exists(), "the root key stays offline");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_encrypted_issuer_key_needs_its_passphrase() {
        let dir = temp("encrypted");
        let options = InitOptions { passphrase: Some(b"s3cret".to_vec()), ..InitOptions::default() };
        let p = Province::init(&dir, "CN-GD", 1_000, &options).unwrap();
        let text = std::fs::read_to_string(p.files().issuer_key()).unwrap();
        assert!(text.starts_with("-----BEGIN HUREN ENCRYPTED PRIVATE KEY-----"));
        assert!(Province::open(&dir).is_err(), "no passphrase");
        assert!(Province::open_with(&dir, Some(b"wrong")).is_err());
        let opened = Province::open_with(&dir, Some(b"s3cret")).unwrap();
        assert_eq!(opened.issuer_key().public(), p.issuer_key().public());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rotation_keeps_old_credentials_verifiable() {
        let dir = temp("rotate");
        let p = Province::init(&dir, "CN-GD", 1_000, &InitOptions::default()).unwrap();
        let request: IssueRequest = serde_json::from_str(
            r#"{"subject": {"name": "王", "masked_id": "42**1"},
                "body": {"type": "health-status", "colour": "green", "reason": "no-risk"}, "valid_for_hours": 1}"#,
        )
        .unwrap();
        let before = p.issue(&request, 2_000).unwrap();
        let old = p.issuer_key().public().clone();
        let root = SigningKey::load(&p.files().root_key()).unwrap();
        let other_root = SigningKey::generate().unwrap();
        let p = Province::open(&dir).unwrap();
        assert!(p.rotate(&other_root, 3_000, &InitOptions::default()).is_err(), "only the province's root rotates");
        let p = Province::open(&dir).unwrap();
        let p = p.rotate(&root, 3_000, &InitOptions::default()).unwrap();
        assert_ne!(p.issuer_key().public(), &old);
        let reopened = Province::open(&dir).unwrap();
        assert_eq!(reopened.issuer_key().public(), p.issuer_key().public());
        let after = reopened.issue(&request, 4_000).unwrap();
        // The trust file now certifies both keys: both credentials verify against it.
        let trust = huren_keys::TrustList::from_trust_file(
            &TrustFile::decode(&std::fs::read(reopened.files().trust()).unwrap()).unwrap(),
        )
        .unwrap();
        for issued in [&before, &after] {
            let sign1 = huren_keys::cose::Sign1::parse(&issued.cose).unwrap();
            let key = trust.candidates(sign1.kid()).next().expect("certified");
            sign1.verify(&key.certificate.public_key).unwrap();
        }
        assert!(dir.join("retired").join(format!("issuer-{}.key.pem", old.kid().to_hex())).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_province_codes_and_missing_directories() {
        assert!(Province::init(&temp("bad"), "Hubei", 0, &InitOptions::default()).is_err());
        assert!(matches!(Province::open(&temp("missing")), Err(Error::Io { .. })));
    }
}
