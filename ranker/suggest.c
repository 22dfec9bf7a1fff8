/* suggest: the engine behind SuggestService (see suggest.h): per-team
 * caches of statistics and the serving model, the query context, candidate
 * retrieval, scoring, MMR and explanations. */
#include "ranker/suggest.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/sw_log.h"
#include "base/sw_mem.h"
#include "base/sw_util.h"
#include "ranker/suggest_int.h"
#include "store/store_hist.h"
#include "store/store_mail.h"

#define RANK_QUERY_MAX (16 * 1024)

/* --- caches ----------------------------------------------------------------
 */

struct rank_tcache {
    char *team;
    pthread_mutex_t build; /* one build per team at a time */
    /* Each cached piece carries its key (rank_cref.key): the statistics
     * the store sequences, the model its seq, the link of the two the
     * statistics' generation and the model's seq. */
    struct rank_cref *hist;
    struct rank_cref *model;
    struct rank_cref *link;
    uint64_t gens; /* statistics built so far */
    int reranking; /* a RunRerank of this team is running */
    struct rank_tcache *next;
};

struct rank_engine {
    store *s;
    rank_ranker *r;
    struct rank_params p;
    pthread_mutex_t mu; /* the list and the refs */
    struct rank_tcache *teams;
};

void rank__cref_put(rank_engine *e, struct rank_cref **cp)
{
    struct rank_cref *c = *cp;
    int last;

    *cp = NULL;
    if (c == NULL)
        return;
    pthread_mutex_lock(&e->mu);
    last = --c->refs == 0;
    pthread_mutex_unlock(&e->mu);
    if (!last)
        return;
    rank_hist_free(&c->h);
    rank_model_free(&c->m);
    rank__link_free(&c->l);
    sw_free(c);
}

sw_err rank_engine_open(store *s, rank_ranker *r, const struct rank_params *p,
                        rank_engine **out)
{
    rank_engine *e;

    if (s == NULL || r == NULL || out == NULL)
        return SW_EINVAL;
    rank_blas_init();
    e = sw_calloc(1, sizeof(*e));
    if (e == NULL)
        return SW_ENOMEM;
    e->s = s;
    e->r = r;
    if (p)
        e->p = *p;
    else
        rank_params_default(&e->p);
    pthread_mutex_init(&e->mu, NULL);
    *out = e;
    return SW_OK;
}

static void rank_tcache_clear(rank_engine *e, struct rank_tcache *t)
{
    rank__cref_put(e, &t->hist);
    rank__cref_put(e, &t->model);
    rank__cref_put(e, &t->link);
}

void rank_engine_drop(rank_engine *e, const char *team)
{
    struct rank_tcache *t;

    if (e == NULL)
        return;
    for (t = e->teams; t; t = t->next) {
        if (team && strcmp(team, t->team) != 0)
            continue;
        pthread_mutex_lock(&t->build);
        rank_tcache_clear(e, t);
        pthread_mutex_unlock(&t->build);
    }
}

void rank_engine_close(rank_engine **ep)
{
    rank_engine *e;

    if (ep == NULL || *ep == NULL)
        return;
    e = *ep;
    while (e->teams) {
        struct rank_tcache *t = e->teams;
        e->teams = t->next;
        rank_tcache_clear(e, t);
        pthread_mutex_destroy(&t->build);
        sw_free(t->team);
        sw_free(t);
    }
    pthread_mutex_destroy(&e->mu);
    sw_free(e);
    *ep = NULL;
}

static sw_err rank_tcache_get(rank_engine *e, const char *team,
                              struct rank_tcache **out)
{
    struct rank_tcache *t;

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
}

store *rank_engine_store(rank_engine *e)
{
    return e->s;
}

rank_ranker *rank_engine_ranker(rank_engine *e)
{
    return e->r;
}

/* rank_take returns a new reference to *slot if its key is key, else
 * NULL. */
static struct rank_cref *rank_take(rank_engine *e, struct rank_cref **slot,
                                   const uint64_t key[3])
{
    struct rank_cref *c = NULL;

    pthread_mutex_lock(&e->mu);
    if (*slot && memcmp((*slot)->key, key, sizeof((*slot)->key)) == 0) {
        (*slot)->refs++;
        c = *slot;
    }
    pthread_mutex_unlock(&e->mu);
    return c;
}

/* What a cached piece is built from. */
struct rank_src {
    rank_engine *e;
    store_txn *t;
    const char *team;
    struct rank_tcache *tc;
    uint64_t mseq;
    const struct rank_cref *hist, *model; /* for the link */
};

static sw_err rank_build_hist(const struct rank_src *s, struct rank_cref *c)
{
    c->gen = ++s->tc->gens;
    return rank_hist_build(s->t, s->team, &s->e->p, 0, &c->h);
}

static sw_err rank_build_model(const struct rank_src *s, struct rank_cref *c)
{
    return rank_model_load(s->t, s->team, s->mseq, 1, &c->m);
}

static sw_err rank_build_link(const struct rank_src *s, struct rank_cref *c)
{
    return rank__link_build(s->hist->h, s->model->m, &c->l);
}

/* rank_cached returns in *out a reference to the piece in *slot whose key
 * is key, building it with build (one build per team at a time) and
 * caching it when the cached one is stale. */
static sw_err rank_cached(const struct rank_src *s, struct rank_cref **slot,
                          const uint64_t key[3],
                          sw_err (*build)(const struct rank_src *,
                                          struct rank_cref *),
                          struct rank_cref **out)
{
    struct rank_cref *c = rank_take(s->e, slot, key), *old;
    sw_err rc = SW_OK;

    if (c == NULL) {
        pthread_mutex_lock(&s->tc->build);
        c = rank_take(s->e, slot, key);
        if (c == NULL) {
            c = sw_calloc(1, sizeof(*c));
            rc = c ? build(s, c) : SW_ENOMEM;
            if (rc == SW_OK) {
                memcpy(c->key, key, sizeof(c->key));
                c->refs = 2; /* the cache's and ours */
                pthread_mutex_lock(&s->e->mu);
                old = *slot;
                *slot = c;
                pthread_mutex_unlock(&s->e->mu);
                rank__cref_put(s->e, &old);
            } else if (c) {
                c->refs = 1;
                rank__cref_put(s->e, &c); /* frees what build made */
            }
        }
        pthread_mutex_unlock(&s->tc->build);
    }
    *out = c;
    return rc;
}

/* rank_state reads, in the read transaction t, the statistics, the
 * serving model and their link that match the snapshot, building or
 * loading them when the cache is stale. */
sw_err rank__state(rank_engine *e, store_txn *t, const char *team,
                   struct rank_cref **hist, struct rank_cref **model,
                   struct rank_cref **link)
{
    struct rank_src s;
    uint64_t seqs[3], key[3] = {0, 0, 0};
    sw_err rc;

    *hist = *model = *link = NULL;
    memset(&s, 0, sizeof(s));
    s.e = e;
    s.t = t;
    s.team = team;
    rc = rank_tcache_get(e, team, &s.tc);
    if (rc == SW_OK)
        rc = store_hist_seqs(t, team, seqs);
    if (rc == SW_OK) {
        rc = rank_model_serving(t, team, &s.mseq);
        if (rc == SW_ENOTFOUND) {
            s.mseq = 0;
            rc = SW_OK;
        }
    }
    if (rc == SW_OK)
        rc = rank_cached(&s, &s.tc->hist, seqs, rank_build_hist, hist);
    if (rc || s.mseq == 0)
        return rc;
    key[0] = s.mseq;
    rc = rank_cached(&s, &s.tc->model, key, rank_build_model, model);
    if (rc == SW_OK) {
        s.hist = *hist;
        s.model = *model;
        key[1] = (*hist)->gen;
        rc = rank_cached(&s, &s.tc->link, key, rank_build_link, link);
    }
    if (rc) {
        rank__cref_put(e, hist);
        rank__cref_put(e, model);
    }
    return rc;
}

/* --- randomness, MMR, ids ----------------------------------------------- */

double rank_rng_uniform(struct rank_rng *g)
{
    uint64_t z;

    g->s += 0x9e3779b97f4a7c15ULL;
    z = g->s;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

size_t rank_mmr(const double *score, const double *sim, size_t n, double lambda,
                size_t want, size_t *order)
{
    size_t picked = 0, i, j;
    unsigned char *used;

    used = sw_calloc(n + 1, 1);
    if (used == NULL) { /* fall back to the plain order */
        for (i = 0; i < n && i < want; i++)
            order[i] = i;
        return i;
    }
    while (picked < want && picked < n) {
        double best = -INFINITY;
        size_t bi = n;
        for (i = 0; i < n; i++) {
            double mx = 0.0, v;
            if (used[i])
                continue;
            for (j = 0; j < picked; j++)
                if (sim[i * n + order[j]] > mx)
                    mx = sim[i * n + order[j]];
            v = lambda * score[i] - (1.0 - lambda) * mx;
            if (v > best) {
                best = v;
                bi = i;
            }
        }
        if (bi == n)
            break;
        used[bi] = 1;
        order[picked++] = bi;
    }
    sw_free(used);
    return picked;
}

sw_err rank_item_parse(const char *id, struct rank_item *out)
{
    const char *d1, *d2;
    size_t l1, l2;

    if (id == NULL)
        return SW_EINVAL;
    d1 = strchr(id, '.');
    if (d1 == NULL || (d1[1] != 'c' && d1[1] != 'f') || d1[2] != '.')
        return SW_EINVAL;
    d2 = d1 + 2;
    l1 = (size_t)(d1 - id);
    l2 = strlen(d2 + 1);
    if (l1 < 4 || l1 >= sizeof(out->suggestion_id) || strncmp(id, "sg_", 3) ||
        l2 == 0 || l2 >= sizeof(out->target_id))
        return SW_EINVAL;
    memcpy(out->suggestion_id, id, l1);
    out->suggestion_id[l1] = '\0';
    out->kind = d1[1];
    memcpy(out->target_id, d2 + 1, l2 + 1);
    return SW_OK;
}

/* --- Suggest ------------------------------------------------------------- */

/* rank_strip_quotes copies the new part of a message: lines starting with
 * '>' and everything from an "On ... wrote:" line on are left out. */
static sw_err rank_strip_quotes(struct sw_buf *b, const char *s)
{
    sw_err rc = SW_OK;

    while (*s && rc == SW_OK) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        if (n >= 6 && s[0] == 'O' && s[1] == 'n' && s[2] == ' ' && n >= 7 &&
            strncmp(s + n - (s[n - 1] == '\r' ? 7 : 6), "wrote:", 6) == 0)
            break;
        if (s[0] != '>') {
            rc = sw_buf_add(b, s, n);
            if (rc == SW_OK)
                rc = sw_buf_addc(b, '\n');
        }
        s += n + (nl ? 1 : 0);
    }
    return rc == SW_ETOOBIG ? SW_OK : rc;
}

/* rank_context appends the thread's context to b: the subject and text of
 * the last inbound message (or of the last message). */
static sw_err rank_context(store_txn *t, const struct rank_suggest_req *q,
                           struct sw_buf *b)
{
    struct store_thread th;
    struct store_email em;
    struct sw_buf k;
    char *eid = NULL;
    size_t i;
    sw_err rc = SW_OK;

    memset(&th, 0, sizeof(th));
    memset(&em, 0, sizeof(em));
    sw_buf_init(&k, 1024);
    if (q->thread_id && q->thread_id[0]) {
        rc = strlen(q->thread_id) > 256
                 ? SW_ENOTFOUND
                 : store_thread_get_txn(t, q->team_id, q->thread_id, &th);
        for (i = th.n_emails; rc == SW_OK && i > 0; i--) {
            store_email_clear(&em);
            rc = store_email_get_txn(t, q->team_id, th.email_ids[i - 1], &em);
            if (rc == SW_OK && em.direction == STORE_DIR_INBOUND)
                break;
        }
    } else if (q->in_reply_to && q->in_reply_to[0]) {
        rc = store_mail_msgid_key(&k, q->in_reply_to);
        if (rc == SW_EINVAL)
            rc = SW_ENOTFOUND;
        if (rc == SW_OK)
            rc = store_email_lookup(t, q->team_id, sw_buf_str(&k),
                                    sw_buf_len(&k), &eid);
        if (rc == SW_OK)
            rc = store_email_get_txn(t, q->team_id, eid, &em);
    } else if (q->context && q->context[0]) {
        rc = rank_strip_quotes(b, q->context);
    }
    if (rc == SW_OK && em.email_id) {
        rc = sw_buf_printf(b, "%s\n", em.subject);
        if (rc == SW_OK)
            rc = rank_strip_quotes(b,
                                   em.new_text[0] ? em.new_text : em.body_text);
    }
    sw_free(eid);
    sw_buf_free(&k);
    store_thread_clear(&th);
    store_email_clear(&em);
    return rc;
}

/* A candidate during scoring. */
struct rank_cand {
    uint32_t item;
    const char *key; /* the item's title: a tie-break that is the same in
                        every store with this history (ids are random) */
    uint32_t snip;   /* the best-matching snippet (framing, or passage) */
    int has_snip;
    double rel;
    struct rank_score score;
};

struct rank_sctx {
    rank_engine *e;
    const struct rank_suggest_req *q;
    const struct rank_hist *h;
    const struct rank_model *m;
    struct sw_arena *a;
    const char *sid;
    double *xq;
    struct rank_local loc; /* evidence of the threads most like the query */
    uint64_t seed;
    int mode;
};

static int rank_cand_cmp(const void *x, const void *y)
{
    const struct rank_cand *a = x, *b = y;

    int k;

    if (a->score.total != b->score.total)
        return a->score.total > b->score.total ? -1 : 1;
    k = strcmp(a->key ? a->key : "", b->key ? b->key : "");
    if (k)
        return k;
    return a->item < b->item ? -1 : a->item > b->item;
}

static const char *rank_explain(struct rank_sctx *c,
                                const struct rank_hitem *it, size_t ii,
                                const struct rank_score *s)
{
    const struct rank_evid *v = &it->ev;
    double rate = v->threads ? (double)v->positives / (double)v->threads : 0;
    const char *base, *local = "";

    if (v->threads == 0)
        return sw_arena_printf(c->a,
                               "new: not used in a thread yet; shown to "
                               "learn how it works (relevance %.2f)",
                               s->relevance);
    base = sw_arena_printf(
        c->a,
        "used by %lld rep%s in %lld thread%s (%lld time%s), %.0f%% positive "
        "replies or better against a team average of %.0f%%; %lld meeting%s, "
        "%lld deal%s won",
        (long long)v->reps, v->reps == 1 ? "" : "s", (long long)v->threads,
        v->threads == 1 ? "" : "s", (long long)v->times_used,
        v->times_used == 1 ? "" : "s", 100.0 * rate, 100.0 * c->h->team_rate,
        (long long)v->meetings, v->meetings == 1 ? "" : "s",
        (long long)v->deals, v->deals == 1 ? "" : "s");
    if (base && c->loc.threads && ii < c->loc.nitems && c->loc.uses[ii] >= 1)
        local = sw_arena_printf(
            c->a,
            "; in threads like this one %.0f%% positive (%.1f uses weighted "
            "by how alike their threads are)",
            100.0 * c->loc.pos[ii] / c->loc.uses[ii], c->loc.uses[ii]);
    if (base == NULL || local == NULL)
        return NULL;
    return local[0] ? sw_arena_printf(c->a, "%s%s", base, local) : base;
}

/* rank_fill ranks cands (n) and writes up to want suggestions to *out. */
static sw_err rank_fill(struct rank_sctx *c, struct rank_cand *cands, size_t n,
                        size_t want, int kind, struct rank_sugg **out,
                        size_t *nout)
{
    const struct rank_hist *h = c->h;
    struct rank_sugg *res;
    size_t i, j, pool, *order = NULL, got;
    double *score = NULL, *sim = NULL;
    float *emb = NULL;
    size_t dim = rank_ranker_dim(c->e->r);
    sw_err rc = SW_OK;

    for (i = 0; i < n; i++) {
        const struct rank_hitem *it = &h->items[cands[i].item];
        double collab = 0.0;
        if (c->m && c->xq && c->m->scale > 0)
            collab = rank__collab(
                         c->m, c->xq, it->id,
                         it->kind == 'f' && cands[i].has_snip &&
                                 h->snips[cands[i].snip].content != UINT32_MAX
                             ? h->items[h->snips[cands[i].snip].content].id
                             : NULL) /
                     c->m->scale;
        rank__score(&c->e->p, h, it, cands[i].item, &c->loc, cands[i].rel,
                    collab, c->seed, c->mode, &cands[i].score);
    }
    if (n)
        qsort(cands, n, sizeof(*cands), rank_cand_cmp);
    pool = n < want * 3 ? n : want * 3;
    res = sw_arena_alloc(c->a, (want ? want : 1) * sizeof(*res));
    order = sw_calloc(pool + 1, sizeof(*order));
    score = sw_calloc(pool + 1, sizeof(*score));
    sim = sw_calloc(pool * pool + 1, sizeof(*sim));
    emb = sw_calloc((pool + 1) * dim, sizeof(*emb));
    if (!res || !order || !score || !sim || !emb) {
        rc = SW_ENOMEM;
        goto out;
    }
    got = pool < want ? pool : want;
    for (i = 0; i < got; i++)
        order[i] = i;
    if (c->mode == RANK_MODE_OUTCOME && pool > 1 && c->e->p.mmr_lambda < 1.0) {
        /* Diversity: MMR over the embeddings of what each item shows. */
        for (i = 0; i < pool; i++) {
            const char *txt = cands[i].has_snip ? h->snips[cands[i].snip].text
                                                : h->items[cands[i].item].title;
            score[i] = cands[i].score.total;
            if (rank_ranker_embed(c->e->r, c->q->team_id, txt, strlen(txt),
                                  emb + i * dim) != SW_OK)
                memset(emb + i * dim, 0, dim * sizeof(*emb));
        }
        for (i = 0; i < pool; i++)
            for (j = 0; j < pool; j++)
                sim[i * pool + j] =
                    i == j ? 1.0
                           : (double)cblas_sdot((int)dim, emb + i * dim, 1,
                                                emb + j * dim, 1);
        got = rank_mmr(score, sim, pool, c->e->p.mmr_lambda, want, order);
    }
    for (i = 0; i < got; i++) {
        struct rank_cand *cd = &cands[order[i]];
        const struct rank_hitem *it = &h->items[cd->item];
        const struct rank_hsnip *sn = cd->has_snip ? &h->snips[cd->snip] : NULL;
        struct rank_sugg *s = &res[i];
        memset(s, 0, sizeof(*s));
        s->kind = kind;
        s->score = cd->score;
        s->ev = it->ev;
        s->positive_rate =
            it->ev.threads ? (double)it->ev.positives / (double)it->ev.threads
                           : 0.0;
        s->team_rate = h->team_rate;
        s->title = it->title;
        s->content_kind = it->content_kind;
        if (kind == 'f') {
            s->target_id = sn->id;
            s->family_id = it->id;
            s->text = sn->text;
            s->content_id =
                sn->content != UINT32_MAX ? h->items[sn->content].id : "";
        } else {
            s->target_id = it->id;
            s->content_id = it->id;
            s->text = sn && sn->kind == 2 ? sn->text : "";
        }
        s->item_id =
            sw_arena_printf(c->a, "%s.%c.%s", c->sid, kind, s->target_id);
        s->explanation =
            c->q->explain ? rank_explain(c, it, cd->item, &s->score) : "";
        if (s->item_id == NULL || s->explanation == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
    }
    *out = res;
    *nout = got;
out:
    sw_free(order);
    sw_free(score);
    sw_free(sim);
    sw_free(emb);
    return rc;
}

/* rank_collect turns index hits into content and framing candidates. */
static sw_err rank_collect(struct rank_sctx *c, const uint64_t *labels,
                           const float *dists, size_t nh, struct rank_cand **fc,
                           size_t *nf, struct rank_cand **cc, size_t *nc)
{
    const struct rank_hist *h = c->h;
    long *slot = NULL;
    size_t i, j;

    slot = sw_malloc((h->nitems + 1) * sizeof(*slot));
    *fc = sw_calloc(nh + 1, sizeof(**fc));
    *cc = sw_calloc(2 * nh + 1, sizeof(**cc));
    if (!slot || !*fc || !*cc) {
        sw_free(slot);
        return SW_ENOMEM;
    }
    for (i = 0; i < h->nitems; i++)
        slot[i] = -1;
    *nf = *nc = 0;
    for (i = 0; i < nh; i++) {
        uint64_t v;
        const struct rank_hsnip *sn;
        double sim = 1.0 - (double)dists[i];
        uint32_t items[2];
        int is_passage[2];
        size_t ni = 0;

        if (!rank__map_get(&h->by_label, labels[i], &v))
            continue; /* newer than this snapshot, or deleted */
        sn = &h->snips[v];
        /* A bare introduction ("I've attached the deck.") counts for its
         * document but is not offered as a framing. */
        if (sn->kind == 1 && sn->item != UINT32_MAX &&
            !h->items[sn->item].bare) {
            items[ni] = sn->item;
            is_passage[ni++] = 0;
        }
        if (sn->content != UINT32_MAX) {
            items[ni] = sn->content;
            is_passage[ni++] = sn->kind == 2;
        }
        for (j = 0; j < ni; j++) {
            const struct rank_hitem *it = &h->items[items[j]];
            struct rank_cand *cd;
            size_t k;
            int skip = 0;
            if (it->kind == 'c')
                for (k = 0; k < c->q->n_exclude; k++)
                    skip |= strcmp(c->q->exclude_contents[k], it->id) == 0;
            if (skip)
                continue;
            if (slot[items[j]] < 0) {
                cd = it->kind == 'f' ? &(*fc)[(*nf)++] : &(*cc)[(*nc)++];
                slot[items[j]] = cd - (it->kind == 'f' ? *fc : *cc);
                cd->item = items[j];
                cd->key = it->key;
                cd->rel = -2.0;
            } else {
                cd = it->kind == 'f' ? &(*fc)[slot[items[j]]]
                                     : &(*cc)[slot[items[j]]];
            }
            if (sim > cd->rel) {
                cd->rel = sim;
                if (it->kind == 'f' || is_passage[j]) {
                    cd->snip = (uint32_t)v;
                    cd->has_snip = 1;
                }
            }
        }
    }
    sw_free(slot);
    return SW_OK;
}

sw_err rank_suggest(rank_engine *e, const struct rank_suggest_req *q,
                    struct sw_arena *a, struct rank_suggest_res *out,
                    struct sw_buf *why)
{
    struct rank_cref *hist = NULL, *model = NULL, *link = NULL;
    struct rank_cand *fc = NULL, *cc = NULL;
    struct sw_buf text;
    store_txn *t = NULL;
    struct rank_sctx c;
    uint64_t *labels = NULL;
    float *dists = NULL, *qv = NULL, *qc = NULL;
    size_t dim, nh = 0, count = 0, k, nf = 0, nc = 0;
    unsigned char hb[64];
    uint64_t sidh;
    char hex[17];
    int caught = 0;
    sw_err rc;

    if (e == NULL || q == NULL || a == NULL || out == NULL || !q->team_id ||
        !q->team_id[0])
        return SW_EINVAL;
    memset(&c, 0, sizeof(c));
    c.mode = q->mode ? q->mode : RANK_MODE_OUTCOME;
    if (c.mode < RANK_MODE_OUTCOME || c.mode > RANK_MODE_RANDOM) {
        if (why && sw_buf_addstr(why, "mode is not a RankingMode")) {
            /* the reason is optional */
        }
        return SW_EINVAL;
    }
    sw_buf_init(&text, RANK_QUERY_MAX);
    dim = rank_ranker_dim(e->r);
    /* Catch the index up first, so that the same store state always gives
     * the same candidates. */
    rc = rank_ranker_sync(e->r, q->team_id, 0, &caught);
    if (rc)
        goto out;
    rc = store_txn_begin(e->s, 0, &t);
    if (rc)
        goto out;
    rc = rank_context(t, q, &text);
    if (rc == SW_OK && q->draft && q->draft[0]) {
        rc = sw_buf_addstr(&text, q->draft);
        if (rc == SW_ETOOBIG)
            rc = SW_OK;
    }
    if (rc == SW_OK)
        rc = rank__state(e, t, q->team_id, &hist, &model, &link);
    store_txn_abort(&t);
    if (rc)
        goto out;
    c.e = e;
    c.q = q;
    c.a = a;
    c.h = hist->h;
    c.m = model ? model->m : NULL;
    qv = sw_calloc(dim, sizeof(*qv));
    if (qv == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    rc = rank_ranker_embed(e->r, q->team_id, sw_buf_str(&text),
                           sw_buf_len(&text), qv);
    if (rc == SW_EINVAL) {
        if (why && sw_buf_addstr(why, "no words to suggest from: give a "
                                      "thread with text or a draft")) {
            /* the reason is optional */
        }
        goto out;
    }
    if (rc)
        goto out;
    /* The exploration seed comes from what the request says (the query
     * text), the model and the store's state, never from server-made ids
     * (random per team): the same history and request then give the same
     * draws, in this process or another. The suggestion id also covers the
     * team and the request. */
    store_u64_put(hb, c.m ? c.m->seq : 0);
    memcpy(hb + 8, c.h->seqs, sizeof(c.h->seqs));
    c.seed = rank__hash64(sw_buf_str(&text), sw_buf_len(&text), 0x5eed);
    c.seed = rank__hash64(hb, 8 + sizeof(c.h->seqs), c.seed);
    sidh = rank__hash64(q->team_id, strlen(q->team_id), q->request_hash);
    sidh = rank__hash64(sw_buf_str(&text), sw_buf_len(&text), sidh);
    sidh = rank__hash64(hb, 8 + sizeof(c.h->seqs), sidh);
    store_u64_put(hb, sidh);
    sw_hex(hb, 8, hex);
    c.sid = sw_arena_printf(a, "sg_%s", hex);
    if (c.sid == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    if (c.m && c.m->k > 0) {
        c.xq = sw_calloc((size_t)c.m->k, sizeof(*c.xq));
        if (c.xq == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
        rc = rank__local_init(&c.loc, c.h->nitems);
        if (rc)
            goto out;
        /* The model compares contexts under its own word weights. */
        qc = sw_calloc(dim, sizeof(*qc));
        if (qc == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
        if (c.m->cdf == NULL)
            memcpy(qc, qv, dim * sizeof(*qc));
        else if (rank_ranker_embed_df(e->r, q->team_id, c.m->cdf,
                                      sw_buf_str(&text), sw_buf_len(&text),
                                      qc) != SW_OK)
            memset(qc, 0, dim * sizeof(*qc)); /* no word it weighs */
        if (rank__fold_in(c.m, qc, dim, NULL, c.xq, link ? link->l : NULL,
                          &c.loc) == 0) {
            sw_free(c.xq);
            c.xq = NULL;
        }
    }
    rc = rank_ranker_count(e->r, q->team_id, &count);
    if (rc)
        goto out;
    k = count <= 2000 ? count : 500;
    labels = sw_calloc(k + 1, sizeof(*labels));
    dists = sw_calloc(k + 1, sizeof(*dists));
    if (!labels || !dists) {
        rc = SW_ENOMEM;
        goto out;
    }
    if (k)
        rc = rank_ranker_search(e->r, q->team_id, qv, k, k, labels, dists, &nh);
    if (rc == SW_OK)
        rc = rank_collect(&c, labels, dists, nh, &fc, &nf, &cc, &nc);
    memset(out, 0, sizeof(*out));
    if (rc == SW_OK)
        rc = rank_fill(&c, cc, nc,
                       q->max_contents ? q->max_contents : RANK_SUGGEST_DEFAULT,
                       'c', &out->contents, &out->n_contents);
    if (rc == SW_OK)
        rc = rank_fill(&c, fc, nf,
                       q->max_framings ? q->max_framings : RANK_SUGGEST_DEFAULT,
                       'f', &out->framings, &out->n_framings);
    if (rc)
        goto out;
    out->suggestion_id = c.sid;
    out->model_version = c.m ? sw_arena_strdup(a, c.m->version) : "";
    out->query = sw_arena_strdup(a, sw_buf_str(&text));
    if (out->model_version == NULL || out->query == NULL)
        rc = SW_ENOMEM;
out:
    store_txn_abort(&t);
    sw_free(fc);
    sw_free(cc);
    sw_free(labels);
    sw_free(dists);
    sw_free(qv);
    sw_free(qc);
    sw_free(c.xq);
    rank__local_free(&c.loc);
    rank__cref_put(e, &hist);
    rank__cref_put(e, &model);
    rank__cref_put(e, &link);
    sw_buf_free(&text);
    return rc;
}
