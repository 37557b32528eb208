#![no_main]
//! Fuzz target `range`: see ferry_tests::fuzz_checks::range.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_tests::fuzz_checks::range(data));
