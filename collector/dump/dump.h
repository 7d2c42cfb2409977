/*
 * sluice-dump internals: the output buffer and its escapers (out.c), the
 * option-value parsers (parse.c), the producer table (producers.c), one
 * output format per file behind a small function table (fmt_*.c), and the
 * per-producer table of --stats (stats.c). dump_main.c parses argv, reads
 * the capture through the public reader (sluice/capture.h) and drives
 * these parts. Nothing here allocates per record: the output goes through
 * one buffer, and the only allocations are the producer table and its
 * names.
 */
#ifndef SL_DUMP_H
#define SL_DUMP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sluice/capture.h"
#include "state.h"

/* ---- output buffer (out.c) ----------------------------------------------- */

/** Buffered output to a FILE. Errors are sticky in @c failed. */
typedef struct dump_out {
    FILE *f;
    char *buf;
    size_t len;
    size_t cap;
    int failed;
    /* dump_out_time()'s last "YYYY-MM-DDTHH:MM:SS." and the second it is
     * for: consecutive records mostly share it. */
    uint64_t time_secs;
    char time_prefix[20];
} dump_out;

/**
 * Sets up @p o to write to @p f through a buffer of @p cap bytes.
 * @return 0, or SLUICE_ENOMEM.
 */
int dump_out_open(dump_out *o, FILE *f, size_t cap);
/** Frees the buffer (without flushing). NULL buffer is a no-op. */
void dump_out_close(dump_out *o);
/** Writes the buffered bytes to the FILE (not fflush()). */
void dump_out_flush(dump_out *o);

/** dump_out_bytes() when @p n bytes do not fit in what is left. */
void dump_out_bytes_slow(dump_out *o, const void *p, size_t n);

/* The helpers every record calls are inline: a call per byte or per
 * field would cost more than the formatting itself. */
static inline void
dump_out_bytes(dump_out *o, const void *p, size_t n)
{
    if (n <= o->cap - o->len) {
        memcpy(o->buf + o->len, p, n);
        o->len += n;
    } else {
        dump_out_bytes_slow(o, p, n);
    }
}

static inline void
dump_out_ch(dump_out *o, char c)
{
    if (o->len == o->cap)
        dump_out_flush(o);
    o->buf[o->len++] = c;
}

static inline void
dump_out_str(dump_out *o, const char *s)
{
    dump_out_bytes(o, s, strlen(s));
}

/** Unsigned decimal. */
static inline void
dump_out_u64(dump_out *o, uint64_t v)
{
    char tmp[20];
    size_t n = 0;

    do {
        tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    dump_out_bytes(o, tmp + sizeof(tmp) - n, n);
}
/** Zero-padded decimal of exactly @p width digits (the low ones). */
void dump_out_dec(dump_out *o, uint64_t v, int width);
/** RFC 3339 UTC with nanoseconds: 2024-01-02T03:04:05.123456789Z. */
void dump_out_time(dump_out *o, uint64_t ns);
/** Signed seconds with 9 decimals and an explicit sign: +0.001000000. */
void dump_out_seconds(dump_out *o, int64_t ns);
/** Signed microseconds with 3 decimals, no '+': 1500.000, -0.250. */
void dump_out_usec(dump_out *o, int64_t ns);

/** 1 if every character of p is printable UTF-8: sl_esc_printable(), so
 * no controls, DEL or invisible formatting (bidi) characters. */
int dump_all_printable(const uint8_t *p, size_t n);

/**
 * Text payloads: as they are when dump_all_printable(), otherwise with C
 * escapes (\\ \n \t \r \xNN) for every byte that is a control character,
 * DEL, a C1 control, an invisible formatting character (the bidi controls
 * U+202A..U+202E and U+2066..U+2069 and the others of escape.h) or not
 * part of valid UTF-8, and \\ for backslashes.
 */
void dump_out_text(dump_out *o, const uint8_t *p, size_t n);

/**
 * A field that must not split or merge with its neighbours on a text
 * line (a producer name): dump_out_text()'s escapes, and a space as
 * \x20; the name "?" alone as \x3f (the mark of "no name").
 */
void dump_out_field(dump_out *o, const uint8_t *p, size_t n);
/** One space-free word of the text format (a state record's value):
 *  escaped as a name (format/escape.c, SL_ESC_SPACE: a space is \x20),
 *  without the name's special case for "?". */
void dump_out_word(dump_out *o, const uint8_t *p, size_t n);

/**
 * A JSON string with its quotes. Valid UTF-8 stays as it is except '"',
 * '\\' and controls, which are escaped; a byte that is not part of valid
 * UTF-8 becomes \u00XX (XX = its value), so the result is always valid
 * JSON.
 */
void dump_out_json_str(dump_out *o, const uint8_t *p, size_t n);

/**
 * One RFC 4180 CSV field holding @p p escaped as C escapes, always (so
 * the field never holds a line break, and a backslash is always \\):
 * printable UTF-8 as it is, \\ \n \t \r \xNN for the rest. The field is
 * quoted, with '"' doubled, when it contains ',' or '"'.
 */
void dump_out_csv_field(dump_out *o, const uint8_t *p, size_t n);

/* ---- option values (parse.c) --------------------------------------------- */

/** A --since/--until value: absolute, or relative to the capture's start. */
typedef struct dump_when {
    int relative;  /* 1: ns is an offset from the capture's start_ns */
    uint64_t ns;   /* ns since the Unix epoch, or the offset */
} dump_when;

/**
 * Parses a time: RFC 3339 (2026-11-24T17:00:00Z, 2026-11-24 17:00:00.5+01:00;
 * 'T' or a space, seconds optional, fraction up to 9 digits, then 'Z' or
 * an offset +HH:MM / -HH:MM), +DURATION relative to the capture's start
 * (+5s, +1.5m, +250ms; units ns us ms s m h, s when none), or a plain
 * integer, nanoseconds since the Unix epoch.
 * @return 0, or -1 when @p s is none of these.
 */
int dump_parse_when(const char *s, dump_when *out);

/**
 * Adds the types of a --type value to @p set (65536 bits): a comma list of
 * numbers (decimal or 0x hex, 0..65535) and ranges A-B.
 * @return 0, or -1 (nothing is promised about @p set then).
 */
int dump_parse_types(const char *s, uint8_t set[8192]);

/** Decimal 0..UINT32_MAX, all digits. @return 0 or -1. */
int dump_parse_u32(const char *s, uint32_t *out);

/* ---- producers (producers.c) --------------------------------------------- */

typedef struct dump_producer {
    uint32_t id;
    int used;
    int seen;     /* dump_main.c has decided selected */
    int selected; /* passes --producer */
    int named;    /* a connect record was seen */
    char *name;   /* NUL-terminated copy, name_len bytes */
    uint16_t name_len;
    uint32_t pid;
    uint8_t mode;
    /* integrity, over all its events (--verify, --stats) */
    uint64_t next_seq;
    uint64_t gaps;
    uint64_t dropped;     /* events reported by drop records */
    /* A set of chunks (several FILEs): sequence numbers below the first
     * LIVE record's, when the producer was live as the first chunk read
     * began, lie in chunks retention removed (--verify's expired). */
    uint64_t expired;
    /* the events the filters select (--stats) */
    uint64_t events;
    uint64_t bytes;
    uint64_t first_ns;
    uint64_t last_ns;
    /* its disconnect record */
    int ended;
    uint32_t reason;
    /* chrome: metadata written, open B slices */
    int chrome_meta;
    uint64_t chrome_depth;
    /* perfetto: track descriptor written, open slices, gaps shown */
    int pf_track;
    uint64_t pf_depth;
    uint64_t pf_gaps_shown;
    /* --plot: its series + 1 (0: none yet), gaps marked */
    long plot_series;
    uint64_t plot_gaps_shown;
} dump_producer;

typedef struct dump_producers {
    dump_producer *slot;
    size_t cap; /* power of two */
    size_t count;
    dump_producer *last; /* one-entry cache: records come in runs */
} dump_producers;

/**
 * Finds or adds producer @p id (a new one is zeroed but for id and used).
 * Pointers stay valid until the next call. @return NULL when out of memory.
 */
dump_producer *dump_producer_get(dump_producers *t, uint32_t id);
/** Finds producer @p id, or NULL. */
dump_producer *dump_producer_find(const dump_producers *t, uint32_t id);
/** Frees the table and the names. */
void dump_producers_free(dump_producers *t);
/** Stores a copy of the connect record's name. @return 0 or SLUICE_ENOMEM. */
int dump_producer_set_name(dump_producer *p, const char *name, uint16_t len);

/* ---- formats (fmt_*.c) --------------------------------------------------- */

typedef struct dump_ctx {
    dump_out *o;
    const sluice_capture_info *info;
    /* text: the previous printed event's collector time */
    int have_prev;
    uint64_t prev_ns;
    /* chrome: an element has been written into "traceEvents" */
    int chrome_any;
    /* the reader (perfetto reads its stats for skipped regions) */
    const sluice_capture *cap;
    /* perfetto: its packet buffer and name cache (fmt_perfetto.c) */
    struct dump_pf *pf;
} dump_ctx;

/**
 * One output format. Each hook prints one record; NULL means the format
 * does not print that kind. begin and end frame the whole output (end also
 * runs after Ctrl-C in --follow, so a format can always close its
 * document).
 */
typedef struct dump_format {
    const char *name;
    void (*begin)(dump_ctx *c);
    void (*event)(dump_ctx *c, const sluice_record *r, dump_producer *p);
    void (*connect)(dump_ctx *c, const sluice_record *r, dump_producer *p,
                    const sluice_connect_info *ci);
    void (*disconnect)(dump_ctx *c, const sluice_record *r, dump_producer *p,
                       const sluice_disconnect_info *di);
    void (*drop)(dump_ctx *c, const sluice_record *r, dump_producer *p,
                 const sluice_drop_info *dr);
    void (*close)(dump_ctx *c, const sluice_record *r,
                  const sluice_close_info *cl);
    /* a collector record that does not decode ("invalid") or of a type
     * this version does not know ("unknown"); p is NULL for the close */
    void (*other)(dump_ctx *c, const sluice_record *r, dump_producer *p,
                  const char *kind);
    void (*end)(dump_ctx *c);
    /* a state record (configuration and enabled types from then on);
     * desc is dump_state_desc()'s text */
    void (*state)(dump_ctx *c, const sluice_record *r,
                  const struct sl_state_view *v, const char *desc,
                  size_t desc_len);
    /* a flight-recorder trigger (where it fell); desc is
     * dump_trigger_desc()'s text */
    void (*trigger)(dump_ctx *c, const sluice_record *r,
                    const sluice_trigger_info *t, const char *desc,
                    size_t desc_len);
} dump_format;

/**
 * A trigger record in one line: "snapshot=N cause=C producer=P seq=S
 * type=T after_ns=A folded=0|1" into buf (cap bytes, NUL-terminated).
 * @return its length.
 */
size_t dump_trigger_desc(const sluice_trigger_info *t, char *buf,
                         size_t cap);

/**
 * A state record in one line: "gen=N disabled=RANGES config=K: KEY=VALUE
 * ..." (disabled= "-" when none; values as they are). malloc'd, NULL when
 * out of memory.
 */
char *dump_state_desc(const struct sl_state_view *v, size_t *len);

extern const dump_format dump_fmt_text;
extern const dump_format dump_fmt_jsonl;
extern const dump_format dump_fmt_csv;
extern const dump_format dump_fmt_chrome;
extern const dump_format dump_fmt_perfetto;

/** Frees what --format perfetto allocated (its begin hook). */
void dump_perfetto_free(dump_ctx *c);

/* The Chrome trace type convention (docs/protocol.md, "Event type
 * conventions"): 0xE000..0xE7FF begin a slice, 0xE800..0xEFFF end one;
 * the low 11 bits are the slice's id. */
#define DUMP_SLICE_BEGIN 0xE000u
#define DUMP_SLICE_END 0xE800u
#define DUMP_SLICE_ID_MASK 0x7FFu

/** "binary", "text" or "unknown". */
const char *dump_mode_name(uint8_t mode);

/* ---- --plot (plot.c) ----------------------------------------------------- */

/** Events per second per producer over collector time, as an SVG. */
typedef struct dump_plot dump_plot;

enum { DUMP_PLOT_DROP, DUMP_PLOT_GAP, DUMP_PLOT_CORRUPT };

/** @return 0 or SLUICE_ENOMEM. */
int dump_plot_open(dump_plot **out);
/** Counts one event of @p p at collector time @p ns. @return 0 or
 *  SLUICE_ENOMEM. */
int dump_plot_event(dump_plot *pl, dump_producer *p, uint64_t ns);
/** Marks @p count dropped events, missing sequence numbers or skipped
 *  corrupt blocks (@p kind) at @p ns. */
void dump_plot_mark(dump_plot *pl, int kind, uint64_t ns, uint64_t count);
/** Writes the SVG document. @return 0, SLUICE_ENOMEM or SLUICE_EIO. */
int dump_plot_write(const dump_plot *pl, FILE *f, const dump_producers *t,
                    const sluice_capture_info *info);
/** NULL is a no-op. */
void dump_plot_close(dump_plot *pl);

/* ---- --stats (stats.c) --------------------------------------------------- */

enum { DUMP_STATS_TEXT, DUMP_STATS_CSV, DUMP_STATS_JSONL };

/**
 * Prints the per-producer table of the selected producers, in id order,
 * as aligned text with a totals row, CSV (header row, no totals) or JSON
 * Lines (one object per producer, then one with "kind":"total").
 * @return 0, or SLUICE_ENOMEM.
 */
int dump_stats_print(dump_out *o, const dump_producers *t, int style);

#endif
