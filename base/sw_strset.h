/* sw_strset: a set of strings for membership tests in linear time, where
 * a scan per insertion would make a request's cost quadratic in a size the
 * client controls (recipients, participants). The set borrows the strings:
 * they must outlive it and stay unchanged. Hashing is keyed with a random
 * value drawn once per process, so a client cannot choose inputs that all
 * collide. Not thread-safe; one set per task. */
#ifndef SW_STRSET_H
#define SW_STRSET_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_err.h"

struct sw_strset {
    const char **slots; /* open addressing; NULL = empty */
    size_t cap;         /* a power of two, or 0 */
    size_t n;
};

/* SW_STRSET_INIT is an empty set; so is a zeroed struct. */
#define SW_STRSET_INIT                                                         \
    {                                                                          \
        NULL, 0, 0                                                             \
    }

/* sw_strset_reserve makes room for n strings in all without growing again.
 * Errors: SW_ENOMEM (set unchanged), SW_ETOOBIG (n beyond any memory). */
SW_MUST_CHECK sw_err sw_strset_reserve(struct sw_strset *s, size_t n);

/* sw_strset_has: str (NUL-terminated) is in s. */
int sw_strset_has(const struct sw_strset *s, const char *str);

/* sw_strset_add puts str in s; *added (optional) is 1 when it was not
 * there. Errors: SW_ENOMEM (set unchanged), SW_EINVAL (str NULL). */
SW_MUST_CHECK sw_err sw_strset_add(struct sw_strset *s, const char *str,
                                   int *added);

/* sw_strset_free releases the table (not the strings) and empties s. */
void sw_strset_free(struct sw_strset *s);

#endif
