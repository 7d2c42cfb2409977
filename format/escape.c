/*
 * The escaper (escape.h). One pass, no allocation; runs of plain ASCII
 * are copied in one memcpy so a long printable payload costs about as
 * much as copying it.
 */
#include "escape.h"

#include <string.h>

static const char hex_digits[] = "0123456789abcdef";

size_t
sl_utf8_len(const uint8_t *p, size_t n)
{
    uint8_t b = p[0];

    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF)
        return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (b >= 0xE0 && b <= 0xEF) {
        uint8_t lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;

        return n >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80
                   ? 3
                   : 0;
    }
    if (b >= 0xF0 && b <= 0xF4) {
        uint8_t lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;

        return n >= 4 && p[1] >= lo && p[1] <= hi &&
                       (p[2] & 0xC0) == 0x80 && (p[3] & 0xC0) == 0x80
                   ? 4
                   : 0;
    }
    return 0;
}

int
sl_esc_invisible(const uint8_t *p, size_t len)
{
    uint32_t cp;

    if (len == 2)
        return p[0] == 0xD8 && p[1] == 0x9C; /* U+061C ARABIC LETTER MARK */
    if (len != 3)
        return 0;
    cp = ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) |
         (uint32_t)(p[2] & 0x3F);
    return (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) ||
           (cp >= 0x2060 && cp <= 0x206F) || cp == 0xFEFF;
}

int
sl_esc_printable(const uint8_t *p, size_t len)
{
    if (len == 1)
        return p[0] >= 0x20 && p[0] != 0x7F;
    if (len == 2 && p[0] == 0xC2 && p[1] < 0xA0)
        return 0; /* U+0080..U+009F */
    return len > 1 && !sl_esc_invisible(p, len);
}

/* An ASCII byte copied as it is under flags. */
static int
plain_ascii(uint8_t b, unsigned flags)
{
    return b > 0x20 ? b < 0x7F && b != '\\' &&
                          !((flags & SL_ESC_DQUOTE) && b == '"')
                    : b == 0x20 && !(flags & SL_ESC_SPACE);
}

int
sl_esc_plain(const uint8_t *p, size_t n, unsigned flags)
{
    size_t i = 0;

    while (i < n) {
        size_t l;

        if (p[i] < 0x80) {
            if (!plain_ascii(p[i], flags))
                return 0;
            i++;
            continue;
        }
        l = sl_utf8_len(p + i, n - i);
        if (l == 0 || !sl_esc_printable(p + i, l))
            return 0;
        i += l;
    }
    return 1;
}

size_t
sl_escape(char *out, size_t cap, const uint8_t *p, size_t n, unsigned flags,
          size_t *used)
{
    size_t i = 0, o = 0;

    while (i < n) {
        size_t j = i, l;

        /* A run of plain ASCII in one copy. */
        while (j < n && p[j] < 0x80 && plain_ascii(p[j], flags))
            j++;
        if (j > i) {
            size_t k = j - i < cap - o ? j - i : cap - o;

            memcpy(out + o, p + i, k);
            o += k;
            i += k;
            if (i < j || i == n)
                break;
        }
        l = sl_utf8_len(p + i, n - i);
        if (l > 1 && sl_esc_printable(p + i, l)) {
            if (cap - o < l)
                break;
            memcpy(out + o, p + i, l);
            o += l;
            i += l;
            continue;
        }
        if (l == 0)
            l = 1; /* a stray byte */
        if (cap - o < 4 * l)
            break;
        for (size_t k = 0; k < l; k++, i++) {
            uint8_t b = p[i];

            out[o++] = '\\';
            switch (b) {
            case '\\':
                out[o++] = '\\';
                break;
            case '"': /* only with SL_ESC_DQUOTE: doubled, not escaped */
                out[o - 1] = '"';
                out[o++] = '"';
                break;
            case '\n':
                out[o++] = 'n';
                break;
            case '\t':
                out[o++] = 't';
                break;
            case '\r':
                out[o++] = 'r';
                break;
            default:
                out[o++] = 'x';
                out[o++] = hex_digits[b >> 4];
                out[o++] = hex_digits[b & 15];
                break;
            }
        }
    }
    *used = i;
    return o;
}

const char *
sl_escape_str(char *out, size_t cap, const void *p, size_t n, unsigned flags)
{
    size_t used, len;

    if (cap < 4) {
        if (cap > 0)
            out[0] = '\0';
        return out;
    }
    len = sl_escape(out, cap - 1, p, n, flags, &used);
    if (used < n) {
        /* Room for "..." : back off whole characters/escapes. */
        len = sl_escape(out, cap - 4, p, n, flags, &used);
        memcpy(out + len, "...", 3);
        len += 3;
    }
    out[len] = '\0';
    return out;
}
