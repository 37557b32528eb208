#!/usr/bin/env bash
# The app's manifest and resources through a real resource compiler: Debian's aapt (Android 10's
# aapt, v1) with Debian's framework-res.apk of API 29 (packages aapt and android-framework-res,
# installed on the first run). It compiles every resource, resolves every @-reference and every
# android: attribute against the API 29 framework, and links the manifest into an APK skeleton.
#
# Knowingly skipped, because API 29's framework does not have them (printed on each run):
# manifest attributes and values of later APIs (android:dataExtractionRules, usesPermissionFlags,
# the specialUse service type, <property>), and tools: attributes (Gradle's manifest merger
# removes them). ${applicationId} is set as Gradle would, and the package is the Gradle namespace.
# It first proves it catches a broken input: the manifest naming a string that does not exist.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FRAMEWORK=/usr/share/android-framework-res/framework-res.apk
if ! command -v aapt >/dev/null 2>&1 || [ ! -f "$FRAMEWORK" ]; then
    echo "android-aapt: first run: apt-get install aapt android-framework-res" >&2
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends aapt android-framework-res >/dev/null
fi
OUT="$ROOT/target/android-aapt"
rm -rf "$OUT"; mkdir -p "$OUT"
MAIN="$ROOT/android/app/src/main"
NAMESPACE="$(sed -n 's/^\s*namespace\s*=\s*"\(.*\)".*/\1/p' "$ROOT/android/app/build.gradle.kts" | head -1)"

# prepare SRC_MANIFEST OUT_MANIFEST: the API 29 view of the manifest (what is skipped on stderr).
prepare() {
    python3 - "$1" "$2" "$NAMESPACE" <<'PY'
import sys, xml.etree.ElementTree as ET
A = "{http://schemas.android.com/apk/res/android}"
T = "{http://schemas.android.com/tools}"
ET.register_namespace("android", A[1:-1])
ET.register_namespace("tools", T[1:-1])
src, out, namespace = sys.argv[1:]
tree = ET.parse(src)
root = tree.getroot()
root.set("package", namespace)
NEWER = {"dataExtractionRules": 31, "usesPermissionFlags": 31}
skipped = set()
for parent in root.iter():
    for child in list(parent):
        if child.tag == "property":
            parent.remove(child)
            skipped.add("<property> (API 31)")
for e in root.iter():
    for k in list(e.attrib):
        if k.startswith(T):
            del e.attrib[k]
            skipped.add("tools: attributes")
        elif k.startswith(A) and k[len(A):] in NEWER:
            del e.attrib[k]
            skipped.add(f"android:{k[len(A):]} (API {NEWER[k[len(A):]]})")
        elif k == A + "foregroundServiceType":
            kept = [t for t in e.attrib[k].split("|") if t != "specialUse"]
            if len(kept) != len(e.attrib[k].split("|")):
                skipped.add("foregroundServiceType specialUse (API 34)")
            e.attrib[k] = "|".join(kept)
        elif "${applicationId}" in e.attrib[k]:
            e.attrib[k] = e.attrib[k].replace("${applicationId}", namespace)
tree.write(out, encoding="utf-8", xml_declaration=True)
print("android-aapt: skipped (newer than API 29): " + ", ".join(sorted(skipped)), file=sys.stderr)
PY
}

run_aapt() { # MANIFEST OUT_DIR
    mkdir -p "$2/gen"
    aapt package -f -M "$1" -S "$MAIN/res" -I "$FRAMEWORK" -F "$2/app.ap_" -J "$2/gen" \
        --min-sdk-version 26 --target-sdk-version 29 --auto-add-overlay 2>&1
}

# The broken input: the manifest's label names a string that does not exist.
mkdir -p "$OUT/broken" "$OUT/app"
prepare "$MAIN/AndroidManifest.xml" "$OUT/broken/AndroidManifest.xml" 2>/dev/null
sed -i 's/@string\/app_name/@string\/no_such_string/' "$OUT/broken/AndroidManifest.xml"
if run_aapt "$OUT/broken/AndroidManifest.xml" "$OUT/broken" >"$OUT/broken.log"; then
    echo "android-aapt: the broken manifest passed: aapt would not see errors" >&2; exit 1
fi
grep -q "no_such_string" "$OUT/broken.log" || { cat "$OUT/broken.log" >&2; echo "android-aapt: the broken input failed for another reason" >&2; exit 1; }

prepare "$MAIN/AndroidManifest.xml" "$OUT/app/AndroidManifest.xml"
if ! run_aapt "$OUT/app/AndroidManifest.xml" "$OUT/app" >"$OUT/app.log"; then
    cat "$OUT/app.log"; echo "android-aapt: aapt failed on the app's manifest or resources" >&2; exit 1
fi
grep -v "^\s*$" "$OUT/app.log" || true
echo "android-aapt: manifest and resources compile and link against the API 29 framework ($(cat $(find "$OUT/app/gen" -name R.java) | grep -c "public static final int") resource ids)"
