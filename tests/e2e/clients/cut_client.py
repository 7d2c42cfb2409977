#!/usr/bin/env python3
"""A producer caught by a collector's stop in the middle of an event, for
tests/e2e/test_stop_whole.sh (issue 10: a stop stores only whole events).

cut_client.py KIND PATH --ready-file F [--max-seconds 60]
    Connects, reads the greeting, sends the whole events of KIND followed by
    the start of one more event it never finishes, writes "PID WHOLE CUT"
    to F (its process id, the whole events sent, the bytes of the
    unfinished one), then waits until the collector closes the connection
    (or MAX_SECONDS pass) and exits 0. KIND:
      text    3 lines, then "unfinished" without a newline (10 bytes)
      binary  magic, hello "cut-bin", 3 frames, then 50 bytes of a 124-byte
              frame (its header and 26 bytes of payload)
      header  magic, hello "cut-hdr", 2 frames, then 10 bytes of a header
      hello   magic and 20 bytes of the hello frame "cut-hello" (no event)
      magic   the first 4 bytes of the binary magic (mode still undecided)
      eof     2 lines and "last" without a newline, then ends its stream
              (shutdown for writing): "last" is an event (CUT is 0)
"""
import argparse
import os
import socket
import struct
import sys
import time

MAGIC = b"\x89SLU\r\n\x1a\n"


def frame(ftype, seq, payload):
    return struct.pack("<IHHQQ", 24 + len(payload), ftype, 0, seq,
                       time.time_ns()) + payload


def hello(name):
    n = name.encode()
    return frame(0xFF00, 0, struct.pack("<IHH", os.getpid(), len(n), 0) + n)


def build(kind):
    """(bytes to send, whole events, bytes of the unfinished event)."""
    if kind == "text":
        return b"line 0\nline 1\nline 2\nunfinished", 3, 10
    if kind == "eof":
        return b"first\nsecond\nlast", 3, 0
    if kind == "magic":
        return MAGIC[:4], 0, 4
    if kind == "hello":
        h = hello("cut-hello")
        return MAGIC + h[:20], 0, 20
    if kind == "binary":
        head = MAGIC + hello("cut-bin")
        body = b"".join(frame(1, i, bytes([65 + i]) * 100) for i in range(3))
        return head + body + frame(1, 3, b"z" * 100)[:50], 3, 50
    if kind == "header":
        head = MAGIC + hello("cut-hdr")
        body = b"".join(frame(2, i, b"h" * 40) for i in range(2))
        return head + body + frame(2, 2, b"h" * 40)[:10], 2, 10
    raise SystemExit("unknown kind " + kind)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind")
    ap.add_argument("path")
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--max-seconds", type=float, default=60)
    a = ap.parse_args()
    data, whole, cut = build(a.kind)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(a.path)
    g = b""
    while not g.endswith(b"\0"):
        b = s.recv(64)
        if not b:
            sys.exit("no greeting")
        g += b
    s.sendall(data)
    if a.kind == "eof":
        s.shutdown(socket.SHUT_WR)
    tmp = a.ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d %d %d\n" % (os.getpid(), whole, cut))
    os.rename(tmp, a.ready_file)
    # Until the collector closes: recv gives b"" (or an error) then.
    s.settimeout(a.max_seconds)
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    s.close()


if __name__ == "__main__":
    main()
