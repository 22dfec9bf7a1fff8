/* store_mail_merge: thread merges (store_thread_merge, store_mail.h):
 * every email of the merged-away thread, its Message-ID references,
 * outcomes and snippets re-pointed at the thread it joins, and the
 * thread's record and index entries deleted (store_mail__thread_del, which
 * erasure shares). */
#include <string.h>

#include "base/sw_mem.h"
#include "store/mail_records.pb-c.h"
#include "store/store_hist.h"
#include "store/store_int.h"
#include "store/store_mail.h"
#include "store/store_mail_int.h"
#include "store/store_outcome.h"
#include "store/store_snippet.h"

static char *store_mail_s(const char *s)
{
    return (char *)(s ? s : "");
}

/* store_mail_move_email points email email_id, and the thread references
 * of its Message-IDs, at thread into. */
static SW_MUST_CHECK sw_err store_mail_move_email(store_txn *t,
                                                  const char *team_id,
                                                  const char *email_id,
                                                  const char *into)
{
    Snipwise__Store__EmailRecord *r;
    ProtobufCMessage *m = NULL;
    struct sw_buf k;
    char *was;
    size_t i;
    sw_err rc;

    sw_buf_init(&k, STORE_KEYBUF_MAX);
    rc = store_mail__id_key(&k, team_id, email_id);
    if (rc == SW_OK)
        rc = store__get_msg(t, STORE_DB_EMAILS, sw_buf_str(&k), sw_buf_len(&k),
                            &snipwise__store__email_record__descriptor, &m);
    if (rc)
        goto out;
    r = (Snipwise__Store__EmailRecord *)m;
    was = r->thread_id; /* put back before the message is freed */
    r->thread_id = (char *)into;
    rc = store__put_msg(t, STORE_DB_EMAILS, sw_buf_str(&k), sw_buf_len(&k),
                        &r->base, 0);
    r->thread_id = was;
    if (rc == SW_OK)
        rc =
            store_thread_ref_put(t, team_id, store_mail_s(r->message_id), into);
    if (rc == SW_OK)
        rc = store_thread_ref_put(t, team_id, store_mail_s(r->in_reply_to),
                                  into);
    for (i = 0; rc == SW_OK && i < r->n_references; i++)
        rc = store_thread_ref_put(t, team_id, store_mail_s(r->references[i]),
                                  into);
out:
    store__msg_free(m);
    sw_buf_free(&k);
    return rc;
}

/* What a merged thread's outcomes and snippets are: collected first, then
 * rewritten, so that no scan runs over records being changed. */
struct store_mail_moves {
    const char *from;
    uint64_t *seqs; /* outcomes, by sequence number */
    size_t n_seqs;
    char **snips; /* live snippets, by id */
    size_t n_snips;
};

static SW_MUST_CHECK sw_err store_mail_outcome_cb(const struct store_outcome *o,
                                                  void *arg)
{
    struct store_mail_moves *x = arg;
    uint64_t *nv;

    nv = sw_realloc(x->seqs, (x->n_seqs + 1) * sizeof(*nv));
    if (nv == NULL)
        return SW_ENOMEM;
    x->seqs = nv;
    nv[x->n_seqs++] = o->seq;
    return SW_OK;
}

static SW_MUST_CHECK sw_err store_mail_snippet_cb(const struct store_snippet *s,
                                                  void *arg)
{
    struct store_mail_moves *x = arg;

    if (s->deleted || strcmp(s->thread_id, x->from) != 0)
        return SW_OK;
    return store_strv_add(&x->snips, &x->n_snips, s->snippet_id);
}

static SW_MUST_CHECK sw_err store_mail_snippet_rethread(store_txn *t,
                                                        const char *team_id,
                                                        const char *id,
                                                        const char *into)
{
    struct store_snippet sn;
    char *th;
    sw_err rc;

    memset(&sn, 0, sizeof(sn));
    rc = store_snippet_get_txn(t, team_id, id, &sn);
    if (rc == SW_OK) {
        th = sw_strdup(into);
        if (th == NULL) {
            rc = SW_ENOMEM;
        } else {
            sw_free(sn.thread_id);
            sn.thread_id = th;
            rc = store_snippet_put(t, &sn); /* a new seq: the ranker sees it */
        }
    }
    store_snippet_clear(&sn);
    return rc;
}

/* store_mail_moves_run re-points the outcomes and live snippets of thread
 * x->from at thread into. */
static SW_MUST_CHECK sw_err store_mail_moves_run(store_txn *t,
                                                 const char *team_id,
                                                 struct store_mail_moves *x,
                                                 const char *into)
{
    size_t i;
    sw_err rc;

    rc = store_outcome_scan(t, team_id, x->from, store_mail_outcome_cb, x);
    for (i = 0; rc == SW_OK && i < x->n_seqs; i++)
        rc = store_outcome_set_thread_txn(t, team_id, x->seqs[i], into);
    if (rc == SW_OK)
        rc = store_hist_snippets(t, team_id, store_mail_snippet_cb, x);
    for (i = 0; rc == SW_OK && i < x->n_snips; i++)
        rc = store_mail_snippet_rethread(t, team_id, x->snips[i], into);
    return rc;
}

sw_err store_mail__thread_del(store_txn *t, const struct store_thread *th)
{
    struct sw_buf k;
    sw_err rc;

    sw_buf_init(&k, STORE_KEYBUF_MAX);
    rc = store_mail__id_key(&k, th->team_id, th->thread_id);
    if (rc == SW_OK)
        rc = store_del(t, STORE_DB_THREADS, sw_buf_str(&k), sw_buf_len(&k));
    if (rc == SW_OK)
        rc =
            store_mail__recent_key(&k, th->team_id, th->last_ms, th->thread_id);
    if (rc == SW_OK)
        rc = store_del(t, STORE_DB_THREAD_RECENT, sw_buf_str(&k),
                       sw_buf_len(&k));
    if (rc == SW_OK && th->subject_key[0]) {
        rc = store_mail__subj_key(&k, th->team_id, th->subject_key,
                                  th->thread_id);
        if (rc == SW_OK)
            rc = store_del(t, STORE_DB_THREAD_SUBJ, sw_buf_str(&k),
                           sw_buf_len(&k));
    }
    sw_buf_free(&k);
    return rc;
}

sw_err store_thread_merge(store_txn *t, struct store_thread *into,
                          const char *from_id)
{
    struct store_mail_moves x;
    struct store_thread from;
    const char *team;
    uint64_t merges;
    size_t i;
    sw_err rc;

    if (t == NULL || into == NULL || into->thread_id == NULL ||
        into->team_id == NULL || from_id == NULL ||
        strcmp(into->thread_id, from_id) == 0)
        return SW_EINVAL;
    team = into->team_id;
    memset(&x, 0, sizeof(x));
    /* Emails change threads: the ranker's statistics must be built again,
     * not extended by the feed (store_hist_email_feed). */
    rc = store_seq_next(t, team, STORE_MERGE_SEQ, &merges);
    if (rc)
        return rc;
    memset(&from, 0, sizeof(from));
    rc = store_thread_get_txn(t, team, from_id, &from);
    for (i = 0; rc == SW_OK && i < from.n_emails; i++)
        rc = store_mail_move_email(t, team, from.email_ids[i], into->thread_id);
    if (rc == SW_OK)
        rc = store_strv_union(&into->email_ids, &into->n_emails, from.email_ids,
                              from.n_emails, 0);
    if (rc == SW_OK)
        rc = store_strv_union(&into->participants, &into->n_participants,
                              from.participants, from.n_participants,
                              STORE_THREAD_MAX_PARTICIPANTS);
    if (rc == SW_OK)
        rc = store_strv_union(&into->rep_emails, &into->n_rep_emails,
                              from.rep_emails, from.n_rep_emails, 0);
    if (rc == SW_OK && from.first_ms < into->first_ms)
        into->first_ms = from.first_ms;
    if (rc == SW_OK && from.last_ms > into->last_ms)
        into->last_ms = from.last_ms;
    x.from = from_id;
    if (rc == SW_OK)
        rc = store_mail_moves_run(t, team, &x, into->thread_id);
    if (rc == SW_OK)
        rc = store_mail__thread_del(t, &from);
    sw_free(x.seqs);
    store_strv_free(x.snips, x.n_snips);
    store_thread_clear(&from);
    return rc;
}
