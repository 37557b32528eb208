#!/usr/bin/env python3
"""Send files through a running localsendd to IP:PORT with a chosen scheme, and wait.

`localsendctl send --to IP` has no --port/--protocol flags (it assumes 53317 and tries https
then http); the daemon's control API does take them. Run with the venv's python:

  .tools/venv/bin/python tests/interop/lsd_send.py --socket S --to 10.213.5.11 \
      [--port 53317] [--protocol https|http] [--pin 1234] [--timeout 60] FILE...

Prints the daemon's final result as JSON; exit 0 when kind == "sent", 1 otherwise,
2 on timeout, 3 when the daemon is unreachable.
"""
import argparse
import json
import os
import socket
import sys
import time

from localsendd.client import CallFailed, Client, DaemonUnavailable


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--to", required=True, help="IP (or alias/fingerprint of a known peer)")
    ap.add_argument("--port", type=int, default=53317)
    ap.add_argument("--protocol", choices=("https", "http"), default="https")
    ap.add_argument("--pin", default="")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    started = time.time()
    deadline = time.monotonic() + a.timeout
    try:
        with Client(a.socket, timeout=a.timeout) as c:
            c.call("send", to=a.to, port=a.port, protocol=a.protocol, pin=a.pin,
                   files=[os.path.abspath(f) for f in a.files])
            for frame in c.events():
                if time.monotonic() > deadline:
                    break
                if frame.get("type") != "state":
                    continue
                res = (frame.get("data") or {}).get("result")
                if res and (res.get("at") or 0) >= started:
                    print(json.dumps(res))
                    return 0 if res.get("kind") == "sent" else 1
    except DaemonUnavailable as e:
        print(f"daemon unavailable: {e}", file=sys.stderr)
        return 3
    except CallFailed as e:
        print(json.dumps({"kind": "error", "code": e.code, "detail": e.message}))
        return 1
    except socket.timeout:
        pass
    print(json.dumps({"kind": "timeout"}))
    return 2


if __name__ == "__main__":
    sys.exit(main())
