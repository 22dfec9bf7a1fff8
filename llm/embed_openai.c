/* llm/embed_openai: the OpenAI-compatible embeddings client
 * (embed_openai.h) over the shared HTTP helper (http_int.h). */
#include "llm/embed_openai.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "llm/http_int.h"

#define LLM_EMB_MAX_BODY (256u << 20)

struct llm_embedder {
    char *url;
    char *auth; /* "Authorization: Bearer ..."; NULL without a key */
    char *model;
    size_t dim, batch;
    struct llm__http http;
};

size_t llm_embedder_dim(const llm_embedder *e)
{
    return e->dim;
}

void llm_embedder_free(llm_embedder **ep)
{
    llm_embedder *e;

    if (ep == NULL || *ep == NULL)
        return;
    e = *ep;
    llm__http_free(&e->http);
    llm__http_wipe(e->auth);
    sw_free(e->url);
    sw_free(e->model);
    sw_free(e);
    *ep = NULL;
}

sw_err llm_embedder_new(const struct llm_embed_opts *o, llm_embedder **out)
{
    struct llm_openai_opts ho;
    llm_embedder *e;
    sw_err rc;

    if (o == NULL || o->http.base_url == NULL || o->http.model == NULL ||
        o->http.base_url[0] == '\0' || o->http.model[0] == '\0' ||
        o->dim == 0 || o->batch > LLM_EMBED_BATCH_MAX)
        return SW_EINVAL;
    e = sw_calloc(1, sizeof(*e));
    if (e == NULL)
        return SW_ENOMEM;
    ho = o->http;
    e->dim = o->dim;
    e->batch = o->batch ? o->batch : LLM_EMBED_BATCH_DEFAULT;
    rc = llm__http_init(&e->http, &ho);
    if (rc == SW_OK)
        rc = llm__http_url(o->http.base_url, "/embeddings", &e->url);
    if (rc == SW_OK)
        rc = llm__http_auth_header(o->http.api_key, &e->auth);
    if (rc == SW_OK && (e->model = sw_strdup(o->http.model)) == NULL)
        rc = SW_ENOMEM;
    if (rc) {
        llm_embedder_free(&e);
        return rc;
    }
    *out = e;
    return SW_OK;
}

static void llm_emb_err(char **err, const char *msg)
{
    if (err == NULL)
        return;
    sw_free(*err);
    *err = sw_strdup(msg);
}

/* llm_emb_body makes {"model":..., "input":[...], "encoding_format":
 * "float"}; SW_EINVAL when a text is empty or not UTF-8. */
static SW_MUST_CHECK sw_err llm_emb_body(const llm_embedder *e,
                                         const char *const *texts,
                                         const size_t *lens, size_t n,
                                         char **out)
{
    json_t *b = json_object(), *in = json_array(), *x;
    sw_err rc = SW_OK;
    size_t i;

    *out = NULL;
    if (b == NULL || in == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    for (i = 0; i < n; i++) {
        if (lens[i] == 0) {
            rc = SW_EINVAL;
            goto out;
        }
        x = json_stringn(texts[i], lens[i]);
        if (x == NULL) { /* jansson refuses invalid UTF-8 and NUL */
            rc = SW_EINVAL;
            goto out;
        }
        if (json_array_append_new(in, x) != 0) {
            rc = SW_ENOMEM;
            goto out;
        }
    }
    if (json_object_set_new(b, "model", json_string(e->model)) != 0 ||
        json_object_set(b, "input", in) != 0 ||
        json_object_set_new(b, "encoding_format", json_string("float")) != 0) {
        rc = SW_ENOMEM;
        goto out;
    }
    *out = json_dumps(b, JSON_COMPACT);
    if (*out == NULL)
        rc = SW_ENOMEM;
out:
    json_decref(in);
    json_decref(b);
    return rc;
}

/* llm_emb_parse fills out[0..n*dim) from a 200 answer: data[] holds one
 * {"index": i, "embedding": [dim numbers]} per input, in any order. */
static SW_MUST_CHECK sw_err llm_emb_parse(const llm_embedder *e,
                                          const char *body, size_t blen,
                                          size_t n, float *out, char **err)
{
    json_error_t jerr;
    json_t *j = json_loadb(body, blen, 0, &jerr), *data, *item, *v, *num;
    unsigned char *seen = NULL;
    char m[160];
    size_t i, k, idx;
    double norm;
    sw_err rc = SW_EPROVIDER;

    if (j == NULL) {
        llm_emb_err(err, "the embeddings answer is not JSON");
        goto out;
    }
    data = json_object_get(j, "data");
    if (!json_is_array(data) || json_array_size(data) != n) {
        snprintf(m, sizeof(m),
                 "the embeddings answer has %zu vectors for %zu inputs",
                 json_is_array(data) ? json_array_size(data) : 0, n);
        llm_emb_err(err, m);
        goto out;
    }
    seen = sw_calloc(n, 1);
    if (seen == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    json_array_foreach(data, i, item)
    {
        json_t *ji = json_object_get(item, "index");
        idx = i;
        if (json_is_integer(ji)) {
            if (json_integer_value(ji) < 0 ||
                (uint64_t)json_integer_value(ji) >= n) {
                llm_emb_err(err, "the embeddings answer has a bad index");
                goto out;
            }
            idx = (size_t)json_integer_value(ji);
        }
        if (seen[idx]) {
            llm_emb_err(err, "the embeddings answer repeats an index");
            goto out;
        }
        seen[idx] = 1;
        v = json_object_get(item, "embedding");
        if (!json_is_array(v)) {
            llm_emb_err(err, "the embeddings answer has no float embedding");
            goto out;
        }
        if (json_array_size(v) != e->dim) {
            snprintf(m, sizeof(m),
                     "embedding dimension %zu from the server, expected %zu "
                     "(check --embed-dim)",
                     json_array_size(v), e->dim);
            llm_emb_err(err, m);
            goto out;
        }
        norm = 0;
        json_array_foreach(v, k, num)
        {
            double d;
            if (!json_is_number(num)) {
                llm_emb_err(err, "the embeddings answer has a non-number");
                goto out;
            }
            d = json_number_value(num);
            out[idx * e->dim + k] = (float)d;
            norm += d * d;
        }
        if (!(norm > 0) || !isfinite(norm)) {
            llm_emb_err(err, "the embeddings answer has a zero or non-finite "
                             "vector");
            goto out;
        }
        norm = 1.0 / sqrt(norm);
        for (k = 0; k < e->dim; k++)
            out[idx * e->dim + k] = (float)(out[idx * e->dim + k] * norm);
    }
    rc = SW_OK;
out:
    sw_free(seen);
    json_decref(j);
    return rc;
}

sw_err llm_embed_batch(llm_embedder *e, const char *const *texts,
                       const size_t *lens, size_t n, float *out,
                       int64_t deadline_ms, int *requests, char **err)
{
    struct sw_buf resp;
    char *payload = NULL;
    long status;
    size_t at, m;
    sw_err rc = SW_OK;

    sw_buf_init(&resp, LLM_EMB_MAX_BODY);
    for (at = 0; at < n; at += m) {
        m = n - at < e->batch ? n - at : e->batch;
        free(payload);
        payload = NULL;
        rc = llm_emb_body(e, texts + at, lens + at, m, &payload);
        if (rc == SW_EINVAL)
            llm_emb_err(err, "a text to embed is empty or not UTF-8");
        if (rc)
            goto out;
        rc = llm__http_post(&e->http, e->url, e->auth, payload, deadline_ms,
                            &resp, &status, requests, err);
        if (rc)
            goto out;
        if (status != 200) {
            char m2[320];
            snprintf(m2, sizeof(m2), "embeddings HTTP %ld: %.200s", status,
                     sw_buf_str(&resp));
            llm_emb_err(err, m2);
            sw_log_warn("llm.embed_http", "status=%ld", status);
            rc = SW_EPROVIDER;
            goto out;
        }
        rc = llm_emb_parse(e, sw_buf_str(&resp), sw_buf_len(&resp), m,
                           out + at * e->dim, err);
        if (rc)
            goto out;
    }
out:
    free(payload);
    sw_buf_free(&resp);
    return rc;
}
