/* Tests of the query adapter (ranker/adapter.c, issue 21): it learns what
 * the outcomes say a context's words point at where the embedder sees no
 * link (no shared words); the nightly job keeps it when the holdout says
 * it helps and not when the outcomes are noise or the pairs too few; the
 * same history gives the same bytes; it is stored with the model (and a
 * model stored before it still loads); and Suggest ranks with it. */
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
#include "ranker/adapter.h"
#include "ranker/engine.h"
#include "ranker/feedback.h"
#include "ranker/index.h"
#include "ranker/model.h"
#include "ranker/rerank.h"
#include "ranker/suggest.h"
#include "ranker/verdict.h"
#include "store/store.h"
#include "store/store_feedback.h"
#include "store/store_mail.h"
#include "store/store_outcome.h"
#include "store/store_snippet.h"
#include "tests/ranker/rank_fixture.h"
#include "tests/testutil.h"

#define POSITIVE 4
#define NEGATIVE 6

/* Two kinds of prospects, told apart by a few words among names and
 * small talk; the framings that win with each share no word with them. */
static const char *const LOGI[8] = {"freight", "trucks",   "warehouse",
                                    "pallets", "carriers", "shipping",
                                    "dock",    "fleet"};
static const char *const CARE[8] = {"clinic",   "patients", "nurses",
                                    "hospital", "charting", "ward",
                                    "doctors",  "medical"};
static const char *const NOISE[24] = {
    "Ivan",     "Maria",   "Chen",      "Olu",     "Priya",  "Tomas",
    "Greta",    "Yusuf",   "Lena",      "Marco",   "Aiko",   "Sven",
    "tuesday",  "budget",  "quarter",   "meeting", "review", "timeline",
    "contract", "renewal", "questions", "team",    "plans",  "options"};
static const char *const WIN_LOGI =
    "Detention fees fall by a fifth within one season.";
static const char *const WIN_CARE =
    "Sign-off on notes drops to under a minute each.";

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

/* ctx_text writes thread n's context: two words of its group among six of
 * noise (group n % 2). */
static void ctx_text(int n, int salt, char *out, size_t cap)
{
    const char *const *g = n % 2 ? CARE : LOGI;
    uint64_t h = mix((uint64_t)n * 7919 + (uint64_t)salt);

    snprintf(out, cap, "Hello %s, %s %s about %s and %s, %s %s?", NOISE[h % 24],
             NOISE[(h >> 5) % 24], g[(h >> 10) % 8], NOISE[(h >> 15) % 24],
             g[(h >> 20) % 8], NOISE[(h >> 25) % 24], NOISE[(h >> 30) % 24]);
}

/* The history: 240 threads over 120 days, each using one of the two
 * framings at random; with fit set, a framing pays off where it fits its
 * group and not elsewhere; without, the outcome is a coin toss. */
struct hist_spec {
    int threads;
    int fit;
};

static sw_err fill_groups(store_txn *t, void *arg)
{
    const struct hist_spec *hs = arg;
    static char ctx[400][160];
    struct tspec sp;
    int i;
    sw_err rc = SW_OK;

    for (i = 0; rc == SW_OK && i < hs->threads; i++) {
        uint64_t h = mix((uint64_t)i + 17);
        int uses_logi = (h & 1) != 0, group_logi = i % 2 == 0, pos;
        memset(&sp, 0, sizeof(sp));
        sp.n = i + 1;
        sp.rep = i % 3 ? "a@x" : "b@x";
        sp.day = 1 + i / 2;
        sp.frames[0] = uses_logi ? WIN_LOGI : WIN_CARE;
        pos = hs->fit ? uses_logi == group_logi : ((h >> 7) & 1) != 0;
        sp.kinds[0] = pos ? POSITIVE : NEGATIVE;
        sp.after[0] = 1;
        ctx_text(i, 0, ctx[i], sizeof(ctx[i]));
        sp.ctx = ctx[i];
        rc = fx_thread(t, &sp);
    }
    return rc;
}

/* fill_indexed writes hs's history into f's store and returns a ranker
 * with the team's index caught up (rank_ranker_close it). */
static rank_ranker *fill_indexed(struct fixture *f, struct hist_spec *hs)
{
    rank_ranker *r = NULL;
    int caught = 0;

    ASSERT_OK(store_update(f->s, fill_groups, hs));
    ASSERT_OK(rank_ranker_open(f->s, NULL, &r));
    ASSERT_OK(rank_ranker_sync(r, TEAM, 0, &caught));
    return r;
}

/* embed_all embeds n texts of the team into rows of out. */
static void embed(rank_ranker *r, const char *s, float *out)
{
    ASSERT_OK(rank_ranker_embed(r, TEAM, s, strlen(s), out));
}

static float dot(const float *a, const float *b, size_t d)
{
    double s = 0;
    size_t i;

    for (i = 0; i < d; i++)
        s += (double)a[i] * b[i];
    return (float)s;
}

/* The adapter alone: trained on contexts paired with their group's item,
 * it ranks the right item first for contexts it never saw (other word
 * combinations), where the plain embedder is a coin toss (no shared
 * words); and twice the same input gives the same bytes. */
static void test_adapter_learns_what_words_point_at(void **state)
{
    struct fixture *f = *state;
    struct hist_spec hs = {240, 1};
    struct rank_adapter_opts o;
    struct rank_adapter_pair pairs[200];
    struct rank_adapter *a = NULL, *b = NULL;
    rank_ranker *r = NULL;
    float *Q, *S, *q, *qa;
    int kinds[2] = {'f', 'f'}, plain_right = 0, adapted_right = 0;
    size_t dim, i, used = 0;
    char txt[160];

    r = fill_indexed(f, &hs);
    dim = rank_ranker_dim(r);
    Q = sw_calloc(200 * dim, sizeof(float));
    S = sw_calloc(2 * dim, sizeof(float));
    q = sw_calloc(dim, sizeof(float));
    qa = sw_calloc(dim, sizeof(float));
    assert_non_null(Q && S && q && qa);
    embed(r, WIN_LOGI, S);
    embed(r, WIN_CARE, S + dim);
    for (i = 0; i < 200; i++) {
        ctx_text((int)i, 0, txt, sizeof(txt));
        embed(r, txt, Q + i * dim);
        pairs[i].q = (uint32_t)i;
        pairs[i].item = i % 2; /* LOGI contexts are even */
        pairs[i].w = 1.0f;
        pairs[i].negative = 0;
    }
    rank_adapter_opts_default(&o);
    ASSERT_OK(rank_adapter_train(Q, 200, S, kinds, 2, dim, pairs, 200, &o,
                                 &used, &a));
    assert_int_equal(used, 200);
    ASSERT_OK(rank_adapter_train(Q, 200, S, kinds, 2, dim, pairs, 200, &o,
                                 &used, &b));
    assert_memory_equal(a->U, b->U, dim * (size_t)a->rank * sizeof(float));
    assert_memory_equal(a->V, b->V, dim * (size_t)a->rank * sizeof(float));
    /* Held-out contexts: another salt, so other word combinations. */
    for (i = 0; i < 100; i++) {
        const float *right = S + (i % 2) * dim, *wrong = S + (1 - i % 2) * dim;
        ctx_text((int)i, 99, txt, sizeof(txt));
        embed(r, txt, q);
        plain_right += dot(q, right, dim) > dot(q, wrong, dim);
        rank_adapter_apply(a, q, qa);
        adapted_right += dot(qa, right, dim) > dot(qa, wrong, dim);
        assert_true(fabsf(dot(qa, qa, dim) - 1.0f) < 1e-4f);
    }
    print_message("right item first on 100 held-out contexts: plain %d, "
                  "adapted %d\n",
                  plain_right, adapted_right);
    assert_true(plain_right < 70);
    assert_true(adapted_right >= 95);
    rank_adapter_free(&a);
    rank_adapter_free(&b);
    sw_free(Q);
    sw_free(S);
    sw_free(q);
    sw_free(qa);
    rank_ranker_close(&r);
}

/* The gate alone: each reason to keep no adapter, a first pass that
 * waits for the next night, and a second pass that keeps it. */
static void test_adapter_gate(void **state)
{
    struct rank_rerank_opts o;
    struct rank_metrics m, prev;
    char why[256];

    (void)state;
    memset(&o, 0, sizeof(o));
    memset(&m, 0, sizeof(m));
    memset(&prev, 0, sizeof(prev));
    prev.adapter.passed = 1;
    m.adapter.pairs = RANK_ADAPTER_MIN_PAIRS - 1;
    assert_false(rank_adapter_decision(&o, &m, &prev, why, sizeof(why)));
    assert_non_null(strstr(why, "positive training pairs"));
    m.adapter.trained = 1;
    m.adapter.pairs = 100;
    m.base[RANK_BASE_SIMILARITY].ndcg = 0.50;
    m.model.ndcg = 0.80;
    m.adapter.with.ndcg = 0.80;
    m.adapter.sim_with.ndcg = 0.50 + RANK_ADAPTER_MARGIN / 2;
    assert_false(rank_adapter_decision(&o, &m, &prev, why, sizeof(why)));
    assert_non_null(strstr(why, "under the margin"));
    assert_false(m.adapter.passed);
    m.adapter.sim_with.ndcg = 0.50 + 2 * RANK_ADAPTER_MARGIN;
    assert_true(rank_adapter_decision(&o, &m, &prev, why, sizeof(why)));
    assert_non_null(strstr(why, "adapter kept"));
    assert_true(m.adapter.passed);
    /* A first pass waits for the next night. */
    assert_false(rank_adapter_decision(&o, &m, NULL, why, sizeof(why)));
    assert_non_null(strstr(why, "no adapter yet"));
    assert_true(m.adapter.passed);
    prev.adapter.passed = 0;
    assert_false(rank_adapter_decision(&o, &m, &prev, why, sizeof(why)));
    prev.adapter.passed = 1;
    /* Better relevance, but what Suggest serves got worse: not kept. */
    m.adapter.with.ndcg = 0.80 - 2 * RANK_PROMOTE_TOLERANCE;
    assert_false(rank_adapter_decision(&o, &m, &prev, why, sizeof(why)));
    assert_non_null(strstr(why, "whole ranking"));
    assert_false(m.adapter.passed);
    m.adapter.with.ndcg = 0.80 - RANK_PROMOTE_TOLERANCE / 2;
    assert_true(rank_adapter_decision(&o, &m, &prev, NULL, 0));
    o.no_adapter = 1;
    assert_false(rank_adapter_decision(&o, &m, &prev, why, sizeof(why)));
}

/* With documents' lists on the holdout, the gate judges relevance on
 * them only: a gain on all lists that the documents do not share (an
 * adapter that learnt which rep writes which wording of a framing) does
 * not pass, and a gain on the documents does, whatever the framings do;
 * with no documents' list it falls back to all lists. */
static void test_adapter_gate_on_documents(void **state)
{
    struct rank_rerank_opts o;
    struct rank_metrics m, prev;
    char why[256];

    (void)state;
    memset(&o, 0, sizeof(o));
    memset(&m, 0, sizeof(m));
    memset(&prev, 0, sizeof(prev));
    prev.adapter.passed = 1;
    m.adapter.trained = 1;
    m.adapter.pairs = 100;
    m.model.ndcg = m.adapter.with.ndcg = 0.80;
    m.base[RANK_BASE_SIMILARITY].ndcg = 0.50;
    m.adapter.sim_with.ndcg = 0.50 + 10 * RANK_ADAPTER_MARGIN;
    m.adapter.doc.present = m.adapter.doc_with.present = 1;
    m.adapter.doc.ndcg = 0.60;
    m.adapter.doc_with.ndcg = 0.60 + RANK_ADAPTER_MARGIN / 2;
    assert_false(rank_adapter_decision(&o, &m, &prev, why, sizeof(why)));
    assert_false(m.adapter.passed);
    assert_non_null(strstr(why, "documents' relevance"));
    assert_non_null(strstr(why, "under the margin"));
    m.adapter.sim_with.ndcg = 0.50 - 10 * RANK_ADAPTER_MARGIN;
    m.adapter.doc_with.ndcg = 0.60 + 2 * RANK_ADAPTER_MARGIN;
    assert_true(rank_adapter_decision(&o, &m, &prev, why, sizeof(why)));
    assert_non_null(strstr(why, "adapter kept: documents' relevance"));
    m.adapter.doc.present = m.adapter.doc_with.present = 0;
    assert_false(rank_adapter_decision(&o, &m, &prev, why, sizeof(why)));
    assert_non_null(strstr(why, "no adapter: relevance"));
    m.adapter.sim_with.ndcg = 0.50 + 2 * RANK_ADAPTER_MARGIN;
    assert_true(rank_adapter_decision(&o, &m, &prev, why, sizeof(why)));
}

/* The model's gate judges what would serve: a candidate worse than the
 * serving model on its own, but not with its kept adapter, is promoted
 * only when the adapter is kept. */
static void test_serving_gate(void **state)
{
    struct rank_rerank_opts o;
    struct rank_metrics m, g;
    char why[256];

    (void)state;
    memset(&o, 0, sizeof(o));
    memset(&m, 0, sizeof(m));
    m.model.ndcg = 0.70;
    m.model.present = 1;
    m.adapter.with.ndcg = 0.80;
    m.adapter.with.present = 1;
    m.base[RANK_BASE_CURRENT].present = 1;
    m.base[RANK_BASE_CURRENT].ndcg = 0.78;
    rank_serving_metrics(&m, 0, &g);
    assert_true(g.model.ndcg == 0.70);
    assert_true(g.base[RANK_BASE_CURRENT].ndcg == 0.78);
    assert_false(rank_promote_decision(&o, &g, why, sizeof(why)));
    rank_serving_metrics(&m, 1, &g);
    assert_true(g.model.ndcg == 0.80);
    assert_true(rank_promote_decision(&o, &g, why, sizeof(why)));
}

static void rerank(store *s, rank_ranker *r, int dry_run,
                   struct rank_rerank_result *res)
{
    struct rank_rerank_opts o;

    memset(&o, 0, sizeof(o));
    o.force_promote = 1;
    o.dry_run = dry_run;
    o.now_ms = 200 * DAYMS;
    memset(res, 0, sizeof(*res));
    ASSERT_OK(rank_rerank_team(s, r, TEAM, NULL, &o, NULL, NULL, res));
    fprintf(stderr, "%s\n", res->model->report);
}

/* The nightly job on a history where outcomes separate the two groups:
 * the adapter beats the plain embedder on the holdout by the margin; the
 * first night it passes and waits, the next it is kept, refitted and
 * stored with the model; two runs give the same bytes. */
static void test_rerank_keeps_adapter(void **state)
{
    struct fixture *f = *state;
    struct hist_spec hs = {240, 1};
    struct rank_rerank_result first, a, b;
    const struct rank_metrics *m;
    rank_ranker *r = NULL;

    r = fill_indexed(f, &hs);
    rerank(f->s, r, 0, &first);
    assert_true(first.model->metrics.adapter.passed);
    assert_false(first.adapter_promoted);
    assert_null(first.model->adapter);
    assert_non_null(strstr(first.adapter_decision, "no adapter yet"));
    rerank(f->s, r, 1, &a);
    rerank(f->s, r, 1, &b);
    m = &a.model->metrics;
    assert_true(m->adapter.trained);
    assert_true(m->adapter.pairs >= RANK_ADAPTER_MIN_PAIRS);
    assert_true(m->adapter.sim_with.ndcg >=
                m->base[RANK_BASE_SIMILARITY].ndcg + RANK_ADAPTER_MARGIN);
    assert_true(m->adapter.with.ndcg >= m->model.ndcg - RANK_PROMOTE_TOLERANCE);
    assert_true(a.adapter_promoted);
    assert_true(m->adapter.promoted);
    assert_non_null(strstr(a.adapter_decision, "adapter kept"));
    assert_non_null(strstr(a.model->report, "Query adapter"));
    assert_non_null(a.model->adapter);
    assert_non_null(b.model->adapter);
    assert_memory_equal(a.model->adapter->U, b.model->adapter->U,
                        a.model->adapter->dim * (size_t)a.model->adapter->rank *
                            sizeof(float));
    assert_memory_equal(a.model->adapter->V, b.model->adapter->V,
                        a.model->adapter->dim * (size_t)a.model->adapter->rank *
                            sizeof(float));
    rank_model_free(&first.model);
    rank_model_free(&a.model);
    rank_model_free(&b.model);
    rank_ranker_close(&r);
}

/* Outcomes that are a coin toss: an adapter is trained but does not beat
 * the plain embedder by the margin, so none is kept; and with too few
 * threads none is trained. */
static void test_rerank_drops_adapter(void **state)
{
    struct fixture *f = *state;
    struct hist_spec hs = {240, 0};
    struct rank_rerank_result a;
    rank_ranker *r = NULL;

    r = fill_indexed(f, &hs);
    rerank(f->s, r, 0, &a);
    assert_true(a.model->metrics.adapter.trained);
    assert_false(a.adapter_promoted);
    assert_false(a.model->metrics.adapter.promoted);
    assert_null(a.model->adapter);
    assert_non_null(strstr(a.adapter_decision, "under the margin"));
    rank_model_free(&a.model);
    rank_ranker_close(&r);
}

static void test_rerank_too_few_pairs(void **state)
{
    struct fixture *f = *state;
    struct hist_spec hs = {40, 1};
    struct rank_rerank_result a;
    rank_ranker *r = NULL;

    r = fill_indexed(f, &hs);
    rerank(f->s, r, 0, &a);
    assert_false(a.model->metrics.adapter.trained);
    assert_true(a.model->metrics.adapter.pairs < RANK_ADAPTER_MIN_PAIRS);
    assert_false(a.adapter_promoted);
    assert_null(a.model->adapter);
    assert_non_null(strstr(a.adapter_decision, "positive training pairs"));
    rank_model_free(&a.model);
    rank_ranker_close(&r);
}

/* --- reps' verdicts ------------------------------------------------------ */

/* put_fb records one feedback of rep on target (kind tk) at ms. */
static sw_err put_fb(store_txn *t, const char *rep, int tk, const char *target,
                     int kind, int64_t ms, const char *key)
{
    struct store_feedback f;
    char *id = NULL;
    int dup = 0;
    sw_err rc;

    memset(&f, 0, sizeof(f));
    f.suggestion_id = "sg_0000000000000001";
    f.item_id = "sg_0000000000000001.x";
    f.target_kind = tk;
    f.target_id = (char *)target;
    f.kind = kind;
    f.rep_email = (char *)rep;
    f.time_ms = f.record_ms = ms;
    f.idem_key = (char *)key;
    rc = store_feedback_put(t, TEAM, &f, &dup, &id);
    sw_free(id);
    return rc;
}

#define MINMS (60 * 1000LL)

/* Three threads on day 10: rep b@x writes X at 12:01, rep a@x writes Y at
 * 12:05 and Z at 14:00. */
static sw_err fill_links(store_txn *t, void *arg)
{
    const int64_t noon = 10 * DAYMS + 12 * 60 * MINMS;
    struct fx_mail m = {0};
    sw_err rc;

    (void)arg;
    m.direction = STORE_DIR_OUTBOUND;
    m.text = "Hello there.";
    m.eid = "em_00000000000000a1", m.tid = "th_00000000000000a1";
    m.mid = "a1@x", m.from = m.rep = "b@x", m.ms = noon + MINMS;
    rc = fx_email_full(t, &m);
    m.eid = "em_00000000000000a2", m.tid = "th_00000000000000a2";
    m.mid = "a2@x", m.from = m.rep = "a@x", m.ms = noon + 5 * MINMS;
    if (rc == SW_OK)
        rc = fx_email_full(t, &m);
    m.eid = "em_00000000000000a3", m.tid = "th_00000000000000a3";
    m.mid = "a3@x", m.ms = noon + 120 * MINMS;
    if (rc == SW_OK)
        rc = fx_email_full(t, &m);
    /* a@x (in capitals) dismisses at noon: Y, not b@x's X one minute on. */
    if (rc == SW_OK)
        rc = put_fb(t, "A@X", 'f', "snip_1", RANK_FB_DISMISSED, noon, "k1");
    /* An insert is not a verdict (its mail counts it as a use). */
    if (rc == SW_OK)
        rc = put_fb(t, "a@x", 'f', "snip_1", RANK_FB_INSERTED, noon, "k2");
    /* Three hours before Y: past the window, tied to nothing. */
    if (rc == SW_OK)
        rc = put_fb(t, "a@x", 'c', "ct_1", RANK_FB_THUMBS_DOWN,
                    noon - 180 * MINMS, "k3");
    /* At 13:30: Z, half an hour on. */
    if (rc == SW_OK)
        rc = put_fb(t, "a@x", 'c', "ct_2", RANK_FB_THUMBS_UP, noon + 90 * MINMS,
                    "k4");
    /* After a@x's last mail: nothing to tie it to. */
    if (rc == SW_OK)
        rc = put_fb(t, "a@x", 'c', "ct_3", RANK_FB_DISMISSED,
                    noon + 130 * MINMS, "k5");
    return rc;
}

static sw_err read_verdicts(store_txn *t, void *arg)
{
    return rank_verdicts_read(t, TEAM, arg);
}

/* A verdict is tied to the thread of its rep's next outbound mail within
 * the hour (verdict.h), whatever the case of the address; inserts are not
 * verdicts. */
static void test_verdicts_tied_to_threads(void **state)
{
    struct fixture *f = *state;
    struct rank_verdicts *v = NULL;

    ASSERT_OK(store_update(f->s, fill_links, NULL));
    ASSERT_OK(store_view(f->s, read_verdicts, &v));
    assert_int_equal(v->n, 2);
    assert_string_equal(v->v[0].thread_id, "th_00000000000000a2");
    assert_string_equal(v->v[0].target_id, "snip_1");
    assert_int_equal(v->v[0].target_kind, 'f');
    assert_int_equal(v->v[0].kind, RANK_FB_DISMISSED);
    assert_string_equal(v->v[1].thread_id, "th_00000000000000a3");
    assert_int_equal(v->v[1].kind, RANK_FB_THUMBS_UP);
    rank_verdicts_free(&v);
    assert_null(v);
}

/* first_using is the first thread of fill_dismissals (its n) that used
 * WIN_LOGI (logi) or WIN_CARE: its snippet stands for the framing. */
static int first_using(int logi)
{
    int k = 0;

    while (((mix((uint64_t)k + 17) & 1) != 0) != logi)
        k++;
    return k + 1;
}

/* Reading verdicts with the Nth allocation failing, for every N: a clean
 * SW_ENOMEM and nothing leaked, until it succeeds. */
static void test_verdicts_read_fault(void **state)
{
    struct fixture *f = *state;
    struct rank_verdicts *v = NULL;
    int64_t live;
    uint64_t n;
    int failures = 0;
    sw_err rc = SW_ENOMEM;

    ASSERT_OK(store_update(f->s, fill_links, NULL));
    live = sw_mem_live();
    for (n = 1; rc != SW_OK && n < 1000; n++) {
        sw_mem_fail_nth(n);
        rc = store_view(f->s, read_verdicts, &v);
        sw_mem_fail_nth(0);
        if (rc == SW_OK) {
            assert_int_equal(v->n, 2);
            rank_verdicts_free(&v);
        } else {
            assert_int_equal(rc, SW_ENOMEM);
            assert_null(v);
            failures++;
        }
        assert_int_equal(sw_mem_live(), live);
    }
    ASSERT_OK(rc);
    print_message("verdicts: %d allocations failed cleanly\n", failures);
    assert_true(failures >= 4);
}

/* The history of fill_groups with coin-toss outcomes (the mail uses
 * either framing at random, from habit), but in every training thread
 * the rep had dismissed the framing that does not fit its group ten
 * minutes before sending; the holdout (the last fifth) uses the fitting
 * framing and it pays off. Reps alternate, so the other group's thread of
 * the same day is sent at the same time by the other rep. */
static sw_err fill_dismissals(store_txn *t, void *arg)
{
    static char ctx[240][160];
    char sid[32], key[32];
    struct tspec sp;
    int i;
    sw_err rc = SW_OK;

    (void)arg;
    for (i = 0; rc == SW_OK && i < 240; i++) {
        uint64_t h = mix((uint64_t)i + 17);
        int group_logi = i % 2 == 0, hold = i >= 192;
        int uses_logi = hold ? group_logi : (h & 1) != 0;
        memset(&sp, 0, sizeof(sp));
        sp.n = i + 1;
        sp.rep = i % 2 ? "a@x" : "b@x";
        sp.day = 1 + i / 2;
        sp.frames[0] = uses_logi ? WIN_LOGI : WIN_CARE;
        sp.kinds[0] = hold || ((h >> 7) & 1) ? POSITIVE : NEGATIVE;
        sp.after[0] = 1;
        ctx_text(i, 0, ctx[i], sizeof(ctx[i]));
        sp.ctx = ctx[i];
        rc = fx_thread(t, &sp);
        if (rc || hold)
            continue;
        snprintf(sid, sizeof(sid), "snip_%08x%08x", first_using(!group_logi),
                 0);
        snprintf(key, sizeof(key), "d%d", i);
        rc = put_fb(t, sp.rep, 'f', sid, RANK_FB_DISMISSED,
                    sp.day * DAYMS - 10 * MINMS, key);
    }
    return rc;
}

/* Outcomes alone say little here (a coin toss: relevance alone +0.038 on
 * the holdout without the dismissals, mutant ad20); with the dismissals
 * as negatives the adapter ranks the fitting framing first far more often
 * (+0.123) and passes. */
static void test_adapter_learns_from_dismissals(void **state)
{
    struct fixture *f = *state;
    struct rank_rerank_result res;
    const struct rank_metrics *m;
    rank_ranker *r = NULL;
    int caught = 0;

    ASSERT_OK(store_update(f->s, fill_dismissals, NULL));
    ASSERT_OK(rank_ranker_open(f->s, NULL, &r));
    ASSERT_OK(rank_ranker_sync(r, TEAM, 0, &caught));
    rerank(f->s, r, 1, &res);
    m = &res.model->metrics;
    print_message("dismissals: relevance alone %.3f plain, %.3f adapted\n",
                  m->base[RANK_BASE_SIMILARITY].ndcg, m->adapter.sim_with.ndcg);
    assert_true(m->adapter.trained);
    assert_true(m->adapter.sim_with.ndcg >=
                m->base[RANK_BASE_SIMILARITY].ndcg + 0.1);
    assert_true(m->adapter.passed);
    rank_model_free(&res.model);
    rank_ranker_close(&r);
}

/* --- documents, known by their passages ----------------------------------- */

/* Two documents whose file names say nothing (they differ in one digit)
 * and whose passages share no word with the contexts: each one wins
 * with its own group of prospects. */
static const char *const DOC_ID[2] = {"ct_00000000000000d1",
                                      "ct_00000000000000d2"};
static const char *const DOC_NAME[2] = {"attachment 1.pdf", "attachment 2.pdf"};
static const char *const DOC_PASSAGE[2][2] = {
    {"Detention fees fall by a fifth within one season.",
     "Idle hours at the yard drop as loads arrive on schedule."},
    {"Sign-off on notes drops to under a minute each.",
     "Rounds run shorter once every chart is complete by noon."}};

/* fill_docs writes the two documents with their passages (day 0) and 240
 * threads over 120 days, each attaching one document at random, which
 * pays off where it fits the thread's group. */
static sw_err fill_docs(store_txn *t, void *arg)
{
    char ctx[160], eid[32], tid[32], mid[32], sid[32], key[32];
    struct store_email_content ec;
    struct store_content c;
    struct store_snippet sn;
    struct store_thread th;
    struct store_email e;
    struct store_outcome o;
    struct sw_buf dk;
    const char *empty = "";
    char *eids[1];
    int i, d, k;
    sw_err rc = SW_OK;

    (void)arg;
    for (d = 0; rc == SW_OK && d < 2; d++) {
        memset(&c, 0, sizeof(c));
        c.content_id = (char *)DOC_ID[d];
        c.team_id = TEAM;
        c.filename = (char *)DOC_NAME[d];
        c.media_type = "application/pdf";
        c.text = c.detail = (char *)empty;
        c.sha256_hex[0] = (char)('a' + d);
        c.first_seen_ms = DAYMS / 2;
        rc = store_content_put(t, &c);
        for (k = 0; rc == SW_OK && k < 2; k++) {
            memset(&sn, 0, sizeof(sn));
            snprintf(sid, sizeof(sid), "snip_00000000%08x", 0xd00 + d * 2 + k);
            sn.snippet_id = sid;
            sn.team_id = TEAM;
            sn.kind = STORE_SNIPPET_KEY_PASSAGE;
            sn.text = (char *)DOC_PASSAGE[d][k];
            sn.content_id = (char *)DOC_ID[d];
            sn.email_id = sn.thread_id = sn.rep_email = (char *)empty;
            sn.create_ms = DAYMS / 2;
            rc = store_snippet_put(t, &sn);
        }
    }
    for (i = 0; rc == SW_OK && i < 240; i++) {
        uint64_t h = mix((uint64_t)i + 17);
        int doc = (int)(h & 1), pos = doc == i % 2;
        snprintf(eid, sizeof(eid), "em_%016x", i + 1);
        snprintf(tid, sizeof(tid), "th_%016x", i + 1);
        snprintf(mid, sizeof(mid), "m%d@x", i + 1);
        ctx_text(i, 0, ctx, sizeof(ctx));
        memset(&e, 0, sizeof(e));
        e.email_id = eid;
        e.team_id = TEAM;
        e.thread_id = tid;
        e.message_id = mid;
        e.in_reply_to = e.from_name = e.body_text = e.subject = (char *)empty;
        e.new_text = ctx;
        e.direction = STORE_DIR_OUTBOUND;
        e.from_email = e.rep_email = i % 3 ? "a@x" : "b@x";
        e.sent_ms = e.ingest_ms = (1 + i / 2) * DAYMS;
        ec.content_id = (char *)DOC_ID[doc];
        ec.filename = (char *)DOC_NAME[doc];
        ec.state = 0;
        ec.is_new = 0;
        e.contents = &ec;
        e.n_contents = 1;
        sw_buf_init(&dk, 1024);
        rc = store_mail_msgid_key(&dk, mid);
        if (rc == SW_OK)
            rc = store_email_put(t, &e, sw_buf_str(&dk), sw_buf_len(&dk));
        sw_buf_free(&dk);
        memset(&th, 0, sizeof(th));
        th.thread_id = tid;
        th.team_id = TEAM;
        th.subject = th.subject_key = (char *)empty;
        th.first_ms = th.last_ms = e.sent_ms;
        eids[0] = eid;
        th.email_ids = eids;
        th.n_emails = 1;
        if (rc == SW_OK)
            rc = store_thread_put(t, &th);
        if (rc == SW_OK)
            rc = store_content_use_add(t, TEAM, DOC_ID[doc], eid);
        if (rc == SW_OK) {
            char *oid = NULL;
            int dup = 0;
            memset(&o, 0, sizeof(o));
            snprintf(key, sizeof(key), "d%d", i);
            o.thread_id = tid;
            o.kind = pos ? POSITIVE : NEGATIVE;
            o.occur_ms = o.record_ms = e.sent_ms + DAYMS;
            o.source = STORE_OUTCOME_RECORDED;
            o.idem_key = key;
            rc = store_outcome_put(t, TEAM, &o, &dup, &oid);
            sw_free(oid);
        }
    }
    return rc;
}

/* The adapter learns a document as Suggest's search sees it, by its
 * passages (their mean vector in the index), not by its file name: the
 * names differ in one digit, so learnt on them it could not move a
 * query towards either document's passages, and the holdout, which ranks
 * documents by their passages among the index's hits, would not keep it.
 * Learnt on the passages, relevance alone gains on the holdout and the
 * adapter passes. */
static void test_adapter_learns_documents_by_their_passages(void **state)
{
    struct fixture *f = *state;
    struct rank_rerank_result res;
    const struct rank_metrics *m;
    rank_ranker *r = NULL;
    int caught = 0;

    ASSERT_OK(store_update(f->s, fill_docs, NULL));
    ASSERT_OK(rank_ranker_open(f->s, NULL, &r));
    ASSERT_OK(rank_ranker_sync(r, TEAM, 0, &caught));
    rerank(f->s, r, 1, &res);
    m = &res.model->metrics;
    print_message("documents: relevance alone %.3f plain, %.3f adapted\n",
                  m->base[RANK_BASE_SIMILARITY].ndcg, m->adapter.sim_with.ndcg);
    assert_true(m->adapter.trained);
    assert_true(m->adapter.sim_with.ndcg >=
                m->base[RANK_BASE_SIMILARITY].ndcg + 0.1);
    /* The documents' lists alone, the gate's measure, gain too. */
    print_message("documents' lists: relevance alone %.3f plain, %.3f "
                  "adapted\n",
                  m->adapter.doc.ndcg, m->adapter.doc_with.ndcg);
    assert_true(m->adapter.doc.present);
    assert_true(m->adapter.doc_with.ndcg >= m->adapter.doc.ndcg + 0.1);
    assert_non_null(strstr(res.model->report, "relevance alone, documents"));
    assert_true(m->adapter.passed);
    rank_model_free(&res.model);
    rank_ranker_close(&r);
}

/* --- the serving model, judged as it serves ------------------------------ */

struct serving_arg {
    struct rank_model *m;
    struct rank_adapter *a; /* taken into m, then saved and promoted */
};

/* load_serving (a store_view callback) loads the serving model with its
 * data into a->m. */
static sw_err load_serving(store_txn *t, void *arg)
{
    struct serving_arg *a = arg;
    uint64_t seq = 0;
    sw_err rc = rank_model_serving(t, TEAM, &seq);

    if (rc == SW_OK)
        rc = rank_model_load(t, TEAM, seq, 1, &a->m);
    return rc;
}

/* serve_with (a store_update callback) stores a->m with the adapter a->a
 * as a new model and promotes it. */
static sw_err serve_with(store_txn *t, void *arg)
{
    struct serving_arg *a = arg;
    sw_err rc;

    rank_adapter_free(&a->m->adapter);
    a->m->adapter = a->a;
    a->a = NULL;
    rc = rank_model_save(t, TEAM, a->m);
    if (rc == SW_OK)
        rc = rank_model_promote(t, TEAM, a->m->seq, 201 * DAYMS);
    return rc;
}

/* serving_ndcg is the serving model's NDCG@10 on the holdout of a dry
 * run with p. */
static double serving_ndcg(store *s, rank_ranker *r,
                           const struct rank_params *p)
{
    struct rank_rerank_opts o;
    struct rank_rerank_result res;
    double v;

    memset(&o, 0, sizeof(o));
    o.dry_run = 1;
    o.now_ms = 200 * DAYMS;
    ASSERT_OK(rank_rerank_team(s, r, TEAM, p, &o, NULL, NULL, &res));
    assert_true(res.model->metrics.base[RANK_BASE_CURRENT].present);
    v = res.model->metrics.base[RANK_BASE_CURRENT].ndcg;
    rank_model_free(&res.model);
    return v;
}

/* The nightly job judges the serving model as Suggest serves it: with its
 * own adapter. The same serving model (relevance weighing most, so that
 * the query decides) is judged once without an adapter and once with
 * one that maps each group's words onto the framing that wins with it
 * (U = the two framings' vectors, V = their groups' words): with it, the
 * serving model ranks the holdout like the adapted candidate, not like
 * the plain embedder. */
static void test_serving_model_judged_with_its_adapter(void **state)
{
    struct fixture *f = *state;
    struct hist_spec hs = {240, 1};
    struct rank_rerank_result first;
    struct serving_arg sa;
    struct rank_params p;
    rank_ranker *r = NULL;
    static const char *const words[2] = {
        "freight trucks warehouse pallets carriers shipping dock fleet",
        "clinic patients nurses hospital charting ward doctors medical"};
    float *v[4];
    double plain, adapted;
    size_t dim, d;
    int g, i;

    r = fill_indexed(f, &hs);
    rank_params_default(&p);
    p.w_relevance = p.wc_relevance = 100.0;
    rerank(f->s, r, 0, &first); /* a model serves, without an adapter */
    assert_null(first.model->adapter);
    plain = serving_ndcg(f->s, r, &p);
    dim = rank_ranker_dim(r);
    for (i = 0; i < 4; i++) {
        v[i] = sw_calloc(dim, sizeof(float));
        assert_non_null(v[i]);
    }
    embed(r, WIN_LOGI, v[0]);
    embed(r, WIN_CARE, v[1]);
    embed(r, words[0], v[2]);
    embed(r, words[1], v[3]);
    memset(&sa, 0, sizeof(sa));
    ASSERT_OK(store_view(f->s, load_serving, &sa));
    ASSERT_OK(rank_adapter_new(dim, 2, &sa.a));
    for (d = 0; d < dim; d++)
        for (g = 0; g < 2; g++) {
            sa.a->U[d * 2 + g] = v[g][d];
            sa.a->V[d * 2 + g] = 10.0f * v[2 + g][d];
        }
    ASSERT_OK(store_update(f->s, serve_with, &sa));
    adapted = serving_ndcg(f->s, r, &p);
    print_message("serving model on the holdout: plain %.3f, with its "
                  "adapter %.3f\n",
                  plain, adapted);
    assert_true(plain < 0.9);
    assert_true(adapted > 0.99);
    for (i = 0; i < 4; i++)
        sw_free(v[i]);
    rank_model_free(&sa.m);
    rank_model_free(&first.model);
    rank_ranker_close(&r);
}

/* stamp_last (a store_update callback) stores a copy of the serving model
 * as a new model, not promoted, with adapter.passed set to *arg: the run
 * of a night whose model the gate did not promote. */
static sw_err stamp_last(store_txn *t, void *arg)
{
    const int *pass = arg;
    struct rank_model *m = NULL;
    uint64_t seq = 0;
    sw_err rc = rank_model_serving(t, TEAM, &seq);

    if (rc == SW_OK)
        rc = rank_model_load(t, TEAM, seq, 1, &m);
    if (rc == SW_OK) {
        m->metrics.adapter.passed = *pass;
        rc = rank_model_save(t, TEAM, m);
    }
    rank_model_free(&m);
    return rc;
}

/* The two-night rule asks the run before, promoted or not: a serving
 * model that did not pass, then a run that passed but whose model was
 * not promoted; tonight's passing adapter is kept. A failing run after
 * that one resets it (two in a row). Mutant ad26 asks the serving model
 * again and never keeps it here. */
static void test_adapter_pass_remembered_unpromoted(void **state)
{
    struct fixture *f = *state;
    struct hist_spec hs = {240, 1};
    struct rank_rerank_opts o;
    struct rank_rerank_result res;
    rank_ranker *r = NULL;
    int pass;

    r = fill_indexed(f, &hs);
    memset(&o, 0, sizeof(o));
    o.force_promote = 1;
    o.no_adapter = 1;
    o.now_ms = 200 * DAYMS;
    ASSERT_OK(rank_rerank_team(f->s, r, TEAM, NULL, &o, NULL, NULL, &res));
    assert_true(res.promoted);
    assert_false(res.model->metrics.adapter.passed);
    rank_model_free(&res.model);
    pass = 1;
    ASSERT_OK(store_update(f->s, stamp_last, &pass));
    rerank(f->s, r, 1, &res);
    assert_true(res.model->metrics.adapter.passed);
    assert_true(res.adapter_promoted);
    assert_non_null(strstr(res.adapter_decision, "adapter kept"));
    rank_model_free(&res.model);
    pass = 0;
    ASSERT_OK(store_update(f->s, stamp_last, &pass));
    rerank(f->s, r, 1, &res);
    assert_true(res.model->metrics.adapter.passed);
    assert_false(res.adapter_promoted);
    assert_non_null(strstr(res.adapter_decision, "no adapter yet"));
    rank_model_free(&res.model);
    rank_ranker_close(&r);
}

/* --- storage ------------------------------------------------------------- */

struct save_arg {
    struct rank_model *m, *got;
    uint64_t seq;
};

static sw_err save_cb(store_txn *t, void *arg)
{
    struct save_arg *a = arg;
    sw_err rc = rank_model_save(t, TEAM, a->m);

    if (rc == SW_OK)
        rc = rank_model_promote(t, TEAM, a->m->seq, 5);
    a->seq = a->m->seq;
    return rc;
}

static sw_err load_cb(store_txn *t, void *arg)
{
    struct save_arg *a = arg;

    rank_model_free(&a->got);
    return rank_model_load(t, TEAM, a->seq, 1, &a->got);
}

static struct rank_model *model_with_adapter(size_t dim)
{
    struct rank_model *m = sw_calloc(1, sizeof(*m));
    size_t i;

    assert_non_null(m);
    m->dim = dim;
    m->create_ms = 86400000;
    m->metrics.model.ndcg = 0.5;
    m->metrics.model.present = 1;
    m->metrics.adapter.with.ndcg = 0.625;
    m->metrics.adapter.with.present = 1;
    m->metrics.adapter.sim_with.recall = 0.25;
    m->metrics.adapter.pairs = 77;
    m->metrics.adapter.trained = 1;
    m->metrics.adapter.passed = 1;
    m->metrics.adapter.promoted = 1;
    ASSERT_OK(rank_adapter_new(dim, 3, &m->adapter));
    for (i = 0; i < dim * 3; i++) {
        m->adapter->U[i] = (float)i / 7.0f;
        m->adapter->V[i] = -(float)i / 3.0f;
    }
    return m;
}

/* A model with an adapter comes back with the same bytes and figures. */
static void test_model_adapter_roundtrip(void **state)
{
    struct fixture *f = *state;
    struct save_arg a;

    memset(&a, 0, sizeof(a));
    a.m = model_with_adapter(8);
    ASSERT_OK(store_update(f->s, save_cb, &a));
    ASSERT_OK(store_view(f->s, load_cb, &a));
    assert_non_null(a.got->adapter);
    assert_int_equal(a.got->adapter->rank, 3);
    assert_int_equal(a.got->adapter->dim, 8);
    assert_memory_equal(a.got->adapter->U, a.m->adapter->U, 24 * sizeof(float));
    assert_memory_equal(a.got->adapter->V, a.m->adapter->V, 24 * sizeof(float));
    assert_true(a.got->metrics.adapter.with.ndcg == 0.625);
    assert_true(a.got->metrics.adapter.sim_with.recall == 0.25);
    assert_int_equal(a.got->metrics.adapter.pairs, 77);
    assert_true(a.got->metrics.adapter.trained);
    assert_true(a.got->metrics.adapter.promoted);
    assert_true(a.got->metrics.adapter.passed);
    assert_true(a.got->metrics.model.ndcg == 0.5);
    /* Promotion rewrites the header: the figures survive it. */
    assert_true(a.got->promoted);
    rank_model_free(&a.got);
    rank_model_free(&a.m);
}

static void put_u64(struct sw_buf *b, uint64_t v)
{
    unsigned char x[8];

    store_u64_put(x, v);
    ASSERT_OK(sw_buf_add(b, x, 8));
}

/* Version 1 records, as the job wrote them before the adapter: a header
 * (version byte 1, the version string, times, five evaluations, counts,
 * the report) and data (k, dim, λ, scale, no items, no threads, and the
 * trailing context frequencies: 1 document, one word). */
static sw_err put_v1(store_txn *t, void *arg)
{
    struct sw_buf k, v;
    double one = 1.0;
    uint64_t bits;
    int i;
    sw_err rc;

    (void)arg;
    sw_buf_init(&k, 256);
    sw_buf_init(&v, 1 << 16);
    ASSERT_OK(sw_buf_addc(&v, 1));
    put_u64(&v, 6);
    ASSERT_OK(sw_buf_add(&v, "old-v1", 6));
    put_u64(&v, 1000);
    put_u64(&v, 0);
    memcpy(&bits, &one, 8);
    for (i = 0; i < 5; i++) {
        put_u64(&v, bits); /* ndcg 1.0 */
        put_u64(&v, 0);
        put_u64(&v, 0);
        put_u64(&v, 0);
        put_u64(&v, 1);
    }
    put_u64(&v, 10);
    put_u64(&v, 11);
    put_u64(&v, 12);
    put_u64(&v, 2);
    ASSERT_OK(sw_buf_add(&v, "# ", 2));
    ASSERT_OK(store_key(&k, TEAM, NULL, 0));
    ASSERT_OK(store_key_add_u64(&k, UINT64_MAX - 1));
    rc = store_put(t, STORE_DB_RANK_MODELS, sw_buf_str(&k), sw_buf_len(&k),
                   sw_buf_str(&v), sw_buf_len(&v), 0);
    sw_buf_reset(&v);
    ASSERT_OK(sw_buf_addc(&v, 1));
    put_u64(&v, 0);      /* k */
    put_u64(&v, 4);      /* dim */
    put_u64(&v, bits);   /* lambda */
    put_u64(&v, bits);   /* scale */
    put_u64(&v, 0);      /* items */
    put_u64(&v, 0);      /* threads */
    put_u64(&v, 1);      /* cdf: documents */
    put_u64(&v, 1);      /* words */
    put_u64(&v, 0x1234); /* hash */
    put_u64(&v, 1);      /* count */
    ASSERT_OK(store_key(&k, TEAM, NULL, 0));
    ASSERT_OK(store_key_add_u64(&k, 1));
    if (rc == SW_OK)
        rc = store_put(t, STORE_DB_RANK_BLOBS, sw_buf_str(&k), sw_buf_len(&k),
                       sw_buf_str(&v), sw_buf_len(&v), 0);
    sw_buf_free(&k);
    sw_buf_free(&v);
    return rc;
}

static void test_model_v1_loads(void **state)
{
    struct fixture *f = *state;
    struct save_arg a;

    memset(&a, 0, sizeof(a));
    a.seq = 1;
    ASSERT_OK(store_update(f->s, put_v1, NULL));
    ASSERT_OK(store_view(f->s, load_cb, &a));
    assert_string_equal(a.got->version, "old-v1");
    assert_true(a.got->metrics.model.ndcg == 1.0);
    assert_int_equal(a.got->metrics.train_threads, 12);
    assert_string_equal(a.got->report, "# ");
    assert_int_equal(a.got->dim, 4);
    assert_non_null(a.got->cdf);
    assert_int_equal(a.got->cdf->docs, 1);
    assert_null(a.got->adapter);
    assert_false(a.got->metrics.adapter.trained);
    assert_false(a.got->metrics.adapter.passed);
    assert_int_equal(a.got->metrics.adapter.pairs, 0);
    rank_model_free(&a.got);
}

/* --- Suggest ------------------------------------------------------------- */

/* Suggest's order of two framings for one query by relevance alone, with
 * the serving model's adapter applied or not (params use_adapter). */
static void suggest_top(store *s, rank_ranker *r, int use_adapter,
                        const char *query, const char **top, double *rel)
{
    struct rank_params p;
    struct rank_suggest_req q;
    struct rank_suggest_res out;
    struct sw_arena a;
    struct sw_buf why;
    rank_engine *e = NULL;

    rank_params_default(&p);
    p.use_adapter = use_adapter;
    ASSERT_OK(rank_engine_open(s, r, &p, &e));
    memset(&q, 0, sizeof(q));
    q.team_id = TEAM;
    q.context = query;
    q.max_framings = 2;
    q.max_contents = 1;
    q.mode = RANK_MODE_SIMILARITY;
    q.request_hash = 3;
    sw_buf_init(&why, 1024);
    sw_arena_init(&a, 0);
    ASSERT_OK(rank_suggest(e, &q, &a, &out, &why));
    assert_int_equal(out.n_framings, 2);
    *top = out.framings[0].text == NULL ? "" : out.framings[0].text;
    *top = strcmp(*top, WIN_LOGI) == 0 ? WIN_LOGI : WIN_CARE;
    *rel = out.framings[0].score.relevance - out.framings[1].score.relevance;
    sw_arena_free(&a);
    sw_buf_free(&why);
    rank_engine_close(&e);
}

/* A serving model whose adapter maps a hospital's words onto WIN_CARE
 * (U = that framing's vector, V = the query's, so A q = q + s |q|²): with
 * it, Suggest puts WIN_CARE first for the query; without it (or with
 * use_adapter 0), the plain cosines, where WIN_LOGI shares the query's
 * words, put WIN_LOGI first. */
static void test_suggest_uses_adapter(void **state)
{
    struct fixture *f = *state;
    static const char *const query =
        "Our hospital fleet of trucks brings fees down each season.";
    struct hist_spec hs = {40, 1};
    struct save_arg sa;
    rank_ranker *r = NULL;
    const char *top;
    double gap;
    float *qv, *sv;
    size_t dim, i;

    r = fill_indexed(f, &hs);
    suggest_top(f->s, r, 1, query, &top, &gap);
    assert_ptr_equal(top, WIN_LOGI); /* no model yet */
    dim = rank_ranker_dim(r);
    qv = sw_calloc(dim, sizeof(float));
    sv = sw_calloc(dim, sizeof(float));
    embed(r, query, qv);
    embed(r, WIN_CARE, sv);
    memset(&sa, 0, sizeof(sa));
    sa.m = sw_calloc(1, sizeof(*sa.m));
    sa.m->dim = dim;
    sa.m->create_ms = DAYMS;
    ASSERT_OK(rank_adapter_new(dim, 1, &sa.m->adapter));
    for (i = 0; i < dim; i++) {
        sa.m->adapter->U[i] = sv[i];
        sa.m->adapter->V[i] = qv[i];
    }
    ASSERT_OK(store_update(f->s, save_cb, &sa));
    suggest_top(f->s, r, 0, query, &top, &gap);
    assert_ptr_equal(top, WIN_LOGI);
    suggest_top(f->s, r, 1, query, &top, &gap);
    assert_ptr_equal(top, WIN_CARE);
    assert_true(gap > 0.1);
    rank_model_free(&sa.m);
    sw_free(qv);
    sw_free(sv);
    rank_ranker_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_adapter_learns_what_words_point_at,
                                        fx_setup, fx_teardown),
        cmocka_unit_test(test_adapter_gate),
        cmocka_unit_test(test_adapter_gate_on_documents),
        cmocka_unit_test(test_serving_gate),
        cmocka_unit_test_setup_teardown(test_rerank_keeps_adapter, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_rerank_drops_adapter, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_rerank_too_few_pairs, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_verdicts_tied_to_threads, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_verdicts_read_fault, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_adapter_learns_from_dismissals,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_adapter_learns_documents_by_their_passages, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_serving_model_judged_with_its_adapter, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_adapter_pass_remembered_unpromoted,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_model_adapter_roundtrip, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_model_v1_loads, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_suggest_uses_adapter, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
