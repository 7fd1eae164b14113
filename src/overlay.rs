//! Sunglasses: the built-in styles (drawn from shapes by `styles`, at build
//! time) and the transform that scales, rotates and alpha-blends an
//! overlay onto a photo so its lenses sit on the cat's eyes.
//!
//! Blending works on premultiplied alpha throughout, so resampling never
//! drags the colour of transparent pixels into the edges (no dark fringes).

use crate::codec::Paint;
use crate::error::ApiError;
use crate::styles::{self, STYLE_H, STYLE_W};
use image::RgbaImage;
use std::sync::OnceLock;

/// An overlay ready to draw: premultiplied RGBA, plus the points in it that
/// go on the left and right eye.
#[derive(Debug, Clone)]
pub struct Overlay {
    premul: RgbaImage,
    left: (f32, f32),
    right: (f32, f32),
}

pub use crate::styles::STYLES;
pub const DEFAULT_STYLE: &str = "classic";

impl Overlay {
    /// An uploaded PNG: assumed to be a pair of glasses whose lenses are
    /// centred at a quarter and three quarters of its width (as the
    /// tutorial's overlays are), so it is drawn twice the eye distance wide.
    pub fn from_rgba(img: RgbaImage) -> Overlay {
        let (w, h) = (img.width() as f32, img.height() as f32);
        Overlay { premul: premultiply(img), left: (0.25 * w, 0.5 * h), right: (0.75 * w, 0.5 * h) }
    }

    pub fn size(&self) -> (u32, u32) {
        self.premul.dimensions()
    }
}

/// A built-in style by name (case-insensitive).
pub fn builtin(style: &str) -> Result<&'static Overlay, ApiError> {
    static CACHE: [OnceLock<Overlay>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let style = style.trim().to_ascii_lowercase();
    let index = STYLES.iter().position(|s| *s == style).ok_or_else(|| {
        // The value is uploaded text (up to the body limit): echo it only
        // when it is short and plain.
        let plain = style.len() <= 32 && style.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let shown = if plain { format!("`{style}`") } else { "given".to_string() };
        ApiError::BadRequest(format!("unknown style {shown}; built-in styles: {}", STYLES.join(", ")))
    })?;
    Ok(CACHE[index].get_or_init(|| {
        let (left, right) = styles::eye_points();
        let premul = RgbaImage::from_raw(STYLE_W, STYLE_H, DRAWN[index].to_vec()).expect("build.rs draws W × H RGBA");
        Overlay { premul, left, right }
    }))
}

/// The built-in styles as build.rs drew them (`styles::render`), in the
/// order of `STYLES` (a test checks it): premultiplied RGBA, `STYLE_W` ×
/// `STYLE_H`.
static DRAWN: [&[u8]; 3] = [
    include_bytes!(concat!(env!("OUT_DIR"), "/style-classic.rgba")),
    include_bytes!(concat!(env!("OUT_DIR"), "/style-aviator.rgba")),
    include_bytes!(concat!(env!("OUT_DIR"), "/style-round.rgba")),
];

fn premultiply(mut img: RgbaImage) -> RgbaImage {
    for p in img.pixels_mut() {
        let a = p[3] as u32;
        for c in 0..3 {
            p[c] = ((p[c] as u32 * a + 127) / 255) as u8;
        }
    }
    img
}

/// Draw `overlay` on `photo` with its eye points on `left_eye`/`right_eye`
/// (photo pixels). Parts outside the photo are clipped. Returns the box of
/// the pixels it drew on (x0, y0, x1, y1, none outside it; None: none), so
/// that the encoder can keep the rest as it was.
pub fn draw(photo: &mut (impl Paint + ?Sized), overlay: &Overlay, left_eye: (f32, f32), right_eye: (f32, f32)) -> Option<[u32; 4]> {
    Placement::new(overlay, left_eye, right_eye, photo.dimensions())?.draw(photo)
}

/// `img` (premultiplied RGBA) shrunk to `w` × `h` by the antialiased
/// bilinear convolution, as the models' inputs are (`preprocess::bilinear`).
fn shrink_premultiplied(img: &RgbaImage, w: u32, h: u32) -> RgbaImage {
    use fast_image_resize as fir;
    let src = fir::images::ImageRef::new(img.width(), img.height(), img.as_raw(), fir::PixelType::U8x4).expect("an RGBA buffer");
    let out = crate::preprocess::bilinear(&mut fir::Resizer::new(), &src, w, h);
    RgbaImage::from_raw(w, h, out.into_vec()).expect("w × h RGBA")
}

/// An overlay placed on a photo: scaled, turned and where. Its `bounds`
/// are known before it is drawn, so that only they need pixels.
pub struct Placement<'a> {
    src: std::borrow::Cow<'a, RgbaImage>,
    anchor: (f32, f32),
    left_eye: (f32, f32),
    scale: f32,
    sin: f32,
    cos: f32,
    /// The photo pixels it may draw on: x0, y0, x1, y1.
    pub bounds: [u32; 4],
}

impl<'a> Placement<'a> {
    /// None: the eyes are too close together, or it misses the photo.
    pub fn new(overlay: &'a Overlay, left_eye: (f32, f32), right_eye: (f32, f32), photo: (u32, u32)) -> Option<Placement<'a>> {
        let (dx, dy) = (right_eye.0 - left_eye.0, right_eye.1 - left_eye.1);
        let (odx, ody) = (overlay.right.0 - overlay.left.0, overlay.right.1 - overlay.left.1);
        let (photo_dist, over_dist) = (dx.hypot(dy), odx.hypot(ody));
        if photo_dist < 1.0 || over_dist < 1.0 || !photo_dist.is_finite() {
            return None;
        }
        let mut scale = photo_dist / over_dist;
        let angle = dy.atan2(dx) - ody.atan2(odx);

        // Shrink a large overlay once with a proper filter; bilinear sampling
        // alone would alias when scaling down.
        let (src, anchor) = if scale < 0.9 {
            let (w, h) = overlay.size();
            let (nw, nh) = (((w as f32 * scale).round() as u32).max(1), ((h as f32 * scale).round() as u32).max(1));
            let shrunk = shrink_premultiplied(&overlay.premul, nw, nh);
            let (sx, sy) = (nw as f32 / w as f32, nh as f32 / h as f32);
            scale /= sx;
            (std::borrow::Cow::Owned(shrunk), (overlay.left.0 * sx, overlay.left.1 * sy))
        } else {
            (std::borrow::Cow::Borrowed(&overlay.premul), overlay.left)
        };

        // photo = left_eye + scale * R(angle) * (o - anchor); invert per pixel.
        let (sin, cos) = angle.sin_cos();
        let to_photo = |ox: f32, oy: f32| {
            let (ux, uy) = (ox - anchor.0, oy - anchor.1);
            (left_eye.0 + scale * (cos * ux - sin * uy), left_eye.1 + scale * (sin * ux + cos * uy))
        };
        let (sw, sh) = (src.width() as f32, src.height() as f32);
        let corners = [to_photo(0.0, 0.0), to_photo(sw, 0.0), to_photo(0.0, sh), to_photo(sw, sh)];
        let min_x = corners.iter().map(|c| c.0).fold(f32::INFINITY, f32::min).floor().max(0.0);
        let min_y = corners.iter().map(|c| c.1).fold(f32::INFINITY, f32::min).floor().max(0.0);
        let max_x = corners.iter().map(|c| c.0).fold(f32::NEG_INFINITY, f32::max).ceil().min(photo.0 as f32);
        let max_y = corners.iter().map(|c| c.1).fold(f32::NEG_INFINITY, f32::max).ceil().min(photo.1 as f32);
        if min_x >= max_x || min_y >= max_y {
            return None;
        }
        let bounds = [min_x as u32, min_y as u32, max_x as u32, max_y as u32];
        Some(Placement { src, anchor, left_eye, scale, sin, cos, bounds })
    }

    /// Draws it; the box of the pixels it drew on (the overlay's
    /// transparent margins are not), as `draw`.
    pub fn draw(&self, photo: &mut (impl Paint + ?Sized)) -> Option<[u32; 4]> {
        let (src, anchor, left_eye, inv, sin, cos) = (&*self.src, self.anchor, self.left_eye, 1.0 / self.scale, self.sin, self.cos);
        let [x0, y0, x1, y1] = self.bounds;
        let mut touched = [u32::MAX, u32::MAX, 0, 0];
        for y in y0..y1 {
            for x in x0..x1 {
                let (px, py) = (x as f32 + 0.5 - left_eye.0, y as f32 + 0.5 - left_eye.1);
                let ox = anchor.0 + inv * (cos * px + sin * py);
                let oy = anchor.1 + inv * (-sin * px + cos * py);
                let s = sample(src, ox - 0.5, oy - 0.5);
                if s[3] <= 0.0 {
                    continue;
                }
                touched = [touched[0].min(x), touched[1].min(y), touched[2].max(x + 1), touched[3].max(y + 1)];
                let d = photo.pixel_mut(x, y);
                for c in 0..3 {
                    let v = s[c] + d[c] as f32 * (1.0 - s[3] / 255.0);
                    d[c] = v.round().clamp(0.0, 255.0) as u8;
                }
            }
        }
        (touched[0] < touched[2]).then_some(touched)
    }
}

/// Bilinear sample of a premultiplied image; outside is transparent.
fn sample(img: &RgbaImage, x: f32, y: f32) -> [f32; 4] {
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (w, h) = (img.width() as i64, img.height() as i64);
    let mut out = [0.0f32; 4];
    for (ix, iy, wgt) in [
        (x0 as i64, y0 as i64, (1.0 - fx) * (1.0 - fy)),
        (x0 as i64 + 1, y0 as i64, fx * (1.0 - fy)),
        (x0 as i64, y0 as i64 + 1, (1.0 - fx) * fy),
        (x0 as i64 + 1, y0 as i64 + 1, fx * fy),
    ] {
        if ix < 0 || iy < 0 || ix >= w || iy >= h || wgt == 0.0 {
            continue;
        }
        let p = img.get_pixel(ix as u32, iy as u32);
        for c in 0..4 {
            out[c] += p[c] as f32 * wgt;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgba, RgbImage};

    #[test]
    fn builtin_styles_are_the_shapes_drawn_in_their_order() {
        for (style, drawn) in STYLES.iter().zip(DRAWN) {
            assert!(styles::render(style) == drawn, "{style}: build.rs drew another picture");
        }
    }

    #[test]
    fn every_builtin_style_renders_lenses_on_its_eye_points() {
        for style in STYLES {
            let o = builtin(style).unwrap();
            for (x, y) in [o.left, o.right] {
                let p = o.premul.get_pixel(x as u32, y as u32);
                assert!(p[3] > 120, "{style}: lens at ({x},{y}) is not opaque enough: {p:?}");
            }
            // Corners stay transparent.
            assert_eq!(o.premul.get_pixel(0, STYLE_H - 1)[3], 0, "{style}");
        }
        assert_eq!(builtin("nope").unwrap_err().code(), "bad_request");
        assert!(builtin("nope").unwrap_err().detail().contains("`nope`"));
        assert!(builtin(" Aviator ").is_ok());
        // Long or odd uploaded text is not echoed back.
        let long = "x".repeat(1000);
        assert!(!builtin(&long).unwrap_err().detail().contains(&long[..33]));
        assert!(!builtin("<script>").unwrap_err().detail().contains("script"));
    }

    #[test]
    fn draw_darkens_the_eyes_and_leaves_far_pixels_alone() {
        let mut photo = RgbImage::from_pixel(400, 300, image::Rgb([240, 240, 240]));
        let o = builtin("classic").unwrap();
        draw(&mut photo, o, (150.0, 150.0), (250.0, 150.0));
        assert!(photo.get_pixel(150, 150)[0] < 120);
        assert!(photo.get_pixel(250, 150)[0] < 120);
        assert_eq!(photo.get_pixel(5, 5).0, [240, 240, 240]);
        assert_eq!(photo.get_pixel(200, 280).0, [240, 240, 240]);
    }

    /// The box `draw` returns holds every pixel it changed (the encoder
    /// keeps the upload's coefficients outside it), and not the overlay's
    /// transparent margins.
    #[test]
    fn the_box_returned_holds_every_changed_pixel() {
        for (style, l, r) in [("classic", (150.0, 150.0), (250.0, 170.0)), ("aviator", (-10.0, 5.0), (30.0, 0.0)), ("round", (120.0, 60.0), (160.0, 240.0))] {
            let before = RgbImage::from_fn(400, 300, |x, y| image::Rgb([(x % 200) as u8 + 20, (y % 200) as u8 + 20, 128]));
            let mut photo = before.clone();
            let b = draw(&mut photo, builtin(style).unwrap(), l, r).unwrap();
            for (x, y, p) in photo.enumerate_pixels() {
                if p != before.get_pixel(x, y) {
                    assert!(x >= b[0] && x < b[2] && y >= b[1] && y < b[3], "{style}: {x},{y} outside {b:?}");
                }
            }
            let (w, h) = builtin(style).unwrap().size();
            let scale = ((r.0 - l.0) as f32).hypot(r.1 - l.1) / (0.5 * w as f32);
            assert!(((b[3] - b[1]) as f32) < scale * w.max(h) as f32, "{style}: {b:?}");
        }
        let mut photo = RgbImage::new(50, 40);
        assert_eq!(draw(&mut photo, builtin("classic").unwrap(), (1e9, 5.0), (f32::NAN, 0.0)), None);
    }

    #[test]
    fn rotation_follows_the_eyes() {
        // Eyes on a vertical line: the glasses must be drawn vertically.
        let mut photo = RgbImage::from_pixel(300, 400, image::Rgb([255, 255, 255]));
        draw(&mut photo, builtin("round").unwrap(), (150.0, 120.0), (150.0, 280.0));
        assert!(photo.get_pixel(150, 120)[0] < 120 && photo.get_pixel(150, 280)[0] < 120);
        assert_eq!(photo.get_pixel(20, 200).0, [255, 255, 255]);
    }

    #[test]
    fn clipped_at_the_border_without_panicking() {
        let mut photo = RgbImage::from_pixel(50, 40, image::Rgb([255, 255, 255]));
        draw(&mut photo, builtin("aviator").unwrap(), (-10.0, 5.0), (30.0, 0.0));
        draw(&mut photo, builtin("aviator").unwrap(), (1e9, 5.0), (f32::NAN, 0.0));
        assert!(photo.pixels().any(|p| p[0] < 200));
    }

    /// Semi-transparent white edges must not turn grey: premultiplied
    /// resampling keeps a white overlay white wherever it covers.
    #[test]
    fn no_dark_fringes_when_shrinking() {
        let mut img = RgbaImage::from_pixel(200, 100, Rgba([0, 0, 0, 0]));
        for y in 25..75 {
            for x in 25..175 {
                img.put_pixel(x, y, Rgba([255, 255, 255, 255]));
            }
        }
        let o = Overlay::from_rgba(img);
        let mut photo = RgbImage::from_pixel(100, 100, image::Rgb([255, 255, 255]));
        draw(&mut photo, &o, (40.0, 50.0), (60.0, 50.0));
        assert!(photo.pixels().all(|p| p.0 == [255, 255, 255]), "white on white stays white");
    }
}
