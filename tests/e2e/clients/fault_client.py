#!/usr/bin/env python3
"""Misbehaving and massed clients for the fault suite (tests/e2e/test_*.sh).
Plain sockets and text lines only, like any user's script; every mode ends
by itself (bounded loops, bounded waits).

fault_client.py slow PATH --stop-file F [--interval 0.1] [--max-seconds 60]
    Reads the greeting, prints "connected", then sends the lines
    "slow 0\\n", "slow 1\\n", ... one byte every INTERVAL seconds until F
    exists (checked at line boundaries) or MAX_SECONDS pass; then closes and
    prints "lines=N".
fault_client.py churn PATH --idle N --lines M
    N times: connect and close without sending a byte; then M times:
    connect, send "churn I\\n", close. Neither phase reads the greeting.
    Prints "idle=N lines=M".
fault_client.py many PATH --count N --stop-file F [--fill-file G --fill BYTES]
                   [--max-seconds 60]
    Opens N connections one after another, reading each one's greeting; an
    accepted connection sends "many I\\n" (I = its index) and stays open, a
    refused one (greeting "SLUICE/1 error=...") is counted. Prints
    "accepted=A refused=R" and the refusal greetings seen, then holds every
    connection until F exists, and closes them all. With --fill-file: once
    G exists, every held connection sends BYTES more bytes without a
    newline (an unfinished line the collector must buffer), then "filled"
    is printed; at the close each becomes a final event.
fault_client.py hold PATH --count N --stop-file F [--max-seconds 60]
    Opens N connections without reading greetings (a connection the
    collector has not accepted yet waits in the listen backlog), sends
    "held I\\n" on each, prints "held=N", waits until F exists, closes all.
"""
import argparse
import os
import resource
import socket
import sys
import time


def connect(path, retries=200):
    # A full listen backlog answers EAGAIN on Unix sockets: wait and retry.
    for _ in range(retries):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except BlockingIOError:
            s.close()
            time.sleep(0.01)
    sys.exit("cannot connect: backlog stays full")


def read_greeting(s):
    g = b""
    while not g.endswith(b"\0"):
        b = s.recv(64)
        if not b:
            break
        g += b
    return g


def slow(a):
    s = connect(a.path)
    g = read_greeting(s)
    if not g.startswith(b"SLUICE/1 max="):
        sys.exit("unexpected greeting %r" % g)
    print("connected", flush=True)
    deadline = time.monotonic() + a.max_seconds
    n = 0
    while not os.path.exists(a.stop_file) and time.monotonic() < deadline:
        for byte in b"slow %d\n" % n:
            s.sendall(bytes([byte]))
            time.sleep(a.interval)
        n += 1
    s.close()
    print("lines=%d" % n, flush=True)


def churn(a):
    for _ in range(a.idle):
        connect(a.path).close()
    for i in range(a.lines):
        s = connect(a.path)
        s.sendall(b"churn %d\n" % i)
        s.close()
    print("idle=%d lines=%d" % (a.idle, a.lines), flush=True)


def many(a):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < a.count + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    held, refusals = [], {}
    for i in range(a.count):
        s = connect(a.path)
        g = read_greeting(s)
        if g.startswith(b"SLUICE/1 max="):
            s.sendall(b"many %d\n" % i)
            held.append(s)
        else:
            refusals[g] = refusals.get(g, 0) + 1
            s.close()
    print("accepted=%d refused=%d" % (len(held), sum(refusals.values())))
    for g, k in sorted(refusals.items()):
        print("refusal %r x%d" % (g, k))
    sys.stdout.flush()
    deadline = time.monotonic() + a.max_seconds
    filled = a.fill_file is None
    while not os.path.exists(a.stop_file) and time.monotonic() < deadline:
        if not filled and os.path.exists(a.fill_file):
            for s in held:
                s.sendall(b"f" * a.fill)
            print("filled", flush=True)
            filled = True
        time.sleep(0.05)
    for s in held:
        s.close()


def hold(a):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < a.count + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    held = []
    for i in range(a.count):
        s = connect(a.path)
        s.sendall(b"held %d\n" % i)
        held.append(s)
    print("held=%d" % len(held), flush=True)
    deadline = time.monotonic() + a.max_seconds
    while not os.path.exists(a.stop_file) and time.monotonic() < deadline:
        time.sleep(0.05)
    for s in held:
        s.close()


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("slow")
    p.add_argument("path")
    p.add_argument("--stop-file", required=True)
    p.add_argument("--interval", type=float, default=0.1)
    p.add_argument("--max-seconds", type=float, default=60)
    p = sub.add_parser("churn")
    p.add_argument("path")
    p.add_argument("--idle", type=int, default=0)
    p.add_argument("--lines", type=int, default=0)
    p = sub.add_parser("many")
    p.add_argument("path")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--stop-file", required=True)
    p.add_argument("--fill-file")
    p.add_argument("--fill", type=int, default=60000)
    p.add_argument("--max-seconds", type=float, default=60)
    p = sub.add_parser("hold")
    p.add_argument("path")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--stop-file", required=True)
    p.add_argument("--max-seconds", type=float, default=60)
    a = ap.parse_args()
    {"slow": slow, "churn": churn, "many": many, "hold": hold}[a.mode](a)


if __name__ == "__main__":
    main()
