//! Replays the fuzz seeds (fuzz/seeds/<target>) and every input a fuzzer
//! found a crash with (fuzz/regressions/<target>, copied there by
//! scripts/fuzz.sh) through the checks the fuzz targets make, natively and
//! on stable, so `make test` keeps fixed crashes fixed.

use crate::checks;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let (mut ran, mut failed) = (0, Vec::new());
    for kind in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz.join(kind).join(target)) else { continue };
        let mut paths: Vec<_> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
        paths.sort();
        for path in paths {
            let bytes = std::fs::read(&path).unwrap();
            if catch_unwind(AssertUnwindSafe(|| check(&bytes))).is_err() {
                failed.push(path.display().to_string());
            }
            ran += 1;
        }
    }
    // No inputs would make this test pass vacuously.
    assert!(ran > 0, "no seeds for the {target} fuzz target");
    assert!(failed.is_empty(), "{target}: these inputs fail the fuzz checks: {failed:#?}");
}

#[test]
fn request_inputs() {
    replay("request", checks::request);
}

#[test]
fn decode_inputs() {
    replay("decode", checks::decode);
}

#[test]
fn pipeline_inputs() {
    replay("pipeline", checks::pipeline);
}

/// The memory corpus (fuzz/seeds/memory: chunked and metadata-heavy PNGs,
/// progressive and EXIF-heavy JPEGs, animated GIFs and WebPs, decoder bombs)
/// under the counting allocator.
#[test]
fn memory_inputs() {
    replay("memory", |bytes| checks::memory(bytes, &crate::counting::peak));
}

