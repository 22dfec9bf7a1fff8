/* llm/call: re-ask loop, budgets, cache and journal around a provider. The
 * prompt is built once; each re-ask appends the model's answer and the
 * validation errors to the conversation, so the model sees what to fix. */
#include "llm/call.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_metric.h"
#include "base/sw_util.h"
#include "store/store.h"
#include "store/store_llm.h"
#include "store/store_tenant.h"

#define LLM_CALL_PROMPT_MAX (32u << 20)
#define LLM_CALL_DAY_MS 86400000LL
/* The most tokens one answer may report in either count; more is not a
 * real answer's usage but a broken or hostile server's. */
#define LLM_CALL_MAX_USAGE 10000000LL

struct llm_client {
    struct llm_provider *p;
    struct store *s;
    struct llm_call_opts o;
    struct llm_client_stats st; /* sw_counter_add / sw_counter_get only */
};

void llm_call_opts_default(struct llm_call_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->max_retries = 2;
    o->max_doc_prompt_bytes = 24 * 1024;
}

sw_err llm_client_new(struct llm_provider *p, struct store *s,
                      const struct llm_call_opts *o, llm_client **out)
{
    llm_client *c;

    if (p == NULL)
        return SW_EINVAL;
    c = sw_calloc(1, sizeof(*c));
    if (c == NULL)
        return SW_ENOMEM;
    c->p = p;
    c->s = s;
    if (o)
        c->o = *o;
    else
        llm_call_opts_default(&c->o);
    if (c->o.max_retries < 0)
        c->o.max_retries = 0;
    if (c->o.max_doc_prompt_bytes == 0)
        c->o.max_doc_prompt_bytes = 24 * 1024;
    *out = c;
    return SW_OK;
}

void llm_client_free(llm_client **c)
{
    if (c == NULL || *c == NULL)
        return;
    sw_free(*c);
    *c = NULL;
}

struct llm_provider *llm_client_provider(llm_client *c)
{
    return c->p;
}

void llm_result_clear(struct llm_result *r)
{
    if (r == NULL)
        return;
    sw_free(r->output);
    sw_free(r->request_hash);
    sw_free(r->last_output);
    sw_free(r->error);
    llm_verrs_clear(&r->last_errors);
    memset(r, 0, sizeof(*r));
}

/* --- Prompt ------------------------------------------------------------ */

static sw_err llm_call_prompt(const llm_client *c, const struct llm_schema *s,
                              const struct llm_input *in, const char *schema,
                              struct sw_buf *sys, struct sw_buf *user)
{
    size_t i, n;
    sw_err rc;

    rc = sw_buf_printf(sys,
                       "%s\n\nReply with one JSON object that matches "
                       "this JSON Schema:\n%s",
                       s->instructions, schema);
    if (rc == SW_OK)
        rc = sw_buf_addstr(user, "TEXT:\n");
    if (rc == SW_OK && in->text)
        rc = sw_buf_add(user, in->text, in->len);
    for (i = 0; rc == SW_OK && i < in->n_docs; i++) {
        n = in->docs[i].len;
        if (n > c->o.max_doc_prompt_bytes)
            n = c->o.max_doc_prompt_bytes;
        rc = sw_buf_printf(user, "\n\nATTACHMENT \"%s\":\n", in->docs[i].name);
        if (rc == SW_OK && n)
            rc = sw_buf_add(user, in->docs[i].text, n);
    }
    return rc;
}

/* --- Journal ----------------------------------------------------------- */

struct llm_call_rec {
    const char *team_id;
    struct store_llm_attempt a;
    int64_t tokens;                 /* added to the daily counter */
    const unsigned char *cache_key; /* set on success: store the output */
    const char *cache_val;
    size_t cache_len;
};

/* llm_rec_put writes one attempt's records in write transaction t: its
 * journal entry, its tokens on the day's counter, and the cache entry of a
 * valid answer (cache_key NULL: none). */
static sw_err llm_rec_put(store_txn *t, const char *team_id,
                          const struct store_llm_attempt *a, int64_t tokens,
                          const unsigned char *cache_key, const char *val,
                          size_t len)
{
    sw_err rc;

    rc = store_llm_journal_add(t, team_id, a);
    if (rc == SW_OK && tokens > 0)
        rc = store_llm_budget_add(t, team_id, sw_now_ms() / LLM_CALL_DAY_MS,
                                  (uint64_t)tokens, NULL);
    if (rc == SW_OK && cache_key)
        rc = store_llm_cache_put(t, team_id, cache_key, val, len);
    return rc;
}

static sw_err llm_call_rec_txn(store_txn *t, void *arg)
{
    struct llm_call_rec *r = arg;
    sw_err rc;

    /* A team deleted, or moved to another node, while the call ran keeps
     * nothing of it here: its records would outlive it. */
    rc = store_team_exists_txn(t, r->team_id);
    if (rc == SW_ENOTFOUND)
        return SW_OK;
    if (rc == SW_OK)
        rc = llm_rec_put(t, r->team_id, &r->a, r->tokens, r->cache_key,
                         r->cache_val, r->cache_len);
    return rc;
}

/* --- A held journal (llm_held, call.h) ---------------------------------- */

struct llm_held_rec {
    struct store_llm_attempt a;
    int64_t tokens;
    int has_cache;
    unsigned char cache_key[SW_SHA256_LEN];
    char *cache_val;
    size_t cache_len;
};

/* llm_held_add keeps a copy of r in h. */
static sw_err llm_held_add(struct llm_held *h, const struct llm_call_rec *r)
{
    struct llm_held_rec *x, *v;
    size_t cap;
    sw_err rc;

    if (h->n == h->cap) {
        cap = h->cap ? 2 * h->cap : 4;
        v = sw_realloc(h->v, cap * sizeof(*v));
        if (v == NULL)
            return SW_ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    x = &h->v[h->n];
    memset(x, 0, sizeof(*x));
    rc = store_llm_attempt_copy(&r->a, &x->a);
    if (rc)
        return rc;
    if (r->cache_key) {
        x->cache_val = sw_malloc(r->cache_len + 1);
        if (x->cache_val == NULL) {
            store_llm_attempt_clear(&x->a);
            return SW_ENOMEM;
        }
        memcpy(x->cache_val, r->cache_val, r->cache_len);
        x->cache_val[r->cache_len] = '\0';
        x->cache_len = r->cache_len;
        memcpy(x->cache_key, r->cache_key, SW_SHA256_LEN);
        x->has_cache = 1;
    }
    x->tokens = r->tokens;
    if (r->tokens > 0)
        h->tokens += (uint64_t)r->tokens;
    h->n++;
    return SW_OK;
}

/* llm_held_cache_get finds a held cache entry under key: a copy of its
 * value in *out, *len. SW_ENOTFOUND when none is held. */
static sw_err llm_held_cache_get(const struct llm_held *h,
                                 const unsigned char *key, char **out,
                                 size_t *len)
{
    size_t i;

    for (i = h->n; i-- > 0;) {
        const struct llm_held_rec *x = &h->v[i];
        if (!x->has_cache || memcmp(x->cache_key, key, SW_SHA256_LEN) != 0)
            continue;
        *out = sw_malloc(x->cache_len + 1);
        if (*out == NULL)
            return SW_ENOMEM;
        memcpy(*out, x->cache_val, x->cache_len + 1);
        *len = x->cache_len;
        return SW_OK;
    }
    return SW_ENOTFOUND;
}

sw_err llm_held_write_txn(store_txn *t, const char *team_id,
                          const struct llm_held *h)
{
    size_t i;
    sw_err rc;

    if (t == NULL || team_id == NULL || h == NULL)
        return SW_EINVAL;
    if (h->n == 0)
        return SW_OK;
    rc = store_team_exists_txn(t, team_id); /* as llm_call_rec_txn */
    if (rc == SW_ENOTFOUND)
        return SW_OK;
    for (i = 0; rc == SW_OK && i < h->n; i++) {
        const struct llm_held_rec *x = &h->v[i];
        rc = llm_rec_put(t, team_id, &x->a, x->tokens,
                         x->has_cache ? x->cache_key : NULL, x->cache_val,
                         x->cache_len);
    }
    return rc;
}

void llm_held_clear(struct llm_held *h)
{
    size_t i;

    if (h == NULL)
        return;
    for (i = 0; i < h->n; i++) {
        store_llm_attempt_clear(&h->v[i].a);
        sw_free(h->v[i].cache_val);
    }
    sw_free(h->v);
    memset(h, 0, sizeof(*h));
}

/* llm_call_count adds an attempt to the client's counters. */
static void llm_call_count(llm_client *c, const struct store_llm_attempt *a)
{
    uint64_t *by[] = {NULL,
                      &c->st.ok,
                      &c->st.invalid,
                      &c->st.provider_error,
                      &c->st.budget_exceeded,
                      &c->st.cached};

    if (a->outcome > 0 && (size_t)a->outcome < sizeof(by) / sizeof(by[0]))
        sw_counter_add(by[a->outcome], 1);
    if (a->prompt_tokens > 0)
        sw_counter_add(&c->st.prompt_tokens, (uint64_t)a->prompt_tokens);
    if (a->completion_tokens > 0)
        sw_counter_add(&c->st.completion_tokens,
                       (uint64_t)a->completion_tokens);
}

void llm_client_stats(llm_client *c, struct llm_client_stats *out)
{
    out->ok = sw_counter_get(&c->st.ok);
    out->invalid = sw_counter_get(&c->st.invalid);
    out->provider_error = sw_counter_get(&c->st.provider_error);
    out->budget_exceeded = sw_counter_get(&c->st.budget_exceeded);
    out->cached = sw_counter_get(&c->st.cached);
    out->prompt_tokens = sw_counter_get(&c->st.prompt_tokens);
    out->completion_tokens = sw_counter_get(&c->st.completion_tokens);
}

/* llm_call_journal counts an attempt and journals it: held in h, or
 * written at once when h is NULL. */
static sw_err llm_call_journal(llm_client *c, struct llm_held *h,
                               struct llm_call_rec *r)
{
    sw_err rc;

    llm_call_count(c, &r->a);
    if (c->s == NULL || r->team_id == NULL || r->team_id[0] == '\0')
        return SW_OK;
    rc = h ? llm_held_add(h, r) : store_update(c->s, llm_call_rec_txn, r);
    if (rc)
        sw_log_error("llm.journal", "err=%s held=%d", sw_err_name(rc),
                     h != NULL);
    return rc;
}

/* --- Usage ------------------------------------------------------------ */

/* llm_sat_add adds two non-negative token counts, saturating at
 * INT64_MAX. */
static int64_t llm_sat_add(int64_t a, int64_t b)
{
    assert(a >= 0 && b >= 0);
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* llm_call_usage_ok checks the usage a provider reported: each count
 * between 0 and LLM_CALL_MAX_USAGE. Anything else is the provider's error
 * (SW_EPROVIDER, message in r->error) and counts as no usage at all. */
static sw_err llm_call_usage_ok(struct llm_response *r)
{
    struct sw_buf b;
    sw_err rc;

    if (r->prompt_tokens >= 0 && r->prompt_tokens <= LLM_CALL_MAX_USAGE &&
        r->completion_tokens >= 0 && r->completion_tokens <= LLM_CALL_MAX_USAGE)
        return SW_OK;
    sw_buf_init(&b, 512);
    rc = sw_buf_printf(&b,
                       "the provider reported impossible usage (prompt "
                       "tokens %lld, completion tokens %lld)",
                       (long long)r->prompt_tokens,
                       (long long)r->completion_tokens);
    sw_free(r->error);
    r->error = NULL;
    if (rc == SW_OK)
        rc = sw_buf_take(&b, &r->error, NULL);
    sw_buf_free(&b);
    r->prompt_tokens = r->completion_tokens = 0;
    return rc == SW_OK ? SW_EPROVIDER : rc;
}

/* --- The call ---------------------------------------------------------- */

sw_err llm_call(llm_client *c, const char *team_id, const char *job_id,
                const struct llm_schema *s, const struct llm_input *in,
                struct llm_result *res)
{
    return llm_call_held(c, team_id, job_id, s, in, res, NULL);
}

sw_err llm_call_held(llm_client *c, const char *team_id, const char *job_id,
                     const struct llm_schema *s, const struct llm_input *in,
                     struct llm_result *res, struct llm_held *held)
{
    struct sw_buf schema, sys, user, errtxt, canon;
    struct llm_msg *msgs = NULL;
    struct llm_request req;
    struct llm_response resp;
    struct llm_call_rec rec;
    struct llm_verrs errs = {NULL, 0};
    unsigned char h[SW_SHA256_LEN], key[SW_SHA256_LEN];
    char hex[2 * SW_SHA256_LEN + 1];
    char **answers = NULL, **feedback = NULL;
    int64_t t0 = sw_mono_ms(), ta, used = 0;
    uint64_t today = 0;
    int attempt, nmax, use_store;
    size_t nmsgs = 2;
    sw_err rc = SW_OK, wrc;

    if (c == NULL || s == NULL || in == NULL || res == NULL)
        return SW_EINVAL;
    memset(res, 0, sizeof(*res));
    memset(&resp, 0, sizeof(resp));
    sw_buf_init(&schema, 1u << 20);
    sw_buf_init(&sys, 2u << 20);
    sw_buf_init(&user, LLM_CALL_PROMPT_MAX);
    sw_buf_init(&errtxt, 64 * 1024);
    sw_buf_init(&canon, LLM_CALL_PROMPT_MAX);
    use_store = c->s != NULL && team_id != NULL && team_id[0] != '\0';
    nmax = c->o.max_retries + 1;
    msgs = sw_calloc(2 + 2 * (size_t)nmax, sizeof(*msgs));
    answers = sw_calloc((size_t)nmax, sizeof(*answers));
    feedback = sw_calloc((size_t)nmax, sizeof(*feedback));
    if (msgs == NULL || answers == NULL || feedback == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    rc = llm_schema_json(s, &schema);
    if (rc == SW_OK)
        rc = llm_call_prompt(c, s, in, sw_buf_str(&schema), &sys, &user);
    if (rc)
        goto out;
    msgs[0].role = "system";
    msgs[0].content = sw_buf_str(&sys);
    msgs[1].role = "user";
    msgs[1].content = sw_buf_str(&user);

    /* The request hash covers the whole first prompt; the cache key adds
     * who answers it and with which schema version. */
    {
        struct sw_buf all;
        sw_buf_init(&all, LLM_CALL_PROMPT_MAX + (4u << 20));
        rc = sw_buf_add(&all, sw_buf_str(&sys), sw_buf_len(&sys) + 1);
        if (rc == SW_OK)
            rc = sw_buf_add(&all, sw_buf_str(&user), sw_buf_len(&user));
        if (rc == SW_OK)
            sw_sha256(sw_buf_str(&all), sw_buf_len(&all), h);
        sw_buf_free(&all);
        if (rc)
            goto out;
    }
    sw_hex(h, sizeof(h), hex);
    res->request_hash = sw_strdup(hex);
    rc = res->request_hash == NULL
             ? SW_ENOMEM
             : store_llm_cache_key(c->p->name, c->p->model, s->name, s->version,
                                   hex, key);
    if (rc)
        goto out;

    memset(&rec, 0, sizeof(rec));
    rec.team_id = team_id;
    rec.a.job_id = (char *)(job_id ? job_id : "");
    rec.a.provider = c->p->name;
    rec.a.model = c->p->model;
    rec.a.schema_name = (char *)s->name;
    rec.a.schema_version = s->version;
    rec.a.request_hash = hex;

    if (use_store && !c->o.no_cache) {
        rc = held ? llm_held_cache_get(held, key, &res->output, &res->len)
                  : SW_ENOTFOUND;
        if (rc == SW_ENOTFOUND)
            rc = store_llm_cache_get(c->s, team_id, key, &res->output,
                                     &res->len);
        if (rc == SW_OK) {
            res->cached = 1;
            res->latency_ms = sw_mono_ms() - t0;
            rec.a.attempt_number = 0;
            rec.a.raw_output = res->output;
            rec.a.errors = "";
            rec.a.time_ms = sw_now_ms();
            rec.a.latency_ms = res->latency_ms;
            rec.a.outcome = STORE_LLM_CACHED;
            rc = llm_call_journal(c, held, &rec);
            goto out;
        }
        if (rc != SW_ENOTFOUND)
            goto out;
        rc = SW_OK;
    }

    memset(&req, 0, sizeof(req));
    req.schema = s;
    req.schema_json = sw_buf_str(&schema);
    req.in = in;
    req.msgs = msgs;
    if (c->o.timeout_ms > 0)
        req.deadline_ms = t0 + c->o.timeout_ms;

    for (attempt = 1; attempt <= nmax; attempt++) {
        rec.a.attempt_number = attempt;
        rec.a.time_ms = sw_now_ms();
        rec.a.raw_output = "";
        rec.a.errors = "";
        rec.a.prompt_tokens = rec.a.completion_tokens = 0;
        rec.a.latency_ms = 0;
        rec.tokens = 0;
        rec.cache_key = NULL;

        /* Budgets are checked before spending; a provider that costs
         * nothing (the builtin) has none. */
        if (use_store && c->o.team_daily_tokens > 0 && !c->p->no_cost) {
            rc = store_llm_budget_get(c->s, team_id,
                                      sw_now_ms() / LLM_CALL_DAY_MS, &today);
            if (rc)
                goto out;
            if (held) /* spent by calls whose journal is not written yet */
                today = today > UINT64_MAX - held->tokens
                            ? UINT64_MAX
                            : today + held->tokens;
        }
        if (!c->p->no_cost &&
            ((c->o.max_call_tokens > 0 && used >= c->o.max_call_tokens) ||
             (c->o.team_daily_tokens > 0 &&
              today >= (uint64_t)c->o.team_daily_tokens))) {
            rc = SW_EBUDGET;
            res->error = sw_strdup(used >= c->o.max_call_tokens &&
                                           c->o.max_call_tokens > 0
                                       ? "the call's token budget is spent"
                                       : "the team's daily token budget is "
                                         "spent");
            rec.a.outcome = STORE_LLM_BUDGET_EXCEEDED;
            wrc = llm_call_journal(c, held, &rec);
            if (wrc)
                rc = wrc;
            goto out;
        }
        req.n_msgs = nmsgs;
        if (c->o.max_call_tokens > 0)
            req.max_tokens = c->o.max_call_tokens - used;
        ta = sw_mono_ms();
        llm_response_clear(&resp);
        rc = llm_provider_complete(c->p, &req, &resp);
        if (rc == SW_OK)
            rc = llm_call_usage_ok(&resp);
        res->attempts = attempt;
        res->prompt_tokens =
            llm_sat_add(res->prompt_tokens, resp.prompt_tokens);
        res->completion_tokens =
            llm_sat_add(res->completion_tokens, resp.completion_tokens);
        rec.a.prompt_tokens = resp.prompt_tokens;
        rec.a.completion_tokens = resp.completion_tokens;
        rec.a.mode = (char *)(resp.mode ? resp.mode : "");
        rec.tokens = c->p->no_cost ? 0
                                   : llm_sat_add(resp.prompt_tokens,
                                                 resp.completion_tokens);
        used = llm_sat_add(used, rec.tokens);
        rec.a.latency_ms = sw_mono_ms() - ta;
        if (rc) {
            if (rc == SW_ENOMEM)
                goto out;
            sw_free(res->error);
            res->error = sw_strdup(resp.error ? resp.error : sw_err_str(rc));
            rec.a.raw_output = resp.content ? resp.content : "";
            rec.a.errors = res->error ? res->error : "";
            rec.a.outcome = STORE_LLM_PROVIDER_ERROR;
            wrc = llm_call_journal(c, held, &rec);
            if (wrc)
                rc = wrc;
            goto out;
        }
        llm_verrs_clear(&errs);
        sw_buf_reset(&canon);
        rc = llm_schema_validate(s, in, resp.content, resp.len, &errs, &canon);
        if (rc)
            goto out;
        sw_buf_reset(&errtxt);
        rc = llm_verrs_format(&errs, &errtxt);
        if (rc == SW_ETOOBIG)
            rc = SW_OK;
        if (rc)
            goto out;
        rec.a.raw_output = resp.content;
        rec.a.errors = (char *)sw_buf_str(&errtxt);
        if (errs.n == 0) {
            rec.a.outcome = STORE_LLM_OK;
            if (!c->o.no_cache) {
                rec.cache_key = key;
                rec.cache_val = sw_buf_str(&canon);
                rec.cache_len = sw_buf_len(&canon);
            }
            rc = llm_call_journal(c, held, &rec);
            if (rc)
                goto out;
            rc = sw_buf_take(&canon, &res->output, &res->len);
            goto out;
        }
        rec.a.outcome = STORE_LLM_INVALID;
        rc = llm_call_journal(c, held, &rec);
        if (rc)
            goto out;
        sw_log_info("llm.invalid", "schema=%s attempt=%d errors=%zu", s->name,
                    attempt, errs.n);
        /* Keep this answer as the last invalid one, then re-ask. */
        sw_free(res->last_output);
        res->last_output = sw_strdup(resp.content);
        llm_verrs_clear(&res->last_errors);
        res->last_errors = errs;
        errs.v = NULL;
        errs.n = 0;
        if (res->last_output == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
        if (attempt == nmax) {
            rc = SW_EPARSE;
            goto out;
        }
        {
            struct sw_buf fb;
            sw_buf_init(&fb, 128 * 1024);
            rc = sw_buf_printf(&fb,
                               "Your answer failed validation with these "
                               "errors:\n%s\nAnswer again with the corrected "
                               "JSON object only. Quote text verbatim from the "
                               "source.",
                               sw_buf_str(&errtxt));
            if (rc == SW_OK)
                rc = sw_buf_take(&fb, &feedback[attempt - 1], NULL);
            sw_buf_free(&fb);
            if (rc)
                goto out;
        }
        answers[attempt - 1] = resp.content;
        resp.content = NULL;
        msgs[nmsgs].role = "assistant";
        msgs[nmsgs].content = answers[attempt - 1];
        msgs[nmsgs + 1].role = "user";
        msgs[nmsgs + 1].content = feedback[attempt - 1];
        nmsgs += 2;
    }
out:
    res->latency_ms = sw_mono_ms() - t0;
    for (attempt = 0; answers && feedback && attempt < nmax; attempt++) {
        sw_free(answers[attempt]);
        sw_free(feedback[attempt]);
    }
    sw_free(answers);
    sw_free(feedback);
    sw_free(msgs);
    llm_response_clear(&resp);
    llm_verrs_clear(&errs);
    sw_buf_free(&schema);
    sw_buf_free(&sys);
    sw_buf_free(&user);
    sw_buf_free(&errtxt);
    sw_buf_free(&canon);
    return rc;
}
