/* sw_buf: growable, capped, always NUL-terminated buffers. Growth doubles the
 * allocation so appends are amortised O(1). */
#include "base/sw_buf.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/sw_mem.h"

void sw_buf_init(struct sw_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void sw_buf_free(struct sw_buf *b)
{
    if (b == NULL)
        return;
    sw_free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void sw_buf_reset(struct sw_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

/* sw_buf_reserve makes room for n more bytes plus the NUL. */
static sw_err sw_buf_reserve(struct sw_buf *b, size_t n)
{
    size_t need, cap;
    char *p;

    if (n > b->max || b->len > b->max - n)
        return SW_ETOOBIG;
    need = b->len + n + 1;
    if (need <= b->cap)
        return SW_OK;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    p = sw_realloc(b->data, cap);
    if (p == NULL)
        return SW_ENOMEM;
    b->data = p;
    b->cap = cap;
    return SW_OK;
}

sw_err sw_buf_add(struct sw_buf *b, const void *p, size_t n)
{
    sw_err rc = sw_buf_reserve(b, n);

    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return SW_OK;
}

sw_err sw_buf_addstr(struct sw_buf *b, const char *s)
{
    return sw_buf_add(b, s, strlen(s));
}

sw_err sw_buf_addc(struct sw_buf *b, char c)
{
    return sw_buf_add(b, &c, 1);
}

sw_err sw_buf_vprintf(struct sw_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;
    sw_err rc;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return SW_EINVAL;
    rc = sw_buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    (void)vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return SW_OK;
}

sw_err sw_buf_printf(struct sw_buf *b, const char *fmt, ...)
{
    va_list ap;
    sw_err rc;

    va_start(ap, fmt);
    rc = sw_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/* sw_buf_utf8_len returns the length of the valid UTF-8 sequence at s, or 0
 * when the bytes there are not valid UTF-8. */
static size_t sw_buf_utf8_len(const unsigned char *s, size_t n)
{
    size_t len, i;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2;
        cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3;
        cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

sw_err sw_buf_add_json_str(struct sw_buf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t start = b->len, i = 0, k;
    sw_err rc;

    rc = sw_buf_addc(b, '"');
    while (rc == SW_OK && i < n) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            rc = sw_buf_add(b, esc, 2);
            i++;
        } else if (c < 0x20) {
            rc = sw_buf_printf(b, "\\u%04x", c);
            i++;
        } else if ((k = sw_buf_utf8_len(p + i, n - i)) == 0) {
            rc = sw_buf_add(b, "\xEF\xBF\xBD", 3);
            i++;
        } else {
            rc = sw_buf_add(b, p + i, k);
            i += k;
        }
    }
    if (rc == SW_OK)
        rc = sw_buf_addc(b, '"');
    if (rc) {
        b->len = start;
        if (b->data)
            b->data[start] = '\0';
    }
    return rc;
}

sw_err sw_buf_take(struct sw_buf *b, char **out, size_t *len)
{
    if (b->data == NULL) {
        char *p = sw_malloc(1);
        if (p == NULL)
            return SW_ENOMEM;
        p[0] = '\0';
        *out = p;
        if (len)
            *len = 0;
        return SW_OK;
    }
    *out = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return SW_OK;
}

const char *sw_buf_str(const struct sw_buf *b)
{
    return b->data ? b->data : "";
}

size_t sw_buf_len(const struct sw_buf *b)
{
    return b->len;
}
