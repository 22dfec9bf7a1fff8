/* als: implicit ALS (see als.h). Each half-step precomputes YtY with one
 * dsyrk, then per row adds the observed cells' (c - 1) y yt terms and
 * solves the k × k positive definite system with LAPACKE_dposv. */
#include "ranker/als.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/sw_mem.h"

/* A compressed view of the cells, by row or by column. */
struct rank_als_csr {
    size_t *start; /* n + 1 */
    uint32_t *idx; /* the other side */
    double *pref, *conf;
};

static void rank_als_csr_free(struct rank_als_csr *m)
{
    sw_free(m->start);
    sw_free(m->idx);
    sw_free(m->pref);
    sw_free(m->conf);
    memset(m, 0, sizeof(*m));
}

static sw_err rank_als_csr(size_t n, const struct rank_als_cell *cells,
                           size_t nc, int by_col, struct rank_als_csr *m)
{
    size_t i, *fill = NULL;

    m->start = sw_calloc(n + 1, sizeof(*m->start));
    m->idx = sw_calloc(nc + 1, sizeof(*m->idx));
    m->pref = sw_calloc(nc + 1, sizeof(*m->pref));
    m->conf = sw_calloc(nc + 1, sizeof(*m->conf));
    fill = sw_calloc(n + 1, sizeof(*fill));
    if (!m->start || !m->idx || !m->pref || !m->conf || !fill) {
        sw_free(fill);
        rank_als_csr_free(m);
        return SW_ENOMEM;
    }
    for (i = 0; i < nc; i++)
        m->start[(by_col ? cells[i].col : cells[i].row) + 1]++;
    for (i = 0; i < n; i++)
        m->start[i + 1] += m->start[i];
    for (i = 0; i < nc; i++) {
        size_t r = by_col ? cells[i].col : cells[i].row;
        size_t at = m->start[r] + fill[r]++;
        m->idx[at] = by_col ? cells[i].row : cells[i].col;
        m->pref[at] = cells[i].pref;
        m->conf[at] = cells[i].conf;
    }
    sw_free(fill);
    return SW_OK;
}

/* rank_als_solve_row solves one row: A = YtY + sum (c-1) y yt + lambda I,
 * b = sum c p y. work holds k*k + k doubles. */
static sw_err rank_als_solve_row(const double *YtY, const double *Y, int k,
                                 double lambda, const uint32_t *idx,
                                 const double *pref, const double *conf,
                                 size_t n, double *work, double *x)
{
    double *A = work, *b = work + (size_t)k * k;
    size_t i;
    int j;

    memcpy(A, YtY, (size_t)k * k * sizeof(*A));
    memset(b, 0, (size_t)k * sizeof(*b));
    for (j = 0; j < k; j++)
        A[(size_t)j * k + j] += lambda;
    for (i = 0; i < n; i++) {
        const double *y = Y + (size_t)idx[i] * k;
        if (conf[i] > 1.0)
            cblas_dsyr(CblasRowMajor, CblasUpper, k, conf[i] - 1.0, y, 1, A, k);
        if (pref[i] > 0)
            cblas_daxpy(k, conf[i] * pref[i], y, 1, b, 1);
    }
    if (LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', k, 1, A, k, b, 1) != 0)
        return SW_EINTERNAL;
    memcpy(x, b, (size_t)k * sizeof(*x));
    return SW_OK;
}

static sw_err rank_als_half(const struct rank_als_csr *m, size_t n,
                            const double *Y, size_t ny, int k, double lambda,
                            double *X, double *work)
{
    double *YtY = work;
    size_t r;
    sw_err rc;

    memset(YtY, 0, (size_t)k * k * sizeof(*YtY));
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, k, (int)ny, 1.0, Y, k,
                0.0, YtY, k);
    for (r = 0; r < n; r++) {
        size_t s = m->start[r], e = m->start[r + 1];
        rc = rank_als_solve_row(YtY, Y, k, lambda, m->idx + s, m->pref + s,
                                m->conf + s, e - s, work + (size_t)k * k,
                                X + r * k);
        if (rc)
            return rc;
    }
    return SW_OK;
}

static double rank_als_uniform(uint64_t *s)
{
    uint64_t z;

    *s += 0x9e3779b97f4a7c15ULL;
    z = *s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

sw_err rank_als_fit(size_t nrows, size_t ncols,
                    const struct rank_als_cell *cells, size_t ncells,
                    const struct rank_als_opts *o, double **Xo, double **Yo,
                    int *k_out)
{
    struct rank_als_csr byrow = {0}, bycol = {0};
    double *X = NULL, *Y = NULL, *work = NULL, lambda;
    int k, iters, it;
    uint64_t seed;
    size_t i;
    sw_err rc;

    k = o && o->factors ? o->factors : 16;
    iters = o && o->iters ? o->iters : 12;
    lambda = o && o->lambda > 0 ? o->lambda : 0.1;
    seed = o ? o->seed : 0;
    if (k < 1 || k > 256 || iters < 1 || iters > 100 || nrows == 0 ||
        ncols == 0)
        return SW_EINVAL;
    for (i = 0; i < ncells; i++)
        if (cells[i].row >= nrows || cells[i].col >= ncols ||
            !(cells[i].conf >= 1.0) || !isfinite(cells[i].pref))
            return SW_EINVAL;
    rc = rank_als_csr(nrows, cells, ncells, 0, &byrow);
    if (rc == SW_OK)
        rc = rank_als_csr(ncols, cells, ncells, 1, &bycol);
    if (rc)
        goto out;
    rc = SW_ENOMEM;
    X = sw_calloc(nrows * (size_t)k, sizeof(*X));
    Y = sw_calloc(ncols * (size_t)k, sizeof(*Y));
    work = sw_calloc((size_t)k * k * 2 + (size_t)k, sizeof(*work));
    if (!X || !Y || !work)
        goto out;
    for (i = 0; i < ncols * (size_t)k; i++) {
        if (o && o->col_seeds && i % (size_t)k == 0)
            seed = o->col_seeds[i / (size_t)k];
        Y[i] = (rank_als_uniform(&seed) - 0.5) * 0.2;
    }
    for (it = 0; it < iters; it++) {
        rc = rank_als_half(&byrow, nrows, Y, ncols, k, lambda, X, work);
        if (rc == SW_OK)
            rc = rank_als_half(&bycol, ncols, X, nrows, k, lambda, Y, work);
        if (rc)
            goto out;
    }
    *Xo = X;
    *Yo = Y;
    *k_out = k;
    X = Y = NULL;
    rc = SW_OK;
out:
    sw_free(X);
    sw_free(Y);
    sw_free(work);
    rank_als_csr_free(&byrow);
    rank_als_csr_free(&bycol);
    return rc;
}

sw_err rank_als_fold_in(const double *Y, size_t ncols, int k, double lambda,
                        const uint32_t *col, const double *pref,
                        const double *conf, size_t n, double *x)
{
    double *work;
    size_t i;
    sw_err rc;

    if (Y == NULL || k < 1 || x == NULL)
        return SW_EINVAL;
    for (i = 0; i < n; i++)
        if (col[i] >= ncols || !(conf[i] >= 1.0))
            return SW_EINVAL;
    work = sw_calloc((size_t)k * k * 2 + (size_t)k, sizeof(*work));
    if (work == NULL)
        return SW_ENOMEM;
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, k, (int)ncols, 1.0, Y, k,
                0.0, work, k);
    rc = rank_als_solve_row(work, Y, k, lambda > 0 ? lambda : 0.1, col, pref,
                            conf, n, work + (size_t)k * k, x);
    sw_free(work);
    return rc;
}
