/*
 * copy_reader: the copy limit of bench/compare. It accepts producers on a
 * Unix stream socket and copies what they send to one file with large
 * read()s and write()s and no parsing at all: one epoll thread, reads of up
 * to 1 MiB per ready connection into a staging buffer, each chunk behind an
 * 8-byte header (connection number, length; little-endian) so that the
 * verifier can put every producer's stream back together, and a write()
 * whenever 2 MiB are staged. With --fsync it calls fdatasync() before
 * exiting (the durable limit). It exits once --exit-after connections have
 * ended. Nothing a collector needs (framing, checksums, records) is done,
 * which is what makes it a ceiling.
 *
 *   copy_reader --listen PATH --out FILE --exit-after K [--fsync]
 */
#include <fcntl.h>
#include <sys/epoll.h>

#include "common.h"

#define PROG "copy_reader"
#define STAGE_FLUSH (2u << 20)
#define READ_MAX (1u << 20)

int
main(int argc, char **argv)
{
    const char *path = NULL, *out = NULL;
    uint64_t want = 0, ended = 0, nconn = 0;
    int do_sync = 0, lfd, ep, ofd;
    size_t cap = STAGE_FLUSH + READ_MAX + 16, off = 0;
    uint8_t *stage;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--fsync") == 0)
            do_sync = 1;
        else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--exit-after") == 0 && i + 1 < argc) {
            want = cmp_number(PROG, argv[i], argv[i + 1]);
            i++;
        }
        else {
            fprintf(stderr, "usage: " PROG " --listen PATH --out FILE "
                    "--exit-after K [--fsync]\n");
            return 2;
        }
    }
    if (path == NULL || out == NULL || want == 0) {
        fprintf(stderr, PROG ": --listen, --out and --exit-after needed\n");
        return 2;
    }
    stage = malloc(cap);
    ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (stage == NULL || ofd < 0)
        cmp_die(PROG, out);
    lfd = cmp_listen(PROG, path);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd,
                            &(struct epoll_event){.events = EPOLLIN,
                                                  .data.u64 = 0}) != 0)
        cmp_die(PROG, "epoll");
    while (ended < want) {
        struct epoll_event ev[64];
        int n = epoll_wait(ep, ev, 64, -1);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            cmp_die(PROG, "epoll_wait");
        for (int i = 0; i < n; i++) {
            uint32_t id = (uint32_t)(ev[i].data.u64 >> 32);
            int fd = (int)(uint32_t)ev[i].data.u64;
            ssize_t r;

            if (ev[i].data.u64 == 0) {
                int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                if (c < 0)
                    continue;
                nconn++;
                if (epoll_ctl(ep, EPOLL_CTL_ADD, c,
                              &(struct epoll_event){
                                  .events = EPOLLIN,
                                  .data.u64 = nconn << 32 | (uint32_t)c}) != 0)
                    cmp_die(PROG, "epoll_ctl");
                continue;
            }
            r = read(fd, stage + off + 8, READ_MAX);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (r <= 0) {
                close(fd);
                ended++;
                continue;
            }
            stage[off] = (uint8_t)id;
            stage[off + 1] = (uint8_t)(id >> 8);
            stage[off + 2] = (uint8_t)(id >> 16);
            stage[off + 3] = (uint8_t)(id >> 24);
            stage[off + 4] = (uint8_t)r;
            stage[off + 5] = (uint8_t)(r >> 8);
            stage[off + 6] = (uint8_t)(r >> 16);
            stage[off + 7] = (uint8_t)(r >> 24);
            off += 8 + (size_t)r;
            if (off >= STAGE_FLUSH) {
                cmp_write_all(PROG, ofd, stage, off);
                off = 0;
            }
        }
    }
    cmp_write_all(PROG, ofd, stage, off);
    if (do_sync && fdatasync(ofd) != 0)
        cmp_die(PROG, "fdatasync");
    close(ofd);
    close(ep);
    close(lfd);
    free(stage);
    unlink(path);
    return 0;
}
