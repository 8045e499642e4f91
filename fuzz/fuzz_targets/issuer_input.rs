//! The issuer's request input: a bulk body (NDJSON or CSV, the same JSON as `POST /v1/credentials`) split into
//! lines, each parsed into an issue request and, when it parses, issued by a real province (made once in a
//! temporary directory). Input byte 0: bit 0 picks the format (NDJSON, CSV), the other bits the size of the chunks
//! the body arrives in.
//!
//! Asserted: the lines do not depend on how the body was chunked; a parsed NDJSON request survives a JSON round
//! trip; whatever the issuer signs decodes back to what it signed and passes the verifier's signature, claims and
//! authorisation checks (only validity-time or presentation answers may refuse it).
#![no_main]

use std::sync::OnceLock;

use huren_issuer::bulk::{parse_line, Format, LineSplitter, RawLineError};
use huren_issuer::{IssueRequest, Province};
use huren_keys::TrustList;
use huren_verifier::{verify_cose, Policy, Stage};
use huren_wallet_core::Credential;
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_790_000_000;

fn province() -> &'static (Province, TrustList) {
    static PROVINCE: OnceLock<(Province, TrustList)> = OnceLock::new();
    PROVINCE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("huren-fuzz-issuer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let province = Province::init(&dir, "CN-GD", NOW - 60, &Default::default()).expect("province");
        let trust = huren_keys::dangerous::trust_list_from_unverified(vec![province.certificate().clone()]);
        (province, trust)
    })
}

fn lines(body: &[u8], chunk: usize) -> Vec<Result<String, RawLineError>> {
    let mut splitter = LineSplitter::default();
    let mut out: Vec<_> = body.chunks(chunk).flat_map(|piece| splitter.push(piece)).collect();
    out.extend(splitter.finish());
    out
}

fn issue(request: &IssueRequest) {
    let (province, trust) = province();
    let Ok(issued) = province.issue(request, NOW) else { return };
    let decoded = Credential::from_claims(&issued.credential.to_claims()).expect("issued claims decode");
    assert_eq!(decoded, issued.credential);
    if let Err(r) = verify_cose(&issued.cose, trust, NOW, &Policy::default()) {
        assert!(matches!(r.stage(), Stage::Validity | Stage::Policy), "issued, then {r:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let format = if selector & 1 == 0 { Format::Ndjson } else { Format::Csv };
    let chunk = usize::from(selector >> 1) + 1;
    let all = lines(body, chunk);
    assert_eq!(all, lines(body, body.len().max(1)), "chunking changed the lines");
    for line in all.into_iter().flatten() {
        let Ok(Some(request)) = parse_line(format, &line) else { continue };
        if format == Format::Ndjson {
            let json = serde_json::to_string(&request).expect("a request serialises");
            assert!(matches!(parse_line(format, &json), Ok(Some(r)) if r == request), "JSON round trip");
        }
        issue(&request);
    }
});
