//! EU Digital COVID Certificates (`HC1:` QR codes), verified offline with the same rejection codes as Huren's own
//! credentials.
//!
//! Pipeline: prefix `HC1:`, base45, zlib when the data starts with a zlib header (some issuers do not compress),
//! COSE_Sign1 tagged or untagged and optionally inside CWT tag 61, kid from the protected header else the
//! unprotected one (every signer with that kid is tried), CWT claims `iss` (1), `exp` (4), `iat` (6) and `hcert`
//! (-260 -> 1), then a typed [`Dcc`] with the fields a verifier shows checked against the schema. Trust comes from
//! document signer certificates ([`DccTrust`]): their validity and extended key usage
//! (1.3.6.1.4.1.1847.2021.1.1 / .2 / .3 for test / vaccination / recovery) are enforced; a certificate with an
//! extended key usage but none of those OIDs signs nothing.
//!
//! Real 2021 quirks the EU reference verifiers accept, and Huren with them (docs/conformance.md): `null` where an
//! entry array (`v`, `t`, `r`) is absent counts as absent; a CWT without `exp` is valid within bounds derived from
//! the entry's own dates and the signer certificate ([`derived_validity`]), with a [`DccWarning`] in the answer.
//! What would make a signature or a date ambiguous is still refused: a key that occurs twice in a map, an `exp` or
//! `iat` that is present but not a NumericDate, a date Huren needs that is not a date (or a time without a zone).

use huren_keys::cose::Sign1;

use crate::Rejection;

/// The QR text prefix of an EU DCC.
pub const HC1_PREFIX: &str = "HC1:";
/// Largest decompressed DCC accepted, in bytes.
pub const MAX_DCC_BYTES: usize = 16 * 1024;
/// Longest DCC QR text accepted, in characters.
pub const MAX_DCC_TEXT: usize = 8 * 1024;
/// Nesting depth allowed in a DCC's CBOR.
pub(crate) const MAX_DEPTH: usize = 8;

mod claims;
mod signers;

pub use claims::*;
pub use signers::*;

/// Decode the text of an `HC1:` code into COSE bytes (prefix, base45, zlib when compressed).
pub fn decode_hc1(text: &str) -> Result<Vec<u8>, Rejection> {
    if text.len() > MAX_DCC_TEXT {
        return Err(Rejection::PayloadTooLarge { limit: MAX_DCC_TEXT, what: "QR text characters" });
    }
    let Some(body) = text.strip_prefix(HC1_PREFIX) else {
        return Err(Rejection::PrefixUnknown { found: text.chars().take_while(|c| *c != ':').take(8).collect() });
    };
    let data = huren_wallet_core::base45::decode(body).map_err(|e| match e {
        huren_wallet_core::Error::Base45Invalid { position } => {
            Rejection::Base45Invalid { position: position + HC1_PREFIX.len() }
        }
        other => Rejection::Base45Invalid { position: other.to_string().len() },
    })?;
    if data.first() == Some(&0x78) {
        return huren_wallet_core::transport::inflate(&data, MAX_DCC_BYTES).map_err(|e| match e {
            huren_wallet_core::Error::PayloadTooLarge { limit, what } => Rejection::PayloadTooLarge { limit, what },
            other => Rejection::DecompressionFailed { reason: other.to_string() },
        });
    }
    if data.len() > MAX_DCC_BYTES {
        return Err(Rejection::PayloadTooLarge { limit: MAX_DCC_BYTES, what: "payload bytes" });
    }
    Ok(data)
}

/// Parse COSE bytes, unwrapping CWT tag 61 when present.
pub fn parse_cose(cose: &[u8]) -> Result<Sign1, Rejection> {
    let inner = cose.strip_prefix(&[0xd8, 0x3d]).unwrap_or(cose);
    Sign1::parse_lenient(inner).map_err(|e| Rejection::CoseMalformed { reason: e.to_string() })
}

/// Verify the signature with every signer that has the message's kid; the payload and the signer that
/// verified it.
pub fn verify_signature<'a>(sign1: &'a Sign1, trust: &'a DccTrust) -> Result<(&'a [u8], &'a DccSigner), Rejection> {
    let mut last = None;
    for signer in trust.signers().iter().filter(|s| s.kid.as_slice() == sign1.kid()) {
        match sign1.verify_allowing_unprotected_alg(&signer.key) {
            Ok(payload) => return Ok((payload, signer)),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        None => Rejection::KidUnknown { kid: huren_keys::hex(sign1.kid()) },
        Some(huren_keys::Error::AlgKeyMismatch { message, key }) => Rejection::AlgKeyMismatch { message, key },
        Some(huren_keys::Error::AlgUnsupported(alg)) => Rejection::AlgUnsupported { alg },
        Some(_) => Rejection::SignatureInvalid,
    })
}

/// A DCC whose signature, signer certificate, key usage and expiry checked out.
#[derive(Debug, Clone)]
pub struct VerifiedDcc {
    dcc: Dcc,
    kid: [u8; 8],
}

impl VerifiedDcc {
    /// The certificate's contents.
    pub fn dcc(&self) -> &Dcc {
        &self.dcc
    }

    /// The signer's kid.
    pub fn kid(&self) -> [u8; 8] {
        self.kid
    }
}

/// Check the signer's certificate and the DCC's expiry at `now`.
pub fn check_validity(dcc: &Dcc, signer: &DccSigner, now: i64) -> Result<(), Rejection> {
    if !signer.kinds.contains(&dcc.kind) {
        return Err(Rejection::KeyUsageMismatch {
            reason: format!("the signer certificate may not sign {} statements", dcc.kind.name()),
        });
    }
    if now > signer.not_after || now < signer.not_before {
        return Err(Rejection::KeyUsageMismatch { reason: "the signer certificate is not valid now".into() });
    }
    if let Some(valid_from) = dcc.not_before.filter(|from| now.saturating_add(DERIVED_START_SKEW) < *from) {
        return Err(Rejection::NotYetValid { now, valid_from });
    }
    if now > dcc.expires_at {
        return Err(Rejection::Expired { now, expired_at: dcc.expires_at });
    }
    Ok(())
}

/// For a DCC without `exp`: narrow the derived validity to the signer certificate's, so that the answer shows
/// the bound that applies. A DCC with `exp` keeps it as written (the certificate is checked separately).
fn bound_by_signer(dcc: &mut Dcc, signer: &DccSigner) {
    let Some(not_before) = dcc.not_before else { return };
    dcc.not_before = Some(not_before.max(signer.not_before));
    if signer.not_after < dcc.expires_at {
        dcc.expires_at = signer.not_after;
        for warning in &mut dcc.warnings {
            let DccWarning::NoExpiry { source, valid_until } = warning;
            *source = ExpirySource::SignerCertificate;
            *valid_until = signer.not_after;
        }
    }
}

/// Verify an `HC1:` code offline against `trust` at `now`.
pub fn verify_dcc(text: &str, trust: &DccTrust, now: i64) -> Result<VerifiedDcc, Rejection> {
    let cose = decode_hc1(text)?;
    let sign1 = parse_cose(&cose)?;
    let (payload, signer) = verify_signature(&sign1, trust)?;
    let mut dcc = decode_claims(payload)?;
    bound_by_signer(&mut dcc, signer);
    check_validity(&dcc, signer, now)?;
    Ok(VerifiedDcc { dcc, kid: signer.kid })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ciborium::Value;

    fn pkcs1(modulus: &[u8]) -> Vec<u8> {
        let mut n = vec![0x02, 0x82];
        n.extend_from_slice(&u16::try_from(modulus.len()).unwrap().to_be_bytes());
        n.extend_from_slice(modulus);
        n.extend_from_slice(&[0x02, 0x03, 0x01, 0x00, 0x01]);
        let mut out = vec![0x30, 0x82];
        out.extend_from_slice(&u16::try_from(n.len()).unwrap().to_be_bytes());
        out.extend(n);
        out
    }

    #[test]
    fn rsa_sizes_are_read_from_the_modulus() {
        let mut m = vec![0x00, 0x80];
        m.extend(vec![0x11; 255]);
        assert_eq!(rsa_modulus_bits(&pkcs1(&m)), Some(2048));
        let mut small = vec![0x00, 0x01];
        small.extend(vec![0x11; 127]);
        assert_eq!(rsa_modulus_bits(&pkcs1(&small)), Some(1017));
        assert_eq!(rsa_modulus_bits(&[0x30, 0x05, 0x02]), None, "truncated");
        assert_eq!(rsa_modulus_bits(&[]), None);
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    fn map(pairs: &[(&str, Value)]) -> Value {
        Value::Map(pairs.iter().map(|(k, v)| (text(k), v.clone())).collect())
    }

    /// The CWT claims of a DCC: `exp` (when given), `iat`, and an hcert whose DCC has `ver`, `nam`, `dob` and then
    /// `entries` (for example `("r", [..])` and a 1.0.x `("v", null)`).
    fn claims(exp: Option<Value>, entries: &[(&str, Value)]) -> Vec<u8> {
        let mut dgc = vec![
            ("ver", text("1.0.0")),
            ("nam", map(&[("fn", text("Musterfrau")), ("fnt", text("MUSTERFRAU"))])),
            ("dob", text("1964-08-12")),
        ];
        dgc.extend(entries.iter().cloned());
        let mut claims = vec![(Value::from(1), text("DE")), (Value::from(6), Value::from(1_620_000_000))];
        if let Some(exp) = exp {
            claims.push((Value::from(4), exp));
        }
        claims.push((Value::from(-260), Value::Map(vec![(Value::from(1), map(&dgc))])));
        let mut out = Vec::new();
        ciborium::ser::into_writer(&Value::Map(claims), &mut out).unwrap();
        out
    }

    fn recovery(df: &str, du: &str) -> Value {
        Value::Array(vec![map(&[
            ("tg", text("840539006")),
            ("fr", text("2021-04-10")),
            ("df", text(df)),
            ("du", text(du)),
            ("ci", text("URN:UVCI:01:DE:R1")),
        ])])
    }

    fn test_entry(tt: &str, sc: &str) -> Value {
        Value::Array(vec![map(&[("tt", text(tt)), ("sc", text(sc)), ("ci", text("URN:UVCI:01:DE:T1"))])])
    }

    fn unix(rfc3339: &str) -> i64 {
        time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339).unwrap().unix_timestamp()
    }

    fn reason(result: Result<Dcc, Rejection>) -> (crate::Code, String) {
        match result.unwrap_err() {
            r @ (Rejection::SchemaInvalid { .. } | Rejection::CwtMalformed { .. }) => (r.code(), r.to_string()),
            other => panic!("unexpected rejection {other:?}"),
        }
    }

    #[test]
    fn null_entry_arrays_of_1_0_payloads_count_as_absent() {
        let entries = [("v", Value::Null), ("t", Value::Null), ("r", recovery("2021-04-20", "2021-10-10"))];
        let dcc = decode_claims(&claims(Some(Value::from(1_650_000_000)), &entries)).unwrap();
        assert_eq!((dcc.kind, dcc.certificate_id.as_str()), (DccKind::Recovery, "URN:UVCI:01:DE:R1"));
        assert!(dcc.warnings.is_empty(), "null for an absent array is not worth a warning");
        // Only nulls: no entry at all. Anything else that is not an array is still refused.
        let nothing = [("v", Value::Null), ("t", Value::Null), ("r", Value::Null)];
        assert!(reason(decode_claims(&claims(Some(Value::from(1)), &nothing))).1.contains("no v/t/r entry"));
        let number = [("v", Value::from(0)), ("r", recovery("2021-04-20", "2021-10-10"))];
        assert!(reason(decode_claims(&claims(Some(Value::from(1)), &number))).1.contains("v is not an array"));
    }

    #[test]
    fn a_missing_exp_is_bounded_by_the_entrys_own_dates_with_a_warning() {
        let r = decode_claims(&claims(None, &[("r", recovery("2021-04-20", "2021-10-10"))])).unwrap();
        assert_eq!((r.not_before, r.expires_at), (Some(unix("2021-04-20T00:00:00Z")), unix("2021-10-10T23:59:59Z")));
        assert_eq!(
            r.warnings,
            vec![DccWarning::NoExpiry { source: ExpirySource::RecoveryValidUntil, valid_until: r.expires_at }]
        );
        let pcr = decode_claims(&claims(None, &[("t", test_entry("LP6464-4", "2021-05-29T19:21:13+02:00"))])).unwrap();
        let sampled = unix("2021-05-29T17:21:13Z");
        assert_eq!((pcr.not_before, pcr.expires_at), (Some(sampled), sampled + 72 * 3600));
        let rat = decode_claims(&claims(None, &[("t", test_entry("LP217198-3", "2021-05-29T17:21:13Z"))])).unwrap();
        assert_eq!(rat.expires_at, sampled + 48 * 3600);
        assert_eq!(rat.warnings[0].code(), "NO_EXPIRY");
        let jab = Value::Array(vec![map(&[
            ("dt", text("2021-06-01")),
            ("dn", Value::from(2)),
            ("sd", Value::from(2)),
            ("ci", text("URN:UVCI:01:DE:V1")),
        ])]);
        let v = decode_claims(&claims(None, &[("v", jab)])).unwrap();
        assert_eq!(v.expires_at, unix("2021-06-01T00:00:00Z") + 365 * 86_400);
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["warnings"][0]["code"], "NO_EXPIRY");
        assert_eq!(json["warnings"][0]["source"], "dt+365d");
        assert_eq!(json["warnings"][0]["valid_until"], "2022-06-01T00:00:00Z");
        assert!(json["warnings"][0]["message"]["zh"].as_str().unwrap().contains("接种日期"));
    }

    #[test]
    fn what_would_make_a_date_or_an_entry_ambiguous_is_still_refused() {
        let r = || ("r", recovery("2021-04-20", "2021-10-10"));
        let schema_invalid = crate::Code::SchemaInvalid;
        // exp or iat present but not a NumericDate: refused, never read as absent.
        for exp in [Value::Null, text("2022-01-01"), Value::Float(1.5e9 + 0.5)] {
            assert_eq!(reason(decode_claims(&claims(Some(exp), &[r()]))).0, schema_invalid);
        }
        let mut bad_iat = ciborium::de::from_reader::<Value, _>(&claims(Some(Value::from(1)), &[r()])[..]).unwrap();
        if let Value::Map(m) = &mut bad_iat {
            m[1].1 = text("yesterday");
        }
        let mut bytes = Vec::new();
        ciborium::ser::into_writer(&bad_iat, &mut bytes).unwrap();
        assert!(reason(decode_claims(&bytes)).1.contains("iat is not a NumericDate"));
        // A claim or a DCC key twice: which one counts would be a guess.
        let mut twice = ciborium::de::from_reader::<Value, _>(&claims(Some(Value::from(1)), &[r()])[..]).unwrap();
        if let Value::Map(m) = &mut twice {
            m.push((Value::from(4), Value::from(2_000_000_000)));
        }
        let mut bytes = Vec::new();
        ciborium::ser::into_writer(&twice, &mut bytes).unwrap();
        assert_eq!(reason(decode_claims(&bytes)).0, crate::Code::CwtMalformed);
        let hidden = [("v", Value::Null), r(), ("v", Value::Array(vec![]))];
        assert!(reason(decode_claims(&claims(Some(Value::from(1)), &hidden))).1.contains("occurs twice"));
        // Without exp, the dates that bound validity must be dates, and a sample time must have a zone.
        let no_zone = [("t", test_entry("LP6464-4", "2021-05-29T19:21:13"))];
        assert!(reason(decode_claims(&claims(None, &no_zone))).1.contains("time zone"));
        let day_only = [("t", test_entry("LP6464-4", "2021-05-29"))];
        assert!(reason(decode_claims(&claims(None, &day_only))).1.contains("no time of day"));
        let not_a_date = [("r", recovery("2021-04-20", "in six months"))];
        assert_eq!(reason(decode_claims(&claims(None, &not_a_date))).0, schema_invalid);
        let signed_year = [("r", recovery("2021-04-20", "+2021-10-10"))];
        assert_eq!(reason(decode_claims(&claims(None, &signed_year))).0, schema_invalid);
        // With exp, the entry's dates are shown as written and not interpreted (as before).
        assert!(decode_claims(&claims(Some(Value::from(1)), &not_a_date)).is_ok());
    }

    #[test]
    fn without_exp_the_derived_bounds_and_the_signer_certificate_decide() {
        let signer = |not_before: i64, not_after: i64| DccSigner {
            kid: [0; 8],
            key: huren_keys::SigningKey::generate().unwrap().public().clone(),
            not_before,
            not_after,
            kinds: vec![DccKind::Recovery],
        };
        let long_lived = signer(unix("2021-01-01T00:00:00Z"), unix("2023-01-01T00:00:00Z"));
        let mut dcc = decode_claims(&claims(None, &[("r", recovery("2021-04-20", "2021-10-10"))])).unwrap();
        bound_by_signer(&mut dcc, &long_lived);
        let code =
            |dcc: &Dcc, signer: &DccSigner, at: &str| check_validity(dcc, signer, unix(at)).map_err(|r| r.code());
        assert_eq!(code(&dcc, &long_lived, "2021-04-19T23:00:00Z"), Err(crate::Code::NotYetValid));
        assert_eq!(code(&dcc, &long_lived, "2021-04-19T23:56:00Z"), Ok(()), "within the 5-minute skew");
        assert_eq!(code(&dcc, &long_lived, "2021-10-10T23:59:59Z"), Ok(()));
        assert_eq!(code(&dcc, &long_lived, "2021-10-11T00:00:00Z"), Err(crate::Code::Expired));
        // A signer certificate that ends first ends the DCC's validity, and the warning says so.
        let short_lived = signer(unix("2021-01-01T00:00:00Z"), unix("2021-08-01T00:00:00Z"));
        let mut dcc = decode_claims(&claims(None, &[("r", recovery("2021-04-20", "2021-10-10"))])).unwrap();
        bound_by_signer(&mut dcc, &short_lived);
        assert_eq!(dcc.expires_at, short_lived.not_after);
        assert_eq!(
            dcc.warnings,
            vec![DccWarning::NoExpiry { source: ExpirySource::SignerCertificate, valid_until: short_lived.not_after }]
        );
        assert!(code(&dcc, &short_lived, "2021-08-02T00:00:00Z").is_err());
        // With exp, nothing changes: the entry's dates and the certificate's end are not folded in.
        let mut with_exp =
            decode_claims(&claims(Some(Value::from(1_700_000_000)), &[("r", recovery("2021-04-20", "2021-10-10"))]))
                .unwrap();
        bound_by_signer(&mut with_exp, &short_lived);
        assert_eq!((with_exp.expires_at, with_exp.not_before), (1_700_000_000, None));
        assert!(with_exp.warnings.is_empty());
    }

    #[test]
    fn hostile_hc1_texts_get_their_codes() {
        let trust = DccTrust::default();
        let code = |t: &str| verify_dcc(t, &trust, 0).unwrap_err().code();
        assert_eq!(code("HR1:ABC"), crate::Code::PrefixUnknown);
        assert_eq!(code("HC1:~~~"), crate::Code::Base45Invalid);
        assert_eq!(code(&format!("HC1:{}", "0".repeat(MAX_DCC_TEXT))), crate::Code::PayloadTooLarge);
        // A zlib header on garbage, and base45 of bytes that are not COSE.
        let zlib_garbage = huren_wallet_core::base45::encode(&[0x78, 0x9c, 0xff, 0xff, 0x00]);
        assert_eq!(code(&format!("HC1:{zlib_garbage}")), crate::Code::DecompressionFailed);
        let not_cose = huren_wallet_core::base45::encode(b"hello");
        assert_eq!(code(&format!("HC1:{not_cose}")), crate::Code::CoseMalformed);
    }
}
