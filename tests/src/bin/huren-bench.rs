//! `huren-bench`: the credential core's speed, measured in one run on one thread.
//!
//! Prints, for the same credential: a bare Ed25519 verification (the yardstick), the pipeline's parts, the whole
//! pipeline from QR text, and the whole pipeline from a 1280x720 camera-like frame, each with its ratio to the
//! yardstick. Run it pinned to one core: `taskset -c 0 cargo run --release -p huren-tests --bin huren-bench`.

// A benchmark harness: a broken fixture should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss, clippy::as_conversions)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use huren_keys::cose::Sign1;
use huren_tests::fixtures::{health_status, TestProvince, T0};
use huren_tests::frames::{camera_frame, png, Distortion};
use huren_verifier::{scan, verify, Policy};
use huren_wallet_core::{transport, Credential, Ecc, QrSymbol};

/// Median time per call over `samples` samples of `iterations` calls each.
fn measure(iterations: u32, samples: usize, mut f: impl FnMut()) -> Duration {
    for _ in 0..iterations.min(100) {
        f();
    }
    let mut times: Vec<Duration> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                f();
            }
            start.elapsed() / iterations
        })
        .collect();
    times.sort_unstable();
    times[samples / 2]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let gd = TestProvince::guangdong();
    let trust = gd.trust();
    let policy = Policy::default();
    let credential = health_status("CN-GD");
    let cose = credential.sign(&gd.issuer).unwrap();
    let text = transport::encode(&cose);
    let now = T0 + 60;
    assert!(verify(&text, &trust, now, &policy).is_ok(), "the benchmark credential must verify");

    // The yardstick: Ed25519 over exactly the bytes the pipeline verifies (the Sig_structure).
    let sign1 = Sign1::parse(&cose).unwrap();
    let claims = sign1.verify(gd.issuer.public()).unwrap().to_vec();
    let tbs = coset_tbs(&cose);
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&gd.issuer.public().spki_der()[12..].try_into().unwrap()).unwrap();
    let sig = ed25519_dalek::Signature::from_slice(&cose[cose.len() - 64..]).unwrap();
    assert!(vk.verify_strict(&tbs, &sig).is_ok());
    let sig_bytes = sig.to_bytes();

    // Camera-like 1280x720 frames (moderate distortion, 20 seeds): which decode on rqrr's first pass, which need
    // the fallbacks (binarise, smooth, invert, rescale), which fail.
    let qr = QrSymbol::new(&text, Ecc::Q).unwrap();
    let frames: Vec<_> = (1..=20u64)
        .map(|seed| {
            let mut d = Distortion::moderate(1280, 720, seed);
            d.angle_deg = -5.0 + (seed % 11) as f32;
            camera_frame(&qr.to_image(4), &d)
        })
        .collect();
    let first_pass: Vec<bool> = frames.iter().map(|f| scan::stages::detect(f).first() == Some(&text)).collect();
    let with_fallbacks: Vec<bool> = frames.iter().map(|f| scan::scan_gray(f).first() == Some(&text)).collect();
    let easy = first_pass.iter().position(|ok| *ok).expect("a frame that decodes on the first pass");
    let hard = (0..frames.len()).find(|&i| !first_pass[i] && with_fallbacks[i]);
    let frame = &frames[easy];
    let frame_png = png(frame);

    // The same credential bound to a device key, shown as a dynamic code.
    let device = huren_keys::dangerous::signing_key_from_seed(&[42; 32]).unwrap();
    let mut bound = credential.clone();
    bound.holder = Some(huren_wallet_core::HolderKey::from_public_key(device.public()).unwrap());
    let dynamic = huren_wallet_core::presentation::present(&bound.sign(&gd.issuer).unwrap(), &device, now).unwrap();
    assert!(verify(&dynamic, &trust, now, &policy).is_ok(), "the dynamic code must verify");
    println!("dynamic code: {} chars of QR text", dynamic.len());

    let fast = 20_000;
    let rows: Vec<(&str, Duration)> = vec![
        (
            "ed25519 verify_strict (yardstick)",
            measure(2_000, 31, || {
                black_box(vk.verify_strict(black_box(&tbs), black_box(&sig))).unwrap();
            }),
        ),
        (
            "ed25519 verify (non-strict)",
            measure(2_000, 31, || {
                use ed25519_dalek::Verifier;
                black_box(vk.verify(black_box(&tbs), black_box(&sig))).unwrap();
            }),
        ),
        (
            "ed25519 Huren rule (cofactored; what the pipeline calls)",
            measure(2_000, 31, || {
                black_box(gd.issuer.public().verify(black_box(&tbs), black_box(&sig_bytes))).unwrap();
            }),
        ),
        (
            "  transport: prefix + base45 (+ inflate)",
            measure(fast, 31, || {
                black_box(transport::decode(black_box(&text), &Default::default())).unwrap();
            }),
        ),
        (
            "  COSE_Sign1 parse (coset)",
            measure(fast, 31, || {
                black_box(Sign1::parse(black_box(&cose))).unwrap();
            }),
        ),
        (
            "  CWT claims decode (strict, canonical)",
            measure(fast, 31, || {
                black_box(Credential::from_claims(black_box(&claims))).unwrap();
            }),
        ),
        (
            "full verify from QR text",
            measure(2_000, 31, || {
                black_box(verify(black_box(&text), &trust, now, &policy)).unwrap();
            }),
        ),
        (
            "full verify of a dynamic code (HP1: credential + holder signature)",
            measure(1_000, 31, || {
                black_box(verify(black_box(&dynamic), &trust, now, &policy)).unwrap();
            }),
        ),
        (
            "QR detect+decode, 1280x720 frame (rqrr)",
            measure(10, 11, || {
                black_box(scan::stages::detect(black_box(frame)));
            }),
        ),
        (
            "full verify from 1280x720 frame",
            measure(10, 11, || {
                let texts = scan::scan_gray(black_box(frame));
                black_box(verify(&texts[0], &trust, now, &policy)).unwrap();
            }),
        ),
        (
            "full verify from 1280x720 PNG file bytes",
            measure(10, 11, || {
                let texts = scan::scan_image_bytes(black_box(&frame_png), &Default::default()).unwrap();
                black_box(verify(&texts[0], &trust, now, &policy)).unwrap();
            }),
        ),
        (
            "  same, frame that needs the fallbacks",
            match hard {
                Some(i) => measure(3, 5, || {
                    let texts = scan::scan_gray(black_box(&frames[i]));
                    black_box(verify(&texts[0], &trust, now, &policy)).unwrap();
                }),
                None => Duration::ZERO,
            },
        ),
        (
            "QR render (qrcode crate, version 11, Q)",
            measure(200, 11, || {
                black_box(QrSymbol::new(black_box(&text), Ecc::Q)).unwrap();
            }),
        ),
        (
            "issue: sign + encode",
            measure(2_000, 31, || {
                black_box(transport::encode(&credential.sign(&gd.issuer).unwrap()));
            }),
        ),
    ];
    let yardstick = rows[0].1;
    println!(
        "1280x720 moderate frames: {}/20 decoded on rqrr's first pass, {}/20 with the fallbacks",
        first_pass.iter().filter(|ok| **ok).count(),
        with_fallbacks.iter().filter(|ok| **ok).count()
    );
    println!(
        "credential: {} bytes COSE, {} chars QR text, QR version {} at ECC Q",
        cose.len(),
        text.len(),
        qr.version()
    );
    println!("{:<44} {:>12} {:>10}", "operation", "median", "x ed25519");
    for (name, d) in &rows {
        let value = micros(*d);
        let shown = if value >= 1000.0 { format!("{:.2} ms", value / 1000.0) } else { format!("{value:.2} µs") };
        println!("{name:<44} {shown:>12} {:>9.2}x", d.as_secs_f64() / yardstick.as_secs_f64());
    }
    trust_bundle_bench();
    dcc_bench();
    let full = rows.iter().find(|(n, _)| *n == "full verify from QR text").map(|r| r.1).unwrap_or_default();
    for (name, reference) in [("verify_strict", rows[0].1), ("verify (non-strict)", rows[1].1)] {
        let ratio = full.as_secs_f64() / reference.as_secs_f64();
        println!(
            "target: full verify from QR text <= 1.3x ed25519 {name}: {ratio:.2}x ({})",
            if ratio <= 1.3 { "met" } else { "NOT met" }
        );
    }
}

/// The Sig_structure bytes that the COSE layer hands to Ed25519, rebuilt from the message.
fn coset_tbs(cose: &[u8]) -> Vec<u8> {
    use coset::TaggedCborSerializable;
    let msg = coset::CoseSign1::from_tagged_slice(cose).unwrap();
    msg.tbs_data(&[])
}

/// A federation of 34 provinces (threshold 23) with 10 issuer keys each: import a trust bundle into a freshly
/// provisioned state, reload a persisted state (every signature checked again), and look keys up by kid.
fn trust_bundle_bench() {
    use huren_keys::dangerous::signing_key_from_seed;
    use huren_keys::federation::{combine, cosign};
    use huren_keys::{FederationRoot, IssuerKey, Member, ProvinceBundle, TrustBundle, TrustState};

    let codes: Vec<String> = (0..34).map(|i| format!("CN-{}", 11 + i)).collect();
    let roots: Vec<_> = (0..34u8).map(|i| signing_key_from_seed(&[i + 1; 32]).unwrap()).collect();
    let doc = FederationRoot {
        version: 1,
        issued_at: T0 - 86_400,
        expires: T0 + 365 * 86_400,
        threshold: 23,
        members: codes
            .iter()
            .zip(&roots)
            .map(|(p, k)| Member { province: p.clone(), root_keys: vec![k.public().clone()] })
            .collect(),
    };
    let payload = doc.to_payload().unwrap();
    let signatures: Vec<Vec<u8>> = roots.iter().take(23).map(|k| cosign(&payload, k).unwrap()).collect();
    let root = combine(&payload, &signatures).unwrap();
    let mut issuer_kids = Vec::new();
    let bundles: Vec<Vec<u8>> = codes
        .iter()
        .zip(&roots)
        .enumerate()
        .map(|(p, (code, root_key))| {
            let issuer_keys = (0..10u8)
                .map(|k| {
                    let mut seed = [0u8; 32];
                    seed[0] = u8::try_from(p).unwrap();
                    seed[1] = k;
                    seed[2] = 0xaa;
                    let key = signing_key_from_seed(&seed).unwrap();
                    issuer_kids.push(key.public().kid());
                    IssuerKey {
                        public_key: key.public().clone(),
                        credential_types: huren_keys::CredentialType::ALL.to_vec(),
                        usage_from: T0 - 86_400,
                        usage_until: T0 + 365 * 86_400,
                        expires: T0 + 730 * 86_400,
                    }
                })
                .collect();
            ProvinceBundle {
                province: code.clone(),
                version: 1,
                issued_at: T0 - 3600,
                expires: T0 + 30 * 86_400,
                issuer_keys,
                revocations: vec![],
                status_lists: vec![],
                policy: Default::default(),
            }
            .sign(root_key)
            .unwrap()
        })
        .collect();
    let trust_bundle = TrustBundle { roots: vec![root.clone()], bundles }.encode();
    let fresh = TrustState::provision(&root, T0).unwrap();
    let (state, _) = fresh.update(&TrustBundle::decode(&trust_bundle).unwrap(), T0).unwrap();
    let persisted = state.encode();
    let list = state.trust_list();
    assert_eq!(list.keys().len(), 340);

    let import = measure(5, 11, || {
        let bundle = TrustBundle::decode(black_box(&trust_bundle)).unwrap();
        black_box(fresh.update(&bundle, T0).unwrap());
    });
    let reload = measure(5, 11, || {
        let s = TrustState::decode(black_box(&persisted)).unwrap();
        black_box(s.trust_list());
    });
    let mut i = 0usize;
    let lookup = measure(100_000, 31, || {
        i = (i + 1) % issuer_kids.len();
        black_box(list.candidates(black_box(&issuer_kids[i].0)).next());
    });
    let miss = measure(100_000, 31, || {
        black_box(list.candidates(black_box(&[0u8; 8])).next());
    });
    println!("trust bundle: 34 provinces x 10 issuer keys, root threshold 23 of 34: {} bytes", trust_bundle.len());
    println!(
        "{:<44} {:>12}",
        "import trust bundle (decode + verify all)",
        format!("{:.2} ms", micros(import) / 1000.0)
    );
    println!(
        "{:<44} {:>12}",
        "reload persisted store (verify all again)",
        format!("{:.2} ms", micros(reload) / 1000.0)
    );
    println!("{:<44} {:>12}", "kid lookup among 340 keys (hit)", format!("{:.0} ns", micros(lookup) * 1000.0));
    println!("{:<44} {:>12}", "kid lookup among 340 keys (miss)", format!("{:.0} ns", micros(miss) * 1000.0));
}

/// An EU DCC (the corpus's Danish recovery certificate, ES256, zlib-compressed) verified from its QR text, next to
/// a bare P-256 verification of the same signature over the same Sig_structure.
fn dcc_bench() {
    use huren_verifier::dcc::{self, DccSigner, DccTrust};
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/dcc/DK/2DCode/raw/3.json");
    let case: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let text = case["PREFIX"].as_str().unwrap().to_string();
    let cert_b64 = case["TESTCTX"]["CERTIFICATE"].as_str().unwrap();
    let der = <base64ct::Base64 as base64ct::Encoding>::decode_vec(cert_b64).unwrap();
    let signer = DccSigner::from_certificate(&der).unwrap();
    let trust = DccTrust::new(vec![signer.clone()]);
    let now = 1_621_542_723; // the case's validation clock, 2021-05-20T20:32:03Z
    assert!(dcc::verify_dcc(&text, &trust, now).is_ok(), "the benchmark DCC must verify");
    let cose = dcc::decode_hc1(&text).unwrap();
    let tbs = coset_tbs(&cose);
    let msg = {
        use coset::TaggedCborSerializable;
        coset::CoseSign1::from_tagged_slice(&cose).unwrap()
    };
    let signature = msg.signature.clone();
    assert!(signer.key.verify(&tbs, &signature).is_ok());
    let bare = measure(200, 31, || {
        black_box(signer.key.verify(black_box(&tbs), black_box(&signature))).unwrap();
    });
    let full = measure(200, 31, || {
        black_box(dcc::verify_dcc(black_box(&text), &trust, now)).unwrap();
    });
    println!();
    println!("EU DCC, ES256, {} characters of QR text (zlib):", text.len());
    println!("{:<44} {:>10.2} µs {:>9.2}x", "P-256 verify alone (ring)", micros(bare), 1.0);
    println!(
        "{:<44} {:>10.2} µs {:>9.2}x",
        "full DCC verify from QR text",
        micros(full),
        full.as_secs_f64() / bare.as_secs_f64()
    );
}
