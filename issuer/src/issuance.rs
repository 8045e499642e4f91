//! Issue and record: give each credential a place in a status list, sign it, and store it with its audit entry,
//! one by one (with or without an idempotency key) or in batches. Whatever the front end (the HTTP API, bulk
//! uploads, the CLI), a credential id is handed out only once all of that is done.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::status::StatusService;
use crate::storage::{CredentialStatus, Database, IdempotencyRecord, StoredCredential};
use crate::{Error, IssueRequest, Issued, Province};

/// A credential id as the service and the CLI write it: 8 to 16 bytes in lower-case hex, the one spelling (so
/// `+a`, upper case or spaces name no credential).
pub fn parse_credential_id(hex: &str) -> Option<Vec<u8>> {
    huren_keys::unhex(hex).ok().filter(|id| (8..=16).contains(&id.len()))
}

/// The stored form of a freshly issued credential.
pub(crate) fn record_of(issued: &Issued) -> StoredCredential {
    let c = &issued.credential;
    StoredCredential {
        id: c.id.clone(),
        province: c.issuer.clone(),
        kind: c.credential_type().name().into(),
        issued_at: c.issued_at,
        expires_at: c.expires_at,
        cose: issued.cose.clone(),
        status: CredentialStatus::Valid,
        status_reason: None,
        status_changed_at: None,
        status_ref: c.status,
    }
}

/// Count an issued credential of type `kind` (Prometheus `huren_credentials_issued_total`).
fn count_issued(kind: &str) {
    metrics::counter!("huren_credentials_issued_total", "type" => kind.to_string()).increment(1);
}

/// Issue one credential at `now` with a place in a status list, store it and audit it as done by `actor`; the
/// id is returned only once all of that is done.
pub async fn issue_and_record(
    province: &Province,
    db: &Database,
    status: &StatusService,
    actor: &str,
    request: &IssueRequest,
    now: i64,
) -> Result<(String, Issued), Error> {
    let refs = status.allocate(db, province.code(), 1, now).await?;
    let issued = province.issue_with_status(request, now, refs.first().copied())?;
    let id = huren_keys::hex(&issued.credential.id);
    db.insert_issued(&[record_of(&issued)], actor).await?;
    count_issued(issued.credential.credential_type().name());
    Ok((id, issued))
}

/// What an issuance under an idempotency key did.
#[derive(Debug)]
pub(crate) enum Once {
    /// The key was new: this credential was issued, stored and audited.
    Issued(String, Box<Issued>),
    /// The key was used already (a retry, or a concurrent duplicate that won): nothing was issued, and this is
    /// what the key answers.
    Earlier(IdempotencyRecord),
}

/// Issue one credential as [`issue_and_record`] does, under `token_id`'s idempotency key `key` for the request
/// whose digest is `digest` ([`request_digest`]): the credential, its audit entry and the key are stored in one
/// transaction, unless the key was used already. The caller looks the key up first, so that a plain retry does
/// not spend a status index; this settles the race between concurrent duplicates (the index the loser took stays
/// unused, as any index handed out to a request that was then not issued).
pub(crate) async fn issue_once(
    province: &Province,
    db: &Database,
    status: &StatusService,
    (token_id, key, digest): (&str, &str, &[u8]),
    request: &IssueRequest,
    now: i64,
) -> Result<Once, Error> {
    let refs = status.allocate(db, province.code(), 1, now).await?;
    let issued = province.issue_with_status(request, now, refs.first().copied())?;
    match db.insert_credential_once(&record_of(&issued), token_id, key, digest, now).await? {
        None => {
            count_issued(issued.credential.credential_type().name());
            Ok(Once::Issued(huren_keys::hex(&issued.credential.id), Box::new(issued)))
        }
        Some(earlier) => Ok(Once::Earlier(earlier)),
    }
}

/// The digest an idempotency key is stored with: SHA-256 over a domain label and the request as parsed and
/// serialised again (members in the order of [`IssueRequest`]'s fields; absent and `null` alike), so a retry is
/// recognised however its JSON is spelt (member order, white space, escapes), and any change of meaning (another
/// subject, body, validity or holder key) makes another request.
pub(crate) fn request_digest(request: &IssueRequest) -> Result<Vec<u8>, Error> {
    let canonical = serde_json::to_vec(request).map_err(|e| Error::Request(format!("request: {e}")))?;
    let mut hasher = Sha256::new();
    hasher.update(b"huren issue request v1\n");
    hasher.update(&canonical);
    Ok(hasher.finalize().to_vec())
}

/// Give each request a place in a status list, sign them at `now` on blocking threads (one share per core),
/// store every one that signed with its audit entry in one transaction, and return one result per request, in
/// order: its id, or why it was refused. `Err` means nothing of the batch was stored.
pub async fn issue_batch(
    province: Arc<Province>,
    db: &Database,
    status: &StatusService,
    actor: &str,
    requests: Vec<IssueRequest>,
    now: i64,
) -> Result<Vec<Result<String, Error>>, Error> {
    let mut refs = status.allocate(db, province.code(), requests.len(), now).await?.into_iter();
    let requests: Vec<_> = requests.into_iter().map(|r| (r, refs.next())).collect();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let share = requests.len().div_ceil(cores).max(1);
    let mut shares = Vec::new();
    let mut rest = requests;
    while !rest.is_empty() {
        let tail = rest.split_off(share.min(rest.len()));
        let chunk = std::mem::replace(&mut rest, tail);
        let province = province.clone();
        shares.push(tokio::task::spawn_blocking(move || {
            chunk.iter().map(|(r, status)| province.issue_with_status(r, now, *status)).collect::<Vec<_>>()
        }));
    }
    let mut signed = Vec::new();
    for share in shares {
        signed.extend(share.await.map_err(Error::SigningTask)?);
    }
    let records: Vec<_> = signed.iter().filter_map(|s| s.as_ref().ok()).map(record_of).collect();
    db.insert_issued(&records, actor).await?;
    for r in &records {
        count_issued(&r.kind);
    }
    Ok(signed.into_iter().map(|s| s.map(|issued| huren_keys::hex(&issued.credential.id))).collect())
}
