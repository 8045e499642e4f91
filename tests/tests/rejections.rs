//! One test per rejection code the credential core can produce: each hostile or faulty input is refused with
//! its own code and stage, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ciborium::Value;
use coset::{iana, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};
use huren_keys::{cbor, CredentialType, KeyCertificate, Signer, SigningKey, TrustList};
use huren_tests::fixtures::{health_status, TestProvince, DAY, T0};
use huren_verifier::{verify, Code, Policy, Rejection, Stage};
use huren_wallet_core::{base45, transport, Body, HealthStatus};

fn check(text: &str, trust: &TrustList, now: i64, policy: &Policy) -> Rejection {
    match verify(text, trust, now, policy) {
        Ok(v) => panic!("expected a rejection, got a valid {:?}", v.credential()),
        Err(r) => r,
    }
}

fn code_of(text: &str, trust: &TrustList, now: i64) -> Code {
    check(text, trust, now, &Policy::default()).code()
}

/// Sign arbitrary claims bytes with a key, with the header algorithm chosen by the test.
fn sign_raw(key: &SigningKey, alg: Option<iana::Algorithm>, payload: Vec<u8>) -> Vec<u8> {
    let mut header = HeaderBuilder::new().key_id(key.public().kid().0.to_vec());
    if let Some(alg) = alg {
        header = header.algorithm(alg);
    }
    CoseSign1Builder::new()
        .protected(header.build())
        .payload(payload)
        .create_signature(&[], |tbs| key.sign(tbs))
        .build()
        .to_tagged_vec()
        .unwrap()
}

fn qr(cose: &[u8]) -> String {
    transport::encode(cose)
}

#[test]
fn the_untouched_credential_verifies() {
    let gd = TestProvince::guangdong();
    assert!(verify(&gd.qr_text(&health_status("CN-GD")), &gd.trust(), T0 + 60, &Policy::default()).is_ok());
}

#[test]
fn tampered_payload_or_signature_is_signature_invalid() {
    let gd = TestProvince::guangdong();
    let cose = health_status("CN-GD").sign(&gd.issuer).unwrap();
    let name = "张三丰".as_bytes();
    let at = cose.windows(name.len()).position(|w| w == name).unwrap();
    let mut renamed = cose.clone();
    renamed[at..at + 3].copy_from_slice("李".as_bytes()); // same length, still valid CBOR
    let r = check(&qr(&renamed), &gd.trust(), T0 + 60, &Policy::default());
    assert_eq!((r.code(), r.stage()), (Code::SignatureInvalid, Stage::Signature));
    let mut bad_signature = cose.clone();
    let last = bad_signature.len() - 1;
    bad_signature[last] ^= 1;
    assert_eq!(code_of(&qr(&bad_signature), &gd.trust(), T0 + 60), Code::SignatureInvalid);
}

#[test]
fn unknown_kid() {
    let gd = TestProvince::guangdong();
    let stranger = TestProvince::new("CN-GD", 50, CredentialType::ALL.to_vec());
    let r = check(&stranger.qr_text(&health_status("CN-GD")), &gd.trust(), T0 + 60, &Policy::default());
    assert_eq!((r.code(), r.stage()), (Code::KidUnknown, Stage::Trust));
    assert!(r.to_string().contains(&stranger.issuer.public().kid().to_hex()));
}

#[test]
fn expired_and_not_yet_valid() {
    let gd = TestProvince::guangdong();
    let text = gd.qr_text(&health_status("CN-GD"));
    let r = check(&text, &gd.trust(), T0 + 7 * DAY, &Policy::default());
    assert_eq!(r, Rejection::Expired { now: T0 + 7 * DAY, expired_at: T0 + 7 * DAY });
    assert_eq!(r.stage(), Stage::Validity);
    // Clock skew tolerance is 5 minutes: 4 minutes early passes, 6 minutes early does not.
    assert!(verify(&text, &gd.trust(), T0 - 240, &Policy::default()).is_ok());
    assert_eq!(code_of(&text, &gd.trust(), T0 - 360), Code::NotYetValid);

    let mut later = health_status("CN-GD");
    later.not_before = Some(T0 + DAY);
    assert_eq!(code_of(&gd.qr_text(&later), &gd.trust(), T0 + 60), Code::NotYetValid);
    assert!(verify(&gd.qr_text(&later), &gd.trust(), T0 + DAY, &Policy::default()).is_ok());

    // A health status that stops holding before the credential expires.
    let mut short = health_status("CN-GD");
    if let Body::HealthStatus(HealthStatus { valid_until, .. }) = &mut short.body {
        *valid_until = Some(T0 + DAY);
    }
    assert_eq!(code_of(&gd.qr_text(&short), &gd.trust(), T0 + 2 * DAY), Code::Expired);
}

#[test]
fn key_not_certified_for_the_type_window_or_after_expiry() {
    let tests_only = TestProvince::new("CN-GD", 1, vec![CredentialType::TestResult]);
    let r = check(&tests_only.qr_text(&health_status("CN-GD")), &tests_only.trust(), T0 + 60, &Policy::default());
    assert_eq!((r.code(), r.stage()), (Code::KeyUsageMismatch, Stage::Trust));
    assert!(r.to_string().contains("health-status"));

    let gd = TestProvince::guangdong();
    let mut too_late = health_status("CN-GD");
    too_late.issued_at = T0 + 400 * DAY; // usage window ends at T0 + 365 days
    too_late.expires_at = too_late.issued_at + DAY;
    assert_eq!(code_of(&gd.qr_text(&too_late), &gd.trust(), too_late.issued_at + 60), Code::KeyUsageMismatch);

    let mut before = health_status("CN-GD");
    before.issued_at = T0 - 2 * DAY; // window starts at T0 - 1 day
    assert_eq!(code_of(&gd.qr_text(&before), &gd.trust(), T0), Code::KeyUsageMismatch);

    // After the certificate expires nothing the key signed verifies, even if the credential has not expired.
    let mut long = health_status("CN-GD");
    long.expires_at = T0 + 1000 * DAY;
    let r = check(&gd.qr_text(&long), &gd.trust(), T0 + 800 * DAY, &Policy::default());
    assert_eq!(r.code(), Code::KeyUsageMismatch);
    assert!(r.to_string().contains("expired"));
}

#[test]
fn issuer_not_authorised_for_another_province() {
    let gd = TestProvince::guangdong();
    let r = check(&gd.qr_text(&health_status("CN-HB")), &gd.trust(), T0 + 60, &Policy::default());
    assert_eq!(
        r,
        Rejection::IssuerNotAuthorised { iss: "CN-HB".into(), key_province: "CN-GD".into() },
        "a province can only speak for itself"
    );
}

#[test]
fn algorithm_in_message_differs_from_key() {
    let gd = TestProvince::guangdong();
    let claims = health_status("CN-GD").to_claims();
    // Ed25519 key, but the header claims ES256 (and PS256): refused before any signature maths.
    for alg in [iana::Algorithm::ES256, iana::Algorithm::PS256] {
        let cose = sign_raw(&gd.issuer, Some(alg), claims.clone());
        let r = check(&qr(&cose), &gd.trust(), T0 + 60, &Policy::default());
        assert!(matches!(r, Rejection::AlgKeyMismatch { .. }), "{r:?}");
        assert_eq!(r.code(), Code::AlgKeyMismatch);
    }
}

#[test]
fn unsupported_or_missing_algorithm() {
    let gd = TestProvince::guangdong();
    let claims = health_status("CN-GD").to_claims();
    let es384 = sign_raw(&gd.issuer, Some(iana::Algorithm::ES384), claims.clone());
    assert_eq!(
        check(&qr(&es384), &gd.trust(), T0 + 60, &Policy::default()),
        Rejection::AlgUnsupported { alg: Some(-35) }
    );
    let none = sign_raw(&gd.issuer, None, claims);
    assert_eq!(check(&qr(&none), &gd.trust(), T0 + 60, &Policy::default()), Rejection::AlgUnsupported { alg: None });
}

#[test]
fn truncated_garbage_and_oversized_inputs() {
    let gd = TestProvince::guangdong();
    let trust = gd.trust();
    let cose = health_status("CN-GD").sign(&gd.issuer).unwrap();
    for cut in [1, 10, cose.len() / 2, cose.len() - 1] {
        let r = check(&qr(&cose[..cut]), &trust, T0, &Policy::default());
        assert_eq!((r.code(), r.stage()), (Code::CoseMalformed, Stage::Cose), "cut at {cut}");
    }
    let text = gd.qr_text(&health_status("CN-GD"));
    assert_eq!(code_of(&text[..text.len() - 1], &trust, T0), Code::Base45Invalid, "a dangling base45 character");
    assert_eq!(code_of("", &trust, T0), Code::PrefixUnknown);
    assert_eq!(code_of("https://example.org/", &trust, T0), Code::PrefixUnknown);
    assert_eq!(code_of("HC1:6BFOXN*TS0BI$ZD4N9", &trust, T0), Code::PrefixUnknown);
    assert_eq!(code_of("HR1:hello world", &trust, T0), Code::Base45Invalid);
    assert_eq!(code_of("HR1:", &trust, T0), Code::CoseMalformed);
    assert_eq!(code_of(&format!("HR1:{}", base45::encode(&[0xd2; 40])), &trust, T0), Code::CoseMalformed);
    let huge = format!("HR1:{}", "0".repeat(5000));
    let r = check(&huge, &trust, T0, &Policy::default());
    assert_eq!((r.code(), r.stage()), (Code::PayloadTooLarge, Stage::Transport));
    // Trailing bytes after the COSE structure are refused.
    let mut trailing = cose.clone();
    trailing.push(0);
    assert_eq!(code_of(&qr(&trailing), &trust, T0), Code::CoseMalformed);
}

#[test]
fn zlib_bomb_and_corrupt_zlib() {
    let gd = TestProvince::guangdong();
    let trust = gd.trust();
    // 2 MiB of zeros compress to ~2 KB of zlib: about 3000 characters, a QR code's worth of text.
    let bomb = transport::encode(&vec![0u8; 2 * 1024 * 1024]);
    assert!(bomb.len() <= 4296);
    let r = check(&bomb, &trust, T0, &Policy::default());
    assert_eq!(r, Rejection::PayloadTooLarge { limit: 8192, what: "decompressed bytes" });
    let corrupt = format!("HR1:{}", base45::encode(&[0x78, 0xda, 0x01, 0x02, 0x03, 0x04]));
    assert_eq!(code_of(&corrupt, &trust, T0), Code::DecompressionFailed);
    // A real credential compressed (as an issuer may do) still verifies.
    use std::io::Write;
    let cose = health_status("CN-GD").sign(&gd.issuer).unwrap();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&cose).unwrap();
    let zipped = format!("HR1:{}", base45::encode(&z.finish().unwrap()));
    assert!(verify(&zipped, &trust, T0 + 60, &Policy::default()).is_ok());
}

#[test]
fn signed_but_malformed_claims_and_schema() {
    let gd = TestProvince::guangdong();
    let trust = gd.trust();
    let sign = |claims: Vec<u8>| qr(&sign_raw(&gd.issuer, Some(iana::Algorithm::EdDSA), claims));
    // Not CBOR at all.
    let r = check(&sign(b"\xff\xff".to_vec()), &trust, T0, &Policy::default());
    assert_eq!((r.code(), r.stage()), (Code::CwtMalformed, Stage::Claims));
    // Non-canonical: the same claims with an indefinite-length outer map.
    let claims = health_status("CN-GD").to_claims();
    let mut indefinite = vec![0xbf];
    indefinite.extend_from_slice(&claims[1..]);
    indefinite.push(0xff);
    assert_eq!(code_of(&sign(indefinite), &trust, T0), Code::CwtMalformed);
    // Duplicate claim key (two iss).
    let dup =
        cbor::encode(&Value::Map(vec![(Value::from(1), Value::from("CN-GD")), (Value::from(1), Value::from("CN-HB"))]));
    assert_eq!(code_of(&sign(dup), &trust, T0), Code::CwtMalformed);
    // Well-formed CWT, but a Huren payload from a future schema version.
    let mut value = cbor::decode_canonical(&claims, 8).unwrap();
    if let Value::Map(entries) = &mut value {
        if let Some((_, Value::Map(huren))) = entries.last_mut() {
            huren[0].1 = Value::from(9);
        }
    }
    let r = check(&sign(cbor::encode(&value)), &trust, T0 + 60, &Policy::default());
    assert_eq!((r.code(), r.stage()), (Code::SchemaInvalid, Stage::Claims));
}

#[test]
fn policy_rejects_types_the_checkpoint_does_not_accept() {
    let gd = TestProvince::guangdong();
    let policy = Policy { accepted_types: Some(vec![CredentialType::Vaccination]), ..Policy::default() };
    let r = check(&gd.qr_text(&health_status("CN-GD")), &gd.trust(), T0 + 60, &policy);
    assert_eq!((r.code(), r.stage()), (Code::PolicyRejected, Stage::Policy));
}

#[test]
fn keys_sharing_a_kid_are_each_tried() {
    // The same key certified twice (as if two keys collided on their kid): one certificate for Hubei, one for
    // Guangdong. A Guangdong credential must verify under the second.
    let gd = TestProvince::guangdong();
    let mut hubei = gd.certificate.clone();
    hubei.province = "CN-HB".into();
    let trust = huren_keys::dangerous::trust_list_from_unverified(vec![hubei, gd.certificate.clone()]);
    assert_eq!(trust.candidates(&gd.issuer.public().kid().0).count(), 2);
    assert!(verify(&gd.qr_text(&health_status("CN-GD")), &trust, T0 + 60, &Policy::default()).is_ok());
    // And a credential neither certificate authorises reports the authorisation failure.
    assert_eq!(code_of(&gd.qr_text(&health_status("CN-SH")), &trust, T0 + 60), Code::IssuerNotAuthorised);
}

#[test]
fn every_rejection_reaches_a_person_in_both_languages() {
    let gd = TestProvince::guangdong();
    let r = check("HR1:~", &gd.trust(), T0, &Policy::default());
    assert_eq!(r.code().message_en(), "The code is damaged (invalid characters)");
    assert_eq!(r.code().message_zh(), "二维码内容损坏（字符无效）");
}

/// The fixtures' certificates are real: signed by the test root, they verify through the normal path.
#[test]
fn fixture_certificate_is_signed_by_the_test_root() {
    let gd = TestProvince::guangdong();
    let bytes = gd.certificate.sign(&gd.root).unwrap();
    assert_eq!(KeyCertificate::verify(&bytes, gd.root.public()).unwrap(), gd.certificate);
}

#[test]
fn es256_issuer_keys_verify_and_refuse_an_eddsa_header() {
    use huren_tests::fixtures::P256Signer;
    let p256 = P256Signer::generate();
    let trust = huren_keys::dangerous::trust_list_from_unverified(vec![p256.certificate("CN-SH")]);
    let credential = health_status("CN-SH");
    let text = qr(&credential.sign(&p256).unwrap());
    let verified = verify(&text, &trust, T0 + 60, &Policy::default()).unwrap();
    assert_eq!(verified.algorithm(), huren_keys::Algorithm::Es256);
    assert_eq!(verified.credential(), &credential);

    // The P-256 key's kid with an EdDSA header: the key decides, the header is refused.
    let header =
        HeaderBuilder::new().algorithm(iana::Algorithm::EdDSA).key_id(p256.public_key().kid().0.to_vec()).build();
    let forged = CoseSign1Builder::new()
        .protected(header)
        .payload(credential.to_claims())
        .create_signature(&[], |tbs| p256.sign(tbs))
        .build()
        .to_tagged_vec()
        .unwrap();
    let r = check(&qr(&forged), &trust, T0 + 60, &Policy::default());
    assert_eq!(
        r,
        Rejection::AlgKeyMismatch { message: huren_keys::Algorithm::EdDsa, key: huren_keys::Algorithm::Es256 }
    );
}

#[test]
fn body_dates_narrow_the_validity_period() {
    use huren_wallet_core::{Date, Recovery, TestKind, TestOutcome, TestResult, Vaccination};
    let gd = TestProvince::guangdong();
    let trust = gd.trust();
    let day = |unix: i64| Date::from_unix(unix).unwrap();

    // Recovery valid from T0 + 2 days to T0 + 5 days, in a credential valid for a week.
    let mut recovery = health_status("CN-GD");
    recovery.expires_at = day(T0 + 5 * DAY).end_unix();
    recovery.body = Body::Recovery(Recovery {
        first_positive: day(T0 - 10 * DAY),
        valid_from: day(T0 + 2 * DAY),
        valid_until: day(T0 + 5 * DAY),
    });
    let text = gd.qr_text(&recovery);
    assert_eq!(code_of(&text, &trust, T0 + DAY), Code::NotYetValid);
    assert!(verify(&text, &trust, T0 + 3 * DAY, &Policy::default()).is_ok());
    // A claims set whose exp outlives the recovery (an issuer would refuse it; sign it raw): the recovery's end wins.
    recovery.expires_at = T0 + 30 * DAY;
    let raw = qr(&sign_raw(&gd.issuer, Some(iana::Algorithm::EdDSA), recovery.to_claims()));
    assert_eq!(code_of(&raw, &trust, T0 + 10 * DAY), Code::Expired);

    // A test sampled 80 hours ago: refused by the default 72-hour policy, accepted when the policy allows it.
    let mut test = health_status("CN-GD");
    test.body = Body::TestResult(TestResult {
        kind: TestKind::Naat,
        outcome: TestOutcome::Negative,
        sampled_at: T0 - 3600,
        centre: None,
    });
    let text = gd.qr_text(&test);
    assert!(verify(&text, &trust, T0 + 60, &Policy::default()).is_ok());
    let r = check(&text, &trust, T0 + 79 * 3600, &Policy::default());
    assert_eq!((r.code(), r.stage()), (Code::PolicyRejected, Stage::Policy));
    let lenient = Policy { max_test_age: None, ..Policy::default() };
    assert!(verify(&text, &trust, T0 + 79 * 3600, &lenient).is_ok());

    // A vaccination dated after now (only a raw-signed claims set can say so): not yet valid.
    let mut vaccination = health_status("CN-GD");
    vaccination.body =
        Body::Vaccination(Vaccination { product: "BBIBP".into(), dose: 1, doses: 2, date: day(T0 + 3 * DAY) });
    let raw = qr(&sign_raw(&gd.issuer, Some(iana::Algorithm::EdDSA), vaccination.to_claims()));
    assert_eq!(code_of(&raw, &trust, T0 + 60), Code::NotYetValid);
}
