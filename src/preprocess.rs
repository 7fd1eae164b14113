//! Model input preparation, defined once: the training scripts
//! (models/train) do exactly this, and a test compares the two.
//!
//! - resize: antialiased bilinear (image's Triangle filter = Pillow BILINEAR)
//! - tensors: f32 NCHW, RGB, value = pixel / 255
//! - detector: letterbox to S×S, centred, grey (128) padding
//! - landmarks: square crop around the face box, grey outside the photo

use image::{imageops, Rgb, RgbImage};
use tract_nnef::prelude::Tensor;

/// Where the photo went inside the detector's square canvas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    pub scale: f64,
    pub ox: u32,
    pub oy: u32,
}

impl Letterbox {
    /// Canvas pixels → photo pixels.
    pub fn to_photo(&self, x: f32, y: f32) -> (f32, f32) {
        (((x as f64 - self.ox as f64) / self.scale) as f32, ((y as f64 - self.oy as f64) / self.scale) as f32)
    }
}

/// Where the models' inputs are made from: a photo's pixels, or a JPEG's
/// coefficients made into pixels only where, and at the scale, each input
/// needs (`codec::Coded`).
pub trait Source {
    fn dimensions(&self) -> (u32, u32);
    /// The whole photo letterboxed to `size` × `size` (`letterbox`).
    fn letterbox(&self, size: u32, pad: u8) -> (RgbImage, Letterbox);
    /// `crop` resized to `size` × `size` (`crop_square`), and the square
    /// it was taken from, in photo pixels: `crop`, or within a pixel or two
    /// of it when made from a smaller picture.
    fn crop_square(&self, crop: Crop, size: u32, pad: u8) -> (RgbImage, Crop);
}

impl Source for RgbImage {
    fn dimensions(&self) -> (u32, u32) {
        RgbImage::dimensions(self)
    }

    fn letterbox(&self, size: u32, pad: u8) -> (RgbImage, Letterbox) {
        letterbox(self, size, pad)
    }

    fn crop_square(&self, crop: Crop, size: u32, pad: u8) -> (RgbImage, Crop) {
        (crop_square(self, crop, size, pad), crop)
    }
}

pub fn letterbox(img: &RgbImage, size: u32, pad: u8) -> (RgbImage, Letterbox) {
    let (w, h) = img.dimensions();
    let scale = size as f64 / w.max(h) as f64;
    let nw = ((w as f64 * scale).round() as u32).clamp(1, size);
    let nh = ((h as f64 * scale).round() as u32).clamp(1, size);
    let resized = imageops::resize(img, nw, nh, imageops::FilterType::Triangle);
    let (ox, oy) = ((size - nw) / 2, (size - nh) / 2);
    let mut canvas = RgbImage::from_pixel(size, size, Rgb([pad; 3]));
    imageops::replace(&mut canvas, &resized, ox as i64, oy as i64);
    (canvas, Letterbox { scale, ox, oy })
}

/// The square a landmark crop takes from the photo (may stick out of it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crop {
    pub left: i64,
    pub top: i64,
    pub side: u32,
}

impl Crop {
    pub fn around(face: [f32; 4], crop_scale: f32) -> Crop {
        let [x0, y0, x1, y1] = face;
        let (cx, cy) = ((x0 + x1) as f64 / 2.0, (y0 + y1) as f64 / 2.0);
        let side = crop_scale as f64 * ((x1 - x0).max(y1 - y0)) as f64;
        let s = ((side + 0.5).floor() as i64).max(1);
        let left = (cx - s as f64 / 2.0 + 0.5).floor() as i64;
        let top = (cy - s as f64 / 2.0 + 0.5).floor() as i64;
        Crop { left, top, side: s as u32 }
    }

    /// Crop-normalised (0..1) → photo pixels.
    pub fn to_photo(&self, u: f32, v: f32) -> (f32, f32) {
        (self.left as f32 + u * self.side as f32, self.top as f32 + v * self.side as f32)
    }
}

/// Cut `crop` out of the photo (grey where it leaves the photo) and resize
/// it to size×size. The crop is read through a view, never copied: a face
/// filling a 24 MP photo has a crop of ~80 MB.
pub fn crop_square(img: &RgbImage, crop: Crop, size: u32, pad: u8) -> RgbImage {
    crop_part(img, (0, 0), RgbImage::dimensions(img), crop, size, pad)
}

/// `crop_square` from `part`, the pixels of a picture `whole` in size from
/// `origin` on (the crop in that picture's pixels): grey outside the
/// picture. The pixels outside `part` are never read for a crop inside
/// the picture whose part holds it.
pub fn crop_part(part: &RgbImage, origin: (i64, i64), whole: (u32, u32), crop: Crop, size: u32, pad: u8) -> RgbImage {
    imageops::resize(&Padded { img: part, origin, whole, crop, pad: Rgb([pad; 3]) }, size, size, imageops::FilterType::Triangle)
}

/// The crop's square as an image: the photo's pixels, grey outside it.
struct Padded<'a> {
    img: &'a RgbImage,
    origin: (i64, i64),
    whole: (u32, u32),
    crop: Crop,
    pad: Rgb<u8>,
}

impl image::GenericImageView for Padded<'_> {
    type Pixel = Rgb<u8>;

    fn dimensions(&self) -> (u32, u32) {
        (self.crop.side, self.crop.side)
    }

    fn get_pixel(&self, x: u32, y: u32) -> Rgb<u8> {
        let (px, py) = (self.crop.left + x as i64, self.crop.top + y as i64);
        let (ix, iy) = (px - self.origin.0, py - self.origin.1);
        if px >= 0 && py >= 0 && px < self.whole.0 as i64 && py < self.whole.1 as i64 {
            // A part made for this crop holds every pixel of it in the picture.
            *self.img.get_pixel(ix.clamp(0, self.img.width() as i64 - 1) as u32, iy.clamp(0, self.img.height() as i64 - 1) as u32)
        } else {
            self.pad
        }
    }
}

/// RGB image → f32 NCHW tensor in 0..1.
pub fn to_tensor(img: &RgbImage) -> Tensor {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut data = vec![0f32; 3 * w * h];
    let plane = w * h;
    for (i, p) in img.pixels().enumerate() {
        data[i] = p[0] as f32 / 255.0;
        data[plane + i] = p[1] as f32 / 255.0;
        data[2 * plane + i] = p[2] as f32 / 255.0;
    }
    Tensor::from_shape(&[1, 3, h, w], &data).expect("shape matches data")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_centres_and_maps_back() {
        let img = RgbImage::from_pixel(400, 200, Rgb([255, 0, 0]));
        let (canvas, lb) = letterbox(&img, 224, 128);
        assert_eq!(canvas.dimensions(), (224, 224));
        assert_eq!((lb.ox, lb.oy), (0, 56));
        assert_eq!(canvas.get_pixel(100, 10).0, [128, 128, 128]);
        assert_eq!(canvas.get_pixel(100, 112).0, [255, 0, 0]);
        let (x, y) = lb.to_photo(224.0, 56.0 + 112.0);
        assert!((x - 400.0).abs() < 1e-3 && (y - 200.0).abs() < 1e-3);
    }

    #[test]
    fn crop_pads_outside_the_photo_and_maps_back() {
        let img = RgbImage::from_pixel(100, 100, Rgb([0, 255, 0]));
        let crop = Crop::around([-20.0, -20.0, 20.0, 20.0], 1.5);
        assert_eq!(crop, Crop { left: -30, top: -30, side: 60 });
        let out = crop_square(&img, crop, 30, 128);
        assert_eq!(out.get_pixel(2, 2).0, [128, 128, 128]);
        assert_eq!(out.get_pixel(27, 27).0, [0, 255, 0]);
        assert_eq!(crop.to_photo(1.0, 0.5), (30.0, 0.0));
        // Entirely outside: all grey, no panic.
        let far = crop_square(&img, Crop { left: 500, top: 500, side: 10 }, 8, 128);
        assert!(far.pixels().all(|p| p.0 == [128; 3]));
    }

    /// The view gives exactly what resizing a copied, grey-padded canvas
    /// gives (what the training scripts do).
    #[test]
    fn crop_view_matches_a_padded_copy() {
        let img = RgbImage::from_fn(90, 70, |x, y| Rgb([(x * 3) as u8, (y * 3) as u8, ((x * y) % 251) as u8]));
        for crop in [Crop { left: -17, top: 5, side: 77 }, Crop { left: 20, top: 10, side: 41 }, Crop { left: 60, top: 50, side: 55 }] {
            let mut canvas = RgbImage::from_pixel(crop.side, crop.side, Rgb([128; 3]));
            for (x, y, p) in canvas.enumerate_pixels_mut() {
                let (px, py) = (crop.left + x as i64, crop.top + y as i64);
                if px >= 0 && py >= 0 && px < 90 && py < 70 {
                    *p = *img.get_pixel(px as u32, py as u32);
                }
            }
            let copied = imageops::resize(&canvas, 24, 24, imageops::FilterType::Triangle);
            assert_eq!(crop_square(&img, crop, 24, 128), copied, "{crop:?}");
        }
    }

    #[test]
    fn tensor_is_nchw_scaled() {
        let mut img = RgbImage::new(2, 1);
        img.put_pixel(1, 0, Rgb([255, 51, 0]));
        let t = to_tensor(&img);
        assert_eq!(t.shape(), &[1, 3, 1, 2]);
        let v: Vec<f32> = t.to_plain_array_view::<f32>().unwrap().iter().copied().collect();
        assert_eq!(v, &[0.0, 1.0, 0.0, 0.2, 0.0, 0.0]);
    }
}
