//! Request parsing: routes, Content-Type, Content-Length, format negotiation,
//! CORS and the multipart field rules (see checks.rs for the input layout).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::request(data));
