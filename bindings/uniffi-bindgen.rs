//! The UniFFI bindings generator, built from the same UniFFI version as the library
//! (`make bindings` runs it).
fn main() {
    uniffi::uniffi_bindgen_main()
}
