/* suggest_int.h: pieces of the ranking engine shared by suggest.c,
 * suggest_rank.c and rerank.c. Included only inside ranker/. */
#ifndef RANK_SUGGEST_INT_H
#define RANK_SUGGEST_INT_H

#include "ranker/hist.h"
#include "ranker/model.h"
#include "ranker/suggest.h"

/* A cached, reference-counted statistics or model. */
struct rank_cref {
    int refs;
    struct rank_hist *h;
    struct rank_model *m;
};

/* rank__state returns references to the statistics and serving model
 * (*model NULL when none) matching the snapshot of read transaction t.
 * Release both with rank__cref_put. */
SW_MUST_CHECK sw_err rank__state(rank_engine *e, store_txn *t, const char *team,
                                 struct rank_cref **hist,
                                 struct rank_cref **model);
void rank__cref_put(rank_engine *e, struct rank_cref **c);

/* rank__fold_in computes the context vector xq (m->k doubles) of a new
 * thread from its nearest past threads in m (by cosine of the context
 * embeddings q, dim floats), skipping threads whose hash is in skip (may
 * be NULL). Returns the number of neighbours used (0: xq is zero). */
size_t rank__fold_in(const struct rank_model *m, const float *q, size_t dim,
                     const struct rank__map *skip, double *xq);

/* rank__collab is the collaborative score of item id for context xq, or
 * for a family unknown to the model, that of its content item (the
 * content-based start); 0 when neither is known. */
double rank__collab(const struct rank_model *m, const double *xq,
                    const char *id, const char *content_id);

/* rank__score fills s for item it of h with relevance rel and raw
 * collaborative score collab under mode; draws come from a PRNG seeded by
 * seed and the item's key (so they do not depend on candidate order). */
void rank__score(const struct rank_params *p, const struct rank_hist *h,
                 const struct rank_hitem *it, double rel, double collab,
                 uint64_t seed, int mode, struct rank_score *s);

#endif
