/*
 * Tests for libsluice-producer (producer/producer.c and the POSIX
 * transport). The test plays the collector with real parts: it listens on
 * a real Unix stream socket in a temporary directory (the pipe NAME has a
 * '/', so it is used as the socket path), sends a greeting made by
 * sl_wire_greeting(), accepts the library's connection on its own thread,
 * keeps every byte that arrives, and parses them afterwards with the
 * collector's own sl_wire_parse()/sl_wire_finish().
 */
#include <criterion/criterion.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "err.h"
#include "os.h"
#include "sluice/producer.h"
#include "wire.h"

#define TEST_MAX_FRAME 65536u
#define TEST_ID 42u

typedef enum srv_mode {
    SRV_NORMAL,         /* greeting, then keep everything until EOF */
    SRV_GARBAGE_LONG,   /* 100 bytes without a NUL */
    SRV_GARBAGE_NUL,    /* a short NUL-terminated non-greeting */
    SRV_BAD_VERSION,    /* a well-formed greeting of major version 2 */
    SRV_CLOSE_NOW,      /* close right after accept */
    SRV_SILENT,         /* say nothing, wait for EOF */
    SRV_GREET_AND_CLOSE, /* greeting, then close without reading */
    SRV_REFUSE_TOO_MANY, /* the --max-producers refusal greeting */
    SRV_REFUSE_USER,     /* the --allow-uid refusal greeting */
    SRV_REFUSE_OTHER     /* a refusal with a reason this library lacks */
} srv_mode;

typedef struct server {
    char dir[64];
    char path[128];
    int lfd;
    srv_mode mode;
    uint32_t max_frame;
    uint64_t listen_delay_ns;
    sl_thread *thread;
    uint8_t *data; /* every byte received, owned by the server thread */
    size_t len;
    size_t cap;
    _Atomic size_t received;
    int failed; /* a server-side call failed; checked by the test */
} server;

static void
server_append(server *s, const uint8_t *b, size_t n)
{
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 65536;
        uint8_t *d;

        while (cap < s->len + n)
            cap *= 2;
        d = realloc(s->data, cap);
        if (d == NULL) {
            s->failed = 1;
            return;
        }
        s->data = d;
        s->cap = cap;
    }
    memcpy(s->data + s->len, b, n);
    s->len += n;
    atomic_store_explicit(&s->received, s->len, memory_order_release);
}

static int
server_listen(server *s)
{
    struct sockaddr_un sa;

    s->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s->lfd < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, s->path, strlen(s->path) + 1);
    if (bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(s->lfd, 8) != 0)
        return -1;
    return 0;
}

/* Sends the whole buffer; MSG_NOSIGNAL because the peer may be gone. */
static void
server_send(server *s, int fd, const void *b, size_t n)
{
    if (send(fd, b, n, MSG_NOSIGNAL) != (ssize_t)n)
        s->failed = 1;
}

static void
server_drain(server *s, int fd, int keep)
{
    uint8_t b[65536];
    ssize_t r;

    while ((r = recv(fd, b, sizeof(b), 0)) > 0)
        if (keep)
            server_append(s, b, (size_t)r);
}

static void
server_main(void *arg)
{
    server *s = arg;
    char g[SL_WIRE_GREETING_MAX];
    size_t glen;
    int fd;

    if (s->listen_delay_ns > 0) {
        sl_os_sleep_ns(s->listen_delay_ns);
        if (server_listen(s) != 0) {
            s->failed = 1;
            return;
        }
    }
    fd = accept(s->lfd, NULL, NULL);
    if (fd < 0) {
        s->failed = 1;
        return;
    }
    switch (s->mode) {
    case SRV_NORMAL:
    case SRV_GREET_AND_CLOSE:
        if (sl_wire_greeting(g, sizeof(g), s->max_frame, TEST_ID, &glen) !=
            0) {
            s->failed = 1;
            break;
        }
        server_send(s, fd, g, glen);
        if (s->mode == SRV_NORMAL)
            server_drain(s, fd, 1);
        break;
    case SRV_GARBAGE_LONG: {
        char junk[100];

        memset(junk, 'x', sizeof(junk));
        server_send(s, fd, junk, sizeof(junk));
        server_drain(s, fd, 0);
        break;
    }
    case SRV_GARBAGE_NUL:
        server_send(s, fd, "HTTP/1.1 200 OK", 16);
        server_drain(s, fd, 0);
        break;
    case SRV_BAD_VERSION:
        server_send(s, fd, "SLUICE/2 max=65536 id=1", 24);
        server_drain(s, fd, 0);
        break;
    case SRV_REFUSE_TOO_MANY:
        server_send(s, fd, "SLUICE/1 error=too-many-producers", 34);
        server_drain(s, fd, 1);
        break;
    case SRV_REFUSE_USER:
        server_send(s, fd, "SLUICE/1 error=user-not-allowed", 32);
        server_drain(s, fd, 1);
        break;
    case SRV_REFUSE_OTHER:
        server_send(s, fd, "SLUICE/1 error=maintenance x=1", 31);
        server_drain(s, fd, 1);
        break;
    case SRV_CLOSE_NOW:
        break;
    case SRV_SILENT:
        server_drain(s, fd, 0);
        break;
    }
    close(fd);
}

/* Prepares the socket path; listens now, or after delay_ns on the
 * server thread when delay_ns > 0. */
static void
server_start_delayed(server *s, srv_mode mode, uint32_t max_frame,
                     uint64_t delay_ns)
{
    memset(s, 0, sizeof(*s));
    s->lfd = -1;
    s->mode = mode;
    s->max_frame = max_frame;
    s->listen_delay_ns = delay_ns;
    strcpy(s->dir, "/tmp/sluice-prod-XXXXXX");
    cr_assert_not_null(mkdtemp(s->dir));
    snprintf(s->path, sizeof(s->path), "%s/pipe", s->dir);
    if (delay_ns == 0)
        cr_assert_eq(server_listen(s), 0);
    cr_assert_eq(sl_os_thread_start(server_main, s, &s->thread), 0);
}

static void
server_start(server *s, srv_mode mode, uint32_t max_frame)
{
    server_start_delayed(s, mode, max_frame, 0);
}

/* Joins the server thread: call after the producer is closed. */
static void
server_join(server *s)
{
    sl_os_thread_join(s->thread);
    s->thread = NULL;
    cr_assert_eq(s->failed, 0, "a server-side call failed");
}

static void
server_cleanup(server *s)
{
    if (s->lfd >= 0)
        close(s->lfd);
    unlink(s->path);
    rmdir(s->dir);
    free(s->data);
}

typedef struct events {
    sl_wire_event *ev;
    size_t n;
    size_t cap;
} events;

static void
events_add(events *e, const sl_wire_event *ev, size_t n)
{
    if (e->n + n > e->cap) {
        size_t cap = e->cap ? e->cap : 1024;

        while (cap < e->n + n)
            cap *= 2;
        e->ev = realloc(e->ev, cap * sizeof(*e->ev));
        cr_assert_not_null(e->ev);
        e->cap = cap;
    }
    memcpy(e->ev + e->n, ev, n * sizeof(*ev));
    e->n += n;
}

/* Parses everything the server received with the collector's parser.
 * Payload pointers point into s->data. */
static void
parse_received(const server *s, sl_wire *w, events *out)
{
    sl_wire_event ev[256];
    size_t off = 0, n, consumed;
    int rc;

    memset(out, 0, sizeof(*out));
    sl_wire_init(w, s->max_frame);
    for (;;) {
        rc = sl_wire_parse(w, s->data + off, s->len - off, ev, 256, &n,
                           &consumed);
        cr_assert_eq(rc, 0, "sl_wire_parse: %s (reason %s)",
                     sl_strerror(rc), sl_wire_reason_name(w->reason));
        events_add(out, ev, n);
        off += consumed;
        if (n == 0 && consumed == 0)
            break;
    }
    rc = sl_wire_finish(w, s->data + off, s->len - off, ev,
                        SL_WIRE_FINISH_EV_MAX, &n);
    cr_assert_eq(rc, 0, "sl_wire_finish: %s", sl_strerror(rc));
    events_add(out, ev, n);
}

static sluice_producer *
open_producer(const server *s, const sluice_producer_opts *opts)
{
    sluice_producer *p = NULL;
    int rc = sluice_producer_open(s->path, strlen(s->path), opts, &p);

    cr_assert_eq(rc, 0, "open: %s", sluice_strerror(rc));
    cr_assert_not_null(p);
    return p;
}

static int
payload_is(const sl_wire_event *ev, const char *text)
{
    return ev->len == strlen(text) && memcmp(ev->payload, text, ev->len) == 0;
}

TestSuite(producer, .timeout = 30.0);

Test(producer, opts_init_sets_documented_defaults)
{
    sluice_producer_opts o;

    memset(&o, 0xA5, sizeof(o));
    sluice_producer_opts_init(&o);
    cr_assert_null(o.name);
    cr_assert_eq(o.connect_timeout_ms, 5000u);
    cr_assert_eq(o.buffer_bytes, 65536u);
    cr_assert_eq(o.flush_interval_ms, 100u);
    cr_assert_eq(o.text, 0);
}

Test(producer, binary_events_arrive_in_order_after_hello)
{
    sluice_producer_opts o;
    sluice_producer *p;
    server s;
    sl_wire w;
    events e;
    uint64_t n_ev = 0, n_bytes = 0, expect_bytes = 0, last_ts = 0;
    char payload[64];

    server_start(&s, SRV_NORMAL, TEST_MAX_FRAME);
    sluice_producer_opts_init(&o);
    o.name = "unit-producer";
    o.name_len = strlen(o.name);
    p = open_producer(&s, &o);
    cr_assert_eq(sluice_producer_id(p), TEST_ID);
    cr_assert_eq(sluice_producer_max_payload(p),
                 TEST_MAX_FRAME - SL_WIRE_FRAME_HDR);
    for (int i = 0; i < 100; i++) {
        int len = snprintf(payload, sizeof(payload), "event %d", i);

        cr_assert_eq(sluice_producer_emit(p, (uint16_t)(i * 7), payload,
                                          (size_t)len),
                     0);
        expect_bytes += (uint64_t)len;
    }
    cr_assert_eq(sluice_producer_emit(p, SLUICE_TYPE_MAX, NULL, 0), 0);
    sluice_producer_counts(p, &n_ev, &n_bytes);
    cr_assert_eq(n_ev, 101);
    cr_assert_eq(n_bytes, expect_bytes);
    cr_assert_eq(sluice_producer_close(p), 0);
    server_join(&s);

    parse_received(&s, &w, &e);
    cr_assert_eq(w.mode, SL_WIRE_MODE_BINARY);
    cr_assert_str_eq(w.name, "unit-producer");
    cr_assert_eq(w.pid, (uint32_t)getpid());
    cr_assert_eq(e.n, 1 + 101);
    cr_assert_eq(e.ev[0].type, SL_WIRE_T_HELLO);
    for (size_t i = 1; i < e.n; i++) {
        const sl_wire_event *ev = &e.ev[i];

        cr_assert_eq(ev->seq, i - 1, "event %zu has seq %llu", i,
                     (unsigned long long)ev->seq);
        cr_assert_neq(ev->ts, 0);
        cr_assert_geq(ev->ts, last_ts);
        last_ts = ev->ts;
        if (i <= 100) {
            snprintf(payload, sizeof(payload), "event %zu", i - 1);
            cr_assert_eq(ev->type, (uint16_t)((i - 1) * 7));
            cr_assert(payload_is(ev, payload));
        } else {
            cr_assert_eq(ev->type, SLUICE_TYPE_MAX);
            cr_assert_eq(ev->len, 0);
        }
    }
    free(e.ev);
    server_cleanup(&s);
}

Test(producer, default_name_is_the_executable_base_name)
{
    sluice_producer *p;
    server s;
    sl_wire w;
    events e;

    server_start(&s, SRV_NORMAL, TEST_MAX_FRAME);
    p = open_producer(&s, NULL);
    cr_assert_eq(sluice_producer_close(p), 0);
    server_join(&s);
    parse_received(&s, &w, &e);
    cr_assert_eq(e.n, 1);
    cr_assert_str_eq(w.name, "test_producer");
    cr_assert_eq(w.pid, (uint32_t)getpid());
    free(e.ev);
    server_cleanup(&s);
}

#define N_THREADS 4
#define PER_THREAD 20000u

typedef struct emitter {
    sluice_producer *p;
    uint32_t index;
    int rc;
} emitter;

static void
emitter_main(void *arg)
{
    emitter *em = arg;
    uint8_t payload[8];

    for (uint32_t i = 0; i < PER_THREAD; i++) {
        sl_store_le32(payload, em->index);
        sl_store_le32(payload + 4, i);
        em->rc = sluice_producer_emit(em->p, (uint16_t)(em->index + 1),
                                      payload, sizeof(payload));
        if (em->rc != 0)
            return;
        /* Interleave explicit flushes with the flush thread's. */
        if (i % 997 == 0 && (em->rc = sluice_producer_flush(em->p)) != 0)
            return;
    }
}

Test(producer, four_threads_emit_concurrently_without_loss_or_reorder)
{
    sluice_producer_opts o;
    sluice_producer *p;
    emitter em[N_THREADS];
    sl_thread *th[N_THREADS];
    uint32_t next[N_THREADS] = {0};
    uint64_t last_ts[N_THREADS] = {0}, n_ev = 0;
    server s;
    sl_wire w;
    events e;

    server_start(&s, SRV_NORMAL, TEST_MAX_FRAME);
    sluice_producer_opts_init(&o);
    o.buffer_bytes = 4096; /* many buffer-full writes */
    o.flush_interval_ms = 1;
    p = open_producer(&s, &o);
    for (uint32_t t = 0; t < N_THREADS; t++) {
        em[t].p = p;
        em[t].index = t;
        em[t].rc = 0;
        cr_assert_eq(sl_os_thread_start(emitter_main, &em[t], &th[t]), 0);
    }
    for (uint32_t t = 0; t < N_THREADS; t++) {
        sl_os_thread_join(th[t]);
        cr_assert_eq(em[t].rc, 0, "thread %u: %s", t,
                     sluice_strerror(em[t].rc));
    }
    sluice_producer_counts(p, &n_ev, NULL);
    cr_assert_eq(n_ev, (uint64_t)N_THREADS * PER_THREAD);
    cr_assert_eq(sluice_producer_close(p), 0);
    server_join(&s);

    parse_received(&s, &w, &e);
    cr_assert_eq(e.n, 1 + N_THREADS * PER_THREAD);
    for (size_t i = 1; i < e.n; i++) {
        const sl_wire_event *ev = &e.ev[i];
        uint32_t t, k;

        cr_assert_eq(ev->seq, i - 1, "sequence gap at event %zu", i);
        cr_assert_eq(ev->len, 8);
        t = sl_load_le32(ev->payload);
        k = sl_load_le32(ev->payload + 4);
        cr_assert_lt(t, N_THREADS);
        cr_assert_eq(ev->type, t + 1);
        cr_assert_eq(k, next[t], "thread %u: got %u, expected %u", t, k,
                     next[t]);
        next[t]++;
        cr_assert_neq(ev->ts, 0);
        cr_assert_geq(ev->ts, last_ts[t]);
        last_ts[t] = ev->ts;
    }
    for (uint32_t t = 0; t < N_THREADS; t++)
        cr_assert_eq(next[t], PER_THREAD);
    free(e.ev);
    server_cleanup(&s);
}

/* Runs `threads` emitters of emitter_main() on p, `waves` times one after
 * another (threads of a later wave may take over lanes of ended ones), and
 * checks what arrived: seq 0, 1, 2, ... and each thread's own order. */
static void
run_emitters(uint32_t threads, uint32_t waves, size_t buffer_bytes)
{
    sluice_producer_opts o;
    sluice_producer *p;
    emitter *em = calloc(threads, sizeof(*em));
    sl_thread **th = calloc(threads, sizeof(*th));
    uint32_t *next = calloc((size_t)threads * waves, sizeof(*next));
    uint64_t n_ev = 0, total = (uint64_t)threads * waves * PER_THREAD;
    server s;
    sl_wire w;
    events e;

    cr_assert(em != NULL && th != NULL && next != NULL);
    server_start(&s, SRV_NORMAL, TEST_MAX_FRAME);
    sluice_producer_opts_init(&o);
    o.buffer_bytes = buffer_bytes;
    o.flush_interval_ms = 1;
    p = open_producer(&s, &o);
    for (uint32_t wave = 0; wave < waves; wave++) {
        for (uint32_t t = 0; t < threads; t++) {
            em[t].p = p;
            em[t].index = wave * threads + t;
            em[t].rc = 0;
            cr_assert_eq(sl_os_thread_start(emitter_main, &em[t], &th[t]), 0);
        }
        for (uint32_t t = 0; t < threads; t++) {
            sl_os_thread_join(th[t]);
            cr_assert_eq(em[t].rc, 0, "thread %u: %s", t,
                         sluice_strerror(em[t].rc));
        }
    }
    sluice_producer_counts(p, &n_ev, NULL);
    cr_assert_eq(n_ev, total);
    cr_assert_eq(sluice_producer_close(p), 0);
    server_join(&s);

    parse_received(&s, &w, &e);
    cr_assert_eq(e.n, 1 + total);
    for (size_t i = 1; i < e.n; i++) {
        const sl_wire_event *ev = &e.ev[i];
        uint32_t t = sl_load_le32(ev->payload);

        cr_assert_eq(ev->seq, i - 1, "sequence gap at event %zu", i);
        cr_assert_lt(t, threads * waves);
        cr_assert_eq(sl_load_le32(ev->payload + 4), next[t],
                     "thread %u out of order", t);
        next[t]++;
    }
    for (uint32_t t = 0; t < threads * waves; t++)
        cr_assert_eq(next[t], PER_THREAD);
    free(e.ev);
    free(next);
    free(th);
    free(em);
    server_cleanup(&s);
}

Test(producer, more_threads_than_lanes_share_a_buffer_without_loss_or_reorder)
{
    /* 24 threads: 16 get lanes of their own, 8 share the locked one. */
    run_emitters(24, 1, 4096);
}

Test(producer, threads_that_end_leave_their_events_and_free_lanes_reused)
{
    /* 3 waves of 12 threads: later waves run after earlier threads have
     * ended, with their events still queued in lanes. */
    run_emitters(12, 3, 65536);
}

Test(producer, emit_ts_records_the_callers_timestamp)
{
    sluice_producer_opts o;
    sluice_producer *p;
    uint64_t before = sl_os_now_ns();
    server s;
    sl_wire w;
    events e;

    server_start(&s, SRV_NORMAL, TEST_MAX_FRAME);
    sluice_producer_opts_init(&o);
    o.flush_interval_ms = 0;
    p = open_producer(&s, &o);
    cr_assert_eq(sluice_producer_emit_ts(p, 7, 12345, "a", 1), 0);
    cr_assert_eq(sluice_producer_emit(p, 8, "b", 1), 0);
    cr_assert_eq(sluice_producer_emit_ts(p, 9, UINT64_MAX, "c", 1), 0);
    cr_assert_eq(sluice_producer_emit_ts(p, 0xF000, 1, "d", 1),
                 SLUICE_EINVAL);
    cr_assert_eq(sluice_producer_emit_ts(NULL, 1, 1, "d", 1), SLUICE_EINVAL);
    cr_assert_eq(sluice_producer_close(p), 0);
    server_join(&s);

    parse_received(&s, &w, &e);
    cr_assert_eq(e.n, 4);
    cr_assert_eq(e.ev[1].ts, 12345u);
    cr_assert_eq(e.ev[1].type, 7);
    cr_assert_eq(e.ev[1].seq, 0u);
    cr_assert_geq(e.ev[2].ts, before);
    cr_assert_eq(e.ev[2].seq, 1u);
    cr_assert_eq(e.ev[3].ts, UINT64_MAX);
    cr_assert_eq(e.ev[3].seq, 2u);
    cr_assert(payload_is(&e.ev[3], "c"));
    free(e.ev);
    server_cleanup(&s);
}

Test(producer, timestamps_stay_with_the_clock_and_never_run_back)
{
    /* Over ~80 ms, so that a TSC-scaled clock (producer.c, lane_now()) is
     * calibrated and re-anchored many times: every timestamp lies between
     * clock readings taken just before and after its emit (with 50 us of
     * slack for the interpolation), and they never decrease. */
    enum { N = 4000 };
    uint64_t *lo = calloc(N, sizeof(*lo)), *hi = calloc(N, sizeof(*hi));
    sluice_producer_opts o;
    sluice_producer *p;
    uint8_t pl[4];
    server s;
    sl_wire w;
    events e;

    cr_assert(lo != NULL && hi != NULL);
    server_start(&s, SRV_NORMAL, TEST_MAX_FRAME);
    sluice_producer_opts_init(&o);
    p = open_producer(&s, &o);
    for (uint32_t i = 0; i < N; i++) {
        sl_store_le32(pl, i);
        lo[i] = sl_os_now_ns();
        cr_assert_eq(sluice_producer_emit(p, 1, pl, sizeof(pl)), 0);
        hi[i] = sl_os_now_ns();
        if (i % 100 == 99)
            sl_os_sleep_ns(2000000u);
    }
    cr_assert_eq(sluice_producer_close(p), 0);
    server_join(&s);
    parse_received(&s, &w, &e);
    cr_assert_eq(e.n, 1 + N);
    for (size_t i = 1; i < e.n; i++) {
        uint32_t k = sl_load_le32(e.ev[i].payload);

        cr_assert_geq(e.ev[i].ts + 50000u, lo[k], "event %u: %lu before %lu",
                      k, (unsigned long)e.ev[i].ts, (unsigned long)lo[k]);
        cr_assert_leq(e.ev[i].ts, hi[k] + 50000u, "event %u: %lu after %lu",
                      k, (unsigned long)e.ev[i].ts, (unsigned long)hi[k]);
        if (i > 1)
            cr_assert_geq(e.ev[i].ts, e.ev[i - 1].ts);
    }
    free(e.ev);
    free(lo);
    free(hi);
    server_cleanup(&s);
}

Test(producer, emit_ts_in_text_mode_sends_the_line_without_a_timestamp)
{
    sluice_producer_opts o;
    sluice_producer *p;
    server s;

    server_start(&s, SRV_NORMAL, TEST_MAX_FRAME);
    sluice_producer_opts_init(&o);
    o.text = 1;
    p = open_producer(&s, &o);
    cr_assert_eq(sluice_producer_emit_ts(p, 0, 99, "one", 3), 0);
    cr_assert_eq(sluice_producer_emit_ts(p, 0, 99, "t\nwo", 4),
                 SLUICE_EINVAL);
    cr_assert_eq(sluice_producer_close(p), 0);
    server_join(&s);
    cr_assert_eq(s.len, 4);
    cr_assert_eq(memcmp(s.data, "one\n", 4), 0);
    server_cleanup(&s);
}

Test(producer, text_mode_sends_one_line_per_event)
{
    sluice_producer_opts o;
    sluice_producer *p;
    server s;
    sl_wire w;
    events e;

    server_start(&s, SRV_NORMAL, TEST_MAX_FRAME);
    sluice_producer_opts_init(&o);
    o.text = 1;
    p = open_producer(&s, &o);
    cr_assert_eq(sluice_producer_max_payload(p), TEST_MAX_FRAME - 1);
    cr_assert_eq(sluice_producer_emit(p, 0, "hello", 5), 0);
    cr_assert_eq(sluice_producer_emit(p, 0, "", 0), 0);
    cr_assert_eq(sluice_producer_emit(p, 0, "two\nlines", 9), SLUICE_EINVAL);
    cr_assert_eq(sluice_producer_emit(p, 3, "world", 5), 0);
    cr_assert_eq(sluice_producer_close(p), 0);
    server_join(&s);

    cr_assert_eq(s.len, strlen("hello\n\nworld\n"));
    cr_assert_eq(memcmp(s.data, "hello\n\nworld\n", s.len), 0);
    parse_received(&s, &w, &e);
    cr_assert_eq(w.mode, SL_WIRE_MODE_TEXT);
    cr_assert_eq(e.n, 4);
    cr_assert_eq(e.ev[0].type, SL_WIRE_T_HELLO);
    cr_assert(payload_is(&e.ev[1], "hello"));
    cr_assert(payload_is(&e.ev[2], ""));
    cr_assert(payload_is(&e.ev[3], "world"));
    for (size_t i = 1; i < e.n; i++)
        cr_assert_eq(e.ev[i].seq, i - 1);
    free(e.ev);
    server_cleanup(&s);
}

Test(producer, too_big_payload_is_refused_without_breaking_the_stream)
{
    const uint32_t max = 1024;
    const size_t max_payload = max - SL_WIRE_FRAME_HDR;
    sluice_producer *p;
    uint8_t big[1024];
    server s;
    sl_wire w;
    events e;

    memset(big, 'b', sizeof(big));
    server_start(&s, SRV_NORMAL, max);
    p = open_producer(&s, NULL);
    cr_assert_eq(sluice_producer_max_payload(p), max_payload);
    cr_assert_eq(sluice_producer_emit(p, 1, "before", 6), 0);
    cr_assert_eq(sluice_producer_emit(p, 2, big, max_payload + 1),
                 SLUICE_ETOOBIG);
    cr_assert_eq(sluice_producer_emit(p, 3, big, max_payload), 0);
    cr_assert_eq(sluice_producer_emit(p, 4, "after", 5), 0);
    cr_assert_eq(sluice_producer_close(p), 0);
    server_join(&s);

    parse_received(&s, &w, &e);
    cr_assert_eq(e.n, 4);
    cr_assert(payload_is(&e.ev[1], "before"));
    cr_assert_eq(e.ev[1].seq, 0);
    cr_assert_eq(e.ev[2].type, 3);
    cr_assert_eq(e.ev[2].len, max_payload);
    cr_assert_eq(e.ev[2].seq, 1);
    cr_assert(payload_is(&e.ev[3], "after"));
    cr_assert_eq(e.ev[3].seq, 2);
    free(e.ev);
    server_cleanup(&s);
}

Test(producer, text_line_limit_counts_the_newline)
{
    const uint32_t max = 256;
    sluice_producer_opts o;
    sluice_producer *p;
    char line[256];
    server s;
    sl_wire w;
    events e;

    memset(line, 'x', sizeof(line));
    server_start(&s, SRV_NORMAL, max);
    sluice_producer_opts_init(&o);
    o.text = 1;
    p = open_producer(&s, &o);
    cr_assert_eq(sluice_producer_emit(p, 0, line, max), SLUICE_ETOOBIG);
    cr_assert_eq(sluice_producer_emit(p, 0, line, max - 1), 0);
    cr_assert_eq(sluice_producer_close(p), 0);
    server_join(&s);
    parse_received(&s, &w, &e);
    cr_assert_eq(e.n, 2);
    cr_assert_eq(e.ev[1].len, max - 1);
    free(e.ev);
    server_cleanup(&s);
}

Test(producer, events_larger_than_the_buffer_are_written_directly)
{
    const size_t big_len = 100000;
    sluice_producer_opts o;
    sluice_producer *p;
    uint8_t *big = malloc(big_len);
    server s;
    sl_wire w;
    events e;

    cr_assert_not_null(big);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (uint8_t)(i * 31);
    server_start(&s, SRV_NORMAL, 1u << 20);
    sluice_producer_opts_init(&o);
    o.buffer_bytes = 100; /* raised to the 4096-byte minimum */
    o.flush_interval_ms = 0;
    p = open_producer(&s, &o);
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(sluice_producer_emit(p, 5, "small", 5), 0);
        cr_assert_eq(sluice_producer_emit(p, 6, big, big_len), 0);
    }
    cr_assert_eq(sluice_producer_close(p), 0);
    server_join(&s);

    parse_received(&s, &w, &e);
    cr_assert_eq(e.n, 21);
    for (size_t i = 1; i < e.n; i++) {
        cr_assert_eq(e.ev[i].seq, i - 1);
        if (i % 2 == 1) {
            cr_assert(payload_is(&e.ev[i], "small"));
        } else {
            cr_assert_eq(e.ev[i].type, 6);
            cr_assert_eq(e.ev[i].len, big_len);
            cr_assert_eq(memcmp(e.ev[i].payload, big, big_len), 0);
        }
    }
    free(e.ev);
    free(big);
    server_cleanup(&s);
}

/* Waits (bounded by the suite's timeout) until the server has n bytes. */
static void
wait_received(server *s, size_t n)
{
    while (atomic_load_explicit(&s->received, memory_order_acquire) < n)
        sl_os_sleep_ns(1000000);
}

Test(producer, flush_thread_sends_a_quiet_producers_events)
{
    sluice_producer_opts o;
    sluice_producer *p;
    server s;

    server_start(&s, SRV_NORMAL, TEST_MAX_FRAME);
    sluice_producer_opts_init(&o);
    o.name = "q";
    o.name_len = 1;
    o.flush_interval_ms = 5;
    p = open_producer(&s, &o);
    cr_assert_eq(sluice_producer_emit(p, 1, "tick", 4), 0);
    /* No flush, no close: only the background thread can send these. */
    wait_received(&s, SL_WIRE_MAGIC_LEN + SL_WIRE_FRAME_HDR +
                          SL_WIRE_HELLO_FIXED + 1 + SL_WIRE_FRAME_HDR + 4);
    cr_assert_eq(sluice_producer_close(p), 0);
    server_join(&s);
    server_cleanup(&s);
}

Test(producer, explicit_flush_sends_without_a_flush_thread)
{
    sluice_producer_opts o;
    sluice_producer *p;
    server s;

    server_start(&s, SRV_NORMAL, TEST_MAX_FRAME);
    sluice_producer_opts_init(&o);
    o.text = 1;
    o.flush_interval_ms = 0;
    p = open_producer(&s, &o);
    cr_assert_eq(sluice_producer_emit(p, 0, "line", 4), 0);
    cr_assert_eq(sluice_producer_flush(p), 0);
    wait_received(&s, 5);
    cr_assert_eq(sluice_producer_close(p), 0);
    server_join(&s);
    server_cleanup(&s);
}

Test(producer, open_with_nobody_listening_fails_at_once_with_enoent)
{
    sluice_producer_opts o;
    sluice_producer *p = (sluice_producer *)&o; /* must stay untouched */
    char dir[] = "/tmp/sluice-prod-XXXXXX";
    char path[128];
    uint64_t t0, elapsed;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/nobody", dir);
    sluice_producer_opts_init(&o);
    o.connect_timeout_ms = 0;
    t0 = sl_os_mono_ns();
    cr_assert_eq(sluice_producer_open(path, strlen(path), &o, &p),
                 SLUICE_ENOENT);
    elapsed = sl_os_mono_ns() - t0;
    cr_assert_eq(p, (sluice_producer *)&o);
    /* A single attempt, no retry loop: a generous bound, not a benchmark. */
    cr_assert_lt(elapsed, 1000000000u);
    rmdir(dir);
}

Test(producer, open_with_nobody_listening_retries_for_the_budget)
{
    sluice_producer_opts o;
    sluice_producer *p = NULL;
    char dir[] = "/tmp/sluice-prod-XXXXXX";
    char path[128];
    uint64_t t0, elapsed;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/nobody", dir);
    sluice_producer_opts_init(&o);
    o.connect_timeout_ms = 300;
    t0 = sl_os_mono_ns();
    cr_assert_eq(sluice_producer_open(path, strlen(path), &o, &p),
                 SLUICE_ENOENT);
    elapsed = sl_os_mono_ns() - t0;
    cr_assert_null(p);
    cr_assert_geq(elapsed, 300000000u);
    cr_assert_lt(elapsed, 10000000000u);
    rmdir(dir);
}

Test(producer, open_connects_once_the_collector_starts_listening)
{
    sluice_producer_opts o;
    sluice_producer *p;
    server s;
    sl_wire w;
    events e;

    server_start_delayed(&s, SRV_NORMAL, TEST_MAX_FRAME, 200000000u);
    sluice_producer_opts_init(&o);
    o.connect_timeout_ms = 10000;
    p = open_producer(&s, &o);
    cr_assert_eq(sluice_producer_emit(p, 9, "late", 4), 0);
    cr_assert_eq(sluice_producer_close(p), 0);
    server_join(&s);
    parse_received(&s, &w, &e);
    cr_assert_eq(e.n, 2);
    cr_assert(payload_is(&e.ev[1], "late"));
    free(e.ev);
    server_cleanup(&s);
}

static void
expect_open_error(srv_mode mode, uint32_t timeout_ms, int expected)
{
    sluice_producer_opts o;
    sluice_producer *p = NULL;
    server s;
    int rc;

    server_start(&s, mode, TEST_MAX_FRAME);
    sluice_producer_opts_init(&o);
    o.connect_timeout_ms = timeout_ms;
    rc = sluice_producer_open(s.path, strlen(s.path), &o, &p);
    cr_assert_eq(rc, expected, "open returned %s, expected %s",
                 sluice_err_name(rc), sluice_err_name(expected));
    cr_assert_null(p);
    server_join(&s);
    server_cleanup(&s);
}

Test(producer, garbage_without_a_nul_is_eproto)
{
    expect_open_error(SRV_GARBAGE_LONG, 5000, SLUICE_EPROTO);
}

Test(producer, nul_terminated_garbage_is_eproto)
{
    expect_open_error(SRV_GARBAGE_NUL, 5000, SLUICE_EPROTO);
}

Test(producer, closing_before_the_greeting_is_eproto)
{
    expect_open_error(SRV_CLOSE_NOW, 5000, SLUICE_EPROTO);
}

Test(producer, another_major_version_is_eversion)
{
    expect_open_error(SRV_BAD_VERSION, 5000, SLUICE_EVERSION);
}

Test(producer, a_silent_server_times_out)
{
    expect_open_error(SRV_SILENT, 200, SLUICE_ETIMEDOUT);
}

Test(producer, collector_going_away_is_a_sticky_error)
{
    sluice_producer_opts o;
    sluice_producer *p;
    server s;
    int rc = 0;

    server_start(&s, SRV_GREET_AND_CLOSE, TEST_MAX_FRAME);
    sluice_producer_opts_init(&o);
    o.flush_interval_ms = 0;
    p = open_producer(&s, &o);
    server_join(&s); /* the server has closed its end */
    for (int i = 0; i < 100000 && rc == 0; i++) {
        rc = sluice_producer_emit(p, 1, "x", 1);
        if (rc == 0)
            rc = sluice_producer_flush(p);
    }
    cr_assert(rc == SLUICE_EPIPE || rc == SLUICE_ECONNRESET, "got %s",
              sluice_err_name(rc));
    cr_assert_eq(sluice_producer_emit(p, 1, "y", 1), rc);
    cr_assert_eq(sluice_producer_flush(p), rc);
    /* Refusals that need no connection still come first. */
    cr_assert_eq(sluice_producer_emit(p, 0xF000, "z", 1), SLUICE_EINVAL);
    cr_assert_eq(sluice_producer_close(p), rc);
    server_cleanup(&s);
}

Test(producer, bad_arguments_are_einval)
{
    sluice_producer_opts o;
    sluice_producer *p = NULL;
    char long_name[300];
    server s;

    cr_assert_eq(sluice_producer_close(NULL), 0);
    cr_assert_eq(sluice_producer_open(NULL, 0, NULL, &p), SLUICE_EINVAL);
    cr_assert_eq(sluice_producer_open("x", 0, NULL, &p), SLUICE_EINVAL);

    server_start(&s, SRV_NORMAL, TEST_MAX_FRAME);
    memset(long_name, 'n', sizeof(long_name));
    sluice_producer_opts_init(&o);
    o.name = long_name;
    o.name_len = SL_WIRE_NAME_MAX + 1;
    cr_assert_eq(sluice_producer_open(s.path, strlen(s.path), &o, &p),
                 SLUICE_ENAMETOOLONG);
    cr_assert_null(p);
    o.name_len = SL_WIRE_NAME_MAX;
    p = open_producer(&s, &o);
    cr_assert_eq(sluice_producer_emit(p, SL_WIRE_T_RESERVED_MIN, "a", 1),
                 SLUICE_EINVAL);
    cr_assert_eq(sluice_producer_emit(p, 0, NULL, 1), SLUICE_EINVAL);
    cr_assert_eq(sluice_producer_emit(p, 0, "ok", 2), 0);
    cr_assert_eq(sluice_producer_close(p), 0);
    server_join(&s);
    {
        sl_wire w;
        events e;

        parse_received(&s, &w, &e);
        cr_assert_eq(e.n, 2);
        cr_assert_eq(w.name_len, SL_WIRE_NAME_MAX);
        cr_assert_eq(e.ev[1].seq, 0); /* refused events use no number */
        free(e.ev);
    }
    server_cleanup(&s);
}

/* ---- refusals and limits known at open: nothing is sent ----------------- */

/* Opens against a server of @p mode and max_frame, expects @p expected,
 * and checks that the server received not a single byte. */
static void
expect_refused_silently(srv_mode mode, uint32_t max_frame,
                        const sluice_producer_opts *o, int expected)
{
    sluice_producer *p = NULL;
    server s;
    int rc;

    server_start(&s, mode, max_frame);
    rc = sluice_producer_open(s.path, strlen(s.path), o, &p);
    cr_assert_eq(rc, expected, "open returned %s, expected %s",
                 sluice_err_name(rc), sluice_err_name(expected));
    cr_assert_null(p);
    server_join(&s);
    cr_assert_eq(s.len, 0, "the server received %zu bytes", s.len);
    server_cleanup(&s);
}

Test(producer, refusal_greetings_say_why)
{
    sluice_producer_opts o;

    sluice_producer_opts_init(&o);
    expect_refused_silently(SRV_REFUSE_TOO_MANY, TEST_MAX_FRAME, &o,
                            SLUICE_ETOOMANY);
    expect_refused_silently(SRV_REFUSE_USER, TEST_MAX_FRAME, &o,
                            SLUICE_ENOTALLOWED);
    expect_refused_silently(SRV_REFUSE_OTHER, TEST_MAX_FRAME, &o,
                            SLUICE_EREFUSED);
    cr_assert(strstr(sluice_strerror(SLUICE_ETOOMANY), "too many producers"));
}

Test(producer, name_over_max_frame_minus_32_is_enametoolong_before_a_byte)
{
    sluice_producer_opts o;
    sluice_producer *p;
    char name[64];
    server s;

    memset(name, 'n', sizeof(name));
    sluice_producer_opts_init(&o);
    o.name = name;
    /* max-frame 64: the hello (24 + 8 + name) fits a name of 32. */
    o.name_len = SL_WIRE_MAX_FRAME_MIN - 32 + 1;
    expect_refused_silently(SRV_NORMAL, SL_WIRE_MAX_FRAME_MIN, &o,
                            SLUICE_ENAMETOOLONG);
    o.name_len = SL_WIRE_MAX_FRAME_MIN - 32;
    server_start(&s, SRV_NORMAL, SL_WIRE_MAX_FRAME_MIN);
    p = open_producer(&s, &o);
    cr_assert_eq(sluice_producer_emit(p, 1, "e", 1), 0);
    cr_assert_eq(sluice_producer_close(p), 0);
    server_join(&s);
    {
        sl_wire w;
        events e;

        parse_received(&s, &w, &e); /* the collector's parser accepts it */
        cr_assert_eq(e.n, 2);
        cr_assert_eq(w.name_len, SL_WIRE_MAX_FRAME_MIN - 32);
        free(e.ev);
    }
    server_cleanup(&s);
}

Test(producer, default_name_is_shortened_to_fit_a_small_max_frame)
{
    sluice_producer_opts o;
    sluice_producer *p;
    server s;

    sluice_producer_opts_init(&o);
    server_start(&s, SRV_NORMAL, SL_WIRE_MAX_FRAME_MIN);
    p = open_producer(&s, &o);
    cr_assert_eq(sluice_producer_close(p), 0);
    server_join(&s);
    {
        sl_wire w;
        events e;

        parse_received(&s, &w, &e);
        cr_assert_eq(e.n, 1);
        cr_assert_leq(w.name_len, SL_WIRE_MAX_FRAME_MIN - 32);
        free(e.ev);
    }
    server_cleanup(&s);
}

Test(producer, min_payload_over_the_collectors_limit_is_etoobig_before_a_byte)
{
    sluice_producer_opts o;
    sluice_producer *p;
    server s;

    sluice_producer_opts_init(&o);
    o.min_payload = 4096 - SL_WIRE_FRAME_HDR + 1;
    expect_refused_silently(SRV_NORMAL, 4096, &o, SLUICE_ETOOBIG);
    o.min_payload = 4096 - SL_WIRE_FRAME_HDR;
    server_start(&s, SRV_NORMAL, 4096);
    p = open_producer(&s, &o);
    cr_assert_eq(sluice_producer_close(p), 0);
    server_join(&s);
    server_cleanup(&s);
}

Test(producer, collector_user_must_be_a_uid)
{
    sluice_producer_opts o;
    sluice_producer *p = NULL;
    char self[24];
    server s;

    sluice_producer_opts_init(&o);
    o.collector_user = "root";
    cr_assert_eq(sluice_producer_open("/nonexistent/x", 14, &o, &p),
                 SLUICE_EINVAL);
    o.collector_user = "-1";
    cr_assert_eq(sluice_producer_open("/nonexistent/x", 14, &o, &p),
                 SLUICE_EINVAL);
    o.collector_user = "";
    cr_assert_eq(sluice_producer_open("/nonexistent/x", 14, &o, &p),
                 SLUICE_EINVAL);
    /* Our own uid, named explicitly, is as good as none. */
    snprintf(self, sizeof(self), "%u", (unsigned)geteuid());
    o.collector_user = self;
    server_start(&s, SRV_NORMAL, TEST_MAX_FRAME);
    p = open_producer(&s, &o);
    cr_assert_eq(sluice_producer_close(p), 0);
    server_join(&s);
    server_cleanup(&s);
}

/* The socket file belongs to another user (root can give it away): the
 * library refuses without connecting, unless told to trust that user. */
Test(producer, a_socket_of_another_user_is_euntrusted_unless_trusted)
{
    sluice_producer_opts o;
    sluice_producer *p = NULL;
    server s;
    int rc;

    sluice_producer_opts_init(&o);
    o.connect_timeout_ms = 0;
    server_start(&s, SRV_NORMAL, TEST_MAX_FRAME);
    if (geteuid() != 0 || lchown(s.path, 65534, (gid_t)-1) != 0) {
        /* Let the server thread finish: one plain connection. */
        p = open_producer(&s, &o);
        sluice_producer_close(p);
        server_join(&s);
        server_cleanup(&s);
        cr_skip_test("needs root to give the socket to uid 65534");
    }
    rc = sluice_producer_open(s.path, strlen(s.path), &o, &p);
    cr_assert_eq(rc, SLUICE_EUNTRUSTED, "open returned %s",
                 sluice_err_name(rc));
    cr_assert_null(p);
    /* Trusting uid 65534 gets past the file; the peer (this process)
     * is our own user, so the connection is made. */
    o.collector_user = "65534";
    p = open_producer(&s, &o);
    cr_assert_eq(sluice_producer_close(p), 0);
    server_join(&s);
    cr_assert_gt(s.len, 0); /* the trusted connection sent its hello */
    server_cleanup(&s);
}
