//! The kiosk in a real headless Chromium with a fake camera: the test renders a credential's QR code into a Y4M
//! video, Chromium plays it as the camera, the page sends its frames to `huren-verifier serve`, and the test
//! waits (over WebDriver, with Debian's chromedriver) for the page to turn green for a valid code and red, with
//! the right reason, for an expired one; the paste box gets a broken code and turns red with its own reason, and
//! the upload button a valid code's image, which turns the page green while the camera still shows the expired one.
//! Screenshots are saved in `target/kiosk-screenshots/` for a person to look at.
//!
//! Needs `chromium` and `chromium-driver` (Debian packages; `.ci/run` installs them when missing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use huren_tests::workspace_binary;
use huren_wallet_core::{Ecc, QrSymbol};
use image::GrayImage;
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Kills the child when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A 640x480 4:2:0 Y4M video of `frames` copies of a grey frame (Chromium loops it).
fn write_y4m(path: &Path, frame: &GrayImage, frames: usize) {
    assert_eq!(frame.dimensions(), (640, 480));
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(b"YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg\n").unwrap();
    let chroma = vec![128u8; 320 * 240];
    for _ in 0..frames {
        out.write_all(b"FRAME\n").unwrap();
        out.write_all(frame.as_raw()).unwrap();
        out.write_all(&chroma).unwrap();
        out.write_all(&chroma).unwrap();
    }
    out.flush().unwrap();
}

/// The code held up to the camera: a phone screen in the middle of a grey scene.
fn camera_scene(text: &str) -> GrayImage {
    let qr = QrSymbol::new(text, Ecc::Q).unwrap().to_image(4);
    assert!(qr.width() <= 460, "the code must fit the frame: {} px", qr.width());
    let mut scene = GrayImage::from_fn(640, 480, |x, y| image::Luma([90 + u8::try_from((x + y) % 40).unwrap()]));
    let (x, y) = ((640 - qr.width()) / 2, (480 - qr.height()) / 2);
    image::imageops::overlay(&mut scene, &qr, i64::from(x), i64::from(y));
    scene
}

struct WebDriver {
    http: reqwest::blocking::Client,
    base: String,
}

impl WebDriver {
    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response: Value = serde_json::from_slice(&request.send().unwrap().bytes().unwrap()).unwrap();
        assert!(response["value"].get("error").is_none(), "WebDriver {path}: {response}");
        response["value"].clone()
    }

    /// A fresh headless Chromium whose camera plays `video`.
    fn session(&self, video: &Path, profile: &Path) -> String {
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--window-size=1280,800".into(),
            format!("--user-data-dir={}", profile.display()),
            "--use-fake-ui-for-media-stream".into(),
            "--use-fake-device-for-media-stream".into(),
            format!("--use-file-for-fake-video-capture={}", video.display()),
        ];
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        }}});
        let value = self.call(reqwest::Method::POST, "/session", Some(capabilities));
        value["sessionId"].as_str().unwrap().to_string()
    }

    fn script(&self, session: &str, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            &format!("/session/{session}/execute/sync"),
            Some(json!({ "script": script, "args": [] })),
        )
    }

    /// Wait until the verdict panel leaves `idle` (or shows `want`), and return its state, code and text.
    fn wait_for_verdict(&self, session: &str, not: &str) -> (String, String, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.script(
                session,
                "const v = document.getElementById('verdict'); \
                 return [v.dataset.state, v.dataset.code || '', v.innerText, \
                         document.getElementById('camera-state').textContent];",
            );
            let state = v[0].as_str().unwrap().to_string();
            if state != "idle" && state != not {
                return (state, v[1].as_str().unwrap().to_string(), v[2].as_str().unwrap().to_string());
            }
            assert!(Instant::now() < deadline, "the page never answered; camera state: {}", v[3]);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&self, session: &str, path: &Path) {
        use base64ct::{Base64, Encoding};
        let png = self.call(reqwest::Method::GET, &format!("/session/{session}/screenshot"), None);
        std::fs::write(path, Base64::decode_vec(png.as_str().unwrap()).unwrap()).unwrap();
    }

    /// Choose `file` in the page's file input `#id`, as a person picking it would.
    fn upload(&self, session: &str, id: &str, file: &Path) {
        let element = self.call(
            reqwest::Method::POST,
            &format!("/session/{session}/element"),
            Some(json!({ "using": "css selector", "value": format!("#{id}") })),
        );
        let element_id = element.as_object().unwrap().values().next().unwrap().as_str().unwrap().to_string();
        self.call(
            reqwest::Method::POST,
            &format!("/session/{session}/element/{element_id}/value"),
            Some(json!({ "text": file.display().to_string() })),
        );
    }

    fn close(&self, session: &str) {
        self.call(reqwest::Method::DELETE, &format!("/session/{session}"), None);
    }
}

fn screenshot_dir() -> PathBuf {
    // Test executables live in target/<profile>/deps.
    let exe = std::env::current_exe().unwrap();
    let dir = exe.ancestors().nth(3).unwrap().join("kiosk-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_kiosk_turns_green_for_a_valid_code_and_red_for_an_expired_one_in_chromium() {
    for tool in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: apt-get install -y chromium chromium-driver (.ci/run does this)"
        );
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("huren-kiosk-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    // A province and two codes: one valid at the kiosk's time, one expired an hour after issue.
    let gd = dir.join("gd");
    let issuer = |args: &[&str]| {
        let out = Command::new(workspace_binary("huren-issuer")).args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    issuer(&["init", "--province", "CN-GD", "--dir", gd.to_str().unwrap(), "--at", "2026-09-21T00:00:00Z"]);
    let issue = |name: &str, hours: &str| {
        issuer(&[
            "issue",
            "--dir",
            gd.to_str().unwrap(),
            "--name",
            name,
            "--id",
            "4401**********0042",
            "--valid-hours",
            hours,
            "--at",
            "2026-09-21T08:00:00Z",
        ])
    };
    let valid = issue("李四", "168");
    let expired = issue("王五", "1");

    // The kiosk, on a free port, its clock a day after issue.
    let port = free_port();
    let mut kiosk = Command::new(workspace_binary("huren-verifier"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--at", "2026-09-22T08:00:00Z", "--trust"])
        .arg(gd.join("trust.cbor"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    BufReader::new(kiosk.stdout.take().unwrap()).read_line(&mut banner).unwrap();
    let _kiosk = Running(kiosk);
    assert!(banner.contains(&format!("http://127.0.0.1:{port}/")), "{banner}");
    let url = format!("http://127.0.0.1:{port}/");

    let driver_port = free_port();
    let _driver = Running(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let driver = WebDriver {
        http: reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap(),
        base: format!("http://127.0.0.1:{driver_port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while driver.http.get(format!("{}/status", driver.base)).send().is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }

    let shots = screenshot_dir();
    let cases = [("valid", &valid, "green", "OK", "李四"), ("expired", &expired, "red", "EXPIRED", "已过期")];
    for (name, text, verdict, code, shown) in cases {
        let video = dir.join(format!("{name}.y4m"));
        write_y4m(&video, &camera_scene(text), 2);
        let session = driver.session(&video, &dir.join(format!("profile-{name}")));
        driver.call(reqwest::Method::POST, &format!("/session/{session}/url"), Some(json!({ "url": url })));
        let (state, seen_code, page_text) = driver.wait_for_verdict(&session, "none");
        // Give the banner its first answer before the screenshot.
        std::thread::sleep(Duration::from_millis(300));
        driver.screenshot(&session, &shots.join(format!("kiosk-{name}.png")));
        assert_eq!((state.as_str(), seen_code.as_str()), (verdict, code), "{name}: {page_text}");
        assert!(page_text.contains(shown), "{name}: the page says {page_text:?}");
        let banner = driver.script(&session, "return document.getElementById('trust').textContent;");
        assert!(banner.as_str().unwrap().contains("trust file"), "banner: {banner}");

        if name == "valid" {
            // The paste box: a damaged code turns the page red with its own reason.
            driver.script(
                &session,
                "document.getElementById('paste').value = 'HR1:NOT*BASE45~'; \
                 document.getElementById('paste-verify').click(); return true;",
            );
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let v = driver.script(
                    &session,
                    "const v = document.getElementById('verdict'); return [v.dataset.code, v.innerText];",
                );
                if v[0] == "BASE45_INVALID" {
                    assert!(v[1].as_str().unwrap().contains("不通过"), "{v}");
                    break;
                }
                assert!(Instant::now() < deadline, "the paste box never answered: {v}");
                std::thread::sleep(Duration::from_millis(50));
            }
            driver.screenshot(&session, &shots.join("kiosk-pasted-damaged.png"));
        }
        if name == "expired" {
            // The upload button: the valid code's image turns the page green although the camera shows the
            // expired code (a chosen file's answer holds the screen for a few seconds).
            let png = dir.join("valid.png");
            std::fs::write(&png, QrSymbol::new(&valid, Ecc::Q).unwrap().to_png(6).unwrap()).unwrap();
            driver.upload(&session, "upload", &png);
            let (state, seen_code, page_text) = driver.wait_for_verdict(&session, "red");
            assert_eq!((state.as_str(), seen_code.as_str()), ("green", "OK"), "upload: {page_text}");
            assert!(page_text.contains("李四"), "upload: {page_text}");
            driver.screenshot(&session, &shots.join("kiosk-uploaded-valid.png"));
        }
        driver.close(&session);
    }
    println!("screenshots in {}", shots.display());
}
