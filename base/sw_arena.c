/* sw_arena: chunked bump allocation. Chunks grow geometrically from 4 KiB;
 * a request bigger than a chunk gets a chunk of its own. */
#include "base/sw_arena.h"

#include <stdalign.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/sw_mem.h"

struct sw_arena_chunk {
    struct sw_arena_chunk *next;
    size_t size; /* bytes in data[] */
    size_t off;  /* bytes used in data[] */
    alignas(max_align_t) unsigned char data[];
};

#define SW_ARENA_ALIGN (alignof(max_align_t))
#define SW_ARENA_FIRST 4096

void sw_arena_init(struct sw_arena *a, size_t limit)
{
    a->head = NULL;
    a->used = 0;
    a->limit = limit;
}

void sw_arena_free(struct sw_arena *a)
{
    struct sw_arena_chunk *c = a->head, *next;

    while (c) {
        next = c->next;
        sw_free(c);
        c = next;
    }
    a->head = NULL;
    a->used = 0;
}

void *sw_arena_alloc(struct sw_arena *a, size_t n)
{
    struct sw_arena_chunk *c = a->head;
    size_t need, size;
    void *p;

    if (n == 0)
        n = 1;
    if (n > SIZE_MAX / 2)
        return NULL;
    need = (n + SW_ARENA_ALIGN - 1) & ~(SW_ARENA_ALIGN - 1);
    if (a->limit && (need > a->limit || a->used > a->limit - need))
        return NULL;
    if (c == NULL || c->size - c->off < need) {
        size = c ? c->size * 2 : SW_ARENA_FIRST;
        if (size > 1024 * 1024)
            size = 1024 * 1024;
        if (size < need)
            size = need;
        c = sw_malloc(sizeof(*c) + size);
        if (c == NULL)
            return NULL;
        c->size = size;
        c->off = 0;
        c->next = a->head;
        a->head = c;
    }
    p = c->data + c->off;
    c->off += need;
    a->used += need;
    memset(p, 0, n);
    return p;
}

char *sw_arena_strndup(struct sw_arena *a, const char *s, size_t n)
{
    size_t len = 0;
    char *p;

    while (len < n && s[len] != '\0')
        len++;
    p = sw_arena_alloc(a, len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *sw_arena_strdup(struct sw_arena *a, const char *s)
{
    return sw_arena_strndup(a, s, strlen(s));
}

void *sw_arena_memdup(struct sw_arena *a, const void *src, size_t n)
{
    void *p = sw_arena_alloc(a, n);

    if (p && n)
        memcpy(p, src, n);
    return p;
}

char *sw_arena_printf(struct sw_arena *a, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    p = sw_arena_alloc(a, (size_t)n + 1);
    if (p == NULL)
        return NULL;
    va_start(ap, fmt);
    (void)vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}
