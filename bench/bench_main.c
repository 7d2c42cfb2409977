/*
 * sluice-bench: measures end-to-end throughput with the real programs. It
 * starts a sluice-collector, then N sluice-producer processes (library
 * producers), waits until the collector has drained, written, synced and
 * exited (every event on disk), reads the capture back to verify that every
 * event of every producer is there in order, and prints
 *   bench: producers=K events=N bytes=B seconds=S msgs_per_s=X mb_per_s=Y
 *          lost=L collector_cpu_s=C msgs_per_cpu_s=Z collector_rss_mb=R
 * (one line). The clock runs from starting the producers to the collector's
 * exit. With --rotate-size the capture is a set of chunks
 * (NAME.000001.sluice, ...): all of them are read back in chunk order as
 * one stream, and the line adds chunks=N. Collector CPU time matters as much as wall time here: producers and
 * collector share the cores, so msgs per collector CPU-second is the
 * fairer figure on a small machine.
 *
 * --sweep 1,4,16,64,256 runs one case per producer count (each sending
 * --total events in all) and prints a table; --svg FILE draws msgs/s and
 * msgs per collector CPU-second against producers as a plain SVG chart,
 * written here (no plotting dependency). On a terminal a progress line on
 * stderr shows elapsed time, producers done and capture bytes written.
 */
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "os.h"
#include "proc.h"
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
    "         capture_bytes=D [chunks=N]\n"
    "\n"
    "Options:\n"
    "  --producers N     producer processes (default: 4)\n"
    "  --count N         events per producer (default: 1000000)\n"
    "  --size BYTES      payload bytes per event (default: 64)\n"
    "  --backend NAME    collector backend: auto|iocp|uring|epoll (default: auto)\n"
    "  --workers N       collector worker threads (default: collector's)\n"
    "  --ring-mb N       collector ring size (default: collector's)\n"
    "  --compress C      collector block codec: none|lz4|zstd[:LEVEL]\n"
    "                    (default: collector's)\n"
    "  --dir DIR         where the capture is written (default: $TMPDIR or /tmp)\n"
    "  --rotate-size BYTES  the collector's --rotate-size (K/M/G suffixes;\n"
    "                    65536..2^50): the capture is a set of chunks, all\n"
    "                    verified as one stream; the line adds chunks=N\n"
    "  --keep            keep the capture file or chunks (default: delete)\n"
    "  --bin-dir DIR     where sluice-collector and sluice-producer are\n"
    "                    (default: beside this program or its build siblings)\n"
    "  --json            print the result as one JSON object instead\n"
    "  --sweep LIST      one case per producer count in LIST (e.g.\n"
    "                    1,4,16,64,256), printed as a table (JSON Lines\n"
    "                    with --json); each case sends --total events\n"
    "  --total N         events per sweep case, all producers together\n"
    "                    (default: 4000000)\n"
    "  --svg FILE        with --sweep: also draw msgs/s against producers\n"
    "                    into FILE (SVG)\n"
    "  --workload W      synthetic (default: text events of --size bytes),\n"
    "                    profiler (begin/end slices, interned function\n"
    "                    ids, varint fields) or log[:FILE] (FILE's lines\n"
    "                    replayed in a loop; default /var/log/dpkg.log);\n"
    "                    --size is ignored for profiler and log\n"
    "  --help, --version\n"
    "\n"
    "Exit status: 0 success and nothing lost, 1 runtime error or loss,\n"
    "2 usage error.\n";

/* Prints "sluice-bench: <fmt with arg>" and a --help hint, exits 2. */
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
    char why[256];
    uint64_t v = 0;

    if (sl_cli_u64(opt, s, min, max, &v, why, sizeof(why)) != 0)
        usage_error("%s", why);
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

static long long
file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    long long n = -1;

    if (f == NULL)
        return -1;
    if (fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    fclose(f);
    return n;
}

/* Chunk n of the set whose --out is cap (which run_case makes end in
 * ".sluice"): the collector's naming, NAME.000001.sluice, ... */
static void
chunk_path(const char *cap, uint64_t n, char *out, size_t len)
{
    size_t stem = strlen(cap) - strlen(".sluice");

    snprintf(out, len, "%.*s.%06" PRIu64 ".sluice", (int)stem, cap, n);
}

/* The number of chunks on disk: 1, 2, ... until the first one missing. */
static uint64_t
count_chunks(const char *cap)
{
    char path[1300];
    uint64_t n = 0;

    for (;;) {
        chunk_path(cap, n + 1, path, sizeof(path));
        if (!file_exists(path))
            return n;
        n++;
    }
}

/* Reads one file on, continuing each producer's sequence in next[] (so a
 * set is checked across its chunks as one stream). want_chunk: the chunk
 * number its header must carry (0: a single file, not checked). */
static int
verify_file(const char *path, uint64_t want_chunk, uint64_t *next,
            uint64_t max_id, uint64_t *found, uint64_t *gaps,
            uint64_t *payload)
{
    sluice_capture *c;
    sluice_record rec;
    sluice_capture_stats st;
    int rc;

    rc = sluice_capture_open(path, &c);
    if (rc != 0)
        return rc;
    if (want_chunk != 0 && sluice_capture_get_info(c)->chunk != want_chunk) {
        fprintf(stderr, "sluice-bench: %s: header says chunk %" PRIu64
                ", expected %" PRIu64 "\n", path,
                sluice_capture_get_info(c)->chunk, want_chunk);
        (*gaps)++;
    }
    while ((rc = sluice_capture_next(c, &rec)) == 0) {
        if (rec.type >= 0xF000u)
            continue;
        (*found)++;
        *payload += rec.payload_len;
        if (rec.producer > max_id)
            continue;
        if (rec.seq != next[rec.producer])
            (*gaps)++;
        next[rec.producer] = rec.seq + 1;
    }
    sluice_capture_get_stats(c, &st);
    if (st.corrupt_blocks != 0 || st.torn_tail_bytes != 0)
        (*gaps) += st.corrupt_blocks + (st.torn_tail_bytes ? 1 : 0);
    sluice_capture_close(c);
    return rc == 1 ? 0 : rc;
}

/* Reads the capture back: events per producer in order, nothing missing.
 * chunks == 0: the single file cap; else chunks 1..chunks of its set, in
 * order. On an error *bad names the file. */
static int
verify_capture(const char *cap, uint64_t chunks, uint64_t producers,
               uint64_t *found, uint64_t *gaps, uint64_t *payload,
               char *bad, size_t bad_len)
{
    uint64_t *next;
    uint64_t max_id = producers * 4 + 16;
    int rc = 0;

    *found = 0;
    *gaps = 0;
    *payload = 0;
    snprintf(bad, bad_len, "%s", cap);
    next = calloc(max_id + 1, sizeof(*next));
    if (next == NULL)
        return SL_ENOMEM;
    if (chunks == 0) {
        rc = verify_file(cap, 0, next, max_id, found, gaps, payload);
    } else {
        for (uint64_t n = 1; n <= chunks && rc == 0; n++) {
            chunk_path(cap, n, bad, bad_len);
            rc = verify_file(bad, n, next, max_id, found, gaps, payload);
        }
    }
    free(next);
    return rc;
}

/* The capture's bytes on disk: the file, or every chunk of the set. */
static long long
capture_size(const char *cap, int rotated)
{
    char path[1300];
    long long total = 0, n;

    if (!rotated)
        return file_size(cap);
    for (uint64_t k = 1;; k++) {
        chunk_path(cap, k, path, sizeof(path));
        n = file_size(path);
        if (n < 0)
            return total;
        total += n;
    }
}

/* Deletes the capture: the file, or every chunk of the set. */
static void
remove_capture(const char *cap, uint64_t chunks)
{
    char path[1300];

    if (chunks == 0) {
        remove(cap);
        return;
    }
    for (uint64_t k = 1; k <= chunks; k++) {
        chunk_path(cap, k, path, sizeof(path));
        remove(path);
    }
}

typedef struct bench_cfg {
    const char *collector, *producer, *backend, *dir, *workers, *ring_mb;
    const char *compress; /* --compress, passed to the collector */
    const char *rotate;   /* --rotate-size as given, for the collector */
    const char *workload; /* NULL = synthetic, else for sluice-producer */
    uint64_t producers, count, size;
    int keep, progress;
} bench_cfg;

typedef struct bench_result {
    uint64_t producers, total, found, bytes, lost;
    long long capture_bytes; /* the capture's size on disk (all chunks) */
    uint64_t chunks;         /* chunks of a rotated set; 0: one file */
    double secs, cpu, rss_mb;
} bench_result;

/* ---- the progress line (a terminal on stderr only) ------------------- */

typedef struct progress {
    const char *cap;
    int rotated;
    uint64_t producers, t0;
    atomic_uint_least64_t done;
    atomic_int stop;
    sl_mutex lock;
    sl_cond wake;
    sl_thread *thread;
} progress;

static void
progress_main(void *arg)
{
    progress *pr = arg;

    sl_mutex_lock(&pr->lock);
    while (!atomic_load(&pr->stop)) {
        long long bytes;

        (void)sl_cond_timedwait(&pr->wake, &pr->lock, 250000000u);
        if (atomic_load(&pr->stop))
            break;
        bytes = capture_size(pr->cap, pr->rotated);
        fprintf(stderr, "\rbench: %.1f s, %" PRIu64 "/%" PRIu64
                " producers done, %.0f MB captured   ",
                (double)(sl_os_mono_ns() - pr->t0) / 1e9,
                (uint64_t)atomic_load(&pr->done), pr->producers,
                bytes > 0 ? (double)bytes / 1e6 : 0.0);
        fflush(stderr);
    }
    sl_mutex_unlock(&pr->lock);
    /* Clear the line so the result prints on a clean one. */
    fprintf(stderr, "\r%70s\r", "");
    fflush(stderr);
}

static void
progress_start(progress *pr, const char *cap, int rotated,
               uint64_t producers)
{
    pr->cap = cap;
    pr->rotated = rotated;
    pr->producers = producers;
    pr->t0 = sl_os_mono_ns();
    atomic_init(&pr->done, 0);
    atomic_init(&pr->stop, 0);
    sl_mutex_init(&pr->lock);
    sl_cond_init(&pr->wake);
    if (sl_os_thread_start(progress_main, pr, &pr->thread) != 0)
        pr->thread = NULL;
}

static void
progress_stop(progress *pr)
{
    if (pr->thread == NULL)
        return;
    sl_mutex_lock(&pr->lock);
    atomic_store(&pr->stop, 1);
    sl_cond_signal(&pr->wake);
    sl_mutex_unlock(&pr->lock);
    sl_os_thread_join(pr->thread);
    sl_cond_destroy(&pr->wake);
    sl_mutex_destroy(&pr->lock);
}

/* ---- one case ----------------------------------------------------------- */

/* Runs one case; fills *res. Returns 0, or 1 on a runtime error or loss
 * (already reported on stderr). */
static int
run_case(const bench_cfg *cfg, bench_result *res)
{
    char cap[1200], pipe[128], out_path[1300], path[512], bad[1300];
    char count_s[32], size_s[32], n_s[32], name[64];
    sl_proc *cproc, **procs;
    sl_proc_usage cu;
    uint64_t t0, t1, found = 0, gaps = 0, payload = 0, producers = cfg->producers;
    progress pr;
    int rc, status, failed = 0;

    memset(&cu, 0, sizeof(cu));
    snprintf(pipe, sizeof(pipe), "sluice-bench-%" PRIu32 "-%" PRIu64,
             sl_os_pid(), sl_os_mono_ns() % 1000000u);
    snprintf(cap, sizeof(cap), "%s" SEP "%s.sluice", cfg->dir, pipe);
    snprintf(out_path, sizeof(out_path), "%s.out", cap);
    rc = sl_os_pipe_path(pipe, strlen(pipe), path, sizeof(path), NULL);
    if (rc != 0) {
        fprintf(stderr, "sluice-bench: pipe name: %s\n", sl_strerror(rc));
        return 1;
    }
    snprintf(n_s, sizeof(n_s), "%" PRIu64, producers);
    snprintf(count_s, sizeof(count_s), "%" PRIu64, cfg->count);
    snprintf(size_s, sizeof(size_s), "%" PRIu64, cfg->size);

    {
        const char *cargv[24];
        int k = 0;

        cargv[k++] = cfg->collector;
        cargv[k++] = "--pipe";
        cargv[k++] = pipe;
        cargv[k++] = "--out";
        cargv[k++] = cap;
        cargv[k++] = "--exit-after";
        cargv[k++] = n_s;
        cargv[k++] = "--backend";
        cargv[k++] = cfg->backend;
        /* The collector's own live status line would fight with ours on
         * the terminal they share. */
        cargv[k++] = "--stats";
        cargv[k++] = "0";
        if (cfg->workers) {
            cargv[k++] = "--workers";
            cargv[k++] = cfg->workers;
        }
        if (cfg->ring_mb) {
            cargv[k++] = "--ring-mb";
            cargv[k++] = cfg->ring_mb;
        }
        if (cfg->compress) {
            cargv[k++] = "--compress";
            cargv[k++] = cfg->compress;
        }
        if (cfg->rotate) {
            cargv[k++] = "--rotate-size";
            cargv[k++] = cfg->rotate;
        }
        cargv[k] = NULL;
        rc = sl_proc_spawn(cargv, out_path, &cproc);
        if (rc != 0) {
            fprintf(stderr, "sluice-bench: cannot start %s: %s\n",
                    cfg->collector, sl_strerror(rc));
            return 1;
        }
    }
    /* Wait for the endpoint so collector start-up is not timed. */
    for (int i = 0; i < 1000 && !sl_os_pipe_ready(path); i++)
        sl_os_sleep_ns(5000000u);

    procs = calloc(producers, sizeof(*procs));
    if (procs == NULL) {
        sl_proc_kill(cproc);
        sl_proc_wait(cproc, &status, NULL);
        return 1;
    }
    t0 = sl_os_mono_ns();
    if (cfg->progress)
        progress_start(&pr, cap, cfg->rotate != NULL, producers);
    for (uint64_t i = 0; i < producers; i++) {
        const char *pargv[14];

        snprintf(name, sizeof(name), "bench-%" PRIu64, i);
        pargv[0] = cfg->producer;
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
        if (cfg->workload != NULL) {
            pargv[11] = "--workload";
            pargv[12] = cfg->workload;
            pargv[13] = NULL;
        }
        rc = sl_proc_spawn(pargv, DEVNULL, &procs[i]);
        if (rc != 0) {
            fprintf(stderr, "sluice-bench: cannot start %s: %s\n",
                    cfg->producer, sl_strerror(rc));
            failed = 1;
            producers = i;
            break;
        }
    }
    for (uint64_t i = 0; i < producers; i++) {
        sl_proc_wait(procs[i], &status, NULL);
        if (cfg->progress)
            atomic_fetch_add(&pr.done, 1);
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
        sl_proc_kill(cproc);
    }
    sl_proc_wait(cproc, &status, &cu);
    t1 = sl_os_mono_ns();
    if (cfg->progress)
        progress_stop(&pr);
    if (status != 0 && !failed) {
        fprintf(stderr, "sluice-bench: collector exited with status %d\n",
                status);
        failed = 1;
    }
    remove(out_path);

    res->producers = producers;
    res->total = producers * cfg->count;
    res->bytes = res->total * cfg->size;
    /* With rotation the set is chunks 1..N (no --keep is passed to the
     * collector, so none is deleted); none at all is a runtime error. */
    res->chunks = cfg->rotate != NULL ? count_chunks(cap) : 0;
    if (cfg->rotate != NULL && res->chunks == 0) {
        chunk_path(cap, 1, bad, sizeof(bad));
        fprintf(stderr, "sluice-bench: the collector wrote no chunk %s\n",
                bad);
        rc = 0;
        failed = 1;
    } else {
        rc = verify_capture(cap, res->chunks, producers, &found, &gaps,
                            &payload, bad, sizeof(bad));
    }
    if (cfg->workload != NULL)
        res->bytes = payload;
    res->capture_bytes = capture_size(cap, cfg->rotate != NULL);
    if (rc != 0) {
        fprintf(stderr, "sluice-bench: cannot read %s: %s\n", bad,
                sl_strerror(rc));
        failed = 1;
    }
    if (!cfg->keep)
        remove_capture(cap, res->chunks);
    res->found = found;
    res->secs = (double)(t1 - t0) / 1e9;
    res->cpu = cu.cpu_seconds;
    res->rss_mb = (double)cu.max_rss / 1048576.0;
    res->lost = (found < res->total ? res->total - found : 0) + gaps;
    if (res->lost != 0) {
        fprintf(stderr, "sluice-bench: %" PRIu64 " events lost or out "
                "of order\n", res->lost);
        failed = 1;
    }
    return failed;
}

static double
msgs_per_s(const bench_result *r)
{
    return r->secs > 0 ? (double)r->total / r->secs : 0;
}

static double
msgs_per_cpu_s(const bench_result *r)
{
    return r->cpu > 0 ? (double)r->found / r->cpu : 0;
}

static void
print_line(const bench_result *r, const bench_cfg *cfg, int json)
{
    if (json)
        printf("{\"producers\":%" PRIu64 ",\"events\":%" PRIu64
               ",\"bytes\":%" PRIu64 ",\"seconds\":%.3f,\"msgs_per_s\":"
               "%.0f,\"mb_per_s\":%.1f,\"lost\":%" PRIu64
               ",\"collector_cpu_s\":%.3f,\"msgs_per_cpu_s\":%.0f,"
               "\"collector_rss_mb\":%.1f,\"size\":%" PRIu64
               ",\"backend\":\"%s\",\"workload\":\"%s\","
               "\"capture_bytes\":%lld,\"chunks\":%" PRIu64 "}\n",
               r->producers, r->found, r->bytes, r->secs, msgs_per_s(r),
               (double)r->bytes / r->secs / 1e6, r->lost, r->cpu,
               msgs_per_cpu_s(r), r->rss_mb, cfg->size, cfg->backend,
               cfg->workload != NULL ? cfg->workload : "synthetic",
               r->capture_bytes, r->chunks);
    else {
        printf("bench: producers=%" PRIu64 " events=%" PRIu64
               " bytes=%" PRIu64 " seconds=%.3f msgs_per_s=%.0f "
               "mb_per_s=%.1f lost=%" PRIu64 " collector_cpu_s=%.3f "
               "msgs_per_cpu_s=%.0f collector_rss_mb=%.1f "
               "capture_bytes=%lld",
               r->producers, r->found, r->bytes, r->secs, msgs_per_s(r),
               (double)r->bytes / r->secs / 1e6, r->lost, r->cpu,
               msgs_per_cpu_s(r), r->rss_mb, r->capture_bytes);
        /* A set adds its field after the single file's (as the dump's
         * verify: line does), so parsers of the plain line still match. */
        if (cfg->rotate != NULL)
            printf(" chunks=%" PRIu64, r->chunks);
        printf("\n");
    }
    fflush(stdout);
}

/* ---- the sweep chart ----------------------------------------------------- */

/* A round step for about `want` ticks up to max: 1, 2 or 5 times 10^k. */
static double
nice_step(double max, int want)
{
    double raw = max / want, mag = pow(10, floor(log10(raw)));

    if (raw / mag <= 1)
        return mag;
    if (raw / mag <= 2)
        return 2 * mag;
    if (raw / mag <= 5)
        return 5 * mag;
    return 10 * mag;
}

/* msgs/s and msgs per collector CPU-second against producers (log2 x). */
static int
write_svg(const char *path, const bench_result *r, size_t n,
          const bench_cfg *cfg)
{
    const double W = 720, H = 440, L = 80, R = 30, T = 70, B = 60;
    double pw = W - L - R, ph = H - T - B, ymax = 0, step, xmin, xmax;
    FILE *f = fopen(path, "w");

    if (f == NULL) {
        fprintf(stderr, "sluice-bench: cannot write %s\n", path);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (msgs_per_s(&r[i]) > ymax)
            ymax = msgs_per_s(&r[i]);
        if (msgs_per_cpu_s(&r[i]) > ymax)
            ymax = msgs_per_cpu_s(&r[i]);
    }
    ymax = ymax > 0 ? ymax / 1e6 : 1;
    step = nice_step(ymax, 5);
    ymax = ceil(ymax / step) * step;
    xmin = log2((double)r[0].producers);
    xmax = log2((double)r[n - 1].producers);
    if (xmax <= xmin)
        xmax = xmin + 1;
#define X(k) (L + (log2((double)(k)) - xmin) / (xmax - xmin) * pw)
#define Y(v) (T + ph - (v) / ymax * ph)
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
            "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"%.0f\" y=\"24\" font-size=\"15\" text-anchor=\"middle\">"
            "sluice-bench: %" PRIu64 "-byte events, %s backend</text>\n",
            W, H, W, H, W / 2, cfg->size, cfg->backend);
    for (double v = 0; v <= ymax + step / 2; v += step) {
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                "stroke=\"#ddd\"/>\n<text x=\"%.1f\" y=\"%.1f\" "
                "text-anchor=\"end\">%g</text>\n",
                L, Y(v), L + pw, Y(v), L - 8, Y(v) + 4, v);
    }
    for (size_t i = 0; i < n; i++)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                "stroke=\"#ddd\"/>\n<text x=\"%.1f\" y=\"%.1f\" "
                "text-anchor=\"middle\">%" PRIu64 "</text>\n",
                X(r[i].producers), T, X(r[i].producers), T + ph,
                X(r[i].producers), T + ph + 18, r[i].producers);
    fprintf(f,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
            "stroke=\"black\"/>\n<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
            "y2=\"%.1f\" stroke=\"black\"/>\n"
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">producer "
            "processes (log scale)</text>\n"
            "<text x=\"18\" y=\"%.1f\" text-anchor=\"middle\" "
            "transform=\"rotate(-90 18 %.1f)\">million messages per "
            "second</text>\n",
            L, T + ph, L + pw, T + ph, L, T, L, T + ph, L + pw / 2, H - 14,
            T + ph / 2, T + ph / 2);
    for (int series = 0; series < 2; series++) {
        const char *color = series == 0 ? "#1f6fb4" : "#d9730d";

        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\""
                "%s points=\"", color,
                series == 1 ? " stroke-dasharray=\"6 4\"" : "");
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%.1f,%.1f ", X(r[i].producers),
                    Y((series == 0 ? msgs_per_s(&r[i])
                                   : msgs_per_cpu_s(&r[i])) / 1e6));
        fprintf(f, "\"/>\n");
        for (size_t i = 0; i < n; i++)
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" "
                    "fill=\"%s\"/>\n", X(r[i].producers),
                    Y((series == 0 ? msgs_per_s(&r[i])
                                   : msgs_per_cpu_s(&r[i])) / 1e6), color);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                "stroke=\"%s\" stroke-width=\"2\"%s/>\n<text x=\"%.1f\" "
                "y=\"%.1f\">%s</text>\n",
                L + series * 300.0, 46.0, L + 28 + series * 300.0, 46.0,
                color, series == 1 ? " stroke-dasharray=\"6 4\"" : "",
                L + 34 + series * 300.0, 50.0,
                series == 0 ? "messages per second (wall clock)"
                            : "messages per collector CPU-second");
    }
#undef X
#undef Y
    fprintf(f, "</svg>\n");
    if (fclose(f) != 0) {
        fprintf(stderr, "sluice-bench: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

/* Parses "1,4,16" into ks (ascending, as given). Returns the count. */
static size_t
parse_sweep(const char *s, uint64_t *ks, size_t cap)
{
    size_t n = 0;
    char part[32];

    while (*s != '\0') {
        size_t len = strcspn(s, ",");

        if (len == 0 || len >= sizeof(part) || n == cap)
            usage_error("bad --sweep list '%s'", s);
        memcpy(part, s, len);
        part[len] = '\0';
        ks[n] = parse_u64("--sweep", part, 1, 4096);
        if (n > 0 && ks[n] <= ks[n - 1])
            usage_error("--sweep counts must ascend: '%s'", part);
        n++;
        s += len;
        if (*s == ',')
            s++;
    }
    if (n == 0)
        usage_error("%s", "--sweep needs a list such as 1,4,16,64,256");
    return n;
}

int
main(int argc, char **argv)
{
    bench_cfg cfg;
    const char *bin_dir = NULL, *sweep = NULL, *svg = NULL, *workload = NULL;
    char workload_arg[1100];
    uint64_t total = 4000000, ks[32];
    int json = 0, failed = 0, rc;
    char self_dir[1024], collector[1200], producer[1200];
    bench_result res[32];
    size_t nk = 0;

    memset(&cfg, 0, sizeof(cfg));
    cfg.producers = 4;
    cfg.count = 1000000;
    cfg.size = 64;
    cfg.backend = "auto";
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
            cfg.keep = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0)
            usage_error("unexpected argument '%s'", a);
        if (v == NULL)
            usage_error("%s needs a value", a);
        i++;
        if (strcmp(a, "--producers") == 0)
            cfg.producers = parse_u64(a, v, 1, 4096);
        else if (strcmp(a, "--count") == 0)
            cfg.count = parse_u64(a, v, 1, UINT64_MAX / 4096);
        else if (strcmp(a, "--size") == 0)
            cfg.size = parse_u64(a, v, 0, 16u << 20);
        else if (strcmp(a, "--backend") == 0)
            cfg.backend = v;
        else if (strcmp(a, "--workers") == 0)
            cfg.workers = v;
        else if (strcmp(a, "--ring-mb") == 0)
            cfg.ring_mb = v;
        else if (strcmp(a, "--compress") == 0)
            cfg.compress = v;
        else if (strcmp(a, "--rotate-size") == 0) {
            char why[256];
            uint64_t bytes;

            /* The collector's own limits, so a bad value is our usage
             * error (exit 2) before anything starts. */
            if (sl_cli_size(a, v, 65536u, 1ull << 50, &bytes, why,
                            sizeof(why)) != 0)
                usage_error("%s", why);
            cfg.rotate = v;
        }
        else if (strcmp(a, "--dir") == 0)
            cfg.dir = v;
        else if (strcmp(a, "--bin-dir") == 0)
            bin_dir = v;
        else if (strcmp(a, "--sweep") == 0)
            sweep = v;
        else if (strcmp(a, "--total") == 0)
            total = parse_u64(a, v, 1, UINT64_MAX / 4096);
        else if (strcmp(a, "--svg") == 0)
            svg = v;
        else if (strcmp(a, "--workload") == 0)
            workload = v;
        else
            usage_error("unknown option '%s'", a);
    }
    if (workload != NULL && strcmp(workload, "synthetic") != 0) {
        const char *file = "/var/log/dpkg.log";

        if (strcmp(workload, "profiler") == 0) {
            cfg.workload = "profiler";
        } else if (strcmp(workload, "log") == 0 ||
                   strncmp(workload, "log:", 4) == 0) {
            if (workload[3] == ':')
                file = workload + 4;
            if (*file == '\0')
                usage_error("%s", "--workload log: needs a file name");
            if (!file_exists(file)) {
                fprintf(stderr, "sluice-bench: --workload log: cannot read "
                        "'%s'\n", file);
                return 1;
            }
            snprintf(workload_arg, sizeof(workload_arg), "log:%s", file);
            cfg.workload = workload_arg;
        } else {
            usage_error("--workload must be synthetic, profiler or "
                        "log[:FILE], not '%s'", workload);
        }
    }
    if (svg != NULL && sweep == NULL)
        usage_error("%s", "--svg needs --sweep");
    if (sweep != NULL)
        nk = parse_sweep(sweep, ks, sizeof(ks) / sizeof(ks[0]));

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
    cfg.collector = collector;
    cfg.producer = producer;
    if (cfg.dir == NULL) {
        cfg.dir = getenv("TMPDIR");
        if (cfg.dir == NULL || *cfg.dir == '\0')
            cfg.dir = getenv("TEMP");
        if (cfg.dir == NULL || *cfg.dir == '\0')
            cfg.dir = "/tmp";
    }
    cfg.progress = sl_os_isatty(0);

    if (sweep == NULL) {
        failed = run_case(&cfg, &res[0]);
        print_line(&res[0], &cfg, json);
        return failed ? 1 : 0;
    }
    if (!json)
        printf("%9s %10s %8s %10s %8s %8s %12s %8s %6s\n", "producers",
               "events", "seconds", "msgs/s", "MB/s", "cpu_s", "msgs/cpu_s",
               "rss_MB", "lost");
    for (size_t i = 0; i < nk; i++) {
        cfg.producers = ks[i];
        cfg.count = total / ks[i] > 0 ? total / ks[i] : 1;
        failed |= run_case(&cfg, &res[i]);
        if (json)
            print_line(&res[i], &cfg, 1);
        else
            printf("%9" PRIu64 " %10" PRIu64 " %8.3f %10.0f %8.1f %8.3f "
                   "%12.0f %8.1f %6" PRIu64 "\n",
                   res[i].producers, res[i].found, res[i].secs,
                   msgs_per_s(&res[i]),
                   (double)res[i].bytes / res[i].secs / 1e6, res[i].cpu,
                   msgs_per_cpu_s(&res[i]), res[i].rss_mb, res[i].lost);
        fflush(stdout);
    }
    if (svg != NULL && write_svg(svg, res, nk, &cfg) != 0)
        failed = 1;
    return failed ? 1 : 0;
}
