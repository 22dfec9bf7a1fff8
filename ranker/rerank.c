/* rerank: the nightly job (see rerank.h): split, train the model and the
 * query adapter, evaluate, refit, report, store and promote. */
#include "ranker/rerank.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ranker/als.h"
#include "ranker/feedback.h"
#include "ranker/suggest_int.h"
#include "ranker/verdict.h"
#include "store/store_snippet.h"
#include "store/store_tenant.h"

#define RANK_ALS_ALPHA 4.0
#define RANK_EVAL_K 10

struct rank_job {
    store *s;
    rank_ranker *r;
    const char *team;
    const struct rank_params *p;
    const struct rank_rerank_opts *o;
    rank_progress_fn progress;
    void *arg;
    struct rank_hist *all, *train;
    struct rank_model *current; /* with data, or NULL */
    /* The previous run's stored model (header only), promoted or not: the
     * adapter's two-night rule asks whether that run passed. */
    struct rank_model *last;
    int64_t cutoff_ms;
    size_t dim;
    /* Relevance as Suggest sees it (rank_eval_rel): the index's k nearest
     * snippets of a query, k as Suggest's, into labels and dists. */
    size_t k;
    uint64_t *labels;
    float *dists;
    size_t eval_of;               /* mature holdout threads (before sampling) */
    struct rank_adapter *adapter; /* learnt on the training split, or NULL */
    struct rank_verdicts *verdicts; /* dismissals and thumbs by thread */
    /* The holdout thread's accounts as the training history knows them
     * (rank_eval_accounts), for Suggest's account term. */
    uint32_t tacc[RANK_SUGGEST_ACCOUNTS];
    size_t ntacc;
    int acc_on; /* the team knows them well enough (account_min_mature) */
};

/* The evaluation scores at most this many holdout threads, an even sample
 * in canonical order beyond that: its cost per thread is a fold-in over up
 * to 20,000 stored contexts per model, and 2,000 threads already pin
 * NDCG@10 to about ±0.01. */
#define RANK_EVAL_MAX 2000

static sw_err rank_job_step(struct rank_job *j, const char *phase, double f,
                            const char *msg)
{
    sw_log_info("rerank.progress", "team=%s phase=%s fraction=%.2f msg=\"%s\"",
                j->team, phase, f, msg);
    if (j->progress && j->progress(phase, f, msg, j->arg))
        return SW_ECANCELLED;
    return SW_OK;
}

static int rank_i64_cmp(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;

    return a < b ? -1 : a > b;
}

static sw_err rank_job_read(store_txn *t, void *arg)
{
    struct rank_job *j = arg;
    int64_t *firsts = NULL;
    size_t i, n = 0;
    uint64_t seq;
    sw_err rc;

    rank_hist_free(&j->all);
    rank_hist_free(&j->train);
    rank_model_free(&j->current);
    rc = rank_hist_build(t, j->team, j->p, 0, &j->all);
    if (rc)
        return rc;
    firsts = sw_calloc(j->all->nthreads + 1, sizeof(*firsts));
    if (firsts == NULL)
        return SW_ENOMEM;
    for (i = 0; i < j->all->nthreads; i++)
        if (j->all->threads[i].first_out_ms)
            firsts[n++] = j->all->threads[i].first_out_ms;
    qsort(firsts, n, sizeof(*firsts), rank_i64_cmp);
    /* The last fifth of the threads (by first outbound mail) is held out. */
    j->cutoff_ms = n >= 5 ? firsts[n - n / 5] : INT64_MAX;
    if (n > 0 && firsts[0] >= j->cutoff_ms)
        j->cutoff_ms = INT64_MAX; /* one instant: nothing to hold out */
    sw_free(firsts);
    rc = rank_hist_build(t, j->team, j->p, j->cutoff_ms, &j->train);
    if (rc)
        return rc;
    rank_verdicts_free(&j->verdicts);
    if (!j->o->no_adapter)
        rc = rank_verdicts_read(t, j->team, &j->verdicts);
    if (rc)
        return rc;
    rank_model_free(&j->last);
    {
        uint64_t newest = 0;
        size_t nl = 0;
        int more = 0;

        rc = rank_model_list(t, j->team, 0, 1, &newest, &nl, &more);
        if (rc == SW_OK && nl == 1)
            rc = rank_model_load(t, j->team, newest, 0, &j->last);
        if (rc)
            return rc;
    }
    rc = rank_model_serving(t, j->team, &seq);
    if (rc == SW_ENOTFOUND)
        return SW_OK;
    if (rc == SW_OK)
        rc = rank_model_load(t, j->team, seq, 1, &j->current);
    if (rc == SW_ENOTFOUND) /* its data was pruned: compare without it */
        rc = SW_OK;
    return rc;
}

/* rank_embed_ctx embeds a context with the document frequencies df
 * (NULL: the team's); a context without words gets zeros. */
static sw_err rank_embed_ctx(struct rank_job *j, struct rank_df *df,
                             const char *s, float *out)
{
    sw_err rc = rank_ranker_embed_df(j->r, j->team, df, s, strlen(s), out);

    if (rc == SW_EINVAL) {
        memset(out, 0, j->dim * sizeof(*out));
        rc = SW_OK;
    }
    return rc;
}

/* Canonical orders for ALS. Threads, items and uses are numbered in the
 * order the store lists them (by random id), which differs between two
 * stores with the same history; floating-point sums in ALS follow that
 * order, and over its iterations the difference grows to the third digit.
 * So rows are threads sorted by when they started and what they say,
 * columns items sorted by kind and title, and cells by (row, column). */
struct rank_ckey {
    uint32_t idx;
    int64_t ms;
    int kind;
    const char *text;
    const char *id; /* last resort: two identical threads or items */
};

static int rank_ckey_cmp(const void *x, const void *y)
{
    const struct rank_ckey *a = x, *b = y;
    int c;

    if (a->ms != b->ms)
        return a->ms < b->ms ? -1 : 1;
    if (a->kind != b->kind)
        return a->kind < b->kind ? -1 : 1;
    c = strcmp(a->text ? a->text : "", b->text ? b->text : "");
    if (c)
        return c;
    return strcmp(a->id ? a->id : "", b->id ? b->id : "");
}

static int rank_cell_cmp(const void *x, const void *y)
{
    const struct rank_als_cell *a = x, *b = y;

    if (a->row != b->row)
        return a->row < b->row ? -1 : 1;
    if (a->col != b->col)
        return a->col < b->col ? -1 : 1;
    if (a->pref != b->pref)
        return a->pref < b->pref ? -1 : 1;
    return a->conf < b->conf ? -1 : a->conf > b->conf;
}

/* rank_train fits ALS on h's mature uses and fills m's collaborative data
 * with the most recent max threads for fold-in. */
static sw_err rank_train(struct rank_job *j, const struct rank_hist *h,
                         struct rank_model *m)
{
    struct rank_als_cell *cells = NULL;
    struct rank_als_opts ao;
    struct rank_ckey *keys = NULL;
    uint64_t *colseed = NULL;
    double *X = NULL, *Y = NULL, ss = 0.0;
    uint32_t *rowof = NULL, *threadof = NULL, *colof = NULL;
    size_t nrows = 0, ncells = 0, i, d, keep, first;
    size_t maxt = j->o->max_threads ? j->o->max_threads : 20000;
    int k = 0;
    sw_err rc = SW_ENOMEM;

    rowof = sw_malloc((h->nthreads + 1) * sizeof(*rowof));
    threadof = sw_malloc((h->nthreads + 1) * sizeof(*threadof));
    cells = sw_calloc(h->nuses + 1, sizeof(*cells));
    colof = sw_malloc((h->nitems + 1) * sizeof(*colof));
    keys = sw_calloc((h->nthreads > h->nitems ? h->nthreads : h->nitems) + 1,
                     sizeof(*keys));
    if (!rowof || !threadof || !cells || !colof || !keys)
        goto out;
    for (i = 0; i < h->nthreads; i++)
        rowof[i] = UINT32_MAX;
    for (i = 0; i < h->nuses; i++) {
        const struct rank_use *u = &h->uses[i];
        const struct rank_hthread *t = &h->threads[u->thread];
        if (!u->mature || rowof[u->thread] != UINT32_MAX)
            continue;
        rowof[u->thread] = 0;
        keys[nrows].idx = u->thread;
        keys[nrows].ms = t->first_out_ms;
        keys[nrows].text = t->context;
        keys[nrows++].id = t->id;
    }
    qsort(keys, nrows, sizeof(*keys), rank_ckey_cmp);
    for (i = 0; i < nrows; i++) {
        threadof[i] = keys[i].idx;
        rowof[keys[i].idx] = (uint32_t)i;
    }
    memset(keys, 0, h->nitems * sizeof(*keys));
    for (i = 0; i < h->nitems; i++) {
        keys[i].idx = (uint32_t)i;
        keys[i].kind = h->items[i].kind;
        keys[i].text = h->items[i].key;
        keys[i].id = h->items[i].id;
    }
    if (h->nitems)
        qsort(keys, h->nitems, sizeof(*keys), rank_ckey_cmp);
    for (i = 0; i < h->nitems; i++)
        colof[keys[i].idx] = (uint32_t)i;
    for (i = 0; i < h->nuses; i++) {
        const struct rank_use *u = &h->uses[i];
        struct rank_als_cell *c;
        if (!u->mature)
            continue;
        c = &cells[ncells++];
        c->row = rowof[u->thread];
        c->col = colof[u->item];
        c->pref = u->value > 0 ? 1.0 : 0.0;
        c->conf = 1.0 + RANK_ALS_ALPHA *
                            (u->value > 0 ? u->value : 0.5 + fabs(u->value));
    }
    m->k = 0;
    m->dim = j->dim;
    m->lambda = 0.1;
    m->scale = 1.0;
    if (nrows == 0 || h->nitems == 0) {
        rc = SW_OK;
        goto out;
    }
    memset(&ao, 0, sizeof(ao));
    /* Few factors for few items: with k near the item count ALS memorises
     * each thread's cells instead of generalising across threads. */
    ao.factors = h->nitems / 4 < 2    ? 2
                 : h->nitems / 4 > 16 ? 16
                                      : (int)(h->nitems / 4);
    ao.iters = 12;
    ao.lambda = m->lambda;
    /* Initial factors per item from what the item is (its title), not from
     * its position or id, which vary between stores with the same history:
     * the same history then gives the same model. */
    colseed = sw_calloc(h->nitems, sizeof(*colseed));
    if (colseed == NULL)
        goto out;
    for (i = 0; i < h->nitems; i++) {
        const char *t = h->items[i].key;
        colseed[colof[i]] = rank__hash64(t, strlen(t), h->seqs[0] ^ h->seqs[2]);
    }
    if (ncells)
        qsort(cells, ncells, sizeof(*cells), rank_cell_cmp);
    ao.seed = h->seqs[0] ^ h->seqs[2];
    ao.col_seeds = colseed;
    rc = rank_als_fit(nrows, h->nitems, cells, ncells, &ao, &X, &Y, &k);
    if (rc)
        goto out;
    for (i = 0; i < ncells; i++) {
        double s = 0;
        for (d = 0; d < (size_t)k; d++)
            s += X[(size_t)cells[i].row * k + d] *
                 Y[(size_t)cells[i].col * k + d];
        ss += s * s;
    }
    m->k = k;
    m->scale = ncells ? sqrt(ss / (double)ncells) : 1.0;
    if (!(m->scale > 1e-6))
        m->scale = 1.0;
    rc = SW_ENOMEM;
    m->nitems = h->nitems;
    m->item_ids = sw_calloc(h->nitems + 1, sizeof(*m->item_ids));
    m->Y = sw_calloc(h->nitems * (size_t)k + 1, sizeof(*m->Y));
    if (!m->item_ids || !m->Y)
        goto out;
    for (i = 0; i < h->nitems; i++) {
        m->item_ids[i] = sw_strdup(h->items[i].id);
        if (m->item_ids[i] == NULL)
            goto out;
        if (rank__map_put(
                &m->by_item,
                rank__hash64(h->items[i].id, strlen(h->items[i].id), 0x31), i))
            goto out;
        for (d = 0; d < (size_t)k; d++)
            m->Y[i * k + d] = (float)Y[(size_t)colof[i] * k + d];
    }
    /* Fold-in neighbours: the most recent rows (rows are sorted by when
     * their thread started, so keep the last ones). */
    keep = nrows < maxt ? nrows : maxt;
    first = nrows - keep;
    m->nthreads = keep;
    m->thread_hash = sw_calloc(keep + 1, sizeof(*m->thread_hash));
    m->emb = sw_calloc(keep * j->dim + 1, sizeof(*m->emb));
    m->X = sw_calloc(keep * (size_t)k + 1, sizeof(*m->X));
    if (!m->thread_hash || !m->emb || !m->X)
        goto out;
    rc = rank_df_new(&m->cdf);
    if (rc)
        goto out;
    /* Contexts are compared with each other, not with snippets: their
     * words weigh by how common they are among contexts. */
    for (i = 0; i < keep; i++) {
        const char *c = h->threads[threadof[first + i]].context;
        rc = rank_df_observe(m->cdf, c, strlen(c));
        if (rc)
            goto out;
    }
    rank__map_free(&m->cdf->dirty);
    for (i = 0; i < keep; i++) {
        const struct rank_hthread *t = &h->threads[threadof[first + i]];
        m->thread_hash[i] = t->hash;
        rc = rank_embed_ctx(j, m->cdf, t->context, m->emb + i * j->dim);
        if (rc)
            goto out;
        for (d = 0; d < (size_t)k; d++)
            m->X[i * k + d] = (float)X[(first + i) * k + d];
    }
    rc = rank_model_quantize(m);
out:
    sw_free(colseed);
    sw_free(cells);
    sw_free(colof);
    sw_free(keys);
    sw_free(rowof);
    sw_free(threadof);
    sw_free(X);
    sw_free(Y);
    return rc;
}

/* --- the query adapter ------------------------------------------------------
 */

static int rank_pair_cmp(const void *x, const void *y)
{
    const struct rank_adapter_pair *a = x, *b = y;

    if (a->q != b->q)
        return a->q < b->q ? -1 : 1;
    if (a->item != b->item)
        return a->item < b->item ? -1 : 1;
    if (a->negative != b->negative)
        return a->negative - b->negative;
    return a->w < b->w ? -1 : a->w > b->w;
}

/* Snippets whose vectors rank_item_vectors reads from the index at once. */
#define RANK_VEC_CHUNK 512

/* rank_item_vectors writes to S row colof[i] the vector item i of h stands
 * for in Suggest: the normalised mean of the vectors the team's index
 * holds for its snippets (a framing family's own; a content item's
 * passages and the framings that introduce it), the ones its searches
 * compare queries with. Only snippets written before before count (the
 * training split knows nothing later). An item none of whose snippets
 * counts gets its title's embedding. */
static sw_err rank_item_vectors(struct rank_job *j, const struct rank_hist *h,
                                int64_t before, const uint32_t *colof, float *S)
{
    uint64_t labels[RANK_VEC_CHUNK];
    uint32_t of[RANK_VEC_CHUNK][2];
    unsigned char found[RANK_VEC_CHUNK];
    float *vecs = NULL;
    uint32_t *cnt = NULL;
    size_t i, n, c, dim = j->dim;
    sw_err rc = SW_ENOMEM;

    vecs = sw_calloc(RANK_VEC_CHUNK * dim, sizeof(*vecs));
    cnt = sw_calloc(h->nitems + 1, sizeof(*cnt));
    if (!vecs || !cnt)
        goto out;
    memset(S, 0, h->nitems * dim * sizeof(*S));
    rc = SW_OK;
    for (i = 0; rc == SW_OK && i < h->nsnips;) {
        for (n = 0; i < h->nsnips && n < RANK_VEC_CHUNK; i++) {
            const struct rank_hsnip *sn = &h->snips[i];
            of[n][0] =
                sn->kind == STORE_SNIPPET_FRAMING ? sn->item : UINT32_MAX;
            of[n][1] = sn->content;
            if (sn->create_ms >= before)
                continue;
            if (of[n][0] != UINT32_MAX || of[n][1] != UINT32_MAX)
                labels[n++] = sn->label;
        }
        rc = rank_ranker_vectors(j->r, j->team, labels, n, vecs, found);
        for (c = 0; rc == SW_OK && c < n * 2; c++) {
            uint32_t it = of[c / 2][c % 2];
            if (!found[c / 2] || it == UINT32_MAX)
                continue;
            cblas_saxpy((int)dim, 1.0f, vecs + (c / 2) * dim, 1,
                        S + (size_t)colof[it] * dim, 1);
            cnt[it]++;
        }
    }
    for (i = 0; rc == SW_OK && i < h->nitems; i++) {
        float *row = S + (size_t)colof[i] * dim, nrm;
        if (cnt[i] == 0) {
            rc = rank_embed_ctx(j, NULL, h->items[i].title, row);
            continue;
        }
        nrm = cblas_snrm2((int)dim, row, 1);
        if (nrm > 0)
            cblas_sscal((int)dim, 1.0f / nrm, row, 1);
    }
out:
    sw_free(vecs);
    sw_free(cnt);
    return rc;
}

/* The weights of reps' verdicts as adapter pairs (rank_verdict_pairs). */
#define RANK_VERDICT_W_DISMISSED 0.5
#define RANK_VERDICT_W_THUMBS_DOWN 1.0
#define RANK_VERDICT_W_THUMBS_UP 0.5

/* rank_verdict_pairs resolves j's verdicts against h: vt[n] and vi[n]
 * get the thread and the item of each verdict that counts, vk[n] its
 * kind, and *nv their number (vt, vi and vk hold j->verdicts->n). A
 * verdict counts when its thread is one of h's outbound threads and its
 * target one of h's items (a framing snippet: its family; not a bare
 * introduction); for the training split, only verdicts given and
 * threads started before the split (the holdout's stay unseen). */
static sw_err rank_verdict_pairs(struct rank_job *j, const struct rank_hist *h,
                                 uint32_t *vt, uint32_t *vi, int *vk,
                                 size_t *nv)
{
    const struct rank_verdicts *V = j->verdicts;
    int64_t before = h == j->train ? j->cutoff_ms : INT64_MAX;
    struct rank__map bysnip = {0};
    size_t i;
    sw_err rc = SW_OK;

    *nv = 0;
    if (V == NULL || V->n == 0)
        return SW_OK;
    for (i = 0; rc == SW_OK && i < h->nsnips; i++) {
        const struct rank_hsnip *sn = &h->snips[i];
        if (sn->kind == STORE_SNIPPET_FRAMING && sn->item != UINT32_MAX)
            rc = rank__map_put(&bysnip,
                               rank__hash64(sn->id, strlen(sn->id), 0x5717),
                               sn->item);
    }
    for (i = 0; rc == SW_OK && i < V->n; i++) {
        const struct rank_verdict *v = &V->v[i];
        long th = rank_hist_thread(h, v->thread_id), it = -1;
        uint64_t val;
        if (th < 0 || !h->threads[th].first_out_ms ||
            h->threads[th].first_out_ms >= before || v->ms >= before)
            continue;
        if (v->target_kind == 'c')
            it = rank_hist_item(h, v->target_id);
        else if (rank__map_get(
                     &bysnip,
                     rank__hash64(v->target_id, strlen(v->target_id), 0x5717),
                     &val))
            it = (long)val;
        if (it < 0 || h->items[it].kind != v->target_kind || h->items[it].bare)
            continue;
        vt[*nv] = (uint32_t)th;
        vi[*nv] = (uint32_t)it;
        vk[(*nv)++] = v->kind;
    }
    rank__map_free(&bysnip);
    return rc;
}

/* rank_adapter_fit learns the query adapter (adapter.h) from h's mature
 * uses: the thread's context (its embedding under the team's frequencies,
 * as Suggest embeds a query) paired with the item's vector in the index
 * (rank_item_vectors: what Suggest's search compares with). A use that
 * paid off is a positive pair weighing its graded value (capped at 3: a
 * deal counts three replies); one that did not is a negative pair weighing
 * 0.25 + 0.5 |value| (silence a quarter of a reply, an unsubscribe a
 * whole one). Reps' verdicts on suggestions in a thread (verdict.h) are
 * pairs too: a dismissal a negative pair weighing
 * RANK_VERDICT_W_DISMISSED, a thumbs down RANK_VERDICT_W_THUMBS_DOWN, a
 * thumbs up a positive one weighing RANK_VERDICT_W_THUMBS_UP; they do
 * not count towards RANK_ADAPTER_MIN_PAIRS.
 * Rows and columns are in the canonical orders of rank_train,
 * so two stores with the same history learn the same bytes. *out is NULL
 * when there are fewer than RANK_ADAPTER_MIN_PAIRS positive pairs;
 * *npos gets their number. */
static sw_err rank_adapter_fit(struct rank_job *j, const struct rank_hist *h,
                               struct rank_adapter **out, int64_t *npos)
{
    struct rank_adapter_opts ao;
    struct rank_adapter_pair *pairs = NULL;
    struct rank_ckey *keys = NULL;
    uint32_t *rowof = NULL, *colof = NULL, *vt = NULL, *vi = NULL;
    float *Q = NULL, *S = NULL;
    int *kinds = NULL, *vk = NULL;
    size_t nrows = 0, np = 0, i, used = 0, dim = j->dim, nv = 0;
    size_t nvmax = j->verdicts ? j->verdicts->n : 0;
    sw_err rc = SW_ENOMEM;

    *out = NULL;
    *npos = 0;
    if (j->o->no_adapter || h->nitems == 0 || h->nuses == 0)
        return SW_OK;
    rowof = sw_malloc((h->nthreads + 1) * sizeof(*rowof));
    colof = sw_malloc((h->nitems + 1) * sizeof(*colof));
    keys = sw_calloc((h->nthreads > h->nitems ? h->nthreads : h->nitems) + 1,
                     sizeof(*keys));
    pairs = sw_calloc(h->nuses + nvmax + 1, sizeof(*pairs));
    kinds = sw_calloc(h->nitems + 1, sizeof(*kinds));
    S = sw_calloc(h->nitems * dim + 1, sizeof(*S));
    vt = sw_calloc(nvmax + 1, sizeof(*vt));
    vi = sw_calloc(nvmax + 1, sizeof(*vi));
    vk = sw_calloc(nvmax + 1, sizeof(*vk));
    if (!rowof || !colof || !keys || !pairs || !kinds || !S || !vt || !vi ||
        !vk)
        goto out;
    rc = rank_verdict_pairs(j, h, vt, vi, vk, &nv);
    if (rc)
        goto out;
    rc = SW_ENOMEM;
    for (i = 0; i < h->nthreads; i++)
        rowof[i] = UINT32_MAX;
    for (i = 0; i < nv; i++) {
        const struct rank_hthread *t = &h->threads[vt[i]];
        if (rowof[vt[i]] != UINT32_MAX)
            continue;
        rowof[vt[i]] = 0;
        keys[nrows].idx = vt[i];
        keys[nrows].ms = t->first_out_ms;
        keys[nrows].text = t->context;
        keys[nrows++].id = t->id;
    }
    for (i = 0; i < h->nuses; i++) {
        const struct rank_use *u = &h->uses[i];
        const struct rank_hthread *t = &h->threads[u->thread];
        if (!u->mature || h->items[u->item].bare ||
            rowof[u->thread] != UINT32_MAX)
            continue;
        rowof[u->thread] = 0;
        keys[nrows].idx = u->thread;
        keys[nrows].ms = t->first_out_ms;
        keys[nrows].text = t->context;
        keys[nrows++].id = t->id;
    }
    if (nrows)
        qsort(keys, nrows, sizeof(*keys), rank_ckey_cmp);
    Q = sw_calloc(nrows * dim + 1, sizeof(*Q));
    if (Q == NULL)
        goto out;
    for (i = 0; i < nrows; i++) {
        rowof[keys[i].idx] = (uint32_t)i;
        rc = rank_embed_ctx(j, NULL, h->threads[keys[i].idx].context,
                            Q + i * dim);
        if (rc)
            goto out;
    }
    memset(keys, 0, h->nitems * sizeof(*keys));
    for (i = 0; i < h->nitems; i++) {
        keys[i].idx = (uint32_t)i;
        keys[i].kind = h->items[i].kind;
        keys[i].text = h->items[i].key;
        keys[i].id = h->items[i].id;
    }
    qsort(keys, h->nitems, sizeof(*keys), rank_ckey_cmp);
    for (i = 0; i < h->nitems; i++) {
        colof[keys[i].idx] = (uint32_t)i;
        kinds[i] = keys[i].kind;
    }
    /* The training split's items as they stood at its end. */
    rc = rank_item_vectors(j, h, h == j->train ? j->cutoff_ms : INT64_MAX,
                           colof, S);
    if (rc)
        goto out;
    for (i = 0; i < h->nuses; i++) {
        const struct rank_use *u = &h->uses[i];
        struct rank_adapter_pair *p = &pairs[np];
        if (!u->mature || h->items[u->item].bare)
            continue;
        p->q = rowof[u->thread];
        p->item = colof[u->item];
        p->negative = !(u->value > 0);
        p->w = p->negative ? (float)(0.25 + 0.5 * fabs(u->value))
                           : (float)(u->value < 3.0 ? u->value : 3.0);
        *npos += !p->negative;
        np++;
    }
    for (i = 0; i < nv; i++) {
        struct rank_adapter_pair *p = &pairs[np++];
        p->q = rowof[vt[i]];
        p->item = colof[vi[i]];
        p->negative = vk[i] != RANK_FB_THUMBS_UP;
        p->w =
            (float)(vk[i] == RANK_FB_DISMISSED     ? RANK_VERDICT_W_DISMISSED
                    : vk[i] == RANK_FB_THUMBS_DOWN ? RANK_VERDICT_W_THUMBS_DOWN
                                                   : RANK_VERDICT_W_THUMBS_UP);
    }
    rc = SW_OK;
    if (*npos < RANK_ADAPTER_MIN_PAIRS)
        goto out;
    qsort(pairs, np, sizeof(*pairs), rank_pair_cmp);
    rank_adapter_opts_default(&ao);
    rc = rank_adapter_train(Q, nrows, S, kinds, h->nitems, dim, pairs, np, &ao,
                            &used, out);
out:
    sw_free(rowof);
    sw_free(colof);
    sw_free(keys);
    sw_free(pairs);
    sw_free(kinds);
    sw_free(Q);
    sw_free(S);
    sw_free(vt);
    sw_free(vi);
    sw_free(vk);
    return rc;
}

/* --- evaluation ------------------------------------------------------------
 */

struct rank_scored {
    uint32_t item; /* index in j->all */
    double s;
};

static int rank_scored_cmp(const void *x, const void *y)
{
    const struct rank_scored *a = x, *b = y;

    if (a->s != b->s)
        return a->s > b->s ? -1 : 1;
    return a->item < b->item ? -1 : a->item > b->item;
}

/* Accumulators of one ranker over the holdout. */
struct rank_acc {
    double ndcg, recall;
    size_t lists;
    int64_t matched, matched_pos;
};

/* An item none of whose snippets is among a query's hits. */
#define RANK_REL_NONE (-2.0)

/* rank_eval_rel writes to rel (one per item of j->all) the relevance of
 * each item to the query q (dim floats) for holdout thread th, as Suggest
 * computes it (rank_collect): the index is searched for the k nearest
 * snippets, k and beam as Suggest's, and an item's relevance is the best
 * cosine of its snippets among them (a framing family's own snippets; a
 * content item's passages and the framings that introduce it). Only
 * snippets written before the thread's first outbound mail count, as the
 * index held them when the rep wrote it (the thread's own mail never
 * counts). An item with none among the hits gets RANK_REL_NONE: Suggest
 * would not offer it. */
static sw_err rank_eval_rel(struct rank_job *j, uint32_t th, const float *q,
                            double *rel)
{
    const struct rank_hist *A = j->all;
    int64_t before = A->threads[th].first_out_ms;
    size_t i, nh = 0;
    sw_err rc = SW_OK;

    for (i = 0; i < A->nitems; i++)
        rel[i] = RANK_REL_NONE;
    if (j->k)
        rc = rank_ranker_search(j->r, j->team, q, j->k, j->k, j->labels,
                                j->dists, &nh);
    for (i = 0; rc == SW_OK && i < nh; i++) {
        const struct rank_hsnip *sn;
        double sim = 1.0 - (double)j->dists[i];
        uint64_t v;
        if (!rank__map_get(&A->by_label, j->labels[i], &v))
            continue; /* newer than this history, or deleted */
        sn = &A->snips[v];
        if (sn->create_ms >= before)
            continue;
        if (sn->kind == STORE_SNIPPET_FRAMING && sn->item != UINT32_MAX &&
            sim > rel[sn->item])
            rel[sn->item] = sim;
        if (sn->content != UINT32_MAX && sim > rel[sn->content])
            rel[sn->content] = sim;
    }
    return rc;
}

/* rank_eval_accounts finds holdout thread th's accounts (its outside
 * participants' domains) in the training history, as Suggest finds a
 * request's in its history: at most RANK_SUGGEST_ACCOUNTS, and their
 * term counts only when the team has account_min_mature mature threads
 * with them together. */
static void rank_eval_accounts(struct rank_job *j, uint32_t th)
{
    const struct rank_hist *A = j->all, *T = j->train;
    int64_t mature = 0;
    uint32_t k;

    j->ntacc = 0;
    j->acc_on = 0;
    if (A->thr_acc_lo == NULL || T->accounts == NULL)
        return;
    for (k = A->thr_acc_lo[th];
         k < A->thr_acc_lo[th + 1] && j->ntacc < RANK_SUGGEST_ACCOUNTS; k++) {
        long a = rank_account_find(T, A->accounts[A->thr_acc[k]].domain);
        if (a < 0)
            continue;
        j->tacc[j->ntacc++] = (uint32_t)a;
        mature += T->accounts[a].mature;
    }
    j->acc_on = j->ntacc > 0 && (double)mature >= j->p->account_min_mature;
}

/* rank_eval_list scores the list of kind for holdout thread th with
 * ranker which (0 model, RANK_BASE_*), the items' relevance to the query
 * in rels (rank_eval_rel), and adds its metrics to acc. */
static sw_err rank_eval_list(struct rank_job *j, int which, uint32_t th,
                             int kind, const double *rels, const double *xq_cur,
                             const struct rank_local *loc,
                             struct rank_scored *buf, struct rank_acc *acc)
{
    const struct rank_hist *A = j->all, *T = j->train;
    const struct rank_hthread *t = &A->threads[th];
    struct rank_scored ideal[RANK_EVAL_K];
    double dcg = 0, idcg = 0, gains_pos = 0, hit_pos = 0;
    size_t n = 0, i, u, nideal = 0, lo, hi;
    int used_top3 = 0;
    struct rank_params p = *j->p;

    p.w_explore = p.wc_explore = 0.0; /* evaluate exploitation alone */
    lo = A->use_lo[th];
    hi = A->use_lo[th + 1];
    for (i = 0; i < A->nitems; i++) {
        const struct rank_hitem *it = &A->items[i];
        long ti;
        int used = 0;
        double rel, collab = 0;
        struct rank_score sc;
        if (it->kind != kind || it->bare)
            continue;
        for (u = lo; u < hi; u++)
            used |= A->uses[u].item == i;
        ti = rank_hist_item(T, it->id);
        if (!used && (ti < 0 || T->items[ti].ev.threads == 0))
            continue; /* not a known candidate at training time */
        rel = rels[i];
        if (rel <= RANK_REL_NONE)
            continue; /* not among the query's hits: never offered */
        if (which == RANK_BASE_POPULARITY) {
            buf[n].s = ti >= 0 ? (double)T->items[ti].ev.times_used : 0;
            buf[n].s += 1e-3 * rel;
        } else if (which == RANK_BASE_SIMILARITY) {
            buf[n].s = rel;
        } else {
            const struct rank_model *m = j->current;
            struct rank_hitem blank;
            if (xq_cur && m && m->scale > 0)
                collab = rank__collab(m, xq_cur, it->id, NULL) / m->scale;
            if (ti < 0) {
                memset(&blank, 0, sizeof(blank));
                blank = *it;
                blank.ev.trials = 0;
                blank.ev.value = 0;
                blank.post_value = T->team_value;
                blank.adoption = 0.0; /* unused before the holdout */
                rank__score(&p, T, &blank, SIZE_MAX, NULL, rel, collab, 0,
                            RANK_MODE_OUTCOME, &sc);
            } else {
                rank__score(&p, T, &T->items[ti], (size_t)ti, loc, rel, collab,
                            0, RANK_MODE_OUTCOME, &sc);
                if (j->acc_on) { /* as Suggest adds it */
                    struct rank_acct_evid ev;
                    rank_account_sum(T, j->tacc, j->ntacc, (uint32_t)ti, &ev);
                    rank__score_account(&p, &T->items[ti], &ev,
                                        RANK_MODE_OUTCOME, &sc);
                }
            }
            buf[n].s = sc.total;
        }
        buf[n].item = (uint32_t)i;
        n++;
    }
    if (n == 0)
        return SW_OK;
    qsort(buf, n, sizeof(*buf), rank_scored_cmp);
    for (u = lo; u < hi; u++) {
        const struct rank_use *us = &A->uses[u];
        if (A->items[us->item].kind != kind)
            continue;
        for (i = 0; i < n && i < 3; i++)
            used_top3 |= buf[i].item == us->item;
        if (us->value > 0 && nideal < RANK_EVAL_K) {
            ideal[nideal].item = us->item;
            ideal[nideal++].s = us->value;
            gains_pos += 1;
        }
    }
    if (used_top3) {
        acc->matched++;
        acc->matched_pos += t->positive;
    }
    if (nideal == 0)
        return SW_OK;
    qsort(ideal, nideal, sizeof(*ideal), rank_scored_cmp);
    for (i = 0; i < nideal; i++)
        idcg += (pow(2.0, ideal[i].s) - 1.0) / log2((double)i + 2.0);
    for (i = 0; i < n && i < RANK_EVAL_K; i++)
        for (u = 0; u < nideal; u++)
            if (ideal[u].item == buf[i].item) {
                dcg += (pow(2.0, ideal[u].s) - 1.0) / log2((double)i + 2.0);
                hit_pos += 1;
            }
    acc->ndcg += idcg > 0 ? dcg / idcg : 0;
    acc->recall += hit_pos / gains_pos;
    acc->lists++;
    return SW_OK;
}

static void rank_acc_done(const struct rank_acc *a, struct rank_eval *e)
{
    e->ndcg = a->lists ? a->ndcg / (double)a->lists : 0;
    e->recall = a->lists ? a->recall / (double)a->lists : 0;
    e->rate = a->matched ? (double)a->matched_pos / (double)a->matched : 0;
    e->matched = a->matched;
    e->present = 1;
}

/* rank_eval_adapted ranks holdout thread th's list of kind with the
 * relevance of the adapted query, rel_a: the candidate (its CF as in the
 * plain run: the adapter changes relevance only) into acc[0], relevance
 * alone into acc[1]. */
static sw_err rank_eval_adapted(struct rank_job *j,
                                const struct rank_model *cand, uint32_t th,
                                int kind, const double *rel_a, const double *xq,
                                const struct rank_local *loc,
                                struct rank_scored *buf, struct rank_acc *acc)
{
    struct rank_model *saved = j->current;
    sw_err rc;

    j->current = (struct rank_model *)cand;
    rc = rank_eval_list(j, RANK_BASE_CURRENT, th, kind, rel_a, xq, loc, buf,
                        &acc[0]);
    j->current = saved;
    if (rc == SW_OK)
        rc = rank_eval_list(j, RANK_BASE_SIMILARITY, th, kind, rel_a, NULL,
                            NULL, buf, &acc[1]);
    return rc;
}

static sw_err rank_evaluate(struct rank_job *j, const struct rank_model *cand,
                            struct rank_metrics *mx)
{
    const struct rank_hist *A = j->all;
    /* acc[0..3]: the candidate and the baselines; acc[4], acc[5]: the
     * candidate and similarity with the adapted query; acc[6], acc[7]:
     * similarity on the documents' lists, plain and adapted (the
     * adapter's gate, rank_adapter_decision). */
    struct rank_acc acc[8];
    struct rank_scored *buf = NULL;
    struct rank__map holdout = {0};
    struct rank_local loc_new, loc_cur;
    struct rank_link *link_new = NULL, *link_cur = NULL;
    struct rank_ckey *ev = NULL;
    double *xq_new = NULL, *xq_cur = NULL;
    double *rels = NULL, *rel_e, *rel_a, *rel_s;
    float *qe = NULL, *qn, *qc, *qa, *qs;
    size_t i, nev = 0, stride, e, count = 0;
    int w, kind;
    sw_err rc = SW_ENOMEM;

    memset(acc, 0, sizeof(acc));
    memset(mx, 0, sizeof(*mx));
    memset(&loc_new, 0, sizeof(loc_new));
    memset(&loc_cur, 0, sizeof(loc_cur));
    if (rank__local_init(&loc_new, j->train->nitems) ||
        rank__local_init(&loc_cur, j->train->nitems))
        goto out;
    /* Each model's threads linked once to the training history. */
    rc = rank__link_build(j->train, cand, &link_new);
    if (rc == SW_OK && j->current)
        rc = rank__link_build(j->train, j->current, &link_cur);
    if (rc)
        goto out;
    rc = SW_ENOMEM;
    buf = sw_calloc(A->nitems + 1, sizeof(*buf));
    qe = sw_calloc(5 * j->dim, sizeof(*qe));
    xq_new = sw_calloc(cand->k + 1, sizeof(*xq_new));
    xq_cur = sw_calloc(j->current ? j->current->k + 1 : 1, sizeof(*xq_cur));
    rels = sw_calloc(3 * A->nitems + 1, sizeof(*rels));
    ev = sw_calloc(A->nthreads + 1, sizeof(*ev));
    if (!buf || !qe || !xq_new || !xq_cur || !rels || !ev)
        goto out;
    qn = qe + j->dim; /* the context for each model's fold-in */
    qc = qn + j->dim;
    qa = qc + j->dim; /* the adapted query, when there is an adapter */
    qs = qa + j->dim; /* the query as the serving model serves it */
    rel_e = rels;     /* each item's relevance to qe, qa and qs */
    rel_a = rel_e + A->nitems;
    rel_s = rel_a + A->nitems;
    /* Suggest's search: every snippet up to 2,000, else the nearest 500. */
    rc = rank_ranker_count(j->r, j->team, &count);
    if (rc)
        goto out;
    rc = SW_ENOMEM;
    j->k = count <= 2000 ? count : 500;
    j->labels = sw_calloc(j->k + 1, sizeof(*j->labels));
    j->dists = sw_calloc(j->k + 1, sizeof(*j->dists));
    if (!j->labels || !j->dists)
        goto out;
    for (i = 0; i < A->nthreads; i++) {
        const struct rank_hthread *t = &A->threads[i];
        if (t->first_out_ms && t->first_out_ms >= j->cutoff_ms) {
            rc = rank__map_put(&holdout, t->hash, 1);
            if (rc)
                goto out;
        }
    }
    for (i = 0; i < A->nthreads; i++) {
        const struct rank_hthread *t = &A->threads[i];
        if (!t->first_out_ms || t->first_out_ms < j->cutoff_ms || !t->mature)
            continue;
        ev[nev].idx = (uint32_t)i;
        ev[nev].ms = t->first_out_ms;
        ev[nev].text = t->context;
        ev[nev++].id = t->id;
    }
    if (nev)
        qsort(ev, nev, sizeof(*ev), rank_ckey_cmp);
    j->eval_of = nev;
    stride =
        nev > RANK_EVAL_MAX ? (nev + RANK_EVAL_MAX - 1) / RANK_EVAL_MAX : 1;
    for (e = 0; e < nev; e += stride) {
        const struct rank_hthread *t = &A->threads[ev[e].idx];
        i = ev[e].idx;
        mx->holdout_threads++;
        mx->holdout_outcomes += t->n_outcomes;
        rc = rank_embed_ctx(j, NULL, t->context, qe);
        if (rc == SW_OK)
            rc = rank_embed_ctx(j, cand->cdf, t->context, qn);
        if (rc == SW_OK && j->current)
            rc = rank_embed_ctx(j, j->current->cdf, t->context, qc);
        if (rc)
            goto out;
        rank_eval_accounts(j, (uint32_t)i);
        rc = rank_eval_rel(j, (uint32_t)i, qe, rel_e);
        if (rc == SW_OK && j->adapter) {
            rank_adapter_apply(j->adapter, qe, qa);
            rc = rank_eval_rel(j, (uint32_t)i, qa, rel_a);
        }
        /* The serving model is judged as it serves: with its adapter. */
        if (j->current && j->current->adapter &&
            j->current->adapter->dim == j->dim) {
            rank_adapter_apply(j->current->adapter, qe, qs);
            if (rc == SW_OK)
                rc = rank_eval_rel(j, (uint32_t)i, qs, rel_s);
        } else {
            memcpy(rel_s, rel_e, A->nitems * sizeof(*rel_s));
        }
        if (rc)
            goto out;
        {
            size_t nn, nc = 0;
            rank__local_reset(&loc_new);
            rank__local_reset(&loc_cur);
            nn = rank__fold_in(cand, qn, j->dim, NULL, xq_new, link_new,
                               &loc_new);
            if (j->current)
                nc = rank__fold_in(j->current, qc, j->dim, &holdout, xq_cur,
                                   link_cur, &loc_cur);
            for (kind = 'c'; kind <= 'f'; kind += 'f' - 'c') {
                for (w = 0; w < 4; w++) {
                    if (w == RANK_BASE_CURRENT && j->current == NULL)
                        continue;
                    if (w == 0) {
                        /* the candidate: its CF through its own model */
                        const struct rank_model *saved = j->current;
                        j->current = (struct rank_model *)cand;
                        rc = rank_eval_list(j, RANK_BASE_CURRENT, (uint32_t)i,
                                            kind, rel_e, nn ? xq_new : NULL,
                                            &loc_new, buf, &acc[0]);
                        j->current = (struct rank_model *)saved;
                    } else {
                        rc = rank_eval_list(
                            j, w, (uint32_t)i, kind,
                            w == RANK_BASE_CURRENT ? rel_s : rel_e,
                            nc ? xq_cur : NULL, &loc_cur, buf, &acc[w]);
                    }
                    if (rc)
                        goto out;
                }
                if (j->adapter)
                    rc = rank_eval_adapted(j, cand, (uint32_t)i, kind, rel_a,
                                           nn ? xq_new : NULL, &loc_new, buf,
                                           acc + 4);
                if (rc == SW_OK && j->adapter && kind == 'c')
                    rc = rank_eval_list(j, RANK_BASE_SIMILARITY, (uint32_t)i,
                                        kind, rel_e, NULL, NULL, buf, &acc[6]);
                if (rc == SW_OK && j->adapter && kind == 'c')
                    rc = rank_eval_list(j, RANK_BASE_SIMILARITY, (uint32_t)i,
                                        kind, rel_a, NULL, NULL, buf, &acc[7]);
                if (rc)
                    goto out;
            }
        }
    }
    rank_acc_done(&acc[0], &mx->model);
    if (j->adapter) {
        rank_acc_done(&acc[4], &mx->adapter.with);
        rank_acc_done(&acc[5], &mx->adapter.sim_with);
        if (acc[6].lists) {
            rank_acc_done(&acc[6], &mx->adapter.doc);
            rank_acc_done(&acc[7], &mx->adapter.doc_with);
        }
    }
    for (w = 1; w < 4; w++)
        if (w != RANK_BASE_CURRENT || j->current)
            rank_acc_done(&acc[w], &mx->base[w]);
    for (i = 0; i < j->train->nthreads; i++)
        mx->train_threads += j->train->threads[i].first_out_ms &&
                             j->train->threads[i].first_out_ms < j->cutoff_ms;
    rc = SW_OK;
out:
    sw_free(buf);
    sw_free(qe);
    sw_free(xq_new);
    sw_free(xq_cur);
    sw_free(rels);
    sw_free(j->labels);
    sw_free(j->dists);
    j->labels = NULL;
    j->dists = NULL;
    rank__local_free(&loc_new);
    rank__local_free(&loc_cur);
    rank__link_free(&link_new);
    rank__link_free(&link_cur);
    sw_free(ev);
    rank__map_free(&holdout);
    return rc;
}

/* --- report and promotion ----------------------------------------------- */

int rank_promote_decision(const struct rank_rerank_opts *o,
                          const struct rank_metrics *m, char *why, size_t cap)
{
    const struct rank_eval *cur = &m->base[RANK_BASE_CURRENT];
    const char *w;

    if (o->dry_run)
        w = "dry run: evaluated only, nothing stored or promoted";
    else if (o->force_promote)
        w = "promoted: forced";
    else if (!cur->present)
        w = "promoted: no model was serving";
    else if (m->model.ndcg + RANK_PROMOTE_TOLERANCE >= cur->ndcg)
        w = "promoted: not worse than the serving model on NDCG@10";
    else
        w = "kept the serving model: the candidate is worse on NDCG@10";
    if (cap)
        snprintf(why, cap, "%s", w);
    return !o->dry_run && strncmp(w, "promoted", 8) == 0;
}

void rank_serving_metrics(const struct rank_metrics *m, int adapter_kept,
                          struct rank_metrics *out)
{
    *out = *m;
    if (adapter_kept)
        out->model = m->adapter.with;
}

int rank_adapter_decision(const struct rank_rerank_opts *o,
                          struct rank_metrics *m,
                          const struct rank_metrics *prev, char *why,
                          size_t cap)
{
    struct rank_adapter_eval *a = &m->adapter;
    const struct rank_eval *sim = &m->base[RANK_BASE_SIMILARITY];
    /* Relevance is judged on the documents' lists where there are any: a
     * document a thread used is the document, while a framing it used is
     * one rep's wording, and paraphrases the families do not join (most of
     * them: RANKING.md) are other items, equally good but not credited. An
     * adapter that learns which rep writes which wording gains there and
     * nowhere else. */
    double rel = a->doc.present ? a->doc_with.ndcg - a->doc.ndcg
                                : a->sim_with.ndcg - sim->ndcg;
    double all = a->with.ndcg - m->model.ndcg;
    const char *on = a->doc.present ? "documents' relevance" : "relevance";

    a->passed = 0;
    if (o->no_adapter)
        snprintf(why, cap, "no adapter: not asked for");
    else if (!a->trained)
        snprintf(why, cap,
                 "no adapter: %lld positive training pairs, %d needed",
                 (long long)a->pairs, RANK_ADAPTER_MIN_PAIRS);
    else if (rel < RANK_ADAPTER_MARGIN)
        snprintf(why, cap,
                 "no adapter: %s %+.3f NDCG@10 on the holdout, under the "
                 "margin %.3f",
                 on, rel, RANK_ADAPTER_MARGIN);
    else if (all < -RANK_PROMOTE_TOLERANCE)
        snprintf(why, cap,
                 "no adapter: %s %+.3f NDCG@10 but the whole ranking "
                 "%+.3f on the holdout",
                 on, rel, all);
    else
        a->passed = 1;
    if (a->passed && !(prev && prev->adapter.passed))
        snprintf(why, cap,
                 "no adapter yet: %s %+.3f NDCG@10 on the holdout, the "
                 "whole ranking %+.3f, but the run before did not pass; kept "
                 "if the next one does",
                 on, rel, all);
    else if (a->passed)
        snprintf(why, cap,
                 "adapter kept: %s %+.3f NDCG@10 on the holdout, the "
                 "whole ranking %+.3f (and it passed the run before)",
                 on, rel, all);
    return a->passed && prev && prev->adapter.passed;
}

static double rank_lift(const struct rank_eval *m, const struct rank_eval *b)
{
    return b->rate > 0 ? m->rate / b->rate - 1.0 : 0.0;
}

/* rank_report_adapter adds the query adapter's figures and verdict. */
static sw_err rank_report_adapter(const struct rank_model *m,
                                  const char *decision, struct sw_buf *b)
{
    const struct rank_metrics *x = &m->metrics;
    const struct rank_adapter_eval *a = &x->adapter;
    sw_err rc;

    if (!a->trained)
        return sw_buf_printf(b, "\nQuery adapter: %s.\n", decision);
    rc = sw_buf_printf(
        b,
        "\nQuery adapter (rank %d, learnt from %lld positive pairs of the "
        "training threads):\n\n"
        "| ranking | plain embedder NDCG@10 | adapted NDCG@10 | gain | "
        "plain recall@10 | adapted recall@10 |\n"
        "|---|---|---|---|---|---|\n"
        "| candidate | %.3f | %.3f | %+.3f | %.3f | %.3f |\n",
        m->adapter ? m->adapter->rank : 16, (long long)a->pairs, x->model.ndcg,
        a->with.ndcg, a->with.ndcg - x->model.ndcg, x->model.recall,
        a->with.recall);
    if (rc == SW_OK && x->base[RANK_BASE_SIMILARITY].present)
        rc = sw_buf_printf(
            b, "| relevance alone | %.3f | %.3f | %+.3f | %.3f | %.3f |\n",
            x->base[RANK_BASE_SIMILARITY].ndcg, a->sim_with.ndcg,
            a->sim_with.ndcg - x->base[RANK_BASE_SIMILARITY].ndcg,
            x->base[RANK_BASE_SIMILARITY].recall, a->sim_with.recall);
    if (rc == SW_OK && a->doc.present)
        rc = sw_buf_printf(
            b,
            "| relevance alone, documents | %.3f | %.3f | %+.3f | %.3f | "
            "%.3f |\n",
            a->doc.ndcg, a->doc_with.ndcg, a->doc_with.ndcg - a->doc.ndcg,
            a->doc.recall, a->doc_with.recall);
    if (rc == SW_OK)
        rc = sw_buf_printf(b, "\nAdapter: %s.\n", decision);
    return rc;
}

static sw_err rank_report(struct rank_job *j, const struct rank_model *m,
                          const char *decision, struct sw_buf *b)
{
    static const char *const names[4] = {"candidate", "popularity",
                                         "similarity", "current model"};
    const struct rank_metrics *x = &m->metrics;
    const struct rank_hist *A = j->all;
    size_t i, nf = 0, nc = 0;
    sw_err rc;
    int w;

    for (i = 0; i < A->nitems; i++) {
        nf += A->items[i].kind == 'f';
        nc += A->items[i].kind == 'c';
    }
    rc = sw_buf_printf(
        b,
        "# Re-ranking report: team %s\n\n"
        "- History: %zu snippets, %zu framing families, %zu content "
        "items, %lld outbound threads (%lld mature), %lld outcomes; team "
        "positive rate %.1f%%, mean graded value %.2f per thread.\n"
        "- Split: %lld training threads, %lld holdout threads evaluated "
        "(of %zu) with %lld outcomes.\n"
        "- Collaborative model: ALS, %d factors, %zu items, %zu thread "
        "contexts kept for fold-in.\n\n"
        "| ranker | NDCG@10 | recall@10 | replay positive rate | matched "
        "threads | candidate's reply-rate lift over it |\n"
        "|---|---|---|---|---|---|\n",
        j->team, A->nsnips, nf, nc, (long long)A->team_threads,
        (long long)A->team_mature, (long long)A->n_outcomes,
        100.0 * A->team_rate, A->team_value, (long long)x->train_threads,
        (long long)x->holdout_threads, j->eval_of,
        (long long)x->holdout_outcomes, m->k, m->nitems, m->nthreads);
    for (w = 0; rc == SW_OK && w < 4; w++) {
        const struct rank_eval *e = w == 0 ? &x->model : &x->base[w];
        if (!e->present)
            continue;
        if (w == 0)
            rc = sw_buf_printf(b, "| %s | %.3f | %.3f | %.1f%% | %lld | |\n",
                               names[w], e->ndcg, e->recall, 100.0 * e->rate,
                               (long long)e->matched);
        else
            rc = sw_buf_printf(b,
                               "| %s | %.3f | %.3f | %.1f%% | %lld | %+.1f%% "
                               "|\n",
                               names[w], e->ndcg, e->recall, 100.0 * e->rate,
                               (long long)e->matched,
                               100.0 * rank_lift(&x->model, e));
    }
    if (rc == SW_OK)
        rc = sw_buf_printf(b, "\nDecision: %s\n", decision);
    return rc;
}

struct rank_commit {
    const char *team;
    struct rank_model *m;
    int promote;
    int64_t now_ms;
};

static sw_err rank_commit_txn(store_txn *t, void *arg)
{
    struct rank_commit *c = arg;
    sw_err rc = store_team_exists_txn(t, c->team);

    /* A team gone (deleted or moved away) while it was re-ranked keeps no
     * model here. */
    if (rc == SW_ENOTFOUND)
        return SW_OK;
    if (rc == SW_OK)
        rc = rank_model_save(t, c->team, c->m);

    if (rc == SW_OK && c->promote)
        rc = rank_model_promote(t, c->team, c->m->seq, c->now_ms);
    if (rc == SW_OK)
        rc = rank_model_prune(t, c->team, 3);
    return rc;
}

sw_err rank_rerank_team(store *s, rank_ranker *r, const char *team,
                        const struct rank_params *p,
                        const struct rank_rerank_opts *o,
                        rank_progress_fn progress, void *arg,
                        struct rank_rerank_result *res)
{
    struct rank_rerank_opts defo;
    struct rank_params defp;
    struct rank_job j;
    struct rank_model *cand = NULL, *serve = NULL;
    struct rank_commit cm;
    struct sw_buf rep, msg;
    int promote = 0, caught = 0;
    sw_err rc;

    rank_blas_init();

    if (s == NULL || r == NULL || team == NULL || !team[0] || res == NULL)
        return SW_EINVAL;
    if (o == NULL) {
        memset(&defo, 0, sizeof(defo));
        o = &defo;
    }
    if (p == NULL) {
        rank_params_default(&defp);
        p = &defp;
    }
    memset(&j, 0, sizeof(j));
    memset(res, 0, sizeof(*res));
    sw_buf_init(&rep, 1 << 20);
    sw_buf_init(&msg, 1024);
    j.s = s;
    j.r = r;
    j.team = team;
    j.p = p;
    j.o = o;
    j.progress = progress;
    j.arg = arg;
    j.dim = rank_ranker_dim(r);
    rc = rank_job_step(&j, "families", 0.05, "reading the history");
    if (rc == SW_OK)
        rc = rank_ranker_sync(r, team, 0, &caught); /* the team's IDF */
    if (rc == SW_OK)
        rc = store_view(s, rank_job_read, &j);
    if (rc)
        goto out;
    rc = sw_buf_printf(&msg, "%zu snippets in %zu families and content items",
                       j.all->nsnips, j.all->nitems);
    if (rc == SW_OK)
        rc = rank_job_step(&j, "attribution", 0.2, sw_buf_str(&msg));
    sw_buf_reset(&msg);
    if (rc == SW_OK)
        rc = sw_buf_printf(&msg, "%zu uses attributed over %lld threads",
                           j.all->nuses, (long long)j.all->team_threads);
    if (rc == SW_OK)
        rc = rank_job_step(&j, "collaborative", 0.3, sw_buf_str(&msg));
    cand = sw_calloc(1, sizeof(*cand));
    serve = sw_calloc(1, sizeof(*serve));
    if (rc == SW_OK && (cand == NULL || serve == NULL))
        rc = SW_ENOMEM;
    if (rc == SW_OK)
        rc = rank_train(&j, j.train, cand);
    if (rc == SW_OK)
        rc = rank_adapter_fit(&j, j.train, &j.adapter,
                              &serve->metrics.adapter.pairs);
    if (rc == SW_OK)
        rc = rank_job_step(&j, "priors", 0.5, "family and content priors");
    if (rc == SW_OK)
        rc = rank_job_step(&j, "evaluate", 0.6, "time-split holdout");
    if (rc == SW_OK) {
        int64_t npos = serve->metrics.adapter.pairs;
        rc = rank_evaluate(&j, cand, &serve->metrics);
        serve->metrics.adapter.pairs = npos;
        serve->metrics.adapter.trained = j.adapter != NULL;
    }
    if (rc)
        goto out;
    /* "The run before" is the last stored run, promoted or not: a pass on
     * a night whose model the gate did not promote is still a pass (the
     * serving model's flag forgot it, and in accounts_unknown.json three
     * passing nights in a row never kept an adapter). */
    res->adapter_promoted = rank_adapter_decision(
        o, &serve->metrics, j.last ? &j.last->metrics : NULL,
        res->adapter_decision, sizeof(res->adapter_decision));
    serve->metrics.adapter.promoted = res->adapter_promoted;
    {
        /* The model's gate judges what would serve: with its adapter. */
        struct rank_metrics gate;
        rank_serving_metrics(&serve->metrics, res->adapter_promoted, &gate);
        promote = rank_promote_decision(o, &gate, res->decision,
                                        sizeof(res->decision));
    }
    rc = rank_job_step(&j, "promote", 0.8, "refitting on all threads");
    if (rc == SW_OK)
        rc = rank_train(&j, j.all, serve);
    if (rc == SW_OK && res->adapter_promoted) {
        /* Kept: refitted on all threads, like the model. */
        int64_t npos = 0;
        rc = rank_adapter_fit(&j, j.all, &serve->adapter, &npos);
        if (rc == SW_OK && serve->adapter == NULL) /* NEVER: more pairs */
            res->adapter_promoted = serve->metrics.adapter.promoted = 0;
    }
    if (rc == SW_OK)
        rc = rank_report(&j, serve, res->decision, &rep);
    if (rc == SW_OK)
        rc = rank_report_adapter(serve, res->adapter_decision, &rep);
    if (rc)
        goto out;
    serve->create_ms = o->now_ms ? o->now_ms : sw_now_ms();
    serve->report = sw_strdup(sw_buf_str(&rep));
    if (serve->report == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    if (!o->dry_run) {
        cm.team = team;
        cm.m = serve;
        cm.promote = promote;
        cm.now_ms = serve->create_ms;
        rc = store_update(s, rank_commit_txn, &cm);
        if (rc)
            goto out;
    }
    serve->promoted = promote;
    serve->promote_ms = promote ? serve->create_ms : 0;
    res->promoted = promote;
    rc = rank_job_step(&j, "done", 1.0, res->decision);
    if (rc)
        goto out;
    res->model = serve;
    serve = NULL;
out:
    rank_model_free(&cand);
    rank_model_free(&serve);
    rank_hist_free(&j.all);
    rank_hist_free(&j.train);
    rank_model_free(&j.current);
    rank_model_free(&j.last);
    rank_adapter_free(&j.adapter);
    rank_verdicts_free(&j.verdicts);
    sw_buf_free(&rep);
    sw_buf_free(&msg);
    return rc;
}
