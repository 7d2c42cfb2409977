/*
 * sluice-dump: prints a capture file (--format text, jsonl, csv or chrome),
 * tabulates its producers (--stats), verifies it (--verify: checksums
 * through the reader, then every producer's sequence numbers), or follows
 * it while the collector is still writing (--follow). Filters select
 * producers by id or name, events by type and records by collector time.
 * Everything it knows about the file comes from the public reader
 * (sluice/capture.h); this file parses argv and routes each record to the
 * chosen format (collector/dump/fmt_*.c) through one output buffer, so
 * dumping tens of millions of records costs little more than reading them.
 * Exit codes are listed in usage() and in docs/capture-format.md.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"
#include "os.h"
#include "sluice/capture.h"
#include "core/testenv.h"

#define PROG "sluice-dump"
#define OUT_CAP ((size_t)1 << 20)
#define FOLLOW_POLL_NS 100000000ull /* 100 ms */

/* Exit codes (also in usage()). */
enum {
    EXIT_OK = 0,
    EXIT_RUNTIME = 1,
    EXIT_USAGE = 2,
    EXIT_INCOMPLETE = 3,
    EXIT_CORRUPT = 4,
};

typedef struct options {
    const char *path;  /* the first FILE (the only one, usually) */
    const char **paths; /* every FILE, n_paths of them (a set of chunks) */
    size_t n_paths;
    const dump_format *fmt;
    int verify;
    int follow;
    int stats;
    const char *plot; /* --plot OUT.svg, "-" for stdout */
    int wait;          /* --wait given */
    uint32_t wait_s;   /* its seconds, 0: no limit */
    /* --producer: ids and names, each at most argc long */
    uint32_t *ids;
    size_t n_ids;
    const char **names;
    size_t n_names;
    /* --type */
    int have_types;
    uint8_t types[8192];
    /* --since, --until */
    int have_since;
    int have_until;
    dump_when since;
    dump_when until;
} options;

typedef struct run {
    const options *opt;
    dump_out o;
    dump_ctx ctx;
    dump_producers prods;
    int show;          /* print records (not --verify, not --stats) */
    int track;         /* keep per-producer counts (--verify, --stats) */
    uint64_t lo;       /* time window: lo <= collector_ns */
    uint64_t hi;       /* and, with have_until, collector_ns < hi */
    uint64_t events;   /* events selected */
    int closed;        /* the close record was read */
    int writer_gone;   /* following: the collector died without closing */
    dump_plot *plot;   /* --plot */
    uint64_t corrupt_seen; /* --plot: corrupt blocks already marked */
    size_t file_index;  /* which FILE of a set is being read (0 first) */
    const char *path;   /* the FILE being read */
    uint64_t chunks;    /* a set: FILEs read */
    uint64_t missing_chunks; /* a set: numbers between first and last
                                that no FILE has */
    int oom;           /* out of memory in a handler */
} run;

/* ---- routing records ----------------------------------------------------- */

static int
in_window(const run *rn, uint64_t ns)
{
    return ns >= rn->lo && (!rn->opt->have_until || ns < rn->hi);
}

static int
type_selected(const options *opt, uint16_t t)
{
    return !opt->have_types || (opt->types[t >> 3] >> (t & 7) & 1);
}

static int
id_selected(const options *opt, uint32_t id)
{
    size_t i;

    if (opt->n_ids == 0 && opt->n_names == 0)
        return 1;
    for (i = 0; i < opt->n_ids; i++)
        if (opt->ids[i] == id)
            return 1;
    return 0;
}

static int
name_selected(const options *opt, const sluice_connect_info *ci)
{
    size_t i;

    for (i = 0; i < opt->n_names; i++)
        if (strlen(opt->names[i]) == ci->name_len &&
            memcmp(opt->names[i], ci->name, ci->name_len) == 0)
            return 1;
    return 0;
}

/* Counts (with --verify or --stats) and prints one event. */
static void
handle_event(run *rn, const sluice_record *r, dump_producer *p)
{
    if (rn->track) {
        /* Missing numbers count one each; a number at or below one
         * already passed (duplicate, out of order) counts one. */
        if (r->seq == p->next_seq) {
            p->next_seq++;
        } else if (r->seq > p->next_seq) {
            p->gaps += r->seq - p->next_seq;
            p->next_seq = r->seq + 1;
        } else {
            p->gaps++;
        }
    }
    if (!type_selected(rn->opt, r->type) || !in_window(rn, r->collector_ns))
        return;
    rn->events++;
    if (rn->track) {
        if (p->events == 0 || r->collector_ns < p->first_ns)
            p->first_ns = r->collector_ns;
        if (p->events == 0 || r->collector_ns > p->last_ns)
            p->last_ns = r->collector_ns;
        p->events++;
        p->bytes += r->payload_len;
    }
    if (rn->show)
        rn->opt->fmt->event(&rn->ctx, r, p);
    if (rn->plot != NULL) {
        uint64_t unexplained = p->gaps > p->dropped ? p->gaps - p->dropped
                                                    : 0;

        if (unexplained > p->plot_gaps_shown) {
            dump_plot_mark(rn->plot, DUMP_PLOT_GAP, r->collector_ns,
                           unexplained - p->plot_gaps_shown);
            p->plot_gaps_shown = unexplained;
        }
        if (dump_plot_event(rn->plot, p, r->collector_ns) != 0)
            rn->oom = 1;
    }
}

/* A connect or live record's facts onto its producer: name, pid, mode,
 * and selection by --name. @return 0, or -1 when out of memory. */
static int
take_connect_info(run *rn, dump_producer *p, const sluice_connect_info *ci)
{
    if (dump_producer_set_name(p, ci->name, ci->name_len) != 0)
        return -1;
    p->pid = ci->pid;
    p->mode = ci->mode;
    if (!p->selected && name_selected(rn->opt, ci))
        p->selected = 1;
    return 0;
}

/* Routes one record to the counters and the format. @return 0, or -1 when
 * out of memory. */
static int
handle(run *rn, const sluice_record *r)
{
    const dump_format *f = rn->opt->fmt;
    int show, was_seen;
    dump_producer *p;

    /* The time index (capture-format.md 15.5) is the file's structure,
     * not data: no format shows it, as the Python reader does not, and it
     * makes no producer entry. */
    if (r->type == SLUICE_REC_INDEX)
        return 0;
    if (r->type == SLUICE_REC_STATE) {
        sl_state_view v;
        char *desc;
        size_t dlen;

        /* A collector record of no producer: it makes no producer
         * entry (producer 0 does not exist). */
        if (!rn->show || !in_window(rn, r->collector_ns))
            return 0;
        if (sl_state_decode(r->payload, r->payload_len, &v) != 0) {
            if (f->other != NULL)
                f->other(&rn->ctx, r, NULL, "invalid");
            return 0;
        }
        desc = dump_state_desc(&v, &dlen);
        if (desc == NULL)
            return -1;
        if (f->state != NULL)
            f->state(&rn->ctx, r, &v, desc, dlen);
        free(desc);
        return 0;
    }
    if (r->type == SLUICE_REC_TRIGGER) {
        sluice_trigger_info t;
        char desc[256];
        size_t dlen;

        /* A collector record of no producer, like the state record. */
        if (!rn->show || !in_window(rn, r->collector_ns))
            return 0;
        if (sluice_record_trigger(r, &t) != 0) {
            if (f->other != NULL)
                f->other(&rn->ctx, r, NULL, "invalid");
            return 0;
        }
        dlen = dump_trigger_desc(&t, desc, sizeof(desc));
        if (f->trigger != NULL)
            f->trigger(&rn->ctx, r, &t, desc, dlen);
        return 0;
    }
    if (r->type == SLUICE_REC_CLOSE) {
        sluice_close_info cl;

        rn->closed = 1;
        if (!rn->show || !in_window(rn, r->collector_ns))
            return 0;
        if (sluice_record_close(r, &cl) != 0) {
            if (f->other != NULL)
                f->other(&rn->ctx, r, NULL, "invalid");
        } else if (f->close != NULL) {
            f->close(&rn->ctx, r, &cl);
        }
        return 0;
    }
    p = dump_producer_get(&rn->prods, r->producer);
    if (p == NULL)
        return -1;
    was_seen = p->seen;
    if (!p->seen) {
        p->seen = 1;
        p->selected = id_selected(rn->opt, r->producer);
    }
    if (r->type < 0xF000u) {
        if (p->selected)
            handle_event(rn, r, p);
        return rn->oom ? -1 : 0;
    }

    show = rn->show && in_window(rn, r->collector_ns);
    switch (r->type) {
    case SLUICE_REC_CONNECT: {
        sluice_connect_info ci;

        if (sluice_record_connect(r, &ci) != 0)
            break;
        if (take_connect_info(rn, p, &ci) != 0)
            return -1;
        if (p->selected && show && f->connect != NULL)
            f->connect(&rn->ctx, r, p, &ci);
        return 0;
    }
    case SLUICE_REC_LIVE: {
        sluice_connect_info ci;

        /* A chunk's preamble: the producer was live when the chunk began
         * and its next sequence number is r->seq. Continuity: from the
         * chunk before, numbers up to it are expected; a producer first
         * met here in the first FILE read had its earlier events in
         * chunks that retention removed (expired), in a later FILE in a
         * chunk that is missing (gaps). */
        if (sluice_record_connect(r, &ci) != 0)
            break;
        if (take_connect_info(rn, p, &ci) != 0)
            return -1;
        if (!was_seen && rn->file_index == 0)
            p->expired = r->seq;
        else if (r->seq > p->next_seq)
            p->gaps += r->seq - p->next_seq;
        if (r->seq > p->next_seq || !was_seen)
            p->next_seq = r->seq;
        if (p->selected && show && f->connect != NULL)
            f->connect(&rn->ctx, r, p, &ci);
        return 0;
    }
    case SLUICE_REC_DISCONNECT: {
        sluice_disconnect_info di;

        if (sluice_record_disconnect(r, &di) != 0)
            break;
        p->ended = 1;
        p->reason = di.reason;
        if (p->selected && show && f->disconnect != NULL)
            f->disconnect(&rn->ctx, r, p, &di);
        return 0;
    }
    case SLUICE_REC_DROP: {
        sluice_drop_info dr;

        if (sluice_record_drop(r, &dr) != 0)
            break;
        p->dropped += dr.events;
        if (p->selected && show && f->drop != NULL)
            f->drop(&rn->ctx, r, p, &dr);
        if (p->selected && rn->plot != NULL && in_window(rn, r->collector_ns))
            dump_plot_mark(rn->plot, DUMP_PLOT_DROP, r->collector_ns,
                           dr.events);
        return 0;
    }
    default:
        if (p->selected && show && f->other != NULL)
            f->other(&rn->ctx, r, p, "unknown");
        return 0;
    }
    if (p->selected && show && f->other != NULL)
        f->other(&rn->ctx, r, p, "invalid");
    return 0;
}

/* ---- command line -------------------------------------------------------- */

static void
usage(FILE *f)
{
    static const char text[] =
        "usage: " PROG " FILE... [--format text|jsonl|csv|chrome|perfetto]\n"
        "                   [--follow] [--wait SECS]\n"
        "                   [--verify | --stats | --plot OUT.svg]\n"
        "                   [--producer ID|NAME]...\n"
        "                   [--type T[,T...]]... [--since TIME] "
        "[--until TIME]\n"
        "                   [--help] [--version]\n"
        "\n"
        "Prints the records of a sluice capture file, or tabulates (--stats) "
        "or\n"
        "checks (--verify) it. Several FILEs are the chunks of one rotated\n"
        "capture, in any order: read as one stream, ordered by chunk number.\n"
        "\n"
        "Options:\n"
        "  --format F       output format (default: text):\n"
        "    text    one line per event, like babeltrace:\n"
        "              [<collector time, UTC>] (+<seconds since the previous "
        "event>)\n"
        "                <name>[<id>] #<seq> type=<type>: <payload>\n"
        /* "\?": "??)" would be a trigraph. */
        "            the first event shows (+?.\?\?\?\?\?\?\?\?\?); "
        "<name> is from the\n"
        "            producer's connect record, or '?'. A payload that is all\n"
        "            printable UTF-8 prints as is, any other with C escapes\n"
        "            (\\\\ \\n \\t \\r \\xNN). Collector records print as "
        "'--- connect ...',\n"
        "            '--- disconnect ...', '--- drop ...' and "
        "'--- close ...'.\n"
        "    jsonl   one JSON object per line, \"kind\" being event, "
        "connect,\n"
        "            disconnect, drop or close. Names and payloads are JSON "
        "strings\n"
        "            in which a byte that is not part of valid UTF-8 is "
        "written\n"
        "            \\u00XX (XX = its value); unknown names are null. "
        "Integers are\n"
        "            plain JSON numbers (nanosecond times exceed 2^53).\n"
        "    csv     RFC 4180 CSV of the events, CRLF line ends, a header "
        "row and\n"
        "            the columns\n"
        "              collector_time  collector time, RFC 3339 UTC with ns\n"
        "              collector_ns    the same, ns since the Unix epoch\n"
        "              producer        producer id\n"
        "              name            producer name (empty if unknown)\n"
        "              seq             producer sequence number\n"
        "              type            event type, decimal\n"
        "              producer_ns     producer timestamp, ns (0 = none)\n"
        "              payload_bytes   payload length in bytes\n"
        "              payload         printable UTF-8 as is, C escapes for "
        "the\n"
        "                              rest and \\\\ for every backslash, so "
        "it is\n"
        "                              one line; quoted when it has , or \"\n"
        "    chrome  Chrome Trace Event JSON ({\"traceEvents\":[...]}) for "
        "Perfetto\n"
        "            or chrome://tracing: one process track per producer "
        "(pid = id,\n"
        "            named by a process_name record), events as instants; "
        "types\n"
        "            0xE000..0xE7FF begin a slice named by the payload, "
        "0xE800..0xEFFF\n"
        "            end it (docs/protocol.md, \"Event type "
        "conventions\"); ts in\n"
        "            microseconds since the capture's start, from the "
        "producer's\n"
        "            timestamp when it sent one, else the collector's.\n"
        "    perfetto  a native Perfetto protobuf trace (ui.perfetto.dev, "
        "trace_processor):\n"
        "            one track per producer (a TrackDescriptor with a "
        "ProcessDescriptor,\n"
        "            pid = id, named after the producer), TrackEvent "
        "instants, slices\n"
        "            for the same begin/end types as chrome, interned event "
        "names,\n"
        "            \"sequence gap\" and \"drop\" instants and "
        "previous_packet_dropped\n"
        "            for loss; timestamps in ns since the Unix epoch. Binary: "
        "redirect\n"
        "            it to a file. Streams, like every format.\n"
        "  --follow         keep reading while the file grows (polling every "
        "100 ms)\n"
        "                   until the collector's close record, or Ctrl-C "
        "(exit 0)\n"
        "                   (default: off, stop at the end of the file)\n"
        "  --wait SECS      if FILE does not exist yet (or its header is not "
        "written\n"
        "                   yet), wait for it up to SECS seconds, 0 for no "
        "limit, or\n"
        "                   until Ctrl-C; for a reader started before the "
        "collector,\n"
        "                   usually with --follow (default: fail at once)\n"
        "  --verify         check every block checksum and every producer's "
        "event\n"
        "                   sequence numbers (0, 1, 2, ...; a missing, "
        "repeated or\n"
        "                   out-of-order number is a gap, unless a drop "
        "record\n"
        "                   accounts for it), and print only\n"
        "    verify: producers=K events=N gaps=G "
        "corrupt_blocks=C torn_tail_bytes=T\n"
        "                   and over a set of chunks then\n"
        "                   chunks=S expired=E missing_chunks=M (expired: "
        "events in\n"
        "                   chunks retention deleted, not gaps)\n"
        "                   (default: off; takes --producer, no other "
        "filter)\n"
        "  --stats          print one row per producer instead of the "
        "records:\n"
        "                   ID NAME PID MODE EVENTS BYTES FIRST LAST GAPS "
        "DROPPED END\n"
        "                   (EVENTS, BYTES, FIRST and LAST collector time: "
        "the events\n"
        "                   the filters select; GAPS as --verify counts them "
        "and\n"
        "                   DROPPED from drop records, over the whole "
        "connection;\n"
        "                   END: the disconnect reason, '-' if none), then "
        "totals.\n"
        "                   Aligned text, or with --format csv a CSV table "
        "(no\n"
        "                   totals), with --format jsonl one object per "
        "producer\n"
        "                   and one \"kind\":\"total\" (default: off)\n"
        "  --plot OUT.svg   instead of the records, write a picture: events "
        "per second\n"
        "                   of each producer over collector time (one line "
        "each, the 8\n"
        "                   busiest, the rest summed as 'other'), drops, "
        "sequence gaps\n"
        "                   and skipped corrupt data marked, producers named; "
        "plain SVG\n"
        "                   for light and dark backgrounds ('-': to stdout). "
        "Takes the\n"
        "                   filters, not --format (default: off)\n"
        "  --producer ID|NAME  only producer ID (digits) or the producers "
        "whose\n"
        "                   connect record carries NAME; repeat for more "
        "(default:\n"
        "                   all producers)\n"
        "  --type T[,T...]  only events of these types: numbers 0..61439 "
        "(decimal, or\n"
        "                   0x0..0xEFFF) and ranges A-B; repeatable. "
        "Collector records\n"
        "                   are still printed (default: all types)\n"
        "  --since TIME     only records with collector time >= TIME "
        "(default: from\n"
        "                   the start)\n"
        "  --until TIME     only records with collector time < TIME "
        "(default: to the\n"
        "                   end)\n"
        "                   TIME is RFC 3339, 2026-11-24T17:00:00Z or "
        "...:00.25+01:00\n"
        "                   ('Z' or an offset is required); +DURATION after "
        "the\n"
        "                   capture's start, like +5s, +1.5m, +250ms "
        "(units ns us ms\n"
        "                   s m h; s if none); or an integer, ns since the "
        "Unix epoch.\n"
        "  --help           show this help and exit\n"
        "  --version        show the version and exit\n"
        "\n"
        "An option's value may also follow an '=', as in --format=csv. "
        "--follow works\n"
        "with every format; --stats then prints its table when following "
        "stops.\n"
        "\n"
        "Without --verify, skipped corrupt blocks and a torn tail are reported "
        "as\n"
        "warnings on stderr.\n"
        "\n"
        "Exit status:\n"
        "  0  success; with --verify: no gaps, no corrupt blocks, no torn "
        "tail,\n"
        "     and the close record present\n"
        "  1  runtime error: cannot open or read FILE, not a capture, or\n"
        "     --producer matches no producer\n"
        "  2  usage error\n"
        "  3  (--verify) incomplete: a torn tail or no close record, so the\n"
        "     collector did not finalise the file (also --follow once the\n"
        "     collector is gone without its close record)\n"
        "  4  (--verify) corrupt: sequence gaps or corrupt blocks\n";

    fputs(text, f);
}

static int
usage_error(const char *what, const char *arg)
{
    if (arg != NULL)
        fprintf(stderr, PROG ": %s '%s' (try --help)\n", what, arg);
    else
        fprintf(stderr, PROG ": %s (try --help)\n", what);
    return EXIT_USAGE;
}

static const dump_format *const formats[] = {
    &dump_fmt_text, &dump_fmt_jsonl, &dump_fmt_csv, &dump_fmt_chrome,
    &dump_fmt_perfetto};

/* Options that take a value, in --opt VALUE or --opt=VALUE form. */
static const char *const valued[] = {"--format", "--producer", "--type",
                                     "--since", "--until", "--plot",
                                     "--wait"};

static int
set_value(options *opt, const char *key, const char *val)
{
    size_t i;

    if (strcmp(key, "--format") == 0) {
        for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
            if (strcmp(val, formats[i]->name) == 0) {
                opt->fmt = formats[i];
                return -1;
            }
        return usage_error("unknown format (text, jsonl, csv, chrome, "
                           "perfetto):",
                           val);
    }
    if (strcmp(key, "--producer") == 0) {
        if (val[strspn(val, "0123456789")] != '\0' || val[0] == '\0') {
            opt->names[opt->n_names++] = val; /* not all digits: a name */
            return -1;
        }
        if (dump_parse_u32(val, &opt->ids[opt->n_ids]) != 0)
            return usage_error("a producer ID is a number 0..4294967295, not",
                               val);
        opt->n_ids++;
        return -1;
    }
    if (strcmp(key, "--wait") == 0) {
        if (dump_parse_u32(val, &opt->wait_s) != 0)
            return usage_error("--wait takes whole seconds (0: no limit), "
                               "not",
                               val);
        opt->wait = 1;
        return -1;
    }
    if (strcmp(key, "--plot") == 0) {
        if (val[0] == '\0')
            return usage_error("--plot takes a file name (or - for stdout)",
                               NULL);
        opt->plot = val;
        return -1;
    }
    if (strcmp(key, "--type") == 0) {
        if (dump_parse_types(val, opt->types) != 0)
            return usage_error("--type takes event types 0..61439 (or "
                               "0x0..0xEFFF) and ranges A-B, comma-separated, "
                               "not",
                               val);
        opt->have_types = 1;
        return -1;
    }
    if (dump_parse_when(val, strcmp(key, "--since") == 0 ? &opt->since
                                                          : &opt->until) != 0)
        return usage_error("not a time (RFC 3339 with Z or an offset, "
                           "+DURATION, or ns since the epoch):",
                           val);
    if (strcmp(key, "--since") == 0)
        opt->have_since = 1;
    else
        opt->have_until = 1;
    return -1;
}

/* @return -1 to go on, or an exit code (help, version, usage error). */
static int
parse_args(int argc, char **argv, options *opt)
{
    int i, only_files = 0, code, have_format = 0;

    opt->fmt = &dump_fmt_text;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL, *eq;
        size_t klen, k;
        char key[16];

        if (only_files || a[0] != '-' || a[1] == '\0') {
            if (opt->path == NULL)
                opt->path = a;
            opt->paths[opt->n_paths++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_files = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return EXIT_OK;
        }
        if (strcmp(a, "--version") == 0) {
            printf(PROG " %s\n", SLUICE_VERSION);
            return EXIT_OK;
        }
        if (strcmp(a, "--verify") == 0) {
            opt->verify = 1;
            continue;
        }
        if (strcmp(a, "--follow") == 0) {
            opt->follow = 1;
            continue;
        }
        if (strcmp(a, "--stats") == 0) {
            opt->stats = 1;
            continue;
        }
        eq = strchr(a, '=');
        klen = eq != NULL ? (size_t)(eq - a) : strlen(a);
        for (k = 0; k < sizeof(valued) / sizeof(valued[0]); k++)
            if (strlen(valued[k]) == klen && strncmp(a, valued[k], klen) == 0)
                break;
        if (k == sizeof(valued) / sizeof(valued[0]))
            return usage_error("unknown option", a);
        memcpy(key, a, klen);
        key[klen] = '\0';
        if (strcmp(key, "--format") == 0)
            have_format = 1;
        if (eq != NULL) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc)
                return usage_error("missing value for", a);
            val = argv[++i];
        }
        code = set_value(opt, key, val);
        if (code >= 0)
            return code;
    }
    if (opt->path == NULL)
        return usage_error("missing FILE", NULL);
    if (opt->n_paths > 1 && (opt->follow || opt->wait))
        return usage_error("--follow and --wait read one FILE, not a set "
                           "of chunks", NULL);
    if (opt->verify && opt->stats)
        return usage_error("--verify and --stats exclude each other", NULL);
    if (opt->plot != NULL && (opt->verify || opt->stats || have_format))
        return usage_error("--plot writes only the picture: no --verify, "
                           "--stats or --format",
                           NULL);
    if (opt->verify && (opt->have_types || opt->have_since || opt->have_until))
        return usage_error("--verify takes --producer but no --type, "
                           "--since or --until",
                           NULL);
    if (opt->stats && opt->fmt == &dump_fmt_chrome)
        return usage_error("--stats prints text, csv or jsonl, not", "chrome");
    if (opt->stats && opt->fmt == &dump_fmt_perfetto)
        return usage_error("--stats prints text, csv or jsonl, not",
                           "perfetto");
    return -1;
}

/* ---- reading ------------------------------------------------------------- */

static const char *
open_reason(int rc)
{
    switch (rc) {
    case SLUICE_ECORRUPT:
        return "not a sluice capture, or its header is damaged";
    case SLUICE_EVERSION:
        return "written in a newer capture format than this sluice-dump "
               "reads";
    case SLUICE_ETRUNC:
        return "file ends inside its header";
    default:
        return sluice_strerror(rc);
    }
}

static int
open_capture(const options *opt, sluice_capture **c)
{
    uint64_t start = sl_os_mono_ns();
    int rc;

    for (;;) {
        rc = sluice_capture_open(opt->path, c);
        /* While following, a file whose header is still being written is
         * worth waiting for; with --wait, a file that is not there yet
         * too (until the time is up, or Ctrl-C). */
        if (rc != SLUICE_ETRUNC && (rc != SLUICE_ENOENT || !opt->wait))
            break;
        if (!opt->follow && !opt->wait)
            break;
        if (opt->wait && opt->wait_s != 0 &&
            sl_os_mono_ns() - start >= (uint64_t)opt->wait_s * 1000000000ull)
            break;
        if (sl_os_stop_wait(FOLLOW_POLL_NS))
            break;
    }
    if (rc != 0)
        fprintf(stderr, PROG ": cannot open %s: %s\n", opt->path,
                open_reason(rc));
    return rc;
}

/* Absolute bounds of the time window, now that the start is known. */
static void
resolve_window(run *rn, uint64_t start_ns)
{
    const options *opt = rn->opt;

    rn->lo = 0;
    rn->hi = UINT64_MAX;
    if (opt->have_since)
        rn->lo = !opt->since.relative ? opt->since.ns
                 : opt->since.ns > UINT64_MAX - start_ns
                     ? UINT64_MAX
                     : start_ns + opt->since.ns;
    if (opt->have_until)
        rn->hi = !opt->until.relative ? opt->until.ns
                 : opt->until.ns > UINT64_MAX - start_ns
                     ? UINT64_MAX
                     : start_ns + opt->until.ns;
}

static int
read_error(const run *rn, int rc)
{
    if (rc == SLUICE_ENOMEM)
        fprintf(stderr, PROG ": out of memory\n");
    else
        fprintf(stderr, PROG ": cannot read %s: %s\n", rn->path,
                sluice_strerror(rc));
    return -1;
}

/* --plot: marks the corrupt blocks the reader skipped before @p r. */
static void
plot_corrupt(run *rn, const sluice_capture *c, const sluice_record *r)
{
    sluice_capture_stats st;

    sluice_capture_get_stats(c, &st);
    if (st.corrupt_blocks > rn->corrupt_seen) {
        dump_plot_mark(rn->plot, DUMP_PLOT_CORRUPT, r->collector_ns,
                       st.corrupt_blocks - rn->corrupt_seen);
        rn->corrupt_seen = st.corrupt_blocks;
    }
}

/* Writes the --plot picture. @return 0, or -1 after saying why. */
static int
write_plot(run *rn)
{
    const char *path = rn->opt->plot;
    int to_stdout = strcmp(path, "-") == 0, rc;
    FILE *f;

    if (to_stdout) {
        dump_out_flush(&rn->o);
        f = stdout;
    } else {
        f = fopen(path, "wb");
        if (f == NULL) {
            fprintf(stderr, PROG ": cannot write %s\n", path);
            return -1;
        }
    }
    rc = dump_plot_write(rn->plot, f, &rn->prods, rn->ctx.info);
    if (!to_stdout && fclose(f) != 0 && rc == 0)
        rc = SLUICE_EIO;
    if (rc != 0) {
        fprintf(stderr, PROG ": cannot write %s: %s\n", path,
                rc == SLUICE_ENOMEM ? "out of memory" : "write error");
        return -1;
    }
    return 0;
}

/* 1 if some producer passed the --producer filter. */
static int
any_selected(const run *rn)
{
    for (size_t k = 0; k < rn->prods.cap; k++)
        if (rn->prods.slot[k].used && rn->prods.slot[k].selected)
            return 1;
    return 0;
}

/* Reads records until the end (or, following, until the close record or
 * a stop request). @return 0, or -1 after reporting a read error or
 * running out of memory. */
static int
read_all(run *rn, sluice_capture *c)
{
    const options *opt = rn->opt;
    sluice_record r;
    int rc, dead_polls = 0;

    if (opt->follow)
        sluice_capture_set_follow(c, 1);
    /* --since/--until seek with the file's time index (capture-format.md
     * 15.5), or, without one, read on as before. Only when printing
     * records: --verify, --stats, --plot and perfetto count sequence gaps
     * from each producer's first event, so they read everything. The
     * collector records before --since are still read (the index says
     * which blocks hold them): names and --name selection need them. */
    if (rn->show && !rn->track && !opt->follow) {
        rc = 0;
        if (opt->have_since && rn->lo > 0)
            rc = sluice_capture_seek_time_ex(c, rn->lo,
                                             SLUICE_SEEK_KEEP_COLLECTOR);
        if (rc == 0 && opt->have_until)
            rc = sluice_capture_set_until(c, rn->hi);
        if (rc != 0)
            return read_error(rn, rc);
    }
    for (;;) {
        rc = sluice_capture_next(c, &r);
        if (rc == 0) {
            if (rn->plot != NULL)
                plot_corrupt(rn, c, &r);
            if (handle(rn, &r) != 0)
                return read_error(rn, SLUICE_ENOMEM);
            if (opt->follow && r.type == SLUICE_REC_CLOSE)
                break;
            continue;
        }
        if (rc < 0)
            return read_error(rn, rc);
        if (!opt->follow)
            break;
        /* Nothing new yet: let a reader of our output see what we have. */
        dump_out_flush(&rn->o);
        fflush(stdout);
        /* No close record and no collector holding the file's lock (twice
         * in a row, so a collector between its create and its lock is not
         * taken for dead): nothing more will come. */
        if (sluice_capture_writer_alive(c) == 0) {
            if (++dead_polls >= 2) {
                rn->writer_gone = 1;
                fprintf(stderr, PROG ": %s: no collector is writing it any "
                        "more and it has no close record (the collector "
                        "crashed or was killed); stopping\n", opt->path);
                break;
            }
        } else {
            dead_polls = 0;
        }
        if (rn->o.failed || sl_os_stop_wait(FOLLOW_POLL_NS))
            break;
    }
    if (opt->follow && !rn->closed && !rn->o.failed) {
        /* Stopped by the user: take what is complete now, and let the
         * reader settle the end of the file as final. */
        sluice_capture_set_follow(c, 0);
        while ((rc = sluice_capture_next(c, &r)) == 0)
            if (handle(rn, &r) != 0)
                return read_error(rn, SLUICE_ENOMEM);
        if (rc < 0)
            return read_error(rn, rc);
    }
    return 0;
}

static int
verify_report(run *rn, const sluice_capture_stats *st)
{
    uint64_t gaps = 0, producers = 0, expired = 0;
    const char *what = rn->chunks > 0 ? "the set" : rn->opt->path;
    size_t k;

    for (k = 0; k < rn->prods.cap; k++) {
        const dump_producer *p = &rn->prods.slot[k];

        if (!p->used || !p->selected)
            continue;
        producers++;
        gaps += p->gaps > p->dropped ? p->gaps - p->dropped : 0;
        expired += p->expired;
    }
    printf("verify: producers=%llu events=%llu gaps=%llu corrupt_blocks=%llu "
           "torn_tail_bytes=%llu",
           (unsigned long long)producers, (unsigned long long)rn->events,
           (unsigned long long)gaps, (unsigned long long)st->corrupt_blocks,
           (unsigned long long)st->torn_tail_bytes);
    /* A set of chunks: fields after the single file's, never between. */
    if (rn->chunks > 0)
        printf(" chunks=%llu expired=%llu missing_chunks=%llu",
               (unsigned long long)rn->chunks, (unsigned long long)expired,
               (unsigned long long)rn->missing_chunks);
    printf("\n");
    if (fflush(stdout) != 0) {
        fprintf(stderr, PROG ": cannot write output\n");
        return EXIT_RUNTIME;
    }
    if (rn->missing_chunks > 0) {
        fprintf(stderr,
                PROG ": the set is corrupt: %llu chunks missing between its "
                     "first and its last\n",
                (unsigned long long)rn->missing_chunks);
        return EXIT_CORRUPT;
    }
    if (gaps > 0 || st->corrupt_blocks > 0) {
        fprintf(stderr,
                PROG ": %s is corrupt: %llu sequence gaps, %llu corrupt "
                     "blocks\n",
                what, (unsigned long long)gaps,
                (unsigned long long)st->corrupt_blocks);
        return EXIT_CORRUPT;
    }
    if (st->torn_tail_bytes > 0 || !rn->closed) {
        fprintf(stderr,
                PROG ": %s is incomplete: %s; the collector did not "
                     "finalise it\n",
                rn->chunks > 0 ? "the set's last chunk" : rn->opt->path,
                st->torn_tail_bytes > 0 ? "torn tail after the last whole block"
                                        : "no close record");
        return EXIT_INCOMPLETE;
    }
    return EXIT_OK;
}

/* A set of chunks (several FILEs): opens every one, checks that they
 * are chunks of one capture, and orders them by chunk number. cs[k] is
 * the k-th chunk in order, paths[k] its name. @return 0, or -1 after
 * saying why. */
static int
open_set(const options *opt, sluice_capture **cs, const char **paths,
         uint64_t *missing)
{
    size_t n = opt->n_paths;

    for (size_t k = 0; k < n; k++) {
        const sluice_capture_info *in;
        int rc = sluice_capture_open(opt->paths[k], &cs[k]);

        paths[k] = opt->paths[k];
        if (rc != 0) {
            cs[k] = NULL;
            fprintf(stderr, PROG ": cannot open %s: %s\n", opt->paths[k],
                    open_reason(rc));
            return -1;
        }
        in = sluice_capture_get_info(cs[k]);
        if (in->chunk == 0) {
            fprintf(stderr, PROG ": %s is not a chunk of a rotated set (its "
                    "header has no chunk number); read it alone\n",
                    opt->paths[k]);
            return -1;
        }
        if (k > 0 && memcmp(in->capture_id,
                            sluice_capture_get_info(cs[0])->capture_id,
                            sizeof(in->capture_id)) != 0) {
            fprintf(stderr, PROG ": %s and %s are chunks of different "
                    "captures (their capture ids differ)\n", opt->paths[0],
                    opt->paths[k]);
            return -1;
        }
    }
    /* Insertion sort by chunk number: sets are small. */
    for (size_t k = 1; k < n; k++) {
        for (size_t j = k; j > 0; j--) {
            uint64_t a = sluice_capture_get_info(cs[j - 1])->chunk;
            uint64_t b = sluice_capture_get_info(cs[j])->chunk;
            sluice_capture *tc;
            const char *tp;

            if (a == b) {
                fprintf(stderr, PROG ": %s and %s are both chunk %llu\n",
                        paths[j - 1], paths[j], (unsigned long long)a);
                return -1;
            }
            if (a < b)
                break;
            tc = cs[j - 1];
            cs[j - 1] = cs[j];
            cs[j] = tc;
            tp = paths[j - 1];
            paths[j - 1] = paths[j];
            paths[j] = tp;
        }
    }
    *missing = sluice_capture_get_info(cs[n - 1])->chunk -
               sluice_capture_get_info(cs[0])->chunk + 1 - n;
    return 0;
}

static void
add_stats(sluice_capture_stats *sum, const sluice_capture *c)
{
    sluice_capture_stats st;

    sluice_capture_get_stats(c, &st);
    sum->blocks += st.blocks;
    sum->records += st.records;
    sum->corrupt_blocks += st.corrupt_blocks;
    sum->corrupt_bytes += st.corrupt_bytes;
    sum->torn_tail_bytes += st.torn_tail_bytes;
    sum->valid_bytes += st.valid_bytes;
}

int
main(int argc, char **argv)
{
    options opt;
    run rn;
    sluice_capture *c = NULL, **cs = NULL;
    const char **set_paths = NULL;
    sluice_capture_stats st;
    int code;

    /* Windows hands main() ANSI-code-page arguments; a failure leaves argv
     * as it was, which is still right for ASCII paths. */
    sl_os_args_utf8(&argc, &argv);
    memset(&opt, 0, sizeof(opt));
    memset(&rn, 0, sizeof(rn));
    opt.ids = malloc((size_t)argc * sizeof(*opt.ids));
    opt.names = malloc((size_t)argc * sizeof(*opt.names));
    opt.paths = malloc((size_t)argc * sizeof(*opt.paths));
    cs = calloc((size_t)argc, sizeof(*cs));
    set_paths = calloc((size_t)argc, sizeof(*set_paths));
    if (opt.ids == NULL || opt.names == NULL || opt.paths == NULL ||
        cs == NULL || set_paths == NULL ||
        dump_out_open(&rn.o, stdout, OUT_CAP) != 0) {
        fprintf(stderr, PROG ": out of memory\n");
        code = EXIT_RUNTIME;
        goto done;
    }
    code = parse_args(argc, argv, &opt);
    if (code >= 0)
        goto done;
    rn.opt = &opt;
    rn.show = !opt.verify && !opt.stats && opt.plot == NULL;
    /* perfetto shows sequence gaps, so it needs the counts too. */
    rn.track = opt.verify || opt.stats || opt.plot != NULL ||
               opt.fmt == &dump_fmt_perfetto;
    if (opt.plot != NULL && dump_plot_open(&rn.plot) != 0) {
        fprintf(stderr, PROG ": out of memory\n");
        code = EXIT_RUNTIME;
        goto done;
    }
    rn.ctx.o = &rn.o;
    /* Our own buffer batches lines; stdio's is only a pass-through. */
    sl_os_stdout_binary();
    setvbuf(stdout, NULL, _IOFBF, OUT_CAP);
    if ((opt.follow || opt.wait) && sl_os_stop_install() != 0) {
        fprintf(stderr, PROG ": cannot install the Ctrl-C handler\n");
        code = EXIT_RUNTIME;
        goto done;
    }

    if (opt.n_paths > 1) {
        if (open_set(&opt, cs, set_paths, &rn.missing_chunks) != 0) {
            code = EXIT_RUNTIME;
            goto done;
        }
        rn.chunks = opt.n_paths;
    } else {
        if (open_capture(&opt, &cs[0]) != 0) {
            code = EXIT_RUNTIME;
            goto done;
        }
        set_paths[0] = opt.path;
    }
    c = cs[0];
    rn.ctx.info = sluice_capture_get_info(c);
    rn.ctx.cap = c;
    resolve_window(&rn, rn.ctx.info->start_ns);
    if (rn.show && opt.fmt->begin != NULL)
        opt.fmt->begin(&rn.ctx);
    /* A set reads as one stream, chunk after chunk; whether it is
     * finalised is its last chunk's close record. */
    for (size_t k = 0; k < opt.n_paths; k++) {
        rn.file_index = k;
        rn.path = set_paths[k];
        rn.closed = 0;
        rn.ctx.info = sluice_capture_get_info(cs[k]);
        rn.ctx.cap = cs[k];
        if (read_all(&rn, cs[k]) != 0) {
            code = EXIT_RUNTIME;
            goto done;
        }
    }
    if ((opt.n_ids > 0 || opt.n_names > 0) && !any_selected(&rn)) {
        /* A filter that matches nothing is a mistake to point out, not an
         * empty success (and never a passed --verify). */
        fprintf(stderr, PROG ": --producer:");
        for (size_t k = 0; k < opt.n_ids; k++)
            fprintf(stderr, " %u", (unsigned)opt.ids[k]);
        for (size_t k = 0; k < opt.n_names; k++)
            fprintf(stderr, " '%s'", opt.names[k]);
        fprintf(stderr, ": no producer in %s matches (see sluice-dump %s "
                "--stats for its producers)%s\n", opt.path, opt.path,
                opt.verify ? "; nothing verified" : "");
        dump_out_flush(&rn.o);
        fflush(stdout);
        code = EXIT_RUNTIME;
        goto done;
    }
    if (rn.show && opt.fmt->end != NULL)
        opt.fmt->end(&rn.ctx);
    if (opt.stats &&
        dump_stats_print(&rn.o, &rn.prods,
                         opt.fmt == &dump_fmt_csv     ? DUMP_STATS_CSV
                         : opt.fmt == &dump_fmt_jsonl ? DUMP_STATS_JSONL
                                                      : DUMP_STATS_TEXT) !=
            0) {
        fprintf(stderr, PROG ": out of memory\n");
        code = EXIT_RUNTIME;
        goto done;
    }
    if (opt.plot != NULL && write_plot(&rn) != 0) {
        code = EXIT_RUNTIME;
        goto done;
    }
    dump_out_flush(&rn.o);
    if (rn.o.failed || fflush(stdout) != 0) {
        fprintf(stderr, PROG ": cannot write output\n");
        code = EXIT_RUNTIME;
        goto done;
    }
    memset(&st, 0, sizeof(st));
    for (size_t k = 0; k < opt.n_paths; k++)
        add_stats(&st, cs[k]);
    /* Test-only (docs/reliability.md section 5): how many bytes of the
     * FILEs were read, the measure of a seek's saving. */
    if (sl_test_env_u64("SLUICE_TEST_DUMP_BYTES_READ", 1) == 1) {
        uint64_t bytes = 0;

        for (size_t k = 0; k < opt.n_paths; k++)
            bytes += sluice_capture_bytes_read(cs[k]);
        fprintf(stderr, PROG ": bytes_read=%llu\n",
                (unsigned long long)bytes);
    }
    if (opt.verify) {
        code = verify_report(&rn, &st);
        goto done;
    }
    if (st.corrupt_blocks > 0)
        fprintf(stderr,
                PROG ": warning: skipped %llu corrupt blocks (%llu bytes)\n",
                (unsigned long long)st.corrupt_blocks,
                (unsigned long long)st.corrupt_bytes);
    if (st.torn_tail_bytes > 0)
        fprintf(stderr,
                PROG ": warning: torn tail of %llu bytes after the last "
                     "whole block\n",
                (unsigned long long)st.torn_tail_bytes);
    /* Following a capture whose collector died: its end is final but not
     * finalised (as --verify's "incomplete"). */
    code = rn.writer_gone ? EXIT_INCOMPLETE : EXIT_OK;

done:
    dump_plot_close(rn.plot);
    dump_perfetto_free(&rn.ctx);
    for (size_t k = 0; cs != NULL && k < opt.n_paths; k++)
        sluice_capture_close(cs[k]);
    free(cs);
    free(set_paths);
    free(opt.paths);
    dump_producers_free(&rn.prods);
    dump_out_close(&rn.o);
    free(opt.ids);
    free(opt.names);
    return code;
}
