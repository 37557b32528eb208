#!/usr/bin/env bash
# Install third-party LocalSend peers used by Ferry's interop tests into <repo>/.tools/:
#   .tools/venv/bin/localsendd, .tools/venv/bin/localsendctl   (PyPI: localsendd)
#   .tools/npm/node_modules/.bin/localsend                     (npm:  localsend)
# plus the Debian tools the netns harness needs (iproute2, openssl, procps), only if missing.
# Idempotent: one line when everything is already installed, else one line per thing it
# installs (with a rough duration) and how long it took. VERBOSE=1 also shows the tools' output.
#
# Versions can be pinned with LOCALSENDD_VERSION / LOCALSEND_NPM_VERSION.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
LOCALSENDD_VERSION="${LOCALSENDD_VERSION:-0.1.1}"
LOCALSEND_NPM_VERSION="${LOCALSEND_NPM_VERSION:-0.1.2}"

log() { [ "${VERBOSE:-0}" = 1 ] && echo "install-peers: $*" >&2 || true; }
# say WHAT: one line a person reads, always; done: how long the step took.
say() { STEP_START=$SECONDS; echo "setup: $* ..." >&2; }
done_step() { echo "setup:   done in $((SECONDS - STEP_START)) s" >&2; }
INSTALLED=0
run_quiet() {
    local out
    if ! out="$("$@" 2>&1)"; then
        echo "install-peers: command failed: $*" >&2
        echo "$out" >&2
        return 1
    fi
    [ "${VERBOSE:-0}" = 1 ] && [ -n "$out" ] && echo "$out" >&2
    return 0
}

mkdir -p "$TOOLS"

# --- Debian packages (only when a needed command is missing) -------------------------
need_apt=()
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v pkill >/dev/null 2>&1 || need_apt+=(procps)
command -v iptables-legacy >/dev/null 2>&1 || need_apt+=(iptables)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
command -v npm >/dev/null 2>&1 || need_apt+=(nodejs npm)
if [ "${#need_apt[@]}" -gt 0 ]; then
    say "Installing Debian packages: ${need_apt[*]} (first run only, ~1 min)"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    run_quiet $SUDO apt-get update -qq
    run_quiet env DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
    done_step; INSTALLED=1
fi

# --- PyPI: localsendd in a venv --------------------------------------------------------
VENV="$TOOLS/venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    say "Making a Python venv in .tools/venv (first run only, ~10 s)"
    rm -rf "$VENV"
    run_quiet python3 -m venv "$VENV"
    done_step; INSTALLED=1
fi
have_ver="$("$VENV/bin/python" -m pip show localsendd 2>/dev/null | sed -n 's/^Version: //p' || true)"
if [ "$have_ver" != "$LOCALSENDD_VERSION" ] || [ ! -x "$VENV/bin/localsendd" ] || [ ! -x "$VENV/bin/localsendctl" ]; then
    say "Installing the LocalSend peer localsendd $LOCALSENDD_VERSION from PyPI into .tools/venv (first run only, ~20 s)"
    run_quiet "$VENV/bin/python" -m pip install -q --disable-pip-version-check "localsendd==$LOCALSENDD_VERSION"
    done_step; INSTALLED=1
fi

# --- npm: localsend (CrossCopy/localsend-ts) -------------------------------------------
NPMDIR="$TOOLS/npm"
have_npm="$(node -e 'try{console.log(require(process.argv[1]).version)}catch(e){}' \
    "$NPMDIR/node_modules/localsend/package.json" 2>/dev/null || true)"
if [ "$have_npm" != "$LOCALSEND_NPM_VERSION" ] || [ ! -e "$NPMDIR/node_modules/.bin/localsend" ]; then
    say "Installing the LocalSend peer localsend $LOCALSEND_NPM_VERSION from npm into .tools/npm (first run only, ~30 s)"
    mkdir -p "$NPMDIR"
    run_quiet npm install --prefix "$NPMDIR" --no-audit --no-fund --loglevel=error \
        "localsend@$LOCALSEND_NPM_VERSION"
    done_step; INSTALLED=1
fi

[ "$INSTALLED" = 1 ] || echo "setup: test tools present (Debian packages, LocalSend peers in .tools/)" >&2
log "ok: $VENV/bin/localsendd $NPMDIR/node_modules/.bin/localsend"
