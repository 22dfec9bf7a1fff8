/* model: storage of ranking models (see model.h). Records are a version
 * byte and fixed-order fields: strings as be32 length + bytes, numbers as
 * be64 (doubles by their bit pattern), float arrays as raw little-endian
 * IEEE floats (the data never leaves the machine's store).
 *
 * Version 2 (the query adapter) appends to version 1's header the
 * adapter's holdout figures, and to its data a flag and the context
 * frequencies, then a flag and the adapter (dim, rank, U, V). Version 1
 * records still load: without an adapter, with zero figures. */
#include "ranker/model.h"

#include <string.h>
#include <time.h>

#include "base/sw_mem.h"
#include "base/sw_util.h"

#define RANK_MODEL_VERSION 2
#define RANK_MODEL_VERSION_V1 1
#define RANK_MODEL_KEY_MAX 512
#define RANK_MODEL_SERVING "serving"

/* --- encoding ---------------------------------------------------------- */

static sw_err rank_put_u64(struct sw_buf *b, uint64_t v)
{
    unsigned char x[8];

    store_u64_put(x, v);
    return sw_buf_add(b, x, 8);
}

static sw_err rank_put_f64(struct sw_buf *b, double d)
{
    uint64_t v;

    memcpy(&v, &d, 8);
    return rank_put_u64(b, v);
}

static sw_err rank_put_str(struct sw_buf *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    sw_err rc = rank_put_u64(b, n);

    if (rc == SW_OK && n)
        rc = sw_buf_add(b, s, n);
    return rc;
}

struct rank_rd {
    const unsigned char *p;
    size_t n;
    sw_err rc;
};

static uint64_t rank_get_u64(struct rank_rd *r)
{
    uint64_t v;

    if (r->rc || r->n < 8) {
        r->rc = SW_ECORRUPT;
        return 0;
    }
    v = store_u64_get(r->p);
    r->p += 8;
    r->n -= 8;
    return v;
}

static double rank_get_f64(struct rank_rd *r)
{
    uint64_t v = rank_get_u64(r);
    double d;

    memcpy(&d, &v, 8);
    return d;
}

static char *rank_get_str(struct rank_rd *r)
{
    uint64_t n = rank_get_u64(r);
    char *s;

    if (r->rc || n > r->n) {
        r->rc = SW_ECORRUPT;
        return NULL;
    }
    s = sw_strndup((const char *)r->p, (size_t)n);
    if (s == NULL) {
        r->rc = SW_ENOMEM;
        return NULL;
    }
    r->p += n;
    r->n -= n;
    return s;
}

static sw_err rank_get_floats(struct rank_rd *r, size_t count, float **out)
{
    size_t bytes = count * sizeof(float);

    if (r->rc)
        return r->rc;
    if (count && bytes / count != sizeof(float))
        return r->rc = SW_ECORRUPT;
    if (bytes > r->n)
        return r->rc = SW_ECORRUPT;
    *out = sw_malloc(bytes ? bytes : 1);
    if (*out == NULL)
        return r->rc = SW_ENOMEM;
    memcpy(*out, r->p, bytes);
    r->p += bytes;
    r->n -= bytes;
    return SW_OK;
}

static sw_err rank_eval_put(struct sw_buf *b, const struct rank_eval *e)
{
    sw_err rc = rank_put_f64(b, e->ndcg);

    if (rc == SW_OK)
        rc = rank_put_f64(b, e->recall);
    if (rc == SW_OK)
        rc = rank_put_f64(b, e->rate);
    if (rc == SW_OK)
        rc = rank_put_u64(b, (uint64_t)e->matched);
    if (rc == SW_OK)
        rc = rank_put_u64(b, (uint64_t)e->present);
    return rc;
}

static void rank_eval_get(struct rank_rd *r, struct rank_eval *e)
{
    e->ndcg = rank_get_f64(r);
    e->recall = rank_get_f64(r);
    e->rate = rank_get_f64(r);
    e->matched = (int64_t)rank_get_u64(r);
    e->present = (int)rank_get_u64(r);
}

static sw_err rank_header_enc(const struct rank_model *m, struct sw_buf *b)
{
    const struct rank_metrics *x = &m->metrics;
    sw_err rc = sw_buf_addc(b, RANK_MODEL_VERSION);
    int i;

    if (rc == SW_OK)
        rc = rank_put_str(b, m->version);
    if (rc == SW_OK)
        rc = rank_put_u64(b, (uint64_t)m->create_ms);
    if (rc == SW_OK)
        rc = rank_put_u64(b, (uint64_t)m->promote_ms);
    if (rc == SW_OK)
        rc = rank_eval_put(b, &x->model);
    for (i = 0; rc == SW_OK && i < 4; i++)
        rc = rank_eval_put(b, &x->base[i]);
    if (rc == SW_OK)
        rc = rank_put_u64(b, (uint64_t)x->holdout_threads);
    if (rc == SW_OK)
        rc = rank_put_u64(b, (uint64_t)x->holdout_outcomes);
    if (rc == SW_OK)
        rc = rank_put_u64(b, (uint64_t)x->train_threads);
    if (rc == SW_OK)
        rc = rank_put_str(b, m->report);
    if (rc == SW_OK)
        rc = rank_eval_put(b, &x->adapter.with);
    if (rc == SW_OK)
        rc = rank_eval_put(b, &x->adapter.sim_with);
    if (rc == SW_OK)
        rc = rank_put_u64(b, (uint64_t)x->adapter.pairs);
    if (rc == SW_OK)
        rc = rank_put_u64(b, (uint64_t)x->adapter.trained);
    if (rc == SW_OK)
        rc = rank_put_u64(b, (uint64_t)x->adapter.promoted);
    if (rc == SW_OK)
        rc = rank_put_u64(b, (uint64_t)x->adapter.passed);
    return rc;
}

static sw_err rank_header_dec(const void *v, size_t n, struct rank_model *m)
{
    struct rank_rd r = {(const unsigned char *)v + 1, n ? n - 1 : 0, SW_OK};
    struct rank_adapter_eval *ad = &m->metrics.adapter;
    char *ver;
    int i, vers = n ? ((const unsigned char *)v)[0] : 0;

    if (vers != RANK_MODEL_VERSION && vers != RANK_MODEL_VERSION_V1)
        return SW_ECORRUPT;
    ver = rank_get_str(&r);
    if (ver) {
        size_t l = strlen(ver);
        if (l >= sizeof(m->version))
            l = sizeof(m->version) - 1;
        memcpy(m->version, ver, l);
        m->version[l] = '\0';
        sw_free(ver);
    }
    m->create_ms = (int64_t)rank_get_u64(&r);
    m->promote_ms = (int64_t)rank_get_u64(&r);
    rank_eval_get(&r, &m->metrics.model);
    for (i = 0; i < 4; i++)
        rank_eval_get(&r, &m->metrics.base[i]);
    m->metrics.holdout_threads = (int64_t)rank_get_u64(&r);
    m->metrics.holdout_outcomes = (int64_t)rank_get_u64(&r);
    m->metrics.train_threads = (int64_t)rank_get_u64(&r);
    m->report = rank_get_str(&r);
    if (vers == RANK_MODEL_VERSION_V1)
        return r.rc; /* from before the adapter: its figures stay zero */
    rank_eval_get(&r, &ad->with);
    rank_eval_get(&r, &ad->sim_with);
    ad->pairs = (int64_t)rank_get_u64(&r);
    ad->trained = (int)rank_get_u64(&r);
    ad->promoted = (int)rank_get_u64(&r);
    ad->passed = (int)rank_get_u64(&r);
    return r.rc;
}

/* The context frequencies trail the data (a blob without them is a model
 * from before them): docs, the number of words, then (hash, count)
 * pairs. */
static sw_err rank_cdf_enc(const struct rank_df *df, struct sw_buf *b)
{
    const struct rank__map *c = &df->counts;
    size_t i;
    sw_err rc = rank_put_u64(b, df->docs);

    if (rc == SW_OK)
        rc = rank_put_u64(b, c->n + (c->has_zero ? 1 : 0));
    if (rc == SW_OK && c->has_zero) {
        rc = rank_put_u64(b, 0);
        if (rc == SW_OK)
            rc = rank_put_u64(b, c->zero_val);
    }
    for (i = 0; rc == SW_OK && i < c->cap; i++) {
        if (c->keys[i] == 0)
            continue;
        rc = rank_put_u64(b, c->keys[i]);
        if (rc == SW_OK)
            rc = rank_put_u64(b, c->vals[i]);
    }
    return rc;
}

static sw_err rank_cdf_dec(struct rank_rd *r, struct rank_model *m)
{
    uint64_t docs = rank_get_u64(r), n = rank_get_u64(r), i;
    sw_err rc;

    if (r->rc || n > r->n / 16)
        return r->rc ? r->rc : SW_ECORRUPT;
    rc = rank_df_new(&m->cdf);
    if (rc)
        return rc;
    m->cdf->docs = docs;
    for (i = 0; i < n && rc == SW_OK; i++) {
        uint64_t h = rank_get_u64(r), v = rank_get_u64(r);
        rc = r->rc ? r->rc : rank__map_put(&m->cdf->counts, h, v);
    }
    return rc;
}

/* The adapter: dim, rank, then U and V (dim × rank floats each). */
static sw_err rank_adapter_enc(const struct rank_adapter *a, struct sw_buf *b)
{
    size_t n = a->dim * (size_t)a->rank * sizeof(float);
    sw_err rc = rank_put_u64(b, a->dim);

    if (rc == SW_OK)
        rc = rank_put_u64(b, (uint64_t)a->rank);
    if (rc == SW_OK)
        rc = sw_buf_add(b, a->U, n);
    if (rc == SW_OK)
        rc = sw_buf_add(b, a->V, n);
    return rc;
}

static sw_err rank_adapter_dec(struct rank_rd *r, struct rank_model *m)
{
    uint64_t dim = rank_get_u64(r), rank = rank_get_u64(r);
    struct rank_adapter *a = NULL;
    float *U = NULL, *V = NULL;
    sw_err rc;

    /* The adapter maps the model's embedder's vectors: the same dim. */
    if (r->rc || dim != m->dim || rank < 1 || rank > RANK_ADAPTER_RANK_MAX)
        return r->rc ? r->rc : SW_ECORRUPT;
    rc = rank_get_floats(r, (size_t)dim * (size_t)rank, &U);
    if (rc == SW_OK)
        rc = rank_get_floats(r, (size_t)dim * (size_t)rank, &V);
    if (rc == SW_OK)
        rc = rank_adapter_new((size_t)dim, (int)rank, &a);
    if (rc == SW_OK) {
        sw_free(a->U);
        sw_free(a->V);
        a->U = U;
        a->V = V;
        U = V = NULL;
        m->adapter = a;
    }
    sw_free(U);
    sw_free(V);
    return rc;
}

static sw_err rank_data_enc(const struct rank_model *m, struct sw_buf *b)
{
    sw_err rc = sw_buf_addc(b, RANK_MODEL_VERSION);
    size_t i;

    if (rc == SW_OK)
        rc = rank_put_u64(b, (uint64_t)m->k);
    if (rc == SW_OK)
        rc = rank_put_u64(b, m->dim);
    if (rc == SW_OK)
        rc = rank_put_f64(b, m->lambda);
    if (rc == SW_OK)
        rc = rank_put_f64(b, m->scale);
    if (rc == SW_OK)
        rc = rank_put_u64(b, m->nitems);
    for (i = 0; rc == SW_OK && i < m->nitems; i++)
        rc = rank_put_str(b, m->item_ids[i]);
    if (rc == SW_OK)
        rc = sw_buf_add(b, m->Y, m->nitems * (size_t)m->k * sizeof(float));
    if (rc == SW_OK)
        rc = rank_put_u64(b, m->nthreads);
    for (i = 0; rc == SW_OK && i < m->nthreads; i++)
        rc = rank_put_u64(b, m->thread_hash[i]);
    if (rc == SW_OK && m->nthreads)
        rc = sw_buf_add(b, m->emb, m->nthreads * m->dim * sizeof(float));
    if (rc == SW_OK && m->nthreads)
        rc = sw_buf_add(b, m->X, m->nthreads * (size_t)m->k * sizeof(float));
    if (rc == SW_OK)
        rc = rank_put_u64(b, m->cdf != NULL);
    if (rc == SW_OK && m->cdf)
        rc = rank_cdf_enc(m->cdf, b);
    if (rc == SW_OK)
        rc = rank_put_u64(b, m->adapter != NULL);
    if (rc == SW_OK && m->adapter)
        rc = rank_adapter_enc(m->adapter, b);
    return rc;
}

static uint64_t rank_model_hash(const char *s)
{
    return rank__hash64(s, strlen(s), 0x31);
}

static sw_err rank_data_dec(const void *v, size_t n, struct rank_model *m)
{
    struct rank_rd r = {(const unsigned char *)v + 1, n ? n - 1 : 0, SW_OK};
    uint64_t ni, nt;
    size_t i;
    int vers = n ? ((const unsigned char *)v)[0] : 0;

    if (vers != RANK_MODEL_VERSION && vers != RANK_MODEL_VERSION_V1)
        return SW_ECORRUPT;
    m->k = (int)rank_get_u64(&r);
    m->dim = (size_t)rank_get_u64(&r);
    m->lambda = rank_get_f64(&r);
    m->scale = rank_get_f64(&r);
    ni = rank_get_u64(&r);
    /* k == 0 is a model without collaborative factors (too little
     * history when it was built): priors only. */
    if (r.rc || m->k < 0 || m->k > 256 || m->dim > 4096 || ni > r.n)
        return SW_ECORRUPT;
    m->item_ids = sw_calloc(ni + 1, sizeof(*m->item_ids));
    if (m->item_ids == NULL)
        return SW_ENOMEM;
    for (i = 0; i < ni && r.rc == SW_OK; i++) {
        m->item_ids[i] = rank_get_str(&r);
        m->nitems = i + 1;
        if (r.rc == SW_OK)
            r.rc =
                rank__map_put(&m->by_item, rank_model_hash(m->item_ids[i]), i);
    }
    rank_get_floats(&r, (size_t)ni * (size_t)m->k, &m->Y);
    nt = rank_get_u64(&r);
    if (r.rc || nt > r.n)
        return r.rc ? r.rc : SW_ECORRUPT;
    m->thread_hash = sw_calloc(nt + 1, sizeof(*m->thread_hash));
    if (m->thread_hash == NULL)
        return SW_ENOMEM;
    for (i = 0; i < nt; i++)
        m->thread_hash[i] = rank_get_u64(&r);
    m->nthreads = (size_t)nt;
    rank_get_floats(&r, (size_t)nt * m->dim, &m->emb);
    rank_get_floats(&r, (size_t)nt * (size_t)m->k, &m->X);
    if (r.rc == SW_OK)
        r.rc = rank_model_quantize(m);
    if (r.rc)
        return r.rc;
    if (vers == RANK_MODEL_VERSION_V1) /* the frequencies trail, if any */
        return r.n > 0 ? rank_cdf_dec(&r, m) : SW_OK;
    if (rank_get_u64(&r) && r.rc == SW_OK)
        r.rc = rank_cdf_dec(&r, m);
    if (r.rc == SW_OK && rank_get_u64(&r) && r.rc == SW_OK)
        r.rc = rank_adapter_dec(&r, m);
    if (r.rc == SW_OK && r.n != 0)
        r.rc = SW_ECORRUPT;
    return r.rc;
}

/* --- keys ------------------------------------------------------------------
 */

static sw_err rank_model_key(struct sw_buf *b, const char *team, uint64_t seq)
{
    sw_err rc = store_key(b, team, NULL, 0);

    if (rc == SW_OK)
        rc = store_key_add_u64(b, UINT64_MAX - seq);
    return rc;
}

static sw_err rank_blob_key(struct sw_buf *b, const char *team, uint64_t seq)
{
    sw_err rc = store_key(b, team, NULL, 0);

    if (rc == SW_OK)
        rc = store_key_add_u64(b, seq);
    return rc;
}

/* --- API -------------------------------------------------------------------
 */

sw_err rank_model_quantize(struct rank_model *m)
{
    size_t t;

    sw_free(m->embq);
    sw_free(m->embq_scale);
    m->embq_scale = NULL;
    m->embq = sw_malloc(m->nthreads * m->dim + 1);
    m->embq_scale = sw_calloc(m->nthreads + 1, sizeof(*m->embq_scale));
    if (m->embq == NULL || m->embq_scale == NULL) {
        sw_free(m->embq);
        sw_free(m->embq_scale);
        m->embq = NULL;
        m->embq_scale = NULL;
        return SW_ENOMEM;
    }
    for (t = 0; t < m->nthreads; t++)
        m->embq_scale[t] =
            rank__quantize(m->emb + t * m->dim, m->dim, m->embq + t * m->dim);
    return SW_OK;
}

void rank_model_free(struct rank_model **mp)
{
    struct rank_model *m;
    size_t i;

    if (mp == NULL || *mp == NULL)
        return;
    m = *mp;
    sw_free(m->report);
    for (i = 0; m->item_ids && i < m->nitems; i++)
        sw_free(m->item_ids[i]);
    sw_free(m->item_ids);
    sw_free(m->Y);
    rank__map_free(&m->by_item);
    sw_free(m->thread_hash);
    sw_free(m->emb);
    sw_free(m->embq);
    sw_free(m->embq_scale);
    sw_free(m->X);
    rank_df_destroy(&m->cdf);
    rank_adapter_free(&m->adapter);
    sw_free(m);
    *mp = NULL;
}

long rank_model_item(const struct rank_model *m, const char *id)
{
    uint64_t v;

    if (m == NULL || m->item_ids == NULL ||
        !rank__map_get(&m->by_item, rank_model_hash(id), &v) ||
        strcmp(m->item_ids[v], id) != 0)
        return -1;
    return (long)v;
}

sw_err rank_model_save(store_txn *t, const char *team, struct rank_model *m)
{
    struct sw_buf k, v;
    struct tm tm;
    time_t secs;
    uint64_t seq;
    sw_err rc;

    if (t == NULL || team == NULL || !team[0] || m == NULL)
        return SW_EINVAL;
    sw_buf_init(&k, RANK_MODEL_KEY_MAX);
    sw_buf_init(&v, (size_t)1 << 36);
    rc = store_seq_next(t, team, "model", &seq);
    if (rc)
        goto out;
    m->seq = seq;
    secs = (time_t)(m->create_ms / 1000);
    gmtime_r(&secs, &tm);
    if (strftime(m->version, sizeof(m->version), "%Y%m%dT%H%M%SZ", &tm) == 0)
        m->version[0] = '\0';
    {
        size_t l = strlen(m->version);
        struct sw_buf vb;
        sw_buf_init(&vb, sizeof(m->version));
        rc = sw_buf_printf(&vb, "%s-%llu", m->version, (unsigned long long)seq);
        if (rc == SW_OK && sw_buf_len(&vb) < sizeof(m->version))
            memcpy(m->version, sw_buf_str(&vb), sw_buf_len(&vb) + 1);
        (void)l;
        sw_buf_free(&vb);
        if (rc)
            goto out;
    }
    rc = rank_header_enc(m, &v);
    if (rc == SW_OK)
        rc = rank_model_key(&k, team, seq);
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_RANK_MODELS, sw_buf_str(&k), sw_buf_len(&k),
                       sw_buf_str(&v), sw_buf_len(&v), STORE_NOOVERWRITE);
    if (rc)
        goto out;
    sw_buf_reset(&v);
    rc = rank_data_enc(m, &v);
    if (rc == SW_OK)
        rc = rank_blob_key(&k, team, seq);
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_RANK_BLOBS, sw_buf_str(&k), sw_buf_len(&k),
                       sw_buf_str(&v), sw_buf_len(&v), 0);
out:
    sw_buf_free(&k);
    sw_buf_free(&v);
    return rc;
}

sw_err rank_model_serving(store_txn *t, const char *team, uint64_t *seq)
{
    struct sw_buf k;
    const void *v;
    size_t vl;
    sw_err rc;

    sw_buf_init(&k, RANK_MODEL_KEY_MAX);
    rc = store_key(&k, team, RANK_MODEL_SERVING, strlen(RANK_MODEL_SERVING));
    if (rc == SW_OK)
        rc = store_get(t, STORE_DB_RANK_MODELS, sw_buf_str(&k), sw_buf_len(&k),
                       &v, &vl);
    if (rc == SW_OK && vl != 8)
        rc = SW_ECORRUPT;
    if (rc == SW_OK)
        *seq = store_u64_get(v);
    sw_buf_free(&k);
    return rc;
}

sw_err rank_model_promote(store_txn *t, const char *team, uint64_t seq,
                          int64_t now_ms)
{
    struct rank_model *m = NULL;
    struct sw_buf k, v;
    unsigned char sb[8];
    sw_err rc;

    sw_buf_init(&k, RANK_MODEL_KEY_MAX);
    sw_buf_init(&v, (size_t)1 << 30);
    rc = rank_model_load(t, team, seq, 0, &m);
    if (rc)
        goto out;
    m->promote_ms = now_ms;
    rc = rank_header_enc(m, &v);
    if (rc == SW_OK)
        rc = rank_model_key(&k, team, seq);
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_RANK_MODELS, sw_buf_str(&k), sw_buf_len(&k),
                       sw_buf_str(&v), sw_buf_len(&v), 0);
    if (rc == SW_OK)
        rc =
            store_key(&k, team, RANK_MODEL_SERVING, strlen(RANK_MODEL_SERVING));
    store_u64_put(sb, seq);
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_RANK_MODELS, sw_buf_str(&k), sw_buf_len(&k),
                       sb, 8, 0);
out:
    rank_model_free(&m);
    sw_buf_free(&k);
    sw_buf_free(&v);
    return rc;
}

sw_err rank_model_load(store_txn *t, const char *team, uint64_t seq,
                       int with_data, struct rank_model **out)
{
    struct rank_model *m;
    struct sw_buf k;
    const void *v;
    size_t vl;
    uint64_t serving = 0;
    sw_err rc;

    if (t == NULL || team == NULL || !team[0] || out == NULL)
        return SW_EINVAL;
    m = sw_calloc(1, sizeof(*m));
    if (m == NULL)
        return SW_ENOMEM;
    sw_buf_init(&k, RANK_MODEL_KEY_MAX);
    m->seq = seq;
    rc = rank_model_key(&k, team, seq);
    if (rc == SW_OK)
        rc = store_get(t, STORE_DB_RANK_MODELS, sw_buf_str(&k), sw_buf_len(&k),
                       &v, &vl);
    if (rc == SW_OK)
        rc = rank_header_dec(v, vl, m);
    if (rc == SW_OK) {
        rc = rank_model_serving(t, team, &serving);
        if (rc == SW_ENOTFOUND)
            rc = SW_OK;
        m->promoted = serving == seq;
    }
    if (rc == SW_OK && with_data) {
        rc = rank_blob_key(&k, team, seq);
        if (rc == SW_OK)
            rc = store_get(t, STORE_DB_RANK_BLOBS, sw_buf_str(&k),
                           sw_buf_len(&k), &v, &vl);
        if (rc == SW_OK)
            rc = rank_data_dec(v, vl, m);
    }
    sw_buf_free(&k);
    if (rc) {
        rank_model_free(&m);
        return rc;
    }
    *out = m;
    return SW_OK;
}

struct rank_list_arg {
    size_t plen, max, n;
    uint64_t *seqs;
    int more;
    const char *want; /* by_version */
    uint64_t found;
};

static sw_err rank_list_cb(const void *k, size_t kl, const void *v, size_t vl,
                           void *arg)
{
    struct rank_list_arg *a = arg;

    (void)v;
    (void)vl;
    if (kl != a->plen + 8)
        return SW_OK; /* the serving pointer */
    if (a->n == a->max) {
        a->more = 1;
        return STORE_SCAN_STOP;
    }
    a->seqs[a->n++] =
        UINT64_MAX - store_u64_get((const unsigned char *)k + a->plen);
    return SW_OK;
}

sw_err rank_model_list(store_txn *t, const char *team, uint64_t before_seq,
                       size_t max, uint64_t *seqs, size_t *n, int *more)
{
    struct rank_list_arg a;
    struct sw_buf p, s;
    sw_err rc;

    if (t == NULL || team == NULL || !team[0] || seqs == NULL)
        return SW_EINVAL;
    memset(&a, 0, sizeof(a));
    sw_buf_init(&p, RANK_MODEL_KEY_MAX);
    sw_buf_init(&s, RANK_MODEL_KEY_MAX);
    a.max = max;
    a.seqs = seqs;
    rc = store_key(&p, team, NULL, 0);
    a.plen = sw_buf_len(&p);
    if (rc == SW_OK && before_seq)
        rc = rank_model_key(&s, team, before_seq);
    if (rc == SW_OK)
        rc = store_scan(t, STORE_DB_RANK_MODELS, sw_buf_str(&p), sw_buf_len(&p),
                        before_seq ? sw_buf_str(&s) : NULL, sw_buf_len(&s),
                        rank_list_cb, &a);
    if (rc == SW_OK) {
        *n = a.n;
        *more = a.more;
    }
    sw_buf_free(&p);
    sw_buf_free(&s);
    return rc;
}

sw_err rank_model_by_version(store_txn *t, const char *team,
                             const char *version, uint64_t *seq)
{
    const char *dash = strrchr(version, '-');
    struct rank_model *m = NULL;
    int64_t v;
    sw_err rc;

    if (dash == NULL ||
        sw_parse_i64(dash + 1, strlen(dash + 1), 1, INT64_MAX, &v) != SW_OK)
        return SW_ENOTFOUND;
    rc = rank_model_load(t, team, (uint64_t)v, 0, &m);
    if (rc == SW_OK && strcmp(m->version, version) != 0)
        rc = SW_ENOTFOUND;
    rank_model_free(&m);
    if (rc == SW_OK)
        *seq = (uint64_t)v;
    return rc;
}

sw_err rank_model_prune(store_txn *t, const char *team, size_t keep)
{
    uint64_t seqs[256], serving = 0;
    struct sw_buf k;
    size_t n = 0, i;
    int more = 0;
    sw_err rc;

    rc = rank_model_serving(t, team, &serving);
    if (rc == SW_ENOTFOUND)
        rc = SW_OK;
    if (rc == SW_OK)
        rc = rank_model_list(t, team, 0, 256, seqs, &n, &more);
    if (rc)
        return rc;
    sw_buf_init(&k, RANK_MODEL_KEY_MAX);
    for (i = keep; i < n && rc == SW_OK; i++) {
        if (seqs[i] == serving)
            continue;
        rc = rank_blob_key(&k, team, seqs[i]);
        if (rc == SW_OK) {
            rc = store_del(t, STORE_DB_RANK_BLOBS, sw_buf_str(&k),
                           sw_buf_len(&k));
            if (rc == SW_ENOTFOUND)
                rc = SW_OK;
        }
    }
    sw_buf_free(&k);
    return rc;
}
