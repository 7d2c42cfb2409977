/*
 * Block codecs of capture format v2 (docs/capture-format.md section 15.2):
 * 0 none, 1 lz4 (liblz4's block format), 2 zstd (one zstd frame). The
 * codecs are the libraries' own (liblz4, libzstd); a build without one
 * (SL_HAVE_LZ4 / SL_HAVE_ZSTD unset, e.g. the mingw-w64 build) says so
 * with SL_ENOSYS instead of guessing.
 */
#ifndef SL_CODEC_H
#define SL_CODEC_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl_codec sl_codec;

/** 1 when this build can encode and decode codec (SL_CAP2_CODEC_*). */
int sl_codec_available(unsigned codec);

/** "none", "lz4", "zstd" or "?" (for messages). */
const char *sl_codec_name(unsigned codec);

/**
 * Parses a --compress value: none | lz4 | zstd | zstd:LEVEL (LEVEL 1..19).
 * @param why  Receives a one-line reason on failure, NUL-terminated.
 * @return 0 with *codec and *level set (level 0 = the codec's default), or
 *         SL_EINVAL (bad text) / SL_ENOSYS (a codec this build lacks).
 */
int sl_codec_parse(const char *s, unsigned *codec, int *level, char *why,
                   size_t cap);

/**
 * An encoder (its working memory is kept between blocks).
 * @return 0, SL_ENOSYS (codec not built in), SL_EINVAL, SL_ENOMEM.
 */
int sl_codec_open(unsigned codec, int level, sl_codec **out);

/** The largest encoded size of n input bytes (n <= SL_CAP2_RAW_MAX). */
size_t sl_codec_bound(const sl_codec *c, size_t n);

/**
 * Encodes n bytes of src into dst (cap >= sl_codec_bound(n)).
 * @return 0 with *out_len set, or SL_EIO (the library failed).
 */
int sl_codec_encode(sl_codec *c, const void *src, size_t n, void *dst,
                    size_t cap, size_t *out_len);

/** Frees. NULL is a no-op. */
void sl_codec_close(sl_codec *c);

/**
 * Decodes a stored area of n bytes that must give exactly raw_len bytes
 * into dst (raw_len bytes of room).
 * @return 0, SL_ECORRUPT (does not decode to exactly raw_len bytes),
 *         SL_ENOSYS (codec not built in).
 */
int sl_codec_decode(unsigned codec, const void *src, size_t n, void *dst,
                    size_t raw_len);

#endif
