/*
 * The flight recorder behind the sink table (sink.h; --flight-recorder
 * BYTES, docs/capture-format.md section 17).
 *
 * It reuses rotation: the writer runs chunked (writer.h) with a chunk
 * size of BYTES/4, so it hands this sink a chunk after chunk, each one a
 * header, the chunk preamble (the last state record and one LIVE record
 * per live producer: their next sequence numbers), blocks, and a close
 * record. The sink keeps the RECORDS of the newest chunks in memory (the
 * bytes of a sl_sink_block are valid only during the call, so it copies
 * them) and forgets the oldest once more than cfg.keep chunks are full:
 * it holds between BYTES and 1.25 x BYTES of records. Nothing goes to
 * disk until a trigger.
 *
 * Memory rather than a circular set of hidden chunk files: the point of a
 * flight recorder is to record all the time at no cost, so the steady
 * state writes nothing (no disk bandwidth, no wear, no files to clean up
 * after a crash); the price is that a crash loses what it held (a
 * snapshot already written is a whole file). A snapshot needs every
 * block re-sealed anyway (its own key, its own offsets), so file chunks
 * would have to be read back and re-sealed too.
 *
 * hold() (at a trigger) creates the next free cap.snapshot-NNN.sluice
 * through sl_os_file_create() (the plain file sink: owner-only, no
 * symlink followed, never replacing a file) and writes its header at
 * once, and stops forgetting chunks until the cut, so the records before
 * the trigger stay whatever comes during --trigger-after. snapshot() (the
 * cut) writes the held records to it: the oldest chunk's preamble (the
 * LIVE records give each producer's starting sequence number, so the
 * file verifies alone), every record since (later chunks' LIVE records
 * and every chunk's close record left out), in blocks sealed under the
 * snapshot's own key, then a close record counting what the snapshot
 * holds, and a sync.
 *
 * Thread: the writer thread only (sink.h's contract), also for hold().
 *
 * Test-only: SLUICE_TEST_SNAPSHOT_DELAY_US sleeps before each block of a
 * snapshot, so a test can kill the collector while one is being cut
 * (tests/e2e/test_flight.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capfile.h"
#include "crc32c.h"
#include "sink.h"
#include "testenv.h"

/* The time index's record type (its offsets are another file's): never
 * copied into a snapshot. */
#define FL_T_INDEX 0xF006u

typedef struct fl_chunk {
    uint8_t *buf; /* whole records, as they came */
    size_t len, cap;
} fl_chunk;

typedef struct flight_sink {
    sl_sink base; /* first: a sl_sink * is a flight_sink * */
    sl_sink_flight_config cfg;
    char *path;       /* cfg.path, owned */
    uint8_t *hdr;     /* the first file header the writer sent */
    size_t hdr_len;
    fl_chunk *ch;     /* oldest first; the last is the current chunk */
    size_t n, cap;
    fl_chunk spare;   /* a forgotten chunk's buffer, for the next one */
    /* Between hold() and snapshot(): the reserved file. */
    sl_sink *snap;
    uint64_t snap_n;
    uint8_t snap_key[SL_CAP2_KEY_LEN]; /* its block key (in its header) */
    uint64_t next_n;  /* the first number to try next time */
    char name[4096];
    uint64_t test_delay_ns;
} flight_sink;

int
sl_snapshot_name(char *buf, size_t cap, const char *path, uint64_t n)
{
    const char *base = path, *dot, *p;
    size_t stem;
    int len;

    for (p = path; *p != '\0'; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    dot = strrchr(base, '.');
    if (dot == NULL || dot == base)
        stem = strlen(path);
    else
        stem = (size_t)(dot - path);
    len = snprintf(buf, cap, "%.*s.snapshot-%03llu%s", (int)stem, path,
                   (unsigned long long)n, path + stem);
    if (len < 0 || (size_t)len >= cap)
        return SL_ENAMETOOLONG;
    return 0;
}

/* Appends len bytes to chunk c. */
static int
chunk_put(fl_chunk *c, const uint8_t *p, size_t len)
{
    if (c->len + len > c->cap) {
        size_t cap = c->cap ? c->cap : 65536;
        uint8_t *q;

        while (cap < c->len + len)
            cap *= 2;
        q = realloc(c->buf, cap);
        if (q == NULL)
            return SL_ENOMEM;
        c->buf = q;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, p, len);
    c->len += len;
    return 0;
}

/* Starts a new current chunk (reusing a forgotten one's buffer). */
static int
chunk_begin(flight_sink *f)
{
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        fl_chunk *c = realloc(f->ch, cap * sizeof(*c));

        if (c == NULL)
            return SL_ENOMEM;
        f->ch = c;
        f->cap = cap;
    }
    f->ch[f->n] = f->spare;
    f->ch[f->n].len = 0;
    memset(&f->spare, 0, sizeof(f->spare));
    f->n++;
    return 0;
}

/* Forgets the oldest chunks beyond keep full ones (never while a
 * snapshot is pending: its records before the trigger must stay). */
static void
forget(flight_sink *f)
{
    while (f->snap == NULL && f->n > f->cfg.keep + 1) {
        free(f->spare.buf);
        f->spare = f->ch[0];
        memmove(f->ch, f->ch + 1, (f->n - 1) * sizeof(*f->ch));
        f->n--;
    }
}

static int
fl_write(sl_sink *s, const sl_sink_block *b)
{
    flight_sink *f = (flight_sink *)s;

    if (b->kind == SL_SINK_FILE_HEADER) {
        size_t len = 0;

        if (f->hdr != NULL)
            return 0; /* a chunk's: the first one says all we need */
        for (size_t i = 0; i < b->iovcnt; i++)
            len += b->iov[i].len;
        f->hdr = malloc(len);
        if (f->hdr == NULL)
            return SL_ENOMEM;
        len = 0;
        for (size_t i = 0; i < b->iovcnt; i++) {
            memcpy(f->hdr + len, b->iov[i].base, b->iov[i].len);
            len += b->iov[i].len;
        }
        f->hdr_len = len;
        return 0;
    }
    if (b->records == 1 && b->recs_len >= SL_CAP_REC_HDR) {
        uint16_t t = sl_load_le16(b->recs + 8);

        /* A chunk's close record (its totals are the run's) and an index
         * (another file's offsets) never go into a snapshot. */
        if (t == SL_CAP_T_CLOSE || t == FL_T_INDEX)
            return 0;
    }
    if (f->n == 0 && chunk_begin(f) != 0)
        return SL_ENOMEM;
    return chunk_put(&f->ch[f->n - 1], b->recs, b->recs_len);
}

static int
fl_sync(sl_sink *s)
{
    (void)s; /* memory: nothing to make durable until a snapshot */
    return 0;
}

static int
fl_rotate(sl_sink *s)
{
    flight_sink *f = (flight_sink *)s;
    int rc = chunk_begin(f);

    if (rc == 0)
        forget(f);
    return rc;
}

/* The snapshot file's header: the capture's, with a key of its own,
 * chunk 0 (a file of its own, not a member of a set) and kind snapshot. */
static int
snap_header(flight_sink *f)
{
    uint8_t *h;
    sl_sink_block b;
    sl_iovec iov;
    int rc;

    if (f->hdr == NULL || f->hdr_len < SL_CAP2_FILE_HDR_FIXED)
        return SL_EINVAL;
    h = malloc(f->hdr_len);
    if (h == NULL)
        return SL_ENOMEM;
    memcpy(h, f->hdr, f->hdr_len);
    rc = sl_os_random(f->snap_key, SL_CAP2_KEY_LEN);
    if (rc == 0) {
        memcpy(h + 32, f->snap_key, SL_CAP2_KEY_LEN);
        sl_store_le32(h + 72, SL_CAP2_KIND_SNAPSHOT);
        rc = sl_cap2_header_set_chunk(h, f->hdr_len, 0);
    }
    if (rc == 0) {
        iov.base = h;
        iov.len = f->hdr_len;
        memset(&b, 0, sizeof(b));
        b.kind = SL_SINK_FILE_HEADER;
        b.iov = &iov;
        b.iovcnt = 1;
        b.len = f->hdr_len;
        rc = sl_sink_write(f->snap, &b);
    }
    free(h);
    return rc;
}

int
sl_sink_flight_hold(sl_sink *s, uint64_t *n, const char **name)
{
    flight_sink *f = (flight_sink *)s;
    int rc = SL_EEXIST;

    if (f->snap == NULL) {
        /* The next free number: a file of an earlier run (or anyone
         * else's) is never replaced. */
        for (uint64_t k = 0; k < 100000 && rc == SL_EEXIST; k++) {
            rc = sl_snapshot_name(f->name, sizeof(f->name), f->path,
                                  f->next_n);
            if (rc != 0)
                return rc;
            rc = sl_sink_file_open(f->name, f->cfg.flags & ~SL_OS_FILE_FORCE,
                                   &f->snap);
            f->next_n++;
        }
        if (rc != 0) {
            f->snap = NULL;
            return rc;
        }
        f->snap_n = f->next_n - 1;
        if (f->cfg.set_group)
            rc = sl_sink_file_set_group(f->snap, f->cfg.gid);
        if (rc == 0)
            rc = snap_header(f);
        if (rc != 0) {
            sl_sink_file_discard(f->snap);
            f->snap = NULL;
            return rc;
        }
    }
    *n = f->snap_n;
    *name = f->name;
    return 0;
}

/* The snapshot being cut: its key, offset, block number and totals. */
typedef struct snap_state {
    uint8_t key[SL_CAP2_KEY_LEN];
    uint64_t off, seq;
    uint64_t producers, events, bytes, dropped, malformed;
} snap_state;

/* Seals count records at recs (len bytes) as one uncompressed block of
 * the snapshot. */
static int
snap_seal(flight_sink *f, snap_state *st, const uint8_t *recs, size_t len,
          uint32_t count)
{
    uint8_t hdr[SL_CAP2_BLOCK_HDR], trl[SL_CAP2_BLOCK_TRL];
    uint32_t block_len = sl_cap2_block_len((uint32_t)len);
    uint64_t first_ns = sl_load_le64(recs + 32), last_ns = first_ns;
    sl_iovec iov[3];
    sl_sink_block b;
    int rc;

    if (f->test_delay_ns != 0)
        sl_os_sleep_ns(f->test_delay_ns);
    for (size_t off = 0; off < len; off += sl_load_le32(recs + off))
        last_ns = sl_load_le64(recs + off + 32);
    sl_cap2_block_header(hdr, st->key, st->off, st->seq, count,
                         (uint32_t)len, (uint32_t)len, SL_CAP2_CODEC_NONE,
                         sl_crc32c(0, recs, len), first_ns, last_ns);
    sl_cap2_block_trailer(trl, hdr);
    iov[0].base = hdr;
    iov[0].len = sizeof(hdr);
    iov[1].base = recs;
    iov[1].len = len;
    iov[2].base = trl;
    iov[2].len = sizeof(trl);
    memset(&b, 0, sizeof(b));
    b.kind = SL_SINK_BLOCK;
    b.iov = iov;
    b.iovcnt = 3;
    b.len = block_len;
    b.seq = st->seq;
    b.records = count;
    b.recs = recs;
    b.recs_len = len;
    rc = sl_sink_write(f->snap, &b);
    if (rc != 0)
        return rc;
    st->seq++;
    st->off += block_len;
    return 0;
}

/* Counts one record into the snapshot's close record. */
static void
snap_count(snap_state *st, const uint8_t *r)
{
    uint16_t type = sl_load_le16(r + 8);
    uint32_t plen = sl_load_le32(r + 4);
    const uint8_t *pl = r + SL_CAP_REC_HDR;

    if (type < 0xF000u) {
        st->events++;
        st->bytes += plen;
    } else if (type == SL_CAP_T_CONNECT || type == SL_CAP_T_LIVE) {
        st->producers++;
    } else if (type == SL_CAP_T_DROP && plen >= SL_CAP_DROP_LEN) {
        st->dropped += sl_load_le64(pl);
    } else if (type == SL_CAP_T_DISCONNECT && plen >= SL_CAP_DISCONNECT_MIN &&
               sl_load_le32(pl + 28) != 0) {
        st->malformed++;
    }
}

/* Writes every held record to the reserved file, then its close
 * record, and syncs it. */
static int
snap_write(flight_sink *f)
{
    uint8_t rec[SL_CAP_REC_HDR + SL_CAP_CLOSE_LEN], pl[SL_CAP_CLOSE_LEN];
    size_t target = f->cfg.block_target ? f->cfg.block_target : 1u << 20;
    snap_state st;
    uint64_t last_ns = 0;
    int rc = 0;

    memset(&st, 0, sizeof(st));
    memcpy(st.key, f->snap_key, SL_CAP2_KEY_LEN);
    st.off = f->hdr_len;
    for (size_t i = 0; i < f->n && rc == 0; i++) {
        const fl_chunk *c = &f->ch[i];
        size_t off = 0, start = 0;
        uint32_t count = 0;

        while (off < c->len && rc == 0) {
            const uint8_t *r = c->buf + off;
            uint32_t size = sl_load_le32(r);
            uint16_t type = sl_load_le16(r + 8);

            if (size < SL_CAP_REC_HDR || size > c->len - off)
                break; /* cannot happen: the writer's own records */
            if (i > 0 && type == SL_CAP_T_LIVE) {
                /* A later chunk's preamble: the first one said it. */
                if (count > 0)
                    rc = snap_seal(f, &st, c->buf + start, off - start,
                                   count);
                off += size;
                start = off;
                count = 0;
                continue;
            }
            if (count > 0 && off + size - start > target) {
                rc = snap_seal(f, &st, c->buf + start, off - start, count);
                start = off;
                count = 0;
                if (rc != 0)
                    break;
            }
            snap_count(&st, r);
            last_ns = sl_load_le64(r + 32);
            off += size;
            count++;
        }
        if (rc == 0 && count > 0)
            rc = snap_seal(f, &st, c->buf + start, off - start, count);
    }
    if (rc != 0)
        return rc;
    sl_store_le64(pl + 0, st.producers);
    sl_store_le64(pl + 8, st.events);
    sl_store_le64(pl + 16, st.bytes);
    sl_store_le64(pl + 24, st.dropped);
    sl_store_le64(pl + 32, st.malformed);
    {
        uint64_t now = sl_os_now_ns();

        sl_cap_rec_put(rec, SL_CAP_T_CLOSE, 0, 0, 0,
                       now > last_ns ? now : last_ns, pl, sizeof(pl));
    }
    rc = snap_seal(f, &st, rec, sizeof(rec), 1);
    if (rc == 0)
        rc = sl_sink_sync(f->snap);
    return rc;
}

static int
fl_snapshot(sl_sink *s)
{
    flight_sink *f = (flight_sink *)s;
    const char *name;
    uint64_t n;
    int rc = sl_sink_flight_hold(s, &n, &name);

    if (rc != 0)
        return rc;
    rc = snap_write(f);
    if (rc == 0)
        rc = sl_sink_close(f->snap);
    else
        sl_sink_close(f->snap); /* what it holds stays readable */
    f->snap = NULL;
    forget(f);
    return rc;
}

static int
fl_close(sl_sink *s)
{
    flight_sink *f = (flight_sink *)s;
    int rc = 0;

    /* The writer cuts a pending snapshot before it finishes; a file still
     * reserved here (the writer failed) keeps what it has: a header. */
    if (f->snap != NULL)
        rc = sl_sink_close(f->snap);
    for (size_t i = 0; i < f->n; i++)
        free(f->ch[i].buf);
    free(f->ch);
    free(f->spare.buf);
    free(f->hdr);
    free(f->path);
    free(f);
    return rc;
}

static const sl_sink_ops flight_ops = {
    .name = "flight recorder",
    .write = fl_write,
    .sync = fl_sync,
    .rotate = fl_rotate,
    .snapshot = fl_snapshot,
    .close = fl_close,
};

int
sl_sink_flight_open(const sl_sink_flight_config *cfg, sl_sink **out)
{
    flight_sink *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return SL_ENOMEM;
    f->cfg = *cfg;
    f->path = strdup(cfg->path);
    if (f->path == NULL) {
        free(f);
        return SL_ENOMEM;
    }
    f->cfg.path = f->path;
    f->next_n = 1;
    f->test_delay_ns =
        sl_test_env_u64("SLUICE_TEST_SNAPSHOT_DELAY_US", 10000000u) * 1000u;
    f->base.ops = &flight_ops;
    *out = &f->base;
    return 0;
}

int
sl_sink_is_flight(const sl_sink *s)
{
    return s != NULL && s->ops == &flight_ops;
}
