//! `verify_many` (Ed25519 signatures checked in one batch) answers every code exactly as `verify` does, whatever
//! else is in the batch: valid codes from several provinces and algorithms, tampered signatures and payloads,
//! another province's key, expired codes, garbage, unknown keys, and a batch that is all bad.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use huren_keys::dangerous::trust_list_from_unverified;
use huren_tests::fixtures::{health_status, P256Signer, TestProvince, DAY, T0};
use huren_verifier::{verify, verify_many, Code, Policy};
use huren_wallet_core::transport;

/// A code whose COSE bytes are changed at `at` (counted from the end: the signature is the last 64 bytes).
fn tampered(text: &str, from_end: usize) -> String {
    let mut cose = transport::decode(text, &Default::default()).unwrap();
    let at = cose.len() - from_end;
    cose[at] ^= 0x01;
    transport::encode(&cose)
}

#[test]
fn a_batch_answers_every_code_as_single_verification_does() {
    let gd = TestProvince::guangdong();
    let hb = TestProvince::new("CN-HB", 3, huren_keys::CredentialType::ALL.to_vec());
    let p256 = P256Signer::generate();
    let trust =
        trust_list_from_unverified(vec![gd.certificate.clone(), hb.certificate.clone(), p256.certificate("CN-SH")]);
    let sh_code = transport::encode(&health_status("CN-SH").sign(&p256).unwrap());
    let gd_code = gd.qr_text(&health_status("CN-GD"));
    let hb_code = hb.qr_text(&health_status("CN-HB"));
    let mut expired = health_status("CN-GD");
    expired.expires_at = T0 + 30;
    // CN-HB signing a credential that claims to be from CN-GD: its signature is valid, its authority is not.
    let wrong_province = hb.qr_text(&health_status("CN-GD"));
    let codes: Vec<(String, Code)> = vec![
        (gd_code.clone(), Code::Ok),
        (hb_code.clone(), Code::Ok),
        (sh_code.clone(), Code::Ok),
        (tampered(&gd_code, 3), Code::SignatureInvalid),
        (tampered(&gd_code, 40), Code::SignatureInvalid),
        (tampered(&gd_code, 70), Code::SignatureInvalid),
        (tampered(&sh_code, 3), Code::SignatureInvalid),
        (gd.qr_text(&expired), Code::Expired),
        (wrong_province, Code::IssuerNotAuthorised),
        ("HR1:NOT*BASE45~".to_string(), Code::Base45Invalid),
        (TestProvince::new("CN-ZJ", 9, vec![]).qr_text(&health_status("CN-ZJ")), Code::KidUnknown),
    ];
    let now = T0 + 60;
    let policy = Policy::default();
    for rounds in 0..3 {
        // The same codes in other orders and with many valid ones around them, so bad ones land anywhere in the
        // batch and the batch gets bisected.
        let mut texts: Vec<&str> = codes.iter().map(|(t, _)| t.as_str()).collect();
        texts.rotate_left(rounds * 4);
        let padding = vec![gd_code.as_str(); 40 * rounds];
        texts.extend(padding);
        let batch = verify_many(&texts, &trust, now, &policy);
        assert_eq!(batch.len(), texts.len());
        for (text, answer) in texts.iter().zip(&batch) {
            let single = verify(text, &trust, now, &policy);
            assert_eq!(answer.as_ref().map(|v| v.credential()), single.as_ref().map(|v| v.credential()));
            assert_eq!(answer.as_ref().err(), single.as_ref().err(), "{text}");
            let expected = codes.iter().find(|(t, _)| t == text).unwrap().1;
            let got = answer.as_ref().map_or_else(|r| r.code(), |_| Code::Ok);
            assert_eq!(got, expected, "{text}");
        }
    }

    // A batch with nothing valid in it, and an empty batch.
    let bad: Vec<String> = (0..20).map(|i| tampered(&gd_code, 1 + i)).collect();
    let bad_refs: Vec<&str> = bad.iter().map(String::as_str).collect();
    assert!(verify_many(&bad_refs, &trust, now, &policy)
        .iter()
        .all(|r| r.as_ref().unwrap_err().code() == Code::SignatureInvalid));
    assert!(verify_many(&[], &trust, now, &policy).is_empty());
    assert_eq!(
        verify_many(&[gd_code.as_str()], &trust, now + 30 * DAY, &policy)[0].as_ref().unwrap_err().code(),
        Code::Expired
    );
}
