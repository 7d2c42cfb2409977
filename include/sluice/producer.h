/*
 * libsluice-producer: stream events to a sluice collector.
 *
 * A producer connects to the collector's pipe, reads its greeting (which
 * assigns the producer id and announces the largest frame accepted), and
 * then sends events. Events are batched in a local buffer and written in
 * large writes (64 KiB by default); a flush timer bounds the latency of a
 * quiet producer.
 *
 * Threads: sluice_producer_emit(), sluice_producer_emit_ts() and
 * sluice_producer_flush() may be called from many threads of one process at
 * once on the same handle; events from one thread keep their order, and
 * sequence numbers follow the order in which events reach the collector.
 * Each of the first 16 threads that emit on a handle gets a buffer of its
 * own (buffer_bytes each), so emitting takes no lock; further threads
 * share one buffer under a lock. open/close belong to one thread, and no
 * other call may run on the handle during or after close.
 *
 * Control plane: a version 1.1 collector sends its configuration and the
 * set of enabled event types at open (sluice_producer_open() waits for
 * them) and pushes every change; a background thread of the handle applies
 * them. Emitting an event of a disabled type returns 0 at once and counts
 * it as filtered (sluice_producer_filtered()).
 *
 * Blocking: emit blocks only when the local buffer is full and the write
 * to the collector blocks — that is the collector's lossless backpressure
 * reaching the producer.
 */
#ifndef SLUICE_PRODUCER_H
#define SLUICE_PRODUCER_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Opaque producer handle. */
typedef struct sluice_producer sluice_producer;

/** Event types 0..0xEFFF are the application's; the rest are reserved. */
#define SLUICE_TYPE_MAX 0xEFFFu

typedef struct sluice_producer_opts {
    /** Label recorded in the capture's connect record (UTF-8, <= 255
     *  bytes); NULL means the executable's base name. */
    const char *name;
    size_t name_len;
    /** Give up connecting after this long (ms); 0 = one attempt. On
     *  Windows, ERROR_PIPE_BUSY is retried with WaitNamedPipe within this
     *  budget; on POSIX, ENOENT/ECONNREFUSED/EAGAIN are retried. */
    uint32_t connect_timeout_ms;
    /** Local batch buffer in bytes (default 65536, at least 4096). */
    size_t buffer_bytes;
    /** A background thread flushes a non-empty buffer at least this often
     *  (ms); 0 disables the thread (flush and close still write). */
    uint32_t flush_interval_ms;
    /** 1: text mode — each event is sent as one line (payload + '\n'); a
     *  payload containing '\n' is refused with SLUICE_EINVAL. */
    int text;
    /** Who may serve the pipe besides the producer's own user. Before
     *  sending a byte, open checks the collector's identity: on POSIX the
     *  socket file's owner and the peer's uid (SO_PEERCRED) must be the
     *  producer's effective uid or this one; on Windows the user SID of
     *  the pipe server's process must be the producer's or this one.
     *  Otherwise open fails with SLUICE_EUNTRUSTED having sent nothing
     *  (another user squatting the name gets no event). NULL: only the
     *  producer's own user. POSIX: a decimal uid ("0" trusts root);
     *  Windows: a SID string ("S-1-5-18"). Anything else: SLUICE_EINVAL. */
    const char *collector_user;
    /** The largest payload the caller means to emit, or 0. When the
     *  collector's greeting allows less, open fails with SLUICE_ETOOBIG
     *  before sending anything (no empty producer in the capture). */
    size_t min_payload;
} sluice_producer_opts;

/** Fills *opts with the defaults: name NULL, connect_timeout_ms 5000,
 *  buffer_bytes 65536, flush_interval_ms 100, binary mode,
 *  collector_user NULL, min_payload 0. */
SLUICE_API void sluice_producer_opts_init(sluice_producer_opts *opts);

/**
 * Connects to the collector on pipe NAME and reads its greeting.
 * @param name      Pipe NAME, UTF-8, need not be NUL-terminated
 *                  (POSIX: $TMPDIR/CoreFxPipe_NAME, or a path if it has
 *                  '/'; Windows: \\.\pipe\NAME).
 * @param name_len  Length of @p name in bytes.
 * @param opts      Options, or NULL for the defaults.
 * @param out       Receives the handle; untouched on failure.
 * @return 0, SLUICE_ENOENT (no such pipe), SLUICE_ECONNREFUSED (a socket
 *         nobody listens on: a stale one), SLUICE_ETIMEDOUT,
 *         SLUICE_EACCES (the socket's permissions keep this user out),
 *         SLUICE_EUNTRUSTED (served by another user; see collector_user),
 *         SLUICE_EPROTO (not a sluice collector), SLUICE_EVERSION,
 *         SLUICE_ETOOMANY / SLUICE_ENOTALLOWED / SLUICE_EREFUSED (the
 *         collector refused: too many producers / this user not in its
 *         --allow-uid / another reason), SLUICE_ENAMETOOLONG (opts->name
 *         over 255 bytes, or over the greeting's max-frame - 32),
 *         SLUICE_ETOOBIG (min_payload above the collector's limit),
 *         SLUICE_EINVAL, SLUICE_ENOMEM.
 * Blocks until the greeting arrives or connect_timeout_ms passes; with
 * a protocol 1.1 collector, then until it answers the hello with the
 * configuration (at most 60 s, or connect_timeout_ms if longer: a busy
 * collector reads a new hello behind the other producers' data).
 */
SLUICE_API int sluice_producer_open(const char *name, size_t name_len,
                                    const sluice_producer_opts *opts,
                                    sluice_producer **out);

/**
 * Queues one event: type, payload, the next sequence number and the
 * current time. Copies the payload.
 * @param type  0..SLUICE_TYPE_MAX.
 * @return 0 (also for a disabled type: the event is filtered, not sent);
 *         SLUICE_ETOOBIG (larger than the collector's max frame);
 *         SLUICE_EINVAL; SLUICE_EPIPE / SLUICE_ECONNRESET once the
 *         collector has gone (every later call fails the same way).
 */
SLUICE_API int sluice_producer_emit(sluice_producer *p, uint16_t type,
                                    const void *data, size_t len);

/**
 * Like sluice_producer_emit(), but with the caller's timestamp instead of
 * reading the clock: for callers that already have one (tracers, replays),
 * and the cheapest way to emit (reading the clock costs about as much as
 * the rest of an emit).
 * @param ts_ns  Nanoseconds since 1970-01-01 UTC (the unit and epoch
 *               sluice_producer_emit() uses); recorded as given. Ignored
 *               in text mode, whose lines carry no timestamp.
 * @return As sluice_producer_emit().
 */
SLUICE_API int sluice_producer_emit_ts(sluice_producer *p, uint16_t type,
                                       uint64_t ts_ns, const void *data,
                                       size_t len);

/** Writes everything queued so far, by every thread. Blocks until
 *  written. */
SLUICE_API int sluice_producer_flush(sluice_producer *p);

/** The producer id the collector assigned (from the greeting). */
SLUICE_API uint32_t sluice_producer_id(const sluice_producer *p);

/** The largest payload emit accepts, in bytes. */
SLUICE_API size_t sluice_producer_max_payload(const sluice_producer *p);

/** Events and payload bytes emitted so far (queued or written). */
SLUICE_API void sluice_producer_counts(const sluice_producer *p,
                                       uint64_t *events, uint64_t *bytes);

/* ---- the control plane (protocol 1.1, docs/protocol.md section 13) ---- */

/**
 * 1 if events of @p type are enabled: the collector has not disabled them
 * (sluice-collector --disable, sluice-ctl disable). One relaxed load and a
 * bit test, no lock and no system call: call it before building an
 * expensive payload. A change the collector pushes is seen by every thread
 * within microseconds (a thread may emit one more event of a type just
 * disabled: it is then filtered). 0 for types above SLUICE_TYPE_MAX and
 * for a NULL handle. With a version 1.0 collector, or in text mode, every
 * type stays enabled.
 */
SLUICE_API int sluice_producer_enabled(const sluice_producer *p,
                                       uint16_t type);

/**
 * Looks up a configuration value the collector sent
 * (sluice-collector --config KEY=VALUE, --config-file, sluice-ctl config).
 * @param value      Receives a pointer to the value (not NUL-terminated);
 *                   it stays valid until sluice_producer_close(), even
 *                   after the collector changes the configuration.
 * @param value_len  Receives its length in bytes.
 * @return 0; SLUICE_ENOENT (no such key, or no configuration: text mode or
 *         a version 1.0 collector); SLUICE_EINVAL.
 */
SLUICE_API int sluice_producer_config_get(const sluice_producer *p,
                                          const char *key, size_t key_len,
                                          const char **value,
                                          size_t *value_len);

/**
 * Iterates over the configuration, in the collector's order. Start with
 * *cursor = NULL; each call gives the next pair and advances *cursor. The
 * iteration walks the configuration that was current when it started.
 * Pointers stay valid until sluice_producer_close().
 * @return 0 with a pair; SLUICE_ENOENT at the end; SLUICE_EINVAL.
 */
SLUICE_API int sluice_producer_config_next(const sluice_producer *p,
                                           const void **cursor,
                                           const char **key, size_t *key_len,
                                           const char **value,
                                           size_t *value_len);

/** Events emit filtered so far because their type was disabled; they got
 *  no sequence number and were not sent. */
SLUICE_API uint64_t sluice_producer_filtered(const sluice_producer *p);

/**
 * Flushes, disconnects and frees. NULL is a harmless no-op.
 * @return 0, or the error of the final flush (the handle is freed anyway).
 */
SLUICE_API int sluice_producer_close(sluice_producer *p);

#ifdef __cplusplus
}
#endif
#endif
