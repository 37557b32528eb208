#!/usr/bin/env bash
# Android API levels of the app's Kotlin (android/app and android/logic) against the real Android
# API: scripts/android-api-check.py with the declarations of @nativescript/types-android (android.jar
# of API 21 to 37 as TypeScript, each newer class and member marked with the level it appeared in),
# installed from npm into .tools/android-api on the first run. It first proves it catches what it
# should (android/tools/api-check/fixtures: each `expect-api: N` line flagged, no other), then checks
# the app at the minSdk of android/app/build.gradle.kts.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TYPES_VERSION=9.1.1
DIR="$ROOT/.tools/android-api"
PKG="$DIR/node_modules/@nativescript/types-android"
DECLS="$PKG/lib/android/android-platform-21-37-merged.d.ts"
have="$(node -e 'try{console.log(require(process.argv[1]).version)}catch(e){}' "$PKG/package.json" 2>/dev/null || true)"
if [ "$have" != "$TYPES_VERSION" ] || [ ! -f "$DECLS" ]; then
    command -v npm >/dev/null 2>&1 || { echo "android-api-check: npm is missing (apt-get install npm)" >&2; exit 1; }
    echo "android-api-check: first run: npm install @nativescript/types-android@$TYPES_VERSION into .tools/android-api (about 50 MB)" >&2
    mkdir -p "$DIR"
    npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error "@nativescript/types-android@$TYPES_VERSION" >/dev/null
    [ -f "$DECLS" ] || { echo "android-api-check: $DECLS missing after install" >&2; exit 1; }
fi
MIN_SDK="$(sed -n 's/^\s*minSdk\s*=\s*\([0-9]*\).*/\1/p' "$ROOT/android/app/build.gradle.kts" | head -1)"
[ -n "$MIN_SDK" ] || { echo "android-api-check: no minSdk in android/app/build.gradle.kts" >&2; exit 1; }
cd "$ROOT"
python3 scripts/android-api-check.py --decls "$DECLS" --min-sdk "$MIN_SDK" --self-test android/tools/api-check/fixtures >/dev/null || {
    python3 scripts/android-api-check.py --decls "$DECLS" --min-sdk "$MIN_SDK" --self-test android/tools/api-check/fixtures; exit 1; }
python3 scripts/android-api-check.py --decls "$DECLS" --min-sdk "$MIN_SDK" android/app/src/main/java android/logic/src/main/kotlin
