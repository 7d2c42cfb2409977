/*
 * The sink seam: where the writer puts sealed capture bytes.
 *
 * The writer (writer.h) is the ring's single consumer. It cuts committed
 * records into blocks, seals each one (block header, records, CRC32C
 * trailer; docs/capture-format.md) and hands it to ONE sink through the
 * table below. The sink is the only thing that knows where bytes go; the
 * engine and the writer never do. Today's sink is the plain capture file
 * (sl_sink_file_open()); the table is shaped for what comes next, each of
 * which is a new sink_*.c in collector/core/ and a line in the CLI that
 * wires it, with no change to the engine or the writer:
 *
 *   - a rotating set of files: write() appends to the current file and
 *     rotates by size or age on its own; rotate() starts the next file on
 *     request (sluice-ctl rotate). It keeps the file header it was given
 *     (SL_SINK_FILE_HEADER) and writes it again at the top of every new
 *     file, then, for format v2, the live producers' state.
 *   - a compressing stage: a sink that wraps another (its own ->next),
 *     compresses b->recs into a new block and passes that on. It may
 *     re-seal (new length and CRC); b->seq and b->records say what it
 *     carries.
 *   - a flight recorder: keeps the last N bytes of blocks in memory (it
 *     MUST copy: see lifetime below) and writes them out on rotate()
 *     (snapshot) or close().
 *   - a forwarder to a NATS JetStream cluster: publishes each block as a
 *     message (seq is the natural deduplication id), sync() waits for the
 *     acknowledgements so that "synced" still means "durable".
 *
 * Contract, for every sink:
 *   - Thread: every call comes from the writer thread, one at a time, in
 *     this order: write(FILE_HEADER) once, write(BLOCK)*, with sync() and
 *     rotate() between writes, then close() from the thread that owns the
 *     sink (after the writer is finished). No locking needed inside.
 *   - Lifetime of the bytes: b->iov and b->recs point into ring memory
 *     (and the writer's stack) and are valid ONLY during the call. As soon
 *     as write() returns the writer releases those ring bytes to the
 *     producers (per block, so a slow sink holds back at most one block of
 *     ring space). A sink that keeps bytes copies them.
 *   - Errors: return 0 or a negative SL_E* code. After the first error
 *     the writer makes no further write()/sync()/rotate() call (it keeps
 *     draining the ring, discarding, so producers never block forever) and
 *     reports the error; the engine then stops (writer.h). Everything a
 *     sink accepted before the error must stay readable (a torn tail at
 *     most).
 *   - sync() means durable: when it returns 0 every byte accepted so far
 *     survives a crash (fdatasync / FlushFileBuffers, or the cluster's
 *     acknowledgement).
 *   - A NULL rotate means "not supported" (sl_sink_rotate() then returns
 *     SL_ENOSYS); write, sync and close are mandatory.
 */
#ifndef SL_SINK_H
#define SL_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "os.h"

typedef struct sl_sink sl_sink;

/** What a sl_sink_block holds. */
typedef enum sl_sink_kind {
    /* The capture's file header (docs/capture-format.md §3): the first
     * write, once per sink. seq and records are 0, recs is NULL. */
    SL_SINK_FILE_HEADER = 1,
    /* One sealed block: header, records, trailer. */
    SL_SINK_BLOCK = 2,
} sl_sink_kind;

/** One unit handed to a sink. Valid only during the write() call. */
typedef struct sl_sink_block {
    sl_sink_kind kind;
    const sl_iovec *iov; /* the bytes as they go to a file, gathered */
    size_t iovcnt;
    size_t len;          /* sum of the iov lengths */
    uint64_t seq;        /* block sequence number (SL_SINK_BLOCK) */
    uint32_t records;    /* records in the block */
    const uint8_t *recs; /* the records alone, between header and trailer */
    size_t recs_len;
} sl_sink_block;

/** A sink's operations; one const table per kind of sink. */
typedef struct sl_sink_ops {
    const char *name; /* "file", ... (for messages) */
    /** Takes one unit. @return 0 or SL_E* (SL_ENOSPC, SL_EIO, ...). */
    int (*write)(sl_sink *s, const sl_sink_block *b);
    /** Makes everything taken so far durable. @return 0 or SL_E*. */
    int (*sync)(sl_sink *s);
    /** Starts a new segment (rotation); NULL if unsupported. The writer
     *  then writes a new FILE_HEADER unit and the chunk's preamble. */
    int (*rotate)(sl_sink *s);
    /** Writes a snapshot (flight recorder); NULL if unsupported. */
    int (*snapshot)(sl_sink *s);
    /** Frees the sink (flushing what it holds). @return its last error. */
    int (*close)(sl_sink *s);
} sl_sink_ops;

/** The common head of every sink: embed it first in the sink's struct. */
struct sl_sink {
    const sl_sink_ops *ops;
};

static inline int
sl_sink_write(sl_sink *s, const sl_sink_block *b)
{
    return s->ops->write(s, b);
}

static inline int
sl_sink_sync(sl_sink *s)
{
    return s->ops->sync(s);
}

/** @return the sink's rotate(), or SL_ENOSYS if it has none. */
static inline int
sl_sink_rotate(sl_sink *s)
{
    return s->ops->rotate != NULL ? s->ops->rotate(s) : SL_ENOSYS;
}

/** @return the sink's snapshot(), or SL_ENOSYS if it has none. */
static inline int
sl_sink_snapshot(sl_sink *s)
{
    return s->ops->snapshot != NULL ? s->ops->snapshot(s) : SL_ENOSYS;
}

/** Closes and frees. NULL is a no-op (returns 0). */
static inline int
sl_sink_close(sl_sink *s)
{
    return s != NULL ? s->ops->close(s) : 0;
}

/**
 * The plain capture file: creates path (owner-only; refuses an existing
 * file unless force) and appends every unit to it with one gathered
 * write. Every 32 MiB it asks the OS to start writeback, so the final
 * sync finds little left to do.
 * @param force  sl_os_file_create() flags: SL_OS_FILE_FORCE (1: replace an
 *               existing file), SL_OS_FILE_GROUP (mode 0640).
 * @return 0, SL_EEXIST, SL_EACCES, SL_ENOMEM, ... (sl_os_file_create()).
 */
int sl_sink_file_open(const char *path, int force, sl_sink **out);
/** Closes a plain file sink that never received a block, removing the
 *  file if its open created it (a start that failed after it). */
void sl_sink_file_discard(sl_sink *s);
/** POSIX: gives a file sink's file to group gid (--group: with mode 0640
 *  its members may read the capture). /dev/null is left alone.
 *  @return 0, SL_EACCES (not a member), SL_ENOSYS (Windows). */
int sl_sink_file_set_group(sl_sink *s, uint32_t gid);

/*
 * The rotating set of files (sink_rotate.c, --rotate-size/--rotate-time,
 * --keep, --max-total; docs/capture-format.md section 16). --out
 * cap.sluice becomes cap.000001.sluice, cap.000002.sluice, ...: every
 * chunk file is made by sl_os_file_create() (same mode, lock, no-follow
 * rule as the plain file). write() appends to the current chunk;
 * rotate() syncs and closes it, creates the next one and applies the
 * retention rules, deleting the oldest chunks of this run (never the
 * current one). The writer decides WHEN to rotate (size, age, request)
 * and writes each chunk's header and preamble (writer.c).
 */
/*
 * Retention that respects forwarding (--forward with rotation;
 * docs/forwarding.md section 8). The forwarder sends the chunks in order;
 * these ask it, from the writer thread, how far it is. Must be short and
 * non-blocking (the forwarder's lock only) and never call into the writer.
 */
typedef struct sl_retain_hooks {
    /* 1 when every block of chunk n is acknowledged by the stream. */
    int (*forwarded)(void *arg, uint64_t chunk);
    /* --max-total deletes chunk n (of `blocks` blocks) although it is not
     * all acknowledged: the forwarder stops sending it and counts its
     * unacknowledged blocks as expired unforwarded. Returns that count. */
    uint64_t (*expire)(void *arg, uint64_t chunk, uint64_t blocks);
    /* Blocks counted by expire() so far (the close record's field). */
    uint64_t (*expired_total)(void *arg);
    void *arg;
} sl_retain_hooks;

typedef struct sl_sink_rotate_config {
    const char *path;  /* --out as given: the chunks' name pattern */
    int flags;         /* sl_os_file_create() flags (FORCE, GROUP) */
    int set_group;     /* POSIX --group: chown each chunk to gid */
    uint32_t gid;
    uint64_t keep;      /* --keep N: at most N chunks (0: no limit) */
    uint64_t max_total; /* --max-total: bytes of all chunks (0: no limit) */
    /* NULL, or forwarding's hooks: --keep then deletes only chunks that
     * are all acknowledged (so with NATS down chunks accumulate, bounded
     * by --max-total alone); --max-total deletes regardless and counts
     * what was not forwarded (hooks->expire). */
    const sl_retain_hooks *retain;
} sl_sink_rotate_config;

/** Opens the set and creates chunk 1. @return as sl_sink_file_open(). */
int sl_sink_rotate_open(const sl_sink_rotate_config *cfg, sl_sink **out);
/** Like sl_sink_file_discard(), for a set that never received a block. */
void sl_sink_rotate_discard(sl_sink *s);

/**
 * The file name of chunk n of --out path: the number, six digits at
 * least, goes before the last name's extension ("cap.sluice" ->
 * "cap.000001.sluice"), or is appended when it has none ("cap" ->
 * "cap.000001"; a leading dot is not an extension).
 * @return 0, SL_ENAMETOOLONG (cap too small).
 */
int sl_chunk_name(char *buf, size_t cap, const char *path, uint64_t n);

/**
 * Retention: of n chunks oldest first with sizes[i] bytes (the last is
 * the current one and is never chosen), how many of the oldest to delete
 * so that at most keep remain (0: no limit) and their total is at most
 * max_total (0: no limit), or as near as the current chunk allows.
 */
size_t sl_retention_pick(const uint64_t *sizes, size_t n, uint64_t keep,
                         uint64_t max_total);

/*
 * The flight recorder (sink_flight.c, --flight-recorder BYTES;
 * docs/capture-format.md section 17). The writer runs chunked with a
 * chunk size of BYTES/4 (writer.h); the sink keeps the records of the
 * current chunk and of the keep chunks before it in memory, forgetting
 * older ones, and writes nothing until a trigger. snapshot() writes what
 * it holds to the next free PATH-stem.snapshot-NNN.ext (NNN from 001):
 * a file of its own (v2 header, own key, kind snapshot, chunk 0), the
 * oldest chunk's preamble, every record since, a close record.
 */
typedef struct sl_sink_flight_config {
    const char *path;    /* --out as given: the snapshots' name pattern */
    int flags;           /* sl_os_file_create() flags (GROUP; FORCE is
                            ignored: a snapshot never replaces a file) */
    int set_group;       /* POSIX --group: chown each snapshot to gid */
    uint32_t gid;
    uint64_t keep;       /* full chunks kept besides the current one */
    size_t block_target; /* a snapshot's blocks: about this many bytes */
} sl_sink_flight_config;

/** Opens the recorder (no file yet). @return 0, SL_ENOMEM. */
int sl_sink_flight_open(const sl_sink_flight_config *cfg, sl_sink **out);

/**
 * A trigger: creates the next free snapshot file (sl_os_file_create(),
 * never replacing one) with its header, and holds every record from now
 * on, forgetting nothing, until snapshot() cuts it. While one is held,
 * returns the same one. Writer thread only.
 * @param n     Receives its number (NNN).
 * @param name  Receives its file name (valid until the next hold).
 * @return 0, or the create error (SL_EACCES, SL_ENOSPC, ...).
 */
int sl_sink_flight_hold(sl_sink *s, uint64_t *n, const char **name);

/** 1 if s is a flight recorder (sl_sink_flight_open()). */
int sl_sink_is_flight(const sl_sink *s);

/**
 * The file name of snapshot n of --out path: ".snapshot-NNN" (three
 * digits at least) before the last name's extension ("cap.sluice" ->
 * "cap.snapshot-001.sluice"), or appended when it has none.
 * @return 0, SL_ENAMETOOLONG (cap too small).
 */
int sl_snapshot_name(char *buf, size_t cap, const char *path, uint64_t n);

#endif
