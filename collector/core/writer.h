/*
 * The writer thread: turns committed ring bytes into capture blocks and
 * hands them to a sink (sink.h: the capture file, later rotation,
 * compression, a flight recorder, a forwarder), releasing each block's
 * ring space as soon as the sink has it.
 */
#ifndef SL_WRITER_H
#define SL_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "os.h"
#include "ring.h"
#include "sink.h"

typedef struct sl_writer sl_writer;

typedef struct sl_writer_config {
    sl_ring *ring;
    sl_sink *sink;          /* owned by the caller; the writer writes to it */
    uint64_t start_ns;
    const char *pipe;       /* for the file header */
    size_t pipe_len;
    const char *host;
    size_t host_len;
    size_t block_target;    /* close a block at about this many bytes */
    /* Block codec (SL_CAP2_CODEC_*, --compress) and its level (0 = the
     * codec's default; zstd 1..19). A block that does not shrink is
     * stored uncompressed. */
    unsigned codec;
    int codec_level;
    /* Rotation (--rotate-size, --rotate-time; the sink must support
     * rotate(): sink_rotate.c). chunked: the capture is a set of chunks,
     * the first numbered 1 in its header (docs/capture-format.md 16).
     * The writer starts the next chunk before a block that would take
     * the current one past rotate_bytes (0: no size limit), and once the
     * chunk is rotate_ns old (0: no age limit) and holds events. */
    int chunked;
    uint64_t rotate_bytes;
    uint64_t rotate_ns;
    /* Flight recorder (--flight-recorder; the sink is
     * sl_sink_flight_open()'s, and chunked is set with rotate_bytes its
     * chunk size). trigger_type: an event type (0..0xEFFF) whose every
     * event is a trigger, or -1. trigger_after_ns: --trigger-after, how
     * long after a trigger the snapshot is cut; the cut comes earlier
     * once flight_bytes have been sealed since the trigger (so memory
     * stays bounded), or at finish. */
    int flight;
    int trigger_type;
    uint64_t trigger_after_ns;
    uint64_t flight_bytes;
    /* Called once, from the writer thread, with the first sink error (the
     * moment sl_writer_error() turns nonzero), so the owner can stop
     * without polling. May be NULL. Must not call back into the writer. */
    void (*on_error)(void *ctx, int err);
    void *on_error_ctx;
    /* NULL, or forwarding's retention hooks (sink.h): every close record
     * then carries hooks->expired_total(), the blocks retention deleted
     * before they were forwarded (docs/capture-format.md 7.4). */
    const sl_retain_hooks *retain;
} sl_writer_config;

/** The collector's summary, stored in the final close record. */
typedef struct sl_writer_summary {
    uint64_t producers, events, bytes, dropped, malformed;
} sl_writer_summary;

/**
 * Writes the file header and starts the writer thread.
 * @return 0, SL_ENOSYS (a codec this build lacks), or the header write's
 *         error (SL_ENOSPC, SL_EIO, ...).
 */
int sl_writer_open(const sl_writer_config *cfg, sl_writer **out);

/**
 * Finishes: the thread writes everything committed, then a final block
 * holding the close record with *sum, syncs the file (fdatasync /
 * FlushFileBuffers) and ends. Call once every producer of the ring has
 * committed its last record. Blocks until done.
 * @return 0, or the first write/sync error seen during the whole run.
 */
int sl_writer_finish(sl_writer *w, const sl_writer_summary *sum);

/**
 * The first write error, or 0. Any thread. After an error the writer
 * keeps consuming the ring (discarding) so workers never block forever.
 */
int sl_writer_error(const sl_writer *w);

/** Bytes handed to the sink so far (file header included). Any thread. */
uint64_t sl_writer_bytes(const sl_writer *w);

/**
 * Asks the writer thread to end the current chunk and start the next one
 * (sluice-ctl rotate), between two blocks, and waits until it has. Any
 * thread except the writer's; never while holding an uncommitted ring
 * reservation.
 * @return 0 when done; SL_ENOSYS (the capture is not a rotating set);
 *         SL_ECANCELED (the writer has finished); the sink's error.
 */
int sl_writer_request_rotate(sl_writer *w);

/**
 * As sl_writer_request_rotate(), for the sink's snapshot() (a flight
 * recorder). @return 0, SL_ENOSYS (the sink has none), SL_ECANCELED, or
 * the sink's error.
 */
int sl_writer_request_snapshot(sl_writer *w);

/* sl_writer_request_trigger() causes: SLUICE_TRIGGER_* (capture.h). */

/**
 * A flight-recorder trigger (SIGUSR1, sluice-ctl snapshot; a type
 * trigger is the writer's own): the writer records a TRIGGER record,
 * reserves the snapshot file and cuts it now, or --trigger-after later
 * (then this returns at the trigger, the file holding its header only
 * until the cut). A trigger while one waits for its cut is recorded and
 * counted into it: no second snapshot. Any thread but the writer's.
 * @param name  Receives the snapshot's file name (NUL-terminated,
 *              truncated to cap); may be NULL.
 * @return 0; SL_ENOSYS (no flight recorder); SL_ECANCELED; the sink's
 *         error.
 */
int sl_writer_request_trigger(sl_writer *w, unsigned cause, char *name,
                              size_t cap);

/** The current chunk number (0 when not chunked). Any thread. */
uint64_t sl_writer_chunk(const sl_writer *w);

/** Frees the writer (after finish). NULL is a no-op. */
void sl_writer_close(sl_writer *w);

#endif
