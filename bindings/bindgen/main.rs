//! The UniFFI bindings generator, built from the same UniFFI version as ferry-ffi (`make bindings` runs it).
//! It lives in its own crate so the mobile library itself never compiles the generator (clap, goblin, askama).
fn main() {
    uniffi::uniffi_bindgen_main()
}
