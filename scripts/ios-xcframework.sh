#!/usr/bin/env bash
# Builds FerryCoreFFI.xcframework (iOS device, iOS simulator and macOS slices) from ferry-ffi's
# static library (release-mobile profile: LTO, one codegen unit, stripped) and the generated C header, for the Swift package in bindings/swift
# (Package.swift binaryTarget). The macOS slice lets `swift test` run the FerryKit tests on a Mac.
# Needs macOS with Xcode; says so elsewhere.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$(uname -s)" != Darwin ] || ! command -v xcodebuild >/dev/null 2>&1; then
    echo "ios-xcframework: needs macOS with Xcode (xcodebuild); build it on a Mac" >&2; exit 1
fi
cd "$ROOT"
targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin)
rustup target add "${targets[@]}"
# Extensions may only link code built for them.
export RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-Wl,-application_extension"
for t in "${targets[@]}"; do cargo build --profile release-mobile -p ferry-ffi --lib --target "$t"; done
W="$(mktemp -d)"; trap 'rm -rf "$W"' EXIT
mkdir -p "$W/headers" "$W/sim" "$W/mac"
cp bindings/swift/FerryCoreFFI.h "$W/headers/"
cp bindings/swift/FerryCoreFFI.modulemap "$W/headers/module.modulemap"
lipo -create target/aarch64-apple-ios-sim/release-mobile/libferry_ffi.a target/x86_64-apple-ios/release-mobile/libferry_ffi.a \
    -output "$W/sim/libferry_ffi.a"
lipo -create target/aarch64-apple-darwin/release-mobile/libferry_ffi.a target/x86_64-apple-darwin/release-mobile/libferry_ffi.a \
    -output "$W/mac/libferry_ffi.a"
OUT="$ROOT/bindings/swift/FerryCoreFFI.xcframework"
rm -rf "$OUT"
xcodebuild -create-xcframework \
    -library target/aarch64-apple-ios/release-mobile/libferry_ffi.a -headers "$W/headers" \
    -library "$W/sim/libferry_ffi.a" -headers "$W/headers" \
    -library "$W/mac/libferry_ffi.a" -headers "$W/headers" \
    -output "$OUT"
echo "ios-xcframework: $OUT"
