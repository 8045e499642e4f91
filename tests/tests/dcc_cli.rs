//! `huren-verifier verify` on real EU DCCs from the corpus: trust from the DCC Gateway JSON format or PEM, the
//! answer printed with `format: dcc`, the names, date of birth, entry type and key dates; the same rejection codes
//! as for Huren credentials.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use huren_tests::workspace_binary;

/// The DK recovery certificate case: (QR text, signer certificate as base64 DER, validation clock).
fn danish_recovery() -> (String, String, String) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/dcc/DK/2DCode/raw/3.json");
    let case: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let text = case["PREFIX"].as_str().unwrap().to_string();
    let cert = case["TESTCTX"]["CERTIFICATE"].as_str().unwrap().to_string();
    let clock = case["TESTCTX"]["VALIDATIONCLOCK"].as_str().unwrap().to_string();
    (text, cert, clock)
}

fn verify(args: &[&str]) -> (i32, Vec<serde_json::Value>) {
    let out = Command::new(workspace_binary("huren-verifier")).arg("verify").arg("--json").args(args).output().unwrap();
    let answers = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    (out.status.code().unwrap(), answers)
}

#[test]
fn eu_dccs_verify_with_gateway_or_pem_trust() {
    let (text, cert, clock) = danish_recovery();
    let dir = std::env::temp_dir().join(format!("huren-dcc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pem = dir.join("signers.pem");
    let wrapped: Vec<String> = cert.as_bytes().chunks(64).map(|c| String::from_utf8(c.to_vec()).unwrap()).collect();
    std::fs::write(&pem, format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", wrapped.join("\n")))
        .unwrap();
    let gateway = dir.join("trustlist.json");
    let list =
        serde_json::json!([{ "kid": "uE7ViYTSegg=", "country": "DK", "certificateType": "DSC", "rawData": cert }]);
    std::fs::write(&gateway, list.to_string()).unwrap();

    for trust in [&pem, &gateway] {
        let (code, answers) = verify(&["--dcc-trust", trust.to_str().unwrap(), "--at", &clock, &text]);
        let a = &answers[0];
        assert_eq!((code, a["valid"].as_bool(), a["format"].as_str()), (0, Some(true), Some("dcc")), "{a}");
        assert_eq!((a["type"].as_str(), a["issuer"].as_str()), (Some("recovery"), Some("DK")));
        assert_eq!(a["dcc"]["name"]["family_std"], "TRINKE");
        assert_eq!(a["dcc"]["name"]["given"], "Larsen");
        assert_eq!(a["dcc"]["date_of_birth"], "1978-10-29");
        assert_eq!(a["dcc"]["key_dates"][1], serde_json::json!(["df", "2021-04-20"]));
    }

    // No DCC trust: the signer is unknown. Later than the certificate's expiry: EXPIRED. A damaged code: refused.
    let (code, answers) = verify(&["--at", &clock, &text]);
    assert_eq!(
        (code, answers[0]["code"].as_str(), answers[0]["format"].as_str()),
        (1, Some("KID_UNKNOWN"), Some("dcc"))
    );
    let pem_arg = pem.to_str().unwrap();
    let (_, answers) = verify(&["--dcc-trust", pem_arg, "--at", "2022-06-01T00:00:00Z", &text]);
    assert_eq!(answers[0]["code"], "EXPIRED");
    let damaged = text.replacen("HC1:N", "HC1:M", 1);
    let (code, answers) = verify(&["--dcc-trust", pem_arg, "--at", &clock, &damaged]);
    assert_eq!(code, 1);
    assert_ne!(answers[0]["code"], "OK");
    std::fs::remove_dir_all(&dir).unwrap();
}
