/*
 * Little-endian load/store helpers. Every integer that crosses a process,
 * a file or the wire goes through these, so padding and host byte order
 * never reach a byte stream (SQLite's sqlite3Get4byte() idea). Compilers
 * turn each into a single move on little-endian hosts.
 */
#ifndef SL_ENDIAN_H
#define SL_ENDIAN_H

#include <stdint.h>

static inline uint16_t
sl_load_le16(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)(b[0] | (uint16_t)b[1] << 8);
}

static inline uint32_t
sl_load_le32(const void *p)
{
    const uint8_t *b = p;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
           (uint32_t)b[3] << 24;
}

static inline uint64_t
sl_load_le64(const void *p)
{
    const uint8_t *b = p;
    return (uint64_t)sl_load_le32(b) | (uint64_t)sl_load_le32(b + 4) << 32;
}

static inline void
sl_store_le16(void *p, uint16_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
}

static inline void
sl_store_le32(void *p, uint32_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}

static inline void
sl_store_le64(void *p, uint64_t v)
{
    uint8_t *b = p;
    sl_store_le32(b, (uint32_t)v);
    sl_store_le32(b + 4, (uint32_t)(v >> 32));
}

#endif
