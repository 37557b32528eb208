#!/usr/bin/env bash
# Resume in network namespaces: two hosts (sender, receiver) on a veth bridge, real `ferry`
# processes, real faults. Run as root:  FERRY_BIN=target/debug/ferry bash tests/resume/resume-netns.sh
#
#   1. unbroken transfer (the yardstick for bytes on the wire)
#   2. every TCP segment to the receiver's port answered with a reset for 3 s, mid-file: the
#      send heals by itself; bytes the sender's interface sent <= 1.10x the unbroken transfer
#   3. sender SIGKILLed at ~50 %: the same send again sends <= 55 % of the file
#   4. receiver SIGKILLed at ~50 % and started again: the same send again sends <= 55 %
#   5. the file changed between the runs: sent from the start
#   6. disk full in the middle (small tmpfs): both sides say so; after space is freed the same
#      send resumes
#   7. npm localsend sends 200 MiB in 10 MiB X-Content-Range pieces (when installed)
#   8. localsendd sends 100 files twice to `ferry receive --skip-existing` (when installed)
#
# The file is RESUME_SIZE_MB (default 300 MiB rather than 2 GiB, so that the run stays around a
# minute on a small, loaded machine). Measured numbers are printed as "measure: ...".
set -u
cd "$(dirname "$0")/../.."
FERRY="$(realpath "${FERRY_BIN:-target/debug/ferry}")"
SIZE_MB="${RESUME_SIZE_MB:-300}"
NETNS_PREFIX="${NETNS_PREFIX:-ferryresume$$-}"
export NETNS_MCAST_ROUTE=0
# shellcheck source=../netns.sh
source tests/netns.sh

W="$(mktemp -d "${TMPDIR:-/tmp}/ferry-resume.XXXXXX")"
FULL="$W/full"
failures=0
cleanup_all() {
    netns_cleanup
    mountpoint -q "$FULL" 2>/dev/null && umount "$FULL"
    rm -rf "$W"
}
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

[ -x "$FERRY" ] || { echo "ferry binary missing: $FERRY" >&2; exit 1; }
netns_create 2 || exit 1
trap 'cleanup_all' EXIT
PORT=53317
RIP="$(netns_ip 1)"
SIZE=$((SIZE_MB * 1024 * 1024))
mkdir -p "$W/src" "$W/in" "$W/r" "$W/s" "$FULL"
head -c "$SIZE" /dev/urandom >"$W/src/big.bin"
WANT="$(sha256sum <"$W/src/big.bin" | cut -d' ' -f1)"

tx() { netns_exec 2 cat /sys/class/net/eth0/statistics/tx_bytes; }
# Largest partial file below DIR (0 when none).
partial() { find "$1" -name '.ferry-*.partial' -printf '%s\n' 2>/dev/null | sort -n | tail -1 | grep . || echo 0; }
# wait_partial DIR BYTES TIMEOUT
wait_partial() {
    local t
    for ((t = 0; t < $3 * 20; t++)); do
        [ "$(partial "$1")" -ge "$2" ] && return 0
        sleep 0.05
    done
    return 1
}
RX_PID=
start_receiver() { # DIR
    netns_bg 1 "$W/receiver.log" "$FERRY" --config-dir "$W/r" receive --yes --dir "$1" --port "$PORT" --no-discovery
    RX_PID="$NETNS_LAST_PID"
    netns_wait_tcp 2 "$RIP" "$PORT" 20 || fail "receiver did not start"
}
send_fg() { # LOG
    netns_exec 2 timeout 150 "$FERRY" --config-dir "$W/s" --json send --to "$RIP:$PORT" --no-discovery "$W/src/big.bin" >"$1" 2>&1
}
SEND_PID=
send_bg() { # LOG
    netns_bg 2 "$1" timeout 150 "$FERRY" --config-dir "$W/s" --json send --to "$RIP:$PORT" --no-discovery "$W/src/big.bin"
    SEND_PID="$NETNS_LAST_PID"
}
# The sender's process itself (netns_bg runs `timeout`, whose child is ferry).
sender_ferry_pid() { pgrep -P "$SEND_PID" -x ferry || echo "$SEND_PID"; }
check_file() { # DIR WHAT
    local got
    got="$(sha256sum <"$1/big.bin" 2>/dev/null | cut -d' ' -f1)"
    [ "$got" = "$WANT" ] && pass "$2: byte-identical" || fail "$2: received file differs or is missing"
    rm -f "$1/big.bin"
}
pct() { echo $(($1 * 100 / $2)); }

start_receiver "$W/in"

# 1. Unbroken.
t0="$(tx)"
send_fg "$W/send1.log" || fail "unbroken send: $(tail -2 "$W/send1.log")"
base=$(($(tx) - t0))
check_file "$W/in" "unbroken"
echo "measure: unbroken transfer of $SIZE_MB MiB: sender transmitted $base bytes"

# 2. Resets for 3 s in the middle.
t0="$(tx)"
send_bg "$W/send2.log"
wait_partial "$W/in" $((SIZE * 2 / 5)) 60 || fail "resets: the transfer did not get to 40 %"
netns_exec 1 iptables -I INPUT -p tcp --dport "$PORT" -j REJECT --reject-with tcp-reset
sleep 3
netns_exec 1 iptables -D INPUT -p tcp --dport "$PORT" -j REJECT --reject-with tcp-reset
wait "$SEND_PID"
rc=$?
broken=$(($(tx) - t0))
[ "$rc" = 0 ] && pass "resets: the send healed by itself" || fail "resets: send exited $rc: $(tail -3 "$W/send2.log")"
check_file "$W/in" "resets"
grep -q '"fileResumed"' "$W/send2.log" && pass "resets: resumed" || fail "resets: no fileResumed event"
echo "measure: 3 s of resets: sender transmitted $broken bytes, $(pct "$broken" "$base") % of the unbroken transfer"
[ $((broken * 100)) -le $((base * 110)) ] && pass "resets: <= 1.10x" || fail "resets: $broken > 1.10 x $base"

# 3. Sender killed at ~50 %.
send_bg "$W/send3.log"
wait_partial "$W/in" $((SIZE / 2)) 60 || fail "sender kill: the transfer did not get to 50 %"
kill -KILL "$(sender_ferry_pid)"
wait "$SEND_PID" 2>/dev/null
sleep 0.5
t0="$(tx)"
send_fg "$W/send3b.log" || fail "sender kill: the second send failed: $(tail -2 "$W/send3b.log")"
again=$(($(tx) - t0))
check_file "$W/in" "sender killed"
echo "measure: sender SIGKILLed at ~50 %: the second send transmitted $again bytes, $(pct "$again" "$SIZE") % of the file"
[ $((again * 100)) -le $((SIZE * 55)) ] && pass "sender killed: <= 55 %" || fail "sender killed: $again > 55 % of $SIZE"

# 4. Receiver killed at ~50 % and started again.
send_bg "$W/send4.log"
wait_partial "$W/in" $((SIZE / 2)) 60 || fail "receiver kill: the transfer did not get to 50 %"
kill -KILL "$RX_PID"
wait "$RX_PID" 2>/dev/null
start_receiver "$W/in"
wait "$SEND_PID" 2>/dev/null
t0="$(tx)"
send_fg "$W/send4b.log" || fail "receiver kill: the second send failed: $(tail -2 "$W/send4b.log")"
again=$(($(tx) - t0))
check_file "$W/in" "receiver killed"
echo "measure: receiver SIGKILLed at ~50 % and restarted: the second send transmitted $again bytes, $(pct "$again" "$SIZE") % of the file"
[ $((again * 100)) -le $((SIZE * 55)) ] && pass "receiver killed: <= 55 %" || fail "receiver killed: $again > 55 % of $SIZE"

# 5. The file changes between the runs.
send_bg "$W/send5.log"
wait_partial "$W/in" $((SIZE / 2)) 60 || fail "changed: the transfer did not get to 50 %"
kill -KILL "$(sender_ferry_pid)"
wait "$SEND_PID" 2>/dev/null
head -c 1048576 /dev/urandom | dd of="$W/src/big.bin" conv=notrunc status=none
WANT="$(sha256sum <"$W/src/big.bin" | cut -d' ' -f1)"
t0="$(tx)"
send_fg "$W/send5b.log" || fail "changed: the second send failed: $(tail -2 "$W/send5b.log")"
again=$(($(tx) - t0))
check_file "$W/in" "changed file"
grep -q '"fileResumed"' "$W/send5b.log" && fail "changed: a changed file resumed" || pass "changed: sent from the start"
echo "measure: changed file: the second send transmitted $again bytes, $(pct "$again" "$SIZE") % of the file"
[ "$again" -ge "$SIZE" ] || fail "changed: only $again bytes sent of $SIZE"

# 6. Disk full in the middle.
kill -TERM "$RX_PID"
wait "$RX_PID" 2>/dev/null
mount -t tmpfs -o size=$((SIZE_MB * 6 / 10))M tmpfs "$FULL"
start_receiver "$FULL"
send_fg "$W/send6.log" && fail "disk full: the send did not fail"
grep -qiE 'space|full' "$W/send6.log" && pass "disk full: the sender says so" || fail "disk full: sender message: $(tail -2 "$W/send6.log")"
grep -qiE 'space|full' "$W/receiver.log" && pass "disk full: the receiver says so" || fail "disk full: receiver log: $(tail -3 "$W/receiver.log")"
held="$(partial "$FULL")"
mount -o remount,size=$((SIZE_MB * 2))M "$FULL"
t0="$(tx)"
send_fg "$W/send6b.log" || fail "disk full: the send after freeing space failed: $(tail -2 "$W/send6b.log")"
again=$(($(tx) - t0))
check_file "$FULL" "disk full"
grep -q '"fileResumed"' "$W/send6b.log" && pass "disk full: resumed" || fail "disk full: not resumed"
echo "measure: disk full at $held bytes: the send after freeing space transmitted $again bytes, $(pct "$again" "$SIZE") % of the file"

# 7. npm localsend sends a 200 MiB file in 10 MiB pieces (X-Content-Range) to a Ferry receiver.
NPM="${NPM_LOCALSEND:-.tools/npm/node_modules/.bin/localsend}"
if [ -x "$NPM" ] && command -v node >/dev/null; then
    NPM="$(realpath "$NPM")"
    mkdir -p "$W/npm-in"
    netns_bg 1 "$W/receiver-http.log" "$FERRY" --config-dir "$W/r" receive --yes --http --dir "$W/npm-in" --port 53318 --no-discovery
    netns_wait_tcp 2 "$RIP" 53318 20 || fail "npm: HTTP receiver did not start"
    head -c $((200 * 1024 * 1024)) /dev/urandom >"$W/npm.bin"
    # Its chunked path formats a speed of 0 bytes / 0 ms (NaN) and throws when its first progress
    # report comes within the millisecond it started: a clock that always moves keeps it going.
    echo 'const n = Date.now; let last = 0; Date.now = () => { const t = n(); last = t > last ? t : last + 1; return last; };' >"$W/clock.js"
    (cd "$W" && netns_exec 2 env NODE_OPTIONS="--require $W/clock.js" timeout 120 "$NPM" send --protocol http --port 53318 "$RIP" "$W/npm.bin" >"$W/npm-send.log" 2>&1)
    rc=$?
    grep -q "uploading in chunks" "$W/npm-send.log" && pass "npm: sent in pieces" || fail "npm: not sent in pieces"
    [ "$rc" = 0 ] && pass "npm: the sender succeeded" || fail "npm: sender exited $rc: $(grep -v '^ ' "$W/npm-send.log" | tail -3)"
    if cmp -s "$W/npm.bin" "$W/npm-in/npm.bin"; then pass "npm: 200 MiB in pieces, byte-identical"; else fail "npm: received file differs or is missing"; fi
    rm -f "$W/npm.bin" "$W/npm-in/npm.bin"
else
    echo "skip: npm localsend not installed ($NPM; make setup installs it)"
fi

# 8. localsendd (PyPI) sends a folder's files twice to `ferry receive --skip-existing`, 3 changed
#    in between: the second time only those 3 move; localsendd reports success, not a failure.
TOOLS="${PEERS_TOOLS:-.tools}"
if [ -x "$TOOLS/venv/bin/localsendd" ]; then
    LSD="$(cd "$TOOLS/venv/bin" && pwd)/localsendd"
    VPY="$(cd "$TOOLS/venv/bin" && pwd)/python"
    d="$W/lsd"
    mkdir -p "$d"/{state,config,run} "$W/many" "$W/skip-in"
    netns_bg 2 "$W/lsd.log" env HOME="$d" XDG_STATE_HOME="$d/state" XDG_CONFIG_HOME="$d/config" XDG_RUNTIME_DIR="$d/run" \
        "$LSD" --socket "$d/run/ctl.sock" --no-log-time --alias lsd --port 53400 --download-dir "$d/dl" --encryption --unattended
    netns_wait_tcp 1 "$(netns_ip 2)" 53400 20 || fail "skip: localsendd did not start"
    netns_wait_file "$d/run/ctl.sock" 5 || true
    netns_bg 1 "$W/receiver-skip.log" "$FERRY" --config-dir "$W/r" --json receive --yes --skip-existing --dir "$W/skip-in" \
        --port 53319 --no-discovery
    netns_wait_tcp 2 "$RIP" 53319 20 || fail "skip: receiver did not start"
    for i in $(seq 1 100); do echo "file $i" >"$W/many/f$i.txt"; done
    lsd_send() {
        netns_exec 2 timeout 120 "$VPY" tests/interop/lsd_send.py --socket "$d/run/ctl.sock" --to "$RIP" --port 53319 \
            --protocol https --timeout 100 "$W"/many/* >"$1" 2>&1
    }
    lsd_send "$W/lsd-send1.log" && pass "skip: localsendd sent 100 files" || fail "skip: first send: $(tail -2 "$W/lsd-send1.log")"
    for i in 7 50 93; do echo "changed $i" >"$W/many/f$i.txt"; done
    lsd_send "$W/lsd-send2.log" && pass "skip: localsendd's second send succeeded" || fail "skip: second send: $(tail -2 "$W/lsd-send2.log")"
    skipped="$(python3 -c 'import json,sys; print(sum(len(e.get("fileIds",[])) for e in map(json.loads, filter(str.strip, open(sys.argv[1]))) if e.get("event")=="filesSkipped"))' "$W/receiver-skip.log" 2>/dev/null)"
    [ "$skipped" = 97 ] && pass "skip: 97 files skipped" || fail "skip: $skipped files skipped (want 97)"
    n="$(find "$W/skip-in" -type f | wc -l)"
    [ "$n" = 103 ] && pass "skip: only the 3 changed files moved again" || fail "skip: $n files received (want 103)"
    [ "$(cat "$W/skip-in/f50 (2).txt" 2>/dev/null)" = "changed 50" ] && pass "skip: a changed file arrives next to the old one" \
        || fail "skip: f50 (2).txt missing or wrong"
else
    echo "skip: localsendd not installed ($TOOLS; make setup installs it)"
fi

if [ "$failures" -gt 0 ]; then
    echo "resume: $failures failure(s)"
    exit 1
fi
echo "resume: all cases passed"
