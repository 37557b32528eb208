# shellcheck shell=bash
# Case runner shared by the namespace test scripts (tests/interop/ferry-interop.sh,
# tests/discovery/discovery.sh). Source it (it sources tests/netns.sh), then:
#
#   harness_require NAME BIN    root; the Ferry binary ($FERRY_BIN, else BIN under the repo) in
#                               FERRY; the LocalSend peers (scripts/install-peers.sh) in LSD,
#                               LSCTL, VPY, NPMLS
#   harness_init NAME HOSTS     work dir $W, HOSTS namespaces, everything removed on exit
#                               (KEEP_WORKDIR=1 keeps $W)
#   lsd_env DIR                 sets LSD_RUN: localsendd with its state, config and control
#                               socket (DIR/run/ctl.sock) in DIR; add its other flags
#   run_case "name" case_fn     case_fn sets REASON (fail_with) and returns non-zero on failure;
#                               CW is a fresh directory for the case; logs listed in DUMP are
#                               shown when it fails; processes started with bg are stopped after it.
#   py_json LOG EXPR            evaluates EXPR over the JSON lines of a `ferry --json` log
#                               (first(name), count(name, key=value), evs)
#   harness_summary             prints the runtime and "N passed, M failed"; fails if any failed

# shellcheck source=netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"
HARNESS_START=$(date +%s%N)
HARNESS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

harness_require() {
    local name="$1" b
    [ "$(id -u)" -eq 0 ] || { echo "$name: must run as root (network namespaces)" >&2; exit 2; }
    FERRY="${FERRY_BIN:-$HARNESS_ROOT/$2}"
    case "$FERRY" in /*) ;; *) FERRY="$PWD/$FERRY" ;; esac
    [ -x "$FERRY" ] || { echo "$name: Ferry binary not found at $FERRY (cargo build -p ferry-cli, or set FERRY_BIN)" >&2; exit 2; }
    "$HARNESS_ROOT/scripts/install-peers.sh" || { echo "$name: scripts/install-peers.sh failed" >&2; exit 2; }
    LSD="$HARNESS_ROOT/.tools/venv/bin/localsendd"
    LSCTL="$HARNESS_ROOT/.tools/venv/bin/localsendctl"
    VPY="$HARNESS_ROOT/.tools/venv/bin/python"
    NPMLS="$HARNESS_ROOT/.tools/npm/node_modules/.bin/localsend"
    for b in "$LSD" "$LSCTL" "$VPY" "$NPMLS"; do
        [ -x "$b" ] || { echo "$name: missing $b after install-peers.sh" >&2; exit 2; }
    done
    PY_JSON_PYTHON="$VPY"
}

lsd_env() {
    local d="$1"
    mkdir -p "$d"/{state,config,run}
    LSD_RUN=(env HOME="$d" XDG_STATE_HOME="$d/state" XDG_CONFIG_HOME="$d/config" XDG_RUNTIME_DIR="$d/run"
        "$LSD" --socket "$d/run/ctl.sock" --no-log-time)
}

harness_cleanup() {
    netns_cleanup
    if [ "${KEEP_WORKDIR:-0}" = 1 ]; then echo "# workdir kept: $W" >&2; else rm -rf "$W"; fi
}
harness_init() {
    W="$(mktemp -d "/tmp/$1.XXXXXX")"
    trap harness_cleanup EXIT
    netns_create "$2" || { echo "$1: could not create namespaces" >&2; exit 2; }
    trap harness_cleanup EXIT   # netns_create installs its own EXIT trap; this one also removes $W
}
harness_summary() {
    local ms=$(( ($(date +%s%N) - HARNESS_START) / 1000000 ))
    echo "# runtime $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s"
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}

pass=0; fail=0; REASON=""; DUMP=()
CASE_PIDS=()

# bg HOST LOG CMD...   like netns_bg, also remembered for per-case cleanup
bg() { netns_bg "$@"; CASE_PIDS+=("$NETNS_LAST_PID"); }
kill_case_procs() {
    local p
    for p in "${CASE_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${CASE_PIDS[@]}"; do netns_kill "$p" 3; done
    CASE_PIDS=()
}

# run_case NAME FUNC   runs FUNC (which sets REASON and returns non-zero on failure)
run_case() {
    local name="$1" fn="$2" l
    REASON=""; DUMP=()
    CW="$W/${fn#case_}"; mkdir -p "$CW"
    if "$fn"; then
        pass=$((pass + 1)); echo "ok - $name"
    else
        fail=$((fail + 1)); echo "not ok - $name: ${REASON:-failed}"
        for l in "${DUMP[@]}"; do
            [ -f "$l" ] || continue
            echo "#   --- ${l#"$W"/} (last 15 lines)"
            tail -n 15 "$l" | sed 's/\x1b\[[0-9;]*[A-Za-z]//g; s/\r/\n/g' | tail -n 15 | sed 's/^/#   /'
        done
    fi
    kill_case_procs
}
fail_with() { REASON="$1"; return 1; }

# wait_exit PID TIMEOUT -> sets EXIT_RC (124 on timeout)
wait_exit() {
    local pid="$1" to="$2" t
    for ((t = 0; t < to * 10; t++)); do
        if ! kill -0 "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null; EXIT_RC=$?; return 0; fi
        sleep 0.1
    done
    EXIT_RC=124; return 1
}

# jq-like reader for Ferry --json logs: py_json LOG PYTHON_EXPR_OVER_events
py_json() {
    "${PY_JSON_PYTHON:-python3}" - "$1" "$2" <<'PY'
import json, sys
evs = []
for line in open(sys.argv[1], errors="replace"):
    line = line.strip()
    if line.startswith("{"):
        try: evs.append(json.loads(line))
        except ValueError: pass
def first(name):
    return next((e for e in evs if e.get("event") == name), None)
def count(name, **kw):
    return sum(1 for e in evs if e.get("event") == name and all(e.get(k) == v for k, v in kw.items()))
try:
    v = eval(sys.argv[2])
except Exception as e:
    v = "error:%s" % type(e).__name__
print(json.dumps(v) if not isinstance(v, str) else v)
PY
}

