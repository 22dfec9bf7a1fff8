/* embed: text embedders behind one small ops table. The default,
 * "builtin", is offline and deterministic: feature hashing of word
 * unigrams, bigrams and character 3- to 5-grams within words, weighted by
 * IDF learned from the team's own snippets (rank_df), L2-normalised.
 * "openai" asks any OpenAI-compatible /v1/embeddings endpoint, batched
 * (ranker/embed_openai.c over llm/embed_openai.h).
 *
 * Thread-safety: embed may run on many threads at once; a rank_df is
 * guarded by its own lock. */
#ifndef RANK_EMBED_H
#define RANK_EMBED_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "base/sw_err.h"
#include "llm/embed_openai.h"
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
    const char *id; /* "builtin" or "openai" */
    /* embed writes the embedding of text[0..len) into out[0..dim), using df
     * (may be NULL: all words weigh the same). Errors: SW_EINVAL (no words
     * in the text), SW_ENOMEM; remote embedders also SW_EPROVIDER and
     * SW_ETIMEOUT (endpoint unreachable, bad answer, wrong dimension). */
    sw_err (*embed)(const struct rank_embedder *e, struct rank_df *df,
                    const char *text, size_t len, float *out);
    /* embed_batch (NULL: embed one by one) embeds n texts into
     * out[i * dim ..], setting empty[i] to 1 (and the vector to zeros) for
     * a text with nothing to embed, else 0. Errors: as embed, except that
     * SW_EINVAL is per text (empty). */
    sw_err (*embed_batch)(const struct rank_embedder *e, struct rank_df *df,
                          const char *const *texts, const size_t *lens,
                          size_t n, float *out, unsigned char *empty);
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

/* rank_embedder_make makes the embedder id ("builtin", NULL or "": builtin;
 * "openai") with model (NULL: the default, "fh1" for builtin and
 * openai->http.model for openai) and dimension dim. openai (borrowed; its
 * dim is ignored) configures the endpoint and is required for "openai".
 * The caller frees the result with e->ops->destroy. Errors: SW_EINVAL
 * (unknown id or builtin model, no endpoint, bad dim), SW_ENOMEM,
 * SW_EINTERNAL (libcurl). */
SW_MUST_CHECK sw_err rank_embedder_make(const char *id, const char *model,
                                        size_t dim,
                                        const struct llm_embed_opts *openai,
                                        struct rank_embedder **out);

/* rank_embedder_openai_new makes the "openai" embedder of model and dim
 * over the endpoint o (borrowed, copied; o->dim is ignored). Errors: as
 * rank_embedder_make. */
SW_MUST_CHECK sw_err rank_embedder_openai_new(const struct llm_embed_opts *o,
                                              const char *model, size_t dim,
                                              struct rank_embedder **out);

/* rank_embed_many embeds n texts with e (its embed_batch, else embed one
 * by one), as embed_batch describes. */
SW_MUST_CHECK sw_err rank_embed_many(const struct rank_embedder *e,
                                     struct rank_df *df,
                                     const char *const *texts,
                                     const size_t *lens, size_t n, float *out,
                                     unsigned char *empty);

/* rank_df_new allocates an empty table (Errors: SW_ENOMEM);
 * rank_df_destroy frees one and sets *df to NULL (NULL is accepted). */
SW_MUST_CHECK sw_err rank_df_new(struct rank_df **out);
void rank_df_destroy(struct rank_df **df);

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
