/*
 * The capture file, write side (docs/capture-format.md is the normative
 * text; this header mirrors its tables). Little-endian, lengths in bytes,
 * times in nanoseconds since the Unix epoch.
 *
 * File header (32 fixed bytes, then the two strings):
 *   0   8  magic          89 53 4C 43 41 50 0D 0A  "\x89SLCAP\r\n"
 *   8   2  read_version   1; a reader refuses a larger one
 *   10  2  write_version  1; a larger one means "read-only for this reader"
 *   12  4  header_len     32 + pipe_len + host_len
 *   16  8  start_ns       collector start time
 *   24  2  pipe_len       bytes of the pipe name
 *   26  2  host_len       bytes of the host name
 *   28  4  header_crc     CRC32C of the header with this field zero
 *   32  .. pipe name, host name (UTF-8, no NULs)
 *
 * Block (header 24, records, trailer 8; block_len a multiple of 8):
 *   0   4  magic          53 4C 42 4B "SLBK"
 *   4   4  block_len      whole block, header and trailer included
 *   8   8  block_seq      0, 1, 2, ... in file order
 *   16  4  record_count
 *   20  4  reserved       must be zero
 *   24  .. records
 *   L-8 4  crc            CRC32C of bytes [0, L-8) of the block
 *   L-4 4  block_len      again, so a reader can walk backwards
 *
 * Record (header 40, payload, zero padding to a multiple of 8):
 *   0   4  size           whole record, padding included; multiple of 8
 *   4   4  payload_len
 *   8   2  type           event type, or SL_CAP_T_* for collector records
 *   10  2  flags          reserved, must be zero
 *   12  4  producer       producer id assigned by the collector
 *   16  8  seq            producer sequence number
 *   24  8  producer_ns    producer timestamp (0 when unknown)
 *   32  8  collector_ns   when the collector read it
 *   40  .. payload
 *
 * The collector's ring holds records in exactly this layout, so the writer
 * copies ring bytes to the file without re-encoding them.
 */
#ifndef SL_CAPFILE_H
#define SL_CAPFILE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "endian.h"
#include "sluice/capture.h"

#define SL_CAP_MAGIC "\x89SLCAP\r\n"
#define SL_CAP_MAGIC_LEN 8u
#define SL_CAP_READ_VERSION 1u
#define SL_CAP_WRITE_VERSION 1u
#define SL_CAP_FILE_HDR_FIXED 32u
#define SL_CAP_FILE_HDR_MAX (SL_CAP_FILE_HDR_FIXED + 2u * 65535u)

#define SL_CAP_BLOCK_MAGIC 0x4B424C53u /* "SLBK" read as little-endian */
#define SL_CAP_BLOCK_HDR 24u
#define SL_CAP_BLOCK_TRL 8u
#define SL_CAP_BLOCK_MAX (32u << 20) /* larger block_len = corrupt */

#define SL_CAP_REC_HDR 40u

/* Record types the collector writes itself (0xF000.. is reserved on the
 * wire, so they never collide with producer event types). */
/* The collector's own record types: the public header's numbers (one
 * list, sluice/capture.h), under the names the format code uses. */
#define SL_CAP_T_CONNECT SLUICE_REC_CONNECT
#define SL_CAP_T_DISCONNECT SLUICE_REC_DISCONNECT
#define SL_CAP_T_DROP SLUICE_REC_DROP
#define SL_CAP_T_CLOSE SLUICE_REC_CLOSE /* last record of a finalised file */
#define SL_CAP_T_STATE SLUICE_REC_STATE /* payload: state.h */

/*
 * Connect payload:     0 4 pid | 4 4 uid (0xFFFFFFFF unknown) | 8 1 mode
 *                      (1 binary, 2 text) | 9 1 reserved | 10 2 name_len |
 *                      12 N name
 * Disconnect payload:  0 8 events | 8 8 bytes | 16 8 dropped |
 *                      24 4 reason (sl_wire_reason) | 28 4 malformed (1 if
 *                      the connection broke the protocol, else 0) |
 *                      32 8 discarded (bytes of an unfinished event cut
 *                      by a stop) | 40 8 filtered (events the producer
 *                      filtered out)
 * Drop payload:        0 8 events dropped | 8 8 payload bytes dropped
 * Close payload:       0 8 producers | 8 8 events | 16 8 bytes |
 *                      24 8 dropped | 32 8 malformed (the collector's
 *                      summary; written once, when the file is finalised)
 */
#define SL_CAP_CONNECT_FIXED 12u
/* Disconnect payload written: 48 bytes (discarded at 32, filtered at 40);
 * readers accept 32 (files of collectors before those fields). */
#define SL_CAP_DISCONNECT_LEN 48u
#define SL_CAP_DISCONNECT_MIN 32u
#define SL_CAP_DROP_LEN 16u
#define SL_CAP_CLOSE_LEN 40u

/** Record size for a payload, padding included. */
static inline size_t
sl_cap_rec_size(size_t payload_len)
{
    return (SL_CAP_REC_HDR + payload_len + 7u) & ~(size_t)7u;
}

/** A record's header fields, host order. */
typedef struct sl_cap_rec {
    uint32_t size;
    uint32_t payload_len;
    uint16_t type;
    uint16_t flags;
    uint32_t producer;
    uint64_t seq;
    uint64_t producer_ns;
    uint64_t collector_ns;
} sl_cap_rec;

/**
 * Writes one whole record at dst (docs/capture-format.md §5): the header
 * (flags zero), len payload bytes copied from payload (NULL if len is 0)
 * and zeroed padding up to sl_cap_rec_size(len). The one record encoder:
 * the engine writes every event through it (inline, on the hot path, so
 * no struct and no call), and every other record too.
 * @return dst + sl_cap_rec_size(len), where the next record goes.
 */
static inline uint8_t *
sl_cap_rec_put(uint8_t *dst, uint16_t type, uint32_t producer, uint64_t seq,
               uint64_t producer_ns, uint64_t collector_ns,
               const void *payload, size_t len)
{
    size_t size = sl_cap_rec_size(len);

    /* The padding (under 8 bytes, within the record's last 8) is covered
     * by the block CRC, so it must be zero, not whatever the ring slot
     * held: zero that word first, then the header and payload overwrite
     * what is theirs. */
    sl_store_le64(dst + size - 8, 0);
    sl_store_le32(dst, (uint32_t)size);
    sl_store_le32(dst + 4, (uint32_t)len);
    sl_store_le16(dst + 8, type);
    sl_store_le16(dst + 10, 0); /* flags */
    sl_store_le32(dst + 12, producer);
    sl_store_le64(dst + 16, seq);
    sl_store_le64(dst + 24, producer_ns);
    sl_store_le64(dst + 32, collector_ns);
    if (len > 0)
        memcpy(dst + SL_CAP_REC_HDR, payload, len);
    return dst + size;
}

/** Reads a record header (no validation). */
void sl_cap_rec_decode(const uint8_t *src, sl_cap_rec *r);

typedef struct sl_cap_file_info {
    uint64_t start_ns;
    const char *pipe;
    size_t pipe_len; /* <= 65535 */
    const char *host;
    size_t host_len; /* <= 65535 */
} sl_cap_file_info;

/**
 * Encodes the file header.
 * @param len  Receives its length (32 + pipe_len + host_len).
 * @return 0, SL_EINVAL (cap too small, string too long).
 */
int sl_cap_file_header_encode(uint8_t *buf, size_t cap,
                              const sl_cap_file_info *info, size_t *len);

/** Writes a block header. */
void sl_cap_block_header(uint8_t hdr[SL_CAP_BLOCK_HDR], uint32_t block_len,
                         uint64_t block_seq, uint32_t record_count);

/** Writes a block trailer. */
void sl_cap_block_trailer(uint8_t trl[SL_CAP_BLOCK_TRL], uint32_t crc,
                          uint32_t block_len);

#endif
