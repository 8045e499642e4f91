//! # huren-tests — shared helpers for Huren's end-to-end tests and benchmarks
//!
//! [`fixtures`] builds a deterministic province in memory (fixed keys, so signatures are reproducible);
//! [`frames`] turns a rendered QR code into a camera-like frame (scaled, rotated, perspective, blurred, noisy,
//! low contrast, glare) to test and benchmark decoding from photos.
#![forbid(unsafe_code)]
// Test tooling: panicking on a broken fixture is the right failure, and pixel maths needs float casts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    clippy::cast_precision_loss,
    clippy::as_conversions
)]

pub mod fixtures;
pub mod frames;

/// The web engine (huren-web for wasm32, through wasm-bindgen) as scripts/build-web.sh builds it, built first
/// (once per test process; the script installs what it needs and rebuilds only what changed): returns target/web,
/// holding `pkg/` (for pages) and `node/` (for Node.js).
pub fn web_build() -> std::path::PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    BUILT.call_once(|| {
        let out = std::process::Command::new("bash").arg(root.join("scripts/build-web.sh")).output().unwrap();
        assert!(
            out.status.success(),
            "scripts/build-web.sh failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    });
    root.join("target/web")
}

/// The workspace binary `name` (`huren-issuer`, `huren-verifier`, `huren-keys`), built first so a test (or a
/// harness binary of this package) never runs a stale one: the binaries belong to other packages, so cargo does not
/// build them for this one.
pub fn workspace_binary(name: &str) -> std::path::PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    // Test executables live in target/<profile>/deps, this package's binaries in target/<profile>.
    let exe = std::env::current_exe().unwrap();
    let parent = exe.parent().unwrap();
    let profile_dir = if parent.ends_with("deps") { parent.parent().unwrap() } else { parent }.to_path_buf();
    BUILT.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut args = vec![
            "build",
            "--quiet",
            "-p",
            "huren-issuer",
            "-p",
            "huren-verifier",
            "-p",
            "huren-keys",
            "-p",
            "huren-wallet-core",
            "--bins",
        ];
        if profile_dir.ends_with("release") {
            args.push("--release");
        }
        let out = std::process::Command::new(cargo).args(args).output().unwrap();
        assert!(out.status.success(), "building the binaries failed: {}", String::from_utf8_lossy(&out.stderr));
    });
    profile_dir.join(name)
}
