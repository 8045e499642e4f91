//! Camera-like frames from a rendered QR code: geometry (scale, position, rotation, perspective), optics (blur),
//! sensor (noise), scene (textured background, uneven lighting, low contrast, glare) and dark-mode screens (light
//! modules on a dark background). Deterministic for a given seed.
//!
//! [`Distortion::moderate`] is one fixed moderate setting; [`Distortion::sampled`] draws every parameter from a
//! [`Level`]'s ranges, which is how the frame set in testdata/frames/ is made (`huren-frames`).

use image::GrayImage;

/// How to distort a QR image into a frame.
#[derive(Debug, Clone, Copy)]
pub struct Distortion {
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Side of the code (quiet zone included) in the frame, as a fraction of the frame height.
    pub code_fraction: f32,
    /// Offset of the code's centre from the frame's centre, as fractions of the frame width and height.
    pub offset: (f32, f32),
    /// Rotation in degrees.
    pub angle_deg: f32,
    /// Keystone strength: 0 is none, 0.1 makes the code's left side ~10 % shorter than its right side (negative:
    /// the right side shorter).
    pub perspective: f32,
    /// Vertical keystone: 0.1 makes the top side ~10 % shorter than the bottom (negative: the bottom shorter).
    pub perspective_y: f32,
    /// Box-blur radius in pixels (applied twice, close to a Gaussian).
    pub blur_radius: u32,
    /// Noise amplitude in grey levels (uniform, +-).
    pub noise: f32,
    /// Contrast kept: 1.0 is full black/white, 0.4 is washed out.
    pub contrast: f32,
    /// Peak brightness added by a glare spot (0 for none).
    pub glare: f32,
    /// Centre of the glare spot, as fractions of the frame width and height.
    pub glare_at: (f32, f32),
    /// Radius of the glare spot, as a fraction of the frame height.
    pub glare_radius: f32,
    /// Uneven lighting: brightness falls linearly by this fraction from the frame's left edge to its right.
    pub shading: f32,
    /// Dark-mode screen: light modules on a dark quiet zone.
    pub inverted: bool,
    /// Background outside the code: 0 is flat grey, 1 a busy texture (stripes, blotches and dark bars).
    pub texture: f32,
    /// Seed for the noise and the background.
    pub seed: u64,
}

/// A family of frame distortions, for [`Distortion::sampled`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// What a checkpoint camera sees from a phone held up to it, or a printed code: code 62-82 % of the frame
    /// height, +-10 degrees, up to 6 % keystone, slight blur, moderate noise, 60-85 % contrast, some glare and
    /// shading; one frame in five is a dark-mode screen.
    Moderate,
    /// A bad day: the code 45-90 % of the height, any rotation up to +-45 degrees, 8-18 % keystone on both axes,
    /// heavy blur, strong noise, 35-55 % contrast, strong glare and shading; one frame in four is dark mode.
    Harsh,
}

impl Level {
    /// `"moderate"` or `"harsh"`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Moderate => "moderate",
            Level::Harsh => "harsh",
        }
    }
}

impl Distortion {
    /// A moderately perturbed phone photo of a screen or paper at the given frame size (fixed parameters).
    pub fn moderate(width: u32, height: u32, seed: u64) -> Self {
        Distortion {
            width,
            height,
            code_fraction: 0.7,
            offset: (0.0, 0.0),
            angle_deg: 4.0,
            perspective: 0.04,
            perspective_y: 0.0,
            blur_radius: 1,
            noise: 12.0,
            contrast: 0.75,
            glare: 40.0,
            glare_at: (0.62, 0.35),
            glare_radius: 0.3,
            shading: 0.0,
            inverted: false,
            texture: 0.0,
            seed,
        }
    }

    /// Every parameter drawn from `level`'s ranges with a generator seeded by `seed`.
    pub fn sampled(width: u32, height: u32, level: Level, seed: u64) -> Self {
        let mut r = Rng::new(seed);
        let sign = |r: &mut Rng| if r.next() & 1 == 0 { 1.0 } else { -1.0 };
        match level {
            Level::Moderate => {
                let code_fraction = r.range(0.62, 0.82);
                let room = (1.0 - code_fraction) / 2.0;
                Distortion {
                    width,
                    height,
                    code_fraction,
                    offset: (r.range(-0.1, 0.1), r.range(-room, room) * 0.6),
                    angle_deg: r.range(-10.0, 10.0),
                    perspective: r.range(-0.06, 0.06),
                    perspective_y: r.range(-0.04, 0.04),
                    blur_radius: 1,
                    noise: r.range(6.0, 12.0),
                    contrast: r.range(0.6, 0.85),
                    glare: r.range(0.0, 50.0),
                    glare_at: (r.range(0.2, 0.8), r.range(0.2, 0.8)),
                    glare_radius: r.range(0.15, 0.3),
                    shading: r.range(0.0, 0.25),
                    inverted: r.next().is_multiple_of(5),
                    texture: r.range(0.3, 1.0),
                    seed,
                }
            }
            Level::Harsh => {
                let code_fraction = r.range(0.45, 0.9);
                let room = (1.0 - code_fraction) / 2.0;
                Distortion {
                    width,
                    height,
                    code_fraction,
                    offset: (r.range(-0.15, 0.15), r.range(-room, room) * 0.8),
                    angle_deg: r.range(-45.0, 45.0),
                    perspective: sign(&mut r) * r.range(0.08, 0.18),
                    perspective_y: sign(&mut r) * r.range(0.04, 0.12),
                    blur_radius: 2,
                    noise: r.range(16.0, 26.0),
                    contrast: r.range(0.35, 0.55),
                    glare: r.range(50.0, 110.0),
                    glare_at: (r.range(0.3, 0.7), r.range(0.3, 0.7)),
                    glare_radius: r.range(0.15, 0.3),
                    shading: r.range(0.2, 0.5),
                    inverted: r.next().is_multiple_of(4),
                    texture: 1.0,
                    seed,
                }
            }
        }
    }

    /// Pixels per module of a code of `modules` modules (quiet zone included) in this frame.
    pub fn pixels_per_module(&self, modules: u32) -> f32 {
        self.height as f32 * self.code_fraction / modules as f32
    }
}

/// xorshift64: small, deterministic, good enough for test images.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        for _ in 0..4 {
            r.next();
        }
        r
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }
}

/// A 3x3 projective transform, row-major.
type Homography = [[f32; 3]; 3];

/// The transform taking the unit square's corners (0,0), (1,0), (1,1), (0,1) to `quad` (Heckbert's closed form).
fn square_to_quad(quad: [(f32, f32); 4]) -> Homography {
    let [(x0, y0), (x1, y1), (x2, y2), (x3, y3)] = quad;
    let (sx, sy) = (x0 - x1 + x2 - x3, y0 - y1 + y2 - y3);
    let (dx1, dx2, dy1, dy2) = (x1 - x2, x3 - x2, y1 - y2, y3 - y2);
    let den = dx1 * dy2 - dx2 * dy1;
    let g = (sx * dy2 - dx2 * sy) / den;
    let h = (dx1 * sy - sx * dy1) / den;
    [[x1 - x0 + g * x1, x3 - x0 + h * x3, x0], [y1 - y0 + g * y1, y3 - y0 + h * y3, y0], [g, h, 1.0]]
}

/// The inverse transform (adjugate; the scale does not matter for a homography).
fn invert(m: &Homography) -> Homography {
    let [[a, b, c], [d, e, f], [g, h, i]] = *m;
    [
        [e * i - f * h, c * h - b * i, b * f - c * e],
        [f * g - d * i, a * i - c * g, c * d - a * f],
        [d * h - e * g, b * g - a * h, a * e - b * d],
    ]
}

/// The code's four corners in the frame (clockwise from top-left, before the code is drawn).
fn code_quad(d: &Distortion) -> [(f32, f32); 4] {
    let (w, h) = (d.width as f32, d.height as f32);
    let half = h * d.code_fraction / 2.0;
    let (cx, cy) = (w / 2.0 + d.offset.0 * w, h / 2.0 + d.offset.1 * h);
    let (sin, cos) = d.angle_deg.to_radians().sin_cos();
    // Keystone: the left (right) side's half-height shrinks by perspective/2, the top (bottom) side's half-width
    // by perspective_y/2; each corner is the product of both.
    let left = 1.0 - d.perspective.max(0.0);
    let right = 1.0 + d.perspective.min(0.0);
    let top = 1.0 - d.perspective_y.max(0.0);
    let bottom = 1.0 + d.perspective_y.min(0.0);
    let corners = [(-top, -left), (top, -right), (bottom, right), (-bottom, left)];
    corners.map(|(sx, sy)| {
        let (x, y) = (sx * half, sy * half);
        (cx + cos * x - sin * y, cy + sin * x + cos * y)
    })
}

/// Background brightness outside the code: flat grey blended with a texture of stripes, blotches and a few dark
/// bars (text, a phone's edge) by `d.texture`.
fn background(d: &Distortion) -> impl Fn(f32, f32) -> f32 {
    let mut r = Rng::new(d.seed ^ 0x5bd1_e995);
    let (fx, fy, phase) = (r.range(0.01, 0.05), r.range(0.01, 0.05), r.range(0.0, std::f32::consts::TAU));
    let (w, h) = (d.width as f32, d.height as f32);
    let bars: Vec<(f32, f32, f32, f32, f32)> = (0..8)
        .map(|_| {
            let (x, y) = (r.range(0.0, w), r.range(0.0, h));
            let (bw, bh) = if r.next() & 1 == 0 { (r.range(20.0, 120.0), r.range(4.0, 14.0)) } else { (6.0, h) };
            (x, y, bw, bh, r.range(40.0, 110.0))
        })
        .collect();
    let texture = d.texture;
    move |x, y| {
        let stripes = 30.0 * (x * fx + phase).sin() * (y * fy).cos();
        let blotch = 25.0 * ((x * 0.007 + y * 0.011 + phase).sin() + (x * 0.013 - y * 0.005).cos()) / 2.0;
        let mut v = 175.0 + stripes + blotch;
        for &(bx, by, bw, bh, level) in &bars {
            if x >= bx && x < bx + bw && y >= by && y < by + bh {
                v = level;
            }
        }
        200.0 * (1.0 - texture) + v * texture
    }
}

/// Render `qr` (dark modules on white, quiet zone included) into a distorted frame.
pub fn camera_frame(qr: &GrayImage, d: &Distortion) -> GrayImage {
    let (w, h) = (d.width as f32, d.height as f32);
    let qsize = qr.width() as f32;
    let to_code = invert(&square_to_quad(code_quad(d)));
    let scene = background(d);
    let mut frame = GrayImage::from_fn(d.width, d.height, |x, y| {
        let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
        let [[a, b, c], [e, f, g], [i, j, k]] = to_code;
        let z = i * px + j * py + k;
        let (u, v) = ((a * px + b * py + c) / z * qsize - 0.5, (e * px + f * py + g) / z * qsize - 0.5);
        let value = if u < 0.0 || v < 0.0 || u >= qsize - 1.0 || v >= qsize - 1.0 {
            scene(px, py)
        } else if d.inverted {
            // A dark-mode screen: light modules on a near-black background.
            20.0 + (255.0 - bilinear(qr, u, v)) * 0.85
        } else {
            bilinear(qr, u, v)
        };
        image::Luma([value.clamp(0.0, 255.0) as u8])
    });
    let mut rng = Rng::new(d.seed);
    if d.blur_radius > 0 {
        frame = box_blur(&frame, d.blur_radius);
        // Sensor noise as a camera's processing leaves it: mostly grain spread over a few pixels (added before the
        // last blur pass, at three times the amplitude since a 3x3 box divides it by three), the rest per pixel.
        for p in frame.pixels_mut() {
            let grain = (rng.unit() * 2.0 - 1.0) * d.noise * 3.0 * 0.8;
            p.0[0] = (f32::from(p.0[0]) + grain).clamp(0.0, 255.0) as u8;
        }
        frame = box_blur(&frame, d.blur_radius);
    }
    let (gx, gy, gr) = (w * d.glare_at.0, h * d.glare_at.1, h * d.glare_radius);
    for (x, y, p) in frame.enumerate_pixels_mut() {
        let base = f32::from(p.0[0]);
        let contrasted = 128.0 + (base - 128.0) * d.contrast;
        let lit = contrasted * (1.0 - d.shading * x as f32 / w);
        let dist2 = ((x as f32 - gx).powi(2) + (y as f32 - gy).powi(2)) / (gr * gr);
        let glare = d.glare * (-dist2).exp();
        let noise = (rng.unit() * 2.0 - 1.0) * d.noise * if d.blur_radius > 0 { 0.4 } else { 1.0 };
        p.0[0] = (lit + glare + noise).clamp(0.0, 255.0) as u8;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_homography_maps_the_square_onto_the_quad() {
        let quad = [(10.0, 20.0), (110.0, 25.0), (105.0, 130.0), (5.0, 115.0)];
        let m = square_to_quad(quad);
        let apply = |m: &Homography, x: f32, y: f32| {
            let z = m[2][0] * x + m[2][1] * y + m[2][2];
            ((m[0][0] * x + m[0][1] * y + m[0][2]) / z, (m[1][0] * x + m[1][1] * y + m[1][2]) / z)
        };
        for ((u, v), (x, y)) in [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)].into_iter().zip(quad) {
            let (px, py) = apply(&m, u, v);
            assert!((px - x).abs() < 1e-3 && (py - y).abs() < 1e-3, "{u},{v} -> {px},{py}, expected {x},{y}");
            let (bu, bv) = apply(&invert(&m), x, y);
            assert!((bu - u).abs() < 1e-4 && (bv - v).abs() < 1e-4);
        }
    }

    #[test]
    fn sampled_frames_are_deterministic() {
        let qr = GrayImage::from_fn(40, 40, |x, y| image::Luma([if (x / 4 + y / 4) % 2 == 0 { 0 } else { 255 }]));
        let d = Distortion::sampled(160, 120, Level::Harsh, 7);
        assert_eq!(camera_frame(&qr, &d), camera_frame(&qr, &Distortion::sampled(160, 120, Level::Harsh, 7)));
        assert_ne!(camera_frame(&qr, &d), camera_frame(&qr, &Distortion::sampled(160, 120, Level::Harsh, 8)));
    }
}
