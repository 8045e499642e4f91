//! The credential's CWT claims (RFC 8392) and their integer-keyed CBOR mapping (documented in docs/format.md).
//!
//! ```text
//! { 1: iss, 4: exp, 5: nbf?, 6: iat, 7: cti, 8: cnf?, -65537: huren }
//! cnf     = { 1: { 1: 1 (OKP), -1: 6 (Ed25519), -2: x (32 bytes) } }   ; the holder's device key (RFC 8747)
//! huren   = { 0: schema version (1), 1: [status list, index]?, 2: subject, 3..=6: body (key = 3 + type) }
//! subject = { 0: name, 1: pinyin?, 2: masked id (packed bytes or text), 3: date of birth (days)? }
//! ```

use ciborium::Value;

use huren_keys::cbor::{self, IntMap};
use huren_keys::Error as CborError;
use huren_keys::{cose, is_province_code, Signer};

use crate::model::*;
use crate::{Date, Error};

/// CWT claim keys used by Huren.
pub mod claim {
    /// Issuer (`iss`).
    pub const ISS: i64 = 1;
    /// Expiry (`exp`).
    pub const EXP: i64 = 4;
    /// Not before (`nbf`).
    pub const NBF: i64 = 5;
    /// Issued at (`iat`).
    pub const IAT: i64 = 6;
    /// Credential id (`cti`).
    pub const CTI: i64 = 7;
    /// Confirmation (`cnf`, RFC 8747): the holder's device key.
    pub const CNF: i64 = 8;
    /// The Huren payload, under a private-use key (below -65536 in the CWT registry).
    pub const HUREN: i64 = -65537;
}

/// The parts of the `cnf` claim Huren reads and writes: a COSE_Key (RFC 9052 §7) for an Ed25519 public key.
pub mod cose_key {
    /// `cnf` member holding a COSE_Key (RFC 8747 §3.2).
    pub const CNF_COSE_KEY: i64 = 1;
    /// COSE_Key parameter: key type.
    pub const KTY: i64 = 1;
    /// COSE_Key parameter: curve (for OKP keys).
    pub const CRV: i64 = -1;
    /// COSE_Key parameter: the public key bytes (for OKP keys).
    pub const X: i64 = -2;
    /// Key type OKP (octet key pair, RFC 9053 §7.2).
    pub const KTY_OKP: u64 = 1;
    /// Curve Ed25519 (RFC 9053 §7.1).
    pub const CRV_ED25519: u64 = 6;
}

/// Version of the Huren payload schema written by this code.
pub const SCHEMA_VERSION: u64 = 1;
/// Nesting depth allowed in a claims set.
pub const MAX_CLAIMS_DEPTH: usize = 6;
/// Longest text field, in characters.
const MAX_TEXT_CHARS: usize = 64;

impl Credential {
    /// Check the content an issuer may sign: a well-formed province, a consistent validity period, an id of 8 to
    /// 16 bytes, names by [`crate::name::check_name`], bounded texts and an ID that is really masked.
    pub fn check(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Invalid(m));
        if !is_province_code(&self.issuer) {
            return bad(format!("issuer {:?} is not an ISO 3166-2 code such as CN-GD", self.issuer));
        }
        if self.expires_at <= self.issued_at {
            return bad("expiry must be after the issue time".into());
        }
        if self.not_before.is_some_and(|nbf| nbf >= self.expires_at) {
            return bad("not-before must be before the expiry".into());
        }
        if !(8..=16).contains(&self.id.len()) {
            return bad(format!("credential id must be 8 to 16 bytes, not {}", self.id.len()));
        }
        // Names by the one rule for names (no invisible, reordering or unusual characters: a checkpoint shows them).
        crate::name::check_name(&self.subject.name).map_err(|p| Error::Invalid(format!("name: {p}")))?;
        if let Some(p) = &self.subject.pinyin {
            crate::name::check_name(p).map_err(|p| Error::Invalid(format!("pinyin: {p}")))?;
        }
        let id = &self.subject.masked_id;
        let visible = id.chars().filter(|c| *c != '*').count();
        if id.is_empty() || id.len() > 24 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '*') {
            return bad("masked ID must be 1 to 24 characters of digits, letters and '*'".into());
        }
        if !id.contains('*') || visible > 8 {
            return bad("the ID must be masked: at most 8 visible characters and at least one '*'".into());
        }
        match &self.body {
            Body::HealthStatus(h) => {
                if h.valid_until.is_some_and(|v| v > self.expires_at || v <= self.issued_at) {
                    return bad("health status valid-until must lie between issue time and expiry".into());
                }
            }
            Body::TestResult(t) => {
                if let Some(c) = &t.centre {
                    check_text("test centre", c)?;
                }
                if t.sampled_at > self.issued_at {
                    return bad("a test result cannot be issued before its sample was taken".into());
                }
            }
            Body::Vaccination(v) => {
                check_text("vaccine product", &v.product)?;
                if v.dose == 0 || v.dose > v.doses {
                    return bad("dose must be between 1 and the number of doses".into());
                }
                if Date::from_unix(self.issued_at).is_some_and(|today| v.date > today) {
                    return bad("a vaccination cannot be dated after its credential is issued".into());
                }
            }
            Body::Recovery(r) => {
                if r.valid_from > r.valid_until || r.first_positive > r.valid_from {
                    return bad("recovery dates must be first positive <= valid from <= valid until".into());
                }
                if self.expires_at > r.valid_until.end_unix() {
                    return bad("a recovery credential cannot outlive the recovery's valid-until day".into());
                }
            }
        }
        Ok(())
    }

    /// Encode the claims as canonical CBOR (the COSE payload).
    pub fn to_claims(&self) -> Vec<u8> {
        cbor::encode(&self.claims_value())
    }

    /// Check, encode and sign: the tagged COSE_Sign1 bytes.
    pub fn sign(&self, key: &dyn Signer) -> Result<Vec<u8>, Error> {
        self.check()?;
        Ok(cose::sign1(key, &self.to_claims(), None)?)
    }

    fn claims_value(&self) -> Value {
        let status = self.status.map(|s| Value::Array(vec![Value::from(s.list), Value::from(s.index)]));
        let body_key = 3 + i64::from(self.credential_type().code());
        let huren = cbor::map([
            (0, Some(Value::from(SCHEMA_VERSION))),
            (1, status),
            (2, Some(subject_value(&self.subject))),
            (body_key, Some(body_value(&self.body))),
        ]);
        cbor::map([
            (claim::ISS, Some(Value::from(self.issuer.as_str()))),
            (claim::EXP, Some(Value::from(self.expires_at))),
            (claim::NBF, self.not_before.map(Value::from)),
            (claim::IAT, Some(Value::from(self.issued_at))),
            (claim::CTI, Some(Value::Bytes(self.id.clone()))),
            (claim::CNF, self.holder.as_ref().map(cnf_value)),
            (claim::HUREN, Some(huren)),
        ])
    }

    /// Decode claims strictly. A claims set that is not canonical CBOR, lacks `iss`, `iat`, `exp` or `cti`, or
    /// carries unknown claims is [`Error::CwtMalformed`]; a Huren payload that breaks the schema is
    /// [`Error::SchemaInvalid`].
    pub fn from_claims(payload: &[u8]) -> Result<Self, Error> {
        let cwt = |e: CborError| Error::CwtMalformed(message(e));
        let mut m =
            IntMap::new(cbor::decode_canonical(payload, MAX_CLAIMS_DEPTH).map_err(cwt)?, "claims").map_err(cwt)?;
        let issuer = cbor::text(m.need(claim::ISS, "iss").map_err(cwt)?, "iss").map_err(cwt)?;
        let expires_at = cbor::int(&m.need(claim::EXP, "exp").map_err(cwt)?, "exp").map_err(cwt)?;
        let not_before = m.take(claim::NBF).map(|v| cbor::int(&v, "nbf")).transpose().map_err(cwt)?;
        let issued_at = cbor::int(&m.need(claim::IAT, "iat").map_err(cwt)?, "iat").map_err(cwt)?;
        let id = cbor::bytes(m.need(claim::CTI, "cti").map_err(cwt)?, "cti").map_err(cwt)?;
        if !(8..=16).contains(&id.len()) {
            return Err(Error::CwtMalformed(format!("cti must be 8 to 16 bytes, not {}", id.len())));
        }
        let holder = m.take(claim::CNF).map(decode_cnf).transpose()?;
        let Some(huren) = m.take(claim::HUREN) else {
            return Err(Error::SchemaInvalid("no Huren payload claim".into()));
        };
        m.finish().map_err(cwt)?;
        let (status, subject, body) = decode_huren(huren).map_err(|e| Error::SchemaInvalid(message(e)))?;
        Ok(Credential { issuer, issued_at, expires_at, not_before, id, status, subject, body, holder })
    }
}

/// `{1: {1: 1, -1: 6, -2: x}}`: the holder key as a COSE_Key inside the `cnf` claim.
fn cnf_value(holder: &HolderKey) -> Value {
    use cose_key::*;
    let key = cbor::map([
        (KTY, Some(Value::from(KTY_OKP))),
        (CRV, Some(Value::from(CRV_ED25519))),
        (X, Some(Value::Bytes(holder.as_bytes().to_vec()))),
    ]);
    cbor::map([(CNF_COSE_KEY, Some(key))])
}

/// Read the `cnf` claim strictly: exactly a COSE_Key of type OKP on Ed25519 with its 32 key bytes, no other
/// member or parameter, and a key that passes Huren's Ed25519 rule. Every failure is [`Error::CwtMalformed`].
fn decode_cnf(value: Value) -> Result<HolderKey, Error> {
    use cose_key::*;
    let cwt = |e: CborError| Error::CwtMalformed(format!("cnf: {}", message(e)));
    let mut cnf = IntMap::new(value, "cnf").map_err(cwt)?;
    let key = cnf.need(CNF_COSE_KEY, "COSE_Key").map_err(cwt)?;
    cnf.finish().map_err(cwt)?;
    let mut key = IntMap::new(key, "COSE_Key").map_err(cwt)?;
    let kty = cbor::uint(&key.need(KTY, "kty").map_err(cwt)?, "kty", u64::MAX).map_err(cwt)?;
    if kty != KTY_OKP {
        return Err(Error::CwtMalformed(format!("cnf: key type {kty} is not OKP (1)")));
    }
    let crv = cbor::uint(&key.need(CRV, "crv").map_err(cwt)?, "crv", u64::MAX).map_err(cwt)?;
    if crv != CRV_ED25519 {
        return Err(Error::CwtMalformed(format!("cnf: curve {crv} is not Ed25519 (6)")));
    }
    let x = cbor::bytes(key.need(X, "x").map_err(cwt)?, "x").map_err(cwt)?;
    key.finish().map_err(cwt)?;
    HolderKey::from_bytes(&x).map_err(|e| Error::CwtMalformed(format!("cnf: {e}")))
}

fn check_text(field: &str, text: &str) -> Result<(), Error> {
    let n = text.chars().count();
    if n == 0 || n > MAX_TEXT_CHARS || text.chars().any(char::is_control) {
        return Err(Error::Invalid(format!("{field} must be 1 to {MAX_TEXT_CHARS} printable characters")));
    }
    Ok(())
}

fn subject_value(s: &Subject) -> Value {
    let id = pack_masked_id(&s.masked_id).map_or_else(|| Value::from(s.masked_id.as_str()), Value::Bytes);
    cbor::map([
        (0, Some(Value::from(s.name.as_str()))),
        (1, s.pinyin.as_deref().map(Value::from)),
        (2, Some(id)),
        (3, s.date_of_birth.map(|d| Value::from(d.0))),
    ])
}

fn body_value(body: &Body) -> Value {
    match body {
        Body::HealthStatus(h) => cbor::map([
            (0, Some(Value::from(h.colour.code()))),
            (1, Some(Value::from(h.reason.code()))),
            (2, h.valid_until.map(Value::from)),
        ]),
        Body::TestResult(t) => cbor::map([
            (0, Some(Value::from(t.kind.code()))),
            (1, Some(Value::from(t.outcome.code()))),
            (2, Some(Value::from(t.sampled_at))),
            (3, t.centre.as_deref().map(Value::from)),
        ]),
        Body::Vaccination(v) => cbor::map([
            (0, Some(Value::from(v.product.as_str()))),
            (1, Some(Value::from(v.dose))),
            (2, Some(Value::from(v.doses))),
            (3, Some(Value::from(v.date.0))),
        ]),
        Body::Recovery(r) => cbor::map([
            (0, Some(Value::from(r.first_positive.0))),
            (1, Some(Value::from(r.valid_from.0))),
            (2, Some(Value::from(r.valid_until.0))),
        ]),
    }
}

fn schema_err<T>(m: impl Into<String>) -> Result<T, CborError> {
    Err(CborError::CborInvalid(m.into()))
}

/// The text of a strict-decoding error, without a prefix.
fn message(e: CborError) -> String {
    match e {
        CborError::CborInvalid(m) => m,
        other => other.to_string(),
    }
}

fn decode_huren(value: Value) -> Result<(Option<StatusRef>, Subject, Body), CborError> {
    let mut m = IntMap::new(value, "huren payload")?;
    let version = cbor::uint(&m.need(0, "schema version")?, "schema version", u64::MAX)?;
    if version != SCHEMA_VERSION {
        return schema_err(format!("schema version {version} is not supported"));
    }
    let status = match m.take(1) {
        None => None,
        Some(v) => match cbor::array(v, "status")?.as_slice() {
            [list, index] => {
                Some(StatusRef { list: u32_of(list, "status list")?, index: u32_of(index, "status index")? })
            }
            _ => return schema_err("status must be [list, index]"),
        },
    };
    let subject = decode_subject(m.need(2, "subject")?)?;
    let mut body = None;
    for t in huren_keys::CredentialType::ALL {
        if let Some(v) = m.take(3 + i64::from(t.code())) {
            if body.is_some() {
                return schema_err("more than one credential body");
            }
            body = Some(decode_body(t, v)?);
        }
    }
    m.finish()?;
    let Some(body) = body else { return schema_err("no credential body") };
    Ok((status, subject, body))
}

fn u32_of(v: &Value, field: &str) -> Result<u32, CborError> {
    let n = cbor::uint(v, field, u64::from(u32::MAX))?;
    u32::try_from(n).map_err(|_| CborError::CborInvalid(format!("{field}: out of range")))
}

fn u8_of(v: &Value, field: &str) -> Result<u8, CborError> {
    let n = cbor::uint(v, field, u64::from(u8::MAX))?;
    u8::try_from(n).map_err(|_| CborError::CborInvalid(format!("{field}: out of range")))
}

fn date_of(v: &Value, field: &str) -> Result<Date, CborError> {
    Date::from_days(cbor::int(v, field)?).ok_or_else(|| CborError::CborInvalid(format!("{field}: date out of range")))
}

fn enum_of<T>(v: &Value, field: &str, from: fn(u64) -> Option<T>) -> Result<T, CborError> {
    let n = cbor::uint(v, field, u64::MAX)?;
    from(n).ok_or_else(|| CborError::CborInvalid(format!("{field}: unknown value {n}")))
}

fn decode_subject(value: Value) -> Result<Subject, CborError> {
    let mut m = IntMap::new(value, "subject")?;
    let name = cbor::text(m.need(0, "name")?, "name")?;
    let pinyin = m.take(1).map(|v| cbor::text(v, "pinyin")).transpose()?;
    let masked_id = match m.need(2, "masked id")? {
        Value::Bytes(b) => unpack_masked_id(&b)?,
        Value::Text(t) => t,
        _ => return schema_err("masked id: expected bytes or text"),
    };
    let date_of_birth = m.take(3).map(|v| date_of(&v, "date of birth")).transpose()?;
    m.finish()?;
    Ok(Subject { name, pinyin, masked_id, date_of_birth })
}

fn decode_body(t: huren_keys::CredentialType, value: Value) -> Result<Body, CborError> {
    use huren_keys::CredentialType as T;
    let mut m = IntMap::new(value, t.name())?;
    let body = match t {
        T::HealthStatus => Body::HealthStatus(HealthStatus {
            colour: enum_of(&m.need(0, "colour")?, "colour", Colour::from_code)?,
            reason: enum_of(&m.need(1, "reason")?, "reason", Reason::from_code)?,
            valid_until: m.take(2).map(|v| cbor::int(&v, "valid until")).transpose()?,
        }),
        T::TestResult => Body::TestResult(TestResult {
            kind: enum_of(&m.need(0, "test kind")?, "test kind", TestKind::from_code)?,
            outcome: enum_of(&m.need(1, "outcome")?, "outcome", TestOutcome::from_code)?,
            sampled_at: cbor::int(&m.need(2, "sampled at")?, "sampled at")?,
            centre: m.take(3).map(|v| cbor::text(v, "centre")).transpose()?,
        }),
        T::Vaccination => Body::Vaccination(Vaccination {
            product: cbor::text(m.need(0, "product")?, "product")?,
            dose: u8_of(&m.need(1, "dose")?, "dose")?,
            doses: u8_of(&m.need(2, "doses")?, "doses")?,
            date: date_of(&m.need(3, "date")?, "date")?,
        }),
        T::Recovery => Body::Recovery(Recovery {
            first_positive: date_of(&m.need(0, "first positive")?, "first positive")?,
            valid_from: date_of(&m.need(1, "valid from")?, "valid from")?,
            valid_until: date_of(&m.need(2, "valid until")?, "valid until")?,
        }),
        _ => return schema_err(format!("credential type {} has no body schema", t.name())),
    };
    m.finish()?;
    Ok(body)
}

/// Nibble values of a packed masked ID: 0-9 digits, 0xA = `X`, 0xB = `*`, 0xF = padding after an odd length.
fn nibble_of(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'X' => Some(0xa),
        b'*' => Some(0xb),
        _ => None,
    }
}

/// Pack a masked ID of digits, `X` and `*` two characters per byte; `None` when it has other characters.
fn pack_masked_id(id: &str) -> Option<Vec<u8>> {
    let nibbles: Vec<u8> = id.bytes().map(nibble_of).collect::<Option<_>>()?;
    if nibbles.is_empty() {
        return None;
    }
    Some(nibbles.chunks(2).map(|p| (p[0] << 4) | p.get(1).copied().unwrap_or(0xf)).collect())
}

fn unpack_masked_id(bytes: &[u8]) -> Result<String, CborError> {
    const CHARS: &[u8; 12] = b"0123456789X*";
    if bytes.is_empty() || bytes.len() > 12 {
        return schema_err("packed masked id must be 1 to 12 bytes");
    }
    let mut out = String::with_capacity(bytes.len() * 2);
    for (i, b) in bytes.iter().enumerate() {
        for (j, nibble) in [b >> 4, b & 0xf].into_iter().enumerate() {
            let last = i + 1 == bytes.len() && j == 1;
            match CHARS.get(usize::from(nibble)) {
                Some(c) => out.push(char::from(*c)),
                None if nibble == 0xf && last => {}
                None => return schema_err("packed masked id has an invalid nibble"),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Credential {
        Credential {
            issuer: "CN-GD".into(),
            issued_at: 1_790_000_000,
            expires_at: 1_790_604_800,
            not_before: None,
            id: vec![1, 2, 3, 4, 5, 6, 7, 8],
            status: Some(StatusRef { list: 1, index: 123_456 }),
            subject: Subject {
                name: "张三丰".into(),
                pinyin: None,
                masked_id: "4403**********123X".into(),
                date_of_birth: None,
            },
            body: Body::HealthStatus(HealthStatus { colour: Colour::Green, reason: Reason::NoRisk, valid_until: None }),
            holder: None,
        }
    }

    #[test]
    fn claims_round_trip_for_every_body() {
        let mut c = sample();
        assert_eq!(Credential::from_claims(&c.to_claims()).unwrap(), c);
        c.subject.pinyin = Some("ZHANG Sanfeng".into());
        c.subject.date_of_birth = Some("1990-05-17".parse().unwrap());
        c.not_before = Some(c.issued_at + 10);
        for body in [
            Body::TestResult(TestResult {
                kind: TestKind::Antigen,
                outcome: TestOutcome::Negative,
                sampled_at: 1_789_990_000,
                centre: Some("广州市第一人民医院".into()),
            }),
            Body::Vaccination(Vaccination {
                product: "BBIBP".into(),
                dose: 2,
                doses: 2,
                date: "2026-01-02".parse().unwrap(),
            }),
            Body::Recovery(Recovery {
                first_positive: "2026-08-20".parse().unwrap(),
                valid_from: "2026-08-30".parse().unwrap(),
                valid_until: "2027-02-28".parse().unwrap(),
            }),
        ] {
            c.body = body;
            c.check().unwrap();
            assert_eq!(Credential::from_claims(&c.to_claims()).unwrap(), c);
        }
    }

    #[test]
    fn masked_id_packing() {
        assert_eq!(pack_masked_id("4403**********123X").unwrap().len(), 9);
        assert_eq!(unpack_masked_id(&pack_masked_id("12*").unwrap()).unwrap(), "12*");
        assert!(pack_masked_id("AB12**").is_none(), "letters other than X stay text");
        assert!(unpack_masked_id(&[0xcf]).is_err());
        assert!(unpack_masked_id(&[0x1f, 0x23]).is_err(), "padding only at the end");
    }

    #[test]
    fn claims_failures_are_classified() {
        assert!(matches!(Credential::from_claims(b"\xff"), Err(Error::CwtMalformed(_))));
        // claims without the Huren payload
        let no_payload = cbor::encode(&cbor::map([
            (1, Some(Value::from("CN-GD"))),
            (4, Some(Value::from(2))),
            (6, Some(Value::from(1))),
            (7, Some(Value::Bytes(vec![0; 8]))),
        ]));
        assert!(matches!(Credential::from_claims(&no_payload), Err(Error::SchemaInvalid(_))));
        // a future schema version
        let mut v = sample().claims_value();
        if let Value::Map(entries) = &mut v {
            if let Some((_, Value::Map(h))) = entries.last_mut() {
                h[0].1 = Value::from(2);
            }
        }
        assert!(
            matches!(Credential::from_claims(&cbor::encode(&v)), Err(Error::SchemaInvalid(m)) if m.contains("version"))
        );
    }

    fn holder() -> HolderKey {
        let key = huren_keys::dangerous::signing_key_from_seed(&[3; 32]).unwrap();
        HolderKey::from_public_key(key.public()).unwrap()
    }

    #[test]
    fn holder_key_is_the_cnf_claim_and_absent_changes_nothing() {
        let plain = sample();
        let mut bound = sample();
        bound.holder = Some(holder());
        let (a, b) = (plain.to_claims(), bound.to_claims());
        // {8: {1: {1: 1, -1: 6, -2: h'..32'}}} after cti, before the Huren payload: 43 bytes more.
        assert_eq!(b.len(), a.len() + 43);
        let cnf =
            [&[0x08, 0xa1, 0x01, 0xa3, 0x01, 0x01, 0x20, 0x06, 0x21, 0x58, 0x20][..], holder().as_bytes()].concat();
        assert!(b.windows(cnf.len()).any(|w| w == cnf.as_slice()), "cnf claim bytes");
        assert_eq!(Credential::from_claims(&b).unwrap(), bound);
        assert_eq!(Credential::from_claims(&a).unwrap().holder, None);
    }

    /// The claims of `sample()` with `cnf` set to `cnf`.
    fn claims_with_cnf(cnf: Value) -> Vec<u8> {
        let mut v = sample().claims_value();
        if let Value::Map(entries) = &mut v {
            let at = entries.len() - 1;
            entries.insert(at, (Value::from(claim::CNF), cnf));
        }
        cbor::encode(&v)
    }

    #[test]
    fn bad_cnf_claims_are_refused() {
        let key = |kty: u64, crv: u64, x: Vec<u8>| {
            cbor::map([(
                1,
                Some(cbor::map([
                    (1, Some(Value::from(kty))),
                    (-1, Some(Value::from(crv))),
                    (-2, Some(Value::Bytes(x))),
                ])),
            )])
        };
        let good = holder().as_bytes().to_vec();
        assert!(Credential::from_claims(&claims_with_cnf(key(1, 6, good.clone()))).unwrap().holder.is_some());
        let mut small_order = vec![0u8; 32];
        small_order[0] = 1; // the identity point
        let cases = [
            (key(2, 1, good.clone()), "key type"),  // EC2
            (key(1, 4, good.clone()), "curve"),     // X25519
            (key(1, 6, good[..31].to_vec()), "32"), // short
            (key(1, 6, small_order), "small"),      // weak key
            (cbor::map([(1, Some(Value::from(1)))]), "expected a map"),
            (cbor::map([(3, Some(Value::Bytes(vec![1])))]), "missing"), // a kid only
            (
                cbor::map([(
                    1,
                    Some(cbor::map([
                        (1, Some(Value::from(1))),
                        (2, Some(Value::Bytes(vec![1]))),
                        (-1, Some(Value::from(6))),
                        (-2, Some(Value::Bytes(good.clone()))),
                    ])),
                )]),
                "unknown key 2",
            ),
        ];
        for (cnf, why) in cases {
            match Credential::from_claims(&claims_with_cnf(cnf)) {
                Err(Error::CwtMalformed(m)) => assert!(m.contains("cnf") && m.contains(why), "{why}: {m}"),
                other => panic!("{why}: {other:?}"),
            }
        }
    }

    #[test]
    fn names_and_pinyin_follow_the_name_rule() {
        let mut c = sample();
        c.subject.name = "阿依古丽·买买提".into();
        c.subject.pinyin = Some("Āyīgǔlì Mǎimǎití".into());
        c.check().unwrap();
        for name in ["\u{202E}三张", "张\u{200B}三", "  ", "张三\u{2028}", "\u{E000}", "a\u{301}\u{301}\u{301}"] {
            let mut c = sample();
            c.subject.name = name.into();
            assert!(matches!(c.check(), Err(Error::Invalid(m)) if m.starts_with("name:")), "{name:?}");
            let mut c = sample();
            c.subject.pinyin = Some(name.into());
            assert!(matches!(c.check(), Err(Error::Invalid(m)) if m.starts_with("pinyin:")), "{name:?}");
        }
    }

    #[test]
    fn issuer_side_checks() {
        let mut c = sample();
        c.subject.masked_id = "440301199001011234".into();
        assert!(matches!(c.check(), Err(Error::Invalid(m)) if m.contains("masked")));
        let mut c = sample();
        c.expires_at = c.issued_at;
        assert!(c.check().is_err());
        let mut c = sample();
        c.id = vec![0; 4];
        assert!(c.check().is_err());
        let mut c = sample();
        c.subject.name = "a\u{0}b".into();
        assert!(c.check().is_err());
        let mut c = sample();
        c.body = Body::Recovery(Recovery {
            first_positive: "2026-08-01".parse().unwrap(),
            valid_from: "2026-08-11".parse().unwrap(),
            valid_until: "2026-09-22".parse().unwrap(), // credential expires on 2026-09-28
        });
        assert!(matches!(c.check(), Err(Error::Invalid(m)) if m.contains("outlive")));
        let mut c = sample();
        c.body = Body::TestResult(TestResult {
            kind: TestKind::Naat,
            outcome: TestOutcome::Negative,
            sampled_at: c.issued_at + 1,
            centre: None,
        });
        assert!(matches!(c.check(), Err(Error::Invalid(m)) if m.contains("sample")));
    }
}
