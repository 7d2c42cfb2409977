/*
 * The control plane's state (docs/protocol.md section 13): the
 * configuration (KEY=VALUE pairs) and the set of enabled event types that
 * the collector sends to its producers in STATE frames (type 0xFF01) and
 * records in the capture's state records (0xF020, docs/capture-format.md).
 * Both carry the same payload:
 *
 *   Offset Size   Field      Meaning
 *   0      8      gen        state generation: 1 at start, +1 per change
 *   8      4      npairs     number of configuration pairs
 *   12     4      pairs_len  bytes of the pairs area
 *   16     7680   enabled    bit t (byte t / 8, bit t % 8) = type t enabled,
 *                            for t in 0..0xEFFF
 *   7696   ...    pairs      npairs x { u16 key_len, u16 value_len, key,
 *                            value }
 *
 * Pure code, no allocation: callers own the memory.
 */
#ifndef SL_STATE_H
#define SL_STATE_H

#include <stddef.h>
#include <stdint.h>

#define SL_STATE_TYPES 0xF000u                    /* 0..0xEFFF */
#define SL_STATE_MAP_BYTES (SL_STATE_TYPES / 8u)  /* 7680 */
#define SL_STATE_FIXED (16u + SL_STATE_MAP_BYTES) /* 7696 */
#define SL_STATE_KEY_MAX 128u    /* bytes of a key */
#define SL_STATE_VALUE_MAX 4096u /* bytes of a value */
#define SL_STATE_PAIRS_MAX 65536u /* bytes of the pairs area (4 + key +
                                     value per pair) */
#define SL_STATE_PAYLOAD_MAX (SL_STATE_FIXED + SL_STATE_PAIRS_MAX)

/* The collector's copy of the state (about 73 KiB). */
typedef struct sl_state {
    uint64_t gen;
    uint8_t enabled[SL_STATE_MAP_BYTES];
    uint32_t npairs;
    uint32_t pairs_len;
    uint8_t pairs[SL_STATE_PAIRS_MAX];
} sl_state;

/** Every type enabled, no configuration, gen 1. */
void sl_state_init(sl_state *s);

/** 1 if @p k is a valid key: 1..128 bytes of A-Z a-z 0-9 _ . - */
int sl_state_key_ok(const char *k, size_t len);
/** 1 if @p v is a valid value: 0..4096 bytes, none of them NUL, CR, LF. */
int sl_state_value_ok(const char *v, size_t len);

/**
 * Sets KEY to VALUE (adds the key, or replaces its value in place).
 * @return 0; SL_EINVAL (bad key or value); SL_ETOOBIG (the pairs area
 *         would pass SL_STATE_PAIRS_MAX).
 */
int sl_state_set(sl_state *s, const char *k, size_t klen, const char *v,
                 size_t vlen);

/**
 * Parses "KEY=VALUE" (split at the first '=') and sets it.
 * @return as sl_state_set(); SL_EINVAL also without '='.
 */
int sl_state_set_arg(sl_state *s, const char *arg, size_t len);

/** Parses a type number at *s (decimal or 0x hex, at most 0xFFFF) and
 *  advances *s past it; shared by --enable/--disable and sluice-dump
 *  --type. @return 0, or -1 with *s unchanged. */
int sl_state_type_number(const char **s, uint32_t *out);

/**
 * Parses a type list as sluice-dump --type takes it (numbers, decimal or
 * 0x hex, and ranges A-B, comma-separated) and sets each listed type's
 * bit in @p map to @p value. Types above 0xEFFF are refused.
 * @return 0, or SL_EINVAL (then @p map is unchanged).
 */
int sl_state_types(uint8_t map[SL_STATE_MAP_BYTES], const char *list,
                   int value);

/** 1 if type t is enabled in map. */
static inline int
sl_state_enabled(const uint8_t *map, uint32_t t)
{
    return t < SL_STATE_TYPES && (map[t >> 3] >> (t & 7) & 1u) != 0;
}

/**
 * Writes the types whose bit equals @p value as a list of ranges
 * ("0-4,6-61439"; "" when none), NUL-terminated, truncated to cap.
 * @return the length it needed (without the NUL).
 */
size_t sl_state_format_types(const uint8_t *map, int value, char *buf,
                             size_t cap);

/** Bytes of the encoded payload. */
static inline size_t
sl_state_size(const sl_state *s)
{
    return SL_STATE_FIXED + s->pairs_len;
}

/** Encodes the payload into out (sl_state_size() bytes). */
void sl_state_encode(const sl_state *s, uint8_t *out);

/* A decoded payload: pointers into the buffer given to sl_state_decode(). */
typedef struct sl_state_view {
    uint64_t gen;
    const uint8_t *enabled; /* SL_STATE_MAP_BYTES */
    uint32_t npairs;
    const uint8_t *pairs;
    uint32_t pairs_len;
} sl_state_view;

/**
 * Checks and decodes a payload: every pair within the area, keys and
 * values valid, exactly npairs of them. Bytes after the pairs area are
 * ignored (later versions may append fields).
 * @return 0, or SL_EPROTO.
 */
int sl_state_decode(const uint8_t *p, size_t len, sl_state_view *out);

/**
 * The pair at *off of a decoded payload's pairs area (start with *off = 0).
 * @return 1 with the pair and *off advanced; 0 at the end.
 */
int sl_state_next_pair(const sl_state_view *v, size_t *off, const char **k,
                       size_t *klen, const char **val, size_t *vlen);

#endif
