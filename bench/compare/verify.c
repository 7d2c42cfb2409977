/*
 * verify: checks what a collector in bench/compare wrote: every event of
 * every producer, once, in each producer's order.
 *
 *   verify frames FILE K N   copy_reader output: 8-byte chunk headers
 *                            (connection, length) around stream bytes of
 *                            frame_sender frames; each connection's stream
 *                            must be one producer's frames, seq 0..N-1
 *   verify lines FILE K N    text output with "p=IIII s=SSSSSSSSSS" in
 *                            each line; each producer's s must run 0..N-1
 *
 * Prints "verify: events=E bad=B" and exits 0 only if E == K*N and B == 0.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "common.h"

#define PROG "verify"

typedef struct stream {
    uint8_t hdr[28];
    size_t pos;        /* position within the current frame */
    size_t frame;      /* frame size, from the first frame */
    int64_t producer;  /* -1 until the first frame is seen */
} stream;

static uint64_t
le(const uint8_t *p, int n)
{
    uint64_t v = 0;

    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static int
verify_frames(const uint8_t *d, size_t len, uint64_t k, uint64_t n,
              uint64_t *events)
{
    uint64_t *next = calloc(k, sizeof(*next)), bad = 0, nstreams = k * 2 + 8;
    stream *st = calloc(nstreams, sizeof(*st));
    size_t off = 0;

    if (next == NULL || st == NULL)
        cmp_die(PROG, "malloc");
    for (uint64_t i = 0; i < nstreams; i++)
        st[i].producer = -1;
    while (off + 8 <= len) {
        uint64_t id = le(d + off, 4), clen = le(d + off + 4, 4);
        const uint8_t *c = d + off + 8;
        stream *s;

        if (id >= nstreams || off + 8 + clen > len) {
            fprintf(stderr, PROG ": bad chunk at %zu\n", off);
            goto broken;
        }
        s = &st[id];
        off += 8 + clen;
        while (clen > 0) {
            if (s->pos < sizeof(s->hdr)) {
                size_t take = sizeof(s->hdr) - s->pos;

                take = take < clen ? take : clen;
                memcpy(s->hdr + s->pos, c, take);
                s->pos += take;
                c += take;
                clen -= take;
                if (s->pos < sizeof(s->hdr))
                    break;
                s->frame = le(s->hdr, 4);
                if (s->producer < 0)
                    s->producer = (int64_t)le(s->hdr + 24, 4);
                if ((uint64_t)s->producer >= k ||
                    le(s->hdr + 24, 4) != (uint64_t)s->producer ||
                    s->frame < sizeof(s->hdr)) {
                    fprintf(stderr, PROG ": bad frame\n");
                    goto broken;
                }
                if (le(s->hdr + 8, 8) != next[s->producer])
                    bad++;
                next[s->producer] = le(s->hdr + 8, 8) + 1;
                (*events)++;
            }
            {
                size_t skip = s->frame - s->pos;

                skip = skip < clen ? skip : clen;
                s->pos += skip;
                c += skip;
                clen -= skip;
                if (s->pos == s->frame)
                    s->pos = 0;
            }
        }
    }
    for (uint64_t p = 0; p < k; p++)
        if (next[p] != n)
            bad++;
    free(next);
    free(st);
    return (int)(bad > 0 ? (bad > 1000 ? 1000 : bad) : 0);

broken:
    free(next);
    free(st);
    return -1;
}

static int
verify_lines(const uint8_t *d, size_t len, uint64_t k, uint64_t n,
             uint64_t *events)
{
    uint64_t *next = calloc(k, sizeof(*next)), bad = 0;
    const uint8_t *p = d, *end = d + len;

    if (next == NULL)
        cmp_die(PROG, "malloc");
    while (p < end) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *m;
        uint64_t id = 0, seq = 0;

        if (nl == NULL)
            nl = end;
        m = memmem(p, (size_t)(nl - p), "p=", 2);
        if (m == NULL || nl - m < 19 || m[6] != ' ' || m[7] != 's' ||
            m[8] != '=') {
            bad++;
        } else {
            for (int i = 2; i < 6; i++)
                id = id * 10 + (uint64_t)(m[i] - '0');
            for (int i = 9; i < 19; i++)
                seq = seq * 10 + (uint64_t)(m[i] - '0');
            if (id >= k || seq != next[id])
                bad++;
            else
                next[id]++;
        }
        (*events)++;
        p = nl + 1;
    }
    for (uint64_t i = 0; i < k; i++)
        if (next[i] != n)
            bad++;
    free(next);
    return (int)(bad > 0 ? (bad > 1000 ? 1000 : bad) : 0);
}

int
main(int argc, char **argv)
{
    uint64_t k, n, events = 0;
    struct stat sb;
    const uint8_t *d = NULL;
    int fd, bad;

    if (argc != 5 || (strcmp(argv[1], "frames") && strcmp(argv[1], "lines"))) {
        fprintf(stderr, "usage: " PROG " frames|lines FILE K N\n");
        return 2;
    }
    k = cmp_number(PROG, "K", argv[3]);
    n = cmp_number(PROG, "N", argv[4]);
    fd = open(argv[2], O_RDONLY);
    if (fd < 0 || fstat(fd, &sb) != 0)
        cmp_die(PROG, argv[2]);
    if (sb.st_size > 0) {
        d = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (d == MAP_FAILED)
            cmp_die(PROG, "mmap");
    }
    bad = argv[1][0] == 'f'
              ? verify_frames(d, (size_t)sb.st_size, k, n, &events)
              : verify_lines(d, (size_t)sb.st_size, k, n, &events);
    printf("verify: events=%llu bad=%d\n", (unsigned long long)events,
           bad < 0 ? 1 : bad);
    return bad == 0 && events == k * n ? 0 : 1;
}
