//! Dynamic codes (issue 8): a credential bound to a holder device key is shown as `HP1:` text, the credential plus
//! the device's signature over the current 30-second time step. A verifier accepts it only near its own step, so
//! a screenshot stops working within a minute; the static `HR1:` form of such a credential is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use ciborium::Value;
use coset::{iana, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};
use huren_keys::{cbor, Signer, SigningKey, TrustList};
use huren_tests::fixtures::{health_status, TestProvince, DAY, T0};
use huren_tests::workspace_binary;
use huren_verifier::checkpoint::{format_of, human_report, json_report, Answer, Checkpoint, TrustSource};
use huren_verifier::scan::{scan_image_bytes, ImageLimits};
use huren_verifier::{verify, verify_many, Code, Policy, Rejection, Stage};
use huren_wallet_core::presentation::{self, present, signing_message, STEP_SECONDS};
use huren_wallet_core::{base45, transport, Credential, Ecc, HolderKey, QrSymbol, StatusRef};

/// The first second of a time step, a little after the fixtures' issue time.
const MADE: i64 = (T0 / STEP_SECONDS + 4) * STEP_SECONDS;

fn device(seed: u8) -> SigningKey {
    huren_keys::dangerous::signing_key_from_seed(&[seed; 32]).unwrap()
}

/// The fixture health status with a status reference (a 4-byte index, the largest) bound to `holder`.
fn bound(holder: &SigningKey) -> Credential {
    let mut c = health_status("CN-GD");
    c.status = Some(StatusRef { list: 1, index: 3_987_654_321 });
    c.holder = Some(HolderKey::from_public_key(holder.public()).unwrap());
    c
}

struct Setup {
    gd: TestProvince,
    trust: TrustList,
    holder: SigningKey,
    cose: Vec<u8>,
}

fn setup() -> Setup {
    let gd = TestProvince::guangdong();
    let holder = device(40);
    let cose = bound(&holder).sign(&gd.issuer).unwrap();
    Setup { trust: gd.trust(), gd, holder, cose }
}

fn rejection(text: &str, trust: &TrustList, now: i64, policy: &Policy) -> Rejection {
    match verify(text, trust, now, policy) {
        Ok(v) => panic!("expected a rejection at {now}, got a valid {:?}", v.credential()),
        Err(r) => r,
    }
}

/// An `HP1:` text from its parts, for presentations `present` would refuse to make.
fn envelope(cose: &[u8], step: u64, signature: Vec<u8>) -> String {
    let bytes =
        cbor::encode(&Value::Array(vec![Value::Bytes(cose.to_vec()), Value::from(step), Value::Bytes(signature)]));
    format!("{}{}", presentation::PREFIX, base45::encode(&bytes))
}

#[test]
fn a_dynamic_code_verifies_in_its_step_and_one_step_either_side() {
    let s = setup();
    let text = present(&s.cose, &s.holder, MADE + 7).unwrap();
    let step = u64::try_from(MADE / STEP_SECONDS).unwrap();
    for now in [MADE, MADE + 29, MADE + 30, MADE + 59, MADE - 1, MADE - 30] {
        let v = verify(&text, &s.trust, now, &Policy::default()).unwrap_or_else(|r| panic!("at {now}: {r}"));
        assert_eq!(v.presentation_step(), Some(step));
        assert_eq!(v.credential(), &bound(&s.holder));
    }
}

#[test]
fn beyond_the_skew_it_is_presentation_expired_and_the_skew_is_configurable() {
    let s = setup();
    let text = present(&s.cose, &s.holder, MADE).unwrap();
    for now in [MADE + 60, MADE + 3600, MADE - 31, MADE - 90] {
        let r = rejection(&text, &s.trust, now, &Policy::default());
        assert_eq!((r.code(), r.stage()), (Code::PresentationExpired, Stage::Validity), "at {now}: {r}");
    }
    let strict = Policy { presentation_skew_steps: 0, ..Policy::default() };
    assert!(verify(&text, &s.trust, MADE + 29, &strict).is_ok());
    assert_eq!(rejection(&text, &s.trust, MADE + 30, &strict).code(), Code::PresentationExpired);
    assert_eq!(rejection(&text, &s.trust, MADE - 1, &strict).code(), Code::PresentationExpired);
    let lenient = Policy { presentation_skew_steps: 2, ..Policy::default() };
    assert!(verify(&text, &s.trust, MADE + 89, &lenient).is_ok());
    assert!(verify(&text, &s.trust, MADE - 60, &lenient).is_ok());
    assert_eq!(rejection(&text, &s.trust, MADE + 90, &lenient).code(), Code::PresentationExpired);
    assert_eq!(rejection(&text, &s.trust, MADE - 61, &lenient).code(), Code::PresentationExpired);
    assert!(Code::PresentationExpired.message_zh().contains("动态码"));
}

#[test]
fn a_screenshot_replayed_a_minute_later_is_refused_wherever_in_the_step_it_was_taken() {
    let s = setup();
    for offset in 0..STEP_SECONDS {
        let shot = present(&s.cose, &s.holder, MADE + offset).unwrap();
        assert!(verify(&shot, &s.trust, MADE + offset, &Policy::default()).is_ok());
        let r = rejection(&shot, &s.trust, MADE + offset + 60, &Policy::default());
        assert_eq!(r.code(), Code::PresentationExpired, "taken at +{offset} s");
    }
    // The live code of that later moment is fine.
    let live = present(&s.cose, &s.holder, MADE + 60).unwrap();
    assert!(verify(&live, &s.trust, MADE + 60, &Policy::default()).is_ok());
}

#[test]
fn another_device_or_an_altered_step_is_holder_signature_invalid() {
    let s = setup();
    let step = u64::try_from(MADE / STEP_SECONDS).unwrap();
    // Signed by another device over the right message.
    let stranger = device(41);
    let other = envelope(&s.cose, step, stranger.sign(&signing_message(&s.cose, step)));
    let r = rejection(&other, &s.trust, MADE, &Policy::default());
    assert_eq!((r.code(), r.stage()), (Code::HolderSignatureInvalid, Stage::Signature), "{r}");
    // A real code whose step was moved forward after signing (to replay it later).
    let real = presentation::decode(&present(&s.cose, &s.holder, MADE).unwrap(), &Default::default()).unwrap();
    let moved = envelope(&s.cose, real.step + 2, real.signature.clone());
    assert_eq!(rejection(&moved, &s.trust, MADE + 60, &Policy::default()).code(), Code::HolderSignatureInvalid);
    // The holder signature of one credential on another holder-bound credential of the same device.
    let mut second = bound(&s.holder);
    second.id = vec![1; 8];
    let second = second.sign(&s.gd.issuer).unwrap();
    let swapped = envelope(&second, real.step, real.signature.clone());
    assert_eq!(rejection(&swapped, &s.trust, MADE, &Policy::default()).code(), Code::HolderSignatureInvalid);
    // A credential with no holder key in a dynamic envelope: nothing to verify the holder signature with.
    let plain = health_status("CN-GD").sign(&s.gd.issuer).unwrap();
    let unbound = envelope(&plain, step, s.holder.sign(&signing_message(&plain, step)));
    assert_eq!(rejection(&unbound, &s.trust, MADE, &Policy::default()).code(), Code::HolderSignatureInvalid);
    // The control: the same construction with the right key and step verifies.
    let honest = envelope(&s.cose, step, s.holder.sign(&signing_message(&s.cose, step)));
    assert!(verify(&honest, &s.trust, MADE, &Policy::default()).is_ok());
}

#[test]
fn steps_far_from_now_are_expired_without_overflow() {
    let s = setup();
    let signed = |step: u64| envelope(&s.cose, step, s.holder.sign(&signing_message(&s.cose, step)));
    for step in [0, 1, u64::try_from(i64::MAX).unwrap(), u64::MAX - 1, u64::MAX] {
        let r = rejection(&signed(step), &s.trust, MADE, &Policy::default());
        assert_eq!(r.code(), Code::PresentationExpired, "step {step}: {r}");
    }
    let half = Policy { presentation_skew_steps: u64::MAX / 2, ..Policy::default() };
    assert!(verify(&signed(0), &s.trust, MADE, &half).is_ok());
    assert_eq!(rejection(&signed(u64::MAX), &s.trust, MADE, &half).code(), Code::PresentationExpired);
    let everything = Policy { presentation_skew_steps: u64::MAX, ..Policy::default() };
    assert!(verify(&signed(u64::MAX), &s.trust, MADE, &everything).is_ok(), "a skew of u64::MAX accepts any step");
}

#[test]
fn the_credential_inside_gets_the_same_rejections_as_a_static_code() {
    let s = setup();
    // Expired credential, live holder signature.
    let late = T0 + 8 * DAY;
    let r = rejection(&present(&s.cose, &s.holder, late).unwrap(), &s.trust, late, &Policy::default());
    assert_eq!(r.code(), Code::Expired);
    // Tampered credential, signed afresh by the holder: the issuer's signature fails.
    let mut tampered = s.cose.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let step = u64::try_from(MADE / STEP_SECONDS).unwrap();
    let text = envelope(&tampered, step, s.holder.sign(&signing_message(&tampered, step)));
    assert_eq!(rejection(&text, &s.trust, MADE, &Policy::default()).code(), Code::SignatureInvalid);
    // Unknown issuer.
    let text = present(&s.cose, &s.holder, MADE).unwrap();
    assert_eq!(rejection(&text, &TrustList::default(), MADE, &Policy::default()).code(), Code::KidUnknown);
    // A broken envelope is a damaged code.
    let r = rejection("HP1:NOT*BASE45~", &s.trust, MADE, &Policy::default());
    assert_eq!(r.code(), Code::Base45Invalid);
    let r = rejection(&format!("HP1:{}", base45::encode(&[0x82, 0x01, 0x02])), &s.trust, MADE, &Policy::default());
    assert_eq!((r.code(), r.stage()), (Code::CoseMalformed, Stage::Cose), "{r}");
}

#[test]
fn the_static_code_of_a_holder_bound_credential_is_presentation_required() {
    let s = setup();
    let r = rejection(&transport::encode(&s.cose), &s.trust, MADE, &Policy::default());
    assert_eq!((r.code(), r.stage()), (Code::PresentationRequired, Stage::Policy), "{r}");
    assert!(Code::PresentationRequired.message_en().contains("dynamic"));
    let r = huren_verifier::verify_cose(&s.cose, &s.trust, MADE, &Policy::default()).unwrap_err();
    assert_eq!(r.code(), Code::PresentationRequired);
}

#[test]
fn a_credential_without_a_holder_key_still_verifies_statically() {
    let gd = TestProvince::guangdong();
    let plain = health_status("CN-GD");
    assert_eq!(plain.holder, None);
    let v = verify(&gd.qr_text(&plain), &gd.trust(), MADE, &Policy::default()).unwrap();
    assert_eq!(v.presentation_step(), None);
    // and its bytes have no cnf claim: the format vector (tests/tests/format_vector.rs) is unchanged
    assert_eq!(plain.sign(&gd.issuer).unwrap().len(), 153);
}

/// Sign claims bytes as the issuer would, without the issuer-side checks.
fn sign_claims(key: &SigningKey, claims: Vec<u8>) -> Vec<u8> {
    let header = HeaderBuilder::new().key_id(key.public().kid().0.to_vec()).algorithm(iana::Algorithm::EdDSA);
    CoseSign1Builder::new()
        .protected(header.build())
        .payload(claims)
        .create_signature(&[], |tbs| key.sign(tbs))
        .build()
        .to_tagged_vec()
        .unwrap()
}

#[test]
fn a_bad_cnf_is_refused_when_the_claims_are_decoded() {
    let s = setup();
    let x = HolderKey::from_public_key(s.holder.public()).unwrap().as_bytes().to_vec();
    let good_claims = bound(&s.holder).to_claims();
    let at = good_claims.windows(x.len()).position(|w| w == x.as_slice()).unwrap();
    // The cnf claim is `08 a1 01 a3 01 <kty> 20 <crv> 21 58 20 <x>`: patch bytes in place.
    let patched = |offset_from_x: usize, byte: u8| {
        let mut c = good_claims.clone();
        c[at - offset_from_x] = byte;
        c
    };
    let mut small_order = good_claims.clone();
    small_order[at..at + 32].copy_from_slice(&[0; 32]); // the point of order 4 with y = 0
    let mut short = patched(1, 0x1f);
    short.remove(at);
    let mut invalid_point = good_claims.clone();
    invalid_point[at..at + 32].copy_from_slice(&[0xff; 32]); // not canonical
    for (claims, why) in [
        (patched(6, 0x02), "kty 2 (EC2)"),
        (patched(6, 0x04), "kty 4 (symmetric)"),
        (patched(4, 0x01), "crv 1 (P-256)"),
        (patched(4, 0x04), "crv 4 (X25519)"),
        (short, "31-byte x"),
        (small_order, "small-order key"),
        (invalid_point, "invalid point"),
    ] {
        let cose = sign_claims(&s.gd.issuer, claims);
        let r = rejection(&transport::encode(&cose), &s.trust, MADE, &Policy::default());
        assert_eq!((r.code(), r.stage()), (Code::CwtMalformed, Stage::Claims), "{why}: {r}");
        assert!(r.to_string().contains("cnf"), "{why}: {r}");
    }
    // The unpatched claims, signed the same way, verify (as a dynamic code).
    let cose = sign_claims(&s.gd.issuer, good_claims);
    assert!(verify(&present(&cose, &s.holder, MADE).unwrap(), &s.trust, MADE, &Policy::default()).is_ok());
}

#[test]
fn the_verifier_reads_a_dynamic_code_from_a_rendered_png() {
    let s = setup();
    let text = present(&s.cose, &s.holder, MADE).unwrap();
    let png = QrSymbol::new(&text, Ecc::Q).unwrap().to_png(4).unwrap();
    let texts = scan_image_bytes(&png, &ImageLimits::default()).unwrap();
    assert_eq!(texts, vec![text.clone()]);
    let v = verify(&texts[0], &s.trust, MADE + 5, &Policy::default()).unwrap();
    assert_eq!(v.credential().subject.name, "张三丰");
    // The checkpoint (CLI and kiosk) answers it the same way and calls it a Huren code.
    let checkpoint = Checkpoint {
        trust: TrustSource::List(s.trust.clone()),
        dcc: Default::default(),
        policy: Policy::default(),
        freshness: Default::default(),
    };
    let outcome = checkpoint.verify(&texts[0], MADE + 5);
    assert!(matches!(&outcome, Ok(Answer::Huren(_))));
    assert_eq!(format_of(Some(&text)), "huren");
    let report = json_report("png", format_of(Some(&text)), &outcome, MADE + 5);
    assert_eq!(report["code"], "OK");
    assert_eq!(report["presentation_step"], MADE / STEP_SECONDS);
    assert_eq!(report["credential"]["holder"], huren_keys::hex(bound(&s.holder).holder.unwrap().as_bytes()));
    assert!(human_report("png", &outcome).contains("dynamic code"));
    let static_answer = checkpoint.verify(&s.gd.qr_text(&health_status("CN-GD")), MADE);
    assert!(!human_report("static", &static_answer).contains("dynamic"));
    assert!(json_report("static", "huren", &static_answer, MADE).get("presentation_step").is_none());
    let late = checkpoint.verify(&texts[0], MADE + 90).unwrap_err();
    assert_eq!(json_report("png", "huren", &Err(late), MADE + 90)["code"], "PRESENTATION_EXPIRED");
}

#[test]
fn a_typical_dynamic_health_status_fits_qr_version_15_at_level_q() {
    let s = setup();
    let text = present(&s.cose, &s.holder, MADE).unwrap();
    let qr = QrSymbol::new(&text, Ecc::Q).unwrap();
    // 153 bytes of credential + 12 (status reference, 4-byte index) + 43 (cnf) = 208; the envelope adds 74.
    assert_eq!(s.cose.len(), 153 + 12 + 43 - 4, "credential bytes");
    assert_eq!(text.len(), 4 + (s.cose.len() + 74) / 2 * 3 + (s.cose.len() + 74) % 2 * 2, "characters");
    assert_eq!(qr.version(), 15, "{} characters", text.len());
    // The margin docs/format.md states: a 4-character name still fits, a fifth character or a valid-until does not.
    let version = |c: &Credential| {
        let text = present(&c.sign(&s.gd.issuer).unwrap(), &s.holder, MADE).unwrap();
        QrSymbol::new(&text, Ecc::Q).unwrap().version()
    };
    let mut named = bound(&s.holder);
    named.subject.name = "欧阳小明".into();
    assert_eq!(version(&named), 15);
    named.subject.name = "欧阳小明明".into();
    assert_eq!(version(&named), 16);
    let mut until = bound(&s.holder);
    until.body = huren_wallet_core::Body::HealthStatus(huren_wallet_core::HealthStatus {
        colour: huren_wallet_core::Colour::Green,
        reason: huren_wallet_core::Reason::NoRisk,
        valid_until: Some(T0 + DAY),
    });
    assert_eq!(version(&until), 16);
    // The static code of the same credential without the binding, for comparison.
    let mut plain = bound(&s.holder);
    plain.holder = None;
    assert_eq!(QrSymbol::new(&s.gd.qr_text(&plain), Ecc::Q).unwrap().version(), 11);
}

#[test]
fn verify_many_gives_the_answers_verify_gives() {
    let s = setup();
    let plain = s.gd.qr_text(&health_status("CN-GD"));
    let live = present(&s.cose, &s.holder, MADE + 60).unwrap();
    let shot = present(&s.cose, &s.holder, MADE).unwrap();
    let stranger = device(41);
    let step = u64::try_from((MADE + 60) / STEP_SECONDS).unwrap();
    let forged = envelope(&s.cose, step, stranger.sign(&signing_message(&s.cose, step)));
    let static_bound = transport::encode(&s.cose);
    let texts = [plain.as_str(), live.as_str(), shot.as_str(), forged.as_str(), static_bound.as_str(), "HP1:%%"];
    let code = |r: &Result<huren_verifier::Verified, Rejection>| r.as_ref().map_or_else(|r| r.code(), |_| Code::Ok);
    let one_by_one: Vec<Code> =
        texts.iter().map(|t| code(&verify(t, &s.trust, MADE + 60, &Policy::default()))).collect();
    let batched: Vec<Code> = verify_many(&texts, &s.trust, MADE + 60, &Policy::default()).iter().map(code).collect();
    assert_eq!(one_by_one, batched);
    assert_eq!(
        batched,
        [
            Code::Ok,
            Code::Ok,
            Code::PresentationExpired,
            Code::HolderSignatureInvalid,
            Code::PresentationRequired,
            Code::Base45Invalid
        ]
    );
}

#[test]
fn the_issuer_binds_a_holder_key_from_a_request_and_from_a_key_file() {
    let dir = std::env::temp_dir().join(format!("huren-dynamic-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let gd = TestProvince::guangdong();
    let province = gd.adopt_issuer(&dir.join("gd"));
    let holder = device(42);
    let hex = huren_keys::hex(HolderKey::from_public_key(holder.public()).unwrap().as_bytes());
    let request: huren_issuer::IssueRequest = serde_json::from_str(&format!(
        r#"{{"subject": {{"name": "李小龙", "masked_id": "1101**********567X"}},
            "body": {{"type": "health-status", "colour": "green", "reason": "no-risk"}},
            "valid_for_hours": 24, "holder_key": "{hex}"}}"#
    ))
    .unwrap();
    let issued = province.issue(&request, T0 + 60).unwrap();
    assert_eq!(issued.credential.holder.as_ref().map(|h| h.public_key()), Some(holder.public()));
    let text = present(&issued.cose, &holder, T0 + 120).unwrap();
    assert!(verify(&text, &gd.trust(), T0 + 120, &Policy::default()).is_ok());
    let bad: Result<huren_issuer::IssueRequest, _> = serde_json::from_str(&format!(
        r#"{{"subject": {{"name": "李", "masked_id": "1101**567X"}}, "body": {{"type": "health-status", "colour": "green",
            "reason": "no-risk"}}, "valid_for_hours": 24, "holder_key": "{}"}}"#,
        "00".repeat(32)
    ));
    assert!(bad.is_err(), "a small-order holder key is refused in the request");

    // The CLI: `huren-keys keygen` writes the device's public key as SPKI DER; `--holder-key` takes it or 32 raw bytes.
    let keys = workspace_binary("huren-keys");
    let out = Command::new(keys).args(["keygen", "--out", dir.join("device").to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let spki = std::fs::read(dir.join("device.pub.der")).unwrap();
    let device_key = huren_keys::PublicKey::from_spki_der(&spki).unwrap();
    std::fs::write(dir.join("raw.pub"), &spki[12..]).unwrap();
    let mut last_cose = None;
    for file in ["device.pub.der", "raw.pub"] {
        let out = Command::new(workspace_binary("huren-issuer"))
            .args([
                "issue",
                "--dir",
                dir.join("gd/p").to_str().unwrap(),
                "--name",
                "王五",
                "--id",
                "4403**********1234",
            ])
            .args(["--at", "2026-09-21T15:00:00Z", "--holder-key", dir.join(file).to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains("dynamic code"));
        let text = String::from_utf8(out.stdout).unwrap();
        let cose = transport::decode(text.trim(), &Default::default()).unwrap();
        let sign1 = huren_keys::cose::Sign1::parse(&cose).unwrap();
        let credential = Credential::from_claims(sign1.unverified_payload()).unwrap();
        assert_eq!(credential.holder.as_ref().map(|h| h.public_key()), Some(&device_key), "{file}");
        last_cose = Some(cose);
    }
    // The verifier CLI answers the dynamic code of the credential issued last, made with the keygen'd device key.
    let device_secret = SigningKey::load(&dir.join("device.key.pem")).unwrap();
    let made = 1_790_003_700; // 2026-09-21T15:15:00Z
    let shown = present(&last_cose.unwrap(), &device_secret, made).unwrap();
    let trust = dir.join("gd/p/trust.cbor");
    let check = |at: &str, skew: &str| {
        Command::new(workspace_binary("huren-verifier"))
            .args(["verify", "--json", "--trust", trust.to_str().unwrap(), "--at", at])
            .args(["--presentation-skew-steps", skew, &shown])
            .output()
            .unwrap()
    };
    let ok = check("2026-09-21T15:15:40Z", "1");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stdout));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("\"presentation_step\""));
    let late = check("2026-09-21T15:16:30Z", "1");
    assert_eq!(late.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&late.stdout).contains("PRESENTATION_EXPIRED"));
    assert!(check("2026-09-21T15:16:30Z", "3").status.success(), "a wider skew set on the command line");
    std::fs::write(dir.join("short.pub"), [7u8; 31]).unwrap();
    let out = Command::new(workspace_binary("huren-issuer"))
        .args(["issue", "--dir", dir.join("gd/p").to_str().unwrap(), "--name", "王五", "--id", "4403**********1234"])
        .args(["--at", "2026-09-21T15:00:00Z", "--holder-key", dir.join("short.pub").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}
