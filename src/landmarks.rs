//! The landmark model: a square crop around one detected face in, both eyes
//! out (mapped back to photo pixels), plus its face check: a "cat face or
//! not" score for the same crop, which rejects the detector's false faces
//! (fur, floors, cages, dogs). The manifest says how a kept face's eyes get
//! their second pass.

use crate::detector::Plan;
use crate::preprocess::{self, Crop, Source};
use image::RgbImage;
use tract_nnef::prelude::tract_data::internal::{bail, ensure, format_err};
use tract_nnef::prelude::*;

/// What the model gives for one crop: 2K values in 0..1 (the points, in
/// crop coordinates) and the face check's score (1.0 for a model without one).
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub points: Vec<f32>,
    pub face: f32,
}

/// How a kept face's eyes are refined after the first pass (manifest
/// `second_pass`), chosen on internal validation by models/train/evaluate.py.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SecondPass {
    None,
    /// The mirrored crop, its points mirrored back and averaged in.
    Flip,
    /// A crop re-centred on the first pass's eyes: a square of `side_iod`
    /// inter-ocular distances, `offset_iod` below the eyes' midpoint. With
    /// `mean` ("refine_mean"), its points are averaged with the first
    /// pass's: steadier when a photo is re-encoded or stored turned.
    Refine { side_iod: f32, offset_iod: f32, mean: bool },
}

pub struct Landmarker {
    plan: Plan,
    pub size: u32,
    pub crop_scale: f32,
    pub pad: u8,
    pub points: Vec<String>,
    /// Faces whose check scores below this are dropped (0: keep every face).
    pub face_threshold: f32,
    pub second_pass: SecondPass,
}

impl Landmarker {
    pub fn new(plan: Plan, cfg: &serde_json::Value) -> TractResult<Landmarker> {
        let points: Vec<String> = cfg["points"]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p.as_str().map(String::from)).collect())
            .unwrap_or_default();
        ensure!(points.len() >= 2 && points[0] == "left_eye" && points[1] == "right_eye", "landmark points must start with left_eye, right_eye");
        let second_pass = match cfg["second_pass"].as_str().unwrap_or("none") {
            "none" => SecondPass::None,
            "flip" => SecondPass::Flip,
            pass @ ("refine" | "refine_mean") => SecondPass::Refine {
                side_iod: cfg["refine_box"]["side_iod"].as_f64().ok_or_else(|| format_err!("refine_box.side_iod"))? as f32,
                offset_iod: cfg["refine_box"]["offset_iod"].as_f64().ok_or_else(|| format_err!("refine_box.offset_iod"))? as f32,
                mean: pass == "refine_mean",
            },
            other => bail!("unknown second_pass {other:?}"),
        };
        Ok(Landmarker {
            plan,
            size: cfg["input_size"].as_u64().ok_or_else(|| format_err!("landmarks input_size"))? as u32,
            crop_scale: cfg["crop_scale"].as_f64().unwrap_or(1.3) as f32,
            pad: cfg["pad_value"].as_u64().unwrap_or(128) as u8,
            points,
            face_threshold: cfg["face_threshold"].as_f64().unwrap_or(0.0) as f32,
            second_pass,
        })
    }

    /// The model on a prepared crop canvas.
    pub fn run_canvas(&self, canvas: &RgbImage) -> TractResult<Output> {
        let out = self.plan.run(tvec!(preprocess::to_tensor(canvas).into()))?;
        let points: Vec<f32> = out[0].to_plain_array_view::<f32>()?.iter().copied().collect();
        ensure!(points.len() == 2 * self.points.len(), "landmark output has {} values", points.len());
        let face = match out.get(1) {
            Some(t) => *t.to_plain_array_view::<f32>()?.iter().next().ok_or_else(|| format_err!("empty face output"))?,
            None => 1.0,
        };
        Ok(Output { points, face })
    }

    fn crop(&self, img: &(impl Source + ?Sized), bbox: [f32; 4]) -> (Crop, RgbImage) {
        let (canvas, crop) = img.face_crop(Crop::around(bbox, self.crop_scale), self.size, self.pad);
        (crop, canvas)
    }

    /// The named points of the face in `bbox`, in photo pixels; `None` when
    /// the face check rejects it (no second pass is spent on a rejected face).
    pub fn check_and_locate(&self, img: &(impl Source + ?Sized), bbox: [f32; 4]) -> TractResult<Option<Vec<(String, [f32; 2])>>> {
        self.located(img, bbox, self.face_threshold)
    }

    /// The points of the face in `bbox` whatever its face check says (the
    /// warm-up, which must run every pass).
    pub fn locate(&self, img: &(impl Source + ?Sized), bbox: [f32; 4]) -> TractResult<Vec<(String, [f32; 2])>> {
        Ok(self.located(img, bbox, f32::NEG_INFINITY)?.unwrap_or_default())
    }

    fn located(&self, img: &(impl Source + ?Sized), bbox: [f32; 4], threshold: f32) -> TractResult<Option<Vec<(String, [f32; 2])>>> {
        let (crop, canvas) = self.crop(img, bbox);
        let first = self.run_canvas(&canvas)?;
        if first.face < threshold {
            return Ok(None);
        }
        let photo = |crop: &Crop, uv: &[f32]| -> Vec<[f32; 2]> {
            uv.chunks(2).map(|p| crop.to_photo(p[0], p[1])).map(|(x, y)| [x, y]).collect()
        };
        let points = match self.second_pass {
            SecondPass::None => photo(&crop, &first.points),
            SecondPass::Flip => {
                let mirrored = self.run_canvas(&image::imageops::flip_horizontal(&canvas))?;
                let back = unmirror(&mirrored.points);
                let mean: Vec<f32> = first.points.iter().zip(&back).map(|(a, b)| (a + b) / 2.0).collect();
                photo(&crop, &mean)
            }
            SecondPass::Refine { side_iod, offset_iod, mean } => {
                let eyes = photo(&crop, &first.points);
                let (crop2, canvas2) = self.crop(img, refine_box(eyes[0], eyes[1], side_iod, offset_iod));
                let refined = photo(&crop2, &self.run_canvas(&canvas2)?.points);
                if mean {
                    eyes.iter().zip(&refined).map(|(a, b)| [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0]).collect()
                } else {
                    refined
                }
            }
        };
        Ok(Some(self.points.iter().cloned().zip(points).collect()))
    }
}

/// The points of a mirrored crop in the crop's own coordinates: x → 1 − x,
/// and the pairs swap (the left eye of the mirror is the right eye).
pub fn unmirror(points: &[f32]) -> Vec<f32> {
    points.chunks(2).rev().flat_map(|p| [1.0 - p[0], p[1]]).collect()
}

/// The refine pass's face box from the first pass's eyes: a square of
/// `side_iod` inter-ocular distances, centred `offset_iod` of them below the
/// eyes' midpoint, perpendicular to the eye line (so a tilted face's box
/// follows its tilt).
pub fn refine_box(l: [f32; 2], r: [f32; 2], side_iod: f32, offset_iod: f32) -> [f32; 4] {
    let (dx, dy) = (r[0] - l[0], r[1] - l[1]);
    let iod = dx.hypot(dy).max(1.0);
    let (nx, ny) = (-dy / iod, dx / iod);
    let cx = (l[0] + r[0]) / 2.0 + offset_iod * iod * nx;
    let cy = (l[1] + r[1]) / 2.0 + offset_iod * iod * ny;
    let h = side_iod * iod / 2.0;
    [cx - h, cy - h, cx + h, cy + h]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmirror_swaps_the_eyes_and_reflects_x() {
        // Mirrored crop: its left eye at x 0.25 is the crop's right eye at 0.75.
        let got = unmirror(&[0.25, 0.4, 0.5, 0.75]);
        assert_eq!(got, vec![0.5, 0.75, 0.75, 0.4]);
    }

    #[test]
    fn refine_box_sits_below_level_eyes_and_turns_with_a_tilt() {
        let b = refine_box([40.0, 50.0], [60.0, 50.0], 2.5, 0.5);
        // IOD 20: side 50, centre 10 px below the midpoint (50, 50).
        assert_eq!(b, [25.0, 35.0, 75.0, 85.0]);
        // Eyes on a vertical line (face turned 90°, right eye below): "below" is −x.
        let t = refine_box([50.0, 40.0], [50.0, 60.0], 2.5, 0.5);
        assert!(((t[0] + t[2]) / 2.0 - 40.0).abs() < 1e-4 && ((t[1] + t[3]) / 2.0 - 50.0).abs() < 1e-4, "{t:?}");
    }
}
