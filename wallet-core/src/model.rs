//! The credential data model: who it is about, what it says, who issued it and when it is valid.

use serde::{Deserialize, Serialize};

use huren_keys::{CredentialType, PublicKey};

use crate::Date;

/// A health credential as issued by a province. Times are Unix seconds (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// Issuing province, ISO 3166-2 (`CN-GD`): the CWT `iss` claim.
    pub issuer: String,
    /// Issue time: the CWT `iat` claim. Must lie in the signing key's usage window.
    pub issued_at: i64,
    /// Expiry: the CWT `exp` claim (mandatory).
    pub expires_at: i64,
    /// Optional start of validity: the CWT `nbf` claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<i64>,
    /// Credential id, 8 to 16 random bytes: the CWT `cti` claim.
    #[serde(with = "hex_bytes")]
    pub id: Vec<u8>,
    /// Where the credential's revocation status is published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusRef>,
    /// The person the credential is about.
    pub subject: Subject,
    /// What the credential states.
    pub body: Body,
    /// The holder's device key, when the credential is bound to one: the CWT `cnf` claim. A holder-bound
    /// credential is shown only as a dynamic presentation (`HP1:`, see [`crate::presentation`]); `None` keeps the
    /// static `HR1:` code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<HolderKey>,
}

/// A holder device's Ed25519 public key, bound to a credential by its `cnf` claim (RFC 8747).
///
/// Only valid keys exist: the 32 bytes are checked on construction (canonical, not of small order, torsion-free),
/// so a decoded credential's holder key is ready to verify presentations. In JSON it is 64 lower-case hex digits.
#[derive(Clone, PartialEq, Eq)]
pub struct HolderKey {
    bytes: [u8; 32],
    key: PublicKey,
}

impl HolderKey {
    /// A holder key from the 32 bytes of an Ed25519 public key.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, crate::Error> {
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| {
            crate::Error::Invalid(format!("a holder key is 32 bytes of Ed25519 public key, not {}", bytes.len()))
        })?;
        let key = PublicKey::from_ed25519_bytes(&bytes)?;
        Ok(HolderKey { bytes, key })
    }

    /// A holder key from a public key, which must be Ed25519.
    pub fn from_public_key(key: &PublicKey) -> Result<Self, crate::Error> {
        match (key.algorithm(), key.spki_der().get(ED25519_SPKI_PREFIX_LEN..)) {
            (huren_keys::Algorithm::EdDsa, Some(bytes)) => Self::from_bytes(bytes),
            (alg, _) => Err(crate::Error::Invalid(format!("a holder key must be Ed25519, not {alg}"))),
        }
    }

    /// The 32 bytes of the Ed25519 public key (the COSE_Key `x` parameter).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The key, to verify the holder's signatures with.
    pub fn public_key(&self) -> &PublicKey {
        &self.key
    }
}

/// Length of the DER prefix of an Ed25519 SubjectPublicKeyInfo, before the 32 key bytes.
const ED25519_SPKI_PREFIX_LEN: usize = 12;

impl std::fmt::Debug for HolderKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HolderKey({})", huren_keys::hex(&self.bytes))
    }
}

impl Serialize for HolderKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        hex_bytes::serialize(&self.bytes, s)
    }
}

impl<'de> Deserialize<'de> for HolderKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = hex_bytes::deserialize(d)?;
        HolderKey::from_bytes(&bytes).map_err(serde::de::Error::custom)
    }
}

impl Credential {
    /// The credential type, as key certificates scope it.
    pub fn credential_type(&self) -> CredentialType {
        self.body.credential_type()
    }

    /// What it claims that its signing key must be authorised for ([`huren_keys::TrustedKey::authorise`]).
    pub fn claimed(&self) -> huren_keys::Claimed<'_> {
        huren_keys::Claimed { issuer: &self.issuer, credential_type: self.credential_type(), issued_at: self.issued_at }
    }

    /// The validity window `(from, until)`, from included to until excluded: `nbf`/`iat` to `exp`, narrowed by the
    /// body (a health status's valid-until, a recovery's window, a test's sampling time, a vaccination's date,
    /// which cannot lie in the future). The one rule the verifier checks and the wallet shows.
    pub fn validity(&self) -> (i64, i64) {
        let mut from = self.not_before.unwrap_or(self.issued_at).max(self.issued_at);
        let mut until = self.expires_at;
        match &self.body {
            Body::HealthStatus(h) => until = until.min(h.valid_until.unwrap_or(until)),
            Body::Recovery(r) => {
                from = from.max(r.valid_from.start_unix());
                until = until.min(r.valid_until.end_unix());
            }
            Body::TestResult(t) => from = from.max(t.sampled_at),
            Body::Vaccination(v) => from = from.max(v.date.start_unix()),
        }
        (from, until)
    }
}

/// A position in a province's status list: list id and index (indices are assigned at random).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRef {
    /// Status list id.
    pub list: u32,
    /// Index within the list.
    pub index: u32,
}

/// The person: only what a checkpoint needs to match them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// Name as written (UTF-8, e.g. 张三).
    pub name: String,
    /// Optional pinyin transliteration (e.g. `ZHANG San`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinyin: Option<String>,
    /// Masked national ID: digits, `X` and `*` (e.g. `4403**********1234`).
    pub masked_id: String,
    /// Optional date of birth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<Date>,
}

/// What the credential states; exactly one kind per credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Body {
    /// A green / amber / red health status.
    HealthStatus(HealthStatus),
    /// A test result.
    TestResult(TestResult),
    /// A vaccination.
    Vaccination(Vaccination),
    /// A recovery.
    Recovery(Recovery),
}

impl Body {
    /// The credential type of this body.
    pub fn credential_type(&self) -> CredentialType {
        match self {
            Body::HealthStatus(_) => CredentialType::HealthStatus,
            Body::TestResult(_) => CredentialType::TestResult,
            Body::Vaccination(_) => CredentialType::Vaccination,
            Body::Recovery(_) => CredentialType::Recovery,
        }
    }
}

/// Health status with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthStatus {
    /// The colour shown at the checkpoint.
    pub colour: Colour,
    /// Why the province gave this colour.
    pub reason: Reason,
    /// When the status stops holding, if earlier than the credential's expiry (defaults to `exp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<i64>,
}

/// Health status colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Colour {
    /// No restriction.
    Green,
    /// Restricted movement; check required.
    Amber,
    /// Isolation required.
    Red,
}

/// Why a health status has its colour. Wire numbers are stable; new reasons get new numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Reason {
    /// Nothing found (0).
    NoRisk,
    /// Close contact of a case (1).
    CloseContact,
    /// Positive test (2).
    PositiveTest,
    /// Recent travel from a risk area (3).
    RiskAreaTravel,
    /// In quarantine or isolation (4).
    Quarantine,
    /// A required test is pending (5).
    AwaitingTest,
}

/// A test result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestResult {
    /// Kind of test.
    pub kind: TestKind,
    /// Outcome.
    pub outcome: TestOutcome,
    /// When the sample was taken (Unix seconds).
    pub sampled_at: i64,
    /// Testing centre, if stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub centre: Option<String>,
}

/// Kind of test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestKind {
    /// Nucleic acid amplification (PCR).
    Naat,
    /// Rapid antigen.
    Antigen,
}

/// Test outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TestOutcome {
    /// Not detected.
    Negative,
    /// Detected.
    Positive,
}

/// A vaccination dose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vaccination {
    /// Vaccine product code (short, e.g. `BBIBP`).
    pub product: String,
    /// Dose number, from 1.
    pub dose: u8,
    /// Doses in the series.
    pub doses: u8,
    /// Date of this dose.
    pub date: Date,
}

/// Recovery from infection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recovery {
    /// Date of the first positive test.
    pub first_positive: Date,
    /// First day the recovery counts.
    pub valid_from: Date,
    /// Last day the recovery counts.
    pub valid_until: Date,
}

impl Colour {
    /// How staff call it in English (`GREEN`).
    pub fn label_en(self) -> &'static str {
        match self {
            Colour::Green => "GREEN",
            Colour::Amber => "AMBER",
            Colour::Red => "RED",
        }
    }

    /// How staff call it in Chinese (`绿码`).
    pub fn label_zh(self) -> &'static str {
        match self {
            Colour::Green => "绿码",
            Colour::Amber => "黄码",
            Colour::Red => "红码",
        }
    }

    /// Wire number.
    pub fn code(self) -> u8 {
        match self {
            Colour::Green => 0,
            Colour::Amber => 1,
            Colour::Red => 2,
        }
    }

    /// From a wire number.
    pub fn from_code(code: u64) -> Option<Self> {
        [Colour::Green, Colour::Amber, Colour::Red].into_iter().find(|c| u64::from(c.code()) == code)
    }
}

impl Reason {
    const ALL: [Reason; 6] = [
        Reason::NoRisk,
        Reason::CloseContact,
        Reason::PositiveTest,
        Reason::RiskAreaTravel,
        Reason::Quarantine,
        Reason::AwaitingTest,
    ];

    /// Wire number.
    pub fn code(self) -> u8 {
        match self {
            Reason::NoRisk => 0,
            Reason::CloseContact => 1,
            Reason::PositiveTest => 2,
            Reason::RiskAreaTravel => 3,
            Reason::Quarantine => 4,
            Reason::AwaitingTest => 5,
        }
    }

    /// From a wire number.
    pub fn from_code(code: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|r| u64::from(r.code()) == code)
    }

    /// Short English text for staff.
    pub fn message_en(self) -> &'static str {
        match self {
            Reason::NoRisk => "no risk found",
            Reason::CloseContact => "close contact of a case",
            Reason::PositiveTest => "positive test",
            Reason::RiskAreaTravel => "recent travel from a risk area",
            Reason::Quarantine => "in quarantine",
            Reason::AwaitingTest => "test result pending",
        }
    }

    /// Short Chinese text for staff.
    pub fn message_zh(self) -> &'static str {
        match self {
            Reason::NoRisk => "未见异常",
            Reason::CloseContact => "密切接触者",
            Reason::PositiveTest => "检测阳性",
            Reason::RiskAreaTravel => "近期到访风险地区",
            Reason::Quarantine => "隔离中",
            Reason::AwaitingTest => "检测结果待出",
        }
    }
}

impl TestKind {
    /// Wire number.
    pub fn code(self) -> u8 {
        match self {
            TestKind::Naat => 0,
            TestKind::Antigen => 1,
        }
    }

    /// From a wire number.
    pub fn from_code(code: u64) -> Option<Self> {
        [TestKind::Naat, TestKind::Antigen].into_iter().find(|k| u64::from(k.code()) == code)
    }
}

impl TestOutcome {
    /// Wire number.
    pub fn code(self) -> u8 {
        match self {
            TestOutcome::Negative => 0,
            TestOutcome::Positive => 1,
        }
    }

    /// From a wire number.
    pub fn from_code(code: u64) -> Option<Self> {
        [TestOutcome::Negative, TestOutcome::Positive].into_iter().find(|o| u64::from(o.code()) == code)
    }
}

/// Serde helper: bytes as lower-case hex strings in JSON.
mod hex_bytes {
    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&huren_keys::hex(bytes))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        use serde::Deserialize;
        let s = String::deserialize(d)?;
        huren_keys::unhex(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential() -> Credential {
        Credential {
            issuer: "CN-GD".into(),
            issued_at: 1_790_000_000,
            expires_at: 1_790_604_800,
            not_before: None,
            id: vec![7; 8],
            status: None,
            subject: Subject {
                name: "张三".into(), pinyin: None, masked_id: "4403**1234".into(), date_of_birth: None
            },
            body: Body::HealthStatus(HealthStatus { colour: Colour::Green, reason: Reason::NoRisk, valid_until: None }),
            holder: None,
        }
    }

    #[test]
    fn hex_in_json_has_one_spelling() {
        let json = serde_json::to_string(&credential()).unwrap();
        assert_eq!(serde_json::from_str::<Credential>(&json).unwrap(), credential());
        // `+7` is what `u8::from_str_radix` reads as 0x07: the same id spelt another way.
        for alias in ["+707070707070707", " 707070707070707", "0707070707070707 ", "070707070707070", "07070707070707é"]
        {
            let altered = json.replace("\"0707070707070707\"", &format!("\"{alias}\""));
            assert_ne!(altered, json);
            assert!(serde_json::from_str::<Credential>(&altered).is_err(), "id {alias:?} accepted");
        }
        let key = huren_keys::SigningKey::generate().unwrap();
        let holder = HolderKey::from_public_key(key.public()).unwrap();
        let text = serde_json::to_string(&holder).unwrap();
        assert_eq!(serde_json::from_str::<HolderKey>(&text).unwrap(), holder);
        let upper = text.to_ascii_uppercase();
        assert_ne!(upper, text, "64 hex digits with no letter: practically impossible");
        assert!(serde_json::from_str::<HolderKey>(&upper).is_err(), "upper-case holder key accepted");
    }
}
