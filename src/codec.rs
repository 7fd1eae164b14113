//! Image decoding (with size limits checked from the header, before any
//! pixel is decoded, and EXIF orientation applied) and encoding.

use crate::error::ApiError;
use crate::sniff;
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
    /// What the decoder holds beside its output while it decodes
    /// (`decoder_extra`).
    pub decoder_bytes: u64,
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
        let decoding = native + self.decoder_bytes;
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
    let dims = ImageReader::new(Cursor::new(bytes)).with_guessed_format().ok().and_then(|mut r| {
        r.limits(header_limits(MAX_SIDE, bytes.len()));
        r.into_dimensions().ok()
    });
    dims.map_or(0, |(w, h)| {
        let side = MAX_OVERLAY_SIDE as u64;
        bytes.len() as u64 + (w as u64).min(side) * (h as u64).min(side) * 16
    })
}

enum DecodeError {
    Bad(String),
    TooLarge(String),
    /// A format recognised but not read here (`sniff`).
    Unsupported(String),
}

impl DecodeError {
    fn into_api(self, bad: fn(String) -> ApiError) -> ApiError {
        match self {
            DecodeError::Bad(m) => bad(m),
            DecodeError::TooLarge(m) => ApiError::ImageTooLarge(m),
            DecodeError::Unsupported(m) => ApiError::UnsupportedMediaType(m),
        }
    }
}

/// What a decoder may allocate besides the pixels: metadata (EXIF, ICC
/// profiles, PNG text, GIF extensions), palettes, row buffers. Decoders hold
/// their metadata as stored, so a file's own bytes bound most of it; this is
/// what compressed metadata may add (a PNG's iCCP inflates; one that would
/// inflate past it is dropped by the png crate, as the pipeline does not use
/// colour profiles).
pub const METADATA_ALLOWANCE: u64 = 1 << 20;

/// The limits a decoder runs under until its header is read: a photo's
/// sides, and memory for metadata only. Without them the image crate's
/// default (512 MiB) applies while a PNG's chunks are parsed, and a small
/// file with a compressed ICC profile took the Wasm heap past 500 MB there.
fn header_limits(max_side: u32, body_bytes: usize) -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(max_side);
    limits.max_image_height = Some(max_side);
    limits.max_alloc = Some(body_bytes as u64 + METADATA_ALLOWANCE);
    limits
}

/// Decode, after the checks on the header; with `measure`, stop there and
/// say what decoding and processing would need.
fn decode(bytes: &[u8], bounds: &Bounds, measure: Option<&mut u64>) -> Result<Option<DynamicImage>, DecodeError> {
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
    let mut decoder = reader.into_decoder().map_err(|e| match e {
        // Some decoders refuse huge declared sizes themselves (on wasm32 the
        // png crate does, as the size overflows usize; the BMP decoder says
        // "Image dimensions (…) are too large" as an unsupported feature).
        // Metadata past header_limits is refused here too.
        ImageError::Limits(_) => DecodeError::TooLarge(format!("the {what} is too large to decode: {e}")),
        ImageError::Unsupported(ref u) if declares_too_large(u.kind()) => {
            DecodeError::TooLarge(format!("the {what} is too large to decode: {e}"))
        }
        e => failed(e),
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
    // From here the decoder may allocate its pixels (the image crate counts
    // its own buffers against this; a GIF frame larger than its screen, say)
    // and no more than metadata besides.
    let decoder_bytes = decoder_extra(format, bytes, decoder.total_bytes());
    let mut limits = header_limits(bounds.max_side, bytes.len());
    limits.max_alloc = Some(decoder.total_bytes() + decoder_bytes + METADATA_ALLOWANCE);
    decoder
        .set_limits(limits)
        .map_err(|e| DecodeError::TooLarge(format!("the {what} is too large to decode: {e}")))?;
    let orientation = match format {
        // A WebP's EXIF chunk is read whole, allocated at its declared size
        // before that is checked against the file: a 100-byte file could ask
        // for 4 GB. One that claims more than the file holds is cut short
        // (refused below), so its orientation is not read.
        ImageFormat::WebP if webp_complete(bytes).is_err() => Orientation::NoTransforms,
        _ => decoder.orientation().unwrap_or(Orientation::NoTransforms),
    };
    if let Some(output) = bounds.budget {
        let header = PhotoHeader {
            width: w,
            height: h,
            color: decoder.color_type(),
            quarter_turn: quarter_turn(orientation),
            body_bytes: bytes.len() as u64,
            decoder_bytes,
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
    check_complete(bytes, format).map_err(truncated)?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(failed)?;
    img.apply_orientation(orientation);
    Ok(Some(img))
}

/// What a decoder holds beside the `native` bytes of its output while it
/// decodes, from the file's header: the JPEG decoder keeps its own copy of
/// the upload, and a progressive JPEG's every coefficient; a GIF whose first
/// frame is not placed flush with its screen is decoded into a frame buffer
/// first (the image crate lets it be at most the screen's size, as counted
/// here). Metadata is not counted (METADATA_ALLOWANCE).
fn decoder_extra(format: ImageFormat, bytes: &[u8], native: u64) -> u64 {
    match format {
        ImageFormat::Jpeg => bytes.len() as u64 + jpeg_progressive_coefficients(bytes),
        ImageFormat::Gif => native,
        // A lossy WebP is decoded to YUV planes (and an alpha plane) first.
        ImageFormat::WebP => native / 2,
        _ => 0,
    }
}

/// A progressive JPEG's decoder holds every DCT coefficient of the image
/// until its last scan (zune-jpeg: 2 bytes a sample, per component at its
/// own sampling, in whole MCUs): bytes, from the frame header; 0 for a
/// baseline JPEG, which decodes an MCU row at a time.
///
/// The frame header is found as zune-jpeg finds it, so that a mangled file
/// is read the same way by both: bytes between segments are skipped up to
/// the next 0xFF and marker byte, each segment is skipped by its length, and
/// the first frame header counts (a second one is an error there). A plain
/// search for the marker bytes is not enough in either direction: the
/// memory fuzzer found a file whose frame header only the skipping reached,
/// and real photos have 0xFF 0xC2 inside an EXIF thumbnail.
fn jpeg_progressive_coefficients(b: &[u8]) -> u64 {
    if !b.starts_with(&[0xFF, 0xD8]) {
        return 0;
    }
    let (mut i, mut last) = (2, 0u8);
    while let Some(&byte) = b.get(i) {
        i += 1;
        let mut m = byte;
        if (m == 0xFF || m == 0) && last == 0xFF {
            // Fill bytes (and a stuffed 0) before a marker.
            while m == 0xFF || m == 0 {
                last = m;
                let Some(&next) = b.get(i) else { return 0 };
                m = next;
                i += 1;
            }
        }
        if last != 0xFF {
            last = m;
            continue;
        }
        last = m;
        // The end, the scan (nothing after it changes the frame), and the
        // markers zune-jpeg refuses: no progressive frame before them. (It
        // skips SOF3 and the other frame types by their length, as unknown.)
        if matches!(m, 0xD9 | 0xDA | 0xCC | 0xDC) {
            return 0;
        }
        let Some(len) = b.get(i..i + 2).map(|l| u16::from_be_bytes([l[0], l[1]]) as usize) else { return 0 };
        if len < 2 {
            return 0;
        }
        match m {
            0xC0 | 0xC1 => return 0,
            0xC2 => return frame_coefficients(b.get(i + 2..(i + len).min(b.len())).unwrap_or(&[])),
            _ => i += len,
        }
    }
    0
}

/// The coefficient bytes of a progressive frame, from its header's body
/// (precision, height, width, components).
fn frame_coefficients(sof: &[u8]) -> u64 {
    let (Some(h), Some(w), Some(&n)) = (sof.get(1..3), sof.get(3..5), sof.get(5)) else { return 0 };
    let (h, w) = (u16::from_be_bytes([h[0], h[1]]) as u64, u16::from_be_bytes([w[0], w[1]]) as u64);
    let sampling: Vec<(u64, u64)> = (0..n as usize)
        .filter_map(|c| sof.get(6 + 3 * c + 1).map(|&f| (((f >> 4) as u64).max(1), ((f & 15) as u64).max(1))))
        .collect();
    let hmax = sampling.iter().map(|s| s.0).max().unwrap_or(1);
    let vmax = sampling.iter().map(|s| s.1).max().unwrap_or(1);
    let (mcus_x, mcus_y) = (w.div_ceil(8 * hmax), h.div_ceil(8 * vmax));
    // zune-jpeg pads a non-interleaved component's rows to two MCUs.
    sampling.iter().map(|&(ch, cv)| 2 * 64 * mcus_x * ch * (mcus_y * cv + 1)).sum()
}

/// The detail of a refused truncated file (tests and clients match
/// "truncated").
fn truncated_detail(what: &str, reason: &str) -> String {
    format!("the {what} is truncated: {reason} (an interrupted upload?)")
}

/// Whether a decoder's error is its input running out.
fn ends_early(e: &ImageError) -> bool {
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

/// Whether a JPEG, PNG, GIF, WebP or BMP file holds all of its image data,
/// judged from its structure alone (markers, chunks, blocks and declared
/// sizes; no pixel is decoded). `Err` says where a file that was cut short
/// ends. Only truncation is judged: a file malformed in other ways passes,
/// and its decoder reports it. Trailing bytes after the end are allowed
/// (some cameras append data).
pub fn check_complete(bytes: &[u8], format: ImageFormat) -> Result<(), String> {
    match format {
        ImageFormat::Jpeg => jpeg_complete(bytes),
        ImageFormat::Png => png_complete(bytes),
        ImageFormat::Gif => gif_complete(bytes),
        ImageFormat::WebP => webp_complete(bytes),
        ImageFormat::Bmp => bmp_complete(bytes),
        _ => Ok(()),
    }
}

/// A JPEG must reach its end-of-image marker (FF D9) after its first scan
/// (SOS). Marker segments are skipped by their lengths (an EXIF thumbnail's
/// own FF D9 is inside one); in entropy-coded data a 0xFF byte is stuffed
/// as FF 00 and restart markers are FF D0–D7, so FF D9 there is the end.
/// Progressive JPEGs have several scans, with tables between them: the walk
/// goes on to the EOI after the last.
fn jpeg_complete(b: &[u8]) -> Result<(), String> {
    let mut scanned = false;
    let short = |scanned: bool| {
        Err(if scanned {
            "the JPEG ends inside its image data, before its end-of-image marker".to_string()
        } else {
            "the JPEG ends inside its headers, before its image data".to_string()
        })
    };
    let mut i = 2;
    loop {
        // The next marker: entropy-coded data (or stray bytes) up to a 0xFF,
        // then any fill bytes (0xFF repeated).
        let Some(ff) = b.get(i..).and_then(|rest| rest.iter().position(|&x| x == 0xFF)) else {
            return short(scanned);
        };
        i += ff;
        while b.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        let Some(&marker) = b.get(i + 1) else { return short(scanned) };
        match marker {
            // A stuffed 0xFF, a restart marker, TEM, another SOI: no length.
            0x00 | 0x01 | 0xD0..=0xD8 => i += 2,
            0xD9 => return Ok(()),
            _ => {
                let Some(len) = b.get(i + 2..i + 4).map(|l| u16::from_be_bytes([l[0], l[1]]) as usize) else {
                    return short(scanned);
                };
                if i + 2 + len > b.len() {
                    return short(scanned);
                }
                // A length under 2 is malformed, not short: the decoder's call.
                if len < 2 {
                    return Ok(());
                }
                i += 2 + len;
                scanned |= marker == 0xDA;
            }
        }
    }
}

/// A PNG's chunks (length, type, data, CRC) must fit in the file up to and
/// including IEND.
fn png_complete(b: &[u8]) -> Result<(), String> {
    let mut i: u64 = 8;
    let len = b.len() as u64;
    loop {
        let Some(head) = b.get(i as usize..i as usize + 8) else {
            return Err("the PNG ends before its IEND chunk".into());
        };
        let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as u64;
        let kind = &head[4..8];
        let end = i + 12 + size;
        if end > len {
            return Err(if kind == b"IDAT" {
                "the PNG ends inside its image data (IDAT), before its IEND chunk".into()
            } else {
                "the PNG ends inside a chunk, before its IEND chunk".into()
            });
        }
        if kind == b"IEND" {
            return Ok(());
        }
        i = end;
    }
}

/// A GIF's blocks must all be there, up to its trailer (0x3B): header,
/// logical screen descriptor and global colour table, then extensions and
/// frames (descriptor, local colour table, LZW data), each with its data
/// sub-blocks up to their terminator.
fn gif_complete(b: &[u8]) -> Result<(), String> {
    let colour_table = |flags: u8| if flags & 0x80 != 0 { 3 << ((flags & 7) + 1) } else { 0 };
    /// Past the sub-blocks starting at `i` (sizes, then data; 0 ends them).
    fn sub_blocks(b: &[u8], mut i: usize) -> Option<usize> {
        loop {
            let n = *b.get(i)? as usize;
            i += 1 + n;
            if n == 0 {
                return Some(i);
            }
        }
    }
    let short = |inside: &str| Err(format!("the GIF ends {inside}, before its trailer"));
    let Some(&flags) = b.get(10) else { return short("inside its header") };
    let mut i = 13 + colour_table(flags);
    loop {
        let Some(&block) = b.get(i) else { return short("between its blocks") };
        i = match block {
            0x3B => return Ok(()),
            // Extension: introducer, label, sub-blocks.
            0x21 => match sub_blocks(b, i + 2) {
                Some(end) => end,
                None => return short("inside an extension block"),
            },
            // Image descriptor (10 bytes), local colour table, LZW minimum
            // code size, the image data's sub-blocks.
            0x2C => match b.get(i + 9).and_then(|&f| sub_blocks(b, i + 10 + colour_table(f) + 1)) {
                Some(end) => end,
                None => return short("inside its image data"),
            },
            // Not a block: malformed, not short; the decoder's call.
            _ => return Ok(()),
        };
    }
}

/// A WebP must be as long as its RIFF header says, and its chunks must fit.
fn webp_complete(b: &[u8]) -> Result<(), String> {
    let u32_at = |i: usize| b.get(i..i + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as u64);
    let len = b.len() as u64;
    let Some(riff) = u32_at(4).map(|size| size + 8) else { return Err("the WebP ends inside its header".into()) };
    if riff > len {
        return Err(format!("the WebP is shorter than its RIFF header says ({len} of {riff} bytes)"));
    }
    let mut i: u64 = 12;
    while i + 8 <= riff {
        let size = u32_at(i as usize + 4).expect("within the file");
        let end = i + 8 + size;
        if end > len {
            return Err("the WebP ends inside its image data".into());
        }
        i = end + (size & 1);
    }
    Ok(())
}

/// An uncompressed BMP's rows (each padded to 4 bytes, as the decoder reads
/// them) must fit between the pixel data offset and the end of the file.
/// RLE-compressed ones are left to the decoder, which fails at the end of
/// the data (reported as truncated too).
fn bmp_complete(b: &[u8]) -> Result<(), String> {
    let u16_at = |i: usize| b.get(i..i + 2).map(|s| u16::from_le_bytes([s[0], s[1]]) as u64);
    let u32_at = |i: usize| b.get(i..i + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]));
    let (Some(offset), Some(header)) = (u32_at(10), u32_at(14)) else {
        return Err("the BMP ends inside its header".into());
    };
    let fields = if header == 12 {
        // BITMAPCOREHEADER: 16-bit sides, no compression.
        (u16_at(18), u16_at(20), u16_at(24), Some(0))
    } else {
        let side = |i| u32_at(i).map(|v| (v as i32).unsigned_abs() as u64);
        (side(18), side(22), u16_at(28), u32_at(30))
    };
    let (Some(w), Some(h), Some(bits), Some(compression)) = fields else {
        return Err("the BMP ends inside its header".into());
    };
    // BI_RGB, BI_BITFIELDS, BI_ALPHABITFIELDS: rows of `bits` per pixel.
    if !matches!(compression, 0 | 3 | 6) {
        return Ok(());
    }
    let row = w.saturating_mul(bits).div_ceil(32) * 4;
    let need = (offset as u64).saturating_add(row.saturating_mul(h));
    let len = b.len() as u64;
    if need > len {
        return Err(format!("the BMP ends before its pixel data does ({len} of {need} bytes)"));
    }
    Ok(())
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
        let err = decode_photo(&truncated, None).unwrap_err();
        assert_eq!(err.code(), "bad_image");
        assert!(err.detail().contains("truncated"), "{err}");
    }

    // --- truncated files: one of each format, cut at every point ---------

    /// A picture with detail in it, so the compressed data is not trivial.
    fn picture(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7 + y * 3) as u8, (x * y) as u8, (255 - 5 * y) as u8]))
    }

    fn encoded(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), format).unwrap();
        out
    }

    /// A JPEG as `encode` writes it (jpeg-encoder), optionally progressive,
    /// with restart markers, or with an APP1 segment whose bytes hold a
    /// (fake) thumbnail, FF D8 … FF D9, as EXIF thumbnails do.
    fn jpeg(progressive: bool, restarts: u16, thumbnail: bool) -> Vec<u8> {
        let img = picture(64, 48);
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 80);
        encoder.set_progressive(progressive);
        encoder.set_restart_interval(restarts);
        if thumbnail {
            let mut app1 = b"Exif\0\0".to_vec();
            app1.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xDB, 0x12, 0x34, 0xFF, 0xD9, 0, 0]);
            encoder.add_app_segment(1, app1).unwrap();
        }
        encoder.encode(img.as_raw(), 64, 48, jpeg_encoder::ColorType::Rgb).unwrap();
        out
    }

    fn shared(path: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared").join(path);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn seed(name: &str) -> Vec<u8> {
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/decode").join(name)).unwrap()
    }

    /// An 8-bit RLE (BI_RLE8) BMP, 4×2, two palette colours: the format the
    /// structural check leaves to the decoder.
    fn bmp_rle8() -> Vec<u8> {
        let data = [4, 1, 0, 0, 4, 0, 0, 1]; // a run, end of row, a run, end of bitmap
        let offset = 14 + 40 + 8;
        let mut b = b"BM".to_vec();
        b.extend_from_slice(&((offset + data.len()) as u32).to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&(offset as u32).to_le_bytes());
        for v in [40u32, 4, 2] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&1u16.to_le_bytes()); // planes
        b.extend_from_slice(&8u16.to_le_bytes()); // bits per pixel
        for v in [1u32, data.len() as u32, 2835, 2835, 2, 0] {
            b.extend_from_slice(&v.to_le_bytes()); // RLE8, size, resolution, colours used, important
        }
        b.extend_from_slice(&[0, 0, 0, 0, 255, 255, 255, 0]);
        b.extend_from_slice(&data);
        b
    }

    /// Every file a valid one of its format; the points to cut it at
    /// (header, image data, just before its end marker or trailer) are all
    /// of them from 12 bytes (where every format is recognised), in steps
    /// through large files.
    fn complete_files() -> Vec<(&'static str, Vec<u8>)> {
        let rgb = DynamicImage::ImageRgb8(picture(40, 30));
        let rgba = DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(picture(40, 30)).into_rgba8());
        let mut gif = Vec::new();
        {
            let frames = [0u8, 90].map(|shift| {
                let frame = RgbaImage::from_fn(40, 30, |x, y| image::Rgba([(x as u8 * 6).wrapping_add(shift), y as u8 * 8, shift, 255]));
                image::Frame::new(frame)
            });
            image::codecs::gif::GifEncoder::new(&mut gif).encode_frames(frames).unwrap();
        }
        vec![
            ("baseline JPEG", jpeg(false, 0, false)),
            ("progressive JPEG", jpeg(true, 0, false)),
            ("JPEG with restart markers", jpeg(false, 2, false)),
            ("JPEG with a thumbnail in APP1", jpeg(false, 0, true)),
            ("progressive JPEG photo (10 scans)", shared("data/cat-face-boxes/hujingyu-yolo-catface/images/train_629.jpg")),
            ("Pillow's progressive JPEG", seed("tiny-progressive.jpg")),
            ("RGB PNG", png(&rgb)),
            ("RGBA PNG", png(&rgba)),
            ("two-frame GIF", gif),
            ("lossless WebP", encoded(&rgba, ImageFormat::WebP)),
            ("lossy WebP (Pillow's)", seed("tiny.webp")),
            ("24-bit BMP", encoded(&rgb, ImageFormat::Bmp)),
            ("32-bit BMP", encoded(&rgba, ImageFormat::Bmp)),
            ("RLE8 BMP", bmp_rle8()),
        ]
    }

    /// The progressive estimate reads the frame header zune-jpeg reads: a
    /// baseline photo whose EXIF holds the bytes of a progressive frame
    /// header (as a thumbnail's data can) is not charged for it; a
    /// progressive one is, also when junk before a segment hides it from a
    /// strict walk (the memory fuzzer's second finding).
    #[test]
    fn the_progressive_estimate_reads_the_frame_zune_jpeg_reads() {
        // SOF2 of a 2000×3000 4:4:4 image: about 36 MB of coefficients.
        let fake_sof = [0xFF, 0xC2, 0, 17, 8, 0x0B, 0xB8, 0x07, 0xD0, 3, 1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1];
        let mut baseline = jpeg(false, 0, false);
        let mut app1 = vec![0xFF, 0xE1, 0, (2 + 6 + fake_sof.len()) as u8];
        app1.extend_from_slice(b"Exif\0\0");
        app1.extend_from_slice(&fake_sof);
        baseline.splice(2..2, app1);
        assert_eq!(jpeg_progressive_coefficients(&baseline), 0);
        decode_photo(&baseline, None).unwrap();

        let progressive = jpeg(true, 0, false);
        let own = jpeg_progressive_coefficients(&progressive);
        assert!(own >= 2 * 64 * 48, "{own}"); // the luma alone
        let mut junk_first = progressive.clone();
        junk_first.insert(2, 0xD8); // a stray byte before the first segment
        assert_eq!(jpeg_progressive_coefficients(&junk_first), own);
        let crash = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/regressions/memory/crash-a88aa4f4429c2e6b925eb6b45adb8da1bcc565d4"),
        )
        .unwrap();
        // The fuzz target's first byte picks the output; the photo follows.
        assert!(jpeg_progressive_coefficients(&crash[1..]) > 30_000_000);
    }

    fn cuts(len: usize) -> impl Iterator<Item = usize> {
        let step = (len / 300).max(1);
        (12..len).filter(move |&k| k < 400 || k + 64 > len || k % step == 0)
    }

    #[test]
    fn complete_files_decode_and_pass_the_check() {
        for (name, bytes) in complete_files() {
            let format = image::guess_format(&bytes).unwrap();
            assert_eq!(check_complete(&bytes, format), Ok(()), "{name}");
            decode_photo(&bytes, None).unwrap_or_else(|e| panic!("{name}: {e}"));
            // Trailing bytes after the end (cameras append data) are allowed.
            let mut trailing = bytes.clone();
            trailing.extend(std::iter::repeat_n(0xA5, 100));
            assert_eq!(check_complete(&trailing, format), Ok(()), "{name} with trailing bytes");
            if format == ImageFormat::Jpeg {
                decode_photo(&trailing, None).unwrap_or_else(|e| panic!("{name} with trailing bytes: {e}"));
            }
        }
    }

    #[test]
    fn truncated_photos_are_bad_image_saying_truncated() {
        for (name, bytes) in complete_files() {
            for cut in cuts(bytes.len()) {
                let err = decode_photo(&bytes[..cut], None).unwrap_err();
                assert_eq!(err.code(), "bad_image", "{name} cut at {cut} of {}: {err}", bytes.len());
                assert!(err.detail().contains("truncated"), "{name} cut at {cut} of {}: {err}", bytes.len());
            }
        }
    }

    /// The structural check itself finds every cut (the RLE BMP aside: its
    /// decoder does), before the decoder sees a pixel.
    #[test]
    fn the_check_finds_every_cut() {
        for (name, bytes) in complete_files() {
            if name == "RLE8 BMP" {
                continue;
            }
            let format = image::guess_format(&bytes).unwrap();
            for cut in cuts(bytes.len()) {
                let reason = check_complete(&bytes[..cut], format).expect_err(&format!("{name} cut at {cut}"));
                assert!(!reason.is_empty());
            }
        }
    }

    #[test]
    fn where_a_jpeg_ends_is_said() {
        let bytes = jpeg(false, 0, false);
        let eoi = bytes.len() - 2;
        assert_eq!(&bytes[eoi..], [0xFF, 0xD9]);
        let sos = bytes.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        let reason = |cut: usize| check_complete(&bytes[..cut], ImageFormat::Jpeg).unwrap_err();
        assert!(reason(sos).contains("inside its headers"), "{}", reason(sos));
        assert!(reason(sos + 20).contains("inside its image data"));
        // Just before the end-of-image marker, and on its first byte.
        assert!(reason(eoi).contains("before its end-of-image marker"));
        assert!(reason(eoi + 1).contains("before its end-of-image marker"));
        let detail = decode_photo(&bytes[..(sos + eoi) / 2], None).unwrap_err().detail();
        assert_eq!(
            detail,
            "the photo is truncated: the JPEG ends inside its image data, before its end-of-image marker (an interrupted upload?)"
        );
    }

    #[test]
    fn truncated_overlays_are_bad_overlay_saying_truncated() {
        let overlay = png(&DynamicImage::ImageRgba8(RgbaImage::from_fn(60, 20, |x, y| image::Rgba([x as u8, y as u8, 0, 128]))));
        decode_overlay(&overlay).unwrap();
        for cut in cuts(overlay.len()) {
            let err = decode_overlay(&overlay[..cut]).unwrap_err();
            assert_eq!(err.code(), "bad_overlay", "cut at {cut}: {err}");
            assert!(err.detail().starts_with("the overlay is truncated: "), "cut at {cut}: {err}");
        }
    }

    /// A header that lies about a huge size is still 413, even when no
    /// pixel data follows it (checked before completeness).
    #[test]
    fn a_huge_header_alone_is_too_large_not_truncated() {
        let mut bmp = encoded(&DynamicImage::ImageRgb8(picture(4, 4)), ImageFormat::Bmp);
        bmp[18..22].copy_from_slice(&60_000i32.to_le_bytes());
        bmp[22..26].copy_from_slice(&60_000i32.to_le_bytes());
        assert_eq!(decode_photo(&bmp, None).unwrap_err().code(), "image_too_large");
    }

    #[test]
    fn decoder_errors_at_the_end_of_the_input_say_truncated() {
        let eof = ImageError::IoError(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "eof"));
        assert!(ends_early(&eof));
        let other = ImageError::IoError(std::io::Error::other("disk on fire"));
        assert!(!ends_early(&other));
        // The RLE BMP passes the structural check when cut; its decoder runs
        // out of data.
        let rle = bmp_rle8();
        assert_eq!(check_complete(&rle[..rle.len() - 3], ImageFormat::Bmp), Ok(()));
        assert!(decode_photo(&rle[..rle.len() - 3], None).unwrap_err().detail().contains("truncated"));
    }

    /// Uploads are arbitrary bytes: the check never panics on corrupted
    /// headers, lengths or markers (the fuzz targets reach it too).
    #[test]
    fn the_check_survives_corrupted_files() {
        for (_, bytes) in complete_files() {
            let format = image::guess_format(&bytes).unwrap();
            for at in cuts(bytes.len()) {
                for value in [0x00, 0xFF, bytes[at] ^ 0x80] {
                    let mut bad = bytes.clone();
                    bad[at] = value;
                    let _ = check_complete(&bad, format);
                    let _ = check_complete(&bad[..at + 1], format);
                }
            }
        }
    }

    /// Malformed in ways other than being short: the decoder's call, not
    /// reported as truncated.
    #[test]
    fn malformed_is_not_truncated() {
        // A JPEG segment length under 2.
        assert_eq!(check_complete(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 1, 0, 0], ImageFormat::Jpeg), Ok(()));
        // A GIF with an unknown block where the next should be.
        let mut gif = b"GIF89a".to_vec();
        gif.extend_from_slice(&[1, 0, 1, 0, 0, 0, 0, 0x99]);
        assert_eq!(check_complete(&gif, ImageFormat::Gif), Ok(()));
        // Formats the check does not know.
        assert_eq!(check_complete(b"II*\0", ImageFormat::Tiff), Ok(()));
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
