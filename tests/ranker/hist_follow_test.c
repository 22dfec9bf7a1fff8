/* Tests of statistics that follow new mail without a full build
 * (rank_hist_follow, ranker/hist_follow.c, issue 13): on the fixture's
 * history, new threads (a framing word for word a known one, a new
 * framing, a file, a recipient at a new company, with outcomes), a reply
 * and a follow-up in known threads and new outcomes on old threads give
 * the same statistics as a full build of the same snapshot, whatever the
 * order items and threads come in; so do a follow of a delta of a follow,
 * and one whose ancestors were freed; and what only a full build can
 * count is refused (SW_ESTATE). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "ranker/account_int.h"
#include "ranker/hist.h"
#include "store/store.h"
#include "store/store_erase.h"
#include "store/store_mail.h"
#include "store/store_outcome.h"
#include "store/store_snippet.h"
#include "tests/ranker/rank_fixture.h"
#include "tests/testutil.h"

#define NEWFRAME "Our security whitepaper covers audits and encryption."
#define T_NEW 700

/* --- comparing two histories, whatever their order --------------------- */

static int close_to(double x, double y)
{
    double d = x - y;

    return (d < 0 ? -d : d) <= 1e-9 * (1 + (x < 0 ? -x : x));
}

static void evid_same(const struct rank_evid *a, const struct rank_evid *b,
                      const char *id)
{
    if (a->times_used != b->times_used || a->reps != b->reps ||
        a->threads != b->threads || a->positives != b->positives ||
        a->pos_replies != b->pos_replies || a->meetings != b->meetings ||
        a->deals != b->deals || a->trials != b->trials ||
        a->successes != b->successes || !close_to(a->value, b->value) ||
        a->first_ms != b->first_ms || a->last_ms != b->last_ms ||
        memcmp(a->outcomes, b->outcomes, sizeof(a->outcomes)) != 0)
        fail_msg("item %s: evidence differs (used %lld/%lld, reps %lld/%lld, "
                 "threads %lld/%lld, trials %lld/%lld, value %g/%g)",
                 id, (long long)a->times_used, (long long)b->times_used,
                 (long long)a->reps, (long long)b->reps, (long long)a->threads,
                 (long long)b->threads, (long long)a->trials,
                 (long long)b->trials, a->value, b->value);
}

/* b's index of a's item i. */
static uint32_t item_in(const struct rank_hist *a, const struct rank_hist *b,
                        uint32_t i)
{
    long x = rank_hist_item(b, a->items[i].id);

    if (x < 0)
        fail_msg("item %s (%s) missing", a->items[i].id, a->items[i].title);
    return (uint32_t)x;
}

static void items_same(const struct rank_hist *a, const struct rank_hist *b)
{
    size_t i;

    assert_int_equal(a->nitems, b->nitems);
    for (i = 0; i < a->nitems; i++) {
        const struct rank_hitem *x = &a->items[i];
        const struct rank_hitem *y = &b->items[item_in(a, b, (uint32_t)i)];
        assert_int_equal(x->kind, y->kind);
        assert_string_equal(x->title, y->title);
        assert_string_equal(x->key, y->key);
        assert_int_equal(x->bare, y->bare);
        assert_int_equal(x->content_kind, y->content_kind);
        if (x->kind == 'f')
            assert_string_equal(a->snips[x->rep].id, b->snips[y->rep].id);
        evid_same(&x->ev, &y->ev, x->id);
        if (!close_to(x->post_value, y->post_value) ||
            !close_to(x->adoption, y->adoption))
            fail_msg("item %s: post_value %g/%g adoption %g/%g", x->id,
                     x->post_value, y->post_value, x->adoption, y->adoption);
    }
    assert_int_equal(a->nsnips, b->nsnips);
    for (i = 0; i < a->nsnips; i++) {
        const struct rank_hsnip *x = &a->snips[i];
        long k = rank_hist_snippet(b, x->id);
        const struct rank_hsnip *y;
        if (k < 0)
            fail_msg("snippet %s missing", x->id);
        y = &b->snips[k];
        assert_string_equal(x->text, y->text);
        assert_int_equal(x->create_ms, y->create_ms);
        assert_int_equal(x->item == UINT32_MAX, y->item == UINT32_MAX);
        if (x->item != UINT32_MAX)
            assert_int_equal(item_in(a, b, x->item), y->item);
        assert_int_equal(x->content == UINT32_MAX, y->content == UINT32_MAX);
    }
}

static void threads_same(const struct rank_hist *a, const struct rank_hist *b)
{
    size_t i;
    uint32_t u, w;

    assert_int_equal(a->nthreads, b->nthreads);
    assert_int_equal(a->nuses, b->nuses);
    for (i = 0; i < a->nthreads; i++) {
        const struct rank_hthread *x = &a->threads[i];
        long k = rank_hist_thread(b, x->id);
        const struct rank_hthread *y;
        if (k < 0)
            fail_msg("thread %s missing", x->id);
        y = &b->threads[k];
        assert_string_equal(x->context, y->context);
        assert_int_equal(x->first_out_ms, y->first_out_ms);
        assert_int_equal(x->first_in_ms, y->first_in_ms);
        if (x->n_outcomes != y->n_outcomes || x->positive != y->positive ||
            x->mature != y->mature || !close_to(x->value, y->value) ||
            !close_to(x->attr_value, y->attr_value) ||
            memcmp(x->outcomes, y->outcomes, sizeof(x->outcomes)) != 0)
            fail_msg("thread %s differs (outcomes %lld/%lld, mature %d/%d)",
                     x->id, (long long)x->n_outcomes, (long long)y->n_outcomes,
                     x->mature, y->mature);
        assert_int_equal(a->use_lo[i + 1] - a->use_lo[i],
                         b->use_lo[k + 1] - b->use_lo[k]);
        for (u = a->use_lo[i]; u < a->use_lo[i + 1]; u++) {
            const struct rank_use *p = &a->uses[u], *q = NULL;
            uint32_t it = item_in(a, b, p->item);
            for (w = b->use_lo[k]; w < b->use_lo[k + 1]; w++)
                if (b->uses[w].item == it)
                    q = &b->uses[w];
            if (q == NULL || p->positive != q->positive ||
                p->mature != q->mature || !close_to(p->value, q->value))
                fail_msg("thread %s: its use of %s differs", x->id,
                         a->items[p->item].id);
        }
    }
}

static void accounts_same(const struct rank_hist *a, const struct rank_hist *b)
{
    size_t i;

    assert_int_equal(a->naccounts, b->naccounts);
    assert_int_equal(a->nacct_ev, b->nacct_ev);
    for (i = 0; i < a->naccounts; i++) {
        const struct rank_account *x = &a->accounts[i], *y = &b->accounts[i];
        assert_string_equal(x->domain, y->domain);
        if (x->threads != y->threads || x->mature != y->mature ||
            x->positives != y->positives)
            fail_msg("account %s differs", x->domain);
    }
    for (i = 0; i < a->nacct_ev; i++) {
        const struct rank_acct_evid *x = &a->acct_ev[i];
        long k = rank__acct_ev_index(b, x->account, item_in(a, b, x->item));
        const struct rank_acct_evid *y;
        if (k < 0)
            fail_msg("account record %zu missing", i);
        y = &b->acct_ev[k];
        if (x->threads != y->threads || x->positives != y->positives ||
            x->trials != y->trials || !close_to(x->value, y->value))
            fail_msg("account record %zu differs", i);
    }
}

/* hist_equiv fails the test unless a and b hold the same statistics,
 * items and threads matched by id. */
static void hist_equiv(const struct rank_hist *a, const struct rank_hist *b)
{
    assert_memory_equal(a->seqs, b->seqs, sizeof(a->seqs));
    assert_memory_equal(a->marks, b->marks, sizeof(a->marks));
    assert_int_equal(a->now_ms, b->now_ms);
    assert_int_equal(a->team_threads, b->team_threads);
    assert_int_equal(a->team_mature, b->team_mature);
    assert_int_equal(a->n_outcomes, b->n_outcomes);
    assert_int_equal(a->nby_out, b->nby_out);
    assert_true(close_to(a->team_rate, b->team_rate));
    assert_true(close_to(a->team_value, b->team_value));
    assert_true(close_to(a->use_sd, b->use_sd));
    items_same(a, b);
    threads_same(a, b);
    accounts_same(a, b);
}

/* --- new mail ----------------------------------------------------------- */

static sw_err put_snippet(store_txn *t, const char *sid, const char *eid,
                          const char *tid, const char *text, int64_t ms)
{
    struct store_snippet s;

    memset(&s, 0, sizeof(s));
    s.snippet_id = (char *)sid;
    s.team_id = TEAM;
    s.kind = STORE_SNIPPET_FRAMING;
    s.text = (char *)text;
    s.email_id = (char *)eid;
    s.thread_id = (char *)tid;
    s.rep_email = "a@x";
    s.create_ms = ms;
    return store_snippet_put(t, &s);
}

/* A new thread whose mail carries a file (a new content item). */
static sw_err put_file_thread(store_txn *t, int n, int64_t day)
{
    char eid[32], tid[32], mid[64], cid[32], sid[32];
    struct store_content c;
    struct store_email_content ec;
    struct store_addr rcpt = {"", "buyer@freight.example"};
    struct store_email e;
    struct sw_buf dk;
    sw_err rc;

    snprintf(eid, sizeof(eid), "em_%016x", n);
    snprintf(tid, sizeof(tid), "th_%016x", n);
    snprintf(mid, sizeof(mid), "m%d@x", n);
    snprintf(cid, sizeof(cid), "ct_%016x", n);
    snprintf(sid, sizeof(sid), "snip_%08x%08x", n, 0);
    memset(&c, 0, sizeof(c));
    c.content_id = cid;
    c.team_id = TEAM;
    c.filename = "whitepaper.pdf";
    c.media_type = "application/pdf";
    c.kind = 1;
    c.state = 2;
    c.text = "";
    c.sha256[0] = (unsigned char)n;
    c.first_seen_ms = c.last_used_ms = day * DAYMS;
    rc = store_content_put(t, &c);
    if (rc)
        return rc;
    ec.content_id = cid;
    ec.filename = "whitepaper.pdf";
    ec.state = 2;
    ec.is_new = 1;
    memset(&e, 0, sizeof(e));
    e.email_id = eid;
    e.team_id = TEAM;
    e.thread_id = tid;
    e.message_id = mid;
    e.in_reply_to = e.from_name = e.body_text = e.subject = "";
    e.new_text = "Sharing the whitepaper.";
    e.direction = STORE_DIR_OUTBOUND;
    e.from_email = e.rep_email = "c@x";
    e.to = &rcpt;
    e.n_to = 1;
    e.contents = &ec;
    e.n_contents = 1;
    e.sent_ms = e.ingest_ms = day * DAYMS;
    sw_buf_init(&dk, 1024);
    rc = store_mail_msgid_key(&dk, mid);
    if (rc == SW_OK)
        rc = store_email_put(t, &e, sw_buf_str(&dk), sw_buf_len(&dk));
    sw_buf_free(&dk);
    return rc ? rc : put_snippet(t, sid, eid, tid, NEWFRAME, day * DAYMS);
}

/* The new mail: threads T_NEW.. (SOLID word for word, a new framing with a
 * recipient at a new company, a file), a reply and a follow-up with a new
 * framing in known threads, outcomes on new and old threads. */
static sw_err new_mail(store_txn *t, void *arg)
{
    struct tspec sp;
    sw_err rc;

    (void)arg;
    memset(&sp, 0, sizeof(sp));
    sp.n = T_NEW;
    sp.rep = "a@x";
    sp.frames[0] = SOLID;
    sp.day = 55;
    sp.kinds[0] = 4;
    sp.after[0] = 1;
    rc = fx_thread(t, &sp);
    if (rc == SW_OK) {
        memset(&sp, 0, sizeof(sp));
        sp.n = T_NEW + 1;
        sp.rep = "b@x";
        sp.frames[0] = "A brand new line about freight audits.";
        sp.day = 56;
        sp.to = "ops@freight.example";
        sp.kinds[0] = 1;
        sp.after[0] = 2;
        rc = fx_thread(t, &sp);
    }
    if (rc == SW_OK)
        rc = put_file_thread(t, T_NEW + 2, 57);
    if (rc == SW_OK) /* a reply in LUCKY's thread 2 */
        rc = fx_reply(t, 2, "Thanks, looking now.", 3);
    if (rc == SW_OK) /* a second reply in the cold thread 404 (its first
                        reply's text is not what the context was chosen
                        from: the follow does not know it) */
        rc = fx_email(t, "em_r404b", "th_0000000000000194", "r404b@x",
                      STORE_DIR_INBOUND, "prospect@y", "", "One more thing.",
                      14);
    if (rc == SW_OK) /* a follow-up in SOLID's thread 10, with a framing */
        rc = fx_email(t, "em_f10", "th_000000000000000a", "f10@x",
                      STORE_DIR_OUTBOUND, "b@x", "b@x", "A follow-up.", 52);
    if (rc == SW_OK)
        rc = put_snippet(t, "snip_00000f1000000000", "em_f10",
                         "th_000000000000000a", WEAK, 52 * DAYMS);
    if (rc == SW_OK)
        rc = fx_outcome(t, T_NEW + 2, 4, 58, "nf1");
    if (rc == SW_OK)
        rc = fx_outcome(t, 5, 2, 40, "nf2");
    return rc;
}

/* Later: more mail and outcomes, for a follow of a delta of a follow. */
static sw_err more_mail(store_txn *t, void *arg)
{
    struct tspec sp;
    sw_err rc;

    (void)arg;
    memset(&sp, 0, sizeof(sp));
    sp.n = T_NEW + 10;
    sp.rep = "c@x";
    sp.frames[0] = NEWFRAME; /* the file thread's framing, word for word */
    sp.day = 60;
    rc = fx_thread(t, &sp);
    if (rc == SW_OK)
        rc = fx_reply(t, T_NEW + 1, "Let us talk next week.", 58);
    return rc;
}

static sw_err more_outcomes(store_txn *t, void *arg)
{
    (void)arg;
    return fx_outcome(t, T_NEW + 1, 6, 59, "nf3");
}

/* --- the calls ---------------------------------------------------------- */

struct call {
    const struct rank_hist *base;
    struct rank_hist *h, *full;
    sw_err rc;
    int delta; /* rank_hist_delta instead of rank_hist_follow */
};

/* follow_view makes c->h from c->base and c->full by a full build. */
static sw_err follow_view(store_txn *t, void *arg)
{
    struct call *c = arg;
    sw_err rc;

    c->rc = c->delta ? rank_hist_delta(t, TEAM, NULL, c->base, &c->h)
                     : rank_hist_follow(t, TEAM, NULL, c->base, &c->h);
    rc = rank_hist_build(t, TEAM, NULL, 0, &c->full);
    return rc;
}

static struct rank_hist *follow(struct fixture *f, const struct rank_hist *base,
                                int delta, int want_same)
{
    struct call c = {base, NULL, NULL, SW_OK, delta};

    ASSERT_OK(store_view(f->s, follow_view, &c));
    ASSERT_OK(c.rc);
    if (want_same)
        hist_equiv(c.h, c.full);
    rank_hist_free(&c.full);
    return c.h;
}

static void test_follow_matches_build(void **state)
{
    struct fixture *f = *state;
    struct hist_arg a = {NULL};
    struct rank_hist *m1, *d, *m2;
    long th;

    ASSERT_OK(store_update(f->s, fx_fill, NULL));
    ASSERT_OK(store_view(f->s, fx_build, &a));
    ASSERT_OK(store_update(f->s, new_mail, NULL));
    m1 = follow(f, a.h, 0, 1);
    /* What it added, plainly: the word-for-word framing is SOLID's family,
     * the new thread and its account are known, the file is an item. */
    th = rank_hist_thread(m1, "th_00000000000002bc");
    assert_true(th >= 0);
    assert_int_equal(fx_item(m1, SOLID)->ev.threads,
                     fx_item(a.h, SOLID)->ev.threads + 1);
    assert_true(rank_account_find(m1, "freight.example") >= 0);
    assert_true(rank_hist_item(m1, "ct_00000000000002be") >= 0);
    /* The root it came from can go: m1 keeps its strings. */
    rank_hist_free(&a.h);
    ASSERT_OK(store_update(f->s, more_outcomes, NULL));
    d = follow(f, m1, 1, 1);
    rank_hist_free(&m1);
    ASSERT_OK(store_update(f->s, more_mail, NULL));
    m2 = follow(f, d, 0, 1);
    assert_int_equal(m2->follows, 2);
    rank_hist_free(&d);
    rank_hist_free(&m2);
}

/* --- what it refuses ---------------------------------------------------- */

/* Two threads of one inbound email each (no snippets: a merge of them
 * changes nothing the snippet feed shows). */
static sw_err two_inbound(store_txn *t, void *arg)
{
    static const char *const tids[2] = {"th_00000000000003f0",
                                        "th_00000000000003f1"};
    static const char *const eids[2] = {"em_in0", "em_in1"};
    struct store_thread th;
    char *ids[1];
    int i;
    sw_err rc = SW_OK;

    (void)arg;
    for (i = 0; rc == SW_OK && i < 2; i++) {
        char mid[16];
        snprintf(mid, sizeof(mid), "in%d@y", i);
        rc = fx_email(t, eids[i], tids[i], mid, STORE_DIR_INBOUND,
                      "lead@prospect.example", "", "Can you send pricing?",
                      20 + i);
        memset(&th, 0, sizeof(th));
        th.thread_id = (char *)tids[i];
        th.team_id = TEAM;
        th.subject = th.subject_key = "";
        th.first_ms = th.last_ms = (20 + i) * DAYMS;
        ids[0] = (char *)eids[i];
        th.email_ids = ids;
        th.n_emails = 1;
        if (rc == SW_OK)
            rc = store_thread_put(t, &th);
    }
    return rc;
}

static sw_err merge_two(store_txn *t, void *arg)
{
    struct store_thread into;
    sw_err rc;

    (void)arg;
    memset(&into, 0, sizeof(into));
    rc = store_thread_get_txn(t, TEAM, "th_00000000000003f1", &into);
    if (rc == SW_OK)
        rc = store_thread_merge(t, &into, "th_00000000000003f0");
    if (rc == SW_OK)
        rc = store_thread_put(t, &into);
    store_thread_clear(&into);
    return rc;
}

static sw_err new_domain(store_txn *t, void *arg)
{
    (void)arg;
    return fx_email(t, "em_nd", "th_00000000000003e8", "nd@x",
                    STORE_DIR_OUTBOUND, "rep@elsewhere.example", "", "Hello.",
                    60);
}

static sw_err older_twin(store_txn *t, void *arg)
{
    sw_err rc;

    (void)arg;
    rc = fx_email(t, "em_old", "th_00000000000003e9", "old@x",
                  STORE_DIR_OUTBOUND, "a@x", "a@x", "Early.", 0);
    /* Day 0, a second in: older than every SOLID mail of the fixture. */
    return rc ? rc
              : put_snippet(t, "snip_000003e900000000", "em_old",
                            "th_00000000000003e9", SOLID, 1000);
}

static sw_err changed_snippet(store_txn *t, void *arg)
{
    (void)arg;
    return store_snippet_redact_txn(t, TEAM, "snip_0000000100000000");
}

static sw_err lone_content(store_txn *t, void *arg)
{
    struct store_content c;

    (void)arg;
    memset(&c, 0, sizeof(c));
    c.content_id = "ct_lone";
    c.team_id = TEAM;
    c.filename = "library.pdf";
    c.media_type = "application/pdf";
    c.kind = 1;
    c.state = 2;
    c.text = "";
    c.sha256[0] = 0xee;
    return store_content_put(t, &c);
}

static void test_follow_refuses(void **state)
{
    struct fixture *f = *state;
    store_txn_fn changes[] = {merge_two, new_domain, older_twin,
                              changed_snippet, lone_content};
    size_t i;

    for (i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
        struct hist_arg a = {NULL};
        struct call c = {NULL, NULL, NULL, SW_OK, 0};
        /* A store of its own for each change. */
        ASSERT_OK(store_update(f->s, fx_fill, NULL));
        ASSERT_OK(store_update(f->s, two_inbound, NULL));
        ASSERT_OK(store_view(f->s, fx_build, &a));
        ASSERT_OK(store_update(f->s, changes[i], NULL));
        c.base = a.h;
        ASSERT_OK(store_view(f->s, follow_view, &c));
        if (c.rc != SW_ESTATE)
            fail_msg("change %zu: follow gave %s, not SW_ESTATE", i,
                     sw_err_name(c.rc));
        assert_null(c.h);
        rank_hist_free(&c.full);
        rank_hist_free(&a.h);
        assert_int_equal(fx_teardown(state), 0);
        assert_int_equal(fx_setup(state), 0);
        f = *state;
    }
}

/* An erasure too (of mail without snippets: an erasure that redacts
 * snippets shows in the snippet feed as well). */
static void test_follow_refuses_erasure(void **state)
{
    struct fixture *f = *state;
    struct hist_arg a = {NULL};
    struct call c = {NULL, NULL, NULL, SW_OK, 0};
    struct store_erase_counts ec;

    ASSERT_OK(store_update(f->s, fx_fill, NULL));
    ASSERT_OK(store_view(f->s, fx_build, &a));
    memset(&ec, 0, sizeof(ec));
    /* A reply: its erasure changes no snippet. */
    ASSERT_OK(store_email_erase(f->s, TEAM, "em_r000000000000194",
                                STORE_ERASE_KEEP_CONTENT, &ec));
    store_erase_counts_clear(&ec);
    c.base = a.h;
    ASSERT_OK(store_view(f->s, follow_view, &c));
    assert_int_equal(c.rc, SW_ESTATE);
    rank_hist_free(&c.full);
    rank_hist_free(&a.h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_follow_matches_build, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_follow_refuses, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_follow_refuses_erasure, fx_setup,
                                        fx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
