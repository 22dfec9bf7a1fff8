/* rank_int.h: helpers shared by the files of the ranker module: a map from
 * 64-bit keys to 64-bit values (labels, term hashes). Included only inside
 * ranker/. Not thread-safe. */
#ifndef RANK_INT_H
#define RANK_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

/* rank__map_copy makes *dst (empty, or freed first) a copy of src, with
 * room for extra more keys before it grows. Errors: SW_ENOMEM (dst
 * empty). */
SW_MUST_CHECK sw_err rank__map_copy(struct rank__map *dst,
                                    const struct rank__map *src, size_t extra);

/* rank__quantize writes v[0..n) as 8-bit values to q, scaled by the
 * largest magnitude, and returns the scale s (v[i] ≈ q[i] * s; 0 when v
 * is all zeros). */
static inline float rank__quantize(const float *v, size_t n, int8_t *q)
{
    float mx = 0.0f, s;
    size_t i;

    for (i = 0; i < n; i++)
        if (v[i] > mx || -v[i] > mx)
            mx = v[i] > 0 ? v[i] : -v[i];
    if (!(mx > 0.0f)) {
        memset(q, 0, n);
        return 0.0f;
    }
    s = mx / 127.0f;
    for (i = 0; i < n; i++) {
        float x = v[i] / s;
        q[i] = (int8_t)(x >= 0 ? x + 0.5f : x - 0.5f);
    }
    return s;
}

/* rank__dot8 is the dot product of a (n 8-bit values, widened to 16 bits
 * once by the caller: a query compared with many rows) and b (n 8-bit
 * values). With SSE2 (every x86-64) 16 values at a time: b's sign-extended
 * to 16 bits, multiplied and added in pairs (pmaddwd); elsewhere a plain
 * loop. */
static inline int32_t rank__dot8(const int16_t *a, const int8_t *b, size_t n)
{
    int32_t s = 0;
    size_t i = 0;
#if defined(__SSE2__)
    __m128i acc = _mm_setzero_si128();
    int32_t lanes[4];

    for (; i + 16 <= n; i += 16) {
        __m128i y = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
        __m128i xl = _mm_loadu_si128((const __m128i *)(const void *)(a + i));
        __m128i xh =
            _mm_loadu_si128((const __m128i *)(const void *)(a + i + 8));
        __m128i yl = _mm_srai_epi16(_mm_unpacklo_epi8(y, y), 8);
        __m128i yh = _mm_srai_epi16(_mm_unpackhi_epi8(y, y), 8);
        acc = _mm_add_epi32(acc, _mm_madd_epi16(xl, yl));
        acc = _mm_add_epi32(acc, _mm_madd_epi16(xh, yh));
    }
    _mm_storeu_si128((__m128i *)(void *)lanes, acc);
    s = lanes[0] + lanes[1] + lanes[2] + lanes[3];
#endif
    for (; i < n; i++)
        s += a[i] * (int16_t)b[i];
    return s;
}

/* rank__hash64 hashes n bytes (FNV-1a with a final mix); never 0. */
uint64_t rank__hash64(const void *p, size_t n, uint64_t seed);

#endif
