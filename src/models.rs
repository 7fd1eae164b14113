//! The models embedded in the binary (see build.rs) and their manifest:
//! input sizes, thresholds and the accuracy measured for the model card.

use serde::Serialize;
use serde_json::Value;
use std::sync::OnceLock;

/// One model compiled into the binary: the NNEF tar the engine runs, and the
/// ONNX file it was converted from (`edgecat convert`, `make nnef`), whose
/// bytes are embedded only with feature `onnx` (native tests, the CLI).
#[derive(Debug)]
pub struct EmbeddedModel {
    pub name: &'static str,
    /// models/<name>.nnef.tar: typed, decluttered, int8 weights.
    pub nnef_file: &'static str,
    /// Empty when the tar was missing at build time (build.rs warns).
    pub nnef: &'static [u8],
    pub nnef_sha256: &'static str,
    /// The source of truth, models/<name>.int8.onnx.
    pub onnx_file: &'static str,
    pub onnx_bytes: usize,
    pub onnx_sha256: &'static str,
    pub onnx: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/embedded_models.rs"));

/// models/manifest.json, parsed once.
pub fn manifest() -> &'static Value {
    static MANIFEST: OnceLock<Value> = OnceLock::new();
    MANIFEST.get_or_init(|| serde_json::from_str(MANIFEST_JSON).unwrap_or(Value::Null))
}

pub fn embedded(name: &str) -> Option<&'static EmbeddedModel> {
    EMBEDDED.iter().find(|m| m.name == name)
}

/// What `GET /api/models` reports for one model: the NNEF the worker runs,
/// and the ONNX file it came from.
#[derive(Debug, Serialize)]
pub struct ModelInfo {
    pub name: &'static str,
    pub file: &'static str,
    pub format: &'static str,
    pub input_shape: Vec<usize>,
    pub bytes: usize,
    pub sha256: &'static str,
    pub source: SourceInfo,
    pub config: Value,
}

#[derive(Debug, Serialize)]
pub struct SourceInfo {
    pub file: &'static str,
    pub format: &'static str,
    pub bytes: usize,
    pub sha256: &'static str,
}

pub fn list() -> Vec<ModelInfo> {
    EMBEDDED
        .iter()
        .map(|m| {
            let config = manifest()[m.name].clone();
            let side = config["input_size"].as_u64().unwrap_or(0) as usize;
            ModelInfo {
                name: m.name,
                file: m.nnef_file,
                format: "nnef-int8",
                input_shape: vec![1, 3, side, side],
                bytes: m.nnef.len(),
                sha256: m.nnef_sha256,
                source: SourceInfo { file: m.onnx_file, format: "onnx-int8", bytes: m.onnx_bytes, sha256: m.onnx_sha256 },
                config,
            }
        })
        .collect()
}

/// The accuracy figures of the model card, as the manifest records them.
pub fn metrics() -> Value {
    manifest()["metrics"].clone()
}
