/*
 * The forwarder: a collector component that copies the local capture,
 * block by block, into a NATS JetStream stream (docs/forwarding.md is the
 * normative text of the messages and the state file; docs/reliability.md
 * says what is promised across outages).
 *
 * It runs on its own thread and only reads the capture file the writer
 * appends to, so NATS being slow or down never holds up ingest: it falls
 * behind and catches up. Each whole block is published as one message
 * (split into parts when larger than the server's max payload) with
 * Nats-Msg-Id "<capture id>.<chunk>.<block>" so the stream stores a block
 * sent twice once. At most `inflight` messages are unacknowledged at a
 * time; the first block not yet acknowledged is recorded in a state file
 * beside the capture (FILE.fwd), from which a restarted collector resumes.
 */
#ifndef SL_FORWARD_H
#define SL_FORWARD_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl_forward sl_forward;

/** Receives one log line (no trailing newline). The forwarder thread. */
typedef void (*sl_forward_log_fn)(void *ctx, const char *line);

typedef struct sl_forward_config {
    const char *urls;       /* "nats://h:p[,nats://h:p...]" */
    const char *subject;    /* NULL: sluice.<host>.<pipe> */
    const char *stream;     /* created if missing */
    int replicas;           /* 0: 3 if the cluster has >= 3 servers, else 1 */
    const char *creds_path; /* NULL, or a credentials file */
    const char *tls_ca;     /* NULL, or a CA file: TLS required */
    const char *host;       /* NULL: the capture header's host */
    const char *capture;    /* the live capture file (--out), or with
                               chunk_name the rotating set's --out */
    /* NULL: capture is one file. Otherwise capture is a rotating set
     * (--rotate-size/--rotate-time) and this names its chunk n
     * (collector/core/sink.h sl_chunk_name()): the forwarder follows the
     * chunks in order (docs/forwarding.md section 8). */
    int (*chunk_name)(char *buf, size_t cap, const char *pattern,
                      uint64_t n);
    int move_aside;         /* the collector will replace the capture
                               (--force): see sl_forward_prepare() */
    unsigned inflight;      /* messages unacknowledged at most, >= 1 */
    uint64_t drain_ns;      /* how long sl_forward_finish() may wait */
    sl_forward_log_fn log;
    void *log_ctx;
} sl_forward_config;

/* The figures `sluice-ctl status` and the status line show. */
typedef struct sl_forward_stats {
    uint64_t forwarded_blocks; /* acknowledged by the stream */
    uint64_t forwarded_bytes;
    uint64_t duplicates;       /* acknowledged as already stored */
    uint64_t pending_blocks;   /* whole blocks of the capture being
                                  forwarded, written locally and not yet
                                  acknowledged (in flight or not yet sent) */
    uint64_t pending_bytes;    /* bytes of the capture (and of those
                                  waiting after it) not yet acknowledged */
    uint64_t errors;           /* failed connects and publishes */
    uint64_t expired_unforwarded; /* blocks of chunks --max-total deleted
                                     before they were acknowledged */
    int connected;             /* 1 while connected to a server */
    char last_error[200];      /* "" if none; producer bytes never here */
} sl_forward_stats;

/** 1 when this build has libnats (sl_forward_open works), else 0. */
int sl_forward_available(void);

/**
 * Checks the options that can be checked without a server (URLs, the
 * credentials file, the CA file) and creates the forwarder, not yet
 * running. Then (sl_forward_prepare()) moves an unforwarded capture
 * aside when cfg->move_aside, and lists the captures still to forward
 * before the live one. Call before creating the capture, so a bad option
 * leaves nothing behind, and an unforwarded capture is not overwritten.
 * @param err  Receives a one-line reason on SL_EINVAL (may be NULL).
 * @return 0; SL_EINVAL (bad option); SL_ENOMEM; SL_EIO and others
 *         (moving aside failed, in err).
 */
int sl_forward_open(const sl_forward_config *cfg, sl_forward **out,
                    char *err, size_t err_cap);

/**
 * Starts the forwarder thread, once the capture file exists. It connects
 * in the background and keeps retrying: an unreachable cluster or refused
 * credentials are reported in the stats and the log, and do not stop the
 * collector.
 * @return 0, or the thread creation's error.
 */
int sl_forward_start(sl_forward *f);

/** A snapshot of the figures. Any thread. */
void sl_forward_get_stats(sl_forward *f, sl_forward_stats *out);

/**
 * The capture is finalised (the writer has written its close record and
 * stopped): forward the rest and wait for the acknowledgements, at most
 * drain_ns, then stop the thread. What is left is recorded in the state
 * file, for the next start. Blocks.
 * @return 0 if everything was acknowledged, SL_ETIMEDOUT otherwise.
 */
int sl_forward_finish(sl_forward *f);

/*
 * Retention of a rotating set (collector/core/sink.h sl_retain_hooks),
 * called from the writer thread; they take the forwarder's lock only.
 */
/** 1 when every block of chunk @p chunk of the live set is acknowledged
 *  (the forwarder has moved past it), else 0. */
int sl_forward_chunk_forwarded(sl_forward *f, uint64_t chunk);
/** --max-total deletes chunk @p chunk (of @p blocks blocks) of the live
 *  set: the forwarder stops sending it (and every earlier one) and counts
 *  its unacknowledged blocks as expired unforwarded. @return that count. */
uint64_t sl_forward_chunk_expire(sl_forward *f, uint64_t chunk,
                                 uint64_t blocks);
/** Blocks counted by sl_forward_chunk_expire() so far. */
uint64_t sl_forward_expired(sl_forward *f);

/** Stops (if needed) and frees. NULL is a no-op. */
void sl_forward_close(sl_forward *f);

/**
 * Before the collector replaces FILE (--force, @p move_aside): if FILE
 * has blocks not yet forwarded (its state file FILE.fwd says so), moves
 * FILE and its state
 * aside to FILE.<capture id> and FILE.<capture id>.fwd, so they are
 * forwarded from there. With @p chunk_name (FILE is a rotating set's
 * --out), the same for the set: its chunks from the state's chunk on go
 * to the set FILE.<capture id> (chunk n named chunk_name(FILE.<id>, n)).
 * Then lists the captures beside FILE that wait to be forwarded
 * (FILE.<id> with a state file FILE.<id>.fwd that is not done), oldest
 * first, into an array of *n paths (free with sl_forward_backlog_free),
 * and in (*is_set)[i] whether path i is a set (its state names a chunk).
 * @return 0, SL_ENOMEM, or an error from rename.
 */
int sl_forward_prepare(const char *capture, int move_aside,
                       int (*chunk_name)(char *, size_t, const char *,
                                         uint64_t),
                       char ***backlog, unsigned char **is_set, size_t *n);
void sl_forward_backlog_free(char **backlog, size_t n);

#endif
