#!/usr/bin/env bash
# Kotlin syntax check of the given files or folders (*.kt, *.kts) with the Kotlin compiler's own
# parser, for Kotlin that cannot be compiled here (the Android app: no Android SDK). Syntax only:
# unresolved references and type errors are not looked at. Prints `path:line:col: message` per
# error and exits 1 when there is any, else prints `kotlin-syntax: N files OK`.
#
#     scripts/kotlin-syntax.sh FILE_OR_DIR...
#     scripts/kotlin-syntax.sh --self-test   # testdata/good/* must pass, each testdata/bad/* fail
#                                            # on the line its `// expect-error: N` names
#
# The checker (scripts/kotlin-syntax/KotlinSyntax.kt) is compiled once into target/kotlin-syntax/
# and again only when its source (or the compiler) is newer than the jar.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/install-kotlin.sh"
KC="$ROOT/.tools/kotlin/node_modules/kotlin-compiler"
SRC="$ROOT/scripts/kotlin-syntax/KotlinSyntax.kt"
OUT="$ROOT/target/kotlin-syntax"
JAR="$OUT/kotlin-syntax.jar"
if [ ! -f "$JAR" ] || [ "$SRC" -nt "$JAR" ] || [ "$KC/lib/kotlin-compiler.jar" -nt "$JAR" ]; then
    mkdir -p "$OUT"
    rm -f "$OUT/kotlin-syntax.tmp.jar"
    if ! "$KC/bin/kotlinc" -jvm-target 17 -cp "$KC/lib/kotlin-compiler.jar" -d "$OUT/kotlin-syntax.tmp.jar" \
            "$SRC" >"$OUT/kotlinc.log" 2>&1 || [ ! -f "$OUT/kotlin-syntax.tmp.jar" ]; then
        cat "$OUT/kotlinc.log" >&2
        echo "kotlin-syntax: compiling the checker failed" >&2
        exit 1
    fi
    mv "$OUT/kotlin-syntax.tmp.jar" "$JAR"
fi

check() {
    java -XX:TieredStopAtLevel=1 -Xshare:auto \
        -cp "$JAR:$KC/lib/kotlin-compiler.jar:$KC/lib/kotlin-stdlib.jar" app.ferry.tools.KotlinSyntaxKt "$@"
}

if [ "${1:-}" != "--self-test" ]; then
    check "$@"
    exit
fi

DATA="$ROOT/scripts/kotlin-syntax/testdata"
passed=0; failed=0
fail() { echo "kotlin-syntax self-test: FAIL $*" >&2; failed=$((failed + 1)); }
# The good files together: one run, which must pass.
if out="$(check "$DATA/good" 2>&1)"; then
    passed=$((passed + 1)); echo "ok   good/ ($out)"
else
    fail "good files rejected:"; echo "$out" >&2
fi
# Each bad file alone: the run must fail, and its first error be on the expected line.
for f in "$DATA"/bad/*.kt "$DATA"/bad/*.kts; do
    [ -f "$f" ] || continue
    name="bad/$(basename "$f")"
    want="$(sed -n 's|^// expect-error: \([0-9]*\)$|\1|p' "$f" | head -n1)"
    [ -n "$want" ] || { fail "$name has no '// expect-error: LINE' comment"; continue; }
    if out="$(check "$f" 2>/dev/null)"; then
        fail "$name passed, but must fail"; continue
    fi
    first="$(printf '%s\n' "$out" | head -n1)"
    line="$(printf '%s\n' "$first" | sed -n 's|^.*\.kts\{0,1\}:\([0-9]*\):[0-9]*: .*$|\1|p')"
    if [ "$line" = "$want" ]; then
        passed=$((passed + 1)); echo "ok   $name -> ${first#"$DATA/"}"
    else
        fail "$name: expected an error on line $want, got: $first"
    fi
done
echo "kotlin-syntax self-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
