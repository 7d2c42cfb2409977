/*
 * The forwarder's block reader (collector/forward/blocks.h): whole blocks
 * of a capture with their exact bytes, numbers and offsets, as the
 * forwarder publishes them and sluice-pull writes them back. Files are
 * built with the real encoders of capfile.h. The reader must return each
 * valid block once, wait at a block the writer has not finished (the file
 * grows under it), skip damage, and name the capture by its header.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blocks.h"
#include "capfile.h"
#include "crc32c.h"
#include "err.h"

TestSuite(blocks, .timeout = 30.0);

static uint8_t file[1 << 16];
static size_t flen;

static void
put_header(uint64_t start_ns)
{
    sl_cap_file_info info = {start_ns, "demo", 4, "box", 3};
    size_t len = 0;

    cr_assert_eq(sl_cap_file_header_encode(file, sizeof(file), &info, &len),
                 0);
    flen = len;
}

/* A block of n records with 5-byte payloads. @return its offset. */
static size_t
put_block(uint64_t seq, uint32_t n)
{
    size_t start = flen, off = start + SL_CAP_BLOCK_HDR;
    uint32_t len;

    for (uint32_t i = 0; i < n; i++) {
        uint8_t *end = sl_cap_rec_put(file + off, 1, 1, seq * 100 + i, 0, 0,
                                      "hello", 5);

        off = (size_t)(end - file);
    }
    len = (uint32_t)(off - start + SL_CAP_BLOCK_TRL);
    sl_cap_block_header(file + start, len, seq, n);
    sl_cap_block_trailer(file + off, sl_crc32c(0, file + start, off - start),
                         len);
    flen = start + len;
    return start;
}

static char path[4096];

static void
write_prefix(size_t n)
{
    FILE *fp = fopen(path, "wb");

    cr_assert_not_null(fp);
    cr_assert_eq(fwrite(file, 1, n, fp), n);
    fclose(fp);
}

static void
setup(void)
{
    const char *dir = getenv("TMPDIR");
    int fd;

    snprintf(path, sizeof(path), "%s/sl-test-blocks-XXXXXX",
             dir != NULL && dir[0] != '\0' ? dir : "/tmp");
    fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
}

static void
teardown(void)
{
    unlink(path);
}

Test(blocks, returns_each_block_with_its_bytes_seq_and_offset, .init = setup,
     .fini = teardown)
{
    size_t off[3];
    sl_blk_reader *r = NULL;
    sl_blk b;
    size_t hlen;

    put_header(1700000000000000000ull);
    off[0] = put_block(0, 3);
    off[1] = put_block(1, 1);
    off[2] = put_block(2, 0);
    write_prefix(flen);
    cr_assert_eq(sl_blk_open(path, &r), 0);
    cr_assert_eq(sl_blk_header(r, &hlen)[0], 0x89);
    cr_assert_eq(hlen, off[0]);
    cr_assert_str_eq(sl_blk_host(r), "box");
    cr_assert_str_eq(sl_blk_pipe(r), "demo");
    for (int i = 0; i < 3; i++) {
        size_t end = i < 2 ? off[i + 1] : flen;

        cr_assert_eq(sl_blk_next(r, &b), 0);
        cr_assert_eq(b.seq, (uint64_t)i);
        cr_assert_eq(b.offset, off[i]);
        cr_assert_eq(b.len, end - off[i]);
        cr_assert_eq(memcmp(b.bytes, file + off[i], b.len), 0);
        cr_assert(sl_blk_valid(b.bytes, b.len));
    }
    cr_assert_eq(sl_blk_next(r, &b), 1);
    cr_assert_eq(sl_blk_pos(r), flen);
    cr_assert_eq(sl_blk_skipped(r), 0);
    /* Seeking back to a block returns it again (a resend). */
    cr_assert_eq(sl_blk_seek(r, off[1]), 0);
    cr_assert_eq(sl_blk_next(r, &b), 0);
    cr_assert_eq(b.seq, 1);
    sl_blk_close(r);
}

Test(blocks, waits_at_a_block_being_written, .init = setup, .fini = teardown)
{
    size_t off1;
    sl_blk_reader *r = NULL;
    sl_blk b;

    put_header(42);
    put_block(0, 2);
    off1 = put_block(1, 2);
    /* Every cut inside block 1 gives block 0, then "not yet". */
    for (size_t cut = off1; cut < flen; cut += 7) {
        write_prefix(cut);
        cr_assert_eq(sl_blk_open(path, &r), 0);
        cr_assert_eq(sl_blk_next(r, &b), 0);
        cr_assert_eq(b.seq, 0);
        cr_assert_eq(sl_blk_next(r, &b), 1, "cut at %zu", cut);
        cr_assert_eq(sl_blk_pos(r), off1);
        sl_blk_close(r);
    }
    /* The file grows under an open reader: the block comes. */
    write_prefix(off1 + 30);
    cr_assert_eq(sl_blk_open(path, &r), 0);
    cr_assert_eq(sl_blk_next(r, &b), 0);
    cr_assert_eq(sl_blk_next(r, &b), 1);
    write_prefix(flen);
    cr_assert_eq(sl_blk_next(r, &b), 0);
    cr_assert_eq(b.seq, 1);
    cr_assert_eq(b.offset, off1);
    sl_blk_close(r);
}

Test(blocks, skips_a_damaged_block, .init = setup, .fini = teardown)
{
    size_t off1, off2;
    sl_blk_reader *r = NULL;
    sl_blk b;

    put_header(7);
    put_block(0, 1);
    off1 = put_block(1, 2);
    off2 = put_block(2, 1);
    file[off1 + SL_CAP_BLOCK_HDR + 45] ^= 0x40; /* a payload byte */
    write_prefix(flen);
    cr_assert_eq(sl_blk_open(path, &r), 0);
    cr_assert_eq(sl_blk_next(r, &b), 0);
    cr_assert_eq(b.seq, 0);
    cr_assert_eq(sl_blk_next(r, &b), 0);
    cr_assert_eq(b.seq, 2);
    cr_assert_eq(b.offset, off2);
    cr_assert_eq(sl_blk_skipped(r), off2 - off1);
    cr_assert_not(sl_blk_valid(file + off1, off2 - off1));
    sl_blk_close(r);
}

Test(blocks, names_the_capture_by_its_header, .init = setup, .fini = teardown)
{
    sl_blk_reader *r = NULL;
    char want[SL_BLK_ID_MAX + 1];

    put_header(0x0123456789abcdefull);
    write_prefix(flen);
    cr_assert_eq(sl_blk_open(path, &r), 0);
    snprintf(want, sizeof(want), "0123456789abcdef%08x",
             (unsigned)sl_load_le32(file + 28));
    cr_assert_str_eq(sl_blk_capture_id(r), want);
    cr_assert_eq(sl_blk_chunk(r), 0);
    sl_blk_close(r);
    /* A header cut short is "not yet", not "not a capture". */
    write_prefix(20);
    cr_assert_eq(sl_blk_open(path, &r), SL_ETRUNC);
    file[0] = 'X';
    write_prefix(flen);
    cr_assert_eq(sl_blk_open(path, &r), SL_ECORRUPT);
}
