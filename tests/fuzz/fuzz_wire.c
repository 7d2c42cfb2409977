/*
 * libFuzzer target for the wire parser (format/wire.h).
 *
 * The input is a 4-byte control header followed by the byte stream one
 * producer sends (tests/fuzz/README.md lists the header's fields). The
 * stream is parsed twice:
 *
 *   one-shot  the whole stream in one sl_wire_parse() call with room for
 *             every event, then sl_wire_finish() on what it left;
 *   chunked   the way the collector's worker does it (server.c, on_read()
 *             and fit_buffer()): a read buffer of conn_buffer bytes that
 *             receives chunks of varying size, sl_wire_parse() called in a
 *             loop while it fills its event array, the unconsumed bytes
 *             moved to the front and presented again with the next chunk,
 *             the buffer grown to sl_wire_need() when full and shrunk back
 *             afterwards, and sl_wire_finish() on the remainder at the end.
 *
 * docs/protocol.md section 2 promises that the verdict on a stream (its
 * events, their order and why it ended) does not depend on where it was
 * cut, so both runs must agree exactly. Each call is also checked against
 * the contract of wire.h: consumed <= len, payloads inside the buffer,
 * the hello first and only first, no reserved type after it, a failed
 * parser stays failed, and the unconsumed remainder is always shorter
 * than sl_wire_need() (the collector's buffer sizing relies on it). The
 * same bytes also go through the greeting parser. Any broken rule aborts,
 * which libFuzzer reports as a crash.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "wire.h"

#define CTRL_LEN 4u

#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "fuzz_wire: %s:%d: check failed: %s\n",           \
                    __FILE__, __LINE__, #cond);                               \
            abort();                                                          \
        }                                                                     \
    } while (0)

/* The one-shot run's events; payloads point into the fuzzer's input, which
 * stays put for the whole iteration. */
typedef struct ref_run {
    sl_wire_event *ev;
    size_t n;
    int rc;
    sl_wire w;
} ref_run;

typedef struct params {
    uint32_t max_frame;
    size_t conn_buffer;
    size_t ev_cap;
    size_t max_chunk;
    uint32_t seed;
} params;

static void
decode_params(const uint8_t *c, params *p)
{
    uint16_t mf = (uint16_t)(c[0] | (c[1] << 8));

    /* Small limits reach the length checks with short inputs; bit 15
     * selects the collector's default. */
    p->max_frame = (mf & 0x8000u) ? SL_WIRE_MAX_FRAME_DEFAULT
                                  : SL_WIRE_MAX_FRAME_MIN + (mf & 0x7FFFu);
    p->max_chunk = (size_t)1 << (c[2] & 0x0F);
    p->ev_cap = 1u + (c[2] >> 4);
    /* The collector's buffer is 4096..max_frame bytes; smaller ones make
     * every growth path reachable with short inputs. */
    p->conn_buffer = (size_t)1 << (c[3] % 17u);
    if (p->conn_buffer > p->max_frame)
        p->conn_buffer = p->max_frame;
    p->seed = 0x9E3779B9u ^ ((uint32_t)c[3] << 8) ^ c[2];
}

static uint32_t
next_rand(uint32_t *s)
{
    /* xorshift32: the chunk sizes only need to vary, not be good. */
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static int
is_err_for_reason(int rc, uint32_t reason)
{
    switch (reason) {
    case SL_WIRE_R_FRAME_TOO_BIG:
    case SL_WIRE_R_LINE_TOO_LONG:
        return rc == SL_ETOOBIG;
    case SL_WIRE_R_TRUNCATED:
        return rc == SL_ETRUNC;
    case SL_WIRE_R_FRAME_TOO_SMALL:
    case SL_WIRE_R_BAD_TYPE:
    case SL_WIRE_R_BAD_FLAGS:
    case SL_WIRE_R_BAD_HELLO:
        return rc == SL_EPROTO;
    default:
        return 0;
    }
}

/* Checks what one sl_wire_parse() or sl_wire_finish() call returned. */
static void
check_call(const sl_wire *w, const uint8_t *buf, size_t len,
           const sl_wire_event *ev, size_t n, size_t cap, int rc,
           uint64_t events_before)
{
    CHECK(n <= cap);
    if (rc != 0) {
        CHECK(w->failed);
        CHECK(is_err_for_reason(rc, w->reason));
    } else {
        CHECK(!w->failed);
        CHECK(w->reason == SL_WIRE_R_EOF);
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t index = events_before + i;

        CHECK(ev[i].payload != NULL);
        if (ev[i].len > 0) {
            CHECK(ev[i].payload >= buf);
            CHECK(ev[i].len <= len);
            CHECK((size_t)(ev[i].payload - buf) <= len - ev[i].len);
        }
        /* The connect record comes from the first event and only from it
         * (server.c, emit()), so a hello anywhere else would be lost or
         * misread, and reserved types never reach the capture. */
        if (index == 0)
            CHECK(ev[i].type == SL_WIRE_T_HELLO);
        else
            CHECK(ev[i].type < SL_WIRE_T_RESERVED_MIN);
        if (w->mode == SL_WIRE_MODE_TEXT && index > 0) {
            CHECK(ev[i].type == SL_WIRE_T_TEXT);
            CHECK(ev[i].seq == index - 1);
            CHECK(ev[i].ts == 0);
            /* A line and its '\n' fit in max_frame. */
            CHECK(ev[i].len < w->max_frame);
        }
        if (w->mode == SL_WIRE_MODE_BINARY)
            CHECK(ev[i].len <= w->max_frame - SL_WIRE_FRAME_HDR);
    }
}

static void
same_event(const sl_wire_event *a, const sl_wire_event *b)
{
    CHECK(a->type == b->type);
    CHECK(a->len == b->len);
    CHECK(a->seq == b->seq);
    CHECK(a->ts == b->ts);
    CHECK(a->len == 0 || memcmp(a->payload, b->payload, a->len) == 0);
}

static void
one_shot(const params *p, const uint8_t *s, size_t len, ref_run *r)
{
    /* Every event takes at least one byte of the stream (a '\n' or a
     * 24-byte frame) except the hello and the lines finish() adds, so
     * len + SL_WIRE_FINISH_EV_MAX never runs out; one parse call must then
     * see everything. */
    size_t cap = len + SL_WIRE_FINISH_EV_MAX;
    size_t n = 0, consumed = 0, nf = 0;
    int rc;

    r->ev = malloc(cap * sizeof(*r->ev));
    CHECK(r->ev != NULL);
    sl_wire_init(&r->w, p->max_frame);
    rc = sl_wire_parse(&r->w, s, len, r->ev, cap, &n, &consumed);
    CHECK(consumed <= len);
    check_call(&r->w, s, len, r->ev, n, cap, rc, 0);
    CHECK(n < cap);
    if (rc == 0) {
        const uint8_t *rest = s + consumed;
        size_t rest_len = len - consumed;

        CHECK(rest_len < sl_wire_need(&r->w, rest, rest_len));
        rc = sl_wire_finish(&r->w, rest, rest_len, r->ev + n, cap - n, &nf);
        CHECK(rc != SL_EINVAL);
        check_call(&r->w, rest, rest_len, r->ev + n, nf, cap - n, rc, n);
        n += nf;
        if (rc == 0)
            CHECK(r->w.mode != SL_WIRE_MODE_UNKNOWN || len == 0);
    }
    r->n = n;
    r->rc = rc;
}

/* The chunked run compares each event with the one-shot run's as soon as
 * it comes out, while its payload still points into the live buffer. */
typedef struct chunked {
    const ref_run *ref;
    size_t n;
} chunked;

static void
take_events(chunked *ck, const sl_wire_event *ev, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        CHECK(ck->n < ck->ref->n);
        same_event(&ev[i], &ck->ref->ev[ck->n]);
        ck->n++;
    }
}

/* sl_wire_finish() with a small cap: SL_EINVAL must leave everything as it
 * was, so the caller can retry with room for SL_WIRE_FINISH_EV_MAX. */
static int
finish(sl_wire *w, const uint8_t *buf, size_t len, size_t cap,
       sl_wire_event *ev, size_t *n)
{
    if (cap < SL_WIRE_FINISH_EV_MAX) {
        sl_wire before = *w;
        int rc = sl_wire_finish(w, buf, len, ev, cap, n);

        if (rc != SL_EINVAL)
            return rc;
        CHECK(*n == 0);
        CHECK(memcmp(&before, w, sizeof(before)) == 0);
    }
    return sl_wire_finish(w, buf, len, ev, SL_WIRE_FINISH_EV_MAX, n);
}

static void
run_chunked(const params *p, const uint8_t *s, size_t slen,
            const ref_run *ref)
{
    sl_wire_event ev[16 > SL_WIRE_FINISH_EV_MAX ? 16 : SL_WIRE_FINISH_EV_MAX];
    chunked ck = {ref, 0};
    uint32_t rnd = p->seed;
    size_t cap = p->conn_buffer, len = 0, fed = 0;
    uint8_t *buf = malloc(cap);
    sl_wire w;
    int rc = 0;

    CHECK(buf != NULL);
    CHECK(p->ev_cap <= sizeof(ev) / sizeof(ev[0]));
    sl_wire_init(&w, p->max_frame);
    for (;;) {
        size_t want, room, got, off = 0, n, used;

        /* One read: what the transport delivers, at most the free room. */
        want = 1 + next_rand(&rnd) % p->max_chunk;
        room = cap - len;
        CHECK(room > 0);
        got = want < room ? want : room;
        if (got > slen - fed)
            got = slen - fed;
        if (got == 0)
            break; /* end of stream */
        memcpy(buf + len, s + fed, got);
        fed += got;
        len += got;

        for (;;) {
            rc = sl_wire_parse(&w, buf + off, len - off, ev, p->ev_cap, &n,
                               &used);
            CHECK(used <= len - off);
            check_call(&w, buf + off, len - off, ev, n, p->ev_cap, rc,
                       ck.n);
            take_events(&ck, ev, n);
            off += used;
            if (rc != 0)
                goto done;
            if (n < p->ev_cap)
                break;
        }
        /* What the worker keeps must be shorter than what the parser says
         * it needs, or the buffer could fill without the parser ever
         * deciding (server.c treats that as an internal error). */
        CHECK(len - off < sl_wire_need(&w, buf + off, len - off));
        CHECK(sl_wire_need(&w, buf + off, len - off) <= w.max_frame);
        if (off > 0) {
            memmove(buf, buf + off, len - off);
            len -= off;
        }
        /* fit_buffer(): grow to the pending event when full, shrink back
         * to conn_buffer once the backlog is small again. */
        {
            size_t new_cap = cap;

            if (len == cap) {
                new_cap = sl_wire_need(&w, buf, len);
                CHECK(new_cap > cap);
            } else if (cap > p->conn_buffer && len <= p->conn_buffer / 2) {
                new_cap = p->conn_buffer;
            }
            if (new_cap != cap) {
                uint8_t *nb = realloc(buf, new_cap);

                CHECK(nb != NULL);
                buf = nb;
                cap = new_cap;
            }
        }
    }
    {
        size_t n = 0;

        rc = finish(&w, buf, len, p->ev_cap, ev, &n);
        CHECK(rc != SL_EINVAL);
        check_call(&w, buf, len, ev, n, SL_WIRE_FINISH_EV_MAX, rc, ck.n);
        take_events(&ck, ev, n);
    }
done:
    if (rc != 0) {
        /* A failed parser stays failed and yields nothing more. */
        size_t n = 1, used = 1;

        CHECK(sl_wire_parse(&w, buf, len, ev, p->ev_cap, &n, &used) == rc);
        CHECK(n == 0 && used == 0);
        CHECK(sl_wire_finish(&w, buf, len, ev, SL_WIRE_FINISH_EV_MAX, &n) ==
              rc);
        CHECK(n == 0);
    }
    CHECK(ck.n == ref->n);
    CHECK(rc == ref->rc);
    CHECK(w.reason == ref->w.reason);
    CHECK(w.failed == ref->w.failed);
    CHECK(w.mode == ref->w.mode);
    CHECK(w.pid == ref->w.pid);
    CHECK(w.name_len == ref->w.name_len);
    CHECK(memcmp(w.name, ref->w.name, w.name_len + 1u) == 0);
    free(buf);
}

/*
 * The greeting is the one thing a producer parses, and the collector it
 * talks to may be anything that listens on the pipe, so the same bytes go
 * through sl_wire_parse_greeting() too. What it accepts must follow the
 * grammar's limits and survive a round trip through sl_wire_greeting().
 */
static void
check_greeting(const uint8_t *d, size_t n)
{
    uint32_t version = 0, max = 0, id = 0, v2 = 0, m2 = 0, i2 = 0;
    char buf[SL_WIRE_GREETING_MAX];
    size_t len = 0;
    int rc;

    rc = sl_wire_parse_greeting((const char *)d, n, &version, &max, &id);
    CHECK(rc == 0 || rc == SL_EPROTO || rc == SL_EVERSION);
    if (rc != 0)
        return;
    CHECK(n >= 1 && n <= SL_WIRE_GREETING_MAX);
    CHECK(memchr(d, '\0', n - 1) == NULL);
    CHECK(version == SL_WIRE_VERSION);
    CHECK(max >= SL_WIRE_MAX_FRAME_MIN && max <= SL_WIRE_MAX_FRAME_LIMIT);
    CHECK(sl_wire_greeting(buf, sizeof(buf), max, id, &len) == 0);
    CHECK(sl_wire_parse_greeting(buf, len, &v2, &m2, &i2) == 0);
    CHECK(v2 == version && m2 == max && i2 == id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    params p;
    ref_run ref;

    if (size < CTRL_LEN)
        return 0;
    decode_params(data, &p);
    data += CTRL_LEN;
    size -= CTRL_LEN;

    check_greeting(data, size);
    one_shot(&p, data, size, &ref);
    run_chunked(&p, data, size, &ref);
    free(ref.ev);
    return 0;
}
