//! The cat-face detector: letterboxed photo in, scored boxes out. The graph
//! decodes boxes itself; thresholding, NMS and mapping back to photo pixels
//! happen here.

use crate::preprocess::{self, Letterbox};
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
        Ok(Detector {
            plan,
            size,
            threshold: cfg["score_threshold"].as_f64().unwrap_or(0.5) as f32,
            nms_iou: cfg["nms_iou"].as_f64().unwrap_or(0.45) as f32,
            pad: cfg["pad_value"].as_u64().unwrap_or(128) as u8,
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

    /// Every cat face in the photo, best first.
    pub fn detect(&self, img: &RgbImage) -> TractResult<Vec<Face>> {
        let (canvas, lb) = preprocess::letterbox(img, self.size, self.pad);
        let (scores, boxes) = self.run_canvas(&canvas)?;
        Ok(decode(&scores, &boxes, self.threshold, self.nms_iou, &lb, img.dimensions()))
    }
}

/// Threshold, NMS, and canvas → photo coordinates (clipped to the photo).
pub fn decode(
    scores: &[f32],
    boxes: &[f32],
    threshold: f32,
    nms_iou: f32,
    lb: &Letterbox,
    (w, h): (u32, u32),
) -> Vec<Face> {
    let mut candidates: Vec<Face> = scores
        .iter()
        .enumerate()
        .filter(|(_, s)| **s >= threshold && s.is_finite())
        .map(|(i, &score)| Face { score, bbox: [boxes[4 * i], boxes[4 * i + 1], boxes[4 * i + 2], boxes[4 * i + 3]] })
        .filter(|f| f.bbox[2] > f.bbox[0] && f.bbox[3] > f.bbox[1])
        .collect();
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Face> = Vec::new();
    for c in candidates {
        if kept.iter().all(|k| iou(&k.bbox, &c.bbox) <= nms_iou) {
            kept.push(c);
        }
    }
    kept.into_iter()
        .filter_map(|f| {
            let (x0, y0) = lb.to_photo(f.bbox[0], f.bbox[1]);
            let (x1, y1) = lb.to_photo(f.bbox[2], f.bbox[3]);
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
        let faces = decode(&scores, &boxes, 0.5, 0.45, &lb, (400, 300));
        assert_eq!(faces.len(), 2);
        assert_eq!(faces[0].bbox, [20.0, 0.0, 100.0, 60.0]);
        assert_eq!(faces[1].bbox, [200.0, 160.0, 300.0, 240.0]);
        assert!(faces[0].score > faces[1].score);
    }

    #[test]
    fn decode_drops_degenerate_and_nan() {
        let faces = decode(&[f32::NAN, 0.9], &[0.0, 0.0, 1.0, 1.0, 5.0, 5.0, 5.0, 9.0], 0.5, 0.5,
            &Letterbox { scale: 1.0, ox: 0, oy: 0 }, (10, 10));
        assert!(faces.is_empty());
    }
}
