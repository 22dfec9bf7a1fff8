/* sw_strset: open addressing with linear probing, at most half full, keyed
 * by a 64-bit multiply-mix hash of the string under a per-process random
 * key (see sw_strset.h). */
#include "base/sw_strset.h"

#include <assert.h>
#include <pthread.h>
#include <string.h>

#include "base/sw_mem.h"
#include "base/sw_util.h"

static uint64_t sw_strset_key;
static pthread_once_t sw_strset_once = PTHREAD_ONCE_INIT;

static void sw_strset_key_init(void)
{
    /* Without the kernel's randomness the set still works, with a fixed
     * key: only the resistance to chosen collisions is lost. */
    if (sw_random(&sw_strset_key, sizeof(sw_strset_key)) != SW_OK)
        sw_strset_key = 0x9e3779b97f4a7c15ULL;
}

static uint64_t sw_strset_hash(const char *str)
{
    size_t n = strlen(str), i;
    uint64_t h = sw_strset_key ^ (n * 0x9e3779b97f4a7c15ULL), w;

    for (i = 0; i + 8 <= n; i += 8) {
        memcpy(&w, str + i, 8);
        h = sw_fmix64(h ^ w);
    }
    w = 0;
    memcpy(&w, str + i, n - i);
    return sw_fmix64(h ^ w ^ ((uint64_t)(n - i) << 56));
}

/* sw_strset_slot returns the slot of str, or of the empty slot where it
 * would go; the table must have an empty slot. */
static size_t sw_strset_slot(const char **slots, size_t cap, const char *str)
{
    size_t i = (size_t)sw_strset_hash(str) & (cap - 1);

    while (slots[i] != NULL && strcmp(slots[i], str) != 0)
        i = (i + 1) & (cap - 1);
    return i;
}

sw_err sw_strset_reserve(struct sw_strset *s, size_t n)
{
    const char **slots;
    size_t cap = 16, i;

    pthread_once(&sw_strset_once, sw_strset_key_init);
    if (n > SIZE_MAX / 4 / sizeof(char *))
        return SW_ETOOBIG;
    while (cap < 2 * n)
        cap *= 2;
    if (cap <= s->cap)
        return SW_OK;
    slots = sw_calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return SW_ENOMEM;
    for (i = 0; i < s->cap; i++)
        if (s->slots[i] != NULL)
            slots[sw_strset_slot(slots, cap, s->slots[i])] = s->slots[i];
    sw_free(s->slots);
    s->slots = slots;
    s->cap = cap;
    return SW_OK;
}

int sw_strset_has(const struct sw_strset *s, const char *str)
{
    if (s->cap == 0 || str == NULL)
        return 0;
    return s->slots[sw_strset_slot(s->slots, s->cap, str)] != NULL;
}

sw_err sw_strset_add(struct sw_strset *s, const char *str, int *added)
{
    size_t i;
    sw_err rc;

    if (added)
        *added = 0;
    if (str == NULL)
        return SW_EINVAL;
    if (2 * (s->n + 1) > s->cap) {
        rc = sw_strset_reserve(s, s->n + 1 > 8 ? 2 * (s->n + 1) : 8);
        if (rc)
            return rc;
    }
    i = sw_strset_slot(s->slots, s->cap, str);
    if (s->slots[i] != NULL)
        return SW_OK;
    s->slots[i] = str;
    s->n++;
    assert(2 * s->n <= s->cap);
    if (added)
        *added = 1;
    return SW_OK;
}

void sw_strset_free(struct sw_strset *s)
{
    sw_free(s->slots);
    memset(s, 0, sizeof(*s));
}
