//! The models embedded in the binary (see build.rs) and their manifest:
//! input sizes, thresholds and the accuracy measured for the model card.

use serde::Serialize;
use serde_json::Value;
use std::sync::OnceLock;

/// One model file compiled into the binary.
#[derive(Debug)]
pub struct EmbeddedModel {
    pub name: &'static str,
    pub file: &'static str,
    pub bytes: &'static [u8],
    pub sha256: &'static str,
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

/// What `GET /api/models` reports for one model.
#[derive(Debug, Serialize)]
pub struct ModelInfo {
    pub name: &'static str,
    pub file: &'static str,
    pub format: &'static str,
    pub input_shape: Vec<usize>,
    pub bytes: usize,
    pub sha256: &'static str,
    pub config: Value,
}

pub fn list() -> Vec<ModelInfo> {
    EMBEDDED
        .iter()
        .map(|m| {
            let config = manifest()[m.name].clone();
            let side = config["input_size"].as_u64().unwrap_or(0) as usize;
            ModelInfo {
                name: m.name,
                file: m.file,
                format: "onnx-int8",
                input_shape: vec![1, 3, side, side],
                bytes: m.bytes.len(),
                sha256: m.sha256,
                config,
            }
        })
        .collect()
}

/// The accuracy figures of the model card, as the manifest records them.
pub fn metrics() -> Value {
    manifest()["metrics"].clone()
}
