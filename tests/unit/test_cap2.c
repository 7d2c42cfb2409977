/*
 * Format version 2's recovery cost (docs/capture-format.md section 15.4):
 * a capture whose event payloads are full of block-magic bytes, each
 * 64-byte unit a fake "SLB2" header whose fields are all in range and whose
 * body would fit in the file, with the first block's header destroyed so
 * the reader must resynchronise through every one of those payloads.
 *
 * The reader's work is measured by sl_cap_checked_bytes() (bytes put
 * through a tag or a CRC), not by time: it must stay within the linear
 * bound of section 15.4 (64 hashed bytes per 8-byte step, plus each genuine
 * block's body once: at most 9 x the file size; the test allows 10 x).
 * A reader that checksummed a candidate's body before checking its header
 * (as version 1 does) would CRC 512 KiB at each fake header it meets: 960
 * in block 0 (0.5 GB for a 2 MB file), 30,720 when every block is damaged
 * (16 GB), failing the bound (and, with real CRCs, the timeout).
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capfile.h"
#include "crc32c.h"
#include "sluice/capture.h"
#include "unit/temp_file.h"

TestSuite(cap2, .timeout = 120.0);

#define PAYLOAD 4096u
#define RECS_PER_BLOCK 15u
#define BLOCKS 32u
#define FAKE_STORED (512u * 1024u) /* a fake's body: fits in the file */

static const uint8_t key[SL_CAP2_KEY_LEN] = {
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
    0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};

/* "SLB2" repeated; every 64-byte unit a fake header with in-range fields
 * (block_len = 64 + stored + 8, codec 0, raw = stored) but no valid tag. */
static void
fill_payload(uint8_t *pl)
{
    for (unsigned i = 0; i < PAYLOAD; i += 4)
        memcpy(pl + i, "SLB2", 4);
    for (unsigned u = 0; u + SL_CAP2_BLOCK_HDR <= PAYLOAD;
         u += SL_CAP2_BLOCK_HDR) {
        uint8_t *h = pl + u;

        sl_store_le32(h + 4, sl_cap2_block_len(FAKE_STORED));
        sl_store_le32(h + 20, FAKE_STORED);
        sl_store_le32(h + 24, FAKE_STORED);
        h[28] = SL_CAP2_CODEC_NONE;
    }
}

/* A v2 capture of BLOCKS blocks of event records carrying such payloads.
 * @return its bytes (*len); *first_block and *first_len locate block 0. */
static uint8_t *
build(size_t *len, size_t *first_block, uint32_t *first_len)
{
    size_t rec = sl_cap_rec_size(PAYLOAD);
    size_t stored = RECS_PER_BLOCK * rec;
    size_t blen = sl_cap2_block_len((uint32_t)stored);
    size_t cap = 1024 + BLOCKS * blen, off;
    uint8_t *p = calloc(1, cap), pl[PAYLOAD];
    sl_cap2_header h;
    uint64_t seq = 0;

    cr_assert_not_null(p);
    memset(&h, 0, sizeof(h));
    h.start_ns = 1700000000000000000ull;
    h.pipe = "p";
    h.pipe_len = 1;
    h.host = "h";
    h.host_len = 1;
    memcpy(h.key, key, sizeof(key));
    cr_assert_eq(sl_cap2_header_encode(p, cap, &h, &off), 0);
    /* Blocks follow the header directly (section 9: steps of 8 from it). */
    fill_payload(pl);
    *first_block = off;
    *first_len = (uint32_t)blen;
    for (unsigned b = 0; b < BLOCKS; b++) {
        uint8_t *area = p + off + SL_CAP2_BLOCK_HDR;
        uint64_t first_ns = h.start_ns + seq;

        for (unsigned r = 0; r < RECS_PER_BLOCK; r++, seq++)
            sl_cap_rec_put(area + r * rec, 1, 1, seq, h.start_ns + seq,
                           h.start_ns + seq, pl, PAYLOAD);
        sl_cap2_block_header(p + off, key, off, b, RECS_PER_BLOCK,
                             (uint32_t)stored, (uint32_t)stored,
                             SL_CAP2_CODEC_NONE,
                             sl_crc32c(0, area, blen - SL_CAP2_BLOCK_HDR -
                                                    SL_CAP2_BLOCK_TRL),
                             first_ns, h.start_ns + seq - 1);
        sl_cap2_block_trailer(p + off + blen - SL_CAP2_BLOCK_TRL, p + off);
        off += blen;
    }
    *len = off;
    return p;
}

static char *
write_temp(const void *data, size_t n)
{
    return sl_test_write_temp("/tmp/sluice-cap2-XXXXXX", data, n);
}

/* Reads the whole file. @return checksummed bytes; *st its figures. */
static uint64_t
read_all(const char *path, sluice_capture_stats *st)
{
    sluice_capture *c = NULL;
    sluice_record r;
    uint64_t before;

    before = sl_cap_checked_bytes();
    cr_assert_eq(sluice_capture_open(path, &c), 0);
    while (sluice_capture_next(c, &r) == 0)
        ;
    sluice_capture_get_stats(c, st);
    sluice_capture_close(c);
    return sl_cap_checked_bytes() - before;
}

Test(cap2, undamaged_capture_of_magic_payloads_reads_whole)
{
    size_t len, first;
    uint32_t first_len;
    uint8_t *p = build(&len, &first, &first_len);
    char *path = write_temp(p, len);
    sluice_capture_stats st;
    uint64_t checked = read_all(path, &st);

    cr_assert_eq(st.blocks, BLOCKS);
    cr_assert_eq(st.records, BLOCKS * RECS_PER_BLOCK);
    cr_assert_eq(st.corrupt_blocks, 0);
    /* No scan: one tag and one body CRC per block. */
    cr_assert_leq(checked, len, "checked %llu bytes of a %zu-byte file",
                  (unsigned long long)checked, len);
    unlink(path);
    free(path);
    free(p);
}

Test(cap2, resynchronising_through_magic_payloads_is_linear)
{
    size_t len, first;
    uint32_t first_len;
    uint8_t *p = build(&len, &first, &first_len);
    char *path;
    sluice_capture_stats st;
    uint64_t checked;

    memset(p + first, 0, SL_CAP2_BLOCK_HDR); /* block 0's header: gone */
    path = write_temp(p, len);
    checked = read_all(path, &st);

    /* Block 0 is one corrupt region; every later block is found at its
     * real offset and none of block 0's 960 fakes is taken for a block. */
    cr_assert_eq(st.blocks, BLOCKS - 1);
    cr_assert_eq(st.records, (BLOCKS - 1) * RECS_PER_BLOCK);
    cr_assert_eq(st.corrupt_blocks, 1);
    cr_assert_eq(st.corrupt_bytes, first_len);
    cr_assert_eq(st.torn_tail_bytes, 0);
    cr_assert_leq(checked, 10 * (uint64_t)len,
                  "checked %llu bytes of a %zu-byte file: not linear",
                  (unsigned long long)checked, len);
    unlink(path);
    free(path);
    free(p);
}

/* Damage in every block: the scan crosses every payload, still linear. */
Test(cap2, damage_in_every_block_stays_linear)
{
    size_t len, first;
    uint32_t first_len;
    uint8_t *p = build(&len, &first, &first_len);
    char *path;
    sluice_capture_stats st;
    uint64_t checked;

    for (unsigned b = 0; b < BLOCKS; b++)
        memset(p + first + (size_t)b * first_len, 0, SL_CAP2_BLOCK_HDR);
    path = write_temp(p, len);
    checked = read_all(path, &st);

    cr_assert_eq(st.blocks, 0);
    cr_assert_eq(st.records, 0);
    cr_assert_leq(checked, 10 * (uint64_t)len,
                  "checked %llu bytes of a %zu-byte file: not linear",
                  (unsigned long long)checked, len);
    unlink(path);
    free(path);
    free(p);
}
