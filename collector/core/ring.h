/*
 * Multi-producer, single-consumer byte ring for variable-length records.
 *
 * Producers (collector worker threads) reserve a contiguous run of bytes,
 * fill it with whole capture records (capfile.h layout, sizes multiples of
 * 8) and commit it. The consumer (the writer thread) sees committed bytes
 * in reservation order and releases them once written.
 *
 * Layout: capacity is a power of two; positions are free-running uint64_t
 * counters masked into the buffer and compared by difference (ck_ring's
 * idea), so they never wrap in practice. A reservation never wraps around
 * the end of the buffer: when it would, the reserver also takes the bytes
 * up to the end and marks them with a pad (a 4-byte size word with bit 31
 * set, SL_RING_PAD_FLAG) that the consumer skips.
 *
 * Progress guarantee, stated honestly: reserve is lock-free (one CAS that
 * can only fail when another producer succeeded). Commit is NOT lock-free:
 * commits are published in reservation order, so a producer whose
 * reservation follows an uncommitted one spins (then yields) until the
 * earlier producer commits. A worker preempted between reserve and commit
 * therefore holds up later commits, never loses them. Workers keep that
 * window short: they parse first and reserve only to copy.
 *
 * Thread contract: reserve/commit/reserve_wait from any producer thread;
 * peek/release/wait_data from the one consumer thread only.
 */
#ifndef SL_RING_H
#define SL_RING_H

#include <stddef.h>
#include <stdint.h>

#define SL_RING_PAD_FLAG 0x80000000u
#define SL_RING_ALIGN 8u
#define SL_RING_MIN_CAPACITY 4096u
/* The largest capacity: a pad's length must fit below SL_RING_PAD_FLAG. */
#define SL_RING_MAX_CAPACITY 0x80000000u

typedef struct sl_ring sl_ring;

/** A reservation: ptr is where the caller writes len bytes. */
typedef struct sl_ring_resv {
    uint8_t *ptr;
    size_t len;
    uint64_t start; /* first position taken, pad included (internal) */
    uint64_t end;   /* position after the reservation (internal) */
} sl_ring_resv;

/**
 * Creates a ring.
 * @param capacity  Bytes; a power of two, SL_RING_MIN_CAPACITY <=
 *                  capacity <= SL_RING_MAX_CAPACITY.
 * @param out       Receives the ring; untouched on failure.
 * @return 0, SL_EINVAL (capacity), SL_ENOMEM.
 */
int sl_ring_open(size_t capacity, sl_ring **out);

/** Frees the ring. NULL is a harmless no-op. No thread may be using it. */
void sl_ring_close(sl_ring *r);

/** Capacity in bytes. */
size_t sl_ring_capacity(const sl_ring *r);

/** The largest len that sl_ring_reserve() can ever satisfy (capacity/2). */
size_t sl_ring_max_reserve(const sl_ring *r);

/**
 * Reserves len bytes. Does not block.
 * @param len  A multiple of SL_RING_ALIGN, 0 < len <= sl_ring_max_reserve().
 * @return 0 with *out filled; SL_EAGAIN when the ring lacks room now;
 *         SL_EINVAL for a bad len.
 * Every successful reserve must be followed by exactly one commit.
 */
int sl_ring_reserve(sl_ring *r, size_t len, sl_ring_resv *out);

/**
 * Like sl_ring_reserve(), but when the ring is full waits up to timeout_ns
 * for the consumer to release space (lossless backpressure).
 * Never call it while holding an uncommitted reservation of your own: the
 * consumer cannot read past that reservation, so if the space it holds is
 * what makes the ring full, the wait can only time out.
 * @return 0, SL_ETIMEDOUT, SL_EINVAL.
 * A call to sl_ring_wake() while this one waits ends the wait early with
 * SL_ETIMEDOUT (a wake that came before the call does not), so callers
 * check their own stop flag on SL_ETIMEDOUT.
 * timeout_ns 0 tries once; UINT64_MAX (SL_OS_FOREVER) means "no limit":
 * the wait ends only when space is released or on sl_ring_wake().
 */
int sl_ring_reserve_wait(sl_ring *r, size_t len, uint64_t timeout_ns,
                         sl_ring_resv *out);

/**
 * Publishes a reservation to the consumer. May spin/yield until every
 * earlier reservation is committed (see the progress guarantee above).
 * Wakes the consumer if it sleeps in sl_ring_wait_data().
 */
void sl_ring_commit(sl_ring *r, const sl_ring_resv *res);

/**
 * Consumer: the committed bytes from the read position up to the end of
 * the buffer or of what is committed, whichever comes first. The span may
 * end with a pad record (size word with SL_RING_PAD_FLAG), which the
 * consumer skips (counting it as consumed) and must not write out.
 * @param ptr  Receives the first committed byte (unchanged if *len is 0).
 * @param len  Receives the number of contiguous committed bytes (0 if none).
 */
void sl_ring_peek(sl_ring *r, const uint8_t **ptr, size_t *len);

/**
 * Consumer: gives back n bytes from the read position (records written and
 * pads skipped). Wakes producers that wait in sl_ring_reserve_wait().
 */
void sl_ring_release(sl_ring *r, size_t n);

/**
 * Consumer: waits until something is committed or timeout_ns passes
 * (UINT64_MAX: no limit), or sl_ring_wake() is called.
 * @return 1 if data is committed, 0 otherwise.
 * A wake is remembered, not lost: if sl_ring_wake() runs while the
 * consumer is not waiting, its next wait that finds no data returns at
 * once.
 */
int sl_ring_wait_data(sl_ring *r, uint64_t timeout_ns);

/** Wakes the consumer and every producer waiting for space. Any thread. */
void sl_ring_wake(sl_ring *r);

/** Bytes committed but not yet released (a snapshot). Any thread. */
size_t sl_ring_used(const sl_ring *r);

#endif
