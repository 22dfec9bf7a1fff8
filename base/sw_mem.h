/* sw_mem: every allocation in Snipwise goes through these wrappers, so that
 * tests can inject allocation failures (the fault hook) and count live
 * blocks. Thread-safe. */
#ifndef SW_MEM_H
#define SW_MEM_H

#include <stddef.h>
#include <stdint.h>

/* Allocation wrappers with the semantics of their libc namesakes. They return
 * NULL when the fault hook says so or when the system is out of memory.
 * sw_free(NULL) is a no-op. Debug builds (no NDEBUG: the tests) overwrite
 * the block with 0x5a bytes first, so that a use after free reads garbage
 * even without ASan. */
void *sw_malloc(size_t n);
void *sw_calloc(size_t count, size_t n);
void *sw_realloc(void *p, size_t n);
void sw_free(void *p);

/* sw_strdup copies a NUL-terminated string; sw_strndup copies at most n bytes
 * of s and NUL-terminates the copy (s need not be NUL-terminated). sw_memdup
 * copies n bytes. The caller frees the result with sw_free. */
char *sw_strdup(const char *s);
char *sw_strndup(const char *s, size_t n);
void *sw_memdup(const void *p, size_t n);

/* The fault hook is called before every allocation with its 1-based ordinal
 * since the hook was installed; a non-zero return fails that allocation.
 * Pass NULL to remove it. Meant for tests: install it before starting
 * threads that allocate. */
typedef int (*sw_mem_fault_fn)(uint64_t ordinal, void *arg);
void sw_mem_set_fault(sw_mem_fault_fn fn, void *arg);

/* sw_mem_fail_nth installs a hook that fails exactly the nth allocation
 * (n >= 1) counted from now; n == 0 removes the hook. */
void sw_mem_fail_nth(uint64_t n);

/* sw_mem_live returns the number of blocks allocated and not yet freed
 * through these wrappers (realloc counts as neither). */
int64_t sw_mem_live(void);

#endif
