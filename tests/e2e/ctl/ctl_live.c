/*
 * The live control-plane client of tests/e2e/test_control.sh (and its
 * Windows twin): one connection throughout.
 *   sl-ctl-live PIPE READY_FILE
 * Prints the configuration it received (KEY=VALUE lines) and whether type 5
 * is enabled, emits type 4 "a4" and type 5 "a5", flushes, creates
 * READY_FILE, then waits (up to 60 s) until the collector enables type 5,
 * emits "b4" (type 4) and "b5" (type 5), closes and prints
 *   live: events=E filtered=F enabled5=1
 * Exit 0, or 1 with a reason on stderr.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "os.h"
#include "sluice/producer.h"

int
main(int argc, char **argv)
{
    sluice_producer_opts o;
    sluice_producer *p;
    const void *cur = NULL;
    const char *k, *v;
    size_t kl, vl;
    uint64_t events = 0, filtered;
    FILE *f;
    int rc, i;

    if (argc != 3) {
        fprintf(stderr, "usage: sl-ctl-live PIPE READY_FILE\n");
        return 2;
    }
    sluice_producer_opts_init(&o);
    o.name = "live";
    o.name_len = 4;
    rc = sluice_producer_open(argv[1], strlen(argv[1]), &o, &p);
    if (rc != 0) {
        fprintf(stderr, "sl-ctl-live: open: %s\n", sluice_strerror(rc));
        return 1;
    }
    while (sluice_producer_config_next(p, &cur, &k, &kl, &v, &vl) == 0)
        printf("config: %.*s=%.*s\n", (int)kl, k, (int)vl, v);
    if (sluice_producer_config_get(p, "mode", 4, &v, &vl) == 0)
        printf("mode is %.*s\n", (int)vl, v);
    printf("enabled5=%d enabled4=%d\n", sluice_producer_enabled(p, 5),
           sluice_producer_enabled(p, 4));
    fflush(stdout);
    if (sluice_producer_emit(p, 4, "a4", 2) != 0 ||
        sluice_producer_emit(p, 5, "a5", 2) != 0 ||
        sluice_producer_flush(p) != 0) {
        fprintf(stderr, "sl-ctl-live: first emits failed\n");
        return 1;
    }
    f = fopen(argv[2], "w");
    if (f == NULL)
        return 1;
    fclose(f);
    /* A test client may poll the bit: this is what the check is for. */
    for (i = 0; i < 6000 && !sluice_producer_enabled(p, 5); i++)
        sl_os_sleep_ns(10000000u);
    if (!sluice_producer_enabled(p, 5)) {
        fprintf(stderr, "sl-ctl-live: type 5 never got enabled\n");
        return 1;
    }
    if (sluice_producer_emit(p, 4, "b4", 2) != 0 ||
        sluice_producer_emit(p, 5, "b5", 2) != 0) {
        fprintf(stderr, "sl-ctl-live: second emits failed\n");
        return 1;
    }
    sluice_producer_counts(p, &events, NULL);
    filtered = sluice_producer_filtered(p);
    rc = sluice_producer_close(p);
    if (rc != 0) {
        fprintf(stderr, "sl-ctl-live: close: %s\n", sluice_strerror(rc));
        return 1;
    }
    printf("live: events=%" PRIu64 " filtered=%" PRIu64 " enabled5=1\n",
           events, filtered);
    return 0;
}
