//! The trust store over a medium other than files (what a phone app gives it): the same rules, the same
//! refusals, every document written through the medium and read back from it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use huren_keys::status::{Status, StatusList};
use huren_keys::StatusListDescriptor;
use huren_tests::fixtures::{health_status, TestFederation, T0};
use huren_verifier::medium::{Document, MemoryMedium, TrustMedium};
use huren_verifier::store::{Freshness, StoreError, TrustStore};
use huren_verifier::{Code, Policy};

#[test]
fn a_store_in_memory_keeps_every_rule_and_every_document() {
    let fed = TestFederation::three();
    let gd = fed.province("CN-GD");
    let medium = MemoryMedium::new("phone:indexeddb");
    let root = fed.signed_root(&fed.root_doc(1), &[0, 2]);
    let mut store = TrustStore::provision_in(Box::new(medium.clone()), &root, T0).unwrap();
    assert!(matches!(
        TrustStore::provision_in(Box::new(medium.clone()), &root, T0),
        Err(StoreError::Exists(place)) if place == "phone:indexeddb"
    ));

    let mut bundle = fed.trust_bundle();
    let mut doc = fed.bundle_doc("CN-GD", 2);
    doc.status_lists = vec![StatusListDescriptor { list: 1, url: "https://gd.example/status/1".into() }];
    bundle.bundles[0] = fed.signed_bundle(&doc);
    assert!(store.import(&bundle.encode(), T0).unwrap().refused.is_empty());
    let mut list = StatusList::new("CN-GD", 1, 16, T0, 3600).unwrap();
    list.bits.set(5, Status::Revoked).unwrap();
    store.import_status_list(&list.sign(&gd.issuer).unwrap(), T0 + 10).unwrap();

    // Every document went through the medium: a store opened from it anew sees exactly the same.
    let documents = medium.documents();
    assert!(documents.contains_key(&Document::State));
    assert!(documents.contains_key(&Document::StatusList(("CN-GD".into(), 1))));
    let reopened = TrustStore::open_in(Box::new(medium.clone())).unwrap();
    assert_eq!(reopened.state(), store.state());
    assert_eq!(reopened.list_state("CN-GD", 1).name(), "current");

    // The same answers as a store in files: valid, revoked, and a rolled-back bundle refused as one.
    let now = T0 + 60;
    let (policy, freshness) = (Policy::default(), Freshness::default());
    let mut valid = health_status("CN-GD");
    valid.status = Some(huren_wallet_core::StatusRef { list: 1, index: 4 });
    assert!(reopened.verify(&gd.qr_text(&valid), now, &policy, &freshness).is_ok());
    let mut revoked = valid.clone();
    revoked.status = Some(huren_wallet_core::StatusRef { list: 1, index: 5 });
    let refused = reopened.verify(&gd.qr_text(&revoked), now, &policy, &freshness).unwrap_err();
    assert_eq!(refused.code(), Code::Revoked);
    let mut older = fed.trust_bundle();
    older.bundles.truncate(1);
    let before = medium.read(&Document::State).unwrap();
    assert_eq!(store.import(&older.encode(), now).unwrap_err().to_string().split(':').next(), Some("ROLLBACK"));
    assert_eq!(medium.read(&Document::State).unwrap(), before, "a refused import writes nothing");

    // A list whose document is damaged in the medium fails closed, as a damaged file does.
    medium.replace(&Document::StatusList(("CN-GD".into(), 1)), b"\xa0").unwrap();
    let damaged = TrustStore::open_in(Box::new(medium)).unwrap();
    assert_eq!(damaged.list_state("CN-GD", 1).name(), "lost");
    let refused = damaged.verify(&gd.qr_text(&valid), now, &policy, &freshness).unwrap_err();
    assert_eq!(refused.code(), Code::StatusUnavailable);
}

#[test]
fn writers_to_one_medium_take_turns() {
    let medium = MemoryMedium::new("shared");
    let held = medium.lock().unwrap();
    let waiter = {
        let medium = medium.clone();
        std::thread::spawn(move || {
            let _turn = medium.lock().unwrap();
            std::time::Instant::now()
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    let released = std::time::Instant::now();
    drop(held);
    assert!(waiter.join().unwrap() >= released, "the second writer waited for the first");
}
