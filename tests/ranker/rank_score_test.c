/* Tests of the ranker's scoring pieces: family clustering (near-identical
 * variants pooled, distinct sentences apart, ids stable across runs and as
 * families grow), ALS recovering a planted preference, MMR diversity, and
 * exploration draws, the outcome and usage in threads like the query,
 * rank_hist on a real store: evidence counts, the attribution window,
 * credit split across the framings of one email, and prior shrinkage (two
 * lucky uses do not beat two hundred solid ones); Suggest on a real
 * store and index: diversity, and a started engine that answers while its
 * statistics are being rebuilt. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/sw_arena.h"
#include "base/sw_buf.h"
#include "base/sw_mem.h"
#include "ranker/als.h"
#include "ranker/hist.h"
#include "ranker/rerank.h"
#include "ranker/suggest.h"
#include "ranker/suggest_int.h"
#include "store/store.h"
#include "store/store_mail.h"
#include "store/store_outcome.h"
#include "store/store_snippet.h"
#include "store/store_tenant.h"
#include "tests/ranker/rank_fixture.h"
#include "tests/testutil.h"

static const char *const fam_texts[] = {
    /* three variants of one sentence, then two other sentences */
    "Teams like yours cut reporting time in half within one quarter.",
    "Honestly, teams like yours cut reporting time in half within one "
    "quarter.",
    "Teams like yours cut reporting time in half within a single quarter!",
    "Most of our customers in your industry started with this exact guide.",
    "This offer ends Friday so please sign this week.",
};

static void test_family_cluster(void **state)
{
    uint32_t fam[5], again[5];
    char id1[21], id2[21];

    (void)state;
    ASSERT_OK(rank_family_cluster(fam_texts, 5, 0.6, fam));
    assert_int_equal(fam[0], 0);
    assert_int_equal(fam[1], 0);
    assert_int_equal(fam[2], 0);
    assert_int_equal(fam[3], 3);
    assert_int_equal(fam[4], 4);
    /* The same input gives the same families; a newer member joins the
     * oldest one's family, whose id (from the oldest member) is kept. */
    ASSERT_OK(rank_family_cluster(fam_texts, 3, 0.6, again));
    assert_memory_equal(fam, again, 3 * sizeof(*fam));
    rank_family_id("snip_0000000000000001", id1);
    rank_family_id("snip_0000000000000001", id2);
    assert_string_equal(id1, id2);
    assert_true(strncmp(id1, "fam_", 4) == 0 && strlen(id1) == 20);
    assert_true(rank_minhash_jaccard(fam_texts[0], fam_texts[1]) >= 0.6);
    assert_true(rank_minhash_jaccard(fam_texts[0], fam_texts[3]) < 0.3);
}

/* The signature cache changes nothing but the work: clustering through
 * one cache, over text sets that gain, repeat and lose texts, gives the
 * families of clustering without it, every time. */
static void test_family_cluster_cached(void **state)
{
    const char *sets[3][6] = {
        {fam_texts[0], fam_texts[3], fam_texts[1], NULL},
        {fam_texts[3], fam_texts[0], fam_texts[4], fam_texts[1], fam_texts[2],
         NULL},
        {fam_texts[4], fam_texts[2], fam_texts[2], fam_texts[0], NULL},
    };
    struct rank_sigs *cache = NULL;
    uint32_t plain[6], cached[6];
    size_t r, n;

    (void)state;
    ASSERT_OK(rank_sigs_new(&cache));
    for (r = 0; r < 6; r++) {
        const char *const *t = sets[r % 3];
        for (n = 0; t[n]; n++)
            ;
        ASSERT_OK(rank_family_cluster(t, n, 0.6, plain));
        ASSERT_OK(rank_family_cluster_cached(t, n, 0.6, 0.0, cache, cached));
        assert_memory_equal(plain, cached, n * sizeof(*plain));
    }
    /* And the families are the ones expected of those texts. */
    ASSERT_OK(rank_family_cluster_cached(sets[1], 5, 0.6, 0.0, cache, cached));
    assert_int_equal(cached[0], 0); /* fam_texts[3]: alone */
    assert_int_equal(cached[1], 1); /* fam_texts[0] founds its family */
    assert_int_equal(cached[3], 1);
    assert_int_equal(cached[4], 1);
    assert_int_equal(cached[2], 2);
    rank_sigs_free(&cache);
    assert_null(cache);
}

static void test_als_planted(void **state)
{
    struct rank_als_cell cells[200];
    struct rank_als_opts o = {2, 15, 0.1, 42, NULL};
    double *X = NULL, *Y = NULL, held, other;
    size_t n = 0, r, c;
    int k = 0, d;

    (void)state;
    /* Rows 0-9 like columns 0-4, rows 10-19 like columns 5-9; the cell
     * (0, 4) is held out. Two factors: the planted rank. */
    for (r = 0; r < 20; r++)
        for (c = 0; c < 10; c++) {
            if ((r < 10) != (c < 5) || (r == 0 && c == 4))
                continue;
            cells[n].row = (uint32_t)r;
            cells[n].col = (uint32_t)c;
            cells[n].pref = 1.0;
            cells[n].conf = 5.0;
            n++;
        }
    ASSERT_OK(rank_als_fit(20, 10, cells, n, &o, &X, &Y, &k));
    assert_int_equal(k, 2);
    for (held = 0, d = 0; d < k; d++)
        held += X[d] * Y[4 * k + d];
    for (c = 5; c < 10; c++) {
        for (other = 0, d = 0; d < k; d++)
            other += X[d] * Y[c * k + d];
        assert_true(held > other + 0.2);
    }
    /* Fold-in of a new row liking columns 5 and 6 prefers 7 over 2. */
    {
        uint32_t col[2] = {5, 6};
        double pref[2] = {1, 1}, conf[2] = {5, 5}, x[2], s7 = 0, s2 = 0;
        ASSERT_OK(rank_als_fold_in(Y, 10, k, 0.1, col, pref, conf, 2, x));
        for (d = 0; d < k; d++) {
            s7 += x[d] * Y[7 * k + d];
            s2 += x[d] * Y[2 * k + d];
        }
        assert_true(s7 > s2 + 0.2);
    }
    sw_free(X);
    sw_free(Y);
    cells[0].row = 99;
    ASSERT_ERR(rank_als_fit(20, 10, cells, n, &o, &X, &Y, &k), SW_EINVAL);
}

static void test_mmr(void **state)
{
    /* 0 and 1 are near duplicates; 2 is different and scores a bit less. */
    const double score[3] = {1.0, 0.98, 0.9};
    const double sim[9] = {1, 0.95, 0.1, 0.95, 1, 0.1, 0.1, 0.1, 1};
    size_t order[3];

    (void)state;
    assert_int_equal(rank_mmr(score, sim, 3, 1.0, 2, order), 2);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 1);
    assert_int_equal(rank_mmr(score, sim, 3, 0.7, 2, order), 2);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 2);
}

/* Exploration: a bonus of the standard error of an item's mean value,
 * wide for a new item and narrowing as it gathers trials, the same for
 * every call; the random mode's draws repeat with their seed. */
static void test_explore_bonus(void **state)
{
    struct rank_params p;
    struct rank_hist hs;
    struct rank_hitem it;
    struct rank_score fresh, some, known, again;
    struct rank_rng g = {7}, h = {7};
    double w;

    (void)state;
    rank_params_default(&p);
    memset(&hs, 0, sizeof(hs));
    hs.use_sd = 1.0;
    memset(&it, 0, sizeof(it));
    it.kind = 'f';
    it.key = "a framing";
    rank__score(&p, &hs, &it, 0, NULL, 0.1, 0.0, 1, RANK_MODE_OUTCOME, &fresh);
    it.ev.trials = 8;
    rank__score(&p, &hs, &it, 0, NULL, 0.1, 0.0, 2, RANK_MODE_OUTCOME, &some);
    it.ev.trials = 200;
    rank__score(&p, &hs, &it, 0, NULL, 0.1, 0.0, 3, RANK_MODE_OUTCOME, &known);
    rank__score(&p, &hs, &it, 0, NULL, 0.1, 0.0, 4, RANK_MODE_OUTCOME, &again);
    /* sd / sqrt(trials + 8): 1/sqrt(8), 1/4, 1/sqrt(208). */
    assert_true(fabs(fresh.explore - 1.0 / sqrt(8.0)) < 1e-12);
    assert_true(fabs(some.explore - 0.25) < 1e-12);
    assert_true(known.explore < fresh.explore / 5);
    assert_true(again.total == known.total);
    /* The bonus counts in the total with the exploration weight. */
    it.ev.trials = 0;
    w = p.w_explore;
    p.w_explore = 0.0;
    rank__score(&p, &hs, &it, 0, NULL, 0.1, 0.0, 1, RANK_MODE_OUTCOME, &again);
    assert_true(fabs(fresh.total - again.total - w * fresh.explore) < 1e-9);
    assert_true(rank_rng_uniform(&g) == rank_rng_uniform(&h));
}

/* --- rank_hist on a real store (rank_fixture.h) ---------------------- */

/* A model's data with its context frequencies, stored and read back; one
 * stored without them (a model from before them) reads back without. */
struct model_arg {
    struct rank_model *m;
    uint64_t seq;
    struct rank_model *got;
};

static sw_err fx_model_save(store_txn *t, void *arg)
{
    struct model_arg *a = arg;
    sw_err rc = rank_model_save(t, TEAM, a->m);

    a->seq = a->m->seq;
    return rc;
}

static sw_err fx_model_load(store_txn *t, void *arg)
{
    struct model_arg *a = arg;

    return rank_model_load(t, TEAM, a->seq, 1, &a->got);
}

static void test_model_context_frequencies(void **state)
{
    struct fixture *f = *state;
    static const char *const ctx[] = {"Hi Ivan, pricing please",
                                      "Hi Ivan, the security review"};
    char *ids[1] = {(char *)"fam_0000000000000001"};
    float Y[1] = {0.5f}, emb[4] = {1, 0, 0, 1}, X[2] = {1, -1};
    uint64_t hashes[2] = {5, 6}, c;
    struct rank_model m;
    struct model_arg a;
    size_t i;

    memset(&m, 0, sizeof(m));
    m.create_ms = 1700000000000LL;
    m.k = 1;
    m.dim = 2;
    m.scale = 1.0;
    m.nitems = 1;
    m.item_ids = ids;
    m.Y = Y;
    m.nthreads = 2;
    m.thread_hash = hashes;
    m.emb = emb;
    m.X = X;
    ASSERT_OK(rank_df_new(&m.cdf));
    for (i = 0; i < 2; i++)
        ASSERT_OK(rank_df_observe(m.cdf, ctx[i], strlen(ctx[i])));
    memset(&a, 0, sizeof(a));
    a.m = &m;
    ASSERT_OK(store_update(f->s, fx_model_save, &a));
    ASSERT_OK(store_view(f->s, fx_model_load, &a));
    assert_non_null(a.got->cdf);
    assert_int_equal(a.got->cdf->docs, 2);
    assert_int_equal(a.got->cdf->counts.n + a.got->cdf->counts.has_zero,
                     m.cdf->counts.n + m.cdf->counts.has_zero);
    for (i = 0; i < m.cdf->counts.cap; i++) {
        if (m.cdf->counts.keys[i] == 0)
            continue;
        assert_true(
            rank__map_get(&a.got->cdf->counts, m.cdf->counts.keys[i], &c));
        assert_true(c == m.cdf->counts.vals[i]);
    }
    assert_int_equal(a.got->nthreads, 2);
    rank_model_free(&a.got);
    /* Without them: read back without, not as an error. */
    rank_df_destroy(&m.cdf);
    ASSERT_OK(store_update(f->s, fx_model_save, &a));
    ASSERT_OK(store_view(f->s, fx_model_load, &a));
    assert_null(a.got->cdf);
    assert_int_equal(a.got->nthreads, 2);
    rank_model_free(&a.got);
}

static void test_hist_priors_and_attribution(void **state)
{
    struct fixture *f = *state;
    struct hist_arg a = {NULL};
    const struct rank_hitem *lucky, *solid, *weak, *sa, *sb;

    ASSERT_OK(store_update(f->s, fx_fill, NULL));
    ASSERT_OK(store_view(f->s, fx_build, &a));
    lucky = fx_item(a.h, LUCKY);
    solid = fx_item(a.h, SOLID);
    weak = fx_item(a.h, WEAK);
    sa = fx_item(a.h, SPLIT_A);
    sb = fx_item(a.h, SPLIT_B);
    /* Evidence in real counts. */
    assert_int_equal(solid->ev.times_used, 200);
    assert_int_equal(solid->ev.threads, 200);
    assert_int_equal(solid->ev.reps, 3);
    assert_int_equal(solid->ev.positives, 160);
    assert_int_equal(lucky->ev.threads, 2);
    assert_int_equal(lucky->ev.positives, 2);
    /* The grades add up: solid's 160 positive replies (+1 each) and 40
     * negative ones (-0.5 each); weak's 40 and 160. A negative reply that
     * counted for the framing, or not at all, moves these sums. */
    assert_true(fabs(solid->ev.value - (160 * 1.0 + 40 * -0.5)) < 1e-9);
    assert_true(fabs(weak->ev.value - (40 * 1.0 + 160 * -0.5)) < 1e-9);
    assert_true(weak->ev.value < 0);
    /* Raw means: lucky 1.0 per use beats solid's 0.7; shrunk toward the
     * team's mean, solid wins, and weak is below the team. */
    assert_true(lucky->ev.value / lucky->ev.trials >
                solid->ev.value / solid->ev.trials);
    assert_true(rank_item_outcome(a.h, solid) > rank_item_outcome(a.h, lucky));
    assert_true(rank_item_outcome(a.h, weak) < 0);
    assert_true(rank_item_outcome(a.h, lucky) > 0);
    /* The meeting is split across the two framings of its email; the deal
     * 40 days later is outside the window. */
    assert_true(sa->ev.value > 0.99 && sa->ev.value < 1.01);
    assert_true(sb->ev.value > 0.99 && sb->ev.value < 1.01);
    assert_int_equal(sa->ev.deals, 1); /* counted as evidence of the thread */
    assert_true(fx_item(a.h, BARE)->bare);
    assert_true(fx_item(a.h, ALONE)->ev.value > 1.99);
    assert_true(fx_item(a.h, BARE)->ev.value == 0.0);
    {
        size_t i, seen = 0;
        for (i = 0; i < a.h->nthreads; i++)
            if (strstr(a.h->threads[i].context, "Sounds great"))
                seen++;
        assert_int_equal(seen, 0);
    }
    rank_hist_free(&a.h);
}

/* A framing that only introduces its document is "bare": it counts for
 * the document but Suggest does not offer it as a framing. */
static void test_bare_framing(void **state)
{
    (void)state;
    assert_true(rank_bare_framing("I've attached Security brief.",
                                  "Security_brief.txt"));
    assert_true(rank_bare_framing("Here's our pricing deck for you.",
                                  "pricing_deck.pdf"));
    assert_true(rank_bare_framing("Please find attached the SOC 2 report.",
                                  "SOC2_Report.pdf"));
    assert_false(rank_bare_framing(
        "I've attached the Airbus case study, which shows how their "
        "analytics team cut reporting time by 40%.",
        "customer_airbus.md"));
    assert_false(rank_bare_framing(
        "The first page has the two numbers your board will ask for.", ""));
    assert_true(rank_bare_framing("", "x.pdf"));
}

/* Adoption is a rate since the first use: a much-used document beats a
 * rarely used one of the same age, and a document nobody has used yet
 * starts between them, at the team's mean rate, not at zero. */
static void test_adoption_rate(void **state)
{
    struct rank_hist h;
    struct rank_hitem it[4];
    const int64_t day = 24LL * 3600 * 1000;

    (void)state;
    memset(&h, 0, sizeof(h));
    memset(it, 0, sizeof(it));
    h.items = it;
    h.nitems = 4;
    h.now_ms = 100 * day;
    it[0].kind = it[1].kind = it[2].kind = 'c';
    it[0].ev.first_ms = it[1].ev.first_ms = 40 * day; /* 60 days old */
    it[0].ev.times_used = 120;
    it[1].ev.times_used = 6;
    it[3].kind = 'f'; /* framings have no adoption */
    it[3].ev.times_used = 500;
    it[3].ev.first_ms = 40 * day;
    rank_hist_adoption(&h);
    assert_true(it[0].adoption > it[2].adoption);
    assert_true(it[2].adoption > it[1].adoption);
    assert_true(it[3].adoption == 0.0);
}

/* Contents weigh relevance more than framings do, and add the team's
 * adoption: of two contents equal in all else, the one used more wins;
 * for framings adoption plays no part. */
/* The grades keep the order hist.h documents (kinds as in
 * snipwise.v1.OutcomeKind): positive reply < meeting < deal won; negative
 * replies, unsubscribes and bounces below zero, an unsubscribe worst;
 * neutral, out-of-office and a lost deal at zero. */
static void test_grades(void **state)
{
    enum {
        MEETING = 1,
        WON,
        LOST,
        POSITIVE,
        NEUTRAL,
        NEGATIVE,
        OOO,
        UNSUB,
        BOUNCE
    };

    (void)state;
    assert_true(rank_grade(POSITIVE) > 0);
    assert_true(rank_grade(MEETING) > rank_grade(POSITIVE));
    assert_true(rank_grade(WON) > rank_grade(MEETING));
    assert_true(rank_grade(NEGATIVE) < 0);
    assert_true(rank_grade(BOUNCE) < 0);
    assert_true(rank_grade(UNSUB) < rank_grade(NEGATIVE));
    assert_true(rank_grade(NEUTRAL) == 0.0);
    assert_true(rank_grade(OOO) == 0.0);
    assert_true(rank_grade(LOST) == 0.0);
    assert_true(rank_grade(0) == 0.0 && rank_grade(10) == 0.0);
}

/* The promotion gate, without force, in both directions: a candidate
 * better than the serving model (or worse by less than the tolerance) is
 * promoted; one worse by more is kept out; with no serving model the
 * candidate serves; a dry run never promotes, a forced run always does. */
/* --- Suggest's diversity (MMR) on a real store and index ----------------- */

/* Two paraphrases of one idea (separate families: their words overlap but
 * their shingles do not) and a different idea, each used in 30 threads
 * with the same outcomes. */
static const char *const PARA_A =
    "Our onboarding guide shows each step of the rollout in detail.";
static const char *const PARA_B =
    "The onboarding guide we use shows every rollout step in detail.";
static const char *const OTHER = "Pricing depends on seats and usage, billed "
                                 "monthly.";
static const char *const GOLIVE_A =
    "Attached is the onboarding guide showing a two-week go-live.";
static const char *const GOLIVE_B =
    "I've attached our onboarding guide, which shows go-live in two weeks.";
static const char *const GOLIVE_MONTHS =
    "Here's the onboarding guide: it shows a go-live within two months.";
static const char *const GOLIVE_THREE =
    "Our onboarding guide shows go-live in three weeks; it's attached.";

static sw_err fx_fill_mmr(store_txn *t, void *arg)
{
    const char *const texts[3] = {PARA_A, PARA_B, OTHER};
    struct tspec sp;
    int n = 0, i, k;
    sw_err rc = SW_OK;

    (void)arg;
    for (k = 0; k < 3; k++)
        for (i = 0; rc == SW_OK && i < 30; i++) {
            memset(&sp, 0, sizeof(sp));
            sp.n = ++n;
            sp.rep = i % 2 ? "a@x" : "b@x";
            sp.day = 1 + i;
            sp.frames[0] = texts[k];
            sp.kinds[0] = i % 5 == 0 ? 6 : 4;
            sp.after[0] = 1;
            rc = fx_thread(t, &sp);
        }
    return rc;
}

/* suggest_framings runs Suggest with mmr_lambda and family_words
 * (negative: the defaults) over the store and writes the texts of the top
 * three framings to top (NULL past the end) and the threads of their
 * evidence to threads. */
static void suggest_framings(store *s, rank_ranker *r, double lambda,
                             double words, const char *top[3],
                             int64_t threads[3])
{
    struct rank_params p;
    struct rank_suggest_req q;
    struct rank_suggest_res res;
    struct sw_arena a;
    struct sw_buf why;
    rank_engine *e = NULL;
    size_t i;

    rank_params_default(&p);
    if (lambda >= 0)
        p.mmr_lambda = lambda;
    if (words >= 0)
        p.family_words = words;
    ASSERT_OK(rank_engine_open(s, r, &p, &e));
    memset(&q, 0, sizeof(q));
    q.team_id = TEAM;
    q.context = "Could you send the onboarding guide? We want to see each "
                "rollout step, and how pricing by seats works.";
    q.max_framings = 3;
    q.max_contents = 1;
    q.request_hash = 42;
    sw_buf_init(&why, 1024);
    sw_arena_init(&a, 0);
    ASSERT_OK(rank_suggest(e, &q, &a, &res, &why));
    assert_true(res.n_framings >= 1 && res.n_framings <= 3);
    for (i = 0; i < 3; i++) {
        threads[i] = i < res.n_framings ? res.framings[i].ev.threads : 0;
        if (i >= res.n_framings) {
            top[i] = NULL;
            continue;
        }
        top[i] = strcmp(res.framings[i].text, PARA_A) == 0   ? PARA_A
                 : strcmp(res.framings[i].text, PARA_B) == 0 ? PARA_B
                 : strcmp(res.framings[i].text, OTHER) == 0  ? OTHER
                                                             : NULL;
    }
    sw_arena_free(&a);
    sw_buf_free(&why);
    rank_engine_close(&e);
}

/* With paraphrase families off (two families) and diversity off, the two
 * paraphrases take the first two places; with Suggest's default diversity
 * the different idea moves up to second. */
static void test_suggest_diversity(void **state)
{
    struct fixture *f = *state;
    rank_ranker *r = NULL;
    const char *plain[3], *diverse[3];
    int64_t threads[3];
    int caught = 0;

    ASSERT_OK(store_update(f->s, fx_fill_mmr, NULL));
    ASSERT_OK(rank_ranker_open(f->s, NULL, &r));
    ASSERT_OK(rank_ranker_sync(r, TEAM, 0, &caught));
    assert_true(caught);
    suggest_framings(f->s, r, 1.0, 0.0, plain, threads);
    assert_int_equal(threads[0], 30);
    assert_int_equal(threads[1], 30);
    suggest_framings(f->s, r, -1.0, 0.0, diverse, threads);
    /* Without diversity: both paraphrases first (either order), then the
     * other idea. */
    assert_true((plain[0] == PARA_A && plain[1] == PARA_B) ||
                (plain[0] == PARA_B && plain[1] == PARA_A));
    assert_ptr_equal(plain[2], OTHER);
    /* Suggest's default: the best one stays first, the other idea comes
     * second, the paraphrase of the first last. */
    assert_ptr_equal(diverse[0], plain[0]);
    assert_ptr_equal(diverse[1], OTHER);
    assert_ptr_equal(diverse[2], plain[1]);
    rank_ranker_close(&r);
}

/* With the default paraphrase families the two paraphrases are one
 * family: one slot, with the evidence of all 60 threads, beside the other
 * idea's 30; no third framing exists. */
static void test_paraphrases_pool_into_one_family(void **state)
{
    struct fixture *f = *state;
    rank_ranker *r = NULL;
    const char *top[3];
    int64_t threads[3];
    int caught = 0, para;

    ASSERT_OK(store_update(f->s, fx_fill_mmr, NULL));
    ASSERT_OK(rank_ranker_open(f->s, NULL, &r));
    ASSERT_OK(rank_ranker_sync(r, TEAM, 0, &caught));
    assert_true(rank_paraphrase_join(PARA_A, PARA_B, 0.6, 0.6));
    assert_false(rank_paraphrase_join(PARA_A, PARA_B, 0.6, 0.0));
    /* Rewordings join; the same words with another number or unit do
     * not: that is another claim. */
    assert_true(rank_paraphrase_join(GOLIVE_A, GOLIVE_B, 0.6, 0.6));
    assert_false(rank_paraphrase_join(GOLIVE_A, GOLIVE_B, 0.6, 0.0));
    assert_false(rank_paraphrase_join(GOLIVE_A, GOLIVE_MONTHS, 0.6, 0.6));
    assert_false(rank_paraphrase_join(GOLIVE_B, GOLIVE_THREE, 0.6, 0.6));
    suggest_framings(f->s, r, -1.0, -1.0, top, threads);
    assert_null(top[2]);
    para = top[0] == OTHER ? 1 : 0;
    assert_ptr_equal(top[1 - para], OTHER);
    assert_true(top[para] == PARA_A || top[para] == PARA_B);
    assert_int_equal(threads[para], 60);
    assert_int_equal(threads[1 - para], 30);
    rank_ranker_close(&r);
}

/* With a model serving, Suggest weighs the evidence of the past threads
 * most like the query, for its candidates (a per-call map from item to
 * slot, not an array per item of the team): every thread here has the
 * same context, so each framing's 30 uses count with weight 1 and the
 * explanation says so. */
static void test_suggest_local_evidence(void **state)
{
    struct fixture *f = *state;
    struct rank_rerank_opts o;
    struct rank_rerank_result res;
    struct rank_suggest_req q;
    struct rank_suggest_res out;
    struct sw_arena a;
    struct sw_buf why;
    rank_ranker *r = NULL;
    rank_engine *e = NULL;
    int caught = 0, found = 0;
    size_t i;

    ASSERT_OK(store_update(f->s, fx_fill_mmr, NULL));
    ASSERT_OK(rank_ranker_open(f->s, NULL, &r));
    ASSERT_OK(rank_ranker_sync(r, TEAM, 0, &caught));
    memset(&o, 0, sizeof(o));
    o.force_promote = 1;
    memset(&res, 0, sizeof(res));
    ASSERT_OK(rank_rerank_team(f->s, r, TEAM, NULL, &o, NULL, NULL, &res));
    rank_model_free(&res.model);
    ASSERT_OK(rank_engine_open(f->s, r, NULL, &e));
    memset(&q, 0, sizeof(q));
    q.team_id = TEAM;
    q.context = "We are a manufacturing company. How does pricing by seats "
                "work?";
    q.max_framings = 3;
    q.max_contents = 1;
    q.explain = 1;
    q.request_hash = 9;
    sw_buf_init(&why, 1024);
    sw_arena_init(&a, 0);
    ASSERT_OK(rank_suggest(e, &q, &a, &out, &why));
    assert_true(out.model_version[0] != '\0');
    for (i = 0; i < out.n_framings; i++) {
        if (strcmp(out.framings[i].text, OTHER) == 0)
            found = strstr(out.framings[i].explanation,
                           "in threads like this one") != NULL &&
                    strstr(out.framings[i].explanation, "(30.0 uses") != NULL;
    }
    assert_true(found);
    sw_arena_free(&a);
    sw_buf_free(&why);
    rank_engine_close(&e);
    rank_ranker_close(&r);
}

/* --- A started engine: Suggest only reads ------------------------------- */

/* One Suggest on its own thread, so that the test can wait for it with a
 * bound instead of hanging when it blocks. */
struct bg_suggest {
    rank_engine *e;
    struct hold *h;
    sw_err rc;
    int done;
    int64_t other_threads; /* evidence of the OTHER framing */
    int other_found;
    size_t n_framings;
    struct rank_fresh fresh;
};

static void *bg_suggest_run(void *arg)
{
    struct bg_suggest *b = arg;
    struct rank_suggest_req q;
    struct rank_suggest_res res;
    struct sw_arena a;
    struct sw_buf why;
    size_t i;

    memset(&q, 0, sizeof(q));
    q.team_id = TEAM;
    q.context = "How does pricing by seats and usage work?";
    q.max_framings = 3;
    q.max_contents = 1;
    q.request_hash = 7;
    sw_buf_init(&why, 1024);
    sw_arena_init(&a, 0);
    b->rc = rank_suggest(b->e, &q, &a, &res, &why);
    if (b->rc == SW_OK) {
        b->fresh = res.fresh;
        b->n_framings = res.n_framings;
        for (i = 0; i < res.n_framings; i++)
            if (strcmp(res.framings[i].text, OTHER) == 0) {
                b->other_threads = res.framings[i].ev.threads;
                b->other_found = 1;
            }
    }
    sw_arena_free(&a);
    sw_buf_free(&why);
    pthread_mutex_lock(&b->h->mu);
    b->done = 1;
    pthread_cond_broadcast(&b->h->cond);
    pthread_mutex_unlock(&b->h->mu);
    return NULL;
}

static void bg_suggest(rank_engine *e, struct hold *h, struct bg_suggest *b)
{
    pthread_t th;

    memset(b, 0, sizeof(*b));
    b->e = e;
    b->h = h;
    assert_int_equal(pthread_create(&th, NULL, bg_suggest_run, b), 0);
    if (!hold_wait(h, &b->done)) {
        /* Let the held build go so that the test ends rather than hangs. */
        hold_release(h);
        pthread_join(th, NULL);
        fail_msg("Suggest waited for the statistics build");
    }
    pthread_join(th, NULL);
    ASSERT_OK(b->rc);
}

/* wait_current polls (bounded) until the engine's state counts the whole
 * store. */
static void wait_current(rank_engine *e)
{
    struct rank_fresh f;
    int i;

    for (i = 0; i < 3000; i++) {
        ASSERT_OK(rank_engine_freshness(e, TEAM, &f));
        if (f.current)
            return;
        usleep(10000);
    }
    fail_msg("the engine never caught up with the store");
}

static sw_err fx_fill_more(store_txn *t, void *arg)
{
    struct tspec sp;
    int i;
    sw_err rc = SW_OK;

    (void)arg;
    for (i = 0; rc == SW_OK && i < 5; i++) {
        memset(&sp, 0, sizeof(sp));
        sp.n = 1000 + i;
        sp.rep = "a@x";
        sp.day = 40 + i;
        sp.frames[0] = OTHER;
        sp.kinds[0] = 4;
        sp.after[0] = 1;
        rc = fx_thread(t, &sp);
    }
    return rc;
}

/* fx_fill_more, and a thread from a domain the team had not sent from:
 * only a full build can count that mail (rank_hist_follow refuses it). */
static sw_err fx_fill_more_full(store_txn *t, void *arg)
{
    struct tspec sp;
    sw_err rc = fx_fill_more(t, arg);

    memset(&sp, 0, sizeof(sp));
    sp.n = 1100;
    sp.rep = "a@newco.example";
    sp.day = 45;
    sp.frames[0] = "Greetings from our new office in Lisbon.";
    return rc ? rc : fx_thread(t, &sp);
}

/* A started engine over the fixture's 90 threads, its builds held in
 * the hook while h.armed (armed: from its very first build). */
struct held {
    struct hold h;
    rank_ranker *r;
    rank_engine *e;
};

static void held_open(struct fixture *f, int armed, struct held *x)
{
    int caught = 0;

    memset(x, 0, sizeof(*x));
    pthread_mutex_init(&x->h.mu, NULL);
    pthread_cond_init(&x->h.cond, NULL);
    x->h.armed = armed;
    ASSERT_OK(store_update(f->s, fx_fill_mmr, NULL));
    ASSERT_OK(rank_ranker_open(f->s, NULL, &x->r));
    ASSERT_OK(rank_ranker_sync(x->r, TEAM, 0, &caught));
    ASSERT_OK(rank_engine_open(f->s, x->r, NULL, &x->e));
    rank_engine_set_build_hook(x->e, hold_hook, &x->h);
    ASSERT_OK(rank_engine_start(x->e, 20));
}

static void held_close(struct held *x)
{
    rank_engine_close(&x->e);
    rank_ranker_close(&x->r);
    pthread_cond_destroy(&x->h.cond);
    pthread_mutex_destroy(&x->h.mu);
}

/* A started engine answers Suggest from the published statistics while
 * the publisher's build of a newer store state is held open in its hook:
 * the answer comes back (Suggest neither builds nor waits), with the old
 * evidence and says it is not current; once the build is let go, the new
 * threads count and the state is current. */
static void test_suggest_never_waits_for_a_build(void **state)
{
    struct fixture *f = *state;
    struct bg_suggest b;
    struct held x;
    int caught = 0;

    held_open(f, 0, &x);
    wait_current(x.e);
    bg_suggest(x.e, &x.h, &b);
    assert_true(b.fresh.current);
    assert_int_equal(b.other_threads, 30);

    hold_arm(&x.h);
    ASSERT_OK(store_update(f->s, fx_fill_more_full, NULL));
    ASSERT_OK(rank_ranker_sync(x.r, TEAM, 0, &caught)); /* the indexer's */
    rank_engine_kick(x.e);
    assert_true(hold_wait(&x.h, &x.h.entered));
    bg_suggest(x.e, &x.h, &b);
    assert_false(b.fresh.current);
    assert_int_equal(b.other_threads, 30); /* the published state */

    hold_release(&x.h);
    wait_current(x.e);
    bg_suggest(x.e, &x.h, &b);
    assert_true(b.fresh.current);
    assert_int_equal(b.fresh.lag_ms, 0);
    assert_int_equal(b.other_threads, 35);
    held_close(&x);
}

/* New mail counts without a full build (rank_hist_follow): with every
 * full build held in the hook, the publisher counts the new threads into
 * the published statistics, which become current, and no build starts. */
static void test_new_mail_counts_without_a_build(void **state)
{
    struct fixture *f = *state;
    struct bg_suggest b;
    struct held x;
    int caught = 0;

    held_open(f, 0, &x);
    wait_current(x.e);
    hold_arm(&x.h);
    ASSERT_OK(store_update(f->s, fx_fill_more, NULL));
    ASSERT_OK(rank_ranker_sync(x.r, TEAM, 0, &caught)); /* the indexer's */
    rank_engine_kick(x.e);
    wait_current(x.e);
    bg_suggest(x.e, &x.h, &b);
    assert_true(b.fresh.current);
    assert_int_equal(b.other_threads, 35);
    pthread_mutex_lock(&x.h.mu);
    assert_false(x.h.entered);
    pthread_mutex_unlock(&x.h.mu);
    hold_release(&x.h);
    held_close(&x);
}

static sw_err meeting_on_2(store_txn *t, void *arg)
{
    (void)arg;
    return fx_outcome(t, 2, 1, 5, "later-meeting");
}

/* A new outcome counts without a full build (rank_hist_delta): with
 * every full build held in the hook, the publisher still counts it into
 * the published statistics, which become current, and no build starts. */
static void test_outcome_counts_without_a_build(void **state)
{
    struct fixture *f = *state;
    struct rank_fresh fr;
    struct held x;
    int i;

    held_open(f, 0, &x);
    wait_current(x.e);
    assert_int_equal(fx_thread_outcomes(x.e, 2), 1);
    hold_arm(&x.h);
    ASSERT_OK(store_update(f->s, meeting_on_2, NULL));
    rank_engine_kick(x.e);
    for (i = 0; i < 3000 && fx_thread_outcomes(x.e, 2) != 2; i++)
        usleep(10000);
    assert_int_equal(fx_thread_outcomes(x.e, 2), 2);
    ASSERT_OK(rank_engine_freshness(x.e, TEAM, &fr));
    assert_true(fr.current);
    pthread_mutex_lock(&x.h.mu);
    assert_false(x.h.entered);
    pthread_mutex_unlock(&x.h.mu);
    hold_release(&x.h);
    held_close(&x);
}

/* While the builder's full build of new mail is held open, a new outcome
 * is still counted (over the statistics whose mail is older: not
 * current, the new threads not yet in the evidence); once the build is
 * let go, both count. */
static void test_outcome_counts_during_a_full_build(void **state)
{
    struct fixture *f = *state;
    struct rank_fresh fr;
    struct bg_suggest b;
    struct held x;
    int caught = 0, i;

    held_open(f, 0, &x);
    wait_current(x.e);
    hold_arm(&x.h);
    ASSERT_OK(store_update(f->s, fx_fill_more_full, NULL));
    ASSERT_OK(rank_ranker_sync(x.r, TEAM, 0, &caught)); /* the indexer's */
    rank_engine_kick(x.e);
    assert_true(hold_wait(&x.h, &x.h.entered));
    /* The outcome comes once the build is held. */
    ASSERT_OK(store_update(f->s, meeting_on_2, NULL));
    rank_engine_kick(x.e);
    for (i = 0; i < 3000 && fx_thread_outcomes(x.e, 2) != 2; i++)
        usleep(10000);
    assert_int_equal(fx_thread_outcomes(x.e, 2), 2);
    ASSERT_OK(rank_engine_freshness(x.e, TEAM, &fr));
    assert_false(fr.current);
    bg_suggest(x.e, &x.h, &b);
    assert_int_equal(b.other_threads, 30);

    hold_release(&x.h);
    wait_current(x.e);
    assert_int_equal(fx_thread_outcomes(x.e, 2), 2);
    bg_suggest(x.e, &x.h, &b);
    assert_int_equal(b.other_threads, 35);
    held_close(&x);
}

/* A deleted team's published state is let go: once the store has no
 * team, the publisher drops its statistics, model and tally (the memory
 * they hold) instead of keeping them until a restart, and what reads the
 * statistics finds nothing of the team. */
static void test_deleted_team_state_dropped(void **state)
{
    struct fixture *f = *state;
    const char *id = "th_0000000000000001";
    struct rank_item_stats st;
    struct held x;
    struct sw_buf why;
    int i;

    held_open(f, 0, &x);
    wait_current(x.e);
    ASSERT_OK(
        rank_engine_stats(x.e, TEAM, RANK_STATS_THREAD, &id, 1, &st, NULL));
    assert_true(st.found);
    sw_buf_init(&why, 256);
    ASSERT_OK(store_team_delete(f->s, TEAM, &why));
    sw_buf_free(&why);
    rank_engine_kick(x.e);
    for (i = 0; i < 3000; i++) {
        ASSERT_OK(
            rank_engine_stats(x.e, TEAM, RANK_STATS_THREAD, &id, 1, &st, NULL));
        if (!st.found)
            break;
        usleep(10000);
    }
    assert_false(st.found);
    held_close(&x);
}

/* A started engine whose first build of the team is held open answers by
 * similarity alone, from the hits (no evidence, not ready), instead of
 * waiting; once the build is let go the evidence is there. */
static void test_suggest_cold_answers_by_similarity(void **state)
{
    struct fixture *f = *state;
    struct bg_suggest b;
    struct held x;

    held_open(f, 1, &x);
    bg_suggest(x.e, &x.h, &b); /* the team is new: a build starts */
    assert_true(hold_wait(&x.h, &x.h.entered));
    bg_suggest(x.e, &x.h, &b);
    assert_false(b.fresh.ready);
    assert_false(b.fresh.current);
    assert_true(b.n_framings > 0);
    assert_int_equal(b.other_threads, 0); /* found, with no evidence */
    assert_true(b.other_found);

    hold_release(&x.h);
    wait_current(x.e);
    bg_suggest(x.e, &x.h, &b);
    assert_true(b.fresh.ready);
    assert_int_equal(b.other_threads, 30);
    held_close(&x);
}

/* Fold-in compares contexts as 8-bit values: for vectors of several
 * lengths (the 16-value blocks and the tail), the dot product of the
 * quantised vectors times their scales stays within 1% of the vectors'
 * own (unit vectors, so within 0.01 absolute), and an exact integer
 * case matches bit for bit. */
static void test_quantized_dot(void **state)
{
    static const size_t lens[] = {1, 15, 16, 37, 384};
    struct rank_rng g = {12345};
    float a[384], b[384];
    int8_t qa[384], qb[384];
    int16_t wa[384];
    size_t li, i;

    (void)state;
    for (li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
        size_t n = lens[li];
        double na = 0, nb = 0, dot = 0, approx;
        float sa, sb;
        for (i = 0; i < n; i++) {
            a[i] = (float)(rank_rng_uniform(&g) - 0.5);
            b[i] = (float)(rank_rng_uniform(&g) - 0.5) + 0.3f * a[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }
        for (i = 0; i < n; i++) {
            a[i] = (float)(a[i] / sqrt(na));
            b[i] = (float)(b[i] / sqrt(nb));
            dot += (double)a[i] * b[i];
        }
        sa = rank__quantize(a, n, qa);
        sb = rank__quantize(b, n, qb);
        for (i = 0; i < n; i++)
            wa[i] = qa[i];
        approx = (double)rank__dot8(wa, qb, n) * sa * sb;
        assert_true(fabs(approx - dot) < 0.01);
    }
    for (i = 0; i < 384; i++) {
        qa[i] = (int8_t)((int)(i % 255) - 127);
        wa[i] = qa[i];
        qb[i] = (int8_t)(i % 7 == 0 ? -128 : (int)(i % 13) - 6);
    }
    {
        int32_t want = 0;
        for (i = 0; i < 384; i++)
            want += (int32_t)qa[i] * qb[i];
        assert_int_equal(rank__dot8(wa, qb, 384), want);
        assert_int_equal(rank__dot8_best(wa, qb, 384), want);
        want = 0;
        for (i = 0; i < 37; i++)
            want += (int32_t)qa[i] * qb[i];
        assert_int_equal(rank__dot8(wa, qb, 37), want);
        assert_int_equal(rank__dot8_best(wa, qb, 37), want);
    }
    memset(a, 0, sizeof(a));
    assert_true(rank__quantize(a, 8, qa) == 0.0f);
    for (i = 0; i < 8; i++)
        wa[i] = qa[i];
    assert_int_equal(rank__dot8(wa, qb, 8), 0);
}

static void test_promotion_gate(void **state)
{
    struct rank_rerank_opts o;
    struct rank_metrics m;
    char why[256];

    (void)state;
    memset(&o, 0, sizeof(o));
    memset(&m, 0, sizeof(m));
    m.base[RANK_BASE_CURRENT].present = 1;
    m.base[RANK_BASE_CURRENT].ndcg = 0.40;
    m.model.ndcg = 0.45;
    assert_true(rank_promote_decision(&o, &m, why, sizeof(why)));
    assert_non_null(strstr(why, "not worse"));
    m.model.ndcg = 0.40 - RANK_PROMOTE_TOLERANCE / 2;
    assert_true(rank_promote_decision(&o, &m, why, sizeof(why)));
    m.model.ndcg = 0.30;
    assert_false(rank_promote_decision(&o, &m, why, sizeof(why)));
    assert_non_null(strstr(why, "kept the serving model"));
    m.model.ndcg = 0.40 - 2 * RANK_PROMOTE_TOLERANCE;
    assert_false(rank_promote_decision(&o, &m, why, sizeof(why)));
    /* Swap them: the better one is now the candidate. */
    m.base[RANK_BASE_CURRENT].ndcg = 0.30;
    m.model.ndcg = 0.40;
    assert_true(rank_promote_decision(&o, &m, NULL, 0));
    m.base[RANK_BASE_CURRENT].ndcg = 0.90;
    o.force_promote = 1;
    assert_true(rank_promote_decision(&o, &m, why, sizeof(why)));
    assert_string_equal(why, "promoted: forced");
    o.force_promote = 0;
    m.base[RANK_BASE_CURRENT].present = 0;
    assert_true(rank_promote_decision(&o, &m, why, sizeof(why)));
    assert_string_equal(why, "promoted: no model was serving");
    o.dry_run = 1;
    o.force_promote = 1;
    assert_false(rank_promote_decision(&o, &m, why, sizeof(why)));
    assert_non_null(strstr(why, "dry run"));
}

static void test_score_kinds(void **state)
{
    struct rank_params p;
    struct rank_hist h;
    struct rank_hitem a, b;
    struct rank_score sa, sb;

    (void)state;
    rank_params_default(&p);
    memset(&h, 0, sizeof(h));
    memset(&a, 0, sizeof(a));
    a.kind = 'c';
    a.key = "a.pdf";
    b = a;
    b.key = "b.pdf";
    a.adoption = log1p(40.0);
    b.adoption = log1p(2.0);
    rank__score(&p, &h, &a, 0, NULL, 0.2, 0.0, 7, RANK_MODE_OUTCOME, &sa);
    rank__score(&p, &h, &b, 0, NULL, 0.2, 0.0, 7, RANK_MODE_OUTCOME, &sb);
    assert_true(sa.adoption > sb.adoption);
    assert_true(sa.total - sa.explore * p.wc_explore >
                sb.total - sb.explore * p.wc_explore);
    /* Relevance moves a content's total more than a framing's. */
    assert_true(p.wc_relevance > p.w_relevance);
    a.kind = 'f';
    rank__score(&p, &h, &a, 0, NULL, 0.2, 0.0, 7, RANK_MODE_OUTCOME, &sa);
    assert_true(sa.adoption == 0.0);
}

/* The outcome and usage of an item in threads like the query: a model of
 * four past threads on two topics (2-d contexts). Items 0 and 1 were used
 * in all four with the same mean, item 0 doing well in the two threads
 * like the query and badly in the others, item 1 the reverse; item 2 was
 * used only in the alike threads, item 3 only in the others.
 * rank__fold_in weighs each thread by its likeness in standard units; the
 * local outcome moves the team-wide one by how the item did in the alike
 * threads against all, shrunk; an item's own uses alone do not move it;
 * usage says which item the team uses in threads like this one; no
 * evidence falls back. */
static void test_local_evidence(void **state)
{
    static const float emb[4 * 2] = {1, 0, 0.96f, 0.28f, 0, 1, 0.28f, 0.96f};
    static const float X[4] = {1, 1, -1, -1};
    static const float q[2] = {1, 0};
    static const uint32_t use_item[12] = {0, 1, 2, 0, 1, 2, 0, 1, 3, 0, 1, 3};
    static const double use_value[12] = {2,    -0.5, 1, 2,    -0.5, 1,
                                         -0.5, 2,    1, -0.5, 2,    1};
    uint64_t hashes[4] = {11, 12, 13, 14};
    uint32_t use_lo[5] = {0, 3, 6, 9, 12};
    struct rank_use uses[12];
    struct rank_hitem items[4];
    struct rank_model m;
    struct rank_hist h;
    struct rank_params p;
    struct rank_local loc;
    struct rank_link *link = NULL;
    double xq[1], base, near, far, none, u2;
    size_t i;

    (void)state;
    rank_params_default(&p);
    memset(&m, 0, sizeof(m));
    m.k = 1;
    m.dim = 2;
    m.nthreads = 4;
    m.thread_hash = hashes;
    m.emb = (float *)emb;
    m.X = (float *)X;
    memset(&h, 0, sizeof(h));
    memset(items, 0, sizeof(items));
    h.items = items;
    h.nitems = 4;
    h.nthreads = 4;
    h.uses = uses;
    h.nuses = 12;
    h.use_lo = use_lo;
    h.team_value = 0.5;
    for (i = 0; i < 12; i++) {
        uses[i].thread = (uint32_t)(i / 3);
        uses[i].item = use_item[i];
        uses[i].value = use_value[i];
        uses[i].positive = use_value[i] > 0;
        uses[i].mature = 1;
    }
    for (i = 0; i < 4; i++) {
        assert_int_equal(rank__map_put(&h.by_thread, hashes[i], i), SW_OK);
        items[i].post_value = i < 2 ? 0.75 : 1.0;
    }
    base = rank_item_outcome(&h, &items[0]);
    assert_true(fabs(base - rank_item_outcome(&h, &items[1])) < 1e-12);
    assert_int_equal(rank__local_init(&loc, h.nitems), SW_OK);
    assert_int_equal(rank__link_build(&h, &m, &link), SW_OK);
    assert_true(rank__fold_in(&m, q, 2, NULL, xq, link, &loc) > 0);
    assert_int_equal(loc.threads, 4);
    assert_true(xq[0] > 0); /* folded in toward the alike threads */
    /* A call's evidence for its candidates only (items 2 and 0, in that
     * order, one twice) is the evidence of all items, to the bit; the
     * others are not held. */
    {
        static const uint32_t want[3] = {2, 0, 2};
        static const size_t ws[2] = {2, 0};
        struct rank_local few;
        double xf[1];
        size_t at, k;
        assert_int_equal(rank__local_init_for(&few, want, 3, h.nitems), SW_OK);
        assert_true(rank__fold_in(&m, q, 2, NULL, xf, link, &few) > 0);
        assert_int_equal(few.threads, loc.threads);
        for (k = 0; k < 2; k++) {
            assert_true(rank__local_at(&few, ws[k], &at));
            assert_true(few.value[at] == loc.value[ws[k]]);
            assert_true(few.uses[at] == loc.uses[ws[k]]);
            assert_true(few.pos[at] == loc.pos[ws[k]]);
            assert_true(few.wall[at] == loc.wall[ws[k]]);
            assert_true(few.nall[at] == loc.nall[ws[k]]);
            assert_true(few.vraw[at] == loc.vraw[ws[k]]);
            assert_true(few.nraw[at] == loc.nraw[ws[k]]);
            assert_true(few.nall[at] > 0);
        }
        assert_false(rank__local_at(&few, 1, &at));
        assert_false(rank__local_at(&few, 3, &at));
        rank__local_free(&few);
    }
    near = rank__local_outcome(&p, &h, &items[0], 0, &loc);
    far = rank__local_outcome(&p, &h, &items[1], 1, &loc);
    assert_true(near > base);
    assert_true(far < base);
    /* Shrunk: never the whole way to its mean in the alike threads. */
    assert_true(near < 2.0 - h.team_value);
    /* An item used only where it is used alike is not moved. */
    assert_true(fabs(rank__local_outcome(&p, &h, &items[2], 2, &loc) -
                     rank_item_outcome(&h, &items[2])) < 1e-12);
    u2 = rank__local_usage(&p, &loc, 2);
    assert_true(u2 > 0.0);
    assert_true(rank__local_usage(&p, &loc, 3) < 0.0);
    /* Stronger shrinkage pulls toward the team-wide values. */
    p.local_strength = 100.0;
    assert_true(rank__local_outcome(&p, &h, &items[0], 0, &loc) < near);
    p.usage_strength = 100.0;
    assert_true(rank__local_usage(&p, &loc, 2) < u2);
    rank_params_default(&p);
    /* Without evidence: the team-wide outcome, and no usage signal. */
    rank__local_reset(&loc);
    none = rank__local_outcome(&p, &h, &items[0], 0, &loc);
    assert_true(fabs(none - base) < 1e-12);
    assert_true(rank__local_usage(&p, &loc, 0) == 0.0);
    assert_true(rank__local_outcome(&p, &h, &items[0], 0, NULL) == none);
    /* A skipped thread (the evaluation's holdout) adds nothing. */
    {
        struct rank__map skip = {0};
        assert_int_equal(rank__map_put(&skip, 11, 1), SW_OK);
        assert_true(rank__fold_in(&m, q, 2, &skip, xq, link, &loc) > 0);
        assert_int_equal(loc.threads, 3);
        assert_true(loc.nall[2] == 1.0);
        rank__map_free(&skip);
    }
    rank__local_free(&loc);
    rank__link_free(&link);
    rank__map_free(&h.by_thread);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_family_cluster),
        cmocka_unit_test(test_family_cluster_cached),
        cmocka_unit_test(test_als_planted),
        cmocka_unit_test(test_mmr),
        cmocka_unit_test(test_explore_bonus),
        cmocka_unit_test(test_bare_framing),
        cmocka_unit_test(test_grades),
        cmocka_unit_test(test_promotion_gate),
        cmocka_unit_test(test_quantized_dot),
        cmocka_unit_test_setup_teardown(test_suggest_diversity, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_paraphrases_pool_into_one_family,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_suggest_local_evidence, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_outcome_counts_without_a_build,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_new_mail_counts_without_a_build,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_outcome_counts_during_a_full_build,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_deleted_team_state_dropped,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_suggest_never_waits_for_a_build,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_suggest_cold_answers_by_similarity,
                                        fx_setup, fx_teardown),
        cmocka_unit_test(test_score_kinds),
        cmocka_unit_test(test_local_evidence),
        cmocka_unit_test_setup_teardown(test_model_context_frequencies,
                                        fx_setup, fx_teardown),
        cmocka_unit_test(test_adoption_rate),
        cmocka_unit_test_setup_teardown(test_hist_priors_and_attribution,
                                        fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
