/*
 * sluice_capture_open_wait(): a reader started before the collector. The
 * file is missing, then appears empty, then with half its header, then
 * whole (written by a second thread as a collector would); the open must
 * wait through all of that and read the header, and give up with the last
 * error when the time is up.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sluice/capture.h"

TestSuite(capwait, .timeout = 60.0);

static char dir[] = "/tmp/sluice-capwait-XXXXXX";
static char path[64];

static void
setup(void)
{
    cr_assert(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/c.sluice", dir);
}

static void
teardown(void)
{
    unlink(path);
    rmdir(dir);
}

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static uint8_t fixture[1024];
static size_t fixture_len;

static void
load_fixture(void)
{
    FILE *f = fopen(SL_FIXTURES_DIR "/capture-example.sluice", "rb");

    cr_assert(f != NULL);
    fixture_len = fread(fixture, 1, sizeof(fixture), f);
    fclose(f);
    cr_assert_eq(fixture_len, 407);
}

/* Creates the file in steps: empty, 20 bytes (inside the header), all. */
static void *
writer(void *arg)
{
    int fd;

    (void)arg;
    sleep_ms(150);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return (void *)1;
    sleep_ms(150);
    if (write(fd, fixture, 20) != 20)
        return (void *)1;
    sleep_ms(150);
    if (write(fd, fixture + 20, fixture_len - 20) != (ssize_t)fixture_len - 20)
        return (void *)1;
    close(fd);
    return NULL;
}

Test(capwait, waits_for_the_file_and_its_header, .init = setup,
     .fini = teardown)
{
    pthread_t t;
    sluice_capture *c = NULL;
    sluice_record r;
    void *res;
    int rc, n = 0;

    load_fixture();
    cr_assert_eq(pthread_create(&t, NULL, writer, NULL), 0);
    rc = sluice_capture_open_wait(path, 10000, &c);
    pthread_join(t, &res);
    cr_assert_null(res, "the writer thread failed");
    cr_assert_eq(rc, 0, "open_wait: %s", sluice_strerror(rc));
    cr_assert_str_eq(sluice_capture_get_info(c)->pipe, "demo");
    while (sluice_capture_next(c, &r) == 0)
        n++;
    cr_assert_eq(n, 5);
    sluice_capture_close(c);
}

Test(capwait, gives_up_with_the_last_error, .init = setup, .fini = teardown)
{
    sluice_capture *c = (sluice_capture *)&c; /* untouched on failure */
    int fd;

    cr_assert_eq(sluice_capture_open_wait(path, 0, &c), SLUICE_ENOENT);
    cr_assert_eq(sluice_capture_open_wait(path, 120, &c), SLUICE_ENOENT);
    load_fixture();
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, fixture, 20), 20);
    close(fd);
    cr_assert_eq(sluice_capture_open_wait(path, 120, &c), SLUICE_ETRUNC);
    cr_assert_eq(c, (sluice_capture *)&c);
    /* Anything else is not worth waiting for. */
    fixture[0] = 'x';
    fd = open(path, O_WRONLY | O_TRUNC);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, fixture, fixture_len), (ssize_t)fixture_len);
    close(fd);
    cr_assert_eq(sluice_capture_open_wait(path, SLUICE_WAIT_FOREVER, &c),
                 SLUICE_ECORRUPT);
}
