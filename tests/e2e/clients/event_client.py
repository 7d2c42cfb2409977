#!/usr/bin/env python3
"""Sends a scripted list of binary-mode events, for tests that need exact
types, payloads and timestamps (sluice-dump's formats and filters). Written
from docs/protocol.md, like binary_client.py.

event_client.py PATH --name NAME < EVENTS.json

EVENTS.json is a JSON array of [type, payload_hex, ts] or [type,
payload_hex, ts, seq]: ts is the producer timestamp in ns, 0 for none, or
null for the current time; seq defaults to the event's index (0, 1, 2, ...),
and an explicit one lets a test make gaps. Then the connection closes
cleanly.
"""
import argparse
import json
import os
import socket
import struct
import sys
import time

MAGIC = b"\x89SLU\r\n\x1a\n"
HDR = struct.Struct("<IHHQQ")  # length, type, flags, seq, ts
HELLO = 0xFF00


def frame(ftype, seq, ts, payload):
    return HDR.pack(HDR.size + len(payload), ftype, 0, seq, ts) + payload


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--name", default="scripted")
    a = ap.parse_args()
    events = json.load(sys.stdin)

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(a.path)
    greeting = b""
    while not greeting.endswith(b"\0"):
        b = s.recv(64)
        if not b:
            sys.exit("closed before greeting")
        greeting += b
    name = a.name.encode()
    out = bytearray(MAGIC)
    out += frame(HELLO, 0, time.time_ns(),
                 struct.pack("<IHH", os.getpid(), len(name), 0) + name)
    for i, ev in enumerate(events):
        ftype, payload_hex, ts = ev[:3]
        seq = ev[3] if len(ev) > 3 else i
        out += frame(ftype, seq, time.time_ns() if ts is None else ts,
                     bytes.fromhex(payload_hex))
    s.sendall(out)
    s.shutdown(socket.SHUT_WR)
    try:
        while s.recv(4096):  # until the collector closes its end
            pass
    except ConnectionResetError:
        pass
    s.close()


if __name__ == "__main__":
    main()
