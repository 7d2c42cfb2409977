/*
 * State records (docs/capture-format.md, record 0xF020) in one line, for
 * the formats that show them as text.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump.h"

char *
dump_state_desc(const sl_state_view *v, size_t *len)
{
    size_t dis = sl_state_format_types(v->enabled, 0, NULL, 0);
    size_t cap = 96 + dis + v->pairs_len + 2u * v->npairs, n;
    size_t off = 0;
    const char *k, *val;
    size_t kl, vl;
    char *s = malloc(cap);

    if (s == NULL)
        return NULL;
    n = (size_t)snprintf(s, cap, "gen=%" PRIu64 " disabled=", v->gen);
    if (dis == 0) {
        s[n++] = '-';
    } else {
        sl_state_format_types(v->enabled, 0, s + n, cap - n);
        n += dis;
    }
    n += (size_t)snprintf(s + n, cap - n, " config=%u%s", (unsigned)v->npairs,
                          v->npairs > 0 ? ":" : "");
    while (sl_state_next_pair(v, &off, &k, &kl, &val, &vl)) {
        s[n++] = ' ';
        memcpy(s + n, k, kl);
        n += kl;
        s[n++] = '=';
        memcpy(s + n, val, vl);
        n += vl;
    }
    s[n] = '\0';
    *len = n;
    return s;
}

size_t
dump_trigger_desc(const sluice_trigger_info *t, char *buf, size_t cap)
{
    int n = snprintf(buf, cap,
                     "snapshot=%u cause=%s producer=%u seq=%llu type=%u "
                     "after_ns=%llu folded=%u",
                     (unsigned)t->snapshot,
                     sluice_trigger_cause_name(t->cause),
                     (unsigned)t->producer, (unsigned long long)t->seq,
                     (unsigned)t->event_type,
                     (unsigned long long)t->after_ns, (unsigned)t->folded);

    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : cap - 1;
}
