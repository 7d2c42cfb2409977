/*
 * Tests of the IOCP named-pipe backend (collector/io/iocp.c) through its
 * io.h table, with plain Win32 clients on threads of the same process, run
 * under Wine by ctest. A small event loop stands in for the collector
 * core: it greets each connection, reads into a per-connection buffer and
 * checks every byte of a per-client pattern.
 *
 * Cases: a second server on the same name is refused; greeting, data and
 * end of stream; many clients at once on few instances with several
 * workers; drain with a read pending and with data waiting; a client that
 * leaves at once; a zero-byte write; stop_accepting; wake; the pipe's
 * DACL; and the name being free again after close.
 */
#include "io.h"
#include "os.h"

#include <aclapi.h>
#include <sddl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "win_test.h"

#define GREETING "SLUICE/1 max=65536 id=1"
#define MAX_CONNS 64
#define NCLIENTS 16
#define CLIENT_BYTES (256u * 1024u)

static const sl_io_backend *be = &sl_io_iocp;
static char pipe_path[128];
static wchar_t pipe_wpath[128];

/* ---- the stand-in core -------------------------------------------------- */

typedef struct tconn {
    sl_io_conn *io;
    uint8_t buf[65536];
    uint64_t total; /* bytes received */
    int client;     /* first byte of the stream: the client's index */
    int bad;        /* a byte broke the pattern */
    int greeted;
    int ended;
    int64_t end_result;
    int reading;  /* a read is posted */
    uint32_t pid; /* conn->pid at accept */
} tconn;

typedef struct server {
    sl_io *io;
    sl_mutex m; /* guards the counters and conns[] */
    tconn *conns[MAX_CONNS];
    int nconns;
    int accepts;
    int ends;
    int manual_reads; /* 1: reads are posted by the test, not the loop */
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
    CHECK_OK(be->read(s->io, c->io, c->buf, sizeof(c->buf)));
}

static void
handle(server *s, const sl_io_event *ev)
{
    tconn *c = ev->conn->user;

    switch (ev->kind) {
    case SL_IO_ACCEPT:
        CHECK(c == NULL);
        c = calloc(1, sizeof(*c));
        CHECK(c != NULL);
        c->io = ev->conn;
        c->client = -1;
        ev->conn->user = c;
        CHECK(ev->conn->uid == 0xFFFFFFFFu);
        c->pid = ev->conn->pid;
        sl_mutex_lock(&s->m);
        CHECK(s->nconns < MAX_CONNS);
        s->conns[s->nconns++] = c;
        s->accepts++;
        sl_mutex_unlock(&s->m);
        CHECK_OK(be->write(s->io, c->io, GREETING, sizeof(GREETING)));
        break;
    case SL_IO_WRITE:
        CHECK(c != NULL);
        if (ev->result < 0) {
            /* The client left before the greeting: end it here. */
            c->ended = 1;
            c->end_result = ev->result;
            be->release(s->io, c->io);
            sl_mutex_lock(&s->m);
            s->ends++;
            sl_mutex_unlock(&s->m);
            break;
        }
        CHECK(ev->result == (int64_t)sizeof(GREETING));
        c->greeted = 1;
        if (!s->manual_reads)
            post_read(s, c);
        break;
    case SL_IO_READ:
        CHECK(c != NULL);
        c->reading = 0;
        if (ev->result > 0) {
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
        c->ended = 1;
        c->end_result = ev->result;
        be->release(s->io, c->io);
        sl_mutex_lock(&s->m);
        s->ends++;
        sl_mutex_unlock(&s->m);
        break;
    default:
        CHECK(!"unknown event kind");
    }
}

/* One wait() on worker w; handles what it returns. @return event count. */
static size_t
pump(server *s, unsigned w, int timeout_ms)
{
    sl_io_event ev[16];
    size_t n = 0;

    CHECK_OK(be->wait(s->io, w, ev, 16, &n, timeout_ms));
    for (size_t i = 0; i < n; i++)
        handle(s, &ev[i]);
    return n;
}

/* Pumps on worker 0 until cond(s) holds; fails after 10 s. */
static void
pump_until(server *s, int (*cond)(server *s, void *arg), void *arg)
{
    uint64_t deadline = sl_os_mono_ns() + 10000u * 1000000ull;

    while (!cond(s, arg)) {
        CHECK(sl_os_mono_ns() < deadline);
        pump(s, 0, 50);
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
conn_idle_with(server *s, void *arg)
{
    tconn *c = arg;

    (void)s;
    return !c->reading && c->total > 0;
}

static void
server_open(server *s, unsigned workers, unsigned instances)
{
    sl_io_config cfg;

    memset(s, 0, sizeof(*s));
    sl_mutex_init(&s->m);
    memset(&cfg, 0, sizeof(cfg));
    cfg.path = pipe_path;
    cfg.workers = workers;
    cfg.instances = instances;
    CHECK_OK(be->open(&cfg, &s->io));
}

static void
server_close(server *s)
{
    for (int i = 0; i < s->nconns; i++) {
        CHECK(s->conns[i]->ended);
        free(s->conns[i]);
    }
    be->close(s->io);
    sl_mutex_destroy(&s->m);
}

/* ---- clients ------------------------------------------------------------- */

/* Connects like a plain Win32 client, waiting for a free instance. */
static HANDLE
client_connect(void)
{
    uint64_t deadline = sl_os_mono_ns() + 10000u * 1000000ull;

    for (;;) {
        HANDLE h = CreateFileW(pipe_wpath, GENERIC_READ | GENERIC_WRITE, 0,
                               NULL, OPEN_EXISTING, 0, NULL);
        DWORD err;

        if (h != INVALID_HANDLE_VALUE)
            return h;
        err = GetLastError();
        CHECK(sl_os_mono_ns() < deadline);
        if (err == ERROR_PIPE_BUSY)
            WaitNamedPipeW(pipe_wpath, 1000);
        else if (err == ERROR_FILE_NOT_FOUND)
            Sleep(5);
        else
            CHECK(!"unexpected CreateFileW error");
    }
}

static void
client_read_greeting(HANDLE h)
{
    char g[100];
    size_t n = 0;
    DWORD got;

    /* Byte by byte up to the NUL, as the plain client of issue 3 does. */
    for (;;) {
        CHECK(n < sizeof(g));
        CHECK(ReadFile(h, &g[n], 1, &got, NULL) && got == 1);
        if (g[n++] == '\0')
            break;
    }
    CHECK(strcmp(g, GREETING) == 0);
}

static void
client_write(HANDLE h, const void *p, size_t len)
{
    DWORD done;

    while (len > 0) {
        CHECK(WriteFile(h, p, (DWORD)len, &done, NULL));
        p = (const char *)p + done;
        len -= done;
    }
}

/* Sends the client's index, then total - 1 pattern bytes. @return 0, or
 * the WriteFile error when may_break and the server ended the pipe. */
static DWORD
client_send_pattern(HANDLE h, int index, size_t total, int may_break)
{
    uint8_t chunk[7919]; /* a prime, so writes straddle server reads */
    uint64_t k = 0;

    while (k < total) {
        size_t n = 0;
        DWORD done;

        while (n < sizeof(chunk) && k < total) {
            chunk[n++] = k == 0 ? (uint8_t)index : pattern(index, k);
            k++;
        }
        if (!may_break) {
            client_write(h, chunk, n);
            continue;
        }
        for (size_t off = 0; off < n; off += done) {
            if (!WriteFile(h, chunk + off, (DWORD)(n - off), &done, NULL))
                return GetLastError();
        }
    }
    return 0;
}

static void
client_main(void *arg)
{
    int index = (int)(intptr_t)arg;
    HANDLE h = client_connect();

    client_read_greeting(h);
    client_send_pattern(h, index, CLIENT_BYTES, 0);
    CloseHandle(h);
}

/* A client that waits for a go signal before closing. */
typedef struct held_client {
    HANDLE pipe;
    HANDLE go;            /* manual-reset: write "late" and close */
    size_t send;          /* pattern bytes to send after the greeting */
    int zero_write;       /* send a zero-byte write first */
    int may_break;        /* the server may end the pipe while we send */
    DWORD send_err;       /* error that ended the sending (may_break) */
    DWORD late_write_err; /* error of the "late" write (0: it worked) */
} held_client;

static void
held_main(void *arg)
{
    held_client *hc = arg;
    DWORD done;

    hc->pipe = client_connect();
    client_read_greeting(hc->pipe);
    if (hc->zero_write)
        CHECK(WriteFile(hc->pipe, "", 0, &done, NULL));
    if (hc->send > 0)
        hc->send_err =
            client_send_pattern(hc->pipe, 7, hc->send, hc->may_break);
    CHECK(WaitForSingleObject(hc->go, 20000) == WAIT_OBJECT_0);
    if (!WriteFile(hc->pipe, "late", 4, &done, NULL))
        hc->late_write_err = GetLastError();
    CloseHandle(hc->pipe);
}

/* ---- cases --------------------------------------------------------------- */

static void
test_second_server_refused(void)
{
    server a;
    sl_io *b = NULL;
    sl_io_config cfg;

    CASE("a second server on the same pipe name gets SL_EADDRINUSE");
    server_open(&a, 1, 4);
    memset(&cfg, 0, sizeof(cfg));
    cfg.path = pipe_path;
    cfg.workers = 1;
    CHECK_EQ_RC(be->open(&cfg, &b), SL_EADDRINUSE);
    CHECK(b == NULL);
    server_close(&a);

    CASE("bad configurations are refused");
    cfg.workers = 0;
    CHECK_EQ_RC(be->open(&cfg, &b), SL_EINVAL);
    cfg.workers = 1;
    cfg.path = "\\\\.\\pipe\\bad-\xFF";
    CHECK_EQ_RC(be->open(&cfg, &b), SL_EINVAL);
    be->close(NULL);
}

static void
test_one_client(void)
{
    server s;
    sl_thread *t;
    int one = 1;

    CASE("greeting, 256 KiB of data and end of stream for one client");
    server_open(&s, 1, 4);
    CHECK_OK(sl_os_thread_start(client_main, (void *)(intptr_t)3, &t));
    pump_until(&s, ends_at_least, &one);
    sl_os_thread_join(t);
    CHECK(s.conns[0]->total == CLIENT_BYTES);
    CHECK(s.conns[0]->client == 3);
    CHECK(!s.conns[0]->bad);
    CHECK(s.conns[0]->end_result == 0);
    /* Windows reports this process; Wine reports 0 (unknown). */
    CHECK(s.conns[0]->pid == 0 || s.conns[0]->pid == GetCurrentProcessId());
    printf("  client pid reported: %u\n", (unsigned)s.conns[0]->pid);
    server_close(&s);
}

static void
worker_main(void *arg)
{
    server *s = arg;
    static atomic_uint next_worker;
    unsigned w = atomic_fetch_add(&next_worker, 1) % 3;

    while (!atomic_load(&s->stop))
        pump(s, w, -1);
}

static void
test_many_clients(void)
{
    server s;
    sl_thread *clients[NCLIENTS], *workers[3];
    uint64_t deadline;

    CASE("16 clients at once on 2 instances, 3 workers: every byte arrives");
    server_open(&s, 3, 2);
    for (int i = 0; i < 3; i++)
        CHECK_OK(sl_os_thread_start(worker_main, &s, &workers[i]));
    for (int i = 0; i < NCLIENTS; i++)
        CHECK_OK(sl_os_thread_start(client_main, (void *)(intptr_t)i,
                                    &clients[i]));
    for (int i = 0; i < NCLIENTS; i++)
        sl_os_thread_join(clients[i]);
    deadline = sl_os_mono_ns() + 10000u * 1000000ull;
    for (;;) {
        int ends;

        sl_mutex_lock(&s.m);
        ends = s.ends;
        sl_mutex_unlock(&s.m);
        if (ends == NCLIENTS)
            break;
        CHECK(sl_os_mono_ns() < deadline);
        Sleep(10);
    }
    atomic_store(&s.stop, 1);
    be->wake(s.io);
    for (int i = 0; i < 3; i++)
        sl_os_thread_join(workers[i]);
    CHECK(s.accepts == NCLIENTS);
    {
        int seen[NCLIENTS] = {0};

        for (int i = 0; i < s.nconns; i++) {
            tconn *c = s.conns[i];

            CHECK(c->total == CLIENT_BYTES);
            CHECK(!c->bad);
            CHECK(c->client >= 0 && c->client < NCLIENTS);
            seen[c->client]++;
        }
        for (int i = 0; i < NCLIENTS; i++)
            CHECK(seen[i] == 1);
    }
    server_close(&s);
}

static void
test_drain_pending_read(void)
{
    server s;
    held_client hc;
    sl_thread *t;
    tconn *c;
    int one = 1;

    CASE("drain with a read pending and nothing sent: end of stream");
    server_open(&s, 1, 4);
    s.manual_reads = 1;
    memset(&hc, 0, sizeof(hc));
    hc.go = CreateEventW(NULL, TRUE, FALSE, NULL);
    hc.send = 1000;
    CHECK_OK(sl_os_thread_start(held_main, &hc, &t));
    pump_until(&s, accepts_at_least, &one);
    c = s.conns[0];
    pump_until(&s, conn_greeted, c);
    post_read(&s, c);
    while (c->total < 1000) {
        pump_until(&s, conn_idle_with, c);
        if (c->total < 1000)
            post_read(&s, c);
    }
    post_read(&s, c); /* pends: the client sends nothing more */
    pump(&s, 0, 50);
    CHECK(c->reading && !c->ended);
    be->drain(s.io, c->io);
    pump_until(&s, ends_at_least, &one);
    CHECK(c->end_result == 0);
    CHECK(c->total == 1000 && !c->bad);
    CASE("after release the client's writes fail");
    SetEvent(hc.go);
    sl_os_thread_join(t);
    CHECK(hc.late_write_err == ERROR_NO_DATA ||
          hc.late_write_err == ERROR_BROKEN_PIPE ||
          hc.late_write_err == ERROR_PIPE_NOT_CONNECTED);
    CloseHandle(hc.go);
    server_close(&s);
}

static void
test_drain_with_data(void)
{
    server s;
    held_client hc;
    sl_thread *t;
    tconn *c;
    int one = 1;

    CASE("drain while a client is still sending: buffered bytes, then end");
    server_open(&s, 1, 4);
    s.manual_reads = 1;
    memset(&hc, 0, sizeof(hc));
    hc.go = CreateEventW(NULL, TRUE, FALSE, NULL);
    hc.send = 4u << 20; /* far more than the pipe holds: the client blocks */
    hc.may_break = 1;
    CHECK_OK(sl_os_thread_start(held_main, &hc, &t));
    pump_until(&s, accepts_at_least, &one);
    c = s.conns[0];
    pump_until(&s, conn_greeted, c);
    Sleep(300); /* no read posted: the pipe buffer fills up */
    be->drain(s.io, c->io);
    /* Reads go on while the pipe holds bytes that were there at drain
     * time, then end, even though the client keeps writing. */
    while (!c->ended) {
        post_read(&s, c);
        while (c->reading)
            pump(&s, 0, 50);
    }
    CHECK(c->end_result == 0);
    CHECK(c->total > 0 && c->total < hc.send && !c->bad);
    printf("  drained %llu bytes of the %llu the client was sending\n",
           (unsigned long long)c->total, (unsigned long long)hc.send);
    SetEvent(hc.go);
    sl_os_thread_join(t);
    CHECK(hc.send_err != 0); /* its blocked write failed at release */
    CloseHandle(hc.go);
    server_close(&s);
}

static void
test_drain_complete_stream(void)
{
    server s;
    held_client hc;
    sl_thread *t;
    tconn *c;
    int one = 1;

    CASE("drain after the client's whole message is buffered: all of it");
    server_open(&s, 1, 4);
    s.manual_reads = 1;
    memset(&hc, 0, sizeof(hc));
    hc.go = CreateEventW(NULL, TRUE, FALSE, NULL);
    hc.send = 3000; /* fits in the pipe buffer: the client does not block */
    CHECK_OK(sl_os_thread_start(held_main, &hc, &t));
    pump_until(&s, accepts_at_least, &one);
    c = s.conns[0];
    pump_until(&s, conn_greeted, c);
    Sleep(300); /* the client has written its 3000 bytes by now */
    be->drain(s.io, c->io);
    while (!c->ended) {
        post_read(&s, c);
        while (c->reading)
            pump(&s, 0, 50);
    }
    CHECK(c->end_result == 0);
    CHECK(c->total == 3000 && !c->bad);
    SetEvent(hc.go);
    sl_os_thread_join(t);
    CloseHandle(hc.go);
    server_close(&s);
}

static void
test_client_leaves_at_once(void)
{
    server s;
    int n = 3;

    CASE("clients that connect and leave at once end cleanly");
    server_open(&s, 1, 4);
    for (int i = 0; i < n; i++)
        CloseHandle(client_connect());
    pump_until(&s, ends_at_least, &n);
    for (int i = 0; i < s.nconns; i++)
        CHECK(s.conns[i]->end_result == 0 || s.conns[i]->end_result < 0);
    server_close(&s);
}

static void
test_zero_byte_write(void)
{
    server s;
    held_client hc;
    sl_thread *t;
    int one = 1;

    CASE("a zero-byte write does not end the stream");
    server_open(&s, 1, 4);
    memset(&hc, 0, sizeof(hc));
    hc.go = CreateEventW(NULL, TRUE, FALSE, NULL);
    hc.zero_write = 1;
    hc.send = 5000;
    CHECK_OK(sl_os_thread_start(held_main, &hc, &t));
    pump_until(&s, accepts_at_least, &one);
    while (s.conns[0]->total < 5000)
        pump(&s, 0, 50);
    CHECK(!s.conns[0]->ended && !s.conns[0]->bad);
    SetEvent(hc.go);
    pump_until(&s, ends_at_least, &one);
    sl_os_thread_join(t);
    /* "late" was sent after the pattern: 4 more bytes, end of stream. */
    CHECK(s.conns[0]->total == 5004);
    CHECK(s.conns[0]->end_result == 0);
    CloseHandle(hc.go);
    server_close(&s);
}

static void
test_stop_accepting(void)
{
    server s;
    held_client hc;
    sl_thread *t;
    tconn *c;
    int one = 1;
    HANDLE h = INVALID_HANDLE_VALUE;
    uint64_t deadline;

    CASE("stop_accepting: no new clients, open connections go on");
    server_open(&s, 1, 4);
    memset(&hc, 0, sizeof(hc));
    hc.go = CreateEventW(NULL, TRUE, FALSE, NULL);
    CHECK_OK(sl_os_thread_start(held_main, &hc, &t));
    pump_until(&s, accepts_at_least, &one);
    c = s.conns[0];
    pump_until(&s, conn_greeted, c);
    be->stop_accepting(s.io);
    be->stop_accepting(s.io);
    /* Once the cancelled connects are reaped the name is gone. */
    deadline = sl_os_mono_ns() + 5000u * 1000000ull;
    for (;;) {
        pump(&s, 0, 20);
        h = CreateFileW(pipe_wpath, GENERIC_READ | GENERIC_WRITE, 0, NULL,
                        OPEN_EXISTING, 0, NULL);
        if (h == INVALID_HANDLE_VALUE &&
            (GetLastError() == ERROR_FILE_NOT_FOUND ||
             GetLastError() == ERROR_PIPE_BUSY))
            break;
        if (h != INVALID_HANDLE_VALUE)
            CloseHandle(h);
        CHECK(sl_os_mono_ns() < deadline);
    }
    pump(&s, 0, 50);
    CHECK(s.accepts == 1);
    SetEvent(hc.go); /* the held client now writes "late" and closes */
    pump_until(&s, ends_at_least, &one);
    sl_os_thread_join(t);
    CHECK(c->total == 4 && c->end_result == 0);
    CloseHandle(hc.go);
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

static void
test_wake(void)
{
    server s;
    waiter wt[3];
    sl_thread *t[3];
    uint64_t deadline;

    CASE("wake makes every worker's infinite wait return");
    server_open(&s, 3, 2);
    for (unsigned i = 0; i < 3; i++) {
        wt[i].s = &s;
        wt[i].w = i;
        atomic_init(&wt[i].returned, 0);
        CHECK_OK(sl_os_thread_start(waiter_main, &wt[i], &t[i]));
    }
    Sleep(100);
    for (unsigned i = 0; i < 3; i++)
        CHECK(!atomic_load(&wt[i].returned));
    be->wake(s.io);
    deadline = sl_os_mono_ns() + 2000u * 1000000ull;
    for (unsigned i = 0; i < 3; i++) {
        while (!atomic_load(&wt[i].returned))
            CHECK(sl_os_mono_ns() < deadline);
        sl_os_thread_join(t[i]);
    }
    CASE("wait with a timeout and nothing to do returns 0 events");
    CHECK(pump(&s, 1, 30) == 0);
    CHECK(pump(&s, 2, 0) == 0);
    server_close(&s);
}

static void
test_security(void)
{
    server s;
    HANDLE h;
    PSECURITY_DESCRIPTOR sd = NULL;
    PACL dacl = NULL;
    wchar_t *sddl = NULL;
    DWORD rc;

    CASE("the pipe's DACL names only the user, SYSTEM and Administrators");
    server_open(&s, 1, 1);
    h = client_connect();
    rc = GetSecurityInfo(h, SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION,
                         NULL, NULL, &dacl, NULL, &sd);
    if (rc != ERROR_SUCCESS) {
        printf("  (GetSecurityInfo on a pipe: error %lu; not checked)\n",
               (unsigned long)rc);
    } else {
        CHECK(ConvertSecurityDescriptorToStringSecurityDescriptorW(
            sd, SDDL_REVISION_1, DACL_SECURITY_INFORMATION, &sddl, NULL));
        printf("  DACL: %ls\n", sddl);
        CHECK(wcsstr(sddl, L"D:P") == sddl);
        CHECK(wcsstr(sddl, L";;;SY)") != NULL);
        CHECK(wcsstr(sddl, L";;;BA)") != NULL);
        CHECK(wcsstr(sddl, L";;;WD)") == NULL); /* not Everyone */
        LocalFree(sddl);
        LocalFree(sd);
    }
    CloseHandle(h);
    {
        int one = 1;

        pump_until(&s, ends_at_least, &one);
    }
    server_close(&s);
}

static void
test_reopen_after_close(void)
{
    server s;

    CASE("after close the name is free for a new server");
    server_open(&s, 2, 8);
    server_close(&s);
    server_open(&s, 1, 1);
    server_close(&s);
}

int
main(void)
{
    char name[64];
    size_t len;

    setvbuf(stdout, NULL, _IONBF, 0);
    snprintf(name, sizeof(name), "sluice-test-iocp-%lu",
             (unsigned long)GetCurrentProcessId());
    CHECK_OK(sl_os_pipe_path(name, strlen(name), pipe_path, sizeof(pipe_path),
                             &len));
    CHECK(MultiByteToWideChar(CP_UTF8, 0, pipe_path, -1, pipe_wpath, 128) >
          0);
    CHECK(strcmp(be->name, "iocp") == 0);

    test_second_server_refused();
    test_one_client();
    test_many_clients();
    test_drain_pending_read();
    test_drain_with_data();
    test_drain_complete_stream();
    test_client_leaves_at_once();
    test_zero_byte_write();
    test_stop_accepting();
    test_wake();
    test_security();
    test_reopen_after_close();
    printf("test_iocp: all passed\n");
    return T_EXIT_PASS;
}
