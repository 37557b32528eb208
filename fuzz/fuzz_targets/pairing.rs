#![no_main]
//! Fuzz target `pairing`: see ferry_tests::fuzz_checks::pairing.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_tests::fuzz_checks::pairing(data));
