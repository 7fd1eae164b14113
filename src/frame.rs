//! A video frame's pixels (a canvas's RGBA `ImageData`) as the pipeline's RGB
//! image: what the browser build's live mode detects on, with no decode.

use crate::codec::{MAX_PIXELS, MAX_SIDE};
use crate::error::ApiError;
use image::RgbImage;

/// The RGB image of `width`×`height` RGBA pixels, row by row. Alpha is
/// flattened on white, as `codec::decode_photo` does for a photo with
/// alpha (a camera frame is opaque, and then the pixels are kept exactly).
/// Bounded like a photo: the same side and pixel limits and errors.
pub fn rgb_from_rgba(rgba: &[u8], width: u32, height: u32) -> Result<RgbImage, ApiError> {
    if width == 0 || height == 0 {
        return Err(ApiError::BadImage(format!("the frame is {width}×{height}: it has no pixels")));
    }
    let pixels = width as u64 * height as u64;
    if width > MAX_SIDE || height > MAX_SIDE || pixels > MAX_PIXELS {
        return Err(ApiError::ImageTooLarge(format!(
            "the frame is {width}×{height}; the limits are {MAX_SIDE} px a side and {MAX_PIXELS} pixels"
        )));
    }
    if rgba.len() as u64 != pixels * 4 {
        return Err(ApiError::BadRequest(format!(
            "a {width}×{height} frame is {} RGBA bytes, not {}",
            pixels * 4,
            rgba.len()
        )));
    }
    let rgb = rgba
        .chunks_exact(4)
        .flat_map(|p| {
            let a = p[3] as u32;
            let mix = |c: u8| ((c as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
            [mix(p[0]), mix(p[1]), mix(p[2])]
        })
        .collect();
    Ok(RgbImage::from_raw(width, height, rgb).expect("3 bytes a pixel"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;
    use image::{codecs::png::PngEncoder, ImageEncoder, RgbaImage};

    fn rgba(w: u32, h: u32) -> RgbaImage {
        RgbaImage::from_fn(w, h, |x, y| image::Rgba([(x * 9) as u8, (y * 5) as u8, (x ^ y) as u8, ((x + y) * 17) as u8]))
    }

    #[test]
    fn opaque_pixels_are_kept_exactly() {
        let mut img = rgba(7, 5);
        img.pixels_mut().for_each(|p| p.0[3] = 255);
        let rgb = rgb_from_rgba(img.as_raw(), 7, 5).unwrap();
        assert_eq!(rgb.dimensions(), (7, 5));
        for (a, b) in img.pixels().zip(rgb.pixels()) {
            assert_eq!(&a.0[..3], &b.0[..]);
        }
    }

    #[test]
    fn alpha_is_flattened_as_a_decoded_photo_is() {
        let img = rgba(16, 9);
        let mut png = Vec::new();
        PngEncoder::new(&mut png).write_image(img.as_raw(), 16, 9, image::ExtendedColorType::Rgba8).unwrap();
        let decoded = codec::decode_photo(&png, None).unwrap();
        assert_eq!(rgb_from_rgba(img.as_raw(), 16, 9).unwrap(), decoded);
    }

    #[test]
    fn a_frame_of_a_cat_photo_finds_the_cats_detect_finds_in_its_bytes() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/cat-photos/kairess_001.jpg");
        let bytes = std::fs::read(path).expect("../shared beside the checkout");
        let decoded = codec::decode_photo(&bytes, None).unwrap();
        let pixels = crate::pipeline::detect_image(&decoded).unwrap();
        let frame = image::DynamicImage::ImageRgb8(decoded).into_rgba8();
        let img = rgb_from_rgba(frame.as_raw(), frame.width(), frame.height()).unwrap();
        let found = crate::pipeline::detect_image(&img).unwrap();
        assert!(!found.cats.is_empty());
        assert_eq!((found.width, found.height), (pixels.width, pixels.height));
        assert_eq!(found.cats.len(), pixels.cats.len());
        for (a, b) in found.cats.iter().zip(&pixels.cats) {
            assert_eq!((a.score, a.bbox, &a.landmarks), (b.score, b.bbox, &b.landmarks), "same pixels, same answer");
        }
        // The upload itself (read as coefficients when it is large) finds
        // the same cats in the same places.
        let photo = crate::pipeline::detect(&bytes).unwrap();
        assert_eq!((photo.width, photo.height, photo.cats.len()), (found.width, found.height, found.cats.len()));
        for (a, b) in found.cats.iter().zip(&photo.cats) {
            assert!(crate::detector::iou(&a.bbox, &b.bbox) > 0.9, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn wrong_sizes_are_refused_with_the_api_codes() {
        assert_eq!(rgb_from_rgba(&[0; 12], 2, 2).unwrap_err().code(), "bad_request");
        assert_eq!(rgb_from_rgba(&[0; 20], 2, 2).unwrap_err().code(), "bad_request");
        assert_eq!(rgb_from_rgba(&[], 0, 4).unwrap_err().code(), "bad_image");
        assert_eq!(rgb_from_rgba(&[], MAX_SIDE + 1, 1).unwrap_err().code(), "image_too_large");
        assert_eq!(rgb_from_rgba(&[], 10_000, 10_000).unwrap_err().code(), "image_too_large");
    }
}
