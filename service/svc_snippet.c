/* svc_snippet: SearchSnippets, GetSnippet and DeleteSnippet handlers over
 * store_snippet and the ranker. */
#include "service/svc_snippet.h"

#include <string.h>

#include "base/sw_arena.h"
#include "base/sw_mem.h"
#include "ranker/index.h"
#include "ranker/search.h"
#include "service/svc_stats.h"
#include "snipwise/v1/snippet.pb-c.h"
#include "store/store_snippet.h"

#define SVC_WHY_MAX 1024

static Snipwise__V1__Tag *svc_snippet_tag(struct svc_ctx *c, const char *k,
                                          const char *v)
{
    Snipwise__V1__Tag *t = svc_ctx_new(c, &snipwise__v1__tag__descriptor);

    if (t == NULL)
        return NULL;
    t->key = (char *)k; /* static */
    t->value = svc_ctx_str(c, v);
    return t->value ? t : NULL;
}

/* svc_snippet_msg converts sn into an arena-allocated Snippet. */
static Snipwise__V1__Snippet *svc_snippet_msg(struct svc_ctx *c,
                                              const struct store_snippet *sn)
{
    const char *keys[4] = {"topic", "intent", "persona", "stage"};
    const char *vals[4] = {sn->topic, sn->intent, sn->persona, sn->stage};
    struct sw_arena *a = svc_ctx_arena(c);
    Snipwise__V1__Snippet *p =
        svc_ctx_new(c, &snipwise__v1__snippet__descriptor);
    size_t i;

    if (p == NULL)
        return NULL;
    p->snippet_id = svc_ctx_str(c, sn->snippet_id);
    p->kind = (Snipwise__V1__SnippetKind)sn->kind;
    p->text = svc_ctx_str(c, sn->text);
    p->content_id = svc_ctx_str(c, sn->content_id);
    p->email_id = svc_ctx_str(c, sn->email_id);
    p->thread_id = svc_ctx_str(c, sn->thread_id);
    p->rep_email = svc_ctx_str(c, sn->rep_email);
    p->family_id = svc_ctx_str(c, sn->family_id);
    p->create_time_unix_ms = sn->create_ms;
    p->tags = sw_arena_alloc(a, 4 * sizeof(*p->tags));
    if (p->tags == NULL || svc_ctx_oom(c))
        return NULL;
    for (i = 0; i < 4; i++) {
        if (vals[i] == NULL || vals[i][0] == '\0')
            continue;
        p->tags[p->n_tags] = svc_snippet_tag(c, keys[i], vals[i]);
        if (p->tags[p->n_tags] == NULL)
            return NULL;
        p->n_tags++;
    }
    return p;
}

/* svc_snippet_stats sets the statistics of a page of results
 * (svc_stats.h: one lookup for the page). */
static sw_err svc_snippet_stats(struct svc_ctx *c,
                                Snipwise__V1__SearchSnippetsResponse *out)
{
    Snipwise__V1__Snippet **sn;
    size_t i;

    sn = sw_arena_alloc(svc_ctx_arena(c),
                        (out->n_results ? out->n_results : 1) * sizeof(*sn));
    if (sn == NULL)
        return SW_ENOMEM;
    for (i = 0; i < out->n_results; i++)
        sn[i] = out->results[i]->snippet;
    return svc_stats_snippets(c, sn, out->n_results);
}

static sw_err svc_snippet_need_ranker(struct svc_ctx *c)
{
    if (svc_ctx_ranker(c) == NULL)
        return svc_ctx_fail(c, SW_EUNIMPL,
                            "this server runs without a "
                            "snippet index");
    return SW_OK;
}

static ProtobufCMessage *svc_snippet_result(struct svc_ctx *c, size_t i,
                                            void *arg)
{
    const struct rank_page *pg = arg;
    Snipwise__V1__SnippetResult *h =
        svc_ctx_new(c, &snipwise__v1__snippet_result__descriptor);

    if (h == NULL)
        return NULL;
    h->snippet = svc_snippet_msg(c, &pg->hits[i].sn);
    h->score = pg->hits[i].score;
    return h->snippet ? &h->base : NULL;
}

sw_err svc_snippet_search(struct svc_ctx *c, const ProtobufCMessage *req,
                          ProtobufCMessage **resp)
{
    const Snipwise__V1__SearchSnippetsRequest *r =
        (const Snipwise__V1__SearchSnippetsRequest *)req;
    Snipwise__V1__SearchSnippetsResponse *out;
    struct rank_tag tags[RANK_TAGS_MAX];
    struct rank_query q;
    struct rank_page pg = {0};
    struct sw_buf why;
    size_t i;
    sw_err rc;

    sw_buf_init(&why, SVC_WHY_MAX);
    memset(&q, 0, sizeof(q));
    rc = svc_snippet_need_ranker(c);
    if (rc)
        goto out;
    rc = svc_ctx_page_size(c, r->page_size);
    if (rc)
        goto out;
    q.team_id = svc_ctx_team(c);
    if (r->query_case == SNIPWISE__V1__SEARCH_SNIPPETS_REQUEST__QUERY_TEXT) {
        q.text = r->text;
        q.text_len = strlen(r->text);
    } else if (r->query_case ==
               SNIPWISE__V1__SEARCH_SNIPPETS_REQUEST__QUERY_VECTOR) {
        q.vec = r->vector ? r->vector->values : NULL;
        q.vec_len = r->vector ? r->vector->n_values : 0;
        if (q.vec == NULL) {
            rc = svc_ctx_fail_field(c, SW_EINVAL, "vector", "is empty");
            goto out;
        }
    }
    for (i = 0; i < r->n_kinds; i++) {
        if (r->kinds[i] != SNIPWISE__V1__SNIPPET_KIND__SNIPPET_KIND_FRAMING &&
            r->kinds[i] !=
                SNIPWISE__V1__SNIPPET_KIND__SNIPPET_KIND_KEY_PASSAGE) {
            rc = svc_ctx_fail_field(c, SW_EINVAL, "kinds",
                                    "must be FRAMING or KEY_PASSAGE");
            goto out;
        }
        q.kinds |= 1u << r->kinds[i];
    }
    q.content_id = r->content_id;
    q.rep_email = r->rep_email;
    if (r->create_time_range) {
        q.from_ms = r->create_time_range->start_time_unix_ms;
        q.to_ms = r->create_time_range->end_time_unix_ms;
    }
    if (r->n_tags > RANK_TAGS_MAX) {
        rc = svc_ctx_fail_field(c, SW_EINVAL, "tags",
                                "hold more than %d tag filters", RANK_TAGS_MAX);
        goto out;
    }
    for (i = 0; i < r->n_tags; i++) {
        tags[i].key = r->tags[i]->key;
        tags[i].value = r->tags[i]->value;
    }
    q.tags = tags;
    q.ntags = r->n_tags;
    q.page_size = (size_t)r->page_size;
    q.page_token = r->page_token;
    rc = rank_search(svc_ctx_ranker(c), svc_ctx_store(c), &q, &pg, &why);
    if (rc) {
        rc = svc_ctx_fail_buf(c, rc, &why);
        goto out;
    }
    rc = svc_ctx_list(c, &snipwise__v1__search_snippets_response__descriptor,
                      "results", pg.n, svc_snippet_result, &pg, pg.next_token,
                      resp);
    if (rc)
        goto out;
    out = (Snipwise__V1__SearchSnippetsResponse *)*resp;
    rc = svc_snippet_stats(c, out);
    if (rc)
        goto out;
    out->filter_note = svc_ctx_str(c, pg.note ? pg.note : "");
    out->exhausted = pg.exhausted ? 1 : 0;
    if (svc_ctx_oom(c)) {
        rc = SW_ENOMEM;
        goto out;
    }
    *resp = &out->base;
out:
    rank_page_free(&pg);
    sw_buf_free(&why);
    return rc;
}

/* svc_snippet_id checks a request's snippet id. */
static sw_err svc_snippet_id(struct svc_ctx *c, const char *id)
{
    if (!store_snippet_id_ok(id))
        return svc_ctx_fail_field(c, SW_EINVAL, "snippet_id",
                                  "must be \"snip_\" and 16 hex digits");
    return SW_OK;
}

sw_err svc_snippet_get(struct svc_ctx *c, const ProtobufCMessage *req,
                       ProtobufCMessage **resp)
{
    const Snipwise__V1__GetSnippetRequest *r =
        (const Snipwise__V1__GetSnippetRequest *)req;
    struct store_snippet sn = {0};
    Snipwise__V1__Snippet *out;
    sw_err rc;

    rc = svc_snippet_id(c, r->snippet_id);
    if (rc)
        goto out;
    rc = store_snippet_get(svc_ctx_store(c), svc_ctx_team(c), r->snippet_id,
                           &sn);
    if (rc == SW_OK && sn.deleted) {
        svc_ctx_reason(c, "SNIPPET_DELETED");
        rc = svc_ctx_fail(c, SW_ENOTFOUND, "snippet %s was deleted",
                          r->snippet_id);
        goto out;
    }
    if (rc == SW_ENOTFOUND) {
        rc = svc_ctx_fail(c, rc, "no snippet %s in this team", r->snippet_id);
        goto out;
    }
    if (rc)
        goto out;
    out = svc_snippet_msg(c, &sn);
    if (out == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    rc = svc_stats_snippets(c, &out, 1);
    if (rc)
        goto out;
    *resp = &out->base;
out:
    store_snippet_clear(&sn);
    return rc;
}

sw_err svc_snippet_delete(struct svc_ctx *c, const ProtobufCMessage *req,
                          ProtobufCMessage **resp)
{
    const Snipwise__V1__DeleteSnippetRequest *r =
        (const Snipwise__V1__DeleteSnippetRequest *)req;
    Snipwise__V1__DeleteSnippetResponse *out;
    struct store_snippet sn = {0};
    int deleted;
    sw_err rc;

    rc = svc_snippet_id(c, r->snippet_id);
    if (rc)
        return rc;
    /* Deleting what is gone is NOT_FOUND, as a Get of it is. */
    rc = store_snippet_get(svc_ctx_store(c), svc_ctx_team(c), r->snippet_id,
                           &sn);
    deleted = rc == SW_OK && sn.deleted;
    store_snippet_clear(&sn);
    if (deleted) {
        svc_ctx_reason(c, "SNIPPET_DELETED");
        return svc_ctx_fail(c, SW_ENOTFOUND, "snippet %s was already deleted",
                            r->snippet_id);
    }
    if (rc == SW_OK)
        rc = store_snippet_delete(svc_ctx_store(c), svc_ctx_team(c),
                                  r->snippet_id);
    if (rc == SW_ENOTFOUND)
        return svc_ctx_fail(c, rc, "no snippet %s in this team", r->snippet_id);
    if (rc)
        return rc;
    /* The store is the truth (searches re-check it); this only makes the
     * index forget at once instead of on the indexer's next pass. */
    if (svc_ctx_ranker(c)) {
        rc = rank_ranker_forget_snippet(svc_ctx_ranker(c), svc_ctx_team(c),
                                        r->snippet_id);
        if (rc)
            return rc;
    }
    out = svc_ctx_new(c, &snipwise__v1__delete_snippet_response__descriptor);
    if (out == NULL)
        return SW_ENOMEM;
    *resp = &out->base;
    return SW_OK;
}
