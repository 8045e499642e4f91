//! Reading QR codes from images (PNG, JPEG) with `rqrr`, within size limits.
//!
//! A code that does not read at first is tried again inverted (dark-mode screens) and at a second scale (tiny
//! codes upscaled, large frames halved), before giving up with [`ScanError::NoCode`].

use image::GrayImage;

/// Bounds on images accepted from untrusted sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    /// Largest encoded file, in bytes.
    pub max_file_bytes: usize,
    /// Largest width x height, in pixels.
    pub max_pixels: u64,
}

impl Default for ImageLimits {
    fn default() -> Self {
        ImageLimits { max_file_bytes: 16 * 1024 * 1024, max_pixels: 24_000_000 }
    }
}

/// Why no QR text came out of an image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The file is larger than [`ImageLimits::max_file_bytes`] or has more pixels than allowed.
    #[error("image too large: {0}")]
    TooLarge(String),
    /// Not a PNG or JPEG image we can decode.
    #[error("not a readable PNG or JPEG image: {0}")]
    NotAnImage(String),
    /// The image decoded but contains no QR code we can read.
    #[error("no readable QR code in the image")]
    NoCode,
}

/// Whether bytes look like a PNG or JPEG file.
pub fn looks_like_image(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x89PNG\r\n\x1a\n") || bytes.starts_with(&[0xff, 0xd8, 0xff])
}

/// Decode an encoded image and read the QR codes in it (texts in reading order of detection).
pub fn scan_image_bytes(bytes: &[u8], limits: &ImageLimits) -> Result<Vec<String>, ScanError> {
    Ok(scan_gray(&load_gray(bytes, limits)?)).and_then(|texts| {
        if texts.is_empty() {
            Err(ScanError::NoCode)
        } else {
            Ok(texts)
        }
    })
}

/// Decode PNG or JPEG bytes to greyscale, enforcing the limits before allocating pixels.
pub fn load_gray(bytes: &[u8], limits: &ImageLimits) -> Result<GrayImage, ScanError> {
    if bytes.len() > limits.max_file_bytes {
        return Err(ScanError::TooLarge(format!("{} bytes, limit {}", bytes.len(), limits.max_file_bytes)));
    }
    let format = if bytes.starts_with(b"\x89PNG") {
        image::ImageFormat::Png
    } else if bytes.starts_with(&[0xff, 0xd8]) {
        image::ImageFormat::Jpeg
    } else {
        return Err(ScanError::NotAnImage("neither PNG nor JPEG".into()));
    };
    let reader = || image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let (w, h) = reader().into_dimensions().map_err(|e| ScanError::NotAnImage(e.to_string()))?;
    if u64::from(w) * u64::from(h) > limits.max_pixels {
        return Err(ScanError::TooLarge(format!("{w}x{h} pixels, limit {}", limits.max_pixels)));
    }
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(w);
    decoder_limits.max_image_height = Some(h);
    decoder_limits.max_alloc = Some(limits.max_pixels.saturating_mul(4));
    let mut reader = reader();
    reader.limits(decoder_limits);
    let img = reader.decode().map_err(|e| ScanError::NotAnImage(e.to_string()))?;
    Ok(img.into_luma8())
}

/// Read QR codes from a greyscale image. Cheap attempts first: as is, then binarised at Otsu's threshold (helps
/// with glare and low contrast), then smoothed (helps with sensor noise), then inverted (dark-mode screens), then
/// at a second scale (tiny codes doubled, large frames halved).
pub fn scan_gray(img: &GrayImage) -> Vec<String> {
    let attempts: [&dyn Fn() -> GrayImage; 4] = [
        &|| otsu_binarise(img),
        &|| box_blur_3x3(img),
        &|| {
            let mut inverted = img.clone();
            image::imageops::invert(&mut inverted);
            inverted
        },
        &|| {
            let (w, h) = img.dimensions();
            let (nw, nh) = if w.min(h) >= 800 { (w / 2, h / 2) } else { (w.saturating_mul(2), h.saturating_mul(2)) };
            image::imageops::resize(img, nw.max(1), nh.max(1), image::imageops::FilterType::Triangle)
        },
    ];
    let found = detect(img);
    if !found.is_empty() {
        return found;
    }
    for attempt in attempts {
        let found = detect(&attempt());
        if !found.is_empty() {
            return found;
        }
    }
    Vec::new()
}

/// Mean of each pixel's 3x3 neighbourhood (edges clamped): cheap smoothing against sensor noise.
pub fn box_blur_3x3(img: &GrayImage) -> GrayImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let src = img.as_raw();
    let mut horizontal = vec![0u16; w * h];
    for y in 0..h {
        let row = &src[y * w..(y + 1) * w];
        for x in 0..w {
            let left = row[x.saturating_sub(1)];
            let right = row[(x + 1).min(w - 1)];
            horizontal[y * w + x] = u16::from(left) + u16::from(row[x]) + u16::from(right);
        }
    }
    let mut out = vec![0u8; w * h];
    for y in 0..h {
        let (up, down) = (y.saturating_sub(1), (y + 1).min(h - 1));
        for x in 0..w {
            let sum = horizontal[up * w + x] + horizontal[y * w + x] + horizontal[down * w + x];
            // sum <= 9 * 255, so the mean fits in a byte.
            out[y * w + x] = u8::try_from(sum / 9).unwrap_or(u8::MAX);
        }
    }
    GrayImage::from_raw(img.width(), img.height(), out).unwrap_or_else(|| img.clone())
}

/// Black and white at the threshold that best separates the histogram's two classes (Otsu's method).
pub fn otsu_binarise(img: &GrayImage) -> GrayImage {
    let mut histogram = [0u64; 256];
    for p in img.pixels() {
        histogram[usize::from(p.0[0])] += 1;
    }
    let total: u64 = histogram.iter().sum();
    let weighted_total: u64 = histogram.iter().zip(0u64..).map(|(count, level)| count * level).sum();
    let (mut background, mut background_sum) = (0u64, 0u64);
    let (mut best_spread, mut threshold) = (0u128, 128u8);
    for (level, count) in (0u8..=255).zip(histogram) {
        background += count;
        background_sum += count * u64::from(level);
        let foreground = total - background;
        if background == 0 || foreground == 0 {
            continue;
        }
        // Between-class variance, scaled by total^2 to stay in integers:
        // (sum_b * n_f - sum_f * n_b)^2 / (n_b * n_f).
        let diff = i128::from(background_sum) * i128::from(foreground)
            - i128::from(weighted_total - background_sum) * i128::from(background);
        let spread = diff.unsigned_abs().pow(2) / (u128::from(background) * u128::from(foreground));
        if spread > best_spread {
            best_spread = spread;
            threshold = level;
        }
    }
    let mut out = img.clone();
    for p in out.pixels_mut() {
        p.0[0] = if p.0[0] > threshold { 255 } else { 0 };
    }
    out
}

/// One rqrr pass over a greyscale image.
pub fn detect(img: &GrayImage) -> Vec<String> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let raw = img.as_raw();
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| raw[y * w + x]);
    prepared.detect_grids().into_iter().filter_map(|grid| grid.decode().ok().map(|(_, text)| text)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_images_and_oversized_images_are_refused() {
        let limits = ImageLimits::default();
        assert!(matches!(scan_image_bytes(b"hello", &limits), Err(ScanError::NotAnImage(_))));
        assert!(matches!(scan_image_bytes(b"\x89PNG\r\n\x1a\n\0\0", &limits), Err(ScanError::NotAnImage(_))));
        let small = ImageLimits { max_file_bytes: 4, max_pixels: 1 };
        assert!(matches!(scan_image_bytes(b"\x89PNG\r\n\x1a\n", &small), Err(ScanError::TooLarge(_))));
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
        assert!(matches!(result, Err(ScanError::TooLarge(_))), "{result:?}");
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
    fn box_blur_averages_neighbours() {
        let mut img = GrayImage::from_pixel(5, 5, image::Luma([0]));
        img.put_pixel(2, 2, image::Luma([90]));
        let blurred = box_blur_3x3(&img);
        assert_eq!(blurred.get_pixel(2, 2).0, [10]);
        assert_eq!(blurred.get_pixel(1, 1).0, [10]);
        assert_eq!(blurred.get_pixel(0, 0).0, [0]);
    }

    #[test]
    fn otsu_splits_two_populations() {
        let img = GrayImage::from_fn(10, 10, |x, _| image::Luma([if x < 5 { 60 } else { 190 }]));
        let bw = otsu_binarise(&img);
        assert_eq!(bw.get_pixel(0, 0).0, [0]);
        assert_eq!(bw.get_pixel(9, 0).0, [255]);
    }

    #[test]
    fn a_blank_image_has_no_code() {
        let blank = GrayImage::from_pixel(200, 200, image::Luma([255]));
        assert!(scan_gray(&blank).is_empty());
    }
}
