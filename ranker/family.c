/* family: near-identical framings pooled into families with MinHash over
 * normalised character shingles and LSH banding (see hist.h). */
#include <ctype.h>
#include <stdio.h>
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
/* A text's row: character MinHash, word MinHash, number key. */
#define RANK_FAM_ROW (2 * RANK_FAM_HASHES + 1)

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

uint64_t rank_family_text_key(const char *text)
{
    char norm[RANK_FAM_TEXT_MAX + 1];
    size_t n = rank_family_norm(text, norm);

    return rank__hash64(norm, n, 0x7e47);
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
            uint64_t v = sw_fmix64(h ^ (0x9e3779b97f4a7c15ULL * (j + 1)));
            if (v < sig[j])
                sig[j] = v;
        }
        if (n < RANK_FAM_SHINGLE)
            break;
    }
}

/* --- Paraphrases: content words ---------------------------------------
 *
 * Reps write one idea in their own words ("Attached is the onboarding
 * guide showing a two-week go-live" / "I've attached our onboarding guide,
 * which shows go-live in two weeks"): character shingles barely overlap,
 * the claim's words do. A text's content words are its lowercase words
 * without function words and attaching words, number words as digits, cut
 * to a crude stem; their MinHash is the word signature. Two texts whose
 * claim differs only in a number or a unit ("two weeks" / "two months")
 * share most words, so the numbers and units of a text are hashed apart
 * (its number key) and must be equal for a word-level join. */

static const char *const rank_fam_stop[] = {
    "a",      "an",        "the",        "our",      "your",     "you",
    "we",     "i",         "ive",        "weve",     "im",       "is",
    "are",    "was",       "were",       "be",       "been",     "to",
    "of",     "in",        "on",         "for",      "with",     "which",
    "that",   "this",      "these",      "those",    "it",       "its",
    "and",    "or",        "as",         "at",       "by",       "from",
    "can",    "will",      "would",      "have",     "has",      "here",
    "heres",  "there",     "me",         "my",       "us",       "hi",
    "hello",  "thanks",    "thank",      "please",   "let",      "know",
    "if",     "any",       "questions",  "as",       "promised", "attached",
    "attach", "attaching", "attachment", "enclosed", "find",     "see",
    "just",   "also",      "so",         "all",      "how",      "what",
    "about",  "into",      "within",     "s",        "ve",       "re",
    "ll",     "d",         "t",          NULL};

static const char *const rank_fam_numbers[] = {
    "zero",     "one",      "two",      "three",   "four",    "five",
    "six",      "seven",    "eight",    "nine",    "ten",     "eleven",
    "twelve",   "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
    "eighteen", "nineteen", "twenty",   NULL};

static const char *const rank_fam_units[] = {
    "minute", "hour", "day",     "week", "month", "quarter",
    "year",   "pct",  "percent", "x",    NULL};

static int rank_fam_in(const char *w, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(w, *list) == 0)
            return 1;
    return 0;
}

/* rank_fam_stem cuts w (lowercase, NUL-terminated, in place) to a crude
 * stem: plural, -ing, -ed, a doubled last consonant, a final e. */
static void rank_fam_stem(char *w)
{
    size_t n = strlen(w);

    if (n > 4 && strcmp(w + n - 3, "ies") == 0) {
        memcpy(w + n - 3, "y", 2);
        n -= 2;
    } else if (n > 3 && w[n - 1] == 's' && w[n - 2] != 's') {
        w[--n] = '\0';
    }
    if (n > 5 && strcmp(w + n - 3, "ing") == 0) {
        n -= 3;
        w[n] = '\0';
    } else if (n > 4 && strcmp(w + n - 2, "ed") == 0) {
        n -= 2;
        w[n] = '\0';
    }
    if (n > 3 && w[n - 1] == w[n - 2] && strchr("aeiou", w[n - 1]) == NULL)
        w[--n] = '\0';
    if (n > 3 && w[n - 1] == 'e')
        w[--n] = '\0';
}

/* rank_family_wsig computes text's word signature and number key. */
static void rank_family_wsig(const char *text, uint64_t sig[RANK_FAM_HASHES],
                             uint64_t *nkey)
{
    char norm[RANK_FAM_TEXT_MAX + 1], w[48];
    uint64_t nums[32];
    size_t n, i = 0, j, k, nn = 0;
    int any = 0;

    for (j = 0; j < RANK_FAM_HASHES; j++)
        sig[j] = UINT64_MAX;
    /* '%' is kept as a word of its own: "40%" and "40 percent" agree. */
    n = 0;
    for (; text && *text && n + 5 < RANK_FAM_TEXT_MAX; text++) {
        unsigned char c = (unsigned char)*text;
        if (c == '%') {
            memcpy(norm + n, " pct ", 5);
            n += 5;
        } else if (isalnum(c) || c >= 0x80) {
            norm[n++] = (char)tolower(c);
        } else if (c != '\'') { /* "we've" is one word */
            norm[n++] = ' ';
        }
    }
    norm[n] = '\0';
    while (i < n) {
        uint64_t h;
        while (i < n && norm[i] == ' ')
            i++;
        for (k = 0; i < n && norm[i] != ' '; i++)
            if (k + 1 < sizeof(w))
                w[k++] = norm[i];
        w[k] = '\0';
        if (k == 0 || rank_fam_in(w, rank_fam_stop))
            continue;
        for (j = 0; rank_fam_numbers[j]; j++)
            if (strcmp(w, rank_fam_numbers[j]) == 0) {
                snprintf(w, sizeof(w), "%zu", j);
                break;
            }
        rank_fam_stem(w);
        if (strcmp(w, "percent") == 0)
            memcpy(w, "pct", 4);
        h = rank__hash64(w, strlen(w), 0x3a7d);
        if ((isdigit((unsigned char)w[0]) || rank_fam_in(w, rank_fam_units)) &&
            nn < sizeof(nums) / sizeof(nums[0]))
            nums[nn++] = h;
        any = 1;
        for (j = 0; j < RANK_FAM_HASHES; j++) {
            uint64_t v = sw_fmix64(h ^ (0x7f4a7c159e3779b9ULL * (j + 1)));
            if (v < sig[j])
                sig[j] = v;
        }
    }
    /* The number key: the set of numbers and units, order-free. */
    *nkey = any ? 0x6e756d : 0;
    for (j = 0; j < nn; j++) {
        int seen = 0;
        for (k = 0; k < j; k++)
            seen |= nums[k] == nums[j];
        if (!seen)
            *nkey += sw_fmix64(nums[j]);
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
    uint64_t *sig;            /* rows of RANK_FAM_ROW: the character
                                 signature, the word signature and the
                                 number key (rank_family_row) */
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

/* rank_family_row computes a text's row (RANK_FAM_ROW values). */
static void rank_family_row(const char *text, uint64_t *row)
{
    rank_family_sig(text, row);
    rank_family_wsig(text, row + RANK_FAM_HASHES, row + 2 * RANK_FAM_HASHES);
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
            rank_family_row(texts[i], sig + i * RANK_FAM_ROW);
        return SW_OK;
    }
    memset(&next, 0, sizeof(next));
    next.sig = sw_malloc((n + 1) * RANK_FAM_ROW * sizeof(*next.sig));
    if (next.sig == NULL)
        return SW_ENOMEM;
    for (i = 0; i < n && rc == SW_OK; i++) {
        uint64_t *row = sig + i * RANK_FAM_ROW;
        h = rank__hash64(texts[i], strlen(texts[i]), 0x51c5);
        if (rank__map_get(&next.by_text, h, &v)) {
            memcpy(row, next.sig + v * RANK_FAM_ROW,
                   RANK_FAM_ROW * sizeof(*row));
            continue;
        }
        if (rank__map_get(&cache->by_text, h, &v))
            memcpy(row, cache->sig + v * RANK_FAM_ROW,
                   RANK_FAM_ROW * sizeof(*row));
        else
            rank_family_row(texts[i], row);
        memcpy(next.sig + rows * RANK_FAM_ROW, row,
               RANK_FAM_ROW * sizeof(*row));
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

/* rank_family_join: rows x and y (RANK_FAM_ROW each) belong in one family
 * by characters (agreement at least threshold) or, when word_threshold is
 * above 0, by words (agreement at least word_threshold, both with content
 * words and the same numbers and units). */
static int rank_family_join(const uint64_t *x, const uint64_t *y,
                            double threshold, double word_threshold)
{
    uint64_t kx = x[2 * RANK_FAM_HASHES], ky = y[2 * RANK_FAM_HASHES];

    if (rank_family_agree(x, y) >= threshold)
        return 1;
    return word_threshold > 0 && kx != 0 && kx == ky &&
           rank_family_agree(x + RANK_FAM_HASHES, y + RANK_FAM_HASHES) >=
               word_threshold;
}

int rank_paraphrase_join(const char *a, const char *b, double threshold,
                         double word_threshold)
{
    uint64_t ra[RANK_FAM_ROW], rb[RANK_FAM_ROW];

    rank_family_row(a, ra);
    rank_family_row(b, rb);
    return rank_family_join(ra, rb, threshold, word_threshold);
}

sw_err rank_family_cluster(const char *const *texts, size_t n, double threshold,
                           uint32_t *fam)
{
    return rank_family_cluster_cached(texts, n, threshold, 0.0, NULL, fam);
}

sw_err rank_family_cluster_cached(const char *const *texts, size_t n,
                                  double threshold, double word_threshold,
                                  struct rank_sigs *cache, uint32_t *fam)
{
    uint64_t *sig = NULL;
    struct rank_band *bands = NULL;
    uint32_t *par = NULL, *order = NULL;
    size_t i, b, s;
    sw_err rc = SW_ENOMEM;

    if (n == 0)
        return SW_OK;
    sig = sw_malloc(n * RANK_FAM_ROW * sizeof(*sig));
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
    /* Two banding passes: over the character signatures, then (when
     * word_threshold is set) over the word signatures; a pair met in
     * either is joined by rank_family_join. */
    for (b = 0; b < RANK_FAM_BANDS * (word_threshold > 0 ? 2 : 1); b++) {
        size_t at =
            b < RANK_FAM_BANDS
                ? b * RANK_FAM_ROWS
                : RANK_FAM_HASHES + (b - RANK_FAM_BANDS) * RANK_FAM_ROWS;
        for (i = 0; i < n; i++) {
            bands[i].key = rank__hash64(sig + i * RANK_FAM_ROW + at,
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
                         pv = bands[i - 1].idx, root = rank_uf_find(par, x);
                const uint64_t *rx = sig + (size_t)x * RANK_FAM_ROW;
                /* Already one family with both: neither union below could
                 * change anything, so the comparisons are skipped (most of
                 * a bucket, once an earlier band has joined it). */
                if (root == rank_uf_find(par, f) &&
                    root == rank_uf_find(par, pv))
                    continue;
                if (rank_family_join(rx, sig + (size_t)f * RANK_FAM_ROW,
                                     threshold, word_threshold))
                    rank_uf_union(par, order, x, f);
                else if (rank_family_join(rx, sig + (size_t)pv * RANK_FAM_ROW,
                                          threshold, word_threshold))
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
