/*
 * The writer thread. It is the ring's single consumer: it takes the
 * committed bytes (already whole capture records, see capfile.h), cuts them
 * into blocks of about block_target bytes, seals each as a format v2
 * block (a CRC32C over the records, a SipHash tag under the file's secret
 * key over the header and its file offset) and hands header + records + trailer to the sink (sink.h) as one
 * gathered unit, straight from ring memory. As soon as the sink has taken
 * a block the writer releases that block's ring space, which is what lets
 * waiting workers (lossless backpressure) continue: a slow sink holds back
 * one block, not the whole span it was cut from.
 *
 * On a sink error (disk full, file size limit) the writer records the
 * first error and keeps consuming without writing, so workers never block
 * forever; the collector sees sl_writer_error() and stops. Everything
 * written before the failed block stays a valid capture.
 *
 * Test-only: the environment variable SLUICE_TEST_WRITER_DELAY_US makes
 * the writer sleep that many microseconds before each block, a throttled
 * disk on demand, so the fault suite can fill the ring
 * (tests/e2e/test_ring_full.sh, docs/reliability.md).
 */
#include "writer.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capfile.h"
#include "codec.h"
#include "crc32c.h"
#include "err.h"
#include "sink.h"
#include "testenv.h"

/* A producer live in the capture (connected, not yet disconnected), as
 * the chunk preamble records it (docs/capture-format.md section 16). */
typedef struct live_prod {
    uint32_t id; /* 0: empty slot */
    uint32_t pid, uid;
    uint8_t mode;
    uint8_t name_len; /* the wire limits names to 255 bytes */
    uint64_t next_seq;
    char name[255];
} live_prod;

/* Open addressing by producer id, linear probing, deletion by backward
 * shift; grown at half full. Writer thread only. */
typedef struct live_table {
    live_prod *slot;
    size_t cap; /* a power of two, or 0 */
    size_t n;
    live_prod *last; /* the slot of the last lookup (runs of one id) */
} live_table;

static size_t
live_home(const live_table *t, uint32_t id)
{
    return (size_t)((id * 0x9E3779B1u) & (uint32_t)(t->cap - 1));
}

static live_prod *
live_find(live_table *t, uint32_t id)
{
    size_t i;

    if (t->last != NULL && t->last->id == id)
        return t->last;
    if (t->cap == 0)
        return NULL;
    for (i = live_home(t, id); t->slot[i].id != 0; i = (i + 1) & (t->cap - 1))
        if (t->slot[i].id == id)
            return t->last = &t->slot[i];
    return NULL;
}

static int
live_grow(live_table *t)
{
    size_t cap = t->cap ? t->cap * 2 : 64;
    live_prod *old = t->slot, *ns = calloc(cap, sizeof(*ns));
    size_t oldcap = t->cap;

    if (ns == NULL)
        return SL_ENOMEM;
    t->slot = ns;
    t->cap = cap;
    t->last = NULL;
    for (size_t k = 0; k < oldcap; k++) {
        size_t i;

        if (old[k].id == 0)
            continue;
        for (i = live_home(t, old[k].id); ns[i].id != 0;
             i = (i + 1) & (cap - 1))
            ;
        ns[i] = old[k];
    }
    free(old);
    return 0;
}

/* @return the producer's slot (new or existing), NULL when out of memory
 * (the preamble then lacks it; nothing else is lost). */
static live_prod *
live_add(live_table *t, uint32_t id)
{
    live_prod *p = live_find(t, id);
    size_t i;

    if (p != NULL)
        return p;
    if ((t->n + 1) * 2 > t->cap && live_grow(t) != 0)
        return NULL;
    for (i = live_home(t, id); t->slot[i].id != 0; i = (i + 1) & (t->cap - 1))
        ;
    memset(&t->slot[i], 0, sizeof(t->slot[i]));
    t->slot[i].id = id;
    t->n++;
    return t->last = &t->slot[i];
}

static void
live_remove(live_table *t, uint32_t id)
{
    live_prod *p = live_find(t, id);
    size_t i, j, mask = t->cap - 1;

    if (p == NULL)
        return;
    t->last = NULL;
    i = (size_t)(p - t->slot);
    t->slot[i].id = 0;
    t->n--;
    /* Backward shift: move later members of the probe run into the hole
     * when their home lies at or before it. */
    for (j = (i + 1) & mask; t->slot[j].id != 0; j = (j + 1) & mask) {
        size_t h = live_home(t, t->slot[j].id);

        if (((j - h) & mask) >= ((j - i) & mask)) {
            t->slot[i] = t->slot[j];
            t->slot[j].id = 0;
            i = j;
        }
    }
}

struct sl_writer {
    sl_writer_config cfg;
    sl_thread *thread;
    uint64_t block_seq;
    uint64_t file_off; /* where the next block goes (its tag covers it) */
    uint8_t key[SL_CAP2_KEY_LEN]; /* the file's block key, never sent out */
    sl_writer_summary sum;
    /* Set by sl_writer_finish() after every worker has committed its last
     * record. Release/acquire: the summary written before it is visible to
     * the writer thread after it reads 1. */
    atomic_int finishing;
    /* First error; read by any thread for reporting only. */
    atomic_int error;
    /* Statistics for the status line; relaxed, no data depends on it. */
    atomic_uint_least64_t bytes;
    uint64_t test_delay_ns; /* SLUICE_TEST_WRITER_DELAY_US, 0 = none */
    /* --compress: the encoder (NULL for none) and its output buffer,
     * grown to the bound of the largest block so far. */
    sl_codec *codec;
    uint8_t *zbuf;
    size_t zcap;
    /* The header every chunk starts with (key and chunk change). */
    sl_cap2_header info;
    char *pipe, *host; /* copies behind info.pipe, info.host */
    /* Rotation (cfg.chunked): the current chunk, when it began
     * (monotonic ns), how many blocks of ring records it holds, and the
     * state a reader of the next chunk alone needs. */
    uint64_t chunk_t0;
    uint64_t chunk_blocks;
    /* The current chunk number: written by the writer thread, read by
     * any thread for reporting only (relaxed). */
    atomic_uint_least64_t chunk;
    live_table live;
    uint8_t *state_rec; /* the last state record sealed, whole */
    size_t state_len, state_cap;
    sl_writer_summary run; /* totals of the records sealed so far */
    /* The current file's time index (docs/capture-format.md 15.5): an
     * entry per block sealed (or per stride of blocks), written before
     * the close record. Writer thread only. */
    sl_cap_index idx;
    /* Requests from other threads (sluice-ctl rotate/snapshot): one at a
     * time, under req_lock. req_kind is posted by a requester, served by
     * the writer thread (req_done = req_gen, req_rc), cleared by the
     * requester. req_posted mirrors "req_kind != 0 and not served" as a
     * hint the writer reads between blocks without the lock; relaxed is
     * enough because the writer then takes req_lock, which orders
     * everything the request carries. */
    sl_mutex req_lock;
    sl_cond req_cv;
    int req_kind; /* 0 none, REQ_ROTATE, REQ_SNAPSHOT */
    uint64_t req_gen, req_done;
    int req_rc;
    int ended; /* the writer thread has finished: no more requests */
    atomic_int req_posted;
    unsigned req_cause;  /* REQ_SNAPSHOT with a flight recorder */
    char req_name[4096]; /* its answer: the snapshot's file name */
    uint64_t test_rotate_delay_ns; /* SLUICE_TEST_ROTATE_DELAY_US */
    /* Flight recorder (cfg.flight), writer thread only: a trigger whose
     * snapshot waits for its cut (--trigger-after), when (monotonic ns),
     * bytes sealed since the trigger, the snapshot's number and name. */
    int fl_pending;
    uint64_t fl_cut_at, fl_after_bytes, fl_snap;
    const char *fl_name;
};

enum { REQ_ROTATE = 1, REQ_SNAPSHOT = 2 };

static int flight_trigger(sl_writer *w, unsigned cause, const uint8_t *ev);
static int flight_write_block(sl_writer *w, const uint8_t *recs, size_t len,
                              uint32_t count);
static int flight_check(sl_writer *w);

/* Records the first error and tells the owner, once (the CAS winner). */
static void
set_error(sl_writer *w, int rc)
{
    int expected = 0;

    if (atomic_compare_exchange_strong_explicit(&w->error, &expected, rc,
                                                memory_order_relaxed,
                                                memory_order_relaxed) &&
        w->cfg.on_error != NULL)
        w->cfg.on_error(w->cfg.on_error_ctx, rc);
}

/* Encodes len bytes of records into w->zbuf, zero-padded to 8 (the
 * padding is covered by body_crc). Runs on the writer thread, so a slow
 * codec holds the ring like a slow disk does: ingest waits (or drops,
 * with --on-full drop) only once the ring is full. */
static int
compress_block(sl_writer *w, const uint8_t *recs, size_t len, size_t *zlen)
{
    size_t need = sl_codec_bound(w->codec, len) + 8u;
    int rc;

    if (need > w->zcap) {
        uint8_t *p = realloc(w->zbuf, need);

        if (p == NULL)
            return SL_ENOMEM;
        w->zbuf = p;
        w->zcap = need;
    }
    rc = sl_codec_encode(w->codec, recs, len, w->zbuf, w->zcap - 8u, zlen);
    if (rc != 0)
        return rc;
    memset(w->zbuf + *zlen, 0, 8u);
    return 0;
}

/* Seals the count records at recs (len bytes) as one block and hands it
 * to the sink. With use_codec, compresses it first (the chunk preamble
 * and the close record are stored as they are: small, and sealed while a
 * compressed data block may be waiting in w->zbuf). */
static int
seal(sl_writer *w, const uint8_t *recs, size_t len, uint32_t count,
     const uint8_t *stored, size_t stored_len, uint8_t codec)
{
    uint8_t hdr[SL_CAP2_BLOCK_HDR], trl[SL_CAP2_BLOCK_TRL];
    uint32_t block_len;
    uint64_t first_ns, last_ns, min_ns, max_ns;
    uint32_t meta = 0;
    size_t padded;
    sl_iovec iov[3];
    sl_sink_block b;
    sl_cap_rec r;
    size_t off;
    int rc;

    /* Records are 8-byte multiples, so the stored area needs no padding;
     * the time range is the first and the last record's collector_ns
     * (walked by their size fields, a few loads per record). */
    sl_cap_rec_decode(recs, &r);
    first_ns = r.collector_ns;
    last_ns = min_ns = max_ns = first_ns;
    for (off = 0; off < len; off += r.size) {
        sl_cap_rec_decode(recs + off, &r);
        last_ns = r.collector_ns;
        if (last_ns < min_ns)
            min_ns = last_ns;
        if (last_ns > max_ns)
            max_ns = last_ns;
        meta += r.type >= 0xF000u;
    }
    padded = (stored_len + 7u) & ~(size_t)7u;
    block_len = sl_cap2_block_len((uint32_t)stored_len);
    sl_cap2_block_header(hdr, w->key, w->file_off, w->block_seq, count,
                         (uint32_t)stored_len, (uint32_t)len, codec,
                         sl_crc32c(0, stored, padded), first_ns, last_ns);
    sl_cap2_block_trailer(trl, hdr);
    iov[0].base = hdr;
    iov[0].len = sizeof(hdr);
    iov[1].base = stored;
    iov[1].len = padded;
    iov[2].base = trl;
    iov[2].len = sizeof(trl);
    b.kind = SL_SINK_BLOCK;
    b.iov = iov;
    b.iovcnt = 3;
    b.len = block_len;
    b.seq = w->block_seq;
    b.records = count;
    b.recs = recs;
    b.recs_len = len;
    rc = sl_sink_write(w->cfg.sink, &b);
    if (rc != 0)
        return rc;
    sl_cap_index_add(&w->idx, w->file_off, min_ns, max_ns, count, meta);
    w->block_seq++;
    w->file_off += block_len;
    w->fl_after_bytes += block_len;
    atomic_fetch_add_explicit(&w->bytes, block_len, memory_order_relaxed);
    return 0;
}

/* A block of the writer's own records, stored uncompressed. */
static int
seal_plain(sl_writer *w, const uint8_t *recs, size_t len, uint32_t count)
{
    return seal(w, recs, len, count, recs, len, SL_CAP2_CODEC_NONE);
}

/* Updates the live producers and the running totals from records about
 * to be sealed (rotation only: a chunk's preamble and close record come
 * from them). One pass over the record headers; consecutive records of
 * one producer cost one table lookup. */
static void
track(sl_writer *w, const uint8_t *recs, size_t len)
{
    sl_cap_rec r;
    size_t off;

    for (off = 0; off < len; off += r.size) {
        const uint8_t *pl = recs + off + SL_CAP_REC_HDR;
        live_prod *p;

        sl_cap_rec_decode(recs + off, &r);
        if (r.type < 0xF000u) {
            w->run.events++;
            w->run.bytes += r.payload_len;
            p = live_find(&w->live, r.producer);
            if (p != NULL)
                p->next_seq = r.seq + 1;
            continue;
        }
        switch (r.type) {
        case SL_CAP_T_CONNECT:
            w->run.producers++;
            if (r.payload_len < SL_CAP_CONNECT_FIXED)
                break;
            p = live_add(&w->live, r.producer);
            if (p != NULL) {
                size_t nl = sl_load_le16(pl + 10);

                if (nl > r.payload_len - SL_CAP_CONNECT_FIXED)
                    nl = r.payload_len - SL_CAP_CONNECT_FIXED;
                if (nl > sizeof(p->name))
                    nl = sizeof(p->name);
                p->pid = sl_load_le32(pl);
                p->uid = sl_load_le32(pl + 4);
                p->mode = pl[8];
                p->name_len = (uint8_t)nl;
                memcpy(p->name, pl + SL_CAP_CONNECT_FIXED, nl);
                p->next_seq = 0;
            }
            break;
        case SL_CAP_T_DISCONNECT:
            if (r.payload_len >= SL_CAP_DISCONNECT_MIN &&
                sl_load_le32(pl + 28) != 0)
                w->run.malformed++;
            live_remove(&w->live, r.producer);
            break;
        case SL_CAP_T_DROP:
            if (r.payload_len >= SL_CAP_DROP_LEN)
                w->run.dropped += sl_load_le64(pl);
            break;
        case SL_CAP_T_STATE:
            if (r.size > w->state_cap) {
                uint8_t *q = realloc(w->state_rec, r.size);

                if (q == NULL)
                    break; /* the preamble lacks it; nothing else lost */
                w->state_rec = q;
                w->state_cap = r.size;
            }
            memcpy(w->state_rec, recs + off, r.size);
            w->state_len = r.size;
            break;
        default:
            break;
        }
    }
}

static int rotate_chunk(sl_writer *w);

/* Bytes of the block holding the close record alone. */
#define CLOSE_BLOCK_LEN \
    (SL_CAP2_BLOCK_HDR + SL_CAP_REC_HDR + SL_CAP_CLOSE_LEN_WRITTEN + \
     SL_CAP2_BLOCK_TRL)

/* Bytes a file's end takes after its last data block: the index block
 * (with room for one more entry) and the close block. */
static uint64_t
end_len(const sl_writer *w)
{
    return sl_cap2_block_len((uint32_t)(SL_CAP_REC_HDR +
                                        sl_cap_index_payload_len(&w->idx,
                                                                 1))) +
           CLOSE_BLOCK_LEN;
}

static int
write_block(sl_writer *w, const uint8_t *recs, size_t len, uint32_t count)
{
    const uint8_t *stored = recs;
    size_t stored_len = len, zlen = 0;
    uint8_t codec = SL_CAP2_CODEC_NONE;
    int rc;

    if (w->test_delay_ns != 0)
        sl_os_sleep_ns(w->test_delay_ns);
    if (w->codec != NULL) {
        rc = compress_block(w, recs, len, &zlen);
        if (rc != 0)
            return rc;
        /* A block that does not shrink is stored as it is (codec 0): a
         * reader then needs no decoder for it, and it is never larger. */
        if (zlen < len) {
            stored = w->zbuf;
            stored_len = zlen;
            codec = (uint8_t)w->cfg.codec;
        }
    }
    if (w->cfg.chunked) {
        /* A new chunk before a block that would take this one past
         * --rotate-size (its close record included), or once it is
         * --rotate-time old; never an empty one. The preamble is sealed
         * uncompressed, so w->zbuf still holds this block after it. */
        uint64_t blen = sl_cap2_block_len((uint32_t)stored_len);

        if (w->chunk_blocks > 0 &&
            ((w->cfg.rotate_bytes != 0 &&
              w->file_off + blen + end_len(w) > w->cfg.rotate_bytes) ||
             (w->cfg.rotate_ns != 0 &&
              sl_os_mono_ns() - w->chunk_t0 >= w->cfg.rotate_ns))) {
            rc = rotate_chunk(w);
            if (rc != 0)
                return rc;
        }
    }
    rc = seal(w, recs, len, count, stored, stored_len, codec);
    if (rc != 0)
        return rc;
    if (w->cfg.chunked) {
        track(w, recs, len);
        w->chunk_blocks++;
    }
    return 0;
}

/* Test-only: SLUICE_TEST_CAPTURE_KEY, 32 hex digits, fixes the block key
 * (and the capture id, its bytes reversed) so a fixture can be compared
 * byte for byte. Anything else is ignored. @return 1 if it was used. */
static int
test_key(uint8_t key[SL_CAP2_KEY_LEN], uint8_t id[SL_CAP2_ID_LEN])
{
    const char *v = getenv("SLUICE_TEST_CAPTURE_KEY");
    uint8_t k[SL_CAP2_KEY_LEN];

    if (v == NULL || strlen(v) != 2 * SL_CAP2_KEY_LEN)
        return 0;
    for (unsigned i = 0; i < 2 * SL_CAP2_KEY_LEN; i++) {
        char ch = v[i];
        unsigned d;

        if (ch >= '0' && ch <= '9')
            d = (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            d = (unsigned)(ch - 'a' + 10);
        else
            return 0;
        if (i % 2 == 0)
            k[i / 2] = (uint8_t)(d << 4);
        else
            k[i / 2] |= (uint8_t)d;
    }
    memcpy(key, k, sizeof(k));
    for (unsigned i = 0; i < SL_CAP2_ID_LEN; i++)
        id[i] = k[SL_CAP2_KEY_LEN - 1 - i];
    return 1;
}

/* The test-only throttle: microseconds, digits only, at most 10 s; any
 * other value is ignored, so a stray setting cannot stall a collector. */
static uint64_t
test_delay_ns(void)
{
    return sl_test_env_u64("SLUICE_TEST_WRITER_DELAY_US", 10000000u) * 1000u;
}

/* Blocks retention deleted before they were forwarded (forwarding's
 * hooks; 0 without them). Writer thread: retention runs on it too, so
 * every deletion before this close record is counted in it. */
static uint64_t
expired_unforwarded(const sl_writer *w)
{
    const sl_retain_hooks *h = w->cfg.retain;

    return h != NULL ? h->expired_total(h->arg) : 0;
}

/* The time index of the file being closed, as the only record of a
 * block (docs/capture-format.md 15.5). A file with no block yet gets
 * none (an index has at least one entry). */
static int
write_index(sl_writer *w)
{
    size_t plen = sl_cap_index_payload_len(&w->idx, 0);
    size_t rlen = sl_cap_rec_size(plen);
    uint8_t *rec, *pl;
    int rc;

    if (w->idx.n == 0)
        return 0;
    rec = malloc(rlen + plen);
    if (rec == NULL)
        return SL_ENOMEM;
    pl = rec + rlen;
    sl_cap_index_encode(&w->idx, pl);
    sl_cap_rec_put(rec, SL_CAP_T_INDEX, 0, 0, 0, sl_os_now_ns(), pl, plen);
    rc = seal_plain(w, rec, rlen, 1);
    free(rec);
    return rc;
}

/* Ends the current chunk (or the whole capture): its time index, then a
 * last block holding the close record with *sum alone, then a sync, so a
 * closed chunk is durable. The one "close a chunk" path: the final close
 * and every rotation go through it. */
static int
close_chunk(sl_writer *w, const sl_writer_summary *sum)
{
    uint8_t rec[SL_CAP_REC_HDR + SL_CAP_CLOSE_LEN_WRITTEN];
    uint8_t pl[SL_CAP_CLOSE_LEN_WRITTEN];
    int rc;

    rc = write_index(w);
    if (rc != 0)
        return rc;

    sl_store_le64(pl + 0, sum->producers);
    sl_store_le64(pl + 8, sum->events);
    sl_store_le64(pl + 16, sum->bytes);
    sl_store_le64(pl + 24, sum->dropped);
    sl_store_le64(pl + 32, sum->malformed);
    sl_store_le64(pl + 40, expired_unforwarded(w));
    sl_cap_rec_put(rec, SL_CAP_T_CLOSE, 0, 0, 0, sl_os_now_ns(), pl,
                   sizeof(pl));
    rc = seal_plain(w, rec, sizeof(rec), 1);
    if (rc == 0)
        rc = sl_sink_sync(w->cfg.sink);
    return rc;
}

/* Writes the header of chunk n (0: a capture that is not a set) under a
 * new block key, the file's first unit. */
static int
write_header(sl_writer *w, uint64_t n)
{
    size_t cap = SL_CAP2_FILE_HDR_FIXED + w->info.pipe_len + w->info.host_len;
    uint8_t *hdr = malloc(cap);
    size_t hdr_len;
    sl_sink_block b;
    sl_iovec iov;
    int rc;

    if (hdr == NULL)
        return SL_ENOMEM;
    w->info.chunk = n;
    rc = sl_cap2_header_encode(hdr, cap, &w->info, &hdr_len);
    if (rc == 0) {
        iov.base = hdr;
        iov.len = hdr_len;
        memset(&b, 0, sizeof(b));
        b.kind = SL_SINK_FILE_HEADER;
        b.iov = &iov;
        b.iovcnt = 1;
        b.len = hdr_len;
        rc = sl_sink_write(w->cfg.sink, &b);
    }
    free(hdr);
    if (rc != 0)
        return rc;
    memcpy(w->key, w->info.key, sizeof(w->key));
    w->file_off = hdr_len;
    w->block_seq = 0;
    sl_cap_index_reset(&w->idx);
    w->chunk_blocks = 0;
    w->chunk_t0 = sl_os_mono_ns();
    atomic_store_explicit(&w->chunk, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->bytes, hdr_len, memory_order_relaxed);
    return 0;
}

/* The chunk preamble: the last state record, then one LIVE record per
 * live producer (connect payload, seq = its next sequence number), in
 * blocks of about block_target bytes. */
static int
write_preamble(sl_writer *w)
{
    size_t cap = w->cfg.block_target + w->state_len +
                 sl_cap_rec_size(SL_CAP_CONNECT_FIXED + 255u);
    uint8_t *buf = malloc(cap), *q = buf;
    uint64_t now = sl_os_now_ns();
    uint32_t count = 0;
    int rc = 0;

    if (buf == NULL)
        return SL_ENOMEM;
    if (w->state_len > 0) {
        memcpy(q, w->state_rec, w->state_len);
        /* Restamped: the preamble is sealed now, and a block's records
         * keep collector time in order. */
        sl_store_le64(q + 32, now);
        q += w->state_len;
        count++;
    }
    for (size_t i = 0; i < w->live.cap && rc == 0; i++) {
        const live_prod *p = &w->live.slot[i];
        uint8_t pl[SL_CAP_CONNECT_FIXED + 255u];

        if (p->id == 0)
            continue;
        sl_store_le32(pl, p->pid);
        sl_store_le32(pl + 4, p->uid);
        pl[8] = p->mode;
        pl[9] = 0;
        sl_store_le16(pl + 10, p->name_len);
        memcpy(pl + SL_CAP_CONNECT_FIXED, p->name, p->name_len);
        q = sl_cap_rec_put(q, SL_CAP_T_LIVE, p->id, p->next_seq, 0, now, pl,
                           SL_CAP_CONNECT_FIXED + (size_t)p->name_len);
        count++;
        if ((size_t)(q - buf) >= w->cfg.block_target) {
            rc = seal_plain(w, buf, (size_t)(q - buf), count);
            q = buf;
            count = 0;
        }
    }
    if (rc == 0 && count > 0)
        rc = seal_plain(w, buf, (size_t)(q - buf), count);
    free(buf);
    return rc;
}

/* Test-only: SLUICE_TEST_ROTATE_DELAY_US sleeps inside each rotation,
 * between the new chunk's header and its preamble, so a test can kill
 * the collector mid-rotation (tests/e2e/test_rotate.sh). */
static uint64_t
test_rotate_delay_ns(void)
{
    return sl_test_env_u64("SLUICE_TEST_ROTATE_DELAY_US", 10000000u) * 1000u;
}

/* Ends the current chunk and starts the next: close record and sync,
 * the sink's next file (retention runs there), a header under a fresh
 * key, the preamble. */
static int
rotate_chunk(sl_writer *w)
{
    int rc = close_chunk(w, &w->run);

    if (rc == 0)
        rc = sl_sink_rotate(w->cfg.sink);
    if (rc == 0 && (rc = sl_os_random(w->info.key, sizeof(w->info.key))) == 0)
        rc = write_header(w, atomic_load_explicit(&w->chunk,
                                                  memory_order_relaxed) + 1);
    if (rc == 0 && w->test_rotate_delay_ns != 0)
        sl_os_sleep_ns(w->test_rotate_delay_ns);
    if (rc == 0)
        rc = write_preamble(w);
    return rc;
}

/* Serves a posted request (writer thread, between blocks). */
static void
serve_requests(sl_writer *w)
{
    int kind, rc;

    sl_mutex_lock(&w->req_lock);
    kind = w->req_done != w->req_gen ? w->req_kind : 0;
    sl_mutex_unlock(&w->req_lock);
    if (kind == 0)
        return;
    rc = atomic_load_explicit(&w->error, memory_order_relaxed);
    if (rc == 0) {
        rc = kind == REQ_ROTATE ? rotate_chunk(w)
             : w->cfg.flight    ? flight_trigger(w, w->req_cause, NULL)
                                : sl_sink_snapshot(w->cfg.sink);
        if (rc != 0 && rc != SL_ENOSYS)
            set_error(w, rc);
    }
    sl_mutex_lock(&w->req_lock);
    if (kind == REQ_SNAPSHOT && w->cfg.flight && rc == 0)
        snprintf(w->req_name, sizeof(w->req_name), "%s", w->fl_name);
    w->req_rc = rc;
    w->req_done = w->req_gen;
    atomic_store_explicit(&w->req_posted, 0, memory_order_relaxed);
    sl_cond_broadcast(&w->req_cv);
    sl_mutex_unlock(&w->req_lock);
}

static int
request(sl_writer *w, int kind, unsigned cause, char *name, size_t cap)
{
    uint64_t gen;
    int rc;

    sl_mutex_lock(&w->req_lock);
    while (w->req_kind != 0 && !w->ended)
        sl_cond_timedwait(&w->req_cv, &w->req_lock, SL_OS_FOREVER);
    if (w->ended) {
        sl_mutex_unlock(&w->req_lock);
        return SL_ECANCELED;
    }
    w->req_kind = kind;
    w->req_cause = cause;
    w->req_name[0] = '\0';
    gen = ++w->req_gen;
    atomic_store_explicit(&w->req_posted, 1, memory_order_relaxed);
    sl_mutex_unlock(&w->req_lock);
    sl_ring_wake(w->cfg.ring);
    sl_mutex_lock(&w->req_lock);
    while (w->req_done != gen && !w->ended)
        sl_cond_timedwait(&w->req_cv, &w->req_lock, SL_OS_FOREVER);
    rc = w->req_done == gen ? w->req_rc : SL_ECANCELED;
    if (rc == 0 && name != NULL && cap > 0)
        snprintf(name, cap, "%s", w->req_name);
    w->req_kind = 0;
    sl_cond_broadcast(&w->req_cv);
    sl_mutex_unlock(&w->req_lock);
    return rc;
}

int
sl_writer_request_rotate(sl_writer *w)
{
    /* A flight recorder's chunks are its own (in memory). */
    if (!w->cfg.chunked || w->cfg.flight)
        return SL_ENOSYS;
    return request(w, REQ_ROTATE, 0, NULL, 0);
}

int
sl_writer_request_snapshot(sl_writer *w)
{
    if (w->cfg.flight)
        return sl_writer_request_trigger(w, SLUICE_TRIGGER_CTL, NULL, 0);
    if (w->cfg.sink->ops->snapshot == NULL)
        return SL_ENOSYS;
    return request(w, REQ_SNAPSHOT, 0, NULL, 0);
}

int
sl_writer_request_trigger(sl_writer *w, unsigned cause, char *name,
                          size_t cap)
{
    if (!w->cfg.flight)
        return SL_ENOSYS;
    return request(w, REQ_SNAPSHOT, cause, name, cap);
}

uint64_t
sl_writer_chunk(const sl_writer *w)
{
    return atomic_load_explicit(&w->chunk, memory_order_relaxed);
}

/* Writes (or, after an error, discards) the block of count records at
 * recs, then gives its ring space back: len bytes plus skip (a pad that
 * follows it). */
static void
seal_block(sl_writer *w, const uint8_t *recs, size_t len, uint32_t count,
           size_t skip)
{
    if (count > 0 &&
        atomic_load_explicit(&w->error, memory_order_relaxed) == 0) {
        int rc = w->cfg.flight && w->cfg.trigger_type >= 0
                     ? flight_write_block(w, recs, len, count)
                     : write_block(w, recs, len, count);
        if (rc == 0 && w->fl_pending)
            rc = flight_check(w);
        if (rc != 0)
            set_error(w, rc);
    }
    sl_ring_release(w->cfg.ring, len + skip);
}

/* Writes one contiguous committed span block by block, releasing each
 * block's ring space as soon as the sink has it. */
static void
consume_span(sl_writer *w, const uint8_t *p, size_t len)
{
    size_t off = 0, start = 0;
    uint32_t count = 0;

    while (off < len) {
        uint32_t size = sl_load_le32(p + off);

        if (size & SL_RING_PAD_FLAG) {
            /* The pad fills the buffer to its end: records go no further
             * in this span. */
            seal_block(w, p + start, off - start, count,
                       size & ~SL_RING_PAD_FLAG);
            return;
        }
        if (count > 0 && off + size - start > w->cfg.block_target) {
            seal_block(w, p + start, off - start, count, 0);
            start = off;
            count = 0;
            if (atomic_load_explicit(&w->req_posted, memory_order_relaxed))
                serve_requests(w);
        }
        off += size;
        count++;
    }
    seal_block(w, p + start, off - start, count, 0);
}

/* How long the writer may sleep: until the current chunk is
 * --rotate-time old, when it holds events and that limit is set. */
static uint64_t
wait_ns(const sl_writer *w)
{
    uint64_t age, now;

    if (w->fl_pending) {
        /* The flight recorder's rotation is by size only: its cut. */
        now = sl_os_mono_ns();
        return now >= w->fl_cut_at ? 0 : w->fl_cut_at - now;
    }
    if (!w->cfg.chunked || w->cfg.rotate_ns == 0 || w->chunk_blocks == 0)
        return SL_OS_FOREVER;
    now = sl_os_mono_ns();
    age = now - w->chunk_t0;
    return age >= w->cfg.rotate_ns ? 0 : w->cfg.rotate_ns - age;
}

static void
writer_main(void *arg)
{
    sl_writer *w = arg;
    const uint8_t *p;
    size_t len;
    int rc;

    for (;;) {
        if (atomic_load_explicit(&w->req_posted, memory_order_relaxed))
            serve_requests(w);
        sl_ring_peek(w->cfg.ring, &p, &len);
        if (len > 0) {
            consume_span(w, p, len);
            continue;
        }
        /* Acquire pairs with the release in sl_writer_finish(): every
         * record committed before finish was called is visible to the
         * peek that follows. */
        if (atomic_load_explicit(&w->finishing, memory_order_acquire)) {
            sl_ring_peek(w->cfg.ring, &p, &len);
            if (len == 0)
                break;
            continue;
        }
        /* --rotate-time: a chunk that is old enough ends even when no
         * more records come. */
        if (w->fl_pending && wait_ns(w) == 0) {
            if (atomic_load_explicit(&w->error, memory_order_relaxed) == 0 &&
                (rc = flight_check(w)) != 0)
                set_error(w, rc);
            if (w->fl_pending)
                w->fl_pending = 0; /* after an error: no retry loop */
            continue;
        }
        if (wait_ns(w) == 0) {
            if (atomic_load_explicit(&w->error, memory_order_relaxed) == 0 &&
                (rc = rotate_chunk(w)) != 0)
                set_error(w, rc);
            else
                w->chunk_blocks = 0; /* after an error: no retry loop */
            continue;
        }
        /* A commit wakes this wait, and so do sl_writer_finish() and a
         * request (sl_ring_wake(), remembered if it comes first). */
        sl_ring_wait_data(w->cfg.ring, wait_ns(w));
    }
    /* A stop during --trigger-after cuts the pending snapshot now. */
    if (w->fl_pending &&
        atomic_load_explicit(&w->error, memory_order_relaxed) == 0) {
        w->fl_cut_at = 0;
        if ((rc = flight_check(w)) != 0)
            set_error(w, rc);
    }
    if (atomic_load_explicit(&w->error, memory_order_relaxed) == 0) {
        rc = close_chunk(w, &w->sum);
        if (rc != 0)
            set_error(w, rc);
    }
    sl_mutex_lock(&w->req_lock);
    w->ended = 1;
    sl_cond_broadcast(&w->req_cv);
    sl_mutex_unlock(&w->req_lock);
}

/* ---- flight recorder (cfg.flight; sink_flight.c holds the records) ---- */

/* A trigger: the TRIGGER record (docs/capture-format.md 7.6) where it
 * fell, the snapshot file reserved (sl_sink_flight_hold()), and the cut
 * now or at --trigger-after. ev: the triggering event record (a type
 * trigger), else NULL. A trigger while a cut is pending is recorded as
 * folded into it. */
static int
flight_trigger(sl_writer *w, unsigned cause, const uint8_t *ev)
{
    uint8_t rec[SL_CAP_REC_HDR + SL_CAP_TRIGGER_LEN], pl[SL_CAP_TRIGGER_LEN];
    int folded = w->fl_pending;
    uint64_t ns;
    int rc;

    if (!folded) {
        rc = sl_sink_flight_hold(w->cfg.sink, &w->fl_snap, &w->fl_name);
        if (rc != 0)
            return rc;
        w->fl_pending = 1;
        w->fl_cut_at = sl_os_mono_ns() + w->cfg.trigger_after_ns;
        w->fl_after_bytes = 0;
    }
    memset(pl, 0, sizeof(pl));
    sl_store_le32(pl, cause);
    if (ev != NULL) {
        sl_cap_rec r;

        sl_cap_rec_decode(ev, &r);
        sl_store_le32(pl + 4, r.type);
        sl_store_le32(pl + 8, r.producer);
        sl_store_le64(pl + 16, r.seq);
        ns = r.collector_ns; /* keeps the block's times in order */
    } else {
        ns = sl_os_now_ns();
    }
    sl_store_le32(pl + 12, (uint32_t)w->fl_snap);
    sl_store_le64(pl + 24, w->cfg.trigger_after_ns);
    sl_store_le32(pl + 32, (uint32_t)folded);
    sl_cap_rec_put(rec, SL_CAP_T_TRIGGER, 0, 0, 0, ns, pl, sizeof(pl));
    rc = seal_plain(w, rec, sizeof(rec), 1);
    if (rc == 0 && !folded && w->cfg.trigger_after_ns == 0)
        rc = flight_check(w);
    return rc;
}

/* Cuts the pending snapshot once its time has come (--trigger-after
 * passed, or flight_bytes sealed since the trigger, or finishing). */
static int
flight_check(sl_writer *w)
{
    uint64_t now = sl_os_mono_ns();
    int rc;

    if (!w->fl_pending)
        return 0;
    if (now < w->fl_cut_at && w->fl_after_bytes < w->cfg.flight_bytes)
        return 0;
    w->fl_pending = 0;
    rc = sl_sink_snapshot(w->cfg.sink);
    return rc;
}

/* write_block() with --trigger-type: a block is cut right after each
 * event of that type and the trigger recorded there, so the TRIGGER
 * record follows its event. One load per record. */
static int
flight_write_block(sl_writer *w, const uint8_t *recs, size_t len,
                   uint32_t count)
{
    size_t off = 0, start = 0;
    uint32_t n = 0;
    int rc = 0;

    (void)count;
    while (off < len && rc == 0) {
        const uint8_t *r = recs + off;

        off += sl_load_le32(r);
        n++;
        if (sl_load_le16(r + 8) == (uint16_t)w->cfg.trigger_type) {
            rc = write_block(w, recs + start, off - start, n);
            if (rc == 0)
                rc = flight_trigger(w, SLUICE_TRIGGER_TYPE, r);
            start = off;
            n = 0;
        }
    }
    if (rc == 0 && n > 0)
        rc = write_block(w, recs + start, off - start, n);
    return rc;
}

static void
writer_free(sl_writer *w)
{
    sl_codec_close(w->codec);
    sl_cond_destroy(&w->req_cv);
    sl_mutex_destroy(&w->req_lock);
    free(w->live.slot);
    free(w->state_rec);
    free(w->zbuf);
    free(w->pipe);
    free(w->host);
    free(w);
}

int
sl_writer_open(const sl_writer_config *cfg, sl_writer **out)
{
    sl_writer *w;
    int rc;

    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return SL_ENOMEM;
    w->cfg = *cfg;
    sl_mutex_init(&w->req_lock);
    sl_cond_init(&w->req_cv);
    w->test_delay_ns = test_delay_ns();
    w->test_rotate_delay_ns = test_rotate_delay_ns();
    if (cfg->codec != SL_CAP2_CODEC_NONE) {
        rc = sl_codec_open(cfg->codec, cfg->codec_level, &w->codec);
        if (rc != 0)
            goto fail;
    }
    if (w->cfg.block_target == 0)
        w->cfg.block_target = 1u << 20;
    if ((w->cfg.chunked && w->cfg.sink->ops->rotate == NULL) ||
        (w->cfg.flight && (!w->cfg.chunked || !sl_sink_is_flight(w->cfg.sink) ||
                           w->codec != NULL))) {
        rc = SL_EINVAL;
        goto fail;
    }
    w->info.start_ns = cfg->start_ns;
    w->info.pipe_len = cfg->pipe_len > 65535 ? 65535 : cfg->pipe_len;
    w->info.host_len = cfg->host_len > 65535 ? 65535 : cfg->host_len;
    w->pipe = malloc(w->info.pipe_len + 1);
    w->host = malloc(w->info.host_len + 1);
    if (w->pipe == NULL || w->host == NULL) {
        rc = SL_ENOMEM;
        goto fail;
    }
    if (w->info.pipe_len > 0)
        memcpy(w->pipe, cfg->pipe, w->info.pipe_len);
    if (w->info.host_len > 0)
        memcpy(w->host, cfg->host, w->info.host_len);
    w->info.pipe = w->pipe;
    w->info.host = w->host;
    w->info.kind = SL_CAP2_KIND_CAPTURE;
    if (!test_key(w->info.key, w->info.capture_id)) {
        rc = sl_os_random(w->info.key, sizeof(w->info.key));
        if (rc == 0)
            rc = sl_os_random(w->info.capture_id, sizeof(w->info.capture_id));
        if (rc != 0)
            goto fail;
    }
    rc = write_header(w, w->cfg.chunked ? 1 : 0);
    if (rc != 0)
        goto fail;
    rc = sl_os_thread_start(writer_main, w, &w->thread);
    if (rc != 0)
        goto fail;
    *out = w;
    return 0;

fail:
    writer_free(w);
    return rc;
}

int
sl_writer_finish(sl_writer *w, const sl_writer_summary *sum)
{
    if (w->thread == NULL)
        return atomic_load_explicit(&w->error, memory_order_relaxed);
    w->sum = *sum;
    /* Release: publishes w->sum (and, through the ring's own ordering,
     * every commit made before this call) to the writer thread. */
    atomic_store_explicit(&w->finishing, 1, memory_order_release);
    sl_ring_wake(w->cfg.ring);
    sl_os_thread_join(w->thread);
    w->thread = NULL;
    return atomic_load_explicit(&w->error, memory_order_relaxed);
}

int
sl_writer_error(const sl_writer *w)
{
    return atomic_load_explicit(&w->error, memory_order_relaxed);
}

uint64_t
sl_writer_bytes(const sl_writer *w)
{
    return atomic_load_explicit(&w->bytes, memory_order_relaxed);
}

void
sl_writer_close(sl_writer *w)
{
    if (w == NULL)
        return;
    if (w->thread != NULL) {
        sl_writer_summary none;
        memset(&none, 0, sizeof(none));
        sl_writer_finish(w, &none);
    }
    writer_free(w);
}
