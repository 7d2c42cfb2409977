#!/usr/bin/env python3
"""Writes a synthetic capture file from a JSON script, following
docs/capture-format.md (the CRC32C comes from python/sluice), for tests
that need records the collector cannot be made to write on cue: drop
records at chosen times, exact collector timestamps, many producers.

make_capture.py OUT [--v2 CODEC] < SCRIPT.json

--v2 writes format version 2 (section 15) with blocks stored with CODEC
(none, lz4, zstd), a fixed key and capture id ("chunk" in SCRIPT sets the
chunk number, "capture_id" its 16 bytes in hex); without it, version 1.

SCRIPT: {"start_ns": N, "pipe": "p", "host": "h", "per_block": 100,
         "close": true,
         "records": [["connect", id, ns, name, pid, mode], ["event", id, ns,
         seq, type, payload_hex], ["drop", id, ns, events, bytes],
         ["disconnect", id, ns, events, bytes, dropped, reason], ...]}
Records go in the given order, per_block to a block; with close, a last
block holds the close record (totals computed from the events).
"""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "..", "python"))
from sluice._format import crc32c, siphash24  # noqa: E402

KEY = bytes(range(16))


def record(rtype, producer, seq, pns, cns, payload):
    size = 40 + (len(payload) + 7) // 8 * 8
    return (struct.pack("<IIHHIQQQ", size, len(payload), rtype, 0, producer,
                        seq, pns, cns) + payload +
            b"\0" * (size - 40 - len(payload)))


def block(seq, recs):
    body = b"".join(recs)
    blen = 24 + len(body) + 8
    head = struct.pack("<4sIQII", b"SLBK", blen, seq, len(recs), 0) + body
    return head + struct.pack("<II", crc32c(head), blen)


def block2(seq, recs, off, codec):
    raw = b"".join(recs)
    if codec == 1:
        import lz4.block
        stored = lz4.block.compress(raw, store_size=False)
    elif codec == 2:
        import zstandard
        stored = zstandard.ZstdCompressor(level=3).compress(raw)
    else:
        stored = raw
    pad = b"\0" * ((8 - len(stored) % 8) % 8)
    blen = 64 + len(stored) + len(pad) + 8
    times = [struct.unpack_from("<Q", r, 32)[0] for r in recs]
    head = struct.pack("<4sIQIIIB3sI4sQQ", b"SLB2", blen, seq, len(recs),
                       len(stored), len(raw), codec, b"", crc32c(stored + pad),
                       b"", min(times) if times else 0,
                       max(times) if times else 0)
    tag = siphash24(KEY, struct.pack("<Q", off) + head)
    return head + struct.pack("<Q", tag) + stored + pad + \
        struct.pack("<II", tag & 0xFFFFFFFF, blen)


def main():
    sc = json.load(sys.stdin)
    codec = None
    if len(sys.argv) > 3 and sys.argv[2] == "--v2":
        codec = {"none": 0, "lz4": 1, "zstd": 2}[sys.argv[3]]
    pipe, host = sc.get("pipe", "p").encode(), sc.get("host", "h").encode()
    if codec is None:
        hl = 32 + len(pipe) + len(host)
        hdr = bytearray(struct.pack("<8sHHIQHHI", b"\x89SLCAP\r\n", 1, 1, hl,
                                    sc["start_ns"], len(pipe), len(host), 0)
                        + pipe + host)
    else:
        hl = 80 + len(pipe) + len(host)
        cid = bytes.fromhex(sc.get("capture_id", "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"))
        hdr = bytearray(struct.pack("<8sHHIQHHI", b"\x89SLCAP\r\n", 2, 2, hl,
                                    sc["start_ns"], len(pipe), len(host), 0)
                        + KEY + cid + struct.pack("<QII", sc.get("chunk", 1), 0, 0)
                        + pipe + host)
    hdr[28:32] = struct.pack("<I", crc32c(bytes(hdr)))
    recs, last = [], sc["start_ns"]
    events = nbytes = dropped = 0
    producers = set()
    for r in sc["records"]:
        k, pid, ns = r[0], r[1], r[2]
        last = max(last, ns)
        producers.add(pid)
        if k == "connect":
            name = r[3].encode("utf-8", "surrogateescape")
            recs.append(record(0xF001, pid, 0, 0, ns, struct.pack(
                "<IIBBH", r[4], 1000, r[5], 0, len(name)) + name))
        elif k == "event":
            payload = bytes.fromhex(r[5])
            events += 1
            nbytes += len(payload)
            recs.append(record(r[4], pid, r[3], ns, ns, payload))
        elif k == "drop":
            dropped += r[3]
            recs.append(record(0xF003, pid, 0, 0, ns,
                               struct.pack("<QQ", r[3], r[4])))
        elif k == "disconnect":
            recs.append(record(0xF002, pid, 0, 0, ns, struct.pack(
                "<QQQII", r[3], r[4], r[5], r[6], 0)))
    per = sc.get("per_block", 100)
    out = [bytes(hdr)]
    groups = [recs[i:i + per] for i in range(0, len(recs), per)]
    if sc.get("close", True):
        groups.append([record(0xF004, 0, 0, 0, last + 1, struct.pack(
            "<QQQQQ", len(producers), events, nbytes, dropped, 0))])
    off = len(hdr)
    for n, g in enumerate(groups):
        b = block(n, g) if codec is None else block2(n, g, off, codec)
        out.append(b)
        off += len(b)
    with open(sys.argv[1], "wb") as f:
        f.write(b"".join(out))


if __name__ == "__main__":
    main()
