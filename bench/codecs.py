#!/usr/bin/env python3
"""bench/codecs.py: bytes on disk and throughput of each block codec, in one run.

  bench/codecs.py --build BUILD [--v1-build BUILD] [--reps N] [--count N]
                  [--log FILE] [--throttle-mbps M] [--doc FILE]

Issue 11's measurements (docs/benchmarks.md, "Compression"). Repetition by
repetition and interleaved, so every configuration gets the same minutes of
a noisy machine, sluice-bench (the real collector and sluice-producer
processes) with 4 producers and --count events each runs

  v1        a format-1 collector (--v1-build: a build of the commit before
            format 2, which bench/codecs.sh makes with git archive)
  none      this build, --compress none (format 2, uncompressed blocks)
  lz4       --compress lz4
  zstd:1    --compress zstd:1
  zstd:3    --compress zstd:3

on each workload: synthetic (64-byte text events), profiler (begin/end
slices, sluice-producer --workload profiler) and log (--log FILE's lines
replayed, default /var/log/dpkg.log). Two series:

  page cache   the collector's final fdatasync turned off by nosync.so (as
               bench/compare.py's page-cache rows): bytes per event and
               msgs/s
  throttled    the same with SLUICE_TEST_WRITE_MBPS=M (default 200): the
               capture file sink held to M MB/s, a slow disk
               (docs/reliability.md section 5, test-only); msgs/s

Bytes per event is the capture file's size divided by the events (the file
header and connect/disconnect records included: a few hundred bytes per
run). Every run is verified by sluice-bench (every producer's sequence
without a gap) before it counts. Prints medians and the issue's ratios;
--doc FILE replaces the part of FILE between <!-- codecs:begin --> and
<!-- codecs:end --> with the tables. Measuring, not testing.
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

CODECS = ["v1", "none", "lz4", "zstd:1", "zstd:3"]


def fail(msg):
    print("codecs: " + msg, file=sys.stderr)
    sys.exit(1)


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


class Runner:
    def __init__(self, a):
        self.a = a
        self.work = tempfile.mkdtemp(prefix="sl-codecs.", dir=a.dir)

    def bench(self, codec, workload, throttle):
        build = self.a.v1_build if codec == "v1" else self.a.build
        env = dict(os.environ)
        env["LD_PRELOAD"] = os.path.join(self.a.build, "bench", "compare",
                                         "nosync.so")
        env.pop("SLUICE_TEST_WRITE_MBPS", None)
        if throttle:
            env["SLUICE_TEST_WRITE_MBPS"] = str(self.a.throttle_mbps)
        argv = [os.path.join(build, "bench", "sluice-bench"),
                "--producers", str(self.a.producers),
                "--count", str(self.a.count), "--dir", self.work, "--json"]
        if workload == "synthetic":
            argv += ["--size", "64"]
        elif workload == "log":
            argv += ["--workload", "log:" + self.a.log]
        else:
            argv += ["--workload", workload]
        if codec != "v1":
            argv += ["--compress", codec]
        r = subprocess.run(argv, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"{shlex.join(argv)} failed: {r.stdout.strip()} "
                 f"{r.stderr.strip()[-500:]}")
        j = json.loads(r.stdout.strip().splitlines()[-1])
        n = self.a.producers * self.a.count
        if j["lost"] != 0 or j["events"] != n:
            fail(f"sluice-bench lost events: {j}")
        for f in os.listdir(self.work):
            os.unlink(os.path.join(self.work, f))
        return dict(bpe=j["capture_bytes"] / n, rate=j["msgs_per_s"],
                    cpu=j["collector_cpu_s"])


def med(xs):
    return statistics.median(xs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--v1-build", help="a build of format 1 (none: no v1 row)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--producers", type=int, default=4)
    ap.add_argument("--count", type=int, default=1000000,
                    help="events per producer (default 1000000)")
    ap.add_argument("--log", default="/var/log/dpkg.log")
    ap.add_argument("--throttle-mbps", type=int, default=200)
    ap.add_argument("--workloads", default="synthetic,profiler,log")
    ap.add_argument("--throttled-workloads", default="synthetic,profiler")
    ap.add_argument("--dir", default=None)
    ap.add_argument("--doc")
    ap.add_argument("--command", default=None,
                    help="the command line to quote in the document")
    a = ap.parse_args()
    codecs = CODECS if a.v1_build else CODECS[1:]
    workloads = [w for w in a.workloads.split(",") if w]
    throttled = [w for w in a.throttled_workloads.split(",") if w]
    for w in workloads + throttled:
        if w not in ("synthetic", "profiler", "log"):
            fail(f"unknown workload '{w}'")
    if "log" in workloads and not os.access(a.log, os.R_OK):
        fail(f"cannot read '{a.log}'")
    r = Runner(a)
    start, load0 = time.time(), loadavg()
    res = {}  # (series, workload, codec) -> list of results
    for rep in range(a.reps):
        for series, ws in (("page", workloads), ("throttled", throttled)):
            for w in ws:
                # Rotate the order each repetition, so no codec always runs
                # first (right after another workload's cleanup).
                order = codecs[rep % len(codecs):] + codecs[:rep % len(codecs)]
                for c in order:
                    x = r.bench(c, w, series == "throttled")
                    res.setdefault((series, w, c), []).append(x)
        print(f"codecs: rep {rep + 1}/{a.reps} done, load {loadavg()}",
              file=sys.stderr, flush=True)
    os.rmdir(r.work)
    minutes = (time.time() - start) / 60
    load1 = loadavg()
    ref = "v1" if a.v1_build else "none"
    out = []
    cmd = a.command or shlex.join(sys.argv)
    out.append(f"Command: `{cmd}` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(start))}, "
               f"{minutes:.1f} min, median of {a.reps} interleaved runs; "
               f"{a.producers} producers × {a.count:,} events; load average "
               f"{load0} at start, {load1} at end; log workload: `{a.log}`"
               f" ({os.path.getsize(a.log) if os.path.exists(a.log) else 0:,}"
               f" bytes).")
    if workloads:
        out.append("")
        out.append("Page cache (the final fdatasync off, as bench/compare.py's "
                   "page-cache rows):")
        out.append("")
        out.append(f"| workload | codec | bytes/event | ÷ {ref} bytes | "
                   f"msgs/s | ÷ none msgs/s | collector CPU s |")
        out.append("|---|---|---|---|---|---|---|")
    for w in workloads:
        base_b = med([x["bpe"] for x in res[("page", w, ref)]])
        base_r = med([x["rate"] for x in res[("page", w, "none")]])
        for c in codecs:
            xs = res[("page", w, c)]
            b, rt = med([x["bpe"] for x in xs]), med([x["rate"] for x in xs])
            cpu = med([x["cpu"] for x in xs])
            out.append(f"| {w} | {c} | {b:.2f} | {b / base_b:.3f} | "
                       f"{rt / 1e6:.2f}M | {rt / base_r:.2f} | {cpu:.2f} |")
    if throttled:
        out.append("")
        out.append(f"Writer held to {a.throttle_mbps} MB/s "
                   f"(`SLUICE_TEST_WRITE_MBPS={a.throttle_mbps}`, test-only), "
                   f"page cache:")
        out.append("")
        out.append("| workload | codec | bytes/event | msgs/s | ÷ none msgs/s "
                   "| collector CPU s |")
        out.append("|---|---|---|---|---|---|")
        for w in throttled:
            base_r = med([x["rate"] for x in res[("throttled", w, "none")]])
            for c in codecs:
                xs = res[("throttled", w, c)]
                b = med([x["bpe"] for x in xs])
                rt = med([x["rate"] for x in xs])
                cpu = med([x["cpu"] for x in xs])
                out.append(f"| {w} | {c} | {b:.2f} | {rt / 1e6:.2f}M | "
                           f"{rt / base_r:.2f} | {cpu:.2f} |")
    out.append("")
    out.append("Every run, in order (bytes/event, msgs/s):")
    out.append("")
    out.append("```")
    for (series, w, c), xs in res.items():
        out.append(f"{series:9} {w:9} {c:7} " + "  ".join(
            f"{x['bpe']:.2f}/{x['rate'] / 1e6:.2f}M" for x in xs))
    out.append("```")
    text = "\n".join(out) + "\n"
    sys.stdout.write(text)
    if a.doc:
        with open(a.doc) as f:
            doc = f.read()
        b, e = "<!-- codecs:begin -->\n", "<!-- codecs:end -->"
        i, j = doc.find(b), doc.find(e)
        if i < 0 or j < i:
            fail(f"{a.doc} has no {b.strip()} ... {e} markers")
        with open(a.doc, "w") as f:
            f.write(doc[:i + len(b)] + text + doc[j:])


if __name__ == "__main__":
    main()
