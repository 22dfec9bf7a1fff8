/* hist_follow: rank_hist_follow (hist.h), a team's history made from an
 * earlier one and what the store's feeds hold since, instead of whole-team
 * scans and families computed again: the earlier root's mail, snippets,
 * accounts and outcomes, as it read them, are put back into a build's
 * working state (hist_build.h), the new emails, snippets and outcomes are
 * added to it, and the build's own steps count everything from there. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "base/sw_mem.h"
#include "ranker/account_int.h"
#include "ranker/hist.h"
#include "ranker/hist_build.h"
#include "ranker/hist_int.h"
#include "ranker/index.h"
#include "store/store_hist.h"
#include "store/store_mail.h"
#include "store/store_outcome.h"
#include "store/store_snippet.h"

#define RANK_NONE UINT32_MAX

struct rank_follow {
    struct rank_build b;
    const struct rank_hist *root; /* what base's tables are */
    store_txn *t;
    const char *team;
    size_t new_contents; /* content items added for the new mail */
    uint32_t *touched;   /* known threads the new mail went to */
    size_t ntouched, ctouched;
    uint32_t nthreads0;     /* the threads root knows */
    int emails_mapped;      /* root's emails are in b.email_by_id */
    struct rank__map texts; /* framing text key → family item */
};

/* --- base's state, put back ------------------------------------------- */

/* rank_follow_strings makes h read its strings where root's are: root's
 * origin (or root itself), and the string blocks of the follows since,
 * with room for h's own. */
static sw_err rank_follow_strings(struct rank_hist *h,
                                  const struct rank_hist *root)
{
    size_t i;

    h->origin = root->origin ? root->origin : (struct rank_hist *)root;
    __atomic_add_fetch(&h->origin->refs, 1, __ATOMIC_ACQ_REL);
    h->strs = sw_calloc(root->nstrs + 1, sizeof(*h->strs));
    if (h->strs == NULL)
        return SW_ENOMEM;
    for (i = 0; i < root->nstrs; i++) {
        __atomic_add_fetch(&root->strs[i]->refs, 1, __ATOMIC_ACQ_REL);
        h->strs[h->nstrs++] = root->strs[i];
    }
    h->follows = root->follows + 1;
    return SW_OK;
}

/* rank_follow_items copies root's items (what they are, not their
 * evidence), snippets and their maps, room for extra snippets. */
static sw_err rank_follow_items(struct rank_follow *f, size_t extra)
{
    struct rank_hist *h = f->b.h;
    const struct rank_hist *r = f->root;
    size_t i;
    sw_err rc;

    h->items = sw_calloc(r->nitems + 1, sizeof(*h->items));
    h->snips = sw_calloc(r->nsnips + extra + 1, sizeof(*h->snips));
    if (h->items == NULL || h->snips == NULL)
        return SW_ENOMEM;
    for (i = 0; i < r->nitems; i++) {
        const struct rank_hitem *x = &r->items[i];
        struct rank_hitem *y = &h->items[i];
        y->kind = x->kind;
        y->id = x->id;
        y->rep = x->rep;
        y->title = x->title;
        y->key = x->key;
        y->content_kind = x->content_kind;
        y->bare = x->bare;
    }
    h->nitems = r->nitems;
    f->b.citems = r->nitems + 1;
    if (r->nsnips)
        memcpy(h->snips, r->snips, r->nsnips * sizeof(*h->snips));
    h->nsnips = r->nsnips;
    rc = rank__map_copy(&h->by_item, &r->by_item, 64);
    if (rc == SW_OK)
        rc = rank__map_copy(&h->by_label, &r->by_label, extra);
    for (i = 0; rc == SW_OK && i < r->nsnips; i++)
        if (r->snips[i].kind == STORE_SNIPPET_FRAMING)
            rc =
                rank__map_put(&f->texts, rank_family_text_key(r->snips[i].text),
                              r->snips[i].item);
    return rc;
}

/* rank_follow_threads copies root's threads and what their context was
 * chosen from: the side not chosen is unknown (rank__text_unknown). */
static sw_err rank_follow_threads(struct rank_follow *f)
{
    struct rank_build *b = &f->b;
    struct rank_hist *h = b->h;
    const struct rank_hist *r = f->root;
    size_t i;
    sw_err rc;

    h->threads = sw_calloc(r->nthreads + 1, sizeof(*h->threads));
    b->tt = sw_calloc(r->nthreads + 1, sizeof(*b->tt));
    if (h->threads == NULL || b->tt == NULL)
        return SW_ENOMEM;
    b->cthreads = b->ctt = r->nthreads + 1;
    for (i = 0; i < r->nthreads; i++) {
        const struct rank_hthread *x = &r->threads[i];
        struct rank_hthread *y = &h->threads[i];
        struct rank_tthread *tt = &b->tt[i];
        int in = x->first_in_ms &&
                 (x->first_out_ms == 0 || x->first_in_ms <= x->first_out_ms);
        y->id = x->id;
        y->hash = x->hash;
        y->context = x->context;
        y->first_out_ms = x->first_out_ms;
        y->first_in_ms = x->first_in_ms;
        tt->first_in_ms = x->first_in_ms;
        tt->first_out_ms = x->first_out_ms;
        if (in) {
            tt->first_in_text = x->context;
            tt->first_out_text = x->first_out_ms ? rank__text_unknown : NULL;
        } else {
            tt->first_out_text = x->first_out_ms ? x->context : NULL;
            tt->first_in_text = x->first_in_ms ? rank__text_unknown : NULL;
        }
    }
    h->nthreads = r->nthreads;
    f->nthreads0 = (uint32_t)r->nthreads;
    rc = rank__map_copy(&b->thread_by_id, &r->by_thread, 64);
    return rc ? rc : rank__acct_seed(b->ab, r);
}

/* rank_follow_mail puts root's outbound emails back. */
static sw_err rank_follow_mail(struct rank_follow *f)
{
    struct rank_build *b = &f->b;
    const struct rank_hist *r = f->root;
    uint32_t th, j;

    for (th = 0; th < r->nthreads; th++)
        for (j = r->email_lo[th]; j < r->email_lo[th + 1]; j++) {
            const struct rank_hemail *e = &r->emails[j];
            struct rank_temail *te =
                rank__vec_push((void **)&b->te, &b->nte, &b->cte, sizeof(*te));
            if (te == NULL)
                return SW_ENOMEM;
            te->thread = th;
            te->out = 1;
            te->sent_ms = e->sent_ms;
            te->id = e->id;
            te->rep = e->rep;
            te->fitems = sw_malloc((e->nf + 1) * sizeof(*te->fitems));
            te->citems = sw_malloc((e->nc + 1) * sizeof(*te->citems));
            if (te->fitems == NULL || te->citems == NULL)
                return SW_ENOMEM;
            memcpy(te->fitems, r->email_items + e->lo,
                   e->nf * sizeof(*te->fitems));
            memcpy(te->citems, r->email_items + e->lo + e->nf,
                   e->nc * sizeof(*te->citems));
            te->nf = te->fcap = e->nf;
            te->nc = e->nc;
        }
    return SW_OK;
}

/* rank_follow_outs hands the build every outcome in order: root's (those
 * it read, and those a delta had counted since when root was saved from
 * one: hist_file.h), each run sorted already, merged with the new ones
 * the feed gave (b->to, sorted first), instead of sorting them all. */
static sw_err rank_follow_outs(struct rank_follow *f)
{
    struct rank_build *b = &f->b;
    const struct rank_hist *r = f->root;
    struct rank_hout *nw, *out;
    const struct rank_hout *run[3];
    size_t len[3], at[3] = {0, 0, 0}, i, k, n;

    nw = sw_malloc((b->nto + 1) * sizeof(*nw));
    out = sw_malloc((r->nouts + r->nxouts + b->nto + 1) * sizeof(*out));
    if (nw == NULL || out == NULL) {
        sw_free(nw);
        sw_free(out);
        return SW_ENOMEM;
    }
    for (i = 0; i < b->nto; i++) {
        nw[i].occur_ms = b->to[i].occur_ms;
        nw[i].thread = b->to[i].thread;
        nw[i].kind = b->to[i].kind;
    }
    if (b->nto > 1)
        qsort(nw, b->nto, sizeof(*nw), rank__hout_cmp);
    run[0] = r->outs;
    len[0] = r->nouts;
    run[1] = r->xouts;
    len[1] = r->nxouts;
    run[2] = nw;
    len[2] = b->nto;
    n = len[0] + len[1] + len[2];
    for (i = 0; i < n; i++) {
        size_t best = 3;
        for (k = 0; k < 3; k++)
            if (at[k] < len[k] &&
                (best == 3 ||
                 rank__hout_cmp(&run[k][at[k]], &run[best][at[best]]) < 0))
                best = k;
        out[i] = run[best][at[best]++];
    }
    for (i = 1; i < n; i++)
        assert(rank__hout_cmp(&out[i - 1], &out[i]) <= 0);
    sw_free(nw);
    b->outs_sorted = out;
    b->nouts_sorted = n;
    return SW_OK;
}

/* --- what the feeds hold since ------------------------------------------ */

static sw_err rank_follow_touch(struct rank_follow *f, uint32_t th)
{
    uint32_t *x;

    if (f->ntouched && f->touched[f->ntouched - 1] == th)
        return SW_OK;
    x = rank__vec_push((void **)&f->touched, &f->ntouched, &f->ctouched,
                       sizeof(*x));
    if (x == NULL)
        return SW_ENOMEM;
    *x = th;
    return SW_OK;
}

/* rank_follow_content adds the content item content_id, new since root. */
static sw_err rank_follow_content(struct rank_follow *f, const char *id)
{
    struct store_content c;
    uint64_t v;
    sw_err rc;

    if (id == NULL || id[0] == '\0' ||
        rank__map_get(&f->b.h->by_item, rank__hash_str(id), &v))
        return SW_OK;
    memset(&c, 0, sizeof(c));
    rc = store_content_get_txn(f->t, f->team, id, &c);
    if (rc == SW_ENOTFOUND)
        return SW_OK; /* the full build would not see it either */
    if (rc == SW_OK)
        rc = rank__build_content_cb(&c, &f->b);
    store_content_clear(&c);
    f->new_contents += rc == SW_OK;
    return rc;
}

static sw_err rank_follow_email_cb(const struct store_email *e, void *arg)
{
    struct rank_follow *f = arg;
    uint64_t v;
    size_t i;
    sw_err rc = SW_OK;

    /* A domain the team had not sent from would change every thread's
     * accounts. */
    if ((e->direction == STORE_DIR_OUTBOUND &&
         !rank__acct_known_own(f->b.ab, e->from_email)) ||
        (e->rep_email && e->rep_email[0] &&
         !rank__acct_known_own(f->b.ab, e->rep_email)))
        return SW_ESTATE;
    for (i = 0; i < e->n_contents && rc == SW_OK; i++)
        rc = rank_follow_content(f, e->contents[i].content_id);
    if (rc == SW_OK &&
        rank__map_get(&f->b.thread_by_id, rank__hash_str(e->thread_id), &v))
        rc = rank_follow_touch(f, (uint32_t)v);
    return rc ? rc : rank__build_email_cb(e, &f->b);
}

static sw_err rank_follow_outcome_cb(const struct store_outcome *o, void *arg)
{
    struct rank_follow *f = arg;

    if (o->seq <= f->root->seqs[2])
        return STORE_SCAN_STOP; /* newest first: root read the rest */
    return rank__build_outcome_cb(o, &f->b);
}

static sw_err rank_follow_snippet_cb(const struct store_snippet *s, void *arg)
{
    struct rank_follow *f = arg;
    struct rank_build *b = &f->b;
    struct rank_tsnip *t;
    uint64_t label, v;

    if (rank_id_label(s->snippet_id, &label) != SW_OK)
        return SW_OK; /* not an indexable id: the build skips it too */
    if (rank__map_get(&b->h->by_label, label, &v))
        return SW_ESTATE; /* one root counts has changed */
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

/* rank_follow_email_of finds the email email_id among the outbound ones
 * read (root's too, mapped the first time one is asked for). */
static sw_err rank_follow_email_of(struct rank_follow *f, const char *email_id,
                                   long *te)
{
    struct rank_build *b = &f->b;
    uint64_t hv = rank__hash_str(email_id), v;
    size_t i;
    sw_err rc;

    *te = -1;
    if (!rank__map_get(&b->email_by_id, hv, &v) && !f->emails_mapped) {
        f->emails_mapped = 1;
        for (i = 0; i < b->nte; i++)
            if (b->te[i].out) {
                rc = rank__map_put(&b->email_by_id, b->te[i].id, i);
                if (rc)
                    return rc;
            }
    }
    if (rank__map_get(&b->email_by_id, hv, &v) && b->te[v].out)
        *te = (long)v;
    return SW_OK;
}

/* rank_follow_family finds the family of new framing t: the one of a
 * framing with the same text, or a new one it founds. SW_ESTATE when it
 * is older than that family's founder (a full build would make it the
 * founder, and the family's id with it). */
static sw_err rank_follow_family(struct rank_follow *f,
                                 const struct rank_tsnip *t,
                                 const struct rank_hsnip *s, uint32_t *item)
{
    struct rank_hist *h = f->b.h;
    uint64_t key = rank_family_text_key(t->text), v;
    char fid[21];
    sw_err rc;

    if (rank__map_get(&f->texts, key, &v)) {
        const struct rank_hsnip *r = &h->snips[h->items[v].rep];
        struct rank_tsnip founder = {(char *)r->id, (char *)r->text, NULL, NULL,
                                     r->kind,       r->create_ms};
        if (rank__tsnip_age_cmp(t, &founder) < 0)
            return SW_ESTATE;
        *item = (uint32_t)v;
        return SW_OK;
    }
    rank_family_id(t->id, fid);
    rc = rank__build_item(&f->b, 'f', fid, t->text, NULL, 0, item);
    if (rc)
        return rc;
    h->items[*item].rep = (uint32_t)h->nsnips;
    h->items[*item].bare = rank_bare_framing(
        t->text, s->content != RANK_NONE ? h->items[s->content].title : "");
    return rank__map_put(&f->texts, key, *item);
}

/* rank_follow_link gives the email of framing t its family item (once). */
static sw_err rank_follow_link(struct rank_follow *f,
                               const struct rank_tsnip *t, uint32_t item)
{
    struct rank_temail *e;
    long x;
    size_t j;
    sw_err rc = rank_follow_email_of(f, t->email_id, &x);

    if (rc || x < 0)
        return rc; /* no outbound email read: the build skips it too */
    e = &f->b.te[x];
    for (j = 0; j < e->nf; j++)
        if (e->fitems[j] == item)
            return SW_OK;
    if (e->nf == e->fcap) {
        size_t nc = e->fcap ? e->fcap * 2 : 4;
        uint32_t *p = sw_realloc(e->fitems, nc * sizeof(*p));
        if (p == NULL)
            return SW_ENOMEM;
        e->fitems = p;
        e->fcap = nc;
    }
    e->fitems[e->nf++] = item;
    return SW_OK;
}

/* rank_follow_snippets adds the new snippets, oldest first (so that a
 * family founded among them has its oldest as founder), with their
 * families and their emails' links. */
static sw_err rank_follow_snippets(struct rank_follow *f)
{
    struct rank_build *b = &f->b;
    struct rank_hist *h = b->h;
    size_t i;
    uint64_t v;
    sw_err rc = SW_OK;

    if (b->nts)
        qsort(b->ts, b->nts, sizeof(*b->ts), rank__tsnip_age_cmp);
    for (i = 0; i < b->nts && rc == SW_OK; i++) {
        const struct rank_tsnip *t = &b->ts[i];
        struct rank_hsnip *s = &h->snips[h->nsnips];
        uint32_t item;
        uint64_t label;
        if (rank_id_label(t->id, &label) != SW_OK)
            continue;
        s->id = sw_arena_strdup(&h->arena, t->id);
        s->text = sw_arena_strdup(&h->arena, t->text);
        if (s->id == NULL || s->text == NULL)
            return SW_ENOMEM;
        s->label = label;
        s->kind = t->kind;
        s->create_ms = t->create_ms;
        s->content = RANK_NONE;
        s->item = RANK_NONE;
        if (t->content_id[0] &&
            rank__map_get(&h->by_item, rank__hash_str(t->content_id), &v))
            s->content = (uint32_t)v;
        if (t->kind == STORE_SNIPPET_FRAMING) {
            rc = rank_follow_family(f, t, s, &item);
            if (rc == SW_OK)
                rc = rank_follow_link(f, t, item);
            s->item = item;
        } else {
            s->item = s->content;
        }
        if (rc == SW_OK)
            rc = rank__map_put(&h->by_label, label, h->nsnips);
        h->nsnips++;
    }
    return rc;
}

/* rank_follow_room: no thread the new mail went to has so many companies
 * that which were kept could depend on the order mail is read in. */
static int rank_follow_room(struct rank_follow *f)
{
    struct rank_build *b = &f->b;
    size_t nown = rank__acct_nown(b->ab), i;

    for (i = 0; i < f->ntouched; i++)
        if (!rank__acct_room(b->ab, f->touched[i], nown))
            return 0;
    for (i = f->nthreads0; i < b->h->nthreads; i++)
        if (!rank__acct_room(b->ab, (uint32_t)i, 0))
            return 0;
    return 1;
}

/* rank_follow_read adds what the feeds hold since root, after checking
 * that nothing only a full build can count has happened. */
static sw_err rank_follow_read(struct rank_follow *f)
{
    const struct rank_hist *r = f->root;
    struct rank_hist *h = f->b.h;
    sw_err rc;

    if (h->marks[RANK_MARK_ERASE] != r->marks[RANK_MARK_ERASE] ||
        h->marks[RANK_MARK_MERGE] != r->marks[RANK_MARK_MERGE])
        return SW_ESTATE;
    if (h->seqs[1] < r->seqs[1] || h->seqs[2] < r->seqs[2] ||
        h->marks[RANK_MARK_EMAIL] < r->marks[RANK_MARK_EMAIL])
        return SW_ESTATE; /* the feeds went back: a team made again */
    rc = store_hist_email_feed(f->t, f->team, r->marks[RANK_MARK_EMAIL],
                               rank_follow_email_cb, f);
    /* Content items come with mail; one that came alone (the library)
     * waits for the full build. */
    if (rc == SW_OK &&
        h->marks[RANK_MARK_CONTENT] - r->marks[RANK_MARK_CONTENT] !=
            f->new_contents)
        rc = SW_ESTATE;
    if (rc == SW_OK)
        rc = store_outcome_scan(f->t, f->team, NULL, rank_follow_outcome_cb, f);
    if (rc == SW_OK)
        rc = store_hist_snippet_feed(f->t, f->team, r->seqs[1],
                                     rank_follow_snippet_cb, f);
    if (rc == SW_OK && !rank_follow_room(f))
        rc = SW_ESTATE;
    return rc;
}

/* rank_follow_seal moves h's arena, the strings it added, into a string
 * block of its own. */
static sw_err rank_follow_seal(struct rank_hist *h)
{
    struct rank_strs *s = sw_calloc(1, sizeof(*s));

    if (s == NULL)
        return SW_ENOMEM;
    s->refs = 1;
    s->arena = h->arena;
    sw_arena_init(&h->arena, 0);
    h->strs[h->nstrs++] = s;
    return SW_OK;
}

sw_err rank_hist_follow(store_txn *t, const char *team_id,
                        const struct rank_params *p,
                        const struct rank_hist *base, struct rank_hist **out)
{
    struct rank_params def;
    struct rank_follow f;
    struct rank_hist *h = NULL;
    size_t extra = 0;
    uint64_t snip_seq = 0;
    sw_err rc;

    if (t == NULL || team_id == NULL || team_id[0] == '\0' || base == NULL ||
        out == NULL || base->cutoff_ms != 0)
        return SW_EINVAL;
    memset(&f, 0, sizeof(f));
    f.root = base->root ? base->root : base;
    f.t = t;
    f.team = team_id;
    if (f.root->email_lo == NULL || f.root->out_lo == NULL)
        return SW_EINVAL;
    rc = store_snippet_last_seq_txn(t, team_id, &snip_seq);
    if (rc)
        return rc;
    if (snip_seq > f.root->seqs[1])
        extra = (size_t)(snip_seq - f.root->seqs[1]);
    rc = rank__build_begin(&f.b, team_id, p, &def);
    if (rc)
        return rc;
    h = f.b.h;
    rc = rank_follow_strings(h, f.root);
    if (rc == SW_OK)
        rc = store_hist_seqs(t, team_id, h->seqs);
    if (rc == SW_OK)
        rc = rank__read_marks(t, team_id, h->marks);
    if (rc == SW_OK)
        rc = rank_follow_items(&f, extra);
    if (rc == SW_OK)
        rc = rank_follow_threads(&f);
    if (rc == SW_OK)
        rc = rank_follow_mail(&f);
    h->now_ms = f.root->now_ms;
    if (rc == SW_OK)
        rc = rank_follow_read(&f);
    if (rc == SW_OK)
        rc = rank_follow_snippets(&f);
    if (rc == SW_OK)
        rc = rank_follow_outs(&f);
    if (rc == SW_OK)
        rc = rank__acct_resolve(f.b.ab, h);
    if (rc == SW_OK)
        rc = rank__build_uses(&f.b);
    if (rc == SW_OK) {
        rank__hist_finish(h, f.b.p);
        h->by_thread = f.b.thread_by_id;
        memset(&f.b.thread_by_id, 0, sizeof(f.b.thread_by_id));
        rc = rank_follow_seal(h);
    }
    rank__build_free(&f.b);
    rank__map_free(&f.texts);
    sw_free(f.touched);
    if (rc) {
        rank_hist_free(&h);
        return rc;
    }
    *out = h;
    return SW_OK;
}
