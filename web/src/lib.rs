//! edgecat in the browser (`wasm-bindgen --target web`, into www/pkg/): the
//! same vision pipeline and embedded models as the worker, called from a Web
//! Worker (www/device-worker.js). Answers are the API's: `detect` gives the
//! `/api/detect` body, `hipsterize` the image with the same styles and
//! errors, and a failure throws `{code, message, status}` with `ApiError`'s
//! stable code. No HTTP layer is linked (edgecat without feature `http`).

use edgecat::codec::OutputFormat;
use edgecat::pipeline::{self, Upload};
use edgecat::{frame, ApiError};
use js_sys::{Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

/// Runs when the module is instantiated (wasm-bindgen's start).
#[wasm_bindgen(start)]
fn start() {
    run_constructors();
    console_error_panic_hook::set_once();
}

/// tract registers its kernels and transforms with `inventory`, whose
/// constructors wasm-ld runs from `__wasm_call_ctors`. A module that never
/// calls it counts as a "command", and wasm-ld then wraps every export in a
/// call to it (each JS↔Wasm call re-runs every constructor). Called once
/// here, at instantiation, as the worker does (worker/src/lib.rs).
#[cfg(target_arch = "wasm32")]
fn run_constructors() {
    extern "C" {
        fn __wasm_call_ctors();
    }
    // SAFETY: the linker's constructor list; inventory's are idempotent.
    unsafe { __wasm_call_ctors() }
}

#[cfg(not(target_arch = "wasm32"))]
fn run_constructors() {}

/// Loads both models now (once per instance) and returns how long that took
/// in ms; 0 when they were loaded already.
#[wasm_bindgen]
pub fn load_models() -> Result<f64, JsValue> {
    let loaded = pipeline::models_loaded();
    let engine = pipeline::engine().map_err(thrown)?;
    Ok(if loaded { 0.0 } else { engine.load_ms })
}

/// `POST /api/detect` on a photo's bytes: `{width, height, cats, timings_ms}`.
#[wasm_bindgen]
pub fn detect(photo: &[u8]) -> Result<JsValue, JsValue> {
    json(&pipeline::detect(photo).map_err(thrown)?)
}

/// `POST /api/hipsterize` on a photo's bytes, with a built-in `style`
/// (default: the API's) or an `overlay` image of one's own (it wins, as in
/// the API), and `format` (`jpeg`, the default, or `png`):
/// `{bytes: Uint8Array, format, cats, timings_ms}`.
#[wasm_bindgen]
pub fn hipsterize(
    photo: Vec<u8>,
    style: Option<String>,
    format: Option<String>,
    overlay: Option<Vec<u8>>,
) -> Result<JsValue, JsValue> {
    let format = pipeline::output_format(format.as_deref(), None).map_err(thrown)?;
    let upload = Upload { photo, overlay, style };
    let out = pipeline::hipsterize(&upload, format).map_err(thrown)?;
    let result = Object::new();
    set(&result, "bytes", &Uint8Array::from(&out.bytes[..]));
    let format = match out.format {
        OutputFormat::Jpeg => "jpeg",
        OutputFormat::Png => "png",
    };
    set(&result, "format", &JsValue::from_str(format));
    set(&result, "cats", &JsValue::from_f64(out.cats as f64));
    set(&result, "timings_ms", &json(&out.timings)?);
    Ok(result.into())
}

/// Cats on a video frame's RGBA pixels (a canvas's `ImageData`), no decode:
/// `{width, height, cats, timings_ms}`.
#[wasm_bindgen]
pub fn detect_frame(rgba: &[u8], width: u32, height: u32) -> Result<JsValue, JsValue> {
    let img = frame::rgb_from_rgba(rgba, width, height).map_err(thrown)?;
    json(&pipeline::detect_image(&img).map_err(thrown)?)
}

/// What a JS caller catches: the API's problem fields, as a plain object.
fn thrown(err: ApiError) -> JsValue {
    let obj = Object::new();
    set(&obj, "code", &JsValue::from_str(err.code()));
    set(&obj, "message", &JsValue::from_str(&err.detail()));
    set(&obj, "status", &JsValue::from_f64(err.status() as f64));
    obj.into()
}

/// A serde value as a JS object (through JSON: one copy, no extra crate).
fn json<T: serde::Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value).map_err(|e| thrown(ApiError::Internal(e.to_string())))?;
    js_sys::JSON::parse(&text)
}

fn set(obj: &Object, key: &str, value: &JsValue) {
    Reflect::set(obj, &JsValue::from_str(key), value).expect("setting a property of a plain object");
}
