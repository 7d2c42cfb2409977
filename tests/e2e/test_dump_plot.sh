#!/usr/bin/env bash
# sluice-dump FILE --plot OUT.svg.
#  1. A synthetic capture with known rates (tests/e2e/clients/make_capture.py):
#     alpha 100/s and a producer with a hostile name 50/s over 10 s, eight
#     small producers (6 drawn, 2 summed as "other"), a drop record of 7
#     events, a gap of 3 sequence numbers. The SVG parses as XML
#     (ElementTree), names every drawn producer in the legend (the hostile
#     name escaped, its control byte a '?'), draws one line per series with
#     the right totals, puts alpha's line at 100/s and the other at 50/s on
#     the y scale, and marks the drop (7) and the gap (3).
#  2. The same capture with a corrupt block: a "corrupt" mark.
#  3. A real capture: the series' totals add up to --verify's event count.
#     5000 producers (more than get a series of their own): 8 drawn, the
#     other 4992 summed, every event counted.
#  4. Headless Chromium renders the picture on a white and on a black page;
#     neither screenshot is blank (ink, and the line colours, present).
#  5. Usage errors (with --stats, --format) exit 2; an unwritable OUT, 1.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)

note "a synthetic capture with known rates"
"$PY" - >"$WORK/script.json" <<'PY'
import json
T = 1800000000000000000
S = 1000000000
recs = [["connect", 1, T, "alpha", 11, 1], ["connect", 2, T, "<b>&\"evil\"\u0007", 12, 1]]
for k in range(3, 11):
    recs.append(["connect", k, T, "p%d" % k, 10 + k, 1])
ev = []
for i in range(1000):                      # alpha: 100/s for 10 s, seq 300..302 missing
    seq = i if i < 300 else i + 3
    ev.append((T + i * S // 100, ["event", 1, T + i * S // 100, seq, 1, "41"]))
for i in range(500):                       # the other: 50/s
    ev.append((T + i * S // 50 + 1, ["event", 2, T + i * S // 50 + 1, i, 2, "42"]))
for k in range(3, 11):                     # 10 events each in the first second
    for i in range(10):
        ev.append((T + i * S // 10 + k, ["event", k, T + i * S // 10 + k, i, 3, ""]))
ev.append((T + 5 * S, ["drop", 2, T + 5 * S, 7, 70]))
ev.sort(key=lambda e: e[0])
recs += [e[1] for e in ev]
json.dump({"start_ns": T, "pipe": "plot", "host": "box", "per_block": 50,
           "records": recs}, open("/dev/stdout", "w"))
PY
"$PY" "$CLIENTS/make_capture.py" "$WORK/syn.sluice" <"$WORK/script.json"
"$DUMP" "$WORK/syn.sluice" --plot "$WORK/syn.svg" || fail "--plot exited non-zero"
[ -s "$WORK/syn.svg" ] || fail "no SVG written"
check_svg() {
  "$PY" - "$@" <<'PY'
import statistics, sys, xml.etree.ElementTree as ET
NS = "{http://www.w3.org/2000/svg}"
path, mode = sys.argv[1], sys.argv[2]
root = ET.parse(path).getroot()
if root.tag != NS + "svg":
    sys.exit("root is %s" % root.tag)
allg = root.find(".//%sg[@class='series-all']" % NS)
ymax = float(allg.get("data-ymax"))
left, top, w, h = map(float, allg.get("data-area").split())
npts = int(allg.get("data-bins"))
series = {}
for g in allg.findall("%sg[@class='series']" % NS):
    pts = [tuple(map(float, p.split(","))) for p in g.find(NS + "polyline").get("points").split()]
    if len(pts) != npts:
        sys.exit("a line of %d points, want %d" % (len(pts), npts))
    key = "other" if g.get("data-other") else int(g.get("data-id"))
    series[key] = (int(g.get("data-events")), pts, g.get("data-other"))
legend = [t.text for t in root.find(".//%sg[@class='legend']" % NS).iter(NS + "text")]
marks = {c: sum(int(g.get("data-count")) for g in root.iter(NS + "g") if g.get("class") == c)
         for c in ("drop", "gap", "corrupt")}
rate = lambda y: (top + h - y) / h * ymax
if mode == "synthetic":
    want = {1: 1000, 2: 500}
    if {k: v[0] for k, v in series.items() if k in (1, 2)} != want:
        sys.exit("totals %r" % {k: v[0] for k, v in series.items()})
    small = [k for k in series if k not in (1, 2, "other")]
    if len(small) != 6 or series["other"][2] != "2" or series["other"][0] != 20:
        sys.exit("series %r" % sorted(series, key=str))
    for pid, r in ((1, 100), (2, 50)):
        mid = statistics.median(rate(y) for _, y in series[pid][1][5:-5])
        if abs(mid - r) > r * 0.1:
            sys.exit("producer %d drawn at %.1f/s, want %d/s" % (pid, mid, r))
    if "alpha [1]" not in legend or '<b>&"evil"? [2]' not in legend or "other (2 producers)" not in legend:
        sys.exit("legend %r" % legend)
    if marks != {"drop": 7, "gap": 3, "corrupt": 0}:
        sys.exit("marks %r" % marks)
    raw = open(path, encoding="utf-8").read()
    if "<b>" in raw or "\x07" in raw:
        sys.exit("the hostile name reached the SVG raw")
elif mode == "corrupt":
    if marks["corrupt"] < 1:
        sys.exit("no corrupt mark: %r" % marks)
else:
    total = sum(v[0] for v in series.values())
    if total != int(mode) or len(series) != int(sys.argv[3]):
        sys.exit("%d events in %d series, want %s in %s" % (total, len(series), mode, sys.argv[3]))
PY
}
check_svg "$WORK/syn.svg" synthetic || fail "the synthetic capture's picture"

note "a corrupt block is marked"
"$PY" - "$WORK/syn.sluice" "$WORK/bad.sluice" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
hl = struct.unpack_from("<I", d, 12)[0]
p, blocks = hl, []
while p < len(d):
    blocks.append(p)
    p += struct.unpack_from("<I", d, p + 4)[0]
d[blocks[len(blocks) // 2] + 40] ^= 0xFF
open(sys.argv[2], "wb").write(d)
PY
"$DUMP" "$WORK/bad.sluice" --plot "$WORK/bad.svg" 2>/dev/null || fail "--plot of a damaged capture failed"
check_svg "$WORK/bad.svg" corrupt || fail "the damaged capture's picture"

note "a real capture"
cap=$WORK/real.sluice
start_collector real --pipe real --out "$cap" --exit-after 3
"$PRODUCER" --pipe real --count "$(scaled 20000)" --name one >/dev/null &
"$PRODUCER" --pipe real --count "$(scaled 5000)" --name two >/dev/null &
printf 'a\nb\nc\n' | socat - "UNIX-CONNECT:$WORK/CoreFxPipe_real" >/dev/null
wait_collector real
events=$("$DUMP" "$cap" --verify | sed -n 's/.* events=\([0-9]*\) .*/\1/p')
"$DUMP" "$cap" --plot "$WORK/real.svg" || fail "--plot of a real capture failed"
check_svg "$WORK/real.svg" "$events" 3 || fail "the real capture's picture"
"$DUMP" "$cap" --plot - >"$WORK/stdout.svg" || fail "--plot - failed"
cmp -s "$WORK/stdout.svg" "$WORK/real.svg" || fail "--plot - differs from --plot FILE"

note "5000 producers"
"$PY" - >"$WORK/many.json" <<'PY'
import json
T = 1800000000000000000
recs = []
for k in range(1, 5001):
    recs.append(["connect", k, T + k * 1000, "p%d" % k, k, 1])
    for i in range(1 + (k % 7 == 0) * 20):
        recs.append(["event", k, T + k * 1000 + i, i, 1, ""])
print(json.dumps({"start_ns": T, "records": recs, "per_block": 500}))
PY
"$PY" "$CLIENTS/make_capture.py" "$WORK/many.sluice" <"$WORK/many.json"
"$DUMP" "$WORK/many.sluice" --plot "$WORK/many.svg" || fail "--plot of 5000 producers failed"
want=$("$DUMP" "$WORK/many.sluice" --verify | sed -n 's/.* events=\([0-9]*\) .*/\1/p')
check_svg "$WORK/many.svg" "$want" 9 || fail "the picture of 5000 producers"
grep -q "other (4992 producers)" "$WORK/many.svg" || fail "no 'other (4992 producers)' in the legend"

note "headless Chromium: not blank on a white page nor on a black one"
command -v chromium >/dev/null || fail "chromium is missing (scripts/deps.sh installs it)"
shot() { # shot URL PNG
  mkdir -p "$WORK/chrome-$2"
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$WORK/chrome-$2" --window-size=900,440 --hide-scrollbars \
    --screenshot="$WORK/$2" "$1" >"$WORK/chrome-$2.log" 2>&1 || true
  [ -s "$WORK/$2" ] || { tail -5 "$WORK/chrome-$2.log" >&2; fail "chromium wrote no screenshot"; }
}
for bg in ffffff 000000; do
  printf '<!doctype html><html><body style="margin:0;background:#%s"><img src="syn.svg"></body></html>\n' \
    "$bg" >"$WORK/page-$bg.html"
  shot "file://$WORK/page-$bg.html" "shot-$bg.png"
  "$PY" "$SRC/tests/e2e/png_check.py" "$WORK/shot-$bg.png" "$bg" 0.01 3 >&2 ||
    fail "the picture is blank on #$bg"
done

note "usage and runtime errors"
for args in "--stats" "--verify" "--format jsonl"; do
  rc=0
  # shellcheck disable=SC2086
  "$DUMP" "$cap" --plot "$WORK/x.svg" $args 2>/dev/null || rc=$?
  [ "$rc" = 2 ] || fail "--plot with $args exited $rc, not 2"
done
rc=0
"$DUMP" "$cap" --plot "$WORK/no/such/dir/x.svg" 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && grep -q "cannot write" "$WORK/err" || fail "an unwritable --plot exited $rc: $(cat "$WORK/err")"
echo "ok"
