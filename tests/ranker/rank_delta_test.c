/* Tests of counting new outcomes without a rebuild (rank_hist_delta,
 * ranker/hist_outcome.c, issue 13): on the fixture's history plus open
 * threads, the statistics a delta makes after new outcomes (on threads
 * that had none, on threads that had some, split between framings, with
 * a bare introduction, and late enough to mature open threads) equal a
 * full build's, also for a delta of a delta whose ancestors were freed;
 * and what a delta refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/sw_mem.h"
#include "ranker/hist.h"
#include "store/store.h"
#include "store/store_mail.h"
#include "tests/ranker/rank_fixture.h"
#include "tests/testutil.h"

/* Open threads (an outbound mail, no outcome yet), sent on days 68, 69
 * and 70: the history's latest event, so none is mature (3 days). */
#define T_OPEN 900

static sw_err open_fill(store_txn *t, void *arg)
{
    struct tspec sp;
    int i;
    sw_err rc = SW_OK;

    (void)arg;
    for (i = 0; rc == SW_OK && i < 3; i++) {
        memset(&sp, 0, sizeof(sp));
        sp.n = T_OPEN + i;
        sp.rep = "a@x";
        sp.frames[0] = SOLID;
        sp.day = 68 + i;
        rc = fx_thread(t, &sp);
    }
    return rc;
}

/* New outcomes, each batch by day: all before or at the latest event. */
static sw_err batch1(store_txn *t, void *arg)
{
    sw_err rc;

    (void)arg;
    rc = fx_outcome(t, T_OPEN, 4, 70, "n1"); /* a first outcome */
    if (rc == SW_OK) /* LUCKY's thread 1: a meeting after the reply */
        rc = fx_outcome(t, 1, 1, 5, "n2");
    if (rc == SW_OK) /* the two framings' email: a negative reply */
        rc = fx_outcome(t, 403, 6, 11, "n3");
    if (rc == SW_OK) /* the bare introduction's: a positive reply */
        rc = fx_outcome(t, 404, 4, 13, "n4");
    if (rc == SW_OK) /* WEAK's thread 300, negative: now positive too */
        rc = fx_outcome(t, 300, 4, 30, "n5");
    return rc;
}

/* Ten days later: the other open threads mature by time. */
static sw_err batch2(store_txn *t, void *arg)
{
    (void)arg;
    return fx_outcome(t, 3, 2, 80, "n6");
}

struct delta_arg {
    const struct rank_hist *base;
    struct rank_hist *h;
    int64_t cutoff_ms;
    sw_err rc;
};

static sw_err delta_view(store_txn *t, void *arg)
{
    struct delta_arg *a = arg;

    a->rc = rank_hist_delta(t, TEAM, NULL, a->base, &a->h);
    return SW_OK;
}

static sw_err build_view(store_txn *t, void *arg)
{
    struct delta_arg *a = arg;

    return rank_hist_build(t, TEAM, NULL, a->cutoff_ms, &a->h);
}

static struct rank_hist *build(store *s, int64_t cutoff_ms)
{
    struct delta_arg a = {NULL, NULL, cutoff_ms, SW_OK};

    ASSERT_OK(store_view(s, build_view, &a));
    return a.h;
}

static struct rank_hist *delta(store *s, const struct rank_hist *base)
{
    struct delta_arg a = {base, NULL, 0, SW_OK};

    ASSERT_OK(store_view(s, delta_view, &a));
    ASSERT_OK(a.rc);
    return a.h;
}

static long thread_of(const struct rank_hist *h, int n)
{
    char tid[32];

    snprintf(tid, sizeof(tid), "th_%016x", n);
    return rank_hist_thread(h, tid);
}

static void test_delta_matches_build(void **state)
{
    struct fixture *f = *state;
    struct rank_hist *h0, *h1, *h2, *h3, *full;
    const struct rank_hitem *lucky0, *lucky1;
    long open1;

    ASSERT_OK(store_update(f->s, fx_fill, NULL));
    ASSERT_OK(store_update(f->s, open_fill, NULL));
    h0 = build(f->s, 0);
    open1 = thread_of(h0, T_OPEN + 1);
    assert_true(open1 >= 0 && !h0->threads[open1].mature);

    ASSERT_OK(store_update(f->s, batch1, NULL));
    h1 = delta(f->s, h0);
    full = build(f->s, 0);
    fx_hist_same(h1, full);
    /* It did change: LUCKY's family now has a meeting. */
    lucky0 = fx_item(h0, LUCKY);
    lucky1 = fx_item(h1, LUCKY);
    assert_int_equal(lucky0->ev.meetings, 0);
    assert_int_equal(lucky1->ev.meetings, 1);
    assert_true(h1->threads[thread_of(h1, T_OPEN)].mature);
    assert_false(h1->threads[open1].mature);
    rank_hist_free(&full);

    /* A delta of a delta, its ancestors freed (the root lives on). */
    ASSERT_OK(store_update(f->s, batch2, NULL));
    h2 = delta(f->s, h1);
    rank_hist_free(&h0);
    rank_hist_free(&h1);
    full = build(f->s, 0);
    fx_hist_same(h2, full);
    assert_true(h2->threads[open1].mature); /* by time */
    /* Nothing new: the same statistics again. */
    h3 = delta(f->s, h2);
    fx_hist_same(h3, full);
    rank_hist_free(&h2);
    fx_hist_same(h3, full);
    rank_hist_free(&h3);
    rank_hist_free(&full);
}

static void test_delta_refuses(void **state)
{
    struct fixture *f = *state;
    struct delta_arg a = {NULL, NULL, 0, SW_OK};
    struct rank_hist *h;

    ASSERT_OK(store_update(f->s, fx_fill, NULL));
    /* The nightly job's training split is not a serving history. */
    h = build(f->s, 20 * DAYMS);
    a.base = h;
    ASSERT_OK(store_view(f->s, delta_view, &a));
    assert_int_equal(a.rc, SW_EINVAL);
    assert_null(a.h);
    rank_hist_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_delta_matches_build, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_delta_refuses, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
