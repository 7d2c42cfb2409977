/*
 * frame_sender: the load generator of the copy and durable limits in
 * bench/compare. It connects to a Unix stream socket and sends --count
 * frames of --size payload bytes in sluice's binary frame layout
 * (docs/protocol.md: 24-byte header with length, type, flags, seq, ts),
 * payload starting with the producer number. The frames are built once
 * into a 256 KiB batch; per batch only the seq fields are patched, then the
 * batch goes out in one write(). So the sender costs next to nothing and
 * the reader's side is what is measured.
 *
 *   frame_sender --connect PATH --count N --size BYTES --id I
 */
#include "common.h"

#define PROG "frame_sender"
#define BATCH_BYTES (256u << 10)

static void
le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void
le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int
main(int argc, char **argv)
{
    const char *path = NULL;
    uint64_t count = 0, size = 64, id = 0, seq = 0;
    size_t frame, per_batch;
    uint8_t *batch;
    int fd;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        i++;
        if (strcmp(a, "--connect") == 0 && v != NULL)
            path = v;
        else if (strcmp(a, "--count") == 0)
            count = cmp_number(PROG, a, v);
        else if (strcmp(a, "--size") == 0)
            size = cmp_number(PROG, a, v);
        else if (strcmp(a, "--id") == 0)
            id = cmp_number(PROG, a, v);
        else {
            fprintf(stderr, "usage: " PROG " --connect PATH --count N "
                    "--size BYTES --id I\n");
            return 2;
        }
    }
    if (path == NULL || size < 4 || size > 65536) {
        fprintf(stderr, PROG ": --connect and --size 4..65536 needed\n");
        return 2;
    }
    frame = 24 + (size_t)size;
    per_batch = BATCH_BYTES / frame > 0 ? BATCH_BYTES / frame : 1;
    batch = calloc(per_batch, frame);
    if (batch == NULL)
        cmp_die(PROG, "malloc");
    for (size_t k = 0; k < per_batch; k++) {
        uint8_t *f = batch + k * frame;

        le32(f, (uint32_t)frame);
        f[4] = 1; /* type 1, flags 0 */
        le64(f + 16, 1700000000000000000ull);
        le32(f + 24, (uint32_t)id);
        memset(f + 28, 'x', size - 4);
    }
    fd = cmp_connect(PROG, path);
    while (seq < count) {
        size_t n = count - seq < per_batch ? (size_t)(count - seq) : per_batch;

        for (size_t k = 0; k < n; k++)
            le64(batch + k * frame + 8, seq + k);
        cmp_write_all(PROG, fd, batch, n * frame);
        seq += n;
    }
    close(fd);
    free(batch);
    return 0;
}
