/* model: a team's ranking models as stored by the nightly job and read by
 * Suggest: a header (version, times, evaluation metrics, the run's report)
 * and the collaborative data (item factors, and the recent training
 * threads' context embeddings and factors for fold-in), and the query
 * adapter when the nightly job promoted one (ranker/adapter.h).
 *
 * Layout (team-prefixed):
 *   RANK_MODELS  team\0 be64(UINT64_MAX - seq) → header, newest first
 *                team\0 "serving"               → be64 seq of the serving one
 *   RANK_BLOBS   team\0 be64(seq)               → collaborative data
 * seq comes from the team's "model" counter. Promotion is one put of the
 * serving pointer, so readers see the old model or the new, never a mix.
 *
 * Thread-safety: a loaded rank_model is immutable and may be shared. */
#ifndef RANK_MODEL_H
#define RANK_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_buf.h"
#include "base/sw_err.h"
#include "ranker/adapter.h"
#include "ranker/embed.h"
#include "ranker/rank_int.h"
#include "store/store.h"

/* Baselines, numerically equal to snipwise.v1.Baseline. */
#define RANK_BASE_POPULARITY 1
#define RANK_BASE_SIMILARITY 2
#define RANK_BASE_CURRENT 3

struct rank_eval {
    double ndcg, recall, rate; /* rate: replay estimate of positive rate */
    int64_t matched;           /* holdout threads whose use was its top 3 */
    int present;
};

/* The query adapter on the holdout: the candidate ranked with the adapted
 * query (with) against model (the plain embedder), and relevance alone
 * adapted (sim_with) against base[RANK_BASE_SIMILARITY]. doc and doc_with
 * are relevance alone on the documents' lists only, plain and adapted
 * (present when the holdout had such a list; the gate's measure,
 * rank_adapter_decision); they are not stored with the model. */
struct rank_adapter_eval {
    struct rank_eval with, sim_with;
    struct rank_eval doc, doc_with;
    int64_t pairs; /* training pairs it learnt from (0: not trained) */
    int trained;   /* enough pairs to train one */
    int passed;    /* better on this run's holdout (rank_adapter_decision) */
    int promoted;  /* passed on this run and the one before: stored with
                      the model */
};

struct rank_metrics {
    struct rank_eval model;
    struct rank_eval base[4]; /* indexed by RANK_BASE_* */
    int64_t holdout_threads, holdout_outcomes, train_threads;
    struct rank_adapter_eval adapter; /* zero in a model from before it */
};

/* A model. Arrays are NULL when the header was loaded without its data. */
struct rank_model {
    uint64_t seq;
    char version[48];
    int64_t create_ms, promote_ms;
    int promoted;
    struct rank_metrics metrics;
    char *report;
    /* Collaborative data. */
    int k;
    size_t dim;
    double lambda, scale;
    size_t nitems;
    char **item_ids;
    float *Y;                 /* nitems × k */
    struct rank__map by_item; /* hash of item id → index */
    size_t nthreads;
    uint64_t *thread_hash;
    float *emb; /* nthreads × dim, L2-normalised */
    /* emb quantised to 8 bits per value, row t scaled by embq_scale[t]
     * (rank_model_quantize): what fold-in reads, a quarter of the memory
     * traffic of emb on every Suggest call. NULL until quantised. */
    int8_t *embq;
    float *embq_scale;
    float *X; /* nthreads × k */
    /* Document frequencies of those threads' contexts, which weigh the
     * words of emb and of a query compared with them (a name is rare in
     * snippets but common in mail); NULL in a model stored without them. */
    struct rank_df *cdf;
    /* The promoted query adapter, applied by Suggest to the query before
     * the index search and relevance; NULL: the plain embedder. */
    struct rank_adapter *adapter;
};

/* rank_model_quantize fills m->embq and m->embq_scale from m->emb (each
 * row by its largest magnitude); rank_model_load does it for models loaded
 * with their data, and the nightly job for the models it trains, so that
 * Suggest and the evaluation compare contexts alike. Errors: SW_ENOMEM. */
SW_MUST_CHECK sw_err rank_model_quantize(struct rank_model *m);

/* rank_model_free frees m and sets *m to NULL; NULL is accepted. */
void rank_model_free(struct rank_model **m);

/* rank_model_item finds an item's index by id; -1 when absent. */
long rank_model_item(const struct rank_model *m, const char *id);

/* rank_model_save stores m (header and data) for team_id in write
 * transaction t under the next "model" seq, written to m->seq, with
 * version "YYYYMMDDTHHMMSSZ-seq" from m->create_ms. Not promoted.
 * Errors: SW_EINVAL, SW_ENOMEM, SW_ETOOBIG, SW_ESTORE. */
SW_MUST_CHECK sw_err rank_model_save(store_txn *t, const char *team_id,
                                     struct rank_model *m);

/* rank_model_promote makes model seq the serving one (promote time
 * now_ms) in write transaction t. Errors: SW_ENOTFOUND, SW_EINVAL,
 * SW_ECORRUPT, SW_ENOMEM, SW_ETOOBIG, SW_ESTORE. */
SW_MUST_CHECK sw_err rank_model_promote(store_txn *t, const char *team_id,
                                        uint64_t seq, int64_t now_ms);

/* rank_model_serving writes the serving model's seq to *seq.
 * Errors: SW_ENOTFOUND (none promoted yet), SW_ECORRUPT, SW_ESTORE. */
SW_MUST_CHECK sw_err rank_model_serving(store_txn *t, const char *team_id,
                                        uint64_t *seq);

/* rank_model_load reads model seq (with its data when with_data) into a
 * new *out (rank_model_free). Errors: SW_ENOTFOUND, SW_EINVAL,
 * SW_ECORRUPT, SW_ENOMEM, SW_ESTORE. */
SW_MUST_CHECK sw_err rank_model_load(store_txn *t, const char *team_id,
                                     uint64_t seq, int with_data,
                                     struct rank_model **out);

/* rank_model_by_version finds the seq of a version string.
 * Errors: SW_ENOTFOUND (also for malformed versions), SW_ESTORE. */
SW_MUST_CHECK sw_err rank_model_by_version(store_txn *t, const char *team_id,
                                           const char *version, uint64_t *seq);

/* rank_model_list writes up to max model seqs (newest first, below
 * before_seq when it is non-zero) into seqs and their count to *n, and
 * sets *more when older ones remain. Errors: SW_EINVAL, SW_ESTORE. */
SW_MUST_CHECK sw_err rank_model_list(store_txn *t, const char *team_id,
                                     uint64_t before_seq, size_t max,
                                     uint64_t *seqs, size_t *n, int *more);

/* rank_model_prune deletes the data (not the header) of every model of
 * team_id except the newest keep and the serving one, in write
 * transaction t. Errors: SW_ENOMEM, SW_ETOOBIG, SW_ESTORE. */
SW_MUST_CHECK sw_err rank_model_prune(store_txn *t, const char *team_id,
                                      size_t keep);

#endif
