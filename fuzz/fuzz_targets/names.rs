#![no_main]
//! Fuzz target `names`: see ferry_tests::fuzz_checks::names.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_tests::fuzz_checks::names(data));
