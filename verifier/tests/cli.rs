//! The `huren-verifier verify` contract: inputs (text, images, `-`), `--json` fields, exit codes 0/1/2.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

use huren_keys::{CredentialType, KeyCertificate, ProvinceAnchor, TrustFile};
use huren_wallet_core::{transport, Body, Colour, Credential, Ecc, HealthStatus, QrSymbol, Reason, Subject};

const T0: i64 = 1_790_000_000; // 2026-09-21T14:13:20Z

struct Setup {
    dir: std::path::PathBuf,
    text: String,
}

fn setup(name: &str) -> Setup {
    let dir = std::env::temp_dir().join(format!("huren-verifier-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let root = huren_keys::dangerous::signing_key_from_seed(&[11; 32]).unwrap();
    let issuer = huren_keys::dangerous::signing_key_from_seed(&[12; 32]).unwrap();
    let cert = KeyCertificate {
        province: "CN-HB".into(),
        public_key: issuer.public().clone(),
        credential_types: vec![CredentialType::HealthStatus],
        usage_from: T0 - 10,
        usage_until: T0 + 1000,
        expires: T0 + 100_000_000,
        issued_at: T0 - 10,
    }
    .sign(&root)
    .unwrap();
    let trust = TrustFile {
        anchors: vec![ProvinceAnchor {
            province: "CN-HB".into(),
            root: root.public().clone(),
            certificates: vec![cert],
        }],
    };
    std::fs::write(dir.join("trust.cbor"), trust.encode()).unwrap();
    let credential = Credential {
        issuer: "CN-HB".into(),
        issued_at: T0,
        expires_at: T0 + 86_400,
        not_before: None,
        id: vec![9; 8],
        status: None,
        subject: Subject {
            name: "赵六".into(),
            pinyin: None,
            masked_id: "4201**********9999".into(),
            date_of_birth: None,
        },
        body: Body::HealthStatus(HealthStatus { colour: Colour::Red, reason: Reason::CloseContact, valid_until: None }),
        holder: None,
    };
    let text = transport::encode(&credential.sign(&issuer).unwrap());
    let qr = QrSymbol::new(&text, Ecc::Q).unwrap();
    std::fs::write(dir.join("code.png"), qr.to_png(5).unwrap()).unwrap();
    let jpeg_path = dir.join("code.jpg");
    image::DynamicImage::ImageLuma8(qr.to_image(5)).save(&jpeg_path).unwrap();
    Setup { dir, text }
}

fn run(s: &Setup, args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_huren-verifier"));
    cmd.arg("verify").arg("--trust").arg(s.dir.join("trust.cbor")).args(["--at", "2026-09-21T20:00:00Z"]).args(args);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or_default()).unwrap();
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn text_png_jpeg_and_stdin_inputs_all_verify() {
    let s = setup("inputs");
    let png = s.dir.join("code.png");
    let jpg = s.dir.join("code.jpg");
    let (code, out, err) =
        run(&s, &["--json", &s.text, png.to_str().unwrap(), jpg.to_str().unwrap(), "-"], Some(s.text.as_bytes()));
    assert_eq!(code, 0, "{err}");
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 4);
    for l in &lines {
        assert_eq!(
            (l["valid"].as_bool(), l["code"].as_str(), l["format"].as_str()),
            (Some(true), Some("OK"), Some("huren"))
        );
        assert_eq!(l["stage"], "done");
        assert_eq!(l["issuer"], "CN-HB");
        assert_eq!(l["credential"]["body"]["colour"], "red", "a red status is a valid credential showing red");
    }
    // An image piped on stdin works too.
    let (code, out, _) = run(&s, &["--json", "-"], Some(&std::fs::read(&png).unwrap()));
    assert_eq!(code, 0);
    assert_eq!(json_lines(&out)[0]["valid"], true);
    std::fs::remove_dir_all(&s.dir).unwrap();
}

#[test]
fn any_invalid_input_gives_exit_1_with_its_code() {
    let s = setup("invalid");
    // Tamper with one signature byte: nudge the first digit of a base45 chunk near the end down (or up) by one,
    // which keeps the chunk valid base45 and changes exactly one byte of the signature.
    const ALPHABET: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
    let mut tampered: Vec<char> = s.text.chars().collect();
    let at = 4 + ((tampered.len() - 4) / 3 - 3) * 3;
    let digit = ALPHABET.find(tampered[at]).unwrap();
    let nudged = if digit > 0 { digit - 1 } else { digit + 1 };
    tampered[at] = ALPHABET.chars().nth(nudged).unwrap();
    let tampered: String = tampered.into_iter().collect();
    let blank = s.dir.join("blank.png");
    image::GrayImage::from_pixel(100, 100, image::Luma([255])).save(&blank).unwrap();
    let (code, out, _) = run(&s, &["--json", &s.text, &tampered, "HC1:NCFOXN%TS3DH", blank.to_str().unwrap()], None);
    assert_eq!(code, 1);
    let lines = json_lines(&out);
    let codes: Vec<_> = lines.iter().map(|l| l["code"].as_str().unwrap().to_string()).collect();
    assert_eq!(codes[0], "OK");
    assert_eq!(codes[1], "SIGNATURE_INVALID");
    assert_eq!(lines[1]["stage"], "signature");
    assert_eq!(codes[2], "DECOMPRESSION_FAILED", "the start of a real DCC, cut short: its zlib stream is truncated");
    assert_eq!(lines[2]["format"], "dcc");
    assert_eq!(codes[3], "QR_UNREADABLE");
    assert_eq!(lines[3]["stage"], "scan");
    for l in &lines[1..] {
        assert_eq!(l["valid"], false);
        assert!(!l["message"]["zh"].as_str().unwrap().is_empty() && !l["message"]["en"].as_str().unwrap().is_empty());
    }
    std::fs::remove_dir_all(&s.dir).unwrap();
}

#[test]
fn human_output_names_the_outcome_in_both_languages() {
    let s = setup("human");
    let (code, out, _) = run(&s, &[&s.text], None);
    assert_eq!(code, 0);
    assert!(out.contains("凭证有效") && out.contains("Valid credential") && out.contains("赵六"), "{out}");
    let (code, out, _) = run(&s, &["HR1:%%%"], None);
    assert_eq!(code, 1);
    assert!(out.contains("BASE45_INVALID") && out.contains("二维码内容损坏"), "{out}");
    std::fs::remove_dir_all(&s.dir).unwrap();
}

#[test]
fn usage_and_io_errors_exit_2() {
    let s = setup("usage");
    assert_eq!(run(&s, &["no/such/file.png"], None).0, 2);
    assert_eq!(run(&s, &["--bogus-flag", &s.text], None).0, 2);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_huren-verifier"));
    let out = cmd.args(["verify", "--trust", "/nonexistent/trust.cbor", &s.text]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let garbage = s.dir.join("garbage.cbor");
    std::fs::write(&garbage, b"not cbor").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_huren-verifier"))
        .args(["verify", "--trust"])
        .arg(&garbage)
        .arg(&s.text)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("trust file"));
    std::fs::remove_dir_all(&s.dir).unwrap();
}

#[test]
fn format_comes_from_the_content_and_empty_inputs_are_usage_errors() {
    let s = setup("format");
    let hc1 = s.dir.join("dcc.txt");
    std::fs::write(&hc1, "HC1:NCFOXN%TS3DH\n").unwrap();
    let (code, out, _) = run(&s, &["--json", hc1.to_str().unwrap()], None);
    assert_eq!(code, 1);
    let line = &json_lines(&out)[0];
    assert_eq!((line["format"].as_str(), line["code"].as_str()), (Some("dcc"), Some("DECOMPRESSION_FAILED")));
    let (code, out, _) = run(&s, &["--json", "-"], Some(b"HC1:NCFOXN%TS3DH"));
    assert_eq!((code, json_lines(&out)[0]["format"].as_str()), (1, Some("dcc")));

    // Nothing to verify is not "everything valid".
    let (code, out, err) = run(&s, &["--json", "-"], Some(b"\n\n"));
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("nothing to verify"), "{err}");
    let empty = s.dir.join("empty.txt");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(run(&s, &[empty.to_str().unwrap()], None).0, 2);
    assert_eq!(run(&s, &[&s.text, "-"], Some(b"")).0, 2, "an empty stdin next to a valid code still fails");
    std::fs::remove_dir_all(&s.dir).unwrap();
}
