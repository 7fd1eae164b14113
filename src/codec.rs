//! Image decoding (with size limits checked from the header, before any
//! pixel is decoded, and EXIF orientation applied) and encoding.

use crate::error::ApiError;
use image::codecs::png::PngEncoder;
use image::error::UnsupportedErrorKind;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, RgbImage, RgbaImage};
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

/// What a decoder is asked to do with an image that is too large.
struct Bounds {
    max_side: u32,
    max_pixels: u64,
    what: &'static str,
}

/// Decode a photo to upright RGB.
pub fn decode_photo(bytes: &[u8]) -> Result<RgbImage, ApiError> {
    let bounds = Bounds { max_side: MAX_SIDE, max_pixels: MAX_PIXELS, what: "photo" };
    let img = decode(bytes, &bounds).map_err(|e| e.into_api(ApiError::BadImage))?;
    Ok(match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        // Transparent areas of a PNG/WebP photo show as white, not black.
        img if img.color().has_alpha() => flatten_on_white(&img.into_rgba8()),
        img => img.into_rgb8(),
    })
}

/// Decode an uploaded overlay to RGBA (an opaque image gets alpha 255).
pub fn decode_overlay(bytes: &[u8]) -> Result<RgbaImage, ApiError> {
    let side = MAX_OVERLAY_SIDE;
    let bounds = Bounds { max_side: side, max_pixels: side as u64 * side as u64, what: "overlay" };
    Ok(decode(bytes, &bounds).map_err(|e| e.into_api(ApiError::BadOverlay))?.into_rgba8())
}

enum DecodeError {
    Bad(String),
    TooLarge(String),
}

impl DecodeError {
    fn into_api(self, bad: fn(String) -> ApiError) -> ApiError {
        match self {
            DecodeError::Bad(m) => bad(m),
            DecodeError::TooLarge(m) => ApiError::ImageTooLarge(m),
        }
    }
}

fn decode(bytes: &[u8], bounds: &Bounds) -> Result<DynamicImage, DecodeError> {
    let what = bounds.what;
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| DecodeError::Bad(format!("the {what} could not be read: {e}")))?;
    match reader.format() {
        Some(ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP | ImageFormat::Gif | ImageFormat::Bmp) => {}
        _ => {
            return Err(DecodeError::Bad(format!(
                "the {what} is not a JPEG, PNG, WebP, GIF or BMP image"
            )))
        }
    }
    let mut decoder = reader.into_decoder().map_err(|e| match e {
        // Some decoders refuse huge declared sizes themselves (on wasm32 the
        // png crate does, as the size overflows usize; the BMP decoder says
        // "Image dimensions (…) are too large" as an unsupported feature).
        ImageError::Limits(_) => DecodeError::TooLarge(format!("the {what} is too large to decode: {e}")),
        ImageError::Unsupported(ref u) if declares_too_large(u.kind()) => {
            DecodeError::TooLarge(format!("the {what} is too large to decode: {e}"))
        }
        e => DecodeError::Bad(format!("the {what} could not be decoded: {e}")),
    })?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(DecodeError::Bad(format!("the {what} has no pixels ({w}×{h})")));
    }
    if w > bounds.max_side || h > bounds.max_side || w as u64 * h as u64 > bounds.max_pixels {
        return Err(DecodeError::TooLarge(format!(
            "the {what} is {w}×{h} pixels; the limit is {} px a side and {} megapixels",
            bounds.max_side,
            bounds.max_pixels / 1_000_000
        )));
    }
    // Decoders allocate from declared sizes; cap that too (16-bit RGBA + slack).
    let mut limits = Limits::default();
    limits.max_image_width = Some(bounds.max_side);
    limits.max_image_height = Some(bounds.max_side);
    limits.max_alloc = Some(w as u64 * h as u64 * 8 + (64 << 20));
    decoder
        .set_limits(limits)
        .map_err(|e| DecodeError::TooLarge(format!("the {what} is too large to decode: {e}")))?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder)
        .map_err(|e| DecodeError::Bad(format!("the {what} could not be decoded: {e}")))?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// The image crate's decoders report a size that overflows the address
/// space as this unsupported "feature".
fn declares_too_large(kind: UnsupportedErrorKind) -> bool {
    matches!(kind, UnsupportedErrorKind::GenericFeature(m) if m.starts_with("Image dimensions") && m.ends_with("are too large"))
}

fn flatten_on_white(rgba: &RgbaImage) -> RgbImage {
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y).0;
        let a = p[3] as u32;
        let mix = |c: u8| ((c as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
        image::Rgb([mix(p[0]), mix(p[1]), mix(p[2])])
    })
}

/// Encode the result image.
pub fn encode(img: &RgbImage, format: OutputFormat) -> Result<Vec<u8>, ApiError> {
    let failed = |e: &dyn std::fmt::Display| ApiError::Internal(format!("encoding the result failed: {e}"));
    let mut out = Vec::with_capacity(img.len() / 8);
    match format {
        // jpeg-encoder, not image's encoder: about twice as fast for the same
        // quality, and encode was the slowest warm stage in the worker.
        OutputFormat::Jpeg => {
            let (w, h) = (u16::try_from(img.width()), u16::try_from(img.height()));
            let (Ok(w), Ok(h)) = (w, h) else { return Err(failed(&"JPEG sides are limited to 65,535 px")) };
            let mut encoder = jpeg_encoder::Encoder::new(&mut out, JPEG_QUALITY);
            // 4:2:0, as libjpeg and Pillow do at this quality.
            encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
            encoder.encode(img.as_raw(), w, h, jpeg_encoder::ColorType::Rgb).map_err(|e| failed(&e))?;
        }
        OutputFormat::Png => img.write_with_encoder(PngEncoder::new(&mut out)).map_err(|e| failed(&e))?,
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(img: &DynamicImage) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn decodes_png_to_rgb_and_flattens_alpha_on_white() {
        let mut rgba = RgbaImage::new(3, 2);
        rgba.put_pixel(0, 0, image::Rgba([255, 0, 0, 255]));
        let img = decode_photo(&png(&DynamicImage::ImageRgba8(rgba))).unwrap();
        assert_eq!(img.dimensions(), (3, 2));
        assert_eq!(img.get_pixel(0, 0).0, [255, 0, 0]);
        assert_eq!(img.get_pixel(1, 1).0, [255, 255, 255]);
    }

    #[test]
    fn garbage_is_bad_image_and_bad_overlay() {
        assert_eq!(decode_photo(b"hello, I am text").unwrap_err().code(), "bad_image");
        assert_eq!(decode_overlay(b"hello, I am text").unwrap_err().code(), "bad_overlay");
        let mut truncated = png(&DynamicImage::new_rgb8(64, 64));
        truncated.truncate(truncated.len() / 2);
        assert_eq!(decode_photo(&truncated).unwrap_err().code(), "bad_image");
    }

    /// A PNG header that declares a huge image is refused before decoding.
    #[test]
    fn declared_size_is_checked_before_decoding() {
        let mut bytes = png(&DynamicImage::new_rgb8(1, 1));
        // IHDR width/height live at bytes 16..24; the CRC is then wrong, so
        // patch it too.
        bytes[16..20].copy_from_slice(&60_000u32.to_be_bytes());
        bytes[20..24].copy_from_slice(&60_000u32.to_be_bytes());
        let crc = crc32(&bytes[12..29]);
        bytes[29..33].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(decode_photo(&bytes).unwrap_err().code(), "image_too_large");
        let big_overlay = png(&DynamicImage::new_rgba8(MAX_OVERLAY_SIDE + 1, 1));
        assert_eq!(decode_overlay(&big_overlay).unwrap_err().code(), "image_too_large");
    }

    #[test]
    fn overflowing_sizes_reported_as_unsupported_are_too_large() {
        use image::error::ImageFormatHint;
        let feature = |m: &str| UnsupportedErrorKind::GenericFeature(m.to_string());
        assert!(declares_too_large(feature("Image dimensions (60000x60000 w/3 channels) are too large")));
        assert!(!declares_too_large(feature("Interlaced images")));
        assert!(!declares_too_large(UnsupportedErrorKind::Format(ImageFormatHint::Unknown)));
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn encodes_jpeg_and_png_at_input_size() {
        let img = RgbImage::from_pixel(17, 9, image::Rgb([10, 200, 30]));
        for format in [OutputFormat::Jpeg, OutputFormat::Png] {
            let bytes = encode(&img, format).unwrap();
            let back = image::load_from_memory(&bytes).unwrap();
            assert_eq!((back.width(), back.height()), (17, 9));
        }
    }
}
