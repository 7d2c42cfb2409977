/*
 * sl-emit-bench: what one sluice_producer_emit() costs, and how the
 * producer library scales with threads. It plays a collector that does as
 * little as possible: a thread listening on a Unix socket in a temporary
 * directory sends a protocol 1.1 greeting (cfg=1) and one STATE frame
 * (docs/protocol.md section 13) in which every event type is enabled but
 * type 2, and then reads and discards every byte (one recv() of up to
 * 1 MiB at a time), so the figure is the library's own cost plus its
 * write() calls, not a collector's. Then 1, 2, ... threads call, --count
 * times each on one handle, with --size bytes of payload:
 *   emit      sluice_producer_emit() of type 1 (reads the clock per event)
 *   emit_ts   sluice_producer_emit_ts() of type 1 (the caller's timestamp)
 *   enabled   sluice_producer_enabled(p, 1) (the one-load check alone)
 *   disabled  sluice_producer_emit_ts() of type 2, which the library
 *             filters: nothing is sent, the filtered count must equal the
 *             calls made
 * and it prints per thread count: ns per call on each thread (wall time /
 * calls per thread), calls per second in total, and CPU ns per call (each
 * thread's CPU time in its loop / its calls, averaged over the threads:
 * less disturbed by other processes on a busy machine than wall time). --api both is emit
 * and emit_ts (the default), all is the four. --proto 1.0 makes the sink
 * send a version 1.0 greeting instead (no cfg field, no STATE frame: the
 * library has no reader thread and every type stays enabled; disabled is
 * then refused).
 *
 *   sl-emit-bench [--threads 1,2,3,4] [--count N] [--size BYTES]
 *                 [--api emit|emit_ts|enabled|disabled|both|all]
 *                 [--proto 1.0|1.1] [--quiet]
 *
 * For instructions per event, run it under callgrind with collection
 * limited to the emit call (bench/emit_instructions.sh does that). No test
 * asserts on these numbers; docs/benchmarks.md quotes them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <sys/un.h>
#include <unistd.h>

#include "os.h"
#include "sluice/producer.h"
#include "state.h"
#include "wire.h"

#define MAX_THREADS 64
#define TYPE_ON 1  /* enabled in the sink's STATE frame */
#define TYPE_OFF 2 /* disabled in it */

enum { API_EMIT = 1, API_EMIT_TS = 2, API_ENABLED = 4, API_DISABLED = 8 };

static int proto11 = 1; /* --proto: the sink speaks 1.1 (cfg + STATE) */

typedef struct sink {
    int lfd;
    char dir[128];
    char path[160];
    sl_thread *thread;
    uint64_t bytes;
} sink;

typedef struct emitter {
    sluice_producer *p;
    uint64_t count;
    size_t size;
    int api;
    int rc;
    uint64_t hits; /* enabled: how many calls said 1 (keeps the loop) */
    uint64_t cpu_ns; /* the thread's CPU time in its loop */
} emitter;

static void
die(const char *what)
{
    fprintf(stderr, "sl-emit-bench: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* The calling thread's CPU time: unlike wall time it does not count the
 * time other processes of a busy machine held the core. */
static uint64_t
thread_cpu_ns(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        die("clock_gettime");
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
read_exact(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die("read hello");
        p += r;
        n -= (size_t)r;
    }
}

static void
sink_main(void *arg)
{
    sink *s = arg;
    size_t cap = 1u << 20;
    char *buf = malloc(cap), greeting[SL_WIRE_GREETING_MAX];
    size_t glen;
    int fd = accept(s->lfd, NULL, NULL);

    if (fd < 0 || buf == NULL)
        die("accept");
    if (proto11)
        sl_wire_greeting_cfg(greeting, sizeof(greeting),
                             SL_WIRE_MAX_FRAME_DEFAULT, 1, 1, &glen);
    else
        sl_wire_greeting(greeting, sizeof(greeting),
                         SL_WIRE_MAX_FRAME_DEFAULT, 1, &glen);
    if (write(fd, greeting, glen) != (ssize_t)glen)
        die("greeting");
    if (proto11) {
        /* The answer to the hello's `want` (the library asks for the state
         * and its updates; it reads this frame before open returns). As a
         * collector does, it is sent only after the hello has been read:
         * the library reads the greeting in chunks and ignores what
         * follows its NUL. */
        static sl_state st;
        uint8_t *frame, hdr[SL_WIRE_MAGIC_LEN + SL_WIRE_FRAME_HDR];
        size_t n;

        read_exact(fd, hdr, sizeof(hdr));
        n = sl_load_le32(hdr + SL_WIRE_MAGIC_LEN);
        if (n < SL_WIRE_FRAME_HDR || n > cap)
            die("hello");
        read_exact(fd, (uint8_t *)buf, n - SL_WIRE_FRAME_HDR);
        sl_state_init(&st);
        if (sl_state_types(st.enabled, "2", 0) != 0)
            die("state");
        n = SL_WIRE_FRAME_HDR + sl_state_size(&st);
        frame = malloc(n);
        if (frame == NULL)
            die("malloc");
        sl_wire_frame_header(frame, (uint32_t)n, SL_WIRE_T_STATE, 0,
                             sl_os_now_ns());
        sl_state_encode(&st, frame + SL_WIRE_FRAME_HDR);
        if (write(fd, frame, n) != (ssize_t)n)
            die("state frame");
        free(frame);
    }
    for (;;) {
        ssize_t n = recv(fd, buf, cap, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        s->bytes += (uint64_t)n;
    }
    close(fd);
    free(buf);
}

static void
sink_start(sink *s)
{
    struct sockaddr_un sa;
    const char *tmp = getenv("TMPDIR");

    snprintf(s->dir, sizeof(s->dir), "%s/sl-emit-XXXXXX",
             tmp != NULL && *tmp != '\0' && strlen(tmp) < 64 ? tmp : "/tmp");
    if (mkdtemp(s->dir) == NULL)
        die("mkdtemp");
    snprintf(s->path, sizeof(s->path), "%s/sock", s->dir);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(s->path) >= sizeof(sa.sun_path))
        die("socket path too long");
    memcpy(sa.sun_path, s->path, strlen(s->path) + 1);
    s->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s->lfd < 0)
        die("socket");
    if (bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(s->lfd, 4) != 0)
        die("bind");
    s->bytes = 0;
    if (sl_os_thread_start(sink_main, s, &s->thread) != 0)
        die("thread");
}

static void
sink_stop(sink *s)
{
    sl_os_thread_join(s->thread);
    close(s->lfd);
    unlink(s->path);
    rmdir(s->dir);
}

static void
emitter_main(void *arg)
{
    emitter *e = arg;
    char *payload = malloc(e->size > 0 ? e->size : 1);
    uint64_t ts = sl_os_now_ns(), c0;

    memset(payload, 'x', e->size);
    e->rc = 0;
    e->hits = 0;
    c0 = thread_cpu_ns();
    switch (e->api) {
    case API_EMIT_TS:
        for (uint64_t i = 0; i < e->count && e->rc == 0; i++)
            e->rc = sluice_producer_emit_ts(e->p, TYPE_ON, ts + i, payload,
                                            e->size);
        break;
    case API_ENABLED:
        for (uint64_t i = 0; i < e->count; i++)
            e->hits += (uint64_t)sluice_producer_enabled(e->p, TYPE_ON);
        break;
    case API_DISABLED:
        for (uint64_t i = 0; i < e->count && e->rc == 0; i++)
            e->rc = sluice_producer_emit_ts(e->p, TYPE_OFF, ts + i, payload,
                                            e->size);
        break;
    default:
        for (uint64_t i = 0; i < e->count && e->rc == 0; i++)
            e->rc = sluice_producer_emit(e->p, TYPE_ON, payload, e->size);
    }
    e->cpu_ns = thread_cpu_ns() - c0;
    free(payload);
}

/* One case: returns wall seconds from the first call to the last byte
 * handed to the socket (close flushes), and in *cpu_ns the mean CPU time
 * of the threads' loops (their writes included, not close's flush). */
static double
run_case(unsigned threads, uint64_t count, size_t size, int api,
         double *cpu_ns)
{
    sluice_producer_opts o;
    sluice_producer *p;
    emitter em[MAX_THREADS];
    sl_thread *th[MAX_THREADS];
    sink s;
    uint64_t t0, t1, filtered;
    int rc;

    sink_start(&s);
    sluice_producer_opts_init(&o);
    o.name = "emit-bench";
    o.name_len = strlen(o.name);
    rc = sluice_producer_open(s.path, strlen(s.path), &o, &p);
    if (rc != 0) {
        fprintf(stderr, "sl-emit-bench: open: %s\n", sluice_strerror(rc));
        exit(1);
    }
    t0 = sl_os_mono_ns();
    for (unsigned t = 0; t < threads; t++) {
        em[t].p = p;
        em[t].count = count;
        em[t].size = size;
        em[t].api = api;
        if (sl_os_thread_start(emitter_main, &em[t], &th[t]) != 0)
            die("thread");
    }
    for (unsigned t = 0; t < threads; t++) {
        sl_os_thread_join(th[t]);
        if (em[t].rc != 0) {
            fprintf(stderr, "sl-emit-bench: emit: %s\n",
                    sluice_strerror(em[t].rc));
            exit(1);
        }
        if (api == API_ENABLED && em[t].hits != count) {
            fprintf(stderr, "sl-emit-bench: type %d reads as disabled\n",
                    TYPE_ON);
            exit(1);
        }
    }
    *cpu_ns = 0;
    for (unsigned t = 0; t < threads; t++)
        *cpu_ns += (double)em[t].cpu_ns / threads;
    filtered = sluice_producer_filtered(p);
    rc = sluice_producer_close(p);
    t1 = sl_os_mono_ns();
    if (rc != 0) {
        fprintf(stderr, "sl-emit-bench: close: %s\n", sluice_strerror(rc));
        exit(1);
    }
    sink_stop(&s);
    if (filtered != (api == API_DISABLED ? (uint64_t)threads * count : 0)) {
        fprintf(stderr, "sl-emit-bench: %" PRIu64 " events filtered\n",
                filtered);
        exit(1);
    }
    if ((api == API_EMIT || api == API_EMIT_TS) &&
        s.bytes < (uint64_t)threads * count * (size + SL_WIRE_FRAME_HDR)) {
        fprintf(stderr, "sl-emit-bench: the sink got only %" PRIu64
                " bytes\n", s.bytes);
        exit(1);
    }
    return (double)(t1 - t0) / 1e9;
}

static uint64_t
number(const char *opt, const char *s)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') {
        fprintf(stderr, "sl-emit-bench: %s: '%s' is not a number\n", opt, s);
        exit(2);
    }
    return (uint64_t)v;
}

int
main(int argc, char **argv)
{
    unsigned threads[MAX_THREADS] = {1, 2, 3, 4}, nthreads = 4;
    uint64_t count = 2000000;
    size_t size = 64;
    int apis = API_EMIT | API_EMIT_TS, quiet = 0;
    static const char *const names[] = {"emit", "emit_ts", "enabled",
                                        "disabled"};

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--help") == 0) {
            puts("Usage: sl-emit-bench [--threads 1,2,3,4] [--count N] "
                 "[--size BYTES]\n"
                 "       [--api emit|emit_ts|enabled|disabled|both|all] "
                 "[--proto 1.0|1.1] [--quiet]");
            return 0;
        }
        if (strcmp(a, "--quiet") == 0) {
            quiet = 1;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "sl-emit-bench: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "--count") == 0) {
            count = number(a, v);
        } else if (strcmp(a, "--size") == 0) {
            size = (size_t)number(a, v);
        } else if (strcmp(a, "--api") == 0) {
            apis = strcmp(v, "emit") == 0       ? API_EMIT
                   : strcmp(v, "emit_ts") == 0  ? API_EMIT_TS
                   : strcmp(v, "enabled") == 0  ? API_ENABLED
                   : strcmp(v, "disabled") == 0 ? API_DISABLED
                   : strcmp(v, "both") == 0     ? API_EMIT | API_EMIT_TS
                   : strcmp(v, "all") == 0      ? 15
                                                : 0;
            if (apis == 0) {
                fprintf(stderr, "sl-emit-bench: --api "
                                "emit|emit_ts|enabled|disabled|both|all\n");
                return 2;
            }
        } else if (strcmp(a, "--proto") == 0) {
            if (strcmp(v, "1.0") != 0 && strcmp(v, "1.1") != 0) {
                fprintf(stderr, "sl-emit-bench: --proto 1.0|1.1\n");
                return 2;
            }
            proto11 = strcmp(v, "1.1") == 0;
        } else if (strcmp(a, "--threads") == 0) {
            char *copy = strdup(v), *save = NULL;

            nthreads = 0;
            for (char *t = strtok_r(copy, ",", &save); t != NULL;
                 t = strtok_r(NULL, ",", &save)) {
                uint64_t n = number(a, t);

                if (n < 1 || n > MAX_THREADS || nthreads == MAX_THREADS) {
                    fprintf(stderr, "sl-emit-bench: --threads 1..%d\n",
                            MAX_THREADS);
                    return 2;
                }
                threads[nthreads++] = (unsigned)n;
            }
            free(copy);
        } else {
            fprintf(stderr, "sl-emit-bench: unknown option %s\n", a);
            return 2;
        }
    }
    if (nthreads == 0 || count == 0) {
        fprintf(stderr, "sl-emit-bench: nothing to run\n");
        return 2;
    }
    if (!proto11 && (apis & API_DISABLED)) {
        fprintf(stderr, "sl-emit-bench: --api disabled needs --proto 1.1 "
                        "(a 1.0 collector cannot disable a type)\n");
        return 2;
    }
    if (!quiet)
        printf("%-8s %7s %10s %14s %14s %14s\n", "api", "threads", "size",
               "ns/call/thr", "Mcalls/s", "cpu_ns/call");
    for (int k2 = 0; k2 < 4; k2++) {
        int api = 1 << k2;

        if (!(apis & api))
            continue;
        for (unsigned k = 0; k < nthreads; k++) {
            double cpu, s = run_case(threads[k], count, size, api, &cpu);

            if (!quiet)
                printf("%-8s %7u %10zu %14.2f %14.2f %14.2f\n", names[k2],
                       threads[k], size, s * 1e9 / (double)count,
                       (double)count * threads[k] / s / 1e6,
                       cpu / (double)count);
            fflush(stdout);
        }
    }
    return 0;
}
