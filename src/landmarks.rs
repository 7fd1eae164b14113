//! The landmark model: a square crop around one face in, named points out
//! (at least both eyes), mapped back to photo pixels.

use crate::detector::Plan;
use crate::preprocess::{self, Crop};
use image::RgbImage;
use tract_nnef::prelude::tract_data::internal::{ensure, format_err};
use tract_nnef::prelude::*;

pub struct Landmarker {
    plan: Plan,
    pub size: u32,
    pub crop_scale: f32,
    pub pad: u8,
    pub points: Vec<String>,
}

impl Landmarker {
    pub fn new(plan: Plan, cfg: &serde_json::Value) -> TractResult<Landmarker> {
        let points: Vec<String> = cfg["points"]
            .as_array()
            .map(|a| a.iter().filter_map(|p| p.as_str().map(String::from)).collect())
            .unwrap_or_default();
        ensure!(points.len() >= 2 && points[0] == "left_eye" && points[1] == "right_eye", "landmark points must start with left_eye, right_eye");
        Ok(Landmarker {
            plan,
            size: cfg["input_size"].as_u64().ok_or_else(|| format_err!("landmarks input_size"))? as u32,
            crop_scale: cfg["crop_scale"].as_f64().unwrap_or(1.3) as f32,
            pad: cfg["pad_value"].as_u64().unwrap_or(128) as u8,
            points,
        })
    }

    /// Raw output for a prepared crop canvas: 2K floats in 0..1.
    pub fn run_canvas(&self, canvas: &RgbImage) -> TractResult<Vec<f32>> {
        let out = self.plan.run(tvec!(preprocess::to_tensor(canvas).into()))?;
        let values: Vec<f32> = out[0].to_plain_array_view::<f32>()?.iter().copied().collect();
        ensure!(values.len() == 2 * self.points.len(), "landmark output has {} values", values.len());
        Ok(values)
    }

    /// The named points of the face in `bbox`, in photo pixels.
    pub fn locate(&self, img: &RgbImage, bbox: [f32; 4]) -> TractResult<Vec<(String, [f32; 2])>> {
        let crop = Crop::around(bbox, self.crop_scale);
        let canvas = preprocess::crop_square(img, crop, self.size, self.pad);
        let values = self.run_canvas(&canvas)?;
        Ok(self
            .points
            .iter()
            .zip(values.chunks(2))
            .map(|(name, uv)| {
                let (x, y) = crop.to_photo(uv[0], uv[1]);
                (name.clone(), [x, y])
            })
            .collect())
    }
}
