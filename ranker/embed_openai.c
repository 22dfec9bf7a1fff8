/* embed_openai: the ranker's "openai" embedder, a thin ops wrapper over
 * llm/embed_openai.h (only llm/ speaks HTTP and JSON). Vectors come back
 * L2-normalised and checked against the configured dimension. */
#include <string.h>

#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "ranker/embed.h"

struct rank_oa_embedder {
    struct rank_embedder base; /* first: the ops see this */
    llm_embedder *llm;
    char *model;
};

static sw_err rank_oa_batch(const struct rank_embedder *e, struct rank_df *df,
                            const char *const *texts, const size_t *lens,
                            size_t n, float *out, unsigned char *empty)
{
    const struct rank_oa_embedder *o = (const struct rank_oa_embedder *)e;
    const char **t = NULL;
    size_t *l = NULL, *at = NULL, i, m = 0;
    float *v = NULL;
    char *err = NULL;
    sw_err rc = SW_OK;

    (void)df; /* the model needs no corpus statistics */
    t = sw_malloc((n ? n : 1) * sizeof(*t));
    l = sw_malloc((n ? n : 1) * sizeof(*l));
    at = sw_malloc((n ? n : 1) * sizeof(*at));
    v = sw_malloc((n ? n : 1) * e->dim * sizeof(float));
    if (t == NULL || l == NULL || at == NULL || v == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    for (i = 0; i < n; i++) {
        empty[i] = lens[i] == 0;
        memset(out + i * e->dim, 0, e->dim * sizeof(float));
        if (empty[i])
            continue;
        t[m] = texts[i];
        l[m] = lens[i];
        at[m++] = i;
    }
    if (m == 0)
        goto out;
    rc = llm_embed_batch(o->llm, t, l, m, v, 0, NULL, &err);
    if (rc) {
        sw_log_warn("rank.embed_openai", "model=%s n=%zu err=%s msg=\"%s\"",
                    o->model, m, sw_err_name(rc), err ? err : "");
        goto out;
    }
    for (i = 0; i < m; i++)
        memcpy(out + at[i] * e->dim, v + i * e->dim, e->dim * sizeof(float));
out:
    sw_free(err);
    sw_free(v);
    sw_free(at);
    sw_free(l);
    sw_free(t);
    return rc;
}

static sw_err rank_oa_embed(const struct rank_embedder *e, struct rank_df *df,
                            const char *text, size_t len, float *out)
{
    unsigned char empty = 0;
    sw_err rc;

    rc = rank_oa_batch(e, df, &text, &len, 1, out, &empty);
    if (rc == SW_OK && empty)
        rc = SW_EINVAL;
    return rc;
}

static void rank_oa_destroy(struct rank_embedder **e)
{
    struct rank_oa_embedder *o;

    if (e == NULL || *e == NULL)
        return;
    o = (struct rank_oa_embedder *)*e;
    llm_embedder_free(&o->llm);
    sw_free(o->model);
    sw_free(o);
    *e = NULL;
}

static const struct rank_embedder_ops rank_oa_ops = {
    "openai",
    rank_oa_embed,
    rank_oa_batch,
    rank_oa_destroy,
};

sw_err rank_embedder_openai_new(const struct llm_embed_opts *c,
                                const char *model, size_t dim,
                                struct rank_embedder **out)
{
    struct llm_embed_opts lo;
    struct rank_oa_embedder *o;
    sw_err rc;

    if (c == NULL || dim == 0 || dim > RANK_EMBED_DIM_MAX)
        return SW_EINVAL;
    lo = *c;
    if (model)
        lo.http.model = model;
    lo.dim = dim;
    o = sw_calloc(1, sizeof(*o));
    if (o == NULL)
        return SW_ENOMEM;
    rc = llm_embedder_new(&lo, &o->llm);
    if (rc == SW_OK && (o->model = sw_strdup(lo.http.model)) == NULL)
        rc = SW_ENOMEM;
    if (rc) {
        llm_embedder_free(&o->llm);
        sw_free(o);
        return rc;
    }
    o->base.ops = &rank_oa_ops;
    o->base.dim = dim;
    o->base.model = o->model;
    *out = &o->base;
    return SW_OK;
}
