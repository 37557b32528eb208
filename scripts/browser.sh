#!/usr/bin/env bash
# Ferry's browser tests: a real headless Chromium (Debian's `chromium`) driven by Playwright
# (`playwright-core` from npm; it never downloads a browser of its own) against `ferry share` and
# `ferry receive --web` on loopback.
#
#   scripts/browser.sh install   install what is missing, once: `apt-get install chromium` and
#                                `npm install playwright-core` into <repo>/.tools/web/
#   scripts/browser.sh [test]    install (if needed), build the ferry binary and run tests/web/*.mjs
#
# Screenshots of both pages land in target/screenshots/ (FERRY_SCREENSHOTS=docs/screenshots to
# refresh the committed ones). Set VERBOSE=1 for the installers' output.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools/web"
PLAYWRIGHT_VERSION="${PLAYWRIGHT_VERSION:-1.65.1}"

log() { echo "browser.sh: $*" >&2; }
run_quiet() {
    if [ "${VERBOSE:-0}" = 1 ]; then "$@"; else
        local out; out="$(mktemp)"
        if ! "$@" >"$out" 2>&1; then cat "$out" >&2; rm -f "$out"; return 1; fi
        rm -f "$out"
    fi
}

install() {
    local need_apt=()
    [ -x /usr/bin/chromium ] || need_apt+=(chromium)
    command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
    command -v npm >/dev/null 2>&1 || need_apt+=(npm)
    if [ "${#need_apt[@]}" -gt 0 ]; then
        log "first run: apt-get install ${need_apt[*]} (Debian's Chromium for the browser tests)"
        SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        run_quiet $SUDO apt-get update -qq
        run_quiet env DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
    fi
    local major
    major="$(node -p 'process.versions.node.split(".")[0]')"
    if [ "$major" -lt 20 ]; then
        log "playwright-core $PLAYWRIGHT_VERSION needs Node.js 20 or newer; this machine has $(node --version)"
        exit 1
    fi
    local have
    have="$(node -e 'try{console.log(require(process.argv[1]).version)}catch(e){}' \
        "$TOOLS/node_modules/playwright-core/package.json" 2>/dev/null || true)"
    if [ "$have" != "$PLAYWRIGHT_VERSION" ]; then
        log "first run: npm install playwright-core@$PLAYWRIGHT_VERSION into .tools/web (no browser download)"
        mkdir -p "$TOOLS"
        run_quiet env PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error \
            "playwright-core@$PLAYWRIGHT_VERSION"
    fi
}

case "${1:-test}" in
    install) install ;;
    test)
        install
        cargo build -q --locked -p ferry-cli
        BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/ferry"
        export FERRY_BIN="$BIN" NODE_PATH="$TOOLS/node_modules" CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
        fail=0 passed=0 failed=0
        for t in "$ROOT"/tests/web/*.test.mjs; do
            log "running $(basename "$t")"
            out="$(mktemp)"
            timeout 600 node "$t" | tee "$out" || fail=1
            if line="$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -1)"; then
                passed=$((passed + ${line%% passed*}))
                f="${line#*passed, }"; failed=$((failed + ${f%% failed}))
            else
                failed=$((failed + 1))
            fi
            rm -f "$out"
        done
        echo "web: $passed passed, $failed failed"
        [ "$fail" = 0 ] && [ "$failed" = 0 ]
        ;;
    *) echo "usage: scripts/browser.sh [install|test]" >&2; exit 2 ;;
esac
