#!/usr/bin/env python3
"""An independent implementation of the binary framing in docs/protocol.md,
written from the document (not from sluice's C code), used by the end-to-end
tests to prove the document and to inject protocol violations.

binary_client.py PATH --count N [--name NAME] [--size BYTES]
                 [--fault none|garbage|too-big|len0|len-max|truncated]
                 [--fault-at K] [--hold] [--payload-file FILE]
Sends magic, hello, then N events (type 1, seq 0..N-1); with a fault, the
K-th frame is replaced by the violation (and, for truncated, the stream ends
inside that frame). --hold: after sending, print "sent" and stay connected
(at most 60 s) so the test can SIGKILL us mid-frame. --payload-file: every
event's payload is FILE's bytes (e.g. a capture block, for the forged-block
test), instead of "ev N ..." padded to --size.
"""
import argparse
import os
import socket
import struct
import sys
import time

MAGIC = b"\x89SLU\r\n\x1a\n"
HDR = struct.Struct("<IHHQQ")  # length, type, flags, seq, ts
HELLO = 0xFF00


def frame(ftype, seq, payload):
    return HDR.pack(HDR.size + len(payload), ftype, 0, seq, time.time_ns()) + payload


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--name", default="pyclient")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--fault", default="none")
    ap.add_argument("--fault-at", type=int, default=-1)
    ap.add_argument("--hold", action="store_true")
    ap.add_argument("--payload-file")
    a = ap.parse_args()

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(a.path)
    greeting = b""
    while not greeting.endswith(b"\0"):
        b = s.recv(64)
        if not b:
            sys.exit("closed before greeting")
        greeting += b
    fields = dict(kv.split("=", 1) for kv in greeting[:-1].decode().split()[1:])
    max_frame = int(fields["max"])

    name = a.name.encode()
    fixed = None
    if a.payload_file:
        with open(a.payload_file, "rb") as f:
            fixed = f.read()
    out = bytearray(MAGIC)
    out += frame(HELLO, 0, struct.pack("<IHH", os.getpid(), len(name), 0) + name)
    for i in range(a.count):
        if i == a.fault_at and a.fault != "none":
            if a.fault == "garbage":
                out += b"\xde\xad\xbe\xef" * 16
            elif a.fault == "too-big":
                out += struct.pack("<I", max_frame + 1) + b"\0" * 20
            elif a.fault == "len0":
                out += struct.pack("<I", 0) + b"\0" * 20
            elif a.fault == "len-max":
                out += struct.pack("<I", 0xFFFFFFFF) + b"\0" * 20
            elif a.fault == "truncated":
                out += frame(1, i, b"x" * a.size)[:-3]
            break
        payload = fixed if fixed is not None else (b"ev %d " % i).ljust(a.size, b".")
        out += frame(1, i, payload)
    try:
        s.sendall(bytes(out))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the collector closed us for the fault
    if a.hold:
        print("sent", flush=True)
        time.sleep(60)
    s.close()


if __name__ == "__main__":
    main()
