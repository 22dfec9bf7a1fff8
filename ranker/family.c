/* family: near-identical framings pooled into families with MinHash over
 * normalised character shingles and LSH banding (see hist.h). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ranker/hist.h"

#define RANK_FAM_HASHES 64
#define RANK_FAM_BANDS 16
#define RANK_FAM_ROWS 4
#define RANK_FAM_SHINGLE 5
#define RANK_FAM_TEXT_MAX 2048

/* rank_family_norm lowercases text, keeps letters and digits and turns
 * every other run into one space; out holds RANK_FAM_TEXT_MAX + 1. */
static size_t rank_family_norm(const char *s, char *out)
{
    size_t n = 0;
    int space = 1;

    for (; *s && n < RANK_FAM_TEXT_MAX; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c >= 0x80) {
            out[n++] = (char)tolower(c);
            space = 0;
        } else if (!space) {
            out[n++] = ' ';
            space = 1;
        }
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
    return n;
}

static uint64_t rank_family_mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* rank_family_sig computes the MinHash signature of text. */
static void rank_family_sig(const char *text, uint64_t sig[RANK_FAM_HASHES])
{
    char norm[RANK_FAM_TEXT_MAX + 1];
    size_t n = rank_family_norm(text, norm), i, j;

    for (j = 0; j < RANK_FAM_HASHES; j++)
        sig[j] = UINT64_MAX;
    if (n == 0)
        return;
    for (i = 0; i + RANK_FAM_SHINGLE <= n || i == 0; i++) {
        size_t len = n < RANK_FAM_SHINGLE ? n : RANK_FAM_SHINGLE;
        uint64_t h = rank__hash64(norm + i, len, 0x5eed);
        for (j = 0; j < RANK_FAM_HASHES; j++) {
            uint64_t v = rank_family_mix(h ^ (0x9e3779b97f4a7c15ULL * (j + 1)));
            if (v < sig[j])
                sig[j] = v;
        }
        if (n < RANK_FAM_SHINGLE)
            break;
    }
}

static double rank_family_agree(const uint64_t *a, const uint64_t *b)
{
    size_t j, same = 0;

    for (j = 0; j < RANK_FAM_HASHES; j++)
        same += a[j] == b[j];
    return (double)same / RANK_FAM_HASHES;
}

double rank_minhash_jaccard(const char *a, const char *b)
{
    uint64_t sa[RANK_FAM_HASHES], sb[RANK_FAM_HASHES];

    rank_family_sig(a, sa);
    rank_family_sig(b, sb);
    return rank_family_agree(sa, sb);
}

struct rank_band {
    uint64_t key;
    uint32_t idx;
};

static int rank_band_cmp(const void *x, const void *y)
{
    const struct rank_band *a = x, *b = y;

    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Union-find whose root is always the member that sorts first by age. */
static uint32_t rank_uf_find(uint32_t *par, uint32_t x)
{
    while (par[x] != x) {
        par[x] = par[par[x]];
        x = par[x];
    }
    return x;
}

static void rank_uf_union(uint32_t *par, const uint32_t *order, uint32_t a,
                          uint32_t b)
{
    a = rank_uf_find(par, a);
    b = rank_uf_find(par, b);
    if (a == b)
        return;
    if (order[a] < order[b])
        par[b] = a;
    else
        par[a] = b;
}

/* Signatures by text hash, kept from one clustering to the next. */
struct rank_sigs {
    struct rank__map by_text; /* rank__hash64 of the text → row of sig */
    uint64_t *sig;            /* rows of RANK_FAM_HASHES */
    size_t n;
};

sw_err rank_sigs_new(struct rank_sigs **out)
{
    *out = sw_calloc(1, sizeof(**out));
    return *out ? SW_OK : SW_ENOMEM;
}

void rank_sigs_free(struct rank_sigs **sp)
{
    if (sp == NULL || *sp == NULL)
        return;
    rank__map_free(&(*sp)->by_text);
    sw_free((*sp)->sig);
    sw_free(*sp);
    *sp = NULL;
}

/* rank_family_sigs fills sig (n rows) for texts, from cache when it holds
 * a text and computing the rest; then makes cache hold exactly these
 * texts (what the next clustering will mostly ask for again). */
static sw_err rank_family_sigs(const char *const *texts, size_t n,
                               struct rank_sigs *cache, uint64_t *sig)
{
    struct rank_sigs next;
    uint64_t h, v;
    size_t i, rows = 0;
    sw_err rc = SW_OK;

    if (cache == NULL) {
        for (i = 0; i < n; i++)
            rank_family_sig(texts[i], sig + i * RANK_FAM_HASHES);
        return SW_OK;
    }
    memset(&next, 0, sizeof(next));
    next.sig = sw_malloc((n + 1) * RANK_FAM_HASHES * sizeof(*next.sig));
    if (next.sig == NULL)
        return SW_ENOMEM;
    for (i = 0; i < n && rc == SW_OK; i++) {
        uint64_t *row = sig + i * RANK_FAM_HASHES;
        h = rank__hash64(texts[i], strlen(texts[i]), 0x51c5);
        if (rank__map_get(&next.by_text, h, &v)) {
            memcpy(row, next.sig + v * RANK_FAM_HASHES,
                   RANK_FAM_HASHES * sizeof(*row));
            continue;
        }
        if (rank__map_get(&cache->by_text, h, &v))
            memcpy(row, cache->sig + v * RANK_FAM_HASHES,
                   RANK_FAM_HASHES * sizeof(*row));
        else
            rank_family_sig(texts[i], row);
        memcpy(next.sig + rows * RANK_FAM_HASHES, row,
               RANK_FAM_HASHES * sizeof(*row));
        rc = rank__map_put(&next.by_text, h, rows++);
    }
    if (rc) {
        rank__map_free(&next.by_text);
        sw_free(next.sig);
        return rc;
    }
    next.n = rows;
    rank__map_free(&cache->by_text);
    sw_free(cache->sig);
    *cache = next;
    return SW_OK;
}

sw_err rank_family_cluster(const char *const *texts, size_t n, double threshold,
                           uint32_t *fam)
{
    return rank_family_cluster_cached(texts, n, threshold, NULL, fam);
}

sw_err rank_family_cluster_cached(const char *const *texts, size_t n,
                                  double threshold, struct rank_sigs *cache,
                                  uint32_t *fam)
{
    uint64_t *sig = NULL;
    struct rank_band *bands = NULL;
    uint32_t *par = NULL, *order = NULL;
    size_t i, b, s;
    sw_err rc = SW_ENOMEM;

    if (n == 0)
        return SW_OK;
    sig = sw_malloc(n * RANK_FAM_HASHES * sizeof(*sig));
    bands = sw_malloc(n * sizeof(*bands));
    par = sw_malloc(n * sizeof(*par));
    order = sw_malloc(n * sizeof(*order));
    if (sig == NULL || bands == NULL || par == NULL || order == NULL)
        goto out;
    rc = rank_family_sigs(texts, n, cache, sig);
    if (rc)
        goto out;
    rc = SW_ENOMEM;
    for (i = 0; i < n; i++) {
        par[i] = (uint32_t)i;
        order[i] = (uint32_t)i; /* the caller passes texts oldest first */
    }
    for (b = 0; b < RANK_FAM_BANDS; b++) {
        for (i = 0; i < n; i++) {
            bands[i].key =
                rank__hash64(sig + i * RANK_FAM_HASHES + b * RANK_FAM_ROWS,
                             RANK_FAM_ROWS * sizeof(uint64_t), b);
            bands[i].idx = (uint32_t)i;
        }
        qsort(bands, n, sizeof(*bands), rank_band_cmp);
        /* Within a bucket, compare each member with the bucket's first
         * (oldest) member and with its predecessor: linear in the bucket
         * size, and identical texts all join the first. */
        for (s = 0; s < n;) {
            size_t e = s + 1;
            while (e < n && bands[e].key == bands[s].key)
                e++;
            for (i = s + 1; i < e; i++) {
                uint32_t x = bands[i].idx, f = bands[s].idx,
                         pv = bands[i - 1].idx;
                if (rank_family_agree(sig + (size_t)x * RANK_FAM_HASHES,
                                      sig + (size_t)f * RANK_FAM_HASHES) >=
                    threshold)
                    rank_uf_union(par, order, x, f);
                else if (rank_family_agree(
                             sig + (size_t)x * RANK_FAM_HASHES,
                             sig + (size_t)pv * RANK_FAM_HASHES) >= threshold)
                    rank_uf_union(par, order, x, pv);
            }
            s = e;
        }
    }
    for (i = 0; i < n; i++)
        fam[i] = rank_uf_find(par, (uint32_t)i);
    rc = SW_OK;
out:
    sw_free(sig);
    sw_free(bands);
    sw_free(par);
    sw_free(order);
    return rc;
}

void rank_family_id(const char *oldest_snippet_id, char out[21])
{
    unsigned char h[SW_SHA256_LEN];

    sw_sha256(oldest_snippet_id, strlen(oldest_snippet_id), h);
    memcpy(out, "fam_", 4);
    sw_hex(h, 8, out + 4);
}
