//! The native integration tests, in one binary so that `make test` links
//! the core (and tract) once for all of them:
//! - `models`: the committed int8 models through tract (parity, accuracy);
//! - `engine`: the NNEF tars the worker runs are the converted ONNX, and
//!   give the ONNX engine's outputs bit for bit;
//! - `memory`: the pre-decode memory estimate against what is allocated;
//!   the memory fuzz corpus replayed under the counting allocator;
//! - `fuzz_regressions`: the fuzz seeds and found crashes, replayed;
//! - `truncation`: the truncated-upload check on every photo in ../shared;
//! - `output_quality`: outside the glasses, a JPEG's output is its upload.

#[path = "../../fuzz/checks.rs"]
mod checks;
// The one global allocator of this binary: counting, per thread (memory.rs
// and the memory corpus's replay measure with it).
#[path = "../../fuzz/counting.rs"]
mod counting;
#[global_allocator]
static COUNTING: counting::Counting = counting::Counting;
#[cfg(feature = "onnx")]
mod engine;
mod fuzz_regressions;
mod memory;
mod models;
mod output_quality;
mod truncation;
