/* llm/text: whitespace normalisation, grounded search and sentence
 * splitting. The validator and the builtin extractor must agree on what
 * "verbatim" means, so both use these functions. */
#include "llm/text.h"

#include <ctype.h>
#include <string.h>

#include "base/sw_mem.h"

/* llm_text_ws returns the byte length of the whitespace at s[0..n), 0 if
 * none. U+00A0 (C2 A0) counts, since mail clients insert it freely. */
static size_t llm_text_ws(const char *s, size_t n)
{
    unsigned char c = (unsigned char)s[0];

    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
        c == '\v')
        return 1;
    if (c == 0xC2 && n > 1 && (unsigned char)s[1] == 0xA0)
        return 2;
    return 0;
}

sw_err llm_text_norm(const char *s, size_t n, char **out, size_t *out_len)
{
    char *d = sw_malloc(n + 1);
    size_t i = 0, k = 0, w;
    int pending = 0;

    if (d == NULL)
        return SW_ENOMEM;
    while (i < n) {
        w = llm_text_ws(s + i, n - i);
        if (w) {
            pending = k > 0;
            i += w;
            continue;
        }
        if (pending)
            d[k++] = ' ';
        pending = 0;
        d[k++] = s[i++];
    }
    d[k] = '\0';
    *out = d;
    if (out_len)
        *out_len = k;
    return SW_OK;
}

int llm_text_find_norm(const char *hay_norm, size_t hay_len, const char *needle,
                       size_t n)
{
    char *nn = NULL;
    size_t nlen = 0;
    int found;

    if (llm_text_norm(needle, n, &nn, &nlen) != SW_OK)
        return -1;
    found = nlen > 0 && memmem(hay_norm, hay_len, nn, nlen) != NULL;
    sw_free(nn);
    return found;
}

int llm_text_at(const char *src, size_t src_len, size_t off, const char *needle,
                size_t n)
{
    char *nn = NULL, *hn = NULL;
    size_t nlen = 0, hlen = 0, take;
    int ok = -1;

    if (off >= src_len)
        return 0;
    if (llm_text_norm(needle, n, &nn, &nlen) != SW_OK)
        goto out;
    /* Normalising may only shrink text, so the quote's normal form can take
     * at most 4 times its length of source (generous for runs of spaces). */
    take = src_len - off;
    if (take > 4 * n + 16)
        take = 4 * n + 16;
    if (llm_text_norm(src + off, take, &hn, &hlen) != SW_OK)
        goto out;
    ok = nlen > 0 && hlen >= nlen && memcmp(hn, nn, nlen) == 0;
out:
    sw_free(nn);
    sw_free(hn);
    return ok;
}

static int llm_text_is_bullet(const char *s, size_t n)
{
    if (n >= 2 && (s[0] == '-' || s[0] == '*') && s[1] == ' ')
        return 1;
    return n >= 3 && (unsigned char)s[0] == 0xE2 &&
           (unsigned char)s[1] == 0x80 && (unsigned char)s[2] == 0xA2;
}

static sw_err llm_text_emit(const char *s, size_t a, size_t b,
                            struct llm_span *v, size_t *k, size_t max)
{
    while (a < b && isspace((unsigned char)s[a]))
        a++;
    while (b > a && isspace((unsigned char)s[b - 1]))
        b--;
    if (b > a && *k < max) {
        v[*k].off = a;
        v[*k].len = b - a;
        (*k)++;
    }
    return SW_OK;
}

sw_err llm_text_sentences(const char *s, size_t n, size_t max,
                          struct llm_span **out, size_t *n_out)
{
    struct llm_span *v = NULL;
    size_t i, start = 0, k = 0, cap;
    sw_err rc = SW_OK;

    *out = NULL;
    *n_out = 0;
    if (n == 0 || max == 0)
        return SW_OK;
    /* Upper bound on sentences: one per break character. */
    cap = 1;
    for (i = 0; i < n; i++)
        if (s[i] == '.' || s[i] == '!' || s[i] == '?' || s[i] == '\n')
            cap++;
    if (cap > max)
        cap = max;
    v = sw_calloc(cap, sizeof(*v));
    if (v == NULL)
        return SW_ENOMEM;
    for (i = 0; i < n && k < cap; i++) {
        char c = s[i];
        if ((c == '.' || c == '!' || c == '?') &&
            (i + 1 == n || isspace((unsigned char)s[i + 1]))) {
            /* Skip "e.g." style abbreviations: a single letter before. */
            if (c == '.' && i >= 2 && isalpha((unsigned char)s[i - 1]) &&
                s[i - 2] == '.')
                continue;
            rc = llm_text_emit(s, start, i + 1, v, &k, cap);
            start = i + 1;
        } else if (c == '\n') {
            size_t j = i, e = i;
            /* The line that ends here. */
            while (e > start && (s[e - 1] == '\r' || s[e - 1] == ' '))
                e--;
            j = i + 1;
            while (j < n && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r'))
                j++;
            if ((j < n && s[j] == '\n') ||
                (e > start && (s[e - 1] == ',' || s[e - 1] == ':')) ||
                (j < n && llm_text_is_bullet(s + j, n - j))) {
                rc = llm_text_emit(s, start, i, v, &k, cap);
                start = i + 1;
            }
        }
        if (rc)
            goto out;
    }
    if (start < n)
        rc = llm_text_emit(s, start, n, v, &k, cap);
out:
    if (rc || k == 0) {
        sw_free(v);
        return rc;
    }
    *out = v;
    *n_out = k;
    return SW_OK;
}

static int llm_text_wordc(unsigned char c)
{
    return isalnum(c) || c == '_' || c >= 0x80;
}

/* llm_text_lc lowers an ASCII letter and leaves every other byte, as
 * tolower does in the C locale, without a call per byte: the reply
 * labeller runs this over every sentence for each of its phrases. */
static unsigned char llm_text_lc(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

int llm_text_icontains(const char *s, size_t n, const char *word)
{
    const unsigned char *u = (const unsigned char *)s;
    const unsigned char *w = (const unsigned char *)word;
    size_t wl = strlen(word), i, j;
    unsigned char w0;
    int prefix = 0, bound0, bound1;

    if (wl > 0 && word[wl - 1] == '*') {
        prefix = 1;
        wl--;
    }
    if (wl == 0 || wl > n)
        return 0;
    w0 = llm_text_lc(w[0]);
    bound0 = llm_text_wordc(w[0]);
    bound1 = !prefix && llm_text_wordc(w[wl - 1]);
    for (i = 0; i + wl <= n; i++) {
        size_t k;
        if (llm_text_lc(u[i]) != w0) /* the cheap test first */
            continue;
        if (i > 0 && bound0 && llm_text_wordc(u[i - 1]))
            continue;
        for (j = 1, k = i + 1; j < wl && k < n; j++) {
            /* A typographic apostrophe (U+2019, as mail clients write
             * "don’t") matches the phrase's ASCII one. */
            if (w[j] == '\'' && k + 3 <= n && u[k] == 0xe2 &&
                u[k + 1] == 0x80 && u[k + 2] == 0x99) {
                k += 3;
                continue;
            }
            if (llm_text_lc(u[k]) != llm_text_lc(w[j]))
                break;
            k++;
        }
        if (j < wl)
            continue;
        if (bound1 && k < n && llm_text_wordc(u[k]))
            continue;
        return 1;
    }
    return 0;
}
