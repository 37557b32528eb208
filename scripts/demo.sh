#!/usr/bin/env bash
# A demo of discovery and sending on this machine, without touching its real network: two
# private network namespaces on one virtual switch (tests/netns.sh). Host 1 runs a receiver,
# host 2 lists the devices it finds and sends a file to the receiver by its name. Needs root.
#
#   make demo            (or: FERRY_BIN=target/release/ferry bash scripts/demo.sh)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FERRY="${FERRY_BIN:-$ROOT/target/release/ferry}"
[ "$(id -u)" -eq 0 ] || { echo "demo: needs root (network namespaces)" >&2; exit 2; }
[ -x "$FERRY" ] || { echo "demo: build Ferry first (make release)" >&2; exit 2; }
# shellcheck source=../tests/harness.sh
source "$ROOT/tests/harness.sh"
harness_init ferry-demo 2
echo "== host 1 ($(netns_ip 1)): ferry receive --alias Desk --yes"
netns_bg 1 "$W/rx.log" "$FERRY" --config-dir "$W/desk" receive --alias Desk --yes --dir "$W/inbox"
netns_wait_tcp 2 "$(netns_ip 1)" 53317 15 || exit 1
sed 's/^/   | /' "$W/rx.log"
echo "== host 2 ($(netns_ip 2)): ferry devices"
netns_exec 2 "$FERRY" --config-dir "$W/laptop" devices --timeout 2
echo "== host 2: ferry send README.md --to Desk"
netns_exec 2 "$FERRY" --config-dir "$W/laptop" send "$ROOT/README.md" --to Desk || exit 1
sleep 0.3
echo "== host 1 received:"
ls -l "$W/inbox"
