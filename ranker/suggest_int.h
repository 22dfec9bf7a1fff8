/* suggest_int.h: pieces of the ranking engine shared by suggest.c,
 * suggest_rank.c and rerank.c. Included only inside ranker/. */
#ifndef RANK_SUGGEST_INT_H
#define RANK_SUGGEST_INT_H

#include "ranker/feedback.h"
#include "ranker/hist.h"
#include "ranker/model.h"
#include "ranker/rank_int.h"
#include "ranker/suggest.h"

struct rank_link;

/* A cached, reference-counted statistics, model, link of the two or
 * feedback tally. */
struct rank_cref {
    int refs;
    uint64_t key[3]; /* what it was built for (engine.c) */
    uint64_t gen;    /* statistics: which build, for the link's key */
    struct rank_hist *h;
    struct rank_model *m;
    struct rank_link *l;
    struct rank_fb *fb;
};

/* What Suggest reads of a team: references to the statistics, the serving
 * model and their link (model and link NULL when no model serves), and
 * the feedback tally rolled up to the statistics' items. */
struct rank_state {
    struct rank_cref *hist, *model, *link, *fb;
};

/* rank__state fills *st with references to the state Suggest reads
 * (engine.c): for an engine never started, built for the snapshot of read
 * transaction t when stale; for a started one, what the publisher last
 * published, or all NULL when nothing is published yet (fresh->ready 0).
 * fresh (may be NULL) says how current they are against t. Release them
 * with rank__state_put. */
SW_MUST_CHECK sw_err rank__state(rank_engine *e, store_txn *t, const char *team,
                                 struct rank_state *st,
                                 struct rank_fresh *fresh);
void rank__state_put(rank_engine *e, struct rank_state *st);

/* --- Ids (suggest_id.c) --------------------------------------------------- */

#define RANK_SID_SECRET_LEN STORE_SECRET_BYTES

/* rank__sid_secret reads the store's suggestion-id secret into key,
 * making it (random, in a write transaction) on the store's first use.
 * Errors: SW_ECORRUPT (a secret of another length), SW_EIO (no random
 * bytes), SW_ENOSPACE, SW_ESTORE, SW_ENOMEM. */
SW_MUST_CHECK sw_err rank__sid_secret(store *s,
                                      unsigned char key[RANK_SID_SECRET_LEN]);

/* rank__sid_make writes to *out (in a) the suggestion id of hash h for
 * team; rank__item_make the id of the item (kind 'c' or 'f', target id)
 * of suggestion sid. Errors: SW_ENOMEM, SW_ETOOBIG (a team or target id
 * over 1 KB). */
SW_MUST_CHECK sw_err rank__sid_make(const unsigned char *key, const char *team,
                                    uint64_t h, struct sw_arena *a,
                                    const char **out);
SW_MUST_CHECK sw_err rank__item_make(const unsigned char *key, const char *team,
                                     const char *sid, int kind,
                                     const char *target, struct sw_arena *a,
                                     const char **out);

/* rank__engine_secret: the engine's suggestion-id secret
 * (RANK_SID_SECRET_LEN bytes, loaded by rank_engine_open). */
const unsigned char *rank__engine_secret(const rank_engine *e);

/* rank__engine_inline: the engine was never started (rank__state builds
 * what is stale; Suggest catches the index up itself). */
int rank__engine_inline(const rank_engine *e);
void rank__cref_put(rank_engine *e, struct rank_cref **c);

/* What the team did in the past threads most like a query, per item of a
 * rank_hist (rank__fold_in fills it): each of the model's threads weighs
 * its similarity to the query over the mean similarity of them all. */
struct rank_local {
    double *value;  /* similarity-weighted outcome value of mature uses */
    double *uses;   /* weights of its mature uses */
    double *pos;    /* weights of those with a positive outcome */
    double *wall;   /* weights of all its uses */
    double *nall;   /* its uses in the threads compared (unweighted) */
    double *vraw;   /* unweighted outcome value of its mature uses */
    double *nraw;   /* its mature uses (unweighted) */
    size_t nitems;  /* entries of each array */
    size_t threads; /* threads compared that the hist knows */
    /* NULL: the arrays are indexed by hist item index (nitems of them);
     * else by the slot this map gives an item index (only the items a
     * Suggest call scores: per call, memory in candidates, not items). */
    struct rank__map *slot;
    uint64_t *want; /* with slot: bit ii set for each item slot holds, a
                       cheap first test (most uses are of other items) */
    size_t want_bits;
    uint32_t *items; /* with slot: the item index of each entry */
};

/* rank__local_at writes the array index of hist item ii to *at and
 * returns 1, or returns 0 when l holds no entry for it. */
static inline int rank__local_at(const struct rank_local *l, size_t ii,
                                 size_t *at)
{
    uint64_t v;

    if (l->slot == NULL) {
        *at = ii;
        return ii < l->nitems;
    }
    if (ii >= l->want_bits || !((l->want[ii >> 6] >> (ii & 63)) & 1))
        return 0;
    if (!rank__map_get(l->slot, (uint64_t)ii, &v))
        return 0;
    *at = (size_t)v;
    return 1;
}

/* A use of an item in a model's stored thread, as rank_link lists them
 * by item. */
struct rank_iuse {
    double value;    /* rank_use.value */
    uint32_t thread; /* the model's thread index */
    uint16_t positive, mature;
};

/* The uses of a model's stored threads as a rank_hist knows them, in the
 * model's thread order: built once per (statistics, model) pair so that
 * a call weighs them without a lookup per thread. */
struct rank_link {
    size_t nthreads;       /* the model's */
    uint32_t *lo;          /* thread t's uses: [lo[t], lo[t + 1]) */
    struct rank_use *uses; /* copies of the hist's (item: hist index) */
    unsigned char *known;  /* the hist knows thread t */
    /* The same uses by item, so that a call sums only its candidates'
     * (a few hundred items) in one sequential pass instead of walking
     * every thread's uses: item ii's are iuse[item_lo[ii] ..
     * item_lo[ii + 1]), in thread order (the order the sums were always
     * made in). */
    size_t nitems;     /* the hist's */
    uint32_t *item_lo; /* nitems + 1 */
    struct rank_iuse *iuse;
};

/* rank__link_build links model m's threads to h's uses (by thread hash).
 * Errors: SW_ENOMEM. rank__link_free frees *l and sets it to NULL. */
SW_MUST_CHECK sw_err rank__link_build(const struct rank_hist *h,
                                      const struct rank_model *m,
                                      struct rank_link **out);
void rank__link_free(struct rank_link **l);

/* rank__dot8_best is rank__dot8 (rank_int.h) with the widest vector
 * instructions this CPU has (AVX2 when present); the same result. */
int32_t rank__dot8_best(const int16_t *a, const int8_t *b, size_t n);

/* rank__local_init allocates l's arrays for nitems items (zeroed).
 * Errors: SW_ENOMEM. rank__local_reset zeroes them; rank__local_free
 * releases them. */
SW_MUST_CHECK sw_err rank__local_init(struct rank_local *l, size_t nitems);

/* rank__local_init_for allocates l's arrays (zeroed) for the n hist item
 * indexes items only (duplicates allowed; each below nitems, the hist's
 * item count). Errors: SW_ENOMEM. */
SW_MUST_CHECK sw_err rank__local_init_for(struct rank_local *l,
                                          const uint32_t *items, size_t n,
                                          size_t nitems);
void rank__local_reset(struct rank_local *l);
void rank__local_free(struct rank_local *l);

/* rank__fold_in computes the context vector xq (m->k doubles) of a new
 * thread from its nearest past threads in m (by cosine of the context
 * embeddings q, dim floats), skipping threads whose hash is in skip (may
 * be NULL). When link (m's, rank__link_build) and loc are not NULL it
 * also sums in loc, per item of the linked hist, the evidence of all of
 * m's threads (but skipped ones) that the hist knows, weighted by
 * similarity to q. Returns the number of neighbours used for xq (0: xq
 * is zero). */
size_t rank__fold_in(const struct rank_model *m, const float *q, size_t dim,
                     const struct rank__map *skip, double *xq,
                     const struct rank_link *link, struct rank_local *loc);

/* rank__collab is the collaborative score of item id for context xq, or
 * for a family unknown to the model, that of its content item (the
 * content-based start); 0 when neither is known. */
double rank__collab(const struct rank_model *m, const double *xq,
                    const char *id, const char *content_id);

/* rank__score fills s for item it (index ii) of h with relevance rel and
 * raw collaborative score collab under mode; the outcome is the item's
 * local one when loc (may be NULL) holds evidence of similar threads,
 * else its team-wide one. The random mode draws from a PRNG seeded by
 * seed and the item's key (so draws do not depend on candidate order). */
void rank__score(const struct rank_params *p, const struct rank_hist *h,
                 const struct rank_hitem *it, size_t ii,
                 const struct rank_local *loc, double rel, double collab,
                 uint64_t seed, int mode, struct rank_score *s);

/* rank__local_outcome is item it's (index ii of h) outcome in threads
 * like the query: its team-wide value (rank_item_outcome) moved by how
 * much better or worse it did in the alike threads than in all those
 * compared (likeness-weighted mean value minus plain mean value), the
 * move shrunk with p->local_strength pseudo-uses; minus the team's mean
 * (0 = average). A new item's few uses thus count once, in its team-wide
 * value, not again as local evidence. Without evidence,
 * rank_item_outcome. */
double rank__local_outcome(const struct rank_params *p,
                           const struct rank_hist *h,
                           const struct rank_hitem *it, size_t ii,
                           const struct rank_local *loc);

/* rank__local_usage is how much more the team uses item ii in threads
 * like the query than in the threads compared at large: log((weighted
 * uses + k) / (uses + k)), k = p->usage_strength pseudo-uses, so an
 * item used twice is not judged by where those two threads happened to
 * be; 0 without evidence. */
double rank__local_usage(const struct rank_params *p,
                         const struct rank_local *loc, size_t ii);

/* rank__score_feedback adds to s (filled by rank__score) the feedback
 * term of item it (fb: its counts, its pending inserts). In the outcome
 * mode s->feedback = tanh(rep + team), weighed into s->total by
 * p->w_feedback (framings) or p->wc_feedback (content), where
 *   rep  = up - dismissed - 2 down, the requesting rep's own records: a
 *          rep's dismissal or thumbs-down lowers the item for that rep at
 *          once;
 *   team = (up - dismissed - 2 down) / (p->feedback_strength + up +
 *          dismissed + 2 down), every rep's records pooled and shrunk, so
 *          one rep's dislike barely moves it for the others and many do.
 * Inserts and copies are not a verdict: they count as uses (the mail that
 * carries one brings its outcome), and until that mail arrives as pending
 * uses, which the popularity mode adds to the uses it ranks by. */
void rank__score_feedback(const struct rank_params *p,
                          const struct rank_hitem *it,
                          const struct rank_sugg_fb *fb, int mode,
                          struct rank_score *s);

/* rank__score_account adds to s (filled by rank__score) the account term
 * of item it, whose record with the request's accounts is ev: in the
 * outcome mode s->account = tanh(rank_account_move), weighed into
 * s->total by p->w_account (framings) or p->wc_account (content); the
 * other modes are left alone. */
void rank__score_account(const struct rank_params *p,
                         const struct rank_hitem *it,
                         const struct rank_acct_evid *ev, int mode,
                         struct rank_score *s);

#endif
