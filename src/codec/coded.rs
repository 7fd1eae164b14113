//! A JPEG photo kept as its coefficients (`blocks`), made into pixels only
//! where, and at the scale, each stage needs: the detector's letterbox and
//! tiles from one picture of the whole photo at 1/2 to 1/8, each landmark
//! crop from the part of the photo it covers at the scale its size allows,
//! and the parts the glasses cover at full size (`Canvas`). The rest of the
//! photo is never made into pixels at all: its coefficients are copied to
//! the answer as they were uploaded (`recode`).

use super::blocks::{Blocks, SCALES};
use super::recode::Rect;
use crate::preprocess::{self, Crop, Letterbox, Source};
use image::metadata::Orientation;
use image::{Rgb, RgbImage};
use std::cell::RefCell;

/// How much smaller a picture may be made than what it is cut and resized
/// from, at most: the resize after it (antialiased bilinear) then still
/// shrinks by this much or more, so what the models see is close to a
/// resize of every pixel (the training scripts' preprocessing). The
/// detector's is 2 (session 16; 4 before): a 1 MP photo (864 px short side)
/// is seen at 1/2, which saves most of its decode and encode, and the
/// curated cats so read keep the faces every pixel gives (IoU ≥ 0.98) with
/// their eyes within 0.09 of their distance apart (tests/core/models.rs).
/// (Before session 14's resize, kairess_014's eyes moved 0.42 at 2; now
/// 0.06.) The crops keep 4 at 1/4 and 1/8: the face check is the more
/// sensitive, and at 2 a curated cat's crop made at 1/8 (a block's mean
/// alone; mean difference 2.2 levels) scored 0.34 where every pixel gave
/// 0.53, under its 0.45 threshold. At 1/2 a crop needs 1.5 (session 20;
/// `crop_scale`): a block's picture there is its 16 lowest frequencies,
/// a fair shrink, and a 1 MP photo's face crop (about 370 px) is then cut
/// from the detector's picture instead of decoded again at full size.
const DETECTOR_MARGIN: u32 = 2;
const CROP_MARGIN: u32 = 4;
/// 1.5, doubled to stay whole.
const CROP_MARGIN_HALF_X2: u32 = 3;

/// The scale (1/k) of a picture of which `side` pixels go to `size`, at
/// least `margin` times larger.
fn scale_for(side: u32, size: u32, margin: u32) -> u32 {
    SCALES.iter().copied().filter(|&k| side / k >= margin * size).max().unwrap_or(1)
}

/// The scale a tile's canvas of `side` photo pixels to `size` is made at.
/// (The tiles keep 4 at 1/2 too: the kitten the tile pass exists for,
/// kairess_010, loses its face when its tiles are made at 1/2.)
fn tile_scale(side: u32, size: u32) -> u32 {
    scale_for(side, size, CROP_MARGIN)
}

/// The scale a landmark crop of `side` photo pixels to `size` is made at:
/// `tile_scale`, or 1/2 where that leaves the resize after it shrinking by
/// 1.5 or more.
fn crop_scale(side: u32, size: u32) -> u32 {
    match tile_scale(side, size) {
        1 if side / 2 * 2 >= CROP_MARGIN_HALF_X2 * size => 2,
        k => k,
    }
}

/// The scale the detector sees a `w` × `h` photo at: its tiles (as tall as
/// the short side) and its letterbox (the long side) are both resized from
/// it. 1: the photo is small enough to be made whole. Never 1/8, where a
/// block is its mean alone: a curated cat's box moved by 0.4 % there, and
/// the face check on it fell under its threshold (0.44 against 0.53).
pub fn photo_scale(w: u32, h: u32, detector_side: u32) -> u32 {
    scale_for(w.min(h), detector_side, DETECTOR_MARGIN).min(4)
}

pub struct Coded {
    blocks: Blocks,
    /// The EXIF orientation that makes the stored blocks upright: what the
    /// models are given (`Source`) is turned by it, in upright coordinates.
    orientation: Orientation,
    /// The whole photo at 1/`scale`.
    scale: u32,
    picture: RgbImage,
    /// Parts made for landmark crops, kept for the next crop and for the
    /// glasses: a face's refine crop and its glasses mostly lie within its
    /// first crop. At most `PARTS_KEPT` bytes.
    parts: RefCell<Vec<Part>>,
}

struct Part {
    k: u32,
    /// Photo pixels (multiples of `k`, or the photo's edge).
    rect: Rect,
    image: RgbImage,
}

/// What `Coded` keeps of the parts it made (`limits` counts it).
pub const PARTS_KEPT: u64 = 8 << 20;

impl Coded {
    pub(super) fn new(blocks: Blocks, detector_side: u32, orientation: Orientation) -> Coded {
        let (w, h) = (blocks.width(), blocks.height());
        let scale = photo_scale(w, h, detector_side);
        let picture = blocks.pixels([0, 0, w, h], scale);
        Coded { blocks, orientation, scale, picture, parts: RefCell::new(Vec::new()) }
    }

    /// Stored turned or flipped: `decode` reads one as coefficients only to
    /// detect, and `Decoded::canvas` never draws on its stored blocks.
    pub fn reoriented(&self) -> bool {
        self.orientation != Orientation::NoTransforms
    }

    /// `f` on a part at 1/`k` that holds `rect` (photo pixels, in the
    /// photo), and where it starts at that scale: one kept, or one made a
    /// little larger than asked (an eighth of its side each way), and kept.
    fn with_part<R>(&self, rect: Rect, k: u32, f: impl FnOnce(&RgbImage, (i64, i64)) -> R) -> R {
        let holds = |p: &Part| p.k == k && p.rect[0] <= rect[0] && p.rect[1] <= rect[1] && p.rect[2] >= rect[2] && p.rect[3] >= rect[3];
        let mut parts = self.parts.borrow_mut();
        let i = match parts.iter().position(holds) {
            Some(i) => i,
            None => {
                let (w, h) = (self.blocks.width(), self.blocks.height());
                let m = (rect[2] - rect[0]).max(rect[3] - rect[1]) / 8;
                let wider = [rect[0].saturating_sub(m) / k * k, rect[1].saturating_sub(m) / k * k, (rect[2] + m).min(w), (rect[3] + m).min(h)];
                let image = self.blocks.pixels(wider, k);
                let kept: u64 = parts.iter().map(|p| p.image.len() as u64).sum();
                if kept + image.len() as u64 > PARTS_KEPT {
                    parts.clear();
                }
                parts.push(Part { k, rect: wider, image });
                parts.len() - 1
            }
        };
        let p = &parts[i];
        f(&p.image, ((p.rect[0] / k) as i64, (p.rect[1] / k) as i64))
    }

    pub fn scale(&self) -> u32 {
        self.scale
    }

    /// The bytes of the whole photo's picture at 1/`scale`.
    pub fn picture_bytes(&self) -> usize {
        self.picture.len()
    }

    /// The photo's pixels at full size where `parts` (photo pixels) are,
    /// each widened to whole MCUs (the encoder codes a block under the
    /// glasses afresh from all its pixels), overlapping ones merged.
    pub(super) fn canvas(self, parts: &[Rect]) -> Canvas {
        let (w, h) = (self.blocks.width(), self.blocks.height());
        let (mw, mh) = self.blocks.mcu();
        let mut rects: Vec<Rect> = parts
            .iter()
            .filter(|r| r[0] < r[2] && r[1] < r[3])
            .map(|r| [r[0] / mw * mw, r[1] / mh * mh, r[2].div_ceil(mw).saturating_mul(mw).min(w), r[3].div_ceil(mh).saturating_mul(mh).min(h)])
            .collect();
        // Merged until none overlaps another (a pixel lies in one part).
        let mut merged: Vec<Rect> = Vec::with_capacity(rects.len());
        for mut r in rects.drain(..) {
            while let Some(i) = merged.iter().position(|m| overlaps(m, &r)) {
                let m = merged.swap_remove(i);
                r = [m[0].min(r[0]), m[1].min(r[1]), m[2].max(r[2]), m[3].max(r[3])];
            }
            merged.push(r);
        }
        // From a part kept for the landmark crops when one holds it.
        let kept = self.parts.borrow();
        let made = |r: Rect| {
            let p = kept.iter().find(|p| p.k == 1 && p.rect[0] <= r[0] && p.rect[1] <= r[1] && p.rect[2] >= r[2] && p.rect[3] >= r[3]);
            p.map_or_else(
                || self.blocks.pixels(r, 1),
                |p| image::imageops::crop_imm(&p.image, r[0] - p.rect[0], r[1] - p.rect[1], r[2] - r[0], r[3] - r[1]).to_image(),
            )
        };
        let parts = merged.into_iter().map(|r| (r, made(r))).collect();
        drop(kept);
        // The encoder needs only the coefficients and the scan from here.
        let mut coded = self;
        coded.picture = RgbImage::new(0, 0);
        coded.parts.get_mut().clear();
        Canvas::Parts { width: w, height: h, parts, outside: Rgb([0; 3]), coded: Box::new(coded) }
    }

    pub(super) fn blocks(&self) -> &Blocks {
        &self.blocks
    }

    /// Every pixel (the tests' reference).
    #[cfg(test)]
    pub(super) fn whole(&self) -> RgbImage {
        self.blocks.pixels([0, 0, self.blocks.width(), self.blocks.height()], 1)
    }
}

fn overlaps(a: &Rect, b: &Rect) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

/// A copy of `img` turned by `o`, as `DynamicImage::apply_orientation`
/// turns a photo, made in one new buffer (`limits` counts one picture more).
fn oriented(img: &RgbImage, o: Orientation) -> RgbImage {
    use image::imageops::{flip_horizontal, flip_horizontal_in_place, flip_vertical, rotate180, rotate270, rotate90};
    let flipped = |mut t: RgbImage| {
        flip_horizontal_in_place(&mut t);
        t
    };
    match o {
        Orientation::NoTransforms => img.clone(),
        Orientation::FlipHorizontal => flip_horizontal(img),
        Orientation::FlipVertical => flip_vertical(img),
        Orientation::Rotate180 => rotate180(img),
        Orientation::Rotate90 => rotate90(img),
        Orientation::Rotate270 => rotate270(img),
        Orientation::Rotate90FlipH => flipped(rotate90(img)),
        Orientation::Rotate270FlipH => flipped(rotate270(img)),
    }
}

/// Where point (x, y) of a `w` × `h` stored photo lands once it is turned
/// by `o` (continuous coordinates: a pixel's corners, not its centre), and
/// with `back`, the stored point of upright point (x, y) (`w` × `h` still
/// the stored size).
fn turn(o: Orientation, (w, h): (i64, i64), (x, y): (i64, i64), back: bool) -> (i64, i64) {
    use Orientation::*;
    // Orientations that are not their own inverse swap when going back.
    let o = match (o, back) {
        (Rotate90, true) => Rotate270,
        (Rotate270, true) => Rotate90,
        (o, _) => o,
    };
    // Going back, the photo being turned is the upright one: its size is
    // the stored size turned.
    let (w, h) = if back && matches!(o, Rotate90 | Rotate270 | Rotate90FlipH | Rotate270FlipH) { (h, w) } else { (w, h) };
    match o {
        NoTransforms => (x, y),
        FlipHorizontal => (w - x, y),
        FlipVertical => (x, h - y),
        Rotate180 => (w - x, h - y),
        Rotate90 => (h - y, x),
        Rotate270 => (y, w - x),
        Rotate90FlipH => (y, x),
        Rotate270FlipH => (h - y, w - x),
    }
}

/// The square `c` turned (`turn`): its corners map to another square's.
fn turn_square(o: Orientation, size: (i64, i64), c: Crop, back: bool) -> Crop {
    let s = c.side as i64;
    let (a, b) = (turn(o, size, (c.left, c.top), back), turn(o, size, (c.left + s, c.top + s), back));
    Crop { left: a.0.min(b.0), top: a.1.min(b.1), side: c.side }
}

impl Source for Coded {
    /// Upright.
    fn dimensions(&self) -> (u32, u32) {
        let (w, h) = (self.blocks.width(), self.blocks.height());
        if super::decode::quarter_turn(self.orientation) {
            (h, w)
        } else {
            (w, h)
        }
    }

    fn letterbox(&self, size: u32, pad: u8) -> (RgbImage, Letterbox) {
        let turned;
        let picture = if self.reoriented() {
            turned = oriented(&self.picture, self.orientation);
            &turned
        } else {
            &self.picture
        };
        let (canvas, lb) = preprocess::letterbox(picture, size, pad);
        // Picture pixels are `scale` photo pixels each way.
        (canvas, Letterbox { scale: lb.scale / self.scale as f64, ..lb })
    }

    /// A tile's canvas (the detector's): `square` at `tile_scale`.
    fn crop_square(&self, crop: Crop, size: u32, pad: u8) -> (RgbImage, Crop) {
        self.square(crop, size, pad, tile_scale)
    }

    /// A landmark crop: `square` at `crop_scale`.
    fn face_crop(&self, crop: Crop, size: u32, pad: u8) -> (RgbImage, Crop) {
        self.square(crop, size, pad, crop_scale)
    }
}

impl Coded {
    /// `crop` in upright coordinates, made at the scale `scale` gives for
    /// its side: the same square of the stored blocks, its canvas turned.
    fn square(&self, crop: Crop, size: u32, pad: u8, scale: fn(u32, u32) -> u32) -> (RgbImage, Crop) {
        if !self.reoriented() {
            return self.crop_stored(crop, size, pad, scale);
        }
        let stored = (self.blocks.width() as i64, self.blocks.height() as i64);
        let (canvas, taken) = self.crop_stored(turn_square(self.orientation, stored, crop, true), size, pad, scale);
        (oriented(&canvas, self.orientation), turn_square(self.orientation, stored, taken, false))
    }

    /// `square` in stored coordinates.
    fn crop_stored(&self, crop: Crop, size: u32, pad: u8, scale: fn(u32, u32) -> u32) -> (RgbImage, Crop) {
        let k = scale(crop.side, size).min(self.scale);
        let (w, h) = (self.blocks.width(), self.blocks.height());
        let small = Crop { left: crop.left.div_euclid(k as i64), top: crop.top.div_euclid(k as i64), side: ((crop.side + k / 2) / k).max(1) };
        let taken = Crop { left: small.left * k as i64, top: small.top * k as i64, side: small.side * k };
        let whole = (w.div_ceil(k), h.div_ceil(k));
        let canvas = if k == self.scale {
            preprocess::crop_part(&self.picture, (0, 0), whole, small, size, pad)
        } else {
            let clip = |v: i64, max: u32| v.clamp(0, max as i64) as u32;
            let rect = [clip(taken.left, w), clip(taken.top, h), clip(taken.left + taken.side as i64, w), clip(taken.top + taken.side as i64, h)];
            if rect[0] >= rect[2] || rect[1] >= rect[3] {
                // Wholly outside the photo: grey.
                return (RgbImage::from_pixel(size, size, Rgb([pad; 3])), taken);
            }
            self.with_part(rect, k, |part, origin| preprocess::crop_part(part, origin, whole, small, size, pad))
        };
        (canvas, taken)
    }
}

/// The pixels the glasses are drawn on: the whole photo, or only the parts
/// of it they cover (`Coded::canvas`), each by photo coordinates.
pub enum Canvas {
    Whole {
        image: RgbImage,
        /// Turned by its EXIF orientation: not the upload's own pixels.
        reoriented: bool,
    },
    Parts {
        width: u32,
        height: u32,
        parts: Vec<(Rect, RgbImage)>,
        /// Where a write outside every part goes (none does: the parts are
        /// made for what is drawn).
        outside: Rgb<u8>,
        /// The upload as read: the encoder copies from it (`recode`).
        coded: Box<Coded>,
    },
}

impl Canvas {
    pub fn dimensions(&self) -> (u32, u32) {
        match self {
            Canvas::Whole { image, .. } => image.dimensions(),
            Canvas::Parts { width, height, .. } => (*width, *height),
        }
    }

    pub fn pixel(&self, x: u32, y: u32) -> Rgb<u8> {
        match self {
            Canvas::Whole { image, .. } => *image.get_pixel(x, y),
            Canvas::Parts { parts, .. } => parts
                .iter()
                .find(|(r, _)| x >= r[0] && x < r[2] && y >= r[1] && y < r[3])
                .map_or(Rgb([0; 3]), |(r, img)| *img.get_pixel(x - r[0], y - r[1])),
        }
    }

    pub fn pixel_mut(&mut self, x: u32, y: u32) -> &mut Rgb<u8> {
        match self {
            Canvas::Whole { image, .. } => image.get_pixel_mut(x, y),
            Canvas::Parts { parts, outside, .. } => {
                match parts.iter_mut().find(|(r, _)| x >= r[0] && x < r[2] && y >= r[1] && y < r[3]) {
                    Some((r, img)) => img.get_pixel_mut(x - r[0], y - r[1]),
                    None => outside,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::DynamicImage;

    fn jpeg(w: u32, h: u32) -> Vec<u8> {
        // Smooth, with some edges (as a photo has).
        let img = RgbImage::from_fn(w, h, |x, y| Rgb([(x / 6) as u8, (y / 4) as u8, if (x / 40 + y / 40) % 2 == 0 { 60 } else { 190 }]));
        super::super::fixtures::jpeg_of(&img, jpeg_encoder::SamplingFactor::F_2_2, 0, 90)
    }

    fn differ(a: &RgbImage, b: &RgbImage) -> (f64, i32) {
        let d: Vec<i32> = a.as_raw().iter().zip(b.as_raw()).map(|(&a, &b)| (a as i32 - b as i32).abs()).collect();
        (d.iter().sum::<i32>() as f64 / d.len() as f64, *d.iter().max().unwrap())
    }

    #[test]
    fn scales_leave_the_resize_after_them_shrinking_by_the_margin() {
        assert_eq!(scale_for(400, 96, 2), 2);
        assert_eq!(scale_for(191, 96, 2), 1);
        assert_eq!(scale_for(800, 96, 4), 2);
        assert_eq!(scale_for(10_000, 96, 4), 8);
        // A crop: 1/2 from 1.5 × its canvas, 1/4 and 1/8 from 4 ×.
        assert_eq!(crop_scale(287, 96), 1);
        assert_eq!(crop_scale(288, 96), 2);
        assert_eq!(crop_scale(372, 96), 2);
        assert_eq!(crop_scale(1535, 96), 2);
        assert_eq!(crop_scale(1536, 96), 4);
        assert_eq!(crop_scale(3072, 96), 8);
        // The detector's picture stays at least 2 × 160 on its short side.
        assert_eq!(photo_scale(1152, 864, 160), 2);
        assert_eq!(photo_scale(1000, 639, 160), 1);
        assert_eq!(photo_scale(1000, 640, 160), 2);
        assert_eq!(photo_scale(2600, 1300, 160), 4);
        assert_eq!(photo_scale(4032, 3024, 160), 4);
        assert_eq!(photo_scale(640, 480, 160), 1);
    }

    /// A crop made from a smaller picture says where it was taken from, and
    /// is within rounding of the same square cut from every pixel.
    #[test]
    fn crops_are_those_of_the_whole_photo() {
        let bytes = jpeg(900, 700);
        let coded = Coded::new(Blocks::read(&bytes).unwrap(), 160, Orientation::NoTransforms);
        assert_eq!(coded.scale(), 2);
        let whole = coded.whole();
        for crop in [Crop { left: 301, top: 207, side: 397 }, Crop { left: -50, top: 550, side: 250 }, Crop { left: 10, top: 10, side: 1900 }] {
            // A tile's canvas, and a face crop (the first made at 1/2, from the picture).
            for (canvas, taken) in [coded.crop_square(crop, 96, 128), coded.face_crop(crop, 96, 128)] {
                assert!((taken.left - crop.left).abs() < 8 && (taken.side as i64 - crop.side as i64).abs() < 8, "{crop:?} → {taken:?}");
                let reference = preprocess::crop_square(&whole, taken, 96, 128);
                let (mean, max) = differ(&canvas, &reference);
                assert!(mean < 0.75 && max <= 16, "{crop:?}: differs by {mean:.2} on average, {max} at most");
            }
        }
        let (canvas, lb) = coded.letterbox(160, 128);
        let (reference, full) = preprocess::letterbox(&whole, 160, 128);
        assert_eq!((lb.ox, lb.oy), (full.ox, full.oy));
        assert!((lb.scale - full.scale).abs() < 1e-3 * full.scale, "{lb:?} {full:?}");
        let (mean, max) = differ(&canvas, &reference);
        assert!(mean < 0.75 && max <= 16, "the letterbox differs by {mean:.2} on average, {max} at most");
    }

    /// A photo stored turned or flipped gives the models what its upright
    /// pixels give: every EXIF orientation's letterbox and crops, in upright
    /// coordinates, within rounding of those cut from every pixel turned.
    #[test]
    fn a_turned_photo_is_seen_upright() {
        use Orientation::*;
        let bytes = jpeg(720, 656);
        for o in [NoTransforms, FlipHorizontal, FlipVertical, Rotate180, Rotate90, Rotate270, Rotate90FlipH, Rotate270FlipH] {
            let coded = Coded::new(Blocks::read(&bytes).unwrap(), 160, o);
            assert_eq!(coded.scale(), 2);
            assert_eq!(coded.reoriented(), o != NoTransforms);
            // The reference turned as the pixel route turns a photo.
            let mut upright = DynamicImage::ImageRgb8(coded.whole());
            upright.apply_orientation(o);
            let upright = upright.into_rgb8();
            assert_eq!(Source::dimensions(&coded), upright.dimensions(), "{o:?}");
            let (canvas, lb) = coded.letterbox(160, 128);
            let (reference, full) = preprocess::letterbox(&upright, 160, 128);
            assert_eq!((lb.ox, lb.oy), (full.ox, full.oy), "{o:?}");
            assert!((lb.scale - full.scale).abs() < 1e-3 * full.scale, "{o:?}: {lb:?} {full:?}");
            let (mean, max) = differ(&canvas, &reference);
            assert!(mean < 0.75 && max <= 16, "{o:?}: the letterbox differs by {mean:.2} on average, {max} at most");
            for crop in [Crop { left: 301, top: 107, side: 397 }, Crop { left: -40, top: 500, side: 250 }, Crop { left: 200, top: 150, side: 120 }] {
                // A tile's canvas, and a face crop (397 px: from the picture at 1/2).
                for (canvas, taken) in [coded.crop_square(crop, 96, 128), coded.face_crop(crop, 96, 128)] {
                    assert!((taken.left - crop.left).abs() < 8 && (taken.top - crop.top).abs() < 8 && (taken.side as i64 - crop.side as i64).abs() < 8, "{o:?}: {crop:?} → {taken:?}");
                    let reference = preprocess::crop_square(&upright, taken, 96, 128);
                    let (mean, max) = differ(&canvas, &reference);
                    assert!(mean < 0.75 && max <= 16, "{o:?} {crop:?}: differs by {mean:.2} on average, {max} at most");
                }
            }
        }
    }

    #[test]
    fn the_canvas_holds_whole_mcus_under_what_is_drawn_merged() {
        let bytes = jpeg(700, 700);
        let coded = Coded::new(Blocks::read(&bytes).unwrap(), 160, Orientation::NoTransforms);
        let whole = coded.whole();
        let canvas = coded.canvas(&[[20, 30, 50, 41], [45, 35, 90, 60], [600, 600, 700, 700]]);
        let Canvas::Parts { parts, .. } = &canvas else { panic!("parts") };
        let rects: Vec<Rect> = parts.iter().map(|p| p.0).collect();
        assert_eq!(rects.len(), 2, "{rects:?}");
        assert!(rects.contains(&[16, 16, 96, 64]) && rects.contains(&[592, 592, 700, 700]), "{rects:?}");
        for (x, y) in [(16, 16), (95, 63), (650, 699)] {
            assert_eq!(canvas.pixel(x, y), *whole.get_pixel(x, y));
        }
    }
}
