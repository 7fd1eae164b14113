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
use crate::preprocess::{Crop, Source};
use image::RgbImage;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// Loads the engine now, so that no request pays for it, then runs the
/// warm-up passes: V8 runs a Wasm function first in its baseline tier and
/// optimises it only once it has run enough, so an isolate's first photo
/// took 2-3 × a warm one (BENCHMARKS.md has the figures). At start-up that
/// work overlaps the TLS handshake on Cloudflare and is not the request's
/// CPU. A failure is kept and reported by every request that needs the
/// models, as on first use.
pub fn preload() {
    if let Ok(engine) = engine() {
        if WARM_UP_AT_START {
            let _ = warm_up_once(engine);
        }
    }
}

/// Whether the start event runs the warm-up passes (`preload`); if not,
/// `POST /api/warm` does, when the page asks.
pub const WARM_UP_AT_START: bool = true;

/// Passes of `warm_up`, run once per isolate: at start-up, or by
/// `POST /api/warm`.
pub const WARM_UP_PASSES: usize = 1;

/// The start-up work again, from scratch: both models loaded anew and the
/// warm-up passes run on them (the test-only `/api/__load`, which the
/// start-up guard times: the start event cannot time itself).
pub fn start_up_again() -> Result<Warmed, ApiError> {
    let engine = Engine::load().map_err(ApiError::Internal)?;
    let mut warm_up_ms = 0.0;
    timed(&mut warm_up_ms, || warm_up_passes(&engine))?;
    Ok(Warmed { model_load_ms: engine.load_ms, warm_up_ms })
}

/// Whether this process/isolate has run its warm-up passes (`/api/health`).
pub fn warmed_up() -> bool {
    WARMED_UP.load(Ordering::Relaxed)
}

static WARMED_UP: AtomicBool = AtomicBool::new(false);

/// The warm-up passes, the first time this process/isolate asks: how long
/// they took (0 when they had run already).
fn warm_up_once(engine: &Engine) -> Result<f64, ApiError> {
    let mut warm_up_ms = 0.0;
    if !WARMED_UP.swap(true, Ordering::Relaxed) {
        timed(&mut warm_up_ms, || warm_up_passes(engine))?;
    }
    Ok(warm_up_ms)
}

/// What the warm-up passes hold at most (`codec::photo_need` of its largest
/// photo, which a unit test holds under it), reserved from the isolate's
/// budget by `/api/warm`.
pub const WARM_UP_BYTES: u64 = 20 << 20;

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

/// The warm-up's photos, one for each route a JPEG upload takes, so that
/// the code a first photo runs has run: a short side of 640 px or more is
/// read as coefficients and seen at 1/2 (`codec::coded`), a smaller photo
/// is decoded to every pixel. Each as small as its route allows: the
/// warm-up runs at start-up, in V8's baseline tier.
pub const WARM_UP_SIZES: [(u32, u32); 2] = [(640, 640), (256, 192)];

/// A test picture for the warm-up: a pattern, so that the JPEG codecs do
/// the work of a photo's detail (no cat in it).
fn warm_up_picture(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let v = (x.wrapping_mul(7) ^ y.wrapping_mul(13)) as u8;
        image::Rgb([v, v.wrapping_add(x as u8), v.wrapping_add(y as u8)])
    })
}

/// The stages of `hipsterize` once on each of `WARM_UP_SIZES`, as an
/// upload of that size runs them: its JPEG decoded by the route it takes,
/// the models' inputs made, the glasses drawn and the answer encoded. The
/// models run on the first photo only (the detector, and both landmark
/// passes on a made-up face): their code is the same on either route.
/// Returns the faces the detector found (none: a pattern is not a photo).
pub fn warm_up(engine: &Engine) -> Result<usize, ApiError> {
    let internal = |e: tract_nnef::prelude::TractError| ApiError::Internal(format!("warm-up: {e:#}"));
    let glasses = overlay::builtin(overlay::DEFAULT_STYLE)?;
    let (detector, landmarker) = (&engine.detector, &engine.landmarker);
    let mut found = 0;
    for (i, (w, h)) in WARM_UP_SIZES.into_iter().enumerate() {
        let upload = codec::encode(&warm_up_picture(w, h), OutputFormat::Jpeg)?;
        let photo = codec::decode_upload(&upload, Some(OutputFormat::Jpeg))?;
        let (fw, fh) = (w as f32, h as f32);
        let face = [0.35 * fw, 0.3 * fh, 0.65 * fw, 0.7 * fh];
        if i == 0 {
            found += detector.detect(&photo).map_err(internal)?.len();
            landmarker.locate(&photo, face).map_err(internal)?;
        } else {
            photo.letterbox(detector.size, detector.pad);
            photo.face_crop(Crop::around(face, landmarker.crop_scale), landmarker.size, landmarker.pad);
        }
        // The glasses at fixed eyes: located ones on a pattern may be anywhere.
        let eyes = [((0.43 * fw, 0.45 * fh), (0.57 * fw, 0.45 * fh))];
        dress(&upload, photo, glasses, &eyes, OutputFormat::Jpeg, &mut Timings::default())?;
    }
    Ok(found)
}

fn warm_up_passes(engine: &Engine) -> Result<(), ApiError> {
    (0..WARM_UP_PASSES).try_for_each(|_| warm_up(engine).map(|_| ()))
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
    let mut t = Timings::default();
    let engine = loaded_engine(&mut t)?;
    Ok(Warmed { model_load_ms: t.model_load, warm_up_ms: warm_up_once(engine)? })
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
    let eyes: Vec<_> = cats
        .iter()
        .map(|cat| {
            let (l, r) = (cat.landmarks["left_eye"], cat.landmarks["right_eye"]);
            ((l[0], l[1]), (r[0], r[1]))
        })
        .collect();
    let bytes = dress(&upload.photo, photo, glasses, &eyes, format, &mut t)?;
    t.total = ms(start);
    Ok(Hipsterized { bytes, format, cats: cats.len(), timings: t })
}

/// The glasses on each pair of eyes (left, right), and the answer encoded.
/// Only what the glasses change needs pixels (for a coded photo), and the
/// encoder keeps the rest as uploaded.
fn dress(
    upload: &[u8],
    photo: codec::Decoded,
    glasses: &Overlay,
    eyes: &[((f32, f32), (f32, f32))],
    format: OutputFormat,
    t: &mut Timings,
) -> Result<Vec<u8>, ApiError> {
    let (canvas, changed) = timed(&mut t.overlay, || {
        let dims = photo.dimensions();
        let placed: Vec<Placement> = eyes.iter().filter_map(|&(l, r)| Placement::new(glasses, l, r, dims)).collect();
        let bounds: Vec<codec::Rect> = placed.iter().map(|p| p.bounds).collect();
        let mut canvas = photo.canvas(upload, &bounds)?;
        let changed: Vec<codec::Rect> = placed.iter().filter_map(|p| p.draw(&mut canvas)).collect();
        Ok::<_, ApiError>((canvas, changed))
    })?;
    timed(&mut t.encode, || codec::encode_result(upload, &canvas, &changed, format))
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
    fn warm_up_photos_take_each_route_within_the_warm_up_reservation() {
        let coded: Vec<bool> = WARM_UP_SIZES
            .iter()
            .map(|&(w, h)| {
                let upload = codec::encode(&warm_up_picture(w, h), OutputFormat::Jpeg).unwrap();
                let need = codec::photo_need(&upload, Some(OutputFormat::Jpeg)).unwrap();
                assert!(need <= WARM_UP_BYTES, "{w}×{h} needs {need} bytes");
                matches!(codec::decode_upload(&upload, Some(OutputFormat::Jpeg)).unwrap(), codec::Decoded::Coded(_))
            })
            .collect();
        assert_eq!(coded, [true, false], "the first is read as coefficients, the second as pixels");
    }

    #[test]
    fn start_up_again_loads_anew_and_warms_up() {
        let again = start_up_again().unwrap();
        assert!(again.model_load_ms > 0.0 && again.warm_up_ms > 0.0, "{again:?}");
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
