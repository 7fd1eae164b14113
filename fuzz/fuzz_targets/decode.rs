//! Photo and overlay decoding (limits, EXIF orientation) on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::decode(data));
