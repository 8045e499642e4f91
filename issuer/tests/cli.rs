//! `huren-issuer init` and `issue`: every credential type from flags or JSON, image outputs, and refusals.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use huren_keys::{cose::Sign1, TrustFile, TrustList};
use huren_wallet_core::{transport, Body, Credential};

fn issuer(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_huren-issuer")).current_dir(dir).args(args).output().unwrap()
}

/// Decode QR text and check its signature against the trust file the province wrote.
fn open(dir: &Path, text: &str) -> Credential {
    let trust =
        TrustList::from_trust_file(&TrustFile::decode(&std::fs::read(dir.join("p/trust.cbor")).unwrap()).unwrap())
            .unwrap();
    let cose = transport::decode(text.trim_end(), &Default::default()).unwrap();
    let sign1 = Sign1::parse(&cose).unwrap();
    let cert = trust.candidates(sign1.kid()).next().expect("signed by the province's issuer key");
    Credential::from_claims(sign1.verify(&cert.certificate.public_key).unwrap()).unwrap()
}

fn fresh(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("huren-issuer-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = issuer(&["init", "--province", "CN-SH", "--dir", "p", "--at", "2026-09-01T00:00:00Z"], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    dir
}

#[test]
fn every_type_from_flags_with_png_and_svg() {
    let dir = fresh("flags");
    let at = ["--at", "2026-09-02T00:00:00Z"];
    let cases: [&[&str]; 4] = [
        &[
            "--type",
            "health-status",
            "--colour",
            "amber",
            "--reason",
            "awaiting-test",
            "--png",
            "a.png",
            "--svg",
            "a.svg",
        ],
        &["--type", "test-result", "--test-kind", "antigen", "--outcome", "negative", "--centre", "浦东检测点"],
        &["--type", "vaccination", "--product", "BBIBP", "--dose", "2", "--doses", "3", "--date", "2026-08-01"],
        &[
            "--type",
            "recovery",
            "--first-positive",
            "2026-08-01",
            "--valid-from",
            "2026-08-11",
            "--valid-until",
            "2027-02-01",
        ],
    ];
    for (i, extra) in cases.iter().enumerate() {
        let mut args =
            vec!["issue", "--dir", "p", "--name", "钱七", "--id", "3101**********22X1", "--dob", "1980-02-29"];
        args.extend_from_slice(&at);
        args.extend_from_slice(extra);
        let out = issuer(&args, &dir);
        assert!(out.status.success(), "case {i}: {}", String::from_utf8_lossy(&out.stderr));
        let credential = open(&dir, &String::from_utf8(out.stdout).unwrap());
        assert_eq!(credential.issuer, "CN-SH");
        assert_eq!(credential.subject.date_of_birth.unwrap().to_string(), "1980-02-29");
        assert_eq!(credential.credential_type().name(), extra[1]);
        assert_eq!(credential.expires_at - credential.issued_at, 168 * 3600);
    }
    assert!(std::fs::read(dir.join("a.png")).unwrap().starts_with(b"\x89PNG"));
    assert!(std::fs::read_to_string(dir.join("a.svg")).unwrap().contains("<svg"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn json_request_from_file() {
    let dir = fresh("json");
    std::fs::write(
        dir.join("req.json"),
        r#"{"subject": {"name": "孙八", "masked_id": "4401**********0000", "pinyin": "SUN Ba"},
            "body": {"type": "health-status", "colour": "green", "reason": "no-risk", "valid_until": 1788310000},
            "valid_for_hours": 48}"#,
    )
    .unwrap();
    let out = issuer(&["issue", "--dir", "p", "--json", "req.json", "--at", "2026-09-02T00:00:00Z"], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let credential = open(&dir, &String::from_utf8(out.stdout).unwrap());
    assert_eq!(credential.subject.pinyin.as_deref(), Some("SUN Ba"));
    assert!(matches!(credential.body, Body::HealthStatus(ref h) if h.valid_until == Some(1_788_310_000)));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_requests_are_refused_with_exit_2_and_nothing_on_stdout() {
    let dir = fresh("bad");
    let bad: [&[&str]; 6] = [
        &["issue", "--dir", "p", "--name", "A"],                               // no id
        &["issue", "--dir", "p", "--name", "A", "--id", "440301199001011234"], // unmasked id
        &["issue", "--dir", "p", "--name", "A", "--id", "4403**1234", "--type", "pass"], // unknown type
        &["issue", "--dir", "p", "--name", "A", "--id", "4403**1234", "--colour", "blue"],
        &["issue", "--dir", "missing", "--name", "A", "--id", "4403**1234"],
        &["init", "--province", "CN-SH", "--dir", "p"], // already initialised
    ];
    for args in bad {
        let out = issuer(args, &dir);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn key_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = fresh("perm");
    for f in ["p/root.key.pem", "p/issuer.key.pem"] {
        assert_eq!(std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777, 0o600, "{f}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_issuer_refuses_what_its_certificate_does_not_cover() {
    let dir = std::env::temp_dir().join(format!("huren-issuer-cli-scope-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let init =
        ["init", "--province", "CN-ZJ", "--dir", "p", "--types", "health-status", "--at", "2026-09-01T00:00:00Z"];
    assert!(issuer(&init, &dir).status.success());
    let base = ["issue", "--dir", "p", "--name", "周九", "--id", "3301**********0009"];
    let ok = issuer(&[&base[..], &["--at", "2026-09-02T00:00:00Z"]].concat(), &dir);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let cases: [&[&str]; 3] = [
        &["--at", "2026-09-02T00:00:00Z", "--type", "vaccination", "--product", "X", "--date", "2026-08-01"],
        &["--at", "2028-01-01T00:00:00Z"], // after the key's usage window: rotate first
        &["--at", "2026-08-01T00:00:00Z"], // before it
    ];
    for extra in cases {
        let out = issuer(&[&base[..], extra].concat(), &dir);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        assert!(out.stdout.is_empty(), "{extra:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `tokens create` then `serve`: a real process on loopback answers, issues with the token, refuses without it,
/// and stops cleanly on SIGTERM.
#[test]
fn serve_answers_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = fresh("serve");
    let token = issuer(&["tokens", "create", "--dir", "p", "--role", "issuer"], &dir);
    assert!(token.status.success(), "{}", String::from_utf8_lossy(&token.stderr));
    let token = String::from_utf8(token.stdout).unwrap().trim().to_string();
    std::fs::write(dir.join("issuer.toml"), "dir = \"p\"\nlisten = \"127.0.0.1:0\"\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_huren-issuer"))
        .current_dir(&dir)
        .env_remove("HUREN_LISTEN")
        .args(["serve", "--config", "issuer.toml"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line.trim().rsplit("http://").next().unwrap().to_string();
    let request = |raw: String| {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream.write_all(raw.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    assert!(request("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into()).starts_with("HTTP/1.1 200"));
    let body = r#"{"subject": {"name": "周九", "masked_id": "3301**********0009"}, "body": {"type": "health-status", "colour": "amber", "reason": "awaiting-test"}, "valid_for_hours": 24}"#;
    let post = |auth: &str| {
        request(format!(
            "POST /v1/credentials HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}Content-Length: {}\r\n\r\n{body}",
            body.len()
        ))
    };
    let created = post(&format!("Authorization: Bearer {token}\r\n"));
    assert!(created.starts_with("HTTP/1.1 201"), "{created}");
    assert!(created.contains("HR1:"));
    assert!(post("").starts_with("HTTP/1.1 401"));
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    assert!(child.wait().unwrap().success(), "graceful shutdown exits 0");
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("stopped"), "{rest}");
    // The token creation and the issuance are in an intact audit chain.
    let audit = issuer(&["audit", "verify", "--dir", "p"], &dir);
    assert!(audit.status.success());
    assert!(String::from_utf8(audit.stdout).unwrap().contains("2 entries, chain intact"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bulk_file_then_revoke_from_the_command_line() {
    let dir = fresh("bulk");
    std::fs::write(
        dir.join("people.csv"),
        "name,masked_id,colour,reason,valid_for_hours\n李四,4201**********0002,amber,close-contact,48\n王五,bad id,green,no-risk,24\n赵六,4201**********0006,green,no-risk,24\n",
    )
    .unwrap();
    let out = issuer(&["bulk", "--dir", "p", "people.csv"], &dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[0]["id"].is_string() && lines[2]["id"].is_string());
    assert_eq!(lines[1]["line"], 3);
    assert!(lines[1]["error"].as_str().unwrap().contains("masked"));
    assert_eq!(lines[3]["summary"]["issued"], 2);
    let id = lines[0]["id"].as_str().unwrap();
    let revoke = issuer(&["revoke", "--dir", "p", id, "--reason", "reported lost"], &dir);
    assert!(revoke.status.success(), "{}", String::from_utf8_lossy(&revoke.stderr));
    assert_eq!(String::from_utf8(revoke.stdout).unwrap().trim(), format!("{id}: revoked"));
    let again = issuer(&["revoke", "--dir", "p", id, "--reinstate", "--reason", "oops"], &dir);
    assert_eq!(again.status.code(), Some(2), "a revoked credential stays revoked");
    let audit = issuer(&["audit", "verify", "--dir", "p"], &dir);
    assert!(String::from_utf8(audit.stdout).unwrap().contains("3 entries, chain intact"));
    std::fs::remove_dir_all(&dir).unwrap();
}
