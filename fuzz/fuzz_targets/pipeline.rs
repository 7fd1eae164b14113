//! decode → detect → landmarks → overlay → encode on arbitrary bytes, with
//! an optional uploaded overlay and style (see checks.rs for the layout).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::pipeline(data));
