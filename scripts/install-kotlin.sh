#!/usr/bin/env bash
# Installs what the Kotlin tests of the bindings need, where it is missing (idempotent, quiet):
#   the Kotlin compiler from npm (kotlin-compiler, which also carries kotlin-test and
#   kotlinx-coroutines) into .tools/kotlin, JNA and JUnit 4 from Debian (libjna-java, junit4), a JDK.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KOTLIN_VERSION=2.4.20
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
need_apt=()
[ -f /usr/share/java/jna.jar ] || need_apt+=(libjna-java)
[ -f /usr/share/java/junit4.jar ] || need_apt+=(junit4)
command -v javac >/dev/null 2>&1 || need_apt+=(default-jdk-headless)
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ "${#need_apt[@]}" -gt 0 ]; then
    echo "setup: Installing Debian packages: ${need_apt[*]} (first run only, ~1-2 min) ..." >&2
    start=$SECONDS
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    echo "setup:   done in $((SECONDS - start)) s" >&2
fi
KC="$ROOT/.tools/kotlin/node_modules/kotlin-compiler"
if [ "$(cat "$KC/build.txt" 2>/dev/null)" != "$KOTLIN_VERSION" ]; then
    echo "setup: Installing the Kotlin compiler $KOTLIN_VERSION from npm into .tools/kotlin (first run only, ~1 min) ..." >&2
    start=$SECONDS
    npm_log="$(mktemp)"
    mkdir -p "$ROOT/.tools/kotlin"
    npm install --silent --no-audit --no-fund --prefix "$ROOT/.tools/kotlin" "kotlin-compiler@$KOTLIN_VERSION" >"$npm_log" 2>&1 \
        || { echo "install-kotlin: npm install failed:" >&2; cat "$npm_log" >&2; rm -f "$npm_log"; exit 1; }
    rm -f "$npm_log"
    echo "setup:   done in $((SECONDS - start)) s" >&2
fi
[ -x "$KC/bin/kotlinc" ] || { echo "install-kotlin: kotlinc missing after install" >&2; exit 1; }
