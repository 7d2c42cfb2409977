/*
 * The time index (docs/capture-format.md 15.5): its encoding, the bound
 * (pairs merge past SL_CAP_INDEX_MAX entries), the decoder's checks, and
 * the reader's seek on an index found from the file's end: the records
 * after a seek are exactly those at or after the time sought, the bytes
 * read a small part of the file; an index under the wrong key (what a
 * producer without the key could forge), a file cut short and a file
 * without an index all seek by scanning, with the same records.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capfile.h"
#include "crc32c.h"
#include "err.h"
#include "sluice/capture.h"
#include "unit/temp_file.h"

#define BLOCKS 64u
#define RECS 100u /* per block */
#define PAYLOAD 200u
#define T0 1700000000000000000ull

static const uint8_t key[SL_CAP2_KEY_LEN] = {
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t other_key[SL_CAP2_KEY_LEN] = {
    16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1};

Test(index, encodes_and_decodes_every_field)
{
    sl_cap_index *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    uint8_t buf[SL_CAP_INDEX_HDR + 3 * SL_CAP_INDEX_ENTRY];

    cr_assert(a != NULL && b != NULL);
    sl_cap_index_reset(a);
    sl_cap_index_add(a, 100, 5, 9, 3, 1);
    sl_cap_index_add(a, 200, 9, 12, 4, 0);
    sl_cap_index_add(a, 300, 11, 20, 5, 2);
    cr_assert_eq(sl_cap_index_payload_len(a, 0), sizeof(buf));
    sl_cap_index_encode(a, buf);
    cr_assert_eq(sl_load_le32(buf), 3);
    cr_assert_eq(sl_load_le32(buf + 4), SL_CAP_INDEX_ENTRY);
    cr_assert_eq(sl_load_le32(buf + 8), 1);
    cr_assert_eq(sl_load_le64(buf + 16), 3);
    cr_assert_eq(sl_cap_index_decode(buf, sizeof(buf), 100, 301, b), 0);
    cr_assert_eq(b->n, 3);
    cr_assert_eq(b->e[2].off, 300);
    cr_assert_eq(b->e[2].min_ns, 11);
    cr_assert_eq(b->e[2].max_ns, 20);
    cr_assert_eq(b->e[2].records, 5);
    cr_assert_eq(b->e[2].blocks, 1);
    cr_assert_eq(b->e[2].meta, 2);
    /* The checks: each bad field makes the index unusable. */
    cr_assert_eq(sl_cap_index_decode(buf, sizeof(buf), 100, 300, b),
                 SL_ECORRUPT, "an entry at or past the index block");
    cr_assert_eq(sl_cap_index_decode(buf, sizeof(buf), 101, 301, b),
                 SL_ECORRUPT, "an entry before the first block");
    cr_assert_eq(sl_cap_index_decode(buf, sizeof(buf) - 1, 100, 301, b),
                 SL_ECORRUPT, "payload cut short");
    sl_store_le64(buf + SL_CAP_INDEX_HDR + SL_CAP_INDEX_ENTRY, 100);
    cr_assert_eq(sl_cap_index_decode(buf, sizeof(buf), 100, 301, b),
                 SL_ECORRUPT, "offsets not increasing");
    sl_store_le64(buf + SL_CAP_INDEX_HDR + SL_CAP_INDEX_ENTRY, 200);
    sl_store_le32(buf + 8, 3);
    cr_assert_eq(sl_cap_index_decode(buf, sizeof(buf), 100, 301, b),
                 SL_ECORRUPT, "stride not a power of two");
    sl_store_le32(buf + 8, 1);
    sl_store_le64(buf + SL_CAP_INDEX_HDR + 8, 10); /* min 10 > max 9 */
    cr_assert_eq(sl_cap_index_decode(buf, sizeof(buf), 100, 301, b),
                 SL_ECORRUPT, "min above max");
    sl_store_le32(buf, 0);
    cr_assert_eq(sl_cap_index_decode(buf, sizeof(buf), 100, 301, b),
                 SL_ECORRUPT, "no entry");
    free(a);
    free(b);
}

Test(index, stays_bounded_by_merging_pairs)
{
    sl_cap_index *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    const uint32_t n = 5000;
    uint64_t records = 0, blocks = 0;
    uint8_t *buf;

    cr_assert(a != NULL && b != NULL);
    sl_cap_index_reset(a);
    for (uint32_t i = 0; i < n; i++)
        sl_cap_index_add(a, 1000 + (uint64_t)i * 8, i * 10, i * 10 + 5, i, 0);
    cr_assert_leq(a->n, SL_CAP_INDEX_MAX);
    cr_assert_eq(a->stride, 8, "5000 blocks: 8 per entry (625 entries)");
    cr_assert_eq(a->n, 625);
    buf = malloc(sl_cap_index_payload_len(a, 0));
    cr_assert_not_null(buf);
    sl_cap_index_encode(a, buf);
    cr_assert_eq(sl_cap_index_decode(buf, sl_cap_index_payload_len(a, 0), 1000,
                                     UINT64_MAX, b),
                 0);
    for (uint32_t j = 0; j < b->n; j++) {
        /* Entry j: blocks 8j .. 8j+7, from the first one's offset, the
         * least time of the first and the greatest of the last. */
        cr_assert_eq(b->e[j].off, 1000 + (uint64_t)j * 8 * 8);
        cr_assert_eq(b->e[j].min_ns, (uint64_t)j * 80);
        cr_assert_eq(b->e[j].max_ns, (uint64_t)j * 80 + 75);
        records += b->e[j].records;
        blocks += b->e[j].blocks;
    }
    cr_assert_eq(blocks, n);
    cr_assert_eq(records, (uint64_t)n * (n - 1) / 2);
    cr_assert_eq(b->blocks, n);
    free(buf);
    free(a);
    free(b);
}

/* Seals the records at area (len bytes, count of them) at *off of p. */
static void
put_block(uint8_t *p, size_t *off, uint64_t seq, const uint8_t *k,
          size_t len, uint32_t count, uint64_t first_ns, uint64_t last_ns)
{
    uint32_t blen = sl_cap2_block_len((uint32_t)len);

    sl_cap2_block_header(p + *off, k, *off, seq, count, (uint32_t)len,
                         (uint32_t)len, SL_CAP2_CODEC_NONE,
                         sl_crc32c(0, p + *off + SL_CAP2_BLOCK_HDR, len),
                         first_ns, last_ns);
    sl_cap2_block_trailer(p + *off + blen - SL_CAP2_BLOCK_TRL, p + *off);
    *off += blen;
}

enum { END_INDEX, END_FORGED, END_NONE };

/*
 * A capture of BLOCKS blocks of RECS events (record i at time T0 + i; a
 * connect record first, at T0), then, by how: the index and the close
 * block (END_INDEX), the same under another key (END_FORGED: bytes a
 * producer could have made), or the close block alone (END_NONE).
 */
static uint8_t *
build(int how, size_t *len)
{
    size_t rec = sl_cap_rec_size(PAYLOAD);
    size_t cap = 4096 + BLOCKS * (64 + RECS * rec + 200) + 65536, off;
    uint8_t *p = calloc(1, cap), pl[PAYLOAD];
    sl_cap_index *ix = calloc(1, sizeof(*ix));
    uint8_t conn[SL_CAP_CONNECT_FIXED + 1] = {0};
    sl_cap2_header h;
    uint64_t seq = 0, t = T0, hdr_len;

    cr_assert(p != NULL && ix != NULL);
    memset(&h, 0, sizeof(h));
    h.start_ns = T0;
    h.pipe = "p";
    h.pipe_len = 1;
    h.host = "h";
    h.host_len = 1;
    memcpy(h.key, key, sizeof(key));
    cr_assert_eq(sl_cap2_header_encode(p, cap, &h, &off), 0);
    hdr_len = off;
    sl_cap_index_reset(ix);
    memset(pl, 'x', sizeof(pl));
    conn[8] = 1;
    sl_store_le16(conn + 10, 1);
    conn[12] = 'a';
    for (unsigned b = 0; b < BLOCKS; b++) {
        uint8_t *q = p + off + SL_CAP2_BLOCK_HDR, *q0 = q;
        uint32_t count = 0, meta = 0;
        uint64_t first = t;

        if (b == 0) {
            q = sl_cap_rec_put(q, SL_CAP_T_CONNECT, 1, 0, 0, t, conn,
                               sizeof(conn));
            count++;
            meta++;
        }
        for (unsigned r = 0; r < RECS; r++, count++)
            q = sl_cap_rec_put(q, 1, 1, seq++, 0, ++t, pl, sizeof(pl));
        sl_cap_index_add(ix, off, first, t, count, meta);
        put_block(p, &off, b, key, (size_t)(q - q0), count, first, t);
    }
    if (how != END_NONE) {
        size_t plen = sl_cap_index_payload_len(ix, 0);
        uint8_t *q = p + off + SL_CAP2_BLOCK_HDR, *enc = malloc(plen);

        cr_assert_not_null(enc);
        sl_cap_index_encode(ix, enc);
        sl_cap_rec_put(q, SL_CAP_T_INDEX, 0, 0, 0, t + 1, enc, plen);
        put_block(p, &off, BLOCKS, how == END_FORGED ? other_key : key,
                  sl_cap_rec_size(plen), 1, t + 1, t + 1);
        free(enc);
    }
    {
        uint8_t cl[SL_CAP_CLOSE_LEN_WRITTEN] = {0};
        uint8_t *q = p + off + SL_CAP2_BLOCK_HDR;

        sl_cap_rec_put(q, SL_CAP_T_CLOSE, 0, 0, 0, t + 2, cl, sizeof(cl));
        put_block(p, &off, BLOCKS + 1, how == END_FORGED ? other_key : key,
                  sl_cap_rec_size(sizeof(cl)), 1, t + 2, t + 2);
    }
    (void)hdr_len;
    free(ix);
    *len = off;
    return p;
}

/* Seeks path to ns (with flags) and checks what follows: every event from
 * T0 + ns - T0 on, in order. @return the bytes read; *indexed whether
 * the reader found the index. */
static uint64_t
seek_and_check(const char *path, uint64_t ns, unsigned flags, int *indexed,
               int *saw_connect)
{
    sluice_capture *c = NULL;
    sluice_record r;
    uint64_t want = ns, bytes;
    int rc;

    cr_assert_eq(sluice_capture_open(path, &c), 0);
    *indexed = sluice_capture_has_index(c);
    cr_assert_eq(sluice_capture_seek_time_ex(c, ns, flags), 0);
    *saw_connect = 0;
    while ((rc = sluice_capture_next(c, &r)) == 0) {
        if (r.type == SLUICE_REC_CONNECT) {
            *saw_connect = 1;
            continue;
        }
        if (r.type >= 0xF000u)
            continue;
        cr_assert_eq(r.collector_ns, want, "after the seek: %llu, want %llu",
                     (unsigned long long)r.collector_ns,
                     (unsigned long long)want);
        want++;
    }
    cr_assert_eq(rc, 1);
    cr_assert_eq(want, T0 + BLOCKS * RECS + 1, "every event to the end");
    bytes = sluice_capture_bytes_read(c);
    sluice_capture_close(c);
    return bytes;
}

Test(index, seek_lands_on_the_time_and_reads_little)
{
    size_t len;
    uint8_t *p = build(END_INDEX, &len);
    char *path = sl_test_write_temp("/tmp/sluice-idx-XXXXXX", p, len);
    int indexed, conn;
    uint64_t ns = T0 + 60 * RECS + 37, got;

    got = seek_and_check(path, ns, 0, &indexed, &conn);
    cr_assert_eq(indexed, 1);
    cr_assert_eq(conn, 0, "no collector record before the time");
    /* The header, the two blocks at the end, the 4 blocks from the
     * landing one: well under a tenth of the 64 blocks. */
    cr_assert_lt(got, len / 10, "read %llu of %zu bytes",
                 (unsigned long long)got, len);
    /* With SLUICE_SEEK_KEEP_COLLECTOR the connect record of block 0 comes
     * too (block 0 is read, nothing between). */
    got = seek_and_check(path, ns, SLUICE_SEEK_KEEP_COLLECTOR, &indexed,
                         &conn);
    cr_assert_eq(conn, 1);
    cr_assert_lt(got, len / 5);
    /* Before the first and after the last record. */
    seek_and_check(path, T0 + 1, 0, &indexed, &conn);
    {
        sluice_capture *c = NULL;
        sluice_record r;

        cr_assert_eq(sluice_capture_open(path, &c), 0);
        cr_assert_eq(sluice_capture_seek_time(c, T0 + 10 * BLOCKS * RECS), 0);
        while (sluice_capture_next(c, &r) == 0)
            cr_assert_geq(r.collector_ns, T0 + 10 * BLOCKS * RECS);
        cr_assert_lt(sluice_capture_bytes_read(c), len / 10);
        sluice_capture_close(c);
    }
    unlink(path);
    free(path);
    free(p);
}

Test(index, without_a_genuine_index_seek_scans_to_the_same_records)
{
    static const int hows[] = {END_FORGED, END_NONE};
    uint64_t ns = T0 + 60 * RECS + 37;

    for (size_t k = 0; k < sizeof(hows) / sizeof(hows[0]); k++) {
        size_t len;
        uint8_t *p = build(hows[k], &len);
        char *path = sl_test_write_temp("/tmp/sluice-idx-XXXXXX", p, len);
        int indexed, conn;
        uint64_t got = seek_and_check(path, ns, 0, &indexed, &conn);

        cr_assert_eq(indexed, 0, "case %zu: an index that is not genuine", k);
        cr_assert_geq(got, len * 9 / 10, "case %zu: it scanned", k);
        unlink(path);
        free(path);
        free(p);
    }
    /* A genuine file cut by one byte (a crash): no index, scanned. */
    {
        size_t len;
        uint8_t *p = build(END_INDEX, &len);
        char *path = sl_test_write_temp("/tmp/sluice-idx-XXXXXX", p, len - 1);
        int indexed, conn;

        seek_and_check(path, ns, 0, &indexed, &conn);
        cr_assert_eq(indexed, 0);
        unlink(path);
        free(path);
        free(p);
    }
}

Test(index, until_ends_early)
{
    size_t len;
    uint8_t *p = build(END_INDEX, &len);
    char *path = sl_test_write_temp("/tmp/sluice-idx-XXXXXX", p, len);
    sluice_capture *c = NULL;
    sluice_record r;
    uint64_t last = 0, until = T0 + 3 * RECS;

    cr_assert_eq(sluice_capture_open(path, &c), 0);
    cr_assert_eq(sluice_capture_set_until(c, until), 0);
    while (sluice_capture_next(c, &r) == 0)
        last = r.collector_ns;
    /* It stops at the first block whose records are all at or after. */
    cr_assert_geq(last, until - 1);
    cr_assert_lt(last, until + RECS);
    sluice_capture_close(c);
    unlink(path);
    free(path);
    free(p);
}
