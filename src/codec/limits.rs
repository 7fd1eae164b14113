//! What a photo may cost in memory, worked out from its header before any
//! pixel is decoded, and the limits its decoder runs under.

use super::encode::png_capacity;
use super::recode::held;
use super::OutputFormat;
use crate::preprocess::PADDED_CROP_MAX;
use image::{ImageFormat, Limits};

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
pub(super) const DETECTOR_SIDE: u64 = 160;
const LANDMARK_SIDE: u64 = 96;

/// What a photo would cost in memory, worked out from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhotoHeader {
    pub width: u32,
    pub height: u32,
    /// The decoder's own pixel type, before conversion to 8-bit RGB.
    pub color: image::ColorType,
    /// EXIF orientations 5–8 turn the image a quarter: a second buffer.
    pub quarter_turn: bool,
    /// Any EXIF orientation but 1: coded (detect only), the detector's
    /// picture is turned, a second picture.
    pub reoriented: bool,
    pub body_bytes: u64,
    /// What the decoder holds beside its output while it decodes
    /// (`decoder_extra`).
    pub decoder_bytes: u64,
    /// A JPEG: answered as JPEG, its output may be its own coefficients
    /// (`recode`), held at about twice the upload's size (`recode::held`).
    pub jpeg: bool,
    /// A JPEG the coefficients' route takes (`coded`): its coefficients'
    /// bytes (`blocks::coefficient_bytes`).
    pub coefficients: Option<u64>,
}

/// What the parts of a coded photo drawn on at full size may hold at most
/// (`Decoded::canvas`): a quarter of its pixels as RGB.
pub fn parts_cap(px: u64) -> u64 {
    px / 4
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
        // Resizing (`preprocess::resize_region`, separable) keeps a first
        // pass of width × new height RGB pixels: for the detector's
        // letterbox of the whole photo (a tile of the tile pass, short side
        // × short side resized to the same height, keeps as much), then for
        // each landmark crop (1.3 × the face box, which may pass the photo's
        // edge: counted as 1.5 × its long side). A crop off the photo's edge
        // is copied with its padding first, up to PADDED_CROP_MAX a side;
        // a larger one is read through a view by image's resize, whose
        // first pass is f32 RGBA.
        let long = w.max(h);
        let (tw, th) = if self.quarter_turn { (h, w) } else { (w, h) };
        let letterbox = tw * (th * DETECTOR_SIDE).div_ceil(long) * 3;
        let crop_side = long * 3 / 2;
        let crop = if crop_side > PADDED_CROP_MAX as u64 {
            crop_side * LANDMARK_SIDE * 16
        } else {
            crop_side * crop_side * 3 + crop_side * LANDMARK_SIDE * 3
        };
        let encoded = match output {
            None => 0,
            // The output buffer's first capacity: photos at quality 90 fit
            // (~0.1–0.3 B/pixel); only noise-like images outgrow it. A JPEG
            // upload's own coefficients are reserved at about its size, with
            // its scan unstuffed beside them (recode::held); the pixel
            // encoder's buffer is only made if that route does not apply.
            Some(OutputFormat::Jpeg) if self.jpeg => (rgb / 8).max(held(self.body_bytes)),
            Some(OutputFormat::Jpeg) => rgb / 8,
            // Reserved whole (png_capacity), plus the compressor's state.
            Some(OutputFormat::Png) => png_capacity(rgb as usize) as u64 + (4 << 20),
        };
        let processing = rgb + letterbox.max(crop).max(encoded);
        let pixels = decoding.max(turning).max(converting).max(processing) + self.body_bytes + SCRATCH_BYTES;
        // Coded, the peak is at one of: reading (the scan unstuffed beside
        // the coefficients); detecting (the picture at 1/k, its letterbox
        // resize, a landmark crop's part); drawing (the parts, `parts_cap`), then
        // encoding (the parts and the output). The pixel route is reserved
        // too: it reads what this reader refuses, and draws on parts larger
        // than the cap.
        let Some(coefficients) = self.coefficients else { return pixels };
        let k = super::coded::photo_scale(self.width, self.height, DETECTOR_SIDE as u32) as u64;
        let (pw, ph) = (w.div_ceil(k), h.div_ceil(k));
        let picture = pw * ph * 3 * (1 + self.reoriented as u64) + pw.max(ph) * DETECTOR_SIDE * 16;
        // A crop is made from the picture, or from a part at a scale that
        // leaves it under 2 × 4 × its canvas a side (`coded::crop_scale`).
        let part_side = 8 * LANDMARK_SIDE;
        let crop_part = part_side * part_side * 3 + part_side * LANDMARK_SIDE * 16;
        let parts = parts_cap(px) * 3;
        let drawing = match output {
            Some(OutputFormat::Jpeg) => coefficients + pw * ph * 3 + parts,
            _ => 0,
        };
        // The coefficients and the scan unstuffed (at most the upload's
        // size) stay until the answer is encoded from them (`held` counts
        // the scan with the output).
        let encoding = match output {
            Some(OutputFormat::Jpeg) => coefficients + parts + held(self.body_bytes),
            _ => 0,
        };
        let kept = super::coded::PARTS_KEPT;
        let drawing = if drawing > 0 { drawing + kept + self.body_bytes } else { 0 };
        let coded = (coefficients + self.body_bytes)
            .max(coefficients + self.body_bytes + picture + kept + crop_part)
            .max(drawing)
            .max(encoding);
        pixels.max(coded + self.body_bytes + SCRATCH_BYTES)
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
pub(super) fn header_limits(max_side: u32, body_bytes: usize) -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(max_side);
    limits.max_image_height = Some(max_side);
    limits.max_alloc = Some(body_bytes as u64 + METADATA_ALLOWANCE);
    limits
}

/// What a decoder holds beside the `native` bytes of its output while it
/// decodes, from the file's header: the JPEG decoder keeps its own copy of
/// the upload, and a progressive JPEG's every coefficient; a GIF whose first
/// frame is not placed flush with its screen is decoded into a frame buffer
/// first (the image crate lets it be at most the screen's size, as counted
/// here). Metadata is not counted (METADATA_ALLOWANCE).
pub(super) fn decoder_extra(format: ImageFormat, bytes: &[u8], native: u64) -> u64 {
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
pub(super) fn jpeg_progressive_coefficients(b: &[u8]) -> u64 {
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::*;
    use super::*;

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

    /// The memory estimate's copies of the models' input sides.
    #[test]
    fn estimate_uses_the_manifests_input_sides() {
        let manifest = crate::models::manifest();
        assert_eq!(manifest["detector"]["input_size"].as_u64(), Some(DETECTOR_SIDE));
        assert_eq!(manifest["landmarks"]["input_size"].as_u64(), Some(LANDMARK_SIDE));
    }
}
