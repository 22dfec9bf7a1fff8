/* svc_suggest: SuggestService.Suggest and the RankingService handlers. */
#include "service/svc_suggest.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "base/sw_arena.h"
#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ranker/model.h"
#include "ranker/rerank.h"
#include "ranker/suggest.h"
#include "service/svc_metrics.h"
#include "snipwise/v1/ranking.pb-c.h"
#include "snipwise/v1/suggest.pb-c.h"

#define SVC_SUGGEST_TEXT_MAX (256 * 1024)
#define SVC_SUGGEST_EXCLUDE_MAX 100
#define SVC_SUGGEST_RECIPIENTS_MAX 100

static sw_err svc_need_engine(struct svc_ctx *c)
{
    if (svc_ctx_engine(c) == NULL)
        return svc_ctx_fail(c, SW_EUNIMPL,
                            "this server runs without a ranking engine");
    return SW_OK;
}

static Snipwise__V1__ScoreBreakdown *svc_score(struct svc_ctx *c,
                                               const struct rank_score *s)
{
    Snipwise__V1__ScoreBreakdown *b =
        svc_ctx_new(c, &snipwise__v1__score_breakdown__descriptor);

    if (b == NULL)
        return NULL;
    b->total = s->total;
    b->relevance = s->relevance;
    b->outcome = s->outcome;
    b->collaborative = s->collab;
    b->exploration = s->explore;
    b->adoption = s->adoption;
    b->usage = s->usage;
    b->account = s->account;
    b->feedback = s->feedback;
    return b;
}

/* svc_feedback_counts converts counts by FeedbackKind: each field of
 * FeedbackCounts is numbered by its kind (suggest.proto), so the
 * descriptor maps one to the other and a new kind needs no edit here. */
static Snipwise__V1__FeedbackCounts *
svc_feedback_counts(struct svc_ctx *c, const struct rank_fb_counts *n)
{
    const ProtobufCMessageDescriptor *d =
        &snipwise__v1__feedback_counts__descriptor;
    Snipwise__V1__FeedbackCounts *v = svc_ctx_new(c, d);
    int k;

    if (v == NULL)
        return NULL;
    for (k = 1; k < RANK_FB_KINDS; k++) {
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field(d, (unsigned)k);
        /* feedback_proto_test checks the numbering against FeedbackKind. */
        assert(f && f->type == PROTOBUF_C_TYPE_INT64);
        *(int64_t *)(void *)((char *)v + f->offset) = n->n[k];
    }
    return v;
}

static Snipwise__V1__FeedbackEvidence *
svc_feedback_evidence(struct svc_ctx *c, const struct rank_sugg_fb *fb)
{
    Snipwise__V1__FeedbackEvidence *v =
        svc_ctx_new(c, &snipwise__v1__feedback_evidence__descriptor);

    if (v == NULL)
        return NULL;
    v->team = svc_feedback_counts(c, &fb->team);
    v->rep = svc_feedback_counts(c, &fb->rep);
    v->pending_use_count = fb->pending;
    return v->team && v->rep ? v : NULL;
}

static Snipwise__V1__AccountEvidence *
svc_account_evidence(struct svc_ctx *c, const struct rank_acct_evid *e)
{
    Snipwise__V1__AccountEvidence *v =
        svc_ctx_new(c, &snipwise__v1__account_evidence__descriptor);

    if (v == NULL)
        return NULL;
    v->thread_count = e->threads;
    v->positive_rate =
        e->threads > 0 ? (double)e->positives / (double)e->threads : 0.0;
    return v;
}

/* svc_suggest_accounts copies the request's account context into out. */
static sw_err svc_suggest_accounts(struct svc_ctx *c,
                                   const struct rank_suggest_res *res,
                                   Snipwise__V1__SuggestResponse *out)
{
    struct sw_arena *a = svc_ctx_arena(c);
    size_t i;

    out->accounts =
        sw_arena_alloc(a, (res->n_accounts + 1) * sizeof(*out->accounts));
    if (out->accounts == NULL)
        return SW_ENOMEM;
    for (i = 0; i < res->n_accounts; i++) {
        const struct rank_sugg_account *g = &res->accounts[i];
        Snipwise__V1__AccountContext *x =
            svc_ctx_new(c, &snipwise__v1__account_context__descriptor);
        if (x == NULL)
            return SW_ENOMEM;
        x->domain = (char *)g->domain;
        x->thread_count = g->threads;
        x->positive_rate =
            g->mature > 0 ? (double)g->positives / (double)g->mature : 0.0;
        out->accounts[out->n_accounts++] = x;
    }
    return SW_OK;
}

/* svc_suggest_recipients gives the ranker the request's recipients and,
 * for a thread given as text, its messages' senders (participants too:
 * the ranker leaves the team's own domains out). */
static sw_err svc_suggest_recipients(struct svc_ctx *c,
                                     const Snipwise__V1__SuggestRequest *r,
                                     struct rank_suggest_req *q)
{
    const Snipwise__V1__ThreadText *tt =
        r->thread_case == SNIPWISE__V1__SUGGEST_REQUEST__THREAD_THREAD_TEXT
            ? r->thread_text
            : NULL;
    size_t n = tt ? tt->n_messages : 0, i;
    const char **v;

    v = sw_arena_alloc(svc_ctx_arena(c),
                       (r->n_recipients + n + 1) * sizeof(*v));
    if (v == NULL)
        return SW_ENOMEM;
    for (i = 0; i < r->n_recipients; i++)
        v[q->n_recipients++] = r->recipients[i];
    for (i = 0; i < n; i++)
        if (tt->messages[i]->from_address[0])
            v[q->n_recipients++] = tt->messages[i]->from_address;
    q->recipients = v;
    return SW_OK;
}

static Snipwise__V1__Evidence *svc_evidence(struct svc_ctx *c,
                                            const struct rank_sugg *g)
{
    Snipwise__V1__Evidence *v =
        svc_ctx_new(c, &snipwise__v1__evidence__descriptor);

    if (v == NULL)
        return NULL;
    v->use_count = g->ev.times_used;
    v->rep_count = g->ev.reps;
    v->thread_count = g->ev.threads;
    v->positive_rate = g->positive_rate;
    v->team_baseline_rate = g->team_rate;
    v->positive_reply_count = g->ev.pos_replies;
    v->meeting_count = g->ev.meetings;
    v->deal_won_count = g->ev.deals;
    return v;
}

/* svc_suggest_context joins a ThreadText into the text the ranker reads:
 * the subject and the last message (quotes are stripped by the ranker). */
static sw_err svc_suggest_context(struct svc_ctx *c,
                                  const Snipwise__V1__ThreadText *tt,
                                  const char **out)
{
    struct sw_buf b;
    sw_err rc;

    sw_buf_init(&b, SVC_SUGGEST_TEXT_MAX);
    rc = sw_buf_printf(&b, "%s\n", tt->subject);
    if (rc == SW_OK && tt->n_messages > 0)
        rc = sw_buf_addstr(&b, tt->messages[tt->n_messages - 1]->text);
    if (rc == SW_ETOOBIG)
        rc = svc_ctx_fail(c, SW_EINVAL, "thread_text is longer than %d bytes",
                          SVC_SUGGEST_TEXT_MAX);
    if (rc == SW_OK) {
        *out = sw_arena_strdup(svc_ctx_arena(c), sw_buf_str(&b));
        if (*out == NULL)
            rc = SW_ENOMEM;
    }
    sw_buf_free(&b);
    return rc;
}

/* svc_suggest_hash hashes the packed request: ids and seeds depend on all
 * of it, and on nothing else of the call. */
static uint64_t svc_suggest_hash(struct svc_ctx *c, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = sw_arena_alloc(svc_ctx_arena(c), n + 1);
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t i;

    if (buf == NULL)
        return h;
    protobuf_c_message_pack(m, buf);
    for (i = 0; i < n; i++) {
        h ^= buf[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

Snipwise__V1__StatisticsState *svc_suggest_stats(struct svc_ctx *c,
                                                 const struct rank_fresh *f)
{
    Snipwise__V1__StatisticsState *p =
        svc_ctx_new(c, &snipwise__v1__statistics_state__descriptor);

    if (p == NULL)
        return NULL;
    p->current = f->current;
    p->lag_ms = f->lag_ms;
    p->ready = f->ready;
    return p;
}

/* svc_suggest_query fills the response's QueryDecomposition from the
 * ranker's: the query text, topics, content kinds and date range (the
 * built-in decomposition; no LLM rewrites the query). */
static SW_MUST_CHECK sw_err
svc_suggest_query(struct svc_ctx *c, const struct rank_suggest_res *res,
                  Snipwise__V1__QueryDecomposition *q)
{
    const struct rank_query *d = &res->decomposition;
    struct sw_arena *a = svc_ctx_arena(c);
    size_t i;

    q->rewritten_query = (char *)res->query;
    q->llm_rewritten = 0;
    q->topics = sw_arena_alloc(a, (d->n_topics + 1) * sizeof(*q->topics));
    q->content_kinds =
        sw_arena_alloc(a, (d->n_kinds + 1) * sizeof(*q->content_kinds));
    if (q->topics == NULL || q->content_kinds == NULL)
        return SW_ENOMEM;
    for (i = 0; i < d->n_topics; i++)
        q->topics[i] = (char *)d->topics[i];
    q->n_topics = d->n_topics;
    for (i = 0; i < d->n_kinds; i++)
        q->content_kinds[i] = (Snipwise__V1__ContentKind)d->kinds[i];
    q->n_content_kinds = d->n_kinds;
    if (d->has_range) {
        q->date_range = svc_ctx_new(c, &snipwise__v1__time_range__descriptor);
        if (q->date_range == NULL)
            return SW_ENOMEM;
        q->date_range->start_time_unix_ms = d->start_ms;
        q->date_range->end_time_unix_ms = d->end_ms;
    }
    return SW_OK;
}

sw_err svc_suggest(struct svc_ctx *c, const ProtobufCMessage *req,
                   ProtobufCMessage **resp)
{
    const Snipwise__V1__SuggestRequest *r =
        (const Snipwise__V1__SuggestRequest *)req;
    struct sw_arena *a = svc_ctx_arena(c);
    Snipwise__V1__SuggestResponse *out;
    struct rank_suggest_req q;
    struct rank_suggest_res res;
    struct sw_buf why;
    size_t i;
    sw_err rc;

    sw_buf_init(&why, 1024);
    memset(&q, 0, sizeof(q));
    rc = svc_need_engine(c);
    if (rc)
        goto out;
    /* Every bad field is named (one violation each), then the call
     * fails. */
    if (r->max_contents < 0 || r->max_contents > RANK_SUGGEST_MAX)
        rc = svc_ctx_fail_field(c, SW_EINVAL, "max_contents", "must be 0..%d",
                                RANK_SUGGEST_MAX);
    if (r->max_framings < 0 || r->max_framings > RANK_SUGGEST_MAX)
        rc = svc_ctx_fail_field(c, SW_EINVAL, "max_framings", "must be 0..%d",
                                RANK_SUGGEST_MAX);
    if ((int)r->mode < 0 || (int)r->mode > RANK_MODE_RANDOM)
        rc = svc_ctx_fail_field(c, SW_EINVAL, "mode", "is not a RankingMode");
    if (r->n_attachment_content_ids > SVC_SUGGEST_EXCLUDE_MAX)
        rc = svc_ctx_fail_field(c, SW_EINVAL, "attachment_content_ids",
                                "holds more than %d ids",
                                SVC_SUGGEST_EXCLUDE_MAX);
    if (r->n_recipients > SVC_SUGGEST_RECIPIENTS_MAX)
        rc = svc_ctx_fail_field(c, SW_EINVAL, "recipients",
                                "holds more than %d addresses",
                                SVC_SUGGEST_RECIPIENTS_MAX);
    if (strlen(r->draft_text) > SVC_SUGGEST_TEXT_MAX)
        rc =
            svc_ctx_fail_field(c, SW_EINVAL, "draft_text",
                               "is longer than %d bytes", SVC_SUGGEST_TEXT_MAX);
    if (rc)
        goto out;
    q.team_id = svc_ctx_team(c);
    switch (r->thread_case) {
    case SNIPWISE__V1__SUGGEST_REQUEST__THREAD_THREAD_ID:
        q.thread_id = r->thread_id;
        break;
    case SNIPWISE__V1__SUGGEST_REQUEST__THREAD_IN_REPLY_TO_MESSAGE_ID:
        q.in_reply_to = r->in_reply_to_message_id;
        break;
    case SNIPWISE__V1__SUGGEST_REQUEST__THREAD_THREAD_TEXT:
        if (r->thread_text) {
            rc = svc_suggest_context(c, r->thread_text, &q.context);
            if (rc)
                goto out;
        }
        break;
    default:
        break;
    }
    q.draft = r->draft_text;
    /* A rep key suggests for its own rep only. */
    rc = svc_ctx_rep_identity(c, "rep_email", r->rep_email, &q.rep_email);
    if (rc)
        goto out;
    rc = svc_suggest_recipients(c, r, &q);
    if (rc)
        goto out;
    q.exclude_contents = (const char *const *)r->attachment_content_ids;
    q.n_exclude = r->n_attachment_content_ids;
    q.max_contents = (size_t)r->max_contents;
    q.max_framings = (size_t)r->max_framings;
    q.mode = (int)r->mode;
    q.explain = r->explain;
    q.request_hash = svc_suggest_hash(c, req);
    rc = rank_suggest(svc_ctx_engine(c), &q, a, &res, &why);
    if (rc == SW_ENOTFOUND) {
        svc_ctx_reason(c, q.thread_id ? "THREAD_NOT_FOUND" : "EMAIL_NOT_FOUND");
        svc_ctx_meta(c, q.thread_id ? "thread_id" : "message_id", "%s",
                     q.thread_id ? q.thread_id : q.in_reply_to);
        rc = svc_ctx_fail(c, rc, "no %s %s in this team",
                          q.thread_id ? "thread" : "email with Message-ID",
                          q.thread_id ? q.thread_id : q.in_reply_to);
        goto out;
    }
    if (rc) {
        rc = svc_ctx_fail_buf(c, rc, &why);
        goto out;
    }
    out = svc_ctx_new(c, &snipwise__v1__suggest_response__descriptor);
    if (out == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    out->suggestion_id = (char *)res.suggestion_id;
    out->model_version = (char *)res.model_version;
    out->query = svc_ctx_new(c, &snipwise__v1__query_decomposition__descriptor);
    out->statistics = svc_suggest_stats(c, &res.fresh);
    out->contents =
        sw_arena_alloc(a, (res.n_contents + 1) * sizeof(*out->contents));
    out->framings =
        sw_arena_alloc(a, (res.n_framings + 1) * sizeof(*out->framings));
    if (!out->query || !out->statistics || !out->contents || !out->framings) {
        rc = SW_ENOMEM;
        goto out;
    }
    rc = svc_suggest_query(c, &res, out->query);
    if (rc == SW_OK)
        rc = svc_suggest_accounts(c, &res, out);
    if (rc)
        goto out;
    for (i = 0; i < res.n_contents; i++) {
        const struct rank_sugg *g = &res.contents[i];
        Snipwise__V1__ContentSuggestion *s =
            svc_ctx_new(c, &snipwise__v1__content_suggestion__descriptor);
        if (s == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
        s->item_id = (char *)g->item_id;
        s->content_id = (char *)g->content_id;
        s->title = (char *)g->title;
        s->kind = (Snipwise__V1__ContentKind)g->content_kind;
        s->key_passage = (char *)g->text;
        s->score = svc_score(c, &g->score);
        s->evidence = svc_evidence(c, g);
        s->account_evidence = svc_account_evidence(c, &g->acct);
        s->feedback_evidence = svc_feedback_evidence(c, &g->fb);
        s->explanation = (char *)g->explanation;
        if (!s->score || !s->evidence || !s->account_evidence ||
            !s->feedback_evidence) {
            rc = SW_ENOMEM;
            goto out;
        }
        out->contents[out->n_contents++] = s;
    }
    for (i = 0; i < res.n_framings; i++) {
        const struct rank_sugg *g = &res.framings[i];
        Snipwise__V1__FramingSuggestion *s =
            svc_ctx_new(c, &snipwise__v1__framing_suggestion__descriptor);
        if (s == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
        s->item_id = (char *)g->item_id;
        s->snippet_id = (char *)g->target_id;
        s->family_id = (char *)g->family_id;
        s->text = (char *)g->text;
        s->content_id = (char *)g->content_id;
        s->score = svc_score(c, &g->score);
        s->evidence = svc_evidence(c, g);
        s->account_evidence = svc_account_evidence(c, &g->acct);
        s->feedback_evidence = svc_feedback_evidence(c, &g->fb);
        s->explanation = (char *)g->explanation;
        if (!s->score || !s->evidence || !s->account_evidence ||
            !s->feedback_evidence) {
            rc = SW_ENOMEM;
            goto out;
        }
        out->framings[out->n_framings++] = s;
    }
    *resp = &out->base;
out:
    sw_buf_free(&why);
    return rc;
}

/* --- RankingService ---------------------------------------------------- */

static Snipwise__V1__Model *svc_model_msg(struct svc_ctx *c,
                                          const struct rank_model *m)
{
    struct sw_arena *a = svc_ctx_arena(c);
    Snipwise__V1__Model *p = svc_ctx_new(c, &snipwise__v1__model__descriptor);
    Snipwise__V1__ModelMetrics *x;
    int b;

    if (p == NULL)
        return NULL;
    p->model_version = svc_ctx_str(c, m->version);
    p->create_time_unix_ms = m->create_ms;
    p->promoted = m->promoted ? 1 : 0;
    p->promote_time_unix_ms = m->promote_ms;
    p->report = svc_ctx_str(c, m->report ? m->report : "");
    x = p->metrics = svc_ctx_new(c, &snipwise__v1__model_metrics__descriptor);
    if (x == NULL)
        return NULL;
    x->ndcg_at_10 = m->metrics.model.ndcg;
    x->recall_at_10 = m->metrics.model.recall;
    x->holdout_threads = m->metrics.holdout_threads;
    x->holdout_outcomes = m->metrics.holdout_outcomes;
    x->train_threads = m->metrics.train_threads;
    x->adapter = svc_ctx_new(c, &snipwise__v1__adapter_evaluation__descriptor);
    if (x->adapter == NULL)
        return NULL;
    x->adapter->positive_pair_count = m->metrics.adapter.pairs;
    x->adapter->trained = m->metrics.adapter.trained ? 1 : 0;
    x->adapter->ndcg_at_10 = m->metrics.adapter.with.ndcg;
    x->adapter->recall_at_10 = m->metrics.adapter.with.recall;
    x->adapter->relevance_ndcg_at_10 = m->metrics.adapter.sim_with.ndcg;
    x->adapter->passed = m->metrics.adapter.passed ? 1 : 0;
    x->adapter->kept = m->metrics.adapter.promoted ? 1 : 0;
    x->baselines = sw_arena_alloc(a, 3 * sizeof(*x->baselines));
    if (x->baselines == NULL)
        return NULL;
    for (b = 1; b <= 3; b++) {
        const struct rank_eval *e = &m->metrics.base[b];
        Snipwise__V1__BaselineComparison *bc;
        if (!e->present)
            continue;
        bc = svc_ctx_new(c, &snipwise__v1__baseline_comparison__descriptor);
        if (bc == NULL)
            return NULL;
        bc->baseline = (Snipwise__V1__Baseline)b;
        bc->ndcg_at_10 = e->ndcg;
        bc->recall_at_10 = e->recall;
        bc->reply_rate_lift =
            e->rate > 0 ? m->metrics.model.rate / e->rate - 1.0 : 0.0;
        x->baselines[x->n_baselines++] = bc;
    }
    return svc_ctx_oom(c) ? NULL : p;
}

struct svc_rerank_arg {
    struct svc_ctx *c;
};

static int svc_rerank_progress(const char *phase, double f, const char *msg,
                               void *arg)
{
    struct svc_rerank_arg *r = arg;
    Snipwise__V1__RerankProgress p;

    if (strcmp(phase, "done") == 0)
        return 0; /* the last message carries the result */
    snipwise__v1__rerank_progress__init(&p);
    p.phase = (char *)phase;
    p.fraction = f;
    p.message = (char *)msg;
    return svc_ctx_send(r->c, &p.base) != SW_OK;
}

sw_err svc_ranking_run(struct svc_ctx *c, const ProtobufCMessage *req,
                       ProtobufCMessage **resp)
{
    const Snipwise__V1__RunRerankRequest *r =
        (const Snipwise__V1__RunRerankRequest *)req;
    struct rank_rerank_result res;
    struct rank_rerank_opts o;
    struct svc_rerank_arg arg;
    Snipwise__V1__RerankProgress last;
    Snipwise__V1__RerankResult rr;
    rank_engine *e = svc_ctx_engine(c);
    int64_t t0;
    sw_err rc;

    (void)resp;
    memset(&res, 0, sizeof(res));
    rc = svc_need_engine(c);
    if (rc)
        return rc;
    rc = rank_engine_rerank_begin(e, svc_ctx_team(c));
    if (rc == SW_EABORTED)
        return svc_ctx_fail(c, rc,
                            "a re-ranking run of this team is "
                            "already running");
    if (rc)
        return rc;
    memset(&o, 0, sizeof(o));
    o.force_promote = r->force_promote;
    o.dry_run = r->dry_run;
    /* --adapter 0: no adapter learnt, so models are judged without one. */
    o.no_adapter = !rank_engine_params(e)->use_adapter;
    arg.c = c;
    t0 = sw_mono_us();
    rc = rank_rerank_team(rank_engine_store(e), rank_engine_ranker(e),
                          svc_ctx_team(c), NULL, &o, svc_rerank_progress, &arg,
                          &res);
    rank_engine_rerank_end(e, svc_ctx_team(c));
    svc_metrics_rerank_done(svc_ctx_metrics(c), rc, rc == SW_OK && res.promoted,
                            sw_mono_us() - t0);
    if (rc)
        goto out;
    snipwise__v1__rerank_progress__init(&last);
    snipwise__v1__rerank_result__init(&rr);
    rr.model = svc_model_msg(c, res.model);
    rr.promoted = res.promoted;
    rr.decision = res.decision;
    last.phase = "done";
    last.fraction = 1.0;
    last.message = res.decision;
    last.result = &rr;
    if (rr.model == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    rc = svc_ctx_send(c, &last.base);
out:
    rank_model_free(&res.model);
    return rc;
}

struct svc_model_get {
    const char *team;
    const char *version;
    struct rank_model *m;
};

static sw_err svc_model_get_txn(store_txn *t, void *arg)
{
    struct svc_model_get *g = arg;
    uint64_t seq;
    sw_err rc;

    rank_model_free(&g->m);
    if (g->version[0])
        rc = rank_model_by_version(t, g->team, g->version, &seq);
    else
        rc = rank_model_serving(t, g->team, &seq);
    if (rc == SW_OK)
        rc = rank_model_load(t, g->team, seq, 0, &g->m);
    return rc;
}

Snipwise__V1__Model *svc_model_find(struct svc_ctx *c, const char *version,
                                    sw_err *rc)
{
    struct svc_model_get g = {svc_ctx_team(c), version, NULL};
    Snipwise__V1__Model *m = NULL;

    *rc = store_view(svc_ctx_store(c), svc_model_get_txn, &g);
    if (*rc == SW_OK) {
        m = svc_model_msg(c, g.m);
        if (m == NULL)
            *rc = SW_ENOMEM;
    }
    rank_model_free(&g.m);
    return m;
}

sw_err svc_ranking_get(struct svc_ctx *c, const ProtobufCMessage *req,
                       ProtobufCMessage **resp)
{
    const Snipwise__V1__GetModelRequest *r =
        (const Snipwise__V1__GetModelRequest *)req;
    struct svc_model_get g = {svc_ctx_team(c), r->model_version, NULL};
    Snipwise__V1__Model *m;
    sw_err rc;

    if (strlen(r->model_version) > 64)
        return svc_ctx_fail(c, SW_EINVAL, "model_version is too long");
    rc = store_view(svc_ctx_store(c), svc_model_get_txn, &g);
    if (rc == SW_ENOTFOUND) {
        rc = svc_ctx_fail(c, rc,
                          r->model_version[0] ? "no model %s in this team"
                                              : "no model is serving yet%s",
                          r->model_version);
        goto out;
    }
    if (rc)
        goto out;
    m = svc_model_msg(c, g.m);
    if (m == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    *resp = &m->base;
out:
    rank_model_free(&g.m);
    return rc;
}

struct svc_model_page {
    const char *team;
    uint64_t before;
    size_t want, n;
    uint64_t seqs[SVC_MAX_PAGE_SIZE + 1];
    struct rank_model *ms[SVC_MAX_PAGE_SIZE + 1];
    int more;
};

static sw_err svc_model_page_txn(store_txn *t, void *arg)
{
    struct svc_model_page *p = arg;
    size_t i;
    sw_err rc;

    for (i = 0; i < p->n; i++)
        rank_model_free(&p->ms[i]);
    p->n = 0;
    rc = rank_model_list(t, p->team, p->before, p->want, p->seqs, &p->n,
                         &p->more);
    for (i = 0; rc == SW_OK && i < p->n; i++)
        rc = rank_model_load(t, p->team, p->seqs[i], 0, &p->ms[i]);
    return rc;
}

sw_err svc_ranking_list(struct svc_ctx *c, const ProtobufCMessage *req,
                        ProtobufCMessage **resp)
{
    const Snipwise__V1__ListModelsRequest *r =
        (const Snipwise__V1__ListModelsRequest *)req;
    struct svc_model_page *p = NULL;
    Snipwise__V1__ListModelsResponse *out;
    int64_t before = 0;
    int size = 0;
    size_t i;
    sw_err rc;

    rc = svc_ctx_page(c, r->page_size, &size);
    if (rc)
        return rc;
    if (r->page_token[0] && sw_parse_i64(r->page_token, strlen(r->page_token),
                                         1, INT64_MAX, &before) != SW_OK)
        return svc_ctx_fail(c, SW_EINVAL, "page_token is malformed");
    p = sw_calloc(1, sizeof(*p));
    if (p == NULL)
        return SW_ENOMEM;
    p->team = svc_ctx_team(c);
    p->before = (uint64_t)before;
    p->want = size ? (size_t)size : 20;
    rc = store_view(svc_ctx_store(c), svc_model_page_txn, p);
    if (rc)
        goto out;
    out = svc_ctx_new(c, &snipwise__v1__list_models_response__descriptor);
    if (out == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    out->models =
        sw_arena_alloc(svc_ctx_arena(c), (p->n + 1) * sizeof(*out->models));
    if (out->models == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    for (i = 0; i < p->n; i++) {
        out->models[i] = svc_model_msg(c, p->ms[i]);
        if (out->models[i] == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
        out->n_models++;
    }
    out->next_page_token =
        p->more && p->n ? sw_arena_printf(svc_ctx_arena(c), "%llu",
                                          (unsigned long long)p->seqs[p->n - 1])
                        : "";
    if (out->next_page_token == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    *resp = &out->base;
out:
    for (i = 0; i < p->n; i++)
        rank_model_free(&p->ms[i]);
    sw_free(p);
    return rc;
}
