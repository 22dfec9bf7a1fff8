/* ingest/worker: job → llm_call → one commit of results + job finish.
 * The LLM call happens outside any transaction; only the commit is in a
 * write transaction, which re-checks that the job still exists (another
 * process may have finished it) before storing anything. The answer is
 * read through llm/answer.h: only llm/ handles JSON. A pool of threads
 * shares the queue: each pick (ingest_claim_next) is exclusive within the
 * process and round-robin over the teams without a job in hand. */
#include "ingest/worker.h"

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
    pthread_mutex_t mu; /* st, stop; cv wakes idle threads to stop */
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

/* ingest_commit_erased: when the job's email was erased (store_erase.h)
 * while its LLM call ran, that call's journal and cache entries, written
 * after the erasure, are forgotten too. Returns 1 (with *rc) when so. */
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
    *rc = store_llm_forget_txn(t, k->job->team_id, k->job->email_id, NULL);
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

/* ingest_finish_empty finishes a job that has nothing to extract. */
static sw_err ingest_finish_txn(store_txn *t, void *arg)
{
    const struct store_job *job = arg;
    return store_job_finish(t, job->job_id);
}

static void ingest_count(ingest_worker *w, uint64_t *ctr, uint64_t n)
{
    pthread_mutex_lock(&w->mu);
    *ctr += n;
    pthread_mutex_unlock(&w->mu);
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

sw_err ingest_worker_run_one(ingest_worker *w, int64_t now_ms, int *did)
{
    struct store_job job;
    struct store_email em;
    struct ingest_docs docs;
    struct ingest_plan plan;
    struct llm_outbound ans;
    struct llm_input in;
    struct llm_result res;
    struct ingest_commit k;
    struct sw_buf prov;
    struct ingest_claim claim;
    const struct llm_schema *schema;
    llm_client *c;
    int fallback, claimed = 0;
    int64_t started;
    sw_err rc;

    *did = 0;
    if (now_ms <= 0)
        now_ms = sw_now_ms();
    memset(&job, 0, sizeof(job));
    memset(&em, 0, sizeof(em));
    memset(&docs, 0, sizeof(docs));
    memset(&plan, 0, sizeof(plan));
    memset(&ans, 0, sizeof(ans));
    memset(&res, 0, sizeof(res));
    memset(&k, 0, sizeof(k));
    sw_buf_init(&prov, 512);
    rc = ingest_claim_next(w, now_ms, &job, &claim);
    if (rc == SW_ENOTFOUND) {
        rc = SW_OK;
        goto out;
    }
    if (rc)
        goto out;
    claimed = 1;
    *did = 1;
    rc = store_email_get(w->s, job.team_id, job.email_id, &em);
    if (rc == SW_ENOTFOUND)
        goto empty; /* the email is gone: nothing to extract */
    if (rc)
        goto out;
    schema = job.kind == STORE_JOB_CLASSIFY_INBOUND ? &llm_schema_reply
                                                    : &llm_schema_outbound;
    memset(&in, 0, sizeof(in));
    in.text = em.new_text && em.new_text[0] ? em.new_text : em.body_text;
    in.len = in.text ? strlen(in.text) : 0;
    if (schema == &llm_schema_outbound) {
        rc = ingest_docs_load(w->s, job.team_id, &em, &docs);
        if (rc)
            goto out;
        in.docs = docs.docs;
        in.n_docs = docs.n;
    }
    /* An empty reply has nothing to classify; outbound mail without a
     * document (links only, or attachments gone) nothing to extract, as
     * every snippet must cite a document: no paid call for either. */
    if (schema == &llm_schema_reply ? in.len == 0 : docs.n == 0)
        goto empty;
    fallback = job.attempts >= w->o.fallback_after;
    c = fallback ? w->fb : w->c;
    started = sw_mono_ms();
    rc = llm_call(c, job.team_id, job.email_id, schema, &in, &res);
    if (rc == SW_EBUDGET && !fallback) {
        /* The team's paid budget is spent for today: the fallback (the
         * builtin, which costs nothing) answers now rather than after a
         * day of deferrals. */
        sw_log_info("worker.budget_fallback", "job=%llu email=%s",
                    (unsigned long long)job.job_id, job.email_id);
        llm_result_clear(&res);
        memset(&res, 0, sizeof(res));
        fallback = 1;
        c = w->fb;
        rc = llm_call(c, job.team_id, job.email_id, schema, &in, &res);
    }
    if (rc == SW_ENOMEM || rc == SW_ESTORE)
        goto out;
    if (rc) {
        /* The backoff runs from the failure, not from the job's start: a
         * call that timed out after a minute waits its backoff after it. */
        int64_t failed_ms = now_ms + (sw_mono_ms() - started);
        sw_log_warn("worker.defer", "job=%llu email=%s attempts=%d err=%s",
                    (unsigned long long)job.job_id, job.email_id, job.attempts,
                    sw_err_name(rc));
        rc = store_job_defer(w->s, job.job_id,
                             failed_ms + ingest_backoff(w, job.attempts),
                             res.error ? res.error : sw_err_str(rc));
        if (rc == SW_OK)
            ingest_count(w, &w->st.deferred, 1);
        goto out;
    }
    rc = sw_buf_printf(&prov, "%s:%s/%s%s", fallback ? "fallback" : "llm",
                       llm_client_provider(c)->name,
                       llm_client_provider(c)->model,
                       res.cached ? INGEST_CACHED : "");
    if (rc)
        goto out;
    k.job = &job;
    k.em = &em;
    k.provenance = sw_buf_str(&prov);
    k.is_reply = schema == &llm_schema_reply;
    if (k.is_reply) {
        rc = llm_reply_parse(res.output, res.len, &k.reply);
    } else {
        rc = llm_outbound_parse(res.output, res.len, &ans);
        if (rc == SW_OK)
            rc = ingest_plan_build(&job, &em, &docs, &ans, k.provenance, &plan);
        k.snips = plan.snips;
        k.n_snips = plan.n;
        k.scopes = plan.scopes;
        k.scope_n = plan.scope_n;
        k.scope_kind = plan.scope_kind;
        k.n_scopes = plan.n_scopes;
    }
    if (rc)
        goto out;
    rc = store_update(w->s, ingest_commit_txn, &k);
    if (rc == SW_ENOTFOUND || (rc == SW_OK && k.erased)) {
        rc = SW_OK; /* finished by another worker meanwhile */
        goto out;
    }
    if (rc == SW_OK) {
        pthread_mutex_lock(&w->mu);
        w->st.done++;
        w->st.fallbacks += (uint64_t)fallback;
        w->st.snippets += k.written;
        w->st.outcomes += k.outcomes;
        pthread_mutex_unlock(&w->mu);
        sw_log_debug("worker.done",
                     "job=%llu email=%s snippets=%zu "
                     "provenance=%s",
                     (unsigned long long)job.job_id, job.email_id, k.written,
                     k.provenance);
    }
    goto out;
empty:
    rc = store_update(w->s, ingest_finish_txn, &job);
    if (rc == SW_ENOTFOUND)
        rc = SW_OK;
    if (rc == SW_OK)
        ingest_count(w, &w->st.skipped, 1);
out:
    if (claimed) /* after the commit or deferral: see ingest_claim_next */
        ingest_claim_drop(w, &claim);
    llm_reply_clear(&k.reply);
    sw_free(k.thread_now);
    ingest_plan_clear(&plan);
    llm_outbound_clear(&ans);
    llm_result_clear(&res);
    ingest_docs_clear(&docs);
    sw_buf_free(&prov);
    store_email_clear(&em);
    store_job_clear(&job);
    return rc;
}

/* Extraction is background work: its threads run at nice
 * INGEST_WORKER_NICE, below the server's calls. */
#define INGEST_WORKER_NICE 10

static void *ingest_worker_main(void *arg)
{
    ingest_worker *w = arg;
    struct timespec ts;
    int did, stop = 0;
    sw_err rc;

    if (sw_thread_nice(INGEST_WORKER_NICE) != 0)
        sw_log_warn("worker.nice_failed", "errno=%d", errno);

    while (!stop) {
        rc = ingest_worker_run_one(w, 0, &did);
        if (rc)
            sw_log_error("worker.error", "err=%s", sw_err_name(rc));
        pthread_mutex_lock(&w->mu);
        if (!w->stop && (!did || rc)) {
            sw_timespec_in(CLOCK_REALTIME, w->o.idle_ms, &ts);
            pthread_cond_timedwait(&w->cv, &w->mu, &ts);
        }
        stop = w->stop;
        pthread_mutex_unlock(&w->mu);
    }
    return NULL;
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
