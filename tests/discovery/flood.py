#!/usr/bin/env python3
"""A hostile neighbour for discovery tests (run it inside a test namespace only).

For --seconds it:
  * sends multicast datagrams to the group: malformed bytes, oversized JSON, and valid
    announcements with fresh random fingerprints that ask to be answered on --answer-port;
  * POSTs v2/register to --target over HTTPS with random fingerprints, malformed JSON and
    oversized bodies, from several threads;
  * counts the TCP connections that arrive on --answer-port (answers it provoked).
Prints one JSON object with the counts.
"""
import argparse
import json
import os
import socket
import ssl
import struct
import threading
import time


def rand_fp():
    return os.urandom(32).hex().upper()


def datagrams(group, port, until, iface_addr, stats):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    if iface_addr:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(iface_addr))
    i = 0
    while time.time() < until:
        kind = i % 4
        if kind == 0:
            data = os.urandom(200)
        elif kind == 1:
            data = json.dumps({"alias": "x" * 60000, "fingerprint": rand_fp(), "announce": True}).encode()
        elif kind == 2:
            data = b'{"alias": "broken", "fingerprint": '
        else:
            data = json.dumps({
                "alias": "flood-%d" % i, "version": "2.1", "deviceModel": "x", "deviceType": "mobile",
                "fingerprint": rand_fp(), "port": stats["answer_port"], "protocol": "https", "download": False,
                "announce": True,
            }).encode()
        try:
            s.sendto(data, (group, port))
            stats["datagrams"] += 1
        except OSError:
            stats["datagram_errors"] += 1
        i += 1
        if i % 200 == 0:
            time.sleep(0.01)


def registers(target, port, until, stats, lock):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    i = 0
    while time.time() < until:
        kind = i % 5
        if kind == 0:
            body = b"{not json"
        elif kind == 1:
            body = b'{"alias":"' + b"y" * 200000 + b'","fingerprint":"AA"}'
        else:
            body = json.dumps({"alias": "reg-flood", "version": "2.1", "fingerprint": rand_fp(),
                               "port": 1, "protocol": "https", "deviceType": "web"}).encode()
        i += 1
        try:
            raw = socket.create_connection((target, port), timeout=2)
            c = ctx.wrap_socket(raw)
            c.settimeout(2)
            req = (b"POST /api/localsend/v2/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n")
            c.sendall(req)
            try:
                c.sendall(body)
            except OSError:
                pass
            resp = c.recv(64)
            c.close()
            with lock:
                stats["registers"] += 1
                if resp.startswith(b"HTTP/1.1 200"):
                    stats["registers_ok"] += 1
        except OSError:
            with lock:
                stats["register_errors"] += 1


def count_answers(port, until, stats):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(128)
    srv.settimeout(0.2)
    while time.time() < until + 1.0:
        try:
            c, _ = srv.accept()
            stats["answers"] += 1
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
        except socket.timeout:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--group", default="224.0.0.167")
    ap.add_argument("--port", type=int, default=53317)
    ap.add_argument("--iface-addr")
    ap.add_argument("--target", help="register flood target IP")
    ap.add_argument("--target-port", type=int, default=53317)
    ap.add_argument("--answer-port", type=int, default=53399)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=8)
    a = ap.parse_args()
    stats = {"datagrams": 0, "datagram_errors": 0, "registers": 0, "registers_ok": 0, "register_errors": 0,
             "answers": 0, "answer_port": a.answer_port}
    lock = threading.Lock()
    until = time.time() + a.seconds
    threads = [threading.Thread(target=count_answers, args=(a.answer_port, until, stats)),
               threading.Thread(target=datagrams, args=(a.group, a.port, until, a.iface_addr, stats))]
    if a.target:
        threads += [threading.Thread(target=registers, args=(a.target, a.target_port, until, stats, lock))
                    for _ in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
