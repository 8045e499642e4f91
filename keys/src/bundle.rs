//! Province bundles (one province's issuer keys, key revocations, status lists and acceptance policy, signed by
//! that province's root) and the trust bundle that carries the federation root chain with every province bundle.

use ciborium::Value;

use crate::cbor::{self, IntMap};
use crate::federation::FederationRoot;
use crate::{cose, CredentialType, Error, KeyCertificate, KeyId, PublicKey, Signer, Verified};

/// Protected content type of a province bundle.
pub const BUNDLE_CONTENT_TYPE: &str = "huren/provbundle";
/// Format version written in trust bundles.
pub const TRUST_BUNDLE_VERSION: u64 = 1;
/// Largest trust bundle accepted, in bytes (34 provinces x 10 keys is ~33 KB).
pub const MAX_TRUST_BUNDLE_BYTES: usize = 8 * 1024 * 1024;
/// Most root links a trust bundle may carry.
pub const MAX_ROOTS: usize = 64;
/// Most province bundles a trust bundle may carry.
pub const MAX_BUNDLES: usize = 256;
/// Most entries of each kind (issuer keys, revocations, status lists) in one province bundle.
pub const MAX_ENTRIES: usize = 4096;

/// An issuer key and what it may sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerKey {
    /// The key.
    pub public_key: PublicKey,
    /// Credential types it may sign.
    pub credential_types: Vec<CredentialType>,
    /// First accepted credential `iat`.
    pub usage_from: i64,
    /// Last accepted credential `iat`.
    pub usage_until: i64,
    /// After this instant nothing it signed verifies.
    pub expires: i64,
}

/// A revoked key: credentials it signed with `iat` after `issued_after` are refused, earlier ones still verify
/// until `honour_until`. A thief can backdate `iat`; `honour_until` bounds how long such forgeries live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRevocation {
    /// The revoked key's id.
    pub kid: KeyId,
    /// Cut-off: credentials issued after this instant are refused.
    pub issued_after: i64,
    /// After this instant nothing the key signed verifies, whatever its `iat`.
    pub honour_until: i64,
}

/// Where one of the province's status lists is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusListDescriptor {
    /// List id, as in credentials' status references.
    pub list: u32,
    /// Where to fetch it (any mirror may serve it; it is signed).
    pub url: String,
}

/// What the province's own checkpoints accept.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AcceptancePolicy {
    /// Credential types accepted (empty: all).
    pub accepted_types: Vec<CredentialType>,
    /// Oldest test result accepted, in seconds since sampling.
    pub max_test_age: Option<i64>,
    /// Whether a checkpoint that has never synced one of this province's status lists may accept the credentials
    /// it covers (with a "revocation not checked" warning). False (the default, and what a bundle without the
    /// field says): such a checkpoint refuses them (`STATUS_UNAVAILABLE`) until it syncs. This is the *issuing*
    /// province's choice, whatever checkpoint verifies its credentials.
    pub allow_unsynced_status: bool,
}

/// One province's bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvinceBundle {
    /// The province (ISO 3166-2); only its root may sign the bundle.
    pub province: String,
    /// Monotonic version.
    pub version: u64,
    /// When it was made.
    pub issued_at: i64,
    /// When verifiers stop trusting it.
    pub expires: i64,
    /// Issuer keys.
    pub issuer_keys: Vec<IssuerKey>,
    /// Revoked keys with their cut-offs.
    pub revocations: Vec<KeyRevocation>,
    /// Status lists.
    pub status_lists: Vec<StatusListDescriptor>,
    /// Acceptance policy of the province's checkpoints.
    pub policy: AcceptancePolicy,
}

fn types_value(types: &[CredentialType]) -> Value {
    Value::Array(types.iter().map(|t| Value::from(t.code())).collect())
}

fn types_of(value: Value) -> Result<Vec<CredentialType>, Error> {
    cbor::array(value, "credential types")?
        .iter()
        .map(|t| {
            let code = cbor::uint(t, "credential type", 255)?;
            CredentialType::from_code(code).ok_or_else(|| Error::CborInvalid(format!("unknown credential type {code}")))
        })
        .collect()
}

impl ProvinceBundle {
    /// The issuer key entry a verified key certificate describes (the "certify, then bundle" ceremony).
    pub fn key_from_certificate(cert: &KeyCertificate) -> IssuerKey {
        IssuerKey {
            public_key: cert.public_key.clone(),
            credential_types: cert.credential_types.clone(),
            usage_from: cert.usage_from,
            usage_until: cert.usage_until,
            expires: cert.expires,
        }
    }

    fn to_payload(&self) -> Result<Vec<u8>, Error> {
        self.check()?;
        let keys = self
            .issuer_keys
            .iter()
            .map(|k| {
                cbor::map([
                    (1, Some(Value::Bytes(k.public_key.spki_der().to_vec()))),
                    (2, Some(types_value(&k.credential_types))),
                    (3, Some(Value::from(k.usage_from))),
                    (4, Some(Value::from(k.usage_until))),
                    (5, Some(Value::from(k.expires))),
                ])
            })
            .collect();
        let revocations = self
            .revocations
            .iter()
            .map(|r| {
                cbor::map([
                    (1, Some(Value::Bytes(r.kid.0.to_vec()))),
                    (2, Some(Value::from(r.issued_after))),
                    (3, Some(Value::from(r.honour_until))),
                ])
            })
            .collect();
        let lists = self
            .status_lists
            .iter()
            .map(|l| cbor::map([(1, Some(Value::from(l.list))), (2, Some(Value::from(l.url.as_str())))]))
            .collect();
        let policy = cbor::map([
            (1, Some(types_value(&self.policy.accepted_types))),
            (2, self.policy.max_test_age.map(Value::from)),
            // Only written when set: one encoding per policy, and bundles made before the field read as "no".
            (3, self.policy.allow_unsynced_status.then_some(Value::Bool(true))),
        ]);
        Ok(cbor::encode(&cbor::map([
            (1, Some(Value::from(self.province.as_str()))),
            (2, Some(Value::from(self.version))),
            (3, Some(Value::from(self.issued_at))),
            (4, Some(Value::from(self.expires))),
            (5, Some(Value::Array(keys))),
            (6, Some(Value::Array(revocations))),
            (7, Some(Value::Array(lists))),
            (8, Some(policy)),
        ])))
    }

    fn from_payload(bytes: &[u8]) -> Result<Self, Error> {
        let mut m = IntMap::new(cbor::decode_canonical(bytes, 5)?, "province bundle")?;
        let province = cbor::text(m.need(1, "province")?, "province")?;
        let version = cbor::uint(&m.need(2, "version")?, "version", u64::MAX)?;
        let issued_at = cbor::int(&m.need(3, "issued at")?, "issued at")?;
        let expires = cbor::int(&m.need(4, "expires")?, "expires")?;
        let capped = |v: Value, what: &str| -> Result<Vec<Value>, Error> {
            let items = cbor::array(v, what)?;
            if items.len() > MAX_ENTRIES {
                return Err(Error::TooLarge(format!("more than {MAX_ENTRIES} {what}")));
            }
            Ok(items)
        };
        let mut issuer_keys = Vec::new();
        for item in capped(m.need(5, "issuer keys")?, "issuer keys")? {
            let mut k = IntMap::new(item, "issuer key")?;
            issuer_keys.push(IssuerKey {
                public_key: PublicKey::from_spki_der(&cbor::bytes(k.need(1, "key")?, "key")?)?,
                credential_types: types_of(k.need(2, "types")?)?,
                usage_from: cbor::int(&k.need(3, "usage from")?, "usage from")?,
                usage_until: cbor::int(&k.need(4, "usage until")?, "usage until")?,
                expires: cbor::int(&k.need(5, "expires")?, "expires")?,
            });
            k.finish()?;
        }
        let mut revocations = Vec::new();
        for item in capped(m.need(6, "revocations")?, "revocations")? {
            let mut r = IntMap::new(item, "revocation")?;
            let kid = <[u8; 8]>::try_from(cbor::bytes(r.need(1, "kid")?, "kid")?)
                .map_err(|_| Error::CborInvalid("revoked kid must be 8 bytes".into()))?;
            revocations.push(KeyRevocation {
                kid: KeyId(kid),
                issued_after: cbor::int(&r.need(2, "cut-off")?, "cut-off")?,
                honour_until: cbor::int(&r.need(3, "honour until")?, "honour until")?,
            });
            r.finish()?;
        }
        let mut status_lists = Vec::new();
        for item in capped(m.need(7, "status lists")?, "status lists")? {
            let mut l = IntMap::new(item, "status list")?;
            let list = u32::try_from(cbor::uint(&l.need(1, "list")?, "list", u64::from(u32::MAX))?)
                .map_err(|_| Error::CborInvalid("list id out of range".into()))?;
            status_lists.push(StatusListDescriptor { list, url: cbor::text(l.need(2, "url")?, "url")? });
            l.finish()?;
        }
        let mut p = IntMap::new(m.need(8, "policy")?, "policy")?;
        let policy = AcceptancePolicy {
            accepted_types: types_of(p.need(1, "accepted types")?)?,
            max_test_age: p.take(2).map(|v| cbor::int(&v, "max test age")).transpose()?,
            allow_unsynced_status: match p.take(3) {
                None => false,
                Some(Value::Bool(true)) => true,
                // `false` is written by leaving the field out: any other value is a second encoding.
                Some(_) => return Err(Error::CborInvalid("allow unsynced status must be true or absent".into())),
            },
        };
        p.finish()?;
        m.finish()?;
        let bundle =
            ProvinceBundle { province, version, issued_at, expires, issuer_keys, revocations, status_lists, policy };
        bundle.check()?;
        Ok(bundle)
    }

    fn check(&self) -> Result<(), Error> {
        let bad = |m: &str| Err(Error::DocumentInvalid(format!("province bundle {}: {m}", self.province)));
        if !crate::is_province_code(&self.province) {
            return bad("province is not an ISO 3166-2 code");
        }
        if self.expires <= self.issued_at {
            return bad("expires must be after issued_at");
        }
        for (i, k) in self.issuer_keys.iter().enumerate() {
            if k.credential_types.is_empty() || k.usage_from > k.usage_until || k.usage_until > k.expires {
                return bad("an issuer key has no types or an inconsistent usage window");
            }
            if self.issuer_keys[..i].iter().any(|o| o.public_key == k.public_key) {
                return bad("an issuer key is listed twice");
            }
        }
        Ok(())
    }

    /// Check and sign with the province's root key (COSE_Sign1 with the bundle content type).
    pub fn sign(&self, root: &dyn Signer) -> Result<Vec<u8>, Error> {
        cose::sign1(root, &self.to_payload()?, Some(BUNDLE_CONTENT_TYPE))
    }

    /// Verify a signed bundle against the federation root: the signing key must be a root key of the very province
    /// the bundle is for.
    pub fn verify(bytes: &[u8], root: &Verified<FederationRoot>) -> Result<Verified<ProvinceBundle>, Error> {
        let sign1 = cose::Sign1::parse(bytes)?;
        if sign1.content_type() != Some(BUNDLE_CONTENT_TYPE) {
            return Err(Error::DocumentInvalid("not a province bundle (content type)".into()));
        }
        // Decoding before the signature check only tells us whose root keys to try; nothing is trusted yet.
        let mut last = None;
        for member in &root.members {
            for key in member.root_keys.iter().filter(|k| k.kid().0 == sign1.kid()) {
                match sign1.verify(key) {
                    Ok(payload) => {
                        let bundle = ProvinceBundle::from_payload(payload)?;
                        if bundle.province != member.province {
                            return Err(Error::BundleSignerMismatch {
                                claimed: bundle.province,
                                signer: Some(member.province.clone()),
                            });
                        }
                        return Ok(Verified::new(bundle, bytes.to_vec()));
                    }
                    Err(e) => last = Some(e),
                }
            }
        }
        Err(last.unwrap_or_else(|| Error::UnknownSigner { kid: crate::hex(sign1.kid()) }))
    }
}

/// The trust bundle: the federation root chain (oldest first) and every province bundle. Unsigned: anyone may
/// assemble or mirror it, since every part inside is signed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustBundle {
    /// Signed federation roots, in version order (a verifier follows them from its current root).
    pub roots: Vec<Vec<u8>>,
    /// Signed province bundles.
    pub bundles: Vec<Vec<u8>>,
}

impl TrustBundle {
    /// Encode as canonical CBOR.
    pub fn encode(&self) -> Vec<u8> {
        let list = |docs: &[Vec<u8>]| cbor::byte_string_array(docs.iter().map(Vec::as_slice));
        cbor::encode(&cbor::map([
            (1, Some(Value::from(TRUST_BUNDLE_VERSION))),
            (2, Some(list(&self.roots))),
            (3, Some(list(&self.bundles))),
        ]))
    }

    /// Decode strictly (size cap, canonical CBOR, known version).
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() > MAX_TRUST_BUNDLE_BYTES {
            return Err(Error::DocumentInvalid(format!("trust bundle larger than {MAX_TRUST_BUNDLE_BYTES} bytes")));
        }
        let mut m = IntMap::new(cbor::decode_canonical(bytes, 3)?, "trust bundle")?;
        let version = cbor::uint(&m.need(1, "version")?, "version", u64::MAX)?;
        if version != TRUST_BUNDLE_VERSION {
            return Err(Error::DocumentInvalid(format!("trust bundle format {version} is not supported")));
        }
        let roots = cbor::byte_strings(m.need(2, "roots")?, "roots")?;
        let bundles = cbor::byte_strings(m.need(3, "bundles")?, "bundles")?;
        m.finish()?;
        if roots.len() > MAX_ROOTS || bundles.len() > MAX_BUNDLES {
            return Err(Error::TooLarge(format!("more than {MAX_ROOTS} roots or {MAX_BUNDLES} province bundles")));
        }
        Ok(TrustBundle { roots, bundles })
    }
}
