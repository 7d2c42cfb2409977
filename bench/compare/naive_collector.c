/*
 * naive_collector: the approach sluice replaces, for bench/compare. A
 * thread per connection reads one byte at a time until '\n' and writes
 * each message with fwrite() to one shared FILE (stdio's own lock orders
 * the threads). It exits once --exit-after connections have ended.
 *
 *   naive_collector --listen PATH --out FILE --exit-after K
 */
#include <pthread.h>

#include "common.h"

#define PROG "naive_collector"
#define LINE_MAX_BYTES 65536

static FILE *out;

static void *
conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char *line = malloc(LINE_MAX_BYTES);
    size_t len = 0;
    char c;

    if (line == NULL)
        cmp_die(PROG, "malloc");
    for (;;) {
        ssize_t n = read(fd, &c, 1);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (len < LINE_MAX_BYTES)
            line[len++] = c;
        if (c == '\n') {
            fwrite(line, 1, len, out);
            len = 0;
        }
    }
    close(fd);
    free(line);
    return NULL;
}

int
main(int argc, char **argv)
{
    const char *path = NULL, *file = NULL;
    uint64_t want = 0;
    pthread_t *th;
    int lfd;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            file = argv[++i];
        else if (strcmp(argv[i], "--exit-after") == 0 && i + 1 < argc) {
            want = cmp_number(PROG, argv[i], argv[i + 1]);
            i++;
        }
        else {
            fprintf(stderr, "usage: " PROG " --listen PATH --out FILE "
                    "--exit-after K\n");
            return 2;
        }
    }
    if (path == NULL || file == NULL || want == 0) {
        fprintf(stderr, PROG ": --listen, --out and --exit-after needed\n");
        return 2;
    }
    out = fopen(file, "w");
    th = calloc(want, sizeof(*th));
    if (out == NULL || th == NULL)
        cmp_die(PROG, file);
    lfd = cmp_listen(PROG, path);
    for (uint64_t i = 0; i < want; i++) {
        int c = accept(lfd, NULL, NULL);

        if (c < 0) {
            if (errno == EINTR) {
                i--;
                continue;
            }
            cmp_die(PROG, "accept");
        }
        if (pthread_create(&th[i], NULL, conn_main, (void *)(intptr_t)c) != 0)
            cmp_die(PROG, "pthread_create");
    }
    for (uint64_t i = 0; i < want; i++)
        pthread_join(th[i], NULL);
    if (fclose(out) != 0)
        cmp_die(PROG, "fclose");
    close(lfd);
    free(th);
    unlink(path);
    return 0;
}
