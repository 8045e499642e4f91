//! The phone's engine and the CLI give the same answers: a few hundred inputs (valid codes of three provinces,
//! revoked, expired, wrong-province, forged, tampered, truncated, garbage, EU DCCs valid and damaged) go to
//! `huren-verifier verify --json` and to the wasm build of huren-web (run by Node.js), provisioned and fed the same
//! trust, at two times; every JSON line must be identical, byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use huren_keys::status::{Status, StatusList};
use huren_keys::StatusListDescriptor;
use huren_tests::fixtures::{health_status, TestFederation, TestProvince, DAY, T0};
use huren_tests::{web_build, workspace_binary};
use huren_wallet_core::{Colour, StatusRef};

/// The DK recovery certificate of the EU corpus: its QR text, its signer (base64 DER) and its validation clock.
fn danish_recovery() -> (String, String, String) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/dcc/DK/2DCode/raw/3.json");
    let case: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let field = |v: &serde_json::Value| v.as_str().unwrap().to_string();
    (field(&case["PREFIX"]), field(&case["TESTCTX"]["CERTIFICATE"]), field(&case["TESTCTX"]["VALIDATIONCLOCK"]))
}

/// Every QR text of the corpus's DCC cases (most of their signers are not trusted here: KID_UNKNOWN).
fn corpus_dccs() -> Vec<String> {
    let mut texts = Vec::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/dcc");
    for country in std::fs::read_dir(&root).unwrap().flatten() {
        let Ok(cases) = std::fs::read_dir(country.path().join("2DCode/raw")) else { continue };
        for case in cases.flatten() {
            let Ok(text) = std::fs::read_to_string(case.path()) else { continue };
            let Ok(case) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
            if let Some(prefix) = case["PREFIX"].as_str() {
                texts.push(prefix.to_string());
            }
        }
    }
    texts.sort();
    texts.truncate(40);
    texts
}

/// Damaged copies of a code: one character changed at several places, and cut short.
fn damaged(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    for at in [4, 9, chars.len() / 3, chars.len() / 2, chars.len() - 2] {
        let mut changed = chars.clone();
        changed[at] = if changed[at] == 'A' { 'B' } else { 'A' };
        out.push(changed.into_iter().collect());
    }
    for keep in [5, chars.len() / 2, chars.len() - 1] {
        out.push(chars[..keep].iter().collect());
    }
    out
}

fn codes(fed: &TestFederation, dcc: &str) -> Vec<String> {
    let mut codes = Vec::new();
    for province in ["CN-GD", "CN-HB", "CN-SH"] {
        let p = fed.province(province);
        for (colour, hours) in [(Colour::Green, 0), (Colour::Amber, 5), (Colour::Red, 30)] {
            let mut c = health_status(province);
            c.issued_at = T0 + hours * 3600;
            if let huren_wallet_core::Body::HealthStatus(h) = &mut c.body {
                h.colour = colour;
            }
            codes.push(p.qr_text(&c));
        }
        // Status references: 4 valid, 3 revoked (GD's list); other provinces' lists were never synced.
        for index in [3, 4] {
            let mut c = health_status(province);
            c.status = Some(StatusRef { list: 1, index });
            codes.push(p.qr_text(&c));
        }
        let mut old = health_status(province);
        (old.issued_at, old.expires_at) = (T0 - 9 * DAY, T0 - 2 * DAY);
        codes.push(p.qr_text(&old));
        let mut short = health_status(province);
        short.expires_at = T0 + 600;
        codes.push(p.qr_text(&short));
        let mut later = health_status(province);
        later.not_before = Some(T0 + 5 * DAY);
        codes.push(p.qr_text(&later));
    }
    // Guangdong's key signing in Hubei's name; a stranger's key; a province the federation does not know.
    let gd = fed.province("CN-GD");
    codes.push(gd.qr_text(&health_status("CN-HB")));
    let stranger = TestProvince::new("CN-GD", 77, huren_keys::CredentialType::ALL.to_vec());
    codes.push(stranger.qr_text(&health_status("CN-GD")));
    codes.push(
        TestProvince::new("CN-XZ", 91, huren_keys::CredentialType::ALL.to_vec()).qr_text(&health_status("CN-XZ")),
    );
    let originals = codes.clone();
    for code in originals.iter().take(20) {
        codes.extend(damaged(code));
    }
    codes.push(dcc.to_string());
    codes.extend(damaged(dcc));
    codes.extend(corpus_dccs());
    // Garbage: other schemes, broken transports, nothing at all that is a code.
    for garbage in [
        "HR1:",
        "HR1:NOT*BASE45~",
        "HC1:",
        "HC1:NCFOXN",
        "HP1:",
        "HP1:0000",
        "hr1:abc",
        "HX1:ABC",
        "NOPE",
        "   x",
        "二维码",
        "HR1:\u{202e}ABC",
        "https://example.org/?code=HR1:ABC",
        "HR1:ABC DEF",
        "HR1:%%%%%%",
    ] {
        codes.push(garbage.to_string());
    }
    codes
}

fn rfc3339(t: i64) -> String {
    huren_plumbing::clock::rfc3339(t)
}

#[test]
fn the_wasm_build_answers_exactly_as_the_cli() {
    let web = web_build();
    let dir = std::env::temp_dir().join(format!("huren-web-differential-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, bytes: &[u8]| -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };

    // The trust both sides get: root v1, the provinces' bundles (Guangdong's declaring list 1), list 1 with
    // index 3 revoked, the DK DCC signer.
    let fed = TestFederation::three();
    let root = write("root.cose", &fed.signed_root(&fed.root_doc(1), &[0, 2]));
    let mut bundle = fed.trust_bundle();
    let mut gd = fed.bundle_doc("CN-GD", 1);
    gd.status_lists = vec![StatusListDescriptor { list: 1, url: "https://gd.example/status/1".into() }];
    bundle.bundles[0] = fed.signed_bundle(&gd);
    let bundle = write("bundle.cbor", &bundle.encode());
    let mut list = StatusList::new("CN-GD", 1, 64, T0, 7200).unwrap();
    list.bits.set(3, Status::Revoked).unwrap();
    let status = write("status.cose", &list.sign(&fed.province("CN-GD").issuer).unwrap());
    let (dcc, signer, dcc_clock) = danish_recovery();
    let wrapped: Vec<&str> = signer.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    let pem = format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", wrapped.join("\n"));
    let dcc_trust = write("signers.pem", pem.as_bytes());

    let (provision_at, bundle_at, status_at) = (T0, T0, T0 + 60);
    let store = dir.join("store.cbor");
    let cli = |args: &[&str]| {
        let out = Command::new(workspace_binary("huren-verifier")).args(args).output().unwrap();
        assert!(out.status.code().is_some_and(|c| c < 2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let store_arg = store.to_str().unwrap();
    cli(&["trust", "provision", root.to_str().unwrap(), "--store", store_arg, "--at", &rfc3339(provision_at)]);
    cli(&["trust", "import", bundle.to_str().unwrap(), "--store", store_arg, "--at", &rfc3339(bundle_at)]);
    let mut native = huren_verifier::store::TrustStore::open(&store).unwrap();
    native.import_status_list(&std::fs::read(&status).unwrap(), status_at).unwrap();

    let codes = codes(&fed, &dcc);
    assert!(codes.len() >= 200, "{} inputs", codes.len());
    let lines: Vec<String> = codes.iter().map(|c| serde_json::Value::from(c.as_str()).to_string()).collect();
    let inputs = write("codes.ndjson", (lines.join("\n") + "\n").as_bytes());

    let dcc_now = huren_plumbing::clock::parse_rfc3339(&dcc_clock).unwrap();
    for now in [T0 + 3600, dcc_now] {
        let at = rfc3339(now);
        let cli_out = cli(&[
            "verify",
            "--json",
            "--store",
            store_arg,
            "--dcc-trust",
            dcc_trust.to_str().unwrap(),
            "--at",
            &at,
            inputs.to_str().unwrap(),
        ]);
        let cli_lines: Vec<&str> = cli_out.lines().filter(|l| !l.starts_with("{\"summary\"")).collect();
        let wasm = Command::new("node")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/tests/verify-all.mjs"))
            .arg(web.join("node"))
            .args([root.to_str().unwrap(), &provision_at.to_string(), bundle.to_str().unwrap()])
            .args([&bundle_at.to_string(), status.to_str().unwrap(), &status_at.to_string()])
            .args([dcc_trust.to_str().unwrap(), inputs.to_str().unwrap(), &now.to_string()])
            .output()
            .unwrap();
        assert!(wasm.status.success(), "node: {}", String::from_utf8_lossy(&wasm.stderr));
        let wasm_out = String::from_utf8(wasm.stdout).unwrap();
        let wasm_lines: Vec<&str> = wasm_out.lines().collect();
        assert_eq!(cli_lines.len(), codes.len(), "one CLI answer per input at {at}");
        assert_eq!(wasm_lines.len(), codes.len(), "one wasm answer per input at {at}");
        for (i, (cli_line, wasm_line)) in cli_lines.iter().zip(&wasm_lines).enumerate() {
            assert_eq!(cli_line, wasm_line, "input {} ({:?}) at {at}", i + 1, codes[i]);
        }
        // The inputs cover what they claim to: valid codes, refusals of several kinds, and (at the DCC's own
        // time) a valid EU DCC.
        let outcomes: std::collections::BTreeSet<String> = cli_lines
            .iter()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["code"].as_str().unwrap().to_string())
            .collect();
        let expected: &[&str] = if now == dcc_now {
            &["OK", "CLOCK_BEHIND_TRUST", "BASE45_INVALID", "KID_UNKNOWN", "COSE_MALFORMED"]
        } else {
            &[
                "OK",
                "REVOKED",
                "KEY_USAGE_MISMATCH",
                "ISSUER_NOT_AUTHORISED",
                "KID_UNKNOWN",
                "NOT_YET_VALID",
                "PREFIX_UNKNOWN",
            ]
        };
        for code in expected {
            assert!(outcomes.contains(*code), "no {code} among {outcomes:?} at {at}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
