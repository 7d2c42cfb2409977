#!/usr/bin/env bash
# python/ (the sluice-capture package), against sluice-dump:
#  1. `pip install ./python` in a fresh venv with no index at all (the
#     build backend is in the tree, so nothing is downloaded), then the
#     installed package and its sluice-py script work;
#  2. the worked example cut after every length and with every byte
#     flipped: records equal to `sluice-dump --format jsonl`, verify line
#     and status equal to `sluice-dump --verify`;
#  3. a real capture (library, text and scripted binary producers with
#     binary payloads and a sequence gap), the same comparisons; the same
#     capture damaged in a block and cut in its last block (these with the
#     C-accelerated and the pure Python CRC32C);
#  4. two captures as a set of chunks (a list, and a directory): the
#     records of both, in start-time order;
#  5. follow: started before the file exists (wait), it prints every
#     record as sluice-dump does and ends at the close record; a writer
#     that holds the lock and dies without a close record ends it with
#     writer_gone (stop_when_writer_gone);
#  6. to_pandas(): one row per event, the counts per producer of jsonl.
#  7. Format version 2 (docs/capture-format.md section 15): the worked
#     example, every cut and flip of it as the document says
#     (python/tests/v2_checks.py), the same records from a capture written
#     as version 1 and as version 2 stored, lz4 and zstd; and, where this
#     build's sluice-dump reads version 2, the comparisons of 2 and 3 on
#     the v2 example and those captures.
#  8. --jsonl on a rotated set (LIVE preamble records) and on a flight
#     snapshot (a TRIGGER record): the records sluice-dump prints (these
#     kinds crashed python3 -m sluice --jsonl once).
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
PKG=$SRC/python
export PYTHONPATH=$PKG
COMPARE=$PKG/tests/compare_dump.py

note "pip install ./python with no package index"
# A venv without its own pip (ensurepip is slow); the system's pip installs
# into it (pip --python).
"$PY" -m venv --without-pip "$WORK/venv" || fail "python3 -m venv failed (scripts/deps.sh installs python3-venv)"
cp -r "$PKG" "$WORK/pysrc"   # pip may write build files next to the source
env -u PYTHONPATH PIP_NO_INDEX=1 PIP_FIND_LINKS= PIP_CONFIG_FILE=/dev/null \
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$PY" -m pip --python "$WORK/venv/bin/python" \
  install "$WORK/pysrc" >"$WORK/pip.log" 2>&1 ||
  { cat "$WORK/pip.log" >&2; fail "pip install ./python failed without network"; }
out=$(cd "$WORK" && env -u PYTHONPATH "$WORK/venv/bin/python" -c \
  'import sluice, sys; print(sluice.__file__.startswith(sys.prefix), sluice.verify(sys.argv[1]).line())' \
  "$SRC/tests/fixtures/capture-example.sluice")
[ "$out" = "True verify: producers=1 events=2 gaps=0 corrupt_blocks=0 torn_tail_bytes=0" ] ||
  fail "the installed package: $out"
env -u PYTHONPATH "$WORK/venv/bin/sluice-py" "$SRC/tests/fixtures/capture-example.sluice" --verify |
  diff - <("$DUMP" "$SRC/tests/fixtures/capture-example.sluice" --verify) >&2 ||
  fail "sluice-py --verify differs from sluice-dump"

note "the worked example, every cut and every flipped byte"
"$PY" "$COMPARE" "$DUMP" --mutate "$SRC/tests/fixtures/capture-example.sluice" >&2 ||
  fail "python and sluice-dump differ on a variant of the example"

note "a real capture, intact, damaged and cut"
cap=$WORK/py.sluice
start_collector py --pipe py --out "$cap" --exit-after 3
"$PRODUCER" --pipe py --count "$(scaled 10000)" --name lib >/dev/null
printf 'one\n\x01two\\\n' | socat - "UNIX-CONNECT:$WORK/CoreFxPipe_py" >/dev/null
echo '[[1, "00ff80c3", 5, 0], [2, "e282ac", 0, 1], [3, "", 7, 5], [57345, "6869", 8, 6]]' |
  "$PY" "$CLIENTS/event_client.py" "$WORK/CoreFxPipe_py" --name "sc,ri\"pt"
wait_collector py
"$PY" - "$cap" "$WORK" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
hl = struct.unpack_from("<I", d, 12)[0]
blocks, p = [], hl
while p < len(d):
    blocks.append(p)
    p += struct.unpack_from("<I", d, p + 4)[0]
bad = bytearray(d)
bad[blocks[1] + 77] ^= 1
open(sys.argv[2] + "/damaged.sluice", "wb").write(bad)
open(sys.argv[2] + "/cut.sluice", "wb").write(d[:blocks[-1] + 50])
PY
"$PY" "$COMPARE" "$DUMP" "$cap" "$WORK/damaged.sluice" "$WORK/cut.sluice" >&2 ||
  fail "python and sluice-dump differ on a real capture"
SLUICE_PY_PURE_CRC=1 "$PY" "$COMPARE" "$DUMP" "$WORK/damaged.sluice" "$WORK/cut.sluice" >&2 ||
  fail "python (pure CRC32C) and sluice-dump differ on a damaged capture"

note "two captures as chunks of one"
cap2=$WORK/py2.sluice
start_collector py2 --pipe py2 --out "$cap2" --exit-after 1
"$PRODUCER" --pipe py2 --count 100 --name second >/dev/null
wait_collector py2
mkdir "$WORK/chunks"
cp "$cap2" "$WORK/chunks/a.sluice"   # names in the wrong order: start time decides
cp "$cap" "$WORK/chunks/b.sluice"
{ "$DUMP" "$cap" --format jsonl; "$DUMP" "$cap2" --format jsonl; } >"$WORK/both.jsonl"
# The same JSON values (sluice-dump escapes non-ASCII, json.dumps need not).
# "discarded" (appended to disconnect records) counts where it is not 0,
# as in compare_dump.py.
jsoneq() { "$PY" -c 'import json, sys
def load(f):
    out = [json.loads(l) for l in open(f)]
    for o in out:
        if o.get("kind") == "disconnect" and o.get("discarded") == 0:
            del o["discarded"]
    return out
sys.exit(load(sys.argv[1]) != load(sys.argv[2]))' "$1" "$2"; }
"$PY" -m sluice "$cap2" "$cap" --jsonl >"$WORK/list.jsonl"
jsoneq "$WORK/list.jsonl" "$WORK/both.jsonl" ||
  fail "a list of chunks is not read in start-time order"
"$PY" -m sluice "$WORK/chunks" --jsonl >"$WORK/dir.jsonl"
jsoneq "$WORK/dir.jsonl" "$WORK/both.jsonl" ||
  fail "a directory of chunks is not read as one capture"
[ "$("$PY" -m sluice "$WORK/chunks" --verify)" = \
  "verify: producers=4 events=$(( $(scaled 10000) + 2 + 4 + 100 )) gaps=3 corrupt_blocks=0 torn_tail_bytes=0 chunks=2 expired=0 missing_chunks=0" ] ||
  fail "verify of the chunk set: $("$PY" -m sluice "$WORK/chunks" --verify)"

note "follow: waits for the file, ends at the close record"
live=$WORK/live.sluice
"$PY" -m sluice "$live" --follow --wait 30 --jsonl >"$WORK/follow.jsonl" 2>"$WORK/follow.err" &
fpid=$!
sleep 0.3
start_collector live --pipe live --out "$live" --exit-after 2
"$PRODUCER" --pipe live --count 5000 --rate 20000 --name slow >/dev/null
"$PRODUCER" --pipe live --count 3000 --name fast >/dev/null
wait_collector live
for _ in $(seq 1 200); do kill -0 "$fpid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$fpid" 2>/dev/null && fail "the follower did not stop at the close record"
wait "$fpid" || fail "the follower exited non-zero: $(cat "$WORK/follow.err")"
"$DUMP" "$live" --format jsonl >"$WORK/live.jsonl"
jsoneq "$WORK/follow.jsonl" "$WORK/live.jsonl" ||
  fail "what the follower read differs from the finished file"

note "follow: a writer that dies holding the lock, without a close record"
"$PY" - "$cap" "$WORK/dying.sluice" "$WORK/dying.go" <<'PY' &
import fcntl, os, struct, sys, time
d = open(sys.argv[1], "rb").read()
hl = struct.unpack_from("<I", d, 12)[0]
blocks, p = [], hl
while p < len(d):
    blocks.append(p)
    p += struct.unpack_from("<I", d, p + 4)[0]
f = open(sys.argv[2], "wb")
fcntl.flock(f, fcntl.LOCK_EX)
f.write(d[:blocks[1]]); f.flush()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.02)
f.write(d[blocks[1]:blocks[-1]]); f.flush()   # all but the close record
os._exit(0)                                   # dies: the lock goes with it
PY
wpid=$!
for _ in $(seq 1 100); do [ -s "$WORK/dying.sluice" ] && break; sleep 0.05; done
PYTHONPATH=$PKG "$PY" - "$WORK/dying.sluice" "$WORK/dying.go" <<'PY' || fail "follow with a dying writer"
import sys, sluice
cap = sluice.open(sys.argv[1], follow=True, poll=0.05, stop_when_writer_gone=True)
if cap.writer_alive() is not True:
    sys.exit("writer_alive() is %r while the writer holds its lock" % cap.writer_alive())
open(sys.argv[2], "w").close()
n = sum(1 for r in cap)
if not cap.writer_gone or cap.closed_record is not None:
    sys.exit("writer_gone %r, close %r" % (cap.writer_gone, cap.closed_record))
if cap.writer_alive() is not False:
    sys.exit("writer_alive() is %r after the writer died" % cap.writer_alive())
want = sum(1 for r in sluice.open(sys.argv[1]))
if n != want:
    sys.exit("followed %d records, the file has %d" % (n, want))
PY
wait "$wpid" || true

note "follow: a real collector's lock, and its death"
dead=$WORK/dead.sluice
start_collector dead --pipe dead --out "$dead"
"$PRODUCER" --pipe dead --count 100000000 --rate 20000 --name doomed >/dev/null 2>&1 &
pp=$!
# Until the file holds a record (a header alone is not enough: under a
# sanitizer on a loaded machine the first block can take seconds), so the
# follower has something to read before the kill (bounded: 30 s).
for _ in $(seq 1 600); do
  [ -s "$dead" ] && [ "$("$PY" -c 'import sys, sluice
print(sum(1 for r in sluice.open(sys.argv[1])) > 0)' "$dead" 2>/dev/null)" = True ] && break
  sleep 0.05
done
locks=$("$PY" -c 'import sys, sluice
print(sluice.open(sys.argv[1]).writer_alive())' "$dead")
if [ "$locks" = True ]; then
  "$PY" -c 'import sys, sluice
cap = sluice.open(sys.argv[1], follow=True, poll=0.05, stop_when_writer_gone=True)
n = sum(1 for r in cap)
print(n > 0, cap.writer_gone, cap.closed_record is None)' "$dead" >"$WORK/dead.out" &
  fp=$!
  sleep 0.5
  kill -KILL "$CPID"; wait "$CPID" 2>/dev/null || true
  for _ in $(seq 1 200); do kill -0 "$fp" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$fp" 2>/dev/null && fail "the python follower still waits for a dead collector"
  wait "$fp" || fail "the python follower failed"
  [ "$(cat "$WORK/dead.out")" = "True True True" ] || fail "after SIGKILL: $(cat "$WORK/dead.out")"
else
  note "this collector takes no writer lock (writer_alive: $locks): only the scripted writer was checked"
  kill -TERM "$CPID"; wait "$CPID" 2>/dev/null || true
fi
kill "$pp" 2>/dev/null || true; wait "$pp" 2>/dev/null || true

note "to_pandas()"
"$PY" - "$cap" "$DUMP" <<'PY' || fail "to_pandas"
import collections, json, subprocess, sys, sluice
df = sluice.open(sys.argv[1]).to_pandas()
jl = [json.loads(l) for l in subprocess.run([sys.argv[2], sys.argv[1], "--format", "jsonl"],
      stdout=subprocess.PIPE, check=True).stdout.splitlines()]
ev = [r for r in jl if r["kind"] == "event"]
if len(df) != len(ev):
    sys.exit("%d rows, %d events" % (len(df), len(ev)))
want = collections.Counter(r["producer"] for r in ev)
got = {int(k): int(v) for k, v in df.groupby("producer").size().items()}
if got != dict(want):
    sys.exit("per producer %r, want %r" % (got, dict(want)))
if list(df["seq"][:3]) != [r["seq"] for r in ev[:3]] or str(df["collector_time"].dtype) != "datetime64[ns, UTC]":
    sys.exit("columns: %r" % df.dtypes)
PY
note "format version 2: stored, lz4, zstd"
"$PY" -c 'import lz4.block, zstandard' 2>/dev/null ||
  fail "python3-lz4 or python3-zstandard is missing (scripts/deps.sh installs them)"
"$PY" - >"$WORK/v2.json" <<'PY'
import json
T = 1800000000000000000
recs = [["connect", 1, T, "alpha", 11, 1], ["connect", 2, T + 5, "beta", 12, 2]]
for i in range(3000):
    recs.append(["event", 1 + i % 2, T + 1000 * i, i // 2, 1 + i % 3,
                 ("%06d" % i).encode().hex() * 4])
recs += [["drop", 2, T + 4000000, 5, 50],
         ["disconnect", 1, T + 5000000, 1500, 18000, 0, 0],
         ["disconnect", 2, T + 5000001, 1500, 18000, 5, 0]]
print(json.dumps({"start_ns": T, "records": recs, "per_block": 400}))
PY
"$PY" "$CLIENTS/make_capture.py" "$WORK/v1.sluice" <"$WORK/v2.json"
for c in none lz4 zstd; do
  "$PY" "$CLIENTS/make_capture.py" "$WORK/v2-$c.sluice" --v2 "$c" <"$WORK/v2.json"
done
"$PY" "$PKG/tests/v2_checks.py" "$SRC/tests/fixtures/capture-example-v2.sluice" \
  "$SRC/tests/fixtures/capture-example.sluice" "$WORK/v1.sluice" \
  "$WORK/v2-none.sluice" "$WORK/v2-lz4.sluice" "$WORK/v2-zstd.sluice" >&2 ||
  fail "format version 2"
if "$DUMP" "$SRC/tests/fixtures/capture-example-v2.sluice" --verify >/dev/null 2>&1; then
  "$PY" "$COMPARE" "$DUMP" --mutate "$SRC/tests/fixtures/capture-example-v2.sluice" >&2 ||
    fail "python and sluice-dump differ on a variant of the v2 example"
  "$PY" "$COMPARE" "$DUMP" "$WORK/v2-none.sluice" "$WORK/v2-lz4.sluice" "$WORK/v2-zstd.sluice" >&2 ||
    fail "python and sluice-dump differ on a v2 capture"
else
  note "this sluice-dump reads format version 1 only: v2 checked against the document"
fi

note "--jsonl of a rotated set (live records) and of a snapshot (trigger)"
start_collector rot --pipe py-rot --out "$WORK/rot.sluice" --rotate-size 64K --compress none --exit-after 1 --stats 0
"$PRODUCER" --pipe py-rot --count "$(scaled 20000)" --size 64 --name rotating >/dev/null
wait_collector rot
set -- "$WORK"/rot.0*.sluice
[ "$#" -ge 2 ] || fail "--rotate-size 64K made $# chunk(s), want several"
"$DUMP" "$@" --format jsonl >"$WORK/rot-dump.jsonl"
grep -q '"kind":"live"' "$WORK/rot-dump.jsonl" || fail "no live record in a rotated set"
"$PY" -m sluice "$@" --jsonl >"$WORK/rot-py.jsonl" || fail "python3 -m sluice --jsonl failed on a rotated set"
jsoneq "$WORK/rot-py.jsonl" "$WORK/rot-dump.jsonl" || fail "python and sluice-dump differ on a rotated set"
start_collector fr --pipe py-fr --out "$WORK/fr.sluice" --flight-recorder 1M --trigger-type 7 --exit-after 2 --stats 0
printf 'before\n' | socat - "UNIX-CONNECT:$WORK/CoreFxPipe_py-fr" >/dev/null
echo '[[7, "54524947", 0, 0]]' | "$PY" "$CLIENTS/event_client.py" "$WORK/CoreFxPipe_py-fr" --name trig
wait_collector fr
snap=$WORK/fr.snapshot-001.sluice
[ -s "$snap" ] || fail "no snapshot after the type-7 event"
"$DUMP" "$snap" --format jsonl >"$WORK/fr-dump.jsonl"
grep -q '"kind":"trigger"' "$WORK/fr-dump.jsonl" || fail "no trigger record in the snapshot"
"$PY" -m sluice "$snap" --jsonl >"$WORK/fr-py.jsonl" || fail "python3 -m sluice --jsonl failed on a snapshot"
jsoneq "$WORK/fr-py.jsonl" "$WORK/fr-dump.jsonl" || fail "python and sluice-dump differ on a snapshot"
echo "ok"
