//! Many codes at once: every answer is the one [`crate::verify`] gives, with the issuers' Ed25519 signatures
//! checked together in one [`BatchVerifier`] (several times faster per signature than one by one).

use huren_keys::cose::Sign1;
use huren_keys::{Algorithm, BatchVerifier, TrustList};

use crate::pipeline::{check_presentation, decode_text, require_static, verify_credential, Shown};
use crate::{Policy, Rejection, Verified};

/// Verify many QR texts at once: every answer is the one [`verify`] gives, and the issuers' Ed25519 signatures
/// are checked together with one [`BatchVerifier`] (several times faster per signature than one by one). Holder
/// signatures of dynamic codes are checked one by one, after their credential.
pub fn verify_many(texts: &[&str], trust: &TrustList, now: i64, policy: &Policy) -> Vec<Result<Verified, Rejection>> {
    let decoded: Vec<_> = texts.iter().map(|t| decode_text(t, policy)).collect();
    // First pass: every EdDSA signature under every trusted key its kid names, into one batch.
    let mut batch = BatchVerifier::with_capacity(texts.len());
    for shown in decoded.iter().flatten() {
        let Ok(sign1) = Sign1::parse(shown.credential()) else { continue };
        if sign1.algorithm_id().and_then(Algorithm::from_cose_id) != Some(Algorithm::EdDsa) {
            continue;
        }
        let (signed, signature) = sign1.signed_parts();
        for key in trust.candidates(sign1.kid()) {
            // Keys of other algorithms are refused by `add`; the single path reports them.
            let _ = batch.add(&key.certificate.public_key, &signed, signature);
        }
    }
    let known = batch.verify_known();
    // Second pass: the ordinary checks, which take the batch's valid signatures as checked.
    decoded
        .into_iter()
        .map(|shown| match shown? {
            Shown::Static(cose) => verify_credential(&cose, trust, now, policy, &known).and_then(require_static),
            Shown::Dynamic(p) => {
                let verified = verify_credential(&p.credential, trust, now, policy, &known)?;
                check_presentation(verified, &p, now, policy)
            }
        })
        .collect()
}
