//! The memory check made before decoding a photo (codec::PhotoHeader) must
//! be an upper bound on what decode → detect → landmarks → overlay → encode
//! really allocates, and not a wild one: measured here with a counting
//! global allocator on a 6-megapixel photo in each pixel format, EXIF
//! turn and output format the API takes. And a photo over the budget is
//! refused before its pixels are decoded. The pipeline runs on the calling
//! thread (no thread pool), so counting that thread sees all of it.

use edgecat::codec::{self, OutputFormat};
use edgecat::pipeline::Upload;
use edgecat::pipeline;
use image::{DynamicImage, ImageFormat};
use crate::counting::peak_of;
use std::io::Cursor;

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
    // Progressive JPEGs: the decoder holds every coefficient until the last
    // scan (2 bytes a sample), at full chroma and at 4:2:0.
    let progressive = |sampling| {
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 90);
        encoder.set_progressive(true);
        encoder.set_sampling_factor(sampling);
        let rgb = photo.to_rgb8();
        encoder.encode(rgb.as_raw(), rgb.width() as u16, rgb.height() as u16, jpeg_encoder::ColorType::Rgb).unwrap();
        out
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("JPEG RGB", jpeg),
        ("JPEG close-up", encoded(&DynamicImage::ImageRgb8(close_up.to_rgb8()), ImageFormat::Jpeg)),
        // Stored turned, so that the upright photo is the cat again.
        ("JPEG RGB, EXIF 6", with_exif_orientation(&encoded(&rgb.rotate270(), ImageFormat::Jpeg), 6)),
        ("JPEG RGB, EXIF 3", with_exif_orientation(&encoded(&rgb.rotate180(), ImageFormat::Jpeg), 3)),
        ("JPEG grey", encoded(&DynamicImage::ImageLuma8(photo.to_luma8()), ImageFormat::Jpeg)),
        ("JPEG progressive 4:4:4", progressive(jpeg_encoder::SamplingFactor::F_1_1)),
        ("JPEG progressive 4:2:0", progressive(jpeg_encoder::SamplingFactor::F_2_2)),
        ("PNG RGB", encoded(&rgb, ImageFormat::Png)),
        ("PNG RGBA", encoded(&DynamicImage::ImageRgba8(photo.to_rgba8()), ImageFormat::Png)),
        ("PNG 16-bit RGB", encoded(&DynamicImage::ImageRgb16(photo.to_rgb16()), ImageFormat::Png)),
        ("PNG 16-bit RGBA", encoded(&DynamicImage::ImageRgba16(photo.to_rgba16()), ImageFormat::Png)),
        ("WebP", encoded(&DynamicImage::ImageRgba8(photo.to_rgba8()), ImageFormat::WebP)),
    ];
    drop((cat, photo, rgb, close_up));
    let mb = |b: u64| b as f64 / 1e6;
    for (name, bytes) in &cases {
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
            let estimate = codec::photo_need(bytes, output).unwrap_or_else(|e| panic!("{name}: {e}"));
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
    assert_eq!(codec::photo_need(&png, None).unwrap_err().code(), "image_too_large");
    let (result, used) = peak_of(|| pipeline::detect(&png));
    let err = result.unwrap_err();
    assert_eq!(err.code(), "image_too_large");
    assert!(err.to_string().contains("4000×3000"), "{err}");
    assert!(used < 2 << 20, "refusing it allocated {used} bytes");
    // The same photo as 8-bit RGB fits, and is decoded.
    let rgb = encoded(&DynamicImage::ImageRgb8(image::RgbImage::from_pixel(4000, 3000, image::Rgb([150, 110, 80]))), ImageFormat::Png);
    assert_eq!(pipeline::detect(&rgb).unwrap().width, 4000);
}

#[test]
fn a_jpeg_whose_coefficients_would_not_fit_takes_the_pixel_route() {
    // Baseline 4:4:4, 5000×3800: its coefficients would be 114 MB, over the
    // budget; as pixels it fits.
    let img = image::RgbImage::from_fn(5000, 3800, |x, y| image::Rgb([(x / 20) as u8, (y / 15) as u8, 128]));
    let jpeg = |sampling| {
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 80);
        encoder.set_sampling_factor(sampling);
        encoder.encode(img.as_raw(), 5000, 3800, jpeg_encoder::ColorType::Rgb).unwrap();
        out
    };
    let full = jpeg(jpeg_encoder::SamplingFactor::F_1_1);
    let need = codec::photo_need(&full, None).unwrap();
    assert!(need <= codec::MEMORY_BUDGET, "{need}");
    assert!(matches!(codec::decode_upload(&full, None).unwrap(), codec::Decoded::Pixels { .. }));
    // At 4:2:0 its coefficients (57 MB) fit, and are what it is read as.
    let half = jpeg(jpeg_encoder::SamplingFactor::F_2_2);
    assert!(codec::photo_need(&half, None).unwrap() <= codec::MEMORY_BUDGET);
    assert!(matches!(codec::decode_upload(&half, None).unwrap(), codec::Decoded::Coded(_)));
}
