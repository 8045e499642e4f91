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
    /// The end of validity: `exp`, or when the CWT has none, the bound derived from the entry's dates
    /// ([`derived_validity`]) and, once verified, the signer certificate's end; a [`DccWarning::NoExpiry`] then
    /// says so.
    pub expires_at: i64,
    /// Not valid before this time: only set when the CWT has no `exp` (the entry's start: `df`, `sc` or `dt`, and
    /// once verified the signer certificate's start). With `exp`, validity is the issuer's `exp` alone, as before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_before: Option<i64>,
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
    /// What staff should know about an accepted certificate (the kiosk turns a warning into an amber answer).
    pub warnings: Vec<DccWarning>,
}

/// Where Huren took the end of validity of a DCC without `exp` from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExpirySource {
    /// A recovery's `du` (certificate valid until), to the end of that day (UTC).
    RecoveryValidUntil,
    /// A NAAT (PCR) test's sample time `sc` plus [`NAAT_VALIDITY`].
    NaatSampleTime,
    /// Any other test's sample time `sc` plus [`OTHER_TEST_VALIDITY`].
    TestSampleTime,
    /// A vaccination's date `dt` plus [`VACCINATION_VALIDITY`].
    VaccinationDate,
    /// The signer certificate, which ends before the entry's bound.
    SignerCertificate,
}

impl ExpirySource {
    /// Stable machine name.
    pub fn name(self) -> &'static str {
        match self {
            ExpirySource::RecoveryValidUntil => "du",
            ExpirySource::NaatSampleTime => "sc+72h",
            ExpirySource::TestSampleTime => "sc+48h",
            ExpirySource::VaccinationDate => "dt+365d",
            ExpirySource::SignerCertificate => "signer-certificate",
        }
    }

    fn en(self) -> &'static str {
        match self {
            ExpirySource::RecoveryValidUntil => "the recovery's valid-until date (du)",
            ExpirySource::NaatSampleTime => "the PCR sample time (sc) + 72 h",
            ExpirySource::TestSampleTime => "the test's sample time (sc) + 48 h",
            ExpirySource::VaccinationDate => "the vaccination date (dt) + 365 days",
            ExpirySource::SignerCertificate => "the signer certificate's expiry",
        }
    }

    fn zh(self) -> &'static str {
        match self {
            ExpirySource::RecoveryValidUntil => "康复证明的有效截止日（du）",
            ExpirySource::NaatSampleTime => "核酸检测采样时间（sc）加 72 小时",
            ExpirySource::TestSampleTime => "检测采样时间（sc）加 48 小时",
            ExpirySource::VaccinationDate => "接种日期（dt）加 365 天",
            ExpirySource::SignerCertificate => "签名证书的到期时间",
        }
    }
}

/// A remark on a valid DCC. Warnings never refuse anything (refusals are [`Rejection`]s); they tell staff to look
/// again. Serialised as `{"code", "message": {"en", "zh"}, ...}` in the CLI's `--json` answer (`dcc.warnings`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DccWarning {
    /// The CWT has no `exp` (real 2021 certificates): Huren accepted it until `valid_until`, taken from `source`.
    NoExpiry {
        /// What bounded the validity.
        source: ExpirySource,
        /// The end of validity Huren used (Unix seconds); also the DCC's `expires_at`.
        valid_until: i64,
    },
}

impl DccWarning {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            DccWarning::NoExpiry { .. } => "NO_EXPIRY",
        }
    }

    /// One line in English.
    pub fn message_en(&self) -> String {
        match self {
            DccWarning::NoExpiry { source, valid_until } => {
                format!("The certificate states no expiry; accepted until {} ({})", utc(*valid_until), source.en())
            }
        }
    }

    /// One line in Chinese.
    pub fn message_zh(&self) -> String {
        match self {
            DccWarning::NoExpiry { source, valid_until } => {
                format!("证书未写明有效期；按{}认可至 {}", source.zh(), utc(*valid_until))
            }
        }
    }
}

impl serde::Serialize for DccWarning {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("code", self.code())?;
        match self {
            DccWarning::NoExpiry { source, valid_until } => {
                map.serialize_entry("source", source.name())?;
                map.serialize_entry("valid_until", &utc(*valid_until))?;
            }
        }
        let message = [("en", self.message_en()), ("zh", self.message_zh())];
        map.serialize_entry("message", &message.into_iter().collect::<std::collections::BTreeMap<_, _>>())?;
        map.end()
    }
}

/// RFC 3339 in UTC, as answers write times.
fn utc(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

/// How long a NAAT (PCR, `tt` LP6464-4) result is accepted after its sample time when the CWT has no `exp`: the
/// EU's common acceptance period in 2021 (Council Recommendation (EU) 2020/1475 as amended by (EU) 2021/961).
pub const NAAT_VALIDITY: i64 = 72 * 3600;
/// The same for any other test (rapid antigen, or a type Huren does not know): the shorter EU bound.
pub const OTHER_TEST_VALIDITY: i64 = 48 * 3600;
/// The same for a vaccination, from its date: the one-year `exp` issuers set in 2021.
pub const VACCINATION_VALIDITY: i64 = 365 * 86_400;
/// Clock difference tolerated on the start of a derived validity, as for Huren's own `iat`/`nbf` (5 minutes).
pub const DERIVED_START_SKEW: i64 = 300;
const NAAT: &str = "LP6464-4";

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

/// The value under `key`, or none; a key that occurs twice is refused (which value counts would be a guess, and
/// with `null` meaning absent, `"v": null, "v": [...]` would otherwise hide an entry).
fn field<'a>(map: &'a [(Value, Value)], key: &str) -> Result<Option<&'a Value>, Rejection> {
    let mut found = map.iter().filter(|(k, _)| k.as_text() == Some(key)).map(|(_, v)| v);
    let first = found.next();
    if found.next().is_some() {
        return Err(schema(format!("key {key:?} occurs twice")));
    }
    Ok(first)
}

/// A text field; a tagged text (some issuers tag `sc` as a CBOR date-time, tag 0) counts as its text.
fn text_field(map: &[(Value, Value)], key: &str) -> Result<Option<String>, Rejection> {
    Ok(field(map, key)?.and_then(|value| match value {
        Value::Tag(_, inner) => inner.as_text().map(str::to_string),
        other => other.as_text().map(str::to_string),
    }))
}

/// A CWT claim by its integer key; a claim that occurs twice makes the CWT malformed.
fn int_claim(map: &[(Value, Value)], key: i64) -> Result<Option<&Value>, Rejection> {
    let mut found =
        map.iter().filter(|(k, _)| k.as_integer().and_then(|i| i64::try_from(i).ok()) == Some(key)).map(|(_, v)| v);
    let first = found.next();
    if found.next().is_some() {
        return Err(Rejection::CwtMalformed { reason: format!("claim {key} occurs twice") });
    }
    Ok(first)
}

/// A NumericDate claim (`exp`, `iat`): absent is `None`; present, it must be a date, `null` included (a date that
/// is there but unreadable is refused, never taken as absent).
fn date_claim(map: &[(Value, Value)], key: i64, name: &str) -> Result<Option<i64>, Rejection> {
    match int_claim(map, key)? {
        None => Ok(None),
        Some(value) => as_i64(value).map(Some).ok_or_else(|| schema(format!("{name} is not a NumericDate"))),
    }
}

/// Start of a `YYYY-MM-DD` day (UTC), or an RFC 3339 date-time with its zone. A date-time without a zone is
/// refused: its instant would be a guess within 26 hours.
fn parse_date(text: &str) -> Option<(i64, bool)> {
    use time::format_description::well_known::Rfc3339;
    let b = text.as_bytes();
    if b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
    {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let day = time::Date::parse(text, format).ok()?;
        return Some((day.midnight().assume_utc().unix_timestamp(), true));
    }
    time::OffsetDateTime::parse(text, &Rfc3339).ok().map(|t| (t.unix_timestamp(), false))
}

/// The validity of a DCC whose CWT has no `exp`, from its entry alone: `(not before, not after, source)`.
///
/// - recovery: from `df` to the end of `du` (dates are UTC days);
/// - test: from the sample time `sc` (a date-time with a zone) for [`NAAT_VALIDITY`] (`tt` LP6464-4) or
///   [`OTHER_TEST_VALIDITY`];
/// - vaccination: from `dt` for [`VACCINATION_VALIDITY`].
///
/// The signer certificate bounds it further once the signer is known ([`verify_dcc`]).
pub fn derived_validity(kind: DccKind, entry: &[(Value, Value)]) -> Result<(i64, i64, ExpirySource), Rejection> {
    let date = |key: &str| -> Result<(i64, bool), Rejection> {
        let text = text_field(entry, key)?.ok_or_else(|| schema(format!("no exp, and no {key} to bound validity")))?;
        parse_date(&text).ok_or_else(|| {
            schema(format!("no exp, and {key} ({text:?}) is not a date or a date-time with a time zone"))
        })
    };
    let overflow = || schema("no exp, and the entry's dates are out of range");
    match kind {
        DccKind::Recovery => {
            let (from, _) = date("df")?;
            let (until, whole_day) = date("du")?;
            let until = if whole_day { until.checked_add(86_399).ok_or_else(overflow)? } else { until };
            Ok((from, until, ExpirySource::RecoveryValidUntil))
        }
        DccKind::Test => {
            let (sampled, whole_day) = date("sc")?;
            if whole_day {
                return Err(schema("no exp, and the sample time (sc) has no time of day"));
            }
            let naat = text_field(entry, "tt")?.as_deref() == Some(NAAT);
            let (span, source) = if naat {
                (NAAT_VALIDITY, ExpirySource::NaatSampleTime)
            } else {
                (OTHER_TEST_VALIDITY, ExpirySource::TestSampleTime)
            };
            Ok((sampled, sampled.checked_add(span).ok_or_else(overflow)?, source))
        }
        DccKind::Vaccination => {
            let (vaccinated, _) = date("dt")?;
            Ok((
                vaccinated,
                vaccinated.checked_add(VACCINATION_VALIDITY).ok_or_else(overflow)?,
                ExpirySource::VaccinationDate,
            ))
        }
    }
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
    let issuer = int_claim(&claims, 1)?.and_then(|v| v.as_text().map(str::to_string));
    let exp = date_claim(&claims, 4, "exp")?;
    let issued_at = date_claim(&claims, 6, "iat")?;
    let hcert = int_claim(&claims, -260)?.and_then(Value::as_map).ok_or_else(|| schema("no hcert claim (-260)"))?;
    let dgc = int_claim(hcert, 1)?.and_then(Value::as_map).ok_or_else(|| schema("no DCC in hcert (key 1)"))?;
    let version = text_field(dgc, "ver")?.ok_or_else(|| schema("no schema version (ver)"))?;
    let nam = field(dgc, "nam")?.and_then(Value::as_map).ok_or_else(|| schema("no name (nam)"))?;
    let name = DccName {
        family: text_field(nam, "fn")?,
        family_std: text_field(nam, "fnt")?.filter(|s| !s.is_empty()).ok_or_else(|| schema("no fnt"))?,
        given: text_field(nam, "gn")?,
        given_std: text_field(nam, "gnt")?,
    };
    let std_name_ok = |s: &str| s.len() <= 80 && s.chars().all(|c| c.is_ascii_uppercase() || c == '<');
    if !std_name_ok(&name.family_std) || name.given_std.as_deref().is_some_and(|g| !std_name_ok(g)) {
        return Err(schema("transliterated names must be A-Z and <, at most 80 characters"));
    }
    let date_of_birth = text_field(dgc, "dob")?.ok_or_else(|| schema("no date of birth (dob)"))?;
    let mut entries = Vec::new();
    for (key, kind) in [("v", DccKind::Vaccination), ("t", DccKind::Test), ("r", DccKind::Recovery)] {
        // Schema 1.0.x payloads from several issuers carry `"v": null` (and t, r) for an absent array; the
        // reference verifiers read null as absent, and so does Huren. Anything else that is not an array is refused.
        if let Some(list) = field(dgc, key)?.filter(|v| !v.is_null()) {
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
    let certificate_id = text_field(entry, "ci")?.ok_or_else(|| schema("no certificate identifier (ci)"))?;
    let date_keys: &[&str] = match kind {
        DccKind::Vaccination => &["dt"],
        DccKind::Test => &["sc"],
        DccKind::Recovery => &["fr", "df", "du"],
    };
    let key_dates = date_keys
        .iter()
        .map(|k| text_field(entry, k)?.map(|v| (k.to_string(), v)).ok_or_else(|| schema(format!("no {k}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let dose = match kind {
        DccKind::Vaccination => {
            let n = |k| -> Result<Option<u64>, Rejection> {
                Ok(field(entry, k)?.and_then(as_i64).and_then(|v| u64::try_from(v).ok()))
            };
            Some((n("dn")?.ok_or_else(|| schema("no dn"))?, n("sd")?.ok_or_else(|| schema("no sd"))?))
        }
        _ => None,
    };
    // Real 2021 certificates without `exp` are accepted, as the reference verifiers accept them, but only within
    // what the entry itself allows (and, in `verify_dcc`, the signer certificate), and with a warning.
    let (expires_at, not_before, warnings) = match exp {
        Some(exp) => (exp, None, Vec::new()),
        None => {
            let (from, until, source) = derived_validity(kind, entry)?;
            (until, Some(from), vec![DccWarning::NoExpiry { source, valid_until: until }])
        }
    };
    Ok(Dcc {
        issuer,
        issued_at,
        expires_at,
        not_before,
        version,
        name,
        date_of_birth,
        kind,
        key_dates,
        dose,
        certificate_id,
        warnings,
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
