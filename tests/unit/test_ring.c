/*
 * Tests for the MPSC byte ring (collector/core/ring.h): argument checks,
 * the pad convention at the end of the buffer, FIFO order of variable-length
 * records across many wraps, backpressure and wake-ups, and a stress test
 * in which four writer threads push (thread id, sequence) records through a
 * small ring while a consumer thread checks order, loss, duplicates and
 * payload bytes (the ck_ring validate idea). Meant to run under TSan and
 * ASan/UBSan as well; SL_TEST_SCALE (a divisor >= 1, default 1, the same
 * convention as every other test) shrinks the stress test for slow
 * sanitizer builds.
 *
 * Test records use the capture record's first word, a little-endian 4-byte
 * size (a multiple of 8), then a 4-byte thread id, an 8-byte sequence and
 * pattern bytes derived from both, so a torn, stale or misplaced record
 * shows up as a bad size, a bad sequence or a bad pattern.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endian.h"
#include "err.h"
#include "os.h"
#include "ring.h"

TestSuite(ring, .timeout = 120.0);

/*
 * Criterion under ThreadSanitizer. Criterion's sandbox (BoxFort) places
 * its shared arena with MAP_FIXED at 0x200000000000 + (rand_r() & 0x3fffff)
 * * 16 MiB, which almost always lands in TSan's shadow memory, so every
 * TSan-built Criterion binary aborts with "Could not initialize
 * inheritable arena" (Snaipe/Criterion#274). Overriding rand_r() in the
 * executable steers it into TSan's application range [0x550000000000,
 * 0x568000000000), above where PIE binaries load; successive calls step
 * through 16 MiB slots so BoxFort's "is it free?" probe can move on. Only
 * BoxFort calls rand_r() in this program.
 */
#if defined(__SANITIZE_THREAD__)
#define SL_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SL_TEST_TSAN 1
#endif
#endif
#ifdef SL_TEST_TSAN
/* Both overrides must be visible to the dynamic linker, despite the
 * project's -fvisibility=hidden. */
#define SL_TEST_EXPORT __attribute__((visibility("default")))
SL_TEST_EXPORT int
rand_r(unsigned *seed)
{
    /* Pairs with nothing: a counter, atomic only so TSan stays quiet. */
    static atomic_uint next;
    unsigned k = atomic_fetch_add_explicit(&next, 1, memory_order_relaxed);

    (void)seed;
    return (int)(0x366000u + k % 0x1000u); /* 0x566000000000 and up */
}

/* A race report must fail the test, not just print: Criterion counts a
 * test that returns normally as passed whatever the exit code. */
SL_TEST_EXPORT const char *__tsan_default_options(void);
SL_TEST_EXPORT const char *
__tsan_default_options(void)
{
    return "halt_on_error=1";
}
#endif

#define REC_HDR 16u /* size word, thread id, sequence */
#define MS 1000000ull
#define POISON 0xEE

/* ---- test records ------------------------------------------------------ */

/* Payload word at byte offset i: differs per thread, record and offset.
 * Words, not bytes, so that sanitizer builds check 8 bytes per access. */
static uint64_t
pattern_word(uint32_t tid, uint64_t seq, size_t i)
{
    return (seq + 1) * 0xD6E8FEB86659FD93ull ^ (uint64_t)tid << 56 ^
           (uint64_t)i * 0x9E3779B97F4A7C15ull;
}

/* Record size for (tid, seq): 16..(16 + 8 * 63) bytes, varying. */
static size_t
rec_size(uint32_t tid, uint64_t seq)
{
    uint64_t x = (seq + 1) * 0x9E3779B97F4A7C15ull ^ ((uint64_t)tid << 32);

    return REC_HDR + 8u * (size_t)((x >> 29) % 64);
}

static void
rec_write(uint8_t *p, size_t size, uint32_t tid, uint64_t seq)
{
    sl_store_le32(p, (uint32_t)size);
    sl_store_le32(p + 4, tid);
    sl_store_le64(p + 8, seq);
    for (size_t i = REC_HDR; i < size; i += 8) {
        uint64_t v = pattern_word(tid, seq, i);
        memcpy(p + i, &v, 8);
    }
}

/* 0 if the record at p (size bytes) carries a correct pattern. */
static int
rec_pattern_ok(const uint8_t *p, size_t size)
{
    uint32_t tid = sl_load_le32(p + 4);
    uint64_t seq = sl_load_le64(p + 8);

    for (size_t i = REC_HDR; i < size; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        if (v != pattern_word(tid, seq, i))
            return -1;
    }
    return 0;
}

/*
 * Consumer-side state shared by the single-thread and multi-thread tests:
 * walks every peeked span record by record, checks pads and per-thread
 * order, poisons what it consumed and releases it.
 */
typedef struct checker {
    sl_ring *r;
    size_t cap;
    uint64_t pos;            /* our free-running read position */
    uint64_t *next_seq;      /* per thread id */
    uint32_t nthreads;
    uint64_t records;
    uint64_t pads;
    char err[256];           /* first failure, "" if none */
} checker;

static void
fail(checker *c, const char *fmt, ...)
{
    va_list ap;

    if (c->err[0] != '\0')
        return;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
}

/*
 * Consumes everything peek returns now (possibly up to two spans, before
 * and after the end of the buffer). @return bytes consumed, or 0 with
 * c->err set on a failure.
 */
static size_t
drain_once(checker *c)
{
    size_t total = 0;

    for (int span = 0; span < 2; span++) {
        const uint8_t *p = NULL;
        size_t len = 0, at = 0;

        sl_ring_peek(c->r, &p, &len);
        if (len == 0)
            break;
        if ((c->pos & (c->cap - 1)) + len > c->cap) {
            fail(c, "span of %zu at offset %llu passes the buffer end", len,
                 (unsigned long long)(c->pos & (c->cap - 1)));
            return 0;
        }
        while (at < len) {
            uint32_t word;
            size_t size;

            if (len - at < 8) {
                fail(c, "span ends %zu bytes into a record", len - at);
                return 0;
            }
            word = sl_load_le32(p + at);
            if (word & SL_RING_PAD_FLAG) {
                size = word & ~SL_RING_PAD_FLAG;
                /* A pad fills exactly the rest of the buffer. */
                if (((c->pos + at) & (c->cap - 1)) + size != c->cap ||
                    at + size != len) {
                    fail(c, "pad of %zu at offset %llu does not end the "
                            "buffer", size,
                         (unsigned long long)((c->pos + at) & (c->cap - 1)));
                    return 0;
                }
                c->pads++;
            } else {
                uint32_t tid;
                uint64_t seq;

                size = word;
                if (size < REC_HDR || size % 8 != 0 || size > len - at) {
                    fail(c, "bad record size %zu (%zu bytes left in span) "
                            "after %llu records", size, len - at,
                         (unsigned long long)c->records);
                    return 0;
                }
                tid = sl_load_le32(p + at + 4);
                seq = sl_load_le64(p + at + 8);
                if (tid >= c->nthreads) {
                    fail(c, "bad thread id %u", tid);
                    return 0;
                }
                if (seq != c->next_seq[tid]) {
                    fail(c, "thread %u: got seq %llu, expected %llu", tid,
                         (unsigned long long)seq,
                         (unsigned long long)c->next_seq[tid]);
                    return 0;
                }
                if (size != rec_size(tid, seq) ||
                    rec_pattern_ok(p + at, size) != 0) {
                    fail(c, "thread %u seq %llu: corrupt record", tid,
                         (unsigned long long)seq);
                    return 0;
                }
                c->next_seq[tid]++;
                c->records++;
            }
            at += size;
        }
        /* Poison what we read before giving it back, so a record that is
         * read before its writer filled it can never look valid. The bytes
         * are ours until the release below. */
        memset((uint8_t *)(uintptr_t)p, POISON, len);
        sl_ring_release(c->r, len);
        c->pos += len;
        total += len;
    }
    return total;
}

static void
checker_init(checker *c, sl_ring *r, uint32_t nthreads)
{
    memset(c, 0, sizeof(*c));
    c->r = r;
    c->cap = sl_ring_capacity(r);
    c->nthreads = nthreads;
    c->next_seq = calloc(nthreads, sizeof(*c->next_seq));
    cr_assert_not_null(c->next_seq);
}

static double
test_scale(void)
{
    const char *s = getenv("SL_TEST_SCALE");
    double d = s ? atof(s) : 1.0;

    return d >= 1.0 ? 1.0 / d : 1.0;
}

/* Fills r with len-byte reservations until it is full. @return how many. */
static int
fill(sl_ring *r, size_t len)
{
    sl_ring_resv res;
    int n = 0;

    while (sl_ring_reserve(r, len, &res) == 0) {
        memset(res.ptr, 0, len);
        sl_store_le32(res.ptr, (uint32_t)len);
        sl_ring_commit(r, &res);
        n++;
    }
    return n;
}

/* ---- argument checks ---------------------------------------------------- */

Test(ring, open_rejects_bad_capacity)
{
    static const size_t bad[] = {0, 1, 8, 1024, 2048, 4095, 4097, 6144, 12288};
    sl_ring *r = (sl_ring *)(uintptr_t)1;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(sl_ring_open(bad[i], &r), SL_EINVAL, "capacity %zu",
                     bad[i]);
        cr_assert_eq(r, (sl_ring *)(uintptr_t)1, "out touched on failure");
    }
#if SIZE_MAX > 0xFFFFFFFFu
    cr_assert_eq(sl_ring_open((size_t)SL_RING_MAX_CAPACITY * 2, &r),
                 SL_EINVAL);
#endif

    r = NULL;
    cr_assert_eq(sl_ring_open(SL_RING_MIN_CAPACITY, &r), 0);
    cr_assert_not_null(r);
    cr_assert_eq(sl_ring_capacity(r), SL_RING_MIN_CAPACITY);
    cr_assert_eq(sl_ring_max_reserve(r), SL_RING_MIN_CAPACITY / 2);
    cr_assert_eq(sl_ring_used(r), 0);
    sl_ring_close(r);

    cr_assert_eq(sl_ring_open(1u << 20, &r), 0);
    cr_assert_eq(sl_ring_capacity(r), 1u << 20);
    sl_ring_close(r);
    sl_ring_close(NULL);
}

Test(ring, reserve_rejects_bad_len)
{
    sl_ring *r;
    sl_ring_resv res;

    cr_assert_eq(sl_ring_open(8192, &r), 0);
    cr_assert_eq(sl_ring_reserve(r, 0, &res), SL_EINVAL);
    cr_assert_eq(sl_ring_reserve(r, 4, &res), SL_EINVAL);
    cr_assert_eq(sl_ring_reserve(r, 12, &res), SL_EINVAL);
    cr_assert_eq(sl_ring_reserve(r, 4096 + 8, &res), SL_EINVAL);
    cr_assert_eq(sl_ring_reserve(r, SIZE_MAX, &res), SL_EINVAL);
    cr_assert_eq(sl_ring_reserve(r, SIZE_MAX - 7, &res), SL_EINVAL);
    cr_assert_eq(sl_ring_reserve_wait(r, 0, MS, &res), SL_EINVAL);
    cr_assert_eq(sl_ring_reserve_wait(r, 4104, MS, &res), SL_EINVAL);
    /* Nothing was taken by the failed calls. */
    cr_assert_eq(sl_ring_reserve(r, 4096, &res), 0);
    cr_assert_eq(res.len, 4096);
    cr_assert_eq(res.start, 0);
    cr_assert_eq(res.end, 4096);
    sl_ring_commit(r, &res);
    cr_assert_eq(sl_ring_used(r), 4096);
    sl_ring_close(r);
}

/* ---- single thread ------------------------------------------------------ */

Test(ring, reserve_fails_with_eagain_when_full)
{
    sl_ring *r;
    sl_ring_resv res;

    cr_assert_eq(sl_ring_open(4096, &r), 0);
    cr_assert_eq(fill(r, 512), 8);
    cr_assert_eq(sl_ring_reserve(r, 512, &res), SL_EAGAIN);
    cr_assert_eq(sl_ring_reserve(r, 8, &res), SL_EAGAIN);
    cr_assert_eq(sl_ring_used(r), 4096);
    sl_ring_close(r);
}

Test(ring, eagain_also_while_reservations_are_uncommitted)
{
    sl_ring *r;
    sl_ring_resv a, b, c;
    const uint8_t *p;
    size_t len = 0;

    cr_assert_eq(sl_ring_open(4096, &r), 0);
    cr_assert_eq(sl_ring_reserve(r, 2048, &a), 0);
    cr_assert_eq(sl_ring_reserve(r, 2048, &b), 0);
    cr_assert_eq(sl_ring_reserve(r, 8, &c), SL_EAGAIN);
    /* Reserved but uncommitted bytes are invisible to the consumer. */
    sl_ring_peek(r, &p, &len);
    cr_assert_eq(len, 0);
    cr_assert_eq(sl_ring_used(r), 0);
    sl_ring_close(r);
}

Test(ring, release_makes_room)
{
    sl_ring *r;
    sl_ring_resv res;
    const uint8_t *p = NULL;
    size_t len = 0;

    cr_assert_eq(sl_ring_open(4096, &r), 0);
    cr_assert_eq(fill(r, 1024), 4);
    cr_assert_eq(sl_ring_reserve(r, 1024, &res), SL_EAGAIN);

    sl_ring_peek(r, &p, &len);
    cr_assert_eq(len, 4096);
    cr_assert_eq(sl_load_le32(p), 1024);
    sl_ring_release(r, 1024);
    cr_assert_eq(sl_ring_used(r), 3072);

    /* Exactly the released record's room, and no more. */
    cr_assert_eq(sl_ring_reserve(r, 1024, &res), 0);
    cr_assert_eq(res.ptr, p, "the freed bytes are reused");
    cr_assert_eq(res.start, 4096);
    sl_ring_commit(r, &res);
    cr_assert_eq(sl_ring_reserve(r, 8, &res), SL_EAGAIN);

    sl_ring_release(r, 3072);
    cr_assert_eq(sl_ring_used(r), 1024);
    cr_assert_eq(sl_ring_reserve(r, 2048, &res), 0);
    sl_ring_commit(r, &res);
    sl_ring_close(r);
}

Test(ring, commit_publishes_in_reservation_order)
{
    sl_ring *r;
    sl_ring_resv a, b;
    const uint8_t *p = NULL;
    size_t len = 0;

    cr_assert_eq(sl_ring_open(4096, &r), 0);
    cr_assert_eq(sl_ring_reserve(r, 64, &a), 0);
    cr_assert_eq(sl_ring_reserve(r, 128, &b), 0);
    cr_assert_eq(b.start, a.end);
    cr_assert_eq(b.ptr, a.ptr + 64);
    sl_ring_commit(r, &a);
    sl_ring_peek(r, &p, &len);
    cr_assert_eq(len, 64);
    cr_assert_eq(p, a.ptr);
    sl_ring_commit(r, &b);
    sl_ring_peek(r, &p, &len);
    cr_assert_eq(len, 192);
    sl_ring_close(r);
}

Test(ring, pads_appear_exactly_at_buffer_end)
{
    sl_ring *r;
    sl_ring_resv res;
    const uint8_t *p = NULL, *base;
    size_t len = 0;

    cr_assert_eq(sl_ring_open(4096, &r), 0);
    cr_assert_eq(sl_ring_reserve(r, 1600, &res), 0);
    base = res.ptr;
    sl_ring_commit(r, &res);
    cr_assert_eq(sl_ring_reserve(r, 1400, &res), 0);
    sl_ring_commit(r, &res);
    sl_ring_peek(r, &p, &len);
    sl_ring_release(r, len);

    /* At offset 3000, 2000 bytes do not fit before the end: the 1096 bytes
     * up to the end become a pad inside this reservation. */
    cr_assert_eq(sl_ring_reserve(r, 2000, &res), 0);
    cr_assert_eq(res.ptr, base, "the record starts at the buffer start");
    cr_assert_eq(res.len, 2000);
    cr_assert_eq(res.start, 3000);
    cr_assert_eq(res.end, 3000 + 1096 + 2000);
    memset(res.ptr, 0x5A, res.len);
    sl_ring_commit(r, &res);
    cr_assert_eq(sl_ring_used(r), 1096 + 2000);

    sl_ring_peek(r, &p, &len);
    cr_assert_eq(p, base + 3000);
    cr_assert_eq(len, 1096, "the span stops at the buffer end");
    cr_assert_eq(sl_load_le32(p), 1096u | SL_RING_PAD_FLAG);
    sl_ring_release(r, len);
    sl_ring_peek(r, &p, &len);
    cr_assert_eq(p, base);
    cr_assert_eq(len, 2000);
    cr_assert_eq(p[0], 0x5A);
    sl_ring_release(r, len);

    /* A record that ends exactly at the buffer end needs no pad: from
     * offset 2000, 2000 + 96 bytes fill the buffer exactly. */
    cr_assert_eq(sl_ring_reserve(r, 2000, &res), 0);
    sl_ring_commit(r, &res);
    sl_ring_peek(r, &p, &len);
    sl_ring_release(r, len);
    cr_assert_eq(sl_ring_reserve(r, 96, &res), 0);
    cr_assert_eq(res.end - res.start, 96, "no pad for an exact fit");
    cr_assert_eq(res.ptr, base + 4000);
    sl_ring_commit(r, &res);
    cr_assert_eq(sl_ring_reserve(r, 8, &res), 0);
    cr_assert_eq(res.ptr, base, "next record starts at offset 0");
    cr_assert_eq(res.end - res.start, 8);
    sl_ring_commit(r, &res);
    sl_ring_close(r);
}

Test(ring, single_thread_fifo_across_many_wraps)
{
    sl_ring *r;
    checker c;
    sl_ring_resv res;
    uint64_t seq = 0, target = 200000, rng = 42;

    cr_assert_eq(sl_ring_open(8192, &r), 0);
    checker_init(&c, r, 1);
    while (c.records < target) {
        /* Produce a random number of records, some several per
         * reservation, until the ring refuses. */
        int burst = (int)((rng = rng * 6364136223846793005ull + 1) >> 60);
        for (int b = 0; b <= burst && seq < target; b++) {
            size_t n1 = rec_size(0, seq), n2 = 0;
            rng = rng * 6364136223846793005ull + 1;
            if ((rng >> 33) % 3 == 0 && seq + 1 < target)
                n2 = rec_size(0, seq + 1);
            if (sl_ring_reserve(r, n1 + n2, &res) != 0)
                break;
            cr_assert_eq(res.len, n1 + n2);
            rec_write(res.ptr, n1, 0, seq);
            if (n2 != 0)
                rec_write(res.ptr + n1, n2, 0, seq + 1);
            sl_ring_commit(r, &res);
            seq += n2 != 0 ? 2 : 1;
        }
        if (drain_once(&c) == 0)
            cr_assert_eq(c.err[0], '\0', "%s", c.err);
    }
    cr_assert_eq(c.err[0], '\0', "%s", c.err);
    cr_assert_eq(c.records, target);
    cr_assert_eq(c.next_seq[0], target);
    cr_assert_gt(c.pos / 8192, 1000, "wrapped many times");
    cr_assert_gt(c.pads, 100, "pads were exercised");
    cr_assert_eq(sl_ring_used(r), 0);
    free(c.next_seq);
    sl_ring_close(r);
}

/* ---- waiting and waking ------------------------------------------------- */

Test(ring, reserve_wait_times_out_when_nobody_consumes)
{
    sl_ring *r;
    sl_ring_resv res;
    uint64_t t0;

    cr_assert_eq(sl_ring_open(4096, &r), 0);
    cr_assert_eq(sl_ring_reserve_wait(r, 2048, 10 * MS, &res), 0);
    sl_ring_commit(r, &res);
    cr_assert_eq(sl_ring_reserve_wait(r, 2048, 10 * MS, &res), 0);
    sl_ring_commit(r, &res);

    cr_assert_eq(sl_ring_reserve_wait(r, 8, 0, &res), SL_ETIMEDOUT);
    t0 = sl_os_mono_ns();
    cr_assert_eq(sl_ring_reserve_wait(r, 8, 120 * MS, &res), SL_ETIMEDOUT);
    /* A lower bound only: it really waited (across several slices). */
    cr_assert_geq(sl_os_mono_ns() - t0, 110 * MS);
    sl_ring_close(r);
}

typedef struct waiter {
    sl_ring *r;
    uint64_t timeout_ns;
    size_t len;
    atomic_int started; /* published by the thread before it waits */
    atomic_int done;    /* published by the thread when the call returned */
    int rc;             /* read after done (acquire) */
    uint64_t elapsed_ns;
} waiter;

static void
reserve_waiter(void *arg)
{
    waiter *w = arg;
    sl_ring_resv res;
    uint64_t t0 = sl_os_mono_ns();

    atomic_store_explicit(&w->started, 1, memory_order_release);
    w->rc = sl_ring_reserve_wait(w->r, w->len, w->timeout_ns, &res);
    w->elapsed_ns = sl_os_mono_ns() - t0;
    if (w->rc == 0)
        sl_ring_commit(w->r, &res);
    /* Pairs with the acquire load in the test body: rc is written. */
    atomic_store_explicit(&w->done, 1, memory_order_release);
}

static void
data_waiter(void *arg)
{
    waiter *w = arg;
    uint64_t t0 = sl_os_mono_ns();

    atomic_store_explicit(&w->started, 1, memory_order_release);
    w->rc = sl_ring_wait_data(w->r, w->timeout_ns);
    w->elapsed_ns = sl_os_mono_ns() - t0;
    atomic_store_explicit(&w->done, 1, memory_order_release);
}

static void
wait_started(waiter *w)
{
    while (!atomic_load_explicit(&w->started, memory_order_acquire))
        sl_os_yield();
    /* Give it time to get into the sleep; correctness does not depend on
     * it (the tests below work either way), coverage of the sleep does. */
    sl_os_sleep_ns(30 * MS);
}

Test(ring, release_wakes_a_producer_waiting_for_space)
{
    sl_ring *r;
    sl_thread *t;
    waiter w = {0};
    const uint8_t *p;
    size_t len;

    cr_assert_eq(sl_ring_open(4096, &r), 0);
    fill(r, 1024);
    w.r = r;
    w.len = 1024;
    w.timeout_ns = 60000 * MS;
    cr_assert_eq(sl_os_thread_start(reserve_waiter, &w, &t), 0);
    wait_started(&w);
    cr_assert_eq(atomic_load_explicit(&w.done, memory_order_acquire), 0,
                 "the producer waits while the ring is full");

    sl_ring_peek(r, &p, &len);
    sl_ring_release(r, 1024);
    sl_os_thread_join(t);
    cr_assert_eq(w.rc, 0);
    cr_assert_lt(w.elapsed_ns, 30000 * MS, "woken, not timed out");
    cr_assert_eq(sl_ring_used(r), 4096);
    sl_ring_close(r);
}

Test(ring, wait_data_returns_0_on_timeout_and_1_after_commit)
{
    sl_ring *r;
    sl_ring_resv res;
    uint64_t t0;

    cr_assert_eq(sl_ring_open(4096, &r), 0);
    cr_assert_eq(sl_ring_wait_data(r, 0), 0);
    t0 = sl_os_mono_ns();
    cr_assert_eq(sl_ring_wait_data(r, 80 * MS), 0);
    cr_assert_geq(sl_os_mono_ns() - t0, 70 * MS);

    /* Reserved but not committed is not data. */
    cr_assert_eq(sl_ring_reserve(r, 64, &res), 0);
    cr_assert_eq(sl_ring_wait_data(r, 10 * MS), 0);
    sl_ring_commit(r, &res);
    cr_assert_eq(sl_ring_wait_data(r, 0), 1);
    cr_assert_eq(sl_ring_wait_data(r, 60000 * MS), 1);
    sl_ring_close(r);
}

Test(ring, commit_wakes_a_sleeping_consumer)
{
    sl_ring *r;
    sl_thread *t;
    sl_ring_resv res;
    waiter w = {0};

    cr_assert_eq(sl_ring_open(4096, &r), 0);
    w.r = r;
    w.timeout_ns = 60000 * MS;
    cr_assert_eq(sl_os_thread_start(data_waiter, &w, &t), 0);
    wait_started(&w);
    cr_assert_eq(atomic_load_explicit(&w.done, memory_order_acquire), 0);
    cr_assert_eq(sl_ring_reserve(r, 64, &res), 0);
    sl_ring_commit(r, &res);
    sl_os_thread_join(t);
    cr_assert_eq(w.rc, 1);
    cr_assert_lt(w.elapsed_ns, 30000 * MS, "woken, not timed out");
    sl_ring_close(r);
}

Test(ring, wake_unblocks_the_consumer)
{
    sl_ring *r;
    sl_thread *t;
    waiter w = {0};

    cr_assert_eq(sl_ring_open(4096, &r), 0);
    w.r = r;
    w.timeout_ns = 60000 * MS;
    cr_assert_eq(sl_os_thread_start(data_waiter, &w, &t), 0);
    wait_started(&w);
    sl_ring_wake(r);
    sl_os_thread_join(t);
    cr_assert_eq(w.rc, 0, "woken without data");
    cr_assert_lt(w.elapsed_ns, 30000 * MS, "woken, not timed out");
    sl_ring_close(r);
}

Test(ring, wake_is_remembered_by_the_next_wait_data)
{
    sl_ring *r;
    uint64_t t0;

    cr_assert_eq(sl_ring_open(4096, &r), 0);
    sl_ring_wake(r);
    t0 = sl_os_mono_ns();
    cr_assert_eq(sl_ring_wait_data(r, 60000 * MS), 0);
    cr_assert_lt(sl_os_mono_ns() - t0, 30000 * MS);
    /* Consumed: the following wait sleeps its full time again. */
    t0 = sl_os_mono_ns();
    cr_assert_eq(sl_ring_wait_data(r, 60 * MS), 0);
    cr_assert_geq(sl_os_mono_ns() - t0, 50 * MS);
    sl_ring_close(r);
}

Test(ring, wake_unblocks_producers_waiting_for_space)
{
    sl_ring *r;
    sl_thread *t[3];
    waiter w[3];

    cr_assert_eq(sl_ring_open(4096, &r), 0);
    fill(r, 2048);
    for (int i = 0; i < 3; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].r = r;
        w[i].len = 512;
        w[i].timeout_ns = 60000 * MS;
        cr_assert_eq(sl_os_thread_start(reserve_waiter, &w[i], &t[i]), 0);
    }
    for (int i = 0; i < 3; i++)
        wait_started(&w[i]);
    /* A wake ends only waits in progress, so repeat it until every
     * producer has returned (one wake suffices once all are asleep). */
    for (int i = 0; i < 3; i++)
        while (!atomic_load_explicit(&w[i].done, memory_order_acquire)) {
            sl_ring_wake(r);
            sl_os_sleep_ns(5 * MS);
        }
    for (int i = 0; i < 3; i++) {
        sl_os_thread_join(t[i]);
        cr_assert_eq(w[i].rc, SL_ETIMEDOUT, "producer %d", i);
        cr_assert_lt(w[i].elapsed_ns, 30000 * MS, "woken, not timed out");
    }
    cr_assert_eq(sl_ring_used(r), 4096, "nothing reserved by the woken");
    sl_ring_close(r);
}

/* ---- many writers, one consumer ---------------------------------------- */

#define STRESS_WRITERS 4u
#define STRESS_RING (64u * 1024u)

typedef struct writer_arg {
    sl_ring *r;
    uint32_t tid;
    uint64_t count;
    atomic_int *failed;  /* any thread sets it; the test body reads it */
    atomic_uint *done;   /* writers that have returned */
    int rc;
} writer_arg;

static void
writer_main(void *arg)
{
    writer_arg *w = arg;
    uint64_t seq = 0, rng = w->tid + 1;

    while (seq < w->count) {
        sl_ring_resv res;
        size_t len = 0;
        unsigned n;
        int rc;

        /* One to four records per reservation, as a worker copies several
         * parsed frames at once; a quarter of the commits carry just one. */
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        n = 1 + (unsigned)(rng >> 62);
        if (n > w->count - seq)
            n = (unsigned)(w->count - seq);
        for (unsigned i = 0; i < n; i++)
            len += rec_size(w->tid, seq + i);
        rc = sl_ring_reserve_wait(w->r, len, 20000 * MS, &res);
        if (rc != 0) {
            w->rc = rc;
            atomic_store_explicit(w->failed, 1, memory_order_relaxed);
            break;
        }
        len = 0;
        for (unsigned i = 0; i < n; i++) {
            size_t size = rec_size(w->tid, seq + i);
            rec_write(res.ptr + len, size, w->tid, seq + i);
            len += size;
        }
        /* Now and then get descheduled between reserve and commit, so
         * that later reservations are ready first: the case that ordered
         * commit exists for. A broken commit shows the consumer a hole of
         * poisoned bytes during such a pause. */
        if ((rng >> 40) % 2048 == 0)
            sl_os_sleep_ns(200000);
        else if ((rng >> 40) % 256 == 0)
            sl_os_yield();
        sl_ring_commit(w->r, &res);
        seq += n;
        if (atomic_load_explicit(w->failed, memory_order_relaxed))
            break;
    }
    /* Release: the consumer may stop draining once every writer is out. */
    atomic_fetch_add_explicit(w->done, 1, memory_order_release);
}

typedef struct consumer_arg {
    checker c;
    uint64_t expect; /* total records */
    atomic_int *failed;
    atomic_uint *writers_done;
    uint64_t sleeps; /* wait_data calls that found nothing at first */
} consumer_arg;

static void
consumer_main(void *arg)
{
    consumer_arg *ca = arg;
    uint64_t last = sl_os_mono_ns();

    while (ca->c.records < ca->expect) {
        if (drain_once(&ca->c) != 0) {
            last = sl_os_mono_ns();
            continue;
        }
        if (ca->c.err[0] != '\0' ||
            atomic_load_explicit(ca->failed, memory_order_relaxed))
            break;
        /* 0 means a timeout or a wake (the test body wakes us when a
         * writer gave up); only a long stall is a failure. */
        if (sl_ring_wait_data(ca->c.r, 1000 * MS) == 0 &&
            sl_os_mono_ns() - last > 20000 * MS) {
            fail(&ca->c, "no data for 20 s after %llu records",
                 (unsigned long long)ca->c.records);
            break;
        }
        ca->sleeps++;
    }
    if (ca->c.err[0] == '\0' &&
        !atomic_load_explicit(ca->failed, memory_order_relaxed))
        return;
    /* On a failure keep the ring moving, unchecked, so that no writer is
     * left waiting for space, until every writer has seen the flag. */
    atomic_store_explicit(ca->failed, 1, memory_order_relaxed);
    while (atomic_load_explicit(ca->writers_done, memory_order_acquire) <
           STRESS_WRITERS) {
        const uint8_t *p;
        size_t len = 0;

        sl_ring_peek(ca->c.r, &p, &len);
        if (len != 0)
            sl_ring_release(ca->c.r, len);
        else
            (void)sl_ring_wait_data(ca->c.r, 10 * MS);
    }
}

Test(ring, four_writers_one_consumer_keep_order_without_loss)
{
    sl_ring *r;
    sl_thread *ct, *wt[STRESS_WRITERS];
    writer_arg w[STRESS_WRITERS];
    consumer_arg ca;
    atomic_int failed;
    atomic_uint writers_done;
    uint64_t per = (uint64_t)(1000000.0 * test_scale());
    const uint8_t *p;
    size_t len;

    if (per < 1000)
        per = 1000;
    atomic_init(&failed, 0);
    atomic_init(&writers_done, 0);
    cr_assert_eq(sl_ring_open(STRESS_RING, &r), 0);
    memset(&ca, 0, sizeof(ca));
    checker_init(&ca.c, r, STRESS_WRITERS);
    ca.expect = per * STRESS_WRITERS;
    ca.failed = &failed;
    ca.writers_done = &writers_done;

    cr_assert_eq(sl_os_thread_start(consumer_main, &ca, &ct), 0);
    for (uint32_t i = 0; i < STRESS_WRITERS; i++) {
        w[i].r = r;
        w[i].tid = i;
        w[i].count = per;
        w[i].failed = &failed;
        w[i].done = &writers_done;
        w[i].rc = 0;
        cr_assert_eq(sl_os_thread_start(writer_main, &w[i], &wt[i]), 0);
    }
    for (uint32_t i = 0; i < STRESS_WRITERS; i++)
        sl_os_thread_join(wt[i]);
    /* Only matters if a writer gave up: then the consumer stops waiting. */
    sl_ring_wake(r);
    sl_os_thread_join(ct);

    cr_assert_eq(ca.c.err[0], '\0', "%s", ca.c.err);
    for (uint32_t i = 0; i < STRESS_WRITERS; i++) {
        cr_assert_eq(w[i].rc, 0, "writer %u: %s", i, sl_strerror(w[i].rc));
        cr_assert_eq(ca.c.next_seq[i], per, "writer %u: %llu of %llu", i,
                     (unsigned long long)ca.c.next_seq[i],
                     (unsigned long long)per);
    }
    cr_assert_eq(ca.c.records, per * STRESS_WRITERS);
    cr_assert_gt(ca.c.pos / STRESS_RING, 2, "the ring wrapped");
    cr_assert_gt(ca.c.pads, 0);
    /* Nothing is left over: no duplicate or stray record. */
    sl_ring_peek(r, &p, &len);
    cr_assert_eq(len, 0);
    cr_assert_eq(sl_ring_used(r), 0);
    cr_log_info("ring stress: %llu records, %llu wraps, %llu pads, "
                "%llu consumer waits",
                (unsigned long long)ca.c.records,
                (unsigned long long)(ca.c.pos / STRESS_RING),
                (unsigned long long)ca.c.pads,
                (unsigned long long)ca.sleeps);
    free(ca.c.next_seq);
    sl_ring_close(r);
}
