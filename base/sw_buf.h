/* sw_buf: a growable byte buffer with a hard cap, the only way Snipwise grows
 * text or bytes. The contents are always NUL-terminated (the NUL is not
 * counted in len), so text can be passed to C string functions.
 * Not thread-safe: one buffer belongs to one thread at a time. */
#ifndef SW_BUF_H
#define SW_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "base/sw_err.h"

/* Fields are read through the accessors below; they are in the header only so
 * that a buffer can live on the stack. */
struct sw_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* hard cap on len */
};

/* sw_buf_init prepares an empty buffer that may hold at most max bytes. It
 * allocates nothing. */
void sw_buf_init(struct sw_buf *b, size_t max);

/* sw_buf_free releases the memory and leaves an empty buffer with the same
 * cap. NULL is accepted. */
void sw_buf_free(struct sw_buf *b);

/* sw_buf_reset empties the buffer and keeps its memory. */
void sw_buf_reset(struct sw_buf *b);

/* Appending: SW_ETOOBIG when the result would exceed max, SW_ENOMEM when
 * memory runs out. On error the buffer is unchanged. */
SW_MUST_CHECK sw_err sw_buf_add(struct sw_buf *b, const void *p, size_t n);
SW_MUST_CHECK sw_err sw_buf_addstr(struct sw_buf *b, const char *s);
SW_MUST_CHECK sw_err sw_buf_addc(struct sw_buf *b, char c);
SW_MUST_CHECK sw_err sw_buf_printf(struct sw_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
SW_MUST_CHECK sw_err sw_buf_vprintf(struct sw_buf *b, const char *fmt,
                                    va_list ap);

/* sw_buf_add_json_str appends n bytes of s as a JSON string literal, quotes
 * included, escaping control characters, quotes and backslashes. Invalid
 * UTF-8 bytes are replaced by U+FFFD. */
SW_MUST_CHECK sw_err sw_buf_add_json_str(struct sw_buf *b, const char *s,
                                         size_t n);

/* sw_buf_take returns the contents (NUL-terminated, caller frees with
 * sw_free; never NULL on SW_OK) and leaves the buffer empty. *len, if not
 * NULL, receives the length. */
SW_MUST_CHECK sw_err sw_buf_take(struct sw_buf *b, char **out, size_t *len);

/* Accessors. sw_buf_str never returns NULL: an empty buffer gives "". The
 * pointer is valid until the next call that changes the buffer. */
const char *sw_buf_str(const struct sw_buf *b);
size_t sw_buf_len(const struct sw_buf *b);

#endif
