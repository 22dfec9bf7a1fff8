/* rank_map: the small 64-bit hash map and hash function of rank_int.h,
 * used for label lookups (ann_flat.c) and document frequencies (embed.c). */
#include <string.h>

#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ranker/rank_int.h"

uint64_t rank__hash64(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    h = sw_fmix64(h);
    return h ? h : 1;
}

int rank__map_get(const struct rank__map *m, uint64_t key, uint64_t *val)
{
    size_t i;

    if (key == 0) {
        if (m->has_zero)
            *val = m->zero_val;
        return m->has_zero;
    }
    if (m->cap == 0)
        return 0;
    i = sw_fmix64(key) & (m->cap - 1);
    while (m->keys[i] != 0) {
        if (m->keys[i] == key) {
            *val = m->vals[i];
            return 1;
        }
        i = (i + 1) & (m->cap - 1);
    }
    return 0;
}

/* rank_map_slot inserts without growing; the map must have room. */
static void rank_map_slot(uint64_t *keys, uint64_t *vals, size_t cap,
                          uint64_t key, uint64_t val, size_t *n)
{
    size_t i = sw_fmix64(key) & (cap - 1);

    while (keys[i] != 0 && keys[i] != key)
        i = (i + 1) & (cap - 1);
    if (keys[i] == 0)
        (*n)++;
    keys[i] = key;
    vals[i] = val;
}

sw_err rank__map_put(struct rank__map *m, uint64_t key, uint64_t val)
{
    if (key == 0) {
        m->has_zero = 1;
        m->zero_val = val;
        return SW_OK;
    }
    if ((m->n + 1) * 4 > m->cap * 3) {
        size_t ncap = m->cap ? m->cap * 2 : 64, i, nn = 0;
        uint64_t *nk = sw_calloc(ncap, sizeof(*nk));
        uint64_t *nv = sw_calloc(ncap, sizeof(*nv));

        if (nk == NULL || nv == NULL) {
            sw_free(nk);
            sw_free(nv);
            return SW_ENOMEM;
        }
        for (i = 0; i < m->cap; i++)
            if (m->keys[i] != 0)
                rank_map_slot(nk, nv, ncap, m->keys[i], m->vals[i], &nn);
        sw_free(m->keys);
        sw_free(m->vals);
        m->keys = nk;
        m->vals = nv;
        m->cap = ncap;
        m->n = nn;
    }
    rank_map_slot(m->keys, m->vals, m->cap, key, val, &m->n);
    return SW_OK;
}

void rank__map_free(struct rank__map *m)
{
    sw_free(m->keys);
    sw_free(m->vals);
    memset(m, 0, sizeof(*m));
}

sw_err rank__map_copy(struct rank__map *dst, const struct rank__map *src,
                      size_t extra)
{
    size_t cap = src->cap, i;

    rank__map_free(dst);
    dst->has_zero = src->has_zero;
    dst->zero_val = src->zero_val;
    if (src->n == 0 && extra == 0)
        return SW_OK;
    /* As rank__map_put grows it: at most three quarters full. */
    while ((src->n + extra) * 4 > cap * 3)
        cap = cap ? cap * 2 : 64;
    dst->keys = sw_calloc(cap, sizeof(*dst->keys));
    dst->vals = sw_malloc(cap * sizeof(*dst->vals));
    if (dst->keys == NULL || dst->vals == NULL) {
        rank__map_free(dst);
        return SW_ENOMEM;
    }
    dst->cap = cap;
    if (cap == src->cap) { /* the same slots */
        memcpy(dst->keys, src->keys, cap * sizeof(*dst->keys));
        memcpy(dst->vals, src->vals, cap * sizeof(*dst->vals));
        dst->n = src->n;
        return SW_OK;
    }
    for (i = 0; i < src->cap; i++)
        if (src->keys[i] != 0)
            rank_map_slot(dst->keys, dst->vals, cap, src->keys[i], src->vals[i],
                          &dst->n);
    return SW_OK;
}
