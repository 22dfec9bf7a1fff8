/* adapter: a query-side linear map learnt from the team's outcomes
 * (issue 21, "embeddings that learn from outcomes"). The nightly job
 * trains it; Suggest applies it to the query's embedding before the index
 * search and the relevance cosines, so that the words of a thread point
 * at what worked in threads like it.
 *
 * The map is a low-rank update of the identity, A = I + U Vᵀ (U and V are
 * dim × rank), and a query q becomes A q / |A q|. Only the query side
 * changes: the stored snippet vectors and the index stay as they are, so
 * the adapter needs no re-embedding and works with any embedder.
 *
 * Thread-safety: an adapter is immutable once trained or loaded and may
 * be shared; training is single-threaded. */
#ifndef RANK_ADAPTER_H
#define RANK_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_err.h"

#define RANK_ADAPTER_RANK_MAX 64

struct rank_adapter {
    size_t dim;
    int rank;
    float *U; /* dim × rank, row-major */
    float *V; /* dim × rank, row-major */
};

/* One training pair: query q (a row of the query matrix) with item (a row
 * of the item matrix), weighing w > 0. A positive pair (a use that paid
 * off) pulls the query towards its item and away from the mean of the
 * item's kind, the other items standing in as in-batch negatives; a
 * negative pair (a use that went badly) pushes it the other way. */
struct rank_adapter_pair {
    uint32_t q;
    uint32_t item;
    float w;
    int negative;
};

struct rank_adapter_opts {
    int rank;         /* columns of U and V (1..RANK_ADAPTER_RANK_MAX) */
    int epochs;       /* passes over the pairs */
    double lr;        /* SGD step */
    double temp;      /* logistic scale of the dot products */
    double decay;     /* L2 pull of U and V towards zero per step */
    size_t max_pairs; /* the pairs used at most (the first ones) */
    double budget;    /* multiply-adds per epoch at most (4 dim × rank a
                         pair); fewer pairs are used beyond it */
    uint64_t seed;    /* V's start and the order of the pairs */
};

/* rank_adapter_opts_default fills o with the defaults of RANKING.md. */
void rank_adapter_opts_default(struct rank_adapter_opts *o);

/* rank_adapter_train learns an adapter from np pairs over nq queries Q
 * (nq × dim) and ni items S (ni × dim, L2-normalised), item i of kind
 * kinds[i] (at most 8 kinds; a pair's item is contrasted with the mean
 * of its kind). The
 * result depends only on the inputs and o (same bytes for the same
 * inputs). *used gets the number of pairs trained on. The caller frees
 * *out with rank_adapter_free. Errors: SW_EINVAL (no pairs, a bad index,
 * dim 0, a rank out of range), SW_ENOMEM. */
SW_MUST_CHECK sw_err rank_adapter_train(
    const float *Q, size_t nq, const float *S, const int *kinds, size_t ni,
    size_t dim, const struct rank_adapter_pair *pairs, size_t np,
    const struct rank_adapter_opts *o, size_t *used, struct rank_adapter **out);

/* rank_adapter_apply writes A q / |A q| to out (dim floats; out may be
 * q). A zero result (a zero q) is left zero. */
void rank_adapter_apply(const struct rank_adapter *a, const float *q,
                        float *out);

/* rank_adapter_new allocates a zero adapter (A = I) of dim × rank.
 * Errors: SW_EINVAL, SW_ENOMEM. */
SW_MUST_CHECK sw_err rank_adapter_new(size_t dim, int rank,
                                      struct rank_adapter **out);

/* rank_adapter_free frees *a and sets it to NULL; NULL is accepted. */
void rank_adapter_free(struct rank_adapter **a);

#endif
