/* rerank: the nightly re-ranking job of one team. It reads the team's
 * history in one read transaction, recomputes families, attribution and
 * priors, trains the collaborative model (ALS over thread contexts ×
 * items) on a time split, evaluates it on the holdout against the serving
 * model and the popularity and similarity baselines (NDCG@10, recall@10,
 * replay reply-rate lift), learns a query adapter from the training
 * threads' uses and their outcomes (ranker/adapter.h) and evaluates it on
 * the same holdout, refits on all threads, and stores the model and
 * its report, promoting it in the same write transaction only if it is not
 * worse than the serving one (or when forced). Runs in snipd serve (the
 * RPC) or as a second process (`snipd rerank`); Suggest keeps serving.
 *
 * Thread-safety: concurrent runs for one team are refused by the caller
 * (RunRerank); the store serialises the final write. */
#ifndef RANK_RERANK_H
#define RANK_RERANK_H

#include "base/sw_err.h"
#include "ranker/hist.h"
#include "ranker/index.h"
#include "ranker/model.h"
#include "store/store.h"

struct rank_rerank_opts {
    int force_promote;
    int dry_run;        /* evaluate and report only; never promote or store */
    int64_t now_ms;     /* create time of the model; 0 = the clock */
    size_t max_threads; /* training threads kept for fold-in; 0 = 20000 */
    int no_adapter;     /* learn no query adapter */
};

/* Progress: phase ("families", "attribution", "collaborative", "priors",
 * "evaluate", "promote", "done"), overall fraction 0..1 and a detail.
 * Returning non-zero cancels the run (SW_ECANCELLED). */
typedef int (*rank_progress_fn)(const char *phase, double fraction,
                                const char *message, void *arg);

struct rank_rerank_result {
    struct rank_model *model; /* header (metrics, report); caller frees */
    int promoted;
    char decision[256];
    int adapter_promoted;       /* the model carries a new adapter */
    char adapter_decision[256]; /* why it does or does not */
};

/* A candidate may be this much worse than the serving model on NDCG@10
 * and still be promoted (evaluation noise between two runs). */
#define RANK_PROMOTE_TOLERANCE 0.005

/* rank_promote_decision is the promotion gate of a run with options o,
 * whose evaluation m holds the candidate (m->model) and the serving model
 * on the same holdout (m->base[RANK_BASE_CURRENT]): a dry run never
 * promotes; a forced run, or one with no serving model, always does;
 * otherwise the candidate is promoted only when its NDCG@10 plus
 * RANK_PROMOTE_TOLERANCE is at least the serving model's. It writes the
 * reason in words to why (cap bytes, may be 0) and returns 1 to promote. */
int rank_promote_decision(const struct rank_rerank_opts *o,
                          const struct rank_metrics *m, char *why, size_t cap);

/* The query adapter needs at least this many positive training pairs.
 * It changes relevance only, so it is judged there: it is kept when
 * relevance alone ranks the holdout better with it by RANK_ADAPTER_MARGIN
 * NDCG@10 (about the evaluation's noise at a few hundred holdout threads)
 * and the candidate's whole ranking (what Suggest serves) is not worse
 * with it by more than RANK_PROMOTE_TOLERANCE; and, since one night's
 * holdout of a few dozen threads can favour it by chance, only when the
 * run before (the newest stored model, promoted or not) passed too. */
#define RANK_ADAPTER_MIN_PAIRS 30
#define RANK_ADAPTER_MARGIN 0.01

/* rank_adapter_decision is the adapter's gate for the evaluation m: no
 * adapter when none was trained (too few pairs, or o->no_adapter), when
 * relevance alone on the documents' lists, m->adapter.doc_with.ndcg, is
 * below m->adapter.doc.ndcg + RANK_ADAPTER_MARGIN (when the holdout had
 * no such list, m->adapter.doc not present: all lists,
 * m->adapter.sim_with.ndcg against m->base[RANK_BASE_SIMILARITY].ndcg),
 * or when m->adapter.with.ndcg is below
 * m->model.ndcg - RANK_PROMOTE_TOLERANCE; it sets m->adapter.passed
 * when neither holds. Passed, it keeps the adapter only when prev (the
 * run before's metrics: the newest stored model, whether or not it was
 * promoted; NULL: none) passed too. A dry run decides but
 * stores nothing. It writes the reason in words to why (cap bytes, may be
 * 0) and returns 1 to keep the adapter. */
int rank_adapter_decision(const struct rank_rerank_opts *o,
                          struct rank_metrics *m,
                          const struct rank_metrics *prev, char *why,
                          size_t cap);

/* rank_serving_metrics writes to out the metrics the model's promotion
 * gate compares with the serving model: m, but with the candidate's
 * figures (m->model) those of the candidate with its query adapter
 * (m->adapter.with) when adapter_kept, since that is what would serve.
 * The serving model (m->base[RANK_BASE_CURRENT]) is evaluated with its
 * own adapter, if it has one. */
void rank_serving_metrics(const struct rank_metrics *m, int adapter_kept,
                          struct rank_metrics *out);

/* rank_rerank_team runs the job for team_id with p (NULL: defaults).
 * progress may be NULL. On success *res holds the result (free
 * res->model with rank_model_free). Errors: SW_EINVAL, SW_ECANCELLED,
 * SW_ENOMEM, SW_ESTORE, SW_ECORRUPT, SW_EINTERNAL, SW_ETOOBIG. */
SW_MUST_CHECK sw_err rank_rerank_team(store *s, rank_ranker *r,
                                      const char *team_id,
                                      const struct rank_params *p,
                                      const struct rank_rerank_opts *o,
                                      rank_progress_fn progress, void *arg,
                                      struct rank_rerank_result *res);

#endif
