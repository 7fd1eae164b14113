//! Bodies of the informational endpoints (`/api/health`, `/api/models`).

use crate::models;
use serde_json::{json, Value};

pub fn health() -> Value {
    json!({
        "status": "ok",
        "name": env!("CARGO_PKG_NAME"),
        "version": env!("CARGO_PKG_VERSION"),
        "build": {
            "commit": env!("EDGECAT_GIT_COMMIT"),
            "target": env!("EDGECAT_TARGET"),
            "profile": env!("EDGECAT_PROFILE"),
        },
        "models": models::EMBEDDED.len(),
    })
}

pub fn models() -> Value {
    json!({ "models": models::list(), "metrics": models::metrics() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_reports_version_and_build() {
        let h = health();
        assert_eq!(h["status"], "ok");
        assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
        assert!(h["build"]["target"].as_str().unwrap().len() > 3);
    }

    #[test]
    fn models_lists_every_embedded_model_with_its_hash() {
        let m = models();
        let list = m["models"].as_array().unwrap();
        assert_eq!(list.len(), models::EMBEDDED.len());
        for (info, model) in list.iter().zip(models::EMBEDDED) {
            assert_eq!(info["bytes"], model.nnef.len());
            assert_eq!(info["format"], "nnef-int8");
            assert_eq!(info["sha256"].as_str().unwrap().len(), 64);
            assert_eq!(info["source"]["file"], model.onnx_file);
            assert_eq!(info["source"]["sha256"].as_str().unwrap().len(), 64);
        }
    }
}
