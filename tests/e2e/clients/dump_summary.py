#!/usr/bin/env python3
"""Summarises `sluice-dump --format jsonl` (on stdin) per producer, for the
fault suite's exact-count assertions. One line per producer id, in id order:

  id=I name=NAME pid=P uid=U mode=M events=E seq_ok=0|1 disc_events=DE
  disc_dropped=DD reason=R malformed=0|1 drop_records=K dropped=D

events: event records in the dump; seq_ok: their sequence numbers are
0, 1, 2, ... except where drop records account for the missing ones (each
number at most once, increasing); drop_records/dropped: the number of drop
records and the events they report; disc_*: from the disconnect record
("-" when there is none). A last line "close ..." repeats the close record.
"""
import json
import sys


def main():
    prods = {}
    close = None
    for line in sys.stdin:
        r = json.loads(line)
        k = r["kind"]
        if k == "close":
            close = r
            continue
        p = prods.setdefault(r["producer"], {
            "name": "-", "pid": "-", "uid": "-", "mode": "-", "events": 0,
            "next": 0, "skipped": 0, "seq_bad": 0, "disc_events": "-",
            "disc_dropped": "-", "reason": "-", "malformed": "-",
            "drop_records": 0, "dropped": 0})
        if k == "connect":
            p["name"] = r["name"] or "-"
            p["pid"], p["uid"], p["mode"] = r["pid"], r["uid"], r["mode"]
        elif k == "event":
            p["events"] += 1
            if r["seq"] < p["next"]:
                p["seq_bad"] += 1
            else:
                p["skipped"] += r["seq"] - p["next"]
                p["next"] = r["seq"] + 1
        elif k == "drop":
            p["drop_records"] += 1
            p["dropped"] += r["events"]
        elif k == "disconnect":
            p["disc_events"] = r["events"]
            p["disc_dropped"] = r["dropped"]
            p["reason"] = r["reason"]
            p["malformed"] = r["malformed"]
    for i in sorted(prods):
        p = prods[i]
        # Drops happen in whole batches, so the numbers they skip add up to
        # exactly the dropped count; any other skip is a real gap.
        seq_ok = int(p["seq_bad"] == 0 and p["skipped"] <= p["dropped"])
        print("id=%d name=%s pid=%s uid=%s mode=%s events=%d seq_ok=%d "
              "disc_events=%s disc_dropped=%s reason=%s malformed=%s "
              "drop_records=%d dropped=%d" % (
                  i, p["name"], p["pid"], p["uid"], p["mode"], p["events"],
                  seq_ok, p["disc_events"], p["disc_dropped"], p["reason"],
                  p["malformed"], p["drop_records"], p["dropped"]))
    if close is not None:
        print("close producers=%d events=%d dropped=%d malformed=%d" % (
            close["producers"], close["events"], close["dropped"],
            close["malformed"]))


if __name__ == "__main__":
    main()
