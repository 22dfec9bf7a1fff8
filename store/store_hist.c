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
