#!/usr/bin/env bash
# Compiles the generated Kotlin bindings and the Kotlin tests with -Werror and runs them on the
# JVM against the host library (target/debug/libferry_ffi.so). Nothing here leaves loopback.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/install-kotlin.sh
cargo build -q -p ferry-ffi --locked
KC="$ROOT/.tools/kotlin/node_modules/kotlin-compiler"
LIBS="$KC/lib"
CP="/usr/share/java/jna.jar:$LIBS/kotlinx-coroutines-core-jvm.jar:$LIBS/kotlin-test.jar"
OUT="$ROOT/target/kotlin"
rm -rf "$OUT"; mkdir -p "$OUT"
"$KC/bin/kotlinc" -Werror -jvm-target 17 -cp "$CP" -d "$OUT/ferry-test.jar" \
    bindings/kotlin/app/ferry/core/ferry_ffi.kt bindings/tests/kotlin/*.kt 2>&1 | grep -v "^warning: unable to find kotlin-stdlib" || true
[ -f "$OUT/ferry-test.jar" ] || { echo "test-kotlin: compilation failed" >&2; exit 1; }
timeout 300 java -Djna.library.path="$ROOT/target/debug" -cp "$OUT/ferry-test.jar:$CP:$LIBS/kotlin-stdlib.jar" \
    app.ferry.core.test.FerryTestKt
