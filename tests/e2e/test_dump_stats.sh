#!/usr/bin/env bash
# sluice-dump --stats where the numbers are not all zero: a producer with
# sequence gaps and a duplicate, and producers that lose events to
# --on-full drop. Drops are made certain the way test_ring_full.sh makes
# them: a 1 MiB ring and a writer throttled by the test-only knob
# SLUICE_TEST_WRITER_DELAY_US, under a 12.8 MB load (not scaled down under
# sanitizers: it must outrun the throttled writer). The table must agree
# with the collector's summary, with the capture's drop and disconnect
# records (tests/e2e/clients/dump_summary.py) and with what was sent:
# captured + dropped = sent for every producer, no unexplained gaps for
# them, and exactly the 3 gaps the scripted producer made.
source "$(dirname "$0")/lib.sh"
N=50000
P=4
cap=$WORK/stats.sluice
path=$WORK/CoreFxPipe_stats
export SLUICE_TEST_WRITER_DELAY_US=100000
start_collector c --pipe stats --out "$cap" --exit-after $(( P + 1 )) \
  --ring-mb 1 --max-frame 65536 --on-full drop
unset SLUICE_TEST_WRITER_DELAY_US
# First, on an empty ring: seq 0 1 2 5 6 6 (3 and 4 missing, 6 twice).
python3 -c '
import json
print(json.dumps([[9, b"gap".hex(), None, s] for s in (0, 1, 2, 5, 6, 6)]))' |
  python3 "$CLIENTS/event_client.py" "$path" --name gappy
pids=()
for i in $(seq 1 "$P"); do
  "$PRODUCER" --pipe stats --count "$N" --name "d$i" >"$WORK/p$i.out" &
  pids+=($!)
done
for p in "${pids[@]}"; do
  wait "$p" || fail "a producer failed"
done
wait_collector c
line=$(grep '^collector: ' "$WORK/c.out") || fail "no summary"
dropped=$(sed 's/.* dropped=\([0-9]*\) .*/\1/' <<<"$line")
[ "$dropped" -gt 0 ] || fail "nothing dropped: the throttle did not fill the ring ($line)"

"$DUMP" "$cap" --format jsonl | python3 "$CLIENTS/dump_summary.py" >"$WORK/sum.txt"
"$DUMP" "$cap" --stats >"$WORK/stats.txt" || fail "--stats failed"
"$DUMP" "$cap" --stats --format jsonl >"$WORK/stats.jsonl" || fail "--stats --format jsonl failed"
cat "$WORK/stats.txt" >&2
python3 - "$WORK" "$N" "$P" "$dropped" <<'PY' || fail "--stats disagrees"
import json, re, sys
work, n, p, dropped = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
summary = {}
for l in open(f"{work}/sum.txt"):
    if l.startswith("id="):
        f = dict(kv.split("=", 1) for kv in re.findall(r"\w+=\S+", l))
        summary[f["name"]] = f
rows = [json.loads(l) for l in open(f"{work}/stats.jsonl")]
total, rows = rows[-1], {r["name"]: r for r in rows[:-1]}
g = rows["gappy"]
assert (g["events"], g["gaps"], g["dropped"], g["end"]) == (6, 3, 0, "EOF"), g
for i in range(1, p + 1):
    r, s = rows[f"d{i}"], summary[f"d{i}"]
    assert r["events"] + r["dropped"] == n, r
    assert r["events"] == int(s["events"]) and r["dropped"] == int(s["dropped"]) \
        == int(s["disc_dropped"]), (r, s)
    assert r["gaps"] == 0 and r["end"] == "EOF" and r["bytes"] == 64 * r["events"], r
assert total["dropped"] == dropped and total["gaps"] == 3, total
assert total["events"] == 6 + p * n - dropped, total
# The aligned table shows the same numbers.
tab = open(f"{work}/stats.txt").read().splitlines()
hdr = tab[0].split()
for l in tab[1:-1]:
    c = dict(zip(hdr, l.split()))
    r = rows[c["NAME"]]
    assert (int(c["EVENTS"]), int(c["GAPS"]), int(c["DROPPED"]), c["END"]) == \
        (r["events"], r["gaps"], r["dropped"], r["end"]), (l, r)
t = tab[-1].split()
assert t[:3] == ["total", str(p + 1), "producers"] and t[-2:] == ["3", str(dropped)], tab[-1]
PY
# --verify agrees: 3 gaps make the capture corrupt (exit 4).
rc=0
out=$("$DUMP" "$cap" --verify 2>/dev/null) || rc=$?
[ "$rc" = 4 ] || fail "--verify exited $rc, expected 4"
[ "$out" = "verify: producers=$(( P + 1 )) events=$(( 6 + P * N - dropped )) gaps=3 corrupt_blocks=0 torn_tail_bytes=0" ] ||
  fail "verify: $out"
echo "ok"
