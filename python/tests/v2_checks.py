#!/usr/bin/env python3
"""Format version 2 in the Python reader, against docs/capture-format.md
section 15 (no sluice-dump needed: the expectations are the document's).

v2_checks.py FIXTURE_V2 FIXTURE_V1 V1.sluice V2-NONE V2-LZ4 V2-ZSTD

- The worked example of section 15.7 reads back as section 13's (the same
  records), verifies with status 0, and exposes chunk 1, kind 0 and the
  capture id; cut after every length and with every byte flipped it
  behaves as the document says: a cut in the header is a FormatError; a
  cut in block 0 or block 1 leaves the blocks before it and a torn tail
  of the rest; a flipped byte in the header is a FormatError, in block 0
  one corrupt region of 296 bytes with the close record still read, in
  block 1 block 0's four records and one corrupt region.
- A synthetic capture written as version 1 and as version 2 with codecs
  none, lz4 and zstd (make_capture.py) gives the same records each time.
- Without the lz4 module a compressed block counts as corrupt and
  missing_codecs names it.
"""
import os
import subprocess
import sys
import tempfile

import sluice


def recs(path):
    return [r.as_dict() for r in sluice.open(path)]


def main():
    fx2, fx1, v1, vnone, vlz4, vzstd = sys.argv[1:7]
    bad = []
    want = recs(fx1)
    with sluice.open(fx2) as cap:
        got = [r.as_dict() for r in cap]
        h = cap.info
    if got != want:
        bad.append("the v2 example's records differ from the v1 example's")
    if (h.read_version, h.chunk, h.kind, h.capture_id) != (2, 1, 0, bytes(range(0xA0, 0xB0))):
        bad.append("v2 header: %r %r" % (h, h.capture_id))
    if sluice.verify(fx2).status != 0:
        bad.append("the v2 example does not verify")
    data = open(fx2, "rb").read()
    assert len(data) == 535
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "m.sluice")

    def read(d):
        with open(path, "wb") as f:
            f.write(d)
        try:
            with sluice.open(path) as cap:
                rs = [r.kind for r in cap]
                st = cap.stats
            return rs, st
        except sluice.FormatError:
            return None, None

    kinds = [r["kind"] for r in want]
    for n in range(len(data)):
        rs, st = read(data[:n])
        if n < 87:
            ok = rs is None
        elif n < 383:
            ok = rs == [] and st.torn_tail_bytes == n - 87 and st.corrupt_blocks == 0
        else:
            ok = rs == kinds[:4] and st.torn_tail_bytes == n - 383 and st.corrupt_blocks == 0
        if not ok:
            bad.append("cut at %d: %r %r" % (n, rs, st))
    for i in range(len(data)):
        d = bytearray(data)
        d[i] ^= 0x20
        rs, st = read(bytes(d))
        if i < 87:
            ok = rs is None
        elif i < 383:
            ok = rs == ["close"] and st.corrupt_blocks == 1 and st.corrupt_bytes == 296
        else:
            ok = rs == kinds[:4] and st.corrupt_blocks == 1 and st.torn_tail_bytes == 0
        if not ok:
            bad.append("byte %d flipped: %r %r" % (i, rs, st))
    base = recs(v1)
    for p in (vnone, vlz4, vzstd):
        if recs(p) != base:
            bad.append("%s: not the same records as the v1 capture" % p)
        v = sluice.verify(p)
        if v.status != 0 or v.line() != sluice.verify(v1).line():
            bad.append("%s: verify %r" % (p, v))
    out = subprocess.run([sys.executable, "-c", """
import sys
sys.modules["lz4"] = None
import sluice
with sluice.open(sys.argv[1]) as cap:
    n = sum(1 for _ in cap)
    print(cap.stats.corrupt_blocks > 0, sorted(cap.missing_codecs))
""", vlz4], stdout=subprocess.PIPE, universal_newlines=True,
        env=dict(os.environ)).stdout.strip()
    if out != "True ['lz4 (Debian: python3-lz4)']":
        bad.append("without lz4: %r" % out)
    print("v2: %d cuts and %d flips of the example, 3 codecs" % (len(data), len(data)))
    if bad:
        sys.exit("\n".join(bad[:10]))


if __name__ == "__main__":
    main()
