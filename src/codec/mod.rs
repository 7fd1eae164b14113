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
//!   and `fdct` (the forward DCT);
//! - `blocks` and `coded`: a JPEG upload read once into its coefficients,
//!   and made into pixels only where and at the scale each stage needs.

mod baseline;
mod blocks;
mod coded;
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
pub use coded::{Canvas, Coded};
pub use recode::Rect;

use crate::error::ApiError;
use crate::preprocess::{Crop, Letterbox, Source};
use decode::{decode, Bounds, Image};
use image::{DynamicImage, ImageReader, Rgb, RgbImage, RgbaImage};
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
    match decode_with(bytes, output, false)? {
        Decoded::Pixels { image, .. } => Ok(image),
        Decoded::Coded(_) => unreachable!("asked for pixels"),
    }
}

/// A photo as the pipeline takes it: every pixel, upright, or a JPEG's
/// coefficients (`Coded`: a baseline JPEG stored upright, large enough to
/// be seen smaller, detected on or answered as JPEG).
pub enum Decoded {
    Pixels {
        image: RgbImage,
        /// Its EXIF orientation was applied: its pixels are not the stored
        /// ones, so its coefficients cannot be kept (`encode_result`).
        reoriented: bool,
    },
    Coded(Coded),
}

/// `decode_photo`, or the photo's coefficients where the pipeline can use
/// them.
pub fn decode_upload(bytes: &[u8], output: Option<OutputFormat>) -> Result<Decoded, ApiError> {
    decode_with(bytes, output, output != Some(OutputFormat::Png))
}

fn decode_with(bytes: &[u8], output: Option<OutputFormat>, coded: bool) -> Result<Decoded, ApiError> {
    let bounds = Bounds { max_side: MAX_SIDE, max_pixels: MAX_PIXELS, what: "photo", budget: Some(output), coded };
    let decoded = decode(bytes, &bounds, None).map_err(|e| e.into_api(ApiError::BadImage))?;
    Ok(match decoded.expect("decoded when not measuring") {
        Image::Coded(blocks, orientation) => Decoded::Coded(Coded::new(blocks, limits::DETECTOR_SIDE as u32, orientation)),
        Image::Pixels(img, reoriented) => Decoded::Pixels { image: rgb_of(img), reoriented },
    })
}

fn rgb_of(img: DynamicImage) -> RgbImage {
    match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        // Transparent areas of a PNG/WebP photo show as white, not black.
        img if img.color().has_alpha() => flatten_on_white(&img.into_rgba8()),
        img => img.into_rgb8(),
    }
}

impl Decoded {
    /// What the glasses are drawn on: the photo, or for a coded one the
    /// parts of it they cover (`parts`, photo pixels) at full size. Parts
    /// over a quarter of the photo are made from every pixel instead,
    /// decoded again from the upload: the memory estimate allows no more.
    /// So would be a coded photo stored turned or flipped, whose stored
    /// blocks are not the answer's (`decode` codes one only to detect).
    pub fn canvas(self, upload: &[u8], parts: &[Rect]) -> Result<Canvas, ApiError> {
        match self {
            Decoded::Pixels { image, reoriented } => Ok(Canvas::Whole { image, reoriented }),
            Decoded::Coded(coded) => {
                let (w, h) = coded.dimensions();
                let area: u64 = parts.iter().map(|r| (r[2].saturating_sub(r[0]) as u64 + 32) * (r[3].saturating_sub(r[1]) as u64 + 32)).sum();
                let reoriented = coded.reoriented();
                if !reoriented && area <= limits::parts_cap(w as u64 * h as u64) {
                    return Ok(coded.canvas(parts));
                }
                drop(coded);
                let image = decode_photo(upload, Some(OutputFormat::Jpeg))?;
                Ok(Canvas::Whole { image, reoriented })
            }
        }
    }
}

impl Source for Decoded {
    fn dimensions(&self) -> (u32, u32) {
        match self {
            Decoded::Pixels { image, .. } => image.dimensions(),
            Decoded::Coded(c) => c.dimensions(),
        }
    }

    fn letterbox(&self, size: u32, pad: u8) -> (RgbImage, Letterbox) {
        match self {
            Decoded::Pixels { image, .. } => image.letterbox(size, pad),
            Decoded::Coded(c) => c.letterbox(size, pad),
        }
    }

    fn crop_square(&self, crop: Crop, size: u32, pad: u8) -> (RgbImage, Crop) {
        match self {
            Decoded::Pixels { image, .. } => Source::crop_square(image, crop, size, pad),
            Decoded::Coded(c) => c.crop_square(crop, size, pad),
        }
    }

    fn face_crop(&self, crop: Crop, size: u32, pad: u8) -> (RgbImage, Crop) {
        match self {
            Decoded::Pixels { image, .. } => image.face_crop(crop, size, pad),
            Decoded::Coded(c) => c.face_crop(crop, size, pad),
        }
    }
}

/// Pixels by photo coordinates, to draw on (`overlay`) and encode from:
/// the whole photo, or the parts of it that are drawn on (`Canvas`).
pub trait Paint {
    fn dimensions(&self) -> (u32, u32);
    fn pixel(&self, x: u32, y: u32) -> Rgb<u8>;
    fn pixel_mut(&mut self, x: u32, y: u32) -> &mut Rgb<u8>;
}

impl Paint for RgbImage {
    fn dimensions(&self) -> (u32, u32) {
        RgbImage::dimensions(self)
    }
    fn pixel(&self, x: u32, y: u32) -> Rgb<u8> {
        *self.get_pixel(x, y)
    }
    fn pixel_mut(&mut self, x: u32, y: u32) -> &mut Rgb<u8> {
        self.get_pixel_mut(x, y)
    }
}

impl Paint for Canvas {
    fn dimensions(&self) -> (u32, u32) {
        Canvas::dimensions(self)
    }
    fn pixel(&self, x: u32, y: u32) -> Rgb<u8> {
        Canvas::pixel(self, x, y)
    }
    fn pixel_mut(&mut self, x: u32, y: u32) -> &mut Rgb<u8> {
        Canvas::pixel_mut(self, x, y)
    }
}

/// Whether the DCT route reads this upload's coding, and if not, why not
/// (an upload turned by its EXIF orientation also takes the pixel path).
pub fn keeps_coefficients(upload: &[u8]) -> Result<(), &'static str> {
    baseline::parse(upload).map(|_| ())
}

/// Encode the result of `upload`, drawn on (`Decoded::canvas`) within
/// `changed`. A JPEG answered as JPEG keeps its own coefficients outside
/// `changed` (`recode`) when its pixels were not turned and its coding is
/// one the route reads; any other is encoded from its pixels.
pub fn encode_result(upload: &[u8], canvas: &Canvas, changed: &[Rect], format: OutputFormat) -> Result<Vec<u8>, ApiError> {
    match canvas {
        Canvas::Whole { image, reoriented } => {
            if format == OutputFormat::Jpeg && !reoriented {
                if let Ok(bytes) = recode::recode(upload, image, changed) {
                    return Ok(bytes);
                }
            }
            encode(image, format)
        }
        Canvas::Parts { parts, coded, .. } => {
            if format == OutputFormat::Jpeg {
                if let Ok(bytes) = recode::recode_blocks(coded.blocks(), upload.len(), canvas, changed) {
                    return Ok(bytes);
                }
            }
            // Not expected (the route read this upload already): every
            // pixel again, with what was drawn.
            let mut image = decode_photo(upload, Some(format))?;
            for (r, part) in parts {
                image::imageops::replace(&mut image, part, r[0] as i64, r[1] as i64);
            }
            encode(&image, format)
        }
    }
}

/// What decoding and processing this photo for `output` needs at its peak,
/// its upload included, from its header alone (no pixel is decoded): what
/// the worker reserves from the isolate's memory budget first. Fails as
/// `decode_photo` would for a photo it can tell is bad or too large.
pub fn photo_need(bytes: &[u8], output: Option<OutputFormat>) -> Result<u64, ApiError> {
    let bounds = Bounds { max_side: MAX_SIDE, max_pixels: MAX_PIXELS, what: "photo", budget: Some(output), coded: output != Some(OutputFormat::Png) };
    let mut need = 0;
    decode(bytes, &bounds, Some(&mut need)).map_err(|e| e.into_api(ApiError::BadImage))?;
    Ok(need)
}

/// Decode an uploaded overlay to RGBA (an opaque image gets alpha 255).
pub fn decode_overlay(bytes: &[u8]) -> Result<RgbaImage, ApiError> {
    let side = MAX_OVERLAY_SIDE;
    let bounds = Bounds { max_side: side, max_pixels: side as u64 * side as u64, what: "overlay", budget: None, coded: false };
    match decode(bytes, &bounds, None).map_err(|e| e.into_api(ApiError::BadOverlay))? {
        Some(Image::Pixels(img, _)) => Ok(img.into_rgba8()),
        _ => unreachable!("decoded to pixels when not measuring"),
    }
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
