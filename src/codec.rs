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
/// Wasm memory one photo may take while it is decoded, processed and
/// encoded. A Worker isolate has 128 MB in all: ~12 MB are the models and
/// the rest of the Wasm heap, the remainder the V8 heap and the JS copies
/// of the upload and the answer. The pixel limits above allow far more
/// than this for some images (a 40 MP photo is 120 MB as RGB, a 16-bit
/// RGBA PNG 320 MB), so each photo is also checked against this budget,
/// from its header, before any pixel is decoded.
pub const MEMORY_BUDGET: u64 = 100_000_000;
/// Inference scratch (tract), the model-sized canvases and tensors.
const SCRATCH_BYTES: u64 = 4 << 20;
/// The models' input sides (models/manifest.json; a test keeps them equal),
/// for the resize passes.
const DETECTOR_SIDE: u64 = 256;
const LANDMARK_SIDE: u64 = 96;

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
    /// For a photo: the memory check, and the format it will be encoded to
    /// (None: it is only detected on).
    budget: Option<Option<OutputFormat>>,
}

/// What a photo would cost in memory, worked out from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhotoHeader {
    pub width: u32,
    pub height: u32,
    /// The decoder's own pixel type, before conversion to 8-bit RGB.
    pub color: image::ColorType,
    /// EXIF orientations 5–8 turn the image a quarter: a second buffer.
    pub quarter_turn: bool,
    pub body_bytes: u64,
    pub jpeg_input: bool,
}

impl PhotoHeader {
    /// Peak bytes the photo's decode, detection and encoding allocate (the
    /// models aside), stage by stage; measured against a counting allocator
    /// in tests/core/memory.rs.
    pub fn peak_bytes(&self, output: Option<OutputFormat>) -> u64 {
        let (w, h) = (self.width as u64, self.height as u64);
        let px = w * h;
        let native = px * self.color.bytes_per_pixel() as u64;
        let rgb = px * 3;
        // The JPEG decoder keeps its own copy of the upload while decoding.
        let decoding = native + if self.jpeg_input { self.body_bytes } else { 0 };
        let turning = if self.quarter_turn { 2 * native } else { 0 };
        let converting = match self.color {
            image::ColorType::Rgb8 => 0,
            image::ColorType::Rgba8 => 4 * px + rgb,
            c if c.has_alpha() => native + 4 * px,
            _ => native + rgb,
        };
        // Resizing (image's, separable) keeps a first pass of width × new
        // height f32 RGBA pixels: for the detector's letterbox of the whole
        // photo, then for each landmark crop (1.3 × the face box, which may
        // pass the photo's edge: counted as 1.5 × its long side; read
        // through a view, resized to 96 × 96).
        let long = w.max(h);
        let (tw, th) = if self.quarter_turn { (h, w) } else { (w, h) };
        let letterbox = tw * (th * DETECTOR_SIDE).div_ceil(long) * 16;
        let crop = (long * 3 / 2) * LANDMARK_SIDE * 16;
        let encoded = match output {
            None => 0,
            // The output buffer's first capacity: photos at quality 90 fit
            // (~0.1–0.3 B/pixel); only noise-like images outgrow it.
            Some(OutputFormat::Jpeg) => rgb / 8,
            // Reserved whole (png_capacity), plus the compressor's state.
            Some(OutputFormat::Png) => png_capacity(rgb as usize) as u64 + (4 << 20),
        };
        let processing = rgb + letterbox.max(crop).max(encoded);
        decoding.max(turning).max(converting).max(processing) + self.body_bytes + SCRATCH_BYTES
    }
}

/// Decode a photo to upright RGB, refusing it (413) if it would need more
/// than `MEMORY_BUDGET` to decode and process for `output` (None: detect).
pub fn decode_photo(bytes: &[u8], output: Option<OutputFormat>) -> Result<RgbImage, ApiError> {
    let bounds = Bounds { max_side: MAX_SIDE, max_pixels: MAX_PIXELS, what: "photo", budget: Some(output) };
    let img = decode(bytes, &bounds, None).map_err(|e| e.into_api(ApiError::BadImage))?;
    let img = img.expect("decoded when not measuring");
    Ok(match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        // Transparent areas of a PNG/WebP photo show as white, not black.
        img if img.color().has_alpha() => flatten_on_white(&img.into_rgba8()),
        img => img.into_rgb8(),
    })
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
    Ok(img.expect("decoded when not measuring").into_rgba8())
}

/// What an uploaded overlay holds while it is used: its bytes, its decoded
/// pixels and their RGBA copy, up to 16 bytes a pixel. 0 when its header
/// cannot be read (`decode_overlay` then refuses it before decoding).
pub fn overlay_need(bytes: &[u8]) -> u64 {
    let dims = ImageReader::new(Cursor::new(bytes)).with_guessed_format().ok().and_then(|r| r.into_dimensions().ok());
    dims.map_or(0, |(w, h)| {
        let side = MAX_OVERLAY_SIDE as u64;
        bytes.len() as u64 + (w as u64).min(side) * (h as u64).min(side) * 16
    })
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

/// Decode, after the checks on the header; with `measure`, stop there and
/// say what decoding and processing would need.
fn decode(bytes: &[u8], bounds: &Bounds, measure: Option<&mut u64>) -> Result<Option<DynamicImage>, DecodeError> {
    let what = bounds.what;
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| DecodeError::Bad(format!("the {what} could not be read: {e}")))?;
    let format = reader.format();
    match format {
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
    if let Some(output) = bounds.budget {
        let header = PhotoHeader {
            width: w,
            height: h,
            color: decoder.color_type(),
            quarter_turn: quarter_turn(orientation),
            body_bytes: bytes.len() as u64,
            jpeg_input: format == Some(ImageFormat::Jpeg),
        };
        let need = header.peak_bytes(output);
        if need > MEMORY_BUDGET {
            return Err(DecodeError::TooLarge(format!(
                "the {what} ({w}×{h} pixels, {:?}{}) needs about {} MB to process{}; the limit is {} MB: send a smaller photo",
                header.color,
                if header.quarter_turn { ", turned by its EXIF orientation" } else { "" },
                need.div_ceil(1_000_000),
                if output == Some(OutputFormat::Png) { " as PNG" } else { "" },
                MEMORY_BUDGET / 1_000_000
            )));
        }
        if let Some(out) = measure {
            *out = need;
            return Ok(None);
        }
    }
    let mut img = DynamicImage::from_decoder(decoder)
        .map_err(|e| DecodeError::Bad(format!("the {what} could not be decoded: {e}")))?;
    img.apply_orientation(orientation);
    Ok(Some(img))
}

fn quarter_turn(o: Orientation) -> bool {
    matches!(o, Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH)
}

/// PNG output is reserved whole up front (raw size plus deflate's worst-case
/// overhead), so it never reallocates: growing by doubling would hold two
/// buffers of up to twice the final size at once.
fn png_capacity(raw: usize) -> usize {
    raw + raw / 64 + 4096
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
    let mut out = Vec::with_capacity(match format {
        OutputFormat::Jpeg => img.len() / 8,
        OutputFormat::Png => png_capacity(img.len()),
    });
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
        assert_eq!(decode_photo(&truncated, None).unwrap_err().code(), "bad_image");
    }

    #[test]
    fn photo_need_is_measured_from_the_header_alone() {
        let photo = encode(&RgbImage::from_pixel(640, 480, image::Rgb([90, 120, 30])), OutputFormat::Jpeg).unwrap();
        let need = photo_need(&photo, Some(OutputFormat::Jpeg)).unwrap();
        // At least the pixels and the upload; within the one-photo limit.
        assert!(need > 640 * 480 * 3 + photo.len() as u64 && need <= MEMORY_BUDGET, "{need}");
        assert!(photo_need(&photo, Some(OutputFormat::Png)).unwrap() > need, "PNG output is reserved whole");
        assert_eq!(photo_need(b"not an image", None).unwrap_err().code(), "bad_image");
        let overlay = png(&DynamicImage::new_rgba8(100, 50));
        assert_eq!(overlay_need(&overlay), overlay.len() as u64 + 100 * 50 * 16);
        assert_eq!(overlay_need(b"junk"), 0);
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
        assert_eq!(decode_photo(&bytes, None).unwrap_err().code(), "image_too_large");
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

    /// The memory estimate's copies of the models' input sides.
    #[test]
    fn estimate_uses_the_manifests_input_sides() {
        let manifest = crate::models::manifest();
        assert_eq!(manifest["detector"]["input_size"].as_u64(), Some(DETECTOR_SIDE));
        assert_eq!(manifest["landmarks"]["input_size"].as_u64(), Some(LANDMARK_SIDE));
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
