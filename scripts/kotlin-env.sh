# Sourced by the scripts that compile Kotlin against the bindings and run it on the JVM:
# installs the tools, builds the host library, and defines ROOT, KC (kotlinc's home), LIBS,
# CP (JNA, coroutines, kotlin-test) and kotlin_compile OUT_JAR SOURCES... (-Werror; fails
# when the jar is not written).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/install-kotlin.sh
cargo build -q -p ferry-ffi --locked
# Where cargo put the host library (CARGO_TARGET_DIR when set).
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
KC="$ROOT/.tools/kotlin/node_modules/kotlin-compiler"
LIBS="$KC/lib"
CP="/usr/share/java/jna.jar:$LIBS/kotlinx-coroutines-core-jvm.jar:$LIBS/kotlin-test.jar"

kotlin_compile() {
    local jar="$1"; shift
    rm -rf "$(dirname "$jar")"; mkdir -p "$(dirname "$jar")"
    "$KC/bin/kotlinc" -Werror -jvm-target 17 -cp "$CP" -d "$jar" "$@" 2>&1 | grep -v "^warning: unable to find kotlin-stdlib" || true
    [ -f "$jar" ] || { echo "$(basename "$0"): compilation failed" >&2; return 1; }
}
