/* Unit-test helper shared by the capture-file suites: writes bytes to a
 * new temporary file and returns its path (malloc'd; the caller unlinks
 * and frees it). Criterion asserts on every failure. */
#ifndef SL_TEST_TEMP_FILE_H
#define SL_TEST_TEMP_FILE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline char *
sl_test_write_temp(const char *tmpl, const void *data, size_t n)
{
    char *path = strdup(tmpl);
    FILE *f;
    int fd;

    cr_assert_not_null(path);
    fd = mkstemp(path);
    cr_assert(fd >= 0, "mkstemp");
    f = fdopen(fd, "wb");
    cr_assert_not_null(f);
    if (n > 0)
        cr_assert_eq(fwrite(data, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
    return path;
}

#endif
