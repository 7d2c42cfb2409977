/*
 * Whole blocks of a capture file, as stored: the forwarder's view of the
 * local capture (docs/capture-format.md). The record reader of
 * include/sluice/capture.h returns records; forwarding needs each sealed
 * block's exact bytes and its position, so this reader returns blocks.
 * Used by the forwarder thread and by sluice-pull (to find where a
 * rebuilt capture ends). One thread per reader.
 */
#ifndef SL_BLOCKS_H
#define SL_BLOCKS_H

#include <stddef.h>
#include <stdint.h>

/* The capture id as text: 24 hex digits in v1, 32 in v2 (the header's
 * 16-byte id); docs/forwarding.md section 2. */
#define SL_BLK_ID_MAX 40u

/* What checking a block needs to know of its file: the format version and,
 * for version 2, the file's block key. Taken from the file header. */
typedef struct sl_blk_fmt {
    unsigned version;  /* 1 or 2 */
    uint8_t key[16];   /* version 2: block_key */
} sl_blk_fmt;

typedef struct sl_blk_reader sl_blk_reader;

/** One whole, valid block. Bytes stay valid until the next call. */
typedef struct sl_blk {
    const uint8_t *bytes;
    uint32_t len;
    uint64_t seq;    /* block_seq from its header */
    uint64_t offset; /* file offset of its first byte */
} sl_blk;

/**
 * Opens a capture and reads and checks its file header.
 * @return 0; SL_ENOENT, SL_EACCES, SL_EIO; SL_ETRUNC (shorter than its
 *         header: the collector may not have written it yet); SL_ECORRUPT
 *         (not a capture); SL_EVERSION; SL_ENOMEM.
 */
int sl_blk_open(const char *path, sl_blk_reader **out);

/** The file header's bytes (header_len of them). */
const uint8_t *sl_blk_header(const sl_blk_reader *r, size_t *len);

/** The capture id, NUL-terminated hex. */
const char *sl_blk_capture_id(const sl_blk_reader *r);

/** The chunk number: 0 for a v1 file (one file is one chunk), the
 * header's chunk for v2. */
uint64_t sl_blk_chunk(const sl_blk_reader *r);

/** The host and pipe names of the header, NUL-terminated copies. */
const char *sl_blk_host(const sl_blk_reader *r);
const char *sl_blk_pipe(const sl_blk_reader *r);

/**
 * The next whole valid block at or after the current position.
 * @return 0 with *b filled; 1 when no whole block follows yet (the file
 *         ends, or ends inside a block: call again after it grew);
 *         SL_EIO, SL_ENOMEM. Damage (bytes that are not a valid block
 *         followed by a valid one) is skipped as the record reader does,
 *         and counted in sl_blk_skipped().
 */
int sl_blk_next(sl_blk_reader *r, sl_blk *b);

/** Moves to file offset @p off (a block start from an earlier sl_blk). */
int sl_blk_seek(sl_blk_reader *r, uint64_t off);

/** Bytes skipped as damage so far. */
uint64_t sl_blk_skipped(const sl_blk_reader *r);

/** The file offset where the next block is looked for. */
uint64_t sl_blk_pos(const sl_blk_reader *r);

/** The file's format, for sl_blk_check(). */
const sl_blk_fmt *sl_blk_format(const sl_blk_reader *r);

/** Closes. NULL is a no-op. */
void sl_blk_close(sl_blk_reader *r);

/**
 * Checks a version 1 block's bytes: magic, lengths at both ends, CRC32C,
 * record structure (docs/capture-format.md rule 8.2).
 * @return 1 valid, 0 not.
 */
int sl_blk_valid(const uint8_t *b, size_t len);

/**
 * Checks one block of a file of format @p f, found at file offset @p off:
 * version 1 as sl_blk_valid(); version 2 (section 15.3) its header (magic,
 * lengths, codec, the tag under the file's key and the offset), trailer and
 * body CRC. The body is not decoded: blocks travel as stored.
 * @return 1 valid, 0 not.
 */
int sl_blk_check(const sl_blk_fmt *f, const uint8_t *b, size_t len,
                 uint64_t off);

/**
 * Checks a file header (magic, versions, lengths, CRC) held whole in
 * hdr[0, len) and fills *f.
 * @return 0; SL_ECORRUPT; SL_EVERSION; SL_ETRUNC (len short of the
 *         header's own length).
 */
int sl_blk_header_check(const uint8_t *hdr, size_t len, sl_blk_fmt *f);

/**
 * The capture id of a valid file header: v1, start_ns as 16 hex digits,
 * then header_crc as 8; v2, the 16-byte capture_id as 32 hex digits.
 */
void sl_blk_header_id(const uint8_t *hdr, size_t len,
                      char out[SL_BLK_ID_MAX + 1]);

/** The chunk number of a valid file header: 0 in v1, the field in v2. */
uint64_t sl_blk_header_chunk(const uint8_t *hdr, size_t len);

#endif
