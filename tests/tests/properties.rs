//! Property tests (proptest) over every Huren document:
//!
//! - round trips: whatever a document encodes to decodes back to the same document (credential claims, signed
//!   credentials through the whole verifier, dynamic presentations, QR transport and base45, key certificates,
//!   federation roots, province bundles, trust files, trust bundles and trust states, status lists and deltas,
//!   wallet files);
//! - tamper evidence: flipping any single bit of a signed document — every bit, not a sample — gets it refused;
//! - robustness: arbitrary bytes, and valid documents with random damage, give a typed error and never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::OnceLock;

use huren_keys::dangerous::{signing_key_from_seed, trust_list_from_unverified};
use huren_keys::status::{Status, StatusDelta, StatusList};
use huren_keys::{
    cbor, federation, AcceptancePolicy, CredentialType, FederationRoot, IssuerKey, KeyCertificate, KeyRevocation,
    Member, ProvinceAnchor, ProvinceBundle, SigningKey, StatusListDescriptor, TrustBundle, TrustFile, TrustList,
    TrustState,
};
use huren_tests::fixtures::{TestFederation, DAY, T0};
use huren_verifier::dcc::{verify_dcc, DccTrust};
use huren_verifier::{verify, verify_cose, Policy};
use huren_wallet_core::store::MemoryStorage;
use huren_wallet_core::wallet::{ImportPolicy, Wallet};
use huren_wallet_core::{
    base45, presentation, transport, Body, Colour, Credential, Date, HealthStatus, HolderKey, Reason, Recovery,
    StatusRef, Subject, TestKind, TestOutcome, TestResult, Vaccination,
};
use proptest::prelude::*;

const PROVINCES: [&str; 4] = ["CN-GD", "CN-HB", "CN-SH", "CN-BJ"];

/// One issuer key per province (seeds 40..44), each certified for every type over all time.
fn issuers() -> &'static (Vec<SigningKey>, TrustList) {
    static ISSUERS: OnceLock<(Vec<SigningKey>, TrustList)> = OnceLock::new();
    ISSUERS.get_or_init(|| {
        let keys: Vec<_> = (40u8..44).map(|s| signing_key_from_seed(&[s; 32]).unwrap()).collect();
        let certs = PROVINCES
            .iter()
            .zip(&keys)
            .map(|(p, k)| KeyCertificate {
                province: p.to_string(),
                public_key: k.public().clone(),
                credential_types: CredentialType::ALL.to_vec(),
                usage_from: 0,
                usage_until: i64::MAX / 4,
                expires: i64::MAX / 4,
                issued_at: 0,
            })
            .collect();
        (keys, trust_list_from_unverified(certs))
    })
}

fn issuer_key(province: &str) -> &'static SigningKey {
    let at = PROVINCES.iter().position(|p| *p == province).unwrap();
    &issuers().0[at]
}

/// Printable text of 1 to `max` characters: Chinese, Latin, digits, punctuation and the odd emoji.
fn text(max: usize) -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        4 => proptest::char::range('\u{4e00}', '\u{9fa5}'),
        2 => proptest::char::range('a', 'z'),
        1 => proptest::char::range('0', '9'),
        1 => proptest::sample::select(vec![' ', '·', '-', '\'', 'é', 'ü', '😀']),
    ];
    proptest::collection::vec(ch, 1..=max).prop_map(|chars| chars.into_iter().collect())
}

/// Names an issuer signs (`huren_wallet_core::name`): words of letters joined by single separators, at most `max`
/// characters.
fn name(max: usize) -> impl Strategy<Value = String> {
    let letter = prop_oneof![
        4 => proptest::char::range('\u{4e00}', '\u{9fa5}'),
        2 => proptest::char::range('a', 'z'),
        1 => proptest::char::range('0', '9'),
        1 => proptest::sample::select(vec!['é', 'ü', 'Ǚ', '𠀀']),
    ];
    let word = proptest::collection::vec(letter, 1..=4).prop_map(|chars| chars.into_iter().collect::<String>());
    let separator = proptest::sample::select(vec![" ", "·", "-", "'"]);
    (word.clone(), proptest::collection::vec((separator, word), 0..=3)).prop_map(move |(first, rest)| {
        let mut name = first;
        for (separator, word) in rest {
            if name.chars().count() + 1 + word.chars().count() <= max {
                name.push_str(separator);
                name.push_str(&word);
            }
        }
        name
    })
}

/// A masked ID: a few visible characters, at least one `*`, a few more visible (at most 8 in all).
fn masked_id() -> impl Strategy<Value = String> {
    let visible = || proptest::collection::vec(prop_oneof![proptest::char::range('0', '9'), Just('X')], 0..=4);
    (visible(), 1usize..=14, visible())
        .prop_map(|(head, stars, tail)| head.into_iter().chain(std::iter::repeat_n('*', stars)).chain(tail).collect())
}

fn date_of(unix: i64) -> Date {
    Date::from_unix(unix).unwrap()
}

/// A body consistent with its credential's issue time and expiry (the issuer refuses any other), verifiable one
/// second after issue.
fn body(issued_at: i64, expires_at: i64) -> impl Strategy<Value = Body> {
    let health = (0usize..3, 0usize..6, proptest::option::of(2i64..=expires_at - issued_at)).prop_map(
        move |(colour, reason, until)| {
            let colour = [Colour::Green, Colour::Amber, Colour::Red][colour];
            let reasons = [
                Reason::NoRisk,
                Reason::CloseContact,
                Reason::PositiveTest,
                Reason::RiskAreaTravel,
                Reason::Quarantine,
                Reason::AwaitingTest,
            ];
            Body::HealthStatus(HealthStatus {
                colour,
                reason: reasons[reason],
                valid_until: until.map(|u| issued_at + u),
            })
        },
    );
    let test = (any::<bool>(), any::<bool>(), 0i64..48 * 3600, proptest::option::of(text(20))).prop_map(
        move |(pcr, negative, age, centre)| {
            Body::TestResult(TestResult {
                kind: if pcr { TestKind::Naat } else { TestKind::Antigen },
                outcome: if negative { TestOutcome::Negative } else { TestOutcome::Positive },
                sampled_at: issued_at - age,
                centre,
            })
        },
    );
    let vaccination = ("[A-Z]{2,8}".prop_map(String::from), 1u8..=5, 0u8..=4, 0i64..=900).prop_map(
        move |(product, doses, extra, days_ago)| {
            let dose = doses.saturating_sub(extra).max(1);
            Body::Vaccination(Vaccination { product, dose, doses, date: date_of(issued_at - days_ago * DAY) })
        },
    );
    let recovery = (0i64..=30, 0i64..=30, 0i64..=200).prop_map(move |(before, sick, extra)| {
        let valid_from = date_of(issued_at - before * DAY);
        Body::Recovery(Recovery {
            first_positive: date_of(issued_at - (before + sick) * DAY),
            valid_from,
            valid_until: date_of(expires_at + extra * DAY),
        })
    });
    prop_oneof![health, test, vaccination, recovery]
}

/// Credentials the issuer would sign, each from one of four provinces.
fn credential() -> impl Strategy<Value = Credential> {
    (0usize..4, 1_600_000_000i64..2_000_000_000, 60i64..=400 * DAY)
        .prop_flat_map(|(province, issued_at, validity)| {
            let expires_at = issued_at + validity;
            (
                Just(PROVINCES[province].to_string()),
                Just(issued_at),
                Just(expires_at),
                proptest::option::of(0i64..=DAY),
                proptest::collection::vec(any::<u8>(), 8..=16),
                proptest::option::of((any::<u32>(), 0u32..1 << 27)),
                (name(12), proptest::option::of(name(24)), masked_id(), proptest::option::of(-20_000i32..20_000)),
                body(issued_at, expires_at),
                proptest::option::of(50u8..60),
            )
        })
        .prop_map(|(issuer, issued_at, expires_at, nbf_before, id, status, subject, body, holder)| {
            let (name, pinyin, masked_id, dob) = subject;
            Credential {
                issuer,
                issued_at,
                expires_at,
                not_before: nbf_before.map(|b| issued_at - b),
                id,
                status: status.map(|(list, index)| StatusRef { list, index }),
                subject: Subject { name, pinyin, masked_id, date_of_birth: dob.map(Date) },
                body,
                holder: holder
                    .map(|seed| HolderKey::from_public_key(signing_key_from_seed(&[seed; 32]).unwrap().public()))
                    .transpose()
                    .unwrap(),
            }
        })
}

/// A random byte-level damage: replace, insert or delete a byte, or cut the tail.
#[derive(Debug, Clone)]
enum Damage {
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn damage() -> impl Strategy<Value = Vec<Damage>> {
    let one = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Damage::Replace(at, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Damage::Insert(at, b)),
        any::<usize>().prop_map(Damage::Delete),
        any::<usize>().prop_map(Damage::Truncate),
    ];
    proptest::collection::vec(one, 1..=4)
}

fn damaged(bytes: &[u8], damage: &[Damage]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for d in damage {
        let len = out.len().max(1);
        match *d {
            Damage::Replace(at, b) if !out.is_empty() => out[at % len] = b,
            Damage::Insert(at, b) => out.insert(at % (out.len() + 1), b),
            Damage::Delete(at) if !out.is_empty() => {
                out.remove(at % len);
            }
            Damage::Truncate(at) => out.truncate(at % len),
            _ => {}
        }
    }
    out
}

/// Every single-bit flip of `bytes`, each handed to `accepts`; returns the positions it accepted. The document
/// itself must be accepted (else the property would hold for nothing).
fn accepted_flips(bytes: &[u8], mut accepts: impl FnMut(&[u8]) -> bool) -> Vec<usize> {
    assert!(accepts(bytes), "the unaltered document is accepted");
    let mut flipped = bytes.to_vec();
    let mut accepted = Vec::new();
    for bit in 0..bytes.len() * 8 {
        flipped[bit / 8] ^= 1 << (bit % 8);
        if accepts(&flipped) {
            accepted.push(bit);
        }
        flipped[bit / 8] ^= 1 << (bit % 8);
    }
    accepted
}

fn signed(c: &Credential) -> Vec<u8> {
    c.sign(issuer_key(&c.issuer)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn credential_claims_round_trip_and_are_canonical(c in credential()) {
        c.check().unwrap();
        let claims = c.to_claims();
        prop_assert_eq!(Credential::from_claims(&claims).unwrap(), c);
        prop_assert_eq!(cbor::encode(&cbor::decode_canonical(&claims, 8).unwrap()), claims);
    }

    #[test]
    fn a_signed_credential_verifies_to_itself_statically_or_as_a_dynamic_code(c in credential()) {
        let cose = signed(&c);
        let (now, policy) = (c.issued_at + 1, Policy::default());
        let text = transport::encode(&cose);
        prop_assert_eq!(transport::decode(&text, &Default::default()).unwrap(), cose.clone());
        let text = match c.holder.as_ref().map(|h| h.public_key().clone()) {
            None => text,
            Some(holder) => {
                let refused = verify(&text, &issuers().1, now, &policy).unwrap_err();
                prop_assert_eq!(refused.code().as_str(), "PRESENTATION_REQUIRED");
                let seed = (50u8..60).find(|&s| signing_key_from_seed(&[s; 32]).unwrap().public() == &holder).unwrap();
                let device = signing_key_from_seed(&[seed; 32]).unwrap();
                let dynamic = presentation::present(&cose, &device, now).unwrap();
                let decoded = presentation::decode(&dynamic, &Default::default()).unwrap();
                prop_assert_eq!((&decoded.credential, decoded.step), (&cose, presentation::step_at(now).unwrap()));
                dynamic
            }
        };
        let verified = verify(&text, &issuers().1, now, &policy).unwrap();
        prop_assert_eq!(verified.credential(), &c);
        prop_assert_eq!(verified.issuer(), c.issuer.as_str());
    }

    #[test]
    fn qr_transport_and_base45_round_trip_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2800)) {
        let text = transport::encode(&bytes);
        prop_assert!(text.starts_with(transport::PREFIX));
        let qr_alphanumeric = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
        prop_assert!(text[transport::PREFIX.len()..].bytes().all(|b| qr_alphanumeric.contains(&b)));
        prop_assert_eq!(transport::decode(&text, &Default::default()).unwrap(), bytes.clone());
        prop_assert_eq!(base45::decode(&base45::encode(&bytes)).unwrap(), bytes);
    }

    #[test]
    fn key_certificates_round_trip(
        province in 0usize..4,
        types in proptest::sample::subsequence(CredentialType::ALL.to_vec(), 1..=4),
        (from, until, expires) in (-1_000_000i64..2_000_000_000, 0i64..1_000_000_000, 0i64..1_000_000_000),
        issued_at in any::<i64>(),
        seed in 60u8..70,
    ) {
        let root = signing_key_from_seed(&[1; 32]).unwrap();
        let cert = KeyCertificate {
            province: PROVINCES[province].into(),
            public_key: signing_key_from_seed(&[seed; 32]).unwrap().public().clone(),
            credential_types: types,
            usage_from: from,
            usage_until: from + until,
            expires: from + until + expires,
            issued_at,
        };
        let bytes = cert.sign(&root).unwrap();
        prop_assert_eq!(KeyCertificate::verify(&bytes, root.public()).unwrap(), cert);
    }

    #[test]
    fn federation_roots_round_trip(
        members in 1usize..=6,
        threshold in 1u32..=6,
        version in 1u64..u64::MAX / 2,
        issued_at in 0i64..2_000_000_000,
        validity in 1i64..=3650 * DAY,
    ) {
        let threshold = threshold.min(u32::try_from(members).unwrap());
        let keys: Vec<_> =
            (0..members).map(|i| signing_key_from_seed(&[70 + u8::try_from(i).unwrap(); 32]).unwrap()).collect();
        let codes = ["CN-GD", "CN-HB", "CN-SH", "CN-BJ", "CN-ZJ", "CN-SC"];
        let doc = FederationRoot {
            version,
            issued_at,
            expires: issued_at + validity,
            threshold,
            members: keys
                .iter()
                .enumerate()
                .map(|(i, k)| Member { province: codes[i].into(), root_keys: vec![k.public().clone()] })
                .collect(),
        };
        let payload = doc.to_payload().unwrap();
        prop_assert_eq!(FederationRoot::from_payload(&payload).unwrap(), doc.clone());
        let signers = keys.iter().take(usize::try_from(threshold).unwrap());
        let signatures: Vec<_> = signers.map(|k| federation::cosign(&payload, k).unwrap()).collect();
        let signed = federation::combine(&payload, &signatures).unwrap();
        prop_assert_eq!(FederationRoot::verify_initial(&signed).unwrap().into_document(), doc);
    }

    #[test]
    fn province_bundles_round_trip(bundle in province_bundle()) {
        let fed = TestFederation::three();
        let root = FederationRoot::verify_initial(&fed.signed_root(&fed.root_doc(1), &[0, 2])).unwrap();
        let bytes = fed.signed_bundle(&bundle);
        prop_assert_eq!(ProvinceBundle::verify(&bytes, &root).unwrap().into_document(), bundle);
    }

    #[test]
    fn trust_files_round_trip_and_yield_their_keys(
        provinces in proptest::sample::subsequence(vec![0usize, 1, 2, 3], 1..=4),
    ) {
        // One anchor per province: its root (seed 100 + i) and a certificate for its issuer key.
        let root_of = |i: usize| signing_key_from_seed(&[100 + u8::try_from(i).unwrap(); 32]).unwrap();
        let anchors: Vec<ProvinceAnchor> = provinces
            .iter()
            .map(|&i| {
                let cert = KeyCertificate {
                    province: PROVINCES[i].into(),
                    public_key: issuer_key(PROVINCES[i]).public().clone(),
                    credential_types: CredentialType::ALL.to_vec(),
                    usage_from: T0,
                    usage_until: T0 + DAY,
                    expires: T0 + 2 * DAY,
                    issued_at: T0,
                };
                ProvinceAnchor {
                    province: PROVINCES[i].into(),
                    root: root_of(i).public().clone(),
                    certificates: vec![cert.sign(&root_of(i)).unwrap()],
                }
            })
            .collect();
        let file = TrustFile { anchors };
        let decoded = TrustFile::decode(&file.encode()).unwrap();
        prop_assert_eq!(decoded.encode(), file.encode());
        let keys = TrustList::from_trust_file(&decoded).unwrap();
        prop_assert_eq!(keys.keys().len(), provinces.len());
    }

    #[test]
    fn trust_bundles_round_trip(
        roots in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..4),
        bundles in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..6),
    ) {
        let bundle = TrustBundle { roots, bundles };
        prop_assert_eq!(TrustBundle::decode(&bundle.encode()).unwrap(), bundle);
    }

    #[test]
    fn status_lists_and_deltas_round_trip(
        (len, old, new) in (1u64..5000).prop_flat_map(|len| (Just(len), statuses(len), statuses(len))),
        version in 0u64..1_000_000,
        issued_at in 0i64..2_000_000_000,
        ttl in 1i64..=7 * DAY,
    ) {
        let key = signing_key_from_seed(&[40; 32]).unwrap();
        let trust = &issuers().1;
        let (older, newer) = two_versions(len, (version, issued_at, ttl), &old, &new);
        prop_assert_eq!(StatusList::from_payload(&older.to_payload()).unwrap(), older.clone());
        prop_assert_eq!(StatusList::verify(&older.sign(&key).unwrap(), trust).unwrap().into_document(), older.clone());
        let delta = older.delta_to(&newer).unwrap();
        prop_assert_eq!(StatusDelta::from_payload(&delta.to_payload()).unwrap(), delta.clone());
        let delta = StatusDelta::verify(&delta.sign(&key).unwrap(), trust).unwrap().into_document();
        let mut applied = older;
        applied.apply(&delta).unwrap();
        prop_assert_eq!(applied, newer);
    }

    #[test]
    fn trust_states_round_trip(updates in 0u64..3) {
        let fed = TestFederation::three();
        let mut state = TrustState::provision(&fed.signed_root(&fed.root_doc(1), &[0, 2]), T0).unwrap();
        for version in 1..=updates + 1 {
            let bundle = TrustBundle {
                roots: vec![],
                bundles: vec![fed.signed_bundle(&fed.bundle_doc("CN-GD", version))],
            };
            state = state.update(&bundle, T0).unwrap().0;
        }
        let decoded = TrustState::decode(&state.encode()).unwrap();
        prop_assert_eq!(decoded.encode(), state.encode());
        prop_assert_eq!(decoded.time_floor(), state.time_floor());
    }
}

/// Guangdong's list 1 of `len` entries at `version` with the `old` statuses set, and its next version a minute
/// later with the `new` ones set on top.
fn two_versions(
    len: u64,
    (version, issued_at, ttl): (u64, i64, i64),
    old: &[(u64, Status)],
    new: &[(u64, Status)],
) -> (StatusList, StatusList) {
    let mut older = StatusList::new("CN-GD", 1, len, issued_at, ttl).unwrap();
    older.version = version;
    for &(i, s) in old {
        older.bits.set(i, s).unwrap();
    }
    let mut newer = older.clone();
    newer.version = version + 1;
    newer.issued_at = issued_at + 60;
    for &(i, s) in new {
        newer.bits.set(i, s).unwrap();
    }
    (older, newer)
}

fn statuses(len: u64) -> impl Strategy<Value = Vec<(u64, Status)>> {
    let status = prop_oneof![Just(Status::Valid), Just(Status::Revoked), Just(Status::Suspended)];
    proptest::collection::vec((0..len, status), 0..64)
}

fn province_bundle() -> impl Strategy<Value = ProvinceBundle> {
    let key =
        (80u8..90, proptest::sample::subsequence(CredentialType::ALL.to_vec(), 1..=4), 0i64..1 << 40, 0i64..1 << 30)
            .prop_map(|(seed, types, from, span)| IssuerKey {
                public_key: signing_key_from_seed(&[seed; 32]).unwrap().public().clone(),
                credential_types: types,
                usage_from: from,
                usage_until: from + span,
                expires: from + 2 * span,
            });
    let revocation = (90u8..100, any::<i64>(), any::<i64>()).prop_map(|(seed, after, until)| KeyRevocation {
        kid: signing_key_from_seed(&[seed; 32]).unwrap().public().kid(),
        issued_after: after,
        honour_until: until,
    });
    let list = (any::<u32>(), "[a-z]{1,12}").prop_map(|(list, host)| StatusListDescriptor {
        list,
        url: format!("https://{host}.example/v1/status/{list}"),
    });
    let policy = (
        proptest::sample::subsequence(CredentialType::ALL.to_vec(), 0..=4),
        proptest::option::of(1i64..=30 * DAY),
        any::<bool>(),
    )
        .prop_map(|(accepted_types, max_test_age, allow_unsynced_status)| AcceptancePolicy {
            accepted_types,
            max_test_age,
            allow_unsynced_status,
        });
    (
        0usize..3,
        1u64..u64::MAX / 2,
        0i64..2_000_000_000,
        1i64..=365 * DAY,
        proptest::collection::vec(key, 0..4),
        proptest::collection::vec(revocation, 0..3),
        proptest::collection::vec(list, 0..3),
        policy,
    )
        .prop_map(|(p, version, issued_at, validity, mut keys, mut revocations, mut lists, policy)| {
            keys.sort_by(|a, b| a.public_key.spki_der().cmp(b.public_key.spki_der()));
            keys.dedup_by(|a, b| a.public_key == b.public_key);
            revocations.sort_by_key(|r| r.kid.0);
            revocations.dedup_by_key(|r| r.kid.0);
            lists.sort_by_key(|l| l.list);
            lists.dedup_by_key(|l| l.list);
            ProvinceBundle {
                province: ["CN-GD", "CN-HB", "CN-SH"][p].into(),
                version,
                issued_at,
                expires: issued_at + validity,
                issuer_keys: keys,
                revocations,
                status_lists: lists,
                policy,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn any_bit_flipped_in_a_credential_is_refused(c in credential()) {
        // Unbound: a bound credential's static code is refused whatever its bits (PRESENTATION_REQUIRED).
        let c = Credential { holder: None, ..c };
        let cose = signed(&c);
        let now = c.issued_at + 1;
        let accepted = accepted_flips(&cose, |bytes| verify_cose(bytes, &issuers().1, now, &Policy::default()).is_ok());
        prop_assert!(accepted.is_empty(), "bits {:?} of {} accepted", accepted, cose.len() * 8);
    }

    #[test]
    fn any_bit_flipped_in_a_dynamic_code_is_refused(c in credential(), seed in 50u8..60) {
        let device = signing_key_from_seed(&[seed; 32]).unwrap();
        let bound = Credential { holder: Some(HolderKey::from_public_key(device.public()).unwrap()), ..c };
        let now = bound.issued_at + 1;
        let dynamic = presentation::present(&signed(&bound), &device, now).unwrap();
        let envelope = base45::decode(&dynamic[presentation::PREFIX.len()..]).unwrap();
        let accepted = accepted_flips(&envelope, |bytes| {
            let text = format!("{}{}", presentation::PREFIX, base45::encode(bytes));
            verify(&text, &issuers().1, now, &Policy::default()).is_ok()
        });
        prop_assert!(accepted.is_empty(), "bits {:?} accepted", accepted);
    }

    #[test]
    fn any_bit_flipped_in_a_key_certificate_or_a_province_bundle_is_refused(bundle in province_bundle()) {
        let fed = TestFederation::three();
        let root = FederationRoot::verify_initial(&fed.signed_root(&fed.root_doc(1), &[0, 2])).unwrap();
        let bytes = fed.signed_bundle(&bundle);
        prop_assert!(accepted_flips(&bytes, |b| ProvinceBundle::verify(b, &root).is_ok()).is_empty());
        let province = fed.province(&bundle.province);
        let cert = province.certificate.sign(&province.root).unwrap();
        prop_assert!(accepted_flips(&cert, |b| KeyCertificate::verify(b, province.root.public()).is_ok()).is_empty());
    }

    #[test]
    fn any_bit_flipped_in_a_federation_root_is_refused(
        version in 1u64..1000,
        signers in proptest::sample::subsequence(vec![0usize, 1, 2], 2..=2),
    ) {
        let fed = TestFederation::three();
        let bytes = fed.signed_root(&fed.root_doc(version), &signers);
        prop_assert!(FederationRoot::verify_initial(&bytes).is_ok());
        prop_assert!(accepted_flips(&bytes, |b| FederationRoot::verify_initial(b).is_ok()).is_empty());
    }

    #[test]
    fn any_bit_flipped_in_a_status_list_or_delta_is_refused(
        (len, old, new) in (1u64..600).prop_flat_map(|len| (Just(len), statuses(len), statuses(len))),
    ) {
        let key = signing_key_from_seed(&[40; 32]).unwrap();
        let trust = &issuers().1;
        let (older, newer) = two_versions(len, (0, T0, DAY), &old, &new);
        let list = older.sign(&key).unwrap();
        prop_assert!(accepted_flips(&list, |b| StatusList::verify(b, trust).is_ok()).is_empty());
        let delta = older.delta_to(&newer).unwrap().sign(&key).unwrap();
        prop_assert!(accepted_flips(&delta, |b| StatusDelta::verify(b, trust).is_ok()).is_empty());
    }
}

proptest! {
    // Each case opens the wallet once per bit of its file: PBKDF2 with one round, or up to 1,048,577 when the flip
    // lands in the iteration count. A few cases suffice.
    #![proptest_config(ProptestConfig::with_cases(4))]

    #[test]
    fn any_bit_flipped_in_a_wallet_file_is_refused(c in credential()) {
        let mut wallet = Wallet::open_with_iterations(MemoryStorage::default(), b"pass", 1).unwrap();
        let c = Credential { holder: None, ..c };
        let text = transport::encode(&signed(&c));
        wallet.import_qr(&text, &issuers().1, c.issued_at + 1, ImportPolicy::RequireTrusted).unwrap();
        wallet.device_key().unwrap();
        wallet.save().unwrap();
        let file = wallet.into_storage().bytes.unwrap();
        let reopened = Wallet::open(MemoryStorage { bytes: Some(file.clone()), pending: None }, b"pass").unwrap();
        prop_assert_eq!(reopened.list().len(), 1);
        prop_assert_eq!(reopened.list()[0].credential(), &c);
        let opens = |b: &[u8]| Wallet::open(MemoryStorage { bytes: Some(b.to_vec()), pending: None }, b"pass").is_ok();
        let accepted = accepted_flips(&file, opens);
        prop_assert!(accepted.is_empty(), "bits {:?} accepted", accepted);
    }
}

/// Inputs for the robustness properties: a valid credential, presentation, trust bundle and status list.
struct Specimens {
    credential: Vec<u8>,
    dynamic: Vec<u8>,
    trust_bundle: Vec<u8>,
    status_list: Vec<u8>,
    state: TrustState,
}

fn specimens() -> &'static Specimens {
    static SPECIMENS: OnceLock<Specimens> = OnceLock::new();
    SPECIMENS.get_or_init(|| {
        let device = signing_key_from_seed(&[50; 32]).unwrap();
        let mut c = huren_tests::fixtures::health_status("CN-GD");
        c.holder = Some(HolderKey::from_public_key(device.public()).unwrap());
        let credential = signed(&c);
        let dynamic = presentation::present(&credential, &device, T0 + 1).unwrap();
        let dynamic = base45::decode(&dynamic[presentation::PREFIX.len()..]).unwrap();
        let fed = TestFederation::three();
        let state = TrustState::provision(&fed.signed_root(&fed.root_doc(1), &[0, 2]), T0).unwrap();
        let mut list = StatusList::new("CN-GD", 1, 1000, T0, DAY).unwrap();
        list.bits.set(7, Status::Revoked).unwrap();
        Specimens {
            credential,
            dynamic,
            trust_bundle: fed.trust_bundle().encode(),
            status_list: list.sign(issuer_key("CN-GD")).unwrap(),
            state,
        }
    })
}

/// Every decoder and verifier entry point a stranger's bytes reach; each must return, and every refusal must
/// name itself.
fn swallow(bytes: &[u8]) {
    let s = specimens();
    let trust = &issuers().1;
    let (now, policy) = (T0 + 1, Policy::default());
    for text in [
        format!("{}{}", transport::PREFIX, base45::encode(bytes)),
        format!("{}{}", presentation::PREFIX, base45::encode(bytes)),
        String::from_utf8_lossy(bytes).into_owned(),
    ] {
        if let Err(r) = verify(&text, trust, now, &policy) {
            assert!(!r.code().message_en().is_empty() && !r.to_string().is_empty());
        }
        if let Err(r) = verify_dcc(&format!("HC1:{}", text.get(4..).unwrap_or("")), &DccTrust::default(), now) {
            assert!(!r.code().as_str().is_empty());
        }
    }
    let _ = verify_cose(bytes, trust, now, &policy);
    let _ = Credential::from_claims(bytes);
    let _ = cbor::decode_canonical(bytes, cbor::MAX_DEPTH);
    if let Ok(bundle) = TrustBundle::decode(bytes) {
        let _ = s.state.update(&bundle, now);
    }
    let _ = TrustState::decode(bytes);
    let _ = StatusList::verify(bytes, trust);
    let _ = StatusDelta::verify(bytes, trust);
    let _ = StatusList::from_payload(bytes);
    let _ = StatusDelta::from_payload(bytes);
    let _ = FederationRoot::verify_initial(bytes);
    let _ = FederationRoot::from_payload(bytes);
    let _ = KeyCertificate::verify(bytes, issuer_key("CN-GD").public());
    let _ = Wallet::open(MemoryStorage { bytes: Some(bytes.to_vec()), pending: None }, b"pass");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
        swallow(&bytes);
    }

    #[test]
    fn damaged_documents_never_panic(which in 0usize..4, damage in damage()) {
        let s = specimens();
        let original = [&s.credential, &s.dynamic, &s.trust_bundle, &s.status_list][which];
        swallow(&damaged(original, &damage));
    }
}
