//! # huren-web — Huren's cores in the browser
//!
//! The phone verifier's engine: `huren-verifier`'s core (the pipeline, the trust store with its root chain,
//! bundles, time floor, freshness and rollback protection, the status lists, the EU DCC path and the QR scanner)
//! behind a small wasm-bindgen API. No rule lives here: every answer is the core's, in the core's JSON contracts
//! (`huren_verifier::report`), so the app answers exactly as `huren-verifier verify` and the kiosk do. The page
//! keeps the store's documents in IndexedDB as one blob ([`Verifier::save`]), replaced in one transaction.
//!
//! Times are Unix seconds from the page's clock (`Date.now() / 1000`); the core reads no clock.
#![forbid(unsafe_code)]

use huren_verifier::checkpoint::{Checkpoint, TrustSource};
use huren_verifier::dcc::DccTrust;
use huren_verifier::medium::{Document, MemoryMedium, TrustMedium};
use huren_verifier::report::{freshness_name, to_json, KioskStatus, ScreenAnswer, StatusListReport, VerifyReport};
use huren_verifier::scan::{self, ImageLimits};
use huren_verifier::store::{StoreError, TrustStore};
use wasm_bindgen::prelude::*;

/// The label every answer carries: what the page gave.
const LABEL: &str = "phone";

/// A checkpoint on a phone: its trust store (in memory, saved by the page), its EU DCC signers and its policy.
#[wasm_bindgen]
pub struct Verifier {
    checkpoint: Checkpoint,
    medium: MemoryMedium,
    /// The EU DCC signers' text as given, kept so a save carries it (the store itself holds only Huren's trust).
    dcc_text: Option<String>,
}

/// Seconds from the page's clock, refused when not a finite time (a NaN must never stand for "now").
fn seconds(now: f64) -> Result<i64, JsError> {
    if !now.is_finite() || now.abs() > 1e15 {
        return Err(JsError::new("the clock is not a time"));
    }
    #[allow(clippy::cast_possible_truncation, clippy::as_conversions)] // finite and range-checked above
    Ok(now.floor() as i64)
}

fn refused(e: StoreError) -> JsError {
    JsError::new(&e.to_string())
}

impl Verifier {
    fn with_store(store: TrustStore, medium: MemoryMedium) -> Self {
        let checkpoint = Checkpoint {
            trust: TrustSource::Store(store),
            dcc: DccTrust::default(),
            policy: Default::default(),
            freshness: Default::default(),
        };
        Verifier { checkpoint, medium, dcc_text: None }
    }

    fn store(&self) -> Option<&TrustStore> {
        match &self.checkpoint.trust {
            TrustSource::Store(store) => Some(store),
            TrustSource::List(_) => None,
        }
    }

    fn store_mut(&mut self) -> Result<&mut TrustStore, JsError> {
        match &mut self.checkpoint.trust {
            TrustSource::Store(store) => Ok(store),
            TrustSource::List(_) => Err(JsError::new("no trust store")),
        }
    }
}

#[wasm_bindgen]
impl Verifier {
    /// A new verifier pinned to `root`, a signed federation root obtained out of band (built into the app by the
    /// province that hosts it, or scanned from a provisioning code), as of `now`.
    pub fn provision(root: &[u8], now: f64) -> Result<Verifier, JsError> {
        let medium = MemoryMedium::new("phone");
        let store = TrustStore::provision_in(Box::new(medium.clone()), root, seconds(now)?).map_err(refused)?;
        Ok(Self::with_store(store, medium))
    }

    /// The verifier [`Verifier::save`] saved, every document verified again (a damaged or tampered save is
    /// refused, or fails closed for the status lists it held).
    pub fn restore(saved: &[u8]) -> Result<Verifier, JsError> {
        let medium = MemoryMedium::new("phone");
        let mut dcc_text = None;
        for (name, bytes) in decode_pairs(saved)? {
            if name == DCC_TRUST {
                dcc_text = Some(String::from_utf8(bytes).map_err(|_| damaged())?);
                continue;
            }
            let document = document_of(&name).ok_or_else(damaged)?;
            medium.replace(&document, &bytes).map_err(|e| JsError::new(&e.to_string()))?;
        }
        let store = TrustStore::open_in(Box::new(medium.clone())).map_err(refused)?;
        let mut verifier = Self::with_store(store, medium);
        if let Some(text) = dcc_text {
            verifier.set_dcc_trust(&text)?;
        }
        Ok(verifier)
    }

    /// Every document of the store and the EU DCC signers, as one blob for IndexedDB (written in one transaction:
    /// a cut save leaves the previous one whole).
    pub fn save(&self) -> Vec<u8> {
        let mut pairs: Vec<(String, Vec<u8>)> =
            self.medium.documents().iter().map(|(document, bytes)| (document_name(document), bytes.clone())).collect();
        if let Some(text) = &self.dcc_text {
            pairs.push((DCC_TRUST.to_string(), text.as_bytes().to_vec()));
        }
        encode_pairs(&pairs)
    }

    /// Take a trust bundle from any mirror (every part is signed; each is taken or refused on its own). Returns the
    /// report as JSON: `{"roots_followed", "bundles_updated", "bundles_unchanged", "refused": [[what, "CODE: why"]]}`;
    /// when nothing could be taken, the refusal is the error (`CODE: why`) and the store is unchanged.
    pub fn import_bundle(&mut self, bundle: &[u8], now: f64) -> Result<String, JsError> {
        let now = seconds(now)?;
        let report = self.store_mut()?.import(bundle, now).map_err(refused)?;
        Ok(serde_json::json!({
            "roots_followed": report.roots_followed,
            "bundles_updated": report.bundles_updated,
            "bundles_unchanged": report.bundles_unchanged,
            "refused": report.refused,
        })
        .to_string())
    }

    /// Take a signed full status list (from any mirror); refused when it does not verify, is dated in the future,
    /// or is older than what this store held.
    pub fn import_status_list(&mut self, list: &[u8], now: f64) -> Result<String, JsError> {
        let now = seconds(now)?;
        let update = self.store_mut()?.import_status_list(list, now).map_err(refused)?;
        Ok(format!("{update:?}"))
    }

    /// Apply a signed status delta to the list it is for.
    pub fn apply_status_delta(&mut self, delta: &[u8], now: f64) -> Result<String, JsError> {
        let now = seconds(now)?;
        let update = self.store_mut()?.apply_status_delta(delta, now).map_err(refused)?;
        Ok(format!("{update:?}"))
    }

    /// Trust these EU DCC signers (the EU DCC Gateway trust-list JSON, or PEM certificates); returns how many
    /// certificates could not be read (they are not trusted).
    pub fn set_dcc_trust(&mut self, text: &str) -> Result<u32, JsError> {
        let (trust, skipped) = DccTrust::parse(text).map_err(|e| JsError::new(&e.to_string()))?;
        self.checkpoint.dcc = trust;
        self.dcc_text = Some(text.to_string());
        Ok(u32::try_from(skipped).unwrap_or(u32::MAX))
    }

    /// The screen's answer for a code's text (`ScreenAnswer` JSON: verdict, reason, person, warnings).
    pub fn verify(&self, text: &str, now: f64) -> Result<String, JsError> {
        let now = seconds(now)?;
        let answer = self.checkpoint.answer_input(Ok(vec![text.to_string()]), now);
        let screen = ScreenAnswer::at(&self.checkpoint, LABEL, answer.text.as_deref(), &answer.outcome, now);
        Ok(to_json(&screen.with_codes_found(answer.codes_found, answer.several_codes_note())))
    }

    /// The screen's answer for the codes one camera frame held (an 8-bit greyscale image, row by row): the best
    /// of them, and how many there were; `null` when the frame held no code.
    pub fn verify_frame(&self, gray: &[u8], width: u32, height: u32, now: f64) -> Result<Option<String>, JsError> {
        let now = seconds(now)?;
        let codes = scan_codes(gray, width, height)?;
        if codes.is_empty() {
            return Ok(None);
        }
        let answer = self.checkpoint.answer_input(Ok(codes), now);
        let screen = ScreenAnswer::at(&self.checkpoint, "camera", answer.text.as_deref(), &answer.outcome, now);
        Ok(Some(to_json(&screen.with_codes_found(answer.codes_found, answer.several_codes_note()))))
    }

    /// `huren-verifier verify --json`'s line for a code's text, with the label the CLI would give it: the contract
    /// the differential test holds the app to.
    pub fn verify_report(&self, label: &str, text: &str, now: f64) -> Result<String, JsError> {
        let now = seconds(now)?;
        let answer = self.checkpoint.answer_input(Ok(vec![text.to_string()]), now);
        Ok(to_json(&VerifyReport::for_input(&self.checkpoint, label, &answer, now)))
    }

    /// The banner's data (`KioskStatus` JSON): trust age, freshness, each status list.
    pub fn status(&self, now: f64) -> Result<String, JsError> {
        let now = seconds(now)?;
        let (age, warning) = self.checkpoint.trust_age(now);
        let (freshness, lists) = match self.store() {
            Some(store) => {
                (freshness_name(store.staleness(now, &self.checkpoint.freshness)), StatusListReport::all(store, now))
            }
            None => ("unmanaged", Vec::new()),
        };
        Ok(to_json(&KioskStatus {
            now: huren_verifier::checkpoint::rfc3339(now),
            trust: "store",
            trust_age_seconds: age,
            freshness,
            trust_warning: warning,
            status_lists: lists,
            dcc_signers: self.checkpoint.dcc.signers().len(),
            log: false,
        }))
    }
}

/// The QR texts in an 8-bit greyscale frame, by the kiosk's scanner (its limits on size and work included).
pub fn scan_codes(gray: &[u8], width: u32, height: u32) -> Result<Vec<String>, JsError> {
    let expected = u64::from(width).saturating_mul(u64::from(height));
    if u64::try_from(gray.len()) != Ok(expected) {
        return Err(JsError::new("the frame's size does not match its pixels"));
    }
    let frame = image::GrayImage::from_raw(width, height, gray.to_vec())
        .ok_or_else(|| JsError::new("the frame's size does not match its pixels"))?;
    scan::scan_within_budget(frame, &ImageLimits::default()).map_err(|r| JsError::new(&r.to_string()))
}

/// The QR texts in an 8-bit greyscale frame, as a JSON array.
#[wasm_bindgen(js_name = scanFrame)]
pub fn scan_frame(gray: &[u8], width: u32, height: u32) -> Result<String, JsError> {
    Ok(serde_json::Value::from(scan_codes(gray, width, height)?).to_string())
}

/// The save's entry for the EU DCC signers' text (the other entries are the store's documents).
const DCC_TRUST: &str = "dcc-trust";

fn damaged() -> JsError {
    JsError::new("the saved trust data is damaged")
}

/// A save: one CBOR array of `[name, bytes]` pairs.
fn encode_pairs(pairs: &[(String, Vec<u8>)]) -> Vec<u8> {
    use ciborium::Value;
    let pairs = pairs
        .iter()
        .map(|(name, bytes)| Value::Array(vec![Value::Text(name.clone()), Value::Bytes(bytes.clone())]))
        .collect();
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = ciborium::into_writer(&Value::Array(pairs), &mut out);
    out
}

fn decode_pairs(saved: &[u8]) -> Result<Vec<(String, Vec<u8>)>, JsError> {
    use ciborium::Value;
    let value: Value = ciborium::from_reader(saved).map_err(|_| damaged())?;
    let Value::Array(pairs) = value else { return Err(damaged()) };
    pairs
        .into_iter()
        .map(|pair| match pair {
            Value::Array(mut pair) if pair.len() == 2 => match (pair.remove(0), pair.remove(0)) {
                (Value::Text(name), Value::Bytes(bytes)) => Ok((name, bytes)),
                _ => Err(damaged()),
            },
            _ => Err(damaged()),
        })
        .collect()
}

/// A document's name in a save: `state`, `status/CN-GD/1`, `sync-hints`.
fn document_name(document: &Document) -> String {
    match document {
        Document::State => "state".into(),
        Document::StatusList((province, list)) => format!("status/{province}/{list}"),
        Document::SyncHints => "sync-hints".into(),
    }
}

fn document_of(name: &str) -> Option<Document> {
    match name {
        "state" => Some(Document::State),
        "sync-hints" => Some(Document::SyncHints),
        _ => {
            let (province, list) = name.strip_prefix("status/")?.split_once('/')?;
            let list = list.parse().ok().filter(|l: &u32| l.to_string() == list)?;
            huren_keys::is_province_code(province).then(|| Document::StatusList((province.to_string(), list)))
        }
    }
}
