#!/usr/bin/env bash
# A forged announcement must not downgrade a pinned send to plain HTTP (root only; everything
# runs inside private network namespaces made here, nothing in the root namespace).
#
#   FERRY_BIN=target/debug/ferry tests/hostile/forged-announcement.sh
#
# Three hosts on one bridge (tests/netns.sh):
#   1  Bravo, a real Ferry receiver (HTTPS)
#   2  the attacker: multicast announcements with Bravo's alias and fingerprint saying
#      "protocol":"http" and the attacker's address, registers with the same claim sent to the
#      sender's lookup (HTTPS without Bravo's certificate), and a plain HTTP server on 53317 that
#      answers like a LocalSend device and logs every request
#   3  the sender, `ferry send --to Bravo`
#
# Cases (each send is repeated a few times, the attacker announcing all along):
#   trusted          Bravo trusted by the sender: reaches the real Bravo over HTTPS, or exit 4
#   fingerprint      --fingerprint given for Bravo (not trusted): the same
#   verified         neither: the real Bravo, verified by TLS during the sender's lookup,
#                    wins over the claim (sends a second apart, so that Bravo answers each)
#   trusted, absent  Bravo trusted but not running: exit 4 with one clear line
#   --http --fingerprint   refused with exit 4 before anything is sent
#   control          Bravo not trusted and not running: the attacker's HTTP "device" is an
#                    unverified address like any other; it gets the file and the sender says
#                    "not verified" (this proves the attacker's server would see a downgrade)
# In every pinned case the attacker's log must show no prepare-upload and no upload.
#
# Output: "ok - NAME" / "not ok - NAME: reason", then "N passed, M failed"; exit 0 if all pass.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../harness.sh
source "$ROOT/tests/harness.sh"

[ "$(id -u)" -eq 0 ] || { echo "forged-announcement: must run as root (network namespaces)" >&2; exit 2; }
FERRY="${FERRY_BIN:-$ROOT/target/debug/ferry}"
case "$FERRY" in /*) ;; *) FERRY="$PWD/$FERRY" ;; esac
[ -x "$FERRY" ] || { echo "forged-announcement: Ferry binary not found at $FERRY (cargo build -p ferry-cli, or set FERRY_BIN)" >&2; exit 2; }
PY="$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)"
[ -x "$PY" ] || { echo "forged-announcement: python3 is needed" >&2; exit 2; }
PY_JSON_PYTHON="$PY"
ROUNDS="${ROUNDS:-3}"
unset FERRY_NO_DISCOVERY FERRY_CONFIG_DIR

harness_init ferry-forged 3
B=1; ATT=2; A=3

# ---- the attacker ---------------------------------------------------------------------------
cat >"$W/attacker.py" <<'PY'
"""Forges Bravo: multicast announcements and registers claiming Bravo's alias and fingerprint
with "protocol": "http", and a plain HTTP server that plays along and logs every request."""
import argparse, json, socket, ssl, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--addr", required=True)
ap.add_argument("--alias", required=True)
ap.add_argument("--fingerprint", required=True)
ap.add_argument("--register-to", help="the sender's address: forged registers go to its lookup")
ap.add_argument("--log", required=True)
ap.add_argument("--seconds", type=float, default=120)
a = ap.parse_args()
until = time.time() + a.seconds
info = {"alias": a.alias, "version": "2.1", "deviceModel": "Linux", "deviceType": "desktop",
        "fingerprint": a.fingerprint, "port": 53317, "protocol": "http", "download": False}
log_lock = threading.Lock()
logf = open(a.log, "a", buffering=1)

def log(line):
    with log_lock:
        logf.write(line + "\n")

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def reply(self, obj):
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""
    def do_GET(self):
        log("REQ GET %s from %s" % (self.path, self.client_address[0]))
        self.reply(info)
    def do_POST(self):
        data = self.body()
        log("REQ POST %s from %s (%d bytes)" % (self.path, self.client_address[0], len(data)))
        if "/prepare-upload" in self.path:
            try:
                files = json.loads(data).get("files", {})
            except ValueError:
                files = {}
            self.reply({"sessionId": "forged", "files": {k: "tok-" + k for k in files}})
        elif "/upload" in self.path:
            self.reply({})
        else:
            self.reply(info)

def announce():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(a.addr))
    d = json.dumps(dict(info, announce=True)).encode()
    n = 0
    while time.time() < until:
        try:
            s.sendto(d, ("224.0.0.167", 53317))
            n += 1
            if n == 1:
                log("ANNOUNCING")
        except OSError as e:
            log("ANNOUNCE-ERROR %s" % e)
        time.sleep(0.05)

def register():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    body = json.dumps(info).encode()
    while time.time() < until:
        try:
            c = ctx.wrap_socket(socket.create_connection((a.register_to, 53317), timeout=1))
            c.settimeout(1)
            c.sendall(b"POST /api/localsend/v2/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
            c.recv(64)
            c.close()
        except OSError:
            pass
        time.sleep(0.05)

srv = ThreadingHTTPServer((a.addr, 53317), H)
srv.daemon_threads = True
threading.Thread(target=srv.serve_forever, daemon=True).start()
log("LISTENING")
threading.Thread(target=announce, daemon=True).start()
if a.register_to:
    threading.Thread(target=register, daemon=True).start()
while time.time() < until:
    time.sleep(0.2)
PY

# ---- helpers --------------------------------------------------------------------------------
# bravo: the real receiver on host 1 (--yes), its files in $CW/bravo.in
bravo() {
    bg "$B" "$CW/bravo.log" "$FERRY" --json --config-dir "$CW/bravo.cfg" receive --yes --alias Bravo --dir "$CW/bravo.in"
    BRAVO_PID="$NETNS_LAST_PID"
    DUMP+=("$CW/bravo.log")
    netns_wait_tcp "$A" "$(netns_ip "$B")" 53317 15 2>/dev/null || { fail_with "Bravo did not open its port"; return 1; }
}
bravo_fp() { "$FERRY" --config-dir "$CW/bravo.cfg" identity; }
# attacker FINGERPRINT: forges Bravo from host 2 until the case ends; waits until it announces
attacker() {
    bg "$ATT" "$CW/attacker.out" "$PY" "$W/attacker.py" --addr "$(netns_ip "$ATT")" --alias Bravo --fingerprint "$1" \
        --register-to "$(netns_ip "$A")" --log "$CW/attacker.log" --seconds 120
    DUMP+=("$CW/attacker.log" "$CW/attacker.out")
    netns_wait_log "$CW/attacker.log" "^ANNOUNCING" 10 && netns_wait_tcp "$A" "$(netns_ip "$ATT")" 53317 10 2>/dev/null \
        || { fail_with "the attacker did not start"; return 1; }
}
# send_to LOG ARGS...   `ferry --json send $CW/secret.txt --to Bravo ARGS` from host 3; SEND_RC
send_to() {
    local log="$1"; shift
    DUMP+=("$log" "$log.err")
    netns_exec "$A" timeout 40 "$FERRY" --json --config-dir "$CW/sender.cfg" send "$CW/secret.txt" --to Bravo "$@" >"$log" 2>"$log.err"
    SEND_RC=$?
}
# no_data_to_attacker   the attacker was never asked to take a file
no_data_to_attacker() {
    if grep -E "prepare-upload|/upload" "$CW/attacker.log" >/dev/null 2>&1; then
        fail_with "the attacker received: $(grep -cE 'prepare-upload|/upload' "$CW/attacker.log") prepare-upload/upload request(s)"
        return 1
    fi
}
# pinned_outcome LOG   exit 0 with the file at the real Bravo over a verified connection, or
# exit 4 with one line; never anything at the attacker
pinned_outcome() {
    local log="$1"
    no_data_to_attacker || return 1
    case "$SEND_RC" in
        0)
            cmp -s "$CW/secret.txt" "$CW/bravo.in/secret.txt" || { fail_with "exit 0 but Bravo does not have the file"; return 1; }
            [ "$(py_json "$log" "first('connected')['verified'] is True and first('target')['device']['verified'] is True")" = true ] \
                || { fail_with "sent without a verified connection"; return 1; }
            rm -f "$CW/bravo.in/secret.txt"
            SENT_OK=$((SENT_OK + 1))
            ;;
        4)
            [ "$(grep -c . "$log.err")" -eq 1 ] || { fail_with "exit 4 without one clear line"; return 1; }
            REFUSED=$((REFUSED + 1))
            ;;
        *) fail_with "exit $SEND_RC (want 0 to the real Bravo, or 4)"; return 1 ;;
    esac
}
# pinned_rounds ARGS...   ROUNDS sends with the attacker running; Bravo must stay alive.
# PACE=SECONDS spaces the sends (Bravo answers one address's lookups at most once a second).
pinned_rounds() {
    local i
    SENT_OK=0; REFUSED=0
    for ((i = 1; i <= ROUNDS; i++)); do
        [ "$i" -gt 1 ] && [ -n "${PACE:-}" ] && sleep "$PACE"
        send_to "$CW/send$i.log" "$@"
        pinned_outcome "$CW/send$i.log" || { REASON="round $i: $REASON"; return 1; }
    done
    kill -0 "$BRAVO_PID" 2>/dev/null || { fail_with "Bravo died"; return 1; }
    echo "#   $ROUNDS sends: $SENT_OK reached the real Bravo over HTTPS, $REFUSED refused (exit 4)"
}

# ============================================================================================
case_trusted() {
    echo "secret" >"$CW/secret.txt"
    bravo || return 1
    local fp; fp="$(bravo_fp)"
    "$FERRY" --config-dir "$CW/sender.cfg" trust add "$fp" --alias Bravo >/dev/null || { fail_with "trust add failed"; return 1; }
    attacker "$fp" || return 1
    pinned_rounds
}

case_fingerprint() {
    echo "secret" >"$CW/secret.txt"
    bravo || return 1
    local fp; fp="$(bravo_fp)"
    attacker "$fp" || return 1
    pinned_rounds --fingerprint "$fp"
}

case_verified() {
    echo "secret" >"$CW/secret.txt"
    bravo || return 1
    local fp; fp="$(bravo_fp)"
    attacker "$fp" || return 1
    # Unpinned, Bravo counts as verified only once its answer to the sender's lookup proved it.
    # Bravo answers lookups from one address at most once a second (its answer limiter), so the
    # sends are spaced for each lookup to get that answer; otherwise the forged claim is an
    # unverified HTTP device like any address, which is allowed (see the control case).
    PACE=1.2 pinned_rounds || return 1
    [ "$SENT_OK" -eq "$ROUNDS" ] || { fail_with "the real Bravo was verified but not reached in $((ROUNDS - SENT_OK)) send(s)"; return 1; }
}

case_trusted_absent() {
    echo "secret" >"$CW/secret.txt"
    local fp; fp="$("$FERRY" --config-dir "$CW/bravo.cfg" identity)"
    "$FERRY" --config-dir "$CW/sender.cfg" trust add "$fp" --alias Bravo >/dev/null || { fail_with "trust add failed"; return 1; }
    attacker "$fp" || return 1
    send_to "$CW/send.log"
    no_data_to_attacker || return 1
    [ "$SEND_RC" -eq 4 ] || { fail_with "exit $SEND_RC (want 4)"; return 1; }
    [ "$(grep -c . "$CW/send.log.err")" -eq 1 ] && grep -q "plain HTTP" "$CW/send.log.err" \
        || { fail_with "not one clear line: $(head -c 300 "$CW/send.log.err")"; return 1; }
    echo "#   $(cat "$CW/send.log.err")"
    send_to "$CW/send2.log" --fingerprint "$fp" --find-timeout 2
    no_data_to_attacker || return 1
    [ "$SEND_RC" -eq 4 ] || { fail_with "with --fingerprint: exit $SEND_RC (want 4)"; return 1; }
}

case_http_with_fingerprint() {
    echo "secret" >"$CW/secret.txt"
    local fp; fp="$("$FERRY" --config-dir "$CW/bravo.cfg" identity)"
    attacker "$fp" || return 1
    send_to "$CW/send.log" --http --fingerprint "$fp"
    no_data_to_attacker || return 1
    [ "$SEND_RC" -eq 4 ] || { fail_with "exit $SEND_RC (want 4)"; return 1; }
    netns_exec "$A" timeout 40 "$FERRY" --config-dir "$CW/sender.cfg" send "$CW/secret.txt" --http --to "$(netns_ip "$ATT")" \
        --fingerprint "$fp" >"$CW/addr.log" 2>&1
    local rc=$?
    DUMP+=("$CW/addr.log")
    no_data_to_attacker || return 1
    [ "$rc" -eq 4 ] || { fail_with "--to ADDRESS --http --fingerprint: exit $rc (want 4)"; return 1; }
    ! grep -q "REQ" "$CW/attacker.log" || { fail_with "the attacker was contacted: $(grep REQ "$CW/attacker.log" | head -3)"; return 1; }
}

case_control() {
    echo "secret" >"$CW/secret.txt"
    local fp; fp="$("$FERRY" --config-dir "$CW/bravo.cfg" identity)"
    attacker "$fp" || return 1
    send_to "$CW/send.log"
    [ "$SEND_RC" -eq 0 ] || { fail_with "exit $SEND_RC (want 0: an unpinned HTTP device is an address)"; return 1; }
    grep -q "prepare-upload" "$CW/attacker.log" || { fail_with "the attacker's server saw no prepare-upload: the harness proves nothing"; return 1; }
    [ "$(py_json "$CW/send.log" "first('target')['device']['verified'] is False and first('connected')['verified'] is False")" = true ] \
        || { fail_with "the unverified HTTP device was called verified"; return 1; }
}

# ================================ run ========================================================
run_case "trusted Bravo: real Bravo over HTTPS or exit 4, never HTTP"      case_trusted
run_case "--fingerprint Bravo: real Bravo over HTTPS or exit 4"            case_fingerprint
run_case "verified Bravo: the real one wins over the forged claim"         case_verified
run_case "trusted Bravo absent: exit 4, one clear line, nothing sent"      case_trusted_absent
run_case "--http with --fingerprint: exit 4 before anything is sent"       case_http_with_fingerprint
run_case "control: unpinned HTTP device reached, shown not verified"       case_control

harness_summary
