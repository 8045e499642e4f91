//! `huren-verifier verify` in batch mode: a directory of QR images (at any depth) and an NDJSON file of QR texts,
//! one JSON line per code, then a summary with counts per code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use huren_tests::workspace_binary;

#[test]
fn directories_of_images_and_ndjson_files_are_verified_with_a_summary() {
    let dir = std::env::temp_dir().join(format!("huren-batch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("images/nested")).unwrap();
    let gd = dir.join("gd");
    let run = |args: &[&str]| Command::new(workspace_binary("huren-issuer")).args(args).output().unwrap();
    let out = run(&["init", "--province", "CN-GD", "--dir", gd.to_str().unwrap(), "--at", "2026-09-21T00:00:00Z"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut texts = Vec::new();
    for (i, png) in ["images/a.png", "images/nested/b.png"].iter().enumerate() {
        let png = dir.join(png);
        let name = format!("批量{i}");
        let out = run(&[
            "issue",
            "--dir",
            gd.to_str().unwrap(),
            "--name",
            &name,
            "--id",
            "4201**********0011",
            "--at",
            "2026-09-21T08:00:00Z",
            "--png",
            png.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        texts.push(String::from_utf8(out.stdout).unwrap().trim().to_string());
    }
    std::fs::write(dir.join("images/notes.txt"), "not an image: ignored in a directory").unwrap();
    std::fs::write(dir.join("images/broken.png"), b"\x89PNG\r\n\x1a\n truncated").unwrap();
    let ndjson = dir.join("codes.ndjson");
    let lines = [
        serde_json::json!(texts[0]).to_string(),
        serde_json::json!({ "text": texts[1] }).to_string(),
        String::new(),
        "{\"text\": \"HR1:garbage\"}".to_string(),
    ];
    std::fs::write(&ndjson, lines.join("\n")).unwrap();

    let out = Command::new(workspace_binary("huren-verifier"))
        .args(["verify", "--json", "--at", "2026-09-22T08:00:00Z", "--trust"])
        .arg(gd.join("trust.cbor"))
        .arg(dir.join("images"))
        .arg(&ndjson)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "one code is broken: {}", String::from_utf8_lossy(&out.stderr));
    let answers: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let codes: Vec<&str> = answers[..answers.len() - 1].iter().map(|a| a["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["OK", "QR_UNREADABLE", "OK", "OK", "OK", "BASE45_INVALID"], "{answers:#?}");
    assert!(answers[0]["input"].as_str().unwrap().ends_with("images/a.png"));
    assert!(answers[5]["input"].as_str().unwrap().ends_with("codes.ndjson:4"));
    let summary = &answers[answers.len() - 1]["summary"];
    assert_eq!((summary["total"].as_u64(), summary["valid"].as_u64()), (Some(6), Some(4)), "{summary}");
    assert_eq!(summary["by_code"]["QR_UNREADABLE"], 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
