//! A checkpoint: the trust it holds (a trust store or a plain key list, plus EU DCC signers), its acceptance
//! policy and freshness limits, and the answers it gives — the one place the CLI and the kiosk both verify
//! through, so a code gets the same answer from either.

use huren_keys::TrustList;
use huren_wallet_core::Body;

use crate::dcc::{verify_dcc, DccTrust, VerifiedDcc, HC1_PREFIX};
use crate::store::{Freshness, Staleness, TrustStore};
use crate::{verify, Code, Policy, Rejection, Verified};

/// Where a checkpoint's trust in Huren issuers comes from.
#[derive(Debug)]
pub enum TrustSource {
    /// A trust store: federation root, province bundles, status lists, freshness.
    Store(TrustStore),
    /// A plain list of keys (a pre-federation trust file, or nothing).
    List(TrustList),
}

impl TrustSource {
    /// Open `path` as a trust file, else as a trust store.
    #[cfg(feature = "files")]
    pub fn open(path: &std::path::Path) -> Result<Self, crate::store::StoreError> {
        let bytes = std::fs::read(path)
            .map_err(|source| crate::store::StoreError::Io { path: path.display().to_string(), source })?;
        if let Ok(file) = huren_keys::TrustFile::decode(&bytes) {
            return Ok(TrustSource::List(TrustList::from_trust_file(&file)?));
        }
        Ok(TrustSource::Store(TrustStore::open(path)?))
    }
}

/// A checkpoint's trust, acceptance policy and freshness limits.
#[derive(Debug)]
pub struct Checkpoint {
    /// Trusted Huren issuers.
    pub trust: TrustSource,
    /// Trusted EU DCC signers (none: every `HC1:` code is `KID_UNKNOWN`).
    pub dcc: DccTrust,
    /// What this checkpoint accepts.
    pub policy: Policy,
    /// How old trust data may get.
    pub freshness: Freshness,
}

/// A valid answer: a Huren credential or an EU DCC.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A verified Huren credential.
    Huren(Verified),
    /// A verified EU Digital COVID Certificate.
    Dcc(VerifiedDcc),
}

impl Checkpoint {
    /// Verify one QR text at `now`: EU DCCs (`HC1:`) against the DCC signers, everything else as a Huren code.
    pub fn verify(&self, text: &str, now: i64) -> Result<Answer, Rejection> {
        if text.starts_with(HC1_PREFIX) {
            return verify_dcc(text, &self.dcc, now).map(Answer::Dcc);
        }
        match &self.trust {
            TrustSource::Store(store) => store.verify(text, now, &self.policy, &self.freshness),
            TrustSource::List(list) => verify(text, list, now, &self.policy),
        }
        .map(Answer::Huren)
    }

    /// Verify many QR texts, each answered as [`Checkpoint::verify`] answers it, with the Huren codes' Ed25519
    /// signatures checked in one batch. The answers are in the texts' order, exactly one per text.
    pub fn verify_many(&self, texts: &[&str], now: i64) -> Vec<Result<Answer, Rejection>> {
        let huren: Vec<&str> = texts.iter().copied().filter(|t| !t.starts_with(HC1_PREFIX)).collect();
        let huren_answers = match &self.trust {
            TrustSource::Store(store) => store.verify_many(&huren, now, &self.policy, &self.freshness),
            TrustSource::List(list) => crate::verify_many(&huren, list, now, &self.policy),
        };
        // One answer per text or none at all: an answer must never slide onto the next text.
        if huren_answers.len() != huren.len() {
            return texts.iter().map(|_| Err(answer_mismatch())).collect();
        }
        let mut huren_answers = huren_answers.into_iter();
        texts
            .iter()
            .map(|text| {
                if text.starts_with(HC1_PREFIX) {
                    verify_dcc(text, &self.dcc, now).map(Answer::Dcc)
                } else {
                    huren_answers.next().map_or_else(|| Err(answer_mismatch()), |outcome| outcome.map(Answer::Huren))
                }
            })
            .collect()
    }

    /// Answer each input (a QR text, or the codes one image held) exactly once, for its own best code: every code
    /// of every input is verified in one batch, then each input takes exactly its own codes' outcomes. An image
    /// with several codes answers for the first valid one, else the first one read, and says how many it held
    /// ([`InputAnswer::codes_found`]); an input that held no code, or could not be read, answers with its
    /// rejection.
    pub fn answer_inputs(&self, inputs: &[InputCodes], now: i64) -> Vec<InputAnswer> {
        let texts: Vec<&str> = inputs.iter().flat_map(|codes| codes.iter().flatten()).map(String::as_str).collect();
        let mut outcomes = self.verify_many(&texts, now).into_iter();
        inputs
            .iter()
            .map(|codes| match codes {
                Err(rejection) => InputAnswer { text: None, outcome: Err(rejection.clone()), codes_found: 0 },
                Ok(codes) if codes.is_empty() => InputAnswer { text: None, outcome: Err(no_code()), codes_found: 0 },
                Ok(codes) => {
                    // Take exactly this input's outcomes, whatever the choice below reads of them.
                    let own: Vec<Result<Answer, Rejection>> = outcomes.by_ref().take(codes.len()).collect();
                    let codes_found = codes.len();
                    if own.len() != codes_found {
                        return InputAnswer { text: None, outcome: Err(answer_mismatch()), codes_found };
                    }
                    let best = own.iter().position(Result::is_ok).unwrap_or(0);
                    let (text, outcome) = codes.iter().zip(own).nth(best).map_or_else(
                        || (None, Err(answer_mismatch())),
                        |(text, outcome)| (Some(text.clone()), outcome),
                    );
                    InputAnswer { text, outcome, codes_found }
                }
            })
            .collect()
    }

    /// Answer one input: [`Checkpoint::answer_inputs`] for a single input.
    pub fn answer_input(&self, codes: InputCodes, now: i64) -> InputAnswer {
        self.answer_inputs(std::slice::from_ref(&codes), now).pop().unwrap_or(InputAnswer {
            text: None,
            outcome: Err(answer_mismatch()),
            codes_found: 0,
        })
    }

    /// A warning about the revocation check of a valid answer (stores only): list past its time-to-live, or
    /// not held.
    pub fn status_note(&self, outcome: &Result<Answer, Rejection>, now: i64) -> Option<String> {
        match (&self.trust, outcome) {
            (TrustSource::Store(store), Ok(Answer::Huren(verified))) => store.status_note(verified, now),
            _ => None,
        }
    }

    /// The trust data's age in seconds and a warning when it is past the warning age (stores only).
    pub fn trust_age(&self, now: i64) -> (Option<i64>, Option<String>) {
        match &self.trust {
            TrustSource::Store(store) => {
                let warning = (store.staleness(now, &self.freshness) == Staleness::Warn)
                    .then(|| format!("trust data is {} h old; sync soon", store.age(now) / 3600));
                (Some(store.age(now)), warning)
            }
            TrustSource::List(_) => (None, None),
        }
    }

    /// The default policy, narrowed by a province's bundle when the checkpoint names its province.
    pub fn policy_for(trust: &TrustSource, province: Option<&str>) -> Result<Policy, String> {
        let mut policy = Policy::default();
        let Some(province) = province else { return Ok(policy) };
        let TrustSource::Store(store) = trust else {
            return Err("a checkpoint province needs a trust store (federation bundles)".into());
        };
        let bundle = store
            .state()
            .bundles()
            .iter()
            .find(|b| b.province == province)
            .ok_or_else(|| format!("the trust store has no bundle for {province}"))?;
        if !bundle.policy.accepted_types.is_empty() {
            policy.accepted_types = Some(bundle.policy.accepted_types.clone());
        }
        if bundle.policy.max_test_age.is_some() {
            policy.max_test_age = bundle.policy.max_test_age;
        }
        Ok(policy)
    }
}

/// What one input holds: the QR texts read from it (one for a text input; any number for an image), or why it
/// could not be read.
pub type InputCodes = Result<Vec<String>, Rejection>;

/// The one answer an input gets.
#[derive(Debug, Clone)]
pub struct InputAnswer {
    /// The code answered for: the input's best code; `None` when it held no readable code.
    pub text: Option<String>,
    /// The answer.
    pub outcome: Result<Answer, Rejection>,
    /// How many codes the input held (an image may hold several; the answer is for `text` alone).
    pub codes_found: usize,
}

impl InputAnswer {
    /// A warning to show when the input held more than one code: the answer is for one of them only.
    pub fn several_codes_note(&self) -> Option<String> {
        (self.codes_found > 1).then(|| {
            format!(
                "the image holds {} codes; this answer is for one of them only: scan each code on its own",
                self.codes_found
            )
        })
    }
}

/// The refusal for an input that held no readable code.
pub fn no_code() -> Rejection {
    Rejection::QrUnreadable { reason: "no readable QR code in the image".into() }
}

/// The refusal given when answers cannot be matched to their inputs (never expected: fail closed).
fn answer_mismatch() -> Rejection {
    Rejection::QrUnreadable { reason: "internal error: the answer could not be matched to its input".into() }
}

/// Unix seconds as RFC 3339 (UTC); the number itself when out of range.
pub fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| t.to_string())
}

/// The rejection's detail, with times written for people.
pub fn detail(r: &Rejection) -> String {
    match r {
        Rejection::Expired { now, expired_at } => format!("expired at {}, now {}", rfc3339(*expired_at), rfc3339(*now)),
        Rejection::NotYetValid { now, valid_from } => {
            format!("valid from {}, now {}", rfc3339(*valid_from), rfc3339(*now))
        }
        other => other.to_string(),
    }
}

/// `dcc` for EU DCC text (`HC1:`), `huren` for everything else (static `HR1:` and dynamic `HP1:` codes alike).
pub fn format_of(text: Option<&str>) -> &'static str {
    if text.is_some_and(|t| t.starts_with(HC1_PREFIX)) {
        "dcc"
    } else {
        "huren"
    }
}

/// The machine-readable answer for one input ([`crate::report::VerifyReport`], the CLI's `--json` line) as a JSON
/// value.
pub fn json_report(
    label: &str,
    format: &'static str,
    outcome: &Result<Answer, Rejection>,
    now: i64,
) -> serde_json::Value {
    serde_json::to_value(crate::report::VerifyReport::new(label, format, outcome, now)).unwrap_or_default()
}

/// How a person's name and masked ID are shown at a checkpoint: a Huren name by the name rule, with every
/// character the rule refuses escaped (`\u{202E}`), so nothing in a credential signed under older rules can hide or
/// reorder what staff read; the masked ID with anything that hides text escaped.
pub fn shown_person(c: &huren_wallet_core::Credential) -> (String, String) {
    use huren_wallet_core::name::{escape_for_display, escape_hidden_for_display};
    (escape_for_display(&c.subject.name), escape_hidden_for_display(&c.subject.masked_id))
}

/// How an EU DCC holder's names are shown: the native-script name and the ICAO transliteration, with anything that
/// hides or reorders text escaped (letters of every script stay).
pub fn shown_dcc_names(d: &crate::dcc::Dcc) -> (String, String) {
    use huren_wallet_core::name::escape_hidden_for_display;
    let native: Vec<&str> = [d.name.family.as_deref(), d.name.given.as_deref()].into_iter().flatten().collect();
    let standard: Vec<&str> =
        [Some(d.name.family_std.as_str()), d.name.given_std.as_deref()].into_iter().flatten().collect();
    (escape_hidden_for_display(&native.join(" ")), escape_hidden_for_display(&standard.join(" ")))
}

/// The answer for one input as a few lines for a terminal.
pub fn human_report(label: &str, outcome: &Result<Answer, Rejection>) -> String {
    let short: String = label.chars().take(40).collect();
    match outcome {
        Ok(Answer::Dcc(v)) => {
            let d = v.dcc();
            let (native, standard) = shown_dcc_names(d);
            let dates: Vec<String> = d.key_dates.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let warnings: String =
                d.warnings.iter().map(|w| format!("    ! {} / {}\n", w.message_zh(), w.message_en())).collect();
            format!(
                "OK  {} / {}  [{short}]  (EU DCC)\n    {} · {} ({}) · born {}\n    {}{} · {} · valid until {}\n    signed by {}\n{warnings}",
                Code::Ok.message_zh(),
                Code::Ok.message_en(),
                d.issuer.as_deref().unwrap_or("?"),
                native,
                standard,
                d.date_of_birth,
                d.kind.name(),
                d.dose.map(|(n, of)| format!(" {n}/{of}")).unwrap_or_default(),
                dates.join(", "),
                rfc3339(d.expires_at),
                huren_keys::hex(&v.kid()),
            )
        }
        Ok(Answer::Huren(v)) => {
            let c = v.credential();
            let what = match &c.body {
                Body::HealthStatus(h) => format!(
                    "{} {} — {} / {}",
                    h.colour.label_zh(),
                    h.colour.label_en(),
                    h.reason.message_zh(),
                    h.reason.message_en()
                ),
                other => other.credential_type().name().to_string(),
            };
            let dynamic = if v.presentation_step().is_some() { "  (动态码 / dynamic code)" } else { "" };
            let (name, masked_id) = shown_person(c);
            format!(
                "OK  {} / {}  [{short}]{dynamic}\n    {} · {what}\n    {} · ID {} · valid until {}\n    signed by {} ({})\n",
                Code::Ok.message_zh(),
                Code::Ok.message_en(),
                c.issuer,
                name,
                masked_id,
                rfc3339(c.expires_at),
                v.kid(),
                v.algorithm(),
            )
        }
        Err(r) => format!(
            "{}  {} / {}  [{short}]\n    stage {}: {}\n",
            r.code().as_str(),
            r.code().message_zh(),
            r.code().message_en(),
            r.stage().as_str(),
            detail(r)
        ),
    }
}
