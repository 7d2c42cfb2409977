#!/usr/bin/env python3
"""A binary producer that asks for the state and its updates (protocol
1.1 hello `want` = 3) and then never reads its socket: the collector's
pushes to it must never block a worker. Sends N events after the hello,
prints "mute: ready", then holds the connection until STOP_FILE exists,
and closes (without reading anything, ever).
Usage: mute_client.py SOCKET STOP_FILE [N]"""
import os
import socket
import struct
import sys
import time

path, stop = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 10
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills at once
s.connect(path)
name = b"mute"
hello = struct.pack("<IHH", os.getpid(), len(name), 0) + name + struct.pack("<I", 3)
frames = b"\x89SLU\r\n\x1a\n" + struct.pack("<IHHQQ", 24 + len(hello), 0xFF00, 0, 0, 0) + hello
for i in range(n):
    p = b"m%d" % i
    frames += struct.pack("<IHHQQ", 24 + len(p), 7, 0, i, 0) + p
s.sendall(frames)
print("mute: ready", flush=True)
while not os.path.exists(stop):
    time.sleep(0.05)
s.close()
