/* Tests of statistics kept in a file between runs (ranker/hist_file.c,
 * issue 13): a full build and a delta saved and loaded back are the same
 * statistics to the byte, a loaded history counts later outcomes as the
 * built one does, and a file that is damaged (any byte), cut short, of
 * another team, or whose records point outside their arrays is refused
 * with SW_ECORRUPT, never read. And a started engine with such a file:
 * it restarts from it, drops it when stale, and (statistics whose
 * deltas grew long) asks for a full build after many outcomes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/sw_mem.h"
#include "ranker/engine.h"
#include "ranker/hist.h"
#include "ranker/hist_file.h"
#include "ranker/index.h"
#include "store/store.h"
#include "store/store_erase.h"
#include "store/store_mail.h"
#include "tests/ranker/rank_fixture.h"
#include "tests/testutil.h"

struct view_arg {
    const struct rank_hist *base;
    struct rank_hist *h;
    sw_err rc;
};

static sw_err build_view(store_txn *t, void *arg)
{
    struct view_arg *a = arg;

    return rank_hist_build(t, TEAM, NULL, 0, &a->h);
}

static sw_err delta_view(store_txn *t, void *arg)
{
    struct view_arg *a = arg;

    a->rc = rank_hist_delta(t, TEAM, NULL, a->base, &a->h);
    return SW_OK;
}

static struct rank_hist *build(store *s)
{
    struct view_arg a = {NULL, NULL, SW_OK};

    ASSERT_OK(store_view(s, build_view, &a));
    return a.h;
}

static struct rank_hist *delta(store *s, const struct rank_hist *base)
{
    struct view_arg a = {base, NULL, SW_OK};

    ASSERT_OK(store_view(s, delta_view, &a));
    ASSERT_OK(a.rc);
    return a.h;
}

static sw_err more_outcomes(store_txn *t, void *arg)
{
    sw_err rc;

    (void)arg;
    rc = fx_outcome(t, 1, 1, 5, "f1"); /* LUCKY's thread: a meeting */
    if (rc == SW_OK)
        rc = fx_outcome(t, 300, 4, 30, "f2"); /* a WEAK thread turns */
    return rc;
}

/* fx_fill's threads 1..6 also went to prospects at two companies (the
 * accounts, whose records are strings too). */
static sw_err accounts_fill(store_txn *t, void *arg)
{
    char eid[40], tid[40], mid[40];
    struct fx_mail m;
    int n;
    sw_err rc = SW_OK;

    (void)arg;
    for (n = 1; rc == SW_OK && n <= 6; n++) {
        snprintf(eid, sizeof(eid), "em_acct%08x", n);
        snprintf(tid, sizeof(tid), "th_%016x", n);
        snprintf(mid, sizeof(mid), "acct%d@seller.example", n);
        memset(&m, 0, sizeof(m));
        m.eid = eid;
        m.tid = tid;
        m.mid = mid;
        m.direction = STORE_DIR_OUTBOUND;
        m.from = "a@seller.example";
        m.rep = "a@seller.example";
        m.to = n % 2 ? "buyer@acme.example" : "cto@globex.example";
        m.subject = "Following up";
        m.text = "Checking in on the pilot.";
        m.ms = (int64_t)n * DAYMS;
        rc = fx_email_full(t, &m);
    }
    return rc;
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    unsigned char *p;
    long n;

    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    n = ftell(fp);
    assert_true(n > 0);
    rewind(fp);
    p = malloc((size_t)n + 8);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return p;
}

static void write_file(const char *path, const unsigned char *p, size_t n)
{
    FILE *fp = fopen(path, "wb");

    assert_non_null(fp);
    assert_int_equal(fwrite(p, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

static void path_of(const struct fixture *f, const char *name, char *out)
{
    size_t n = strlen(f->dir);

    assert_true(n + 1 + strlen(name) < TEST_PATH_MAX);
    memcpy(out, f->dir, n);
    out[n] = '/';
    memcpy(out + n + 1, name, strlen(name) + 1);
}

/* The records' non-string bytes (padding included: both are copies of
 * one original) and their strings. */
#define SAME_RECS(a, b, field, n, ...)                                         \
    do {                                                                       \
        size_t i_;                                                             \
        for (i_ = 0; i_ < (a)->n; i_++) {                                      \
            __typeof__((a)->field[0]) x_ = (a)->field[i_],                     \
                                      y_ = (b)->field[i_];                     \
            char **xs_[] = {__VA_ARGS__}; /* of x_ */                          \
            size_t k_, off_;                                                   \
            for (k_ = 0; k_ < sizeof(xs_) / sizeof(xs_[0]); k_++) {            \
                off_ = (size_t)((char *)xs_[k_] - (char *)&x_);                \
                assert_string_equal(*xs_[k_], *(char **)((char *)&y_ + off_)); \
                *xs_[k_] = NULL;                                               \
                *(char **)((char *)&y_ + off_) = NULL;                         \
            }                                                                  \
            assert_memory_equal(&x_, &y_, sizeof(x_));                         \
        }                                                                      \
    } while (0)

#define SAME_ARR(a, b, field, n)                                               \
    do {                                                                       \
        if ((n) > 0)                                                           \
            assert_memory_equal((a)->field, (b)->field,                        \
                                (n) * sizeof(*(a)->field));                    \
    } while (0)

static void same_map(const struct rank__map *a, const struct rank__map *b)
{
    assert_int_equal(a->cap, b->cap);
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->has_zero, b->has_zero);
    assert_int_equal(a->zero_val, b->zero_val);
    if (a->cap) {
        assert_memory_equal(a->keys, b->keys, a->cap * sizeof(*a->keys));
        assert_memory_equal(a->vals, b->vals, a->cap * sizeof(*a->vals));
    }
}

/* identical fails unless b holds every field of a, to the byte. */
static void identical(const struct rank_hist *a, const struct rank_hist *b)
{
    size_t t1 = a->nthreads + 1, ne = a->email_lo[a->nthreads], ni = 0, i;

    fx_hist_same(a, b);
    assert_int_equal(a->nsnips, b->nsnips);
    assert_int_equal(a->nouts, b->nouts);
    assert_int_equal(a->nxouts, b->nxouts);
    assert_int_equal(a->nby_out, b->nby_out);
    assert_int_equal(a->cutoff_ms, b->cutoff_ms);
    assert_int_equal(a->team_pos, b->team_pos);
    assert_int_equal(a->use_n, b->use_n);
    assert_true(a->team_vsum == b->team_vsum && a->use_sum == b->use_sum &&
                a->use_sq == b->use_sq && a->use_sd == b->use_sd &&
                a->team_rate == b->team_rate && a->team_value == b->team_value);
    for (i = 0; i < ne; i++)
        if (a->emails[i].lo + a->emails[i].nf + a->emails[i].nc > ni)
            ni = a->emails[i].lo + a->emails[i].nf + a->emails[i].nc;
    SAME_RECS(a, b, snips, nsnips, &x_.id, &x_.text);
    SAME_RECS(a, b, items, nitems, &x_.id, &x_.title, &x_.key);
    SAME_RECS(a, b, threads, nthreads, &x_.id, &x_.context);
    SAME_RECS(a, b, accounts, naccounts, &x_.domain);
    SAME_ARR(a, b, uses, a->nuses);
    SAME_ARR(a, b, use_lo, t1);
    SAME_ARR(a, b, acct_ev, a->nacct_ev);
    SAME_ARR(a, b, acct_lo, a->naccounts + 1);
    SAME_ARR(a, b, emails, ne);
    SAME_ARR(a, b, email_lo, t1);
    SAME_ARR(a, b, email_items, ni);
    SAME_ARR(a, b, outs, a->nouts);
    SAME_ARR(a, b, out_lo, t1);
    SAME_ARR(a, b, xouts, a->nxouts);
    SAME_ARR(a, b, thr_acc, a->thr_acc_lo[a->nthreads]);
    SAME_ARR(a, b, thr_acc_lo, t1);
    SAME_ARR(a, b, by_out, a->nby_out);
    same_map(&a->by_thread, &b->by_thread);
    same_map(&a->by_label, &b->by_label);
    same_map(&a->by_item, &b->by_item);
    same_map(&a->by_account, &b->by_account);
    same_map(&a->own, &b->own);
}

static struct rank_hist *load(const char *path, uint64_t want_erase)
{
    struct rank_hist *h = NULL;
    uint64_t erase = 0;

    ASSERT_OK(rank_hist_load(path, TEAM, &h, &erase));
    assert_int_equal(erase, want_erase);
    assert_non_null(h);
    return h;
}

static void test_round_trip(void **state)
{
    struct fixture *f = *state;
    struct rank_hist *h, *back, *d, *dback, *d2;
    char path[TEST_PATH_MAX];

    ASSERT_OK(store_update(f->s, fx_fill, NULL));
    ASSERT_OK(store_update(f->s, accounts_fill, NULL));
    h = build(f->s);
    assert_true(h->nthreads > 100 && h->naccounts > 0 && h->nuses > 0);
    path_of(f, "stats", path);
    ASSERT_OK(rank_hist_save(h, TEAM, 7, path));
    back = load(path, 7);
    identical(h, back);
    assert_null(back->root);

    /* The loaded statistics count later outcomes as the built ones do. */
    ASSERT_OK(store_update(f->s, more_outcomes, NULL));
    d = delta(f->s, h);
    d2 = delta(f->s, back);
    rank_hist_free(&back); /* the delta keeps its root, and the mapping */
    identical(d, d2);
    assert_int_equal(fx_item(d2, LUCKY)->ev.meetings, 1);

    /* A delta (outcomes since its root) saved over the file. */
    ASSERT_OK(rank_hist_save(d, TEAM, 8, path));
    dback = load(path, 8);
    identical(d, dback);
    assert_true(dback->nxouts == 2);
    rank_hist_free(&dback);
    rank_hist_free(&d2);
    rank_hist_free(&d);
    rank_hist_free(&h);
}

static void test_refused(void **state)
{
    struct fixture *f = *state;
    struct rank_hist *h, *x = NULL;
    char path[TEST_PATH_MAX], bad[TEST_PATH_MAX];
    unsigned char *img;
    size_t len, i;
    uint64_t erase = 0;

    ASSERT_OK(store_update(f->s, fx_fill, NULL));
    h = build(f->s);
    path_of(f, "stats", path);
    path_of(f, "bad", bad);
    assert_int_equal(rank_hist_load(path, TEAM, &x, &erase), SW_ENOTFOUND);
    ASSERT_OK(rank_hist_save(h, TEAM, 0, path));
    assert_int_equal(rank_hist_load(path, "team_0000000000000002", &x, &erase),
                     SW_ECORRUPT);
    assert_null(x);
    {
        struct rank_hist cut = *h;
        cut.cutoff_ms = 5; /* a training split is not saved */
        assert_int_equal(rank_hist_save(&cut, TEAM, 0, bad), SW_EINVAL);
    }
    img = read_file(path, &len);
    assert_true(len > 4096);
    /* Any byte changed, anywhere: the header's fields, the sections, the
     * strings at the end. */
    for (i = 0; i < len; i += 1 + len / 97) {
        size_t at = i == 0 ? len - 1 : i;
        img[at] ^= 0x41;
        write_file(bad, img, len);
        if (rank_hist_load(bad, TEAM, &x, &erase) != SW_ECORRUPT)
            fail_msg("byte %zu of %zu changed: not refused", at, len);
        assert_null(x);
        img[at] ^= 0x41;
    }
    /* Cut short, or longer. */
    write_file(bad, img, len - 8);
    assert_int_equal(rank_hist_load(bad, TEAM, &x, &erase), SW_ECORRUPT);
    write_file(bad, img, 100);
    assert_int_equal(rank_hist_load(bad, TEAM, &x, &erase), SW_ECORRUPT);
    memset(img + len, 0, 8);
    write_file(bad, img, len + 8);
    assert_int_equal(rank_hist_load(bad, TEAM, &x, &erase), SW_ECORRUPT);
    /* The original still loads. */
    write_file(bad, img, len);
    ASSERT_OK(rank_hist_load(bad, TEAM, &x, &erase));
    rank_hist_free(&x);
    free(img);

    /* Well-formed files (their checksum right) whose records point
     * outside their arrays. */
    {
        uint32_t item = h->uses[0].item, lo = h->use_lo[1], th = 0;
        uint64_t v;
        size_t slot;

        h->uses[0].item = (uint32_t)h->nitems;
        ASSERT_OK(rank_hist_save(h, TEAM, 0, bad));
        assert_int_equal(rank_hist_load(bad, TEAM, &x, &erase), SW_ECORRUPT);
        h->uses[0].item = item;

        h->use_lo[1] = (uint32_t)h->nuses + 1;
        ASSERT_OK(rank_hist_save(h, TEAM, 0, bad));
        assert_int_equal(rank_hist_load(bad, TEAM, &x, &erase), SW_ECORRUPT);
        h->use_lo[1] = lo;

        for (slot = 0; h->by_thread.keys[slot] == 0; slot++)
            ;
        v = h->by_thread.vals[slot];
        h->by_thread.vals[slot] = h->nthreads;
        ASSERT_OK(rank_hist_save(h, TEAM, 0, bad));
        assert_int_equal(rank_hist_load(bad, TEAM, &x, &erase), SW_ECORRUPT);
        h->by_thread.vals[slot] = v;

        /* An email's item its thread has no use of. */
        while (h->email_lo[th] == h->email_lo[th + 1] ||
               h->emails[h->email_lo[th]].nf == 0)
            th++;
        item = h->email_items[h->emails[h->email_lo[th]].lo];
        h->email_items[h->emails[h->email_lo[th]].lo] =
            h->uses[h->use_lo[th]].item == 0 ? 1 : 0;
        assert_int_equal(h->use_lo[th + 1] - h->use_lo[th], 1);
        ASSERT_OK(rank_hist_save(h, TEAM, 0, bad));
        assert_int_equal(rank_hist_load(bad, TEAM, &x, &erase), SW_ECORRUPT);
        h->email_items[h->emails[h->email_lo[th]].lo] = item;

        /* The same history again: accepted. */
        ASSERT_OK(rank_hist_save(h, TEAM, 0, bad));
        ASSERT_OK(rank_hist_load(bad, TEAM, &x, &erase));
        rank_hist_free(&x);
    }
    rank_hist_free(&h);
}

/* --- the engine: saved after a build, loaded after a restart ---------- */

struct eng {
    struct hold h;
    rank_ranker *r;
    rank_engine *e;
    char dir[TEST_PATH_MAX];
};

/* eng_open starts an engine over f's store that keeps its statistics in
 * f's directory, every full build saved, full builds held while armed. */
static void eng_open_every(struct fixture *f, int armed, int64_t save_ms,
                           struct eng *x)
{
    int caught = 0;

    memset(&x->h, 0, sizeof(x->h));
    pthread_mutex_init(&x->h.mu, NULL);
    pthread_cond_init(&x->h.cond, NULL);
    x->h.armed = armed;
    path_of(f, "stats", x->dir);
    ASSERT_OK(rank_ranker_open(f->s, NULL, &x->r));
    ASSERT_OK(rank_ranker_sync(x->r, TEAM, 0, &caught));
    ASSERT_OK(rank_engine_open(f->s, x->r, NULL, &x->e));
    ASSERT_OK(rank_engine_set_stats_dir(x->e, x->dir, save_ms));
    rank_engine_set_build_hook(x->e, hold_hook, &x->h);
    ASSERT_OK(rank_engine_start(x->e, 20));
}

static void eng_open(struct fixture *f, int armed, struct eng *x)
{
    eng_open_every(f, armed, 0, x);
}

static void eng_close(struct eng *x)
{
    hold_release(&x->h);
    rank_engine_close(&x->e);
    rank_ranker_close(&x->r);
    pthread_cond_destroy(&x->h.cond);
    pthread_mutex_destroy(&x->h.mu);
}

/* eng_fresh polls (bounded: 30 s, a failure, not a timing) until the
 * engine's statistics are ready (current too if want_current). */
static struct rank_fresh eng_fresh(rank_engine *e, int want_current)
{
    struct rank_fresh fr;
    int i;

    for (i = 0; i < 3000; i++) {
        ASSERT_OK(rank_engine_freshness(e, TEAM, &fr));
        if (fr.ready && (fr.current || !want_current))
            return fr;
        usleep(10000);
    }
    fail_msg("the engine's statistics never became ready");
    return fr;
}

static int file_exists(const char *dir)
{
    char p[TEST_PATH_MAX + 64];

    snprintf(p, sizeof(p), "%s/%s.stats", dir, TEAM);
    return access(p, F_OK) == 0;
}

static void wait_file(const char *dir)
{
    int i;

    for (i = 0; i < 3000 && !file_exists(dir); i++)
        usleep(10000);
    assert_true(file_exists(dir));
}

static int held(struct hold *h)
{
    int v;

    pthread_mutex_lock(&h->mu);
    v = h->entered;
    pthread_mutex_unlock(&h->mu);
    return v;
}

static sw_err new_thread(store_txn *t, void *arg)
{
    struct tspec sp;

    (void)arg;
    memset(&sp, 0, sizeof(sp));
    sp.n = 950;
    sp.rep = "b@x";
    sp.day = 60;
    sp.frames[0] = SOLID;
    sp.kinds[0] = 4;
    sp.after[0] = 1;
    return fx_thread(t, &sp);
}

static sw_err new_domain_thread(store_txn *t, void *arg)
{
    struct tspec sp;

    (void)arg;
    memset(&sp, 0, sizeof(sp));
    sp.n = 951;
    sp.rep = "a@newco.example";
    sp.day = 61;
    sp.frames[0] = WEAK;
    sp.kinds[0] = 4;
    sp.after[0] = 1;
    return fx_thread(t, &sp);
}

/* After a restart the engine answers from the statistics it saved, with
 * every full build held: ready and current at once when the store has
 * not moved, and a later outcome counts into them; when mail came
 * meanwhile they serve (not current) until the full build is let go. */
static void test_engine_restarts_from_its_file(void **state)
{
    struct fixture *f = *state;
    struct rank_fresh fr;
    struct eng x;
    int64_t before;
    int i;

    ASSERT_OK(store_update(f->s, fx_fill, NULL));
    eng_open(f, 0, &x);
    eng_fresh(x.e, 1);
    wait_file(x.dir);
    before = fx_thread_outcomes(x.e, 1);
    assert_true(before >= 1);
    eng_close(&x);

    /* The same store: no full build at all. */
    eng_open(f, 1, &x);
    fr = eng_fresh(x.e, 1);
    assert_true(fr.ready && fr.current);
    assert_int_equal(fx_thread_outcomes(x.e, 1), before);
    ASSERT_OK(store_update(f->s, more_outcomes, NULL)); /* thread 1 too */
    rank_engine_kick(x.e);
    for (i = 0; i < 3000 && fx_thread_outcomes(x.e, 1) != before + 1; i++)
        usleep(10000);
    assert_int_equal(fx_thread_outcomes(x.e, 1), before + 1);
    assert_false(held(&x.h));
    eng_close(&x);

    /* Mail while it was down: counted from the file by following the
     * feeds, still without a full build. */
    ASSERT_OK(store_update(f->s, new_thread, NULL));
    eng_open(f, 1, &x);
    for (i = 0; i < 3000 && fx_thread_outcomes(x.e, 950) != 1; i++)
        usleep(10000);
    assert_int_equal(fx_thread_outcomes(x.e, 950), 1);
    assert_int_equal(fx_thread_outcomes(x.e, 1), before + 1);
    assert_false(held(&x.h));
    eng_close(&x);

    /* Mail only a full build can count (from a domain the team had not
     * sent from): the file serves until the build is done. */
    ASSERT_OK(store_update(f->s, new_domain_thread, NULL));
    eng_open(f, 1, &x);
    fr = eng_fresh(x.e, 0);
    assert_false(fr.current);
    assert_int_equal(fx_thread_outcomes(x.e, 950), 1);
    assert_int_equal(fx_thread_outcomes(x.e, 951), -1);
    assert_true(hold_wait(&x.h, &x.h.entered));
    hold_release(&x.h);
    eng_fresh(x.e, 1);
    assert_int_equal(fx_thread_outcomes(x.e, 951), 1);
    eng_close(&x);
}

/* A file older than an erasure (it may hold the erased mail) or damaged
 * is removed, never served: with full builds held, nothing is ready. */
static void test_engine_drops_stale_files(void **state)
{
    struct fixture *f = *state;
    struct store_erase_counts ec;
    struct rank_fresh fr;
    struct eng x;
    char tid[32], p[TEST_PATH_MAX + 64];
    FILE *fp;
    int i;

    ASSERT_OK(store_update(f->s, fx_fill, NULL));
    eng_open(f, 0, &x);
    eng_fresh(x.e, 1);
    wait_file(x.dir);
    eng_close(&x);

    snprintf(tid, sizeof(tid), "th_%016x", 2);
    memset(&ec, 0, sizeof(ec));
    ASSERT_OK(
        store_thread_erase(f->s, TEAM, tid, STORE_ERASE_KEEP_CONTENT, &ec));
    store_erase_counts_clear(&ec);
    eng_open(f, 1, &x);
    /* (The fixture's team record is bare: the engine learns of the team
     * from a read, not from the warm-up's list.) */
    ASSERT_OK(rank_engine_freshness(x.e, TEAM, &fr));
    assert_true(hold_wait(&x.h, &x.h.entered)); /* a full build is due */
    ASSERT_OK(rank_engine_freshness(x.e, TEAM, &fr));
    assert_false(fr.ready);
    assert_false(file_exists(x.dir));
    hold_release(&x.h);
    eng_fresh(x.e, 1);
    assert_int_equal(fx_thread_outcomes(x.e, 2), -1);
    wait_file(x.dir); /* saved again, without it */
    eng_close(&x);

    /* Damaged: a byte changed in the middle. */
    snprintf(p, sizeof(p), "%s/%s.stats", x.dir, TEAM);
    fp = fopen(p, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 4096, SEEK_SET), 0);
    i = fgetc(fp);
    assert_int_equal(fseek(fp, 4096, SEEK_SET), 0);
    fputc(i ^ 0x5a, fp);
    fclose(fp);
    eng_open(f, 1, &x);
    ASSERT_OK(rank_engine_freshness(x.e, TEAM, &fr));
    assert_true(hold_wait(&x.h, &x.h.entered));
    ASSERT_OK(rank_engine_freshness(x.e, TEAM, &fr));
    assert_false(fr.ready);
    assert_false(file_exists(x.dir));
    eng_close(&x);
}

/* An engine that saves at most once an hour still saves, as it closes,
 * the statistics it published since (here, with an outcome counted):
 * the file after the close counts it. */
static void test_engine_saves_as_it_closes(void **state)
{
    struct fixture *f = *state;
    struct rank_hist *h;
    char path[TEST_PATH_MAX + 64];
    struct eng x;
    int64_t before;
    long th;
    int i;

    ASSERT_OK(store_update(f->s, fx_fill, NULL));
    eng_open_every(f, 0, 3600 * 1000, &x);
    eng_fresh(x.e, 1);
    wait_file(x.dir); /* the first build is saved */
    before = fx_thread_outcomes(x.e, 1);
    ASSERT_OK(store_update(f->s, more_outcomes, NULL));
    rank_engine_kick(x.e);
    for (i = 0; i < 3000 && fx_thread_outcomes(x.e, 1) != before + 1; i++)
        usleep(10000);
    assert_int_equal(fx_thread_outcomes(x.e, 1), before + 1);
    eng_close(&x);

    snprintf(path, sizeof(path), "%s/%s.stats", x.dir, TEAM);
    h = load(path, 0);
    th = rank_hist_thread(h, "th_0000000000000001");
    assert_true(th >= 0);
    assert_int_equal(h->threads[th].n_outcomes, before + 1);
    rank_hist_free(&h);
}

/* A team record without an id (the fixture's bare one) is no team: the
 * warm-up builds nothing for it (it used to fail a build every second,
 * and the builds held here would have entered the hook). */
static void test_engine_skips_a_team_without_an_id(void **state)
{
    struct fixture *f = *state;
    struct rank_fresh fr;
    struct eng x;
    int i;

    eng_open(f, 1, &x);
    assert_int_equal(rank_engine_freshness(x.e, "", &fr), SW_EINVAL);
    for (i = 0; i < 200 && !held(&x.h); i++) {
        rank_engine_kick(x.e);
        usleep(10000);
    }
    assert_false(held(&x.h));
    eng_close(&x);
}

static sw_err many_outcomes(store_txn *t, void *arg)
{
    char key[32];
    int i;
    sw_err rc = SW_OK;

    (void)arg;
    for (i = 0; rc == SW_OK && i < RANK_XOUTS_MAX + 100; i++) {
        snprintf(key, sizeof(key), "many-%d", i);
        rc = fx_outcome(t, 1, 5, 6, key); /* neutral replies */
    }
    return rc;
}

/* A long run of outcomes with no mail: each is counted at once (a
 * delta), and once those counted since the last full build pass
 * RANK_XOUTS_MAX the engine asks for a full build although no mail came
 * (the deltas would copy them ever more). */
static void test_engine_rebuilds_after_many_outcomes(void **state)
{
    struct fixture *f = *state;
    struct eng x;
    int64_t before;
    int i;

    ASSERT_OK(store_update(f->s, fx_fill, NULL));
    eng_open(f, 0, &x);
    eng_fresh(x.e, 1);
    before = fx_thread_outcomes(x.e, 1);
    hold_arm(&x.h);
    ASSERT_OK(store_update(f->s, many_outcomes, NULL));
    rank_engine_kick(x.e);
    for (i = 0; i < 3000 &&
                fx_thread_outcomes(x.e, 1) != before + RANK_XOUTS_MAX + 100;
         i++)
        usleep(10000);
    assert_int_equal(fx_thread_outcomes(x.e, 1), before + RANK_XOUTS_MAX + 100);
    assert_true(hold_wait(&x.h, &x.h.entered)); /* no mail, yet a build */
    hold_release(&x.h);
    eng_fresh(x.e, 1);
    assert_int_equal(fx_thread_outcomes(x.e, 1), before + RANK_XOUTS_MAX + 100);
    eng_close(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_refused, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_engine_restarts_from_its_file,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_engine_drops_stale_files, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_engine_rebuilds_after_many_outcomes, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_engine_saves_as_it_closes,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_engine_skips_a_team_without_an_id,
                                        fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
