/* embed: the builtin feature-hashing embedder and the per-team document
 * frequencies that weight it (embed.h). */
#include "ranker/embed.h"

#include <math.h>
#include <string.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "ranker/rank_records.pb-c.h"
#include "store/store_tenant.h"

#define RANK_WORD_MAX 64    /* longer words are cut */
#define RANK_WORDS_MAX 8192 /* words read from one text */
#define RANK_SEED_WORD 0x11 /* document frequencies */
#define RANK_SEED_UNI 0x22  /* unigram features */
#define RANK_SEED_BI 0x33   /* bigram features */
#define RANK_SEED_GRAM 0x44 /* character n-gram features */
#define RANK_W_UNI 1.0f
#define RANK_W_BI 0.7f
#define RANK_W_GRAM 0.6f
#define RANK_DF_KEY "df"

/* A word: its lowercased bytes in the scratch buffer. */
struct rank_word {
    size_t off, len;
    uint64_t h; /* hash for document frequencies */
};

static int rank_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c >= 0x80;
}

/* rank_words splits text into at most RANK_WORDS_MAX lowercased words,
 * written into scratch (as "<word>" with boundary marks, for n-grams) and
 * words. Returns the number of words. */
static size_t rank_words(const char *text, size_t len, char *scratch,
                         struct rank_word *words)
{
    size_t i = 0, n = 0, w = 0;

    while (i < len && n < RANK_WORDS_MAX) {
        size_t start, l;
        while (i < len && !rank_word_byte((unsigned char)text[i]))
            i++;
        if (i >= len)
            break;
        start = i;
        while (i < len && rank_word_byte((unsigned char)text[i]))
            i++;
        l = i - start;
        if (l > RANK_WORD_MAX)
            l = RANK_WORD_MAX;
        scratch[w] = '<';
        for (size_t j = 0; j < l; j++) {
            char c = text[start + j];
            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            scratch[w + 1 + j] = c;
        }
        scratch[w + 1 + l] = '>';
        words[n].off = w + 1;
        words[n].len = l;
        words[n].h = rank__hash64(scratch + w + 1, l, RANK_SEED_WORD);
        w += l + 2;
        n++;
    }
    return n;
}

/* rank_scratch_size bounds the scratch bytes rank_words needs. */
static size_t rank_scratch_size(size_t len)
{
    return 2 * len + 2;
}

static float rank_idf(const struct rank_df *df, uint64_t h)
{
    uint64_t d = 0;

    if (df == NULL || df->docs == 0)
        return 1.0f;
    (void)rank__map_get(&df->counts, h, &d);
    return (float)(log((double)(df->docs + 1) / (double)(d + 1)) + 1.0);
}

static void rank_feature(float *v, size_t dim, uint64_t h, float w)
{
    v[h % dim] += (h >> 63) ? -w : w;
}

static sw_err rank_builtin_embed(const struct rank_embedder *e,
                                 struct rank_df *df, const char *text,
                                 size_t len, float *out)
{
    struct rank_word *words = NULL;
    char *scratch = NULL;
    float *idf = NULL;
    size_t n, i, g, dim = e->dim;
    double norm = 0;
    sw_err rc = SW_OK;

    memset(out, 0, dim * sizeof(float));
    scratch = sw_malloc(rank_scratch_size(len));
    words = sw_malloc(RANK_WORDS_MAX * sizeof(*words));
    idf = sw_malloc(RANK_WORDS_MAX * sizeof(*idf));
    if (scratch == NULL || words == NULL || idf == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    n = rank_words(text, len, scratch, words);
    if (n == 0) {
        rc = SW_EINVAL;
        goto out;
    }
    if (df)
        pthread_rwlock_rdlock(&df->lock);
    for (i = 0; i < n; i++)
        idf[i] = rank_idf(df, words[i].h);
    if (df)
        pthread_rwlock_unlock(&df->lock);
    for (i = 0; i < n; i++) {
        const char *w = scratch + words[i].off;
        size_t l = words[i].len, ngrams = 0;
        float gw;

        rank_feature(out, dim, rank__hash64(w, l, RANK_SEED_UNI),
                     RANK_W_UNI * idf[i]);
        if (i > 0) {
            uint64_t hb = rank__hash64(w, l, words[i - 1].h ^ RANK_SEED_BI);
            rank_feature(out, dim, hb,
                         RANK_W_BI * 0.5f * (idf[i] + idf[i - 1]));
        }
        /* Character n-grams over "<word>", so prefixes and suffixes count,
         * spread the word's weight: morphology ("price", "pricing") and
         * typos still meet. */
        for (g = 3; g <= 5; g++)
            if (l + 2 >= g)
                ngrams += l + 2 - g + 1;
        if (ngrams == 0)
            continue;
        gw = RANK_W_GRAM * idf[i] / sqrtf((float)ngrams);
        for (g = 3; g <= 5; g++) {
            size_t p;
            if (l + 2 < g)
                continue;
            for (p = 0; p + g <= l + 2; p++)
                rank_feature(out, dim,
                             rank__hash64(w - 1 + p, g, RANK_SEED_GRAM + g),
                             gw);
        }
    }
    for (i = 0; i < dim; i++)
        norm += (double)out[i] * out[i];
    if (norm <= 0) {
        rc = SW_EINVAL;
        goto out;
    }
    norm = 1.0 / sqrt(norm);
    for (i = 0; i < dim; i++)
        out[i] = (float)(out[i] * norm);
out:
    sw_free(idf);
    sw_free(words);
    sw_free(scratch);
    return rc;
}

static void rank_builtin_destroy(struct rank_embedder **e)
{
    if (e == NULL || *e == NULL)
        return;
    sw_free(*e);
    *e = NULL;
}

static const struct rank_embedder_ops rank_builtin_ops = {
    "builtin",
    rank_builtin_embed,
    NULL,
    rank_builtin_destroy,
};

sw_err rank_embedder_builtin_new(size_t dim, struct rank_embedder **out)
{
    struct rank_embedder *e;

    if (dim == 0)
        dim = RANK_EMBED_DIM_DEFAULT;
    if (dim > RANK_EMBED_DIM_MAX)
        return SW_EINVAL;
    e = sw_calloc(1, sizeof(*e));
    if (e == NULL)
        return SW_ENOMEM;
    e->ops = &rank_builtin_ops;
    e->dim = dim;
    e->model = "fh1";
    *out = e;
    return SW_OK;
}

sw_err rank_embedder_new(const char *id, size_t dim, struct rank_embedder **out)
{
    if (id == NULL || id[0] == '\0' || strcmp(id, "builtin") == 0)
        return rank_embedder_builtin_new(dim, out);
    return SW_EINVAL;
}

sw_err rank_embedder_make(const char *id, const char *model, size_t dim,
                          const struct llm_embed_opts *openai,
                          struct rank_embedder **out)
{
    if (id == NULL || id[0] == '\0' || strcmp(id, "builtin") == 0) {
        if (model && strcmp(model, "fh1") != 0)
            return SW_EINVAL;
        return rank_embedder_builtin_new(dim, out);
    }
    if (strcmp(id, "openai") == 0 && openai)
        return rank_embedder_openai_new(openai, model, dim, out);
    return SW_EINVAL;
}

sw_err rank_embed_many(const struct rank_embedder *e, struct rank_df *df,
                       const char *const *texts, const size_t *lens, size_t n,
                       float *out, unsigned char *empty)
{
    size_t i;
    sw_err rc;

    if (e->ops->embed_batch)
        return e->ops->embed_batch(e, df, texts, lens, n, out, empty);
    for (i = 0; i < n; i++) {
        empty[i] = 0;
        rc = e->ops->embed(e, df, texts[i], lens[i], out + i * e->dim);
        if (rc == SW_EINVAL) {
            empty[i] = 1; /* no words: nothing to find it by */
            memset(out + i * e->dim, 0, e->dim * sizeof(float));
            continue;
        }
        if (rc)
            return rc;
    }
    return SW_OK;
}

/* Document frequencies. */

sw_err rank_df_new(struct rank_df **out)
{
    struct rank_df *df = sw_calloc(1, sizeof(*df));

    *out = NULL;
    if (df == NULL)
        return SW_ENOMEM;
    if (rank_df_init(df) != SW_OK) {
        sw_free(df);
        return SW_ENOMEM;
    }
    *out = df;
    return SW_OK;
}

void rank_df_destroy(struct rank_df **df)
{
    if (df == NULL || *df == NULL)
        return;
    rank_df_free(*df);
    sw_free(*df);
    *df = NULL;
}

sw_err rank_df_init(struct rank_df *df)
{
    memset(df, 0, sizeof(*df));
    if (pthread_rwlock_init(&df->lock, NULL) != 0)
        return SW_ENOMEM;
    return SW_OK;
}

void rank_df_free(struct rank_df *df)
{
    if (df == NULL)
        return;
    rank__map_free(&df->counts);
    rank__map_free(&df->dirty);
    pthread_rwlock_destroy(&df->lock);
    memset(df, 0, sizeof(*df));
}

sw_err rank_df_observe(struct rank_df *df, const char *text, size_t len)
{
    struct rank__map seen = {0};
    struct rank_word *words = NULL;
    char *scratch = NULL;
    size_t n, i;
    uint64_t c;
    sw_err rc = SW_OK;

    scratch = sw_malloc(rank_scratch_size(len));
    words = sw_malloc(RANK_WORDS_MAX * sizeof(*words));
    if (scratch == NULL || words == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    n = rank_words(text, len, scratch, words);
    pthread_rwlock_wrlock(&df->lock);
    for (i = 0; i < n; i++) {
        if (rank__map_get(&seen, words[i].h, &c))
            continue;
        rc = rank__map_put(&seen, words[i].h, 1);
        if (rc)
            break;
        c = 0;
        (void)rank__map_get(&df->counts, words[i].h, &c);
        rc = rank__map_put(&df->counts, words[i].h, c + 1);
        if (rc)
            break;
        rc = rank__map_put(&df->dirty, words[i].h, 1);
        if (rc)
            break;
    }
    if (rc == SW_OK)
        df->docs++;
    pthread_rwlock_unlock(&df->lock);
out:
    rank__map_free(&seen);
    sw_free(words);
    sw_free(scratch);
    return rc;
}

/* Storage: RANK_DF holds team\0hash(8) → count(8), RANK_META holds
 * team\0"df" → DfRecord. */

static void *rank_pb_alloc(void *data, size_t n)
{
    (void)data;
    return sw_malloc(n);
}

static void rank_pb_free(void *data, void *p)
{
    (void)data;
    sw_free(p);
}

static ProtobufCAllocator rank_pb_allocator = {rank_pb_alloc, rank_pb_free,
                                               NULL};

struct rank_df_loadarg {
    struct rank_df *df;
    const char *team_id;
};

static sw_err rank_df_scan_fn(const void *k, size_t klen, const void *v,
                              size_t vlen, void *arg)
{
    struct rank_df *df = arg;

    if (klen < 8 || vlen != 8)
        return SW_ECORRUPT;
    return rank__map_put(&df->counts, store_u64_get((const char *)k + klen - 8),
                         store_u64_get(v));
}

static sw_err rank_df_load_fn(store_txn *t, void *arg)
{
    struct rank_df_loadarg *a = arg;
    Snipwise__Rank__DfRecord *r = NULL;
    struct sw_buf key;
    const void *v;
    size_t vlen;
    sw_err rc;

    sw_buf_init(&key, 1024);
    rank__map_free(&a->df->counts);
    a->df->docs = 0;
    a->df->seq = 0;
    rc = store_key(&key, a->team_id, RANK_DF_KEY, strlen(RANK_DF_KEY));
    if (rc)
        goto out;
    rc = store_get(t, STORE_DB_RANK_META, sw_buf_str(&key), sw_buf_len(&key),
                   &v, &vlen);
    if (rc == SW_ENOTFOUND) {
        rc = SW_OK;
        goto out;
    }
    if (rc)
        goto out;
    r = snipwise__rank__df_record__unpack(&rank_pb_allocator, vlen, v);
    if (r == NULL) {
        rc = SW_ECORRUPT;
        goto out;
    }
    a->df->docs = r->docs;
    a->df->seq = r->seq;
    rc = store_key(&key, a->team_id, NULL, 0);
    if (rc)
        goto out;
    rc = store_scan(t, STORE_DB_RANK_DF, sw_buf_str(&key), sw_buf_len(&key),
                    NULL, 0, rank_df_scan_fn, a->df);
out:
    if (r)
        snipwise__rank__df_record__free_unpacked(r, &rank_pb_allocator);
    sw_buf_free(&key);
    return rc;
}

sw_err rank_df_load(store *s, const char *team_id, struct rank_df *df)
{
    struct rank_df_loadarg a = {df, team_id};
    sw_err rc;

    pthread_rwlock_wrlock(&df->lock);
    rc = store_view(s, rank_df_load_fn, &a);
    pthread_rwlock_unlock(&df->lock);
    return rc;
}

struct rank_df_flusharg {
    struct rank_df *df;
    const char *team_id;
    uint64_t seq;
};

static sw_err rank_df_flush_fn(store_txn *t, void *arg)
{
    struct rank_df_flusharg *a = arg;
    Snipwise__Rank__DfRecord r = SNIPWISE__RANK__DF_RECORD__INIT;
    const struct rank__map *d = &a->df->dirty;
    unsigned char buf[64], val[8];
    struct sw_buf key;
    size_t i, n;
    uint64_t c;
    sw_err rc = SW_OK;

    /* The team went (deleted, or moved to another node) while this was
     * being made: nothing of it may outlive the team. */
    if (store_team_exists_txn(t, a->team_id) == SW_ENOTFOUND)
        return SW_OK;
    sw_buf_init(&key, 1024);
    for (i = 0; i < d->cap; i++) {
        if (d->keys[i] == 0)
            continue;
        c = 0;
        (void)rank__map_get(&a->df->counts, d->keys[i], &c);
        rc = store_key(&key, a->team_id, NULL, 0);
        if (rc)
            goto out;
        rc = store_key_add_u64(&key, d->keys[i]);
        if (rc)
            goto out;
        store_u64_put(val, c);
        rc = store_put(t, STORE_DB_RANK_DF, sw_buf_str(&key), sw_buf_len(&key),
                       val, sizeof(val), 0);
        if (rc)
            goto out;
    }
    r.docs = a->df->docs;
    r.seq = a->seq;
    n = snipwise__rank__df_record__pack(&r, buf);
    rc = store_key(&key, a->team_id, RANK_DF_KEY, strlen(RANK_DF_KEY));
    if (rc)
        goto out;
    rc = store_put(t, STORE_DB_RANK_META, sw_buf_str(&key), sw_buf_len(&key),
                   buf, n, 0);
out:
    sw_buf_free(&key);
    return rc;
}

sw_err rank_df_flush(store *s, const char *team_id, struct rank_df *df,
                     uint64_t seq)
{
    struct rank_df_flusharg a = {df, team_id, seq};
    sw_err rc;

    /* Only the indexer writes df, so reading it under the read lock while
     * the transaction runs is safe. */
    pthread_rwlock_rdlock(&df->lock);
    rc = store_update(s, rank_df_flush_fn, &a);
    pthread_rwlock_unlock(&df->lock);
    if (rc)
        return rc;
    pthread_rwlock_wrlock(&df->lock);
    rank__map_free(&df->dirty);
    df->seq = seq;
    pthread_rwlock_unlock(&df->lock);
    return SW_OK;
}
