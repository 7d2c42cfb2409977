/*
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as used by iSCSI,
 * ext4 and the capture file's block checksums. The hardware path (SSE4.2
 * crc32 instruction on x86-64, ARMv8 CRC on aarch64) is chosen at run time;
 * the table-driven path is the portable fallback. Both are tested against
 * the same vectors.
 */
#ifndef SL_CRC32C_H
#define SL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/**
 * Extends crc with n bytes. Start with crc = 0; chaining
 * sl_crc32c(sl_crc32c(0, a, na), b, nb) equals the CRC of a followed by b.
 * (The pre- and post-inversion are done inside.) Any thread.
 */
uint32_t sl_crc32c(uint32_t crc, const void *p, size_t n);

/** The portable table-driven implementation (same contract). */
uint32_t sl_crc32c_sw(uint32_t crc, const void *p, size_t n);

/** The hardware implementation, or NULL if this CPU lacks it. */
typedef uint32_t (*sl_crc32c_fn)(uint32_t crc, const void *p, size_t n);
sl_crc32c_fn sl_crc32c_hw(void);

/** "sse4.2", "armv8-crc" or "table": what sl_crc32c() uses here. */
const char *sl_crc32c_impl(void);

#endif
