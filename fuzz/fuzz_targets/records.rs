//! Fuzz target `records`: the body and its invariants are `case_harness::fuzz_targets::records`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| case_harness::fuzz_targets::records(data));
