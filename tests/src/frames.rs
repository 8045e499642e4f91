//! Camera-like frames from a rendered QR code: geometry (scale, rotation, perspective), optics (blur), sensor
//! (noise) and scene (low contrast, glare). Deterministic for a given seed.

use image::GrayImage;

/// How to distort a QR image into a frame.
#[derive(Debug, Clone, Copy)]
pub struct Distortion {
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Side of the code in the frame, as a fraction of the frame height.
    pub code_fraction: f32,
    /// Rotation in degrees.
    pub angle_deg: f32,
    /// Keystone strength: 0 is none, 0.1 makes one side of the code ~10 % shorter.
    pub perspective: f32,
    /// Box-blur radius in pixels (applied twice, close to a Gaussian).
    pub blur_radius: u32,
    /// Noise amplitude in grey levels (uniform, +-).
    pub noise: f32,
    /// Contrast kept: 1.0 is full black/white, 0.4 is washed out.
    pub contrast: f32,
    /// Peak brightness added by a glare spot (0 for none).
    pub glare: f32,
    /// Seed for the noise.
    pub seed: u64,
}

impl Distortion {
    /// A moderately perturbed phone photo of a screen or paper at the given frame size.
    pub fn moderate(width: u32, height: u32, seed: u64) -> Self {
        Distortion {
            width,
            height,
            code_fraction: 0.7,
            angle_deg: 4.0,
            perspective: 0.04,
            blur_radius: 1,
            noise: 12.0,
            contrast: 0.75,
            glare: 40.0,
            seed,
        }
    }
}

/// Render `qr` (dark modules on white, quiet zone included) into a distorted frame.
pub fn camera_frame(qr: &GrayImage, d: &Distortion) -> GrayImage {
    let (w, h) = (d.width as f32, d.height as f32);
    let side = h * d.code_fraction;
    let scale = qr.width() as f32 / side;
    let (sin, cos) = d.angle_deg.to_radians().sin_cos();
    let (cx, cy) = (w / 2.0, h / 2.0);
    let (qc, qsize) = (qr.width() as f32 / 2.0, qr.width() as f32);
    let background = 200.0;
    let mut frame = GrayImage::from_fn(d.width, d.height, |x, y| {
        // Output pixel -> code coordinates: undo keystone (rows squeezed towards the left), rotation, scale.
        let (dx, dy) = (x as f32 - cx, y as f32 - cy);
        let squeeze = 1.0 + d.perspective * (dx / side);
        let dy = dy * squeeze;
        let u = (cos * dx + sin * dy) * scale + qc;
        let v = (-sin * dx + cos * dy) * scale + qc;
        let value =
            if u < 0.0 || v < 0.0 || u >= qsize - 1.0 || v >= qsize - 1.0 { background } else { bilinear(qr, u, v) };
        image::Luma([value.clamp(0.0, 255.0) as u8])
    });
    for _ in 0..2 {
        if d.blur_radius > 0 {
            frame = box_blur(&frame, d.blur_radius);
        }
    }
    let mut rng = d.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let (gx, gy, gr) = (w * 0.62, h * 0.35, h * 0.3);
    for (x, y, p) in frame.enumerate_pixels_mut() {
        let base = f32::from(p.0[0]);
        let contrasted = 128.0 + (base - 128.0) * d.contrast;
        let dist2 = ((x as f32 - gx).powi(2) + (y as f32 - gy).powi(2)) / (gr * gr);
        let glare = d.glare * (-dist2).exp();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let noise = ((rng >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * d.noise;
        p.0[0] = (contrasted + glare + noise).clamp(0.0, 255.0) as u8;
    }
    frame
}

fn bilinear(img: &GrayImage, u: f32, v: f32) -> f32 {
    let (x0, y0) = (u.floor() as u32, v.floor() as u32);
    let (fx, fy) = (u - u.floor(), v - v.floor());
    let p = |x: u32, y: u32| f32::from(img.get_pixel(x, y).0[0]);
    let top = p(x0, y0) * (1.0 - fx) + p(x0 + 1, y0) * fx;
    let bottom = p(x0, y0 + 1) * (1.0 - fx) + p(x0 + 1, y0 + 1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Separable box blur with clamped edges.
fn box_blur(img: &GrayImage, r: u32) -> GrayImage {
    let (w, h) = img.dimensions();
    let r = r as i64;
    let pass = |src: &GrayImage, horizontal: bool| {
        GrayImage::from_fn(w, h, |x, y| {
            let mut sum = 0u32;
            for k in -r..=r {
                let (sx, sy) = if horizontal {
                    ((i64::from(x) + k).clamp(0, i64::from(w) - 1) as u32, y)
                } else {
                    (x, (i64::from(y) + k).clamp(0, i64::from(h) - 1) as u32)
                };
                sum += u32::from(src.get_pixel(sx, sy).0[0]);
            }
            image::Luma([(sum / (2 * r as u32 + 1)) as u8])
        })
    };
    pass(&pass(img, true), false)
}

/// Encode a grey image as PNG.
pub fn png(img: &GrayImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// Encode a grey image as JPEG at the given quality.
pub fn jpeg(img: &GrayImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality).encode_image(img).unwrap();
    out
}
