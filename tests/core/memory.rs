//! The memory check made before decoding a photo (codec::PhotoHeader) must
//! be an upper bound on what decode → detect → landmarks → overlay → encode
//! really allocates, and not a wild one: measured here with a counting
//! global allocator on a 6-megapixel photo in each pixel format, EXIF
//! turn and output format the API takes. And a photo over the budget is
//! refused before its pixels are decoded. The pipeline runs on the calling
//! thread (no thread pool), so counting that thread sees all of it.

use edgecat::codec::{self, OutputFormat, PhotoHeader};
use edgecat::pipeline::Upload;
use edgecat::pipeline;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Cursor;
use std::cell::Cell;

// The counts are per thread: this binary runs its other tests (models,
// fuzz replays) on other threads at the same time, and their allocations
// must not show up in a measurement taken here.
struct Counting;

thread_local! {
    // Const-initialised and without a destructor, so reading them inside
    // the allocator never allocates.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn grew(by: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + by as isize;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrank(by: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get() - by as isize));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            grew(l.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        shrank(l.size());
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // Counted as alloc-new-then-free-old, the worst a realloc can do.
        let q = System.realloc(p, l, new);
        if !q.is_null() {
            grew(new);
            shrank(l.size());
        }
        q
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// Peak bytes allocated by `f`, on this thread, above what was live before it.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(base));
    let out = f();
    (out, (PEAK.with(Cell::get) - base) as u64)
}

/// A JPEG with an EXIF APP1 segment holding only `orientation`.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = vec![b'M', b'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1];
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0; 6]);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xff, 0xe1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn encoded(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), format).unwrap();
    out
}

fn header_of(bytes: &[u8]) -> PhotoHeader {
    let reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().unwrap();
    let format = reader.format();
    let mut decoder = reader.into_decoder().unwrap();
    let (width, height) = decoder.dimensions();
    let orientation = decoder.orientation().unwrap();
    let quarter_turn = (orientation.to_exif() as u16) >= 5;
    PhotoHeader {
        width,
        height,
        color: decoder.color_type(),
        quarter_turn,
        body_bytes: bytes.len() as u64,
        jpeg_input: format == Some(ImageFormat::Jpeg),
    }
}

#[test]
fn the_memory_estimate_bounds_what_the_pipeline_allocates() {
    pipeline::warm().unwrap(); // the models are not part of the estimate
    let cat = image::open("../shared/data/cat-photos/kairess_022.jpg").expect("../shared beside the checkout");
    let photo = cat.resize_exact(3000, 2000, image::imageops::FilterType::Triangle);
    // A close-up: the face fills the frame, so its landmark crop (1.3× the
    // face) is larger than the photo.
    let face = pipeline::detect(&encoded(&cat, ImageFormat::Jpeg)).unwrap().cats[0].bbox;
    let (fw, fh) = (face[2] - face[0], face[3] - face[1]);
    let close_up = cat
        .crop_imm((face[0] - 0.05 * fw).max(0.0) as u32, (face[1] - 0.05 * fh).max(0.0) as u32, (1.1 * fw) as u32, (1.1 * fh) as u32)
        .resize_exact(2800, 2400, image::imageops::FilterType::Triangle);
    let rgb = DynamicImage::ImageRgb8(photo.to_rgb8());
    let jpeg = encoded(&rgb, ImageFormat::Jpeg);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("JPEG RGB", jpeg),
        ("JPEG close-up", encoded(&DynamicImage::ImageRgb8(close_up.to_rgb8()), ImageFormat::Jpeg)),
        // Stored turned, so that the upright photo is the cat again.
        ("JPEG RGB, EXIF 6", with_exif_orientation(&encoded(&rgb.rotate270(), ImageFormat::Jpeg), 6)),
        ("JPEG RGB, EXIF 3", with_exif_orientation(&encoded(&rgb.rotate180(), ImageFormat::Jpeg), 3)),
        ("JPEG grey", encoded(&DynamicImage::ImageLuma8(photo.to_luma8()), ImageFormat::Jpeg)),
        ("PNG RGB", encoded(&rgb, ImageFormat::Png)),
        ("PNG RGBA", encoded(&DynamicImage::ImageRgba8(photo.to_rgba8()), ImageFormat::Png)),
        ("PNG 16-bit RGB", encoded(&DynamicImage::ImageRgb16(photo.to_rgb16()), ImageFormat::Png)),
        ("PNG 16-bit RGBA", encoded(&DynamicImage::ImageRgba16(photo.to_rgba16()), ImageFormat::Png)),
        ("WebP", encoded(&DynamicImage::ImageRgba8(photo.to_rgba8()), ImageFormat::WebP)),
    ];
    drop((cat, photo, rgb, close_up));
    let mb = |b: u64| b as f64 / 1e6;
    for (name, bytes) in &cases {
        let header = header_of(bytes);
        for output in [None, Some(OutputFormat::Jpeg), Some(OutputFormat::Png)] {
            // The upload's copy is made inside, as the worker holds one.
            let (cats, used) = peak_of(|| {
                let upload = Upload { photo: bytes.clone(), ..Upload::default() };
                match output {
                    None => pipeline::detect(&upload.photo).map(|d| d.cats.len()),
                    Some(format) => pipeline::hipsterize(&upload, format).map(|h| h.cats),
                }
            });
            let cats = cats.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(cats >= 1, "{name}: the cat must be found, so that every stage runs");
            let estimate = header.peak_bytes(output);
            println!("{name:16} {output:?}: allocated {:.1} MB, estimated {:.1} MB", mb(used), mb(estimate));
            assert!(used <= estimate, "{name} {output:?}: allocated {:.1} MB > estimate {:.1} MB", mb(used), mb(estimate));
            assert!(
                estimate <= used + used / 5 + (8 << 20),
                "{name} {output:?}: estimate {:.1} MB is far above the {:.1} MB allocated",
                mb(estimate),
                mb(used)
            );
        }
    }
}

#[test]
fn a_photo_over_the_budget_is_refused_before_decoding() {
    // 16-bit RGBA, 4000×3000: 96 MB as decoded, 144 MB with the conversion
    // to 8-bit. Flat, so the PNG itself is small.
    let img = DynamicImage::ImageRgba16(image::ImageBuffer::from_pixel(4000, 3000, image::Rgba([40000u16, 30000, 20000, 65535])));
    let png = encoded(&img, ImageFormat::Png);
    drop(img);
    assert!(header_of(&png).peak_bytes(None) > codec::MEMORY_BUDGET);
    let (result, used) = peak_of(|| pipeline::detect(&png));
    let err = result.unwrap_err();
    assert_eq!(err.code(), "image_too_large");
    assert!(err.to_string().contains("4000×3000"), "{err}");
    assert!(used < 2 << 20, "refusing it allocated {used} bytes");
    // The same photo as 8-bit RGB fits, and is decoded.
    let rgb = encoded(&DynamicImage::ImageRgb8(image::RgbImage::from_pixel(4000, 3000, image::Rgb([150, 110, 80]))), ImageFormat::Png);
    assert_eq!(pipeline::detect(&rgb).unwrap().width, 4000);
}
