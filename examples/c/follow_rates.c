/*
 * follow_rates: a live consumer of a capture the collector is still
 * writing, through the capture reader of libsluice-producer
 * (<sluice/capture.h>). Every second it prints each producer's events per
 * second over that second; at the collector's close record it prints the
 * totals and exits.
 *
 * Usage: follow_rates FILE [WAIT_SECS]
 *   Waits up to WAIT_SECS (default 10; 0: no limit) for FILE to appear,
 *   so it may start before the collector. Output, once a second:
 *     rates: +S name[id]=R/s name[id]=R/s ...
 *   (producers that sent something in that second, or are connected;
 *   names as their connect records give them, bytes that are not
 *   printable ASCII shown as '?'), and at the end
 *     follow_rates: producers=K events=N closed
 * Exit status: 0 at the close record; 1 runtime error (cannot open or
 * read FILE); 2 usage error; 3 the collector is gone without a close
 * record (see writer_gone()).
 */
#ifndef _WIN32
#define _POSIX_C_SOURCE 200809L /* nanosleep, clock_gettime under -std=c11 */
#endif
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/capture.h>

#ifdef _WIN32
#include <windows.h>
static void
sleep_ms(unsigned ms)
{
    Sleep(ms);
}
static uint64_t
now_ms(void)
{
    return (uint64_t)GetTickCount64();
}
#else
#include <time.h>
static void
sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}
static uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
#endif

#define MAX_TRACKED 1024
#define NAME_SHOWN 32

typedef struct producer {
    uint32_t id;
    char name[NAME_SHOWN + 1]; /* printable ASCII only */
    int live;                  /* connected, no disconnect yet */
    uint64_t events;           /* in total */
    uint64_t window;           /* in the current second */
} producer;

static producer prods[MAX_TRACKED];
static size_t n_prods;

static producer *
find(uint32_t id)
{
    size_t i;

    for (i = 0; i < n_prods; i++)
        if (prods[i].id == id)
            return &prods[i];
    if (n_prods == MAX_TRACKED)
        return NULL; /* counted in the totals only */
    memset(&prods[n_prods], 0, sizeof(prods[n_prods]));
    prods[n_prods].id = id;
    snprintf(prods[n_prods].name, sizeof(prods[n_prods].name), "?");
    return &prods[n_prods++];
}

/* Producer names are whatever the producer sent: never print them raw. */
static void
set_name(producer *p, const char *name, size_t len)
{
    size_t i;

    if (len > NAME_SHOWN)
        len = NAME_SHOWN;
    for (i = 0; i < len; i++)
        p->name[i] = name[i] >= 0x20 && name[i] < 0x7F ? name[i] : '?';
    p->name[len] = '\0';
    if (len == 0)
        snprintf(p->name, sizeof(p->name), "?");
}

/*
 * Tells a dead collector from a quiet one. The collector holds a lock on
 * the capture while it writes it; sluice_capture_writer_alive() (the
 * "trust" work, issue 10) tests it. Build with
 * -DFOLLOW_RATES_WRITER_ALIVE where the installed <sluice/capture.h> has
 * it; without, a crashed collector leaves this program waiting (Ctrl-C
 * ends it), as `sluice-dump --follow` did before that work.
 */
static int
writer_gone(const sluice_capture *c)
{
#ifdef FOLLOW_RATES_WRITER_ALIVE
    return sluice_capture_writer_alive(c) == 0;
#else
    (void)c;
    return 0;
#endif
}

static void
print_rates(uint64_t second)
{
    size_t i;

    printf("rates: +%" PRIu64 "s", second);
    for (i = 0; i < n_prods; i++) {
        producer *p = &prods[i];

        if (p->window > 0 || p->live)
            printf(" %s[%" PRIu32 "]=%" PRIu64 "/s", p->name, p->id,
                   p->window);
        p->window = 0;
    }
    printf("\n");
    fflush(stdout);
}

int
main(int argc, char **argv)
{
    sluice_capture *c = NULL;
    sluice_record r;
    uint64_t events = 0, start, next_tick, second = 0;
    unsigned long wait_s = 10;
    char *end;
    int rc, code = 1;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: follow_rates FILE [WAIT_SECS]\n");
        return 2;
    }
    if (argc == 3) {
        wait_s = strtoul(argv[2], &end, 10);
        if (argv[2][0] < '0' || argv[2][0] > '9' || *end != '\0' ||
            wait_s > 86400) {
            fprintf(stderr, "follow_rates: WAIT_SECS is 0..86400, not '%s'\n",
                    argv[2]);
            return 2;
        }
    }
    rc = sluice_capture_open_wait(argv[1],
                                  wait_s == 0 ? SLUICE_WAIT_FOREVER
                                              : (uint32_t)wait_s * 1000u,
                                  &c);
    if (rc != 0) {
        fprintf(stderr, "follow_rates: cannot open %s: %s\n", argv[1],
                sluice_strerror(rc));
        return 1;
    }
    sluice_capture_set_follow(c, 1);
    start = now_ms();
    next_tick = start + 1000;
    for (;;) {
        rc = sluice_capture_next(c, &r);
        if (rc < 0) {
            fprintf(stderr, "follow_rates: cannot read %s: %s\n", argv[1],
                    sluice_strerror(rc));
            goto done;
        }
        if (rc == 0) {
            producer *p = r.type == SLUICE_REC_CLOSE ? NULL : find(r.producer);

            if (r.type < 0xF000u) {
                events++;
                if (p != NULL) {
                    p->events++;
                    p->window++;
                }
            } else if (r.type == SLUICE_REC_CONNECT && p != NULL) {
                sluice_connect_info ci;

                if (sluice_record_connect(&r, &ci) == 0)
                    set_name(p, ci.name, ci.name_len);
                p->live = 1;
            } else if (r.type == SLUICE_REC_DISCONNECT && p != NULL) {
                p->live = 0;
            } else if (r.type == SLUICE_REC_CLOSE) {
                print_rates(++second);
                printf("follow_rates: producers=%zu events=%" PRIu64
                       " closed\n",
                       n_prods, events);
                code = 0;
                goto done;
            }
        } else {
            /* Nothing new yet. */
            if (writer_gone(c)) {
                fprintf(stderr, "follow_rates: the collector is gone without "
                                "a close record\n");
                code = 3;
                goto done;
            }
            sleep_ms(20);
        }
        if (now_ms() >= next_tick) {
            print_rates(++second);
            next_tick += 1000;
        }
    }

done:
    sluice_capture_close(c);
    return code;
}
