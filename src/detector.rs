//! The cat-face detector: letterboxed photo in, scored boxes out. The graph
//! decodes boxes itself; thresholding, NMS and mapping back to photo pixels
//! happen here, and so does the tile pass: a second, closer look at a
//! photo where the first pass kept nothing.

use crate::preprocess::{self, Crop, Source};
use image::RgbImage;
use serde::Serialize;
use std::sync::Arc;
use tract_nnef::framework::Nnef;
use tract_nnef::prelude::tract_data::internal::{bail, ensure, format_err, TractErrorContext};
use tract_nnef::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Face {
    pub score: f32,
    /// x0, y0, x1, y1 in photo pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
}

/// A model ready to run, whichever format it was read from.
pub type Plan = Arc<TypedRunnableModel>;

pub struct Detector {
    plan: Plan,
    pub size: u32,
    pub threshold: f32,
    pub nms_iou: f32,
    pub pad: u8,
    pub tiles: Option<Tiles>,
}

/// The tile pass (manifest `detector.tiles`). A small face in a wide photo
/// covers a few pixels of the letterboxed canvas; in square tiles as tall
/// as the photo (as wide, when it stands), it is up to `max` times larger.
/// It runs only when the first pass kept no face, so a photo whose cat is
/// found pays nothing for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tiles {
    /// At most this many tiles.
    pub max: u32,
    /// The tile pass's own score threshold.
    pub threshold: f32,
}

/// The tile pass's squares for a w×h photo: ceil(long / short) of them (at
/// most `max`), evenly spaced along the long side, ends flush with the
/// photo's, overlapping. None for a photo within 5 % of square: its one
/// tile would be the first pass again.
pub fn tiles(w: u32, h: u32, max: u32) -> Vec<Crop> {
    let (lo, hi) = (w.min(h), w.max(h));
    if lo == 0 || (hi as f64) < 1.05 * lo as f64 || max < 2 {
        return Vec::new();
    }
    let k = hi.div_ceil(lo).min(max);
    (0..k)
        .map(|i| {
            // floor(x + 0.5), as training's rnd().
            let offset = (i as f64 * (hi - lo) as f64 / (k - 1) as f64 + 0.5).floor() as i64;
            let (left, top) = if w >= h { (offset, 0) } else { (0, offset) };
            Crop { left, top, side: lo }
        })
        .collect()
}

/// A model from its NNEF tar (models/*.nnef.tar: already typed and
/// decluttered, so only optimisation is left). `nnef` is `reader::nnef()`,
/// made once for both models: making it parses the NNEF stdlib.
pub fn load_plan(nnef: &Nnef, nnef_tar: &[u8]) -> TractResult<Plan> {
    let mut model = nnef.model_for_read(&mut &nnef_tar[..])?;
    // Codegen only: `into_optimized` would declutter again first, for
    // nothing (the same plan, tested bit for bit in tests/core/engine.rs).
    // Codegen's first pass folds the int8 weights' cast and scale.
    model.optimize()?;
    model.into_runnable()
}

/// A model from its ONNX source (native only: the parity tests).
#[cfg(feature = "onnx")]
pub fn load_onnx_plan(onnx: &[u8]) -> TractResult<Plan> {
    use tract_onnx::prelude::InferenceModelExt as _;
    tract_onnx::onnx().model_for_read(&mut &onnx[..])?.into_optimized()?.into_runnable()
}

impl Detector {
    pub fn new(plan: Plan, cfg: &serde_json::Value) -> TractResult<Detector> {
        let size = cfg["input_size"].as_u64().ok_or_else(|| format_err!("detector input_size"))? as u32;
        let tiles = match &cfg["tiles"] {
            serde_json::Value::Null => None,
            t => Some(Tiles {
                max: t["max"].as_u64().ok_or_else(|| format_err!("detector tiles.max"))? as u32,
                threshold: t["score_threshold"].as_f64().ok_or_else(|| format_err!("detector tiles.score_threshold"))? as f32,
            }),
        };
        Ok(Detector {
            plan,
            size,
            threshold: cfg["score_threshold"].as_f64().unwrap_or(0.5) as f32,
            nms_iou: cfg["nms_iou"].as_f64().unwrap_or(0.45) as f32,
            pad: cfg["pad_value"].as_u64().unwrap_or(128) as u8,
            tiles,
        })
    }

    /// Raw model outputs for a prepared canvas: (scores[N], boxes[N*4]).
    pub fn run_canvas(&self, canvas: &RgbImage) -> TractResult<(Vec<f32>, Vec<f32>)> {
        let outputs = self.plan.run(tvec!(preprocess::to_tensor(canvas).into()))?;
        let mut scores = None;
        let mut boxes = None;
        // Told apart by rank: scores [1,N], boxes [1,N,4].
        for out in outputs.iter() {
            let view = out.to_plain_array_view::<f32>()?;
            match view.ndim() {
                2 => scores = Some(view.iter().copied().collect::<Vec<_>>()),
                3 => boxes = Some(view.iter().copied().collect::<Vec<_>>()),
                _ => bail!("unexpected detector output shape {:?}", view.shape()),
            }
        }
        let (scores, boxes) = (scores.context("no scores output")?, boxes.context("no boxes output")?);
        ensure!(boxes.len() == scores.len() * 4, "scores and boxes disagree");
        Ok((scores, boxes))
    }

    /// Every cat face in the photo, best first (the first pass alone).
    pub fn detect(&self, img: &(impl Source + ?Sized)) -> TractResult<Vec<Face>> {
        let (canvas, lb) = img.letterbox(self.size, self.pad);
        let (scores, boxes) = self.run_canvas(&canvas)?;
        Ok(decode(&scores, &boxes, self.threshold, self.nms_iou, |x, y| lb.to_photo(x, y), img.dimensions()))
    }

    /// The tile pass: the faces of every tile at its threshold, in photo
    /// pixels, best first, in one NMS (tiles overlap). Empty without one.
    pub fn detect_tiles(&self, img: &(impl Source + ?Sized)) -> TractResult<Vec<Face>> {
        let Some(t) = self.tiles else { return Ok(Vec::new()) };
        let (w, h) = img.dimensions();
        let side = self.size as f32;
        let mut found = Vec::new();
        for crop in tiles(w, h, t.max) {
            // Inside the photo, so no grey: the resize of a view, like a landmark crop.
            let (canvas, crop) = img.crop_square(crop, self.size, self.pad);
            let (scores, boxes) = self.run_canvas(&canvas)?;
            found.extend(decode(&scores, &boxes, t.threshold, self.nms_iou, |x, y| crop.to_photo(x / side, y / side), (w, h)));
        }
        Ok(nms(found, self.nms_iou))
    }
}

/// Greedy NMS, best first (a stable sort: equal scores keep their order).
fn nms(mut faces: Vec<Face>, nms_iou: f32) -> Vec<Face> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Face> = Vec::new();
    for c in faces {
        if kept.iter().all(|k| iou(&k.bbox, &c.bbox) <= nms_iou) {
            kept.push(c);
        }
    }
    kept
}

/// Threshold, NMS, and canvas → photo coordinates (`to_photo`, then
/// clipped to the photo).
pub fn decode(
    scores: &[f32],
    boxes: &[f32],
    threshold: f32,
    nms_iou: f32,
    to_photo: impl Fn(f32, f32) -> (f32, f32),
    (w, h): (u32, u32),
) -> Vec<Face> {
    let candidates: Vec<Face> = scores
        .iter()
        .enumerate()
        .filter(|(_, s)| **s >= threshold && s.is_finite())
        .map(|(i, &score)| Face { score, bbox: [boxes[4 * i], boxes[4 * i + 1], boxes[4 * i + 2], boxes[4 * i + 3]] })
        .filter(|f| f.bbox[2] > f.bbox[0] && f.bbox[3] > f.bbox[1])
        .collect();
    nms(candidates, nms_iou)
        .into_iter()
        .filter_map(|f| {
            let (x0, y0) = to_photo(f.bbox[0], f.bbox[1]);
            let (x1, y1) = to_photo(f.bbox[2], f.bbox[3]);
            let bbox = [x0.clamp(0.0, w as f32), y0.clamp(0.0, h as f32), x1.clamp(0.0, w as f32), y1.clamp(0.0, h as f32)];
            (bbox[2] - bbox[0] >= 1.0 && bbox[3] - bbox[1] >= 1.0).then_some(Face { score: f.score, bbox })
        })
        .collect()
}

pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preprocess::Letterbox;

    #[test]
    fn iou_basics() {
        assert_eq!(iou(&[0.0, 0.0, 10.0, 10.0], &[0.0, 0.0, 10.0, 10.0]), 1.0);
        assert_eq!(iou(&[0.0, 0.0, 10.0, 10.0], &[20.0, 20.0, 30.0, 30.0]), 0.0);
        assert!((iou(&[0.0, 0.0, 10.0, 10.0], &[5.0, 0.0, 15.0, 10.0]) - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn decode_thresholds_suppresses_and_maps_back() {
        let scores = [0.9, 0.8, 0.3, 0.7];
        let boxes = [
            10.0, 10.0, 50.0, 50.0, // best
            12.0, 12.0, 52.0, 52.0, // overlaps best: suppressed
            0.0, 0.0, 5.0, 5.0, // below threshold
            100.0, 100.0, 150.0, 140.0, // second face
        ];
        let lb = Letterbox { scale: 0.5, ox: 0, oy: 20 };
        let faces = decode(&scores, &boxes, 0.5, 0.45, |x, y| lb.to_photo(x, y), (400, 300));
        assert_eq!(faces.len(), 2);
        assert_eq!(faces[0].bbox, [20.0, 0.0, 100.0, 60.0]);
        assert_eq!(faces[1].bbox, [200.0, 160.0, 300.0, 240.0]);
        assert!(faces[0].score > faces[1].score);
    }

    #[test]
    fn decode_maps_a_tile_canvas_through_its_crop() {
        // A 160 canvas cut from the square at (100, 50), side 200: canvas px × 200/160 + offset.
        let crop = Crop { left: 100, top: 50, side: 200 };
        let faces = decode(&[0.8], &[40.0, 40.0, 80.0, 80.0], 0.5, 0.45, |x, y| crop.to_photo(x / 160.0, y / 160.0), (1000, 1000));
        assert_eq!(faces[0].bbox, [150.0, 100.0, 200.0, 150.0]);
        // A box that sticks out of the photo: clipped to it.
        let out = Crop { left: -80, top: -80, side: 160 };
        let faces = decode(&[0.8], &[0.0, 0.0, 120.0, 120.0], 0.5, 0.45, |x, y| out.to_photo(x / 160.0, y / 160.0), (30, 30));
        assert_eq!(faces[0].bbox, [0.0, 0.0, 30.0, 30.0]);
    }

    #[test]
    fn tiles_span_the_long_side_of_wide_and_tall_photos() {
        let at = |c: &[Crop]| c.iter().map(|c| (c.left, c.top, c.side)).collect::<Vec<_>>();
        assert_eq!(at(&tiles(1000, 667, 3)), [(0, 0, 667), (333, 0, 667)]);
        assert_eq!(at(&tiles(667, 1000, 3)), [(0, 0, 667), (0, 333, 667)]);
        assert_eq!(at(&tiles(3000, 1000, 3)), [(0, 0, 1000), (1000, 0, 1000), (2000, 0, 1000)]);
        // A panorama gets `max` tiles, spread to its ends.
        assert_eq!(at(&tiles(5000, 1000, 3)), [(0, 0, 1000), (2000, 0, 1000), (4000, 0, 1000)]);
        // Squarish photos get none (their tile is the first pass), and so does max < 2.
        assert!(tiles(1000, 1000, 3).is_empty() && tiles(1000, 1045, 3).is_empty() && tiles(1000, 667, 1).is_empty());
        assert_eq!(tiles(1050, 1000, 3).len(), 2);
    }

    #[test]
    fn nms_across_tiles_keeps_the_best_of_overlapping_faces() {
        let f = |score, x0| Face { score, bbox: [x0, 0.0, x0 + 10.0, 10.0] };
        let kept = nms(vec![f(0.6, 0.0), f(0.9, 1.0), f(0.7, 50.0)], 0.45);
        assert_eq!(kept, vec![f(0.9, 1.0), f(0.7, 50.0)]);
    }

    #[test]
    fn decode_drops_degenerate_and_nan() {
        let lb = Letterbox { scale: 1.0, ox: 0, oy: 0 };
        let faces = decode(&[f32::NAN, 0.9], &[0.0, 0.0, 1.0, 1.0, 5.0, 5.0, 5.0, 9.0], 0.5, 0.5, |x, y| lb.to_photo(x, y), (10, 10));
        assert!(faces.is_empty());
    }
}
