/* store_tlv: a tiny private record codec for store_llm and store_outcome:
 * a version byte, then fields in a fixed order, strings as be32 length +
 * bytes and integers as be64. Decoding checks every length (SW_ECORRUPT on
 * any mismatch). Include only from the .c files of store/. */
#ifndef STORE_TLV_H
#define STORE_TLV_H

#include <stdint.h>
#include <string.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "store/store.h"

static inline sw_err store_tlv_str(struct sw_buf *b, const char *s, size_t cap)
{
    size_t n = s ? strlen(s) : 0;
    unsigned char l[4];
    sw_err rc;

    if (n > cap)
        n = cap;
    l[0] = (unsigned char)(n >> 24);
    l[1] = (unsigned char)(n >> 16);
    l[2] = (unsigned char)(n >> 8);
    l[3] = (unsigned char)n;
    rc = sw_buf_add(b, l, 4);
    if (rc == SW_OK && n)
        rc = sw_buf_add(b, s, n);
    return rc;
}

static inline sw_err store_tlv_i64(struct sw_buf *b, int64_t v)
{
    unsigned char x[8];

    store_u64_put(x, (uint64_t)v);
    return sw_buf_add(b, x, 8);
}

/* A decoding cursor. */
struct store_tlv_rd {
    const unsigned char *p;
    size_t n;
    sw_err rc;
};

static inline char *store_tlv_get_str(struct store_tlv_rd *r)
{
    size_t l;
    char *s;

    if (r->rc)
        return NULL;
    if (r->n < 4) {
        r->rc = SW_ECORRUPT;
        return NULL;
    }
    l = ((size_t)r->p[0] << 24) | ((size_t)r->p[1] << 16) |
        ((size_t)r->p[2] << 8) | r->p[3];
    if (r->n - 4 < l) {
        r->rc = SW_ECORRUPT;
        return NULL;
    }
    s = sw_strndup((const char *)r->p + 4, l);
    if (s == NULL) {
        r->rc = SW_ENOMEM;
        return NULL;
    }
    r->p += 4 + l;
    r->n -= 4 + l;
    return s;
}

static inline int64_t store_tlv_get_i64(struct store_tlv_rd *r)
{
    int64_t v;

    if (r->rc)
        return 0;
    if (r->n < 8) {
        r->rc = SW_ECORRUPT;
        return 0;
    }
    v = (int64_t)store_u64_get(r->p);
    r->p += 8;
    r->n -= 8;
    return v;
}

#endif
