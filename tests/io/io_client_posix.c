/*
 * Clients for the io.h contract test on Linux: Unix stream sockets, as
 * any producer opens them.
 */
#include "io_contract.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "os.h"

struct ioc_client {
    int fd;
};

static int
connect_once(const char *path, int write_only, ioc_client **out, int *err)
{
    struct sockaddr_un sa;
    ioc_client *c;
    int fd;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    IOC_CHECK(strlen(path) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    IOC_CHECK(fd >= 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        *err = errno;
        close(fd);
        return -1;
    }
    /* A write-only client (.NET PipeDirection.Out) shuts its receive
     * side: the greeting write then fails with EPIPE. */
    if (write_only)
        IOC_CHECK(shutdown(fd, SHUT_RD) == 0);
    c = calloc(1, sizeof(*c));
    IOC_CHECK(c != NULL);
    c->fd = fd;
    *out = c;
    return 0;
}

int
ioc_client_try_open(const char *path, int write_only, ioc_client **out)
{
    int err;

    return connect_once(path, write_only, out, &err);
}

ioc_client *
ioc_client_open(const char *path, int write_only)
{
    uint64_t deadline = sl_os_mono_ns() + 10000u * 1000000ull;
    ioc_client *c = NULL;
    int err = 0;

    while (connect_once(path, write_only, &c, &err) != 0) {
        /* EAGAIN: the listen backlog is full. */
        IOC_CHECK(err == EAGAIN);
        IOC_CHECK(sl_os_mono_ns() < deadline);
        sl_os_sleep_ns(1000000u);
    }
    return c;
}

/* Waits until fd is readable; fails the test after 10 s. */
static void
wait_readable(int fd)
{
    struct pollfd p;

    p.fd = fd;
    p.events = POLLIN;
    IOC_CHECK(poll(&p, 1, 10000) == 1);
}

void
ioc_client_read_greeting(ioc_client *c, char *buf, size_t cap)
{
    size_t n = 0;

    for (;;) {
        ssize_t r;

        IOC_CHECK(n < cap);
        wait_readable(c->fd);
        r = recv(c->fd, &buf[n], 1, 0);
        IOC_CHECK(r == 1);
        if (buf[n++] == '\0')
            return;
    }
}

int
ioc_client_write(ioc_client *c, const void *p, size_t len)
{
    while (len > 0) {
        ssize_t r = send(c->fd, p, len, MSG_NOSIGNAL);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            IOC_CHECK(errno == EPIPE || errno == ECONNRESET);
            return -1;
        }
        p = (const char *)p + r;
        len -= (size_t)r;
    }
    return 0;
}

int64_t
ioc_client_read_to_end(ioc_client *c)
{
    int64_t total = 0;
    char buf[4096];

    for (;;) {
        struct pollfd p;
        ssize_t r;

        p.fd = c->fd;
        p.events = POLLIN;
        if (poll(&p, 1, 10000) != 1)
            return -1;
        r = recv(c->fd, buf, sizeof(buf), 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return total; /* end of file, or ECONNRESET */
        total += r;
    }
}

void
ioc_client_close(ioc_client *c)
{
    close(c->fd);
    free(c);
}

int
ioc_client_self(uint32_t *pid, uint32_t *uid)
{
    *pid = (uint32_t)getpid();
    *uid = (uint32_t)geteuid();
    return 0;
}
