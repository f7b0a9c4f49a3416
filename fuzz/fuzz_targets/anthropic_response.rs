//! Fuzz target `anthropic_response`: the body and its invariants are `case_harness::fuzz_targets::anthropic_response`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| case_harness::fuzz_targets::anthropic_response(data));
