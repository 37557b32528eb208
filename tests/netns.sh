# shellcheck shell=bash
# Network-namespace harness for interop tests. Source it (as root):
#
#   source tests/netns.sh
#   netns_create 2                 # hosts 1..2 on 10.213.X.0/24, one L2 segment
#   netns_bg 1 /tmp/a.log some-server --port 53317
#   netns_wait_tcp 1 "$(netns_ip 1)" 53317 10
#   netns_exec 2 curl -s "http://$(netns_ip 1):53317/..."
#   # netns_cleanup runs on EXIT (trap installed by netns_create)
#
# Topology: one "switch" namespace holding a bridge; every host namespace gets a veth
# (eth0 inside the host) plugged into that bridge. Nothing touches the root namespace's
# interfaces and no host has a route beyond the private subnet, so multicast, /24 scans
# and everything else stay inside the namespaces made here.
#
# Options (environment, read by netns_create):
#   NETNS_MCAST_ROUTE=0   do not add "224.0.0.0/4 dev eth0" in the hosts (default 1)
#   NETNS_SUBNET=a.b.c    first three octets (default 10.213.<derived from $$>)
# Names: namespaces are "${NETNS_PREFIX}h<i>" and "${NETNS_PREFIX}sw"; NETNS_PREFIX
# defaults to "ferry$$-" so parallel runs never collide.

NETNS_PREFIX="${NETNS_PREFIX:-ferry$$-}"
NETNS_SUBNET="${NETNS_SUBNET:-10.213.$(( $$ % 250 + 1 ))}"
NETNS_MCAST_ROUTE="${NETNS_MCAST_ROUTE:-1}"
NETNS_COUNT=0
NETNS_PIDS=()
NETNS_LAST_PID=
NETNS_CREATED=()

netns_log() { echo "netns: $*" >&2; }

# netns_name I  -> namespace name of host I ("sw" for the switch)
netns_name() { if [ "$1" = sw ]; then echo "${NETNS_PREFIX}sw"; else echo "${NETNS_PREFIX}h$1"; fi; }
# netns_ip I    -> IPv4 address of host I (10.213.X.(10+I))
netns_ip() { echo "${NETNS_SUBNET}.$(( 10 + $1 ))"; }

# netns_create N [--no-mcast-route]
netns_create() {
    local n="$1" mcast="$NETNS_MCAST_ROUTE" i ns sw
    [ "${2:-}" = "--no-mcast-route" ] && mcast=0
    if [ "$(id -u)" -ne 0 ]; then netns_log "must run as root"; return 1; fi
    command -v ip >/dev/null || { netns_log "ip (iproute2) missing"; return 1; }
    trap netns_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    sw="$(netns_name sw)"
    ip netns add "$sw" || return 1
    NETNS_CREATED+=("$sw")
    ip -n "$sw" link set lo up
    ip -n "$sw" link add br0 type bridge mcast_snooping 0 || return 1
    ip -n "$sw" link set br0 up
    for ((i = 1; i <= n; i++)); do
        ns="$(netns_name "$i")"
        ip netns add "$ns" || return 1
        NETNS_CREATED+=("$ns")
        ip -n "$ns" link set lo up
        # Outgoing connections take local ports above the ones tests listen on (53317 and
        # neighbours), so a server never finds its port held by some client's socket.
        ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="60000 64999"
        # create the pair inside the switch namespace, move the host end straight in
        ip -n "$sw" link add "p$i" type veth peer name eth0 netns "$ns" || return 1
        ip -n "$sw" link set "p$i" master br0 up
        ip -n "$ns" addr add "$(netns_ip "$i")/24" dev eth0
        ip -n "$ns" link set eth0 up
        if [ "$mcast" = 1 ]; then
            ip -n "$ns" route add 224.0.0.0/4 dev eth0
        fi
    done
    NETNS_COUNT="$n"
}

# netns_exec I CMD...   run in the foreground inside host I
netns_exec() { local i="$1"; shift; ip netns exec "$(netns_name "$i")" "$@"; }

# netns_bg I LOGFILE CMD...   run in the background inside host I, stdout+stderr to
# LOGFILE (use /dev/null to drop). PID recorded for cleanup and left in NETNS_LAST_PID.
# Call it directly (not in $(...)) so the PID is recorded in this shell.
netns_bg() {
    local i="$1" log="$2"; shift 2
    ip netns exec "$(netns_name "$i")" "$@" </dev/null >"$log" 2>&1 &
    NETNS_LAST_PID=$!
    NETNS_PIDS+=("$NETNS_LAST_PID")
}

# netns_block_mcast v4|v6 HOST...   drop that multicast (LocalSend's groups) in and out of the hosts, as
# a network that filters multicast does; the route goes too. netns_unblock_mcast undoes it.
netns_block_mcast() {
    local fam="$1" i ns; shift
    for i in "$@"; do
        ns="$(netns_name "$i")"
        if [ "$fam" = v4 ]; then
            ip -n "$ns" route del 224.0.0.0/4 dev eth0 2>/dev/null
            ip netns exec "$ns" iptables-legacy -I OUTPUT -d 224.0.0.0/4 -j DROP
            ip netns exec "$ns" iptables-legacy -I INPUT -d 224.0.0.0/4 -j DROP
        else
            ip netns exec "$ns" ip6tables-legacy -I OUTPUT -d ff12::/16 -j DROP
            ip netns exec "$ns" ip6tables-legacy -I INPUT -d ff12::/16 -j DROP
        fi
    done
}
netns_unblock_mcast() {
    local i ns
    for i in "$@"; do
        ns="$(netns_name "$i")"
        ip -n "$ns" route replace 224.0.0.0/4 dev eth0
        ip netns exec "$ns" iptables-legacy -F
        ip netns exec "$ns" ip6tables-legacy -F
    done
}

# netns_kill PID [GRACE_SECONDS]   TERM, wait up to GRACE (default 3), then KILL
netns_kill() {
    local pid="$1" grace="${2:-3}" t
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((t = 0; t < grace * 10; t++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

# netns_wait_tcp I ADDR PORT TIMEOUT_SECONDS   wait until ADDR:PORT accepts, from host I
netns_wait_tcp() {
    local i="$1" addr="$2" port="$3" to="${4:-10}" t
    for ((t = 0; t < to * 10; t++)); do
        if ip netns exec "$(netns_name "$i")" timeout 1 bash -c \
            "exec 3<>/dev/tcp/$addr/$port" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    netns_log "timeout waiting for $addr:$port from host $i"
    return 1
}

# netns_wait_file PATH TIMEOUT_SECONDS [MIN_BYTES]   wait until PATH exists (and is big enough)
netns_wait_file() {
    local f="$1" to="${2:-10}" min="${3:-0}" t
    for ((t = 0; t < to * 10; t++)); do
        if [ -f "$f" ] && [ "$(stat -c %s "$f")" -ge "$min" ]; then return 0; fi
        sleep 0.1
    done
    return 1
}

# netns_wait_log FILE REGEX TIMEOUT_SECONDS   wait until FILE has a line matching REGEX
netns_wait_log() {
    local f="$1" re="$2" to="${3:-10}" t
    for ((t = 0; t < to * 10; t++)); do
        grep -qE -- "$re" "$f" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# netns_cleanup   kill recorded PIDs (and anything left inside our namespaces), delete them
netns_cleanup() {
    local pid ns
    for pid in "${NETNS_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${NETNS_PIDS[@]}"; do netns_kill "$pid" 3; done
    NETNS_PIDS=()
    for ns in "${NETNS_CREATED[@]}"; do
        # stragglers (children of what we started) live only in namespaces we created
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    done
    for ns in "${NETNS_CREATED[@]}"; do
        ip netns del "$ns" 2>/dev/null
    done
    NETNS_CREATED=()
    NETNS_COUNT=0
    return 0
}
