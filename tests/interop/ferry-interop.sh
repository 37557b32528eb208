#!/usr/bin/env bash
# Ferry <-> third-party LocalSend peers, inside private network namespaces (root only).
#
#   FERRY_BIN=target/release/ferry tests/interop/ferry-interop.sh
#
# Peers: localsendd (PyPI) and localsend (npm), installed by scripts/install-peers.sh (called
# here, idempotent). Ferry is NOT built here: build it first
# (cargo build --release -p ferry-cli) or point FERRY_BIN at another binary.
#
# Cases (every received file is compared with cmp against the sent one):
#   a  localsendd -> Ferry, HTTPS (client cert: Ferry must report sender.verified == true)
#   b  localsendd -> Ferry, HTTP
#   c  npm localsend -> Ferry, HTTPS (no client cert: verified == false; pin=123456 ignored)
#      and HTTP
#   d  Ferry -> localsendd, HTTPS (also pinned with --fingerprint) and HTTP
#   e  Ferry -> npm localsend, HTTP
#   f  Ferry -> Ferry, HTTPS with --fingerprint (right one: ok; wrong one: refused, nothing saved)
#
# Output: "ok - NAME" / "not ok - NAME: reason" per case, then "N passed, M failed".
# Exit 0 only if every case passed. Logs of a failing case are printed as "# ..." lines.
# KEEP_WORKDIR=1 keeps the temporary directory for inspection.
#
# Network: everything (peers, Ferry receivers and senders) runs inside namespaces made by
# tests/netns.sh; nothing is started in the root namespace except `ferry identity` (offline).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../harness.sh
source "$ROOT/tests/harness.sh"
harness_require ferry-interop target/release/ferry
LSD_SEND="$ROOT/tests/interop/lsd_send.py"
# host 1: localsendd / second Ferry    host 2: Ferry    host 3: npm localsend
harness_init ferry-interop 3
IP1="$(netns_ip 1)"; IP2="$(netns_ip 2)"; IP3="$(netns_ip 3)"

# --- test data ------------------------------------------------------------------------------
SRC="$W/src"
mkdir -p "$SRC"
head -c $((5 * 1024 * 1024)) /dev/urandom >"$SRC/random 5MB.bin"
printf 'hello from ferry interop\nsecond line\n' >"$SRC/name with spaces.txt"
head -c 70001 /dev/urandom >"$SRC/small.dat"
FILES=("$SRC/random 5MB.bin" "$SRC/name with spaces.txt" "$SRC/small.dat")

# --- helpers --------------------------------------------------------------------------------
# check_files DIR   every file of FILES must exist in DIR by basename and be identical
check_files() {
    local dir="$1" f b
    for f in "${FILES[@]}"; do
        b="$(basename "$f")"
        netns_wait_file "$dir/$b" 15 "$(stat -c %s "$f")" || { fail_with "missing or short: $b"; return 1; }
        cmp -s "$f" "$dir/$b" || { fail_with "content differs: $b"; return 1; }
    done
    return 0
}
# check_no_extra DIR   exactly the expected files in DIR (no duplicates like "x (1).bin")
check_no_extra() {
    local n; n="$(find "$1" -type f 2>/dev/null | wc -l)"
    [ "$n" -eq "${#FILES[@]}" ] || { fail_with "expected ${#FILES[@]} files in ${1#"$W"/}, found $n"; return 1; }
}

# start_ferry_rx HOST PORT LOG OUT [extra args...]   Ferry receiver with --json; waits for the port
start_ferry_rx() {
    local h="$1" port="$2" log="$3" out="$4" from; shift 4
    bg "$h" "$log" "$FERRY" --config-dir "$CW/ferry-rx" receive --dir "$out" --yes --port "$port" \
        --json --alias "ferry-rx" "$@"
    RX_PID="$NETNS_LAST_PID"
    from=1; [ "$h" = 1 ] && from=2
    netns_wait_tcp "$from" "$(netns_ip "$h")" "$port" 15 2>/dev/null \
        || { DUMP+=("$log"); fail_with "Ferry receiver did not open port $port"; return 1; }
}

# start_lsd HOST PORT enc|plain   fresh localsendd (own state dir), unattended; sets LSD_SOCK, LSD_FP
start_lsd() {
    local h="$1" port="$2" mode="$3" d="$CW/lsd" enc=--encryption
    [ "$mode" = plain ] && enc=--no-encryption
    lsd_env "$d"
    LSD_SOCK="$d/run/ctl.sock"; LSD_LOG="$CW/lsd.log"; LSD_DL="$d/dl"
    bg "$h" "$LSD_LOG" "${LSD_RUN[@]}" --alias "lsd-$port" --port "$port" --download-dir "$LSD_DL" $enc --unattended
    local from=2; [ "$h" = 2 ] && from=1
    netns_wait_tcp "$from" "$(netns_ip "$h")" "$port" 20 2>/dev/null \
        || { DUMP+=("$LSD_LOG"); fail_with "localsendd did not open port $port"; return 1; }
    netns_wait_log "$LSD_LOG" 'fingerprint=[0-9A-Za-z]+' 5
    LSD_FP="$(sed -n 's/.*fingerprint=\([0-9A-Za-z]*\).*/\1/p' "$LSD_LOG" | head -n1)"
    [ -S "$LSD_SOCK" ] || netns_wait_file "$LSD_SOCK" 5 || true
}

# ================================ cases ======================================================

# a/b. localsendd -> Ferry. Over HTTPS localsendd presents its client certificate, so Ferry
# must report the sender as verified with localsendd's fingerprint; over HTTP it must not.
lsd_to_ferry() { # https|http PORT
    local proto="$1" port="$2" out="$CW/out" rxlog="$CW/ferry-rx.log" v fp mode=enc rxargs=(--once)
    [ "$proto" = http ] && { mode=plain; rxargs+=(--http); }
    start_lsd 1 $((port + 100)) "$mode" || return 1
    start_ferry_rx 2 "$port" "$rxlog" "$out" "${rxargs[@]}" || return 1
    DUMP+=("$rxlog" "$CW/send.log" "$LSD_LOG")
    netns_exec 1 timeout 60 "$VPY" "$LSD_SEND" --socket "$LSD_SOCK" --to "$IP2" --port "$port" \
        --protocol "$proto" --timeout 50 "${FILES[@]}" >"$CW/send.log" 2>&1 \
        || { fail_with "localsendd send failed: $(tail -n1 "$CW/send.log")"; return 1; }
    wait_exit "$RX_PID" 15 || { fail_with "Ferry receiver (--once) did not exit"; return 1; }
    [ "$EXIT_RC" -eq 0 ] || { fail_with "Ferry receiver exit $EXIT_RC"; return 1; }
    check_files "$out" && check_no_extra "$out" || return 1
    v="$(py_json "$rxlog" 'count("sessionFinished", outcome="finished", failed=0, saved=3)')"
    [ "$v" = 1 ] || { fail_with "no sessionFinished{finished,saved=3,failed=0} event"; return 1; }
    v="$(py_json "$rxlog" 'first("sessionStarted")["sender"]["verified"]')"
    if [ "$proto" = http ]; then
        [ "$v" = false ] || { fail_with "sessionStarted sender.verified = $v over plain HTTP (want false)"; return 1; }
    else
        [ "$v" = true ] || { fail_with "sessionStarted sender.verified = $v (want true: localsendd sent a client cert)"; return 1; }
        fp="$(py_json "$rxlog" 'first("sessionStarted")["sender"]["fingerprint"]')"
        [ "${fp^^}" = "${LSD_FP^^}" ] || { fail_with "sender.fingerprint $fp != localsendd's $LSD_FP"; return 1; }
    fi
}
case_lsd_to_ferry_https() { lsd_to_ferry https 53411; }
case_lsd_to_ferry_http()  { lsd_to_ferry http 53412; }

# c. npm localsend -> Ferry (one file per npm invocation; it always adds ?pin=123456)
npm_to_ferry() { # PROTO PORT FERRY_EXTRA...
    local proto="$1" port="$2" out="$CW/out" rxlog="$CW/ferry-rx.log" v f i=0; shift 2
    start_ferry_rx 2 "$port" "$rxlog" "$out" "$@" || return 1
    DUMP+=("$rxlog")
    for f in "${FILES[@]}"; do
        i=$((i + 1)); DUMP+=("$CW/npm-send-$i.log")
        (cd "$CW" && netns_exec 3 timeout 60 "$NPMLS" send --protocol "$proto" --port "$port" \
            --alias npm-sender "$IP2" "$f") >"$CW/npm-send-$i.log" 2>&1 \
            || { fail_with "npm send of $(basename "$f") exited $? ($(grep -m1 -E 'Failed|❌|rror' "$CW/npm-send-$i.log"))"; return 1; }
        grep -q "File uploaded successfully" "$CW/npm-send-$i.log" \
            || { fail_with "npm send of $(basename "$f") did not report success"; return 1; }
    done
    check_files "$out" && check_no_extra "$out" || return 1
    for ((i = 0; i < 50; i++)); do
        v="$(py_json "$rxlog" 'count("sessionFinished", outcome="finished", failed=0, saved=1)')"
        [ "$v" = 3 ] && break; sleep 0.1
    done
    [ "$v" = 3 ] || { fail_with "expected 3 sessionFinished{finished,saved=1} events, got $v"; return 1; }
    v="$(py_json "$rxlog" '[e["sender"]["verified"] for e in evs if e.get("event") == "sessionStarted"]')"
    [ "$v" = "[false, false, false]" ] \
        || { fail_with "sessionStarted sender.verified = $v (want false: npm sends no client cert)"; return 1; }
}
case_npm_to_ferry_https() { npm_to_ferry https 53413; }
case_npm_to_ferry_http()  { npm_to_ferry http 53414 --http; }

# d. Ferry -> localsendd (unattended, no control client attached: auto-accept)
ferry_to_lsd() { # PORT enc|plain pin|nopin
    local port="$1" mode="$2" pin="$3" args=()
    start_lsd 1 "$port" "$mode" || return 1
    DUMP+=("$CW/send.log" "$LSD_LOG")
    [ "$mode" = plain ] && args+=(--http)
    if [ "$pin" = pin ]; then
        [ -n "$LSD_FP" ] || { fail_with "could not read localsendd's fingerprint from its log"; return 1; }
        args+=(--fingerprint "$LSD_FP")
    fi
    netns_exec 2 timeout 60 "$FERRY" --config-dir "$CW/ferry-tx" send "${FILES[@]}" \
        --to "$IP1:$port" "${args[@]}" >"$CW/send.log" 2>&1
    local rc=$?
    [ "$rc" -eq 0 ] || { fail_with "ferry send exit $rc: $(tail -n1 "$CW/send.log")"; return 1; }
    check_files "$LSD_DL" && check_no_extra "$LSD_DL"
}
case_ferry_to_lsd_https()        { ferry_to_lsd 53415 enc nopin; }
case_ferry_to_lsd_https_pinned() { ferry_to_lsd 53416 enc pin; }
case_ferry_to_lsd_http()         { ferry_to_lsd 53417 plain nopin; }

# e. Ferry -> npm localsend over HTTP
case_ferry_to_npm_http() {
    local port=53418 out="$CW/npm-dl" rc
    bg 3 "$CW/npm-rx.log" "$NPMLS" receive --alias npm-rx --port "$port" --saveDir "$out" --autoAccept
    DUMP+=("$CW/send.log" "$CW/npm-rx.log")
    netns_wait_tcp 2 "$IP3" "$port" 20 2>/dev/null || { fail_with "npm receiver did not open port $port"; return 1; }
    netns_exec 2 timeout 60 "$FERRY" --config-dir "$CW/ferry-tx" send "${FILES[@]}" \
        --to "$IP3:$port" --http >"$CW/send.log" 2>&1
    rc=$?
    [ "$rc" -eq 0 ] || { fail_with "ferry send exit $rc: $(tail -n1 "$CW/send.log")"; return 1; }
    check_files "$out" && check_no_extra "$out"
}

# f. Ferry -> Ferry over HTTPS with certificate pinning
case_ferry_to_ferry_pinned() {
    local port=53419 out="$CW/out" rxlog="$CW/ferry-rx.log" fp txfp rc v
    fp="$("$FERRY" --config-dir "$CW/ferry-rx" identity 2>/dev/null | tail -n1)"
    txfp="$("$FERRY" --config-dir "$CW/ferry-tx" identity 2>/dev/null | tail -n1)"
    [[ "$fp" =~ ^[0-9A-Fa-f]{64}$ ]] || { fail_with "ferry identity printed '$fp'"; return 1; }
    start_ferry_rx 2 "$port" "$rxlog" "$out" --once || return 1
    DUMP+=("$rxlog" "$CW/send.log")
    netns_exec 1 timeout 60 "$FERRY" --config-dir "$CW/ferry-tx" send "${FILES[@]}" \
        --to "$IP2:$port" --fingerprint "$fp" >"$CW/send.log" 2>&1
    rc=$?
    [ "$rc" -eq 0 ] || { fail_with "ferry send exit $rc: $(tail -n1 "$CW/send.log")"; return 1; }
    wait_exit "$RX_PID" 15 || { fail_with "Ferry receiver (--once) did not exit"; return 1; }
    [ "$EXIT_RC" -eq 0 ] || { fail_with "Ferry receiver exit $EXIT_RC"; return 1; }
    check_files "$out" && check_no_extra "$out" || return 1
    v="$(py_json "$rxlog" 'first("sessionStarted")["sender"]["verified"]')"
    [ "$v" = true ] || { fail_with "receiver: sender.verified = $v (want true)"; return 1; }
    v="$(py_json "$rxlog" 'first("sessionStarted")["sender"]["fingerprint"]')"
    [ "${v^^}" = "${txfp^^}" ] || { fail_with "receiver: sender.fingerprint $v != sender identity $txfp"; return 1; }
}
case_ferry_to_ferry_wrong_fp() {
    local port=53420 out="$CW/out" rxlog="$CW/ferry-rx.log" wrong rc n v
    "$FERRY" --config-dir "$CW/ferry-rx" identity >/dev/null 2>&1
    # a well-formed fingerprint of another identity (the sender's own)
    wrong="$("$FERRY" --config-dir "$CW/ferry-tx" identity 2>/dev/null | tail -n1)"
    [[ "$wrong" =~ ^[0-9A-Fa-f]{64}$ ]] || { fail_with "ferry identity printed '$wrong'"; return 1; }
    start_ferry_rx 2 "$port" "$rxlog" "$out" --once || return 1
    DUMP+=("$rxlog" "$CW/send.log")
    netns_exec 1 timeout 60 "$FERRY" --config-dir "$CW/ferry-tx" send "${FILES[@]}" \
        --to "$IP2:$port" --fingerprint "$wrong" >"$CW/send.log" 2>&1
    rc=$?
    [ "$rc" -ne 0 ] || { fail_with "ferry send exited 0 with a wrong --fingerprint"; return 1; }
    [ "$rc" -ne 124 ] || { fail_with "ferry send hung (timeout) instead of refusing"; return 1; }
    [ -s "$CW/send.log" ] || { fail_with "ferry send failed silently (no reason printed)"; return 1; }
    sleep 0.3
    n="$(find "$out" -type f 2>/dev/null | wc -l)"
    [ "$n" -eq 0 ] || { fail_with "$n file(s) received despite the wrong fingerprint"; return 1; }
    v="$(py_json "$rxlog" 'count("sessionStarted")')"
    [ "$v" = 0 ] || { fail_with "receiver saw a session despite the wrong fingerprint"; return 1; }
    kill -0 "$RX_PID" 2>/dev/null || { fail_with "receiver exited after the refused connection"; return 1; }
}

# ================================ run ========================================================
run_case "localsendd -> ferry https (client cert, verified)" case_lsd_to_ferry_https
run_case "localsendd -> ferry http"                          case_lsd_to_ferry_http
run_case "npm localsend -> ferry https (pin=123456 ignored)" case_npm_to_ferry_https
run_case "npm localsend -> ferry http"                       case_npm_to_ferry_http
run_case "ferry -> localsendd https"                         case_ferry_to_lsd_https
run_case "ferry -> localsendd https --fingerprint"           case_ferry_to_lsd_https_pinned
run_case "ferry -> localsendd http"                          case_ferry_to_lsd_http
run_case "ferry -> npm localsend http"                       case_ferry_to_npm_http
run_case "ferry -> ferry https --fingerprint (right)"        case_ferry_to_ferry_pinned
run_case "ferry -> ferry https --fingerprint (wrong) refused" case_ferry_to_ferry_wrong_fp

harness_summary
