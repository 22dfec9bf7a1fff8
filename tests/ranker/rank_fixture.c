/* rank_fixture: a store of one team's history for the ranker's tests
 * (rank_fixture.h). */
#include "tests/ranker/rank_fixture.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "store/store_mail.h"
#include "store/store_outcome.h"
#include "store/store_snippet.h"

/* put_team writes TEAM's team record: background writers (snapshots,
 * models) keep nothing for a team that does not exist. */
sw_err put_team(store_txn *t, void *team)
{
    return store_put(t, STORE_DB_TEAMS, team, strlen(team), "", 0, 0);
}

int fx_setup(void **state)
{
    struct fixture *f = sw_calloc(1, sizeof(*f));
    struct store_opts o;

    test_mkdtemp(f->dir);
    memset(&o, 0, sizeof(o));
    o.dir = f->dir;
    if (store_open(&o, &f->s) != SW_OK ||
        store_update(f->s, put_team, (void *)TEAM) != SW_OK)
        return -1;
    *state = f;
    return 0;
}

int fx_teardown(void **state)
{
    struct fixture *f = *state;

    store_close(&f->s);
    test_rmtree(f->dir);
    sw_free(f);
    return 0;
}

sw_err fx_email_full(store_txn *t, const struct fx_mail *m)
{
    const char *empty = "";
    struct store_addr rcpt;
    struct store_email e;
    struct sw_buf dk;
    sw_err rc;

    memset(&e, 0, sizeof(e));
    e.email_id = (char *)m->eid;
    e.team_id = TEAM;
    e.thread_id = (char *)m->tid;
    e.message_id = (char *)m->mid;
    e.in_reply_to = e.from_name = e.body_text = (char *)empty;
    e.subject = (char *)(m->subject ? m->subject : empty);
    e.new_text = (char *)m->text;
    e.direction = m->direction;
    e.from_email = (char *)m->from;
    e.rep_email = (char *)m->rep;
    if (m->to) {
        rcpt.name = (char *)empty;
        rcpt.email = (char *)m->to;
        e.to = &rcpt;
        e.n_to = 1;
    }
    e.sent_ms = e.ingest_ms = m->ms;
    sw_buf_init(&dk, 1024);
    rc = store_mail_msgid_key(&dk, m->mid);
    if (rc == SW_OK)
        rc = store_email_put(t, &e, sw_buf_str(&dk), sw_buf_len(&dk));
    sw_buf_free(&dk);
    return rc;
}

sw_err fx_email(store_txn *t, const char *eid, const char *tid, const char *mid,
                int direction, const char *from, const char *rep,
                const char *text, int64_t day)
{
    struct fx_mail m = {eid, tid,  mid, direction, from,
                        rep, NULL, "",  text,      day * DAYMS};

    return fx_email_full(t, &m);
}

sw_err fx_thread(store_txn *t, const struct tspec *sp)
{
    char eid[32], tid[32], mid[64], sid[32], key[64];
    const char *empty = "";
    const int64_t sent = sp->day * DAYMS;
    struct store_thread th;
    char *eids[1];
    int i;
    sw_err rc;

    snprintf(eid, sizeof(eid), "em_%016x", sp->n);
    snprintf(tid, sizeof(tid), "th_%016x", sp->n);
    snprintf(mid, sizeof(mid), "m%d@x", sp->n);
    {
        struct fx_mail m = {eid,
                            tid,
                            mid,
                            STORE_DIR_OUTBOUND,
                            sp->rep,
                            sp->rep,
                            sp->to,
                            "",
                            sp->ctx ? sp->ctx
                                    : "We are a manufacturing company.",
                            sent};
        rc = fx_email_full(t, &m);
    }
    memset(&th, 0, sizeof(th));
    th.thread_id = tid;
    th.team_id = TEAM;
    th.subject = th.subject_key = (char *)empty;
    th.first_ms = th.last_ms = sent;
    eids[0] = eid;
    th.email_ids = eids;
    th.n_emails = 1;
    if (rc == SW_OK)
        rc = store_thread_put(t, &th);
    for (i = 0; rc == SW_OK && i < 2 && sp->frames[i]; i++) {
        struct store_snippet s;
        memset(&s, 0, sizeof(s));
        snprintf(sid, sizeof(sid), "snip_%08x%08x", sp->n, i);
        s.snippet_id = sid;
        s.team_id = TEAM;
        s.kind = STORE_SNIPPET_FRAMING;
        s.text = (char *)sp->frames[i];
        s.email_id = eid;
        s.thread_id = tid;
        s.rep_email = (char *)sp->rep;
        s.create_ms = sent + i;
        rc = store_snippet_put(t, &s);
    }
    for (i = 0; rc == SW_OK && i < 3 && sp->kinds[i]; i++) {
        struct store_outcome o;
        char *oid = NULL;
        int dup = 0;
        memset(&o, 0, sizeof(o));
        snprintf(key, sizeof(key), "k%d-%d", sp->n, i);
        o.thread_id = tid;
        o.kind = sp->kinds[i];
        o.occur_ms = sent + sp->after[i] * DAYMS;
        o.record_ms = o.occur_ms;
        o.source = STORE_OUTCOME_RECORDED;
        o.idem_key = key;
        rc = store_outcome_put(t, TEAM, &o, &dup, &oid);
        sw_free(oid);
    }
    return rc;
}

const char *const LUCKY = "A lucky line that only two mails ever used.";
const char *const SOLID =
    "Our onboarding guide shows each step of the rollout.";
const char *const WEAK = "Please let me know if you want to chat.";
const char *const SPLIT_A =
    "Here is the first framing of two, about pricing tiers.";
const char *const BARE = "Please find it attached here.";
const char *const ALONE = "Seats and usage decide the price you pay.";
const char *const COLD_REPLY = "Sounds great, send me the contract.";
const char *const SPLIT_B = "And a second, quite different sentence.";

/* An inbound reply in thread n of fx_thread, on day. */
sw_err fx_reply(store_txn *t, int n, const char *text, int64_t day)
{
    char eid[32], tid[32], mid[64];

    snprintf(eid, sizeof(eid), "em_r%015x", n);
    snprintf(tid, sizeof(tid), "th_%016x", n);
    snprintf(mid, sizeof(mid), "r%d@x", n);
    return fx_email(t, eid, tid, mid, STORE_DIR_INBOUND, "prospect@y", "", text,
                    day);
}

sw_err fx_fill(store_txn *t, void *arg)
{
    struct tspec sp;
    int n = 0, i;
    sw_err rc = SW_OK;

    (void)arg;
    /* LUCKY: 2 threads, both positive. SOLID: 200 threads, 160 positive.
     * WEAK: 200 threads, 40 positive. */
    for (i = 0; rc == SW_OK && i < 402; i++) {
        memset(&sp, 0, sizeof(sp));
        sp.n = ++n;
        sp.rep = i % 3 == 0 ? "a@x" : i % 3 == 1 ? "b@x" : "c@x";
        sp.day = 1 + i % 50;
        if (i < 2) {
            sp.frames[0] = LUCKY;
            sp.kinds[0] = 4;
        } else if (i < 202) {
            sp.frames[0] = SOLID;
            sp.kinds[0] = (i - 2) % 5 == 0 ? 6 : 4;
        } else {
            sp.frames[0] = WEAK;
            sp.kinds[0] = (i - 202) % 5 == 0 ? 4 : 6;
        }
        sp.after[0] = 1;
        rc = fx_thread(t, &sp);
    }
    /* One email with two framings and a meeting (credit split), plus a
     * deal 40 days later (outside the 30-day window: not attributed); and
     * a bare introduction next to a framing, which takes none of its
     * credit. */
    {
        struct tspec pairs[2] = {
            {0, "a@x", {SPLIT_A, SPLIT_B}, 10, {1, 2}, {2, 40}, NULL, NULL},
            {0, "b@x", {BARE, ALONE}, 12, {1}, {2}, NULL, NULL},
        };
        for (i = 0; rc == SW_OK && i < 2; i++) {
            pairs[i].n = ++n;
            rc = fx_thread(t, &pairs[i]);
        }
    }
    /* The prospect answers the last (cold) thread: its context stays the
     * mail the rep wrote, not the reply, which tells the outcome. */
    if (rc == SW_OK)
        rc = fx_reply(t, n, COLD_REPLY, 13);
    return rc;
}

sw_err fx_build(store_txn *t, void *arg)
{
    struct hist_arg *a = arg;

    rank_hist_free(&a->h);
    return rank_hist_build(t, TEAM, NULL, 0, &a->h);
}

const struct rank_hitem *fx_item(const struct rank_hist *h, const char *text)
{
    size_t i;

    for (i = 0; i < h->nitems; i++)
        if (h->items[i].kind == 'f' && strcmp(h->items[i].title, text) == 0)
            return &h->items[i];
    fail_msg("no family for %s", text);
    return NULL;
}

/* fx_close: x and y agree to rounding (sums taken in another order). */
static int fx_close(double x, double y)
{
    return fabs(x - y) <= 1e-9 * (1.0 + fabs(x) + fabs(y));
}

static void fx_evid_same(const struct rank_evid *a, const struct rank_evid *b,
                         const char *id)
{
    int k;

    if (a->times_used != b->times_used || a->reps != b->reps ||
        a->threads != b->threads || a->positives != b->positives ||
        a->pos_replies != b->pos_replies || a->meetings != b->meetings ||
        a->deals != b->deals || a->trials != b->trials ||
        a->successes != b->successes || a->first_ms != b->first_ms ||
        a->last_ms != b->last_ms || !fx_close(a->value, b->value))
        fail_msg("item %s: evidence differs (trials %lld/%lld, successes "
                 "%lld/%lld, positives %lld/%lld, value %g/%g)",
                 id, (long long)a->trials, (long long)b->trials,
                 (long long)a->successes, (long long)b->successes,
                 (long long)a->positives, (long long)b->positives, a->value,
                 b->value);
    for (k = 0; k < RANK_KINDS; k++)
        if (a->outcomes[k] != b->outcomes[k])
            fail_msg("item %s: outcomes of kind %d differ", id, k);
}

void fx_hist_same(const struct rank_hist *a, const struct rank_hist *b)
{
    size_t i;

    assert_int_equal(a->nitems, b->nitems);
    assert_int_equal(a->nthreads, b->nthreads);
    assert_int_equal(a->nuses, b->nuses);
    assert_int_equal(a->naccounts, b->naccounts);
    assert_int_equal(a->nacct_ev, b->nacct_ev);
    assert_memory_equal(a->seqs, b->seqs, sizeof(a->seqs));
    assert_int_equal(a->now_ms, b->now_ms);
    assert_int_equal(a->team_threads, b->team_threads);
    assert_int_equal(a->team_mature, b->team_mature);
    assert_int_equal(a->n_outcomes, b->n_outcomes);
    assert_true(fx_close(a->team_rate, b->team_rate));
    assert_true(fx_close(a->team_value, b->team_value));
    assert_true(fx_close(a->use_sd, b->use_sd));
    for (i = 0; i < a->nitems; i++) {
        const struct rank_hitem *x = &a->items[i], *y = &b->items[i];
        assert_string_equal(x->id, y->id);
        fx_evid_same(&x->ev, &y->ev, x->id);
        if (!fx_close(x->post_value, y->post_value) ||
            !fx_close(x->adoption, y->adoption))
            fail_msg("item %s: post_value %g/%g adoption %g/%g", x->id,
                     x->post_value, y->post_value, x->adoption, y->adoption);
    }
    for (i = 0; i < a->nthreads; i++) {
        const struct rank_hthread *x = &a->threads[i], *y = &b->threads[i];
        assert_string_equal(x->id, y->id);
        if (x->n_outcomes != y->n_outcomes || x->positive != y->positive ||
            x->mature != y->mature || !fx_close(x->value, y->value) ||
            !fx_close(x->attr_value, y->attr_value) ||
            memcmp(x->outcomes, y->outcomes, sizeof(x->outcomes)) != 0)
            fail_msg("thread %s differs (outcomes %lld/%lld, mature %d/%d)",
                     x->id, (long long)x->n_outcomes, (long long)y->n_outcomes,
                     x->mature, y->mature);
    }
    for (i = 0; i < a->nuses; i++) {
        const struct rank_use *x = &a->uses[i], *y = &b->uses[i];
        if (x->thread != y->thread || x->item != y->item ||
            x->positive != y->positive || x->mature != y->mature ||
            !fx_close(x->value, y->value))
            fail_msg("use %zu differs (value %g/%g)", i, x->value, y->value);
    }
    for (i = 0; i < a->naccounts; i++) {
        const struct rank_account *x = &a->accounts[i], *y = &b->accounts[i];
        assert_string_equal(x->domain, y->domain);
        if (x->threads != y->threads || x->mature != y->mature ||
            x->positives != y->positives)
            fail_msg("account %s differs", x->domain);
    }
    for (i = 0; i < a->nacct_ev; i++) {
        const struct rank_acct_evid *x = &a->acct_ev[i], *y = &b->acct_ev[i];
        if (x->account != y->account || x->item != y->item ||
            x->threads != y->threads || x->positives != y->positives ||
            x->trials != y->trials || !fx_close(x->value, y->value))
            fail_msg("account record %zu differs", i);
    }
}

/* The outcome of thread n of fx_thread, kind on day, key its idempotency
 * key. */
sw_err fx_outcome(store_txn *t, int n, int kind, int64_t day, const char *key)
{
    struct store_outcome o;
    char tid[32], *oid = NULL;
    int dup = 0;
    sw_err rc;

    snprintf(tid, sizeof(tid), "th_%016x", n);
    memset(&o, 0, sizeof(o));
    o.thread_id = tid;
    o.kind = kind;
    o.occur_ms = o.record_ms = day * DAYMS;
    o.source = STORE_OUTCOME_RECORDED;
    o.idem_key = (char *)key;
    rc = store_outcome_put(t, TEAM, &o, &dup, &oid);
    sw_free(oid);
    return rc;
}

/* The build hook: see rank_fixture.h. */
void hold_hook(void *arg, const char *team)
{
    struct hold *h = arg;

    (void)team;
    pthread_mutex_lock(&h->mu);
    if (h->armed) {
        h->entered = 1;
        pthread_cond_broadcast(&h->cond);
        while (!h->released)
            pthread_cond_wait(&h->cond, &h->mu);
    }
    pthread_mutex_unlock(&h->mu);
}

int hold_wait(struct hold *h, const int *flag)
{
    struct timespec ts;
    int ok;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 30;
    pthread_mutex_lock(&h->mu);
    while (!*flag)
        if (pthread_cond_timedwait(&h->cond, &h->mu, &ts) != 0)
            break;
    ok = *flag;
    pthread_mutex_unlock(&h->mu);
    return ok;
}

void hold_release(struct hold *h)
{
    pthread_mutex_lock(&h->mu);
    h->armed = 0;
    h->released = 1;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->mu);
}

void hold_arm(struct hold *h)
{
    pthread_mutex_lock(&h->mu);
    h->armed = 1;
    pthread_mutex_unlock(&h->mu);
}

int64_t fx_thread_outcomes(rank_engine *e, int n)
{
    struct rank_item_stats st;
    char tid[32];
    const char *id = tid;
    int64_t sum = 0;
    int k;

    snprintf(tid, sizeof(tid), "th_%016x", n);
    ASSERT_OK(rank_engine_stats(e, TEAM, RANK_STATS_THREAD, &id, 1, &st, NULL));
    if (!st.found)
        return -1;
    for (k = 0; k < RANK_KINDS; k++)
        sum += st.outcomes[k];
    return sum;
}
