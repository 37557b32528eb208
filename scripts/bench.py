#!/usr/bin/env python3
"""Ferry's benchmark (`make bench`): every figure of docs/PERFORMANCE.md, measured side by side
in one run on loopback (discovery in a namespace pair, as root).

Release binaries: target/release/ferry and target/release/ferry-raw-baseline.
Environment: RUNS (default 3), SIZE_MIB (1024), SMALL_FILES (10000), BIG_RSS_MIB (4096),
TREE_DIR (where the `tree` part writes; default the work folder), FILES_BIG (the `tree` part again
with this many files, e.g. 100000, RUNS_BIG times, default 1; off by default: minutes on a small machine),
SKIP (comma-separated parts to leave out: raw,big,small,medium,rss,startup,discovery,resume,wire,tree).
`wire` and `tree` compare with the system's tools in the same run (socat, openssl, tar);
FERRY_B=<another ferry binary> adds that build's HTTP and HTTPS runs to `wire` and its HTTPS run to
`tree`, interleaved (A/B).
Prints a table of medians and writes target/bench/results.json (one key per figure).
Only loopback traffic here; scripts/bench-discovery.sh makes its own namespaces.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FERRY = os.environ.get("FERRY_BIN", os.path.join(ROOT, "target/release/ferry"))
RAW = os.path.join(ROOT, "target/release/ferry-raw-baseline")
FERRY_B = os.environ.get("FERRY_B")  # optional second build for the wire part's A/B
RUNS = int(os.environ.get("RUNS", "3"))
SIZE_MIB = int(os.environ.get("SIZE_MIB", "1024"))
SMALL_FILES = int(os.environ.get("SMALL_FILES", "10000"))
FILES_BIG = int(os.environ.get("FILES_BIG", "0"))  # the tree part again with this many files (e.g. 100000)
RUNS_BIG = int(os.environ.get("RUNS_BIG", "1"))
BIG_RSS_MIB = int(os.environ.get("BIG_RSS_MIB", "4096"))
SKIP = set(filter(None, os.environ.get("SKIP", "").split(",")))
STEP_TIMEOUT = 900  # seconds, for any one process

results = {}
notes = []
load = {}  # part -> 1-minute load average before and after it


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def median(xs):
    return round(statistics.median(xs), 1)


def workdir():
    """Files live in RAM when /dev/shm has room, so the disk does not set the pace."""
    need = (BIG_RSS_MIB * 2 + SIZE_MIB * 3 + 2048) * 1024 * 1024
    for base in ("/dev/shm", tempfile.gettempdir()):
        try:
            if shutil.disk_usage(base).free > need:
                return tempfile.mkdtemp(prefix="ferry-bench.", dir=base), base
        except OSError:
            pass
    return tempfile.mkdtemp(prefix="ferry-bench."), tempfile.gettempdir()


W, BASE = workdir()
children = []


def cleanup():
    for p in children:
        if p.poll() is None:
            p.kill()
            p.wait()
    shutil.rmtree(W, ignore_errors=True)


class Receiver:
    """`ferry receive --json --yes --once` on 127.0.0.1; timestamps every event it prints."""

    def __init__(self, cfg, out, http=False, once=True, binary=None):
        args = [binary or FERRY, "--json", "--config-dir", cfg, "receive", "--no-discovery", "--bind", "127.0.0.1",
                "--port", "0", "--yes", "--dir", out]
        if once:
            args.append("--once")
        if http:
            args.append("--http")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        children.append(self.proc)
        self.rss = PeakRss(self.proc.pid)
        self.events = []  # (monotonic time, event)
        self.ready = threading.Event()
        self.port = None
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(30):
            raise RuntimeError("receiver did not start")

    def _read(self):
        for line in self.proc.stdout:
            t = time.monotonic()
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("event") == "ready":
                self.port = e["port"]
                self.ready_at = t
                self.ready.set()
            elif e.get("event") in ("fileDone", "sessionStarted", "sessionFinished", "fileFailed"):
                self.events.append((t, e))

    def wait(self):
        try:
            self.proc.wait(timeout=STEP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise RuntimeError("receiver did not finish")

    def times(self, name):
        return [t for t, e in self.events if e.get("event") == name]


class PeakRss:
    """Follows a process's VmHWM (peak resident memory of its own image; a child's rusage
    would also count the Python process it was forked from)."""

    def __init__(self, pid):
        self.pid, self.kib, self.stop = pid, 0, threading.Event()
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self):
        while not self.stop.is_set():
            try:
                with open(f"/proc/{self.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            self.kib = max(self.kib, int(line.split()[1]))
            except (OSError, ValueError):
                return
            time.sleep(0.01)

    def mib(self):
        self.stop.set()
        return round(self.kib / 1024, 1)


def send(cfg, paths, port, http=False, extra=()):
    """Runs `ferry send`; returns (seconds, peak RSS follower)."""
    args = [FERRY, "--config-dir", cfg, "send", *paths, "--to", f"127.0.0.1:{port}", *extra]
    if http:
        args.append("--http")
    t0 = time.monotonic()
    err = tempfile.TemporaryFile()  # a file, not a pipe: a full pipe would stall the sender
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
    children.append(p)
    rss = PeakRss(p.pid)
    try:
        code = p.wait(timeout=STEP_TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        raise RuntimeError("send timed out")
    secs = time.monotonic() - t0
    if code != 0:
        err.seek(0)
        raise RuntimeError(f"send failed ({code}): {err.read().decode(errors='replace')[-400:]}")
    rss.stop.set()
    return secs, rss


def same_files(a, b):
    return subprocess.run(["diff", "-rq", a, b], stdout=subprocess.DEVNULL).returncode == 0


def make_file(path, mib, seed=None):
    """Random bytes (copied from the bytes `seed` when given, which is faster)."""
    with open(path, "wb") as f:
        if seed:
            left = mib * 1024 * 1024
            while left:
                k = min(left, len(seed))
                f.write(seed[:k])
                left -= k
        else:
            for _ in range(mib):
                f.write(os.urandom(1024 * 1024))


def transfer(paths, http=False, extra=()):
    """One Ferry -> Ferry transfer into a fresh folder. Returns (secs, receiver, sender's PeakRss)."""
    out = tempfile.mkdtemp(dir=W, prefix="in.")
    r = Receiver(os.path.join(W, "recv-id"), out, http=http)
    secs, ru = send(os.path.join(W, "send-id"), paths, r.port, http=http, extra=extra)
    r.wait()
    for p in paths:
        dest = os.path.join(out, os.path.basename(p))
        ok = same_files(p, dest) if os.path.isdir(p) else subprocess.run(["cmp", "-s", p, dest]).returncode == 0
        if not ok:
            raise RuntimeError(f"{p}: received copy differs")
    shutil.rmtree(out)
    return secs, r, ru


def part_raw():
    for mode in ("tcp", "tls"):
        vals = []
        for _ in range(RUNS):
            out = subprocess.run([RAW, mode, str(SIZE_MIB)], capture_output=True, text=True, timeout=STEP_TIMEOUT)
            vals.append(float(out.stdout.strip()))
        log(f"raw {mode} {SIZE_MIB} MiB: {vals} MB/s")
        results[f"raw_{mode}_mb_s"] = median(vals)


def part_big(big):
    size = os.path.getsize(big)
    for proto in ("https", "http"):
        vals = []
        for _ in range(RUNS):
            secs, _, _ = transfer([big], http=proto == "http")
            vals.append(size / secs / 1e6)
        log(f"ferry {proto} {SIZE_MIB} MiB: {[round(v, 1) for v in vals]} MB/s")
        results[f"ferry_{proto}_1gib_mb_s"] = median(vals)
    if "raw_tls_mb_s" in results:
        results["ferry_https_to_raw_tls_ratio"] = round(results["ferry_https_1gib_mb_s"] / results["raw_tls_mb_s"], 3)
        results["ferry_http_to_raw_tcp_ratio"] = round(results["ferry_http_1gib_mb_s"] / results["raw_tcp_mb_s"], 3)


def part_resume(big):
    """A transfer of SIZE_MIB broken at about 50 % (the sender SIGKILLed) and sent again: the
    second send's time against a whole transfer's, and the bytes it sent again."""
    size = os.path.getsize(big)
    full, again, resent = [], [], []
    for _ in range(RUNS):
        secs, _, _ = transfer([big])
        full.append(secs)
        out = tempfile.mkdtemp(dir=W, prefix="in.")
        r = Receiver(os.path.join(W, "recv-id"), out, once=False)
        cfg = os.path.join(W, "send-id")
        p = subprocess.Popen([FERRY, "--config-dir", cfg, "send", big, "--to", f"127.0.0.1:{r.port}"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        children.append(p)

        def held():
            sizes = [os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs if f.endswith(".partial")]
            return max(sizes, default=0)

        deadline = time.monotonic() + STEP_TIMEOUT
        while held() < size // 2 and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        p.kill()
        p.wait()
        # What the receiver keeps once it has seen the break.
        last, stable_since = -1, time.monotonic()
        while time.monotonic() - stable_since < 0.5:
            h = held()
            if h != last:
                last, stable_since = h, time.monotonic()
            time.sleep(0.05)
        secs, _ = send(cfg, [big], r.port)
        r.proc.kill()
        r.proc.wait()
        if subprocess.run(["cmp", "-s", big, os.path.join(out, os.path.basename(big))]).returncode != 0:
            raise RuntimeError("resumed copy differs")
        shutil.rmtree(out)
        again.append(secs)
        resent.append((size - last) / (1024 * 1024))
    log(f"resume {SIZE_MIB} MiB broken at ~50 %: full {[round(x, 2) for x in full]} s, "
        f"again {[round(x, 2) for x in again]} s, sent again {[round(x) for x in resent]} MiB")
    results["resume_full_secs"] = round(statistics.median(full), 2)
    results["resume_after_break_secs"] = round(statistics.median(again), 2)
    results["resume_after_break_to_full_ratio"] = round(statistics.median(again) / statistics.median(full), 3)
    results["resume_after_break_sent_mib"] = median(resent)


def part_small():
    d = os.path.join(W, "small")
    os.makedirs(d)
    for i in range(SMALL_FILES):
        with open(os.path.join(d, f"f{i:05d}.bin"), "wb") as f:
            f.write(os.urandom(4096))
    overall, first, last = [], [], []
    k = min(1000, SMALL_FILES // 2)
    for _ in range(RUNS):
        secs, r, _ = transfer([d])
        done = sorted(r.times("fileDone"))
        start = r.times("sessionStarted")[0]
        if len(done) != SMALL_FILES:
            raise RuntimeError(f"{len(done)} of {SMALL_FILES} small files reported")
        overall.append(SMALL_FILES / secs)
        first.append(k / (done[k - 1] - start))
        last.append(k / (done[-1] - done[-k - 1]))
    log(f"small files: overall {[round(v) for v in overall]}, first {k} {[round(v) for v in first]}, "
        f"last {k} {[round(v) for v in last]} files/s")
    results["small_4k_files_per_s"] = median(overall)
    results["small_4k_first_1000_files_per_s"] = median(first)
    results["small_4k_last_1000_files_per_s"] = median(last)
    results["small_4k_last_to_first_ratio"] = round(results["small_4k_last_1000_files_per_s"] / results["small_4k_first_1000_files_per_s"], 3)
    shutil.rmtree(d)


def part_medium(seed):
    d = os.path.join(W, "medium")
    os.makedirs(d)
    for i in range(100):
        make_file(os.path.join(d, f"m{i:03d}.bin"), 10, seed=seed)
    vals = []
    for _ in range(RUNS):
        secs, _, _ = transfer([d])
        vals.append(100 * 10 * 1024 * 1024 / secs / 1e6)
    log(f"100 x 10 MiB: {[round(v, 1) for v in vals]} MB/s")
    results["medium_100x10mib_mb_s"] = median(vals)
    results["medium_100x10mib_files_per_s"] = round(results["medium_100x10mib_mb_s"] * 1e6 / (10 * 1024 * 1024), 2)
    shutil.rmtree(d)


def part_rss(seed):
    f = os.path.join(W, "huge.bin")
    make_file(f, BIG_RSS_MIB, seed=seed)
    secs, r, rss = transfer([f])
    os.unlink(f)
    results["rss_4gib_sender_mib"] = rss.mib()
    results["rss_4gib_receiver_mib"] = r.rss.mib()
    results["rss_4gib_https_mb_s"] = round(BIG_RSS_MIB * 1024 * 1024 / secs / 1e6, 1)
    log(f"{BIG_RSS_MIB} MiB: sender peak {results['rss_4gib_sender_mib']} MiB, "
        f"receiver peak {results['rss_4gib_receiver_mib']} MiB, {results['rss_4gib_https_mb_s']} MB/s")


def part_startup():
    """Process start to the `ready` line (server listening), with and without an identity."""
    def once(cfg):
        out = os.path.join(W, "startup-in")
        r = Receiver(cfg, out, once=False)
        ms = (r.ready_at - r.started) * 1000
        r.proc.terminate()
        r.wait()
        return ms
    existing = os.path.join(W, "startup-id")
    once(existing)  # makes the identity
    runs = max(RUNS, 5)
    warm = [once(existing) for _ in range(runs)]
    fresh = [once(os.path.join(W, f"startup-new-{i}")) for i in range(runs)]
    log(f"ready: existing identity {[round(v, 1) for v in warm]} ms, new identity {[round(v, 1) for v in fresh]} ms")
    results["ready_existing_identity_ms"] = median(warm)
    results["ready_new_identity_ms"] = median(fresh)


def part_discovery():
    if os.geteuid() != 0:
        notes.append("discovery latency skipped (needs root for network namespaces)")
        return
    out = subprocess.run(["bash", os.path.join(ROOT, "scripts/bench-discovery.sh")], capture_output=True, text=True,
                         env={**os.environ, "FERRY_BIN": FERRY}, timeout=STEP_TIMEOUT)
    sys.stderr.write(out.stderr)
    try:
        results.update(json.loads(out.stdout))
    except ValueError:
        notes.append("discovery latency failed")


# --- Side-by-side comparisons with the operating system's own tools (socat, OpenSSL, tar) ----

def wait_usage(p, deadline):
    """Waits for a child and returns (monotonic exit time, its CPU seconds: user + system), from
    wait4's rusage of that one process."""
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            return time.monotonic(), ru.ru_utime + ru.ru_stime
        if time.monotonic() > deadline:
            p.kill()
            raise RuntimeError(f"{p.args[0]} did not finish")
        time.sleep(0.002)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tls_cert():
    """A self-signed P-256 certificate for the OpenSSL pipe (made once)."""
    cert, key = os.path.join(W, "pipe-cert.pem"), os.path.join(W, "pipe-key.pem")
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                        "-subj", "/CN=bench", "-days", "2", "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def pipe_once(big, tls):
    """`socat` moving the file through one loopback TCP connection into a file, plain or through
    OpenSSL (TLS 1.3, the same AES-256-GCM Ferry negotiates). Returns (secs, sender CPU s, receiver CPU s)."""
    out = os.path.join(W, "pipe-out.bin")
    port = free_port()
    buf = ["-b", str(256 * 1024)]
    if tls:
        cert, key = tls_cert()
        listen = f"OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,cert={cert},key={key},verify=0"
        connect = f"OPENSSL:127.0.0.1:{port},verify=0,retry=500,interval=0.01"
    else:
        listen = f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr"
        connect = f"TCP:127.0.0.1:{port},retry=500,interval=0.01"
    r = subprocess.Popen(["socat", "-u", *buf, listen, f"CREATE:{out}"], stderr=subprocess.DEVNULL)
    children.append(r)
    t0 = time.monotonic()
    s = subprocess.Popen(["socat", "-u", *buf, f"OPEN:{big},rdonly", connect], stderr=subprocess.DEVNULL)
    children.append(s)
    deadline = t0 + STEP_TIMEOUT
    s_end, s_cpu = wait_usage(s, deadline)
    r_end, r_cpu = wait_usage(r, deadline)
    if s.returncode or r.returncode or subprocess.run(["cmp", "-s", big, out]).returncode != 0:
        raise RuntimeError(f"socat pipe ({'tls' if tls else 'tcp'}) failed or its copy differs")
    os.unlink(out)
    return max(s_end, r_end) - t0, s_cpu, r_cpu


def ferry_once(paths, http, binary=None, extra=(), into=None):
    """One `ferry send` into a `ferry receive --once` (both `binary`, default FERRY) with each
    process's CPU seconds. Returns (secs from the sender's start to the exit of both, sender CPU s,
    receiver CPU s, receiver). The receiver saves into a fresh folder in `into` (default: the work folder)."""
    out = tempfile.mkdtemp(dir=into or W, prefix="in.")
    r = Receiver(os.path.join(W, "recv-id"), out, http=http, binary=binary)
    args = [binary or FERRY, "--config-dir", os.path.join(W, "send-id"), "send", *paths, "--to", f"127.0.0.1:{r.port}", *extra]
    if http:
        args.append("--http")
    err = tempfile.TemporaryFile()
    t0 = r.sent_at = time.monotonic()
    s = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
    children.append(s)
    r.sender_rss = PeakRss(s.pid)
    deadline = t0 + STEP_TIMEOUT
    s_end, s_cpu = wait_usage(s, deadline)
    if s.returncode != 0:  # the receiver would wait for its session to time out
        r.proc.kill()
        err.seek(0)
        raise RuntimeError(f"send failed ({s.returncode}): {err.read().decode(errors='replace')[-400:]}")
    r_end, r_cpu = wait_usage(r.proc, deadline)
    for p in paths:
        dest = os.path.join(out, os.path.basename(p))
        ok = same_files(p, dest) if os.path.isdir(p) else subprocess.run(["cmp", "-s", p, dest]).returncode == 0
        if not ok:
            raise RuntimeError(f"{p}: received copy differs")
    shutil.rmtree(out)
    return max(s_end, r_end) - t0, s_cpu, r_cpu, r


def part_wire(big):
    """SIZE_MIB through Ferry over HTTP and HTTPS beside socat pipes of the same file into a file
    (plain TCP, and OpenSSL TLS), interleaved in every run: MB/s, the ratios within each run, and
    CPU seconds per GiB (sender + receiver)."""
    if not shutil.which("socat"):
        notes.append("wire skipped: socat missing (apt-get install socat)")
        return
    size = os.path.getsize(big)
    gib = size / (1 << 30)

    def ferry(http, **kw):
        def run():
            secs, s_cpu, r_cpu, r = ferry_once([big], http, **kw)
            return secs, s_cpu, r_cpu, r.times("sessionStarted")[0] - r.sent_at
        return run

    modes = [("tcp_pipe", lambda: pipe_once(big, False)), ("ferry_http", ferry(True)), ("ferry_https", ferry(False)),
             ("tls_pipe", lambda: pipe_once(big, True)), ("ferry_https_checksum", ferry(False, extra=["--checksum"]))]
    if FERRY_B:  # a second build, interleaved with the first (an A/B of a change in the same run)
        modes += [("b_ferry_http", ferry(True, binary=FERRY_B)), ("b_ferry_https", ferry(False, binary=FERRY_B))]
    got = {m: [] for m, _ in modes}
    for run in range(RUNS):
        for m, fn in modes[run % len(modes):] + modes[:run % len(modes)]:  # a different first one each run
            got[m].append(fn())
    for m, vals in got.items():
        log(f"wire {m} {SIZE_MIB} MiB: {[round(size / v[0] / 1e6) for v in vals]} MB/s, "
            f"CPU s/GiB sender {[round(v[1] / gib, 2) for v in vals]} receiver {[round(v[2] / gib, 2) for v in vals]}")
        results[f"wire_{m}_mb_s"] = median([size / v[0] / 1e6 for v in vals])
        results[f"wire_{m}_cpu_s_per_gib"] = round(statistics.median([(v[1] + v[2]) / gib for v in vals]), 2)
        results[f"wire_{m}_sender_cpu_s_per_gib"] = round(statistics.median([v[1] / gib for v in vals]), 2)
        results[f"wire_{m}_receiver_cpu_s_per_gib"] = round(statistics.median([v[2] / gib for v in vals]), 2)
        if len(vals[0]) > 3:  # Ferry: sender's start to the receiver's session (what comes before the first byte)
            results[f"wire_{m}_start_to_session_secs"] = round(statistics.median([v[3] for v in vals]), 3)

    def ratio(a, b):  # median over runs of a's speed / b's speed in the same run
        return round(statistics.median([got[b][i][0] / got[a][i][0] for i in range(RUNS)]), 3)

    results["wire_ferry_http_to_tcp_pipe_ratio"] = ratio("ferry_http", "tcp_pipe")
    results["wire_ferry_http_to_ferry_https_ratio"] = ratio("ferry_http", "ferry_https")
    results["wire_ferry_https_to_tls_pipe_ratio"] = ratio("ferry_https", "tls_pipe")
    results["wire_ferry_https_to_tls_pipe_cpu_ratio"] = round(
        results["wire_ferry_https_cpu_s_per_gib"] / results["wire_tls_pipe_cpu_s_per_gib"], 3)
    if FERRY_B:
        results["wire_b_to_a_http_ratio"] = ratio("b_ferry_http", "ferry_http")
        results["wire_b_to_a_https_ratio"] = ratio("b_ferry_https", "ferry_https")
        # The same targets for the other build, from the same runs (the A/B of the HTTP targets).
        results["wire_b_ferry_http_to_tcp_pipe_ratio"] = ratio("b_ferry_http", "tcp_pipe")
        results["wire_b_ferry_http_to_ferry_https_ratio"] = ratio("b_ferry_http", "b_ferry_https")


def part_tree():
    """SMALL_FILES files of 4 KiB in folders of 100 (a photo library or a source tree): Ferry ->
    Ferry over HTTPS beside `tar -x` of the same files into the same file system, interleaved;
    files/s, their ratio within each run, and Ferry's first and last 1,000 files/s. Both write
    into TREE_DIR when set (e.g. a folder on disk), else into the work folder (RAM when it fits).
    With FILES_BIG=N (e.g. 100000) the same again with N files (RUNS_BIG runs, default 1) as
    `tree_big_*`, with the first and last 10,000 too."""
    tree_part(SMALL_FILES, "tree_4k", RUNS)
    if FILES_BIG:
        tree_part(FILES_BIG, "tree_big", RUNS_BIG)


def tree_part(count, key, runs):
    into = os.environ.get("TREE_DIR") or W
    os.makedirs(into, exist_ok=True)
    d = os.path.join(W, "tree")
    for i in range(count):
        sub = os.path.join(d, f"d{i // 100:03d}")
        if i % 100 == 0:
            os.makedirs(sub)
        with open(os.path.join(sub, f"f{i:06d}.bin"), "wb") as f:
            f.write(os.urandom(4096))
    archive = os.path.join(W, "tree.tar")
    subprocess.run(["tar", "-cf", archive, "-C", W, "tree"], check=True)
    ks = sorted({min(1000, count // 2), min(10000, count // 2)})
    ferry, tar, ratios, b_ferry, rss, b_rss = [], [], [], [], [], []
    first, last = {k: [] for k in ks}, {k: [] for k in ks}
    for run in range(runs):
        def run_tar():
            out = tempfile.mkdtemp(dir=into, prefix="tar.")
            t0 = time.monotonic()
            subprocess.run(["tar", "-xf", archive, "-C", out], check=True, timeout=STEP_TIMEOUT)
            secs = time.monotonic() - t0
            if not same_files(d, os.path.join(out, "tree")):
                raise RuntimeError("tar copy differs")
            shutil.rmtree(out)
            return count / secs

        def run_ferry(binary=None):
            secs, _, _, r = ferry_once([d], False, into=into, binary=binary)
            done = sorted(r.times("fileDone"))
            if len(done) != count:
                raise RuntimeError(f"{len(done)} of {count} small files reported")
            if binary:
                b_rss.append((r.sender_rss.mib(), r.rss.mib()))
                return count / secs
            start = r.times("sessionStarted")[0]
            rss.append((r.sender_rss.mib(), r.rss.mib()))
            for k in ks:
                first[k].append(k / (done[k - 1] - start))
                last[k].append(k / (done[-1] - done[-k - 1]))
            return count / secs

        if run % 2:
            t = run_tar()
            f = run_ferry()
        else:
            f = run_ferry()
            t = run_tar()
        if FERRY_B:
            try:
                b_ferry.append(run_ferry(FERRY_B) / f)
            except RuntimeError as e:  # an older build may not take this many files
                notes.append(f"{key}: FERRY_B failed: {str(e)[:200]}")
        ferry.append(f)
        tar.append(t)
        ratios.append(f / t)
    k1 = ks[0]
    log(f"tree {count} x 4 KiB: ferry https {[round(v) for v in ferry]}, tar -x {[round(v) for v in tar]} files/s; "
        f"ferry first {k1} {[round(v) for v in first[k1]]}, last {k1} {[round(v) for v in last[k1]]} files/s; "
        f"peak RSS sender/receiver {rss} MiB")
    if b_ferry:
        log(f"tree: FERRY_B files/s to FERRY_BIN's in the same run {[round(v, 3) for v in b_ferry]}, its peak RSS {b_rss} MiB")
        results[f"{key}_b_to_a_ratio"] = round(statistics.median(b_ferry), 3)
        results[f"{key}_b_peak_rss_sender_mib"] = max(a for a, _ in b_rss)
        results[f"{key}_b_peak_rss_receiver_mib"] = max(b for _, b in b_rss)
    results[f"{key}_files"] = count
    results[f"{key}_ferry_https_files_per_s"] = median(ferry)
    results[f"{key}_peak_rss_sender_mib"] = max(a for a, _ in rss)
    results[f"{key}_peak_rss_receiver_mib"] = max(b for _, b in rss)
    results[f"{key}_tar_x_files_per_s"] = median(tar)
    results[f"{key}_ferry_to_tar_ratio"] = round(statistics.median(ratios), 3)
    for k in ks:
        results[f"{key}_ferry_first_{k}_files_per_s"] = median(first[k])
        results[f"{key}_ferry_last_{k}_files_per_s"] = median(last[k])
        results[f"{key}_ferry_last_to_first_{k}_ratio"] = round(statistics.median([b / a for a, b in zip(first[k], last[k])]), 3)
    results[f"{key}_ferry_last_to_first_ratio"] = results[f"{key}_ferry_last_to_first_{ks[0]}_ratio"]
    shutil.rmtree(d)
    os.unlink(archive)
    results[f"{key}_on_disk"] = int(subprocess.run(["stat", "-f", "-c", "%T", into], capture_output=True, text=True).stdout.strip()
                                    not in ("tmpfs", "ramfs"))


def main():
    for b in (FERRY,) if "raw" in SKIP else (FERRY, RAW):
        if not os.access(b, os.X_OK):
            sys.exit(f"bench: {b} missing (make bench builds it)")
    try:
        big = os.path.join(W, "big.bin")
        make_file(big, SIZE_MIB)
        seed = os.urandom(64 * 1024 * 1024)
        parts = [("raw", part_raw), ("big", lambda: part_big(big)), ("small", part_small),
                 ("medium", lambda: part_medium(seed)), ("rss", lambda: part_rss(seed)),
                 ("startup", part_startup), ("discovery", part_discovery), ("resume", lambda: part_resume(big)),
                 ("wire", lambda: part_wire(big)), ("tree", part_tree)]
        for name, fn in parts:
            if name not in SKIP:
                log(f"== {name} (load average {os.getloadavg()[0]:.1f})")
                before = os.getloadavg()[0]
                fn()
                load[name] = [round(before, 2), round(os.getloadavg()[0], 2)]
    finally:
        cleanup()
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    doc = {"machine": {"cores": os.cpu_count(), "cpu": cpu, "files_in": BASE, "runs": RUNS, "size_mib": SIZE_MIB,
                       "load_average_before_after": load}, **results}
    os.makedirs(os.path.join(ROOT, "target/bench"), exist_ok=True)
    with open(os.path.join(ROOT, "target/bench/results.json"), "w") as f:
        json.dump(doc, f, indent=1)
    print(f"\n{'figure (median of ' + str(RUNS) + ')':<44} {'value':>12}")
    units = [("_mb_s", "MB/s"), ("_files_per_s", "files/s"), ("_mib", "MiB"), ("_ms", "ms"), ("_ratio", "x"), ("_secs", "s"),
             ("_per_gib", "s/GiB")]
    for k, v in results.items():
        unit = next((u for suffix, u in units if k.endswith(suffix)), "")
        print(f"{k:<44} {v:>12} {unit}")
    for n in notes:
        print(f"note: {n}")
    print(f"machine: {os.cpu_count()} cores, {cpu}; files in {BASE}; load average before/after each part: {load}")
    print("written: target/bench/results.json")


if __name__ == "__main__":
    main()
