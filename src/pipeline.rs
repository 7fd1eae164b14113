//! decode → orient → detect → landmarks → overlay → encode, with the time
//! each stage took. The models load once per process/isolate: the worker
//! loads them at isolate start-up (`preload`), the CLI and the tests on the
//! first call that needs them.

use crate::codec::{self, OutputFormat};
use crate::detector::{self, Detector, Face, Plan};
use crate::error::ApiError;
use crate::landmarks::Landmarker;
use crate::models::{self, EmbeddedModel};
use crate::overlay::{self, Overlay, Placement};
use crate::preprocess::Source;
use image::RgbImage;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use web_time::Instant;

/// A photo and how to dress it: the overlay (an image) or the name of a
/// built-in style. The HTTP layer builds it from a request
/// (`http::input`), the CLI and the browser build from their arguments.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Upload {
    pub photo: Vec<u8>,
    pub overlay: Option<Vec<u8>>,
    pub style: Option<String>,
}

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
        let nnef = crate::reader::nnef();
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

/// Loads the engine now, so that no request pays for it. A failure is kept
/// and reported by every request that needs the models, as on first use.
pub fn preload() {
    let _ = engine();
}

/// Passes of `warm_up` that `POST /api/warm` runs, once per isolate. V8
/// runs a Wasm function first in its baseline tier and optimises it only
/// once it has run enough: the first photo of an isolate took ~2 × a warm
/// one; after two passes, about one warm request more. Not at start-up:
/// there the passes cost more than they save the first photo (BENCHMARKS.md
/// has the figures); the page asks for them when it opens, before a photo.
pub const WARM_UP_PASSES: usize = 2;

/// What the warm-up passes hold at most (a 640×480 picture, its JPEG, the
/// models' buffers), reserved from the isolate's budget by `/api/warm`.
pub const WARM_UP_BYTES: u64 = 8 << 20;

/// What processing this upload needs at its peak (`codec::photo_need`, plus
/// an uploaded overlay), from headers alone: what the worker reserves from
/// the isolate's memory budget before decoding a pixel.
pub fn memory_need(upload: &Upload, output: Option<OutputFormat>) -> Result<u64, ApiError> {
    let overlay = upload.overlay.as_deref().map_or(0, codec::overlay_need);
    Ok(codec::photo_need(&upload.photo, output)? + overlay)
}

/// Whether this process/isolate has its models loaded (`/api/health`).
pub fn models_loaded() -> bool {
    matches!(ENGINE.get(), Some(Ok(_)))
}

/// Every stage of `hipsterize` once, on a 640×480 test picture (a pattern,
/// so the JPEG codecs do real work): encode, decode, both models, the
/// overlay. Returns the cats found (none: it is not a photo).
pub fn warm_up(engine: &Engine) -> Result<usize, ApiError> {
    let internal = |e: tract_nnef::prelude::TractError| ApiError::Internal(format!("warm-up: {e:#}"));
    let picture = RgbImage::from_fn(640, 480, |x, y| {
        let v = (x.wrapping_mul(7) ^ y.wrapping_mul(13)) as u8;
        image::Rgb([v, v.wrapping_add(x as u8), v.wrapping_add(y as u8)])
    });
    let photo = codec::encode(&picture, OutputFormat::Jpeg)?;
    let mut img = codec::decode_photo(&photo, Some(OutputFormat::Jpeg))?;
    let faces = engine.detector.detect(&img).map_err(internal)?;
    let points = engine.landmarker.locate(&img, [220.0, 140.0, 420.0, 340.0]).map_err(internal)?;
    let eye = |name: &str| points.iter().find(|(n, _)| n == name).map(|(_, p)| (p[0], p[1]));
    let glasses = overlay::builtin(overlay::DEFAULT_STYLE)?;
    overlay::draw(&mut img, glasses, eye("left_eye").unwrap_or((280.0, 220.0)), eye("right_eye").unwrap_or((360.0, 220.0)));
    codec::encode(&img, OutputFormat::Jpeg)?;
    Ok(faces.len())
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Runs one stage and adds how long it took to `slot` (a stage may run
/// twice: the tile pass detects and checks again).
fn timed<T>(slot: &mut f64, stage: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = stage();
    *slot += ms(start);
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

/// What `POST /api/warm` did: the models' load (0 when they were loaded
/// already) and the warm-up passes (0 when this isolate has run them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Warmed {
    pub model_load_ms: f64,
    pub warm_up_ms: f64,
}

/// Loads the models if this process/isolate has not yet, and runs the
/// warm-up passes the first time it is asked.
pub fn warm() -> Result<Warmed, ApiError> {
    static WARMED_UP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let mut t = Timings::default();
    let engine = loaded_engine(&mut t)?;
    let mut warm_up_ms = 0.0;
    if !WARMED_UP.swap(true, std::sync::atomic::Ordering::Relaxed) {
        timed(&mut warm_up_ms, || (0..WARM_UP_PASSES).try_for_each(|_| warm_up(engine).map(|_| ())))?;
    }
    Ok(Warmed { model_load_ms: t.model_load, warm_up_ms })
}

/// Find every cat face and its landmarks, best first: the detector's
/// candidates, each kept only if the landmark model's face check agrees.
/// When none is kept, the detector's tile pass looks again, closer, and its
/// faces are checked the same way.
pub fn find_cats(engine: &Engine, img: &(impl Source + ?Sized), t: &mut Timings) -> Result<Vec<Cat>, ApiError> {
    let internal = |e: tract_nnef::prelude::TractError| ApiError::Internal(format!("inference failed: {e:#}"));
    let checked = |faces: Vec<Face>, t: &mut Timings| {
        timed(&mut t.landmarks, || {
            let mut cats = Vec::with_capacity(faces.len());
            for face in faces {
                if let Some(points) = engine.landmarker.check_and_locate(img, face.bbox).map_err(internal)? {
                    cats.push(Cat { score: face.score, bbox: face.bbox, landmarks: points.into_iter().collect() });
                }
            }
            Ok::<_, ApiError>(cats)
        })
    };
    let faces = timed(&mut t.detect, || engine.detector.detect(img)).map_err(internal)?;
    let cats = checked(faces, t)?;
    if !cats.is_empty() || engine.detector.tiles.is_none() {
        return Ok(cats);
    }
    let faces = timed(&mut t.detect, || engine.detector.detect_tiles(img)).map_err(internal)?;
    checked(faces, t)
}

pub fn detect(photo: &[u8]) -> Result<Detection, ApiError> {
    let start = Instant::now();
    let mut t = Timings::default();
    let img = timed(&mut t.decode, || codec::decode_upload(photo, None))?;
    let engine = loaded_engine(&mut t)?;
    let cats = find_cats(engine, &img, &mut t)?;
    t.total = ms(start);
    let (width, height) = img.dimensions();
    Ok(Detection { width, height, cats, timings_ms: t })
}

/// `detect` on pixels already decoded (a video frame: `frame::rgb_from_rgba`).
pub fn detect_image(img: &RgbImage) -> Result<Detection, ApiError> {
    let start = Instant::now();
    let mut t = Timings::default();
    let engine = loaded_engine(&mut t)?;
    let cats = find_cats(engine, img, &mut t)?;
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
    let photo = timed(&mut t.decode, || codec::decode_upload(&upload.photo, Some(format)))?;
    let engine = loaded_engine(&mut t)?;
    let cats = find_cats(engine, &photo, &mut t)?;
    if cats.is_empty() {
        return Err(ApiError::NoCatFound);
    }
    // What the glasses change: only that needs pixels (for a coded photo),
    // and the encoder keeps the rest as uploaded.
    let (canvas, changed) = timed(&mut t.overlay, || {
        let dims = photo.dimensions();
        let placed: Vec<Placement> = cats
            .iter()
            .filter_map(|cat| {
                let (l, r) = (cat.landmarks["left_eye"], cat.landmarks["right_eye"]);
                Placement::new(glasses, (l[0], l[1]), (r[0], r[1]), dims)
            })
            .collect();
        let bounds: Vec<codec::Rect> = placed.iter().map(|p| p.bounds).collect();
        let mut canvas = photo.canvas(&upload.photo, &bounds)?;
        let changed: Vec<codec::Rect> = placed.iter().filter_map(|p| p.draw(&mut canvas)).collect();
        Ok::<_, ApiError>((canvas, changed))
    })?;
    let bytes = timed(&mut t.encode, || codec::encode_result(&upload.photo, &canvas, &changed, format))?;
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
    fn warm_up_runs_every_stage_and_finds_no_cat_in_its_pattern() {
        let engine = engine().expect("the embedded models load");
        assert_eq!(warm_up(engine), Ok(0));
        assert!(models_loaded());
    }

    #[test]
    fn warm_runs_the_warm_up_passes_once() {
        let first = warm().unwrap();
        assert!(first.warm_up_ms > 0.0, "{first:?}");
        assert_eq!(warm().unwrap(), Warmed { model_load_ms: 0.0, warm_up_ms: 0.0 });
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
