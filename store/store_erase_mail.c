/* store_erase_mail: erasure of emails, threads and contacts (store_erase.h).
 *
 * A run is planned in read transactions (which emails, which of their
 * snippets), then each email goes in a write transaction of its own, then
 * the content items left without an email are deleted when asked. */
#include "store/store_erase.h"

#include <stdlib.h>
#include <string.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "store/mail_records.pb-c.h"
#include "store/store_erase_int.h"
#include "store/store_hist.h"
#include "store/store_int.h"
#include "store/store_job.h"
#include "store/store_llm.h"
#include "store/store_mail.h"
#include "store/store_mail_int.h"
#include "store/store_outcome.h"
#include "store/store_snippet.h"

/* Threads that keep gaining mail while store_thread_erase runs are erased
 * for this many rounds at most. */
#define STORE_ERASE_THREAD_ROUNDS 8
#define STORE_ERASE_ADDRESS_MAX 320

/* --- Lists of ids ------------------------------------------------------------
 */

struct store_erase_ids {
    char **v;
    size_t n, cap;
};

static void store_erase_ids_free(struct store_erase_ids *l)
{
    store_strv_free(l->v, l->n);
    memset(l, 0, sizeof(*l));
}

static int store_erase_ids_has(const struct store_erase_ids *l, const char *id)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        if (strcmp(l->v[i], id) == 0)
            return 1;
    return 0;
}

/* store_erase_ids_add appends a copy of id (unless unique and already
 * there). */
static SW_MUST_CHECK sw_err store_erase_ids_add(struct store_erase_ids *l,
                                                const char *id, int unique)
{
    char **nv;

    if (unique && store_erase_ids_has(l, id))
        return SW_OK;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        nv = sw_realloc(l->v, l->cap * sizeof(*nv));
        if (nv == NULL)
            return SW_ENOMEM;
        l->v = nv;
    }
    l->v[l->n] = sw_strdup(id);
    if (l->v[l->n] == NULL)
        return SW_ENOMEM;
    l->n++;
    return SW_OK;
}

static int store_erase_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* --- Planning: the snippets of the emails -----------------------------------
 */

struct store_erase_plan {
    const char *team_id;
    uint64_t snip_seq;             /* the snippet feed's seq when planned */
    struct store_erase_ids emails; /* sorted once planned */
    struct store_erase_ids snips;  /* snippets of those emails ... */
    struct store_erase_ids owners; /* ... and the email of each */
};

static SW_MUST_CHECK sw_err store_erase_plan_cb(const struct store_snippet *s,
                                                void *arg)
{
    struct store_erase_plan *p = arg;
    const char *key = s->email_id;
    sw_err rc;

    if (s->deleted || !s->email_id[0] ||
        bsearch(&key, p->emails.v, p->emails.n, sizeof(char *),
                store_erase_cmp) == NULL)
        return SW_OK;
    rc = store_erase_ids_add(&p->snips, s->snippet_id, 0);
    return rc ? rc : store_erase_ids_add(&p->owners, s->email_id, 0);
}

static SW_MUST_CHECK sw_err store_erase_plan_txn(store_txn *t, void *arg)
{
    struct store_erase_plan *p = arg;

    sw_err rc;

    store_erase_ids_free(&p->snips); /* a retried view */
    store_erase_ids_free(&p->owners);
    rc = store_snippet_last_seq_txn(t, p->team_id, &p->snip_seq);
    return rc ? rc : store_hist_snippets(t, p->team_id, store_erase_plan_cb, p);
}

static void store_erase_plan_free(struct store_erase_plan *p)
{
    store_erase_ids_free(&p->emails);
    store_erase_ids_free(&p->snips);
    store_erase_ids_free(&p->owners);
}

/* --- One email's write transaction ------------------------------------------
 */

struct store_erase_one {
    const char *team_id, *email_id;
    const char *address; /* store_contact_erase: the address forgotten */
    const struct store_erase_plan *plan;
    /* Results, reset when store_update reruns the transaction. */
    int found;
    struct store_erase_ids contents; /* items the email carried */
    struct store_erase_ids inbound;  /* of those, the ones it brought in */
    struct store_erase_ids redacted; /* snippets redacted */
    size_t outcomes, journal, threads;
};

static void store_erase_one_reset(struct store_erase_one *o)
{
    store_erase_ids_free(&o->contents);
    store_erase_ids_free(&o->inbound);
    store_erase_ids_free(&o->redacted);
    o->found = 0;
    o->outcomes = o->journal = o->threads = 0;
}

/* store_erase_record deletes the email's record and, when it still names
 * the email, its dedupe index entry. */
static SW_MUST_CHECK sw_err store_erase_record(store_txn *t,
                                               const char *team_id,
                                               const char *email_id)
{
    Snipwise__Store__EmailRecord *r;
    ProtobufCMessage *m = NULL;
    struct sw_buf k;
    char *idx = NULL;
    sw_err rc;

    sw_buf_init(&k, STORE_KEYBUF_MAX);
    rc = store_mail__id_key(&k, team_id, email_id);
    if (rc == SW_OK)
        rc = store__get_msg(t, STORE_DB_EMAILS, sw_buf_str(&k), sw_buf_len(&k),
                            &snipwise__store__email_record__descriptor, &m);
    if (rc == SW_OK)
        rc = store_del(t, STORE_DB_EMAILS, sw_buf_str(&k), sw_buf_len(&k));
    if (rc)
        goto out;
    r = (Snipwise__Store__EmailRecord *)m;
    if (r->seq) { /* its entry in the feed of new emails, if it has one */
        rc = store_mail__seq_key(&k, team_id, r->seq);
        if (rc == SW_OK)
            rc = store_del(t, STORE_DB_EMAIL_SEQ, sw_buf_str(&k),
                           sw_buf_len(&k));
        if (rc == SW_ENOTFOUND)
            rc = SW_OK;
        if (rc)
            goto out;
    }
    if (r->dedupe_key.len == 0)
        goto out;
    rc = store_email_lookup(t, team_id, r->dedupe_key.data, r->dedupe_key.len,
                            &idx);
    if (rc == SW_ENOTFOUND) {
        rc = SW_OK;
        goto out;
    }
    if (rc || strcmp(idx, email_id) != 0)
        goto out; /* an error, or another email's entry */
    rc = store_key(&k, team_id, r->dedupe_key.data, r->dedupe_key.len);
    if (rc == SW_OK)
        rc = store_del(t, STORE_DB_EMAIL_IDS, sw_buf_str(&k), sw_buf_len(&k));
out:
    sw_free(idx);
    store__msg_free(m);
    sw_buf_free(&k);
    return rc;
}

/* store_erase_uses drops the email from the content-use index and notes
 * the items it carried. */
static SW_MUST_CHECK sw_err store_erase_uses(store_txn *t,
                                             struct store_erase_one *o,
                                             const struct store_email *em)
{
    struct sw_buf k;
    size_t i;
    int in = o->address && em->direction == STORE_DIR_INBOUND &&
             strcmp(em->from_email, o->address) == 0;
    sw_err rc = SW_OK;

    sw_buf_init(&k, STORE_KEYBUF_MAX);
    for (i = 0; rc == SW_OK && i < em->n_contents; i++) {
        const char *cid = em->contents[i].content_id;

        rc = store_mail__use_key(&k, o->team_id, cid, o->email_id);
        if (rc == SW_OK) {
            rc = store_del(t, STORE_DB_CONTENT_USE, sw_buf_str(&k),
                           sw_buf_len(&k));
            if (rc == SW_ENOTFOUND)
                rc = SW_OK;
        }
        if (rc == SW_OK)
            rc = store_erase_ids_add(&o->contents, cid, 1);
        if (rc == SW_OK && in)
            rc = store_erase_ids_add(&o->inbound, cid, 1);
    }
    sw_buf_free(&k);
    return rc;
}

/* store_erase_snippet redacts a framing of the email; a key passage of a
 * content item only loses its link to the email (the item may stay). */
static SW_MUST_CHECK sw_err store_erase_snippet(store_txn *t,
                                                struct store_erase_one *o,
                                                const char *snippet_id)
{
    struct store_snippet sn;
    sw_err rc;

    memset(&sn, 0, sizeof(sn));
    rc = store_snippet_get_txn(t, o->team_id, snippet_id, &sn);
    if (rc == SW_ENOTFOUND ||
        (rc == SW_OK &&
         (sn.deleted || strcmp(sn.email_id, o->email_id) != 0))) {
        rc = SW_OK; /* gone or changed since the plan */
    } else if (rc == SW_OK &&
               (sn.kind == STORE_SNIPPET_FRAMING || !sn.content_id[0])) {
        rc = store_snippet_redact_txn(t, o->team_id, snippet_id);
        if (rc == SW_OK)
            rc = store_erase_ids_add(&o->redacted, snippet_id, 0);
    } else if (rc == SW_OK) {
        sn.email_id[0] = '\0'; /* and its thread, which may go too */
        sn.thread_id[0] = '\0';
        rc = store_snippet_put(t, &sn);
    }
    store_snippet_clear(&sn);
    return rc;
}

/* The outcomes of a thread to delete: those derived from email_id, or all
 * of them when email_id is NULL. */
struct store_erase_oc {
    const char *email_id;
    uint64_t *seqs;
    struct store_erase_ids keys;
};

static SW_MUST_CHECK sw_err store_erase_oc_cb(const struct store_outcome *oc,
                                              void *arg)
{
    struct store_erase_oc *a = arg;
    uint64_t *nv;
    sw_err rc;

    if (a->email_id && strcmp(oc->email_id, a->email_id) != 0)
        return SW_OK;
    rc = store_erase_ids_add(&a->keys, oc->idem_key, 0);
    if (rc)
        return rc;
    nv = sw_realloc(a->seqs, a->keys.n * sizeof(*nv));
    if (nv == NULL)
        return SW_ENOMEM;
    a->seqs = nv;
    nv[a->keys.n - 1] = oc->seq;
    return SW_OK;
}

static SW_MUST_CHECK sw_err store_erase_outcomes(store_txn *t,
                                                 const char *team_id,
                                                 const char *thread_id,
                                                 const char *email_id,
                                                 size_t *n)
{
    struct store_erase_oc a;
    size_t i;
    sw_err rc;

    memset(&a, 0, sizeof(a));
    a.email_id = email_id;
    rc = store_outcome_scan(t, team_id, thread_id, store_erase_oc_cb, &a);
    for (i = 0; rc == SW_OK && i < a.keys.n; i++)
        rc = store_erase__outcome_del(t, team_id, a.seqs[i], a.keys.v[i]);
    if (rc == SW_OK)
        *n += a.keys.n;
    sw_free(a.seqs);
    store_erase_ids_free(&a.keys);
    return rc;
}

/* --- The thread of an erased email ------------------------------------------
 */

static SW_MUST_CHECK sw_err store_erase_thread_del(
    store_txn *t, struct store_erase_one *o, const struct store_thread *th)
{
    sw_err rc = store_mail__thread_del(t, th);

    if (rc == SW_OK) /* the outcomes recorded on it go with it */
        rc = store_erase_outcomes(t, o->team_id, th->thread_id, NULL,
                                  &o->outcomes);
    if (rc == SW_OK)
        o->threads++;
    return rc;
}

static SW_MUST_CHECK sw_err store_erase_addr_add(struct store_erase_ids *l,
                                                 const char *email)
{
    if (email == NULL || !email[0] || strchr(email, '@') == NULL)
        return SW_OK;
    return store_erase_ids_add(l, email, 1);
}

/* store_erase_refs adds the Message-IDs e has or references to l. */
static SW_MUST_CHECK sw_err store_erase_refs(struct store_erase_ids *l,
                                             const struct store_email *e)
{
    sw_err rc = SW_OK;
    size_t i;

    if (e->message_id && e->message_id[0])
        rc = store_erase_ids_add(l, e->message_id, 1);
    if (rc == SW_OK && e->in_reply_to && e->in_reply_to[0])
        rc = store_erase_ids_add(l, e->in_reply_to, 1);
    for (i = 0; rc == SW_OK && i < e->n_references; i++)
        if (e->references[i] && e->references[i][0])
            rc = store_erase_ids_add(l, e->references[i], 1);
    return rc;
}

/* store_erase_thread_rebuild recomputes what the thread's remaining emails
 * make of it, in arrival order, as ingest built it: participants (from, to,
 * cc), reps and first and last times; refs gains their Message-IDs. */
static SW_MUST_CHECK sw_err store_erase_thread_rebuild(
    store_txn *t, const char *team_id, struct store_thread *th,
    struct store_erase_ids *refs)
{
    struct store_erase_ids parts = {0}, reps = {0};
    struct store_email em;
    size_t i, j;
    int64_t eff;
    sw_err rc = SW_OK;

    th->first_ms = INT64_MAX;
    th->last_ms = INT64_MIN;
    for (i = 0; rc == SW_OK && i < th->n_emails; i++) {
        memset(&em, 0, sizeof(em));
        rc = store_email_get_txn(t, team_id, th->email_ids[i], &em);
        if (rc == SW_OK)
            rc = store_erase_addr_add(&parts, em.from_email);
        for (j = 0; rc == SW_OK && j < em.n_to; j++)
            rc = store_erase_addr_add(&parts, em.to[j].email);
        for (j = 0; rc == SW_OK && j < em.n_cc; j++)
            rc = store_erase_addr_add(&parts, em.cc[j].email);
        if (rc == SW_OK && em.rep_email[0])
            rc = store_erase_ids_add(&reps, em.rep_email, 1);
        if (rc == SW_OK)
            rc = store_erase_refs(refs, &em);
        eff = em.sent_ms > 0 ? em.sent_ms : em.ingest_ms;
        if (rc == SW_OK && eff < th->first_ms)
            th->first_ms = eff;
        if (rc == SW_OK && eff > th->last_ms)
            th->last_ms = eff;
        store_email_clear(&em);
    }
    if (rc == SW_OK) {
        store_strv_free(th->participants, th->n_participants);
        store_strv_free(th->rep_emails, th->n_rep_emails);
        th->participants = parts.v;
        th->n_participants = parts.n;
        th->rep_emails = reps.v;
        th->n_rep_emails = reps.n;
        return SW_OK;
    }
    store_erase_ids_free(&parts);
    store_erase_ids_free(&reps);
    return rc;
}

/* store_erase_from_thread takes the email em out of its thread: the thread
 * is rebuilt from the emails left, or deleted when none is; the thread's
 * entries for the Message-IDs em had or referenced go, but for those an
 * email left has or references too. */
static SW_MUST_CHECK sw_err store_erase_from_thread(
    store_txn *t, struct store_erase_one *o, const struct store_email *em)
{
    struct store_erase_ids mine = {0}, kept = {0};
    struct store_thread th;
    size_t i, n = 0;
    int found = 0;
    sw_err rc;

    memset(&th, 0, sizeof(th));
    rc = store_erase_refs(&mine, em);
    if (rc == SW_OK) {
        rc = store_thread_get_txn(t, o->team_id, em->thread_id, &th);
        found = rc == SW_OK;
        if (rc == SW_ENOTFOUND)
            rc = SW_OK; /* no thread: nothing left keeps an entry */
    }
    for (i = 0; found && i < th.n_emails; i++) {
        if (strcmp(th.email_ids[i], o->email_id) == 0)
            sw_free(th.email_ids[i]);
        else
            th.email_ids[n++] = th.email_ids[i];
    }
    th.n_emails = n;
    if (rc == SW_OK && found && n == 0)
        rc = store_erase_thread_del(t, o, &th);
    else if (rc == SW_OK && found)
        rc = store_erase_thread_rebuild(t, o->team_id, &th, &kept);
    if (rc == SW_OK && n > 0)
        rc = store_thread_put(t, &th);
    for (i = 0; rc == SW_OK && i < mine.n; i++)
        if (!store_erase_ids_has(&kept, mine.v[i]))
            rc = store_thread_ref_del(t, o->team_id, mine.v[i], em->thread_id);
    store_erase_ids_free(&mine);
    store_erase_ids_free(&kept);
    store_thread_clear(&th);
    return rc;
}

/* store_erase_new_snippets redacts the email's snippets written since the
 * plan was made: an extraction that committed between the plan's read and
 * this transaction (its job was still queued then) would otherwise leave
 * a snippet naming an email that no longer exists. The feed since the
 * plan is short: only what was written meanwhile. */
static SW_MUST_CHECK sw_err store_erase_new_snippets(store_txn *t,
                                                     struct store_erase_one *o)
{
    struct store_snippet sn;
    struct sw_buf ids;
    size_t off;
    sw_err rc;

    sw_buf_init(&ids, (size_t)1 << 30);
    rc = store_snippet_ids_since_txn(t, o->team_id, o->plan->snip_seq, &ids);
    for (off = 0; rc == SW_OK && off < sw_buf_len(&ids);) {
        const char *id = sw_buf_str(&ids) + off;
        int mine;

        off += strlen(id) + 1;
        memset(&sn, 0, sizeof(sn));
        rc = store_snippet_get_txn(t, o->team_id, id, &sn);
        if (rc == SW_ENOTFOUND) {
            rc = SW_OK;
            continue;
        }
        mine = rc == SW_OK && !sn.deleted && sn.email_id &&
               strcmp(sn.email_id, o->email_id) == 0 &&
               !store_erase_ids_has(&o->redacted, id);
        store_snippet_clear(&sn);
        if (mine)
            rc = store_erase_snippet(t, o, id);
    }
    sw_buf_free(&ids);
    return rc;
}

static SW_MUST_CHECK sw_err store_erase_one_txn(store_txn *t, void *arg)
{
    struct store_erase_one *o = arg;
    const struct store_erase_plan *p = o->plan;
    struct store_email em;
    uint64_t seq;
    size_t i;
    sw_err rc;

    store_erase_one_reset(o);
    memset(&em, 0, sizeof(em));
    rc = store_email_get_txn(t, o->team_id, o->email_id, &em);
    if (rc == SW_ENOTFOUND) /* erased meanwhile */
        return SW_OK;
    o->found = rc == SW_OK;
    if (rc == SW_OK)
        rc = store_erase_record(t, o->team_id, o->email_id);
    if (rc == SW_OK)
        rc = store_erase_uses(t, o, &em);
    for (i = 0; rc == SW_OK && i < p->snips.n; i++)
        if (strcmp(p->owners.v[i], o->email_id) == 0)
            rc = store_erase_snippet(t, o, p->snips.v[i]);
    if (rc == SW_OK)
        rc = store_erase_new_snippets(t, o);
    if (rc == SW_OK)
        rc = store_erase_outcomes(t, o->team_id, em.thread_id, o->email_id,
                                  &o->outcomes);
    if (rc == SW_OK)
        rc = store_job_drop_email(t, o->team_id, o->email_id, NULL);
    if (rc == SW_OK)
        rc = store_llm_forget_txn(t, o->team_id, o->email_id, &o->journal);
    if (rc == SW_OK)
        rc = store_erase_from_thread(t, o, &em);
    if (rc == SW_OK)
        rc = store_seq_next(t, o->team_id, STORE_ERASE_SEQ, &seq);
    store_email_clear(&em);
    return rc;
}

/* --- Running a plan ---------------------------------------------------------
 */

static void (*store_erase_after_plan)(void *);
static void *store_erase_after_plan_arg;

void store_erase_set_plan_hook(void (*fn)(void *arg), void *arg)
{
    store_erase_after_plan = fn;
    store_erase_after_plan_arg = arg;
}

static SW_MUST_CHECK sw_err store_erase_merge(struct store_erase_counts *out,
                                              struct store_erase_ids *ids)
{
    char **nv;
    size_t i;

    if (ids->n == 0)
        return SW_OK;
    nv = sw_realloc(out->snippet_ids, (out->n_snippets + ids->n) * sizeof(*nv));
    if (nv == NULL)
        return SW_ENOMEM;
    out->snippet_ids = nv;
    for (i = 0; i < ids->n; i++)
        nv[out->n_snippets++] = ids->v[i]; /* moved */
    sw_free(ids->v);
    memset(ids, 0, sizeof(*ids));
    return SW_OK;
}

struct store_erase_unused {
    const char *team_id, *content_id;
    int used;
};

static SW_MUST_CHECK sw_err store_erase_unused_cb(const void *k, size_t kl,
                                                  const void *v, size_t vl,
                                                  void *arg)
{
    (void)k;
    (void)kl;
    (void)v;
    (void)vl;
    ((struct store_erase_unused *)arg)->used = 1;
    return STORE_SCAN_STOP;
}

static SW_MUST_CHECK sw_err store_erase_unused_txn(store_txn *t, void *arg)
{
    struct store_erase_unused *u = arg;
    struct sw_buf k;
    sw_err rc;

    sw_buf_init(&k, STORE_KEYBUF_MAX);
    u->used = 0;
    rc = store_key(&k, u->team_id, u->content_id, strlen(u->content_id) + 1);
    if (rc == SW_OK)
        rc = store_scan(t, STORE_DB_CONTENT_USE, sw_buf_str(&k), sw_buf_len(&k),
                        NULL, 0, store_erase_unused_cb, u);
    sw_buf_free(&k);
    return rc;
}

/* store_erase_contents deletes the items of ids that no email carries. */
static SW_MUST_CHECK sw_err store_erase_contents(store *s, const char *team_id,
                                                 struct store_erase_ids *ids,
                                                 struct store_erase_counts *out)
{
    struct store_erase_counts one;
    struct store_erase_unused u;
    struct store_erase_ids moved;
    size_t i;
    sw_err rc = SW_OK;

    for (i = 0; rc == SW_OK && i < ids->n; i++) {
        u.team_id = team_id;
        u.content_id = ids->v[i];
        rc = store_view(s, store_erase_unused_txn, &u);
        if (rc || u.used)
            continue;
        rc = store_content_erase(s, team_id, ids->v[i], &one);
        if (rc == SW_ENOTFOUND) { /* deleted meanwhile */
            store_erase_counts_clear(&one);
            rc = SW_OK;
            continue;
        }
        moved.v = one.snippet_ids;
        moved.n = moved.cap = one.n_snippets;
        one.snippet_ids = NULL;
        one.n_snippets = 0;
        out->contents += rc == SW_OK;
        out->library_bytes += rc == SW_OK ? one.library_bytes : 0;
        if (rc == SW_OK)
            rc = store_erase_merge(out, &moved);
        store_erase_ids_free(&moved);
        store_erase_counts_clear(&one);
    }
    return rc;
}

/* store_erase_run erases the planned emails one transaction each and then,
 * per mode, the content items they leave unused. */
static SW_MUST_CHECK sw_err store_erase_run(store *s,
                                            struct store_erase_plan *p,
                                            const char *address,
                                            enum store_erase_content_mode mode,
                                            struct store_erase_counts *out)
{
    struct store_erase_ids left = {0};
    struct store_erase_one o;
    size_t i, j;
    sw_err rc;

    if (p->emails.n == 0)
        return SW_OK; /* nothing to erase (a contact without mail) */
    qsort(p->emails.v, p->emails.n, sizeof(char *), store_erase_cmp);
    /* Jobs first would not help: a worker's commit re-checks its job, and
     * each email's transaction drops the email's jobs. */
    rc = store_view(s, store_erase_plan_txn, p);
    if (rc == SW_OK && store_erase_after_plan != NULL)
        store_erase_after_plan(store_erase_after_plan_arg);
    memset(&o, 0, sizeof(o));
    o.team_id = p->team_id;
    o.address = address;
    o.plan = p;
    for (i = 0; rc == SW_OK && i < p->emails.n; i++) {
        o.email_id = p->emails.v[i];
        rc = store_update(s, store_erase_one_txn, &o);
        if (rc)
            break;
        out->emails += (size_t)o.found;
        out->threads += o.threads;
        out->outcomes += o.outcomes;
        out->journal += o.journal;
        rc = store_erase_merge(out, &o.redacted);
        /* KEEP: nothing; UNUSED: every item carried; a contact: those its
         * own mail brought in. */
        for (j = 0; rc == SW_OK && mode == STORE_ERASE_UNUSED_CONTENT &&
                    j < o.contents.n;
             j++)
            rc = store_erase_ids_add(&left, o.contents.v[j], 1);
        for (j = 0; rc == SW_OK && address && j < o.inbound.n; j++)
            rc = store_erase_ids_add(&left, o.inbound.v[j], 1);
    }
    store_erase_one_reset(&o);
    if (rc == SW_OK)
        rc = store_erase_contents(s, p->team_id, &left, out);
    store_erase_ids_free(&left);
    return rc;
}

/* --- The three entry points -------------------------------------------------
 */

struct store_erase_get {
    const char *team_id, *id;
    struct store_thread th;
};

static SW_MUST_CHECK sw_err store_erase_email_exists(store_txn *t, void *arg)
{
    struct store_erase_get *g = arg;
    struct store_email em;
    sw_err rc;

    memset(&em, 0, sizeof(em));
    rc = store_email_get_txn(t, g->team_id, g->id, &em);
    store_email_clear(&em);
    return rc;
}

sw_err store_email_erase(store *s, const char *team_id, const char *email_id,
                         enum store_erase_content_mode content,
                         struct store_erase_counts *out)
{
    struct store_erase_plan p;
    struct store_erase_get g = {team_id, email_id, {0}};
    sw_err rc;

    if (out)
        memset(out, 0, sizeof(*out));
    if (s == NULL || team_id == NULL || !team_id[0] || email_id == NULL ||
        !email_id[0] || out == NULL)
        return SW_EINVAL;
    rc = store_view(s, store_erase_email_exists, &g);
    if (rc)
        return rc;
    memset(&p, 0, sizeof(p));
    p.team_id = team_id;
    rc = store_erase_ids_add(&p.emails, email_id, 0);
    if (rc == SW_OK)
        rc = store_erase_run(s, &p, NULL, content, out);
    store_erase_plan_free(&p);
    return rc;
}

static SW_MUST_CHECK sw_err store_erase_thread_get(store_txn *t, void *arg)
{
    struct store_erase_get *g = arg;

    store_thread_clear(&g->th);
    return store_thread_get_txn(t, g->team_id, g->id, &g->th);
}

sw_err store_thread_erase(store *s, const char *team_id, const char *thread_id,
                          enum store_erase_content_mode content,
                          struct store_erase_counts *out)
{
    struct store_erase_get g = {team_id, thread_id, {0}};
    struct store_erase_plan p;
    size_t i;
    int round;
    sw_err rc = SW_OK;

    if (out)
        memset(out, 0, sizeof(*out));
    if (s == NULL || team_id == NULL || !team_id[0] || thread_id == NULL ||
        !thread_id[0] || out == NULL)
        return SW_EINVAL;
    for (round = 0;; round++) {
        rc = store_view(s, store_erase_thread_get, &g);
        if (rc == SW_ENOTFOUND && round > 0)
            rc = SW_OK; /* its last email took it */
        if (rc || g.th.thread_id == NULL)
            break;
        if (g.th.n_emails == 0 || round == STORE_ERASE_THREAD_ROUNDS) {
            /* A thread without mail is damage for `snipd check` to report;
             * mail that keeps arriving: the caller may try again. */
            rc = g.th.n_emails == 0 ? SW_ECORRUPT : SW_EABORTED;
            break;
        }
        memset(&p, 0, sizeof(p));
        p.team_id = team_id;
        for (i = 0; rc == SW_OK && i < g.th.n_emails; i++)
            rc = store_erase_ids_add(&p.emails, g.th.email_ids[i], 1);
        if (rc == SW_OK)
            rc = store_erase_run(s, &p, NULL, content, out);
        store_erase_plan_free(&p);
        store_thread_clear(&g.th);
        memset(&g.th, 0, sizeof(g.th));
        if (rc)
            break;
    }
    store_thread_clear(&g.th);
    return rc;
}

/* The emails of an address: from, to or cc. */
struct store_erase_find_addr {
    const char *address;
    struct store_erase_ids *emails;
};

static int store_erase_names(const struct store_email *e, const char *a)
{
    size_t i;

    if (strcmp(e->from_email, a) == 0)
        return 1;
    for (i = 0; i < e->n_to; i++)
        if (strcmp(e->to[i].email, a) == 0)
            return 1;
    for (i = 0; i < e->n_cc; i++)
        if (strcmp(e->cc[i].email, a) == 0)
            return 1;
    return 0;
}

static SW_MUST_CHECK sw_err store_erase_addr_cb(const struct store_email *e,
                                                void *arg)
{
    struct store_erase_find_addr *f = arg;

    return store_erase_names(e, f->address)
               ? store_erase_ids_add(f->emails, e->email_id, 0)
               : SW_OK;
}

struct store_erase_contact {
    const char *team_id;
    struct store_erase_find_addr find;
};

static SW_MUST_CHECK sw_err store_erase_contact_txn(store_txn *t, void *arg)
{
    struct store_erase_contact *c = arg;

    store_erase_ids_free(c->find.emails); /* a retried view */
    return store_hist_emails(t, c->team_id, store_erase_addr_cb, &c->find);
}

sw_err store_contact_erase(store *s, const char *team_id, const char *address,
                           struct store_erase_counts *out)
{
    struct store_erase_contact c;
    struct store_erase_plan p;
    char lower[STORE_ERASE_ADDRESS_MAX + 1];
    size_t i, n;
    sw_err rc;

    if (out)
        memset(out, 0, sizeof(*out));
    if (s == NULL || team_id == NULL || !team_id[0] || address == NULL ||
        out == NULL)
        return SW_EINVAL;
    n = strlen(address);
    if (n == 0 || n > STORE_ERASE_ADDRESS_MAX)
        return SW_EINVAL;
    for (i = 0; i <= n; i++) /* addresses are stored lowercased */
        lower[i] = address[i] >= 'A' && address[i] <= 'Z'
                       ? (char)(address[i] - 'A' + 'a')
                       : address[i];
    memset(&p, 0, sizeof(p));
    p.team_id = team_id;
    c.team_id = team_id;
    c.find.address = lower;
    c.find.emails = &p.emails;
    rc = store_view(s, store_erase_contact_txn, &c);
    if (rc == SW_OK)
        rc = store_erase_run(s, &p, lower, STORE_ERASE_KEEP_CONTENT, out);
    store_erase_plan_free(&p);
    return rc;
}
