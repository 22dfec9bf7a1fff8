/* store_mail_check: `snipd check`'s verification of the mail databases and
 * the job queue (store_mail_check in store_mail.h). One read transaction,
 * so the check sees one consistent snapshot even while snipd writes. */
#include <stdio.h>
#include <string.h>

#include "base/sw_mem.h"
#include "store/mail_records.pb-c.h"
#include "store/store_hist.h"
#include "store/store_int.h"
#include "store/store_job.h"
#include "store/store_library.h"
#include "store/store_mail.h"
#include "store/store_mail_int.h"
#include "store/store_outcome.h"
#include "store/store_snippet.h"

#define STORE_CHECK_REPORT_MAX 200 /* violations listed; all are counted */

struct store_check {
    store_txn *t;
    struct sw_buf *report;
    size_t violations;
    size_t emails, threads, contents, jobs, stale_jobs, index_entries;
    size_t thread_refs; /* of the index entries, Message-ID → thread */
    struct sw_buf k;
    char team[128];
};

static void store_check_fail(struct store_check *c, const char *fmt,
                             const char *a, const char *b)
{
    c->violations++;
    if (c->violations > STORE_CHECK_REPORT_MAX || c->report == NULL)
        return;
    /* A report line that does not fit is cut; the count stays right. */
    if (sw_buf_printf(c->report, fmt, a ? a : "", b ? b : "") == SW_OK &&
        sw_buf_addc(c->report, '\n') == SW_OK)
        return;
}

/* store_check_team copies the team id at the start of key k into c->team.
 * Returns the length of the prefix (team and NUL), or 0 if malformed. */
static size_t store_check_team(struct store_check *c, const void *k, size_t kl)
{
    const char *nul = memchr(k, '\0', kl);
    size_t n;

    if (nul == NULL)
        return 0;
    n = (size_t)(nul - (const char *)k);
    if (n == 0 || n >= sizeof(c->team))
        return 0;
    memcpy(c->team, k, n);
    c->team[n] = '\0';
    return n + 1;
}

static int store_check_exists(struct store_check *c, enum store_db db,
                              const char *team, const char *id)
{
    const void *v;
    size_t vl;

    if (store_mail__id_key(&c->k, team, id) != SW_OK)
        return 0;
    return store_get(c->t, db, sw_buf_str(&c->k), sw_buf_len(&c->k), &v, &vl) ==
           SW_OK;
}

static uint64_t store_check_seq(struct store_check *c, const char *team,
                                const char *name)
{
    uint64_t v = 0;

    if (store_seq_peek(c->t, team, name, &v) != SW_OK)
        return 0;
    return v;
}

/* store_check_email_ref: a Message-ID that email e has or references
 * belongs to e's thread. No entry (mail stored before the index) is fine;
 * an entry naming another live thread means two threads that one email
 * links were not merged. */
static SW_MUST_CHECK sw_err store_check_email_ref(struct store_check *c,
                                                  const struct store_email *e,
                                                  const char *msgid)
{
    char *tid = NULL;
    sw_err rc;

    if (msgid == NULL || msgid[0] == '\0')
        return SW_OK;
    rc = store_thread_by_ref(c->t, c->team, msgid, &tid);
    if (rc == SW_OK && strcmp(tid, e->thread_id) != 0)
        store_check_fail(c, "email %s: a Message-ID it names belongs to %s",
                         e->email_id, tid);
    sw_free(tid);
    return rc == SW_ENOTFOUND || rc == SW_ECORRUPT ? SW_OK : rc;
}

static SW_MUST_CHECK sw_err store_check_email_refs(struct store_check *c,
                                                   const struct store_email *e)
{
    size_t i;
    sw_err rc;

    rc = store_check_email_ref(c, e, e->message_id);
    if (rc == SW_OK)
        rc = store_check_email_ref(c, e, e->in_reply_to);
    for (i = 0; rc == SW_OK && i < e->n_references; i++)
        rc = store_check_email_ref(c, e, e->references[i]);
    return rc;
}

static SW_MUST_CHECK sw_err store_check_email(const void *k, size_t kl,
                                              const void *v, size_t vl,
                                              void *arg)
{
    struct store_check *c = arg;
    struct store_email e;
    struct store_thread th;
    Snipwise__Store__EmailRecord *r = NULL;
    ProtobufCMessage *m = NULL;
    char *idx = NULL;
    size_t i, found = 0;
    sw_err rc;

    memset(&e, 0, sizeof(e));
    memset(&th, 0, sizeof(th));
    c->emails++;
    if (store_check_team(c, k, kl) == 0) {
        store_check_fail(c, "email key is malformed%s%s", NULL, NULL);
        return SW_OK;
    }
    rc = store_mail__email_dec(c->team, v, vl, &e);
    if (rc == SW_ECORRUPT) {
        store_check_fail(c, "email record of team %s does not decode%s",
                         c->team, NULL);
        return SW_OK;
    }
    if (rc)
        return rc;
    rc = store__unpack(&snipwise__store__email_record__descriptor, v, vl, &m);
    if (rc)
        goto out;
    r = (Snipwise__Store__EmailRecord *)m;
    rc = store_thread_get_txn(c->t, c->team, e.thread_id, &th);
    if (rc == SW_ENOTFOUND || rc == SW_EINVAL || rc == SW_ECORRUPT) {
        store_check_fail(c, "email %s: its thread %s does not exist",
                         e.email_id, e.thread_id);
        rc = SW_OK;
    } else if (rc) {
        goto out;
    } else {
        for (i = 0; i < th.n_emails; i++)
            found += strcmp(th.email_ids[i], e.email_id) == 0;
        if (found != 1)
            store_check_fail(c, "email %s: thread %s does not list it once",
                             e.email_id, e.thread_id);
    }
    for (i = 0; i < e.n_contents; i++) {
        if (!store_check_exists(c, STORE_DB_CONTENTS, c->team,
                                e.contents[i].content_id))
            store_check_fail(c, "email %s: content %s does not exist",
                             e.email_id, e.contents[i].content_id);
    }
    rc = r->dedupe_key.len
             ? store_email_lookup(c->t, c->team, r->dedupe_key.data,
                                  r->dedupe_key.len, &idx)
             : SW_ENOTFOUND;
    if (rc == SW_OK && strcmp(idx, e.email_id) != 0)
        store_check_fail(c, "email %s: its dedupe key points to %s", e.email_id,
                         idx);
    else if (rc == SW_ENOTFOUND)
        store_check_fail(c, "email %s: its dedupe key is not indexed%s",
                         e.email_id, NULL);
    else if (rc)
        goto out;
    rc = SW_OK;
    if (e.seq == 0 || e.seq > store_check_seq(c, c->team, "email"))
        store_check_fail(c, "email %s: sequence number beyond the counter%s",
                         e.email_id, NULL);
    rc = store_check_email_refs(c, &e);
out:
    sw_free(idx);
    store__msg_free(m);
    store_email_clear(&e);
    store_thread_clear(&th);
    return rc;
}

static SW_MUST_CHECK sw_err store_check_thread(const void *k, size_t kl,
                                               const void *v, size_t vl,
                                               void *arg)
{
    struct store_check *c = arg;
    struct store_thread th;
    struct store_email e;
    const void *x;
    size_t i, xl;
    sw_err rc;

    memset(&th, 0, sizeof(th));
    c->threads++;
    if (store_check_team(c, k, kl) == 0) {
        store_check_fail(c, "thread key is malformed%s%s", NULL, NULL);
        return SW_OK;
    }
    rc = store_mail__thread_dec(c->team, v, vl, &th);
    if (rc == SW_ECORRUPT) {
        store_check_fail(c, "thread record of team %s does not decode%s",
                         c->team, NULL);
        return SW_OK;
    }
    if (rc)
        return rc;
    if (th.n_emails == 0)
        store_check_fail(c, "thread %s has no emails%s", th.thread_id, NULL);
    for (i = 0; i < th.n_emails; i++) {
        memset(&e, 0, sizeof(e));
        rc = store_email_get_txn(c->t, c->team, th.email_ids[i], &e);
        if (rc == SW_OK && strcmp(e.thread_id, th.thread_id) != 0)
            store_check_fail(c, "thread %s lists email %s of another thread",
                             th.thread_id, th.email_ids[i]);
        else if (rc == SW_ENOTFOUND || rc == SW_ECORRUPT || rc == SW_EINVAL)
            store_check_fail(c, "thread %s: its email %s does not exist",
                             th.thread_id, th.email_ids[i]);
        store_email_clear(&e);
        if (rc && rc != SW_ENOTFOUND && rc != SW_ECORRUPT && rc != SW_EINVAL)
            goto out;
    }
    rc = store_mail__recent_key(&c->k, c->team, th.last_ms, th.thread_id);
    if (rc)
        goto out;
    if (store_get(c->t, STORE_DB_THREAD_RECENT, sw_buf_str(&c->k),
                  sw_buf_len(&c->k), &x, &xl) != SW_OK)
        store_check_fail(c, "thread %s is missing from the recency index%s",
                         th.thread_id, NULL);
    if (th.seq == 0 || th.seq > store_check_seq(c, c->team, "thread"))
        store_check_fail(c, "thread %s: sequence number beyond the counter%s",
                         th.thread_id, NULL);
out:
    store_thread_clear(&th);
    return rc;
}

/* store_check_file: a kept file has every chunk its size calls for, each
 * full but the last, and no more. */
static SW_MUST_CHECK sw_err store_check_file(struct store_check *c,
                                             const struct store_content *ct)
{
    uint32_t n = ct->size_bytes <= 0
                     ? 1
                     : (uint32_t)((ct->size_bytes + STORE_LIBRARY_CHUNK - 1) /
                                  STORE_LIBRARY_CHUNK),
             i;
    int64_t total = 0;
    struct sw_buf b;
    sw_err rc = SW_OK;

    sw_buf_init(&b, STORE_LIBRARY_CHUNK);
    for (i = 0; i <= n && rc == SW_OK; i++) {
        rc = store_library_read(c->t, c->team, ct->sha256, i, &b);
        if (i == n) {
            if (rc == SW_OK)
                store_check_fail(c,
                                 "content %s: its file has more chunks than "
                                 "its size%s",
                                 ct->content_id, NULL);
            rc = rc == SW_ENOTFOUND ? SW_OK : rc;
            break;
        }
        if (rc == SW_ENOTFOUND) {
            store_check_fail(c,
                             "content %s: its kept file is missing or cut "
                             "short%s",
                             ct->content_id, NULL);
            rc = SW_OK;
            break;
        }
        total += (int64_t)sw_buf_len(&b);
    }
    if (rc == SW_OK && i == n && total != ct->size_bytes)
        store_check_fail(c,
                         "content %s: its kept file's size differs from "
                         "the record%s",
                         ct->content_id, NULL);
    sw_buf_free(&b);
    return rc;
}

static SW_MUST_CHECK sw_err store_check_content(const void *k, size_t kl,
                                                const void *v, size_t vl,
                                                void *arg)
{
    struct store_check *c = arg;
    struct store_content ct;
    char *id = NULL;
    sw_err rc;

    c->contents++;
    if (store_check_team(c, k, kl) == 0) {
        store_check_fail(c, "content key is malformed%s%s", NULL, NULL);
        return SW_OK;
    }
    rc = store_mail__content_dec(c->team, v, vl, 0, &ct);
    if (rc == SW_ECORRUPT) {
        store_check_fail(c, "content record of team %s does not decode%s",
                         c->team, NULL);
        return SW_OK;
    }
    if (rc)
        return rc;
    rc = store_content_lookup(c->t, c->team, 'b', ct.sha256, &id);
    if (rc == SW_OK && strcmp(id, ct.content_id) != 0)
        store_check_fail(c, "content %s: its SHA-256 points to %s",
                         ct.content_id, id);
    else if (rc == SW_ENOTFOUND)
        store_check_fail(c, "content %s: its SHA-256 is not indexed%s",
                         ct.content_id, NULL);
    else if (rc)
        goto out;
    rc = SW_OK;
    if (ct.seq == 0 || ct.seq > store_check_seq(c, c->team, "content"))
        store_check_fail(c, "content %s: sequence number beyond the counter%s",
                         ct.content_id, NULL);
    if (ct.file_state == STORE_FILE_KEPT)
        rc = store_check_file(c, &ct);
out:
    sw_free(id);
    store_content_clear(&ct);
    return rc;
}

/* Index entries whose value is an id in rec_db. */
struct store_check_idx {
    struct store_check *c;
    enum store_db rec_db;
    const char *what;
    int recency; /* store_check_thread_idx: THREAD_RECENT, not _SUBJ */
};

static SW_MUST_CHECK sw_err store_check_index(const void *k, size_t kl,
                                              const void *v, size_t vl,
                                              void *arg)
{
    struct store_check_idx *x = arg;
    const char *key = k;
    size_t p;
    char id[160];

    x->c->index_entries++;
    p = store_check_team(x->c, k, kl);
    if (p == 0 || vl == 0 || vl >= sizeof(id)) {
        store_check_fail(x->c, "%s entry is malformed%s", x->what, NULL);
        return SW_OK;
    }
    memcpy(id, v, vl);
    id[vl] = '\0';
    /* A thread reference ("r:"/"R:" Message-ID → thread) may outlive its
     * thread after an erasure: lookups ignore it and the next email that
     * names the Message-ID replaces it. */
    if (x->rec_db == STORE_DB_EMAILS && kl > p + 1 &&
        (key[p] == 'r' || key[p] == 'R') && key[p + 1] == ':') {
        x->c->thread_refs++;
        if (strncmp(id, "th_", 3) != 0)
            store_check_fail(x->c, "thread reference names %s, not a thread%s",
                             id, NULL);
        return SW_OK;
    }
    if (!store_check_exists(x->c, x->rec_db, x->c->team, id))
        store_check_fail(x->c, "%s entry points to missing %s", x->what, id);
    return SW_OK;
}

/* CONTENT_USE keys are team\0content_id\0email_id. */
static SW_MUST_CHECK sw_err store_check_use(const void *k, size_t kl,
                                            const void *v, size_t vl, void *arg)
{
    struct store_check *c = arg;
    char rest[400];
    size_t p = store_check_team(c, k, kl);
    const char *sep;

    (void)v;
    (void)vl;
    c->index_entries++;
    if (p == 0 || kl - p >= sizeof(rest)) {
        store_check_fail(c, "content usage entry is malformed%s%s", NULL, NULL);
        return SW_OK;
    }
    memcpy(rest, (const char *)k + p, kl - p);
    rest[kl - p] = '\0';
    sep = memchr(rest, '\0', kl - p);
    if (sep == NULL || sep == rest + (kl - p)) {
        store_check_fail(c, "content usage entry is malformed%s%s", NULL, NULL);
        return SW_OK;
    }
    if (!store_check_exists(c, STORE_DB_CONTENTS, c->team, rest))
        store_check_fail(c, "usage of missing content %s by %s", rest, sep + 1);
    if (!store_check_exists(c, STORE_DB_EMAILS, c->team, sep + 1))
        store_check_fail(c, "content %s used by missing email %s", rest,
                         sep + 1);
    return SW_OK;
}

static SW_MUST_CHECK sw_err store_check_job(const void *k, size_t kl,
                                            const void *v, size_t vl, void *arg)
{
    struct store_check *c = arg;
    Snipwise__Store__JobRecord *r;
    ProtobufCMessage *m = NULL;
    const void *tv;
    size_t tvl;
    sw_err rc;
    char idbuf[32];

    c->jobs++;
    if (kl != 8) {
        store_check_fail(c, "job key is malformed%s%s", NULL, NULL);
        return SW_OK;
    }
    rc = store__unpack(&snipwise__store__job_record__descriptor, v, vl, &m);
    if (rc == SW_ECORRUPT) {
        store_check_fail(c, "job record does not decode%s%s", NULL, NULL);
        return SW_OK;
    }
    if (rc)
        return rc;
    r = (Snipwise__Store__JobRecord *)m;
    (void)snprintf(idbuf, sizeof(idbuf), "%llu",
                   (unsigned long long)store_u64_get(k));
    if (r->job_id != store_u64_get(k))
        store_check_fail(c, "job %s: record id differs from its key%s", idbuf,
                         NULL);
    if (r->job_id > store_check_seq(c, "", "job"))
        store_check_fail(c, "job %s: id beyond the job counter%s", idbuf, NULL);
    if (!r->team_id[0] || store_get(c->t, STORE_DB_TEAMS, r->team_id,
                                    strlen(r->team_id), &tv, &tvl) != SW_OK) {
        c->stale_jobs++; /* its team was deleted; store_job_next drops it */
        goto out;
    }
    if (!store_check_exists(c, STORE_DB_EMAILS, r->team_id, r->email_id))
        store_check_fail(c, "job %s: email %s does not exist", idbuf,
                         r->email_id);
    rc = store_key(&c->k, r->team_id, NULL, 0);
    if (rc == SW_OK)
        rc = store_key_add_u64(&c->k, r->job_id);
    if (rc)
        goto out;
    if (store_get(c->t, STORE_DB_JOB_TEAM, sw_buf_str(&c->k), sw_buf_len(&c->k),
                  &tv, &tvl) != SW_OK)
        store_check_fail(c, "job %s is missing from its team's index%s", idbuf,
                         NULL);
out:
    store__msg_free(m);
    return rc;
}

static SW_MUST_CHECK sw_err store_check_job_team(const void *k, size_t kl,
                                                 const void *v, size_t vl,
                                                 void *arg)
{
    struct store_check *c = arg;
    size_t p = store_check_team(c, k, kl);
    const void *x;
    size_t xl;

    (void)v;
    (void)vl;
    c->index_entries++;
    if (p == 0 || kl != p + 8) {
        store_check_fail(c, "job index entry is malformed%s%s", NULL, NULL);
        return SW_OK;
    }
    if (store_get(c->t, STORE_DB_JOBS, (const char *)k + p, 8, &x, &xl) !=
        SW_OK)
        store_check_fail(c, "team %s: indexed job is not queued%s", c->team,
                         NULL);
    return SW_OK;
}

/* --- What points at emails and threads ------------------------------------
 * Outcomes, snippets and the thread indexes name emails and threads by id:
 * an erasure (store_erase.h) must leave none of them dangling. */

static SW_MUST_CHECK sw_err store_check_outcome(const struct store_outcome *o,
                                                void *arg)
{
    struct store_check *c = arg;

    if (!store_check_exists(c, STORE_DB_THREADS, c->team, o->thread_id))
        store_check_fail(c, "outcome %s: its thread %s does not exist",
                         o->outcome_id, o->thread_id);
    if (o->email_id[0] &&
        !store_check_exists(c, STORE_DB_EMAILS, c->team, o->email_id))
        store_check_fail(c, "outcome %s: its email %s does not exist",
                         o->outcome_id, o->email_id);
    return SW_OK;
}

static SW_MUST_CHECK sw_err store_check_snippet(const struct store_snippet *s,
                                                void *arg)
{
    struct store_check *c = arg;

    if (s->deleted)
        return SW_OK;
    if (s->email_id[0] &&
        !store_check_exists(c, STORE_DB_EMAILS, c->team, s->email_id))
        store_check_fail(c, "snippet %s: its email %s does not exist",
                         s->snippet_id, s->email_id);
    if (s->thread_id[0] &&
        !store_check_exists(c, STORE_DB_THREADS, c->team, s->thread_id))
        store_check_fail(c, "snippet %s: its thread %s does not exist",
                         s->snippet_id, s->thread_id);
    return SW_OK;
}

/* THREAD_RECENT keys end with the thread id after 8 bytes of time;
 * THREAD_SUBJ keys after the subject key's NUL. */
static SW_MUST_CHECK sw_err store_check_thread_idx(const void *k, size_t kl,
                                                   const void *v, size_t vl,
                                                   void *arg)
{
    struct store_check_idx *x = arg;
    const char *key = k, *id;
    char buf[160];
    size_t p = store_check_team(x->c, k, kl), n;

    (void)v;
    (void)vl;
    x->c->index_entries++;
    if (p && x->recency)
        id = kl >= p + 8 ? key + p + 8 : NULL;
    else
        id = p ? memchr(key + p, '\0', kl - p) : NULL;
    if (id && !x->recency)
        id++;
    n = id ? kl - (size_t)(id - key) : 0;
    if (id == NULL || n == 0 || n >= sizeof(buf)) {
        store_check_fail(x->c, "%s entry is malformed%s", x->what, NULL);
        return SW_OK;
    }
    memcpy(buf, id, n);
    buf[n] = '\0';
    if (!store_check_exists(x->c, x->rec_db, x->c->team, buf))
        store_check_fail(x->c, "%s entry points to missing thread %s", x->what,
                         buf);
    return SW_OK;
}

static SW_MUST_CHECK sw_err store_check_team_refs(const void *k, size_t kl,
                                                  const void *v, size_t vl,
                                                  void *arg)
{
    struct store_check *c = arg;
    sw_err rc;

    (void)v;
    (void)vl;
    if (kl == 0 || kl >= sizeof(c->team) || memchr(k, '\0', kl))
        return SW_OK; /* store_check (store.h) reports bad team keys */
    memcpy(c->team, k, kl);
    c->team[kl] = '\0';
    rc = store_outcome_scan(c->t, c->team, NULL, store_check_outcome, c);
    if (rc == SW_OK)
        rc = store_hist_snippets(c->t, c->team, store_check_snippet, c);
    if (rc == SW_ECORRUPT) {
        store_check_fail(c, "team %s: an outcome or snippet does not decode%s",
                         c->team, NULL);
        rc = SW_OK;
    }
    return rc;
}

/* store_check_email_seq: a feed entry (team\0seq → email id) names an
 * email of the team whose record carries that seq. */
static sw_err store_check_email_seq(const void *k, size_t kl, const void *v,
                                    size_t vl, void *arg)
{
    struct store_check *c = arg;
    struct store_email e;
    char id[128];
    size_t p = store_check_team(c, k, kl);
    uint64_t seq = 0;
    size_t i;
    sw_err rc;

    c->index_entries++;
    if (p == 0 || kl != p + 8 || vl == 0 || vl >= sizeof(id)) {
        store_check_fail(c, "email feed entry is malformed%s%s", NULL, NULL);
        return SW_OK;
    }
    for (i = 0; i < 8; i++)
        seq = seq << 8 | ((const unsigned char *)k)[p + i];
    memcpy(id, v, vl);
    id[vl] = '\0';
    memset(&e, 0, sizeof(e));
    rc = store_email_get_txn(c->t, c->team, id, &e);
    if (rc == SW_ENOTFOUND || rc == SW_EINVAL || rc == SW_ECORRUPT) {
        store_check_fail(c, "email feed of team %s: email %s does not exist",
                         c->team, id);
        return SW_OK;
    }
    if (rc)
        return rc;
    if (e.seq != seq)
        store_check_fail(c, "email feed of team %s: email %s has another seq",
                         c->team, id);
    store_email_clear(&e);
    return SW_OK;
}

static SW_MUST_CHECK sw_err store_check_view(store_txn *t, void *arg)
{
    struct store_check *c = arg;
    struct store_check_idx ids = {c, STORE_DB_EMAILS, "Message-ID index", 0};
    struct store_check_idx hashes = {c, STORE_DB_CONTENTS, "content hash", 0};
    struct store_check_idx recent = {c, STORE_DB_THREADS, "thread recency", 1};
    struct store_check_idx subj = {c, STORE_DB_THREADS, "thread subject", 0};
    sw_err rc;

    c->t = t;
    rc = store_scan(t, STORE_DB_EMAILS, NULL, 0, NULL, 0, store_check_email, c);
    if (rc == SW_OK)
        rc = store_scan(t, STORE_DB_THREADS, NULL, 0, NULL, 0,
                        store_check_thread, c);
    if (rc == SW_OK)
        rc = store_scan(t, STORE_DB_CONTENTS, NULL, 0, NULL, 0,
                        store_check_content, c);
    if (rc == SW_OK)
        rc = store_scan(t, STORE_DB_EMAIL_IDS, NULL, 0, NULL, 0,
                        store_check_index, &ids);
    if (rc == SW_OK)
        rc = store_scan(t, STORE_DB_CONTENT_HASH, NULL, 0, NULL, 0,
                        store_check_index, &hashes);
    if (rc == SW_OK)
        rc = store_scan(t, STORE_DB_EMAIL_SEQ, NULL, 0, NULL, 0,
                        store_check_email_seq, c);
    if (rc == SW_OK)
        rc = store_scan(t, STORE_DB_CONTENT_USE, NULL, 0, NULL, 0,
                        store_check_use, c);
    if (rc == SW_OK)
        rc = store_scan(t, STORE_DB_JOBS, NULL, 0, NULL, 0, store_check_job, c);
    if (rc == SW_OK)
        rc = store_scan(t, STORE_DB_JOB_TEAM, NULL, 0, NULL, 0,
                        store_check_job_team, c);
    if (rc == SW_OK)
        rc = store_scan(t, STORE_DB_THREAD_RECENT, NULL, 0, NULL, 0,
                        store_check_thread_idx, &recent);
    if (rc == SW_OK)
        rc = store_scan(t, STORE_DB_THREAD_SUBJ, NULL, 0, NULL, 0,
                        store_check_thread_idx, &subj);
    if (rc == SW_OK)
        rc = store_scan(t, STORE_DB_TEAMS, NULL, 0, NULL, 0,
                        store_check_team_refs, c);
    return rc;
}

sw_err store_mail_check(store *s, struct sw_buf *report, size_t *violations,
                        struct sw_buf *summary)
{
    struct store_check c;
    sw_err rc;

    if (s == NULL || violations == NULL)
        return SW_EINVAL;
    memset(&c, 0, sizeof(c));
    c.report = report;
    sw_buf_init(&c.k, STORE_KEYBUF_MAX);
    rc = store_view(s, store_check_view, &c);
    sw_buf_free(&c.k);
    if (rc)
        return rc;
    if (c.violations > STORE_CHECK_REPORT_MAX && report)
        rc = sw_buf_printf(report, "... and %zu more\n",
                           c.violations - STORE_CHECK_REPORT_MAX);
    if (rc == SW_OK && summary)
        rc = sw_buf_printf(summary,
                           "%zu emails, %zu threads, %zu contents, %zu index "
                           "entries, %zu jobs (%zu of deleted teams), %zu "
                           "violations",
                           c.emails, c.threads, c.contents, c.index_entries,
                           c.jobs, c.stale_jobs, c.violations);
    *violations = c.violations;
    return rc;
}
