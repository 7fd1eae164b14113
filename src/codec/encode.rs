//! Encoding the result image.

use super::{OutputFormat, JPEG_QUALITY};
use crate::error::ApiError;
use image::codecs::png::PngEncoder;
use image::RgbImage;

/// PNG output is reserved whole up front (raw size plus deflate's worst-case
/// overhead), so it never reallocates: growing by doubling would hold two
/// buffers of up to twice the final size at once.
pub(super) fn png_capacity(raw: usize) -> usize {
    raw + raw / 64 + 4096
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
