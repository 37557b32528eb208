#!/usr/bin/env bash
# Smoke test of the third-party peers inside private network namespaces (root only):
# localsendd (PyPI) <-> localsend (npm) in both directions, HTTPS and HTTP.
# Proves the recipes in tests/interop/PEERS.md. Needs scripts/install-peers.sh first.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LSD="$ROOT/.tools/venv/bin/localsendd"
LSCTL="$ROOT/.tools/venv/bin/localsendctl"
VPY="$ROOT/.tools/venv/bin/python"
NPMLS="$ROOT/.tools/npm/node_modules/.bin/localsend"
for b in "$LSD" "$LSCTL" "$NPMLS"; do
    [ -x "$b" ] || { echo "missing $b: run scripts/install-peers.sh" >&2; exit 2; }
done

# shellcheck source=../netns.sh
source "$ROOT/tests/netns.sh"
netns_create 2 || exit 2
W="$(mktemp -d /tmp/ferry-peers.XXXXXX)"
trap 'netns_cleanup; rm -rf "$W"' EXIT
IP1="$(netns_ip 1)"; IP2="$(netns_ip 2)"
mkdir -p "$W"/lsd/{state,config,run,dl} "$W/npm/dl" "$W/src"

LSD_ENV=(env HOME="$W/lsd" XDG_STATE_HOME="$W/lsd/state" XDG_CONFIG_HOME="$W/lsd/config"
         XDG_RUNTIME_DIR="$W/lsd/run")
SOCK="$W/lsd/run/ctl.sock"

pass=0; fail=0
check() { # name cmd...
    local name="$1"; shift
    if "$@"; then pass=$((pass + 1)); echo "ok   $name"; else fail=$((fail + 1)); echo "FAIL $name"; fi
}
same() { [ -f "$2" ] && cmp -s "$1" "$2"; }

# host 1: localsendd, HTTPS, auto-accept (no control client attached)
netns_bg 1 "$W/lsd.log" "${LSD_ENV[@]}" "$LSD" --alias lsd1 --port 53317 \
    --download-dir "$W/lsd/dl" --encryption --unattended --socket "$SOCK" --no-log-time
# host 2: npm localsend receiver, HTTP only, auto-accept
netns_bg 2 "$W/npm.log" "$NPMLS" receive --alias npm2 --port 53317 --saveDir "$W/npm/dl" --autoAccept
netns_wait_tcp 2 "$IP1" 53317 20 || { cat "$W/lsd.log"; exit 1; }
netns_wait_tcp 1 "$IP2" 53317 20 || { cat "$W/npm.log"; exit 1; }

head -c 200000 /dev/urandom >"$W/src/a.bin"
head -c 70000 /dev/urandom >"$W/src/b.bin"
echo "hello from ferry interop" >"$W/src/c.txt"

# npm -> localsendd over HTTPS (npm presents no client certificate)
(cd "$W" && netns_exec 2 timeout 60 "$NPMLS" send --protocol https "$IP1" "$W/src/a.bin") \
    >"$W/send1.log" 2>&1
check "npm send https exit 0" grep -q "File uploaded successfully" "$W/send1.log"
check "npm -> localsendd bytes" same "$W/src/a.bin" "$W/lsd/dl/a.bin"

# localsendd -> npm over HTTP, explicit port/protocol through the control API
netns_exec 1 timeout 60 "$VPY" "$ROOT/tests/interop/lsd_send.py" --socket "$SOCK" \
    --to "$IP2" --port 53317 --protocol http "$W/src/b.bin" >"$W/send2.log" 2>&1
check "lsd_send.py exit 0" grep -q '"kind": "sent"' "$W/send2.log"
check "localsendd -> npm bytes" same "$W/src/b.bin" "$W/npm/dl/b.bin"

# localsendd -> npm with plain localsendctl (tries https first, falls back to http)
netns_exec 1 "${LSD_ENV[@]}" timeout 60 "$LSCTL" --socket "$SOCK" send "$W/src/c.txt" \
    --to "$IP2" --wait --quiet >"$W/send3.log" 2>&1
check "localsendctl send --wait exit 0" grep -q "Last result: sent" "$W/send3.log"
check "localsendctl -> npm bytes" same "$W/src/c.txt" "$W/npm/dl/c.txt"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
