//! QR rendering: PNG, SVG and terminal (Unicode half blocks), at a chosen error-correction level.

use qrcode::{Color, EcLevel};

use crate::Error;

/// QR error-correction level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ecc {
    /// ~7 % recovery.
    L,
    /// ~15 % recovery.
    M,
    /// ~25 % recovery: Huren's default, good for screens and worn paper.
    Q,
    /// ~30 % recovery.
    H,
}

impl std::str::FromStr for Ecc {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "L" | "l" => Ok(Ecc::L),
            "M" | "m" => Ok(Ecc::M),
            "Q" | "q" => Ok(Ecc::Q),
            "H" | "h" => Ok(Ecc::H),
            _ => Err(Error::Invalid(format!("{s:?} is not an ECC level (L, M, Q, H)"))),
        }
    }
}

/// Quiet zone around the code, in modules (the QR standard asks for 4).
pub const QUIET_ZONE: u32 = 4;
/// Largest scale accepted by [`QrSymbol::to_image`]: 64 pixels per module (an 11840-pixel version-40 image).
pub const MAX_MODULE_PX: u32 = 64;

/// An encoded QR symbol.
pub struct QrSymbol {
    code: qrcode::QrCode,
}

impl std::fmt::Debug for QrSymbol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QrSymbol(version {}, {} modules)", self.version(), self.width())
    }
}

impl QrSymbol {
    /// Encode `text` in the smallest QR version that holds it at `ecc`.
    pub fn new(text: &str, ecc: Ecc) -> Result<Self, Error> {
        let level = match ecc {
            Ecc::L => EcLevel::L,
            Ecc::M => EcLevel::M,
            Ecc::Q => EcLevel::Q,
            Ecc::H => EcLevel::H,
        };
        let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), level)
            .map_err(|e| Error::Render(e.to_string()))?;
        Ok(QrSymbol { code })
    }

    /// The QR version (1 to 40).
    pub fn version(&self) -> i16 {
        match self.code.version() {
            qrcode::Version::Normal(v) | qrcode::Version::Micro(v) => v,
        }
    }

    /// Modules per side.
    pub fn width(&self) -> usize {
        self.code.width()
    }

    /// Whether the module at (x, y) is dark (`false` outside the symbol).
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.width() && y < self.width() && self.code[(x, y)] == Color::Dark
    }

    /// Render to an 8-bit grey image: `module_px` pixels per module (clamped to 1..=[`MAX_MODULE_PX`]), with the
    /// standard quiet zone.
    pub fn to_image(&self, module_px: u32) -> image::GrayImage {
        let module_px = module_px.clamp(1, MAX_MODULE_PX);
        let modules = u32::try_from(self.width()).unwrap_or(177);
        let side = (modules + 2 * QUIET_ZONE) * module_px;
        let module_index = |v: u32| usize::try_from(v / module_px - QUIET_ZONE).unwrap_or(0);
        image::GrayImage::from_fn(side, side, |x, y| {
            let (mx, my) = (x / module_px, y / module_px);
            let inside =
                (QUIET_ZONE..QUIET_ZONE + modules).contains(&mx) && (QUIET_ZONE..QUIET_ZONE + modules).contains(&my);
            let dark = inside && self.is_dark(module_index(x), module_index(y));
            image::Luma([if dark { 0 } else { 255 }])
        })
    }

    /// Render to PNG bytes.
    pub fn to_png(&self, module_px: u32) -> Result<Vec<u8>, Error> {
        let mut out = std::io::Cursor::new(Vec::new());
        self.to_image(module_px)
            .write_to(&mut out, image::ImageFormat::Png)
            .map_err(|e| Error::Render(e.to_string()))?;
        Ok(out.into_inner())
    }

    /// Render to an SVG document.
    pub fn to_svg(&self) -> String {
        self.code.render::<qrcode::render::svg::Color<'_>>().quiet_zone(true).min_dimensions(256, 256).build()
    }

    /// Render for a terminal with Unicode half blocks (two modules per character cell), dark on light.
    pub fn to_terminal(&self) -> String {
        self.code
            .render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_in_all_formats() {
        let qr = QrSymbol::new("HR1:ABC", Ecc::Q).unwrap();
        assert_eq!(qr.version(), 1);
        assert_eq!(qr.width(), 21);
        let img = qr.to_image(3);
        assert_eq!(img.width(), (21 + 8) * 3);
        // the top-left finder pattern starts dark right after the quiet zone
        assert_eq!(img.get_pixel(4 * 3, 4 * 3).0, [0]);
        assert_eq!(img.get_pixel(0, 0).0, [255]);
        assert!(qr.to_png(2).unwrap().starts_with(b"\x89PNG"));
        assert!(qr.to_svg().contains("<svg"));
        assert_eq!(qr.to_image(u32::MAX).width(), 29 * MAX_MODULE_PX, "scale clamped, no overflow");
        assert_eq!(qr.to_image(0).width(), 29);
        assert!(qr.to_terminal().contains('█'));
    }

    #[test]
    fn text_too_long_for_any_version_is_an_error() {
        assert!(matches!(QrSymbol::new(&"A".repeat(5000), Ecc::Q), Err(Error::Render(_))));
    }
}
