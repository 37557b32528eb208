#!/usr/bin/env bash
# Builds libferry_ffi.so for Android (arm64-v8a, armeabi-v7a, x86_64) with cargo-ndk into the
# app's jniLibs, with the release-mobile profile (LTO, one codegen unit, stripped), linked for 16 KB
# pages (checked by scripts/android-elf-align.py). Needs the Android NDK (ANDROID_NDK_HOME; r28+
# recommended) and cargo-ndk; says so when missing.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${ANDROID_JNILIBS:-$ROOT/android/app/src/main/jniLibs}"
if ! command -v cargo-ndk >/dev/null 2>&1; then
    echo "android-libs: cargo-ndk is missing: cargo install cargo-ndk" >&2; exit 1
fi
if [ -z "${ANDROID_NDK_HOME:-}" ] || [ ! -d "${ANDROID_NDK_HOME}" ]; then
    echo "android-libs: the Android NDK is missing: install it (Android Studio > SDK Manager > NDK) and set ANDROID_NDK_HOME" >&2; exit 1
fi
targets=(aarch64-linux-android armv7-linux-androideabi x86_64-linux-android)
missing=()
for t in "${targets[@]}"; do rustup target list --installed 2>/dev/null | grep -qx "$t" || missing+=("$t"); done
[ "${#missing[@]}" -eq 0 ] || rustup target add "${missing[@]}"
cd "$ROOT"
# 16 KB pages (Android 15+ devices; Google Play requires it): NDK r28+ links so by default; the
# flag makes older NDKs do the same. Checked below on every library written.
# RUSTFLAGS (not a per-target variable: some cargo-ndk versions turn RUSTFLAGS into
# CARGO_ENCODED_RUSTFLAGS, which would hide those); with --target it reaches only Android code.
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C link-arg=-Wl,-z,max-page-size=16384"
cargo ndk -t arm64-v8a -t armeabi-v7a -t x86_64 -o "$OUT" build --profile release-mobile -p ferry-ffi --lib
python3 "$ROOT/scripts/android-elf-align.py" "$OUT"
echo "android-libs: written to $OUT"
