#![no_main]
//! Fuzz target `content_range`: see ferry_tests::fuzz_checks::content_range.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_tests::fuzz_checks::content_range(data));
