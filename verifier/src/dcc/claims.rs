//! What an EU DCC says: its CWT claims and `hcert` payload decoded into a typed [`Dcc`], checked against the
//! schema as far as a verifier relies on it, and the validity derived from its own dates when `exp` is missing.

use ciborium::Value;

use super::{signers::DccKind, MAX_DEPTH};
use crate::Rejection;

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
pub(crate) fn utc(t: i64) -> String {
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
pub(crate) const NAAT: &str = "LP6464-4";

pub(crate) fn schema(reason: impl Into<String>) -> Rejection {
    Rejection::SchemaInvalid { reason: reason.into() }
}

/// The value under `key`, or none; a key that occurs twice is refused (which value counts would be a guess, and
/// with `null` meaning absent, `"v": null, "v": [...]` would otherwise hide an entry).
pub(crate) fn field<'a>(map: &'a [(Value, Value)], key: &str) -> Result<Option<&'a Value>, Rejection> {
    let mut found = map.iter().filter(|(k, _)| k.as_text() == Some(key)).map(|(_, v)| v);
    let first = found.next();
    if found.next().is_some() {
        return Err(schema(format!("key {key:?} occurs twice")));
    }
    Ok(first)
}

/// A text field; a tagged text (some issuers tag `sc` as a CBOR date-time, tag 0) counts as its text.
pub(crate) fn text_field(map: &[(Value, Value)], key: &str) -> Result<Option<String>, Rejection> {
    Ok(field(map, key)?.and_then(|value| match value {
        Value::Tag(_, inner) => inner.as_text().map(str::to_string),
        other => other.as_text().map(str::to_string),
    }))
}

/// A CWT claim by its integer key; a claim that occurs twice makes the CWT malformed.
pub(crate) fn int_claim(map: &[(Value, Value)], key: i64) -> Result<Option<&Value>, Rejection> {
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
pub(crate) fn date_claim(map: &[(Value, Value)], key: i64, name: &str) -> Result<Option<i64>, Rejection> {
    match int_claim(map, key)? {
        None => Ok(None),
        Some(value) => as_i64(value).map(Some).ok_or_else(|| schema(format!("{name} is not a NumericDate"))),
    }
}

/// Start of a `YYYY-MM-DD` day (UTC), or an RFC 3339 date-time with its zone. A date-time without a zone is
/// refused: its instant would be a guess within 26 hours.
pub(crate) fn parse_date(text: &str) -> Option<(i64, bool)> {
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

pub(crate) fn as_i64(value: &Value) -> Option<i64> {
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
