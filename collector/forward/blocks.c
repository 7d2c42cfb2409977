/*
 * The block reader of blocks.h. It reads the file front to back with
 * stdio into one window buffer, like the record reader (capread.c), and
 * applies the same rules (docs/capture-format.md sections 8 and 9): blocks
 * start at 8-byte steps from the first block; a valid block is returned
 * whole; damage followed by a valid block is skipped; a partial block at
 * the end is "not yet" (the forwarder follows a file being written, and
 * the writer appends whole blocks, so a partial block completes).
 */
#include "blocks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capfile.h"
#include "crc32c.h"
#include "err.h"
#include "os.h"

#define READ_CHUNK ((size_t)1 << 20)

struct sl_blk_reader {
    FILE *f;
    uint8_t *hdr;
    size_t hdr_len;
    char id[SL_BLK_ID_MAX + 1];
    char *host;
    char *pipe;

    uint8_t *win; /* file bytes [win_off, win_off + win_len) */
    size_t win_cap;
    size_t win_len;
    uint64_t win_off;
    uint64_t file_end; /* bytes read from the file so far (= win end) */

    uint64_t pos; /* where the next block is looked for */
    uint64_t skipped;
};

int
sl_blk_valid(const uint8_t *b, size_t len)
{
    uint32_t blen, body_end, off = SL_CAP_BLOCK_HDR, n = 0;

    if (len < SL_CAP_BLOCK_HDR + SL_CAP_BLOCK_TRL ||
        sl_load_le32(b) != SL_CAP_BLOCK_MAGIC)
        return 0;
    blen = sl_load_le32(b + 4);
    if (blen != len || blen % 8 != 0 || blen > SL_CAP_BLOCK_MAX ||
        sl_load_le32(b + blen - 4) != blen)
        return 0;
    body_end = blen - SL_CAP_BLOCK_TRL;
    if (sl_crc32c(0, b, body_end) != sl_load_le32(b + body_end))
        return 0;
    while (off < body_end) {
        uint32_t size, payload_len;

        if (body_end - off < SL_CAP_REC_HDR)
            return 0;
        size = sl_load_le32(b + off);
        payload_len = sl_load_le32(b + off + 4);
        if (size % 8 != 0 || size < SL_CAP_REC_HDR || size > body_end - off ||
            payload_len > size - SL_CAP_REC_HDR)
            return 0;
        off += size;
        n++;
    }
    return n == sl_load_le32(b + 16);
}

void
sl_blk_header_id(const uint8_t *hdr, size_t len, char out[SL_BLK_ID_MAX + 1])
{
    /* v1 headers have no id field: start_ns and the header's CRC (which
     * covers pipe and host) name the capture; a v2 reader takes the
     * header's 16-byte id instead. */
    (void)len;
    snprintf(out, SL_BLK_ID_MAX + 1, "%016llx%08lx",
             (unsigned long long)sl_load_le64(hdr + 16),
             (unsigned long)sl_load_le32(hdr + 28));
}

/* Makes the window hold [from, from + need) if the file has it. */
static int
fill(sl_blk_reader *r, uint64_t from, size_t need)
{
    if (from < r->win_off)
        return SL_EINVAL;
    if (from > r->win_off) {
        uint64_t drop64 = from - r->win_off;
        size_t drop = drop64 < r->win_len ? (size_t)drop64 : r->win_len;

        memmove(r->win, r->win + drop, r->win_len - drop);
        r->win_len -= drop;
        r->win_off += drop;
    }
    if (r->win_len >= need)
        return 0;
    if (need + READ_CHUNK > r->win_cap) {
        uint8_t *p = realloc(r->win, need + READ_CHUNK);

        if (p == NULL)
            return SL_ENOMEM;
        r->win = p;
        r->win_cap = need + READ_CHUNK;
    }
    while (r->win_len < need) {
        size_t n;

        clearerr(r->f); /* EOF is sticky; the file may have grown */
        n = fread(r->win + r->win_len, 1, r->win_cap - r->win_len, r->f);
        r->win_len += n;
        r->file_end += n;
        if (n == 0)
            return ferror(r->f) ? SL_EIO : 0;
    }
    return 0;
}

static char *
dup_str(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);

    if (s != NULL) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

int
sl_blk_open(const char *path, sl_blk_reader **out)
{
    sl_blk_reader *r;
    uint32_t hlen;
    size_t pipe_len, host_len;
    int rc;

    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return SL_ENOMEM;
    rc = sl_os_fopen_read(path, &r->f);
    if (rc != 0)
        goto fail;
    rc = fill(r, 0, SL_CAP_FILE_HDR_FIXED);
    if (rc != 0)
        goto fail;
    rc = SL_ETRUNC;
    if (r->win_len < SL_CAP_MAGIC_LEN) {
        if (memcmp(r->win, SL_CAP_MAGIC, r->win_len) != 0)
            rc = SL_ECORRUPT;
        goto fail;
    }
    rc = SL_ECORRUPT;
    if (memcmp(r->win, SL_CAP_MAGIC, SL_CAP_MAGIC_LEN) != 0)
        goto fail;
    rc = SL_ETRUNC;
    if (r->win_len < SL_CAP_FILE_HDR_FIXED)
        goto fail;
    rc = SL_EVERSION;
    if (sl_load_le16(r->win + 8) == 0 ||
        sl_load_le16(r->win + 8) > SL_CAP_READ_VERSION)
        goto fail;
    hlen = sl_load_le32(r->win + 12);
    pipe_len = sl_load_le16(r->win + 24);
    host_len = sl_load_le16(r->win + 26);
    rc = SL_ECORRUPT;
    if (hlen < SL_CAP_FILE_HDR_FIXED + pipe_len + host_len ||
        hlen > SL_CAP_FILE_HDR_MAX)
        goto fail;
    rc = fill(r, 0, hlen);
    if (rc != 0)
        goto fail;
    rc = SL_ETRUNC;
    if (r->win_len < hlen)
        goto fail;
    rc = SL_ENOMEM;
    r->hdr = malloc(hlen);
    if (r->hdr == NULL)
        goto fail;
    memcpy(r->hdr, r->win, hlen);
    r->hdr_len = hlen;
    memset(r->hdr + 28, 0, 4);
    rc = SL_ECORRUPT;
    if (sl_crc32c(0, r->hdr, hlen) != sl_load_le32(r->win + 28))
        goto fail;
    memcpy(r->hdr + 28, r->win + 28, 4);
    r->pipe = dup_str(r->hdr + 32, pipe_len);
    r->host = dup_str(r->hdr + 32 + pipe_len, host_len);
    rc = SL_ENOMEM;
    if (r->pipe == NULL || r->host == NULL)
        goto fail;
    sl_blk_header_id(r->hdr, hlen, r->id);
    r->pos = hlen;
    *out = r;
    return 0;
fail:
    sl_blk_close(r);
    return rc;
}

const uint8_t *
sl_blk_header(const sl_blk_reader *r, size_t *len)
{
    *len = r->hdr_len;
    return r->hdr;
}

const char *
sl_blk_capture_id(const sl_blk_reader *r)
{
    return r->id;
}

uint64_t
sl_blk_chunk(const sl_blk_reader *r)
{
    (void)r;
    return 0;
}

const char *
sl_blk_host(const sl_blk_reader *r)
{
    return r->host;
}

const char *
sl_blk_pipe(const sl_blk_reader *r)
{
    return r->pipe;
}

uint64_t
sl_blk_skipped(const sl_blk_reader *r)
{
    return r->skipped;
}

uint64_t
sl_blk_pos(const sl_blk_reader *r)
{
    return r->pos;
}

int
sl_blk_seek(sl_blk_reader *r, uint64_t off)
{
    if (off < r->hdr_len || (off - r->hdr_len) % 8 != 0)
        return SL_EINVAL;
    if (off >= r->win_off && off <= r->win_off + r->win_len) {
        r->pos = off;
        return 0;
    }
    if (fseeko(r->f, (off_t)off, SEEK_SET) != 0)
        return SL_EIO;
    r->win_off = off;
    r->win_len = 0;
    r->file_end = off;
    r->pos = off;
    return 0;
}

/* A block could start at p (magic and a plausible length)? */
static int
candidate(const uint8_t *p, uint32_t *len)
{
    uint32_t l = sl_load_le32(p + 4);

    if (sl_load_le32(p) != SL_CAP_BLOCK_MAGIC || l % 8 != 0 ||
        l < SL_CAP_BLOCK_HDR + SL_CAP_BLOCK_TRL || l > SL_CAP_BLOCK_MAX)
        return 0;
    *len = l;
    return 1;
}

int
sl_blk_next(sl_blk_reader *r, sl_blk *b)
{
    uint64_t probe = r->pos;
    int rc;

    for (;;) {
        uint32_t len;
        size_t at;

        rc = fill(r, r->pos, (size_t)(probe - r->pos) + 8);
        if (rc != 0)
            return rc;
        at = (size_t)(probe - r->win_off);
        if (r->win_len < at + 8)
            return 1; /* not even a block header yet */
        if (candidate(r->win + at, &len)) {
            rc = fill(r, r->pos, (size_t)(probe - r->pos) + len);
            if (rc != 0)
                return rc;
            at = (size_t)(probe - r->win_off);
            if (r->win_len < at + len) {
                /* A partial block: the writer is in the middle of it, or
                 * damage ends the data. Wait for the file to grow. */
                return 1;
            }
            if (sl_blk_valid(r->win + at, len)) {
                r->skipped += probe - r->pos;
                b->bytes = r->win + at;
                b->len = len;
                b->seq = sl_load_le64(r->win + at + 8);
                b->offset = probe;
                r->pos = probe + len;
                return 0;
            }
        }
        probe += 8;
        /* Bound the window while scanning damage: skip what cannot hold
         * a block start any more. */
        if (probe - r->pos > SL_CAP_BLOCK_MAX) {
            r->skipped += probe - r->pos;
            r->pos = probe;
        }
    }
}

void
sl_blk_close(sl_blk_reader *r)
{
    if (r == NULL)
        return;
    if (r->f != NULL)
        fclose(r->f);
    free(r->hdr);
    free(r->host);
    free(r->pipe);
    free(r->win);
    free(r);
}
