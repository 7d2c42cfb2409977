/*
 * The block reader of blocks.h. It reads the file front to back with
 * stdio into one window buffer, like the record reader (capread.c), and
 * applies the same rules (docs/capture-format.md sections 8 and 9): blocks
 * start at 8-byte steps from the first block; a valid block is returned
 * whole; damage followed by a valid block is skipped; a partial block at
 * the end is "not yet" (the forwarder follows a file being written, and
 * the writer appends whole blocks, so a partial block completes).
 * Version 2 files (section 15) are read when the format code that defines
 * them is built in (SL_CAP2_VERSION in capfile.h): a block start is then a
 * header whose tag verifies under the file's key at its offset.
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
    sl_blk_fmt fmt;
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

/* The block rules are the record reader's (capfile.h, capread.c): one
 * implementation, so the forwarder ships exactly the blocks a reader of
 * the local capture accepts. */
int
sl_blk_valid(const uint8_t *b, size_t len)
{
    return len <= SL_CAP_BLOCK_MAX && sl_cap_block_valid(b, (uint32_t)len);
}

#ifdef SL_CAP2_VERSION
#define MAX_READ_VERSION SL_CAP2_VERSION
#else
#define MAX_READ_VERSION SL_CAP_READ_VERSION
#endif

static size_t
fixed_len(unsigned version)
{
#ifdef SL_CAP2_VERSION
    if (version == SL_CAP2_VERSION)
        return SL_CAP2_FILE_HDR_FIXED;
#endif
    (void)version;
    return SL_CAP_FILE_HDR_FIXED;
}

int
sl_blk_header_check(const uint8_t *hdr, size_t len, sl_blk_fmt *f)
{
    unsigned rv, wv;
    size_t fixed, need, hlen;
    uint8_t save[4];
    uint32_t crc;
    int ok;

    if (len < SL_CAP_MAGIC_LEN)
        return memcmp(hdr, SL_CAP_MAGIC, len) == 0 ? SL_ETRUNC : SL_ECORRUPT;
    if (memcmp(hdr, SL_CAP_MAGIC, SL_CAP_MAGIC_LEN) != 0)
        return SL_ECORRUPT;
    if (len < SL_CAP_FILE_HDR_FIXED)
        return SL_ETRUNC;
    rv = sl_load_le16(hdr + 8);
    wv = sl_load_le16(hdr + 10);
    if (rv == 0 || rv > MAX_READ_VERSION)
        return SL_EVERSION;
    fixed = fixed_len(rv);
    hlen = sl_load_le32(hdr + 12);
    need = fixed + sl_load_le16(hdr + 24) + sl_load_le16(hdr + 26);
    if (hlen < need || hlen > fixed + 2u * 65535u ||
        (wv <= rv && hlen != need))
        return SL_ECORRUPT;
    if (len < hlen)
        return SL_ETRUNC;
    /* The CRC is over the header with its own field as zero. */
    memcpy(save, hdr + 28, 4);
    crc = sl_crc32c(0, hdr, 28);
    crc = sl_crc32c(crc, "\0\0\0\0", 4);
    crc = sl_crc32c(crc, hdr + 32, hlen - 32);
    ok = crc == sl_load_le32(save);
    if (!ok)
        return SL_ECORRUPT;
    memset(f, 0, sizeof(*f));
    f->version = rv;
#ifdef SL_CAP2_VERSION
    if (rv == SL_CAP2_VERSION)
        memcpy(f->key, hdr + 32, SL_CAP2_KEY_LEN);
#endif
    return 0;
}

void
sl_blk_header_id(const uint8_t *hdr, size_t len, char out[SL_BLK_ID_MAX + 1])
{
    (void)len;
#ifdef SL_CAP2_VERSION
    if (sl_load_le16(hdr + 8) == SL_CAP2_VERSION) {
        static const char digits[] = "0123456789abcdef";

        for (unsigned i = 0; i < SL_CAP2_ID_LEN; i++) {
            out[2 * i] = digits[hdr[48 + i] >> 4];
            out[2 * i + 1] = digits[hdr[48 + i] & 15];
        }
        out[2 * SL_CAP2_ID_LEN] = '\0';
        return;
    }
#endif
    /* v1 headers have no id field: start_ns and the header's CRC (which
     * covers pipe and host) name the capture. */
    snprintf(out, SL_BLK_ID_MAX + 1, "%016llx%08lx",
             (unsigned long long)sl_load_le64(hdr + 16),
             (unsigned long)sl_load_le32(hdr + 28));
}

uint64_t
sl_blk_header_chunk(const uint8_t *hdr, size_t len)
{
    (void)len;
#ifdef SL_CAP2_VERSION
    if (sl_load_le16(hdr + 8) == SL_CAP2_VERSION)
        return sl_load_le64(hdr + 64);
#endif
    (void)hdr;
    return 0;
}

int
sl_blk_check(const sl_blk_fmt *f, const uint8_t *b, size_t len, uint64_t off)
{
#ifdef SL_CAP2_VERSION
    if (f->version == SL_CAP2_VERSION)
        return len >= SL_CAP2_BLOCK_HDR + SL_CAP2_BLOCK_TRL &&
               len <= SL_CAP2_BLOCK_MAX &&
               sl_cap2_block_header_len(f->key, b, off) == len &&
               sl_cap2_block_stored_valid(b, (uint32_t)len);
#endif
    (void)f;
    (void)off;
    return sl_blk_valid(b, len);
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
    rc = sl_blk_header_check(r->win, r->win_len, &r->fmt);
    if (rc == SL_ETRUNC && r->win_len >= SL_CAP_FILE_HDR_FIXED) {
        /* The strings (or a v2 header's fixed part) are not read yet. */
        rc = fill(r, 0, fixed_len(sl_load_le16(r->win + 8)) + 2u * 65535u);
        if (rc != 0)
            goto fail;
        rc = sl_blk_header_check(r->win, r->win_len, &r->fmt);
    }
    if (rc != 0)
        goto fail;
    hlen = sl_load_le32(r->win + 12);
    pipe_len = sl_load_le16(r->win + 24);
    host_len = sl_load_le16(r->win + 26);
    rc = SL_ENOMEM;
    r->hdr = malloc(hlen);
    if (r->hdr == NULL)
        goto fail;
    memcpy(r->hdr, r->win, hlen);
    r->hdr_len = hlen;
    {
        size_t fixed = fixed_len(r->fmt.version);

        r->pipe = dup_str(r->hdr + fixed, pipe_len);
        r->host = dup_str(r->hdr + fixed + pipe_len, host_len);
    }
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
    return sl_blk_header_chunk(r->hdr, r->hdr_len);
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

enum { C_NO, C_SHORT, C_YES };

/* Could a block start at file offset off, whose first bytes are p[0, n)?
 * C_YES with its length; C_SHORT when more bytes are needed to tell. */
static int
candidate(const sl_blk_reader *r, const uint8_t *p, size_t n, uint64_t off,
          uint32_t *len)
{
    uint32_t l;

    if (n < 8)
        return C_SHORT;
#ifdef SL_CAP2_VERSION
    if (r->fmt.version == SL_CAP2_VERSION) {
        if (sl_load_le32(p) != SL_CAP2_BLOCK_MAGIC)
            return C_NO;
        if (n < SL_CAP2_BLOCK_HDR)
            return C_SHORT;
        l = sl_cap2_block_header_len(r->fmt.key, p, off);
        if (l == 0)
            return C_NO;
        *len = l;
        return C_YES;
    }
#endif
    (void)r;
    (void)off;
    l = sl_load_le32(p + 4);
    if (sl_load_le32(p) != SL_CAP_BLOCK_MAGIC || !sl_cap_block_len_plausible(l))
        return C_NO;
    *len = l;
    return C_YES;
}

int
sl_blk_next(sl_blk_reader *r, sl_blk *b)
{
    uint64_t probe = r->pos;
    int rc;

    for (;;) {
        uint32_t len = 0;
        size_t at;
        int c;

        rc = fill(r, r->pos, (size_t)(probe - r->pos) + 64);
        if (rc != 0)
            return rc;
        at = (size_t)(probe - r->win_off);
        if (r->win_len <= at)
            return 1; /* nothing after probe yet */
        c = candidate(r, r->win + at, r->win_len - at, probe, &len);
        if (c == C_SHORT)
            return 1; /* a block header being written, or the end */
        if (c == C_YES) {
            rc = fill(r, r->pos, (size_t)(probe - r->pos) + len);
            if (rc != 0)
                return rc;
            at = (size_t)(probe - r->win_off);
            if (r->win_len < at + len) {
                /* A partial block: the writer is in the middle of it, or
                 * damage ends the data. Wait for the file to grow. */
                return 1;
            }
            if (sl_blk_check(&r->fmt, r->win + at, len, probe)) {
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

const sl_blk_fmt *
sl_blk_format(const sl_blk_reader *r)
{
    return &r->fmt;
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
