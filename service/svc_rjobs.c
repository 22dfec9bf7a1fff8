/* svc_rjobs: re-ranking jobs (svc_rjobs.h). */
#include "service/svc_rjobs.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/sw_arena.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ranker/engine.h"
#include "ranker/model.h"
#include "ranker/rerank.h"
#include "service/svc_metrics.h"
#include "service/svc_suggest.h"
#include "snipwise/v1/ranking.pb-c.h"

#define SVC_RJ(x) SNIPWISE__V1__RERANK_JOB_STATE__RERANK_JOB_STATE_##x
#define SVC_RJOB_ID_BYTES 8
#define SVC_RJOB_WAIT_MS 200 /* a watcher looks at its call this often */

/* One job. Strings are fixed arrays so that a copy is a struct copy. */
struct svc_rjob {
    char id[2 * SVC_RJOB_ID_BYTES + 4];
    char team[96];
    uint64_t seq; /* order of creation, for listing */
    int state;    /* SVC_RJ(...) */
    char phase[32];
    double fraction;
    char message[256];
    char error[256];
    char model_version[96];
    int promoted;
    char decision[256];
    int force_promote, dry_run;
    int64_t create_ms, start_ms, end_ms;
    uint64_t version; /* bumped at every change, for watchers */
    int cancel;
    struct svc_rjob *next; /* newest first */
};

struct svc_rjobs {
    struct rank_engine *e;
    struct svc_metrics *mx;
    pthread_mutex_t mu;
    pthread_cond_t changed; /* broadcast at every change of any job */
    pthread_cond_t work;    /* the runner waits for a queued job */
    struct svc_rjob *jobs;
    uint64_t next_seq;
    int stop;
    pthread_t thr;
};

static int svc_rjob_ended(const struct svc_rjob *j)
{
    return j->state == SVC_RJ(SUCCEEDED) || j->state == SVC_RJ(FAILED) ||
           j->state == SVC_RJ(CANCELLED);
}

/* svc_rjob_touch records a change (under mu). */
static void svc_rjob_touch(svc_rjobs *js, struct svc_rjob *j)
{
    j->version++;
    pthread_cond_broadcast(&js->changed);
}

static struct svc_rjob *svc_rjob_find(svc_rjobs *js, const char *team,
                                      const char *id)
{
    struct svc_rjob *j;

    for (j = js->jobs; j; j = j->next)
        if (strcmp(j->team, team) == 0 && strcmp(j->id, id) == 0)
            return j;
    return NULL;
}

/* svc_rjob_prune drops team's ended jobs past the newest SVC_RJOBS_KEEP
 * (under mu). */
static void svc_rjob_prune(svc_rjobs *js, const char *team)
{
    struct svc_rjob **pp = &js->jobs, *j;
    int n = 0;

    while ((j = *pp) != NULL) {
        if (strcmp(j->team, team) == 0 && ++n > SVC_RJOBS_KEEP &&
            svc_rjob_ended(j)) {
            *pp = j->next;
            sw_free(j);
            continue;
        }
        pp = &j->next;
    }
}

/* --- The runner ------------------------------------------------------------
 */

struct svc_rjob_run {
    svc_rjobs *js;
    struct svc_rjob *j;
};

static int svc_rjob_progress(const char *phase, double f, const char *msg,
                             void *arg)
{
    struct svc_rjob_run *r = arg;
    int cancel;

    pthread_mutex_lock(&r->js->mu);
    snprintf(r->j->phase, sizeof(r->j->phase), "%s", phase);
    r->j->fraction = f;
    snprintf(r->j->message, sizeof(r->j->message), "%s", msg ? msg : "");
    svc_rjob_touch(r->js, r->j);
    cancel = r->j->cancel || r->js->stop;
    pthread_mutex_unlock(&r->js->mu);
    return cancel;
}

/* svc_rjob_run runs j (RUNNING already) and records how it ended. */
static void svc_rjob_run(svc_rjobs *js, struct svc_rjob *j)
{
    struct rank_rerank_result res;
    struct rank_rerank_opts o;
    struct svc_rjob_run r = {js, j};
    int64_t t0 = sw_mono_us();
    sw_err rc;

    memset(&res, 0, sizeof(res));
    memset(&o, 0, sizeof(o));
    o.force_promote = j->force_promote;
    o.dry_run = j->dry_run;
    /* --adapter 0: the job learns no adapter either, so that its models
     * are promoted as without one. */
    o.no_adapter = !rank_engine_params(js->e)->use_adapter;
    rc = rank_engine_rerank_begin(js->e, j->team);
    if (rc == SW_OK) {
        rc = rank_rerank_team(rank_engine_store(js->e),
                              rank_engine_ranker(js->e), j->team, NULL, &o,
                              svc_rjob_progress, &r, &res);
        rank_engine_rerank_end(js->e, j->team);
        svc_metrics_rerank_done(js->mx, rc, rc == SW_OK && res.promoted,
                                sw_mono_us() - t0);
    }
    pthread_mutex_lock(&js->mu);
    j->end_ms = sw_now_ms();
    if (rc == SW_OK) {
        j->state = SVC_RJ(SUCCEEDED);
        j->fraction = 1.0;
        snprintf(j->phase, sizeof(j->phase), "done");
        snprintf(j->model_version, sizeof(j->model_version), "%s",
                 res.model ? res.model->version : "");
        j->promoted = res.promoted;
        snprintf(j->decision, sizeof(j->decision), "%s", res.decision);
        snprintf(j->message, sizeof(j->message), "%s", res.decision);
    } else if (rc == SW_ECANCELLED && (j->cancel || js->stop)) {
        j->state = SVC_RJ(CANCELLED);
        snprintf(j->error, sizeof(j->error), "%s",
                 j->cancel ? "cancelled by CancelRerankJob; nothing promoted"
                           : "snipd stopped; nothing promoted");
    } else {
        j->state = SVC_RJ(FAILED);
        snprintf(j->error, sizeof(j->error), "%s",
                 rc == SW_EABORTED ? "a RunRerank call of this team was "
                                     "running; start again when it ends"
                                   : sw_err_str(rc));
    }
    svc_rjob_touch(js, j);
    sw_log_info("rerank.job_end", "team=%s job=%s state=%d err=%s", j->team,
                j->id, j->state, rc ? sw_err_name(rc) : "none");
    pthread_mutex_unlock(&js->mu);
    rank_model_free(&res.model);
}

/* svc_rjob_oldest_queued returns the queued job made first (under mu). */
static struct svc_rjob *svc_rjob_oldest_queued(svc_rjobs *js)
{
    struct svc_rjob *j, *best = NULL;

    for (j = js->jobs; j; j = j->next)
        if (j->state == SVC_RJ(QUEUED) && (best == NULL || j->seq < best->seq))
            best = j;
    return best;
}

static void *svc_rjobs_main(void *arg)
{
    svc_rjobs *js = arg;
    struct svc_rjob *j;

    (void)sw_thread_nice(10); /* below the calls, as the publisher */
    pthread_mutex_lock(&js->mu);
    for (;;) {
        while (!js->stop && (j = svc_rjob_oldest_queued(js)) == NULL)
            pthread_cond_wait(&js->work, &js->mu);
        if (js->stop)
            break;
        j->state = SVC_RJ(RUNNING);
        j->start_ms = sw_now_ms();
        svc_rjob_touch(js, j);
        pthread_mutex_unlock(&js->mu);
        svc_rjob_run(js, j); /* j stays: only ended jobs are pruned */
        pthread_mutex_lock(&js->mu);
    }
    pthread_mutex_unlock(&js->mu);
    return NULL;
}

sw_err svc_rjobs_open(struct rank_engine *e, struct svc_metrics *mx,
                      svc_rjobs **out)
{
    svc_rjobs *js;

    if (e == NULL || out == NULL)
        return SW_EINVAL;
    js = sw_calloc(1, sizeof(*js));
    if (js == NULL)
        return SW_ENOMEM;
    js->e = e;
    js->mx = mx;
    pthread_mutex_init(&js->mu, NULL);
    pthread_cond_init(&js->changed, NULL);
    pthread_cond_init(&js->work, NULL);
    if (pthread_create(&js->thr, NULL, svc_rjobs_main, js) != 0) {
        pthread_cond_destroy(&js->work);
        pthread_cond_destroy(&js->changed);
        pthread_mutex_destroy(&js->mu);
        sw_free(js);
        return SW_EINTERNAL;
    }
    *out = js;
    return SW_OK;
}

void svc_rjobs_close(svc_rjobs **jp)
{
    svc_rjobs *js = jp ? *jp : NULL;
    struct svc_rjob *j;

    if (js == NULL)
        return;
    pthread_mutex_lock(&js->mu);
    js->stop = 1;
    for (j = js->jobs; j; j = j->next) {
        if (j->state != SVC_RJ(QUEUED))
            continue;
        j->state = SVC_RJ(CANCELLED);
        j->end_ms = sw_now_ms();
        snprintf(j->error, sizeof(j->error), "snipd stopped before it ran");
    }
    pthread_cond_broadcast(&js->work);
    pthread_cond_broadcast(&js->changed);
    pthread_mutex_unlock(&js->mu);
    pthread_join(js->thr, NULL);
    while ((j = js->jobs) != NULL) {
        js->jobs = j->next;
        sw_free(j);
    }
    pthread_cond_destroy(&js->work);
    pthread_cond_destroy(&js->changed);
    pthread_mutex_destroy(&js->mu);
    sw_free(js);
    *jp = NULL;
}

/* --- The RPCs --------------------------------------------------------------
 */

/* svc_rjob_msg converts a copy of a job into an arena RerankJob. */
static Snipwise__V1__RerankJob *svc_rjob_msg(struct svc_ctx *c,
                                             const struct svc_rjob *j)
{
    Snipwise__V1__RerankJob *m =
        svc_ctx_new(c, &snipwise__v1__rerank_job__descriptor);
    Snipwise__V1__RerankResult *r;
    sw_err rc;

    if (m == NULL)
        return NULL;
    m->job_id = svc_ctx_str(c, j->id);
    m->state = (Snipwise__V1__RerankJobState)j->state;
    m->phase = svc_ctx_str(c, j->phase);
    m->fraction = j->fraction;
    m->message = svc_ctx_str(c, j->message);
    m->error = svc_ctx_str(c, j->error);
    m->force_promote = j->force_promote;
    m->dry_run = j->dry_run;
    m->create_time_unix_ms = j->create_ms;
    m->start_time_unix_ms = j->start_ms;
    m->end_time_unix_ms = j->end_ms;
    if (j->state == SVC_RJ(SUCCEEDED)) {
        r = svc_ctx_new(c, &snipwise__v1__rerank_result__descriptor);
        if (r == NULL)
            return NULL;
        r->promoted = j->promoted;
        r->decision = svc_ctx_str(c, j->decision);
        r->model = svc_model_find(c, j->model_version, &rc);
        if (rc && rc != SW_ENOTFOUND) /* a model deleted since: left out */
            return NULL;
        m->result = r;
    }
    return svc_ctx_oom(c) ? NULL : m;
}

static svc_rjobs *svc_rjobs_of(struct svc_ctx *c, sw_err *rc)
{
    svc_rjobs *js = svc_ctx_rjobs(c);

    *rc = js ? SW_OK
             : svc_ctx_fail(c, SW_EUNIMPL,
                            "this server runs without a ranking engine");
    return js;
}

/* svc_rjob_copy copies team's job id under mu; SW_ENOTFOUND (the call's
 * status set) when there is none. */
static sw_err svc_rjob_copy(struct svc_ctx *c, svc_rjobs *js, const char *id,
                            struct svc_rjob *out)
{
    struct svc_rjob *j;

    pthread_mutex_lock(&js->mu);
    j = svc_rjob_find(js, svc_ctx_team(c), id ? id : "");
    if (j)
        *out = *j;
    pthread_mutex_unlock(&js->mu);
    if (j)
        return SW_OK;
    svc_ctx_reason(c, "RERANK_JOB_NOT_FOUND");
    return svc_ctx_fail_field(c, SW_ENOTFOUND, "job_id",
                              "names no re-ranking job of this team since "
                              "snipd started: %.64s",
                              id ? id : "");
}

static sw_err svc_rjob_reply(struct svc_ctx *c, const struct svc_rjob *j,
                             ProtobufCMessage **resp)
{
    Snipwise__V1__RerankJob *m = svc_rjob_msg(c, j);

    if (m == NULL)
        return SW_ENOMEM;
    *resp = &m->base;
    return SW_OK;
}

sw_err svc_rjobs_start_rpc(struct svc_ctx *c, const ProtobufCMessage *req,
                           ProtobufCMessage **resp)
{
    const Snipwise__V1__StartRerankRequest *r = (const void *)req;
    struct svc_rjob *j, *nj, copy;
    svc_rjobs *js;
    char *id = NULL;
    sw_err rc;

    js = svc_rjobs_of(c, &rc);
    if (js == NULL)
        return rc;
    nj = sw_calloc(1, sizeof(*nj));
    rc = nj ? sw_id_new("rj_", SVC_RJOB_ID_BYTES, &id) : SW_ENOMEM;
    if (rc) {
        sw_free(nj);
        return rc;
    }
    snprintf(nj->id, sizeof(nj->id), "%s", id);
    sw_free(id);
    snprintf(nj->team, sizeof(nj->team), "%s", svc_ctx_team(c));
    nj->state = SVC_RJ(QUEUED);
    snprintf(nj->phase, sizeof(nj->phase), "queued");
    nj->force_promote = r->force_promote;
    nj->dry_run = r->dry_run;
    nj->create_ms = sw_now_ms();
    pthread_mutex_lock(&js->mu);
    for (j = js->jobs; j; j = j->next)
        if (strcmp(j->team, nj->team) == 0 && !svc_rjob_ended(j))
            break;
    if (j == NULL) {
        nj->seq = ++js->next_seq;
        nj->next = js->jobs;
        js->jobs = nj;
        copy = *nj;
        svc_rjob_prune(js, nj->team);
        pthread_cond_signal(&js->work);
        nj = NULL;
    } else {
        copy = *j;
    }
    pthread_mutex_unlock(&js->mu);
    if (nj) { /* one is queued or running: say which */
        sw_free(nj);
        svc_ctx_reason(c, "RERANK_JOB_RUNNING");
        svc_ctx_meta(c, "job_id", "%s", copy.id);
        return svc_ctx_fail(c, SW_EEXIST,
                            "a re-ranking job of this team is %s: %s; watch "
                            "it (WatchRerankJob) or cancel it",
                            copy.state == SVC_RJ(QUEUED) ? "queued" : "running",
                            copy.id);
    }
    return svc_rjob_reply(c, &copy, resp);
}

sw_err svc_rjobs_get_rpc(struct svc_ctx *c, const ProtobufCMessage *req,
                         ProtobufCMessage **resp)
{
    const Snipwise__V1__GetRerankJobRequest *r = (const void *)req;
    struct svc_rjob copy;
    svc_rjobs *js;
    sw_err rc;

    js = svc_rjobs_of(c, &rc);
    if (js == NULL)
        return rc;
    rc = svc_rjob_copy(c, js, r->job_id, &copy);
    return rc ? rc : svc_rjob_reply(c, &copy, resp);
}

sw_err svc_rjobs_cancel_rpc(struct svc_ctx *c, const ProtobufCMessage *req,
                            ProtobufCMessage **resp)
{
    const Snipwise__V1__CancelRerankJobRequest *r = (const void *)req;
    struct svc_rjob copy, *j;
    svc_rjobs *js;
    sw_err rc;

    js = svc_rjobs_of(c, &rc);
    if (js == NULL)
        return rc;
    pthread_mutex_lock(&js->mu);
    j = svc_rjob_find(js, svc_ctx_team(c), r->job_id ? r->job_id : "");
    if (j && j->state == SVC_RJ(QUEUED)) {
        j->state = SVC_RJ(CANCELLED);
        j->end_ms = sw_now_ms();
        snprintf(j->error, sizeof(j->error),
                 "cancelled by CancelRerankJob before it ran");
        svc_rjob_touch(js, j);
    } else if (j && j->state == SVC_RJ(RUNNING)) {
        j->cancel = 1; /* ends at the run's next step */
        svc_rjob_touch(js, j);
    }
    if (j)
        copy = *j;
    pthread_mutex_unlock(&js->mu);
    if (j == NULL)
        return svc_rjob_copy(c, js, r->job_id, &copy); /* the NOT_FOUND */
    return svc_rjob_reply(c, &copy, resp);
}

static ProtobufCMessage *svc_rjob_item(struct svc_ctx *c, size_t i, void *arg)
{
    Snipwise__V1__RerankJob *m =
        svc_rjob_msg(c, &((const struct svc_rjob *)arg)[i]);
    return m ? &m->base : NULL;
}

sw_err svc_rjobs_list_rpc(struct svc_ctx *c, const ProtobufCMessage *req,
                          ProtobufCMessage **resp)
{
    const Snipwise__V1__ListRerankJobsRequest *r = (const void *)req;
    struct svc_rjob page[SVC_RJOBS_KEEP + 1], *j;
    int64_t before = 0;
    int size = 0, n = 0;
    svc_rjobs *js;
    char tok[32];
    sw_err rc;

    js = svc_rjobs_of(c, &rc);
    if (js == NULL)
        return rc;
    rc = svc_ctx_page(c, r->page_size, &size);
    if (rc)
        return rc;
    if (size == 0 || size > SVC_RJOBS_KEEP)
        size = SVC_RJOBS_KEEP;
    /* The raw token (sealed by svc_page) is the last job's sequence. */
    if (r->page_token[0] && sw_parse_i64(r->page_token, strlen(r->page_token),
                                         1, INT64_MAX, &before) != SW_OK)
        return svc_ctx_fail_field(c, SW_EINVAL, "page_token", "is malformed");
    pthread_mutex_lock(&js->mu);
    for (j = js->jobs; j && n <= size; j = j->next)
        if (strcmp(j->team, svc_ctx_team(c)) == 0 &&
            (before == 0 || j->seq < (uint64_t)before))
            page[n++] = *j;
    pthread_mutex_unlock(&js->mu);
    tok[0] = '\0';
    if (n > size) /* one more than the page: there is a next page */
        snprintf(tok, sizeof(tok), "%llu",
                 (unsigned long long)page[size - 1].seq);
    return svc_ctx_list(c, &snipwise__v1__list_rerank_jobs_response__descriptor,
                        "jobs", (size_t)(n < size ? n : size), svc_rjob_item,
                        page, tok, resp);
}

/* svc_rjob_next waits up to SVC_RJOB_WAIT_MS for team's job id to change
 * past version seen; *out is its state then. SW_ENOTFOUND if it is gone. */
static sw_err svc_rjob_next(svc_rjobs *js, const char *team, const char *id,
                            uint64_t seen, struct svc_rjob *out)
{
    struct timespec ts;
    struct svc_rjob *j;

    sw_timespec_in(CLOCK_REALTIME, SVC_RJOB_WAIT_MS, &ts);
    pthread_mutex_lock(&js->mu);
    while ((j = svc_rjob_find(js, team, id)) != NULL && j->version == seen &&
           !js->stop)
        if (pthread_cond_timedwait(&js->changed, &js->mu, &ts) != 0)
            break;
    if (j)
        *out = *j;
    pthread_mutex_unlock(&js->mu);
    return j ? SW_OK : SW_ENOTFOUND;
}

sw_err svc_rjobs_watch_rpc(struct svc_ctx *c, const ProtobufCMessage *req,
                           ProtobufCMessage **resp)
{
    const Snipwise__V1__WatchRerankJobRequest *r = (const void *)req;
    struct svc_rjob now;
    uint64_t sent = 0;
    int first = 1;
    svc_rjobs *js;
    sw_err rc;

    (void)resp; /* a server stream sends with svc_ctx_send */
    js = svc_rjobs_of(c, &rc);
    if (js == NULL)
        return rc;
    rc = svc_rjob_copy(c, js, r->job_id, &now);
    while (rc == SW_OK) {
        if (first || now.version != sent) {
            Snipwise__V1__RerankJob *m = svc_rjob_msg(c, &now);
            rc = m ? svc_ctx_send(c, &m->base) : SW_ENOMEM;
            sent = now.version;
            first = 0;
            if (rc || svc_rjob_ended(&now))
                break;
        }
        rc = svc_ctx_done_reason(c);
        if (rc == SW_OK)
            rc = svc_rjob_next(js, svc_ctx_team(c), now.id, sent, &now);
    }
    return rc;
}
