//! Dynamic codes: a holder-bound credential presented with the holder device's signature over the current
//! 30-second time step (documented in docs/format.md, "Dynamic codes").
//!
//! ```text
//! "HP1:" + base45( [ credential: bstr (COSE_Sign1), step: uint, holder signature: bstr (64) ] )   ; canonical CBOR
//! signed = "Huren presentation v1" || SHA-256(credential) || step (8 bytes, big-endian)
//! ```
//!
//! A credential whose `cnf` claim binds a holder key ([`crate::Credential::holder`]) is shown this way, refreshed
//! every [`STEP_SECONDS`]; a verifier accepts it only near its own time step, so a screenshot stops working within
//! a minute. Pure: the time is a parameter.
//!
//! ```
//! use huren_keys::SigningKey;
//! use huren_wallet_core::{presentation, Body, Colour, Credential, HealthStatus, HolderKey, Reason, Subject};
//!
//! let (issuer, device) = (SigningKey::generate()?, SigningKey::generate()?);
//! let credential = Credential {
//!     issuer: "CN-GD".into(),
//!     issued_at: 1_790_000_000,
//!     expires_at: 1_790_604_800,
//!     not_before: None,
//!     id: vec![7; 8],
//!     status: None,
//!     subject: Subject { name: "张三".into(), pinyin: None, masked_id: "4403**********1234".into(), date_of_birth: None },
//!     body: Body::HealthStatus(HealthStatus { colour: Colour::Green, reason: Reason::NoRisk, valid_until: None }),
//!     holder: Some(HolderKey::from_public_key(device.public())?),
//! };
//! let cose = credential.sign(&issuer)?;
//! let text = presentation::present(&cose, &device, 1_790_000_100)?;
//! assert!(text.starts_with("HP1:"));
//! let shown = presentation::decode(&text, &Default::default())?;
//! assert_eq!((shown.credential.as_slice(), shown.step), (cose.as_slice(), 1_790_000_100 / 30));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use ciborium::Value;
use sha2::{Digest, Sha256};

use huren_keys::{cbor, cose::Sign1, Signer, SigningKey};

use crate::transport::Limits;
use crate::{base45, Credential, Error};

/// Prefix of a dynamic presentation: "HP" for Huren presentation, version 1.
pub const PREFIX: &str = "HP1:";
/// Length of a time step, in seconds: a presentation names `floor(unix time / STEP_SECONDS)`.
pub const STEP_SECONDS: i64 = 30;
/// Domain separation: the holder's signature can never be mistaken for a signature over anything else.
pub const CONTEXT: &[u8] = b"Huren presentation v1";
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Nesting depth of a presentation: one array of byte strings and an integer.
const MAX_DEPTH: usize = 2;

/// A decoded presentation, not yet verified: the credential's COSE_Sign1 bytes, the time step the holder signed and
/// the holder's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presentation {
    /// The credential, a COSE_Sign1 exactly as issued.
    pub credential: Vec<u8>,
    /// The time step: `floor(unix time / 30)` on the holder's device when it made the code.
    pub step: u64,
    /// The holder's Ed25519 signature over [`signing_message`]`(credential, step)`.
    pub signature: Vec<u8>,
}

impl Presentation {
    /// The bytes the holder signed.
    pub fn message(&self) -> Vec<u8> {
        signing_message(&self.credential, self.step)
    }
}

/// The time step of Unix time `now`: `floor(now / 30)`; `None` before 1970 (a step is unsigned).
pub fn step_at(now: i64) -> Option<u64> {
    u64::try_from(now.div_euclid(STEP_SECONDS)).ok()
}

/// What the holder signs: [`CONTEXT`], then SHA-256 of the credential's COSE bytes, then the step as 8 bytes
/// big-endian (61 bytes).
pub fn signing_message(credential_cose: &[u8], step: u64) -> Vec<u8> {
    let mut message = Vec::with_capacity(CONTEXT.len() + 32 + 8);
    message.extend_from_slice(CONTEXT);
    message.extend_from_slice(&Sha256::digest(credential_cose));
    message.extend_from_slice(&step.to_be_bytes());
    message
}

/// Make the dynamic code (`HP1:` text) for `credential_cose` at Unix time `now`, signed by the holder's device key.
///
/// The credential must bind `holder`'s public key (its `cnf` claim), else [`Error::Invalid`]: a code signed by
/// another key would only be refused at the checkpoint. The credential's issuer signature is not checked here
/// (the wallet checked it when it stored the credential; the verifier checks it again).
pub fn present(credential_cose: &[u8], holder: &SigningKey, now: i64) -> Result<String, Error> {
    let limits = Limits::default();
    if credential_cose.len() > limits.max_payload_bytes {
        return Err(Error::PayloadTooLarge { limit: limits.max_payload_bytes, what: "credential bytes" });
    }
    let sign1 = Sign1::parse(credential_cose)?;
    let credential = Credential::from_claims(sign1.unverified_payload())?;
    match &credential.holder {
        None => return Err(Error::Invalid("the credential binds no holder key: show its static code".into())),
        Some(bound) if bound.public_key() != holder.public() => {
            return Err(Error::Invalid("the credential is bound to another device key".into()));
        }
        Some(_) => {}
    }
    let step = step_at(now).ok_or_else(|| Error::Invalid(format!("time {now} is before 1970")))?;
    let signature = Signer::sign(holder, &signing_message(credential_cose, step));
    let bytes = cbor::encode(&Value::Array(vec![
        Value::Bytes(credential_cose.to_vec()),
        Value::from(step),
        Value::Bytes(signature),
    ]));
    let mut text = String::with_capacity(PREFIX.len() + bytes.len().div_ceil(2) * 3);
    text.push_str(PREFIX);
    text.push_str(&base45::encode(&bytes));
    if text.len() > limits.max_text_len {
        return Err(Error::PayloadTooLarge { limit: limits.max_text_len, what: "QR text characters" });
    }
    Ok(text)
}

/// Decode `HP1:` text into its parts, strictly: the text and the bytes within `limits`, canonical CBOR, exactly
/// `[bstr, uint, bstr .size 64]`. A text with another prefix is [`Error::PrefixUnknown`]; a bad envelope is
/// [`Error::PresentationMalformed`]. Nothing is verified here.
pub fn decode(text: &str, limits: &Limits) -> Result<Presentation, Error> {
    if text.len() > limits.max_text_len {
        return Err(Error::PayloadTooLarge { limit: limits.max_text_len, what: "QR text characters" });
    }
    let Some(body) = text.strip_prefix(PREFIX) else {
        let found: String = text.chars().take_while(|c| *c != ':').take(8).collect();
        return Err(Error::PrefixUnknown { found });
    };
    let bytes = base45::decode(body).map_err(|e| match e {
        Error::Base45Invalid { position } => Error::Base45Invalid { position: position + PREFIX.len() },
        other => other,
    })?;
    if bytes.len() > limits.max_payload_bytes {
        return Err(Error::PayloadTooLarge { limit: limits.max_payload_bytes, what: "payload bytes" });
    }
    let malformed = |m: String| Error::PresentationMalformed(m);
    let value = cbor::decode_canonical(&bytes, MAX_DEPTH).map_err(|e| malformed(e.to_string()))?;
    let items = cbor::array(value, "presentation").map_err(|e| malformed(e.to_string()))?;
    let [credential, step, signature] = <[Value; 3]>::try_from(items)
        .map_err(|items| malformed(format!("expected [credential, step, signature], got {} items", items.len())))?;
    let credential = cbor::bytes(credential, "credential").map_err(|e| malformed(e.to_string()))?;
    let step = cbor::uint(&step, "step", u64::MAX).map_err(|e| malformed(e.to_string()))?;
    let signature = cbor::bytes(signature, "holder signature").map_err(|e| malformed(e.to_string()))?;
    if signature.len() != SIGNATURE_LEN {
        return Err(malformed(format!("holder signature must be {SIGNATURE_LEN} bytes, not {}", signature.len())));
    }
    Ok(Presentation { credential, step, signature })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Body, Colour, HealthStatus, HolderKey, Reason, StatusRef, Subject};

    const NOW: i64 = 1_790_000_010; // the first second of step 59_666_667

    fn key(seed: u8) -> SigningKey {
        huren_keys::dangerous::signing_key_from_seed(&[seed; 32]).unwrap()
    }

    fn credential(holder: Option<&SigningKey>) -> Vec<u8> {
        Credential {
            issuer: "CN-GD".into(),
            issued_at: 1_790_000_000,
            expires_at: 1_790_604_800,
            not_before: None,
            id: vec![0x5a, 0x17, 0xc3, 0x01, 0x9e, 0x44, 0x20, 0xb8],
            status: Some(StatusRef { list: 1, index: 3_000_000_000 }),
            subject: Subject {
                name: "张三丰".into(),
                pinyin: None,
                masked_id: "4403**********1234".into(),
                date_of_birth: None,
            },
            body: Body::HealthStatus(HealthStatus { colour: Colour::Green, reason: Reason::NoRisk, valid_until: None }),
            holder: holder.map(|k| HolderKey::from_public_key(k.public()).unwrap()),
        }
        .sign(&key(2))
        .unwrap()
    }

    #[test]
    fn round_trip_and_the_holder_signature_verifies() {
        let device = key(3);
        let cose = credential(Some(&device));
        let text = present(&cose, &device, NOW).unwrap();
        let p = decode(&text, &Limits::default()).unwrap();
        assert_eq!(p.credential, cose);
        assert_eq!(p.step, 59_666_667);
        assert_eq!(p.message().len(), CONTEXT.len() + 32 + 8);
        device.public().verify(&p.message(), &p.signature).unwrap();
        // Another step, another credential or another key: the signature does not carry over.
        assert!(device.public().verify(&signing_message(&cose, p.step + 1), &p.signature).is_err());
        assert!(device.public().verify(&signing_message(&credential(None), p.step), &p.signature).is_err());
        assert!(key(4).public().verify(&p.message(), &p.signature).is_err());
        // Deterministic within a step, different in the next one.
        assert_eq!(present(&cose, &device, NOW + 29).unwrap(), text);
        assert_ne!(present(&cose, &device, NOW + 30).unwrap(), text);
    }

    #[test]
    fn steps_are_floors_of_thirty_seconds() {
        assert_eq!(step_at(0), Some(0));
        assert_eq!(step_at(29), Some(0));
        assert_eq!(step_at(30), Some(1));
        assert_eq!(step_at(-1), None);
        assert_eq!(signing_message(b"x", 0x0102).get(CONTEXT.len() + 32..), Some(&[0, 0, 0, 0, 0, 0, 1, 2][..]));
    }

    #[test]
    fn the_wallet_refuses_to_present_with_the_wrong_key_or_no_binding() {
        let device = key(3);
        assert!(matches!(present(&credential(None), &device, NOW), Err(Error::Invalid(m)) if m.contains("no holder")));
        assert!(
            matches!(present(&credential(Some(&key(4))), &device, NOW), Err(Error::Invalid(m)) if m.contains("another"))
        );
        assert!(matches!(present(&credential(Some(&device)), &device, -1), Err(Error::Invalid(_))));
        assert!(present(b"\xd2\x84", &device, NOW).is_err());
    }

    #[test]
    fn the_size_cost_is_the_key_the_step_and_the_signature() {
        let device = key(3);
        let (plain, bound) = (credential(None), credential(Some(&device)));
        assert_eq!(bound.len(), plain.len() + 43, "cnf claim");
        let text = present(&bound, &device, NOW).unwrap();
        // [ bstr header (2) + credential, step (5), bstr header (2) + 64 ] in a 1-byte array header
        let bytes = base45::decode(&text[4..]).unwrap();
        assert_eq!(bytes.len(), 1 + 2 + bound.len() + 5 + 2 + 64);
    }

    #[test]
    fn hostile_envelopes_get_typed_errors() {
        let limits = Limits::default();
        let text = |v: Value| format!("{PREFIX}{}", base45::encode(&cbor::encode(&v)));
        let sig = || Value::Bytes(vec![0; 64]);
        let cred = || Value::Bytes(vec![0xd2]);
        assert!(matches!(decode("HR1:ABC", &limits), Err(Error::PrefixUnknown { found }) if found == "HR1"));
        assert!(matches!(decode("HP1:abc", &limits), Err(Error::Base45Invalid { position: 4 })));
        assert!(matches!(decode(&"A".repeat(5000), &limits), Err(Error::PayloadTooLarge { .. })));
        let small = Limits { max_payload_bytes: 10, ..limits };
        assert!(matches!(
            decode(&text(Value::Array(vec![cred(), Value::from(1), sig()])), &small),
            Err(Error::PayloadTooLarge { .. })
        ));
        for (bad, why) in [
            (Value::Array(vec![cred(), Value::from(1)]), "2 items"),
            (Value::Array(vec![cred(), Value::from(1), sig(), sig()]), "4 items"),
            (Value::Array(vec![cred(), Value::from(-1), sig()]), "step"),
            (Value::Array(vec![cred(), Value::from(1), Value::Bytes(vec![0; 63])]), "64"),
            (Value::Array(vec![Value::from("x"), Value::from(1), sig()]), "credential"),
            (Value::Map(vec![]), "array"),
        ] {
            match decode(&text(bad), &limits) {
                Err(Error::PresentationMalformed(m)) => assert!(m.contains(why), "{why}: {m}"),
                other => panic!("{why}: {other:?}"),
            }
        }
        // a non-canonical step (1 on two bytes) and trailing bytes
        let mut bytes = cbor::encode(&Value::Array(vec![cred(), Value::from(1), sig()]));
        let canonical = format!("{PREFIX}{}", base45::encode(&bytes));
        assert!(decode(&canonical, &limits).is_ok());
        bytes.push(0);
        assert!(matches!(
            decode(&format!("{PREFIX}{}", base45::encode(&bytes)), &limits),
            Err(Error::PresentationMalformed(_))
        ));
        let long_step = [&[0x83, 0x41, 0xd2, 0x18, 0x01, 0x58, 0x40][..], &[0; 64]].concat();
        assert!(matches!(
            decode(&format!("{PREFIX}{}", base45::encode(&long_step)), &limits),
            Err(Error::PresentationMalformed(_))
        ));
    }
}
