/* hist: builds a team's ranking history from one store snapshot (see
 * hist.h): families, attribution of graded outcomes to the items used,
 * evidence counts and shrunk priors. */
#include "ranker/hist.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/sw_mem.h"
#include "ranker/account_int.h"
#include "ranker/hist_build.h"
#include "ranker/hist_int.h"
#include "ranker/index.h"
#include "store/store_erase.h"
#include "store/store_hist.h"
#include "store/store_mail.h"
#include "store/store_outcome.h"
#include "store/store_snippet.h"

#define RANK_CONTEXT_MAX 1500
#define RANK_NONE UINT32_MAX

double rank_grade(int kind)
{
    switch (kind) {
    case RANK_K_POSITIVE:
        return 1.0;
    case RANK_K_MEETING:
        return 2.0;
    case RANK_K_WON:
        return 3.0;
    case RANK_K_NEGATIVE:
        return -0.5;
    case RANK_K_UNSUB:
        return -1.5;
    case RANK_K_BOUNCE:
        return -0.5;
    default:
        return 0.0; /* neutral, out-of-office, lost (the meeting counted) */
    }
}

int rank_is_positive(int kind)
{
    return kind == RANK_K_POSITIVE || kind == RANK_K_MEETING ||
           kind == RANK_K_WON;
}

int rank_best_outcome(const uint32_t *counts)
{
    /* Best first: by rank_grade, then by how far the thread got. */
    static const int order[] = {
        RANK_K_WON,      RANK_K_MEETING, RANK_K_POSITIVE,
        RANK_K_LOST,     RANK_K_NEUTRAL, RANK_K_OOO,
        RANK_K_NEGATIVE, RANK_K_BOUNCE,  RANK_K_UNSUB,
    };
    size_t i;

    for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        assert(i == 0 || rank_grade(order[i]) <= rank_grade(order[i - 1]));
        if (counts[order[i]])
            return order[i];
    }
    return 0;
}

void rank_params_default(struct rank_params *p)
{
    p->prior_strength = 8.0;
    p->window_ms = 30LL * 24 * 3600 * 1000;
    p->mature_ms = 3LL * 24 * 3600 * 1000;
    p->family_jaccard = 0.6;
    p->family_words = 0.6;
    p->w_relevance = 0.6;
    p->w_outcome = 1.0;
    p->w_collab = 0.25;
    p->w_explore = 1.5;
    p->wc_relevance = 8.0;
    p->wc_outcome = 0.25;
    p->wc_collab = 0.5;
    p->wc_adoption = 0.4;
    p->wc_explore = 0.35;
    p->local_strength = 2.0;
    p->usage_strength = 8.0;
    p->w_usage = 0.8;
    p->wc_usage = 0.8;
    p->mmr_lambda = 0.85;
    p->account_strength = 4.0;
    p->account_min_mature = 8.0;
    p->w_account = 1.0;
    p->wc_account = 1.0;
    p->feedback_strength = 10.0;
    p->w_feedback = 1.0;
    p->wc_feedback = 2.0;
    p->use_adapter = 1;
}

/* --- growable arrays ----------------------------------------------------- */

void *rank__vec_push(void **arr, size_t *n, size_t *cap, size_t elsz)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        void *p = sw_realloc(*arr, nc * elsz);
        if (p == NULL)
            return NULL;
        *arr = p;
        *cap = nc;
    }
    memset((char *)*arr + *n * elsz, 0, elsz);
    return (char *)*arr + (*n)++ * elsz;
}

/* rank_keep_first keeps in (*ms, *text) the context "subject\nbody" (body
 * cut at max bytes) of the earliest message; at the same time the smaller
 * text wins, so that the choice never depends on the order the store
 * lists mail in (by random id). Only a kept or tied text is formatted. */
static sw_err rank_keep_first(struct sw_arena *a, int64_t sent_ms,
                              const char *subject, const char *body, int max,
                              int64_t *ms, char **text)
{
    char *x;

    if (*text && sent_ms > *ms)
        return SW_OK;
    x = sw_arena_printf(a, "%s\n%.*s", subject, max, body);
    if (x == NULL)
        return SW_ENOMEM;
    if (*text == NULL || sent_ms < *ms || strcmp(x, *text) < 0) {
        *ms = sent_ms;
        *text = x;
    }
    return SW_OK;
}

char rank__text_unknown[] = "";

uint64_t rank__hash_str(const char *s)
{
    return rank__hash64(s, strlen(s), 0x5157);
}

sw_err rank__build_item(struct rank_build *b, int kind, const char *id,
                        const char *title, const char *sha_hex, int ckind,
                        uint32_t *out)
{
    struct rank_hist *h = b->h;
    struct rank_hitem *it;

    it = rank__vec_push((void **)&h->items, &h->nitems, &b->citems,
                        sizeof(*h->items));
    if (it == NULL)
        return SW_ENOMEM;
    it->kind = kind;
    it->id = sw_arena_strdup(&h->arena, id);
    it->title = sw_arena_strndup(&h->arena, title, 300);
    it->key = it->title && it->title[0]
                  ? it->title
                  : (sha_hex && sha_hex[0]
                         ? sw_arena_printf(&h->arena, "sha256:%s", sha_hex)
                         : it->id);
    it->content_kind = ckind;
    it->rep = RANK_NONE;
    if (it->id == NULL || it->title == NULL || it->key == NULL)
        return SW_ENOMEM;
    *out = (uint32_t)(h->nitems - 1);
    return rank__map_put(&h->by_item, rank__hash_str(id), *out);
}

sw_err rank__build_content_cb(const struct store_content *c, void *arg)
{
    struct rank_build *b = arg;
    uint32_t idx;

    return rank__build_item(b, 'c', c->content_id, c->filename, c->sha256_hex,
                            c->kind, &idx);
}

static sw_err rank_snippet_cb(const struct store_snippet *s, void *arg)
{
    struct rank_build *b = arg;
    struct rank_tsnip *t;

    if (s->deleted || s->text[0] == '\0')
        return SW_OK;
    t = rank__vec_push((void **)&b->ts, &b->nts, &b->cts, sizeof(*b->ts));
    if (t == NULL)
        return SW_ENOMEM;
    t->id = sw_strdup(s->snippet_id);
    t->text = sw_strdup(s->text);
    t->content_id = sw_strdup(s->content_id);
    t->email_id = sw_strdup(s->email_id);
    t->kind = s->kind;
    t->create_ms = s->create_ms;
    if (!t->id || !t->text || !t->content_id || !t->email_id)
        return SW_ENOMEM;
    return SW_OK;
}

sw_err rank__build_thread(struct rank_build *b, const char *id, uint32_t *out)
{
    struct rank_hist *h = b->h;
    uint64_t hv = rank__hash_str(id), v;
    struct rank_hthread *th;
    struct rank_tthread *tt;
    size_t ctt = b->ctt;

    if (rank__map_get(&b->thread_by_id, hv, &v)) {
        *out = (uint32_t)v;
        return SW_OK;
    }
    th = rank__vec_push((void **)&h->threads, &h->nthreads, &b->cthreads,
                        sizeof(*h->threads));
    if (th == NULL)
        return SW_ENOMEM;
    {
        size_t n = h->nthreads - 1;
        tt = rank__vec_push((void **)&b->tt, &n, &ctt, sizeof(*b->tt));
        b->ctt = ctt;
        if (tt == NULL)
            return SW_ENOMEM;
    }
    th->id = sw_arena_strdup(&h->arena, id);
    th->hash = hv;
    if (th->id == NULL)
        return SW_ENOMEM;
    *out = (uint32_t)(h->nthreads - 1);
    return rank__map_put(&b->thread_by_id, hv, *out);
}

sw_err rank__build_email_cb(const struct store_email *e, void *arg)
{
    struct rank_build *b = arg;
    struct rank_hist *h = b->h;
    struct rank_temail *te;
    uint32_t th;
    uint64_t v;
    size_t i;
    sw_err rc;

    rc = rank__build_thread(b, e->thread_id, &th);
    if (rc)
        return rc;
    te = rank__vec_push((void **)&b->te, &b->nte, &b->cte, sizeof(*b->te));
    if (te == NULL)
        return SW_ENOMEM;
    te->thread = th;
    te->out = e->direction == 1;
    rc = rank__acct_email(b->ab, &h->arena, th, e);
    if (rc)
        return rc;
    te->sent_ms = e->sent_ms ? e->sent_ms : e->ingest_ms;
    te->rep = rank__hash_str(e->rep_email[0] ? e->rep_email : e->from_email);
    te->id = rank__hash_str(e->email_id);
    if (te->sent_ms > h->now_ms)
        h->now_ms = te->sent_ms;
    if (te->out && e->n_contents) {
        te->citems = sw_calloc(e->n_contents, sizeof(*te->citems));
        if (te->citems == NULL)
            return SW_ENOMEM;
        for (i = 0; i < e->n_contents; i++)
            if (rank__map_get(&h->by_item,
                              rank__hash_str(e->contents[i].content_id), &v))
                te->citems[te->nc++] = (uint32_t)v;
    }
    if (te->out) {
        struct rank_hthread *t = &h->threads[th];
        struct rank_tthread *tt = &b->tt[th];
        if (t->first_out_ms == 0 || te->sent_ms < t->first_out_ms)
            t->first_out_ms = te->sent_ms;
        /* Out-of-thread memory: the first outbound text stands in for the
         * context of a thread without an inbound message (a cold mail). */
        rc = rank_keep_first(&h->arena, te->sent_ms, e->subject,
                             e->new_text[0] ? e->new_text : e->body_text, 300,
                             &tt->first_out_ms, &tt->first_out_text);
        if (rc)
            return rc;
    } else {
        struct rank_tthread *tt = &b->tt[th];
        rc = rank_keep_first(&h->arena, te->sent_ms, e->subject,
                             e->new_text[0] ? e->new_text : e->body_text,
                             RANK_CONTEXT_MAX, &tt->first_in_ms,
                             &tt->first_in_text);
        if (rc)
            return rc;
    }
    return rank__map_put(&b->email_by_id, rank__hash_str(e->email_id),
                         b->nte - 1);
}

sw_err rank__build_outcome_cb(const struct store_outcome *o, void *arg)
{
    struct rank_build *b = arg;
    struct rank_toutcome *t;
    uint64_t v;

    if (!rank__map_get(&b->thread_by_id, rank__hash_str(o->thread_id), &v))
        return SW_OK; /* a thread without mail (cannot happen in practice) */
    t = rank__vec_push((void **)&b->to, &b->nto, &b->cto, sizeof(*b->to));
    if (t == NULL)
        return SW_ENOMEM;
    t->thread = (uint32_t)v;
    t->kind = o->kind;
    t->occur_ms = o->occur_ms;
    if (o->occur_ms > b->h->now_ms)
        b->h->now_ms = o->occur_ms;
    return SW_OK;
}

int rank__tsnip_age_cmp(const void *x, const void *y)
{
    const struct rank_tsnip *a = x, *b = y;

    int k;

    if (a->create_ms != b->create_ms)
        return a->create_ms < b->create_ms ? -1 : 1;
    /* Same time (snippets of one email, or mails sent the same minute):
     * order by what they say before their random ids, so that a family's
     * oldest member, its title, is the same in every store with this
     * history. */
    k = strcmp(a->text ? a->text : "", b->text ? b->text : "");
    if (k)
        return k;
    return strcmp(a->id, b->id);
}

/* rank_build_snippets sorts the snippets oldest first, clusters the
 * framings into families and fills h->snips. */
static sw_err rank_build_snippets(struct rank_build *b)
{
    struct rank_hist *h = b->h;
    const char **texts = NULL;
    uint32_t *fam = NULL, *famitem = NULL, idx;
    size_t i, nf = 0;
    uint64_t v;
    sw_err rc = SW_ENOMEM;

    if (b->nts)
        qsort(b->ts, b->nts, sizeof(*b->ts), rank__tsnip_age_cmp);
    texts = sw_calloc(b->nts + 1, sizeof(*texts));
    fam = sw_calloc(b->nts + 1, sizeof(*fam));
    famitem = sw_calloc(b->nts + 1, sizeof(*famitem));
    h->snips = sw_arena_alloc(&h->arena, (b->nts + 1) * sizeof(*h->snips));
    if (!texts || !fam || !famitem || !h->snips)
        goto out;
    for (i = 0; i < b->nts; i++)
        if (b->ts[i].kind == STORE_SNIPPET_FRAMING)
            texts[nf++] = b->ts[i].text;
    rc = rank_family_cluster_cached(texts, nf, b->p->family_jaccard,
                                    b->p->family_words, b->sigs, fam);
    if (rc)
        goto out;
    for (i = 0, nf = 0; i < b->nts; i++) {
        struct rank_tsnip *t = &b->ts[i];
        struct rank_hsnip *s = &h->snips[h->nsnips];
        uint64_t label;

        if (rank_id_label(t->id, &label) != SW_OK)
            continue; /* not an indexable id */
        s->id = sw_arena_strdup(&h->arena, t->id);
        s->text = sw_arena_strdup(&h->arena, t->text);
        if (s->id == NULL || s->text == NULL) {
            rc = SW_ENOMEM;
            goto out;
        }
        s->label = label;
        s->kind = t->kind;
        s->create_ms = t->create_ms;
        s->content = RANK_NONE;
        s->item = RANK_NONE;
        if (t->content_id[0] &&
            rank__map_get(&h->by_item, rank__hash_str(t->content_id), &v))
            s->content = (uint32_t)v;
        if (t->kind == STORE_SNIPPET_FRAMING) {
            uint32_t root = fam[nf];
            if (root == nf) { /* the oldest member founds the family */
                char fid[21];
                rank_family_id(t->id, fid);
                rc = rank__build_item(b, 'f', fid, t->text, NULL, 0, &idx);
                if (rc)
                    goto out;
                h->items[idx].rep = (uint32_t)h->nsnips;
                h->items[idx].bare = rank_bare_framing(
                    t->text,
                    s->content != RANK_NONE ? h->items[s->content].title : "");
                famitem[nf] = idx;
            } else {
                famitem[nf] = famitem[root];
            }
            s->item = famitem[nf];
            nf++;
        } else {
            s->item = s->content;
        }
        rc = rank__map_put(&h->by_label, label, h->nsnips);
        if (rc)
            goto out;
        h->nsnips++;
    }
    rc = SW_OK;
out:
    sw_free(texts);
    sw_free(fam);
    sw_free(famitem);
    return rc;
}

/* Words that only attach: they say nothing about the document. */
static const char *const rank_attach_words[] = {
    "attached", "attaching", "attachment", "attach", "enclosed", "enclosing",
    "included", "including", "include",    "here",   "heres",    "sharing",
    "share",    "sending",   "sent",       "please", "find",     "have",
    "with",     "this",      "that",       "your",   "ours",     "file",
    "copy",     "version",   "latest",     "also",   "just",     NULL,
};

/* rank_next_word copies the next word of s (letters and digits,
 * lowercased, apostrophes dropped) into w (cap bytes); returns its length,
 * 0 at the end. */
static size_t rank_next_word(const char **s, char *w, size_t cap)
{
    const char *p = *s;
    size_t n = 0;

    while (*p && !isalnum((unsigned char)*p))
        p++;
    while (*p && (isalnum((unsigned char)*p) || *p == '\'')) {
        if (*p != '\'' && n + 1 < cap)
            w[n++] = (char)tolower((unsigned char)*p);
        p++;
    }
    w[n] = '\0';
    *s = p;
    return n;
}

int rank_bare_framing(const char *text, const char *title)
{
    char w[64], t[64];
    const char *p = text, *q;
    size_t n, k;
    int left = 0, skip;

    while ((n = rank_next_word(&p, w, sizeof(w))) > 0) {
        if (n < 4)
            continue;
        for (skip = 0, k = 0; rank_attach_words[k] && !skip; k++)
            skip = strcmp(w, rank_attach_words[k]) == 0;
        for (q = title ? title : ""; !skip && rank_next_word(&q, t, sizeof(t));)
            skip = strcmp(w, t) == 0;
        left += !skip;
    }
    return left < 3;
}

/* rank_build_links gives every outbound email the families of its
 * framings (each family once). */
static sw_err rank_build_links(struct rank_build *b)
{
    struct rank_hist *h = b->h;
    size_t i, j, si = 0;
    uint64_t v;

    for (i = 0; i < b->nts; i++) {
        struct rank_tsnip *t = &b->ts[i];
        struct rank_temail *e;
        uint32_t item;

        if (t->kind != STORE_SNIPPET_FRAMING)
            continue;
        /* h->snips holds the framings in the same order (ids that are not
         * indexable were skipped; they cannot occur for stored ids). */
        while (si < h->nsnips && strcmp(h->snips[si].id, t->id) != 0)
            si++;
        if (si == h->nsnips)
            return SW_ECORRUPT;
        item = h->snips[si].item;
        if (!rank__map_get(&b->email_by_id, rank__hash_str(t->email_id), &v))
            continue;
        e = &b->te[v];
        for (j = 0; j < e->nf && e->fitems[j] != item; j++)
            ;
        if (j < e->nf)
            continue;
        if (e->nf == e->fcap) {
            size_t nc = e->fcap ? e->fcap * 2 : 4;
            uint32_t *p = sw_realloc(e->fitems, nc * sizeof(*p));
            if (p == NULL)
                return SW_ENOMEM;
            e->fitems = p;
            e->fcap = nc;
        }
        e->fitems[e->nf++] = item;
    }
    return SW_OK;
}

static int rank_email_idx_cmp_thread_time(const void *x, const void *y,
                                          const struct rank_temail *te)
{
    const uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

    if (te[a].thread != te[b].thread)
        return te[a].thread < te[b].thread ? -1 : 1;
    if (te[a].sent_ms != te[b].sent_ms)
        return te[a].sent_ms < te[b].sent_ms ? -1 : 1;
    return a < b ? -1 : a > b;
}

/* qsort has no context argument in C11: sort index arrays with a small
 * merge sort instead. */
static void rank_msort(uint32_t *v, uint32_t *tmp, size_t n,
                       const struct rank_temail *te)
{
    size_t m, i, j, k;

    if (n < 2)
        return;
    m = n / 2;
    rank_msort(v, tmp, m, te);
    rank_msort(v + m, tmp, n - m, te);
    for (i = 0, j = m, k = 0; i < m || j < n;) {
        if (j >= n ||
            (i < m && rank_email_idx_cmp_thread_time(&v[i], &v[j], te) <= 0))
            tmp[k++] = v[i++];
        else
            tmp[k++] = v[j++];
    }
    memcpy(v, tmp, n * sizeof(*v));
}

static int rank_use_cmp(const void *x, const void *y)
{
    const struct rank_use *a = x, *b = y;

    if (a->thread != b->thread)
        return a->thread < b->thread ? -1 : 1;
    return a->item < b->item ? -1 : a->item > b->item;
}

/* A (item, thread, rep) triple for the distinct counts. */
struct rank_itr {
    uint32_t item, thread;
    uint64_t rep;
};

static int rank_itr_cmp_rep(const void *x, const void *y)
{
    const struct rank_itr *a = x, *b = y;

    if (a->item != b->item)
        return a->item < b->item ? -1 : 1;
    return a->rep < b->rep ? -1 : a->rep > b->rep;
}

static struct rank_use *rank_find_use(struct rank_hist *h, size_t lo, size_t hi,
                                      uint32_t item)
{
    size_t i;

    for (i = lo; i < hi; i++)
        if (h->uses[i].item == item)
            return &h->uses[i];
    return NULL;
}

/* rank_build_outs keeps the outcomes read, by thread (h->outs, out_lo). */
static sw_err rank_build_outs(struct rank_build *b)
{
    struct rank_hist *h = b->h;
    size_t i, th = 0;

    h->out_lo = sw_calloc(h->nthreads + 1, sizeof(*h->out_lo));
    if (h->out_lo == NULL)
        return SW_ENOMEM;
    if (b->outs_sorted) { /* a follow's, merged already */
        h->outs = b->outs_sorted;
        h->nouts = b->nouts_sorted;
        b->outs_sorted = NULL;
    } else {
        h->outs = sw_calloc(b->nto + 1, sizeof(*h->outs));
        if (h->outs == NULL)
            return SW_ENOMEM;
        for (i = 0; i < b->nto; i++) {
            h->outs[i].occur_ms = b->to[i].occur_ms;
            h->outs[i].thread = b->to[i].thread;
            h->outs[i].kind = b->to[i].kind;
        }
        h->nouts = b->nto;
        if (h->nouts)
            qsort(h->outs, h->nouts, sizeof(*h->outs), rank__hout_cmp);
    }
    for (i = 0; i < h->nouts; i++)
        while (th <= h->outs[i].thread)
            h->out_lo[th++] = (uint32_t)i;
    while (th <= h->nthreads)
        h->out_lo[th++] = (uint32_t)h->nouts;
    return SW_OK;
}

/* rank_build_emails keeps the outbound emails, in ord (by thread, then
 * time), with their items (h->emails, email_lo, email_items). */
static sw_err rank_build_emails(struct rank_build *b, const uint32_t *ord)
{
    struct rank_hist *h = b->h;
    size_t i, n = 0, nit = 0, th = 0;

    for (i = 0; i < b->nte; i++)
        if (b->te[i].out) {
            n++;
            nit += b->te[i].nf + b->te[i].nc;
        }
    h->emails = sw_calloc(n + 1, sizeof(*h->emails));
    h->email_items = sw_calloc(nit + 1, sizeof(*h->email_items));
    h->email_lo = sw_calloc(h->nthreads + 1, sizeof(*h->email_lo));
    if (!h->emails || !h->email_items || !h->email_lo)
        return SW_ENOMEM;
    for (i = 0, n = 0, nit = 0; i < b->nte; i++) {
        const struct rank_temail *e = &b->te[ord[i]];
        struct rank_hemail *x;
        while (th <= e->thread)
            h->email_lo[th++] = (uint32_t)n;
        if (!e->out)
            continue;
        x = &h->emails[n++];
        x->sent_ms = e->sent_ms;
        x->id = e->id;
        x->rep = e->rep;
        x->lo = (uint32_t)nit;
        x->nf = (uint32_t)e->nf;
        x->nc = (uint32_t)e->nc;
        if (e->nf)
            memcpy(h->email_items + nit, e->fitems, e->nf * sizeof(uint32_t));
        nit += e->nf;
        if (e->nc)
            memcpy(h->email_items + nit, e->citems, e->nc * sizeof(uint32_t));
        nit += e->nc;
    }
    while (th <= h->nthreads)
        h->email_lo[th++] = (uint32_t)n;
    return SW_OK;
}

/* A thread by its first outbound time, for by_out. */
struct rank_tfirst {
    int64_t ms;
    uint32_t th;
};

static int rank_tfirst_cmp(const void *x, const void *y)
{
    const struct rank_tfirst *a = x, *b = y;

    if (a->ms != b->ms)
        return a->ms < b->ms ? -1 : 1;
    return a->th < b->th ? -1 : a->th > b->th;
}

/* rank_build_by_out lists the training threads by first outbound time. */
static sw_err rank_build_by_out(struct rank_hist *h)
{
    struct rank_tfirst *v = sw_calloc(h->nthreads + 1, sizeof(*v));
    size_t i, n = 0;

    h->by_out = sw_calloc(h->nthreads + 1, sizeof(*h->by_out));
    if (v == NULL || h->by_out == NULL) {
        sw_free(v);
        return SW_ENOMEM;
    }
    for (i = 0; i < h->nthreads; i++)
        if (rank__hist_train(h, (uint32_t)i)) {
            v[n].ms = h->threads[i].first_out_ms;
            v[n++].th = (uint32_t)i;
        }
    if (n)
        qsort(v, n, sizeof(*v), rank_tfirst_cmp);
    for (i = 0; i < n; i++)
        h->by_out[i] = v[i].th;
    h->nby_out = n;
    sw_free(v);
    return SW_OK;
}

/* rank_build_thread_uses makes the uses of the training thread th, whose
 * emails are te[ord[s..e)], and counts what its mail alone gives the
 * items (times used, first and last use; each (item, rep) into *itr). */
static sw_err rank_build_thread_uses(struct rank_build *b, uint32_t th,
                                     const uint32_t *ord, size_t s, size_t e,
                                     size_t *cuses, struct rank_itr **itr,
                                     size_t *nitr, size_t *citr)
{
    struct rank_hist *h = b->h;
    size_t u0 = h->nuses, j, l, m;

    for (j = s; j < e; j++) {
        const struct rank_temail *em = &b->te[ord[j]];
        const uint32_t *lists[2] = {em->fitems, em->citems};
        size_t lens[2] = {em->nf, em->nc};
        if (!em->out)
            continue;
        for (l = 0; l < 2; l++)
            for (m = 0; m < lens[l]; m++) {
                uint32_t item = lists[l][m];
                struct rank_hitem *it = &h->items[item];
                struct rank_itr *x;
                if (rank_find_use(h, u0, h->nuses, item) == NULL) {
                    struct rank_use *u = rank__vec_push(
                        (void **)&h->uses, &h->nuses, cuses, sizeof(*h->uses));
                    if (u == NULL)
                        return SW_ENOMEM;
                    u->thread = th;
                    u->item = item;
                }
                it->ev.times_used++;
                if (it->ev.first_ms == 0 || em->sent_ms < it->ev.first_ms)
                    it->ev.first_ms = em->sent_ms;
                if (em->sent_ms > it->ev.last_ms)
                    it->ev.last_ms = em->sent_ms;
                x = rank__vec_push((void **)itr, nitr, citr, sizeof(**itr));
                if (x == NULL)
                    return SW_ENOMEM;
                x->item = item;
                x->thread = th;
                x->rep = em->rep;
            }
    }
    return SW_OK;
}

/* rank__build_uses makes the uses and what the mail gives the evidence,
 * keeps what later outcomes need (rank_hist_delta), then attributes and
 * counts each thread's outcomes (hist_outcome.c). */
sw_err rank__build_uses(struct rank_build *b)
{
    struct rank_hist *h = b->h;
    uint32_t *ord = NULL, *tmp = NULL;
    struct rank_itr *itr = NULL;
    size_t nitr = 0, citr = 0, cuses = 0, i, j, u0;
    sw_err rc = SW_ENOMEM;

    h->cutoff_ms = b->cutoff_ms;
    ord = sw_calloc(b->nte + 1, sizeof(*ord));
    tmp = sw_calloc(b->nte + 1, sizeof(*tmp));
    if (!ord || !tmp)
        goto out;
    for (i = 0; i < b->nte; i++)
        ord[i] = (uint32_t)i;
    rank_msort(ord, tmp, b->nte, b->te);
    rc = rank_build_outs(b);
    if (rc == SW_OK)
        rc = rank_build_emails(b, ord);
    if (rc)
        goto out;
    /* Thread by thread: its context, and the uses of its outbound mail. */
    for (i = 0; i < b->nte;) {
        uint32_t th = b->te[ord[i]].thread;
        struct rank_hthread *t = &h->threads[th];
        struct rank_tthread *tt = &b->tt[th];
        size_t s = i;

        while (i < b->nte && b->te[ord[i]].thread == th)
            i++;
        /* The earliest message: what the first outbound mail answered,
         * or for a cold thread that mail itself (never the prospect's
         * reply to it, which would tell the outcome). */
        t->context = tt->first_in_text && (tt->first_out_text == NULL ||
                                           tt->first_in_ms <= tt->first_out_ms)
                         ? tt->first_in_text
                         : tt->first_out_text;
        assert(t->context != rank__text_unknown);
        if (t->context == NULL)
            t->context = "";
        t->first_in_ms = tt->first_in_text ? tt->first_in_ms : 0;
        if (!rank__hist_train(h, th))
            continue;
        h->team_threads++;
        rank__acct_thread(h, th);
        u0 = h->nuses;
        rc = rank_build_thread_uses(b, th, ord, s, i, &cuses, &itr, &nitr,
                                    &citr);
        if (rc)
            goto out;
        /* Threads come in order: sorting each one's uses by item sorts
         * them all by thread, then item. */
        if (h->nuses - u0 > 1)
            qsort(h->uses + u0, h->nuses - u0, sizeof(*h->uses), rank_use_cmp);
    }
    rc = SW_ENOMEM;
    for (j = 1; j < h->nuses; j++)
        assert(rank_use_cmp(&h->uses[j - 1], &h->uses[j]) < 0);
    h->use_lo = sw_calloc(h->nthreads + 1, sizeof(*h->use_lo));
    if (h->use_lo == NULL)
        goto out;
    for (i = 0, j = 0; i <= h->nthreads; i++) {
        while (j < h->nuses && h->uses[j].thread < i)
            j++;
        h->use_lo[i] = (uint32_t)j;
    }
    for (i = 0; i < h->nuses; i++)
        h->items[h->uses[i].item].ev.threads++;
    if (nitr)
        qsort(itr, nitr, sizeof(*itr), rank_itr_cmp_rep);
    for (i = 0; i < nitr; i++)
        if (i == 0 || itr[i].item != itr[i - 1].item ||
            itr[i].rep != itr[i - 1].rep)
            h->items[itr[i].item].ev.reps++;
    rc = rank__acct_uses(h);
    if (rc == SW_OK)
        rc = rank_build_by_out(h);
    if (rc)
        goto out;
    /* Then the outcomes, thread by thread, as rank_hist_delta counts
     * later ones. */
    for (i = 0; i < h->nthreads; i++) {
        uint32_t th = (uint32_t)i;
        rank__thread_eval(h, b->p, th, h->outs + h->out_lo[th],
                          h->out_lo[th + 1] - h->out_lo[th], NULL, 0);
        rank__thread_count(h, th, 1);
    }
out:
    sw_free(ord);
    sw_free(tmp);
    sw_free(itr);
    return rc;
}

void rank__build_free(struct rank_build *b)
{
    size_t i;

    for (i = 0; i < b->nts; i++) {
        sw_free(b->ts[i].id);
        sw_free(b->ts[i].text);
        sw_free(b->ts[i].content_id);
        sw_free(b->ts[i].email_id);
    }
    sw_free(b->ts);
    for (i = 0; i < b->nte; i++) {
        sw_free(b->te[i].fitems);
        sw_free(b->te[i].citems);
    }
    sw_free(b->te);
    sw_free(b->tt);
    sw_free(b->to);
    sw_free(b->outs_sorted);
    rank__map_free(&b->email_by_id);
    rank__map_free(&b->thread_by_id); /* empty when moved to the hist */
    rank__acct_end(&b->ab);
}

/* rank__build_begin starts a build of team_id's history with p (NULL: the
 * defaults, written to *def, which must outlive the build): a new, empty
 * b->h. Errors: SW_ENOMEM. */
sw_err rank__build_begin(struct rank_build *b, const char *team_id,
                         const struct rank_params *p, struct rank_params *def)
{
    memset(b, 0, sizeof(*b));
    if (p == NULL) {
        rank_params_default(def);
        p = def;
    }
    b->h = sw_calloc(1, sizeof(*b->h));
    if (b->h == NULL)
        return SW_ENOMEM;
    b->h->refs = 1;
    sw_arena_init(&b->h->arena, 0);
    b->p = p;
    b->team = team_id;
    if (rank__acct_begin(&b->ab) != SW_OK) {
        rank_hist_free(&b->h);
        return SW_ENOMEM;
    }
    return SW_OK;
}

sw_err rank_hist_build(store_txn *t, const char *team_id,
                       const struct rank_params *p, int64_t cutoff_ms,
                       struct rank_hist **out)
{
    return rank_hist_build_cached(t, team_id, p, cutoff_ms, NULL, out);
}

sw_err rank_hist_build_cached(store_txn *t, const char *team_id,
                              const struct rank_params *p, int64_t cutoff_ms,
                              struct rank_sigs *sigs, struct rank_hist **out)
{
    struct rank_params def;
    struct rank_build b;
    struct rank_hist *h;
    sw_err rc;

    if (t == NULL || team_id == NULL || team_id[0] == '\0' || out == NULL)
        return SW_EINVAL;
    rc = rank__build_begin(&b, team_id, p, &def);
    if (rc)
        return rc;
    h = b.h;
    b.cutoff_ms = cutoff_ms;
    b.sigs = sigs;
    rc = store_hist_seqs(t, team_id, h->seqs);
    if (rc == SW_OK)
        rc = rank__read_marks(t, team_id, h->marks);
    if (rc == SW_OK)
        rc = store_hist_contents(t, team_id, rank__build_content_cb, &b);
    if (rc == SW_OK)
        rc = store_hist_snippets(t, team_id, rank_snippet_cb, &b);
    if (rc == SW_OK)
        rc = rank_build_snippets(&b);
    if (rc == SW_OK)
        rc = store_hist_emails(t, team_id, rank__build_email_cb, &b);
    if (rc == SW_OK)
        rc = store_outcome_scan(t, team_id, NULL, rank__build_outcome_cb, &b);
    if (rc == SW_OK)
        rc = rank_build_links(&b);
    if (rc == SW_OK)
        rc = rank__acct_resolve(b.ab, h);
    if (rc == SW_OK)
        rc = rank__build_uses(&b);
    if (rc == SW_OK) {
        rank__hist_finish(h, b.p);
        h->by_thread = b.thread_by_id;
        memset(&b.thread_by_id, 0, sizeof(b.thread_by_id));
    }
    rank__build_free(&b);
    if (rc) {
        rank_hist_free(&h);
        return rc;
    }
    *out = h;
    return SW_OK;
}

sw_err rank_hist_provisional(store_txn *t, const char *team_id,
                             const struct rank_params *p,
                             const uint64_t *labels, size_t n,
                             struct rank_hist **out)
{
    struct rank_params def;
    struct rank_build b;
    struct store_snippet sn;
    struct store_content ct;
    struct rank_hist *h;
    char sid[22];
    uint64_t v;
    size_t i;
    sw_err rc = SW_OK;

    if (t == NULL || team_id == NULL || team_id[0] == '\0' || out == NULL ||
        (n && labels == NULL))
        return SW_EINVAL;
    rc = rank__build_begin(&b, team_id, p, &def);
    if (rc)
        return rc;
    h = b.h;
    memset(&sn, 0, sizeof(sn));
    memset(&ct, 0, sizeof(ct));
    /* The same steps as a full build, over the hits and their documents
     * only: no mail, no outcomes, so no evidence. */
    rc = store_hist_seqs(t, team_id, h->seqs);
    for (i = 0; rc == SW_OK && i < n; i++) {
        store_snippet_clear(&sn);
        rank_label_id(labels[i], sid);
        rc = store_snippet_get_txn(t, team_id, sid, &sn);
        if (rc == SW_ENOTFOUND) {
            rc = SW_OK; /* deleted since it was indexed */
            continue;
        }
        if (rc == SW_OK && sn.content_id[0] &&
            !rank__map_get(&h->by_item, rank__hash_str(sn.content_id), &v)) {
            store_content_clear(&ct);
            rc = store_content_get_txn(t, team_id, sn.content_id, &ct);
            if (rc == SW_OK)
                rc = rank__build_content_cb(&ct, &b);
            else if (rc == SW_ENOTFOUND)
                rc = SW_OK;
        }
        if (rc == SW_OK)
            rc = rank_snippet_cb(&sn, &b);
    }
    if (rc == SW_OK)
        rc = rank_build_snippets(&b);
    if (rc == SW_OK)
        rank__hist_finish(h, b.p);
    store_snippet_clear(&sn);
    store_content_clear(&ct);
    rank__build_free(&b);
    if (rc) {
        rank_hist_free(&h);
        return rc;
    }
    *out = h;
    return SW_OK;
}

/* rank_in_map: p points into h's file mapping (hist_file.h). */
static int rank_in_map(const struct rank_hist *h, const void *p)
{
    const char *m = h->file_map;

    return p && (const char *)p >= m && (const char *)p < m + h->file_len;
}

/* rank_hist_unmapped forgets the arrays of loaded history h that are read
 * in place from its file (unmapped with it, not freed). */
static void rank_hist_unmapped(struct rank_hist *h)
{
    void **arrs[] = {
        (void **)&h->uses,
        (void **)&h->use_lo,
        (void **)&h->acct_ev,
        (void **)&h->acct_lo,
        (void **)&h->emails,
        (void **)&h->email_lo,
        (void **)&h->email_items,
        (void **)&h->outs,
        (void **)&h->out_lo,
        (void **)&h->xouts,
        (void **)&h->thr_acc,
        (void **)&h->thr_acc_lo,
        (void **)&h->by_out,
        (void **)&h->by_account.keys,
        (void **)&h->by_account.vals,
        (void **)&h->own.keys,
        (void **)&h->own.vals,
        (void **)&h->by_thread.keys,
        (void **)&h->by_thread.vals,
        (void **)&h->by_label.keys,
        (void **)&h->by_label.vals,
        (void **)&h->by_item.keys,
        (void **)&h->by_item.vals,
    };
    size_t i;

    for (i = 0; i < sizeof(arrs) / sizeof(arrs[0]); i++)
        if (rank_in_map(h, *arrs[i]))
            *arrs[i] = NULL;
}

sw_err rank__read_marks(store_txn *t, const char *team_id,
                        uint64_t marks[RANK_MARKS])
{
    static const char *const names[RANK_MARKS] = {
        [RANK_MARK_EMAIL] = "email",
        [RANK_MARK_ERASE] = STORE_ERASE_SEQ,
        [RANK_MARK_MERGE] = STORE_MERGE_SEQ,
        [RANK_MARK_CONTENT] = "content",
    };
    size_t i;
    sw_err rc = SW_OK;

    for (i = 0; i < RANK_MARKS && rc == SW_OK; i++)
        rc = store_seq_peek(t, team_id, names[i], &marks[i]);
    return rc;
}

void rank__strs_put(struct rank_strs **sp)
{
    struct rank_strs *s = *sp;

    *sp = NULL;
    if (s == NULL || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    sw_arena_free(&s->arena);
    sw_free(s);
}

/* rank_hist_release drops one of root h's owners; the last frees it. */
static void rank_hist_release(struct rank_hist *h)
{
    /* A history built by hand (the tests) has refs 0: freed at once. */
    if (__atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    if (h->file_map)
        rank_hist_unmapped(h);
    sw_free(h->items);
    sw_free(h->threads);
    sw_free(h->uses);
    sw_free(h->use_lo);
    sw_free(h->accounts);
    sw_free(h->acct_ev);
    sw_free(h->acct_lo);
    sw_free(h->emails);
    sw_free(h->email_lo);
    sw_free(h->email_items);
    sw_free(h->outs);
    sw_free(h->out_lo);
    sw_free(h->xouts);
    sw_free(h->thr_acc);
    sw_free(h->thr_acc_lo);
    sw_free(h->by_out);
    rank__map_free(&h->by_account);
    rank__map_free(&h->own);
    rank__map_free(&h->by_thread);
    rank__map_free(&h->by_label);
    rank__map_free(&h->by_item);
    sw_arena_free(&h->arena);
    if (h->file_map)
        munmap(h->file_map, h->file_len);
    if (h->origin) { /* made by rank_hist_follow */
        size_t i;
        sw_free(h->snips);
        for (i = 0; i < h->nstrs; i++)
            rank__strs_put(&h->strs[i]);
        sw_free(h->strs);
        rank_hist_release(h->origin);
    }
    sw_free(h);
}

void rank_hist_free(struct rank_hist **hp)
{
    struct rank_hist *h, *root;

    if (hp == NULL || *hp == NULL)
        return;
    h = *hp;
    *hp = NULL;
    if (h->root == NULL) {
        rank_hist_release(h);
        return;
    }
    /* Made by rank_hist_delta: only these are its own. */
    root = h->root;
    sw_free(h->items);
    sw_free(h->threads);
    sw_free(h->uses);
    sw_free(h->accounts);
    sw_free(h->acct_ev);
    sw_free(h->xouts);
    sw_free(h);
    rank_hist_release(root);
}

long rank_hist_item(const struct rank_hist *h, const char *id)
{
    uint64_t v;

    if (!rank__map_get(&h->by_item, rank__hash_str(id), &v))
        return -1;
    return strcmp(h->items[v].id, id) == 0 ? (long)v : -1;
}

long rank_hist_thread(const struct rank_hist *h, const char *id)
{
    uint64_t v;

    if (!rank__map_get(&h->by_thread, rank__hash_str(id), &v))
        return -1;
    return strcmp(h->threads[v].id, id) == 0 ? (long)v : -1;
}

long rank_hist_snippet(const struct rank_hist *h, const char *id)
{
    uint64_t label, v;

    if (rank_id_label(id, &label) != SW_OK ||
        !rank__map_get(&h->by_label, label, &v))
        return -1;
    return strcmp(h->snips[v].id, id) == 0 ? (long)v : -1;
}

double rank_item_outcome(const struct rank_hist *h, const struct rank_hitem *it)
{
    return it->post_value - h->team_value;
}
