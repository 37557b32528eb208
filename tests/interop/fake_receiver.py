#!/usr/bin/env python3
"""A logging LocalSend v2 receiver stub, to see what a third-party *sender* puts on the wire.

Run it only inside a test network namespace (tests/netns.sh). Every request is printed as one
JSON line: method, path, headers, client certificate (fingerprint, key type, signature algorithm)
and the body (JSON bodies in full, upload bodies as size + sha256).

  fake_receiver.py --port 53317 [--https --cert c.pem --key k.pem]
                   [--client-ca sender-cert.pem [--require-client-cert]] [--status-prepare 200]

register/info answer {"alias":"x",...}; prepare-upload answers {"sessionId":"s1","files":{id:"t<n>"}}
echoing the file ids it was given; upload/cancel answer 200 with an empty body.
"""
import argparse
import hashlib
import json
import ssl
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

INFO = {"alias": "x", "version": "2.1", "deviceModel": None, "deviceType": "desktop",
        "fingerprint": "abc", "download": False}


def cert_summary(der):
    if not der:
        return None
    out = {"sha256": hashlib.sha256(der).hexdigest().upper()}
    try:
        txt = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-text"],
                             input=der, capture_output=True, timeout=5).stdout.decode()
        for line in txt.splitlines():
            line = line.strip()
            for key in ("Signature Algorithm:", "Public Key Algorithm:", "Subject:",
                        "Public-Key:", "NIST CURVE:", "ASN1 OID:", "Not After :"):
                if line.startswith(key):
                    out.setdefault(key.rstrip(": "), line[len(key):].strip())
    except Exception as e:  # pragma: no cover
        out["error"] = str(e)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=53317)
    ap.add_argument("--https", action="store_true")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--client-ca", metavar="PEM",
                    help="request a client certificate and trust this (self-signed) one; "
                         "Python's ssl cannot accept arbitrary self-signed client certs, "
                         "so pass the sender's own cert.pem here")
    ap.add_argument("--require-client-cert", action="store_true",
                    help="with --client-ca: fail the handshake when none is sent")
    ap.add_argument("--status-prepare", type=int, default=200)
    args = ap.parse_args()

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def _read_body(self):
            te = self.headers.get("Transfer-Encoding", "").lower()
            if "chunked" in te:
                data = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        break
                    data += self.rfile.read(size)
                    self.rfile.read(2)
                return data
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def _reply(self, status, obj=None):
            body = b"" if obj is None else json.dumps(obj).encode()
            self.send_response(status)
            if obj is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _handle(self):
            url = urlparse(self.path)
            body = self._read_body()
            rec = {"method": self.command, "path": url.path, "query": url.query,
                   "from": self.client_address[0], "headers": dict(self.headers.items())}
            der = None
            if hasattr(self.connection, "getpeercert"):
                der = self.connection.getpeercert(binary_form=True)
                rec["tls"] = self.connection.version()
                rec["client_cert"] = cert_summary(der)
            parsed = None
            if url.path.endswith("/upload") or url.path.endswith("/send"):
                rec["body_len"] = len(body)
                rec["body_sha256"] = hashlib.sha256(body).hexdigest()
            elif body:
                try:
                    parsed = json.loads(body)
                    rec["json"] = parsed
                except ValueError:
                    rec["body"] = body[:500].decode("utf-8", "replace")
            print(json.dumps(rec), flush=True)

            p = url.path
            if p.endswith("/register") or p.endswith("/info"):
                return self._reply(200, INFO)
            if p.endswith("/prepare-upload") or p.endswith("/send-request"):
                if args.status_prepare != 200:
                    return self._reply(args.status_prepare)
                files = (parsed or {}).get("files") or {}
                tokens = {fid: f"t{i + 1}" for i, fid in enumerate(files)}
                if p.endswith("/send-request"):
                    return self._reply(200, tokens)
                return self._reply(200, {"sessionId": "s1", "files": tokens})
            if p.endswith("/upload") or p.endswith("/cancel") or p.endswith("/send"):
                return self._reply(200)
            return self._reply(404, {"message": "Not found"})

        do_GET = do_POST = do_PUT = _handle

    srv = ThreadingHTTPServer(("0.0.0.0", args.port), H)
    srv.daemon_threads = True
    if args.https:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        if args.client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED if args.require_client_cert else ssl.CERT_OPTIONAL
            ctx.load_verify_locations(cafile=args.client_ca)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(json.dumps({"listening": args.port, "https": args.https}), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
