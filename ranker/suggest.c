/* suggest: Suggest itself (see suggest.h): the query context, candidate
 * retrieval, scoring, MMR and explanations, over the state engine.c
 * publishes. */
#include "ranker/suggest.h"

#include <assert.h>
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

/* The addresses of a thread's participants outside the team (as far as
 * the thread's record tells: its reps left out), copied into an arena. */
struct rank_parts {
    const char **v;
    size_t n;
};

/* rank_parts_add copies the n addresses addrs (or of the store_addr
 * array sa when addrs is NULL) into p, but those equal to skip[0..ns). */
static sw_err rank_parts_add(struct sw_arena *a, struct rank_parts *p,
                             char *const *addrs, const struct store_addr *sa,
                             size_t n, char *const *skip, size_t ns)
{
    const char **v;
    size_t i, k;

    v = sw_arena_alloc(a, (p->n + n + 1) * sizeof(*v));
    if (v == NULL)
        return SW_ENOMEM;
    if (p->n)
        memcpy(v, p->v, p->n * sizeof(*v));
    p->v = v;
    for (i = 0; i < n; i++) {
        const char *x = addrs ? addrs[i] : sa[i].email;
        int mine = x == NULL || x[0] == '\0';
        for (k = 0; k < ns && !mine; k++)
            mine = strcmp(x, skip[k]) == 0;
        if (mine)
            continue;
        v[p->n] = sw_arena_strdup(a, x);
        if (v[p->n] == NULL)
            return SW_ENOMEM;
        p->n++;
    }
    return SW_OK;
}

/* rank_email_parts adds the addresses of em (sender, To, Cc; its rep
 * left out) to p. */
static sw_err rank_email_parts(struct sw_arena *a, struct rank_parts *p,
                               const struct store_email *em)
{
    char *from = em->from_email, *rep = em->rep_email;
    sw_err rc;

    rc = rank_parts_add(a, p, &from, NULL, 1, &rep, rep && rep[0] ? 1 : 0);
    if (rc == SW_OK)
        rc = rank_parts_add(a, p, NULL, em->to, em->n_to, &rep,
                            rep && rep[0] ? 1 : 0);
    if (rc == SW_OK)
        rc = rank_parts_add(a, p, NULL, em->cc, em->n_cc, &rep,
                            rep && rep[0] ? 1 : 0);
    return rc;
}

/* rank_context appends the thread's context to b: the subject and text of
 * the last inbound message (or of the last message); and adds the
 * thread's participants but its reps to parts (in a). */
static sw_err rank_context(store_txn *t, const struct rank_suggest_req *q,
                           struct sw_buf *b, struct sw_arena *a,
                           struct rank_parts *parts)
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
        if (rc == SW_OK)
            rc = rank_parts_add(a, parts, th.participants, NULL,
                                th.n_participants, th.rep_emails,
                                th.n_rep_emails);
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
        if (rc == SW_OK)
            rc = rank_email_parts(a, parts, &em);
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

/* rank_decompose decomposes the draft and the thread's text (b, which
 * holds no draft yet) against the clock, and merges them
 * (rank_query_merge). */
static void rank_decompose(const struct rank_suggest_req *q,
                           const struct sw_buf *b, struct rank_query *out)
{
    struct rank_query d, c;
    int64_t now = sw_now_ms();

    rank_query_decompose(q->draft, now, &d);
    rank_query_decompose(sw_buf_str(b), now, &c);
    rank_query_merge(&d, &c, out);
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
    struct rank_acct_evid acct; /* its record with the request's accounts */
    struct rank_sugg_fb fb;     /* the feedback it has had */
};

struct rank_sctx {
    rank_ranker *r;
    const struct rank_params *p;
    const struct rank_suggest_req *q;
    const struct rank_hist *h;
    const struct rank_model *m;
    const struct rank_fb *fb; /* feedback by item; NULL: none yet */
    struct sw_arena *a;
    const char *sid;
    const unsigned char *secret; /* of the ids (rank__engine_secret) */
    double *xq;
    struct rank_local loc; /* evidence of the threads most like the query */
    uint64_t seed;
    int mode;
    uint32_t acc[RANK_SUGGEST_ACCOUNTS]; /* the request's accounts that the
                                            statistics know */
    size_t nacc;
    const char *acct_names;   /* their domains, ", " between */
    struct rank_account acct; /* their records summed (domain unused) */
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

/* rank_explain_account says how item did with the request's accounts
 * (acct, its record there): "" when it has no thread there, NULL when
 * out of memory. */
static const char *rank_explain_account(struct rank_sctx *c,
                                        const struct rank_acct_evid *acct)
{
    const struct rank_account *all = &c->acct;

    if (acct->threads <= 0)
        return "";
    return sw_arena_printf(
        c->a,
        "; in %lld thread%s with %s, %.0f%% positive (the team's %lld "
        "thread%s there: %.0f%%)",
        (long long)acct->threads, acct->threads == 1 ? "" : "s", c->acct_names,
        100.0 * (double)acct->positives / (double)acct->threads,
        (long long)all->threads, all->threads == 1 ? "" : "s",
        all->mature ? 100.0 * (double)all->positives / (double)all->mature
                    : 0.0);
}

/* rank_fb_phrase appends to b, after lead, the nonzero verdict counts
 * of c ("; you: 2 dismissed, 1 thumbs down"); nothing when none. */
static sw_err rank_fb_phrase(struct sw_buf *b, const char *lead,
                             const struct rank_fb_counts *c)
{
    static const int kinds[] = {RANK_FB_THUMBS_UP, RANK_FB_DISMISSED,
                                RANK_FB_THUMBS_DOWN};
    size_t i;
    const char *sep = lead;
    sw_err rc = SW_OK;

    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]) && rc == SW_OK; i++) {
        if (c->n[kinds[i]] == 0)
            continue;
        rc = sw_buf_printf(b, "%s%lld %s", sep, (long long)c->n[kinds[i]],
                           rank_fb_kind_name(kinds[i]));
        sep = ", ";
    }
    return rc;
}

/* rank_explain_feedback says what the rep and the team did with the item
 * when suggested: "" when nothing that moved it, NULL when out of
 * memory. */
static const char *rank_explain_feedback(struct rank_sctx *c,
                                         const struct rank_sugg_fb *fb)
{
    struct sw_buf b;
    const char *out;
    sw_err rc;

    sw_buf_init(&b, 1024);
    rc = rank_fb_phrase(&b, "; you: ", &fb->rep);
    if (rc == SW_OK)
        rc = rank_fb_phrase(&b, "; the team: ", &fb->team);
    if (rc == SW_OK && fb->pending)
        rc = sw_buf_printf(&b, "; inserted %lld time%s in mail not yet sent",
                           (long long)fb->pending, fb->pending == 1 ? "" : "s");
    out = rc == SW_OK ? sw_arena_strdup(c->a, sw_buf_str(&b)) : NULL;
    sw_buf_free(&b);
    return out;
}

static const char *rank_explain(struct rank_sctx *c,
                                const struct rank_hitem *it, size_t ii,
                                const struct rank_score *s,
                                const struct rank_acct_evid *acct,
                                const struct rank_sugg_fb *fb)
{
    const struct rank_evid *v = &it->ev;
    double rate = v->threads ? (double)v->positives / (double)v->threads : 0;
    const char *base, *local = "", *account,
                      *said = rank_explain_feedback(c, fb);
    size_t at;

    if (said == NULL)
        return NULL;
    if (v->threads == 0)
        return sw_arena_printf(c->a,
                               "new: not used in a thread yet; shown to "
                               "learn how it works (relevance %.2f)%s",
                               s->relevance, said);
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
    if (base && c->loc.threads && rank__local_at(&c->loc, ii, &at) &&
        c->loc.uses[at] >= 1)
        local = sw_arena_printf(
            c->a,
            "; in threads like this one %.0f%% positive (%.1f uses weighted "
            "by how alike their threads are)",
            100.0 * c->loc.pos[at] / c->loc.uses[at], c->loc.uses[at]);
    account = rank_explain_account(c, acct);
    if (base == NULL || local == NULL || account == NULL)
        return NULL;
    return sw_arena_printf(c->a, "%s%s%s%s", base, local, account, said);
}

/* rank_cand_feedback fills *fb with the feedback on item it: the team's,
 * the requesting rep's, and its inserts not yet in the statistics (those
 * of the last p->mature_ms before the newest feedback: an insert whose
 * mail has not come by then was not sent). */
static void rank_cand_feedback(struct rank_sctx *c, const struct rank_hitem *it,
                               struct rank_sugg_fb *fb)
{
    const struct rank_fb_entry *team = rank_fb_get(c->fb, it, NULL);
    const struct rank_fb_entry *rep =
        c->q->rep_email && c->q->rep_email[0]
            ? rank_fb_get(c->fb, it, c->q->rep_email)
            : NULL;

    memset(fb, 0, sizeof(*fb));
    if (team) {
        fb->team = team->c;
        fb->pending = rank_fb_pending(team, it->ev.last_ms,
                                      c->fb->now_ms - c->p->mature_ms);
    }
    if (rep)
        fb->rep = rep->c;
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
    size_t dim = rank_ranker_dim(c->r);
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
        rank__score(c->p, h, it, cands[i].item, &c->loc, cands[i].rel, collab,
                    c->seed, c->mode, &cands[i].score);
        rank_account_sum(h, c->acc, c->nacc, cands[i].item, &cands[i].acct);
        /* An account the team barely knows moves nothing: on five or six
         * threads, what looks like its taste is mostly chance. */
        if ((double)c->acct.mature >= c->p->account_min_mature)
            rank__score_account(c->p, it, &cands[i].acct, c->mode,
                                &cands[i].score);
        rank_cand_feedback(c, it, &cands[i].fb);
        rank__score_feedback(c->p, it, &cands[i].fb, c->mode, &cands[i].score);
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
    if (c->mode == RANK_MODE_OUTCOME && pool > 1 && c->p->mmr_lambda < 1.0) {
        /* Diversity: MMR over the embeddings of what each item shows. */
        for (i = 0; i < pool; i++) {
            const char *txt = cands[i].has_snip ? h->snips[cands[i].snip].text
                                                : h->items[cands[i].item].title;
            score[i] = cands[i].score.total;
            if (rank_ranker_embed(c->r, c->q->team_id, txt, strlen(txt),
                                  emb + i * dim) != SW_OK)
                memset(emb + i * dim, 0, dim * sizeof(*emb));
        }
        for (i = 0; i < pool; i++)
            for (j = 0; j < pool; j++)
                sim[i * pool + j] =
                    i == j ? 1.0
                           : (double)cblas_sdot((int)dim, emb + i * dim, 1,
                                                emb + j * dim, 1);
        got = rank_mmr(score, sim, pool, c->p->mmr_lambda, want, order);
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
        s->acct = cd->acct;
        s->fb = cd->fb;
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
        /* The statistics may be swapped out and freed as soon as the call
         * drops its reference, before the response is encoded: every
         * string goes into the call's arena. */
        s->title = sw_arena_strdup(c->a, s->title);
        s->target_id = sw_arena_strdup(c->a, s->target_id);
        s->family_id =
            s->family_id ? sw_arena_strdup(c->a, s->family_id) : NULL;
        s->text = sw_arena_strdup(c->a, s->text);
        s->content_id = sw_arena_strdup(c->a, s->content_id);
        if (s->target_id == NULL ||
            rank__item_make(c->secret, c->q->team_id, c->sid, kind,
                            s->target_id, c->a, &s->item_id) != SW_OK)
            s->item_id = NULL;
        s->explanation =
            c->q->explain
                ? rank_explain(c, it, cd->item, &s->score, &cd->acct, &cd->fb)
                : "";
        if (s->item_id == NULL || s->explanation == NULL || !s->title ||
            !s->target_id || (kind == 'f' && !s->family_id) || !s->text ||
            !s->content_id) {
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
    struct rank__map slot; /* item index → its candidate */
    size_t i, j;
    sw_err rc = SW_OK;

    memset(&slot, 0, sizeof(slot));
    *fc = sw_calloc(nh + 1, sizeof(**fc));
    *cc = sw_calloc(2 * nh + 1, sizeof(**cc));
    if (!*fc || !*cc)
        return SW_ENOMEM;
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
            uint64_t sv;
            if (!rank__map_get(&slot, items[j], &sv)) {
                cd = it->kind == 'f' ? &(*fc)[(*nf)++] : &(*cc)[(*nc)++];
                rc = rank__map_put(
                    &slot, items[j],
                    (uint64_t)(cd - (it->kind == 'f' ? *fc : *cc)));
                if (rc)
                    goto out;
                cd->item = items[j];
                cd->key = it->key;
                cd->rel = -2.0;
            } else {
                cd = it->kind == 'f' ? &(*fc)[sv] : &(*cc)[sv];
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
out:
    rank__map_free(&slot);
    return rc;
}

/* rank_account_add adds the account named key (not the team's own) to
 * the request's context in out, once, and when the statistics know it to
 * c's accounts, its domain to c->acct_names and its record to c->acct. */
static sw_err rank_account_add(struct rank_sctx *c, const char *key,
                               struct rank_suggest_res *out)
{
    struct rank_sugg_account *v = &out->accounts[out->n_accounts];
    const struct rank_account *ac;
    long ai;
    size_t j;

    for (j = 0; j < out->n_accounts; j++)
        if (strcmp(out->accounts[j].domain, key) == 0)
            return SW_OK;
    memset(v, 0, sizeof(*v));
    v->domain = sw_arena_strdup(c->a, key);
    if (v->domain == NULL)
        return SW_ENOMEM;
    out->n_accounts++;
    ai = rank_account_find(c->h, key);
    if (ai < 0)
        return SW_OK; /* no thread with it yet: listed, no evidence */
    ac = &c->h->accounts[ai];
    v->threads = ac->threads;
    v->mature = ac->mature;
    v->positives = ac->positives;
    c->acc[c->nacc++] = (uint32_t)ai;
    c->acct.threads += ac->threads;
    c->acct.mature += ac->mature;
    c->acct.positives += ac->positives;
    c->acct_names = c->acct_names[0]
                        ? sw_arena_printf(c->a, "%s, %s", c->acct_names, key)
                        : v->domain;
    return c->acct_names ? SW_OK : SW_ENOMEM;
}

/* rank_accounts makes the request's account context in out: the
 * accounts (rank_account_key) of the recipients, then of the thread's
 * participants parts, each once, the team's own domains left out, at
 * most RANK_SUGGEST_ACCOUNTS. */
static sw_err rank_accounts(struct rank_sctx *c, const struct rank_parts *parts,
                            struct rank_suggest_res *out)
{
    const struct rank_suggest_req *q = c->q;
    size_t i, n = q->n_recipients + parts->n;
    char key[RANK_ACCOUNT_KEY_MAX];
    sw_err rc = SW_OK;

    c->acct_names = "";
    out->accounts =
        sw_arena_alloc(c->a, RANK_SUGGEST_ACCOUNTS * sizeof(*out->accounts));
    if (out->accounts == NULL)
        return SW_ENOMEM;
    for (i = 0; rc == SW_OK && i < n; i++) {
        const char *ad = i < q->n_recipients ? q->recipients[i]
                                             : parts->v[i - q->n_recipients];
        if (out->n_accounts == RANK_SUGGEST_ACCOUNTS)
            break;
        if (rank_account_key(ad, key, sizeof(key)) == 0 ||
            rank_account_own(c->h, key))
            continue;
        rc = rank_account_add(c, key, out);
    }
    assert(c->nacc <= out->n_accounts);
    return rc;
}

/* rank_model_terms computes what the serving model adds for the nc + nf
 * candidates: the query's context vector c->xq (NULL when the model finds
 * no neighbour) and, in c->loc, the evidence of the past threads most like
 * the query, for those candidates' items only. text is the query. */
static sw_err rank_model_terms(struct rank_sctx *c, const struct sw_buf *text,
                               const float *qv, const struct rank_link *link,
                               const struct rank_cand *fc, size_t nf,
                               const struct rank_cand *cc, size_t nc)
{
    size_t dim = rank_ranker_dim(c->r), i;
    uint32_t *items = NULL;
    float *qc = NULL;
    sw_err rc = SW_OK;

    c->xq = sw_calloc((size_t)c->m->k, sizeof(*c->xq));
    items = sw_calloc(nf + nc + 1, sizeof(*items));
    qc = sw_calloc(dim, sizeof(*qc));
    if (c->xq == NULL || items == NULL || qc == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    for (i = 0; i < nf; i++)
        items[i] = fc[i].item;
    for (i = 0; i < nc; i++)
        items[nf + i] = cc[i].item;
    rc = rank__local_init_for(&c->loc, items, nf + nc, c->h->nitems);
    if (rc)
        goto out;
    /* The model compares contexts under its own word weights. */
    if (c->m->cdf == NULL)
        memcpy(qc, qv, dim * sizeof(*qc));
    else if (rank_ranker_embed_df(c->r, c->q->team_id, c->m->cdf,
                                  sw_buf_str(text), sw_buf_len(text),
                                  qc) != SW_OK)
        memset(qc, 0, dim * sizeof(*qc)); /* no word it weighs */
    if (rank__fold_in(c->m, qc, dim, NULL, c->xq, link, &c->loc) == 0) {
        sw_free(c->xq);
        c->xq = NULL;
    }
out:
    sw_free(items);
    sw_free(qc);
    return rc;
}

/* rank_cand_matches: candidate c's content item is of one of qd's kinds
 * (by_range 0) or was used within qd's range (by_range 1). */
static int rank_cand_matches(const struct rank_hist *h,
                             const struct rank_query *qd, int by_range,
                             const struct rank_cand *c)
{
    const struct rank_hitem *it = &h->items[c->item];
    size_t k;

    if (!by_range) {
        for (k = 0; k < qd->n_kinds; k++)
            if (it->content_kind == qd->kinds[k])
                return 1;
        return 0;
    }
    if (it->ev.times_used == 0)
        return 0;
    return (qd->end_ms == 0 || it->ev.first_ms < qd->end_ms) &&
           (qd->start_ms == 0 || it->ev.last_ms >= qd->start_ms);
}

/* rank_keep_matching keeps, in order, the content candidates that match
 * what the query asks for, when at least one does; otherwise all of them:
 * a kind or a date the team has no content for filters nothing. A content
 * item matches a range when its outbound uses, from the first to the
 * latest, overlap it. Returns the candidates kept. */
static size_t rank_keep_matching(const struct rank_hist *h,
                                 const struct rank_query *qd, int by_range,
                                 struct rank_cand *cc, size_t nc)
{
    size_t i, j, kept = 0;

    for (i = 0; i < nc; i++)
        if (rank_cand_matches(h, qd, by_range, &cc[i]))
            kept++;
    if (kept == 0 || kept == nc)
        return nc;
    for (i = 0, j = 0; i < nc; i++)
        if (rank_cand_matches(h, qd, by_range, &cc[i]))
            cc[j++] = cc[i];
    assert(j == kept);
    return kept;
}

sw_err rank_suggest(rank_engine *e, const struct rank_suggest_req *q,
                    struct sw_arena *a, struct rank_suggest_res *out,
                    struct sw_buf *why)
{
    struct rank_state st;
    struct rank_fresh fresh;
    struct rank_query qd;
    struct rank_hist *prov = NULL;
    struct rank_cand *fc = NULL, *cc = NULL;
    struct rank_parts parts = {NULL, 0};
    struct sw_buf text;
    store_txn *t = NULL;
    struct rank_sctx c;
    uint64_t *labels = NULL;
    float *dists = NULL, *qv = NULL, *qa = NULL;
    size_t dim, nh = 0, count = 0, k, nf = 0, nc = 0;
    unsigned char hb[64];
    uint64_t sidh;
    rank_ranker *r;
    int caught = 0;
    sw_err rc;

    if (e == NULL || q == NULL || a == NULL || out == NULL || !q->team_id ||
        !q->team_id[0])
        return SW_EINVAL;
    memset(&c, 0, sizeof(c));
    memset(&qd, 0, sizeof(qd));
    memset(&st, 0, sizeof(st));
    c.mode = q->mode ? q->mode : RANK_MODE_OUTCOME;
    if (c.mode < RANK_MODE_OUTCOME || c.mode > RANK_MODE_RANDOM) {
        if (why && sw_buf_addstr(why, "mode is not a RankingMode")) {
            /* the reason is optional */
        }
        return SW_EINVAL;
    }
    sw_buf_init(&text, RANK_QUERY_MAX);
    r = rank_engine_ranker(e);
    dim = rank_ranker_dim(r);
    /* An engine that was never started (tests, tools) catches the index up
     * first, so that the same store state always gives the same
     * candidates; a started one leaves that to the indexer. */
    if (rank__engine_inline(e)) {
        rc = rank_ranker_sync(r, q->team_id, 0, &caught);
        if (rc)
            goto out;
    }
    rc = store_txn_begin(rank_engine_store(e), 0, &t);
    if (rc)
        goto out;
    rc = rank_context(t, q, &text, a, &parts);
    if (rc == SW_OK)
        rank_decompose(q, &text, &qd);
    if (rc == SW_OK && q->draft && q->draft[0]) {
        rc = sw_buf_addstr(&text, q->draft);
        if (rc == SW_ETOOBIG)
            rc = SW_OK;
    }
    if (rc == SW_OK)
        rc = rank__state(e, t, q->team_id, &st, &fresh);
    store_txn_abort(&t);
    if (rc)
        goto out;
    c.r = r;
    c.p = rank_engine_params(e);
    c.q = q;
    c.a = a;
    c.h = st.hist ? st.hist->h : NULL; /* NULL: provisional, below */
    c.m = st.model ? st.model->m : NULL;
    c.fb = st.fb ? st.fb->fb : NULL;
    qv = sw_calloc(dim, sizeof(*qv));
    if (qv == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    rc = rank_ranker_embed(r, q->team_id, sw_buf_str(&text), sw_buf_len(&text),
                           qv);
    if (rc == SW_EINVAL) {
        if (why && sw_buf_addstr(why, "no words to suggest from: give a "
                                      "thread with text or a draft")) {
            /* the reason is optional */
        }
        goto out;
    }
    if (rc)
        goto out;
    /* The promoted adapter maps the query (never the stored vectors):
     * search and relevance see A q; the model's fold-in compares contexts
     * with contexts and keeps the plain vector. */
    if (c.m && c.m->adapter && c.p->use_adapter && c.m->adapter->dim == dim) {
        qa = sw_malloc(dim * sizeof(*qa));
        if (qa == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
        rank_adapter_apply(c.m->adapter, qv, qa);
    }
    /* The exploration seed comes from what the request says (the query
     * text), the model and the store's state, never from server-made ids
     * (random per team): the same history and request then give the same
     * draws, in this process or another. The suggestion id also covers the
     * team and the request. */
    store_u64_put(hb, c.m ? c.m->seq : 0);
    memcpy(hb + 8, fresh.seqs, sizeof(fresh.seqs));
    c.seed = rank__hash64(sw_buf_str(&text), sw_buf_len(&text), 0x5eed);
    c.seed = rank__hash64(hb, 8 + sizeof(fresh.seqs), c.seed);
    /* The id also names the feedback ranked with (not the seed: feedback
     * reorders items, it does not redraw them). */
    store_u64_put(hb + 8 + sizeof(fresh.seqs), c.fb ? c.fb->seq : 0);
    sidh = rank__hash64(q->team_id, strlen(q->team_id), q->request_hash);
    sidh = rank__hash64(sw_buf_str(&text), sw_buf_len(&text), sidh);
    sidh = rank__hash64(hb, 16 + sizeof(fresh.seqs), sidh);
    c.secret = rank__engine_secret(e);
    rc = rank__sid_make(c.secret, q->team_id, sidh, a, &c.sid);
    if (rc)
        goto out;
    rc = rank_ranker_count(r, q->team_id, &count);
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
        rc = rank_ranker_search(r, q->team_id, qa ? qa : qv, k, k, labels,
                                dists, &nh);
    if (rc == SW_OK && c.h == NULL) {
        /* The team's first statistics are still being built: rank the
         * hits by similarity alone (no evidence yet), and say so. */
        rc = store_txn_begin(rank_engine_store(e), 0, &t);
        if (rc == SW_OK)
            rc = rank_hist_provisional(t, q->team_id, c.p, labels, nh, &prov);
        store_txn_abort(&t);
        c.h = prov;
    }
    if (rc == SW_OK)
        rc = rank_collect(&c, labels, dists, nh, &fc, &nf, &cc, &nc);
    if (rc == SW_OK && c.m && c.m->k > 0 && st.hist)
        rc = rank_model_terms(&c, &text, qv, st.link ? st.link->l : NULL, fc,
                              nf, cc, nc);
    memset(out, 0, sizeof(*out));
    if (rc == SW_OK)
        rc = rank_accounts(&c, &parts, out);
    if (rc == SW_OK && qd.about_content) {
        /* What the draft asks for comes first: its kinds, then its dates. */
        if (qd.n_kinds)
            nc = rank_keep_matching(c.h, &qd, 0, cc, nc);
        if (qd.has_range)
            nc = rank_keep_matching(c.h, &qd, 1, cc, nc);
    }
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
    out->fresh = fresh;
    out->model_version = c.m ? sw_arena_strdup(a, c.m->version) : "";
    out->query = sw_arena_strdup(a, sw_buf_str(&text));
    out->decomposition = qd;
    if (out->model_version == NULL || out->query == NULL)
        rc = SW_ENOMEM;
out:
    store_txn_abort(&t);
    sw_free(fc);
    sw_free(cc);
    sw_free(labels);
    sw_free(dists);
    sw_free(qv);
    sw_free(qa);
    sw_free(c.xq);
    rank__local_free(&c.loc);
    rank__state_put(e, &st);
    rank_hist_free(&prov);
    sw_buf_free(&text);
    return rc;
}
