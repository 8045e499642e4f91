//! `huren-verifier trust provision|import|status` and `verify --store --checkpoint` through the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use huren_keys::CredentialType;
use huren_tests::fixtures::{health_status, TestFederation, T0};
use huren_tests::workspace_binary;

fn at(t: i64) -> String {
    // RFC 3339 for a Unix time, using wallet-core's calendar date.
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let date = huren_wallet_core::Date::from_days(days).unwrap();
    format!("{date}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

#[test]
fn trust_commands_and_checkpoint_policy() {
    let fed = TestFederation::three();
    let dir = std::env::temp_dir().join(format!("huren-fed-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("root.cose"), fed.signed_root(&fed.root_doc(1), &[0, 2])).unwrap();
    let mut bundle = fed.trust_bundle();
    // Hubei's checkpoints accept vaccinations only.
    let mut hb = fed.bundle_doc("CN-HB", 1);
    hb.policy.accepted_types = vec![CredentialType::Vaccination];
    bundle.bundles[1] = fed.signed_bundle(&hb);
    std::fs::write(dir.join("trust.cbor"), bundle.encode()).unwrap();
    let store = dir.join("store.cbor");
    let run = |args: &[&str]| {
        let out = Command::new(workspace_binary("huren-verifier")).args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let s = store.to_str().unwrap();
    let now = at(T0 + 60);
    assert_eq!(run(&["trust", "provision", dir.join("root.cose").to_str().unwrap(), "--store", s, "--at", &now]).0, 0);
    assert_eq!(run(&["trust", "import", dir.join("trust.cbor").to_str().unwrap(), "--store", s, "--at", &now]).0, 0);
    let (code, out, _) = run(&["trust", "status", "--json", "--store", s, "--at", &now]);
    assert_eq!(code, 0);
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["root_version"], 1);
    assert_eq!(status["bundles"].as_array().unwrap().len(), 3);
    assert_eq!(status["freshness"], "fresh");

    let text = fed.province("CN-GD").qr_text(&health_status("CN-GD"));
    let (code, out, _) = run(&["verify", "--json", "--store", s, "--at", &now, &text]);
    assert_eq!(code, 0, "{out}");
    let line: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(line["code"], "OK");
    assert!(line["trust_age_seconds"].as_i64().unwrap() > 0);
    assert!(line["trust_warning"].is_null());
    // At a Hubei checkpoint, a health status is not accepted.
    let (code, out, _) = run(&["verify", "--json", "--store", s, "--at", &now, "--checkpoint", "CN-HB", &text]);
    assert_eq!(code, 1);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["code"], "POLICY_REJECTED");
    // Three days later the data is old enough for a warning (default 48 h), still answered.
    let later = at(T0 + 3 * 86_400);
    let (code, out, err) = run(&["verify", "--json", "--store", s, "--at", &later, &text]);
    assert_eq!(code, 0);
    assert!(err.contains("warning"), "{err}");
    assert!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["trust_warning"].is_string());
    // With a 24-hour refusal limit it is stale.
    let (code, out, _) = run(&["verify", "--json", "--store", s, "--at", &later, "--refuse-after-hours", "24", &text]);
    assert_eq!(code, 1);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap()["code"], "TRUST_STORE_STALE");
    // Importing again with a clock far behind the floor is refused and named.
    let (code, _, err) = run(&[
        "trust",
        "import",
        dir.join("trust.cbor").to_str().unwrap(),
        "--store",
        s,
        "--at",
        "2020-01-01T00:00:00Z",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("CLOCK_BEHIND_TRUST"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
