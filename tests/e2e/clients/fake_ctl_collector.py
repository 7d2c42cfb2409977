#!/usr/bin/env python3
"""A stand-in collector for sluice-ctl's error paths (test_ctl_limits.sh).

Usage: fake_ctl_collector.py SOCKET_PATH MODE READY_FILE

Listens on SOCKET_PATH, greets each connection as a protocol-1.1 collector
("SLUICE/1 max=1048576 id=1 cfg=1" and its NUL), reads the control
request up to its '\\n', then, by MODE:
  flood   answers "ok\\n" followed by endless bytes (an unbounded response);
  silent  never answers and keeps the connection open (a lost answer).
Touches READY_FILE once it listens; runs until killed.
"""
import os
import socket
import sys
import threading

path, mode, ready = sys.argv[1], sys.argv[2], sys.argv[3]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(16)
open(ready, "w").close()
held = []


def serve(c):
    c.sendall(b"SLUICE/1 max=1048576 id=1 cfg=1\0")
    req = b""
    while b"\n" not in req:
        d = c.recv(4096)
        if not d:
            return
        req += d
    if mode == "flood":
        c.sendall(b"ok\n")
        chunk = b"x" * 65536
        try:
            while True:
                c.sendall(chunk)
        except OSError:
            pass  # sluice-ctl gave up and closed
        c.close()
    else:
        held.append(c)


while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
