//! Model input preparation, defined once: the training scripts
//! (models/train) do exactly this, and a test compares the two.
//!
//! - resize: antialiased bilinear, Pillow's BILINEAR convolution
//!   (`fast_image_resize`, with SIMD128 kernels in Wasm; BENCHMARKS.md has
//!   what it saved here)
//! - tensors: f32 NCHW, RGB, value = pixel / 255
//! - detector: letterbox to S×S, centred, grey (128) padding
//! - landmarks: square crop around the face box, grey outside the photo

use fast_image_resize as fir;
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
    /// `crop_square` for the landmark model's crop of a face, which a
    /// `codec::Coded` may make from a smaller picture than a tile's.
    fn face_crop(&self, crop: Crop, size: u32, pad: u8) -> (RgbImage, Crop) {
        self.crop_square(crop, size, pad)
    }
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
    let resized = resize_region(img, [0, 0, w, h], nw, nh);
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
    let side = crop.side as i64;
    let in_picture = crop.left >= 0 && crop.top >= 0 && crop.left + side <= whole.0 as i64 && crop.top + side <= whole.1 as i64;
    let (left, top) = (crop.left - origin.0, crop.top - origin.1);
    let in_part = left >= 0 && top >= 0 && left + side <= part.width() as i64 && top + side <= part.height() as i64;
    let padded = Padded { img: part, origin, whole, crop, pad: Rgb([pad; 3]) };
    if in_picture && in_part {
        // Resized in place: the crop's edges bound the filter, as in a copy.
        resize_region(part, [left as u32, top as u32, crop.side, crop.side], size, size)
    } else if crop.side <= PADDED_CROP_MAX {
        let copy = padded.to_image();
        resize_region(&copy, [0, 0, crop.side, crop.side], size, size)
    } else {
        // A huge crop off the picture's edge (a face filling a large
        // photo): read through the view rather than copied.
        imageops::resize(&padded, size, size, imageops::FilterType::Triangle)
    }
}

/// The side up to which a crop that leaves the picture is copied, grey
/// padding and all, to be resized (3 bytes a pixel: 3 MB).
pub const PADDED_CROP_MAX: u32 = 1024;

/// `region` ([left, top, width, height]) of `src`, resized to `w` × `h`
/// with Pillow's antialiased bilinear convolution: what the training
/// scripts' `Image.resize(…, BILINEAR)` does, in fixed point as Pillow's,
/// and in its order: across first, then down, each pass rounded to 8 bits
/// (fast_image_resize alone goes down first, a level off Pillow's more
/// often). Its scratch is `w` × the region's height (3 bytes a pixel).
pub fn resize_region(src: &RgbImage, region: [u32; 4], w: u32, h: u32) -> RgbImage {
    let whole = fir::images::ImageRef::new(src.width(), src.height(), src.as_raw(), fir::PixelType::U8x3).expect("an RGB buffer");
    let [left, top, rw, rh] = region;
    let part = fir::images::CroppedImage::new(&whole, left, top, rw, rh).expect("the region lies in the image");
    let mut resizer = fir::Resizer::new();
    let across = bilinear(&mut resizer, &part, w, rh);
    let out = bilinear(&mut resizer, &across, w, h);
    RgbImage::from_raw(w, h, out.into_vec()).expect("w × h RGB")
}

/// `src` resized to `w` × `h` by the antialiased bilinear convolution, its
/// channels filtered alike (no alpha weighting: a premultiplied overlay is
/// filtered as it is).
pub(crate) fn bilinear(resizer: &mut fir::Resizer, src: &impl fir::IntoImageView, w: u32, h: u32) -> fir::images::Image<'static> {
    let pixels = src.pixel_type().expect("a pixel type fast_image_resize knows");
    let mut out = fir::images::Image::new(w, h, pixels);
    let options = fir::ResizeOptions::new().resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::Bilinear)).use_alpha(false);
    resizer.resize(src, &mut out, &options).expect("the same pixel type both sides");
    out
}

/// The crop's square as an image: the photo's pixels, grey outside it.
struct Padded<'a> {
    img: &'a RgbImage,
    origin: (i64, i64),
    whole: (u32, u32),
    crop: Crop,
    pad: Rgb<u8>,
}

impl Padded<'_> {
    /// The square copied, row by row.
    fn to_image(&self) -> RgbImage {
        let side = self.crop.side;
        let mut out = RgbImage::from_pixel(side, side, self.pad);
        let (pw, ph) = (self.img.width() as i64, self.img.height() as i64);
        let xs = (0i64.max(-self.crop.left), (side as i64).min(self.whole.0 as i64 - self.crop.left));
        for (y, row) in out.rows_mut().enumerate() {
            let py = self.crop.top + y as i64;
            if py < 0 || py >= self.whole.1 as i64 || xs.0 >= xs.1 {
                continue;
            }
            let iy = (py - self.origin.1).clamp(0, ph - 1) as u32;
            for (x, p) in row.enumerate().take(xs.1 as usize).skip(xs.0 as usize) {
                let ix = (self.crop.left + x as i64 - self.origin.0).clamp(0, pw - 1) as u32;
                *p = *self.img.get_pixel(ix, iy);
            }
        }
        out
    }
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

    /// A crop gives exactly what resizing a copied, grey-padded canvas
    /// gives (what the training scripts do), whether it lies in the photo
    /// (resized in place), leaves it (copied), or is too large to copy
    /// (the view: image's Triangle filter, within two levels of it).
    #[test]
    fn crop_matches_a_padded_copy() {
        let img = RgbImage::from_fn(1500, 1100, |x, y| Rgb([(x * 3) as u8, (y * 3) as u8, ((x * y) % 251) as u8]));
        let crops = [
            Crop { left: -17, top: 5, side: 77 },
            Crop { left: 20, top: 10, side: 41 },
            Crop { left: 60, top: 50, side: 55 },
            Crop { left: 1400, top: 1000, side: 300 },
            Crop { left: -300, top: -100, side: PADDED_CROP_MAX + 300 },
        ];
        for crop in crops {
            let mut canvas = RgbImage::from_pixel(crop.side, crop.side, Rgb([128; 3]));
            for (x, y, p) in canvas.enumerate_pixels_mut() {
                let (px, py) = (crop.left + x as i64, crop.top + y as i64);
                if px >= 0 && py >= 0 && px < 1500 && py < 1100 {
                    *p = *img.get_pixel(px as u32, py as u32);
                }
            }
            let copied = resize_region(&canvas, [0, 0, crop.side, crop.side], 24, 24);
            let ours = crop_square(&img, crop, 24, 128);
            if crop.side <= PADDED_CROP_MAX {
                assert_eq!(ours, copied, "{crop:?}");
            } else {
                let worst = ours.as_raw().iter().zip(copied.as_raw()).map(|(&a, &b)| a.abs_diff(b)).max().unwrap();
                assert!(worst <= 2, "{crop:?}: {worst} levels off");
            }
        }
    }

    /// The resize is the antialiased bilinear filter (image's Triangle, a
    /// float implementation of it): within a level or two everywhere, on a
    /// detail-rich picture, shrinking and enlarging.
    #[test]
    fn resize_is_the_antialiased_bilinear_filter() {
        let img = RgbImage::from_fn(333, 251, |x, y| Rgb([(x * 7 ^ y * 3) as u8, ((x + y) * 5) as u8, ((x * y) % 251) as u8]));
        for (w, h) in [(160, 121), (96, 96), (17, 9), (500, 400)] {
            let ours = resize_region(&img, [0, 0, 333, 251], w, h);
            let float = imageops::resize(&img, w, h, imageops::FilterType::Triangle);
            let d: Vec<u8> = ours.as_raw().iter().zip(float.as_raw()).map(|(&a, &b)| a.abs_diff(b)).collect();
            let mean = d.iter().map(|&v| v as f64).sum::<f64>() / d.len() as f64;
            assert!(*d.iter().max().unwrap() <= 2 && mean < 0.5, "{w}×{h}: max {}, mean {mean:.3}", d.iter().max().unwrap());
        }
        // A region is resized on its own: its edges bound the filter.
        let part = image::imageops::crop_imm(&img, 40, 30, 120, 90).to_image();
        assert_eq!(resize_region(&img, [40, 30, 120, 90], 50, 40), resize_region(&part, [0, 0, 120, 90], 50, 40));
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
