/*
 * line_sender: the load generator for the line-based collectors in
 * bench/compare (rsyslog, syslog-ng, the naive collector). It connects to
 * a Unix stream socket and sends --count RFC 3164 syslog lines
 *   <14>Nov 24 18:00:00 benchhost bench: p=IIII s=SSSSSSSSSS xxxx...\n
 * whose message (from "p=") is exactly --size bytes: the producer number
 * and a 10-digit sequence number, by which the verifier checks count and
 * order, then filler. The lines are built once into a 256 KiB batch; per
 * batch only the sequence digits are patched (a decimal increment in
 * place), then the batch goes out in one write(), so the sender costs next
 * to nothing and the collector is what is measured.
 *
 *   line_sender --connect PATH --count N --size BYTES --id I
 */
#include "common.h"

#define PROG "line_sender"
#define BATCH_BYTES (256u << 10)
#define HEAD "<14>Nov 24 18:00:00 benchhost bench: "
#define SEQ_AT 7 /* "p=IIII s=" */

int
main(int argc, char **argv)
{
    const char *path = NULL;
    uint64_t count = 0, size = 64, id = 0, sent = 0;
    size_t head = strlen(HEAD), line, per_batch;
    char *batch, digits[11];
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
    if (path == NULL || size < 20 || size > 60000 || id > 9999 ||
        count > 9999999999ull) {
        fprintf(stderr, PROG ": --connect, --size 20..60000, --id 0..9999 "
                "needed\n");
        return 2;
    }
    line = head + (size_t)size + 1;
    per_batch = BATCH_BYTES / line > 0 ? BATCH_BYTES / line : 1;
    batch = malloc(per_batch * line);
    if (batch == NULL)
        cmp_die(PROG, "malloc");
    for (size_t k = 0; k < per_batch; k++) {
        char *l = batch + k * line;

        memcpy(l, HEAD, head);
        snprintf(l + head, 20, "p=%04u s=", (unsigned)id);
        memset(l + head + SEQ_AT + 2, '0', 10);
        l[head + SEQ_AT + 12] = ' ';
        memset(l + head + SEQ_AT + 13, 'x', size - (SEQ_AT + 13));
        l[line - 1] = '\n';
    }
    memset(digits, '0', 10);
    fd = cmp_connect(PROG, path);
    while (sent < count) {
        size_t n = count - sent < per_batch ? (size_t)(count - sent)
                                            : per_batch;

        for (size_t k = 0; k < n; k++) {
            int d = 9;

            memcpy(batch + k * line + head + SEQ_AT + 2, digits, 10);
            while (d >= 0 && digits[d] == '9')
                digits[d--] = '0';
            if (d >= 0)
                digits[d]++;
        }
        cmp_write_all(PROG, fd, batch, n * line);
        sent += n;
    }
    close(fd);
    free(batch);
    return 0;
}
