/*
 * The io.h contract test (io_contract.h) on the Linux backends, under
 * Criterion: every case runs on io_uring and on epoll (skipped where a
 * backend is not compiled in or the kernel refuses it), and the io_uring
 * cases run once more as on a 5.6-5.10 kernel (SL_IO_TEST_OLD_URING: no
 * IORING_FEAT_EXT_ARG, so liburing queues timeouts of its own; one-shot
 * accepts). Each test runs in its own process with its own socket
 * directory.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io_contract.h"
#include "os.h"

void
ioc_fail(const char *file, int line, const char *what)
{
    /* Also from client threads, where cr_assert cannot unwind: report,
     * then crash the test process, which Criterion counts as a failure. */
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    fflush(stderr);
    abort();
}

void
ioc_skip(const char *why)
{
    cr_skip_test("%s", why);
}

void
ioc_new_path(char *out, size_t cap)
{
    static char dir[96];
    static unsigned seq;
    const char *tmp = getenv("TMPDIR");
    int n;

    if (dir[0] == '\0') {
        snprintf(dir, sizeof(dir), "%s/sluice-io.XXXXXX",
                 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
        IOC_CHECK(mkdtemp(dir) != NULL);
    }
    n = snprintf(out, cap, "%s/s%u", dir, seq++);
    IOC_CHECK(n > 0 && (size_t)n < cap);
}

static void
run(const char *name, unsigned flags, ioc_case body)
{
    const sl_io_backend *be = sl_io_find(name);

    if (be == NULL)
        cr_skip_test("backend %s is not compiled in", name);
    body(be, flags);
}

TestSuite(uring, .timeout = 60.0);
TestSuite(uring_old_kernel, .timeout = 60.0);
TestSuite(epoll, .timeout = 60.0);

#define IO_CASE(c)                                                            \
    Test(uring, c) { run("uring", 0, ioc_##c); }                              \
    Test(uring_old_kernel, c) { run("uring", SL_IO_TEST_OLD_URING, ioc_##c); } \
    Test(epoll, c) { run("epoll", 0, ioc_##c); }

IO_CASE(accept_greet_read)
IO_CASE(write_only_client)
IO_CASE(end_at_once)
IO_CASE(peer_reset)
IO_CASE(drain_pending_read)
IO_CASE(drain_with_data)
IO_CASE(stop_accepting)
IO_CASE(stop_backlog)
IO_CASE(wake)
IO_CASE(release)
IO_CASE(many_clients)
IO_CASE(drain_while_writing)
IO_CASE(zero_byte_write)
IO_CASE(second_server)
IO_CASE(reopen_after_close)
