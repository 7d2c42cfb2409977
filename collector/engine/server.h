/*
 * The collector's engine: the connection manager and worker pool on top of
 * an I/O backend (io.h), feeding the ring (ring.h) that the writer thread
 * (writer.h) persists. Platform-neutral; collector_main.c is its CLI.
 */
#ifndef SL_SERVER_H
#define SL_SERVER_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl_server sl_server;
struct sl_sink;       /* collector/core/sink.h */
struct sl_retain_hooks; /* collector/core/sink.h */
struct sl_io_backend; /* collector/io/io.h */
struct sl_state;      /* format/state.h */

/** Receives one log line (no trailing newline). Any worker thread. */
typedef void (*sl_server_log_fn)(void *ctx, const char *line);

/** What the engine tells its owner as it happens (no polling needed). */
typedef enum sl_server_event {
    SL_SERVER_PRODUCER_ENDED = 1, /* value: producers ended so far */
    SL_SERVER_WRITE_FAILED,       /* value: the sink's SL_E* error */
    SL_SERVER_STOP_REQUESTED,     /* sluice-ctl stop (a worker thread) */
} sl_server_event;

/**
 * Receives an engine event, from a worker thread (ENDED) or the writer
 * thread (WRITE_FAILED, once). Keep it short and non-blocking; it must not
 * call back into the server. collector_main.c turns "--exit-after reached"
 * and "write failed" into a stop request that wakes its main thread.
 */
typedef void (*sl_server_event_fn)(void *ctx, sl_server_event ev,
                                   int64_t value);

/* What `sluice-ctl status` shows of forwarding (--forward). The engine
 * knows nothing else of the forwarder (collector/forward/ is not one of
 * its layers): collector_main.c fills this from sl_forward_get_stats()
 * through sl_server_config.forward_status. */
typedef struct sl_server_fwd_status {
    uint64_t forwarded_blocks; /* acknowledged by the stream */
    uint64_t forwarded_bytes;
    uint64_t duplicates;       /* acknowledged as already stored */
    uint64_t pending_blocks;   /* written locally, not yet acknowledged
                                  (in flight or not yet sent) */
    uint64_t pending_bytes;    /* their bytes, with those of captures
                                  still waiting to be forwarded */
    uint64_t errors;           /* failed connects and publishes */
    uint64_t expired_unforwarded; /* blocks --max-total deleted before
                                     they were acknowledged (rotation) */
    int connected;             /* 1 while connected to a server */
    char last_error[200];      /* "" if none; NUL-terminated */
} sl_server_fwd_status;

typedef struct sl_server_config {
    const char *pipe;      /* NAME, recorded in the capture header */
    size_t pipe_len;
    const char *path;      /* endpoint from sl_os_pipe_path() */
    const char *out_path;  /* capture file (the default sink) */
    int force;             /* overwrite an existing capture */
    /* Where sealed blocks go (collector/core/sink.h). NULL: the plain
     * capture file at out_path. Otherwise called once, at the file stage
     * of sl_server_open() (after the pipe is claimed, so a refused start
     * leaves no file behind); the server closes the sink it returns. New
     * sinks (rotation, compression, forwarding) plug in here without any
     * change to the engine. */
    int (*open_sink)(void *ctx, struct sl_sink **out);
    void *sink_ctx;
    unsigned workers;      /* >= 1 */
    unsigned instances;    /* listening instances (Windows) */
    size_t ring_bytes;     /* power of two */
    /* Rotation (--rotate-size, --rotate-time, --keep, --max-total): with
     * rotate set, the capture is the rotating set of chunk files named
     * after out_path (sink.h sl_sink_rotate_open(), writer.h). */
    int rotate_set;
    uint64_t rotate_bytes;  /* 0: no size limit */
    uint64_t rotate_ns;     /* 0: no age limit */
    uint64_t keep;          /* 0: keep every chunk */
    uint64_t max_total;     /* 0: no total limit */
    /* With rotation and --forward: the forwarder's retention hooks
     * (sink.h sl_retain_hooks; wired by collector_main.c, the engine
     * does not know the forwarder). NULL: retention by the rules alone. */
    const struct sl_retain_hooks *retain;
    /* Flight recorder (--flight-recorder BYTES, --trigger-type,
     * --trigger-after; sink.h sl_sink_flight_open(), writer.h): nonzero
     * flight_bytes keeps about the last BYTES of capture in memory and
     * writes snapshots named after out_path on a trigger. Excludes
     * rotate_set and a codec (collector_main.c refuses the mix). */
    uint64_t flight_bytes;
    int trigger_type;         /* 0..0xEFFF, or -1: none */
    uint64_t trigger_after_ns;
    unsigned codec;        /* --compress: SL_CAP2_CODEC_* (0 none) */
    int codec_level;       /* 0 = the codec's default */
    int drop_when_full;    /* --on-full drop */
    uint32_t max_frame;
    unsigned max_producers;   /* concurrent connections */
    size_t conn_buffer;       /* initial per-connection read buffer */
    /* --idle-timeout: a connection that has not identified itself (no
     * byte, or a binary one without a whole hello) this many seconds
     * after it was accepted is ended (reason IDLE when it sent a byte;
     * no record when it sent none), so silent connections cannot hold
     * max_producers slots. 0: never. */
    unsigned idle_timeout_s;
    int allow_remote;         /* Windows */
    int share_group;          /* POSIX: socket mode 0660 for group */
    uint32_t group;           /* (ignored unless share_group; else 0600) */
    const uint32_t *allow_uids; /* peers allowed by user id (the caller
                                   includes its own); NULL = any peer the
                                   socket's permissions let in */
    size_t allow_uids_len;
    const char *backend;      /* "auto" or a backend name */
    /* A backend table to use instead of choosing one by name (the engine
     * tests drive the engine through a backend of their own). NULL: by
     * `backend`. */
    const struct sl_io_backend *io_backend;
    /* The first producer id to assign (0: 1). Ids count up from it, are
     * never 0 and never repeat in one capture: once UINT32_MAX is taken,
     * further connections are refused (protocol.md section 4). */
    uint32_t first_id;
    sl_server_log_fn log;
    void *log_ctx;
    sl_server_event_fn on_event; /* may be NULL */
    void *event_ctx;
    /* The control plane's initial state (--config, --enable, --disable):
     * copied at open. NULL: every type enabled, no configuration. */
    const struct sl_state *state;
    /* sluice-ctl rotate / snapshot, run on a worker thread; 0 when done,
     * SL_ENOSYS when the sink cannot, another SL_E* on failure. NULL:
     * not possible in this collector (sluice-ctl says so). snapshot
     * puts the snapshot's file name in name (cap bytes, NUL-terminated;
     * "" if it has none), which sluice-ctl prints. */
    int (*rotate)(void *arg);
    int (*snapshot)(void *arg, char *name, size_t cap);
    void *hook_arg;
    /* sluice-ctl status: fills *out with the forwarder's figures. Called
     * on a worker thread (the one serving the request); must be short and
     * non-blocking and must not call back into the server. NULL: this
     * collector does not forward (status shows no forwarding part). */
    void (*forward_status)(void *arg, sl_server_fwd_status *out);
    void *forward_arg;
    /* Tests only, NULL otherwise: called by the worker accepting a
     * connection after it counted the connection and before it decides
     * whether to admit it, so a test can line two accepts up there. */
    void (*test_accept_counted)(void *ctx);
    void *test_ctx;
} sl_server_config;

/** What failed in sl_server_open(). */
typedef enum sl_server_stage {
    SL_STAGE_CONFIG = 1,
    SL_STAGE_RING,
    SL_STAGE_PIPE,
    SL_STAGE_FILE,
    SL_STAGE_THREADS,
} sl_server_stage;

typedef struct sl_server_stats {
    uint64_t producers_total; /* connections that sent at least a byte */
    uint64_t producers_now;
    uint64_t ended;           /* producers whose connection ended */
    uint64_t refused;         /* connections refused (max producers,
                                 a peer uid not in allow_uids) */
    uint64_t events;          /* events written to the ring */
    uint64_t bytes;           /* their payload bytes */
    uint64_t dropped;         /* events dropped (--on-full drop) */
    uint64_t malformed;       /* connections closed for a violation */
    uint64_t idle;            /* connections ended by idle_timeout_s */
    uint64_t ring_used;
    uint64_t ring_capacity;
    uint64_t file_bytes;
} sl_server_stats;

/**
 * Creates the ring, the endpoint (trying backends in order for "auto"),
 * the capture file and the threads, and starts accepting.
 * @param stage  Receives which step failed (on failure only).
 * @return 0; SL_EINVAL (config); SL_EADDRINUSE / SL_EEXIST (pipe); SL_EEXIST
 *         (capture exists, no force); SL_ENOSYS (forced backend
 *         unavailable); SL_ENOMEM; others from the OS.
 */
int sl_server_open(const sl_server_config *cfg, sl_server **out,
                   sl_server_stage *stage);

/** Name of the backend in use. */
const char *sl_server_backend(const sl_server *s);

/** A snapshot of the counters. Any thread. */
void sl_server_get_stats(const sl_server *s, sl_server_stats *out);

/**
 * sluice-ctl rotate / snapshot, for the hooks above (collector_main.c
 * wires them): asks the writer to start the next chunk, or the sink to
 * write a snapshot, and waits until done. Any thread but the writer's.
 * @return 0, SL_ENOSYS (no rotating set / no flight recorder),
 *         SL_ECANCELED (stopping), or the sink's error.
 */
int sl_server_rotate(sl_server *s);
int sl_server_snapshot(sl_server *s, char *name, size_t cap);

/**
 * A flight-recorder trigger of the given cause (SLUICE_TRIGGER_*:
 * SIGUSR1 from collector_main.c; sluice-ctl snapshot is cause CTL),
 * sl_writer_request_trigger(). name: as sl_server_snapshot().
 * @return 0, SL_ENOSYS (no flight recorder), SL_ECANCELED, the sink's
 *         error.
 */
int sl_server_trigger(sl_server *s, unsigned cause, char *name, size_t cap);

/** The current chunk number of a rotating capture, 0 otherwise. */
uint64_t sl_server_chunk(const sl_server *s);

/** The writer's first error, or 0. Any thread. */
int sl_server_error(const sl_server *s);

/**
 * Stops: no new connections; every open connection is drained (what its
 * producer already sent is read and kept, then it ends); workers end; the
 * writer writes everything, the close record, and syncs the file.
 * Blocks until done. Call once, from the thread that opened.
 * @return 0, or the writer's first error.
 */
int sl_server_stop(sl_server *s);

/** Frees. NULL is a no-op. Calls sl_server_stop() if it was not called. */
void sl_server_close(sl_server *s);

#endif
