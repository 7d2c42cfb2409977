/*
 * Tests of the producer's Windows transport (producer/transport_win.c)
 * against a plain blocking named-pipe server on a thread of the same
 * process, run under Wine by ctest: the connect budget (no pipe yet, pipe
 * appearing later, every instance busy), reads with and without a
 * timeout (a timed-out read loses no data), large writes, and the
 * collector going away (end of stream on read, SL_EPIPE on write).
 */
#include "transport.h"

#include "os.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "win_test.h"

static char name[64];
static wchar_t wpath[128];

static HANDLE
server_instance(DWORD max_instances)
{
    HANDLE h = CreateNamedPipeW(wpath, PIPE_ACCESS_DUPLEX,
                                PIPE_TYPE_BYTE | PIPE_READMODE_BYTE |
                                    PIPE_WAIT,
                                max_instances, 4096, 65536, 0, NULL);

    CHECK(h != INVALID_HANDLE_VALUE);
    return h;
}

static void
server_write(HANDLE h, const void *p, size_t len)
{
    DWORD done;

    while (len > 0) {
        CHECK(WriteFile(h, p, (DWORD)len, &done, NULL));
        p = (const char *)p + done;
        len -= done;
    }
}

/* A server that appears after a delay and greets one client. */
typedef struct late_server {
    DWORD delay_ms;
    HANDLE pipe;
} late_server;

static void
late_server_main(void *arg)
{
    late_server *ls = arg;

    Sleep(ls->delay_ms);
    ls->pipe = server_instance(PIPE_UNLIMITED_INSTANCES);
    if (!ConnectNamedPipe(ls->pipe, NULL))
        CHECK(GetLastError() == ERROR_PIPE_CONNECTED);
    server_write(ls->pipe, "hi", 3);
}

static void
test_connect_budget(void)
{
    sl_transport *t = NULL;
    late_server ls;
    sl_thread *th;
    uint64_t t0;
    char buf[8];
    size_t n;

    CASE("nobody listening: SL_ENOENT at once with no budget");
    t0 = sl_os_mono_ns();
    CHECK_EQ_RC(sl_transport_open(name, strlen(name), 0, NULL, &t), SL_ENOENT);
    CHECK(t == NULL);

    CASE("nobody listening: SL_ENOENT once the budget is spent");
    t0 = sl_os_mono_ns();
    CHECK_EQ_RC(sl_transport_open(name, strlen(name), 200, NULL, &t), SL_ENOENT);
    CHECK(sl_os_mono_ns() - t0 >= 190u * 1000000u);
    CHECK(sl_os_mono_ns() - t0 < 3000u * 1000000u);

    CASE("a collector that appears within the budget is reached");
    ls.delay_ms = 150;
    CHECK_OK(sl_os_thread_start(late_server_main, &ls, &th));
    CHECK_OK(sl_transport_open(name, strlen(name), 5000, NULL, &t));
    CHECK_OK(sl_transport_read(t, buf, sizeof(buf), &n, 2000));
    sl_os_thread_join(th);
    CHECK(n == 3 && memcmp(buf, "hi", 3) == 0);

    CASE("every instance busy: SL_ETIMEDOUT once the budget is spent");
    {
        sl_transport *t2 = NULL;

        t0 = sl_os_mono_ns();
        CHECK_EQ_RC(sl_transport_open(name, strlen(name), 300, NULL, &t2),
                    SL_ETIMEDOUT);
        CHECK(t2 == NULL);
        CHECK(sl_os_mono_ns() - t0 >= 250u * 1000000u);
        CHECK_EQ_RC(sl_transport_open(name, strlen(name), 0, NULL, &t2),
                    SL_ETIMEDOUT);
    }

    CASE("busy, then an instance frees up within the budget: connected");
    ls.delay_ms = 200;
    {
        HANDLE first = ls.pipe;
        sl_transport *t2 = NULL;

        /* The only instance is taken by t; the late server makes a
         * second one after 200 ms, which WaitNamedPipeW notices. */
        CHECK_OK(sl_os_thread_start(late_server_main, &ls, &th));
        CHECK_OK(sl_transport_open(name, strlen(name), 5000, NULL, &t2));
        sl_os_thread_join(th);
        CHECK_OK(sl_transport_read(t2, buf, sizeof(buf), &n, 2000));
        CHECK(n == 3);
        sl_transport_close(t2);
        CloseHandle(ls.pipe);
        CloseHandle(first);
    }
    sl_transport_close(t);

    CASE("bad names are refused");
    CHECK_EQ_RC(sl_transport_open("", 0, 0, NULL, &t), SL_EINVAL);
    sl_transport_close(NULL);
}

typedef struct echo_server {
    HANDLE pipe;
    HANDLE go; /* auto-reset: next step */
    size_t received;
    int bad;
} echo_server;

static void
stream_server_main(void *arg)
{
    echo_server *es = arg;
    static uint8_t buf[65536];
    DWORD got;

    if (!ConnectNamedPipe(es->pipe, NULL))
        CHECK(GetLastError() == ERROR_PIPE_CONNECTED);
    /* Step 1: say nothing until told, then greet. */
    CHECK(WaitForSingleObject(es->go, 10000) == WAIT_OBJECT_0);
    server_write(es->pipe, "SLUICE/1 max=65536 id=9", 24);
    /* Step 2: read 1 MiB and check it. */
    while (es->received < (1u << 20)) {
        CHECK(ReadFile(es->pipe, buf, sizeof(buf), &got, NULL));
        for (DWORD i = 0; i < got; i++, es->received++)
            if (buf[i] != (uint8_t)(es->received * 7u + 3u))
                es->bad = 1;
    }
    /* Step 3: go away. */
    CHECK(WaitForSingleObject(es->go, 10000) == WAIT_OBJECT_0);
    CloseHandle(es->pipe);
}

static void
test_stream(void)
{
    echo_server es;
    sl_transport *t;
    sl_thread *th;
    char buf[64];
    uint8_t *big;
    size_t n = 0, got = 0;
    uint64_t t0;
    int rc;

    memset(&es, 0, sizeof(es));
    es.pipe = server_instance(1);
    es.go = CreateEventW(NULL, FALSE, FALSE, NULL);
    CHECK_OK(sl_os_thread_start(stream_server_main, &es, &th));
    CHECK_OK(sl_transport_open(name, strlen(name), 2000, NULL, &t));

    CASE("a read with a timeout and nothing sent: SL_ETIMEDOUT");
    t0 = sl_os_mono_ns();
    CHECK_EQ_RC(sl_transport_read(t, buf, sizeof(buf), &n, 100),
                SL_ETIMEDOUT);
    CHECK(sl_os_mono_ns() - t0 >= 95u * 1000000u);

    CASE("data sent after a timed-out read is not lost");
    SetEvent(es.go);
    while (got < 24) {
        CHECK_OK(sl_transport_read(t, buf + got, sizeof(buf) - got, &n, 0));
        CHECK(n > 0);
        got += n;
    }
    CHECK(got == 24 && strcmp(buf, "SLUICE/1 max=65536 id=9") == 0);

    CASE("a 1 MiB write arrives whole and in order");
    big = malloc(1u << 20);
    CHECK(big != NULL);
    for (size_t i = 0; i < (1u << 20); i++)
        big[i] = (uint8_t)(i * 7u + 3u);
    CHECK_OK(sl_transport_write(t, big, 1u << 20));
    CHECK_OK(sl_transport_write(t, big, 0));
    free(big);

    CASE("the collector going away: end of stream, then SL_EPIPE");
    SetEvent(es.go);
    sl_os_thread_join(th);
    CHECK(es.received == (1u << 20) && !es.bad);
    CHECK_OK(sl_transport_read(t, buf, sizeof(buf), &n, 2000));
    CHECK(n == 0);
    rc = sl_transport_write(t, "x", 1);
    CHECK(rc == SL_EPIPE);
    sl_transport_close(t);
    CloseHandle(es.go);
}

/* Greets one client with "hi" on a fresh instance. */
static void
greet_one_main(void *arg)
{
    HANDLE h = *(HANDLE *)arg;

    if (!ConnectNamedPipe(h, NULL))
        CHECK(GetLastError() == ERROR_PIPE_CONNECTED);
    server_write(h, "hi", 3);
}

static void
test_trust(void)
{
    static const char *const trusted[] = {NULL, "S-1-5-18", "s-1-5-32-544"};
    char buf[8];
    size_t n;

    for (size_t i = 0; i < sizeof(trusted) / sizeof(trusted[0]); i++) {
        HANDLE h = server_instance(1);
        sl_transport *t = NULL;
        sl_thread *th;

        CASE("a server of our own user is trusted, whatever trust_user");
        printf("  trust_user %s\n", trusted[i] ? trusted[i] : "NULL");
        CHECK_OK(sl_os_thread_start(greet_one_main, &h, &th));
        CHECK_OK(sl_transport_open(name, strlen(name), 2000, trusted[i], &t));
        CHECK_OK(sl_transport_read(t, buf, sizeof(buf), &n, 2000));
        CHECK(n == 3 && memcmp(buf, "hi", 3) == 0);
        sl_os_thread_join(th);
        sl_transport_close(t);
        CloseHandle(h);
    }

    CASE("the override must be a SID string: anything else is SL_EINVAL");
    {
        static const char *const bad[] = {"root", "Administrator", "S-x",
                                          ""};
        sl_transport *t = NULL;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            printf("  trust_user '%s'\n", bad[i]);
            CHECK_EQ_RC(
                sl_transport_open(name, strlen(name), 200, bad[i], &t),
                SL_EINVAL);
        }
    }
}

int
main(void)
{
    char path[128];

    setvbuf(stdout, NULL, _IONBF, 0);
    snprintf(name, sizeof(name), "sluice-test-transport-%lu",
             (unsigned long)GetCurrentProcessId());
    CHECK_OK(sl_os_pipe_path(name, strlen(name), path, sizeof(path), NULL));
    CHECK(MultiByteToWideChar(CP_UTF8, 0, path, -1, wpath, 128) > 0);
    test_connect_budget();
    test_stream();
    test_trust();
    printf("test_transport_win: all passed\n");
    return T_EXIT_PASS;
}
