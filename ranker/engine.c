/* engine: per-team state of the ranking engine (see engine.h): the
 * published statistics, serving model and their link, reference-counted;
 * the background publisher that rebuilds them as the store moves on; and
 * the inline builds of an engine that was never started. */
#include "ranker/engine.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/sw_buf.h"
#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ranker/hist_file.h"
#include "ranker/model.h"
#include "ranker/suggest.h"
#include "ranker/suggest_int.h"
#include "store/store_erase.h"
#include "store/store_feedback.h"
#include "store/store_hist.h"
#include "store/store_tenant.h"

#define RANK_ENGINE_POLL_MS 200
#define RANK_ENGINE_RETRY_MS 1000 /* after a failed build */
/* A team's builds take at most 1 / RANK_ENGINE_DUTY of a core: after a
 * full build of d ms the next waits (RANK_ENGINE_DUTY - 1) × d, so that a
 * team whose mail never stops leaves the CPUs to Suggest; new mail thus
 * counts within about RANK_ENGINE_DUTY builds' time plus a poll. New
 * outcomes, feedback and models count meanwhile, each pass of d ms that
 * counts them followed by a rest of (RANK_ENGINE_DUTY - 1) × d too: in
 * about RANK_ENGINE_DUTY passes' time (milliseconds to a second) plus a
 * poll, except while a full build of the team runs. */
#define RANK_ENGINE_DUTY 4
/* New mail is counted by following the feeds (rank_hist_follow), which
 * cannot join a new framing to a family by meaning: a full build, in the
 * background, at most this long after the last one once mail came. */
#define RANK_ENGINE_FULL_EVERY_MS (10 * 60 * 1000)

struct rank_tcache {
    char *team;
    pthread_mutex_t build; /* one build per team at a time */
    /* The published state. Each piece carries its key (rank_cref.key):
     * the statistics the store sequences, the model its seq, the link of
     * the two the statistics' generation and the model's seq, the
     * feedback tally the feed's seq and the statistics' generation. Under
     * e->mu; a started engine swaps them together. */
    struct rank_state pub;
    uint64_t gens;               /* statistics built so far */
    int reranking;               /* a RunRerank of this team is running */
    int64_t stale_since_ms;      /* first seen stale (sw_mono_ms); 0: current */
    int64_t retry_after_ms;      /* a failed build waits until then */
    int64_t rest_until_ms;       /* no full build before (RANK_ENGINE_DUTY;
                                    the builder's, under e->mu) */
    int64_t delta_rest_until_ms; /* no publisher's pass before: the same
                                    for its passes (publisher only) */
    int follow_refused; /* since the last full build, new mail could not
                           be followed (rank_hist_follow); under e->mu */
    int64_t full_at_ms; /* when the last full build started (sw_mono_ms);
                           under e->mu */
    /* The builder's (rank_builder_thread), under e->mu: */
    int want_full;            /* the publisher asks for a full build */
    int want_follow;          /* or for new mail followed (rank_hist_follow) */
    int building;             /* the builder is at it */
    struct rank_cref *built;  /* finished, for the publisher to adopt */
    int64_t built_started_ms; /* when the build of built started */
    struct rank_sigs *sigs;   /* the families' signatures: the builder's
                                 (started), else under build */
    rank_fbraw *fbraw;        /* the feedback feed's tally; under build */
    /* Statistics on disk (rank_engine_set_stats_dir): */
    int load_tried;        /* the publisher looked for the team's file */
    int64_t saved_ms;      /* last saved (sw_mono_ms; 0: never); builder's */
    uint64_t saved_erase;  /* the erasure sequence then */
    uint64_t saved_key[3]; /* the sequences of what was saved or loaded */
    struct rank_tcache *next;
};

struct rank_engine {
    store *s;
    rank_ranker *r;
    struct rank_params p;
    pthread_mutex_t mu;   /* the list, the refs, the published pointers */
    pthread_cond_t cond;  /* the publisher's wake-ups */
    pthread_cond_t bcond; /* the builder's: a full build asked for */
    struct rank_tcache *teams;
    pthread_t thread;  /* the publisher */
    pthread_t builder; /* full builds of statistics */
    int started, stop, kicked;
    int64_t poll_ms;
    rank_engine_hook hook;
    void *hook_arg;
    char *stats_dir;       /* teams' statistics on disk; NULL: none */
    int64_t stats_save_ms; /* at most one save per team this often */
    int no_follow;         /* new mail by full builds only */
    unsigned char secret[RANK_SID_SECRET_LEN]; /* of the ids (suggest.h) */
};

void rank__cref_put(rank_engine *e, struct rank_cref **cp)
{
    struct rank_cref *c = *cp;
    int last;

    *cp = NULL;
    if (c == NULL)
        return;
    pthread_mutex_lock(&e->mu);
    assert(c->refs > 0);
    last = --c->refs == 0;
    pthread_mutex_unlock(&e->mu);
    if (!last)
        return;
    rank_hist_free(&c->h);
    rank_model_free(&c->m);
    rank__link_free(&c->l);
    rank_fb_free(&c->fb);
    sw_free(c);
}

void rank__state_put(rank_engine *e, struct rank_state *st)
{
    rank__cref_put(e, &st->hist);
    rank__cref_put(e, &st->model);
    rank__cref_put(e, &st->link);
    rank__cref_put(e, &st->fb);
}

/* rank_cref_ref returns a new reference to c (NULL accepted). e->mu
 * held. */
static struct rank_cref *rank_cref_ref(struct rank_cref *c)
{
    if (c)
        c->refs++;
    return c;
}

sw_err rank_engine_open(store *s, rank_ranker *r, const struct rank_params *p,
                        rank_engine **out)
{
    pthread_condattr_t ca;
    rank_engine *e;
    sw_err rc;

    if (s == NULL || r == NULL || out == NULL)
        return SW_EINVAL;
    rank_blas_init();
    e = sw_calloc(1, sizeof(*e));
    if (e == NULL)
        return SW_ENOMEM;
    /* Loaded once, so that Suggest and RecordFeedback never read it. */
    rc = rank__sid_secret(s, e->secret);
    if (rc) {
        sw_free(e);
        return rc;
    }
    e->s = s;
    e->r = r;
    if (p)
        e->p = *p;
    else
        rank_params_default(&e->p);
    pthread_mutex_init(&e->mu, NULL);
    /* The publisher waits on the monotonic clock, as the indexer does. */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&e->bcond, NULL);
    *out = e;
    return SW_OK;
}

static void rank_stats_save_all(rank_engine *e);

static void rank_tcache_clear(rank_engine *e, struct rank_tcache *t)
{
    struct rank_state old;

    pthread_mutex_lock(&e->mu);
    old = t->pub;
    memset(&t->pub, 0, sizeof(t->pub));
    pthread_mutex_unlock(&e->mu);
    rank__state_put(e, &old);
}

void rank_engine_close(rank_engine **ep)
{
    rank_engine *e;

    if (ep == NULL || *ep == NULL)
        return;
    e = *ep;
    if (e->started) {
        pthread_mutex_lock(&e->mu);
        e->stop = 1;
        pthread_cond_broadcast(&e->cond);
        pthread_cond_broadcast(&e->bcond);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->thread, NULL);
        pthread_join(e->builder, NULL);
        if (e->stats_dir)
            rank_stats_save_all(e);
    }
    while (e->teams) {
        struct rank_tcache *t = e->teams;
        e->teams = t->next;
        rank_tcache_clear(e, t);
        rank__cref_put(e, &t->built);
        rank_sigs_free(&t->sigs);
        rank_fbraw_free(&t->fbraw);
        pthread_mutex_destroy(&t->build);
        sw_free(t->team);
        sw_free(t);
    }
    pthread_cond_destroy(&e->cond);
    pthread_cond_destroy(&e->bcond);
    pthread_mutex_destroy(&e->mu);
    sw_free(e->stats_dir);
    sw_free(e);
    *ep = NULL;
}

static sw_err rank_tcache_get(rank_engine *e, const char *team,
                              struct rank_tcache **out)
{
    struct rank_tcache *t;

    if (team == NULL || team[0] == '\0')
        return SW_EINVAL; /* no team has that id: nothing to build */
    pthread_mutex_lock(&e->mu);
    for (t = e->teams; t && strcmp(t->team, team) != 0; t = t->next)
        ;
    if (t == NULL) {
        t = sw_calloc(1, sizeof(*t));
        if (t)
            t->team = sw_strdup(team);
        if (t == NULL || t->team == NULL) {
            if (t)
                sw_free(t);
            pthread_mutex_unlock(&e->mu);
            return SW_ENOMEM;
        }
        pthread_mutex_init(&t->build, NULL);
        t->next = e->teams;
        e->teams = t;
        pthread_cond_broadcast(&e->cond); /* a team for the publisher */
    }
    pthread_mutex_unlock(&e->mu);
    *out = t; /* entries live until the engine closes */
    return SW_OK;
}

sw_err rank_engine_rerank_begin(rank_engine *e, const char *team)
{
    struct rank_tcache *t;
    sw_err rc = rank_tcache_get(e, team, &t);

    if (rc)
        return rc;
    pthread_mutex_lock(&e->mu);
    if (t->reranking)
        rc = SW_EABORTED;
    else
        t->reranking = 1;
    pthread_mutex_unlock(&e->mu);
    return rc;
}

void rank_engine_rerank_end(rank_engine *e, const char *team)
{
    struct rank_tcache *t;

    if (rank_tcache_get(e, team, &t) != SW_OK)
        return;
    pthread_mutex_lock(&e->mu);
    t->reranking = 0;
    pthread_mutex_unlock(&e->mu);
    rank_engine_kick(e); /* a promoted model is to be loaded */
}

store *rank_engine_store(rank_engine *e)
{
    return e->s;
}

rank_ranker *rank_engine_ranker(rank_engine *e)
{
    return e->r;
}

const struct rank_params *rank_engine_params(const rank_engine *e)
{
    return &e->p;
}

void rank_engine_set_build_hook(rank_engine *e, rank_engine_hook hook,
                                void *arg)
{
    pthread_mutex_lock(&e->mu);
    e->hook = hook;
    e->hook_arg = arg;
    pthread_mutex_unlock(&e->mu);
}

sw_err rank_engine_set_stats_dir(rank_engine *e, const char *dir,
                                 int64_t save_every_ms)
{
    char *d = NULL;

    if (e == NULL || save_every_ms < 0)
        return SW_EINVAL;
    if (dir) {
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            sw_log_error("rank.stats_dir", "dir=%s errno=%d", dir, errno);
            return SW_EIO;
        }
        d = sw_strdup(dir);
        if (d == NULL)
            return SW_ENOMEM;
    }
    pthread_mutex_lock(&e->mu);
    if (e->started) {
        pthread_mutex_unlock(&e->mu);
        sw_free(d);
        return SW_ESTATE;
    }
    sw_free(e->stats_dir);
    e->stats_dir = d;
    e->stats_save_ms = save_every_ms;
    pthread_mutex_unlock(&e->mu);
    return SW_OK;
}

void rank_engine_kick(rank_engine *e)
{
    if (e == NULL)
        return;
    pthread_mutex_lock(&e->mu);
    e->kicked = 1;
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->mu);
}

/* --- builds ------------------------------------------------------------- */

/* What the store holds now for a team: the key of its statistics, its
 * serving model (0: none) and the newest feedback record's seq. */
struct rank_now {
    uint64_t seqs[3];
    uint64_t mseq;
    uint64_t fseq;
};

static sw_err rank_now_read(store_txn *t, const char *team, struct rank_now *n)
{
    sw_err rc = store_hist_seqs(t, team, n->seqs);

    if (rc == SW_OK)
        rc = store_seq_peek(t, team, STORE_FEEDBACK_SEQ, &n->fseq);
    if (rc == SW_OK) {
        rc = rank_model_serving(t, team, &n->mseq);
        if (rc == SW_ENOTFOUND) {
            n->mseq = 0;
            rc = SW_OK;
        }
    }
    return rc;
}

/* rank_cref_new makes an unpublished piece (one reference, the
 * caller's). */
static struct rank_cref *rank_cref_new(const uint64_t key[3])
{
    struct rank_cref *c = sw_calloc(1, sizeof(*c));

    if (c) {
        memcpy(c->key, key, sizeof(c->key));
        c->refs = 1;
    }
    return c;
}

/* rank_fb_key_of: the key of the feedback tally for now over the
 * statistics of generation gen. */
static void rank_fb_key_of(const struct rank_now *now, uint64_t gen,
                           uint64_t key[3])
{
    key[0] = now->fseq;
    key[1] = gen;
    key[2] = 0;
}

/* rank_build_fb builds into b the feedback tally for now over b's
 * statistics, catching tc's running tally up with the feed first.
 * tc->build held. */
static sw_err rank_build_fb(rank_engine *e, struct rank_tcache *tc,
                            store_txn *t, const struct rank_now *now,
                            struct rank_state *b)
{
    uint64_t fkey[3];
    sw_err rc;

    rank_fb_key_of(now, b->hist->gen, fkey);
    pthread_mutex_lock(&e->mu);
    if (tc->pub.fb && memcmp(tc->pub.fb->key, fkey, sizeof(fkey)) == 0)
        b->fb = rank_cref_ref(tc->pub.fb);
    pthread_mutex_unlock(&e->mu);
    if (b->fb)
        return SW_OK;
    b->fb = rank_cref_new(fkey);
    if (b->fb == NULL)
        return SW_ENOMEM;
    /* A feed behind the tally (the team deleted and made again, a store
     * restored): count it again from the start. */
    if (tc->fbraw && rank_fbraw_seq(tc->fbraw) > now->fseq)
        rank_fbraw_free(&tc->fbraw);
    if (tc->fbraw == NULL && (rc = rank_fbraw_new(&tc->fbraw)) != SW_OK)
        return rc;
    /* Only the records stored since the last catch-up are read. */
    if (rank_fbraw_seq(tc->fbraw) != now->fseq &&
        (rc = rank_fbraw_catch_up(tc->fbraw, t, tc->team)) != SW_OK)
        return rc;
    return rank_fb_build(tc->fbraw, b->hist->h, &b->fb->fb);
}

/* rank_build_full builds the team's statistics for now in full into a
 * new piece *out (tc->sigs: under tc->build, or the builder's). */
static sw_err rank_build_full(rank_engine *e, struct rank_tcache *tc,
                              store_txn *t, const struct rank_now *now,
                              struct rank_cref **out)
{
    sw_err rc;

    *out = rank_cref_new(now->seqs);
    if (*out == NULL)
        return SW_ENOMEM;
    (*out)->gen = __atomic_add_fetch(&tc->gens, 1, __ATOMIC_RELAXED);
    pthread_mutex_lock(&e->mu);
    tc->follow_refused = 0;
    tc->full_at_ms = sw_mono_ms();
    pthread_mutex_unlock(&e->mu);
    if (tc->sigs == NULL && rank_sigs_new(&tc->sigs) != SW_OK)
        tc->sigs = NULL; /* build without: slower, same result */
    rc = rank_hist_build_cached(t, tc->team, &e->p, 0, tc->sigs, &(*out)->h);
    if (rc)
        rank__cref_put(e, out);
    return rc;
}

/* rank_follows: how many follows of new mail h's statistics are since
 * the full build they come from. */
static int rank_follows(const struct rank_hist *h)
{
    return (h->root ? h->root : h)->follows;
}

/* rank_full_overdue: h counts mail by following since a full build that
 * is RANK_ENGINE_FULL_EVERY_MS old: the families want one. e->mu held. */
static int rank_full_overdue(const struct rank_tcache *tc,
                             const struct rank_hist *h)
{
    return rank_follows(h) > 0 &&
           sw_mono_ms() - tc->full_at_ms >= RANK_ENGINE_FULL_EVERY_MS;
}

void rank_engine_set_follow(rank_engine *e, int follow)
{
    e->no_follow = !follow;
}

/* rank_build_follow makes *out, base's statistics with the mail and
 * snippets since counted (rank_hist_follow), unless that was refused since
 * the last full build or, when full_ok, a full build is overdue. Returns
 * SW_ESTATE when it did not (noting a refusal). base stays the caller's. */
static sw_err rank_build_follow(rank_engine *e, struct rank_tcache *tc,
                                store_txn *t, const struct rank_now *now,
                                const struct rank_cref *base, int full_ok,
                                struct rank_cref **out)
{
    int may;
    sw_err rc;

    pthread_mutex_lock(&e->mu);
    may = !e->no_follow && !tc->follow_refused &&
          !(full_ok && rank_full_overdue(tc, base->h));
    pthread_mutex_unlock(&e->mu);
    if (!may)
        return SW_ESTATE;
    *out = rank_cref_new(now->seqs);
    if (*out == NULL)
        return SW_ENOMEM;
    (*out)->gen = __atomic_add_fetch(&tc->gens, 1, __ATOMIC_RELAXED);
    rc = rank_hist_follow(t, tc->team, &e->p, base->h, &(*out)->h);
    if (rc == SW_OK)
        return SW_OK;
    rank__cref_put(e, out);
    if (rc == SW_ESTATE) {
        pthread_mutex_lock(&e->mu);
        tc->follow_refused = 1;
        pthread_mutex_unlock(&e->mu);
        sw_log_info("rank.follow_refused", "team=%s", tc->team);
    }
    return rc;
}

/* rank_build_hist sets b->hist to statistics for now from base (a
 * reference, taken over; NULL: none): base itself when current; when
 * mail or snippets moved on and full_ok (an engine that builds inline),
 * base with them counted (rank_build_follow); when the outcome feed moved
 * on, base with the new outcomes counted (rank_hist_delta; its mail and
 * snippets stay base's: a started engine's builder follows the mail);
 * else, or when base is not a delta's base, a full build if full_ok
 * (*full set), or base as it is. tc->build held. */
static sw_err rank_build_hist(rank_engine *e, struct rank_tcache *tc,
                              store_txn *t, const struct rank_now *now,
                              struct rank_cref *base, int full_ok,
                              struct rank_state *b, int *full)
{
    uint64_t key[3];
    sw_err rc;

    if (base && memcmp(base->key, now->seqs, sizeof(now->seqs)) == 0) {
        b->hist = base;
        return SW_OK;
    }
    if (base && full_ok &&
        (base->key[0] != now->seqs[0] || base->key[1] != now->seqs[1])) {
        rc = rank_build_follow(e, tc, t, now, base, full_ok, &b->hist);
        if (rc != SW_ESTATE) {
            rank__cref_put(e, &base);
            return rc;
        }
    }
    if (base && base->key[2] < now->seqs[2] &&
        (!full_ok ||
         (base->key[0] == now->seqs[0] && base->key[1] == now->seqs[1]))) {
        key[0] = base->key[0];
        key[1] = base->key[1];
        key[2] = now->seqs[2];
        b->hist = rank_cref_new(key);
        if (b->hist == NULL) {
            rank__cref_put(e, &base);
            return SW_ENOMEM;
        }
        b->hist->gen = __atomic_add_fetch(&tc->gens, 1, __ATOMIC_RELAXED);
        rc = rank_hist_delta(t, tc->team, &e->p, base->h, &b->hist->h);
        if (rc != SW_EINVAL) {
            rank__cref_put(e, &base);
            return rc;
        }
        rank__cref_put(e, &b->hist); /* not a delta's base */
    }
    if (base && !full_ok) {
        b->hist = base;
        return SW_OK;
    }
    rank__cref_put(e, &base);
    *full = 1;
    return rank_build_full(e, tc, t, now, &b->hist);
}

/* rank_build_state builds the state to publish for a team from t for
 * now (its statistics as rank_build_hist does from base and full_ok),
 * reusing the published pieces whose keys still match. tc->build held. */
static sw_err rank_build_state(rank_engine *e, struct rank_tcache *tc,
                               store_txn *t, const struct rank_now *now,
                               struct rank_cref *base, int full_ok,
                               struct rank_state *b, int *full)
{
    uint64_t mkey[3] = {now->mseq, 0, 0}, lkey[3];
    sw_err rc = SW_OK;

    memset(b, 0, sizeof(*b));
    *full = 0;
    pthread_mutex_lock(&e->mu);
    if (tc->pub.model && now->mseq && tc->pub.model->key[0] == now->mseq)
        b->model = rank_cref_ref(tc->pub.model);
    pthread_mutex_unlock(&e->mu);
    rc = rank_build_hist(e, tc, t, now, base, full_ok, b, full);
    if (rc)
        goto fail;
    rc = rank_build_fb(e, tc, t, now, b);
    if (rc)
        goto fail;
    if (now->mseq == 0)
        return SW_OK;
    if (b->model == NULL) {
        b->model = rank_cref_new(mkey);
        if (b->model == NULL) {
            rc = SW_ENOMEM;
            goto fail;
        }
        rc = rank_model_load(t, tc->team, now->mseq, 1, &b->model->m);
        if (rc)
            goto fail;
    }
    lkey[0] = now->mseq;
    lkey[1] = b->hist->gen;
    lkey[2] = 0;
    pthread_mutex_lock(&e->mu);
    if (tc->pub.link && memcmp(tc->pub.link->key, lkey, sizeof(lkey)) == 0)
        b->link = rank_cref_ref(tc->pub.link);
    pthread_mutex_unlock(&e->mu);
    if (b->link == NULL) {
        b->link = rank_cref_new(lkey);
        if (b->link == NULL) {
            rc = SW_ENOMEM;
            goto fail;
        }
        rc = rank__link_build(b->hist->h, b->model->m, &b->link->l);
        if (rc)
            goto fail;
    }
    return SW_OK;
fail:
    rank__state_put(e, b);
    return rc;
}

/* rank_publish swaps b in as tc's state (taking b's references). */
static void rank_publish(rank_engine *e, struct rank_tcache *tc,
                         struct rank_state *b)
{
    struct rank_state old;

    pthread_mutex_lock(&e->mu);
    old = tc->pub;
    tc->pub = *b;
    pthread_mutex_unlock(&e->mu);
    memset(b, 0, sizeof(*b));
    rank__state_put(e, &old);
}

/* rank_is_current: the published state matches now (e->mu held). */
static int rank_is_current(const struct rank_tcache *tc,
                           const struct rank_now *now)
{
    const struct rank_state *p = &tc->pub;
    uint64_t fkey[3];

    if (p->hist == NULL ||
        memcmp(p->hist->key, now->seqs, sizeof(now->seqs)) != 0)
        return 0;
    rank_fb_key_of(now, p->hist->gen, fkey);
    if (p->fb == NULL || memcmp(p->fb->key, fkey, sizeof(fkey)) != 0)
        return 0;
    if (now->mseq == 0)
        return p->model == NULL;
    return p->model && p->model->key[0] == now->mseq && p->link;
}

/* rank_note_stale records that tc was seen stale (or not) now. e->mu
 * held. */
static void rank_note_stale(rank_engine *e, struct rank_tcache *tc, int stale)
{
    if (!stale) {
        tc->stale_since_ms = 0;
    } else if (tc->stale_since_ms == 0) {
        /* Newly stale: wake the publisher (once, not on every read). */
        tc->stale_since_ms = sw_mono_ms();
        if (e->started) {
            e->kicked = 1;
            pthread_cond_broadcast(&e->cond);
        }
    }
}

/* rank_delta_due: with the mail and snippets set aside, tc's published
 * state is not current for now (new outcomes, feedback or model: what a
 * pass of the publisher counts). e->mu held. */
static int rank_delta_due(const struct rank_tcache *tc,
                          const struct rank_now *now)
{
    const struct rank_state *p = &tc->pub;
    uint64_t fkey[3];

    if (p->hist == NULL || p->hist->key[2] != now->seqs[2])
        return 1;
    rank_fb_key_of(now, p->hist->gen, fkey);
    if (p->fb == NULL || memcmp(p->fb->key, fkey, sizeof(fkey)) != 0)
        return 1;
    if (now->mseq == 0)
        return p->model != NULL;
    return !(p->model && p->model->key[0] == now->mseq && p->link);
}

/* --- statistics on disk ------------------------------------------------- */

/* rank_stats_path writes the path of team's statistics file into b;
 * SW_EINVAL for a team id that is not a plain file name. */
static sw_err rank_stats_path(const rank_engine *e, const char *team,
                              struct sw_buf *b)
{
    if (team[0] == '\0' || team[0] == '.' || strchr(team, '/'))
        return SW_EINVAL;
    return sw_buf_printf(b, "%s/%s.stats", e->stats_dir, team);
}

/* rank_stats_load hands the team's statistics saved on disk to the
 * publisher as if the builder had just built them, when they are of this
 * store's past: no sequence ahead of the store's, no erasure since. A
 * file that is not (damaged, of another state, holding erased mail) is
 * removed. Once per team, before its first statistics; publisher only. */
static void rank_stats_load(rank_engine *e, struct rank_tcache *tc)
{
    struct rank_hist *h = NULL;
    struct rank_cref *c = NULL;
    struct sw_buf path;
    store_txn *t = NULL;
    uint64_t erase = 0, now_erase = 0, seqs[3];
    int64_t started = sw_mono_ms();
    int busy, stale = 0, i;
    sw_err rc;

    tc->load_tried = 1;
    pthread_mutex_lock(&e->mu);
    busy = tc->pub.hist != NULL || tc->built != NULL;
    pthread_mutex_unlock(&e->mu);
    sw_buf_init(&path, 4096);
    if (busy || rank_stats_path(e, tc->team, &path) != SW_OK)
        goto out;
    rc = rank_hist_load(sw_buf_str(&path), tc->team, &h, &erase);
    if (rc == SW_ENOTFOUND)
        goto out;
    if (rc) {
        sw_log_warn("rank.stats_refused", "team=%s path=%s err=%s", tc->team,
                    sw_buf_str(&path), sw_err_name(rc));
        (void)unlink(sw_buf_str(&path));
        goto out;
    }
    rc = store_txn_begin(e->s, 0, &t);
    if (rc == SW_OK)
        rc = store_hist_seqs(t, tc->team, seqs);
    if (rc == SW_OK)
        rc = store_seq_peek(t, tc->team, STORE_ERASE_SEQ, &now_erase);
    store_txn_abort(&t);
    if (rc)
        goto out;
    for (i = 0; i < 3; i++)
        stale |= h->seqs[i] > seqs[i];
    if (stale || erase != now_erase) {
        sw_log_info("rank.stats_dropped", "team=%s path=%s reason=%s", tc->team,
                    sw_buf_str(&path),
                    stale ? "ahead_of_the_store" : "erased_since");
        (void)unlink(sw_buf_str(&path));
        goto out;
    }
    c = rank_cref_new(h->seqs);
    if (c == NULL)
        goto out;
    c->h = h;
    h = NULL;
    c->gen = __atomic_add_fetch(&tc->gens, 1, __ATOMIC_RELAXED);
    memcpy(tc->saved_key, c->key, sizeof(tc->saved_key));
    tc->saved_erase = erase;
    pthread_mutex_lock(&e->mu);
    if (tc->built == NULL && tc->pub.hist == NULL) {
        tc->built = c;
        tc->built_started_ms = started;
        tc->full_at_ms = started; /* as good as a full build */
        c = NULL;
    }
    pthread_mutex_unlock(&e->mu);
    sw_log_info("rank.stats_loaded",
                "team=%s emails=%llu snippets=%llu outcomes=%llu ms=%lld",
                tc->team, (unsigned long long)seqs[0],
                (unsigned long long)seqs[1], (unsigned long long)seqs[2],
                (long long)(sw_mono_ms() - started));
out:
    rank__cref_put(e, &c);
    rank_hist_free(&h);
    sw_buf_free(&path);
}

/* rank_stats_save writes c, statistics of tc built with erasure
 * sequence erase, to the team's file when force is set, the last save is
 * older than the engine's interval or an erasure came since (the file
 * may hold erased mail), and removes the file of a team that has none
 * (deleted). The builder's, or the closing engine's. */
static void rank_stats_save(rank_engine *e, struct rank_tcache *tc,
                            const struct rank_cref *c, uint64_t erase,
                            int force)
{
    struct sw_buf path;
    int64_t started = sw_mono_ms();
    sw_err rc;

    if (!force && tc->saved_ms && started - tc->saved_ms < e->stats_save_ms &&
        erase == tc->saved_erase)
        return;
    sw_buf_init(&path, 4096);
    if (rank_stats_path(e, tc->team, &path) != SW_OK) {
        sw_buf_free(&path);
        return;
    }
    if (c->key[0] == 0 && c->key[1] == 0 && c->key[2] == 0) {
        (void)unlink(sw_buf_str(&path)); /* no team, or nothing in it */
        rc = SW_OK;
    } else {
        rc = rank_hist_save(c->h, tc->team, erase, sw_buf_str(&path));
    }
    if (rc == SW_OK) {
        tc->saved_ms = started;
        tc->saved_erase = erase;
        memcpy(tc->saved_key, c->key, sizeof(tc->saved_key));
        sw_log_debug("rank.stats_saved", "team=%s ms=%lld", tc->team,
                     (long long)(sw_mono_ms() - started));
    }
    sw_buf_free(&path);
}

/* rank_stats_save_all, as a started engine closes (its threads gone),
 * saves each team's published statistics that are newer than its file
 * and hold all the store's mail and snippets (so the erasure sequence
 * now is theirs): outcomes counted since the last save then survive a
 * restart. */
static void rank_stats_save_all(rank_engine *e)
{
    struct rank_tcache *tc;

    for (tc = e->teams; tc; tc = tc->next) {
        struct rank_cref *c = tc->pub.hist;
        uint64_t seqs[3], erase = 0;
        store_txn *t = NULL;
        sw_err rc;

        if (c == NULL || c->h == NULL || c->h->email_lo == NULL ||
            memcmp(c->key, tc->saved_key, sizeof(c->key)) == 0)
            continue;
        rc = store_txn_begin(e->s, 0, &t);
        if (rc == SW_OK)
            rc = store_hist_seqs(t, tc->team, seqs);
        if (rc == SW_OK)
            rc = store_seq_peek(t, tc->team, STORE_ERASE_SEQ, &erase);
        store_txn_abort(&t);
        if (rc == SW_OK && seqs[0] == c->key[0] && seqs[1] == c->key[1])
            rank_stats_save(e, tc, c, erase, 1);
    }
}

/* rank_refresh brings tc's published state up to date with the store as
 * far as it can without a full build of the statistics: it adopts the
 * builder's finished one, counts new outcomes (rank_hist_delta), catches
 * the feedback tally up and loads a new model; and it asks the builder
 * for a full build when mail or snippets moved on and the team is not
 * at rest. Called by the publisher only. */
static sw_err rank_refresh(rank_engine *e, struct rank_tcache *tc)
{
    struct rank_cref *base;
    struct rank_state b;
    struct rank_now now;
    store_txn *t = NULL;
    int64_t started, since, built_ms = 0;
    int current, due, full, adopted, need_full, mail, absorbed;
    sw_err rc;

    if (e->stats_dir && !tc->load_tried)
        rank_stats_load(e, tc);
    rc = store_txn_begin(e->s, 0, &t);
    if (rc == SW_OK)
        rc = rank_now_read(t, tc->team, &now);
    if (rc)
        goto out;
    started = sw_mono_ms();
    pthread_mutex_lock(&e->mu);
    adopted = tc->built != NULL;
    if (adopted) {
        base = tc->built;
        tc->built = NULL;
        built_ms = tc->built_started_ms;
    } else {
        base = rank_cref_ref(tc->pub.hist);
    }
    current = !adopted && rank_is_current(tc, &now);
    rank_note_stale(e, tc, !current);
    if (adopted)
        tc->follow_refused = 0;
    mail = base && (base->key[0] != now.seqs[0] || base->key[1] != now.seqs[1]);
    /* New mail that could not be followed, families that want computing
     * again after mail was followed for a while, or many outcomes
     * counted since the last full build (each delta copies them): a full
     * build. */
    need_full =
        base == NULL || (mail && (tc->follow_refused || e->no_follow)) ||
        rank_full_overdue(tc, base->h) || rank_hist_delta_heavy(base->h);
    /* (Mail a build just adopted does not count is followed from the
     * published statistics, by the next pass.) */
    if ((need_full || (mail && !adopted)) && !tc->building && !tc->want_full &&
        !tc->want_follow && started >= tc->rest_until_ms) {
        tc->want_full = need_full;
        tc->want_follow = !need_full;
        pthread_cond_broadcast(&e->bcond);
    }
    due = base && (adopted || rank_delta_due(tc, &now));
    since = tc->stale_since_ms;
    pthread_mutex_unlock(&e->mu);
    if (current || !due) {
        rank__cref_put(e, &base);
        goto out;
    }
    pthread_mutex_lock(&tc->build);
    rc = rank_build_state(e, tc, t, &now, base, 0, &b, &full);
    /* Whether the statistics published count everything this pass read
     * (mail followed, not only outcomes). */
    absorbed =
        rc == SW_OK && memcmp(b.hist->key, now.seqs, sizeof(now.seqs)) == 0;
    if (rc == SW_OK)
        rank_publish(e, tc, &b);
    pthread_mutex_unlock(&tc->build);
    store_txn_abort(&t);
    if (rc)
        goto out;
    rc = store_txn_begin(e->s, 0, &t);
    if (rc == SW_OK)
        rc = rank_now_read(t, tc->team, &now);
    if (rc == SW_OK) {
        pthread_mutex_lock(&e->mu);
        current = rank_is_current(tc, &now);
        /* What is not counted came after this pass began reading when
         * the pass counted all it read; else it has waited since the full
         * build adopted started, or still since it was first seen (mail
         * this pass could not follow), or since this pass started. */
        tc->stale_since_ms = current    ? 0
                             : absorbed ? started
                             : adopted  ? built_ms
                             : since    ? since
                                        : started;
        pthread_mutex_unlock(&e->mu);
    }
    tc->delta_rest_until_ms =
        sw_mono_ms() + (RANK_ENGINE_DUTY - 1) * (sw_mono_ms() - started);
    sw_log_debug("rank.published",
                 "team=%s emails=%llu snippets=%llu "
                 "outcomes=%llu feedback=%llu model=%llu adopted=%d ms=%lld",
                 tc->team, (unsigned long long)now.seqs[0],
                 (unsigned long long)now.seqs[1],
                 (unsigned long long)now.seqs[2], (unsigned long long)now.fseq,
                 (unsigned long long)now.mseq, adopted,
                 (long long)(sw_mono_ms() - started));
out:
    store_txn_abort(&t);
    return rc;
}

/* rank_build_one is the builder's work on tc's statistics, handed to the
 * publisher in tc->built: the published ones with the new mail followed
 * (follow set, rank_build_follow), or a full build (when asked, or when
 * the follow was refused). The test hook holds full builds only. */
static void rank_build_one(rank_engine *e, struct rank_tcache *tc, int follow,
                           rank_engine_hook hook, void *hook_arg)
{
    struct rank_cref *c = NULL, *old = NULL, *save = NULL, *base = NULL;
    struct rank_now now;
    store_txn *t = NULL;
    int64_t started = sw_mono_ms();
    uint64_t erase = 0;
    sw_err rc = SW_ESTATE;

    if (follow) {
        pthread_mutex_lock(&e->mu);
        base = rank_cref_ref(tc->pub.hist);
        if (base == NULL) /* nothing published yet: the publisher asks again */
            tc->building = 0;
        pthread_mutex_unlock(&e->mu);
        if (base == NULL)
            return;
    }
    if (base) {
        rc = store_txn_begin(e->s, 0, &t);
        if (rc == SW_OK)
            rc = rank_now_read(t, tc->team, &now);
        if (rc == SW_OK && e->stats_dir)
            rc = store_seq_peek(t, tc->team, STORE_ERASE_SEQ, &erase);
        if (rc == SW_OK)
            rc = rank_build_follow(e, tc, t, &now, base, 0, &c);
        rank__cref_put(e, &base);
        store_txn_abort(&t);
    }
    if (rc == SW_ESTATE) { /* not asked to follow, or refused: in full */
        if (hook) /* before the snapshot, as a long build would hold it */
            hook(hook_arg, tc->team);
        rc = store_txn_begin(e->s, 0, &t);
        if (rc == SW_OK)
            rc = rank_now_read(t, tc->team, &now);
        if (rc == SW_OK && e->stats_dir)
            rc = store_seq_peek(t, tc->team, STORE_ERASE_SEQ, &erase);
        if (rc == SW_OK)
            rc = rank_build_full(e, tc, t, &now, &c);
        store_txn_abort(&t);
    }
    if (rc == SW_OK && e->stats_dir)
        save = rank_cref_ref(c); /* saved once handed over */
    if (rc && rc != SW_ENOTFOUND)
        sw_log_warn("rank.build_failed", "team=%s err=%s", tc->team,
                    sw_err_name(rc));
    pthread_mutex_lock(&e->mu);
    tc->building = 0;
    if (rc == SW_OK) {
        old = tc->built;
        tc->built = c;
        tc->built_started_ms = started;
        tc->rest_until_ms =
            sw_mono_ms() + (RANK_ENGINE_DUTY - 1) * (sw_mono_ms() - started);
    } else {
        tc->rest_until_ms = sw_mono_ms() + RANK_ENGINE_RETRY_MS;
    }
    e->kicked = 1; /* the publisher adopts it */
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->mu);
    rank__cref_put(e, &old);
    if (save) {
        rank_stats_save(e, tc, save, erase, 0);
        rank__cref_put(e, &save);
    }
}

/* The builder: full builds of the statistics, one team at a time, on a
 * thread of their own, so that the publisher keeps counting outcomes,
 * feedback and models meanwhile. */
static void *rank_builder_thread(void *arg)
{
    rank_engine *e = arg;

    if (sw_thread_nice(10) != 0)
        sw_log_warn("rank.nice_failed", "errno=%d", errno);
    int follow;

    pthread_mutex_lock(&e->mu);
    while (!e->stop) {
        struct rank_tcache *tc;
        rank_engine_hook hook;
        void *hook_arg;
        for (tc = e->teams; tc && !tc->want_full && !tc->want_follow;
             tc = tc->next)
            ;
        if (tc == NULL) {
            pthread_cond_wait(&e->bcond, &e->mu);
            continue;
        }
        follow = tc->want_follow && !tc->want_full;
        tc->want_full = 0;
        tc->want_follow = 0;
        tc->building = 1;
        hook = e->hook;
        hook_arg = e->hook_arg;
        pthread_mutex_unlock(&e->mu);
        rank_build_one(e, tc, follow, hook, hook_arg);
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* --- reads ------------------------------------------------------------- */

/* rank_fresh_fill says how current the state read (hist, current by its
 * keys) is; the index must also hold every snippet the statistics know. */
static void rank_fresh_fill(rank_engine *e, struct rank_tcache *tc,
                            const struct rank_cref *hist, int current,
                            struct rank_fresh *f)
{
    uint64_t covered = 0;

    memset(f, 0, sizeof(*f));
    f->ready = hist != NULL;
    if (hist)
        memcpy(f->seqs, hist->key, sizeof(f->seqs));
    if (current && (rank_ranker_covered(e->r, tc->team, &covered) != SW_OK ||
                    covered < f->seqs[1]))
        current = 0;
    f->current = current;
    pthread_mutex_lock(&e->mu);
    if (!current && tc->stale_since_ms)
        f->lag_ms = sw_mono_ms() - tc->stale_since_ms;
    pthread_mutex_unlock(&e->mu);
}

/* rank_take_published takes references to tc's published state (NULL
 * pieces when none). */
static void rank_take_published(rank_engine *e, struct rank_tcache *tc,
                                const struct rank_now *now,
                                struct rank_state *st, int *current)
{
    pthread_mutex_lock(&e->mu);
    st->hist = rank_cref_ref(tc->pub.hist);
    st->model = rank_cref_ref(tc->pub.model);
    st->link = rank_cref_ref(tc->pub.link);
    st->fb = rank_cref_ref(tc->pub.fb);
    *current = rank_is_current(tc, now);
    rank_note_stale(e, tc, !*current);
    pthread_mutex_unlock(&e->mu);
}

sw_err rank__state(rank_engine *e, store_txn *t, const char *team,
                   struct rank_state *st, struct rank_fresh *fresh)
{
    struct rank_tcache *tc;
    struct rank_state b;
    struct rank_now now;
    int current = 0;
    sw_err rc;

    memset(st, 0, sizeof(*st));
    rc = rank_tcache_get(e, team, &tc);
    if (rc == SW_OK)
        rc = rank_now_read(t, team, &now);
    if (rc)
        return rc;
    rank_take_published(e, tc, &now, st, &current);
    /* A started engine answers from what is published, however old, and
     * with nothing published yet (the team's first build is the
     * publisher's) from nothing: Suggest then ranks by similarity. */
    if (e->started && st->hist == NULL) {
        if (fresh) {
            rank_fresh_fill(e, tc, NULL, 0, fresh);
            memcpy(fresh->seqs, now.seqs, sizeof(now.seqs));
        }
        return SW_OK;
    }
    if (!e->started && !current) {
        rank__state_put(e, st);
        pthread_mutex_lock(&tc->build);
        rank_take_published(e, tc, &now, st, &current);
        if (!current) {
            rank__state_put(e, st);
            struct rank_cref *base;
            int full;
            pthread_mutex_lock(&e->mu);
            base = rank_cref_ref(tc->pub.hist);
            pthread_mutex_unlock(&e->mu);
            rc = rank_build_state(e, tc, t, &now, base, 1, &b, &full);
            if (rc == SW_OK) {
                pthread_mutex_lock(&e->mu);
                st->hist = rank_cref_ref(b.hist);
                st->model = rank_cref_ref(b.model);
                st->link = rank_cref_ref(b.link);
                st->fb = rank_cref_ref(b.fb);
                pthread_mutex_unlock(&e->mu);
                rank_publish(e, tc, &b);
                current = 1;
                pthread_mutex_lock(&e->mu);
                rank_note_stale(e, tc, 0);
                pthread_mutex_unlock(&e->mu);
            }
        }
        pthread_mutex_unlock(&tc->build);
        if (rc)
            return rc;
    }
    if (fresh)
        rank_fresh_fill(e, tc, st->hist, current, fresh);
    return SW_OK;
}

sw_err rank_engine_freshness(rank_engine *e, const char *team,
                             struct rank_fresh *out)
{
    struct rank_state st;
    struct rank_tcache *tc;
    struct rank_now now;
    store_txn *t = NULL;
    int current = 0;
    sw_err rc;

    if (e == NULL || team == NULL || team[0] == '\0' || out == NULL)
        return SW_EINVAL;
    rc = rank_tcache_get(e, team, &tc);
    if (rc == SW_OK)
        rc = store_txn_begin(e->s, 0, &t);
    if (rc == SW_OK)
        rc = rank_now_read(t, team, &now);
    store_txn_abort(&t);
    if (rc)
        return rc;
    rank_take_published(e, tc, &now, &st, &current);
    rank_fresh_fill(e, tc, st.hist, current, out);
    rank__state_put(e, &st);
    return SW_OK;
}

/* rank_stats_one fills *o with what h says about id. */
static void rank_stats_one(const struct rank_hist *h, int what, const char *id,
                           struct rank_item_stats *o)
{
    const struct rank_hitem *it = NULL;
    long i;

    memset(o, 0, sizeof(*o));
    if (what == RANK_STATS_THREAD) {
        i = rank_hist_thread(h, id);
        if (i < 0)
            return;
        memcpy(o->outcomes, h->threads[i].outcomes, sizeof(o->outcomes));
        o->best_outcome = rank_best_outcome(o->outcomes);
        o->found = 1;
        return;
    }
    if (what == RANK_STATS_CONTENT) {
        i = rank_hist_item(h, id);
        if (i >= 0 && h->items[i].kind == 'c')
            it = &h->items[i];
    } else {
        i = rank_hist_snippet(h, id);
        if (i >= 0 && h->snips[i].item != UINT32_MAX)
            it = &h->items[h->snips[i].item];
    }
    if (it == NULL)
        return;
    o->ev = it->ev;
    if (it->kind == 'f')
        snprintf(o->family_id, sizeof(o->family_id), "%s", it->id);
    o->found = 1;
}

sw_err rank_engine_stats(rank_engine *e, const char *team, int what,
                         const char *const *ids, size_t n,
                         struct rank_item_stats *out, struct rank_fresh *fresh)
{
    struct rank_state st;
    store_txn *t = NULL;
    size_t i;
    sw_err rc;

    if (e == NULL || team == NULL || team[0] == '\0' || (n && !ids) ||
        (n && !out) ||
        (what != RANK_STATS_THREAD && what != RANK_STATS_CONTENT &&
         what != RANK_STATS_SNIPPET))
        return SW_EINVAL;
    rc = store_txn_begin(e->s, 0, &t);
    if (rc == SW_OK)
        rc = rank__state(e, t, team, &st, fresh);
    store_txn_abort(&t);
    if (rc)
        return rc;
    for (i = 0; i < n; i++) {
        if (st.hist && ids[i])
            rank_stats_one(st.hist->h, what, ids[i], &out[i]);
        else
            memset(&out[i], 0, sizeof(out[i]));
    }
    rank__state_put(e, &st);
    return SW_OK;
}

/* --- the publisher ------------------------------------------------------ */

static int rank_engine_stopping(rank_engine *e)
{
    return __atomic_load_n(&e->stop, __ATOMIC_ACQUIRE);
}

/* rank_engine_warm makes an entry for every team of the store, so that
 * the publisher builds each one's state after a start. */
static void rank_engine_warm(rank_engine *e)
{
    char *token = NULL, *next = NULL;

    do {
        struct store_team *teams = NULL;
        struct rank_tcache *tc;
        size_t n = 0, i;
        sw_err rc = store_team_list(e->s, 100, token, &teams, &n, &next, NULL);
        sw_free(token);
        token = NULL;
        if (rc) {
            sw_log_error("rank.warm_teams", "err=%s", sw_err_name(rc));
            break;
        }
        for (i = 0; i < n && rc == SW_OK; i++)
            if (teams[i].team_id && teams[i].team_id[0])
                rc = rank_tcache_get(e, teams[i].team_id, &tc);
        store_teams_free(teams, n);
        token = next;
        next = NULL;
        if (rc)
            break;
    } while (token != NULL && !rank_engine_stopping(e));
    sw_free(token);
}

/* rank_engine_pass refreshes every known team once; returns 1 when one
 * changed during its build (another pass is due at once). */
static int rank_engine_pass(rank_engine *e)
{
    struct rank_tcache *tc;
    int more = 0;

    pthread_mutex_lock(&e->mu);
    tc = e->teams;
    pthread_mutex_unlock(&e->mu);
    /* Entries are only ever prepended and live until close, so the list
     * from the head read above is stable. */
    for (; tc && !rank_engine_stopping(e); tc = tc->next) {
        int64_t now = sw_mono_ms();
        sw_err rc;
        if ((tc->retry_after_ms && now < tc->retry_after_ms) ||
            now < tc->delta_rest_until_ms)
            continue;
        rc = rank_refresh(e, tc);
        if (rc) {
            tc->retry_after_ms = now + RANK_ENGINE_RETRY_MS;
            if (rc != SW_ENOTFOUND)
                sw_log_warn("rank.publish_failed", "team=%s err=%s", tc->team,
                            sw_err_name(rc));
            continue;
        }
        tc->retry_after_ms = 0;
        now = sw_mono_ms();
        pthread_mutex_lock(&e->mu);
        /* Stale with nothing for the publisher to do but wait (a full
         * build asked for or running, a rest): no pass at once. */
        more |= tc->stale_since_ms != 0 && !tc->building && !tc->want_full &&
                !tc->want_follow && tc->built == NULL &&
                now >= tc->rest_until_ms && now >= tc->delta_rest_until_ms;
        pthread_mutex_unlock(&e->mu);
    }
    return more;
}

static void *rank_engine_thread(void *arg)
{
    rank_engine *e = arg;

    /* Building statistics is background work: below the server's calls. */
    if (sw_thread_nice(10) != 0)
        sw_log_warn("rank.nice_failed", "errno=%d", errno);
    rank_engine_warm(e);
    for (;;) {
        struct timespec ts;
        int more;

        pthread_mutex_lock(&e->mu);
        if (e->stop) {
            pthread_mutex_unlock(&e->mu);
            break;
        }
        e->kicked = 0;
        pthread_mutex_unlock(&e->mu);
        more = rank_engine_pass(e);
        pthread_mutex_lock(&e->mu);
        if (!more && !e->stop && !e->kicked) {
            sw_timespec_in(CLOCK_MONOTONIC, e->poll_ms, &ts);
            (void)pthread_cond_timedwait(&e->cond, &e->mu, &ts);
        }
        pthread_mutex_unlock(&e->mu);
    }
    return NULL;
}

sw_err rank_engine_start(rank_engine *e, int64_t poll_ms)
{
    if (e == NULL)
        return SW_EINVAL;
    if (e->started)
        return SW_ESTATE;
    e->poll_ms = poll_ms > 0 ? poll_ms : RANK_ENGINE_POLL_MS;
    if (pthread_create(&e->builder, NULL, rank_builder_thread, e) != 0)
        return SW_ENOMEM;
    if (pthread_create(&e->thread, NULL, rank_engine_thread, e) != 0) {
        pthread_mutex_lock(&e->mu);
        e->stop = 1;
        pthread_cond_broadcast(&e->bcond);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->builder, NULL);
        e->stop = 0;
        return SW_ENOMEM;
    }
    e->started = 1;
    return SW_OK;
}

const unsigned char *rank__engine_secret(const rank_engine *e)
{
    return e->secret;
}

int rank__engine_inline(const rank_engine *e)
{
    return !e->started;
}
