/*
 * Helpers shared by the comparison programs of bench/compare (Linux only):
 * strict number parsing, a Unix socket listener and connector, and
 * write-everything. These programs are measuring instruments, not product
 * code: they exit with a message on any failure.
 */
#ifndef SL_COMPARE_COMMON_H
#define SL_COMPARE_COMMON_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static inline void
cmp_die(const char *prog, const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
    exit(1);
}

static inline uint64_t
cmp_number(const char *prog, const char *opt, const char *s)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s != NULL ? s : "", &end, 10);
    if (s == NULL || errno != 0 || end == s || *end != '\0') {
        fprintf(stderr, "%s: %s needs a number\n", prog, opt);
        exit(2);
    }
    return (uint64_t)v;
}

static inline void
cmp_addr(const char *prog, const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path)) {
        fprintf(stderr, "%s: socket path too long\n", prog);
        exit(2);
    }
    memcpy(sa->sun_path, path, strlen(path));
}

static inline int
cmp_listen(const char *prog, const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        cmp_die(prog, "socket");
    cmp_addr(prog, path, &sa);
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        cmp_die(prog, "bind");
    if (listen(fd, 4096) != 0)
        cmp_die(prog, "listen");
    return fd;
}

/* Connects, retrying for up to 10 s while nobody listens yet. */
static inline int
cmp_connect(const char *prog, const char *path)
{
    struct sockaddr_un sa;

    cmp_addr(prog, path, &sa);
    for (int i = 0; i < 2000; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
            cmp_die(prog, "socket");
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return fd;
        close(fd);
        if (errno != ENOENT && errno != ECONNREFUSED && errno != EAGAIN)
            cmp_die(prog, "connect");
        nanosleep(&(struct timespec){0, 5000000}, NULL);
    }
    cmp_die(prog, "connect (timed out)");
    return -1;
}

static inline void
cmp_write_all(const char *prog, int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            cmp_die(prog, "write");
        }
        p += n;
        len -= (size_t)n;
    }
}

#endif
