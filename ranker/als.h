/* als: implicit-feedback matrix factorisation by alternating least squares
 * (Hu, Koren and Volinsky 2008) on OpenBLAS and LAPACKE. Rows are thread
 * contexts, columns items (framing families and content items); each
 * observed cell has a preference p (0 or 1) and a confidence c >= 1, every
 * other cell p = 0 with confidence 1. Deterministic for the same input
 * (seeded initialisation, single-threaded BLAS calls in a fixed order).
 *
 * Thread-safety: rank_als_fit touches only its arguments. */
#ifndef RANK_ALS_H
#define RANK_ALS_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_err.h"

struct rank_als_cell {
    uint32_t row, col;
    double pref; /* 0 or 1 */
    double conf; /* >= 1 */
};

struct rank_als_opts {
    int factors;   /* k; 0: 16 */
    int iters;     /* 0: 12 */
    double lambda; /* ridge; 0: 0.1 */
    uint64_t seed; /* of the initial factors */
    /* Optional, ncols entries: column i's initial factors are drawn from
     * col_seeds[i] instead of from one stream, so that they do not depend
     * on the order of the columns (ids are random per store). */
    const uint64_t *col_seeds;
};

/* rank_als_fit factorises the nrows × ncols matrix given by cells (any
 * order; a repeated cell counts once per entry) into X (nrows × k) and
 * Y (ncols × k), row-major doubles the caller frees with sw_free.
 * Errors: SW_EINVAL (a cell out of range, bad options), SW_ENOMEM,
 * SW_EINTERNAL (a system that LAPACKE could not solve). */
SW_MUST_CHECK sw_err rank_als_fit(size_t nrows, size_t ncols,
                                  const struct rank_als_cell *cells,
                                  size_t ncells, const struct rank_als_opts *o,
                                  double **X, double **Y, int *k_out);

/* rank_als_fold_in solves the row vector x (k) for one new row whose cells
 * are (col[i], pref[i], conf[i]) against fixed Y: the same normal
 * equations as one ALS half-step. Errors: SW_EINVAL, SW_ENOMEM,
 * SW_EINTERNAL. */
SW_MUST_CHECK sw_err rank_als_fold_in(const double *Y, size_t ncols, int k,
                                      double lambda, const uint32_t *col,
                                      const double *pref, const double *conf,
                                      size_t n, double *x);

#endif
