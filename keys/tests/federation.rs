//! The federation documents: a co-signed root (k of n, distinct members), its rotation by chain, province bundles
//! signed only by their own province's root, and the trust bundle container.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use huren_keys::dangerous::signing_key_from_seed;
use huren_keys::federation::{combine, cosign};
use huren_keys::{
    AcceptancePolicy, CredentialType, Error, FederationRoot, IssuerKey, KeyRevocation, Member, ProvinceBundle,
    SigningKey, StatusListDescriptor, TrustBundle, TrustList, Verified,
};

const T0: i64 = 1_790_000_000;

struct Fed {
    roots: Vec<(String, SigningKey)>,
}

fn fed() -> Fed {
    let roots = ["CN-GD", "CN-HB", "CN-SH"]
        .iter()
        .zip(1u8..)
        .map(|(p, seed)| (p.to_string(), signing_key_from_seed(&[seed; 32]).unwrap()))
        .collect();
    Fed { roots }
}

impl Fed {
    fn root_doc(&self, version: u64, threshold: u32) -> FederationRoot {
        FederationRoot {
            version,
            issued_at: T0 + i64::try_from(version).unwrap(),
            expires: T0 + 365 * 86_400,
            threshold,
            members: self
                .roots
                .iter()
                .map(|(p, k)| Member { province: p.clone(), root_keys: vec![k.public().clone()] })
                .collect(),
        }
    }

    fn signed(&self, doc: &FederationRoot, signers: &[usize]) -> Vec<u8> {
        let payload = doc.to_payload().unwrap();
        let signatures: Vec<Vec<u8>> = signers.iter().map(|&i| cosign(&payload, &self.roots[i].1).unwrap()).collect();
        combine(&payload, &signatures).unwrap()
    }

    fn bundle(&self, province: &str, version: u64) -> ProvinceBundle {
        let issuer = signing_key_from_seed(&[100; 32]).unwrap();
        ProvinceBundle {
            province: province.into(),
            version,
            issued_at: T0 + 10,
            expires: T0 + 30 * 86_400,
            issuer_keys: vec![IssuerKey {
                public_key: issuer.public().clone(),
                credential_types: vec![CredentialType::HealthStatus],
                usage_from: T0,
                usage_until: T0 + 86_400,
                expires: T0 + 2 * 86_400,
            }],
            revocations: vec![KeyRevocation {
                kid: issuer.public().kid(),
                issued_after: T0 + 3600,
                honour_until: T0 + 7200,
            }],
            status_lists: vec![StatusListDescriptor { list: 1, url: "https://status.example/CN-GD/1".into() }],
            policy: AcceptancePolicy {
                accepted_types: vec![],
                max_test_age: Some(72 * 3600),
                allow_unsynced_status: false,
            },
        }
    }
}

#[test]
fn k_of_n_distinct_members_must_sign() {
    let f = fed();
    let doc = f.root_doc(1, 2);
    let root = FederationRoot::verify_initial(&f.signed(&doc, &[0, 2])).unwrap();
    assert_eq!(*root, doc);
    let one = FederationRoot::verify_initial(&f.signed(&doc, &[1]));
    assert!(matches!(one, Err(Error::ThresholdNotMet { needed: 2, got: 1, .. })), "{one:?}");
    let twice = FederationRoot::verify_initial(&f.signed(&doc, &[1, 1]));
    assert!(matches!(twice, Err(Error::DuplicateSigner { .. })), "the same member twice is refused: {twice:?}");
    // A signature by a stranger's key counts for nothing.
    let payload = doc.to_payload().unwrap();
    let stranger = signing_key_from_seed(&[99; 32]).unwrap();
    let signed =
        combine(&payload, &[cosign(&payload, &f.roots[0].1).unwrap(), cosign(&payload, &stranger).unwrap()]).unwrap();
    assert!(matches!(FederationRoot::verify_initial(&signed), Err(Error::ThresholdNotMet { got: 1, .. })));
}

#[test]
fn rotation_follows_the_chain() {
    let f = fed();
    let v1 = FederationRoot::verify_initial(&f.signed(&f.root_doc(1, 2), &[0, 1])).unwrap();
    let v2 = v1.verify_successor(&f.signed(&f.root_doc(2, 2), &[1, 2])).unwrap();
    assert_eq!(v2.version, 2);
    assert!(matches!(v1.verify_successor(&f.signed(&f.root_doc(2, 2), &[2])), Err(Error::ThresholdNotMet { .. })));
    assert!(matches!(
        v1.verify_successor(&f.signed(&f.root_doc(3, 2), &[0, 1, 2])),
        Err(Error::RootVersion { current: 1, offered: 3 })
    ));
    assert!(matches!(v2.verify_successor(v1.signed_bytes()), Err(Error::RootVersion { current: 2, offered: 1 })));

    // A new root that drops GD and adds a new member needs k old members and k of its own.
    let newcomer = signing_key_from_seed(&[44; 32]).unwrap();
    let mut v3 = f.root_doc(3, 2);
    v3.members.remove(0);
    v3.members.push(Member { province: "CN-ZJ".into(), root_keys: vec![newcomer.public().clone()] });
    let payload = v3.to_payload().unwrap();
    let sigs = [&f.roots[0].1, &f.roots[1].1, &newcomer].map(|k| cosign(&payload, k).unwrap());
    assert!(v2.verify_successor(&combine(&payload, &sigs).unwrap()).is_ok());
    let only_old = combine(&payload, &sigs[..1]).unwrap();
    assert!(matches!(v2.verify_successor(&only_old), Err(Error::ThresholdNotMet { .. })));
}

#[test]
fn malformed_roots_are_refused() {
    let f = fed();
    let mut doc = f.root_doc(1, 4);
    assert!(doc.to_payload().is_err(), "threshold above the member count");
    doc.threshold = 2;
    doc.members.push(doc.members[0].clone());
    assert!(doc.to_payload().is_err(), "a member twice");
    assert!(FederationRoot::verify_initial(b"\xd8\x62\x84").is_err());
    let bundle_bytes = f.bundle("CN-GD", 1).sign(&f.roots[0].1).unwrap();
    assert!(FederationRoot::verify_initial(&bundle_bytes).is_err(), "a bundle is not a root");
}

#[test]
fn bundles_are_signed_by_their_own_province_only() {
    let f = fed();
    let root: Verified<FederationRoot> = FederationRoot::verify_initial(&f.signed(&f.root_doc(1, 2), &[0, 1])).unwrap();
    let gd = f.bundle("CN-GD", 1);
    let verified = ProvinceBundle::verify(&gd.sign(&f.roots[0].1).unwrap(), &root).unwrap();
    assert_eq!(*verified, gd);

    // Hubei's root signs a bundle claiming Guangdong: refused, naming both.
    let forged = ProvinceBundle::verify(&gd.sign(&f.roots[1].1).unwrap(), &root);
    assert!(
        matches!(&forged, Err(Error::BundleSignerMismatch { claimed, signer: Some(s) }) if claimed == "CN-GD" && s == "CN-HB"),
        "{forged:?}"
    );
    // A mirror that adds a key must re-sign with a key it has: not a member root.
    let mut padded = gd.clone();
    padded.issuer_keys.push(IssuerKey {
        public_key: signing_key_from_seed(&[7; 32]).unwrap().public().clone(),
        ..gd.issuer_keys[0].clone()
    });
    let mirror_key = signing_key_from_seed(&[66; 32]).unwrap();
    assert!(ProvinceBundle::verify(&padded.sign(&mirror_key).unwrap(), &root).is_err());
    // Flipping a byte of a genuine bundle breaks its signature.
    let mut bytes = gd.sign(&f.roots[0].1).unwrap();
    let n = bytes.len();
    bytes[n - 70] ^= 1;
    assert!(ProvinceBundle::verify(&bytes, &root).is_err());
}

#[test]
fn trust_list_from_bundles_carries_revocations_and_expiry() {
    let f = fed();
    let root = FederationRoot::verify_initial(&f.signed(&f.root_doc(1, 2), &[0, 1])).unwrap();
    let gd = ProvinceBundle::verify(&f.bundle("CN-GD", 1).sign(&f.roots[0].1).unwrap(), &root).unwrap();
    let list = TrustList::from_federation(&root, std::slice::from_ref(&gd));
    let key = &list.keys()[0];
    assert_eq!(key.certificate.province, "CN-GD");
    assert_eq!(key.revoked_after, Some(T0 + 3600));
    assert_eq!(key.bundle_expires, Some(gd.expires));

    let bundle = TrustBundle { roots: vec![root.signed_bytes().to_vec()], bundles: vec![gd.signed_bytes().to_vec()] };
    assert_eq!(TrustBundle::decode(&bundle.encode()).unwrap(), bundle);
    assert!(TrustBundle::decode(b"\xa0").is_err());
}

#[test]
fn members_with_several_keys_and_keys_under_two_members() {
    let f = fed();
    // Guangdong with two root keys signing with both: one member, twice: refused.
    let second = signing_key_from_seed(&[31; 32]).unwrap();
    let mut doc = f.root_doc(1, 2);
    doc.members[0].root_keys.push(second.public().clone());
    let payload = doc.to_payload().unwrap();
    let both =
        combine(&payload, &[cosign(&payload, &f.roots[0].1).unwrap(), cosign(&payload, &second).unwrap()]).unwrap();
    assert!(
        matches!(FederationRoot::verify_initial(&both), Err(Error::DuplicateSigner { province }) if province == "CN-GD")
    );
    // Either of its keys counts for Guangdong once, with another member's signature.
    let ok =
        combine(&payload, &[cosign(&payload, &second).unwrap(), cosign(&payload, &f.roots[1].1).unwrap()]).unwrap();
    assert!(FederationRoot::verify_initial(&ok).is_ok());
    // One key listed under two members is refused outright.
    let mut shared = f.root_doc(1, 2);
    shared.members[1].root_keys = shared.members[0].root_keys.clone();
    assert!(matches!(shared.to_payload(), Err(Error::DocumentInvalid(m)) if m.contains("listed twice")));
}
