//! The answers as integrators parse them: one `Serialize` type per JSON contract, built in one place each.
//!
//! - [`VerifyReport`]: one line of `huren-verifier verify --json`; [`BatchSummary`] ends a batch.
//! - [`ScreenAnswer`]: what a screen shows for a code (the kiosk's `/api/verify` and `/api/frame` body, and the
//!   phone app's): the verdict, its reason, only what staff need to match the person, and the warnings.
//! - [`TrustStatusReport`] (`trust status --json`), [`KioskStatus`] (`/api/status`) and [`StatusListReport`] (one
//!   status list, in both).
//!
//! On the wire, every object's keys are in alphabetical order, as they have always been (the reports were
//! `serde_json::Value`s, whose maps are sorted): [`to_json`] writes any of these types that way, whatever the
//! order of their fields here. tests/tests/output_contracts.rs holds them to the recorded bytes.

use huren_wallet_core::{Body, Colour, Credential};
use serde::Serialize;

use crate::checkpoint::{detail, format_of, rfc3339, shown_dcc_names, shown_person, Answer, Checkpoint, InputAnswer};
use crate::dcc::Dcc;
use crate::store::{ListState, Staleness, TrustStore};
use crate::{Code, Rejection};

/// A contract as one line of JSON, keys sorted (see the module's documentation).
pub fn to_json(report: &impl Serialize) -> String {
    // Through a `Value`: its maps are sorted, so the bytes do not depend on the order of the fields.
    serde_json::to_value(report).map(|value| value.to_string()).unwrap_or_else(|e| {
        // Serialising these types cannot fail (string keys, no maps with other keys); say so if it ever does.
        format!("{{\"code\":\"INTERNAL\",\"detail\":{:?}}}", e.to_string())
    })
}

/// A short digest of a code, so a screen (or a log) recognises it again without keeping it.
pub fn fingerprint(text: &str) -> String {
    use sha2::Digest;
    huren_keys::hex(&sha2::Sha256::digest(text.as_bytes())[..8])
}

/// A message in both languages.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    /// English.
    pub en: String,
    /// Simplified Chinese.
    pub zh: String,
}

impl Message {
    /// The stable message of a code.
    pub fn of(code: Code) -> Self {
        Message { en: code.message_en().into(), zh: code.message_zh().into() }
    }
}

/// What every answer says, valid or not, CLI or screen.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The input's label (QR text as given, a file name, `file:line`, `camera`).
    pub input: String,
    /// Whether the code is valid.
    pub valid: bool,
    /// `huren` or `dcc`.
    pub format: &'static str,
    /// `OK` or the rejection code.
    pub code: Code,
    /// The pipeline stage that decided (`done` when valid).
    pub stage: &'static str,
    /// The code's message.
    pub message: Message,
    /// The checkpoint's time, RFC 3339.
    pub verified_at: String,
    /// The issuing province (Huren) or country (DCC); `null` when refused.
    pub issuer: Option<String>,
    /// The signing key's id, hex; `null` when refused.
    pub kid: Option<String>,
    /// Why it was refused, with times written for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The credential type (`health-status`, `vaccination`, ...).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// The signature algorithm (Huren codes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alg: Option<&'static str>,
    /// When the certificate expires (DCCs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The 30-second step a dynamic code's holder signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presentation_step: Option<u64>,
}

impl Outcome {
    /// The outcome of one input.
    pub fn new(label: &str, format: &'static str, outcome: &Result<Answer, Rejection>, now: i64) -> Self {
        let base = |valid: bool, code: Code, stage: &'static str| Outcome {
            input: label.to_string(),
            valid,
            format,
            code,
            stage,
            message: Message::of(code),
            verified_at: rfc3339(now),
            issuer: None,
            kid: None,
            detail: None,
            kind: None,
            alg: None,
            expires_at: None,
            presentation_step: None,
        };
        match outcome {
            Ok(Answer::Huren(v)) => Outcome {
                issuer: Some(v.issuer().to_string()),
                kid: Some(v.kid().to_hex()),
                kind: Some(v.credential().credential_type().name()),
                alg: Some(v.algorithm().name()),
                presentation_step: v.presentation_step(),
                ..base(true, Code::Ok, "done")
            },
            Ok(Answer::Dcc(v)) => Outcome {
                issuer: v.dcc().issuer.clone(),
                kid: Some(huren_keys::hex(&v.kid())),
                kind: Some(v.dcc().kind.name()),
                expires_at: Some(rfc3339(v.dcc().expires_at)),
                ..base(true, Code::Ok, "done")
            },
            Err(r) => Outcome { detail: Some(detail(r)), ..base(false, r.code(), r.stage().as_str()) },
        }
    }
}

/// One line of `huren-verifier verify --json`.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport<'a> {
    /// What every answer says.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The verified credential (Huren codes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<&'a Credential>,
    /// The verified certificate (EU DCCs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dcc: Option<&'a Dcc>,
    /// How many codes the input held (the answer is for one of them).
    pub codes_found: usize,
    /// Warnings to show with the answer.
    pub warnings: Vec<String>,
    /// The trust store's age and warnings (checkpoints on a trust store only).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub trust: Option<TrustNotes>,
}

/// What a trust store adds to each CLI answer.
#[derive(Debug, Clone, Serialize)]
pub struct TrustNotes {
    /// Seconds since the newest trust document was issued.
    pub trust_age_seconds: i64,
    /// The store is past its warning age.
    pub trust_warning: Option<String>,
    /// The code's status list is past its time-to-live, or was never synced.
    pub status_warning: Option<String>,
}

impl<'a> VerifyReport<'a> {
    /// The CLI's report for one input's answer at `checkpoint`: the answer, how many codes the input held, and the
    /// trust store's and the status list's warnings.
    pub fn for_input(checkpoint: &Checkpoint, label: &str, answer: &'a InputAnswer, now: i64) -> Self {
        let (trust_age, trust_warning) = checkpoint.trust_age(now);
        let status_warning = checkpoint.status_note(&answer.outcome, now);
        let several_codes = answer.several_codes_note();
        let warnings = trust_warning.iter().chain(status_warning.iter()).chain(several_codes.iter()).cloned().collect();
        VerifyReport {
            codes_found: answer.codes_found,
            warnings,
            trust: trust_age.map(|age| TrustNotes { trust_age_seconds: age, trust_warning, status_warning }),
            ..VerifyReport::new(label, format_of(answer.text.as_deref()), &answer.outcome, now)
        }
    }

    /// The report for one input's answer.
    pub fn new(label: &str, format: &'static str, outcome: &'a Result<Answer, Rejection>, now: i64) -> Self {
        VerifyReport {
            outcome: Outcome::new(label, format, outcome, now),
            credential: match outcome {
                Ok(Answer::Huren(v)) => Some(v.credential()),
                _ => None,
            },
            dcc: match outcome {
                Ok(Answer::Dcc(v)) => Some(v.dcc()),
                _ => None,
            },
            codes_found: 1,
            warnings: Vec::new(),
            trust: None,
        }
    }
}

/// The last line of a batch: counts per code.
#[derive(Debug, Clone, Serialize)]
pub struct BatchSummary {
    /// The counts.
    pub summary: BatchCounts,
}

/// Counts of a batch's answers.
#[derive(Debug, Clone, Serialize)]
pub struct BatchCounts {
    /// Inputs answered.
    pub total: u64,
    /// Valid.
    pub valid: u64,
    /// Not valid.
    pub invalid: u64,
    /// Answers per code (`OK` included).
    pub by_code: std::collections::BTreeMap<&'static str, u64>,
}

/// Green, amber or red.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Valid, nothing to add: let the person through.
    Green,
    /// Valid, but look again: an amber health status, or trust or status data past its age.
    Amber,
    /// Refused, or valid and saying the person must not pass (a red health status).
    Red,
}

/// What staff need to match the person, and nothing more.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Person {
    /// A Huren credential's holder.
    Huren {
        /// The name, escaped by the name rule.
        name: String,
        /// The masked ID.
        masked_id: String,
        /// The credential type.
        #[serde(rename = "type")]
        kind: &'static str,
        /// The issuing province.
        issuer: String,
        /// RFC 3339.
        valid_until: String,
    },
    /// An EU DCC's holder.
    Dcc {
        /// The name in its own script.
        name: String,
        /// The ICAO transliteration.
        name_standard: String,
        /// As the certificate writes it.
        date_of_birth: String,
        /// The certificate type.
        #[serde(rename = "type")]
        kind: &'static str,
        /// The issuing country.
        issuer: Option<String>,
        /// RFC 3339.
        valid_until: String,
    },
}

/// The reason shown with a verdict, in both languages.
#[derive(Debug, Clone, Serialize)]
pub struct Reason {
    /// Simplified Chinese.
    pub zh: String,
    /// English.
    pub en: String,
}

/// What a screen shows for one code: the kiosk's and the phone app's answer. It never carries the code back, nor
/// the full credential.
#[derive(Debug, Clone, Serialize)]
pub struct ScreenAnswer {
    /// What every answer says.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Green, amber or red.
    pub verdict: Verdict,
    /// Why, in both languages.
    pub reason: Reason,
    /// The person (`null` when refused).
    pub person: Option<Person>,
    /// Warnings to show (any makes a green verdict amber).
    pub warnings: Vec<String>,
    /// A short digest of the code, so a screen tells "the same code again" from a new one without keeping it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// How many codes the image held (answers to images and frames).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codes_found: Option<usize>,
}

impl ScreenAnswer {
    /// The screen's answer for one code at `checkpoint`: the trust store's and the status list's warnings, and the
    /// code's fingerprint (`text`: the code answered for, when there was one).
    pub fn at(
        checkpoint: &Checkpoint,
        label: &str,
        text: Option<&str>,
        outcome: &Result<Answer, Rejection>,
        now: i64,
    ) -> Self {
        let (_, trust_warning) = checkpoint.trust_age(now);
        let warnings = trust_warning.into_iter().chain(checkpoint.status_note(outcome, now)).collect();
        ScreenAnswer::new(label, format_of(text), outcome, now, warnings, text.map(fingerprint))
    }

    /// The answer for `outcome`, with `warnings` (trust, status, DCC) already gathered; `fingerprint` identifies
    /// the code shown, when there was one.
    pub fn new(
        label: &str,
        format: &'static str,
        outcome: &Result<Answer, Rejection>,
        now: i64,
        mut warnings: Vec<String>,
        fingerprint: Option<String>,
    ) -> Self {
        if let Ok(Answer::Dcc(v)) = outcome {
            // E.g. a DCC without `exp`, accepted within derived bounds: amber, with the reason shown.
            warnings.extend(v.dcc().warnings.iter().map(|w| format!("{} · {}", w.message_zh(), w.message_en())));
        }
        let ok = || Reason { zh: Code::Ok.message_zh().into(), en: Code::Ok.message_en().into() };
        let (mut verdict, reason, person) = match outcome {
            Err(r) => {
                (Verdict::Red, Reason { zh: r.code().message_zh().into(), en: r.code().message_en().into() }, None)
            }
            Ok(Answer::Huren(v)) => {
                let c = v.credential();
                let (verdict, reason) = match &c.body {
                    Body::HealthStatus(h) => (
                        match h.colour {
                            Colour::Green => Verdict::Green,
                            Colour::Amber => Verdict::Amber,
                            Colour::Red => Verdict::Red,
                        },
                        Reason {
                            zh: format!("{}：{}", h.colour.label_zh(), h.reason.message_zh()),
                            en: format!("{}: {}", h.colour.label_en(), h.reason.message_en()),
                        },
                    ),
                    _ => (Verdict::Green, ok()),
                };
                let (name, masked_id) = shown_person(c);
                let person = Person::Huren {
                    name,
                    masked_id,
                    kind: c.credential_type().name(),
                    issuer: c.issuer.clone(),
                    valid_until: rfc3339(c.expires_at),
                };
                (verdict, reason, Some(person))
            }
            Ok(Answer::Dcc(v)) => {
                let d = v.dcc();
                let (name, name_standard) = shown_dcc_names(d);
                let person = Person::Dcc {
                    name,
                    name_standard,
                    date_of_birth: d.date_of_birth.clone(),
                    kind: d.kind.name(),
                    issuer: d.issuer.clone(),
                    valid_until: rfc3339(d.expires_at),
                };
                (Verdict::Green, ok(), Some(person))
            }
        };
        if verdict == Verdict::Green && !warnings.is_empty() {
            verdict = Verdict::Amber;
        }
        let outcome = Outcome::new(label, format, outcome, now);
        ScreenAnswer { outcome, verdict, reason, person, warnings, fingerprint, codes_found: None }
    }

    /// Say how many codes the image held, and warn (amber at best) when it held more than one: the answer is for
    /// one of them only.
    pub fn with_codes_found(mut self, codes_found: usize, several_codes_note: Option<String>) -> Self {
        self.codes_found = Some(codes_found);
        if let Some(note) = several_codes_note {
            self.warnings.push(note);
            if self.verdict == Verdict::Green {
                self.verdict = Verdict::Amber;
            }
        }
        self
    }
}

/// One status list as `trust status --json` and `/api/status` report it; the version, age and counts are `null`
/// unless the list is held.
#[derive(Debug, Clone, Serialize)]
pub struct StatusListReport {
    /// The province.
    pub province: String,
    /// The list id.
    pub list: u32,
    /// `current`, `past-ttl`, `lost`, `never-synced` (refused) or `never-synced-allowed`.
    pub state: &'static str,
    /// What is wrong when it cannot be used.
    pub detail: Option<String>,
    /// The version held.
    pub version: Option<u64>,
    /// When the held version was published, RFC 3339.
    pub issued_at: Option<String>,
    /// Its time-to-live.
    pub ttl_seconds: Option<i64>,
    /// Credentials it covers.
    pub entries: Option<u64>,
    /// How many are revoked or suspended.
    pub not_valid: Option<usize>,
    /// Seconds since it was published.
    pub age_seconds: Option<i64>,
    /// Whether it is past its time-to-live.
    pub past_ttl: Option<bool>,
}

impl StatusListReport {
    /// Every status list `store` knows of, in (province, list) order.
    pub fn all(store: &TrustStore, now: i64) -> Vec<Self> {
        store
            .known_lists()
            .into_iter()
            .map(|(province, list)| match store.list_state(&province, list) {
                ListState::Held(l) => {
                    let past_ttl = now > l.expires_at();
                    StatusListReport {
                        state: if past_ttl { "past-ttl" } else { "current" },
                        detail: None,
                        version: Some(l.version),
                        issued_at: Some(rfc3339(l.issued_at)),
                        ttl_seconds: Some(l.ttl),
                        entries: Some(l.bits.len()),
                        not_valid: Some(l.bits.non_valid().count()),
                        age_seconds: Some(now.saturating_sub(l.issued_at)),
                        past_ttl: Some(past_ttl),
                        province,
                        list,
                    }
                }
                other => StatusListReport {
                    state: other.name(),
                    detail: Some(other.describe()),
                    version: None,
                    issued_at: None,
                    ttl_seconds: None,
                    entries: None,
                    not_valid: None,
                    age_seconds: None,
                    past_ttl: None,
                    province,
                    list,
                },
            })
            .collect()
    }
}

/// The name of a store's freshness in reports.
pub fn freshness_name(staleness: Staleness) -> &'static str {
    match staleness {
        Staleness::Fresh => "fresh",
        Staleness::Warn => "warn",
        Staleness::Refuse => "stale",
        Staleness::ClockBehind => "clock-behind",
    }
}

/// `huren-verifier trust status --json`.
#[derive(Debug, Clone, Serialize)]
pub struct TrustStatusReport {
    /// Where the store lives.
    pub store: String,
    /// The federation root's version.
    pub root_version: u64,
    /// Its members' provinces.
    pub members: Vec<String>,
    /// Signatures a root update needs.
    pub threshold: u32,
    /// When the root expires, RFC 3339.
    pub root_expires: String,
    /// The newest trust document's time, RFC 3339: the device clock must not be behind it.
    pub time_floor: String,
    /// Seconds since the time floor.
    pub age_seconds: i64,
    /// `fresh`, `warn`, `stale` or `clock-behind`.
    pub freshness: &'static str,
    /// Each province bundle.
    pub bundles: Vec<BundleReport>,
    /// Each status list.
    pub status_lists: Vec<StatusListReport>,
}

/// One province bundle in [`TrustStatusReport`].
#[derive(Debug, Clone, Serialize)]
pub struct BundleReport {
    /// The province.
    pub province: String,
    /// Its version.
    pub version: u64,
    /// RFC 3339.
    pub issued_at: String,
    /// RFC 3339.
    pub expires: String,
    /// Issuer keys listed.
    pub issuer_keys: usize,
    /// Keys revoked.
    pub revoked_keys: usize,
    /// Whether it has expired.
    pub expired: bool,
}

impl TrustStatusReport {
    /// The report for `store` at `now`, with the default freshness limits.
    pub fn new(store: &TrustStore, now: i64) -> Self {
        let state = store.state();
        let root = state.root();
        TrustStatusReport {
            store: store.path().display().to_string(),
            root_version: root.version,
            members: root.members.iter().map(|m| m.province.clone()).collect(),
            threshold: root.threshold,
            root_expires: rfc3339(root.expires),
            time_floor: rfc3339(state.time_floor()),
            age_seconds: store.age(now),
            freshness: freshness_name(store.staleness(now, &Default::default())),
            bundles: state
                .bundles()
                .iter()
                .map(|b| BundleReport {
                    province: b.province.clone(),
                    version: b.version,
                    issued_at: rfc3339(b.issued_at),
                    expires: rfc3339(b.expires),
                    issuer_keys: b.issuer_keys.len(),
                    revoked_keys: b.revocations.len(),
                    expired: now >= b.expires,
                })
                .collect(),
            status_lists: StatusListReport::all(store, now),
        }
    }
}

/// The kiosk's `/api/status`: the banner's data.
#[derive(Debug, Clone, Serialize)]
pub struct KioskStatus {
    /// The kiosk's clock, RFC 3339.
    pub now: String,
    /// `store` or `trust-file`.
    pub trust: &'static str,
    /// Seconds since the newest trust document (stores only).
    pub trust_age_seconds: Option<i64>,
    /// `fresh`, `warn`, `stale`, `clock-behind`, or `unmanaged` for a trust file.
    pub freshness: &'static str,
    /// The store is past its warning age.
    pub trust_warning: Option<String>,
    /// Each status list (stores only).
    pub status_lists: Vec<StatusListReport>,
    /// EU DCC signers trusted.
    pub dcc_signers: usize,
    /// Whether outcomes are logged.
    pub log: bool,
}

/// One line of the kiosk's outcome log: never the code, the name or an identifier.
#[derive(Debug, Clone, Serialize)]
pub struct OutcomeLogLine {
    /// RFC 3339.
    pub time: String,
    /// `OK` or the rejection code.
    pub code: Code,
    /// The issuer, when known.
    pub issuer: Option<String>,
}

/// The answer to a camera frame in which no code was found (the page sends its next frame).
#[derive(Debug, Clone, Serialize)]
pub struct NoCodeInFrame {
    /// Always `false`.
    pub found: bool,
}

/// `huren-verifier trust status`, for people: the root, each bundle, each status list and what it means for the
/// codes it covers.
pub fn trust_status_text(store: &TrustStore, now: i64) -> String {
    let state = store.state();
    let root = state.root();
    let label = freshness_name(store.staleness(now, &crate::store::Freshness::default()));
    let mut out = format!(
        "trust store {}\n  federation root v{}: {} members, threshold {}, expires {}\n  time floor {} (age {} h): {label}\n",
        store.path().display(),
        root.version,
        root.members.len(),
        root.threshold,
        rfc3339(root.expires),
        rfc3339(state.time_floor()),
        store.age(now) / 3600,
    );
    for b in state.bundles() {
        out.push_str(&format!(
            "  {} bundle v{}: {} issuer keys, {} revoked, expires {}{}\n",
            b.province,
            b.version,
            b.issuer_keys.len(),
            b.revocations.len(),
            rfc3339(b.expires),
            if now >= b.expires { " (EXPIRED)" } else { "" }
        ));
    }
    for (province, list) in store.known_lists() {
        let line = match store.list_state(&province, list) {
            ListState::Held(l) => format!(
                "status list v{}: {} entries, {} not valid, {} min old (time-to-live {} min){}",
                l.version,
                l.bits.len(),
                l.bits.non_valid().count(),
                now.saturating_sub(l.issued_at) / 60,
                l.ttl / 60,
                if now > l.expires_at() { " (PAST ITS TIME-TO-LIVE)" } else { "" }
            ),
            ListState::NeverSynced { allowed: true, .. } => {
                "status list never synced: its codes pass with \"revocation not checked\" (the province allows it)"
                    .to_string()
            }
            other => format!(
                "status list {}: its codes are REFUSED (STATUS_UNAVAILABLE): {}",
                other.name(),
                other.describe()
            ),
        };
        out.push_str(&format!("  {province}/{list} {line}\n"));
    }
    out
}
