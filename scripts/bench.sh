#!/usr/bin/env bash
# Throughput of Ferry -> Ferry on loopback: a 1 GiB file over HTTPS and over plain HTTP, each
# run RUNS times; discovery latency in a namespace pair (scripts/bench-discovery.sh, root only).
# Prints a table with medians and writes target/bench/results.json.
# Release binaries (make bench builds them). Only loopback and namespace traffic.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FERRY="${FERRY_BIN:-$ROOT/target/release/ferry}"
RUNS="${RUNS:-3}"
SIZE_MIB="${SIZE_MIB:-1024}"
[ -x "$FERRY" ] || { echo "bench: $FERRY missing (make release)" >&2; exit 1; }

# Files live in RAM when /dev/shm is big enough, so the disk does not set the pace.
base=/dev/shm
avail_kib=$(df -Pk "$base" 2>/dev/null | awk 'NR==2{print $4}' || echo 0)
[ "${avail_kib:-0}" -gt $(( SIZE_MIB * 1024 * 3 )) ] || base="${TMPDIR:-/tmp}"
W="$(mktemp -d "$base/ferry-bench.XXXXXX")"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$W"; }
trap cleanup EXIT

head -c $(( SIZE_MIB * 1024 * 1024 )) /dev/urandom > "$W/big.bin"
bytes=$(stat -c %s "$W/big.bin")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# one_run MODE -> prints MB/s
one_run() {
    local mode=$1 port extra=() out="$W/out-$RANDOM"
    port=$(free_port)
    [ "$mode" = http ] && extra=(--http)
    "$FERRY" --config-dir "$W/recv" receive --no-discovery --dir "$out" --yes --once --bind 127.0.0.1 --port "$port" "${extra[@]}" >/dev/null 2>&1 &
    local rpid=$!; pids+=("$rpid")
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.05; done
    local t0 t1
    t0=$(date +%s.%N)
    timeout 600 "$FERRY" --config-dir "$W/send" send "$W/big.bin" --to "127.0.0.1:$port" "${extra[@]}" >/dev/null
    t1=$(date +%s.%N)
    for _ in $(seq 200); do kill -0 "$rpid" 2>/dev/null || break; sleep 0.05; done
    cmp -s "$W/big.bin" "$out/big.bin" || { echo "bench: received file differs" >&2; exit 1; }
    rm -rf "$out"
    python3 -c "print(f'{$bytes / ($t1 - $t0) / 1e6:.1f}')"
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

declare -A results
for mode in https http; do
    vals=()
    for _ in $(seq "$RUNS"); do vals+=("$(one_run "$mode")"); done
    results[$mode]=$(median "${vals[@]}")
    echo "ferry->ferry $mode $SIZE_MIB MiB runs: ${vals[*]} MB/s" >&2
done

# Discovery latency needs a namespace pair (root); elsewhere it is left out.
disc='{}'
if [ "$(id -u)" -eq 0 ]; then
    disc=$(FERRY_BIN="$FERRY" bash "$ROOT/scripts/bench-discovery.sh") || disc='{}'
else
    echo "bench: discovery latency skipped (needs root for network namespaces)" >&2
fi

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//' || echo unknown)
mkdir -p "$ROOT/target/bench"
python3 - "$ROOT/target/bench/results.json" "$disc" <<PY
import json, sys
r = {"machine_cores": $(nproc), "machine_cpu": "$cpu", "file_mib": $SIZE_MIB, "runs": $RUNS,
     "ferry_https_1gib_mb_s": ${results[https]}, "ferry_http_1gib_mb_s": ${results[http]},
     "https_to_http_ratio": round(${results[https]} / ${results[http]}, 3)}
r.update(json.loads(sys.argv[2]))
json.dump(r, open(sys.argv[1], "w"), indent=1)
PY
printf '\n%-32s %12s\n' "figure (median of $RUNS)" "value"
printf '%-32s %9s MB/s\n' "Ferry->Ferry $SIZE_MIB MiB, HTTPS" "${results[https]}"
printf '%-32s %9s MB/s\n' "Ferry->Ferry $SIZE_MIB MiB, HTTP" "${results[http]}"
python3 -c 'import json,sys
d=json.loads(sys.argv[1])
for k,label in [("discovery_multicast_ms","discovery, multicast"),("discovery_multicast_wall_ms","  process start to listed"),("discovery_scan_ms","discovery, scan (no multicast)")]:
    if k in d: print("%-32s %9s ms" % (label, d[k]))' "$disc"
echo "machine: $(nproc) cores, $cpu; files in $base"
echo "written: target/bench/results.json"
