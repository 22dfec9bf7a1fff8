/* engine_lag_test: the lag a started engine reports (rank_fresh.lag_ms)
 * when only new outcomes can be counted. With the builder's full build of
 * new mail held open in the build hook, an outcome is counted into the
 * published statistics (rank_hist_delta); the lag must still date from
 * the new mail, the oldest change not yet counted, and not restart at
 * the pass that counted the outcome. Once the build is let go the
 * statistics are current. No assertion depends on timing: the lag is
 * checked against bounds read from the same monotonic clock. */
#include "tests/testutil.h"

#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "base/sw_util.h"
#include "ranker/engine.h"
#include "ranker/index.h"
#include "store/store.h"
#include "tests/ranker/rank_fixture.h"

/* How long the outcome comes after the mail was first seen: a lag that
 * restarted at the outcome's pass reads at least this much shorter than
 * one dating from the mail. It makes the planted bug visible; the test
 * passes on correct code whatever the machine's speed. */
#define LAG_GAP_MS 100

/* Threads first to first + count - 1 of fx_thread, one framing each,
 * with an outcome of kind (0: none) a day after the mail. */
struct lag_threads {
    int first, count, kind;
    const char *rep; /* the sender; NULL: a@x and b@x in turn */
};

static sw_err lag_fill(store_txn *t, void *arg)
{
    const struct lag_threads *th = arg;
    struct tspec sp;
    int i;
    sw_err rc = SW_OK;

    for (i = 0; rc == SW_OK && i < th->count; i++) {
        memset(&sp, 0, sizeof(sp));
        sp.n = th->first + i;
        sp.rep = th->rep ? th->rep : i % 2 ? "a@x" : "b@x";
        sp.day = 1 + i;
        sp.frames[0] = "Pricing depends on seats and usage, billed monthly.";
        sp.kinds[0] = th->kind;
        sp.after[0] = 1;
        rc = fx_thread(t, &sp);
    }
    return rc;
}

static sw_err lag_outcome(store_txn *t, void *arg)
{
    (void)arg;
    return fx_outcome(t, 2, 1, 5, "lag-meeting");
}

/* lag_wait polls TEAM's freshness into *f (bounded: 30 s, a failure, not
 * a timing) until it is current (after NULL) or its published statistics
 * count outcomes past *after. */
static void lag_wait(rank_engine *e, const uint64_t *after,
                     struct rank_fresh *f)
{
    int i;

    for (i = 0; i < 3000; i++) {
        ASSERT_OK(rank_engine_freshness(e, TEAM, f));
        if (after ? f->ready && f->seqs[2] > *after : f->current)
            return;
        usleep(10000);
    }
    fail_msg("the engine never reached the state waited for");
}

static void test_lag_dates_from_the_mail(void **state)
{
    struct fixture *f = *state;
    /* The new mail comes from a domain the team had not sent from: only
     * a full build can count it (rank_hist_follow refuses it). */
    struct lag_threads old = {1, 12, 4, NULL},
                       more = {100, 2, 0, "a@newco.example"};
    struct rank_fresh f0, f1, f2;
    struct hold h;
    rank_ranker *r = NULL;
    rank_engine *e = NULL;
    int64_t since_hi, t2;
    int caught = 0;

    memset(&h, 0, sizeof(h));
    pthread_mutex_init(&h.mu, NULL);
    pthread_cond_init(&h.cond, NULL);
    ASSERT_OK(store_update(f->s, lag_fill, &old));
    ASSERT_OK(rank_ranker_open(f->s, NULL, &r));
    ASSERT_OK(rank_ranker_sync(r, TEAM, 0, &caught));
    ASSERT_OK(rank_engine_open(f->s, r, NULL, &e));
    rank_engine_set_build_hook(e, hold_hook, &h);
    ASSERT_OK(rank_engine_start(e, 20));
    lag_wait(e, NULL, &f0);

    /* New mail (no outcome); the builder's full build of it waits in the
     * hook. */
    hold_arm(&h);
    ASSERT_OK(store_update(f->s, lag_fill, &more));
    ASSERT_OK(rank_ranker_sync(r, TEAM, 0, &caught)); /* the indexer's */
    rank_engine_kick(e);
    assert_true(hold_wait(&h, &h.entered));
    ASSERT_OK(rank_engine_freshness(e, TEAM, &f1));
    /* lag = (the moment of the read) - (first seen stale): the mail has
     * been waiting since since_hi at the latest. */
    since_hi = sw_mono_ms() - f1.lag_ms;
    assert_false(f1.current);
    assert_true(f1.ready);
    assert_memory_equal(f1.seqs, f0.seqs, sizeof(f0.seqs));

    /* An outcome, counted without the held build. */
    while (sw_mono_ms() < since_hi + LAG_GAP_MS)
        usleep(1000);
    ASSERT_OK(store_update(f->s, lag_outcome, NULL));
    rank_engine_kick(e);
    lag_wait(e, &f1.seqs[2], &f2);
    t2 = sw_mono_ms();
    ASSERT_OK(rank_engine_freshness(e, TEAM, &f2));
    assert_false(f2.current);
    assert_true(f2.seqs[2] > f1.seqs[2]);     /* the outcome counts */
    assert_int_equal(f2.seqs[0], f1.seqs[0]); /* the mail does not yet */
    assert_int_equal(f2.seqs[1], f1.seqs[1]);
    /* Still lagging since the mail (at or before since_hi), so at least
     * t2 - since_hi now; a lag restarted by the outcome's pass would be
     * LAG_GAP_MS shorter. */
    if (f2.lag_ms < t2 - since_hi)
        fail_msg("lag %lld ms after the outcome counted: it restarted (the "
                 "mail has waited %lld ms at least)",
                 (long long)f2.lag_ms, (long long)(t2 - since_hi));

    /* The build let go: everything counts. */
    hold_release(&h);
    lag_wait(e, NULL, &f2);
    assert_int_equal(f2.lag_ms, 0);
    assert_true(f2.seqs[0] > f1.seqs[0]);
    assert_true(f2.seqs[2] > f1.seqs[2]);

    rank_engine_close(&e);
    rank_ranker_close(&r);
    pthread_cond_destroy(&h.cond);
    pthread_mutex_destroy(&h.mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lag_dates_from_the_mail, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
