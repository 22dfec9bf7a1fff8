/* sw_arena: a bump allocator for memory that lives exactly as long as one
 * request. Everything allocated from an arena is freed at once by
 * sw_arena_free, so request handlers build their responses without
 * per-field bookkeeping. Not thread-safe: an arena belongs to one call. */
#ifndef SW_ARENA_H
#define SW_ARENA_H

#include <stddef.h>

#include "base/sw_err.h"

struct sw_arena_chunk;

struct sw_arena {
    struct sw_arena_chunk *head;
    size_t used;  /* bytes handed out, for limits and metrics */
    size_t limit; /* 0 = unlimited; allocations beyond it fail */
};

/* sw_arena_init prepares an empty arena; limit caps the total bytes it may
 * hand out (0 for no cap). Allocates nothing. */
void sw_arena_init(struct sw_arena *a, size_t limit);

/* sw_arena_free releases every allocation; the arena is empty afterwards and
 * may be reused. */
void sw_arena_free(struct sw_arena *a);

/* sw_arena_alloc returns n bytes aligned for any type, zero-filled, valid
 * until sw_arena_free; NULL when out of memory or over the limit. */
void *sw_arena_alloc(struct sw_arena *a, size_t n);

/* Copies into the arena; NULL when out of memory. sw_arena_strndup copies
 * at most n bytes and NUL-terminates. */
char *sw_arena_strdup(struct sw_arena *a, const char *s);
char *sw_arena_strndup(struct sw_arena *a, const char *s, size_t n);
void *sw_arena_memdup(struct sw_arena *a, const void *p, size_t n);

/* sw_arena_printf formats into arena memory; NULL on failure. */
char *sw_arena_printf(struct sw_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
