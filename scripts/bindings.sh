#!/usr/bin/env bash
# Generates the Kotlin and Swift bindings of ferry-ffi from the host library, with the
# uniffi-bindgen built from the same UniFFI version (the ferry-uniffi-bindgen crate in bindings/bindgen).
#   scripts/bindings.sh            write them into bindings/kotlin and bindings/swift
#   scripts/bindings.sh --check    generate into a temporary folder and fail if the committed
#                                  ones differ (drift), saying how to fix it
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CARGO="${CARGO:-cargo}"
case "$(uname -s)" in Darwin) LIB=libferry_ffi.dylib ;; *) LIB=libferry_ffi.so ;; esac
"$CARGO" build -q -p ferry-ffi -p ferry-uniffi-bindgen --locked
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BINDGEN=("$TARGET_DIR/debug/uniffi-bindgen")
GEN="$(mktemp -d)"; trap 'rm -rf "$GEN"' EXIT
"${BINDGEN[@]}" generate --library "$TARGET_DIR/debug/$LIB" --language kotlin --out-dir "$GEN/kotlin" --no-format >/dev/null
"${BINDGEN[@]}" generate --library "$TARGET_DIR/debug/$LIB" --language swift --out-dir "$GEN/swift" --no-format >/dev/null
# The generated files (bindings/swift also holds the hand-written Package.swift).
FILES=(kotlin/app/ferry/core/ferry_ffi.kt swift/FerryCore.swift swift/FerryCoreFFI.h swift/FerryCoreFFI.modulemap)
if [ "${1:-}" = --check ]; then
    drift=0
    for f in "${FILES[@]}"; do
        if ! cmp -s "$GEN/$f" "$ROOT/bindings/$f"; then
            echo "bindings: bindings/$f differs from what ferry-ffi generates" >&2
            diff "$ROOT/bindings/$f" "$GEN/$f" 2>&1 | head -10 >&2 || true
            drift=1
        fi
    done
    [ "$drift" = 0 ] || { echo "bindings: run 'make bindings' and commit the result" >&2; exit 1; }
    echo "bindings: committed Kotlin and Swift sources match the library"
else
    for f in "${FILES[@]}"; do mkdir -p "$(dirname "$ROOT/bindings/$f")"; cp "$GEN/$f" "$ROOT/bindings/$f"; done
fi
