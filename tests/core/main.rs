//! The native integration tests, in one binary so that `make test` links
//! the core (and tract) once for all of them:
//! - `models`: the committed int8 models through tract (parity, accuracy);
//! - `memory`: the pre-decode memory estimate against what is allocated;
//! - `fuzz_regressions`: the fuzz seeds and found crashes, replayed.

#[path = "../../fuzz/checks.rs"]
mod checks;
mod fuzz_regressions;
mod memory;
mod models;
