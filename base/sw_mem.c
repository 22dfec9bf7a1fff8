/* sw_mem: allocation wrappers with a fault-injection hook and a live-block
 * counter. The hook and the counters are the only mutable globals Snipwise
 * has; they are atomics so any thread may allocate. */
#include "base/sw_mem.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic(sw_mem_fault_fn) sw_mem_hook;
static void *_Atomic sw_mem_hook_arg;
static atomic_uint_fast64_t sw_mem_ordinal;
static atomic_int_fast64_t sw_mem_live_blocks;
static atomic_uint_fast64_t sw_mem_fail_at;

static int sw_mem_should_fail(void)
{
    sw_mem_fault_fn fn = atomic_load(&sw_mem_hook);
    uint64_t n;

    if (fn == NULL)
        return 0;
    n = atomic_fetch_add(&sw_mem_ordinal, 1) + 1;
    return fn(n, atomic_load(&sw_mem_hook_arg));
}

void *sw_malloc(size_t n)
{
    void *p;

    if (sw_mem_should_fail())
        return NULL;
    p = malloc(n ? n : 1);
    if (p)
        atomic_fetch_add(&sw_mem_live_blocks, 1);
    return p;
}

void *sw_calloc(size_t count, size_t n)
{
    void *p;

    if (sw_mem_should_fail())
        return NULL;
    p = calloc(count ? count : 1, n ? n : 1);
    if (p)
        atomic_fetch_add(&sw_mem_live_blocks, 1);
    return p;
}

void *sw_realloc(void *p, size_t n)
{
    void *q;

    if (p == NULL)
        return sw_malloc(n);
    if (sw_mem_should_fail())
        return NULL;
    q = realloc(p, n ? n : 1);
    return q;
}

void sw_free(void *p)
{
    if (p == NULL)
        return;
    atomic_fetch_sub(&sw_mem_live_blocks, 1);
#ifndef NDEBUG
    /* Debug builds (the tests) overwrite a block before freeing it, so a
     * read through a dangling pointer sees garbage even without ASan. */
    memset(p, 0x5a, malloc_usable_size(p));
#endif
    free(p);
}

char *sw_strdup(const char *s)
{
    return sw_strndup(s, strlen(s));
}

char *sw_strndup(const char *s, size_t n)
{
    size_t len = 0;
    char *p;

    while (len < n && s[len] != '\0')
        len++;
    p = sw_malloc(len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void *sw_memdup(const void *src, size_t n)
{
    void *p = sw_malloc(n);

    if (p && n)
        memcpy(p, src, n);
    return p;
}

void sw_mem_set_fault(sw_mem_fault_fn fn, void *arg)
{
    atomic_store(&sw_mem_hook, NULL);
    atomic_store(&sw_mem_ordinal, 0);
    atomic_store(&sw_mem_hook_arg, arg);
    atomic_store(&sw_mem_hook, fn);
}

static int sw_mem_nth_hook(uint64_t ordinal, void *arg)
{
    (void)arg;
    return ordinal == atomic_load(&sw_mem_fail_at);
}

void sw_mem_fail_nth(uint64_t n)
{
    if (n == 0) {
        sw_mem_set_fault(NULL, NULL);
        return;
    }
    atomic_store(&sw_mem_fail_at, n);
    sw_mem_set_fault(sw_mem_nth_hook, NULL);
}

int64_t sw_mem_live(void)
{
    return (int64_t)atomic_load(&sw_mem_live_blocks);
}
