#![no_main]
//! Fuzz target `address`: see ferry_tests::fuzz_checks::address.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_tests::fuzz_checks::address(data));
