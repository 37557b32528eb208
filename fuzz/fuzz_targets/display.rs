#![no_main]
//! Fuzz target `display`: see ferry_tests::fuzz_checks::display.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_tests::fuzz_checks::display(data));
