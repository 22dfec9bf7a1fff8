/* Tests of the nightly job's holdout evaluation (ranker/rerank.c): each
 * item's relevance to a holdout thread is what Suggest would have seen,
 * the best cosine of its snippets among the team index's hits, counting
 * only the snippets written before the thread (never its own mail). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ranker/index.h"
#include "ranker/model.h"
#include "ranker/rerank.h"
#include "store/store.h"
#include "tests/ranker/rank_fixture.h"
#include "tests/testutil.h"

#define PAIRS 10
#define POSITIVE 4

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

/* word writes pair k's m-th word: seven letters from a hash, so that two
 * pairs share no word (and few character n-grams). */
static void word(int k, int m, char *out)
{
    uint64_t h = mix((uint64_t)k * 131 + (uint64_t)m + 7);
    int i;

    for (i = 0; i < 7; i++, h /= 26)
        out[i] = (char)('a' + h % 26);
    out[7] = '\0';
}

/* The history: PAIRS pairs of threads on consecutive days, each pair with
 * words of its own. Both threads of a pair open with a question in those
 * words and answer it with the same framing, which shares two of them, and
 * both pay off. So a pair's framing is first written by the first thread
 * of the pair, and known (from its twin) before the second one. */
static sw_err fill_pairs(store_txn *t, void *arg)
{
    static char ctx[PAIRS][128], frame[PAIRS][128];
    struct tspec sp;
    char w[3][8];
    int k, s;
    sw_err rc = SW_OK;

    (void)arg;
    for (k = 0; rc == SW_OK && k < PAIRS; k++) {
        word(k, 0, w[0]);
        word(k, 1, w[1]);
        word(k, 2, w[2]);
        snprintf(ctx[k], sizeof(ctx[k]),
                 "Hello, a question about %s and %s for us.", w[0], w[1]);
        snprintf(frame[k], sizeof(frame[k]), "The %s and %s bring %s.", w[0],
                 w[1], w[2]);
        for (s = 0; rc == SW_OK && s < 2; s++) {
            memset(&sp, 0, sizeof(sp));
            sp.n = 2 * k + s + 1;
            sp.rep = s ? "b@x" : "a@x";
            sp.day = 1 + 2 * k + s;
            sp.frames[0] = frame[k];
            sp.kinds[0] = POSITIVE;
            sp.after[0] = 1;
            sp.ctx = ctx[k];
            rc = fx_thread(t, &sp);
        }
    }
    return rc;
}

/* dry_rerank indexes TEAM's snippets and runs its nightly job without
 * promoting anything, on day 200, into *res. */
static void dry_rerank(struct fixture *f, struct rank_rerank_result *res)
{
    struct rank_rerank_opts o;
    rank_ranker *r = NULL;
    int caught = 0;

    ASSERT_OK(rank_ranker_open(f->s, NULL, &r));
    ASSERT_OK(rank_ranker_sync(r, TEAM, 0, &caught));
    memset(&o, 0, sizeof(o));
    o.dry_run = 1;
    o.now_ms = 200 * DAYMS;
    ASSERT_OK(rank_rerank_team(f->s, r, TEAM, NULL, &o, NULL, NULL, res));
    rank_ranker_close(&r);
}

/* The holdout is the last fifth of the threads: two whole pairs. For the
 * second thread of a pair, its twin's snippet is in the index and shares
 * the question's words: similarity ranks the framing first (NDCG 1). For
 * the first one, the only snippet of its framing is the one its own mail
 * wrote, which Suggest could not have offered when the rep wrote it: the
 * framing is not offered (NDCG 0; ranked anyway, last of the nine known
 * framings, it would score 0.30). Judging by the items' titles, or
 * counting the thread's own mail, would give 1 for both. */
static void test_eval_by_snippets_written_before(void **state)
{
    struct fixture *f = *state;
    struct rank_rerank_result res;
    const struct rank_metrics *m;

    ASSERT_OK(store_update(f->s, fill_pairs, NULL));
    dry_rerank(f, &res);
    m = &res.model->metrics;
    print_message("holdout threads %lld, similarity NDCG@10 %.3f, "
                  "candidate %.3f\n",
                  (long long)m->holdout_threads,
                  m->base[RANK_BASE_SIMILARITY].ndcg, m->model.ndcg);
    assert_int_equal(m->holdout_threads, 4);
    assert_true(m->base[RANK_BASE_SIMILARITY].present);
    assert_true(m->base[RANK_BASE_SIMILARITY].ndcg > 0.49);
    assert_true(m->base[RANK_BASE_SIMILARITY].ndcg < 0.51);
    assert_true(m->model.ndcg < 0.51);
    rank_model_free(&res.model);
}

/* Two framings, each paying off with one of two companies and not with
 * the other, in threads whose words say nothing of the company (the
 * recipient's domain does): 240 threads using either at random, the
 * holdout (the last fifth) the one that fits. Suggest ranks with the
 * recipients' account term (rank__score_account), so the holdout's
 * candidate must too: it ranks the fitting framing first for every
 * holdout thread. */
static const char *const ACC_FRAME[2] = {
    "Our rollout plan takes two weeks from signature.",
    "Every seat comes with a named support engineer."};

static sw_err fill_accounts(store_txn *t, void *arg)
{
    static char ctx[240][96];
    struct tspec sp;
    int i;
    sw_err rc = SW_OK;

    (void)arg;
    for (i = 0; rc == SW_OK && i < 240; i++) {
        uint64_t h = mix((uint64_t)i + 5);
        int co = i % 2, hold = i >= 192;
        int fr = hold ? co : (int)(h & 1);
        memset(&sp, 0, sizeof(sp));
        sp.n = i + 1;
        sp.rep = "a@x";
        sp.day = 1 + i / 2;
        sp.frames[0] = ACC_FRAME[fr];
        sp.kinds[0] = fr == co ? POSITIVE : 6;
        sp.after[0] = 1;
        snprintf(ctx[i], sizeof(ctx[i]), "Hello, question %d about the plan.",
                 i);
        sp.ctx = ctx[i];
        sp.to = co ? "pat@beta-corp.com" : "sam@alpha-corp.com";
        rc = fx_thread(t, &sp);
    }
    return rc;
}

static void test_eval_with_account_term(void **state)
{
    struct fixture *f = *state;
    struct rank_rerank_result res;
    const struct rank_metrics *m;

    ASSERT_OK(store_update(f->s, fill_accounts, NULL));
    dry_rerank(f, &res);
    m = &res.model->metrics;
    print_message("accounts: holdout threads %lld, similarity NDCG@10 %.3f, "
                  "candidate %.3f\n",
                  (long long)m->holdout_threads,
                  m->base[RANK_BASE_SIMILARITY].ndcg, m->model.ndcg);
    assert_int_equal(m->holdout_threads, 48);
    assert_true(m->model.ndcg > 0.999);
    rank_model_free(&res.model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_eval_by_snippets_written_before,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_eval_with_account_term, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
