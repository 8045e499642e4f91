//! Issue -> render -> decode the image -> verify, from clean images and camera-like frames, through the libraries
//! and through the command-line tools.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use huren_issuer::{IssueRequest, Province};
use huren_keys::{TrustFile, TrustList};
use huren_tests::fixtures::{health_status, TestProvince, DAY, T0};
use huren_tests::frames::{camera_frame, jpeg, png, Distortion};
use huren_verifier::scan::{scan_image_bytes, ImageLimits};
use huren_verifier::{verify, Code, Policy};
use huren_wallet_core::{Ecc, QrSymbol, StatusRef};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("huren-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn request() -> IssueRequest {
    serde_json::from_str(
        r#"{"subject": {"name": "李小龙", "masked_id": "1101**********567X"},
            "body": {"type": "health-status", "colour": "amber", "reason": "risk-area-travel"},
            "valid_for_hours": 24}"#,
    )
    .unwrap()
}

#[test]
fn issue_render_png_scan_verify() {
    let dir = temp_dir("png");
    let province = Province::init(&dir, "CN-GD", T0, &Default::default()).unwrap();
    let issued = province.issue(&request(), T0 + 60).unwrap();
    let image = QrSymbol::new(&issued.qr_text(), Ecc::Q).unwrap().to_png(6).unwrap();

    let texts = scan_image_bytes(&image, &ImageLimits::default()).unwrap();
    assert_eq!(texts, vec![issued.qr_text()]);

    let trust_file = TrustFile::decode(&std::fs::read(province.files().trust()).unwrap()).unwrap();
    let trust = TrustList::from_trust_file(&trust_file).unwrap();
    let verified = verify(&texts[0], &trust, T0 + 3600, &Policy::default()).unwrap();
    assert_eq!(verified.credential(), &issued.credential);
    assert_eq!(verified.issuer(), "CN-GD");
    assert_eq!(verified.kid(), province.issuer_key().public().kid());

    // A day and a minute later it has expired; before issue it is not yet valid.
    let late = verify(&texts[0], &trust, T0 + 60 + DAY, &Policy::default()).unwrap_err();
    assert_eq!(late.code(), Code::Expired);
    let early = verify(&texts[0], &trust, T0 - 3600, &Policy::default()).unwrap_err();
    assert_eq!(early.code(), Code::NotYetValid);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn photo_like_frames_decode_and_verify() {
    let gd = TestProvince::guangdong();
    let text = gd.qr_text(&health_status("CN-GD"));
    let qr = QrSymbol::new(&text, Ecc::Q).unwrap().to_image(4);
    let trust = gd.trust();
    // rqrr needs about 5 pixels per module once blur and noise are added (version 11 is 61 modules + quiet zone),
    // so the code fills 85 % of a VGA frame's height; issue 7 takes on smaller and harsher frames.
    let cases = [(640, 480, 0.85, 3.0f32), (640, 480, 0.85, -5.0), (1280, 720, 0.7, 2.0), (1280, 720, 0.7, -4.0)];
    for ((w, h, fraction, angle), seed) in cases.into_iter().zip(1u64..) {
        let mut d = Distortion::moderate(w, h, seed);
        d.code_fraction = fraction;
        d.angle_deg = angle;
        let frame = camera_frame(&qr, &d);
        for (kind, bytes) in [("png", png(&frame)), ("jpeg", jpeg(&frame, 80))] {
            let texts = scan_image_bytes(&bytes, &ImageLimits::default())
                .unwrap_or_else(|e| panic!("{kind} frame {w}x{h} at {angle} degrees: {e}"));
            assert_eq!(texts[0], text);
            assert!(verify(&texts[0], &trust, T0 + 60, &Policy::default()).is_ok());
        }
    }
}

#[test]
fn dark_mode_screens_read_inverted() {
    let gd = TestProvince::guangdong();
    let text = gd.qr_text(&health_status("CN-GD"));
    let mut img = QrSymbol::new(&text, Ecc::Q).unwrap().to_image(5);
    image::imageops::invert(&mut img);
    let texts = scan_image_bytes(&png(&img), &ImageLimits::default()).unwrap();
    assert_eq!(texts[0], text);
}

#[test]
fn an_image_without_a_code_is_unreadable() {
    let blank = image::GrayImage::from_pixel(320, 240, image::Luma([230]));
    let err = scan_image_bytes(&png(&blank), &ImageLimits::default()).unwrap_err();
    assert!(
        matches!(err, huren_verifier::Rejection::QrUnreadable { ref reason } if reason.contains("no readable")),
        "{err:?}"
    );
}

/// The brief's size target: 3-character Chinese name + masked 18-digit ID fits QR version 11 at level Q,
/// even with the status reference that revocation adds (worst case: a 4-byte index).
#[test]
fn health_status_fits_qr_version_11_at_q() {
    let gd = TestProvince::guangdong();
    let mut credential = health_status("CN-GD");
    let plain = gd.qr_text(&credential);
    assert!(QrSymbol::new(&plain, Ecc::Q).unwrap().version() <= 11, "{} chars", plain.len());
    credential.status = Some(StatusRef { list: 200, index: u32::MAX });
    let with_status = gd.qr_text(&credential);
    let version = QrSymbol::new(&with_status, Ecc::Q).unwrap().version();
    assert!(version <= 11, "version {version} for {} chars", with_status.len());
}

use huren_tests::workspace_binary as bin;

#[test]
fn command_line_issue_and_verify() {
    use std::process::Command;
    let dir = temp_dir("cli");
    let gd = dir.join("gd");
    let out = Command::new(bin("huren-issuer"))
        .args(["init", "--province", "CN-GD", "--dir"])
        .arg(&gd)
        .args(["--at", "2026-09-21T00:00:00Z"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let png_path = dir.join("code.png");
    let out = Command::new(bin("huren-issuer"))
        .args(["issue", "--dir"])
        .arg(&gd)
        .args(["--name", "王五", "--id", "4201**********0011", "--at", "2026-09-21T08:00:00Z", "--png"])
        .arg(&png_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap().trim_end().to_string();
    assert!(text.starts_with("HR1:"));

    let verify = |extra: &[&str]| {
        Command::new(bin("huren-verifier"))
            .args(["verify", "--json", "--trust"])
            .arg(gd.join("trust.cbor"))
            .args(extra)
            .output()
            .unwrap()
    };
    let ok = verify(&["--at", "2026-09-22T08:00:00Z", png_path.to_str().unwrap(), &text]);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8(ok.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    for line in &lines {
        assert_eq!(line["valid"], true);
        assert_eq!(line["format"], "huren");
        assert_eq!(line["code"], "OK");
        assert_eq!(line["issuer"], "CN-GD");
        assert_eq!(line["kid"].as_str().unwrap().len(), 16);
        assert_eq!(line["credential"]["subject"]["name"], "王五");
    }

    let expired = verify(&["--at", "2026-10-01T00:00:00Z", &text]);
    assert_eq!(expired.status.code(), Some(1));
    let line: serde_json::Value = serde_json::from_slice(&expired.stdout).unwrap();
    assert_eq!(
        (line["valid"].as_bool(), line["code"].as_str(), line["stage"].as_str()),
        (Some(false), Some("EXPIRED"), Some("validity"))
    );
    assert!(line["issuer"].is_null(), "nothing unverified is shown");

    let missing = verify(&["missing.png"]);
    assert_eq!(missing.status.code(), Some(2));
    let bad_time = verify(&["--at", "yesterday", &text]);
    assert_eq!(bad_time.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}
