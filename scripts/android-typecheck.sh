#!/usr/bin/env bash
# Type-checks the Kotlin of android/app that does not use Compose (the services, the platform
# glue, the notifications, the view models, and the two activities with their few Compose calls
# stubbed) with kotlinc, against:
#   * Java stubs of the android.* classes those files use, generated from the declarations of
#     @nativescript/types-android (scripts/android-stubs.py; installed by android-api-check.sh),
#   * hand-written stubs of the androidx API they call (android/tools/typecheck/*.kt),
#   * an R class generated from android/app/src/main/res,
#   * the real :logic module and the generated Kotlin bindings.
# It first proves it catches a broken input: a copy of the files with a method WifiManager does
# not have and swapped arguments must fail with those errors (and none in other files). -Werror is off (the stubs' platform
# types make some warnings meaningless); errors fail.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/install-kotlin.sh
KC="$ROOT/.tools/kotlin/node_modules/kotlin-compiler"
LIBS="$KC/lib"
DECLS="$ROOT/.tools/android-api/node_modules/@nativescript/types-android/lib/android/android-platform-21-37-merged.d.ts"
[ -f "$DECLS" ] || bash scripts/android-api-check.sh >/dev/null
OUT="$ROOT/target/android-typecheck"
rm -rf "$OUT"; mkdir -p "$OUT/stubs-src" "$OUT/stubs" "$OUT/gen"
APP=android/app/src/main/java
mapfile -t FILES < <(grep -L -r -e "androidx.compose" -e "@Composable" "$APP" --include='*.kt' | sort)
STUBS=(android/tools/typecheck/*.kt)
python3 scripts/android-stubs.py --decls "$DECLS" --out "$OUT/stubs-src" "${FILES[@]}" "${STUBS[@]}"
mapfile -t JAVA < <(find "$OUT/stubs-src" -name '*.java')
javac -nowarn -Xlint:none -d "$OUT/stubs" "${JAVA[@]}" 2>&1 | { grep -v "^Note:" || true; }
python3 - "$OUT/gen/R.kt" <<'PY'
import os, re, sys, xml.etree.ElementTree as ET
res = "android/app/src/main/res"
kinds = {}
for d in sorted(os.listdir(res)):
    kind = d.split("-")[0]
    for f in sorted(os.listdir(os.path.join(res, d))):
        if kind == "values":
            for e in ET.parse(os.path.join(res, d, f)).getroot():
                t = {"string-array": "array"}.get(e.tag, e.tag)
                if e.get("name"):
                    kinds.setdefault(t, set()).add(e.get("name").replace(".", "_"))
        else:
            kinds.setdefault(kind, set()).add(os.path.splitext(f)[0])
with open(sys.argv[1], "w") as out:
    out.write("// Generated from android/app/src/main/res by scripts/android-typecheck.sh.\npackage app.ferry.android\n\nobject R {\n")
    n = 0
    for kind in sorted(kinds):
        out.write(f"    object {kind} {{\n")
        for name in sorted(kinds[kind]):
            n += 1
            out.write(f"        const val {name} = {0x7f000000 + n}\n")
        out.write("    }\n")
    out.write("}\n")
PY
CP="$OUT/stubs:/usr/share/java/jna.jar:$LIBS/kotlinx-coroutines-core-jvm.jar"
mapfile -t LOGIC < <(find android/logic/src/main/kotlin -name '*.kt' | sort)
compile() { # OUT_JAR SOURCES...: kotlinc's errors on stdout, status 1 when any
    local jar="$1"; shift
    "$KC/bin/kotlinc" -jvm-target 17 -nowarn -cp "$CP" -d "$jar" "$@" 2>&1 | grep -v "^warning: unable to find kotlin-stdlib" || true
    [ -f "$jar" ]
}
# The broken input first: a copy of the files with a method WifiManager lacks and the arguments
# of PowerManager.newWakeLock swapped must fail with those errors, all in that file.
# (ANDROID_TYPECHECK_QUICK=1 skips this proof, to iterate on the app.)
if [ "${ANDROID_TYPECHECK_QUICK:-0}" != 1 ]; then
    mkdir -p "$OUT/broken"
    cp "${FILES[@]}" "$OUT/broken/"
    LOCKS="$OUT/broken/TransferLocks.kt"
    sed -i 's/createWifiLock(type, /createWifiLocks(type, /; s/newWakeLock(PowerManager.PARTIAL_WAKE_LOCK, "ferry:transfer")/newWakeLock("ferry:transfer", PowerManager.PARTIAL_WAKE_LOCK)/' "$LOCKS"
    grep -q createWifiLocks "$LOCKS" && grep -q 'newWakeLock("ferry:transfer"' "$LOCKS" || { echo "android-typecheck: could not break $LOCKS" >&2; exit 1; }
    if compile "$OUT/broken.jar" "$OUT"/broken/*.kt "${STUBS[@]}" "$OUT/gen/R.kt" "${LOGIC[@]}" bindings/kotlin/app/ferry/core/ferry_ffi.kt >"$OUT/broken.log"; then
        echo "android-typecheck: the broken input compiled: the check would not see errors" >&2; exit 1
    fi
    if ! grep -q "TransferLocks.kt:.*error: unresolved reference 'createWifiLocks'" "$OUT/broken.log" ||
        ! grep -q "TransferLocks.kt:.*error: argument type mismatch" "$OUT/broken.log" ||
        grep 'error:' "$OUT/broken.log" | grep -qv '/TransferLocks.kt:'; then
        cat "$OUT/broken.log" >&2; echo "android-typecheck: the broken input did not fail as it should" >&2; exit 1
    fi
fi
if ! compile "$OUT/app.jar" "${FILES[@]}" "${STUBS[@]}" "$OUT/gen/R.kt" "${LOGIC[@]}" bindings/kotlin/app/ferry/core/ferry_ffi.kt >"$OUT/app.log"; then
    cat "$OUT/app.log"; echo "android-typecheck: errors in the app's Kotlin (or in the stubs: see scripts/android-stubs.py)" >&2; exit 1
fi
echo "android-typecheck: ${#FILES[@]} non-Compose files of android/app type-check against the Android API 37 declarations"
