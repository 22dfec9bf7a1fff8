/* Tests of feedback in the ranking (ranker/feedback.c and the feedback
 * term of suggest_score.c): the term's formula, pending inserts, and the
 * tally of a real store's feedback feed, rolled up to framing families
 * and caught up incrementally (nothing counted twice). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/sw_mem.h"
#include "ranker/feedback.h"
#include "ranker/hist.h"
#include "ranker/suggest.h"
#include "ranker/suggest_int.h"
#include "store/store.h"
#include "store/store_feedback.h"
#include "tests/ranker/rank_fixture.h"
#include "tests/testutil.h"

/* The feedback term: a rep's own verdict at full strength, the team's
 * pooled and shrunk; inserts are pending uses that only the popularity
 * mode ranks by; the other modes ignore feedback. */
static void test_feedback_score(void **state)
{
    struct rank_params p;
    struct rank_hitem fam = {0}, doc = {0};
    struct rank_sugg_fb fb;
    struct rank_score s;

    (void)state;
    rank_params_default(&p);
    fam.kind = 'f';
    doc.kind = 'c';
    memset(&fb, 0, sizeof(fb));
    fb.rep.n[RANK_FB_DISMISSED] = 1;
    fb.team.n[RANK_FB_DISMISSED] = 1;
    fb.pending = 2;
    memset(&s, 0, sizeof(s));
    rank__score_feedback(&p, &fam, &fb, RANK_MODE_OUTCOME, &s);
    assert_true(fabs(s.feedback - tanh(-1.0 - 1.0 / 11.0)) < 1e-12);
    assert_true(fabs(s.total - p.w_feedback * s.feedback) < 1e-12);
    memset(&s, 0, sizeof(s));
    rank__score_feedback(&p, &doc, &fb, RANK_MODE_OUTCOME, &s);
    assert_true(fabs(s.total - p.wc_feedback * s.feedback) < 1e-12);
    /* Another rep's view: the team's alone, shrunk by 10 pseudo-records;
     * a thumbs-down weighs two dismissals, a thumbs-up one against. */
    memset(&fb.rep, 0, sizeof(fb.rep));
    fb.team.n[RANK_FB_THUMBS_DOWN] = 3;
    fb.team.n[RANK_FB_THUMBS_UP] = 2;
    memset(&s, 0, sizeof(s));
    rank__score_feedback(&p, &fam, &fb, RANK_MODE_OUTCOME, &s);
    assert_true(fabs(s.feedback - tanh((2.0 - 1.0 - 6.0) / (10.0 + 9.0))) <
                1e-12);
    p.feedback_strength = 100.0;
    memset(&s, 0, sizeof(s));
    rank__score_feedback(&p, &fam, &fb, RANK_MODE_OUTCOME, &s);
    assert_true(fabs(s.feedback - tanh(-5.0 / 109.0)) < 1e-12);
    /* Inserts and shown records are no verdict. */
    memset(&fb, 0, sizeof(fb));
    fb.team.n[RANK_FB_INSERTED] = 7;
    fb.team.n[RANK_FB_COPIED] = 2;
    fb.team.n[RANK_FB_SHOWN] = 9;
    fb.pending = 3;
    memset(&s, 0, sizeof(s));
    rank__score_feedback(&p, &fam, &fb, RANK_MODE_OUTCOME, &s);
    assert_true(s.feedback == 0.0 && s.total == 0.0);
    rank__score_feedback(&p, &fam, &fb, RANK_MODE_POPULARITY, &s);
    assert_true(s.total == 3.0);
    fb.rep.n[RANK_FB_THUMBS_DOWN] = 4;
    memset(&s, 0, sizeof(s));
    rank__score_feedback(&p, &fam, &fb, RANK_MODE_SIMILARITY, &s);
    rank__score_feedback(&p, &fam, &fb, RANK_MODE_RANDOM, &s);
    assert_true(s.feedback == 0.0 && s.total == 0.0);
}

/* Pending inserts: newer than the item's latest use and than the horizon,
 * newest first, at most RANK_FB_TIMES kept. */
static void test_feedback_pending(void **state)
{
    struct rank_fb_entry e;

    (void)state;
    memset(&e, 0, sizeof(e));
    e.nins = 4;
    e.ins_ms[0] = 90;
    e.ins_ms[1] = 70;
    e.ins_ms[2] = 50;
    e.ins_ms[3] = 10;
    assert_int_equal(rank_fb_pending(&e, 60, 0), 2);
    assert_int_equal(rank_fb_pending(&e, 70, 0), 1); /* sent with that use */
    assert_int_equal(rank_fb_pending(&e, 0, 0), 4);
    assert_int_equal(rank_fb_pending(&e, 0, 60), 2);
    assert_int_equal(rank_fb_pending(NULL, 0, 0), 0);
}

struct fb_rec {
    int kind;
    const char *snippet; /* a framing's snippet id */
    const char *rep;
    int64_t day;
    const char *key;
};

static sw_err fx_feedback(store_txn *t, void *arg)
{
    const struct fb_rec *r;
    sw_err rc = SW_OK;

    for (r = arg; rc == SW_OK && r->key; r++) {
        struct store_feedback f;
        char *id = NULL;
        int dup = 0;
        memset(&f, 0, sizeof(f));
        f.suggestion_id = "sg_test";
        f.item_id = "sg_test.f.x";
        f.target_kind = 'f';
        f.target_id = (char *)r->snippet;
        f.kind = r->kind;
        f.rep_email = (char *)r->rep;
        f.time_ms = f.record_ms = r->day * DAYMS;
        f.idem_key = (char *)r->key;
        rc = store_feedback_put(t, TEAM, &f, &dup, &id);
        sw_free(id);
    }
    return rc;
}

struct fb_arg {
    rank_fbraw *raw;
};

static sw_err fx_catch_up(store_txn *t, void *arg)
{
    struct fb_arg *a = arg;

    return rank_fbraw_catch_up(a->raw, t, TEAM);
}

/* Feedback on two snippets of one family (SOLID's threads 3 and 4 of
 * fx_fill) rolls up to the family, per rep without case and for the
 * team; a snippet the statistics do not know stays apart; a catch-up
 * reads only what is new, so nothing counts twice. */
static void test_feedback_tally(void **state)
{
    static const struct fb_rec first[] = {
        {RANK_FB_DISMISSED, "snip_0000000300000000", "Ann@X", 60, "f1"},
        {RANK_FB_THUMBS_DOWN, "snip_0000000400000000", "b@x", 61, "f2"},
        {RANK_FB_INSERTED, "snip_0000000300000000", "ann@x", 62, "f3"},
        {RANK_FB_COPIED, "snip_0000000400000000", "ann@x", 20, "f4"},
        {RANK_FB_DISMISSED, "snip_ffffffff00000000", "ann@x", 63, "f5"},
        {0, NULL, NULL, 0, NULL},
    };
    static const struct fb_rec more[] = {
        {RANK_FB_THUMBS_UP, "snip_0000000400000000", "c@x", 64, "f6"},
        {0, NULL, NULL, 0, NULL},
    };
    struct fixture *f = *state;
    struct hist_arg h = {NULL};
    struct fb_arg a = {NULL};
    const struct rank_hitem *solid, *weak;
    /* The unknown snippet's entry is under its own id. */
    struct rank_hitem unknown = {0};
    const struct rank_fb_entry *team, *ann, *b, *c;
    struct rank_fb *fb = NULL;

    ASSERT_OK(store_update(f->s, fx_fill, NULL));
    ASSERT_OK(store_view(f->s, fx_build, &h));
    solid = fx_item(h.h, SOLID);
    weak = fx_item(h.h, WEAK);
    ASSERT_OK(rank_fbraw_new(&a.raw));
    ASSERT_OK(store_view(f->s, fx_catch_up, &a));
    assert_int_equal(rank_fbraw_seq(a.raw), 0);
    ASSERT_OK(store_update(f->s, fx_feedback, (void *)first));
    ASSERT_OK(store_view(f->s, fx_catch_up, &a));
    assert_int_equal(rank_fbraw_seq(a.raw), 5);
    ASSERT_OK(store_view(f->s, fx_catch_up, &a)); /* nothing new */
    ASSERT_OK(rank_fb_build(a.raw, h.h, &fb));
    assert_int_equal(fb->seq, 5);
    assert_true(fb->now_ms == 63 * DAYMS);
    team = rank_fb_get(fb, solid, NULL);
    ann = rank_fb_get(fb, solid, "ANN@x");
    b = rank_fb_get(fb, solid, "b@x");
    assert_non_null(team);
    assert_non_null(ann);
    assert_non_null(b);
    assert_int_equal(team->c.n[RANK_FB_DISMISSED], 1);
    assert_int_equal(team->c.n[RANK_FB_THUMBS_DOWN], 1);
    assert_int_equal(team->c.n[RANK_FB_INSERTED], 1);
    assert_int_equal(team->c.n[RANK_FB_COPIED], 1);
    assert_int_equal(ann->c.n[RANK_FB_DISMISSED], 1);
    assert_int_equal(ann->c.n[RANK_FB_THUMBS_DOWN], 0);
    assert_int_equal(b->c.n[RANK_FB_THUMBS_DOWN], 1);
    assert_int_equal(b->c.n[RANK_FB_DISMISSED], 0);
    /* SOLID's last use is on day 50: the day-62 insert is pending, the
     * day-20 copy went out with an earlier mail. */
    assert_true(solid->ev.last_ms == 50 * DAYMS);
    assert_int_equal(rank_fb_pending(team, solid->ev.last_ms, 0), 1);
    assert_null(rank_fb_get(fb, weak, NULL));
    assert_null(rank_fb_get(fb, solid, "nobody@x"));
    unknown.kind = 'f';
    unknown.id = "snip_ffffffff00000000";
    assert_non_null(rank_fb_get(fb, &unknown, NULL));
    assert_int_equal(rank_fb_get(fb, &unknown, NULL)->c.n[RANK_FB_DISMISSED],
                     1);
    rank_fb_free(&fb);
    /* Without statistics every target stays under its own id. */
    ASSERT_OK(rank_fb_build(a.raw, NULL, &fb));
    assert_null(rank_fb_get(fb, solid, NULL));
    assert_int_equal(fb->n, 3 + 2 + 2); /* (target, team or rep) pairs */
    rank_fb_free(&fb);
    /* One more record: only it is read. */
    ASSERT_OK(store_update(f->s, fx_feedback, (void *)more));
    ASSERT_OK(store_view(f->s, fx_catch_up, &a));
    assert_int_equal(rank_fbraw_seq(a.raw), 6);
    ASSERT_OK(rank_fb_build(a.raw, h.h, &fb));
    team = rank_fb_get(fb, solid, NULL);
    c = rank_fb_get(fb, solid, "c@x");
    assert_int_equal(team->c.n[RANK_FB_DISMISSED], 1);
    assert_int_equal(team->c.n[RANK_FB_THUMBS_UP], 1);
    assert_int_equal(c->c.n[RANK_FB_THUMBS_UP], 1);
    assert_int_equal(rank_fb_get(fb, &unknown, NULL)->c.n[RANK_FB_DISMISSED],
                     1);
    rank_fb_free(&fb);
    rank_fbraw_free(&a.raw);
    rank_hist_free(&h.h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feedback_score),
        cmocka_unit_test(test_feedback_pending),
        cmocka_unit_test_setup_teardown(test_feedback_tally, fx_setup,
                                        fx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
