//! Image decoding (with size limits checked from the header, before any
//! pixel is decoded, and EXIF orientation applied) and encoding, by concern:
//! - `limits`: what a photo may cost in memory, from its header, and the
//!   limits its decoder runs under;
//! - `decode`: the decoders under those limits, and their errors;
//! - `complete`: whether a file holds all of its image data (truncation),
//!   from its structure alone;
//! - `encode`: the result image, from its pixels;
//! - `recode`: the result of a JPEG upload, from the upload's own DCT
//!   coefficients, only the blocks drawn on coded afresh; reading it with
//!   `baseline` (the frame and tables), `huffman` (entropy coding both ways)
//!   and `fdct` (the forward DCT).

mod baseline;
mod complete;
mod decode;
mod encode;
mod fdct;
#[cfg(test)]
mod fixtures;
mod huffman;
mod limits;
mod recode;

pub use complete::check_complete;
pub use encode::encode;
pub use limits::{PhotoHeader, MEMORY_BUDGET, METADATA_ALLOWANCE};
pub use recode::Rect;

use crate::error::ApiError;
use decode::{decode, Bounds};
use image::{DynamicImage, ImageReader, RgbImage, RgbaImage};
use limits::header_limits;
use std::io::Cursor;

/// Largest photo accepted: 40 megapixels, 16,384 px a side.
pub const MAX_PIXELS: u64 = 40_000_000;
pub const MAX_SIDE: u32 = 16_384;
/// Overlays are drawn at most a few hundred pixels wide; 4096 is plenty.
pub const MAX_OVERLAY_SIDE: u32 = 4096;
pub const JPEG_QUALITY: u8 = 90;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Jpeg,
    Png,
}

impl OutputFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "image/jpeg",
            OutputFormat::Png => "image/png",
        }
    }
}

/// Decode a photo to upright RGB, refusing it (413) if it would need more
/// than `MEMORY_BUDGET` to decode and process for `output` (None: detect).
pub fn decode_photo(bytes: &[u8], output: Option<OutputFormat>) -> Result<RgbImage, ApiError> {
    Ok(decode_upload(bytes, output)?.image)
}

/// A photo decoded to upright RGB, and whether that turned or flipped it.
pub struct Decoded {
    pub image: RgbImage,
    /// Its EXIF orientation was applied: its pixels are not the stored
    /// ones, so its coefficients cannot be kept (`encode_result`).
    pub reoriented: bool,
}

/// `decode_photo`, saying whether the pixels were turned.
pub fn decode_upload(bytes: &[u8], output: Option<OutputFormat>) -> Result<Decoded, ApiError> {
    let bounds = Bounds { max_side: MAX_SIDE, max_pixels: MAX_PIXELS, what: "photo", budget: Some(output) };
    let decoded = decode(bytes, &bounds, None).map_err(|e| e.into_api(ApiError::BadImage))?;
    let (img, reoriented) = decoded.expect("decoded when not measuring");
    let image = match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        // Transparent areas of a PNG/WebP photo show as white, not black.
        img if img.color().has_alpha() => flatten_on_white(&img.into_rgba8()),
        img => img.into_rgb8(),
    };
    Ok(Decoded { image, reoriented })
}

/// Whether the DCT route reads this upload's coding, and if not, why not
/// (an upload turned by its EXIF orientation also takes the pixel path).
pub fn keeps_coefficients(upload: &[u8]) -> Result<(), &'static str> {
    baseline::parse(upload).map(|_| ())
}

/// Encode the result of `upload`, decoded (`decode_upload`) and drawn on
/// within `changed`. A JPEG answered as JPEG keeps its own coefficients
/// outside `changed` (`recode`) when its pixels were not turned and its
/// coding is one the route reads; any other is encoded from its pixels.
pub fn encode_result(upload: &[u8], decoded: &Decoded, changed: &[Rect], format: OutputFormat) -> Result<Vec<u8>, ApiError> {
    if format == OutputFormat::Jpeg && !decoded.reoriented {
        if let Ok(bytes) = recode::recode(upload, &decoded.image, changed) {
            return Ok(bytes);
        }
    }
    encode(&decoded.image, format)
}

/// What decoding and processing this photo for `output` needs at its peak,
/// its upload included, from its header alone (no pixel is decoded): what
/// the worker reserves from the isolate's memory budget first. Fails as
/// `decode_photo` would for a photo it can tell is bad or too large.
pub fn photo_need(bytes: &[u8], output: Option<OutputFormat>) -> Result<u64, ApiError> {
    let bounds = Bounds { max_side: MAX_SIDE, max_pixels: MAX_PIXELS, what: "photo", budget: Some(output) };
    let mut need = 0;
    decode(bytes, &bounds, Some(&mut need)).map_err(|e| e.into_api(ApiError::BadImage))?;
    Ok(need)
}

/// Decode an uploaded overlay to RGBA (an opaque image gets alpha 255).
pub fn decode_overlay(bytes: &[u8]) -> Result<RgbaImage, ApiError> {
    let side = MAX_OVERLAY_SIDE;
    let bounds = Bounds { max_side: side, max_pixels: side as u64 * side as u64, what: "overlay", budget: None };
    let img = decode(bytes, &bounds, None).map_err(|e| e.into_api(ApiError::BadOverlay))?;
    Ok(img.expect("decoded when not measuring").0.into_rgba8())
}

/// What an uploaded overlay holds while it is used: its bytes, its decoded
/// pixels and their RGBA copy, up to 16 bytes a pixel. 0 when its header
/// cannot be read (`decode_overlay` then refuses it before decoding).
pub fn overlay_need(bytes: &[u8]) -> u64 {
    let dims = ImageReader::new(Cursor::new(bytes)).with_guessed_format().ok().and_then(|mut r| {
        r.limits(header_limits(MAX_SIDE, bytes.len()));
        r.into_dimensions().ok()
    });
    dims.map_or(0, |(w, h)| {
        let side = MAX_OVERLAY_SIDE as u64;
        bytes.len() as u64 + (w as u64).min(side) * (h as u64).min(side) * 16
    })
}

fn flatten_on_white(rgba: &RgbaImage) -> RgbImage {
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = p[3] as u32;
        let mix = |c: u8| ((c as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
        image::Rgb([mix(p[0]), mix(p[1]), mix(p[2])])
    })
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;

    #[test]
    fn decodes_png_to_rgb_and_flattens_alpha_on_white() {
        let mut rgba = RgbaImage::new(3, 2);
        rgba.put_pixel(0, 0, image::Rgba([255, 0, 0, 255]));
        let img = decode_photo(&png(&DynamicImage::ImageRgba8(rgba)), None).unwrap();
        assert_eq!(img.dimensions(), (3, 2));
        assert_eq!(img.get_pixel(0, 0).0, [255, 0, 0]);
        assert_eq!(img.get_pixel(1, 1).0, [255, 255, 255]);
    }

    #[test]
    fn garbage_is_bad_image_and_bad_overlay() {
        assert_eq!(decode_photo(b"hello, I am text", None).unwrap_err().code(), "bad_image");
        assert_eq!(decode_overlay(b"hello, I am text").unwrap_err().code(), "bad_overlay");
        let mut truncated = png(&DynamicImage::new_rgb8(64, 64));
        truncated.truncate(truncated.len() / 2);
        let err = decode_photo(&truncated, None).unwrap_err();
        assert_eq!(err.code(), "bad_image");
        assert!(err.detail().contains("truncated"), "{err}");
    }
}
