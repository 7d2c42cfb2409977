/*
 * sluice-ctl: steers a running collector through its control connection
 * (docs/protocol.md section 14): the collector's own endpoint, so the same
 * access control applies (socket permissions, --group, --allow-uid; the
 * pipe's DACL on Windows), and a control connection is never a producer.
 * One request, one response. Exit status: 0 done, 1 runtime error (no
 * collector, refused, the request failed), 2 usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "escape.h"
#include "os.h"
#include "state.h"
#include "transport.h"
#include "wire.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.0.0"
#endif

#define PROG "sluice-ctl"


/* Writes text from the collector (names, config values, error texts) to f
 * with every control character, invisible formatting character and byte
 * that is not UTF-8 shown as \xNN, so a producer's name cannot drive the
 * operator's terminal; newlines and tabs (the layout) pass, as does
 * everything else, backslashes included (the --json output stays JSON). */
static void
put_safe(FILE *f, const char *text, size_t n)
{
    const uint8_t *p = (const uint8_t *)text;
    size_t i = 0;

    while (i < n) {
        size_t len = p[i] == '\n' || p[i] == '\t' ? 1 : sl_utf8_len(p + i, n - i);

        if (len == 1 && (p[i] == '\n' || p[i] == '\t'))
            fputc(p[i], f);
        else if (len > 0 && sl_esc_printable(p + i, len))
            fwrite(p + i, 1, len, f);
        else {
            if (len == 0)
                len = 1;
            for (size_t k = 0; k < len; k++)
                fprintf(f, "\\x%02x", p[i + k]);
        }
        i += len;
    }
}

static const char usage_text[] =
    "Usage: sluice-ctl --pipe NAME COMMAND [ARGS]\n"
    "\n"
    "Steers the sluice-collector serving pipe NAME.\n"
    "\n"
    "Commands (--json: one JSON document instead of text):\n"
    "  status [--json]      producers now and total, events/s and MB/s (since\n"
    "                       the previous status request), ring fill, dropped,\n"
    "                       malformed, filtered, enabled types, configuration,\n"
    "                       capture file; in a collector that forwards to NATS:\n"
    "                       connected or not, blocks and bytes forwarded and\n"
    "                       pending, duplicates, errors, the last error\n"
    "  producers [--json]   one row per live producer: id, name, pid, uid,\n"
    "                       mode, events, filtered, dropped\n"
    "  enable TYPES         enable event types (as sluice-dump's filter: 5,7-9,\n"
    "                       0x10-0x1F; 0..61439) in every producer\n"
    "  disable TYPES        disable them: producers filter those events\n"
    "  config KEY=VALUE...  set configuration values and push them to the\n"
    "                       producers (KEY: 1..128 of A-Z a-z 0-9 _ . -;\n"
    "                       VALUE: up to 4096 bytes, no CR or LF)\n"
    "  rotate               start a new capture file (collectors with\n"
    "                       rotation)\n"
    "  snapshot             trigger the flight recorder (collectors with one):\n"
    "                       it writes FILE-stem.snapshot-NNN.ext; prints its\n"
    "                       name\n"
    "  stop                 stop the collector cleanly, as SIGTERM does\n"
    "\n"
    "Options:\n"
    "  --pipe NAME          the collector's pipe name (required)\n"
    "  --timeout MS         give up after MS milliseconds without an answer\n"
    "                       (default: 5000; 1..3600000)\n"
    "  --collector-user USER  also trust a collector running as USER (POSIX:\n"
    "                       a numeric uid; Windows: a SID string), as\n"
    "                       sluice-producer's option of the same name\n"
    "  --help               show this help\n"
    "  --version            show the version\n"
    "\n"
    "Every change is recorded in the capture (a state record) and pushed to\n"
    "every connected producer that accepts updates (libsluice-producer).\n"
    "A response longer than 64 MiB is refused. Control connections take no\n"
    "producer slot (at most 16 at once).\n"
    "\n"
    "Exit status: 0 done, 1 runtime error (no collector, refused, request\n"
    "failed), 2 usage error.\n";

static void
usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, PROG ": ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry '" PROG " --help'.\n");
    exit(2);
}

/* Checks a command's arguments here, so a typo is a usage error (2). */
static void
check_request(int n, char **w)
{
    const char *cmd = w[0];
    uint8_t map[SL_STATE_MAP_BYTES];

    if (strcmp(cmd, "status") == 0 || strcmp(cmd, "producers") == 0) {
        if (n > 2 || (n == 2 && strcmp(w[1], "--json") != 0))
            usage_error("%s takes only --json", cmd);
    } else if (strcmp(cmd, "enable") == 0 || strcmp(cmd, "disable") == 0) {
        if (n != 2)
            usage_error("%s needs one TYPES argument", cmd);
        if (sl_state_types(map, w[1], 1) != 0) {
            /* One line, then the hint, as every usage error. */
            fprintf(stderr, PROG ": %s: '%s' is not a list of event types "
                    "(numbers or ranges A-B, 0..61439 or 0x0..0xEFFF, "
                    "comma-separated)\nTry '" PROG " --help'.\n", cmd, w[1]);
            exit(2);
        }
    } else if (strcmp(cmd, "config") == 0) {
        if (n < 2)
            usage_error("%s", "config needs KEY=VALUE arguments");
        for (int i = 1; i < n; i++) {
            const char *eq = strchr(w[i], '=');

            if (eq == NULL || !sl_state_key_ok(w[i], (size_t)(eq - w[i])) ||
                !sl_state_value_ok(eq + 1, strlen(eq + 1)))
                usage_error("config: '%s' is not KEY=VALUE (KEY: 1..128 of "
                            "A-Z a-z 0-9 _ . -; VALUE: up to 4096 bytes, no "
                            "CR or LF)", w[i]);
        }
    } else if (strcmp(cmd, "rotate") == 0 || strcmp(cmd, "snapshot") == 0 ||
               strcmp(cmd, "stop") == 0) {
        if (n != 1)
            usage_error("%s takes no arguments", cmd);
    } else {
        usage_error("unknown command '%s'", cmd);
    }
}

static int
read_greeting(sl_transport *t, uint32_t timeout_ms, char *g, size_t *len)
{
    size_t have = 0;

    while (have < SL_WIRE_GREETING_MAX) {
        size_t n = 0;
        char *nul;
        int rc = sl_transport_read(t, g + have, SL_WIRE_GREETING_MAX - have,
                                   &n, timeout_ms);

        if (rc != 0)
            return rc;
        if (n == 0)
            return SL_ECONNRESET;
        nul = memchr(g + have, '\0', n);
        if (nul != NULL) {
            *len = (size_t)(nul - g);
            return 0;
        }
        have += n;
    }
    return SL_EPROTO;
}

/* 1 for a request that changes the collector (its answer says whether it
 * was applied). */
static int
is_change(const char *cmd)
{
    return strcmp(cmd, "enable") == 0 || strcmp(cmd, "disable") == 0 ||
           strcmp(cmd, "config") == 0 || strcmp(cmd, "rotate") == 0 ||
           strcmp(cmd, "snapshot") == 0 || strcmp(cmd, "stop") == 0;
}

/* Says on stderr that no whole answer came; for a change, that it may or
 * may not have been made and how to find out. */
static void
no_answer(const char *pipe, const char *cmd, const char *why,
          uint64_t timeout)
{
    if (strcmp(why, "timeout") == 0)
        fprintf(stderr, PROG ": no answer from the collector on pipe '%s' "
                "within %llu ms (--timeout)", pipe,
                (unsigned long long)timeout);
    else
        fprintf(stderr, PROG ": the collector on pipe '%s' %s", pipe, why);
    if (is_change(cmd))
        fprintf(stderr, ": the %s request may or may not have been "
                "applied; check with '" PROG " --pipe %s status'", cmd,
                pipe);
    fputc('\n', stderr);
}

int
main(int argc, char **argv)
{
    const char *pipe = NULL, *trust_user = NULL;
    uint64_t timeout = 5000;
    char greeting[SL_WIRE_GREETING_MAX + 1];
    /* Static: main returns from many places, and the path lives as long as
     * the process (so it is not a leak to LeakSanitizer either). */
    static char *path;
    char **words = NULL;
    int nwords = 0;
    sl_transport *t;
    uint32_t version, max_frame, id;
    size_t glen = 0, reqlen, rlen = 0, rcap = 65536, path_len = 0, path_cap;
    const char *refusal = NULL, *tmpdir;
    char *req, *resp;
    int rc, whole = 0;

    sl_os_args_utf8(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (nwords == 0 && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            fputs(usage_text, stdout);
            return 0;
        } else if (nwords == 0 && strcmp(a, "--version") == 0) {
            printf(PROG " %s\n", SLUICE_VERSION);
            return 0;
        } else if (nwords == 0 && strcmp(a, "--pipe") == 0) {
            if (i + 1 >= argc || argv[i + 1][0] == '\0')
                usage_error("%s", "--pipe needs a NAME");
            pipe = argv[++i];
        } else if (nwords == 0 && strcmp(a, "--collector-user") == 0) {
            if (i + 1 >= argc || argv[i + 1][0] == '\0')
                usage_error("%s", "--collector-user needs a USER");
            trust_user = argv[++i];
        } else if (nwords == 0 && strcmp(a, "--timeout") == 0) {
            char *end;

            if (i + 1 >= argc)
                usage_error("%s", "--timeout needs MS");
            timeout = strtoull(argv[++i], &end, 10);
            if (*end != '\0' || argv[i][0] == '\0' || timeout == 0 ||
                timeout > 3600000u)
                usage_error("--timeout: '%s' is not 1..3600000", argv[i]);
        } else if (nwords == 0 && strncmp(a, "--", 2) == 0) {
            usage_error("unknown option '%s'", a);
        } else {
            if (nwords == 0)
                words = argv + i;
            nwords++;
        }
    }
    if (pipe == NULL)
        usage_error("%s", "--pipe NAME is required");
    if (nwords == 0)
        usage_error("%s", "a COMMAND is required (status, producers, enable, "
                          "disable, config, rotate, snapshot, stop)");
    check_request(nwords, words);
    /* Room for the whole path however long, so that a path over the
     * system's limit can be shown with its length. */
    tmpdir = getenv("TMPDIR");
    path_cap = strlen(pipe) + (tmpdir != NULL ? strlen(tmpdir) : 0) + 64;
    path = malloc(path_cap);
    if (path == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    rc = sl_os_pipe_path(pipe, strlen(pipe), path, path_cap, &path_len);
    if (rc == SL_ENAMETOOLONG && path_len > 0) {
        /* The same words as sluice-collector and sluice-producer. */
        fprintf(stderr, PROG ": pipe '%s': the socket path %s is %zu bytes, "
                "over the system's limit of %u bytes for a socket path; use "
                "a shorter name, or a NAME with '/' (a path of its own) or a "
                "shorter TMPDIR\n", pipe, path, path_len,
                (unsigned)SL_OS_PIPE_PATH_MAX);
        return 1; /* a limit of the system, as the other tools say */
    }
    if (rc != 0) {
        fprintf(stderr, PROG ": bad pipe name '%s': %s\nTry '" PROG
                " --help'.\n", pipe, sl_strerror(rc));
        return 2;
    }

    rc = sl_transport_open(pipe, strlen(pipe), 0, trust_user, &t);
    if (rc == SL_EINVAL && trust_user != NULL)
        usage_error("invalid value '%s' for --collector-user (expected a "
                    "numeric uid on POSIX, a SID string such as S-1-5-18 "
                    "on Windows)", trust_user);
    if (rc == SL_ENOENT) {
        fprintf(stderr, PROG ": no collector serves pipe '%s' (%s)\n", pipe,
                path);
        return 1;
    }
    if (rc == SL_EACCES) {
        fprintf(stderr, PROG ": permission denied on pipe '%s' (%s): the "
                "collector belongs to another user (it admits others only "
                "with --group)\n", pipe, path);
        return 1;
    }
    if (rc == SL_EUNTRUSTED) {
        fprintf(stderr, PROG ": pipe '%s' (%s) is served by another user, "
                "not a trusted collector: nothing was sent (--collector-user "
                "USER trusts a collector run by USER)\n", pipe, path);
        return 1;
    }
    if (rc != 0) {
        fprintf(stderr, PROG ": cannot connect to pipe '%s' (%s): %s\n", pipe,
                path, sl_strerror(rc));
        return 1;
    }
    rc = read_greeting(t, (uint32_t)timeout, greeting, &glen);
    if (rc == SL_ECONNRESET || rc == SL_EPIPE) {
        fprintf(stderr, PROG ": pipe '%s' (%s) closed the connection "
                "before its greeting: the collector is gone or stopping\n",
                pipe, path);
        sl_transport_close(t);
        return 1;
    }
    if (rc == SL_ETIMEDOUT) {
        fprintf(stderr, PROG ": pipe '%s' (%s) sent no greeting within %llu "
                "ms (--timeout): nothing was sent\n", pipe, path,
                (unsigned long long)timeout);
        sl_transport_close(t);
        return 1;
    }
    if (rc != 0) {
        fprintf(stderr, PROG ": pipe '%s' (%s) did not greet as a sluice "
                "collector: %s\n", pipe, path, sl_strerror(rc));
        sl_transport_close(t);
        return 1;
    }
    greeting[glen] = '\0';
    if (sl_wire_parse_greeting(greeting, glen, &version, &max_frame, &id) !=
        0) {
        const char *e = strstr(greeting, "error=");

        /* Every producer slot (or id) taken: the collector still serves
         * control connections after this greeting (protocol.md section
         * 14), so go on; a 1.0 collector closes, which is reported with
         * its refusal below. An access refusal is final. */
        if (e != NULL && (strcmp(e + 6, "too-many-producers") == 0 ||
                          strcmp(e + 6, "producer-ids-exhausted") == 0)) {
            refusal = e + 6;
        } else {
            if (e != NULL)
                fprintf(stderr, PROG ": the collector on pipe '%s' refused "
                        "the connection: %s\n", pipe, e + 6);
            else
                fprintf(stderr, PROG ": pipe '%s' (%s) is not a sluice "
                        "collector (greeting '%.64s')\n", pipe, path,
                        greeting);
            sl_transport_close(t);
            return 1;
        }
    } else if (sl_wire_greeting_cfg_field(greeting, glen) < 0) {
        fprintf(stderr, PROG ": the collector on pipe '%s' speaks protocol "
                "1.0, which has no control connections\n", pipe);
        sl_transport_close(t);
        return 1;
    }

    /* The request: the control magic, the words NUL-separated, '\n'. */
    reqlen = SL_WIRE_MAGIC_LEN + 1;
    for (int i = 0; i < nwords; i++)
        reqlen += strlen(words[i]) + 1;
    req = malloc(reqlen);
    resp = malloc(rcap);
    if (req == NULL || resp == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    memcpy(req, SL_WIRE_CTL_MAGIC, SL_WIRE_MAGIC_LEN);
    reqlen = SL_WIRE_MAGIC_LEN;
    for (int i = 0; i < nwords; i++) {
        size_t n = strlen(words[i]);

        if (i > 0)
            req[reqlen++] = '\0';
        memcpy(req + reqlen, words[i], n);
        reqlen += n;
    }
    req[reqlen++] = '\n';
    rc = sl_transport_write(t, req, reqlen);
    free(req);
    /* The response ends where the collector closes the connection; it is
     * whole only then, and at most SL_WIRE_CTL_RESPONSE_MAX bytes. */
    while (rc == 0) {
        size_t n = 0;

        if (rlen + 1 >= rcap) {
            size_t ncap = rcap * 2;
            char *nr;

            if (rcap > SL_WIRE_CTL_RESPONSE_MAX) {
                rc = SL_ETOOBIG;
                break;
            }
            if (ncap > SL_WIRE_CTL_RESPONSE_MAX + 2)
                ncap = SL_WIRE_CTL_RESPONSE_MAX + 2;
            nr = realloc(resp, ncap);
            if (nr == NULL) {
                rc = SL_ENOMEM;
                break;
            }
            resp = nr;
            rcap = ncap;
        }
        rc = sl_transport_read(t, resp + rlen, rcap - 1 - rlen, &n,
                               (uint32_t)timeout);
        if (rc != 0)
            break;
        if (n == 0) {
            whole = 1;
            break;
        }
        rlen += n;
    }
    sl_transport_close(t);
    resp[rlen] = '\0';
    if (rc == SL_ETOOBIG) {
        fprintf(stderr, PROG ": the response from the collector on pipe '%s' "
                "is longer than %u MiB, sluice-ctl's limit: nothing "
                "printed\n", pipe, (unsigned)(SL_WIRE_CTL_RESPONSE_MAX >> 20));
        free(resp);
        return 1;
    }
    if (rlen == 0 && refusal != NULL) {
        fprintf(stderr, PROG ": the collector on pipe '%s' refused the "
                "connection: %s (it serves no control connections then: "
                "protocol 1.0, or %u of them at once already)\n", pipe,
                refusal, (unsigned)SL_WIRE_CTL_CONNS_MAX);
        free(resp);
        return 1;
    }
    if (!whole || rlen == 0) {
        char why[160];

        if (rc == SL_ETIMEDOUT)
            snprintf(why, sizeof(why), "timeout");
        else if (rlen == 0 && rc == 0)
            snprintf(why, sizeof(why), "closed the connection without an "
                     "answer");
        else
            snprintf(why, sizeof(why), "%s (%s)",
                     rlen == 0 ? "sent no answer" : "sent part of an answer",
                     sl_strerror(rc));
        no_answer(pipe, words[0], why, timeout);
        free(resp);
        return 1;
    }
    if (strncmp(resp, "ok\n", 3) == 0) {
        put_safe(stdout, resp + 3, rlen - 3);
        free(resp);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if (strncmp(resp, "error: ", 7) == 0) {
        fputs(PROG ": ", stderr);
        put_safe(stderr, resp + 7, rlen - 7);
        if (resp[rlen - 1] != '\n')
            fputc('\n', stderr);
    } else {
        fputs(PROG ": unexpected response: ", stderr);
        put_safe(stderr, resp, rlen < 200 ? rlen : 200);
        fputc('\n', stderr);
    }
    free(resp);
    return 1;
}
