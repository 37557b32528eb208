#![no_main]
//! Fuzz target `multicast`: see ferry_tests::fuzz_checks::multicast.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_tests::fuzz_checks::multicast(data));
