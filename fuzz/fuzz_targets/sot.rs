//! Fuzz target `sot`: the body and its invariants are `case_harness::fuzz_targets::sot`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| case_harness::fuzz_targets::sot(data));
