/*
 * The multi-producer, single-consumer byte ring between the collector's
 * worker threads and its writer thread (the contract is ring.h).
 *
 * Three free-running 64-bit positions describe the ring, each on its own
 * cache line so that producers and the consumer do not false-share:
 *   tail <= commit_head <= reserve_head <= tail + capacity.
 * Producers claim [reserve_head, reserve_head + n) with one CAS, fill it,
 * then publish it by moving commit_head from their start to their end, in
 * reservation order. The consumer reads [tail, commit_head) and gives bytes
 * back by moving tail. A reservation that would cross the end of the buffer
 * also takes the bytes up to the end and marks them with a pad word, so
 * every record is contiguous in memory. A committer whose predecessor has
 * not committed yet waits for it: a short pause loop, then sl_os_yield()
 * (ring.h states the progress guarantee this gives).
 *
 * The hot paths (reserve, commit, peek, release) take no lock. Only a
 * thread that has to sleep (the consumer waiting for data, a producer
 * waiting for space) touches the mutex and condition variables of the OS
 * layer (os.h), and the other side takes that mutex only when a sleeper
 * has announced itself through a flag or a counter. Lost wake-ups are ruled
 * out by a Dekker-style handshake on those announcements (see wait_data and
 * reserve_wait); every timed wait is also cut into short slices as a safety
 * net, so even an unforeseen missed signal costs at most one slice.
 */
#include "ring.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "endian.h"
#include "err.h"
#include "os.h"

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) ||          \
    defined(_M_IX86)
#include <immintrin.h>
#endif

#define SL_CACHE_LINE 64

/* Busy-wait rounds in commit before falling back to sl_os_yield(). */
#define SL_RING_COMMIT_SPINS 64

/* Before a waiter takes the lock and sleeps it polls a little: a few
 * microseconds of pause, then a few yields (which, on a busy machine, hand
 * the CPU to the very thread it waits for). Under load most waits end
 * here, without a futex call on either side. */
#define SL_RING_POLL_SPINS 32
#define SL_RING_POLL_YIELDS 8

struct sl_ring {
    /* Set by sl_ring_open() and never changed: read-only while shared. */
    uint8_t *buf;
    uint64_t cap;
    uint64_t mask;
    void *mem; /* what malloc() returned, for free() */

    /* Next free position. Producers CAS it (relaxed: it orders nothing by
     * itself; the bytes are published through commit_head). */
    _Alignas(SL_CACHE_LINE) _Atomic uint64_t reserve_head;

    /* End of what is published. Producers store it in reservation order
     * (release, seq_cst for the handshake); the consumer acquire-loads it. */
    _Alignas(SL_CACHE_LINE) _Atomic uint64_t commit_head;

    /* Start of what the consumer still holds. Only the consumer stores it
     * (release, seq_cst for the handshake); producers acquire-load it. */
    _Alignas(SL_CACHE_LINE) _Atomic uint64_t tail;

    /* Sleeper announcements, read on every commit and release. They are
     * written only while someone sleeps, so this line stays shared (clean)
     * in every cache in the common case. */
    _Alignas(SL_CACHE_LINE) _Atomic int consumer_sleeping;
    _Atomic unsigned space_waiters;

    /* The slow path. wake_gen and wake_pending are guarded by lock. */
    _Alignas(SL_CACHE_LINE) sl_mutex lock;
    sl_cond data_cond;   /* the consumer sleeps here */
    sl_cond space_cond;  /* producers waiting for space sleep here */
    unsigned wake_gen;   /* bumped by sl_ring_wake() for producers */
    int wake_pending;    /* set by sl_ring_wake() for the consumer */
};

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) ||          \
    defined(_M_IX86)
    _mm_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* now + timeout, saturating, so a huge timeout means "forever". */
static uint64_t
deadline_after(uint64_t timeout_ns)
{
    uint64_t now = sl_os_mono_ns();

    return timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
}

/*
 * Sleeps on c (lock held) until signalled or the caller's deadline
 * (UINT64_MAX: none). No safety-net slice: every wake-up this ring needs
 * is delivered by the handshakes described at the waits, so a lost one
 * shows up as a hang in the tests instead of a 50 ms stall in production.
 * @return 0 if the caller should check its condition again, SL_ETIMEDOUT
 *         once the deadline has passed.
 */
static int
sleep_until(sl_cond *c, sl_mutex *m, uint64_t deadline)
{
    uint64_t now = sl_os_mono_ns();

    if (now >= deadline)
        return SL_ETIMEDOUT;
    (void)sl_cond_timedwait(c, m, deadline == UINT64_MAX ? SL_OS_FOREVER
                                                         : deadline - now);
    return 0;
}

int
sl_ring_open(size_t capacity, sl_ring **out)
{
    sl_ring *r;
    void *mem;
    uintptr_t p;

    if (capacity < SL_RING_MIN_CAPACITY ||
        (uint64_t)capacity > SL_RING_MAX_CAPACITY ||
        (capacity & (capacity - 1)) != 0)
        return SL_EINVAL;

    /* One block: the control struct and the buffer, both cache-line
     * aligned by hand (aligned_alloc() is missing from some C runtimes
     * we build for). sizeof(*r) is a multiple of the line size. */
    if (capacity > SIZE_MAX - sizeof(*r) - SL_CACHE_LINE)
        return SL_ENOMEM;
    mem = malloc(sizeof(*r) + SL_CACHE_LINE + capacity);
    if (mem == NULL)
        return SL_ENOMEM;
    p = ((uintptr_t)mem + SL_CACHE_LINE - 1) &
        ~(uintptr_t)(SL_CACHE_LINE - 1);
    r = (sl_ring *)p;

    r->buf = (uint8_t *)(p + sizeof(*r));
    r->cap = capacity;
    r->mask = capacity - 1;
    r->mem = mem;
    atomic_init(&r->reserve_head, 0);
    atomic_init(&r->commit_head, 0);
    atomic_init(&r->tail, 0);
    atomic_init(&r->consumer_sleeping, 0);
    atomic_init(&r->space_waiters, 0);
    sl_mutex_init(&r->lock);
    sl_cond_init(&r->data_cond);
    sl_cond_init(&r->space_cond);
    r->wake_gen = 0;
    r->wake_pending = 0;
    *out = r;
    return 0;
}

void
sl_ring_close(sl_ring *r)
{
    if (r == NULL)
        return;
    sl_cond_destroy(&r->space_cond);
    sl_cond_destroy(&r->data_cond);
    sl_mutex_destroy(&r->lock);
    free(r->mem);
}

size_t
sl_ring_capacity(const sl_ring *r)
{
    return (size_t)r->cap;
}

size_t
sl_ring_max_reserve(const sl_ring *r)
{
    return (size_t)(r->cap / 2);
}

/*
 * One reservation attempt. tail_order is memory_order_acquire on the fast
 * path and memory_order_seq_cst when the caller has announced itself in
 * space_waiters and needs the handshake with sl_ring_release().
 */
static int
try_reserve(sl_ring *r, size_t len, sl_ring_resv *out, memory_order tail_order)
{
    uint64_t head, tail, off, pad, need;

    if (len == 0 || len % SL_RING_ALIGN != 0 || len > r->cap / 2)
        return SL_EINVAL;

    head = atomic_load_explicit(&r->reserve_head, memory_order_relaxed);
    for (;;) {
        /* Acquire pairs with the release (seq_cst) store of tail in
         * sl_ring_release(): the consumer has finished reading the bytes
         * below tail before we overwrite them. */
        tail = atomic_load_explicit(&r->tail, tail_order);
        off = head & r->mask;
        /* Never wrap: if len does not fit before the end, the pad up to
         * the end becomes part of this reservation. pad < len, so
         * need < 2 * len <= cap and an empty ring always has room. */
        pad = r->cap - off < len ? r->cap - off : 0;
        need = pad + len;
        /* head may be older than tail (we read head first and others
         * moved both since); the difference would wrap, so refresh head. */
        if ((int64_t)(head - tail) < 0) {
            head = atomic_load_explicit(&r->reserve_head, memory_order_relaxed);
            continue;
        }
        if (head - tail + need > r->cap) {
            /* Full as far as this (possibly stale) head can tell; fail
             * only if head is current, since tail <= reserve_head. */
            uint64_t now =
                atomic_load_explicit(&r->reserve_head, memory_order_relaxed);
            if (now == head)
                return SL_EAGAIN;
            head = now;
            continue;
        }
        /* Relaxed: the CAS only claims positions. Our writes to the
         * claimed bytes are ordered after the tail acquire above by
         * program order, and published later by commit. */
        if (atomic_compare_exchange_weak_explicit(
                &r->reserve_head, &head, head + need, memory_order_relaxed,
                memory_order_relaxed))
            break;
    }

    if (pad != 0)
        sl_store_le32(r->buf + off, (uint32_t)pad | SL_RING_PAD_FLAG);
    out->ptr = r->buf + ((head + pad) & r->mask);
    out->len = len;
    out->start = head;
    out->end = head + need;
    return 0;
}

int
sl_ring_reserve(sl_ring *r, size_t len, sl_ring_resv *out)
{
    return try_reserve(r, len, out, memory_order_acquire);
}

int
sl_ring_reserve_wait(sl_ring *r, size_t len, uint64_t timeout_ns,
                     sl_ring_resv *out)
{
    uint64_t deadline;
    unsigned gen;
    int rc;

    rc = try_reserve(r, len, out, memory_order_acquire);
    if (rc != SL_EAGAIN)
        return rc;
    if (timeout_ns == 0)
        return SL_ETIMEDOUT;
    deadline = deadline_after(timeout_ns);
    for (int i = 0; i < SL_RING_POLL_SPINS + SL_RING_POLL_YIELDS; i++) {
        if (i < SL_RING_POLL_SPINS)
            cpu_relax();
        else
            sl_os_yield();
        rc = try_reserve(r, len, out, memory_order_acquire);
        if (rc != SL_EAGAIN)
            return rc;
    }

    sl_mutex_lock(&r->lock);
    gen = r->wake_gen;
    /*
     * Handshake with sl_ring_release(), Dekker style. Here: announce
     * (seq_cst RMW on space_waiters), then look at tail (seq_cst load in
     * try_reserve). There: publish tail (seq_cst store), then look at
     * space_waiters (seq_cst load). All four are in the single total order
     * of seq_cst operations, so at least one side sees the other: either
     * our reserve sees the new tail, or the consumer sees us and
     * broadcasts under the lock, which we hold from the announcement until
     * cond_timedwait releases it, so the broadcast cannot fall between our
     * check and our sleep.
     */
    atomic_fetch_add_explicit(&r->space_waiters, 1, memory_order_seq_cst);
    for (;;) {
        rc = try_reserve(r, len, out, memory_order_seq_cst);
        if (rc != SL_EAGAIN)
            break;
        /* A wake ends the wait as if the time had run out; the caller
         * checks its own stop flag on SL_ETIMEDOUT. */
        if (r->wake_gen != gen ||
            sleep_until(&r->space_cond, &r->lock, deadline) != 0) {
            rc = SL_ETIMEDOUT;
            break;
        }
    }
    /* Relaxed: a stale nonzero count only costs the consumer one needless
     * lock/broadcast. */
    atomic_fetch_sub_explicit(&r->space_waiters, 1, memory_order_relaxed);
    sl_mutex_unlock(&r->lock);
    return rc;
}

void
sl_ring_commit(sl_ring *r, const sl_ring_resv *res)
{
    unsigned spins = 0;

    /* Commits go out in reservation order. Acquire pairs with the previous
     * committer's store of commit_head, so its bytes happen-before our
     * store below and reach the consumer transitively through it. */
    while (atomic_load_explicit(&r->commit_head, memory_order_acquire) !=
           res->start) {
        if (spins < SL_RING_COMMIT_SPINS) {
            spins++;
            cpu_relax();
        } else {
            /* The earlier reserver was probably preempted; let it run. */
            sl_os_yield();
        }
    }
    /* Publishes our bytes (and the pad) to the consumer's acquire load in
     * sl_ring_peek() and to the next committer's acquire load above.
     * seq_cst rather than release: this store and the load of
     * consumer_sleeping below are our half of the handshake described in
     * sl_ring_wait_data(). */
    atomic_store_explicit(&r->commit_head, res->end, memory_order_seq_cst);
    /* The plain load keeps the common case (nobody asleep) free of an RMW
     * on a shared line; the exchange lets only one committer signal. */
    if (atomic_load_explicit(&r->consumer_sleeping, memory_order_seq_cst) &&
        atomic_exchange_explicit(&r->consumer_sleeping, 0,
                                 memory_order_seq_cst)) {
        sl_mutex_lock(&r->lock);
        sl_cond_signal(&r->data_cond);
        sl_mutex_unlock(&r->lock);
    }
}

void
sl_ring_peek(sl_ring *r, const uint8_t **ptr, size_t *len)
{
    /* Relaxed: only this (consumer) thread stores tail. */
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    /* Acquire pairs with the committers' stores of commit_head: every
     * byte below it is written and visible. */
    uint64_t commit =
        atomic_load_explicit(&r->commit_head, memory_order_acquire);
    uint64_t off = tail & r->mask;
    uint64_t n = commit - tail;

    if (n > r->cap - off)
        n = r->cap - off;
    *len = (size_t)n;
    if (n != 0)
        *ptr = r->buf + off;
}

void
sl_ring_release(sl_ring *r, size_t n)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);

    assert(n <= atomic_load_explicit(&r->commit_head, memory_order_relaxed) -
                    tail);
    /* Releases the bytes to producers: our reads of them happen-before
     * their acquire load of tail in try_reserve(). seq_cst rather than
     * release: this store and the load of space_waiters below are our half
     * of the handshake described in sl_ring_reserve_wait(). */
    atomic_store_explicit(&r->tail, tail + n, memory_order_seq_cst);
    if (atomic_load_explicit(&r->space_waiters, memory_order_seq_cst) != 0) {
        sl_mutex_lock(&r->lock);
        sl_cond_broadcast(&r->space_cond);
        sl_mutex_unlock(&r->lock);
    }
}

int
sl_ring_wait_data(sl_ring *r, uint64_t timeout_ns)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t deadline;
    int ready = 0;

    /* Fast path, no lock. Acquire pairs with the committers' stores. */
    if (atomic_load_explicit(&r->commit_head, memory_order_acquire) != tail)
        return 1;
    deadline = deadline_after(timeout_ns);
    for (int i = 0; timeout_ns != 0 &&
                    i < SL_RING_POLL_SPINS + SL_RING_POLL_YIELDS; i++) {
        if (i < SL_RING_POLL_SPINS)
            cpu_relax();
        else
            sl_os_yield();
        if (atomic_load_explicit(&r->commit_head, memory_order_acquire) !=
            tail)
            return 1;
    }

    sl_mutex_lock(&r->lock);
    for (;;) {
        /*
         * Handshake with sl_ring_commit(), Dekker style. Here: announce
         * (seq_cst store of consumer_sleeping), then look at commit_head
         * (seq_cst load). There: publish commit_head (seq_cst store), then
         * look at consumer_sleeping (seq_cst load). In the single total
         * order S of seq_cst operations one of the two stores comes first,
         * so either we see the commit or the committer sees us and signals
         * under the lock, which we hold from here until cond_timedwait
         * releases it. The first committer to see us also clears the flag
         * (exchange) so that a burst of commits signals once; we announce
         * again on every round, and since that exchange precedes our next
         * announcement in S, the commit it followed precedes our next
         * check.
         */
        atomic_store_explicit(&r->consumer_sleeping, 1, memory_order_seq_cst);
        if (atomic_load_explicit(&r->commit_head, memory_order_seq_cst) !=
            tail) {
            ready = 1;
            break;
        }
        if (r->wake_pending)
            break;
        if (sleep_until(&r->data_cond, &r->lock, deadline) != 0)
            break;
    }
    /* A wake is consumed by the wait it ended (or by this one, if it came
     * while we were not waiting), never by a later one. */
    r->wake_pending = 0;
    /* Relaxed: a stale 1 only costs a committer one needless signal. */
    atomic_store_explicit(&r->consumer_sleeping, 0, memory_order_relaxed);
    sl_mutex_unlock(&r->lock);
    return ready;
}

void
sl_ring_wake(sl_ring *r)
{
    sl_mutex_lock(&r->lock);
    r->wake_gen++;
    r->wake_pending = 1;
    sl_cond_broadcast(&r->space_cond);
    sl_cond_broadcast(&r->data_cond);
    sl_mutex_unlock(&r->lock);
}

size_t
sl_ring_used(const sl_ring *r)
{
    /* tail first: it only grows and never passes commit_head, so the
     * difference cannot wrap. Acquire keeps the second load after the
     * first. */
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    uint64_t commit =
        atomic_load_explicit(&r->commit_head, memory_order_acquire);

    return (size_t)(commit - tail);
}
