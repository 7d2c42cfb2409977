/*
 * Tests for the wire protocol parser and encoders (format/wire.c).
 *
 * The central property is split independence: a pipe or socket may deliver
 * a stream in chunks cut at any byte, and the events, their order and the
 * verdict on a violation must not depend on where the cuts fall. The
 * harness below behaves like the collector's worker: it appends each chunk
 * to the bytes sl_wire_parse() left unconsumed, parses until a call returns
 * fewer events than its cap, keeps the rest, and calls sl_wire_finish() at
 * the end. Every buffer handed to the parser is a heap block of exactly
 * the bytes presented, so AddressSanitizer builds catch any read past
 * them. The limits, the greeting and the golden example of
 * docs/protocol.md are tested directly.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "wire.h"

TestSuite(wire, .timeout = 30.0);

/* ------------------------------------------------------------------ */
/* Growable byte buffer and recorded events                            */

typedef struct bytes {
    uint8_t *p;
    size_t len;
    size_t cap;
} bytes;

static void
bytes_reserve(bytes *b, size_t more)
{
    if (b->len + more > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + more)
            cap *= 2;
        b->p = realloc(b->p, cap);
        cr_assert_not_null(b->p);
        b->cap = cap;
    }
}

static void
bytes_put(bytes *b, const void *src, size_t n)
{
    bytes_reserve(b, n);
    if (n > 0)
        memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void
bytes_str(bytes *b, const char *s)
{
    bytes_put(b, s, strlen(s));
}

static void
bytes_free(bytes *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* One event as the caller saw it, its payload copied out of the buffer
 * that the caller reuses. */
typedef struct rec {
    uint16_t type;
    uint64_t seq;
    uint64_t ts;
    uint32_t len;
    uint8_t *data;
} rec;

typedef struct run {
    rec *ev;
    size_t n;
    size_t cap;
    int rc;          /* first nonzero parse/finish result, else 0 */
    uint32_t reason; /* w.reason at the end */
    sl_wire_mode mode;
    uint32_t pid;
    char name[SL_WIRE_NAME_MAX + 1];
} run;

static void
run_add(run *r, const sl_wire_event *e)
{
    rec *x;

    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->ev = realloc(r->ev, r->cap * sizeof(*r->ev));
        cr_assert_not_null(r->ev);
    }
    x = &r->ev[r->n++];
    x->type = e->type;
    x->seq = e->seq;
    x->ts = e->ts;
    x->len = e->len;
    x->data = malloc(e->len ? e->len : 1);
    cr_assert_not_null(x->data);
    cr_assert_not_null(e->payload);
    if (e->len > 0)
        memcpy(x->data, e->payload, e->len);
}

static void
run_free(run *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->ev[i].data);
    free(r->ev);
    memset(r, 0, sizeof(*r));
}

/* A heap copy of exactly n bytes (one spare byte is never handed out). */
static uint8_t *
exact_copy(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    uint8_t *p = malloc(an + bn ? an + bn : 1);

    cr_assert_not_null(p);
    if (an > 0)
        memcpy(p, a, an);
    if (bn > 0)
        memcpy(p + an, b, bn);
    return p;
}

/*
 * Feeds stream[0..total) in chunks of the given sizes (the last chunk
 * takes whatever is left), with evcap events per parse call, exactly as a
 * worker would, and records everything into *out.
 */
static void
feed(const uint8_t *stream, size_t total, uint32_t max_frame,
     const size_t *chunks, size_t n_chunks, size_t evcap, run *out)
{
    sl_wire w;
    sl_wire_event ev[32];
    uint8_t *pend = NULL;
    size_t plen = 0;
    size_t off = 0;
    size_t ci = 0;
    int rc = 0;

    cr_assert(evcap >= 1 && evcap <= 32);
    memset(out, 0, sizeof(*out));
    sl_wire_init(&w, max_frame);

    while (off < total && rc == 0) {
        size_t c = total - off;
        size_t blen, at = 0;
        uint8_t *b;

        if (ci < n_chunks && chunks[ci] < c)
            c = chunks[ci];
        ci++;
        b = exact_copy(pend, plen, stream + off, c);
        free(pend);
        off += c;
        blen = plen + c;

        for (;;) {
            size_t n = 99, used = 99;
            rc = sl_wire_parse(&w, b + at, blen - at, ev, evcap, &n, &used);
            cr_assert_leq(n, evcap);
            cr_assert_leq(used, blen - at);
            for (size_t i = 0; i < n; i++) {
                /* Payloads lie inside the bytes the call consumed. */
                if (ev[i].len > 0) {
                    cr_assert_geq(ev[i].payload, b + at);
                    cr_assert_leq(ev[i].payload + ev[i].len, b + at + used);
                }
                run_add(out, &ev[i]);
            }
            at += used;
            if (rc != 0 || n < evcap)
                break;
        }
        if (rc == 0) {
            /* The worker never has to hold more than sl_wire_need(). */
            size_t need = sl_wire_need(&w, b + at, blen - at);
            cr_assert_leq(need, w.max_frame);
            cr_assert_lt(blen - at, need, "kept %zu bytes, need %zu",
                         blen - at, need);
        }
        plen = blen - at;
        pend = exact_copy(b + at, plen, NULL, 0);
        free(b);
    }

    if (rc == 0) {
        size_t n = 99;
        rc = sl_wire_finish(&w, pend, plen, ev, SL_WIRE_FINISH_EV_MAX, &n);
        for (size_t i = 0; i < n; i++)
            run_add(out, &ev[i]);
    } else {
        /* A failed parser repeats its verdict and yields nothing. */
        size_t n = 99, used = 99;
        uint8_t one = 'x';
        cr_assert_eq(sl_wire_parse(&w, &one, 1, ev, evcap, &n, &used), rc);
        cr_assert_eq(n, 0);
        cr_assert_eq(used, 0);
        cr_assert_eq(sl_wire_finish(&w, &one, 1, ev, 2, &n), rc);
        cr_assert_eq(n, 0);
    }
    free(pend);

    out->rc = rc;
    out->reason = w.reason;
    out->mode = w.mode;
    out->pid = w.pid;
    memcpy(out->name, w.name, sizeof(out->name));
}

static void
feed_whole(const uint8_t *stream, size_t total, uint32_t max_frame, run *out)
{
    feed(stream, total, max_frame, NULL, 0, 32, out);
}

static void
assert_same(const run *a, const run *b, const char *what)
{
    cr_assert_eq(a->rc, b->rc, "%s: rc %d vs %d", what, a->rc, b->rc);
    cr_assert_eq(a->reason, b->reason, "%s: reason %s vs %s", what,
                 sl_wire_reason_name(a->reason),
                 sl_wire_reason_name(b->reason));
    cr_assert_eq(a->n, b->n, "%s: %zu events vs %zu", what, a->n, b->n);
    cr_assert_eq(a->mode, b->mode, "%s", what);
    cr_assert_eq(a->pid, b->pid, "%s", what);
    cr_assert_str_eq(a->name, b->name, "%s", what);
    for (size_t i = 0; i < a->n; i++) {
        const rec *x = &a->ev[i], *y = &b->ev[i];
        cr_assert_eq(x->type, y->type, "%s: event %zu type", what, i);
        cr_assert_eq(x->seq, y->seq, "%s: event %zu seq", what, i);
        cr_assert_eq(x->ts, y->ts, "%s: event %zu ts", what, i);
        cr_assert_eq(x->len, y->len, "%s: event %zu len", what, i);
        cr_assert(memcmp(x->data, y->data, x->len) == 0,
                  "%s: event %zu payload", what, i);
    }
}

/* Deterministic xorshift64*, so a failing seed can be replayed. */
static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

/*
 * Checks split independence for one stream: the unsplit parse is the
 * reference; every two-chunk split, 1-byte chunks and random chunkings
 * must give the same events and the same verdict.
 */
static void
check_all_splits(const uint8_t *s, size_t total, uint32_t max_frame,
                 const run *ref)
{
    static const size_t caps[] = {1, 2, 3, 32};
    size_t *ones;
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    char what[64];

    for (size_t k = 0; k <= total; k++) {
        size_t ch[1] = {k};
        run r;
        feed(s, total, max_frame, ch, 1, caps[k % 4], &r);
        snprintf(what, sizeof(what), "split at %zu", k);
        assert_same(ref, &r, what);
        run_free(&r);
    }

    ones = malloc((total ? total : 1) * sizeof(*ones));
    cr_assert_not_null(ones);
    for (size_t i = 0; i < total; i++)
        ones[i] = 1;
    for (size_t c = 0; c < 4; c++) {
        run r;
        feed(s, total, max_frame, ones, total, caps[c], &r);
        snprintf(what, sizeof(what), "1-byte chunks, cap %zu", caps[c]);
        assert_same(ref, &r, what);
        run_free(&r);
    }

    for (int round = 0; round < 40; round++) {
        size_t n = 0;
        run r;
        size_t maxc = 1 + (size_t)(rnd(&seed) % (2u * max_frame));
        for (size_t done = 0; done < total; n++) {
            ones[n] = 1 + (size_t)(rnd(&seed) % maxc);
            done += ones[n];
        }
        feed(s, total, max_frame, ones, n, caps[round % 4], &r);
        snprintf(what, sizeof(what), "random round %d", round);
        assert_same(ref, &r, what);
        run_free(&r);
    }
    free(ones);
}

/* ------------------------------------------------------------------ */
/* Stream builders                                                     */

static void
put_hello(bytes *b, uint32_t pid, const char *name, uint64_t ts)
{
    uint8_t tmp[SL_WIRE_MAGIC_LEN + SL_WIRE_FRAME_HDR + SL_WIRE_HELLO_FIXED +
                SL_WIRE_NAME_MAX];
    size_t len = 0;

    cr_assert_eq(sl_wire_hello_encode(tmp, sizeof(tmp), pid, name,
                                      strlen(name), ts, &len),
                 0);
    bytes_put(b, tmp, len);
}

/* A frame with an explicit header; body_len payload bytes follow it. */
static void
put_frame_raw(bytes *b, uint32_t length, uint16_t type, uint16_t flags,
              uint64_t seq, uint64_t ts, size_t body_len)
{
    uint8_t hdr[SL_WIRE_FRAME_HDR];

    sl_wire_frame_header(hdr, length, type, seq, ts);
    sl_store_le16(hdr + 6, flags);
    bytes_put(b, hdr, sizeof(hdr));
    bytes_reserve(b, body_len);
    for (size_t i = 0; i < body_len; i++)
        b->p[b->len + i] = (uint8_t)(i * 7u + seq * 13u + 1u);
    b->len += body_len;
}

static void
put_frame(bytes *b, uint16_t type, uint64_t seq, size_t payload_len)
{
    put_frame_raw(b, (uint32_t)(SL_WIRE_FRAME_HDR + payload_len), type, 0,
                  seq, 1000000u + seq, payload_len);
}

/* The binary stream of the split tests: hello, then frames with every
 * payload size from 0 to the largest that max_frame allows, twice at the
 * maximum. Returns the number of event frames. */
static size_t
build_binary(bytes *b, uint32_t max_frame)
{
    size_t top = max_frame - SL_WIRE_FRAME_HDR;
    uint64_t seq = 0;

    put_hello(b, 4242, "splitter", 777);
    for (size_t n = 0; n <= top; n++)
        put_frame(b, (uint16_t)(n % 5u), seq++, n);
    put_frame(b, 0xEFFF, seq++, top);
    put_frame(b, 9, seq++, 0);
    return (size_t)seq;
}

/* ------------------------------------------------------------------ */
/* Binary mode                                                         */

Test(wire, binary_stream_parses_to_hello_and_every_frame)
{
    bytes b = {0};
    run r;
    size_t frames = build_binary(&b, 128);

    feed_whole(b.p, b.len, 128, &r);
    cr_assert_eq(r.rc, 0);
    cr_assert_eq(r.reason, SL_WIRE_R_EOF);
    cr_assert_eq(r.mode, SL_WIRE_MODE_BINARY);
    cr_assert_eq(r.pid, 4242);
    cr_assert_str_eq(r.name, "splitter");
    cr_assert_eq(r.n, frames + 1);

    cr_assert_eq(r.ev[0].type, SL_WIRE_T_HELLO);
    cr_assert_eq(r.ev[0].len, SL_WIRE_HELLO_FIXED + 8);
    cr_assert_eq(r.ev[0].ts, 777);
    cr_assert_eq(sl_load_le32(r.ev[0].data), 4242);
    cr_assert(memcmp(r.ev[0].data + 8, "splitter", 8) == 0);

    for (size_t i = 1; i < r.n; i++) {
        const rec *e = &r.ev[i];
        cr_assert_eq(e->seq, i - 1);
        cr_assert_eq(e->ts, 1000000u + (i - 1));
        for (size_t j = 0; j < e->len; j++)
            cr_assert_eq(e->data[j], (uint8_t)(j * 7u + e->seq * 13u + 1u));
    }
    cr_assert_eq(r.ev[1].len, 0);
    cr_assert_eq(r.ev[105].len, 128 - SL_WIRE_FRAME_HDR); /* exactly max */
    cr_assert_eq(r.ev[106].type, 0xEFFF);
    cr_assert_eq(r.ev[106].len, 128 - SL_WIRE_FRAME_HDR);
    run_free(&r);
    bytes_free(&b);
}

Test(wire, binary_stream_is_split_independent)
{
    bytes b = {0};
    run ref;

    build_binary(&b, 128);
    feed_whole(b.p, b.len, 128, &ref);
    cr_assert_eq(ref.rc, 0);
    check_all_splits(b.p, b.len, 128, &ref);
    run_free(&ref);
    bytes_free(&b);
}

/* A short valid prefix (hello and three events) for the violation tests. */
static void
build_prefix(bytes *b)
{
    put_hello(b, 7, "v", 1);
    put_frame(b, 1, 0, 0);
    put_frame(b, 2, 1, 5);
    put_frame(b, 3, 2, 40);
}

static void
check_violation(const bytes *b, uint32_t max_frame, size_t events, int rc,
                uint32_t reason)
{
    run ref;

    feed_whole(b->p, b->len, max_frame, &ref);
    cr_assert_eq(ref.rc, rc, "rc %d, want %d (%s)", ref.rc, rc,
                 sl_wire_reason_name(reason));
    cr_assert_eq(ref.reason, reason, "reason %s, want %s",
                 sl_wire_reason_name(ref.reason), sl_wire_reason_name(reason));
    cr_assert_eq(ref.n, events);
    check_all_splits(b->p, b->len, max_frame, &ref);
    run_free(&ref);
}

Test(wire, frame_too_big_is_decided_from_the_length_alone)
{
    /* Only the four length bytes of the bad frame ever arrive: a parser
     * that waited for the body would call this stream TRUNCATED. */
    static const uint32_t lens[] = {129, 0xFFFFFFFFu};

    for (size_t i = 0; i < 2; i++) {
        bytes b = {0};
        uint8_t len4[4];
        build_prefix(&b);
        sl_store_le32(len4, lens[i]);
        bytes_put(&b, len4, 4);
        check_violation(&b, 128, 4, SL_ETOOBIG, SL_WIRE_R_FRAME_TOO_BIG);
        bytes_free(&b);
    }
}

Test(wire, frame_too_small_is_decided_from_the_length_alone)
{
    static const uint32_t lens[] = {0, 1, 23};

    for (size_t i = 0; i < 3; i++) {
        bytes b = {0};
        uint8_t len4[4];
        build_prefix(&b);
        sl_store_le32(len4, lens[i]);
        bytes_put(&b, len4, 4);
        check_violation(&b, 128, 4, SL_EPROTO, SL_WIRE_R_FRAME_TOO_SMALL);
        bytes_free(&b);
    }
}

Test(wire, reserved_type_and_flags_are_decided_from_eight_bytes)
{
    static const struct {
        uint16_t type, flags;
        uint32_t reason;
    } cases[] = {
        {0xF000, 0, SL_WIRE_R_BAD_TYPE},
        {0xFFFF, 0, SL_WIRE_R_BAD_TYPE},
        {SL_WIRE_T_HELLO, 0, SL_WIRE_R_BAD_TYPE}, /* a second hello */
        {0xF000, 1, SL_WIRE_R_BAD_TYPE},          /* type is checked first */
        {1, 1, SL_WIRE_R_BAD_FLAGS},
        {1, 0x8000, SL_WIRE_R_BAD_FLAGS},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bytes b = {0};
        bytes full = {0};
        build_prefix(&b);
        put_frame_raw(&b, 40, cases[i].type, cases[i].flags, 3, 0, 0);
        b.len -= SL_WIRE_FRAME_HDR - 8; /* the stream ends after 8 bytes */
        check_violation(&b, 128, 4, SL_EPROTO, cases[i].reason);

        /* The same verdict when the whole frame and more follow. */
        build_prefix(&full);
        put_frame_raw(&full, 40, cases[i].type, cases[i].flags, 3, 0, 16);
        put_frame(&full, 1, 4, 3);
        check_violation(&full, 128, 4, SL_EPROTO, cases[i].reason);
        bytes_free(&b);
        bytes_free(&full);
    }
}

Test(wire, frame_length_limits)
{
    static const struct {
        uint32_t length;
        int rc;
        uint32_t reason;
    } cases[] = {
        {0, SL_EPROTO, SL_WIRE_R_FRAME_TOO_SMALL},
        {23, SL_EPROTO, SL_WIRE_R_FRAME_TOO_SMALL},
        {24, 0, SL_WIRE_R_EOF},
        {100, 0, SL_WIRE_R_EOF},
        {128, 0, SL_WIRE_R_EOF},
        {129, SL_ETOOBIG, SL_WIRE_R_FRAME_TOO_BIG},
        {0xFFFFFFFFu, SL_ETOOBIG, SL_WIRE_R_FRAME_TOO_BIG},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint32_t length = cases[i].length;
        size_t body = length >= 24 && length <= 128 ? length - 24u : 8u;
        bytes b = {0};
        run r;

        build_prefix(&b);
        put_frame_raw(&b, length, 1, 0, 3, 5, body);
        feed_whole(b.p, b.len, 128, &r);
        cr_assert_eq(r.rc, cases[i].rc, "length %u", length);
        cr_assert_eq(r.reason, cases[i].reason, "length %u", length);
        if (r.rc == 0) {
            cr_assert_eq(r.n, 5);
            cr_assert_eq(r.ev[4].len, length - 24u);
        } else {
            cr_assert_eq(r.n, 4, "events before the violation are kept");
        }
        run_free(&r);
        bytes_free(&b);
    }
}

Test(wire, violation_keeps_earlier_events_and_consumed_covers_them)
{
    bytes b = {0};
    sl_wire w;
    sl_wire_event ev[16];
    size_t n, used, good;

    build_prefix(&b);
    good = b.len;
    put_frame_raw(&b, 40, 0xF123, 0, 9, 0, 16);
    sl_wire_init(&w, 128);
    cr_assert_eq(sl_wire_parse(&w, b.p, b.len, ev, 16, &n, &used),
                 SL_EPROTO);
    cr_assert_eq(n, 4);
    cr_assert_eq(used, good);
    cr_assert_eq(ev[3].len, 40);
    cr_assert_eq(w.failed, 1);
    cr_assert_eq(w.reason, SL_WIRE_R_BAD_TYPE);
    cr_assert_str_eq(sl_wire_reason_name(w.reason), "BAD_TYPE");

    cr_assert_eq(sl_wire_parse(&w, b.p, b.len, ev, 16, &n, &used),
                 SL_EPROTO);
    cr_assert_eq(n, 0);
    cr_assert_eq(used, 0);
    bytes_free(&b);
}

Test(wire, event_cap_stops_before_a_later_violation)
{
    bytes b = {0};
    sl_wire w;
    sl_wire_event ev[4];
    size_t n, used;

    build_prefix(&b);
    put_frame_raw(&b, 10, 1, 0, 0, 0, 0);
    sl_wire_init(&w, 128);
    cr_assert_eq(sl_wire_parse(&w, b.p, b.len, ev, 2, &n, &used), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(sl_wire_parse(&w, b.p + used, b.len - used, ev, 2, &n,
                               &used),
                 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(w.failed, 0);
    bytes_free(&b);
}

/* Builds magic + one raw first frame + a valid event frame after it. */
static void
check_bad_hello(const uint8_t *frame, size_t frame_len, uint32_t max_frame)
{
    bytes b = {0};

    bytes_put(&b, SL_WIRE_MAGIC, SL_WIRE_MAGIC_LEN);
    bytes_put(&b, frame, frame_len);
    put_frame(&b, 1, 0, 4);
    check_violation(&b, max_frame, 0, SL_EPROTO, SL_WIRE_R_BAD_HELLO);
    bytes_free(&b);
}

static size_t
hello_frame(uint8_t *f, uint32_t length, uint16_t type, uint16_t flags,
            uint16_t name_len, uint16_t reserved, size_t name_bytes)
{
    sl_wire_frame_header(f, length, type, 0, 0);
    sl_store_le16(f + 6, flags);
    sl_store_le32(f + 24, 99);
    sl_store_le16(f + 28, name_len);
    sl_store_le16(f + 30, reserved);
    memset(f + 32, 'n', name_bytes);
    return 32 + name_bytes;
}

Test(wire, hello_must_come_first_and_be_well_formed)
{
    uint8_t f[600];
    size_t n;

    /* name_len 256 with 256 name bytes present */
    n = hello_frame(f, 32 + 256, SL_WIRE_T_HELLO, 0, 256, 0, 256);
    check_bad_hello(f, n, 1024);
    /* name_len overrunning its frame */
    n = hello_frame(f, 32 + 4, SL_WIRE_T_HELLO, 0, 10, 0, 4);
    check_bad_hello(f, n, 1024);
    /* reserved field nonzero */
    n = hello_frame(f, 32 + 4, SL_WIRE_T_HELLO, 0, 4, 1, 4);
    check_bad_hello(f, n, 1024);
    /* flags nonzero */
    n = hello_frame(f, 32 + 4, SL_WIRE_T_HELLO, 1, 4, 0, 4);
    check_bad_hello(f, n, 1024);
    /* an ordinary event first */
    n = hello_frame(f, 32 + 4, 1, 0, 4, 0, 4);
    check_bad_hello(f, n, 1024);
    /* too short for the fixed hello fields */
    n = hello_frame(f, 31, SL_WIRE_T_HELLO, 0, 0, 0, 0);
    check_bad_hello(f, n - 1, 1024);
    /* lengths that would be FRAME_TOO_SMALL / FRAME_TOO_BIG later */
    n = hello_frame(f, 0, SL_WIRE_T_HELLO, 0, 0, 0, 0);
    check_bad_hello(f, n, 1024);
    n = hello_frame(f, 0xFFFFFFFFu, SL_WIRE_T_HELLO, 0, 0, 0, 0);
    check_bad_hello(f, n, 1024);
    /* a 255-byte name does not fit a 64-byte max frame */
    n = hello_frame(f, 32 + 255, SL_WIRE_T_HELLO, 0, 255, 0, 255);
    check_bad_hello(f, n, 64);
}

Test(wire, hello_accepts_long_names_and_ignores_trailing_bytes)
{
    uint8_t f[600];
    bytes b = {0};
    size_t n;
    run r;

    /* 255-byte name */
    bytes_put(&b, SL_WIRE_MAGIC, SL_WIRE_MAGIC_LEN);
    n = hello_frame(f, 32 + 255, SL_WIRE_T_HELLO, 0, 255, 0, 255);
    bytes_put(&b, f, n);
    feed_whole(b.p, b.len, 1024, &r);
    cr_assert_eq(r.rc, 0);
    cr_assert_eq(r.pid, 99);
    cr_assert_eq(strlen(r.name), 255);
    cr_assert_eq(r.n, 1);
    cr_assert_eq(r.ev[0].len, 8 + 255);
    run_free(&r);

    /* bytes after the name are reserved for later versions */
    b.len = SL_WIRE_MAGIC_LEN;
    n = hello_frame(f, 32 + 3 + 5, SL_WIRE_T_HELLO, 0, 3, 0, 8);
    bytes_put(&b, f, n);
    put_frame(&b, 1, 0, 2);
    feed_whole(b.p, b.len, 1024, &r);
    cr_assert_eq(r.rc, 0);
    cr_assert_str_eq(r.name, "nnn");
    cr_assert_eq(r.n, 2);
    cr_assert_eq(r.ev[0].len, 16);
    run_free(&r);

    /* an empty name */
    b.len = 0;
    put_hello(&b, 1, "", 0);
    feed_whole(b.p, b.len, 64, &r);
    cr_assert_eq(r.rc, 0);
    cr_assert_str_eq(r.name, "");
    cr_assert_eq(r.n, 1);
    run_free(&r);
    bytes_free(&b);
}

Test(wire, binary_end_of_stream_inside_a_frame_is_truncated)
{
    bytes b = {0};
    size_t whole;

    build_prefix(&b);
    whole = b.len;
    put_frame(&b, 1, 3, 10);
    /* Cut the last frame after 1, 4, 23, 24 and 33 of its 34 bytes. */
    static const size_t cuts[] = {1, 4, 23, 24, 33};
    for (size_t i = 0; i < 5; i++) {
        run r;
        feed_whole(b.p, whole + cuts[i], 128, &r);
        cr_assert_eq(r.rc, SL_ETRUNC);
        cr_assert_eq(r.reason, SL_WIRE_R_TRUNCATED);
        cr_assert_eq(r.n, 4);
        run_free(&r);
    }
    bytes_free(&b);
}

Test(wire, binary_end_of_stream_before_the_hello_is_truncated)
{
    bytes b = {0};

    put_hello(&b, 5, "abc", 0);
    /* magic only, magic plus part of the hello */
    for (size_t cut = SL_WIRE_MAGIC_LEN; cut < b.len; cut++) {
        run r;
        feed_whole(b.p, cut, 128, &r);
        cr_assert_eq(r.rc, SL_ETRUNC, "cut %zu", cut);
        cr_assert_eq(r.reason, SL_WIRE_R_TRUNCATED);
        cr_assert_eq(r.n, 0);
        run_free(&r);
    }
    bytes_free(&b);
}

Test(wire, finish_without_parse_detects_the_mode_itself)
{
    bytes b = {0};
    sl_wire w;
    sl_wire_event ev[2];
    size_t n;

    put_hello(&b, 5, "abc", 0);
    sl_wire_init(&w, 128);
    cr_assert_eq(sl_wire_finish(&w, b.p, SL_WIRE_MAGIC_LEN, ev, 2, &n),
                 SL_ETRUNC);
    cr_assert_eq(w.mode, SL_WIRE_MODE_BINARY);
    cr_assert_eq(n, 0);

    sl_wire_init(&w, 128);
    cr_assert_eq(sl_wire_finish(&w, (const uint8_t *)"plain", 5, ev, 2, &n),
                 0);
    cr_assert_eq(w.mode, SL_WIRE_MODE_TEXT);
    cr_assert_eq(n, 2);
    cr_assert_eq(ev[0].type, SL_WIRE_T_HELLO);
    cr_assert_eq(ev[1].len, 5);
    bytes_free(&b);
}

Test(wire, event_cap_zero_consumes_only_the_magic)
{
    bytes b = {0};
    sl_wire w;
    sl_wire_event ev[4];
    size_t n, used;

    put_hello(&b, 5, "abc", 0);
    sl_wire_init(&w, 128);
    cr_assert_eq(sl_wire_parse(&w, b.p, b.len, NULL, 0, &n, &used), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(used, SL_WIRE_MAGIC_LEN);
    cr_assert_eq(sl_wire_parse(&w, b.p + used, b.len - used, ev, 4, &n,
                               &used),
                 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(ev[0].type, SL_WIRE_T_HELLO);
    bytes_free(&b);
}

Test(wire, magic_prefix_waits_and_mismatch_means_text)
{
    sl_wire w;
    sl_wire_event ev[4];
    size_t n, used;

    for (size_t k = 1; k < SL_WIRE_MAGIC_LEN; k++) {
        uint8_t buf[SL_WIRE_MAGIC_LEN];
        memcpy(buf, SL_WIRE_MAGIC, k);

        sl_wire_init(&w, 64);
        cr_assert_eq(sl_wire_parse(&w, buf, k, ev, 4, &n, &used), 0);
        cr_assert_eq(w.mode, SL_WIRE_MODE_UNKNOWN);
        cr_assert_eq(n, 0);
        cr_assert_eq(used, 0);

        /* One wrong byte after a matching prefix decides text; from
         * six bytes on the prefix holds the line "\x89SLU\r\n". */
        buf[k] = 'x';
        cr_assert_eq(sl_wire_parse(&w, buf, k + 1, ev, 4, &n, &used), 0);
        cr_assert_eq(w.mode, SL_WIRE_MODE_TEXT);
        cr_assert_eq(ev[0].type, SL_WIRE_T_HELLO);
        if (k < 6) {
            cr_assert_eq(n, 1);
            cr_assert_eq(used, 0);
        } else {
            cr_assert_eq(n, 2);
            cr_assert_eq(used, 6);
            cr_assert_eq(ev[1].len, 4);
            cr_assert(memcmp(ev[1].payload, "\x89SLU", 4) == 0);
        }
    }
}

Test(wire, mutated_streams_are_split_independent)
{
    /* Valid streams with a few random bytes overwritten, and pure noise:
     * whatever the verdict, it must not depend on the chunking, and the
     * exact-size buffers let ASan builds catch any read out of bounds. */
    uint64_t seed = 0xD1B54A32D192ED03ULL;

    for (int round = 0; round < 60; round++) {
        bytes b = {0};
        run ref;
        int kind = round % 3;

        if (kind == 2) {
            size_t n = 1 + (size_t)(rnd(&seed) % 300u);
            bytes_reserve(&b, n);
            for (size_t i = 0; i < n; i++)
                b.p[i] = (uint8_t)rnd(&seed);
            b.len = n;
            if (round % 2 == 0)
                memcpy(b.p, SL_WIRE_MAGIC, n < 8 ? n : 8);
        } else {
            uint64_t seq = 0;
            put_hello(&b, 3, "mut", 0);
            for (int f = 0; f < 12; f++)
                put_frame(&b, (uint16_t)f, seq++,
                          (size_t)(rnd(&seed) % 41u));
            if (kind == 1)
                bytes_str(&b, "line one\nline\r\n\n\r\r");
            for (int flip = 0; flip < 3; flip++) {
                size_t at = (size_t)(rnd(&seed) % b.len);
                b.p[at] = (uint8_t)rnd(&seed);
            }
        }
        feed_whole(b.p, b.len, 64, &ref);
        check_all_splits(b.p, b.len, 64, &ref);
        run_free(&ref);
        bytes_free(&b);
    }
}

/* ------------------------------------------------------------------ */
/* Text mode                                                           */

static void
expect_lines(const run *r, const char *const *lines, size_t n_lines)
{
    cr_assert_eq(r->n, n_lines + 1, "%zu events, want %zu", r->n,
                 n_lines + 1);
    cr_assert_eq(r->ev[0].type, SL_WIRE_T_HELLO);
    cr_assert_eq(r->ev[0].len, 0);
    for (size_t i = 0; i < n_lines; i++) {
        const rec *e = &r->ev[i + 1];
        cr_assert_eq(e->type, SL_WIRE_T_TEXT);
        cr_assert_eq(e->seq, i);
        cr_assert_eq(e->ts, 0);
        cr_assert_eq(e->len, strlen(lines[i]), "line %zu: len %u", i,
                     e->len);
        cr_assert(memcmp(e->data, lines[i], e->len) == 0, "line %zu", i);
    }
}

Test(wire, text_lines_strip_one_cr_before_lf_only)
{
    static const char stream[] = "first\r\n"
                                 "\n"
                                 "\r\n"
                                 "a\rb\n"
                                 "\r\r\n"
                                 "tail\r";
    static const char *const lines[] = {"first", "", "", "a\rb", "\r",
                                        "tail\r"};
    run r;

    feed_whole((const uint8_t *)stream, sizeof(stream) - 1, 64, &r);
    cr_assert_eq(r.rc, 0);
    cr_assert_eq(r.mode, SL_WIRE_MODE_TEXT);
    cr_assert_eq(r.pid, 0);
    cr_assert_str_eq(r.name, "");
    expect_lines(&r, lines, 6);
    check_all_splits((const uint8_t *)stream, sizeof(stream) - 1, 64, &r);
    run_free(&r);
}

Test(wire, text_keeps_nul_and_invalid_utf8)
{
    static const uint8_t stream[] = {'a', 0, 'b', '\n', 0xFF, 0xC3, '\n',
                                     0x89, 'S', '\n'};
    run r;

    feed_whole(stream, sizeof(stream), 64, &r);
    cr_assert_eq(r.rc, 0);
    cr_assert_eq(r.n, 4);
    cr_assert_eq(r.ev[1].len, 3);
    cr_assert(memcmp(r.ev[1].data, "a\0b", 3) == 0);
    cr_assert_eq(r.ev[2].len, 2);
    cr_assert_eq(r.ev[3].len, 2);
    run_free(&r);
}

/* A text stream of many line shapes, lines of every length up to max. */
static void
build_text(bytes *b, uint32_t max_frame, int crlf, int final_lf)
{
    for (size_t n = 0; n + 1 <= max_frame; n++) {
        size_t body = n;
        if (crlf && n + 2 > max_frame)
            break;
        for (size_t i = 0; i < body; i++) {
            uint8_t c = (uint8_t)('a' + (i + n) % 26u);
            if (i % 11u == 5u)
                c = '\r'; /* a lone CR inside a line is kept */
            bytes_put(b, &c, 1);
        }
        bytes_str(b, crlf && n % 2u == 0 ? "\r\n" : "\n");
        if (n % 9u == 0)
            bytes_str(b, "\n\r\n"); /* empty lines */
    }
    if (!final_lf)
        bytes_str(b, "no newline at the end");
}

Test(wire, text_stream_is_split_independent)
{
    for (int variant = 0; variant < 4; variant++) {
        bytes b = {0};
        run ref;
        build_text(&b, 80, variant & 1, variant & 2);
        feed_whole(b.p, b.len, 80, &ref);
        cr_assert_eq(ref.rc, 0, "variant %d", variant);
        cr_assert_eq(ref.mode, SL_WIRE_MODE_TEXT);
        for (size_t i = 1; i < ref.n; i++) {
            cr_assert_eq(ref.ev[i].seq, i - 1);
            cr_assert(memchr(ref.ev[i].data, '\n', ref.ev[i].len) == NULL);
        }
        if (!(variant & 2))
            cr_assert_eq(ref.ev[ref.n - 1].len, 21);
        check_all_splits(b.p, b.len, 80, &ref);
        run_free(&ref);
        bytes_free(&b);
    }
}

Test(wire, text_line_length_limit)
{
    const uint32_t max = 64;
    uint8_t line[200];
    run r;

    memset(line, 'x', sizeof(line));

    /* exactly max bytes with its '\n': accepted */
    line[max - 1] = '\n';
    feed_whole(line, max, max, &r);
    cr_assert_eq(r.rc, 0);
    cr_assert_eq(r.n, 2);
    cr_assert_eq(r.ev[1].len, max - 1);
    run_free(&r);

    /* exactly max with "\r\n": accepted, the '\r' counts */
    line[max - 2] = '\r';
    feed_whole(line, max, max, &r);
    cr_assert_eq(r.rc, 0);
    cr_assert_eq(r.ev[1].len, max - 2);
    run_free(&r);
    line[max - 2] = 'x';
    line[max - 1] = 'x';

    /* max + 1 with its '\n': too long, and decided before the '\n' */
    {
        bytes b = {0};
        bytes_put(&b, line, max);
        bytes_str(&b, "\n");
        check_violation(&b, max, 1, SL_ETOOBIG, SL_WIRE_R_LINE_TOO_LONG);
        b.len = max; /* the stream ends without a '\n' at all */
        check_violation(&b, max, 1, SL_ETOOBIG, SL_WIRE_R_LINE_TOO_LONG);
        bytes_free(&b);
    }

    /* a final line of max - 1 bytes without '\n' fits (its '\n' would
     * make max), one of max bytes does not */
    feed_whole(line, max - 1, max, &r);
    cr_assert_eq(r.rc, 0);
    cr_assert_eq(r.n, 2);
    cr_assert_eq(r.ev[1].len, max - 1);
    run_free(&r);
    {
        sl_wire w;
        sl_wire_event ev[2];
        size_t n;
        sl_wire_init(&w, max);
        cr_assert_eq(sl_wire_finish(&w, line, max, ev, 2, &n), SL_ETOOBIG);
        cr_assert_eq(n, 1, "the synthetic hello comes before the verdict");
        cr_assert_eq(ev[0].type, SL_WIRE_T_HELLO);
        cr_assert_eq(w.reason, SL_WIRE_R_LINE_TOO_LONG);
    }

    /* lines before the long one are kept */
    {
        bytes b = {0};
        bytes_str(&b, "ok\r\nfine\n");
        bytes_put(&b, line, sizeof(line));
        check_violation(&b, max, 3, SL_ETOOBIG, SL_WIRE_R_LINE_TOO_LONG);
        bytes_free(&b);
    }
}

Test(wire, text_pending_line_is_scanned_once)
{
    /* A line at the 16 MiB limit arriving 64 bytes at a time: the caller
     * keeps the pending bytes in place and presents them again. Rescanning
     * from the start each time would take hours; the parser resumes at
     * text_scanned. */
    const uint32_t max = SL_WIRE_MAX_FRAME_LIMIT;
    uint8_t *buf = malloc(max);
    sl_wire w;
    sl_wire_event ev[4];
    size_t n, used, len;

    cr_assert_not_null(buf);
    memset(buf, 'z', max);
    buf[max - 1] = '\n';
    sl_wire_init(&w, max);
    for (len = 64; len < max; len += 64) {
        cr_assert_eq(sl_wire_parse(&w, buf, len, ev, 4, &n, &used), 0);
        cr_assert_eq(used, 0);
        cr_assert_eq(n, len == 64 ? 1u : 0u);
        cr_assert_eq(w.text_scanned, len);
    }
    cr_assert_eq(sl_wire_parse(&w, buf, max, ev, 4, &n, &used), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(used, max);
    cr_assert_eq(ev[0].len, max - 1);
    cr_assert_eq(w.text_scanned, 0);
    free(buf);
}

Test(wire, text_scanned_restarts_if_the_caller_presents_fewer_bytes)
{
    sl_wire w;
    sl_wire_event ev[4];
    size_t n, used;

    sl_wire_init(&w, 64);
    cr_assert_eq(sl_wire_parse(&w, (const uint8_t *)"abcdef", 6, ev, 4, &n,
                               &used),
                 0);
    cr_assert_eq(w.text_scanned, 6);
    cr_assert_eq(sl_wire_parse(&w, (const uint8_t *)"a\n", 2, ev, 4, &n,
                               &used),
                 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(ev[0].len, 1);
}

Test(wire, text_hello_waits_for_room_when_cap_is_zero)
{
    sl_wire w;
    sl_wire_event ev[4];
    size_t n, used;
    const uint8_t *s = (const uint8_t *)"line\n";

    sl_wire_init(&w, 64);
    cr_assert_eq(sl_wire_parse(&w, s, 5, NULL, 0, &n, &used), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(used, 0);
    cr_assert_eq(w.mode, SL_WIRE_MODE_TEXT);
    cr_assert_eq(sl_wire_parse(&w, s, 5, ev, 4, &n, &used), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(ev[0].type, SL_WIRE_T_HELLO);
    cr_assert_eq(ev[1].type, SL_WIRE_T_TEXT);
    cr_assert_eq(used, 5);
}

Test(wire, finish_with_a_magic_prefix_yields_hello_and_text_lines)
{
    for (size_t k = 1; k < SL_WIRE_MAGIC_LEN; k++) {
        run r;
        feed_whole((const uint8_t *)SL_WIRE_MAGIC, k, 64, &r);
        cr_assert_eq(r.rc, 0);
        cr_assert_eq(r.mode, SL_WIRE_MODE_TEXT);
        cr_assert_eq(r.ev[0].type, SL_WIRE_T_HELLO);
        cr_assert_eq(r.ev[1].type, SL_WIRE_T_TEXT);
        cr_assert_eq(r.ev[1].seq, 0);
        if (k < 6) {
            /* "\x89", "\x89S", ... "\x89SLU\r": one final line */
            cr_assert_eq(r.n, 2);
            cr_assert_eq(r.ev[1].len, k);
            cr_assert(memcmp(r.ev[1].data, SL_WIRE_MAGIC, k) == 0);
        } else {
            /* "\x89SLU\r\n" is a whole line; "\x1a" a final one */
            cr_assert_eq(r.n, k == 6 ? 2u : 3u);
            cr_assert_eq(r.ev[1].len, 4);
            cr_assert(memcmp(r.ev[1].data, "\x89SLU", 4) == 0);
            if (k == 7) {
                cr_assert_eq(r.ev[2].seq, 1);
                cr_assert_eq(r.ev[2].len, 1);
                cr_assert_eq(r.ev[2].data[0], 0x1a);
            }
        }
        check_all_splits((const uint8_t *)SL_WIRE_MAGIC, k, 64, &r);
        run_free(&r);
    }
}

Test(wire, finish_rejects_misuse_without_changing_state)
{
    sl_wire w;
    sl_wire_event ev[2];
    size_t n = 99;

    /* the synthetic hello and the line need two slots */
    sl_wire_init(&w, 64);
    cr_assert_eq(sl_wire_finish(&w, (const uint8_t *)"\x89S", 2, ev, 1, &n),
                 SL_EINVAL);
    cr_assert_eq(n, 0);
    cr_assert_eq(w.mode, SL_WIRE_MODE_UNKNOWN);
    cr_assert_eq(w.failed, 0);
    cr_assert_eq(sl_wire_finish(&w, (const uint8_t *)"\x89S", 2, ev, 2, &n),
                 0);
    cr_assert_eq(n, 2);

    /* a magic prefix with its "\r\n" and a final byte needs three */
    sl_wire_init(&w, 64);
    cr_assert_eq(sl_wire_finish(&w, (const uint8_t *)SL_WIRE_MAGIC, 7, ev,
                                2, &n),
                 SL_EINVAL);
    cr_assert_eq(n, 0);
    cr_assert_eq(w.mode, SL_WIRE_MODE_UNKNOWN);

    /* a caller that skipped sl_wire_parse() gets every line if it made
     * room, and SL_EINVAL with nothing changed if not */
    sl_wire_init(&w, 64);
    cr_assert_eq(sl_wire_finish(&w, (const uint8_t *)"a\nb", 3, ev, 2, &n),
                 SL_EINVAL);
    cr_assert_eq(w.failed, 0);
    cr_assert_eq(w.hello_done, 0);
    {
        sl_wire_event ev3[3];
        cr_assert_eq(sl_wire_finish(&w, (const uint8_t *)"a\nb", 3, ev3, 3,
                                    &n),
                     0);
        cr_assert_eq(n, 3);
        cr_assert_eq(ev3[1].len, 1);
        cr_assert_eq(ev3[2].seq, 1);
        cr_assert_eq(ev3[2].payload[0], 'b');
    }
}

Test(wire, empty_stream_yields_no_events)
{
    sl_wire w;
    sl_wire_event ev[2];
    size_t n = 99, used = 99;

    sl_wire_init(&w, 64);
    cr_assert_eq(sl_wire_parse(&w, NULL, 0, ev, 2, &n, &used), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(used, 0);
    cr_assert_eq(sl_wire_finish(&w, NULL, 0, ev, 2, &n), 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(w.reason, SL_WIRE_R_EOF);
}

/* ------------------------------------------------------------------ */
/* sl_wire_need                                                        */

Test(wire, need_is_the_frame_length_once_known_else_max_frame)
{
    bytes b = {0};
    sl_wire w;
    sl_wire_event ev[4];
    size_t n, used;
    uint8_t len4[4];

    sl_wire_init(&w, 1000);
    cr_assert_eq(sl_wire_need(&w, NULL, 0), 1000);
    cr_assert_eq(sl_wire_need(&w, (const uint8_t *)"\x89SL", 3), 1000);

    put_hello(&b, 1, "n", 0);
    put_frame(&b, 1, 0, 100);
    cr_assert_eq(sl_wire_parse(&w, b.p, b.len - 1, ev, 4, &n, &used), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(sl_wire_need(&w, b.p + used, 3), 1000);
    cr_assert_eq(sl_wire_need(&w, b.p + used, 4), 124);
    cr_assert_eq(sl_wire_need(&w, b.p + used, b.len - 1 - used), 124);

    sl_store_le32(len4, 1000);
    cr_assert_eq(sl_wire_need(&w, len4, 4), 1000);
    sl_store_le32(len4, 24);
    cr_assert_eq(sl_wire_need(&w, len4, 4), 24);
    /* invalid lengths: parse rejects them, need stays within max */
    sl_store_le32(len4, 1001);
    cr_assert_eq(sl_wire_need(&w, len4, 4), 1000);
    sl_store_le32(len4, 3);
    cr_assert_eq(sl_wire_need(&w, len4, 4), 1000);

    sl_wire_init(&w, 1000);
    cr_assert_eq(sl_wire_parse(&w, (const uint8_t *)"abc", 3, ev, 4, &n,
                               &used),
                 0);
    cr_assert_eq(sl_wire_need(&w, (const uint8_t *)"abc", 3), 1000);
    bytes_free(&b);
}

Test(wire, init_keeps_max_frame_in_the_allowed_range)
{
    sl_wire w;

    sl_wire_init(&w, SL_WIRE_MAX_FRAME_MIN);
    cr_assert_eq(w.max_frame, 64);
    sl_wire_init(&w, SL_WIRE_MAX_FRAME_LIMIT);
    cr_assert_eq(w.max_frame, 16u << 20);
    sl_wire_init(&w, SL_WIRE_MAX_FRAME_DEFAULT);
    cr_assert_eq(w.max_frame, 1u << 20);
    cr_assert_eq(w.mode, SL_WIRE_MODE_UNKNOWN);
    cr_assert_eq(w.failed, 0);
#ifdef NDEBUG
    /* Out-of-range values are a programmer error (an assert); release
     * builds clamp them. */
    sl_wire_init(&w, 1);
    cr_assert_eq(w.max_frame, SL_WIRE_MAX_FRAME_MIN);
    sl_wire_init(&w, UINT32_MAX);
    cr_assert_eq(w.max_frame, SL_WIRE_MAX_FRAME_LIMIT);
#endif
}

/* ------------------------------------------------------------------ */
/* Greeting                                                            */

Test(wire, greeting_encodes_and_parses_back)
{
    static const struct {
        uint32_t max, id;
    } cases[] = {{1u << 20, 1}, {64, 0}, {16u << 20, UINT32_MAX}};
    char buf[SL_WIRE_GREETING_MAX];
    size_t len;

    cr_assert_eq(sl_wire_greeting(buf, sizeof(buf), 1u << 20, 1, &len), 0);
    cr_assert_eq(len, 26);
    cr_assert(memcmp(buf, "SLUICE/1 max=1048576 id=1\0", 26) == 0);

    for (size_t i = 0; i < 3; i++) {
        uint32_t v = 0, m = 0, id = 0;
        cr_assert_eq(sl_wire_greeting(buf, sizeof(buf), cases[i].max,
                                      cases[i].id, &len),
                     0);
        cr_assert_leq(len, SL_WIRE_GREETING_MAX);
        cr_assert_eq(buf[len - 1], '\0');
        cr_assert_eq(strlen(buf), len - 1);
        /* with and without its NUL */
        cr_assert_eq(sl_wire_parse_greeting(buf, len, &v, &m, &id), 0);
        cr_assert_eq(v, SL_WIRE_VERSION);
        cr_assert_eq(m, cases[i].max);
        cr_assert_eq(id, cases[i].id);
        cr_assert_eq(sl_wire_parse_greeting(buf, len - 1, &v, &m, &id), 0);
        cr_assert_eq(m, cases[i].max);
    }
}

Test(wire, greeting_encode_needs_room_for_the_nul)
{
    char buf[SL_WIRE_GREETING_MAX];
    size_t len = 7;

    memset(buf, '#', sizeof(buf));
    cr_assert_eq(sl_wire_greeting(buf, 25, 1u << 20, 1, &len), SL_EINVAL);
    cr_assert_eq(len, 7);
    cr_assert_eq(buf[0], '#');
    cr_assert_eq(sl_wire_greeting(buf, 26, 1u << 20, 1, &len), 0);
    cr_assert_eq(len, 26);
}

Test(wire, greeting_ignores_unknown_fields_and_minor_versions)
{
    static const char *const ok[] = {
        "SLUICE/1 max=65536 id=3 foo=bar",
        "SLUICE/1 zone=eu-1 max=65536 x_y= id=3",
        "SLUICE/1 id=3 max=65536",
        "SLUICE/1.7 max=65536 id=3",
        "SLUICE/1 max=0065536 id=03",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint32_t v = 0, m = 0, id = 0;
        cr_assert_eq(sl_wire_parse_greeting(ok[i], strlen(ok[i]), &v, &m,
                                            &id),
                     0, "%s", ok[i]);
        cr_assert_eq(v, 1);
        cr_assert_eq(m, 65536);
        cr_assert_eq(id, 3);
    }
    /* NULL outputs are allowed */
    cr_assert_eq(sl_wire_parse_greeting(ok[0], strlen(ok[0]), NULL, NULL,
                                        NULL),
                 0);
}

Test(wire, greeting_of_another_major_version_is_eversion)
{
    static const char *const other[] = {
        "SLUICE/2 max=65536 id=3",
        "SLUICE/0 max=65536 id=3",
        "SLUICE/2",
        "SLUICE/3.1 something entirely different",
    };
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        uint32_t v = 77;
        cr_assert_eq(sl_wire_parse_greeting(other[i], strlen(other[i]) + 1,
                                            &v, NULL, NULL),
                     SL_EVERSION, "%s", other[i]);
        cr_assert_eq(v, 77);
    }
}

Test(wire, malformed_greetings_are_rejected)
{
    static const char *const bad[] = {
        "",
        "SLUICE",
        "SLUICE/",
        "SLUICE/x max=65536 id=1",
        "sluice/1 max=65536 id=1",
        "SLUICE/1max=65536 id=1",
        "SLUICE/1  max=65536 id=1",
        "SLUICE/1 max=65536 id=1 ",
        " SLUICE/1 max=65536 id=1",
        "SLUICE/1 max=65536",
        "SLUICE/1 id=1",
        "SLUICE/1",
        "SLUICE/1. max=65536 id=1",
        "SLUICE/1 max=abc id=1",
        "SLUICE/1 max= id=1",
        "SLUICE/1 max=63 id=1",
        "SLUICE/1 max=16777217 id=1",
        "SLUICE/1 max=65536 id=4294967296",
        "SLUICE/1 max=65536 id=99999999999",
        "SLUICE/1 max=65536 id=-1",
        "SLUICE/1 max=65536 id=+1",
        "SLUICE/1 max=65536 id=1x",
        "SLUICE/1 max=65536 id=1 id=2",
        "SLUICE/1 max=65536 max=65536 id=2",
        "SLUICE/1 max=65536 id=1 =x",
        "SLUICE/1 max=65536 id=1 k",
        "SLUICE/1 max=65536 id=1 K=v",
        "SLUICE/1 max=65536 id=1 k=a=b",
        "SLUICE/1 max=65536 id=1 k=\xc3\xa9",
        "SLUICE/1 max=65536 id=1\t",
        "SLUICE/99999999999 max=65536 id=1",
        "SLUICE/1 error=too-many-producers", /* the refusal greeting */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint32_t v = 5, m = 5, id = 5;
        cr_assert_eq(sl_wire_parse_greeting(bad[i], strlen(bad[i]), &v, &m,
                                            &id),
                     SL_EPROTO, "%s", bad[i]);
        cr_assert(v == 5 && m == 5 && id == 5, "outputs untouched");
    }

    /* a NUL before the end */
    cr_assert_eq(sl_wire_parse_greeting("SLUICE/1 max=65536\0id=1", 23,
                                        NULL, NULL, NULL),
                 SL_EPROTO);
    cr_assert_eq(sl_wire_parse_greeting("SLUICE/1 max=65536 id=1\0\0", 25,
                                        NULL, NULL, NULL),
                 SL_EPROTO);
}

Test(wire, greeting_is_at_most_64_bytes_with_its_nul)
{
    char g[80];
    size_t base;

    strcpy(g, "SLUICE/1 max=65536 id=1 pad=");
    base = strlen(g);
    memset(g + base, 'p', 63 - base);
    g[63] = '\0';
    cr_assert_eq(strlen(g), 63);
    cr_assert_eq(sl_wire_parse_greeting(g, 64, NULL, NULL, NULL), 0);
    cr_assert_eq(sl_wire_parse_greeting(g, 63, NULL, NULL, NULL), 0);

    memset(g + base, 'p', 64 - base);
    g[64] = '\0';
    cr_assert_eq(sl_wire_parse_greeting(g, 65, NULL, NULL, NULL), SL_EPROTO);
    cr_assert_eq(sl_wire_parse_greeting(g, 64, NULL, NULL, NULL), SL_EPROTO);
}

/* ------------------------------------------------------------------ */
/* Encoders, reasons, and the golden example of docs/protocol.md        */

Test(wire, hello_encode_checks_name_and_room)
{
    uint8_t buf[400];
    char name[256];
    size_t len = 0;

    memset(name, 'q', sizeof(name));
    cr_assert_eq(sl_wire_hello_encode(buf, sizeof(buf), 1, name, 256, 0,
                                      &len),
                 SL_ENAMETOOLONG);
    cr_assert_eq(sl_wire_hello_encode(buf, sizeof(buf), 1, name, 255, 0,
                                      &len),
                 0);
    cr_assert_eq(len, 8 + 32 + 255);
    cr_assert_eq(sl_load_le32(buf + 8), 32 + 255);
    cr_assert_eq(sl_wire_hello_encode(buf, 8 + 32 + 2, 1, name, 3, 0, &len),
                 SL_EINVAL);
    cr_assert_eq(sl_wire_hello_encode(buf, 8 + 32 + 3, 1, name, 3, 0, &len),
                 0);
    cr_assert_eq(len, 43);
    cr_assert_eq(sl_wire_hello_encode(buf, 40, 1, NULL, 0, 0, &len), 0);
    cr_assert_eq(len, 40);
}

Test(wire, reason_names_and_messages)
{
    cr_assert_str_eq(sl_wire_reason_name(SL_WIRE_R_EOF), "EOF");
    cr_assert_str_eq(sl_wire_reason_name(SL_WIRE_R_LINE_TOO_LONG),
                     "LINE_TOO_LONG");
    cr_assert_str_eq(sl_wire_reason_name(SL_WIRE_R_REFUSED), "REFUSED");
    cr_assert_str_eq(sl_wire_reason_name(SL_WIRE_R_IDLE), "IDLE");
    cr_assert_eq(SL_WIRE_R_IDLE, 12);
    cr_assert_str_eq(sl_wire_reason_name(13), "UNKNOWN");
    cr_assert_str_eq(sl_wire_reason_str(SL_WIRE_R_TRUNCATED),
                     "stream ended inside a frame");
    cr_assert_str_eq(sl_wire_reason_str(0xFFFFFFFFu), "unknown reason");
    cr_assert_eq(SL_WIRE_R_BAD_HELLO, 6);
}

#define EXAMPLE_TS 1700000000000000000ULL

/* The producer's side of the worked example, built with the encoders. */
static void
build_example(bytes *b)
{
    static const struct {
        uint16_t type;
        const char *payload;
    } events[] = {{1, "hi"}, {2, "there"}};

    put_hello(b, 4242, "demo", EXAMPLE_TS);
    for (size_t i = 0; i < 2; i++) {
        uint8_t hdr[SL_WIRE_FRAME_HDR];
        size_t n = strlen(events[i].payload);
        sl_wire_frame_header(hdr, (uint32_t)(SL_WIRE_FRAME_HDR + n),
                             events[i].type, i, EXAMPLE_TS + 1000u * (i + 1));
        bytes_put(b, hdr, sizeof(hdr));
        bytes_put(b, events[i].payload, n);
    }
}

static void
read_file(const char *path, bytes *out)
{
    FILE *f = fopen(path, "rb");
    uint8_t tmp[4096];
    size_t n;

    cr_assert_not_null(f, "cannot open %s", path);
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        bytes_put(out, tmp, n);
    cr_assert(!ferror(f));
    fclose(f);
}

Test(wire, golden_example_matches_the_fixture)
{
    bytes built = {0}, fixture = {0};
    char greeting[SL_WIRE_GREETING_MAX];
    size_t glen;
    run r;

    build_example(&built);
    read_file(SL_FIXTURES_DIR "/protocol-example.bin", &fixture);
    cr_assert_eq(built.len, fixture.len);
    cr_assert(memcmp(built.p, fixture.p, built.len) == 0);
    cr_assert_eq(fixture.len, 99);

    cr_assert_eq(sl_wire_greeting(greeting, sizeof(greeting), 1u << 20, 1,
                                  &glen),
                 0);
    cr_assert(memcmp(greeting, "SLUICE/1 max=1048576 id=1", glen) == 0);

    feed_whole(fixture.p, fixture.len, SL_WIRE_MAX_FRAME_DEFAULT, &r);
    cr_assert_eq(r.rc, 0);
    cr_assert_eq(r.pid, 4242);
    cr_assert_str_eq(r.name, "demo");
    cr_assert_eq(r.n, 3);
    cr_assert_eq(r.ev[0].type, SL_WIRE_T_HELLO);
    cr_assert_eq(r.ev[0].ts, EXAMPLE_TS);
    cr_assert_eq(r.ev[1].type, 1);
    cr_assert_eq(r.ev[1].seq, 0);
    cr_assert_eq(r.ev[1].ts, EXAMPLE_TS + 1000);
    cr_assert_eq(r.ev[1].len, 2);
    cr_assert(memcmp(r.ev[1].data, "hi", 2) == 0);
    cr_assert_eq(r.ev[2].type, 2);
    cr_assert_eq(r.ev[2].seq, 1);
    cr_assert_eq(r.ev[2].ts, EXAMPLE_TS + 2000);
    cr_assert(memcmp(r.ev[2].data, "there", 5) == 0);
    check_all_splits(fixture.p, fixture.len, SL_WIRE_MAX_FRAME_DEFAULT, &r);
    run_free(&r);
    bytes_free(&built);
    bytes_free(&fixture);
}

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * The hexdump in docs/protocol.md (the `hexdump -C` block after the
 * "protocol-example.bin" marker) must be the fixture, so the document,
 * the fixture and the encoders cannot drift apart.
 */
Test(wire, golden_example_matches_the_document)
{
    bytes doc = {0}, fixture = {0}, dumped = {0};
    const char *p, *end;

    read_file(SL_FIXTURES_DIR "/../../docs/protocol.md", &doc);
    read_file(SL_FIXTURES_DIR "/protocol-example.bin", &fixture);
    bytes_put(&doc, "", 1);
    p = strstr((const char *)doc.p, "<!-- hexdump: protocol-example.bin -->");
    cr_assert_not_null(p, "marker missing in docs/protocol.md");
    p = strstr(p, "```");
    cr_assert_not_null(p);
    p = strchr(p, '\n');
    cr_assert_not_null(p);
    end = strstr(p, "```");
    cr_assert_not_null(end);

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *bar;
        if (eol == NULL)
            eol = end;
        bar = memchr(p, '|', (size_t)(eol - p));
        /* "00000000  89 53 ...  |.SLU....|"; the last line is the
         * offset alone */
        if (bar != NULL && eol - p > 10) {
            for (const char *q = p + 8; q < bar; q++) {
                if (*q == ' ')
                    continue;
                cr_assert(q + 1 < bar && hexval(q[0]) >= 0 &&
                          hexval(q[1]) >= 0);
                uint8_t v = (uint8_t)(hexval(q[0]) * 16 + hexval(q[1]));
                bytes_put(&dumped, &v, 1);
                q++;
            }
        }
        p = eol + 1;
    }
    cr_assert_eq(dumped.len, fixture.len);
    cr_assert(memcmp(dumped.p, fixture.p, fixture.len) == 0);
    bytes_free(&doc);
    bytes_free(&fixture);
    bytes_free(&dumped);
}
