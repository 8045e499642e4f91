//! Every input gets exactly one answer, its own (issue 15, item 1): an image that holds several codes answers once,
//! for its best code, with `codes_found`, and none of its other codes' answers ever lands on the next input. Checked
//! for the CLI's arguments, standard input, directories of images and NDJSON files, the kiosk's API and camera
//! path, and `Checkpoint::answer_inputs` (a property test over random mixes of inputs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use axum::body::Body as HttpBody;
use axum::http::{header, Request};
use huren_tests::fixtures::{health_status, TestProvince, DAY, T0};
use huren_tests::workspace_binary;
use huren_verifier::checkpoint::{Checkpoint, InputCodes, TrustSource};
use huren_verifier::kiosk::{app, Kiosk};
use huren_verifier::Rejection;
use huren_wallet_core::{Ecc, QrSymbol};
use image::GrayImage;
use proptest::prelude::*;
use tower::ServiceExt;

/// Verification time: the two people's codes are valid, the short one has expired.
const NOW: i64 = T0 + 2 * DAY;
const GARBAGE: &str = "HR1:GARBAGE";

/// Codes of one province: two people's valid codes, a third valid one and an expired one.
struct Codes {
    alice: String,
    bob: String,
    carol: String,
    expired: String,
}

fn codes(gd: &TestProvince) -> Codes {
    let person = |name: &str, id: u8, days: i64| {
        let mut c = health_status("CN-GD");
        c.subject.name = name.into();
        c.id = vec![id; 8];
        c.expires_at = T0 + days * DAY;
        gd.qr_text(&c)
    };
    Codes {
        alice: person("张三丰", 1, 7),
        bob: person("李小龙", 2, 7),
        carol: person("王五六", 3, 7),
        expired: person("赵六", 4, 1),
    }
}

/// One image holding each text's QR code, side by side.
fn image_of(texts: &[&str]) -> GrayImage {
    let symbols: Vec<GrayImage> = texts.iter().map(|t| QrSymbol::new(t, Ecc::M).unwrap().to_image(4)).collect();
    let width = symbols.iter().map(GrayImage::width).sum::<u32>() + 40 * u32::try_from(symbols.len()).unwrap();
    let height = symbols.iter().map(GrayImage::height).max().unwrap() + 40;
    let mut image = GrayImage::from_pixel(width, height, image::Luma([255]));
    let mut x = 20;
    for symbol in &symbols {
        image::imageops::overlay(&mut image, symbol, i64::from(x), 20);
        x += symbol.width() + 40;
    }
    image
}

fn png_of(texts: &[&str]) -> Vec<u8> {
    let mut bytes = Vec::new();
    image_of(texts).write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    bytes
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("huren-one-answer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The province's trust file on disk, for the CLI.
fn trust_file(gd: &TestProvince, dir: &Path) -> PathBuf {
    gd.adopt_issuer(&dir.join("issuer"));
    dir.join("issuer/p/trust.cbor")
}

/// Run `huren-verifier verify --json` at NOW; the answers (summary line excluded) and the exit status.
fn verify(trust: &Path, args: &[&str], stdin: Option<&[u8]>) -> (Vec<serde_json::Value>, Option<i32>) {
    let mut child = Command::new(workspace_binary("huren-verifier"))
        .args(["verify", "--json", "--at", "2026-09-23T14:13:20Z", "--trust"])
        .arg(trust)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(bytes) = stdin {
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let answers: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|a: &serde_json::Value| a.get("summary").is_none())
        .collect();
    (answers, out.status.code())
}

fn summary(answers: &[serde_json::Value]) -> Vec<(String, String, Option<String>, u64)> {
    answers
        .iter()
        .map(|a| {
            (
                // Files by their name; QR texts (base45 holds '/') as they are.
                match a["input"].as_str().unwrap() {
                    path if path.starts_with('/') => path.rsplit('/').next().unwrap().to_string(),
                    text => text.to_string(),
                },
                a["code"].as_str().unwrap().to_string(),
                a["credential"]["subject"]["name"].as_str().map(str::to_string),
                a["codes_found"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn row(input: &str, code: &str, name: Option<&str>, found: u64) -> (String, String, Option<String>, u64) {
    (input.to_string(), code.to_string(), name.map(str::to_string), found)
}

#[test]
fn a_multi_code_image_answers_once_in_every_cli_mode() {
    let gd = TestProvince::guangdong();
    let c = codes(&gd);
    let dir = scratch("cli");
    let trust = trust_file(&gd, &dir);
    let two = dir.join("two.png");
    std::fs::write(&two, png_of(&[&c.alice, &c.bob])).unwrap();
    let another = dir.join("another.png");
    std::fs::write(&another, png_of(&[&c.carol])).unwrap();
    let two_arg = two.to_str().unwrap();

    // Arguments: the multi-code image, then garbage, an expired code, another image.
    let (answers, status) = verify(&trust, &[two_arg, GARBAGE], None);
    assert_eq!(
        summary(&answers),
        [row("two.png", "OK", Some("张三丰"), 2), row(GARBAGE, "BASE45_INVALID", None, 1)],
        "{answers:#?}"
    );
    assert_eq!(status, Some(1), "the garbage is refused, so the run is not all valid");
    assert!(answers[0]["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("2 codes")));
    let (answers, status) = verify(&trust, &[two_arg, &c.expired], None);
    assert_eq!(summary(&answers)[1], row(&c.expired, "EXPIRED", None, 1), "{answers:#?}");
    assert_eq!(status, Some(1));
    let (answers, status) = verify(&trust, &[two_arg, another.to_str().unwrap()], None);
    assert_eq!(
        summary(&answers),
        [row("two.png", "OK", Some("张三丰"), 2), row("another.png", "OK", Some("王五六"), 1)],
        "{answers:#?}"
    );
    assert_eq!(status, Some(0));
    let (answers, status) = verify(&trust, &[GARBAGE, two_arg], None);
    assert_eq!(summary(&answers)[0], row(GARBAGE, "BASE45_INVALID", None, 1));
    assert_eq!(status, Some(1));

    // Standard input: the multi-code image on stdin, then garbage; and several lines of text on stdin.
    let (answers, status) = verify(&trust, &["-", GARBAGE], Some(&png_of(&[&c.alice, &c.bob])));
    assert_eq!(summary(&answers), [row("-", "OK", Some("张三丰"), 2), row(GARBAGE, "BASE45_INVALID", None, 1)]);
    assert_eq!(status, Some(1));
    let lines = format!("{}\n{GARBAGE}\n{}\n", c.alice, c.expired);
    let (answers, status) = verify(&trust, &["-"], Some(lines.as_bytes()));
    assert_eq!(
        summary(&answers),
        [row("-:1", "OK", Some("张三丰"), 1), row("-:2", "BASE45_INVALID", None, 1), row("-:3", "EXPIRED", None, 1)]
    );
    assert_eq!(status, Some(1));

    // A directory: the multi-code image first, then an image of garbage, of an expired code, of another person.
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::write(images.join("a-two.png"), png_of(&[&c.alice, &c.bob])).unwrap();
    std::fs::write(images.join("b-garbage.png"), png_of(&[GARBAGE])).unwrap();
    std::fs::write(images.join("c-expired.png"), png_of(&[&c.expired])).unwrap();
    std::fs::write(images.join("d-carol.png"), png_of(&[&c.carol])).unwrap();
    let (answers, status) = verify(&trust, &[images.to_str().unwrap()], None);
    assert_eq!(
        summary(&answers),
        [
            row("a-two.png", "OK", Some("张三丰"), 2),
            row("b-garbage.png", "BASE45_INVALID", None, 1),
            row("c-expired.png", "EXPIRED", None, 1),
            row("d-carol.png", "OK", Some("王五六"), 1),
        ],
        "{answers:#?}"
    );
    assert_eq!(status, Some(1));

    // An NDJSON file after a directory whose only image holds two codes.
    let single = dir.join("single");
    std::fs::create_dir_all(&single).unwrap();
    std::fs::write(single.join("two.png"), png_of(&[&c.alice, &c.bob])).unwrap();
    let ndjson = dir.join("codes.ndjson");
    std::fs::write(
        &ndjson,
        format!("{}\n{}\n{}\n", serde_json::json!(GARBAGE), serde_json::json!(c.expired), serde_json::json!(c.carol)),
    )
    .unwrap();
    let (answers, status) = verify(&trust, &[single.to_str().unwrap(), ndjson.to_str().unwrap()], None);
    assert_eq!(
        summary(&answers),
        [
            row("two.png", "OK", Some("张三丰"), 2),
            row("codes.ndjson:1", "BASE45_INVALID", None, 1),
            row("codes.ndjson:2", "EXPIRED", None, 1),
            row("codes.ndjson:3", "OK", Some("王五六"), 1),
        ],
        "{answers:#?}"
    );
    assert_eq!(status, Some(1));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn kiosk(gd: TestProvince) -> Arc<Kiosk> {
    let loader = Box::new(move || {
        Ok(Checkpoint {
            trust: TrustSource::List(gd.trust()),
            dcc: Default::default(),
            policy: Default::default(),
            freshness: Default::default(),
        })
    });
    Arc::new(Kiosk::new(loader, Vec::new()).unwrap().starting_at(NOW))
}

async fn post(kiosk: &Arc<Kiosk>, uri: &str, content_type: &str, body: Vec<u8>) -> serde_json::Value {
    let request = Request::post(uri).header(header::CONTENT_TYPE, content_type).body(HttpBody::from(body)).unwrap();
    let response = app(Arc::clone(kiosk)).oneshot(request).await.unwrap();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn the_kiosk_answers_a_multi_code_image_once_and_says_so() {
    let gd = TestProvince::guangdong();
    let c = codes(&gd);
    let kiosk = kiosk(gd);
    let two = post(&kiosk, "/api/verify", "image/png", png_of(&[&c.expired, &c.alice])).await;
    assert_eq!((two["code"].as_str(), two["codes_found"].as_u64()), (Some("OK"), Some(2)), "{two:#}");
    assert_eq!(two["person"]["name"], "张三丰", "the valid code of the two is the answer");
    assert_eq!(two["verdict"], "amber", "several codes in one image: look again");
    assert!(two["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("2 codes")), "{two:#}");
    let garbage = post(&kiosk, "/api/verify", "text/plain", GARBAGE.as_bytes().to_vec()).await;
    assert_eq!((garbage["code"].as_str(), garbage["verdict"].as_str()), (Some("BASE45_INVALID"), Some("red")));
    let single = post(&kiosk, "/api/verify", "image/png", png_of(&[&c.carol])).await;
    assert_eq!((single["person"]["name"].as_str(), single["codes_found"].as_u64()), (Some("王五六"), Some(1)));
    assert_eq!(single["verdict"], "green");
    let both_bad = post(&kiosk, "/api/verify", "image/png", png_of(&[&c.expired, GARBAGE])).await;
    assert_eq!((both_bad["code"].as_str(), both_bad["verdict"].as_str()), (Some("EXPIRED"), Some("red")));

    // The camera path: a frame with two codes, then a frame with one.
    let frame = |texts: &[&str]| {
        let image = image_of(texts);
        let mut frame = GrayImage::from_pixel(1280, 720, image::Luma([200]));
        image::imageops::overlay(&mut frame, &image, 20, 20);
        frame
    };
    let two = frame(&[&c.bob, &c.alice]);
    let answer = post(&kiosk, "/api/frame?width=1280&height=720", "application/octet-stream", two.into_raw()).await;
    assert_eq!((answer["codes_found"].as_u64(), answer["verdict"].as_str()), (Some(2), Some("amber")), "{answer:#}");
    let one = frame(&[GARBAGE]);
    let answer = post(&kiosk, "/api/frame?width=1280&height=720", "application/octet-stream", one.into_raw()).await;
    assert_eq!((answer["code"].as_str(), answer["codes_found"].as_u64()), (Some("BASE45_INVALID"), Some(1)));
}

/// One input of the property test: an unreadable input, or the codes an image holds.
#[derive(Debug, Clone)]
enum Input {
    Unreadable,
    Codes(Vec<usize>),
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// However inputs mix single codes, multi-code images, garbage, expired codes and unreadable inputs, the
    /// number of answers equals the number of inputs, each answer is for one of its own input's codes, and it is
    /// exactly the answer that code gets on its own.
    #[test]
    fn every_input_gets_exactly_its_own_answer(
        inputs in proptest::collection::vec(
            prop_oneof![
                1 => Just(Input::Unreadable),
                6 => proptest::collection::vec(0usize..5, 0..4).prop_map(Input::Codes),
            ],
            0..12,
        )
    ) {
        let gd = TestProvince::guangdong();
        let c = codes(&gd);
        let pool = [c.alice.clone(), c.bob.clone(), c.carol.clone(), c.expired.clone(), GARBAGE.to_string()];
        let checkpoint = Checkpoint {
            trust: TrustSource::List(gd.trust()),
            dcc: Default::default(),
            policy: Default::default(),
            freshness: Default::default(),
        };
        let given: Vec<InputCodes> = inputs
            .iter()
            .map(|input| match input {
                Input::Unreadable => Err(Rejection::QrUnreadable { reason: "unreadable".into() }),
                Input::Codes(picks) => Ok(picks.iter().map(|&i| pool[i].clone()).collect()),
            })
            .collect();
        let answers = checkpoint.answer_inputs(&given, NOW);
        prop_assert_eq!(answers.len(), given.len());
        for (codes, answer) in given.iter().zip(&answers) {
            match codes {
                Ok(codes) if !codes.is_empty() => {
                    let text = answer.text.as_ref().expect("an input with codes answers for one of them");
                    prop_assert!(codes.contains(text), "the answer is for a code of its own input");
                    prop_assert_eq!(answer.codes_found, codes.len());
                    let alone = checkpoint.verify(text, NOW);
                    prop_assert_eq!(alone.is_ok(), answer.outcome.is_ok());
                    if let (Ok(alone), Ok(batched)) = (&alone, &answer.outcome) {
                        prop_assert_eq!(format!("{alone:?}"), format!("{batched:?}"));
                    }
                    let any_valid = codes.iter().any(|t| checkpoint.verify(t, NOW).is_ok());
                    prop_assert_eq!(answer.outcome.is_ok(), any_valid, "valid exactly when one of its own codes is");
                }
                _ => prop_assert!(answer.text.is_none() && answer.outcome.is_err()),
            }
        }
    }
}
