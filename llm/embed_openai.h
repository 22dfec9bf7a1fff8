/* llm/embed_openai: text embeddings from any OpenAI-compatible
 * /v1/embeddings endpoint, batched, with the LLM provider's timeout,
 * retry (429 Retry-After, 5xx backoff with jitter) and key rules. The
 * ranker wraps it as its "openai" embedder (ranker/embed_openai.c). */
#ifndef LLM_EMBED_OPENAI_H
#define LLM_EMBED_OPENAI_H

#include <stddef.h>
#include <stdint.h>

#include "base/sw_err.h"
#include "llm/provider.h"

#define LLM_EMBED_BATCH_DEFAULT 64
#define LLM_EMBED_BATCH_MAX 2048

/* Options. http carries base_url, model, api_key, timeouts, retries and
 * concurrency exactly as for llm_provider_openai_new (strings copied; the
 * key is never logged). */
struct llm_embed_opts {
    struct llm_openai_opts http;
    size_t dim;   /* expected vector length; required */
    size_t batch; /* inputs per request [LLM_EMBED_BATCH_DEFAULT] */
};

typedef struct llm_embedder llm_embedder;

/* llm_embedder_new makes an embeddings client. Errors: SW_EINVAL (no
 * base_url, model or dim; batch over LLM_EMBED_BATCH_MAX), SW_ENOMEM,
 * SW_EINTERNAL (libcurl). Free with llm_embedder_free. */
SW_MUST_CHECK sw_err llm_embedder_new(const struct llm_embed_opts *o,
                                      llm_embedder **out);

/* llm_embedder_free frees *e and sets it to NULL; NULL is fine. No call
 * may be in flight. */
void llm_embedder_free(llm_embedder **e);

/* llm_embed_batch embeds texts[i][0..lens[i]) for i < n into
 * out[i * dim .. (i + 1) * dim), L2-normalised, sending at most batch
 * inputs per request (requests run one after another). Every vector in
 * the answer must have exactly dim floats, one per input. deadline_ms is
 * on the sw_mono_ms clock (0: none). Errors: SW_EINVAL (a text is empty or
 * not UTF-8), SW_EPROVIDER (HTTP failure after retries, non-200 answer,
 * malformed answer, wrong dimension, zero vector), SW_ETIMEOUT, SW_ENOMEM;
 * then *err (if not NULL; sw_free) says why, without secrets, and out is
 * undefined. *requests (optional) is incremented per HTTP request.
 * Thread-safe (at most max_concurrency requests run at once). */
SW_MUST_CHECK sw_err llm_embed_batch(llm_embedder *e, const char *const *texts,
                                     const size_t *lens, size_t n, float *out,
                                     int64_t deadline_ms, int *requests,
                                     char **err);

/* llm_embedder_dim returns the dimension e was made for. */
size_t llm_embedder_dim(const llm_embedder *e);

#endif
