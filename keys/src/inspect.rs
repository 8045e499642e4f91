//! `huren-keys inspect` (feature `cli`): identify any federation document by its structure and content type, verify
//! what can be verified against a root the operator trusts, and describe it for people.

use huren_plumbing::clock::rfc3339;

use crate::federation::ROOT_CONTENT_TYPE;
use crate::{
    Error, FederationRoot, KeyCertificate, ProvinceBundle, PublicKey, TrustBundle, TrustState, BUNDLE_CONTENT_TYPE,
    KEY_CERTIFICATE_CONTENT_TYPE,
};

/// Why a document could not be described.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    /// A check refused it.
    #[error(transparent)]
    Refused(#[from] Error),
    /// It is inconsistent in a way no single check names.
    #[error("{0}")]
    Invalid(String),
    /// It is none of the documents this tool knows.
    #[error("not a Huren document this tool knows")]
    NotRecognised,
}

/// A trust state pinned to a signed root as of its own issue time (so an old pinned root still anchors a chain).
pub fn pinned_state(root: &[u8]) -> Result<TrustState, Error> {
    let issued_at = FederationRoot::verify_initial(root)?.issued_at;
    TrustState::provision(root, issued_at)
}

/// A federation root for people: version, threshold, validity, each member's root keys.
pub fn describe_root(root: &FederationRoot) -> String {
    let mut out = format!(
        "  version {}, threshold {} of {}, issued {}, expires {}\n",
        root.version,
        root.threshold,
        root.members.len(),
        rfc3339(root.issued_at),
        rfc3339(root.expires)
    );
    for m in &root.members {
        let kids: Vec<String> = m.root_keys.iter().map(|k| format!("{} ({})", k.kid(), k.algorithm())).collect();
        out.push_str(&format!("  member {}: root keys {}\n", m.province, kids.join(", ")));
    }
    out
}

fn describe_issuer_key(k: &crate::IssuerKey) -> String {
    let types: Vec<&str> = k.credential_types.iter().map(|t| t.name()).collect();
    format!(
        "  issuer key {} ({}): {}; signs {} .. {}; void after {}\n",
        k.public_key.kid(),
        k.public_key.algorithm(),
        types.join(", "),
        rfc3339(k.usage_from),
        rfc3339(k.usage_until),
        rfc3339(k.expires)
    )
}

fn describe_bundle(b: &ProvinceBundle, now: i64) -> String {
    let mut out = format!(
        "  province {} v{}, issued {}, expires {}{}\n",
        b.province,
        b.version,
        rfc3339(b.issued_at),
        rfc3339(b.expires),
        if now >= b.expires { " (EXPIRED)" } else { "" }
    );
    for k in &b.issuer_keys {
        out.push_str(&describe_issuer_key(k));
    }
    for r in &b.revocations {
        out.push_str(&format!(
            "  revoked key {}: refuses credentials issued after {}\n",
            r.kid,
            rfc3339(r.issued_after)
        ));
    }
    for l in &b.status_lists {
        out.push_str(&format!("  status list {}: {}\n", l.list, l.url));
    }
    out
}

/// Identify a document by its structure and content type, and report on it. `trusted_root` (a signed root the
/// operator trusts) anchors what can be anchored: a trust bundle's chain, a root's predecessor, a bundle's or a
/// certificate's signer.
pub fn inspect(bytes: &[u8], trusted_root: Option<&[u8]>, now: i64) -> Result<String, InspectError> {
    let root = trusted_root.map(FederationRoot::verify_initial).transpose()?;
    if let Ok(bundle) = TrustBundle::decode(bytes) {
        let (anchor, whose) = match trusted_root {
            Some(r) => (r, "the --root given"),
            None => (
                bundle.roots.first().ok_or(InspectError::Invalid("trust bundle without a root".into()))?.as_slice(),
                "its own first root (pass --root to anchor it)",
            ),
        };
        let (state, report) = pinned_state(anchor)?.update(&bundle, now)?;
        let mut out = format!(
            "trust bundle: {} roots, {} province bundles; VERIFIED from {whose}: chain to root v{}, bundles {:?}\n",
            bundle.roots.len(),
            bundle.bundles.len(),
            state.root().version,
            report.bundles_updated
        );
        out.push_str(&describe_root(state.root()));
        for b in state.bundles() {
            out.push_str(&describe_bundle(b, now));
        }
        return Ok(out);
    }
    if let Ok(r) = FederationRoot::verify_initial(bytes) {
        let mut out = format!("federation root ({ROOT_CONTENT_TYPE}): VERIFIED, threshold of its own members met\n");
        if let Some(prev) = &root {
            if r.version == prev.version.saturating_add(1) {
                prev.verify_successor(bytes)?;
                out.push_str(&format!("  VERIFIED as the successor of the --root given (v{})\n", prev.version));
            } else {
                out.push_str(&format!("  not the successor of the --root given (v{})\n", prev.version));
            }
        }
        if now >= r.expires {
            out.push_str("  EXPIRED\n");
        }
        out.push_str(&describe_root(&r));
        return Ok(out);
    }
    if let Ok(r) = FederationRoot::from_payload(bytes) {
        return Ok(format!("federation root proposal (unsigned)\n{}", describe_root(&r)));
    }
    if let Ok(sign1) = crate::cose::Sign1::parse(bytes) {
        match sign1.content_type() {
            Some(BUNDLE_CONTENT_TYPE) => {
                let Some(root) = root else {
                    return Ok("province bundle: pass --root ROOT to verify it\n".into());
                };
                let b = ProvinceBundle::verify(bytes, &root)?;
                return Ok(format!(
                    "province bundle: VERIFIED against root v{}\n{}",
                    root.version,
                    describe_bundle(&b, now)
                ));
            }
            Some(KEY_CERTIFICATE_CONTENT_TYPE) => {
                let Some(root) = root else {
                    return Ok(format!(
                        "key certificate signed by key {}: pass --root ROOT to verify it\n",
                        crate::hex(sign1.kid())
                    ));
                };
                let signer = root
                    .members
                    .iter()
                    .find(|m| m.root_keys.iter().any(|k| k.kid().0 == sign1.kid()))
                    .ok_or(InspectError::Invalid("key certificate not signed by any member's root key".into()))?;
                let key = signer
                    .root_keys
                    .iter()
                    .find(|k| k.kid().0 == sign1.kid())
                    .ok_or(InspectError::Invalid("no such root key".into()))?;
                let cert = KeyCertificate::verify(bytes, key)?;
                if cert.province != signer.province {
                    let (signer, certified) = (&signer.province, &cert.province);
                    return Err(InspectError::Invalid(format!("{signer}'s root certified a key for {certified}")));
                }
                return Ok(format!(
                    "key certificate: VERIFIED, signed by the {} root\n{}",
                    signer.province,
                    describe_issuer_key(&ProvinceBundle::key_from_certificate(&cert))
                ));
            }
            _ => {}
        }
    }
    if let Ok(signature) = <coset::CoseSignature as coset::CborSerializable>::from_slice(bytes) {
        return Ok(format!(
            "member signature file (COSE_Signature) by key {}: `huren-keys combine` checks it against the proposal\n",
            crate::hex(&signature.protected.header.key_id)
        ));
    }
    if let Ok(key) = PublicKey::from_spki_der(bytes) {
        return Ok(format!("public key {} ({})\n", key.kid(), key.algorithm()));
    }
    Err(InspectError::NotRecognised)
}
