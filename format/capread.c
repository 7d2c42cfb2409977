/*
 * The capture reader (include/sluice/capture.h; the format is
 * docs/capture-format.md). It reads the file front to back through stdio
 * into one growing window buffer: it never seeks and never maps the file,
 * so a file that shrinks or grows underneath it, or lies about its lengths,
 * costs at most a short read. Each block is checked whole (lengths at both
 * ends, CRC32C, record structure) before any of its records is returned.
 *
 * Finding blocks is one loop, find_block(). Blocks start at 8-byte steps
 * from the first block (the header's length need not be a multiple of 8).
 * `pos` is the first byte not yet accounted for, `probe` the next candidate
 * start. A candidate is either a valid block (its records are returned),
 * a partial block (magic and a plausible length, but the file ends before
 * the block does), or garbage. Garbage opens a corrupt region, counted once
 * as a corrupt block, that ends at the next valid block. A partial block
 * with no valid block after it is the torn tail. The figures for bytes at
 * the end of the file (torn tail, a corrupt region still open at EOF) are
 * provisional, recomputed at each EOF, since in follow mode the file may
 * yet grow into something valid.
 *
 * Memory stays bounded by the largest block: the window is compacted to the
 * earliest byte still needed before each read.
 *
 * The one exception to "front to back": sluice_capture_seek_time() reads a
 * finalised file's time index from its end (docs/capture-format.md 15.5)
 * and moves the read position (fseek, the window emptied) to the blocks
 * that matter; without a usable index it reads on as always.
 */
#include "sluice/capture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capfile.h"
#include "codec.h"
#include "crc32c.h"
#include "err.h"
#include "os.h"
#include "wire.h"

/* Read at least this much per fread, so small records do not cost a call
 * each. */
#define READ_CHUNK ((size_t)1 << 20)
#define NO_POS UINT64_MAX

enum { ST_SEEK, ST_BLOCK };

struct sluice_capture {
    FILE *f;
    char *path; /* for sluice_capture_writer_alive() */
    int follow;

    /* The window: file bytes [win_off, win_off + win_len) in win. */
    uint8_t *win;
    size_t win_cap;
    size_t win_len;
    uint64_t win_off;

    int state;
    uint64_t pos;   /* ST_SEEK: first byte not yet accounted for */
    uint64_t probe; /* ST_SEEK: next candidate block start */
    int counted;    /* the corrupt region starting at pos is counted */

    /* ST_BLOCK: the validated block being returned record by record. */
    uint64_t blk_off;
    uint32_t blk_len;
    uint32_t blk_count;
    uint32_t blk_next; /* records returned so far */
    uint32_t rec_off;  /* of the next record, from the block start */
    uint64_t blk_seq;

    sluice_capture_stats st; /* settled totals */
    /* Provisional figures for the bytes at the end of the file. */
    uint64_t tail_corrupt_blocks;
    uint64_t tail_corrupt_bytes;
    uint64_t tail_torn_bytes;
    uint64_t last_idle_end; /* file size at the previous "nothing yet" */

    unsigned version;              /* the file's read_version, 1 or 2 */
    uint8_t key[SL_CAP2_KEY_LEN]; /* version 2: the block key */
    /* Version 2: the decoded record area of a compressed block (valid
     * while it is ST_BLOCK with blk_decoded set), at most
     * SL_CAP2_RAW_MAX bytes, reused. */
    uint8_t *dec;
    size_t dec_cap;
    int blk_decoded;
    uint64_t undecodable; /* blocks of a codec this build lacks */

    sluice_capture_info info;
    char *pipe;
    char *host;

    uint64_t bytes_read; /* sluice_capture_bytes_read() */
    int in_header;       /* read_header() runs: exact reads */
    uint32_t header_len;

    /* The time index (15.5), loaded by the first seek: idx_state 0 not
     * tried, 1 loaded, -1 none usable. pmax[j]: the greatest max_ns of
     * entries 0..j; smin[j]: the least min_ns of entries j..n-1. */
    int idx_state;
    sl_cap_index *idx;
    uint64_t *pmax, *smin;
    uint64_t idx_off; /* the index block's offset: entries end there */

    /* A seek in progress: records below seek_ns are skipped in blocks
     * before filter_end (with keep_meta, collector records are not);
     * without an index filter_end is NO_POS and the filter ends at the
     * first record at or after seek_ns. nav: before land_off, jump over
     * entries without collector records (keep_meta) to land_off. */
    int filter_on;
    uint64_t seek_ns;
    uint64_t filter_end;
    int keep_meta;
    int nav_on;
    uint32_t land;     /* the landing entry (idx->n: the file's end) */
    uint64_t land_off; /* its offset */
    /* sluice_capture_set_until(): end early once the index says every
     * record left is at or after until_ns. */
    int until_on;
    uint64_t until_ns;
};

/* ---- the window ---------------------------------------------------------- */

static uint64_t
win_end(const sluice_capture *c)
{
    return c->win_off + c->win_len;
}

static const uint8_t *
win_at(const sluice_capture *c, uint64_t off)
{
    return c->win + (size_t)(off - c->win_off);
}

/*
 * Makes the window hold file bytes up to `end`, or up to EOF if the file is
 * shorter; bytes before `keep` may be dropped. Callers read win_end() to
 * learn how far the data goes. keep <= end, and end - keep is bounded by
 * the largest block (twice, while looking past a partial one).
 * @return 0, SL_ENOMEM, SL_EIO.
 */
static int
win_fill(sluice_capture *c, uint64_t keep, uint64_t end)
{
    size_t need, want;

    if (end <= win_end(c))
        return 0;
    if (keep > c->win_off) {
        uint64_t drop64 = keep - c->win_off;
        size_t drop = drop64 < c->win_len ? (size_t)drop64 : c->win_len;

        if (drop > 0) {
            memmove(c->win, c->win + drop, c->win_len - drop);
            c->win_len -= drop;
            c->win_off += drop;
        }
    }
    need = (size_t)(end - c->win_off);
    want = need > c->win_len + READ_CHUNK ? need : c->win_len + READ_CHUNK;
    if (want > c->win_cap) {
        uint8_t *p = realloc(c->win, want);

        if (p == NULL)
            return SL_ENOMEM;
        c->win = p;
        c->win_cap = want;
    }
    while (c->win_len < need) {
        size_t n;

        /* EOF is sticky in stdio; clear it so a file that has grown (follow
         * mode) is read again. */
        clearerr(c->f);
        /* Reading the header or seeking: no read-ahead past what is
         * needed (a seek may skip what follows). */
        n = fread(c->win + c->win_len, 1,
                  c->nav_on || c->in_header ? need - c->win_len
                                            : c->win_cap - c->win_len,
                  c->f);
        c->win_len += n;
        c->bytes_read += n;
        if (n == 0) {
            if (ferror(c->f))
                return SL_EIO;
            break;
        }
    }
    return 0;
}

/* ---- validation ---------------------------------------------------------- */

/*
 * The block rules (docs/capture-format.md 8.2 and 15.3), exported through
 * capfile.h so the forwarder's block reader (collector/forward/blocks.c)
 * applies exactly these, not a copy of them.
 */

int
sl_cap_block_len_plausible(uint32_t len)
{
    return len % 8 == 0 && len >= SL_CAP_BLOCK_HDR + SL_CAP_BLOCK_TRL &&
           len <= SL_CAP_BLOCK_MAX;
}

int
sl_cap_records_valid(const uint8_t *a, uint32_t end, uint32_t count)
{
    uint32_t off = 0, n = 0;

    while (off < end) {
        uint32_t size, payload_len;

        if (end - off < SL_CAP_REC_HDR)
            return 0;
        size = sl_load_le32(a + off);
        payload_len = sl_load_le32(a + off + 4);
        if (size % 8 != 0 || size < SL_CAP_REC_HDR || size > end - off ||
            payload_len > size - SL_CAP_REC_HDR)
            return 0;
        off += size;
        n++;
    }
    return n == count;
}

int
sl_cap_block_valid(const uint8_t *b, uint32_t len)
{
    uint32_t body_end = len - SL_CAP_BLOCK_TRL;

    if (!sl_cap_block_len_plausible(len) ||
        sl_load_le32(b) != SL_CAP_BLOCK_MAGIC || sl_load_le32(b + 4) != len ||
        sl_load_le32(b + len - 4) != len)
        return 0;
    sl_cap_count_checked(body_end);
    if (sl_crc32c(0, b, body_end) != sl_load_le32(b + body_end))
        return 0;
    return sl_cap_records_valid(b + SL_CAP_BLOCK_HDR,
                                body_end - SL_CAP_BLOCK_HDR,
                                sl_load_le32(b + 16));
}

/*
 * Version 2 (section 15): a candidate's 64-byte header is checked first,
 * its fields and then its keyed tag at its file offset, so a scan costs
 * 64 hashed bytes per 8-byte step whatever the lengths claim (linear in
 * the file size); only then is the body's CRC computed, once per block
 * whose header is genuine.
 */
uint32_t
sl_cap2_block_header_len(const uint8_t key[SL_CAP2_KEY_LEN],
                         const uint8_t *h, uint64_t off)
{
    uint32_t len = sl_load_le32(h + 4), stored = sl_load_le32(h + 20);
    uint32_t raw = sl_load_le32(h + 24);
    uint8_t codec = h[28];

    if (sl_load_le32(h) != SL_CAP2_BLOCK_MAGIC || len % 8 != 0 ||
        len > SL_CAP2_BLOCK_MAX || stored > SL_CAP2_RAW_MAX ||
        raw > SL_CAP2_RAW_MAX || len != sl_cap2_block_len(stored) ||
        codec > SL_CAP2_CODEC_ZSTD ||
        (codec == SL_CAP2_CODEC_NONE && raw != stored))
        return 0;
    if (sl_cap2_block_tag(key, off, h) != sl_load_le64(h + 56))
        return 0;
    return len;
}

int
sl_cap2_block_stored_valid(const uint8_t *b, uint32_t len)
{
    if (sl_load_le32(b + len - 4) != len ||
        sl_load_le32(b + len - 8) != (uint32_t)sl_load_le64(b + 56))
        return 0;
    sl_cap_count_checked(len - SL_CAP2_BLOCK_HDR - SL_CAP2_BLOCK_TRL);
    return sl_crc32c(0, b + SL_CAP2_BLOCK_HDR,
                     len - SL_CAP2_BLOCK_HDR - SL_CAP2_BLOCK_TRL) ==
           sl_load_le32(b + 32);
}

/*
 * A whole v2 block whose header verified: trailer, body CRC (over the
 * stored bytes: no decoding needed to verify), then the record area,
 * decoded first when the block is compressed (into c->dec; the decoded
 * length must be exactly raw_len, which is at most SL_CAP2_RAW_MAX).
 * A codec this build lacks makes the block invalid (counted in
 * c->undecodable, so a caller can say why).
 */
static int
v2_block_valid(sluice_capture *c, const uint8_t *b, uint32_t len)
{
    uint32_t stored = sl_load_le32(b + 20), raw = sl_load_le32(b + 24);
    int rc;

    c->blk_decoded = 0;
    if (!sl_cap2_block_stored_valid(b, len))
        return 0;
    if (b[28] == SL_CAP2_CODEC_NONE)
        return sl_cap_records_valid(b + SL_CAP2_BLOCK_HDR, stored,
                                    sl_load_le32(b + 16));
    if (raw > c->dec_cap) {
        uint8_t *p = realloc(c->dec, raw);

        if (p == NULL)
            return 0;
        c->dec = p;
        c->dec_cap = raw;
    }
    rc = sl_codec_decode(b[28], b + SL_CAP2_BLOCK_HDR, stored, c->dec, raw);
    if (rc == SL_ENOSYS)
        c->undecodable++;
    if (rc != 0 || !sl_cap_records_valid(c->dec, raw, sl_load_le32(b + 16)))
        return 0;
    c->blk_decoded = 1;
    return 1;
}

/* ---- finding blocks ------------------------------------------------------ */

static void
clear_tail(sluice_capture *c)
{
    c->tail_corrupt_blocks = 0;
    c->tail_corrupt_bytes = 0;
    c->tail_torn_bytes = 0;
}

/* Settles [pos, to) as (part of) a corrupt region. */
static void
skip_corrupt(sluice_capture *c, uint64_t to)
{
    if (to <= c->pos)
        return;
    if (!c->counted) {
        c->st.corrupt_blocks++;
        c->counted = 1;
    }
    c->st.corrupt_bytes += to - c->pos;
    c->pos = to;
}

/*
 * Classifies what lies between pos and the end of the file, as it would be
 * if the file never grew: a corrupt region still open runs to the partial
 * block, or to EOF; the partial block, or fewer than 8 bytes after a valid
 * block, are the torn tail.
 */
static void
set_tail(sluice_capture *c, uint64_t pending, uint64_t end)
{
    uint64_t torn_from;

    if (pending != NO_POS)
        torn_from = pending;
    else
        torn_from = c->counted ? end : c->pos;
    clear_tail(c);
    if (torn_from > c->pos) {
        c->tail_corrupt_bytes = torn_from - c->pos;
        c->tail_corrupt_blocks = c->counted ? 0 : 1;
    }
    c->tail_torn_bytes = end - torn_from;
}

static void
enter_block(sluice_capture *c, uint64_t off, const uint8_t *b, uint32_t len)
{
    skip_corrupt(c, off);
    clear_tail(c);
    c->state = ST_BLOCK;
    c->blk_off = off;
    c->blk_len = len;
    c->blk_count = sl_load_le32(b + 16);
    c->blk_seq = sl_load_le64(b + 8);
    c->blk_next = 0;
    c->rec_off = c->version == SL_CAP2_VERSION ? SL_CAP2_BLOCK_HDR
                                               : SL_CAP_BLOCK_HDR;
    c->st.blocks++;
    c->st.valid_bytes += len;
}

/*
 * Looks for the next valid block from probe on.
 * @return 0 in ST_BLOCK at a valid block, 1 when the data ends first (the
 *         tail figures are then set), or SL_ENOMEM / SL_EIO.
 */
static int
find_block(sluice_capture *c)
{
    uint64_t pending = NO_POS; /* first partial candidate of this pass */
    uint32_t pending_len = 0;
    uint64_t p = c->probe;
    int rc;

    for (;;) {
        uint64_t keep;
        const uint8_t *b;
        uint32_t len;

        /* A file that grows while we look past a partial block can make
         * it whole: look at it again, which also keeps the window within
         * two blocks. */
        if (pending != NO_POS && win_end(c) >= pending + pending_len) {
            p = pending;
            pending = NO_POS;
        }
        keep = pending != NO_POS ? pending : p;
        rc = win_fill(c, keep, p + 8);
        if (rc != 0)
            return rc;
        if (win_end(c) < p + 8)
            break;
        b = win_at(c, p);
        len = sl_load_le32(b + 4);
        if (c->version == SL_CAP2_VERSION) {
            if (sl_load_le32(b) == SL_CAP2_BLOCK_MAGIC) {
                rc = win_fill(c, keep, p + SL_CAP2_BLOCK_HDR);
                if (rc != 0)
                    return rc;
                b = win_at(c, p);
                if (win_end(c) < p + SL_CAP2_BLOCK_HDR) {
                    /* A header cut short: torn, not yet decidable. */
                    if (pending == NO_POS) {
                        pending = p;
                        pending_len = SL_CAP2_BLOCK_HDR;
                    }
                    break;
                }
                len = sl_cap2_block_header_len(c->key, b, p);
            } else {
                len = 0;
            }
            if (len != 0) {
                rc = win_fill(c, keep, p + len);
                if (rc != 0)
                    return rc;
                b = win_at(c, p);
                if (win_end(c) >= p + len) {
                    if (v2_block_valid(c, b, len)) {
                        enter_block(c, p, b, len);
                        return 0;
                    }
                } else {
                    /* A genuine header (its tag verified) whose body is
                     * not all there: the torn tail, or a block being
                     * written. Nothing inside it can be a block. */
                    if (pending == NO_POS) {
                        pending = p;
                        pending_len = len;
                    }
                    break;
                }
            }
        } else if (sl_load_le32(b) == SL_CAP_BLOCK_MAGIC &&
                   sl_cap_block_len_plausible(len)) {
            rc = win_fill(c, keep, p + len);
            if (rc != 0)
                return rc;
            b = win_at(c, p); /* the window may have moved */
            if (win_end(c) >= p + len) {
                if (sl_cap_block_valid(b, len)) {
                    enter_block(c, p, b, len);
                    return 0;
                }
            } else {
                if (pending == NO_POS) {
                    pending = p;
                    pending_len = len;
                }
                /* While following, a block still being written is the
                 * likely story: wait for it rather than look inside it
                 * (a payload may itself contain block-like bytes). */
                if (c->follow)
                    break;
                p += 8;
                continue;
            }
        }
        /* No block starts at p. Unless a partial block before p may yet
         * turn out real, everything up to p + 8 is settled as corrupt. */
        if (pending == NO_POS) {
            skip_corrupt(c, p + 8);
            c->probe = p + 8;
        }
        p += 8;
    }

    /* The file ends here (for now). */
    if (pending != NO_POS)
        c->probe = pending;
    if (c->follow) {
        /* Report tail figures only once the file has stopped growing
         * between two calls; until then the writer may be mid-block. */
        if (win_end(c) == c->last_idle_end)
            set_tail(c, pending, win_end(c));
        else
            clear_tail(c);
        c->last_idle_end = win_end(c);
    } else {
        set_tail(c, pending, win_end(c));
    }
    return 1;
}

/* ---- the time index and seeking (docs/capture-format.md 15.5) ------------ */

static int
file_seek(FILE *f, uint64_t off)
{
#ifdef _WIN32
    return _fseeki64(f, (__int64)off, SEEK_SET) == 0 ? 0 : SL_EIO;
#else
    return fseeko(f, (off_t)off, SEEK_SET) == 0 ? 0 : SL_EIO;
#endif
}

static int
file_size(FILE *f, uint64_t *out)
{
#ifdef _WIN32
    __int64 n;

    if (_fseeki64(f, 0, SEEK_END) != 0 || (n = _ftelli64(f)) < 0)
        return SL_EIO;
#else
    off_t n;

    if (fseeko(f, 0, SEEK_END) != 0 || (n = ftello(f)) < 0)
        return SL_EIO;
#endif
    *out = (uint64_t)n;
    return 0;
}

/* Reads file bytes [off, off + n) into buf (counted as read). @return 0,
 * 1 when the file is shorter, SL_EIO. */
static int
read_at(sluice_capture *c, uint64_t off, uint8_t *buf, size_t n)
{
    size_t got;

    if (file_seek(c->f, off) != 0)
        return SL_EIO;
    got = fread(buf, 1, n, c->f);
    c->bytes_read += got;
    return got == n ? 0 : 1;
}

/*
 * The genuine single-record block whose trailer ends at file offset end,
 * read into a malloc'd *out: its length from the trailer, at most max;
 * its header's tag under the file's key at its offset; trailer, body CRC,
 * codec 0, exactly one well-formed record of type want. @return 1 found
 * (*off its offset, *out the block, *len its length), 0 not, SL_E*.
 */
static int
block_ending_at(sluice_capture *c, uint64_t end, uint32_t max, uint16_t want,
                uint64_t *off, uint8_t **out, uint32_t *len)
{
    uint8_t trl[SL_CAP2_BLOCK_TRL], *b;
    uint32_t l;
    uint64_t at;
    int rc;

    if (end < (uint64_t)c->header_len + 8)
        return 0;
    rc = read_at(c, end - 8, trl, sizeof(trl));
    if (rc != 0)
        return rc < 0 ? rc : 0;
    l = sl_load_le32(trl + 4);
    if (l < SL_CAP2_BLOCK_HDR + SL_CAP_REC_HDR + SL_CAP2_BLOCK_TRL ||
        l > max || l % 8 != 0 || end - c->header_len < l)
        return 0;
    at = end - l;
    if ((at - c->header_len) % 8 != 0)
        return 0;
    b = malloc(l);
    if (b == NULL)
        return SL_ENOMEM;
    rc = read_at(c, at, b, l);
    if (rc != 0 || sl_cap2_block_header_len(c->key, b, at) != l ||
        b[28] != SL_CAP2_CODEC_NONE || !sl_cap2_block_stored_valid(b, l) ||
        sl_load_le32(b + 16) != 1 ||
        !sl_cap_records_valid(b + SL_CAP2_BLOCK_HDR, sl_load_le32(b + 20), 1) ||
        sl_load_le16(b + SL_CAP2_BLOCK_HDR + 8) != want) {
        free(b);
        return rc < 0 ? rc : 0;
    }
    *off = at;
    *out = b;
    *len = l;
    return 1;
}

/*
 * Finds the index of a finalised version 2 file without scanning: the
 * file's last block, by its trailer, must be a genuine close block, and
 * the block that ends where it starts a genuine index block (15.5). The
 * stdio position is put back where the window ends.
 */
static int
load_index(sluice_capture *c)
{
    const uint32_t idx_max = sl_cap2_block_len(
        SL_CAP_REC_HDR + SL_CAP_INDEX_HDR + SL_CAP_INDEX_MAX * 4096u);
    uint64_t size, coff, ioff;
    uint8_t *b = NULL;
    uint32_t len;
    int rc;

    c->idx_state = -1;
    if (c->version != SL_CAP2_VERSION || c->follow)
        return 0;
    rc = file_size(c->f, &size);
    if (rc == 0)
        rc = block_ending_at(c, size, 4096, SL_CAP_T_CLOSE, &coff, &b, &len);
    free(b);
    b = NULL;
    if (rc == 1)
        rc = block_ending_at(c, coff, idx_max, SL_CAP_T_INDEX, &ioff, &b,
                             &len);
    if (rc == 1) {
        const uint8_t *r = b + SL_CAP2_BLOCK_HDR;

        rc = 0;
        c->idx = malloc(sizeof(*c->idx));
        c->pmax = malloc(2 * SL_CAP_INDEX_MAX * sizeof(*c->pmax));
        if (c->idx == NULL || c->pmax == NULL) {
            rc = SL_ENOMEM;
        } else if (sl_cap_index_decode(r + SL_CAP_REC_HDR,
                                       sl_load_le32(r + 4), c->header_len,
                                       ioff, c->idx) == 0) {
            uint32_t n = c->idx->n;

            c->smin = c->pmax + SL_CAP_INDEX_MAX;
            for (uint32_t j = 0; j < n; j++)
                c->pmax[j] = j == 0 || c->idx->e[j].max_ns > c->pmax[j - 1]
                                 ? c->idx->e[j].max_ns
                                 : c->pmax[j - 1];
            for (uint32_t j = n; j-- > 0;)
                c->smin[j] = j == n - 1 || c->idx->e[j].min_ns < c->smin[j + 1]
                                 ? c->idx->e[j].min_ns
                                 : c->smin[j + 1];
            c->idx_off = ioff;
            c->idx_state = 1;
        }
    }
    free(b);
    if (c->idx_state != 1) {
        free(c->idx);
        free(c->pmax);
        c->idx = NULL;
        c->pmax = c->smin = NULL;
    }
    if (file_seek(c->f, win_end(c)) != 0)
        return SL_EIO;
    return rc < 0 ? rc : 0;
}

/* The entry whose blocks hold file offset p (0 before the first). */
static uint32_t
entry_of(const sluice_capture *c, uint64_t p)
{
    uint32_t lo = 0, hi = c->idx->n;

    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (c->idx->e[mid].off <= p)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Moves the read position to the block expected at off. */
static int
jump(sluice_capture *c, uint64_t off)
{
    if (off >= c->win_off && off <= win_end(c)) {
        c->pos = c->probe = off;
    } else {
        if (file_seek(c->f, off) != 0)
            return SL_EIO;
        c->win_off = off;
        c->win_len = 0;
        c->pos = c->probe = off;
    }
    c->state = ST_SEEK;
    c->counted = 0;
    clear_tail(c);
    return 0;
}

/* Before the landing entry: on to the next entry worth reading (one
 * holding collector records, with keep_meta) or to the landing one. */
static int
nav(sluice_capture *c)
{
    uint64_t p = c->pos;
    uint32_t j, k;

    if (p >= c->land_off) {
        c->nav_on = 0;
        return 0;
    }
    j = entry_of(c, p);
    if (c->keep_meta && c->idx->e[j].meta > 0 && p >= c->idx->e[j].off)
        return 0; /* inside an entry to read: read on */
    for (k = p < c->idx->e[0].off ? 0 : j + 1; k < c->land; k++)
        if (c->keep_meta && c->idx->e[k].meta > 0)
            break;
    return jump(c, k < c->land ? c->idx->e[k].off : c->land_off);
}

/* 1 when the index says no record from pos on is before until_ns. */
static int
until_reached(const sluice_capture *c)
{
    if (!c->until_on || c->idx_state != 1 || c->pos >= c->idx_off)
        return 0;
    return c->smin[entry_of(c, c->pos)] >= c->until_ns;
}

int
sluice_capture_seek_time_ex(sluice_capture *c, uint64_t ns, unsigned flags)
{
    int rc;

    if (c == NULL)
        return SL_EINVAL;
    if (c->idx_state == 0 && (rc = load_index(c)) != 0)
        return rc;
    c->seek_ns = ns;
    c->keep_meta = (flags & SLUICE_SEEK_KEEP_COLLECTOR) != 0;
    c->filter_on = 1;
    if (c->idx_state != 1) {
        /* No usable index: read on from here, skipping what is before
         * ns (scanning: correct, only slower). */
        c->filter_end = NO_POS;
        c->nav_on = 0;
        return 0;
    }
    {
        uint32_t lo = 0, hi = c->idx->n; /* first j with pmax[j] >= ns */

        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;

            if (c->pmax[mid] >= ns)
                hi = mid;
            else
                lo = mid + 1;
        }
        c->land = lo;
    }
    c->land_off = c->land < c->idx->n ? c->idx->e[c->land].off : c->idx_off;
    c->filter_end = c->land + 1 < c->idx->n ? c->idx->e[c->land + 1].off
                    : c->land < c->idx->n   ? c->idx_off
                                            : NO_POS;
    c->nav_on = 1;
    rc = jump(c, c->idx->e[0].off);
    if (rc == 0)
        rc = nav(c);
    return rc;
}

int
sluice_capture_seek_time(sluice_capture *c, uint64_t ns)
{
    return sluice_capture_seek_time_ex(c, ns, 0);
}

int
sluice_capture_set_until(sluice_capture *c, uint64_t ns)
{
    int rc;

    if (c == NULL)
        return SL_EINVAL;
    if (c->idx_state == 0 && (rc = load_index(c)) != 0)
        return rc;
    c->until_on = 1;
    c->until_ns = ns;
    return 0;
}

int
sluice_capture_has_index(sluice_capture *c)
{
    int rc;

    if (c == NULL)
        return SL_EINVAL;
    if (c->idx_state == 0 && (rc = load_index(c)) != 0)
        return rc;
    return c->idx_state == 1;
}

uint64_t
sluice_capture_bytes_read(const sluice_capture *c)
{
    return c->bytes_read;
}

/* ---- public API ---------------------------------------------------------- */

static char *
dup_str(const uint8_t *s, size_t n)
{
    char *p = malloc(n + 1);

    if (p == NULL)
        return NULL;
    if (n > 0)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Reads and checks the file header; leaves the window at its end. */
static int
read_header(sluice_capture *c)
{
    static const uint8_t zero[4];
    const uint8_t *h;
    uint16_t read_version, write_version, pipe_len, host_len;
    uint32_t header_len, names_len, crc, fixed;
    size_t have;
    int bad_len, rc;

    rc = win_fill(c, 0, SL_CAP_FILE_HDR_FIXED);
    if (rc != 0)
        return rc;
    h = c->win;
    have = c->win_len;
    /* Too short for a magic: a prefix of it is a capture that was cut off
     * (or not yet written); anything else is not a capture at all. */
    if (have < SL_CAP_MAGIC_LEN)
        return memcmp(h, SL_CAP_MAGIC, have) == 0 ? SL_ETRUNC : SL_ECORRUPT;
    if (memcmp(h, SL_CAP_MAGIC, SL_CAP_MAGIC_LEN) != 0)
        return SL_ECORRUPT;
    if (have < 12)
        return SL_ETRUNC;
    /* Versions come first: a newer read version may lay out the rest of
     * the header differently. */
    read_version = sl_load_le16(h + 8);
    write_version = sl_load_le16(h + 10);
    if (read_version == 0 || read_version > SL_CAP2_VERSION)
        return SL_EVERSION;
    fixed = read_version == SL_CAP2_VERSION ? SL_CAP2_FILE_HDR_FIXED
                                            : SL_CAP_FILE_HDR_FIXED;
    rc = win_fill(c, 0, fixed);
    if (rc != 0)
        return rc;
    h = c->win;
    have = c->win_len;
    if (have < fixed)
        return SL_ETRUNC;
    header_len = sl_load_le32(h + 12);
    pipe_len = sl_load_le16(h + 24);
    host_len = sl_load_le16(h + 26);
    names_len = fixed + (uint32_t)pipe_len + host_len;
    /* A later write version may append fields after the host name, which
     * this reader skips; versions 1 and 2 have none. */
    if (write_version <= read_version)
        bad_len = header_len != names_len;
    else
        bad_len = header_len < names_len ||
                  header_len > fixed + 2u * 65535u;
    if (bad_len)
        return SL_ECORRUPT;
    rc = win_fill(c, 0, header_len);
    if (rc != 0)
        return rc;
    if (c->win_len < header_len)
        return SL_ETRUNC;
    h = c->win;

    /* The writer computed the CRC with its own field zero. */
    crc = sl_crc32c(0, h, 28);
    crc = sl_crc32c(crc, zero, sizeof(zero));
    crc = sl_crc32c(crc, h + SL_CAP_FILE_HDR_FIXED,
                    header_len - SL_CAP_FILE_HDR_FIXED);
    if (crc != sl_load_le32(h + 28))
        return SL_ECORRUPT;

    c->version = read_version;
    if (read_version == SL_CAP2_VERSION)
        memcpy(c->key, h + 32, SL_CAP2_KEY_LEN);
    c->pipe = dup_str(h + fixed, pipe_len);
    c->host = dup_str(h + fixed + pipe_len, host_len);
    if (c->pipe == NULL || c->host == NULL)
        return SL_ENOMEM;
    c->info.read_version = read_version;
    c->info.write_version = write_version;
    c->info.start_ns = sl_load_le64(h + 16);
    c->info.pipe = c->pipe;
    c->info.host = c->host;
    if (read_version == SL_CAP2_VERSION) {
        memcpy(c->info.capture_id, h + 48, SL_CAP2_ID_LEN);
        c->info.chunk = sl_load_le64(h + 64);
        c->info.kind = sl_load_le32(h + 72);
    }
    c->pos = c->probe = header_len;
    c->header_len = header_len;
    c->st.valid_bytes = header_len;
    return 0;
}

int
sluice_capture_open(const char *path, sluice_capture **out)
{
    sluice_capture *c;
    int rc;

    if (path == NULL || out == NULL)
        return SL_EINVAL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return SL_ENOMEM;
    c->state = ST_SEEK;
    c->last_idle_end = NO_POS;
    c->path = strdup(path);
    if (c->path == NULL) {
        rc = SL_ENOMEM;
        goto fail;
    }
    rc = sl_os_fopen_read(path, &c->f);
    if (rc != 0)
        goto fail;
    c->in_header = 1;
    rc = read_header(c);
    c->in_header = 0;
    if (rc != 0)
        goto fail;
    *out = c;
    return 0;

fail:
    sluice_capture_close(c);
    return rc;
}

int
sluice_capture_open_wait(const char *path, uint32_t timeout_ms,
                         sluice_capture **out)
{
    const uint64_t poll_ns = 50000000ull; /* 50 ms */
    uint64_t start = sl_os_mono_ns(), waited;
    int rc;

    for (;;) {
        rc = sluice_capture_open(path, out);
        if (rc != SL_ENOENT && rc != SL_ETRUNC)
            return rc;
        waited = sl_os_mono_ns() - start;
        if (timeout_ms != SLUICE_WAIT_FOREVER &&
            waited >= (uint64_t)timeout_ms * 1000000ull)
            return rc;
        if (timeout_ms != SLUICE_WAIT_FOREVER &&
            (uint64_t)timeout_ms * 1000000ull - waited < poll_ns)
            sl_os_sleep_ns((uint64_t)timeout_ms * 1000000ull - waited);
        else
            sl_os_sleep_ns(poll_ns);
    }
}

const sluice_capture_info *
sluice_capture_get_info(const sluice_capture *c)
{
    return &c->info;
}

int
sluice_capture_next(sluice_capture *c, sluice_record *rec)
{
    for (;;) {
        const uint8_t *r;
        sl_cap_rec h;
        int rc;

        if (c->state == ST_SEEK) {
            if (until_reached(c))
                return 1;
            rc = find_block(c);
            if (rc != 0)
                return rc; /* 1: no more data (yet); or an error */
            continue;
        }
        if (c->blk_next == c->blk_count) {
            c->state = ST_SEEK;
            c->pos = c->probe = c->blk_off + c->blk_len;
            c->counted = 0;
            if (c->nav_on) {
                rc = nav(c);
                if (rc != 0)
                    return rc;
            }
            continue;
        }
        /* A compressed block's records are in the decoded area, which
         * starts where a stored block's would (rec_off from the block). */
        if (c->blk_decoded)
            r = c->dec + (c->rec_off - SL_CAP2_BLOCK_HDR);
        else
            r = win_at(c, c->blk_off) + c->rec_off;
        sl_cap_rec_decode(r, &h);
        rec->type = h.type;
        rec->flags = h.flags;
        rec->producer = h.producer;
        rec->seq = h.seq;
        rec->producer_ns = h.producer_ns;
        rec->collector_ns = h.collector_ns;
        rec->payload = r + SL_CAP_REC_HDR;
        rec->payload_len = h.payload_len;
        rec->block_seq = c->blk_seq;
        rec->file_offset = c->blk_off + c->rec_off;
        c->rec_off += h.size;
        c->blk_next++;
        /* The time index is the file's structure, not data (15.5): never
         * returned, so a reader that counts producers by record does not
         * meet a record of producer 0 it did not expect. */
        if (h.type == SL_CAP_T_INDEX)
            continue;
        if (c->filter_on) {
            if (c->blk_off >= c->filter_end) {
                c->filter_on = 0;
            } else if (h.collector_ns < c->seek_ns) {
                if (!(c->keep_meta && h.type >= 0xF000u))
                    continue; /* before the time sought */
            } else if (c->filter_end == NO_POS) {
                c->filter_on = 0; /* scanning: the first one at or after */
            }
        }
        c->st.records++;
        return 0;
    }
}

void
sluice_capture_set_follow(sluice_capture *c, int on)
{
    c->follow = on != 0;
    c->last_idle_end = NO_POS;
}

void
sluice_capture_get_stats(const sluice_capture *c, sluice_capture_stats *out)
{
    *out = c->st;
    out->corrupt_blocks += c->tail_corrupt_blocks;
    out->corrupt_bytes += c->tail_corrupt_bytes;
    out->torn_tail_bytes = c->tail_torn_bytes;
}

void
sluice_capture_close(sluice_capture *c)
{
    if (c == NULL)
        return;
    if (c->f != NULL)
        fclose(c->f);
    free(c->win);
    free(c->dec);
    free(c->idx);
    free(c->pmax);
    free(c->pipe);
    free(c->host);
    free(c->path);
    free(c);
}

/* ---- collector record payloads ------------------------------------------- */

int
sluice_record_connect(const sluice_record *rec, sluice_connect_info *out)
{
    const uint8_t *p = rec->payload;
    uint16_t name_len;

    if ((rec->type != SLUICE_REC_CONNECT && rec->type != SLUICE_REC_LIVE) ||
        rec->payload_len < SL_CAP_CONNECT_FIXED)
        return SL_ECORRUPT;
    name_len = sl_load_le16(p + 10);
    if (name_len > rec->payload_len - SL_CAP_CONNECT_FIXED)
        return SL_ECORRUPT;
    out->pid = sl_load_le32(p);
    out->uid = sl_load_le32(p + 4);
    out->mode = p[8];
    out->name = (const char *)(p + SL_CAP_CONNECT_FIXED);
    out->name_len = name_len;
    return 0;
}

/* Longer payloads than these are accepted: a later write version may
 * append fields, which this reader ignores. */

int
sluice_record_disconnect(const sluice_record *rec,
                         sluice_disconnect_info *out)
{
    const uint8_t *p = rec->payload;

    if (rec->type != SLUICE_REC_DISCONNECT ||
        rec->payload_len < SL_CAP_DISCONNECT_MIN)
        return SL_ECORRUPT;
    out->events = sl_load_le64(p);
    out->bytes = sl_load_le64(p + 8);
    out->dropped = sl_load_le64(p + 16);
    out->reason = sl_load_le32(p + 24);
    out->malformed = sl_load_le32(p + 28);
    /* Fields appended later read as 0 from a record without them. */
    out->discarded = rec->payload_len >= 40 ? sl_load_le64(p + 32) : 0;
    out->filtered = rec->payload_len >= 48 ? sl_load_le64(p + 40) : 0;
    return 0;
}

int
sluice_record_drop(const sluice_record *rec, sluice_drop_info *out)
{
    const uint8_t *p = rec->payload;

    if (rec->type != SLUICE_REC_DROP || rec->payload_len < SL_CAP_DROP_LEN)
        return SL_ECORRUPT;
    out->events = sl_load_le64(p);
    out->bytes = sl_load_le64(p + 8);
    return 0;
}

int
sluice_record_close(const sluice_record *rec, sluice_close_info *out)
{
    const uint8_t *p = rec->payload;

    if (rec->type != SLUICE_REC_CLOSE || rec->payload_len < SL_CAP_CLOSE_LEN)
        return SL_ECORRUPT;
    out->producers = sl_load_le64(p);
    out->events = sl_load_le64(p + 8);
    out->bytes = sl_load_le64(p + 16);
    out->dropped = sl_load_le64(p + 24);
    out->malformed = sl_load_le64(p + 32);
    out->expired_unforwarded =
        rec->payload_len >= SL_CAP_CLOSE_LEN_WRITTEN ? sl_load_le64(p + 40)
                                                     : 0;
    return 0;
}

int
sluice_record_trigger(const sluice_record *rec, sluice_trigger_info *out)
{
    const uint8_t *p = rec->payload;

    if (rec->type != SLUICE_REC_TRIGGER ||
        rec->payload_len < SL_CAP_TRIGGER_LEN)
        return SL_ECORRUPT;
    out->cause = sl_load_le32(p);
    out->event_type = sl_load_le32(p + 4);
    out->producer = sl_load_le32(p + 8);
    out->snapshot = sl_load_le32(p + 12);
    out->seq = sl_load_le64(p + 16);
    out->after_ns = sl_load_le64(p + 24);
    out->folded = sl_load_le32(p + 32);
    return 0;
}

const char *
sluice_trigger_cause_name(uint32_t cause)
{
    switch (cause) {
    case SLUICE_TRIGGER_SIGNAL:
        return "signal";
    case SLUICE_TRIGGER_TYPE:
        return "type";
    case SLUICE_TRIGGER_CTL:
        return "ctl";
    default:
        return "unknown";
    }
}

/* The public names are the wire header's list (wire.c), so they cannot
 * drift from the codes the collector stores. */
const char *
sluice_reason_str(uint32_t reason)
{
    return sl_wire_reason_str(reason);
}

const char *
sluice_reason_name(uint32_t reason)
{
    return sl_wire_reason_name(reason);
}

int
sluice_capture_writer_alive(const sluice_capture *c)
{
    if (c == NULL)
        return SL_EINVAL;
    return sl_os_file_writer_alive(c->path);
}
