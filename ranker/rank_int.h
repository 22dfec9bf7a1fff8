/* rank_int.h: helpers shared by the files of the ranker module: a map from
 * 64-bit keys to 64-bit values (labels, term hashes). Included only inside
 * ranker/. Not thread-safe. */
#ifndef RANK_INT_H
#define RANK_INT_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_err.h"

/* An open-addressing hash map; key 0 is reserved (stored on the side). */
struct rank__map {
    uint64_t *keys;
    uint64_t *vals;
    size_t cap; /* power of two, or 0 */
    size_t n;
    int has_zero;
    uint64_t zero_val;
};

/* rank__map_get writes the value of key to *val and returns 1, or returns
 * 0 when absent. */
int rank__map_get(const struct rank__map *m, uint64_t key, uint64_t *val);

/* rank__map_put sets key to val. Errors: SW_ENOMEM (map unchanged). */
SW_MUST_CHECK sw_err rank__map_put(struct rank__map *m, uint64_t key,
                                   uint64_t val);

/* rank__map_free releases the map and leaves it empty. */
void rank__map_free(struct rank__map *m);

/* rank__hash64 hashes n bytes (FNV-1a with a final mix); never 0. */
uint64_t rank__hash64(const void *p, size_t n, uint64_t seed);

#endif
