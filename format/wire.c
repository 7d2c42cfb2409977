/*
 * The wire protocol's incremental parser and its small encoders
 * (docs/protocol.md is the normative text, wire.h mirrors its tables).
 *
 * A worker reads whatever chunk a pipe or socket delivers, appends it to the
 * bytes the previous sl_wire_parse() call left unconsumed, and calls
 * sl_wire_parse() again. The parser finds event boundaries in place and
 * returns events that point into the caller's buffer: nothing is copied and
 * nothing is allocated, so a connection costs one sl_wire struct. Decisions
 * never depend on how the stream was split: every violation is reported as
 * soon as the bytes that prove it have arrived (a frame's length is judged
 * from its first four bytes, an over-long text line once max_frame bytes
 * without '\n' are buffered), and each check runs in one fixed order.
 * Integers are read through the load helpers of endian.h; no byte is ever
 * cast to a struct, and no read goes past buf[len - 1] whatever the input,
 * because the stream comes from an untrusted process.
 */
#include "wire.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

/* The hello's fixed fields after the frame header: pid, name_len, reserved. */
#define HELLO_MIN_FRAME (SL_WIRE_FRAME_HDR + SL_WIRE_HELLO_FIXED)

/* Payload of the synthetic text-mode hello: empty, but never NULL, so a
 * consumer may pass it to memcpy() even when the caller's buffer was. */
static const uint8_t no_payload[1];

const char *
sl_wire_reason_str(uint32_t reason)
{
    switch (reason) {
#define SL_WIRE_REASON_STR_(name, value, msg)                                 \
    case (value):                                                             \
        return msg;
        SL_WIRE_REASON_MAP(SL_WIRE_REASON_STR_)
#undef SL_WIRE_REASON_STR_
    default:
        return "unknown reason";
    }
}

const char *
sl_wire_reason_name(uint32_t reason)
{
    switch (reason) {
#define SL_WIRE_REASON_NAME_(name, value, msg)                                \
    case (value):                                                             \
        return #name;
        SL_WIRE_REASON_MAP(SL_WIRE_REASON_NAME_)
#undef SL_WIRE_REASON_NAME_
    default:
        return "UNKNOWN";
    }
}

void
sl_wire_init(sl_wire *w, uint32_t max_frame)
{
    assert(max_frame >= SL_WIRE_MAX_FRAME_MIN &&
           max_frame <= SL_WIRE_MAX_FRAME_LIMIT);
    /* Release builds clamp instead: a frame limit below the hello's size
     * or above what a capture block holds would break later invariants. */
    if (max_frame < SL_WIRE_MAX_FRAME_MIN)
        max_frame = SL_WIRE_MAX_FRAME_MIN;
    if (max_frame > SL_WIRE_MAX_FRAME_LIMIT)
        max_frame = SL_WIRE_MAX_FRAME_LIMIT;
    memset(w, 0, sizeof(*w));
    w->max_frame = max_frame;
    w->mode = SL_WIRE_MODE_UNKNOWN;
    w->reason = SL_WIRE_R_EOF;
}

/* The error code a caller sees for each violation. */
static int
reason_err(uint32_t reason)
{
    switch (reason) {
    case SL_WIRE_R_FRAME_TOO_BIG:
    case SL_WIRE_R_LINE_TOO_LONG:
        return SL_ETOOBIG;
    case SL_WIRE_R_TRUNCATED:
        return SL_ETRUNC;
    default:
        return SL_EPROTO;
    }
}

static int
fail(sl_wire *w, uint32_t reason)
{
    w->failed = 1;
    w->reason = reason;
    return reason_err(reason);
}

/*
 * Compares the first bytes of the stream with the magic and settles the
 * mode when it can: a mismatch at any byte means text, eight matching
 * bytes mean binary, and a shorter matching prefix leaves the mode
 * unknown until more bytes (or the end of the stream) arrive.
 */
static void
detect_mode(sl_wire *w, const uint8_t *buf, size_t len)
{
    size_t n = len < SL_WIRE_MAGIC_LEN ? len : SL_WIRE_MAGIC_LEN;

    if (memcmp(buf, SL_WIRE_MAGIC, n) != 0)
        w->mode = SL_WIRE_MODE_TEXT;
    else if (n == SL_WIRE_MAGIC_LEN)
        w->mode = SL_WIRE_MODE_BINARY;
}

static void
set_event(sl_wire_event *ev, const uint8_t *payload, size_t len,
          uint16_t type, uint64_t seq, uint64_t ts)
{
    ev->payload = payload;
    ev->len = (uint32_t)len;
    ev->type = type;
    ev->seq = seq;
    ev->ts = ts;
}

/*
 * Checks a hello frame's payload (p[0..plen), plen >= 8) and records pid and
 * name. Bytes after the name are reserved for later versions and ignored.
 */
static int
take_hello(sl_wire *w, const uint8_t *p, size_t plen)
{
    uint16_t name_len = sl_load_le16(p + 4);

    if (name_len > SL_WIRE_NAME_MAX || sl_load_le16(p + 6) != 0 ||
        SL_WIRE_HELLO_FIXED + (size_t)name_len > plen)
        return fail(w, SL_WIRE_R_BAD_HELLO);
    w->pid = sl_load_le32(p);
    w->name_len = name_len;
    memcpy(w->name, p + SL_WIRE_HELLO_FIXED, name_len);
    w->name[name_len] = '\0';
    /* Protocol 1.1: an optional u32 `want` after the name. */
    if (plen - SL_WIRE_HELLO_FIXED - name_len >= 4)
        w->want = sl_load_le32(p + SL_WIRE_HELLO_FIXED + name_len);
    w->hello_done = 1;
    return 0;
}

/*
 * Binary mode: frames from buf[*pos]. Checks run as their bytes arrive and
 * always in the same order (length, then type, then flags, then the hello
 * payload), so a violation gets the same reason however the stream was cut.
 * The first frame must be a valid hello and any defect in it is BAD_HELLO.
 */
static int
parse_binary(sl_wire *w, const uint8_t *buf, size_t len, size_t *pos,
             sl_wire_event *ev, size_t cap, size_t *n)
{
    while (*n < cap) {
        size_t avail = len - *pos;
        const uint8_t *f;
        uint32_t flen;
        uint16_t type;

        if (avail < 4)
            return 0;
        f = buf + *pos;
        flen = sl_load_le32(f);
        if (!w->hello_done) {
            if (flen < HELLO_MIN_FRAME || flen > w->max_frame)
                return fail(w, SL_WIRE_R_BAD_HELLO);
        } else if (flen < SL_WIRE_FRAME_HDR) {
            return fail(w, SL_WIRE_R_FRAME_TOO_SMALL);
        } else if (flen > w->max_frame) {
            return fail(w, SL_WIRE_R_FRAME_TOO_BIG);
        }

        if (avail < 8)
            return 0;
        type = sl_load_le16(f + 4);
        if (!w->hello_done) {
            if (type != SL_WIRE_T_HELLO)
                return fail(w, SL_WIRE_R_BAD_HELLO);
        } else if (type >= SL_WIRE_T_RESERVED_MIN &&
                   type != SL_WIRE_T_COUNTS) {
            return fail(w, SL_WIRE_R_BAD_TYPE);
        }
        if (sl_load_le16(f + 6) != 0)
            return fail(w, w->hello_done ? SL_WIRE_R_BAD_FLAGS
                                         : SL_WIRE_R_BAD_HELLO);

        if (avail < flen)
            return 0;
        if (!w->hello_done) {
            int rc = take_hello(w, f + SL_WIRE_FRAME_HDR,
                                flen - SL_WIRE_FRAME_HDR);
            if (rc != 0)
                return rc;
        } else if (type == SL_WIRE_T_COUNTS &&
                   flen - SL_WIRE_FRAME_HDR < SL_WIRE_COUNTS_LEN) {
            return fail(w, SL_WIRE_R_BAD_TYPE);
        }
        set_event(&ev[*n], f + SL_WIRE_FRAME_HDR, flen - SL_WIRE_FRAME_HDR,
                  type, sl_load_le64(f + 8), sl_load_le64(f + 16));
        ++*n;
        *pos += flen;
    }
    return 0;
}

/* Stores one text line of content_len bytes (its "\n" or "\r\n" excluded). */
static void
emit_line(sl_wire *w, const uint8_t *line, size_t content_len,
          sl_wire_event *ev)
{
    set_event(ev, line, content_len, SL_WIRE_T_TEXT, w->text_seq, 0);
    w->text_seq++;
}

/*
 * Text mode: '\n'-terminated lines from buf[*pos]. A line may hold at most
 * max_frame bytes with its '\n', so the search for the '\n' never looks
 * further than that, and a pending line that already fills max_frame bytes
 * is rejected at once. text_scanned remembers how much of the pending line
 * was searched, so a long line delivered in small chunks costs linear time.
 */
static int
parse_text(sl_wire *w, const uint8_t *buf, size_t len, size_t *pos,
           sl_wire_event *ev, size_t cap, size_t *n)
{
    /* The caller presents the pending line again at buf[0]; if it did not
     * keep as many bytes as were scanned, start the search over. */
    if (w->text_scanned > len - *pos)
        w->text_scanned = 0;

    while (*n < cap && *pos < len) {
        const uint8_t *line = buf + *pos;
        size_t rest = len - *pos;
        size_t limit = rest < w->max_frame ? rest : w->max_frame;
        const uint8_t *nl = NULL;
        size_t line_len;
        size_t content;

        if (w->text_scanned < limit)
            nl = memchr(line + w->text_scanned, '\n',
                        limit - w->text_scanned);
        if (nl == NULL) {
            if (rest >= w->max_frame)
                return fail(w, SL_WIRE_R_LINE_TOO_LONG);
            w->text_scanned = rest;
            return 0;
        }
        line_len = (size_t)(nl - line) + 1;
        content = line_len - 1;
        if (content > 0 && line[content - 1] == '\r')
            content--;
        emit_line(w, line, content, &ev[*n]);
        ++*n;
        *pos += line_len;
        w->text_scanned = 0;
    }
    return 0;
}

int
sl_wire_parse(sl_wire *w, const uint8_t *buf, size_t len,
              sl_wire_event *ev, size_t cap, size_t *n_ev,
              size_t *consumed)
{
    size_t pos = 0;
    size_t n = 0;
    int rc = 0;

    if (w->failed) {
        *n_ev = 0;
        *consumed = 0;
        return reason_err(w->reason);
    }

    if (w->mode == SL_WIRE_MODE_UNKNOWN && len > 0) {
        detect_mode(w, buf, len);
        if (w->mode == SL_WIRE_MODE_BINARY)
            pos = SL_WIRE_MAGIC_LEN;
    }

    if (w->mode == SL_WIRE_MODE_BINARY) {
        rc = parse_binary(w, buf, len, &pos, ev, cap, &n);
    } else if (w->mode == SL_WIRE_MODE_TEXT) {
        /* The synthetic hello waits for room if cap was 0 when the mode
         * was settled; it must come before every line. */
        if (!w->hello_done && n < cap) {
            set_event(&ev[n++], no_payload, 0, SL_WIRE_T_HELLO, 0, 0);
            w->hello_done = 1;
        }
        if (w->hello_done)
            rc = parse_text(w, buf, len, &pos, ev, cap, &n);
    }

    *n_ev = n;
    *consumed = pos;
    return rc;
}

/* Lines in buf[0..len), a final one without '\n' included. */
static size_t
count_lines(const uint8_t *buf, size_t len)
{
    size_t lines = 0;
    size_t pos = 0;

    while (pos < len) {
        const uint8_t *nl = memchr(buf + pos, '\n', len - pos);
        lines++;
        if (nl == NULL)
            break;
        pos = (size_t)(nl - buf) + 1;
    }
    return lines;
}

int
sl_wire_finish(sl_wire *w, const uint8_t *buf, size_t len,
               sl_wire_event *ev, size_t cap, size_t *n_ev)
{
    sl_wire_mode mode = w->mode;
    size_t need;
    size_t pos = 0;
    size_t n = 0;
    int rc;

    *n_ev = 0;
    if (w->failed)
        return reason_err(w->reason);

    if (mode == SL_WIRE_MODE_UNKNOWN) {
        size_t m = len < SL_WIRE_MAGIC_LEN ? len : SL_WIRE_MAGIC_LEN;

        if (len == 0)
            return 0;
        /* A prefix of the magic that is still undecided at the end of the
         * stream is a line of text. Eight matching bytes only arrive here
         * when the caller skipped sl_wire_parse(). */
        if (m == SL_WIRE_MAGIC_LEN && memcmp(buf, SL_WIRE_MAGIC, m) == 0)
            mode = SL_WIRE_MODE_BINARY;
        else
            mode = SL_WIRE_MODE_TEXT;
    }

    if (mode == SL_WIRE_MODE_BINARY) {
        if (w->mode == SL_WIRE_MODE_UNKNOWN) {
            w->mode = SL_WIRE_MODE_BINARY;
            len -= SL_WIRE_MAGIC_LEN;
        }
        /* Ending right after the magic is as incomplete as ending inside
         * the hello: the binary preamble is magic plus hello. */
        if (len > 0 || !w->hello_done)
            return fail(w, SL_WIRE_R_TRUNCATED);
        return 0;
    }

    /* Text. The remainder holds complete lines only when the mode was
     * undecided (the magic's own "\r\n"), or when the caller skipped
     * sl_wire_parse(); either way they come out before the final line,
     * so count the events first and refuse before changing anything. */
    need = (w->hello_done ? 0u : 1u) + count_lines(buf, len);
    if (need > cap)
        return SL_EINVAL;

    w->mode = SL_WIRE_MODE_TEXT;
    if (!w->hello_done) {
        set_event(&ev[n++], no_payload, 0, SL_WIRE_T_HELLO, 0, 0);
        w->hello_done = 1;
    }
    /* parse_text() also applies the length limit to the final line: it
     * refuses max_frame bytes without a '\n', which is exactly a final
     * line that would exceed max_frame once its '\n' were counted. */
    rc = parse_text(w, buf, len, &pos, ev, cap, &n);
    if (rc == 0 && pos < len) {
        emit_line(w, buf + pos, len - pos, &ev[n]);
        n++;
        w->text_scanned = 0;
    }
    *n_ev = n;
    return rc;
}

size_t
sl_wire_need(const sl_wire *w, const uint8_t *buf, size_t len)
{
    if (w->mode == SL_WIRE_MODE_BINARY && !w->failed && len >= 4) {
        uint32_t flen = sl_load_le32(buf);
        if (flen >= SL_WIRE_FRAME_HDR && flen <= w->max_frame)
            return flen;
    }
    return w->max_frame;
}

int
sl_wire_greeting(char *buf, size_t cap, uint32_t max_frame, uint32_t id,
                 size_t *len)
{
    char tmp[SL_WIRE_GREETING_MAX];
    int n;

    n = snprintf(tmp, sizeof(tmp), "SLUICE/%u max=%lu id=%lu",
                 (unsigned)SL_WIRE_VERSION, (unsigned long)max_frame,
                 (unsigned long)id);
    /* Two 10-digit numbers leave the greeting far below 64 bytes. */
    assert(n > 0 && (size_t)n < sizeof(tmp));
    if (n <= 0 || (size_t)n + 1 > cap)
        return SL_EINVAL;
    memcpy(buf, tmp, (size_t)n + 1);
    *len = (size_t)n + 1;
    return 0;
}

int
sl_wire_greeting_cfg(char *buf, size_t cap, uint32_t max_frame, uint32_t id,
                     int cfg, size_t *len)
{
    size_t n;
    int rc = sl_wire_greeting(buf, cap, max_frame, id, &n);

    if (rc != 0)
        return rc;
    /* "SLUICE/1 max=16777216 id=4294967295 cfg=1" is 42 bytes + NUL. */
    if (n - 1 + 6 + 1 > cap)
        return SL_EINVAL;
    memcpy(buf + n - 1, cfg ? " cfg=1" : " cfg=0", 7);
    *len = n + 6;
    return 0;
}

int
sl_wire_greeting_cfg_field(const char *buf, size_t len)
{
    /* The greeting was validated by sl_wire_parse_greeting(): fields are
     * separated by single spaces. */
    for (size_t i = 0; i + 6 <= len; i++)
        if (buf[i] == ' ' && memcmp(buf + i + 1, "cfg=", 4) == 0)
            return buf[i + 5] == '1' ? 1 : 0;
    return -1;
}

/*
 * Reads a decimal number of 1..10 digits that fits in 32 bits from
 * s[*i..end) and advances *i past it.
 */
static int
parse_u32(const char *s, size_t end, size_t *i, uint32_t *out)
{
    uint64_t v = 0;
    size_t start = *i;

    while (*i < end && s[*i] >= '0' && s[*i] <= '9') {
        if (*i - start >= 10)
            return SL_EPROTO;
        v = v * 10u + (uint64_t)(s[*i] - '0');
        ++*i;
    }
    if (*i == start || v > UINT32_MAX)
        return SL_EPROTO;
    *out = (uint32_t)v;
    return 0;
}

static int
is_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* Printable ASCII other than space and '=': what a field value may hold. */
static int
is_value_char(char c)
{
    return c > ' ' && c <= '~' && c != '=';
}

int
sl_wire_parse_greeting(const char *buf, size_t len, uint32_t *version,
                       uint32_t *max_frame, uint32_t *id)
{
    static const char prefix[] = "SLUICE/";
    const size_t prefix_len = sizeof(prefix) - 1;
    uint32_t major, minor, max = 0, ident = 0;
    int have_max = 0, have_id = 0;
    size_t i;

    if (len > 0 && buf[len - 1] == '\0')
        len--;
    if (len == 0 || len + 1 > SL_WIRE_GREETING_MAX)
        return SL_EPROTO;
    if (len < prefix_len || memcmp(buf, prefix, prefix_len) != 0)
        return SL_EPROTO;
    i = prefix_len;
    if (parse_u32(buf, len, &i, &major) != 0)
        return SL_EPROTO;
    if (i < len && buf[i] == '.') {
        i++;
        if (parse_u32(buf, len, &i, &minor) != 0)
            return SL_EPROTO;
    }
    if (i < len && buf[i] != ' ')
        return SL_EPROTO;
    /* Another major version may lay out its fields differently, so stop
     * before reading them. */
    if (major != SL_WIRE_VERSION)
        return SL_EVERSION;

    while (i < len) {
        size_t key, key_len, val, val_len;

        i++; /* the single space before each field */
        key = i;
        while (i < len && is_key_char(buf[i]))
            i++;
        key_len = i - key;
        if (key_len == 0 || i >= len || buf[i] != '=')
            return SL_EPROTO;
        i++;
        val = i;
        while (i < len && is_value_char(buf[i]))
            i++;
        val_len = i - val;
        if (i < len && buf[i] != ' ')
            return SL_EPROTO;

        if (key_len == 3 && memcmp(buf + key, "max", 3) == 0) {
            size_t j = val;
            if (have_max || parse_u32(buf, val + val_len, &j, &max) != 0 ||
                j != val + val_len || max < SL_WIRE_MAX_FRAME_MIN ||
                max > SL_WIRE_MAX_FRAME_LIMIT)
                return SL_EPROTO;
            have_max = 1;
        } else if (key_len == 2 && memcmp(buf + key, "id", 2) == 0) {
            size_t j = val;
            if (have_id || parse_u32(buf, val + val_len, &j, &ident) != 0 ||
                j != val + val_len)
                return SL_EPROTO;
            have_id = 1;
        }
        /* Unknown fields are skipped: later versions may add some. */
    }
    if (!have_max || !have_id)
        return SL_EPROTO;

    if (version != NULL)
        *version = major;
    if (max_frame != NULL)
        *max_frame = max;
    if (id != NULL)
        *id = ident;
    return 0;
}

int
sl_wire_hello_encode_want(uint8_t *buf, size_t cap, uint32_t pid,
                          const char *name, size_t name_len, uint64_t ts,
                          uint32_t want, size_t *len)
{
    size_t n;
    int rc;

    if (cap < 4)
        return SL_EINVAL;
    rc = sl_wire_hello_encode(buf, cap - 4, pid, name, name_len, ts, &n);
    if (rc != 0)
        return rc;
    sl_store_le32(buf + SL_WIRE_MAGIC_LEN, (uint32_t)(n - SL_WIRE_MAGIC_LEN + 4));
    sl_store_le32(buf + n, want);
    *len = n + 4;
    return 0;
}

int
sl_wire_hello_encode(uint8_t *buf, size_t cap, uint32_t pid,
                     const char *name, size_t name_len, uint64_t ts,
                     size_t *len)
{
    size_t frame_len;
    uint8_t *f;

    if (name_len > SL_WIRE_NAME_MAX)
        return SL_ENAMETOOLONG;
    frame_len = HELLO_MIN_FRAME + name_len;
    if (cap < SL_WIRE_MAGIC_LEN + frame_len)
        return SL_EINVAL;

    memcpy(buf, SL_WIRE_MAGIC, SL_WIRE_MAGIC_LEN);
    f = buf + SL_WIRE_MAGIC_LEN;
    sl_wire_frame_header(f, (uint32_t)frame_len, SL_WIRE_T_HELLO, 0, ts);
    sl_store_le32(f + SL_WIRE_FRAME_HDR, pid);
    sl_store_le16(f + SL_WIRE_FRAME_HDR + 4, (uint16_t)name_len);
    sl_store_le16(f + SL_WIRE_FRAME_HDR + 6, 0);
    if (name_len > 0)
        memcpy(f + HELLO_MIN_FRAME, name, name_len);
    *len = SL_WIRE_MAGIC_LEN + frame_len;
    return 0;
}
