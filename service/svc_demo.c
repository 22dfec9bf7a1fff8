/* svc_demo: loads the bundled sample into the demo team on a background
 * thread after the first start (see svc_demo.h), through the same ingest,
 * outcome and re-ranking functions the RPCs use. */
#include "service/svc_demo.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ranker/rerank.h"
#include "service/svc_outcome.h"
#include "snipwise/v1/outcome.pb-c.h"
#include "store/store_job.h"
#include "store/store_tenant.h"

#define SVC_DEMO_WINDOW 32      /* mails parsed ahead of their commit */
#define SVC_DEMO_POLL_MS 50     /* extraction wait: how often to look */
#define SVC_DEMO_WAIT_MS 600000 /* extraction wait: the default bound */
#define SVC_DEMO_ID_MAX 256     /* longest team id read from the mark */
#define SVC_DEMO_WHY_MAX 1024

struct svc_demo {
    struct svc_demo_opts o;
    char *team;
    struct sw_buf mark; /* DATA_DIR/demo.pending */
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop; /* under mu */
};

/* What one load did, for the snipd.demo_loaded line. */
struct svc_demo_counts {
    size_t mails_new, mails_dup, mails_rejected;
    size_t outcomes_new, outcomes_dup, outcomes_failed;
    uint64_t jobs_left;
    int promoted;
    char model[48];
};

static int svc_demo_stopping(svc_demo *d)
{
    int stop;

    pthread_mutex_lock(&d->mu);
    stop = d->stop;
    pthread_mutex_unlock(&d->mu);
    return stop;
}

/* svc_demo_sleep waits ms or until svc_demo_stop; returns 1 when stopping. */
static int svc_demo_sleep(svc_demo *d, int64_t ms)
{
    struct timespec ts;
    int stop;

    sw_timespec_in(CLOCK_MONOTONIC, ms, &ts);
    pthread_mutex_lock(&d->mu);
    if (!d->stop)
        (void)pthread_cond_timedwait(&d->cv, &d->mu, &ts); /* or a signal */
    stop = d->stop;
    pthread_mutex_unlock(&d->mu);
    return stop;
}

/* svc_demo_team registers the sample's domain and reps; those already
 * there (a resumed load, or the user's own) are kept. */
static sw_err svc_demo_team(svc_demo *d)
{
    const struct svc_demo_data *s = d->o.sample;
    struct sw_buf why;
    size_t i;
    sw_err rc;

    sw_buf_init(&why, SVC_DEMO_WHY_MAX);
    rc = store_domain_add(d->o.st, d->team, s->domain, NULL, &why);
    if (rc == SW_EEXIST)
        rc = SW_OK;
    for (i = 0; rc == SW_OK && i < s->n_members; i++) {
        rc = store_member_add(d->o.st, d->team, s->members[i].email,
                              s->members[i].name, NULL, &why);
        if (rc == SW_EEXIST)
            rc = SW_OK;
    }
    if (rc && rc != SW_ENOTFOUND)
        sw_log_error("snipd.demo_team_failed", "team_id=%s err=%s why=\"%s\"",
                     d->team, sw_err_name(rc), sw_buf_str(&why));
    sw_buf_free(&why);
    return rc;
}

static int svc_demo_rejectable(sw_err rc)
{
    return rc == SW_EINVAL || rc == SW_EPARSE || rc == SW_ETOOBIG;
}

/* svc_demo_count adds one ended ingest to the counts. A mail the pipeline
 * refuses is logged and skipped (the sample is ours, so it means a bug,
 * but it must not cost the rest); anything else stops the load. */
static sw_err svc_demo_count(svc_demo *d, size_t idx, sw_err rc,
                             const struct ingest_result *res,
                             const struct sw_buf *why,
                             struct svc_demo_counts *n)
{
    if (rc == SW_OK) {
        if (res->status == INGEST_NEW)
            n->mails_new++;
        else
            n->mails_dup++;
        return SW_OK;
    }
    if (svc_demo_rejectable(rc)) {
        n->mails_rejected++;
        sw_log_warn("snipd.demo_mail_rejected",
                    "team_id=%s mail=%zu err=%s why=\"%s\"", d->team, idx + 1,
                    sw_err_name(rc), why ? sw_buf_str(why) : "");
        return SW_OK;
    }
    return rc;
}

/* svc_demo_mails ingests every mail of the sample, in order, SVC_DEMO_WINDOW
 * at a time: each window is parsed and queued, then its commits (grouped
 * by the pipeline's committer) are awaited. */
static sw_err svc_demo_mails(svc_demo *d, struct svc_demo_counts *n)
{
    const struct svc_demo_data *s = d->o.sample;
    struct ingest_request req[SVC_DEMO_WINDOW];
    ingest_ticket *t[SVC_DEMO_WINDOW];
    struct ingest_result res;
    struct sw_buf why;
    size_t base, k, w;
    sw_err rc = SW_OK, rc2;

    memset(&res, 0, sizeof(res));
    sw_buf_init(&why, SVC_DEMO_WHY_MAX);
    for (base = 0; rc == SW_OK && base < s->n_mails; base += w) {
        if (svc_demo_stopping(d)) {
            rc = SW_ECANCELLED;
            break;
        }
        w = s->n_mails - base;
        if (w > SVC_DEMO_WINDOW)
            w = SVC_DEMO_WINDOW;
        memset(t, 0, sizeof(t));
        for (k = 0; k < w && rc == SW_OK; k++) {
            const struct svc_demo_mail *m = &s->mails[base + k];
            memset(&req[k], 0, sizeof(req[k]));
            req[k].raw = s->bytes + m->off;
            req[k].raw_len = m->len;
            req[k].direction = INGEST_DIR_UNSPECIFIED;
            sw_buf_reset(&why);
            rc2 =
                ingest_email_begin(d->o.ingest, d->team, &req[k], &t[k], &why);
            if (rc2)
                rc = svc_demo_count(d, base + k, rc2, NULL, &why, n);
        }
        /* Every begun ticket is ended, even after a failure. */
        for (k = 0; k < w; k++) {
            if (t[k] == NULL)
                continue;
            rc2 = ingest_email_end(&t[k], &res, NULL, NULL);
            if (rc == SW_OK)
                rc = svc_demo_count(d, base + k, rc2, &res, NULL, n);
            ingest_result_clear(&res);
        }
    }
    sw_buf_free(&why);
    return rc;
}

/* svc_demo_outcomes records the sample's outcomes through RecordOutcome's
 * own path (svc_outcome_store). One it refuses is logged and skipped. */
static sw_err svc_demo_outcomes(svc_demo *d, struct svc_demo_counts *n)
{
    const struct svc_demo_data *s = d->o.sample;
    struct svc_outcome_result res;
    struct sw_buf why;
    size_t i;
    sw_err rc = SW_OK;

    sw_buf_init(&why, SVC_DEMO_WHY_MAX);
    for (i = 0; rc == SW_OK && i < s->n_outcomes; i++) {
        const struct svc_demo_outcome *o = &s->outcomes[i];
        Snipwise__V1__RecordOutcomeRequest r =
            SNIPWISE__V1__RECORD_OUTCOME_REQUEST__INIT;

        if (svc_demo_stopping(d)) {
            rc = SW_ECANCELLED;
            break;
        }
        r.thread_ref_case =
            SNIPWISE__V1__RECORD_OUTCOME_REQUEST__THREAD_REF_MESSAGE_ID;
        r.message_id = (char *)o->message_id;
        r.kind = (Snipwise__V1__OutcomeKind)o->kind;
        r.occur_time_unix_ms = o->occur_ms;
        r.idempotency_key = (char *)o->idempotency_key;
        r.note = (char *)(o->note ? o->note : "");
        sw_buf_reset(&why);
        rc = svc_outcome_store(d->o.st, d->team, &r, &res, &why);
        if (rc == SW_OK) {
            if (res.duplicate)
                n->outcomes_dup++;
            else
                n->outcomes_new++;
        } else if (rc == SW_EINVAL ||
                   (rc == SW_ENOTFOUND && sw_buf_len(&why) > 0)) {
            n->outcomes_failed++;
            sw_log_warn("snipd.demo_outcome_rejected",
                        "team_id=%s outcome=%zu err=%s why=\"%s\"", d->team,
                        i + 1, sw_err_name(rc), sw_buf_str(&why));
            rc = SW_OK;
        }
        svc_outcome_result_clear(&res);
    }
    sw_buf_free(&why);
    return rc;
}

/* svc_demo_settle waits, bounded, until the extraction worker has done the
 * team's jobs (snippets and reply kinds are what the nightly job learns
 * from). At the bound it goes on with what is done. */
static sw_err svc_demo_settle(svc_demo *d, struct svc_demo_counts *n)
{
    int64_t wait =
        d->o.extract_wait_ms > 0 ? d->o.extract_wait_ms : SVC_DEMO_WAIT_MS;
    int64_t end = sw_mono_ms() + wait;
    sw_err rc;

    for (;;) {
        rc = store_job_team_pending(d->o.st, d->team, &n->jobs_left);
        if (rc || n->jobs_left == 0)
            return rc;
        if (sw_mono_ms() >= end) {
            sw_log_warn("snipd.demo_extraction_slow",
                        "team_id=%s jobs_left=%llu waited_ms=%lld", d->team,
                        (unsigned long long)n->jobs_left, (long long)wait);
            return SW_OK;
        }
        if (svc_demo_sleep(d, SVC_DEMO_POLL_MS))
            return SW_ECANCELLED;
    }
}

static int svc_demo_progress(const char *phase, double f, const char *msg,
                             void *arg)
{
    (void)phase;
    (void)f;
    (void)msg;
    return svc_demo_stopping(arg); /* non-zero cancels the run */
}

/* svc_demo_rerank runs the nightly job once, as RunRerank does (marked as
 * this team's run in the engine, default parameters), so that a model
 * serves Suggest. A run the user started meanwhile does the same job. */
static sw_err svc_demo_rerank(svc_demo *d, struct svc_demo_counts *n)
{
    rank_engine *e = d->o.engine;
    struct rank_rerank_opts ro;
    struct rank_rerank_result res;
    sw_err rc;

    memset(&res, 0, sizeof(res));
    rc = rank_engine_rerank_begin(e, d->team);
    if (rc == SW_EABORTED) {
        sw_log_info("snipd.demo_rerank_skipped",
                    "team_id=%s reason=\"a run of this team is already "
                    "running\"",
                    d->team);
        return SW_OK;
    }
    if (rc)
        return rc;
    memset(&ro, 0, sizeof(ro));
    ro.no_adapter = !rank_engine_params(e)->use_adapter;
    rc = rank_rerank_team(rank_engine_store(e), rank_engine_ranker(e), d->team,
                          NULL, &ro, svc_demo_progress, d, &res);
    rank_engine_rerank_end(e, d->team);
    if (rc == SW_OK) {
        n->promoted = res.promoted;
        memcpy(n->model, res.model->version, sizeof(n->model));
        n->model[sizeof(n->model) - 1] = '\0';
    }
    rank_model_free(&res.model);
    return rc;
}

static void *svc_demo_main(void *arg)
{
    svc_demo *d = arg;
    struct svc_demo_counts n;
    int64_t t0 = sw_mono_ms();
    sw_err rc;

    memset(&n, 0, sizeof(n));
    memcpy(n.model, "none", sizeof("none"));
    /* Loading is background work: below the server's calls. */
    if (sw_thread_nice(10) != 0)
        sw_log_warn("snipd.demo_nice_failed", "errno=%d", errno);
    sw_log_info("snipd.demo_loading", "team_id=%s mails=%zu outcomes=%zu",
                d->team, d->o.sample->n_mails, d->o.sample->n_outcomes);
    rc = svc_demo_team(d);
    if (rc == SW_OK)
        rc = svc_demo_mails(d, &n);
    if (rc == SW_OK)
        rc = svc_demo_outcomes(d, &n);
    if (rc == SW_OK)
        rc = svc_demo_settle(d, &n);
    if (rc == SW_OK) {
        rc = svc_demo_rerank(d, &n);
        if (rc && rc != SW_ECANCELLED) {
            /* The sample is in; the nightly job will train a model. */
            sw_log_warn("snipd.demo_rerank_failed", "team_id=%s err=%s",
                        d->team, sw_err_name(rc));
            rc = SW_OK;
        }
    }
    if (rc == SW_ECANCELLED) {
        sw_log_info("snipd.demo_interrupted",
                    "team_id=%s mails_new=%zu resume=\"next start\"", d->team,
                    n.mails_new);
        return NULL;
    }
    if (rc == SW_ENOTFOUND) {
        /* The team was deleted: nothing left to load it into. */
        sw_log_warn("snipd.demo_team_gone", "team_id=%s", d->team);
    } else if (rc) {
        sw_log_error("snipd.demo_failed",
                     "team_id=%s err=%s mails_new=%zu resume=\"next start\"",
                     d->team, sw_err_name(rc), n.mails_new);
        return NULL; /* the mark stays: the next start tries again */
    } else {
        sw_log_info("snipd.demo_loaded",
                    "team_id=%s mails=%zu mails_new=%zu mails_duplicate=%zu "
                    "mails_rejected=%zu outcomes=%zu outcomes_new=%zu "
                    "outcomes_duplicate=%zu outcomes_rejected=%zu "
                    "jobs_left=%llu model=%s promoted=%d ms=%lld",
                    d->team, d->o.sample->n_mails, n.mails_new, n.mails_dup,
                    n.mails_rejected, d->o.sample->n_outcomes, n.outcomes_new,
                    n.outcomes_dup, n.outcomes_failed,
                    (unsigned long long)n.jobs_left, n.model, n.promoted,
                    (long long)(sw_mono_ms() - t0));
    }
    if (unlink(sw_buf_str(&d->mark)) != 0 && errno != ENOENT)
        sw_log_warn("snipd.demo_mark_kept", "file=%s errno=%d",
                    sw_buf_str(&d->mark), errno);
    return NULL;
}

/* svc_demo_read_mark reads the team id in the mark; SW_ENOTFOUND without
 * one. */
static sw_err svc_demo_read_mark(const char *path, char **team)
{
    char buf[SVC_DEMO_ID_MAX + 2];
    size_t len = 0, i;
    ssize_t r;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? SW_ENOTFOUND : SW_EIO;
    while (len < sizeof(buf) - 1) {
        r = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
                       buf[len - 1] == ' '))
        len--;
    buf[len] = '\0';
    if (len == 0 || len > SVC_DEMO_ID_MAX)
        return SW_EIO;
    for (i = 0; i < len; i++) /* an id: it goes into log lines as is */
        if (buf[i] <= ' ' || buf[i] > '~' || buf[i] == '"')
            return SW_EIO;
    *team = sw_strdup(buf);
    return *team ? SW_OK : SW_ENOMEM;
}

static void svc_demo_free(svc_demo *d)
{
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    sw_buf_free(&d->mark);
    sw_free(d->team);
    sw_free(d);
}

sw_err svc_demo_start(const struct svc_demo_opts *o, svc_demo **out)
{
    pthread_condattr_t ca;
    svc_demo *d = NULL;
    sw_err rc;

    *out = NULL;
    if (o == NULL || o->data_dir == NULL || o->sample == NULL ||
        o->st == NULL || o->ingest == NULL || o->engine == NULL)
        return SW_EINVAL;
    d = sw_calloc(1, sizeof(*d));
    if (d == NULL)
        return SW_ENOMEM;
    d->o = *o;
    sw_buf_init(&d->mark, 4096);
    pthread_mutex_init(&d->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cv, &ca);
    pthread_condattr_destroy(&ca);
    rc = sw_buf_printf(&d->mark, "%s/%s", o->data_dir, SVC_DEMO_PENDING);
    if (rc)
        goto out;
    rc = svc_demo_read_mark(sw_buf_str(&d->mark), &d->team);
    if (rc == SW_ENOTFOUND) {
        rc = SW_OK; /* not a first start: nothing to load */
        goto out;
    }
    if (rc) {
        sw_log_error("snipd.demo_mark_unreadable", "file=%s err=%s",
                     sw_buf_str(&d->mark), sw_err_name(rc));
        goto out;
    }
    if (pthread_create(&d->thread, NULL, svc_demo_main, d) != 0) {
        rc = SW_EINTERNAL;
        goto out;
    }
    d->started = 1;
    *out = d;
    d = NULL;
out:
    if (d)
        svc_demo_free(d);
    return rc;
}

void svc_demo_stop(svc_demo **dp)
{
    svc_demo *d;

    if (dp == NULL || *dp == NULL)
        return;
    d = *dp;
    pthread_mutex_lock(&d->mu);
    d->stop = 1;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    if (d->started)
        pthread_join(d->thread, NULL);
    svc_demo_free(d);
    *dp = NULL;
}
