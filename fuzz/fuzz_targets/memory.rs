//! The worker's steps for a photo (photo_need, then the pipeline) under a
//! counting allocator: a finding is any photo that allocates more than its
//! pre-decode figure allows (see checks.rs, `memory`).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;
#[path = "../counting.rs"]
mod counting;

#[global_allocator]
static COUNTING: counting::Counting = counting::Counting;

fuzz_target!(|data: &[u8]| checks::memory(data, &counting::peak));
