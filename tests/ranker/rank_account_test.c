/* Tests of the recipients' accounts as ranking context (ranker/account.c,
 * issue 21): the account key of an address; the team's record per account
 * and per (account, item) in a history built from a real store; the
 * account move's shrinkage; and Suggest on a real store and index, where
 * a framing that wins with one account and loses elsewhere comes first
 * for that account's recipients (or a thread with them, given by id) and
 * the team-wide winner comes first without them, or for an account with
 * little history. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/sw_arena.h"
#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "ranker/hist.h"
#include "ranker/suggest.h"
#include "ranker/suggest_int.h"
#include "store/store.h"
#include "store/store_mail.h"
#include "store/store_outcome.h"
#include "store/store_snippet.h"
#include "tests/ranker/rank_fixture.h"
#include "tests/testutil.h"

#define REP "ann@seller.example"
#define POSITIVE 4
#define NEGATIVE 6

/* WIN_TEAM wins with most accounts and loses with acme.example;
 * WIN_ACME the reverse. */
static const char *const WIN_TEAM =
    "Our retail case study shows how stores doubled their repeat orders.";
static const char *const WIN_ACME =
    "Our carrier case study shows how fleets cut late deliveries in half.";
static const char *const ASK =
    "Hi Ann, could you tell me a little more about what you offer?";

static void test_account_key(void **state)
{
    char k[64];

    (void)state;
    assert_int_equal(rank_account_key("bob@Acme.Example", k, sizeof(k)), 12);
    assert_string_equal(k, "acme.example");
    assert_true(
        rank_account_key("Bob Ray <bob@eu.ACME.example>", k, sizeof(k)) > 0);
    assert_string_equal(k, "acme.example");
    assert_true(rank_account_key("x@mail.acme.co.uk", k, sizeof(k)) > 0);
    assert_string_equal(k, "acme.co.uk");
    assert_true(rank_account_key("acme.example.", k, sizeof(k)) > 0);
    assert_string_equal(k, "acme.example");
    /* Free mail says nothing of the company; malformed names nothing. */
    assert_int_equal(rank_account_key("someone@gmail.com", k, sizeof(k)), 0);
    assert_int_equal(rank_account_key("a@mail.yahoo.co.uk", k, sizeof(k)), 0);
    assert_int_equal(rank_account_key("nobody", k, sizeof(k)), 0);
    assert_int_equal(rank_account_key("a@b..example", k, sizeof(k)), 0);
    assert_int_equal(rank_account_key("a@bad_host.example", k, sizeof(k)), 0);
    assert_int_equal(rank_account_key("", k, sizeof(k)), 0);
    assert_int_equal(rank_account_key(NULL, k, sizeof(k)), 0);
    assert_int_equal(rank_account_key("b@acme.example", k, 5), 0);
}

/* The move: the item's mean with the account against its mean over all
 * its uses, times n / (n + strength). */
static void test_account_move(void **state)
{
    struct rank_params p;
    struct rank_hitem it;
    struct rank_acct_evid ev;
    struct rank_score s;
    double one, ten;

    (void)state;
    rank_params_default(&p);
    memset(&it, 0, sizeof(it));
    memset(&ev, 0, sizeof(ev));
    it.kind = 'f';
    it.ev.trials = 50;
    it.ev.value = 10.0; /* 0.2 per use */
    ev.trials = 1;
    ev.value = 1.0;
    one = rank_account_move(&p, &it, &ev);
    assert_true(fabs(one - 0.8 * 1.0 / (1.0 + p.account_strength)) < 1e-12);
    ev.trials = 10;
    ev.value = 10.0;
    ten = rank_account_move(&p, &it, &ev);
    assert_true(fabs(ten - 0.8 * 10.0 / (10.0 + p.account_strength)) < 1e-12);
    assert_true(ten > 2 * one); /* more history there, less shrinkage */
    /* An item used only with this account is not moved by it. */
    it.ev.trials = 10;
    it.ev.value = 10.0;
    assert_true(rank_account_move(&p, &it, &ev) == 0.0);
    ev.trials = 0;
    assert_true(rank_account_move(&p, &it, &ev) == 0.0);
    /* The term: tanh of the move, weighed into the total in the outcome
     * mode only. */
    it.ev.trials = 50;
    it.ev.value = 10.0;
    ev.trials = 10;
    memset(&s, 0, sizeof(s));
    rank__score_account(&p, &it, &ev, RANK_MODE_SIMILARITY, &s);
    assert_true(s.account == 0.0 && s.total == 0.0);
    rank__score_account(&p, &it, &ev, RANK_MODE_OUTCOME, &s);
    assert_true(fabs(s.account - tanh(ten)) < 1e-12);
    assert_true(fabs(s.total - p.w_account * s.account) < 1e-12);
}

/* --- a real store ----------------------------------------------------------
 */

/* One email n of thread n / 2 from one address to another. */
static sw_err fx_email_n(store_txn *t, int n, int direction, const char *from,
                         const char *to, const char *text, int64_t ms)
{
    char eid[32], tid[32], mid[64];
    struct fx_mail m = {eid, tid, mid,          direction, from,
                        REP, to,  "A question", text,      ms};

    snprintf(eid, sizeof(eid), "em_%016x", n);
    snprintf(tid, sizeof(tid), "th_%016x", n / 2);
    snprintf(mid, sizeof(mid), "m%d@x", n);
    return fx_email_full(t, &m);
}

/* Thread n: the prospect's question, then (when frame is set) the rep's
 * answer with that framing and an outcome of kind (0: none). */
static sw_err acct_thread(store_txn *t, int n, const char *prospect,
                          const char *frame, int kind)
{
    char eid[2][32], tid[32], sid[32], key[32];
    char *eids[2] = {eid[0], eid[1]}, *parts[2], *reps[1];
    const int64_t ms = (1 + n % 40) * DAYMS;
    struct store_thread th;
    struct store_snippet s;
    struct store_outcome o;
    sw_err rc;

    snprintf(eid[0], sizeof(eid[0]), "em_%016x", 2 * n);
    snprintf(eid[1], sizeof(eid[1]), "em_%016x", 2 * n + 1);
    snprintf(tid, sizeof(tid), "th_%016x", n);
    rc = fx_email_n(t, 2 * n, STORE_DIR_INBOUND, prospect, REP, ASK, ms);
    if (rc == SW_OK && frame)
        rc = fx_email_n(t, 2 * n + 1, STORE_DIR_OUTBOUND, REP, prospect, frame,
                        ms + 3600 * 1000);
    memset(&th, 0, sizeof(th));
    th.thread_id = tid;
    th.team_id = TEAM;
    th.subject = th.subject_key = "a question";
    th.first_ms = ms;
    th.last_ms = ms + 3600 * 1000;
    th.email_ids = eids;
    th.n_emails = frame ? 2 : 1;
    parts[0] = (char *)prospect;
    parts[1] = REP;
    reps[0] = REP;
    th.participants = parts;
    th.n_participants = 2;
    th.rep_emails = reps;
    th.n_rep_emails = 1;
    if (rc == SW_OK)
        rc = store_thread_put(t, &th);
    if (rc || frame == NULL)
        return rc;
    memset(&s, 0, sizeof(s));
    snprintf(sid, sizeof(sid), "snip_%016x", n);
    s.snippet_id = sid;
    s.team_id = TEAM;
    s.kind = STORE_SNIPPET_FRAMING;
    s.text = (char *)frame;
    s.email_id = eid[1];
    s.thread_id = tid;
    s.rep_email = REP;
    s.create_ms = ms + 3600 * 1000;
    rc = store_snippet_put(t, &s);
    if (rc || kind == 0)
        return rc;
    memset(&o, 0, sizeof(o));
    snprintf(key, sizeof(key), "k%d", n);
    o.thread_id = tid;
    o.kind = kind;
    o.occur_ms = o.record_ms = ms + DAYMS;
    o.source = STORE_OUTCOME_RECORDED;
    o.idem_key = key;
    {
        char *oid = NULL;
        int dup = 0;
        rc = store_outcome_put(t, TEAM, &o, &dup, &oid);
        sw_free(oid);
    }
    return rc;
}

/* Thread numbers of the fixture's threads without an answer yet. */
#define T_OPEN_ACME 500
#define T_OPEN_NEW 501

/* 10 threads of each framing with acme.example (WIN_ACME 9 positive,
 * WIN_TEAM 1), 40 of each with four other accounts (WIN_TEAM 32
 * positive, WIN_ACME 8), one WIN_ACME thread with tiny.example
 * (positive), and two open threads (a question from acme.example and one
 * from a new account). */
static sw_err acct_fill(store_txn *t, void *arg)
{
    char who[64];
    int n = 0, i, f;
    sw_err rc = SW_OK;

    (void)arg;
    for (f = 0; f < 2; f++)
        for (i = 0; rc == SW_OK && i < 50; i++) {
            int acme = i < 10, good;
            if (acme)
                snprintf(who, sizeof(who), "p%d@acme.example", n);
            else
                snprintf(who, sizeof(who), "p%d@other%d.example", n, i % 4);
            good = f == 0 ? (acme ? i < 9 : i < 18) : (acme ? i < 1 : i < 42);
            rc = acct_thread(t, n++, who, f == 0 ? WIN_ACME : WIN_TEAM,
                             good ? POSITIVE : NEGATIVE);
        }
    if (rc == SW_OK)
        rc = acct_thread(t, n++, "solo@tiny.example", WIN_ACME, POSITIVE);
    if (rc == SW_OK)
        rc = acct_thread(t, T_OPEN_ACME, "new@eu.acme.example", NULL, 0);
    if (rc == SW_OK)
        rc = acct_thread(t, T_OPEN_NEW, "new@fresh.example", NULL, 0);
    return rc;
}

struct acct_hist_arg {
    struct rank_hist *h;
};

static sw_err acct_build(store_txn *t, void *arg)
{
    struct acct_hist_arg *a = arg;

    return rank_hist_build(t, TEAM, NULL, 0, &a->h);
}

static long acct_family(const struct rank_hist *h, const char *text)
{
    size_t i;

    for (i = 0; i < h->nitems; i++)
        if (h->items[i].kind == 'f' && strcmp(h->items[i].title, text) == 0)
            return (long)i;
    fail_msg("no family for %s", text);
    return -1;
}

/* New outcomes with two accounts: acme's negative thread 9 now
 * positive, and another account's thread 60. */
static sw_err acct_news(store_txn *t, void *arg)
{
    sw_err rc;

    (void)arg;
    rc = fx_outcome(t, 9, POSITIVE, 1 + 9 % 40 + 2, "new1");
    if (rc == SW_OK)
        rc = fx_outcome(t, 60, POSITIVE, 1 + 60 % 40 + 2, "new2");
    return rc;
}

struct acct_delta_arg {
    const struct rank_hist *base;
    struct rank_hist *h;
};

static sw_err acct_delta(store_txn *t, void *arg)
{
    struct acct_delta_arg *a = arg;

    return rank_hist_delta(t, TEAM, NULL, a->base, &a->h);
}

/* New outcomes counted without a rebuild (rank_hist_delta) give the
 * accounts and their records per item what a full build gives. */
static void test_account_delta(void **state)
{
    struct fixture *f = *state;
    struct acct_hist_arg a = {NULL}, full = {NULL};
    struct acct_delta_arg d = {NULL, NULL};
    struct rank_acct_evid ev;
    uint32_t acc[1];
    long acme;

    ASSERT_OK(store_update(f->s, acct_fill, NULL));
    ASSERT_OK(store_view(f->s, acct_build, &a));
    ASSERT_OK(store_update(f->s, acct_news, NULL));
    d.base = a.h;
    ASSERT_OK(store_view(f->s, acct_delta, &d));
    ASSERT_OK(store_view(f->s, acct_build, &full));
    fx_hist_same(d.h, full.h);
    acme = rank_account_find(d.h, "acme.example");
    assert_int_equal(a.h->accounts[acme].positives, 10);
    assert_int_equal(d.h->accounts[acme].positives, 11);
    acc[0] = (uint32_t)acme;
    rank_account_sum(d.h, acc, 1, (uint32_t)acct_family(d.h, WIN_ACME), &ev);
    assert_int_equal(ev.positives, 10);
    assert_true(fabs(ev.value - (9 * 1.0 - 0.5 + 1.0)) < 1e-9);
    rank_hist_free(&a.h);
    rank_hist_free(&d.h);
    rank_hist_free(&full.h);
}

/* The history's accounts: the prospects' domains (the team's own is not
 * one), each with its threads and positives, and each framing's record
 * per account. */
static void test_account_hist(void **state)
{
    struct fixture *f = *state;
    struct acct_hist_arg a = {NULL};
    struct rank_acct_evid ev;
    long acme, other0, fa, ft;
    uint32_t acc[1];

    ASSERT_OK(store_update(f->s, acct_fill, NULL));
    ASSERT_OK(store_view(f->s, acct_build, &a));
    /* acme, fresh (an open thread: no outbound), other0..3, tiny. */
    assert_int_equal(a.h->naccounts, 7);
    assert_string_equal(a.h->accounts[0].domain, "acme.example");
    assert_true(rank_account_own(a.h, "seller.example"));
    assert_false(rank_account_own(a.h, "acme.example"));
    assert_int_equal(rank_account_find(a.h, "seller.example"), -1);
    acme = rank_account_find(a.h, "acme.example");
    other0 = rank_account_find(a.h, "other0.example");
    assert_true(acme == 0 && other0 > 0);
    assert_int_equal(a.h->accounts[acme].threads, 20);
    assert_int_equal(a.h->accounts[acme].mature, 20);
    assert_int_equal(a.h->accounts[acme].positives, 10);
    assert_int_equal(
        a.h->accounts[rank_account_find(a.h, "fresh.example")].threads, 0);
    fa = acct_family(a.h, WIN_ACME);
    ft = acct_family(a.h, WIN_TEAM);
    acc[0] = (uint32_t)acme;
    rank_account_sum(a.h, acc, 1, (uint32_t)fa, &ev);
    assert_int_equal(ev.threads, 10);
    assert_int_equal(ev.positives, 9);
    assert_int_equal(ev.trials, 10);
    assert_true(fabs(ev.value - (9 * 1.0 - 0.5)) < 1e-9);
    rank_account_sum(a.h, acc, 1, (uint32_t)ft, &ev);
    assert_int_equal(ev.threads, 10);
    assert_int_equal(ev.positives, 1);
    acc[0] = (uint32_t)other0;
    rank_account_sum(a.h, acc, 1, (uint32_t)ft, &ev);
    assert_int_equal(ev.threads, 10);
    assert_int_equal(ev.positives, 8);
    rank_account_sum(a.h, acc, 0, (uint32_t)ft, &ev);
    assert_int_equal(ev.threads, 0);
    rank_hist_free(&a.h);
}

struct top {
    const char *first; /* WIN_ACME, WIN_TEAM or NULL */
    const char *why;   /* the first framing's explanation */
    char accounts[128];
    int64_t acme_threads;
    double account; /* the first framing's account term */
};

/* acct_suggest runs Suggest (explained) with the given recipients and thread
 * (thread number or -1) and notes the first framing. */
static void acct_suggest(rank_engine *e, struct sw_arena *a,
                         const char *const *rcpt, size_t n, int thread,
                         struct top *out)
{
    struct rank_suggest_req q;
    struct rank_suggest_res res;
    struct sw_buf why;
    char tid[32];
    size_t i;

    memset(&q, 0, sizeof(q));
    memset(out, 0, sizeof(*out));
    q.team_id = TEAM;
    if (thread >= 0) {
        snprintf(tid, sizeof(tid), "th_%016x", thread);
        q.thread_id = tid;
    } else {
        q.context = ASK;
    }
    q.recipients = rcpt;
    q.n_recipients = n;
    q.max_framings = 2;
    q.max_contents = 1;
    q.explain = 1;
    q.request_hash = 7;
    sw_buf_init(&why, 1024);
    ASSERT_OK(rank_suggest(e, &q, a, &res, &why));
    sw_buf_free(&why);
    assert_true(res.n_framings == 2);
    out->first = strcmp(res.framings[0].text, WIN_ACME) == 0   ? WIN_ACME
                 : strcmp(res.framings[0].text, WIN_TEAM) == 0 ? WIN_TEAM
                                                               : NULL;
    out->why = res.framings[0].explanation;
    out->account = res.framings[0].score.account;
    for (i = 0; i < res.n_accounts; i++) {
        size_t l = strlen(out->accounts);
        snprintf(out->accounts + l, sizeof(out->accounts) - l, "%s%s",
                 i ? "," : "", res.accounts[i].domain);
        if (strcmp(res.accounts[i].domain, "acme.example") == 0)
            out->acme_threads = res.accounts[i].threads;
    }
}

/* Without recipients the team-wide winner is first; for acme.example's
 * recipients (a subdomain too, or the open thread from acme given by id)
 * acme's winner is, and the explanation names acme.example; for an
 * account with one thread of history, or none, the team-wide winner
 * stays first; the team's own address and free mail are no context. */
static void test_suggest_by_account(void **state)
{
    static const char *const to_acme[] = {"Bob <bob@acme.example>"};
    static const char *const to_sub[] = {"x@eu.acme.example", REP};
    static const char *const to_tiny[] = {"solo2@tiny.example"};
    static const char *const to_none[] = {REP, "me@gmail.com"};
    struct fixture *f = *state;
    rank_ranker *r = NULL;
    rank_engine *e = NULL;
    struct sw_arena a;
    struct top t;
    int caught = 0;

    ASSERT_OK(store_update(f->s, acct_fill, NULL));
    ASSERT_OK(rank_ranker_open(f->s, NULL, &r));
    ASSERT_OK(rank_ranker_sync(r, TEAM, 0, &caught));
    ASSERT_OK(rank_engine_open(f->s, r, NULL, &e));
    sw_arena_init(&a, 0);

    acct_suggest(e, &a, NULL, 0, -1, &t);
    assert_ptr_equal(t.first, WIN_TEAM);
    assert_string_equal(t.accounts, "");
    assert_true(t.account == 0.0);
    assert_null(strstr(t.why, "acme"));

    acct_suggest(e, &a, to_acme, 1, -1, &t);
    assert_ptr_equal(t.first, WIN_ACME);
    assert_string_equal(t.accounts, "acme.example");
    assert_int_equal(t.acme_threads, 20);
    assert_true(t.account > 0.3);
    assert_non_null(strstr(t.why, "; in 10 threads with acme.example, 90% "
                                  "positive (the team's 20 threads there: "
                                  "50%)"));

    acct_suggest(e, &a, to_sub, 2, -1, &t);
    assert_ptr_equal(t.first, WIN_ACME);
    assert_string_equal(t.accounts, "acme.example");

    /* The thread given by id: its outside participants are recipients. */
    acct_suggest(e, &a, NULL, 0, T_OPEN_ACME, &t);
    assert_ptr_equal(t.first, WIN_ACME);
    assert_string_equal(t.accounts, "acme.example");
    acct_suggest(e, &a, NULL, 0, T_OPEN_NEW, &t);
    assert_ptr_equal(t.first, WIN_TEAM);
    assert_string_equal(t.accounts, "fresh.example");

    /* One thread's history: under the 8 mature threads an account needs
     * before it moves anything (account_min_mature), so no term at all,
     * though the explanation still shows the record. */
    acct_suggest(e, &a, to_tiny, 1, -1, &t);
    assert_ptr_equal(t.first, WIN_TEAM);
    assert_string_equal(t.accounts, "tiny.example");
    assert_true(t.account == 0.0);

    acct_suggest(e, &a, to_none, 2, -1, &t);
    assert_ptr_equal(t.first, WIN_TEAM);
    assert_string_equal(t.accounts, "");

    /* With acme's 20 threads under the minimum, the team-wide winner
     * stays first there too. */
    rank_engine_close(&e);
    {
        struct rank_params p;
        rank_params_default(&p);
        p.account_min_mature = 21;
        ASSERT_OK(rank_engine_open(f->s, r, &p, &e));
        acct_suggest(e, &a, to_acme, 1, -1, &t);
        assert_ptr_equal(t.first, WIN_TEAM);
        assert_true(t.account == 0.0);
        rank_engine_close(&e);
        p.account_min_mature = 20;
        ASSERT_OK(rank_engine_open(f->s, r, &p, &e));
        acct_suggest(e, &a, to_acme, 1, -1, &t);
        assert_ptr_equal(t.first, WIN_ACME);
    }
    sw_arena_free(&a);
    rank_engine_close(&e);
    rank_ranker_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_account_key),
        cmocka_unit_test(test_account_move),
        cmocka_unit_test_setup_teardown(test_account_delta, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_account_hist, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_suggest_by_account, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
