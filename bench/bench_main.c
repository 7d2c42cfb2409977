/*
 * sluice-bench: measures end-to-end throughput with the real programs. It
 * starts a sluice-collector, then N sluice-producer processes (library
 * producers), waits until the collector has drained, written, synced and
 * exited (every event on disk), reads the capture back to verify that every
 * event of every producer is there in order, and prints
 *   bench: producers=K events=N bytes=B seconds=S msgs_per_s=X mb_per_s=Y
 *          lost=L collector_cpu_s=C msgs_per_cpu_s=Z collector_rss_mb=R
 * (one line). The clock runs from starting the producers to the collector's
 * exit. Collector CPU time matters as much as wall time here: producers and
 * collector share the cores, so msgs per collector CPU-second is the
 * fairer figure on a small machine.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "os.h"
#include "sluice/capture.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.0.0"
#endif

#ifdef _WIN32
#define EXE ".exe"
#define SEP "\\"
#define DEVNULL "NUL"
#else
#define EXE ""
#define SEP "/"
#define DEVNULL "/dev/null"
#endif

static const char usage_text[] =
    "Usage: sluice-bench [options]\n"
    "\n"
    "Starts sluice-collector and N sluice-producer processes, waits until\n"
    "every event is on disk, verifies the capture, and prints one line:\n"
    "  bench: producers=K events=N bytes=B seconds=S msgs_per_s=X mb_per_s=Y\n"
    "         lost=L collector_cpu_s=C msgs_per_cpu_s=Z collector_rss_mb=R\n"
    "\n"
    "Options:\n"
    "  --producers N     producer processes (default: 4)\n"
    "  --count N         events per producer (default: 1000000)\n"
    "  --size BYTES      payload bytes per event (default: 64)\n"
    "  --backend NAME    collector backend: auto|iocp|uring|epoll (default: auto)\n"
    "  --workers N       collector worker threads (default: collector's)\n"
    "  --ring-mb N       collector ring size (default: collector's)\n"
    "  --dir DIR         where the capture is written (default: $TMPDIR or /tmp)\n"
    "  --keep            keep the capture file (default: delete it)\n"
    "  --bin-dir DIR     where sluice-collector and sluice-producer are\n"
    "                    (default: beside this program or its build siblings)\n"
    "  --json            print the result as one JSON object instead\n"
    "  --help, --version\n"
    "\n"
    "Exit status: 0 success and nothing lost, 1 runtime error or loss,\n"
    "2 usage error.\n";

static void
usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "sluice-bench: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'sluice-bench --help'.\n");
    exit(2);
}

static uint64_t
parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max)
{
    uint64_t v = 0;

    if (s == NULL || *s == '\0')
        usage_error("%s needs a number", opt);
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
            usage_error("'%s' is not a valid number", s);
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v < min || v > max)
        usage_error("'%s' is out of range", s);
    return v;
}

static int
file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");

    if (f == NULL)
        return 0;
    fclose(f);
    return 1;
}

/* Finds NAME in dir, dir/../collector or dir/../producer (build tree). */
static int
find_tool(const char *dir, const char *name, char *out, size_t cap)
{
    static const char *const sub[] = {"", SEP ".." SEP "collector",
                                       SEP ".." SEP "producer"};

    for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
        snprintf(out, cap, "%s%s" SEP "%s" EXE, dir, sub[i], name);
        if (file_exists(out))
            return 0;
    }
    return SL_ENOENT;
}

/* Reads the capture back: events per producer in order, nothing missing. */
static int
verify_capture(const char *path, uint64_t producers, uint64_t count,
               uint64_t *found, uint64_t *gaps)
{
    sluice_capture *c;
    sluice_record rec;
    sluice_capture_stats st;
    uint64_t *next;
    uint64_t max_id = producers * 4 + 16;
    int rc;

    *found = 0;
    *gaps = 0;
    rc = sluice_capture_open(path, &c);
    if (rc != 0)
        return rc;
    next = calloc(max_id + 1, sizeof(*next));
    if (next == NULL) {
        sluice_capture_close(c);
        return SL_ENOMEM;
    }
    while ((rc = sluice_capture_next(c, &rec)) == 0) {
        if (rec.type >= 0xF000u)
            continue;
        (*found)++;
        if (rec.producer > max_id)
            continue;
        if (rec.seq != next[rec.producer])
            (*gaps)++;
        next[rec.producer] = rec.seq + 1;
    }
    sluice_capture_get_stats(c, &st);
    if (st.corrupt_blocks != 0 || st.torn_tail_bytes != 0)
        (*gaps) += st.corrupt_blocks + (st.torn_tail_bytes ? 1 : 0);
    free(next);
    sluice_capture_close(c);
    (void)count;
    return rc == 1 ? 0 : rc;
}

int
main(int argc, char **argv)
{
    uint64_t producers = 4, count = 1000000, size = 64;
    const char *backend = "auto", *dir = NULL, *bin_dir = NULL;
    const char *workers = NULL, *ring_mb = NULL;
    int json = 0, keep = 0, rc, status, failed = 0;
    char self_dir[1024], collector[1200], producer[1200];
    char cap[1200], pipe[128], out_path[1300], path[512];
    char count_s[32], size_s[32], n_s[32], name[64];
    sl_proc *cproc, **procs;
    sl_proc_usage cu;
    uint64_t t0, t1, found = 0, gaps = 0, total, bytes;
    double secs;

    sl_os_args_utf8(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("sluice-bench %s\n", SLUICE_VERSION);
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
            continue;
        } else if (strcmp(a, "--keep") == 0) {
            keep = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0)
            usage_error("unexpected argument '%s'", a);
        if (v == NULL)
            usage_error("%s needs a value", a);
        i++;
        if (strcmp(a, "--producers") == 0)
            producers = parse_u64(a, v, 1, 4096);
        else if (strcmp(a, "--count") == 0)
            count = parse_u64(a, v, 1, UINT64_MAX / 4096);
        else if (strcmp(a, "--size") == 0)
            size = parse_u64(a, v, 0, 16u << 20);
        else if (strcmp(a, "--backend") == 0)
            backend = v;
        else if (strcmp(a, "--workers") == 0)
            workers = v;
        else if (strcmp(a, "--ring-mb") == 0)
            ring_mb = v;
        else if (strcmp(a, "--dir") == 0)
            dir = v;
        else if (strcmp(a, "--bin-dir") == 0)
            bin_dir = v;
        else
            usage_error("unknown option '%s'", a);
    }

    if (bin_dir == NULL) {
        rc = sl_os_exe_dir(self_dir, sizeof(self_dir));
        if (rc != 0) {
            fprintf(stderr, "sluice-bench: cannot find my own directory: "
                    "%s; use --bin-dir\n", sl_strerror(rc));
            return 1;
        }
        bin_dir = self_dir;
    }
    if (find_tool(bin_dir, "sluice-collector", collector, sizeof(collector)) ||
        find_tool(bin_dir, "sluice-producer", producer, sizeof(producer))) {
        fprintf(stderr, "sluice-bench: sluice-collector and sluice-producer "
                "not found in %s; use --bin-dir\n", bin_dir);
        return 1;
    }
    if (dir == NULL) {
        dir = getenv("TMPDIR");
        if (dir == NULL || *dir == '\0')
            dir = getenv("TEMP");
        if (dir == NULL || *dir == '\0')
            dir = "/tmp";
    }
    snprintf(pipe, sizeof(pipe), "sluice-bench-%" PRIu32 "-%" PRIu64,
             sl_os_pid(), sl_os_mono_ns() % 1000000u);
    snprintf(cap, sizeof(cap), "%s" SEP "%s.sluice", dir, pipe);
    snprintf(out_path, sizeof(out_path), "%s.out", cap);
    rc = sl_os_pipe_path(pipe, strlen(pipe), path, sizeof(path), NULL);
    if (rc != 0) {
        fprintf(stderr, "sluice-bench: pipe name: %s\n", sl_strerror(rc));
        return 1;
    }
    snprintf(n_s, sizeof(n_s), "%" PRIu64, producers);
    snprintf(count_s, sizeof(count_s), "%" PRIu64, count);
    snprintf(size_s, sizeof(size_s), "%" PRIu64, size);

    {
        const char *cargv[20];
        int k = 0;

        cargv[k++] = collector;
        cargv[k++] = "--pipe";
        cargv[k++] = pipe;
        cargv[k++] = "--out";
        cargv[k++] = cap;
        cargv[k++] = "--exit-after";
        cargv[k++] = n_s;
        cargv[k++] = "--backend";
        cargv[k++] = backend;
        if (workers) {
            cargv[k++] = "--workers";
            cargv[k++] = workers;
        }
        if (ring_mb) {
            cargv[k++] = "--ring-mb";
            cargv[k++] = ring_mb;
        }
        cargv[k] = NULL;
        rc = sl_os_spawn(cargv, out_path, &cproc);
        if (rc != 0) {
            fprintf(stderr, "sluice-bench: cannot start %s: %s\n", collector,
                    sl_strerror(rc));
            return 1;
        }
    }
    /* Wait for the endpoint so collector start-up is not timed. */
    for (int i = 0; i < 1000 && !sl_os_pipe_ready(path); i++)
        sl_os_sleep_ns(5000000u);

    procs = calloc(producers, sizeof(*procs));
    if (procs == NULL) {
        sl_os_proc_kill(cproc);
        sl_os_proc_wait(cproc, &status, NULL);
        return 1;
    }
    t0 = sl_os_mono_ns();
    for (uint64_t i = 0; i < producers; i++) {
        const char *pargv[14];

        snprintf(name, sizeof(name), "bench-%" PRIu64, i);
        pargv[0] = producer;
        pargv[1] = "--pipe";
        pargv[2] = pipe;
        pargv[3] = "--count";
        pargv[4] = count_s;
        pargv[5] = "--size";
        pargv[6] = size_s;
        pargv[7] = "--name";
        pargv[8] = name;
        pargv[9] = "--connect-timeout";
        pargv[10] = "10000";
        pargv[11] = NULL;
        rc = sl_os_spawn(pargv, DEVNULL, &procs[i]);
        if (rc != 0) {
            fprintf(stderr, "sluice-bench: cannot start %s: %s\n", producer,
                    sl_strerror(rc));
            failed = 1;
            producers = i;
            break;
        }
    }
    for (uint64_t i = 0; i < producers; i++) {
        sl_os_proc_wait(procs[i], &status, NULL);
        if (status != 0) {
            fprintf(stderr, "sluice-bench: producer %" PRIu64 " exited "
                    "with status %d\n", i, status);
            failed = 1;
        }
    }
    free(procs);
    if (failed) {
        /* Some producers never connected: --exit-after would never be
         * reached. */
        sl_os_proc_kill(cproc);
    }
    sl_os_proc_wait(cproc, &status, &cu);
    t1 = sl_os_mono_ns();
    if (status != 0 && !failed) {
        fprintf(stderr, "sluice-bench: collector exited with status %d\n",
                status);
        failed = 1;
    }
    remove(out_path);

    total = producers * count;
    bytes = total * size;
    rc = verify_capture(cap, producers, count, &found, &gaps);
    if (rc != 0) {
        fprintf(stderr, "sluice-bench: cannot read %s: %s\n", cap,
                sl_strerror(rc));
        failed = 1;
    }
    if (!keep)
        remove(cap);
    secs = (double)(t1 - t0) / 1e9;
    {
        uint64_t lost = (found < total ? total - found : 0) + gaps;
        double mps = (double)total / secs;
        double per_cpu = cu.cpu_seconds > 0 ? (double)found / cu.cpu_seconds
                                            : 0;

        if (json)
            printf("{\"producers\":%" PRIu64 ",\"events\":%" PRIu64
                   ",\"bytes\":%" PRIu64 ",\"seconds\":%.3f,\"msgs_per_s\":"
                   "%.0f,\"mb_per_s\":%.1f,\"lost\":%" PRIu64
                   ",\"collector_cpu_s\":%.3f,\"msgs_per_cpu_s\":%.0f,"
                   "\"collector_rss_mb\":%.1f,\"size\":%" PRIu64
                   ",\"backend\":\"%s\"}\n",
                   producers, found, bytes, secs, mps,
                   (double)bytes / secs / 1e6, lost, cu.cpu_seconds, per_cpu,
                   (double)cu.max_rss / 1048576.0, size, backend);
        else
            printf("bench: producers=%" PRIu64 " events=%" PRIu64
                   " bytes=%" PRIu64 " seconds=%.3f msgs_per_s=%.0f "
                   "mb_per_s=%.1f lost=%" PRIu64 " collector_cpu_s=%.3f "
                   "msgs_per_cpu_s=%.0f collector_rss_mb=%.1f\n",
                   producers, found, bytes, secs, mps,
                   (double)bytes / secs / 1e6, lost, cu.cpu_seconds, per_cpu,
                   (double)cu.max_rss / 1048576.0);
        if (lost != 0) {
            fprintf(stderr, "sluice-bench: %" PRIu64 " events lost or out "
                    "of order\n", lost);
            failed = 1;
        }
    }
    return failed ? 1 : 0;
}
