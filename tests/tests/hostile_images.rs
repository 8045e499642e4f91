//! Images built to make a QR decoder work hard or fall over: each gets QR_UNREADABLE within the scan's budget,
//! never a panic, a hang or an allocation beyond the image limits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use huren_tests::frames::png;
use huren_verifier::scan::{scan_image_bytes, ImageLimits};
use huren_verifier::{Code, Rejection};
use image::{GrayImage, Luma};

fn limits() -> ImageLimits {
    ImageLimits { time_budget: Duration::from_millis(1500), ..ImageLimits::default() }
}

fn assert_unreadable(result: Result<Vec<String>, Rejection>) -> String {
    match result {
        Err(r @ Rejection::QrUnreadable { .. }) => {
            assert_eq!(r.code(), Code::QrUnreadable);
            r.to_string()
        }
        other => panic!("expected QR_UNREADABLE, got {other:?}"),
    }
}

/// A finder pattern (7x7 modules: dark ring, light ring, dark 3x3 core) at module size `m`.
fn draw_finder(img: &mut GrayImage, x0: u32, y0: u32, m: u32) {
    for dy in 0..7 * m {
        for dx in 0..7 * m {
            let (mx, my) = (dx / m, dy / m);
            let ring = mx == 0 || my == 0 || mx == 6 || my == 6;
            let core = (2..=4).contains(&mx) && (2..=4).contains(&my);
            if ring || core {
                img.put_pixel(x0 + dx, y0 + dy, Luma([0]));
            }
        }
    }
}

#[test]
fn a_lattice_of_finder_patterns_is_bounded() {
    // 30 x 30 finder patterns: rqrr's grouping step tries pairs of them, cloning the image each time.
    let (m, pitch, n) = (5u32, 45u32, 30u32);
    let side = pitch * n + 2 * m;
    let mut img = GrayImage::from_pixel(side, side, Luma([255]));
    for i in 0..n {
        for j in 0..n {
            draw_finder(&mut img, m + i * pitch, m + j * pitch, m);
        }
    }
    assert_unreadable(scan_image_bytes(&png(&img), &limits()));
}

#[test]
fn random_noise_at_a_large_size_is_bounded() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let img = GrayImage::from_fn(2400, 1800, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        Luma([if state & 1 == 0 { 0 } else { 255 }])
    });
    assert_unreadable(scan_image_bytes(&png(&img), &limits()));
}

#[test]
fn a_thin_image_is_not_upscaled_past_the_work_size() {
    // 24 million pixels in a strip: under the pixel limit, but the "try at a second scale" step must not double it.
    let img = GrayImage::from_pixel(30_000, 800, Luma([255]));
    assert_unreadable(scan_image_bytes(&png(&img), &limits()));
}

#[test]
fn truncated_and_lying_files_are_unreadable() {
    let img = GrayImage::from_pixel(64, 64, Luma([255]));
    let bytes = png(&img);
    assert!(assert_unreadable(scan_image_bytes(&bytes[..bytes.len() / 2], &limits())).contains("image"));
    let mut jpeg_magic_png_body = vec![0xff, 0xd8, 0xff];
    jpeg_magic_png_body.extend_from_slice(&bytes);
    assert_unreadable(scan_image_bytes(&jpeg_magic_png_body, &limits()));
}
