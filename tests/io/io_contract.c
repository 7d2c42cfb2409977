/*
 * The cases of the io.h contract test (io_contract.h), written once for
 * every backend. Platform differences stay in the clients; where the
 * contract leaves a choice (the result of a greeting write to a client
 * that does not read, how a reset peer's end is reported) the checks
 * accept every answer the contract allows.
 */
#include "io_contract.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "os.h"

#define GREETING "SLUICE/1 max=65536 id=1"
#define MAX_CONNS 64
#define NCLIENTS 16
#define CLIENT_BYTES (256u * 1024u)
#define DEADLINE_NS (10000u * 1000000ull)

/* ---- the stand-in core -------------------------------------------------- */

typedef struct tconn {
    sl_io_conn *io;
    uint8_t buf[65536];
    uint64_t total; /* bytes received */
    int client;     /* first byte of the stream: the client's index */
    int bad;        /* a byte broke the pattern */
    int greeted;    /* the greeting write completed */
    int64_t write_result;
    int ended;
    int64_t end_result;
    int reading; /* a read is posted */
    uint32_t pid, uid;
} tconn;

typedef struct server {
    const sl_io_backend *be;
    sl_io *io;
    char path[128];
    sl_mutex m; /* guards the counters and conns[] */
    tconn *conns[MAX_CONNS];
    unsigned workers;
    int nconns;
    int accepts;
    int ends;
    int manual_reads; /* 1: reads are posted by the test, not the loop */
    int no_greeting;  /* 1: accept only; the test decides */
    atomic_int stop;
} server;

static uint8_t
pattern(int client, uint64_t k)
{
    return (uint8_t)((k * 131u) ^ (k >> 9) ^ (uint64_t)(client * 17));
}

static void
post_read(server *s, tconn *c)
{
    c->reading = 1;
    IOC_CHECK(s->be->read(s->io, c->io, c->buf, sizeof(c->buf)) == 0);
}

static void
end_conn(server *s, tconn *c, int64_t result)
{
    c->ended = 1;
    c->end_result = result;
    s->be->release(s->io, c->io);
    sl_mutex_lock(&s->m);
    s->ends++;
    sl_mutex_unlock(&s->m);
}

static void
handle(server *s, const sl_io_event *ev)
{
    tconn *c = ev->conn->user;

    switch (ev->kind) {
    case SL_IO_ACCEPT:
        IOC_CHECK(c == NULL);
        c = calloc(1, sizeof(*c));
        IOC_CHECK(c != NULL);
        c->io = ev->conn;
        c->client = -1;
        c->pid = ev->conn->pid;
        c->uid = ev->conn->uid;
        ev->conn->user = c;
        sl_mutex_lock(&s->m);
        IOC_CHECK(s->nconns < MAX_CONNS);
        s->conns[s->nconns++] = c;
        s->accepts++;
        sl_mutex_unlock(&s->m);
        if (!s->no_greeting)
            IOC_CHECK(s->be->write(s->io, c->io, GREETING,
                                   sizeof(GREETING)) == 0);
        break;
    case SL_IO_WRITE:
        IOC_CHECK(c != NULL && !c->greeted);
        /* Success writes all of it; a client that left or does not read
         * may make it fail. Either way reading goes on, as in the core. */
        IOC_CHECK(ev->result == (int64_t)sizeof(GREETING) || ev->result < 0);
        c->greeted = 1;
        c->write_result = ev->result;
        if (!s->manual_reads)
            post_read(s, c);
        break;
    case SL_IO_READ:
        IOC_CHECK(c != NULL && c->reading && !c->ended);
        c->reading = 0;
        if (ev->result > 0) {
            IOC_CHECK(ev->result <= (int64_t)sizeof(c->buf));
            for (int64_t i = 0; i < ev->result; i++, c->total++) {
                if (c->total == 0)
                    c->client = c->buf[0];
                else if (c->buf[i] != pattern(c->client, c->total))
                    c->bad = 1;
            }
            if (!s->manual_reads)
                post_read(s, c);
            break;
        }
        end_conn(s, c, ev->result);
        break;
    default:
        IOC_CHECK(!"unknown event kind");
    }
}

/* One wait() on worker w; handles what it returns. @return event count. */
static size_t
pump(server *s, unsigned w, int timeout_ms)
{
    sl_io_event ev[16];
    size_t n = 0;

    IOC_CHECK(s->be->wait(s->io, w, ev, 16, &n, timeout_ms) == 0);
    IOC_CHECK(n <= 16);
    for (size_t i = 0; i < n; i++)
        handle(s, &ev[i]);
    return n;
}

/* Pumps every worker in turn with timed waits until cond(s, arg); fails
 * after 10 s. */
static void
pump_until(server *s, int (*cond)(server *s, void *arg), void *arg)
{
    uint64_t deadline = sl_os_mono_ns() + DEADLINE_NS;

    while (!cond(s, arg)) {
        IOC_CHECK(sl_os_mono_ns() < deadline);
        for (unsigned w = 0; w < s->workers && !cond(s, arg); w++)
            pump(s, w, s->workers > 1 ? 20 : 50);
    }
}

static int
accepts_at_least(server *s, void *arg)
{
    return s->accepts >= *(int *)arg;
}

static int
ends_at_least(server *s, void *arg)
{
    return s->ends >= *(int *)arg;
}

static int
conn_greeted(server *s, void *arg)
{
    (void)s;
    return ((tconn *)arg)->greeted;
}

static int
conn_has_2000(server *s, void *arg)
{
    (void)s;
    return ((tconn *)arg)->total >= 2000;
}

static int
conn_has_5000(server *s, void *arg)
{
    (void)s;
    return ((tconn *)arg)->total >= 5000;
}

static int
conn_idle(server *s, void *arg)
{
    (void)s;
    return !((tconn *)arg)->reading;
}

/* Opens the backend; skips the test when it is not available here. */
static void
server_open(server *s, const sl_io_backend *be, unsigned test_flags,
            unsigned workers, unsigned instances)
{
    sl_io_config cfg;
    int rc;

    memset(s, 0, sizeof(*s));
    s->be = be;
    s->workers = workers;
    sl_mutex_init(&s->m);
    ioc_new_path(s->path, sizeof(s->path));
    memset(&cfg, 0, sizeof(cfg));
    cfg.path = s->path;
    cfg.workers = workers;
    cfg.instances = instances;
    cfg.backlog = 64;
    cfg.group = SL_IO_NO_GROUP;
    cfg.test_flags = test_flags;
    rc = be->open(&cfg, &s->io);
    if (rc == SL_ENOSYS)
        ioc_skip("backend not available on this system");
    if (rc != 0)
        fprintf(stderr, "open(%s): %s\n", be->name, sl_strerror(rc));
    IOC_CHECK(rc == 0);
}

static void
server_close(server *s)
{
    for (int i = 0; i < s->nconns; i++) {
        IOC_CHECK(s->conns[i]->ended);
        free(s->conns[i]);
    }
    s->be->close(s->io);
    sl_mutex_destroy(&s->m);
}

/* ---- client helpers ---------------------------------------------------- */

/* Sends the client's index, then total - 1 pattern bytes. @return 0, or
 * -1 when the server ended the stream first. */
static int
send_pattern(ioc_client *cl, int index, uint64_t total)
{
    uint8_t chunk[7919]; /* a prime, so writes straddle server reads */
    uint64_t k = 0;

    while (k < total) {
        size_t n = 0;

        while (n < sizeof(chunk) && k < total) {
            chunk[n++] = k == 0 ? (uint8_t)index : pattern(index, k);
            k++;
        }
        if (ioc_client_write(cl, chunk, n) != 0)
            return -1;
    }
    return 0;
}

static void
expect_greeting(ioc_client *cl)
{
    char g[100];

    ioc_client_read_greeting(cl, g, sizeof(g));
    IOC_CHECK(strcmp(g, GREETING) == 0);
}

/* Pumps until the only connection is greeted, then reads the greeting. */
static void
expect_greeting_after_pump(server *s, ioc_client *cl)
{
    int one = 1;

    pump_until(s, accepts_at_least, &one);
    pump_until(s, conn_greeted, s->conns[s->nconns - 1]);
    expect_greeting(cl);
}

typedef struct client_job {
    const char *path;
    int index;
    uint64_t bytes;
    int write_only;
    int read_greeting;
    atomic_int done;
} client_job;

/* A client thread: connect, (greeting), pattern, close. */
static void
client_main(void *arg)
{
    client_job *j = arg;
    ioc_client *cl = ioc_client_open(j->path, j->write_only);

    if (j->read_greeting)
        expect_greeting(cl);
    IOC_CHECK(send_pattern(cl, j->index, j->bytes) == 0);
    ioc_client_close(cl);
    atomic_store(&j->done, 1);
}

/* ---- cases --------------------------------------------------------------- */

void
ioc_accept_greet_read(const sl_io_backend *be, unsigned test_flags)
{
    server s;
    client_job j = {0};
    sl_thread *t;
    uint32_t pid, uid;
    int one = 1, pid_unknown_ok;

    server_open(&s, be, test_flags, 1, 4);
    j.path = s.path;
    j.index = 3;
    j.bytes = CLIENT_BYTES;
    j.read_greeting = 1;
    IOC_CHECK(sl_os_thread_start(client_main, &j, &t) == 0);
    pump_until(&s, ends_at_least, &one);
    sl_os_thread_join(t);
    IOC_CHECK(s.nconns == 1);
    IOC_CHECK(s.conns[0]->write_result == (int64_t)sizeof(GREETING));
    IOC_CHECK(s.conns[0]->total == CLIENT_BYTES);
    IOC_CHECK(s.conns[0]->client == 3 && !s.conns[0]->bad);
    IOC_CHECK(s.conns[0]->end_result == 0);
    pid_unknown_ok = ioc_client_self(&pid, &uid);
    IOC_CHECK(s.conns[0]->pid == pid ||
              (s.conns[0]->pid == 0 && pid_unknown_ok));
    IOC_CHECK(s.conns[0]->uid == uid);
    /* Nothing to do: a timed wait returns no events, on every worker
     * slot, and a zero timeout does not block. */
    IOC_CHECK(pump(&s, 0, 30) == 0);
    IOC_CHECK(pump(&s, 0, 0) == 0);
    server_close(&s);
}

void
ioc_write_only_client(const sl_io_backend *be, unsigned test_flags)
{
    server s;
    client_job j = {0};
    sl_thread *t;
    int one = 1;

    server_open(&s, be, test_flags, 1, 4);
    j.path = s.path;
    j.index = 5;
    j.bytes = 5000;
    j.write_only = 1;
    IOC_CHECK(sl_os_thread_start(client_main, &j, &t) == 0);
    pump_until(&s, ends_at_least, &one);
    sl_os_thread_join(t);
    IOC_CHECK(s.conns[0]->greeted);
    IOC_CHECK(s.conns[0]->total == 5000 && !s.conns[0]->bad);
    IOC_CHECK(s.conns[0]->end_result == 0 ||
              s.conns[0]->end_result == SL_ECONNRESET);
    server_close(&s);
}

void
ioc_end_at_once(const sl_io_backend *be, unsigned test_flags)
{
    server s;
    int n = 3;

    server_open(&s, be, test_flags, 1, 4);
    for (int i = 0; i < n; i++)
        ioc_client_close(ioc_client_open(s.path, 0));
    pump_until(&s, ends_at_least, &n);
    for (int i = 0; i < s.nconns; i++)
        IOC_CHECK(s.conns[i]->total == 0);
    server_close(&s);
}

void
ioc_peer_reset(const sl_io_backend *be, unsigned test_flags)
{
    server s;
    ioc_client *cl;
    int one = 1;

    server_open(&s, be, test_flags, 1, 4);
    s.manual_reads = 1;
    cl = ioc_client_open(s.path, 0);
    /* Make sure the greeting is waiting unread in the client when it
     * closes: closing then resets the connection on Unix sockets. */
    pump_until(&s, accepts_at_least, &one);
    pump_until(&s, conn_greeted, s.conns[0]);
    IOC_CHECK(send_pattern(cl, 9, 3000) == 0);
    ioc_client_close(cl);
    while (!s.conns[0]->ended) {
        post_read(&s, s.conns[0]);
        pump_until(&s, conn_idle, s.conns[0]);
    }
    IOC_CHECK(s.conns[0]->total == 3000 && !s.conns[0]->bad);
    IOC_CHECK(s.conns[0]->end_result == 0 ||
              s.conns[0]->end_result == SL_ECONNRESET);
    server_close(&s);
}

void
ioc_drain_pending_read(const sl_io_backend *be, unsigned test_flags)
{
    server s;
    ioc_client *cl;
    tconn *c;
    int one = 1;

    server_open(&s, be, test_flags, 1, 4);
    s.manual_reads = 1;
    cl = ioc_client_open(s.path, 0);
    pump_until(&s, accepts_at_least, &one);
    c = s.conns[0];
    pump_until(&s, conn_greeted, c);
    expect_greeting(cl);
    IOC_CHECK(send_pattern(cl, 7, 1000) == 0);
    while (c->total < 1000) {
        post_read(&s, c);
        pump_until(&s, conn_idle, c);
    }
    post_read(&s, c); /* pends: the client sends nothing more */
    pump(&s, 0, 50);
    IOC_CHECK(c->reading && !c->ended);
    s.be->drain(s.io, c->io);
    pump_until(&s, ends_at_least, &one);
    IOC_CHECK(c->end_result == 0);
    IOC_CHECK(c->total == 1000 && !c->bad);
    /* Released: the client's writes fail now. */
    IOC_CHECK(ioc_client_read_to_end(cl) == 0);
    IOC_CHECK(ioc_client_write(cl, "late", 4) != 0 ||
              ioc_client_write(cl, "late", 4) != 0);
    ioc_client_close(cl);
    server_close(&s);
}

void
ioc_drain_with_data(const sl_io_backend *be, unsigned test_flags)
{
    server s;
    ioc_client *cl;
    tconn *c;
    int one = 1;

    server_open(&s, be, test_flags, 1, 4);
    s.manual_reads = 1;
    cl = ioc_client_open(s.path, 0);
    pump_until(&s, accepts_at_least, &one);
    c = s.conns[0];
    pump_until(&s, conn_greeted, c);
    expect_greeting(cl);
    /* Less than any pipe or socket buffer: written before the drain,
     * with no read posted. */
    IOC_CHECK(send_pattern(cl, 2, 3000) == 0);
    sl_os_sleep_ns(50000000u);
    s.be->drain(s.io, c->io);
    while (!c->ended) {
        post_read(&s, c);
        pump_until(&s, conn_idle, c);
    }
    IOC_CHECK(c->end_result == 0);
    IOC_CHECK(c->total == 3000 && !c->bad);
    ioc_client_close(cl);
    server_close(&s);
}

void
ioc_stop_accepting(const sl_io_backend *be, unsigned test_flags)
{
    server s;
    ioc_client *held, *late, *queued[2];
    tconn *c;
    int one = 1, two = 2, three = 3;

    server_open(&s, be, test_flags, 2, 4);
    held = ioc_client_open(s.path, 0);
    pump_until(&s, accepts_at_least, &one);
    c = s.conns[0];
    pump_until(&s, conn_greeted, c);
    expect_greeting(held);
    pump(&s, 1, 0); /* worker 1 has begun accepting too */
    /* Two clients connect and write while no wait() runs: the system has
     * them (listen backlog, an accept in flight, a connected instance),
     * the server has not been told yet. */
    for (int i = 0; i < 2; i++) {
        queued[i] = ioc_client_open(s.path, 0);
        IOC_CHECK(send_pattern(queued[i], 20 + i, 4000) == 0);
    }
    s.be->stop_accepting(s.io);
    s.be->stop_accepting(s.io);
    /* Every worker's wait() returns once: the queued clients are
     * reported there, nowhere later. */
    pump(&s, 0, 0);
    pump(&s, 1, 0);
    IOC_CHECK(s.accepts == 3);
    IOC_CHECK(ioc_client_try_open(s.path, 0, &late) != 0);
    /* The queued connections are read to their end: drained as the core
     * does at stop. */
    for (int i = 1; i < 3; i++) {
        pump_until(&s, conn_greeted, s.conns[i]);
        s.be->drain(s.io, s.conns[i]->io);
    }
    pump_until(&s, ends_at_least, &two);
    for (int i = 1; i < 3; i++) {
        IOC_CHECK(s.conns[i]->total == 4000 && !s.conns[i]->bad);
        IOC_CHECK(s.conns[i]->client == 20 || s.conns[i]->client == 21);
        IOC_CHECK(s.conns[i]->end_result == 0);
    }
    IOC_CHECK(s.conns[1]->client != s.conns[2]->client);
    IOC_CHECK(!c->ended);
    /* The open connection goes on after the stop. */
    IOC_CHECK(ioc_client_write(held, "late", 4) == 0);
    ioc_client_close(held);
    pump_until(&s, ends_at_least, &three);
    IOC_CHECK(c->total == 4 && c->end_result == 0);
    IOC_CHECK(s.accepts == 3 && s.ends == 3);
    IOC_CHECK(ioc_client_try_open(s.path, 0, &late) != 0);
    for (int i = 0; i < 2; i++)
        ioc_client_close(queued[i]);
    server_close(&s);
}

void
ioc_stop_backlog(const sl_io_backend *be, unsigned test_flags)
{
    server s;
    ioc_client *cl[3], *late;
    int three = 3;

    server_open(&s, be, test_flags, 2, 4);
    /* Three clients connect and write before any wait(): nothing has
     * been accepted for them yet when the stop comes. */
    for (int i = 0; i < 3; i++) {
        cl[i] = ioc_client_open(s.path, 0);
        IOC_CHECK(send_pattern(cl[i], 30 + i, 2000) == 0);
    }
    s.be->stop_accepting(s.io);
    pump(&s, 0, 0);
    pump(&s, 1, 0);
    IOC_CHECK(s.accepts == 3);
    IOC_CHECK(ioc_client_try_open(s.path, 0, &late) != 0);
    /* Two are drained as at a stop; the third stays open and goes on. */
    for (int i = 0; i < 3; i++)
        pump_until(&s, conn_has_2000, s.conns[i]);
    for (int i = 0; i < 3; i++) {
        if (s.conns[i]->client != 32)
            s.be->drain(s.io, s.conns[i]->io);
    }
    for (int i = 0; i < 3; i++) {
        if (i == 2) {
            uint8_t more[4];

            for (unsigned k = 0; k < 4; k++)
                more[k] = pattern(32, 2000 + k);
            IOC_CHECK(ioc_client_write(cl[i], more, 4) == 0);
        }
        ioc_client_close(cl[i]);
    }
    pump_until(&s, ends_at_least, &three);
    for (int i = 0; i < 3; i++) {
        tconn *c = s.conns[i];

        IOC_CHECK(c->client >= 30 && c->client <= 32 && !c->bad);
        IOC_CHECK(c->total == (c->client == 32 ? 2004u : 2000u));
        /* The clients never read their greetings. */
        IOC_CHECK(c->end_result == 0 || c->end_result == SL_ECONNRESET);
    }
    IOC_CHECK(s.accepts == 3);
    server_close(&s);
}

typedef struct waiter {
    server *s;
    unsigned w;
    atomic_int returned;
} waiter;

static void
waiter_main(void *arg)
{
    waiter *wt = arg;

    pump(wt->s, wt->w, -1);
    atomic_store(&wt->returned, 1);
}

/* Starts one thread per worker, each in one wait(-1). */
static void
start_waiters(server *s, waiter *wt, sl_thread **t, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        wt[i].s = s;
        wt[i].w = i;
        atomic_init(&wt[i].returned, 0);
        IOC_CHECK(sl_os_thread_start(waiter_main, &wt[i], &t[i]) == 0);
    }
}

/* Every waiter returns; fails after 10 s (a lost wake-up: no wait()
 * sleeps in slices, so nothing else would bring it back). */
static void
join_waiters(waiter *wt, sl_thread **t, unsigned n)
{
    uint64_t deadline = sl_os_mono_ns() + DEADLINE_NS;

    for (unsigned i = 0; i < n; i++) {
        while (!atomic_load(&wt[i].returned)) {
            IOC_CHECK(sl_os_mono_ns() < deadline);
            sl_os_sleep_ns(1000000u);
        }
        sl_os_thread_join(t[i]);
    }
}

void
ioc_wake(const sl_io_backend *be, unsigned test_flags)
{
    server s;
    waiter wt[3];
    sl_thread *t[3];

    server_open(&s, be, test_flags, 3, 2);
    start_waiters(&s, wt, t, 3);
    sl_os_sleep_ns(100000000u);
    for (unsigned i = 0; i < 3; i++)
        IOC_CHECK(!atomic_load(&wt[i].returned));
    s.be->wake(s.io);
    join_waiters(wt, t, 3);
    /* Twice in a row, then a wake() before the waits begin. */
    start_waiters(&s, wt, t, 3);
    s.be->wake(s.io);
    join_waiters(wt, t, 3);
    s.be->wake(s.io);
    start_waiters(&s, wt, t, 3);
    join_waiters(wt, t, 3);
    server_close(&s);
}

void
ioc_release(const sl_io_backend *be, unsigned test_flags)
{
    server s;
    ioc_client *a, *b;
    tconn *c;
    int one = 1, two = 2;

    server_open(&s, be, test_flags, 1, 4);
    s.manual_reads = 1;
    /* Released after the greeting with unread data: the client reads
     * its greeting, then the end. */
    a = ioc_client_open(s.path, 0);
    IOC_CHECK(send_pattern(a, 1, 100) == 0);
    pump_until(&s, accepts_at_least, &one);
    c = s.conns[0];
    pump_until(&s, conn_greeted, c);
    end_conn(&s, c, 0);
    expect_greeting(a);
    IOC_CHECK(ioc_client_read_to_end(a) == 0);
    ioc_client_close(a);
    /* Released right at accept: the client sees the end, no greeting. */
    s.no_greeting = 1;
    b = ioc_client_open(s.path, 0);
    pump_until(&s, accepts_at_least, &two);
    end_conn(&s, s.conns[1], 0);
    IOC_CHECK(ioc_client_read_to_end(b) == 0);
    ioc_client_close(b);
    server_close(&s);
}

static void
worker_main(void *arg)
{
    waiter *wt = arg;

    while (!atomic_load(&wt->s->stop))
        pump(wt->s, wt->w, -1);
}

void
ioc_many_clients(const sl_io_backend *be, unsigned test_flags)
{
    server s;
    client_job jobs[NCLIENTS];
    sl_thread *clients[NCLIENTS], *workers[3];
    waiter wt[3];
    uint64_t deadline;
    int seen[NCLIENTS] = {0};

    server_open(&s, be, test_flags, 3, 2);
    for (unsigned i = 0; i < 3; i++) {
        wt[i].s = &s;
        wt[i].w = i;
        IOC_CHECK(sl_os_thread_start(worker_main, &wt[i], &workers[i]) == 0);
    }
    memset(jobs, 0, sizeof(jobs));
    for (int i = 0; i < NCLIENTS; i++) {
        jobs[i].path = s.path;
        jobs[i].index = i;
        jobs[i].bytes = CLIENT_BYTES;
        jobs[i].read_greeting = 1;
        IOC_CHECK(sl_os_thread_start(client_main, &jobs[i], &clients[i]) ==
                  0);
    }
    for (int i = 0; i < NCLIENTS; i++)
        sl_os_thread_join(clients[i]);
    deadline = sl_os_mono_ns() + DEADLINE_NS;
    for (;;) {
        int ends;

        sl_mutex_lock(&s.m);
        ends = s.ends;
        sl_mutex_unlock(&s.m);
        if (ends == NCLIENTS)
            break;
        IOC_CHECK(sl_os_mono_ns() < deadline);
        sl_os_sleep_ns(10000000u);
    }
    atomic_store(&s.stop, 1);
    s.be->wake(s.io);
    for (int i = 0; i < 3; i++)
        sl_os_thread_join(workers[i]);
    IOC_CHECK(s.accepts == NCLIENTS);
    for (int i = 0; i < s.nconns; i++) {
        tconn *c = s.conns[i];

        IOC_CHECK(c->total == CLIENT_BYTES && !c->bad);
        IOC_CHECK(c->client >= 0 && c->client < NCLIENTS);
        seen[c->client]++;
    }
    for (int i = 0; i < NCLIENTS; i++)
        IOC_CHECK(seen[i] == 1);
    server_close(&s);
}

typedef struct writer_job {
    const char *path;
    ioc_client *cl;
    uint64_t bytes;
    int send_rc;
} writer_job;

/* Connects, reads the greeting, then writes far more than any buffer
 * holds, until the server ends the stream. */
static void
writer_main(void *arg)
{
    writer_job *j = arg;

    expect_greeting(j->cl);
    j->send_rc = send_pattern(j->cl, 4, j->bytes);
}

void
ioc_drain_while_writing(const sl_io_backend *be, unsigned test_flags)
{
    server s;
    writer_job j;
    sl_thread *t;
    tconn *c;
    int one = 1;

    server_open(&s, be, test_flags, 1, 4);
    s.manual_reads = 1;
    memset(&j, 0, sizeof(j));
    j.path = s.path;
    j.bytes = 64u << 20;
    j.cl = ioc_client_open(s.path, 0);
    pump_until(&s, accepts_at_least, &one);
    c = s.conns[0];
    pump_until(&s, conn_greeted, c);
    IOC_CHECK(sl_os_thread_start(writer_main, &j, &t) == 0);
    sl_os_sleep_ns(300000000u); /* no read posted: the buffers fill up */
    s.be->drain(s.io, c->io);
    /* What was sent before the drain arrives, then the end, although the
     * client never stops writing. */
    while (!c->ended) {
        post_read(&s, c);
        pump_until(&s, conn_idle, c);
    }
    IOC_CHECK(c->end_result == 0);
    IOC_CHECK(c->total > 0 && c->total < j.bytes && !c->bad);
    sl_os_thread_join(t);
    IOC_CHECK(j.send_rc != 0); /* its writes failed at the drain/release */
    ioc_client_close(j.cl);
    server_close(&s);
}

void
ioc_zero_byte_write(const sl_io_backend *be, unsigned test_flags)
{
    server s;
    ioc_client *cl;
    int one = 1;

    server_open(&s, be, test_flags, 1, 4);
    cl = ioc_client_open(s.path, 0);
    expect_greeting_after_pump(&s, cl);
    IOC_CHECK(ioc_client_write(cl, "", 0) == 0);
    IOC_CHECK(send_pattern(cl, 6, 5000) == 0);
    pump_until(&s, conn_has_5000, s.conns[0]);
    IOC_CHECK(!s.conns[0]->ended && !s.conns[0]->bad);
    IOC_CHECK(ioc_client_write(cl, "", 0) == 0);
    ioc_client_close(cl);
    pump_until(&s, ends_at_least, &one);
    IOC_CHECK(s.conns[0]->total == 5000 && s.conns[0]->end_result == 0);
    server_close(&s);
}

static void
pumper_main(void *arg)
{
    waiter *wt = arg;

    while (!atomic_load(&wt->s->stop))
        pump(wt->s, 0, -1);
}

void
ioc_second_server(const sl_io_backend *be, unsigned test_flags)
{
    server a;
    sl_io *b = NULL;
    sl_io_config cfg;
    sl_thread *t;
    waiter wt;

    server_open(&a, be, test_flags, 1, 4);
    /* A serves (and greets a probe, as a live collector does). */
    wt.s = &a;
    wt.w = 0;
    IOC_CHECK(sl_os_thread_start(pumper_main, &wt, &t) == 0);
    memset(&cfg, 0, sizeof(cfg));
    cfg.path = a.path;
    cfg.workers = 1;
    cfg.group = SL_IO_NO_GROUP;
    cfg.test_flags = test_flags;
    IOC_CHECK(be->open(&cfg, &b) == SL_EADDRINUSE);
    IOC_CHECK(b == NULL);
    atomic_store(&a.stop, 1);
    a.be->wake(a.io);
    sl_os_thread_join(t);
    /* A probe that connected was ended; anything else would be a bug. */
    for (int i = 0; i < a.nconns; i++) {
        if (!a.conns[i]->ended) {
            int want = a.ends + 1;

            pump_until(&a, ends_at_least, &want);
        }
        IOC_CHECK(a.conns[i]->total == 0);
    }
    server_close(&a);
}

void
ioc_reopen_after_close(const sl_io_backend *be, unsigned test_flags)
{
    server s;
    char path[128];
    sl_io_config cfg;
    sl_io *io = NULL;

    server_open(&s, be, test_flags, 2, 8);
    memcpy(path, s.path, sizeof(path));
    server_close(&s);
    memset(&cfg, 0, sizeof(cfg));
    cfg.path = path;
    cfg.workers = 1;
    cfg.instances = 1;
    cfg.group = SL_IO_NO_GROUP;
    cfg.test_flags = test_flags;
    IOC_CHECK(be->open(&cfg, &io) == 0);
    be->close(io);
}
