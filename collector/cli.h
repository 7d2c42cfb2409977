/*
 * Helpers shared by the command-line programs: strict parsing of unsigned
 * decimal option values. They only parse and explain; printing the usage
 * error and exiting 2 (the DESIGN.md contract) is the CLI main's job.
 * Header-only, so each program uses them without another library to link.
 */
#ifndef SL_CLI_H
#define SL_CLI_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

/**
 * Parses option opt's value s: digits only, no sign, no overflow, within
 * min..max.
 * @param why  Receives a one-line reason on failure ("--workers: 'x' is
 *             not a number in 1..1024"), NUL-terminated, cap bytes.
 * @return 0 with *out set, or -1.
 */
static inline int
sl_cli_u64(const char *opt, const char *s, uint64_t min, uint64_t max,
           uint64_t *out, char *why, size_t cap)
{
    uint64_t v = 0;

    if (s == NULL || *s == '\0') {
        snprintf(why, cap, "%s needs a number", opt);
        return -1;
    }
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10) {
            snprintf(why, cap, "%s: '%s' is not a number in %" PRIu64
                     "..%" PRIu64, opt, s, min, max);
            return -1;
        }
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v < min || v > max) {
        snprintf(why, cap, "%s: '%s' is out of range %" PRIu64 "..%" PRIu64,
                 opt, s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

#endif
