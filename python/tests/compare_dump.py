#!/usr/bin/env python3
"""Compares the Python reader with sluice-dump on capture files.

compare_dump.py DUMP FILE...          each FILE as it is
compare_dump.py DUMP --mutate FILE    FILE cut after every length, and with
                                      each byte flipped in turn

For each file, `python3 -m sluice`'s objects must equal `sluice-dump
--format jsonl`'s line by line, and sluice.verify() must print the same
verify line and give the same exit status as `sluice-dump --verify`.
"""
import json
import os
import subprocess
import sys
import tempfile

import sluice
from sluice.__main__ import jsonl_obj


def dump(dumpbin, path, *args):
    p = subprocess.run([dumpbin, path] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    return p.returncode, p.stdout.decode("utf-8", "strict")


def compare(dumpbin, path):
    rc, out = dump(dumpbin, path, "--format", "jsonl")
    try:
        py = [jsonl_obj(r) for r in sluice.open(path)]
        prc = 0
    except (OSError, sluice.FormatError):
        py, prc = [], 1
    if rc != prc:
        return "%s: sluice-dump exit %d, python %d" % (path, rc, prc)
    c = [json.loads(l) for l in out.splitlines()]
    # The disconnect record's appended "discarded" field: a sluice-dump
    # from before it does not print it, one from after prints 0 for a
    # record without it. Compare it where it is not 0.
    for o in c + py:
        if o.get("kind") == "disconnect" and o.get("discarded") == 0:
            del o["discarded"]
    if c != py:
        for i, (a, b) in enumerate(zip(c, py)):
            if a != b:
                return "%s: record %d: dump %r, python %r" % (path, i, a, b)
        return "%s: %d records from dump, %d from python" % (path, len(c), len(py))
    rc, out = dump(dumpbin, path, "--verify")
    if rc == 1:
        return None
    v = sluice.verify(path)
    if out.strip() != v.line() or rc != v.status:
        return "%s: verify dump %r/%d, python %r/%d" % (path, out.strip(), rc,
                                                        v.line(), v.status)
    return None


def main():
    dumpbin = sys.argv[1]
    bad = []
    if sys.argv[2] == "--mutate":
        data = open(sys.argv[3], "rb").read()
        tmp = tempfile.mkdtemp()
        path = os.path.join(tmp, "m.sluice")
        # Sanitizer builds (SL_TEST_SCALE > 1) run sluice-dump slower:
        # every SCALE-th cut and flip there.
        step = max(1, int(os.environ.get("SL_TEST_SCALE", "1")))
        variants = [data[:n] for n in range(0, len(data), step)]
        for i in range(0, len(data), step):
            d = bytearray(data)
            d[i] ^= 0x5A
            variants.append(bytes(d))
        for v in variants:
            with open(path, "wb") as f:
                f.write(v)
            e = compare(dumpbin, path)
            if e:
                bad.append(e)
                if len(bad) > 5:
                    break
        print("compared %d variants (CRC32C: %s)" % (len(variants),
                                                     sluice.CRC32C_IMPL))
    else:
        for path in sys.argv[2:]:
            e = compare(dumpbin, path)
            if e:
                bad.append(e)
        print("compared %d files (CRC32C: %s)" % (len(sys.argv) - 2,
                                                  sluice.CRC32C_IMPL))
    if bad:
        sys.exit("\n".join(bad))


if __name__ == "__main__":
    main()
