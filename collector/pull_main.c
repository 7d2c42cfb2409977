/*
 * sluice-pull: rebuilds the captures that collectors forwarded to a NATS
 * JetStream stream (docs/forwarding.md). It reads the stream with a
 * durable pull consumer, puts each block's parts together, and appends
 * the blocks of each capture in block order to DIR/<host>/<capture id>
 * .sluice, after that capture's file header: the blocks exactly as the
 * collector stored them. A block already in the file (sent twice across
 * the duplicate window) is counted and skipped. Messages are acknowledged
 * after their blocks are written and synced, so a durable consumer
 * resumes where the last run stopped, appending to the same files.
 * Exit status: 0 success, 1 runtime error, 2 usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nats/nats.h>

#include "blocks.h"
#include "capfile.h"
#include "err.h"
#include "natsopt.h"
#include "os.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.0.0"
#endif

#define PROG "sluice-pull"
#define BATCH 16
/* How long one fetch waits for messages. Without --follow, a fetch that
 * finds nothing and a consumer with nothing pending end the run. */
#define FETCH_MS 500
/* When the consumer reports nothing left but blocks are held behind a
 * gap, fetching goes on this long before the gap is taken as final: a
 * message delivered before a consumer leader change and never acked is
 * delivered again only after the ack wait (60 s), and a newly elected
 * leader may briefly report no pending messages. */
#define GAP_WAIT_NS (65ull * 1000000000u)
/* Seconds to wait for a cluster that is electing its leaders. */
#define RETRIES 30

static const char usage_text[] =
    "Usage: sluice-pull URL[,URL...] --stream NAME --out DIR [options]\n"
    "\n"
    "Rebuilds the captures that collectors forwarded to the JetStream\n"
    "stream NAME: one file per host and capture id,\n"
    "DIR/<host>/<capture id>.sluice, holding the blocks the collector wrote;\n"
    "a rotating set one file per chunk, DIR/<host>/<capture id>.NNNNNN.sluice.\n"
    "Prints: pull: captures=C blocks=B duplicates=D missing=M bytes=N\n"
    "        missing_chunks=K (files, blocks; blocks duplicated and never\n"
    "        seen; chunks of a set never seen, before its last one)\n"
    "\n"
    "Options:\n"
    "  --stream NAME        the stream to read (required)\n"
    "  --out DIR            directory for the rebuilt captures (required;\n"
    "                       created if missing)\n"
    "  --host H             only the captures of host H\n"
    "  --follow             keep pulling as blocks arrive, until Ctrl-C or\n"
    "                       SIGTERM\n"
    "  --durable NAME       durable consumer name (default: sluice-pull, or\n"
    "                       sluice-pull-H with --host H)\n"
    "  --subject S          consumer filter subject (default: the stream's\n"
    "                       subject if it has one)\n"
    "  --creds FILE         credentials: user=/password=, token=, nkey= and its\n"
    "                       seed, or a .creds file\n"
    "  --tls-ca FILE        TLS, trusting the CA certificates in FILE\n"
    "  --help               show this help\n"
    "  --version            show the version\n"
    "\n"
    "Exit status: 0 success, 1 runtime error, 2 usage error.\n";

static void
usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, PROG ": ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry '" PROG " --help'.\n");
    exit(2);
}

/* ---- one capture being rebuilt ------------------------------------------- */

typedef struct held {
    uint64_t seq;
    uint64_t offset; /* in the collector's file; UINT64_MAX if unknown */
    uint32_t nparts, have;
    uint8_t **parts;
    uint32_t *lens;
} held;

typedef struct capture {
    char host[128];
    char id[SL_BLK_ID_MAX + 1];
    uint64_t chunk;
    sl_blk_fmt fmt; /* from the file header: to check blocks */
    char path[4096];
    int fd;
    uint64_t next;  /* next block number to append */
    uint64_t end;   /* bytes in the file */
    int dirty;      /* written since the last sync */
    held *held;     /* blocks (or parts) waiting for an earlier one */
    size_t n_held, cap_held;
} capture;

static capture *caps;
static size_t n_caps;
static uint64_t n_blocks, n_dups, n_missing, n_bytes;

/* Chunks of a rotating set (chunk >= 1) that no message ever came for:
 * every chunk number from 1 to the highest one seen of the same host and
 * capture id that has no file. Chunks after the last one seen cannot be
 * told from chunks not yet written. */
static uint64_t
missing_chunks(void)
{
    uint64_t missing = 0;

    for (size_t i = 0; i < n_caps; i++) {
        uint64_t top = 0, have = 0;
        int first = 1;

        if (caps[i].chunk == 0)
            continue;
        /* Count each (host, id) once: at its first entry. */
        for (size_t j = 0; j < i; j++)
            if (caps[j].chunk != 0 && strcmp(caps[j].id, caps[i].id) == 0 &&
                strcmp(caps[j].host, caps[i].host) == 0)
                first = 0;
        if (!first)
            continue;
        for (size_t j = 0; j < n_caps; j++)
            if (caps[j].chunk != 0 && strcmp(caps[j].id, caps[i].id) == 0 &&
                strcmp(caps[j].host, caps[i].host) == 0) {
                have++;
                if (caps[j].chunk > top)
                    top = caps[j].chunk;
            }
        missing += top - have;
    }
    return missing;
}

static void
held_free(held *h)
{
    for (uint32_t i = 0; i < h->nparts; i++)
        free(h->parts[i]);
    free(h->parts);
    free(h->lens);
}

/* A file name part from a host name sent by a collector: hostile bytes
 * never reach the file system or the terminal. */
static void
safe_name(char *dst, size_t cap, const char *src)
{
    size_t n = 0;

    for (; *src != '\0' && n + 1 < cap; src++) {
        unsigned char c = (unsigned char)*src;

        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                 (c == '.' && n > 0);

        dst[n++] = ok ? (char)c : '_';
    }
    if (n == 0)
        dst[n++] = '_';
    dst[n] = '\0';
}

static int
unhex(const char *s, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = strlen(s);

    if (n % 2 != 0 || n / 2 > cap)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int v = 0;

        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + k];

            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= c - '0';
            else if (c >= 'a' && c <= 'f')
                v |= c - 'a' + 10;
            else
                return -1;
        }
        out[i] = (uint8_t)v;
    }
    *len = n / 2;
    return 0;
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Finds or creates the capture: an existing file is continued after its
 * last whole block. @return NULL on error (reported). */
static capture *
get_capture(const char *dir, const char *host, const char *id,
            uint64_t chunk, const char *hdr_hex)
{
    capture *c;
    char hdir[3900], safe_host[128];
    struct stat sb;

    safe_name(safe_host, sizeof(safe_host), host);
    for (size_t i = 0; i < n_caps; i++)
        if (strcmp(caps[i].id, id) == 0 && caps[i].chunk == chunk &&
            strcmp(caps[i].host, safe_host) == 0)
            return &caps[i];
    if (hdr_hex == NULL)
        return NULL; /* not part 0: wait for the part with the header */
    {
        capture *p = realloc(caps, (n_caps + 1) * sizeof(*caps));

        if (p == NULL)
            return NULL;
        caps = p;
    }
    c = &caps[n_caps];
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    snprintf(c->host, sizeof(c->host), "%s", safe_host);
    snprintf(c->id, sizeof(c->id), "%s", id);
    c->chunk = chunk;
    snprintf(hdir, sizeof(hdir), "%.3700s/%s", dir, c->host);
    if (mkdir(hdir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, PROG ": cannot create %s: %s\n", hdir,
                strerror(errno));
        return NULL;
    }
    /* v1: one file per capture; v2: one per chunk, as rotation names them. */
    if (chunk == 0)
        snprintf(c->path, sizeof(c->path), "%s/%s.sluice", hdir, c->id);
    else
        snprintf(c->path, sizeof(c->path), "%s/%s.%06llu.sluice", hdir,
                 c->id, (unsigned long long)chunk);
    if (stat(c->path, &sb) == 0) {
        sl_blk_reader *r;
        sl_blk b;
        uint64_t end;
        int rc = sl_blk_open(c->path, &r);

        if (rc != 0) {
            fprintf(stderr, PROG ": %s exists and is not a capture: %s\n",
                    c->path, sl_strerror(rc));
            return NULL;
        }
        c->fmt = *sl_blk_format(r);
        while (sl_blk_next(r, &b) == 0)
            c->next = b.seq + 1;
        end = sl_blk_pos(r);
        c->end = end;
        sl_blk_close(r);
        c->fd = open(c->path, O_WRONLY);
        /* Drop a block cut short by an earlier run's crash. */
        if (c->fd < 0 || ftruncate(c->fd, (off_t)end) != 0 ||
            lseek(c->fd, (off_t)end, SEEK_SET) < 0) {
            fprintf(stderr, PROG ": cannot continue %s: %s\n", c->path,
                    strerror(errno));
            return NULL;
        }
    } else {
        uint8_t hdr[8192];
        size_t hlen;

        if (unhex(hdr_hex, hdr, sizeof(hdr), &hlen) != 0 ||
            sl_blk_header_check(hdr, hlen, &c->fmt) != 0 ||
            (size_t)sl_load_le32(hdr + 12) != hlen) {
            fprintf(stderr, PROG ": capture %s of host %s: bad file header "
                    "in the message\n", c->id, c->host);
            return NULL;
        }
        c->fd = open(c->path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        c->end = hlen;
        if (c->fd < 0 || write_all(c->fd, hdr, hlen) != 0) {
            fprintf(stderr, PROG ": cannot write %s: %s\n", c->path,
                    strerror(errno));
            return NULL;
        }
        c->dirty = 1;
    }
    n_caps++;
    return c;
}

/* Writes a block at its offset in the collector's file, so the rebuilt
 * file has the same layout: after a block that never came, the hole reads
 * back as damage, not as a shifted file. */
static int
append_block(capture *c, const uint8_t *b, size_t len, uint64_t offset)
{
    if (offset == UINT64_MAX)
        offset = c->end;
    if (offset < c->end) {
        fprintf(stderr, PROG ": capture %s: a block at offset %" PRIu64
                " overlaps the file; skipped\n", c->id, offset);
        n_missing++;
        return 0;
    }
    if (lseek(c->fd, (off_t)offset, SEEK_SET) < 0 ||
        write_all(c->fd, b, len) != 0) {
        fprintf(stderr, PROG ": writing %s: %s\n", c->path, strerror(errno));
        return -1;
    }
    c->end = offset + len;
    c->dirty = 1;
    n_blocks++;
    n_bytes += len;
    return 0;
}

/* Appends every held whole block that is next in order. With @p flush,
 * also those after a gap (the run ends: write what there is). */
static int
drain_held(capture *c, int flush)
{
    for (;;) {
        size_t best = SIZE_MAX;

        for (size_t i = 0; i < c->n_held; i++) {
            held *h = &c->held[i];

            if (h->have != h->nparts)
                continue;
            if (best == SIZE_MAX || h->seq < c->held[best].seq)
                best = i;
        }
        if (best == SIZE_MAX)
            return 0;
        {
            held *h = &c->held[best];
            size_t len = 0, off = 0;
            uint8_t *blk;
            int rc = 0;

            if (h->seq > c->next && !flush)
                return 0;
            for (uint32_t i = 0; i < h->nparts; i++)
                len += h->lens[i];
            blk = malloc(len ? len : 1);
            if (blk == NULL)
                return -1;
            for (uint32_t i = 0; i < h->nparts; i++) {
                memcpy(blk + off, h->parts[i], h->lens[i]);
                off += h->lens[i];
            }
            if (h->seq < c->next) {
                n_dups++;
            } else if (!sl_blk_check(&c->fmt, blk, len,
                                     h->offset != UINT64_MAX ? h->offset
                                                             : c->end)) {
                fprintf(stderr, PROG ": capture %s block %" PRIu64 ": not a "
                        "valid block; skipped\n", c->id, h->seq);
                n_missing++;
            } else {
                if (h->seq > c->next)
                    n_missing += h->seq - c->next;
                rc = append_block(c, blk, len, h->offset);
                c->next = h->seq + 1;
            }
            free(blk);
            held_free(h);
            c->held[best] = c->held[--c->n_held];
            if (rc != 0)
                return rc;
        }
    }
}

/* One message: a part of a block. @return 0, or -1 on a write error. */
static int
take(const char *dir, const char *only_host, natsMsg *m)
{
    const char *id = NULL, *blk = NULL, *host = NULL, *part = NULL;
    const char *chunkv = NULL;
    unsigned long long chunk = 0;
    const char *hdr = NULL, *offv = NULL;
    unsigned long long seq, off = UINT64_MAX;
    unsigned i = 0, n = 1;
    capture *c;
    held *h = NULL;

    natsMsgHeader_Get(m, "Sluice-Capture", &id);
    natsMsgHeader_Get(m, "Sluice-Block", &blk);
    natsMsgHeader_Get(m, "Sluice-Host", &host);
    natsMsgHeader_Get(m, "Sluice-Part", &part);
    natsMsgHeader_Get(m, "Sluice-Header", &hdr);
    natsMsgHeader_Get(m, "Sluice-Offset", &offv);
    natsMsgHeader_Get(m, "Sluice-Chunk", &chunkv);
    if (chunkv != NULL && sscanf(chunkv, "%llu", &chunk) != 1)
        return 0;
    if (offv != NULL && sscanf(offv, "%llu", &off) != 1)
        return 0;
    if (id == NULL || blk == NULL || host == NULL ||
        sscanf(blk, "%llu", &seq) != 1 || strlen(id) > SL_BLK_ID_MAX ||
        strspn(id, "0123456789abcdef") != strlen(id))
        return 0; /* not a sluice block message */
    if (part != NULL && (sscanf(part, "%u/%u", &i, &n) != 2 || n == 0 ||
                         i >= n || n > 65536))
        return 0;
    if (only_host != NULL && strcmp(host, only_host) != 0)
        return 0;
    c = get_capture(dir, host, id, chunk, i == 0 ? hdr : NULL);
    if (c == NULL) {
        if (i == 0)
            return -1;
        return 0; /* a later part before its first: cannot happen in order */
    }
    if (seq < c->next) {
        if (i == 0)
            n_dups++;
        return 0;
    }
    for (size_t k = 0; k < c->n_held; k++)
        if (c->held[k].seq == seq)
            h = &c->held[k];
    if (h == NULL) {
        if (c->n_held == c->cap_held) {
            size_t nc = c->cap_held ? 2 * c->cap_held : 8;
            held *p = realloc(c->held, nc * sizeof(*p));

            if (p == NULL)
                return -1;
            c->held = p;
            c->cap_held = nc;
        }
        h = &c->held[c->n_held++];
        memset(h, 0, sizeof(*h));
        h->seq = seq;
        h->offset = off;
        h->nparts = n;
        h->parts = calloc(n, sizeof(*h->parts));
        h->lens = calloc(n, sizeof(*h->lens));
        if (h->parts == NULL || h->lens == NULL)
            return -1;
    }
    if (h->nparts != n)
        return 0;
    if (h->parts[i] != NULL) {
        n_dups++;
        return 0;
    }
    h->lens[i] = (uint32_t)natsMsg_GetDataLength(m);
    h->parts[i] = malloc(h->lens[i] ? h->lens[i] : 1);
    if (h->parts[i] == NULL)
        return -1;
    memcpy(h->parts[i], natsMsg_GetData(m), h->lens[i]);
    h->have++;
    return drain_held(c, 0);
}

static int
sync_all(void)
{
    for (size_t i = 0; i < n_caps; i++) {
        if (!caps[i].dirty)
            continue;
        if (fdatasync(caps[i].fd) != 0) {
            fprintf(stderr, PROG ": syncing %s: %s\n", caps[i].path,
                    strerror(errno));
            return -1;
        }
        caps[i].dirty = 0;
    }
    return 0;
}

/* Errors of a cluster still electing its leaders. */
static int
transient(natsStatus s)
{
    return s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS;
}

int
main(int argc, char **argv)
{
    const char *urls = NULL, *stream = NULL, *dir = NULL, *host = NULL;
    const char *durable = NULL, *subject = NULL, *creds = NULL, *ca = NULL;
    char durable_buf[256], err[512];
    int follow = 0, rc = 1;
    natsOptions *opts = NULL;
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    natsSubscription *sub = NULL;
    jsSubOptions so;
    jsOptions jo;
    jsErrCode jerr = 0;
    jsStreamInfo *si = NULL;
    natsStatus s;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf(PROG " %s (libnats %s)\n", SLUICE_VERSION,
                   nats_GetVersion());
            return 0;
        } else if (strcmp(a, "--follow") == 0) {
            follow = 1;
            continue;
        } else if (strncmp(a, "--", 2) != 0) {
            if (urls != NULL)
                usage_error("unexpected argument '%s'", a);
            urls = a;
            continue;
        }
        if (v == NULL)
            usage_error("%s needs a value", a);
        i++;
        if (strcmp(a, "--stream") == 0)
            stream = v;
        else if (strcmp(a, "--out") == 0)
            dir = v;
        else if (strcmp(a, "--host") == 0)
            host = v;
        else if (strcmp(a, "--durable") == 0)
            durable = v;
        else if (strcmp(a, "--subject") == 0)
            subject = v;
        else if (strcmp(a, "--creds") == 0)
            creds = v;
        else if (strcmp(a, "--tls-ca") == 0)
            ca = v;
        else
            usage_error("unknown option '%s'", a);
    }
    if (urls == NULL)
        usage_error("%s", "a server URL is required");
    if (stream == NULL)
        usage_error("%s", "--stream NAME is required");
    if (dir == NULL)
        usage_error("%s", "--out DIR is required");
    if (durable == NULL) {
        if (host != NULL) {
            char h[128];

            safe_name(h, sizeof(h), host);
            for (char *p = h; *p != '\0'; p++)
                if (*p == '.')
                    *p = '_';
            snprintf(durable_buf, sizeof(durable_buf), "sluice-pull-%s", h);
        } else {
            snprintf(durable_buf, sizeof(durable_buf), "sluice-pull");
        }
        durable = durable_buf;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, PROG ": cannot create %s: %s\n", dir, strerror(errno));
        return 1;
    }
    if (sl_os_stop_install() != 0)
        return 1;

    if (natsOptions_Create(&opts) != NATS_OK)
        return 1;
    if (sl_nats_set_servers(opts, urls, "URL", err, sizeof(err)) != 0 ||
        (creds != NULL &&
         sl_nats_set_creds(opts, creds, "--creds", err, sizeof(err)) != 0) ||
        (ca != NULL &&
         sl_nats_set_tls_ca(opts, ca, "--tls-ca", err, sizeof(err)) != 0))
        usage_error("%s", err);
    natsOptions_SetTimeout(opts, 2000);
    natsOptions_SetMaxReconnect(opts, -1);
    natsOptions_SetReconnectWait(opts, 250);
    natsOptions_SetName(opts, PROG);
    s = natsConnection_Connect(&nc, opts);
    if (s != NATS_OK) {
        fprintf(stderr, PROG ": cannot connect to %s: %s\n", urls,
                sl_nats_text(s));
        goto done;
    }
    jsOptions_Init(&jo);
    jo.Wait = 5000;
    if (natsConnection_JetStream(&js, nc, &jo) != NATS_OK)
        goto done;
    /* A cluster that has just (re)started answers JetStream requests only
     * once it has elected its leaders: wait for that, a bounded while. */
    for (int attempt = 0;; attempt++) {
        s = js_GetStreamInfo(&si, js, stream, NULL, &jerr);
        if (!transient(s) || attempt == RETRIES)
            break;
        sl_os_sleep_ns(1000000000u);
    }
    if (s != NATS_OK) {
        fprintf(stderr, PROG ": stream %s: %s\n", stream,
                s == NATS_NOT_FOUND ? "not found" : sl_nats_text(s));
        goto done;
    }
    if (subject == NULL) {
        if (si->Config->SubjectsLen != 1) {
            fprintf(stderr, PROG ": stream %s takes %d subjects; choose one "
                    "with --subject\n", stream, si->Config->SubjectsLen);
            goto done;
        }
        subject = si->Config->Subjects[0];
    }
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.DeliverPolicy = js_DeliverAll;
    so.Config.MaxAckPending = 4 * BATCH;
    so.Config.AckWait = 60 * (int64_t)1000000000;
    for (int attempt = 0;; attempt++) {
        s = js_PullSubscribe(&sub, js, subject, durable, &jo, &so, &jerr);
        if (!transient(s) || attempt == RETRIES)
            break;
        sl_os_sleep_ns(1000000000u);
    }
    if (s != NATS_OK) {
        fprintf(stderr, PROG ": cannot create consumer %s on %s: %s\n",
                durable, stream, sl_nats_text(s));
        goto done;
    }

    uint64_t gap_since = 0; /* the consumer looked empty with a gap */

    for (;;) {
        natsMsgList list = {0};
        int failed = 0;

        if (sl_os_stop_wait(0))
            break;
        s = natsSubscription_Fetch(&list, sub, BATCH, FETCH_MS, &jerr);
        if (s == NATS_TIMEOUT || (s == NATS_OK && list.Count == 0)) {
            jsConsumerInfo *ci = NULL;
            int empty = 0;

            natsMsgList_Destroy(&list);
            if (follow)
                continue;
            if (natsSubscription_GetConsumerInfo(&ci, sub, NULL, &jerr) ==
                NATS_OK) {
                empty = ci->NumPending == 0 && ci->NumAckPending == 0;
                jsConsumerInfo_Destroy(ci);
            }
            if (empty) {
                size_t held_n = 0;

                for (size_t i = 0; i < n_caps; i++)
                    held_n += caps[i].n_held;
                if (held_n == 0)
                    break;
                if (gap_since == 0) {
                    gap_since = sl_os_mono_ns();
                    fprintf(stderr, PROG ": %zu blocks wait behind a gap; "
                            "fetching up to %llu s more for the rest\n",
                            held_n,
                            (unsigned long long)(GAP_WAIT_NS / 1000000000u));
                } else if (sl_os_mono_ns() - gap_since > GAP_WAIT_NS) {
                    break;
                }
            }
            continue;
        }
        if (s != NATS_OK) {
            fprintf(stderr, PROG ": fetch: %s\n", sl_nats_text(s));
            natsMsgList_Destroy(&list);
            if (natsConnection_IsClosed(nc))
                goto done;
            sl_os_sleep_ns(250000000u);
            continue;
        }
        gap_since = 0;
        for (int i = 0; i < list.Count && !failed; i++)
            failed = take(dir, host, list.Msgs[i]) != 0;
        if (!failed)
            failed = sync_all() != 0;
        if (failed) {
            natsMsgList_Destroy(&list);
            goto done;
        }
        /* Written and synced: now the stream may forget them for us. */
        for (int i = 0; i < list.Count; i++)
            natsMsg_AckSync(list.Msgs[i], NULL, &jerr);
        natsMsgList_Destroy(&list);
    }
    rc = 0;
done:
    for (size_t i = 0; i < n_caps; i++) {
        if (rc == 0 && drain_held(&caps[i], 1) != 0)
            rc = 1;
        for (size_t k = 0; k < caps[i].n_held; k++) {
            /* Parts of a block whose other parts never came. */
            n_missing++;
            held_free(&caps[i].held[k]);
        }
        free(caps[i].held);
    }
    if (rc == 0 && sync_all() != 0)
        rc = 1;
    for (size_t i = 0; i < n_caps; i++)
        if (caps[i].fd >= 0)
            close(caps[i].fd);
    if (rc == 0)
        printf("pull: captures=%zu blocks=%" PRIu64 " duplicates=%" PRIu64
               " missing=%" PRIu64 " bytes=%" PRIu64 " missing_chunks=%"
               PRIu64 "\n", n_caps, n_blocks, n_dups, n_missing, n_bytes,
               missing_chunks());
    free(caps);
    natsSubscription_Destroy(sub);
    jsStreamInfo_Destroy(si);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    nats_CloseAndWait(5000);
    return rc;
}
