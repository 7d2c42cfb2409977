#!/usr/bin/env bash
# sluice-dump --format perfetto, decoded by a parser that is not ours:
# python3-protobuf with tests/e2e/perfetto/sluice_perfetto.proto, a minimal
# .proto transcribed from Perfetto's field numbers (perfetto_decode.py
# also rejects unknown fields, uninterned iids and events on undescribed
# tracks). On the worked example and on a real capture with a scripted
# binary producer (nested slices, an end without a begin, a slice left
# open at disconnect, a sequence gap, binary payloads), a library producer
# and a nameless text producer:
#  - one track per producer, named after it (or "producer ID"), pid = id;
#  - every event of `--format jsonl` once, on its producer's track, in the
#    same order, with its type, seq and payload, timestamped with the
#    producer's clock (the collector's when it sent none), named as
#    docs/cli.md says; connect/disconnect instants; slices balanced;
#  - the gap as a "sequence gap" instant with the missing count;
#  - a damaged block as previous_packet_dropped plus a "corrupt data
#    skipped" instant;
#  - the trace at least 3 times smaller than --format chrome;
#  - streaming: the peak memory of a dump of a capture 4 times larger is
#    the same (within 4 MiB).
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
"$PY" -c 'import google.protobuf' 2>/dev/null ||
  fail "python3-protobuf is missing (scripts/deps.sh installs it)"
command -v protoc >/dev/null || fail "protoc is missing (scripts/deps.sh installs protobuf-compiler)"
DECODE=$SRC/tests/e2e/perfetto/perfetto_decode.py

note "the worked example"
fx=$SRC/tests/fixtures/capture-example.sluice
"$DUMP" "$fx" --format perfetto >"$WORK/fx.pftrace"
"$PY" "$DECODE" "$WORK/fx.pftrace" >"$WORK/fx.dec" || fail "the example's trace does not decode"
"$PY" - "$WORK/fx.dec" <<'PY' || fail "the example's trace"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
got = [(r["kind"], r.get("track", r.get("uuid")), r.get("type"), r.get("name"), r.get("ts")) for r in recs]
T = 1700000000000000000
want = [("track", 1, None, "app", None),
        ("event", 1, "INSTANT", "connect", T + 1000000),
        ("event", 1, "INSTANT", "hello", T + 1500000),
        ("event", 1, "INSTANT", "world", T + 2500000),
        ("event", 1, "INSTANT", "disconnect EOF", T + 4000000),
        ("track", 1 << 32, None, "sluice collector", None),
        ("event", 1 << 32, "INSTANT", "close", T + 5000000)]
if got != want:
    sys.exit("got %r" % got)
if recs[0]["pid"] != 1 or recs[0]["process_name"] != "app" or recs[1]["args"]["pid"] != 4242:
    sys.exit("track or connect details: %r %r" % (recs[0], recs[1]))
if recs[2]["args"] != {"type": 1, "seq": 0, "collector_delay_ns": 500000}:
    sys.exit("event args: %r" % recs[2]["args"])
PY

note "a real capture: scripted slices and a gap, a library producer, a text producer"
cap=$WORK/pf.sluice
path=$WORK/CoreFxPipe_pf
nlib=$(scaled 20000)
start_collector pf --pipe pf --out "$cap" --exit-after 3
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
# [type, payload hex, ts, seq]: ts 0 = none (the collector's time is used).
cat >"$WORK/script.json" <<JSON
[[57345, "$(hex 'handle /users')", 1000, 0],
 [57346, "$(hex 'query')", 2000, 1],
 [59394, "", 3000, 2],
 [59393, "", 4000, 3],
 [59400, "", 5000, 4],
 [7, "00ff10", 0, 5],
 [8, "$(hex 'tick')", 6000, 9],
 [57344, "", 7000, 10]]
JSON
"$PY" "$CLIENTS/event_client.py" "$path" --name scripted <"$WORK/script.json"
"$PRODUCER" --pipe pf --count "$nlib" --name lib >/dev/null
printf 'one\ntwo\n' | socat - "UNIX-CONNECT:$path" >/dev/null
wait_collector pf
"$DUMP" "$cap" --format jsonl >"$WORK/pf.jsonl"
"$DUMP" "$cap" --format perfetto >"$WORK/pf.pftrace"
"$DUMP" "$cap" --format chrome >"$WORK/pf.json"
"$PY" "$DECODE" "$WORK/pf.pftrace" >"$WORK/pf.dec" || fail "the capture's trace does not decode"
"$PY" - "$WORK/pf.jsonl" "$WORK/pf.dec" <<'PY' || fail "the trace does not hold the capture"
import collections, json, sys
jl = [json.loads(l) for l in open(sys.argv[1])]
dec = [json.loads(l) for l in open(sys.argv[2])]
tracks = {r["uuid"]: r for r in dec if r["kind"] == "track"}
by_track = collections.defaultdict(list)
for r in dec:
    if r["kind"] == "event":
        by_track[r["track"]].append(r)
names = {r["producer"]: r["name"] for r in jl if r["kind"] == "connect"}
events = collections.defaultdict(list)
for r in jl:
    if r["kind"] == "event":
        events[r["producer"]].append(r)
bad = []
if set(tracks) != set(names) | {1 << 32}:
    bad.append("tracks %s, producers %s" % (sorted(tracks), sorted(names)))
for pid, name in names.items():
    t = tracks.get(pid, {})
    want = name or "producer %d" % pid
    if t.get("name") != want or t.get("pid") != pid:
        bad.append("track %d: %r, want name %r" % (pid, t, want))
def want_name(e):
    t, p = e["type"], e["payload"]
    printable = p != "" and all(c.isprintable() for c in p)
    if 0xE000 <= t < 0xE800:
        return p if printable else "slice %d" % (t & 0x7FF)
    if 0xE800 <= t < 0xF000:
        return None
    return p if printable and len(p.encode()) <= 64 else "type %d" % t
for pid in names:
    tr = [r for r in by_track[pid] if r["cat"] in ("event", "slice") and "seq" in r["args"]]
    ev = events[pid]
    if len(tr) != len(ev):
        bad.append("producer %d: %d events in the trace, %d in jsonl" % (pid, len(tr), len(ev)))
        continue
    depth = 0
    for a, b in zip(ev, tr):
        ts = a["producer_ns"] or a["collector_ns"]
        if (b["args"]["seq"], b["args"]["type"], b["ts"]) != (a["seq"], a["type"], ts):
            bad.append("producer %d: %r vs %r" % (pid, a, b))
            break
        if b["args"]["collector_delay_ns"] != a["collector_ns"] - ts:
            bad.append("producer %d seq %d: collector_delay_ns" % (pid, a["seq"]))
        # The payload: the name when it is one, else an annotation.
        if a["payload"] and b["name"] != a["payload"] and "payload" not in b["args"]:
            bad.append("producer %d seq %d: no payload" % (pid, a["seq"]))
        kind = b["type"]
        t = a["type"]
        if 0xE000 <= t < 0xE800:
            depth += 1
            ok = kind == "SLICE_BEGIN" and b["name"] == want_name(a)
        elif 0xE800 <= t < 0xF000 and depth > 0:
            depth -= 1
            ok = kind == "SLICE_END"
        elif 0xE800 <= t < 0xF000:
            ok = kind == "INSTANT" and b["name"] == "end without begin: slice %d" % (t & 0x7FF)
        else:
            ok = kind == "INSTANT" and b["name"] == want_name(a)
        if not ok:
            bad.append("producer %d seq %d: %s %r" % (pid, a["seq"], kind, b["name"]))
    all_ev = by_track[pid]
    begins = sum(r["type"] == "SLICE_BEGIN" for r in all_ev)
    ends = sum(r["type"] == "SLICE_END" for r in all_ev)
    if begins != ends:
        bad.append("producer %d: %d begins, %d ends" % (pid, begins, ends))
    if [r["name"] for r in all_ev if r["cat"] == "sluice"][:1] != ["connect"] or all_ev[-1]["name"] != "disconnect EOF":
        bad.append("producer %d: connect/disconnect instants" % pid)
    ts = [r["ts"] for r in all_ev]
scripted = [p for p, n in names.items() if n == "scripted"][0]
gaps = [r for r in by_track[scripted] if r["name"] == "sequence gap"]
if [g["args"]["missing"] for g in gaps] != [3]:
    bad.append("scripted: gap instants %r, want one with missing=3" % gaps)
begins = [r["name"] for r in by_track[scripted] if r["type"] == "SLICE_BEGIN"]
if begins != ["handle /users", "query", "slice 0"]:
    bad.append("scripted: slice names %r" % begins)
if any(r["kind"] == "dropped" for r in dec):
    bad.append("previous_packet_dropped in an intact capture")
if bad:
    sys.exit("\n".join(bad[:20]))
PY
pf=$(stat -c %s "$WORK/pf.pftrace") ch=$(stat -c %s "$WORK/pf.json")
note "perfetto $pf bytes, chrome $ch bytes"
[ $((pf * 3)) -le "$ch" ] || fail "the perfetto trace ($pf bytes) is not 3 times smaller than chrome's ($ch)"

note "a damaged block: previous_packet_dropped and a 'corrupt data skipped' instant"
"$PY" - "$cap" "$WORK/bad.sluice" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
hl = struct.unpack_from("<I", d, 12)[0]
blocks, p = [], hl
while p + 8 <= len(d) and d[p:p + 4] in (b"SLBK", b"SLB2"):
    blocks.append(p)
    p += struct.unpack_from("<I", d, p + 4)[0]
assert len(blocks) >= 3, blocks
d[blocks[1] + 100] ^= 0xFF
open(sys.argv[2], "wb").write(d)
PY
"$DUMP" "$WORK/bad.sluice" --format perfetto >"$WORK/bad.pftrace" 2>"$WORK/bad.err"
grep -q "skipped 1 corrupt blocks" "$WORK/bad.err" || fail "no corrupt block: $(cat "$WORK/bad.err")"
"$PY" "$DECODE" "$WORK/bad.pftrace" >"$WORK/bad.dec" || fail "the damaged capture's trace does not decode"
"$PY" - "$WORK/bad.dec" <<'PY' || fail "loss is not shown"
import json, sys
dec = [json.loads(l) for l in open(sys.argv[1])]
drops = [i for i, r in enumerate(dec) if r["kind"] == "dropped"]
skip = [i for i, r in enumerate(dec) if r.get("name") == "corrupt data skipped"]
if len(drops) != 1 or len(skip) != 1 or skip[0] < drops[0] or dec[skip[0]]["args"]["corrupt_blocks"] != 1:
    sys.exit("dropped at %r, skipped instants at %r" % (drops, skip))
PY

note "streaming: peak memory does not grow with the capture"
peak() { "$PY" -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$DUMP" "$1" --format perfetto; }
big=$WORK/big.sluice
n=$(scaled 50000)
start_collector big --pipe big --out "$big" --exit-after 4
for _ in 1 2 3 4; do "$PRODUCER" --pipe big --count "$n" --size 200 >/dev/null & done
wait_collector big
cut=$WORK/quarter.sluice
"$PY" - "$big" "$cut" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
hl = struct.unpack_from("<I", d, 12)[0]
p = hl
while p < len(d) and p - hl < (len(d) - hl) // 4:
    p += struct.unpack_from("<I", d, p + 4)[0]
open(sys.argv[2], "wb").write(d[:p])
PY
small_kb=$(peak "$cut") big_kb=$(peak "$big")
note "peak RSS ${small_kb} KiB for $(stat -c %s "$cut") bytes, ${big_kb} KiB for $(stat -c %s "$big") bytes"
if sanitized; then
  note "sanitizer build: memory not compared"
else
  [ "$big_kb" -le $((small_kb + 4096)) ] || fail "peak memory grows with the capture: $small_kb -> $big_kb KiB"
fi
echo "ok"
