//! Fuzz target `base_url`: the body and its invariants are `case_harness::fuzz_targets::base_url`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| case_harness::fuzz_targets::base_url(data));
