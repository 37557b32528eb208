#!/usr/bin/env bash
# Discovery latency between two private network namespaces (root): a receiver on host 1, then
# `ferry devices --until Desk` on host 2, RUNS times. Figures (medians, milliseconds):
#   discovery_multicast_ms        discovery start -> receiver listed (multicast announce + answer)
#   discovery_multicast_wall_ms   process start -> process exit with the receiver listed
#   discovery_scan_ms             the same with multicast dropped (the subnet scan finds it)
# Prints one JSON object on stdout; progress on stderr.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FERRY="${FERRY_BIN:-$ROOT/target/release/ferry}"
RUNS="${RUNS:-5}"
[ "$(id -u)" -eq 0 ] || { echo "bench-discovery: needs root" >&2; exit 2; }
command -v iptables-legacy >/dev/null || { echo "bench-discovery: iptables-legacy missing (make setup)" >&2; exit 2; }
# shellcheck source=../tests/harness.sh
source "$ROOT/tests/harness.sh"
harness_init ferry-bench-disc 2 >/dev/null
# The lister's identity exists before timing starts.
"$FERRY" --config-dir "$W/lister" identity >/dev/null

# one MODE   -> "found_ms wall_ms"
one() {
    local mode="$1" rx t0 t1 found
    netns_bg 1 /dev/null "$FERRY" --config-dir "$W/desk" receive --alias Desk --yes --no-scan --dir "$W/in"
    rx=$NETNS_LAST_PID
    netns_wait_tcp 2 "$(netns_ip 1)" 53317 15 >/dev/null || return 1
    sleep 2.5   # past the receiver's own announcement burst
    t0=$(date +%s%N)
    netns_exec 2 timeout 20 "$FERRY" --json --config-dir "$W/lister" devices --until Desk --timeout 10 >"$W/d.log" 2>/dev/null || return 1
    t1=$(date +%s%N)
    netns_kill "$rx" 3
    found=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    e=json.loads(l)
    if e.get("event")=="deviceFound" and e["device"]["alias"]=="Desk": print(e["elapsedMs"]); break' "$W/d.log")
    [ -n "$found" ] || return 1
    echo "$found $(( (t1 - t0) / 1000000 ))"
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

m=(); mw=(); s=()
for _ in $(seq "$RUNS"); do
    r=$(one multicast) || { echo "bench-discovery: multicast run failed" >&2; exit 1; }
    m+=("${r% *}"); mw+=("${r#* }")
done
netns_block_mcast v4 1 2
netns_block_mcast v6 1 2
for _ in $(seq "$RUNS"); do
    r=$(one scan) || { echo "bench-discovery: scan run failed" >&2; exit 1; }
    s+=("${r% *}")
done
echo "discovery multicast runs: ${m[*]} ms (wall ${mw[*]} ms); scan runs: ${s[*]} ms" >&2
echo "{\"discovery_multicast_ms\": $(median "${m[@]}"), \"discovery_multicast_wall_ms\": $(median "${mw[@]}"), \"discovery_scan_ms\": $(median "${s[@]}")}"
