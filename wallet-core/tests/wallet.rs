//! The resident wallet against real files: encryption at rest, tamper and crash safety, offline import checks,
//! choice of the credential to show, deletion.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use huren_keys::{dangerous, CredentialType, KeyCertificate, SigningKey, TrustList};
use huren_wallet_core::store::{FileStorage, MemoryStorage, WalletStorage};
use huren_wallet_core::wallet::{qr_symbol, ImportPolicy, Standing, Trust, Wallet, MAGIC};
use huren_wallet_core::{transport, Credential, Ecc, Error, QrSymbol};

const NOW: i64 = 1_800_000_000;
const DAY: i64 = 86_400;
const ITERATIONS: u32 = 1_000;
const PASS: &[u8] = b"correct horse battery staple";

struct Fixture {
    gd: SigningKey,
    stranger: SigningKey,
    trust: TrustList,
}

fn fixture() -> Fixture {
    let gd = dangerous::signing_key_from_seed(&[2; 32]).unwrap();
    let stranger = dangerous::signing_key_from_seed(&[3; 32]).unwrap();
    let cert = KeyCertificate {
        province: "CN-GD".into(),
        public_key: gd.public().clone(),
        credential_types: CredentialType::ALL.to_vec(),
        usage_from: NOW - 365 * DAY,
        usage_until: NOW + 365 * DAY,
        expires: NOW + 2 * 365 * DAY,
        issued_at: NOW - 365 * DAY,
    };
    Fixture { gd, stranger, trust: dangerous::trust_list_from_unverified(vec![cert]) }
}

/// A credential built through serde, so optional fields added to the model later keep their defaults.
fn credential(issuer: &str, id: u8, issued_at: i64, expires_at: i64, body: serde_json::Value) -> Credential {
    serde_json::from_value(serde_json::json!({
        "issuer": issuer,
        "issued_at": issued_at,
        "expires_at": expires_at,
        "id": huren_keys::hex(&[id; 8]),
        "subject": { "name": "张三", "masked_id": "4403**********1234" },
        "body": body,
    }))
    .unwrap()
}

fn status(colour: &str) -> serde_json::Value {
    serde_json::json!({ "type": "health-status", "colour": colour, "reason": "no-risk" })
}

fn qr(c: &Credential, key: &SigningKey) -> String {
    transport::encode(&c.sign(key).unwrap())
}

fn green(id: u8, issued_at: i64) -> Credential {
    credential("CN-GD", id, issued_at, issued_at + 7 * DAY, status("green"))
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("huren-wallet-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn file(&self) -> PathBuf {
        self.0.join("wallet.hrw")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn open(path: &PathBuf, passphrase: &[u8]) -> Result<Wallet<FileStorage>, Error> {
    Wallet::open_with_iterations(FileStorage::new(path), passphrase, ITERATIONS)
}

/// A saved wallet with two trusted credentials; returns the file's bytes.
fn saved_wallet(path: &PathBuf, f: &Fixture) -> Vec<u8> {
    let mut wallet = open(path, PASS).unwrap();
    assert!(wallet.list().is_empty(), "empty storage opens as an empty wallet");
    assert!(!path.exists(), "opening does not write");
    for c in [green(1, NOW - DAY), green(2, NOW - 2 * DAY)] {
        wallet.import_qr(&qr(&c, &f.gd), &f.trust, NOW, ImportPolicy::RequireTrusted).unwrap();
    }
    wallet.save().unwrap();
    std::fs::read(path).unwrap()
}

fn ids<S: WalletStorage>(wallet: &Wallet<S>) -> Vec<String> {
    wallet.list().iter().map(|e| e.id()).collect()
}

#[test]
fn round_trip_through_an_encrypted_private_file() {
    let f = fixture();
    let dir = TempDir::new("round-trip");
    let bytes = saved_wallet(&dir.file(), &f);
    assert!(bytes.starts_with(MAGIC));
    assert!(!bytes.windows(4).any(|w| w == b"HR1:"), "no QR text in clear");
    assert!(!bytes.windows("张三".len()).any(|w| w == "张三".as_bytes()), "no name in clear");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.file()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let wallet = open(&dir.file(), PASS).unwrap();
    assert_eq!(ids(&wallet), vec![huren_keys::hex(&[2; 8]), huren_keys::hex(&[1; 8])], "sorted by expiry");
    let entry = &wallet.list()[1];
    assert_eq!(entry.credential(), &green(1, NOW - DAY));
    assert_eq!(entry.imported_at(), NOW);
    assert!(matches!(entry.trust(), Trust::Trusted { province, .. } if province == "CN-GD"));
    assert_eq!(entry.standing(NOW), Standing::Valid { until: NOW + 6 * DAY });

    assert_eq!(entry.cose(), transport::decode(entry.qr_text(), &Default::default()).unwrap());

    // Saving again re-encrypts (fresh nonce) and still opens; the device key is created once and kept.
    let mut wallet = wallet;
    let device = wallet.device_key().unwrap().public().clone();
    assert_eq!(wallet.device_key().unwrap().public(), &device);
    wallet.save().unwrap();
    assert_ne!(std::fs::read(dir.file()).unwrap(), bytes);
    assert!(!std::fs::read(dir.file()).unwrap().windows(5).any(|w| w == b"-----"), "no PEM in clear");
    let mut reopened = open(&dir.file(), PASS).unwrap();
    assert_eq!(reopened.list().len(), 2);
    assert_eq!(reopened.device_key().unwrap().public(), &device);
}

#[test]
fn wrong_passphrase_is_refused_and_the_file_is_untouched() {
    let f = fixture();
    let dir = TempDir::new("wrong-pass");
    let bytes = saved_wallet(&dir.file(), &f);
    let err = open(&dir.file(), b"correct horse battery stapler").unwrap_err();
    assert!(matches!(err, Error::WrongPassphrase), "{err:?}");
    assert_eq!(err.to_string(), "wrong passphrase, or the wallet file was altered");
    assert_eq!(std::fs::read(dir.file()).unwrap(), bytes);
    assert_eq!(open(&dir.file(), PASS).unwrap().list().len(), 2);
}

#[test]
fn a_flipped_byte_anywhere_is_a_clear_error_and_nothing_is_lost() {
    let f = fixture();
    let dir = TempDir::new("flip");
    let original = saved_wallet(&dir.file(), &f);
    let last = original.len() - 1;
    let cases: Vec<(usize, u8, &str)> = vec![
        (0, 0x01, "magic"),
        (7, 0x01, "magic"),
        (9, 0x01, "version"),
        (10, 0x01, "kdf"),
        (11, 0x80, "iterations"),
        (14, 0x01, "crypto"),
        (15, 0x01, "crypto"),
        (30, 0x01, "crypto"),
        (31, 0x01, "truncated"),
        (34, 0x01, "length"),
        (35, 0x01, "crypto"),
        (50, 0x01, "crypto"),
        (original.len() / 2, 0x01, "crypto"),
        (last, 0x01, "crypto"),
    ];
    for (position, mask, expect) in cases {
        let mut tampered = original.clone();
        tampered[position] ^= mask;
        std::fs::write(dir.file(), &tampered).unwrap();
        let err = open(&dir.file(), PASS).expect_err("a tampered wallet must not open");
        let ok = match expect {
            "magic" | "version" | "kdf" => matches!(err, Error::NotAWallet { .. }),
            "iterations" => matches!(err, Error::WalletDamaged { .. }),
            "truncated" => matches!(err, Error::WalletTruncated { .. }),
            "length" => matches!(err, Error::WalletTruncated { .. } | Error::WalletDamaged { .. }),
            _ => matches!(err, Error::WrongPassphrase),
        };
        assert!(ok, "byte {position}: expected {expect}, got {err:?}");
        assert!(!err.to_string().is_empty());
        assert_eq!(std::fs::read(dir.file()).unwrap(), tampered, "byte {position}: a failed open writes nothing");
    }
    std::fs::write(dir.file(), &original).unwrap();
    assert_eq!(open(&dir.file(), PASS).unwrap().list().len(), 2, "restored file opens with everything in it");
}

#[test]
fn a_header_asking_for_more_kdf_work_than_huren_writes_is_refused_before_deriving() {
    // The iteration count is read before anything is authenticated: a hostile file must not choose seconds of
    // PBKDF2. Twice the default is the most accepted; one more is refused at once, whatever the passphrase.
    let f = fixture();
    let dir = TempDir::new("kdf-cost");
    let original = saved_wallet(&dir.file(), &f);
    for count in [huren_keys::sealed::MAX_ITERATIONS + 1, u32::MAX, 0] {
        let mut hostile = original.clone();
        hostile[11..15].copy_from_slice(&count.to_be_bytes());
        std::fs::write(dir.file(), &hostile).unwrap();
        let err = open(&dir.file(), PASS).unwrap_err();
        assert!(matches!(err, Error::WalletDamaged { .. }), "{count}: {err:?}");
        assert!(err.to_string().contains(&count.to_string()), "{err}");
    }
    assert_eq!(huren_keys::sealed::MAX_ITERATIONS, 2 * huren_keys::KDF_ITERATIONS);
}

#[test]
fn truncated_and_foreign_files() {
    let f = fixture();
    let dir = TempDir::new("truncated");
    let original = saved_wallet(&dir.file(), &f);
    for len in [0, 4, 8, 20, 34, 35, 40, original.len() - 1] {
        std::fs::write(dir.file(), &original[..len]).unwrap();
        let err = open(&dir.file(), PASS).unwrap_err();
        assert!(matches!(err, Error::WalletTruncated { found, .. } if found == len), "{len}: {err:?}");
        assert_eq!(std::fs::read(dir.file()).unwrap(), &original[..len]);
    }
    std::fs::write(dir.file(), b"{\"not\": \"a wallet\"}").unwrap();
    assert!(matches!(open(&dir.file(), PASS), Err(Error::NotAWallet { .. })));
    let mut longer = original.clone();
    longer.push(0);
    std::fs::write(dir.file(), &longer).unwrap();
    assert!(matches!(open(&dir.file(), PASS), Err(Error::WalletDamaged { .. })));
}

#[test]
fn a_crash_before_the_rename_keeps_the_previous_wallet() {
    let f = fixture();
    let dir = TempDir::new("crash");
    let original = saved_wallet(&dir.file(), &f);
    let storage = FileStorage::new(dir.file());
    let temp = storage.temp_path();
    assert_eq!(temp.parent(), dir.file().parent(), "the temporary file is in the same directory");

    // Crash mid-write: a half temporary file is left behind.
    std::fs::write(&temp, &original[..original.len() / 2]).unwrap();
    let mut wallet = open(&dir.file(), PASS).unwrap();
    assert_eq!(wallet.list().len(), 2);
    // Crash after a complete temporary write, before the rename: still the previous wallet.
    let mut next = open(&dir.file(), PASS).unwrap();
    next.delete(&huren_keys::hex(&[1; 8])).unwrap();
    let mut side = FileStorage::new(&temp);
    next.save().unwrap();
    let newer = std::fs::read(dir.file()).unwrap();
    std::fs::write(dir.file(), &original).unwrap();
    side.save(&newer).unwrap();
    assert_eq!(open(&dir.file(), PASS).unwrap().list().len(), 2, "the previous wallet is intact");

    // The next save replaces the leftover and succeeds.
    wallet.import_qr(&qr(&green(9, NOW), &f.gd), &f.trust, NOW, ImportPolicy::RequireTrusted).unwrap();
    wallet.save().unwrap();
    assert!(!temp.exists(), "no temporary file after a good save");
    assert_eq!(open(&dir.file(), PASS).unwrap().list().len(), 3);
}

#[test]
fn import_checks_signature_trust_and_validity() {
    let f = fixture();
    let mut wallet = Wallet::open_with_iterations(FileStorage::new("/nonexistent/w"), PASS, ITERATIONS).unwrap();
    let trusted = ImportPolicy::RequireTrusted;

    let valid = wallet.import_qr(&qr(&green(1, NOW - DAY), &f.gd), &f.trust, NOW, trusted).unwrap();
    assert!(valid.added);
    assert_eq!(valid.standing, Standing::Valid { until: NOW + 6 * DAY });

    let expired = credential("CN-GD", 2, NOW - 10 * DAY, NOW - 3 * DAY, status("green"));
    let imported = wallet.import_qr(&qr(&expired, &f.gd), &f.trust, NOW, trusted).unwrap();
    assert_eq!(imported.standing, Standing::Expired { at: NOW - 3 * DAY });

    let mut later = green(3, NOW - DAY);
    later.not_before = Some(NOW + DAY);
    let imported = wallet.import_qr(&qr(&later, &f.gd), &f.trust, NOW, trusted).unwrap();
    assert_eq!(imported.standing, Standing::NotYetValid { from: NOW + DAY });
    assert_eq!(
        wallet.list().iter().find(|e| e.id() == imported.id).unwrap().standing(NOW + 2 * DAY).clone(),
        Standing::Valid { until: NOW + 6 * DAY }
    );

    // A tampered signature from a trusted kid is refused whatever the policy.
    let mut cose = green(4, NOW).sign(&f.gd).unwrap();
    let last = cose.len() - 1;
    cose[last] ^= 1;
    for policy in [ImportPolicy::RequireTrusted, ImportPolicy::AllowUntrusted] {
        let err = wallet.import_qr(&transport::encode(&cose), &f.trust, NOW, policy).unwrap_err();
        assert!(matches!(err, Error::SignatureRejected { ref kid } if *kid == f.gd.public().kid().to_hex()), "{err:?}");
    }

    // An unknown issuer is refused unless the caller allows it, and then kept as untrusted.
    let foreign = qr(&credential("CN-BJ", 5, NOW - DAY, NOW + DAY, status("green")), &f.stranger);
    assert!(matches!(wallet.import_qr(&foreign, &f.trust, NOW, trusted), Err(Error::Untrusted { .. })));
    let kept = wallet.import_qr(&foreign, &f.trust, NOW, ImportPolicy::AllowUntrusted).unwrap();
    assert!(matches!(kept.standing, Standing::Untrusted { ref reason } if reason.contains("CN-BJ")));

    // A trusted key signing in another province's name is not authorised.
    let impostor = qr(&credential("CN-BJ", 6, NOW - DAY, NOW + DAY, status("green")), &f.gd);
    let err = wallet.import_qr(&impostor, &f.trust, NOW, trusted).unwrap_err();
    assert!(matches!(err, Error::Untrusted { ref reason } if reason.contains("CN-GD")), "{err:?}");
    // Outside the key's usage window.
    let backdated = green(7, NOW - 400 * DAY);
    assert!(matches!(wallet.import_qr(&qr(&backdated, &f.gd), &f.trust, NOW, trusted), Err(Error::Untrusted { .. })));

    // Not a Huren code at all.
    assert!(matches!(wallet.import_qr("HC1:NCFOXN", &f.trust, NOW, trusted), Err(Error::PrefixUnknown { .. })));
    assert_eq!(wallet.list().len(), 4, "valid, expired, not yet valid, and the allowed untrusted one");
}

#[test]
fn duplicates_are_stored_once_and_an_untrusted_copy_is_upgraded() {
    let f = fixture();
    let mut wallet = Wallet::open_with_iterations(FileStorage::new("/nonexistent/w"), PASS, ITERATIONS).unwrap();
    let text = qr(&green(1, NOW - DAY), &f.gd);
    let empty = TrustList::default();
    let first = wallet.import_qr(&text, &empty, NOW, ImportPolicy::AllowUntrusted).unwrap();
    assert!(first.added);
    assert!(matches!(first.standing, Standing::Untrusted { .. }));
    let again = wallet.import_qr(&text, &empty, NOW, ImportPolicy::AllowUntrusted).unwrap();
    assert!(!again.added);
    let trusted = wallet.import_qr(&format!(" {text}\n"), &f.trust, NOW, ImportPolicy::RequireTrusted).unwrap();
    assert!(!trusted.added);
    assert!(matches!(trusted.standing, Standing::Valid { .. }), "the trusted copy replaces the untrusted one");
    let once_more = wallet.import_qr(&text, &f.trust, NOW, ImportPolicy::RequireTrusted).unwrap();
    assert!(!once_more.added);
    assert_eq!(wallet.list().len(), 1);
    assert!(matches!(wallet.list()[0].trust(), Trust::Trusted { .. }));
}

#[test]
fn best_for_prefers_valid_green_then_newer() {
    let f = fixture();
    let mut wallet = Wallet::open_with_iterations(FileStorage::new("/nonexistent/w"), PASS, ITERATIONS).unwrap();
    let add = |w: &mut Wallet<FileStorage>, c: &Credential, key: &SigningKey, policy| {
        w.import_qr(&qr(c, key), &f.trust, NOW, policy).unwrap();
    };
    let allow = ImportPolicy::AllowUntrusted;
    assert!(wallet.best_for(NOW, None).is_none());

    let expired_green = credential("CN-GD", 1, NOW - DAY, NOW - 1, status("green"));
    add(&mut wallet, &expired_green, &f.gd, allow);
    assert_eq!(wallet.best_for(NOW, None).unwrap().id(), huren_keys::hex(&[1; 8]), "something beats nothing");

    let untrusted_green = credential("CN-BJ", 2, NOW - 1, NOW + DAY, status("green"));
    add(&mut wallet, &untrusted_green, &f.stranger, allow);
    assert_eq!(wallet.best_for(NOW, None).unwrap().id(), huren_keys::hex(&[1; 8]), "expired trusted over untrusted");

    let amber = credential("CN-GD", 3, NOW - 10, NOW + DAY, status("amber"));
    add(&mut wallet, &amber, &f.gd, allow);
    assert_eq!(wallet.best_for(NOW, None).unwrap().id(), huren_keys::hex(&[3; 8]), "valid over expired");

    let test = serde_json::json!({ "type": "test-result", "kind": "naat", "outcome": "negative", "sampled_at": NOW - 3 * DAY });
    add(&mut wallet, &credential("CN-GD", 4, NOW - 2 * DAY, NOW + DAY, test), &f.gd, allow);
    assert_eq!(wallet.best_for(NOW, None).unwrap().id(), huren_keys::hex(&[4; 8]), "a valid test over amber");

    let older_green = green(5, NOW - 3 * DAY);
    let newer_green = green(6, NOW - DAY);
    add(&mut wallet, &older_green, &f.gd, allow);
    add(&mut wallet, &newer_green, &f.gd, allow);
    assert_eq!(wallet.best_for(NOW, None).unwrap().id(), huren_keys::hex(&[6; 8]), "newest valid green");

    // Only what the checkpoint accepts.
    let tests_only = [CredentialType::TestResult];
    assert_eq!(wallet.best_for(NOW, Some(&tests_only)).unwrap().id(), huren_keys::hex(&[4; 8]));
    assert!(wallet.best_for(NOW, Some(&[CredentialType::Vaccination])).is_none());
    // A week later the greens have expired; the newest expired green wins over older ones.
    let later = NOW + 6 * DAY + 1;
    assert_eq!(wallet.best_for(later, None).unwrap().id(), huren_keys::hex(&[6; 8]));
    assert_eq!(wallet.list().len(), 6);
    let issuers: Vec<&str> = wallet.list().iter().map(|e| e.credential().issuer.as_str()).collect();
    assert_eq!(issuers.first(), Some(&"CN-BJ"), "listed by issuer");
}

#[test]
fn delete_by_id_and_persist() {
    let f = fixture();
    let dir = TempDir::new("delete");
    saved_wallet(&dir.file(), &f);
    let mut wallet = open(&dir.file(), PASS).unwrap();
    let removed = wallet.delete(&huren_keys::hex(&[1; 8]).to_uppercase()).unwrap();
    assert_eq!(removed.credential().id, vec![1; 8]);
    assert!(matches!(wallet.delete(&huren_keys::hex(&[1; 8])), Err(Error::NotInWallet { .. })));
    assert!(matches!(wallet.delete("zz"), Err(Error::NotInWallet { .. })));
    // Not saved yet: the file still has both.
    assert_eq!(open(&dir.file(), PASS).unwrap().list().len(), 2);
    wallet.save().unwrap();
    assert_eq!(ids(&open(&dir.file(), PASS).unwrap()), vec![huren_keys::hex(&[2; 8])]);
}

#[test]
fn claim_link_responses_and_files() {
    let f = fixture();
    let mut wallet = Wallet::open_with_iterations(FileStorage::new("/nonexistent/w"), PASS, ITERATIONS).unwrap();
    let policy = ImportPolicy::RequireTrusted;
    let text = qr(&green(1, NOW - DAY), &f.gd);
    let body = |id: &str, status: &str| serde_json::json!({ "id": id, "qr_text": text, "status": status }).to_string();

    let err = wallet.import_claim_response(body("0000", "valid").as_bytes(), &f.trust, NOW, policy).unwrap_err();
    assert!(matches!(err, Error::ClaimResponse(ref m) if m.contains("0000")), "{err:?}");
    let err =
        wallet.import_claim_response(body(&huren_keys::hex(&[1; 8]), "revoked").as_bytes(), &f.trust, NOW, policy);
    assert!(matches!(err, Err(Error::ClaimResponse(m)) if m.contains("revoked")));
    assert!(matches!(wallet.import_claim_response(b"<html>", &f.trust, NOW, policy), Err(Error::ClaimResponse(_))));
    assert!(wallet.list().is_empty());
    let ok = wallet.import_claim_response(body(&huren_keys::hex(&[1; 8]), "valid").as_bytes(), &f.trust, NOW, policy);
    assert!(ok.unwrap().added);

    // A file with a claim response, then a file of codes, one per line.
    let imported = wallet.import_file(body(&huren_keys::hex(&[1; 8]), "valid").as_bytes(), &f.trust, NOW, policy);
    assert!(!imported.unwrap()[0].added);
    let two = format!("\u{feff}{}\r\n\r\n{}\r\n", qr(&green(2, NOW), &f.gd), qr(&green(3, NOW), &f.gd));
    let imported = wallet.import_file(two.as_bytes(), &f.trust, NOW, policy).unwrap();
    assert_eq!(imported.len(), 2);
    assert_eq!(wallet.list().len(), 3);

    // One bad line imports nothing and names the line.
    let bad = format!("{}\n{}\n", qr(&green(4, NOW), &f.gd), qr(&green(5, NOW), &f.stranger));
    let err = wallet.import_file(bad.as_bytes(), &f.trust, NOW, policy).unwrap_err();
    assert!(
        matches!(err, Error::ImportLine { line: 2, ref source } if matches!(**source, Error::Untrusted { .. })),
        "{err:?}"
    );
    assert_eq!(wallet.list().len(), 3);
    assert!(matches!(wallet.import_file(b"\x89PNG\r\n\x1a\n\xff", &f.trust, NOW, policy), Err(Error::Invalid(_))));
    assert!(matches!(wallet.import_file(b"  \n", &f.trust, NOW, policy), Err(Error::Invalid(_))));
}

#[test]
fn qr_symbol_takes_the_highest_ecc_that_fits() {
    let f = fixture();
    let text = qr(&green(1, NOW), &f.gd);
    let (ecc, symbol) = qr_symbol(&text, 15).unwrap();
    assert_eq!(ecc, Ecc::H, "a health status fits version 15 at H");
    assert_eq!(symbol.version(), QrSymbol::new(&text, Ecc::H).unwrap().version());

    // Text that needs more than version 15 at H and Q but fits at M.
    let long = "A".repeat(700);
    assert!(QrSymbol::new(&long, Ecc::Q).unwrap().version() > 15);
    let (ecc, symbol) = qr_symbol(&long, 15).unwrap();
    assert!(matches!(ecc, Ecc::M | Ecc::L), "{ecc:?}");
    assert!(symbol.version() <= 15);
    assert!(QrSymbol::new(&long, Ecc::H).unwrap().version() > 15);
    // Too long for the limit at any level: the L symbol, larger than asked.
    let (ecc, symbol) = qr_symbol(&"A".repeat(2000), 15).unwrap();
    assert_eq!(ecc, Ecc::L);
    assert!(symbol.version() > 15);
    assert!(qr_symbol(&"A".repeat(5000), 15).is_err());
}

#[test]
fn update_applies_a_change_to_the_wallet_as_stored_now() {
    let f = fixture();
    let dir = TempDir::new("update");
    // Two processes opened the wallet before either saved (the file did not exist yet: two salts).
    let mut first = open(&dir.file(), PASS).unwrap();
    let mut second = open(&dir.file(), PASS).unwrap();
    let one = qr(&green(1, NOW), &f.gd);
    let two = qr(&green(2, NOW), &f.gd);
    let policy = ImportPolicy::RequireTrusted;
    assert!(first.update(PASS, |w| w.import_qr(&one, &f.trust, NOW, policy)).unwrap().added);
    assert!(second.update(PASS, |w| w.import_qr(&two, &f.trust, NOW, policy)).unwrap().added);
    // The first one's stale view does not undo the second's import either.
    let again = first.update(PASS, |w| w.import_qr(&two, &f.trust, NOW, policy)).unwrap();
    assert!(!again.added, "read again under the lock: already there");
    assert_eq!(ids(&open(&dir.file(), PASS).unwrap()), vec![huren_keys::hex(&[1; 8]), huren_keys::hex(&[2; 8])]);
    // A failed change saves nothing.
    let err = first.update(PASS, |w| w.delete("0000")).unwrap_err();
    assert!(matches!(err, Error::NotInWallet { .. }));
    assert!(FileStorage::new(dir.file()).lock_path().exists(), "writers are serialised by a lock file");

    // The device key is made once, by whichever writer comes first, and then kept.
    let made = first.ensure_device_key(PASS).unwrap().public().clone();
    let bytes = std::fs::read(dir.file()).unwrap();
    assert_eq!(second.ensure_device_key(PASS).unwrap().public(), &made, "the stored key, not a second one");
    assert_eq!(first.ensure_device_key(PASS).unwrap().public(), &made);
    assert_eq!(std::fs::read(dir.file()).unwrap(), bytes, "a wallet that has a key is not written again");
}

/// A redeem function that must not be called.
fn no_redeem() -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
    panic!("the claim link must not be redeemed")
}

fn answer(text: &str, id: u8, status: &str) -> Vec<u8> {
    serde_json::json!({ "id": huren_keys::hex(&[id; 8]), "qr_text": text, "status": status }).to_string().into_bytes()
}

#[test]
fn a_claim_link_is_redeemed_only_when_the_import_can_finish() {
    let f = fixture();
    let dir = TempDir::new("claim-checks");
    let policy = ImportPolicy::RequireTrusted;
    let text = qr(&green(1, NOW), &f.gd);

    // Trust data that vouches for nothing at this time, or a location that cannot be written: not redeemed.
    let mut wallet = open(&dir.file(), PASS).unwrap();
    let err = wallet.import_claim_link(PASS, "https://i/v1/claim/a", &f.trust, NOW + 3 * 365 * DAY, policy, no_redeem);
    assert!(matches!(err, Err(Error::TrustUnusable { keys: 1, .. })), "{err:?}");
    let err = wallet.import_claim_link(PASS, "https://i/v1/claim/a", &TrustList::default(), NOW, policy, no_redeem);
    assert!(matches!(err, Err(Error::TrustUnusable { keys: 0, .. })), "{err:?}");
    let mut nowhere = open(&dir.0.join("missing").join("wallet.hrw"), PASS).unwrap();
    let err = nowhere.import_claim_link(PASS, "https://i/v1/claim/a", &f.trust, NOW, policy, no_redeem);
    assert!(matches!(err, Err(Error::Storage { .. })), "{err:?}");
    // A failed redemption changes nothing but the (empty) wallet's first save.
    let err = wallet.import_claim_link(PASS, "https://i/v1/claim/a", &f.trust, NOW, policy, || Err("HTTP 410".into()));
    assert!(matches!(err, Err(Error::Redeem(ref e)) if e.to_string() == "HTTP 410"), "{err:?}");
    assert!(!FileStorage::new(dir.file()).pending_path().exists());

    // Redeemed, then the save fails (a directory where the temporary file goes): the answer is kept, sealed.
    let storage = FileStorage::new(dir.file());
    let blocker = storage.temp_path().join("blocker");
    let err = wallet
        .import_claim_link(PASS, "https://i/v1/claim/a", &f.trust, NOW, policy, || {
            std::fs::create_dir_all(&blocker)?;
            Ok(answer(&text, 1, "valid"))
        })
        .unwrap_err();
    assert!(matches!(err, Error::ClaimPending { ref source } if matches!(**source, Error::Storage { .. })), "{err:?}");
    let kept = std::fs::read(storage.pending_path()).unwrap();
    assert!(kept.starts_with(b"HRCLAIM1"));
    assert!(!String::from_utf8_lossy(&kept).contains("HR1:"), "sealed, not plain text");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(storage.pending_path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "owner-only");
    }
    assert!(open(&dir.file(), PASS).unwrap().list().is_empty());
    assert!(open(&dir.file(), PASS).unwrap().has_pending_claim().unwrap());

    // While the location stays broken, the retry fails again and keeps the answer; once fixed, the same link
    // finishes the import without redeeming it again.
    let mut retry = open(&dir.file(), PASS).unwrap();
    let err = retry.import_claim_link(PASS, "https://i/v1/claim/a", &f.trust, NOW, policy, no_redeem).unwrap_err();
    assert!(matches!(err, Error::ClaimPending { .. }), "{err:?}");
    std::fs::remove_dir_all(storage.temp_path()).unwrap();
    let done = retry.import_claim_link(PASS, " https://i/v1/claim/a\n", &f.trust, NOW, policy, no_redeem).unwrap();
    assert!(done.resumed.is_none());
    assert!(done.redeemed.unwrap().added);
    assert!(!storage.pending_path().exists(), "removed once stored");
    assert_eq!(ids(&open(&dir.file(), PASS).unwrap()), vec![huren_keys::hex(&[1; 8])]);
}

#[test]
fn a_kept_answer_waits_for_trust_and_one_that_can_never_be_imported_is_dropped() {
    let f = fixture();
    let dir = TempDir::new("claim-answers");
    let policy = ImportPolicy::RequireTrusted;
    let stranger_text = qr(&credential("CN-BJ", 2, NOW, NOW + DAY, status("green")), &f.stranger);
    let mut wallet = open(&dir.file(), PASS).unwrap();

    // Trust data that does not vouch for the credential: kept, and it blocks a new link until it is imported.
    let err = wallet
        .import_claim_link(PASS, "https://i/v1/claim/b", &f.trust, NOW, policy, || {
            Ok(answer(&stranger_text, 2, "valid"))
        })
        .unwrap_err();
    assert!(
        matches!(err, Error::ClaimPending { ref source } if matches!(**source, Error::Untrusted { .. })),
        "{err:?}"
    );
    let err = wallet.import_claim_link(PASS, "https://i/v1/claim/c", &f.trust, NOW, policy, no_redeem).unwrap_err();
    assert!(
        matches!(err, Error::ClaimBlocked { ref source } if matches!(**source, Error::ClaimPending { .. })),
        "{err:?}"
    );
    assert!(matches!(wallet.resume_claim(PASS, &f.trust, NOW, policy), Err(Error::ClaimPending { .. })));
    // Another passphrase does not open it (and does not remove it).
    let mut other = Wallet::open_with_iterations(MemoryStorage::default(), b"other", ITERATIONS).unwrap();
    other.save().unwrap();
    let mut storage = other.into_storage();
    storage.pending = std::fs::read(FileStorage::new(dir.file()).pending_path()).ok();
    let mut other = Wallet::open(storage, b"other").unwrap();
    let err = other.resume_claim(b"other", &f.trust, NOW, policy).unwrap_err();
    assert!(matches!(err, Error::PendingUnreadable { .. }), "{err:?}");
    // A wallet made anew (another salt) with the same passphrase opens it: the answer carries its own header.
    let kept = std::fs::read(FileStorage::new(dir.file()).pending_path()).unwrap();
    let fresh = MemoryStorage { bytes: None, pending: Some(kept) };
    let mut fresh = Wallet::open_with_iterations(fresh, PASS, ITERATIONS).unwrap();
    assert!(fresh.resume_claim(PASS, &f.trust, NOW, ImportPolicy::AllowUntrusted).unwrap().unwrap().added);
    assert_eq!(fresh.into_storage().pending, None);
    // Resumed with a policy that allows it: imported, without the issuer.
    let resumed = wallet.resume_claim(PASS, &f.trust, NOW, ImportPolicy::AllowUntrusted).unwrap().unwrap();
    assert!(resumed.added && matches!(resumed.standing, Standing::Untrusted { .. }));
    assert_eq!(wallet.resume_claim(PASS, &f.trust, NOW, policy).unwrap(), None, "nothing left");

    // An answer that can never be imported (revoked) is not kept, so the next link is redeemed normally.
    let text = qr(&green(3, NOW), &f.gd);
    let err = wallet
        .import_claim_link(PASS, "https://i/v1/claim/d", &f.trust, NOW, policy, || Ok(answer(&text, 3, "revoked")))
        .unwrap_err();
    assert!(matches!(err, Error::ClaimUnusable { .. }), "{err:?}");
    assert!(!wallet.has_pending_claim().unwrap());
    let fine = wallet
        .import_claim_link(PASS, "https://i/v1/claim/e", &f.trust, NOW, policy, || Ok(answer(&text, 3, "valid")))
        .unwrap();
    assert!(fine.redeemed.unwrap().added);
    assert_eq!(open(&dir.file(), PASS).unwrap().list().len(), 2);

    // In memory too (no lock to take): the same flow.
    let mut memory = Wallet::open_with_iterations(MemoryStorage::default(), PASS, ITERATIONS).unwrap();
    let err = memory
        .import_claim_link(PASS, "x", &f.trust, NOW, policy, || Ok(answer(&stranger_text, 2, "valid")))
        .unwrap_err();
    assert!(matches!(err, Error::ClaimPending { .. }));
    assert!(memory.resume_claim(PASS, &f.trust, NOW, ImportPolicy::AllowUntrusted).unwrap().is_some());
}
