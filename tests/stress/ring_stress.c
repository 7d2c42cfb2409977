/*
 * Concurrency stress for the MPSC ring (collector/core/ring.h), as a plain
 * program so that it runs under ThreadSanitizer, where Criterion cannot
 * (Snaipe/Criterion#274), as well as natively and under ASan/UBSan.
 *
 * Four writer threads each push N records through a small ring with
 * sl_ring_reserve_wait() and sl_ring_commit(); one consumer thread reads
 * them with sl_ring_wait_data(), sl_ring_peek() and sl_ring_release(), the
 * way the collector's writer thread does, and checks that each writer's
 * records arrive complete, in order, exactly once and with the bytes that
 * writer put in them (ck's regressions/ck_ring/validate idea). Records vary
 * in size, now and then up to a quarter of the ring, so reservations wrap,
 * pads appear and writers wait for space.
 *
 * Record layout: the capture record's first word (little-endian size, a
 * multiple of 8), then the writer's id (4 bytes), its sequence number
 * (8 bytes) and pattern bytes derived from both.
 *
 * N is 1,000,000 divided by the environment variable SL_TEST_SCALE (the
 * sanitizer builds of scripts/test.sh set it). Exit status: 0 pass, 1 fail.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endian.h"
#include "err.h"
#include "os.h"
#include "ring.h"

#define WRITERS 4
#define RING_BYTES (64u << 10)
#define REC_HDR 16u
#define BASE_COUNT 1000000.0
/* A writer that cannot reserve for this long means the consumer is stuck. */
#define STUCK_NS (60ull * 1000 * 1000 * 1000)

typedef struct shared {
    sl_ring *r;
    uint64_t count;            /* records per writer */
    _Atomic int writers_done;  /* release by writers, acquire by consumer */
    _Atomic int failed;        /* any thread found an error */
} shared;

typedef struct writer_arg {
    shared *sh;
    uint32_t id;
} writer_arg;

static void
fail_msg(shared *sh, const char *what, uint32_t id, uint64_t seq)
{
    fprintf(stderr, "ring_stress: FAIL: %s (writer %u, seq %llu)\n", what,
            (unsigned)id, (unsigned long long)seq);
    atomic_store(&sh->failed, 1);
}

/* Sizes cycle through small records with an occasional large one, so that
 * pads at the end of the buffer and waits for space both happen often. */
static size_t
rec_len(uint32_t id, uint64_t seq)
{
    uint64_t h = (seq * 2654435761u) ^ ((uint64_t)id << 7);

    if (h % 997 == 0)
        return RING_BYTES / 4;
    return REC_HDR + 8 * (size_t)(h % 40);
}

/* Payload bytes: a window of a fixed pseudo-random table that starts at
 * an offset derived from (writer, seq), so a record that is stale,
 * misplaced or torn shows different bytes. Copied with memcpy() so the time
 * between reserve and commit stays short (under TSan too). */
#define TABLE_BYTES (RING_BYTES / 4 + 256)
static uint8_t table[TABLE_BYTES];

static void
init_table(void)
{
    uint32_t x = 2463534242u;

    for (size_t i = 0; i < TABLE_BYTES; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        table[i] = (uint8_t)x;
    }
}

static const uint8_t *
pattern(uint32_t id, uint64_t seq)
{
    return table + ((id * 131u + seq * 7u) & 255u);
}

static void
writer_main(void *p)
{
    writer_arg *wa = p;
    shared *sh = wa->sh;

    for (uint64_t seq = 0; seq < sh->count; seq++) {
        size_t len = rec_len(wa->id, seq);
        uint64_t waited = 0;
        sl_ring_resv res;
        int rc;

        /* Bounded waits, as the collector's workers use them, so that a
         * consumer that died shows up as a failure and not as a hang. */
        while ((rc = sl_ring_reserve_wait(sh->r, len, 100000000u, &res)) ==
               SL_ETIMEDOUT) {
            waited += 100000000u;
            if (atomic_load(&sh->failed))
                return;
            if (waited >= STUCK_NS) {
                fail_msg(sh, "reserve_wait made no progress", wa->id, seq);
                return;
            }
        }
        if (rc != 0) {
            fail_msg(sh, sl_strerror(rc), wa->id, seq);
            return;
        }
        if (res.len != len) {
            fail_msg(sh, "reservation has the wrong length", wa->id, seq);
            return;
        }
        sl_store_le32(res.ptr, (uint32_t)len);
        sl_store_le32(res.ptr + 4, wa->id);
        sl_store_le64(res.ptr + 8, seq);
        memcpy(res.ptr + REC_HDR, pattern(wa->id, seq) + REC_HDR,
               len - REC_HDR);
        sl_ring_commit(sh->r, &res);
    }
    /* Release pairs with the consumer's acquire: once it sees all writers
     * done, every commit before this point is visible to its peek. */
    atomic_fetch_add_explicit(&sh->writers_done, 1, memory_order_release);
}

/* Checks one span of committed bytes; returns 0 or -1. */
static int
check_span(shared *sh, const uint8_t *p, size_t len, uint64_t next[WRITERS],
           uint64_t *pads)
{
    size_t off = 0;

    while (off < len) {
        uint32_t word, id;
        uint64_t seq;

        if (len - off < 8) {
            fail_msg(sh, "span ends inside a size word", 0, 0);
            return -1;
        }
        word = sl_load_le32(p + off);
        if (word & SL_RING_PAD_FLAG) {
            uint32_t pad = word & ~SL_RING_PAD_FLAG;

            if (pad == 0 || pad % 8 != 0 || pad > len - off) {
                fail_msg(sh, "bad pad", 0, 0);
                return -1;
            }
            /* A pad runs to the end of the buffer, so it ends the span. */
            if (off + pad != len) {
                fail_msg(sh, "pad does not end the span", 0, 0);
                return -1;
            }
            (*pads)++;
            off += pad;
            continue;
        }
        if (word < REC_HDR || word % 8 != 0 || word > len - off) {
            fail_msg(sh, "bad record size", 0, 0);
            return -1;
        }
        id = sl_load_le32(p + off + 4);
        seq = sl_load_le64(p + off + 8);
        if (id >= WRITERS) {
            fail_msg(sh, "bad writer id", id, seq);
            return -1;
        }
        if (seq != next[id]) {
            fail_msg(sh, seq < next[id] ? "duplicate or reordered record"
                                        : "lost record",
                     id, next[id]);
            return -1;
        }
        if (word != rec_len(id, seq)) {
            fail_msg(sh, "record size differs from what was written", id, seq);
            return -1;
        }
        if (memcmp(p + off + REC_HDR, pattern(id, seq) + REC_HDR,
                   word - REC_HDR) != 0) {
            fail_msg(sh, "payload bytes differ", id, seq);
            return -1;
        }
        next[id]++;
        off += word;
    }
    return 0;
}

static void
consumer_main(void *p)
{
    shared *sh = p;
    uint64_t next[WRITERS] = {0};
    uint64_t pads = 0, idle_ns = 0;

    for (;;) {
        const uint8_t *span;
        size_t len;

        sl_ring_peek(sh->r, &span, &len);
        if (len > 0) {
            idle_ns = 0;
            if (check_span(sh, span, len, next, &pads) != 0)
                break;
            sl_ring_release(sh->r, len);
            continue;
        }
        if (atomic_load_explicit(&sh->writers_done, memory_order_acquire) ==
            WRITERS) {
            sl_ring_peek(sh->r, &span, &len);
            if (len == 0)
                break;
            continue;
        }
        if (atomic_load(&sh->failed))
            break;
        if (!sl_ring_wait_data(sh->r, 100000000u)) {
            idle_ns += 100000000u;
            if (idle_ns >= STUCK_NS) {
                fail_msg(sh, "no data and writers not done", 0, 0);
                break;
            }
        }
    }
    for (uint32_t id = 0; id < WRITERS; id++)
        if (!atomic_load(&sh->failed) && next[id] != sh->count)
            fail_msg(sh, "writer's records missing at the end", id, next[id]);
    if (!atomic_load(&sh->failed))
        printf("ring_stress: %d writers x %llu records, %llu pads: ok\n",
               WRITERS, (unsigned long long)sh->count,
               (unsigned long long)pads);
}

static uint64_t
scaled_count(void)
{
    const char *s = getenv("SL_TEST_SCALE");
    double scale = s != NULL ? atof(s) : 1.0;
    double n;

    if (!(scale > 0))
        scale = 1.0;
    n = BASE_COUNT / scale;
    return n < 1000 ? 1000 : (uint64_t)n;
}

int
main(void)
{
    shared sh;
    writer_arg wa[WRITERS];
    sl_thread *threads[WRITERS + 1];
    int rc;

    memset(&sh, 0, sizeof(sh));
    sh.count = scaled_count();
    init_table();
    rc = sl_ring_open(RING_BYTES, &sh.r);
    if (rc != 0) {
        fprintf(stderr, "ring_stress: sl_ring_open: %s\n", sl_strerror(rc));
        return 1;
    }
    rc = sl_os_thread_start(consumer_main, &sh, &threads[WRITERS]);
    if (rc != 0) {
        fprintf(stderr, "ring_stress: thread: %s\n", sl_strerror(rc));
        return 1;
    }
    for (uint32_t i = 0; i < WRITERS; i++) {
        wa[i].sh = &sh;
        wa[i].id = i;
        rc = sl_os_thread_start(writer_main, &wa[i], &threads[i]);
        if (rc != 0) {
            fprintf(stderr, "ring_stress: thread: %s\n", sl_strerror(rc));
            return 1;
        }
    }
    for (int i = 0; i <= WRITERS; i++)
        sl_os_thread_join(threads[i]);
    sl_ring_close(sh.r);
    return atomic_load(&sh.failed) ? 1 : 0;
}
