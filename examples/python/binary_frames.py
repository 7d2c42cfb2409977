#!/usr/bin/env python3
"""A sluice producer speaking the binary protocol, written from
docs/protocol.md alone with Python's socket and struct modules.

A binary connection is (all integers little-endian):
  greeting  collector -> producer: "SLUICE/1 max=<bytes> id=<n>" and NUL
  magic     8 bytes 89 53 4C 55 0D 0A 1A 0A
  hello     a frame of type 0xFF00 whose payload is
            pid u32, name_len u16, reserved u16 (0), name
  events    frames: length u32 (header included), type u16 (0..0xEFFF),
            flags u16 (0), seq u64 (0, 1, 2, ... per connection),
            ts u64 (ns since the Unix epoch), then the payload
  1.1       a greeting with a cfg= field may be answered: the hello's payload
            gets a u32 `want` after the name (1 = send me the state); the
            collector then sends a STATE frame (type 0xFF01): gen u64,
            npairs u32, pairs_len u32, a 7680-byte enabled-type bitmap,
            then npairs x (key_len u16, value_len u16, key, value)
            (docs/protocol.md section 13)

Usage: binary_frames.py NAME [COUNT]
  Sends COUNT events (default 1000): even seq numbers as type 10 with a
  text payload, odd ones as type 11 with an 8-byte little-endian counter.
  With a 1.1 collector it first prints the configuration it received, one
  "config: KEY=VALUE" a line, and skips the types the collector disabled.
  Prints "python-binary: id=K events=N bytes=B" and exits 0; exits 1 if the
  collector refuses or goes away (EPIPE/ECONNRESET).
"""
import os
import socket
import struct
import sys
import time

MAGIC = b"\x89SLU\r\n\x1a\n"
HEADER = struct.Struct("<IHHQQ")  # length, type, flags, seq, ts: 24 bytes
HELLO_TYPE = 0xFF00
STATE_TYPE = 0xFF01
NAME = b"python-binary"


def pipe_path(name):
    if "/" in name:
        return name
    tmp = os.environ.get("TMPDIR") or "/tmp"
    return os.path.join(tmp, "CoreFxPipe_" + name)


def read_greeting(sock):
    data = b""
    while b"\0" not in data:
        chunk = sock.recv(64)
        if not chunk:
            sys.exit("python-binary: connection closed before the greeting")
        data += chunk
        if len(data) >= 64 and b"\0" not in data:
            sys.exit("python-binary: not a sluice collector (no greeting)")
    text = data.split(b"\0", 1)[0].decode("ascii")
    words = text.split(" ")
    fields = dict(w.split("=", 1) for w in words[1:])
    if words[0] != "SLUICE/1" or "error" in fields or "max" not in fields:
        sys.exit("python-binary: refused or not a sluice collector: %r" % text)
    return fields


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            sys.exit("python-binary: connection closed inside a STATE frame")
        data += chunk
    return data


def read_state(sock):
    """The STATE frame that answers a hello with want=1: (config pairs,
    enabled bitmap)."""
    length, ftype, _, _, _ = HEADER.unpack(recv_exact(sock, HEADER.size))
    body = recv_exact(sock, length - HEADER.size)
    if ftype != STATE_TYPE:
        sys.exit("python-binary: expected a STATE frame, got type 0x%04X" % ftype)
    _, npairs, _ = struct.unpack_from("<QII", body, 0)
    enabled = body[16:16 + 7680]
    off, pairs = 16 + 7680, []
    for _ in range(npairs):
        kl, vl = struct.unpack_from("<HH", body, off)
        pairs.append((body[off + 4:off + 4 + kl].decode(),
                      body[off + 4 + kl:off + 4 + kl + vl].decode("utf-8", "replace")))
        off += 4 + kl + vl
    return pairs, enabled


def frame(ftype, seq, payload):
    return HEADER.pack(HEADER.size + len(payload), ftype, 0, seq, time.time_ns()) + payload


def main():
    if len(sys.argv) not in (2, 3) or (len(sys.argv) == 3 and not sys.argv[2].isdigit()):
        print("usage: binary_frames.py NAME [COUNT]", file=sys.stderr)
        return 2
    count = int(sys.argv[2]) if len(sys.argv) == 3 else 1000

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(pipe_path(sys.argv[1]))
    except OSError as e:
        print("python-binary: cannot connect to %s: %s" % (pipe_path(sys.argv[1]), e.strerror),
              file=sys.stderr)
        return 1
    fields = read_greeting(sock)
    max_frame = int(fields["max"])  # header included

    hello = struct.pack("<IHH", os.getpid(), len(NAME), 0) + NAME
    enabled = None
    if "cfg" in fields:  # protocol 1.1: ask for the state (want = 1)
        hello += struct.pack("<I", 1)
        sock.sendall(MAGIC + frame(HELLO_TYPE, 0, hello))
        pairs, enabled = read_state(sock)
        for k, v in pairs:
            print("config: %s=%s" % (k, v))
        out = []
    else:
        out = [MAGIC, frame(HELLO_TYPE, 0, hello)]
    payload_bytes = 0
    sent = 0
    try:
        for i in range(count):
            if i % 2 == 0:
                ftype, payload = 10, ("python binary event %d" % i).encode()
            else:
                ftype, payload = 11, struct.pack("<Q", i)
            if enabled is not None and not (enabled[ftype >> 3] >> (ftype & 7)) & 1:
                continue  # disabled by the collector: not sent, no seq
            seq = sent
            sent += 1
            if HEADER.size + len(payload) > max_frame:
                sys.exit("python-binary: frame larger than max=%d" % max_frame)
            out.append(frame(ftype, seq, payload))
            payload_bytes += len(payload)
            if len(out) >= 1000:  # write in batches, not a call per frame
                sock.sendall(b"".join(out))
                out = []
        sock.sendall(b"".join(out))
    except (BrokenPipeError, ConnectionResetError) as e:
        print("python-binary: the collector closed the connection (%s)" % e.strerror,
              file=sys.stderr)
        return 1
    sock.close()
    print("python-binary: id=%s events=%d bytes=%d" % (fields.get("id", "?"), sent, payload_bytes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
