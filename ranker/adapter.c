/* adapter: training and application of the query-side low-rank map (see
 * adapter.h). Plain SGD on a logistic loss of each pair's item against the
 * mean of its kind, in a seeded order, with OpenBLAS for the products. */
#include "ranker/adapter.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "base/sw_mem.h"

/* Defaults (RANKING.md, "The adapter"). */
#define RANK_ADAPTER_DEF_RANK 16
#define RANK_ADAPTER_DEF_EPOCHS 8
#define RANK_ADAPTER_DEF_LR 0.05
#define RANK_ADAPTER_DEF_TEMP 10.0
#define RANK_ADAPTER_DEF_DECAY 1e-4
#define RANK_ADAPTER_DEF_PAIRS 50000
#define RANK_ADAPTER_DEF_BUDGET 2e9

void rank_adapter_opts_default(struct rank_adapter_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->rank = RANK_ADAPTER_DEF_RANK;
    o->epochs = RANK_ADAPTER_DEF_EPOCHS;
    o->lr = RANK_ADAPTER_DEF_LR;
    o->temp = RANK_ADAPTER_DEF_TEMP;
    o->decay = RANK_ADAPTER_DEF_DECAY;
    o->max_pairs = RANK_ADAPTER_DEF_PAIRS;
    o->budget = RANK_ADAPTER_DEF_BUDGET;
    o->seed = 0x61da9e7;
}

sw_err rank_adapter_new(size_t dim, int rank, struct rank_adapter **out)
{
    struct rank_adapter *a;

    if (dim == 0 || rank < 1 || rank > RANK_ADAPTER_RANK_MAX || out == NULL)
        return SW_EINVAL;
    a = sw_calloc(1, sizeof(*a));
    if (a == NULL)
        return SW_ENOMEM;
    a->dim = dim;
    a->rank = rank;
    a->U = sw_calloc(dim * (size_t)rank, sizeof(*a->U));
    a->V = sw_calloc(dim * (size_t)rank, sizeof(*a->V));
    if (a->U == NULL || a->V == NULL) {
        rank_adapter_free(&a);
        return SW_ENOMEM;
    }
    *out = a;
    return SW_OK;
}

void rank_adapter_free(struct rank_adapter **ap)
{
    if (ap == NULL || *ap == NULL)
        return;
    sw_free((*ap)->U);
    sw_free((*ap)->V);
    sw_free(*ap);
    *ap = NULL;
}

/* rank_adapter_map writes f = q + U (Vᵀ q) to f and z = Vᵀ q to z. */
static void rank_adapter_map(const struct rank_adapter *a, const float *q,
                             float *z, float *f)
{
    const int d = (int)a->dim, r = a->rank;

    cblas_sgemv(CblasRowMajor, CblasTrans, d, r, 1.0f, a->V, r, q, 1, 0.0f, z,
                1);
    memmove(f, q, a->dim * sizeof(*f));
    cblas_sgemv(CblasRowMajor, CblasNoTrans, d, r, 1.0f, a->U, r, z, 1, 1.0f, f,
                1);
}

void rank_adapter_apply(const struct rank_adapter *a, const float *q,
                        float *out)
{
    float z[RANK_ADAPTER_RANK_MAX];
    float n;

    assert(a->rank >= 1 && a->rank <= RANK_ADAPTER_RANK_MAX);
    rank_adapter_map(a, q, z, out);
    n = cblas_snrm2((int)a->dim, out, 1);
    if (n > 0)
        cblas_sscal((int)a->dim, 1.0f / n, out, 1);
}

/* splitmix64: the seeded order of the pairs and V's start. */
static uint64_t rank_adapter_rng(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Each item's contrast: its vector minus the mean of its kind's items,
 * so that a pair moves its item against the rest of its list (the
 * in-batch negatives, pooled) and never the level of every cosine. */
static sw_err rank_adapter_contrasts(const float *S, const int *kinds,
                                     size_t ni, size_t dim, float **out)
{
    int kind[8];
    double *mean = NULL;
    size_t count[8], nk = 0, i, k, x;
    float *D = NULL;

    memset(count, 0, sizeof(count));
    mean = sw_calloc(8 * dim, sizeof(*mean));
    D = sw_malloc((ni * dim + 1) * sizeof(*D));
    if (mean == NULL || D == NULL) {
        sw_free(mean);
        sw_free(D);
        return SW_ENOMEM;
    }
    for (i = 0; i < ni; i++) {
        for (k = 0; k < nk && kind[k] != kinds[i]; k++)
            ;
        if (k == nk) {
            if (nk == 8) {
                sw_free(mean);
                sw_free(D);
                return SW_EINVAL; /* at most 8 kinds */
            }
            kind[nk++] = kinds[i];
        }
        count[k]++;
        for (x = 0; x < dim; x++)
            mean[k * dim + x] += S[i * dim + x];
    }
    for (i = 0; i < ni; i++) {
        for (k = 0; kind[k] != kinds[i]; k++)
            ;
        for (x = 0; x < dim; x++)
            D[i * dim + x] =
                (float)(S[i * dim + x] - mean[k * dim + x] / (double)count[k]);
    }
    sw_free(mean);
    *out = D;
    return SW_OK;
}

/* Scratch of one SGD step. */
struct rank_adapter_work {
    float *f, *gf, *dz, *z;
};

/* rank_adapter_step takes one SGD step on pair p with contrast c (its
 * item's row of rank_adapter_contrasts): the margin is l = temp · (A q) ·
 * c, and the loss w · log(1 + e^{-y l}), y = 1 for a positive pair and -1
 * for a negative one: the item above its list where it paid off, below
 * where it did not. The gradient reaches U through f = q + U z and V
 * through z = Vᵀ q. */
static void rank_adapter_step(struct rank_adapter *a, const float *q,
                              const float *c, const struct rank_adapter_pair *p,
                              const struct rank_adapter_opts *o,
                              struct rank_adapter_work *w)
{
    const int d = (int)a->dim, r = a->rank;
    const double y = p->negative ? -1.0 : 1.0;
    double l, g;

    rank_adapter_map(a, q, w->z, w->f);
    l = o->temp * cblas_sdot(d, w->f, 1, c, 1);
    /* dloss/dl = -y w σ(-y l) */
    g = -y * p->w / (1.0 + exp(y * l));
    memcpy(w->gf, c, a->dim * sizeof(float));
    cblas_sscal(d, (float)(g * o->temp), w->gf, 1);
    /* dz = Uᵀ gf, before U moves. */
    cblas_sgemv(CblasRowMajor, CblasTrans, d, r, 1.0f, a->U, r, w->gf, 1, 0.0f,
                w->dz, 1);
    cblas_sscal(d * r, (float)(1.0 - o->lr * o->decay), a->U, 1);
    cblas_sscal(d * r, (float)(1.0 - o->lr * o->decay), a->V, 1);
    cblas_sger(CblasRowMajor, d, r, (float)-o->lr, w->gf, 1, w->z, 1, a->U, r);
    cblas_sger(CblasRowMajor, d, r, (float)-o->lr, q, 1, w->dz, 1, a->V, r);
}

sw_err rank_adapter_train(const float *Q, size_t nq, const float *S,
                          const int *kinds, size_t ni, size_t dim,
                          const struct rank_adapter_pair *pairs, size_t np,
                          const struct rank_adapter_opts *o, size_t *used,
                          struct rank_adapter **out)
{
    struct rank_adapter_work w;
    struct rank_adapter *a = NULL;
    uint32_t *order = NULL;
    float *D = NULL;
    size_t i, first = 0, cap;
    uint64_t rs;
    double scale;
    int e;
    sw_err rc;

    memset(&w, 0, sizeof(w));
    if (Q == NULL || S == NULL || kinds == NULL || pairs == NULL || np == 0 ||
        o == NULL || used == NULL || out == NULL)
        return SW_EINVAL;
    for (i = 0; i < np; i++)
        if (pairs[i].q >= nq || pairs[i].item >= ni || !(pairs[i].w > 0))
            return SW_EINVAL;
    rc = rank_adapter_new(dim, o->rank, &a);
    if (rc == SW_OK)
        rc = rank_adapter_contrasts(S, kinds, ni, dim, &D);
    if (rc)
        goto out;
    /* Bounded time: at most max_pairs pairs and budget multiply-adds per
     * epoch (about 4 dim · rank a step); the newest pairs (the last ones)
     * are kept. */
    cap = o->max_pairs ? o->max_pairs : np;
    if (o->budget > 0 &&
        (double)cap * 4.0 * (double)dim * (double)o->rank > o->budget)
        cap = (size_t)(o->budget / (4.0 * (double)dim * (double)o->rank)) + 1;
    if (np > cap)
        first = np - cap;
    rc = SW_ENOMEM;
    order = sw_malloc((np - first) * sizeof(*order));
    w.f = sw_malloc(dim * sizeof(float));
    w.gf = sw_malloc(dim * sizeof(float));
    w.dz = sw_malloc(RANK_ADAPTER_RANK_MAX * sizeof(float));
    w.z = sw_malloc(RANK_ADAPTER_RANK_MAX * sizeof(float));
    if (!order || !w.f || !w.gf || !w.dz || !w.z)
        goto out;
    /* V starts as a random sketch (each z_k about unit variance for a unit
     * q); U at zero, so training starts from the plain embedder. */
    rs = o->seed;
    scale = sqrt(3.0 / o->rank);
    for (i = 0; i < dim * (size_t)o->rank; i++)
        a->V[i] = (float)(scale * (2.0 * (double)(rank_adapter_rng(&rs) >> 11) /
                                       9007199254740992.0 -
                                   1.0));
    for (i = first; i < np; i++)
        order[i - first] = (uint32_t)i;
    for (e = 0; e < o->epochs; e++) {
        /* Fisher-Yates with the seeded generator: the same order for the
         * same inputs. */
        for (i = np - first; i > 1; i--) {
            size_t x = (size_t)(rank_adapter_rng(&rs) % i);
            uint32_t t = order[i - 1];
            order[i - 1] = order[x];
            order[x] = t;
        }
        for (i = 0; i < np - first; i++) {
            const struct rank_adapter_pair *p = &pairs[order[i]];
            rank_adapter_step(a, Q + (size_t)p->q * dim,
                              D + (size_t)p->item * dim, p, o, &w);
        }
    }
    *used = np - first;
    *out = a;
    a = NULL;
    rc = SW_OK;
out:
    rank_adapter_free(&a);
    sw_free(D);
    sw_free(order);
    sw_free(w.f);
    sw_free(w.gf);
    sw_free(w.dz);
    sw_free(w.z);
    return rc;
}
