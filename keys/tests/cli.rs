//! The `huren-keys` ceremonies through the real binary: a 3-member federation, its rotation, certificates,
//! bundles, assembly and inspection, and the refusals along the way (exit 2, no output file).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn keys(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_huren-keys")).current_dir(dir).args(args).output().unwrap()
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = keys(dir, args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn refused(dir: &Path, args: &[&str], needle: &str) {
    let out = keys(dir, args);
    assert_eq!(out.status.code(), Some(2), "{args:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(needle), "{args:?}: {err}");
}

fn setup(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("huren-keys-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for p in ["gd", "hb", "sh"] {
        ok(&dir, &["keygen", "--out", &format!("{p}/root")]);
    }
    ok(&dir, &["keygen", "--out", "gd/issuer"]);
    let members =
        ["--member", "CN-GD=gd/root.pub.der", "--member", "CN-HB=hb/root.pub.der", "--member", "CN-SH=sh/root.pub.der"];
    ok(&dir, &[&["propose", "--version", "1", "--threshold", "2", "--out", "v1.proposal"][..], &members].concat());
    for p in ["gd", "hb", "sh"] {
        ok(
            &dir,
            &[
                "sign",
                "--proposal",
                "v1.proposal",
                "--key",
                &format!("{p}/root.key.pem"),
                "--out",
                &format!("{p}.v1.sig"),
            ],
        );
    }
    dir
}

#[test]
fn a_whole_federation_from_commands() {
    let dir = setup("whole");
    refused(&dir, &["combine", "--proposal", "v1.proposal", "--sig", "gd.v1.sig", "--out", "weak.cose"], "1 of 2");
    refused(
        &dir,
        &["combine", "--proposal", "v1.proposal", "--sig", "gd.v1.sig", "--sig", "gd.v1.sig", "--out", "twice.cose"],
        "more than once",
    );
    assert!(!dir.join("weak.cose").exists() && !dir.join("twice.cose").exists());
    ok(&dir, &["combine", "--proposal", "v1.proposal", "--sig", "gd.v1.sig", "--sig", "sh.v1.sig", "--out", "v1.cose"]);
    assert!(ok(&dir, &["inspect", "v1.cose"]).contains("VERIFIED"));
    assert!(ok(&dir, &["inspect", "v1.proposal"]).contains("proposal"));

    ok(
        &dir,
        &[
            "certify",
            "--root-key",
            "gd/root.key.pem",
            "--province",
            "CN-GD",
            "--key",
            "gd/issuer.pub.der",
            "--types",
            "health-status,test-result",
            "--out",
            "gd/issuer.cert",
        ],
    );
    let report = ok(&dir, &["inspect", "gd/issuer.cert", "--root", "v1.cose"]);
    assert!(
        report.contains("VERIFIED, signed by the CN-GD root") && report.contains("health-status, test-result"),
        "{report}"
    );
    // Hubei's root cannot put Guangdong's certificate in its bundle, nor certify for Guangdong usefully.
    refused(
        &dir,
        &[
            "bundle",
            "--root-key",
            "hb/root.key.pem",
            "--province",
            "CN-HB",
            "--version",
            "1",
            "--cert",
            "gd/issuer.cert",
            "--out",
            "hb.bundle",
        ],
        "not a certificate signed by this root",
    );
    ok(
        &dir,
        &[
            "bundle",
            "--root-key",
            "gd/root.key.pem",
            "--province",
            "CN-GD",
            "--version",
            "1",
            "--cert",
            "gd/issuer.cert",
            "--status-list",
            "1=https://gd.example/1",
            "--out",
            "gd.bundle",
        ],
    );
    ok(
        &dir,
        &["bundle", "--root-key", "hb/root.key.pem", "--province", "CN-HB", "--version", "1", "--out", "hb.bundle"],
    );
    ok(
        &dir,
        &["assemble", "--root", "v1.cose", "--bundle", "gd.bundle", "--bundle", "hb.bundle", "--out", "trust.cbor"],
    );
    let report = ok(&dir, &["inspect", "trust.cbor"]);
    assert!(
        report.contains("VERIFIED") && report.contains("province CN-GD v1") && report.contains("status list 1"),
        "{report}"
    );
    let report = ok(&dir, &["inspect", "gd.bundle", "--root", "v1.cose"]);
    assert!(report.contains("province bundle: VERIFIED"), "{report}");
    // Ceremonies never overwrite a file.
    refused(&dir, &["keygen", "--out", "gd/root"], "");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rotation_needs_the_current_members() {
    let dir = setup("rotate");
    ok(&dir, &["combine", "--proposal", "v1.proposal", "--sig", "gd.v1.sig", "--sig", "hb.v1.sig", "--out", "v1.cose"]);
    // v2 drops Shanghai and adds Zhejiang, threshold 2.
    ok(&dir, &["keygen", "--out", "zj/root"]);
    let members =
        ["--member", "CN-GD=gd/root.pub.der", "--member", "CN-HB=hb/root.pub.der", "--member", "CN-ZJ=zj/root.pub.der"];
    ok(&dir, &[&["propose", "--version", "2", "--threshold", "2", "--out", "v2.proposal"][..], &members].concat());
    ok(&dir, &["sign", "--proposal", "v2.proposal", "--key", "zj/root.key.pem", "--out", "zj.v2.sig"]);
    ok(&dir, &["sign", "--proposal", "v2.proposal", "--key", "gd/root.key.pem", "--out", "gd.v2.sig"]);
    refused(
        &dir,
        &["sign", "--proposal", "v2.proposal", "--key", "sh/root.key.pem", "--out", "sh.v2.sig"],
        "not a root key",
    );
    // GD + ZJ are 2 of v2's members but only 1 of v1's: refused as a successor.
    refused(
        &dir,
        &[
            "combine",
            "--proposal",
            "v2.proposal",
            "--sig",
            "gd.v2.sig",
            "--sig",
            "zj.v2.sig",
            "--previous",
            "v1.cose",
            "--out",
            "v2.cose",
        ],
        "1 of 2",
    );
    ok(&dir, &["sign", "--proposal", "v2.proposal", "--key", "hb/root.key.pem", "--out", "hb.v2.sig"]);
    ok(
        &dir,
        &[
            "combine",
            "--proposal",
            "v2.proposal",
            "--sig",
            "gd.v2.sig",
            "--sig",
            "zj.v2.sig",
            "--sig",
            "hb.v2.sig",
            "--previous",
            "v1.cose",
            "--out",
            "v2.cose",
        ],
    );
    ok(&dir, &["assemble", "--root", "v1.cose", "--root", "v2.cose", "--out", "trust.cbor"]);
    assert!(ok(&dir, &["inspect", "trust.cbor"]).contains("chain to root v2"));
    assert!(ok(&dir, &["inspect", "trust.cbor", "--root", "v1.cose"]).contains("VERIFIED from the --root given"));
    assert!(ok(&dir, &["inspect", "v2.cose", "--root", "v1.cose"]).contains("VERIFIED as the successor"));
    assert!(ok(&dir, &["inspect", "zj.v2.sig"]).contains("member signature file"));
    // A trust bundle anchored on a root of strangers is not verified against the federation's root.
    for p in ["x1", "x2"] {
        ok(&dir, &["keygen", "--out", &format!("{p}/root")]);
    }
    let strangers = ["--member", "CN-XA=x1/root.pub.der", "--member", "CN-XB=x2/root.pub.der"];
    ok(&dir, &[&["propose", "--version", "1", "--threshold", "2", "--out", "x.proposal"][..], &strangers].concat());
    ok(&dir, &["sign", "--proposal", "x.proposal", "--key", "x1/root.key.pem", "--out", "x1.sig"]);
    ok(&dir, &["sign", "--proposal", "x.proposal", "--key", "x2/root.key.pem", "--out", "x2.sig"]);
    ok(&dir, &["combine", "--proposal", "x.proposal", "--sig", "x1.sig", "--sig", "x2.sig", "--out", "x.cose"]);
    ok(&dir, &["assemble", "--root", "x.cose", "--out", "x-trust.cbor"]);
    refused(&dir, &["inspect", "x-trust.cbor", "--root", "v1.cose"], "");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_key_id_is_read_only_in_its_canonical_spelling() {
    let dir = std::env::temp_dir().join(format!("huren-keys-cli-kid-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    ok(&dir, &["keygen", "--out", "gd/root"]);
    let bundle = |kid: &str, out: &str| {
        let revoke = format!("{kid}@2026-09-01T00:00:00Z");
        let args = ["bundle", "--root-key", "gd/root.key.pem", "--province", "CN-GD", "--version", "1"];
        [&args[..], &["--revoke", &revoke, "--out", out]].concat().iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |args: Vec<String>| keys(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(run(bundle("0a00000000000000", "ok.bundle")).status.success());
    // `+a` is what `u8::from_str_radix` reads as 0x0a: the same key id spelt another way, refused.
    for (i, kid) in ["+a00000000000000", "0A00000000000000", " a00000000000000", "0a0000000000000", "0a0000000000000é"]
        .into_iter()
        .enumerate()
    {
        let out = format!("bad-{i}.bundle");
        let answer = run(bundle(kid, &out));
        assert_eq!(answer.status.code(), Some(2), "{kid:?} accepted");
        assert!(String::from_utf8_lossy(&answer.stderr).contains("is not a key id"), "{kid:?}");
        assert!(!dir.join(&out).exists(), "{kid:?}: nothing written");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
