/*
 * libsluice-producer: the public producer API (include/sluice/producer.h)
 * on top of the transport (transport.h), the wire format (wire.h) and the
 * OS layer (os.h).
 *
 * Buffers ("lanes"). Each thread that emits on a handle gets a lane of its
 * own: a buffer of buffer_bytes that only that thread appends to. Appending
 * needs no lock and no atomic read-modify-write: the owner writes the frame
 * after its lane's tail and publishes it with a release store of the tail.
 * A thread finds its lane through a small thread-local cache keyed by the
 * handle and its generation (a number never reused, so a cached entry of a
 * closed handle can never match a new handle at the same address). At
 * most MAX_LANES threads get lanes; later threads, and any thread that
 * finds no lane, share one more lane under a mutex (shared_lock), which
 * also carries the hello. A thread keeps the same lane for the handle's
 * life, so its events keep their order; a thread that starts after
 * another has exited may take over that thread's lane (lanes are found by
 * the address of a thread-local variable, which a live thread never shares).
 *
 * Writing ("draining"). Every write to the transport happens under
 * write_lock, which a drainer holds while it takes a lane's committed bytes
 * [head, tail), writes them and advances head. Sequence numbers are given
 * at that moment, in wire order: the drainer patches the seq field of each
 * frame it writes (the emitter leaves it zero), so the stream's seq is
 * 0, 1, 2, ... exactly as the collector reads it, whichever threads the
 * frames came from. An owner whose lane is full takes write_lock, drains
 * the shared lane (so the hello always goes first) and its own lane, and
 * starts its lane again from offset 0; only the owner moves its tail, so
 * only it may reset. Holding write_lock across the write keeps the bytes
 * in order and lets the collector's lossless backpressure block emitters.
 * A background thread drains every lane each flush_interval_ms.
 *
 * Timestamps are read by the emitting thread when it appends (or passed
 * by the caller to sluice_producer_emit_ts), so within one thread they
 * follow that thread's order; across threads only seq orders events. Where
 * the kernel keeps time with the TSC, a lane reads the TSC and scales it
 * (lane_now()), because a clock_gettime() per event cost as much as the
 * rest of emit.
 *
 * The first failed write is sticky: the connection is unusable after a
 * partial write, so every later call returns that same error.
 */
#include "sluice/producer.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "endian.h"
#include "err.h"
#include "os.h"
#include "state.h"
#include "transport.h"
#include "wire.h"

#ifndef _WIN32
#include <errno.h> /* program_invocation_short_name (_GNU_SOURCE) */
#include <stdio.h>
#include <unistd.h>
#endif

/* The TSC clock (see lane_now()): x86-64 Linux, where the kernel tells
 * whether it trusts the TSC as its own clocksource. */
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__)
#include <x86intrin.h>
#define SL_TSC_CLOCK 1
#else
#define SL_TSC_CLOCK 0
#endif

#define DEFAULT_CONNECT_TIMEOUT_MS 5000u
#define DEFAULT_BUFFER_BYTES 65536u
#define MIN_BUFFER_BYTES 4096u
#define DEFAULT_FLUSH_INTERVAL_MS 100u
#define GREETING_TIMEOUT_MS 5000u /* when connect_timeout_ms is 0 */
/* How long open waits for a 1.1 collector's answer to the hello (the STATE
 * frame), at least: the greeting proved a collector is there, and a busy
 * one reads a new hello behind every other connection's data (256
 * streaming producers under ThreadSanitizer took over 5 s). */
#define STATE_TIMEOUT_MS 60000u
/* Threads with a lane of their own per handle; the rest share one. Bounds
 * a handle's memory at (MAX_LANES + 1) * buffer_bytes. */
#define MAX_LANES 16u
/* Handles a thread remembers its lane for without a lookup. */
#define TL_SLOTS 4u
/* TSC clock: a lane re-reads the real clock once its anchor is this many
 * ticks old (about 0.3 ms at 3 GHz); the rate is first computed once the
 * handle is this many ticks old (about 10 ms), and refined at every
 * re-read; a (TSC, clock) pair is taken only when the clock call took
 * fewer ticks than TSC_PAIR_TICKS (not preempted in between); a
 * timestamp that falls behind the lane's last one by less than
 * TSC_CLAMP_NS is raised to it (interpolation jitter), a larger step back
 * (the wall clock was set) is kept. */
#define TSC_REFRESH_TICKS (1u << 20)
#define TSC_CALIBRATE_TICKS (1u << 25)
#define TSC_PAIR_TICKS 4000u
#define TSC_CLAMP_NS 1000u

/* Keeps a rarely taken path out of the hot function it is called from,
 * and folds the hot path into one function per API call. */
#if defined(__GNUC__)
#define SL_COLD __attribute__((noinline, cold))
#define SL_HOT_INLINE __attribute__((always_inline)) inline
#define SL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define SL_COLD
#define SL_HOT_INLINE inline
#define SL_UNLIKELY(x) (x)
#endif

/* Thread-local storage in the shared library: initial-exec avoids a
 * __tls_get_addr call per emit; the block is a few dozen bytes, well within
 * the static TLS surplus the dynamic loader keeps for dlopen(). */
#if defined(__GNUC__) && !defined(_WIN32)
#define SL_TLS _Thread_local __attribute__((tls_model("initial-exec")))
#else
#define SL_TLS _Thread_local
#endif

typedef struct lane {
    uint8_t *buf;
    size_t cap;
    /* Bytes appended. Written only by the owner (the thread the lane
     * belongs to, or the holder of shared_lock for the shared lane), with
     * release: it publishes the frame bytes before it to drainers, whose
     * acquire load pairs with it. The owner resets it to 0 only while it
     * holds write_lock, when head == tail. */
    _Atomic size_t tail;
    /* Bytes already written to the transport. Guarded by write_lock. */
    size_t head;
    /* The owning thread's token (address of its thread-local cache); 0
     * for the shared lane. Set before the lane is published. */
    uintptr_t owner;
    /* The lane's clock anchor (owner only): the TSC and the wall clock read
     * together, and the last timestamp given. */
    uint64_t tsc_base;
    uint64_t ns_base;
    uint64_t last_ts;
    /* Statistics, written by the owner only (load + store, no RMW) and
     * read relaxed by sluice_producer_counts(); they publish nothing. */
    _Atomic uint64_t events;
    _Atomic uint64_t bytes;
    /* Events filtered (type disabled): owner-only load + store like the
     * two above; the shared lane's is a fetch_add (any thread under no
     * lock reaches it). Relaxed: a count, it publishes nothing. */
    _Atomic uint64_t filtered;
    /* The list of lanes; published with release by lane_lookup(), read with
     * acquire by drainers. Lanes are freed only by close. */
    struct lane *_Atomic next;
} lane;

struct sluice_producer {
    sl_transport *t;
    uint64_t gen; /* never reused; keys the thread-local cache */

    /* Fixed after open. */
    uint32_t id;
    uint32_t max_frame;
    size_t max_payload;
    size_t lane_bytes;
    int text;
    /* TSC clock: usable at all (kernel clocksource is "tsc"), the pair
     * read at open, and ns per tick in 32.32 fixed point (0 until the
     * handle is old enough to measure it; relaxed: any recent value is as
     * good as another). */
    int tsc_ok;
    uint64_t cal_tsc;
    uint64_t cal_ns;
    _Atomic uint64_t tsc_mult;

    /* write_lock guards every transport write, seq and every lane's head.
     * Lock order: shared_lock, then write_lock. */
    sl_mutex write_lock;
    uint64_t seq;
    int magic_pending; /* the shared lane still starts with the magic */
    /* Sticky write error; set under write_lock, read anywhere (relaxed:
     * a reader that misses it fails on its next write instead). */
    atomic_int err;

    sl_mutex shared_lock; /* the owner side of the shared lane */
    lane shared;

    sl_mutex lanes_lock; /* guards adding lanes and nlanes */
    unsigned nlanes;

    /* The flush thread sleeps on `wake` under `ctl`. */
    sl_mutex ctl;
    sl_cond wake;
    int stopping; /* guarded by ctl */
    sl_thread *flusher;
    uint32_t flush_interval_ms;

    /* Control plane (protocol 1.1). `v11`: the greeting had a cfg field,
     * so the hello asked for the state and COUNTS frames are understood.
     * `enabled`: bit t of word t/64 = type t enabled. The reader thread
     * stores whole words, emitters load them, both relaxed: each bit is
     * independent and nothing else is published through it, so any recent
     * value is correct (an emitter that sees a change late emits or
     * filters one more event). */
    int v11;
    _Atomic uint64_t enabled[SL_STATE_TYPES / 64];
    /* The current configuration. Snapshots are immutable and kept until
     * close (the API hands out pointers into them); the reader thread
     * publishes a new one with release, readers load it with acquire, so
     * its bytes are complete when seen. cfg_all (reader thread and close
     * only) lists them all for freeing. */
    struct cfg_snap *_Atomic cfg;
    struct cfg_snap *cfg_all;
    sl_thread *reader;
    uint64_t counts_sent; /* filtered total last sent; under write_lock */
};

/* A configuration: the pairs area of a STATE frame, followed by a 4-byte
 * zero entry (key_len 0 never occurs in a pair) that ends iteration. */
typedef struct cfg_snap {
    struct cfg_snap *next_all;
    uint32_t pairs_len;
    uint8_t pairs[];
} cfg_snap;

typedef struct tl_slot {
    const sluice_producer *p;
    uint64_t gen;
    lane *l;
} tl_slot;

static SL_TLS tl_slot tl_cache[TL_SLOTS];
static SL_TLS unsigned tl_victim;
/* Handle generations; 0 is never given, so an empty cache slot matches
 * nothing. */
static _Atomic uint64_t next_gen = 1;

void
sluice_producer_opts_init(sluice_producer_opts *opts)
{
    if (opts == NULL)
        return;
    memset(opts, 0, sizeof(*opts));
    opts->name = NULL;
    opts->name_len = 0;
    opts->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    opts->buffer_bytes = DEFAULT_BUFFER_BYTES;
    opts->flush_interval_ms = DEFAULT_FLUSH_INTERVAL_MS;
    opts->text = 0;
}

/*
 * The executable's base name, the label used when opts->name is NULL.
 * os.h has no call for this yet, so the two platform branches live here.
 * Returns the length written to buf (not NUL-terminated), at most cap.
 */
static size_t
exe_base_name(char *buf, size_t cap)
{
    const char *base;
    size_t len;
#ifdef _WIN32
    wchar_t wpath[MAX_PATH];
    char path[MAX_PATH * 3];
    DWORD wn = GetModuleFileNameW(NULL, wpath, MAX_PATH);
    int n = 0;

    if (wn > 0 && wn < MAX_PATH)
        n = WideCharToMultiByte(CP_UTF8, 0, wpath, (int)wn, path,
                                (int)sizeof(path) - 1, NULL, NULL);
    if (n <= 0)
        return 0;
    path[n] = '\0';
    base = path;
    for (const char *s = path; *s != '\0'; s++)
        if (*s == '\\' || *s == '/')
            base = s + 1;
    len = strlen(base);
    if (len > 4 && _stricmp(base + len - 4, ".exe") == 0)
        len -= 4;
#else
    char path[4096];
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);

    if (n > 0) {
        path[n] = '\0';
        base = strrchr(path, '/');
        base = base != NULL ? base + 1 : path;
    } else {
        /* No procfs (a chroot, a container without /proc): argv[0]. */
        base = program_invocation_short_name;
    }
    len = strlen(base);
#endif
    if (len > cap) {
        /* Cut on a UTF-8 character boundary, never inside a sequence. */
        len = cap;
        while (len > 0 && ((unsigned char)base[len] & 0xC0u) == 0x80u)
            len--;
    }
    memcpy(buf, base, len);
    return len;
}

/*
 * Reads the NUL-terminated greeting (at most SL_WIRE_GREETING_MAX bytes)
 * within timeout_ms. The collector sends nothing after it until the
 * producer speaks, so any bytes past the NUL are not expected and are
 * ignored.
 */
static int
read_greeting(sl_transport *t, uint32_t timeout_ms, char *g, size_t *len)
{
    uint64_t deadline = sl_os_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    size_t have = 0;

    while (have < SL_WIRE_GREETING_MAX) {
        uint64_t now = sl_os_mono_ns();
        size_t n = 0;
        char *nul;
        int rc;

        if (now >= deadline)
            return SL_ETIMEDOUT;
        /* At least 1 ms: a 0 timeout would mean "wait forever". */
        rc = sl_transport_read(t, g + have, SL_WIRE_GREETING_MAX - have, &n,
                               (uint32_t)((deadline - now + 999999u) /
                                          1000000u));
        if (rc == SL_ETIMEDOUT)
            return rc;
        if (rc != 0 || n == 0)
            return SL_EPROTO; /* reset or closed before a whole greeting */
        nul = memchr(g + have, '\0', n);
        if (nul != NULL) {
            *len = (size_t)(nul - g);
            return 0;
        }
        have += n;
    }
    return SL_EPROTO; /* 64 bytes and no NUL: not a sluice collector */
}

/*
 * A refusal greeting ("SLUICE/1 error=REASON", protocol.md section 4) as
 * the error it means, or 0 when the greeting carries no error field.
 */
static int
refusal_error(const char *g, size_t len)
{
    static const char key[] = " error=";
    const char *e = NULL, *v, *end;
    size_t vlen;

    if (len < 7 || memcmp(g, "SLUICE/", 7) != 0)
        return 0;
    for (size_t i = 0; i + sizeof(key) - 1 <= len; i++)
        if (memcmp(g + i, key, sizeof(key) - 1) == 0) {
            e = g + i;
            break;
        }
    if (e == NULL)
        return 0;
    v = e + sizeof(key) - 1;
    end = memchr(v, ' ', len - (size_t)(v - g));
    vlen = end != NULL ? (size_t)(end - v) : len - (size_t)(v - g);
    if (vlen == 18 && memcmp(v, "too-many-producers", 18) == 0)
        return SL_ETOOMANY;
    if (vlen == 16 && memcmp(v, "user-not-allowed", 16) == 0)
        return SL_ENOTALLOWED;
    return SL_EREFUSED;
}

/* ---- lanes --------------------------------------------------------------- */

static int
lane_init(lane *l, size_t cap, uintptr_t owner)
{
    l->buf = malloc(cap);
    if (l->buf == NULL)
        return SL_ENOMEM;
    l->cap = cap;
    atomic_init(&l->tail, 0);
    l->head = 0;
    l->owner = owner;
    atomic_init(&l->events, 0);
    atomic_init(&l->bytes, 0);
    atomic_init(&l->filtered, 0);
    atomic_init(&l->next, NULL);
    l->tsc_base = 0;
    l->ns_base = 0;
    l->last_ts = 0;
    return 0;
}

/*
 * The lane of the calling thread: its own (found or created under
 * lanes_lock), or the shared one when MAX_LANES threads already have
 * theirs. Remembered in the thread-local cache.
 */
SL_COLD static lane *
lane_lookup(sluice_producer *p)
{
    uintptr_t me = (uintptr_t)&tl_cache;
    lane *l, *found = NULL;
    tl_slot *slot;

    sl_mutex_lock(&p->lanes_lock);
    for (l = atomic_load_explicit(&p->shared.next, memory_order_acquire);
         l != NULL; l = atomic_load_explicit(&l->next, memory_order_acquire))
        if (l->owner == me) {
            found = l;
            break;
        }
    if (found == NULL && p->nlanes < MAX_LANES) {
        l = malloc(sizeof(*l));
        if (l != NULL && lane_init(l, p->lane_bytes, me) == 0) {
            /* Release pairs with the drainers' acquire walk: the lane's
             * fields are set before it becomes reachable. */
            atomic_store_explicit(
                &l->next,
                atomic_load_explicit(&p->shared.next, memory_order_relaxed),
                memory_order_relaxed);
            atomic_store_explicit(&p->shared.next, l, memory_order_release);
            p->nlanes++;
            found = l;
        } else {
            free(l);
        }
    }
    sl_mutex_unlock(&p->lanes_lock);
    if (found == NULL)
        found = &p->shared; /* out of lanes or memory: share */
    slot = &tl_cache[tl_victim++ % TL_SLOTS];
    slot->p = p;
    slot->gen = p->gen;
    slot->l = found;
    return found;
}

static inline lane *
my_lane(sluice_producer *p)
{
    for (unsigned i = 0; i < TL_SLOTS; i++)
        if (tl_cache[i].p == p && tl_cache[i].gen == p->gen)
            return tl_cache[i].l;
    return lane_lookup(p);
}

/* ---- draining (write_lock held) ----------------------------------------- */

/* Gives each event frame in buf[0..len) the next sequence number. The
 * hello (type 0xFF00) is not an event and keeps seq 0. */
static void
number_frames(sluice_producer *p, uint8_t *buf, size_t len)
{
    size_t off = 0;

    while (off < len) {
        uint32_t flen = sl_load_le32(buf + off);

        if (sl_load_le16(buf + off + 4) != SL_WIRE_T_HELLO)
            sl_store_le64(buf + off + 8, p->seq++);
        off += flen;
    }
}

/* Writes lane l's committed bytes. With write_lock held. */
static int
drain_lane(sluice_producer *p, lane *l)
{
    /* Acquire pairs with the owner's release of tail: the frame bytes
     * before it are complete. */
    size_t tail = atomic_load_explicit(&l->tail, memory_order_acquire);
    size_t head = l->head;
    int rc;

    if (tail == head)
        return 0;
    l->head = tail;
    rc = atomic_load_explicit(&p->err, memory_order_relaxed);
    if (rc != 0)
        return rc; /* dead connection: discard */
    if (!p->text) {
        size_t off = head;

        /* The magic, first in the shared lane, is not a frame. */
        if (l == &p->shared && p->magic_pending) {
            off += SL_WIRE_MAGIC_LEN;
            p->magic_pending = 0;
        }
        number_frames(p, l->buf + off, tail - off);
    }
    rc = sl_transport_write(p->t, l->buf + head, tail - head);
    if (rc != 0)
        atomic_store_explicit(&p->err, rc, memory_order_relaxed);
    return rc;
}

/* Sends a COUNTS frame (protocol 1.1) when the filtered total changed
 * since the last one. With write_lock held. */
static int
send_counts(sluice_producer *p)
{
    uint8_t f[SL_WIRE_FRAME_HDR + SL_WIRE_COUNTS_LEN];
    uint64_t total = sluice_producer_filtered(p);
    int rc;

    if (!p->v11 || total == p->counts_sent ||
        atomic_load_explicit(&p->err, memory_order_relaxed) != 0)
        return 0;
    sl_wire_frame_header(f, (uint32_t)sizeof(f), SL_WIRE_T_COUNTS, 0,
                         sl_os_now_ns());
    sl_store_le64(f + SL_WIRE_FRAME_HDR, total);
    rc = sl_transport_write(p->t, f, sizeof(f));
    if (rc != 0)
        atomic_store_explicit(&p->err, rc, memory_order_relaxed);
    else
        p->counts_sent = total;
    return rc;
}

/* Writes the shared lane, then every lane. With write_lock held. */
static int
drain_all(sluice_producer *p)
{
    int rc = drain_lane(p, &p->shared);

    for (lane *l = atomic_load_explicit(&p->shared.next, memory_order_acquire);
         l != NULL; l = atomic_load_explicit(&l->next, memory_order_acquire)) {
        int lrc = drain_lane(p, l);

        if (rc == 0)
            rc = lrc;
    }
    if (rc == 0)
        rc = send_counts(p);
    return rc;
}

/*
 * The owner of lane l found no room: write what is queued (the shared lane
 * first, so the hello always leads) and start the lane again at offset 0.
 * With write_lock held; only the owner may reset its tail.
 */
static int
drain_own_locked(sluice_producer *p, lane *l)
{
    int rc = drain_lane(p, &p->shared);

    if (l != &p->shared) {
        int lrc = drain_lane(p, l);

        if (rc == 0)
            rc = lrc;
    }
    /* head == tail now; drainers read both only under write_lock. */
    l->head = 0;
    atomic_store_explicit(&l->tail, 0, memory_order_release);
    return rc != 0 ? rc : atomic_load_explicit(&p->err, memory_order_relaxed);
}

SL_COLD static int
make_room(sluice_producer *p, lane *l)
{
    int rc;

    sl_mutex_lock(&p->write_lock);
    rc = drain_own_locked(p, l);
    sl_mutex_unlock(&p->write_lock);
    return rc;
}

static inline void
count_event(lane *l, size_t len)
{
    atomic_store_explicit(
        &l->events,
        atomic_load_explicit(&l->events, memory_order_relaxed) + 1,
        memory_order_relaxed);
    atomic_store_explicit(
        &l->bytes,
        atomic_load_explicit(&l->bytes, memory_order_relaxed) + len,
        memory_order_relaxed);
}

/* An event larger than a lane: queued bytes first, then the event straight
 * from the caller's memory. The owner of l calls this. */
SL_COLD static int
write_big(sluice_producer *p, lane *l, uint16_t type, uint64_t ts,
          const void *data, size_t len)
{
    uint8_t hdr[SL_WIRE_FRAME_HDR];
    int rc;

    sl_mutex_lock(&p->write_lock);
    rc = drain_own_locked(p, l);
    if (rc == 0) {
        if (p->text) {
            rc = sl_transport_write(p->t, data, len);
            if (rc == 0)
                rc = sl_transport_write(p->t, "\n", 1);
        } else {
            sl_wire_frame_header(hdr, (uint32_t)(SL_WIRE_FRAME_HDR + len),
                                 type, p->seq, ts);
            rc = sl_transport_write(p->t, hdr, sizeof(hdr));
            if (rc == 0)
                rc = sl_transport_write(p->t, data, len);
            p->seq++;
        }
        if (rc != 0)
            atomic_store_explicit(&p->err, rc, memory_order_relaxed);
    }
    sl_mutex_unlock(&p->write_lock);
    if (rc == 0)
        count_event(l, len);
    return rc;
}

/* ---- the clock -------------------------------------------------------- */

#if SL_TSC_CLOCK
/* 1 if the kernel's clocksource is the TSC: then it is invariant and in
 * step across CPUs, and the vDSO's CLOCK_REALTIME is itself the TSC scaled,
 * which is what lane_now() does, only with the scale kept per lane. */
static int
tsc_usable(void)
{
    char src[32] = "";
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/"
                    "current_clocksource", "r");

    if (f == NULL)
        return 0;
    if (fgets(src, sizeof(src), f) == NULL)
        src[0] = '\0';
    fclose(f);
    return strcmp(src, "tsc\n") == 0;
}

/* Reads the TSC and the wall clock together; 0 if every try was
 * interrupted between the two (the pair would be off). */
static int
tsc_pair(uint64_t *tsc, uint64_t *ns)
{
    for (int i = 0; i < 4; i++) {
        uint64_t a = __rdtsc(), t = sl_os_now_ns(), b = __rdtsc();

        if (b - a < TSC_PAIR_TICKS) {
            *tsc = a + (b - a) / 2;
            *ns = t;
            return 1;
        }
    }
    return 0;
}

/* The slow path of lane_now(): a fresh anchor for lane l, and a better
 * rate for the handle. */
SL_COLD static uint64_t
lane_clock_refresh(sluice_producer *p, lane *l)
{
    uint64_t tsc, ns, mult;

    if (!p->tsc_ok || !tsc_pair(&tsc, &ns))
        return sl_os_now_ns();
    mult = atomic_load_explicit(&p->tsc_mult, memory_order_relaxed);
    if (tsc - p->cal_tsc >= TSC_CALIBRATE_TICKS && ns > p->cal_ns) {
        mult = (uint64_t)((double)(ns - p->cal_ns) /
                          (double)(tsc - p->cal_tsc) * 4294967296.0);
        atomic_store_explicit(&p->tsc_mult, mult, memory_order_relaxed);
    }
    if (mult != 0) {
        l->tsc_base = tsc;
        l->ns_base = ns;
    }
    if (ns < l->last_ts && l->last_ts - ns < TSC_CLAMP_NS)
        ns = l->last_ts;
    l->last_ts = ns;
    return ns;
}
#endif

/*
 * The time for an event of lane l. Reading CLOCK_REALTIME costs about 20 ns
 * even through the vDSO, as much as the rest of an emit. Where the kernel
 * itself keeps time with the TSC, the lane instead reads the TSC (a few ns)
 * and scales it from an anchor (a TSC and clock pair) at most
 * TSC_REFRESH_TICKS old, with the rate measured against the clock over the
 * handle's life: the result stays within some tens of ns of the clock, and
 * never runs backwards within a lane by less than TSC_CLAMP_NS.
 */
static inline uint64_t
lane_now(sluice_producer *p, lane *l)
{
#if SL_TSC_CLOCK
    uint64_t mult = atomic_load_explicit(&p->tsc_mult, memory_order_relaxed);

    if (mult != 0) {
        uint64_t d = __rdtsc() - l->tsc_base;

        if (d < TSC_REFRESH_TICKS) {
            uint64_t ts = l->ns_base + ((d * mult) >> 32);

            if (ts < l->last_ts && l->last_ts - ts < TSC_CLAMP_NS)
                ts = l->last_ts;
            l->last_ts = ts;
            return ts;
        }
    }
    return lane_clock_refresh(p, l);
#else
    (void)p;
    (void)l;
    return sl_os_now_ns();
#endif
}

/* Appends one event to lane l, whose owner the caller is. */
static SL_HOT_INLINE int
append(sluice_producer *p, lane *l, uint16_t type, int have_ts, uint64_t ts,
       const void *data, size_t len)
{
    size_t frame = p->text ? len + 1 : SL_WIRE_FRAME_HDR + len;
    size_t tail = atomic_load_explicit(&l->tail, memory_order_relaxed);
    uint8_t *dst;
    int rc;

    rc = atomic_load_explicit(&p->err, memory_order_relaxed);
    if (rc != 0)
        return rc;
    if (frame > l->cap - tail) {
        if (frame > l->cap) {
            if (!have_ts && !p->text)
                ts = lane_now(p, l);
            return write_big(p, l, type, ts, data, len);
        }
        rc = make_room(p, l);
        if (rc != 0)
            return rc;
        tail = 0;
    }
    dst = l->buf + tail;
    if (p->text) {
        if (len > 0)
            memcpy(dst, data, len);
        dst[len] = '\n';
    } else {
        /* The frame header of wire.h (sl_wire_frame_header()), written
         * inline; seq is given when the frame is written (number_frames). */
        sl_store_le32(dst, (uint32_t)frame);
        sl_store_le16(dst + 4, type);
        sl_store_le16(dst + 6, 0);
        sl_store_le64(dst + 8, 0);
        sl_store_le64(dst + 16, have_ts ? ts : lane_now(p, l));
        if (len > 0)
            memcpy(dst + SL_WIRE_FRAME_HDR, data, len);
    }
    /* Release: the frame bytes above before the new tail (pairs with the
     * acquire in drain_lane()). */
    atomic_store_explicit(&l->tail, tail + frame, memory_order_release);
    count_event(l, len);
    return 0;
}

/* ---- the flush thread ---------------------------------------------------- */

static void
flush_thread(void *arg)
{
    sluice_producer *p = arg;
    uint64_t interval_ns = (uint64_t)p->flush_interval_ms * 1000000u;

    sl_mutex_lock(&p->ctl);
    while (!p->stopping) {
        (void)sl_cond_timedwait(&p->wake, &p->ctl, interval_ns);
        if (p->stopping)
            break;
        sl_mutex_unlock(&p->ctl);
        /* An early (spurious) wake-up just flushes a little sooner. */
        sl_mutex_lock(&p->write_lock);
        (void)drain_all(p);
        sl_mutex_unlock(&p->write_lock);
        sl_mutex_lock(&p->ctl);
    }
    sl_mutex_unlock(&p->ctl);
}

/* ---- the control plane ------------------------------------------------ */

/* Applies a STATE frame's payload. The reader thread (or open, before it
 * starts). */
static int
apply_state(sluice_producer *p, const uint8_t *pl, size_t len)
{
    sl_state_view v;
    cfg_snap *cur, *ns;

    if (sl_state_decode(pl, len, &v) != 0)
        return SL_EPROTO;
    for (size_t w = 0; w < SL_STATE_TYPES / 64; w++) {
        uint64_t bits = sl_load_le64(v.enabled + w * 8);

        if (atomic_load_explicit(&p->enabled[w], memory_order_relaxed) !=
            bits)
            atomic_store_explicit(&p->enabled[w], bits, memory_order_relaxed);
    }
    cur = atomic_load_explicit(&p->cfg, memory_order_relaxed);
    if (cur != NULL && cur->pairs_len == v.pairs_len &&
        memcmp(cur->pairs, v.pairs, v.pairs_len) == 0)
        return 0;
    ns = malloc(sizeof(*ns) + v.pairs_len + 4);
    if (ns == NULL)
        return SL_ENOMEM;
    ns->pairs_len = v.pairs_len;
    memcpy(ns->pairs, v.pairs, v.pairs_len);
    memset(ns->pairs + v.pairs_len, 0, 4);
    ns->next_all = p->cfg_all;
    p->cfg_all = ns;
    /* Release: the snapshot's bytes before the pointer (pairs with the
     * acquire in the config calls). */
    atomic_store_explicit(&p->cfg, ns, memory_order_release);
    return 0;
}

/* Reads exactly len bytes. */
static int
read_full(sl_transport *t, uint8_t *buf, size_t len, uint32_t timeout_ms)
{
    while (len > 0) {
        size_t n = 0;
        int rc = sl_transport_read(t, buf, len, &n, timeout_ms);

        if (rc != 0)
            return rc;
        if (n == 0)
            return SL_ECONNRESET;
        buf += n;
        len -= n;
    }
    return 0;
}

/* Reads one collector frame into buf (SL_WIRE_FRAME_HDR +
 * SL_STATE_PAYLOAD_MAX bytes). @return 0 with *type and *len (the whole
 * frame), or an error (SL_EPROTO: not a frame we know). */
static int
read_frame(sl_transport *t, uint8_t *buf, uint32_t timeout_ms,
           uint16_t *type, size_t *len)
{
    uint32_t flen;
    int rc = read_full(t, buf, SL_WIRE_FRAME_HDR, timeout_ms);

    if (rc != 0)
        return rc;
    flen = sl_load_le32(buf);
    *type = sl_load_le16(buf + 4);
    if (flen < SL_WIRE_FRAME_HDR ||
        flen > SL_WIRE_FRAME_HDR + SL_STATE_PAYLOAD_MAX)
        return SL_EPROTO;
    rc = read_full(t, buf + SL_WIRE_FRAME_HDR, flen - SL_WIRE_FRAME_HDR,
                   timeout_ms);
    *len = flen;
    return rc;
}

/* The reader thread: applies every STATE frame the collector pushes
 * until the stream ends (the collector closed, or close() interrupted
 * it). Frames of other types are skipped (later versions may add some). */
static void
reader_thread(void *arg)
{
    sluice_producer *p = arg;
    uint8_t *buf = malloc(SL_WIRE_FRAME_HDR + SL_STATE_PAYLOAD_MAX);

    if (buf == NULL)
        return;
    for (;;) {
        uint16_t type;
        size_t len;

        if (read_frame(p->t, buf, 0, &type, &len) != 0)
            break;
        if (type == SL_WIRE_T_STATE)
            (void)apply_state(p, buf + SL_WIRE_FRAME_HDR,
                              len - SL_WIRE_FRAME_HDR);
    }
    free(buf);
}

/* Protocol 1.1 at open: sends magic + hello (asking for the state and its
 * updates) at once, reads the STATE frame that answers it, and starts the
 * reader thread. */
static int
open_control(sluice_producer *p, uint32_t timeout_ms)
{
    size_t hello_len = atomic_load_explicit(&p->shared.tail,
                                            memory_order_relaxed);
    uint8_t *buf;
    uint16_t type = 0;
    size_t len = 0;
    int rc;

    rc = sl_transport_write(p->t, p->shared.buf, hello_len);
    if (rc != 0)
        return rc;
    atomic_store_explicit(&p->shared.tail, 0, memory_order_relaxed);
    p->magic_pending = 0;
    buf = malloc(SL_WIRE_FRAME_HDR + SL_STATE_PAYLOAD_MAX);
    if (buf == NULL)
        return SL_ENOMEM;
    rc = read_frame(p->t, buf, timeout_ms, &type, &len);
    if (rc == 0 && type != SL_WIRE_T_STATE)
        rc = SL_EPROTO;
    if (rc == 0)
        rc = apply_state(p, buf + SL_WIRE_FRAME_HDR, len - SL_WIRE_FRAME_HDR);
    free(buf);
    if (rc == SL_ETIMEDOUT || rc == SL_ECONNRESET)
        rc = SL_EPROTO; /* a 1.1 collector always answers the hello */
    return rc;
}

static void
free_config(sluice_producer *p)
{
    while (p->cfg_all != NULL) {
        cfg_snap *n = p->cfg_all->next_all;

        free(p->cfg_all);
        p->cfg_all = n;
    }
}

int
sluice_producer_enabled(const sluice_producer *p, uint16_t type)
{
    if (p == NULL || type >= SL_STATE_TYPES)
        return 0;
    return (int)(atomic_load_explicit(&p->enabled[type >> 6],
                                      memory_order_relaxed) >>
                     (type & 63) &
                 1u);
}

int
sluice_producer_config_next(const sluice_producer *p, const void **cursor,
                            const char **key, size_t *key_len,
                            const char **value, size_t *value_len)
{
    const uint8_t *e;
    size_t kl, vl;

    if (p == NULL || cursor == NULL)
        return SLUICE_EINVAL;
    e = *cursor;
    if (e == NULL) {
        const cfg_snap *c = atomic_load_explicit(
            &((sluice_producer *)p)->cfg, memory_order_acquire);

        if (c == NULL)
            return SLUICE_ENOENT;
        e = c->pairs;
    }
    kl = sl_load_le16(e);
    vl = sl_load_le16(e + 2);
    if (kl == 0)
        return SLUICE_ENOENT;
    if (key != NULL)
        *key = (const char *)e + 4;
    if (key_len != NULL)
        *key_len = kl;
    if (value != NULL)
        *value = (const char *)e + 4 + kl;
    if (value_len != NULL)
        *value_len = vl;
    *cursor = e + 4 + kl + vl;
    return 0;
}

int
sluice_producer_config_get(const sluice_producer *p, const char *key,
                           size_t key_len, const char **value,
                           size_t *value_len)
{
    const void *cur = NULL;
    const char *k, *v;
    size_t kl, vl;

    if (p == NULL || (key == NULL && key_len > 0))
        return SLUICE_EINVAL;
    while (sluice_producer_config_next(p, &cur, &k, &kl, &v, &vl) == 0)
        if (kl == key_len && memcmp(k, key, kl) == 0) {
            if (value != NULL)
                *value = v;
            if (value_len != NULL)
                *value_len = vl;
            return 0;
        }
    return SLUICE_ENOENT;
}

uint64_t
sluice_producer_filtered(const sluice_producer *p)
{
    uint64_t n = 0;

    if (p != NULL)
        for (const lane *l = &p->shared; l != NULL;
             l = atomic_load_explicit(&l->next, memory_order_acquire))
            n += atomic_load_explicit(&l->filtered, memory_order_relaxed);
    return n;
}

/* An event of a disabled type: counted, not sent. */
SL_COLD static int
filter_event(sluice_producer *p)
{
    lane *l = my_lane(p);

    if (l == &p->shared)
        atomic_fetch_add_explicit(&l->filtered, 1, memory_order_relaxed);
    else
        atomic_store_explicit(
            &l->filtered,
            atomic_load_explicit(&l->filtered, memory_order_relaxed) + 1,
            memory_order_relaxed);
    return 0;
}

/* ---- the API ------------------------------------------------------------- */

int
sluice_producer_open(const char *name, size_t name_len,
                     const sluice_producer_opts *opts, sluice_producer **out)
{
    sluice_producer_opts defaults;
    sluice_producer *p = NULL;
    char greeting[SL_WIRE_GREETING_MAX];
    char exe[SL_WIRE_NAME_MAX];
    const char *label;
    size_t label_len, glen, hello_len, cap;
    uint32_t version, max_frame, id, gtimeout;
    int rc;

    if (name == NULL || out == NULL)
        return SLUICE_EINVAL;
    if (opts == NULL) {
        sluice_producer_opts_init(&defaults);
        opts = &defaults;
    }
    /* protocol.md section 6: a name over 255 bytes can never be sent. */
    if (opts->name != NULL && opts->name_len > SL_WIRE_NAME_MAX)
        return SLUICE_ENAMETOOLONG;
    /* 0 (a zeroed struct) means the default; below the minimum is raised
     * to it, as the header's "at least 4096" promises. */
    cap = opts->buffer_bytes == 0 ? DEFAULT_BUFFER_BYTES : opts->buffer_bytes;
    if (cap < MIN_BUFFER_BYTES)
        cap = MIN_BUFFER_BYTES;

    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return SLUICE_ENOMEM;
    rc = lane_init(&p->shared, cap, 0);
    if (rc != 0)
        goto free_p;
    p->lane_bytes = cap;
    p->text = opts->text != 0;
    p->flush_interval_ms = opts->flush_interval_ms;
    p->gen = atomic_fetch_add_explicit(&next_gen, 1, memory_order_relaxed);
    atomic_init(&p->err, 0);
    atomic_init(&p->tsc_mult, 0);
    for (size_t w = 0; w < SL_STATE_TYPES / 64; w++)
        atomic_init(&p->enabled[w], ~(uint64_t)0);
    atomic_init(&p->cfg, NULL);
#if SL_TSC_CLOCK
    p->tsc_ok = tsc_usable() && tsc_pair(&p->cal_tsc, &p->cal_ns);
#endif

    rc = sl_transport_open(name, name_len, opts->connect_timeout_ms,
                           opts->collector_user, &p->t);
    if (rc != 0)
        goto free_buf;
    gtimeout = opts->connect_timeout_ms != 0 ? opts->connect_timeout_ms
                                             : GREETING_TIMEOUT_MS;
    rc = read_greeting(p->t, gtimeout, greeting, &glen);
    if (rc != 0)
        goto close_t;
    rc = sl_wire_parse_greeting(greeting, glen, &version, &max_frame, &id);
    if (rc == SL_EPROTO && refusal_error(greeting, glen) != 0)
        rc = refusal_error(greeting, glen);
    if (rc != 0)
        goto close_t;
    p->v11 = !p->text && sl_wire_greeting_cfg_field(greeting, glen) >= 0;
    if (max_frame < SL_WIRE_MAX_FRAME_MIN) {
        rc = SLUICE_EPROTO;
        goto close_t;
    }
    p->id = id;
    p->max_frame = max_frame;
    p->max_payload = p->text ? (size_t)max_frame - 1
                             : (size_t)max_frame - SL_WIRE_FRAME_HDR;
    /* Refuse here, before a byte is sent, what the collector would reject
     * later: every event of the caller would be lost. */
    if (opts->min_payload > p->max_payload) {
        rc = SLUICE_ETOOBIG;
        goto close_t;
    }

    if (!p->text) {
        /* Magic and hello go out with the first write, from the shared
         * lane, which every drain writes first. */
        if (opts->name != NULL) {
            label = opts->name;
            label_len = opts->name_len;
        } else {
            /* The default name is ours to shorten to what fits. */
            size_t fit = (size_t)max_frame - SL_WIRE_FRAME_HDR -
                         SL_WIRE_HELLO_FIXED;

            label = exe;
            label_len = exe_base_name(exe, fit < sizeof(exe) ? fit
                                                             : sizeof(exe));
        }
        /* The hello frame (header, 8 fixed bytes, name) must fit in
         * max-frame, or the collector closes us as BAD_HELLO and every
         * event is lost (protocol.md section 6). */
        if (label_len > (size_t)max_frame - SL_WIRE_FRAME_HDR -
                            SL_WIRE_HELLO_FIXED) {
            rc = SLUICE_ENAMETOOLONG;
            goto close_t;
        }
        if (p->v11)
            rc = sl_wire_hello_encode_want(
                p->shared.buf, p->shared.cap, sl_os_pid(), label, label_len,
                sl_os_now_ns(), SL_WIRE_WANT_ALL, &hello_len);
        else
            rc = sl_wire_hello_encode(p->shared.buf, p->shared.cap,
                                      sl_os_pid(), label, label_len,
                                      sl_os_now_ns(), &hello_len);
        if (rc != 0)
            goto close_t;
        atomic_store_explicit(&p->shared.tail, hello_len,
                              memory_order_relaxed);
        p->magic_pending = 1;
        if (p->v11) {
            rc = open_control(p, gtimeout > STATE_TIMEOUT_MS
                                     ? gtimeout : STATE_TIMEOUT_MS);
            if (rc != 0)
                goto close_t;
        }
    }

    sl_mutex_init(&p->write_lock);
    sl_mutex_init(&p->shared_lock);
    sl_mutex_init(&p->lanes_lock);
    sl_mutex_init(&p->ctl);
    sl_cond_init(&p->wake);
    if (p->flush_interval_ms > 0) {
        rc = sl_os_thread_start(flush_thread, p, &p->flusher);
        if (rc != 0)
            goto destroy_sync;
    }
    if (p->v11) {
        rc = sl_os_thread_start(reader_thread, p, &p->reader);
        if (rc != 0)
            goto stop_flusher;
    }
    *out = p;
    return 0;

stop_flusher:
    sl_mutex_lock(&p->ctl);
    p->stopping = 1;
    sl_cond_signal(&p->wake);
    sl_mutex_unlock(&p->ctl);
    sl_os_thread_join(p->flusher);
destroy_sync:
    sl_cond_destroy(&p->wake);
    sl_mutex_destroy(&p->ctl);
    sl_mutex_destroy(&p->lanes_lock);
    sl_mutex_destroy(&p->shared_lock);
    sl_mutex_destroy(&p->write_lock);
close_t:
    sl_transport_close(p->t);
    free_config(p);
free_buf:
    free(p->shared.buf);
free_p:
    free(p);
    return rc;
}

static SL_HOT_INLINE int
emit_common(sluice_producer *p, uint16_t type, int have_ts, uint64_t ts,
            const void *data, size_t len)
{
    lane *l;
    int rc;

    if (SL_UNLIKELY(p == NULL || (data == NULL && len > 0) ||
                    type > SLUICE_TYPE_MAX))
        return SLUICE_EINVAL;
    /* One relaxed load and a bit test (see `enabled`). */
    if (SL_UNLIKELY(!((atomic_load_explicit(&p->enabled[type >> 6],
                                            memory_order_relaxed) >>
                       (type & 63)) &
                      1u)))
        return filter_event(p);
    if (SL_UNLIKELY(len > p->max_payload))
        return SLUICE_ETOOBIG;
    if (p->text && len > 0 && memchr(data, '\n', len) != NULL)
        return SLUICE_EINVAL;
    l = my_lane(p);
    if (l != &p->shared)
        return append(p, l, type, have_ts, ts, data, len);
    sl_mutex_lock(&p->shared_lock);
    rc = append(p, l, type, have_ts, ts, data, len);
    sl_mutex_unlock(&p->shared_lock);
    return rc;
}

int
sluice_producer_emit(sluice_producer *p, uint16_t type, const void *data,
                     size_t len)
{
    return emit_common(p, type, 0, 0, data, len);
}

int
sluice_producer_emit_ts(sluice_producer *p, uint16_t type, uint64_t ts_ns,
                        const void *data, size_t len)
{
    return emit_common(p, type, 1, ts_ns, data, len);
}

int
sluice_producer_flush(sluice_producer *p)
{
    int rc;

    if (p == NULL)
        return SLUICE_EINVAL;
    sl_mutex_lock(&p->write_lock);
    rc = drain_all(p);
    if (rc == 0)
        rc = atomic_load_explicit(&p->err, memory_order_relaxed);
    sl_mutex_unlock(&p->write_lock);
    return rc;
}

uint32_t
sluice_producer_id(const sluice_producer *p)
{
    return p != NULL ? p->id : 0;
}

size_t
sluice_producer_max_payload(const sluice_producer *p)
{
    return p != NULL ? p->max_payload : 0;
}

void
sluice_producer_counts(const sluice_producer *p, uint64_t *events,
                       uint64_t *bytes)
{
    uint64_t ev = 0, by = 0;

    if (p != NULL)
        for (const lane *l = &p->shared; l != NULL;
             l = atomic_load_explicit(&l->next, memory_order_acquire)) {
            ev += atomic_load_explicit(&l->events, memory_order_relaxed);
            by += atomic_load_explicit(&l->bytes, memory_order_relaxed);
        }
    if (events != NULL)
        *events = ev;
    if (bytes != NULL)
        *bytes = by;
}

int
sluice_producer_close(sluice_producer *p)
{
    lane *l, *next;
    int rc;

    if (p == NULL)
        return 0;
    sl_mutex_lock(&p->ctl);
    p->stopping = 1;
    sl_cond_signal(&p->wake);
    sl_mutex_unlock(&p->ctl);
    sl_os_thread_join(p->flusher);

    /* The flush thread is gone; no other call may run during close. */
    sl_mutex_lock(&p->write_lock);
    rc = drain_all(p);
    if (rc == 0)
        rc = atomic_load_explicit(&p->err, memory_order_relaxed);
    sl_mutex_unlock(&p->write_lock);

    /* The reader ends at the end of the stream; interrupt makes that
     * now. */
    if (p->reader != NULL) {
        sl_transport_interrupt(p->t);
        sl_os_thread_join(p->reader);
    }
    sl_transport_close(p->t);
    free_config(p);
    for (l = atomic_load_explicit(&p->shared.next, memory_order_relaxed);
         l != NULL; l = next) {
        next = atomic_load_explicit(&l->next, memory_order_relaxed);
        free(l->buf);
        free(l);
    }
    sl_cond_destroy(&p->wake);
    sl_mutex_destroy(&p->ctl);
    sl_mutex_destroy(&p->lanes_lock);
    sl_mutex_destroy(&p->shared_lock);
    sl_mutex_destroy(&p->write_lock);
    free(p->shared.buf);
    free(p);
    return rc;
}
