/*
 * Little-endian load/store helpers. Every integer that crosses a process,
 * a file or the wire goes through these, so padding and host byte order
 * never reach a byte stream (SQLite's sqlite3Get4byte() idea). On
 * little-endian hosts each is a memcpy() of the native value, which
 * compilers turn into a single move; the byte-by-byte form, kept for
 * other hosts, was not reliably merged (GCC 12 at -O2 left a store per
 * byte on the collector's hot path).
 */
#ifndef SL_ENDIAN_H
#define SL_ENDIAN_H

#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) &&           \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SL_LE_NATIVE 1
#else
#define SL_LE_NATIVE 0
#endif

static inline uint16_t
sl_load_le16(const void *p)
{
#if SL_LE_NATIVE
    uint16_t v;

    memcpy(&v, p, sizeof(v));
    return v;
#else
    const uint8_t *b = p;
    return (uint16_t)(b[0] | (uint16_t)b[1] << 8);
#endif
}

static inline uint32_t
sl_load_le32(const void *p)
{
#if SL_LE_NATIVE
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return v;
#else
    const uint8_t *b = p;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
           (uint32_t)b[3] << 24;
#endif
}

static inline uint64_t
sl_load_le64(const void *p)
{
#if SL_LE_NATIVE
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return v;
#else
    const uint8_t *b = p;
    return (uint64_t)sl_load_le32(b) | (uint64_t)sl_load_le32(b + 4) << 32;
#endif
}

static inline void
sl_store_le16(void *p, uint16_t v)
{
#if SL_LE_NATIVE
    memcpy(p, &v, sizeof(v));
#else
    uint8_t *b = p;
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
#endif
}

static inline void
sl_store_le32(void *p, uint32_t v)
{
#if SL_LE_NATIVE
    memcpy(p, &v, sizeof(v));
#else
    uint8_t *b = p;
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
#endif
}

static inline void
sl_store_le64(void *p, uint64_t v)
{
#if SL_LE_NATIVE
    memcpy(p, &v, sizeof(v));
#else
    uint8_t *b = p;
    sl_store_le32(b, (uint32_t)v);
    sl_store_le32(b + 4, (uint32_t)(v >> 32));
#endif
}

#endif
