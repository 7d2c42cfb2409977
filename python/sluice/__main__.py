"""python3 -m sluice FILE... [--jsonl | --verify] [--follow] [--wait SECS]

A small command line over the package, mostly so that tests and shell
users can compare it with sluice-dump: --jsonl prints the records as
`sluice-dump --format jsonl` does (the same objects, keys and values);
--verify prints the verify line and exits like `sluice-dump --verify`
(0, 3 incomplete, 4 corrupt). Several FILEs, or a directory, are chunks
of one capture. Exit 1 on a file that cannot be read, 2 on a usage error.
"""
import argparse
import json
import sys

from . import FormatError, follow, open as sl_open, verify


def _jtext(b):
    # sluice-dump writes a byte that is not part of valid UTF-8 as \\u00XX.
    return b.decode("utf-8", "surrogateescape").translate(_SURR)


_SURR = {0xDC00 + i: i for i in range(0x80, 0x100)}


def jsonl_obj(r):
    """The object `sluice-dump --format jsonl` prints for record r."""
    k = r.kind
    if k == "event":
        return {"kind": "event", "producer": r.producer, "name": r.name,
                "seq": r.seq, "type": r.type, "producer_ns": r.producer_ns,
                "collector_ns": r.collector_ns, "payload": _jtext(r.payload)}
    if k in ("connect", "live"):
        o = {"kind": k, "producer": r.producer, "name": _jtext(r.name_bytes)}
        if k == "live":  # a chunk's preamble: the producer's next sequence
            o["next_seq"] = r.next_seq
        o["pid"] = r.pid
        # sluice-dump prints an unknown uid (0xFFFFFFFF) as null
        o["uid"] = None if r.uid == 0xFFFFFFFF else r.uid
        o["mode"] = r.mode
        o["collector_ns"] = r.collector_ns
        return o
    if k == "trigger":
        return {"kind": "trigger", "producer": 0, "snapshot": r.snapshot,
                "cause": r.cause, "trigger_producer": r.trigger_producer,
                "trigger_seq": r.trigger_seq, "trigger_type": r.trigger_type,
                "after_ns": r.after_ns, "folded": bool(r.folded),
                "collector_ns": r.collector_ns}
    if k == "disconnect":
        o = {"kind": "disconnect", "producer": r.producer, "name": r.name,
             "events": r.events, "bytes": r.bytes, "dropped": r.dropped,
             "reason": r.reason, "reason_code": r.reason_code,
             "reason_text": r.reason_text, "malformed": r.malformed,
             "discarded": r.discarded}
        if r.filtered:  # sluice-dump shows it when not 0
            o["filtered"] = r.filtered
        o["collector_ns"] = r.collector_ns
        return o
    if k == "state":
        return {"kind": "state", "producer": 0, "gen": r.gen, "enabled": r.enabled,
                "disabled": r.disabled, "config": r.config,
                "collector_ns": r.collector_ns}
    if k == "drop":
        return {"kind": "drop", "producer": r.producer, "name": r.name,
                "events": r.events, "bytes": r.bytes,
                "collector_ns": r.collector_ns}
    if k == "close":
        return {"kind": "close", "producers": r.producers, "events": r.events,
                "bytes": r.bytes, "dropped": r.dropped,
                "malformed": r.malformed, "collector_ns": r.collector_ns}
    return {"kind": k, "producer": r.producer, "name": r.name,
            "type": r.type, "payload_bytes": len(r.payload),
            "collector_ns": r.collector_ns}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m sluice")
    ap.add_argument("files", nargs="+")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--jsonl", action="store_true")
    g.add_argument("--verify", action="store_true")
    ap.add_argument("--follow", action="store_true")
    ap.add_argument("--wait", type=float, default=None)
    a = ap.parse_args(argv)
    out = sys.stdout
    try:
        if a.verify:
            v = verify(a.files)
            print(v.line())
            return v.status
        recs = follow(a.files[0], wait=a.wait) if a.follow else \
            iter(sl_open(a.files, wait=a.wait))
        for r in recs:
            if a.jsonl:
                out.write(json.dumps(jsonl_obj(r), ensure_ascii=False,
                                     separators=(",", ":")) + "\n")
            else:
                out.write(repr(r) + "\n")
    except (OSError, FormatError) as e:
        print("python3 -m sluice: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
