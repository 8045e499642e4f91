//! The adversarial suite: inputs a stranger can build to get a forgery accepted or a checkpoint confused, each with
//! the code it must get. Every test lists its cases in a table; a case whose code differs fails the test, and the
//! whole table is printed so one run shows every mismatch.
//!
//! | family | cases |
//! |---|---|
//! | algorithm confusion | Ed25519 key with ES256 / PS256 in the header, ES256 key with EdDSA / PS256 |
//! | "none" and unknown algorithms | absent, the text "none", 0, -65535, a MAC algorithm, only in the unprotected header, `crit` |
//! | key ids | a stranger's key under a trusted kid, no kid, a kid of the wrong length, two trusted keys sharing a kid |
//! | strict CBOR | duplicate map keys, indefinite lengths, non-shortest integers, unsorted keys, trailing bytes, wrong tags, floats, unprotected headers |
//! | depth | deeply nested arrays in claims, headers, QR text, trust bundles, status lists, presentations, EU DCCs |
//! | zlib | bombs (Huren and EU DCC), preset dictionaries, truncated and trailing streams |
//! | images | lying dimensions in PNG and JPEG headers, a real 25-megapixel PNG, oversized files, other formats |
//! | QR codes of other formats | URLs, SMART Health Cards, junk `HC1:`, lower-case prefixes |
//! | Ed25519 | the eight small-order keys, non-canonical and mixed-order keys, non-canonical `S`, small-order `R` |
//! | dynamic codes | replayed, from the future, another device, swapped credential, static copy, unbound credential |
//! | trust documents | a member or root key listed twice, one member signing twice, conflicting same-version bundles, another province's bundle, expired and future-dated roots and bundles, rollback |
//! | credentials in time | issued in the future, expired |
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ciborium::Value;
use curve25519_dalek::edwards::CompressedEdwardsY;
use huren_keys::federation::ROOT_CONTENT_TYPE;
use huren_keys::{cbor, FederationRoot, KeyCertificate, PublicKey, Signer, TrustBundle, TrustList};
use huren_keys::{ProvinceBundle, TrustState};
use huren_tests::fixtures::{health_status, P256Signer, TestFederation, TestProvince, DAY, T0};
use huren_verifier::checkpoint::{Checkpoint, TrustSource};
use huren_verifier::dcc::{verify_dcc, DccTrust};
use huren_verifier::scan::{scan_image_bytes, ImageLimits};
use huren_verifier::{verify, verify_cose, Policy};
use huren_wallet_core::presentation::{self, present, STEP_SECONDS};
use huren_wallet_core::{base45, transport, Credential, Ecc, HolderKey, QrSymbol};

const NOW: i64 = T0 + 60;

/// Cases of one family: what each got and what it should have got.
#[derive(Default)]
struct Table {
    rows: Vec<(String, String, &'static str)>,
}

impl Table {
    fn case(&mut self, name: impl Into<String>, got: impl Into<String>, expected: &'static str) {
        self.rows.push((name.into(), got.into(), expected));
    }

    fn check(self) {
        let width = self.rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
        let mut wrong = 0;
        for (name, got, expected) in &self.rows {
            let mark = if got == expected { "ok " } else { "BAD" };
            wrong += usize::from(got != expected);
            println!("{mark} {name:width$}  expected {expected:<24} got {got}");
        }
        assert_eq!(wrong, 0, "{wrong} of {} cases got another code (table above)", self.rows.len());
    }
}

fn code(text: &str, trust: &TrustList, now: i64) -> String {
    match verify(text, trust, now, &Policy::default()) {
        Ok(_) => "OK".into(),
        Err(r) => r.code().as_str().into(),
    }
}

fn cose_code(cose: &[u8], trust: &TrustList) -> String {
    match verify_cose(cose, trust, NOW, &Policy::default()) {
        Ok(_) => "OK".into(),
        Err(r) => r.code().as_str().into(),
    }
}

fn keys_code<T>(result: Result<T, huren_keys::Error>) -> String {
    match result {
        Ok(_) => "OK".into(),
        Err(e) => e.code().into(),
    }
}

fn int(i: i64) -> Value {
    Value::from(i)
}

/// A protected header map with these entries, in this order (duplicates allowed).
fn header(entries: &[(i64, Value)]) -> Vec<u8> {
    cbor::encode(&Value::Map(entries.iter().map(|(k, v)| (int(*k), v.clone())).collect()))
}

/// `[protected, unprotected, payload, signature]`, tagged 18, signed over exactly these protected bytes.
fn sign1(protected: &[u8], unprotected: Value, payload: &[u8], signer: &dyn Signer) -> Vec<u8> {
    let tbs = cbor::encode(&Value::Array(vec![
        Value::Text("Signature1".into()),
        Value::Bytes(protected.to_vec()),
        Value::Bytes(vec![]),
        Value::Bytes(payload.to_vec()),
    ]));
    let signature = signer.sign(&tbs);
    cbor::encode(&Value::Tag(
        18,
        Box::new(Value::Array(vec![
            Value::Bytes(protected.to_vec()),
            unprotected,
            Value::Bytes(payload.to_vec()),
            Value::Bytes(signature),
        ])),
    ))
}

fn empty() -> Value {
    Value::Map(vec![])
}

fn kid_of(signer: &dyn Signer) -> Value {
    Value::Bytes(signer.public_key().kid().0.to_vec())
}

/// The usual protected header: EdDSA (-8) and the signer's kid.
fn eddsa(signer: &dyn Signer) -> Vec<u8> {
    header(&[(1, int(-8)), (4, kid_of(signer))])
}

fn claims() -> Vec<u8> {
    health_status("CN-GD").to_claims()
}

#[test]
fn algorithm_confusion_is_refused_before_any_signature_maths() {
    let gd = TestProvince::guangdong();
    let p256 = P256Signer::generate();
    let both =
        huren_keys::dangerous::trust_list_from_unverified(vec![gd.certificate.clone(), p256.certificate("CN-GD")]);
    let mut t = Table::default();
    for (name, alg) in [("Ed25519 key, ES256 header", -7), ("Ed25519 key, PS256 header", -37)] {
        let cose = sign1(&header(&[(1, int(alg)), (4, kid_of(&gd.issuer))]), empty(), &claims(), &gd.issuer);
        t.case(name, cose_code(&cose, &both), "ALG_KEY_MISMATCH");
    }
    for (name, alg) in [("ES256 key, EdDSA header", -8), ("ES256 key, PS256 header", -37)] {
        let cose = sign1(&header(&[(1, int(alg)), (4, kid_of(&p256))]), empty(), &claims(), &p256);
        t.case(name, cose_code(&cose, &both), "ALG_KEY_MISMATCH");
    }
    let honest = sign1(&header(&[(1, int(-7)), (4, kid_of(&p256))]), empty(), &claims(), &p256);
    t.case("ES256 key, ES256 header (control)", cose_code(&honest, &both), "OK");
    t.check();
}

#[test]
fn none_and_unknown_algorithms() {
    let gd = TestProvince::guangdong();
    let trust = gd.trust();
    let kid = kid_of(&gd.issuer);
    let mut t = Table::default();
    let signed = |protected: Vec<u8>, unprotected: Value| sign1(&protected, unprotected, &claims(), &gd.issuer);
    t.case("no alg", cose_code(&signed(header(&[(4, kid.clone())]), empty()), &trust), "ALG_UNSUPPORTED");
    let none = header(&[(1, Value::Text("none".into())), (4, kid.clone())]);
    t.case("alg \"none\"", cose_code(&signed(none, empty()), &trust), "ALG_UNSUPPORTED");
    for (name, alg) in [("alg 0 (reserved)", 0), ("alg -65535 (private)", -65535), ("alg HMAC 256/256", 5)] {
        t.case(
            name,
            cose_code(&signed(header(&[(1, int(alg)), (4, kid.clone())]), empty()), &trust),
            "ALG_UNSUPPORTED",
        );
    }
    let unprotected_alg = Value::Map(vec![(int(1), int(-8))]);
    t.case(
        "EdDSA only in the unprotected header",
        cose_code(&signed(header(&[(4, kid.clone())]), unprotected_alg), &trust),
        "COSE_MALFORMED",
    );
    let crit = header(&[(1, int(-8)), (2, Value::Array(vec![int(99)])), (4, kid.clone()), (99, int(1))]);
    t.case("critical header the verifier does not know", cose_code(&signed(crit, empty()), &trust), "COSE_MALFORMED");
    t.check();
}

#[test]
fn key_ids() {
    let gd = TestProvince::guangdong();
    let trust = gd.trust();
    let stranger = TestProvince::new("CN-GD", 77, huren_keys::CredentialType::ALL.to_vec());
    let mut t = Table::default();
    let forged = sign1(&header(&[(1, int(-8)), (4, kid_of(&gd.issuer))]), empty(), &claims(), &stranger.issuer);
    t.case("a stranger's key under the trusted kid", cose_code(&forged, &trust), "SIGNATURE_INVALID");
    let no_kid = sign1(&header(&[(1, int(-8))]), empty(), &claims(), &gd.issuer);
    t.case("no kid", cose_code(&no_kid, &trust), "KID_UNKNOWN");
    let long_kid = Value::Bytes([gd.issuer.public().kid().0.to_vec(), vec![0; 24]].concat());
    let long = sign1(&header(&[(1, int(-8)), (4, long_kid)]), empty(), &claims(), &gd.issuer);
    t.case("a 32-byte kid that starts with the trusted one", cose_code(&long, &trust), "KID_UNKNOWN");
    // Two trusted keys sharing a kid: each is tried, and only a real signature under one of them verifies.
    let mut hubei = gd.certificate.clone();
    hubei.province = "CN-HB".into();
    let shared = huren_keys::dangerous::trust_list_from_unverified(vec![hubei, gd.certificate.clone()]);
    t.case("two keys share the kid: honest credential", code(&gd.qr_text(&health_status("CN-GD")), &shared, NOW), "OK");
    t.case("two keys share the kid: stranger's signature", cose_code(&forged, &shared), "SIGNATURE_INVALID");
    t.check();
}

/// The claims bytes with `from` replaced by `to` once (for hand-made encodings).
fn patched(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = bytes.windows(from.len()).position(|w| w == from).unwrap();
    [&bytes[..at], to, &bytes[at + from.len()..]].concat()
}

#[test]
fn strict_cbor() {
    let gd = TestProvince::guangdong();
    let trust = gd.trust();
    let good = claims();
    let mut t = Table::default();
    let signed = |payload: &[u8]| sign1(&eddsa(&gd.issuer), empty(), payload, &gd.issuer);
    t.case("control", cose_code(&signed(&good), &trust), "OK");

    // Duplicate map keys, at every level.
    let twice_alg = header(&[(1, int(-8)), (1, int(-8)), (4, kid_of(&gd.issuer))]);
    t.case(
        "protected header: alg twice",
        cose_code(&sign1(&twice_alg, empty(), &good, &gd.issuer), &trust),
        "COSE_MALFORMED",
    );
    let mut value = cbor::decode_canonical(&good, 8).unwrap();
    let Value::Map(entries) = &mut value else { panic!() };
    let iss = entries[0].clone();
    let mut dup_claims = entries.clone();
    dup_claims.insert(1, iss);
    t.case("claims: iss twice", cose_code(&signed(&cbor::encode(&Value::Map(dup_claims))), &trust), "CWT_MALFORMED");
    let mut dup_inner = entries.clone();
    if let Some((_, Value::Map(huren))) = dup_inner.last_mut() {
        let first = huren[0].clone();
        huren.insert(0, first);
    }
    t.case(
        "Huren payload: version twice",
        cose_code(&signed(&cbor::encode(&Value::Map(dup_inner))), &trust),
        "CWT_MALFORMED",
    );

    // Indefinite lengths.
    let mut indefinite_map = vec![0xbf];
    indefinite_map.extend_from_slice(&good[1..]);
    indefinite_map.push(0xff);
    t.case("claims: indefinite-length map", cose_code(&signed(&indefinite_map), &trust), "CWT_MALFORMED");
    let name = "张三丰".as_bytes();
    let mut definite_name = vec![0x69];
    definite_name.extend_from_slice(name);
    let mut chunked_name = vec![0x7f, 0x69];
    chunked_name.extend_from_slice(name);
    chunked_name.push(0xff);
    t.case(
        "claims: name as an indefinite text",
        cose_code(&signed(&patched(&good, &definite_name, &chunked_name)), &trust),
        "CWT_MALFORMED",
    );
    let honest = signed(&good);
    let mut indefinite_array = vec![0xd2, 0x9f];
    indefinite_array.extend_from_slice(&honest[2..]);
    indefinite_array.push(0xff);
    t.case("COSE: indefinite-length array", cose_code(&indefinite_array, &trust), "COSE_MALFORMED");
    let protected = eddsa(&gd.issuer);
    let mut chunked_protected = vec![0x5f, 0x40 + u8::try_from(protected.len()).unwrap()];
    chunked_protected.extend_from_slice(&protected);
    chunked_protected.push(0xff);
    let mut definite_protected = vec![0x40 + u8::try_from(protected.len()).unwrap()];
    definite_protected.extend_from_slice(&protected);
    t.case(
        "COSE: protected header as an indefinite byte string",
        cose_code(&patched(&honest, &definite_protected, &chunked_protected), &trust),
        "COSE_MALFORMED",
    );

    // Non-shortest and unsorted.
    let iat = Value::from(T0);
    let short = cbor::encode(&iat);
    let long = [&[0x1b][..], &u64::try_from(T0).unwrap().to_be_bytes()].concat();
    t.case(
        "claims: iat in 8 bytes instead of 4",
        cose_code(&signed(&patched(&good, &short, &long)), &trust),
        "CWT_MALFORMED",
    );
    let mut unsorted = entries.clone();
    unsorted.swap(0, 1);
    t.case(
        "claims: keys out of order",
        cose_code(&signed(&cbor::encode(&Value::Map(unsorted))), &trust),
        "CWT_MALFORMED",
    );
    let long_alg = [&[0xa2, 0x01, 0x38, 0x07][..], &cbor::encode(&int(4)), &cbor::encode(&kid_of(&gd.issuer))].concat();
    t.case(
        "protected header: alg -8 in two bytes",
        cose_code(&sign1(&long_alg, empty(), &good, &gd.issuer), &trust),
        "COSE_MALFORMED",
    );
    let swapped = header(&[(4, kid_of(&gd.issuer)), (1, int(-8))]);
    t.case(
        "protected header: kid before alg",
        cose_code(&sign1(&swapped, empty(), &good, &gd.issuer), &trust),
        "COSE_MALFORMED",
    );

    // Trailing bytes, other tags, other types.
    t.case("COSE: untagged (a second encoding)", cose_code(&honest[1..], &trust), "COSE_MALFORMED");
    let mut trailing = honest.clone();
    trailing.push(0x00);
    t.case("COSE: a byte after the structure", cose_code(&trailing, &trust), "COSE_MALFORMED");
    t.case(
        "claims: a byte after the map",
        cose_code(&signed(&[good.clone(), vec![0]].concat()), &trust),
        "CWT_MALFORMED",
    );
    for (name, tag) in [("COSE: tag 98 (COSE_Sign)", 0xd8_u8), ("COSE: tag 17 (COSE_Mac0)", 0xd1)] {
        let retagged =
            if tag == 0xd8 { [&[0xd8, 0x62][..], &honest[1..]].concat() } else { [&[tag][..], &honest[1..]].concat() };
        t.case(name, cose_code(&retagged, &trust), "COSE_MALFORMED");
    }
    let float_iat = [&[0xfb][..], &f64::from(u32::try_from(T0).unwrap()).to_be_bytes()].concat();
    t.case("claims: iat as a float", cose_code(&signed(&patched(&good, &short, &float_iat)), &trust), "CWT_MALFORMED");

    // The unprotected header is not signed: anything in it would make one credential many byte strings.
    for (name, unprotected) in [
        ("unprotected header: a kid beside the protected one", Value::Map(vec![(int(4), kid_of(&gd.issuer))])),
        ("unprotected header: a private label", Value::Map(vec![(int(-70000), Value::Text("x".into()))])),
    ] {
        t.case(name, cose_code(&with_unprotected(&honest, unprotected), &trust), "COSE_MALFORMED");
    }
    t.check();
}

/// `depth` nested one-element arrays around 0.
fn nested(depth: usize) -> Vec<u8> {
    let mut bytes = vec![0x81; depth];
    bytes.push(0x00);
    bytes
}

#[test]
fn deep_nesting_is_refused_without_exhausting_the_stack() {
    let gd = TestProvince::guangdong();
    let trust = gd.trust();
    let mut t = Table::default();
    let signed = |payload: &[u8]| sign1(&eddsa(&gd.issuer), empty(), payload, &gd.issuer);
    t.case("claims: 100,000 nested arrays", cose_code(&signed(&nested(100_000)), &trust), "CWT_MALFORMED");
    let mut deep_claim = claims();
    deep_claim[0] += 1; // one more entry in the claims map
    deep_claim.extend_from_slice(&cbor::encode(&int(-70000)));
    deep_claim.extend_from_slice(&nested(10_000));
    t.case("claims: a private claim 10,000 arrays deep", cose_code(&signed(&deep_claim), &trust), "CWT_MALFORMED");
    let deep_header = [
        &[0xa3, 0x01, 0x27][..],
        &cbor::encode(&int(4)),
        &cbor::encode(&kid_of(&gd.issuer)),
        &[0x18, 0x63],
        &nested(10_000),
    ]
    .concat();
    t.case(
        "protected header: 10,000 arrays deep",
        cose_code(&sign1(&deep_header, empty(), &claims(), &gd.issuer), &trust),
        "COSE_MALFORMED",
    );
    t.case("COSE: 1,000,000 nested arrays", cose_code(&nested(1_000_000), &trust), "COSE_MALFORMED");
    let as_text = format!("{}{}", transport::PREFIX, base45::encode(&nested(2_800)));
    assert!(as_text.len() <= 4296);
    t.case("QR text: 2,800 nested arrays", code(&as_text, &trust, NOW), "COSE_MALFORMED");
    let presentation = format!("{}{}", presentation::PREFIX, base45::encode(&nested(2_800)));
    t.case("HP1: 2,800 nested arrays", code(&presentation, &trust, NOW), "COSE_MALFORMED");
    t.case("trust bundle: 100,000 nested arrays", keys_code(TrustBundle::decode(&nested(100_000))), "CBOR_INVALID");
    t.case("trust state: 100,000 nested arrays", keys_code(TrustState::decode(&nested(100_000))), "CBOR_INVALID");
    let deep_list = cose_of_payload(&gd, &nested(100_000), huren_keys::status::STATUS_LIST_CONTENT_TYPE);
    t.case(
        "status list: 100,000 nested arrays",
        keys_code(huren_keys::status::StatusList::verify(&deep_list, &trust)),
        "CBOR_INVALID",
    );
    let dcc = format!("HC1:{}", base45::encode(&nested(2_800)));
    let dcc_code =
        verify_dcc(&dcc, &DccTrust::default(), NOW).map_or_else(|r| r.code().as_str().to_string(), |_| "OK".into());
    t.case("HC1: 2,800 nested arrays", dcc_code, "COSE_MALFORMED");
    t.check();
}

#[test]
fn declared_lengths_far_beyond_the_input_allocate_nothing() {
    // A few bytes that announce 2^32 items or 2^63 bytes: decoding must fail on the missing data, not reserve
    // memory for what was announced.
    let gd = TestProvince::guangdong();
    let trust = gd.trust();
    let mut t = Table::default();
    let signed = |payload: &[u8]| sign1(&eddsa(&gd.issuer), empty(), payload, &gd.issuer);
    let heads: [(&str, &[u8]); 5] = [
        ("an array of 2^32 items", &[0x9b, 0, 0, 0, 1, 0, 0, 0, 0]),
        ("a map of 2^32 entries", &[0xbb, 0, 0, 0, 1, 0, 0, 0, 0]),
        ("a byte string of 2^63 bytes", &[0x5b, 0x80, 0, 0, 0, 0, 0, 0, 0]),
        ("a text of 2^32 bytes", &[0x7b, 0, 0, 0, 1, 0, 0, 0, 0]),
        ("an array of 2^64 - 1 items", &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    ];
    for (name, head) in heads {
        t.case(format!("claims: {name}"), cose_code(&signed(head), &trust), "CWT_MALFORMED");
        t.case(format!("COSE: {name}"), cose_code(head, &trust), "COSE_MALFORMED");
        let text = format!("{}{}", transport::PREFIX, base45::encode(head));
        t.case(format!("QR text: {name}"), code(&text, &trust, NOW), "COSE_MALFORMED");
        let presentation = format!("{}{}", presentation::PREFIX, base45::encode(head));
        t.case(format!("HP1: {name}"), code(&presentation, &trust, NOW), "COSE_MALFORMED");
        t.case(format!("trust bundle: {name}"), keys_code(TrustBundle::decode(head)), "CBOR_INVALID");
        t.case(format!("trust state: {name}"), keys_code(TrustState::decode(head)), "CBOR_INVALID");
        let dcc = verify_dcc(&format!("HC1:{}", base45::encode(head)), &DccTrust::default(), NOW);
        t.case(
            format!("HC1: {name}"),
            dcc.map_or_else(|r| r.code().as_str().to_string(), |_| "OK".into()),
            "COSE_MALFORMED",
        );
    }
    t.check();
}

/// A COSE_Sign1 over `payload` from the province's issuer key with a content type, as Huren documents have.
fn cose_of_payload(p: &TestProvince, payload: &[u8], content_type: &str) -> Vec<u8> {
    huren_keys::cose::sign1(&p.issuer, payload, Some(content_type)).unwrap()
}

fn zlib(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(bytes).unwrap();
    z.finish().unwrap()
}

#[test]
fn zlib_bombs_and_broken_streams() {
    let gd = TestProvince::guangdong();
    let trust = gd.trust();
    let mut t = Table::default();
    let small_bomb = zlib(&vec![0u8; 1024 * 1024]);
    let small = format!("{}{}", transport::PREFIX, base45::encode(&small_bomb));
    assert!(small.len() <= 4296, "{}", small.len());
    t.case("HR1: 1 MiB of zeros in zlib, QR-sized", code(&small, &trust, NOW), "PAYLOAD_TOO_LARGE");
    let dcc = format!("HC1:{}", base45::encode(&small_bomb));
    let dcc_code =
        verify_dcc(&dcc, &DccTrust::default(), NOW).map_or_else(|r| r.code().as_str().to_string(), |_| "OK".into());
    t.case("HC1: 1 MiB of zeros in zlib", dcc_code, "PAYLOAD_TOO_LARGE");
    let cose = health_status("CN-GD").sign(&gd.issuer).unwrap();
    let good = zlib(&cose);
    t.case("control: a zlib-compressed credential", code(&format!("HR1:{}", base45::encode(&good)), &trust, NOW), "OK");
    // FDICT set, and the header's check bits fixed so that only the dictionary is wrong.
    let mut dictionary = good.clone();
    dictionary[1] = (dictionary[1] | 0x20) & 0xe0;
    let rest = (u16::from(dictionary[0]) * 256 + u16::from(dictionary[1])) % 31;
    dictionary[1] += u8::try_from((31 - rest) % 31).unwrap();
    t.case(
        "zlib with a preset dictionary",
        code(&format!("HR1:{}", base45::encode(&dictionary)), &trust, NOW),
        "DECOMPRESSION_FAILED",
    );
    t.case(
        "zlib cut short",
        code(&format!("HR1:{}", base45::encode(&good[..good.len() - 4])), &trust, NOW),
        "DECOMPRESSION_FAILED",
    );
    let trailing = [good.clone(), vec![0]].concat();
    t.case(
        "zlib with a byte after the stream",
        code(&format!("HR1:{}", base45::encode(&trailing)), &trust, NOW),
        "DECOMPRESSION_FAILED",
    );
    t.check();
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    [&u32::try_from(data.len()).unwrap().to_be_bytes()[..], kind, data, &crc.sum().to_be_bytes()].concat()
}

/// A PNG whose header states `width` x `height` greyscale pixels, followed by `idat`.
fn png_claiming(width: u32, height: u32, idat: &[u8]) -> Vec<u8> {
    let ihdr = [&width.to_be_bytes()[..], &height.to_be_bytes(), &[8, 0, 0, 0, 0]].concat();
    [&b"\x89PNG\r\n\x1a\n"[..], &png_chunk(b"IHDR", &ihdr), &png_chunk(b"IDAT", idat), &png_chunk(b"IEND", &[])]
        .concat()
}

fn scan_code(bytes: &[u8]) -> String {
    match scan_image_bytes(bytes, &ImageLimits::default()) {
        Ok(texts) => format!("read {} code(s)", texts.len()),
        Err(r) => r.code().as_str().into(),
    }
}

#[test]
fn hostile_image_files() {
    let mut t = Table::default();
    t.case("PNG header: 100,000 x 100,000 pixels", scan_code(&png_claiming(100_000, 100_000, &[])), "QR_UNREADABLE");
    t.case("PNG header: 1 x 4,000,000,000 pixels", scan_code(&png_claiming(1, 4_000_000_000, &[])), "QR_UNREADABLE");
    // A real 5000 x 5000 image of one colour: a few kilobytes of zlib that would inflate to 25 MB.
    let row = [&[0u8][..], &[255u8; 5000]].concat();
    let pixels: Vec<u8> = row.iter().copied().cycle().take(row.len() * 5000).collect();
    let real = png_claiming(5000, 5000, &zlib(&pixels));
    assert!(real.len() < 100_000, "{}", real.len());
    let refused = scan_image_bytes(&real, &ImageLimits::default()).unwrap_err();
    t.case("a real 25-megapixel PNG of 30 KB", refused.code().as_str(), "QR_UNREADABLE");
    assert!(refused.to_string().contains("exceeds"), "refused from the header, before decoding: {refused}");
    let sof = [
        &[0xff, 0xd8, 0xff, 0xc0, 0x00, 0x0b, 0x08][..],
        &60_000u16.to_be_bytes(),
        &60_000u16.to_be_bytes(),
        &[0x01, 0x01, 0x11, 0x00],
    ]
    .concat();
    t.case(
        "JPEG header: 60,000 x 60,000 pixels",
        scan_code(&[sof.clone(), vec![0xff, 0xd9]].concat()),
        "QR_UNREADABLE",
    );
    let mut big = png_claiming(16, 16, &zlib(&[0u8; 17 * 16]));
    big.resize(17 * 1024 * 1024, 0);
    t.case("a 17 MiB file", scan_code(&big), "QR_UNREADABLE");
    t.case("a PNG cut after its header", scan_code(&png_claiming(64, 64, &[])[..33]), "QR_UNREADABLE");
    for (name, magic) in
        [("GIF", &b"GIF89a\x01\x00\x01\x00"[..]), ("BMP", b"BM\x00\x00"), ("WebP", b"RIFF\x00\x00\x00\x00WEBPVP8 ")]
    {
        t.case(format!("a {name} file"), scan_code(magic), "QR_UNREADABLE");
    }
    t.check();
}

#[test]
fn qr_codes_carrying_other_formats() {
    let gd = TestProvince::guangdong();
    let checkpoint = Checkpoint {
        trust: TrustSource::List(gd.trust()),
        dcc: DccTrust::default(),
        policy: Policy::default(),
        freshness: Default::default(),
    };
    let mut t = Table::default();
    let valid = gd.qr_text(&health_status("CN-GD"));
    for (name, text, expected) in [
        ("control: a Huren code", valid.clone(), "OK"),
        ("a web address", "https://example.org/health?id=1".to_string(), "PREFIX_UNKNOWN"),
        ("a SMART Health Card", "shc:/56762909524320603460292437404460312229595326546034602925407728043360287028647167452228092861333145643765314159064022030645045908564355034142454136403706366541713724123638030437562204673740753232392543344332605736010645293353127074232843503869633870".to_string(), "PREFIX_UNKNOWN"),
        ("junk behind HC1: (to the EU DCC pipeline)", "HC1:NCFOXN%TS3DH0RGPJB/IB-OM7533".to_string(), "BASE45_INVALID"),
        ("a lower-case Huren prefix", valid.to_lowercase(), "PREFIX_UNKNOWN"),
        ("HR2: (a version this build does not read)", valid.replacen("HR1:", "HR2:", 1), "PREFIX_UNKNOWN"),
    ] {
        let png = QrSymbol::new(&text, Ecc::M).unwrap().to_png(4).unwrap();
        let read = scan_image_bytes(&png, &ImageLimits::default()).unwrap();
        assert_eq!(read, vec![text.clone()], "{name}: the QR code reads back as written");
        let answer = checkpoint.verify(&read[0], NOW);
        t.case(name, answer.map_or_else(|r| r.code().as_str().to_string(), |_| "OK".into()), expected);
    }
    t.check();
}

/// The eight points of small order, canonically encoded (RFC 8032 points of order 1, 2, 4 and 8).
const SMALL_ORDER: [&str; 8] = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
];

fn bytes32(hex: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

/// The group order L, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn add_le(a: &[u8], b: &[u8; 32]) -> Vec<u8> {
    let mut carry = 0u16;
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let sum = u16::from(*x) + u16::from(*y) + carry;
            carry = sum >> 8;
            sum.to_le_bytes()[0]
        })
        .collect()
}

#[test]
fn ed25519_small_order_keys_and_malleable_signatures() {
    let gd = TestProvince::guangdong();
    let trust = gd.trust();
    let mut t = Table::default();
    for (i, hex) in SMALL_ORDER.iter().enumerate() {
        t.case(
            format!("small-order key #{i}"),
            keys_code(PublicKey::from_ed25519_bytes(&bytes32(hex))),
            "PUBLIC_KEY_INVALID",
        );
        let holder = HolderKey::from_bytes(&bytes32(hex)).map_or("refused", |_| "accepted");
        t.case(format!("small-order key #{i} as a holder key"), holder, "refused");
    }
    // y = p + 1: the identity point, encoded non-canonically.
    let non_canonical = bytes32("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
    t.case(
        "non-canonical key encoding",
        keys_code(PublicKey::from_ed25519_bytes(&non_canonical)),
        "PUBLIC_KEY_INVALID",
    );
    // An honest key plus a point of order 8: same signatures under the cofactored equation, so it is refused.
    let honest = CompressedEdwardsY(gd.issuer.public().spki_der()[12..].try_into().unwrap()).decompress().unwrap();
    let torsion = CompressedEdwardsY(bytes32(SMALL_ORDER[4])).decompress().unwrap();
    let mixed = (honest + torsion).compress().to_bytes();
    t.case(
        "mixed-order key (honest + order 8)",
        keys_code(PublicKey::from_ed25519_bytes(&mixed)),
        "PUBLIC_KEY_INVALID",
    );
    t.case("the honest key (control)", keys_code(PublicKey::from_ed25519_bytes(&honest.compress().to_bytes())), "OK");
    // A certificate its own root signed over a small-order key: the signature holds, the key is refused.
    let honest_cert = gd.certificate.sign(&gd.root).unwrap();
    let mut payload = huren_keys::cose::Sign1::parse(&honest_cert).unwrap().unverified_payload().to_vec();
    let key_at = payload.windows(32).position(|w| w == &gd.issuer.public().spki_der()[12..]).unwrap();
    payload[key_at..key_at + 32].copy_from_slice(&bytes32(SMALL_ORDER[0]));
    let cert_bytes =
        huren_keys::cose::sign1(&gd.root, &payload, Some(huren_keys::KEY_CERTIFICATE_CONTENT_TYPE)).unwrap();
    t.case(
        "certificate over a small-order key",
        keys_code(KeyCertificate::verify(&cert_bytes, gd.root.public())),
        "DOCUMENT_INVALID",
    );

    let cose = health_status("CN-GD").sign(&gd.issuer).unwrap();
    let sig_at = cose.len() - 64;
    let (r, s) = (&cose[sig_at..sig_at + 32], &cose[sig_at + 32..]);
    let s_plus_l = [&cose[..sig_at], r, &add_le(s, &L)].concat();
    t.case("signature with S + L (malleated)", cose_code(&s_plus_l, &trust), "SIGNATURE_INVALID");
    let small_r = [&cose[..sig_at], &bytes32(SMALL_ORDER[0])[..], &[0u8; 32]].concat();
    t.case("signature with R = identity, S = 0", cose_code(&small_r, &trust), "SIGNATURE_INVALID");
    t.case("the honest signature (control)", cose_code(&cose, &trust), "OK");
    t.check();
}

#[test]
fn dynamic_codes_replayed_or_altered() {
    let gd = TestProvince::guangdong();
    let trust = gd.trust();
    let device = huren_keys::dangerous::signing_key_from_seed(&[40; 32]).unwrap();
    let other = huren_keys::dangerous::signing_key_from_seed(&[41; 32]).unwrap();
    let bound_to = |key: &huren_keys::SigningKey, name: &str| {
        let mut c = health_status("CN-GD");
        c.subject.name = name.into();
        c.holder = Some(HolderKey::from_public_key(key.public()).unwrap());
        c.sign(&gd.issuer).unwrap()
    };
    let cose = bound_to(&device, "张三丰");
    let made = (NOW / STEP_SECONDS) * STEP_SECONDS;
    let dynamic = present(&cose, &device, made).unwrap();
    let mut t = Table::default();
    t.case("control: the live code", code(&dynamic, &trust, made + 5), "OK");
    t.case("replayed 90 s later (a screenshot)", code(&dynamic, &trust, made + 90), "PRESENTATION_EXPIRED");
    t.case(
        "made 90 s ahead of the checkpoint",
        code(&present(&cose, &device, made + 90).unwrap(), &trust, made),
        "PRESENTATION_EXPIRED",
    );
    // Another device's signature over this credential.
    let p = presentation::decode(&present(&cose, &device, made).unwrap(), &Default::default()).unwrap();
    let envelope = |credential: &[u8], signature: Vec<u8>| {
        let bytes = cbor::encode(&Value::Array(vec![
            Value::Bytes(credential.to_vec()),
            Value::from(p.step),
            Value::Bytes(signature),
        ]));
        format!("{}{}", presentation::PREFIX, base45::encode(&bytes))
    };
    let foreign = other.sign(&presentation::signing_message(&cose, p.step));
    t.case("signed by another device", code(&envelope(&cose, foreign), &trust, made), "HOLDER_SIGNATURE_INVALID");
    // The holder's signature moved onto another credential bound to the same device.
    let swapped = bound_to(&device, "李四");
    t.case(
        "signature moved to another credential",
        code(&envelope(&swapped, p.signature.clone()), &trust, made),
        "HOLDER_SIGNATURE_INVALID",
    );
    t.case(
        "the static copy of the bound credential",
        code(&transport::encode(&cose), &trust, made),
        "PRESENTATION_REQUIRED",
    );
    let unbound = health_status("CN-GD").sign(&gd.issuer).unwrap();
    let sig = device.sign(&presentation::signing_message(&unbound, p.step));
    t.case(
        "a dynamic code around an unbound credential",
        code(&envelope(&unbound, sig), &trust, made),
        "HOLDER_SIGNATURE_INVALID",
    );
    t.check();
}

/// A root payload with its members changed by `edit` after encoding (so the encoder's own checks are bypassed).
fn edited_root(fed: &TestFederation, edit: impl Fn(&mut Vec<(Value, Value)>)) -> Vec<u8> {
    let payload = fed.root_doc(1).to_payload().unwrap();
    let mut value = cbor::decode_canonical(&payload, 8).unwrap();
    let Value::Map(entries) = &mut value else { panic!("a root is a map") };
    edit(entries);
    cbor::encode(&value)
}

/// A COSE_Sign over `payload` with one signature per listed member, made without the library's checks.
fn raw_cosign(fed: &TestFederation, payload: &[u8], signers: &[usize]) -> Vec<u8> {
    use coset::{CoseSignBuilder, CoseSignatureBuilder, HeaderBuilder, TaggedCborSerializable};
    let mut builder = CoseSignBuilder::new()
        .protected(HeaderBuilder::new().content_type(ROOT_CONTENT_TYPE.to_string()).build())
        .payload(payload.to_vec());
    for &i in signers {
        let key = &fed.provinces[i].root;
        let signature = CoseSignatureBuilder::new()
            .protected(
                HeaderBuilder::new()
                    .algorithm(coset::iana::Algorithm::EdDSA)
                    .key_id(key.public().kid().0.to_vec())
                    .build(),
            )
            .build();
        builder = builder.add_created_signature(signature, &[], |tbs| key.sign(tbs));
    }
    builder.build().to_tagged_vec().unwrap()
}

/// A signed document (COSE_Sign1 or COSE_Sign) with its body's unprotected header replaced: nothing signed changes.
fn with_unprotected(signed: &[u8], unprotected: Value) -> Vec<u8> {
    let mut value = cbor::decode_canonical(signed, 6).unwrap();
    let Value::Tag(_, inner) = &mut value else { panic!("a tagged COSE structure") };
    let Value::Array(parts) = inner.as_mut() else { panic!("a COSE array") };
    parts[1] = unprotected;
    cbor::encode(&value)
}

#[test]
fn trust_documents_duplicated_conflicting_expired_or_from_the_future() {
    let fed = TestFederation::three();
    let root_v1 = fed.signed_root(&fed.root_doc(1), &[0, 2]);
    let state = TrustState::provision(&root_v1, T0).unwrap();
    let update = |bundle: TrustBundle, now: i64| keys_code(state.update(&bundle, now));
    let mut t = Table::default();
    t.case("control: root v1", keys_code(FederationRoot::verify_initial(&root_v1)), "OK");

    // Members: which map key holds them is found, not assumed.
    let members_key =
        |entries: &Vec<(Value, Value)>| entries.iter().position(|(_, v)| matches!(v, Value::Array(_))).unwrap();
    let twice = edited_root(&fed, |entries| {
        let at = members_key(entries);
        if let Value::Array(members) = &mut entries[at].1 {
            let gd = members[0].clone();
            members.push(gd);
        }
    });
    t.case(
        "root lists a member twice",
        keys_code(FederationRoot::verify_initial(&raw_cosign(&fed, &twice, &[0, 2]))),
        "DOCUMENT_INVALID",
    );
    let shared_key = edited_root(&fed, |entries| {
        let at = members_key(entries);
        if let Value::Array(members) = &mut entries[at].1 {
            let gd_keys = match &members[0] {
                Value::Map(m) => m.iter().find(|(_, v)| matches!(v, Value::Array(_))).unwrap().1.clone(),
                _ => panic!(),
            };
            if let Value::Map(hb) = &mut members[1] {
                let slot = hb.iter_mut().find(|(_, v)| matches!(v, Value::Array(_))).unwrap();
                slot.1 = gd_keys;
            }
        }
    });
    t.case(
        "one root key under two members",
        keys_code(FederationRoot::verify_initial(&raw_cosign(&fed, &shared_key, &[0, 2]))),
        "DOCUMENT_INVALID",
    );
    let payload = fed.root_doc(1).to_payload().unwrap();
    t.case(
        "one member signs twice to reach the threshold",
        keys_code(FederationRoot::verify_initial(&raw_cosign(&fed, &payload, &[0, 0]))),
        "DUPLICATE_SIGNER",
    );
    t.case(
        "one signature, threshold 2",
        keys_code(FederationRoot::verify_initial(&raw_cosign(&fed, &payload, &[1]))),
        "THRESHOLD_NOT_MET",
    );
    // Unsigned additions: an unprotected header parameter on the root body, or the same root in a longer encoding.
    let junk = Value::Map(vec![(int(-70000), Value::Text("unsigned".into()))]);
    t.case(
        "root with an unprotected header parameter",
        keys_code(FederationRoot::verify_initial(&with_unprotected(&root_v1, junk))),
        "COSE_MALFORMED",
    );
    let mut indefinite = vec![0xd8, 0x62, 0x9f];
    indefinite.extend_from_slice(&root_v1[3..]);
    indefinite.push(0xff);
    t.case(
        "root as an indefinite-length array",
        keys_code(FederationRoot::verify_initial(&indefinite)),
        "COSE_MALFORMED",
    );
    let bundle = fed.signed_bundle(&fed.bundle_doc("CN-GD", 2));
    let unprotected_kid = with_unprotected(&bundle, Value::Map(vec![(int(4), kid_of(&fed.province("CN-GD").root))]));
    let root = FederationRoot::verify_initial(&root_v1).unwrap();
    t.case("control: GD bundle v2", keys_code(ProvinceBundle::verify(&bundle, &root)), "OK");
    t.case(
        "GD bundle with an unprotected kid",
        keys_code(ProvinceBundle::verify(&unprotected_kid, &root)),
        "COSE_MALFORMED",
    );

    // Province bundles.
    let v2 = fed.bundle_doc("CN-GD", 2);
    let mut v2_other = v2.clone();
    v2_other.issuer_keys.clear();
    let conflicting =
        TrustBundle { roots: vec![], bundles: vec![fed.signed_bundle(&v2), fed.signed_bundle(&v2_other)] };
    t.case("two different GD bundles of one version", update(conflicting, T0), "VERSION_CONFLICT");
    let same_twice = TrustBundle { roots: vec![], bundles: vec![fed.signed_bundle(&v2), fed.signed_bundle(&v2)] };
    t.case("the same GD bundle twice (harmless)", update(same_twice, T0), "OK");
    let hb_signed_gd = v2.sign(&fed.province("CN-HB").root).unwrap();
    t.case(
        "GD's bundle signed by HB's root",
        update(TrustBundle { roots: vec![], bundles: vec![hb_signed_gd] }, T0),
        "BUNDLE_SIGNER_MISMATCH",
    );
    let bundle_at = |issued_at: i64, expires: i64| {
        let doc = ProvinceBundle { issued_at, expires, ..fed.bundle_doc("CN-GD", 3) };
        TrustBundle { roots: vec![], bundles: vec![fed.signed_bundle(&doc)] }
    };
    t.case("expired bundle", update(bundle_at(T0 - 10 * DAY, T0 - DAY), T0), "DOCUMENT_EXPIRED");
    t.case("bundle dated tomorrow", update(bundle_at(T0 + DAY, T0 + 30 * DAY), T0), "ISSUED_IN_FUTURE");
    let (newer, _) = state.update(&TrustBundle { roots: vec![], bundles: vec![fed.signed_bundle(&v2)] }, T0).unwrap();
    let rollback = TrustBundle { roots: vec![], bundles: vec![fed.signed_bundle(&fed.bundle_doc("CN-GD", 1))] };
    t.case("bundle v1 after v2 (rollback)", keys_code(newer.update(&rollback, T0)), "ROLLBACK");

    // Roots.
    let root_at = |version: u64, issued_at: i64, expires: i64| {
        let doc = FederationRoot { issued_at, expires, ..fed.root_doc(version) };
        TrustBundle { roots: vec![root_v1.clone(), fed.signed_root(&doc, &[0, 1])], bundles: vec![] }
    };
    t.case("root v2 dated tomorrow", update(root_at(2, T0 + DAY, T0 + 365 * DAY), T0), "ISSUED_IN_FUTURE");
    t.case("root v2 already expired", update(root_at(2, T0 - 2 * DAY, T0 - DAY), T0), "DOCUMENT_EXPIRED");
    t.case("root v1 after its expiry", update(TrustBundle::default(), T0 + 400 * DAY), "DOCUMENT_EXPIRED");
    t.check();
}

#[test]
fn credentials_from_the_future_or_the_past() {
    let gd = TestProvince::guangdong();
    let trust = gd.trust();
    let text = gd.qr_text(&health_status("CN-GD"));
    let mut t = Table::default();
    t.case("issued 10 minutes after the checkpoint's time", code(&text, &trust, T0 - 600), "NOT_YET_VALID");
    t.case("4 minutes early (within the clock skew)", code(&text, &trust, T0 - 240), "OK");
    t.case("a second after expiry", code(&text, &trust, T0 + 7 * DAY + 1), "EXPIRED");
    let c = Credential { not_before: Some(T0 + DAY), ..health_status("CN-GD") };
    t.case("before its not-before", code(&gd.qr_text(&c), &trust, T0 + 60), "NOT_YET_VALID");
    t.check();
}
