//! Writes the seed corpora under `fuzz/corpus/<target>/`: valid `HR1:` texts, their COSE bytes and their claims,
//! signed with the fuzz targets' trusted key (`dangerous::signing_key_from_seed(&[7; 32])`), plus a few
//! credentials the pipeline must refuse late (expired, unknown key, wrong issuer, broken schema behind a good signature) so the
//! fuzzer starts from every stage of the pipeline.
//!
//! `cargo run -p huren-tests --bin huren-fuzz-seeds [-- OUTPUT_DIR]` (default `fuzz/corpus`). It lives in the main
//! workspace, not in `fuzz/`, so the ordinary build and clippy check it (the fuzz crate needs nightly and a build of
//! its own).

// A generator of test inputs: a broken fixture should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::as_conversions, clippy::cast_possible_truncation)]

use std::fs;
use std::path::Path;

use huren_keys::{cbor, cose, CredentialType, KeyCertificate};
use huren_wallet_core::{
    transport, Body, Colour, Credential, Date, HealthStatus, Reason, Recovery, StatusRef, Subject, TestKind,
    TestOutcome, TestResult, Vaccination,
};

#[path = "../../../fuzz/fuzz_targets/federation.rs"]
#[allow(dead_code)] // the seeds need the documents, not the signed root
mod federation;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const NOW: i64 = 1_790_000_000;

fn base() -> Credential {
    Credential {
        issuer: "CN-GD".into(),
        issued_at: NOW - 3_600,
        expires_at: NOW + 604_800,
        not_before: None,
        id: vec![7; 8],
        status: None,
        subject: Subject {
            name: "张三".into(),
            pinyin: None,
            masked_id: "4403**********1234".into(),
            date_of_birth: None,
        },
        body: Body::HealthStatus(HealthStatus { colour: Colour::Green, reason: Reason::NoRisk, valid_until: None }),
        holder: None,
    }
}

fn date(s: &str) -> Res<Date> {
    Ok(s.parse::<Date>()?)
}

fn credentials() -> Res<Vec<(&'static str, Credential)>> {
    let mut out = vec![("health-green", base())];

    let mut c = base();
    c.not_before = Some(NOW - 60);
    c.status = Some(StatusRef { list: 3, index: 123_456 });
    c.subject.pinyin = Some("ZHANG San".into());
    c.subject.date_of_birth = Some(date("1990-05-17")?);
    c.subject.masked_id = "11**************1X".into();
    c.body = Body::HealthStatus(HealthStatus {
        colour: Colour::Amber,
        reason: Reason::CloseContact,
        valid_until: Some(NOW + 86_400),
    });
    out.push(("health-amber-all-fields", c));

    let mut c = base();
    c.id = vec![0xa5; 16];
    c.subject.masked_id = "AB12****".into(); // not packable: stays text on the wire
    c.body = Body::TestResult(TestResult {
        kind: TestKind::Naat,
        outcome: TestOutcome::Negative,
        sampled_at: NOW - 7_200,
        centre: Some("广州市第一人民医院".into()),
    });
    out.push(("test-result", c));

    let mut c = base();
    c.body = Body::Vaccination(Vaccination { product: "BBIBP".into(), dose: 2, doses: 3, date: date("2026-01-02")? });
    out.push(("vaccination", c));

    let mut c = base();
    c.body = Body::Recovery(Recovery {
        first_positive: date("2026-01-01")?,
        valid_from: date("2026-01-11")?,
        valid_until: date("2026-12-31")?,
    });
    out.push(("recovery", c));

    // Repetitive texts make zlib pay off, so this one travels compressed.
    let mut c = base();
    c.subject.name = "A".repeat(64);
    c.subject.pinyin = Some("B".repeat(64));
    c.body = Body::TestResult(TestResult {
        kind: TestKind::Antigen,
        outcome: TestOutcome::Positive,
        sampled_at: NOW - 7_200,
        centre: Some("C".repeat(64)),
    });
    out.push(("test-result-compressed", c));

    // Refused after the signature checks out.
    let mut c = base();
    c.expires_at = NOW - 10;
    c.issued_at = NOW - 100;
    out.push(("expired", c));
    let mut c = base();
    c.issued_at = NOW + 3_600;
    c.expires_at = NOW + 7_200;
    out.push(("not-yet-valid", c));
    let mut c = base();
    c.issuer = "CN-HB".into();
    out.push(("wrong-issuer", c));
    Ok(out)
}

/// Claims that are well-formed CBOR but break the CWT or Huren schema, signed with the trusted key.
fn bad_claims() -> Vec<(&'static str, Vec<u8>)> {
    let good = base().to_claims();
    let mut future_version = good.clone();
    // The Huren map's first entry is `0: 1` (schema version); make it `0: 2`.
    if let Some(pos) = future_version.windows(2).position(|w| w == [0x00, 0x01]) {
        future_version[pos + 1] = 0x02;
    }
    vec![
        ("claims-future-version", future_version),
        ("claims-empty-map", cbor::encode(&cbor::map(std::iter::empty()))),
        ("claims-not-canonical", vec![0xbf, 0x01, 0x65, b'C', b'N', b'-', b'G', b'D', 0xff]),
    ]
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Res<()> {
    fs::create_dir_all(dir)?;
    fs::write(dir.join(name), bytes)?;
    Ok(())
}

fn main() -> Res<()> {
    // Default: fuzz/corpus; an argument names another directory (to inspect the seeds without touching the corpus).
    let corpus = std::env::args_os()
        .nth(1)
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus"), std::path::PathBuf::from);
    let trusted = huren_keys::dangerous::signing_key_from_seed(&[7; 32])?;
    let stranger = huren_keys::dangerous::signing_key_from_seed(&[8; 32])?;
    // The same trust list as the `verify` targets (fuzz_targets/common.rs), to report each seed's outcome.
    let trust = huren_keys::dangerous::trust_list_from_unverified(vec![KeyCertificate {
        province: "CN-GD".into(),
        public_key: trusted.public().clone(),
        credential_types: CredentialType::ALL.to_vec(),
        usage_from: 0,
        usage_until: i64::MAX / 2,
        expires: i64::MAX / 2,
        issued_at: 0,
    }]);

    let mut signed = Vec::new();
    for (name, credential) in credentials()? {
        write(&corpus.join("cose_cwt"), &format!("claims-{name}"), &credential.to_claims())?;
        signed.push((name.to_string(), credential.sign(&trusted)?));
    }
    signed.push(("unknown-key".into(), base().sign(&stranger)?));
    // A credential bound to a holder device key: its static code (PRESENTATION_REQUIRED) joins the signed seeds,
    // and its dynamic code (HP1:) seeds the text targets below.
    let device = huren_keys::dangerous::signing_key_from_seed(&[9; 32])?;
    let mut bound = base();
    bound.holder = Some(huren_wallet_core::HolderKey::from_public_key(device.public())?);
    let bound_cose = bound.sign(&trusted)?;
    let dynamic = huren_wallet_core::presentation::present(&bound_cose, &device, NOW)?;
    signed.push(("health-green-holder-bound".into(), bound_cose));
    for (name, claims) in bad_claims() {
        write(&corpus.join("cose_cwt"), name, &claims)?;
        signed.push((format!("signed-{name}"), cose::sign1(&trusted, &claims, None)?));
    }

    for (name, cose_bytes) in &signed {
        let text = transport::encode(cose_bytes);
        if transport::decode(&text, &Default::default())? != *cose_bytes {
            return Err(format!("{name}: transport round trip failed").into());
        }
        let raw =
            huren_wallet_core::base45::decode(&text[transport::PREFIX.len()..]).map_err(|e| format!("{name}: {e}"))?;
        let compressed = raw.first() == Some(&0x78);
        let outcome = match huren_verifier::verify(&text, &trust, NOW, &huren_verifier::Policy::default()) {
            Ok(_) => huren_verifier::Code::Ok,
            Err(rejection) => rejection.code(),
        };
        let zlib = if compressed { ", zlib" } else { "" };
        println!("{name}: {} COSE bytes, {} QR chars{zlib} -> {}", cose_bytes.len(), text.len(), outcome.as_str());
        for target in ["qr_text", "verify"] {
            write(&corpus.join(target), &format!("{name}.txt"), text.as_bytes())?;
        }
        write(&corpus.join("verify_cose"), &format!("{name}.cose"), cose_bytes)?;
        write(&corpus.join("cose_cwt"), &format!("{name}.cose"), cose_bytes)?;
    }
    let outcome = match huren_verifier::verify(&dynamic, &trust, NOW, &huren_verifier::Policy::default()) {
        Ok(_) => huren_verifier::Code::Ok,
        Err(rejection) => rejection.code(),
    };
    println!("health-green-dynamic: {} QR chars (HP1:) -> {}", dynamic.len(), outcome.as_str());
    for target in ["qr_text", "verify"] {
        write(&corpus.join(target), "health-green-dynamic.txt", dynamic.as_bytes())?;
    }
    // The untagged form: COSE_MALFORMED since Huren's documents have one encoding (tag 18).
    if let Some((_, cose_bytes)) = signed.first() {
        write(&corpus.join("verify_cose"), "health-green-untagged.cose", &cose_bytes[1..])?;
        write(&corpus.join("cose_cwt"), "health-green-untagged.cose", &cose_bytes[1..])?;
    }
    if let Some((_, cose_bytes)) = signed.first() {
        image_seeds(&corpus.join("image_decode"), &transport::encode(cose_bytes))?;
    }
    province_bundle_seeds(&corpus.join("province_bundle"))?;
    issuer_input_seeds(&corpus.join("issuer_input"))?;
    Ok(())
}

/// `image_decode`: the code as a small PNG, the same pixels as a JPEG, and a PNG with no code in it.
fn image_seeds(dir: &Path, text: &str) -> Res<()> {
    let symbol = huren_wallet_core::QrSymbol::new(text, huren_wallet_core::Ecc::Q)?;
    write(dir, "code.png", &symbol.to_png(2)?)?;
    let mut jpeg = Vec::new();
    symbol.to_image(2).write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)?;
    write(dir, "code.jpg", &jpeg)?;
    let mut blank = Vec::new();
    image::GrayImage::from_pixel(16, 16, image::Luma([200]))
        .write_to(&mut std::io::Cursor::new(&mut blank), image::ImageFormat::Png)?;
    write(dir, "blank.png", &blank)?;
    Ok(())
}

/// `province_bundle`: byte 0 selects the mode (0: payload signed by the target, 1: signed bundle, 2: root payload).
/// The federation is the target's (root seeds 1, 11, 21); Guangdong's bundle lists the issuer key of seed 7 with
/// a revocation, a status list and a checkpoint policy, so every field is present.
fn province_bundle_seeds(dir: &Path) -> Res<()> {
    use huren_keys::{AcceptancePolicy, IssuerKey, KeyRevocation, ProvinceBundle};
    let roots = federation::root_keys();
    let issuer = huren_keys::dangerous::signing_key_from_seed(&[7; 32])?;
    let retired = huren_keys::dangerous::signing_key_from_seed(&[8; 32])?;
    let bundle = ProvinceBundle {
        province: "CN-GD".into(),
        version: 3,
        issued_at: NOW - 3_600,
        expires: NOW + 30 * 86_400,
        issuer_keys: vec![IssuerKey {
            public_key: issuer.public().clone(),
            credential_types: CredentialType::ALL.to_vec(),
            usage_from: NOW - 86_400,
            usage_until: NOW + 365 * 86_400,
            expires: NOW + 730 * 86_400,
        }],
        revocations: vec![KeyRevocation {
            kid: retired.public().kid(),
            issued_after: NOW - 7_200,
            honour_until: NOW + 86_400,
        }],
        status_lists: vec![huren_keys::StatusListDescriptor { list: 1, url: "https://gd.example/v1/status/1".into() }],
        policy: AcceptancePolicy {
            accepted_types: vec![CredentialType::HealthStatus],
            max_test_age: Some(259_200),
            allow_unsynced_status: false,
        },
    };
    let signed = bundle.sign(&roots[0])?;
    let payload = cose::Sign1::parse(&signed)?.unverified_payload().to_vec();
    write(dir, "bundle-payload", &[&[0u8][..], &payload].concat())?;
    write(dir, "bundle-signed", &[&[1u8][..], &signed].concat())?;
    let minimal = ProvinceBundle { revocations: vec![], status_lists: vec![], policy: Default::default(), ..bundle };
    write(dir, "bundle-signed-minimal", &[&[1u8][..], &minimal.sign(&roots[0])?].concat())?;
    write(dir, "root-payload", &[&[2u8][..], &federation::root_doc(&roots).to_payload()?].concat())?;
    Ok(())
}

/// `issuer_input`: byte 0 bit 0 picks NDJSON (0) or CSV (1), the other bits the chunk size.
fn issuer_input_seeds(dir: &Path) -> Res<()> {
    let ndjson = concat!(
        r#"{"subject":{"name":"张三","masked_id":"4403**********1234","date_of_birth":"1990-05-17"},"body":{"type":"health-status","colour":"green","reason":"no-risk"},"valid_for_hours":168}"#,
        "\n",
        r#"{"subject":{"name":"李四","masked_id":"11**************1X"},"body":{"type":"test-result","kind":"naat","outcome":"negative","sampled_at":1789990000},"valid_for_hours":72}"#,
        "\n",
        r#"{"subject":{"name":"王五","masked_id":"4403**********1234"},"body":{"type":"vaccination","product":"BBIBP","dose":2,"doses":2,"date":"2026-01-02"},"valid_for_hours":24}"#,
        "\n",
        r#"{"subject":{"name":"赵六","masked_id":"4403**********1234"},"body":{"type":"recovery","first_positive":"2026-01-01","valid_from":"2026-01-11","valid_until":"2026-06-30"},"valid_for_hours":24,"not_before":1790000100}"#,
        "\n",
        r#"{"subject":{"name":"钱七","masked_id":"4403**********1234"},"body":{"type":"health-status","colour":"amber","reason":"close-contact"},"valid_for_hours":24,"holder_key":"0101010101010101010101010101010101010101010101010101010101010101"}"#,
        "\n",
    );
    write(dir, "ndjson", &[&[0x0eu8][..], ndjson.as_bytes()].concat())?;
    let csv = "name,masked_id,colour,reason,valid_for_hours\r\n张三,4403**********1234,green,no-risk,168\r\n李四,11**************1X,red,positive-test,24\n";
    write(dir, "csv", &[&[0x0fu8][..], csv.as_bytes()].concat())?;
    Ok(())
}
