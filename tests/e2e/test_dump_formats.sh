#!/usr/bin/env bash
# sluice-dump's four formats and --stats on one real capture with known
# content: a scripted binary producer (every byte value, CSV and JSON
# metacharacters, invalid UTF-8, an empty and a 100 kB payload, events
# without a producer timestamp, nested begin/end slices, an end without a
# begin, a slice left open at disconnect), a library producer whose name
# has a comma and quotes, a text producer without a name, and a malformed
# producer (FRAME_TOO_BIG after 10 events). Each format is checked by a
# parser that is not ours: jsonl with json.loads per line, csv with
# Python's csv module (then the payload's C escapes decoded back to the
# exact bytes sent), chrome with json.load plus the structure Perfetto and
# chrome://tracing need (ph/ts/pid/tid everywhere, process_name per
# producer, B/E balanced per track, ts from the producer's clock), text
# against the babeltrace-like line shape and the deltas. --stats is
# checked cell by cell against what the producers sent.
source "$(dirname "$0")/lib.sh"
cap=$WORK/fmt.sluice
path=$WORK/CoreFxPipe_fmt
NB=300

# Golden output for the worked example of docs/capture-format.md.
fx=$SRC/tests/fixtures/capture-example.sluice
"$DUMP" "$fx" | diff - <(cat <<'EOF'
--- connect id=1 name=app pid=4242 uid=1000 mode=binary
[2023-11-14T22:13:20.002000000Z] (+?.?????????) app[1] #0 type=1: hello
[2023-11-14T22:13:20.003000000Z] (+0.001000000) app[1] #1 type=1: world
--- disconnect id=1 events=2 bytes=10 dropped=0 reason=EOF (end of stream)
--- close producers=1 events=2
EOF
) >&2 || fail "text dump of the worked example"
"$DUMP" "$fx" --format csv | diff - <(printf '%s\r\n' \
  collector_time,collector_ns,producer,name,seq,type,producer_ns,payload_bytes,payload \
  2023-11-14T22:13:20.002000000Z,1700000000002000000,1,app,0,1,1700000000001500000,5,hello \
  2023-11-14T22:13:20.003000000Z,1700000000003000000,1,app,1,1,1700000000002500000,5,world) >&2 ||
  fail "csv dump of the worked example"
"$DUMP" "$fx" --format chrome | python3 -c '
import json, sys
d = json.load(sys.stdin)
got = [(e["ph"], e["ts"], e["name"]) for e in d["traceEvents"] if e["ph"] != "M"]
assert got == [("i", 1000.0, "connect"), ("i", 1500.0, "hello"), ("i", 2500.0, "world"),
               ("i", 4000.0, "disconnect EOF")], got
assert d["otherData"]["start_ns"] == "1700000000000000000", d["otherData"]
' || fail "chrome dump of the worked example"
"$DUMP" "$fx" --stats | diff - <(cat <<'EOF'
   ID  NAME         PID  MODE    EVENTS  BYTES  FIRST                           LAST                            GAPS  DROPPED  END
    1  app         4242  binary       2     10  2023-11-14T22:13:20.002000000Z  2023-11-14T22:13:20.003000000Z     0        0  EOF
total  1 producer                     2     10  2023-11-14T22:13:20.002000000Z  2023-11-14T22:13:20.003000000Z     0        0
EOF
) >&2 || fail "--stats of the worked example"

# The scripted producer's events: [type, payload hex, producer ts].
python3 - >"$WORK/alpha.json" <<'PY'
import json
ev = []
def add(t, payload, ts=None):
    ev.append([t, payload.hex(), ts])
add(1, b"hello")
add(1, bytes(range(256)))
add(2, b'comma, "quote"\r\nnew line\\x41', 0)      # no producer timestamp
add(3, b"")
add(4, b"bad \xff\xfe utf8 \xc3( \xed\xa0\x80 \xc0\x80 end")
add(0xE001, b"outer")
add(0xE002, "inner ✓".encode())
add(0xE802, b"")
add(0xE801, b"outer")
add(0xE805, b"")                                   # an end without a begin
add(5, "é ünïcödé ✓ 😀 \u0085".encode())
add(6, b"x" * 100000)
add(0xE003, b"left open")                          # ended by the disconnect
json.dump(ev, open(1, "w"))
PY

start_collector c --pipe fmt --out "$cap" --exit-after 4 --config fmt=1
# One after the other, so the producer ids are 1..4 in this order.
python3 "$CLIENTS/event_client.py" "$path" --name alpha <"$WORK/alpha.json"
"$PRODUCER" --pipe fmt --count "$NB" --size 40 --name 'beta, "quoted"' --type 7 >/dev/null
printf 'line one\nline, two\n"three"\n' | "$PRODUCER" --pipe fmt --stdin --text >/dev/null
python3 "$CLIENTS/binary_client.py" "$path" --count 100 --fault too-big --fault-at 10 --name bad || true
wait_collector c
NA=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$WORK/alpha.json")
grep -q "^collector: producers=4 events=$((NA + NB + 3 + 10)) .* malformed=1$" "$WORK/c.out" ||
  fail "collector summary: $(cat "$WORK/c.out")"
for f in text jsonl csv chrome; do
  "$DUMP" "$cap" --format "$f" >"$WORK/dump.$f" 2>"$WORK/dump.$f.err" || fail "--format $f failed: $(cat "$WORK/dump.$f.err")"
  [ ! -s "$WORK/dump.$f.err" ] || fail "--format $f wrote to stderr: $(cat "$WORK/dump.$f.err")"
done
"$DUMP" "$cap" --stats >"$WORK/stats.txt" || fail "--stats failed"
"$DUMP" "$cap" --stats --format csv >"$WORK/stats.csv" || fail "--stats --format csv failed"
"$DUMP" "$cap" --stats --format jsonl >"$WORK/stats.jsonl" || fail "--stats --format jsonl failed"
cat "$WORK/stats.txt" >&2

python3 - "$WORK" "$NB" <<'PY' || fail "format checks"
import csv, json, re, sys

work, nb = sys.argv[1], int(sys.argv[2])
alpha = [(t, bytes.fromhex(h), ts) for t, h, ts in json.load(open(f"{work}/alpha.json"))]
text_lines = [b"line one", b"line, two", b'"three"']
errors = []
def check(cond, what):
    if not cond:
        errors.append(what)

def json_expected(b):
    # sluice-dump writes a byte that is not part of valid UTF-8 as \u00XX.
    out, i = [], 0
    while i < len(b):
        for n in (4, 3, 2, 1):
            try:
                out.append(b[i:i + n].decode("utf-8")); i += n; break
            except UnicodeDecodeError:
                continue
        else:
            out.append(chr(b[i])); i += 1
    return "".join(out)

def c_unescape(s):
    out, i = bytearray(), 0
    while i < len(s):
        if s[i] != "\\":
            j = i
            while j < len(s) and s[j] != "\\":
                j += 1
            out += s[i:j].encode("utf-8"); i = j; continue
        e = s[i + 1]
        if e == "x":
            out.append(int(s[i + 2:i + 4], 16)); i += 4; continue
        out += {"\\": b"\\", "n": b"\n", "r": b"\r", "t": b"\t"}[e]; i += 2
    return bytes(out)

# ---- jsonl: every line is a JSON object ---------------------------------
recs = [json.loads(l) for l in open(f"{work}/dump.jsonl", encoding="utf-8")]
conn = {r["producer"]: r for r in recs if r["kind"] == "connect"}
ids = {(r["name"] or ""): p for p, r in conn.items()}
A, B, T, BAD = ids["alpha"], ids['beta, "quoted"'], ids[""], ids["bad"]
check([A, B, T, BAD] == [1, 2, 3, 4], f"producer ids {ids}")
events = [r for r in recs if r["kind"] == "event"]
by = lambda p: [r for r in events if r["producer"] == p]
check(len(by(A)) == len(alpha) and len(by(B)) == nb and len(by(T)) == 3
      and len(by(BAD)) == 10, "jsonl event counts")
for r, (t, payload, ts) in zip(by(A), alpha):
    check(r["type"] == t, f"jsonl type {r}")
    check(r["payload"] == json_expected(payload), f"jsonl payload seq {r['seq']}")
    check(r["producer_ns"] == (ts if ts is not None else r["producer_ns"]), "producer_ns")
check([r["payload"].encode() for r in by(T)] == text_lines, "jsonl text payloads")
disc = {r["producer"]: r for r in recs if r["kind"] == "disconnect"}
check(disc[BAD]["reason"] == "FRAME_TOO_BIG" and disc[A]["reason"] == "EOF", "reasons")
check(recs[-1]["kind"] == "close", "close record last")
ns = {(r["producer"], r["seq"]): r for r in events}

# ---- csv: RFC 4180 through Python's csv module ----------------------------
raw = open(f"{work}/dump.csv", "rb").read()
check(raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b""), "CRLF records")
rows = list(csv.reader(open(f"{work}/dump.csv", newline="", encoding="utf-8"), strict=True))
hdr = ["collector_time", "collector_ns", "producer", "name", "seq", "type",
       "producer_ns", "payload_bytes", "payload"]
check(rows[0] == hdr, f"csv header {rows[0]}")
rows = rows[1:]
# The collector's state record (written since its state is not the default:
# a configuration) is a row of producer 0 named "(state)".
states = [r for r in rows if r[2] == "0"]
check(len(states) == 1 and states[0][3] == "(state)" and states[0][5] == "61472"
      and states[0][8] == "gen=1 disabled=- config=1: fmt=1", f"csv state row {states}")
rows = [r for r in rows if r[2] != "0"]
check(len(rows) == len(events), f"csv rows {len(rows)} != {len(events)}")
check(all(len(r) == len(hdr) for r in rows), "csv field counts")
for row in rows:
    d = dict(zip(hdr, row))
    p, seq = int(d["producer"]), int(d["seq"])
    j = ns[(p, seq)]
    check(int(d["collector_ns"]) == j["collector_ns"] and int(d["type"]) == j["type"]
          and int(d["producer_ns"]) == j["producer_ns"], f"csv numbers {row[:8]}")
    check(d["name"] == (j["name"] or ""), f"csv name {d['name']!r}")
    payload = c_unescape(d["payload"])
    check(int(d["payload_bytes"]) == len(payload), f"csv payload_bytes {row[:8]}")
    if p == A:
        check(payload == alpha[seq][1], f"csv payload alpha #{seq}: {d['payload'][:80]!r}")
    if p == T:
        check(payload == text_lines[seq], f"csv text payload #{seq}")
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", d["collector_time"]),
          "csv time")

# ---- chrome: Trace Event Format, JSON Object Format ------------------------
doc = json.load(open(f"{work}/dump.chrome", encoding="utf-8"))
tev = doc["traceEvents"]
start = int(doc["otherData"]["start_ns"])
for e in tev:
    check(all(k in e for k in ("ph", "ts", "pid", "tid", "name")), f"chrome keys {e}")
    check(isinstance(e["ts"], (int, float)), "chrome ts is a number")
    if e["ph"] == "i":
        check(e.get("s") == "t", f"instant scope {e}")
pnames = {e["pid"]: e["args"]["name"] for e in tev if e["ph"] == "M" and e["name"] == "process_name"}
check(pnames == {A: "alpha", B: 'beta, "quoted"', T: f"producer {T}", BAD: "bad"},
      f"process_name {pnames}")
for pid in pnames:
    stack = []
    for e in tev:
        if e["pid"] != pid or e["ph"] not in "BE":
            continue
        check(e["tid"] == pid, "one track per producer")
        if e["ph"] == "B":
            stack.append(e["ts"])
        else:
            check(stack and stack[-1] <= e["ts"], f"E without B or before it on {pid}")
            stack and stack.pop()
    check(not stack, f"unbalanced B/E on {pid}")
ab = [e for e in tev if e["pid"] == A and e["ph"] == "B"]
check([e["name"] for e in ab] == ["outer", "inner ✓", "left open"], f"slices {ab}")
check(sum(1 for e in tev if e["pid"] == A and e["ph"] == "E") == 3, "three ends")
check(any(e["ph"] == "i" and e["name"] == "end without begin: slice 5" for e in tev),
      "unmatched end as an instant")
inst = [e for e in tev if e["ph"] == "i" and e.get("cat") == "event"]
check(len(inst) == len(events) - 5, f"instants {len(inst)}")
for e in tev:
    if e.get("cat") not in ("event", "slice") or "seq" not in e.get("args", {}):
        continue
    j = ns[(e["pid"], e["args"]["seq"])]
    want = ((j["producer_ns"] or j["collector_ns"]) - start) / 1000
    check(abs(e["ts"] - want) < 0.0015, f"ts {e['ts']} != {want}")
    if "payload" in e["args"]:
        check(e["args"]["payload"] == j["payload"], "chrome payload = jsonl payload")
check(any(e["name"] == "hello" for e in inst), "short printable payload names its instant")
check(any(e["name"] == "type 6" for e in inst), "long payload: type as the name")

# ---- text: [time] (+delta) name[id] #seq type=T: payload -------------------
line_re = re.compile(r"\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z)\] "
                     r"\((\+\?\.\?{9}|[+-]\d+\.\d{9})\) (\S+)\[(\d+)\] #(\d+) type=(\d+): (.*)")
tl = [l.rstrip("\n") for l in open(f"{work}/dump.text", encoding="utf-8") if l.startswith("[")]
check(len(tl) == len(events), f"text event lines {len(tl)}")
prev = None
for l, j in zip(tl, events):
    m = line_re.fullmatch(l)
    check(m is not None, f"text line shape: {l[:100]!r}")
    if not m:
        continue
    if prev is None:
        check(m.group(2) == "+?.?????????", "first delta")
    else:
        d = j["collector_ns"] - prev
        want = ("+" if d >= 0 else "-") + f"{abs(d) // 10**9}.{abs(d) % 10**9:09d}"
        check(m.group(2) == want, f"delta {m.group(2)} != {want}")
    prev = j["collector_ns"]
    # A name is one field: escaped, a space as \x20 (docs/cli.md).
    check(m.group(3) == (j["name"] or "?").replace("\\", "\\\\").replace(" ", "\\x20") and int(m.group(4)) == j["producer"]
          and int(m.group(5)) == j["seq"] and int(m.group(6)) == j["type"], f"text fields {l[:80]}")
    if j["producer"] == A:
        p = alpha[j["seq"]][1]
        try:
            printable = p.decode().isprintable()
        except UnicodeDecodeError:
            printable = False
        shown = m.group(7).encode() if printable else c_unescape(m.group(7))
        check(shown == p, f"text payload #{j['seq']}: {m.group(7)[:60]!r}")

# ---- --stats ----------------------------------------------------------------
st = [json.loads(l) for l in open(f"{work}/stats.jsonl")]
want = {A: ("alpha", "binary", len(alpha), sum(len(a[1]) for a in alpha), "EOF"),
        B: ('beta, "quoted"', "binary", nb, nb * 40, "EOF"),
        T: ("", "text", 3, sum(map(len, text_lines)), "EOF"),
        BAD: ("bad", "binary", 10, 10 * 32, "FRAME_TOO_BIG")}
for s in st[:-1]:
    w = want[s["id"]]
    evs = by(s["id"])
    check((s["name"], s["mode"], s["events"], s["bytes"], s["end"]) == w, f"stats {s} != {w}")
    check(s["first_ns"] == min(e["collector_ns"] for e in evs)
          and s["last_ns"] == max(e["collector_ns"] for e in evs), f"stats times {s}")
    check(s["gaps"] == 0 and s["dropped"] == 0, "stats gaps/drops")
    check(s["pid"] == conn[s["id"]]["pid"], "stats pid")
tot = st[-1]
check(tot["kind"] == "total" and tot["producers"] == 4 and tot["events"] == len(events)
      and tot["bytes"] == sum(w[3] for w in want.values()), f"stats total {tot}")
crow = list(csv.DictReader(open(f"{work}/stats.csv", newline="")))
check([(int(r["id"]), r["name"], int(r["events"]), int(r["bytes"]), r["end"]) for r in crow]
      == [(i, w[0], w[2], w[3], w[4]) for i, w in sorted(want.items())], "stats csv")
# The aligned table: same cells, every row as wide as the header.
tab = open(f"{work}/stats.txt").read().splitlines()
check(tab[0].split() == ["ID", "NAME", "PID", "MODE", "EVENTS", "BYTES", "FIRST",
                         "LAST", "GAPS", "DROPPED", "END"], f"table header {tab[0]}")
check(len(tab) == 6 and all(not l.endswith(" ") for l in tab), "table rows")
ecol = tab[0].index("EVENTS") + len("EVENTS")
for l in tab[1:]:
    check(l[ecol - 1] != " ", f"EVENTS column right-aligned: {l}")
cells = {int(l.split()[0]): l for l in tab[1:5]}
check(cells[BAD].split()[-1] == "FRAME_TOO_BIG" and f" {conn[BAD]['pid']} " in cells[BAD],
      "bad row")
check(cells[T].split()[1:3] == ["?", str(conn[T]["pid"])] and " text " in cells[T], "text row")
check(tab[5].startswith("total") and f" {len(events)} " in tab[5], f"totals row {tab[5]}")

if errors:
    print("\n".join(errors[:30]), file=sys.stderr)
    sys.exit(1)
PY

# A larger capture streams: chrome output stays one valid JSON document,
# and the dump's memory does not grow with the capture (the reader's
# window plus a 1 MiB output buffer; 16 MiB allows for libc and the
# window growing to the largest block).
big=$WORK/big.sluice
M=$(scaled 300000)
start_collector cb --pipe big --out "$big" --exit-after 1
"$PRODUCER" --pipe big --count "$M" --size 64 --name big >/dev/null
wait_collector cb
python3 - "$DUMP" "$big" "$WORK/big.json" "$M" "$(sanitized && echo 1 || echo 0)" <<'PY' || fail "large chrome dump"
import json, subprocess, sys
dump, cap, out, m, sanitized = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1"
# Read the output through a pipe, sampling the dump's peak RSS (VmHWM) as
# it writes: it blocks on the full pipe, so the samples span its whole run.
p = subprocess.Popen([dump, cap, "--format", "chrome"], stdout=subprocess.PIPE)
hwm = 0
with open(out, "wb") as f:
    while True:
        chunk = p.stdout.read(1 << 20)
        if not chunk:
            break
        f.write(chunk)
        try:
            for l in open(f"/proc/{p.pid}/status"):
                if l.startswith("VmHWM:"):
                    hwm = max(hwm, int(l.split()[1]))
        except OSError:
            pass
assert p.wait() == 0
d = json.load(open(out))
n = sum(e.get("cat") == "event" for e in d["traceEvents"])
assert n == m, (n, m)
print(f"chrome dump of {m} events: peak RSS {hwm} KiB", file=sys.stderr)
assert sanitized or 0 < hwm < 16 * 1024, f"peak RSS {hwm} KiB"
PY
echo "ok"
