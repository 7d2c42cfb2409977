/*
 * sluice-producer: a command-line producer built on libsluice-producer.
 * It connects to a collector's pipe and sends either N synthetic events
 * (printable payloads, so text mode works too) or each line of stdin as
 * one event, optionally paced to a maximum rate, then prints
 *   producer: events=N bytes=B seconds=S
 * Exit codes follow the DESIGN.md contract: 0 success, 1 runtime error,
 * 2 usage error, with a one-line reason on stderr.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os.h"
#include "sluice/producer.h"
#include "wire.h"

#ifdef _WIN32
#include <io.h>
#else
#include <errno.h>
#include <unistd.h>
#endif

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.1.0"
#endif

#define PROG "sluice-producer"
#define EXIT_RUNTIME 1
#define EXIT_USAGE 2

typedef struct args {
    const char *pipe;
    uint64_t count;
    int count_set;
    uint64_t size;
    uint64_t rate;
    int text;
    int use_stdin;
    const char *name;
    uint64_t type;
    uint64_t connect_timeout_ms;
    const char *collector_user;
    const char *workload; /* NULL/"synthetic", "profiler", "log:FILE" */
    int show_config;
} args;

typedef struct option {
    const char *name;
    int takes_value;
} option;

static const option options[] = {
    {"--pipe", 1},  {"--count", 1},           {"--size", 1},
    {"--rate", 1},  {"--text", 0},            {"--stdin", 0},
    {"--name", 1},  {"--type", 1},            {"--connect-timeout", 1},
    {"--collector-user", 1},                  {"--workload", 1},
    {"--show-config", 0},
    {"--help", 0},  {"--version", 0},
};

static void
usage(FILE *f)
{
    fputs(
        "Usage: " PROG " --pipe NAME [options]\n"
        "\n"
        "Connects to a sluice collector on pipe NAME and sends events, then\n"
        "prints 'producer: events=N bytes=B seconds=S filtered=F' (F: events\n"
        "of types the collector disabled, not sent).\n"
        "\n"
        "  --pipe NAME            Collector pipe (required). POSIX: the socket\n"
        "                         $TMPDIR/CoreFxPipe_NAME (TMPDIR defaults to\n"
        "                         /tmp), or NAME itself if it contains '/'.\n"
        "  --count N              Synthetic events to send (default 1000).\n"
        "                         With --stdin: stop after N lines (default:\n"
        "                         all of stdin).\n"
        "  --size BYTES           Payload bytes per synthetic event (default\n"
        "                         64; at most the collector's max payload).\n"
        "  --rate N               Send at most N events per second (default 0\n"
        "                         = as fast as the collector accepts).\n"
        "  --text                 Text mode: each event is one line (default:\n"
        "                         binary frames).\n"
        "  --stdin                Send each line of stdin as one event (the\n"
        "                         trailing \\r\\n is stripped) instead of\n"
        "                         synthetic events; --size is ignored.\n"
        "  --name LABEL           Producer name in the capture (binary mode;\n"
        "                         default: the executable's name).\n"
        "  --type T               Event type, 0..61439 or 0x0..0xEFFF\n"
        "                         (binary mode; default 0).\n"
        "  --connect-timeout MS   Keep retrying the connection this long\n"
        "                         (default 5000; 0 = one attempt).\n"
        "  --collector-user USER  Also trust a collector running as USER (POSIX:\n"
        "                         a numeric uid; Windows: a SID string). By\n"
        "                         default only a collector of our own user is\n"
        "                         sent anything; another user's pipe is refused.\n"
        "  --workload W           What the --count events are: synthetic\n"
        "                         (default), profiler (begin/end slices with\n"
        "                         interned function ids and varint fields)\n"
        "                         or log:FILE (FILE's lines, replayed in a\n"
        "                         loop); --size and --type are ignored.\n"
        "  --show-config          Print the configuration the collector sent,\n"
        "                         one KEY=VALUE a line, before sending.\n"
        "  --help                 Print this help and exit.\n"
        "  --version              Print the version and exit.\n"
        "\n"
        "Exit status: 0 success, 1 runtime error, 2 usage error.\n",
        f);
}

static int
usage_error(const char *fmt, const char *what)
{
    fprintf(stderr, PROG ": ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\nTry '" PROG " --help' for more information.\n");
    return EXIT_USAGE;
}

/*
 * Strict unsigned parse: decimal digits only (or 0x-hex when hex_ok), no
 * sign, no spaces, no trailing junk, no overflow, at most max.
 */
static int
parse_u64(const char *s, uint64_t max, int hex_ok, uint64_t *out)
{
    uint64_t v = 0;
    unsigned base = 10;

    if (hex_ok && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (*s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        unsigned d;

        if (*s >= '0' && *s <= '9')
            d = (unsigned)(*s - '0');
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            d = (unsigned)(*s - 'a' + 10);
        else if (base == 16 && *s >= 'A' && *s <= 'F')
            d = (unsigned)(*s - 'A' + 10);
        else
            return -1;
        if (v > (UINT64_MAX - d) / base)
            return -1;
        v = v * base + d;
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static int
set_number(const char *opt, const char *val, uint64_t max, int hex_ok,
           uint64_t *out)
{
    if (parse_u64(val, max, hex_ok, out) == 0)
        return 0;
    /* The range in both spellings the option takes, as --help says it. */
    if (hex_ok)
        fprintf(stderr,
                PROG ": invalid value '%s' for %s (expected 0..%" PRIu64
                     " or 0x0..0x%" PRIX64 ")\nTry '" PROG
                     " --help' for more information.\n",
                val, opt, max, max);
    else
        fprintf(stderr,
                PROG ": invalid value '%s' for %s (expected a decimal "
                     "integer 0..%" PRIu64 ")\nTry '" PROG
                     " --help' for more information.\n",
                val, opt, max);
    return EXIT_USAGE;
}

/* Returns 0 to continue, or an exit code (-1 for "exit 0 now"). */
static int
parse_args(int argc, char **argv, args *a)
{
    memset(a, 0, sizeof(*a));
    a->count = 1000;
    a->size = 64;
    a->connect_timeout_ms = 5000;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL, *eq;
        const option *opt = NULL;
        char key[32];
        size_t key_len;
        int rc = 0;

        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
            return usage_error("unexpected argument '%s'", arg);
        eq = strchr(arg, '=');
        key_len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        if (key_len >= sizeof(key))
            return usage_error("unknown option '%s'", arg);
        memcpy(key, arg, key_len);
        key[key_len] = '\0';
        for (size_t k = 0; k < sizeof(options) / sizeof(options[0]); k++)
            if (strcmp(options[k].name, key) == 0)
                opt = &options[k];
        if (opt == NULL)
            return usage_error("unknown option '%s'", key);
        if (opt->takes_value) {
            if (eq != NULL)
                val = eq + 1;
            else if (i + 1 < argc)
                val = argv[++i];
            else
                return usage_error("option '%s' needs a value", key);
        } else if (eq != NULL) {
            return usage_error("option '%s' takes no value", key);
        }

        if (strcmp(key, "--help") == 0) {
            usage(stdout);
            return -1;
        } else if (strcmp(key, "--version") == 0) {
            printf(PROG " %s\n", SLUICE_VERSION);
            return -1;
        } else if (strcmp(key, "--pipe") == 0) {
            if (val[0] == '\0')
                return usage_error("%s", "empty pipe name");
            a->pipe = val;
        } else if (strcmp(key, "--count") == 0) {
            rc = set_number(key, val, UINT64_MAX, 0, &a->count);
            a->count_set = 1;
        } else if (strcmp(key, "--size") == 0) {
            rc = set_number(key, val, SL_WIRE_MAX_FRAME_LIMIT, 0, &a->size);
        } else if (strcmp(key, "--rate") == 0) {
            rc = set_number(key, val, 1000000000u, 0, &a->rate);
        } else if (strcmp(key, "--text") == 0) {
            a->text = 1;
        } else if (strcmp(key, "--show-config") == 0) {
            a->show_config = 1;
        } else if (strcmp(key, "--stdin") == 0) {
            a->use_stdin = 1;
        } else if (strcmp(key, "--name") == 0) {
            if (strlen(val) > SL_WIRE_NAME_MAX)
                return usage_error("%s", "--name is longer than 255 bytes");
            a->name = val;
        } else if (strcmp(key, "--type") == 0) {
            rc = set_number(key, val, SLUICE_TYPE_MAX, 1, &a->type);
        } else if (strcmp(key, "--workload") == 0) {
            if (strcmp(val, "synthetic") != 0 &&
                strcmp(val, "profiler") != 0 &&
                !(strncmp(val, "log:", 4) == 0 && val[4] != '\0'))
                return usage_error("--workload must be synthetic, profiler "
                                   "or log:FILE, not '%s'", val);
            a->workload = strcmp(val, "synthetic") == 0 ? NULL : val;
        } else if (strcmp(key, "--connect-timeout") == 0) {
            rc = set_number(key, val, UINT32_MAX, 0, &a->connect_timeout_ms);
        } else if (strcmp(key, "--collector-user") == 0) {
            a->collector_user = val; /* checked by the library at open */
        }
        if (rc != 0)
            return rc;
    }
    if (a->pipe == NULL)
        return usage_error("%s", "missing required option --pipe");
    return 0;
}

/*
 * Paces events to at most rate per second against the monotonic clock.
 * It checks the clock once per batch of about 10 ms worth of events, so a
 * high rate costs no per-event syscall and sleeps stay long enough to be
 * accurate.
 */
typedef struct pacer {
    uint64_t rate;
    uint64_t start_ns;
    uint64_t batch;
} pacer;

static void
pacer_init(pacer *pc, uint64_t rate)
{
    pc->rate = rate;
    pc->start_ns = sl_os_mono_ns();
    pc->batch = rate / 100 > 0 ? rate / 100 : 1;
}

/* Call before sending event number `sent` (counting from 0). */
static void
pacer_wait(const pacer *pc, uint64_t sent)
{
    uint64_t due, now;

    if (pc->rate == 0 || sent % pc->batch != 0)
        return;
    due = pc->start_ns + sent / pc->rate * 1000000000u +
          sent % pc->rate * 1000000000u / pc->rate;
    now = sl_os_mono_ns();
    if (now < due)
        sl_os_sleep_ns(due - now);
}

static int
send_failed(const args *a, uint64_t n, int rc)
{
    fprintf(stderr, PROG ": pipe '%s': sending event %" PRIu64 " failed: %s\n",
            a->pipe, n, sluice_strerror(rc));
    return EXIT_RUNTIME;
}

/* The decimal digits of a counter, kept as text and incremented in place,
 * so that numbering a payload costs a few byte stores, not a snprintf. */
typedef struct counter {
    char digits[24]; /* most significant first, no NUL */
    size_t len;
} counter;

static void
counter_next(counter *c)
{
    size_t i = c->len;

    while (i > 0 && c->digits[i - 1] == '9')
        c->digits[--i] = '0';
    if (i > 0) {
        c->digits[i - 1]++;
        return;
    }
    memmove(c->digits + 1, c->digits, c->len); /* 99 -> 100 */
    c->digits[0] = '1';
    c->len++;
}

static int
send_synthetic(sluice_producer *p, const args *a)
{
    pacer pacing;
    char *buf;
    size_t size = (size_t)a->size, plen;
    counter seq = {{'0'}, 1};
    int rc = 0;

    buf = malloc(size > 0 ? size : 1);
    if (buf == NULL) {
        fprintf(stderr, PROG ": %s\n", sluice_strerror(SLUICE_ENOMEM));
        return EXIT_RUNTIME;
    }
    /* A repeating a-z pattern; each event overwrites the front with its
     * "ev <seq> " prefix, which never gets shorter as seq grows, so the
     * bytes after it are always the pattern. The payload is built once
     * and only the digits change per event, so that generating it does
     * not cost more than sending it. */
    for (size_t i = 0; i < size; i++)
        buf[i] = (char)('a' + i % 26);
    if (size > 0)
        buf[0] = 'e';
    if (size > 1)
        buf[1] = 'v';
    if (size > 2)
        buf[2] = ' ';
    pacer_init(&pacing, a->rate);
    for (uint64_t i = 0; i < a->count; i++) {
        if (size > 3) {
            plen = seq.len + 1 < size - 3 ? seq.len + 1 : size - 3;
            memcpy(buf + 3, seq.digits, plen > seq.len ? seq.len : plen);
            if (plen > seq.len)
                buf[3 + seq.len] = ' ';
        }
        pacer_wait(&pacing, i);
        rc = sluice_producer_emit(p, (uint16_t)a->type, buf, size);
        if (rc != 0) {
            rc = send_failed(a, i, rc);
            break;
        }
        counter_next(&seq);
    }
    free(buf);
    return rc;
}

/* read(2) on fd 0: unlike fread, it returns as soon as a line arrives, so
 * a slow pipe's lines are not held until a whole buffer fills. */
static int
read_stdin(char *buf, size_t cap, size_t *n)
{
#ifdef _WIN32
    int r = _read(0, buf, cap > 0x7fffffffu ? 0x7fffffffu : (unsigned)cap);

    if (r < 0)
        return -1;
    *n = (size_t)r;
    return 0;
#else
    ssize_t r;

    do
        r = read(0, buf, cap);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -1;
    *n = (size_t)r;
    return 0;
#endif
}

static int
send_stdin(sluice_producer *p, const args *a)
{
    size_t max = sluice_producer_max_payload(p);
    /* Room for the longest accepted line, its "\r\n", and a large read. */
    size_t cap = max + 2 + 65536, len = 0;
    uint64_t sent = 0, limit = a->count_set ? a->count : UINT64_MAX;
    pacer pacing;
    char *buf;
    int rc = 0, eof = 0;

    buf = malloc(cap);
    if (buf == NULL) {
        fprintf(stderr, PROG ": %s\n", sluice_strerror(SLUICE_ENOMEM));
        return EXIT_RUNTIME;
    }
    pacer_init(&pacing, a->rate);
    while (!eof && sent < limit) {
        size_t n, pos = 0;
        char *nl;

        if (read_stdin(buf + len, cap - len, &n) != 0) {
            fprintf(stderr, PROG ": reading stdin failed\n");
            rc = EXIT_RUNTIME;
            break;
        }
        eof = n == 0;
        len += n;
        while (sent < limit) {
            size_t line_len;

            nl = memchr(buf + pos, '\n', len - pos);
            if (nl == NULL) {
                if (!eof || pos == len)
                    break;
                nl = buf + len; /* the last line has no '\n' */
            }
            line_len = (size_t)(nl - (buf + pos));
            if (line_len > 0 && buf[pos + line_len - 1] == '\r')
                line_len--;
            if (line_len > max) {
                fprintf(stderr,
                        PROG ": stdin line %" PRIu64 " is %zu bytes, above "
                             "the collector's max payload of %zu\n",
                        sent + 1, line_len, max);
                rc = EXIT_RUNTIME;
                goto done;
            }
            pacer_wait(&pacing, sent);
            rc = sluice_producer_emit(p, (uint16_t)a->type, buf + pos,
                                      line_len);
            if (rc != 0) {
                rc = send_failed(a, sent, rc);
                goto done;
            }
            sent++;
            pos = nl < buf + len ? (size_t)(nl - buf) + 1 : len;
        }
        memmove(buf, buf + pos, len - pos);
        len -= pos;
        if (len == cap) {
            fprintf(stderr,
                    PROG ": stdin line %" PRIu64 " is longer than the "
                         "collector's max payload of %zu bytes\n",
                    sent + 1, max);
            rc = EXIT_RUNTIME;
            break;
        }
    }
done:
    free(buf);
    return rc;
}

/* ---- realistic workloads (--workload) ---------------------------------- */

/* LEB128, as compact profilers encode small integers. */
static size_t
put_varint(unsigned char *p, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

/*
 * A profiler-like stream: nested begin/end slices (types 0xE000|fn and
 * 0xE800|fn, docs/protocol.md 6.5) of 48 functions. As a real profiler
 * interns strings, a function's name is sent once, in its first begin;
 * later begins carry only varints: thread id, call id (delta-free, it
 * grows), and a small argument; ends carry a small result. Deterministic
 * (a fixed LCG), so runs are comparable.
 */
static int
send_profiler(sluice_producer *p, const args *a)
{
    static const char *const mod[] = {"http", "db", "cache", "json",
                                      "alloc", "sched"};
    static const char *const fn[] = {"read_request", "parse", "lookup",
                                     "encode", "flush", "wait", "commit",
                                     "dispatch"};
    unsigned char seen[48] = {0}, buf[160];
    unsigned stack[32];
    unsigned depth = 0;
    uint64_t rng = 0x9E3779B97F4A7C15u, call = 0;
    pacer pacing;
    int rc = 0;

    pacer_init(&pacing, a->rate);
    for (uint64_t i = 0; i < a->count; i++) {
        unsigned r, f;
        size_t n = 0;
        uint16_t type;

        rng = rng * 6364136223846793005u + 1442695040888963407u;
        r = (unsigned)(rng >> 33);
        if (depth > 0 && (depth == 32 || r % 100 < 45 + depth * 5)) {
            f = stack[--depth];
            type = (uint16_t)(0xE800u | f);
            n = put_varint(buf, (r >> 8) % 4); /* result code */
        } else {
            f = (r >> 8) % 48;
            if (f >= 24) /* a few hot functions take most calls */
                f %= 6;
            stack[depth++] = f;
            type = (uint16_t)(0xE000u | f);
            if (!seen[f]) {
                seen[f] = 1;
                n = (size_t)snprintf((char *)buf, sizeof(buf), "%s::%s",
                                     mod[f % 6], fn[f / 6]);
            } else {
                n = put_varint(buf, 1000 + (r >> 20) % 8); /* thread */
                n += put_varint(buf + n, call++);
                n += put_varint(buf + n, (r >> 12) % 4096); /* bytes */
            }
        }
        pacer_wait(&pacing, i);
        rc = sluice_producer_emit(p, type, buf, n);
        if (rc != 0)
            return send_failed(a, i, rc);
    }
    return 0;
}

/* Replays FILE's lines (without their line ends) as events, from the top
 * again at its end, until --count events are sent. */
static int
send_log(sluice_producer *p, const args *a, const char *file)
{
    size_t max = sluice_producer_max_payload(p), len = 0, pos = 0;
    FILE *f = fopen(file, "rb");
    char *data = NULL;
    pacer pacing;
    int rc = 0;

    if (f == NULL) {
        fprintf(stderr, PROG ": --workload log: cannot open '%s'\n", file);
        return EXIT_RUNTIME;
    }
    for (;;) {
        char *nd = realloc(data, len + 65536);
        size_t n;

        if (nd == NULL) {
            free(data);
            fclose(f);
            fprintf(stderr, PROG ": %s\n", sluice_strerror(SLUICE_ENOMEM));
            return EXIT_RUNTIME;
        }
        data = nd;
        n = fread(data + len, 1, 65536, f);
        len += n;
        if (n == 0 || len > (256u << 20))
            break;
    }
    fclose(f);
    if (memchr(data, '\n', len) == NULL) {
        fprintf(stderr, PROG ": --workload log: '%s' has no lines\n", file);
        free(data);
        return EXIT_RUNTIME;
    }
    pacer_init(&pacing, a->rate);
    for (uint64_t i = 0; i < a->count;) {
        char *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl != NULL ? (size_t)(nl - data) : len, l = end - pos;

        if (l > 0 && data[end - 1] == '\r')
            l--;
        if (l > max)
            l = max;
        if (pos < len) {
            pacer_wait(&pacing, i);
            rc = sluice_producer_emit(p, (uint16_t)a->type, data + pos, l);
            if (rc != 0) {
                rc = send_failed(a, i, rc);
                break;
            }
            i++;
        }
        pos = end + 1;
        if (pos >= len)
            pos = 0;
    }
    free(data);
    return rc;
}

int
main(int argc, char **argv)
{
    sluice_producer_opts opts;
    sluice_producer *p = NULL;
    char path[512];
    uint64_t start, events = 0, bytes = 0, filtered = 0;
    double seconds;
    args a;
    int rc;

    sl_os_args_utf8(&argc, &argv);
    rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc < 0 ? 0 : rc;

    sluice_producer_opts_init(&opts);
    opts.connect_timeout_ms = (uint32_t)a.connect_timeout_ms;
    opts.text = a.text;
    if (a.name != NULL) {
        opts.name = a.name;
        opts.name_len = strlen(a.name);
    }
    opts.collector_user = a.collector_user;
    /* Checked at open, before the hello: a --size the collector refuses
     * must not leave an empty producer in its capture. */
    if (!a.use_stdin && a.workload == NULL) /* --size is the synthetic's */
        opts.min_payload = (size_t)a.size;
    {
        size_t path_len = 0;

        /* Said here, with the path and the limit: the library can only
         * return SLUICE_ENAMETOOLONG, which also means a name too long. */
        if (sl_os_pipe_path(a.pipe, strlen(a.pipe), path, sizeof(path),
                            &path_len) == SLUICE_ENAMETOOLONG &&
            path_len > 0) {
            fprintf(stderr, PROG ": cannot connect to pipe '%s' (%s): the "
                    "socket path is %zu bytes, over the system's limit of "
                    "%u bytes for a socket path; use a shorter name, or a "
                    "shorter TMPDIR\n", a.pipe, path, path_len,
                    (unsigned)SL_OS_PIPE_PATH_MAX);
            return EXIT_RUNTIME;
        }
    }
    rc = sluice_producer_open(a.pipe, strlen(a.pipe), &opts, &p);
    if (rc == SLUICE_EINVAL && a.collector_user != NULL)
        return usage_error("invalid value '%s' for --collector-user "
                           "(expected a numeric uid on POSIX, a SID string "
                           "such as S-1-5-18 on Windows)",
                           a.collector_user);
    if (rc == SLUICE_ENAMETOOLONG) {
        /* The socket path was checked above, so it is the producer name
         * that does not fit the collector's hello (protocol.md §3). */
        if (a.name != NULL)
            fprintf(stderr, PROG ": --name is %zu bytes, more than the "
                    "collector on pipe '%s' accepts (at most its max frame "
                    "minus 32, and 255; nothing was sent)\n",
                    strlen(a.name), a.pipe);
        else
            fprintf(stderr, PROG ": this program's name is longer than the "
                    "collector on pipe '%s' accepts (at most its max frame "
                    "minus 32, and 255); give a shorter --name (nothing was "
                    "sent)\n", a.pipe);
        return EXIT_RUNTIME;
    }
    if (rc == SLUICE_ETOOBIG) {
        fprintf(stderr,
                PROG ": --size %" PRIu64 " is above the collector's max "
                     "payload on pipe '%s' (nothing was sent)\n",
                a.size, a.pipe);
        return EXIT_RUNTIME;
    }
    if (rc == SLUICE_ECONNREFUSED || rc == SLUICE_ENOENT) {
        char retried[64];
        int have_path = sl_os_pipe_path(a.pipe, strlen(a.pipe), path,
                                        sizeof(path), NULL) == 0;

        /* The two a user meets most: say what is there and how long we
         * waited for a collector to come. */
        if (a.connect_timeout_ms > 0)
            snprintf(retried, sizeof(retried),
                     "kept retrying for %" PRIu64 " ms, --connect-timeout",
                     a.connect_timeout_ms);
        else
            snprintf(retried, sizeof(retried),
                     "tried once, --connect-timeout 0");
        fprintf(stderr, PROG ": cannot connect to pipe '%s'%s%s%s: %s "
                "(%s); is a collector running with --pipe %s?\n", a.pipe,
                have_path ? " (" : "", have_path ? path : "",
                have_path ? ")" : "",
                rc == SLUICE_ECONNREFUSED
                    ? "nobody is listening on it (a stale socket left "
                      "by a collector that is gone)"
                    : "no such pipe",
                retried, a.pipe);
        return EXIT_RUNTIME;
    }
    if (rc != 0) {
        const char *hint = "";

        if (rc == SLUICE_EUNTRUSTED)
            hint = " (nothing was sent; --collector-user USER trusts "
                   "another user)";
        else if (rc == SLUICE_EACCES)
            hint = " (the collector's socket does not admit this user; "
                   "see sluice-collector --group)";
        if (sl_os_pipe_path(a.pipe, strlen(a.pipe), path, sizeof(path),
                            NULL) == 0)
            fprintf(stderr, PROG ": cannot connect to pipe '%s' (%s): %s%s\n",
                    a.pipe, path, sluice_strerror(rc), hint);
        else
            fprintf(stderr, PROG ": cannot connect to pipe '%s': %s%s\n",
                    a.pipe, sluice_strerror(rc), hint);
        return EXIT_RUNTIME;
    }

    if (a.show_config) {
        const void *cur = NULL;
        const char *k, *v;
        size_t kl, vl;

        while (sluice_producer_config_next(p, &cur, &k, &kl, &v, &vl) == 0)
            printf("%.*s=%.*s\n", (int)kl, k, (int)vl, v);
        fflush(stdout);
    }
    start = sl_os_mono_ns();
    if (a.use_stdin)
        rc = send_stdin(p, &a);
    else if (a.workload != NULL && strcmp(a.workload, "profiler") == 0)
        rc = send_profiler(p, &a);
    else if (a.workload != NULL && strncmp(a.workload, "log:", 4) == 0)
        rc = send_log(p, &a, a.workload + 4);
    else
        rc = send_synthetic(p, &a);
    sluice_producer_counts(p, &events, &bytes);
    filtered = sluice_producer_filtered(p);
    {
        int crc = sluice_producer_close(p);

        if (rc == 0 && crc != 0) {
            fprintf(stderr, PROG ": pipe '%s': final flush failed: %s\n",
                    a.pipe, sluice_strerror(crc));
            rc = EXIT_RUNTIME;
        }
    }
    if (rc != 0)
        return rc;
    seconds = (double)(sl_os_mono_ns() - start) / 1e9;
    printf("producer: events=%" PRIu64 " bytes=%" PRIu64 " seconds=%.3f"
           " filtered=%" PRIu64 "\n", events, bytes, seconds, filtered);
    return fflush(stdout) == 0 ? 0 : EXIT_RUNTIME;
}
