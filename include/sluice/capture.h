/*
 * Reading sluice capture files (format: docs/capture-format.md).
 *
 * The reader verifies every block's CRC32C, skips corrupt blocks (counting
 * them and resynchronising on the next block magic), and reports a torn
 * tail — bytes after the last whole block, as a crash or power loss leaves
 * them — without failing. It never crashes on any input.
 */
#ifndef SLUICE_CAPTURE_H
#define SLUICE_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque reader handle. One thread at a time. */
typedef struct sluice_capture sluice_capture;

/* Record types the collector writes itself. Producer events use
 * 0..0xEFFF; text-mode events have type 0. */
#define SLUICE_REC_CONNECT 0xF001u
#define SLUICE_REC_DISCONNECT 0xF002u
#define SLUICE_REC_DROP 0xF003u
#define SLUICE_REC_CLOSE 0xF004u /* summary; last record of a finalised file */
/* A producer live when a rotated chunk began (its preamble): the connect
 * payload, with the producer's next sequence number in the record's seq.
 * Decode with sluice_record_connect(). */
#define SLUICE_REC_LIVE 0xF005u
/* Where a flight-recorder trigger fell (--flight-recorder): its cause and,
 * for a type trigger, the triggering event. Decode with
 * sluice_record_trigger(). */
#define SLUICE_REC_TRIGGER 0xF007u
/* The time index (docs/capture-format.md 15.5): the only record of the
 * block before a finalised file's close block; sluice_capture_seek_time()
 * uses it. sluice_capture_next() never returns it (nor counts it in
 * the stats' records); the Python reader skips it too. */
#define SLUICE_REC_INDEX 0xF006u
/* The control plane's state (configuration + enabled types) from this
 * record's collector_ns on: one at the start, one per change. */
#define SLUICE_REC_STATE 0xF020u

typedef struct sluice_capture_info {
    uint16_t read_version;
    uint16_t write_version;
    uint64_t start_ns; /* collector start, ns since the Unix epoch */
    const char *pipe;  /* NUL-terminated copies, valid until close */
    const char *host;
    /* Format 2 (0 in version 1 files): the chunk number in a rotated set
     * (0: not part of a set), the kind (0 capture, 1 snapshot) and the
     * capture id every chunk of one capture shares. */
    uint64_t chunk;
    uint32_t kind;
    uint8_t capture_id[16];
} sluice_capture_info;

/** One record. payload stays valid until the next call on the reader. */
typedef struct sluice_record {
    uint16_t type;
    uint16_t flags;
    uint32_t producer;
    uint64_t seq;
    uint64_t producer_ns;
    uint64_t collector_ns;
    const uint8_t *payload;
    uint32_t payload_len;
    uint64_t block_seq;    /* the block it came from */
    uint64_t file_offset;  /* of the record's first byte */
} sluice_record;

/** Decoded payload of a SLUICE_REC_CONNECT record. */
typedef struct sluice_connect_info {
    uint32_t pid;
    uint32_t uid; /* 0xFFFFFFFF when unknown */
    uint8_t mode; /* 1 binary, 2 text */
    const char *name; /* points into the record payload, not NUL-ended */
    uint16_t name_len;
} sluice_connect_info;

/** Decoded payload of a SLUICE_REC_DISCONNECT record. */
typedef struct sluice_disconnect_info {
    uint64_t events;
    uint64_t bytes;
    uint64_t dropped;
    uint32_t reason;    /* see sluice_reason_str() */
    uint32_t malformed; /* 1 if the producer broke the protocol */
    uint64_t discarded; /* bytes of an unfinished event the collector threw
                           away when it stopped (reason STOPPED); 0 in
                           records written before the field existed */
    uint64_t filtered;  /* events the producer filtered out (a disabled
                           type); 0 when the record does not carry it */
} sluice_disconnect_info;

/** Decoded payload of a SLUICE_REC_DROP record. */
typedef struct sluice_drop_info {
    uint64_t events;
    uint64_t bytes;
} sluice_drop_info;

/** Decoded payload of a SLUICE_REC_CLOSE record. */
typedef struct sluice_close_info {
    uint64_t producers;
    uint64_t events;
    uint64_t bytes;
    uint64_t dropped;
    uint64_t malformed;
    uint64_t expired_unforwarded; /* blocks retention deleted before they
                                     were forwarded (--forward with
                                     rotation); 0 in records without it */
} sluice_close_info;

/* sluice_trigger_info.cause */
#define SLUICE_TRIGGER_SIGNAL 1u /* SIGUSR1 (POSIX) */
#define SLUICE_TRIGGER_TYPE 2u   /* an event of the --trigger-type type */
#define SLUICE_TRIGGER_CTL 3u    /* sluice-ctl snapshot */

/** Decoded payload of a SLUICE_REC_TRIGGER record. */
typedef struct sluice_trigger_info {
    uint32_t cause;      /* SLUICE_TRIGGER_* (another value: unknown) */
    uint32_t event_type; /* TYPE: the triggering event's type, else 0 */
    uint32_t producer;   /* TYPE: its producer id, else 0 */
    uint32_t snapshot;   /* the snapshot it belongs to: NNN of
                            cap.snapshot-NNN.sluice */
    uint64_t seq;        /* TYPE: its sequence number, else 0 */
    uint64_t after_ns;   /* --trigger-after, ns */
    uint32_t folded;     /* 1: came while an earlier trigger's snapshot
                            was pending (counted into it, no new one) */
} sluice_trigger_info;

/** Running totals of what the reader has seen so far. */
typedef struct sluice_capture_stats {
    uint64_t blocks;          /* valid blocks read */
    uint64_t records;         /* records returned */
    uint64_t corrupt_blocks;  /* blocks skipped for a bad CRC or structure */
    uint64_t corrupt_bytes;   /* bytes skipped while resynchronising */
    uint64_t torn_tail_bytes; /* bytes after the last whole block at EOF */
    uint64_t valid_bytes;     /* header + valid blocks */
} sluice_capture_stats;

/**
 * Opens a capture and reads its header.
 * @param path  File name (UTF-8), NUL-terminated.
 * @param out   Receives the reader; untouched on failure.
 * @return 0, SLUICE_ENOENT, SLUICE_EACCES, SLUICE_EIO, SLUICE_ECORRUPT (not
 *         a sluice capture, or the header checksum fails), SLUICE_EVERSION
 *         (read version newer than this reader), SLUICE_ETRUNC (file shorter
 *         than its header), SLUICE_ENOMEM.
 */
SLUICE_API int sluice_capture_open(const char *path, sluice_capture **out);

/** sluice_capture_open_wait(): no time limit. */
#define SLUICE_WAIT_FOREVER 0xFFFFFFFFu

/**
 * Like sluice_capture_open(), but waits for the file to appear and for
 * its header to be complete, for a reader started before the collector
 * (or while it creates the file): retries every 50 ms while the open
 * fails with SLUICE_ENOENT or SLUICE_ETRUNC.
 * @param path        File name (UTF-8), NUL-terminated.
 * @param timeout_ms  How long to keep trying; 0 tries once,
 *                    SLUICE_WAIT_FOREVER has no limit.
 * @param out         Receives the reader; untouched on failure.
 * @return As sluice_capture_open(); after the timeout, the last error
 *         (SLUICE_ENOENT: the file never appeared; SLUICE_ETRUNC: its
 *         header was not finished). Blocks (sleeping) up to timeout_ms.
 */
SLUICE_API int sluice_capture_open_wait(const char *path, uint32_t timeout_ms,
                                        sluice_capture **out);

/** The header's fields. Valid until sluice_capture_close(). */
SLUICE_API const sluice_capture_info *
sluice_capture_get_info(const sluice_capture *c);

/**
 * Returns the next record of the next valid block.
 * @return 0 with *rec filled; 1 at the end of the readable data (check the
 *         stats for a torn tail); SLUICE_EIO on a read error. Corrupt blocks
 *         are skipped and counted, not returned as errors.
 * In follow mode (sluice_capture_set_follow) 1 means "nothing more yet":
 * the caller may call again later and get records appended since; a
 * partial block at the end is then not counted as torn until it stays
 * incomplete after the file stops growing.
 */
SLUICE_API int sluice_capture_next(sluice_capture *c, sluice_record *rec);

/** Follow mode on (1) or off (0); see sluice_capture_next(). */
SLUICE_API void sluice_capture_set_follow(sluice_capture *c, int on);

/* sluice_capture_seek_time_ex() flags. */
/* Also return the collector's own records (types 0xF000..: connect,
 * live, disconnect, drop, state, trigger) that lie before the time
 * sought, as a reader that names producers needs them: from the index
 * entries that hold any. */
#define SLUICE_SEEK_KEEP_COLLECTOR 1u

/**
 * Moves the reader so that the records it returns next are those with
 * collector time >= ns (docs/capture-format.md 15.5). A finalised version
 * 2 file has a time index at its end, found without scanning (the last
 * block, a genuine close block, and the genuine index block before it,
 * both checked under the file's key): the reader binary-searches it for
 * the first index entry that holds a record at or after ns and reads from
 * there, skipping the records before ns in that entry's blocks. Without a
 * usable index (version 1, no close record: crashed, still growing, or
 * following) it reads on from where it is, skipping records until the
 * first at or after ns: correct, only slower. Records after the landing
 * point come as they are (collector time is in file order, up to the
 * jitter between ingest threads), so a caller that must exclude every
 * earlier record still filters. The stats count only what was read.
 * @return 0, SLUICE_EIO, SLUICE_ENOMEM, SLUICE_EINVAL.
 */
SLUICE_API int sluice_capture_seek_time(sluice_capture *c, uint64_t ns);

/** sluice_capture_seek_time() with flags: SLUICE_SEEK_KEEP_COLLECTOR. */
SLUICE_API int sluice_capture_seek_time_ex(sluice_capture *c, uint64_t ns,
                                           unsigned flags);

/**
 * An early end for a reader that wants only records before ns: once the
 * index says every record from the read position on has collector time
 * >= ns, sluice_capture_next() returns 1 (the end; nothing is then counted
 * as torn). Without an index it changes nothing. Records at or after ns
 * may still be returned before that point; the caller filters.
 * @return 0, SLUICE_EIO, SLUICE_ENOMEM, SLUICE_EINVAL.
 */
SLUICE_API int sluice_capture_set_until(sluice_capture *c, uint64_t ns);

/** 1 if the file has a usable time index (read from its end on the first
 * call), 0 if not, or a negative SLUICE_E* code. */
SLUICE_API int sluice_capture_has_index(sluice_capture *c);

/** Bytes this reader has read from the file so far (the measure of a
 * seek's saving; tests count bytes, not seconds). */
SLUICE_API uint64_t sluice_capture_bytes_read(const sluice_capture *c);

/** Copies the running totals into *out. */
SLUICE_API void sluice_capture_get_stats(const sluice_capture *c,
                                         sluice_capture_stats *out);

/** Decoders for the collector's own records. @return 0 or SLUICE_ECORRUPT. */
SLUICE_API int sluice_record_connect(const sluice_record *rec,
                                     sluice_connect_info *out);
SLUICE_API int sluice_record_disconnect(const sluice_record *rec,
                                        sluice_disconnect_info *out);
SLUICE_API int sluice_record_drop(const sluice_record *rec,
                                  sluice_drop_info *out);
SLUICE_API int sluice_record_close(const sluice_record *rec,
                                   sluice_close_info *out);
SLUICE_API int sluice_record_trigger(const sluice_record *rec,
                                     sluice_trigger_info *out);
/** "signal", "type", "ctl", or "unknown". */
SLUICE_API const char *sluice_trigger_cause_name(uint32_t cause);

/** Text for a disconnect reason code ("end of stream", ...). */
SLUICE_API const char *sluice_reason_str(uint32_t reason);
/** Short name for a disconnect reason code ("EOF", "FRAME_TOO_BIG"). */
SLUICE_API const char *sluice_reason_name(uint32_t reason);

/**
 * Whether a collector is still writing the capture c reads: the collector
 * holds the file's lock while it writes (flock on POSIX, its write share
 * on Windows), and the lock goes with the process, also when it crashes
 * or is killed. A follower that has caught up and sees no close record
 * uses it to tell "nothing new yet" from "nothing will ever come".
 * @return 1 a live writer; 0 none (also when the file is gone);
 *         -1 cannot tell (a file system without locks); SLUICE_EINVAL.
 */
SLUICE_API int sluice_capture_writer_alive(const sluice_capture *c);

/** Closes the reader. NULL is a harmless no-op. */
SLUICE_API void sluice_capture_close(sluice_capture *c);

#ifdef __cplusplus
}
#endif
#endif
