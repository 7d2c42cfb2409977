#!/usr/bin/env python3
"""Writes a synthetic capture file from a JSON script, following
docs/capture-format.md (the CRC32C comes from python/sluice), for tests
that need records the collector cannot be made to write on cue: drop
records at chosen times, exact collector timestamps, many producers.

make_capture.py OUT < SCRIPT.json

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
from sluice._format import crc32c  # noqa: E402


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


def main():
    sc = json.load(sys.stdin)
    pipe, host = sc.get("pipe", "p").encode(), sc.get("host", "h").encode()
    hl = 32 + len(pipe) + len(host)
    hdr = bytearray(struct.pack("<8sHHIQHHI", b"\x89SLCAP\r\n", 1, 1, hl,
                                sc["start_ns"], len(pipe), len(host), 0)
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
    n = 0
    for i in range(0, len(recs), per):
        out.append(block(n, recs[i:i + per]))
        n += 1
    if sc.get("close", True):
        out.append(block(n, [record(0xF004, 0, 0, 0, last + 1, struct.pack(
            "<QQQQQ", len(producers), events, nbytes, dropped, 0))]))
    with open(sys.argv[1], "wb") as f:
        f.write(b"".join(out))


if __name__ == "__main__":
    main()
