/*
 * The forwarder of forward.h, on libnats (the NATS C client) and its
 * JetStream API. One thread per forwarder does everything: connects,
 * makes sure the stream exists, tails the capture with the block reader
 * (blocks.h), publishes asynchronously, retires acknowledgements in file
 * order and writes the state file. The only other thread that touches it
 * is libnats' own, in ack_handler(), which marks in-flight entries under
 * the mutex and wakes the forwarder; and any thread reading the stats.
 *
 * Delivery is go-back-N: on any failed publish, or when the oldest
 * unacknowledged message has waited ACK_TIMEOUT_NS (a server that died
 * with it, a reconnect that lost it), the forwarder drops everything in
 * flight and starts again at the first unacknowledged block. Blocks the
 * stream already has come back as duplicates of their Nats-Msg-Id and are
 * stored once.
 */
#include "forward.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nats/nats.h>

#include "blocks.h"
#include "capfile.h"
#include "err.h"
#include "natsopt.h"
#include "os.h"

/* A message whose ack has not come after this long is taken as lost. A
 * JetStream leader election takes a few seconds; this is the time after
 * which the forwarder sends again, not a safety net for a missed wake-up
 * (the ack handler signals every ack). */
#define ACK_TIMEOUT_NS (5000000000ull)
/* Between connection attempts, and after a failed publish round. */
#define RETRY_NS (500000000ull)
/* The file is polled this often when the forwarder has caught up: the
 * writer does not signal the forwarder (it must never wait for it). */
#define POLL_NS (10000000ull)
/* The same error, still happening, is logged again this often. */
#define REPEAT_LOG_NS (30000000000ull)
/* A stream that held our blocks and is "not found" for this long is
 * taken as deleted and created again; before that, as a cluster still
 * recovering its streams after a whole-cluster restart (its meta leader
 * answers before it has replayed its log, and creating the stream then
 * races the recovery: seen to leave a stream that never acknowledges).
 * A stream never seen is created at once. */
#define KNOWN_MISSING_NS (30000000000ull)
/* Ack timeouts in a row, with no acknowledgement between them, after
 * which the connection is dropped and made again (stream checked). */
#define STUCK_ROUNDS 3
/* The state file is rewritten at most this often while blocks are acked. */
#define STATE_EVERY_NS (20000000ull)
#define DUPLICATE_WINDOW_NS (120000000000ll)
/* Block headers the pending-block count walks per round at most. */
#define SCAN_MAX 4096

enum { E_FREE, E_SENT, E_ACKED, E_FAILED };

typedef struct entry {
    natsMsg *msg; /* identity only: owned by libnats once published */
    uint64_t block;
    uint64_t offset;   /* of the block in the file */
    uint32_t block_len;
    uint32_t part, nparts;
    uint64_t sent_ns;
    int state;
} entry;

struct sl_forward {
    sl_forward_config cfg;
    char *urls, *subject, *stream, *creds, *tls_ca, *host, *capture;
    char **files; /* backlog then the live capture */
    unsigned char *file_set; /* files[i] is a rotating set's pattern */
    size_t n_files;

    sl_thread *thr;
    sl_mutex mu;
    sl_cond cv;
    /* Under mu. */
    int finishing;     /* the capture is final: forward to its end */
    int stop_now;      /* give up (drain time over) */
    int done;          /* the thread has ended */
    int all_acked;     /* it ended with nothing pending */
    entry *q;          /* ring of q_cap entries: inflight messages, and
                          room for every part of one block beyond them */
    size_t q_cap;
    size_t q_head, q_len;
    int failed;
    sl_forward_stats st;
    /* The live set (cfg.chunk_name): the chunk being forwarded (0 while
     * the forwarder is not on the live set yet), and the last chunk
     * --max-total deleted (0: none). Under mu: the writer thread asks
     * (sl_forward_chunk_forwarded/_expire). Chunks below fwd_chunk are
     * acknowledged whole; fwd_chunk <= expired_upto means the forwarder
     * must leave its chunk (it is gone) and retire nothing more of it. */
    uint64_t fwd_chunk;
    uint64_t expired_upto;
    uint64_t mu_acked_block; /* acked_block, for the writer thread */

    /* Forwarder thread only. */
    natsOptions *opts;
    natsConnection *nc;
    jsCtx *js;
    int64_t max_payload;
    sl_blk_reader *rd;
    const char *path;
    char state_path[4096];
    uint64_t cur_chunk;   /* chunk of the file being forwarded; 0: one
                             file, not a set */
    const char *set_pattern; /* the set's --out, or NULL */
    char cur_id[SL_BLK_ID_MAX + 1]; /* capture id of the file */
    char next_path[4200];  /* chunk cur_chunk + 1 of the set */
    int next_ours;         /* next_path is this capture's chunk */
    uint64_t later_bytes;  /* bytes of the set's chunks after this one */
    uint64_t later_ns;     /* when later_bytes was counted */
    uint64_t acked_off;   /* first byte not acknowledged */
    uint64_t acked_block; /* its block number */
    uint64_t state_written_off;
    uint64_t state_written_ns;
    char *hdr_hex;
    char subj_buf[512];
    uint64_t backlog_bytes; /* unacknowledged bytes of later files */
    /* Counting the blocks written but not yet acknowledged (count_written):
     * the block headers of the file are walked ahead of the reader. */
    int scan_fd;          /* the file, for pread; -1: not counting */
    int scan_stuck;       /* a header did not check: wait for the reader */
    sl_blk_fmt scan_fmt;  /* the file's format (version, block key) */
    uint64_t scan_off;    /* next header to look at */
    uint64_t scan_next;   /* block number after the last header walked */
    uint64_t read_next;   /* block number after the last block read */
    /* The stream held our blocks once (found or created by this process,
     * or a state file says blocks were acknowledged): a "not found" is
     * then first taken for a cluster still recovering its streams. */
    int stream_known;
    uint64_t missing_since_ns; /* first of consecutive "not found"s, or 0 */
    uint64_t last_log_ns;      /* when set_error last logged */
    uint64_t repeats;          /* the same error since it was logged */
};

int
sl_forward_available(void)
{
    return 1;
}

/* ---- small helpers ------------------------------------------------------- */

static char *
dup_str(const char *s)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = malloc(strlen(s) + 1);
    if (d != NULL)
        strcpy(d, s);
    return d;
}

static void
logf_(sl_forward *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
logf_(sl_forward *f, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    if (f->cfg.log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    f->cfg.log(f->cfg.log_ctx, line);
}

/* Records an error; logs it when it differs from the last one, so an
 * outage is one line, not one per retry; the same error still going on is
 * logged again every REPEAT_LOG_NS with how often it recurred, so a
 * forwarder that is stuck says so. Not under mu. */
static void
set_error(sl_forward *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_error(sl_forward *f, const char *fmt, ...)
{
    char msg[sizeof(f->st.last_error)];
    uint64_t now = sl_os_mono_ns();
    int changed;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* Server texts are ASCII; keep control bytes off the terminal anyway. */
    for (char *p = msg; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
            *p = '?';
    sl_mutex_lock(&f->mu);
    changed = strcmp(f->st.last_error, msg) != 0;
    memcpy(f->st.last_error, msg, sizeof(msg));
    f->st.errors++;
    sl_mutex_unlock(&f->mu);
    if (changed) {
        f->repeats = 0;
        f->last_log_ns = now;
        logf_(f, "forward: %s", msg);
    } else {
        f->repeats++;
        if (now - f->last_log_ns >= REPEAT_LOG_NS) {
            logf_(f, "forward: %s (%" PRIu64 " times in %" PRIu64 " s)",
                  msg, f->repeats + 1, (now - f->last_log_ns) / 1000000000u);
            f->repeats = 0;
            f->last_log_ns = now;
        }
    }
}

/* NATS subject matching: '*' one token, '>' the rest. */
static int
subject_matches(const char *pat, const char *subj)
{
    for (;;) {
        size_t pl = strcspn(pat, "."), sl = strcspn(subj, ".");

        if (pl == 1 && pat[0] == '>')
            return subj[0] != '\0';
        if (!(pl == 1 && pat[0] == '*') &&
            (pl != sl || memcmp(pat, subj, pl) != 0))
            return 0;
        pat += pl;
        subj += sl;
        if (*pat == '\0' || *subj == '\0')
            return *pat == '\0' && *subj == '\0';
        pat++;
        subj++;
    }
}

/* A subject token from a host or pipe name: NATS subjects are tokens of
 * printable characters without '.', '*', '>' or white space. */
static void
token(char *dst, size_t cap, const char *src)
{
    size_t n = 0;

    for (; *src != '\0' && n + 1 < cap; src++) {
        unsigned char c = (unsigned char)*src;

        dst[n++] = (c <= 0x20 || c >= 0x7f || c == '.' || c == '*' ||
                    c == '>') ? '_' : (char)c;
    }
    if (n == 0)
        dst[n++] = '_';
    dst[n] = '\0';
}

/* ---- the state file ------------------------------------------------------ */

typedef struct fwd_state {
    char id[SL_BLK_ID_MAX + 1];
    uint64_t chunk; /* a rotating set: the chunk next_* are of; 0: a file */
    uint64_t next_block;
    uint64_t next_offset;
    int done;
} fwd_state;

static int
state_read(const char *path, fwd_state *s)
{
    FILE *fp = fopen(path, "r");
    char line[128];
    int version = 0;

    memset(s, 0, sizeof(*s));
    if (fp == NULL)
        return SL_ENOENT;
    while (fgets(line, sizeof(line), fp) != NULL) {
        unsigned long long v;

        if (sscanf(line, "sluice-forward %d", &version) == 1)
            continue;
        if (sscanf(line, "capture %40s", s->id) == 1)
            continue;
        if (sscanf(line, "chunk %llu", &v) == 1)
            s->chunk = v;
        else if (sscanf(line, "next_block %llu", &v) == 1)
            s->next_block = v;
        else if (sscanf(line, "next_offset %llu", &v) == 1)
            s->next_offset = v;
        else if (sscanf(line, "done %llu", &v) == 1)
            s->done = v != 0;
    }
    fclose(fp);
    return version == 1 && s->id[0] != '\0' ? 0 : SL_ECORRUPT;
}

/* Written to a temporary name and renamed, so a crash leaves the old or
 * the new state, never half of one. */
static int
state_write(const char *path, const fwd_state *s)
{
    char tmp[4200];
    FILE *fp;
    int ok;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fp = fopen(tmp, "w");
    if (fp == NULL)
        return sl_err_from_errno(errno);
    fprintf(fp, "sluice-forward 1\ncapture %s\n", s->id);
    if (s->chunk != 0)
        fprintf(fp, "chunk %" PRIu64 "\n", s->chunk);
    fprintf(fp, "next_block %" PRIu64 "\nnext_offset %" PRIu64
            "\ndone %d\n", s->next_block, s->next_offset, s->done);
    ok = fflush(fp) == 0;
    ok = fclose(fp) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return SL_EIO;
    }
    return 0;
}

static void
save_state(sl_forward *f, int done, int force)
{
    fwd_state s;
    uint64_t now = sl_os_mono_ns();

    if (!force && f->acked_off == f->state_written_off)
        return;
    if (!force && now - f->state_written_ns < STATE_EVERY_NS)
        return;
    memset(&s, 0, sizeof(s));
    snprintf(s.id, sizeof(s.id), "%s", f->cur_id);
    s.chunk = f->cur_chunk;
    s.next_block = f->acked_block;
    s.next_offset = f->acked_off;
    s.done = done;
    if (state_write(f->state_path, &s) != 0)
        set_error(f, "cannot write the state file %s", f->state_path);
    f->state_written_off = f->acked_off;
    f->state_written_ns = now;
}

/* ---- backlog: captures moved aside, still to forward --------------------- */

static int
is_hex_id(const char *s, size_t n)
{
    if (n != 24 && n != 32) /* v1 and v2 capture ids */
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static int
path_exists(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0;
}

/* Moves the unforwarded chunks of the rotating set @p capture aside to the
 * set "<capture>.<id>", chunk k to chunk_name(<capture>.<id>, k), from
 * the state's chunk on, and the state with them. A state whose capture id
 * is not its chunk's is stale (an earlier capture of the same name) and
 * is left alone. @return 0, or rename's error. */
static int
move_set_aside(const char *capture, const char *st_path, const fwd_state *s,
               int (*chunk_name)(char *, size_t, const char *, uint64_t))
{
    char from[4200], to[4400], aside[4200], aside_st[4300];
    uint64_t first = s->chunk;
    sl_blk_reader *r;
    int same;

    /* Retention may have deleted the state's chunk just before the crash:
     * the set goes on at the next one. */
    for (;; first++) {
        if (first > s->chunk + 1)
            return 0;
        if (chunk_name(from, sizeof(from), capture, first) != 0)
            return SL_ENAMETOOLONG;
        if (path_exists(from))
            break;
    }
    if (sl_blk_open(from, &r) != 0)
        return 0;
    same = strcmp(sl_blk_capture_id(r), s->id) == 0;
    sl_blk_close(r);
    if (!same)
        return 0;
    snprintf(aside, sizeof(aside), "%s.%s", capture, s->id);
    snprintf(aside_st, sizeof(aside_st), "%s.fwd", aside);
    for (uint64_t k = first;; k++) {
        if (chunk_name(from, sizeof(from), capture, k) != 0 ||
            chunk_name(to, sizeof(to), aside, k) != 0)
            return SL_ENAMETOOLONG;
        if (!path_exists(from))
            break;
        if (rename(from, to) != 0)
            return sl_err_from_errno(errno);
    }
    if (rename(st_path, aside_st) != 0)
        return sl_err_from_errno(errno);
    return 0;
}

int
sl_forward_prepare(const char *capture, int move_aside,
                   int (*chunk_name)(char *, size_t, const char *, uint64_t),
                   char ***backlog, unsigned char **is_set, size_t *n)
{
    char st_path[4096], aside[4096], aside_st[4096], dir[4096];
    const char *base, *slash = strrchr(capture, '/');
    fwd_state s;
    char **list = NULL;
    unsigned char *sets = NULL;
    size_t len = 0, cap = 0, blen;
    DIR *d;
    struct dirent *de;

    *backlog = NULL;
    *is_set = NULL;
    *n = 0;
    snprintf(st_path, sizeof(st_path), "%s.fwd", capture);
    if (move_aside && chunk_name != NULL && state_read(st_path, &s) == 0 &&
        !s.done && s.chunk != 0) {
        int rc = move_set_aside(capture, st_path, &s, chunk_name);

        if (rc != 0)
            return rc;
    } else if (move_aside && chunk_name == NULL &&
               state_read(st_path, &s) == 0 && !s.done && s.chunk == 0) {
        sl_blk_reader *r;

        /* Only if the state is this file's: an old state beside a new
         * capture of the same name (written without --forward) is stale. */
        if (sl_blk_open(capture, &r) == 0) {
            int same = strcmp(sl_blk_capture_id(r), s.id) == 0;

            sl_blk_close(r);
            if (same) {
                snprintf(aside, sizeof(aside), "%s.%s", capture, s.id);
                snprintf(aside_st, sizeof(aside_st), "%s.%s.fwd", capture,
                         s.id);
                if (rename(capture, aside) != 0)
                    return sl_err_from_errno(errno);
                if (rename(st_path, aside_st) != 0)
                    return sl_err_from_errno(errno);
            }
        }
    }
    if (slash == NULL) {
        snprintf(dir, sizeof(dir), ".");
        base = capture;
    } else {
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - capture), capture);
        if (dir[0] == '\0')
            snprintf(dir, sizeof(dir), "/");
        base = slash + 1;
    }
    blen = strlen(base);
    d = opendir(dir);
    if (d == NULL)
        return 0;
    /* The state files FILE.<id>.fwd: of a file moved aside (FILE.<id>
     * beside it) or of a set moved aside (its state names a chunk). */
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        size_t nl = strlen(nm);
        char path[4400], sp[4500];

        if (strncmp(nm, base, blen) != 0 || nm[blen] != '.' ||
            nl < blen + 5 || strcmp(nm + nl - 4, ".fwd") != 0 ||
            !is_hex_id(nm + blen + 1, nl - blen - 5))
            continue;
        snprintf(path, sizeof(path), "%s/%.*s", dir, (int)(nl - 4), nm);
        snprintf(sp, sizeof(sp), "%s.fwd", path);
        if (state_read(sp, &s) != 0 || s.done)
            continue;
        if (s.chunk == 0 && !path_exists(path))
            continue;
        if (len == cap) {
            char **p = realloc(list, (cap = cap ? 2 * cap : 4) *
                                         sizeof(*p));
            unsigned char *q;

            if (p == NULL)
                goto nomem;
            list = p;
            q = realloc(sets, cap);
            if (q == NULL)
                goto nomem;
            sets = q;
        }
        if ((list[len] = dup_str(path)) == NULL)
            goto nomem;
        sets[len] = s.chunk != 0;
        len++;
    }
    closedir(d);
    /* v1 ids start with start_ns in hex, so name order is age order. */
    if (len > 1) {
        /* Sort names and their set flags together. */
        for (size_t i = 1; i < len; i++)
            for (size_t j = i; j > 0 && strcmp(list[j - 1], list[j]) > 0;
                 j--) {
                char *t = list[j];
                unsigned char u = sets[j];

                list[j] = list[j - 1];
                list[j - 1] = t;
                sets[j] = sets[j - 1];
                sets[j - 1] = u;
            }
    }
    *backlog = list;
    *is_set = sets;
    *n = len;
    return 0;
nomem:
    closedir(d);
    sl_forward_backlog_free(list, len);
    free(sets);
    return SL_ENOMEM;
}

void
sl_forward_backlog_free(char **backlog, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(backlog[i]);
    free(backlog);
}

/* ---- NATS ---------------------------------------------------------------- */

static void
ack_handler(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae,
            void *closure)
{
    sl_forward *f = closure;
    char err[160] = "";

    (void)js;
    sl_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->q_len; i++) {
        entry *e = &f->q[(f->q_head + i) % f->q_cap];

        if (e->msg != msg || e->state != E_SENT)
            continue;
        if (pa != NULL) {
            e->state = E_ACKED;
            if (pa->Duplicate)
                f->st.duplicates++;
        } else {
            e->state = E_FAILED;
            f->failed = 1;
            if (pae != NULL)
                snprintf(err, sizeof(err), "publish failed: %s",
                         pae->ErrText != NULL && pae->ErrText[0] != '\0'
                             ? pae->ErrText : natsStatus_GetText(pae->Err));
        }
        break;
    }
    /* Pairs with the forwarder's timed wait: an ack is its event. */
    sl_cond_signal(&f->cv);
    sl_mutex_unlock(&f->mu);
    natsMsg_Destroy(msg);
    if (err[0] != '\0')
        set_error(f, "%s", err);
}

static void
on_disconnect(natsConnection *nc, void *closure)
{
    sl_forward *f = closure;

    (void)nc;
    sl_mutex_lock(&f->mu);
    f->st.connected = 0;
    sl_mutex_unlock(&f->mu);
}

static void
on_reconnect(natsConnection *nc, void *closure)
{
    sl_forward *f = closure;

    (void)nc;
    sl_mutex_lock(&f->mu);
    f->st.connected = 1;
    sl_cond_signal(&f->cv);
    sl_mutex_unlock(&f->mu);
}

static int
build_options(sl_forward *f, char *err, size_t cap)
{
    int rc;

    if (natsOptions_Create(&f->opts) != NATS_OK) {
        snprintf(err, cap, "cannot create NATS options");
        return SL_ENOMEM;
    }
    rc = sl_nats_set_servers(f->opts, f->urls, "--forward", err, cap);
    if (rc != 0)
        return rc;
    natsOptions_SetNoRandomize(f->opts, true);
    natsOptions_SetTimeout(f->opts, 2000);
    natsOptions_SetMaxReconnect(f->opts, -1);
    natsOptions_SetReconnectWait(f->opts, 250);
    natsOptions_SetName(f->opts, "sluice-collector");
    natsOptions_SetDisconnectedCB(f->opts, on_disconnect, f);
    natsOptions_SetReconnectedCB(f->opts, on_reconnect, f);
    if (f->creds != NULL &&
        (rc = sl_nats_set_creds(f->opts, f->creds, "--forward-creds", err,
                                cap)) != 0)
        return rc;
    if (f->tls_ca != NULL &&
        (rc = sl_nats_set_tls_ca(f->opts, f->tls_ca, "--forward-tls-ca", err,
                                 cap)) != 0)
        return rc;
    return 0;
}

static void
disconnect(sl_forward *f)
{
    jsCtx_Destroy(f->js);
    f->js = NULL;
    if (f->nc != NULL) {
        natsConnection_Close(f->nc);
        natsConnection_Destroy(f->nc);
    }
    f->nc = NULL;
}

/* Creates the stream, or checks that it takes our subject (adding it when
 * it does not). @return 0, or -1 with the error recorded. */
static int
ensure_stream(sl_forward *f)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s;

    for (int attempt = 0; attempt < 5; attempt++) {
        s = js_GetStreamInfo(&si, f->js, f->stream, NULL, &jerr);
        if (s == NATS_NOT_FOUND && f->stream_known) {
            uint64_t now = sl_os_mono_ns();

            if (f->missing_since_ns == 0)
                f->missing_since_ns = now;
            if (now - f->missing_since_ns < KNOWN_MISSING_NS) {
                set_error(f, "stream %s not found although it holds blocks "
                          "of this capture: waiting up to %llu s for the "
                          "cluster to recover it before creating it again",
                          f->stream,
                          (unsigned long long)(KNOWN_MISSING_NS /
                                               1000000000u));
                return -1;
            }
            logf_(f, "forward: stream %s still not found after %llu s: "
                  "creating it again", f->stream,
                  (unsigned long long)(KNOWN_MISSING_NS / 1000000000u));
        }
        if (s == NATS_NOT_FOUND) {
            jsStreamConfig sc;
            const char *subjects[1];
            char **servers = NULL;
            int count = 0;
            char wide[64];

            jsStreamConfig_Init(&sc);
            sc.Name = f->stream;
            /* For the default subjects, one stream takes every host's. */
            if (strncmp(f->subject, "sluice.", 7) == 0) {
                snprintf(wide, sizeof(wide), "sluice.>");
                subjects[0] = wide;
            } else {
                subjects[0] = f->subject;
            }
            sc.Subjects = subjects;
            sc.SubjectsLen = 1;
            sc.Storage = js_FileStorage;
            sc.Duplicates = DUPLICATE_WINDOW_NS;
            sc.Replicas = f->cfg.replicas;
            if (sc.Replicas == 0) {
                if (natsConnection_GetServers(f->nc, &servers, &count) ==
                    NATS_OK) {
                    for (int i = 0; i < count; i++)
                        free(servers[i]);
                    free(servers);
                }
                sc.Replicas = count >= 3 ? 3 : 1;
            }
            s = js_AddStream(&si, f->js, &sc, NULL, &jerr);
            if (s == NATS_OK) {
                logf_(f, "forward: created stream %s (subjects %s, file "
                      "storage, %d replicas)", f->stream, subjects[0],
                      (int)sc.Replicas);
                f->stream_known = 1;
                f->missing_since_ns = 0;
                jsStreamInfo_Destroy(si);
                return 0;
            }
            if (jerr == JSStreamNameExistErr)
                continue;
            set_error(f, "cannot create stream %s: %s", f->stream,
                      sl_nats_text(s));
            return -1;
        }
        if (s != NATS_OK) {
            set_error(f, "stream %s: %s", f->stream, sl_nats_text(s));
            return -1;
        }
        f->stream_known = 1;
        f->missing_since_ns = 0;
        for (int i = 0; i < si->Config->SubjectsLen; i++)
            if (subject_matches(si->Config->Subjects[i], f->subject)) {
                jsStreamInfo_Destroy(si);
                return 0;
            }
        {
            /* Take our subject too. Two collectors may do this at once;
             * the loop checks again, so neither subject is lost. */
            int n = si->Config->SubjectsLen;
            const char **orig = si->Config->Subjects;
            const char **subs = malloc((size_t)(n + 1) * sizeof(*subs));
            jsStreamInfo *si2 = NULL;

            if (subs == NULL) {
                jsStreamInfo_Destroy(si);
                return -1;
            }
            memcpy(subs, orig, (size_t)n * sizeof(*subs));
            subs[n] = f->subject;
            si->Config->Subjects = subs;
            si->Config->SubjectsLen = n + 1;
            s = js_UpdateStream(&si2, f->js, si->Config, NULL, &jerr);
            jsStreamInfo_Destroy(si2);
            /* The library frees its own array and strings, not ours. */
            si->Config->Subjects = orig;
            si->Config->SubjectsLen = n;
            free(subs);
            jsStreamInfo_Destroy(si);
            si = NULL;
            if (s != NATS_OK) {
                set_error(f, "stream %s does not take subject %s and "
                          "cannot be updated: %s", f->stream, f->subject,
                          sl_nats_text(s));
                return -1;
            }
        }
    }
    set_error(f, "stream %s: could not be set up", f->stream);
    return -1;
}

/* @return 0 when connected with a usable stream. */
static int
connect_nats(sl_forward *f)
{
    jsOptions jo;
    natsStatus s;
    char url[256] = "";

    s = natsConnection_Connect(&f->nc, f->opts);
    if (s != NATS_OK) {
        set_error(f, "cannot connect to %s: %s", f->cfg.urls, sl_nats_text(s));
        f->nc = NULL;
        return -1;
    }
    jsOptions_Init(&jo);
    jo.Wait = 3000;
    /* Our own bound (q_cap) is always the tighter one: the library never
     * stalls a publish. */
    jo.PublishAsync.MaxPending = (int64_t)f->q_cap + 1;
    jo.PublishAsync.AckHandler = ack_handler;
    jo.PublishAsync.AckHandlerClosure = f;
    s = natsConnection_JetStream(&f->js, f->nc, &jo);
    if (s != NATS_OK) {
        set_error(f, "JetStream: %s", sl_nats_text(s));
        disconnect(f);
        return -1;
    }
    if (ensure_stream(f) != 0) {
        disconnect(f);
        return -1;
    }
    f->max_payload = natsConnection_GetMaxPayload(f->nc);
    natsConnection_GetConnectedUrl(f->nc, url, sizeof(url));
    sl_mutex_lock(&f->mu);
    f->st.connected = 1;
    f->st.last_error[0] = '\0';
    sl_mutex_unlock(&f->mu);
    logf_(f, "forward: connected to %s, stream %s, subject %s", url,
          f->stream, f->subject);
    return 0;
}

/* ---- the forwarding loop ------------------------------------------------- */

/* Drops everything in flight; forwarding goes on at the first block not
 * acknowledged. */
static void
rewind_inflight(sl_forward *f)
{
    natsMsgList pending;

    if (f->js != NULL &&
        js_PublishAsyncGetPendingList(&pending, f->js) == NATS_OK)
        natsMsgList_Destroy(&pending);
    sl_mutex_lock(&f->mu);
    f->q_head = 0;
    f->q_len = 0;
    f->failed = 0;
    sl_mutex_unlock(&f->mu);
    sl_blk_seek(f->rd, f->acked_off);
    f->read_next = f->acked_block;
}

/* Retires acknowledged blocks from the head, in file order. Under mu. */
static void
retire(sl_forward *f)
{
    /* The chunk is gone (--max-total): what is acknowledged from now on
     * was counted as expired unforwarded; the forwarder leaves it. */
    if (f->fwd_chunk != 0 && f->expired_upto >= f->fwd_chunk)
        return;
    while (f->q_len > 0) {
        entry *e = &f->q[f->q_head];
        size_t k;

        /* A block retires when all its parts are acked; they are
         * consecutive entries. */
        for (k = 0; k < e->nparts && k < f->q_len; k++)
            if (f->q[(f->q_head + k) % f->q_cap].state != E_ACKED)
                return;
        if (k < e->nparts)
            return;
        f->acked_off = e->offset + e->block_len;
        f->acked_block = e->block + 1;
        f->mu_acked_block = f->acked_block;
        f->st.forwarded_blocks++;
        f->st.forwarded_bytes += e->block_len;
        if (f->st.pending_blocks > 0)
            f->st.pending_blocks--;
        f->q_head = (f->q_head + k) % f->q_cap;
        f->q_len -= k;
    }
}

static void
hex(char *dst, const uint8_t *src, size_t n)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        dst[2 * i] = digits[src[i] >> 4];
        dst[2 * i + 1] = digits[src[i] & 15];
    }
    dst[2 * n] = '\0';
}

/* Publishes one block, in parts when it exceeds the max payload: all of
 * them when they fit within cfg.inflight with what is in flight, or when
 * nothing is (a block of more parts than that goes alone).
 * @return 0; 1 no room yet (nothing sent); -1 the round failed (the caller
 *         rewinds). */
static int
publish_block(sl_forward *f, const sl_blk *b)
{
    int64_t room = f->max_payload - 1024 - (int64_t)strlen(f->hdr_hex);
    uint32_t part_len, nparts;
    const char *id = sl_blk_capture_id(f->rd);
    char msgid[128], num[32], partv[32];

    if (room < 4096)
        room = 4096;
    part_len = (uint32_t)room;
    nparts = (b->len + part_len - 1) / part_len;
    sl_mutex_lock(&f->mu);
    if (f->q_len > 0 && f->q_len + nparts > f->cfg.inflight) {
        sl_mutex_unlock(&f->mu);
        return 1;
    }
    sl_mutex_unlock(&f->mu);
    for (uint32_t i = 0; i < nparts; i++) {
        uint32_t off = i * part_len;
        uint32_t len = b->len - off < part_len ? b->len - off : part_len;
        natsMsg *m = NULL;
        jsPubOptions po;
        entry *e;
        natsStatus s;

        s = natsMsg_Create(&m, f->subject, NULL, (const char *)b->bytes + off,
                           (int)len);
        if (s != NATS_OK)
            return -1;
        if (nparts == 1)
            snprintf(msgid, sizeof(msgid), "%s.%" PRIu64 ".%" PRIu64, id,
                     sl_blk_chunk(f->rd), b->seq);
        else
            snprintf(msgid, sizeof(msgid), "%s.%" PRIu64 ".%" PRIu64 ".%u",
                     id, sl_blk_chunk(f->rd), b->seq, i);
        natsMsgHeader_Set(m, "Sluice-Capture", id);
        snprintf(num, sizeof(num), "%" PRIu64, sl_blk_chunk(f->rd));
        natsMsgHeader_Set(m, "Sluice-Chunk", num);
        snprintf(num, sizeof(num), "%" PRIu64, b->seq);
        natsMsgHeader_Set(m, "Sluice-Block", num);
        snprintf(num, sizeof(num), "%" PRIu64, b->offset);
        natsMsgHeader_Set(m, "Sluice-Offset", num);
        natsMsgHeader_Set(m, "Sluice-Host", f->host);
        snprintf(partv, sizeof(partv), "%u/%u", i, nparts);
        natsMsgHeader_Set(m, "Sluice-Part", partv);
        if (i == 0)
            natsMsgHeader_Set(m, "Sluice-Header", f->hdr_hex);
        jsPubOptions_Init(&po);
        po.MsgId = msgid;

        sl_mutex_lock(&f->mu);
        e = &f->q[(f->q_head + f->q_len) % f->q_cap];
        e->msg = m;
        e->block = b->seq;
        e->offset = b->offset;
        e->block_len = b->len;
        e->part = i;
        e->nparts = nparts;
        e->sent_ns = sl_os_mono_ns();
        e->state = E_SENT;
        f->q_len++;
        sl_mutex_unlock(&f->mu);

        s = js_PublishMsgAsync(f->js, &m, &po);
        if (s != NATS_OK) {
            natsMsg_Destroy(m);
            sl_mutex_lock(&f->mu);
            e->state = E_FAILED;
            e->msg = NULL;
            f->failed = 1;
            sl_mutex_unlock(&f->mu);
            set_error(f, "publish failed: %s", sl_nats_text(s));
            return -1;
        }
    }
    return 0;
}

static uint64_t
file_size(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/*
 * Walks the block headers written since the last call (at most SCAN_MAX):
 * one pread of a header per block, its length and block number from the
 * header, checked as the block reader checks a candidate (version 2: its
 * fields and keyed tag at its offset; version 1: magic and a plausible
 * length). Bodies are neither read nor checksummed here: this only
 * counts (the writer does not tell the forwarder what it wrote, as it must
 * never wait for it). A header that does not check is damage the reader
 * will skip: the walk waits until the reader has passed it.
 */
static void
count_written(sl_forward *f, uint64_t size)
{
    int v2 = f->scan_fmt.version == SL_CAP2_VERSION;
    size_t hl = v2 ? SL_CAP2_BLOCK_HDR : SL_CAP_BLOCK_HDR;
    uint8_t h[SL_CAP2_BLOCK_HDR];

    if (f->scan_fd < 0)
        return;
    if (f->rd != NULL && sl_blk_pos(f->rd) > f->scan_off) {
        /* The reader is ahead (it skipped damage, or the walk started
         * late): go on from where it is. */
        f->scan_off = sl_blk_pos(f->rd);
        if (f->read_next > f->scan_next)
            f->scan_next = f->read_next;
        f->scan_stuck = 0;
    }
    for (int n = 0; n < SCAN_MAX && !f->scan_stuck &&
                    f->scan_off + hl <= size; n++) {
        uint32_t len = 0;

        if (pread(f->scan_fd, h, hl, (off_t)f->scan_off) != (ssize_t)hl)
            return;
        if (v2)
            len = sl_cap2_block_header_len(f->scan_fmt.key, h, f->scan_off);
        else if (sl_load_le32(h) == SL_CAP_BLOCK_MAGIC &&
                 sl_cap_block_len_plausible(sl_load_le32(h + 4)))
            len = sl_load_le32(h + 4);
        if (len == 0) {
            f->scan_stuck = 1;
            return;
        }
        if (f->scan_off + len > size)
            return; /* still being written */
        f->scan_off += len;
        f->scan_next = sl_load_le64(h + 8) + 1;
    }
}

/* The pending figures: bytes of this file (and the later ones) not yet
 * acknowledged, and this file's whole blocks written but not yet
 * acknowledged (in flight or not yet sent). */
/* 1 when @p path is a chunk of the capture being forwarded (its header is
 * whole and has this capture's id). A chunk file of an earlier capture of
 * the same name (--force) is not, until the writer replaces it. */
static int
chunk_is_ours(const sl_forward *f, const char *path)
{
    sl_blk_reader *r;
    int ours;

    if (sl_blk_open(path, &r) != 0)
        return 0;
    ours = strcmp(sl_blk_capture_id(r), f->cur_id) == 0;
    sl_blk_close(r);
    return ours;
}

/* Bytes of the live set's chunks after the one being forwarded, counted
 * again at most every 0.2 s (one stat per chunk). */
static uint64_t
later_chunks_bytes(sl_forward *f)
{
    uint64_t now = sl_os_mono_ns(), sum = 0;
    char name[4200];

    if (f->fwd_chunk == 0 || f->set_pattern == NULL)
        return 0;
    if (f->later_ns != 0 && now - f->later_ns < 200000000u)
        return f->later_bytes;
    for (uint64_t k = f->cur_chunk + 1;; k++) {
        struct stat sb;

        if (f->cfg.chunk_name(name, sizeof(name), f->set_pattern, k) != 0 ||
            stat(name, &sb) != 0 || !chunk_is_ours(f, name))
            break;
        sum += (uint64_t)sb.st_size;
    }
    f->later_bytes = sum;
    f->later_ns = now;
    return sum;
}

static void
update_pending_bytes(sl_forward *f)
{
    uint64_t size = file_size(f->path);
    uint64_t p = size > f->acked_off ? size - f->acked_off : 0;
    uint64_t written;

    p += later_chunks_bytes(f);
    count_written(f, size);
    written = f->scan_next > f->read_next ? f->scan_next : f->read_next;
    sl_mutex_lock(&f->mu);
    f->st.pending_bytes = p + f->backlog_bytes;
    f->st.pending_blocks =
        written > f->acked_block ? written - f->acked_block : 0;
    sl_mutex_unlock(&f->mu);
}

/* Sleeps until an ack, a finish request or timeout_ns. */
static void
wait_event(sl_forward *f, uint64_t timeout_ns)
{
    sl_mutex_lock(&f->mu);
    if (!f->stop_now)
        sl_cond_timedwait(&f->cv, &f->mu, timeout_ns);
    sl_mutex_unlock(&f->mu);
}

/* The chunk being forwarded is over: the next one exists (the writer
 * closes and syncs a chunk before it creates the next), or --max-total
 * deleted a later one. Forwarder thread. */
static int
chunk_over(sl_forward *f)
{
    uint64_t upto;

    if (f->cur_chunk == 0)
        return 0;
    sl_mutex_lock(&f->mu);
    upto = f->expired_upto;
    sl_mutex_unlock(&f->mu);
    /* Once the next chunk is ours it stays so: one header read. */
    if (!f->next_ours)
        f->next_ours = chunk_is_ours(f, f->next_path);
    return upto > f->cur_chunk || f->next_ours;
}

/* Forwards one file until its end (a finished file, or the live capture
 * once finishing; a chunk of the live set once the next one exists).
 * @return 0 done, 1 stopped before the end, 2 the chunk was deleted
 * (--max-total) before it was all acknowledged. */
static int
forward_file(sl_forward *f, int live)
{
    uint64_t last_try = 0, fail_ns = 0, stuck_mark = 0;
    int stuck = 0;

    for (;;) {
        int finishing, stop_now, failed, timed_out = 0, expired, ended;
        uint64_t forwarded;
        size_t q_len;
        sl_blk b;
        int rc;

        sl_mutex_lock(&f->mu);
        retire(f);
        finishing = f->finishing;
        stop_now = f->stop_now;
        expired = f->fwd_chunk != 0 && f->expired_upto >= f->fwd_chunk;
        failed = f->failed;
        q_len = f->q_len;
        forwarded = f->st.forwarded_blocks;
        if (q_len > 0 &&
            sl_os_mono_ns() - f->q[f->q_head].sent_ns > ACK_TIMEOUT_NS)
            timed_out = 1;
        sl_mutex_unlock(&f->mu);
        if (expired) {
            /* Drop what is in flight: acknowledgements from now on do not
             * count (retire), the blocks were counted as expired. */
            rewind_inflight(f);
            return 2;
        }
        save_state(f, 0, 0);
        update_pending_bytes(f);
        if (stop_now)
            return 1;

        if (f->nc == NULL) {
            uint64_t now = sl_os_mono_ns();

            if (now - last_try < RETRY_NS) {
                wait_event(f, RETRY_NS - (now - last_try));
                continue;
            }
            last_try = now;
            if (connect_nats(f) != 0)
                continue;
        }
        if (failed || timed_out) {
            if (timed_out)
                set_error(f, "no acknowledgement within %llu s; sending "
                          "again from block %" PRIu64,
                          (unsigned long long)(ACK_TIMEOUT_NS / 1000000000u),
                          f->acked_block);
            rewind_inflight(f);
            fail_ns = sl_os_mono_ns();
            /* Rounds that time out with no acknowledgement between them:
             * the connection (or the stream behind it) is stuck, not slow.
             * A new connection checks the stream again. */
            if (timed_out) {
                stuck = stuck > 0 && forwarded == stuck_mark ? stuck + 1 : 1;
                stuck_mark = forwarded;
                if (stuck >= STUCK_ROUNDS) {
                    set_error(f, "no acknowledgement in %d rounds; "
                              "connecting again", STUCK_ROUNDS);
                    disconnect(f);
                    stuck = 0;
                }
            }
            continue;
        }
        if (fail_ns != 0 && sl_os_mono_ns() - fail_ns < RETRY_NS) {
            /* Do not spin on a stream that refuses every message. */
            wait_event(f, RETRY_NS);
            continue;
        }
        fail_ns = 0;
        if (natsConnection_Status(f->nc) == NATS_CONN_STATUS_CLOSED) {
            /* The library gave up on this connection: start a new one
             * (what was in flight is sent again from the file). */
            set_error(f, "connection closed; reconnecting");
            rewind_inflight(f);
            disconnect(f);
            continue;
        }
        if (natsConnection_Status(f->nc) != NATS_CONN_STATUS_CONNECTED) {
            wait_event(f, POLL_NS * 5);
            continue;
        }
        if (q_len >= f->cfg.inflight) {
            wait_event(f, POLL_NS * 10);
            continue;
        }
        /* Whether the file is complete is decided before reading it: a
         * read after that sees every block it will ever have. */
        ended = !live || finishing || chunk_over(f);
        rc = sl_blk_next(f->rd, &b);
        if (rc < 0) {
            set_error(f, "reading %s: %s", f->path, sl_strerror(rc));
            wait_event(f, RETRY_NS);
            continue;
        }
        if (rc == 1) {
            if (ended && q_len == 0)
                return 0;
            wait_event(f, POLL_NS);
            continue;
        }
        rc = publish_block(f, &b);
        if (rc == 0 && b.seq + 1 > f->read_next)
            f->read_next = b.seq + 1;
        if (rc == 1) {
            /* Read again once acknowledgements have made room. */
            sl_blk_seek(f->rd, b.offset);
            wait_event(f, POLL_NS * 10);
        }
        /* On -1 the next round sees f->failed. */
    }
}

/* Forwards one file: @p path, with the state in @p state_path; @p chunk
 * is its chunk number in a set (0: a file alone) and @p in_live_set says
 * it is a chunk of the live set. A state applies when it names this
 * capture id (and this chunk). @return 0 done, 1 stopped, 2 the chunk was
 * deleted before it was all acknowledged, 3 the file cannot be read
 * (logged), -1 out of memory. */
static int
forward_path(sl_forward *f, const char *path, const char *state_path,
             uint64_t chunk, int live, int in_live_set)
{
    fwd_state s;
    size_t hlen;
    const uint8_t *hdr;
    int rc, stopped;

    f->path = path;
    f->cur_chunk = chunk;
    snprintf(f->state_path, sizeof(f->state_path), "%s", state_path);
    if (chunk != 0 &&
        f->cfg.chunk_name(f->next_path, sizeof(f->next_path),
                          f->set_pattern, chunk + 1) != 0)
        f->next_path[0] = '\0';
    f->later_ns = 0;
    f->next_ours = 0;
    /* The writer creates the live file before this thread starts (and a
     * chunk before it writes its header), but may not have written the
     * header yet. */
    while ((rc = sl_blk_open(f->path, &f->rd)) == SL_ETRUNC ||
           (rc == SL_ENOENT && in_live_set)) {
        int stop, gone;

        if (!live)
            break;
        sl_mutex_lock(&f->mu);
        stop = f->stop_now;
        gone = in_live_set && f->expired_upto >= chunk;
        sl_mutex_unlock(&f->mu);
        if (stop)
            return 1;
        if (gone)
            return 2;
        wait_event(f, POLL_NS);
    }
    if (rc == SL_ETRUNC && !live && chunk != 0)
        return 0; /* a chunk a crash left without its whole header */
    if (rc != 0) {
        set_error(f, "cannot read %s: %s", f->path, sl_strerror(rc));
        return 3;
    }
    snprintf(f->cur_id, sizeof(f->cur_id), "%s", sl_blk_capture_id(f->rd));
    f->acked_off = sl_blk_pos(f->rd);
    f->acked_block = 0;
    if (state_read(f->state_path, &s) == 0 && s.chunk == chunk &&
        strcmp(s.id, f->cur_id) == 0) {
        if (s.done) {
            sl_blk_close(f->rd);
            f->rd = NULL;
            return 0;
        }
        /* A state written between two chunks says offset 0: the start. */
        if (s.next_offset >= f->acked_off &&
            sl_blk_seek(f->rd, s.next_offset) == 0) {
            f->acked_off = s.next_offset;
            f->acked_block = s.next_block;
            if (s.next_block > 0)
                f->stream_known = 1;
        }
    }
    sl_mutex_lock(&f->mu);
    f->mu_acked_block = f->acked_block;
    sl_mutex_unlock(&f->mu);
    if (f->host == NULL)
        f->host = dup_str(sl_blk_host(f->rd));
    if (f->subject == NULL) {
        char h[128], p[128];

        token(h, sizeof(h), f->host != NULL ? f->host : "_");
        token(p, sizeof(p), sl_blk_pipe(f->rd));
        snprintf(f->subj_buf, sizeof(f->subj_buf), "sluice.%s.%s", h, p);
        f->subject = dup_str(f->subj_buf);
    }
    hdr = sl_blk_header(f->rd, &hlen);
    free(f->hdr_hex);
    f->hdr_hex = malloc(2 * hlen + 1);
    if (f->host == NULL || f->subject == NULL || f->hdr_hex == NULL) {
        set_error(f, "out of memory");
        sl_blk_close(f->rd);
        f->rd = NULL;
        return -1;
    }
    hex(f->hdr_hex, hdr, hlen);
    f->scan_fmt = *sl_blk_format(f->rd);
    f->scan_off = f->acked_off;
    f->scan_next = f->read_next = f->acked_block;
    f->scan_stuck = 0;
    f->scan_fd = open(f->path, O_RDONLY | O_CLOEXEC);
    f->state_written_off = UINT64_MAX;
    save_state(f, 0, 1);
    rc = forward_file(f, live);
    stopped = rc == 1;
    /* A chunk of a set is recorded done with the set (forward_set). */
    if (rc != 2)
        save_state(f, !stopped && chunk == 0, 1);
    update_pending_bytes(f);
    if (f->scan_fd >= 0)
        close(f->scan_fd);
    f->scan_fd = -1;
    sl_blk_close(f->rd);
    f->rd = NULL;
    return rc;
}

/* Forwards the rotating set @p pattern chunk by chunk, in order, from the
 * chunk its state names (chunk 1 without one). The live set ends once the
 * capture is finished and its last chunk is forwarded; a set moved aside
 * at its last chunk file. @return 0 done, 1 stopped, -1 out of memory. */
static int
forward_set(sl_forward *f, const char *pattern, int live)
{
    char st_path[4200], path[4200];
    fwd_state s;
    uint64_t k = 1;

    snprintf(st_path, sizeof(st_path), "%s.fwd", pattern);
    f->set_pattern = pattern;
    /* The live set is always a new capture, from its chunk 1 (the sink
     * has just created it; a state there is an earlier capture's). A set
     * moved aside goes on at its state's chunk. */
    if (!live && state_read(st_path, &s) == 0 && s.chunk != 0) {
        if (s.done)
            return 0;
        k = s.chunk;
    }
    for (int misses = 0;; k++) {
        int rc, finishing;

        if (live) {
            sl_mutex_lock(&f->mu);
            if (f->expired_upto >= k)
                k = f->expired_upto + 1;
            f->fwd_chunk = k;
            f->mu_acked_block = 0; /* forward_path() sets a resumed one */
            sl_mutex_unlock(&f->mu);
        }
        if (f->cfg.chunk_name(path, sizeof(path), pattern, k) != 0) {
            set_error(f, "chunk %" PRIu64 " of %s: name too long", k,
                      pattern);
            return 0;
        }
        if (!live && !path_exists(path)) {
            /* The end of a set moved aside (its state's chunk may have
             * been deleted just before the crash: look one further). */
            if (++misses > 1)
                break;
            continue;
        }
        rc = forward_path(f, path, st_path, k, live, live);
        f->path = NULL; /* path is this function's */
        if (rc == 1 || rc < 0)
            return rc;
        if (rc == 2)
            logf_(f, "forward: chunk %" PRIu64 " of %s was deleted "
                  "(--max-total) before all its blocks were acknowledged; "
                  "going on with the next", k, pattern);
        sl_mutex_lock(&f->mu);
        finishing = f->finishing;
        sl_mutex_unlock(&f->mu);
        if (live && finishing) {
            char next[4200];

            /* Finished: the last chunk is the one without a next. */
            if (f->cfg.chunk_name(next, sizeof(next), pattern, k + 1) != 0 ||
                !chunk_is_ours(f, next))
                break;
        }
        /* Between chunks: the next one from its start. */
        {
            fwd_state ns;

            memset(&ns, 0, sizeof(ns));
            snprintf(ns.id, sizeof(ns.id), "%s", f->cur_id);
            ns.chunk = k + 1;
            if (ns.id[0] != '\0' && state_write(st_path, &ns) != 0)
                set_error(f, "cannot write the state file %s", st_path);
        }
    }
    /* The whole set is forwarded: its state says done. */
    {
        fwd_state ns;

        memset(&ns, 0, sizeof(ns));
        snprintf(ns.id, sizeof(ns.id), "%s", f->cur_id);
        ns.chunk = k;
        ns.done = 1;
        if (ns.id[0] != '\0' && state_write(st_path, &ns) != 0)
            set_error(f, "cannot write the state file %s", st_path);
    }
    return 0;
}

static void
thread_main(void *arg)
{
    sl_forward *f = arg;
    int stopped = 0;

    for (size_t i = 0; i < f->n_files && !stopped; i++) {
        int live = i + 1 == f->n_files;
        int rc;

        f->backlog_bytes = 0;
        for (size_t k = i + 1; k + 1 < f->n_files; k++)
            f->backlog_bytes += file_size(f->files[k]);
        if (f->file_set[i]) {
            rc = forward_set(f, f->files[i], live);
        } else {
            char st[4200];

            snprintf(st, sizeof(st), "%s.fwd", f->files[i]);
            f->set_pattern = NULL;
            rc = forward_path(f, f->files[i], st, 0, live, 0);
        }
        if (rc < 0) {
            stopped = 1;
            break;
        }
        stopped = rc == 1;
    }
    if (f->js != NULL) {
        jsPubOptions po;

        jsPubOptions_Init(&po);
        po.MaxWait = 100;
        js_PublishAsyncComplete(f->js, &po);
    }
    disconnect(f);
    sl_mutex_lock(&f->mu);
    f->all_acked = !stopped;
    f->done = 1;
    f->st.connected = 0;
    sl_cond_broadcast(&f->cv);
    sl_mutex_unlock(&f->mu);
}

/* ---- the public interface ------------------------------------------------ */

int
sl_forward_open(const sl_forward_config *cfg, sl_forward **out, char *err,
                size_t err_cap)
{
    sl_forward *f;
    char dummy[8];
    char **backlog = NULL;
    unsigned char *sets = NULL;
    size_t n = 0;
    int rc;

    if (err == NULL) {
        err = dummy;
        err_cap = sizeof(dummy);
    }
    err[0] = '\0';
    if (cfg->inflight == 0 || cfg->urls == NULL || cfg->stream == NULL ||
        cfg->capture == NULL) {
        snprintf(err, err_cap, "forwarder: missing option");
        return SL_EINVAL;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        return SL_ENOMEM;
    f->cfg = *cfg;
    f->scan_fd = -1;
    sl_mutex_init(&f->mu);
    sl_cond_init(&f->cv);
    f->urls = dup_str(cfg->urls);
    f->subject = dup_str(cfg->subject);
    f->stream = dup_str(cfg->stream);
    f->creds = dup_str(cfg->creds_path);
    f->tls_ca = dup_str(cfg->tls_ca);
    f->host = dup_str(cfg->host);
    /* A part is at least 4096 bytes (publish_block), so a block (at most
     * SL_CAP_BLOCK_MAX) has at most this many. */
    f->q_cap = cfg->inflight + SL_CAP_BLOCK_MAX / 4096u + 1;
    f->q = calloc(f->q_cap, sizeof(*f->q));
    rc = SL_ENOMEM;
    if (f->urls == NULL || f->stream == NULL || f->q == NULL)
        goto fail;
    rc = build_options(f, err, err_cap);
    if (rc != 0)
        goto fail;
    rc = sl_forward_prepare(cfg->capture, cfg->move_aside, cfg->chunk_name,
                            &backlog, &sets, &n);
    if (rc != 0) {
        snprintf(err, err_cap, "cannot move the unforwarded capture %s "
                 "aside: %s", cfg->capture, sl_strerror(rc));
        goto fail;
    }
    /* The backlog array becomes the file list, the live capture last. */
    rc = SL_ENOMEM;
    {
        char **p = realloc(backlog, (n + 1) * sizeof(*p));
        unsigned char *q;

        if (p == NULL) {
            sl_forward_backlog_free(backlog, n);
            free(sets);
            goto fail;
        }
        f->files = p;
        f->n_files = n;
        q = realloc(sets, n + 1);
        if (q == NULL) {
            free(sets);
            goto fail;
        }
        f->file_set = q;
        f->file_set[n] = cfg->chunk_name != NULL;
        if ((f->files[f->n_files] = dup_str(cfg->capture)) == NULL)
            goto fail;
        f->n_files++;
    }
    for (size_t i = 0; i + 1 < f->n_files; i++)
        logf_(f, "forward: %s has blocks not yet forwarded; forwarding them "
              "first", f->files[i]);
    *out = f;
    return 0;
fail:
    sl_forward_close(f);
    return rc;
}

int
sl_forward_start(sl_forward *f)
{
    return sl_os_thread_start(thread_main, f, &f->thr);
}

void
sl_forward_get_stats(sl_forward *f, sl_forward_stats *out)
{
    sl_mutex_lock(&f->mu);
    *out = f->st;
    sl_mutex_unlock(&f->mu);
}

int
sl_forward_chunk_forwarded(sl_forward *f, uint64_t chunk)
{
    int yes;

    sl_mutex_lock(&f->mu);
    yes = f->fwd_chunk > chunk;
    sl_mutex_unlock(&f->mu);
    return yes;
}

uint64_t
sl_forward_chunk_expire(sl_forward *f, uint64_t chunk, uint64_t blocks)
{
    uint64_t lost;

    sl_mutex_lock(&f->mu);
    if (f->fwd_chunk > chunk)
        lost = 0;
    else if (f->fwd_chunk == chunk)
        lost = blocks > f->mu_acked_block ? blocks - f->mu_acked_block : 0;
    else
        lost = blocks;
    /* retire() acknowledges nothing more of it from now on, so a block is
     * either forwarded or counted here, never both. */
    if (chunk > f->expired_upto)
        f->expired_upto = chunk;
    f->st.expired_unforwarded += lost;
    sl_cond_signal(&f->cv);
    sl_mutex_unlock(&f->mu);
    return lost;
}

uint64_t
sl_forward_expired(sl_forward *f)
{
    uint64_t n;

    sl_mutex_lock(&f->mu);
    n = f->st.expired_unforwarded;
    sl_mutex_unlock(&f->mu);
    return n;
}

int
sl_forward_finish(sl_forward *f)
{
    uint64_t start = sl_os_mono_ns();
    int ok;

    sl_mutex_lock(&f->mu);
    f->finishing = 1;
    sl_cond_signal(&f->cv);
    while (!f->done) {
        uint64_t now = sl_os_mono_ns();

        if (now - start >= f->cfg.drain_ns) {
            f->stop_now = 1;
            sl_cond_broadcast(&f->cv);
            break;
        }
        /* The thread broadcasts when it ends. */
        sl_cond_timedwait(&f->cv, &f->mu, f->cfg.drain_ns - (now - start));
    }
    sl_mutex_unlock(&f->mu);
    if (f->thr != NULL) {
        sl_os_thread_join(f->thr);
        f->thr = NULL;
    }
    sl_mutex_lock(&f->mu);
    ok = f->all_acked;
    sl_mutex_unlock(&f->mu);
    return ok ? 0 : SL_ETIMEDOUT;
}

void
sl_forward_close(sl_forward *f)
{
    if (f == NULL)
        return;
    if (f->thr != NULL) {
        sl_mutex_lock(&f->mu);
        f->stop_now = 1;
        f->finishing = 1;
        sl_cond_broadcast(&f->cv);
        sl_mutex_unlock(&f->mu);
        sl_os_thread_join(f->thr);
    }
    natsOptions_Destroy(f->opts);
    f->opts = NULL;
    /* libnats delivers connection callbacks (on_disconnect) and acks from
     * its own threads, possibly after the connection is destroyed; they
     * hold f. Tearing the library down waits for every one of those
     * threads, so nothing touches f after this. The forwarder is the only
     * libnats user in the collector. Should the wait time out, f is left
     * allocated rather than freed under a live callback. */
    if (nats_CloseAndWait(5000) != NATS_OK)
        return;
    for (size_t i = 0; i < f->n_files; i++)
        free(f->files[i]);
    free(f->files);
    free(f->file_set);
    free(f->urls);
    free(f->subject);
    free(f->stream);
    free(f->creds);
    free(f->tls_ca);
    free(f->host);
    free(f->hdr_hex);
    free(f->q);
    sl_cond_destroy(&f->cv);
    sl_mutex_destroy(&f->mu);
    free(f);
}
