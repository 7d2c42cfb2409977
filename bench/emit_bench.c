/*
 * sl-emit-bench: what one sluice_producer_emit() costs, and how the
 * producer library scales with threads. It plays a collector that does as
 * little as possible: a thread listening on a Unix socket in a temporary
 * directory sends the greeting and then reads and discards every byte (one
 * recv() of up to 1 MiB at a time), so the figure is the library's own
 * cost plus its write() calls, not a collector's. Then 1, 2, ... threads
 * emit --count events of --size bytes each on one handle, with
 * sluice_producer_emit() (reads the clock per event) or
 * sluice_producer_emit_ts() (the caller's timestamp), and it prints per
 * thread count: ns per event on each thread (wall time / events per
 * thread), and events per second in total.
 *
 *   sl-emit-bench [--threads 1,2,3,4] [--count N] [--size BYTES]
 *                 [--api emit|emit_ts|both] [--quiet]
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
#include <sys/un.h>
#include <unistd.h>

#include "os.h"
#include "sluice/producer.h"
#include "wire.h"

#define MAX_THREADS 64

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
    int use_ts;
    int rc;
} emitter;

static void
die(const char *what)
{
    fprintf(stderr, "sl-emit-bench: %s: %s\n", what, strerror(errno));
    exit(1);
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
    sl_wire_greeting(greeting, sizeof(greeting), SL_WIRE_MAX_FRAME_DEFAULT, 1,
                     &glen);
    if (write(fd, greeting, glen) != (ssize_t)glen)
        die("greeting");
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
    uint64_t ts = sl_os_now_ns();

    memset(payload, 'x', e->size);
    e->rc = 0;
    if (e->use_ts) {
        for (uint64_t i = 0; i < e->count && e->rc == 0; i++)
            e->rc = sluice_producer_emit_ts(e->p, 1, ts + i, payload,
                                            e->size);
    } else {
        for (uint64_t i = 0; i < e->count && e->rc == 0; i++)
            e->rc = sluice_producer_emit(e->p, 1, payload, e->size);
    }
    free(payload);
}

/* One case: returns wall seconds from the first emit to the last byte
 * handed to the socket (close flushes). */
static double
run_case(unsigned threads, uint64_t count, size_t size, int use_ts)
{
    sluice_producer_opts o;
    sluice_producer *p;
    emitter em[MAX_THREADS];
    sl_thread *th[MAX_THREADS];
    sink s;
    uint64_t t0, t1;
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
        em[t].use_ts = use_ts;
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
    }
    rc = sluice_producer_close(p);
    t1 = sl_os_mono_ns();
    if (rc != 0) {
        fprintf(stderr, "sl-emit-bench: close: %s\n", sluice_strerror(rc));
        exit(1);
    }
    sink_stop(&s);
    if (s.bytes < (uint64_t)threads * count * (size + SL_WIRE_FRAME_HDR)) {
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
    int apis = 3, quiet = 0; /* bit 0: emit, bit 1: emit_ts */

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--help") == 0) {
            puts("Usage: sl-emit-bench [--threads 1,2,3,4] [--count N] "
                 "[--size BYTES] [--api emit|emit_ts|both] [--quiet]");
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
            apis = strcmp(v, "emit") == 0      ? 1
                   : strcmp(v, "emit_ts") == 0 ? 2
                   : strcmp(v, "both") == 0    ? 3
                                               : 0;
            if (apis == 0) {
                fprintf(stderr, "sl-emit-bench: --api emit|emit_ts|both\n");
                return 2;
            }
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
    if (!quiet)
        printf("%-8s %7s %10s %14s %14s\n", "api", "threads", "size",
               "ns/event/thr", "Mevents/s");
    for (int api = 1; api <= 2; api++) {
        if (!(apis & api))
            continue;
        for (unsigned k = 0; k < nthreads; k++) {
            double s = run_case(threads[k], count, size, api == 2);

            if (!quiet)
                printf("%-8s %7u %10zu %14.1f %14.2f\n",
                       api == 1 ? "emit" : "emit_ts", threads[k], size,
                       s * 1e9 / (double)count,
                       (double)count * threads[k] / s / 1e6);
            fflush(stdout);
        }
    }
    return 0;
}
