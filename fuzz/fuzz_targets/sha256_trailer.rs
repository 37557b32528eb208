#![no_main]
//! Fuzz target `sha256_trailer`: see ferry_tests::fuzz_checks::sha256_trailer.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_tests::fuzz_checks::sha256_trailer(data));
