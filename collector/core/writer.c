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
#include <stdlib.h>
#include <string.h>

#include "capfile.h"
#include "codec.h"
#include "crc32c.h"
#include "err.h"
#include "sink.h"
#include "testenv.h"

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
};

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

static int
write_block(sl_writer *w, const uint8_t *recs, size_t len, uint32_t count)
{
    uint8_t hdr[SL_CAP2_BLOCK_HDR], trl[SL_CAP2_BLOCK_TRL];
    uint32_t block_len;
    uint64_t first_ns, last_ns;
    const uint8_t *stored;
    size_t stored_len, padded, zlen = 0;
    uint8_t codec;
    sl_iovec iov[3];
    sl_sink_block b;
    sl_cap_rec r;
    size_t off;
    int rc;

    if (w->test_delay_ns != 0)
        sl_os_sleep_ns(w->test_delay_ns);
    /* Records are 8-byte multiples, so the stored area needs no padding;
     * the time range is the first and the last record's collector_ns
     * (walked by their size fields, a few loads per record). */
    sl_cap_rec_decode(recs, &r);
    first_ns = r.collector_ns;
    last_ns = first_ns;
    for (off = 0; off < len; off += r.size) {
        sl_cap_rec_decode(recs + off, &r);
        last_ns = r.collector_ns;
    }
    stored = recs;
    stored_len = len;
    codec = SL_CAP2_CODEC_NONE;
    if (w->codec != NULL) {
        rc = compress_block(w, recs, len, &zlen);
        if (rc != 0)
            return rc;
        /* A block that does not shrink is stored as it is (codec 0): a
         * reader then needs no decoder for it, and it is never larger. */
        if (zlen < len) {
            stored = w->zbuf;
            stored_len = zlen;
            codec = w->cfg.codec;
        }
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
    w->block_seq++;
    w->file_off += block_len;
    atomic_fetch_add_explicit(&w->bytes, block_len, memory_order_relaxed);
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

static int
write_close_record(sl_writer *w)
{
    uint8_t rec[SL_CAP_REC_HDR + SL_CAP_CLOSE_LEN], pl[SL_CAP_CLOSE_LEN];

    sl_store_le64(pl + 0, w->sum.producers);
    sl_store_le64(pl + 8, w->sum.events);
    sl_store_le64(pl + 16, w->sum.bytes);
    sl_store_le64(pl + 24, w->sum.dropped);
    sl_store_le64(pl + 32, w->sum.malformed);
    sl_cap_rec_put(rec, SL_CAP_T_CLOSE, 0, 0, 0, sl_os_now_ns(), pl,
                   sizeof(pl));
    return write_block(w, rec, sizeof(rec), 1);
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
        int rc = write_block(w, recs, len, count);
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
        }
        off += size;
        count++;
    }
    seal_block(w, p + start, off - start, count, 0);
}

static void
writer_main(void *arg)
{
    sl_writer *w = arg;
    const uint8_t *p;
    size_t len;
    int rc;

    for (;;) {
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
        /* No timeout: a commit wakes this wait, and sl_writer_finish()
         * wakes it with sl_ring_wake() (remembered if it comes first). */
        sl_ring_wait_data(w->cfg.ring, SL_OS_FOREVER);
    }
    if (atomic_load_explicit(&w->error, memory_order_relaxed) == 0) {
        rc = write_close_record(w);
        if (rc == 0)
            rc = sl_sink_sync(w->cfg.sink);
        if (rc != 0)
            set_error(w, rc);
    }
}

int
sl_writer_open(const sl_writer_config *cfg, sl_writer **out)
{
    sl_writer *w;
    sl_cap2_header info;
    uint8_t *hdr;
    size_t hdr_len;
    sl_sink_block b;
    sl_iovec iov;
    int rc;

    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return SL_ENOMEM;
    w->cfg = *cfg;
    w->test_delay_ns = test_delay_ns();
    if (cfg->codec != SL_CAP2_CODEC_NONE) {
        rc = sl_codec_open(cfg->codec, cfg->codec_level, &w->codec);
        if (rc != 0) {
            free(w);
            return rc;
        }
    }
    if (w->cfg.block_target == 0)
        w->cfg.block_target = 1u << 20;
    memset(&info, 0, sizeof(info));
    info.start_ns = cfg->start_ns;
    info.pipe = cfg->pipe;
    info.pipe_len = cfg->pipe_len > 65535 ? 65535 : cfg->pipe_len;
    info.host = cfg->host;
    info.host_len = cfg->host_len > 65535 ? 65535 : cfg->host_len;
    info.chunk = 0;
    info.kind = SL_CAP2_KIND_CAPTURE;
    if (!test_key(info.key, info.capture_id)) {
        rc = sl_os_random(info.key, sizeof(info.key));
        if (rc == 0)
            rc = sl_os_random(info.capture_id, sizeof(info.capture_id));
        if (rc != 0)
            goto fail_free;
    }
    memcpy(w->key, info.key, sizeof(w->key));
    hdr = malloc(SL_CAP2_FILE_HDR_FIXED + info.pipe_len + info.host_len);
    if (hdr == NULL) {
        rc = SL_ENOMEM;
        goto fail_free;
    }
    rc = sl_cap2_header_encode(
        hdr, SL_CAP2_FILE_HDR_FIXED + info.pipe_len + info.host_len, &info,
        &hdr_len);
    if (rc != 0)
        goto fail_hdr;
    iov.base = hdr;
    iov.len = hdr_len;
    memset(&b, 0, sizeof(b));
    b.kind = SL_SINK_FILE_HEADER;
    b.iov = &iov;
    b.iovcnt = 1;
    b.len = hdr_len;
    rc = sl_sink_write(w->cfg.sink, &b);
    if (rc != 0)
        goto fail_hdr;
    w->file_off = hdr_len;
    atomic_store_explicit(&w->bytes, hdr_len, memory_order_relaxed);
    free(hdr);
    rc = sl_os_thread_start(writer_main, w, &w->thread);
    if (rc != 0)
        goto fail_free;
    *out = w;
    return 0;

fail_hdr:
    free(hdr);
fail_free:
    sl_codec_close(w->codec);
    free(w);
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
    sl_codec_close(w->codec);
    free(w->zbuf);
    free(w);
}
