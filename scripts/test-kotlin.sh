#!/usr/bin/env bash
# Compiles the generated Kotlin bindings and the Kotlin tests with -Werror and runs them on the
# JVM against the host library (target/debug/libferry_ffi.so). Nothing here leaves loopback.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/kotlin-env.sh"
OUT="$ROOT/target/kotlin"
kotlin_compile "$OUT/ferry-test.jar" bindings/kotlin/app/ferry/core/ferry_ffi.kt bindings/tests/kotlin/*.kt
timeout 300 java -Djna.library.path="$ROOT/target/debug" -cp "$OUT/ferry-test.jar:$CP:$LIBS/kotlin-stdlib.jar" \
    app.ferry.core.test.FerryTestKt
