//! The EU DCC test-data corpus (testdata/dcc, Apache-2.0, from eu-digital-covid-certificates/dgc-testdata) run
//! through Huren's DCC pipeline: for every case, every EXPECTED* flag the pipeline can decide is compared with
//! what the pipeline does. A table is printed at the end; every mismatch must be a known one, listed (with its
//! reason) in KNOWN and in docs/conformance.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use huren_verifier::dcc::{self, DccSigner, DccTrust};
use serde_json::Value;

/// (case file relative to testdata/dcc, flag): mismatches explained in docs/conformance.md. Only what Huren refuses
/// on purpose belongs here; the corpus has no DCC without `exp` or with `null` entry arrays (tests/dcc_quirks.rs).
const KNOWN: &[(&str, &str)] = &[
    // The signer certificate has an extended key usage extension holding one OID that is none of the DCC OIDs;
    // the corpus reads that as "no OID present" (valid for everything), Huren as "signs nothing".
    ("common/2DCode/raw/CO15.json", "EXPECTEDKEYUSAGE"),
];

fn cases(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            cases(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

fn base64(s: &str) -> Option<Vec<u8>> {
    <base64ct::Base64 as base64ct::Encoding>::decode_vec(s.trim()).ok()
}

fn clock(ctx: &Value) -> Option<i64> {
    let text = ctx.get("VALIDATIONCLOCK").and_then(Value::as_str)?;
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some(t.unix_timestamp())
}

/// What the pipeline says for each flag it can decide.
fn actual(case: &Value) -> BTreeMap<&'static str, bool> {
    let text = |k: &str| case.get(k).and_then(Value::as_str);
    let ctx = &case["TESTCTX"];
    let signer =
        ctx.get("CERTIFICATE").and_then(Value::as_str).and_then(base64).map(|d| DccSigner::from_certificate(&d));
    let mut out = BTreeMap::new();

    if let Some(prefixed) = text("PREFIX") {
        let ok = dcc::decode_hc1(prefixed).is_ok() || prefixed.starts_with(dcc::HC1_PREFIX);
        let equal = text("BASE45").is_none_or(|b| prefixed.strip_prefix(dcc::HC1_PREFIX) == Some(b));
        out.insert("EXPECTEDUNPREFIX", ok && equal);
    }
    if let Some(b45) = text("BASE45") {
        let decoded = huren_wallet_core::base45::decode(b45).ok();
        let matches = match text("COMPRESSED").and_then(unhex) {
            Some(compressed) => decoded.as_ref() == Some(&compressed),
            None => decoded.is_some(),
        };
        out.insert("EXPECTEDB45DECODE", matches);
    }
    if let (Some(compressed), Some(cose)) = (text("COMPRESSED").and_then(unhex), text("COSE").and_then(unhex)) {
        let inflated = huren_wallet_core::transport::inflate(&compressed, dcc::MAX_DCC_BYTES).ok();
        out.insert("EXPECTEDCOMPRESSION", inflated.as_ref() == Some(&cose));
    }
    let cose = text("COSE").and_then(unhex);
    let sign1 = cose.as_deref().and_then(|c| dcc::parse_cose(c).ok());
    let decoded = sign1.as_ref().and_then(|s| dcc::decode_claims(s.unverified_payload()).ok());
    if cose.is_some() {
        out.insert("EXPECTEDDECODE", decoded.is_some());
    }
    let trust = match &signer {
        Some(Ok(s)) => DccTrust::new(vec![s.clone()]),
        _ => DccTrust::default(),
    };
    let verified = sign1.as_ref().map(|s| dcc::verify_signature(s, &trust).is_ok());
    if let Some(v) = verified {
        out.insert("EXPECTEDVERIFY", v);
    }
    if let (Some(dcc), Some(now)) = (&decoded, clock(ctx)) {
        let cert_valid = matches!(&signer, Some(Ok(s)) if now >= s.not_before && now <= s.not_after);
        // Without `exp`, `expires_at` and `not_before` are the bounds derived from the entry (docs/conformance.md).
        let started = dcc.not_before.is_none_or(|from| now.saturating_add(dcc::DERIVED_START_SKEW) >= from);
        out.insert("EXPECTEDEXPIRATIONCHECK", started && now <= dcc.expires_at && cert_valid);
    }
    if let (Some(dcc), Some(Ok(signer))) = (&decoded, &signer) {
        out.insert("EXPECTEDKEYUSAGE", verified == Some(true) && signer.kinds.contains(&dcc.kind));
    }
    if let (Some(png), Some(prefixed)) = (text("2DCODE").and_then(base64), text("PREFIX")) {
        let texts = huren_verifier::scan::scan_image_bytes(&png, &Default::default()).unwrap_or_default();
        out.insert("EXPECTEDPICTUREDECODE", texts.iter().any(|t| t == prefixed));
    }
    out
}

#[test]
fn the_eu_dcc_corpus_gets_the_expected_answers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/dcc");
    let mut files = Vec::new();
    cases(&root, &mut files);
    files.sort();
    assert!(files.len() >= 130, "the corpus is in testdata/dcc ({} cases found)", files.len());
    let mut table: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut mismatches = Vec::new();
    for file in &files {
        let name = file.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
        let case: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let got = actual(&case);
        for (flag, expected) in case["EXPECTEDRESULTS"].as_object().unwrap() {
            let Some(&answer) = got.get(flag.as_str()) else { continue };
            let row = table.entry(got.keys().find(|k| **k == flag.as_str()).copied().unwrap()).or_default();
            row.0 += 1;
            if Some(answer) == expected.as_bool() {
                row.1 += 1;
            } else {
                mismatches.push((name.clone(), flag.clone(), expected.clone(), answer));
            }
        }
    }
    let mut unreadable = Vec::new();
    for file in &files {
        let case: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let cert = case["TESTCTX"].get("CERTIFICATE").and_then(Value::as_str).and_then(base64);
        if let Some(Err(e)) = cert.map(|d| DccSigner::from_certificate(&d)) {
            unreadable.push(format!("{}: {e}", file.strip_prefix(&root).unwrap().display()));
        }
    }
    println!("\nsigner certificates that do not parse: {}", unreadable.len());
    for u in &unreadable {
        println!("  {u}");
    }
    println!("\nEU DCC corpus: {} cases", files.len());
    println!("{:<26} {:>6} {:>8} {:>10}", "flag", "cases", "match", "mismatch");
    for (flag, (n, ok)) in &table {
        println!("{flag:<26} {n:>6} {ok:>8} {:>10}", n - ok);
    }
    for (name, flag, expected, answer) in &mismatches {
        let known = KNOWN.iter().any(|(f, g)| *f == name && *g == flag);
        println!("  {} {name} {flag}: expected {expected}, pipeline {answer}", if known { "known" } else { "NEW" });
    }
    let unexplained: Vec<_> =
        mismatches.iter().filter(|(n, f, _, _)| !KNOWN.iter().any(|(kf, kg)| kf == n && kg == f)).collect();
    assert!(unexplained.is_empty(), "{} unexplained mismatches (see the table above)", unexplained.len());
}

/// The signer certificate of a corpus case.
fn signer_of(case: &str) -> (DccSigner, Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/dcc").join(case);
    let case: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let der = base64(case["TESTCTX"]["CERTIFICATE"].as_str().unwrap()).unwrap();
    (DccSigner::from_certificate(&der).unwrap(), case)
}

#[test]
fn a_kid_shared_by_several_signers_tries_each_and_key_usage_and_validity_hold() {
    let (genuine, case) = signer_of("DK/2DCode/raw/3.json");
    let text = case["PREFIX"].as_str().unwrap();
    let now = clock(&case["TESTCTX"]).unwrap();
    // Another member state's key under the same kid, listed first: it fails, the genuine one is tried next.
    let (mut impostor, _) = signer_of("SE/2DCode/raw/2.json");
    impostor.kid = genuine.kid;
    let trust = DccTrust::new(vec![impostor.clone(), genuine.clone()]);
    let verified = dcc::verify_dcc(text, &trust, now).unwrap();
    assert_eq!(verified.dcc().name.family_std, "TRINKE");
    // Only the impostor: the signature does not verify.
    let only_impostor = DccTrust::new(vec![impostor]);
    assert_eq!(dcc::verify_dcc(text, &only_impostor, now).unwrap_err().code(), huren_verifier::Code::SignatureInvalid);
    // A signer certified for tests only may not sign this recovery statement.
    let mut tests_only = genuine.clone();
    tests_only.kinds = vec![dcc::DccKind::Test];
    let refused = dcc::verify_dcc(text, &DccTrust::new(vec![tests_only]), now).unwrap_err();
    assert_eq!(refused.code(), huren_verifier::Code::KeyUsageMismatch);
    // Outside the signer certificate's validity.
    let late = dcc::verify_dcc(text, &DccTrust::new(vec![genuine.clone()]), genuine.not_after + 1).unwrap_err();
    assert!(matches!(late.code(), huren_verifier::Code::KeyUsageMismatch | huren_verifier::Code::Expired));
}

/// Re-encode every length of a DER document in the 3-byte long form (valid BER, not DER).
fn long_lengths(mut input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let tag = input[0];
        let (len, header) = if input[1] < 0x80 {
            (usize::from(input[1]), 2)
        } else {
            let n = usize::from(input[1] & 0x7f);
            (input[2..2 + n].iter().fold(0usize, |a, &b| (a << 8) | usize::from(b)), 2 + n)
        };
        let content = &input[header..header + len];
        let body = if tag & 0x20 != 0 { long_lengths(content) } else { content.to_vec() };
        out.push(tag);
        out.extend_from_slice(&[
            0x82,
            u8::try_from(body.len() >> 8).unwrap(),
            u8::try_from(body.len() & 0xff).unwrap(),
        ]);
        out.extend_from_slice(&body);
        input = &input[header + len..];
    }
    out
}

#[test]
fn signer_certificates_with_non_strict_der_are_read_the_same_way() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/dcc/DK/2DCode/raw/3.json");
    let case: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let der = base64(case["TESTCTX"]["CERTIFICATE"].as_str().unwrap()).unwrap();
    let quirky = long_lengths(&der);
    assert_ne!(quirky, der);
    use x509_cert::der::Decode;
    assert!(x509_cert::Certificate::from_der(&quirky).is_err(), "a strict reading refuses it");
    assert_eq!(dcc::normalise_der(&quirky).unwrap(), der, "normalising gives back the DER");
    let (strict, lenient) = (DccSigner::from_certificate(&der).unwrap(), DccSigner::from_certificate(&quirky).unwrap());
    assert_eq!(
        (lenient.key.clone(), lenient.not_before, lenient.not_after),
        (strict.key.clone(), strict.not_before, strict.not_after)
    );
    assert_eq!(lenient.kinds, strict.kinds);
    assert_ne!(lenient.kid, strict.kid, "the kid is over the certificate as issued");
    // Truncated or indefinite-length input is refused, not guessed at.
    assert!(dcc::normalise_der(&quirky[..quirky.len() - 1]).is_none());
    assert!(dcc::normalise_der(&[0x30, 0x80, 0x00, 0x00]).is_none());
}
