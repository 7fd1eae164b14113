//! decode → orient → detect → landmarks → overlay → encode, with the time
//! each stage took. The models load once per process/isolate, lazily, on the
//! first request that needs them (never at start-up).

use crate::codec::{self, OutputFormat};
use crate::detector::{self, Detector, Plan};
use crate::error::ApiError;
use crate::input::Upload;
use crate::landmarks::Landmarker;
use crate::models::{self, EmbeddedModel};
use crate::overlay::{self, Overlay};
use image::RgbImage;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use web_time::Instant;

pub struct Engine {
    pub detector: Detector,
    pub landmarker: Landmarker,
    /// How long parsing + optimising both models took.
    pub load_ms: f64,
}

impl Engine {
    /// The shipped engine: both models from their embedded NNEF tars.
    pub fn load() -> Result<Engine, String> {
        let start = Instant::now();
        let nnef = tract_nnef::nnef();
        Engine::build(start, |m| {
            if m.nnef.is_empty() {
                return Err(format!("models/{} was missing when this was built (make nnef)", m.nnef_file));
            }
            detector::load_plan(&nnef, m.nnef).map_err(|e| format!("{}: {e:#}", m.nnef_file))
        })
    }

    /// The same engine from the ONNX sources the NNEF was converted from
    /// (native builds with feature `onnx`: the parity tests).
    #[cfg(feature = "onnx")]
    pub fn load_onnx() -> Result<Engine, String> {
        let start = Instant::now();
        Engine::build(start, |m| {
            let bytes = m.onnx.ok_or_else(|| format!("{} is not embedded", m.onnx_file))?;
            detector::load_onnx_plan(bytes).map_err(|e| format!("{}: {e:#}", m.onnx_file))
        })
    }

    fn build(start: Instant, plan: impl Fn(&EmbeddedModel) -> Result<Plan, String>) -> Result<Engine, String> {
        let manifest = models::manifest();
        let model = |name: &str| models::embedded(name).ok_or_else(|| format!("no embedded {name} model"));
        let detector = plan(model("detector")?)
            .and_then(|p| Detector::new(p, &manifest["detector"]).map_err(|e| format!("{e:#}")))
            .map_err(|e| format!("loading the detector: {e}"))?;
        let landmarker = plan(model("landmarks")?)
            .and_then(|p| Landmarker::new(p, &manifest["landmarks"]).map_err(|e| format!("{e:#}")))
            .map_err(|e| format!("loading the landmark model: {e}"))?;
        Ok(Engine { detector, landmarker, load_ms: ms(start) })
    }
}

static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();

/// The process-wide engine, loaded on first use.
pub fn engine() -> Result<&'static Engine, ApiError> {
    ENGINE.get_or_init(Engine::load).as_ref().map_err(|e| ApiError::Internal(e.clone()))
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Runs one stage and records how long it took in `slot`.
fn timed<T>(slot: &mut f64, stage: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = stage();
    *slot = ms(start);
    out
}

/// Milliseconds spent in each stage (absent stages stay 0).
#[derive(Debug, Default, Clone, Serialize)]
pub struct Timings {
    pub decode: f64,
    pub model_load: f64,
    pub detect: f64,
    pub landmarks: f64,
    pub overlay: f64,
    pub encode: f64,
    pub total: f64,
}

impl Timings {
    /// The `Server-Timing` header value.
    pub fn server_timing(&self) -> String {
        let mut parts = vec![("decode", self.decode)];
        if self.model_load > 0.0 {
            parts.push(("model_load", self.model_load));
        }
        parts.extend([("detect", self.detect), ("landmarks", self.landmarks)]);
        if self.overlay > 0.0 || self.encode > 0.0 {
            parts.extend([("overlay", self.overlay), ("encode", self.encode)]);
        }
        parts.push(("total", self.total));
        parts.iter().map(|(k, v)| format!("{k};dur={v:.2}")).collect::<Vec<_>>().join(", ")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Cat {
    pub score: f32,
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    pub landmarks: BTreeMap<String, [f32; 2]>,
}

/// The `/api/detect` answer.
#[derive(Debug, Serialize)]
pub struct Detection {
    pub width: u32,
    pub height: u32,
    pub cats: Vec<Cat>,
    pub timings_ms: Timings,
}

/// A hipsterized image and what went into it.
pub struct Hipsterized {
    pub bytes: Vec<u8>,
    pub format: OutputFormat,
    pub cats: usize,
    pub timings: Timings,
}

/// The engine, with the load time charged to the request that paid it.
fn loaded_engine(t: &mut Timings) -> Result<&'static Engine, ApiError> {
    let start = Instant::now();
    let first = ENGINE.get().is_none();
    let engine = engine()?;
    if first {
        t.model_load = ms(start);
    }
    Ok(engine)
}

/// Loads the models if this process/isolate has not yet: the milliseconds
/// it took, 0 when they were already loaded.
pub fn warm() -> Result<f64, ApiError> {
    let mut t = Timings::default();
    loaded_engine(&mut t)?;
    Ok(t.model_load)
}

/// Find every cat face and its landmarks, best first.
pub fn find_cats(engine: &Engine, img: &RgbImage, t: &mut Timings) -> Result<Vec<Cat>, ApiError> {
    let internal = |e: tract_nnef::prelude::TractError| ApiError::Internal(format!("inference failed: {e:#}"));
    let faces = timed(&mut t.detect, || engine.detector.detect(img)).map_err(internal)?;
    timed(&mut t.landmarks, || {
        faces
            .into_iter()
            .map(|face| {
                let points = engine.landmarker.locate(img, face.bbox).map_err(internal)?;
                Ok(Cat { score: face.score, bbox: face.bbox, landmarks: points.into_iter().collect() })
            })
            .collect()
    })
}

pub fn detect(photo: &[u8]) -> Result<Detection, ApiError> {
    let start = Instant::now();
    let mut t = Timings::default();
    let img = timed(&mut t.decode, || codec::decode_photo(photo, None))?;
    let engine = loaded_engine(&mut t)?;
    let cats = find_cats(engine, &img, &mut t)?;
    t.total = ms(start);
    Ok(Detection { width: img.width(), height: img.height(), cats, timings_ms: t })
}

/// Sunglasses on every cat. The overlay is the uploaded one, else the named
/// built-in style, else the default style.
pub fn hipsterize(upload: &Upload, format: OutputFormat) -> Result<Hipsterized, ApiError> {
    let start = Instant::now();
    let mut t = Timings::default();
    // A bad overlay or style fails before any inference is spent.
    let custom = upload.overlay.as_deref().map(codec::decode_overlay).transpose()?.map(Overlay::from_rgba);
    let builtin = match (&custom, &upload.style) {
        (Some(_), _) => None,
        (None, style) => Some(overlay::builtin(style.as_deref().unwrap_or(overlay::DEFAULT_STYLE))?),
    };
    let glasses = custom.as_ref().or(builtin).expect("one overlay is chosen");
    let mut img = timed(&mut t.decode, || codec::decode_photo(&upload.photo, Some(format)))?;
    let engine = loaded_engine(&mut t)?;
    let cats = find_cats(engine, &img, &mut t)?;
    if cats.is_empty() {
        return Err(ApiError::NoCatFound);
    }
    timed(&mut t.overlay, || {
        for cat in &cats {
            let (l, r) = (cat.landmarks["left_eye"], cat.landmarks["right_eye"]);
            overlay::draw(&mut img, glasses, (l[0], l[1]), (r[0], r[1]));
        }
    });
    let bytes = timed(&mut t.encode, || codec::encode(&img, format))?;
    t.total = ms(start);
    Ok(Hipsterized { bytes, format, cats: cats.len(), timings: t })
}

/// The output format: `?format=` wins, then `Accept`, else JPEG.
pub fn output_format(query: Option<&str>, accept: Option<&str>) -> Result<OutputFormat, ApiError> {
    match query.map(|q| q.trim().to_ascii_lowercase()).as_deref() {
        Some("png") => return Ok(OutputFormat::Png),
        Some("jpeg" | "jpg") => return Ok(OutputFormat::Jpeg),
        Some(other) => {
            return Err(ApiError::BadRequest(format!("format `{other}` is not offered: use jpeg or png")))
        }
        None => {}
    }
    let accept = accept.unwrap_or("").to_ascii_lowercase();
    let png = accept.split(',').any(|a| a.split(';').next().unwrap_or("").trim() == "image/png");
    let jpeg = accept.split(',').any(|a| a.split(';').next().unwrap_or("").trim() == "image/jpeg");
    Ok(if png && !jpeg { OutputFormat::Png } else { OutputFormat::Jpeg })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_negotiation() {
        assert_eq!(output_format(None, None), Ok(OutputFormat::Jpeg));
        assert_eq!(output_format(Some("PNG"), Some("image/jpeg")), Ok(OutputFormat::Png));
        assert_eq!(output_format(None, Some("image/png")), Ok(OutputFormat::Png));
        assert_eq!(output_format(None, Some("image/webp,image/png;q=0.9")), Ok(OutputFormat::Png));
        assert_eq!(output_format(None, Some("image/jpeg, image/png")), Ok(OutputFormat::Jpeg));
        assert_eq!(output_format(None, Some("*/*")), Ok(OutputFormat::Jpeg));
        assert_eq!(output_format(Some("gif"), None).unwrap_err().code(), "bad_request");
    }

    #[test]
    fn server_timing_lists_stages() {
        let t = Timings { decode: 1.0, detect: 2.0, landmarks: 3.0, overlay: 4.0, encode: 5.0, total: 15.5, model_load: 0.0 };
        assert_eq!(
            t.server_timing(),
            "decode;dur=1.00, detect;dur=2.00, landmarks;dur=3.00, overlay;dur=4.00, encode;dur=5.00, total;dur=15.50"
        );
    }
}
