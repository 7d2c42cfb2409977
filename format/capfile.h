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
#define SL_CAP_T_LIVE SLUICE_REC_LIVE /* chunk preamble: connect payload,
                                        seq = the next sequence number */
#define SL_CAP_T_TRIGGER SLUICE_REC_TRIGGER /* flight-recorder trigger */
#define SL_CAP_T_INDEX SLUICE_REC_INDEX /* time index, before the close */

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
/* Close payload: readers accept 40 bytes (files before the field at 40,
 * expired_unforwarded); the writer writes 48. */
#define SL_CAP_CLOSE_LEN 40u
#define SL_CAP_CLOSE_LEN_WRITTEN 48u
/* Trigger payload (docs/capture-format.md 7.6): 0 4 cause | 4 4 event type
 * | 8 4 producer | 12 4 snapshot number | 16 8 seq | 24 8 after_ns |
 * 32 4 folded | 36 4 reserved (zero). */
#define SL_CAP_TRIGGER_LEN 40u

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

/*
 * Format version 2 (docs/capture-format.md section 15). read_version and
 * write_version are both 2: a v1 reader refuses the file (it could not
 * check the keyed blocks), this reader reads both.
 *
 * File header (80 fixed bytes, then the two strings):
 *   0..31 as version 1 (header_len = 80 + pipe_len + host_len; header_crc
 *         over the whole header_len bytes with its field zero)
 *   32  16 block_key      random per file (os: sl_os_random); secret
 *   48  16 capture_id     random, the same in every chunk of one capture
 *   64  8  chunk          0 = not part of a set; 1, 2, ... in a set
 *   72  4  kind           0 capture, 1 flight-recorder snapshot
 *   76  4  flags          reserved, zero
 *   80  .. pipe name, host name
 *
 * Block (header 64, stored bytes + zero padding to 8, trailer 8):
 *   0   4  magic          "SLB2"
 *   4   4  block_len      64 + round8(stored_len) + 8
 *   8   8  block_seq
 *   16  4  record_count
 *   20  4  stored_len     bytes of the (possibly compressed) record area
 *   24  4  raw_len        bytes of the record area once decoded
 *   28  1  codec          0 none, 1 lz4, 2 zstd
 *   29  3  reserved, zero
 *   32  4  body_crc       CRC32C of bytes [64, block_len - 8)
 *   36  4  reserved, zero
 *   40  8  first_ns       collector_ns of the first record
 *   48  8  last_ns        collector_ns of the last record
 *   56  8  tag            SipHash-2-4 under block_key of
 *                         le64(block's file offset) || bytes [0, 56)
 *   L-8 4  tag_lo         low 32 bits of tag
 *   L-4 4  block_len      again
 */
#define SL_CAP2_VERSION 2u
#define SL_CAP2_FILE_HDR_FIXED 80u
#define SL_CAP2_KEY_LEN 16u
#define SL_CAP2_ID_LEN 16u
#define SL_CAP2_BLOCK_MAGIC 0x32424C53u /* "SLB2" read as little-endian */
#define SL_CAP2_BLOCK_HDR 64u
#define SL_CAP2_BLOCK_TRL 8u
#define SL_CAP2_BLOCK_MAX SL_CAP_BLOCK_MAX
#define SL_CAP2_RAW_MAX \
    (SL_CAP2_BLOCK_MAX - SL_CAP2_BLOCK_HDR - SL_CAP2_BLOCK_TRL) /* 33554360 */
#define SL_CAP2_CODEC_NONE 0u
#define SL_CAP2_CODEC_LZ4 1u
#define SL_CAP2_CODEC_ZSTD 2u
#define SL_CAP2_KIND_CAPTURE 0u
#define SL_CAP2_KIND_SNAPSHOT 1u

/** Length of a v2 block whose record area is stored in stored bytes. */
static inline uint32_t
sl_cap2_block_len(uint32_t stored)
{
    return SL_CAP2_BLOCK_HDR + ((stored + 7u) & ~7u) + SL_CAP2_BLOCK_TRL;
}

/** SipHash-2-4 of len bytes under a 16-byte key. */
uint64_t sl_siphash24(const uint8_t key[16], const void *msg, size_t len);

/** The tag of the v2 block header h (its first 56 bytes) at file offset
 * off, under key. */
uint64_t sl_cap2_block_tag(const uint8_t key[SL_CAP2_KEY_LEN], uint64_t off,
                           const uint8_t *h);

/**
 * Bytes the readers (capread.c) have put through a block checksum (tag
 * or CRC) in this process: a test's measure that recovery is linear
 * (tests/unit/test_capfile.c). Relaxed counting; no data depends on it.
 */
uint64_t sl_cap_checked_bytes(void);
void sl_cap_count_checked(uint64_t n);

/*
 * Block validation: the one implementation of the rules of
 * docs/capture-format.md rule 8.2 (version 1) and section 15.3 (version
 * 2), in capread.c. The record reader and the forwarder's block reader
 * (collector/forward/blocks.c, which ships blocks as stored) both call
 * these, so a block one accepts the other accepts. Each reads only
 * b[0, len) (h[0, 64) for a v2 header) and counts the checksummed bytes
 * (sl_cap_count_checked()).
 */

/** 1 if a version 1 block of length len could start here: a multiple of
 * 8, at least header + trailer, at most SL_CAP_BLOCK_MAX. */
int sl_cap_block_len_plausible(uint32_t len);

/** 1 if the record area a[0, end) holds exactly count well-formed records
 * (each size a multiple of 8, its payload inside it) filling it. */
int sl_cap_records_valid(const uint8_t *a, uint32_t end, uint32_t count);

/** 1 if b[0, len) is a whole valid version 1 block: plausible length,
 * magic, the length at both ends equal to len, CRC32C, records. */
int sl_cap_block_valid(const uint8_t *b, uint32_t len);

/** The length of the version 2 block whose 64-byte header h is at file
 * offset off of a file with block key key (its fields, then its keyed
 * tag), or 0 when h is not a genuine block header. */
uint32_t sl_cap2_block_header_len(const uint8_t key[SL_CAP2_KEY_LEN],
                                  const uint8_t *h, uint64_t off);

/** 1 if the whole version 2 block b[0, len), whose header verified with
 * sl_cap2_block_header_len() == len, has its trailer and body CRC right.
 * The stored record area is not decoded (a caller that reads records
 * decodes it and checks them with sl_cap_records_valid()). */
int sl_cap2_block_stored_valid(const uint8_t *b, uint32_t len);

/** A v2 file header's fields (docs/capture-format.md section 15.1). */
typedef struct sl_cap2_header {
    uint64_t start_ns;
    const char *pipe;
    size_t pipe_len; /* <= 65535 */
    const char *host;
    size_t host_len; /* <= 65535 */
    uint8_t key[SL_CAP2_KEY_LEN];
    uint8_t capture_id[SL_CAP2_ID_LEN];
    uint64_t chunk; /* 0 = not part of a set */
    uint32_t kind;  /* SL_CAP2_KIND_* */
    uint32_t flags; /* zero */
} sl_cap2_header;

/**
 * Encodes a v2 file header (also to re-encode it for a new chunk: change
 * chunk/kind and call again; the CRC follows).
 * @param len  Receives its length (80 + pipe_len + host_len).
 * @return 0, SL_EINVAL (cap too small, string too long or with a NUL).
 */
int sl_cap2_header_encode(uint8_t *buf, size_t cap, const sl_cap2_header *h,
                          size_t *len);

/** Patches the chunk number of an encoded v2 header of len bytes in place
 * (and its CRC). @return 0, SL_EINVAL when buf is not a v2 header. */
int sl_cap2_header_set_chunk(uint8_t *buf, size_t len, uint64_t chunk);

/**
 * Writes a v2 block header (tag included) for a record area already in
 * place: body_crc is the CRC32C of the stored bytes and their padding.
 */
void sl_cap2_block_header(uint8_t hdr[SL_CAP2_BLOCK_HDR],
                          const uint8_t key[SL_CAP2_KEY_LEN], uint64_t off,
                          uint64_t block_seq, uint32_t record_count,
                          uint32_t stored_len, uint32_t raw_len, uint8_t codec,
                          uint32_t body_crc, uint64_t first_ns,
                          uint64_t last_ns);

/*
 * The time index (docs/capture-format.md section 15.5), the payload of an
 * INDEX record (0xF006) that is the only record of the block right before
 * a file's close block:
 *   0   4  entries        n, 1 .. SL_CAP_INDEX_MAX
 *   4   4  entry_len      40 (a reader accepts more and skips the excess)
 *   8   4  stride         blocks per entry, a power of two (the last entry
 *                         may hold fewer)
 *   12  4  reserved       zero
 *   16  8  blocks         blocks the index covers (every block before it)
 *   24  n x entry_len     entries:
 *       0  8  offset      file offset of the entry's first block
 *       8  8  min_ns      least collector_ns of its records
 *       16 8  max_ns      greatest collector_ns of its records
 *       24 8  records     records in its blocks
 *       32 4  blocks      blocks it covers (1 .. stride)
 *       36 4  meta        records of collector types (0xF000..) in them
 */
#define SL_CAP_INDEX_HDR 24u
#define SL_CAP_INDEX_ENTRY 40u
#define SL_CAP_INDEX_MAX 1024u /* entries; then two merge into one */

typedef struct sl_cap_index_entry {
    uint64_t off;
    uint64_t min_ns, max_ns;
    uint64_t records;
    uint32_t blocks;
    uint32_t meta;
} sl_cap_index_entry;

/** An index being built (writer) or read back (reader). */
typedef struct sl_cap_index {
    sl_cap_index_entry e[SL_CAP_INDEX_MAX];
    uint32_t n;
    uint32_t stride; /* blocks per entry, a power of two */
    uint64_t blocks;
} sl_cap_index;

/** Empties ix (a new file). */
void sl_cap_index_reset(sl_cap_index *ix);

/** Adds the block at file offset off (records of collector_ns in
 * [min_ns, max_ns], meta of them of collector types). At
 * SL_CAP_INDEX_MAX entries, neighbours merge in pairs and the stride
 * doubles, so the index never grows past that. */
void sl_cap_index_add(sl_cap_index *ix, uint64_t off, uint64_t min_ns,
                      uint64_t max_ns, uint32_t records, uint32_t meta);

/** Payload bytes of ix encoded (also an upper bound after one more
 * add: pass extra = 1). */
size_t sl_cap_index_payload_len(const sl_cap_index *ix, uint32_t extra);

/** Encodes ix into buf (sl_cap_index_payload_len(ix, 0) bytes). */
void sl_cap_index_encode(const sl_cap_index *ix, uint8_t *buf);

/**
 * Decodes and checks an index payload: n in 1..SL_CAP_INDEX_MAX, entry_len
 * at least 40, the payload long enough, stride a power of two, offsets
 * strictly increasing from at least first_off to below end_off (the index
 * block's own offset), min_ns <= max_ns, 1 <= blocks <= stride.
 * @return 0, or SL_ECORRUPT (then the index is not used).
 */
int sl_cap_index_decode(const uint8_t *p, size_t len, uint64_t first_off,
                        uint64_t end_off, sl_cap_index *out);

/** Writes a v2 block trailer for the header hdr. */
void sl_cap2_block_trailer(uint8_t trl[SL_CAP2_BLOCK_TRL],
                           const uint8_t hdr[SL_CAP2_BLOCK_HDR]);

#endif
