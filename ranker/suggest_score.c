/* suggest_score: the scoring of one candidate (relevance, prior-smoothed
 * outcome in the threads most like the query, collaborative term, the
 * team's usage there, an exploration bonus) and the fold-in that finds those
 * threads, shared by Suggest and the nightly evaluation. */
#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "base/sw_mem.h"
#include "ranker/suggest_int.h"

#define RANK_FOLD_NEIGHBOURS 20
#define RANK_FOLD_MIN_SIM 0.05
#define RANK_LOCAL_ARRAYS 7 /* the arrays of struct rank_local */

/* OpenBLAS on one thread: snipd runs many calls at once on its own workers,
 * and OpenBLAS's threads spin while they wait, against them (4 concurrent
 * Suggest calls on 2 cores: 74 calls/s with its default threads, 131 with
 * one); its threaded reductions also make a model depend on the number of
 * threads. Our matrices are small (k × k systems, one sgemv per call). */
static void rank_blas_once(void)
{
    openblas_set_num_threads(1);
}

void rank_blas_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    (void)pthread_once(&once, rank_blas_once);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* rank_dot8_avx2 is rank__dot8 on 32 values at a time (AVX2: sign
 * extension and multiply-adds in one instruction each); used when the CPU
 * has it (rank_dot8_fn). */
__attribute__((target("avx2"))) static int32_t
rank_dot8_avx2(const int16_t *a, const int8_t *b, size_t n)
{
    __m256i acc = _mm256_setzero_si256();
    __m128i lo, hi;
    int32_t lanes[4], s;
    size_t i = 0;

    for (; i + 16 <= n; i += 16) {
        __m256i y = _mm256_cvtepi8_epi16(
            _mm_loadu_si128((const __m128i *)(const void *)(b + i)));
        __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(a + i));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, y));
    }
    lo = _mm256_castsi256_si128(acc);
    hi = _mm256_extracti128_si256(acc, 1);
    _mm_storeu_si128((__m128i *)(void *)lanes, _mm_add_epi32(lo, hi));
    s = lanes[0] + lanes[1] + lanes[2] + lanes[3];
    for (; i < n; i++)
        s += a[i] * (int16_t)b[i];
    return s;
}
#endif

typedef int32_t (*rank_dot8_t)(const int16_t *, const int8_t *, size_t);

static int32_t rank_dot8_plain(const int16_t *a, const int8_t *b, size_t n)
{
    return rank__dot8(a, b, n);
}

/* rank_dot8_fn picks the fastest 8-bit dot product this CPU runs. */
static rank_dot8_t rank_dot8_fn(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        return rank_dot8_avx2;
#endif
    return rank_dot8_plain;
}

int32_t rank__dot8_best(const int16_t *a, const int8_t *b, size_t n)
{
    return rank_dot8_fn()(a, b, n);
}

sw_err rank__local_init(struct rank_local *l, size_t nitems)
{
    memset(l, 0, sizeof(*l));
    l->value = sw_calloc(RANK_LOCAL_ARRAYS * nitems + 1, sizeof(*l->value));
    if (l->value == NULL)
        return SW_ENOMEM;
    l->uses = l->value + nitems;
    l->pos = l->uses + nitems;
    l->wall = l->pos + nitems;
    l->nall = l->wall + nitems;
    l->vraw = l->nall + nitems;
    l->nraw = l->vraw + nitems;
    l->nitems = nitems;
    return SW_OK;
}

sw_err rank__local_init_for(struct rank_local *l, const uint32_t *items,
                            size_t n, size_t nitems)
{
    struct rank__map *m;
    uint64_t *want;
    uint64_t v;
    size_t i, k = 0;
    sw_err rc;

    m = sw_calloc(1, sizeof(*m));
    want = sw_calloc(nitems / 64 + 1, sizeof(*want));
    if (m == NULL || want == NULL) {
        sw_free(m);
        sw_free(want);
        return SW_ENOMEM;
    }
    for (i = 0; i < n; i++) {
        assert(items[i] < nitems);
        want[items[i] >> 6] |= (uint64_t)1 << (items[i] & 63);
    }
    for (i = 0; i < n; i++) {
        if (rank__map_get(m, items[i], &v))
            continue;
        rc = rank__map_put(m, items[i], k++);
        if (rc)
            goto fail;
    }
    rc = rank__local_init(l, k);
    if (rc)
        goto fail;
    l->items = sw_calloc(k + 1, sizeof(*l->items));
    if (l->items == NULL) {
        rank__local_free(l);
        rc = SW_ENOMEM;
        goto fail;
    }
    for (i = 0; i < n; i++)
        if (rank__map_get(m, items[i], &v))
            l->items[v] = items[i];
    l->slot = m;
    l->want = want;
    l->want_bits = nitems;
    return SW_OK;
fail:
    rank__map_free(m);
    sw_free(m);
    sw_free(want);
    return rc;
}

void rank__local_reset(struct rank_local *l)
{
    if (l->value)
        memset(l->value, 0, RANK_LOCAL_ARRAYS * l->nitems * sizeof(*l->value));
    l->threads = 0;
}

void rank__local_free(struct rank_local *l)
{
    if (l->slot) {
        rank__map_free(l->slot);
        sw_free(l->slot);
    }
    sw_free(l->want);
    sw_free(l->items);
    sw_free(l->value);
    memset(l, 0, sizeof(*l));
}

/* rank_link_by_item fills l's per-item list from its per-thread one
 * (a counting sort: each item's uses stay in thread order). */
static sw_err rank_link_by_item(struct rank_link *l, size_t nitems)
{
    size_t n = l->lo[l->nthreads], t, u;
    uint32_t *fill;

    l->nitems = nitems;
    l->item_lo = sw_calloc(nitems + 2, sizeof(*l->item_lo));
    l->iuse = sw_calloc(n + 1, sizeof(*l->iuse));
    fill = sw_calloc(nitems + 1, sizeof(*fill));
    if (!l->item_lo || !l->iuse || !fill) {
        sw_free(fill);
        return SW_ENOMEM;
    }
    for (u = 0; u < n; u++)
        if (l->uses[u].item < nitems)
            l->item_lo[l->uses[u].item + 1]++;
    for (u = 0; u < nitems; u++)
        l->item_lo[u + 1] += l->item_lo[u];
    for (t = 0; t < l->nthreads; t++)
        for (u = l->lo[t]; u < l->lo[t + 1]; u++) {
            const struct rank_use *us = &l->uses[u];
            struct rank_iuse *iu;
            if (us->item >= nitems)
                continue;
            iu = &l->iuse[l->item_lo[us->item] + fill[us->item]++];
            iu->value = us->value;
            iu->thread = (uint32_t)t;
            iu->positive = (uint16_t)(us->positive != 0);
            iu->mature = (uint16_t)(us->mature != 0);
        }
    sw_free(fill);
    return SW_OK;
}

sw_err rank__link_build(const struct rank_hist *h, const struct rank_model *m,
                        struct rank_link **out)
{
    struct rank_link *l;
    size_t i, n = 0, u;
    uint64_t v;

    *out = NULL;
    l = sw_calloc(1, sizeof(*l));
    if (l == NULL)
        return SW_ENOMEM;
    l->nthreads = m->nthreads;
    l->lo = sw_calloc(m->nthreads + 1, sizeof(*l->lo));
    l->known = sw_calloc(m->nthreads + 1, 1);
    if (l->lo == NULL || l->known == NULL)
        goto nomem;
    for (i = 0; i < m->nthreads; i++)
        if (h->use_lo && rank__map_get(&h->by_thread, m->thread_hash[i], &v))
            n += h->use_lo[v + 1] - h->use_lo[v];
    l->uses = sw_calloc(n + 1, sizeof(*l->uses));
    if (l->uses == NULL)
        goto nomem;
    n = 0;
    for (i = 0; i < m->nthreads; i++) {
        l->lo[i] = (uint32_t)n;
        if (h->use_lo == NULL ||
            !rank__map_get(&h->by_thread, m->thread_hash[i], &v))
            continue;
        l->known[i] = 1;
        for (u = h->use_lo[v]; u < h->use_lo[v + 1]; u++)
            l->uses[n++] = h->uses[u];
    }
    l->lo[m->nthreads] = (uint32_t)n;
    if (rank_link_by_item(l, h->nitems) != SW_OK)
        goto nomem;
    *out = l;
    return SW_OK;
nomem:
    rank__link_free(&l);
    return SW_ENOMEM;
}

void rank__link_free(struct rank_link **lp)
{
    if (lp == NULL || *lp == NULL)
        return;
    sw_free((*lp)->lo);
    sw_free((*lp)->uses);
    sw_free((*lp)->known);
    sw_free((*lp)->item_lo);
    sw_free((*lp)->iuse);
    sw_free(*lp);
    *lp = NULL;
}

/* rank_local_sum adds to loc the evidence of m's threads weighted by their
 * similarity to the query (sims; skipped threads hold -INFINITY) in
 * standard units: weight max(0, 1 + z), z = (sim - mean) / sd over them
 * all, so a thread as alike as most weighs 1, one sharing the query's
 * rarer words more, one a standard deviation below the mean 0, whatever
 * the embedder's scale. */
static void rank_local_sum(const struct rank_model *m, const float *sims,
                           double *wt, const struct rank_link *link,
                           struct rank_local *loc)
{
    double mean = 0.0, var = 0.0, sd;
    size_t i, n = 0, e, s, ns;

    for (i = 0; i < m->nthreads; i++)
        if (sims[i] != -INFINITY) {
            mean += (double)sims[i];
            n++;
        }
    if (n == 0)
        return;
    mean /= (double)n;
    for (i = 0; i < m->nthreads; i++)
        if (sims[i] != -INFINITY)
            var += ((double)sims[i] - mean) * ((double)sims[i] - mean);
    sd = sqrt(var / (double)n);
    /* Each thread's weight once (-1: skipped). */
    for (i = 0; i < m->nthreads; i++) {
        double w;
        if (sims[i] == -INFINITY) {
            wt[i] = -1.0;
            continue;
        }
        if (link->known[i])
            loc->threads++;
        w = sd > 1e-9 ? 1.0 + ((double)sims[i] - mean) / sd : 1.0;
        wt[i] = w < 0.0 ? 0.0 : w;
    }
    /* Item by item, over the link's per-item list: only the items loc
     * holds (a call's candidates), each item's uses in thread order as
     * a pass over the threads would add them, so the sums are the same
     * to the bit. */
    ns = loc->slot ? loc->nitems
                   : (loc->nitems < link->nitems ? loc->nitems : link->nitems);
    for (s = 0; s < ns; s++) {
        size_t ii = loc->slot ? loc->items[s] : s;
        double value = 0.0, uses = 0.0, pos = 0.0, wall = 0.0, nall = 0.0,
               vraw = 0.0, nraw = 0.0;
        if (ii >= link->nitems)
            continue;
        for (e = link->item_lo[ii]; e < link->item_lo[ii + 1]; e++) {
            const struct rank_iuse *iu = &link->iuse[e];
            double w = wt[iu->thread];
            if (w < 0.0)
                continue;
            wall += w;
            nall += 1.0;
            if (!iu->mature)
                continue;
            value += w * iu->value;
            uses += w;
            pos += w * (int)iu->positive;
            vraw += iu->value;
            nraw += 1.0;
        }
        loc->value[s] += value;
        loc->uses[s] += uses;
        loc->pos[s] += pos;
        loc->wall[s] += wall;
        loc->nall[s] += nall;
        loc->vraw[s] += vraw;
        loc->nraw[s] += nraw;
    }
}

size_t rank__fold_in(const struct rank_model *m, const float *q, size_t dim,
                     const struct rank__map *skip, double *xq,
                     const struct rank_link *link, struct rank_local *loc)
{
    size_t top[RANK_FOLD_NEIGHBOURS], ntop = 0, i, j;
    int8_t *qq = NULL;
    int16_t *q16 = NULL;
    float *sims;
    double wsum = 0.0;
    uint64_t dummy;

    if (m == NULL || m->X == NULL || m->k < 1)
        return 0;
    memset(xq, 0, (size_t)m->k * sizeof(*xq));
    if (m->nthreads == 0 || m->dim != dim)
        return 0;
    sims = sw_malloc(m->nthreads * sizeof(*sims));
    qq = m->embq ? sw_malloc(dim + 1) : NULL;
    q16 = m->embq ? sw_malloc((dim + 1) * sizeof(*q16)) : NULL;
    if (sims == NULL || (m->embq && (qq == NULL || q16 == NULL))) {
        sw_free(sims);
        sw_free(qq);
        sw_free(q16);
        return 0; /* no collaborative term rather than a failed call */
    }
    if (m->embq) {
        /* 8-bit values: a quarter of the bytes of the float rows, which
         * bound the pass (20,000 threads × 384 floats are 30 MB). */
        float qs = rank__quantize(q, dim, qq);
        rank_dot8_t dot = rank_dot8_fn();
        for (i = 0; i < dim; i++)
            q16[i] = qq[i];
        for (i = 0; i < m->nthreads; i++)
            sims[i] =
                (float)dot(q16, m->embq + i * dim, dim) * qs * m->embq_scale[i];
    } else {
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)m->nthreads, (int)dim,
                    1.0f, m->emb, (int)dim, q, 1, 0.0f, sims, 1);
    }
    for (i = 0; i < m->nthreads; i++) {
        if (skip && rank__map_get(skip, m->thread_hash[i], &dummy)) {
            sims[i] = -INFINITY;
            continue;
        }
        if (sims[i] < RANK_FOLD_MIN_SIM)
            continue;
        /* Keep the best neighbours, ties broken by index. */
        for (j = ntop; j > 0 && sims[top[j - 1]] < sims[i]; j--)
            if (j < RANK_FOLD_NEIGHBOURS)
                top[j] = top[j - 1];
        if (j < RANK_FOLD_NEIGHBOURS) {
            top[j] = i;
            if (ntop < RANK_FOLD_NEIGHBOURS)
                ntop++;
        }
    }
    for (j = 0; j < ntop; j++) {
        double w = (double)sims[top[j]] * (double)sims[top[j]];
        const float *x = m->X + top[j] * (size_t)m->k;
        int d;
        for (d = 0; d < m->k; d++)
            xq[d] += w * (double)x[d];
        wsum += w;
    }
    if (wsum > 0)
        for (j = 0; j < (size_t)m->k; j++)
            xq[j] /= wsum;
    if (loc && link && link->nthreads == m->nthreads) {
        double *wt = sw_malloc(m->nthreads * sizeof(*wt));
        if (wt)
            rank_local_sum(m, sims, wt, link, loc);
        sw_free(wt);
    }
    sw_free(sims);
    sw_free(qq);
    sw_free(q16);
    return ntop;
}

double rank__local_outcome(const struct rank_params *p,
                           const struct rank_hist *h,
                           const struct rank_hitem *it, size_t ii,
                           const struct rank_local *loc)
{
    double k = p->local_strength, w, move;
    size_t at;

    if (loc == NULL || loc->threads == 0 || !rank__local_at(loc, ii, &at) ||
        loc->nraw[at] <= 0 || !(loc->uses[at] > 0) || !(k >= 0))
        return rank_item_outcome(h, it);
    w = loc->uses[at];
    move = loc->value[at] / w - loc->vraw[at] / loc->nraw[at];
    return rank_item_outcome(h, it) + move * w / (w + k);
}

double rank__local_usage(const struct rank_params *p,
                         const struct rank_local *loc, size_t ii)
{
    double k = p->usage_strength > 0 ? p->usage_strength : 1.0;
    size_t at;

    if (loc == NULL || loc->threads == 0 || !rank__local_at(loc, ii, &at))
        return 0.0;
    return log((loc->wall[at] + k) / (loc->nall[at] + k));
}

double rank__collab(const struct rank_model *m, const double *xq,
                    const char *id, const char *content_id)
{
    long i;
    double s = 0.0;
    int d;

    if (m == NULL || m->Y == NULL)
        return 0.0;
    i = rank_model_item(m, id);
    if (i < 0 && content_id && content_id[0])
        i = rank_model_item(m, content_id);
    if (i < 0)
        return 0.0;
    for (d = 0; d < m->k; d++)
        s += xq[d] * (double)m->Y[(size_t)i * m->k + d];
    return s;
}

void rank__score(const struct rank_params *p, const struct rank_hist *h,
                 const struct rank_hitem *it, size_t ii,
                 const struct rank_local *loc, double rel, double collab,
                 uint64_t seed, int mode, struct rank_score *s)
{
    struct rank_rng g;

    memset(s, 0, sizeof(*s));
    s->relevance = rel;
    /* The random mode's draw keys on what the item is (rank_hitem.key),
     * not on its server-made id, so that it repeats across stores with
     * the same history. */
    g.s = seed ^ rank__hash64(it->key, strlen(it->key), 0x7e);
    switch (mode) {
    case RANK_MODE_POPULARITY:
        s->total = (double)it->ev.times_used + 1e-3 * rel;
        return;
    case RANK_MODE_SIMILARITY:
        s->total = rel;
        return;
    case RANK_MODE_RANDOM:
        s->total = rank_rng_uniform(&g);
        return;
    default:
        break;
    }
    s->outcome = tanh(rank__local_outcome(p, h, it, ii, loc));
    s->collab = tanh(collab);
    s->usage = rank__local_usage(p, loc, ii);
    /* Exploration, upper confidence bound on the scale of the outcome:
     * the standard error of the item's mean value per use, the team's
     * spread of a use's value over the square root of its trials plus
     * the prior's pseudo-uses. A new item stands a share of what
     * separates the team's items above its prior; a well-known one
     * little. Deterministic, like the rest of the score. */
    s->explore = h->use_sd / sqrt((double)it->ev.trials + p->prior_strength);
    if (it->kind == 'c') {
        s->adoption = it->adoption;
        s->total = p->wc_relevance * s->relevance + p->wc_outcome * s->outcome +
                   p->wc_collab * s->collab + p->wc_explore * s->explore +
                   p->wc_adoption * s->adoption + p->wc_usage * s->usage;
    } else {
        s->total = p->w_relevance * s->relevance + p->w_outcome * s->outcome +
                   p->w_collab * s->collab + p->w_explore * s->explore +
                   p->w_usage * s->usage;
    }
}

void rank__score_account(const struct rank_params *p,
                         const struct rank_hitem *it,
                         const struct rank_acct_evid *ev, int mode,
                         struct rank_score *s)
{
    if (mode != RANK_MODE_OUTCOME || ev->trials <= 0)
        return;
    s->account = tanh(rank_account_move(p, it, ev));
    s->total += (it->kind == 'c' ? p->wc_account : p->w_account) * s->account;
}

/* rank_fb_net: the verdict of counts c (up +1, dismissed -1, down -2)
 * and its weight. */
static double rank_fb_net(const struct rank_fb_counts *c, double *mass)
{
    double up = (double)c->n[RANK_FB_THUMBS_UP];
    double dis = (double)c->n[RANK_FB_DISMISSED];
    double down = (double)c->n[RANK_FB_THUMBS_DOWN];

    *mass = up + dis + 2.0 * down;
    return up - dis - 2.0 * down;
}

void rank__score_feedback(const struct rank_params *p,
                          const struct rank_hitem *it,
                          const struct rank_sugg_fb *fb, int mode,
                          struct rank_score *s)
{
    double rep, team, mass, k;

    if (mode == RANK_MODE_POPULARITY) {
        s->total += (double)fb->pending;
        return;
    }
    if (mode != RANK_MODE_OUTCOME)
        return;
    rep = rank_fb_net(&fb->rep, &mass);
    team = rank_fb_net(&fb->team, &mass);
    k = p->feedback_strength > 0 ? p->feedback_strength : 1.0;
    team /= k + mass;
    if (rep == 0.0 && team == 0.0)
        return;
    s->feedback = tanh(rep + team);
    s->total +=
        (it->kind == 'c' ? p->wc_feedback : p->w_feedback) * s->feedback;
}
