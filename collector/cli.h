/*
 * Helpers shared by the command-line programs: a usage error that names
 * the program and exits 2 (the DESIGN.md contract), and strict parsing of
 * unsigned decimal option values. Header-only, so each program uses them
 * without another library to link.
 */
#ifndef SL_CLI_H
#define SL_CLI_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/** Prints "PROG: <fmt with arg>" and a --help hint to stderr, exits 2. */
static inline void
sl_cli_usage_error(const char *prog, const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry '%s --help'.\n", prog);
    exit(2);
}

/**
 * Parses option opt's value s: digits only, no sign, no overflow, within
 * min..max. Anything else is a usage error (exit 2) saying which range.
 */
static inline uint64_t
sl_cli_u64(const char *prog, const char *opt, const char *s, uint64_t min,
           uint64_t max)
{
    uint64_t v = 0;
    char msg[160];

    if (s == NULL || *s == '\0')
        sl_cli_usage_error(prog, "%s needs a number", opt);
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10) {
            snprintf(msg, sizeof(msg), "%s: '%%s' is not a number in %" PRIu64
                     "..%" PRIu64, opt, min, max);
            sl_cli_usage_error(prog, msg, s);
        }
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v < min || v > max) {
        snprintf(msg, sizeof(msg), "%s: '%%s' is out of range %" PRIu64
                 "..%" PRIu64, opt, min, max);
        sl_cli_usage_error(prog, msg, s);
    }
    return v;
}

#endif
