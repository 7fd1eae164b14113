//! Embeds the models listed in models/manifest.json (bytes + sha256 computed
//! here, so the worker does no hashing at run time) and records build info:
//! each model's NNEF tar always, its ONNX source only with feature `onnx`.

use sha2::{Digest, Sha256};
use std::{env, fs, path::Path, process::Command};

// The built-in sunglasses, drawn here once (the file says why).
#[allow(dead_code)]
#[path = "src/styles.rs"]
mod styles;

/// (sha256 in hex, length) of a model file, which cargo then watches.
fn sha256(path: &Path) -> (String, usize) {
    println!("cargo:rerun-if-changed={}", path.display());
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect(), bytes.len())
}

fn main() {
    let root = env::var("CARGO_MANIFEST_DIR").unwrap();
    // EDGECAT_MODELS_DIR builds with another set of models (same layout).
    println!("cargo:rerun-if-env-changed=EDGECAT_MODELS_DIR");
    let models = env::var("EDGECAT_MODELS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| Path::new(&root).join("models"));
    let manifest_path = models.join("manifest.json");
    println!("cargo:rerun-if-changed={}", manifest_path.display());

    let mut out = String::new();
    let manifest: serde_json::Value = match fs::read_to_string(&manifest_path) {
        Ok(text) => serde_json::from_str(&text).expect("models/manifest.json is valid JSON"),
        Err(_) => serde_json::Value::Null,
    };
    out.push_str(&format!("pub static MANIFEST_JSON: &str = {:?};\n", manifest.to_string()));
    // The NNEF tar (what the engine loads) always; the ONNX it was converted
    // from only with the `onnx` feature (native tests and the converter).
    let with_onnx = env::var_os("CARGO_FEATURE_ONNX").is_some();
    out.push_str("pub static EMBEDDED: &[EmbeddedModel] = &[\n");
    for name in ["detector", "landmarks"] {
        let Some(onnx_file) = manifest[name]["file"].as_str() else { continue };
        let nnef_file = manifest[name]["nnef"].as_str().unwrap_or_else(|| {
            panic!("models/manifest.json: {name} has no \"nnef\" file (make nnef converts {onnx_file})")
        });
        let (nnef_path, onnx_path) = (models.join(nnef_file), models.join(onnx_file));
        // A missing tar still builds (empty, with a warning), so that the
        // converter that makes it can be built: `make nnef`.
        let (nnef, nnef_sha) = if nnef_path.exists() {
            (format!("include_bytes!({:?})", nnef_path.display().to_string()), sha256(&nnef_path).0)
        } else {
            println!("cargo:rerun-if-changed={}", nnef_path.display());
            println!("cargo:warning={} is missing: `make nnef` converts {onnx_file}", nnef_path.display());
            ("&[]".to_string(), String::new())
        };
        let (onnx_sha, onnx_len) = sha256(&onnx_path);
        let onnx = if with_onnx { format!("Some(include_bytes!({:?}))", onnx_path.display().to_string()) } else { "None".into() };
        out.push_str(&format!(
            "    EmbeddedModel {{ name: {name:?}, nnef_file: {nnef_file:?}, nnef: {nnef}, nnef_sha256: {nnef_sha:?}, \
             onnx_file: {onnx_file:?}, onnx_bytes: {onnx_len}, onnx_sha256: {onnx_sha:?}, onnx: {onnx} }},\n"
        ));
    }
    out.push_str("];\n");
    let out_dir = env::var("OUT_DIR").unwrap();
    fs::write(Path::new(&out_dir).join("embedded_models.rs"), out).unwrap();

    println!("cargo:rerun-if-changed=src/styles.rs");
    for style in styles::STYLES {
        fs::write(Path::new(&out_dir).join(format!("style-{style}.rgba")), styles::render(style)).unwrap();
    }

    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(&root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=EDGECAT_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=EDGECAT_TARGET={}", env::var("TARGET").unwrap());
    println!("cargo:rustc-env=EDGECAT_PROFILE={}", env::var("PROFILE").unwrap());
    println!("cargo:rerun-if-changed=.git/HEAD");
}
