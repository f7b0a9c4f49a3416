//! Fuzz target `argv_rule`: the body and its invariants are `case_harness::fuzz_targets::argv_rule`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| case_harness::fuzz_targets::argv_rule(data));
