//! COSE working-group vectors (testdata/cose, public domain) through Huren's COSE layer: EdDSA and ES256
//! COSE_Sign1 messages, and a PS256 signature, each verified with the key type that fixes its algorithm.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use huren_keys::{cose::Sign1, p256_spki_from_point, Algorithm, Error, PublicKey};
use serde_json::Value;

fn vector(name: &str) -> Value {
    let path = format!("{}/../testdata/cose/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn unbase64url(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => panic!("not base64url"),
    };
    let bits: Vec<u8> = s.bytes().map(value).collect();
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut n = 0;
    for b in bits {
        acc = (acc << 6) | u32::from(b);
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push(u8::try_from((acc >> n) & 0xff).unwrap());
        }
    }
    out
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 128 {
        out.push(u8::try_from(len).unwrap());
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | u8::try_from(bytes.len()).unwrap());
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(content);
    out
}

fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
    let int = |v: &[u8]| {
        let mut c = if v[0] & 0x80 != 0 { vec![0] } else { vec![] };
        c.extend_from_slice(v);
        der(0x02, &c)
    };
    let rsa_public_key = der(0x30, &[int(n), int(e)].concat());
    let algorithm =
        der(0x30, &[der(0x06, &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]), vec![0x05, 0x00]].concat());
    let bit_string = der(0x03, &[&[0u8][..], &rsa_public_key].concat());
    der(0x30, &[algorithm, bit_string].concat())
}

#[test]
fn eddsa_sign1_vector_verifies_and_tampering_fails() {
    let v = vector("eddsa-sig-01.json");
    let x: [u8; 32] = unhex(v["input"]["sign0"]["key"]["x_hex"].as_str().unwrap()).try_into().unwrap();
    let key = PublicKey::from_ed25519_bytes(&x).unwrap();
    let cbor = unhex(v["output"]["cbor"].as_str().unwrap());
    // The working group's vectors carry the kid unprotected: fine for interop, not one of Huren's own documents.
    assert!(matches!(Sign1::parse(&cbor), Err(Error::CoseMalformed(m)) if m.contains("unprotected")));
    let msg = Sign1::parse_lenient(&cbor).unwrap();
    assert_eq!(msg.kid(), b"11", "kid from the unprotected header when the protected one has none");
    assert_eq!(msg.verify(&key).unwrap(), b"This is the content.");
    let mut tampered = cbor.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    assert!(matches!(Sign1::parse_lenient(&tampered).unwrap().verify(&key), Err(Error::SignatureInvalid)));
}

#[test]
fn es256_sign1_vector_verifies_and_an_ed25519_key_is_a_mismatch() {
    let v = vector("ecdsa-sig-01.json");
    let k = &v["input"]["sign0"]["key"];
    let mut point = vec![0x04];
    point.extend(unbase64url(k["x"].as_str().unwrap()));
    point.extend(unbase64url(k["y"].as_str().unwrap()));
    let key = PublicKey::from_spki_der(&p256_spki_from_point(&point)).unwrap();
    assert_eq!(key.algorithm(), Algorithm::Es256);
    let cbor = unhex(v["output"]["cbor"].as_str().unwrap());
    let msg = Sign1::parse_lenient(&cbor).unwrap();
    assert_eq!(msg.verify(&key).unwrap(), b"This is the content.");
    let ed = huren_keys::dangerous::signing_key_from_seed(&[0x5a; 32]).unwrap();
    assert!(matches!(
        msg.verify(ed.public()),
        Err(Error::AlgKeyMismatch { message: Algorithm::Es256, key: Algorithm::EdDsa })
    ));
}

#[test]
fn ps256_signature_verifies_over_the_published_to_be_signed_bytes() {
    use coset::TaggedCborSerializable;
    let v = vector("rsa-pss-01.json");
    let k = &v["input"]["sign"]["signers"][0]["key"];
    let spki = rsa_spki(&unhex(k["n_hex"].as_str().unwrap()), &unhex(k["e_hex"].as_str().unwrap()));
    let key = PublicKey::from_spki_der(&spki).unwrap();
    assert_eq!(key.algorithm(), Algorithm::Ps256);
    let tbs = unhex(v["intermediates"]["signers"][0]["ToBeSign_hex"].as_str().unwrap());
    let sign = coset::CoseSign::from_tagged_slice(&unhex(v["output"]["cbor"].as_str().unwrap())).unwrap();
    let signature = &sign.signatures[0].signature;
    key.verify(&tbs, signature).unwrap();
    let mut other = tbs.clone();
    other[20] ^= 1;
    assert!(matches!(key.verify(&other, signature), Err(Error::SignatureInvalid)));
}
