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

/* The capture id as text: 24 hex digits in v1 (section "capture id" of
 * docs/forwarding.md), room for a v2 16-byte id (32 digits). */
#define SL_BLK_ID_MAX 40u

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

/** The chunk number: 0 for a v1 file (one file is one chunk). */
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

/** Closes. NULL is a no-op. */
void sl_blk_close(sl_blk_reader *r);

/**
 * Checks one block's bytes: magic, lengths at both ends, CRC32C, record
 * structure (docs/capture-format.md rule 8.2).
 * @return 1 valid, 0 not.
 */
int sl_blk_valid(const uint8_t *b, size_t len);

/**
 * The capture id of a file header (bytes of a valid header).
 * v1: start_ns as 16 hex digits, then header_crc as 8.
 */
void sl_blk_header_id(const uint8_t *hdr, size_t len,
                      char out[SL_BLK_ID_MAX + 1]);

#endif
