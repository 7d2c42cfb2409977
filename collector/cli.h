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

/**
 * Parses a duration in seconds with an optional fraction ("2", "2.5",
 * "0.25"; at most 9 decimals) into nanoseconds, within min_ns..max_ns.
 * @param why  Receives a one-line reason on failure.
 * @return 0 with *out_ns set, or -1.
 */
static inline int
sl_cli_secs(const char *opt, const char *s, uint64_t min_ns, uint64_t max_ns,
            uint64_t *out_ns, char *why, size_t cap)
{
    uint64_t whole = 0, frac = 0, scale = 1000000000u;
    const char *p = s;
    int digits = 0;

    if (s == NULL || *s == '\0') {
        snprintf(why, cap, "%s needs a number of seconds", opt);
        return -1;
    }
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (whole > max_ns / 1000000000u) {
            digits = -1;
            break;
        }
        whole = whole * 10 + (uint64_t)(*p - '0');
    }
    if (digits > 0 && *p == '.') {
        for (p++; *p >= '0' && *p <= '9' && scale > 1; p++) {
            scale /= 10;
            frac += (uint64_t)(*p - '0') * scale;
        }
    }
    if (digits <= 0 || *p != '\0') {
        snprintf(why, cap, "%s: '%s' is not a number of seconds (like 10 "
                 "or 2.5, at most 9 decimals)", opt, s);
        return -1;
    }
    if (whole > (max_ns - frac) / 1000000000u ||
        whole * 1000000000u + frac < min_ns ||
        whole * 1000000000u + frac > max_ns) {
        snprintf(why, cap, "%s: '%s' is out of range %.3f..%" PRIu64
                 " seconds", opt, s, (double)min_ns / 1e9,
                 max_ns / 1000000000u);
        return -1;
    }
    *out_ns = whole * 1000000000u + frac;
    return 0;
}

/**
 * Parses a size in bytes: digits with an optional suffix K, M or G (also
 * k, m, g; binary: 2^10, 2^20, 2^30), within min..max ("4M" = 4194304).
 * @param why  Receives a one-line reason on failure.
 * @return 0 with *out set, or -1.
 */
static inline int
sl_cli_size(const char *opt, const char *s, uint64_t min, uint64_t max,
            uint64_t *out, char *why, size_t cap)
{
    uint64_t v = 0, mul = 1;
    const char *p = s;

    if (s == NULL || *s == '\0') {
        snprintf(why, cap, "%s needs a size in bytes", opt);
        return -1;
    }
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10)
            goto bad;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (p == s)
        goto bad;
    if (*p == 'K' || *p == 'k')
        mul = 1ull << 10;
    else if (*p == 'M' || *p == 'm')
        mul = 1ull << 20;
    else if (*p == 'G' || *p == 'g')
        mul = 1ull << 30;
    else if (*p != '\0')
        goto bad;
    if (*p != '\0' && p[1] != '\0')
        goto bad;
    if (v > UINT64_MAX / mul || v * mul < min || v * mul > max) {
        snprintf(why, cap, "%s: '%s' is out of range %" PRIu64 "..%" PRIu64
                 " bytes", opt, s, min, max);
        return -1;
    }
    *out = v * mul;
    return 0;
bad:
    snprintf(why, cap, "%s: '%s' is not a size (digits with an optional K, "
             "M or G suffix, like 4M)", opt, s);
    return -1;
}

#endif
