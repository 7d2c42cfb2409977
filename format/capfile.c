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
