/*
 * sl-ring-bench: how many records per second the MPSC ring (ring.h) moves
 * from 1..N producer threads to one consumer thread, with no I/O on either
 * side. Producers write capture-layout records (capfile.h: 40-byte header,
 * 64-byte payload by default) into reservations; the consumer walks each
 * peeked span record by record, skipping pads, and releases it. The
 * figure is therefore the ring's own ceiling, which the collector's
 * workers and writer can only approach.
 *
 * usage: sl-ring-bench [--count N] [--size BYTES] [--batch N]
 *                      [--ring-kb N] [--producers MAX]
 * prints one line per producer count:
 *   ring_bench: producers=K records=N seconds=S records_per_s=X mb_per_s=Y
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capfile.h"
#include "endian.h"
#include "err.h"
#include "os.h"
#include "ring.h"

#define MAX_PRODUCERS 64

typedef struct bench {
    sl_ring *r;
    uint64_t count;   /* records per producer */
    size_t rec_size;  /* bytes per record, header and padding included */
    unsigned batch;   /* records per reservation */
    atomic_int go;    /* released by main once every thread exists */
    atomic_int error; /* set by any thread that fails */
} bench;

typedef struct producer {
    bench *b;
    uint32_t id;
} producer;

typedef struct consumer {
    bench *b;
    uint64_t expect;
    uint64_t records;
    uint64_t bytes;
} consumer;

static void
wait_go(bench *b)
{
    /* Acquire pairs with main's release store: the ring exists. */
    while (!atomic_load_explicit(&b->go, memory_order_acquire))
        sl_os_yield();
}

static void
producer_main(void *arg)
{
    producer *p = arg;
    bench *b = p->b;
    size_t payload = b->rec_size - SL_CAP_REC_HDR;
    uint8_t tmpl[SL_CAP_REC_HDR];
    uint64_t seq = 0;

    memset(tmpl, 0, sizeof(tmpl));
    sl_store_le32(tmpl, (uint32_t)b->rec_size);
    sl_store_le32(tmpl + 4, (uint32_t)payload);
    sl_store_le16(tmpl + 8, 1);
    sl_store_le32(tmpl + 12, p->id);
    wait_go(b);

    while (seq < b->count) {
        unsigned n = b->batch;
        sl_ring_resv res;
        int rc;

        if (n > b->count - seq)
            n = (unsigned)(b->count - seq);
        rc = sl_ring_reserve_wait(b->r, n * b->rec_size, 10000000000ull,
                                  &res);
        if (rc != 0) {
            fprintf(stderr, "sl-ring-bench: reserve: %s\n", sl_strerror(rc));
            atomic_store_explicit(&b->error, 1, memory_order_relaxed);
            return;
        }
        for (unsigned i = 0; i < n; i++, seq++) {
            uint8_t *rec = res.ptr + i * b->rec_size;
            memcpy(rec, tmpl, sizeof(tmpl));
            sl_store_le64(rec + 16, seq);
            memset(rec + SL_CAP_REC_HDR, (int)(seq & 0xFF), payload);
        }
        sl_ring_commit(b->r, &res);
    }
}

static void
consumer_main(void *arg)
{
    consumer *c = arg;
    bench *b = c->b;

    wait_go(b);
    while (c->records < c->expect) {
        const uint8_t *p;
        size_t len = 0, at = 0;

        sl_ring_peek(b->r, &p, &len);
        if (len == 0) {
            if (atomic_load_explicit(&b->error, memory_order_relaxed))
                return;
            (void)sl_ring_wait_data(b->r, 100000000ull);
            continue;
        }
        while (at < len) {
            uint32_t size = sl_load_le32(p + at);
            if (size & SL_RING_PAD_FLAG) {
                size &= ~SL_RING_PAD_FLAG;
            } else {
                c->records++;
                c->bytes += size;
            }
            at += size;
        }
        sl_ring_release(b->r, len);
    }
}

static int
run(unsigned nprod, uint64_t count, size_t rec_size, unsigned batch,
    size_t ring_bytes)
{
    bench b;
    producer prods[MAX_PRODUCERS];
    sl_thread *pt[MAX_PRODUCERS];
    sl_thread *ct;
    consumer c;
    uint64_t t0, t1;
    double secs;
    int rc;

    memset(&b, 0, sizeof(b));
    rc = sl_ring_open(ring_bytes, &b.r);
    if (rc != 0) {
        fprintf(stderr, "sl-ring-bench: ring: %s\n", sl_strerror(rc));
        return 1;
    }
    b.count = count;
    b.rec_size = rec_size;
    b.batch = batch;
    atomic_init(&b.go, 0);
    atomic_init(&b.error, 0);
    memset(&c, 0, sizeof(c));
    c.b = &b;
    c.expect = count * nprod;

    if (sl_os_thread_start(consumer_main, &c, &ct) != 0) {
        fprintf(stderr, "sl-ring-bench: cannot start a thread\n");
        return 1;
    }
    for (unsigned i = 0; i < nprod; i++) {
        prods[i].b = &b;
        prods[i].id = i;
        if (sl_os_thread_start(producer_main, &prods[i], &pt[i]) != 0) {
            fprintf(stderr, "sl-ring-bench: cannot start a thread\n");
            return 1;
        }
    }
    t0 = sl_os_mono_ns();
    /* Release pairs with the threads' acquire in wait_go(). */
    atomic_store_explicit(&b.go, 1, memory_order_release);
    for (unsigned i = 0; i < nprod; i++)
        sl_os_thread_join(pt[i]);
    sl_os_thread_join(ct);
    t1 = sl_os_mono_ns();
    sl_ring_close(b.r);
    if (atomic_load_explicit(&b.error, memory_order_relaxed) ||
        c.records != c.expect) {
        fprintf(stderr, "sl-ring-bench: %llu of %llu records arrived\n",
                (unsigned long long)c.records, (unsigned long long)c.expect);
        return 1;
    }

    secs = (double)(t1 - t0) / 1e9;
    printf("ring_bench: producers=%u records=%llu seconds=%.3f "
           "records_per_s=%.0f mb_per_s=%.1f\n",
           nprod, (unsigned long long)c.records, secs,
           (double)c.records / secs, (double)c.bytes / secs / 1e6);
    fflush(stdout);
    return 0;
}

static int
parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s == NULL || *s == '\0')
        return -1;
    v = strtoull(s, &end, 10);
    if (*end != '\0')
        return -1;
    *out = v;
    return 0;
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: sl-ring-bench [--count N] [--size BYTES] "
               "[--batch N] [--ring-kb N] [--producers MAX]\n"
               "  --count      records per producer (default 2000000)\n"
               "  --size       payload bytes per record (default 64)\n"
               "  --batch      records per reservation (default 1)\n"
               "  --ring-kb    ring capacity in KiB, a power of two "
               "(default 4096)\n"
               "  --producers  runs 1..MAX producer threads (default 4)\n");
}

int
main(int argc, char **argv)
{
    uint64_t count = 2000000, size = 64, batch = 1, ring_kb = 4096, maxp = 4;
    size_t rec_size;

    for (int i = 1; i < argc; i++) {
        uint64_t *dst = NULL;

        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--count") == 0) {
            dst = &count;
        } else if (strcmp(argv[i], "--size") == 0) {
            dst = &size;
        } else if (strcmp(argv[i], "--batch") == 0) {
            dst = &batch;
        } else if (strcmp(argv[i], "--ring-kb") == 0) {
            dst = &ring_kb;
        } else if (strcmp(argv[i], "--producers") == 0) {
            dst = &maxp;
        }
        if (dst == NULL || i + 1 >= argc || parse_u64(argv[++i], dst) != 0) {
            fprintf(stderr, "sl-ring-bench: bad argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    rec_size = (SL_CAP_REC_HDR + (size_t)size + 7u) & ~(size_t)7u;
    if (count == 0 || size > (1u << 20) || batch == 0 || batch > 4096 ||
        maxp == 0 || maxp > MAX_PRODUCERS || ring_kb > (1u << 21) ||
        ring_kb * 1024u < SL_RING_MIN_CAPACITY ||
        batch * rec_size > ring_kb * 1024u / 2) {
        fprintf(stderr, "sl-ring-bench: argument out of range\n");
        usage(stderr);
        return 2;
    }
    printf("ring_bench: record_bytes=%zu batch=%llu ring_bytes=%llu "
           "cpus=%u\n",
           rec_size, (unsigned long long)batch,
           (unsigned long long)ring_kb * 1024u, sl_os_cpu_count());
    for (unsigned n = 1; n <= maxp; n++)
        if (run(n, count, rec_size, (unsigned)batch, (size_t)ring_kb * 1024u))
            return 1;
    return 0;
}
