//! The federation root: the member provinces, their root keys and a threshold k, co-signed by at least k members
//! (a COSE_Sign with one signature per member). A new version is valid only when k members of the current one sign
//! it (root rotation by chain, as in TUF), so no single province can change whom the federation trusts.
//!
//! Ceremony: one member [proposes](FederationRoot::to_payload) a root; every member signs the proposal offline with
//! [`cosign`], producing one signature file each; anyone [`combine`]s the files into the signed root.

use ciborium::Value;
use coset::{
    CborSerializable, CoseSign, CoseSignBuilder, CoseSignature, CoseSignatureBuilder, HeaderBuilder,
    TaggedCborSerializable,
};

use crate::cbor::{self, IntMap};
use crate::{is_province_code, Algorithm, Error, PublicKey, Signer, Verified};

/// Protected content type of a federation root.
pub const ROOT_CONTENT_TYPE: &str = "huren/fedroot";
/// Most members a federation root may list.
pub const MAX_MEMBERS: usize = 256;
/// Most root keys one member may list.
pub const MAX_KEYS_PER_MEMBER: usize = 4;
/// Most signatures a signed root may carry.
pub const MAX_SIGNATURES: usize = MAX_MEMBERS * MAX_KEYS_PER_MEMBER;

/// One member province and the root keys that may sign for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// ISO 3166-2 code.
    pub province: String,
    /// The province's root keys (usually one; two during a key change).
    pub root_keys: Vec<PublicKey>,
}

/// The federation root document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationRoot {
    /// Monotonic version; a successor has exactly `version + 1`.
    pub version: u64,
    /// When it was made (Unix seconds); feeds verifiers' time floor.
    pub issued_at: i64,
    /// After this instant a verifier refuses it (and the bundles under it) until it gets a newer one.
    pub expires: i64,
    /// How many distinct members must sign this document and its successor.
    pub threshold: u32,
    /// The member provinces, each once.
    pub members: Vec<Member>,
}

impl FederationRoot {
    /// Check the rules and encode the payload every member signs (canonical CBOR).
    pub fn to_payload(&self) -> Result<Vec<u8>, Error> {
        self.check()?;
        let members = self
            .members
            .iter()
            .map(|m| {
                let keys = m.root_keys.iter().map(|k| Value::Bytes(k.spki_der().to_vec())).collect();
                cbor::map([(1, Some(Value::from(m.province.as_str()))), (2, Some(Value::Array(keys)))])
            })
            .collect();
        Ok(cbor::encode(&cbor::map([
            (1, Some(Value::from(self.version))),
            (2, Some(Value::from(self.issued_at))),
            (3, Some(Value::from(self.expires))),
            (4, Some(Value::from(self.threshold))),
            (5, Some(Value::Array(members))),
        ])))
    }

    /// Decode and check a payload (a proposal, or the payload of a signed root).
    pub fn from_payload(bytes: &[u8]) -> Result<Self, Error> {
        let mut m = IntMap::new(cbor::decode_canonical(bytes, 5)?, "federation root")?;
        let version = cbor::uint(&m.need(1, "version")?, "version", u64::MAX)?;
        let issued_at = cbor::int(&m.need(2, "issued at")?, "issued at")?;
        let expires = cbor::int(&m.need(3, "expires")?, "expires")?;
        let threshold = u32::try_from(cbor::uint(&m.need(4, "threshold")?, "threshold", u64::from(u32::MAX))?)
            .map_err(|_| Error::CborInvalid("threshold out of range".into()))?;
        let mut members = Vec::new();
        let items = cbor::array(m.need(5, "members")?, "members")?;
        if items.len() > MAX_MEMBERS {
            return Err(Error::TooLarge(format!("more than {MAX_MEMBERS} members")));
        }
        for item in items {
            let mut mm = IntMap::new(item, "member")?;
            let province = cbor::text(mm.need(1, "province")?, "province")?;
            let keys = cbor::array(mm.need(2, "root keys")?, "root keys")?;
            if keys.len() > MAX_KEYS_PER_MEMBER {
                return Err(Error::TooLarge(format!("more than {MAX_KEYS_PER_MEMBER} root keys for {province}")));
            }
            let root_keys = keys
                .into_iter()
                .map(|k| PublicKey::from_spki_der(&cbor::bytes(k, "root key")?))
                .collect::<Result<_, _>>()?;
            mm.finish()?;
            members.push(Member { province, root_keys });
        }
        m.finish()?;
        let root = FederationRoot { version, issued_at, expires, threshold, members };
        root.check()?;
        Ok(root)
    }

    fn check(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::DocumentInvalid(format!("federation root: {m}")));
        if self.members.is_empty()
            || self.threshold == 0
            || usize::try_from(self.threshold).map_or(true, |t| t > self.members.len())
        {
            return bad(format!(
                "threshold {} must be between 1 and the {} members",
                self.threshold,
                self.members.len()
            ));
        }
        if self.expires <= self.issued_at {
            return bad("expires must be after issued_at".into());
        }
        let mut seen_keys = Vec::new();
        for (i, m) in self.members.iter().enumerate() {
            if !is_province_code(&m.province) || self.members[..i].iter().any(|o| o.province == m.province) {
                return bad(format!("member {:?} is not a province code or is listed twice", m.province));
            }
            if m.root_keys.is_empty() {
                return bad(format!("member {} has no root key", m.province));
            }
            for k in &m.root_keys {
                if seen_keys.contains(&k.spki_der()) {
                    return bad(format!("a root key of {} is listed twice", m.province));
                }
                seen_keys.push(k.spki_der());
            }
        }
        Ok(())
    }

    /// The member with this province code.
    pub fn member(&self, province: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.province == province)
    }

    /// The members whose root keys have this key id, with the matching key.
    fn keys_with_kid<'a>(&'a self, kid: &'a [u8]) -> impl Iterator<Item = (&'a Member, &'a PublicKey)> + 'a {
        self.members.iter().flat_map(|m| m.root_keys.iter().map(move |k| (m, k))).filter(move |(_, k)| k.kid().0 == kid)
    }

    /// Decode a signed root and count the distinct members of `signers` whose signature verifies.
    fn signed_by(bytes: &[u8], signers: &FederationRoot) -> Result<(FederationRoot, Vec<String>), Error> {
        let sign = CoseSign::from_tagged_slice(bytes).map_err(|e| Error::CoseMalformed(e.to_string()))?;
        check_one_encoding(bytes, &sign)?;
        match sign.protected.header.content_type.as_ref() {
            Some(coset::ContentType::Text(t)) if t == ROOT_CONTENT_TYPE => {}
            _ => return Err(Error::DocumentInvalid("not a federation root (content type)".into())),
        }
        if !sign.protected.header.crit.is_empty() {
            return Err(Error::CoseMalformed("critical header parameters not understood".into()));
        }
        let payload = sign.payload.as_deref().ok_or_else(|| Error::CoseMalformed("detached payload".into()))?;
        let root = FederationRoot::from_payload(payload)?;
        if sign.signatures.len() > MAX_SIGNATURES {
            return Err(Error::TooLarge(format!("more than {MAX_SIGNATURES} signatures")));
        }
        let mut provinces: Vec<String> = Vec::new();
        for (i, signature) in sign.signatures.iter().enumerate() {
            let kid = signature.protected.header.key_id.as_slice();
            let alg = match signature.protected.header.alg.as_ref() {
                Some(coset::RegisteredLabelWithPrivate::Assigned(a)) => {
                    Algorithm::from_cose_id(coset::iana::EnumI64::to_i64(a))
                }
                _ => None,
            };
            for (member, key) in signers.keys_with_kid(kid) {
                if alg != Some(key.algorithm()) {
                    continue;
                }
                if sign.verify_signature(i, &[], |sig, tbs| key.verify(tbs, sig)).is_ok() {
                    if provinces.contains(&member.province) {
                        return Err(Error::DuplicateSigner { province: member.province.clone() });
                    }
                    provinces.push(member.province.clone());
                }
            }
        }
        Ok((root, provinces))
    }

    /// Verify a root a verifier is provisioned with: at least `threshold` of its own members must have signed it.
    pub fn verify_initial(bytes: &[u8]) -> Result<Verified<FederationRoot>, Error> {
        let payload_root = Self::peek(bytes)?;
        let (root, signed) = Self::signed_by(bytes, &payload_root)?;
        require_threshold(&signed, root.threshold, "its own")?;
        Ok(Verified::new(root, bytes.to_vec()))
    }

    /// The version a signed root claims, before any signature is checked (to order a chain).
    pub fn peek_version(bytes: &[u8]) -> Result<u64, Error> {
        Ok(Self::peek(bytes)?.version)
    }

    /// Decode a signed root without checking any signature (to learn its members); never trust the result.
    fn peek(bytes: &[u8]) -> Result<FederationRoot, Error> {
        let sign = CoseSign::from_tagged_slice(bytes).map_err(|e| Error::CoseMalformed(e.to_string()))?;
        let payload = sign.payload.as_deref().ok_or_else(|| Error::CoseMalformed("detached payload".into()))?;
        FederationRoot::from_payload(payload)
    }
}

impl Verified<FederationRoot> {
    /// Verify the next root in the chain: version exactly one more, signed by `threshold` members of this root and
    /// by `threshold` of its own members. Expiry is the caller's business (older links of a chain may have expired).
    pub fn verify_successor(&self, bytes: &[u8]) -> Result<Verified<FederationRoot>, Error> {
        let (next, signed_by_current) = FederationRoot::signed_by(bytes, self)?;
        if next.version != self.version.saturating_add(1) {
            return Err(Error::RootVersion { current: self.version, offered: next.version });
        }
        require_threshold(&signed_by_current, self.threshold, "the current root's")?;
        let (_, signed_by_next) = FederationRoot::signed_by(bytes, &next)?;
        require_threshold(&signed_by_next, next.threshold, "its own")?;
        Ok(Verified::new(next, bytes.to_vec()))
    }
}

/// A signed root has one encoding, as every Huren document: canonical CBOR throughout (protected headers
/// included) and no unprotected header parameters, in the body or in any signature, since nothing there is signed.
fn check_one_encoding(bytes: &[u8], sign: &CoseSign) -> Result<(), Error> {
    let malformed = |m: String| Err(Error::CoseMalformed(format!("signed root not in Huren's one encoding: {m}")));
    if let Err(e) = cbor::decode_canonical(bytes, 6) {
        return malformed(e.to_string());
    }
    let unprotected = std::iter::once(&sign.unprotected).chain(sign.signatures.iter().map(|s| &s.unprotected));
    if unprotected.into_iter().any(|h| !h.is_empty()) {
        return malformed("unprotected header parameters".into());
    }
    let protected = std::iter::once(&sign.protected).chain(sign.signatures.iter().map(|s| &s.protected));
    for header in protected {
        let bytes = header.original_data.as_deref().unwrap_or_default();
        if !bytes.is_empty() && cbor::decode_canonical(bytes, 2).is_err() {
            return malformed("a protected header is not canonical CBOR".into());
        }
    }
    Ok(())
}

fn require_threshold(signed: &[String], threshold: u32, whose: &str) -> Result<(), Error> {
    if usize::try_from(threshold).map_or(true, |t| signed.len() < t) {
        return Err(Error::ThresholdNotMet {
            needed: threshold,
            got: u32::try_from(signed.len()).unwrap_or(u32::MAX),
            detail: format!(
                "distinct signers among {whose} members: {}",
                if signed.is_empty() { "none".to_string() } else { signed.join(", ") }
            ),
        });
    }
    Ok(())
}

/// The protected header of the signed root's body: only the content type.
fn body_header() -> coset::Header {
    HeaderBuilder::new().content_type(ROOT_CONTENT_TYPE.to_string()).build()
}

/// Sign a proposed root payload with one member's root key, offline: the result is one COSE_Signature, kept in its
/// own file until [`combine`] collects it.
pub fn cosign(payload: &[u8], signer: &dyn Signer) -> Result<Vec<u8>, Error> {
    FederationRoot::from_payload(payload)?;
    let public = signer.public_key();
    let alg = match public.algorithm() {
        Algorithm::EdDsa => coset::iana::Algorithm::EdDSA,
        Algorithm::Es256 => coset::iana::Algorithm::ES256,
        Algorithm::Ps256 => coset::iana::Algorithm::PS256,
    };
    let signature = CoseSignatureBuilder::new()
        .protected(HeaderBuilder::new().algorithm(alg).key_id(public.kid().0.to_vec()).build())
        .build();
    let sign = CoseSignBuilder::new()
        .protected(body_header())
        .payload(payload.to_vec())
        .add_created_signature(signature, &[], |tbs| signer.sign(tbs))
        .build();
    let created = sign.signatures.into_iter().next().ok_or_else(|| Error::CoseMalformed("no signature".into()))?;
    created.to_vec().map_err(|e| Error::CoseMalformed(e.to_string()))
}

/// Combine signature files made by [`cosign`] with the payload into the signed root (a tagged COSE_Sign).
/// Signatures are not checked here: verification counts the valid ones.
pub fn combine(payload: &[u8], signatures: &[Vec<u8>]) -> Result<Vec<u8>, Error> {
    FederationRoot::from_payload(payload)?;
    let mut builder = CoseSignBuilder::new().protected(body_header()).payload(payload.to_vec());
    for bytes in signatures {
        let signature = CoseSignature::from_slice(bytes).map_err(|e| Error::CoseMalformed(e.to_string()))?;
        builder = builder.add_signature(signature);
    }
    builder.build().to_tagged_vec().map_err(|e| Error::CoseMalformed(e.to_string()))
}
