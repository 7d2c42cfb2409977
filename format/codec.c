/*
 * Block codecs (codec.h) over liblz4 and libzstd.
 */
#include "codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capfile.h"
#include "err.h"

#ifdef SL_HAVE_LZ4
#include <lz4.h>
#endif
#ifdef SL_HAVE_ZSTD
#include <zstd.h>
#endif

/* zstd levels accepted by --compress zstd:LEVEL. Above 19 ("ultra")
 * levels need much more memory per context for little gain on events. */
#define ZSTD_LEVEL_MAX 19
#define ZSTD_LEVEL_DEFAULT 1

struct sl_codec {
    unsigned codec;
    int level;
#ifdef SL_HAVE_ZSTD
    ZSTD_CCtx *zc;
#endif
};

int
sl_codec_available(unsigned codec)
{
    switch (codec) {
    case SL_CAP2_CODEC_NONE:
        return 1;
#ifdef SL_HAVE_LZ4
    case SL_CAP2_CODEC_LZ4:
        return 1;
#endif
#ifdef SL_HAVE_ZSTD
    case SL_CAP2_CODEC_ZSTD:
        return 1;
#endif
    default:
        return 0;
    }
}

const char *
sl_codec_name(unsigned codec)
{
    switch (codec) {
    case SL_CAP2_CODEC_NONE:
        return "none";
    case SL_CAP2_CODEC_LZ4:
        return "lz4";
    case SL_CAP2_CODEC_ZSTD:
        return "zstd";
    default:
        return "?";
    }
}

int
sl_codec_parse(const char *s, unsigned *codec, int *level, char *why,
               size_t cap)
{
    int lv = 0;

    if (s == NULL)
        s = "";
    if (strcmp(s, "none") == 0) {
        *codec = SL_CAP2_CODEC_NONE;
    } else if (strcmp(s, "lz4") == 0) {
        *codec = SL_CAP2_CODEC_LZ4;
    } else if (strncmp(s, "zstd", 4) == 0 && (s[4] == '\0' || s[4] == ':')) {
        *codec = SL_CAP2_CODEC_ZSTD;
        if (s[4] == ':') {
            const char *p = s + 5;

            if (*p == '\0')
                goto bad_level;
            for (; *p; p++) {
                if (*p < '0' || *p > '9' || lv > ZSTD_LEVEL_MAX)
                    goto bad_level;
                lv = lv * 10 + (*p - '0');
            }
            if (lv < 1 || lv > ZSTD_LEVEL_MAX)
                goto bad_level;
        }
    } else {
        snprintf(why, cap, "--compress: '%s' is not none, lz4, zstd or "
                 "zstd:LEVEL", s);
        return SL_EINVAL;
    }
    if (!sl_codec_available(*codec)) {
        snprintf(why, cap, "--compress %s: this build has no %s (it was "
                 "built without lib%s)", s, sl_codec_name(*codec),
                 sl_codec_name(*codec));
        return SL_ENOSYS;
    }
    *level = lv;
    return 0;

bad_level:
    snprintf(why, cap, "--compress: '%s': the zstd level is a number in "
             "1..%d", s, ZSTD_LEVEL_MAX);
    return SL_EINVAL;
}

int
sl_codec_open(unsigned codec, int level, sl_codec **out)
{
    sl_codec *c;

    if (!sl_codec_available(codec))
        return codec <= SL_CAP2_CODEC_ZSTD ? SL_ENOSYS : SL_EINVAL;
    if (level < 0 || level > ZSTD_LEVEL_MAX)
        return SL_EINVAL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return SL_ENOMEM;
    c->codec = codec;
    c->level = level;
#ifdef SL_HAVE_ZSTD
    if (codec == SL_CAP2_CODEC_ZSTD) {
        c->zc = ZSTD_createCCtx();
        if (c->zc == NULL ||
            ZSTD_isError(ZSTD_CCtx_setParameter(
                c->zc, ZSTD_c_compressionLevel,
                level != 0 ? level : ZSTD_LEVEL_DEFAULT)) ||
            /* The block header has the raw length; the frame need not
             * repeat it or carry its own checksum (body_crc covers it). */
            ZSTD_isError(ZSTD_CCtx_setParameter(c->zc, ZSTD_c_checksumFlag,
                                                0))) {
            sl_codec_close(c);
            return SL_ENOMEM;
        }
    }
#endif
    *out = c;
    return 0;
}

size_t
sl_codec_bound(const sl_codec *c, size_t n)
{
    switch (c->codec) {
#ifdef SL_HAVE_LZ4
    case SL_CAP2_CODEC_LZ4:
        return (size_t)LZ4_compressBound((int)n);
#endif
#ifdef SL_HAVE_ZSTD
    case SL_CAP2_CODEC_ZSTD:
        return ZSTD_compressBound(n);
#endif
    default:
        return n;
    }
}

int
sl_codec_encode(sl_codec *c, const void *src, size_t n, void *dst, size_t cap,
                size_t *out_len)
{
    switch (c->codec) {
#ifdef SL_HAVE_LZ4
    case SL_CAP2_CODEC_LZ4: {
        int r = LZ4_compress_default(src, dst, (int)n,
                                     cap > INT32_MAX ? INT32_MAX : (int)cap);
        if (r <= 0)
            return SL_EIO;
        *out_len = (size_t)r;
        return 0;
    }
#endif
#ifdef SL_HAVE_ZSTD
    case SL_CAP2_CODEC_ZSTD: {
        size_t r = ZSTD_compress2(c->zc, dst, cap, src, n);
        if (ZSTD_isError(r))
            return SL_EIO;
        *out_len = r;
        return 0;
    }
#endif
    default:
        if (cap < n)
            return SL_EINVAL;
        memcpy(dst, src, n);
        *out_len = n;
        return 0;
    }
}

void
sl_codec_close(sl_codec *c)
{
    if (c == NULL)
        return;
#ifdef SL_HAVE_ZSTD
    ZSTD_freeCCtx(c->zc);
#endif
    free(c);
}

int
sl_codec_decode(unsigned codec, const void *src, size_t n, void *dst,
                size_t raw_len)
{
    (void)src;
    (void)n;
    (void)dst;
    (void)raw_len;
    switch (codec) {
    case SL_CAP2_CODEC_NONE:
        if (n != raw_len)
            return SL_ECORRUPT;
        memcpy(dst, src, n);
        return 0;
#ifdef SL_HAVE_LZ4
    case SL_CAP2_CODEC_LZ4: {
        /* _safe: never reads past src + n nor writes past dst + raw_len,
         * whatever the stored bytes say. */
        int r = LZ4_decompress_safe(src, dst, (int)n, (int)raw_len);
        return r >= 0 && (size_t)r == raw_len ? 0 : SL_ECORRUPT;
    }
#endif
#ifdef SL_HAVE_ZSTD
    case SL_CAP2_CODEC_ZSTD: {
        /* Bounded by dst's raw_len bytes; a frame that would give more,
         * or less, is corrupt. */
        size_t r = ZSTD_decompress(dst, raw_len, src, n);
        return !ZSTD_isError(r) && r == raw_len ? 0 : SL_ECORRUPT;
    }
#endif
    default:
        return codec <= SL_CAP2_CODEC_ZSTD ? SL_ENOSYS : SL_ECORRUPT;
    }
}
