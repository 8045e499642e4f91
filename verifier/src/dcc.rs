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

use ciborium::Value;
use huren_keys::cose::Sign1;
use huren_keys::PublicKey;
use sha2::{Digest, Sha256};

use crate::Rejection;

/// The QR text prefix of an EU DCC.
pub const HC1_PREFIX: &str = "HC1:";
/// Largest decompressed DCC accepted, in bytes.
pub const MAX_DCC_BYTES: usize = 16 * 1024;
/// Longest DCC QR text accepted, in characters.
pub const MAX_DCC_TEXT: usize = 8 * 1024;
/// Nesting depth allowed in a DCC's CBOR.
const MAX_DEPTH: usize = 8;

/// Key usage OIDs: the specified ones, then the variant with an extra `.0` that the first version of the
/// specification printed and several member states issued; the EU reference verifiers accept both.
const EKU_OIDS: [(&str, DccKind); 6] = [
    ("1.3.6.1.4.1.1847.2021.1.1", DccKind::Test),
    ("1.3.6.1.4.1.1847.2021.1.2", DccKind::Vaccination),
    ("1.3.6.1.4.1.1847.2021.1.3", DccKind::Recovery),
    ("1.3.6.1.4.1.0.1847.2021.1.1", DccKind::Test),
    ("1.3.6.1.4.1.0.1847.2021.1.2", DccKind::Vaccination),
    ("1.3.6.1.4.1.0.1847.2021.1.3", DccKind::Recovery),
];
const OID_EXTENDED_KEY_USAGE: &str = "2.5.29.37";

/// The kind of statement a DCC makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DccKind {
    /// `v`: vaccination.
    Vaccination,
    /// `t`: test.
    Test,
    /// `r`: recovery.
    Recovery,
}

impl DccKind {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            DccKind::Vaccination => "vaccination",
            DccKind::Test => "test",
            DccKind::Recovery => "recovery",
        }
    }
}

/// A document signer: its key and what its certificate allows.
#[derive(Debug, Clone)]
pub struct DccSigner {
    /// The DCC kid: the first 8 bytes of SHA-256 over the certificate.
    pub kid: [u8; 8],
    /// The public key (ES256 or PS256).
    pub key: PublicKey,
    /// Certificate validity (Unix seconds).
    pub not_before: i64,
    /// Certificate validity end (Unix seconds).
    pub not_after: i64,
    /// Statement kinds it may sign (all three when the certificate has no extended key usage).
    pub kinds: Vec<DccKind>,
}

impl DccSigner {
    /// A signer from a DER certificate. Real signer certificates are not always strict DER; the parse is strict,
    /// and a certificate that does not parse is refused (its signature is never checked here: trust in it comes
    /// from the list it arrived in).
    pub fn from_certificate(der: &[u8]) -> Result<Self, String> {
        use x509_cert::der::{Decode, Encode};
        // Strict DER first; failing that, the same bytes with their encoding quirks normalised (see
        // [`normalise_der`]). Either way the kid is over the certificate as issued.
        let cert = match x509_cert::Certificate::from_der(der) {
            Ok(cert) => cert,
            Err(strict) => normalise_der(der)
                .and_then(|fixed| x509_cert::Certificate::from_der(&fixed).ok())
                .ok_or_else(|| format!("certificate: {strict}"))?,
        };
        let tbs = &cert.tbs_certificate;
        let spki = tbs.subject_public_key_info.to_der().map_err(|e| format!("certificate key: {e}"))?;
        let key = PublicKey::from_spki_der(&spki).map_err(|e| format!("certificate key: {e}"))?;
        if key.algorithm() == huren_keys::Algorithm::Ps256 {
            let bits = rsa_modulus_bits(tbs.subject_public_key_info.subject_public_key.raw_bytes())
                .ok_or("certificate key: unreadable RSA key")?;
            if !(2048..=4096).contains(&bits) {
                return Err(format!("certificate key: RSA with {bits} bits (2048 to 4096 accepted)"));
            }
        }
        let time = |t: &x509_cert::time::Time| i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
        let mut kinds = vec![DccKind::Test, DccKind::Vaccination, DccKind::Recovery];
        for ext in tbs.extensions.iter().flatten() {
            if ext.extn_id.to_string() != OID_EXTENDED_KEY_USAGE {
                continue;
            }
            let usage = x509_cert::ext::pkix::ExtendedKeyUsage::from_der(ext.extn_value.as_bytes())
                .map_err(|e| format!("extended key usage: {e}"))?;
            let oids: Vec<String> = usage.0.iter().map(ToString::to_string).collect();
            kinds = [DccKind::Test, DccKind::Vaccination, DccKind::Recovery]
                .into_iter()
                .filter(|kind| EKU_OIDS.iter().any(|(oid, k)| k == kind && oids.iter().any(|o| o == oid)))
                .collect();
        }
        let digest = Sha256::digest(der);
        let mut kid = [0u8; 8];
        kid.copy_from_slice(&digest[..8]);
        Ok(DccSigner {
            kid,
            key,
            not_before: time(&tbs.validity.not_before),
            not_after: time(&tbs.validity.not_after),
            kinds,
        })
    }
}

/// Re-encode a BER-ish certificate as DER, fixing the quirks real signer certificates have: lengths in long form
/// where the short form would do (or with leading zero bytes), BOOLEAN true as any non-zero byte, INTEGERs with
/// redundant leading bytes. Nothing else changes: tags and contents stay as they are, so a certificate that is
/// wrong in any other way still fails the strict parse that follows. Indefinite lengths are not accepted.
/// Bounded: depth 16, input at most 64 KiB.
pub fn normalise_der(input: &[u8]) -> Option<Vec<u8>> {
    fn length(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(u8::try_from(len).unwrap_or(0));
        } else {
            let bytes = len.to_be_bytes();
            let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len() - 1);
            out.push(0x80 | u8::try_from(bytes.len() - first).unwrap_or(0));
            out.extend_from_slice(&bytes[first..]);
        }
    }
    fn walk(mut input: &[u8], depth: usize, out: &mut Vec<u8>) -> Option<()> {
        if depth > 16 {
            return None;
        }
        while !input.is_empty() {
            let tag = *input.first()?;
            if tag & 0x1f == 0x1f {
                return None; // high tag numbers do not occur in certificates
            }
            let first = *input.get(1)?;
            let (len, header) = if first < 0x80 {
                (usize::from(first), 2)
            } else {
                let n = usize::from(first & 0x7f);
                if n == 0 || n > 4 {
                    return None; // indefinite, or absurdly long
                }
                let len = input.get(2..2 + n)?.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
                (len, 2 + n)
            };
            let content = input.get(header..header.checked_add(len)?)?;
            input = &input[header + len..];
            out.push(tag);
            if tag & 0x20 != 0 {
                let mut inner = Vec::with_capacity(content.len());
                walk(content, depth + 1, &mut inner)?;
                length(out, inner.len());
                out.extend_from_slice(&inner);
            } else if tag == 0x01 && content.len() == 1 {
                length(out, 1);
                out.push(if content[0] == 0 { 0x00 } else { 0xff });
            } else if tag == 0x02 && content.len() > 1 {
                let mut c = content;
                while c.len() > 1 && ((c[0] == 0x00 && c[1] & 0x80 == 0) || (c[0] == 0xff && c[1] & 0x80 != 0)) {
                    c = &c[1..];
                }
                length(out, c.len());
                out.extend_from_slice(c);
            } else {
                length(out, content.len());
                out.extend_from_slice(content);
            }
        }
        Some(())
    }
    if input.len() > 64 * 1024 {
        return None;
    }
    let mut out = Vec::with_capacity(input.len());
    walk(input, 0, &mut out)?;
    Some(out)
}

/// The modulus size, in bits, of a PKCS#1 RSAPublicKey (`SEQUENCE { INTEGER n, INTEGER e }`).
fn rsa_modulus_bits(pkcs1: &[u8]) -> Option<u64> {
    // Skip a tag and a definite length; return the content and what follows.
    fn tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        if *input.first()? != tag {
            return None;
        }
        let first = *input.get(1)?;
        let (len, header) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let n = usize::from(first & 0x7f);
            (input.get(2..2 + n)?.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b)), 2 + n)
        };
        let end = header.checked_add(len)?;
        Some((input.get(header..end)?, input.get(end..)?))
    }
    let (sequence, _) = tlv(pkcs1, 0x30)?;
    let (modulus, _) = tlv(sequence, 0x02)?;
    let significant = modulus.iter().position(|&b| b != 0).map(|i| &modulus[i..])?;
    let top = u64::from(8 - significant.first()?.leading_zeros());
    Some(u64::try_from(significant.len() - 1).ok()? * 8 + top)
}

/// The document signers a verifier trusts for EU DCCs.
#[derive(Debug, Clone, Default)]
pub struct DccTrust {
    signers: Vec<DccSigner>,
}

impl DccTrust {
    /// Trust these signers.
    pub fn new(signers: Vec<DccSigner>) -> Self {
        DccTrust { signers }
    }

    /// The signers.
    pub fn signers(&self) -> &[DccSigner] {
        &self.signers
    }

    /// Read a trust file: the EU DCC Gateway trust-list JSON (an array of objects with `rawData`, the base64 DER
    /// certificate; other fields are ignored), or PEM certificates. Certificates that do not parse are skipped and
    /// counted in the second value.
    pub fn parse(text: &str) -> Result<(Self, usize), String> {
        let trimmed = text.trim_start();
        let ders: Vec<Vec<u8>> = if trimmed.starts_with('[') || trimmed.starts_with('{') {
            let json: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("trust list JSON: {e}"))?;
            let entries = match &json {
                serde_json::Value::Array(a) => a.clone(),
                serde_json::Value::Object(o) => {
                    o.get("certificates").and_then(|c| c.as_array()).cloned().unwrap_or_default()
                }
                _ => Vec::new(),
            };
            entries
                .iter()
                .filter_map(|e| e.get("rawData").and_then(|r| r.as_str()))
                .filter_map(|b64| <base64ct::Base64 as base64ct::Encoding>::decode_vec(b64.trim()).ok())
                .collect()
        } else {
            pem_certificates(text)
        };
        if ders.is_empty() {
            return Err("no certificates found (expected DCC Gateway JSON with rawData, or PEM)".into());
        }
        let mut skipped = 0;
        let signers =
            ders.iter().filter_map(|der| DccSigner::from_certificate(der).map_err(|_| skipped += 1).ok()).collect();
        Ok((DccTrust { signers }, skipped))
    }
}

/// The DER bodies of the PEM `CERTIFICATE` blocks in `text`.
fn pem_certificates(text: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line == "-----BEGIN CERTIFICATE-----" {
            body = Some(String::new());
        } else if line == "-----END CERTIFICATE-----" {
            if let Some(b64) = body.take() {
                if let Ok(der) = <base64ct::Base64 as base64ct::Encoding>::decode_vec(&b64) {
                    out.push(der);
                }
            }
        } else if let Some(b) = body.as_mut() {
            b.push_str(line);
        }
    }
    out
}

/// A person's name in a DCC.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct DccName {
    /// Family name as written (`fn`).
    pub family: Option<String>,
    /// Family name, ICAO 9303 transliteration (`fnt`): required.
    pub family_std: String,
    /// Given name as written (`gn`).
    pub given: Option<String>,
    /// Given name, transliterated (`gnt`).
    pub given_std: Option<String>,
}

/// A verified EU DCC: what a checkpoint shows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Dcc {
    /// `iss`: issuing country, when present.
    pub issuer: Option<String>,
    /// `iat`.
    pub issued_at: Option<i64>,
    /// `exp`.
    pub expires_at: i64,
    /// Schema version (`ver`).
    pub version: String,
    /// The holder's name.
    pub name: DccName,
    /// Date of birth as written (`dob`: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, possibly empty).
    pub date_of_birth: String,
    /// The statement's kind.
    #[serde(skip)]
    pub kind: DccKind,
    /// The statement's key dates: vaccination date (`dt`), sample time (`sc`), or recovery first positive /
    /// valid from / valid until (`fr` / `df` / `du`), as written.
    pub key_dates: Vec<(String, String)>,
    /// Dose `dn` of `sd`, for a vaccination.
    pub dose: Option<(u64, u64)>,
    /// The unique certificate identifier (`ci`).
    pub certificate_id: String,
}

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
    for signer in trust.signers.iter().filter(|s| s.kid.as_slice() == sign1.kid()) {
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

fn schema(reason: impl Into<String>) -> Rejection {
    Rejection::SchemaInvalid { reason: reason.into() }
}

/// A text field; a tagged text (some issuers tag `sc` as a CBOR date-time, tag 0) counts as its text.
fn text_field(map: &[(Value, Value)], key: &str) -> Option<String> {
    let value = map.iter().find(|(k, _)| k.as_text() == Some(key)).map(|(_, v)| v)?;
    match value {
        Value::Tag(_, inner) => inner.as_text().map(str::to_string),
        other => other.as_text().map(str::to_string),
    }
}

fn field<'a>(map: &'a [(Value, Value)], key: &str) -> Option<&'a Value> {
    map.iter().find(|(k, _)| k.as_text() == Some(key)).map(|(_, v)| v)
}

fn int_claim(map: &[(Value, Value)], key: i64) -> Option<&Value> {
    map.iter().find(|(k, _)| k.as_integer().and_then(|i| i64::try_from(i).ok()) == Some(key)).map(|(_, v)| v)
}

fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Integer(i) => i64::try_from(*i).ok(),
        // Some issuers write times as floats.
        Value::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}").parse().ok(),
        _ => None,
    }
}

/// Decode the CWT claims of a DCC into a typed [`Dcc`] (schema checks on what a verifier shows).
pub fn decode_claims(payload: &[u8]) -> Result<Dcc, Rejection> {
    let mut reader = payload;
    let claims: Value = ciborium::de::from_reader_with_recursion_limit(&mut reader, MAX_DEPTH)
        .map_err(|e| Rejection::CwtMalformed { reason: format!("claims CBOR: {e}") })?;
    if !reader.is_empty() {
        return Err(Rejection::CwtMalformed { reason: "bytes after the claims".into() });
    }
    let Value::Map(claims) = claims else { return Err(Rejection::CwtMalformed { reason: "claims not a map".into() }) };
    let issuer = int_claim(&claims, 1).and_then(|v| v.as_text().map(str::to_string));
    let expires_at = int_claim(&claims, 4).and_then(as_i64).ok_or_else(|| schema("no expiry (exp)"))?;
    let issued_at = int_claim(&claims, 6).and_then(as_i64);
    let hcert = int_claim(&claims, -260).and_then(Value::as_map).ok_or_else(|| schema("no hcert claim (-260)"))?;
    let dgc = int_claim(hcert, 1).and_then(Value::as_map).ok_or_else(|| schema("no DCC in hcert (key 1)"))?;
    let version = text_field(dgc, "ver").ok_or_else(|| schema("no schema version (ver)"))?;
    let nam = field(dgc, "nam").and_then(Value::as_map).ok_or_else(|| schema("no name (nam)"))?;
    let name = DccName {
        family: text_field(nam, "fn"),
        family_std: text_field(nam, "fnt").filter(|s| !s.is_empty()).ok_or_else(|| schema("no fnt"))?,
        given: text_field(nam, "gn"),
        given_std: text_field(nam, "gnt"),
    };
    let std_name_ok = |s: &str| s.len() <= 80 && s.chars().all(|c| c.is_ascii_uppercase() || c == '<');
    if !std_name_ok(&name.family_std) || name.given_std.as_deref().is_some_and(|g| !std_name_ok(g)) {
        return Err(schema("transliterated names must be A-Z and <, at most 80 characters"));
    }
    let date_of_birth = text_field(dgc, "dob").ok_or_else(|| schema("no date of birth (dob)"))?;
    let mut entries = Vec::new();
    for (key, kind) in [("v", DccKind::Vaccination), ("t", DccKind::Test), ("r", DccKind::Recovery)] {
        if let Some(list) = field(dgc, key) {
            let list = list.as_array().ok_or_else(|| schema(format!("{key} is not an array")))?;
            entries.extend(list.iter().map(|e| (kind, e)));
        }
    }
    // One statement per certificate; early issuers put a whole vaccination series in `v`: the last entry is
    // the one the certificate is about (it is what the EU reference apps show).
    let Some(&(kind, entry)) = entries.last() else { return Err(schema("no v/t/r entry")) };
    if entries.iter().any(|(k, _)| *k != kind) {
        return Err(schema("entries of more than one kind (v/t/r)"));
    }
    let entry = entry.as_map().ok_or_else(|| schema("entry is not a map"))?;
    let certificate_id = text_field(entry, "ci").ok_or_else(|| schema("no certificate identifier (ci)"))?;
    let date_keys: &[&str] = match kind {
        DccKind::Vaccination => &["dt"],
        DccKind::Test => &["sc"],
        DccKind::Recovery => &["fr", "df", "du"],
    };
    let key_dates = date_keys
        .iter()
        .map(|k| text_field(entry, k).map(|v| (k.to_string(), v)).ok_or_else(|| schema(format!("no {k}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let dose = match kind {
        DccKind::Vaccination => {
            let n = |k| field(entry, k).and_then(as_i64).and_then(|v| u64::try_from(v).ok());
            Some((n("dn").ok_or_else(|| schema("no dn"))?, n("sd").ok_or_else(|| schema("no sd"))?))
        }
        _ => None,
    };
    Ok(Dcc { issuer, issued_at, expires_at, version, name, date_of_birth, kind, key_dates, dose, certificate_id })
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
    if now > dcc.expires_at {
        return Err(Rejection::Expired { now, expired_at: dcc.expires_at });
    }
    Ok(())
}

/// Verify an `HC1:` code offline against `trust` at `now`.
pub fn verify_dcc(text: &str, trust: &DccTrust, now: i64) -> Result<VerifiedDcc, Rejection> {
    let cose = decode_hc1(text)?;
    let sign1 = parse_cose(&cose)?;
    let (payload, signer) = verify_signature(&sign1, trust)?;
    let dcc = decode_claims(payload)?;
    check_validity(&dcc, signer, now)?;
    Ok(VerifiedDcc { dcc, kid: signer.kid })
}

#[cfg(test)]
mod tests {
    use super::*;

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
