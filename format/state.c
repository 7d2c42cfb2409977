/*
 * The control plane's state payload (state.h): configuration pairs and the
 * enabled-type bitmap, their checks, encoding and decoding.
 */
#include "state.h"

#include <stdio.h>
#include <string.h>

#include "endian.h"
#include "err.h"

void
sl_state_init(sl_state *s)
{
    s->gen = 1;
    memset(s->enabled, 0xFF, sizeof(s->enabled));
    s->npairs = 0;
    s->pairs_len = 0;
}

int
sl_state_key_ok(const char *k, size_t len)
{
    if (len == 0 || len > SL_STATE_KEY_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = k[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

int
sl_state_value_ok(const char *v, size_t len)
{
    if (len > SL_STATE_VALUE_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (v[i] == '\0' || v[i] == '\r' || v[i] == '\n')
            return 0;
    return 1;
}

int
sl_state_set(sl_state *s, const char *k, size_t klen, const char *v,
             size_t vlen)
{
    size_t off = 0;

    if (!sl_state_key_ok(k, klen) || !sl_state_value_ok(v, vlen))
        return SL_EINVAL;
    while (off < s->pairs_len) {
        size_t kl = sl_load_le16(s->pairs + off);
        size_t vl = sl_load_le16(s->pairs + off + 2);
        size_t len = 4 + kl + vl;

        if (kl == klen && memcmp(s->pairs + off + 4, k, klen) == 0) {
            size_t rest = s->pairs_len - off - len;

            if (s->pairs_len - vl + vlen > SL_STATE_PAIRS_MAX)
                return SL_ETOOBIG;
            /* Replace in place: move what follows, then the new value. */
            memmove(s->pairs + off + 4 + kl + vlen, s->pairs + off + len,
                    rest);
            memcpy(s->pairs + off + 4 + kl, v, vlen);
            sl_store_le16(s->pairs + off + 2, (uint16_t)vlen);
            s->pairs_len = (uint32_t)(s->pairs_len - vl + vlen);
            return 0;
        }
        off += len;
    }
    if (s->pairs_len + 4 + klen + vlen > SL_STATE_PAIRS_MAX)
        return SL_ETOOBIG;
    sl_store_le16(s->pairs + off, (uint16_t)klen);
    sl_store_le16(s->pairs + off + 2, (uint16_t)vlen);
    memcpy(s->pairs + off + 4, k, klen);
    memcpy(s->pairs + off + 4 + klen, v, vlen);
    s->pairs_len = (uint32_t)(off + 4 + klen + vlen);
    s->npairs++;
    return 0;
}

int
sl_state_set_arg(sl_state *s, const char *arg, size_t len)
{
    const char *eq = memchr(arg, '=', len);

    if (eq == NULL)
        return SL_EINVAL;
    return sl_state_set(s, arg, (size_t)(eq - arg), eq + 1,
                        len - (size_t)(eq - arg) - 1);
}

int
sl_state_type_number(const char **s, uint32_t *out)
{
    const char *p = *s;
    uint32_t v = 0;
    int base = 10, any = 0;

    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    }
    for (;; p++) {
        int dv;

        if (*p >= '0' && *p <= '9')
            dv = *p - '0';
        else if (base == 16 && *p >= 'a' && *p <= 'f')
            dv = *p - 'a' + 10;
        else if (base == 16 && *p >= 'A' && *p <= 'F')
            dv = *p - 'A' + 10;
        else
            break;
        v = v * (uint32_t)base + (uint32_t)dv;
        if (v > 0xFFFF)
            return -1;
        any = 1;
    }
    if (!any)
        return -1;
    *s = p;
    *out = v;
    return 0;
}

int
sl_state_types(uint8_t map[SL_STATE_MAP_BYTES], const char *list, int value)
{
    const char *s = list;

    /* Check the whole list first, so a bad one changes nothing. */
    for (int pass = 0; pass < 2; pass++) {
        s = list;
        for (;;) {
            uint32_t lo, hi;

            if (sl_state_type_number(&s, &lo) != 0)
                return SL_EINVAL;
            hi = lo;
            if (*s == '-') {
                s++;
                if (sl_state_type_number(&s, &hi) != 0 || hi < lo)
                    return SL_EINVAL;
            }
            if (hi >= SL_STATE_TYPES)
                return SL_EINVAL;
            if (pass == 1)
                for (uint32_t t = lo; t <= hi; t++) {
                    if (value)
                        map[t >> 3] |= (uint8_t)(1u << (t & 7));
                    else
                        map[t >> 3] &= (uint8_t)~(1u << (t & 7));
                }
            if (*s == '\0')
                break;
            if (*s != ',')
                return SL_EINVAL;
            s++;
        }
    }
    return 0;
}

size_t
sl_state_format_types(const uint8_t *map, int value, char *buf, size_t cap)
{
    size_t n = 0;
    uint32_t t = 0;

    if (cap > 0)
        buf[0] = '\0';
    while (t < SL_STATE_TYPES) {
        uint32_t lo;
        char tmp[32];
        int k;

        if (sl_state_enabled(map, t) != (value != 0)) {
            t++;
            continue;
        }
        lo = t;
        while (t + 1 < SL_STATE_TYPES &&
               sl_state_enabled(map, t + 1) == (value != 0))
            t++;
        if (lo == t)
            k = snprintf(tmp, sizeof(tmp), "%s%u", n ? "," : "", lo);
        else
            k = snprintf(tmp, sizeof(tmp), "%s%u-%u", n ? "," : "", lo, t);
        if (k > 0) {
            if (n + (size_t)k < cap)
                memcpy(buf + n, tmp, (size_t)k + 1);
            else if (cap > 0)
                buf[n < cap ? n : cap - 1] = '\0';
            n += (size_t)k;
        }
        t++;
    }
    return n;
}

void
sl_state_encode(const sl_state *s, uint8_t *out)
{
    sl_store_le64(out, s->gen);
    sl_store_le32(out + 8, s->npairs);
    sl_store_le32(out + 12, s->pairs_len);
    memcpy(out + 16, s->enabled, SL_STATE_MAP_BYTES);
    memcpy(out + SL_STATE_FIXED, s->pairs, s->pairs_len);
}

int
sl_state_decode(const uint8_t *p, size_t len, sl_state_view *out)
{
    sl_state_view v;
    size_t off = 0;
    uint32_t n = 0;

    if (len < SL_STATE_FIXED)
        return SL_EPROTO;
    v.gen = sl_load_le64(p);
    v.npairs = sl_load_le32(p + 8);
    v.pairs_len = sl_load_le32(p + 12);
    v.enabled = p + 16;
    v.pairs = p + SL_STATE_FIXED;
    if (v.pairs_len > SL_STATE_PAIRS_MAX || v.pairs_len > len - SL_STATE_FIXED)
        return SL_EPROTO;
    while (off < v.pairs_len) {
        size_t kl, vl;

        if (v.pairs_len - off < 4)
            return SL_EPROTO;
        kl = sl_load_le16(v.pairs + off);
        vl = sl_load_le16(v.pairs + off + 2);
        if (v.pairs_len - off - 4 < kl + vl ||
            !sl_state_key_ok((const char *)v.pairs + off + 4, kl) ||
            !sl_state_value_ok((const char *)v.pairs + off + 4 + kl, vl))
            return SL_EPROTO;
        off += 4 + kl + vl;
        n++;
    }
    if (n != v.npairs)
        return SL_EPROTO;
    *out = v;
    return 0;
}

int
sl_state_next_pair(const sl_state_view *v, size_t *off, const char **k,
                   size_t *klen, const char **val, size_t *vlen)
{
    size_t o = *off, kl, vl;

    if (o + 4 > v->pairs_len)
        return 0;
    kl = sl_load_le16(v->pairs + o);
    vl = sl_load_le16(v->pairs + o + 2);
    *k = (const char *)v->pairs + o + 4;
    *klen = kl;
    *val = (const char *)v->pairs + o + 4 + kl;
    *vlen = vl;
    *off = o + 4 + kl + vl;
    return 1;
}
