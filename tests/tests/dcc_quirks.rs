//! EU DCC quirks of real 2021 certificates that the reference verifiers accept (issue 15, item 4): a CWT without
//! `exp`, and schema 1.0.x payloads with `null` for an absent entry array. Each is signed here by a test document
//! signer (the corpus in testdata/dcc has neither), verified through the library, the kiosk's answer and the real
//! `huren-verifier verify` with a signer certificate made by `openssl` (Debian package `openssl`; the test fails,
//! it does not skip, without it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ciborium::Value;
use huren_verifier::checkpoint::{json_report, Answer, Checkpoint, TrustSource};
use huren_verifier::dcc::{self, DccKind, DccSigner, DccTrust};
use huren_verifier::kiosk::kiosk_answer;
use huren_verifier::{Code, Policy};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

/// A document signer: an ES256 key and the DCC kid its certificate gives it.
struct DocumentSigner {
    pair: EcdsaKeyPair,
    kid: [u8; 8],
}

impl DocumentSigner {
    fn from_pkcs8(pkcs8: &[u8], kid: [u8; 8]) -> Self {
        let rng = ring::rand::SystemRandom::new();
        DocumentSigner { pair: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng).unwrap(), kid }
    }

    fn generate() -> Self {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        Self::from_pkcs8(pkcs8.as_ref(), [0x44, 0x43, 0x43, 0x2d, 0x74, 0x65, 0x73, 0x74])
    }

    /// Trust in this signer without a certificate: valid over `not_before..not_after`, for every kind.
    fn trust(&self, not_before: i64, not_after: i64) -> DccTrust {
        let spki = huren_keys::p256_spki_from_point(self.pair.public_key().as_ref());
        DccTrust::new(vec![DccSigner {
            kid: self.kid,
            key: huren_keys::PublicKey::from_spki_der(&spki).unwrap(),
            not_before,
            not_after,
            kinds: vec![DccKind::Test, DccKind::Vaccination, DccKind::Recovery],
        }])
    }

    /// `HC1:` text of a COSE_Sign1 (ES256, kid in the protected header) over `claims`, zlib-compressed.
    fn hc1(&self, claims: &[u8]) -> String {
        use coset::{CborSerializable, CoseSign1Builder, HeaderBuilder};
        let rng = ring::rand::SystemRandom::new();
        let cose = CoseSign1Builder::new()
            .protected(HeaderBuilder::new().algorithm(coset::iana::Algorithm::ES256).key_id(self.kid.to_vec()).build())
            .payload(claims.to_vec())
            .create_signature(&[], |tbs| self.pair.sign(&rng, tbs).unwrap().as_ref().to_vec())
            .build()
            .to_vec()
            .unwrap();
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut z, &cose).unwrap();
        format!("HC1:{}", huren_wallet_core::base45::encode(&z.finish().unwrap()))
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

fn map(pairs: &[(&str, Value)]) -> Value {
    Value::Map(pairs.iter().map(|(k, v)| (text(k), v.clone())).collect())
}

/// CWT claims of a schema 1.0.0 DCC as issued in 2021: `iss`, `iat`, `exp` when given, and the DCC with `entries`.
fn claims(exp: Option<i64>, entries: &[(&str, Value)]) -> Vec<u8> {
    let mut dgc = vec![
        ("ver", text("1.0.0")),
        ("nam", map(&[("fnt", text("MUSTERMANN")), ("gnt", text("ERIKA"))])),
        ("dob", text("1964-08-12")),
    ];
    dgc.extend(entries.iter().cloned());
    let mut claims = vec![(Value::from(1), text("DE")), (Value::from(6), Value::from(1_620_000_000))];
    if let Some(exp) = exp {
        claims.push((Value::from(4), Value::from(exp)));
    }
    claims.push((Value::from(-260), Value::Map(vec![(Value::from(1), map(&dgc))])));
    let mut out = Vec::new();
    ciborium::ser::into_writer(&Value::Map(claims), &mut out).unwrap();
    out
}

fn recovery(df: &str, du: &str) -> Value {
    Value::Array(vec![map(&[
        ("tg", text("840539006")),
        ("fr", text("2021-04-10")),
        ("df", text(df)),
        ("du", text(du)),
        ("co", text("DE")),
        ("is", text("Robert Koch-Institut")),
        ("ci", text("URN:UVCI:01DE/5CWLU12RNOB9RXSEOP6FG8#W")),
    ])])
}

fn unix(rfc3339: &str) -> i64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339).unwrap().unix_timestamp()
}

fn date(t: time::OffsetDateTime) -> String {
    t.date().to_string()
}

#[test]
fn a_dcc_without_exp_is_accepted_within_its_own_dates_with_a_warning_everywhere() {
    let signer = DocumentSigner::generate();
    let trust = signer.trust(unix("2021-01-01T00:00:00Z"), unix("2023-01-01T00:00:00Z"));
    // A 1.0.0 recovery certificate without exp, carrying null for the absent v and t arrays.
    let entries = [("v", Value::Null), ("t", Value::Null), ("r", recovery("2021-04-20", "2021-10-10"))];
    let code = signer.hc1(&claims(None, &entries));
    let now = unix("2021-06-01T12:00:00Z");
    let verified = dcc::verify_dcc(&code, &trust, now).unwrap();
    let d = verified.dcc();
    assert_eq!((d.kind, d.expires_at), (DccKind::Recovery, unix("2021-10-10T23:59:59Z")));
    assert_eq!(d.warnings.len(), 1);
    // Outside the recovery's own dates: refused.
    let late = dcc::verify_dcc(&code, &trust, unix("2021-10-11T00:00:00Z")).unwrap_err();
    assert_eq!(late.code(), Code::Expired);
    let early = dcc::verify_dcc(&code, &trust, unix("2021-04-19T12:00:00Z")).unwrap_err();
    assert_eq!(early.code(), Code::NotYetValid);

    // The CLI's --json answer (json_report) carries the warning on the DCC, and the end of validity used.
    let outcome = Ok(Answer::Dcc(verified));
    let report = json_report("code", "dcc", &outcome, now);
    assert_eq!((report["valid"].as_bool(), report["code"].as_str()), (Some(true), Some("OK")));
    assert_eq!(report["expires_at"], "2021-10-10T23:59:59Z");
    let warning = &report["dcc"]["warnings"][0];
    assert_eq!((warning["code"].as_str(), warning["source"].as_str()), (Some("NO_EXPIRY"), Some("du")));
    assert!(warning["message"]["en"].as_str().unwrap().contains("no expiry"), "{warning}");
    assert!(warning["message"]["zh"].as_str().unwrap().contains("有效期"), "{warning}");

    // The kiosk shows it and answers amber, not green.
    let checkpoint = Checkpoint {
        trust: TrustSource::List(Default::default()),
        dcc: trust.clone(),
        policy: Policy::default(),
        freshness: Default::default(),
    };
    let answer = kiosk_answer(&checkpoint, "camera", Some(&code), &outcome, now);
    assert_eq!(answer["verdict"], "amber", "{answer}");
    assert!(answer["warnings"][0].as_str().unwrap().contains("no expiry"), "{answer}");
    assert_eq!(answer["person"]["valid_until"], "2021-10-10T23:59:59Z");
    // The same certificate with exp: green, no warning.
    let with_exp = signer.hc1(&claims(Some(unix("2021-10-10T00:00:00Z")), &entries));
    let outcome = dcc::verify_dcc(&with_exp, &trust, now).map(Answer::Dcc);
    let answer = kiosk_answer(&checkpoint, "camera", Some(&with_exp), &outcome, now);
    assert_eq!((answer["verdict"].as_str(), answer["warnings"].as_array().map(Vec::len)), (Some("green"), Some(0)));
}

#[test]
fn a_dcc_without_exp_ends_with_its_signer_certificate_and_ambiguity_is_still_refused() {
    let signer = DocumentSigner::generate();
    let trust = signer.trust(unix("2021-01-01T00:00:00Z"), unix("2021-08-01T00:00:00Z"));
    let code = signer.hc1(&claims(None, &[("r", recovery("2021-04-20", "2021-10-10"))]));
    let verified = dcc::verify_dcc(&code, &trust, unix("2021-06-01T00:00:00Z")).unwrap();
    assert_eq!(verified.dcc().expires_at, unix("2021-08-01T00:00:00Z"));
    let report = json_report("code", "dcc", &Ok(Answer::Dcc(verified)), 0);
    assert_eq!(report["dcc"]["warnings"][0]["source"], "signer-certificate");
    assert!(dcc::verify_dcc(&code, &trust, unix("2021-08-02T00:00:00Z")).is_err());
    // Signed, but `v` twice (null, then an entry): which one counts would be a guess.
    let twice = [("v", Value::Null), ("r", recovery("2021-04-20", "2021-10-10")), ("v", Value::Array(vec![]))];
    let refused = dcc::verify_dcc(&signer.hc1(&claims(None, &twice)), &trust, unix("2021-06-01T00:00:00Z"));
    assert_eq!(refused.unwrap_err().code(), Code::SchemaInvalid);
}

/// Run the real tool; a missing one fails the test with the package to install.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl").current_dir(dir).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run `openssl` ({e}): this test makes a signer certificate with it and does not skip; install the Debian package `openssl`")
    });
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn huren_verifier_verify_accepts_a_dcc_without_exp_and_says_so() {
    let dir = std::env::temp_dir().join(format!("huren-dcc-quirks-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // A self-signed P-256 document signer certificate with the recovery key usage, valid from now for a year.
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "dsc.key",
            "-out",
            "dsc.pem",
            "-days",
            "365",
            "-subj",
            "/C=DE/CN=Huren test DSC",
            "-addext",
            "extendedKeyUsage=1.3.6.1.4.1.1847.2021.1.3",
        ],
    );
    openssl(&dir, &["pkcs8", "-topk8", "-nocrypt", "-in", "dsc.key", "-outform", "DER", "-out", "dsc.p8"]);
    openssl(&dir, &["x509", "-in", "dsc.pem", "-outform", "DER", "-out", "dsc.der"]);
    let cert = std::fs::read(dir.join("dsc.der")).unwrap();
    let signer_cert = DccSigner::from_certificate(&cert).unwrap();
    let signer = DocumentSigner::from_pkcs8(&std::fs::read(dir.join("dsc.p8")).unwrap(), signer_cert.kid);

    let today = time::OffsetDateTime::now_utc();
    let entries = [
        ("v", Value::Null),
        ("r", recovery(&date(today - time::Duration::days(10)), &date(today + time::Duration::days(170)))),
        ("t", Value::Null),
    ];
    let code = signer.hc1(&claims(None, &entries));
    let at = (today + time::Duration::minutes(10)).format(&time::format_description::well_known::Rfc3339).unwrap();
    let verifier = huren_tests::workspace_binary("huren-verifier");
    let run = |json: bool, input: &str| {
        let mut command = std::process::Command::new(&verifier);
        command.arg("verify").args(["--dcc-trust", dir.join("dsc.pem").to_str().unwrap(), "--at", &at]);
        if json {
            command.arg("--json");
        }
        command.arg(input).output().unwrap()
    };
    let out = run(true, &code);
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((out.status.code(), answer["valid"].as_bool()), (Some(0), Some(true)), "{answer}");
    assert_eq!((answer["format"].as_str(), answer["type"].as_str()), (Some("dcc"), Some("recovery")));
    assert_eq!(answer["dcc"]["warnings"][0]["code"], "NO_EXPIRY", "{answer}");
    let until = format!("{}T23:59:59Z", date(today + time::Duration::days(170)));
    assert_eq!(answer["expires_at"].as_str(), Some(until.as_str()));
    let out = run(false, &code);
    let human = String::from_utf8(out.stdout).unwrap();
    assert!(human.starts_with("OK") && human.contains("no expiry"), "{human}");
    // A code whose `exp` is present but null: refused, not taken as absent.
    let mut claims_null_exp = ciborium::de::from_reader::<Value, _>(&claims(Some(0), &entries)[..]).unwrap();
    if let Value::Map(m) = &mut claims_null_exp {
        m[2].1 = Value::Null;
    }
    let mut bytes = Vec::new();
    ciborium::ser::into_writer(&claims_null_exp, &mut bytes).unwrap();
    let out = run(true, &signer.hc1(&bytes));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((out.status.code(), answer["code"].as_str()), (Some(1), Some("SCHEMA_INVALID")), "{answer}");
    std::fs::remove_dir_all(&dir).unwrap();
}
