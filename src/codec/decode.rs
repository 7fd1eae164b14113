//! The decoders, under the limits worked out from the header (`limits`),
//! refusing a file cut short (`complete`); their errors, as the API's.

use super::baseline;
use super::blocks::{coefficient_bytes, Blocks};
use super::coded::photo_scale;
use super::complete::{check_complete, webp_complete};
use super::limits::{decoder_extra, header_limits, PhotoHeader, DETECTOR_SIDE, MEMORY_BUDGET, METADATA_ALLOWANCE};
use super::OutputFormat;
use crate::error::ApiError;
use crate::sniff;
use image::error::UnsupportedErrorKind;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader};
use std::io::Cursor;

/// What a decoder is asked to do with an image that is too large.
pub(super) struct Bounds {
    pub max_side: u32,
    pub max_pixels: u64,
    pub what: &'static str,
    /// For a photo: the memory check, and the format it will be encoded to
    /// (None: it is only detected on).
    pub budget: Option<Option<OutputFormat>>,
    /// A JPEG the DCT route reads may come as its coefficients.
    pub coded: bool,
}

/// What `decode` gives: pixels, upright (and whether that turned them), or
/// a JPEG's coefficients as stored, with the EXIF orientation that makes
/// them upright.
pub(super) enum Image {
    Pixels(DynamicImage, bool),
    Coded(Blocks, Orientation),
}

pub(super) enum DecodeError {
    Bad(String),
    TooLarge(String),
    /// A format recognised but not read here (`sniff`).
    Unsupported(String),
}

impl DecodeError {
    pub(super) fn into_api(self, bad: fn(String) -> ApiError) -> ApiError {
        match self {
            DecodeError::Bad(m) => bad(m),
            DecodeError::TooLarge(m) => ApiError::ImageTooLarge(m),
            DecodeError::Unsupported(m) => ApiError::UnsupportedMediaType(m),
        }
    }
}

/// Decode, after the checks on the header; with `measure`, stop there and
/// say what decoding and processing would need. The image comes upright,
/// with whether its EXIF orientation turned or flipped it.
pub(super) fn decode<'a>(bytes: &'a [u8], bounds: &Bounds, measure: Option<&mut u64>) -> Result<Option<Image>, DecodeError> {
    let what = bounds.what;
    // Formats people send that no decoder here reads, whatever their
    // Content-Type: named, with what to do (415), not "not an image".
    if let Some(kind) = sniff::unreadable(bytes) {
        return Err(DecodeError::Unsupported(kind.detail(what)));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| DecodeError::Bad(format!("the {what} could not be read: {e}")))?;
    reader.limits(header_limits(bounds.max_side, bytes.len()));
    let format = match reader.format() {
        Some(f @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP | ImageFormat::Gif | ImageFormat::Bmp)) => f,
        _ => {
            return Err(DecodeError::Bad(format!(
                "the {what} is not a JPEG, PNG, WebP, GIF or BMP image"
            )))
        }
    };
    // A file cut short is refused as such, never decoded as if whole (some
    // decoders fill in what is missing). Checked from the structure alone,
    // after the header checks below (a bomb stays 413 even when it is only
    // a header) and before any pixel is decoded; a decoder that fails on a
    // file the check finds cut short says so too.
    let truncated = |reason: String| DecodeError::Bad(truncated_detail(what, &reason));
    let failed = |e: ImageError| match check_complete(bytes, format) {
        Err(reason) => truncated(reason),
        // A decoder that wants more memory than the header promised.
        Ok(()) if matches!(e, ImageError::Limits(_)) => {
            DecodeError::TooLarge(format!("the {what} needs more memory to decode than its size allows: {e}"))
        }
        Ok(()) if ends_early(&e) => truncated("its image data ends early".into()),
        Ok(()) => DecodeError::Bad(format!("the {what} could not be decoded: {e}")),
    };
    let open = |reader: ImageReader<Cursor<&'a [u8]>>| {
        reader.into_decoder().map_err(|e| match e {
            // Some decoders refuse huge declared sizes themselves (on wasm32 the
            // png crate does, as the size overflows usize; the BMP decoder says
            // "Image dimensions (…) are too large" as an unsupported feature).
            // Metadata past header_limits is refused here too.
            ImageError::Limits(_) => DecodeError::TooLarge(format!("the {what} is too large to decode: {e}")),
            ImageError::Unsupported(ref u) if declares_too_large(u.kind()) => {
                DecodeError::TooLarge(format!("the {what} is too large to decode: {e}"))
            }
            e => failed(e),
        })
    };
    let mut decoder = open(reader)?;
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
    // From here the decoder may allocate its pixels (the image crate counts
    // its own buffers against this; a GIF frame larger than its screen, say)
    // and no more than metadata besides.
    let decoder_bytes = decoder_extra(format, bytes, decoder.total_bytes());
    let mut limits = header_limits(bounds.max_side, bytes.len());
    limits.max_alloc = Some(decoder.total_bytes() + decoder_bytes + METADATA_ALLOWANCE);
    decoder
        .set_limits(limits.clone())
        .map_err(|e| DecodeError::TooLarge(format!("the {what} is too large to decode: {e}")))?;
    let orientation = match format {
        // A WebP's EXIF chunk is read whole, allocated at its declared size
        // before that is checked against the file: a 100-byte file could ask
        // for 4 GB. One that claims more than the file holds is cut short
        // (refused below), so its orientation is not read.
        ImageFormat::WebP if webp_complete(bytes).is_err() => Orientation::NoTransforms,
        _ => decoder.orientation().unwrap_or(Orientation::NoTransforms),
    };
    // The coefficients' route: a baseline JPEG large enough to be seen
    // smaller than it is. One stored turned or flipped takes it only when
    // nothing is drawn (detect), so that the models see it as they see the
    // same photo stored upright (`Coded` turns what it makes): an answer
    // drawn on it needs every pixel turned, and reading the scan twice for
    // that cost 1.1 × the CPU of the pixel route (BENCHMARKS.md).
    let mut coefficients = (bounds.coded
        && format == ImageFormat::Jpeg
        && (orientation == Orientation::NoTransforms || bounds.budget == Some(None))
        && photo_scale(w, h, DETECTOR_SIDE as u32) > 1)
        .then(|| baseline::parse(bytes).ok())
        .flatten()
        .map(|f| coefficient_bytes(w as u64, h as u64, &f.components.iter().map(|c| (c.h as u64, c.v as u64)).collect::<Vec<_>>()));
    if let Some(output) = bounds.budget {
        let mut header = PhotoHeader {
            width: w,
            height: h,
            color: decoder.color_type(),
            quarter_turn: quarter_turn(orientation),
            reoriented: orientation != Orientation::NoTransforms,
            body_bytes: bytes.len() as u64,
            decoder_bytes,
            jpeg: format == ImageFormat::Jpeg,
            coefficients,
        };
        // A photo whose coefficients would take it over the budget takes
        // the pixel route, when that fits (a 4:4:4 JPEG holds 6 bytes of
        // coefficients a pixel, twice its RGB).
        if coefficients.is_some() && header.peak_bytes(output) > MEMORY_BUDGET {
            (coefficients, header.coefficients) = (None, None);
        }
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
    check_complete(bytes, format).map_err(truncated)?;
    if coefficients.is_some() {
        // The pixel decoder's copy of the upload goes first. Data this
        // reader refuses is left to the pixel decoder, to read or refuse.
        drop(decoder);
        if let Ok(blocks) = Blocks::read(bytes) {
            return Ok(Some(Image::Coded(blocks, orientation)));
        }
        let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
        reader.limits(header_limits(bounds.max_side, bytes.len()));
        decoder = open(reader)?;
        decoder.set_limits(limits).map_err(|e| DecodeError::TooLarge(format!("the {what} is too large to decode: {e}")))?;
    }
    let mut img = DynamicImage::from_decoder(decoder).map_err(failed)?;
    img.apply_orientation(orientation);
    Ok(Some(Image::Pixels(img, orientation != Orientation::NoTransforms)))
}

/// The detail of a refused truncated file (tests and clients match
/// "truncated").
fn truncated_detail(what: &str, reason: &str) -> String {
    format!("the {what} is truncated: {reason} (an interrupted upload?)")
}

/// Whether a decoder's error is its input running out.
pub(super) fn ends_early(e: &ImageError) -> bool {
    // ImageError's source() is that of the error it wraps, so an IoError's
    // own kind is looked at first.
    if let ImageError::IoError(io) = e {
        return io.kind() == std::io::ErrorKind::UnexpectedEof;
    }
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        if err.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::UnexpectedEof) {
            return true;
        }
        source = err.source();
    }
    false
}

pub(super) fn quarter_turn(o: Orientation) -> bool {
    matches!(o, Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH)
}

/// The image crate's decoders report a size that overflows the address
/// space as this unsupported "feature".
fn declares_too_large(kind: UnsupportedErrorKind) -> bool {
    matches!(kind, UnsupportedErrorKind::GenericFeature(m) if m.starts_with("Image dimensions") && m.ends_with("are too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflowing_sizes_reported_as_unsupported_are_too_large() {
        use image::error::ImageFormatHint;
        let feature = |m: &str| UnsupportedErrorKind::GenericFeature(m.to_string());
        assert!(declares_too_large(feature("Image dimensions (60000x60000 w/3 channels) are too large")));
        assert!(!declares_too_large(feature("Interlaced images")));
        assert!(!declares_too_large(UnsupportedErrorKind::Format(ImageFormatHint::Unknown)));
    }
}
