//! The production scan over the checked-in camera frames (testdata/frames/, made by `huren-frames`): on the
//! moderate set at least 95 % of the frames of every size and QR version read, and every text read verifies
//! against the set's trust file at its verification time. No timing here: bench-frames/ measures speed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use huren_keys::{TrustFile, TrustList};
use huren_verifier::scan::{load_gray, scan_within_budget, ImageLimits};
use huren_verifier::{verify, Policy};

fn frames_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/frames")
}

#[test]
fn moderate_frames_read_and_verify() {
    let dir = frames_dir();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let trust_file = TrustFile::decode(&std::fs::read(dir.join(manifest["trust_file"].as_str().unwrap())).unwrap());
    let trust = TrustList::from_trust_file(&trust_file.unwrap()).unwrap();
    let now = manifest["now"].as_i64().unwrap();
    // No time limit that a debug build could hit: this test is about what reads, not how fast.
    let limits = ImageLimits { time_budget: std::time::Duration::from_secs(120), ..ImageLimits::default() };
    let moderate: Vec<&serde_json::Value> =
        manifest["frames"].as_array().unwrap().iter().filter(|f| f["level"] == "moderate").collect();

    // Two workers (the scan itself is single-threaded).
    let outcomes: Vec<(&serde_json::Value, Vec<String>)> = std::thread::scope(|s| {
        let workers: Vec<_> = moderate
            .chunks(moderate.len().div_ceil(2))
            .map(|chunk| {
                s.spawn(|| {
                    chunk
                        .iter()
                        .map(|frame| {
                            let bytes = std::fs::read(dir.join(frame["file"].as_str().unwrap())).unwrap();
                            let img = load_gray(&bytes, &limits).unwrap();
                            (*frame, scan_within_budget(img, &limits).unwrap_or_default())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });

    // (width, height, version) -> (read, frames)
    let mut cells: BTreeMap<(u64, u64, u64), (usize, usize)> = BTreeMap::new();
    let mut missed = Vec::new();
    for (frame, texts) in outcomes {
        let file = frame["file"].as_str().unwrap();
        let expected = frame["text"].as_str().unwrap();
        let key =
            (frame["width"].as_u64().unwrap(), frame["height"].as_u64().unwrap(), frame["version"].as_u64().unwrap());
        for text in &texts {
            assert_eq!(text, expected, "{file} read as another text");
            let verified = verify(text, &trust, now, &Policy::default());
            assert!(verified.is_ok(), "{file}: the text read does not verify: {verified:?}");
        }
        let cell = cells.entry(key).or_default();
        cell.1 += 1;
        if texts.is_empty() {
            missed.push(file.to_string());
        } else {
            cell.0 += 1;
        }
    }
    assert_eq!(cells.len(), 6, "2 sizes x 3 versions: {cells:?}");
    for ((w, h, version), (read, total)) in &cells {
        assert!(total >= &15, "{w}x{h} v{version}: only {total} frames in the set");
        assert!(read * 100 >= total * 95, "{w}x{h} v{version}: {read}/{total} read (missed: {missed:?})");
    }
}
