/*
 * emit_events: a small program that streams events to a sluice collector
 * through libsluice-producer.
 *
 * It plays a service that records two kinds of events: one "request" event
 * (type 1) per request it handles, and one "checkpoint" event (type 2) after
 * every 100 requests. Payloads are short text so `sluice-dump` shows them
 * readably; they could be any bytes.
 *
 * Usage: emit_events PIPE [COUNT]   (COUNT requests, default 1000)
 * Sends COUNT type-1 events and COUNT/100 type-2 events, then prints
 *   emit_events: id=K requests=R checkpoints=C events=N bytes=B
 * Exit status: 0 success, 1 runtime error, 2 usage error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/producer.h>

enum { TYPE_REQUEST = 1, TYPE_CHECKPOINT = 2, CHECKPOINT_EVERY = 100 };

static int
parse_count(const char *s, unsigned long *out)
{
    char *end;

    if (s[0] < '0' || s[0] > '9')
        return -1;
    errno = 0;
    *out = strtoul(s, &end, 10);
    return (errno != 0 || *end != '\0') ? -1 : 0;
}

int
main(int argc, char **argv)
{
    static const char name[] = "emit_events";
    sluice_producer_opts opts;
    sluice_producer *p = NULL;
    unsigned long count = 1000, checkpoints = 0;
    uint64_t events, bytes;
    char payload[96];
    int rc;

    if (argc < 2 || argc > 3 || (argc == 3 && parse_count(argv[2], &count))) {
        fprintf(stderr, "usage: %s PIPE [COUNT]\n", name);
        return 2;
    }

    sluice_producer_opts_init(&opts);
    opts.name = name; /* shown as the producer's name in the capture */
    opts.name_len = strlen(name);
    rc = sluice_producer_open(argv[1], strlen(argv[1]), &opts, &p);
    if (rc != 0) {
        fprintf(stderr, "%s: cannot connect to pipe %s: %s\n", name, argv[1],
                sluice_strerror(rc));
        return 1;
    }

    for (unsigned long i = 0; i < count && rc == 0; i++) {
        int n = snprintf(payload, sizeof(payload), "GET /items/%lu 200", i);
        /* emit copies the payload into a batch; it blocks only when the
         * collector applies backpressure. */
        rc = sluice_producer_emit(p, TYPE_REQUEST, payload, (size_t)n);
        if (rc == 0 && (i + 1) % CHECKPOINT_EVERY == 0) {
            n = snprintf(payload, sizeof(payload), "checkpoint after %lu requests",
                         i + 1);
            rc = sluice_producer_emit(p, TYPE_CHECKPOINT, payload, (size_t)n);
            checkpoints += rc == 0;
        }
    }
    if (rc != 0) {
        /* SLUICE_EPIPE / SLUICE_ECONNRESET: the collector went away. */
        fprintf(stderr, "%s: emit failed: %s\n", name, sluice_strerror(rc));
        sluice_producer_close(p);
        return 1;
    }

    sluice_producer_counts(p, &events, &bytes);
    printf("%s: id=%" PRIu32 " requests=%lu checkpoints=%lu events=%" PRIu64
           " bytes=%" PRIu64 "\n",
           name, sluice_producer_id(p), count, checkpoints, events, bytes);
    /* close flushes what is still batched; its error is the last word. */
    rc = sluice_producer_close(p);
    if (rc != 0) {
        fprintf(stderr, "%s: final flush failed: %s\n", name, sluice_strerror(rc));
        return 1;
    }
    return 0;
}
