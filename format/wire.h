/*
 * The sluice wire protocol (docs/protocol.md is the normative text; this
 * header mirrors its tables). All integers are little-endian; lengths are in
 * bytes; timestamps are nanoseconds since the Unix epoch.
 *
 * Connection timeline:
 *   collector -> producer: greeting, ASCII, NUL-terminated, <= 64 bytes
 *                          "SLUICE/1 max=<max-frame> id=<producer id>\0"
 *   producer -> collector: either
 *     binary: magic (8 bytes), hello frame, then event frames; or
 *     text:   anything not starting with the magic; every '\n'-terminated
 *             line (a '\r' before the '\n' stripped) is one event, and a
 *             final line without '\n' at end of stream is one event too.
 *
 * Binary frame (24-byte header, then payload):
 *   Offset Size Field   Meaning
 *   0      4    length  whole frame in bytes, header included;
 *                       24 <= length <= max-frame
 *   4      2    type    event type; 0xF000..0xFFFF reserved (0xFF00 hello)
 *   6      2    flags   reserved, must be zero
 *   8      8    seq     producer sequence number (0, 1, 2, ... per
 *                       connection for events; 0 for hello)
 *   16     8    ts      producer timestamp, ns since the Unix epoch
 *   24     ...  payload (length - 24 bytes)
 *
 * Hello payload (type 0xFF00, the first frame after the magic):
 *   0      4    pid       producer process id
 *   4      2    name_len  0..255
 *   6      2    reserved  must be zero
 *   8      N    name      UTF-8, not NUL-terminated
 */
#ifndef SL_WIRE_H
#define SL_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "endian.h"

#define SL_WIRE_VERSION 1u
/* "\x89SLU\r\n\x1a\n": a high byte first so no text line starts with it,
 * CR LF and ^Z to catch mangling transports (the PNG signature's idea). */
#define SL_WIRE_MAGIC "\x89SLU\r\n\x1a\n"
#define SL_WIRE_MAGIC_LEN 8u
#define SL_WIRE_FRAME_HDR 24u
#define SL_WIRE_HELLO_FIXED 8u
#define SL_WIRE_NAME_MAX 255u
#define SL_WIRE_GREETING_MAX 64u /* bytes, including the NUL */

#define SL_WIRE_MAX_FRAME_DEFAULT (1u << 20)
#define SL_WIRE_MAX_FRAME_MIN 64u
#define SL_WIRE_MAX_FRAME_LIMIT (16u << 20)

#define SL_WIRE_T_TEXT 0u /* type given to text-mode events */
#define SL_WIRE_T_RESERVED_MIN 0xF000u
#define SL_WIRE_T_HELLO 0xFF00u
/* Protocol 1.1 (docs/protocol.md section 13). Collector to producer: */
#define SL_WIRE_T_STATE 0xFF01u  /* configuration + enabled types */
/* Producer to collector, after the hello: */
#define SL_WIRE_T_COUNTS 0xFF02u /* u64 filtered (events not sent) */
#define SL_WIRE_COUNTS_LEN 8u
/* The hello's optional `want` field (u32 after the name). */
#define SL_WIRE_WANT_CONFIG 1u  /* a STATE frame after the hello */
#define SL_WIRE_WANT_UPDATES 2u /* a STATE frame at every change */
#define SL_WIRE_WANT_ALL 3u
/* Control connections (docs/protocol.md section 14) start with this
 * magic instead: "\x89SLC\r\n\x1a\n". */
#define SL_WIRE_CTL_MAGIC "\x89SLC\r\n\x1a\n"
/* The longest control response (docs/protocol.md section 14): the
 * collector answers an error instead of a longer one, and sluice-ctl
 * stops reading past it. 64 MiB holds a `producers --json` list of
 * well over 100,000 producers. */
#define SL_WIRE_CTL_RESPONSE_MAX (64u << 20)
/* Control connections served at once (section 14); they take no
 * --max-producers slot and no producer id. */
#define SL_WIRE_CTL_CONNS_MAX 16u

typedef enum sl_wire_mode {
    SL_WIRE_MODE_UNKNOWN = 0,
    SL_WIRE_MODE_BINARY = 1,
    SL_WIRE_MODE_TEXT = 2,
} sl_wire_mode;

/*
 * Why a connection ended. The numbers are stored in the capture's
 * disconnect records (docs/capture-format.md), so they never change.
 * X(name, value, message).
 */
#define SL_WIRE_REASON_MAP(X)                                                 \
    X(EOF, 0, "end of stream")                                                \
    X(RESET, 1, "connection reset by peer")                                   \
    X(FRAME_TOO_BIG, 2, "frame length above max-frame")                       \
    X(FRAME_TOO_SMALL, 3, "frame length below the 24-byte header")            \
    X(BAD_TYPE, 4, "reserved frame type")                                     \
    X(BAD_FLAGS, 5, "nonzero reserved flags")                                 \
    X(BAD_HELLO, 6, "malformed or missing hello frame")                       \
    X(TRUNCATED, 7, "stream ended inside a frame")                            \
    X(LINE_TOO_LONG, 8, "text line longer than max-frame")                    \
    X(READ_ERROR, 9, "read error")                                            \
    X(STOPPED, 10, "collector stopped")                                       \
    X(REFUSED, 11, "too many producers")                                      \
    X(IDLE, 12, "did not identify itself within --idle-timeout")

typedef enum sl_wire_reason {
#define SL_WIRE_REASON_ENUM_(name, value, msg) SL_WIRE_R_##name = (value),
    SL_WIRE_REASON_MAP(SL_WIRE_REASON_ENUM_)
#undef SL_WIRE_REASON_ENUM_
} sl_wire_reason;

/** Message for a reason code; "unknown reason" for others. Any thread. */
const char *sl_wire_reason_str(uint32_t reason);
/** Short name ("FRAME_TOO_BIG"); "UNKNOWN" for others. Any thread. */
const char *sl_wire_reason_name(uint32_t reason);

/*
 * One parsed event. payload points into the buffer given to
 * sl_wire_parse(); it is valid until the caller reuses that buffer.
 * The first event a connection yields is always a synthetic one with
 * type SL_WIRE_T_HELLO: in binary mode its payload is the hello frame's
 * payload, in text mode it is empty. The caller turns it into the
 * capture's connect record (sl_wire's pid/name/mode are set by then).
 */
typedef struct sl_wire_event {
    const uint8_t *payload;
    uint32_t len;
    uint16_t type;
    uint64_t seq; /* producer's (binary) or the line number from 0 (text) */
    uint64_t ts;  /* producer's timestamp (binary); 0 in text mode */
} sl_wire_event;

/* Per-connection parser state. Plain data: one thread at a time. */
typedef struct sl_wire {
    uint32_t max_frame;
    sl_wire_mode mode;
    int hello_done;       /* binary: hello parsed; text: synthetic hello out */
    int failed;           /* a violation was found; parse refuses more */
    uint32_t reason;      /* sl_wire_reason once failed */
    uint64_t text_seq;    /* next line number in text mode */
    size_t text_scanned;  /* bytes of the pending line already searched */
    uint32_t pid;         /* from hello (binary); 0 in text mode */
    uint16_t name_len;
    char name[SL_WIRE_NAME_MAX + 1]; /* NUL-terminated copy of hello name */
    uint32_t want; /* the hello's SL_WIRE_WANT_* bits (0 if absent) */
} sl_wire;

/**
 * Initialises a parser for one connection.
 * @param max_frame  Largest binary frame (header included) and largest text
 *                   line (its '\n' included), in bytes; clamped into
 *                   SL_WIRE_MAX_FRAME_MIN..SL_WIRE_MAX_FRAME_LIMIT.
 */
void sl_wire_init(sl_wire *w, uint32_t max_frame);

/**
 * Parses every complete event at the front of buf[0..len).
 * Complete events are stored in ev[0..*n_ev) (at most cap of them, payloads
 * pointing into buf). *consumed is how many bytes of buf those events (and
 * any magic/hello) used: the caller keeps buf[*consumed..len), presents it
 * again at the front of the next call with more bytes appended, and never
 * needs to keep more than sl_wire_need() bytes for the pending event.
 * Nothing is copied.
 * @return 0; or SL_EPROTO / SL_ETOOBIG when the stream breaks the protocol:
 *         w->reason says why and the connection must be closed. Events
 *         stored before the violation (*n_ev of them) are valid and must be
 *         kept; *consumed covers exactly them.
 */
int sl_wire_parse(sl_wire *w, const uint8_t *buf, size_t len,
                  sl_wire_event *ev, size_t cap, size_t *n_ev,
                  size_t *consumed);

/* Most events sl_wire_finish() yields for a remainder sl_wire_parse()
 * left: the synthetic hello, the line "\x89SLU" that a still undecided
 * magic prefix completes with its "\r\n", and the final line. */
#define SL_WIRE_FINISH_EV_MAX 3u

/**
 * Ends the stream: call once at end of stream with the bytes that
 * sl_wire_parse() left unconsumed after it last returned fewer events than
 * its cap. In text mode a non-empty remainder is one final event. While
 * the mode is still undecided the remainder is a prefix of the magic, and
 * at the end of the stream that is text: the synthetic hello comes first,
 * then the line the prefix may complete (the magic holds "\r\n" at offset
 * 4), then the final line. Events are stored in ev[0..*n_ev). An empty
 * stream yields no events at all.
 * @param cap  Room in @p ev; SL_WIRE_FINISH_EV_MAX always suffices.
 * @return 0; SL_ETRUNC in binary mode when the remainder is a partial frame
 *         or the stream ended before a whole hello (w->reason =
 *         SL_WIRE_R_TRUNCATED); SL_ETOOBIG for an over-long final line
 *         (events stored before it, such as the hello, are valid);
 *         SL_EINVAL (nothing stored, state unchanged) when the events
 *         would not fit in cap; the stored error if the parser had
 *         already failed.
 */
int sl_wire_finish(sl_wire *w, const uint8_t *buf, size_t len,
                   sl_wire_event *ev, size_t cap, size_t *n_ev);

/**
 * Bytes the caller must be able to hold, counted from the first unconsumed
 * byte, to complete the pending event: the binary frame's length once its
 * header has arrived, otherwise max_frame (a text line or a header). Never
 * more than max_frame.
 */
size_t sl_wire_need(const sl_wire *w, const uint8_t *buf, size_t len);

/**
 * Writes the greeting "SLUICE/1 max=<max_frame> id=<id>" and its NUL.
 * @param len  Receives the length including the NUL (<= 64).
 * @return 0, or SL_EINVAL if cap is too small.
 */
int sl_wire_greeting(char *buf, size_t cap, uint32_t max_frame, uint32_t id,
                     size_t *len);

/**
 * Writes the protocol 1.1 greeting
 * "SLUICE/1 max=<max_frame> id=<id> cfg=<0|1>" and its NUL.
 * @return as sl_wire_greeting().
 */
int sl_wire_greeting_cfg(char *buf, size_t cap, uint32_t max_frame,
                         uint32_t id, int cfg, size_t *len);

/**
 * The greeting's cfg field (protocol 1.1).
 * @return 1 or 0 (its value: 1 = the collector has a configuration or
 *         disabled types), -1 when absent (a version 1.0 collector, which
 *         knows no STATE or COUNTS frame).
 */
int sl_wire_greeting_cfg_field(const char *buf, size_t len);

/**
 * Parses a greeting (without or with its NUL). Unknown key=value fields are
 * ignored, so later versions may add some.
 * @return 0, SL_EPROTO when malformed, SL_EVERSION for another major
 *         version.
 */
int sl_wire_parse_greeting(const char *buf, size_t len, uint32_t *version,
                           uint32_t *max_frame, uint32_t *id);

/** Writes a 24-byte frame header. @p length includes the header. */
static inline void
sl_wire_frame_header(uint8_t *dst, uint32_t length, uint16_t type,
                     uint64_t seq, uint64_t ts)
{
    sl_store_le32(dst, length);
    sl_store_le16(dst + 4, type);
    sl_store_le16(dst + 6, 0);
    sl_store_le64(dst + 8, seq);
    sl_store_le64(dst + 16, ts);
}

/**
 * Writes magic + hello frame (the bytes a binary producer sends first).
 * @return 0, SL_EINVAL if cap is too small, SL_ENAMETOOLONG if name_len >
 *         255.
 */
int sl_wire_hello_encode(uint8_t *buf, size_t cap, uint32_t pid,
                         const char *name, size_t name_len, uint64_t ts,
                         size_t *len);

/**
 * Like sl_wire_hello_encode(), with the protocol 1.1 `want` field
 * (SL_WIRE_WANT_*) after the name. Send it only to a collector whose
 * greeting has a cfg field.
 */
int sl_wire_hello_encode_want(uint8_t *buf, size_t cap, uint32_t pid,
                              const char *name, size_t name_len, uint64_t ts,
                              uint32_t want, size_t *len);

#endif
