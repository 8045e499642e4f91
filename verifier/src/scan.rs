//! Reading QR codes from images (PNG, JPEG) and camera frames with `quircs` and `rqrr`, with bounded work.
//!
//! Untrusted images are held to limits before and during decoding: the file size and the pixel count are checked
//! from the header before any pixel is allocated; detection runs on at most [`ImageLimits::max_work_pixels`]
//! (larger images are scaled down first); a decoder panic is caught; and [`scan_image_bytes`] gives up after
//! [`ImageLimits::time_budget`] (rqrr's grouping step is quadratic in the number of finder-pattern look-alikes, so a
//! crafted image can otherwise keep it busy for minutes).
//!
//! [`scan_gray`] tries a fast decoder on the image as it is first, then on a locally binarised image, and stronger
//! attempts after (inverted for dark-mode screens, rescaled, a second decoder), before giving up with
//! [`Rejection::QrUnreadable`].

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

use image::GrayImage;

use crate::Rejection;

/// Bounds on images accepted from untrusted sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    /// Largest encoded file, in bytes.
    pub max_file_bytes: usize,
    /// Largest width x height of a decoded image, in pixels.
    pub max_pixels: u64,
    /// Largest image handed to the QR detector; larger ones are scaled down first (1920x1080 fits).
    pub max_work_pixels: u64,
    /// Wall-clock budget for decoding one image, all attempts included.
    pub time_budget: Duration,
}

impl Default for ImageLimits {
    fn default() -> Self {
        ImageLimits {
            max_file_bytes: 16 * 1024 * 1024,
            max_pixels: 24_000_000,
            max_work_pixels: 2_100_000,
            time_budget: Duration::from_secs(3),
        }
    }
}

fn unreadable<T>(reason: impl Into<String>) -> Result<T, Rejection> {
    Err(Rejection::QrUnreadable { reason: reason.into() })
}

/// Whether bytes look like a PNG or JPEG file.
pub fn looks_like_image(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x89PNG\r\n\x1a\n") || bytes.starts_with(&[0xff, 0xd8, 0xff])
}

/// Decode an encoded image and read the QR codes in it, within `limits` (size, pixels, time).
pub fn scan_image_bytes(bytes: &[u8], limits: &ImageLimits) -> Result<Vec<String>, Rejection> {
    scan_image_bytes_holding(bytes, limits, ())
}

/// As [`scan_image_bytes`], with `held` kept until the decoder has finished (see [`scan_within_budget_holding`]).
pub fn scan_image_bytes_holding<H: Send + 'static>(
    bytes: &[u8],
    limits: &ImageLimits,
    held: H,
) -> Result<Vec<String>, Rejection> {
    let img = load_gray(bytes, limits)?;
    let texts = scan_within_budget_holding(img, limits, held)?;
    if texts.is_empty() {
        return unreadable("no readable QR code in the image");
    }
    Ok(texts)
}

/// Decode PNG or JPEG bytes to greyscale, enforcing the limits before allocating pixels.
pub fn load_gray(bytes: &[u8], limits: &ImageLimits) -> Result<GrayImage, Rejection> {
    if bytes.len() > limits.max_file_bytes {
        return unreadable(format!("image file of {} bytes exceeds {}", bytes.len(), limits.max_file_bytes));
    }
    let format = if bytes.starts_with(b"\x89PNG") {
        image::ImageFormat::Png
    } else if bytes.starts_with(&[0xff, 0xd8]) {
        image::ImageFormat::Jpeg
    } else {
        return unreadable("not a PNG or JPEG image");
    };
    let reader = || image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let (w, h) = reader().into_dimensions().or_else(|e| unreadable(format!("unreadable image: {e}")))?;
    if u64::from(w) * u64::from(h) > limits.max_pixels {
        return unreadable(format!("image of {w}x{h} pixels exceeds {}", limits.max_pixels));
    }
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(w);
    decoder_limits.max_image_height = Some(h);
    decoder_limits.max_alloc = Some(limits.max_pixels.saturating_mul(4));
    let mut reader = reader();
    reader.limits(decoder_limits);
    let img = reader.decode().or_else(|e| unreadable(format!("unreadable image: {e}")))?;
    Ok(fit_to_work_size(&img.into_luma8(), limits.max_work_pixels))
}

/// Scan on a worker thread and give up after the time budget. The worker cannot be interrupted: it finishes (or
/// not) on its own, holding one image, while the caller moves on.
pub fn scan_within_budget(img: GrayImage, limits: &ImageLimits) -> Result<Vec<String>, Rejection> {
    scan_within_budget_holding(img, limits, ())
}

/// As [`scan_within_budget`], with `held` (a semaphore permit, say) moved to the worker and dropped only when the
/// decoder has finished. A scan that outlives the budget thus still counts against whatever `held` bounds: the
/// caller's answer comes after the budget, but the thread's cost ends when it does.
pub fn scan_within_budget_holding<H: Send + 'static>(
    img: GrayImage,
    limits: &ImageLimits,
    held: H,
) -> Result<Vec<String>, Rejection> {
    let (sender, receiver) = mpsc::channel();
    let max_work_pixels = limits.max_work_pixels;
    std::thread::Builder::new()
        .name("huren-qr-scan".into())
        .spawn(move || {
            let texts = scan_gray_bounded(&img, max_work_pixels);
            drop(held);
            let _ = sender.send(texts);
        })
        .or_else(|e| unreadable(format!("cannot start the scanner: {e}")))?;
    match receiver.recv_timeout(limits.time_budget) {
        Ok(texts) => Ok(texts),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            unreadable(format!("gave up after {} ms", limits.time_budget.as_millis()))
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => unreadable("the QR decoder failed on this image"),
    }
}

/// Scale an image down (keeping its aspect ratio) until it has at most `max_pixels` pixels.
pub(crate) fn fit_to_work_size(img: &GrayImage, max_pixels: u64) -> GrayImage {
    let (w, h) = img.dimensions();
    let pixels = u64::from(w) * u64::from(h);
    if pixels <= max_pixels || pixels == 0 {
        return img.clone();
    }
    // Rounding in the float maths only nudges the scale; `scaled` clamps the result into 1..=side.
    let scale = (to_f64(max_pixels) / to_f64(pixels)).sqrt();
    let (nw, nh) = (scaled(w, scale), scaled(h, scale));
    image::imageops::resize(img, nw, nh, image::imageops::FilterType::Triangle)
}

#[allow(clippy::as_conversions, clippy::cast_precision_loss)] // u64 -> f64 has no From; rounding is harmless here
fn to_f64(n: u64) -> f64 {
    n as f64
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::as_conversions)] // 1 <= result <= side
fn scaled(side: u32, scale: f64) -> u32 {
    ((f64::from(side) * scale).floor() as u32).clamp(1, side)
}

/// Read QR codes from a greyscale image (scaled to at most 2.1 megapixels first).
///
/// Fast attempts first, stronger ones after (docs/PERFORMANCE.md, issue 7, has the measurements behind the order):
/// 1. quircs on the image as it is (its own global threshold: the cheapest pass, and it reads most frames);
/// 2. quircs on the image binarised against its local mean ([`adaptive_binarise`]: contrast normalisation,
///    shading and glare), in the polarity the finder-like patterns suggest first (dark-mode screens), then the other;
/// 3. small images scaled up (codes under ~5 pixels per module), binarised, straight and inverted;
/// 4. rqrr (slower, but it fits the grid differently) on the binary, the plain and the inverted image.
pub fn scan_gray(img: &GrayImage) -> Vec<String> {
    scan_gray_bounded(img, ImageLimits::default().max_work_pixels)
}

fn scan_gray_bounded(img: &GrayImage, max_work_pixels: u64) -> Vec<String> {
    let (w, h) = img.dimensions();
    let fitted;
    let img = if u64::from(w) * u64::from(h) > max_work_pixels {
        fitted = fit_to_work_size(img, max_work_pixels);
        &fitted
    } else {
        img
    };
    // Each derived image is made the first time an attempt needs it.
    let binary = std::cell::OnceCell::new();
    let binary = || binary.get_or_init(|| adaptive_binarise(img));
    let inverted = std::cell::OnceCell::new();
    let inverted = || {
        inverted.get_or_init(|| {
            let mut inverted = binary().clone();
            image::imageops::invert(&mut inverted);
            inverted
        })
    };
    // Dark-mode screens first when the finder-like patterns say so: a failed quircs pass costs as much as one
    // that reads.
    let dark_mode = std::cell::OnceCell::new();
    let dark_mode = || {
        *dark_mode.get_or_init(|| {
            let (dark, light) = finder_like_runs(binary());
            light > dark
        })
    };
    let attempts: [&dyn Fn() -> Vec<String>; 7] = [
        &|| quircs_pass(img),
        &|| quircs_pass(if dark_mode() { inverted() } else { binary() }),
        &|| quircs_pass(if dark_mode() { binary() } else { inverted() }),
        &|| {
            let (w, h) = img.dimensions();
            if u64::from(w) * u64::from(h) * 4 > max_work_pixels || w.min(h) > 600 {
                return Vec::new();
            }
            let larger = image::imageops::resize(img, w * 2, h * 2, image::imageops::FilterType::Triangle);
            let mut binary = adaptive_binarise(&larger);
            let found = quircs_pass(&binary);
            if !found.is_empty() {
                return found;
            }
            image::imageops::invert(&mut binary);
            quircs_pass(&binary)
        },
        &|| detect(binary()),
        &|| detect(img),
        &|| detect(inverted()),
    ];
    for attempt in attempts {
        let found = attempt();
        if !found.is_empty() {
            return found;
        }
    }
    Vec::new()
}

/// Count finder-pattern look-alikes in a binary image: on every third row, five runs in the proportions 1:1:3:1:1
/// (within half a module) whose centre column shows the same proportions vertically, as ZXing's finder does.
/// Returns `(dark-centred, light-centred)`: dark-mode screens show the second kind.
pub(crate) fn finder_like_runs(binary: &GrayImage) -> (usize, usize) {
    let (Ok(w), Ok(h)) = (usize::try_from(binary.width()), usize::try_from(binary.height())) else { return (0, 0) };
    if w == 0 || h == 0 {
        return (0, 0);
    }
    let pixels = binary.as_raw();
    let (mut dark, mut light) = (0usize, 0usize);
    let mut runs: Vec<(u8, usize, usize)> = Vec::with_capacity(w);
    for (y, row) in pixels.chunks_exact(w).enumerate().step_by(3) {
        runs.clear();
        let mut current = (row[0], 0usize, 0usize);
        for (x, &p) in row.iter().enumerate() {
            if p == current.0 {
                current.1 += 1;
            } else {
                runs.push(current);
                current = (p, 1, x);
            }
        }
        runs.push(current);
        for window in runs.windows(5) {
            let lengths = [window[0].1, window[1].1, window[2].1, window[3].1, window[4].1];
            if !finder_proportions(lengths) {
                continue;
            }
            let centre_x = window[2].2 + window[2].1 / 2;
            let total: usize = lengths.iter().sum();
            let Some(vertical) = vertical_runs(pixels, w, h, centre_x, y) else { continue };
            let vertical_total: usize = vertical.iter().sum();
            if finder_proportions(vertical) && vertical_total * 2 >= total && vertical_total <= total * 2 {
                if window[2].0 == 0 {
                    dark += 1;
                } else {
                    light += 1;
                }
            }
        }
    }
    (dark, light)
}

/// Whether five run lengths are in the proportions 1:1:3:1:1, each within half a module.
fn finder_proportions(runs: [usize; 5]) -> bool {
    let total: usize = runs.iter().sum();
    if total < 7 {
        return false;
    }
    // |7 * run - k * total| <= total / 2 (half a module of total / 7); the centre run gets a whole module.
    let near = |run: usize, k: usize| (7 * run).abs_diff(k * total) * 2 <= total;
    near(runs[0], 1)
        && near(runs[1], 1)
        && (7 * runs[2]).abs_diff(3 * total) <= total
        && near(runs[3], 1)
        && near(runs[4], 1)
}

/// The five vertical runs around (x, y): the run holding (x, y) and two more above and below it.
fn vertical_runs(pixels: &[u8], w: usize, h: usize, x: usize, y: usize) -> Option<[usize; 5]> {
    let at = |y: usize| pixels.get(y * w + x).copied();
    let centre = at(y)?;
    let mut runs = [0usize; 5];
    // Upwards: the centre run's upper part, then two runs.
    let (mut yy, mut colour, mut slot) = (y, centre, 2usize);
    loop {
        let p = at(yy)?;
        if p != colour {
            if slot == 0 {
                break;
            }
            slot -= 1;
            colour = p;
        }
        runs[slot] += 1;
        if yy == 0 {
            break;
        }
        yy -= 1;
    }
    // Downwards from the row below the centre.
    let (mut yy, mut colour, mut slot) = (y + 1, centre, 2usize);
    while yy < h {
        let p = at(yy)?;
        if p != colour {
            if slot == 4 {
                break;
            }
            slot += 1;
            colour = p;
        }
        runs[slot] += 1;
        yy += 1;
    }
    runs.iter().all(|&r| r > 0).then_some(runs)
}

/// One quircs pass over a greyscale image (quircs thresholds it globally, at Otsu's level). A panic inside the
/// decoder counts as "no code".
pub(crate) fn quircs_pass(img: &GrayImage) -> Vec<String> {
    let (Ok(w), Ok(h)) = (usize::try_from(img.width()), usize::try_from(img.height())) else { return Vec::new() };
    catch_unwind(AssertUnwindSafe(|| {
        let mut decoder = quircs::Quirc::default();
        decoder
            .identify(w, h, img.as_raw())
            .filter_map(|code| code.ok()?.decode().ok())
            .filter_map(|data| String::from_utf8(data.payload).ok())
            .collect()
    }))
    .unwrap_or_default()
}

/// One rqrr pass over a greyscale image. A panic inside the decoder (rqrr asserts on some degenerate
/// geometries) counts as "no code".
pub(crate) fn detect(img: &GrayImage) -> Vec<String> {
    let (w, h) = (img.width(), img.height());
    let (Ok(w), Ok(h)) = (usize::try_from(w), usize::try_from(h)) else { return Vec::new() };
    let raw = img.as_raw();
    catch_unwind(AssertUnwindSafe(|| {
        let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| raw[y * w + x]);
        prepared.detect_grids().into_iter().filter_map(|grid| grid.decode().ok().map(|(_, text)| text)).collect()
    }))
    .unwrap_or_default()
}

/// Black (0) and white (255) against a local threshold: the image is cut into square blocks (1/48 of the shorter
/// side, at least 8 pixels); each block's level is its mean, or for a flat block (range under 24 grey levels) a
/// guess from its already-seen neighbours (inside a large dark module) or half its minimum (background); each
/// pixel is compared with the mean level of the 5x5 blocks around its own (the scheme of ZXing's hybrid
/// binariser). Unlike one global threshold it follows shading, glare and low contrast.
pub(crate) fn adaptive_binarise(img: &GrayImage) -> GrayImage {
    const MIN_RANGE: u8 = 24;
    let (Ok(w), Ok(h)) = (usize::try_from(img.width()), usize::try_from(img.height())) else { return img.clone() };
    if w == 0 || h == 0 {
        return img.clone();
    }
    let block = (w.min(h) / 48).max(8);
    let (bw, bh) = (w.div_ceil(block), h.div_ceil(block));
    let src = img.as_raw();
    let mut sums = vec![0u32; bw * bh];
    let mut mins = vec![u8::MAX; bw * bh];
    let mut maxs = vec![0u8; bw * bh];
    for (y, row) in src.chunks_exact(w).enumerate() {
        let base = (y / block) * bw;
        for (bx, chunk) in row.chunks(block).enumerate() {
            let i = base + bx;
            let (mut sum, mut lo, mut hi) = (0u32, mins[i], maxs[i]);
            for &p in chunk {
                sum += u32::from(p);
                lo = lo.min(p);
                hi = hi.max(p);
            }
            sums[i] += sum;
            mins[i] = lo;
            maxs[i] = hi;
        }
    }
    let mut levels = vec![0u32; bw * bh];
    for by in 0..bh {
        let rows = (h - by * block).min(block);
        for bx in 0..bw {
            let cols = (w - bx * block).min(block);
            let i = by * bw + bx;
            let lo = u32::from(mins[i]);
            let count = u32::try_from(rows * cols).unwrap_or(u32::MAX).max(1);
            levels[i] = if maxs[i] - mins[i] > MIN_RANGE {
                sums[i] / count
            } else if by > 0 && bx > 0 {
                let neighbours = (levels[i - bw] + 2 * levels[i - 1] + levels[i - bw - 1]) / 4;
                if lo < neighbours {
                    neighbours
                } else {
                    lo / 2
                }
            } else {
                lo / 2
            };
        }
    }
    // Mean of the 5x5 neighbourhood of levels, the window kept inside the grid.
    let mut thresholds = vec![0u8; bw * bh];
    for by in 0..bh {
        let cy = if bh < 5 { by } else { by.clamp(2, bh - 3) };
        for bx in 0..bw {
            let cx = if bw < 5 { bx } else { bx.clamp(2, bw - 3) };
            let (mut sum, mut n) = (0u32, 0u32);
            for ny in cy.saturating_sub(2)..(cy + 3).min(bh) {
                for nx in cx.saturating_sub(2)..(cx + 3).min(bw) {
                    sum += levels[ny * bw + nx];
                    n += 1;
                }
            }
            thresholds[by * bw + bx] = u8::try_from(sum / n.max(1)).unwrap_or(u8::MAX);
        }
    }
    let mut out = vec![0u8; w * h];
    for (y, (row, out_row)) in src.chunks_exact(w).zip(out.chunks_exact_mut(w)).enumerate() {
        let base = (y / block) * bw;
        for (bx, (chunk, out_chunk)) in row.chunks(block).zip(out_row.chunks_mut(block)).enumerate() {
            let t = thresholds[base + bx];
            for (p, o) in chunk.iter().zip(out_chunk) {
                *o = if *p <= t { 0 } else { 255 };
            }
        }
    }
    GrayImage::from_raw(img.width(), img.height(), out).unwrap_or_else(|| img.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_images_and_oversized_images_are_refused() {
        let limits = ImageLimits::default();
        let reason = |r: Result<Vec<String>, Rejection>| match r {
            Err(Rejection::QrUnreadable { reason }) => reason,
            other => panic!("expected QR_UNREADABLE, got {other:?}"),
        };
        assert!(reason(scan_image_bytes(b"hello", &limits)).contains("not a PNG or JPEG"));
        assert!(reason(scan_image_bytes(b"\x89PNG\r\n\x1a\n\0\0", &limits)).contains("unreadable image"));
        let small = ImageLimits { max_file_bytes: 4, ..ImageLimits::default() };
        assert!(reason(scan_image_bytes(b"\x89PNG\r\n\x1a\n", &small)).contains("exceeds"));
    }

    #[test]
    fn a_huge_declared_size_is_refused_before_decoding() {
        // A PNG claiming 100000 x 100000 pixels, with almost no pixel data.
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let ihdr = [&100_000u32.to_be_bytes()[..], &100_000u32.to_be_bytes()[..], &[8, 0, 0, 0, 0]].concat();
        for (kind, data) in [(&b"IHDR"[..], &ihdr[..]), (b"IDAT", &[0x78, 0x9c, 0x03, 0x00][..]), (b"IEND", &[][..])] {
            let len = u32::try_from(data.len()).unwrap();
            png.extend_from_slice(&len.to_be_bytes());
            let body = [kind, data].concat();
            png.extend_from_slice(&body);
            png.extend_from_slice(&crc32(&body).to_be_bytes());
        }
        let result = scan_image_bytes(&png, &ImageLimits::default());
        assert!(matches!(&result, Err(Rejection::QrUnreadable { reason }) if reason.contains("exceeds")), "{result:?}");
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn large_images_are_scaled_down_to_the_work_size() {
        let big = GrayImage::from_pixel(2000, 1500, image::Luma([200]));
        let fitted = fit_to_work_size(&big, 500_000);
        assert!(u64::from(fitted.width()) * u64::from(fitted.height()) <= 500_000);
        assert!(fitted.width() * 3 / 4 - fitted.height() <= 1, "aspect ratio kept: {:?}", fitted.dimensions());
        let thin = GrayImage::from_pixel(20_000, 100, image::Luma([200]));
        let fitted = fit_to_work_size(&thin, 500_000);
        assert!(u64::from(fitted.width()) * u64::from(fitted.height()) <= 500_000);
        assert!(fitted.height() >= 1);
    }

    #[test]
    fn adaptive_binarisation_follows_shading() {
        // Dark stripes on a background that brightens from left (60) to right (250): one global threshold loses
        // either the stripes on the right or the background on the left; a local one keeps both.
        let img = GrayImage::from_fn(400, 100, |x, _| {
            let background = 60 + x * 190 / 400;
            image::Luma([u8::try_from(if (x / 10) % 2 == 0 { background * 2 / 5 } else { background }).unwrap()])
        });
        let bw = adaptive_binarise(&img);
        for x in [5, 15, 205, 215, 385, 395] {
            let expected = if (x / 10) % 2 == 0 { 0 } else { 255 };
            assert_eq!(bw.get_pixel(x, 50).0, [expected], "x = {x}");
        }
        // Degenerate sizes do not panic.
        assert_eq!(adaptive_binarise(&GrayImage::new(0, 0)).dimensions(), (0, 0));
        assert_eq!(adaptive_binarise(&GrayImage::new(3, 1)).dimensions(), (3, 1));
    }

    #[test]
    fn finder_like_runs_tell_dark_mode() {
        // One finder pattern (7x7 modules: dark ring, light ring, dark 3x3 core) at 4 pixels per module, in a
        // light margin of 2 modules.
        let img = GrayImage::from_fn(44, 44, |x, y| {
            let (mx, my) = ((x / 4).abs_diff(5), (y / 4).abs_diff(5));
            let ring = mx.max(my);
            image::Luma([if ring == 3 || ring <= 1 { 0 } else { 255 }])
        });
        let (dark, light) = finder_like_runs(&img);
        assert!(dark >= 3 && light == 0, "{dark} {light}");
        let mut inverted = img.clone();
        image::imageops::invert(&mut inverted);
        let (dark, light) = finder_like_runs(&inverted);
        assert!(light >= 3 && dark == 0, "{dark} {light}");
        assert_eq!(finder_like_runs(&GrayImage::new(0, 0)), (0, 0));
    }

    #[test]
    fn a_blank_image_has_no_code() {
        let blank = GrayImage::from_pixel(200, 200, image::Luma([255]));
        assert!(scan_gray(&blank).is_empty());
    }
}

/// The scanner's stages one by one, for the frame benchmarks (feature `scanner-stages`): which stage reads which
/// frames, and what each costs. Verification goes through [`scan_gray`] and the functions above.
#[cfg(feature = "scanner-stages")]
pub mod stages {
    use image::GrayImage;

    /// The detector alone (rqrr) on an image as it is.
    pub fn detect(img: &GrayImage) -> Vec<String> {
        super::detect(img)
    }

    /// The fast decoder alone (quircs) on an image as it is.
    pub fn quircs_pass(img: &GrayImage) -> Vec<String> {
        super::quircs_pass(img)
    }

    /// The adaptive binarisation the scanner's second pass uses.
    pub fn adaptive_binarise(img: &GrayImage) -> GrayImage {
        super::adaptive_binarise(img)
    }

    /// Finder-pattern-like runs (dark, light) in a binary image.
    pub fn finder_like_runs(binary: &GrayImage) -> (usize, usize) {
        super::finder_like_runs(binary)
    }
}
