//! Test files shared by the codec's tests: one valid file of each format,
//! and ways to build and cut them.

use image::{DynamicImage, ImageFormat, RgbImage, RgbaImage};
use std::io::Cursor;

pub(super) fn png(img: &DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png).unwrap();
    out
}

/// Reproducible pseudo-random numbers for the tests (a 64-bit LCG's high
/// bits), from `seed`.
pub(super) fn numbers(seed: u64) -> impl FnMut() -> u32 {
    let mut state = seed;
    move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as u32
    }
}

/// A picture with detail in it, so the compressed data is not trivial.
pub(super) fn picture(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7 + y * 3) as u8, (x * y) as u8, (255 - 5 * y) as u8]))
}

pub(super) fn encoded(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format).unwrap();
    out
}

/// A JPEG as `encode` writes it (jpeg-encoder), optionally progressive,
/// with restart markers, or with an APP1 segment whose bytes hold a
/// (fake) thumbnail, FF D8 … FF D9, as EXIF thumbnails do.
pub(super) fn jpeg(progressive: bool, restarts: u16, thumbnail: bool) -> Vec<u8> {
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

/// `img` as jpeg-encoder writes it at `quality`, with its chroma
/// `sampling` and a restart interval of `restarts` MCUs (0: none).
pub(super) fn jpeg_of(img: &RgbImage, sampling: jpeg_encoder::SamplingFactor, restarts: u16, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_sampling_factor(sampling);
    encoder.set_restart_interval(restarts);
    encoder.encode(img.as_raw(), img.width() as u16, img.height() as u16, jpeg_encoder::ColorType::Rgb).unwrap();
    out
}

pub(super) fn shared(path: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared").join(path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub(super) fn seed(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/decode").join(name)).unwrap()
}

/// An 8-bit RLE (BI_RLE8) BMP, 4×2, two palette colours: the format the
/// structural check leaves to the decoder.
pub(super) fn bmp_rle8() -> Vec<u8> {
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
pub(super) fn complete_files() -> Vec<(&'static str, Vec<u8>)> {
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


pub(super) fn cuts(len: usize) -> impl Iterator<Item = usize> {
    let step = (len / 300).max(1);
    (12..len).filter(move |&k| k < 400 || k + 64 > len || k % step == 0)
}


pub(super) fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
