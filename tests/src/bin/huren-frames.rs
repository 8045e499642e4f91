//! `huren-frames`: writes the camera-frame set of testdata/frames/ (issue 7).
//!
//! For each frame size (640x480, 1280x720), QR version (7, 10, 14) and level (moderate, harsh) it renders
//! `--per-cell` frames (16 by default) of a real signed credential, distorted with [`Distortion::sampled`], as
//! greyscale JPEG; plus `trust.cbor` (the test province's trust file) and `manifest.json` (for each frame: the
//! file, size, version, level, the parameters, and the expected QR text; and the verification time). Everything
//! is deterministic: the fixture keys are fixed and Ed25519 signatures are deterministic, so running it again
//! gives the same files.
//!
//! ```sh
//! cargo run --release -p huren-tests --bin huren-frames -- testdata/frames
//! ```

// A generator: a broken fixture should stop it loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::as_conversions
)]

use std::path::PathBuf;

use huren_keys::{ProvinceAnchor, TrustFile};
use huren_tests::fixtures::{health_status, TestProvince, T0};
use huren_tests::frames::{camera_frame, jpeg, png, Distortion, Level};
use huren_wallet_core::{transport, Credential, Ecc, QrSymbol, QUIET_ZONE};
use serde_json::json;

/// Frame sizes, QR versions and levels of the set.
const SIZES: [(u32, u32); 2] = [(640, 480), (1280, 720)];
/// The issue asks for versions 6, 10 and 14; a signed Huren credential does not fit version 6 at any ECC level
/// (the smallest, 213 characters, needs version 7 at level L), so the small end of the set is version 7.
const VERSIONS: [i16; 3] = [7, 10, 14];
const LEVELS: [Level; 2] = [Level::Moderate, Level::Harsh];

/// A credential whose QR text needs exactly `version` at some ECC level: the reference credential, with a pinyin
/// field and then a longer name of pseudo-random characters (incompressible) until the size is right. ECC levels
/// are tried in the order Q (Huren's default), M, L, H.
fn credential_for_version(gd: &TestProvince, version: i16) -> (String, Ecc) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        u32::try_from((state >> 32) % n).unwrap()
    };
    let letters: Vec<char> = (0..64).map(|_| char::from_u32(u32::from(b'A') + next(26)).unwrap()).collect();
    let hanzi: Vec<char> = (0..61).map(|_| char::from_u32(0x4e00 + next(0x5000)).unwrap()).collect();
    // Shorter subjects first reach the smaller versions: the reference subject, then "张三" with "**1234", then
    // "张" with "*1" (the smallest a signed credential gets: 213 characters, version 7 at level L).
    let subjects = [("张三丰", "4403**********1234"), ("张三", "**1234"), ("张", "*1")];
    for ecc in [Ecc::Q, Ecc::M, Ecc::L, Ecc::H] {
        for (name, masked_id) in subjects {
            for extra in 0..=125usize {
                let mut credential: Credential = health_status("CN-GD");
                credential.subject.name = name.into();
                credential.subject.masked_id = masked_id.into();
                if extra > 0 {
                    credential.subject.pinyin = Some(letters[..extra.min(64)].iter().collect());
                }
                if extra > 64 {
                    credential.subject.name = name.chars().chain(hanzi[..extra - 64].iter().copied()).collect();
                }
                let text = transport::encode(&credential.sign(&gd.issuer).unwrap());
                let v = QrSymbol::new(&text, ecc).unwrap().version();
                if v == version {
                    return (text, ecc);
                }
                if v > version {
                    break;
                }
            }
        }
    }
    panic!("no credential size gives QR version {version}");
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut out = PathBuf::from("testdata/frames");
    let mut per_cell = 16u64;
    let mut preview = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // Also write each frame as PNG under preview/ (for looking at them; not part of the set).
            "--preview" => preview = true,
            "--per-cell" => per_cell = args.next().and_then(|n| n.parse().ok()).expect("--per-cell N"),
            _ => out = PathBuf::from(arg),
        }
    }
    std::fs::create_dir_all(&out).unwrap();
    let gd = TestProvince::guangdong();
    let now = T0 + 60;

    let trust = TrustFile {
        anchors: vec![ProvinceAnchor {
            province: gd.code.clone(),
            root: gd.root.public().clone(),
            certificates: vec![gd.certificate.sign(&gd.root).unwrap()],
        }],
    };
    std::fs::write(out.join("trust.cbor"), trust.encode()).unwrap();
    let trust_list = huren_keys::TrustList::from_trust_file(&trust).unwrap();

    let mut frames = Vec::new();
    let mut total_bytes = 0usize;
    for version in VERSIONS {
        let (text, ecc) = credential_for_version(&gd, version);
        let symbol = QrSymbol::new(&text, ecc).unwrap();
        assert!(huren_verifier::verify(&text, &trust_list, now, &huren_verifier::Policy::default()).is_ok());
        let modules = u32::try_from(symbol.width()).unwrap() + 2 * QUIET_ZONE;
        println!(
            "version {version}: {} characters at level {ecc:?}, {modules} modules with the quiet zone",
            text.len()
        );
        for (width, height) in SIZES {
            for level in LEVELS {
                for i in 0..per_cell {
                    let seed = u64::from(width) * 1_000_003
                        + u64::from(version.unsigned_abs()) * 1009
                        + i * 7
                        + if level == Level::Harsh { 500_000 } else { 0 };
                    let d = Distortion::sampled(width, height, level, seed);
                    // Render a little finer than the frame's pixels per module, so the resampling averages.
                    let module_px = (d.pixels_per_module(modules) * 1.5).ceil() as u32;
                    let frame = camera_frame(&symbol.to_image(module_px.max(2)), &d);
                    let quality = if level == Level::Harsh { 60 } else { 70 };
                    let bytes = jpeg(&frame, quality);
                    total_bytes += bytes.len();
                    let name = format!("{width}x{height}-v{version}-{}-{i:02}.jpg", level.name());
                    std::fs::write(out.join(&name), &bytes).unwrap();
                    if preview {
                        std::fs::create_dir_all(out.join("preview")).unwrap();
                        std::fs::write(out.join("preview").join(name.replace(".jpg", ".png")), png(&frame)).unwrap();
                    }
                    frames.push(json!({
                        "file": name,
                        "width": width,
                        "height": height,
                        "version": version,
                        "ecc": format!("{ecc:?}"),
                        "level": level.name(),
                        "inverted": d.inverted,
                        "pixels_per_module": (d.pixels_per_module(modules) * 100.0).round() / 100.0,
                        "angle_deg": (d.angle_deg * 10.0).round() / 10.0,
                        "jpeg_quality": quality,
                        "text": text,
                    }));
                }
            }
        }
    }
    let manifest = json!({
        "description": "Camera-like frames of signed Huren credentials (issue 7); made by huren-frames",
        "trust_file": "trust.cbor",
        "now": now,
        "frames": frames,
    });
    std::fs::write(out.join("manifest.json"), serde_json::to_string_pretty(&manifest).unwrap() + "\n").unwrap();
    println!("{} frames, {:.1} MB of JPEG, in {}", frames.len(), total_bytes as f64 / 1e6, out.display());
}
