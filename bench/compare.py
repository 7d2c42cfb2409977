#!/usr/bin/env python3
"""bench/compare.py: sluice side by side with the copy limit and its peers.

Run through bench/compare.sh, which installs the peers and builds first.
In one run, for payloads of 64 and 256 bytes and 1, 4 and 64 producers, it
measures:

  copy      bench/compare/copy_reader: epoll, large read()/write(), no
            parsing, fed by frame_sender (prebuilt frames): the ceiling
  durable   the same with fdatasync() before exit
  naive     naive_collector: a thread per connection, 1-byte reads, fwrite
  rsyslog   imptcp on a Unix socket -> omfile (asyncWriting, 1 MiB buffer,
            4096-message batches, each batch written when it ends: with
            the default, the last partial buffer waits for the 1 s flush
            timer, which would be timed), fed by line_sender (syslog lines)
  syslog-ng unix-stream -> file (threaded, flow control, large windows)
  sluice    sluice-bench (real collector, library producers) on io_uring
            and on epoll, its fdatasync turned off by nosync.so so that it
            writes to the page cache like the copy limit; and once more as
            shipped (synced at exit), against the durable limit

Every result is verified: event count and each producer's order (frames:
seq; lines: "p=IIII s=SSSSSSSSSS"; sluice: sluice-bench's own check of the
capture). Cases run interleaved, repetition by repetition, so that the
ratios compare figures from the same minutes of a noisy machine; the table
shows medians. Each case writes well under 2 GB, and a 2 GiB file is
written and removed first, because this VM hands freed memory back to the
host and the first big write after that is slow.
"""
import argparse
import datetime
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

SIZES = (64, 256)
PRODUCERS = (1, 4, 64)
PEERS = ("naive", "rsyslog", "syslog-ng")
# Events per case (all producers together), per payload size, chosen so a
# case takes one to a few seconds here and writes well under 2 GB.
EVENTS = {
    "copy": {64: 12_000_000, 256: 4_000_000},
    "durable": {64: 12_000_000, 256: 4_000_000},
    "sluice": {64: 8_000_000, 256: 3_000_000},
    "rsyslog": {64: 1_600_000, 256: 800_000},
    "syslog-ng": {64: 500_000, 256: 400_000},
    "naive": {64: 24_000, 256: 8_000},
}
SYSTEMS = ("copy", "durable", "sluice-uring", "sluice-epoll",
           "sluice-uring-sync", "naive", "rsyslog", "syslog-ng")
LABEL = {
    "copy": "copy limit",
    "durable": "durable limit (+fdatasync)",
    "sluice-uring": "sluice io_uring",
    "sluice-epoll": "sluice epoll",
    "sluice-uring-sync": "sluice io_uring (+fdatasync)",
    "naive": "naive (thread/conn, 1-byte reads)",
    "rsyslog": "rsyslog 8 (imptcp -> omfile)",
    "syslog-ng": "syslog-ng 3 (unix-stream -> file)",
}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def fail(msg):
    print("compare: " + msg, file=sys.stderr)
    sys.exit(1)


def wait_path(path, proc, timeout=20.0):
    end = time.monotonic() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None:
            fail(f"{proc.args[0]} exited with {proc.returncode} at start")
        if time.monotonic() > end:
            fail(f"{path} did not appear")
        time.sleep(0.005)


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_hwm_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def run_senders(argv_of, k):
    procs = [subprocess.Popen(argv_of(i), stdout=subprocess.DEVNULL)
             for i in range(k)]
    for p in procs:
        if p.wait() != 0:
            fail(f"sender {p.args} exited with {p.returncode}")


class Runner:
    def __init__(self, a):
        self.a = a
        self.bin = os.path.join(a.build, "bench", "compare")
        self.work = a.dir
        self.peers = a.peers

    def tool(self, name):
        return os.path.join(self.bin, "sl-cmp-" + name)

    def clean(self):
        for name in os.listdir(self.work):
            p = os.path.join(self.work, name)
            if os.path.isdir(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)

    # -- collectors that exit by themselves once every producer is done --
    def run_exiting(self, server_argv, sock, sender, k, n, size, verify_kind,
                    out):
        srv = subprocess.Popen(server_argv, stdout=subprocess.DEVNULL)
        wait_path(sock, srv)
        t0 = time.monotonic()
        run_senders(lambda i: [self.tool(sender), "--connect", sock,
                               "--count", str(n), "--size", str(size),
                               "--id", str(i)], k)
        _, status, ru = os.wait4(srv.pid, 0)
        t1 = time.monotonic()
        srv.returncode = os.waitstatus_to_exitcode(status)
        if srv.returncode != 0:
            fail(f"{server_argv[0]} exited with {srv.returncode}")
        self.verify(verify_kind, out, k, n)
        return dict(seconds=t1 - t0, cpu=ru.ru_utime + ru.ru_stime,
                    rss=ru.ru_maxrss / 1024.0)

    def verify(self, kind, out, k, n):
        r = subprocess.run([self.tool("verify"), kind, out, str(k), str(n)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"verification failed for {out}: {r.stdout.strip()} "
                 f"{r.stderr.strip()}")

    def copy(self, k, n, size, sync):
        sock, out = os.path.join(self.work, "copy.sock"), \
            os.path.join(self.work, "copy.out")
        argv = [self.tool("copy_reader"), "--listen", sock, "--out", out,
                "--exit-after", str(k)] + (["--fsync"] if sync else [])
        return self.run_exiting(argv, sock, "frame_sender", k, n, size,
                                "frames", out)

    def naive(self, k, n, size):
        sock, out = os.path.join(self.work, "naive.sock"), \
            os.path.join(self.work, "naive.out")
        argv = [self.tool("naive_collector"), "--listen", sock, "--out", out,
                "--exit-after", str(k)]
        return self.run_exiting(argv, sock, "line_sender", k, n, size,
                                "lines", out)

    # -- daemons: done when the output file holds every line --------------
    def run_daemon(self, argv, env, sock, out, k, n, size):
        log = open(os.path.join(self.work, "daemon.log"), "w")
        d = subprocess.Popen(argv, env=env, stdout=log, stderr=log,
                             start_new_session=True)
        try:
            wait_path(sock, d)
            time.sleep(0.2)  # let every input thread settle
            cpu0 = proc_cpu(d.pid)
            t0 = time.monotonic()
            run_senders(lambda i: [self.tool("line_sender"), "--connect",
                                   sock, "--count", str(n), "--size",
                                   str(size), "--id", str(i)], k)
            want, line_len = None, None
            deadline = time.monotonic() + 300
            while True:
                st = os.stat(out).st_size if os.path.exists(out) else 0
                if line_len is None and st > 0:
                    with open(out, "rb") as f:
                        first = f.readline()
                    if first.endswith(b"\n"):
                        line_len = len(first)
                        want = line_len * k * n
                if want is not None and st >= want:
                    break
                if d.poll() is not None:
                    fail(f"{argv[0]} exited with {d.returncode}")
                if time.monotonic() > deadline:
                    fail(f"{argv[0]}: only {st} of {want} bytes after 300 s")
                time.sleep(0.005)
            t1 = time.monotonic()
            cpu = proc_cpu(d.pid) - cpu0
            rss = proc_hwm_mb(d.pid)
        finally:
            os.killpg(d.pid, signal.SIGTERM)
            try:
                d.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(d.pid, signal.SIGKILL)
                d.wait()
            log.close()
        self.verify("lines", out, k, n)
        return dict(seconds=t1 - t0, cpu=cpu, rss=rss)

    def rsyslog(self, k, n, size):
        w = os.path.join(self.work, "rsyslog")
        os.makedirs(w, exist_ok=True)
        sock, out, conf = w + "/sock", w + "/out", w + "/rsyslog.conf"
        with open(conf, "w") as f:
            f.write(f"""\
global(workDirectory="{w}" maxMessageSize="64k")
module(load="imptcp" threads="2")
template(name="msgonly" type="string" string="%msg%\\n")
ruleset(name="bench" queue.type="LinkedList" queue.size="1000000"
        queue.dequeueBatchSize="4096" queue.workerThreads="1") {{
  action(type="omfile" file="{out}" template="msgonly" asyncWriting="on"
         ioBufferSize="1m" flushOnTXEnd="on")
}}
input(type="imptcp" path="{sock}" unlink="on" ruleset="bench")
""")
        argv = [os.path.join(self.peers, "usr/sbin/rsyslogd"), "-n", "-f",
                conf, "-i", w + "/pid", "-M",
                os.path.join(self.peers, "usr/lib/x86_64-linux-gnu/rsyslog")]
        return self.run_daemon(argv, None, sock, out, k, n, size)

    def syslog_ng(self, k, n, size):
        w = os.path.join(self.work, "syslog-ng")
        os.makedirs(w, exist_ok=True)
        sock, out, conf = w + "/sock", w + "/out", w + "/syslog-ng.conf"
        with open(conf, "w") as f:
            f.write(f"""\
@version: 3.38
options {{
  threaded(yes); use-dns(no); use-fqdn(no); keep-hostname(yes);
  chain-hostnames(no); stats-freq(0); log-fifo-size(1000000);
  flush-lines(10000); log-msg-size(65536);
}};
source s_bench {{
  unix-stream("{sock}" max-connections(512) log-iw-size(1000000)
              log-fetch-limit(10000));
}};
destination d_bench {{ file("{out}" template("${{MSG}}\\n")); }};
log {{ source(s_bench); destination(d_bench); flags(flow-control); }};
""")
        lib = os.path.join(self.peers, "usr/lib/syslog-ng")
        env = dict(os.environ, LD_LIBRARY_PATH=lib)
        argv = [os.path.join(self.peers, "usr/sbin/syslog-ng"), "-F", "-f",
                conf, "--module-path=" + lib + "/3.38", "-R", w + "/persist",
                "-p", w + "/pid", "-c", w + "/ctl", "--no-caps"]
        return self.run_daemon(argv, env, sock, out, k, n, size)

    def sluice(self, k, n, size, backend, sync):
        env = dict(os.environ)
        if not sync:
            env["LD_PRELOAD"] = os.path.join(self.bin, "nosync.so")
        r = subprocess.run(
            [os.path.join(self.a.build, "bench", "sluice-bench"),
             "--producers", str(k), "--count", str(n), "--size", str(size),
             "--backend", backend, "--dir", self.work, "--json"],
            env=env, capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"sluice-bench failed: {r.stdout.strip()} "
                 f"{r.stderr.strip()[-500:]}")
        j = __import__("json").loads(r.stdout.strip().splitlines()[-1])
        if j["lost"] != 0 or j["events"] != k * n:
            fail(f"sluice-bench lost events: {j}")
        return dict(seconds=j["seconds"], cpu=j["collector_cpu_s"],
                    rss=j["collector_rss_mb"])

    def run(self, system, k, size):
        base = "sluice" if system.startswith("sluice") else system
        n = max(1, round(EVENTS[base][size] * self.a.scale / k))
        if system in ("copy", "durable"):
            r = self.copy(k, n, size, system == "durable")
        elif system == "naive":
            r = self.naive(k, n, size)
        elif system == "rsyslog":
            r = self.rsyslog(k, n, size)
        elif system == "syslog-ng":
            r = self.syslog_ng(k, n, size)
        else:
            r = self.sluice(k, n, size,
                            "epoll" if "epoll" in system else "uring",
                            system.endswith("-sync"))
        self.clean()
        r["events"] = k * n
        return r


def machine():
    model = "?"
    try:
        out = subprocess.run(["lscpu"], capture_output=True,
                             text=True).stdout
        m = re.search(r"^Model name:\s*(.+)$", out, re.M)
        model = m.group(1).strip() if m else model
    except OSError:
        pass
    mem = 0
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024 // 1024
    return (f"{os.cpu_count()} cores (`nproc`), {model} (`lscpu`), "
            f"{mem} GiB, Linux {platform.release()}")


def fmt_rate(v):
    return f"{v / 1e6:.2f}M"


def table(results, reps):
    rows = []
    hdr = ("| payload | producers | system | msgs/s | MB/s | collector CPU s "
           "| msgs per CPU-s | peak RSS MB | vs limit | vs best peer |")
    rows.append(hdr)
    rows.append("|" + "---|" * 10)
    for size in SIZES:
        for k in PRODUCERS:
            med = {}
            for system in SYSTEMS:
                rs = results.get((system, k, size), [])
                if not rs:
                    continue
                rate = statistics.median(r["events"] / r["seconds"]
                                         for r in rs)
                cpu = statistics.median(r["cpu"] for r in rs)
                per_cpu = statistics.median(
                    r["events"] / r["cpu"] if r["cpu"] > 0 else 0 for r in rs)
                rss = max(r["rss"] for r in rs)
                med[system] = (rate, cpu, per_cpu, rss)
            peers = [med[p][0] for p in PEERS if p in med]
            best = max(peers) if peers else 0
            for system, (rate, cpu, per_cpu, rss) in med.items():
                limit = "durable" if system in ("durable",
                                                "sluice-uring-sync") \
                    else "copy"
                lim = med.get(limit, (0,))[0]
                vs_lim = f"{rate / lim:.2f}" if lim else "-"
                vs_peer = f"{rate / best:.1f}" if best else "-"
                if system in ("copy",):
                    vs_lim = "1"
                rows.append(
                    f"| {size} | {k} | {LABEL[system]} | {fmt_rate(rate)} | "
                    f"{rate * size / 1e6:.0f} | {cpu:.2f} | "
                    f"{fmt_rate(per_cpu)} | {rss:.0f} | {vs_lim} | "
                    f"{vs_peer} |")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--peers", required=True,
                    help="root where rsyslog and syslog-ng were unpacked")
    ap.add_argument("--dir", default=None, help="work directory (a disk)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0,
                    help="multiply every case's event count")
    ap.add_argument("--only", default=None,
                    help="comma-separated systems to run")
    ap.add_argument("--doc", default=None,
                    help="write the table into this markdown file, between "
                         "the compare:begin/end markers")
    ap.add_argument("--command", default="bench/compare.sh")
    a = ap.parse_args()
    if a.dir is None:
        a.dir = os.path.join(os.environ.get("TMPDIR", "/var/tmp"),
                             f"sluice-compare-{os.getpid()}")
    os.makedirs(a.dir, exist_ok=True)
    runner = Runner(a)
    systems = SYSTEMS if a.only is None else tuple(
        s for s in SYSTEMS if s in a.only.split(","))
    load0 = os.getloadavg()[0]
    start = time.monotonic()

    # Warm-up: one untimed 2 GiB write (see the module's docstring).
    warm = os.path.join(a.dir, "warmup")
    block = b"\0" * (1 << 20)
    with open(warm, "wb") as f:
        for _ in range(int(2048 * min(a.scale, 1.0))):
            f.write(block)
    os.unlink(warm)

    results = {}
    total = a.reps * len(SIZES) * len(PRODUCERS) * len(systems)
    done = 0
    for rep in range(a.reps):
        for size in SIZES:
            for k in PRODUCERS:
                for system in systems:
                    r = runner.run(system, k, size)
                    results.setdefault((system, k, size), []).append(r)
                    done += 1
                    print(f"[{done}/{total}] rep {rep + 1} {size} B x{k} "
                          f"{system}: {r['events'] / r['seconds'] / 1e6:.2f}M "
                          f"msgs/s, cpu {r['cpu']:.2f} s", file=sys.stderr,
                          flush=True)
    elapsed = time.monotonic() - start
    shutil.rmtree(a.dir, ignore_errors=True)
    load1 = os.getloadavg()[0]
    text = (f"Command: `{a.command}` — {datetime.date.today()}, "
            f"{elapsed / 60:.1f} min, median of {a.reps} interleaved runs; "
            f"load average {load0:.1f} at start, {load1:.1f} at end.\n"
            f"Machine: {machine()}.\n\n" + table(results, a.reps) + "\n")
    print(text)
    if a.doc:
        with open(a.doc) as f:
            doc = f.read()
        begin, end = "<!-- compare:begin -->", "<!-- compare:end -->"
        i, j = doc.find(begin), doc.find(end)
        if i < 0 or j < i:
            fail(f"{a.doc} has no {begin} ... {end} markers")
        doc = doc[:i + len(begin)] + "\n" + text + doc[j:]
        with open(a.doc, "w") as f:
            f.write(doc)


if __name__ == "__main__":
    main()
