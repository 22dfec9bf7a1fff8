/* embed: text embedders behind one small ops table. The default,
 * "builtin", is offline and deterministic: feature hashing of word
 * unigrams, bigrams and character 3- to 5-grams within words, weighted by
 * IDF learned from the team's own snippets (rank_df), L2-normalised.
 *
 * Thread-safety: embed may run on many threads at once; a rank_df is
 * guarded by its own lock. */
#ifndef RANK_EMBED_H
#define RANK_EMBED_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "base/sw_err.h"
#include "ranker/rank_int.h"
#include "store/store.h"

#define RANK_EMBED_DIM_DEFAULT 384
#define RANK_EMBED_DIM_MAX 4096

/* Document frequencies of one team: how many snippets contain each word
 * (by 64-bit hash), kept in RANK_DF / RANK_META and cached here. */
struct rank_df {
    pthread_rwlock_t lock;
    struct rank__map counts; /* word hash → documents */
    struct rank__map dirty;  /* word hash → 1, changed since the flush */
    uint64_t docs;           /* documents counted */
    uint64_t seq;            /* snippet seq counted up to */
};

struct rank_embedder;

struct rank_embedder_ops {
    const char *id; /* "builtin" */
    /* embed writes the embedding of text[0..len) into out[0..dim), using df
     * (may be NULL: all words weigh the same). Errors: SW_EINVAL (no words
     * in the text), SW_ENOMEM. */
    sw_err (*embed)(const struct rank_embedder *e, struct rank_df *df,
                    const char *text, size_t len, float *out);
    /* destroy frees e and sets *e to NULL; NULL is accepted. */
    void (*destroy)(struct rank_embedder **e);
};

struct rank_embedder {
    const struct rank_embedder_ops *ops;
    size_t dim;
    const char *model; /* model id, recorded with each index */
};

/* rank_embedder_builtin_new makes the builtin embedder of dimension dim (0:
 * RANK_EMBED_DIM_DEFAULT). The caller frees it with e->ops->destroy.
 * Errors: SW_EINVAL (dim over RANK_EMBED_DIM_MAX), SW_ENOMEM. */
SW_MUST_CHECK sw_err rank_embedder_builtin_new(size_t dim,
                                               struct rank_embedder **out);

/* rank_embedder_new makes the embedder named id ("builtin"; NULL or ""
 * means builtin). Errors: SW_EINVAL (unknown id, bad dim), SW_ENOMEM. */
SW_MUST_CHECK sw_err rank_embedder_new(const char *id, size_t dim,
                                       struct rank_embedder **out);

/* rank_df_init prepares an empty table; rank_df_free releases it. */
SW_MUST_CHECK sw_err rank_df_init(struct rank_df *df);
void rank_df_free(struct rank_df *df);

/* rank_df_load fills an empty df with team_id's stored frequencies.
 * Errors: SW_EINVAL, SW_ENOMEM, SW_ECORRUPT, SW_ESTORE. */
SW_MUST_CHECK sw_err rank_df_load(store *s, const char *team_id,
                                  struct rank_df *df);

/* rank_df_observe counts text[0..len) as one more document (each distinct
 * word once) and marks its words dirty. Errors: SW_ENOMEM (df may then
 * hold part of the document; the caller reloads it). */
SW_MUST_CHECK sw_err rank_df_observe(struct rank_df *df, const char *text,
                                     size_t len);

/* rank_df_flush stores the dirty counts and the totals, with df->seq set
 * to seq, for team_id in one transaction, then clears the dirty set.
 * Errors: SW_ENOMEM, SW_ETOOBIG, SW_ESTORE. */
SW_MUST_CHECK sw_err rank_df_flush(store *s, const char *team_id,
                                   struct rank_df *df, uint64_t seq);

#endif
