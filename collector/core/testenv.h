/*
 * Test-only knobs of the pipeline, read from the environment: one parser
 * for all of them, so each gets the same rule. A value is digits only and
 * at most max; anything else (unset, empty, a sign, a suffix, too large)
 * reads as 0 = off, so a stray setting can never stall a collector.
 */
#ifndef SL_TESTENV_H
#define SL_TESTENV_H

#include <stdint.h>
#include <stdlib.h>

/** @return the value of environment variable name, or 0 (see above). */
static inline uint64_t
sl_test_env_u64(const char *name, uint64_t max)
{
    const char *v = getenv(name);
    uint64_t x = 0;

    if (v == NULL || *v == '\0')
        return 0;
    for (; *v != '\0'; v++) {
        if (*v < '0' || *v > '9' || x > max)
            return 0;
        x = x * 10 + (uint64_t)(*v - '0');
    }
    return x > max ? 0 : x;
}

#endif
