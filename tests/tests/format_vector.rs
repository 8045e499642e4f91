//! docs/format.md's test vector, rebuilt from its keys and claims and compared byte for byte with the document.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use huren_tests::fixtures::{health_status, TestProvince};
use huren_verifier::{verify, Policy};
use huren_wallet_core::{transport, Ecc, QrSymbol};

const FORMAT_MD: &str = include_str!("../../docs/format.md");

/// The body of the fenced block whose info string is `<lang> <name>`.
fn block(name: &str) -> String {
    let mut lines = FORMAT_MD.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("```") && line.split_whitespace().nth(1) == Some(name) {
            return lines.take_while(|l| !l.starts_with("```")).collect::<Vec<_>>().join("\n");
        }
    }
    panic!("docs/format.md has no block named {name}");
}

/// Hex digits of an annotated block, comments (`# ...`) removed.
fn hex_block(name: &str) -> String {
    block(name)
        .lines()
        .map(|l| l.split('#').next().unwrap())
        .flat_map(|l| l.chars().filter(char::is_ascii_hexdigit))
        .collect()
}

#[test]
fn document_matches_the_code_byte_for_byte() {
    let gd = TestProvince::guangdong();
    let credential = health_status("CN-GD");
    let cose = credential.sign(&gd.issuer).unwrap();
    assert_eq!(hex_block("vector-issuer-spki"), huren_keys::hex(gd.issuer.public().spki_der()));
    assert_eq!(hex_block("vector-kid"), gd.issuer.public().kid().to_hex());
    assert_eq!(hex_block("vector-claims"), huren_keys::hex(&credential.to_claims()));
    assert_eq!(hex_block("vector-cose"), huren_keys::hex(&cose));
    assert_eq!(block("vector-qr"), transport::encode(&cose));
    assert_eq!(hex_block("vector-certificate"), huren_keys::hex(&gd.certificate.sign(&gd.root).unwrap()));
}

#[test]
fn the_documented_qr_text_verifies_and_fits_version_11() {
    let gd = TestProvince::guangdong();
    let text = block("vector-qr");
    let verified = verify(&text, &gd.trust(), health_status("CN-GD").issued_at + 60, &Policy::default()).unwrap();
    assert_eq!(verified.credential(), &health_status("CN-GD"));
    assert_eq!(QrSymbol::new(&text, Ecc::Q).unwrap().version(), 11);
    assert_eq!(text.len(), 234);
}

/// docs/format.md's status list and delta examples, rebuilt and compared byte for byte.
#[test]
fn status_list_and_delta_examples_match_the_code() {
    use huren_keys::status::{Status, StatusList};
    let mut v3 = StatusList::new("CN-GD", 1, 16, 1_790_000_000, 3600).unwrap();
    v3.version = 3;
    for (i, s) in [(2, Status::Revoked), (7, Status::Suspended), (8, Status::Revoked)] {
        v3.bits.set(i, s).unwrap();
    }
    let mut v4 = v3.clone();
    v4.version = 4;
    v4.issued_at += 60;
    v4.bits.set(7, Status::Valid).unwrap();
    v4.bits.set(15, Status::Revoked).unwrap();
    let delta = v3.delta_to(&v4).unwrap();
    let (list_hex, delta_hex) = (huren_keys::hex(&v3.to_payload()), huren_keys::hex(&delta.to_payload()));
    assert_eq!(hex_block("status-packed"), huren_keys::hex(v3.bits.as_bytes()));
    assert_eq!(hex_block("status-list"), list_hex, "status list payload: {list_hex}");
    assert_eq!(hex_block("status-delta"), delta_hex, "status delta payload: {delta_hex}");
}

/// docs/format.md's dynamic-code vector: the reference credential bound to the holder key with seed `03` x 32,
/// presented at T0 + 60 s; rebuilt and compared byte for byte (Ed25519 is deterministic).
#[test]
fn dynamic_code_vector_matches_the_code() {
    use huren_wallet_core::{presentation, HolderKey};
    let gd = TestProvince::guangdong();
    let device = huren_keys::dangerous::signing_key_from_seed(&[3; 32]).unwrap();
    let mut credential = health_status("CN-GD");
    credential.holder = Some(HolderKey::from_public_key(device.public()).unwrap());
    let cose = credential.sign(&gd.issuer).unwrap();
    let now = credential.issued_at + 60;
    let text = presentation::present(&cose, &device, now).unwrap();
    let envelope = huren_wallet_core::base45::decode(&text[presentation::PREFIX.len()..]).unwrap();
    let shown = presentation::decode(&text, &Default::default()).unwrap();
    let (claims_hex, message_hex) = (huren_keys::hex(&credential.to_claims()), huren_keys::hex(&shown.message()));
    assert_eq!(hex_block("vector-holder-claims"), claims_hex, "claims: {claims_hex}");
    assert_eq!(hex_block("vector-holder-message"), message_hex, "signed message: {message_hex}");
    let envelope_hex = huren_keys::hex(&envelope);
    assert_eq!(hex_block("vector-presentation"), envelope_hex, "presentation: {envelope_hex}");
    assert_eq!(block("vector-hp1"), text, "HP1 text: {text}");
    assert_eq!(shown.credential, cose);
    assert!(verify(&text, &gd.trust(), now, &Policy::default()).is_ok());
    assert_eq!(QrSymbol::new(&text, Ecc::Q).unwrap().version(), 15);
    assert_eq!((cose.len(), envelope.len(), text.len()), (196, 270, 409));
}
