#![no_main]
//! Fuzz target `wire_json`: see ferry_tests::fuzz_checks::wire_json.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_tests::fuzz_checks::wire_json(data));
