/*
 * Concurrency stress for libsluice-producer (include/sluice/producer.h), as
 * a plain program so that it runs under ThreadSanitizer as well as
 * natively and under ASan/UBSan.
 *
 * Four threads emit events concurrently on one producer handle (its flush
 * thread running too, and the threads calling sluice_producer_flush() and
 * sluice_producer_counts() now and then). The handle is connected to a
 * real listening Unix socket served by a thread of this program, which
 * sends the greeting, reads in chunks of varying size (small ones now and
 * then, so the socket fills and the producer's writes block) and parses
 * the stream with the collector's own sl_wire_parse(), keeping unconsumed
 * bytes the way the collector's worker does. It checks what
 * docs/protocol.md and producer.h promise: one hello first; frame sequence
 * numbers 0, 1, 2, ... with no gap; each thread's events in the order that
 * thread emitted them, none lost or duplicated, payload bytes intact; a
 * clean end of stream; and counts that match.
 *
 * Events per thread: 200,000 divided by SL_TEST_SCALE. Exit status: 0
 * pass, 1 fail. Linux and other POSIX systems only.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "endian.h"
#include "err.h"
#include "os.h"
#include "sluice/producer.h"
#include "wire.h"

#define THREADS 4
#define BASE_COUNT 200000.0
#define EV_CAP 64
#define BUF_BYTES (64u << 10)
#define MAX_FRAME 4096u
#define PL_HDR 12u /* thread id (4) + the thread's own sequence (8) */

typedef struct server {
    int lfd;
    uint64_t per_thread;
    _Atomic int failed;
    uint64_t events; /* counted by the server thread, read after join */
    uint64_t bytes;
} server;

typedef struct emitter {
    sluice_producer *p;
    server *srv;
    uint32_t id;
    int rc; /* first emit error */
} emitter;

static void
fail_msg(server *s, const char *what, uint64_t a, uint64_t b)
{
    fprintf(stderr, "producer_stress: FAIL: %s (%llu, %llu)\n", what,
            (unsigned long long)a, (unsigned long long)b);
    atomic_store(&s->failed, 1);
}

static size_t
payload_len(uint32_t id, uint64_t seq)
{
    return PL_HDR + (size_t)((seq * 2654435761u + id * 97u) % 180u);
}

static uint8_t
pattern(uint32_t id, uint64_t seq, size_t i)
{
    return (uint8_t)(id * 31u + seq * 13u + i);
}

static void
emitter_main(void *arg)
{
    emitter *e = arg;
    uint8_t buf[PL_HDR + 200];

    for (uint64_t seq = 0; seq < e->srv->per_thread; seq++) {
        size_t len = payload_len(e->id, seq);
        int rc;

        sl_store_le32(buf, e->id);
        sl_store_le64(buf + 4, seq);
        for (size_t i = PL_HDR; i < len; i++)
            buf[i] = pattern(e->id, seq, i);
        rc = sluice_producer_emit(e->p, (uint16_t)(e->id + 1), buf, len);
        if (rc == 0 && seq % 4096 == 4095)
            rc = sluice_producer_flush(e->p);
        if (seq % 1024 == 0) {
            uint64_t ev, by;

            sluice_producer_counts(e->p, &ev, &by);
        }
        if (rc != 0) {
            e->rc = rc;
            return;
        }
    }
}

/* Checks a batch of parsed events; *global is the next frame seq. */
static int
check_events(server *s, const sl_wire_event *ev, size_t n, uint64_t *global,
             uint64_t next[THREADS], int *hello_seen)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t id;
        uint64_t seq;

        if (!*hello_seen) {
            if (ev[i].type != SL_WIRE_T_HELLO) {
                fail_msg(s, "first event is not the hello", ev[i].type, 0);
                return -1;
            }
            *hello_seen = 1;
            continue;
        }
        if (ev[i].seq != *global) {
            fail_msg(s, "frame sequence number out of order", ev[i].seq,
                     *global);
            return -1;
        }
        (*global)++;
        if (ev[i].len < PL_HDR) {
            fail_msg(s, "payload too short", ev[i].len, 0);
            return -1;
        }
        id = sl_load_le32(ev[i].payload);
        seq = sl_load_le64(ev[i].payload + 4);
        if (id >= THREADS || ev[i].type != id + 1) {
            fail_msg(s, "bad thread id or type", id, ev[i].type);
            return -1;
        }
        if (seq != next[id]) {
            fail_msg(s, "a thread's events out of order, lost or doubled",
                     id, next[id]);
            return -1;
        }
        if (ev[i].len != payload_len(id, seq)) {
            fail_msg(s, "payload length differs", id, seq);
            return -1;
        }
        for (size_t k = PL_HDR; k < ev[i].len; k++) {
            if (ev[i].payload[k] != pattern(id, seq, k)) {
                fail_msg(s, "payload bytes differ", id, seq);
                return -1;
            }
        }
        next[id]++;
        s->events++;
        s->bytes += ev[i].len;
    }
    return 0;
}

static void
server_main(void *arg)
{
    server *s = arg;
    uint8_t *buf = malloc(BUF_BYTES);
    sl_wire_event ev[EV_CAP];
    uint64_t next[THREADS] = {0}, global = 0;
    uint32_t rnd = 12345;
    int hello_seen = 0, fd = -1;
    char greeting[SL_WIRE_GREETING_MAX];
    size_t glen, len = 0, n;
    sl_wire w;
    int rc;

    if (buf == NULL) {
        fail_msg(s, "out of memory", 0, 0);
        goto out;
    }
    fd = accept(s->lfd, NULL, NULL);
    if (fd < 0) {
        fail_msg(s, "accept failed", (uint64_t)errno, 0);
        goto out;
    }
    sl_wire_greeting(greeting, sizeof(greeting), MAX_FRAME, 1, &glen);
    if (send(fd, greeting, glen, MSG_NOSIGNAL) != (ssize_t)glen) {
        fail_msg(s, "greeting not sent", (uint64_t)errno, 0);
        goto out;
    }
    sl_wire_init(&w, MAX_FRAME);
    for (;;) {
        size_t want, off = 0, used;
        ssize_t got;

        /* Mostly large reads; every so often a tiny one, so the socket
         * buffer fills and the producer's writes block (backpressure). */
        rnd = rnd * 1103515245u + 12345u;
        want = (rnd >> 16) % 16 == 0 ? 1 + (rnd >> 8) % 64 : BUF_BYTES - len;
        if (want > BUF_BYTES - len)
            want = BUF_BYTES - len;
        got = recv(fd, buf + len, want, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            fail_msg(s, "recv failed", (uint64_t)errno, 0);
            goto out;
        }
        if (got == 0)
            break;
        len += (size_t)got;
        for (;;) {
            rc = sl_wire_parse(&w, buf + off, len - off, ev, EV_CAP, &n,
                               &used);
            if (check_events(s, ev, n, &global, next, &hello_seen) != 0)
                goto out;
            off += used;
            if (rc != 0) {
                fail_msg(s, sl_wire_reason_str(w.reason), w.reason, 0);
                goto out;
            }
            if (n < EV_CAP)
                break;
        }
        memmove(buf, buf + off, len - off);
        len -= off;
        if (len == BUF_BYTES) {
            /* Frames are at most MAX_FRAME, far below the buffer. */
            fail_msg(s, "buffer full without a complete frame", len, 0);
            goto out;
        }
    }
    rc = sl_wire_finish(&w, buf, len, ev, EV_CAP, &n);
    if (rc != 0) {
        fail_msg(s, sl_wire_reason_str(w.reason), w.reason, 0);
        goto out;
    }
    if (check_events(s, ev, n, &global, next, &hello_seen) != 0)
        goto out;
    for (uint32_t id = 0; id < THREADS; id++)
        if (next[id] != s->per_thread)
            fail_msg(s, "a thread's events are missing at the end", id,
                     next[id]);
out:
    /* Closing on failure makes the producer's next write fail, so the
     * emitters stop instead of blocking forever. */
    if (fd >= 0)
        close(fd);
    free(buf);
}

static uint64_t
scaled_count(void)
{
    const char *e = getenv("SL_TEST_SCALE");
    double scale = e != NULL ? atof(e) : 1.0;
    double n;

    if (!(scale > 0))
        scale = 1.0;
    n = BASE_COUNT / scale;
    return n < 1000 ? 1000 : (uint64_t)n;
}

int
main(void)
{
    const char *tmp = getenv("TMPDIR");
    char dir[256], path[300];
    struct sockaddr_un sa;
    sluice_producer_opts opts;
    sluice_producer *p = NULL;
    server srv;
    emitter em[THREADS];
    sl_thread *srv_thread = NULL, *threads[THREADS];
    uint64_t events = 0, bytes = 0;
    int rc, status = 1;

    memset(&srv, 0, sizeof(srv));
    srv.lfd = -1;
    srv.per_thread = scaled_count();
    snprintf(dir, sizeof(dir), "%s/sluice-stress.XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("producer_stress: mkdtemp");
        return 1;
    }
    snprintf(path, sizeof(path), "%s/sock", dir);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "producer_stress: socket path too long: %s\n", path);
        goto out;
    }
    strcpy(sa.sun_path, path);
    srv.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (srv.lfd < 0 || bind(srv.lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(srv.lfd, 1) != 0) {
        perror("producer_stress: socket");
        goto out;
    }
    rc = sl_os_thread_start(server_main, &srv, &srv_thread);
    if (rc != 0) {
        fprintf(stderr, "producer_stress: thread: %s\n", sl_strerror(rc));
        goto out;
    }

    sluice_producer_opts_init(&opts);
    opts.name = "producer_stress";
    opts.name_len = strlen(opts.name);
    opts.flush_interval_ms = 1; /* the flush thread competes all the time */
    rc = sluice_producer_open(path, strlen(path), &opts, &p);
    if (rc != 0) {
        fprintf(stderr, "producer_stress: open: %s\n", sluice_strerror(rc));
        shutdown(srv.lfd, SHUT_RDWR);
        goto join_server;
    }
    for (uint32_t i = 0; i < THREADS; i++) {
        em[i].p = p;
        em[i].srv = &srv;
        em[i].id = i;
        em[i].rc = 0;
        rc = sl_os_thread_start(emitter_main, &em[i], &threads[i]);
        if (rc != 0) {
            fprintf(stderr, "producer_stress: thread: %s\n", sl_strerror(rc));
            exit(1);
        }
    }
    for (uint32_t i = 0; i < THREADS; i++) {
        sl_os_thread_join(threads[i]);
        if (em[i].rc != 0)
            fprintf(stderr, "producer_stress: thread %u: emit: %s\n", i,
                    sluice_strerror(em[i].rc));
    }
    sluice_producer_counts(p, &events, &bytes);
    rc = sluice_producer_close(p);
    if (rc != 0)
        fprintf(stderr, "producer_stress: close: %s\n", sluice_strerror(rc));

join_server:
    sl_os_thread_join(srv_thread);
    status = atomic_load(&srv.failed) || rc != 0 ? 1 : 0;
    for (uint32_t i = 0; i < THREADS && p != NULL; i++)
        if (em[i].rc != 0)
            status = 1;
    if (status == 0 &&
        (events != THREADS * srv.per_thread || srv.events != events ||
         srv.bytes != bytes)) {
        fprintf(stderr,
                "producer_stress: FAIL: counts: producer %llu events %llu "
                "bytes, server %llu events %llu bytes\n",
                (unsigned long long)events, (unsigned long long)bytes,
                (unsigned long long)srv.events,
                (unsigned long long)srv.bytes);
        status = 1;
    }
    if (status == 0)
        printf("producer_stress: %d threads x %llu events, %llu bytes: ok\n",
               THREADS, (unsigned long long)srv.per_thread,
               (unsigned long long)srv.bytes);
out:
    if (srv.lfd >= 0)
        close(srv.lfd);
    unlink(path);
    rmdir(dir);
    return status;
}
