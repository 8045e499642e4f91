//! Image files as a checkpoint receives them (the CLI's files, the kiosk's uploads): `scan::load_gray` with the
//! file-size and pixel limits, then the QR scan on what it decoded. Limits are smaller than the defaults (1 MiB,
//! 1 megapixel, scanned at 20 kilopixels) so each input takes milliseconds; the code paths are the same.
//! A refusal must be `QR_UNREADABLE`; a decoded image never exceeds the work size.
//!
//! The QR decoders (quircs, rqrr) assert on some geometries; `scan` catches their panics and moves to the next
//! attempt. libFuzzer's panic hook would abort on those caught panics, so the target puts the default hook back:
//! a panic that escapes `scan` still aborts (libfuzzer-sys catches it around each input).
#![no_main]

use std::time::Duration;

use huren_verifier::scan::{load_gray, scan_gray, ImageLimits};
use huren_verifier::Code;
use libfuzzer_sys::fuzz_target;

const LIMITS: ImageLimits = ImageLimits {
    max_file_bytes: 1024 * 1024,
    max_pixels: 1_000_000,
    max_work_pixels: 20_000,
    time_budget: Duration::from_secs(3),
};

fuzz_target!(|data: &[u8]| {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let _ = std::panic::take_hook();
    });
    match load_gray(data, &LIMITS) {
        Ok(img) => {
            let (w, h) = img.dimensions();
            assert!(u64::from(w) * u64::from(h) <= LIMITS.max_work_pixels, "{w}x{h} is past the work size");
            // Scanning costs ~15 ms an image (every attempt runs on an image with no code); decoding, the part
            // a hostile file reaches first, is microseconds. Scan one input in four, chosen by its bytes.
            if data.iter().fold(0u8, |a, b| a.wrapping_add(*b)) % 4 != 0 {
                return;
            }
            for text in scan_gray(&img) {
                let _ = huren_verifier::verify(&text, &Default::default(), 1_790_000_000, &Default::default());
            }
        }
        Err(rejection) => assert_eq!(rejection.code(), Code::QrUnreadable, "{rejection:?}"),
    }
});
