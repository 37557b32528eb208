#![no_main]
//! Fuzz target `file_list`: see ferry_tests::fuzz_checks::file_list.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_tests::fuzz_checks::file_list(data));
