//! What the issuer answers on the wire: the JSON bodies of the HTTP API and the NDJSON lines of bulk issuance
//! (which `huren-issuer bulk` prints as they come), one type per answer.
//!
//! Members are declared in the order clients have always received them, which is alphabetical (these answers
//! were once built as JSON maps, which sort their keys); `tests/wire.rs` holds them to it byte for byte.

use serde::Serialize;

/// `201` to `POST /v1/credentials`: the new credential.
#[derive(Debug, Serialize)]
pub(crate) struct IssuedAnswer<'a> {
    /// What was signed (its members, at every level, sorted by name).
    #[serde(serialize_with = "sorted")]
    pub(crate) credential: &'a huren_wallet_core::Credential,
    /// The credential id (lower-case hex).
    pub(crate) id: &'a str,
    /// The QR text (`HR1:...`).
    pub(crate) qr_text: String,
}

/// Serialise `value` with the members of every object sorted by name, as a JSON map (without the
/// `preserve_order` feature, which the workspace does not enable) holds them.
fn sorted<T: Serialize, S: serde::Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serde_json::to_value(value).map_err(serde::ser::Error::custom)?.serialize(serializer)
}

/// `200` to `POST /v1/credentials` repeated with an Idempotency-Key: the credential issued the first time.
#[derive(Debug, Serialize)]
pub(crate) struct ReplayedAnswer<'a> {
    /// The credential id (lower-case hex).
    pub(crate) id: &'a str,
    /// The QR text (`HR1:...`).
    pub(crate) qr_text: String,
    /// Always `true`: nothing new was issued.
    pub(crate) replayed: bool,
}

/// `200` to `GET /v1/credentials/{id}`: a stored credential and its status.
#[derive(Debug, Serialize)]
pub(crate) struct CredentialAnswer<'a> {
    /// `exp` (Unix seconds).
    pub(crate) expires_at: i64,
    /// The credential id, as asked for.
    pub(crate) id: &'a str,
    /// `iat` (Unix seconds).
    pub(crate) issued_at: i64,
    /// The issuing province.
    pub(crate) province: &'a str,
    /// The QR text (`HR1:...`).
    pub(crate) qr_text: String,
    /// `valid`, `revoked` or `suspended`.
    pub(crate) status: &'a str,
    /// Why the status last changed (`null` when it never did).
    pub(crate) status_reason: Option<&'a str>,
    /// The credential type (`health-status`, ...).
    #[serde(rename = "type")]
    pub(crate) kind: &'a str,
}

/// `201` to `POST /v1/credentials/{id}/claim-link`: where the wallet redeems it, and until when.
#[derive(Debug, Serialize)]
pub(crate) struct ClaimLinkAnswer {
    /// When the link expires (Unix seconds).
    pub(crate) expires_at: i64,
    /// The link's path (`/v1/claim/{secret}`).
    pub(crate) path: String,
}

/// `200` to `GET /v1/claim/{secret}`: the credential the link was for.
#[derive(Debug, Serialize)]
pub(crate) struct ClaimedAnswer<'a> {
    /// The credential id (lower-case hex).
    pub(crate) id: &'a str,
    /// The QR text (`HR1:...`).
    pub(crate) qr_text: String,
    /// `valid`, `revoked` or `suspended`.
    pub(crate) status: &'a str,
}

/// `200` to a revocation, suspension or reinstatement: the credential's new status.
#[derive(Debug, Serialize)]
pub(crate) struct StatusChangeAnswer<'a> {
    /// The credential id, as asked for.
    pub(crate) id: &'a str,
    /// The reason given.
    pub(crate) reason: &'a str,
    /// The new status.
    pub(crate) status: &'a str,
}

/// One answer line of bulk issuance: the input line's credential id, or why it was not issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub(crate) enum BulkLine {
    /// The line was issued and stored.
    Issued {
        /// The credential id (lower-case hex).
        id: String,
        /// The input line (from 1).
        line: u64,
    },
    /// The line was not issued.
    Failed {
        /// Why.
        error: String,
        /// The input line (from 1).
        line: u64,
    },
}

/// The last line of bulk issuance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct BulkSummary {
    /// The counts, and why the input was cut short if it was.
    pub(crate) summary: BulkCounts,
}

/// What a bulk issuance did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct BulkCounts {
    /// Why the input was not read to its end (`null` when it was).
    pub(crate) aborted: Option<String>,
    /// Lines answered with an error.
    pub(crate) failed: u64,
    /// Lines answered with an id.
    pub(crate) issued: u64,
}
