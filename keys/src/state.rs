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
    /// Parts refused, each with its code and reason (`CODE: reason`); the others were taken.
    pub refused: Vec<(String, String)>,
}

/// Most status marks a persisted state may hold.
pub const MAX_STATUS_MARKS: usize = 65_536;

/// The newest version of one status list a verifier has held. A list the verifier held once and can no longer read
/// (its file lost or damaged), or a list offered older than this, is not trusted: the credentials it covers fail
/// closed until a sync brings this version or a newer one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StatusMark {
    /// The list's province.
    pub province: String,
    /// The list id.
    pub list: u32,
    /// The newest `issued_at` held.
    pub issued_at: i64,
    /// The version held then.
    pub version: u64,
}

/// The trust a verifier holds. Every document in it verified; [`TrustState::decode`] verifies them again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustState {
    chain: Vec<Verified<FederationRoot>>,
    bundles: Vec<Verified<ProvinceBundle>>,
    time_floor: i64,
    /// Sorted by (province, list), one per list.
    status_marks: Vec<StatusMark>,
}

impl TrustState {
    /// Pin an initial federation root (signed by `threshold` of its own members, not expired at `now`).
    pub fn provision(root_bytes: &[u8], now: i64) -> Result<Self, Error> {
        let root = FederationRoot::verify_initial(root_bytes)?;
        not_expired("federation root", root.expires, now)?;
        not_in_future("federation root", root.issued_at, now)?;
        let time_floor = root.issued_at;
        Ok(TrustState { chain: vec![root], bundles: Vec::new(), time_floor, status_marks: Vec::new() })
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

    /// The status lists this verifier has held, each at the newest version it held.
    pub fn status_marks(&self) -> &[StatusMark] {
        &self.status_marks
    }

    /// The mark of one status list, if the verifier ever held it.
    pub fn status_mark(&self, province: &str, list: u32) -> Option<&StatusMark> {
        self.status_marks.iter().find(|m| m.province == province && m.list == list)
    }

    /// This state with `mark` recorded: a list's mark only moves forward (by `issued_at`, then version), so an
    /// older mark leaves the state as it is.
    pub fn with_status_mark(&self, mark: StatusMark) -> TrustState {
        let mut next = self.clone();
        let key = |m: &StatusMark| (m.province.clone(), m.list);
        match next.status_marks.binary_search_by_key(&key(&mark), key) {
            Ok(i) => {
                let held = &mut next.status_marks[i];
                if (mark.issued_at, mark.version) > (held.issued_at, held.version) {
                    *held = mark;
                }
            }
            Err(i) => next.status_marks.insert(i, mark),
        }
        next
    }

    /// The issuer keys this state trusts.
    pub fn trust_list(&self) -> TrustList {
        TrustList::from_federation(self.root(), &self.bundles)
    }

    /// Apply a trust bundle at `now`: follow its root chain from the current root, then accept its province
    /// bundles under the (new) current root. All or nothing: any refused part refuses the whole update (see
    /// [`TrustState::update_each`] to take every part on its own).
    ///
    /// Refused: a root link not signed by k members of the previous root ([`Error::ThresholdNotMet`]), a root chain
    /// that ends below the current version or a bundle older than the one held ([`Error::Rollback`]), the same
    /// version with other contents ([`Error::VersionConflict`]), an expired current root or bundle
    /// ([`Error::Expired`]), a bundle not signed by its own province's root ([`Error::BundleSignerMismatch`]) or for
    /// a non-member ([`Error::NotAMember`]).
    pub fn update(&self, bundle: &TrustBundle, now: i64) -> Result<(TrustState, UpdateReport), Error> {
        let (next, report, refused) = self.update_each(bundle, now)?;
        match refused.into_iter().next() {
            Some((_, first)) => Err(first),
            None => Ok((next, report)),
        }
    }

    /// Apply a trust bundle at `now`, taking each part on its own: the root chain is followed as far as its links
    /// verify, then each province bundle is accepted or refused by itself under the resulting root, so one
    /// province's rolled-back or damaged bundle (or a bad root link) does not hold back the others. Returns the new
    /// state, what changed, and each refused part with its error (also listed in [`UpdateReport::refused`]).
    ///
    /// The whole update is refused only when nothing in it can be judged: the device clock is behind the time floor
    /// ([`Error::ClockBehindTrust`]), a root link cannot be read at all, or the current root has expired.
    #[allow(clippy::type_complexity)]
    pub fn update_each(
        &self,
        bundle: &TrustBundle,
        now: i64,
    ) -> Result<(TrustState, UpdateReport, Vec<(String, Error)>), Error> {
        // A clock before data already accepted is wrong: nothing it says about expiry can be trusted.
        if now.saturating_add(CLOCK_TOLERANCE) < self.time_floor {
            return Err(Error::ClockBehindTrust { now, floor: self.time_floor });
        }
        let mut next = self.clone();
        let mut report = UpdateReport::default();
        let mut refused: Vec<(String, Error)> = Vec::new();
        next.follow_roots(bundle, now, &mut report, &mut refused)?;
        not_expired("federation root", next.root().expires, now)?;
        // Held bundles are re-checked against the current root: a rotation may have dropped a member or replaced a
        // member's root key (a stolen one), and a bundle signed by a key the root no longer lists is gone.
        let root = next.root().clone();
        next.bundles.retain(|b| ProvinceBundle::verify(b.signed_bytes(), &root).is_ok());
        for bytes in &bundle.bundles {
            let offered = match ProvinceBundle::verify(bytes, &root) {
                Ok(offered) => offered,
                Err(e) => {
                    refused.push(("a province bundle".into(), e));
                    continue;
                }
            };
            let what = format!("{} bundle", offered.province);
            if let Err(e) = next.accept_bundle(offered, now, &mut report) {
                refused.push((what, e));
            }
        }
        report.refused = refused.iter().map(|(what, e)| (what.clone(), format!("{}: {e}", e.code()))).collect();
        Ok((next, report, refused))
    }

    /// Follow the offered root chain in version order from the current root, as far as its links verify; a
    /// refused link (and every later one) goes to `refused`.
    fn follow_roots(
        &mut self,
        bundle: &TrustBundle,
        now: i64,
        report: &mut UpdateReport,
        refused: &mut Vec<(String, Error)>,
    ) -> Result<(), Error> {
        let start = self.root().version;
        let mut newest_offered = None;
        let mut roots = bundle
            .roots
            .iter()
            .map(|bytes| Ok((FederationRoot::peek_version(bytes)?, bytes)))
            .collect::<Result<Vec<_>, Error>>()?;
        roots.sort_by_key(|(version, _)| *version);
        for (offered, bytes) in roots {
            let current = self.root();
            newest_offered = newest_offered.max(Some(offered));
            let what = format!("federation root v{offered}");
            if offered < current.version {
                continue; // an older link of the chain we already followed
            }
            if offered == current.version {
                // The same root may arrive with another set of valid signatures; only its content must match.
                if !matches!(FederationRoot::verify_initial(bytes), Ok(r) if *r == **current) {
                    refused.push((what, Error::VersionConflict { what: "federation root".into(), version: offered }));
                    return Ok(());
                }
                continue;
            }
            let followed = match current.verify_successor(bytes) {
                Ok(followed) => followed,
                Err(e) => {
                    refused.push((what, e));
                    return Ok(());
                }
            };
            if let Err(e) = not_in_future(&what, followed.issued_at, now) {
                refused.push((what, e));
                return Ok(());
            }
            report.roots_followed.push(followed.version);
            self.time_floor = self.time_floor.max(followed.issued_at);
            self.chain.push(followed);
        }
        if let Some(offered) = newest_offered.filter(|v| *v < start) {
            refused.push((
                "federation root".into(),
                Error::Rollback { what: "federation root".into(), current: start, offered },
            ));
        }
        Ok(())
    }

    /// Accept one verified province bundle, or say why not (rollback, conflict, expired, from the future).
    fn accept_bundle(
        &mut self,
        offered: Verified<ProvinceBundle>,
        now: i64,
        report: &mut UpdateReport,
    ) -> Result<(), Error> {
        let what = format!("{} bundle", offered.province);
        let held = self.bundles.iter().position(|b| b.province == offered.province);
        if let Some(i) = held {
            let held = &self.bundles[i];
            if offered.version < held.version {
                return Err(Error::Rollback { what, current: held.version, offered: offered.version });
            }
            if offered.version == held.version {
                // Unchanged (even if re-signed, or since expired): nothing to do.
                if *offered != **held {
                    return Err(Error::VersionConflict { what, version: offered.version });
                }
                report.bundles_unchanged.push(offered.province.clone());
                return Ok(());
            }
        }
        not_expired(&what, offered.expires, now)?;
        not_in_future(&what, offered.issued_at, now)?;
        report.bundles_updated.push((offered.province.clone(), offered.version));
        self.time_floor = self.time_floor.max(offered.issued_at);
        match held {
            Some(i) => self.bundles[i] = offered,
            None => self.bundles.push(offered),
        }
        Ok(())
    }

    /// Encode for persistence (canonical CBOR of the signed documents and the time floor).
    pub fn encode(&self) -> Vec<u8> {
        cbor::encode(&cbor::map([
            (1, Some(Value::from(TRUST_STATE_VERSION))),
            (2, Some(cbor::byte_string_array(self.chain.iter().map(|r| r.signed_bytes())))),
            (3, Some(cbor::byte_string_array(self.bundles.iter().map(|b| b.signed_bytes())))),
            (4, Some(Value::from(self.time_floor))),
            // Only written when there are marks: a store that never held a status list encodes as before.
            (
                5,
                (!self.status_marks.is_empty())
                    .then(|| Value::Array(self.status_marks.iter().map(mark_value).collect())),
            ),
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
        let status_marks = match m.take(5) {
            Some(value) => decode_marks(value)?,
            None => Vec::new(),
        };
        m.finish()?;
        let (pinned, rest) = roots.split_first().ok_or_else(|| Error::DocumentInvalid("no pinned root".into()))?;
        let mut chain = vec![FederationRoot::verify_initial(pinned)?];
        for bytes in rest {
            let next = chain[chain.len() - 1].verify_successor(bytes)?;
            chain.push(next);
        }
        let root = chain[chain.len() - 1].clone();
        let bundles = bundles.iter().map(|b| ProvinceBundle::verify(b, &root)).collect::<Result<_, _>>()?;
        Ok(TrustState { chain, bundles, time_floor, status_marks })
    }
}

fn mark_value(mark: &StatusMark) -> Value {
    Value::Array(vec![
        Value::from(mark.province.as_str()),
        Value::from(mark.list),
        Value::from(mark.issued_at),
        Value::from(mark.version),
    ])
}

/// Status marks as persisted: present only when there is at least one, sorted, one per list.
fn decode_marks(value: Value) -> Result<Vec<StatusMark>, Error> {
    let items = cbor::array(value, "status marks")?;
    if items.is_empty() || items.len() > MAX_STATUS_MARKS {
        return Err(Error::DocumentInvalid(format!("status marks: 1 to {MAX_STATUS_MARKS} expected")));
    }
    let mut marks: Vec<StatusMark> = Vec::with_capacity(items.len());
    for item in items {
        let [province, list, issued_at, version]: [Value; 4] = cbor::array(item, "status mark")?
            .try_into()
            .map_err(|_| Error::CborInvalid("a status mark has four fields".into()))?;
        let mark = StatusMark {
            province: cbor::text(province, "status mark province")?,
            list: u32::try_from(cbor::uint(&list, "status mark list", u64::from(u32::MAX))?)
                .map_err(|_| Error::CborInvalid("status mark list out of range".into()))?,
            issued_at: cbor::int(&issued_at, "status mark issued at")?,
            version: cbor::uint(&version, "status mark version", u64::MAX)?,
        };
        if marks.last().is_some_and(|last| (&last.province, last.list) >= (&mark.province, mark.list)) {
            return Err(Error::DocumentInvalid("status marks must be sorted, one per list".into()));
        }
        marks.push(mark);
    }
    Ok(marks)
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
