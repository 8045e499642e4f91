//! Private key files and standard tools (issue 15, item 3): what Huren writes, OpenSSL 3 and Python's
//! `cryptography` read (RFC 8410 PKCS#8 v1), and what Huren wrote before (PKCS#8 v2, plain and sealed) still loads.
//!
//! These tests run the real `openssl` and `python3`: they never skip. A machine without them fails here with a
//! message naming the Debian packages (`openssl`, `python3`, `python3-cryptography`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use huren_keys::SigningKey;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("huren-key-files-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Run a standard tool; a missing tool is a failure that says what to install, never a skip.
fn tool(program: &str, package: &str, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `{program}` ({e}): these tests check interoperability with standard tools and do not \
                 skip; install the Debian package(s) {package}"
            )
        });
    {
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or_default()).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// `openssl pkey -in KEY -pubout -outform DER`: the public key OpenSSL derives from a private key file.
fn openssl_public_key(key: &Path, inform: &str) -> Vec<u8> {
    let out = tool(
        "openssl",
        "`openssl`",
        &["pkey", "-inform", inform, "-in", key.to_str().unwrap(), "-pubout", "-outform", "DER"],
        None,
    );
    assert!(out.status.success(), "openssl refuses {}: {}", key.display(), String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn keygen(dir: &Path, prefix: &str) -> (PathBuf, Vec<u8>) {
    let out = Command::new(env!("CARGO_BIN_EXE_huren-keys"))
        .current_dir(dir)
        .args(["keygen", "--out", prefix])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (dir.join(format!("{prefix}.key.pem")), std::fs::read(dir.join(format!("{prefix}.pub.der"))).unwrap())
}

#[test]
fn openssl_reads_a_key_from_keygen_and_derives_the_public_key_beside_it() {
    let dir = scratch("openssl");
    let (key, public) = keygen(&dir, "gd/root");
    assert_eq!(openssl_public_key(&key, "PEM"), public);
    // RFC 8410 v1: version 0 and nothing after the private key (no attributes, no [1] public key).
    let out = tool("openssl", "`openssl`", &["asn1parse", "-in", key.to_str().unwrap()], None);
    let structure = String::from_utf8_lossy(&out.stdout);
    assert!(structure.contains("INTEGER           :00"), "{structure}");
    assert_eq!(structure.lines().count(), 5, "SEQUENCE, version, algorithm SEQUENCE, OID, key: {structure}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn python_cryptography_loads_a_key_from_keygen() {
    let dir = scratch("python");
    let (key, public) = keygen(&dir, "k");
    let script = "import sys\n\
        from cryptography.hazmat.primitives import serialization as s\n\
        key = s.load_pem_private_key(open(sys.argv[1], 'rb').read(), password=None)\n\
        sys.stdout.buffer.write(key.public_key().public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo))\n";
    let out = tool("python3", "`python3` and `python3-cryptography`", &["-c", script, key.to_str().unwrap()], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'cryptography'"),
        "Python's `cryptography` is not installed: this test does not skip; install the Debian package \
         `python3-cryptography`"
    );
    assert!(out.status.success(), "Python's cryptography refuses the key: {stderr}");
    assert_eq!(out.stdout, public);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_v2_key_file_written_before_issue_15_still_loads_and_exports_as_v1() {
    let fixture = Path::new(FIXTURES).join("v2.key.pem");
    let public = std::fs::read(Path::new(FIXTURES).join("v2.pub.der")).unwrap();
    assert!(std::fs::read_to_string(&fixture).unwrap().contains("\nMFECAQEw"), "the fixture is v2 (version 1)");
    assert_eq!(SigningKey::load(&fixture).unwrap().public().spki_der(), public.as_slice());
    // `huren-keys export` turns it into a file OpenSSL reads.
    let dir = scratch("v2");
    let out = Command::new(env!("CARGO_BIN_EXE_huren-keys"))
        .args(["export", "--key", fixture.to_str().unwrap(), "--out", dir.join("v1.pem").to_str().unwrap()])
        .env_remove("HUREN_KEY_PASSPHRASE")
        .env_remove("HUREN_KEY_PASSPHRASE_FILE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(openssl_public_key(&dir.join("v1.pem"), "PEM"), public);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Open Huren's sealed container the way its format is documented (docs/trust.md, "Key files"):
/// `iterations (4, BE) || salt (16) || nonce (12) || AES-256-GCM(PKCS#8 DER || tag)`, associated data
/// `huren encrypted key v1`, hex between PEM-like armour lines.
fn unseal(path: &Path, passphrase: &[u8]) -> Vec<u8> {
    let text = std::fs::read_to_string(path).unwrap();
    let hex: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    let iterations = u32::from_be_bytes(bytes[..4].try_into().unwrap());
    let key = huren_keys::sealed::SealingKey::derive(passphrase, &bytes[4..20], iterations).unwrap();
    key.open(&bytes[20..], b"huren encrypted key v1").expect("the passphrase opens it").to_vec()
}

#[test]
fn a_sealed_key_opens_and_what_it_seals_is_rfc8410_v1() {
    let dir = scratch("sealed");
    let key = SigningKey::generate().unwrap();
    let path = dir.join("issuer.key");
    key.save_encrypted(&path, b"correct horse", 2_000).unwrap();
    assert_eq!(SigningKey::load_with(&path, Some(b"correct horse")).unwrap().public(), key.public());
    let inner = unseal(&path, b"correct horse");
    assert_eq!(inner.len(), 48, "RFC 8410 v1 is 48 bytes (v2 adds the public key)");
    assert_eq!(&inner[..5], &[0x30, 0x2e, 0x02, 0x01, 0x00], "version 0");
    std::fs::write(dir.join("inner.der"), &inner).unwrap();
    assert_eq!(openssl_public_key(&dir.join("inner.der"), "DER"), key.public().spki_der());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_sealed_v2_key_written_before_issue_15_still_opens_and_exports_for_openssl() {
    let fixture = Path::new(FIXTURES).join("v2-sealed.key");
    let public = std::fs::read(Path::new(FIXTURES).join("v2-sealed.pub.der")).unwrap();
    assert_eq!(unseal(&fixture, b"old passphrase")[4], 0x01, "the fixture seals v2 (version 1)");
    let key = SigningKey::load_with(&fixture, Some(b"old passphrase")).unwrap();
    assert_eq!(key.public().spki_der(), public.as_slice());

    let dir = scratch("export");
    let passphrase_file = dir.join("passphrase");
    std::fs::write(&passphrase_file, "old passphrase\n").unwrap();
    let export = |out: &str, env: &[(&str, &Path)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_huren-keys"));
        command.args(["export", "--key", fixture.to_str().unwrap(), "--out", dir.join(out).to_str().unwrap()]);
        command.env_remove("HUREN_KEY_PASSPHRASE").env_remove("HUREN_KEY_PASSPHRASE_FILE");
        for (name, value) in env {
            command.env(name, value);
        }
        command.output().unwrap()
    };
    // No passphrase, a wrong one: exit 2, a clear message, no file.
    let out = export("none.pem", &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HUREN_KEY_PASSPHRASE"));
    let out = export("wrong.pem", &[("HUREN_KEY_PASSPHRASE", Path::new("wrong"))]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong passphrase"));
    assert!(!dir.join("none.pem").exists() && !dir.join("wrong.pem").exists());
    // The right one from a file, as the issuer reads it.
    let out = export("plain.pem", &[("HUREN_KEY_PASSPHRASE_FILE", &passphrase_file)]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(dir.join("plain.pem")).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert_eq!(openssl_public_key(&dir.join("plain.pem"), "PEM"), public);
    // Never over an existing file.
    let out = export("plain.pem", &[("HUREN_KEY_PASSPHRASE_FILE", &passphrase_file)]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}
