//! A verifier's trust state: the pinned federation root, the chain of roots followed since, the province bundles
//! accepted under the current root, and the time floor. Pure: updates take the time as a parameter and return a
//! new state (or an error and no change), so a store can persist it atomically.

use ciborium::Value;

use crate::cbor::{self, IntMap};
use crate::federation::FederationRoot;
use crate::{Error, ProvinceBundle, TrustBundle, TrustList, Verified};

/// Format version written in persisted states.
pub const TRUST_STATE_VERSION: u64 = 1;
/// Seconds a document's `issued_at` may lie after the device clock, and the clock before the time floor.
pub const CLOCK_TOLERANCE: i64 = 300;

/// What an update changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateReport {
    /// Root versions newly followed.
    pub roots_followed: Vec<u64>,
    /// Province bundles newly accepted, with their versions.
    pub bundles_updated: Vec<(String, u64)>,
    /// Province bundles offered at the version already held.
    pub bundles_unchanged: Vec<String>,
}

/// The trust a verifier holds. Every document in it verified; [`TrustState::decode`] verifies them again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustState {
    chain: Vec<Verified<FederationRoot>>,
    bundles: Vec<Verified<ProvinceBundle>>,
    time_floor: i64,
}

impl TrustState {
    /// Pin an initial federation root (signed by `threshold` of its own members, not expired at `now`).
    pub fn provision(root_bytes: &[u8], now: i64) -> Result<Self, Error> {
        let root = FederationRoot::verify_initial(root_bytes)?;
        not_expired("federation root", root.expires, now)?;
        not_in_future("federation root", root.issued_at, now)?;
        let time_floor = root.issued_at;
        Ok(TrustState { chain: vec![root], bundles: Vec::new(), time_floor })
    }

    /// The current federation root (the last link of the chain).
    pub fn root(&self) -> &Verified<FederationRoot> {
        // The chain is never empty: provision and decode both start it with the pinned root.
        &self.chain[self.chain.len() - 1]
    }

    /// The province bundles, one per member province at most.
    pub fn bundles(&self) -> &[Verified<ProvinceBundle>] {
        &self.bundles
    }

    /// The newest `issued_at` of any document accepted: a clock earlier than this is wrong.
    pub fn time_floor(&self) -> i64 {
        self.time_floor
    }

    /// The issuer keys this state trusts.
    pub fn trust_list(&self) -> TrustList {
        TrustList::from_federation(self.root(), &self.bundles)
    }

    /// Apply a trust bundle at `now`: follow its root chain from the current root, then accept its province
    /// bundles under the (new) current root. All or nothing: any refused part refuses the whole update.
    ///
    /// Refused: a root link not signed by k members of the previous root ([`Error::ThresholdNotMet`]), a root chain
    /// that ends below the current version or a bundle older than the one held ([`Error::Rollback`]), the same
    /// version with other contents ([`Error::VersionConflict`]), an expired current root or bundle
    /// ([`Error::Expired`]), a bundle not signed by its own province's root ([`Error::BundleSignerMismatch`]) or for
    /// a non-member ([`Error::NotAMember`]).
    pub fn update(&self, bundle: &TrustBundle, now: i64) -> Result<(TrustState, UpdateReport), Error> {
        // A clock before data already accepted is wrong: nothing it says about expiry can be trusted.
        if now.saturating_add(CLOCK_TOLERANCE) < self.time_floor {
            return Err(Error::ClockBehindTrust { now, floor: self.time_floor });
        }
        let mut next = self.clone();
        let mut report = UpdateReport::default();
        let mut newest_offered = None;
        // Follow the chain in version order, whatever order the assembler used.
        let mut roots = bundle
            .roots
            .iter()
            .map(|bytes| Ok((FederationRoot::peek_version(bytes)?, bytes)))
            .collect::<Result<Vec<_>, Error>>()?;
        roots.sort_by_key(|(version, _)| *version);
        for (offered, bytes) in roots {
            let current = next.root();
            newest_offered = newest_offered.max(Some(offered));
            if offered < current.version {
                continue; // an older link of the chain we already followed
            }
            if offered == current.version {
                // The same root may arrive with another set of valid signatures; only its content must match.
                if !matches!(FederationRoot::verify_initial(bytes), Ok(r) if *r == **current) {
                    return Err(Error::VersionConflict { what: "federation root".into(), version: offered });
                }
                continue;
            }
            let followed = current.verify_successor(bytes)?;
            not_in_future(&format!("federation root v{}", followed.version), followed.issued_at, now)?;
            report.roots_followed.push(followed.version);
            next.time_floor = next.time_floor.max(followed.issued_at);
            next.chain.push(followed);
        }
        if let Some(offered) = newest_offered.filter(|v| *v < self.root().version) {
            return Err(Error::Rollback { what: "federation root".into(), current: self.root().version, offered });
        }
        not_expired("federation root", next.root().expires, now)?;
        // Held bundles are re-checked against the current root: a rotation may have dropped a member or replaced a
        // member's root key (a stolen one), and a bundle signed by a key the root no longer lists is gone.
        let root = next.root().clone();
        next.bundles.retain(|b| ProvinceBundle::verify(b.signed_bytes(), &root).is_ok());
        for bytes in &bundle.bundles {
            let offered = ProvinceBundle::verify(bytes, &root)?;
            let what = format!("{} bundle", offered.province);
            match next.bundles.iter().position(|b| b.province == offered.province) {
                Some(i) => {
                    let held = &next.bundles[i];
                    if offered.version < held.version {
                        return Err(Error::Rollback { what, current: held.version, offered: offered.version });
                    }
                    if offered.version == held.version {
                        // Unchanged (even if re-signed, or since expired): nothing to do, and no reason to refuse
                        // the other provinces' updates.
                        if *offered != **held {
                            return Err(Error::VersionConflict { what, version: offered.version });
                        }
                        report.bundles_unchanged.push(offered.province.clone());
                        continue;
                    }
                    not_expired(&what, offered.expires, now)?;
                    not_in_future(&what, offered.issued_at, now)?;
                    report.bundles_updated.push((offered.province.clone(), offered.version));
                    next.time_floor = next.time_floor.max(offered.issued_at);
                    next.bundles[i] = offered;
                }
                None => {
                    not_expired(&what, offered.expires, now)?;
                    not_in_future(&what, offered.issued_at, now)?;
                    report.bundles_updated.push((offered.province.clone(), offered.version));
                    next.time_floor = next.time_floor.max(offered.issued_at);
                    next.bundles.push(offered);
                }
            }
        }
        Ok((next, report))
    }

    /// Encode for persistence (canonical CBOR of the signed documents and the time floor).
    pub fn encode(&self) -> Vec<u8> {
        cbor::encode(&cbor::map([
            (1, Some(Value::from(TRUST_STATE_VERSION))),
            (2, Some(cbor::byte_string_array(self.chain.iter().map(|r| r.signed_bytes())))),
            (3, Some(cbor::byte_string_array(self.bundles.iter().map(|b| b.signed_bytes())))),
            (4, Some(Value::from(self.time_floor))),
        ]))
    }

    /// Decode a persisted state, verifying the pinned root, every link of the chain and every bundle again.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let mut m = IntMap::new(cbor::decode_canonical(bytes, 3)?, "trust state")?;
        let version = cbor::uint(&m.need(1, "version")?, "version", u64::MAX)?;
        if version != TRUST_STATE_VERSION {
            return Err(Error::DocumentInvalid(format!("trust state format {version} is not supported")));
        }
        let roots = cbor::byte_strings(m.need(2, "roots")?, "roots")?;
        let bundles = cbor::byte_strings(m.need(3, "bundles")?, "bundles")?;
        let time_floor = cbor::int(&m.need(4, "time floor")?, "time floor")?;
        m.finish()?;
        let (pinned, rest) = roots.split_first().ok_or_else(|| Error::DocumentInvalid("no pinned root".into()))?;
        let mut chain = vec![FederationRoot::verify_initial(pinned)?];
        for bytes in rest {
            let next = chain[chain.len() - 1].verify_successor(bytes)?;
            chain.push(next);
        }
        let root = chain[chain.len() - 1].clone();
        let bundles = bundles.iter().map(|b| ProvinceBundle::verify(b, &root)).collect::<Result<_, _>>()?;
        Ok(TrustState { chain, bundles, time_floor })
    }
}

fn not_in_future(what: &str, issued_at: i64, now: i64) -> Result<(), Error> {
    if issued_at > now.saturating_add(CLOCK_TOLERANCE) {
        return Err(Error::IssuedInFuture { what: what.into(), issued_at, now });
    }
    Ok(())
}

fn not_expired(what: &str, expires: i64, now: i64) -> Result<(), Error> {
    if now >= expires {
        return Err(Error::Expired { what: what.into(), expires, now });
    }
    Ok(())
}
