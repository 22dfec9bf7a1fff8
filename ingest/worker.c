/* ingest/worker: job → llm_call → one commit of results + job finish.
 * The LLM call happens outside any transaction; only the commit is in a
 * write transaction, which re-checks that the job still exists (another
 * process may have finished it) before storing anything. The answer is
 * read through llm/answer.h: only llm/ handles JSON. A pool of threads
 * shares the queue: each pick (ingest_claim_next) is exclusive within the
 * process and round-robin over the teams without a job in hand. */
#include "ingest/worker.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "llm/answer.h"
#include "llm/schemas.h"
#include "store/store_job.h"
#include "store/store_llm.h"
#include "store/store_mail.h"
#include "store/store_outcome.h"
#include "store/store_snippet.h"

/* Ordinals probed past an answer's end to redact left-overs of an older,
 * longer answer (the schemas allow 20 framings and 40 passages). */
#define INGEST_WORKER_MAX_ORDINAL 64

/* The provenance of a snippet redacted because a newer extraction found
 * fewer: unlike a user's redaction, a later extraction may revive it. */
#define INGEST_WORKER_SUPERSEDED "superseded"

/* How often an idle worker removes the queue entries of deleted teams
 * (store_job_drop_stale): the fair pick walks the team index, which never
 * shows them. */
#define INGEST_WORKER_STALE_MS 60000

/* A job in hand: one per ingest_worker_run_one in progress, on its stack,
 * linked under claim_mu from the pick until after the job's commit or
 * deferral. */
struct ingest_claim {
    const char *team_id; /* the job's, owned by the run_one call */
    struct ingest_claim *next;
};

struct ingest_worker {
    store *s;
    llm_client *c;
    llm_client *fb;
    struct ingest_worker_opts o;
    struct ingest_worker_stats st;
    pthread_t *th;
    int nth; /* threads started */
    int running;
    int stop;
    int kicked;         /* a job was queued: skip the next idle wait */
    pthread_mutex_t mu; /* st, stop, kicked; cv wakes idle threads */
    pthread_cond_t cv;
    /* The fair pick: held across store_job_next_team and the claim, so two
     * threads never take the same job or the same team. */
    pthread_mutex_t claim_mu;
    struct ingest_claim *claims; /* jobs in hand */
    char *rr_team;               /* team of the last pick (round-robin) */
    int64_t stale_ms;            /* last store_job_drop_stale, sw_now_ms */
};

sw_err ingest_worker_new(store *s, llm_client *c, llm_client *fallback,
                         const struct ingest_worker_opts *o,
                         ingest_worker **out)
{
    ingest_worker *w;

    if (s == NULL || c == NULL || fallback == NULL || out == NULL)
        return SW_EINVAL;
    w = sw_calloc(1, sizeof(*w));
    if (w == NULL)
        return SW_ENOMEM;
    w->s = s;
    w->c = c;
    w->fb = fallback;
    if (o)
        w->o = *o;
    if (w->o.fallback_after <= 0)
        w->o.fallback_after = 3;
    if (w->o.backoff_base_ms <= 0)
        w->o.backoff_base_ms = 1000;
    if (w->o.backoff_max_ms <= 0)
        w->o.backoff_max_ms = 300000;
    if (w->o.idle_ms <= 0)
        w->o.idle_ms = 200;
    if (w->o.threads <= 0)
        w->o.threads = 2;
    if (w->o.group_max <= 0)
        w->o.group_max = 64;
    if (w->o.group_ms <= 0)
        w->o.group_ms = 20;
    w->th = sw_calloc((size_t)w->o.threads, sizeof(*w->th));
    if (w->th == NULL) {
        sw_free(w);
        return SW_ENOMEM;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_mutex_init(&w->claim_mu, NULL);
    *out = w;
    return SW_OK;
}

/* One snippet to write: its record and the scope its id derives from. */
struct ingest_snip {
    struct store_snippet sn;
    char id[5 + 16 + 1];
};

/* The commit of one job's results. */
struct ingest_commit {
    const struct store_job *job;
    const struct store_email *em;
    const char *provenance;
    struct llm_reply reply; /* when is_reply */
    int is_reply;
    int erased; /* the email was erased meanwhile: nothing was stored */
    struct ingest_snip *snips;
    size_t n_snips;
    /* Scopes whose ordinals past the answer are redacted: the email (for
     * framings) and every content item of the input (for passages). */
    const char *const *scopes;
    const size_t *scope_n; /* snippets written per scope */
    const int *scope_kind;
    size_t n_scopes;
    size_t written, outcomes;
    /* The email's thread as the commit finds it (sw_free'd): a merge
     * (store_thread_merge) may have moved the email while the model read
     * it, so what is stored names the thread of then, not of the read. */
    char *thread_now;
};

/* ingest_snippet_id derives "snip_" + 16 hex from team, scope, kind and
 * ordinal. */
static void ingest_snippet_id(const char *team, const char *scope, int kind,
                              size_t ord, char out[5 + 16 + 1])
{
    unsigned char h[SW_SHA256_LEN];
    struct sw_buf b;

    sw_buf_init(&b, 4096);
    /* Ids are at most a few dozen bytes: the buffer cannot fill. */
    if (sw_buf_printf(&b, "%s%c%s%c%d%c%zu", team, 0, scope, 0, kind, 0, ord) !=
        SW_OK)
        sw_buf_reset(&b);
    sw_sha256(b.data, sw_buf_len(&b), h);
    sw_buf_free(&b);
    memcpy(out, "snip_", 5);
    sw_hex(h, 8, out + 5);
}

#define INGEST_CACHED " (cached)" /* provenance suffix of a cache hit */

static int ingest_streq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* ingest_same_prov: the same extractor, whether or not from the cache. */
static int ingest_same_prov(const char *a, const char *b)
{
    size_t la = a ? strlen(a) : 0, lb = b ? strlen(b) : 0;
    size_t lc = strlen(INGEST_CACHED);

    if (la >= lc && strcmp(a + la - lc, INGEST_CACHED) == 0)
        la -= lc;
    if (lb >= lc && strcmp(b + lb - lc, INGEST_CACHED) == 0)
        lb -= lc;
    return la == lb && (la == 0 || memcmp(a, b, la) == 0);
}

/* ingest_same_snippet returns 1 when old (live) already says what s says:
 * the same text, kind, document and extractor (a cache hit counts as the
 * same), and for a framing the same tags. A key passage belongs to its document
 * and keeps the tags of the first mail that carried it: the tags of each later
 * mail describe that mail, not the document. */
static int ingest_same_snippet(const struct store_snippet *old,
                               const struct store_snippet *s)
{
    if (old->deleted || old->kind != s->kind ||
        !ingest_streq(old->text, s->text) ||
        !ingest_streq(old->content_id, s->content_id) ||
        !ingest_same_prov(old->provenance, s->provenance))
        return 0;
    return s->kind == STORE_SNIPPET_KEY_PASSAGE ||
           (ingest_streq(old->topic, s->topic) &&
            ingest_streq(old->intent, s->intent) &&
            ingest_streq(old->persona, s->persona) &&
            ingest_streq(old->stage, s->stage));
}

/* ingest_put_snippet writes s unless a snippet of that id was redacted,
 * or already holds the same (a document's key passages, extracted again
 * each time the document is attached: rewriting them would only give them
 * a new seq, so followers such as the index would count them twice or
 * not depending on timing, and date them by the latest mail instead of
 * the first). */
static sw_err ingest_put_snippet(store_txn *t, struct store_snippet *s,
                                 int *written)
{
    struct store_snippet old;
    sw_err rc;

    *written = 0;
    memset(&old, 0, sizeof(old));
    rc = store_snippet_get_txn(t, s->team_id, s->snippet_id, &old);
    if (rc == SW_OK && old.deleted &&
        strcmp(old.provenance, INGEST_WORKER_SUPERSEDED) != 0) {
        store_snippet_clear(&old);
        return SW_OK; /* a user's redaction is final */
    }
    if (rc == SW_OK && ingest_same_snippet(&old, s)) {
        store_snippet_clear(&old);
        return SW_OK;
    }
    store_snippet_clear(&old);
    if (rc && rc != SW_ENOTFOUND)
        return rc;
    rc = store_snippet_put(t, s);
    if (rc == SW_OK)
        *written = 1;
    return rc;
}

/* ingest_redact_rest redacts the snippets of scope from ordinal from on,
 * left by an older extraction that found more. */
static sw_err ingest_redact_rest(store_txn *t, const char *team,
                                 const char *scope, int kind, size_t from)
{
    struct store_snippet old;
    char id[5 + 16 + 1];
    size_t ord;
    sw_err rc = SW_OK;

    for (ord = from; ord < INGEST_WORKER_MAX_ORDINAL; ord++) {
        ingest_snippet_id(team, scope, kind, ord, id);
        memset(&old, 0, sizeof(old));
        rc = store_snippet_get_txn(t, team, id, &old);
        if (rc == SW_ENOTFOUND)
            return SW_OK;
        if (rc == SW_OK && !old.deleted) {
            old.deleted = 1;
            old.text[0] = '\0';
            old.topic[0] = old.intent[0] = old.persona[0] = old.stage[0] = 0;
            sw_free(old.provenance);
            old.provenance = sw_strdup(INGEST_WORKER_SUPERSEDED);
            rc = old.provenance ? store_snippet_put(t, &old) : SW_ENOMEM;
        }
        store_snippet_clear(&old);
        if (rc)
            return rc;
    }
    return SW_OK;
}

static sw_err ingest_commit_reply(store_txn *t, struct ingest_commit *k)
{
    struct store_outcome oc;
    struct sw_buf idem;
    char *oid = NULL;
    int dup = 0;
    sw_err rc;

    memset(&oc, 0, sizeof(oc));
    sw_buf_init(&idem, 512);
    rc = sw_buf_printf(&idem, "reply:%s", k->em->email_id);
    oc.thread_id = k->thread_now;
    oc.kind = k->reply.kind;
    oc.occur_ms = k->em->sent_ms;
    oc.source = STORE_OUTCOME_DERIVED;
    oc.email_id = k->em->email_id;
    oc.idem_key = (char *)sw_buf_str(&idem);
    oc.evidence = k->reply.evidence;
    oc.provenance = (char *)k->provenance;
    if (rc == SW_OK)
        rc = store_outcome_put(t, k->job->team_id, &oc, &dup, &oid);
    sw_free(oid);
    sw_buf_free(&idem);
    if (rc == SW_OK)
        rc = store_email_set_reply_kind(t, k->job->team_id, k->em->email_id,
                                        oc.kind);
    if (rc == SW_OK)
        k->outcomes = 1;
    return rc;
}

/* ingest_commit_erased: whether the job's email was erased (store_erase.h)
 * while its LLM call ran. Then nothing of the job is stored, the call's
 * journal and cache entries included: they are held for this commit
 * (llm_held) and never reach the store, so the erasure need not be
 * repeated. Returns 1 (*rc set) when so. */
static int ingest_commit_erased(store_txn *t, struct ingest_commit *k,
                                sw_err *rc)
{
    struct store_email em;
    sw_err e;

    memset(&em, 0, sizeof(em));
    e = store_email_get_txn(t, k->job->team_id, k->job->email_id, &em);
    store_email_clear(&em);
    if (e != SW_ENOTFOUND)
        return 0;
    *rc = SW_OK;
    k->erased = 1;
    return 1;
}

/* ingest_commit_thread reads the email's thread in the commit's
 * transaction and names it in everything the commit stores. */
static sw_err ingest_commit_thread(store_txn *t, struct ingest_commit *k)
{
    struct store_email now;
    size_t i;
    sw_err rc;

    memset(&now, 0, sizeof(now));
    rc = store_email_get_txn(t, k->job->team_id, k->job->email_id, &now);
    if (rc == SW_OK) {
        sw_free(k->thread_now);
        k->thread_now = now.thread_id;
        now.thread_id = NULL;
    }
    store_email_clear(&now);
    for (i = 0; rc == SW_OK && i < k->n_snips; i++)
        if (k->snips[i].sn.thread_id != NULL)
            k->snips[i].sn.thread_id = k->thread_now;
    return rc;
}

static sw_err ingest_commit_txn(store_txn *t, void *arg)
{
    struct ingest_commit *k = arg;
    struct store_job cur;
    size_t i;
    int w;
    sw_err rc;

    k->written = k->outcomes = 0;
    k->erased = 0;
    memset(&cur, 0, sizeof(cur));
    rc = store_job_get(t, k->job->job_id, &cur);
    store_job_clear(&cur);
    if (rc == SW_ENOTFOUND && ingest_commit_erased(t, k, &rc))
        return rc; /* the email was erased while the model read it */
    if (rc)
        return rc; /* SW_ENOTFOUND: already done elsewhere */
    rc = ingest_commit_thread(t, k);
    if (rc)
        return rc;
    if (k->is_reply) {
        rc = ingest_commit_reply(t, k);
    } else {
        for (i = 0; rc == SW_OK && i < k->n_snips; i++) {
            rc = ingest_put_snippet(t, &k->snips[i].sn, &w);
            k->written += (size_t)w;
        }
        for (i = 0; rc == SW_OK && i < k->n_scopes; i++)
            rc = ingest_redact_rest(t, k->job->team_id, k->scopes[i],
                                    k->scope_kind[i], k->scope_n[i]);
    }
    if (rc == SW_OK)
        rc = store_job_finish(t, k->job->job_id);
    return rc;
}

/* The input of one outbound job: the email's documents. */
struct ingest_docs {
    struct store_content *cts;
    struct llm_doc *docs;
    size_t n;
};

static void ingest_docs_clear(struct ingest_docs *d)
{
    size_t i;

    for (i = 0; d->cts && i < d->n; i++)
        store_content_clear(&d->cts[i]);
    sw_free(d->cts);
    sw_free(d->docs);
    memset(d, 0, sizeof(*d));
}

static sw_err ingest_docs_load(store *s, const char *team,
                               const struct store_email *em,
                               struct ingest_docs *d)
{
    size_t i;
    sw_err rc;

    if (em->n_contents == 0)
        return SW_OK;
    d->cts = sw_calloc(em->n_contents, sizeof(*d->cts));
    d->docs = sw_calloc(em->n_contents, sizeof(*d->docs));
    if (d->cts == NULL || d->docs == NULL)
        return SW_ENOMEM;
    for (i = 0; i < em->n_contents; i++) {
        rc = store_content_get(s, team, em->contents[i].content_id,
                               &d->cts[d->n]);
        if (rc == SW_ENOTFOUND)
            continue;
        if (rc)
            return rc;
        d->docs[d->n].name = em->contents[i].filename;
        d->docs[d->n].text = d->cts[d->n].text;
        d->docs[d->n].len = d->cts[d->n].text_len;
        d->n++;
    }
    return SW_OK;
}

/* ingest_content_of maps a cited file name to its content item's id: the
 * validator checked the name, exactly or ignoring case. */
static const char *ingest_content_of(const struct ingest_docs *d,
                                     const char *name)
{
    size_t i;

    for (i = 0; i < d->n; i++)
        if (strcmp(d->docs[i].name, name) == 0)
            return d->cts[i].content_id;
    for (i = 0; i < d->n; i++)
        if (strcasecmp(d->docs[i].name, name) == 0)
            return d->cts[i].content_id;
    return NULL;
}

/* The snippets of one outbound answer, with their redaction scopes. */
struct ingest_plan {
    struct ingest_snip *snips;
    size_t n;
    const char **scopes; /* [0] the email, then each content item */
    size_t *scope_n;
    int *scope_kind;
    size_t n_scopes;
};

static void ingest_plan_clear(struct ingest_plan *p)
{
    sw_free(p->snips);
    sw_free(p->scopes);
    sw_free(p->scope_n);
    sw_free(p->scope_kind);
    memset(p, 0, sizeof(*p));
}

/* ingest_plan_build makes the snippet records of answer a; their strings
 * borrow from a, the email and the documents. */
static sw_err ingest_plan_build(const struct store_job *job,
                                const struct store_email *em,
                                const struct ingest_docs *d,
                                const struct llm_outbound *a, const char *prov,
                                struct ingest_plan *p)
{
    size_t i, j, n = a->n_framings + a->n_passages;

    p->snips = sw_calloc(n ? n : 1, sizeof(*p->snips));
    p->scopes = sw_calloc(d->n + 1, sizeof(*p->scopes));
    p->scope_n = sw_calloc(d->n + 1, sizeof(*p->scope_n));
    p->scope_kind = sw_calloc(d->n + 1, sizeof(*p->scope_kind));
    if (!p->snips || !p->scopes || !p->scope_n || !p->scope_kind)
        return SW_ENOMEM;
    p->scopes[0] = em->email_id;
    p->scope_kind[0] = STORE_SNIPPET_FRAMING;
    for (i = 0; i < d->n; i++) {
        p->scopes[i + 1] = d->cts[i].content_id;
        p->scope_kind[i + 1] = STORE_SNIPPET_KEY_PASSAGE;
    }
    p->n_scopes = d->n + 1;
    for (i = 0; i < n; i++) {
        struct ingest_snip *x = &p->snips[i];
        struct store_snippet *s = &x->sn;
        int framing = i < a->n_framings;
        const char *cited = framing ? a->framings[i].content
                                    : a->passages[i - a->n_framings].content;
        const char *cid = ingest_content_of(d, cited);
        size_t scope = 0;

        s->team_id = job->team_id;
        s->kind = framing ? STORE_SNIPPET_FRAMING : STORE_SNIPPET_KEY_PASSAGE;
        s->text =
            framing ? a->framings[i].text : a->passages[i - a->n_framings].text;
        s->content_id = (char *)(cid ? cid : "");
        if (!framing && cid) {
            for (j = 0; j < d->n; j++)
                if (d->cts[j].content_id == cid)
                    scope = j + 1;
        }
        /* Framings belong to the email; key passages to the content item
         * (shared by every email that attaches it). */
        s->email_id = framing ? em->email_id : NULL;
        s->thread_id = framing ? em->thread_id : NULL;
        s->rep_email = framing ? em->rep_email : NULL;
        s->topic = a->n_topics ? a->topics[0] : (char *)"";
        /* A snippet dates from the mail that used it, not from when the
         * worker ran: the ranking's "oldest member of a family" then
         * depends on the team's history only, not on extraction timing. */
        s->create_ms = em->sent_ms;
        s->intent = a->intent;
        s->persona = a->persona;
        s->stage = a->stage;
        s->provenance = (char *)prov;
        ingest_snippet_id(job->team_id, p->scopes[scope], s->kind,
                          p->scope_n[scope]++, x->id);
        s->snippet_id = x->id;
    }
    p->n = n;
    return SW_OK;
}

/* ingest_backoff: base * 2^attempts, capped, plus up to a quarter more at
 * random, so that jobs that failed together do not retry together. */
static int64_t ingest_backoff(const ingest_worker *w, int attempts)
{
    int64_t d = w->o.backoff_base_ms;
    uint32_t r = 0;
    int i;

    for (i = 0; i < attempts && d < w->o.backoff_max_ms; i++)
        d *= 2;
    if (d > w->o.backoff_max_ms)
        d = w->o.backoff_max_ms;
    if (d >= 4 && sw_random(&r, sizeof(r)) == SW_OK)
        d += (int64_t)(r % (uint32_t)(d / 4 + 1));
    return d;
}

/* ingest_team_busy (a store_job_skip_fn, called under claim_mu): a team
 * with a job in hand waits for it, so that one team (a backlog, or calls
 * that stall) holds at most one thread. */
static int ingest_team_busy(const char *team_id, void *arg)
{
    const ingest_worker *w = arg;
    const struct ingest_claim *c;

    for (c = w->claims; c; c = c->next)
        if (strcmp(c->team_id, team_id) == 0)
            return 1;
    return 0;
}

/* ingest_claim_next picks the next job fairly and claims it: the oldest due
 * job of the next team after the last one picked (round-robin) that has no
 * job in hand. The claim is dropped by ingest_claim_drop only after the
 * job's commit or deferral, so a later pick either sees the claim or no
 * longer sees the job as it was. SW_ENOTFOUND when nothing is due. */
static sw_err ingest_claim_next(ingest_worker *w, int64_t now_ms,
                                struct store_job *job, struct ingest_claim *cl)
{
    char *rr;
    size_t stale = 0;
    int sweep = 0;
    sw_err rc, src;

    pthread_mutex_lock(&w->claim_mu);
    rc =
        store_job_next_team(w->s, now_ms, w->rr_team, ingest_team_busy, w, job);
    if (rc == SW_OK) {
        cl->team_id = job->team_id;
        cl->next = w->claims;
        w->claims = cl;
        /* Without memory the cursor stays: the pick is still exclusive,
         * only the order is less fair. */
        rr = sw_strdup(job->team_id);
        if (rr) {
            sw_free(w->rr_team);
            w->rr_team = rr;
        }
    } else if (rc == SW_ENOTFOUND &&
               sw_now_ms() - w->stale_ms >= INGEST_WORKER_STALE_MS) {
        w->stale_ms = sw_now_ms();
        sweep = 1;
    }
    pthread_mutex_unlock(&w->claim_mu);
    /* Outside the mutex: it may wait for the write lock. Stale jobs are
     * never picked, so it needs no claim. */
    if (sweep) {
        src = store_job_drop_stale(w->s, &stale);
        if (src) /* retried a minute later */
            sw_log_warn("worker.stale", "err=%s", sw_err_name(src));
    }
    return rc;
}

static void ingest_claim_drop(ingest_worker *w, struct ingest_claim *cl)
{
    struct ingest_claim **p;

    pthread_mutex_lock(&w->claim_mu);
    for (p = &w->claims; *p; p = &(*p)->next)
        if (*p == cl) {
            *p = cl->next;
            break;
        }
    pthread_mutex_unlock(&w->claim_mu);
}

/* --- One job: a step of a group ------------------------------------------
 */

/* What a step's commit does with its job. */
enum ingest_step_what {
    INGEST_STEP_NONE,   /* nothing (an error before the end): journal only */
    INGEST_STEP_COMMIT, /* store the results and finish the job */
    INGEST_STEP_EMPTY,  /* finish the job: nothing to extract */
    INGEST_STEP_DEFER   /* the provider failed: run it again later */
};

/* One job from its pick to its commit, and everything the commit needs. */
struct ingest_step {
    struct store_job job;
    struct store_email em;
    struct ingest_docs docs;
    struct ingest_plan plan;
    struct llm_outbound ans;
    struct llm_result res;
    struct ingest_commit k;
    struct sw_buf prov;
    struct llm_held held; /* the LLM journal, written in the commit */
    enum ingest_step_what what;
    int fallback;
    int64_t defer_until;
    sw_err rc; /* the step's result after its commit */
};

static void ingest_step_clear(struct ingest_step *st)
{
    llm_reply_clear(&st->k.reply);
    sw_free(st->k.thread_now);
    ingest_plan_clear(&st->plan);
    llm_outbound_clear(&st->ans);
    llm_result_clear(&st->res);
    ingest_docs_clear(&st->docs);
    sw_buf_free(&st->prov);
    llm_held_clear(&st->held);
    store_email_clear(&st->em);
    store_job_clear(&st->job);
}

/* ingest_step_call runs the step's LLM call: the configured client, or
 * the builtin fallback after fallback_after failures or when the team's
 * paid budget is spent. */
static sw_err ingest_step_call(ingest_worker *w, struct ingest_step *st,
                               const struct llm_schema *schema,
                               const struct llm_input *in, llm_client **c)
{
    sw_err rc;

    st->fallback = st->job.attempts >= w->o.fallback_after;
    *c = st->fallback ? w->fb : w->c;
    rc = llm_call_held(*c, st->job.team_id, st->job.email_id, schema, in,
                       &st->res, &st->held);
    if (rc == SW_EBUDGET && !st->fallback) {
        /* The team's paid budget is spent for today: the fallback (the
         * builtin, which costs nothing) answers now rather than after a
         * day of deferrals. */
        sw_log_info("worker.budget_fallback", "job=%llu email=%s",
                    (unsigned long long)st->job.job_id, st->job.email_id);
        llm_result_clear(&st->res);
        memset(&st->res, 0, sizeof(st->res));
        st->fallback = 1;
        *c = w->fb;
        rc = llm_call_held(*c, st->job.team_id, st->job.email_id, schema, in,
                           &st->res, &st->held);
    }
    return rc;
}

/* ingest_step_run does a claimed job's work outside any transaction: it
 * reads the email and its documents, calls the model, and prepares what
 * the group's commit stores (st->what). A provider failure makes the step
 * a deferral. Errors: store errors and SW_ENOMEM, after which the job is
 * left queued (the step commits only its journal). */
static sw_err ingest_step_run(ingest_worker *w, struct ingest_step *st,
                              int64_t now_ms)
{
    const struct llm_schema *schema;
    struct llm_input in;
    llm_client *c;
    int64_t started;
    sw_err rc;

    rc = store_email_get(w->s, st->job.team_id, st->job.email_id, &st->em);
    if (rc == SW_ENOTFOUND) { /* the email is gone: nothing to extract */
        st->what = INGEST_STEP_EMPTY;
        return SW_OK;
    }
    if (rc)
        return rc;
    schema = st->job.kind == STORE_JOB_CLASSIFY_INBOUND ? &llm_schema_reply
                                                        : &llm_schema_outbound;
    memset(&in, 0, sizeof(in));
    in.text = st->em.new_text && st->em.new_text[0] ? st->em.new_text
                                                    : st->em.body_text;
    in.len = in.text ? strlen(in.text) : 0;
    if (schema == &llm_schema_outbound) {
        rc = ingest_docs_load(w->s, st->job.team_id, &st->em, &st->docs);
        if (rc)
            return rc;
        in.docs = st->docs.docs;
        in.n_docs = st->docs.n;
    }
    /* An empty reply has nothing to classify; outbound mail without a
     * document (links only, or attachments gone) nothing to extract, as
     * every snippet must cite a document: no paid call for either. */
    if (schema == &llm_schema_reply ? in.len == 0 : st->docs.n == 0) {
        st->what = INGEST_STEP_EMPTY;
        return SW_OK;
    }
    started = sw_mono_ms();
    rc = ingest_step_call(w, st, schema, &in, &c);
    if (rc == SW_ENOMEM || rc == SW_ESTORE)
        return rc;
    if (rc) {
        /* The backoff runs from the failure, not from the job's start: a
         * call that timed out after a minute waits its backoff after it. */
        sw_log_warn("worker.defer", "job=%llu email=%s attempts=%d err=%s",
                    (unsigned long long)st->job.job_id, st->job.email_id,
                    st->job.attempts, sw_err_name(rc));
        st->defer_until = now_ms + (sw_mono_ms() - started) +
                          ingest_backoff(w, st->job.attempts);
        if (st->res.error == NULL)
            st->res.error = sw_strdup(sw_err_str(rc));
        st->what = INGEST_STEP_DEFER;
        return SW_OK;
    }
    rc = sw_buf_printf(
        &st->prov, "%s:%s/%s%s", st->fallback ? "fallback" : "llm",
        llm_client_provider(c)->name, llm_client_provider(c)->model,
        st->res.cached ? INGEST_CACHED : "");
    if (rc)
        return rc;
    st->k.job = &st->job;
    st->k.em = &st->em;
    st->k.provenance = sw_buf_str(&st->prov);
    st->k.is_reply = schema == &llm_schema_reply;
    if (st->k.is_reply) {
        rc = llm_reply_parse(st->res.output, st->res.len, &st->k.reply);
        if (rc == SW_OK)
            st->what = INGEST_STEP_COMMIT;
        return rc;
    }
    rc = llm_outbound_parse(st->res.output, st->res.len, &st->ans);
    if (rc == SW_OK)
        rc = ingest_plan_build(&st->job, &st->em, &st->docs, &st->ans,
                               st->k.provenance, &st->plan);
    if (rc)
        return rc;
    st->k.snips = st->plan.snips;
    st->k.n_snips = st->plan.n;
    st->k.scopes = st->plan.scopes;
    st->k.scope_n = st->plan.scope_n;
    st->k.scope_kind = st->plan.scope_kind;
    st->k.n_scopes = st->plan.n_scopes;
    st->what = INGEST_STEP_COMMIT;
    return SW_OK;
}

/* --- A group of jobs, committed together ---------------------------------
 *
 * A worker thread gathers the due jobs of the team it picked, in enqueue
 * order, for up to group_max jobs or group_ms of work, and commits them in
 * one write transaction: each job's results (or its deferral) and its LLM
 * journal. With the builtin extractor a job takes well under a
 * millisecond, so a backlog is committed tens of jobs per fsync instead of
 * two fsyncs per job (the result and the journal each had their own); a
 * paid call takes longer than group_ms, so its job commits alone, as soon
 * as it is done. If the group's transaction fails, each job is committed
 * alone, so that one job's error fails only that job. */

struct ingest_group {
    struct ingest_step *v;
    size_t n;
};

/* ingest_step_apply stores one step in the group's transaction. */
static sw_err ingest_step_apply(store_txn *t, struct ingest_step *st)
{
    sw_err rc = SW_OK;

    switch (st->what) {
    case INGEST_STEP_COMMIT:
        rc = ingest_commit_txn(t, &st->k);
        break;
    case INGEST_STEP_EMPTY:
        rc = store_job_finish(t, st->job.job_id);
        break;
    case INGEST_STEP_DEFER:
        rc = store_job_defer_txn(t, st->job.job_id, st->defer_until,
                                 st->res.error);
        break;
    case INGEST_STEP_NONE:
        break;
    }
    /* The journal of a call whose email was erased meanwhile is dropped
     * with the email (store_erase.h): it is simply not written. */
    if (rc == SW_OK && !st->k.erased)
        rc = llm_held_write_txn(t, st->job.team_id, &st->held);
    return rc;
}

static sw_err ingest_group_txn(store_txn *t, void *arg)
{
    struct ingest_group *g = arg;
    size_t i;
    sw_err rc;

    for (i = 0; i < g->n; i++) {
        rc = ingest_step_apply(t, &g->v[i]);
        if (rc)
            return rc;
    }
    return SW_OK;
}

/* ingest_step_count adds a committed step to the worker's counters. */
static void ingest_step_count(ingest_worker *w, const struct ingest_step *st)
{
    pthread_mutex_lock(&w->mu);
    switch (st->what) {
    case INGEST_STEP_COMMIT:
        if (st->k.erased)
            break;
        w->st.done++;
        w->st.fallbacks += (uint64_t)st->fallback;
        w->st.snippets += st->k.written;
        w->st.outcomes += st->k.outcomes;
        break;
    case INGEST_STEP_EMPTY:
        w->st.skipped++;
        break;
    case INGEST_STEP_DEFER:
        w->st.deferred++;
        break;
    case INGEST_STEP_NONE:
        break;
    }
    pthread_mutex_unlock(&w->mu);
}

/* ingest_step_commit commits one step by itself. */
static sw_err ingest_step_commit(ingest_worker *w, struct ingest_step *st)
{
    struct ingest_group one;

    one.v = st;
    one.n = 1;
    return store_update(w->s, ingest_group_txn, &one);
}

/* ingest_group_commit commits the group's steps and counts them. If the
 * group's transaction fails, each step is committed alone. A job finished
 * elsewhere meanwhile (SW_ENOTFOUND: another process, or its team gone)
 * becomes a step that did nothing, whose commit keeps only the journal of
 * the call made for it (its tokens were spent). Each step's rc says how it
 * went (a step that failed before its commit keeps its error); returns the
 * first error. */
static sw_err ingest_group_commit(ingest_worker *w, struct ingest_group *g)
{
    int64_t t0 = sw_mono_ms();
    sw_err rc, src, first = SW_OK;
    size_t i;

    assert(g->n > 0);
    rc = store_update(w->s, ingest_group_txn, g);
    if (rc && g->n > 1)
        sw_log_warn("worker.group_failed", "n=%zu err=%s", g->n,
                    sw_err_name(rc));
    for (i = 0; i < g->n; i++) {
        struct ingest_step *st = &g->v[i];
        src = rc && g->n > 1 ? ingest_step_commit(w, st) : rc;
        if (src == SW_ENOTFOUND && st->what != INGEST_STEP_NONE) {
            st->what = INGEST_STEP_NONE;
            st->k.erased = 0;
            src = ingest_step_commit(w, st);
        }
        if (st->rc == SW_OK)
            st->rc = src;
        if (st->rc == SW_OK)
            ingest_step_count(w, st);
        else if (first == SW_OK)
            first = st->rc;
    }
    sw_log_debug("worker.group", "team=%s jobs=%zu commit_ms=%lld",
                 g->v[0].job.team_id, g->n, (long long)(sw_mono_ms() - t0));
    return first;
}

/* ingest_group_more takes the team's next due job after the last one of
 * the group, if the group may grow: SW_ENOTFOUND when it may not or no job
 * is due. */
static sw_err ingest_group_more(ingest_worker *w, struct ingest_group *g,
                                size_t max, int64_t began, int64_t now_ms,
                                struct store_job *job)
{
    const struct store_job *last = &g->v[g->n - 1].job;
    int stop;

    if (g->n >= max || sw_mono_ms() - began >= w->o.group_ms)
        return SW_ENOTFOUND;
    pthread_mutex_lock(&w->mu);
    stop = w->stop;
    pthread_mutex_unlock(&w->mu);
    if (stop)
        return SW_ENOTFOUND;
    return store_job_next_of_team(w->s, now_ms, last->team_id, last->job_id,
                                  job);
}

/* ingest_worker_run_group: the fair pick of one job, then more of the
 * same team's due jobs while the group may grow, then their commit. */
sw_err ingest_worker_run_group(ingest_worker *w, int64_t now_ms, size_t max,
                               size_t *did)
{
    struct ingest_claim claim;
    struct ingest_group g;
    struct store_job job;
    int64_t began = sw_mono_ms();
    sw_err rc, src = SW_OK;
    size_t i;

    *did = 0;
    if (max == 0)
        return SW_EINVAL;
    if (now_ms <= 0)
        now_ms = sw_now_ms();
    memset(&g, 0, sizeof(g));
    memset(&job, 0, sizeof(job));
    rc = ingest_claim_next(w, now_ms, &job, &claim);
    if (rc == SW_ENOTFOUND)
        return SW_OK;
    if (rc)
        return rc;
    g.v = sw_calloc(max, sizeof(*g.v));
    if (g.v == NULL) {
        ingest_claim_drop(w, &claim);
        store_job_clear(&job);
        return SW_ENOMEM;
    }
    /* The claim names the team by the first job's string, which moves to
     * g.v[0] and stays there until the claim is dropped. */
    do {
        struct ingest_step *st = &g.v[g.n++];
        st->job = job;
        memset(&job, 0, sizeof(job));
        sw_buf_init(&st->prov, 512);
        st->rc = ingest_step_run(w, st, now_ms);
        if (st->rc) {
            st->what = INGEST_STEP_NONE;
            break; /* a store error or no memory: commit what is done */
        }
        src = ingest_group_more(w, &g, max, began, now_ms, &job);
        if (src != SW_OK && src != SW_ENOTFOUND) /* the next group takes it */
            sw_log_warn("worker.group_more", "err=%s", sw_err_name(src));
    } while (src == SW_OK);
    rc = ingest_group_commit(w, &g);
    *did = g.n;
    ingest_claim_drop(w, &claim); /* after the commit: see ingest_claim_next */
    for (i = 0; i < g.n; i++) {
        if (g.v[i].what == INGEST_STEP_COMMIT && g.v[i].rc == SW_OK &&
            !g.v[i].k.erased)
            sw_log_debug("worker.done",
                         "job=%llu email=%s snippets=%zu "
                         "provenance=%s",
                         (unsigned long long)g.v[i].job.job_id,
                         g.v[i].job.email_id, g.v[i].k.written,
                         g.v[i].k.provenance);
        ingest_step_clear(&g.v[i]);
    }
    sw_free(g.v);
    store_job_clear(&job);
    return rc;
}

sw_err ingest_worker_run_one(ingest_worker *w, int64_t now_ms, int *did)
{
    size_t n = 0;
    sw_err rc = ingest_worker_run_group(w, now_ms, 1, &n);

    *did = n > 0;
    return rc;
}

/* Extraction is background work: its threads run at nice
 * INGEST_WORKER_NICE, below the server's calls. */
#define INGEST_WORKER_NICE 10

static void *ingest_worker_main(void *arg)
{
    ingest_worker *w = arg;
    struct timespec ts;
    size_t did;
    int stop = 0;
    sw_err rc;

    if (sw_thread_nice(INGEST_WORKER_NICE) != 0)
        sw_log_warn("worker.nice_failed", "errno=%d", errno);

    while (!stop) {
        rc = ingest_worker_run_group(w, 0, (size_t)w->o.group_max, &did);
        if (rc)
            sw_log_error("worker.error", "err=%s", sw_err_name(rc));
        pthread_mutex_lock(&w->mu);
        /* A kick that came while this thread was busy is not lost: the
         * flag makes it look again at once (an error still waits). */
        if (!w->stop && (rc || (!did && !w->kicked))) {
            sw_timespec_in(CLOCK_REALTIME, w->o.idle_ms, &ts);
            pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        }
        w->kicked = 0;
        stop = w->stop;
        pthread_mutex_unlock(&w->mu);
    }
    return NULL;
}

void ingest_worker_kick(ingest_worker *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->kicked = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* ingest_worker_join asks the started threads to stop and joins them. */
static void ingest_worker_join(ingest_worker *w)
{
    int i;

    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    for (i = 0; i < w->nth; i++)
        pthread_join(w->th[i], NULL);
    w->nth = 0;
}

sw_err ingest_worker_start(ingest_worker *w)
{
    if (w->running)
        return SW_ESTATE;
    w->stop = 0;
    for (w->nth = 0; w->nth < w->o.threads; w->nth++) {
        if (pthread_create(&w->th[w->nth], NULL, ingest_worker_main, w) != 0) {
            ingest_worker_join(w);
            return SW_EIO;
        }
    }
    w->running = 1;
    return SW_OK;
}

void ingest_worker_stop(ingest_worker *w)
{
    if (w == NULL || !w->running)
        return;
    ingest_worker_join(w);
    w->running = 0;
}

void ingest_worker_stats(ingest_worker *w, struct ingest_worker_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->st;
    pthread_mutex_unlock(&w->mu);
}

void ingest_worker_free(ingest_worker **w)
{
    if (w == NULL || *w == NULL)
        return;
    ingest_worker_stop(*w);
    pthread_mutex_destroy(&(*w)->mu);
    pthread_cond_destroy(&(*w)->cv);
    pthread_mutex_destroy(&(*w)->claim_mu);
    sw_free((*w)->rr_team);
    sw_free((*w)->th);
    sw_free(*w);
    *w = NULL;
}
