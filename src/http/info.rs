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

/// The deployed version, from the Workers version metadata binding
/// (`[version_metadata]` in wrangler.toml): each `wrangler deploy` or
/// `wrangler versions upload` makes a new id, so a smoke test can tell two
/// deployments of the same commit apart. `None` (no binding): null.
pub fn deployment(id: Option<&str>, tag: Option<&str>, timestamp: Option<&str>) -> Value {
    let Some(id) = id.filter(|id| !id.is_empty()) else { return Value::Null };
    json!({
        "version_id": id,
        "version_tag": tag.filter(|t| !t.is_empty()),
        "version_timestamp": timestamp.filter(|t| !t.is_empty()),
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
    fn deployment_names_the_version_when_the_binding_is_there() {
        assert_eq!(deployment(None, None, None), Value::Null);
        assert_eq!(deployment(Some(""), Some("t"), None), Value::Null);
        assert_eq!(
            deployment(Some("9b1c"), Some(""), Some("2026-12-02T01:00:00.000Z")),
            json!({"version_id": "9b1c", "version_tag": null, "version_timestamp": "2026-12-02T01:00:00.000Z"})
        );
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
