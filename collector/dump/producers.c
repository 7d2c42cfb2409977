/*
 * sluice-dump's producer table: an open-addressing hash map from producer
 * id to what the dump has learnt about that producer (its name from the
 * connect record, its sequence numbers, its counts). Records arrive in
 * runs from one producer, so a one-entry cache answers most lookups.
 */
#include <stdlib.h>
#include <string.h>

#include "dump.h"

static size_t
hash_id(uint32_t id)
{
    return (size_t)(id * 2654435761u);
}

dump_producer *
dump_producer_get(dump_producers *t, uint32_t id)
{
    size_t i;

    if (t->last != NULL && t->last->id == id)
        return t->last;
    if (t->count * 2 >= t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 64, k;
        dump_producer *ns = calloc(ncap, sizeof(*ns));

        if (ns == NULL)
            return NULL;
        for (k = 0; k < t->cap; k++) {
            if (!t->slot[k].used)
                continue;
            i = hash_id(t->slot[k].id) & (ncap - 1);
            while (ns[i].used)
                i = (i + 1) & (ncap - 1);
            ns[i] = t->slot[k];
        }
        free(t->slot);
        t->slot = ns;
        t->cap = ncap;
    }
    i = hash_id(id) & (t->cap - 1);
    while (t->slot[i].used && t->slot[i].id != id)
        i = (i + 1) & (t->cap - 1);
    if (!t->slot[i].used) {
        t->slot[i].used = 1;
        t->slot[i].id = id;
        t->count++;
    }
    t->last = &t->slot[i];
    return t->last;
}

dump_producer *
dump_producer_find(const dump_producers *t, uint32_t id)
{
    size_t i;

    if (t->cap == 0)
        return NULL;
    i = hash_id(id) & (t->cap - 1);
    while (t->slot[i].used) {
        if (t->slot[i].id == id)
            return &t->slot[i];
        i = (i + 1) & (t->cap - 1);
    }
    return NULL;
}

int
dump_producer_set_name(dump_producer *p, const char *name, uint16_t len)
{
    char *copy = malloc((size_t)len + 1);

    if (copy == NULL)
        return SLUICE_ENOMEM;
    if (len > 0)
        memcpy(copy, name, len);
    copy[len] = '\0';
    free(p->name);
    p->name = copy;
    p->name_len = len;
    p->named = 1;
    return 0;
}

void
dump_producers_free(dump_producers *t)
{
    size_t k;

    for (k = 0; k < t->cap; k++)
        free(t->slot[k].name);
    free(t->slot);
    memset(t, 0, sizeof(*t));
}

const char *
dump_mode_name(uint8_t mode)
{
    return mode == 1 ? "binary" : mode == 2 ? "text" : "unknown";
}
