/*
 * Helpers for the Windows test programs. Criterion does not run under
 * mingw/Wine, so these are plain programs with liburing's convention:
 * exit 0 when every check passes, 1 when one fails, 77 to skip. A failed
 * CHECK prints the expression and location and ends the program; tests
 * print one line per case so the ctest log shows what ran.
 */
#ifndef SL_WIN_TEST_H
#define SL_WIN_TEST_H

#include <stdio.h>
#include <stdlib.h>

#define T_EXIT_PASS 0
#define T_EXIT_FAIL 1
#define T_EXIT_SKIP 77

#define CHECK(expr)                                                           \
    do {                                                                      \
        if (!(expr)) {                                                        \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,           \
                    __LINE__, #expr);                                         \
            fflush(stderr);                                                   \
            exit(T_EXIT_FAIL);                                                \
        }                                                                     \
    } while (0)

/* Checks that a call returned 0; prints the sluice error otherwise. */
#define CHECK_OK(call)                                                        \
    do {                                                                      \
        int check_rc_ = (call);                                               \
        if (check_rc_ != 0) {                                                 \
            fprintf(stderr, "%s:%d: %s returned %d (%s)\n", __FILE__,        \
                    __LINE__, #call, check_rc_, sluice_err_name(check_rc_));  \
            fflush(stderr);                                                   \
            exit(T_EXIT_FAIL);                                                \
        }                                                                     \
    } while (0)

#define CHECK_EQ_RC(call, want)                                               \
    do {                                                                      \
        int check_rc_ = (call);                                               \
        if (check_rc_ != (want)) {                                            \
            fprintf(stderr, "%s:%d: %s returned %s, wanted %s\n", __FILE__,  \
                    __LINE__, #call, sluice_err_name(check_rc_),              \
                    sluice_err_name(want));                                   \
            fflush(stderr);                                                   \
            exit(T_EXIT_FAIL);                                                \
        }                                                                     \
    } while (0)

#define CASE(name)                                                            \
    do {                                                                      \
        printf("case %s\n", name);                                            \
        fflush(stdout);                                                       \
    } while (0)

#endif
