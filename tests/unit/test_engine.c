/*
 * Tests for the engine (collector/engine/server.h) driven through a
 * backend of the test's own: a real io.h table whose "peers" are scripted
 * here, so a test decides which worker gets which accept, what each peer
 * sends and when it closes, and sees every greeting the engine writes.
 * The engine runs for real otherwise: its workers, the ring, the writer
 * and a capture file, read back with the public reader.
 *
 * What it proves, each a defect the fake makes reproducible:
 *   - a failed allocation while accepting does not unlink (empty) the
 *     list of live connections, so stop still drains the others;
 *   - at --max-producers, two accepts at once admit one and refuse one
 *     (the count is each accept's own fetch_add result);
 *   - producer ids never repeat in one capture and never become 0, the
 *     "refused" mark: after UINT32_MAX, connections are refused.
 *
 * Allocation failures are injected with the linker's --wrap=malloc
 * (tests/CMakeLists.txt sets it for this program only): the next malloc
 * of an armed size returns NULL.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "io.h"
#include "os.h"
#include "server.h"
#include "sluice/capture.h"

TestSuite(engine, .timeout = 60.0);

#define MS 1000000ull

/* ---- malloc failure injection ------------------------------------------ */

void *__real_malloc(size_t n);
void *__wrap_malloc(size_t n);

/* The size whose next malloc fails (0: none). Pairs with nothing: a
 * one-shot switch, the CAS decides which call fails. */
static atomic_size_t fail_size;

void *
__wrap_malloc(size_t n)
{
    size_t want = n;

    if (n != 0 && atomic_compare_exchange_strong(&fail_size, &want, 0))
        return NULL;
    return __real_malloc(n);
}

/* ---- the scripted backend ---------------------------------------------- */

#define MAX_WORKERS 4
#define QCAP 256

typedef struct fconn {
    sl_io_conn base; /* first, as io.h asks */
    uint8_t in[4096];
    size_t in_len, in_off; /* what the peer sent; what was read */
    int eof;               /* the peer closed */
    int drained;
    void *rbuf;            /* a read waiting for data */
    size_t rlen;
    unsigned rworker;      /* whose read it is */
    char greeting[80];     /* what the engine wrote */
    size_t greeting_len;
    int released;
    struct fconn *next;
} fconn;

struct sl_io {
    sl_mutex m;
    sl_cond c;
    unsigned workers;
    sl_io_event q[MAX_WORKERS][QCAP];
    size_t qn[MAX_WORKERS];
    unsigned wake_gen;
    int stopped_accepting;
    fconn *all;
};

static sl_io *the_io; /* the one open fake (tests run one engine each) */
static _Thread_local unsigned cur_worker;

/* Lock held. */
static void
push(sl_io *io, unsigned w, sl_io_kind kind, fconn *c, int64_t result)
{
    cr_assert_lt(io->qn[w], QCAP);
    io->q[w][io->qn[w]].kind = kind;
    io->q[w][io->qn[w]].conn = &c->base;
    io->q[w][io->qn[w]].result = result;
    io->qn[w]++;
    sl_cond_broadcast(&io->c);
}

/* Lock held: completes c's waiting read if it can. */
static void
try_complete_read(sl_io *io, fconn *c)
{
    size_t n;

    if (c->rbuf == NULL)
        return;
    if (c->in_off < c->in_len) {
        n = c->in_len - c->in_off;
        if (n > c->rlen)
            n = c->rlen;
        memcpy(c->rbuf, c->in + c->in_off, n);
        c->in_off += n;
    } else if (c->eof || c->drained) {
        n = 0;
    } else {
        return;
    }
    c->rbuf = NULL;
    push(io, c->rworker, SL_IO_READ, c, (int64_t)n);
}

static int
f_open(const sl_io_config *cfg, sl_io **out)
{
    sl_io *io = calloc(1, sizeof(*io));

    cr_assert_not_null(io);
    cr_assert_leq(cfg->workers, MAX_WORKERS);
    sl_mutex_init(&io->m);
    sl_cond_init(&io->c);
    io->workers = cfg->workers;
    the_io = io;
    *out = io;
    return 0;
}

static int
f_wait(sl_io *io, unsigned w, sl_io_event *ev, size_t cap, size_t *n,
       int timeout_ms)
{
    unsigned gen;

    cur_worker = w;
    sl_mutex_lock(&io->m);
    gen = io->wake_gen;
    while (io->qn[w] == 0 && io->wake_gen == gen)
        if (sl_cond_timedwait(&io->c, &io->m,
                              timeout_ms < 0 ? SL_OS_FOREVER
                                             : (uint64_t)timeout_ms * MS) ==
            SL_ETIMEDOUT)
            break;
    *n = io->qn[w] < cap ? io->qn[w] : cap;
    memcpy(ev, io->q[w], *n * sizeof(*ev));
    memmove(io->q[w], io->q[w] + *n, (io->qn[w] - *n) * sizeof(*ev));
    io->qn[w] -= *n;
    sl_mutex_unlock(&io->m);
    return 0;
}

static int
f_read(sl_io *io, sl_io_conn *conn, void *buf, size_t len)
{
    fconn *c = (fconn *)conn;

    sl_mutex_lock(&io->m);
    cr_assert_null(c->rbuf, "one read at a time");
    c->rbuf = buf;
    c->rlen = len;
    c->rworker = cur_worker;
    try_complete_read(io, c);
    sl_mutex_unlock(&io->m);
    return 0;
}

static int
f_write(sl_io *io, sl_io_conn *conn, const void *buf, size_t len)
{
    fconn *c = (fconn *)conn;

    sl_mutex_lock(&io->m);
    cr_assert_lt(len, sizeof(c->greeting));
    memcpy(c->greeting, buf, len);
    c->greeting_len = len;
    push(io, cur_worker, SL_IO_WRITE, c, (int64_t)len);
    sl_mutex_unlock(&io->m);
    return 0;
}

static void
f_stop_accepting(sl_io *io)
{
    sl_mutex_lock(&io->m);
    io->stopped_accepting = 1;
    sl_mutex_unlock(&io->m);
}

static int
f_drain(sl_io *io, sl_io_conn *conn)
{
    fconn *c = (fconn *)conn;
    int peer_ended;

    sl_mutex_lock(&io->m);
    c->drained = 1;
    peer_ended = c->eof;
    try_complete_read(io, c);
    sl_mutex_unlock(&io->m);
    return peer_ended;
}

static void
f_release(sl_io *io, sl_io_conn *conn)
{
    sl_mutex_lock(&io->m);
    ((fconn *)conn)->released = 1;
    sl_mutex_unlock(&io->m);
}

static void
f_wake(sl_io *io)
{
    sl_mutex_lock(&io->m);
    io->wake_gen++;
    sl_cond_broadcast(&io->c);
    sl_mutex_unlock(&io->m);
}

static void
f_close(sl_io *io)
{
    if (io == NULL)
        return;
    while (io->all != NULL) {
        fconn *c = io->all;
        io->all = c->next;
        free(c);
    }
    sl_cond_destroy(&io->c);
    sl_mutex_destroy(&io->m);
    free(io);
    the_io = NULL;
}

static const sl_io_backend fake = {
    .name = "fake",
    .open = f_open,
    .wait = f_wait,
    .read = f_read,
    .write = f_write,
    .stop_accepting = f_stop_accepting,
    .drain = f_drain,
    .release = f_release,
    .wake = f_wake,
    .close = f_close,
};

/* A peer connects; worker w gets the accept. */
static fconn *
peer_connect(unsigned w, uint32_t pid)
{
    fconn *c = calloc(1, sizeof(*c));

    cr_assert_not_null(c);
    c->base.pid = pid;
    c->base.uid = 1000;
    sl_mutex_lock(&the_io->m);
    cr_assert_eq(the_io->stopped_accepting, 0);
    c->next = the_io->all;
    the_io->all = c;
    push(the_io, w, SL_IO_ACCEPT, c, 0);
    sl_mutex_unlock(&the_io->m);
    return c;
}

static void
peer_send(fconn *c, const char *s)
{
    size_t n = strlen(s);

    sl_mutex_lock(&the_io->m);
    cr_assert_leq(c->in_len + n, sizeof(c->in));
    memcpy(c->in + c->in_len, s, n);
    c->in_len += n;
    try_complete_read(the_io, c);
    sl_mutex_unlock(&the_io->m);
}

static void
peer_close(fconn *c)
{
    sl_mutex_lock(&the_io->m);
    c->eof = 1;
    try_complete_read(the_io, c);
    sl_mutex_unlock(&the_io->m);
}

/* Waits until pred(c) holds under the lock; fails after 10 s. */
static void
await(fconn *c, int (*pred)(const fconn *), const char *what)
{
    uint64_t end = sl_os_mono_ns() + 10000 * MS;

    for (;;) {
        int ok;

        sl_mutex_lock(&the_io->m);
        ok = pred(c);
        sl_mutex_unlock(&the_io->m);
        if (ok)
            return;
        cr_assert_lt(sl_os_mono_ns(), end, "timed out waiting: %s", what);
        sl_os_sleep_ns(1 * MS);
    }
}

static int
greeted(const fconn *c)
{
    return c->greeting_len > 0;
}

static int
released(const fconn *c)
{
    return c->released;
}

/* Read pending with nothing left to read: the engine waits on the peer. */
static int
idle(const fconn *c)
{
    return c->rbuf != NULL && c->in_off == c->in_len;
}

/* ---- the engine under test --------------------------------------------- */

typedef struct rig {
    char out[4096];
    sl_server_config cfg;
    sl_server *srv;
    atomic_int stop_done; /* the stop thread's sl_server_stop returned */
    int stop_rc;          /* read after stop_done (acquire) */
} rig;

static void
rig_config(rig *r, unsigned workers)
{
    const char *tmp = getenv("TMPDIR");
    static atomic_uint n;

    memset(r, 0, sizeof(*r));
    snprintf(r->out, sizeof(r->out), "%s/sl-test-engine-%d-%u.sluice",
             tmp != NULL && *tmp != '\0' ? tmp : "/tmp", (int)getpid(),
             atomic_fetch_add(&n, 1));
    r->cfg.pipe = "fake";
    r->cfg.pipe_len = 4;
    r->cfg.path = "fake";
    r->cfg.out_path = r->out;
    r->cfg.force = 1;
    r->cfg.workers = workers;
    r->cfg.ring_bytes = 1u << 20;
    r->cfg.max_frame = 65536;
    r->cfg.max_producers = 64;
    r->cfg.conn_buffer = 65536;
    r->cfg.io_backend = &fake;
}

static void
rig_open(rig *r)
{
    sl_server_stage stage;

    cr_assert_eq(sl_server_open(&r->cfg, &r->srv, &stage), 0);
    cr_assert_not_null(the_io);
}

static void
stop_main(void *arg)
{
    rig *r = arg;

    r->stop_rc = sl_server_stop(r->srv);
    /* Pairs with the acquire in rig_stop(): stop_rc is written. */
    atomic_store_explicit(&r->stop_done, 1, memory_order_release);
}

/* Stops the engine; fails (instead of hanging) if that takes over 10 s.
 * The peers stay readable until rig_close(). */
static void
rig_stop(rig *r)
{
    uint64_t end = sl_os_mono_ns() + 10000 * MS;
    sl_thread *t;

    cr_assert_eq(sl_os_thread_start(stop_main, r, &t), 0);
    while (!atomic_load_explicit(&r->stop_done, memory_order_acquire)) {
        if (sl_os_mono_ns() > end)
            cr_assert_fail("sl_server_stop() did not return within 10 s: a "
                     "connection was not drained");
        sl_os_sleep_ns(1 * MS);
    }
    sl_os_thread_join(t);
    cr_assert_eq(r->stop_rc, 0);
}

/* Frees the engine, and with it the backend and every peer. */
static void
rig_close(rig *r)
{
    sl_server_close(r->srv);
    r->srv = NULL;
}

/* The capture's records of type `type` (or all, type 0xFFFFFFFF). */
typedef struct seen {
    uint32_t producers[64];
    size_t n;
    uint64_t events;
    char last_payload[64];
} seen;

static void
read_capture(const char *path, uint32_t type, seen *out)
{
    sluice_capture *c;
    sluice_record rec;
    int rc;

    memset(out, 0, sizeof(*out));
    cr_assert_eq(sluice_capture_open(path, &c), 0);
    while ((rc = sluice_capture_next(c, &rec)) == 0) {
        if (rec.type < 0xF000u) {
            out->events++;
            snprintf(out->last_payload, sizeof(out->last_payload), "%.*s",
                     (int)rec.payload_len, (const char *)rec.payload);
        }
        if (rec.type == type) {
            cr_assert_lt(out->n, 64);
            out->producers[out->n++] = rec.producer;
        }
    }
    cr_assert_eq(rc, 1);
    sluice_capture_close(c);
    unlink(path);
}

/* ---- the tests ---------------------------------------------------------- */

/*
 * A connection whose buffer cannot be allocated ends before it is linked
 * into the engine's list. Ending it must leave the list alone: before the
 * fix it unlinked itself with a NULL prev, which emptied the list, so the
 * stop never drained the other producer and never returned.
 */
Test(engine, failed_allocation_in_accept_keeps_the_others_listed)
{
    rig r;
    fconn *a, *b;
    seen s;

    rig_config(&r, 1);
    r.cfg.conn_buffer = 4096 + 24; /* a size nothing else allocates */
    rig_open(&r);
    a = peer_connect(0, 11);
    await(a, greeted, "a's greeting");
    peer_send(a, "from a\n");
    await(a, idle, "a's line read");

    atomic_store(&fail_size, (size_t)r.cfg.conn_buffer);
    b = peer_connect(0, 12);
    await(b, released, "b released after its failed allocation");
    cr_assert_eq(atomic_load(&fail_size), 0, "the allocation did fail");
    cr_assert_eq(b->greeting_len, 0, "b got no greeting");

    rig_stop(&r); /* a is still connected: stop must drain it */
    cr_assert(a->released);
    rig_close(&r);
    read_capture(r.out, SLUICE_REC_DISCONNECT, &s);
    cr_assert_eq(s.n, 1, "a's disconnect record");
    cr_assert_eq(s.events, 1);
    cr_assert_str_eq(s.last_payload, "from a");
}

/* Both accepts wait here until the other one has been counted too. */
static atomic_int counted;

static void
line_up(void *ctx)
{
    uint64_t end = sl_os_mono_ns() + 2000 * MS;

    (void)ctx;
    atomic_fetch_add(&counted, 1);
    while (atomic_load(&counted) < 2 && sl_os_mono_ns() < end)
        sl_os_yield();
}

/*
 * --max-producers 1 and two connections accepted at the same moment by
 * two workers: exactly one is admitted. Before the fix each accept added
 * itself to the count and then reloaded it, so both saw 2 and both were
 * refused.
 */
Test(engine, max_producers_admits_one_of_two_concurrent_accepts)
{
    static const char refusal[] = "SLUICE/1 error=too-many-producers";
    rig r;
    fconn *x, *y;
    int refused = 0, admitted = 0;

    rig_config(&r, 2);
    r.cfg.max_producers = 1;
    r.cfg.test_accept_counted = line_up;
    atomic_store(&counted, 0);
    rig_open(&r);
    x = peer_connect(0, 21);
    y = peer_connect(1, 22);
    await(x, greeted, "x's greeting");
    await(y, greeted, "y's greeting");
    cr_assert_eq(atomic_load(&counted), 2);
    for (int i = 0; i < 2; i++) {
        const fconn *c = i == 0 ? x : y;

        if (strcmp(c->greeting, refusal) == 0)
            refused++;
        else if (strncmp(c->greeting, "SLUICE/1 max=", 13) == 0)
            admitted++;
    }
    cr_assert_eq(admitted, 1, "one admitted (x: '%s', y: '%s')",
                 x->greeting, y->greeting);
    cr_assert_eq(refused, 1, "one refused");
    peer_close(x);
    peer_close(y);
    rig_stop(&r);
    rig_close(&r);
    unlink(r.out);
}

/* The id=N of a greeting, or -1 if it has none. */
static int64_t
greeting_id(const fconn *c)
{
    const char *p = strstr(c->greeting, " id=");

    return p != NULL ? (int64_t)strtoull(p + 4, NULL, 10) : -1;
}

/*
 * Ids near the end of their range: the engine gives out UINT32_MAX - 1
 * and UINT32_MAX, then refuses. Before the fix the next id wrapped to 0,
 * the mark of a refused connection (its records said producer 0 and its
 * greeting id=0), and then to 1, 2, ... again.
 */
Test(engine, producer_ids_never_repeat_and_never_become_0)
{
    static const char refusal[] = "SLUICE/1 error=producer-ids-exhausted";
    rig r;
    fconn *p[4];
    seen s;

    rig_config(&r, 1);
    r.cfg.first_id = UINT32_MAX - 1;
    rig_open(&r);
    for (int i = 0; i < 4; i++) {
        p[i] = peer_connect(0, 30 + (uint32_t)i);
        await(p[i], greeted, "greeting");
        peer_send(p[i], "hello\n");
        peer_close(p[i]);
        await(p[i], released, "the end of the connection");
    }
    cr_assert_eq(greeting_id(p[0]), (int64_t)UINT32_MAX - 1);
    cr_assert_eq(greeting_id(p[1]), (int64_t)UINT32_MAX);
    for (int i = 2; i < 4; i++)
        cr_assert_str_eq(p[i]->greeting, refusal, "connection %d", i);
    rig_stop(&r);
    rig_close(&r);

    read_capture(r.out, SLUICE_REC_CONNECT, &s);
    cr_assert_eq(s.n, 2, "two producers");
    cr_assert_eq(s.events, 2);
    cr_assert_neq(s.producers[0], s.producers[1]);
    for (size_t i = 0; i < s.n; i++)
        cr_assert_geq(s.producers[i], UINT32_MAX - 1, "id %" PRIu32,
                      s.producers[i]);
}

/*
 * The engine tells its owner as things happen: one PRODUCER_ENDED per
 * ended producer, with the running count (what --exit-after waits for).
 */
static atomic_int ended_events;
static atomic_llong ended_last;

static void
count_events(void *ctx, sl_server_event ev, int64_t value)
{
    (void)ctx;
    if (ev == SL_SERVER_PRODUCER_ENDED) {
        atomic_fetch_add(&ended_events, 1);
        atomic_store(&ended_last, value);
    }
}

Test(engine, producer_ends_are_reported_as_they_happen)
{
    rig r;
    fconn *c[3];

    rig_config(&r, 2);
    r.cfg.on_event = count_events;
    atomic_store(&ended_events, 0);
    rig_open(&r);
    for (int i = 0; i < 3; i++) {
        c[i] = peer_connect((unsigned)i % 2, 40 + (uint32_t)i);
        await(c[i], greeted, "greeting");
        peer_send(c[i], "x\n");
        peer_close(c[i]);
        await(c[i], released, "end");
        cr_assert_eq(atomic_load(&ended_events), i + 1);
        cr_assert_eq(atomic_load(&ended_last), i + 1);
    }
    rig_stop(&r);
    rig_close(&r);
    unlink(r.out);
}
