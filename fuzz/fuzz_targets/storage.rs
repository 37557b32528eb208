#![no_main]
//! Fuzz target `storage`: see ferry_tests::fuzz_checks::storage.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_tests::fuzz_checks::storage(data));
