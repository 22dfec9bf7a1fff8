/* svc_llm: ListJournal over store_llm, the extraction worker's set-up and
 * shutdown for snipd, and the reextract command. */
#include "service/svc_llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "ingest/worker.h"
#include "llm/call.h"
#include "llm/provider.h"
#include "service/svc_store.h"
#include "snipwise/v1/llm.pb-c.h"
#include "store/store.h"
#include "store/store_llm.h"

#define SVC_WHY_MAX 1024

/* svc_llm_errors splits the journal's error lines into a repeated field. */
static sw_err svc_llm_errors(struct svc_ctx *c, const char *s,
                             Snipwise__V1__JournalEntry *e)
{
    const char *p, *nl;
    size_t n = 0, k = 0;

    for (p = s; *p; p = nl ? nl + 1 : p + strlen(p)) {
        nl = strchr(p, '\n');
        if ((nl ? (size_t)(nl - p) : strlen(p)) > 0)
            n++;
        if (nl == NULL)
            break;
    }
    e->validation_errors =
        sw_arena_alloc(svc_ctx_arena(c), (n ? n : 1) * sizeof(char *));
    if (e->validation_errors == NULL)
        return SW_ENOMEM;
    for (p = s; *p && k < n; p = nl ? nl + 1 : p + strlen(p)) {
        size_t len;
        nl = strchr(p, '\n');
        len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > 0) {
            char *x = sw_arena_alloc(svc_ctx_arena(c), len + 1);
            if (x == NULL)
                return SW_ENOMEM;
            memcpy(x, p, len);
            x[len] = '\0';
            e->validation_errors[k++] = x;
        }
        if (nl == NULL)
            break;
    }
    e->n_validation_errors = k;
    return SW_OK;
}

static Snipwise__V1__JournalEntry *
svc_llm_entry(struct svc_ctx *c, const struct store_llm_attempt *a)
{
    Snipwise__V1__JournalEntry *e =
        svc_ctx_new(c, &snipwise__v1__journal_entry__descriptor);

    if (e == NULL)
        return NULL;
    e->attempt_id = svc_ctx_str(c, a->attempt_id);
    e->job_id = svc_ctx_str(c, a->job_id);
    e->attempt_number = a->attempt_number;
    e->provider = svc_ctx_str(c, a->provider);
    e->model = svc_ctx_str(c, a->model);
    e->schema_name = svc_ctx_str(c, a->schema_name);
    e->schema_version = a->schema_version;
    e->request_hash = svc_ctx_str(c, a->request_hash);
    e->raw_output = svc_ctx_str(c, a->raw_output);
    e->prompt_tokens = a->prompt_tokens;
    e->completion_tokens = a->completion_tokens;
    e->latency_ms = a->latency_ms;
    e->time_unix_ms = a->time_ms;
    e->outcome = (Snipwise__V1__JournalOutcome)a->outcome;
    e->structured_output_mode = svc_ctx_str(c, a->mode);
    if (svc_llm_errors(c, a->errors ? a->errors : "", e) != SW_OK)
        return NULL;
    return e;
}

static ProtobufCMessage *svc_llm_entry_item(struct svc_ctx *c, size_t i,
                                            void *arg)
{
    Snipwise__V1__JournalEntry *e =
        svc_llm_entry(c, &((const struct store_llm_attempt *)arg)[i]);
    return e ? &e->base : NULL;
}

sw_err svc_llm_list_journal(struct svc_ctx *c, const ProtobufCMessage *req,
                            ProtobufCMessage **resp)
{
    const Snipwise__V1__ListJournalRequest *r = (const void *)req;
    struct store_llm_attempt *items = NULL;
    struct sw_buf why;
    char *next = NULL;
    size_t n = 0;
    int page_size = 0;
    sw_err rc;

    sw_buf_init(&why, SVC_WHY_MAX);
    rc = svc_ctx_page(c, r->page_size, &page_size);
    if (rc)
        goto out;
    if (page_size == 0 || page_size > SVC_LLM_JOURNAL_PAGE_MAX)
        page_size = page_size == 0 ? 50 : SVC_LLM_JOURNAL_PAGE_MAX;
    rc = store_llm_journal_list(svc_ctx_store(c), svc_ctx_team(c), r->job_id,
                                page_size, r->page_token, &items, &n, &next,
                                &why);
    if (rc)
        rc = svc_ctx_fail_buf(c, rc, &why);
    else
        rc = svc_ctx_list(c, &snipwise__v1__list_journal_response__descriptor,
                          "entries", n, svc_llm_entry_item, items, next, resp);
out:
    store_llm_attempts_free(items, n);
    sw_free(next);
    sw_buf_free(&why);
    return rc;
}

struct svc_llm {
    struct llm_provider *p;  /* the configured provider */
    struct llm_provider *bp; /* builtin, for the fallback */
    llm_client *c, *bc;
    ingest_worker *w;
};

void svc_llm_stats(svc_llm *l, struct svc_llm_stats *out)
{
    memset(out, 0, sizeof(*out));
    ingest_worker_stats(l->w, &out->worker);
    out->provider = l->p->name;
    llm_client_stats(l->c, &out->calls);
    if (l->bc != l->c) {
        out->fallback = l->bp->name;
        llm_client_stats(l->bc, &out->fcalls);
    }
}

void svc_llm_kick(void *arg)
{
    svc_llm *l = arg;

    ingest_worker_kick(l ? l->w : NULL);
}

void svc_llm_stop(svc_llm **lp)
{
    svc_llm *l;

    if (lp == NULL || *lp == NULL)
        return;
    l = *lp;
    ingest_worker_free(&l->w);
    if (l->c != l->bc)
        llm_client_free(&l->c);
    llm_client_free(&l->bc);
    if (l->p != l->bp)
        llm_provider_free(&l->p);
    llm_provider_free(&l->bp);
    sw_free(l);
    *lp = NULL;
}

sw_err svc_llm_start(const struct svc_config *cfg, struct store *st,
                     svc_llm **out)
{
    struct llm_openai_opts oo;
    struct llm_call_opts co;
    struct ingest_worker_opts wo;
    svc_llm *l;
    char *key = NULL;
    const char *what = "";
    sw_err rc;

    l = sw_calloc(1, sizeof(*l));
    if (l == NULL)
        return SW_ENOMEM;
    llm_call_opts_default(&co);
    co.max_retries = cfg->llm_max_retries;
    co.team_daily_tokens = cfg->llm_daily_token_budget;
    rc = llm_provider_builtin_new(&l->bp);
    if (rc == SW_OK)
        rc = llm_client_new(l->bp, st, &co, &l->bc);
    if (rc) {
        what = "builtin extractor";
        goto out;
    }
    if (strcmp(cfg->llm_provider, "openai") == 0) {
        what = "llm http";
        rc = llm_http_global_init();
        if (rc)
            goto out;
        what = "llm key";
        rc = llm_key_load(cfg->llm_key_file, "SNIPD_LLM_KEY", &key);
        if (rc)
            goto out;
        memset(&oo, 0, sizeof(oo));
        oo.base_url = cfg->llm_base_url;
        oo.model = cfg->llm_model;
        oo.api_key = key;
        oo.timeout_ms = cfg->llm_timeout_ms;
        what = "openai provider";
        rc = llm_provider_openai_new(&oo, &l->p);
        if (rc == SW_OK)
            rc = llm_client_new(l->p, st, &co, &l->c);
        if (rc)
            goto out;
    } else {
        l->p = l->bp;
        l->c = l->bc;
    }
    what = "extraction worker";
    memset(&wo, 0, sizeof(wo));
    wo.threads = cfg->extract_workers;
    rc = ingest_worker_new(st, l->c, l->bc, &wo, &l->w);
    if (rc == SW_OK)
        rc = ingest_worker_start(l->w);
    if (rc)
        goto out;
    sw_log_info("llm.worker_started", "provider=%s model=%s key=%s threads=%d",
                l->p->name, l->p->model, key ? "set" : "none", wo.threads);
out:
    if (key) {
        memset(key, 0, strlen(key));
        sw_free(key);
    }
    if (rc) {
        fprintf(stderr, "snipd: cannot start the %s: %s\n", what,
                sw_err_str(rc));
        svc_llm_stop(&l);
        return rc;
    }
    *out = l;
    return SW_OK;
}

int svc_llm_reextract(const struct svc_config *cfg)
{
    store *st = NULL;
    size_t n = 0;
    int code;
    sw_err rc;

    code = svc_store_open(cfg, "reextract", 0, &st);
    if (code)
        return code;
    rc = ingest_reextract(st, cfg->team, cfg->since_ms, &n);
    store_close(&st);
    if (rc) {
        fprintf(stderr, "snipd reextract: %s%s%s: %s\n", cfg->data_dir,
                cfg->team ? " team " : "", cfg->team ? cfg->team : "",
                rc == SW_ENOTFOUND ? "no such team" : sw_err_str(rc));
        return 1;
    }
    printf("snipd reextract: %s: %zu emails queued for extraction\n",
           cfg->data_dir, n);
    return 0;
}
