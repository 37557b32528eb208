#![no_main]
//! Fuzz target `query`: see ferry_tests::fuzz_checks::query.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_tests::fuzz_checks::query(data));
