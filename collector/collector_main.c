/*
 * sluice-collector: parses the command line, starts the engine (server.c),
 * waits for a stop (signal, --exit-after, --duration, a write error),
 * stops it cleanly and prints the one-line summary. Exit status: 0
 * success, 1 runtime error, 2 usage error.
 */
#include <errno.h>
#include <stdatomic.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <sys/stat.h>
#endif

#include "capfile.h"
#include "cli.h"
#include "codec.h"
#include "err.h"
#include "escape.h"
#include "io.h"
#include "os.h"
#include "ring.h"
#include "server.h"
#include "sink.h"
#include "state.h"
#include "wire.h"
#ifdef SL_HAVE_NATS
#include "forward.h"
#endif

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.0.0"
#endif

static const char usage_text[] =
    "Usage: sluice-collector --pipe NAME --out FILE [options]\n"
    "\n"
    "Collects events from producers connecting on pipe NAME into the capture\n"
    "FILE. Stops on Ctrl-C/SIGTERM/SIGHUP, --exit-after or --duration: stops\n"
    "accepting, reads what producers already sent, flushes and syncs the file,\n"
    "and prints: collector: producers=K events=N bytes=B dropped=D malformed=M\n"
    "\n"
    "Options:\n"
    "  --pipe NAME          pipe name (Linux: $TMPDIR/CoreFxPipe_NAME, or a path\n"
    "                       if NAME has '/'; Windows: \\\\.\\pipe\\NAME)\n"
    "  --out FILE           capture file to create\n"
    "  --force              overwrite FILE (with rotation: remove an earlier\n"
    "                       set of its name) if it exists (default: refuse)\n"
    "  --rotate-size BYTES  write a set of chunks, FILE.000001.ext, ...: start\n"
    "                       the next before one passes BYTES (K/M/G suffixes;\n"
    "                       65536..2^50)\n"
    "  --rotate-time SECS   ... or once a chunk is SECS old (1..2592000)\n"
    "  --keep N             with rotation: keep the N newest chunks, deleting\n"
    "                       older ones (default: keep all); with --forward\n"
    "                       only once they are forwarded\n"
    "  --max-total BYTES    with rotation: delete the oldest chunks while the\n"
    "                       set is larger (never the current one), forwarded\n"
    "                       or not (counted: expired_unforwarded)\n"
    "  --flight-recorder BYTES  keep only about the last BYTES of capture, in\n"
    "                       memory (K/M/G suffixes; 262144..2^40), and write\n"
    "                       FILE-stem.snapshot-NNN.ext on a trigger: SIGUSR1\n"
    "                       (POSIX), an event of --trigger-type, sluice-ctl\n"
    "                       snapshot; no capture file otherwise\n"
    "  --trigger-type T     with --flight-recorder: every event of type T\n"
    "                       (0..61439, or 0x hex) from any producer triggers\n"
    "  --trigger-after SECS  with --flight-recorder: record SECS more seconds\n"
    "                       after a trigger before the snapshot is cut\n"
    "                       (0..3600, default 0); triggers meanwhile are\n"
    "                       recorded and counted, not a second snapshot\n"
    "  --compress CODEC     none|lz4|zstd[:LEVEL] (LEVEL 1..19, default 1):\n"
    "                       compress each block (default: none)\n"
    "  --workers N          worker threads (default: number of cores)\n"
    "  --instances N        listening pipe instances, Windows (default: 4)\n"
    "  --ring-mb N          ring buffer size in MiB, a power of two 1..2048\n"
    "                       (default: 64)\n"
    "  --on-full wait|drop  full ring: wait = lossless backpressure (default),\n"
    "                       drop = drop events and count them per producer\n"
    "  --max-frame BYTES    largest event frame or text line, 64..16777216\n"
    "                       (default: 1048576)\n"
    "  --max-producers N    concurrent connections; more are refused (default:\n"
    "                       4096)\n"
    "  --idle-timeout SECS  end a connection that has not identified itself\n"
    "                       (no byte, or no whole hello) within SECS seconds,\n"
    "                       0..86400, 0 = never (default: 60)\n"
    "  --backend NAME       auto|iocp|uring|epoll (default: auto)\n"
    "  --exit-after N       stop once N producer connections have ended\n"
    "  --duration SECS      stop after SECS seconds\n"
    "  --stats SECS         status every SECS seconds on stderr: a live line on\n"
    "                       a terminal, one plain line per interval otherwise\n"
    "                       (default: 1 on a terminal, 0 = off otherwise)\n"
    "  --allow-remote       Windows: accept remote clients (default: local only)\n"
    "  --group NAME         Linux: share the socket with group NAME (mode 0660;\n"
    "                       default: 0600, this user only)\n"
    "  --allow-uid UID,...  Linux: accept only peers with these user ids (and\n"
    "                       this user); others get the refusal greeting\n"
    "                       SLUICE/1 error=user-not-allowed\n"
    "  --forward URL[,URL...]  also forward every block of the capture to a\n"
    "                       NATS JetStream cluster (nats://HOST:PORT, tls://...);\n"
    "                       the capture file (or the rotating set) is the\n"
    "                       buffer (docs/forwarding.md)\n"
    "  --forward-subject S  subject (default: sluice.<host>.<pipe>)\n"
    "  --forward-stream NAME  stream, created if missing (default: SLUICE)\n"
    "  --forward-replicas N  replicas of a created stream, 1..5 (default: 3\n"
    "                       when the cluster has 3 or more servers, else 1)\n"
    "  --forward-creds FILE  credentials: user=/password=, token=, nkey= and\n"
    "                       its seed, or a NATS .creds file\n"
    "  --forward-tls-ca FILE  TLS, trusting the CA certificates in FILE\n"
    "  --forward-host NAME  host name in the subject and the messages (default:\n"
    "                       the capture header's)\n"
    "  --forward-inflight N  messages awaiting acknowledgement, 1..1024\n"
    "                       (default: 32)\n"
    "  --forward-drain SECS  at exit, wait this long for acknowledgements\n"
    "                       (default: 10); the rest is sent on the next start\n"
    "  --config KEY=VALUE   configuration sent to every binary producer that\n"
    "                       asks (libsluice-producer does); repeatable; KEY:\n"
    "                       1..128 of A-Z a-z 0-9 _ . -, VALUE: up to 4096\n"
    "                       bytes without NUL, CR, LF; 65536 bytes in all\n"
    "  --config-file FILE   KEY=VALUE lines ('#' comments, blank lines ignored)\n"
    "  --enable TYPES       enable event types (as sluice-dump's filter: 5,7-9,\n"
    "                       0x10-0x1F); all are enabled at start\n"
    "  --disable TYPES      disable event types: producers filter them (change\n"
    "                       both while running with sluice-ctl)\n"
    "  --list               list the live sluice pipes on this machine and exit\n"
    "  --help               show this help\n"
    "  --version            show the version and the compiled-in backends\n"
    "\n"
    "Exit status: 0 success, 1 runtime error, 2 usage error.\n";

/* Prints "sluice-collector: <fmt with arg>" and a --help hint, exits 2. */
static void
usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "sluice-collector: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'sluice-collector --help'.\n");
    exit(2);
}

static uint64_t
parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max)
{
    char why[256];
    uint64_t v = 0;

    if (sl_cli_u64(opt, s, min, max, &v, why, sizeof(why)) != 0)
        usage_error("%s", why);
    return v;
}

/* --allow-uid UID[,UID...]: appends to list[*n] (at most cap ids). */
static void
parse_uid_list(const char *opt, const char *s, uint32_t *list, size_t cap,
               size_t *n)
{
    char one[16];

    for (;;) {
        size_t len = strcspn(s, ",");

        if (len == 0 || len >= sizeof(one))
            usage_error("--allow-uid: '%s' is not a list of user ids", s);
        if (*n == cap)
            usage_error("--allow-uid: more than 64 user ids at '%s'", s);
        memcpy(one, s, len);
        one[len] = '\0';
        list[(*n)++] = (uint32_t)parse_u64(opt, one, 0, UINT32_MAX - 1);
        if (s[len] == '\0')
            return;
        s += len + 1;
    }
}

static void
log_line(void *ctx, const char *line)
{
    (void)ctx;
    fprintf(stderr, "sluice-collector: %s\n", line);
}

typedef struct list_ctx {
    int found;
} list_ctx;

static void
list_one(void *p, const char *name, const char *path)
{
    list_ctx *lc = p;
    char greeting[SL_WIRE_GREETING_MAX + 1];
    char ename[1024], epath[4096];
    uint32_t version, max_frame, id;

    /* Only endpoints that answer with a sluice greeting are collectors;
     * the probe sends nothing, so the collector does not count it. */
    if (sl_os_probe_greeting(path, greeting, sizeof(greeting), 300) != 0)
        return;
    if (sl_wire_parse_greeting(greeting, strlen(greeting), &version,
                               &max_frame, &id) != 0)
        return;
    if (!lc->found)
        printf("%-24s %-8s %-10s %s\n", "NAME", "VERSION", "MAX-FRAME",
               "PATH");
    lc->found++;
    /* A pipe name is anyone's file name in TMPDIR (or anyone's pipe on
     * Windows): escaped like a producer name before it reaches the
     * terminal. */
    printf("%-24s %-8u %-10u %s\n",
           sl_escape_str(ename, sizeof(ename), name, strlen(name),
                         SL_ESC_SPACE),
           (unsigned)version, (unsigned)max_frame,
           sl_escape_str(epath, sizeof(epath), path, strlen(path),
                         SL_ESC_SPACE));
}

static int
list_pipes(void)
{
    list_ctx lc = {0};
    int rc = sl_os_list_pipes(list_one, &lc);

    if (rc != 0) {
        fprintf(stderr, "sluice-collector: cannot list pipes: %s\n",
                sl_strerror(rc));
        return 1;
    }
    if (!lc.found)
        fprintf(stderr, "sluice-collector: no live sluice pipes found\n");
    return 0;
}

/* Whether anything (a socket, a file, a link) is at path. */
static int
path_exists(const char *path)
{
#ifndef _WIN32
    struct stat st;

    return lstat(path, &st) == 0;
#else
    (void)path;
    return 1;
#endif
}

static const char *
stage_text(sl_server_stage st)
{
    switch (st) {
    case SL_STAGE_CONFIG:
        return "invalid configuration";
    case SL_STAGE_RING:
        return "cannot allocate the ring";
    case SL_STAGE_PIPE:
        return "cannot listen on the pipe";
    case SL_STAGE_FILE:
        return "cannot create the capture file";
    case SL_STAGE_THREADS:
        return "cannot start threads";
    }
    return "cannot start";
}

/* The status line, built field by field: with a width, a field that would
 * not fit ends the line (it and every field after it are dropped). */
typedef struct status_line {
    char line[512];
    size_t len;
    size_t width; /* 0: no limit */
    int full;
} status_line;

static void
status_init(status_line *sl, size_t width)
{
    static const char head[] = "collector:";

    memcpy(sl->line, head, sizeof(head));
    sl->len = sizeof(head) - 1;
    sl->width = width;
    sl->full = 0;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
status_field(status_line *sl, const char *fmt, ...)
{
    char f[128];
    va_list ap;
    int n;

    if (sl->full)
        return;
    va_start(ap, fmt);
    n = vsnprintf(f, sizeof(f), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n + 1 + sl->len >= sizeof(sl->line) ||
        (sl->width != 0 && sl->len + 1 + (size_t)n > sl->width)) {
        sl->full = 1;
        return;
    }
    sl->line[sl->len++] = ' ';
    memcpy(sl->line + sl->len, f, (size_t)n + 1);
    sl->len += (size_t)n;
}

/*
 * Engine events, from a worker or the writer thread. --exit-after reached
 * and a failed write are stops, delivered through the same wake-up as a
 * signal (sl_os_stop_request()), so the main thread never polls for them.
 * ctx is main()'s exit_after, fixed before the server opens.
 */
static void
on_event(void *ctx, sl_server_event ev, int64_t value)
{
    uint64_t exit_after = *(const uint64_t *)ctx;

    if (ev == SL_SERVER_WRITE_FAILED || ev == SL_SERVER_STOP_REQUESTED ||
        (ev == SL_SERVER_PRODUCER_ENDED && exit_after != 0 &&
         (uint64_t)value >= exit_after))
        sl_os_stop_request();
}

#ifdef SL_HAVE_NATS
/* sluice-ctl status: the forwarder's figures for the engine, which does
 * not know the forwarder (sl_server_config.forward_status). A worker
 * thread; sl_forward_get_stats() only takes the forwarder's short lock. */
static void
forward_status(void *arg, sl_server_fwd_status *out)
{
    sl_forward_stats fs;

    sl_forward_get_stats(arg, &fs);
    out->forwarded_blocks = fs.forwarded_blocks;
    out->forwarded_bytes = fs.forwarded_bytes;
    out->duplicates = fs.duplicates;
    out->pending_blocks = fs.pending_blocks;
    out->pending_bytes = fs.pending_bytes;
    out->errors = fs.errors;
    out->expired_unforwarded = fs.expired_unforwarded;
    out->connected = fs.connected;
    snprintf(out->last_error, sizeof(out->last_error), "%s", fs.last_error);
}

/* Retention of a rotating set that is forwarded (collector/core/sink.h
 * sl_retain_hooks): the writer thread asks the forwarder. */
static int
retain_forwarded(void *arg, uint64_t chunk)
{
    return sl_forward_chunk_forwarded(arg, chunk);
}

static uint64_t
retain_expire(void *arg, uint64_t chunk, uint64_t blocks)
{
    return sl_forward_chunk_expire(arg, chunk, blocks);
}

static uint64_t
retain_expired_total(void *arg)
{
    return sl_forward_expired(arg);
}
#endif

/* sluice-ctl rotate / snapshot: the engine's hooks, on a worker thread.
 * The server they act on is published after sl_server_open() returns;
 * a request before that (the server is listening already) is refused as
 * busy. Release/acquire: the hook sees the server fully opened. */
static _Atomic(sl_server *) hook_srv;

static int
hook_rotate(void *arg)
{
    sl_server *s = atomic_load_explicit(&hook_srv, memory_order_acquire);

    (void)arg;
    return s != NULL ? sl_server_rotate(s) : SL_EBUSY;
}

static int
hook_snapshot(void *arg, char *name, size_t cap)
{
    sl_server *s = atomic_load_explicit(&hook_srv, memory_order_acquire);

    (void)arg;
    if (cap > 0)
        name[0] = '\0';
    return s != NULL ? sl_server_snapshot(s, name, cap) : SL_EBUSY;
}

/* SIGUSR1: a flight-recorder trigger, on the main thread (the signal
 * handler only wakes it). */
static void
signal_trigger(sl_server *srv)
{
    char name[4096];
    int rc = sl_server_trigger(srv, SLUICE_TRIGGER_SIGNAL, name,
                               sizeof(name));

    if (rc == 0)
        fprintf(stderr, "sluice-collector: SIGUSR1: snapshot %s\n", name);
    else
        fprintf(stderr, "sluice-collector: SIGUSR1: snapshot failed: %s\n",
                sl_strerror(rc));
}

/* --trigger-type T: decimal or 0x hex, an event type 0..0xEFFF. */
static int
parse_type(const char *opt, const char *v)
{
    unsigned long x;
    char *end;

    errno = 0;
    if (v[0] < '0' || v[0] > '9')
        usage_error("--trigger-type: '%s' is not an event type (0..61439 "
                    "or 0x0..0xEFFF)", v);
    x = strtoul(v, &end, 0);
    if (errno != 0 || *end != '\0' || x > 0xEFFFu)
        usage_error("--trigger-type: '%s' is not an event type (0..61439 "
                    "or 0x0..0xEFFF)", v);
    (void)opt;
    return (int)x;
}

/* --flight-recorder keeps its capture in memory and writes snapshots:
 * the options of a capture file do not apply. One line each. */
static void
check_flight(const sl_server_config *cfg, int forward)
{
    if (cfg->rotate_set)
        usage_error("%s", "--flight-recorder does not combine with "
                    "--rotate-size/--rotate-time (it keeps the last BYTES "
                    "itself)");
    if (cfg->keep != 0 || cfg->max_total != 0)
        usage_error("%s", "--flight-recorder does not combine with --keep "
                    "or --max-total (it keeps the last BYTES itself)");
    if (forward)
        usage_error("%s", "--flight-recorder does not combine with "
                    "--forward (there is no capture file to forward)");
    if (cfg->codec != 0)
        usage_error("%s", "--flight-recorder does not combine with "
                    "--compress (snapshots are stored uncompressed)");
    if (cfg->force)
        usage_error("%s", "--flight-recorder does not combine with --force "
                    "(a snapshot takes the next free number, never "
                    "replacing a file)");
#ifndef _WIN32
    {
        struct stat st;

        /* FILE is only the snapshots' name pattern; a FIFO or device
         * there means the user expected a stream, which this is not. */
        if (stat(cfg->out_path, &st) == 0 && !S_ISREG(st.st_mode))
            usage_error("--flight-recorder: --out '%s' is not a regular "
                        "file name (a FIFO, device or directory); it names "
                        "the snapshots, FILE-stem.snapshot-NNN.ext",
                        cfg->out_path);
    }
#endif
}

/* --config KEY=VALUE, or line `lineno` of --config-file FILE. */
static void
add_config(sl_state *st, const char *kv, size_t len, const char *file,
           unsigned lineno)
{
    int rc = sl_state_set_arg(st, kv, len);
    char where[600];

    if (rc == 0)
        return;
    if (file != NULL)
        snprintf(where, sizeof(where), "--config-file %s: line %u", file,
                 lineno);
    else
        snprintf(where, sizeof(where), "--config");
    if (rc == SL_ETOOBIG) {
        fprintf(stderr, "sluice-collector: %s: the configuration passes "
                "%u bytes (4 + key + value per pair)\n", where,
                (unsigned)SL_STATE_PAIRS_MAX);
    } else {
        fprintf(stderr, "sluice-collector: %s: '%.*s' is not KEY=VALUE "
                "(KEY: 1..%u of A-Z a-z 0-9 _ . -; VALUE: up to %u bytes, "
                "no NUL, CR or LF)\n", where, (int)(len > 80 ? 80 : len), kv,
                (unsigned)SL_STATE_KEY_MAX, (unsigned)SL_STATE_VALUE_MAX);
    }
    fprintf(stderr, "Try 'sluice-collector --help'.\n");
    exit(2);
}

static void
read_config_file(sl_state *st, const char *path)
{
    FILE *f = NULL;
    char *line = NULL;
    size_t cap = 0, len = 0;
    unsigned lineno = 0;
    int ch, rc;

    /* Regular files only, opened without blocking: a directory read as
     * empty and a FIFO waited for a writer. */
    rc = sl_os_fopen_regular(path, &f);
    if (rc == SL_EISDIR)
        usage_error("--config-file: '%s' is a directory, not a file of "
                    "KEY=VALUE lines", path);
    if (rc == SL_ENOTFILE)
        usage_error("--config-file: '%s' is not a regular file (a FIFO, "
                    "socket or device); give a file of KEY=VALUE lines",
                    path);
    if (rc != 0) {
        fprintf(stderr, "sluice-collector: --config-file: cannot open "
                "'%s': %s\n", path, sl_strerror(rc));
        fprintf(stderr, "Try 'sluice-collector --help'.\n");
        exit(2);
    }
    for (;;) {
        ch = fgetc(f);
        if (ch == EOF && len == 0)
            break;
        if (ch != EOF && ch != '\n') {
            if (len + 1 >= cap) {
                cap = cap ? cap * 2 : 256;
                line = realloc(line, cap);
                if (line == NULL)
                    usage_error("--config-file %s: out of memory", path);
            }
            line[len++] = (char)ch;
            if (len > SL_STATE_KEY_MAX + SL_STATE_VALUE_MAX + 2) {
                fprintf(stderr, "sluice-collector: --config-file %s: line "
                        "%u is longer than a key and a value may be\n",
                        path, lineno + 1);
                exit(2);
            }
            continue;
        }
        lineno++;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        {
            size_t i = 0;

            while (i < len && (line[i] == ' ' || line[i] == '\t'))
                i++;
            if (i < len && line[i] != '#')
                add_config(st, line + i, len - i, path, lineno);
        }
        len = 0;
        if (ch == EOF)
            break;
    }
    free(line);
    fclose(f);
}

/* ---- chunks of an earlier set ------------------------------------------ */

typedef struct stale_scan {
    const char *stem; /* the chunk names' start: "cap" of cap.sluice */
    size_t stem_len;
    const char *ext;  /* their end: ".sluice", or "" */
    char **names;     /* matching entries, owned */
    size_t n, cap;
    int nomem;
} stale_scan;

static void
stale_one(void *ctx, const char *name)
{
    stale_scan *sc = ctx;
    const char *p = name + sc->stem_len + 1;
    size_t digits = 0;

    if (strncmp(name, sc->stem, sc->stem_len) != 0 ||
        name[sc->stem_len] != '.')
        return;
    while (p[digits] >= '0' && p[digits] <= '9')
        digits++;
    /* sl_chunk_name(): at least six digits, then the extension exactly. */
    if (digits < 6 || strcmp(p + digits, sc->ext) != 0)
        return;
    if (sc->n == sc->cap) {
        size_t cap = sc->cap ? sc->cap * 2 : 8;
        char **q = realloc(sc->names, cap * sizeof(*q));

        if (q == NULL) {
            sc->nomem = 1;
            return;
        }
        sc->names = q;
        sc->cap = cap;
    }
    if ((sc->names[sc->n] = strdup(name)) == NULL)
        sc->nomem = 1;
    else
        sc->n++;
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Rotation creates chunk 1, 2, ... of --out's name: a chunk of an earlier
 * set still there would stop the capture when rotation reaches it (the
 * collector never overwrites a file without --force), or, with --force,
 * be replaced only as far as this run gets, leaving the end of the old set
 * behind the new one. So the set's name is checked at the start: without
 * --force any chunk of that name is refused (exit 1) before anything is
 * created; with --force every one is removed first, unless a running
 * collector writes one (then nothing is removed and we refuse).
 * Chunks that forwarding moved aside (--force with --forward) have other
 * names by now and are not touched. @return 0 or the exit status.
 */
static int
check_earlier_set(const char *out, int force)
{
    char dir[4096], path[8192];
    const char *base = out, *dot;
    stale_scan sc;
    char stem[4096];
    int rc, status = 0;

    for (const char *p = out; *p != '\0'; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    if (base == out)
        snprintf(dir, sizeof(dir), ".");
    else if (base - out == 1)
        snprintf(dir, sizeof(dir), "%.1s", out);
    else
        snprintf(dir, sizeof(dir), "%.*s", (int)(base - out - 1), out);
    dot = strrchr(base, '.');
    if (dot == NULL || dot == base)
        dot = base + strlen(base);
    snprintf(stem, sizeof(stem), "%.*s", (int)(dot - base), base);
    memset(&sc, 0, sizeof(sc));
    sc.stem = stem;
    sc.stem_len = strlen(stem);
    sc.ext = dot;
    rc = sl_os_list_dir(dir, stale_one, &sc);
    if (rc != 0 || sc.n == 0) {
        /* A directory that cannot be read: creating chunk 1 will say. */
        free(sc.names);
        return 0;
    }
    if (sc.nomem) {
        fprintf(stderr, "sluice-collector: out of memory listing %s\n", dir);
        status = 1;
        goto out;
    }
    qsort(sc.names, sc.n, sizeof(*sc.names), name_cmp);
#define STALE_PATH(i)                                                         \
    (base == out ? sc.names[i]                                               \
                 : (snprintf(path, sizeof(path), "%.*s%s", (int)(base - out), \
                             out, sc.names[i]),                               \
                    path))
    if (!force) {
        fprintf(stderr, "sluice-collector: %s already exists (%zu chunk%s of "
                "an earlier set named %s); use --force to replace that set\n",
                STALE_PATH(0), sc.n, sc.n == 1 ? "" : "s", out);
        status = 1;
        goto out;
    }
    for (size_t i = 0; i < sc.n; i++) {
        const char *p = STALE_PATH(i);

        if (sl_os_file_writer_alive(p) == 1) {
            uint32_t holder = sl_os_file_lock_holder(p);

            fprintf(stderr, "sluice-collector: %s is being written by another "
                    "collector (pid %u); refusing to touch its set, even with "
                    "--force\n", p, (unsigned)holder);
            status = 1;
            goto out;
        }
    }
    for (size_t i = 0; i < sc.n; i++) {
        const char *p = STALE_PATH(i);

        rc = sl_os_file_remove(p);
        if (rc != 0) {
            fprintf(stderr, "sluice-collector: --force: cannot remove %s, a "
                    "chunk of an earlier set: %s\n", p, sl_strerror(rc));
            status = 1;
            goto out;
        }
    }
    fprintf(stderr, "sluice-collector: --force: removed %zu chunk%s of an "
            "earlier set named %s (%s", sc.n, sc.n == 1 ? "" : "s", out,
            sc.names[0]);
    if (sc.n > 1)
        fprintf(stderr, " .. %s", sc.names[sc.n - 1]);
    fprintf(stderr, ")\n");
#undef STALE_PATH
out:
    for (size_t i = 0; i < sc.n; i++)
        free(sc.names[i]);
    free(sc.names);
    return status;
}

int
main(int argc, char **argv)
{
    static sl_state state; /* 73 KiB: not on the stack */
    sl_server_config cfg;
    sl_server_stage stage;
    sl_server_stats st;
    sl_server *srv = NULL;
    const char *pipe = NULL;
    char path[512];
    uint32_t allow_uids[65]; /* 64 from --allow-uid, plus our own */
    size_t n_allow = 0;
    uint64_t fd_limit;
    uint64_t ring_mb = 64, exit_after = 0, duration = 0;
    uint64_t stats_every = UINT64_MAX; /* "not given" */
    int live_line;
    uint64_t start, last_stats, last_events = 0, last_bytes = 0;
    int rc, failed = 0;
    const char *out_shown = NULL;
    const char *fwd_urls = NULL, *fwd_subject = NULL, *fwd_stream = "SLUICE";
    const char *fwd_creds = NULL, *fwd_ca = NULL, *fwd_host = NULL;
    uint64_t fwd_replicas = 0, fwd_inflight = 32, fwd_drain = 10;
    int trigger_type = -1, trigger_after_set = 0;
#ifdef SL_HAVE_NATS
    sl_forward *fwd = NULL;
    sl_forward_stats fst;
    sl_retain_hooks retain_hooks;
#endif

    sl_os_args_utf8(&argc, &argv);
    memset(&cfg, 0, sizeof(cfg));
    cfg.workers = sl_os_cpu_count();
    cfg.instances = 4;
    cfg.max_frame = SL_WIRE_MAX_FRAME_DEFAULT;
    cfg.max_producers = 4096;
    cfg.idle_timeout_s = 60;
    cfg.conn_buffer = 64u << 10;
    cfg.backend = "auto";
    cfg.log = log_line;
    cfg.on_event = on_event;
    cfg.event_ctx = &exit_after;
    sl_state_init(&state);
    cfg.state = &state;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("sluice-collector %s (backends:", SLUICE_VERSION);
            for (size_t k = 0; sl_io_backends[k] != NULL; k++)
                printf(" %s", sl_io_backends[k]->name);
            printf(")\n");
            return 0;
        } else if (strcmp(a, "--list") == 0) {
            return list_pipes();
        } else if (strcmp(a, "--force") == 0) {
            cfg.force = 1;
            continue;
        } else if (strcmp(a, "--allow-remote") == 0) {
            cfg.allow_remote = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0)
            usage_error("unexpected argument '%s'", a);
        if (v == NULL)
            usage_error("%s needs a value", a);
        i++;
        if (strcmp(a, "--pipe") == 0) {
            pipe = v;
        } else if (strcmp(a, "--out") == 0) {
            cfg.out_path = v;
        } else if (strcmp(a, "--rotate-size") == 0) {
            char why[256];

            if (sl_cli_size(a, v, 65536u, 1ull << 50, &cfg.rotate_bytes, why,
                            sizeof(why)) != 0)
                usage_error("%s", why);
            cfg.rotate_set = 1;
        } else if (strcmp(a, "--rotate-time") == 0) {
            char why[256];

            if (sl_cli_secs(a, v, 1000000000u, 2592000ull * 1000000000u,
                            &cfg.rotate_ns, why, sizeof(why)) != 0)
                usage_error("%s", why);
            cfg.rotate_set = 1;
        } else if (strcmp(a, "--keep") == 0) {
            cfg.keep = parse_u64(a, v, 1, 1000000);
        } else if (strcmp(a, "--max-total") == 0) {
            char why[256];

            if (sl_cli_size(a, v, 65536u, UINT64_MAX / 2, &cfg.max_total,
                            why, sizeof(why)) != 0)
                usage_error("%s", why);
        } else if (strcmp(a, "--flight-recorder") == 0) {
            char why[256];

            if (sl_cli_size(a, v, 262144u, 1ull << 40, &cfg.flight_bytes, why,
                            sizeof(why)) != 0)
                usage_error("%s", why);
        } else if (strcmp(a, "--trigger-type") == 0) {
            trigger_type = parse_type(a, v);
        } else if (strcmp(a, "--trigger-after") == 0) {
            char why[256];

            if (sl_cli_secs(a, v, 0, 3600ull * 1000000000u,
                            &cfg.trigger_after_ns, why, sizeof(why)) != 0)
                usage_error("%s", why);
            trigger_after_set = 1;
        } else if (strcmp(a, "--compress") == 0) {
            char why[256];

            if (sl_codec_parse(v, &cfg.codec, &cfg.codec_level, why,
                               sizeof(why)) != 0)
                usage_error("%s", why);
        } else if (strcmp(a, "--workers") == 0) {
            cfg.workers = (unsigned)parse_u64(a, v, 1, 256);
        } else if (strcmp(a, "--instances") == 0) {
            cfg.instances = (unsigned)parse_u64(a, v, 1, 1024);
        } else if (strcmp(a, "--ring-mb") == 0) {
            ring_mb = parse_u64(a, v, 1, 2048);
            if ((ring_mb & (ring_mb - 1)) != 0)
                usage_error("--ring-mb: '%s' is not a power of two", v);
        } else if (strcmp(a, "--on-full") == 0) {
            if (strcmp(v, "wait") == 0)
                cfg.drop_when_full = 0;
            else if (strcmp(v, "drop") == 0)
                cfg.drop_when_full = 1;
            else
                usage_error("--on-full: '%s' is not wait or drop", v);
        } else if (strcmp(a, "--max-frame") == 0) {
            cfg.max_frame = (uint32_t)parse_u64(a, v, SL_WIRE_MAX_FRAME_MIN,
                                                SL_WIRE_MAX_FRAME_LIMIT);
        } else if (strcmp(a, "--max-producers") == 0) {
            cfg.max_producers = (unsigned)parse_u64(a, v, 1, 1000000);
        } else if (strcmp(a, "--idle-timeout") == 0) {
            cfg.idle_timeout_s = (unsigned)parse_u64(a, v, 0, 86400);
        } else if (strcmp(a, "--backend") == 0) {
            if (strcmp(v, "auto") != 0 && strcmp(v, "iocp") != 0 &&
                strcmp(v, "uring") != 0 && strcmp(v, "epoll") != 0)
                usage_error("--backend: '%s' is not auto, iocp, uring or "
                            "epoll", v);
            if (strcmp(v, "auto") != 0 && sl_io_find(v) == NULL) {
                fprintf(stderr, "sluice-collector: backend '%s' is not "
                        "available in this build (see --version)\n", v);
                return 2;
            }
            cfg.backend = v;
        } else if (strcmp(a, "--exit-after") == 0) {
            exit_after = parse_u64(a, v, 1, UINT64_MAX);
        } else if (strcmp(a, "--duration") == 0) {
            char why[256];

            if (sl_cli_secs(a, v, 1000000u, 365ull * 86400u * 1000000000u,
                            &duration, why, sizeof(why)) != 0)
                usage_error("%s", why);
        } else if (strcmp(a, "--stats") == 0) {
            stats_every = parse_u64(a, v, 0, 86400);
        } else if (strcmp(a, "--group") == 0) {
            rc = sl_os_group_id(v, &cfg.group);
            if (rc == SL_ENOSYS)
                usage_error("--group '%s': not supported on this platform",
                            v);
            if (rc != 0)
                usage_error("--group: no such group '%s'", v);
            cfg.share_group = 1;
        } else if (strcmp(a, "--allow-uid") == 0) {
            parse_uid_list(a, v, allow_uids, 64, &n_allow);
        } else if (strcmp(a, "--config") == 0) {
            add_config(&state, v, strlen(v), NULL, 0);
        } else if (strcmp(a, "--config-file") == 0) {
            read_config_file(&state, v);
        } else if (strcmp(a, "--enable") == 0 ||
                   strcmp(a, "--disable") == 0) {
            if (sl_state_types(state.enabled, v, a[2] == 'e') != 0) {
                fprintf(stderr, "sluice-collector: %s: '%s' is not a list "
                        "of event types (numbers or ranges A-B, 0..61439 "
                        "or 0x0..0xEFFF, comma-separated)\n", a, v);
                usage_error("%s", "bad type list");
            }
        } else if (strcmp(a, "--forward") == 0) {
            fwd_urls = v;
        } else if (strcmp(a, "--forward-subject") == 0) {
            fwd_subject = v;
        } else if (strcmp(a, "--forward-stream") == 0) {
            fwd_stream = v;
        } else if (strcmp(a, "--forward-replicas") == 0) {
            fwd_replicas = parse_u64(a, v, 1, 5);
        } else if (strcmp(a, "--forward-creds") == 0) {
            fwd_creds = v;
        } else if (strcmp(a, "--forward-tls-ca") == 0) {
            fwd_ca = v;
        } else if (strcmp(a, "--forward-host") == 0) {
            fwd_host = v;
        } else if (strcmp(a, "--forward-inflight") == 0) {
            fwd_inflight = parse_u64(a, v, 1, 1024);
        } else if (strcmp(a, "--forward-drain") == 0) {
            fwd_drain = parse_u64(a, v, 0, 3600);
        } else {
            usage_error("unknown option '%s'", a);
        }
    }
    live_line = sl_os_isatty(0);
    if (stats_every == UINT64_MAX)
        stats_every = live_line ? 1 : 0;
    if (pipe == NULL)
        usage_error("%s", "--pipe NAME is required");
    if (cfg.out_path == NULL)
        usage_error("%s", "--out FILE is required");
    cfg.trigger_type = trigger_type;
    if (cfg.flight_bytes == 0 && (trigger_type >= 0 || trigger_after_set))
        usage_error("%s", "--trigger-type and --trigger-after need "
                    "--flight-recorder BYTES");
    if (cfg.flight_bytes != 0)
        check_flight(&cfg, fwd_urls != NULL);
    if ((cfg.keep != 0 || cfg.max_total != 0) && !cfg.rotate_set)
        usage_error("%s", "--keep and --max-total need rotation "
                    "(--rotate-size or --rotate-time)");
    if (cfg.flight_bytes != 0) {
        /* Messages name the first snapshot's file (no capture file). */
        static char first_snap[4096];

        if (sl_snapshot_name(first_snap, sizeof(first_snap), cfg.out_path,
                             1) != 0)
            usage_error("--out '%s': name too long", cfg.out_path);
        out_shown = first_snap;
    } else if (cfg.rotate_set) {
        /* Messages name the file actually made: chunk 1. */
        static char first_chunk[4096];

        if (sl_chunk_name(first_chunk, sizeof(first_chunk), cfg.out_path,
                          1) != 0)
            usage_error("--out '%s': name too long", cfg.out_path);
        out_shown = first_chunk;
    } else {
        out_shown = cfg.out_path;
    }
    cfg.rotate = hook_rotate;
    cfg.snapshot = hook_snapshot;
    if (fwd_urls == NULL && (fwd_subject != NULL || fwd_creds != NULL ||
                             fwd_ca != NULL || fwd_host != NULL ||
                             fwd_replicas != 0))
        usage_error("%s", "--forward-* options need --forward URL");
#ifndef SL_HAVE_NATS
    (void)fwd_stream;
    (void)fwd_inflight;
    (void)fwd_drain;
    if (fwd_urls != NULL) {
        fprintf(stderr, "sluice-collector: --forward: not compiled in (this "
                "build has no libnats)\n");
        return 2;
    }
#endif
    {
        size_t path_len = 0;

        rc = sl_os_pipe_path(pipe, strlen(pipe), path, sizeof(path),
                             &path_len);
        if (rc == SL_ENAMETOOLONG && path_len > 0) {
            /* A runtime limit of the system, not a usage error: exit 1. */
            fprintf(stderr, "sluice-collector: pipe '%s': the socket path "
                    "%s is %zu bytes, over the system's limit of %u bytes "
                    "for a socket path; use a shorter name, or a NAME with "
                    "'/' (a path of its own) or a shorter TMPDIR\n", pipe,
                    path, path_len, (unsigned)SL_OS_PIPE_PATH_MAX);
            return 1;
        }
        if (rc != 0) {
            fprintf(stderr, "sluice-collector: bad pipe name '%s': %s\n",
                    pipe, sl_strerror(rc));
            return rc == SL_ENAMETOOLONG ? 1 : 2;
        }
    }
    if (n_allow > 0) {
        /* Our own user is always allowed: it owns the socket anyway. */
        if (sl_os_user_id(&allow_uids[n_allow]) != 0)
            usage_error("%s", "--allow-uid: not supported on this platform");
        n_allow++;
        cfg.allow_uids = allow_uids;
        cfg.allow_uids_len = n_allow;
    }
    cfg.pipe = pipe;
    cfg.pipe_len = strlen(pipe);
    cfg.path = path;
    cfg.ring_bytes = (size_t)ring_mb << 20;
    {
        /* One record of the largest event (plus a drop record) must fit in
         * half the ring, the most one reservation can take. */
        size_t need = 2 * (sl_cap_rec_size(cfg.max_frame) +
                           sl_cap_rec_size(SL_CAP_DROP_LEN));
        if (need > cfg.ring_bytes) {
            uint64_t mb = 1;
            while ((mb << 20) < need)
                mb <<= 1;
            fprintf(stderr, "sluice-collector: --max-frame %u needs a "
                    "larger ring: use --ring-mb %" PRIu64 " or more\n",
                    (unsigned)cfg.max_frame, mb);
            return 2;
        }
    }

    /* Every connection is a descriptor: take the whole hard limit rather
     * than fail accepts at a low default soft limit (often 1024). */
    rc = sl_os_raise_fd_limit(&fd_limit);
    if (fd_limit < (uint64_t)cfg.max_producers + 64)
        fprintf(stderr, "sluice-collector: note: the open-file limit is %"
                PRIu64 "%s, below --max-producers %u + 64; connections past "
                "it wait in the backlog until others end\n", fd_limit,
                rc != 0 ? " (raising it failed)" : "", cfg.max_producers);
    rc = sl_os_stop_install();
    if (rc != 0) {
        fprintf(stderr, "sluice-collector: cannot install stop handlers: "
                "%s\n", sl_strerror(rc));
        return 1;
    }
    /* SIGUSR1 triggers a flight-recorder snapshot (POSIX only). */
    if (cfg.flight_bytes != 0 && (rc = sl_os_trigger_install()) != 0 &&
        rc != SL_ENOSYS) {
        fprintf(stderr, "sluice-collector: cannot install the SIGUSR1 "
                "trigger: %s\n", sl_strerror(rc));
        return 1;
    }
    /* Without --force before forwarding touches anything (its state
     * file); with --force after, once forwarding has moved aside the
     * chunks it still has to send. */
    if (cfg.rotate_set && cfg.flight_bytes == 0 && !cfg.force) {
        rc = check_earlier_set(cfg.out_path, 0);
        if (rc != 0)
            return rc;
    }
#ifdef SL_HAVE_NATS
    if (fwd_urls != NULL) {
        sl_forward_config fc;
        char err[256];

        memset(&fc, 0, sizeof(fc));
        fc.urls = fwd_urls;
        fc.subject = fwd_subject;
        fc.stream = fwd_stream;
        fc.replicas = (int)fwd_replicas;
        fc.creds_path = fwd_creds;
        fc.tls_ca = fwd_ca;
        fc.host = fwd_host;
        fc.capture = cfg.out_path;
        fc.move_aside = cfg.force;
        /* A rotating set: the forwarder follows its chunks. */
        fc.chunk_name = cfg.rotate_set ? sl_chunk_name : NULL;
        fc.inflight = (unsigned)fwd_inflight;
        fc.drain_ns = fwd_drain * 1000000000u;
        fc.log = log_line;
        rc = sl_forward_open(&fc, &fwd, err, sizeof(err));
        if (rc != 0) {
            fprintf(stderr, "sluice-collector: %s\n",
                    err[0] != '\0' ? err : sl_strerror(rc));
            return rc == SL_EINVAL ? 2 : 1;
        }
        cfg.forward_status = forward_status;
        cfg.forward_arg = fwd;
        if (cfg.rotate_set) {
            retain_hooks.forwarded = retain_forwarded;
            retain_hooks.expire = retain_expire;
            retain_hooks.expired_total = retain_expired_total;
            retain_hooks.arg = fwd;
            cfg.retain = &retain_hooks;
        }
    }
#endif
    if (cfg.rotate_set && cfg.flight_bytes == 0 && cfg.force) {
        rc = check_earlier_set(cfg.out_path, 1);
        if (rc != 0)
            return rc;
    }
    rc = sl_server_open(&cfg, &srv, &stage);
    if (rc != 0) {
        if (stage == SL_STAGE_FILE && rc == SL_EEXIST)
            fprintf(stderr, "sluice-collector: %s already exists; use "
                    "--force to overwrite it\n", out_shown);
        else if (stage == SL_STAGE_FILE && rc == SL_EISDIR)
            fprintf(stderr, "sluice-collector: --out %s is a directory; "
                    "name a capture file (for example %s/capture.sluice)\n",
                    out_shown, out_shown);
        else if (stage == SL_STAGE_FILE && rc == SL_ENOTFILE)
            fprintf(stderr, "sluice-collector: --out %s is not a regular "
                    "file (a socket, FIFO or device); a capture is written "
                    "to a regular file (or /dev/null to discard it)\n",
                    out_shown);
        else if (stage == SL_STAGE_FILE && rc == SL_ELOCKED) {
            uint32_t holder = sl_os_file_lock_holder(out_shown);

            if (holder != 0)
                fprintf(stderr, "sluice-collector: %s is being written by "
                        "another collector (pid %u); refusing to touch it, "
                        "even with --force\n", out_shown,
                        (unsigned)holder);
            else
                fprintf(stderr, "sluice-collector: %s is being written by "
                        "another collector (it holds the file's lock); "
                        "refusing to touch it, even with --force\n",
                        out_shown);
        } else if (stage == SL_STAGE_FILE && rc == SL_EROFS)
            fprintf(stderr, "sluice-collector: cannot create the capture "
                    "file %s: the file system is read-only\n",
                    out_shown);
        else if (stage == SL_STAGE_FILE && rc == SL_ENOENT)
            fprintf(stderr, "sluice-collector: cannot create the capture "
                    "file %s: its directory does not exist\n",
                    out_shown);
        else if (stage == SL_STAGE_FILE && rc == SL_EACCES)
            fprintf(stderr, "sluice-collector: cannot create the capture "
                    "file %s: permission denied (this user may not write "
                    "there)\n", out_shown);
        else if (stage == SL_STAGE_PIPE && rc == SL_EADDRINUSE)
            fprintf(stderr, "sluice-collector: pipe '%s' (%s) is already "
                    "served by a running collector\n", pipe, path);
        else if (stage == SL_STAGE_PIPE && rc == SL_EEXIST &&
                 !path_exists(path))
            /* Nothing at the socket path: what is in the way is the
             * lock file beside it (collector/io/listen_unix.c). */
            fprintf(stderr, "sluice-collector: the lock file %s.lock "
                    "cannot be used (another user's file, or not a "
                    "regular file); remove it if no collector serves "
                    "pipe '%s'\n", path, pipe);
        else if (stage == SL_STAGE_PIPE && rc == SL_EEXIST)
            fprintf(stderr, "sluice-collector: %s exists and is not a "
                    "stale sluice socket of this user; refusing to touch "
                    "it\n", path);
        else if (stage == SL_STAGE_PIPE && rc == SL_ENOSYS)
            fprintf(stderr, "sluice-collector: backend '%s' is not "
                    "available on this system\n", cfg.backend);
        else
            fprintf(stderr, "sluice-collector: %s (%s): %s\n",
                    stage_text(stage),
                    stage == SL_STAGE_FILE ? out_shown : path,
                    sl_strerror(rc));
#ifdef SL_HAVE_NATS
        sl_forward_close(fwd); /* never started; a capture moved aside is
                                  forwarded by the next start */
#endif
        return 1;
    }
#ifdef SL_HAVE_NATS
    if (fwd != NULL && (rc = sl_forward_start(fwd)) != 0) {
        fprintf(stderr, "sluice-collector: cannot start the forwarder: %s\n",
                sl_strerror(rc));
        /* The server first: its writer may still ask the forwarder
         * (retention hooks) until it has stopped. */
        sl_server_close(srv);
        sl_forward_close(fwd);
        return 1;
    }
#endif
    atomic_store_explicit(&hook_srv, srv, memory_order_release);
    fprintf(stderr, "sluice-collector: listening on %s (backend %s, %u "
            "workers, ring %" PRIu64 " MiB, on-full %s), %s %s\n", path,
            sl_server_backend(srv), cfg.workers, ring_mb,
            cfg.drop_when_full ? "drop" : "wait",
            cfg.flight_bytes != 0 ? "flight recorder: snapshots from"
                                  : "writing",
            out_shown);

    start = sl_os_mono_ns();
    last_stats = start;
    for (;;) {
        uint64_t now = sl_os_mono_ns(), wait = SL_OS_FOREVER;

        /* A signal, --exit-after reached and a write error all arrive as
         * a stop request (on_event() above), which ends this wait at once.
         * The only timeouts are real deadlines: --duration, and the next
         * --stats line. */
        if (duration != 0) {
            uint64_t end = start + duration; /* ns */

            if (now >= end)
                break;
            wait = end - now;
        }
        if (stats_every != 0) {
            uint64_t next = last_stats + stats_every * 1000000000u;
            uint64_t left = next > now ? next - now : 0;

            if (left < wait)
                wait = left;
        }
        if (sl_os_stop_wait(wait))
            break;
        if (sl_os_trigger_take())
            signal_trigger(srv);
        now = sl_os_mono_ns();
        sl_server_get_stats(srv, &st);
        if (stats_every != 0 && now - last_stats >= stats_every * 1000000000u) {
            double secs = (double)(now - last_stats) / 1e9;
            status_line sl;
            unsigned cols = live_line ? sl_os_term_columns() : 0;

            /* One column short of the width: writing the last column
             * makes some terminals wrap at once. */
            status_init(&sl, live_line ? (cols > 1 ? cols - 1 : 79) : 0);

            /* On a terminal one line rewritten in place, fitted to its
             * width (fields dropped from the right: a wrapped line would
             * scroll at every refresh); otherwise one plain line per
             * interval, for logs, with every field. */
            status_field(&sl, "events/s=%.0f",
                         (double)(st.events - last_events) / secs);
            status_field(&sl, "MB/s=%.1f",
                         (double)(st.bytes - last_bytes) / secs / 1e6);
            status_field(&sl, "producers=%" PRIu64 "/%" PRIu64,
                         st.producers_now, st.producers_total);
            status_field(&sl, "ring=%.0f%%", 100.0 * (double)st.ring_used /
                                                 (double)st.ring_capacity);
            status_field(&sl, "events=%" PRIu64, st.events);
            status_field(&sl, "dropped=%" PRIu64, st.dropped);
            status_field(&sl, "malformed=%" PRIu64, st.malformed);
#ifdef SL_HAVE_NATS
            if (fwd != NULL) {
                sl_forward_get_stats(fwd, &fst);
                status_field(&sl, "forwarded=%" PRIu64, fst.forwarded_blocks);
                status_field(&sl, "pending=%" PRIu64, fst.pending_blocks);
                status_field(&sl, "pending_bytes=%" PRIu64, fst.pending_bytes);
                if (fst.expired_unforwarded != 0)
                    status_field(&sl, "expired_unforwarded=%" PRIu64,
                                 fst.expired_unforwarded);
                if (!fst.connected)
                    status_field(&sl, "%s", "nats=disconnected");
            }
#endif
            if (live_line)
                fprintf(stderr, "\r\033[K%s", sl.line);
            else
                fprintf(stderr, "%s\n", sl.line);
            fflush(stderr);
            last_stats = now;
            last_events = st.events;
            last_bytes = st.bytes;
        }
    }
    if (live_line && stats_every != 0)
        fputs("\r\033[K", stderr);
    if (sl_server_error(srv) != 0) {
        fprintf(stderr, "sluice-collector: writing %s failed: %s; "
                "stopping (the file is valid up to the last whole "
                "block)\n", out_shown, sl_strerror(sl_server_error(srv)));
        failed = 1;
    }

    rc = sl_server_stop(srv);
    sl_server_get_stats(srv, &st);
    if (rc != 0 && !failed) {
        fprintf(stderr, "sluice-collector: finishing %s failed: %s\n",
                out_shown, sl_strerror(rc));
        failed = 1;
    }
    printf("collector: producers=%" PRIu64 " events=%" PRIu64
           " bytes=%" PRIu64 " dropped=%" PRIu64 " malformed=%" PRIu64 "\n",
           st.producers_total, st.events, st.bytes, st.dropped,
           st.malformed);
#ifdef SL_HAVE_NATS
    if (fwd != NULL) {
        /* After the writer's close record: forward the rest, waiting at
         * most --forward-drain for the acknowledgements. */
        int frc = sl_forward_finish(fwd);

        sl_forward_get_stats(fwd, &fst);
        printf("forward: blocks=%" PRIu64 " bytes=%" PRIu64 " duplicates=%"
               PRIu64 " pending_blocks=%" PRIu64 " pending_bytes=%" PRIu64
               " errors=%" PRIu64 " expired_unforwarded=%" PRIu64 "\n",
               fst.forwarded_blocks, fst.forwarded_bytes, fst.duplicates,
               fst.pending_blocks, fst.pending_bytes, fst.errors,
               fst.expired_unforwarded);
        if (frc != 0)
            fprintf(stderr, "sluice-collector: forwarding not finished "
                    "(%s%s); the rest is sent on the next start with "
                    "--forward\n", fst.last_error[0] != '\0' ?
                    "last error: " : "no acknowledgement in time",
                    fst.last_error);
        sl_forward_close(fwd);
    }
#endif
    fflush(stdout);
    atomic_store_explicit(&hook_srv, NULL, memory_order_release);
    sl_server_close(srv);
    return failed ? 1 : 0;
}
