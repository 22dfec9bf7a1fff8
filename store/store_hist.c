/* store_hist: whole-team scans inside one transaction (see store_hist.h). */
#include "store/store_hist.h"

#include <string.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "store/snippet_records.pb-c.h"
#include "store/store_erase_int.h"
#include "store/store_mail_int.h"

#define STORE_HIST_KEY_MAX 512

struct store_hist_arg {
    const char *team_id;
    int what; /* 'e', 's', 'c' */
    void *fn;
    void *arg;
};

static sw_err store_hist_snippet_dec(const char *team_id, const void *v,
                                     size_t vl, store_hist_snippet_fn fn,
                                     void *arg)
{
    Snipwise__Store__SnippetRecord *r;
    struct store_snippet s;
    sw_err rc;

    r = snipwise__store__snippet_record__unpack(NULL, vl, v);
    if (r == NULL)
        return SW_ECORRUPT;
    memset(&s, 0, sizeof(s));
    s.snippet_id = r->snippet_id;
    s.team_id = (char *)team_id;
    s.kind = r->kind;
    s.text = r->text;
    s.content_id = r->content_id;
    s.email_id = r->email_id;
    s.thread_id = r->thread_id;
    s.rep_email = r->rep_email;
    s.family_id = r->family_id;
    s.topic = r->topic;
    s.intent = r->intent;
    s.persona = r->persona;
    s.stage = r->stage;
    s.provenance = r->provenance;
    s.create_ms = r->create_unix_ms;
    s.seq = r->seq;
    s.deleted = r->deleted ? 1 : 0;
    rc = fn(&s, arg);
    snipwise__store__snippet_record__free_unpacked(r, NULL);
    return rc;
}

static sw_err store_hist_cb(const void *k, size_t klen, const void *v,
                            size_t vlen, void *arg)
{
    struct store_hist_arg *a = arg;
    sw_err rc;

    (void)k;
    (void)klen;
    if (a->what == 'e') {
        struct store_email e;
        rc = store_mail__email_dec(a->team_id, v, vlen, &e);
        if (rc)
            return rc;
        rc = ((store_hist_email_fn)a->fn)(&e, a->arg);
        store_email_clear(&e);
        return rc;
    }
    if (a->what == 'c') {
        struct store_content c;
        rc = store_mail__content_dec(a->team_id, v, vlen, 0, &c);
        if (rc)
            return rc;
        rc = ((store_hist_content_fn)a->fn)(&c, a->arg);
        store_content_clear(&c);
        return rc;
    }
    return store_hist_snippet_dec(a->team_id, v, vlen,
                                  (store_hist_snippet_fn)a->fn, a->arg);
}

static sw_err store_hist_scan(store_txn *t, const char *team_id,
                              enum store_db db, int what, void *fn, void *arg)
{
    struct store_hist_arg a;
    struct sw_buf p;
    sw_err rc;

    if (t == NULL || team_id == NULL || team_id[0] == '\0' || fn == NULL)
        return SW_EINVAL;
    sw_buf_init(&p, STORE_HIST_KEY_MAX);
    a.team_id = team_id;
    a.what = what;
    a.fn = fn;
    a.arg = arg;
    rc = store_key(&p, team_id, NULL, 0);
    if (rc == SW_OK)
        rc = store_scan(t, db, sw_buf_str(&p), sw_buf_len(&p), NULL, 0,
                        store_hist_cb, &a);
    sw_buf_free(&p);
    return rc;
}

sw_err store_hist_emails(store_txn *t, const char *team_id,
                         store_hist_email_fn fn, void *arg)
{
    return store_hist_scan(t, team_id, STORE_DB_EMAILS, 'e', (void *)fn, arg);
}

sw_err store_hist_snippets(store_txn *t, const char *team_id,
                           store_hist_snippet_fn fn, void *arg)
{
    return store_hist_scan(t, team_id, STORE_DB_SNIPPETS, 's', (void *)fn, arg);
}

sw_err store_hist_contents(store_txn *t, const char *team_id,
                           store_hist_content_fn fn, void *arg)
{
    return store_hist_scan(t, team_id, STORE_DB_CONTENTS, 'c', (void *)fn, arg);
}

sw_err store_hist_seqs(store_txn *t, const char *team_id, uint64_t out[3])
{
    static const char *const names[3] = {"email", "snippet", "outcome"};
    uint64_t v[3];
    size_t i;
    sw_err rc;

    uint64_t erased;

    for (i = 0; i < 3; i++) {
        rc = store_seq_peek(t, team_id, names[i], &v[i]);
        if (rc)
            return rc;
    }
    /* Erasures (store_erase.h) change what the statistics count too. */
    rc = store_seq_peek(t, team_id, STORE_ERASE_SEQ, &erased);
    if (rc)
        return rc;
    v[0] += erased;
    memcpy(out, v, sizeof(v));
    return SW_OK;
}

/* --- The feeds: what changed since a sequence number ------------------- */

struct store_hist_feed {
    store_txn *t;
    const char *team_id;
    enum store_db rec_db; /* where the ids the feed names are kept */
    int what;             /* 'e' or 's' */
    void *fn;
    void *arg;
    struct sw_buf k;
};

static sw_err store_hist_feed_cb(const void *k, size_t klen, const void *v,
                                 size_t vlen, void *arg)
{
    struct store_hist_feed *f = arg;
    struct store_hist_arg a = {f->team_id, f->what, f->fn, f->arg};
    const void *rv;
    size_t rl;
    sw_err rc;

    (void)k;
    (void)klen;
    rc = store_key(&f->k, f->team_id, v, vlen);
    if (rc == SW_OK)
        rc = store_get(f->t, f->rec_db, sw_buf_str(&f->k), sw_buf_len(&f->k),
                       &rv, &rl);
    if (rc == SW_ENOTFOUND)
        return SW_OK; /* an entry whose record has gone */
    if (rc)
        return rc;
    return store_hist_cb(NULL, 0, rv, rl, &a);
}

static sw_err store_hist_feed_scan(store_txn *t, const char *team_id,
                                   enum store_db feed_db, enum store_db rec_db,
                                   int what, uint64_t after_seq, void *fn,
                                   void *arg)
{
    struct store_hist_feed f = {t, team_id, rec_db, what, fn, arg, {0}};
    struct sw_buf p, after;
    sw_err rc;

    if (t == NULL || team_id == NULL || team_id[0] == '\0' || fn == NULL)
        return SW_EINVAL;
    sw_buf_init(&p, STORE_HIST_KEY_MAX);
    sw_buf_init(&after, STORE_HIST_KEY_MAX);
    sw_buf_init(&f.k, STORE_HIST_KEY_MAX);
    rc = store_key(&p, team_id, NULL, 0);
    if (rc == SW_OK)
        rc = store_mail__seq_key(&after, team_id, after_seq);
    if (rc == SW_OK)
        rc = store_scan(t, feed_db, sw_buf_str(&p), sw_buf_len(&p),
                        sw_buf_str(&after), sw_buf_len(&after),
                        store_hist_feed_cb, &f);
    sw_buf_free(&p);
    sw_buf_free(&after);
    sw_buf_free(&f.k);
    return rc;
}

sw_err store_hist_email_feed(store_txn *t, const char *team_id,
                             uint64_t after_seq, store_hist_email_fn fn,
                             void *arg)
{
    return store_hist_feed_scan(t, team_id, STORE_DB_EMAIL_SEQ, STORE_DB_EMAILS,
                                'e', after_seq, (void *)fn, arg);
}

sw_err store_hist_snippet_feed(store_txn *t, const char *team_id,
                               uint64_t after_seq, store_hist_snippet_fn fn,
                               void *arg)
{
    return store_hist_feed_scan(t, team_id, STORE_DB_SNIPPET_SEQ,
                                STORE_DB_SNIPPETS, 's', after_seq, (void *)fn,
                                arg);
}
