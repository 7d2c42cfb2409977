/*
 * The capture file's write-side encoders: the file header, block headers and
 * trailers, and record headers, byte for byte as docs/capture-format.md
 * lays them out. Everything goes through the little-endian store helpers,
 * so the file never depends on host byte order or struct padding. The
 * collector's writer calls these; so do the tests and the fixture generator,
 * which is how the document's worked example stays in step with the code.
 * The block checksum itself is the caller's: sl_crc32c() over bytes
 * [0, block_len - 8) once the records are in place.
 */
#include "capfile.h"

#include <assert.h>
#include <stdatomic.h>
#include <string.h>

#include "crc32c.h"
#include "err.h"
#include "wire.h"

/* The tables in capfile.h, pinned. */
static_assert(sizeof(SL_CAP_MAGIC) - 1 == SL_CAP_MAGIC_LEN,
              "file magic is 8 bytes");
static_assert(SL_CAP_BLOCK_HDR + SL_CAP_BLOCK_TRL == 32,
              "an empty block is 32 bytes");
static_assert(SL_CAP_BLOCK_MAX % 8 == 0, "blocks are 8-byte multiples");
/* One event of the largest frame the wire protocol allows must fit in one
 * block, or the writer could not store it. */
static_assert(SL_CAP_BLOCK_HDR + SL_CAP_REC_HDR + SL_WIRE_MAX_FRAME_LIMIT +
                      7 + SL_CAP_BLOCK_TRL <=
                  SL_CAP_BLOCK_MAX,
              "SL_CAP_BLOCK_MAX must hold a record of the largest frame");

void
sl_cap_rec_decode(const uint8_t *src, sl_cap_rec *r)
{
    r->size = sl_load_le32(src);
    r->payload_len = sl_load_le32(src + 4);
    r->type = sl_load_le16(src + 8);
    r->flags = sl_load_le16(src + 10);
    r->producer = sl_load_le32(src + 12);
    r->seq = sl_load_le64(src + 16);
    r->producer_ns = sl_load_le64(src + 24);
    r->collector_ns = sl_load_le64(src + 32);
}

int
sl_cap_file_header_encode(uint8_t *buf, size_t cap,
                          const sl_cap_file_info *info, size_t *len)
{
    size_t total;
    uint32_t crc;

    if (info->pipe_len > 65535 || info->host_len > 65535)
        return SL_EINVAL;
    if ((info->pipe_len > 0 && info->pipe == NULL) ||
        (info->host_len > 0 && info->host == NULL))
        return SL_EINVAL;
    /* The format promises names without NULs, so a reader's
     * NUL-terminated copy is the whole name. */
    if ((info->pipe_len > 0 && memchr(info->pipe, 0, info->pipe_len)) ||
        (info->host_len > 0 && memchr(info->host, 0, info->host_len)))
        return SL_EINVAL;
    total = SL_CAP_FILE_HDR_FIXED + info->pipe_len + info->host_len;
    if (cap < total)
        return SL_EINVAL;

    memcpy(buf, SL_CAP_MAGIC, SL_CAP_MAGIC_LEN);
    sl_store_le16(buf + 8, SL_CAP_READ_VERSION);
    sl_store_le16(buf + 10, SL_CAP_WRITE_VERSION);
    sl_store_le32(buf + 12, (uint32_t)total);
    sl_store_le64(buf + 16, info->start_ns);
    sl_store_le16(buf + 24, (uint16_t)info->pipe_len);
    sl_store_le16(buf + 26, (uint16_t)info->host_len);
    sl_store_le32(buf + 28, 0);
    if (info->pipe_len > 0)
        memcpy(buf + SL_CAP_FILE_HDR_FIXED, info->pipe, info->pipe_len);
    if (info->host_len > 0)
        memcpy(buf + SL_CAP_FILE_HDR_FIXED + info->pipe_len, info->host,
               info->host_len);
    /* Computed with the field still zero, as the reader recomputes it. */
    crc = sl_crc32c(0, buf, total);
    sl_store_le32(buf + 28, crc);
    *len = total;
    return 0;
}

void
sl_cap_block_header(uint8_t hdr[SL_CAP_BLOCK_HDR], uint32_t block_len,
                    uint64_t block_seq, uint32_t record_count)
{
    sl_store_le32(hdr, SL_CAP_BLOCK_MAGIC);
    sl_store_le32(hdr + 4, block_len);
    sl_store_le64(hdr + 8, block_seq);
    sl_store_le32(hdr + 16, record_count);
    sl_store_le32(hdr + 20, 0);
}

void
sl_cap_block_trailer(uint8_t trl[SL_CAP_BLOCK_TRL], uint32_t crc,
                     uint32_t block_len)
{
    sl_store_le32(trl, crc);
    sl_store_le32(trl + 4, block_len);
}

/* ---- format version 2 ------------------------------------------------------ */

static_assert(SL_CAP2_RAW_MAX == 33554360u, "docs: stored_len <= 33554360");

/* Relaxed: a statistic for tests, read after the work it counts. */
static _Atomic uint64_t checked_bytes;

uint64_t
sl_cap_checked_bytes(void)
{
    return atomic_load_explicit(&checked_bytes, memory_order_relaxed);
}

void
sl_cap_count_checked(uint64_t n)
{
    atomic_fetch_add_explicit(&checked_bytes, n, memory_order_relaxed);
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                              \
    do {                                                                      \
        v0 += v1;                                                             \
        v1 = ROTL(v1, 13);                                                    \
        v1 ^= v0;                                                             \
        v0 = ROTL(v0, 32);                                                    \
        v2 += v3;                                                             \
        v3 = ROTL(v3, 16);                                                    \
        v3 ^= v2;                                                             \
        v0 += v3;                                                             \
        v3 = ROTL(v3, 21);                                                    \
        v3 ^= v0;                                                             \
        v2 += v1;                                                             \
        v1 = ROTL(v1, 17);                                                    \
        v1 ^= v2;                                                             \
        v2 = ROTL(v2, 32);                                                    \
    } while (0)

/* SipHash-2-4 (Aumasson and Bernstein), the reference algorithm. */
uint64_t
sl_siphash24(const uint8_t key[16], const void *msg, size_t len)
{
    const uint8_t *m = msg;
    uint64_t k0 = sl_load_le64(key), k1 = sl_load_le64(key + 8);
    uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
    uint64_t b = (uint64_t)len << 56, w;
    size_t i, end = len & ~(size_t)7;

    for (i = 0; i < end; i += 8) {
        w = sl_load_le64(m + i);
        v3 ^= w;
        SIPROUND;
        SIPROUND;
        v0 ^= w;
    }
    for (w = 0; i < len; i++)
        w |= (uint64_t)m[i] << (8 * (i - end));
    b |= w;
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t
sl_cap2_block_tag(const uint8_t key[SL_CAP2_KEY_LEN], uint64_t off,
                  const uint8_t *h)
{
    uint8_t msg[8 + 56];

    sl_store_le64(msg, off);
    memcpy(msg + 8, h, 56);
    sl_cap_count_checked(sizeof(msg));
    return sl_siphash24(key, msg, sizeof(msg));
}

int
sl_cap2_header_encode(uint8_t *buf, size_t cap, const sl_cap2_header *h,
                      size_t *len)
{
    size_t total;

    if (h->pipe_len > 65535 || h->host_len > 65535)
        return SL_EINVAL;
    if ((h->pipe_len > 0 && h->pipe == NULL) ||
        (h->host_len > 0 && h->host == NULL))
        return SL_EINVAL;
    if ((h->pipe_len > 0 && memchr(h->pipe, 0, h->pipe_len)) ||
        (h->host_len > 0 && memchr(h->host, 0, h->host_len)))
        return SL_EINVAL;
    total = SL_CAP2_FILE_HDR_FIXED + h->pipe_len + h->host_len;
    if (cap < total)
        return SL_EINVAL;
    memcpy(buf, SL_CAP_MAGIC, SL_CAP_MAGIC_LEN);
    sl_store_le16(buf + 8, SL_CAP2_VERSION);
    sl_store_le16(buf + 10, SL_CAP2_VERSION);
    sl_store_le32(buf + 12, (uint32_t)total);
    sl_store_le64(buf + 16, h->start_ns);
    sl_store_le16(buf + 24, (uint16_t)h->pipe_len);
    sl_store_le16(buf + 26, (uint16_t)h->host_len);
    sl_store_le32(buf + 28, 0);
    memcpy(buf + 32, h->key, SL_CAP2_KEY_LEN);
    memcpy(buf + 48, h->capture_id, SL_CAP2_ID_LEN);
    sl_store_le64(buf + 64, h->chunk);
    sl_store_le32(buf + 72, h->kind);
    sl_store_le32(buf + 76, h->flags);
    if (h->pipe_len > 0)
        memcpy(buf + SL_CAP2_FILE_HDR_FIXED, h->pipe, h->pipe_len);
    if (h->host_len > 0)
        memcpy(buf + SL_CAP2_FILE_HDR_FIXED + h->pipe_len, h->host,
               h->host_len);
    sl_store_le32(buf + 28, sl_crc32c(0, buf, total));
    *len = total;
    return 0;
}

int
sl_cap2_header_set_chunk(uint8_t *buf, size_t len, uint64_t chunk)
{
    if (len < SL_CAP2_FILE_HDR_FIXED ||
        memcmp(buf, SL_CAP_MAGIC, SL_CAP_MAGIC_LEN) != 0 ||
        sl_load_le16(buf + 8) != SL_CAP2_VERSION ||
        sl_load_le32(buf + 12) != len)
        return SL_EINVAL;
    sl_store_le64(buf + 64, chunk);
    sl_store_le32(buf + 28, 0);
    sl_store_le32(buf + 28, sl_crc32c(0, buf, len));
    return 0;
}

void
sl_cap2_block_header(uint8_t hdr[SL_CAP2_BLOCK_HDR],
                     const uint8_t key[SL_CAP2_KEY_LEN], uint64_t off,
                     uint64_t block_seq, uint32_t record_count,
                     uint32_t stored_len, uint32_t raw_len, uint8_t codec,
                     uint32_t body_crc, uint64_t first_ns, uint64_t last_ns)
{
    memset(hdr, 0, SL_CAP2_BLOCK_HDR);
    sl_store_le32(hdr, SL_CAP2_BLOCK_MAGIC);
    sl_store_le32(hdr + 4, sl_cap2_block_len(stored_len));
    sl_store_le64(hdr + 8, block_seq);
    sl_store_le32(hdr + 16, record_count);
    sl_store_le32(hdr + 20, stored_len);
    sl_store_le32(hdr + 24, raw_len);
    hdr[28] = codec;
    sl_store_le32(hdr + 32, body_crc);
    sl_store_le64(hdr + 40, first_ns);
    sl_store_le64(hdr + 48, last_ns);
    sl_store_le64(hdr + 56, sl_cap2_block_tag(key, off, hdr));
}

void
sl_cap2_block_trailer(uint8_t trl[SL_CAP2_BLOCK_TRL],
                      const uint8_t hdr[SL_CAP2_BLOCK_HDR])
{
    sl_store_le32(trl, (uint32_t)sl_load_le64(hdr + 56));
    sl_store_le32(trl + 4, sl_load_le32(hdr + 4));
}

/* ---- the time index (docs/capture-format.md 15.5) ------------------------ */

void
sl_cap_index_reset(sl_cap_index *ix)
{
    ix->n = 0;
    ix->stride = 1;
    ix->blocks = 0;
}

static void
index_merge(sl_cap_index_entry *a, const sl_cap_index_entry *b)
{
    if (b->min_ns < a->min_ns)
        a->min_ns = b->min_ns;
    if (b->max_ns > a->max_ns)
        a->max_ns = b->max_ns;
    a->records += b->records;
    a->blocks += b->blocks;
    a->meta = b->meta > UINT32_MAX - a->meta ? UINT32_MAX : a->meta + b->meta;
}

void
sl_cap_index_add(sl_cap_index *ix, uint64_t off, uint64_t min_ns,
                 uint64_t max_ns, uint32_t records, uint32_t meta)
{
    sl_cap_index_entry e;

    e.off = off;
    e.min_ns = min_ns;
    e.max_ns = max_ns;
    e.records = records;
    e.blocks = 1;
    e.meta = meta;
    ix->blocks++;
    if (ix->n > 0 && ix->e[ix->n - 1].blocks < ix->stride) {
        index_merge(&ix->e[ix->n - 1], &e);
        return;
    }
    if (ix->n == SL_CAP_INDEX_MAX) {
        /* Full, and its last entry holds stride blocks: pairs merge, the
         * stride doubles, every entry again covers stride blocks. */
        for (uint32_t i = 0; i < SL_CAP_INDEX_MAX / 2; i++) {
            ix->e[i] = ix->e[2 * i];
            index_merge(&ix->e[i], &ix->e[2 * i + 1]);
        }
        ix->n = SL_CAP_INDEX_MAX / 2;
        ix->stride *= 2;
    }
    ix->e[ix->n++] = e;
}

size_t
sl_cap_index_payload_len(const sl_cap_index *ix, uint32_t extra)
{
    uint32_t n = ix->n + extra;

    if (n > SL_CAP_INDEX_MAX)
        n = SL_CAP_INDEX_MAX;
    return SL_CAP_INDEX_HDR + (size_t)n * SL_CAP_INDEX_ENTRY;
}

void
sl_cap_index_encode(const sl_cap_index *ix, uint8_t *buf)
{
    sl_store_le32(buf, ix->n);
    sl_store_le32(buf + 4, SL_CAP_INDEX_ENTRY);
    sl_store_le32(buf + 8, ix->stride);
    sl_store_le32(buf + 12, 0);
    sl_store_le64(buf + 16, ix->blocks);
    for (uint32_t i = 0; i < ix->n; i++) {
        uint8_t *q = buf + SL_CAP_INDEX_HDR + (size_t)i * SL_CAP_INDEX_ENTRY;
        const sl_cap_index_entry *e = &ix->e[i];

        sl_store_le64(q, e->off);
        sl_store_le64(q + 8, e->min_ns);
        sl_store_le64(q + 16, e->max_ns);
        sl_store_le64(q + 24, e->records);
        sl_store_le32(q + 32, e->blocks);
        sl_store_le32(q + 36, e->meta);
    }
}

int
sl_cap_index_decode(const uint8_t *p, size_t len, uint64_t first_off,
                    uint64_t end_off, sl_cap_index *out)
{
    uint32_t n, elen, stride;

    if (len < SL_CAP_INDEX_HDR)
        return SL_ECORRUPT;
    n = sl_load_le32(p);
    elen = sl_load_le32(p + 4);
    stride = sl_load_le32(p + 8);
    if (n == 0 || n > SL_CAP_INDEX_MAX || elen < SL_CAP_INDEX_ENTRY ||
        elen > 4096 || stride == 0 || (stride & (stride - 1)) != 0 ||
        (len - SL_CAP_INDEX_HDR) / elen < n)
        return SL_ECORRUPT;
    out->n = n;
    out->stride = stride;
    out->blocks = sl_load_le64(p + 16);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *q = p + SL_CAP_INDEX_HDR + (size_t)i * elen;
        sl_cap_index_entry *e = &out->e[i];

        e->off = sl_load_le64(q);
        e->min_ns = sl_load_le64(q + 8);
        e->max_ns = sl_load_le64(q + 16);
        e->records = sl_load_le64(q + 24);
        e->blocks = sl_load_le32(q + 32);
        e->meta = sl_load_le32(q + 36);
        if (e->off < (i == 0 ? first_off : out->e[i - 1].off + 1) ||
            e->off >= end_off || e->min_ns > e->max_ns || e->blocks == 0 ||
            e->blocks > stride)
            return SL_ECORRUPT;
    }
    return 0;
}
