#!/usr/bin/env python3
"""bench/before_after.py: two builds of sluice against each other, in one run.

  bench/before_after.py --before BUILD --after BUILD [--reps N] [--scale F]

For a change that must not cost throughput (docs/benchmarks.md, "Before
and after"), repetition by repetition and interleaved, so both builds get
the same minutes of a noisy machine:

  copy      the copy limit at 64 B x 4 producers (bench/compare.py's
            copy_reader + frame_sender, from --after's build)
  before    sluice-bench of --before at 64 B x 4, io_uring, no fdatasync
  after     the same for --after
  sweep     sluice-bench --sweep 4,256 of each build (msgs/s at 4 and 256
            producers)

Prints the medians and the ratios the project keeps: sluice / copy limit
(>= 0.7) and 256 / 4 producers (>= 0.7). Both builds need bench/compare/
(Linux). Measuring, not testing.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402


def sweep(build, work, total, nosync):
    env = dict(os.environ, LD_PRELOAD=nosync)
    r = subprocess.run(
        [os.path.join(build, "bench", "sluice-bench"), "--sweep", "4,256",
         "--total", str(total), "--size", "64", "--backend", "uring",
         "--dir", work, "--json"],
        env=env, capture_output=True, text=True)
    if r.returncode != 0:
        compare.fail(f"sweep failed: {r.stdout.strip()} {r.stderr[-300:]}")
    out = {}
    for line in r.stdout.splitlines():
        j = json.loads(line)
        if j["lost"] != 0:
            compare.fail(f"sweep lost events: {j}")
        out[j["producers"]] = j["msgs_per_s"]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--scale", type=float, default=0.5)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="sl-before-after.")
    mk = lambda b: argparse.Namespace(build=b, dir=work, peers=None,
                                      scale=a.scale)
    runners = {"before": compare.Runner(mk(a.before)),
               "after": compare.Runner(mk(a.after))}
    k, size = 4, 64
    n_copy = round(compare.EVENTS["copy"][size] * a.scale / k)
    n_sl = round(compare.EVENTS["sluice"][size] * a.scale / k)
    rate = {"copy": [], "before": [], "after": []}
    sw = {"before": {4: [], 256: []}, "after": {4: [], 256: []}}
    for rep in range(a.reps):
        r = runners["after"].copy(k, n_copy, size, False)
        runners["after"].clean()
        rate["copy"].append(k * n_copy / r["seconds"])
        for which in ("before", "after"):
            r = runners[which].sluice(k, n_sl, size, "uring", False)
            runners[which].clean()
            rate[which].append(k * n_sl / r["seconds"])
            s = sweep(runners[which].a.build, work, k * n_sl,
                      os.path.join(runners[which].bin, "nosync.so"))
            runners[which].clean()
            for p in (4, 256):
                sw[which][p].append(s[p])
        print(f"rep {rep + 1}: copy {rate['copy'][-1] / 1e6:.2f}M, before "
              f"{rate['before'][-1] / 1e6:.2f}M, after "
              f"{rate['after'][-1] / 1e6:.2f}M msgs/s; sweep 4/256 before "
              f"{sw['before'][4][-1] / 1e6:.2f}/{sw['before'][256][-1] / 1e6:.2f}M,"
              f" after {sw['after'][4][-1] / 1e6:.2f}/"
              f"{sw['after'][256][-1] / 1e6:.2f}M", file=sys.stderr,
              flush=True)
    med = {key: statistics.median(v) for key, v in rate.items()}
    print(f"64 B x 4 producers, median of {a.reps}: copy limit "
          f"{med['copy'] / 1e6:.2f}M msgs/s")
    for which in ("before", "after"):
        s4 = statistics.median(sw[which][4])
        s256 = statistics.median(sw[which][256])
        print(f"  {which}: {med[which] / 1e6:.2f}M msgs/s = "
              f"{med[which] / med['copy']:.2f} x copy limit; sweep 4: "
              f"{s4 / 1e6:.2f}M, 256: {s256 / 1e6:.2f}M = {s256 / s4:.2f} x")
    os.rmdir(work) if not os.listdir(work) else None


if __name__ == "__main__":
    main()
