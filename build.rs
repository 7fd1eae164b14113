//! Embeds the models listed in models/manifest.json (bytes + sha256 computed
//! here, so the worker does no hashing at run time) and records build info.

use sha2::{Digest, Sha256};
use std::{env, fs, path::Path, process::Command};

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
    out.push_str("pub static EMBEDDED: &[EmbeddedModel] = &[\n");
    for name in ["detector", "landmarks"] {
        let Some(file) = manifest[name]["file"].as_str() else { continue };
        let path = models.join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let sha = Sha256::digest(&bytes);
        let hex: String = sha.iter().map(|b| format!("{b:02x}")).collect();
        out.push_str(&format!(
            "    EmbeddedModel {{ name: {name:?}, file: {file:?}, bytes: include_bytes!({:?}), sha256: {hex:?} }},\n",
            path.display().to_string()
        ));
    }
    out.push_str("];\n");
    let dest = Path::new(&env::var("OUT_DIR").unwrap()).join("embedded_models.rs");
    fs::write(dest, out).unwrap();

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
