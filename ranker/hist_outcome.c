/* hist_outcome: the outcome side of a history (hist_int.h): attribution
 * of a thread's outcomes to its uses, what a thread adds to the evidence
 * and the team's sums, the derived priors, and rank_hist_delta, which
 * counts the outcomes recorded since a history was built by taking the
 * threads they concern out and counting them back, instead of building
 * the team again. */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/sw_mem.h"
#include "ranker/account_int.h"
#include "ranker/hist.h"
#include "ranker/hist_int.h"
#include "store/store_hist.h"
#include "store/store_outcome.h"

#define RANK_DAY_MS (24.0 * 3600 * 1000)

int rank__hist_train(const struct rank_hist *h, uint32_t th)
{
    const struct rank_hthread *t = &h->threads[th];

    return t->first_out_ms && (!h->cutoff_ms || t->first_out_ms < h->cutoff_ms);
}

int rank__hout_cmp(const void *x, const void *y)
{
    const struct rank_hout *a = x, *b = y;

    if (a->thread != b->thread)
        return a->thread < b->thread ? -1 : 1;
    if (a->occur_ms != b->occur_ms)
        return a->occur_ms < b->occur_ms ? -1 : 1;
    return a->kind - b->kind;
}

/* rank_use_in returns thread th's use of item (the build made one for
 * every item its outbound mail used). */
static struct rank_use *rank_use_in(struct rank_hist *h, uint32_t th,
                                    uint32_t item)
{
    uint32_t i;

    for (i = h->use_lo[th]; i < h->use_lo[th + 1]; i++)
        if (h->uses[i].item == item)
            return &h->uses[i];
    assert(!"an email's item without a use");
    return NULL;
}

/* rank_attribute gives outcome o's value to the uses of the latest
 * outbound email of th sent before it within the window. */
static void rank_attribute(struct rank_hist *h, const struct rank_params *p,
                           uint32_t th, const struct rank_hout *o)
{
    const struct rank_hemail *best = NULL;
    const uint32_t *fi, *ci;
    double v = rank_grade(o->kind);
    uint32_t j, nreal = 0;
    struct rank_use *u;

    for (j = h->email_lo[th]; j < h->email_lo[th + 1]; j++) {
        const struct rank_hemail *e = &h->emails[j];
        if (e->sent_ms <= o->occur_ms &&
            o->occur_ms - e->sent_ms <= p->window_ms)
            best = e; /* by time: the last one is the latest */
    }
    if (best == NULL || v == 0.0)
        return;
    h->threads[th].attr_value += v;
    fi = h->email_items + best->lo;
    ci = fi + best->nf;
    /* Framings share the credit, but a bare introduction ("I've attached
     * the deck.") next to one takes none of it. */
    for (j = 0; j < best->nf; j++)
        nreal += !h->items[fi[j]].bare;
    for (j = 0; j < best->nf; j++)
        if (!h->items[fi[j]].bare || nreal == 0) {
            u = rank_use_in(h, th, fi[j]);
            if (u)
                u->value += v / (double)(nreal ? nreal : best->nf);
        }
    for (j = 0; j < best->nc; j++) {
        u = rank_use_in(h, th, ci[j]);
        if (u)
            u->value += v / (double)best->nc;
    }
}

void rank__thread_eval(struct rank_hist *h, const struct rank_params *p,
                       uint32_t th, const struct rank_hout *a, size_t na,
                       const struct rank_hout *b, size_t nb)
{
    struct rank_hthread *t = &h->threads[th];
    const struct rank_hout *lists[2] = {a, b};
    size_t lens[2] = {na, nb}, l, k;
    uint32_t i;

    t->n_outcomes = 0;
    memset(t->outcomes, 0, sizeof(t->outcomes));
    t->value = 0.0;
    t->positive = 0;
    t->mature = 0;
    t->attr_value = 0.0;
    for (l = 0; l < 2; l++)
        for (k = 0; k < lens[l]; k++) {
            int kind = lists[l][k].kind;
            assert(lists[l][k].thread == th);
            t->n_outcomes++;
            if (kind > 0 && kind < RANK_KINDS && t->outcomes[kind] < UINT32_MAX)
                t->outcomes[kind]++;
            t->value += rank_grade(kind);
            t->positive |= rank_is_positive(kind);
        }
    if (!rank__hist_train(h, th))
        return;
    t->mature =
        t->n_outcomes > 0 || h->now_ms - t->first_out_ms >= p->mature_ms;
    for (i = h->use_lo[th]; i < h->use_lo[th + 1]; i++) {
        h->uses[i].value = 0.0;
        h->uses[i].positive = t->positive;
        h->uses[i].mature = t->mature;
    }
    for (l = 0; l < 2; l++)
        for (k = 0; k < lens[l]; k++)
            rank_attribute(h, p, th, &lists[l][k]);
}

void rank__thread_count(struct rank_hist *h, uint32_t th, int sign)
{
    const struct rank_hthread *t = &h->threads[th];
    uint32_t i;
    int k;

    assert(sign == 1 || sign == -1);
    if (!rank__hist_train(h, th))
        return;
    h->n_outcomes += sign * t->n_outcomes;
    if (t->mature) {
        h->team_mature += sign;
        h->team_pos += sign * t->positive;
        h->team_vsum += sign * t->attr_value;
    }
    rank__acct_count(h, th, sign);
    for (i = h->use_lo[th]; i < h->use_lo[th + 1]; i++) {
        const struct rank_use *u = &h->uses[i];
        struct rank_evid *ev = &h->items[u->item].ev;
        for (k = 1; k < RANK_KINDS; k++)
            ev->outcomes[k] += sign * (int64_t)t->outcomes[k];
        ev->positives += sign * u->positive;
        ev->pos_replies += sign * (int64_t)t->outcomes[RANK_K_POSITIVE];
        ev->meetings += sign * (int64_t)t->outcomes[RANK_K_MEETING];
        ev->deals += sign * (int64_t)t->outcomes[RANK_K_WON];
        if (u->mature) {
            ev->trials += sign;
            ev->successes += sign * u->positive;
            ev->value += sign * u->value;
            h->use_sum += sign * u->value;
            h->use_sq += sign * u->value * u->value;
            h->use_n += sign;
        }
    }
}

/* rank_hist_adoption sets each content item's adoption (hist.h): uses
 * per 30 days since its first use, shrunk with 7 pseudo-days at the mean
 * rate of the team's documents, so a new document starts at the mean
 * instead of at zero. Ages run to the newest event of the history, never
 * the wall clock. */
void rank_hist_adoption(struct rank_hist *h)
{
    double sum = 0.0, mean, days;
    size_t i, n = 0;

    for (i = 0; i < h->nitems; i++) {
        const struct rank_hitem *it = &h->items[i];
        if (it->kind != 'c' || it->ev.first_ms == 0)
            continue;
        days = (double)(h->now_ms - it->ev.first_ms) / RANK_DAY_MS;
        sum += (double)it->ev.times_used / (days > 1.0 ? days : 1.0);
        n++;
    }
    mean = n ? sum / (double)n : 0.0;
    for (i = 0; i < h->nitems; i++) {
        struct rank_hitem *it = &h->items[i];
        if (it->kind != 'c')
            continue;
        days = it->ev.first_ms
                   ? (double)(h->now_ms - it->ev.first_ms) / RANK_DAY_MS
                   : 0.0;
        if (days < 0.0)
            days = 0.0;
        it->adoption = log1p(30.0 * ((double)it->ev.times_used + 7.0 * mean) /
                             (days + 7.0));
    }
}

void rank__hist_finish(struct rank_hist *h, const struct rank_params *p)
{
    double m = p->prior_strength, n = (double)h->use_n, mean;
    size_t i;

    h->team_rate = 0.0;
    h->team_value = 0.0;
    if (h->team_mature > 0) {
        h->team_rate = (double)h->team_pos / (double)h->team_mature;
        h->team_value = h->team_vsum / (double)h->team_mature;
    }
    mean = n > 0 ? h->use_sum / n : 0.0;
    /* Until a few uses have matured, a grade's spread (positive 1). */
    h->use_sd = n >= 2 ? sqrt(fmax(h->use_sq / n - mean * mean, 0.0)) : 1.0;
    if (!(h->use_sd > 0.05))
        h->use_sd = 1.0;
    rank_hist_adoption(h);
    for (i = 0; i < h->nitems; i++) {
        struct rank_hitem *it = &h->items[i];
        it->post_value =
            (it->ev.value + m * h->team_value) / ((double)it->ev.trials + m);
    }
}

/* --- counting later outcomes ----------------------------------------- */

/* The outcomes recorded after base was built. */
struct rank_news {
    const struct rank_hist *base;
    uint64_t after; /* base's outcome sequence */
    struct rank_hout *v;
    size_t n, cap;
    int64_t now_ms; /* the latest event, with them */
};

static sw_err rank_news_cb(const struct store_outcome *o, void *arg)
{
    struct rank_news *d = arg;
    long th;

    if (o->seq <= d->after)
        return STORE_SCAN_STOP; /* newest first: the rest were counted */
    th = rank_hist_thread(d->base, o->thread_id);
    if (th < 0)
        return SW_OK; /* mail the base has not read: the next full build */
    if (d->n == d->cap) {
        size_t nc = d->cap ? 2 * d->cap : 16;
        struct rank_hout *x = sw_realloc(d->v, nc * sizeof(*x));
        if (x == NULL)
            return SW_ENOMEM;
        d->v = x;
        d->cap = nc;
    }
    d->v[d->n].occur_ms = o->occur_ms;
    d->v[d->n].thread = (uint32_t)th;
    d->v[d->n].kind = o->kind;
    d->n++;
    if (o->occur_ms > d->now_ms)
        d->now_ms = o->occur_ms;
    return SW_OK;
}

/* Copies of at least this many bytes ask for huge pages: a fresh block
 * that size is mapped by malloc, and faulting it in 4 KiB at a time costs
 * more than the copy (a second at 1M snippets on a paravirtualised
 * machine, docs/PERFORMANCE.md). */
#define RANK_DUP_HUGE (4u << 20)
#define RANK_HUGE_PAGE ((uintptr_t)2 << 20)

static void *rank_dup(const void *p, size_t n, size_t elsz)
{
    size_t len = n * elsz;
    void *x = sw_malloc(len + 1);

    if (x && len >= RANK_DUP_HUGE) {
        /* The whole huge pages inside the block, before it is touched;
         * only advice: refused (no THP), the copy still works. */
        uintptr_t lo = ((uintptr_t)x + RANK_HUGE_PAGE - 1) &
                       ~(RANK_HUGE_PAGE - 1),
                  hi = ((uintptr_t)x + len) & ~(RANK_HUGE_PAGE - 1);
        if (hi > lo)
            (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
    }
    if (x && len)
        memcpy(x, p, len);
    return x;
}

static int rank_u32_cmp(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

    return a < b ? -1 : a > b;
}

/* rank_xouts_of finds thread th's run in h->xouts. */
static const struct rank_hout *rank_xouts_of(const struct rank_hist *h,
                                             uint32_t th, size_t *n)
{
    size_t lo = 0, hi = h->nxouts, e;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->xouts[mid].thread < th)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (e = lo; e < h->nxouts && h->xouts[e].thread == th; e++)
        ;
    *n = e - lo;
    return h->xouts + lo;
}

/* rank_hout_merge writes the sorted runs a[0..na) and b[0..nb) to out
 * as one sorted run (a's first among equals): the outcomes since the
 * root grow by the few new ones without sorting them all again. */
static void rank_hout_merge(const struct rank_hout *a, size_t na,
                            const struct rank_hout *b, size_t nb,
                            struct rank_hout *out)
{
    size_t i = 0, j = 0, k = 0;

    while (i < na || j < nb)
        out[k++] = j >= nb || (i < na && rank__hout_cmp(&a[i], &b[j]) <= 0)
                       ? a[i++]
                       : b[j++];
    for (k = 1; k < na + nb; k++)
        assert(rank__hout_cmp(&out[k - 1], &out[k]) <= 0);
}

int rank_hist_delta_heavy(const struct rank_hist *h)
{
    return h->nxouts > RANK_XOUTS_MAX && h->nxouts > h->nouts / 4;
}

/* rank_dirty_matured appends to *d the outbound threads of h not yet mature
 * whose first outbound email is older than mature_ms at new_now but was
 * not at h->now_ms. */
static sw_err rank_dirty_matured(const struct rank_hist *h,
                                 const struct rank_params *p, int64_t new_now,
                                 uint32_t **d, size_t *n, size_t *cap)
{
    int64_t from = h->now_ms - p->mature_ms, to = new_now - p->mature_ms;
    size_t lo = 0, hi = h->nby_out;

    while (lo < hi) { /* the first with first_out_ms > from */
        size_t mid = lo + (hi - lo) / 2;
        if (h->threads[h->by_out[mid]].first_out_ms <= from)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < h->nby_out; lo++) {
        uint32_t th = h->by_out[lo];
        if (h->threads[th].first_out_ms > to)
            break;
        if (h->threads[th].mature)
            continue;
        if (*n == *cap) {
            size_t nc = *cap ? 2 * *cap : 16;
            uint32_t *x = sw_realloc(*d, nc * sizeof(*x));
            if (x == NULL)
                return SW_ENOMEM;
            *d = x;
            *cap = nc;
        }
        (*d)[(*n)++] = th;
    }
    return SW_OK;
}

/* rank_delta_clone makes h a copy of base that owns what outcomes change
 * and shares the rest with base's root. */
static sw_err rank_delta_clone(const struct rank_hist *base,
                               struct rank_hist **out)
{
    struct rank_hist *h = sw_malloc(sizeof(*h));

    if (h == NULL)
        return SW_ENOMEM;
    *h = *base;
    sw_arena_init(&h->arena, 0); /* the strings are the root's */
    h->root = base->root ? base->root : (struct rank_hist *)base;
    h->refs = 0;
    h->items = rank_dup(base->items, base->nitems, sizeof(*h->items));
    h->threads = rank_dup(base->threads, base->nthreads, sizeof(*h->threads));
    h->uses = rank_dup(base->uses, base->nuses, sizeof(*h->uses));
    h->accounts =
        rank_dup(base->accounts, base->naccounts, sizeof(*h->accounts));
    h->acct_ev = rank_dup(base->acct_ev, base->nacct_ev, sizeof(*h->acct_ev));
    h->xouts = NULL;
    h->nxouts = 0;
    /* Counted before anything can fail: rank_hist_free releases it. */
    __atomic_add_fetch(&h->root->refs, 1, __ATOMIC_ACQ_REL);
    *out = h;
    if (!h->items || !h->threads || !h->uses || !h->accounts || !h->acct_ev)
        return SW_ENOMEM;
    return SW_OK;
}

sw_err rank_hist_delta(store_txn *t, const char *team_id,
                       const struct rank_params *p,
                       const struct rank_hist *base, struct rank_hist **out)
{
    struct rank_news d;
    struct rank_hist *h = NULL;
    struct rank_params def;
    uint32_t *dirty = NULL;
    size_t ndirty = 0, cdirty = 0, i;
    uint64_t seqs[3];
    sw_err rc;

    if (t == NULL || team_id == NULL || base == NULL || out == NULL ||
        base->cutoff_ms != 0 || base->email_lo == NULL)
        return SW_EINVAL;
    if (p == NULL) {
        rank_params_default(&def);
        p = &def;
    }
    memset(&d, 0, sizeof(d));
    d.base = base;
    d.after = base->seqs[2];
    d.now_ms = base->now_ms;
    rc = store_hist_seqs(t, team_id, seqs);
    if (rc == SW_OK && seqs[2] < base->seqs[2])
        rc = SW_EINVAL; /* the feed went back: a team made again */
    if (rc == SW_OK)
        rc = store_outcome_scan(t, team_id, NULL, rank_news_cb, &d);
    if (rc == SW_OK)
        rc = rank_delta_clone(base, &h);
    if (rc)
        goto out;
    h->seqs[2] = seqs[2];
    /* The outcomes since the root, in one sorted run. */
    h->nxouts = base->nxouts + d.n;
    h->xouts = sw_malloc(h->nxouts * sizeof(*h->xouts) + 1);
    if (h->xouts == NULL) {
        rc = SW_ENOMEM;
        goto out;
    }
    if (d.n)
        qsort(d.v, d.n, sizeof(*d.v), rank__hout_cmp);
    rank_hout_merge(base->xouts, base->nxouts, d.v, d.n, h->xouts);
    /* The threads to count again: those with a new outcome, and those
     * that mature as the history's latest event moves on. */
    for (i = 0; i < d.n; i++) {
        if (ndirty == cdirty) {
            size_t nc = cdirty ? 2 * cdirty : 16;
            uint32_t *x = sw_realloc(dirty, nc * sizeof(*x));
            if (x == NULL) {
                rc = SW_ENOMEM;
                goto out;
            }
            dirty = x;
            cdirty = nc;
        }
        dirty[ndirty++] = d.v[i].thread;
    }
    if (d.now_ms > h->now_ms) {
        rc = rank_dirty_matured(h, p, d.now_ms, &dirty, &ndirty, &cdirty);
        if (rc)
            goto out;
    }
    if (ndirty)
        qsort(dirty, ndirty, sizeof(*dirty), rank_u32_cmp);
    for (i = 0; i < ndirty; i++) /* taken out at the old time */
        if (i == 0 || dirty[i] != dirty[i - 1])
            rank__thread_count(h, dirty[i], -1);
    h->now_ms = d.now_ms;
    for (i = 0; i < ndirty; i++) {
        const struct rank_hout *x;
        uint32_t th = dirty[i];
        size_t nx;
        if (i > 0 && th == dirty[i - 1])
            continue;
        x = rank_xouts_of(h, th, &nx);
        rank__thread_eval(h, p, th, h->outs + h->out_lo[th],
                          h->out_lo[th + 1] - h->out_lo[th], x, nx);
        rank__thread_count(h, th, 1);
    }
    rank__hist_finish(h, p);
out:
    sw_free(d.v);
    sw_free(dirty);
    if (rc) {
        rank_hist_free(&h);
        return rc;
    }
    *out = h;
    return SW_OK;
}
