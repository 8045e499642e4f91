//! `huren-bench-frames`: QR decoders side by side on the camera-frame set of testdata/frames/ (issue 7).
//!
//! For each decoder (rqrr, quircs and rxing as they come, each on the plain greyscale frame; and Huren's own scan,
//! `huren_verifier::scan::scan_gray`) and each cell of the set (frame size x QR version x level): how many frames
//! gave the expected text, and the median over the frames of the time per frame (the best of RUNS runs, 3 by
//! default; failures included: a failed frame costs what it costs).
//! For Huren's scan also decode + verify, and a bare Ed25519 `verify_strict` measured in the same run (the
//! yardstick). One thread; run it pinned:
//!
//! ```sh
//! cargo build --release --manifest-path bench-frames/Cargo.toml
//! taskset -c 0 bench-frames/target/release/huren-bench-frames testdata/frames
//! ```
//!
//! Environment: `RUNS` (runs per frame, best kept; 3), `ONLY` (comma-separated decoder names), `PERFRAME=1`
//! (Huren's time for each frame), `DIAG=1` (per-frame detail on the moderate set, no table).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use huren_verifier::{scan, verify, Policy};
use image::GrayImage;

struct Frame {
    file: String,
    width: u32,
    version: u64,
    level: String,
    text: String,
    image: GrayImage,
}

type Decoder = fn(&GrayImage) -> Vec<String>;

fn rqrr_decode(img: &GrayImage) -> Vec<String> {
    let (w, h, raw) = (img.width() as usize, img.height() as usize, img.as_raw());
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| raw[y * w + x]);
    prepared.detect_grids().into_iter().filter_map(|g| g.decode().ok().map(|(_, text)| text)).collect()
}

fn quircs_decode(img: &GrayImage) -> Vec<String> {
    let mut decoder = quircs::Quirc::default();
    let (w, h) = (img.width() as usize, img.height() as usize);
    decoder
        .identify(w, h, img.as_raw())
        .filter_map(|code| code.ok()?.decode().ok())
        .filter_map(|data| String::from_utf8(data.payload).ok())
        .collect()
}

fn rxing_decode(img: &GrayImage) -> Vec<String> {
    rxing_with(img, false)
}

/// rxing asked to also try the inverted image (dark-mode screens).
fn rxing_inverted(img: &GrayImage) -> Vec<String> {
    rxing_with(img, true)
}

fn rxing_with(img: &GrayImage, also_inverted: bool) -> Vec<String> {
    use rxing::Reader;
    let source = rxing::Luma8LuminanceSource::new(img.as_raw().clone(), img.width(), img.height());
    let mut bitmap = rxing::BinaryBitmap::new(rxing::common::HybridBinarizer::new(source));
    let hints = rxing::DecodeHints { TryHarder: Some(true), AlsoInverted: Some(also_inverted), ..Default::default() };
    let hints =
        rxing::DecodeHints { PossibleFormats: Some([rxing::BarcodeFormat::QR_CODE].into_iter().collect()), ..hints };
    // The multi-format reader (restricted to QR) is the one that honours AlsoInverted.
    let mut reader = rxing::MultiFormatReader::default();
    reader.decode_with_hints(&mut bitmap, &hints).map(|r| vec![r.getText().to_string()]).unwrap_or_default()
}

/// quircs on Huren's locally binarised image (what the scan tries first).
fn quircs_adaptive(img: &GrayImage) -> Vec<String> {
    scan::stages::quircs_pass(&scan::stages::adaptive_binarise(img))
}

fn huren_scan(img: &GrayImage) -> Vec<String> {
    scan::scan_gray(img)
}

/// Time one call: the best of `runs` runs (the development VM is shared: the best run is the one least disturbed).
fn time_once(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort_unstable();
    times[0]
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    if v.is_empty() {
        return Duration::ZERO;
    }
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "testdata/frames".into()));
    let runs: usize = std::env::var("RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
    let only: Option<String> = std::env::var("ONLY").ok();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).expect("manifest.json")).unwrap();
    let trust_file = huren_keys::TrustFile::decode(
        &std::fs::read(dir.join(manifest["trust_file"].as_str().unwrap())).expect("trust file"),
    )
    .unwrap();
    let trust = huren_keys::TrustList::from_trust_file(&trust_file).unwrap();
    let now = manifest["now"].as_i64().unwrap();
    let policy = Policy::default();

    let frames: Vec<Frame> = manifest["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let file = f["file"].as_str().unwrap().to_string();
            let image = image::open(dir.join(&file)).unwrap().into_luma8();
            Frame {
                width: f["width"].as_u64().unwrap() as u32,
                version: f["version"].as_u64().unwrap(),
                level: f["level"].as_str().unwrap().to_string(),
                text: f["text"].as_str().unwrap().to_string(),
                file,
                image,
            }
        })
        .collect();

    // The yardstick: a bare Ed25519 verify_strict of a 170-byte message (a credential's Sig_structure is ~170).
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let message = [0x5au8; 170];
    let signature = ed25519_dalek::Signer::sign(&key, &message);
    let vk = key.verifying_key();
    let yardstick = median(
        (0..31)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..1000 {
                    black_box(vk.verify_strict(black_box(&message), black_box(&signature))).unwrap();
                }
                start.elapsed() / 1000
            })
            .collect(),
    );

    // DIAG=1: for each moderate frame, which single passes read it, the polarity counts and two timings.
    if std::env::var("DIAG").is_ok() {
        for (f, m) in frames.iter().zip(manifest["frames"].as_array().unwrap()) {
            if f.level != "moderate" {
                continue;
            }
            let binary = scan::stages::adaptive_binarise(&f.image);
            let mut inverted = binary.clone();
            image::imageops::invert(&mut inverted);
            let t = Instant::now();
            let (pd, pl) = scan::stages::finder_like_runs(&binary);
            print!("polarity {pd}/{pl} ");
            let a = scan::stages::quircs_pass(&binary).contains(&f.text);
            let ta = t.elapsed();
            let b = scan::stages::quircs_pass(&inverted).contains(&f.text);
            let c = quircs_decode(&f.image).contains(&f.text);
            let d = scan::stages::detect(&binary).contains(&f.text);
            let e = scan::stages::detect(&f.image).contains(&f.text);
            let t = Instant::now();
            black_box(scan::stages::adaptive_binarise(&f.image));
            let tb = t.elapsed();
            println!(
                "{} inv={} ppm={} angle={} | q-adapt {a} q-inv {b} q-plain {c} rqrr-bin {d} rqrr {e} | binarise {} ms, quircs {} ms",
                f.file, m["inverted"], m["pixels_per_module"], m["angle_deg"], ms(tb), ms(ta)
            );
        }
        return;
    }
    // The pipeline from QR text alone, for the first frame's credential (what a frame adds is the scan).
    let text_only = median(
        (0..31)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..1000 {
                    black_box(verify(black_box(&frames[0].text), &trust, now, &policy)).unwrap();
                }
                start.elapsed() / 1000
            })
            .collect(),
    );

    let decoders: Vec<(&str, Decoder)> = vec![
        ("rqrr", rqrr_decode),
        ("quircs", quircs_decode),
        ("rxing", rxing_decode),
        ("rxing+inverted", rxing_inverted),
        ("quircs+adaptive", quircs_adaptive),
        ("huren scan", huren_scan),
    ];
    // (decoder, size, version, level) -> (ok, n, times)
    type Cell = (u32, u64, String);
    let mut results: BTreeMap<(usize, Cell), (usize, usize, Vec<Duration>)> = BTreeMap::new();
    let mut verify_times: BTreeMap<Cell, Vec<Duration>> = BTreeMap::new();
    let mut failures: Vec<String> = Vec::new();
    for (di, (name, decode)) in decoders.iter().enumerate() {
        if only.as_deref().is_some_and(|o| !o.split(',').any(|o| o == *name)) {
            continue;
        }
        for f in &frames {
            let ok = decode(&f.image).contains(&f.text);
            let t = time_once(runs, || {
                black_box(decode(black_box(&f.image)));
            });
            let entry = results.entry((di, (f.width, f.version, f.level.clone()))).or_default();
            entry.0 += usize::from(ok);
            entry.1 += 1;
            entry.2.push(t);
            if *name == "huren scan" {
                if !ok {
                    failures.push(f.file.clone());
                }
                let t = time_once(runs, || {
                    let texts = scan::scan_gray(black_box(&f.image));
                    if let Some(text) = texts.first() {
                        black_box(verify(text, &trust, now, &policy)).ok();
                    }
                });
                if std::env::var("PERFRAME").is_ok() {
                    println!("{} {ok} {}", f.file, ms(t));
                }
                if ok {
                    verify_times.entry((f.width, f.version, f.level.clone())).or_default().push(t);
                }
            }
        }
    }

    println!("Ed25519 verify_strict (yardstick): {:.2} µs", yardstick.as_secs_f64() * 1e6);
    println!(
        "verify from QR text (no image): {:.2} µs ({:.2}x)",
        text_only.as_secs_f64() * 1e6,
        text_only.as_secs_f64() / yardstick.as_secs_f64()
    );
    println!();
    let shown: Vec<(usize, &str)> = decoders
        .iter()
        .enumerate()
        .filter(|(di, _)| results.keys().any(|(d, _)| d == di))
        .map(|(di, (name, _))| (di, *name))
        .collect();
    let mut header = String::from("| frames | version | level |");
    let mut rule = String::from("|---|---|---|");
    for (_, name) in &shown {
        header.push_str(&format!(" {name}: decoded | {name}: median ms |"));
        rule.push_str("---|---|");
    }
    header.push_str(" huren scan + verify: median ms | ratio to Ed25519 |");
    rule.push_str("---|---|");
    println!("{header}\n{rule}");
    let cells: Vec<Cell> = {
        let mut c: Vec<Cell> = results.keys().map(|(_, cell)| cell.clone()).collect();
        c.sort_by(|a, b| (b.2.as_str(), a.0, a.1).cmp(&(a.2.as_str(), b.0, b.1)));
        c.dedup();
        c
    };
    for cell in &cells {
        let height = if cell.0 == 640 { 480 } else { 720 };
        let mut row = format!("| {}x{} | {} | {} |", cell.0, height, cell.1, cell.2);
        for (di, _) in &shown {
            let (ok, n, times) = &results[&(*di, cell.clone())];
            row.push_str(&format!(" {ok}/{n} | {} |", ms(median(times.clone()))));
        }
        match verify_times.get(cell) {
            Some(v) => {
                let m = median(v.clone());
                row.push_str(&format!(" {} | {:.0}x |", ms(m), m.as_secs_f64() / yardstick.as_secs_f64()));
            }
            None => row.push_str(" - | - |"),
        }
        println!("{row}");
    }
    if !failures.is_empty() {
        println!("\nhuren scan missed: {}", failures.join(" "));
    }
}
