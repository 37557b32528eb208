#!/usr/bin/env bash
# Discovery across hosts, inside private network namespaces (root only).
#
#   FERRY_BIN=target/debug/ferry tests/discovery/discovery.sh
#
# Four hosts on one bridge (tests/netns.sh), each with its own config dir. Ferry nodes, the
# registry-installed LocalSend peers (scripts/install-peers.sh) and a hostile neighbour
# (flood.py) run inside them; nothing is started in the root namespace.
#
# Cases:
#   ferry <-> ferry      both list each other, verified, within 1 s of start
#   send by name         `send --to ALIAS` and `text --to FINGERPRINT-PREFIX` reach the right node
#   ambiguous name       two devices of the same alias: an error that lists both, nothing sent
#   stopped node         a node that stops is dropped from the list
#   peers                `ferry devices` finds localsendd (HTTPS and HTTP) and npm localsend
#                        (HTTP); localsendd and npm localsend find Ferry (HTTPS and HTTP)
#   no multicast         multicast dropped (iptables) and no route: the subnet scan finds it
#   IPv6 only            IPv4 multicast dropped and no scan: IPv6 multicast finds it
#   interfaces           --interface / --exclude-interface choose what is used
#   interface change     a new address is reported, announced from, and learnt by others
#   manual and favorite  --peer and a trusted device's saved address are probed directly; a
#                        favorite's address where another device answers lists nothing
#   hostile neighbour    datagram and register floods: bounded answers and memory, honest
#                        peers still found and served
#
# Output: "ok - NAME" / "not ok - NAME: reason", then "N passed, M failed"; exit 0 if all pass.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../harness.sh
source "$ROOT/tests/harness.sh"
harness_require discovery target/debug/ferry
FLOOD="$ROOT/tests/discovery/flood.py"
harness_init ferry-discovery 4

# rx HOST NAME [args...]   a Ferry receiver (--json, --yes) with its own config; its log is
# $CW/NAME.log, files go to $CW/NAME.in; waits for its port; PID in RX_PID.
rx() {
    local h="$1" name="$2" from; shift 2
    bg "$h" "$CW/$name.log" "$FERRY" --json --config-dir "$CW/$name.cfg" receive --yes --alias "$name" \
        --dir "$CW/$name.in" "$@"
    RX_PID="$NETNS_LAST_PID"
    DUMP+=("$CW/$name.log")
    from=1; [ "$h" = 1 ] && from=2
    netns_wait_tcp "$from" "$(netns_ip "$h")" 53317 15 2>/dev/null || { fail_with "$name did not open its port"; return 1; }
}
fp_of() { "$FERRY" --config-dir "$CW/$1.cfg" identity; }
# wait_log LOG EXPR SECONDS   until py_json LOG EXPR prints true
wait_log() {
    local t
    for ((t = 0; t < $3 * 10; t++)); do
        [ "$(py_json "$1" "$2")" = true ] && return 0
        sleep 0.1
    done
    return 1
}
# ev(NAME, alias) in py_json: the events NAME about a device of that alias
EVQ='[e for e in evs if e.get("event")=="%s" and e["device"]["alias"]=="%s"]'
ev() { printf "$EVQ" "$1" "$2"; }
# devices HOST LOG [args...]   `ferry devices --json` from HOST
devices() {
    local h="$1" log="$2"; shift 2
    DUMP+=("$log")
    netns_exec "$h" timeout 60 "$FERRY" --json --config-dir "$CW/lister.cfg" devices "$@" >"$log" 2>&1
}
# listed LOG ALIAS KEY VALUE   the final list of a `devices` log has ALIAS with KEY == VALUE
listed() {
    py_json "$1" "any(d['alias']=='$2' and str(d.get('$3')).lower()=='$4' for d in (first('devices') or {'devices':[]})['devices'])"
}

# ============================================================================================
case_ferry_pair() {
    rx 1 Alpha || return 1
    rx 2 Bravo || return 1
    wait_log "$CW/Alpha.log" "any(e['device']['verified'] for e in $(ev deviceFound Bravo) + $(ev deviceUpdated Bravo))" 5 \
        || { fail_with "Alpha did not list Bravo as verified"; return 1; }
    wait_log "$CW/Bravo.log" "any(e['device']['verified'] for e in $(ev deviceFound Alpha) + $(ev deviceUpdated Alpha))" 5 \
        || { fail_with "Bravo did not list Alpha as verified"; return 1; }
    local a b
    a="$(py_json "$CW/Alpha.log" "min(e['elapsedMs'] for e in $(ev deviceFound Bravo))")"
    b="$(py_json "$CW/Bravo.log" "min(e['elapsedMs'] for e in $(ev deviceFound Alpha))")"
    [ "$a" -le 1000 ] && [ "$b" -le 1000 ] || { fail_with "listed after ${a} ms / ${b} ms (want <= 1000)"; return 1; }
    echo "#   Alpha listed Bravo after $a ms, Bravo listed Alpha after $b ms"
}

case_send_by_name() {
    rx 1 Alpha || return 1
    rx 2 Bravo || return 1
    echo "by alias" >"$CW/note.txt"
    netns_exec 3 timeout 30 "$FERRY" --config-dir "$CW/tx.cfg" send "$CW/note.txt" --to alpha >"$CW/send.log" 2>&1 \
        || { DUMP+=("$CW/send.log"); fail_with "send --to alpha failed"; return 1; }
    cmp -s "$CW/note.txt" "$CW/Alpha.in/note.txt" || { fail_with "Alpha did not receive the file"; return 1; }
    [ ! -e "$CW/Bravo.in/note.txt" ] || { fail_with "Bravo received it too"; return 1; }
    local prefix
    prefix="$(fp_of Bravo | cut -c1-10)"
    netns_exec 3 timeout 30 "$FERRY" --config-dir "$CW/tx.cfg" text "hello by fingerprint" --to "${prefix,,}" >"$CW/text.log" 2>&1 \
        || { DUMP+=("$CW/text.log"); fail_with "text --to <fingerprint prefix> failed"; return 1; }
    wait_log "$CW/Bravo.log" "count('text') == 1 and first('text')['text'] == 'hello by fingerprint'" 5 \
        || { fail_with "Bravo did not get the text"; return 1; }
}

case_ambiguous_name() {
    rx 1 Twin || return 1
    bg 2 "$CW/Twin2.log" "$FERRY" --json --config-dir "$CW/Twin2.cfg" receive --yes --alias Twin --dir "$CW/Twin2.in"
    netns_wait_tcp 1 "$(netns_ip 2)" 53317 15 2>/dev/null || { fail_with "second Twin did not start"; return 1; }
    echo x >"$CW/x.txt"
    netns_exec 3 timeout 30 "$FERRY" --config-dir "$CW/tx.cfg" send "$CW/x.txt" --to Twin >"$CW/send.log" 2>&1
    local rc=$?
    DUMP+=("$CW/send.log")
    [ "$rc" -eq 2 ] || { fail_with "exit $rc (want 2)"; return 1; }
    grep -q "matches 2 devices" "$CW/send.log" || { fail_with "no ambiguity message"; return 1; }
    grep -q "$(fp_of Twin | cut -c1-8)" "$CW/send.log" && grep -q "$(fp_of Twin2 | cut -c1-8)" "$CW/send.log" \
        || { fail_with "the candidates are not listed"; return 1; }
    [ "$(find "$CW/Twin.in" "$CW/Twin2.in" -type f 2>/dev/null | wc -l)" -eq 0 ] || { fail_with "something was sent"; return 1; }
}

case_stopped_node() {
    rx 1 Alpha --refresh-secs 1 || return 1
    rx 2 Bravo || return 1
    wait_log "$CW/Alpha.log" "len($(ev deviceFound Bravo)) > 0" 5 || { fail_with "Bravo never listed"; return 1; }
    local t0=$SECONDS
    netns_kill "$RX_PID" 3
    wait_log "$CW/Alpha.log" "len($(ev deviceLost Bravo)) > 0" 10 || { fail_with "Bravo still listed 10 s after it stopped"; return 1; }
    echo "#   dropped about $((SECONDS - t0)) s after it stopped"
    # and it comes back when it starts again
    rx 2 Bravo || return 1
    wait_log "$CW/Alpha.log" "len($(ev deviceFound Bravo)) > 1" 5 || { fail_with "Bravo not listed again after a restart"; return 1; }
}

# LocalSend peers: localsendd (HTTPS) on 1, npm localsend (HTTP only) on 2, localsendd with
# encryption off on 3; Ferry looks from 4.
start_lsd() {
    local h="$1" name="$2"; shift 2
    lsd_env "$CW/$name"
    bg "$h" "$CW/$name.log" "${LSD_RUN[@]}" --alias "$name" --port 53317 --download-dir "$CW/$name/dl" "$@"
    DUMP+=("$CW/$name.log")
    netns_wait_tcp 4 "$(netns_ip "$h")" 53317 20 2>/dev/null || { fail_with "$name did not start"; return 1; }
}
case_peers_found_by_ferry() {
    start_lsd 1 lsd-https --encryption || return 1
    bg 2 "$CW/npm.log" "$NPMLS" receive --alias npm-http --port 53317 --saveDir "$CW/npm-in"
    netns_wait_tcp 4 "$(netns_ip 2)" 53317 20 2>/dev/null || { fail_with "npm localsend did not start"; return 1; }
    start_lsd 3 lsd-http --no-encryption || return 1
    devices 4 "$CW/devices.log" --timeout 4 || { fail_with "ferry devices failed"; return 1; }
    [ "$(listed "$CW/devices.log" lsd-https protocol https)" = true ] || { fail_with "localsendd (https) not listed"; return 1; }
    [ "$(listed "$CW/devices.log" lsd-https verified true)" = true ] || { fail_with "localsendd (https) not verified"; return 1; }
    [ "$(listed "$CW/devices.log" lsd-http protocol http)" = true ] || { fail_with "localsendd (http) not listed"; return 1; }
    [ "$(listed "$CW/devices.log" npm-http protocol http)" = true ] || { fail_with "npm localsend not listed"; return 1; }
}

# peers_find_ferry PROTO_ARGS...   Ferry receives on 4; localsendd (1) and npm discover (2) list it
peers_find_ferry() {
    start_lsd 1 lsd "$@" || return 1
    rx 4 FerryNode ${FERRY_PROTO:+"$FERRY_PROTO"} || return 1
    local t
    for ((t = 0; t < 50; t++)); do
        netns_exec 1 timeout 5 "$LSCTL" --socket "$CW/lsd/run/ctl.sock" devices >"$CW/lsd-devices.txt" 2>&1
        grep -q FerryNode "$CW/lsd-devices.txt" && break
        sleep 0.2
    done
    DUMP+=("$CW/lsd-devices.txt")
    grep -q FerryNode "$CW/lsd-devices.txt" || { fail_with "localsendd does not list Ferry"; return 1; }
    netns_exec 2 timeout 30 "$NPMLS" discover --json --timeout 3 --port 53317 >"$CW/npm-discover.txt" 2>&1
    DUMP+=("$CW/npm-discover.txt")
    grep -q FerryNode "$CW/npm-discover.txt" || { fail_with "npm localsend discover does not list Ferry"; return 1; }
}
case_peers_find_ferry_https() { FERRY_PROTO="" peers_find_ferry --encryption; }
case_peers_find_ferry_http() { FERRY_PROTO="--http" peers_find_ferry --no-encryption; }

case_no_multicast_route() {
    netns_block_mcast v4 1 2; netns_block_mcast v6 1 2
    # Alpha does not scan itself, so only the lister's scan can find it
    rx 1 Alpha --no-scan || { netns_unblock_mcast 1 2; return 1; }
    devices 2 "$CW/devices.log" --until Alpha --timeout 6
    local rc=$?
    netns_unblock_mcast 1 2
    [ "$rc" -eq 0 ] || { fail_with "ferry devices did not find Alpha (exit $rc)"; return 1; }
    [ "$(listed "$CW/devices.log" Alpha source scan)" = true ] || { fail_with "Alpha was not found by the scan"; return 1; }
}

case_ipv6_only() {
    netns_block_mcast v4 1 2
    rx 1 Alpha --no-scan || { netns_unblock_mcast 1 2; return 1; }
    devices 2 "$CW/devices.log" --no-scan --until Alpha --timeout 5
    local rc=$?
    netns_unblock_mcast 1 2
    [ "$rc" -eq 0 ] || { fail_with "not found over IPv6 (exit $rc)"; return 1; }
    py_json "$CW/devices.log" "any(':' in a for d in first('devices')['devices'] for a in d['addresses'])" | grep -q true \
        || { fail_with "no IPv6 address listed"; return 1; }
}

case_interfaces() {
    rx 1 Alpha --no-scan || return 1
    devices 2 "$CW/none.log" --exclude-interface 'eth*' --no-scan --timeout 1.5
    [ "$(py_json "$CW/none.log" "first('discovering')['interfaces'] == [] and first('devices')['devices'] == []")" = true ] \
        || { fail_with "--exclude-interface eth* still used eth0 or found something"; return 1; }
    devices 2 "$CW/v4.log" --interface "$(netns_ip 2 | cut -d. -f1-3).0/24" --until Alpha --timeout 4 \
        || { fail_with "--interface <subnet> found nothing"; return 1; }
    [ "$(py_json "$CW/v4.log" "[i['name'] for i in first('discovering')['interfaces']] == ['eth0']")" = true ] \
        || { fail_with "--interface <subnet> chose other addresses"; return 1; }
}

case_interface_change() {
    rx 1 Alpha || return 1
    rx 2 Bravo || return 1
    wait_log "$CW/Bravo.log" "len($(ev deviceFound Alpha)) > 0" 5 || { fail_with "Bravo never listed Alpha"; return 1; }
    local extra
    extra="$(netns_ip 1 | cut -d. -f1-3).111"
    ip -n "$(netns_name 1)" addr add "$extra/24" dev eth0
    # Alpha notices the new address, reports it and announces from it; Bravo learns it
    wait_log "$CW/Alpha.log" "any('$extra' in [i['addr'] for i in e['interfaces']] for e in evs if e.get('event')=='discovering')" 6 \
        || { ip -n "$(netns_name 1)" addr del "$extra/24" dev eth0; fail_with "Alpha did not report its new address"; return 1; }
    wait_log "$CW/Bravo.log" "any('$extra' in e['device']['addresses'] for e in $(ev deviceUpdated Alpha) + $(ev deviceFound Alpha))" 6
    local rc=$?
    ip -n "$(netns_name 1)" addr del "$extra/24" dev eth0
    [ "$rc" -eq 0 ] || { fail_with "Bravo did not learn Alpha's new address"; return 1; }
}

case_manual_and_favorite() {
    netns_block_mcast v4 1 2; netns_block_mcast v6 1 2
    rx 1 Alpha --no-scan || { netns_unblock_mcast 1 2; return 1; }
    # --peer: probed directly, no multicast, no scan
    devices 2 "$CW/manual.log" --no-scan --peer "$(netns_ip 1)" --until Alpha --timeout 4
    local rc1=$?
    # a trusted device saved with its address is probed (pinned) at start
    "$FERRY" --config-dir "$CW/lister.cfg" trust add "$(fp_of Alpha)" --alias Alpha --address "$(netns_ip 1):53317" >/dev/null
    devices 2 "$CW/favorite.log" --no-scan --until Alpha --timeout 4
    local rc2=$?
    # a saved address where another device answers is not taken for the favorite
    "$FERRY" --config-dir "$CW/lister.cfg" trust remove "$(fp_of Alpha)" >/dev/null
    "$FERRY" --config-dir "$CW/lister.cfg" trust add "$(printf 'AB%.0s' {1..32})" --alias Fake --address "$(netns_ip 1):53317" >/dev/null
    devices 2 "$CW/wrong.log" --no-scan --timeout 2
    netns_unblock_mcast 1 2
    [ "$rc1" -eq 0 ] && [ "$(listed "$CW/manual.log" Alpha source manual)" = true ] || { fail_with "--peer did not find Alpha"; return 1; }
    [ "$rc2" -eq 0 ] && [ "$(listed "$CW/favorite.log" Alpha source favorite)" = true ] || { fail_with "the favorite was not found"; return 1; }
    [ "$(py_json "$CW/wrong.log" "first('devices')['devices'] == []")" = true ] || { fail_with "a device with another fingerprint was listed for a favorite"; return 1; }
}

vmrss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
case_hostile_neighbour() {
    rx 1 Alpha || return 1
    local alpha=$RX_PID before after flood
    sleep 0.5
    before="$(vmrss_kb "$alpha")"
    netns_exec 3 timeout 30 "$VPY" "$FLOOD" --target "$(netns_ip 1)" --iface-addr "$(netns_ip 3)" --seconds 5 >"$CW/flood.json" 2>"$CW/flood.err" &
    flood=$!
    sleep 1
    # an honest node arriving in the middle of the flood is still found, both ways
    rx 2 Bravo || return 1
    wait_log "$CW/Alpha.log" "any(e['device']['verified'] for e in $(ev deviceFound Bravo) + $(ev deviceUpdated Bravo))" 5 \
        || { fail_with "Alpha did not find Bravo during the flood"; return 1; }
    wait_log "$CW/Bravo.log" "len($(ev deviceFound Alpha)) > 0" 5 || { fail_with "Bravo did not find Alpha during the flood"; return 1; }
    wait "$flood"
    DUMP+=("$CW/flood.json" "$CW/flood.err")
    kill -0 "$alpha" 2>/dev/null || { fail_with "Alpha died"; return 1; }
    after="$(vmrss_kb "$alpha")"
    local stats answers datagrams registers
    stats="$(cat "$CW/flood.json")"
    answers="$(echo "$stats" | jq .answers)"; datagrams="$(echo "$stats" | jq .datagrams)"; registers="$(echo "$stats" | jq .registers)"
    echo "#   flood: $datagrams datagrams, $registers registers; Alpha answered $answers times; RSS ${before} -> ${after} KiB"
    [ "$datagrams" -gt 1000 ] && [ "$registers" -gt 50 ] || { fail_with "the flood was too weak to prove anything"; return 1; }
    # each node answers one source at most once a second: two nodes, 5 s of flood
    [ "$answers" -le 12 ] || { fail_with "$answers answers to one flooding source (want <= 12)"; return 1; }
    [ "$after" -le $((before + 32 * 1024)) ] || { fail_with "RSS grew from $before to $after KiB"; return 1; }
    local listed
    listed="$(py_json "$CW/Alpha.log" "count('deviceFound') - count('deviceLost')")"
    [ "$listed" -le 256 ] || { fail_with "$listed devices listed (bound is 256)"; return 1; }
    # and it still serves: a send by name works right after
    echo "after the flood" >"$CW/after.txt"
    netns_exec 4 timeout 30 "$FERRY" --config-dir "$CW/tx.cfg" send "$CW/after.txt" --to Alpha >"$CW/send.log" 2>&1 \
        || { DUMP+=("$CW/send.log"); fail_with "send to Alpha after the flood failed"; return 1; }
    cmp -s "$CW/after.txt" "$CW/Alpha.in/after.txt" || { fail_with "file not received after the flood"; return 1; }
}

# ================================ run ========================================================
run_case "ferry <-> ferry: both listed, verified, within 1 s" case_ferry_pair
run_case "send --to ALIAS, text --to FINGERPRINT-PREFIX"      case_send_by_name
run_case "ambiguous name: error lists both, nothing sent"     case_ambiguous_name
run_case "a node that stops is dropped, and comes back"       case_stopped_node
run_case "ferry finds localsendd (https, http) and npm (http)" case_peers_found_by_ferry
run_case "localsendd and npm find ferry (https)"              case_peers_find_ferry_https
run_case "localsendd and npm find ferry (http)"               case_peers_find_ferry_http
run_case "multicast blocked: the subnet scan finds it"       case_no_multicast_route
run_case "IPv6 multicast alone finds it"                      case_ipv6_only
run_case "--interface / --exclude-interface"                  case_interfaces
run_case "a new address is reported and announced"           case_interface_change
run_case "manual address and favorite (pinned) are probed"    case_manual_and_favorite
run_case "hostile neighbour: floods bounded, honest served"   case_hostile_neighbour

harness_summary
