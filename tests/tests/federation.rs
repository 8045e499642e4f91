//! The federation end to end: a verifier provisioned with the root alone accepts every province's credentials
//! after one trust bundle, and every attack on the trust data is refused with its own code, leaving the store
//! byte for byte unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use huren_keys::{KeyRevocation, TrustBundle};
use huren_tests::fixtures::{health_status, TestFederation, DAY, T0};
use huren_verifier::store::{Freshness, StoreError, TrustStore};
use huren_verifier::{Code, Policy};

struct Checkpoint {
    dir: PathBuf,
    store: TrustStore,
}

impl Checkpoint {
    fn new(name: &str, fed: &TestFederation) -> Self {
        let dir = std::env::temp_dir().join(format!("huren-fed-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let root = fed.signed_root(&fed.root_doc(1), &[0, 2]);
        let mut store = TrustStore::provision(&dir.join("store.cbor"), &root, T0).unwrap();
        store.import(&fed.trust_bundle().encode(), T0).unwrap();
        Checkpoint { dir, store }
    }

    fn bytes(&self) -> Vec<u8> {
        std::fs::read(self.store.path()).unwrap()
    }

    fn code(&self, text: &str, now: i64) -> Code {
        match self.store.verify(text, now, &Policy::default(), &Freshness::default()) {
            Ok(_) => Code::Ok,
            Err(r) => r.code(),
        }
    }

    /// Offer a bundle; it must be refused with `code`, leaving the file and the in-memory store unchanged.
    fn refused(&mut self, bundle: &TrustBundle, now: i64, code: &str) {
        let before = self.bytes();
        let state_before = self.store.state().clone();
        match self.store.import(&bundle.encode(), now) {
            Err(StoreError::Refused { source }) => assert_eq!(source.code(), code, "{source}"),
            other => panic!("expected refusal {code}, got {other:?}"),
        }
        assert_eq!(self.bytes(), before, "the store file is unchanged");
        assert_eq!(self.store.state(), &state_before, "the loaded store is unchanged");
        assert_eq!(TrustStore::open(self.store.path()).unwrap().state(), &state_before);
    }
}

impl Drop for Checkpoint {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn every_province_verifies_at_every_checkpoint() {
    let fed = TestFederation::three();
    for checkpoint in ["CN-GD", "CN-HB", "CN-SH"] {
        let cp = Checkpoint::new(&format!("all-{checkpoint}"), &fed);
        for p in &fed.provinces {
            let text = p.qr_text(&health_status(&p.code));
            assert_eq!(cp.code(&text, T0 + 60), Code::Ok, "{} at {checkpoint}", p.code);
            // And a province cannot speak for another: GD's key signing an HB credential.
            let other = if p.code == "CN-GD" { "CN-HB" } else { "CN-GD" };
            assert_eq!(cp.code(&p.qr_text(&health_status(other)), T0 + 60), Code::IssuerNotAuthorised);
        }
    }
}

#[test]
fn a_mirror_adding_a_key_to_a_bundle_is_refused() {
    let fed = TestFederation::three();
    let mut cp = Checkpoint::new("mirror", &fed);
    let mut doc = fed.bundle_doc("CN-HB", 2);
    let rogue = huren_keys::dangerous::signing_key_from_seed(&[77; 32]).unwrap();
    let mut extra = doc.issuer_keys[0].clone();
    extra.public_key = rogue.public().clone();
    doc.issuer_keys.push(extra);
    // The mirror cannot sign as Hubei; it re-signs with its own key ...
    let mut bundle = fed.trust_bundle();
    bundle.bundles[1] = doc.sign(&rogue).unwrap();
    cp.refused(&bundle, T0, "SIGNER_UNKNOWN");
    // ... or splices its payload under Hubei's genuine signature.
    let genuine = fed.signed_bundle(&fed.bundle_doc("CN-HB", 2));
    let mut spliced = genuine.clone();
    let n = spliced.len();
    spliced[n - 80] ^= 0x01;
    bundle.bundles[1] = spliced;
    cp.refused(&bundle, T0, "SIGNATURE_INVALID");
}

#[test]
fn a_province_certifying_a_key_for_another_province_is_refused() {
    let fed = TestFederation::three();
    let mut cp = Checkpoint::new("claims", &fed);
    // Guangdong's root signs a bundle that claims to be Hubei's.
    let mut bundle = fed.trust_bundle();
    bundle.bundles[1] = fed.bundle_doc("CN-HB", 2).sign(&fed.province("CN-GD").root).unwrap();
    cp.refused(&bundle, T0, "BUNDLE_SIGNER_MISMATCH");
}

#[test]
fn root_updates_need_k_distinct_members() {
    let fed = TestFederation::three();
    let mut cp = Checkpoint::new("root", &fed);
    let v2 = fed.root_doc(2);
    let mut bundle = fed.trust_bundle();
    bundle.roots.push(fed.signed_root(&v2, &[1]));
    cp.refused(&bundle, T0, "THRESHOLD_NOT_MET");
    bundle.roots[1] = fed.signed_root(&v2, &[1, 1]);
    cp.refused(&bundle, T0, "DUPLICATE_SIGNER");
    bundle.roots[1] = fed.signed_root(&fed.root_doc(3), &[0, 1, 2]);
    cp.refused(&bundle, T0, "ROOT_VERSION_INVALID");
    // Signed by two members: followed, even when the assembler lists the chain newest first.
    bundle.roots[1] = fed.signed_root(&v2, &[1, 2]);
    bundle.roots.reverse();
    let report = cp.store.import(&bundle.encode(), T0).unwrap();
    assert_eq!(report.roots_followed, vec![2]);
    assert_eq!(cp.store.state().root().version, 2);
    // And a bundle offering only v1 now is a rollback.
    cp.refused(&fed.trust_bundle(), T0, "ROLLBACK");
}

#[test]
fn rollback_and_expired_bundles_are_refused() {
    let fed = TestFederation::three();
    let mut cp = Checkpoint::new("rollback", &fed);
    let mut newer = fed.trust_bundle();
    newer.bundles[0] = fed.signed_bundle(&fed.bundle_doc("CN-GD", 5));
    cp.store.import(&newer.encode(), T0).unwrap();
    // Back to v1: rollback.
    cp.refused(&fed.trust_bundle(), T0, "ROLLBACK");
    // Same version, other contents: conflict.
    let mut twin = fed.bundle_doc("CN-GD", 5);
    twin.status_lists.push(huren_keys::StatusListDescriptor { list: 9, url: "https://x.example/9".into() });
    let mut conflict = newer.clone();
    conflict.bundles[0] = fed.signed_bundle(&twin);
    cp.refused(&conflict, T0, "VERSION_CONFLICT");
    // A newer bundle that has already expired: freeze refused.
    let mut stale = fed.bundle_doc("CN-GD", 6);
    stale.expires = T0 - 1;
    stale.issued_at = T0 - 2 * DAY;
    let mut frozen = newer.clone();
    frozen.bundles[0] = fed.signed_bundle(&stale);
    cp.refused(&frozen, T0, "DOCUMENT_EXPIRED");
}

#[test]
fn clock_before_the_time_floor_and_old_trust_data() {
    let fed = TestFederation::three();
    let cp = Checkpoint::new("clock", &fed);
    let text = fed.provinces[0].qr_text(&health_status("CN-GD"));
    let floor = cp.store.state().time_floor();
    assert_eq!(floor, T0 - DAY + 1, "the newest issued_at seen");
    // Five minutes of tolerance, then the clock is called wrong.
    assert_eq!(cp.code(&text, floor - 6 * 60), Code::ClockBehindTrust);
    // Fresh for two days, warned until 14 days, then refused.
    assert_eq!(cp.code(&text, T0 + 60), Code::Ok);
    assert_eq!(cp.store.staleness(floor + 3 * DAY, &Freshness::default()), huren_verifier::store::Staleness::Warn);
    assert_eq!(cp.code(&text, floor + 15 * DAY), Code::TrustStoreStale);
}

#[test]
fn an_expired_root_stops_everything_until_a_newer_one_arrives() {
    let fed = TestFederation::three();
    let mut doc = fed.root_doc(1);
    doc.expires = T0 + 10 * DAY;
    let dir = std::env::temp_dir().join(format!("huren-fed-rootexp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut store = TrustStore::provision(&dir.join("store.cbor"), &fed.signed_root(&doc, &[0, 1]), T0).unwrap();
    let mut bundle = fed.trust_bundle();
    bundle.roots = vec![fed.signed_root(&doc, &[0, 1])];
    // Keep the bundles fresh so only the root's expiry matters.
    let relaxed = Freshness { refuse_after: 100 * DAY, warn_after: 100 * DAY, ..Freshness::default() };
    store.import(&bundle.encode(), T0).unwrap();
    let text = fed.provinces[0].qr_text(&health_status("CN-GD"));
    assert!(store.verify(&text, T0 + 60, &Policy::default(), &relaxed).is_ok());
    let late = store.verify(&text, T0 + 10 * DAY, &Policy::default(), &relaxed).unwrap_err();
    assert_eq!(late.code(), Code::TrustStoreStale);
    assert!(late.to_string().contains("federation root"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_crash_between_write_and_rename_leaves_the_old_store() {
    let fed = TestFederation::three();
    let mut cp = Checkpoint::new("crash", &fed);
    let before = cp.bytes();
    let state_before = cp.store.state().clone();
    let mut next = fed.trust_bundle();
    next.bundles[0] = fed.signed_bundle(&fed.bundle_doc("CN-GD", 2));
    // The real write path, stopped after the temporary file is written and synced, before the rename.
    cp.store.dangerous_crash_before_next_rename();
    assert!(matches!(cp.store.import(&next.encode(), T0), Err(StoreError::Io { .. })));
    let temp = TrustStore::temp_path(cp.store.path());
    assert!(temp.exists(), "the crash left the complete temporary file behind");
    assert_eq!(cp.bytes(), before, "the store file is the old one");
    assert_eq!(cp.store.state(), &state_before);
    let reopened = TrustStore::open(cp.store.path()).unwrap();
    assert_eq!(reopened.state(), &state_before, "after the 'restart' the old store loads");
    // The next update goes through and replaces the leftover.
    cp.store.import(&next.encode(), T0).unwrap();
    assert_eq!(TrustStore::open(cp.store.path()).unwrap().state().bundles()[0].version, 2);
    assert!(!temp.exists());
    // A truncated store file (a disk fault, not a crash) is detected, not half-used.
    let bytes = cp.bytes();
    std::fs::write(cp.store.path(), &bytes[..bytes.len() / 2]).unwrap();
    assert!(matches!(TrustStore::open(cp.store.path()), Err(StoreError::Refused { .. })));
}

#[test]
fn two_handles_on_one_store_do_not_undo_each_other() {
    let fed = TestFederation::three();
    let mut a = Checkpoint::new("two-handles", &fed);
    let mut b = TrustStore::open(a.store.path()).unwrap();
    let mut gd = fed.trust_bundle();
    gd.bundles = vec![fed.signed_bundle(&fed.bundle_doc("CN-GD", 5))];
    a.store.import(&gd.encode(), T0).unwrap();
    // b still holds the older state in memory; its update applies to the store as it is on disk.
    let mut hb = fed.trust_bundle();
    hb.bundles = vec![fed.signed_bundle(&fed.bundle_doc("CN-HB", 3))];
    b.import(&hb.encode(), T0).unwrap();
    let versions: Vec<(String, u64)> = TrustStore::open(a.store.path())
        .unwrap()
        .state()
        .bundles()
        .iter()
        .map(|x| (x.province.clone(), x.version))
        .collect();
    assert!(versions.contains(&("CN-GD".into(), 5)) && versions.contains(&("CN-HB".into(), 3)), "{versions:?}");
}

#[test]
fn a_revoked_key_keeps_honest_credentials_and_refuses_later_ones() {
    let fed = TestFederation::three();
    let mut cp = Checkpoint::new("revoked", &fed);
    let gd = fed.province("CN-GD");
    let before = gd.qr_text(&health_status("CN-GD")); // issued at T0
    let mut later = health_status("CN-GD");
    later.issued_at = T0 + DAY;
    later.expires_at = T0 + 5 * DAY;
    let after = gd.qr_text(&later);
    let mut doc = fed.bundle_doc("CN-GD", 2);
    doc.revocations.push(KeyRevocation {
        kid: gd.issuer.public().kid(),
        issued_after: T0 + 3600,
        honour_until: T0 + 20 * DAY,
    });
    let mut bundle = fed.trust_bundle();
    bundle.bundles[0] = fed.signed_bundle(&doc);
    cp.store.import(&bundle.encode(), T0).unwrap();
    assert_eq!(cp.code(&before, T0 + 2 * DAY), Code::Ok);
    assert_eq!(cp.code(&after, T0 + 2 * DAY), Code::KeyRevoked);
}

#[test]
fn provisioning_checks_the_root() {
    let fed = TestFederation::three();
    let dir = std::env::temp_dir().join(format!("huren-fed-provision-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("store.cbor");
    let weak = fed.signed_root(&fed.root_doc(1), &[0]);
    assert!(matches!(TrustStore::provision(&path, &weak, T0), Err(StoreError::Refused { .. })));
    assert!(!path.exists(), "nothing written");
    let root = fed.signed_root(&fed.root_doc(1), &[0, 1]);
    TrustStore::provision(&path, &root, T0).unwrap();
    assert!(matches!(TrustStore::provision(&path, &root, T0), Err(StoreError::Exists(_))));
    assert!(matches!(TrustStore::open(&dir.join("none.cbor")), Err(StoreError::Missing(_))));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_root_rotation_that_replaces_a_stolen_root_key_drops_what_it_signed() {
    let fed = TestFederation::three();
    let mut cp = Checkpoint::new("stolen-root", &fed);
    // The thief holds Guangdong's root key and publishes a bundle at a huge version with his own issuer key.
    let thief_issuer = huren_keys::dangerous::signing_key_from_seed(&[66; 32]).unwrap();
    let mut evil = fed.bundle_doc("CN-GD", 1_000_000);
    evil.issued_at = T0 - DAY + 5;
    evil.issuer_keys[0].public_key = thief_issuer.public().clone();
    let mut bundle = fed.trust_bundle();
    bundle.bundles[0] = fed.signed_bundle(&evil);
    cp.store.import(&bundle.encode(), T0).unwrap();
    let mut forged = health_status("CN-GD");
    forged.id = vec![6; 8];
    let forged = huren_wallet_core::transport::encode(&forged.sign(&thief_issuer).unwrap());
    assert_eq!(cp.code(&forged, T0 + 60), Code::Ok, "before the rotation the thief's key works");

    // Hubei and Shanghai rotate the root: Guangdong gets a new root key.
    let new_gd_root = huren_keys::dangerous::signing_key_from_seed(&[2; 32]).unwrap();
    let mut v2 = fed.root_doc(2);
    v2.members[0].root_keys = vec![new_gd_root.public().clone()];
    let payload = v2.to_payload().unwrap();
    let sigs: Vec<Vec<u8>> = [&fed.provinces[1].root, &fed.provinces[2].root]
        .iter()
        .map(|k| huren_keys::federation::cosign(&payload, *k).unwrap())
        .collect();
    let v2_signed = huren_keys::federation::combine(&payload, &sigs).unwrap();
    let mut rotation = fed.trust_bundle();
    rotation.roots.push(v2_signed);
    rotation.bundles.remove(0); // the mirror has no new GD bundle yet
    cp.store.import(&rotation.encode(), T0).unwrap();
    assert_eq!(cp.code(&forged, T0 + 60), Code::KidUnknown, "the thief's bundle is gone with the old key");
    assert!(cp.store.state().bundles().iter().all(|b| b.province != "CN-GD"));
    // Guangdong publishes again under its new key, at an ordinary version: accepted, and the store reloads.
    let mut gd_again = rotation.clone();
    gd_again.bundles.push(fed.bundle_doc("CN-GD", 2).sign(&new_gd_root).unwrap());
    cp.store.import(&gd_again.encode(), T0).unwrap();
    assert_eq!(cp.code(&fed.provinces[0].qr_text(&health_status("CN-GD")), T0 + 60), Code::Ok);
    assert!(TrustStore::open(cp.store.path()).is_ok(), "the store reloads after the rotation");
}

#[test]
fn a_bundle_from_the_future_cannot_push_the_time_floor() {
    let fed = TestFederation::three();
    let mut cp = Checkpoint::new("future", &fed);
    let mut doc = fed.bundle_doc("CN-SH", 2);
    doc.issued_at = T0 + 3650 * DAY;
    doc.expires = T0 + 3660 * DAY;
    let mut bundle = fed.trust_bundle();
    bundle.bundles[2] = fed.signed_bundle(&doc);
    cp.refused(&bundle, T0, "ISSUED_IN_FUTURE");
    assert_eq!(cp.store.state().time_floor(), T0 - DAY + 1);
}

#[test]
fn imports_are_refused_while_the_clock_is_behind_the_floor() {
    let fed = TestFederation::three();
    let mut cp = Checkpoint::new("clock-import", &fed);
    let mut newer = fed.trust_bundle();
    newer.bundles[0] = fed.signed_bundle(&fed.bundle_doc("CN-GD", 2));
    cp.refused(&newer, T0 - 20 * DAY, "CLOCK_BEHIND_TRUST");
}

#[test]
fn re_signed_roots_and_stale_unchanged_bundles_do_not_block_updates() {
    let fed = TestFederation::three();
    let mut cp = Checkpoint::new("lenient", &fed);
    let mut bundle = fed.trust_bundle();
    // The same root v1 with all three signatures instead of two: the same root.
    bundle.roots = vec![fed.signed_root(&fed.root_doc(1), &[0, 1, 2])];
    // Guangdong moves to v2; Shanghai's unchanged v1 is carried along, and we look at it after it expired.
    let mut gd = fed.bundle_doc("CN-GD", 2);
    gd.expires = T0 + 60 * DAY;
    bundle.bundles[0] = fed.signed_bundle(&gd);
    let report = cp.store.import(&bundle.encode(), T0 + 31 * DAY).unwrap();
    assert_eq!(report.bundles_updated, vec![("CN-GD".to_string(), 2)]);
    assert_eq!(report.bundles_unchanged, vec!["CN-HB".to_string(), "CN-SH".to_string()]);
}

#[test]
fn revocation_bounds_backdated_forgeries() {
    let fed = TestFederation::three();
    let mut cp = Checkpoint::new("backdated", &fed);
    let gd = fed.province("CN-GD");
    // A thief with the issuer key backdates a long-lived credential to before the cut-off.
    let mut forged = health_status("CN-GD");
    forged.expires_at = T0 + 300 * DAY;
    let forged = gd.qr_text(&forged);
    let mut doc = fed.bundle_doc("CN-GD", 2);
    doc.revocations.push(KeyRevocation {
        kid: gd.issuer.public().kid(),
        issued_after: T0 + 3600,
        honour_until: T0 + 10 * DAY,
    });
    let mut bundle = fed.trust_bundle();
    bundle.bundles[0] = fed.signed_bundle(&doc);
    cp.store.import(&bundle.encode(), T0).unwrap();
    assert_eq!(cp.code(&forged, T0 + 5 * DAY), Code::Ok, "before the horizon it passes as an honest early credential");
    assert_eq!(cp.code(&forged, T0 + 11 * DAY), Code::KeyUsageMismatch, "after it, nothing the key signed verifies");
}
